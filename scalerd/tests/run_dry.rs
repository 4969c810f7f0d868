//! `scalerd run --dry-run` end to end: the daemon in-process against a real Prometheus, with
//! in-memory workloads, observed through its admin server.

mod support;

use std::path::Path;
use std::time::Duration;

use scalerd::daemon::status::Status;
use scalerd::daemon::{App, RunOptions};
use scalers_testkit::{PrometheusServices, eventually, unique_name};
use support::{Daemon, Dir};

const CONFIG: &str = "scalerd.yaml";

fn config(name: &str, server: &str, query: &str, max: u32) -> String {
    format!(
        "scaledObjects:\n  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    cooldownPeriod: 1\n    maxReplicaCount: {max}\n    triggers:\n      - type: prometheus\n        name: backlog\n        metadata:\n          serverAddress: {server}\n          query: {query}\n          threshold: '10'\n          timeout: '500'\n"
    )
}

/// The daemon of these tests: dry run, admin on a free port, config watched every 100 ms.
async fn start(config: &Path) -> Daemon {
    let mut opts = RunOptions::new(config.to_path_buf());
    opts.dry_run = true;
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.watch_interval = Duration::from_millis(100);
    opts.sample_timeout = Duration::from_secs(2);
    Daemon::start(opts).await
}

