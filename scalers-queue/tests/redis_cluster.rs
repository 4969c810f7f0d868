//! The `redis-cluster` and `redis-cluster-streams` triggers against a real 3-master cluster
//! (the testkit's, or the one `.ci/run` started). Keys land on different nodes.

mod redis_common;

use redis_common::{assert_list_types, assert_stream_modes, build_in, failure, registry, sample};
use scalers_core::trigger::TriggerErrorKind;
use scalers_queue::redis::RedisPool;
use scalers_testkit::{RedisCluster, unique_name};

fn endpoint(cluster: &RedisCluster) -> String {
    format!("redis cluster {}", cluster.nodes().join(","))
}

#[tokio::test]
async fn list_length_follows_the_key_type_on_a_cluster() {
    let cluster = RedisCluster::shared().await;
    let nodes = cluster.nodes().join(",");
    let cmd = |args: &[&str]| cluster.cmd(args);
    assert_list_types(
        "redis-cluster",
        &[("addresses", &nodes)],
        &[],
        &cmd,
        &endpoint(cluster),
    )
    .await;
}

#[tokio::test]
async fn stream_modes_on_a_cluster() {
    let cluster = RedisCluster::shared().await;
    let nodes = cluster.nodes().join(",");
    let cmd = |args: &[&str]| cluster.cmd(args);
    assert_stream_modes(
        "redis-cluster-streams",
        &[("addresses", &nodes)],
        &cmd,
        &endpoint(cluster),
    )
    .await;
}

#[tokio::test]
async fn hosts_and_ports_reach_the_cluster_too() {
    let cluster = RedisCluster::shared().await;
    let (hosts, ports): (Vec<&str>, Vec<&str>) = cluster
        .nodes()
        .iter()
        .map(|n| n.rsplit_once(':').unwrap())
        .unzip();
    let (hosts, ports) = (hosts.join(","), ports.join(","));
    let list = unique_name("list");
    cluster.cmd(&["RPUSH", &list, "a", "b"]);
    let t = build_in(
        &registry(&RedisPool::new()),
        "redis-cluster",
        &[("hosts", &hosts), ("ports", &ports), ("listName", &list)],
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(sample(&t).await, (2.0, true));
}

#[tokio::test]
async fn acl_user_on_a_cluster_and_its_failure() {
    let cluster = RedisCluster::shared().await;
    let nodes = cluster.nodes().join(",");
    let user = unique_name("user");
    cluster.create_user(&user, "cluster-pw");
    let cmd = |args: &[&str]| cluster.cmd(args);
    let base = [("addresses", nodes.as_str()), ("username", user.as_str())];
    assert_list_types(
        "redis-cluster",
        &base,
        &[("password", "cluster-pw")],
        &cmd,
        &endpoint(cluster),
    )
    .await;
    let t = build_in(
        &registry(&RedisPool::new()),
        "redis-cluster",
        &[
            ("addresses", &nodes),
            ("username", &user),
            ("listName", "q"),
        ],
        &[("password", "wrong-pw")],
        &[],
    )
    .unwrap();
    let (kind, message) = failure(&t).await;
    assert_eq!(
        (kind, message.as_str()),
        (
            TriggerErrorKind::Unauthorized,
            format!(
                "{}: authentication failed for user {user:?}",
                endpoint(cluster)
            )
            .as_str()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_triggers_share_one_client() {
    let cluster = RedisCluster::shared().await;
    let nodes = cluster.nodes().join(",");
    let user = unique_name("sharing");
    cluster.create_user(&user, "share-pw");
    let pool = RedisPool::new();
    let registry = registry(&pool);
    // Keys on every node.
    let keys: Vec<String> = (0..30).map(|i| unique_name(&format!("key{i}"))).collect();
    for key in &keys {
        cluster.cmd(&["RPUSH", key, "a"]);
    }
    let triggers: Vec<_> = (0..150)
        .map(|i| {
            build_in(
                &registry,
                "redis-cluster",
                &[
                    ("addresses", &nodes),
                    ("username", &user),
                    ("listName", &keys[i % 30]),
                ],
                &[("password", "share-pw")],
                &[],
            )
            .unwrap()
        })
        .collect();
    assert_eq!(pool.len(), 1);
    let mut samples = tokio::task::JoinSet::new();
    for t in &triggers {
        let t = t.trigger.clone();
        samples.spawn(async move { t.sample().await.map(|s| s.value) });
    }
    while let Some(joined) = samples.join_next().await {
        assert_eq!(joined.unwrap().unwrap(), 1.0);
    }
    // One connection per node (the cluster client's), not one per trigger.
    let per_node: Vec<usize> = cluster
        .clients()
        .iter()
        .map(|c| c.clients_of_user(&user))
        .collect();
    assert_eq!(per_node, vec![1, 1, 1]);
}
