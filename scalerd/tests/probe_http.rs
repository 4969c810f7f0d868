//! `scalerd probe` on the triggers that need no broker: `metrics-api` against a local HTTP
//! server run by the test (JSON and Prometheus text, an API key, failures), and `cron` with
//! windows placed around the current time, plus their config errors through `scalerd check`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use scalers_testkit::{HttpStub, unique_name};
use serde_json::{Value, json};

/// A temp config file, removed on drop.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("scalerd-probe-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.yaml", unique_name("config")));
        std::fs::write(&path, text).unwrap();
        TempConfig(path)
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `scalerd <command> --config <config>` off the runtime's thread, so that the test's own
/// HTTP server keeps answering while the child process runs.
async fn scalerd(command: &'static str, config: &str) -> (TempConfig, Output) {
    let file = TempConfig::new(config);
    let path = file.0.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_scalerd"))
            .args([command, "--config", path.to_str().unwrap()])
            .output()
            .expect("scalerd runs")
    })
    .await
    .unwrap();
    (file, out)
}

/// Runs `scalerd probe`; returns the exit code and one JSON value per line.
async fn probe(config: &str) -> (i32, Vec<Value>) {
    let (_file, out) = scalerd("probe", config).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{stderr}")))
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

/// A trigger for [`config`]: name, type and metadata.
type TriggerDef<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);

/// One scaled object `app` in namespace `test` with these triggers.
fn config(triggers: &[TriggerDef<'_>]) -> String {
    let mut text = String::from(
        "scaledObjects:\n  - name: app\n    namespace: test\n    scaleTargetRef: {name: app}\n    triggers:\n",
    );
    for (name, kind, metadata) in triggers {
        text.push_str(&format!(
            "      - type: {kind}\n        name: {name}\n        metadata:\n"
        ));
        for (k, v) in metadata {
            text.push_str(&format!("          {k}: {}\n", json!(v)));
        }
    }
    text
}

fn ok(trigger: &str, kind: &str, value: u64, active: bool, target: u64) -> Value {
    json!({
        "scaledObject": "test/app", "trigger": trigger, "type": kind, "value": value,
        "active": active, "target": target, "metricType": "AverageValue"
    })
}

fn failed(trigger: &str, kind: &str, error: &str, error_kind: &str, target: u64) -> Value {
    json!({
        "scaledObject": "test/app", "trigger": trigger, "type": kind, "error": error,
        "errorKind": error_kind, "target": target, "metricType": "AverageValue"
    })
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
