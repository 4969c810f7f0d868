//! Helpers shared by the Redis integration tests: building triggers from metadata the way
//! scalerd does (through a `Registry` and a `ScaledObject`), and asserting samples.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use scalers_core::trigger::{BuiltTrigger, Registry, Sample, TriggerErrorKind};
use scalers_queue::redis::RedisPool;
/// Builds a trigger through a registry with authentication parameters and environment; errors
/// come back as `(path, message)` pairs.
pub(crate) use scalers_testkit::build_trigger as build_in;
use scalers_testkit::{TriggerCase, run_and_assert_trigger_compliance};

/// A registry with the Redis types registered on `pool`.
pub(crate) fn registry(pool: &RedisPool) -> Registry {
    let mut registry = Registry::new();
    scalers_queue::redis::register_with_pool(&mut registry, pool.clone());
    registry
}

/// Builds a valid trigger through a fresh registry and pool, metadata only.
pub(crate) fn trigger(trigger_type: &str, metadata: &[(&str, &str)]) -> BuiltTrigger {
    build_in(
        &registry(&RedisPool::new()),
        trigger_type,
        metadata,
        &[],
        &[],
    )
    .unwrap_or_else(|e| panic!("invalid trigger: {e:?}"))
}

/// The value and activity of a sample that must succeed.
pub(crate) async fn sample(t: &BuiltTrigger) -> (f64, bool) {
    match t.trigger.sample().await {
        Ok(Sample { value, active, .. }) => (value, active),
        Err(e) => panic!("{} failed: {} ({})", t.trigger_type, e.message, e.kind),
    }
}

/// The kind and message of a sample that must fail.
pub(crate) async fn failure(t: &BuiltTrigger) -> (TriggerErrorKind, String) {
    match t.trigger.sample().await {
        Ok(s) => panic!("{} sampled {s:?}; expected a failure", t.trigger_type),
        Err(e) => (e.kind, e.message),
    }
}

/// The value and activity of `case`'s sample, which must succeed, built through `registry` and
/// checked by the testkit's compliance run.
pub(crate) async fn compliant_sample(registry: &Registry, case: &TriggerCase<'_>) -> (f64, bool) {
    match run_and_assert_trigger_compliance(registry, case).await {
        Ok(Sample { value, active, .. }) => (value, active),
        Err(e) => panic!("{case:?} failed: {} ({})", e.message, e.kind),
    }
}

/// The kind and message of `case`'s sample, which must fail, built through `registry` and
/// checked by the testkit's compliance run.
pub(crate) async fn compliant_failure(
    registry: &Registry,
    case: &TriggerCase<'_>,
) -> (TriggerErrorKind, String) {
    match run_and_assert_trigger_compliance(registry, case).await {
        Ok(s) => panic!("{case:?} sampled {s:?}; expected a failure"),
        Err(e) => (e.kind, e.message),
    }
}

/// Trigger metadata as `(name, value)` pairs.
type Metadata<'a> = &'a [(&'a str, &'a str)];

/// Sends a setup command to the servers under test.
pub(crate) type Cmd<'a> = &'a dyn Fn(&[&str]) -> scalers_testkit::Resp;

/// Metadata `base` plus `extra`.
fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = base.to_vec();
    all.extend_from_slice(extra);
    all
}

