//! # scalers-testkit
//!
//! Test support for scalers, used only as a dev-dependency: real services on loopback and the
//! helpers tests wait and observe with.
//!
//! - [`eventually`]: poll until a condition holds, with a deadline — the way tests wait (never a
//!   fixed sleep).
//! - [`PrometheusServices`]: Prometheus scraping a Pushgateway every second, from `.ci/run`
//!   (`SCALERS_TEST_PROMETHEUS_URL`, `SCALERS_TEST_PUSHGATEWAY_URL`) or started once per test
//!   binary from the Debian packages `prometheus` and `prometheus-pushgateway`; with
//!   [`PrometheusServices::push_metric`] and [`PrometheusServices::wait_for_query`].
//! - [`HttpStub`]: a tiny real HTTP server recording requests and answering a fixed response,
//!   or never answering; [`refused_url`] and [`refused_address`] for connection-refused
//!   tests.
//! - [`KafkaBroker`]: a Kafka-protocol broker (tansu) from `.ci/run`
//!   (`SCALERS_TEST_KAFKA_BOOTSTRAP`) or started once per test binary (installed by
//!   `.ci/tansu.sh`), or a test's own that it can stop and restart; with helpers that create
//!   topics, produce one record per batch and commit group offsets without joining the group.
//! - [`FakeApiServer`]: a fake Kubernetes API server (real HTTP on loopback, for a real
//!   `kube::Client` and kube-runtime's watchers) with discovery, workloads and their `/scale`,
//!   Events, Leases, Secrets, ConfigMaps, HPAs, Jobs and KEDA's ScaledObjects and
//!   (Cluster)TriggerAuthentications; lists and watches with resourceVersions, bookmarks and
//!   410 `Expired`, selectors, `/status` subresources, finalizers; injectable [`Fault`]s
//!   (watches ended, expired, the server unreachable) and a [`JournalEntry`] per request.
//! - [`RedisServer`], [`RedisCluster`], [`RedisSentinel`]: a standalone Redis server (plain, with
//!   a password, or with TLS from a test CA made with `openssl`), a 3-master cluster and a
//!   sentinel set, from `.ci/run` ([`REDIS_URL_ENV`], [`REDIS_CLUSTER_ENV`],
//!   [`REDIS_SENTINEL_ENV`]) or started once per test binary from the Debian packages
//!   `redis-server`, `redis-tools` and `redis-sentinel`; a test's own server that it can kill and
//!   restart; [`RedisClient`], a minimal RESP client to set up keys, users and inspect clients.
//! - [`run_with_system_roots`] and [`child_var`]: a test run again in a child process whose
//!   system trusted roots it chooses (`SSL_CERT_FILE`), for the rule that a trigger's `ca` adds
//!   to the system roots.
//! - [`run_and_assert_trigger_compliance`]: builds a [`TriggerCase`] through a real
//!   `Registry`, samples it and asserts the rules every trigger type meets (targets fixed at
//!   build time, finite values, typed failures whose text and chain never show a credential);
//!   every trigger crate's live tests call it. With it, the helpers trigger tests build from
//!   `(name, value)` pairs with: [`object_with_trigger`], [`build_trigger`],
//!   [`build_object_trigger`], [`read_params`], [`auth_params`], [`pairs`].
//! - [`unique_name`]: names for metrics, jobs and keys that no other test uses, since tests run
//!   in parallel against shared services.

mod eventually;
mod http_stub;
mod kafka;
mod kube;
mod process;
mod prometheus;
mod redis;
mod system_roots;
mod trigger;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::kube::{
    FakeApiServer, FakeResource, Fault, JobState, JournalEntry, LeaseTerm, ResourceOptions,
    StatusMode, path_matches,
};
pub use eventually::{Attempt, eventually};
pub use http_stub::{HttpStub, RecordedRequest, StubTls, refused_address, refused_url};
pub use kafka::{KAFKA_BOOTSTRAP_ENV, KafkaBroker, TANSU_BIN_ENV};
pub use prometheus::{PROMETHEUS_URL_ENV, PUSHGATEWAY_URL_ENV, PrometheusServices};
pub use redis::{
    REDIS_CLUSTER_ENV, REDIS_SENTINEL_ENV, REDIS_SENTINEL_MASTER_ENV, REDIS_URL_ENV, RedisClient,
    RedisCluster, RedisOptions, RedisSentinel, RedisServer, RedisTls, Resp,
};
pub use system_roots::{child_var, run_with_system_roots};
pub use trigger::{
    TriggerCase, auth_params, build_object_trigger, build_trigger, object_with_trigger, pairs,
    read_params, run_and_assert_trigger_compliance,
};

/// `<prefix>_<pid>_<time>_<n>`: a name (valid as a Prometheus metric, label value, job name or
/// key) that no other test, in this process or another, uses.
///
/// # Examples
/// ```
/// let a = scalers_testkit::unique_name("queue");
/// let b = scalers_testkit::unique_name("queue");
/// assert!(a.starts_with("queue_") && a != b);
/// ```
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    format!("{prefix}_{}_{micros}_{n}", std::process::id())
}
