//! Faults end to end: `scalerd run` (the in-process `App`) scaling Deployments on the fake
//! Kubernetes API server while its sources die, hang, and while the API server refuses, fails
//! or stalls. Sources are real processes: a Redis server and a Prometheus server of the test's
//! own, killed with SIGKILL and started again on the same port.
//!
//! What every test holds to: a failure never reads as zero (objects run with
//! `minReplicaCount: 0` and a 1 s cooldown, so a failure taken for an empty source would scale
//! to zero within a second or two), the failure shows in `/status`, `/metrics` and Events, and
//! the other objects keep their schedule.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use scalers_testkit::{
    FakeApiServer, FakeResource, Fault, HttpStub, RedisOptions, RedisServer, eventually,
    unique_name,
};
use support::{
    Daemon, Dir, free_port, k8s_name, metric, options, refuse_workload_watches, replicas_become,
    series, set_list, unix_ms,
};
use tokio::time::Instant;

const DEPLOY: FakeResource = FakeResource::DEPLOYMENT;

/// One object in namespace `shop` scaling Deployment `name` on list `key` of the Redis server
/// at `address`: one replica per 10 items, polled every second, a 1 s cooldown, minimum 0.
fn redis_object(name: &str, address: &str, key: &str) -> String {
    format!(
        "  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    cooldownPeriod: 1\n    minReplicaCount: 0\n    maxReplicaCount: 20\n    triggers:\n      - type: redis\n        name: jobs\n        metadata: {{address: '{address}', listName: '{key}', listLength: '10'}}\n"
    )
}

fn scale_path(name: &str) -> String {
    format!("/apis/apps/v1/namespaces/shop/deployments/{name}/scale")
}

fn object_path(name: &str) -> String {
    format!("/apis/apps/v1/namespaces/shop/deployments/{name}")
}

/// Waits until the fake server holds `replicas` for Deployment `shop/name`.
/// `(reason, type, note)` of the Events about Deployment `shop/name`, oldest first.
fn events_of(fake: &FakeApiServer, name: &str) -> Vec<(String, String, String)> {
    fake.events("shop")
        .into_iter()
        .filter(|e: &Event| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.name.as_deref() == Some(name))
        })
        .map(|e| {
            (
                e.reason.unwrap_or_default(),
                e.type_.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

fn event(reason: &str, kind: &str, note: &str) -> (String, String, String) {
    (reason.to_owned(), kind.to_owned(), note.to_owned())
}

/// The series of `scalers_trigger_errors_total` of one object.
fn trigger_errors<'a>(metrics: &'a str, name: &str) -> Vec<&'a str> {
    let mark = format!("scaled_object=\"{name}\"");
    series(metrics, "scalers_trigger_errors_total")
        .into_iter()
        .filter(|l| l.contains(&mark))
        .collect()
}

/// The series of `scalers_target_errors_total` of one object.
fn target_errors<'a>(metrics: &'a str, name: &str) -> Vec<&'a str> {
    let mark = format!("scaled_object=\"{name}\"");
    series(metrics, "scalers_target_errors_total")
        .into_iter()
        .filter(|l| l.contains(&mark))
        .collect()
}

