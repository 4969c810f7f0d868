//! The `redis-sentinel` and `redis-sentinel-streams` triggers against a real sentinel set (one
//! master, one replica, one sentinel: the testkit's, or the one `.ci/run` started); password
//! tests start a set of their own.

mod redis_common;

use redis_common::{assert_list_types, assert_stream_modes, build_in, failure, registry, sample};
use scalers_core::trigger::TriggerErrorKind;
use scalers_queue::redis::RedisPool;
use scalers_testkit::{RedisSentinel, unique_name};

fn endpoint(set: &RedisSentinel) -> String {
    format!(
        "redis sentinel master {:?} via {}",
        set.master_name(),
        set.sentinel_address()
    )
}

#[tokio::test]
async fn list_length_follows_the_key_type_through_sentinel() {
    let set = RedisSentinel::shared().await;
    let cmd = |args: &[&str]| set.cmd(args);
    assert_list_types(
        "redis-sentinel",
        &[
            ("addresses", set.sentinel_address()),
            ("sentinelMaster", set.master_name()),
        ],
        &[],
        &cmd,
        &endpoint(set),
    )
    .await;
}

#[tokio::test]
async fn stream_modes_through_sentinel() {
    let set = RedisSentinel::shared().await;
    let cmd = |args: &[&str]| set.cmd(args);
    assert_stream_modes(
        "redis-sentinel-streams",
        &[
            ("addresses", set.sentinel_address()),
            ("sentinelMaster", set.master_name()),
        ],
        &cmd,
        &endpoint(set),
    )
    .await;
}

#[tokio::test]
async fn unknown_master_is_unavailable() {
    let set = RedisSentinel::shared().await;
    let t = build_in(
        &registry(&RedisPool::new()),
        "redis-sentinel",
        &[
            ("addresses", set.sentinel_address()),
            ("sentinelMaster", "nope"),
            ("listName", "q"),
        ],
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::Unavailable,
            format!(
                "redis sentinel master \"nope\" via {}: the sentinels know no reachable master named \"nope\"",
                set.sentinel_address()
            )
        )
    );
}

#[tokio::test]
async fn sentinel_and_master_passwords_and_their_failures() {
    let set = RedisSentinel::start(Some("master-pw"), Some("sentinel-pw")).await;
    let list = unique_name("list");
    set.cmd(&["RPUSH", &list, "a", "b", "c"]);
    let registry = registry(&RedisPool::new());
    let meta = [
        ("addresses", set.sentinel_address()),
        ("sentinelMaster", set.master_name()),
        ("listName", list.as_str()),
    ];
    let both = [
        ("password", "master-pw"),
        ("sentinelPassword", "sentinel-pw"),
    ];
    let t = build_in(&registry, "redis-sentinel", &meta, &both, &[]).unwrap();
    assert_eq!(sample(&t).await, (3.0, true));

    let wrong_sentinel = [("password", "master-pw"), ("sentinelPassword", "nope-pw")];
    let t = build_in(&registry, "redis-sentinel", &meta, &wrong_sentinel, &[]).unwrap();
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::Unauthorized,
            format!(
                "{}: authentication failed for the sentinels' default user",
                endpoint(&set)
            )
        )
    );
    let wrong_master = [("password", "nope-pw"), ("sentinelPassword", "sentinel-pw")];
    let t = build_in(&registry, "redis-sentinel", &meta, &wrong_master, &[]).unwrap();
    let (kind, message) = failure(&t).await;
    assert_eq!(
        (kind, message.as_str()),
        (
            TriggerErrorKind::Unauthorized,
            format!(
                "{}: authentication failed for the default user",
                endpoint(&set)
            )
            .as_str()
        )
    );
    assert!(!message.contains("nope-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_triggers_share_one_master_connection() {
    let set = RedisSentinel::shared().await;
    let user = unique_name("sharing");
    set.master().create_user(&user, "share-pw");
    let pool = RedisPool::new();
    let registry = registry(&pool);
    let list = unique_name("list");
    set.cmd(&["RPUSH", &list, "a"]);
    let triggers: Vec<_> = (0..100)
        .map(|_| {
            build_in(
                &registry,
                "redis-sentinel",
                &[
                    ("addresses", set.sentinel_address()),
                    ("sentinelMaster", set.master_name()),
                    ("username", &user),
                    ("listName", &list),
                ],
                &[("password", "share-pw")],
                &[],
            )
            .unwrap()
        })
        .collect();
    let mut samples = tokio::task::JoinSet::new();
    for t in &triggers {
        let t = t.trigger.clone();
        samples.spawn(async move { t.sample().await.map(|s| s.value) });
    }
    while let Some(joined) = samples.join_next().await {
        assert_eq!(joined.unwrap().unwrap(), 1.0);
    }
    assert_eq!(pool.len(), 1);
    assert_eq!(set.master().clients_of_user(&user), 1);
}

#[tokio::test]
async fn killed_master_fails_as_unavailable_then_is_found_again() {
    let mut set = RedisSentinel::start(None, None).await;
    let list = unique_name("list");
    set.cmd(&["RPUSH", &list, "a", "b"]);
    let t = build_in(
        &registry(&RedisPool::new()),
        "redis-sentinel",
        &[
            ("addresses", set.sentinel_address()),
            ("sentinelMaster", set.master_name()),
            ("listName", &list),
        ],
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(sample(&t).await, (2.0, true));

    set.kill_master();
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::Unavailable,
            format!("{}: cannot connect", endpoint(&set))
        )
    );
    set.restart_master().await;
    // Whichever server the sentinel names now (the restarted one, or the replica it promoted),
    // the trigger asks it again and reads the list written there.
    let value = scalers_testkit::eventually(std::time::Duration::from_secs(30), || {
        set.cmd(&["DEL", &list]);
        set.cmd(&["RPUSH", &list, "a", "b", "c"]);
        let t = &t;
        async move {
            match t.trigger.sample().await {
                Ok(s) if s.value == 3.0 => Ok(s.value),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert_eq!(value, 3.0);
}
