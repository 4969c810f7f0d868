//! The `redis` and `redis-streams` triggers against a real standalone Redis (the testkit's, or
//! the one `.ci/run` started); TLS, password and kill/restart tests use servers of their own.
//! Every test owns its keys and users.

mod redis_common;

use std::time::Duration;

use redis_common::{
    build_in, compliant_failure, compliant_sample, failure, registry, sample, trigger,
};
use scalers_core::trigger::TriggerErrorKind;
use scalers_queue::redis::RedisPool;
use scalers_testkit::{
    RedisOptions, RedisServer, TriggerCase, eventually, refused_address, unique_name,
};

#[tokio::test]
async fn list_length_follows_the_key_type() {
    let server = RedisServer::shared().await;
    let addr = server.address();
    let list = unique_name("list");
    let set = unique_name("set");
    let zset = unique_name("zset");
    let hash = unique_name("hash");
    server.cmd(&["RPUSH", &list, "a", "b", "c"]);
    server.cmd(&["SADD", &set, "a", "b"]);
    server.cmd(&["ZADD", &zset, "1", "a", "2", "b", "3", "c", "4", "d"]);
    server.cmd(&[
        "HSET", &hash, "f1", "1", "f2", "2", "f3", "3", "f4", "4", "f5", "5", "f6", "6",
    ]);
    let registry = registry(&RedisPool::new());
    for (key, expected) in [(&list, 3.0), (&set, 2.0), (&zset, 4.0), (&hash, 6.0)] {
        let metadata = [("address", addr), ("listName", key.as_str())];
        let case = TriggerCase::new("redis", &metadata);
        assert_eq!(
            compliant_sample(&registry, &case).await,
            (expected, true),
            "{key}"
        );
    }
    let missing = trigger(
        "redis",
        &[("address", addr), ("listName", &unique_name("missing"))],
    );
    assert_eq!(sample(&missing).await, (0.0, false));
}

#[tokio::test]
async fn list_activation_and_target_follow_the_metadata() {
    let server = RedisServer::shared().await;
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a", "b", "c"]);
    let at_threshold = trigger(
        "redis",
        &[
            ("address", server.address()),
            ("listName", &list),
            ("activationListLength", "3"),
            ("listLength", "2"),
        ],
    );
    assert_eq!(sample(&at_threshold).await, (3.0, false));
    assert_eq!(at_threshold.trigger.target().value, 2.0);
    assert_eq!(at_threshold.trigger.target().activation_threshold, 3.0);
    let below = trigger(
        "redis",
        &[
            ("address", server.address()),
            ("listName", &list),
            ("activationListLength", "2"),
        ],
    );
    assert_eq!(sample(&below).await, (3.0, true));
}

#[tokio::test]
async fn other_key_types_are_bad_responses_naming_the_type() {
    let server = RedisServer::shared().await;
    let string = unique_name("string");
    let stream = unique_name("stream");
    server.cmd(&["SET", &string, "x"]);
    server.cmd(&["XADD", &stream, "*", "f", "v"]);
    for (key, found) in [(&string, "string"), (&stream, "stream")] {
        let t = trigger("redis", &[("address", server.address()), ("listName", key)]);
        assert_eq!(
            failure(&t).await,
            (
                TriggerErrorKind::BadResponse,
                format!(
                    "redis {}: key {key:?} is a {found}; expected a list, set, sorted set or hash",
                    server.address()
                )
            )
        );
    }
}

#[tokio::test]
async fn database_index_selects_the_database() {
    let server = RedisServer::shared().await;
    let list = unique_name("list");
    // Scripts may SELECT; it stays within the script.
    server.cmd(&[
        "EVAL",
        "redis.call('SELECT', 3); return redis.call('RPUSH', KEYS[1], 'a', 'b')",
        "1",
        &list,
    ]);
    let db3 = trigger(
        "redis",
        &[
            ("address", server.address()),
            ("listName", &list),
            ("databaseIndex", "3"),
        ],
    );
    assert_eq!(sample(&db3).await, (2.0, true));
    let db0 = trigger(
        "redis",
        &[("address", server.address()), ("listName", &list)],
    );
    assert_eq!(sample(&db0).await, (0.0, false));
}

