//! Cluster mode (issue 16): `scalerd run` without `--config` watches KEDA's ScaledObjects on
//! the testkit's fake API server (real HTTP, lists and watches), scales their Deployments from
//! a real Redis, writes KEDA's status through the status subresource only when it changes,
//! keeps a bad object to itself, and continues a cooldown from the persisted
//! `lastActiveTime` after a restart.

mod support;

use std::time::Duration;

use scalerd::daemon::RunOptions;
use scalers_testkit::{FakeApiServer, FakeResource, RedisServer, eventually, unique_name};
use serde_json::{Value, json};
use support::{Daemon, kube_client, replicas_become, set_list, unix_ms};
use tokio::time::Instant;

const SO: FakeResource = FakeResource::SCALED_OBJECT;
const DEPLOY: FakeResource = FakeResource::DEPLOYMENT;

fn options(fake: &FakeApiServer) -> RunOptions {
    let mut opts = RunOptions::cluster();
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(kube_client(fake));
    opts.leader_elect = Some(false);
    opts.namespace = "scalers".into();
    opts
}

/// A ScaledObject `shop/<name>` on Deployment `shop/<name>` with a redis-list trigger.
fn scaled_object(name: &str, redis: &RedisServer, key: &str, extra: Value) -> Value {
    let mut spec = json!({
        "scaleTargetRef": {"name": name},
        "pollingInterval": 1,
        "minReplicaCount": 1,
        "maxReplicaCount": 10,
        "triggers": [{
            "type": "redis",
            "name": "jobs",
            "metadata": {"address": redis.address(), "listName": key, "listLength": "10"},
        }],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

fn status(fake: &FakeApiServer, name: &str) -> Value {
    fake.object(&SO, "shop", name)
        .map(|o| o["status"].clone())
        .unwrap_or(Value::Null)
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

/// Waits up to 10 s until condition `kind` of ScaledObject `shop/name` has `want`; its status.
async fn condition_becomes(fake: &FakeApiServer, name: &str, kind: &str, want: &str) -> Value {
    eventually(Duration::from_secs(10), || async {
        let s = status(fake, name);
        if condition(&s, kind)["status"] == want {
            Ok(s)
        } else {
            Err(format!("{name}: {kind} is not {want}: {s}"))
        }
    })
    .await
}

fn status_writes(fake: &FakeApiServer, name: &str) -> usize {
    let path = format!("/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/{name}/status");
    fake.requests("PATCH", &path)
        .iter()
        .filter(|e| e.succeeded())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_object_in_the_cluster_scales_and_gets_kedas_status_written_on_change() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 35);
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "orders", 1);
    fake.put_object(&SO, "shop", scaled_object("orders", redis, &key, json!({})));
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "orders", 4, Duration::from_secs(20)).await;

    let s = eventually(Duration::from_secs(10), || async {
        let s = status(&fake, "orders");
        if condition(&s, "Active")["status"] == "True" && s["lastActiveTime"].is_string() {
            Ok(s)
        } else {
            Err(format!("{s}"))
        }
    })
    .await;
    assert_eq!(condition(&s, "Ready")["status"], "True");
    assert_eq!(condition(&s, "Ready")["reason"], "ScaledObjectReady");
    assert_eq!(condition(&s, "Active")["reason"], "ScalerActive");
    assert_eq!(condition(&s, "Fallback")["status"], "False");
    assert_eq!(condition(&s, "Fallback")["reason"], "NoFallbackFound");
    assert_eq!(condition(&s, "Paused")["status"], "False");
    assert_eq!(s["scaleTargetKind"], "apps/v1.Deployment");
    assert_eq!(
        s["scaleTargetGVKR"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment", "resource": "deployments"})
    );
    assert_eq!(s["originalReplicaCount"], 1);
    assert_eq!(
        s["health"]["jobs"],
        json!({"numberOfFailures": 0, "status": "Happy"})
    );

    // Steady state: the status only changes when lastActiveTime moves to a new second; the
    // conditions keep their transition times. Three ticks of an inactive object write nothing.
    set_list(&redis.client(), &key, 0);
    condition_becomes(&fake, "orders", "Active", "False").await;
    let writes = status_writes(&fake, "orders");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status_writes(&fake, "orders"),
        writes,
        "status written with no change"
    );
    let s = status(&fake, "orders");
    assert_eq!(condition(&s, "Active")["reason"], "ScalerNotActive");
    daemon.stop().await;
}

/// Objects whose triggers read no environment (no `*FromEnv` parameter, no `env` source)
/// start without a read of their target: one discovery of the kind and the watches, no `get`
/// of any Deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_that_read_no_environment_start_without_reading_their_targets() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 35);
    let fake = FakeApiServer::start().await;
    let names: Vec<String> = (0..20).map(|i| format!("quiet{i}")).collect();
    for name in &names {
        fake.put_workload(&DEPLOY, "shop", name, 1);
        fake.put_object(&SO, "shop", scaled_object(name, redis, &key, json!({})));
    }
    let daemon = Daemon::start(options(&fake)).await;
    for name in &names {
        replicas_become(&fake, name, 4, Duration::from_secs(30)).await;
    }
    let gets: Vec<String> = fake
        .requests("GET", "/apis/apps/v1/namespaces/shop/deployments/**")
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert!(gets.is_empty(), "{gets:?}");
    assert_eq!(fake.requests("GET", "/apis/apps/v1").len(), 1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_object_gets_ready_false_with_checks_message_and_the_others_keep_scaling() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "good", 1);
    fake.put_workload(&DEPLOY, "shop", "bad", 1);
    fake.put_object(&SO, "shop", scaled_object("good", redis, &key, json!({})));
    let mut bad = scaled_object("bad", redis, &key, json!({}));
    bad["spec"]["triggers"][0]["type"] = json!("rabbitmq");
    fake.put_object(&SO, "shop", bad);
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "good", 3, Duration::from_secs(20)).await;

    let s = condition_becomes(&fake, "bad", "Ready", "False").await;
    let ready = condition(&s, "Ready");
    assert_eq!(ready["reason"], "ScaledObjectCheckFailed");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "ScaledObject shop/bad: spec.triggers[0].type: unknown trigger type \"rabbitmq\""
        ),
        "{message}"
    );
    let warned = fake.events("shop").into_iter().any(|e| {
        e.reason.as_deref() == Some("ScaledObjectCheckFailed")
            && e.type_.as_deref() == Some("Warning")
    });
    assert!(warned, "a Warning Event");
    assert_eq!(fake.replicas(&DEPLOY, "shop", "bad"), Some(1));

    // Fixed (a new generation): it scales at once.
    let fixed = scaled_object("bad", redis, &key, json!({}));
    fake.put_object(&SO, "shop", fixed);
    replicas_become(&fake, "bad", 3, Duration::from_secs(10)).await;
    condition_becomes(&fake, "bad", "Ready", "True").await;
    daemon.stop().await;
}

