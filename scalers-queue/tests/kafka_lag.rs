//! The trigger against a real Kafka-protocol broker (tansu, from `.ci/run` or started by the
//! testkit). Every test owns its topics and consumer groups.
//!
//! Records are produced one per batch: tansu 0.6 answers a wrong log-end offset after a batch
//! of several records (see `KafkaBroker::produce`).

mod kafka_common;

use std::time::Duration;

use kafka_common::{Fixture, build_in, concrete, fill, registry, sample, trigger};
use scalers_core::trigger::{Trigger, TriggerErrorKind};
use scalers_queue::kafka::{ClientPool, KafkaTrigger, Lag, PartitionOffsets};
use scalers_testkit::{KafkaBroker, TriggerCase, run_and_assert_trigger_compliance, unique_name};

const TIMEOUT: Duration = Duration::from_secs(5);

fn offsets(
    topic: &str,
    partition: i32,
    committed: Option<i64>,
    log_start: Option<i64>,
    log_end: i64,
) -> PartitionOffsets {
    PartitionOffsets {
        topic: topic.to_owned(),
        partition,
        committed,
        log_start,
        log_end: Some(log_end),
    }
}

#[tokio::test]
async fn committed_partitions_lag_by_log_end_minus_committed() {
    // Partition 0: 5 records, committed 2 (lag 3); 1: 3 records, fully consumed; 2: 2 records,
    // committed 2... and partition 3 empty, committed 0.
    let f = Fixture::new(4, &[5, 3, 2, 0], &[(0, 2), (1, 3), (2, 2), (3, 0)]).await;
    let t = concrete(&f.metadata(&[]), TIMEOUT);
    assert_eq!(
        t.offsets().await.unwrap(),
        vec![
            offsets(&f.topic, 0, Some(2), None, 5),
            offsets(&f.topic, 1, Some(3), None, 3),
            offsets(&f.topic, 2, Some(2), None, 2),
            offsets(&f.topic, 3, Some(0), None, 0),
        ]
    );
    assert_eq!(
        t.lag().await.unwrap(),
        Lag {
            value: 3,
            uncapped: 3,
            with_persistent: 3,
            partitions: 4,
            partitions_with_lag: 1,
        }
    );
    // Active iff the lag is greater than activationLagThreshold; the value does not change.
    let registry = registry(&ClientPool::new());
    for (activation, active) in [("0", true), ("2", true), ("3", false), ("10", false)] {
        let metadata = f.metadata(&[("activationLagThreshold", activation)]);
        let case = TriggerCase::new("kafka", &metadata);
        assert_eq!(
            run_and_assert_trigger_compliance(&registry, &case)
                .await
                .unwrap(),
            sample(3.0, active),
            "activationLagThreshold {activation}"
        );
    }
}

#[tokio::test]
async fn uncommitted_partitions_follow_the_offset_reset_policy() {
    // Partition 0: 4 records, committed 1 (lag 3); 1: 6 records, never committed; 2: empty,
    // never committed; 3: 2 records, fully consumed (0 under every policy).
    let f = Fixture::new(4, &[4, 6, 0, 2], &[(0, 1), (3, 2)]).await;
    let cases = [
        // latest: an uncommitted partition counts 1 (empty or not).
        (vec![], 5.0),
        (vec![("offsetResetPolicy", "latest")], 5.0),
        (vec![("scaleToZeroOnInvalidOffset", "true")], 3.0),
        // earliest: an uncommitted partition counts its size.
        (vec![("offsetResetPolicy", "earliest")], 9.0),
        (
            vec![
                ("offsetResetPolicy", "earliest"),
                ("scaleToZeroOnInvalidOffset", "true"),
            ],
            3.0,
        ),
    ];
    for (extra, value) in cases {
        let t = trigger(&f.metadata(&extra));
        assert_eq!(
            t.trigger.sample().await.unwrap(),
            sample(value, true),
            "{extra:?}"
        );
    }
    // Under earliest (only), the log start of the uncommitted partitions is asked for.
    let t = concrete(&f.metadata(&[("offsetResetPolicy", "earliest")]), TIMEOUT);
    assert_eq!(
        t.offsets().await.unwrap(),
        vec![
            offsets(&f.topic, 0, Some(1), None, 4),
            offsets(&f.topic, 1, None, Some(0), 6),
            offsets(&f.topic, 2, None, Some(0), 0),
            offsets(&f.topic, 3, Some(2), None, 2),
        ]
    );
}

