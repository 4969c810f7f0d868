//! A fake Kubernetes API server: real HTTP on loopback, for a real `kube::Client`.
//!
//! It serves legacy discovery (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`,
//! `/version`) and a generic object store for the resources in [`FakeResource`]: Deployments,
//! StatefulSets and ReplicaSets (`apps/v1`) and Argo Rollouts (`argoproj.io/v1alpha1`) with a
//! `/scale` subresource, Secrets and ConfigMaps (`v1`), Events (`events.k8s.io/v1`), Leases
//! (`coordination.k8s.io/v1`) and HorizontalPodAutoscalers (`autoscaling/v2`); more can be added
//! with [`FakeApiServer::add_resource`].
//!
//! What it does like the real server:
//! - one cluster-wide `resourceVersion` counter, bumped on every write; a write that carries a
//!   stale `metadata.resourceVersion` answers 409 `Conflict`, creating an existing name 409
//!   `AlreadyExists`, a missing object 404 `NotFound`, each as a JSON `Status`;
//! - `GET`, `POST` (with `generateName`), `PUT`, `PATCH` (JSON merge patch; a strategic merge
//!   patch is applied as a merge patch) and `DELETE` of objects, lists per namespace or across
//!   namespaces (selectors are ignored);
//! - `GET`, `PUT` and `PATCH` of `/scale` (an `autoscaling/v1` `Scale`) on workloads, writing
//!   `spec.replicas` of the object; writes to the main object keep its `status`;
//! - `status.replicas`/`status.readyReplicas` follow `spec.replicas` at once, or not, per object
//!   ([`StatusMode`]); a zero `readyReplicas` is omitted like a real Deployment's;
//! - Events are validated like `events.k8s.io/v1` does (eventTime, reportingController,
//!   reportingInstance, action, reason, type, note length) and answer 422 `Invalid`.
//!
//! Not implemented: watches, selectors, server-side apply, JSON patch, the `/status`
//! subresource, authentication and admission.
//!
//! Tests shape its answers with [`Fault`]s (a status code or a delay for the next N requests
//! matching a method and path pattern) and check what happened in the [`JournalEntry`] list of
//! every request.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

/// A kind of object the fake server stores and serves.
///
/// The fake serves one version per resource; objects are keyed by group, plural, namespace and
/// name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeResource {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Plural resource name used in paths, e.g. `deployments`.
    pub plural: &'static str,
    /// Whether it has a `/scale` subresource (and `spec.replicas`/`status` handling).
    pub scale: bool,
}

impl FakeResource {
    /// `apps/v1` Deployments, with `/scale`.
    pub const DEPLOYMENT: FakeResource = FakeResource::workload("apps", "v1", "Deployment");
    /// `apps/v1` StatefulSets, with `/scale`.
    pub const STATEFUL_SET: FakeResource = FakeResource::workload("apps", "v1", "StatefulSet");
    /// `apps/v1` ReplicaSets, with `/scale`.
    pub const REPLICA_SET: FakeResource = FakeResource::workload("apps", "v1", "ReplicaSet");
    /// `argoproj.io/v1alpha1` Rollouts: a custom resource with `/scale`.
    pub const ROLLOUT: FakeResource = FakeResource::workload("argoproj.io", "v1alpha1", "Rollout");
    /// Core `v1` Secrets.
    pub const SECRET: FakeResource = FakeResource::plain("", "v1", "Secret", "secrets");
    /// Core `v1` ConfigMaps (a resource without `/scale`).
    pub const CONFIG_MAP: FakeResource = FakeResource::plain("", "v1", "ConfigMap", "configmaps");
    /// `events.k8s.io/v1` Events.
    pub const EVENT: FakeResource = FakeResource::plain("events.k8s.io", "v1", "Event", "events");
    /// `coordination.k8s.io/v1` Leases.
    pub const LEASE: FakeResource =
        FakeResource::plain("coordination.k8s.io", "v1", "Lease", "leases");
    /// `autoscaling/v2` HorizontalPodAutoscalers.
    pub const HPA: FakeResource = FakeResource::plain(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
    );

    /// The resources a new server serves.
    pub const BUILTIN: [FakeResource; 9] = [
        FakeResource::DEPLOYMENT,
        FakeResource::STATEFUL_SET,
        FakeResource::REPLICA_SET,
        FakeResource::ROLLOUT,
        FakeResource::SECRET,
        FakeResource::CONFIG_MAP,
        FakeResource::EVENT,
        FakeResource::LEASE,
        FakeResource::HPA,
    ];

    const fn workload(group: &'static str, version: &'static str, kind: &'static str) -> Self {
        let plural = match kind.as_bytes() {
            b"Deployment" => "deployments",
            b"StatefulSet" => "statefulsets",
            b"ReplicaSet" => "replicasets",
            _ => "rollouts",
        };
        FakeResource {
            group,
            version,
            kind,
            plural,
            scale: true,
        }
    }

