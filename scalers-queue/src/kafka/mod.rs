//! The `kafka` trigger: the consumer lag of a Kafka consumer group, with KEDA's parameter
//! names, defaults and semantics.
//!
//! Where to start: [`register`] adds the `kafka` type to a [`Registry`]; a trigger is then
//! built from config like any other. Embedders that build triggers themselves use
//! [`KafkaConfig::from_params`] and [`KafkaTrigger::new`] with a [`ClientPool`];
//! [`KafkaTrigger::lag`] measures once and returns the [`Lag`] or a typed [`Error`]. The lag rules are pure functions ([`partition_lag`],
//! [`cap`], [`even_replicas`], [`LagState`]) usable without a broker.
//!
//! ## KEDA semantics implemented (`kafka` scaler)
//! - Parameters `bootstrapServers`, `consumerGroup` (required), `topic`, `lagThreshold` (10,
//!   greater than 0), `activationLagThreshold` (0), `offsetResetPolicy` (`latest` |
//!   `earliest`), `allowIdleConsumers`, `scaleToZeroOnInvalidOffset`, `excludePersistentLag`,
//!   `limitToPartitionsWithLag` (needs `topic`; not with `allowIdleConsumers` or
//!   `ensureEvenDistributionOfPartitions`), `ensureEvenDistributionOfPartitions` (needs
//!   `topic`), `partitionLimitation` (`1,2,10-20`, needs `topic`), `tls` (`enable` |
//!   `disable`, with `ca`, `cert` + `key`, `keyPassword`, `unsafeSsl`) and `sasl` (`none`,
//!   `plaintext`, `scram_sha256`, `scram_sha512` with `username` and `password`;
//!   `oauthbearer` with a static token in `oauthToken`), each read from metadata,
//!   authentication parameters or `<name>FromEnv`.
//! - Per partition, lag = log-end offset − committed offset, never negative. A partition
//!   without a committed offset counts 1 under `latest` and its size (log-end − log-start, so
//!   retention-deleted records do not count) under `earliest`, 0 either way with
//!   `scaleToZeroOnInvalidOffset`. A partition missing from the broker's log-end answer counts
//!   0.
//! - Without `topic`, every topic on which the group has a committed offset counts (a group
//!   that never committed measures 0, so it cannot scale from zero — as in KEDA).
//! - `excludePersistentLag`: a partition whose committed offset has not moved since the
//!   previous sample counts 0 in the metric but its full lag for activity.
//! - The value is the total lag; active iff the total lag, persistent lag included, is greater
//!   than `activationLagThreshold`.
//! - Unless `allowIdleConsumers`, the value is capped at partitions × `lagThreshold` (partitions
//!   with lag under `limitToPartitionsWithLag`), so an `AverageValue` target never asks for
//!   more replicas than partitions. Unlike KEDA, the cap compares with a ceiling: KEDA's integer
//!   division lets totals just above the cap through, one replica too many.
//!   `ensureEvenDistributionOfPartitions` rounds the replica count up to a divisor of the
//!   partition count (a total of 0 stays 0, where KEDA reports one replica's worth).
//! - Failures are typed ([`Error::kind`]), never a lag of 0: no broker reachable →
//!   `Unavailable`, no answer within the timeout → `Timeout`, credentials refused →
//!   `Unauthorized`; a missing topic, a `partitionLimitation` matching no partition and broker
//!   errors → `BadResponse`.
//!
//! Not implemented: `sasl: gssapi` and `aws_msk_iam`, OAuth token endpoints
//! (`oauthTokenEndpointUri`, `scopes`, `oauthExtensions`). `version` and `fullMetadata` are
//! validated as KEDA validates them (a version sarama parses, such as `2.8.1` or `0.11.0.2`;
//! a boolean, `false` only with `topic`) but change nothing: librdkafka negotiates the
//! protocol versions, and metadata is always fetched for the one topic when there is one.
//! Deliberately stricter than KEDA: `partitionLimitation` without `topic` and
//! `ensureEvenDistributionOfPartitions` with `allowIdleConsumers` are errors where KEDA ignores
//! them.
//!
//! ## Clients
//! One client per bootstrap servers and credentials, whatever the consumer groups and topics,
//! shared by every trigger built from the same registration (see [`ClientPool`]). Building a
//! trigger does no I/O; the client is created on the first sample. Its calls block, so a
//! sample runs them on tokio's blocking pool, within [`KafkaConfig::timeout`] (default
//! [`DEFAULT_TIMEOUT`]) for the whole round: metadata (of the one topic, or of all topics
//! without one), one OffsetFetch for the group's committed offsets, asked of the group's
//! coordinator (found once with FindCoordinator), one ListOffsets per leader for the log-end
//! offsets (and, under `earliest`, for the log-start offsets of uncommitted partitions). The
//! client never joins the group and never commits.
//!
//! # Examples
//! ```no_run
//! use scalers_core::config::model::{ScaledObject, TriggerSpec};
//! use scalers_core::trigger::{BuildContext, Registry};
//!
//! # async fn demo() {
//! let mut registry = Registry::new();
//! scalers_queue::kafka::register(&mut registry);
//!
//! let mut spec = TriggerSpec::new("kafka");
//! for (k, v) in [
//!     ("bootstrapServers", "kafka-0:9092,kafka-1:9092"),
//!     ("consumerGroup", "orders-workers"),
//!     ("topic", "orders"),
//!     ("lagThreshold", "50"),
//! ] {
//!     spec.metadata.insert(k.to_owned(), v.to_owned());
//! }
//! let mut object = ScaledObject::new("orders", "orders-worker");
//! object.triggers.push(spec);
//!
//! let built = registry
//!     .build(BuildContext::new(&object, 0).with_env(&|var| std::env::var(var).ok()))
//!     .expect("valid trigger");
//! match built.trigger.sample().await {
//!     Ok(sample) => println!("lag {} (active: {})", sample.value, sample.active),
//!     Err(e) => println!("{} failure: {e}", e.kind),
//! }
//! # }
//! ```

