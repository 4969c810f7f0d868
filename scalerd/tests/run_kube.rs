//! `scalerd run` against the fake Kubernetes API server and a real Prometheus: writes to the
//! scale subresource, conflicts, missing targets, Secrets, dry runs, Events, and two daemons
//! electing a leader as separate processes.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scalerd::daemon::{App, RunOptions};
use scalers_testkit::{
    FakeApiServer, FakeResource, Fault, PrometheusServices, eventually, unique_name,
};
use support::{Daemon, Dir, ScalerdProcess as Process, kubeconfig};

const DEPLOY: FakeResource = FakeResource::DEPLOYMENT;

fn object(name: &str, target: &str, server: &str, query: &str) -> String {
    format!(
        "  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {target}}}\n    pollingInterval: 1\n    cooldownPeriod: 1\n    maxReplicaCount: 20\n    triggers:\n      - type: prometheus\n        name: backlog\n        metadata: {{serverAddress: '{server}', query: '{query}', threshold: '10', timeout: '1000'}}\n"
    )
}

/// The daemon of these tests, writing to the fake API server through `client`.
async fn start(config: PathBuf, client: kube::Client, dry_run: bool) -> Daemon {
    let mut opts = RunOptions::new(config);
    opts.dry_run = dry_run;
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(client);
    opts.leader_elect = Some(false);
    opts.namespace = "scalers".into();
    Daemon::start(opts).await
}