#[tokio::test]
async fn a_group_that_does_not_exist_has_no_committed_offsets() {
    let f = Fixture::new(3, &[2, 0, 7], &[]).await;
    let latest = trigger(&f.metadata(&[]));
    assert_eq!(latest.trigger.sample().await.unwrap(), sample(3.0, true));
    let earliest = trigger(&f.metadata(&[("offsetResetPolicy", "earliest")]));
    assert_eq!(earliest.trigger.sample().await.unwrap(), sample(9.0, true));
    let zero = trigger(&f.metadata(&[("scaleToZeroOnInvalidOffset", "true")]));
    assert_eq!(zero.trigger.sample().await.unwrap(), sample(0.0, false));
}

#[tokio::test]
async fn a_topic_that_does_not_exist_is_a_bad_response_not_zero() {
    let broker = KafkaBroker::shared().await;
    let topic = unique_name("missing");
    let group = unique_name("group");
    let metadata = [
        ("bootstrapServers", broker.bootstrap()),
        ("consumerGroup", &group),
        ("topic", &topic),
    ];
    let case = TriggerCase::new("kafka", &metadata);
    let e = run_and_assert_trigger_compliance(&registry(&ClientPool::new()), &case)
        .await
        .unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::BadResponse);
    assert_eq!(
        e.message,
        format!("{}: topic {topic:?} does not exist", broker.bootstrap())
    );
}

#[tokio::test]
async fn without_topic_every_topic_the_group_committed_on_counts() {
    let broker = KafkaBroker::shared().await;
    let group = unique_name("group");
    let (a, b, c) = (unique_name("a"), unique_name("b"), unique_name("c"));
    // a/0: 5 records, committed 1 (lag 4); a/1: 3 records, uncommitted (latest 1, earliest 3).
    fill(broker, &a, &group, 2, &[5, 3], &[(0, 1)]).await;
    // b/0: 2 records, fully consumed.
    fill(broker, &b, &group, 1, &[2], &[(0, 2)]).await;
    // c: the group never committed on it, so it does not count.
    fill(broker, &c, &unique_name("other"), 1, &[7], &[(0, 0)]).await;

    let metadata = [
        ("bootstrapServers", broker.bootstrap()),
        ("consumerGroup", &group),
    ];
    let t = concrete(&metadata, TIMEOUT);
    let mut expected = vec![
        offsets(&a, 0, Some(1), None, 5),
        offsets(&a, 1, None, None, 3),
        offsets(&b, 0, Some(2), None, 2),
    ];
    expected.sort_by(|x, y| (&x.topic, x.partition).cmp(&(&y.topic, y.partition)));
    assert_eq!(t.offsets().await.unwrap(), expected);
    assert_eq!(
        trigger(&metadata).trigger.sample().await.unwrap(),
        sample(5.0, true)
    );
    let mut earliest = metadata.to_vec();
    earliest.push(("offsetResetPolicy", "earliest"));
    assert_eq!(
        trigger(&earliest).trigger.sample().await.unwrap(),
        sample(7.0, true)
    );

    // A group that never committed anything measures 0 (and so cannot scale from zero).
    let never = unique_name("never");
    let t = trigger(&[
        ("bootstrapServers", broker.bootstrap()),
        ("consumerGroup", &never),
    ]);
    assert_eq!(t.trigger.sample().await.unwrap(), sample(0.0, false));
}

