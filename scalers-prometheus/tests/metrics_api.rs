//! The `metrics-api` trigger against small local HTTP servers: what it sends (path, query
//! string, `Accept`, credentials), the values it reads from JSON and Prometheus text, and how
//! each kind of failure is reported.

mod common;

use std::error::Error as _;
use std::time::{Duration, Instant};

use common::{failure, registry};
use scalers_core::trigger::{BuiltTrigger, Sample, TriggerError, TriggerErrorKind};
use scalers_prometheus::ClientPool;
use scalers_testkit::{
    HttpStub, StubTls, TriggerCase, refused_url, run_and_assert_trigger_compliance,
};

const STATS: &str = r#"{
  "components": {"worker": {"tasks": 12, "ready": true, "note": null, "shards": [4, 5]}},
  "queues": [{"name": "orders", "depth": 42}, {"name": "invoices", "depth": "1.5k"}],
  "version.major": 3,
  "label": "ten"
}"#;

const EXPOSITION: &str = "# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\n\
queue_depth{queue=\"orders\"} 42\nqueue_depth{queue=\"invoices\"} 7 1700000000000\n\
queue_depth_total 99\n";

/// Metadata for `url` and `valueLocation`, with target 10, plus `extra`.
fn base<'a>(
    url: &'a str,
    location: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut m = vec![
        ("url", url),
        ("valueLocation", location),
        ("targetValue", "10"),
    ];
    m.extend_from_slice(extra);
    m
}

/// Builds a `metrics-api` trigger with authentication parameters.
fn build_with_auth(metadata: &[(&str, &str)], auth: &[(&str, &str)]) -> BuiltTrigger {
    scalers_testkit::build_trigger(
        &registry(&ClientPool::new()),
        "metrics-api",
        metadata,
        auth,
        &[],
    )
    .unwrap_or_else(|e| panic!("invalid trigger: {e:?}"))
}

fn trigger(metadata: &[(&str, &str)]) -> BuiltTrigger {
    build_with_auth(metadata, &[])
}

/// Display of the error and of its whole source chain, and its Debug.
fn everything_shown(e: &TriggerError) -> String {
    let mut shown = format!("{e}\n{e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        shown.push_str(&format!("\n{s}\n{s:?}"));
        source = s.source();
    }
    shown
}

#[tokio::test]
async fn gets_the_url_with_its_query_string_and_reads_the_json_value() {
    let stub = HttpStub::json(STATS).await;
    let url = format!("{}/api/v1/stats?region=eu&window=5m", stub.url());
    let t = trigger(&base(&url, "components.worker.tasks", &[]));
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(12.0, 0.0));

    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/api/v1/stats?region=eu&window=5m");
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("x-api-key"), None);
}

#[tokio::test]
async fn indices_lengths_numeric_strings_escapes_and_activation() {
    let stub = HttpStub::json(STATS).await;
    let url = stub.url();
    for (location, extra, expected) in [
        ("queues.0.depth", vec![], Sample::new(42.0, 0.0)),
        ("queues.1.depth", vec![], Sample::new(1500.0, 0.0)),
        ("queues.#", vec![], Sample::new(2.0, 0.0)),
        ("components.worker.shards.#", vec![], Sample::new(2.0, 0.0)),
        (r"version\.major", vec![], Sample::new(3.0, 0.0)),
        (
            "components.worker.tasks",
            vec![("activationTargetValue", "12")],
            Sample {
                value: 12.0,
                active: false,
                no_data: false,
            },
        ),
        (
            "components.worker.tasks",
            vec![("activationTargetValue", "11.5")],
            Sample {
                value: 12.0,
                active: true,
                no_data: false,
            },
        ),
    ] {
        let t = trigger(&base(&url, location, &extra));
        assert_eq!(t.trigger.sample().await.unwrap(), expected, "{location}");
    }
}

#[tokio::test]
async fn values_that_are_not_numbers_are_bad_responses() {
    let stub = HttpStub::json(STATS).await;
    let url = stub.url();
    for (location, found) in [
        ("components.worker.ready", "true"),
        ("components.worker.note", "null"),
        ("components.worker", "an object"),
        ("queues", "an array"),
        ("label", "\"ten\""),
    ] {
        let t = trigger(&base(&url, location, &[]));
        let e = t.trigger.sample().await.unwrap_err();
        assert_eq!(
            failure(&e),
            (
                TriggerErrorKind::BadResponse,
                format!("{url}/: the value at \"{location}\" is {found}, not a number").as_str()
            )
        );
    }
}

