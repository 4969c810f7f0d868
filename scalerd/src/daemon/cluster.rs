//! The cluster as a source of scaled objects: KEDA's `keda.sh/v1alpha1` ScaledObject,
//! TriggerAuthentication and ClusterTriggerAuthentication resources, watched with
//! kube-runtime's watchers and reflector stores (list, then watch from the resourceVersion,
//! bookmarks, a new list after 410 Gone or a broken watch, with kube-runtime's backoff).
//!
//! Each ScaledObject goes through exactly the path of an object from a file: the object and the
//! authentications it refers to are given to the loader as KEDA manifests, validated and built
//! as `scalerd check` would; its errors (the lines `check` would print) are reported on that
//! object alone ([`ClusterChange::Invalid`]), never on the others.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use scalers_core::config::ValidatedObject;
use scalers_core::config::model::{AuthSource, Config};
use scalers_core::trigger::Registry;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::warn;

use crate::daemon::credentials::{Fingerprints, TargetEnv};

/// The API group and version of KEDA's resources.
pub const KEDA_API_VERSION: &str = "keda.sh/v1alpha1";

/// A change of one scaled object, as the cluster source reports it.
#[derive(Debug)]
pub enum ClusterChange {
    /// The object is new or changed (or an authentication it uses changed), and valid.
    Apply {
        /// The object, validated, triggers built.
        object: Box<ValidatedObject>,
        /// The whole ScaledObject as the API serves it (its status included).
        resource: Arc<DynamicObject>,
        /// The config it was read as (for credentials).
        config: Box<Config>,
        /// The fingerprints of its credentials.
        fingerprints: Fingerprints,
        /// The environment of its target's containers, which `*FromEnv` parameters and `env`
        /// sources read; none when its triggers read neither (the target is then not read).
        env: Option<Arc<TargetEnv>>,
    },
    /// The object is new or changed, and invalid: what `scalerd check` would print.
    Invalid {
        /// `namespace/name`.
        key: String,
        /// The ScaledObject as the API serves it.
        resource: Arc<DynamicObject>,
        /// Every problem, one per line.
        message: String,
    },
    /// The object is gone (or is being deleted).
    Remove {
        /// `namespace/name`.
        key: String,
        /// The ScaledObject as last seen.
        resource: Arc<DynamicObject>,
        /// Whether it is being deleted and waits for scalerd's finalizer to go (else it is
        /// gone already).
        deleting: bool,
    },
}

/// Which of the three kinds a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ScaledObject,
    TriggerAuthentication,
    ClusterTriggerAuthentication,
    HorizontalPodAutoscaler,
}

/// How many kinds are watched: all must have been listed before the first changes.
const KINDS: usize = 4;

impl Kind {
    fn resource(self) -> ApiResource {
        if self == Kind::HorizontalPodAutoscaler {
            return ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
                "horizontalpodautoscalers",
            );
        }
        let (kind, plural) = match self {
            Kind::ScaledObject => ("ScaledObject", "scaledobjects"),
            Kind::TriggerAuthentication => ("TriggerAuthentication", "triggerauthentications"),
            Kind::ClusterTriggerAuthentication => (
                "ClusterTriggerAuthentication",
                "clustertriggerauthentications",
            ),
            Kind::HorizontalPodAutoscaler => unreachable!("answered above"),
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("keda.sh", "v1alpha1", kind),
            plural,
        )
    }
}

/// What a watch task tells the source: an object of `kind` changed, or a list completed.
#[derive(Debug)]
enum Notice {
    Changed(Kind, Option<String>, String),
    Listed(Kind),
}

/// The watched ScaledObjects and authentications, turned into [`ClusterChange`]s.
///
/// [`ClusterSource::next`] waits for the next batch of changes. Objects are compared by what
/// their validation reads (the spec, the annotations, the authentications they refer to): a
/// status write, or a change of an authentication an object does not use, changes nothing.
pub struct ClusterSource {
    registry: Arc<Registry>,
    client: kube::Client,
    own_namespace: String,
    objects: Vec<Store<DynamicObject>>,
    auths: Vec<Store<DynamicObject>>,
    cluster_auths: Store<DynamicObject>,
    hpas: Vec<Store<DynamicObject>>,
    notices: mpsc::UnboundedReceiver<Notice>,
    /// What each known object was last validated from.
    seen: BTreeMap<String, u64>,
    listed: BTreeSet<&'static str>,
}

impl std::fmt::Debug for ClusterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSource")
            .field("objects", &self.seen.len())
            .finish_non_exhaustive()
    }
}

