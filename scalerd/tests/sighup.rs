//! SIGHUP through a real process: `scalerd run --dry-run --config-watch-interval 0` reloads its
//! config when told to, and only then; an invalid file is refused and the running config stays.

mod support;

use std::time::Duration;

use scalerd::daemon::status::Status;
use scalers_testkit::{RedisServer, eventually, unique_name};
use support::{Dir, ScalerdProcess as Process, get, k8s_name, metric, set_list};

fn config(name: &str, address: &str, key: &str, max: u32) -> String {
    format!(
        "scaledObjects:\n  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    maxReplicaCount: {max}\n    triggers:\n      - type: redis\n        name: jobs\n        metadata: {{address: '{address}', listName: '{key}', listLength: '10'}}\n"
    )
}

async fn status(admin: &str) -> Result<Status, String> {
    let r = reqwest::get(format!("{admin}/status"))
        .await
        .map_err(|e| e.to_string())?;
    let body = r.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}

/// Waits until the status satisfies `f`.
async fn until(admin: &str, what: &str, f: impl Fn(&Status) -> bool) -> Status {
    eventually(Duration::from_secs(15), || async {
        let s = status(admin).await?;
        if f(&s) {
            Ok(s)
        } else {
            Err(format!("{what}: {s:?}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_and_an_invalid_file_is_refused() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 35);
    let name = k8s_name("worker");
    let dir = Dir::new("sighup");
    let path = dir.write("scalerd.yaml", &config(&name, redis.address(), &key, 10));
    let mut process = Process::spawn_with(&dir, "sighup", "info", |c| {
        c.args(["--dry-run", "--config-watch-interval", "0", "--config"])
            .arg(&path)
            // No cluster: in-memory workloads.
            .env("KUBECONFIG", dir.path("no-kubeconfig"));
    });
    let admin = process.admin.clone();

    // 0 → 1 (activation) → 4 = ceil(35 / 10)
    let s = until(&admin, "4 replicas", |s| {
        s.objects.first().and_then(|o| o.desired_replicas) == Some(4)
    })
    .await;
    assert!(s.dry_run);
    assert_eq!(s.last_reload, None);

    // A changed file is not looked at without SIGHUP (no watch interval).
    dir.write("scalerd.yaml", &config(&name, redis.address(), &key, 2));
    let before = s.objects[0].last_tick.unwrap();
    let s = until(&admin, "two more ticks", |s| {
        s.objects[0].last_tick.unwrap() >= before + 2000
    })
    .await;
    assert_eq!(s.last_reload, None);
    assert_eq!(s.objects[0].desired_replicas, Some(4));

    process.signal("HUP");
    let s = until(&admin, "a reload", |s| s.last_reload.is_some()).await;
    let reload = s.last_reload.unwrap();
    assert!(reload.ok, "{reload:?}");
    assert_eq!(reload.error, None);
    let s = until(&admin, "the new maximum", |s| {
        s.objects[0].desired_replicas == Some(2)
    })
    .await;
    assert_eq!(
        s.objects[0].decision.as_ref().unwrap().reason_code,
        "TooManyReplicas"
    );

    // An invalid file: refused, reported, and the running config keeps ticking.
    dir.write(
        "scalerd.yaml",
        "scaledObjects:\n  - name: x\n    maxReplicaCount: -1\n",
    );
    process.signal("HUP");
    let s = until(&admin, "a refused reload", |s| {
        s.last_reload.as_ref().is_some_and(|r| !r.ok)
    })
    .await;
    assert_eq!(
        s.last_reload.unwrap().error,
        Some(format!(
            "{p}: scaledObjects[0].maxReplicaCount: expected a non-negative whole number, got -1\n\
             {p}: scaledObjects[0].scaleTargetRef: required field is missing",
            p = path.display()
        ))
    );
    let before = s.objects[0].last_tick.unwrap();
    let s = until(&admin, "still ticking", |s| {
        s.objects[0].last_tick.unwrap() > before
    })
    .await;
    assert_eq!(s.objects[0].desired_replicas, Some(2));
    assert_eq!(s.objects[0].scaled_object, format!("shop/{name}"));
    let metrics = get(&format!("{admin}/metrics")).await.1;
    assert_eq!(
        metric(&metrics, "scalers_config_reload_failures_total"),
        Some(1.0)
    );

    // SIGTERM: a clean exit.
    process.signal("TERM");
    let code = eventually(Duration::from_secs(15), || {
        let exited = process.child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert_eq!(code.code(), Some(0));
    let text = process.log();
    assert_eq!(
        text.matches("SIGHUP: reloading the config").count(),
        2,
        "{text}"
    );
    assert_eq!(
        text.matches("config reload rejected; the previous config keeps running")
            .count(),
        1,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighup_while_starting_is_not_fatal() {
    // The cluster's API server accepts connections and never answers: the daemon waits 3 s
    // for it while starting, then runs its dry run in memory.
    let stub = scalers_testkit::HttpStub::never_answer().await;
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 15);
    let name = k8s_name("worker");
    let dir = Dir::new("sighup");
    let path = dir.write("scalerd.yaml", &config(&name, redis.address(), &key, 10));
    let kubeconfig = dir.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\nusers: [{{name: u, user: {{}}}}]\n",
            stub.url()
        ),
    );
    let mut process = Process::spawn_with(&dir, "sighup-starting", "warn", |c| {
        c.args(["--dry-run", "--config-watch-interval", "0", "--config"])
            .arg(&path)
            .arg("--kubeconfig")
            .arg(&kubeconfig);
    });
    let admin = process.admin.clone();

    // It is asking the API server for its version: SIGHUP now.
    eventually(Duration::from_secs(10), || {
        let n = stub.connections();
        async move { (n > 0).then_some(()) }
    })
    .await;
    process.signal("HUP");
    assert_eq!(process.child.try_wait().unwrap(), None);

    // It starts, and reloads the (same) config for the signal it got while starting.
    let s = until(&admin, "running after the SIGHUP", |s| {
        s.objects.first().and_then(|o| o.desired_replicas) == Some(2) && s.last_reload.is_some()
    })
    .await;
    assert!(s.last_reload.unwrap().ok);
    assert_eq!(process.child.try_wait().unwrap(), None, "still running");
}
