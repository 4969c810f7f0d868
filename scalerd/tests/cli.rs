//! The `scalerd` binary end to end: `check` and `simulate` on the shipped examples and on
//! broken input, with exact output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scalerd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("scalerd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A temp file with `text`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("scalerd-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Simulates a shipped example; returns the rows as (time, replicas, active, reason).
fn simulate_example(name: &str) -> Vec<(String, u32, bool, String)> {
    let config = format!("examples/configs/{name}.yaml");
    let trace = format!("examples/traces/{name}.csv");
    let out = scalerd(&["simulate", "--config", &config, "--trace", &trace]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time,replicas,active,reason"));
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), 4, "no commas in reasons: {l}");
            (
                cells[0].to_owned(),
                cells[1].parse().unwrap(),
                cells[2].parse().unwrap(),
                cells[3].to_owned(),
            )
        })
        .collect()
}

fn replicas_at(rows: &[(String, u32, bool, String)], time: &str) -> u32 {
    rows.iter()
        .find(|r| r.0 == time)
        .unwrap_or_else(|| panic!("no tick at {time}"))
        .1
}

#[test]
fn every_shipped_config_passes_check() {
    let dir = root().join("examples/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = scalerd(&["check", "--config", path.to_str().unwrap()]);
            assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
            seen += 1;
        }
    }
    assert!(seen >= 4, "expected the shipped examples, found {seen}");
}

