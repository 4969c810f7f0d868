//! Replica counts of workloads from watches: one watch per workload kind in use, so that a
//! tick reads memory instead of sending two GETs.
//!
//! A [`WorkloadWatches`] starts the watch of a kind the first time a target of that kind is
//! read (list, then watch from the list's `resourceVersion`, re-list after 410 Gone, as
//! kube-runtime's watcher does), in every namespace or in each of the namespaces it was given.
//! Of each object it keeps three numbers, not the object: `spec.replicas`, `status.replicas`
//! and `status.readyReplicas` (for a custom resource, the replica paths its
//! CustomResourceDefinition declares for the `scale` subresource).
//!
//! A read is answered from the watch only while it is in sync: after its first complete list,
//! and until a watch error (then until the next complete list). Otherwise, and for a kind that
//! cannot be watched (the list is forbidden, or a custom resource whose definition cannot be
//! read), [`KubeScaleTarget`](super::KubeScaleTarget) reads `/scale` as before, at the object's
//! polling interval and within the client's rate limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use scalers_core::engine::Replicas;
use serde_json::Value;
use tracing::{info, warn};

/// Where a kind keeps its replica counts: JSON paths as a CustomResourceDefinition's `scale`
/// subresource declares them (`.spec.replicas`), split into keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ReplicaPaths {
    spec: Vec<String>,
    status: Vec<String>,
}

impl ReplicaPaths {
    /// `.spec.replicas` and `.status.replicas`: the built-in workloads.
    pub(super) fn standard() -> Self {
        ReplicaPaths {
            spec: vec!["spec".into(), "replicas".into()],
            status: vec!["status".into(), "replicas".into()],
        }
    }

    /// The paths of a CRD's `specReplicasPath` and `statusReplicasPath` (`.spec.replicas`);
    /// `None` unless both are simple dotted paths.
    pub(super) fn from_crd(spec: &str, status: &str) -> Option<Self> {
        let split = |p: &str| -> Option<Vec<String>> {
            let keys: Vec<String> = p.strip_prefix('.')?.split('.').map(str::to_owned).collect();
            (!keys.iter().any(String::is_empty)).then_some(keys)
        };
        Some(ReplicaPaths {
            spec: split(spec)?,
            status: split(status)?,
        })
    }
}

/// The numbers kept of one workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    spec: Option<u32>,
    status: Option<u32>,
    ready: Option<u32>,
    /// [`containers_hash`] of the object: tells a change of its pod template's containers
    /// (their environment) without keeping them.
    containers: u64,
}

/// A hash of `spec.template.spec.containers` of a workload (as the API serves it), to tell
/// whether the containers, and so the environment `*FromEnv` parameters read, changed.
pub(crate) fn containers_hash(object: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    object["spec"]["template"]["spec"]["containers"]
        .to_string()
        .hash(&mut h);
    h.finish()
}