// ---------------------------------------------------------------- a source killed mid-run

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_holds_the_replicas_reports_it_and_resumes_on_the_same_port() {
    // Every write is on disk before it is acknowledged, so the list survives the SIGKILL and
    // is back the moment the server is: the test sees no empty-list window after the restart.
    let mut redis = RedisServer::start(RedisOptions {
        args: ["--appendonly", "yes", "--appendfsync", "always"]
            .map(String::from)
            .to_vec(),
        ..RedisOptions::default()
    })
    .await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    let name = k8s_name("orders");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    let dir = Dir::new("faults");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}",
            redis_object(&name, redis.address(), &key)
        ),
    );
    let d = Daemon::start(options(&config, &fake)).await;

    // 1 → 4 (legacy limit max(2 × 1, 4)) → 5 = ceil(45 / 10)
    replicas_become(&fake, &name, 5, Duration::from_secs(20)).await;
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [4, 5]);

    redis.kill();
    let message = format!("redis {}: cannot connect", redis.address());
    let failing = d
        .until(&id, Duration::from_secs(10), "a failing trigger", |o| {
            o.triggers[0].error_kind.as_deref() == Some("unavailable")
        })
        .await;
    assert_eq!(failing.triggers[0].error.as_deref(), Some(message.as_str()));
    assert_eq!(failing.triggers[0].value, None);
    // Three more failing ticks: with a 1 s cooldown and a minimum of 0, a failure read as an
    // empty list would have scaled the Deployment to zero by now.
    let first = failing.last_tick.unwrap();
    let o = d
        .until(&id, Duration::from_secs(10), "three more ticks", |o| {
            o.last_tick.unwrap() >= first + 3000
        })
        .await;
    assert_eq!(o.triggers[0].error_kind.as_deref(), Some("unavailable"));
    assert_eq!((o.current_replicas, o.desired_replicas), (Some(5), Some(5)));
    let decision = o.decision.unwrap();
    assert_eq!(decision.reason_code, "TriggerError");
    assert_eq!(
        decision.reason,
        "holding: jobs failed and no fallback applies"
    );
    assert_eq!(o.last_error, Some(format!("trigger jobs: {message}")));
    assert_eq!(fake.replicas(&DEPLOY, "shop", &name), Some(5));
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [4, 5]);

    let metrics = d.metrics().await;
    let errors = trigger_errors(&metrics, &name);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let series = format!(
        "scalers_trigger_errors_total{{namespace=\"shop\",scaled_object=\"{name}\",trigger=\"jobs\",kind=\"unavailable\"}}"
    );
    assert!(
        metric(&metrics, &series).is_some_and(|n| n >= 4.0),
        "{errors:?}"
    );
    // One Event when the trigger starts failing, not one per tick.
    assert_eq!(
        events_of(&fake, &name),
        [
            event(
                "SuccessfulRescale",
                "Normal",
                "New size: 4; reason: jobs proposes 5; limited by scale-up rate"
            ),
            event(
                "SuccessfulRescale",
                "Normal",
                "New size: 5; reason: jobs proposes 5"
            ),
            event("KEDAScalerFailed", "Warning", &format!("jobs: {message}")),
        ]
    );

    // Back on the same port: a tick within two polling intervals samples the list again.
    redis.restart().await;
    let back = unix_ms();
    let o = d
        .until(&id, Duration::from_secs(2), "sampling again", |o| {
            o.triggers[0].value == Some(45.0)
        })
        .await;
    assert!(o.last_tick.unwrap() >= back);
    assert_eq!(o.triggers[0].error, None);
    assert_eq!(o.last_error, None);
    assert_eq!(o.decision.unwrap().reason_code, "DesiredWithinRange");
    // and decisions follow the source again
    set_list(&redis.client(), &key, 75);
    replicas_become(&fake, &name, 8, Duration::from_secs(10)).await;
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [4, 5, 8]);
    d.stop().await;
}

/// A Prometheus server of this test's own (no scrape jobs: queries such as `vector(15)` answer
/// without data), that it can SIGKILL and start again on the same port.
///
/// It runs under a small shell that kills it when the test process's end closes the shell's
/// stdin, so that it cannot outlive a test killed by a timeout.
struct OwnPrometheus {
    dir: Dir,
    port: u16,
    pid: u32,
    shell: Option<(Child, ChildStdin)>,
}

