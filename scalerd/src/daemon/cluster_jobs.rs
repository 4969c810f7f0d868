//! Cluster mode for scaled jobs: KEDA's `keda.sh/v1alpha1` ScaledJob resources, watched with
//! kube-runtime's watcher (list, then watch from the resourceVersion, a new list after 410
//! Gone, with kube-runtime's backoff), each one validated as `scalerd check` would and run by
//! the [`JobLoops`].
//!
//! A ScaledJob goes through the path of a scaled job from a file: it is given to the loader as
//! a KEDA manifest, with the TriggerAuthentications and ClusterTriggerAuthentications its
//! triggers refer to (read when the ScaledJob changes), and with the environment of its Job
//! template's container for `*FromEnv` parameters and `env` sources, as KEDA reads them (the
//! one named by `envSourceContainerName`, else the first). An invalid one gets `Ready=False`
//! (`ScaledJobCheckFailed`, with what `scalerd check` prints) and an Event; if it was valid
//! before, its loop keeps the last valid version. Its Jobs carry an owner reference to it, so
//! the garbage collector deletes them with it.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use scalers_core::config::model::{ScaleTargetRef, ScaledObject};
use scalers_core::trigger::Registry;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::daemon::cluster::{KEDA_API_VERSION, auth_refs};
use crate::daemon::credentials::{ConfigCredentials, TargetEnv};
use crate::daemon::events::{Event, EventSink};
use crate::daemon::jobs::{ClusterJob, JobLoops};

/// What a watch task reports.
enum Notice {
    /// A ScaledJob exists now, as served.
    Applied(Arc<DynamicObject>),
    /// A ScaledJob is gone.
    Deleted(String),
    /// A (re)list ended: these are all the ScaledJobs of the scope.
    Listed(Vec<String>, Option<String>),
}

/// The cluster's ScaledJobs feeding `loops`, until the returned sender says stop.
///
/// `namespaces`: the namespaces watched (every namespace when empty); Secrets of
/// ClusterTriggerAuthentications are read from `own_namespace`.
pub fn spawn(
    client: kube::Client,
    namespaces: &[String],
    registry: Arc<Registry>,
    own_namespace: String,
    loops: JobLoops,
    events: Arc<dyn EventSink>,
    credentials: Arc<ConfigCredentials>,
) -> (watch::Sender<bool>, JoinHandle<()>) {
    let (tx, mut notices) = mpsc::unbounded_channel();
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().cloned().map(Some).collect()
    };
    let watches: Vec<JoinHandle<()>> = scopes
        .iter()
        .map(|ns| watch_scope(&client, ns.as_deref(), tx.clone()))
        .collect();
    let (stop, mut stop_rx) = watch::channel(false);
    let source = Source {
        client,
        registry,
        own_namespace,
        loops,
        events,
        credentials,
        seen: BTreeMap::new(),
    };
    let task = tokio::spawn(async move {
        let mut source = source;
        loop {
            tokio::select! {
                _ = stop_rx.changed() => break,
                notice = notices.recv() => match notice {
                    Some(n) => source.handle(n).await,
                    None => break,
                },
            }
        }
        for w in watches {
            w.abort();
        }
    });
    (stop, task)
}

/// The ScaledJobs seen, and where they go.
struct Source {
    client: kube::Client,
    registry: Arc<Registry>,
    own_namespace: String,
    loops: JobLoops,
    events: Arc<dyn EventSink>,
    /// Where its config goes, for its triggers' credentials to be read again.
    credentials: Arc<ConfigCredentials>,
    /// Each known ScaledJob's key and a hash of what it was last validated from.
    seen: BTreeMap<String, u64>,
}

impl Source {
    async fn handle(&mut self, notice: Notice) {
        match notice {
            Notice::Applied(o) => self.applied(o).await,
            Notice::Deleted(key) => {
                if self.seen.remove(&key).is_some() {
                    info!(scaled_job = %key, "ScaledJob deleted: stopping");
                }
                self.loops.remove(&key).await;
                self.credentials.remove_job(&key);
            }
            Notice::Listed(keys, scope) => {
                let gone: Vec<String> = self
                    .seen
                    .keys()
                    .filter(|k| {
                        scope
                            .as_deref()
                            .is_none_or(|ns| k.split_once('/').is_some_and(|(n, _)| n == ns))
                            && !keys.contains(k)
                    })
                    .cloned()
                    .collect();
                for key in gone {
                    self.seen.remove(&key);
                    self.loops.remove(&key).await;
                    self.credentials.remove_job(&key);
                }
            }
        }
    }

