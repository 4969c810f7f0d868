//! The `/scale` subresource of a workload as a [`ScaleTarget`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::{GroupVersion, GroupVersionKind};
use kube::{Client, discovery};
use scalers_core::config::{ScaleTargetRef, ScaledObject};
use scalers_core::engine::Replicas;
use scalers_core::target::{ScaleTarget, TargetError};
use serde_json::json;
use tokio::sync::OnceCell;
use tracing::info;

use super::error::{call, call_fenced};
use super::workloads::{ReplicaPaths, WorkloadWatches};
use super::{DEFAULT_REQUEST_TIMEOUT, Fence, KubeError, Operation, Priority, RateLimit, qualified};

/// How many times a write of `/scale` is tried when the API answers 409 Conflict.
pub const CONFLICT_ATTEMPTS: u32 = 3;

/// A resolved `apiVersion`/`kind`.
#[derive(Clone, Debug)]
struct Resolved {
    resource: ApiResource,
    /// `plural.group`, for messages.
    qualified: String,
    /// The kind omits `status.readyReplicas` when it is 0 (Go `omitempty`), so an absent
    /// field means none ready rather than "not reported".
    ready_omitted_when_zero: bool,
    /// Where its objects keep their replica counts, when known (built-in kinds, and custom
    /// resources whose definition was read): only such kinds are watched.
    paths: Option<ReplicaPaths>,
}

/// Built-in kinds with a `/scale` subresource, whose replicas are at `.spec.replicas` and
/// `.status.replicas`; for other kinds the paths come from their CustomResourceDefinition.
const BUILT_IN_SCALABLE: [(&str, &str); 4] = [
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "ReplicaSet"),
    ("", "ReplicationController"),
];

/// Kinds whose status has `readyReplicas` with `omitempty`.
const READY_OMITTED_WHEN_ZERO: [(&str, &str); 4] = [
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "ReplicaSet"),
    ("argoproj.io", "Rollout"),
];

/// Discovery results shared by every target of one client, keyed by `(apiVersion, kind)`.
/// Only successes are kept, so a CRD installed later is found on the next try. One discovery
/// per kind is in flight at a time: the targets of a kind that start together wait for its
/// answer instead of each sending their own (30,000 of them at once queued 30,000 discoveries
/// behind the rate limit, and all timed out).
type DiscoveryCache = Mutex<DiscoveryMap>;

/// The cells of [`DiscoveryCache`], by `(apiVersion, kind)`.
type DiscoveryMap = HashMap<(String, String), Arc<OnceCell<Resolved>>>;

/// Builds [`KubeScaleTarget`]s that share one client and one discovery cache.
///
/// # Examples
/// ```no_run
/// # async fn f(client: kube::Client, object: scalers_core::config::ScaledObject) {
/// let targets = scalerd::kube::KubeTargets::new(client);
/// let target = targets.target(&object);
/// let replicas = target.replicas().await;
/// # let _ = replicas; }
/// ```
#[derive(Clone)]
pub struct KubeTargets {
    client: Client,
    cache: Arc<DiscoveryCache>,
    timeout: Duration,
    fence: Fence,
    watches: Option<WorkloadWatches>,
    limit: Option<Arc<RateLimit>>,
}

