//! Broker failures are typed trigger failures, never a lag of 0; the trigger recovers when
//! the broker comes back. Each test runs a broker of its own (tansu, started by the testkit),
//! or none at all.

mod kafka_common;

use std::time::Duration;

use kafka_common::{concrete, fill, sample};
use scalers_core::trigger::{Trigger, TriggerError, TriggerErrorKind};
use scalers_testkit::{KafkaBroker, eventually, unique_name};

/// The sample timeout of these tests: short, since a down broker is only noticed at its end.
const TIMEOUT: Duration = Duration::from_millis(1500);

/// What librdkafka's error events say when no connection to the brokers holds: which of the
/// two comes last depends on timing.
const UNREACHABLE: [&str; 2] = [
    "BrokerTransportFailure (Local: Broker transport failure)",
    "AllBrokersDown (Local: All broker connections are down)",
];

/// Asserts that `e` is an `Unavailable` failure saying `<prefix>: <no connection>`.
fn assert_unreachable(e: &TriggerError, prefix: &str) {
    assert_eq!(e.kind, TriggerErrorKind::Unavailable, "{e:?}");
    assert!(
        UNREACHABLE
            .iter()
            .any(|why| e.message == format!("{prefix}: {why}")),
        "{}",
        e.message
    );
}

/// A loopback address nothing listens on: port 1, below the ephemeral range, so that no other
/// test's server can be given it meanwhile (a freed port can be, and then it never answers as
/// a broker, which reads as a timeout instead of a refused connection).
fn refused_address() -> String {
    "127.0.0.1:1".to_owned()
}

#[tokio::test]
async fn no_broker_listening_is_unavailable_not_zero() {
    let address = refused_address();
    let t = concrete(
        &[
            ("bootstrapServers", &address),
            ("consumerGroup", "workers"),
            ("topic", "orders"),
        ],
        TIMEOUT,
    );
    let e = t.sample().await.unwrap_err();
    assert_unreachable(
        &e,
        &format!("{address}: fetch metadata of topic \"orders\""),
    );
    // Without a topic, the same.
    let t = concrete(
        &[("bootstrapServers", &address), ("consumerGroup", "workers")],
        TIMEOUT,
    );
    let e = t.sample().await.unwrap_err();
    assert_unreachable(&e, &format!("{address}: fetch metadata"));
}

#[tokio::test]
async fn the_crate_error_is_kept_for_downcasting() {
    let address = refused_address();
    let t = concrete(
        &[("bootstrapServers", &address), ("consumerGroup", "workers")],
        TIMEOUT,
    );
    let e = t.sample().await.unwrap_err();
    match e.downcast_ref::<scalers_queue::kafka::Error>() {
        Some(scalers_queue::kafka::Error::Request {
            servers, operation, ..
        }) => assert_eq!(
            (servers.as_str(), operation.as_str()),
            (address.as_str(), "fetch metadata")
        ),
        other => panic!("not this crate's Request error: {other:?}"),
    }
    // A librdkafka code is part of the message, not a cause: the chain ends there.
    assert!(std::error::Error::source(&e).is_none());
}

#[tokio::test]
async fn a_broker_that_never_answers_is_a_failure_within_the_timeout() {
    // Accepts connections (the kernel does, from the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let t = concrete(
        &[
            ("bootstrapServers", &address),
            ("consumerGroup", "workers"),
            ("topic", "orders"),
        ],
        TIMEOUT,
    );
    let e = t.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::Timeout);
    assert_eq!(
        e.message,
        format!("{address}: fetch metadata of topic \"orders\": no answer within 1500 ms")
    );
    drop(silent);
}

#[tokio::test]
async fn a_broker_stopped_mid_test_is_a_failure_and_a_restarted_one_is_measured_again() {
    let broker = KafkaBroker::start().await;
    let topic = unique_name("topic");
    let group = unique_name("group");
    fill(&broker, &topic, &group, 2, &[4, 1], &[(0, 1)]).await;
    let t = concrete(
        &[
            ("bootstrapServers", broker.bootstrap()),
            ("consumerGroup", &group),
            ("topic", &topic),
        ],
        TIMEOUT,
    );
    assert_eq!(t.sample().await.unwrap(), sample(4.0, true));

    broker.stop().await;
    let e = t.sample().await.unwrap_err();
    assert_unreachable(
        &e,
        &format!("{}: fetch metadata of topic {topic:?}", broker.bootstrap()),
    );

    // Memory storage: the restarted broker is empty; the same topic and offsets again.
    broker.restart().await;
    fill(&broker, &topic, &group, 2, &[4, 1], &[(0, 1)]).await;
    let value = eventually(Duration::from_secs(30), || async {
        t.sample().await.map_err(|e| e.message)
    })
    .await;
    assert_eq!(value, sample(4.0, true));
}

#[tokio::test]
async fn refused_credentials_are_unauthorized() {
    // The broker requires SASL and knows no user (see `KafkaBroker::start_authenticating`):
    // each mechanism gets as far as the SASL exchange and is refused there. A client without
    // SASL is disconnected.
    let broker = KafkaBroker::start_authenticating().await;
    let refused = "Authentication (Local: Authentication failure)";
    for (sasl, extra) in [
        (
            "scram_sha256",
            vec![("username", "alice"), ("password", "wrong")],
        ),
        (
            "scram_sha512",
            vec![("username", "alice"), ("password", "wrong")],
        ),
        (
            "plaintext",
            vec![("username", "alice"), ("password", "wrong")],
        ),
        (
            "oauthbearer",
            vec![("oauthToken", "eyJhbGciOiJub25lIn0.e30.")],
        ),
    ] {
        let mut metadata = vec![
            ("bootstrapServers", broker.bootstrap()),
            ("consumerGroup", "workers"),
            ("topic", "orders"),
            ("sasl", sasl),
        ];
        metadata.extend(extra);
        let t = concrete(&metadata, TIMEOUT);
        let e = t.sample().await.unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                TriggerErrorKind::Unauthorized,
                format!(
                    "{}: fetch metadata of topic \"orders\": {refused}",
                    broker.bootstrap()
                )
                .as_str()
            ),
            "sasl {sasl}"
        );
    }
    let t = concrete(
        &[
            ("bootstrapServers", broker.bootstrap()),
            ("consumerGroup", "workers"),
            ("topic", "orders"),
        ],
        TIMEOUT,
    );
    let e = t.sample().await.unwrap_err();
    assert_unreachable(
        &e,
        &format!("{}: fetch metadata of topic \"orders\"", broker.bootstrap()),
    );
}
