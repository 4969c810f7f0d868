//! Helpers shared by the kafka integration tests: building `kafka` triggers from metadata the
//! way scalerd does (through a `Registry` and a `ScaledObject`), and topics with known offsets.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use scalers_core::trigger::{BuiltTrigger, Registry, Sample};
use scalers_queue::kafka::{ClientPool, KafkaConfig, KafkaTrigger};
use scalers_testkit::{KafkaBroker, unique_name};

/// A registry with the `kafka` type registered on `pool`.
pub(crate) fn registry(pool: &ClientPool) -> Registry {
    let mut registry = Registry::new();
    scalers_queue::kafka::register_with_pool(&mut registry, pool.clone());
    registry
}

/// Builds the trigger through `registry`, with authentication parameters and environment.
/// Errors come back as `(path, message)` pairs.
pub(crate) fn build_in(
    registry: &Registry,
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<(String, String)>> {
    scalers_testkit::build_trigger(registry, "kafka", metadata, auth, env)
}

/// Builds a trigger that must be valid, through a fresh registry.
pub(crate) fn trigger(metadata: &[(&str, &str)]) -> BuiltTrigger {
    build_in(&registry(&ClientPool::new()), metadata, &[], &[])
        .unwrap_or_else(|e| panic!("invalid trigger: {e:?}"))
}

/// The parsed config, or the `(path, message)` errors.
pub(crate) fn config(
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<KafkaConfig, Vec<(String, String)>> {
    scalers_testkit::read_params("kafka", metadata, auth, env, KafkaConfig::from_params)
}

/// A concrete trigger on its own pool, with a sample timeout.
pub(crate) fn concrete(metadata: &[(&str, &str)], timeout: Duration) -> KafkaTrigger {
    let mut config = config(metadata, &[], &[]).unwrap_or_else(|e| panic!("invalid: {e:?}"));
    config.timeout = timeout;
    KafkaTrigger::new(config, &ClientPool::new())
}

/// A sample with this value and activity.
pub(crate) fn sample(value: f64, active: bool) -> Sample {
    Sample {
        value,
        active,
        no_data: false,
    }
}

/// A topic of a test's own, and a group of its own.
pub(crate) struct Fixture {
    pub(crate) broker: &'static KafkaBroker,
    pub(crate) topic: String,
    pub(crate) group: String,
}

impl Fixture {
    /// A new topic with `partitions` partitions, `records[i]` records produced to partition i,
    /// and the group's commits `(partition, offset)`.
    pub(crate) async fn new(partitions: i32, records: &[u64], commits: &[(i32, i64)]) -> Self {
        let broker = KafkaBroker::shared().await;
        let fixture = Fixture {
            broker,
            topic: unique_name("topic"),
            group: unique_name("group"),
        };
        fixture.fill(partitions, records, commits).await;
        fixture
    }

    /// Creates the topic and fills it (again, on a restarted broker).
    pub(crate) async fn fill(&self, partitions: i32, records: &[u64], commits: &[(i32, i64)]) {
        fill(
            self.broker,
            &self.topic,
            &self.group,
            partitions,
            records,
            commits,
        )
        .await;
    }

    /// Metadata for this topic and group, plus `extra`.
    pub(crate) fn metadata<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut m = vec![
            ("bootstrapServers", self.broker.bootstrap()),
            ("consumerGroup", self.group.as_str()),
            ("topic", self.topic.as_str()),
        ];
        m.extend_from_slice(extra);
        m
    }
}

/// Creates `topic` on `broker` with `records[i]` records in partition i and `group`'s commits.
pub(crate) async fn fill(
    broker: &KafkaBroker,
    topic: &str,
    group: &str,
    partitions: i32,
    records: &[u64],
    commits: &[(i32, i64)],
) {
    broker.create_topic(topic, partitions).await;
    for (partition, count) in records.iter().enumerate() {
        if *count > 0 {
            broker.produce(topic, partition as i32, *count).await;
        }
    }
    if !commits.is_empty() {
        broker.commit(group, topic, commits).await;
    }
}