/// A restart of scalerd in the middle of a cooldown: the new process reads `lastActiveTime`
/// back from the status and scales to zero when the cooldown since then has passed: no sooner,
/// and not a full cooldown after its own start either (which the file mode's presumption
/// would give).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_continues_the_cooldown_from_the_persisted_last_active_time() {
    const COOLDOWN: u64 = 8;
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "cooling", 0);
    let extra = json!({"minReplicaCount": 0, "cooldownPeriod": COOLDOWN});
    fake.put_object(&SO, "shop", scaled_object("cooling", redis, &key, extra));
    let first = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "cooling", 3, Duration::from_secs(20)).await;
    set_list(&redis.client(), &key, 0);
    let inactive = condition_becomes(&fake, "cooling", "Active", "False").await;
    let last_active = inactive["lastActiveTime"].as_str().unwrap().to_owned();
    let last_active_ms = scalerd::kube::parse_time_ms(&last_active).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    first.stop().await;

    let restarted = Instant::now();
    let restarted_ms = unix_ms();
    let second = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "cooling", 0, Duration::from_secs(COOLDOWN + 10)).await;
    let zero_after_restart = restarted.elapsed();
    let zero_ms = restarted_ms + u64::try_from(zero_after_restart.as_millis()).unwrap();
    assert!(
        zero_ms >= last_active_ms + COOLDOWN * 1000,
        "scaled to zero {} ms after lastActiveTime {last_active}, before the cooldown",
        zero_ms - last_active_ms
    );
    assert!(
        zero_after_restart < Duration::from_secs(COOLDOWN - 1),
        "scaled to zero {zero_after_restart:?} after the restart: the persisted lastActiveTime was not used"
    );
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", "cooling"), [1, 3, 0]);
    second.stop().await;
}

