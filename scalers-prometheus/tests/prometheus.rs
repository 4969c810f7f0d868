//! The trigger against a real Prometheus (and Pushgateway), started by the testkit or by
//! `.ci/run`. Every test owns its metric labels and Pushgateway job.

mod common;

use common::{endpoint, failure, registry, trigger};
use scalers_core::trigger::{Sample, TriggerErrorKind};
use scalers_prometheus::ClientPool;
use scalers_testkit::{
    PrometheusServices, TriggerCase, run_and_assert_trigger_compliance, unique_name,
};

/// Metadata for `query` against the shared Prometheus, plus `extra`.
fn metadata<'a>(
    services: &'a PrometheusServices,
    query: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut m = vec![
        ("serverAddress", services.prometheus_url()),
        ("query", query),
        ("threshold", "10"),
    ];
    m.extend_from_slice(extra);
    m
}

#[tokio::test]
async fn vector_with_one_element_gives_its_value_and_activity() {
    let services = PrometheusServices::shared().await;
    let queue = unique_name("orders");
    let job = unique_name("job");
    services
        .push_metric(&job, &format!("queue_depth{{queue=\"{queue}\"}} 42"))
        .await;
    let query = format!("queue_depth{{queue=\"{queue}\"}}");
    services.wait_for_query(&query, 42.0).await;

    let active = metadata(services, &query, &[]);
    let case = TriggerCase::new("prometheus", &active);
    assert_eq!(
        run_and_assert_trigger_compliance(&registry(&ClientPool::new()), &case)
            .await
            .unwrap(),
        Sample {
            value: 42.0,
            active: true,
            no_data: false
        }
    );
    let inactive = trigger(&metadata(
        services,
        &query,
        &[("activationThreshold", "50")],
    ));
    assert_eq!(
        inactive.trigger.sample().await.unwrap(),
        Sample {
            value: 42.0,
            active: false,
            no_data: false
        }
    );
}

#[tokio::test]
async fn scalar_result_gives_its_value() {
    let services = PrometheusServices::shared().await;
    for (query, value) in [("scalar(vector(3))", 3.0), ("2.5", 2.5), ("-1", -1.0)] {
        let t = trigger(&metadata(services, query, &[]));
        assert_eq!(
            t.trigger.sample().await.unwrap(),
            Sample::new(value, 0.0),
            "{query}"
        );
    }
}

#[tokio::test]
async fn several_elements_are_a_bad_response_naming_the_count() {
    let services = PrometheusServices::shared().await;
    let query = r#"label_replace(vector(1), "i", "a", "", "")
        or label_replace(vector(2), "i", "b", "", "")
        or label_replace(vector(3), "i", "c", "", "")"#;
    let t = trigger(&metadata(services, query, &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::BadResponse,
            format!(
                "{}: the query returned 3 elements; expected exactly one",
                endpoint(services.prometheus_url())
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn pushed_series_with_several_elements_are_a_bad_response() {
    let services = PrometheusServices::shared().await;
    let queue = unique_name("multi");
    let job = unique_name("job");
    services
        .push_metric(
            &job,
            &format!("queue_depth{{queue=\"{queue}\",shard=\"1\"}} 1\nqueue_depth{{queue=\"{queue}\",shard=\"2\"}} 2"),
        )
        .await;
    services
        .wait_for_query(&format!("count(queue_depth{{queue=\"{queue}\"}})"), 2.0)
        .await;
    let query = format!("queue_depth{{queue=\"{queue}\"}}");
    let t = trigger(&metadata(services, &query, &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::BadResponse);
    assert_eq!(
        e.message,
        format!(
            "{}: the query returned 2 elements; expected exactly one",
            endpoint(services.prometheus_url())
        )
    );
}

#[tokio::test]
async fn empty_result_is_no_data_or_a_failure() {
    let services = PrometheusServices::shared().await;
    let absent = format!("{}{{queue=\"none\"}}", unique_name("absent_metric"));
    for query in [absent.as_str(), "vector(1) > 2"] {
        let ignored = trigger(&metadata(services, query, &[]));
        assert_eq!(
            ignored.trigger.sample().await.unwrap(),
            Sample {
                value: 0.0,
                active: false,
                no_data: true
            },
            "{query}"
        );
        let strict = trigger(&metadata(services, query, &[("ignoreNullValues", "false")]));
        let e = strict.trigger.sample().await.unwrap_err();
        assert_eq!(
            failure(&e),
            (
                TriggerErrorKind::NoData,
                format!(
                    "{}: the query returned an empty result",
                    endpoint(services.prometheus_url())
                )
                .as_str()
            ),
            "{query}"
        );
    }
}

#[tokio::test]
async fn nan_and_infinities_are_like_an_empty_result() {
    let services = PrometheusServices::shared().await;
    // `0/0` is a scalar NaN, `vector(0)/0` a one-element vector holding NaN.
    for (query, shown) in [
        ("0/0", "NaN"),
        ("vector(0)/0", "NaN"),
        ("1/0", "+Inf"),
        ("vector(-1)/0", "-Inf"),
    ] {
        let ignored = trigger(&metadata(services, query, &[("activationThreshold", "-5")]));
        assert_eq!(
            ignored.trigger.sample().await.unwrap(),
            Sample::no_data(-5.0),
            "{query}"
        );
        let strict = trigger(&metadata(services, query, &[("ignoreNullValues", "false")]));
        let e = strict.trigger.sample().await.unwrap_err();
        assert_eq!(
            failure(&e),
            (
                TriggerErrorKind::NoData,
                format!(
                    "{}: the query returned {shown}",
                    endpoint(services.prometheus_url())
                )
                .as_str()
            ),
            "{query}"
        );
    }
}

#[tokio::test]
async fn malformed_query_is_a_bad_response_with_prometheus_error() {
    let services = PrometheusServices::shared().await;
    let t = trigger(&metadata(services, "sum(", &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::BadResponse,
            format!(
                "{}: HTTP 400 Bad Request: bad_data: invalid parameter \"query\": \
                 1:5: parse error: unclosed left parenthesis",
                endpoint(services.prometheus_url())
            )
            .as_str()
        )
    );
}