impl ClusterSource {
    /// Starts watching the three kinds, in `namespaces` (every namespace when empty); the
    /// Secrets of ClusterTriggerAuthentications are read from `own_namespace`.
    pub fn start(
        client: kube::Client,
        namespaces: &[String],
        registry: Arc<Registry>,
        own_namespace: &str,
    ) -> Self {
        let (tx, notices) = mpsc::unbounded_channel();
        let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().map(|n| Some(n.as_str())).collect()
        };
        let mut objects = Vec::new();
        let mut auths = Vec::new();
        let mut hpas = Vec::new();
        for ns in &scopes {
            objects.push(watch(&client, Kind::ScaledObject, *ns, tx.clone()));
            auths.push(watch(&client, Kind::TriggerAuthentication, *ns, tx.clone()));
            hpas.push(watch(
                &client,
                Kind::HorizontalPodAutoscaler,
                *ns,
                tx.clone(),
            ));
        }
        let cluster_auths = watch(&client, Kind::ClusterTriggerAuthentication, None, tx);
        ClusterSource {
            registry,
            client,
            own_namespace: own_namespace.to_owned(),
            objects,
            auths,
            cluster_auths,
            hpas,
            notices,
            seen: BTreeMap::new(),
            listed: BTreeSet::new(),
        }
    }

    /// Reads a ScaledObject (by `namespace/name`) from the watched objects, as the cluster
    /// serves it now.
    pub fn status_lookup(&self) -> crate::kube::StatusLookup {
        let stores = self.objects.clone();
        let resource = Kind::ScaledObject.resource();
        Arc::new(move |key: &str| {
            let (ns, name) = key.split_once('/')?;
            let at = ObjectRef::new_with(name, resource.clone()).within(ns);
            stores.iter().find_map(|s| s.get(&at))
        })
    }

    /// Waits until the three kinds have been listed, then returns the changes since the last
    /// call (at least one; the first call returns every object).
    pub async fn next(&mut self) -> Vec<ClusterChange> {
        loop {
            let Some(first) = self.notices.recv().await else {
                std::future::pending::<()>().await;
                continue;
            };
            let mut notices = vec![first];
            while let Ok(n) = self.notices.try_recv() {
                notices.push(n);
            }
            for n in &notices {
                if let Notice::Listed(kind) = n {
                    self.listed.insert(kind_name(*kind));
                }
            }
            if self.listed.len() < KINDS {
                continue;
            }
            let changes = self.changes(&notices).await;
            if !changes.is_empty() {
                return changes;
            }
        }
    }

    /// The keys of the objects the notices may have changed (every object after a list).
    fn affected(&self, notices: &[Notice]) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        let all = notices.iter().any(|n| matches!(n, Notice::Listed(_)));
        let objects: Vec<Arc<DynamicObject>> = self.objects.iter().flat_map(Store::state).collect();
        if all {
            keys.extend(self.seen.keys().cloned());
            keys.extend(objects.iter().map(|o| key_of(o)));
            return keys;
        }
        for n in notices {
            let Notice::Changed(kind, ns, name) = n else {
                continue;
            };
            match kind {
                Kind::ScaledObject => {
                    keys.insert(format!("{}/{name}", ns.as_deref().unwrap_or_default()));
                }
                Kind::HorizontalPodAutoscaler => {
                    keys.extend(
                        objects
                            .iter()
                            .filter(|o| o.metadata.namespace == *ns)
                            .map(|o| key_of(o)),
                    );
                }
                Kind::TriggerAuthentication | Kind::ClusterTriggerAuthentication => {
                    let wanted = kind_name(*kind);
                    for o in &objects {
                        let same_ns = *kind == Kind::ClusterTriggerAuthentication
                            || o.metadata.namespace == *ns;
                        if same_ns && auth_refs(o).iter().any(|(k, n)| *k == wanted && n == name) {
                            keys.insert(key_of(o));
                        }
                    }
                }
            }
        }
        keys
    }

    async fn changes(&mut self, notices: &[Notice]) -> Vec<ClusterChange> {
        let mut out = Vec::new();
        for key in self.affected(notices) {
            let (ns, name) = key.split_once('/').unwrap_or(("", &key));
            let at = ObjectRef::new_with(name, Kind::ScaledObject.resource()).within(ns);
            let found = self.objects.iter().find_map(|s| s.get(&at));
            let Some(resource) = found else {
                if self.seen.remove(&key).is_some() {
                    out.push(ClusterChange::Remove {
                        resource: Arc::new(DynamicObject::new(
                            &key,
                            &Kind::ScaledObject.resource(),
                        )),
                        key,
                        deleting: false,
                    });
                }
                continue;
            };
            if resource.metadata.deletion_timestamp.is_some() {
                let ours = resource
                    .metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == crate::kube::FINALIZER);
                if self.seen.remove(&key).is_some() || ours {
                    out.push(ClusterChange::Remove {
                        key,
                        resource,
                        deleting: ours,
                    });
                }
                continue;
            }
            let text = self.manifests(&resource);
            let conflicts = self.hpas_on_target(&resource);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut h);
            conflicts.hash(&mut h);
            let hash = h.finish();
            if self.seen.get(&key) == Some(&hash) {
                continue;
            }
            self.seen.insert(key.clone(), hash);
            if !conflicts.is_empty() {
                let t = &resource.data["spec"]["scaleTargetRef"];
                let message = format!(
                    "ScaledObject {key}: spec.scaleTargetRef: {} {}/{} is already scaled by HorizontalPodAutoscaler {}; scalerd does not write a target another autoscaler writes",
                    t["kind"].as_str().unwrap_or("Deployment"),
                    resource.metadata.namespace.as_deref().unwrap_or_default(),
                    t["name"].as_str().unwrap_or_default(),
                    conflicts.join(", ")
                );
                out.push(ClusterChange::Invalid {
                    key,
                    resource,
                    message,
                });
                continue;
            }
            out.push(self.validate(key, resource, &text).await);
        }
        out
    }

    /// The HPAs (sorted names) in the object's namespace that scale its target: on kind and
    /// name, and on the API group when the HPA names an `apiVersion`.
    fn hpas_on_target(&self, resource: &DynamicObject) -> Vec<String> {
        let t = &resource.data["spec"]["scaleTargetRef"];
        let kind = t["kind"].as_str().unwrap_or("Deployment");
        let name = t["name"].as_str().unwrap_or_default();
        let group = |v: &str| v.rsplit_once('/').map_or("", |(g, _)| g).to_owned();
        let wanted = group(t["apiVersion"].as_str().unwrap_or("apps/v1"));
        let mut names: Vec<String> = self
            .hpas
            .iter()
            .flat_map(Store::state)
            .filter(|h| h.metadata.namespace == resource.metadata.namespace)
            .filter(|h| {
                let r = &h.data["spec"]["scaleTargetRef"];
                r["kind"] == kind
                    && r["name"] == name
                    && r["apiVersion"].as_str().is_none_or(|v| group(v) == wanted)
            })
            .filter_map(|h| h.metadata.name.clone())
            .collect();
        names.sort();
        names
    }

    /// The object and the authentications it refers to, as KEDA manifests (JSON documents).
    fn manifests(&self, resource: &DynamicObject) -> String {
        let mut docs = vec![manifest(resource, "ScaledObject")];
        let ns = resource.metadata.namespace.clone();
        for (kind, name) in auth_refs(resource) {
            let found = if kind == "ClusterTriggerAuthentication" {
                self.cluster_auths
                    .state()
                    .into_iter()
                    .find(|a| a.metadata.name.as_deref() == Some(&name))
            } else {
                self.auths.iter().find_map(|s| {
                    s.state().into_iter().find(|a| {
                        a.metadata.name.as_deref() == Some(&name) && a.metadata.namespace == ns
                    })
                })
            };
            if let Some(a) = found {
                docs.push(manifest(&a, kind));
            }
        }
        docs.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    async fn validate(
        &self,
        key: String,
        resource: Arc<DynamicObject>,
        text: &str,
    ) -> ClusterChange {
        let file = format!("ScaledObject {key}");
        let invalid = |message: String| ClusterChange::Invalid {
            key: key.clone(),
            resource: resource.clone(),
            message,
        };
        let config = match scalers_core::config::load_str(text, &file) {
            Ok(c) => c,
            Err(e) => return invalid(e.to_string()),
        };
        let wanted = env_containers(&config);
        // The target's pod template is read only for objects that read its environment: at
        // start, reading it for every object cost a discovery and a GET each (10,000 objects:
        // 20,000 requests before the last loop started, within the rate limit).
        let reads_env = !wanted.is_empty()
            || config
                .scaled_objects
                .iter()
                .flat_map(|o| &o.triggers)
                .any(crate::daemon::credentials::reads_env);
        let env = if reads_env {
            let ns = resource.metadata.namespace.clone().unwrap_or_default();
            let t = &resource.data["spec"]["scaleTargetRef"];
            match target_env(&self.client, &ns, t, &wanted, None).await {
                Ok(env) => Some(Arc::new(env)),
                Err(e) => return invalid(format!("{file}: spec.scaleTargetRef: {e}")),
            }
        } else {
            None
        };
        let loaded = crate::daemon::credentials::load_cluster(
            &config,
            &file,
            &self.registry,
            &self.client,
            &self.own_namespace,
            env.as_deref(),
        )
        .await
        .map(|(validated, fingerprints)| (validated.objects, fingerprints));
        match loaded {
            Ok((mut objects, fingerprints)) if objects.len() == 1 => ClusterChange::Apply {
                object: Box::new(objects.remove(0)),
                resource,
                config: Box::new(config),
                fingerprints,
                env,
            },
            Ok(_) => invalid(format!("{file}: not one scaled object")),
            Err(e) => invalid(e.to_string()),
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::ScaledObject => "ScaledObject",
        Kind::TriggerAuthentication => "TriggerAuthentication",
        Kind::ClusterTriggerAuthentication => "ClusterTriggerAuthentication",
        Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
    }
}

/// `namespace/name` of a ScaledObject.
pub fn key_of(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        o.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The authentications a ScaledObject's or ScaledJob's triggers refer to: (kind, name).
pub(super) fn auth_refs(o: &DynamicObject) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for t in o.data["spec"]["triggers"].as_array().into_iter().flatten() {
        let r = &t["authenticationRef"];
        if let Some(name) = r["name"].as_str() {
            let kind = match r["kind"].as_str() {
                Some("ClusterTriggerAuthentication") => "ClusterTriggerAuthentication",
                _ => "TriggerAuthentication",
            };
            if !out.iter().any(|(k, n)| *k == kind && n == name) {
                out.push((kind, name.to_owned()));
            }
        }
    }
    out
}

/// What the loader reads of a resource: apiVersion, kind, name, namespace, annotations, spec.
fn manifest(o: &DynamicObject, kind: &str) -> Value {
    let mut metadata = json!({"name": o.metadata.name});
    if let Some(ns) = &o.metadata.namespace {
        metadata["namespace"] = json!(ns);
    }
    if let Some(a) = &o.metadata.annotations {
        metadata["annotations"] = json!(a);
    }
    json!({
        "apiVersion": KEDA_API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": o.data.get("spec").cloned().unwrap_or(Value::Null),
    })
}

/// A reflector of `kind` in `namespace` (all with `None`), fed by a task of its own that tells
/// `tx` what changed.
fn watch(
    client: &kube::Client,
    kind: Kind,
    namespace: Option<&str>,
    tx: mpsc::UnboundedSender<Notice>,
) -> Store<DynamicObject> {
    let resource = kind.resource();
    let api: Api<DynamicObject> = match (kind, namespace) {
        (Kind::ClusterTriggerAuthentication, _) | (_, None) => {
            Api::all_with(client.clone(), &resource)
        }
        (_, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
    };
    let writer = reflector::store::Writer::new(resource);
    let store = writer.as_reader();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let notice = match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => Notice::Changed(
                    kind,
                    o.metadata.namespace.clone(),
                    o.metadata.name.clone().unwrap_or_default(),
                ),
                Ok(watcher::Event::InitDone) => Notice::Listed(kind),
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
                Err(e) => {
                    warn!(kind = kind_name(kind), error = %e, "watch failed; retrying");
                    continue;
                }
            };
            if tx.send(notice).is_err() {
                return;
            }
        }
    });
    store
}

