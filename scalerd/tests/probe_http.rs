//! `scalerd probe` on the triggers that need no broker: `metrics-api` against a local HTTP
//! server run by the test (JSON and Prometheus text, an API key, failures), and `cron` with
//! windows placed around the current time, plus their config errors through `scalerd check`.

use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use scalers_testkit::HttpStub;
use serde_json::Value;

mod probe_support;

use probe_support::{TempConfig, config, failed, ok};

/// Runs `scalerd <command>` off the runtime (the test's HTTP stubs keep serving meanwhile).
async fn scalerd(command: &'static str, config: &str) -> (TempConfig, Output) {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || probe_support::scalerd(command, &config))
        .await
        .unwrap()
}

/// Runs `scalerd probe` off the runtime; returns the exit code and one JSON value per line.
async fn probe(config: &str) -> (i32, Vec<Value>) {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || probe_support::probe(&config))
        .await
        .unwrap()
}

fn meta(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[tokio::test]
async fn probe_reads_metrics_api_values_from_json_with_an_api_key() {
    let stub = HttpStub::json(
        r#"{"components":{"worker":{"pendingTasks":42,"ready":true}},"queues":[1,2,3]}"#,
    )
    .await;
    let url = format!("{}/api/v1/stats?region=eu", stub.url());
    let shown = format!("{}/api/v1/stats", stub.url());
    let with_key = |location: &str, extra: &[(&'static str, &str)]| {
        let mut m = meta(&[
            ("url", &url),
            ("valueLocation", location),
            ("targetValue", "10"),
            ("authMode", "apiKey"),
            ("apiKey", "k3y"),
        ]);
        m.extend(meta(extra));
        m
    };
    let (code, lines) = probe(&config(&[
        (
            "pending",
            "metrics-api",
            with_key("components.worker.pendingTasks", &[]),
        ),
        (
            "queues",
            "metrics-api",
            with_key("queues.#", &[("activationTargetValue", "3")]),
        ),
        (
            "ready",
            "metrics-api",
            with_key("components.worker.ready", &[]),
        ),
        (
            "missing",
            "metrics-api",
            with_key("components.scheduler", &[]),
        ),
    ]))
    .await;
    assert_eq!(code, 1, "two triggers failed");
    assert_eq!(
        lines,
        vec![
            ok("pending", "metrics-api", 42, true, 10),
            ok("queues", "metrics-api", 3, false, 10),
            failed(
                "ready",
                "metrics-api",
                &format!("{shown}: the value at \"components.worker.ready\" is true, not a number"),
                "bad_response",
                10
            ),
            failed(
                "missing",
                "metrics-api",
                &format!("{shown}: no value at \"components.scheduler\""),
                "no_data",
                10
            ),
        ]
    );
    let requests = stub.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.target, "/api/v1/stats?region=eu");
        assert_eq!(r.header("x-api-key"), Some("k3y"));
        assert_eq!(r.header("accept"), Some("application/json"));
    }
}

#[tokio::test]
async fn probe_reads_metrics_api_values_from_prometheus_text() {
    let stub = HttpStub::respond(
        200,
        "text/plain; version=0.0.4",
        "# TYPE queue_depth gauge\nqueue_depth{queue=\"orders\"} 17\nqueue_depth{queue=\"refunds\"} 0\n",
    )
    .await;
    let url = format!("{}/metrics", stub.url());
    let series = |selector: &str| {
        meta(&[
            ("url", &url),
            ("format", "prometheus"),
            ("valueLocation", selector),
            ("targetValue", "5"),
        ])
    };
    let (code, lines) = probe(&config(&[
        (
            "orders",
            "metrics-api",
            series("queue_depth{queue=\"orders\"}"),
        ),
        (
            "refunds",
            "metrics-api",
            series("queue_depth{queue=\"refunds\"}"),
        ),
    ]))
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        vec![
            ok("orders", "metrics-api", 17, true, 5),
            ok("refunds", "metrics-api", 0, false, 5),
        ]
    );
}

#[tokio::test]
async fn probe_reports_a_refusing_metrics_api_server() {
    let stub = HttpStub::respond(403, "text/plain", "no key no data").await;
    let url = format!("{}/stats", stub.url());
    let (code, lines) = probe(&config(&[(
        "api",
        "metrics-api",
        meta(&[("url", &url), ("valueLocation", "n"), ("targetValue", "1")]),
    )]))
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        vec![failed(
            "api",
            "metrics-api",
            &format!("{url}: HTTP 403 Forbidden"),
            "unauthorized",
            1
        )]
    );
}

/// `minute hour` in UTC, `offset_minutes` from now.
fn utc_minute_hour(offset_minutes: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let minute_of_day = (now / 60 + offset_minutes).rem_euclid(24 * 60);
    format!("{} {}", minute_of_day % 60, minute_of_day / 60)
}

#[tokio::test]
async fn probe_cron_is_active_inside_a_window_around_now_and_not_outside() {
    // Daily windows placed relative to the current time, wide enough that the test cannot
    // cross an edge while it runs: one opened an hour ago and closes in two hours, the other
    // opens in two hours.
    let window = |start: i64, end: i64, replicas: &str| {
        meta(&[
            ("timezone", "UTC"),
            ("start", &format!("{} * * *", utc_minute_hour(start))),
            ("end", &format!("{} * * *", utc_minute_hour(end))),
            ("desiredReplicas", replicas),
        ])
    };
    let (code, lines) = probe(&config(&[
        ("now", "cron", window(-60, 120, "4")),
        ("later", "cron", window(120, 180, "4")),
    ]))
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        vec![
            ok("now", "cron", 4, true, 1),
            ok("later", "cron", 0, false, 1)
        ]
    );
}

#[tokio::test]
async fn check_reports_every_cron_and_metrics_api_config_error() {
    let text = config(&[
        (
            "c",
            "cron",
            meta(&[
                ("timezone", "Mars/Base"),
                ("start", "61 * * * *"),
                ("end", "0 9 * * *"),
                ("desiredReplicas", "0"),
            ]),
        ),
        (
            "m",
            "metrics-api",
            meta(&[
                ("url", "http://app:8080/stats"),
                ("format", "xml"),
                ("valueLocation", "a.b"),
                ("targetValue", "10"),
            ]),
        ),
    ]);
    let (file, out) = scalerd("check", &text).await;
    assert_eq!(out.status.code(), Some(2));
    let p = file.0.display();
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "{p}: scaledObjects[0].triggers[0].metadata.timezone: unknown time zone \"Mars/Base\"\n\
             {p}: scaledObjects[0].triggers[0].metadata.start: invalid cron expression \
             \"61 * * * *\": minute 61 is out of range 0-59\n\
             {p}: scaledObjects[0].triggers[0].metadata.desiredReplicas: must be at least 1, \
             got 0\n\
             {p}: scaledObjects[0].triggers[1].metadata.format: only json and prometheus are \
             supported, got \"xml\"\n"
        )
    );
}