async fn metric(prom: &PrometheusServices, value: f64) -> (String, String) {
    let metric = unique_name("backlog");
    let job = unique_name("job");
    prom.push_metric(&job, &format!("{metric} {value}\n")).await;
    prom.wait_for_query(&metric, value).await;
    (metric, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_deployments_retries_conflicts_and_reports_missing_targets() {
    let prom = PrometheusServices::shared().await;
    let (m, job) = metric(prom, 45.0).await;
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "orders", 1);
    let dir = Dir::new("scalerd_kube");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}{}",
            object("orders", "orders", prom.prometheus_url(), &m),
            object("ghost", "ghost", prom.prometheus_url(), &m)
        ),
    );
    let d = start(config, fake.client(), false).await;

    // 1 → 4 (legacy limit max(2 × 1, 4)) → 5 = ceil(45 / 10)
    eventually(Duration::from_secs(20), || async {
        let r = fake.replicas(&DEPLOY, "shop", "orders");
        if r == Some(5) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", "orders"), [4, 5]);
    let events = fake.events("shop");
    let notes: Vec<String> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SuccessfulRescale"))
        .filter_map(|e| e.note.clone())
        .collect();
    assert_eq!(
        notes[0],
        "New size: 4; reason: backlog proposes 5; limited by scale-up rate"
    );

    // The missing target is reported, and does not stop the other loop.
    let ghost = d.object("shop/ghost").await;
    assert!(
        ghost
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("deployments.apps \"ghost\" not found in namespace \"shop\""),
        "{ghost:?}"
    );

    // A conflicting write is retried with a fresh read.
    fake.inject(
        Fault::status(409)
            .on(
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/orders/scale",
            )
            .times(1),
    );
    prom.push_metric(&job, &format!("{m} 75\n")).await;
    eventually(Duration::from_secs(20), || async {
        let r = fake.replicas(&DEPLOY, "shop", "orders");
        if r == Some(8) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    let conflicts = fake
        .requests(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/orders/scale",
        )
        .iter()
        .filter(|e| e.status == 409)
        .count();
    assert_eq!(conflicts, 1);
    let o = eventually(Duration::from_secs(10), || async {
        let o = d.object("shop/orders").await;
        if o.current_replicas == Some(8) {
            Ok(o)
        } else {
            Err(format!("{o:?}"))
        }
    })
    .await;
    let w = o.last_write.unwrap();
    assert_eq!((w.from, w.to, w.error), (5, 8, None));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reads_the_cluster_and_never_writes() {
    let prom = PrometheusServices::shared().await;
    let (m, _job) = metric(prom, 33.0).await;
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "orders", 2);
    let dir = Dir::new("scalerd_kube");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}",
            object("orders", "orders", prom.prometheus_url(), &m)
        ),
    );
    let d = start(config, fake.client(), true).await;
    let o = eventually(Duration::from_secs(20), || async {
        let o = d.object("shop/orders").await;
        if o.last_write.is_some() {
            Ok(o)
        } else {
            Err(format!("{o:?}"))
        }
    })
    .await;
    let w = o.last_write.unwrap();
    assert!(w.dry_run);
    assert_eq!((w.from, w.to), (2, 4));
    assert!(
        fake.requests(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/orders/scale"
        )
        .is_empty()
    );
    assert!(
        fake.requests(
            "PUT",
            "/apis/apps/v1/namespaces/shop/deployments/orders/scale"
        )
        .is_empty()
    );
    assert_eq!(fake.replicas(&DEPLOY, "shop", "orders"), Some(2));
    assert!(fake.events("shop").is_empty(), "dry runs publish no events");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_kubernetes_secrets_and_never_show() {
    let prom = PrometheusServices::shared().await;
    let (m, _job) = metric(prom, 12.0).await;
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "orders", 1);
    fake.put_secret("shop", "prom-auth", &[("token", b"s3cr3t-t0ken")]);
    let dir = Dir::new("scalerd_kube");
    let config = dir.write(
        "c.yaml",
        &format!(
            "authentications:\n  - name: prom\n    namespace: shop\n    secretTargetRef: [{{parameter: bearerToken, name: prom-auth, key: token}}]\nscaledObjects:\n  - name: orders\n    namespace: shop\n    scaleTargetRef: {{name: orders}}\n    pollingInterval: 1\n    triggers:\n      - type: prometheus\n        authenticationRef: {{name: prom}}\n        metadata: {{serverAddress: '{}', query: '{m}', threshold: '10', authModes: bearer}}\n",
            prom.prometheus_url()
        ),
    );
    let d = start(config, fake.client(), false).await;
    eventually(Duration::from_secs(20), || async {
        let r = fake.replicas(&DEPLOY, "shop", "orders");
        if r == Some(2) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    let status = d.get("/status").await.1;
    let metrics = d.metrics().await;
    assert!(!status.contains("s3cr3t"), "{status}");
    assert!(!metrics.contains("s3cr3t"));
    assert_eq!(
        fake.requests("GET", "/api/v1/namespaces/shop/secrets/prom-auth")
            .len(),
        1
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_key_is_a_config_error_naming_it() {
    let fake = FakeApiServer::start().await;
    fake.put_secret("shop", "prom-auth", &[("other", b"x")]);
    let dir = Dir::new("scalerd_kube");
    let config = dir.write(
        "c.yaml",
        "authentications:\n  - name: prom\n    namespace: shop\n    secretTargetRef: [{parameter: bearerToken, name: prom-auth, key: token}]\nscaledObjects:\n  - name: orders\n    namespace: shop\n    scaleTargetRef: {name: orders}\n    triggers:\n      - type: prometheus\n        authenticationRef: {name: prom}\n        metadata: {serverAddress: 'http://p:9090', query: q, threshold: '10', authModes: bearer}\n",
    );
    let mut opts = RunOptions::new(config.clone());
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(fake.client());
    opts.leader_elect = Some(false);
    let err = App::build(opts, scalerd::builtin_registry())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: authentications[0].secretTargetRef[0]: cannot read key \"token\" of Secret \"prom-auth\" in namespace \"shop\"",
            config.display()
        )),
        "{text}"
    );
    assert!(matches!(err, scalerd::Error::Config(_)));
}

/// File mode reads `configMapTargetRef` as it reads `secretTargetRef`: through the API, from
/// the authentication's namespace, or scalerd's own (`--lease-namespace`) for one without; a
/// missing key is a config error naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_keys_are_read_like_secret_keys_in_file_mode() {
    let fake = FakeApiServer::start().await;
    fake.put_config_map("shop", "prom-conf", &[("other", "x")]);
    fake.put_config_map("scalers", "prom-conf", &[("token", "t0ken")]);
    let dir = Dir::new("scalerd_kube");
    let text = |namespace: &str| {
        format!(
            "authentications:\n  - name: prom\n{namespace}    configMapTargetRef: [{{parameter: bearerToken, name: prom-conf, key: token}}]\nscaledObjects:\n  - name: orders\n    namespace: shop\n    scaleTargetRef: {{name: orders}}\n    triggers:\n      - type: prometheus\n        authenticationRef: {{name: prom}}\n        metadata: {{serverAddress: 'http://p:9090', query: q, threshold: '10', authModes: bearer}}\n"
        )
    };
    let options = |config: &std::path::Path| {
        let mut opts = RunOptions::new(config.to_path_buf());
        opts.admin_addr = "127.0.0.1:0".parse().unwrap();
        opts.kube_client = Some(fake.client());
        opts.leader_elect = Some(false);
        opts.namespace = "scalers".into();
        opts
    };
    let missing = dir.write("missing.yaml", &text("    namespace: shop\n"));
    let err = App::build(options(&missing), scalerd::builtin_registry())
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}: authentications[0].configMapTargetRef[0]: cannot read key \"token\" of ConfigMap \"prom-conf\" in namespace \"shop\": config map \"prom-conf\" in namespace \"shop\" has no key \"token\" (keys: other)",
            missing.display()
        )),
        "{shown}"
    );
    assert!(matches!(err, scalerd::Error::Config(_)));
    // Without a namespace the authentication reads scalerd's own, where the key is.
    let own = dir.write("own.yaml", &text(""));
    let app = App::build(options(&own), scalerd::builtin_registry()).await;
    assert!(app.is_ok(), "{:?}", app.err());
    assert_eq!(
        fake.requests("GET", "/api/v1/namespaces/scalers/configmaps/prom-conf")
            .len(),
        1
    );
}