/// How long reading a target's environment may take, per call.
const ENV_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The environments of `resource`'s target's containers that KEDA reads: for `*FromEnv`
/// parameters, the container named by `scaleTargetRef.envSourceContainerName`, else the first
/// of the pod template ([`TargetEnv::main`]); for TriggerAuthentication `env` sources, the
/// containers in `wanted` (by name, `""` for the first; [`TargetEnv::containers`]). Each is
/// `envFrom` first (ConfigMaps and Secrets, with their `prefix`), then `env` in order,
/// overriding: literal values (with `$(VAR)` expanded from the variables before, `$$` for a
/// `$`), `valueFrom.secretKeyRef` and `valueFrom.configMapKeyRef` read in the object's
/// namespace (a missing key reads as empty, as in KEDA); `fieldRef` and `resourceFieldRef` are
/// skipped. A target that cannot be found has no environment (its loop reports the missing
/// target).
///
/// # Errors
/// A named container that the template does not have, a ConfigMap or Secret that is missing
/// and not `optional`, or a failed read.
pub(crate) async fn target_env(
    client: &kube::Client,
    ns: &str,
    t: &Value,
    wanted: &BTreeSet<String>,
    known: Option<(&TargetEnv, u64)>,
) -> Result<TargetEnv, String> {
    let kind = t["kind"].as_str().unwrap_or("Deployment");
    let name = t["name"].as_str().unwrap_or_default();
    let mut out = TargetEnv {
        target: format!("{kind} {ns}/{name}"),
        namespace: ns.to_owned(),
        target_ref: t.clone(),
        wanted: wanted.clone(),
        ..TargetEnv::default()
    };
    // The workload watch saw the same containers as last time: no need to read them again.
    match known {
        Some((k, hash)) if k.template_hash == Some(hash) && k.target_ref == *t => {
            out.template = k.template.clone();
            out.template_hash = k.template_hash;
        }
        _ => match target_containers(client, ns, t).await? {
            Some((containers, hash)) => {
                out.template = containers;
                out.template_hash = Some(hash);
            }
            None => return Ok(out),
        },
    }
    let main = t["envSourceContainerName"].as_str();
    if !fill_env(client, &mut out, main).await? {
        return Err(format!(
            "envSourceContainerName: {kind} {ns}/{name} has no container {:?}",
            main.unwrap_or_default()
        ));
    }
    Ok(out)
}