#[tokio::test]
async fn stream_length_mode_counts_entries() {
    let server = RedisServer::shared().await;
    let stream = unique_name("stream");
    for i in 0..3 {
        server.cmd(&["XADD", &stream, "*", "n", &i.to_string()]);
    }
    let metadata = [("address", server.address()), ("stream", stream.as_str())];
    let case = TriggerCase::new("redis-streams", &metadata);
    let registry = registry(&RedisPool::new());
    assert_eq!(compliant_sample(&registry, &case).await, (3.0, true));
    let t = trigger("redis-streams", &metadata);
    assert_eq!(t.trigger.target().value, 5.0);
    let missing = trigger(
        "redis-streams",
        &[
            ("address", server.address()),
            ("stream", &unique_name("none")),
        ],
    );
    assert_eq!(sample(&missing).await, (0.0, false));
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a"]);
    let wrong = trigger(
        "redis-streams",
        &[("address", server.address()), ("stream", &list)],
    );
    assert_eq!(
        failure(&wrong).await,
        (
            TriggerErrorKind::BadResponse,
            format!(
                "redis {}: key {list:?} is a list; expected a stream",
                server.address()
            )
        )
    );
}

/// A stream of `entries` entries with group `group` created at its start and `read` of them
/// delivered (and not acknowledged) to a consumer.
fn stream_with_group(server: &RedisServer, entries: usize, read: usize) -> (String, String) {
    let stream = unique_name("stream");
    let group = unique_name("group");
    for i in 0..entries {
        server.cmd(&["XADD", &stream, "*", "n", &i.to_string()]);
    }
    server.cmd(&["XGROUP", "CREATE", &stream, &group, "0"]);
    if read > 0 {
        server.cmd(&[
            "XREADGROUP",
            "GROUP",
            &group,
            "worker",
            "COUNT",
            &read.to_string(),
            "STREAMS",
            &stream,
            ">",
        ]);
    }
    (stream, group)
}

#[tokio::test]
async fn stream_pending_mode_counts_unacknowledged_entries() {
    let server = RedisServer::shared().await;
    let (stream, group) = stream_with_group(server, 5, 2);
    let t = trigger(
        "redis-streams",
        &[
            ("address", server.address()),
            ("stream", &stream),
            ("consumerGroup", &group),
            ("pendingEntriesCount", "7"),
            ("activationLagCount", "2"),
        ],
    );
    assert_eq!(sample(&t).await, (2.0, false));
    assert_eq!(t.trigger.target().value, 7.0);
    let no_group = trigger(
        "redis-streams",
        &[
            ("address", server.address()),
            ("stream", &stream),
            ("consumerGroup", "nobody"),
        ],
    );
    assert_eq!(
        failure(&no_group).await,
        (
            TriggerErrorKind::BadResponse,
            format!(
                "redis {}: stream {stream:?} has no consumer group \"nobody\"",
                server.address()
            )
        )
    );
}

#[tokio::test]
async fn stream_lag_mode_reads_the_group_lag() {
    let server = RedisServer::shared().await;
    let (stream, group) = stream_with_group(server, 5, 2);
    let lag = |stream: &str, group: &str| {
        trigger(
            "redis-streams",
            &[
                ("address", server.address()),
                ("stream", stream),
                ("consumerGroup", group),
                ("lagCount", "10"),
            ],
        )
    };
    let t = lag(&stream, &group);
    assert_eq!(sample(&t).await, (3.0, true));
    assert_eq!(t.trigger.target().value, 10.0);
    // A group that does not exist yet: the whole stream is its lag.
    assert_eq!(sample(&lag(&stream, "not-yet")).await, (5.0, true));
    // No stream: nothing to do.
    assert_eq!(
        sample(&lag(&unique_name("none"), &group)).await,
        (0.0, false)
    );
}