    /// A resource without `/scale`.
    pub const fn plain(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Self {
        FakeResource {
            group,
            version,
            kind,
            plural,
            scale: false,
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (`deployments.apps`), or `plural` for the core group, as in API messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// How a workload's `status` reacts to writes of `spec.replicas`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusMode {
    /// `status.replicas` and `status.readyReplicas` (and available/updated) follow at once.
    #[default]
    Follow,
    /// `status.replicas` follows, `status.readyReplicas` stays (new pods not ready yet).
    HoldReady,
    /// The status stays as it is.
    Hold,
}

/// What a matching request gets instead of (or before) its normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultAction {
    Status(u16),
    Delay(Duration),
}

/// An injected fault: for requests matching a method and a path pattern, answer a status code
/// (as a Kubernetes `Status` object) or wait before the normal answer.
///
/// A fault without [`Fault::on`] matches every request; without [`Fault::times`] it never wears
/// off. Path patterns match segment by segment: `*` matches one segment, `**` any number (zero
/// or more); the query string is ignored.
///
/// ```
/// use std::time::Duration;
/// use scalers_testkit::Fault;
///
/// let conflict_twice = Fault::status(409)
///     .on("PATCH", "/apis/apps/v1/namespaces/*/deployments/web/scale")
///     .times(2);
/// let slow_leases = Fault::delay(Duration::from_secs(3)).on("*", "/apis/coordination.k8s.io/**");
/// # let _ = (conflict_twice, slow_leases);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    method: Option<String>,
    pattern: String,
    agent: Option<String>,
    action: FaultAction,
    remaining: Option<u32>,
}

impl Fault {
    /// Answer `code` (e.g. 403, 404, 409, 500, 503) with a `Status` body, instead of handling
    /// the request.
    pub fn status(code: u16) -> Self {
        Fault {
            method: None,
            pattern: "/**".to_owned(),
            agent: None,
            action: FaultAction::Status(code),
            remaining: None,
        }
    }

    /// Wait `delay`, then handle the request normally.
    pub fn delay(delay: Duration) -> Self {
        Fault {
            method: None,
            pattern: "/**".to_owned(),
            agent: None,
            action: FaultAction::Delay(delay),
            remaining: None,
        }
    }

    /// Only for requests with this method (`"*"` for any) whose path matches `pattern`.
    pub fn on(mut self, method: &str, pattern: &str) -> Self {
        self.method = (method != "*").then(|| method.to_ascii_uppercase());
        self.pattern = pattern.to_owned();
        self
    }

    /// Only for the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Only for requests whose `User-Agent` contains `part` (one client among several, e.g.
    /// one replica of a daemon whose agent names its identity).
    pub fn from_agent(mut self, part: &str) -> Self {
        self.agent = Some(part.to_owned());
        self
    }

    fn matches(&self, method: &str, path: &str, agent: Option<&str>) -> bool {
        self.remaining != Some(0)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .agent
                .as_deref()
                .is_none_or(|part| agent.is_some_and(|a| a.contains(part)))
            && path_matches(&self.pattern, path)
    }
}

/// Whether `path` matches `pattern` (`*`: one segment, `**`: any number of segments).
///
/// ```
/// use scalers_testkit::path_matches;
/// assert!(path_matches("/apis/apps/v1/namespaces/*/deployments/*/scale",
///                      "/apis/apps/v1/namespaces/shop/deployments/web/scale"));
/// assert!(path_matches("/apis/**", "/apis/apps/v1"));
/// assert!(!path_matches("/apis/*", "/apis/apps/v1"));
/// ```
pub fn path_matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[&str], s: &[&str]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((&"**", rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((head, rest)) => match s.split_first() {
                Some((seg, srest)) => (*head == "*" || head == seg) && go(rest, srest),
                None => false,
            },
        }
    }
    let split = |x: &str| -> Vec<String> {
        x.split('?')
            .next()
            .unwrap_or_default()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (p, s) = (split(pattern), split(path));
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    go(&p, &s)
}

/// One request the fake server received, with its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The request body as text (lossy UTF-8; empty for none).
    pub body: String,
    /// The HTTP status answered.
    pub status: u16,
    /// When the request arrived (tokio time, so paused clocks apply).
    pub received: Instant,
    /// When it was answered, after any injected delay; a write took effect then.
    pub answered: Instant,
}

impl JournalEntry {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// Whether the method changes state (`POST`, `PUT`, `PATCH`, `DELETE`).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// Whether the answer was a 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the request has this method (`"*"` for any) and its path matches `pattern`
    /// (see [`path_matches`]).
    pub fn matches(&self, method: &str, pattern: &str) -> bool {
        (method == "*" || self.method.eq_ignore_ascii_case(method))
            && path_matches(pattern, &self.path)
    }
}

impl fmt::Display for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.status)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: String,
    plural: String,
    namespace: String,
    name: String,
}

