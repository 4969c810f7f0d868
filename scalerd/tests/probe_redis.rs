//! `scalerd probe` against real Redis servers (the testkit's, or the ones `.ci/run` started):
//! every key type and stream mode on every topology, credentials, a killed server, connection
//! sharing, and the shipped Redis example configs. Each test owns its keys.

use std::path::Path;

use scalers_testkit::{RedisCluster, RedisOptions, RedisSentinel, RedisServer, unique_name};
use serde_json::json;

mod probe_support;

use probe_support::{config, failed, ok, probe};

/// Fills keys of every type through `cmd`; returns (list, set, zset, hash, string) names.
fn fill_keys(cmd: &dyn Fn(&[&str])) -> [String; 5] {
    let names = ["list", "set", "zset", "hash", "string"].map(unique_name);
    cmd(&["RPUSH", &names[0], "a", "b", "c"]);
    cmd(&["SADD", &names[1], "a", "b"]);
    cmd(&["ZADD", &names[2], "1", "a", "2", "b", "3", "c", "4", "d"]);
    cmd(&[
        "HSET", &names[3], "f1", "1", "f2", "2", "f3", "3", "f4", "4", "f5", "5", "f6", "6",
    ]);
    cmd(&["SET", &names[4], "x"]);
    names
}

/// Checks a list probe over every key type with connection metadata `conn`.
fn check_key_types(kind: &str, conn: &[(&str, String)], cmd: &dyn Fn(&[&str]), endpoint: &str) {
    let [list, set, zset, hash, string] = fill_keys(cmd);
    let missing = unique_name("missing");
    let trigger = |name: &'static str, key: &str| {
        let mut m = conn.to_vec();
        m.push(("listName", key.to_owned()));
        (name, kind, m)
    };
    let (code, lines) = probe(&config(&[
        trigger("list", &list),
        trigger("set", &set),
        trigger("zset", &zset),
        trigger("hash", &hash),
        trigger("missing", &missing),
        trigger("string", &string),
    ]));
    assert_eq!(code, 1, "one trigger failed");
    assert_eq!(
        lines,
        vec![
            ok("list", kind, 3, true, 5),
            ok("set", kind, 2, true, 5),
            ok("zset", kind, 4, true, 5),
            ok("hash", kind, 6, true, 5),
            ok("missing", kind, 0, false, 5),
            failed(
                "string",
                kind,
                &format!(
                    "{endpoint}: key {string:?} is a string; expected a list, set, sorted set or hash"
                ),
                "bad_response",
                5
            ),
        ]
    );
}

/// Checks a stream probe over every mode with connection metadata `conn`.
fn check_stream_modes(kind: &str, conn: &[(&str, String)], cmd: &dyn Fn(&[&str]), endpoint: &str) {
    let stream = unique_name("stream");
    let group = unique_name("group");
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
    let trigger = |name: &'static str, extra: &[(&'static str, &str)]| {
        let mut m = conn.to_vec();
        m.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        (name, kind, m)
    };
    let (code, lines) = probe(&config(&[
        trigger("length", &[("stream", &stream), ("streamLength", "4")]),
        trigger("pending", &[("stream", &stream), ("consumerGroup", &group)]),
        trigger(
            "lag",
            &[
                ("stream", &stream),
                ("consumerGroup", &group),
                ("lagCount", "2"),
                ("activationLagCount", "4"),
            ],
        ),
        trigger(
            "new-group",
            &[
                ("stream", &stream),
                ("consumerGroup", "later"),
                ("lagCount", "3"),
            ],
        ),
        trigger(
            "no-stream",
            &[
                ("stream", "nothing-here"),
                ("consumerGroup", &group),
                ("lagCount", "3"),
            ],
        ),
        trigger(
            "no-group",
            &[("stream", &stream), ("consumerGroup", "nobody")],
        ),
    ]));
    assert_eq!(code, 1, "one trigger failed");
    assert_eq!(
        lines,
        vec![
            ok("length", kind, 6, true, 4),
            ok("pending", kind, 2, true, 5),
            ok("lag", kind, 4, false, 2),
            ok("new-group", kind, 6, true, 3),
            ok("no-stream", kind, 0, false, 3),
            failed(
                "no-group",
                kind,
                &format!("{endpoint}: stream {stream:?} has no consumer group \"nobody\""),
                "bad_response",
                5
            ),
        ]
    );
}