#[tokio::test]
async fn partition_limitation_selects_the_partitions_that_count() {
    // Lags 1, 2, 3, 4 on partitions 0..3.
    let f = Fixture::new(4, &[1, 2, 3, 4], &[(0, 0), (1, 0), (2, 0), (3, 0)]).await;
    for (limitation, value) in [
        ("0,2-3", 8.0),
        ("1", 2.0),
        ("0-1, 3, 9", 7.0),
        ("0-3", 10.0),
    ] {
        let t = trigger(&f.metadata(&[("partitionLimitation", limitation)]));
        assert_eq!(
            t.trigger.sample().await.unwrap(),
            sample(value, true),
            "{limitation}"
        );
    }
    let t = trigger(&f.metadata(&[("partitionLimitation", "7-9,12")]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::BadResponse);
    assert_eq!(
        e.message,
        format!(
            "{}: partitionLimitation 7-9,12 selects none of the 4 partitions of topic {:?}",
            f.broker.bootstrap(),
            f.topic
        )
    );
}

#[tokio::test]
async fn lag_is_capped_at_the_partitions_unless_idle_consumers_are_allowed() {
    // Two partitions, 2 per replica. Partition 0 lags 5, partition 1 has none: 5 would need 3
    // replicas. KEDA's truncating 5 / 2 = 2 does not exceed 2 partitions and lets 5 through (the
    // HPA then asks ceil(5 / 2) = 3 replicas for 2 partitions); the cap here gives 2 × 2.
    let f = Fixture::new(2, &[5, 1], &[(0, 0), (1, 1)]).await;
    let cases = [
        (vec![], 4.0),
        (vec![("allowIdleConsumers", "true")], 5.0),
        // One partition has lag: at most one replica.
        (vec![("limitToPartitionsWithLag", "true")], 2.0),
    ];
    for (extra, value) in cases {
        let mut extra = extra;
        extra.push(("lagThreshold", "2"));
        let t = trigger(&f.metadata(&extra));
        assert_eq!(
            t.trigger.sample().await.unwrap(),
            sample(value, true),
            "{extra:?}"
        );
    }
    let t = concrete(&f.metadata(&[("lagThreshold", "2")]), TIMEOUT);
    assert_eq!(
        t.lag().await.unwrap(),
        Lag {
            value: 4,
            uncapped: 5,
            with_persistent: 5,
            partitions: 2,
            partitions_with_lag: 1,
        }
    );
}

#[tokio::test]
async fn even_distribution_rounds_replicas_up_to_a_divisor_of_the_partitions() {
    // Six partitions, one replica per unit of lag. Divisors of 6: 1, 2, 3, 6.
    let f = Fixture::new(6, &[4, 0, 0, 0, 0, 0], &[(0, 0)]).await;
    // Lag 4 (uncommitted partitions count 0): 4 replicas → 6.
    let even = [
        ("lagThreshold", "1"),
        ("ensureEvenDistributionOfPartitions", "true"),
        ("scaleToZeroOnInvalidOffset", "true"),
    ];
    let t = trigger(&f.metadata(&even));
    assert_eq!(t.trigger.sample().await.unwrap(), sample(6.0, true));
    // Three partitions selected, lag 3 of partition 0 → 3 replicas, a divisor of 3.
    f.broker.commit(&f.group, &f.topic, &[(0, 1)]).await;
    let mut limited = even.to_vec();
    limited.push(("partitionLimitation", "0-2"));
    let t = trigger(&f.metadata(&limited));
    assert_eq!(t.trigger.sample().await.unwrap(), sample(3.0, true));
    // Lag 2 of 6 partitions: 2 replicas, a divisor.
    f.broker.commit(&f.group, &f.topic, &[(0, 2)]).await;
    let t = trigger(&f.metadata(&even));
    assert_eq!(t.trigger.sample().await.unwrap(), sample(2.0, true));
}

#[tokio::test]
async fn persistent_lag_counts_for_activity_but_not_for_the_metric() {
    // Partition 0: 5 records, committed 2 (lag 3); partition 1: 4 records, committed 1 (lag 3).
    let f = Fixture::new(2, &[5, 4], &[(0, 2), (1, 1)]).await;
    let t = concrete(
        &f.metadata(&[
            ("excludePersistentLag", "true"),
            ("activationLagThreshold", "4"),
        ]),
        TIMEOUT,
    );
    // First sample: no previous offsets, all lag counts.
    let lag = t.lag().await.unwrap();
    assert_eq!((lag.value, lag.with_persistent), (6, 6));
    // Partition 1's consumer moves on; partition 0's is stuck: the value is 2, below the
    // activation threshold, yet the trigger is active, as 3 + 2 > 4.
    f.broker.commit(&f.group, &f.topic, &[(1, 2)]).await;
    assert_eq!(t.sample().await.unwrap(), sample(2.0, true));
    // Partition 1 moves again: 3 + 1 is not greater than 4.
    f.broker.commit(&f.group, &f.topic, &[(1, 3)]).await;
    assert_eq!(
        t.lag().await.unwrap(),
        Lag {
            value: 1,
            uncapped: 1,
            with_persistent: 4,
            partitions: 2,
            partitions_with_lag: 1,
        }
    );
    // Without excludePersistentLag the stuck partition keeps counting.
    let plain = trigger(&f.metadata(&[]));
    plain.trigger.sample().await.unwrap();
    assert_eq!(plain.trigger.sample().await.unwrap(), sample(4.0, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_on_the_same_brokers_share_one_client_whatever_their_groups() {
    // Three groups on one topic: the fixture's has committed 1 on partition 0, the others 2
    // and 3. Partition 0 holds 3 records; partition 1 none, uncommitted (counts 1 under
    // `latest`). So the lags are 3, 2 and 1.
    let f = Fixture::new(2, &[3, 0], &[(0, 1)]).await;
    let others = [unique_name("group"), unique_name("group")];
    for (group, offset) in others.iter().zip([2, 3]) {
        f.broker.commit(group, &f.topic, &[(0, offset)]).await;
    }
    let groups = [
        (f.group.as_str(), 3.0),
        (&others[0], 2.0),
        (&others[1], 1.0),
    ];
    let pool = ClientPool::new();
    let registry = registry(&pool);
    let triggers: Vec<_> = (0..99)
        .map(|i| {
            let (group, lag) = groups[i % 3];
            // Thresholds from 2: with 1, the cap (2 partitions × 1) would apply.
            let threshold = (i % 7 + 2).to_string();
            let mut metadata = f.metadata(&[("lagThreshold", &threshold)]);
            metadata.retain(|(k, _)| *k != "consumerGroup");
            metadata.push(("consumerGroup", group));
            let built = build_in(&registry, &metadata, &[], &[]).expect("valid trigger");
            (built, lag)
        })
        .collect();
    // Building does no I/O: one client, not yet created.
    assert_eq!((pool.len(), pool.connected()), (1, 0));
    // All at once: the shared client serves concurrent samples of every group.
    let tasks: Vec<_> = triggers
        .iter()
        .map(|(t, lag)| {
            let (t, lag) = (t.trigger.clone(), *lag);
            tokio::spawn(async move { (t.sample().await, lag) })
        })
        .collect();
    for task in tasks {
        let (sampled, lag) = task.await.unwrap();
        assert_eq!(sampled.unwrap(), sample(lag, true));
    }
    assert_eq!((pool.len(), pool.connected()), (1, 1));
    // 99 concurrent samples of three groups over at most four connections to the coordinator.
    let connections = pool.coordinator_connections();
    assert!((1..=4).contains(&connections), "{connections}");
    // Other topics, with or without a topic, share it too; other brokers do not.
    let mut other_topic = f.metadata(&[]);
    other_topic.retain(|(k, _)| *k != "topic");
    let other_topic = build_in(&registry, &other_topic, &[], &[]).unwrap();
    assert_eq!(
        other_topic.trigger.sample().await.unwrap(),
        sample(3.0, true)
    );
    let other_brokers = build_in(
        &registry,
        &[
            ("bootstrapServers", "127.0.0.1:1"),
            ("consumerGroup", &f.group),
            ("topic", &f.topic),
        ],
        &[],
        &[],
    )
    .unwrap();
    assert_eq!((pool.len(), pool.connected()), (2, 1));
    drop((triggers, other_topic, other_brokers));
    assert!(pool.is_empty());

    let a = KafkaTrigger::new(
        kafka_common::config(&f.metadata(&[]), &[], &[]).unwrap(),
        &pool,
    );
    let b = KafkaTrigger::new(
        kafka_common::config(&f.metadata(&[("lagThreshold", "99")]), &[], &[]).unwrap(),
        &pool,
    );
    assert!(a.shares_client_with(&b));
}
