//! The Redis triggers: list length and stream lag/pending/length, on a standalone server, a
//! cluster or a master found through Sentinel (feature `redis`).
//!
//! Where to start: [`register`] adds the six KEDA types to a
//! [`Registry`]. Embedders that build triggers themselves parse a [`ListConfig`] or
//! [`StreamConfig`] from [`Params`](scalers_core::trigger::Params) and make a [`ListTrigger`]
//! or [`StreamTrigger`] with a [`RedisPool`].
//!
//! ## KEDA semantics implemented
//! - `redis`, `redis-cluster`, `redis-sentinel`: `listName` (required), `listLength` (5),
//!   `activationListLength` (0). The length is `LLEN`, `SCARD`, `ZCARD` or `HLEN` by the key's
//!   type (one Lua script, so one round trip and one cluster slot); a missing key is 0; any
//!   other type is a [`WrongType`](Error::WrongType) failure naming the type.
//! - `redis-streams`, `redis-cluster-streams`, `redis-sentinel-streams`: `stream` (required),
//!   `consumerGroup`, `pendingEntriesCount` (5), `streamLength` (5), `lagCount`,
//!   `activationLagCount` (0, the activation threshold of every mode). The mode
//!   ([`StreamMode`]): group and non-zero `lagCount` → the group's lag from `XINFO GROUPS`
//!   (Redis ≥ 7; a missing group reads as the stream length, a missing stream as 0); group
//!   only → `XPENDING` count; no group → `XLEN`.
//! - Connection ([`Connection`], [`Topology`]): `address`/`addresses` or `host`+`port` /
//!   `hosts`+`ports` (equal counts), `username`, `password`, `databaseIndex` (0; not for
//!   clusters), `enableTLS` (metadata bool) or `tls` (`enable`/`disable`, usually from the
//!   authentication; not both), `unsafeSsl`, `ca`, `cert`, `key`, `keyPassword` (decrypts an
//!   encrypted `key`, PKCS#8 or traditional PEM); sentinel types also `sentinelMaster`
//!   (required), `sentinelUsername`, `sentinelPassword`. Every parameter is
//!   read from the metadata, the authentication parameters or `<name>FromEnv`.
//! - Active iff the value is greater than the activation threshold.
//!
//! Differences from KEDA: building a trigger does no I/O (KEDA pings at build time); the
//! connection is opened on the first sample. A standalone type given several addresses is a
//! config error (KEDA silently uses the first). In lag mode an unknown lag (Redis answers `nil` after some deletions) is a
//! [`NoData`](scalers_core::trigger::TriggerErrorKind::NoData) failure rather than 0.
//!
//! ## Connections and failures
//! Every trigger of one [`RedisPool`] with the same servers, database, credentials and TLS
//! settings shares one connection (see [`RedisPool`]). Connections and responses time out
//! after [`TIMEOUT`] (3 s). A sample that cannot reach Redis fails with
//! [`Unavailable`](scalers_core::trigger::TriggerErrorKind::Unavailable), never reads as 0;
//! refused credentials are `Unauthorized` ("authentication failed for user \"x\"", never the
//! password); a timeout is `Timeout`; a wrong key type, a missing consumer group in pending mode
//! or an error reply is `BadResponse`. After a failure the connection reconnects with backoff.
//! TLS goes through rustls with the aws-lc-rs provider; `ca` adds to the system roots, as in
//! KEDA (the rule of [`scalers_core::tls`]).
//!
//! # Examples
//! ```no_run
//! use scalers_core::config::model::{ScaledObject, TriggerSpec};
//! use scalers_core::trigger::{BuildContext, Registry};
//!
//! # async fn demo() {
//! let mut registry = Registry::new();
//! scalers_queue::redis::register(&mut registry);
//!
//! let mut spec = TriggerSpec::new("redis");
//! for (k, v) in [("address", "redis:6379"), ("listName", "jobs"), ("listLength", "10")] {
//!     spec.metadata.insert(k.to_owned(), v.to_owned());
//! }
//! let mut object = ScaledObject::new("jobs", "jobs-worker");
//! object.triggers.push(spec);
//!
//! let built = registry
//!     .build(BuildContext::new(&object, 0).with_env(&|var| std::env::var(var).ok()))
//!     .expect("valid trigger");
//! match built.trigger.sample().await {
//!     Ok(sample) => println!("length {} (active: {})", sample.value, sample.active),
//!     Err(e) => println!("{} failure: {e}", e.kind),
//! }
//! # }
//! ```

mod error;
mod list;
mod pool;
mod stream;
mod topology;

use std::sync::Arc;

use scalers_core::trigger::Registry;

pub use error::{Error, Result, User};
pub use list::{DEFAULT_LIST_LENGTH, ListConfig, ListTrigger};
pub use pool::{RedisPool, TIMEOUT};
pub use stream::{DEFAULT_ENTRIES, StreamConfig, StreamMode, StreamTrigger};
pub use topology::{Address, ClientIdentity, Connection, Tls, Topology, TopologyKind};

/// The list-length trigger types, as in KEDA, with their topology.
pub const LIST_TYPES: [(&str, TopologyKind); 3] = [
    ("redis", TopologyKind::Standalone),
    ("redis-cluster", TopologyKind::Cluster),
    ("redis-sentinel", TopologyKind::Sentinel),
];

/// The stream trigger types, as in KEDA, with their topology.
pub const STREAM_TYPES: [(&str, TopologyKind); 3] = [
    ("redis-streams", TopologyKind::Standalone),
    ("redis-cluster-streams", TopologyKind::Cluster),
    ("redis-sentinel-streams", TopologyKind::Sentinel),
];

/// Registers the six Redis trigger types, with a [`RedisPool`] of their own shared by every
/// trigger the registry builds.
pub fn register(registry: &mut Registry) {
    register_with_pool(registry, RedisPool::new());
}

/// Registers the six Redis trigger types with the given [`RedisPool`], so the caller can share
/// it further or observe it.
///
/// # Examples
/// ```
/// use scalers_core::trigger::Registry;
/// use scalers_queue::redis::RedisPool;
///
/// let pool = RedisPool::new();
/// let mut registry = Registry::new();
/// scalers_queue::redis::register_with_pool(&mut registry, pool.clone());
/// assert!(registry.contains("redis-sentinel-streams"));
/// assert!(pool.is_empty());
/// ```
pub fn register_with_pool(registry: &mut Registry, pool: RedisPool) {
    for (name, kind) in LIST_TYPES {
        let pool = pool.clone();
        registry.register(name, move |p| {
            let config = ListConfig::from_params(p, kind, name)?;
            Ok(Arc::new(ListTrigger::new(config, &pool)))
        });
    }
    for (name, kind) in STREAM_TYPES {
        let pool = pool.clone();
        registry.register(name, move |p| {
            let config = StreamConfig::from_params(p, kind, name)?;
            Ok(Arc::new(StreamTrigger::new(config, &pool)))
        });
    }
}
