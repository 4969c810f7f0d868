//! A fake Kubernetes API server: real HTTP on loopback, for a real `kube::Client`.
//!
//! It serves legacy discovery (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`,
//! `/version`) and a generic object store for the resources in [`FakeResource`]: Deployments,
//! StatefulSets and ReplicaSets (`apps/v1`) and Argo Rollouts (`argoproj.io/v1alpha1`) with a
//! `/scale` subresource, Secrets and ConfigMaps (`v1`), Events (`events.k8s.io/v1`), Leases
//! (`coordination.k8s.io/v1`), HorizontalPodAutoscalers (`autoscaling/v2`), Jobs (`batch/v1`)
//! and KEDA's ScaledObjects, ScaledJobs, TriggerAuthentications and (cluster-scoped)
//! ClusterTriggerAuthentications (`keda.sh/v1alpha1`); more can be added with
//! [`FakeApiServer::add_resource`] and [`FakeApiServer::add_resource_with`].
//!
//! What it does like the real server (as the Kubernetes API concepts and conventions describe
//! it):
//! - one cluster-wide `resourceVersion` counter, bumped on every change; a write that carries
//!   a stale `metadata.resourceVersion` answers 409 `Conflict` (on `/status` and `/scale`
//!   too), creating an existing name 409 `AlreadyExists`, a missing object 404 `NotFound`,
//!   each as a JSON `Status`;
//! - `GET`, `POST` (with `generateName`), `PUT`, `PATCH` (JSON merge patch; a strategic merge
//!   patch is applied as a merge patch) and `DELETE` (with `preconditions`) of objects, in a
//!   namespace or cluster-scoped (`/apis/<g>/<v>/<plural>/<name>`);
//! - **lists** per namespace or across all namespaces, answering `metadata.resourceVersion`:
//!   the current version for no `resourceVersion`, `0`, or `NotOlderThan` semantics; the state
//!   at exactly that version for `resourceVersionMatch=Exact` (or a `limit` with a non-zero
//!   `resourceVersion` and no match, as documented), 410 `Expired` when it is older than the
//!   history; 504 for a version not reached yet; `limit` and `continue` pages of one
//!   consistent snapshot (410 when the snapshot left the history);
//! - **watches** (`watch=1` or `watch=true` on a collection): newline-delimited JSON events
//!   (`ADDED`, `MODIFIED`, `DELETED`) on a chunked response kept open. From
//!   `resourceVersion=N`, every change after N from a bounded history
//!   ([`FakeApiServer::set_history_limit`], 10,000 changes by default); N older than the
//!   history gets one `ERROR` event with a 410 `Expired` `Status` and the end of the stream.
//!   Without `resourceVersion` (or `0`) it starts with synthetic `ADDED` events for the
//!   objects there now. `allowWatchBookmarks=true` adds a `BOOKMARK` (an object of the kind
//!   with only `metadata.resourceVersion`: every change up to it has been sent) every
//!   [`FakeApiServer::set_bookmark_interval`] (1 s by default); `timeoutSeconds` ends the
//!   stream. `sendInitialEvents=true` sends the current objects as `ADDED` and, with
//!   bookmarks, a `BOOKMARK` annotated `k8s.io/initial-events-end` (kube-runtime's default
//!   watcher does not use it: it lists, then watches from the list's version);
//! - `labelSelector` (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and
//!   `fieldSelector` (`metadata.name`, `metadata.namespace` with `=`, `==`, `!=`) filter lists
//!   and watches; in a watch, an object that starts (stops) matching is `ADDED` (`DELETED`);
//! - changes made through the test helpers ([`FakeApiServer::put_object`],
//!   [`FakeApiServer::put_workload`], [`FakeApiServer::delete_object`],
//!   [`FakeApiServer::set_status`], ...) are changes like any other: new versions, seen by
//!   watches;
//! - **status subresources** ([`ResourceOptions::status`]): `PUT`/`PATCH` of `.../status`
//!   change only `status`; `POST`, `PUT` and `PATCH` of the object ignore `status`;
//!   `metadata.generation` is bumped only by changes outside `metadata` and `status`;
//! - **finalizers**: `DELETE` of an object with `metadata.finalizers` sets `deletionTimestamp`
//!   and `deletionGracePeriodSeconds: 0` and keeps it (202 with the object, a `MODIFIED`
//!   event); the write that removes its last finalizer deletes it (`DELETED`); no new
//!   finalizer may be added once deletion started (422); without finalizers it goes at once;
//! - `GET`, `PUT` and `PATCH` of `/scale` (an `autoscaling/v1` `Scale`) on workloads, writing
//!   `spec.replicas` of the object;
//! - `status.replicas`/`status.readyReplicas` follow `spec.replicas` at once, or not, per object
//!   ([`StatusMode`]); a zero `readyReplicas` is omitted like a real Deployment's;
//! - Events are validated like `events.k8s.io/v1` does (eventTime, reportingController,
//!   reportingInstance, action, reason, type, note length) and answer 422 `Invalid`.
//!
//! Not implemented: server-side apply, JSON patch, the legacy `/watch/` paths, watches of one
//! object by path (use `fieldSelector=metadata.name=...`), `deletecollection`, graceful
//! deletion periods, namespaces as objects, authentication and admission. Pages after the
//! first of a paged list are served from the snapshot of the first.
//!
//! Tests shape its answers with [`Fault`]s (a status code, a delay, or a 410 for a watch, for
//! the next N requests matching a method and path pattern), end every open watch
//! ([`FakeApiServer::end_watches`]), forget the history ([`FakeApiServer::compact`]) or make
//! the server unreachable ([`FakeApiServer::set_unreachable`],
//! [`FakeApiServer::unreachable_for`]), and check what happened in the [`JournalEntry`] list
//! of every request.