/// Fills `out`'s environments from its pod template's containers (`out.template`), read in
/// `out.namespace`: [`TargetEnv::main`] from the container named `main`, else the first, and
/// [`TargetEnv::containers`] for the containers in `out.wanted`. Scaled objects read their
/// target's template ([`target_env`]), scaled jobs their own `jobTargetRef.template`.
/// `Ok(false)` when the template has no container named `main`.
///
/// # Errors
/// A ConfigMap or Secret that is missing and not `optional`, or a failed read.
pub(crate) async fn fill_env(
    client: &kube::Client,
    out: &mut TargetEnv,
    main: Option<&str>,
) -> Result<bool, String> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let ns = out.namespace.as_str();
    let containers = &out.template;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let main = match main {
        Some(wanted) => match containers.iter().find(|c| c["name"] == wanted) {
            Some(c) => Some(c),
            None => return Ok(false),
        },
        None => containers.first(),
    };
    let mut envs = BTreeMap::new();
    let main_env = match main {
        Some(c) => container_env(&secrets, &maps, ns, c).await?,
        None => BTreeMap::new(),
    };
    let first = containers
        .first()
        .and_then(|c| c["name"].as_str())
        .map(str::to_owned);
    for w in &out.wanted {
        let c = if w.is_empty() {
            containers.first()
        } else {
            containers.iter().find(|c| c["name"] == w.as_str())
        };
        if let Some(c) = c {
            envs.insert(w.clone(), container_env(&secrets, &maps, ns, c).await?);
        }
    }
    out.main = main_env;
    out.containers = envs;
    out.first = first;
    Ok(true)
}

