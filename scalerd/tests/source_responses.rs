//! Odd source answers end to end: Prometheus answers that are malformed, of the wrong types,
//! huge, NaN or infinite, through `scalerd probe` (exact output) and through the daemon (a
//! failure holds the replicas, a huge value is capped at the maximum; nothing panics).

mod support;

use std::process::Command;
use std::time::Duration;

use scalers_testkit::{FakeApiServer, FakeResource, HttpStub, eventually};
use serde_json::{Value, json};
use support::{Daemon, Dir, k8s_name, options};

fn vector(value: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1700000000,{value}]}}]}}}}"#
    )
}

/// `(trigger name, body)`: what each stub answers to every query.
fn answers() -> Vec<(&'static str, String)> {
    vec![
        ("number-not-string", vector("42")),
        ("not-a-number", vector("\"ten\"")),
        ("huge", vector("\"1e300\"")),
        ("nan", vector("\"NaN\"")),
        ("minus-inf", vector("\"-Inf\"")),
        (
            "matrix",
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"1"]]}]}}"#.to_owned(),
        ),
        (
            "null-result",
            r#"{"status":"success","data":{"resultType":"vector","result":null}}"#.to_owned(),
        ),
        ("truncated", r#"{"status":"succ"#.to_owned()),
        (
            "api-error",
            r#"{"status":"error","errorType":"execution","error":"query timed out"}"#.to_owned(),
        ),
        (
            "negative-scalar",
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"-12.5"]}}"#.to_owned(),
        ),
    ]
}

fn failed(trigger: &str, endpoint: &str, error: &str) -> Value {
    json!({
        "scaledObject": "shop/app", "trigger": trigger, "type": "prometheus",
        "error": format!("{endpoint}/api/v1/query: {error}"), "errorKind": "bad_response",
        "target": 10, "metricType": "AverageValue"
    })
}

fn sampled(trigger: &str, value: Value, active: bool, no_data: bool) -> Value {
    let mut v = json!({
        "scaledObject": "shop/app", "trigger": trigger, "type": "prometheus", "value": value,
        "active": active, "target": 10, "metricType": "AverageValue"
    });
    if no_data {
        v["noData"] = json!(true);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_odd_prometheus_answers_as_failures_or_no_data() {
    let mut stubs = Vec::new();
    let mut triggers = String::new();
    for (name, body) in answers() {
        let stub = HttpStub::json(body).await;
        triggers.push_str(&format!(
            "      - {{type: prometheus, name: {name}, metadata: {{serverAddress: '{}', query: q, threshold: '10'}}}}\n",
            stub.url()
        ));
        stubs.push((name, stub));
    }
    let dir = Dir::new("answers");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n  - name: app\n    namespace: shop\n    scaleTargetRef: {{name: app}}\n    triggers:\n{triggers}"
        ),
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_scalerd"))
            .args(["probe", "--config"])
            .arg(&config)
            .output()
            .expect("scalerd runs")
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "some triggers failed");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let url = |name: &str| stubs.iter().find(|(n, _)| *n == name).unwrap().1.url();
    assert_eq!(
        lines,
        [
            failed(
                "number-not-string",
                &url("number-not-string"),
                "the value \"42\" is not a number"
            ),
            failed(
                "not-a-number",
                &url("not-a-number"),
                "the value \"ten\" is not a number"
            ),
            sampled("huge", json!(1e300), true, false),
            // NaN and infinities are an empty result (ignoreNullValues, default true): 0,
            // flagged as no data.
            sampled("nan", json!(0), false, true),
            sampled("minus-inf", json!(0), false, true),
            failed(
                "matrix",
                &url("matrix"),
                "the query returned a matrix; expected a vector or a scalar"
            ),
            failed("null-result", &url("null-result"), "malformed response"),
            failed("truncated", &url("truncated"), "malformed response"),
            failed("api-error", &url("api-error"), "execution: query timed out"),
            sampled("negative-scalar", json!(-12.5), false, false),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_holds_on_bad_answers_and_caps_huge_values() {
    let malformed = HttpStub::json(r#"{"status":"succ"#).await;
    let huge = HttpStub::json(vector("\"1e300\"")).await;
    let fake = FakeApiServer::start().await;
    let (held, capped) = (k8s_name("held"), k8s_name("capped"));
    fake.put_workload(&FakeResource::DEPLOYMENT, "shop", &held, 2);
    fake.put_workload(&FakeResource::DEPLOYMENT, "shop", &capped, 1);
    let object = |name: &str, url: &str| {
        format!(
            "  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    cooldownPeriod: 1\n    minReplicaCount: 0\n    maxReplicaCount: 3\n    triggers:\n      - type: prometheus\n        name: backlog\n        metadata: {{serverAddress: '{url}', query: q, threshold: '10'}}\n"
        )
    };
    let dir = Dir::new("answers");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}{}",
            object(&held, &malformed.url()),
            object(&capped, &huge.url())
        ),
    );
    let d = Daemon::start(options(&config, &fake)).await;
    // ceil(1e300 / 10) replicas, capped at maxReplicaCount 3
    eventually(Duration::from_secs(15), || async {
        match fake.replicas(&FakeResource::DEPLOYMENT, "shop", &capped) {
            Some(3) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    let o = d.object(&format!("shop/{capped}")).await;
    assert_eq!(o.decision.unwrap().reason_code, "TooManyReplicas");
    assert_eq!(o.triggers[0].value, Some(1e300));

    // Three ticks of a malformed answer, with a 1 s cooldown: held at 2.
    let o = d
        .until(
            &format!("shop/{held}"),
            Duration::from_secs(10),
            "three failed samples",
            |o| {
                o.decision
                    .as_ref()
                    .is_some_and(|d| d.metrics[0].failures >= 3)
            },
        )
        .await;
    assert_eq!((o.current_replicas, o.desired_replicas), (Some(2), Some(2)));
    assert_eq!(o.triggers[0].error_kind.as_deref(), Some("bad_response"));
    assert_eq!(o.decision.unwrap().reason_code, "TriggerError");
    assert!(
        fake.scale_writes(&FakeResource::DEPLOYMENT, "shop", &held)
            .is_empty()
    );
    assert_eq!(d.get("/livez").await.0, 200);
    d.stop().await;
}