#[tokio::test]
async fn probe_reads_every_key_type_and_stream_mode_on_a_standalone_server() {
    let server = RedisServer::shared().await;
    let conn = [("address", server.address().to_owned())];
    let cmd = |args: &[&str]| drop(server.cmd(args));
    let endpoint = format!("redis {}", server.address());
    check_key_types("redis", &conn, &cmd, &endpoint);
    check_stream_modes("redis-streams", &conn, &cmd, &endpoint);
}

#[tokio::test]
async fn probe_reads_every_key_type_and_stream_mode_on_a_cluster() {
    let cluster = RedisCluster::shared().await;
    let conn = [("addresses", cluster.nodes().join(","))];
    let cmd = |args: &[&str]| drop(cluster.cmd(args));
    let endpoint = format!("redis cluster {}", cluster.nodes().join(","));
    check_key_types("redis-cluster", &conn, &cmd, &endpoint);
    check_stream_modes("redis-cluster-streams", &conn, &cmd, &endpoint);
}

#[tokio::test]
async fn probe_reads_every_key_type_and_stream_mode_through_sentinel() {
    let set = RedisSentinel::shared().await;
    let conn = [
        ("addresses", set.sentinel_address().to_owned()),
        ("sentinelMaster", set.master_name().to_owned()),
    ];
    let cmd = |args: &[&str]| drop(set.cmd(args));
    let endpoint = format!(
        "redis sentinel master {:?} via {}",
        set.master_name(),
        set.sentinel_address()
    );
    check_key_types("redis-sentinel", &conn, &cmd, &endpoint);
    check_stream_modes("redis-sentinel-streams", &conn, &cmd, &endpoint);
}

#[tokio::test]
async fn probe_reports_refused_credentials_without_the_password() {
    let server = RedisServer::shared().await;
    let user = unique_name("user");
    server.client().create_user(&user, "right-pw");
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a"]);
    let trigger = |name: &'static str, password: &str| {
        (
            name,
            "redis",
            vec![
                ("address", server.address().to_owned()),
                ("listName", list.clone()),
                ("username", user.clone()),
                ("password", password.to_owned()),
            ],
        )
    };
    let (code, lines) = probe(&config(&[
        trigger("right", "right-pw"),
        trigger("wrong", "wrong-pw"),
    ]));
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        vec![
            ok("right", "redis", 1, true, 5),
            failed(
                "wrong",
                "redis",
                &format!(
                    "redis {}: authentication failed for user {user:?}",
                    server.address()
                ),
                "unauthorized",
                5
            ),
        ]
    );
    assert!(!lines[1].to_string().contains("wrong-pw"));
}

#[tokio::test]
async fn probe_reports_tls_values_and_unavailable_servers() {
    let server = RedisServer::start(RedisOptions {
        tls: true,
        ..RedisOptions::default()
    })
    .await;
    let tls = server.tls().unwrap();
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a", "b"]);
    let tls_addr = server.tls_address().unwrap().to_owned();
    // KEDA takes TLS material from an authentication; inline metadata works the same way here.
    let (code, lines) = probe(&config(&[
        (
            "tls",
            "redis",
            vec![
                ("address", tls_addr.clone()),
                ("listName", list.clone()),
                ("enableTLS", "true".to_owned()),
                ("ca", tls.ca.clone()),
                ("cert", tls.client_cert.clone()),
                ("key", tls.client_key.clone()),
            ],
        ),
        (
            "untrusted",
            "redis",
            vec![
                ("address", tls_addr.clone()),
                ("listName", list.clone()),
                ("enableTLS", "true".to_owned()),
                ("cert", tls.client_cert.clone()),
                ("key", tls.client_key.clone()),
            ],
        ),
    ]));
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        vec![
            ok("tls", "redis", 2, true, 5),
            failed(
                "untrusted",
                "redis",
                &format!("redis {tls_addr} (tls): cannot connect"),
                "unavailable",
                5
            ),
        ]
    );
}

#[tokio::test]
async fn probe_fails_while_the_server_is_down_and_recovers() {
    let mut server = RedisServer::start(RedisOptions::default()).await;
    let list = unique_name("list");
    let text = config(&[(
        "jobs",
        "redis",
        vec![
            ("address", server.address().to_owned()),
            ("listName", list.clone()),
        ],
    )]);
    server.cmd(&["RPUSH", &list, "a", "b"]);
    assert_eq!(probe(&text), (0, vec![ok("jobs", "redis", 2, true, 5)]));
    server.kill();
    assert_eq!(
        probe(&text),
        (
            1,
            vec![failed(
                "jobs",
                "redis",
                &format!("redis {}: cannot connect", server.address()),
                "unavailable",
                5
            )]
        )
    );
    server.restart().await;
    server.cmd(&["RPUSH", &list, "a"]);
    assert_eq!(probe(&text), (0, vec![ok("jobs", "redis", 1, true, 5)]));
}

