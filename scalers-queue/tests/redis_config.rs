//! Building Redis triggers from config: defaults, topologies, values from every source, stream
//! modes, and the exact errors for invalid parameters (all reported at once). No I/O happens
//! here: every address is unreachable.

mod redis_common;

use redis_common::{build_in, registry};
use scalers_core::config::model::MetricType;
use scalers_core::secret::Secret;
use scalers_core::trigger::{BuildContext, MetricTarget, Params};
use scalers_queue::redis::{
    Address, Connection, ListConfig, RedisPool, StreamConfig, StreamMode, Topology, TopologyKind,
};
use scalers_testkit::pairs as errors;

fn kind_of(trigger_type: &str) -> TopologyKind {
    if trigger_type.starts_with("redis-cluster") {
        TopologyKind::Cluster
    } else if trigger_type.starts_with("redis-sentinel") {
        TopologyKind::Sentinel
    } else {
        TopologyKind::Standalone
    }
}

/// Parses with `parse`, returning the value or the `(path, message)` errors.
fn parse<T>(
    trigger_type: &str,
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    parse: impl FnOnce(&mut Params<'_>, TopologyKind, &str) -> Result<T, scalers_core::trigger::Invalid>,
) -> Result<T, Vec<(String, String)>> {
    scalers_testkit::read_params(trigger_type, metadata, auth, &[], |p| {
        parse(p, kind_of(trigger_type), trigger_type)
    })
}

fn list(
    trigger_type: &str,
    metadata: &[(&str, &str)],
) -> Result<ListConfig, Vec<(String, String)>> {
    parse(trigger_type, metadata, &[], ListConfig::from_params)
}

fn stream(metadata: &[(&str, &str)]) -> Result<StreamConfig, Vec<(String, String)>> {
    parse("redis-streams", metadata, &[], StreamConfig::from_params)
}

fn build_errors(trigger_type: &str, metadata: &[(&str, &str)]) -> Vec<(String, String)> {
    build_errors_with(trigger_type, metadata, &[])
}

fn build_errors_with(
    trigger_type: &str,
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
) -> Vec<(String, String)> {
    match build_in(
        &registry(&RedisPool::new()),
        trigger_type,
        metadata,
        auth,
        &[],
    ) {
        Ok(t) => panic!("expected errors, built {t:?}"),
        Err(e) => e,
    }
}

fn addr(host: &str, port: u16) -> Address {
    Address {
        host: host.to_owned(),
        port,
    }
}

#[test]
fn list_defaults_are_keda_defaults() {
    let c = list(
        "redis",
        &[("address", "redis.invalid:6379"), ("listName", "jobs")],
    )
    .unwrap();
    assert_eq!(c.list_name, "jobs");
    assert_eq!(c.list_length, 5);
    assert_eq!(c.activation_list_length, 0);
    assert_eq!(c.metric_type, MetricType::AverageValue);
    assert_eq!(
        c.connection,
        Connection {
            topology: Topology::Standalone {
                address: addr("redis.invalid", 6379),
                database: 0
            },
            username: None,
            password: None,
            tls: None,
        }
    );
    assert_eq!(c.connection.endpoint(), "redis redis.invalid:6379");
}

#[test]
fn target_follows_list_length_activation_and_metric_type() {
    let mut object = scalers_testkit::object_with_trigger(
        "redis",
        &[
            ("address", "redis.invalid:6379"),
            ("listName", "jobs"),
            ("listLength", "20"),
            ("activationListLength", "-1"),
        ],
    );
    object.triggers[0].metric_type = MetricType::Value;
    let no_env = |_: &str| None;
    let built = registry(&RedisPool::new())
        .build(BuildContext::new(&object, 0).with_env(&no_env))
        .unwrap();
    assert_eq!(
        built.trigger.target(),
        MetricTarget {
            value: 20.0,
            metric_type: MetricType::Value,
            activation_threshold: -1.0,
        }
    );
}

#[test]
fn addresses_hosts_and_ports_build_each_topology() {
    let c = list(
        "redis",
        &[
            ("host", "10.0.0.1"),
            ("port", "6380"),
            ("listName", "q"),
            ("databaseIndex", "2"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.connection.topology,
        Topology::Standalone {
            address: addr("10.0.0.1", 6380),
            database: 2
        }
    );
    assert_eq!(c.connection.endpoint(), "redis 10.0.0.1:6380 db 2");
    let c = list(
        "redis-cluster",
        &[
            ("hosts", "a, b,c"),
            ("ports", "7000,7001,7002"),
            ("listName", "q"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.connection.topology,
        Topology::Cluster {
            nodes: vec![addr("a", 7000), addr("b", 7001), addr("c", 7002)]
        }
    );
    assert_eq!(
        c.connection.endpoint(),
        "redis cluster a:7000,b:7001,c:7002"
    );
    let c = parse(
        "redis-sentinel",
        &[
            ("addresses", "s1:26379,[::1]:26380"),
            ("listName", "q"),
            ("sentinelMaster", "mymaster"),
            ("enableTLS", "true"),
        ],
        &[("sentinelPassword", "sentinel-pw"), ("password", "data-pw")],
        ListConfig::from_params,
    )
    .unwrap();
    assert_eq!(
        c.connection.topology,
        Topology::Sentinel {
            sentinels: vec![addr("s1", 26379), addr("::1", 26380)],
            master: "mymaster".to_owned(),
            database: 0,
            sentinel_username: None,
            sentinel_password: Some(Secret::new("sentinel-pw")),
        }
    );
    assert_eq!(
        c.connection.endpoint(),
        "redis sentinel master \"mymaster\" via s1:26379,[::1]:26380 (tls)"
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("sentinel-pw") && !shown.contains("data-pw"),
        "{shown}"
    );
}

#[test]
fn address_and_credentials_come_from_env_and_authentication() {
    let registry = registry(&RedisPool::new());
    let built = build_in(
        &registry,
        "redis",
        &[
            ("addressFromEnv", "REDIS_ADDR"),
            ("listName", "q"),
            ("usernameFromEnv", "REDIS_USER"),
        ],
        &[("password", "pw")],
        &[("REDIS_ADDR", "redis.invalid:6379"), ("REDIS_USER", "app")],
    );
    assert!(built.is_ok(), "{built:?}");
    let missing = build_in(
        &registry,
        "redis",
        &[("addressFromEnv", "REDIS_ADDR"), ("listName", "q")],
        &[],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        missing,
        errors(&[(
            "metadata.addressFromEnv",
            "environment variable REDIS_ADDR is not set"
        )])
    );
}

#[test]
fn stream_modes_follow_group_and_lag_count() {
    let base = [("address", "redis.invalid:6379"), ("stream", "events")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        stream(&all).unwrap()
    };
    assert_eq!(with(&[]).mode, StreamMode::Length { stream_length: 5 });
    assert_eq!(
        with(&[("streamLength", "8"), ("lagCount", "3")]).mode,
        StreamMode::Length { stream_length: 8 }
    );
    assert_eq!(
        with(&[("consumerGroup", "g")]).mode,
        StreamMode::Pending {
            consumer_group: "g".to_owned(),
            pending_entries_count: 5
        }
    );
    assert_eq!(
        with(&[
            ("consumerGroup", "g"),
            ("lagCount", "0"),
            ("pendingEntriesCount", "9")
        ])
        .mode,
        StreamMode::Pending {
            consumer_group: "g".to_owned(),
            pending_entries_count: 9
        }
    );
    let lag = with(&[
        ("consumerGroup", "g"),
        ("lagCount", "4"),
        ("activationLagCount", "2"),
    ]);
    assert_eq!(
        lag.mode,
        StreamMode::Lag {
            consumer_group: "g".to_owned(),
            lag_count: 4
        }
    );
    assert_eq!(lag.activation_lag_count, 2);
}

#[test]
fn missing_required_parameters_are_all_reported() {
    assert_eq!(
        build_errors("redis", &[]),
        errors(&[
            ("metadata.listName", "required parameter is missing"),
            (
                "metadata.address",
                "required parameter is missing (or set host and port)"
            ),
        ])
    );
    assert_eq!(
        build_errors("redis-sentinel-streams", &[]),
        errors(&[
            ("metadata.stream", "required parameter is missing"),
            (
                "metadata.addresses",
                "required parameter is missing (or set hosts and ports)"
            ),
            ("metadata.sentinelMaster", "required parameter is missing"),
        ])
    );
}

#[test]
fn invalid_connection_parameters_name_the_field() {
    let q = ("listName", "q");
    assert_eq!(
        build_errors(
            "redis-cluster",
            &[("addresses", "a:1"), ("databaseIndex", "1"), q]
        ),
        errors(&[("metadata.databaseIndex", "not supported by redis-cluster")])
    );
    assert_eq!(
        build_errors(
            "redis-cluster-streams",
            &[
                ("addresses", "a:1"),
                ("databaseIndex", "0"),
                ("stream", "s")
            ]
        ),
        errors(&[(
            "metadata.databaseIndex",
            "not supported by redis-cluster-streams"
        )])
    );
    assert_eq!(
        build_errors_with(
            "redis",
            &[("address", "a:1"), ("enableTLS", "true"), q],
            &[("tls", "enable")]
        ),
        errors(&[("metadata.tls", "enableTLS and tls cannot both be set")])
    );
    assert_eq!(
        build_errors_with("redis", &[("address", "a:1"), q], &[("tls", "on")]),
        errors(&[(
            "authenticationRef.tls",
            "expected one of enable, disable, got a value that does not parse"
        )])
    );
    assert_eq!(
        build_errors("redis-cluster", &[("hosts", "a,b,c"), ("ports", "1,2"), q]),
        errors(&[("metadata.hosts", "3 hosts but 2 ports")])
    );
    assert_eq!(
        build_errors("redis", &[("host", "a"), q]),
        errors(&[("metadata.port", "required when host is set")])
    );
    assert_eq!(
        build_errors("redis", &[("address", "a:1"), ("port", "2"), q]),
        errors(&[("metadata.port", "cannot be combined with address")])
    );
    assert_eq!(
        build_errors("redis", &[("address", "a:1"), ("addresses", "b:2"), q]),
        errors(&[(
            "metadata.addresses",
            "address and addresses cannot both be set"
        )])
    );
    assert_eq!(
        build_errors(
            "redis",
            &[("address", "redis, redis://:pw@h:1, h:99999"), q]
        ),
        errors(&[
            ("metadata.address", "expected host:port, got \"redis\""),
            (
                "metadata.address",
                "expected host:port, got \"redis://h:1\""
            ),
            ("metadata.address", "expected host:port, got \"h:99999\""),
        ])
    );
    assert_eq!(
        build_errors("redis", &[("hosts", "a"), ("ports", "x"), q]),
        errors(&[("metadata.ports", "expected a port number, got \"x\"")])
    );
    assert_eq!(
        build_errors("redis", &[("address", "a:1,b:2"), q]),
        errors(&[(
            "metadata.address",
            "redis connects to one server, got 2 addresses (redis-cluster and redis-sentinel take several)"
        )])
    );
}

#[test]
fn invalid_numbers_are_reported_with_the_other_problems() {
    assert_eq!(
        build_errors(
            "redis",
            &[
                ("address", "a:1"),
                ("listName", "q"),
                ("listLength", "0"),
                ("activationListLength", "1.5"),
                ("databaseIndex", "-1"),
                ("unsafeSsl", "maybe"),
            ]
        ),
        errors(&[
            ("metadata.listLength", "must be greater than 0, got 0"),
            (
                "metadata.activationListLength",
                "expected a whole number, got \"1.5\""
            ),
            (
                "metadata.databaseIndex",
                "expected a whole number, got \"-1\""
            ),
            (
                "metadata.unsafeSsl",
                "expected true or false, got \"maybe\""
            ),
        ])
    );
    assert_eq!(
        build_errors(
            "redis-streams",
            &[
                ("address", "a:1"),
                ("stream", "s"),
                ("consumerGroup", "g"),
                ("pendingEntriesCount", "0"),
                ("lagCount", "ten"),
            ]
        ),
        errors(&[("metadata.lagCount", "expected a whole number, got \"ten\"")])
    );
    assert_eq!(
        build_errors(
            "redis-streams",
            &[
                ("address", "a:1"),
                ("stream", "s"),
                ("consumerGroup", "g"),
                ("pendingEntriesCount", "0")
            ]
        ),
        errors(&[(
            "metadata.pendingEntriesCount",
            "must be greater than 0, got 0"
        )])
    );
}

#[test]
fn tls_material_is_checked_without_connecting() {
    let meta = [("address", "a:1"), ("listName", "q"), ("enableTLS", "true")];
    assert_eq!(
        build_errors_with("redis", &meta, &[("ca", "not a certificate")]),
        errors(&[("metadata.ca", "expected PEM certificates")])
    );
    assert_eq!(
        build_errors_with("redis", &meta, &[("cert", "x")]),
        errors(&[("metadata.key", "required when cert is set")])
    );
    assert_eq!(
        build_errors_with("redis", &meta, &[("cert", "x"), ("key", "secret key text")]),
        errors(&[(
            "metadata.cert",
            "cert and key are not a PEM certificate and key"
        )])
    );
    assert_eq!(
        build_errors_with("redis", &meta, &[("keyPassword", "pw")]),
        errors(&[("metadata.keyPassword", "needs key")])
    );
    // Without TLS, TLS material (often shared through an authentication) is not used.
    let plain = parse(
        "redis",
        &[("address", "a:1"), ("listName", "q"), ("tls", "disable")],
        &[("ca", "not a certificate")],
        ListConfig::from_params,
    )
    .unwrap();
    assert_eq!(plain.connection.tls, None);
}

#[test]
fn same_servers_and_credentials_share_a_connection() {
    let pool = RedisPool::new();
    let registry = registry(&pool);
    let build = |meta: &[(&str, &str)], auth: &[(&str, &str)]| {
        build_in(&registry, "redis", meta, auth, &[]).unwrap()
    };
    let a = build(
        &[("address", "r.invalid:6379"), ("listName", "a")],
        &[("password", "x")],
    );
    let b = build(
        &[("host", "r.invalid"), ("port", "6379"), ("listName", "b")],
        &[("password", "x")],
    );
    assert_eq!(pool.len(), 1);
    let _other_password = build(
        &[("address", "r.invalid:6379"), ("listName", "a")],
        &[("password", "y")],
    );
    let _other_db = build(
        &[
            ("address", "r.invalid:6379"),
            ("listName", "a"),
            ("databaseIndex", "1"),
        ],
        &[("password", "x")],
    );
    assert_eq!(pool.len(), 3);
    drop((a, b));
    assert_eq!(pool.len(), 2);
}

/// A self-signed client certificate and its key, made with OpenSSL: the key unencrypted
/// (PKCS#8), and encrypted with `password` as PKCS#8 and in OpenSSL's traditional format.
struct Material {
    cert: String,
    key: String,
    pkcs8_encrypted: String,
    traditional_encrypted: String,
}

fn material(password: &str) -> Material {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::symm::Cipher;
    use openssl::x509::{X509, X509NameBuilder};

    let text = |pem: Vec<u8>| String::from_utf8(pem).unwrap();
    let ec = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
    let key = PKey::from_ec_key(ec.clone()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "scalers-test-client")
        .unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let cipher = Cipher::aes_256_cbc();
    Material {
        cert: text(cert.build().to_pem().unwrap()),
        key: text(key.private_key_to_pem_pkcs8().unwrap()),
        pkcs8_encrypted: text(
            key.private_key_to_pem_pkcs8_passphrase(cipher, password.as_bytes())
                .unwrap(),
        ),
        traditional_encrypted: text(
            ec.private_key_to_pem_passphrase(cipher, password.as_bytes())
                .unwrap(),
        ),
    }
}

#[test]
fn keda_key_password_decrypts_pkcs8_and_traditional_encrypted_keys() {
    // KEDA's redis scalers take `keyPassword` for an encrypted `key`; both PEM encryptions
    // OpenSSL writes are read, and the connection gets the key decrypted.
    let m = material("s3cret");
    assert!(m.pkcs8_encrypted.contains("BEGIN ENCRYPTED PRIVATE KEY"));
    assert!(m.traditional_encrypted.contains("Proc-Type: 4,ENCRYPTED"));
    let meta = [("address", "a:1"), ("listName", "q"), ("enableTLS", "true")];
    for encrypted in [&m.pkcs8_encrypted, &m.traditional_encrypted] {
        let auth = [
            ("cert", m.cert.as_str()),
            ("key", encrypted.as_str()),
            ("keyPassword", "s3cret\n"),
        ];
        let c = parse("redis", &meta, &auth, ListConfig::from_params)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let client = c.connection.tls.unwrap().client.unwrap();
        assert_eq!(client.key.expose(), m.key, "{encrypted}");
        build_in(&registry(&RedisPool::new()), "redis", &meta, &auth, &[]).unwrap();
    }
    // An unencrypted key with a password is taken as it is, as KEDA does.
    let auth = [
        ("cert", m.cert.as_str()),
        ("key", m.key.as_str()),
        ("keyPassword", "unused"),
    ];
    parse("redis", &meta, &auth, ListConfig::from_params).unwrap();
    // A wrong password, and no password at all, are config errors naming no key material.
    for (password, error) in [
        (
            Some("wrong"),
            (
                "metadata.keyPassword",
                "does not decrypt key (expected a PEM private key, encrypted with this password)",
            ),
        ),
        (
            None,
            (
                "metadata.cert",
                "cert and key are not a PEM certificate and key",
            ),
        ),
    ] {
        let mut auth = vec![
            ("cert", m.cert.as_str()),
            ("key", m.pkcs8_encrypted.as_str()),
        ];
        auth.extend(password.map(|p| ("keyPassword", p)));
        assert_eq!(
            build_errors_with("redis", &meta, &auth),
            errors(&[error]),
            "{password:?}"
        );
    }
}
