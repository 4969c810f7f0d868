//! Everything scalerd asks of the Kubernetes API.
//!
//! - [`connect`]: a client from a kubeconfig (`--kubeconfig`, `--context`) or the in-cluster
//!   service account, as kube-rs resolves them ([`load_config`]); [`client_from_config`] applies
//!   scalerd's client settings to any [`kube::Config`].
//! - [`KubeTargets`] → [`KubeScaleTarget`]: the `/scale` subresource of any workload named by
//!   `scaleTargetRef.apiVersion`/`kind`, resolved through API discovery once per kind, as a
//!   [`scalers_core::target::ScaleTarget`]; with [`KubeTargets::with_watches`] replica counts
//!   come from [`WorkloadWatches`], one watch per workload kind in use, not from GETs.
//! - [`EventRecorder`] and [`ScalerEvent`]: `events.k8s.io/v1` Events on the scale target, with
//!   KEDA's reasons.
//! - [`LeaderElector`]: leader election on a `coordination.k8s.io/v1` Lease, with KEDA's timings
//!   (15 s lease, 10 s renew deadline, 2 s retry period), and its [`Fence`]: every write
//!   (`/scale`, Events) leaves only while the lease's last renewal is fresh enough for the
//!   request to be answered before another replica may take over.
//! - [`ShardElector`] and [`ShardView`]: sharding (`--sharding`), every replica active, each
//!   holding a fair share of a fixed set of shard Leases; an object's writes are fenced by its
//!   shard's Lease ([`shard_of`], [`Fence::for_object`]).
//! - [`RateLimit`] and [`client_with_rate_limit`]: the client-side rate limit on every call
//!   (`--kube-api-qps`, `--kube-api-burst`), Lease renewals and `/scale` writes first.
//! - [`read_secret_key`], [`read_config_map_key`]: one key of a Secret or a ConfigMap, for
//!   `authentications`.
//! - [`StatusWriter`]: KEDA's ScaledObject `status`, written through `/status` on change only.
//! - [`JobClient`]: the `batch/v1` Jobs of scaled jobs, listed by KEDA's label
//!   `scaledjob.keda.sh/name`, created from the template ([`job_object`]), deleted with a
//!   propagation policy; writes fenced like the rest; the pods of those Jobs, for the pending
//!   count, from one watch started when a scaled job reads them ([`JobClient::pods_of`]).
//! - [`HpaIndex`] and [`hpas_targeting`]: the HPAs that already scale a workload, from one list.
//!
//! Every call has a deadline and fails with a [`KubeError`] that names the call and, for RBAC
//! failures, what to check; [`KubeError::kind`] is the [`TargetErrorKind`] the engine and
//! status report.
//!
//! [`TargetErrorKind`]: scalers_core::target::TargetErrorKind

mod client;
mod error;
mod hpa;
mod job_pods;
mod jobs;
mod lease;
mod limit;
mod recorder;
mod secrets;
mod shards;
mod status;
mod target;
mod workloads;

use std::time::Duration;

pub use client::{client_from_config, connect, in_cluster, load_config};
pub use error::{KubeError, Operation};
pub use hpa::{HpaIndex, hpas_targeting};
pub use jobs::{
    JobClient, JobPhase, ListedJob, job_object, owner_reference, scaled_job_resource,
    scaled_job_status,
};
pub use lease::{Fence, LeaderElector, LeaseTimings, MIN_FENCED_TIMEOUT};
pub use limit::{
    DEFAULT_BURST, DEFAULT_QPS, Limited, Priority, RateLimit, RateLimitLayer, RateLimitMetrics,
    RateLimitSettings, client_with_rate_limit, telling_token_waits, waiting_for_token,
};
pub use recorder::{
    EventKind, EventRecorder, REPORTING_CONTROLLER, Regarding, ScalerEvent, reason,
};
pub use secrets::{read_config_map_key, read_secret_key};
pub use shards::{
    DEFAULT_SHARDS, SHARD_ROLE_LABEL, SHARD_SET_LABEL, ShardElector, ShardView, member_lease_name,
    shard_lease_name, shard_of,
};
pub use status::{
    Condition, FINALIZER, ObjectReport, StatusLookup, StatusWriter, parse_time_ms, rfc3339,
    scaled_object_resource, status_of,
};
pub use target::{CONFLICT_ATTEMPTS, KubeScaleTarget, KubeTargets};
pub use workloads::WorkloadWatches;
pub(crate) use workloads::containers_hash;

/// How long one API call may take unless configured otherwise: 10 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `plural.group` (`deployments.apps`), or `plural` for the core group, as the API names it.
fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}
