//! `authModes: tls` and `unsafeSsl` against local HTTPS servers (rustls with aws-lc-rs on both
//! sides), using the test-only certificates in `tests/tls/`.

mod common;

use common::{endpoint, failure, trigger};
use scalers_core::trigger::{Sample, TriggerErrorKind};
use scalers_testkit::{HttpStub, StubTls};

const CA: &str = include_str!("tls/ca.pem");
const SERVER_CERT: &str = include_str!("tls/server.pem");
const SERVER_KEY: &str = include_str!("tls/server.key");
const CLIENT_CERT: &str = include_str!("tls/client.pem");
const CLIENT_KEY: &str = include_str!("tls/client.key");

const ONE_ELEMENT: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"7"]}]}}"#;

fn server_tls(client_ca: Option<&str>) -> StubTls {
    StubTls {
        cert_chain: SERVER_CERT.to_owned(),
        key: SERVER_KEY.to_owned(),
        client_ca: client_ca.map(str::to_owned),
    }
}

fn base<'a>(server: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut m = vec![
        ("serverAddress", server),
        ("query", "up"),
        ("threshold", "1"),
    ];
    m.extend_from_slice(extra);
    m
}

#[tokio::test]
async fn ca_alone_trusts_a_server_certificate_it_issued() {
    let stub = HttpStub::respond_tls(&server_tls(None), 200, "application/json", ONE_ELEMENT).await;
    let server = stub.url();
    let t = trigger(&base(&server, &[("authModes", "tls"), ("ca", CA)]));
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(7.0, 0.0));
    assert!(!stub.requests()[0].client_certificate);
}

#[tokio::test]
async fn client_certificate_is_presented() {
    let stub =
        HttpStub::respond_tls(&server_tls(Some(CA)), 200, "application/json", ONE_ELEMENT).await;
    let server = stub.url();
    let t = trigger(&base(
        &server,
        &[
            ("authModes", "tls"),
            ("ca", CA),
            ("cert", CLIENT_CERT),
            ("key", CLIENT_KEY),
        ],
    ));
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(7.0, 0.0));
    assert!(stub.requests()[0].client_certificate);
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_unavailable() {
    let stub = HttpStub::respond_tls(&server_tls(None), 200, "application/json", ONE_ELEMENT).await;
    let server = stub.url();
    let t = trigger(&base(&server, &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Unavailable,
            format!("{}: cannot connect", endpoint(&server)).as_str()
        )
    );
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn unsafe_ssl_accepts_any_server_certificate() {
    let stub = HttpStub::respond_tls(&server_tls(None), 200, "application/json", ONE_ELEMENT).await;
    let server = stub.url();
    let t = trigger(&base(&server, &[("unsafeSsl", "true")]));
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(7.0, 0.0));
}

#[tokio::test]
async fn a_server_requiring_a_client_certificate_refuses_a_client_without_one() {
    let stub =
        HttpStub::respond_tls(&server_tls(Some(CA)), 200, "application/json", ONE_ELEMENT).await;
    let server = stub.url();
    let t = trigger(&base(&server, &[("authModes", "tls"), ("ca", CA)]));
    let e = t.trigger.sample().await.unwrap_err();
    // TLS 1.3: the client's handshake completes before the server checks for a certificate, so
    // the refusal (a `certificate_required` alert) arrives while the request is being sent.
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Unavailable,
            format!("{}: request failed", endpoint(&server)).as_str()
        )
    );
    assert!(stub.requests().is_empty());
}

/// `ca` adds to the system's roots (the rule of `scalers_core::tls`): with a `ca` that did not
/// issue the server's certificate, the server is refused while the system does not trust its
/// issuer, and accepted in a run whose system roots hold the issuer.
#[tokio::test]
async fn ca_adds_to_the_system_roots() {
    // Trusting another certificate than the issuer's.
    let extra = [("authModes", "tls"), ("ca", CLIENT_CERT)];
    if let Some(server) = scalers_testkit::child_var("SERVER") {
        let t = trigger(&base(&server, &extra));
        assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(7.0, 0.0));
        return;
    }
    let stub = HttpStub::respond_tls(&server_tls(None), 200, "application/json", ONE_ELEMENT).await;
    let server = stub.url();
    let t = trigger(&base(&server, &extra));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Unavailable,
            format!("{}: cannot connect", endpoint(&server)).as_str()
        )
    );
    assert!(stub.requests().is_empty());
    let child_server = server.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        scalers_testkit::run_with_system_roots(
            "ca_adds_to_the_system_roots",
            CA,
            &[("SERVER", &child_server)],
        )
    })
    .await
    .unwrap();
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert_eq!(stub.requests().len(), 1);
}