#[tokio::test]
async fn nothing_at_the_location_is_no_data() {
    let stub = HttpStub::json(STATS).await;
    let url = format!("{}/stats", stub.url());
    for location in ["components.scheduler.tasks", "queues.2.depth", "label.#"] {
        let t = trigger(&base(&url, location, &[]));
        let e = t.trigger.sample().await.unwrap_err();
        assert_eq!(
            failure(&e),
            (
                TriggerErrorKind::NoData,
                format!("{url}: no value at \"{location}\"").as_str()
            )
        );
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_bad_response() {
    let stub = HttpStub::respond(200, "text/html", "<html>hello</html>").await;
    let url = format!("{}/stats", stub.url());
    let t = trigger(&base(&url, "a", &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::BadResponse,
            format!("{url}: malformed response").as_str()
        )
    );
    assert!(
        std::error::Error::source(&e)
            .unwrap()
            .is::<serde_json::Error>()
    );
}

#[tokio::test]
async fn prometheus_text_format_selects_one_series() {
    let stub = HttpStub::respond(200, "text/plain; version=0.0.4", EXPOSITION).await;
    let url = format!("{}/metrics", stub.url());
    let prom = [("format", "prometheus")];
    let t = trigger(&base(&url, "queue_depth{queue=\"invoices\"}", &prom));
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(7.0, 0.0));
    let r = &stub.requests()[0];
    assert_eq!(r.path(), "/metrics");
    assert_eq!(r.header("accept"), Some("text/plain; version=0.0.4"));

    let total = trigger(&base(&url, "queue_depth_total", &prom));
    assert_eq!(
        total.trigger.sample().await.unwrap(),
        Sample::new(99.0, 0.0)
    );

    for (selector, kind, message) in [
        (
            "queue_depth",
            TriggerErrorKind::BadResponse,
            format!("{url}: 2 samples match \"queue_depth\"; expected exactly one"),
        ),
        (
            "queue_depth{queue=\"refunds\"}",
            TriggerErrorKind::NoData,
            format!("{url}: no value at \"queue_depth{{queue=\\\"refunds\\\"}}\""),
        ),
    ] {
        let t = trigger(&base(&url, selector, &prom));
        let e = t.trigger.sample().await.unwrap_err();
        assert_eq!(failure(&e), (kind, message.as_str()));
    }
}

#[tokio::test]
async fn api_key_in_the_default_header_or_a_named_one() {
    let stub = HttpStub::json(STATS).await;
    let url = stub.url();
    let location = "components.worker.tasks";
    let t = build_with_auth(
        &base(&url, location, &[("authMode", "apiKey")]),
        &[("apiKey", "k3y")],
    );
    t.trigger.sample().await.unwrap();
    let t = build_with_auth(
        &base(
            &url,
            location,
            &[
                ("authMode", "apiKey"),
                ("method", "header"),
                ("keyParamName", "X-Token"),
            ],
        ),
        &[("apiKey", "other")],
    );
    t.trigger.sample().await.unwrap();
    let requests = stub.requests();
    assert_eq!(requests[0].header("x-api-key"), Some("k3y"));
    assert_eq!(requests[0].target, "/");
    assert_eq!(requests[1].header("x-token"), Some("other"));
    assert_eq!(requests[1].header("x-api-key"), None);
}

#[tokio::test]
async fn api_key_in_the_query_string_is_appended_and_never_shown() {
    let stub = HttpStub::respond(500, "text/plain", "oops").await;
    let url = format!("{}/stats?region=eu", stub.url());
    let location = "components.worker.tasks";
    let default_name = build_with_auth(
        &base(
            &url,
            location,
            &[("authMode", "apiKey"), ("method", "query")],
        ),
        &[("apiKey", "s3cret k&y")],
    );
    let e = default_name.trigger.sample().await.unwrap_err();
    // The query string (and the key in it) is not part of the message.
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::BadResponse,
            format!("{}/stats: HTTP 500 Internal Server Error", stub.url()).as_str()
        )
    );
    assert!(!everything_shown(&e).contains("s3cret"));
    let named = build_with_auth(
        &base(
            &url,
            location,
            &[
                ("authMode", "apiKey"),
                ("method", "query"),
                ("keyParamName", "key"),
            ],
        ),
        &[("apiKey", "abc")],
    );
    named.trigger.sample().await.unwrap_err();
    let requests = stub.requests();
    assert_eq!(requests[0].target, "/stats?region=eu&api_key=s3cret+k%26y");
    assert_eq!(requests[0].header("x-api-key"), None);
    assert_eq!(requests[1].target, "/stats?region=eu&key=abc");
}

#[tokio::test]
async fn bearer_basic_and_custom_credentials_reach_the_server() {
    let stub = HttpStub::json(STATS).await;
    let url = stub.url();
    let location = "components.worker.tasks";
    // KEDA's metrics-api names the bearer token `token`; `bearerToken` works too.
    build_with_auth(
        &base(&url, location, &[("authMode", "bearer")]),
        &[("token", "t0ken")],
    )
    .trigger
    .sample()
    .await
    .unwrap();
    build_with_auth(
        &base(&url, location, &[("authModes", "bearer")]),
        &[("bearerToken", "other")],
    )
    .trigger
    .sample()
    .await
    .unwrap();
    build_with_auth(
        &base(&url, location, &[("authMode", "basic")]),
        &[("username", "alice"), ("password", "pw")],
    )
    .trigger
    .sample()
    .await
    .unwrap();
    build_with_auth(
        &base(&url, location, &[("authMode", "custom,apiKey")]),
        &[
            ("customAuthHeader", "X-Custom"),
            ("customAuthValue", "c"),
            ("apiKey", "k"),
        ],
    )
    .trigger
    .sample()
    .await
    .unwrap();
    let requests = stub.requests();
    assert_eq!(requests[0].header("authorization"), Some("Bearer t0ken"));
    assert_eq!(requests[1].header("authorization"), Some("Bearer other"));
    // base64("alice:pw")
    assert_eq!(
        requests[2].header("authorization"),
        Some("Basic YWxpY2U6cHc=")
    );
    assert_eq!(requests[3].header("x-custom"), Some("c"));
    assert_eq!(requests[3].header("x-api-key"), Some("k"));
    assert_eq!(requests[3].header("authorization"), None);
}