impl Key {
    fn new(resource: &FakeResource, namespace: &str, name: &str) -> Self {
        Key {
            group: resource.group.to_owned(),
            plural: resource.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

#[derive(Debug)]
struct Stored {
    object: Value,
    mode: StatusMode,
}

#[derive(Debug)]
struct Store {
    resources: Vec<FakeResource>,
    objects: BTreeMap<Key, Stored>,
    version: u64,
    faults: Vec<Fault>,
    journal: Vec<JournalEntry>,
    address: String,
}

/// An answer: HTTP status and JSON body.
type Answer = (StatusCode, Value);

/// A fake Kubernetes API server on `127.0.0.1:<free port>`; stops when dropped.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use scalers_testkit::{FakeApiServer, FakeResource, Fault};
///
/// let server = FakeApiServer::start().await;
/// server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
/// server.inject(Fault::status(409).on("PATCH", "/apis/apps/v1/**/scale").times(1));
/// let client = server.client();
/// // ... use `client`, then:
/// assert_eq!(server.replicas(&FakeResource::DEPLOYMENT, "shop", "web"), Some(2));
/// # }
/// ```
pub struct FakeApiServer {
    url: String,
    store: Arc<Mutex<Store>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeApiServer {
    /// Stops accepting connections and closes idle ones; requests in flight (e.g. delayed by a
    /// fault) are still answered.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeApiServer {
    /// Starts a server on a free loopback port, serving [`FakeResource::BUILTIN`].
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake API server: cannot bind a loopback port");
        let address = listener
            .local_addr()
            .expect("fake API server: no local address");
        let store = Arc::new(Mutex::new(Store {
            resources: FakeResource::BUILTIN.to_vec(),
            objects: BTreeMap::new(),
            version: 1000,
            faults: Vec::new(),
            journal: Vec::new(),
            address: address.to_string(),
        }));
        let router = Router::new().fallback(handle).with_state(store.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            // Ends when the server is dropped (or the listener fails: then requests fail).
            let _ = serve.await;
        });
        FakeApiServer {
            url: format!("http://{address}"),
            store,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kube config for this server: plain HTTP, no credentials, namespace `default`.
    ///
    /// kube's built-in retry of 429/503/504 stays as kube sets it (on); set
    /// `default_retry = false` to see every fault.
    pub fn config(&self) -> kube::Config {
        let uri = self.url.parse().expect("fake API server: url is a URI");
        kube::Config::new(uri)
    }

    /// A real `kube::Client` for this server (from [`FakeApiServer::config`]).
    ///
    /// # Panics
    /// Outside a tokio runtime, or if kube cannot build a client.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("fake API server: cannot build a client")
    }

    /// Also serves `resource` (e.g. another custom resource), in discovery and for objects.
    pub fn add_resource(&self, resource: FakeResource) {
        let mut s = self.lock();
        if !s.resources.contains(&resource) {
            s.resources.push(resource);
        }
    }

    /// Stores `object` in `namespace` directly (no journal, no faults), replacing any object
    /// of that name; sets apiVersion, kind, namespace, uid, creationTimestamp and a new
    /// resourceVersion, and for workloads the status per its [`StatusMode`]. Returns it as
    /// stored.
    ///
    /// # Panics
    /// When `object` has no `metadata.name`.
    pub fn put_object(&self, resource: &FakeResource, namespace: &str, object: Value) -> Value {
        let name = object["metadata"]["name"]
            .as_str()
            .expect("fake API server: put_object needs metadata.name")
            .to_owned();
        let mut s = self.lock();
        let key = Key::new(resource, namespace, &name);
        let mode = s.objects.get(&key).map(|o| o.mode).unwrap_or_default();
        let mut object = object;
        s.stamp_new(resource, namespace, &mut object);
        if resource.scale {
            apply_status(&mut object, mode);
        }
        s.objects.insert(
            key,
            Stored {
                object: object.clone(),
                mode,
            },
        );
        object
    }

    /// A workload (`resource` with `/scale`) named `name` at `replicas`, all ready, with a
    /// selector `app=<name>`; replaces any existing one.
    pub fn put_workload(
        &self,
        resource: &FakeResource,
        namespace: &str,
        name: &str,
        replicas: u32,
    ) -> Value {
        self.put_object(
            resource,
            namespace,
            json!({
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}},
                },
                "status": {},
            }),
        )
    }