#[tokio::test]
async fn unknown_lag_is_no_data_not_zero() {
    let server = RedisServer::shared().await;
    let stream = unique_name("stream");
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = server.cmd(&["XADD", &stream, "*", "n", &i.to_string()]);
        ids.push(id.as_str().unwrap().to_owned());
    }
    // A group created at an ID in the middle: Redis cannot count what it has read.
    server.cmd(&["XGROUP", "CREATE", &stream, "mid", &ids[1]]);
    let t = trigger(
        "redis-streams",
        &[
            ("address", server.address()),
            ("stream", &stream),
            ("consumerGroup", "mid"),
            ("lagCount", "1"),
        ],
    );
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::NoData,
            format!(
                "redis {}: redis cannot tell the lag of consumer group \"mid\" on stream {stream:?}",
                server.address()
            )
        )
    );
}

#[tokio::test]
async fn acl_user_credentials_from_metadata_authentication_and_env() {
    let server = RedisServer::shared().await;
    let user = unique_name("user");
    server.client().create_user(&user, "s3cret-pw");
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a", "b"]);
    let registry = registry(&RedisPool::new());
    let base = [
        ("address", server.address()),
        ("listName", list.as_str()),
        ("username", user.as_str()),
    ];
    let from_auth = build_in(&registry, "redis", &base, &[("password", "s3cret-pw")], &[]).unwrap();
    assert_eq!(sample(&from_auth).await, (2.0, true));
    let mut with_env = base.to_vec();
    with_env.push(("passwordFromEnv", "REDIS_PASSWORD"));
    let from_env = build_in(
        &registry,
        "redis",
        &with_env,
        &[],
        &[("REDIS_PASSWORD", "s3cret-pw")],
    )
    .unwrap();
    assert_eq!(sample(&from_env).await, (2.0, true));

    let wrong = build_in(&registry, "redis", &base, &[("password", "not-it-pw")], &[]).unwrap();
    let (kind, message) = failure(&wrong).await;
    assert_eq!(kind, TriggerErrorKind::Unauthorized);
    assert_eq!(
        message,
        format!(
            "redis {}: authentication failed for user {user:?}",
            server.address()
        )
    );
    assert!(!message.contains("not-it-pw") && !format!("{wrong:?}").contains("not-it-pw"));
    // The failure is not cached forever: fixing the user on the server fixes the trigger.
    server.client().create_user(&user, "not-it-pw");
    eventually(Duration::from_secs(20), || async {
        wrong.trigger.sample().await.map(|s| s.value)
    })
    .await;
}

#[tokio::test]
async fn default_user_password_and_its_failure() {
    let server = RedisServer::start(RedisOptions {
        password: Some("default-pw".to_owned()),
        ..RedisOptions::default()
    })
    .await;
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a"]);
    let registry = registry(&RedisPool::new());
    let meta = [("address", server.address()), ("listName", list.as_str())];
    let ok = TriggerCase::new("redis", &meta).auth(&[("password", "default-pw")]);
    assert_eq!(compliant_sample(&registry, &ok).await, (1.0, true));
    let wrong = TriggerCase::new("redis", &meta).auth(&[("password", "wrong-pw")]);
    assert_eq!(
        compliant_failure(&registry, &wrong).await,
        (
            TriggerErrorKind::Unauthorized,
            format!(
                "redis {}: authentication failed for the default user",
                server.address()
            )
        )
    );
    let none = build_in(&registry, "redis", &meta, &[], &[]).unwrap();
    assert_eq!(
        failure(&none).await,
        (
            TriggerErrorKind::Unauthorized,
            format!(
                "redis {}: authentication failed for the default user",
                server.address()
            )
        )
    );
}