    /// A ScaledJob as served now: validated and run if what scalerd reads of it changed.
    async fn applied(&mut self, o: Arc<DynamicObject>) {
        let key = key_of(&o);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        manifest(&o).to_string().hash(&mut hasher);
        o.metadata.uid.hash(&mut hasher);
        let hash = hasher.finish();
        if self.seen.get(&key) == Some(&hash) {
            return;
        }
        self.seen.insert(key.clone(), hash);
        let file = format!("ScaledJob {key}");
        let text = self.manifests(&o).await;
        let config = match scalers_core::config::load_str(&text, &file) {
            Ok(config) => config,
            Err(e) => return self.invalid(&o, &e.to_string()).await,
        };
        let wanted = crate::daemon::cluster::env_containers(&config);
        let env = match self.template_env(&o, wanted).await {
            Ok(env) => Arc::new(env),
            Err(message) => return self.invalid(&o, &format!("{file}: {message}")).await,
        };
        let validated = crate::daemon::credentials::load_cluster(
            &config,
            &file,
            &self.registry,
            &self.client,
            &self.own_namespace,
            Some(&env),
        )
        .await
        .map(|(v, fingerprints)| (v, fingerprints, config))
        .map_err(|e| e.to_string());
        match validated {
            Ok((mut v, fingerprints, config)) if v.jobs.len() == 1 => {
                let cluster = ClusterJob {
                    uid: o.metadata.uid.clone().unwrap_or_default(),
                    status: o.data.get("status").cloned().unwrap_or(Value::Null),
                };
                self.credentials
                    .merge(config, fingerprints, Some(env.clone()));
                self.loops.upsert(v.jobs.remove(0), Some(cluster)).await;
            }
            Ok(_) => {
                self.invalid(&o, &format!("{file}: not one scaled job"))
                    .await
            }
            Err(message) => self.invalid(&o, &message).await,
        }
    }

    /// The environments the ScaledJob's triggers read, as KEDA's, from the containers of its
    /// Job template (`spec.jobTargetRef.template`, read from the ScaledJob itself): `*FromEnv`
    /// parameters the one named by `spec.envSourceContainerName`, else the first; `env`
    /// sources the `wanted` ones (their `containerName`, else the first)
    /// ([`crate::daemon::cluster::fill_env`]).
    ///
    /// # Errors
    /// A named container the template does not have, or a ConfigMap or Secret of its
    /// environment that cannot be read (located in the ScaledJob).
    async fn template_env(
        &self,
        o: &DynamicObject,
        wanted: std::collections::BTreeSet<String>,
    ) -> Result<TargetEnv, String> {
        let spec = &o.data["spec"];
        let mut env = TargetEnv {
            target: "spec.jobTargetRef.template".to_owned(),
            namespace: o.metadata.namespace.clone().unwrap_or_default(),
            wanted,
            template: spec["jobTargetRef"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            ..TargetEnv::default()
        };
        let main = spec["envSourceContainerName"].as_str();
        match crate::daemon::cluster::fill_env(&self.client, &mut env, main).await {
            Ok(true) => Ok(env),
            Ok(false) => Err(format!(
                "spec.envSourceContainerName: spec.jobTargetRef.template has no container {:?}",
                main.unwrap_or_default()
            )),
            Err(e) => Err(format!("spec.jobTargetRef.template: {e}")),
        }
    }

    /// Reports an invalid ScaledJob on itself: `Ready=False` and an Event.
    async fn invalid(&self, o: &DynamicObject, message: &str) {
        let key = key_of(o);
        warn!(scaled_job = %key, error = %message, "invalid ScaledJob: no Job is created for it");
        let (ns, name) = (
            o.metadata.namespace.clone().unwrap_or_default(),
            o.metadata.name.clone().unwrap_or_default(),
        );
        let mut subject = ScaledObject::new(&name, &name);
        subject.namespace = ns.clone();
        subject.scale_target_ref = ScaleTargetRef {
            api_version: KEDA_API_VERSION.to_owned(),
            kind: "ScaledJob".to_owned(),
            name: name.clone(),
            env_source_container_name: None,
        };
        self.events.emit(
            &subject,
            &Event::CheckFailed {
                message: message.to_owned(),
            },
        );
        let Some(client) = self.loops.client() else {
            return;
        };
        let now = crate::kube::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        );
        let previous = o.data.get("status").cloned().unwrap_or(Value::Null);
        let status = crate::kube::scaled_job_status(
            [
                ("Ready", "False", "ScaledJobCheckFailed", message.to_owned()),
                (
                    "Active",
                    "Unknown",
                    "UnknownState",
                    "Scaling state is unknown".to_owned(),
                ),
                (
                    "Paused",
                    "False",
                    "ScaledJobUnpaused",
                    "ScaledJob is not paused".to_owned(),
                ),
            ],
            None,
            &previous,
            &now,
        );
        if status["conditions"] != previous["conditions"]
            && let Err(e) = client.write_status(&ns, &name, &status).await
        {
            warn!(scaled_job = %key, error = %e, "cannot write the ScaledJob status");
        }
    }