impl Counts {
    fn of(object: &Value, paths: &ReplicaPaths) -> Self {
        let at = |keys: &[String]| {
            keys.iter()
                .try_fold(object, |v, k| v.get(k))
                .and_then(Value::as_u64)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        Counts {
            spec: at(&paths.spec),
            status: at(&paths.status),
            ready: object["status"]["readyReplicas"]
                .as_u64()
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            containers: containers_hash(object),
        }
    }

    /// As [`KubeScaleTarget::read`](super::KubeScaleTarget::read) reports them from `/scale`
    /// and the object.
    fn replicas(self, ready_omitted_when_zero: bool) -> Replicas {
        let status = self.status.unwrap_or(0);
        Replicas {
            current: self.spec.unwrap_or(0),
            status,
            ready: match self.ready {
                Some(n) => n,
                None if ready_omitted_when_zero => 0,
                None => status,
            },
        }
    }
}

/// `(namespace, name)`.
type Name = (String, String);

#[derive(Debug, Default)]
struct KindState {
    /// Whether `counts` is a complete, current view.
    synced: bool,
    counts: HashMap<Name, Counts>,
    /// The objects of a list in progress, swapped in when it completes.
    relisting: Option<HashMap<Name, Counts>>,
    /// Set when the kind cannot be watched: reads go to `/scale`.
    unwatchable: bool,
    /// Set when the watch was refused (403): a watch of all namespaces then gives way to one
    /// per namespace in use (RBAC may grant a Role in each instead of a ClusterRole).
    forbidden: bool,
}

/// The watch of one kind, and what it saw.
#[derive(Debug)]
struct KindWatch {
    state: Mutex<KindState>,
    /// Becomes true once the first list completed, or the watch failed or was refused: reads
    /// wait for it (within their timeout) rather than each sending a GET while the list is
    /// under way, which at start would cost two GETs per object.
    settled: tokio::sync::watch::Sender<bool>,
}

impl Default for KindWatch {
    fn default() -> Self {
        KindWatch {
            state: Mutex::default(),
            settled: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl KindWatch {
    fn settle(&self) {
        self.settled.send_replace(true);
    }

    /// Waits, at most `wait`, until the watch has settled (see `settled`).
    async fn settled_within(&self, wait: std::time::Duration) {
        let mut settled = self.settled.subscribe();
        let _ = tokio::time::timeout(wait, settled.wait_for(|s| *s)).await;
    }

    fn lock(&self) -> MutexGuard<'_, KindState> {
        // Every update is a whole insert or swap; a panic elsewhere leaves it consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, event: watcher::Event<DynamicObject>, paths: &ReplicaPaths) {
        let name = |o: &DynamicObject| -> Name {
            (
                o.metadata.namespace.clone().unwrap_or_default(),
                o.metadata.name.clone().unwrap_or_default(),
            )
        };
        let mut s = self.lock();
        match event {
            watcher::Event::Init => s.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(o) => {
                let counts = Counts::of(&o.data, paths);
                s.relisting
                    .get_or_insert_with(HashMap::new)
                    .insert(name(&o), counts);
            }
            watcher::Event::InitDone => {
                if let Some(listed) = s.relisting.take() {
                    s.counts = listed;
                }
                s.synced = true;
                drop(s);
                self.settle();
            }
            watcher::Event::Apply(o) => {
                let counts = Counts::of(&o.data, paths);
                s.counts.insert(name(&o), counts);
            }
            watcher::Event::Delete(o) => {
                s.counts.remove(&name(&o));
            }
        }
    }
}

/// The watches by group, plural and namespace (`None`: all namespaces).
type Kinds = HashMap<(String, String, Option<String>), Arc<KindWatch>>;

/// The watches of the workload kinds in use, shared by every target of one client.
#[derive(Clone)]
pub struct WorkloadWatches {
    client: kube::Client,
    /// Watched in each of these namespaces; in all of them when empty.
    namespaces: Arc<Vec<String>>,
    kinds: Arc<Mutex<Kinds>>,
    /// The watch tasks, stopped when the last clone is dropped.
    tasks: Arc<Tasks>,
}

/// Abort handles of the watch tasks; aborts them all when dropped.
#[derive(Debug, Default)]
struct Tasks(Mutex<Vec<tokio::task::AbortHandle>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self
            .0
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for WorkloadWatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadWatches")
            .field("namespaces", &self.namespaces)
            .finish_non_exhaustive()
    }
}

impl WorkloadWatches {
    /// Watches on `client`, in `namespaces` (every namespace when empty); nothing is
    /// watched until a target is read.
    pub fn new(client: kube::Client, namespaces: Vec<String>) -> Self {
        WorkloadWatches {
            client,
            namespaces: Arc::new(namespaces),
            kinds: Arc::default(),
            tasks: Arc::default(),
        }
    }

    /// The namespace scope that covers `namespace`: `Some(None)` for a watch of all
    /// namespaces, `None` when `namespace` is not watched.
    fn scope(&self, namespace: &str) -> Option<Option<String>> {
        if self.namespaces.is_empty() {
            Some(None)
        } else {
            self.namespaces
                .iter()
                .any(|n| n == namespace)
                .then(|| Some(namespace.to_owned()))
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kinds> {
        self.kinds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The watch of `resource` in `scope`, started on first use.
    fn kind(
        &self,
        resource: &ApiResource,
        paths: Option<&ReplicaPaths>,
        scope: Option<String>,
    ) -> Arc<KindWatch> {
        let key = (
            resource.group.clone(),
            resource.plural.clone(),
            scope.clone(),
        );
        let mut kinds = self.lock();
        if let Some(k) = kinds.get(&key) {
            return k.clone();
        }
        let kind = Arc::new(KindWatch::default());
        kinds.insert(key, kind.clone());
        drop(kinds);
        match paths {
            Some(paths) => self.spawn(resource, paths.clone(), scope, kind.clone()),
            None => {
                info!(
                    resource = %resource.plural,
                    group = %resource.group,
                    "the replica paths of this kind are unknown (its CustomResourceDefinition cannot be read): reading /scale each poll"
                );
                kind.lock().set_unwatchable();
                kind.settle();
            }
        }
        kind
    }

    fn spawn(
        &self,
        resource: &ApiResource,
        paths: ReplicaPaths,
        scope: Option<String>,
        kind: Arc<KindWatch>,
    ) {
        let api: Api<DynamicObject> = match &scope {
            None => Api::all_with(self.client.clone(), resource),
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
        };
        let plural = resource.plural.clone();
        // The list is served from the API server's watch cache (resourceVersion=0), not etcd.
        let stream = watcher(api, watcher::Config::default().any_semantic()).default_backoff();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(event) => kind.apply(event, &paths),
                    Err(e) => {
                        let forbidden = matches!(
                            &e,
                            watcher::Error::InitialListFailed(kube::Error::Api(s))
                                | watcher::Error::WatchStartFailed(kube::Error::Api(s))
                                if s.code == 403
                        );
                        if forbidden {
                            if scope.is_none() {
                                info!(resource = %plural, error = %e, "cannot watch workloads in all namespaces: watching each namespace in use");
                            } else {
                                warn!(resource = %plural, namespace = ?scope, error = %e, "cannot watch workloads: reading /scale each poll");
                            }
                            let mut s = kind.lock();
                            s.set_unwatchable();
                            s.forbidden = true;
                            drop(s);
                            kind.settle();
                            return;
                        }
                        kind.lock().synced = false;
                        kind.settle();
                        warn!(resource = %plural, namespace = ?scope, error = %e, "workload watch failed; reading /scale until it is listed again");
                    }
                }
            }
        });
        let mut tasks = self.tasks.0.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
    }