/// Deleting a ScaledObject stops its loop; the watch ending, a 410 Gone, and the API server
/// unreachable for a while lose or double nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_watch_faults_neither_lose_nor_double_a_loop() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    for name in ["one", "two"] {
        fake.put_workload(&DEPLOY, "shop", name, 1);
        fake.put_object(&SO, "shop", scaled_object(name, redis, &key, json!({})));
    }
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "one", 3, Duration::from_secs(20)).await;
    replicas_become(&fake, "two", 3, Duration::from_secs(20)).await;

    // The watches end, then the history is gone (the next watch gets 410 and lists again),
    // then the API server cannot be reached for a while.
    fake.end_watches();
    fake.compact();
    fake.end_watches();
    fake.unreachable_for(Duration::from_secs(3));
    tokio::time::sleep(Duration::from_secs(4)).await;
    fake.put_workload(&DEPLOY, "shop", "three", 1);
    fake.put_object(&SO, "shop", scaled_object("three", redis, &key, json!({})));
    replicas_become(&fake, "three", 3, Duration::from_secs(30)).await;
    let keys = |s: scalerd::daemon::status::Status| {
        s.objects
            .into_iter()
            .map(|o| o.scaled_object)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(daemon.status().await),
        ["shop/one", "shop/three", "shop/two"]
    );
    assert_eq!(
        fake.scale_writes(&DEPLOY, "shop", "one"),
        [3],
        "no doubled loop"
    );

    // Deleted: its loop stops and it leaves /status.
    assert!(fake.delete_object(&SO, "shop", "two"));
    eventually(Duration::from_secs(10), || async {
        let k = keys(daemon.status().await);
        if k == ["shop/one", "shop/three"] {
            Ok(())
        } else {
            Err(format!("{k:?}"))
        }
    })
    .await;
    let reads = |fake: &FakeApiServer| {
        fake.requests("GET", "/apis/apps/v1/namespaces/shop/deployments/two/**")
            .len()
    };
    let before = reads(&fake);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        reads(&fake),
        before,
        "the deleted object's loop still reads its target"
    );
    daemon.stop().await;
}

/// The API server unreachable for 30 s: every object keeps its loop with its last known spec
/// meanwhile; an object created and one edited during the outage are picked up once it is
/// back (the watches list again), and nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_seconds_without_the_api_server_lose_and_double_nothing() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    for name in ["one", "two"] {
        fake.put_workload(&DEPLOY, "shop", name, 1);
        fake.put_object(&SO, "shop", scaled_object(name, redis, &key, json!({})));
    }
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "one", 3, Duration::from_secs(20)).await;
    replicas_become(&fake, "two", 3, Duration::from_secs(20)).await;

    fake.unreachable_for(Duration::from_secs(30));
    let outage = Instant::now();
    // Meanwhile the cluster changes: a new object, and `two` edited to at least 5 replicas.
    fake.put_workload(&DEPLOY, "shop", "three", 1);
    fake.put_object(&SO, "shop", scaled_object("three", redis, &key, json!({})));
    let mut two = fake.object(&SO, "shop", "two").expect("two");
    two["spec"]["minReplicaCount"] = json!(5);
    fake.put_object(&SO, "shop", two);
    // Halfway through, both loops are still there, as they were.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let keys = |s: scalerd::daemon::status::Status| {
        s.objects
            .into_iter()
            .map(|o| o.scaled_object)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(daemon.status().await), ["shop/one", "shop/two"]);

    // Back: the new object is scaled, the edit applies; nothing was written twice.
    replicas_become(&fake, "three", 3, Duration::from_secs(90)).await;
    replicas_become(&fake, "two", 5, Duration::from_secs(90)).await;
    assert!(outage.elapsed() >= Duration::from_secs(30));
    assert_eq!(
        keys(daemon.status().await),
        ["shop/one", "shop/three", "shop/two"]
    );
    assert_eq!(
        fake.scale_writes(&DEPLOY, "shop", "one"),
        [3],
        "no doubled loop"
    );
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", "two"), [3, 5]);
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", "three"), [3]);
    daemon.stop().await;
}