    /// The stored object, if any.
    pub fn object(&self, resource: &FakeResource, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&Key::new(resource, namespace, name))
            .map(|o| o.object.clone())
    }

    /// Removes an object directly; whether it existed.
    pub fn delete_object(&self, resource: &FakeResource, namespace: &str, name: &str) -> bool {
        self.lock()
            .objects
            .remove(&Key::new(resource, namespace, name))
            .is_some()
    }

    /// `spec.replicas` of a workload, if it exists.
    pub fn replicas(&self, resource: &FakeResource, namespace: &str, name: &str) -> Option<u32> {
        self.object(resource, namespace, name)
            .and_then(|o| o["spec"]["replicas"].as_u64())
            .and_then(|r| u32::try_from(r).ok())
    }

    /// How a workload's status reacts to later writes; [`StatusMode::Follow`] also brings it
    /// up to date now.
    ///
    /// # Panics
    /// When the object does not exist.
    pub fn set_status_mode(
        &self,
        resource: &FakeResource,
        namespace: &str,
        name: &str,
        mode: StatusMode,
    ) {
        let mut s = self.lock();
        let stored = s
            .objects
            .get_mut(&Key::new(resource, namespace, name))
            .expect("fake API server: set_status_mode on a missing object");
        stored.mode = mode;
        apply_status(&mut stored.object, mode);
    }

    /// Sets a workload's `status.replicas` and `status.readyReplicas` (omitted when 0) and
    /// holds them there ([`StatusMode::Hold`]) until [`FakeApiServer::set_status_mode`].
    ///
    /// # Panics
    /// When the object does not exist.
    pub fn set_status(
        &self,
        resource: &FakeResource,
        namespace: &str,
        name: &str,
        replicas: u32,
        ready: u32,
    ) {
        let mut s = self.lock();
        let version = s.next_version();
        let stored = s
            .objects
            .get_mut(&Key::new(resource, namespace, name))
            .expect("fake API server: set_status on a missing object");
        stored.mode = StatusMode::Hold;
        let status = ensure_object(&mut stored.object, "status");
        status.insert("replicas".to_owned(), json!(replicas));
        if ready == 0 {
            status.remove("readyReplicas");
        } else {
            status.insert("readyReplicas".to_owned(), json!(ready));
        }
        stored.object["metadata"]["resourceVersion"] = json!(version);
    }

    /// A core `v1` Secret with these keys (values stored base64-encoded, as the API does).
    pub fn put_secret(&self, namespace: &str, name: &str, data: &[(&str, &[u8])]) -> Value {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                    .collect(),
            ),
            type_: Some("Opaque".to_owned()),
            ..Secret::default()
        };
        let value = serde_json::to_value(secret).expect("a Secret serializes");
        self.put_object(&FakeResource::SECRET, namespace, value)
    }

    /// An `autoscaling/v2` HPA scaling `target_kind`/`target_name` (`target_api_version` may
    /// be empty to leave it out) between 1 and 10 replicas on CPU.
    pub fn put_hpa(
        &self,
        namespace: &str,
        name: &str,
        target_api_version: &str,
        target_kind: &str,
        target_name: &str,
    ) -> Value {
        let mut target = json!({"kind": target_kind, "name": target_name});
        if !target_api_version.is_empty() {
            target["apiVersion"] = json!(target_api_version);
        }
        self.put_object(
            &FakeResource::HPA,
            namespace,
            json!({
                "metadata": {"name": name},
                "spec": {
                    "scaleTargetRef": target,
                    "minReplicas": 1,
                    "maxReplicas": 10,
                    "metrics": [{
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }],
                },
            }),
        )
    }

    /// The Lease, if it exists.
    ///
    /// # Panics
    /// When the stored object is not a valid Lease.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Lease> {
        self.object(&FakeResource::LEASE, namespace, name)
            .map(|v| serde_json::from_value(v).expect("fake API server: stored Lease is valid"))
    }

    /// The Events of `namespace`, oldest first.
    ///
    /// # Panics
    /// When a stored object is not a valid Event.
    pub fn events(&self, namespace: &str) -> Vec<Event> {
        let s = self.lock();
        let mut events: Vec<(u64, Event)> = s
            .objects
            .iter()
            .filter(|(k, _)| {
                k.group == FakeResource::EVENT.group
                    && k.plural == FakeResource::EVENT.plural
                    && k.namespace == namespace
            })
            .map(|(_, o)| {
                let version = o.object["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let event = serde_json::from_value(o.object.clone())
                    .expect("fake API server: stored Event is valid");
                (version, event)
            })
            .collect();
        events.sort_by_key(|(v, _)| *v);
        events.into_iter().map(|(_, e)| e).collect()
    }

    /// Adds a fault; faults are checked in the order added and the first match applies.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every request so far, in arrival order of their answers.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.lock().journal.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_journal(&self) {
        self.lock().journal.clear();
    }

    /// The requests with this method (`"*"` for any) whose path matches `pattern`.
    pub fn requests(&self, method: &str, pattern: &str) -> Vec<JournalEntry> {
        self.lock()
            .journal
            .iter()
            .filter(|e| e.matches(method, pattern))
            .cloned()
            .collect()
    }

    /// The replica counts written to a workload's `/scale` by successful `PATCH`/`PUT`
    /// requests, in order.
    pub fn scale_writes(&self, resource: &FakeResource, namespace: &str, name: &str) -> Vec<u32> {
        let path = format!(
            "{}/namespaces/{namespace}/{}/{name}/scale",
            api_prefix(resource),
            resource.plural
        );
        self.lock()
            .journal
            .iter()
            .filter(|e| e.succeeded() && (e.method == "PATCH" || e.method == "PUT"))
            .filter(|e| e.path == path)
            .filter_map(|e| e.json()?["spec"]["replicas"].as_u64())
            .filter_map(|r| u32::try_from(r).ok())
            .collect()
    }

    /// The terms of each holder of Lease `namespace/name`, from the journal's successful
    /// `POST`/`PUT` writes of it, in order.
    ///
    /// A term starts with the first write naming a new holder and ends when the next write
    /// names another holder (or none: a release), or else at its last renewal plus the
    /// `leaseDurationSeconds` it wrote (possibly still ahead). To check that only the
    /// holder wrote a workload, give each process its own `User-Agent` and compare with
    /// [`JournalEntry::user_agent`] of the writes.
    pub fn lease_terms(&self, namespace: &str, name: &str) -> Vec<LeaseTerm> {
        let path = format!(
            "{}/namespaces/{namespace}/{}",
            api_prefix(&FakeResource::LEASE),
            FakeResource::LEASE.plural
        );
        let object_path = format!("{path}/{name}");
        let writes: Vec<(Option<String>, Duration, Instant)> = self
            .lock()
            .journal
            .iter()
            .filter(|e| e.succeeded())
            .filter(|e| {
                (e.method == "PUT" && e.path == object_path)
                    || (e.method == "POST" && e.path == path)
            })
            .filter_map(|e| {
                let body = e.json()?;
                if e.method == "POST" && body["metadata"]["name"] != name {
                    return None;
                }
                let holder = body["spec"]["holderIdentity"]
                    .as_str()
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned);
                let seconds = body["spec"]["leaseDurationSeconds"].as_u64().unwrap_or(0);
                Some((holder, Duration::from_secs(seconds), e.answered))
            })
            .collect();
        let mut terms: Vec<LeaseTerm> = Vec::new();
        let mut open: Option<(LeaseTerm, Instant)> = None; // the term and its expiry
        for (holder, duration, at) in writes {
            match (&mut open, holder) {
                (Some((term, expiry)), Some(h)) if term.holder == h && at <= *expiry => {
                    *expiry = at + duration;
                }
                (current, holder) => {
                    if let Some((mut term, expiry)) = current.take() {
                        term.until = expiry.min(at);
                        terms.push(term);
                    }
                    *current = holder.map(|holder| {
                        let term = LeaseTerm {
                            holder,
                            from: at,
                            until: at + duration,
                        };
                        (term, at + duration)
                    });
                }
            }
        }
        if let Some((mut term, expiry)) = open {
            term.until = expiry;
            terms.push(term);
        }
        terms
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

