//! Parsing and validating the `kafka` trigger's parameters: KEDA's names and defaults, and
//! every problem reported at once with its path. No broker needed.

mod kafka_common;

use std::time::Duration;

use kafka_common::{build_in, config, registry};
use scalers_core::config::model::MetricType;
use scalers_core::secret::Secret;
use scalers_core::trigger::MetricTarget;
use scalers_queue::kafka::{
    ClientIdentity, ClientPool, DEFAULT_TIMEOUT, KafkaConfig, LagRules, OffsetResetPolicy,
    PartitionCap, PartitionLimitation, Sasl, Security, Tls, UserPassword,
};
use scalers_testkit::pairs as errors;

const BASE: [(&str, &str); 2] = [
    ("bootstrapServers", "kafka:9092"),
    ("consumerGroup", "workers"),
];
const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut m = BASE.to_vec();
    m.extend_from_slice(extra);
    m
}

fn with_topic<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut m = with(&[("topic", "orders")]);
    m.extend_from_slice(extra);
    m
}

fn problems(metadata: &[(&str, &str)]) -> Vec<(String, String)> {
    config(metadata, &[], &[]).expect_err("an invalid config")
}

#[test]
fn defaults_are_kedas() {
    assert_eq!(
        config(&BASE, &[], &[]).unwrap(),
        KafkaConfig {
            bootstrap_servers: vec!["kafka:9092".to_owned()],
            consumer_group: "workers".to_owned(),
            topic: None,
            partition_limitation: None,
            rules: LagRules {
                offset_reset_policy: OffsetResetPolicy::Latest,
                scale_to_zero_on_invalid_offset: false,
                exclude_persistent_lag: false,
                lag_threshold: 10,
                partition_cap: PartitionCap::Partitions,
            },
            activation_lag_threshold: 0,
            metric_type: MetricType::AverageValue,
            security: Security::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    );
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(5));
}