/// Every key type through a list trigger of `trigger_type` with connection metadata `base`:
/// list, set, sorted set and hash lengths, 0 for a missing key, a bad response naming the type
/// for a string.
pub(crate) async fn assert_list_types(
    trigger_type: &str,
    base: &[(&str, &str)],
    auth: &[(&str, &str)],
    cmd: Cmd<'_>,
    endpoint: &str,
) {
    let registry = registry(&RedisPool::new());
    let list = scalers_testkit::unique_name("list");
    let set = scalers_testkit::unique_name("set");
    let zset = scalers_testkit::unique_name("zset");
    let hash = scalers_testkit::unique_name("hash");
    let string = scalers_testkit::unique_name("string");
    cmd(&["RPUSH", &list, "a", "b", "c"]);
    cmd(&["SADD", &set, "a", "b"]);
    cmd(&["ZADD", &zset, "1", "a", "2", "b", "3", "c", "4", "d"]);
    cmd(&[
        "HSET", &hash, "f1", "1", "f2", "2", "f3", "3", "f4", "4", "f5", "5", "f6", "6",
    ]);
    cmd(&["SET", &string, "x"]);
    let missing = scalers_testkit::unique_name("missing");
    for (key, expected) in [
        (&list, (3.0, true)),
        (&set, (2.0, true)),
        (&zset, (4.0, true)),
        (&hash, (6.0, true)),
        (&missing, (0.0, false)),
    ] {
        let metadata = with(base, &[("listName", key)]);
        let case = TriggerCase::new(trigger_type, &metadata).auth(auth);
        assert_eq!(
            compliant_sample(&registry, &case).await,
            expected,
            "{trigger_type} {key}"
        );
    }
    let metadata = with(base, &[("listName", &string)]);
    let case = TriggerCase::new(trigger_type, &metadata).auth(auth);
    assert_eq!(
        compliant_failure(&registry, &case).await,
        (
            TriggerErrorKind::BadResponse,
            format!(
                "{endpoint}: key {string:?} is a string; expected a list, set, sorted set or hash"
            )
        )
    );
}

/// Every stream mode through a stream trigger of `trigger_type` with connection metadata
/// `base`: length, pending, lag, lag of a missing group and of a missing stream, and pending of
/// a missing group.
pub(crate) async fn assert_stream_modes(
    trigger_type: &str,
    base: &[(&str, &str)],
    cmd: Cmd<'_>,
    endpoint: &str,
) {
    let registry = registry(&RedisPool::new());
    let stream = scalers_testkit::unique_name("stream");
    let group = scalers_testkit::unique_name("group");
    for i in 0..6 {
        cmd(&["XADD", &stream, "*", "n", &i.to_string()]);
    }
    cmd(&["XGROUP", "CREATE", &stream, &group, "0"]);
    cmd(&[
        "XREADGROUP",
        "GROUP",
        &group,
        "w",
        "COUNT",
        "2",
        "STREAMS",
        &stream,
        ">",
    ]);
    let missing = scalers_testkit::unique_name("missing");
    let cases: [(Metadata<'_>, (f64, bool)); 6] = [
        (&[("stream", &stream)], (6.0, true)),
        (&[("stream", &missing)], (0.0, false)),
        (
            &[("stream", &stream), ("consumerGroup", &group)],
            (2.0, true),
        ),
        (
            &[
                ("stream", &stream),
                ("consumerGroup", &group),
                ("lagCount", "3"),
                ("activationLagCount", "4"),
            ],
            (4.0, false),
        ),
        (
            &[
                ("stream", &stream),
                ("consumerGroup", "later"),
                ("lagCount", "3"),
            ],
            (6.0, true),
        ),
        (
            &[
                ("stream", &missing),
                ("consumerGroup", &group),
                ("lagCount", "3"),
            ],
            (0.0, false),
        ),
    ];
    for (extra, expected) in cases {
        let metadata = with(base, extra);
        let case = TriggerCase::new(trigger_type, &metadata);
        assert_eq!(
            compliant_sample(&registry, &case).await,
            expected,
            "{trigger_type} {extra:?}"
        );
    }
    let metadata = with(base, &[("stream", &stream), ("consumerGroup", "nobody")]);
    let case = TriggerCase::new(trigger_type, &metadata);
    assert_eq!(
        compliant_failure(&registry, &case).await,
        (
            TriggerErrorKind::BadResponse,
            format!("{endpoint}: stream {stream:?} has no consumer group \"nobody\"")
        )
    );
}