impl std::fmt::Debug for KubeTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeTargets")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl KubeTargets {
    /// Targets on `client`'s cluster, each API call limited to [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(client: Client) -> Self {
        KubeTargets {
            client,
            cache: Arc::default(),
            timeout: DEFAULT_REQUEST_TIMEOUT,
            fence: Fence::open(),
            watches: None,
            limit: None,
        }
    }

    /// The same, reading replica counts from watches of the workload kinds in use, in
    /// `namespaces` (all when empty), instead of two GETs per read; see [`WorkloadWatches`].
    /// Reading then also needs `list` and `watch` on the workloads' resources, and `get` on
    /// the CustomResourceDefinitions of custom workload kinds (without it, such a kind is
    /// read through `/scale`).
    pub fn with_watches(mut self, namespaces: Vec<String>) -> Self {
        self.watches = Some(WorkloadWatches::new(self.client.clone(), namespaces));
        self
    }

    /// The same, with every write fenced by `fence` (leader election): a write of `/scale` is
    /// sent only while the fence permits it, with the timeout it permits.
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// The same, knowing that `client` is limited by `limit` ([`super::client_with_rate_limit`]):
    /// a write of `/scale` then waits for its token before the fence is asked and before its
    /// timeout starts ([`RateLimit::paid`]), so that a write queued behind thousands of others
    /// in a burst is sent when its turn comes instead of timing out in the queue and being
    /// asked for again at the back of it.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = Some(Arc::new(limit));
        self
    }

    /// The same, with each API call limited to `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The scale target of `object` (its `scaleTargetRef` in its namespace); no I/O.
    pub fn target(&self, object: &ScaledObject) -> Arc<dyn ScaleTarget> {
        Arc::new(self.scale_target(&object.namespace, &object.scale_target_ref))
    }

    /// The workload `target` in `namespace`; no I/O.
    pub fn scale_target(&self, namespace: &str, target: &ScaleTargetRef) -> KubeScaleTarget {
        KubeScaleTarget {
            client: self.client.clone(),
            cache: self.cache.clone(),
            timeout: self.timeout,
            fence: self.fence.clone(),
            watches: self.watches.clone(),
            limit: self.limit.clone(),
            namespace: namespace.to_owned(),
            target: target.clone(),
        }
    }
}

/// A workload's `/scale` subresource.
///
/// On first use it resolves `apiVersion`/`kind` to the plural resource through API discovery
/// (cached). It reads replicas from `/scale` (`spec.replicas` is current, `status.replicas`
/// the pods that exist) and the ready count from the object's own `status.readyReplicas`
/// (the scale subresource has none): for Deployments, StatefulSets, ReplicaSets and Argo
/// Rollouts an absent field means 0, for other kinds it falls back to `status.replicas`.
/// Reading therefore needs `get` on the resource and on its `scale` subresource.
///
/// It writes with a merge patch of `/scale` (`{"spec":{"replicas":N}}`); on 409 Conflict it
/// re-reads `/scale` and, unless the count is already `N`, patches again with the
/// `resourceVersion` it read, up to [`CONFLICT_ATTEMPTS`] attempts in all. Each patch is sent
/// only while the fence of [`KubeTargets::with_fence`] permits it; under the rate limit of
/// [`KubeTargets::with_rate_limit`], it waits for its token before the fence is asked.
pub struct KubeScaleTarget {
    client: Client,
    cache: Arc<DiscoveryCache>,
    timeout: Duration,
    fence: Fence,
    watches: Option<WorkloadWatches>,
    limit: Option<Arc<RateLimit>>,
    namespace: String,
    target: ScaleTargetRef,
}