/// How long a status change may take to show.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_up_from_zero_then_back_to_zero_after_the_cooldown() {
    let prom = PrometheusServices::shared().await;
    let metric = unique_name("backlog");
    let job = unique_name("job");
    prom.push_metric(&job, &format!("{metric} 35\n")).await;
    prom.wait_for_query(&metric, 35.0).await;
    let name = unique_name("worker").replace('_', "-");
    let key = format!("shop/{name}");
    let dir = Dir::new("scalerd_run");
    let file = dir.write(CONFIG, &config(&name, prom.prometheus_url(), &metric, 10));
    let d = start(&file).await;
    assert_eq!(d.get("/livez").await, (200, "ok\n".to_owned()));

    // 0 → 1 (activation), then 1 → 4: ceil(35 / 10)
    let o = d
        .until(&key, WAIT, "4 replicas", |o| o.desired_replicas == Some(4))
        .await;
    assert_eq!(o.target, format!("Deployment/{name}"));
    assert_eq!(o.triggers[0].value, Some(35.0));
    let decision = o.decision.unwrap();
    assert_eq!(decision.winning_metric.as_deref(), Some("backlog"));
    assert!(o.last_write.unwrap().dry_run);
    assert_eq!(d.get("/readyz").await.0, 200);

    // One object's status alone, and a clear 404 for an unknown one.
    let (code, body) = d.get(&format!("/status?scaledObject={key}")).await;
    assert_eq!(code, 200, "{body}");
    let one: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(one.objects.len(), 1);
    assert_eq!(one.objects[0].scaled_object, key);
    assert_eq!(
        d.get("/status?scaledObject=shop/nope").await,
        (404, "no scaled object \"shop/nope\"\n".to_owned())
    );

    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains(&format!(
            "scalers_scaled_object_desired_replicas{{namespace=\"shop\",scaled_object=\"{name}\"}} 4"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "scalers_trigger_value{{namespace=\"shop\",scaled_object=\"{name}\",trigger=\"backlog\",type=\"prometheus\"}} 35.0"
    )));
    assert!(metrics.contains("scalers_loop_lateness_seconds_bucket"));

    // the backlog drains: inactive, and after the 1 s cooldown straight to zero
    prom.push_metric(&job, &format!("{metric} 0\n")).await;
    let o = d
        .until(&key, WAIT, "0 replicas", |o| {
            o.desired_replicas == Some(0) && o.current_replicas == Some(0)
        })
        .await;
    assert_eq!(o.active, Some(false));
    // one last-decision series per object, whatever reasons came before
    let metrics = d.get("/metrics").await.1;
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("scalers_scaled_object_last_decision{") && l.contains(&name))
        .collect();
    assert_eq!(series.len(), 1, "{series:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_holds_replicas_and_reload_keeps_state() {
    let prom = PrometheusServices::shared().await;
    let metric = unique_name("backlog");
    let job = unique_name("job");
    prom.push_metric(&job, &format!("{metric} 52\n")).await;
    prom.wait_for_query(&metric, 52.0).await;
    let name = unique_name("worker").replace('_', "-");
    let key = format!("shop/{name}");
    let dir = Dir::new("scalerd_run");
    let file = dir.write(CONFIG, &config(&name, prom.prometheus_url(), &metric, 10));
    let d = start(&file).await;
    d.until(&key, WAIT, "6 replicas", |o| o.desired_replicas == Some(6))
        .await;

    // Reload with the source unreachable: the object keeps running with its state, the
    // trigger fails, and the replicas hold (cooldown is 1 s: a failure must not read as 0).
    let unreachable = scalers_testkit::refused_url();
    dir.write(CONFIG, &config(&name, &unreachable, &metric, 10));
    let o = d
        .until(&key, WAIT, "a failing trigger", |o| {
            o.triggers[0].error_kind.as_deref() == Some("unavailable")
        })
        .await;
    assert_eq!(o.desired_replicas, Some(6));
    let first_tick = o.last_tick.unwrap();
    let o = d
        .until(&key, WAIT, "later ticks", |o| {
            o.last_tick.unwrap() >= first_tick + 2500
        })
        .await;
    assert_eq!(o.current_replicas, Some(6));
    assert_eq!(o.desired_replicas, Some(6));
    assert_eq!(o.decision.unwrap().reason_code, "TriggerError");
    assert!(o.last_error.unwrap().starts_with("trigger backlog: "));
    let status = d.status().await;
    assert!(status.last_reload.unwrap().ok);

    // An invalid config is rejected; the previous one keeps running.
    dir.write(
        CONFIG,
        "scaledObjects:\n  - name: x\n    maxReplicaCount: -1\n",
    );
    let status = eventually(Duration::from_secs(10), || async {
        let s = d.status().await;
        if s.last_reload.as_ref().is_some_and(|r| !r.ok) {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let error = status.last_reload.unwrap().error.unwrap();
    assert!(
        error.contains(
            "scaledObjects[0].maxReplicaCount: expected a non-negative whole number, got -1"
        ),
        "{error}"
    );
    let before = d.object(&key).await.last_tick.unwrap();
    d.until(&key, WAIT, "still ticking", |o| {
        o.last_tick.unwrap() > before
    })
    .await;
    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains("scalers_config_reload_failures_total 1"),
        "{metrics}"
    );

    // A valid config with a lower maximum is taken, and applies at once.
    dir.write(CONFIG, &config(&name, prom.prometheus_url(), &metric, 3));
    let o = d
        .until(&key, WAIT, "max 3", |o| o.desired_replicas == Some(3))
        .await;
    assert_eq!(o.decision.unwrap().reason_code, "TooManyReplicas");

    // An object removed by a reload takes its gauges with it (its counters stay, as counters).
    let other = unique_name("other").replace('_', "-");
    dir.write(CONFIG, &config(&other, prom.prometheus_url(), &metric, 3));
    let other_key = format!("shop/{other}");
    eventually(Duration::from_secs(10), || async {
        let s = d.status().await;
        let o = s.objects.iter().find(|o| o.scaled_object == other_key);
        match o {
            Some(o) if o.desired_replicas == Some(3) => Ok(()),
            _ => Err(format!("{s:?}")),
        }
    })
    .await;
    let gone = format!("scaled_object=\"{name}\"");
    let metrics = eventually(Duration::from_secs(10), || async {
        let metrics = d.get("/metrics").await.1;
        let gauges: Vec<&str> = metrics
            .lines()
            .filter(|l| l.contains(&gone) && !l.contains("_total"))
            .collect();
        if gauges.is_empty() {
            Ok(metrics)
        } else {
            Err(format!("{gauges:?}"))
        }
    })
    .await;
    assert!(
        metrics.contains(&format!(
            "scalers_trigger_errors_total{{namespace=\"shop\",{gone}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("scaled_object=\"{other}\"")));
    d.stop().await;
}

#[tokio::test]
async fn an_invalid_config_is_refused_at_start() {
    let dir = Dir::new("scalerd_run");
    let file = dir.write(
        CONFIG,
        "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    triggers: [{type: nope}]\n",
    );
    let mut opts = RunOptions::new(file.clone());
    opts.dry_run = true;
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    let err = App::build(opts, scalerd::builtin_registry())
        .await
        .unwrap_err();
    let text = err.to_string();
    let expected = format!(
        "{}: scaledObjects[0].triggers[0].type: unknown trigger type \"nope\"; known types: ",
        file.display()
    );
    assert!(text.starts_with(&expected), "{text}");
    assert!(text.contains("prometheus"), "{text}");
    assert!(matches!(err, scalerd::Error::Config(_)));
}