#[tokio::test]
async fn tls_with_the_test_ca_and_a_client_certificate() {
    let server = RedisServer::start(RedisOptions {
        tls: true,
        ..RedisOptions::default()
    })
    .await;
    let tls = server.tls().unwrap();
    let tls_addr = server.tls_address().unwrap();
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a", "b", "c", "d"]);
    let registry = registry(&RedisPool::new());
    let meta = [("address", tls_addr), ("listName", list.as_str())];
    let material = [
        ("ca", tls.ca.as_str()),
        ("cert", tls.client_cert.as_str()),
        ("key", tls.client_key.as_str()),
    ];

    let mut enable = meta.to_vec();
    enable.push(("enableTLS", "true"));
    let t = build_in(&registry, "redis", &enable, &material, &[]).unwrap();
    assert_eq!(sample(&t).await, (4.0, true));

    // The same client key encrypted (PKCS#8, AES-256-CBC), with KEDA's keyPassword.
    let encrypted = openssl::pkey::PKey::private_key_from_pem(tls.client_key.as_bytes())
        .and_then(|k| {
            k.private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"pw")
        })
        .map(|pem| String::from_utf8(pem).unwrap())
        .unwrap();
    let with_password = [
        ("ca", tls.ca.as_str()),
        ("cert", tls.client_cert.as_str()),
        ("key", encrypted.as_str()),
        ("keyPassword", "pw"),
    ];
    let t = build_in(&registry, "redis", &enable, &with_password, &[]).unwrap();
    assert_eq!(sample(&t).await, (4.0, true));

    let mut auth = material.to_vec();
    auth.push(("tls", "enable"));
    let t = build_in(
        &registry,
        "redis-streams",
        &[("address", tls_addr), ("stream", &list)],
        &auth,
        &[],
    )
    .unwrap();
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::BadResponse,
            format!("redis {tls_addr} (tls): key {list:?} is a list; expected a stream")
        )
    );

    // unsafeSsl: no CA needed.
    let mut unsafe_ssl = enable.clone();
    unsafe_ssl.push(("unsafeSsl", "true"));
    let t = build_in(&registry, "redis", &unsafe_ssl, &material[1..], &[]).unwrap();
    assert_eq!(sample(&t).await, (4.0, true));

    // The server is not trusted without the CA; the server requires a client certificate.
    let unavailable = format!("redis {tls_addr} (tls): cannot connect");
    let t = build_in(&registry, "redis", &enable, &material[1..], &[]).unwrap();
    assert_eq!(
        failure(&t).await,
        (TriggerErrorKind::Unavailable, unavailable.clone())
    );
    let t = build_in(&registry, "redis", &enable, &material[..1], &[]).unwrap();
    assert_eq!(
        failure(&t).await,
        (TriggerErrorKind::Unavailable, unavailable)
    );
    // Plain TCP to the TLS port.
    let t = build_in(&registry, "redis", &meta, &[], &[]).unwrap();
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::Unavailable,
            format!("redis {tls_addr}: cannot connect")
        )
    );
}