impl OwnPrometheus {
    async fn start() -> OwnPrometheus {
        let dir = Dir::new("prometheus");
        std::fs::write(
            dir.path("prometheus.yml"),
            "global:\n  scrape_interval: 1m\n",
        )
        .unwrap();
        let mut p = OwnPrometheus {
            dir,
            port: 0,
            pid: 0,
            shell: None,
        };
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            p.port = free_port();
            if p.run().await {
                return p;
            }
            p.end_shell();
        }
        panic!("prometheus did not start on a free port (5 tries)");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the server; false if it exited before answering (its port was taken).
    async fn run(&mut self) -> bool {
        let mut shell = Command::new("sh")
            .args([
                "-c",
                r#"prometheus "$@" >>"$LOG" 2>&1 & echo $!; cat >/dev/null; kill -9 $! 2>/dev/null"#,
                "sh",
            ])
            .arg(format!(
                "--config.file={}",
                self.dir.path("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--log.level=warn")
            .env("LOG", self.dir.path("prometheus.log"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let stdin = shell.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(shell.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.pid = line.trim().parse().expect("the shell prints the pid");
        self.shell = Some((shell, stdin));
        let ready = format!("{}/-/ready", self.url());
        let log = self.dir.path("prometheus.log");
        let pid = self.pid;
        eventually(Duration::from_secs(30), || async {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                !text.contains("prometheus: not found"),
                "cannot run prometheus: install the Debian package `prometheus` (as .ci/run does)"
            );
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Ok(false);
            }
            match reqwest::get(&ready).await {
                Ok(r) if r.status() == 200 => Ok(true),
                _ => Err(format!("{ready} not ready; log: {text}")),
            }
        })
        .await
    }

    /// Closes the shell's stdin (it kills the server if still there) and waits for it.
    fn end_shell(&mut self) {
        if let Some((mut shell, stdin)) = self.shell.take() {
            drop(stdin);
            let _ = shell.wait();
        }
    }

    /// SIGKILL, and wait until it is gone.
    fn kill(&mut self) {
        let status = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.end_shell();
    }

    /// Starts it again on the same port and data directory.
    async fn restart(&mut self) {
        assert!(self.run().await, "prometheus did not restart on its port");
    }
}

impl Drop for OwnPrometheus {
    fn drop(&mut self) {
        self.end_shell();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_prometheus_applies_the_fallback_and_resumes_on_the_same_port() {
    let mut prom = OwnPrometheus::start().await;
    let fake = FakeApiServer::start().await;
    let name = k8s_name("payments");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    let dir = Dir::new("faults");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    cooldownPeriod: 1\n    minReplicaCount: 0\n    maxReplicaCount: 20\n    fallback: {{failureThreshold: 2, replicas: 4}}\n    triggers:\n      - type: prometheus\n        name: backlog\n        metadata: {{serverAddress: '{}', query: 'vector(15)', threshold: '10', timeout: '500'}}\n",
            prom.url()
        ),
    );
    let d = Daemon::start(options(&config, &fake)).await;
    // ceil(15 / 10) = 2
    replicas_become(&fake, &name, 2, Duration::from_secs(20)).await;

    prom.kill();
    // Two failures hold; the third applies the fallback: 4 replicas.
    replicas_become(&fake, &name, 4, Duration::from_secs(10)).await;
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [2, 4]);
    let message = format!("{}/api/v1/query: cannot connect", prom.url());
    let o = d.object(&id).await;
    assert_eq!(o.triggers[0].error.as_deref(), Some(message.as_str()));
    assert_eq!(o.triggers[0].error_kind.as_deref(), Some("unavailable"));
    assert_eq!(o.last_error, Some(format!("trigger backlog: {message}")));
    let m = &o.decision.as_ref().unwrap().metrics[0];
    assert_eq!(m.fallback, Some(4));
    assert!(m.failures >= 3, "{m:?}");
    let metrics = d.metrics().await;
    assert_eq!(
        trigger_errors(&metrics, &name)
            .iter()
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect::<Vec<_>>(),
        [format!(
            "scalers_trigger_errors_total{{namespace=\"shop\",scaled_object=\"{name}\",trigger=\"backlog\",kind=\"unavailable\"}}"
        )]
    );
    let failing_events = [
        event(
            "SuccessfulRescale",
            "Normal",
            "New size: 2; reason: backlog proposes 2",
        ),
        event(
            "KEDAScalerFailed",
            "Warning",
            &format!("backlog: {message}"),
        ),
        event(
            "ScaledObjectFallbackActivated",
            "Warning",
            "Using fallback of 4 replicas: triggers backlog keep failing",
        ),
        event(
            "SuccessfulRescale",
            "Normal",
            "New size: 4; reason: backlog in fallback proposes 4",
        ),
    ];
    assert_eq!(events_of(&fake, &name), failing_events);

    // Back on the same port: within two polling intervals the query answers again and the
    // fallback ends; the scale-down window (legacy: 300 s) keeps the 4 replicas.
    prom.restart().await;
    let o = d
        .until(&id, Duration::from_secs(2), "sampling again", |o| {
            o.triggers[0].value == Some(15.0)
        })
        .await;
    assert_eq!(o.triggers[0].error, None);
    let decision = o.decision.unwrap();
    assert_eq!(decision.metrics[0].fallback, None);
    assert_eq!(decision.reason_code, "ScaleDownStabilized");
    assert_eq!((o.current_replicas, o.desired_replicas), (Some(4), Some(4)));
    let mut all = failing_events.to_vec();
    all.push(event(
        "ScaledObjectFallbackDeactivated",
        "Normal",
        "Triggers answer again; fallback no longer applies",
    ));
    eventually(Duration::from_secs(5), || async {
        let events = events_of(&fake, &name);
        if events == all {
            Ok(())
        } else {
            Err(format!("{events:#?}"))
        }
    })
    .await;
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [2, 4]);
    d.stop().await;
}

// ---------------------------------------------------------------- a source that never answers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_source_times_out_at_the_trigger_timeout_and_other_objects_keep_their_ticks() {
    let stub = HttpStub::never_answer().await;
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    let slow = k8s_name("slow");
    let steady = k8s_name("steady");
    fake.put_workload(&DEPLOY, "shop", &slow, 2);
    fake.put_workload(&DEPLOY, "shop", &steady, 3);
    let dir = Dir::new("faults");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n  - name: {slow}\n    namespace: shop\n    scaleTargetRef: {{name: {slow}}}\n    pollingInterval: 1\n    cooldownPeriod: 1\n    minReplicaCount: 0\n    triggers:\n      - type: prometheus\n        name: backlog\n        metadata: {{serverAddress: '{}', query: q, threshold: '10', timeout: '700'}}\n{}",
            stub.url(),
            redis_object(&steady, redis.address(), &key)
        ),
    );
    let d = Daemon::start(options(&config, &fake)).await;
    let (slow_id, steady_id) = (format!("shop/{slow}"), format!("shop/{steady}"));

    let o = d
        .until(&slow_id, Duration::from_secs(10), "a timeout", |o| {
            o.triggers.first().and_then(|t| t.error_kind.as_deref()) == Some("timeout")
        })
        .await;
    let t = &o.triggers[0];
    assert_eq!(
        t.error.as_deref(),
        Some(format!("{}/api/v1/query: no answer within 700 ms", stub.url()).as_str())
    );
    assert!(
        (700.0..1000.0).contains(&t.latency_ms),
        "the trigger's 700 ms timeout ends the sample, not the 1 s polling interval: {t:?}"
    );
    assert_eq!(o.desired_replicas, Some(2));

    // The other object ticks every second while the slow one waits 700 ms per tick.
    let ticks = std::sync::Mutex::new(Vec::<u64>::new());
    eventually(Duration::from_secs(15), || async {
        let t = d.object(&steady_id).await.last_tick.unwrap_or(0);
        let mut ticks = ticks.lock().unwrap();
        if ticks.last() != Some(&t) {
            ticks.push(t);
        }
        if ticks.len() > 6 {
            Ok(())
        } else {
            Err(format!("{ticks:?}"))
        }
    })
    .await;
    let ticks = ticks.into_inner().unwrap();
    let gaps: Vec<u64> = ticks[1..].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| (500..1500).contains(g)),
        "the steady object's ticks are 1 s apart: {gaps:?}"
    );
    // Lateness is one histogram over every object: the slow one included, none ran late.
    let metrics = d.metrics().await;
    let count = metric(&metrics, "scalers_loop_lateness_seconds_count")
        .unwrap_or_else(|| panic!("{metrics}"));
    let on_time = metric(
        &metrics,
        "scalers_loop_lateness_seconds_bucket{le=\"0.256\"}",
    )
    .unwrap_or_else(|| panic!("{metrics}"));
    assert!(count >= 12.0, "{count}");
    assert_eq!(
        on_time, count,
        "every tick ran within 256 ms of its schedule"
    );
    // The slow object held its replicas, and so did the steady one (ceil(25 / 10) = 3).
    assert_eq!(fake.replicas(&DEPLOY, "shop", &slow), Some(2));
    assert_eq!(fake.replicas(&DEPLOY, "shop", &steady), Some(3));
    assert!(fake.scale_writes(&DEPLOY, "shop", &slow).is_empty());
    d.stop().await;
}