fn finalizers(fake: &FakeApiServer, name: &str) -> Vec<String> {
    fake.object(&SO, "shop", name)
        .and_then(|o| {
            o["metadata"]["finalizers"].as_array().map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Deletion: the finalizer is put on by the leader; on deletion with
/// `restoreToOriginalReplicaCount` the target goes back to its original count before the
/// object goes; without it, the count stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_restores_the_original_count_when_asked_then_drops_the_finalizer() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    for name in ["restored", "kept"] {
        fake.put_workload(&DEPLOY, "shop", name, 2);
    }
    let restore = json!({"advanced": {"restoreToOriginalReplicaCount": true}});
    fake.put_object(&SO, "shop", scaled_object("restored", redis, &key, restore));
    fake.put_object(&SO, "shop", scaled_object("kept", redis, &key, json!({})));
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "restored", 5, Duration::from_secs(20)).await;
    replicas_become(&fake, "kept", 5, Duration::from_secs(20)).await;
    for name in ["restored", "kept"] {
        eventually(Duration::from_secs(10), || async {
            let f = finalizers(&fake, name);
            let original = status(&fake, name)["originalReplicaCount"].clone();
            if f == ["finalizer.keda.sh"] && original == 2 {
                Ok(())
            } else {
                Err(format!("{name}: {f:?}, originalReplicaCount {original}"))
            }
        })
        .await;
    }

    for name in ["restored", "kept"] {
        assert_eq!(
            fake.request_deletion(&SO, "shop", name),
            Some(false),
            "held by the finalizer"
        );
    }
    for name in ["restored", "kept"] {
        eventually(Duration::from_secs(10), || async {
            match fake.object(&SO, "shop", name) {
                None => Ok(()),
                Some(o) => Err(format!("{name} still there: {}", o["metadata"])),
            }
        })
        .await;
    }
    assert_eq!(fake.replicas(&DEPLOY, "shop", "restored"), Some(2));
    assert_eq!(fake.replicas(&DEPLOY, "shop", "kept"), Some(5));
    daemon.stop().await;
}

/// An HPA already scales the target: the object is never written, `Ready=False` names the HPA;
/// once the HPA is gone, the object scales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_an_hpa_scales_is_never_written_until_the_hpa_goes() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "web", 1);
    fake.put_hpa("shop", "keda-hpa-web", "apps/v1", "Deployment", "web");
    fake.put_object(&SO, "shop", scaled_object("web", redis, &key, json!({})));
    let daemon = Daemon::start(options(&fake)).await;
    let s = condition_becomes(&fake, "web", "Ready", "False").await;
    assert_eq!(
        condition(&s, "Ready")["message"],
        "ScaledObject shop/web: spec.scaleTargetRef: Deployment shop/web is already scaled by HorizontalPodAutoscaler keda-hpa-web; scalerd does not write a target another autoscaler writes"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(fake.scale_writes(&DEPLOY, "shop", "web").is_empty());

    assert!(fake.delete_object(&FakeResource::HPA, "shop", "keda-hpa-web"));
    replicas_become(&fake, "web", 5, Duration::from_secs(15)).await;
    daemon.stop().await;
}