#[tokio::test]
async fn killed_server_fails_as_unavailable_then_recovers() {
    let mut server = RedisServer::start(RedisOptions::default()).await;
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a", "b"]);
    let t = trigger(
        "redis",
        &[("address", server.address()), ("listName", &list)],
    );
    assert_eq!(sample(&t).await, (2.0, true));

    server.kill();
    let unavailable = (
        TriggerErrorKind::Unavailable,
        format!("redis {}: cannot connect", server.address()),
    );
    assert_eq!(failure(&t).await, unavailable);
    // Still down: the reconnection attempts fail too, and never read as 0.
    assert_eq!(failure(&t).await, unavailable);

    server.restart().await;
    server.cmd(&["RPUSH", &list, "a", "b", "c", "d"]);
    let value = eventually(Duration::from_secs(20), || async {
        match t.trigger.sample().await {
            Ok(s) if s.value == 4.0 => Ok(s.value),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(value, 4.0);
}

#[tokio::test]
async fn refused_port_is_unavailable() {
    let address = refused_address();
    let t = trigger("redis", &[("address", &address), ("listName", "jobs")]);
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::Unavailable,
            format!("redis {address}: cannot connect")
        )
    );
}

#[tokio::test]
async fn the_crate_error_is_kept_for_downcasting_and_printed_once() {
    let address = refused_address();
    let t = trigger("redis", &[("address", &address), ("listName", "jobs")]);
    let e = t.trigger.sample().await.unwrap_err();
    match e.downcast_ref::<scalers_queue::redis::Error>() {
        Some(scalers_queue::redis::Error::Unavailable { source, .. }) => {
            let next = std::error::Error::source(&e).expect("the client error");
            assert!(next.is::<redis::RedisError>(), "{next:?}");
            assert_eq!(next.to_string(), source.to_string());
        }
        other => panic!("not this crate's Unavailable error: {other:?}"),
    }
}

#[tokio::test]
async fn silent_server_times_out_within_three_seconds() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let t = trigger("redis", &[("address", &address), ("listName", "jobs")]);
    let started = std::time::Instant::now();
    let (kind, message) = failure(&t).await;
    assert_eq!(kind, TriggerErrorKind::Timeout);
    assert_eq!(
        message,
        format!("redis {address}: no answer within 3000 ms")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_triggers_share_one_connection() {
    let server = RedisServer::shared().await;
    // A user of this test only, so CLIENT LIST counts exactly our connections.
    let user = unique_name("sharing");
    server.client().create_user(&user, "share-pw");
    let pool = RedisPool::new();
    let registry = registry(&pool);
    let list = unique_name("list");
    let stream = unique_name("stream");
    server.cmd(&["RPUSH", &list, "a", "b", "c"]);
    server.cmd(&["XADD", &stream, "*", "f", "v"]);
    let auth = [("username", user.as_str()), ("password", "share-pw")];
    let triggers: Vec<_> = (0..200)
        .map(|i| {
            let built = if i % 2 == 0 {
                build_in(
                    &registry,
                    "redis",
                    &[("address", server.address()), ("listName", &list)],
                    &auth,
                    &[],
                )
            } else {
                build_in(
                    &registry,
                    "redis-streams",
                    &[("address", server.address()), ("stream", &stream)],
                    &auth,
                    &[],
                )
            };
            built.unwrap()
        })
        .collect();
    assert_eq!(pool.len(), 1);

    for round in 0..2 {
        let mut samples = tokio::task::JoinSet::new();
        for (i, t) in triggers.iter().enumerate() {
            let t = t.trigger.clone();
            samples.spawn(async move { (i, t.sample().await.map(|s| s.value)) });
        }
        let mut seen = 0;
        while let Some(joined) = samples.join_next().await {
            let (i, value) = joined.unwrap();
            let expected = if i % 2 == 0 { 3.0 } else { 1.0 };
            assert_eq!(value.unwrap(), expected, "trigger {i}, round {round}");
            seen += 1;
        }
        assert_eq!(seen, 200);
        assert_eq!(server.client().clients_of_user(&user), 1, "round {round}");
    }
    // The connection goes with the last trigger.
    drop(triggers);
    drop(registry);
    assert_eq!(pool.len(), 0);
    eventually(Duration::from_secs(10), || {
        let n = server.client().clients_of_user(&user);
        async move { (n == 0).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn user_without_permission_is_unauthorized_naming_the_command() {
    let server = RedisServer::shared().await;
    let user = unique_name("limited");
    server.cmd(&[
        "ACL",
        "SETUSER",
        &user,
        "reset",
        "on",
        ">limited-pw",
        "~*",
        "-@all",
        "+ping",
        "+client",
    ]);
    let t = build_in(
        &registry(&RedisPool::new()),
        "redis-streams",
        &[
            ("address", server.address()),
            ("stream", "s"),
            ("consumerGroup", "g"),
            ("username", &user),
        ],
        &[("password", "limited-pw")],
        &[],
    )
    .unwrap();
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::Unauthorized,
            format!(
                "redis {}: user {user:?} may not run XPENDING",
                server.address()
            )
        )
    );
}

/// `ca` adds to the system's roots (the rule of `scalers_core::tls`): with a `ca` that did not
/// issue the server's certificate (another test CA), the server is refused while the system
/// does not trust its CA, and accepted in a run whose system roots hold that CA.
#[tokio::test]
async fn ca_adds_to_the_system_roots() {
    // A CA that did not issue this server's certificate: the HTTP triggers' test CA.
    const OTHER_CA: &str = include_str!("../../scalers-prometheus/tests/tls/ca.pem");
    let build = |addr: &str, list: &str, cert: &str, key: &str| {
        build_in(
            &registry(&RedisPool::new()),
            "redis",
            &[("address", addr), ("listName", list), ("enableTLS", "true")],
            &[("ca", OTHER_CA), ("cert", cert), ("key", key)],
            &[],
        )
        .unwrap()
    };
    if scalers_testkit::child_var("RUN").is_some() {
        let var = |k: &str| scalers_testkit::child_var(k).unwrap();
        let t = build(&var("ADDR"), &var("LIST"), &var("CERT"), &var("KEY"));
        assert_eq!(sample(&t).await, (2.0, true));
        return;
    }
    let server = RedisServer::start(RedisOptions {
        tls: true,
        ..RedisOptions::default()
    })
    .await;
    let tls = server.tls().unwrap().clone();
    let tls_addr = server.tls_address().unwrap().to_owned();
    let list = unique_name("list");
    server.cmd(&["RPUSH", &list, "a", "b"]);

    let t = build(&tls_addr, &list, &tls.client_cert, &tls.client_key);
    assert_eq!(
        failure(&t).await,
        (
            TriggerErrorKind::Unavailable,
            format!("redis {tls_addr} (tls): cannot connect")
        )
    );
    let vars = [
        ("ADDR", tls_addr.clone()),
        ("LIST", list),
        ("CERT", tls.client_cert.clone()),
        ("KEY", tls.client_key.clone()),
    ];
    let ca = tls.ca.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        scalers_testkit::run_with_system_roots("ca_adds_to_the_system_roots", &ca, &vars)
    })
    .await
    .unwrap();
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

#[tokio::test]
async fn length_scripts_are_loaded_again_after_the_server_forgets_them() {
    // The triggers send their length scripts by hash (EVALSHA); a server that has not seen a
    // script (a new one, a restarted one, or after SCRIPT FLUSH) answers NOSCRIPT, and the
    // script is loaded and run again within the same sample.
    let server = RedisServer::start(RedisOptions::default()).await;
    let list = unique_name("list");
    let stream = unique_name("stream");
    server.cmd(&["RPUSH", &list, "a", "b"]);
    server.cmd(&["XADD", &stream, "*", "n", "1"]);
    let list_trigger = trigger(
        "redis",
        &[("address", server.address()), ("listName", &list)],
    );
    let stream_trigger = trigger(
        "redis-streams",
        &[("address", server.address()), ("stream", &stream)],
    );
    let cached = || {
        let info = server.cmd(&["INFO", "memory"]);
        let info = info.as_str().unwrap_or_default().to_owned();
        info.lines()
            .find_map(|l| l.strip_prefix("number_of_cached_scripts:"))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    for round in 0..3 {
        assert_eq!(sample(&list_trigger).await, (2.0, true), "round {round}");
        assert_eq!(sample(&stream_trigger).await, (1.0, true), "round {round}");
        assert_eq!(cached(), Some(2), "round {round}: both scripts loaded");
        server.cmd(&["SCRIPT", "FLUSH"]);
        assert_eq!(cached(), Some(0), "round {round}: flushed");
    }
}
