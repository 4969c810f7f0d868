//! TLS to a real external scaler: `caCert`, `unsafeSsl`, client certificates, and what
//! happens when the server cannot be trusted.

mod common;

use std::error::Error as _;

use common::{FakeScaler, ServerTls, build, build_in, object, pem, registry, value};
use scalers_core::trigger::TriggerErrorKind;
use scalers_external::ChannelPool;

#[tokio::test]
async fn ca_cert_makes_the_scaler_trusted() {
    let scaler = FakeScaler::start_tls(ServerTls::ServerOnly).await;
    scaler.set_values(vec![value(25, 0.0)]);
    scaler.set_active(true);
    let o = object("external", &[("scalerAddress", &scaler.address())]);
    // caCert alone turns TLS on, as in KEDA
    let built = build_in(
        &registry(&ChannelPool::new()),
        &o,
        &[("caCert", &pem("ca.pem"))],
        &[],
    )
    .unwrap();
    let sample = built.trigger.sample().await.unwrap();
    assert_eq!((sample.value, sample.active), (2.5, true));

    // by name too (the certificate is for 127.0.0.1 and localhost)
    let port = scaler.address().rsplit_once(':').unwrap().1.to_owned();
    let o = object(
        "external",
        &[
            ("scalerAddress", &format!("localhost:{port}")),
            ("enableTLS", "true"),
        ],
    );
    let built = build_in(
        &registry(&ChannelPool::new()),
        &o,
        &[("caCert", &pem("ca.pem"))],
        &[],
    )
    .unwrap();
    assert_eq!(built.trigger.sample().await.unwrap().value, 2.5);
}

#[tokio::test]
async fn an_untrusted_certificate_is_unavailable_and_unsafe_ssl_accepts_it() {
    let scaler = FakeScaler::start_tls(ServerTls::ServerOnly).await;
    let address = scaler.address();
    // trusting another certificate than the issuer's (so the test needs no system roots)
    let o = object(
        "external",
        &[("scalerAddress", &address), ("enableTLS", "true")],
    );
    let built = build_in(
        &registry(&ChannelPool::new()),
        &o,
        &[("caCert", &pem("client.pem"))],
        &[],
    )
    .unwrap();
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::Unavailable);
    assert_eq!(
        e.message,
        format!("{address}: GetMetricSpec: cannot reach the scaler")
    );
    let source = e.source().unwrap().to_string();
    assert!(source.contains("UnknownIssuer"), "{source}");

    let built = build(
        "external",
        &[
            ("scalerAddress", &address),
            ("enableTLS", "true"),
            ("unsafeSsl", "true"),
        ],
    )
    .unwrap();
    built.trigger.sample().await.unwrap();
}

#[tokio::test]
async fn plaintext_to_a_tls_scaler_fails_as_unavailable() {
    let scaler = FakeScaler::start_tls(ServerTls::ServerOnly).await;
    let built = build(
        "external",
        &[("scalerAddress", &scaler.address()), ("timeout", "2000")],
    )
    .unwrap();
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::Unavailable, "{e}");
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_given() {
    let scaler = FakeScaler::start_tls(ServerTls::Mutual).await;
    let o = object("external-push", &[("scalerAddress", &scaler.address())]);
    let registry = registry(&ChannelPool::new());

    let without = build_in(&registry, &o, &[("caCert", &pem("ca.pem"))], &[]).unwrap();
    let e = without.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::Unavailable, "{e}");

    let with = build_in(
        &registry,
        &o,
        &[
            ("caCert", &pem("ca.pem")),
            ("tlsClientCert", &pem("client.pem")),
            ("tlsClientKey", &pem("client.key")),
        ],
        &[],
    )
    .unwrap();
    with.trigger.sample().await.unwrap();
}

/// `caCert` adds to the system's roots (the rule of `scalers_core::tls`): with a `caCert` that
/// did not issue the scaler's certificate, the scaler is refused while the system does not
/// trust its issuer, and accepted in a run whose system roots hold the issuer.
#[tokio::test]
async fn ca_cert_adds_to_the_system_roots() {
    let sample_at = |address: &str| {
        let o = object(
            "external",
            &[("scalerAddress", address), ("enableTLS", "true")],
        );
        // Trusting another certificate than the issuer's.
        build_in(
            &registry(&ChannelPool::new()),
            &o,
            &[("caCert", &pem("client.pem"))],
            &[],
        )
        .unwrap()
    };
    if let Some(address) = scalers_testkit::child_var("ADDRESS") {
        let sample = sample_at(&address).trigger.sample().await.unwrap();
        assert_eq!((sample.value, sample.active), (2.5, true));
        return;
    }
    let scaler = FakeScaler::start_tls(ServerTls::ServerOnly).await;
    scaler.set_values(vec![value(25, 0.0)]);
    scaler.set_active(true);
    let address = scaler.address();
    let e = sample_at(&address).trigger.sample().await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            TriggerErrorKind::Unavailable,
            format!("{address}: GetMetricSpec: cannot reach the scaler").as_str()
        )
    );
    let outcome = tokio::task::spawn_blocking(move || {
        scalers_testkit::run_with_system_roots(
            "ca_cert_adds_to_the_system_roots",
            &pem("ca.pem"),
            &[("ADDRESS", &address)],
        )
    })
    .await
    .unwrap();
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
