//! Failures of a real external scaler, typed as the engine needs them: unreachable, deadline,
//! gRPC statuses.

mod common;

use std::error::Error as _;
use std::time::Duration;

use common::{FakeScaler, build};
use scalers_core::trigger::TriggerErrorKind;
use scalers_testkit::refused_address;
use tonic::Code;

#[tokio::test]
async fn a_scaler_that_is_not_there_is_unavailable() {
    // a port that was free a moment ago: connecting is refused
    let address = refused_address();
    let built = build("external", &[("scalerAddress", &address)]).unwrap();
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::Unavailable);
    assert_eq!(
        e.message,
        format!("{address}: GetMetricSpec: cannot reach the scaler")
    );
    // the cause is kept as the source: tonic's status for the refused connection
    let source = e.source().expect("a source").to_string();
    assert!(
        source.starts_with("code: 'The service is currently unavailable'"),
        "{source}"
    );
}

#[tokio::test]
async fn the_crate_error_is_kept_for_downcasting() {
    let address = refused_address();
    let built = build("external", &[("scalerAddress", &address)]).unwrap();
    let e = built.trigger.sample().await.unwrap_err();
    let Some(scalers_external::Error::Unavailable { source, .. }) =
        e.downcast_ref::<scalers_external::Error>()
    else {
        panic!("not this crate's Unavailable error: {e:?}");
    };
    assert_eq!(source.code(), Code::Unavailable);
    // The chain goes on with tonic's status, not with the message again.
    assert_eq!(e.source().unwrap().to_string(), source.to_string());
}

#[tokio::test]
async fn a_grpc_error_is_a_bad_response_naming_the_code() {
    let scaler = FakeScaler::start().await;
    let address = scaler.address();
    let built = build("external", &[("scalerAddress", &address)]).unwrap();

    scaler.fail("GetMetrics", Some((Code::Internal, "queue backend down")));
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::BadResponse);
    assert_eq!(
        e.message,
        format!("{address}: GetMetrics returned INTERNAL: queue backend down")
    );
    assert!(e.source().is_none());

    scaler.fail("GetMetrics", None);
    scaler.fail("IsActive", Some((Code::Unimplemented, "")));
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::BadResponse);
    assert_eq!(
        e.message,
        format!("{address}: IsActive returned UNIMPLEMENTED: ")
    );

    scaler.fail("IsActive", Some((Code::PermissionDenied, "not you")));
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::Unauthorized);
    assert_eq!(
        e.message,
        format!("{address}: IsActive returned PERMISSION_DENIED: not you")
    );

    scaler.fail("IsActive", Some((Code::Unavailable, "draining")));
    assert_eq!(
        built.trigger.sample().await.unwrap_err().kind,
        TriggerErrorKind::Unavailable
    );

    scaler.fail("IsActive", None);
    built.trigger.sample().await.unwrap();
}

#[tokio::test]
async fn a_slow_scaler_times_out_per_call() {
    let scaler = FakeScaler::start().await;
    let address = scaler.address();
    let built = build(
        "external",
        &[("scalerAddress", &address), ("timeout", "200")],
    )
    .unwrap();
    scaler.set_delay(Duration::from_secs(5));
    let started = tokio::time::Instant::now();
    let e = built.trigger.sample().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.kind, TriggerErrorKind::Timeout);
    assert_eq!(
        e.message,
        format!("{address}: GetMetricSpec: no answer within 200 ms")
    );

    scaler.set_delay(Duration::ZERO);
    built.trigger.sample().await.unwrap();
}

#[tokio::test]
async fn the_scaler_restarting_is_survived_without_rebuilding_the_trigger() {
    let scaler = FakeScaler::start().await;
    let address = scaler.address();
    scaler.set_values(vec![common::value(7, 0.0)]);
    let built = build("external", &[("scalerAddress", &address)]).unwrap();
    assert_eq!(built.trigger.sample().await.unwrap().value, 0.7);

    let scaler = scaler.restart().await;
    // the broken connection may fail one call; the channel reconnects by itself
    let sample = scalers_testkit::eventually(Duration::from_secs(10), || async {
        built.trigger.sample().await
    })
    .await;
    assert_eq!(sample.value, 0.7);
    drop(scaler);
}