mod answers;
mod faults;
mod http;
mod journal;
mod requests;
mod resources;
mod selector;
mod store;
mod tally;
mod watch;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use tokio::time::Instant;

pub use self::faults::{Fault, path_matches};
pub use self::journal::{JournalEntry, LeaseTerm};
pub use self::resources::{FakeResource, ResourceOptions, StatusMode};

use self::answers::ensure_object;
use self::http::{Gate, GatedListener};
use self::resources::{Served, api_prefix};
use self::store::{Key, Store, apply_status, lock};

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
    gate: Arc<Gate>,
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
    /// fault) are still answered; open watches end.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.lock().watchers.clear();
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
        let store = Arc::new(Mutex::new(Store::new(address.to_string())));
        let gate = Arc::new(Gate::new());
        let router = Router::new()
            .fallback(http::handle)
            .with_state(store.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = GatedListener {
            inner: listener,
            gate: gate.clone(),
        };
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
            gate,
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

    /// A kubeconfig file's text for this server: one cluster, context and user, all named
    /// `fake`, plain HTTP, no credentials.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: '{}'}}}}]\ncontexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\ncurrent-context: fake\nusers: [{{name: fake, user: {{}}}}]\n",
            self.url
        )
    }

    /// A real `kube::Client` for this server (from [`FakeApiServer::config`]).
    ///
    /// # Panics
    /// Outside a tokio runtime, or if kube cannot build a client.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("fake API server: cannot build a client")
    }

    /// Also serves `resource` (e.g. another custom resource), in discovery and for objects,
    /// with [`ResourceOptions::of`] it.
    pub fn add_resource(&self, resource: FakeResource) {
        self.add_resource_with(resource, ResourceOptions::of(&resource));
    }

    /// Also serves `resource` with these options (its scope, a `/status` subresource); a
    /// resource already served keeps its objects and takes the new options.
    pub fn add_resource_with(&self, resource: FakeResource, options: ResourceOptions) {
        let mut s = self.lock();
        let served = Served { resource, options };
        match s.resources.iter_mut().find(|r| r.resource == resource) {
            Some(r) => *r = served,
            None => s.resources.push(served),
        }
    }

    /// Stores `object` in `namespace` directly (no journal, no faults) as a new version seen
    /// by watches, replacing any object of that name (status included, whatever the
    /// resource's status subresource); sets apiVersion, kind, namespace (ignored for a
    /// cluster-scoped resource: pass `""`), resourceVersion, and for a new object uid,
    /// creationTimestamp and generation (an existing one keeps them, its generation bumped on
    /// a spec change), and for workloads the status per its [`StatusMode`]. An object being
    /// deleted whose finalizers `object` empties is deleted. Returns it as stored.
    ///
    /// # Panics
    /// When `object` has no `metadata.name`.
    pub fn put_object(&self, resource: &FakeResource, namespace: &str, object: Value) -> Value {
        self.lock().put(resource, namespace, object)
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

    fn key(&self, s: &Store, resource: &FakeResource, namespace: &str, name: &str) -> Key {
        Key::new(resource, s.served(resource).scope(namespace), name)
    }

    /// The stored object, if any (`namespace` is ignored for a cluster-scoped resource).
    pub fn object(&self, resource: &FakeResource, namespace: &str, name: &str) -> Option<Value> {
        let s = self.lock();
        let key = self.key(&s, resource, namespace, name);
        s.objects.get(&key).map(|o| o.object.clone())
    }

    /// Removes an object directly, finalizers or not (a `DELETED` event); whether it existed.
    pub fn delete_object(&self, resource: &FakeResource, namespace: &str, name: &str) -> bool {
        let mut s = self.lock();
        let key = self.key(&s, resource, namespace, name);
        let Some(mode) = s.objects.get(&key).map(|o| o.mode) else {
            return false;
        };
        s.commit(&key, None, mode);
        true
    }

    /// Deletes an object as a `DELETE` request does (no journal, no faults): with finalizers
    /// it gets `deletionTimestamp` and stays until a write removes the last one; without, it
    /// goes. `Some(true)` when it is gone, `Some(false)` when it stays (being deleted), `None`
    /// when there is no such object.
    pub fn request_deletion(
        &self,
        resource: &FakeResource,
        namespace: &str,
        name: &str,
    ) -> Option<bool> {
        let mut s = self.lock();
        let key = self.key(&s, resource, namespace, name);
        if !s.objects.contains_key(&key) {
            return None;
        }
        let served = s.served(resource);
        Some(s.delete_object(&served, &key).0)
    }

    /// How many workloads of `resource` in `namespace` have each `spec.replicas` count.
    pub fn replica_histogram(
        &self,
        resource: &FakeResource,
        namespace: &str,
    ) -> std::collections::BTreeMap<u64, usize> {
        let s = self.lock();
        let mut counts = std::collections::BTreeMap::new();
        for (key, stored) in &s.objects {
            if key.is_in(resource, namespace) {
                let replicas = stored.object["spec"]["replicas"].as_u64().unwrap_or(0);
                *counts.entry(replicas).or_default() += 1;
            }
        }
        counts
    }

    /// Serves CustomResourceDefinitions (if not yet) and stores the definition of `resource`
    /// (a custom workload, e.g. [`FakeResource::ROLLOUT`]) as the API server has it: one
    /// served and stored version with the `status` and `scale` subresources, replicas at
    /// `.spec.replicas` and `.status.replicas`, as this fake serves them.
    pub fn put_scalable_crd(&self, resource: &FakeResource) -> Value {
        let crds = FakeResource::CUSTOM_RESOURCE_DEFINITION;
        if !self.lock().resources.iter().any(|r| r.resource == crds) {
            self.add_resource(crds);
        }
        self.put_object(
            &crds,
            "",
            json!({
                "metadata": {"name": format!("{}.{}", resource.plural, resource.group)},
                "spec": {
                    "group": resource.group,
                    "names": {"kind": resource.kind, "plural": resource.plural},
                    "scope": "Namespaced",
                    "versions": [{
                        "name": resource.version, "served": true, "storage": true,
                        "subresources": {"status": {}, "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        }},
                    }],
                },
            }),
        )
    }

    /// `spec.replicas` of a workload, if it exists.
    pub fn replicas(&self, resource: &FakeResource, namespace: &str, name: &str) -> Option<u32> {
        // Read in place: tests poll this for thousands of objects while the daemons run, and
        // a clone of each object under the server's lock would compete with them.
        let s = self.lock();
        let key = self.key(&s, resource, namespace, name);
        s.objects
            .get(&key)
            .and_then(|o| o.object["spec"]["replicas"].as_u64())
            .and_then(|r| u32::try_from(r).ok())
    }

    /// How a workload's status reacts to later writes; [`StatusMode::Follow`] also brings it
    /// up to date now (a new version, when that changes it).
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
        let key = self.key(&s, resource, namespace, name);
        let stored = s
            .objects
            .get_mut(&key)
            .expect("fake API server: set_status_mode on a missing object");
        stored.mode = mode;
        let mut object = stored.object.clone();
        apply_status(&mut object, mode);
        if object != stored.object {
            s.commit(&key, Some(object), mode);
        }
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
        let key = self.key(&s, resource, namespace, name);
        let mut object = s
            .objects
            .get(&key)
            .expect("fake API server: set_status on a missing object")
            .object
            .clone();
        let status = ensure_object(&mut object, "status");
        status.insert("replicas".to_owned(), json!(replicas));
        if ready == 0 {
            status.remove("readyReplicas");
        } else {
            status.insert("readyReplicas".to_owned(), json!(ready));
        }
        s.commit(&key, Some(object), StatusMode::Hold);
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

    /// A core `v1` ConfigMap with this `data`.
    pub fn put_config_map(&self, namespace: &str, name: &str, data: &[(&str, &str)]) -> Value {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        self.put_object(
            &FakeResource::CONFIG_MAP,
            namespace,
            json!({"metadata": {"name": name}, "data": data}),
        )
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
            .filter(|(k, _)| FakeResource::EVENT.same(k) && k.namespace == namespace)
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

    /// The store's current `resourceVersion` (that of its last change), as a list answers it.
    pub fn resource_version(&self) -> String {
        self.lock().version.to_string()
    }

    /// How many watches are open now.
    pub fn open_watches(&self) -> usize {
        let mut s = self.lock();
        s.watchers.retain(|w| !w.tx.is_closed());
        s.watchers.len()
    }

    /// Ends every open watch now, cleanly (the streams end after the events already sent), as
    /// when an API server restarts or a watch times out; clients watch again from their last
    /// version. Returns how many ended.
    ///
    /// # Examples
    /// The watch faults a cluster-mode test goes through:
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use scalers_testkit::{FakeApiServer, Fault};
    ///
    /// let server = FakeApiServer::start().await;
    /// // ... a controller watches ScaledObjects through `server.client()` ...
    /// server.end_watches(); // it watches again from its last version
    /// server.inject(Fault::expired().on("GET", "/apis/keda.sh/**").times(1));
    /// server.end_watches(); // its next watch gets 410 Expired: it lists again
    /// server.compact(); // the same through the history: any older version is gone
    /// server.unreachable_for(Duration::from_secs(30)); // connections fail, then it is back
    /// # }
    /// ```
    pub fn end_watches(&self) -> usize {
        let mut s = self.lock();
        s.watchers.retain(|w| !w.tx.is_closed());
        let ended = s.watchers.len();
        s.watchers.clear();
        ended
    }

    /// Forgets the history of changes: a watch (or exact list, or list page) from any version
    /// before now answers 410 `Expired`, so its client must list again. Open watches go on.
    pub fn compact(&self) {
        self.lock().compact();
    }

    /// Keeps at most `changes` changes in the history (10,000 by default); a watch from a
    /// version older than those answers 410 `Expired`.
    pub fn set_history_limit(&self, changes: usize) {
        let mut s = self.lock();
        s.history_limit = changes;
        while s.history.len() > changes {
            if let Some(dropped) = s.history.pop_front() {
                s.compacted = dropped.version;
            }
        }
    }

    /// How often watches with `allowWatchBookmarks=true` get a `BOOKMARK` (1 s by default);
    /// applies to watches opened afterwards.
    pub fn set_bookmark_interval(&self, every: Duration) {
        self.lock().bookmark_interval = every;
    }

    /// Makes the server unreachable (`true`) until called with `false`: every connection open
    /// now fails (open watches end with a broken stream, idle keep-alive connections are
    /// reset), and new connections are accepted and closed at once, unanswered and not in the
    /// journal. The store keeps its objects and history.
    pub fn set_unreachable(&self, unreachable: bool) {
        if unreachable {
            self.gate.down(None, &self.store);
        } else {
            self.gate.up();
        }
    }

    /// Makes the server unreachable for `duration` (as [`FakeApiServer::set_unreachable`]),
    /// then reachable again by itself.
    pub fn unreachable_for(&self, duration: Duration) {
        self.gate.down(Some(Instant::now() + duration), &self.store);
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

    /// Whether later requests are kept in the journal (on by default). Off, only
    /// [`FakeApiServer::tally`] counts them: for benchmarks that send millions of requests.
    pub fn set_journaling(&self, on: bool) {
        self.lock().journaling = on;
    }

    /// How many requests were received since the start, by `"<verb> <resource>"` as the
    /// API server's audit log names them (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`; the resource with its subresource, e.g. `"patch deployments/scale"`;
    /// `"get discovery"` for discovery), whether or not the journal is on.
    pub fn tally(&self) -> std::collections::BTreeMap<String, u64> {
        self.lock().tally.clone()
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
        let collection = format!(
            "{}/namespaces/{namespace}/{}",
            api_prefix(&FakeResource::LEASE),
            FakeResource::LEASE.plural
        );
        journal::lease_terms(&self.lock().journal, &collection, name)
    }

    /// The `batch/v1` Jobs of `namespace` carrying the label `key=value`, sorted by name.
    pub fn jobs_labelled(&self, namespace: &str, key: &str, value: &str) -> Vec<Value> {
        let s = self.lock();
        s.objects
            .iter()
            .filter(|(k, _)| {
                k.group == FakeResource::JOB.group
                    && k.plural == FakeResource::JOB.plural
                    && k.namespace == namespace
            })
            .map(|(_, stored)| stored.object.clone())
            .filter(|o| o["metadata"]["labels"][key].as_str() == Some(value))
            .collect()
    }

    /// Sets a Job's status as the Job controller would for one pod in `state` (a change like
    /// any other: a new version, seen by watches):
    ///
    /// - [`JobState::Running`]: `startTime`, `active: 1`, `ready: 1`, no conditions;
    /// - [`JobState::Succeeded`]: `succeeded: 1`, `active: 0`, `completionTime`, and the
    ///   conditions `SuccessCriteriaMet` and `Complete`, both True (Kubernetes 1.31+);
    /// - [`JobState::Failed`]: `failed: 1`, `active: 0`, no `completionTime` (only a Job that
    ///   succeeds gets one), the conditions `FailureTarget` and `Failed` (reason
    ///   `BackoffLimitExceeded`), both True.
    ///
    /// # Panics
    /// When the Job does not exist.
    pub fn set_job_state(&self, namespace: &str, name: &str, state: JobState) {
        let mut s = self.lock();
        let key = self.key(&s, &FakeResource::JOB, namespace, name);
        let stored = s
            .objects
            .get(&key)
            .expect("fake API server: set_job_state on a missing Job");
        let (mut object, mode) = (stored.object.clone(), stored.mode);
        let now = store::now_time();
        let start = object["status"]["startTime"].clone();
        let start = if start.is_null() { now.clone() } else { start };
        let condition = |kind: &str, reason: &str| {
            json!({
                "type": kind, "status": "True", "reason": reason,
                "lastProbeTime": now, "lastTransitionTime": now,
            })
        };
        object["status"] = match state {
            JobState::Running => json!({"startTime": start, "active": 1, "ready": 1}),
            JobState::Succeeded => json!({
                "startTime": start, "active": 0, "ready": 0, "succeeded": 1,
                "completionTime": now,
                "conditions": [
                    condition("SuccessCriteriaMet", "CompletionsReached"),
                    condition("Complete", "CompletionsReached"),
                ],
            }),
            JobState::Failed => json!({
                "startTime": start, "active": 0, "ready": 0, "failed": 1,
                "conditions": [
                    condition("FailureTarget", "BackoffLimitExceeded"),
                    condition("Failed", "BackoffLimitExceeded"),
                ],
            }),
        };
        s.commit(&key, Some(object), mode);
    }

    /// Puts pod `pod` of Job `job` as the Job controller creates it and the kubelet reports
    /// it (a new version, seen by watches; an existing pod of that name is replaced): the
    /// labels of the Job's pod template plus `batch.kubernetes.io/job-name`, `job-name`,
    /// `batch.kubernetes.io/controller-uid` and `controller-uid`, an owner reference to the Job,
    /// the template's spec, `status.phase` `phase`, and a condition of each type in `conditions`
    /// with status True (the other pod conditions, `PodScheduled`, `Initialized`,
    /// `ContainersReady` and `Ready`, False). Returns the pod as stored.
    ///
    /// # Panics
    /// When the Job does not exist.
    pub fn put_job_pod(
        &self,
        namespace: &str,
        job: &str,
        pod: &str,
        phase: &str,
        conditions: &[&str],
    ) -> Value {
        let job_object = self
            .object(&FakeResource::JOB, namespace, job)
            .expect("fake API server: put_job_pod on a missing Job");
        let uid = job_object["metadata"]["uid"].clone();
        let template = &job_object["spec"]["template"];
        let mut labels = template["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        for key in ["batch.kubernetes.io/job-name", "job-name"] {
            labels[key] = json!(job);
        }
        for key in ["batch.kubernetes.io/controller-uid", "controller-uid"] {
            labels[key] = uid.clone();
        }
        let now = store::now_time();
        let standard = ["PodScheduled", "Initialized", "ContainersReady", "Ready"];
        let mut kinds: Vec<&str> = standard.to_vec();
        kinds.extend(conditions.iter().filter(|c| !standard.contains(c)));
        let conditions: Vec<Value> = kinds
            .iter()
            .map(|kind| {
                let status = if conditions.contains(kind) {
                    "True"
                } else {
                    "False"
                };
                json!({"type": kind, "status": status, "lastTransitionTime": now})
            })
            .collect();
        self.put_object(
            &FakeResource::POD,
            namespace,
            json!({
                "metadata": {
                    "name": pod,
                    "labels": labels,
                    "ownerReferences": [{
                        "apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": uid,
                        "controller": true, "blockOwnerDeletion": true,
                    }],
                },
                "spec": template["spec"].clone(),
                "status": {"phase": phase, "conditions": conditions},
            }),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

/// The state of a Job's one pod, as [`FakeApiServer::set_job_state`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// The pod runs.
    Running,
    /// The pod succeeded: the Job is complete.
    Succeeded,
    /// The pod failed past the backoff limit: the Job failed.
    Failed,
}