/// The walk-through this project started from, in cluster mode: a ScaledObject with a
/// `prometheus` trigger on `sum(irate(http_requests_total[1m]))`, threshold 100, min 1, max 5,
/// applied to the (fake) cluster; a real Prometheus scrapes a request counter whose rate rises
/// to 350/s, then 480/s, then stops. The Deployment goes 1 → 4 → 5 → 1, the status follows,
/// and a restart of scalerd at 5 changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walk_through_goes_1_4_5_1_with_a_restart_that_changes_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let prom = scalers_testkit::PrometheusServices::shared().await;
    let run = unique_name("walk");
    let job = unique_name("walk-job");
    // The counter grows at `rate` per second (stored as millis), pushed every 50 ms.
    let rate = Arc::new(AtomicU64::new(0));
    let pusher = {
        let (rate, run, job) = (rate.clone(), run.clone(), job.clone());
        tokio::spawn(async move {
            let mut count = 0.0_f64;
            let mut last = Instant::now();
            loop {
                let now = Instant::now();
                count += rate.load(Ordering::SeqCst) as f64 / 1000.0
                    * now.duration_since(last).as_secs_f64();
                last = now;
                prom.push_metric(
                    &job,
                    &format!("http_requests_total{{run=\"{run}\"}} {count}\n"),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let fake = FakeApiServer::start().await;
    fake.put_workload(&DEPLOY, "shop", "web", 1);
    let so = json!({
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"name": "web"},
            "pollingInterval": 1,
            "minReplicaCount": 1,
            "maxReplicaCount": 5,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 10, "periodSeconds": 1}]},
                "scaleDown": {"stabilizationWindowSeconds": 3},
            }}},
            "triggers": [{
                "type": "prometheus",
                "name": "http",
                "metadata": {
                    "serverAddress": prom.prometheus_url(),
                    "query": format!("sum(irate(http_requests_total{{run=\"{run}\"}}[1m]))"),
                    "threshold": "100",
                },
            }],
        },
    });
    fake.put_object(&SO, "shop", so);
    let daemon = Daemon::start(options(&fake)).await;

    rate.store(350_000, Ordering::SeqCst);
    replicas_become(&fake, "web", 4, Duration::from_secs(30)).await;
    rate.store(480_000, Ordering::SeqCst);
    replicas_become(&fake, "web", 5, Duration::from_secs(20)).await;
    let s = status(&fake, "web");
    assert_eq!(condition(&s, "Ready")["status"], "True");
    assert_eq!(condition(&s, "Active")["status"], "True");
    assert!(s["lastActiveTime"].is_string(), "{s}");
    assert_eq!(s["originalReplicaCount"], 1);

    // A restart while at 5: the new process writes nothing while the load holds.
    daemon.stop().await;
    let writes = fake.scale_writes(&DEPLOY, "shop", "web");
    let daemon = Daemon::start(options(&fake)).await;
    daemon
        .until("shop/web", Duration::from_secs(10), "two ticks", |o| {
            o.decision.is_some() && o.current_replicas == Some(5)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        fake.scale_writes(&DEPLOY, "shop", "web"),
        writes,
        "the restart wrote"
    );

    // The load stops: back to 1 after the 3 s scale-down window; inactive.
    rate.store(0, Ordering::SeqCst);
    replicas_become(&fake, "web", 1, Duration::from_secs(30)).await;
    let all = fake.scale_writes(&DEPLOY, "shop", "web");
    assert_eq!(&all[..2], [4, 5], "{all:?}");
    assert_eq!(*all.last().unwrap(), 1, "{all:?}");
    assert_eq!(
        fake.scale_writes(&DEPLOY, "shop", "web")
            .iter()
            .filter(|&&n| n > 5)
            .count(),
        0
    );
    eventually(Duration::from_secs(10), || async {
        let s = status(&fake, "web");
        if condition(&s, "Active")["status"] == "False" && s["lastActiveTime"].is_string() {
            Ok(())
        } else {
            Err(format!("{s}"))
        }
    })
    .await;
    pusher.abort();
    daemon.stop().await;
}