// ---------------------------------------------------------------- two daemons, processes

/// A `scalerd run` process of `config` electing a leader through the fake API server.
fn spawn_daemon(dir: &Dir, config: &Path, kubeconfig: &Path, identity: &str) -> Process {
    let (config, kubeconfig) = (config.as_os_str(), kubeconfig.as_os_str());
    Process::spawn(
        dir,
        identity,
        "warn",
        [
            "--config".as_ref(),
            config,
            "--kubeconfig".as_ref(),
            kubeconfig,
            "--leader-elect".as_ref(),
        ]
        .into_iter()
        .chain(
            [
                "--lease-namespace",
                "scalers",
                "--lease-timings",
                "3",
                "2",
                "0.2",
            ]
            .map(OsStr::new),
        ),
    )
}

async fn leader(p: &Process) -> Option<bool> {
    p.status().await.map(|s| s.leader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_elect_one_writer_and_the_standby_takes_over() {
    let prom = PrometheusServices::shared().await;
    let (m, job) = metric(prom, 25.0).await;
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "orders", 1);
    let dir = Dir::new("scalerd_kube");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}",
            object("orders", "orders", prom.prometheus_url(), &m)
        ),
    );
    let kubeconfig = kubeconfig(&dir, &fake);
    let a = spawn_daemon(&dir, &config, &kubeconfig, "daemon-a");
    let b = spawn_daemon(&dir, &config, &kubeconfig, "daemon-b");

    // exactly one leads, and it scales: ceil(25 / 10) = 3
    let (first, second) = eventually(Duration::from_secs(30), || async {
        match (leader(&a).await, leader(&b).await) {
            (Some(true), Some(false)) => Ok((a.identity.clone(), b.identity.clone())),
            (Some(false), Some(true)) => Ok((b.identity.clone(), a.identity.clone())),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    eventually(Duration::from_secs(20), || async {
        let r = fake.replicas(&DEPLOY, "shop", "orders");
        if r == Some(3) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;

    // kill -9 the leader: the standby takes over after the lease expires and keeps scaling
    let (mut leader_process, standby) = if first == a.identity { (a, b) } else { (b, a) };
    leader_process.child.kill().unwrap();
    leader_process.child.wait().unwrap();
    prom.push_metric(&job, &format!("{m} 55\n")).await;
    eventually(Duration::from_secs(30), || async {
        let r = fake.replicas(&DEPLOY, "shop", "orders");
        if r == Some(6) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    assert_eq!(leader(&standby).await, Some(true));
    assert_eq!(
        fake.lease("scalers", "scalerd")
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some(second.as_str())
    );

    // Every write to the workload came from the Lease holder of that moment.
    let terms = fake.lease_terms("scalers", "scalerd");
    let writes = fake.requests(
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/orders/scale",
    );
    assert!(!writes.is_empty());
    for w in writes.iter().filter(|w| w.status == 200) {
        let agent = w.user_agent.clone().unwrap_or_default();
        let writer = if agent.contains("(daemon-a)") {
            "daemon-a"
        } else if agent.contains("(daemon-b)") {
            "daemon-b"
        } else {
            panic!("unknown writer {agent}")
        };
        assert!(
            terms
                .iter()
                .any(|t| t.holder == writer && t.covers(w.answered)),
            "{writer} wrote at {:?} outside its terms {terms:?}",
            w.answered
        );
    }
    drop(leader_process);
}