/// The containers the `env` sources of `config`'s authentications name (`""`: the first).
pub(crate) fn env_containers(config: &Config) -> BTreeSet<String> {
    config
        .authentications
        .iter()
        .flat_map(|a| &a.parameters)
        .filter_map(|p| match &p.source {
            AuthSource::Env { container, .. } => Some(container.clone().unwrap_or_default()),
            _ => None,
        })
        .collect()
}

/// The containers of the pod template of workload `t` in `ns`, and their
/// [`containers_hash`](crate::kube::containers_hash); none when the target cannot be found or
/// has no pod template.
async fn target_containers(
    client: &kube::Client,
    ns: &str,
    t: &Value,
) -> Result<Option<(Vec<Value>, u64)>, String> {
    let api_version = t["apiVersion"].as_str().unwrap_or("apps/v1");
    let kind = t["kind"].as_str().unwrap_or("Deployment");
    let name = t["name"].as_str().unwrap_or_default();
    let Ok(gv) = api_version.parse::<kube::core::GroupVersion>() else {
        return Ok(None);
    };
    let found = tokio::time::timeout(
        ENV_TIMEOUT,
        kube::discovery::pinned_kind(client, &gv.with_kind(kind)),
    )
    .await;
    let Ok(Ok((api_resource, _))) = found else {
        return Ok(None);
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &api_resource);
    let workload = match tokio::time::timeout(ENV_TIMEOUT, api.get_opt(name)).await {
        Ok(Ok(Some(w))) => w,
        Ok(Ok(None)) => return Ok(None),
        Ok(Err(e)) => {
            return Err(format!(
                "cannot read {kind} {ns}/{name} for its environment: {e}"
            ));
        }
        Err(_) => {
            return Err(format!(
                "cannot read {kind} {ns}/{name} for its environment: timed out"
            ));
        }
    };
    let hash = crate::kube::containers_hash(&workload.data);
    Ok(workload.data["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|c| (c.clone(), hash)))
}

/// The environment of one container of a pod template (see [`target_env`]).
async fn container_env(
    secrets: &Api<k8s_openapi::api::core::v1::Secret>,
    maps: &Api<k8s_openapi::api::core::v1::ConfigMap>,
    ns: &str,
    container: &Value,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    let optional = |v: &Value| v["optional"].as_bool().unwrap_or(false);
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        let (data, what, r) = if let Some(n) = from["configMapRef"]["name"].as_str() {
            (
                config_map(maps, ns, n).await?,
                "ConfigMap",
                &from["configMapRef"],
            )
        } else if let Some(n) = from["secretRef"]["name"].as_str() {
            (secret(secrets, ns, n).await?, "Secret", &from["secretRef"])
        } else {
            continue;
        };
        match data {
            Some(data) => {
                for (k, v) in data {
                    env.insert(format!("{prefix}{k}"), v);
                }
            }
            None if optional(r) => {}
            None => {
                return Err(format!(
                    "envFrom: {what} {ns}/{} not found",
                    r["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(var) = e["name"].as_str() else {
            continue;
        };
        let value = if let Some(v) = e["value"].as_str() {
            Some(expand(v, &env))
        } else if let Some(r) = e["valueFrom"].get("secretKeyRef") {
            let n = r["name"].as_str().unwrap_or_default().to_owned();
            match secret(secrets, ns, &n).await? {
                Some(data) => Some(
                    data.get(r["key"].as_str().unwrap_or_default())
                        .cloned()
                        .unwrap_or_default(),
                ),
                None if optional(r) => None,
                None => return Err(format!("env {var}: Secret {ns}/{n} not found")),
            }
        } else if let Some(r) = e["valueFrom"].get("configMapKeyRef") {
            let n = r["name"].as_str().unwrap_or_default().to_owned();
            match config_map(maps, ns, &n).await? {
                Some(data) => Some(
                    data.get(r["key"].as_str().unwrap_or_default())
                        .cloned()
                        .unwrap_or_default(),
                ),
                None if optional(r) => None,
                None => return Err(format!("env {var}: ConfigMap {ns}/{n} not found")),
            }
        } else {
            None
        };
        if let Some(value) = value {
            env.insert(var.to_owned(), value);
        }
    }
    Ok(env)
}

/// The data of Secret `ns/name` (none if it does not exist), values decoded as text.
async fn secret(
    api: &Api<k8s_openapi::api::core::v1::Secret>,
    ns: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    match tokio::time::timeout(ENV_TIMEOUT, api.get_opt(name)).await {
        Ok(Ok(s)) => Ok(s.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect()
        })),
        Ok(Err(e)) => Err(format!("cannot read Secret {ns}/{name}: {e}")),
        Err(_) => Err(format!("cannot read Secret {ns}/{name}: timed out")),
    }
}

/// The data of ConfigMap `ns/name` (none if it does not exist).
async fn config_map(
    api: &Api<k8s_openapi::api::core::v1::ConfigMap>,
    ns: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    match tokio::time::timeout(ENV_TIMEOUT, api.get_opt(name)).await {
        Ok(Ok(m)) => Ok(m.map(|m| m.data.unwrap_or_default())),
        Ok(Err(e)) => Err(format!("cannot read ConfigMap {ns}/{name}: {e}")),
        Err(_) => Err(format!("cannot read ConfigMap {ns}/{name}: timed out")),
    }
}

/// A container's literal env value with `$(VAR)` replaced by the variables defined before it
/// (left as written when undefined) and `$$` by `$`, as the kubelet expands it.
fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_expand_like_the_kubelet() {
        let env: BTreeMap<String, String> = [("HOST".to_owned(), "redis".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(expand("$(HOST):6379", &env), "redis:6379");
        assert_eq!(expand("$(MISSING)/x", &env), "$(MISSING)/x");
        assert_eq!(expand("cost $$5 $x", &env), "cost $5 $x");
        assert_eq!(expand("plain", &env), "plain");
    }
}