/// Credentials as KEDA resolves them in the cluster: `*FromEnv` parameters read the
/// environment of the target's `envSourceContainerName` container (`envFrom` a ConfigMap, a
/// literal with `$(VAR)` expansion, `secretKeyRef`, `configMapKeyRef`), not scalerd's own; a
/// TriggerAuthentication's `env` source reads its `containerName`, else the first container
/// (not `envSourceContainerName`, as KEDA does); a missing container is the object's error
/// alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_env_parameters_read_the_targets_container_environment() {
    let redis = RedisServer::shared().await;
    let user = unique_name("envy");
    redis.client().create_user(&user, "pod-env-pw");
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let (host, port) = redis.address().rsplit_once(':').unwrap();
    let fake = FakeApiServer::start().await;
    fake.put_config_map(
        "shop",
        "redis-conf",
        &[("HOST", host), ("PORT", port), ("user", &user)],
    );
    fake.put_secret("shop", "redis-creds", &[("pw", b"pod-env-pw".as_slice())]);
    let template = |name: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [
                        {"name": "sidecar", "env": [
                            {"name": "REDIS_ADDR", "value": "nowhere:1"},
                            {"name": "SIDECAR_USER", "value": user},
                        ]},
                        {"name": "app",
                         "envFrom": [{"configMapRef": {"name": "redis-conf"}}],
                         "env": [
                            {"name": "REDIS_ADDR", "value": "$(HOST):$(PORT)"},
                            {"name": "REDIS_PW", "valueFrom": {"secretKeyRef": {"name": "redis-creds", "key": "pw"}}},
                            {"name": "REDIS_USER", "valueFrom": {"configMapKeyRef": {"name": "redis-conf", "key": "user"}}},
                         ]},
                    ]},
                },
            },
        })
    };
    for name in ["envy", "wrong", "first", "nocontainer"] {
        fake.put_object(&DEPLOY, "shop", template(name));
    }
    for (auth, env) in [
        (
            "redis-auth",
            json!({"parameter": "username", "name": "REDIS_USER", "containerName": "app"}),
        ),
        (
            "first-auth",
            json!({"parameter": "username", "name": "SIDECAR_USER"}),
        ),
        (
            "web-auth",
            json!({"parameter": "username", "name": "REDIS_USER", "containerName": "web"}),
        ),
    ] {
        fake.put_object(
            &FakeResource::TRIGGER_AUTHENTICATION,
            "shop",
            json!({"metadata": {"name": auth}, "spec": {"env": [env]}}),
        );
    }
    let object = |name: &str, container: &str, auth: &str| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"name": name, "envSourceContainerName": container},
                "pollingInterval": 1,
                "maxReplicaCount": 10,
                "triggers": [{
                    "type": "redis",
                    "name": "jobs",
                    "authenticationRef": {"name": auth},
                    "metadata": {"addressFromEnv": "REDIS_ADDR", "passwordFromEnv": "REDIS_PW", "listName": key, "listLength": "10"},
                }],
            },
        })
    };
    fake.put_object(&SO, "shop", object("envy", "app", "redis-auth"));
    fake.put_object(&SO, "shop", object("wrong", "web", "redis-auth"));
    fake.put_object(&SO, "shop", object("first", "app", "first-auth"));
    fake.put_object(&SO, "shop", object("nocontainer", "app", "web-auth"));
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "envy", 5, Duration::from_secs(20)).await;
    // SIDECAR_USER is only in the first container: the `env` source read it there.
    replicas_become(&fake, "first", 5, Duration::from_secs(20)).await;
    let s = condition_becomes(&fake, "wrong", "Ready", "False").await;
    assert_eq!(
        condition(&s, "Ready")["message"],
        "ScaledObject shop/wrong: spec.scaleTargetRef: envSourceContainerName: Deployment shop/wrong has no container \"web\""
    );
    let s = condition_becomes(&fake, "nocontainer", "Ready", "False").await;
    assert_eq!(
        condition(&s, "Ready")["message"],
        "ScaledObject shop/nocontainer: documents[1].spec.env[0]: containerName: Deployment shop/nocontainer has no container \"web\""
    );
    for name in ["wrong", "nocontainer"] {
        assert_eq!(fake.replicas(&DEPLOY, "shop", name), Some(1));
    }
    daemon.stop().await;
}

/// `configMapTargetRef`: a TriggerAuthentication reads its ConfigMap keys in the object's
/// namespace, a ClusterTriggerAuthentication in scalerd's own namespace (`scalers` here); a
/// missing key is that object's error alone, located at the entry, as a missing
/// `secretTargetRef` key is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_target_refs_read_the_namespace_kedas_rules_name() {
    let redis = RedisServer::shared().await;
    let (user, cluster_user) = (unique_name("cm"), unique_name("cmc"));
    redis.client().create_user(&user, "cm-pw-1");
    redis.client().create_user(&cluster_user, "cm-pw-2");
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    fake.put_config_map("shop", "redis-conf", &[("user", &user), ("pw", "cm-pw-1")]);
    fake.put_config_map(
        "scalers",
        "redis-conf",
        &[("user", &cluster_user), ("pw", "cm-pw-2")],
    );
    let refs = |pw: &str| {
        json!({"configMapTargetRef": [
            {"parameter": "username", "name": "redis-conf", "key": "user"},
            {"parameter": "password", "name": "redis-conf", "key": pw},
        ]})
    };
    fake.put_object(
        &FakeResource::TRIGGER_AUTHENTICATION,
        "shop",
        json!({"metadata": {"name": "cm-auth"}, "spec": refs("pw")}),
    );
    fake.put_object(
        &FakeResource::TRIGGER_AUTHENTICATION,
        "shop",
        json!({"metadata": {"name": "cm-bad"}, "spec": refs("nope")}),
    );
    fake.put_object(
        &FakeResource::CLUSTER_TRIGGER_AUTHENTICATION,
        "",
        json!({"metadata": {"name": "cm-cluster"}, "spec": refs("pw")}),
    );
    let with_auth = |name: &str, auth: Value| {
        let mut o = scaled_object(name, redis, &key, json!({}));
        o["spec"]["triggers"][0]["authenticationRef"] = auth;
        o
    };
    for (name, auth) in [
        ("cm-ns", json!({"name": "cm-auth"})),
        (
            "cm-cluster",
            json!({"name": "cm-cluster", "kind": "ClusterTriggerAuthentication"}),
        ),
        ("cm-missing", json!({"name": "cm-bad"})),
    ] {
        fake.put_workload(&DEPLOY, "shop", name, 1);
        fake.put_object(&SO, "shop", with_auth(name, auth));
    }
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "cm-ns", 5, Duration::from_secs(20)).await;
    replicas_become(&fake, "cm-cluster", 5, Duration::from_secs(20)).await;
    let s = condition_becomes(&fake, "cm-missing", "Ready", "False").await;
    assert_eq!(
        condition(&s, "Ready")["message"],
        "ScaledObject shop/cm-missing: documents[1].spec.configMapTargetRef[1]: cannot read key \"nope\" of ConfigMap \"redis-conf\" in namespace \"shop\": config map \"redis-conf\" in namespace \"shop\" has no key \"nope\" (keys: pw, user)"
    );
    assert_eq!(fake.replicas(&DEPLOY, "shop", "cm-missing"), Some(1));
    daemon.stop().await;
}