    /// The ScaledJob and the authentications its triggers refer to, as KEDA manifests.
    async fn manifests(&self, o: &DynamicObject) -> String {
        let mut docs = vec![manifest(o)];
        let ns = o.metadata.namespace.clone().unwrap_or_default();
        for (kind, name) in auth_refs(o) {
            let resource = auth_resource(kind);
            let api: Api<DynamicObject> = if kind == "ClusterTriggerAuthentication" {
                Api::all_with(self.client.clone(), &resource)
            } else {
                Api::namespaced_with(self.client.clone(), &ns, &resource)
            };
            let read =
                tokio::time::timeout(crate::kube::DEFAULT_REQUEST_TIMEOUT, api.get_opt(&name));
            match read.await {
                Ok(Ok(Some(a))) => {
                    let mut metadata = json!({"name": a.metadata.name});
                    if let Some(ns) = &a.metadata.namespace {
                        metadata["namespace"] = json!(ns);
                    }
                    docs.push(json!({
                        "apiVersion": KEDA_API_VERSION, "kind": kind, "metadata": metadata,
                        "spec": a.data.get("spec").cloned().unwrap_or(Value::Null),
                    }));
                }
                // Not there: validation says the reference finds nothing.
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    warn!(kind, name = %name, error = %e, "cannot read an authentication")
                }
                Err(_) => warn!(kind, name = %name, "reading an authentication timed out"),
            }
        }
        docs.iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// `namespace/name` of a ScaledJob.
fn key_of(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        o.metadata.name.as_deref().unwrap_or_default()
    )
}

/// What the loader reads of a ScaledJob: apiVersion, kind, name, namespace, labels,
/// annotations, spec.
fn manifest(o: &DynamicObject) -> Value {
    let mut metadata = json!({"name": o.metadata.name});
    if let Some(ns) = &o.metadata.namespace {
        metadata["namespace"] = json!(ns);
    }
    if let Some(a) = &o.metadata.annotations {
        metadata["annotations"] = json!(a);
    }
    if let Some(l) = &o.metadata.labels {
        metadata["labels"] = json!(l);
    }
    json!({
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledJob",
        "metadata": metadata,
        "spec": o.data.get("spec").cloned().unwrap_or(Value::Null),
    })
}

/// KEDA's authentication resources.
fn auth_resource(kind: &str) -> ApiResource {
    let plural = if kind == "ClusterTriggerAuthentication" {
        "clustertriggerauthentications"
    } else {
        "triggerauthentications"
    };
    ApiResource {
        group: "keda.sh".to_owned(),
        version: "v1alpha1".to_owned(),
        api_version: KEDA_API_VERSION.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

/// A watch of the ScaledJobs of `namespace` (every namespace with `None`), telling `tx`.
fn watch_scope(
    client: &kube::Client,
    namespace: Option<&str>,
    tx: mpsc::UnboundedSender<Notice>,
) -> JoinHandle<()> {
    let resource = crate::kube::scaled_job_resource();
    let api: Api<DynamicObject> = match namespace {
        None => Api::all_with(client.clone(), &resource),
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
    };
    let scope = namespace.map(str::to_owned);
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut listing: Vec<String> = Vec::new();
        while let Some(event) = stream.next().await {
            let notice = match event {
                Ok(watcher::Event::Apply(o)) => Notice::Applied(Arc::new(o)),
                Ok(watcher::Event::InitApply(o)) => {
                    listing.push(key_of(&o));
                    Notice::Applied(Arc::new(o))
                }
                Ok(watcher::Event::Delete(o)) => Notice::Deleted(key_of(&o)),
                Ok(watcher::Event::Init) => {
                    listing.clear();
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    Notice::Listed(std::mem::take(&mut listing), scope.clone())
                }
                Err(e) => {
                    warn!(error = %e, "ScaledJob watch failed; retrying");
                    continue;
                }
            };
            if tx.send(notice).is_err() {
                return;
            }
        }
    })
}