    /// The watch that covers `namespace` for `resource`: of all namespaces, unless that was
    /// refused, then of `namespace`; `None` when `namespace` is not watched.
    fn watch_of(
        &self,
        resource: &ApiResource,
        paths: Option<&ReplicaPaths>,
        namespace: &str,
    ) -> Option<Arc<KindWatch>> {
        let scope = self.scope(namespace)?;
        let all = scope.is_none();
        let kind = self.kind(resource, paths, scope);
        if all && kind.lock().forbidden {
            return Some(self.kind(resource, paths, Some(namespace.to_owned())));
        }
        Some(kind)
    }

    /// The counts of `namespace/name` of `resource`, from its watch (started now if new);
    /// `paths` is `None` for a kind whose replica paths are unknown (never watched). While
    /// the watch's first list is under way, waits for it up to `wait`. `None` when the watch
    /// cannot answer (not in sync, not watchable, or it has not seen the workload): then
    /// `/scale` is read, since only the API's 404 proves a workload missing.
    pub(super) async fn read(
        &self,
        resource: &ApiResource,
        paths: Option<&ReplicaPaths>,
        ready_omitted_when_zero: bool,
        namespace: &str,
        name: &str,
        wait: std::time::Duration,
    ) -> Option<Replicas> {
        let first = self.watch_of(resource, paths, namespace)?;
        first.settled_within(wait).await;
        // A watch of all namespaces refused meanwhile gives way to the namespace's own.
        let kind = self.watch_of(resource, paths, namespace)?;
        kind.settled_within(wait).await;
        let s = kind.lock();
        if !s.synced || s.unwatchable {
            return None;
        }
        let counts = s.counts.get(&(namespace.to_owned(), name.to_owned()))?;
        Some(counts.replicas(ready_omitted_when_zero))
    }

    /// The [`containers_hash`] of `namespace/name` of `resource` from its watch, without
    /// waiting and without starting one; `None` when the watch cannot answer (not started,
    /// not in sync, or it has not seen the workload).
    pub(super) fn containers(
        &self,
        resource: &ApiResource,
        paths: Option<&ReplicaPaths>,
        namespace: &str,
        name: &str,
    ) -> Option<u64> {
        let scope = self.scope(namespace)?;
        let key = (resource.group.clone(), resource.plural.clone(), scope);
        let mut kind = self.lock().get(&key).cloned()?;
        if kind.lock().forbidden {
            kind = self.watch_of(resource, paths, namespace)?;
        }
        let s = kind.lock();
        if !s.synced || s.unwatchable {
            return None;
        }
        s.counts
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|c| c.containers)
    }

    /// Records a successful write of `spec.replicas`, so that the next read sees it before
    /// the watch delivers it.
    pub(super) fn wrote(
        &self,
        resource: &ApiResource,
        paths: Option<&ReplicaPaths>,
        namespace: &str,
        name: &str,
        replicas: u32,
    ) {
        if let Some(kind) = self.watch_of(resource, paths, namespace) {
            let mut s = kind.lock();
            if let Some(c) = s.counts.get_mut(&(namespace.to_owned(), name.to_owned())) {
                c.spec = Some(replicas);
            }
        }
    }
}

impl KindState {
    fn set_unwatchable(&mut self) {
        self.unwatchable = true;
        self.synced = false;
        self.counts.clear();
        self.relisting = None;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_come_from_the_declared_paths() {
        let o = json!({"spec": {"size": 4}, "status": {"current": 3, "readyReplicas": 2}});
        let paths = ReplicaPaths::from_crd(".spec.size", ".status.current").unwrap();
        let c = Counts::of(&o, &paths);
        assert_eq!(
            c.replicas(false),
            Replicas {
                current: 4,
                status: 3,
                ready: 2
            }
        );
    }

    #[test]
    fn an_absent_ready_count_is_zero_or_the_existing_pods_as_the_kind_says() {
        let o = json!({"spec": {"replicas": 5}, "status": {"replicas": 5}});
        let c = Counts::of(&o, &ReplicaPaths::standard());
        assert_eq!(c.replicas(true).ready, 0);
        assert_eq!(c.replicas(false).ready, 5);
    }

    #[test]
    fn paths_other_than_simple_dotted_ones_are_refused() {
        assert_eq!(
            ReplicaPaths::from_crd("spec.replicas", ".status.replicas"),
            None
        );
        assert_eq!(
            ReplicaPaths::from_crd(".spec..replicas", ".status.replicas"),
            None
        );
        assert_eq!(
            ReplicaPaths::from_crd(".spec.replicas", ".status.replicas"),
            Some(ReplicaPaths::standard())
        );
    }
}