/// One holder's term of a Lease, as [`FakeApiServer::lease_terms`] reconstructs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTerm {
    /// The holder's identity.
    pub holder: String,
    /// When its first write as holder took effect.
    pub from: Instant,
    /// When the next holder's (or the release's) write took effect, or its last renewal plus
    /// the lease duration, whichever is earlier.
    pub until: Instant,
}

impl LeaseTerm {
    /// Whether `at` falls within the term.
    pub fn covers(&self, at: Instant) -> bool {
        self.from <= at && at <= self.until
    }
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panic while holding the lock (a test assertion) leaves consistent data.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

fn api_prefix(resource: &FakeResource) -> String {
    if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    }
}

async fn handle(State(store): State<Arc<Mutex<Store>>>, request: Request) -> Response {
    let received = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let (content_type, user_agent) = {
        let header = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (header(header::CONTENT_TYPE), header(header::USER_AGENT))
    };
    let body = axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .unwrap_or_default();

    let action = {
        let mut s = lock(&store);
        let fault = s
            .faults
            .iter_mut()
            .find(|f| f.matches(&method, &path, user_agent.as_deref()));
        fault.map(|f| {
            if let Some(n) = f.remaining.as_mut() {
                *n -= 1;
            }
            f.action
        })
    };
    if let Some(FaultAction::Delay(d)) = action {
        tokio::time::sleep(d).await;
    }
    let (status, answer) = match action {
        Some(FaultAction::Status(code)) => injected(code, &method, &path),
        _ => {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            lock(&store).dispatch(&method, &path, content_type.as_deref(), &body)
        }
    };
    let entry = JournalEntry {
        method,
        path,
        query,
        content_type,
        user_agent,
        body: String::from_utf8_lossy(&body).into_owned(),
        status: status.as_u16(),
        received,
        answered: Instant::now(),
    };
    lock(&store).journal.push(entry);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

fn reason_of(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

fn status_answer(code: u16, message: String, details: Option<Value>) -> Answer {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason_of(code),
        "code": code,
    });
    if let Some(d) = details {
        status["details"] = d;
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        status,
    )
}

fn injected(code: u16, method: &str, path: &str) -> Answer {
    status_answer(code, format!("injected fault for {method} {path}"), None)
}

fn not_found(resource: &FakeResource, name: &str) -> Answer {
    status_answer(
        404,
        format!("{} \"{name}\" not found", resource.qualified()),
        Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
    )
}

fn conflict(resource: &FakeResource, name: &str) -> Answer {
    status_answer(
        409,
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.qualified()
        ),
        Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
    )
}

fn invalid(resource: &FakeResource, name: &str, problem: &str) -> Answer {
    let kind = if resource.group.is_empty() {
        resource.kind.to_owned()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    };
    status_answer(
        422,
        format!("{kind} \"{name}\" is invalid: {problem}"),
        Some(json!({"name": name, "group": resource.group, "kind": resource.kind})),
    )
}

fn bad_request(message: impl Into<String>) -> Answer {
    status_answer(400, message.into(), None)
}

fn no_such_path() -> Answer {
    status_answer(
        404,
        "the server could not find the requested resource".to_owned(),
        None,
    )
}

fn method_not_allowed(method: &Method) -> Answer {
    status_answer(
        405,
        format!("the server does not allow this method on the requested resource: {method}"),
        None,
    )
}

/// Applies an RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn ensure_object<'a>(value: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    let map = value.as_object_mut().expect("made an object above");
    let slot = map
        .entry(field.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("made an object above")
}

fn spec_replicas(object: &Value) -> u64 {
    object["spec"]["replicas"].as_u64().unwrap_or(1)
}