#[tokio::test]
async fn probe_shares_one_connection_among_two_hundred_triggers() {
    // A server of this test's own, so its connection counter counts only scalerd.
    let server = RedisServer::start(RedisOptions::default()).await;
    let list = unique_name("list");
    let stream = unique_name("stream");
    server.cmd(&["RPUSH", &list, "a", "b", "c"]);
    server.cmd(&["XADD", &stream, "*", "f", "v"]);
    let names: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
    let triggers: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i % 2 == 0 {
                (
                    name.as_str(),
                    "redis",
                    vec![
                        ("address", server.address().to_owned()),
                        ("listName", list.clone()),
                    ],
                )
            } else {
                (
                    name.as_str(),
                    "redis-streams",
                    vec![
                        ("address", server.address().to_owned()),
                        ("stream", stream.clone()),
                    ],
                )
            }
        })
        .collect();
    let text = config(&triggers);
    let client = server.client();
    let before = client.total_connections_received();
    let (code, lines) = probe(&text);
    // `after` counts its own connection too.
    let opened = client.total_connections_received() - before - 1;
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 200);
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");
    assert_eq!(lines[0], ok("t0", "redis", 3, true, 5));
    assert_eq!(lines[199], ok("t199", "redis-streams", 1, true, 5));
    // One multiplexed connection carries every sample.
    assert_eq!(
        opened, 1,
        "scalerd opened {opened} connections for 200 triggers"
    );
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/configs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn shipped_redis_examples_probe_real_servers() {
    let server = RedisServer::shared().await;
    let cluster = RedisCluster::shared().await;
    let set = RedisSentinel::shared().await;

    let text = example("redis-list.yaml").replace("redis.jobs:6379", server.address());
    let list = unique_name("jobs");
    let text = text.replace("listName: jobs", &format!("listName: {list}"));
    for _ in 0..25 {
        server.cmd(&["RPUSH", &list, "job"]);
    }
    assert_eq!(
        probe(&text),
        (
            0,
            vec![json!({
                "scaledObject": "jobs/jobs-worker", "trigger": "jobs", "type": "redis",
                "value": 25, "active": true, "target": 10, "metricType": "AverageValue"
            })]
        )
    );

    let stream = unique_name("events");
    let text = example("redis-streams.yaml")
        .replace("redis.events:6379", server.address())
        .replace("stream: events", &format!("stream: {stream}"));
    for i in 0..7 {
        server.cmd(&["XADD", &stream, "*", "n", &i.to_string()]);
    }
    server.cmd(&["XGROUP", "CREATE", &stream, "consumers", "0"]);
    assert_eq!(
        probe(&text),
        (
            0,
            vec![json!({
                "scaledObject": "events/events-consumer", "trigger": "lag", "type": "redis-streams",
                "value": 7, "active": true, "target": 50, "metricType": "AverageValue"
            })]
        )
    );

    let outbox = unique_name("outbox");
    let audit = unique_name("audit");
    cluster.cmd(&["RPUSH", &outbox, "m1", "m2"]);
    set.cmd(&["XADD", &audit, "*", "a", "1"]);
    let text = example("redis-cluster-sentinel.yaml")
        .replace(
            "redis-0.redis:6379,redis-1.redis:6379,redis-2.redis:6379",
            &cluster.nodes().join(","),
        )
        .replace(
            "sentinel-0.sentinel:26379,sentinel-1.sentinel:26379",
            set.sentinel_address(),
        )
        .replace(
            "sentinelMaster: mymaster",
            &format!("sentinelMaster: {}", set.master_name()),
        )
        .replace("listName: outbox", &format!("listName: {outbox}"))
        .replace("stream: audit", &format!("stream: {audit}"));
    assert_eq!(
        probe(&text),
        (
            0,
            vec![
                json!({
                    "scaledObject": "mail/mail-sender", "trigger": "outbox", "type": "redis-cluster",
                    "value": 2, "active": true, "target": 100, "metricType": "AverageValue"
                }),
                json!({
                    "scaledObject": "audit/audit-writer", "trigger": "audit",
                    "type": "redis-sentinel-streams", "value": 1, "active": true,
                    "target": 1000, "metricType": "AverageValue"
                }),
            ]
        )
    );
}