// ---------------------------------------------------------------- Kubernetes API faults

/// The requests about Deployment `name`, each as a token: `S` (GET /scale), `O` (GET the
/// object), `P<status>` (PATCH /scale), `X` (anything else).
fn workload_requests(fake: &FakeApiServer, name: &str) -> Vec<String> {
    let (scale, object) = (scale_path(name), object_path(name));
    fake.journal()
        .into_iter()
        .filter(|e| e.path == scale || e.path == object)
        .map(|e| match (e.method.as_str(), e.path == scale) {
            ("GET", true) => "S".to_owned(),
            ("GET", false) => "O".to_owned(),
            ("PATCH", true) => format!("P{}", e.status),
            _ => "X".to_owned(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_storm_is_retried_three_times_per_tick_with_fresh_reads() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    // Reads of `/scale` (not a watch) are what this test fails.
    refuse_workload_watches(&fake);
    let name = k8s_name("orders");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    fake.inject(Fault::status(409).on("PATCH", &scale_path(&name)));
    let dir = Dir::new("faults");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}",
            redis_object(&name, redis.address(), &key)
        ),
    );
    let d = Daemon::start(options(&config, &fake)).await;

    let conflict = format!(
        "conflict: cannot patch deployments.apps/scale \"{name}\" in namespace \"shop\": the object kept changing (3 attempts)"
    );
    let series = format!(
        "scalers_target_errors_total{{namespace=\"shop\",scaled_object=\"{name}\",kind=\"conflict\"}}"
    );
    eventually(Duration::from_secs(15), || async {
        let n = metric(&d.metrics().await, &series).unwrap_or(0.0);
        if n >= 3.0 { Ok(()) } else { Err(n) }
    })
    .await;
    let o = d.object(&id).await;
    let w = o.last_write.clone().unwrap();
    assert_eq!(
        (w.from, w.to, w.error.as_deref()),
        (1, 4, Some(conflict.as_str()))
    );
    assert_eq!(
        o.last_error,
        Some(format!("writing Deployment/{name}: {conflict}"))
    );
    assert_eq!(fake.replicas(&DEPLOY, "shop", &name), Some(1));

    // Each tick: read (scale, object), then at most 3 PATCHes, each retry after a fresh read.
    let tokens = workload_requests(&fake, &name);
    let starts: Vec<usize> = (0..tokens.len().saturating_sub(1))
        .filter(|&i| tokens[i] == "S" && tokens[i + 1] == "O")
        .collect();
    assert!(starts.len() >= 3, "{tokens:?}");
    for pair in starts.windows(2) {
        assert_eq!(
            tokens[pair[0]..pair[1]],
            ["S", "O", "P409", "S", "P409", "S", "P409"],
            "one tick in {tokens:?}"
        );
    }
    let failed: Vec<_> = events_of(&fake, &name)
        .into_iter()
        .filter(|e| e.0 == "FailedRescale")
        .collect();
    assert!(!failed.is_empty());
    for e in &failed {
        assert_eq!(
            e,
            &event(
                "FailedRescale",
                "Warning",
                &format!("New size: 4; reason: writing the scale subresource; error: {conflict}")
            )
        );
    }

    // The storm ends: the next tick writes.
    fake.clear_faults();
    replicas_become(&fake, &name, 5, Duration::from_secs(10)).await;
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [4, 5]);
    let o = d
        .until(&id, Duration::from_secs(5), "settled", |o| {
            o.current_replicas == Some(5)
        })
        .await;
    assert_eq!(o.last_error, None);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_back_off_without_a_crash_and_scaling_recovers() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    // Reads of `/scale` (not a watch) are what this test fails.
    refuse_workload_watches(&fake);
    let name = k8s_name("orders");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    // Two failed reads (503), then one failed write (500).
    fake.inject(Fault::status(503).on("GET", &scale_path(&name)).times(2));
    fake.inject(Fault::status(500).on("PATCH", &scale_path(&name)).times(1));
    let dir = Dir::new("faults");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}",
            redis_object(&name, redis.address(), &key)
        ),
    );
    let d = Daemon::start(options(&config, &fake)).await;

    let o = d
        .until(&id, Duration::from_secs(5), "a failed read", |o| {
            o.last_error.is_some()
        })
        .await;
    assert_eq!(
        o.last_error,
        Some(format!(
            "reading Deployment/{name}: cannot get deployments.apps/scale \"{name}\" in namespace \"shop\": the API server is unavailable (HTTP 503)"
        ))
    );
    replicas_become(&fake, &name, 5, Duration::from_secs(20)).await;

    let scale = scale_path(&name);
    let reads = fake.requests("GET", &scale);
    assert_eq!(
        reads.iter().take(3).map(|e| e.status).collect::<Vec<_>>(),
        [503, 503, 200]
    );
    // Backoff after a failed read: 2 × then 4 × the 1 s polling interval.
    let gap = |a: usize, b: usize| reads[b].received.duration_since(reads[a].received);
    assert!(
        (Duration::from_secs(2)..Duration::from_millis(2900)).contains(&gap(0, 1)),
        "{:?}",
        gap(0, 1)
    );
    assert!(
        (Duration::from_secs(4)..Duration::from_millis(4900)).contains(&gap(1, 2)),
        "{:?}",
        gap(1, 2)
    );
    // The failed write is tried again at the next tick (no backoff for writes).
    let writes: Vec<u16> = fake
        .requests("PATCH", &scale)
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(writes, [500, 200, 200]);
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [4, 5]);
    let metrics = d.metrics().await;
    assert_eq!(
        target_errors(&metrics, &name),
        [format!(
            "scalers_target_errors_total{{namespace=\"shop\",scaled_object=\"{name}\",kind=\"unavailable\"}} 3"
        )]
    );
    assert!(events_of(&fake, &name).contains(&event(
        "FailedRescale",
        "Warning",
        &format!(
            "New size: 4; reason: writing the scale subresource; error: cannot patch deployments.apps/scale \"{name}\" in namespace \"shop\": the API server is unavailable (HTTP 500)"
        )
    )));
    assert_eq!(d.get("/livez").await.0, 200);
    let o = d
        .until(&id, Duration::from_secs(5), "settled", |o| {
            o.current_replicas == Some(5)
        })
        .await;
    assert_eq!(o.last_error, None);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_and_missing_targets_fail_alone_with_clear_messages() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    // Reads of `/scale` (not a watch) are what this test fails.
    refuse_workload_watches(&fake);
    let orders = k8s_name("orders");
    let ghost = k8s_name("ghost");
    let no_write = k8s_name("no-write");
    let no_read = k8s_name("no-read");
    fake.put_workload(&DEPLOY, "shop", &orders, 1);
    fake.put_workload(&DEPLOY, "shop", &no_write, 1);
    fake.put_workload(&DEPLOY, "shop", &no_read, 1);
    fake.inject(Fault::status(403).on("PATCH", &scale_path(&no_write)));
    fake.inject(Fault::status(403).on("GET", &scale_path(&no_read)));
    let dir = Dir::new("faults");
    let objects: String = [&orders, &ghost, &no_write, &no_read]
        .iter()
        .map(|n| redis_object(n, redis.address(), &key))
        .collect();
    let config = dir.write("c.yaml", &format!("scaledObjects:\n{objects}"));
    let d = Daemon::start(options(&config, &fake)).await;

    replicas_become(&fake, &orders, 5, Duration::from_secs(20)).await;
    let error_of = |name: &str| {
        let id = format!("shop/{name}");
        let d = &d;
        async move {
            d.until(&id, Duration::from_secs(10), "an error", |o| {
                o.last_error.is_some()
            })
            .await
            .last_error
            .unwrap()
        }
    };
    assert_eq!(
        error_of(&ghost).await,
        format!(
            "reading Deployment/{ghost}: deployments.apps \"{ghost}\" not found in namespace \"shop\""
        )
    );
    let forbidden_write = format!(
        "forbidden: cannot patch deployments.apps/scale \"{no_write}\" in namespace \"shop\" (check the ClusterRole)"
    );
    assert_eq!(
        error_of(&no_write).await,
        format!("writing Deployment/{no_write}: {forbidden_write}")
    );
    assert_eq!(
        error_of(&no_read).await,
        format!(
            "reading Deployment/{no_read}: forbidden: cannot get deployments.apps/scale \"{no_read}\" in namespace \"shop\" (check the ClusterRole)"
        )
    );
    assert_eq!(
        events_of(&fake, &no_write)[0],
        event(
            "FailedRescale",
            "Warning",
            &format!(
                "New size: 4; reason: writing the scale subresource; error: {forbidden_write}"
            )
        )
    );

    let metrics = d.metrics().await;
    let kinds = |name: &str| -> Vec<String> {
        target_errors(&metrics, name)
            .iter()
            .map(|l| {
                let kind = l.split("kind=\"").nth(1).unwrap();
                kind[..kind.find('"').unwrap()].to_owned()
            })
            .collect()
    };
    assert_eq!(kinds(&ghost), ["not_found"]);
    assert_eq!(kinds(&no_write), ["forbidden"]);
    assert_eq!(kinds(&no_read), ["forbidden"]);
    assert!(kinds(&orders).is_empty());
    // The failing objects changed nothing; the healthy one scaled as usual.
    assert_eq!(fake.replicas(&DEPLOY, "shop", &no_write), Some(1));
    assert_eq!(fake.replicas(&DEPLOY, "shop", &no_read), Some(1));
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &orders), [4, 5]);
    assert_eq!(d.object(&format!("shop/{orders}")).await.last_error, None);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_api_server_times_out_and_the_other_objects_keep_scaling() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    // Reads of `/scale` (not a watch) are what this test fails.
    refuse_workload_watches(&fake);
    let orders = k8s_name("orders");
    let stalled = k8s_name("stalled");
    fake.put_workload(&DEPLOY, "shop", &orders, 1);
    fake.put_workload(&DEPLOY, "shop", &stalled, 1);
    fake.inject(Fault::delay(Duration::from_secs(30)).on("GET", &scale_path(&stalled)));
    let dir = Dir::new("faults");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}{}",
            redis_object(&orders, redis.address(), &key),
            redis_object(&stalled, redis.address(), &key)
        ),
    );
    let started = Instant::now();
    let d = Daemon::start(options(&config, &fake)).await;

    // The healthy object scales while the other one waits on the API server.
    replicas_become(&fake, &orders, 5, Duration::from_secs(8)).await;
    let o = d
        .until(
            &format!("shop/{stalled}"),
            Duration::from_secs(15),
            "a timeout",
            |o| o.last_error.is_some(),
        )
        .await;
    // Every API call has a 10 s deadline (scalerd::kube::DEFAULT_REQUEST_TIMEOUT).
    assert!(started.elapsed() >= scalerd::kube::DEFAULT_REQUEST_TIMEOUT);
    assert_eq!(
        o.last_error,
        Some(format!(
            "reading Deployment/{stalled}: cannot get deployments.apps/scale \"{stalled}\" in namespace \"shop\": timed out after 10s"
        ))
    );
    let metrics = d.metrics().await;
    assert_eq!(
        target_errors(&metrics, &stalled),
        [format!(
            "scalers_target_errors_total{{namespace=\"shop\",scaled_object=\"{stalled}\",kind=\"timeout\"}} 1"
        )]
    );
    let healthy = d.object(&format!("shop/{orders}")).await;
    assert_eq!(healthy.last_error, None);
    assert!(
        healthy.last_tick.unwrap() + 1500 >= unix_ms(),
        "the healthy object still ticks every second: {healthy:?}"
    );
    assert_eq!(fake.replicas(&DEPLOY, "shop", &stalled), Some(1));
    d.stop().await;
}