/// A change of a ConfigMap that credentials come from (`configMapTargetRef`, or a
/// `configMapKeyRef` in the target's pod template), or of the pod template itself, rebuilds the
/// triggers that read it, and only those: each failing trigger recovers once its source is
/// fixed, a healthy object is never rebuilt, and while the pod template is unchanged (the
/// workload watch says so) its Deployment is not read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_map_or_pod_template_rebuilds_only_the_triggers_that_read_it() {
    let redis = RedisServer::shared().await;
    let user = unique_name("rot");
    redis.client().create_user(&user, "right-pw");
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    fake.put_config_map("shop", "creds", &[("user", &user), ("pw", "wrong-pw")]);
    fake.put_config_map("shop", "env-creds", &[("pw", "wrong-pw")]);
    fake.put_object(
        &FakeResource::TRIGGER_AUTHENTICATION,
        "shop",
        json!({"metadata": {"name": "cm-pw"}, "spec": {"configMapTargetRef": [
            {"parameter": "username", "name": "creds", "key": "user"},
            {"parameter": "password", "name": "creds", "key": "pw"},
        ]}}),
    );
    let deployment = |name: &str, pw: Value| {
        json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "env": [
                        {"name": "REDIS_USER", "value": user},
                        pw,
                    ]}]},
                },
            },
        })
    };
    let from_map = json!({"name": "REDIS_PW", "valueFrom": {"configMapKeyRef": {"name": "env-creds", "key": "pw"}}});
    fake.put_object(&DEPLOY, "shop", deployment("by-env", from_map));
    fake.put_object(
        &DEPLOY,
        "shop",
        deployment(
            "by-template",
            json!({"name": "REDIS_PW", "value": "wrong-pw"}),
        ),
    );
    fake.put_workload(&DEPLOY, "shop", "by-ref", 1);
    fake.put_workload(&DEPLOY, "shop", "steady", 1);
    let mut by_ref = scaled_object("by-ref", redis, &key, json!({}));
    by_ref["spec"]["triggers"][0]["authenticationRef"] = json!({"name": "cm-pw"});
    fake.put_object(&SO, "shop", by_ref);
    for name in ["by-env", "by-template"] {
        let mut o = scaled_object(name, redis, &key, json!({}));
        let metadata = &mut o["spec"]["triggers"][0]["metadata"];
        metadata["usernameFromEnv"] = json!("REDIS_USER");
        metadata["passwordFromEnv"] = json!("REDIS_PW");
        fake.put_object(&SO, "shop", o);
    }
    fake.put_object(&SO, "shop", scaled_object("steady", redis, &key, json!({})));
    let daemon = Daemon::start(options(&fake)).await;
    replicas_become(&fake, "steady", 5, Duration::from_secs(20)).await;
    // Wrong passwords: the three fail (and hold their count), each tick reading its
    // credentials again as `unauthorized` asks.
    for name in ["by-ref", "by-env", "by-template"] {
        eventually(Duration::from_secs(10), || async {
            let s = status(&fake, name);
            if s["health"]["jobs"]["status"] == "Failing" {
                Ok(())
            } else {
                Err(format!("{name}: {s}"))
            }
        })
        .await;
        assert_eq!(fake.replicas(&DEPLOY, "shop", name), Some(1));
    }
    let reads = |name: &str| {
        fake.requests(
            "GET",
            &format!("/apis/apps/v1/namespaces/shop/deployments/{name}"),
        )
        .len()
    };
    let by_env_reads = reads("by-env");
    let by_template_reads = reads("by-template");
    fake.put_config_map("shop", "creds", &[("user", &user), ("pw", "right-pw")]);
    fake.put_config_map("shop", "env-creds", &[("pw", "right-pw")]);
    fake.put_object(
        &DEPLOY,
        "shop",
        deployment(
            "by-template",
            json!({"name": "REDIS_PW", "value": "right-pw"}),
        ),
    );
    for name in ["by-ref", "by-env", "by-template"] {
        replicas_become(&fake, name, 5, Duration::from_secs(20)).await;
    }
    // One rebuild per fixed trigger; none of the healthy object.
    let text = daemon.metrics().await;
    assert_eq!(
        support::metric(&text, "scalers_trigger_rebuilds_total"),
        Some(3.0)
    );
    assert_eq!(
        reads("by-env"),
        by_env_reads,
        "an unchanged pod template is not read again"
    );
    assert!(
        reads("by-template") > by_template_reads,
        "a changed pod template is read again"
    );
    daemon.stop().await;
}

