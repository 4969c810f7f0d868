//! Config errors of `external` and `external-push` triggers: exact paths and messages, all at
//! once, found without any I/O.

mod common;

use std::time::Duration;

use common::{build, build_in, object, pem, registry};
use scalers_core::trigger::Params;
use scalers_external::{ChannelPool, ExternalConfig, Mode, ScalerAddress, TlsSettings};

#[test]
fn scaler_address_is_required() {
    for trigger_type in ["external", "external-push"] {
        assert_eq!(
            build(trigger_type, &[]).unwrap_err(),
            ["metadata.scalerAddress: required parameter is missing"]
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = build(
        "external",
        &[
            ("scalerAddress", "http://scaler:6000"),
            ("enableTLS", "yes"),
            ("unsafeSsl", "maybe"),
            ("timeout", "0"),
            ("targetValue", "-2"),
        ],
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "metadata.scalerAddress: expected a gRPC target (host, host:port, [ipv6]:port or \
             dns:///host:port), got \"http://scaler:6000\"",
            "metadata.enableTLS: expected true or false, got \"yes\"",
            "metadata.unsafeSsl: expected true or false, got \"maybe\"",
            "metadata.timeout: must be greater than 0, got 0",
            "metadata.targetValue: must be greater than 0, got -2",
        ]
    );
}

#[test]
fn tls_material_is_checked_without_showing_it() {
    let o = object("external", &[("scalerAddress", "scaler:6000")]);
    let registry = registry(&ChannelPool::new());
    let errors = build_in(
        &registry,
        &o,
        &[
            (
                "caCert",
                "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n",
            ),
            (
                "tlsClientCert",
                "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
            ),
            ("tlsClientKey", "secret key material"),
        ],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "metadata.caCert: expected PEM certificates",
            "metadata.tlsClientCert: expected a PEM certificate chain",
            "metadata.tlsClientKey: expected a PEM private key",
        ]
    );

    // PEM that is not a certificate; a key that is not the certificate's
    let errors = build_in(
        &registry,
        &o,
        &[
            (
                "tlsClientCert",
                "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
            ),
            ("tlsClientKey", &pem("client.key")),
        ],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        errors,
        ["metadata.tlsClientCert: expected a PEM certificate chain"]
    );
    let errors = build_in(
        &registry,
        &o,
        &[
            ("tlsClientCert", &pem("client.pem")),
            ("tlsClientKey", &pem("server.key")),
        ],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        errors,
        ["metadata.tlsClientKey: is not the key of tlsClientCert"]
    );

    let errors =
        build_in(&registry, &o, &[("tlsClientCert", &pem("client.pem"))], &[]).unwrap_err();
    assert_eq!(
        errors,
        ["metadata.tlsClientKey: required when tlsClientCert is set"]
    );
    let errors = build_in(&registry, &o, &[("tlsClientKey", &pem("client.key"))], &[]).unwrap_err();
    assert_eq!(
        errors,
        ["metadata.tlsClientCert: required when tlsClientKey is set"]
    );
}

#[test]
fn a_from_env_naming_an_unset_variable_is_not_an_error() {
    // KEDA drops the entry; `scalerd check` may run where the daemon's variables are not set
    build(
        "external",
        &[
            ("scalerAddress", "scaler:6000"),
            ("tokenFromEnv", "NOT_SET"),
        ],
    )
    .unwrap();
}

#[test]
fn parsed_config() {
    let o = object(
        "external-push",
        &[
            ("scalerAddress", "dns:///scaler.jobs:6000"),
            ("unsafeSsl", "true"),
            ("timeout", "1500"),
        ],
    );
    let auth = scalers_testkit::auth_params(&[("caCert", &pem("ca.pem"))]);
    let env = |_: &str| None;
    let mut p = Params::new(&o.triggers[0], &o, &auth, &env);
    let config = ExternalConfig::from_params(&mut p, Mode::Push).unwrap();
    assert_eq!(
        config.address,
        ScalerAddress::parse("scaler.jobs:6000").unwrap()
    );
    assert_eq!(config.address.host(), "scaler.jobs");
    assert_eq!(config.address.port(), 6000);
    // caCert alone turns TLS on, as in KEDA; trimmed, as KEDA trims every value
    assert_eq!(
        config.tls,
        Some(TlsSettings {
            ca: Some(pem("ca.pem").trim().to_owned()),
            client: None,
            unsafe_ssl: true,
        })
    );
    assert_eq!(config.timeout, Duration::from_millis(1500));
    assert_eq!(
        (config.name.as_str(), config.namespace.as_str()),
        ("worker", "shop")
    );
    // Debug shows neither PEM nor metadata values
    let shown = format!("{config:?}");
    assert!(!shown.contains("BEGIN"), "{shown}");
    assert!(
        shown.contains("scaler_metadata: [\"scalerAddress\", \"timeout\", \"unsafeSsl\"]"),
        "{shown}"
    );

    // without TLS material and enableTLS, plaintext; unsafeSsl alone does not turn TLS on
    let o = object(
        "external",
        &[("scalerAddress", "scaler:6000"), ("unsafeSsl", "true")],
    );
    let none = std::collections::BTreeMap::new();
    let mut p = Params::new(&o.triggers[0], &o, &none, &env);
    assert_eq!(
        ExternalConfig::from_params(&mut p, Mode::Pull).unwrap().tls,
        None
    );
}