mod client;
mod config;
mod coordinator;
mod error;
mod lag;
mod sasl;
mod trigger;
mod wire;

use std::sync::Arc;

use scalers_core::trigger::Registry;

pub use client::ClientPool;
pub use config::{
    ClientIdentity, DEFAULT_LAG_THRESHOLD, DEFAULT_TIMEOUT, KafkaConfig, PartitionLimitation, Sasl,
    Security, Tls, UserPassword,
};
pub use error::{Error, Result};
pub use lag::{
    Lag, LagRules, LagState, OffsetResetPolicy, PartitionCap, PartitionOffsets, cap, even_replicas,
    partition_lag,
};
pub use trigger::KafkaTrigger;

/// The trigger type name, as in KEDA.
pub const TYPE: &str = "kafka";

/// Registers the `kafka` trigger type, with a [`ClientPool`] of its own shared by every
/// trigger the registry builds.
pub fn register(registry: &mut Registry) {
    register_with_pool(registry, ClientPool::new());
}

/// Registers the `kafka` trigger type with the given [`ClientPool`], so the caller can share it
/// further or observe it.
///
/// # Examples
/// ```
/// use scalers_core::trigger::Registry;
/// use scalers_queue::kafka::ClientPool;
///
/// let pool = ClientPool::new();
/// let mut registry = Registry::new();
/// scalers_queue::kafka::register_with_pool(&mut registry, pool.clone());
/// assert!(registry.contains("kafka"));
/// assert!(pool.is_empty());
/// ```
pub fn register_with_pool(registry: &mut Registry, pool: ClientPool) {
    registry.register(TYPE, move |p| {
        let config = KafkaConfig::from_params(p)?;
        Ok(Arc::new(KafkaTrigger::new(config, &pool)))
    });
}

/// A config for the crate's unit tests: group `workers`, topic `orders`, KEDA's defaults.
#[cfg(test)]
pub(crate) fn test_config(servers: &[&str], security: Security) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        consumer_group: "workers".to_owned(),
        topic: Some("orders".to_owned()),
        partition_limitation: None,
        rules: LagRules {
            offset_reset_policy: OffsetResetPolicy::Latest,
            scale_to_zero_on_invalid_offset: false,
            exclude_persistent_lag: false,
            lag_threshold: 10,
            partition_cap: PartitionCap::Partitions,
        },
        activation_lag_threshold: 0,
        metric_type: scalers_core::config::model::MetricType::AverageValue,
        security,
        timeout: std::time::Duration::from_secs(5),
    }
}
