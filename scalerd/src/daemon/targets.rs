//! Where the object loops write: the [`Targets`] that give each scaled object its
//! [`ScaleTarget`] — the workloads in the cluster (`ClusterTargets`, through the object's
//! fence), or in-memory ones for dry runs without a cluster ([`MemoryTargets`]) — and the
//! [`DryRunTarget`] that reads and never writes.

use std::sync::Arc;

use async_trait::async_trait;
use scalers_core::config::model::ScaledObject;
use scalers_core::engine::Replicas;
use scalers_core::target::{MemoryTarget, ScaleTarget, TargetError};
use tracing::info;

use crate::kube::{Fence, KubeTargets};

/// Where the loops' targets come from.
pub trait Targets: Send + Sync {
    /// The target of `object`.
    fn target(&self, object: &ScaledObject) -> Arc<dyn ScaleTarget>;
}

/// In-memory workloads for dry runs without a cluster; each starts at the object's minimum.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryTargets;

impl Targets for MemoryTargets {
    fn target(&self, object: &ScaledObject) -> Arc<dyn ScaleTarget> {
        Arc::new(DryRunTarget::in_memory(object.min_replica_count))
    }
}

/// Targets in the cluster, each written through its object's fence (its shard's, when
/// sharded); with `dry_run`, read there and never written.
pub(crate) struct ClusterTargets {
    kube: KubeTargets,
    fence: Fence,
    dry_run: bool,
}

impl ClusterTargets {
    /// The workloads `kube` reaches, written through `fence`; never written with `dry_run`.
    pub(crate) fn new(kube: KubeTargets, fence: Fence, dry_run: bool) -> Self {
        ClusterTargets {
            kube,
            fence,
            dry_run,
        }
    }
}

impl Targets for ClusterTargets {
    fn target(&self, object: &ScaledObject) -> Arc<dyn ScaleTarget> {
        let real = self
            .kube
            .clone()
            .with_fence(self.fence.for_object(&object.key()))
            .target(object);
        if self.dry_run {
            Arc::new(DryRunTarget::over(real))
        } else {
            real
        }
    }
}

/// A target for dry runs: reads from the real target when there is one, and logs writes
/// instead of doing them; without a real target, an in-memory count plays the workload.
pub struct DryRunTarget {
    inner: Option<Arc<dyn ScaleTarget>>,
    memory: MemoryTarget,
}

impl std::fmt::Debug for DryRunTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunTarget")
            .field("real", &self.inner.is_some())
            .field("memory", &self.memory)
            .finish()
    }
}

impl DryRunTarget {
    /// Reads from `inner` and never writes to it.
    pub fn over(inner: Arc<dyn ScaleTarget>) -> Self {
        DryRunTarget {
            inner: Some(inner),
            memory: MemoryTarget::new(0),
        }
    }

    /// An in-memory workload starting at `replicas`.
    pub fn in_memory(replicas: u32) -> Self {
        DryRunTarget {
            inner: None,
            memory: MemoryTarget::new(replicas),
        }
    }
}

#[async_trait]
impl ScaleTarget for DryRunTarget {
    async fn replicas(&self) -> Result<Replicas, TargetError> {
        match &self.inner {
            Some(t) => t.replicas().await,
            // Read directly: no boxed future of the in-memory target per tick.
            None => Ok(Replicas::settled(self.memory.current())),
        }
    }

    async fn set_replicas(&self, replicas: u32) -> Result<(), TargetError> {
        info!(to = replicas, "dry run: not writing the scale subresource");
        if self.inner.is_none() {
            self.memory.set_replicas(replicas).await?;
        }
        Ok(())
    }
}