#[test]
fn check_prints_a_one_line_summary() {
    let out = scalerd(&[
        "check",
        "--config",
        "examples/configs/keda-scaledobject.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "examples/configs/keda-scaledobject.yaml: ok: 1 scaled object, 2 triggers (prometheus 2)\n"
    );
}

#[test]
fn the_legacy_hpa_ramp_follows_the_polling_interval() {
    // Without `behavior`, each evaluation may at most double the count (at least 4): KEDA's
    // HPA evaluates every 15 s and takes 75 s from 1 to 100 replicas; scalerd evaluates every
    // pollingInterval, so 5 s at 1 s polling and 300 s at 60 s.
    let ramp = |name: &str| -> Vec<(u64, u32)> {
        let out = scalerd(&[
            "simulate",
            "--config",
            &format!("examples/configs/{name}.yaml"),
            "--trace",
            &format!("examples/traces/{name}.csv"),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut ramp: Vec<(u64, u32)> = Vec::new();
        for line in stdout(&out).lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            let (time, replicas) = (cells[0].parse().unwrap(), cells[1].parse().unwrap());
            if ramp.last().is_none_or(|(_, r)| *r != replicas) {
                ramp.push((time, replicas));
            }
        }
        ramp
    };
    assert_eq!(
        ramp("legacy-ramp-fast"),
        [(0, 4), (1, 8), (2, 16), (3, 32), (4, 64), (5, 100)]
    );
    assert_eq!(
        ramp("legacy-ramp-slow"),
        [(0, 4), (60, 8), (120, 16), (180, 32), (240, 64), (300, 100)]
    );
}

#[test]
fn check_reads_a_kubectl_list_export() {
    // `kubectl get scaledobjects,triggerauthentications -A -o yaml` writes one `kind: List`.
    let out = scalerd(&["check", "--config", "examples/configs/kubectl-export.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "examples/configs/kubectl-export.yaml: ok: 1 scaled object, 1 trigger (redis 1)\n"
    );
}

#[test]
fn check_warns_about_unread_metadata_keys_and_exits_0() {
    // A typo is silently ignored by KEDA; scalerd check names it and the key it resembles.
    let f = TempFile::new(
        "typo.yaml",
        "scaledObjects:\n  - name: mail\n    scaleTargetRef: {name: mail}\n    triggers:\n      - type: redis\n        metadata: {address: 'redis:6379', listName: outbox, listLenght: '5'}\n      - type: external\n        metadata: {scalerAddress: scaler, anyKey: sent-to-the-scaler}\n",
    );
    let out = scalerd(&["check", "--config", f.path()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let p = f.path();
    assert_eq!(
        stdout(&out),
        format!("{p}: ok: 1 scaled object, 2 triggers (external 1, redis 1)\n")
    );
    // The external trigger sends every key to its scaler: none is unread.
    assert_eq!(
        stderr(&out),
        format!(
            "warning: {p}: scaledObjects[0].triggers[0].metadata.listLenght: not read by this \
             trigger (ignored); did you mean \"listLength\"?\n"
        )
    );
}

#[test]
fn check_reports_every_error_and_exits_2() {
    let f = TempFile::new(
        "broken.yaml",
        "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    minReplicaCount: 9\n    maxReplicaCount: 3\n    pollingIntervall: 5\n    triggers:\n      - type: prometheus\n        metadata: {threshold: ten}\n      - type: rabbitmq\n",
    );
    let out = scalerd(&["check", "--config", f.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let p = f.path();
    assert_eq!(
        stderr(&out),
        format!(
            "{p}: scaledObjects[0].pollingIntervall: unknown field, did you mean \"pollingInterval\"?\n"
        )
    );
    // Once the structure is right, the semantic errors all come together.
    let f = TempFile::new(
        "broken2.yaml",
        "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    minReplicaCount: 9\n    maxReplicaCount: 3\n    triggers:\n      - type: prometheus\n        metadata: {threshold: ten}\n      - type: rabbitmq\n",
    );
    let out = scalerd(&["check", "--config", f.path()]);
    assert_eq!(out.status.code(), Some(2));
    let p = f.path();
    let lines: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        format!(
            "{p}: scaledObjects[0].minReplicaCount: must not exceed maxReplicaCount (3), got 9"
        )
    );
    assert!(lines.contains(&format!(
        "{p}: scaledObjects[0].triggers[0].metadata.threshold: expected a number, got \"ten\""
    )));
    assert!(lines.contains(&format!(
        "{p}: scaledObjects[0].triggers[0].metadata.serverAddress: required parameter is missing"
    )));
    assert!(lines.iter().any(|l| l.starts_with(&format!(
        "{p}: scaledObjects[0].triggers[1].type: unknown trigger type \"rabbitmq\"; known types: "
    ))));
}

#[test]
fn check_on_a_missing_file_exits_1() {
    let out = scalerd(&["check", "--config", "no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("no/such/file.yaml: cannot read the file"));
}

#[test]
fn simulate_scale_from_zero_activates_then_cools_down_to_zero() {
    let rows = simulate_example("scale-from-zero");
    // initial 1 replica, never active: scale to zero once the (zero) initial cooldown passed
    assert_eq!(replicas_at(&rows, "15"), 0);
    assert_eq!(replicas_at(&rows, "30"), 0);
    // queue 35 at t=45: activation to 1, then the HPA phase: ceil(35/10) = 4
    assert_eq!(rows[3], ("45".into(), 1, true, "activated by queue".into()));
    assert_eq!(replicas_at(&rows, "60"), 4);
    // 80 at t=90: 8; falls to 12 (proposal 2) at 150: the 300 s window holds 8
    assert_eq!(replicas_at(&rows, "90"), 8);
    assert_eq!(rows[10].3, "queue proposes 2; scale-down window holds 8");
    // last active at 165 (12 > 0), cooldown 60: back to zero at the first tick after 225
    assert_eq!(replicas_at(&rows, "225"), 8);
    assert_eq!(
        rows[16],
        (
            "240".into(),
            0,
            false,
            "inactive for the cooldown period".into()
        )
    );
}

#[test]
fn simulate_burst_is_limited_by_policies() {
    let rows = simulate_example("burst-limited");
    let replicas: Vec<u32> = rows.iter().take(13).map(|r| r.1).collect();
    // Pods 2 or 50 % per 30 s, whichever is more, until the backlog's 25
    assert_eq!(replicas, [1, 1, 3, 3, 5, 5, 8, 8, 12, 12, 18, 18, 25]);
    assert_eq!(rows[2].3, "backlog proposes 25; limited by scale-up rate");
}

#[test]
fn simulate_scale_down_waits_for_the_window_then_follows_the_policy() {
    let rows = simulate_example("stabilized-scale-down");
    assert_eq!(replicas_at(&rows, "80"), 16);
    // the failed sample at 110 holds
    assert_eq!(rows[11].3, "holding: rps failed and no fallback applies");
    // last recommendation of 16 at t=80; window 120 s: held through 190
    assert_eq!(replicas_at(&rows, "190"), 16);
    // then 50 % per 60 s
    assert_eq!(replicas_at(&rows, "200"), 8);
    assert_eq!(replicas_at(&rows, "250"), 8);
    assert_eq!(replicas_at(&rows, "260"), 4);
}

#[test]
fn simulate_keda_manifest_with_formula_and_fallback() {
    let rows = simulate_example("keda-scaledobject");
    assert_eq!(
        rows[2],
        ("60".into(), 1, true, "activated by composite-metric".into())
    );
    // failures from 180: fallback after strictly more than 3 consecutive failures
    assert_eq!(rows[6].3, "holding: every trigger failed");
    assert_eq!(rows[8].3, "holding: every trigger failed");
    assert_eq!(
        rows[9],
        (
            "270".into(),
            8,
            false,
            "composite-metric in fallback proposes 6; scale-down window holds 8".into()
        )
    );
}

#[test]
fn simulate_refuses_a_trace_that_does_not_match_the_triggers() {
    let t = TempFile::new("bad.csv", "time,queue,extra\n0,1,2\n");
    let out = scalerd(&[
        "simulate",
        "--config",
        "examples/configs/scale-from-zero.yaml",
        "--trace",
        t.path(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "{}: column \"extra\" is not a trigger of \"orders-worker\"; triggers: queue\n",
            t.path()
        )
    );
}

#[test]
fn simulate_needs_a_choice_among_several_objects() {
    let f = TempFile::new(
        "two.yaml",
        "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, triggers: [{type: prometheus, metadata: {serverAddress: 'http://p:9090', query: q, threshold: '1'}}]}\n  - {name: b, scaleTargetRef: {name: b}, triggers: [{type: prometheus, metadata: {serverAddress: 'http://p:9090', query: q, threshold: '1'}}]}\n",
    );
    let t = TempFile::new("two.csv", "time,prometheus\n0,3\n30,3\n");
    let out = scalerd(&["simulate", "--config", f.path(), "--trace", t.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "{}: 2 scaled objects; choose one with --scaled-object: a, b\n",
            f.path()
        )
    );
    let out = scalerd(&[
        "simulate",
        "--config",
        f.path(),
        "--trace",
        t.path(),
        "--scaled-object",
        "b",
        "--initial-replicas",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "time,replicas,active,reason\n0,1,true,activated by prometheus\n30,3,true,prometheus proposes 3\n"
    );
}

#[test]
fn run_with_an_invalid_config_exits_64() {
    let f = TempFile::new(
        "bad-run.yaml",
        "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    minReplicaCount: 3\n    maxReplicaCount: 1\n    triggers: [{type: prometheus, metadata: {serverAddress: 'http://p:9090', query: q, threshold: '1'}}]\n",
    );
    let out = scalerd(&[
        "run",
        "--dry-run",
        "--admin-addr",
        "127.0.0.1:0",
        "--config",
        f.path(),
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        stderr(&out),
        format!(
            "{}: scaledObjects[0].minReplicaCount: must not exceed maxReplicaCount (1), got 3\n",
            f.path()
        )
    );
}

#[test]
fn check_counts_scaled_jobs() {
    let out = scalerd(&["check", "--config", "examples/configs/scaledjob-redis.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "examples/configs/scaledjob-redis.yaml: ok: 1 scaled job, 1 trigger (redis 1)\n"
    );
}

#[test]
fn simulate_a_scaled_job_gives_the_jobs_created_per_tick_and_why() {
    let out = scalerd(&[
        "simulate",
        "--config",
        "examples/configs/scaledjob-redis.yaml",
        "--trace",
        "examples/traces/jobs/scaledjob-redis.csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<(&str, &str, &str, &str)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            // time, running before the poll, created, reason
            (c[0], c[3], c[4], c[5])
        })
        .collect();
    assert_eq!(
        text.lines().next(),
        Some("time,queue,completed,running,created,reason,explanation")
    );
    assert_eq!(
        rows,
        [
            ("0", "0", "3", "scaled"),
            ("10", "3", "0", "no-room"),
            ("20", "0", "0", "inactive"),
            ("30", "0", "5", "scaled"),
            ("40", "3", "2", "scaled"),
            ("50", "5", "0", "no-room"),
            ("60", "2", "3", "scaled"),
            ("70", "2", "0", "no-room"),
            ("80", "0", "0", "inactive"),
        ]
    );
    assert!(
        text.contains(
            "40,10,2,3,2,scaled,queue 10; maxScale 5; default: 5 - 3 running = 2; create 2\n"
        ),
        "{text}"
    );
    let out = scalerd(&[
        "simulate",
        "--config",
        "examples/configs/scaledjob-redis.yaml",
        "--trace",
        "examples/traces/jobs/scaledjob-redis.csv",
        "--scaled-job",
        "videos",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "examples/configs/scaledjob-redis.yaml: no scaled job named \"videos\"; scaled jobs: images\n"
    );
}