fn apply_status(object: &mut Value, mode: StatusMode) {
    let replicas = spec_replicas(object);
    let generation = object["metadata"]["generation"].clone();
    if mode == StatusMode::Hold {
        return;
    }
    let status = ensure_object(object, "status");
    status.insert("replicas".to_owned(), json!(replicas));
    if !generation.is_null() {
        status.insert("observedGeneration".to_owned(), generation);
    }
    if mode == StatusMode::Follow {
        for field in ["readyReplicas", "availableReplicas", "updatedReplicas"] {
            if replicas == 0 {
                status.remove(field);
            } else {
                status.insert(field.to_owned(), json!(replicas));
            }
        }
    }
}

fn now_time() -> Value {
    serde_json::to_value(Time(Timestamp::now())).expect("a Time serializes")
}

/// What a request path names below `/api/<v>` or `/apis/<g>/<v>`.
enum Target<'a> {
    Collection(Option<&'a str>),
    Object(&'a str, &'a str),
    Subresource(&'a str, &'a str, &'a str),
}

impl Store {
    fn next_version(&mut self) -> String {
        self.version += 1;
        self.version.to_string()
    }

    /// Sets the fields the server owns on a newly stored object.
    fn stamp_new(&mut self, resource: &FakeResource, namespace: &str, object: &mut Value) {
        let version = self.next_version();
        if !object.is_object() {
            *object = Value::Object(Map::new());
        }
        object["apiVersion"] = json!(resource.api_version());
        object["kind"] = json!(resource.kind);
        let metadata = ensure_object(object, "metadata");
        metadata.insert("namespace".to_owned(), json!(namespace));
        metadata.insert("uid".to_owned(), json!(format!("uid-{version}")));
        metadata.insert("creationTimestamp".to_owned(), now_time());
        metadata.insert("resourceVersion".to_owned(), json!(version));
        if resource.scale {
            metadata.insert("generation".to_owned(), json!(1));
        }
    }

    fn resource(&self, group: &str, version: &str, plural: &str) -> Option<FakeResource> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .copied()
    }

    fn dispatch(
        &mut self,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, version, rest) = match segments.as_slice() {
            ["version"] | ["api"] | ["apis"] | ["api", _] | ["apis", _, _] => {
                return if method == Method::GET {
                    self.discovery(&segments)
                } else {
                    method_not_allowed(method)
                };
            }
            ["api", v, rest @ ..] => ("", *v, rest),
            ["apis", g, v, rest @ ..] => (*g, *v, rest),
            _ => return no_such_path(),
        };
        let (plural, target) = match rest {
            ["namespaces", ns, plural] => (*plural, Target::Collection(Some(ns))),
            ["namespaces", ns, plural, name] => (*plural, Target::Object(ns, name)),
            ["namespaces", ns, plural, name, sub] => (*plural, Target::Subresource(ns, name, sub)),
            [plural] => (*plural, Target::Collection(None)),
            _ => return no_such_path(),
        };
        let Some(resource) = self.resource(group, version, plural) else {
            return no_such_path();
        };
        match (target, method.as_str()) {
            (Target::Collection(ns), "GET") => self.list(&resource, ns),
            (Target::Collection(Some(ns)), "POST") => self.create(&resource, ns, body),
            (Target::Object(ns, name), "GET") => {
                match self.objects.get(&Key::new(&resource, ns, name)) {
                    Some(o) => (StatusCode::OK, o.object.clone()),
                    None => not_found(&resource, name),
                }
            }
            (Target::Object(ns, name), "PUT") => self.replace(&resource, ns, name, body),
            (Target::Object(ns, name), "PATCH") => {
                self.patch(&resource, ns, name, content_type, body)
            }
            (Target::Object(ns, name), "DELETE") => {
                match self.objects.remove(&Key::new(&resource, ns, name)) {
                    Some(_) => (
                        StatusCode::OK,
                        json!({
                            "kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Success",
                            "details": {"name": name, "group": resource.group, "kind": resource.plural},
                        }),
                    ),
                    None => not_found(&resource, name),
                }
            }
            (Target::Subresource(ns, name, "scale"), m) if resource.scale => {
                self.scale(&resource, ns, name, m, content_type, body)
            }
            (Target::Subresource(..), _) => no_such_path(),
            _ => method_not_allowed(method),
        }
    }

    fn discovery(&self, segments: &[&str]) -> Answer {
        let answer = match segments {
            ["version"] => json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-scalers-fake",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "", "compiler": "", "platform": "linux/amd64",
            }),
            ["api"] => json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.address},
                ],
            }),
            ["apis"] => {
                let mut groups: Vec<Value> = Vec::new();
                let mut seen: Vec<(&str, &str)> = Vec::new();
                for r in self.resources.iter().filter(|r| !r.group.is_empty()) {
                    if seen.contains(&(r.group, r.version)) {
                        continue;
                    }
                    seen.push((r.group, r.version));
                    let gv = json!({"groupVersion": r.api_version(), "version": r.version});
                    match groups.iter_mut().find(|g| g["name"] == r.group) {
                        Some(g) => g["versions"]
                            .as_array_mut()
                            .expect("versions is an array")
                            .push(gv),
                        None => groups.push(json!({
                            "name": r.group, "versions": [gv.clone()], "preferredVersion": gv,
                        })),
                    }
                }
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            }
            ["api", v] => return self.resource_list("", v),
            ["apis", g, v] => return self.resource_list(g, v),
            _ => return no_such_path(),
        };
        (StatusCode::OK, answer)
    }

    fn resource_list(&self, group: &str, version: &str) -> Answer {
        let mut resources = Vec::new();
        for r in self
            .resources
            .iter()
            .filter(|r| r.group == group && r.version == version)
        {
            resources.push(json!({
                "name": r.plural,
                "singularName": r.kind.to_ascii_lowercase(),
                "namespaced": true,
                "kind": r.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update"],
            }));
            if r.scale {
                resources.push(json!({
                    "name": format!("{}/scale", r.plural),
                    "singularName": "",
                    "namespaced": true,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        if resources.is_empty() {
            return no_such_path();
        }
        let group_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        let list = json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        });
        (StatusCode::OK, list)
    }

    fn list(&self, resource: &FakeResource, namespace: Option<&str>) -> Answer {
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|(k, _)| k.group == resource.group && k.plural == resource.plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, o)| o.object.clone())
            .collect();
        let list = json!({
            "apiVersion": resource.api_version(),
            "kind": format!("{}List", resource.kind),
            "metadata": {"resourceVersion": self.version.to_string()},
            "items": items,
        });
        (StatusCode::OK, list)
    }

    fn create(&mut self, resource: &FakeResource, namespace: &str, body: &[u8]) -> Answer {
        let mut object: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad_request("the body is not a JSON object"),
        };
        let metadata = &object["metadata"];
        if let Some(ns) = metadata["namespace"].as_str()
            && ns != namespace
        {
            return bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            );
        }
        let name = match (metadata["name"].as_str(), metadata["generateName"].as_str()) {
            (Some(n), _) if !n.is_empty() => n.to_owned(),
            (_, Some(prefix)) if !prefix.is_empty() => {
                format!("{prefix}{:05x}", self.version + 1)
            }
            _ => {
                return invalid(
                    resource,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                );
            }
        };
        let key = Key::new(resource, namespace, &name);
        if self.objects.contains_key(&key) {
            return status_answer(
                409,
                format!("{} \"{name}\" already exists", resource.qualified()),
                Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
            )
            .map_reason("AlreadyExists");
        }
        if *resource == FakeResource::EVENT
            && let Some(problem) = event_problem(&object)
        {
            return invalid(resource, &name, &problem);
        }
        object["metadata"]["name"] = json!(name);
        self.stamp_new(resource, namespace, &mut object);
        let mode = StatusMode::default();
        if resource.scale {
            apply_status(&mut object, mode);
        }
        self.objects.insert(
            key,
            Stored {
                object: object.clone(),
                mode,
            },
        );
        (StatusCode::CREATED, object)
    }

    /// Checks the stored object against the `resourceVersion` a write carries (if any).
    fn stale(stored: &Value, sent: &Value) -> bool {
        match sent["metadata"]["resourceVersion"].as_str() {
            Some(v) if !v.is_empty() => stored["metadata"]["resourceVersion"].as_str() != Some(v),
            _ => false,
        }
    }

    /// Stores `new` as the next version of the object at `key`, keeping what the server owns.
    fn update(&mut self, resource: &FakeResource, key: &Key, mut new: Value) -> Value {
        let version = self.next_version();
        let stored = self.objects.get_mut(key).expect("checked by the caller");
        let old = &stored.object;
        for field in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
        ] {
            let kept = old["metadata"][field].clone();
            let metadata = ensure_object(&mut new, "metadata");
            if kept.is_null() {
                metadata.remove(field);
            } else {
                metadata.insert(field.to_owned(), kept);
            }
        }
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = old["kind"].clone();
        new["metadata"]["resourceVersion"] = json!(version);
        if resource.scale {
            new["status"] = old["status"].clone();
            if new["spec"] != old["spec"] {
                let generation = old["metadata"]["generation"].as_u64().unwrap_or(1) + 1;
                new["metadata"]["generation"] = json!(generation);
            }
            apply_status(&mut new, stored.mode);
        }
        stored.object = new.clone();
        new
    }

    fn replace(&mut self, resource: &FakeResource, ns: &str, name: &str, body: &[u8]) -> Answer {
        let new: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad_request("the body is not a JSON object"),
        };
        let key = Key::new(resource, ns, name);
        let Some(stored) = self.objects.get(&key) else {
            return not_found(resource, name);
        };
        if new["metadata"]["name"].as_str() != Some(name) {
            return bad_request("the name of the object does not match the name on the URL");
        }
        if Self::stale(&stored.object, &new) {
            return conflict(resource, name);
        }
        (StatusCode::OK, self.update(resource, &key, new))
    }

    fn patch(
        &mut self,
        resource: &FakeResource,
        ns: &str,
        name: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let patch = match parse_merge_patch(content_type, body) {
            Ok(p) => p,
            Err(answer) => return answer,
        };
        let key = Key::new(resource, ns, name);
        let Some(stored) = self.objects.get(&key) else {
            return not_found(resource, name);
        };
        if Self::stale(&stored.object, &patch) {
            return conflict(resource, name);
        }
        let mut new = stored.object.clone();
        merge_patch(&mut new, &patch);
        (StatusCode::OK, self.update(resource, &key, new))
    }

    fn scale(
        &mut self,
        resource: &FakeResource,
        ns: &str,
        name: &str,
        method: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let key = Key::new(resource, ns, name);
        let Some(stored) = self.objects.get(&key) else {
            return not_found(resource, name);
        };
        let current = scale_of(&stored.object);
        let sent = match method {
            "GET" => return (StatusCode::OK, current),
            "PATCH" => match parse_merge_patch(content_type, body) {
                Ok(patch) => {
                    let mut scale = current.clone();
                    merge_patch(&mut scale, &patch);
                    // The version check applies to what the patch carries, not the merge.
                    scale["metadata"]["resourceVersion"] =
                        patch["metadata"]["resourceVersion"].clone();
                    scale
                }
                Err(answer) => return answer,
            },
            "PUT" => match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => return bad_request("the body is not a JSON object"),
            },
            _ => {
                return method_not_allowed(
                    &Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
                );
            }
        };
        if Self::stale(&stored.object, &sent) {
            return conflict(resource, name);
        }
        let replicas = match sent["spec"]["replicas"].as_i64() {
            Some(r) if (0..=i64::from(i32::MAX)).contains(&r) => r,
            _ => {
                return invalid(
                    &FakeResource::plain("autoscaling", "v1", "Scale", "scale"),
                    name,
                    "spec.replicas: Invalid value: must be a non-negative integer",
                );
            }
        };
        let mut new = stored.object.clone();
        new["spec"]["replicas"] = json!(replicas);
        let new = self.update(resource, &key, new);
        (StatusCode::OK, scale_of(&new))
    }
}