#[tokio::test]
async fn rejected_credentials_and_other_statuses() {
    for (status, kind, reason) in [
        (401, TriggerErrorKind::Unauthorized, "Unauthorized"),
        (403, TriggerErrorKind::Unauthorized, "Forbidden"),
        (404, TriggerErrorKind::BadResponse, "Not Found"),
        (503, TriggerErrorKind::BadResponse, "Service Unavailable"),
    ] {
        let stub = HttpStub::respond(status, "application/json", r#"{"tasks": 3}"#).await;
        let url = format!("{}/stats", stub.url());
        let t = trigger(&base(&url, "tasks", &[]));
        let e = t.trigger.sample().await.unwrap_err();
        assert_eq!(
            failure(&e),
            (kind, format!("{url}: HTTP {status} {reason}").as_str())
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let stub = HttpStub::never_answer().await;
    let url = format!("{}/stats", stub.url());
    let t = trigger(&base(&url, "tasks", &[("timeout", "200")]));
    let started = Instant::now();
    let e = t.trigger.sample().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Timeout,
            format!("{url}: no answer within 200 ms").as_str()
        )
    );
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let url = format!("{}/stats", refused_url());
    let t = trigger(&base(&url, "tasks", &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Unavailable,
            format!("{url}: cannot connect").as_str()
        )
    );
}

#[tokio::test]
async fn credentials_never_appear_in_errors() {
    let failing = HttpStub::respond(401, "text/plain", "bad key s3cret-body").await;
    let with_userinfo =
        failing.url().replace("http://", "http://user:s3cret-ui@") + "/stats?token=s3cret-qs";
    let metadata = base(
        &with_userinfo,
        "tasks",
        &[("authMode", "apiKey,bearer,custom"), ("method", "header")],
    );
    let case = TriggerCase::new("metrics-api", &metadata)
        .auth(&[
            ("apiKey", "s3cret-key"),
            ("token", "s3cret-tok"),
            ("customAuthHeader", "X-Custom"),
            ("customAuthValue", "s3cret-cust"),
        ])
        .secret("s3cret-ui")
        .secret("s3cret-qs");
    let e = run_and_assert_trigger_compliance(&registry(&ClientPool::new()), &case)
        .await
        .unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Unauthorized,
            format!("{}/stats: HTTP 401 Unauthorized", failing.url()).as_str()
        )
    );
    let shown = everything_shown(&e);
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[tokio::test]
async fn shares_clients_with_prometheus_triggers_of_the_same_server() {
    let stub = HttpStub::json(
        r#"{"status":"success","data":{"resultType":"scalar","result":[1,"5"]},"tasks":4}"#,
    )
    .await;
    let url = stub.url();
    let pool = ClientPool::new();
    let registry = registry(&pool);
    let bearer = [("authModes", "bearer"), ("bearerToken", "t")];
    let mut prom_meta = vec![
        ("serverAddress", url.as_str()),
        ("query", "up"),
        ("threshold", "1"),
    ];
    prom_meta.extend_from_slice(&bearer);
    let prom =
        scalers_testkit::build_trigger(&registry, "prometheus", &prom_meta, &[], &[]).unwrap();
    let api = scalers_testkit::build_trigger(
        &registry,
        "metrics-api",
        &base(&url, "tasks", &bearer),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(pool.len(), 1);
    for _ in 0..2 {
        assert_eq!(prom.trigger.sample().await.unwrap(), Sample::new(5.0, 0.0));
        assert_eq!(api.trigger.sample().await.unwrap(), Sample::new(4.0, 0.0));
    }
    assert_eq!(stub.requests().len(), 4);
    assert_eq!(stub.connections(), 1);
    drop((prom, api));
    assert!(pool.is_empty());
}

#[tokio::test]
async fn tls_with_a_ca_and_a_client_certificate() {
    let tls = StubTls {
        cert_chain: include_str!("tls/server.pem").to_owned(),
        key: include_str!("tls/server.key").to_owned(),
        client_ca: Some(include_str!("tls/ca.pem").to_owned()),
    };
    let stub = HttpStub::respond_tls(&tls, 200, "application/json", r#"{"tasks": 9}"#).await;
    let url = stub.url();
    let t = build_with_auth(
        &base(&url, "tasks", &[("authMode", "tls")]),
        &[
            ("ca", include_str!("tls/ca.pem")),
            ("cert", include_str!("tls/client.pem")),
            ("key", include_str!("tls/client.key")),
        ],
    );
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(9.0, 0.0));
    assert!(stub.requests()[0].client_certificate);
}