/// Editing `scaleTargetRef` releases the old target as a deletion does (back to
/// `originalReplicaCount` with `restoreToOriginalReplicaCount: true`, else kept), then scales
/// the new one, whose kind and count the status then describes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_scale_target_ref_releases_the_old_target_like_a_deletion() {
    const STS: FakeResource = FakeResource::STATEFUL_SET;
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 45);
    let fake = FakeApiServer::start().await;
    for name in ["old-restored", "old-kept"] {
        fake.put_workload(&DEPLOY, "shop", name, 2);
    }
    for name in ["new-restored", "new-kept"] {
        fake.put_workload(&STS, "shop", name, 3);
    }
    let restore = json!({"advanced": {"restoreToOriginalReplicaCount": true}});
    let object = |name: &str, target: &str, extra: &Value| {
        let mut o = scaled_object(name, redis, &key, extra.clone());
        o["spec"]["scaleTargetRef"] = json!({"name": target});
        o
    };
    fake.put_object(&SO, "shop", object("restored", "old-restored", &restore));
    fake.put_object(&SO, "shop", object("kept", "old-kept", &json!({})));
    let daemon = Daemon::start(options(&fake)).await;
    for (so, target) in [("restored", "old-restored"), ("kept", "old-kept")] {
        replicas_become(&fake, target, 5, Duration::from_secs(20)).await;
        eventually(Duration::from_secs(10), || async {
            let original = status(&fake, so)["originalReplicaCount"].clone();
            if original == 2 {
                Ok(())
            } else {
                Err(format!("{so}: originalReplicaCount {original}"))
            }
        })
        .await;
    }

    let writes_before = |name: &str| fake.scale_writes(&DEPLOY, "shop", name);
    let (restored_writes, kept_writes) = (writes_before("old-restored"), writes_before("old-kept"));
    // An update as `kubectl apply` sends it: the status (and the finalizer) stay.
    for (so, target) in [("restored", "new-restored"), ("kept", "new-kept")] {
        let mut o = fake.object(&SO, "shop", so).unwrap();
        o["spec"]["scaleTargetRef"] =
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": target});
        fake.put_object(&SO, "shop", o);
    }
    for (so, target) in [("restored", "new-restored"), ("kept", "new-kept")] {
        eventually(Duration::from_secs(20), || async {
            let s = status(&fake, so);
            let replicas = fake.replicas(&STS, "shop", target);
            if replicas == Some(5) && s["scaleTargetKind"] == "apps/v1.StatefulSet" {
                Ok(s)
            } else {
                Err(format!("{so}: {target} at {replicas:?}, status {s}"))
            }
        })
        .await;
        let s = status(&fake, so);
        assert_eq!(s["originalReplicaCount"], 3, "{so}: the new target's count");
        assert_eq!(
            s["scaleTargetGVKR"],
            json!({"group": "apps", "version": "v1", "kind": "StatefulSet", "resource": "statefulsets"})
        );
    }
    assert_eq!(fake.replicas(&DEPLOY, "shop", "old-restored"), Some(2));
    assert_eq!(fake.replicas(&DEPLOY, "shop", "old-kept"), Some(5));
    // The old targets are no longer written.
    let mut restored_then = restored_writes;
    restored_then.push(2);
    assert_eq!(
        fake.scale_writes(&DEPLOY, "shop", "old-restored"),
        restored_then
    );
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", "old-kept"), kept_writes);
    daemon.stop().await;
}