#[test]
fn every_parameter_is_read() {
    let c = config(
        &[
            ("bootstrapServers", " a:9092, b:9093 ,"),
            ("consumerGroup", "workers"),
            ("topic", "orders"),
            ("lagThreshold", "50"),
            ("activationLagThreshold", "7"),
            ("offsetResetPolicy", "earliest"),
            ("scaleToZeroOnInvalidOffset", "true"),
            ("excludePersistentLag", "TRUE"),
            ("partitionLimitation", "0, 2,5-7"),
        ],
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(c.bootstrap_servers, ["a:9092", "b:9093"]);
    assert_eq!(c.servers(), "a:9092,b:9093");
    assert_eq!(c.topic.as_deref(), Some("orders"));
    assert_eq!(
        c.rules,
        LagRules {
            offset_reset_policy: OffsetResetPolicy::Earliest,
            scale_to_zero_on_invalid_offset: true,
            exclude_persistent_lag: true,
            lag_threshold: 50,
            partition_cap: PartitionCap::Partitions,
        }
    );
    assert_eq!(c.activation_lag_threshold, 7);
    let limitation = c.partition_limitation.unwrap();
    assert_eq!(limitation, PartitionLimitation::parse("0,2,5-7").unwrap());
    assert_eq!(limitation.to_string(), "0,2,5-7");
    assert_eq!(
        (0..9)
            .filter(|p| limitation.contains(*p))
            .collect::<Vec<_>>(),
        [0, 2, 5, 6, 7]
    );
}

#[test]
fn the_partition_cap_follows_the_flags() {
    for (extra, cap) in [
        (vec![], PartitionCap::Partitions),
        (vec![("allowIdleConsumers", "true")], PartitionCap::Uncapped),
        (
            vec![("limitToPartitionsWithLag", "true")],
            PartitionCap::PartitionsWithLag,
        ),
        (
            vec![("ensureEvenDistributionOfPartitions", "1")],
            PartitionCap::EvenDistribution,
        ),
        (
            vec![
                ("allowIdleConsumers", "false"),
                ("limitToPartitionsWithLag", "false"),
                ("ensureEvenDistributionOfPartitions", "false"),
            ],
            PartitionCap::Partitions,
        ),
    ] {
        let c = config(&with_topic(&extra), &[], &[]).unwrap();
        assert_eq!(c.rules.partition_cap, cap, "{extra:?}");
    }
    // allowIdleConsumers needs no topic.
    let c = config(&with(&[("allowIdleConsumers", "true")]), &[], &[]).unwrap();
    assert_eq!(c.rules.partition_cap, PartitionCap::Uncapped);
}

#[test]
fn missing_required_parameters_are_reported_together() {
    assert_eq!(
        problems(&[("lagThreshold", "0")]),
        errors(&[
            ("metadata.bootstrapServers", "required parameter is missing"),
            ("metadata.consumerGroup", "required parameter is missing"),
            ("metadata.lagThreshold", "must be greater than 0, got 0"),
        ])
    );
    assert_eq!(
        problems(&[("bootstrapServers", " , "), ("consumerGroup", "  ")]),
        errors(&[
            (
                "metadata.bootstrapServers",
                "expected comma-separated host:port addresses, got \",\""
            ),
            ("metadata.consumerGroup", "required parameter is missing"),
        ])
    );
}

#[test]
fn numbers_booleans_and_enums_are_checked() {
    assert_eq!(
        problems(&with(&[
            ("lagThreshold", "ten"),
            ("activationLagThreshold", "-1"),
            ("offsetResetPolicy", "smallest"),
            ("allowIdleConsumers", "yes"),
            ("excludePersistentLag", "2"),
        ])),
        errors(&[
            (
                "metadata.lagThreshold",
                "expected a whole number, got \"ten\""
            ),
            (
                "metadata.activationLagThreshold",
                "expected a whole number, got \"-1\""
            ),
            (
                "metadata.offsetResetPolicy",
                "expected one of latest, earliest, got \"smallest\""
            ),
            (
                "metadata.allowIdleConsumers",
                "expected true or false, got \"yes\""
            ),
            (
                "metadata.excludePersistentLag",
                "expected true or false, got \"2\""
            ),
        ])
    );
}

#[test]
fn rules_between_parameters_are_kedas() {
    assert_eq!(
        problems(&with(&[
            ("limitToPartitionsWithLag", "true"),
            ("ensureEvenDistributionOfPartitions", "true"),
            ("partitionLimitation", "1,2"),
        ])),
        errors(&[
            ("metadata.limitToPartitionsWithLag", "needs topic"),
            ("metadata.ensureEvenDistributionOfPartitions", "needs topic"),
            (
                "metadata.ensureEvenDistributionOfPartitions",
                "cannot be combined with limitToPartitionsWithLag"
            ),
            ("metadata.partitionLimitation", "needs topic"),
        ])
    );
    assert_eq!(
        problems(&with_topic(&[
            ("allowIdleConsumers", "true"),
            ("limitToPartitionsWithLag", "true"),
        ])),
        errors(&[(
            "metadata.allowIdleConsumers",
            "cannot be combined with limitToPartitionsWithLag"
        )])
    );
    assert_eq!(
        problems(&with_topic(&[
            ("allowIdleConsumers", "true"),
            ("ensureEvenDistributionOfPartitions", "true"),
        ])),
        errors(&[(
            "metadata.ensureEvenDistributionOfPartitions",
            "cannot be combined with allowIdleConsumers"
        )])
    );
}

#[test]
fn partition_limitation_syntax() {
    for (raw, why) in [
        ("1,a", "\"a\" is not a partition number"),
        ("5-2", "\"5-2\" is not a range of partitions like 10-20"),
        ("1-", "\"1-\" is not a range of partitions like 10-20"),
        ("-1", "\"-1\" is not a range of partitions like 10-20"),
        (",", "no partition given"),
    ] {
        assert_eq!(
            problems(&with_topic(&[("partitionLimitation", raw)])),
            errors(&[(
                "metadata.partitionLimitation",
                &format!("expected partition numbers and ranges like 1,2,10-20: {why}")
            )]),
            "{raw}"
        );
    }
}

#[test]
fn parameters_come_from_the_environment_and_authentication() {
    let c = config(
        &[
            ("bootstrapServersFromEnv", "KAFKA_BROKERS"),
            ("consumerGroupFromEnv", "GROUP"),
        ],
        &[("topic", "from-auth")],
        &[("KAFKA_BROKERS", "k1:9092,k2:9092"), ("GROUP", "g")],
    )
    .unwrap();
    assert_eq!(c.bootstrap_servers, ["k1:9092", "k2:9092"]);
    assert_eq!(c.consumer_group, "g");
    assert_eq!(c.topic.as_deref(), Some("from-auth"));
    assert_eq!(
        config(
            &[("bootstrapServersFromEnv", "NOPE"), ("consumerGroup", "g")],
            &[],
            &[]
        )
        .unwrap_err(),
        errors(&[(
            "metadata.bootstrapServersFromEnv",
            "environment variable NOPE is not set"
        )])
    );
}

#[test]
fn sasl_mechanisms_and_their_credentials() {
    let up = UserPassword {
        username: Secret::new("user"),
        password: Secret::new("pw"),
    };
    for (mode, expected) in [
        ("plaintext", Sasl::Plain(up.clone())),
        ("scram_sha256", Sasl::ScramSha256(up.clone())),
        ("scram_sha512", Sasl::ScramSha512(up.clone())),
    ] {
        // KEDA's usual split: the mode in metadata, the credentials in the authentication.
        let c = config(
            &with(&[("sasl", mode)]),
            &[("username", "user"), ("password", "pw")],
            &[],
        )
        .unwrap();
        assert_eq!(c.security.sasl, Some(expected), "{mode}");
        assert_eq!(
            config(&with(&[("sasl", mode)]), &[("username", "user")], &[]).unwrap_err(),
            errors(&[("metadata.password", &format!("required by sasl {mode}"))])
        );
    }
    let c = config(
        &with(&[("sasl", "oauthbearer")]),
        &[("oauthToken", "eyJ")],
        &[],
    )
    .unwrap();
    assert_eq!(
        c.security.sasl,
        Some(Sasl::OAuthBearer {
            token: Secret::new("eyJ")
        })
    );
    assert_eq!(
        problems(&with(&[("sasl", "oauthbearer")])),
        errors(&[("metadata.oauthToken", "required by sasl oauthbearer")])
    );
    assert_eq!(
        problems(&with(&[
            ("sasl", "oauthbearer"),
            ("oauthTokenEndpointUri", "https://idp/token")
        ])),
        errors(&[(
            "metadata.oauthToken",
            "required by sasl oauthbearer (fetching tokens from oauthTokenEndpointUri is not \
             supported)"
        )])
    );
    for mode in ["none", ""] {
        let c = config(&with(&[("sasl", mode)]), &[], &[]).unwrap();
        assert_eq!(c.security.sasl, None);
    }
    assert_eq!(
        problems(&with(&[("sasl", "gssapi")])),
        errors(&[(
            "metadata.sasl",
            "expected one of none, plaintext, scram_sha256, scram_sha512, oauthbearer, got \
             \"gssapi\""
        )])
    );
}

#[test]
fn tls_material() {
    let c = config(
        &with(&[("tls", "enable"), ("unsafeSsl", "true")]),
        &[
            ("ca", PEM),
            ("cert", PEM),
            ("key", KEY),
            ("keyPassword", "kp"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        c.security.tls,
        // Trimmed, as KEDA trims every value.
        Some(Tls {
            ca: Some(PEM.trim().to_owned()),
            client: Some(ClientIdentity {
                cert: Secret::new(PEM.trim()),
                key: Secret::new(KEY.trim()),
                key_password: Some(Secret::new("kp")),
            }),
            unsafe_ssl: true,
        })
    );
    // A CA alone, or nothing (the system's CAs).
    let c = config(&with(&[("tls", "enable")]), &[("ca", PEM)], &[]).unwrap();
    assert_eq!(c.security.tls.unwrap().client, None);
    let c = config(&with(&[("tls", "enable")]), &[], &[]).unwrap();
    assert_eq!(
        c.security.tls,
        Some(Tls {
            ca: None,
            client: None,
            unsafe_ssl: false
        })
    );
    // tls: disable (the default) ignores TLS material, as KEDA does.
    let c = config(&with(&[("tls", "disable")]), &[("cert", "x")], &[]).unwrap();
    assert_eq!(c.security.tls, None);

    assert_eq!(
        config(&with(&[("tls", "enable")]), &[("cert", PEM)], &[]).unwrap_err(),
        errors(&[("metadata.key", "required by tls when cert is set")])
    );
    assert_eq!(
        config(&with(&[("tls", "enable")]), &[("key", KEY)], &[]).unwrap_err(),
        errors(&[("metadata.cert", "required by tls when key is set")])
    );
    assert_eq!(
        config(&with(&[("tls", "enable")]), &[("ca", "not pem")], &[]).unwrap_err(),
        errors(&[("metadata.ca", "expected PEM")])
    );
    assert_eq!(
        problems(&with(&[("tls", "on")])),
        errors(&[(
            "metadata.tls",
            "expected one of enable, disable, got \"on\""
        )])
    );
}

#[test]
fn debug_output_hides_credentials_and_pem() {
    let c = config(
        &with(&[("tls", "enable"), ("sasl", "scram_sha256")]),
        &[
            ("ca", PEM),
            ("cert", PEM),
            ("key", KEY),
            ("username", "alice"),
            ("password", "hunter2"),
        ],
        &[],
    )
    .unwrap();
    let shown = format!("{c:?}");
    for secret in ["MIIE", "MIIB", "alice", "hunter2"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains(&format!("<{} bytes of PEM>", PEM.trim().len())),
        "{shown}"
    );
}

#[test]
fn built_trigger_targets_the_lag_threshold() {
    let pool = ClientPool::new();
    let registry = registry(&pool);
    let built = build_in(
        &registry,
        &with(&[("lagThreshold", "25"), ("activationLagThreshold", "3")]),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(built.trigger_type, "kafka");
    assert_eq!(
        built.trigger.target(),
        MetricTarget {
            value: 25.0,
            metric_type: MetricType::AverageValue,
            activation_threshold: 3.0,
        }
    );
    // Building does no I/O: the pool holds a client that has not been created.
    assert_eq!((pool.len(), pool.connected()), (1, 0));
    let errors_through_registry =
        build_in(&registry, &[("consumerGroup", "g")], &[], &[]).unwrap_err();
    assert_eq!(
        errors_through_registry,
        errors(&[("metadata.bootstrapServers", "required parameter is missing")])
    );
}

#[test]
fn keda_treats_blank_values_as_absent() {
    // KEDA trims every value and reads a blank one as not given: a partitionLimitation of
    // spaces is no limitation, and a blank topic is no topic.
    let c = config(
        &with(&[("topic", "  "), ("partitionLimitation", "   ")]),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!((c.topic, c.partition_limitation), (None, None));
    let c = config(
        &with(&[("topic", "orders\n"), ("lagThreshold", " 5\n")]),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(c.topic.as_deref(), Some("orders"));
    assert_eq!(c.rules.lag_threshold, 5);
}

#[test]
fn keda_refuses_a_version_sarama_cannot_parse() {
    // KEDA parses `version` with sarama: three numbers from 1.0.0 on, four starting with 0
    // before (the value is trimmed first, like every value).
    for good in ["1.0.0", "2.8.1", "3.7.0", "0.11.0.2", " 0.10.2.0\n"] {
        config(&with(&[("version", good)]), &[], &[]).unwrap_or_else(|e| panic!("{good}: {e:?}"));
    }
    for bad in [
        "1.2.3.4",
        "2.8",
        "0.10.2",
        "1.0.x",
        "v2.8.1",
        "2..1",
        "1.0.0-rc1",
    ] {
        assert_eq!(
            problems(&with(&[("version", bad)])),
            errors(&[(
                "metadata.version",
                &format!("expected a Kafka version like 2.8.1 or 0.11.0.2, got {bad:?}")
            )]),
            "{bad}"
        );
    }
}

#[test]
fn keda_full_metadata_is_a_boolean_and_false_needs_a_topic() {
    // KEDA: `fullMetadata` defaults to true; false scopes the metadata to `topic`, which must
    // then be set ("topic must be specified when fullMetadata is false").
    config(&with_topic(&[("fullMetadata", "false")]), &[], &[]).unwrap();
    config(&with(&[("fullMetadata", "true")]), &[], &[]).unwrap();
    assert_eq!(
        problems(&with(&[("fullMetadata", "false")])),
        errors(&[("metadata.fullMetadata", "false needs topic")])
    );
    assert_eq!(
        problems(&with_topic(&[("fullMetadata", "no")])),
        errors(&[(
            "metadata.fullMetadata",
            "expected true or false, got \"no\""
        )])
    );
    // Reported together with the other problems.
    assert_eq!(
        problems(&with(&[
            ("fullMetadata", "0"),
            ("version", "1.2.3.4"),
            ("lagThreshold", "0")
        ])),
        errors(&[
            ("metadata.lagThreshold", "must be greater than 0, got 0"),
            (
                "metadata.version",
                "expected a Kafka version like 2.8.1 or 0.11.0.2, got \"1.2.3.4\""
            ),
            ("metadata.fullMetadata", "false needs topic"),
        ])
    );
}