/// The `autoscaling/v1` Scale of a workload.
fn scale_of(object: &Value) -> Value {
    let metadata = &object["metadata"];
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": spec_replicas(object)},
        "status": {
            "replicas": object["status"]["replicas"].as_u64().unwrap_or(0),
            "selector": selector,
        },
    })
}

fn parse_merge_patch(content_type: Option<&str>, body: &[u8]) -> Result<Value, Answer> {
    let media = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if media != "application/merge-patch+json" && media != "application/strategic-merge-patch+json"
    {
        return Err(status_answer(
            415,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {media:?})"
            ),
            None,
        ));
    }
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad_request("the patch is not a JSON object")),
    }
}

/// The first reason `events.k8s.io/v1` validation would reject this Event for.
fn event_problem(event: &Value) -> Option<String> {
    let text = |field: &str| event[field].as_str().unwrap_or_default();
    if event["eventTime"].is_null() {
        return Some("eventTime: Required value".to_owned());
    }
    for field in [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if text(field).is_empty() {
            return Some(format!("{field}: Required value"));
        }
    }
    for field in ["action", "reason"] {
        if text(field).len() > 128 {
            return Some(format!("{field}: Too long: may not be longer than 128"));
        }
    }
    if !matches!(text("type"), "Normal" | "Warning") {
        return Some(format!(
            "type: Unsupported value: {:?}: supported values: \"Normal\", \"Warning\"",
            text("type")
        ));
    }
    if text("note").len() > 1024 {
        return Some("note: Too long: may not be longer than 1024".to_owned());
    }
    None
}