impl std::fmt::Debug for KubeScaleTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeScaleTarget")
            .field("namespace", &self.namespace)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl KubeScaleTarget {
    /// The workload `target` in `namespace`, with a discovery cache of its own; no I/O.
    /// Prefer [`KubeTargets`] to share the cache between targets.
    pub fn new(client: Client, namespace: &str, target: &ScaleTargetRef) -> Self {
        KubeTargets::new(client).scale_target(namespace, target)
    }

    /// The namespace of the workload.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The workload.
    pub fn target_ref(&self) -> &ScaleTargetRef {
        &self.target
    }

    /// Current, existing and ready replicas.
    ///
    /// # Errors
    /// [`KubeError::UnknownKind`] or [`KubeError::NoScaleSubresource`] when the kind cannot be
    /// scaled, [`KubeError::NotFound`] when the workload is missing, and the other
    /// [`KubeError`]s of a failed call.
    pub async fn read(&self) -> Result<Replicas, KubeError> {
        let resolved = self.resolve().await?;
        if let Some(watches) = &self.watches {
            let cached = watches
                .read(
                    &resolved.resource,
                    resolved.paths.as_ref(),
                    resolved.ready_omitted_when_zero,
                    &self.namespace,
                    &self.target.name,
                    self.timeout,
                )
                .await;
            if let Some(replicas) = cached {
                return Ok(replicas);
            }
        }
        let api = self.api(&resolved);
        let name = &self.target.name;
        // One after the other, so that a failure is always reported for `/scale` first.
        let scale = call(
            || self.operation("get", &resolved).on("scale"),
            self.timeout,
            api.get_scale(name),
        )
        .await?;
        let object = call(
            || self.operation("get", &resolved),
            self.timeout,
            api.get(name),
        )
        .await?;
        let count = |n: Option<i32>| n.map_or(0, |n| u32::try_from(n).unwrap_or(0));
        let current = count(scale.spec.and_then(|s| s.replicas));
        let status = count(scale.status.map(|s| s.replicas));
        let ready = match object.data["status"]["readyReplicas"].as_u64() {
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
            None if resolved.ready_omitted_when_zero => 0,
            None => status,
        };
        Ok(Replicas {
            current,
            status,
            ready,
        })
    }

    /// A hash of the workload's pod template containers from the workload watch, to tell
    /// whether their environment changed without reading the workload; `None` without a
    /// watch that can answer now (then the caller reads the workload).
    pub async fn containers_hash(&self) -> Option<u64> {
        let resolved = self.resolve().await.ok()?;
        self.watches.as_ref()?.containers(
            &resolved.resource,
            resolved.paths.as_ref(),
            &self.namespace,
            &self.target.name,
        )
    }

    /// Sets `spec.replicas` through `/scale`.
    ///
    /// # Errors
    /// [`KubeError::Conflict`] when every attempt met a 409, [`KubeError::TooManyReplicas`]
    /// above `i32::MAX`, [`KubeError::NotLeading`] when the fence did not permit a patch
    /// (nothing more is sent), and the errors of [`KubeScaleTarget::read`].
    pub async fn write(&self, replicas: u32) -> Result<(), KubeError> {
        if i32::try_from(replicas).is_err() {
            return Err(KubeError::TooManyReplicas { replicas });
        }
        let resolved = self.resolve().await?;
        let api = self.api(&resolved);
        let name = &self.target.name;
        let mut patch = json!({"spec": {"replicas": replicas}});
        let mut attempt = 1;
        loop {
            let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
            let sent = call_fenced(
                &self.fence,
                || self.operation("patch", &resolved).on("scale"),
                self.timeout,
                api.patch_scale(name, &params, &merge),
            );
            // The token first, then the fence and the timeout (see `with_rate_limit`).
            let written = match &self.limit {
                Some(limit) => limit.paid(Priority::Scale, sent).await,
                None => sent.await,
            };
            match written {
                Ok(_) => {
                    self.remember_write(&resolved, replicas);
                    return Ok(());
                }
                Err(KubeError::Conflict {
                    operation, source, ..
                }) if attempt >= CONFLICT_ATTEMPTS => {
                    return Err(KubeError::Conflict {
                        operation,
                        attempts: attempt,
                        source,
                    });
                }
                Err(e) if e.is_conflict() => {
                    attempt += 1;
                    let scale = call(
                        || self.operation("get", &resolved).on("scale"),
                        self.timeout,
                        api.get_scale(name),
                    )
                    .await?;
                    let now = scale.spec.and_then(|s| s.replicas);
                    if now == i32::try_from(replicas).ok() {
                        self.remember_write(&resolved, replicas);
                        return Ok(());
                    }
                    patch["metadata"] = json!({"resourceVersion": scale.metadata.resource_version});
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn api(&self, resolved: &Resolved) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &resolved.resource)
    }

    fn operation(&self, verb: &'static str, resolved: &Resolved) -> Operation {
        Operation::object(
            verb,
            &resolved.qualified,
            &self.namespace,
            &self.target.name,
        )
    }

    /// The resource of `apiVersion`/`kind`, from the cache or API discovery (one at a time per
    /// kind; a caller waits at most its timeout for the one in flight).
    async fn resolve(&self) -> Result<Resolved, KubeError> {
        let key = (self.target.api_version.clone(), self.target.kind.clone());
        let cell = lock(&self.cache).entry(key).or_default().clone();
        if let Some(r) = cell.get() {
            return Ok(r.clone());
        }
        match tokio::time::timeout(self.timeout, cell.get_or_try_init(|| self.discover())).await {
            Ok(resolved) => resolved.cloned(),
            Err(_) => Err(KubeError::Timeout {
                operation: Box::new(self.discover_operation()),
                after: Some(self.timeout),
            }),
        }
    }

    fn discover_operation(&self) -> Operation {
        Operation {
            verb: "discover",
            resource: format!("the kinds of {}", self.target.api_version),
            subresource: None,
            name: None,
            namespace: None,
        }
    }

    /// The resource of `apiVersion`/`kind`, from API discovery.
    async fn discover(&self) -> Result<Resolved, KubeError> {
        let unknown = || KubeError::UnknownKind {
            api_version: self.target.api_version.clone(),
            kind: self.target.kind.clone(),
        };
        let gv: GroupVersion = self.target.api_version.parse().map_err(|_| unknown())?;
        let gvk: GroupVersionKind = gv.with_kind(&self.target.kind);
        let operation = || self.discover_operation();
        let found =
            tokio::time::timeout(self.timeout, discovery::pinned_kind(&self.client, &gvk)).await;
        let (resource, capabilities) = match found {
            Ok(Ok(found)) => found,
            // The group/version is not served at all, or it has no such kind.
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => return Err(unknown()),
            Ok(Err(kube::Error::Discovery(_))) => return Err(unknown()),
            Ok(Err(e)) => return Err(KubeError::from_call(operation(), e)),
            Err(_) => {
                return Err(KubeError::Timeout {
                    operation: Box::new(operation()),
                    after: Some(self.timeout),
                });
            }
        };
        let qualified = qualified(&resource.plural, &resource.group);
        if !capabilities
            .subresources
            .iter()
            .any(|(r, _)| r.plural == "scale")
        {
            return Err(KubeError::NoScaleSubresource {
                api_version: self.target.api_version.clone(),
                kind: self.target.kind.clone(),
                resource: qualified,
            });
        }
        let paths = if self.watches.is_none() {
            None
        } else if BUILT_IN_SCALABLE.contains(&(resource.group.as_str(), resource.kind.as_str())) {
            Some(ReplicaPaths::standard())
        } else {
            self.crd_paths(&resource).await
        };
        let resolved = Resolved {
            ready_omitted_when_zero: READY_OMITTED_WHEN_ZERO
                .contains(&(resource.group.as_str(), resource.kind.as_str())),
            qualified,
            resource,
            paths,
        };
        Ok(resolved)
    }
}

impl KubeScaleTarget {
    /// Tells the workload watch (if any) the count just written, so that the next tick sees it
    /// before the watch delivers it.
    fn remember_write(&self, resolved: &Resolved, replicas: u32) {
        if let Some(watches) = &self.watches {
            watches.wrote(
                &resolved.resource,
                resolved.paths.as_ref(),
                &self.namespace,
                &self.target.name,
                replicas,
            );
        }
    }

    /// The replica paths of a custom resource's `scale` subresource, from its
    /// CustomResourceDefinition; `None` when it cannot be read (then the kind is read through
    /// `/scale`, as without watches).
    async fn crd_paths(&self, resource: &ApiResource) -> Option<ReplicaPaths> {
        let crds = ApiResource {
            group: "apiextensions.k8s.io".into(),
            version: "v1".into(),
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            plural: "customresourcedefinitions".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &crds);
        let name = qualified(&resource.plural, &resource.group);
        let operation = || Operation {
            verb: "get",
            resource: "customresourcedefinitions.apiextensions.k8s.io".to_owned(),
            subresource: None,
            name: Some(name.clone()),
            namespace: None,
        };
        let crd = match call(operation, self.timeout, api.get(&name)).await {
            Ok(crd) => crd,
            Err(e) => {
                info!(resource = %name, error = %e, "cannot read the CustomResourceDefinition");
                return None;
            }
        };
        let versions = crd.data["spec"]["versions"].as_array()?;
        let scale = versions
            .iter()
            .find(|v| v["name"] == resource.version.as_str())?
            .get("subresources")?
            .get("scale")?;
        ReplicaPaths::from_crd(
            scale["specReplicasPath"].as_str()?,
            scale["statusReplicasPath"].as_str()?,
        )
    }
}

fn lock(cache: &DiscoveryCache) -> std::sync::MutexGuard<'_, DiscoveryMap> {
    // Entries are inserted whole; a panic elsewhere cannot leave one half-written.
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl ScaleTarget for KubeScaleTarget {
    async fn replicas(&self) -> Result<Replicas, TargetError> {
        Ok(self.read().await?)
    }

    async fn set_replicas(&self, replicas: u32) -> Result<(), TargetError> {
        Ok(self.write(replicas).await?)
    }
}