trait MapReason {
    fn map_reason(self, reason: &str) -> Self;
}

impl MapReason for Answer {
    fn map_reason(mut self, reason: &str) -> Self {
        self.1["reason"] = json!(reason);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_by_segment() {
        assert!(path_matches("/a/*/c", "/a/b/c"));
        assert!(!path_matches("/a/*/c", "/a/b/x/c"));
        assert!(path_matches("/a/**/c", "/a/b/x/c"));
        assert!(path_matches("/a/**/c", "/a/c"));
        assert!(path_matches("/a/**", "/a"));
        assert!(path_matches("/a/b", "/a/b?x=1"));
        assert!(!path_matches("/a/b", "/a/b/c"));
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut target, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }

    #[test]
    fn fault_wears_off_after_its_count() {
        let mut f = Fault::status(409).on("patch", "/x/*").times(1);
        assert!(f.matches("PATCH", "/x/y", None));
        assert!(!f.matches("GET", "/x/y", None));
        f.remaining = Some(0);
        assert!(!f.matches("PATCH", "/x/y", None));
    }

    #[test]
    fn a_fault_from_an_agent_matches_only_that_client() {
        let f = Fault::delay(Duration::from_secs(1)).from_agent("(replica-a)");
        assert!(f.matches("GET", "/api", Some("scalerd/0.1.0 (replica-a)")));
        assert!(!f.matches("GET", "/api", Some("scalerd/0.1.0 (replica-b)")));
        assert!(!f.matches("GET", "/api", None));
        assert!(Fault::status(500).matches("GET", "/api", None));
    }

    #[test]
    fn follow_omits_zero_ready_replicas() {
        let mut o = json!({"spec": {"replicas": 0}, "status": {"readyReplicas": 3}});
        apply_status(&mut o, StatusMode::Follow);
        assert_eq!(o["status"], json!({"replicas": 0}));
        let mut o = json!({"spec": {"replicas": 4}, "status": {"readyReplicas": 3}});
        apply_status(&mut o, StatusMode::HoldReady);
        assert_eq!(o["status"], json!({"replicas": 4, "readyReplicas": 3}));
    }
}
