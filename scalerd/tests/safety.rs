//! Safety under faults (issue 14), against the testkit's fake API server and a real Redis:
//!
//! - a restart never scales a cooling workload to zero before the cooldown has passed;
//! - a slow Events API never delays a tick, and Events flow again once it answers;
//! - repeated Events are counted on one Event (`series`), not created again;
//! - rotated credentials (a file, a Kubernetes Secret) are picked up without a reload.
//!
//! The two-process tests (fencing of writes by the lease, a takeover with `minReplicaCount: 0`)
//! are in `safety_processes.rs`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use scalerd::daemon::events::{Event, EventQueue, EventSink, QueueSettings};
use scalerd::daemon::metrics::Metrics;
use scalerd::kube::{EventRecorder, client_from_config};
use scalers_core::config::ScaledObject;
use scalers_testkit::{FakeApiServer, FakeResource, Fault, RedisServer, eventually, unique_name};
use support::{Daemon, Dir, base64, k8s_name, metric, options, replicas_become, set_list};
use tokio::time::Instant;

const DEPLOY: FakeResource = FakeResource::DEPLOYMENT;
const EVENTS: &str = "/apis/events.k8s.io/v1/**";

fn scale_path(name: &str) -> String {
    format!("/apis/apps/v1/namespaces/shop/deployments/{name}/scale")
}

/// A redis-list object scaling Deployment `shop/<name>`, one replica per 10 items.
fn redis_object(name: &str, address: &str, key: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    maxReplicaCount: 20\n{extra}    triggers:\n      - type: redis\n        name: jobs\n        metadata: {{address: '{address}', listName: '{key}', listLength: '10'}}\n"
    )
}

// ------------------------------------------------------------------ restart and cooldown

/// Issue 14, item 2: an object with `minReplicaCount: 0` last active a moment before a restart
/// is not scaled to zero by the new process before a full cooldown (it used to be, 0.4 s
/// after the start: "inactive for the cooldown period").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_waits_a_full_cooldown_before_scaling_to_zero() {
    const COOLDOWN: Duration = Duration::from_secs(6);
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 25);
    let fake = FakeApiServer::start().await;
    let name = k8s_name("cooling");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 0);
    let dir = Dir::new("safety-restart");
    let extra = format!(
        "    minReplicaCount: 0\n    cooldownPeriod: {}\n",
        COOLDOWN.as_secs()
    );
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}",
            redis_object(&name, redis.address(), &key, &extra)
        ),
    );

    // The first daemon activates the workload (0 → 1 → 3), then the work is done.
    let first = Daemon::start(options(&config, &fake)).await;
    replicas_become(&fake, &name, 3, Duration::from_secs(20)).await;
    set_list(&redis.client(), &key, 0);
    first
        .until(&id, Duration::from_secs(10), "inactive", |o| {
            o.active == Some(false)
        })
        .await;
    first.stop().await;

    // A new daemon knows nothing of the object's last activity.
    let restarted = Instant::now();
    let second = Daemon::start(options(&config, &fake)).await;
    replicas_become(&fake, &name, 0, COOLDOWN + Duration::from_secs(10)).await;
    let writes = fake.requests("PATCH", &scale_path(&name));
    let zero = writes
        .iter()
        .find(|w| w.json().is_some_and(|b| b["spec"]["replicas"] == 0))
        .expect("a write of 0");
    let after = zero.received.duration_since(restarted);
    assert!(
        after >= COOLDOWN,
        "scaled to zero {after:?} after the restart, before the {COOLDOWN:?} cooldown"
    );
    assert!(
        after < COOLDOWN + Duration::from_secs(4),
        "scaled to zero {after:?} after the restart: later than the cooldown and a few ticks"
    );
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [1, 3, 0]);
    second.stop().await;
}

// ------------------------------------------------------------------ events

/// Issue 14, item 3: with the Events API hanging, every tick of every object runs on time and
/// scaling is not delayed (a rescale used to wait for the Event's 10 s timeout); once the API
/// answers again, Events are published again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_events_api_never_delays_a_tick() {
    let redis = RedisServer::shared().await;
    let fake = FakeApiServer::start().await;
    let (a, b) = (k8s_name("events-a"), k8s_name("events-b"));
    let (key_a, key_b) = (unique_name("jobs"), unique_name("jobs"));
    fake.put_workload(&DEPLOY, "shop", &a, 1);
    fake.put_workload(&DEPLOY, "shop", &b, 1);
    set_list(&redis.client(), &key_a, 5);
    set_list(&redis.client(), &key_b, 5);
    let fast = "    minReplicaCount: 1\n    advanced:\n      horizontalPodAutoscalerConfig:\n        behavior:\n          scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Pods, value: 100, periodSeconds: 1}]}\n";
    let dir = Dir::new("safety-events");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n{}{}",
            redis_object(&a, redis.address(), &key_a, fast),
            redis_object(&b, redis.address(), &key_b, fast)
        ),
    );
    fake.inject(Fault::delay(Duration::from_secs(30)).on("*", EVENTS));
    let daemon = Daemon::start(options(&config, &fake)).await;
    let id_b = format!("shop/{b}");
    daemon
        .until(&id_b, Duration::from_secs(10), "a first tick", |o| {
            o.last_tick.is_some()
        })
        .await;

    // Three rescales in a row, each published as an Event that hangs.
    let mut last = Instant::now();
    for (items, replicas) in [(20, 2), (80, 8), (150, 15)] {
        set_list(&redis.client(), &key_a, items);
        replicas_become(&fake, &a, replicas, Duration::from_secs(10)).await;
        let now = Instant::now();
        assert!(
            now.duration_since(last) < Duration::from_secs(4),
            "the rescale to {replicas} took {:?}: a hanging Event delayed the loop",
            now.duration_since(last)
        );
        last = now;
    }
    // The other object ticked on time all along: once per second, give or take.
    let first = daemon.object(&id_b).await.last_tick.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = daemon.object(&id_b).await.last_tick.unwrap();
    assert!(
        later - first >= 3000,
        "{id_b} ticked at {first} then {later}: ticks are late"
    );
    assert!(
        fake.events("shop").is_empty(),
        "no Event can have been stored while the API hangs"
    );

    // The API answers again: the Events of new changes are published.
    fake.clear_faults();
    set_list(&redis.client(), &key_a, 190);
    replicas_become(&fake, &a, 19, Duration::from_secs(10)).await;
    eventually(Duration::from_secs(30), || async {
        let notes: Vec<String> = fake
            .events("shop")
            .into_iter()
            .filter_map(|e| e.note)
            .collect();
        if notes.iter().any(|n| n.starts_with("New size: 19;")) {
            Ok(())
        } else {
            Err(format!("{notes:?}"))
        }
    })
    .await;
    daemon.stop().await;
}

fn orders() -> ScaledObject {
    let mut o = ScaledObject::new("orders", "orders");
    o.namespace = "shop".into();
    o
}

/// Repeats of one Event are one Event with a growing `series.count` (the second occurrence at
/// once, later ones at the refresh), as Kubernetes recorders aggregate them; another note is
/// another Event; a full queue drops Events and counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_events_are_counted_on_one_event_and_a_full_queue_drops() {
    let fake = FakeApiServer::start().await;
    let client = client_from_config(fake.config()).unwrap();
    let metrics = Arc::new(Metrics::new());
    let settings = QueueSettings {
        capacity: 64,
        repeat_window: Duration::from_secs(60),
        refresh: Duration::from_millis(300),
    };
    let (queue, _task) = EventQueue::spawn(
        EventRecorder::new(client.clone(), "scalerd-0"),
        metrics.clone(),
        settings,
    );
    let failed = Event::TriggerFailed {
        trigger: "queue".into(),
        message: "redis 127.0.0.1:1: connection refused".into(),
    };
    for _ in 0..5 {
        queue.emit(&orders(), &failed);
    }
    queue.emit(
        &orders(),
        &Event::Rescaled {
            from: 1,
            to: 2,
            reason: "queue proposes 2".into(),
        },
    );
    let events = eventually(Duration::from_secs(10), || async {
        let events = fake.events("shop");
        let series = events
            .iter()
            .find(|e| e.reason.as_deref() == Some("KEDAScalerFailed"))
            .and_then(|e| e.series.as_ref().map(|s| s.count));
        if events.len() == 2 && series == Some(5) {
            Ok(events)
        } else {
            Err(format!("{} events, series {series:?}", events.len()))
        }
    })
    .await;
    let failed_event = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("KEDAScalerFailed"))
        .unwrap();
    assert_eq!(
        failed_event.note.as_deref(),
        Some("queue: redis 127.0.0.1:1: connection refused")
    );
    let series = failed_event.series.as_ref().unwrap();
    assert!(series.last_observed_time.0 >= failed_event.event_time.as_ref().unwrap().0);
    assert_eq!(
        fake.requests("POST", EVENTS).len(),
        2,
        "one create per distinct Event"
    );
    let text = metrics.encode();
    assert_eq!(metric(&text, "scalers_events_aggregated_total"), Some(4.0));

    // A queue that cannot drain (the API hangs) keeps at most its capacity and drops the rest.
    fake.inject(Fault::delay(Duration::from_secs(20)).on("*", EVENTS));
    let small = QueueSettings {
        capacity: 2,
        ..settings
    };
    let metrics = Arc::new(Metrics::new());
    let (queue, _task) = EventQueue::spawn(
        EventRecorder::new(client, "scalerd-0"),
        metrics.clone(),
        small,
    );
    for to in 0..10 {
        queue.emit(
            &orders(),
            &Event::Rescaled {
                from: 1,
                to,
                reason: "r".into(),
            },
        );
    }
    let text = metrics.encode();
    let dropped = metric(&text, "scalers_events_dropped_total").unwrap();
    // One may already be in the publisher's hands, two wait in the queue.
    assert!((7.0..=8.0).contains(&dropped), "{dropped} dropped");
    assert!(metric(&text, "scalers_events_queued").unwrap() <= 2.0);
}

// ------------------------------------------------------------------ rotated credentials

/// The object of the credential tests: a redis list read as ACL user `user`, whose password
/// comes from the authentication `auth` (given as YAML).
fn authed_config(name: &str, address: &str, key: &str, user: &str, auth: &str) -> String {
    format!(
        "authentications:\n  - name: redis-auth\n    namespace: shop\n{auth}scaledObjects:\n  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    minReplicaCount: 1\n    maxReplicaCount: 20\n    triggers:\n      - type: redis\n        name: jobs\n        authenticationRef: {{name: redis-auth}}\n        metadata: {{address: '{address}', listName: '{key}', listLength: '10', username: '{user}'}}\n"
    )
}

/// Changes `user`'s password on the server and closes its connections, as a rotation with a
/// server restart does: the daemon's next sample reconnects with the old password.
fn rotate(redis: &RedisServer, user: &str, password: &str) {
    redis.client().create_user(user, password);
    redis.cmd(&["CLIENT", "KILL", "USER", user]);
}

/// Waits until the trigger of `id` fails as `unauthorized`, then until it answers again, and
/// returns how long the second wait took.
async fn unauthorized_then_recovered(daemon: &Daemon, id: &str, fix: impl FnOnce()) -> Duration {
    daemon
        .until(id, Duration::from_secs(15), "unauthorized", |o| {
            o.triggers
                .first()
                .is_some_and(|t| t.error_kind.as_deref() == Some("unauthorized"))
        })
        .await;
    fix();
    let fixed = Instant::now();
    daemon
        .until(id, Duration::from_secs(15), "answering again", |o| {
            o.triggers.first().is_some_and(|t| t.value.is_some())
        })
        .await;
    fixed.elapsed()
}

/// Issue 14, item 4: a password read from a file is changed (and the server's with it): the
/// trigger answers again within two polling intervals, without a reload, keeping the engine's
/// history (no new seeding, the count stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_file_is_picked_up_within_two_polling_intervals() {
    let redis = RedisServer::shared().await;
    let user = unique_name("rot-file");
    redis.client().create_user(&user, "old-pw-1");
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 35);
    let fake = FakeApiServer::start().await;
    let name = k8s_name("rotate-file");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    let dir = Dir::new("safety-rotate-file");
    let password = dir.write("password", "old-pw-1\n");
    let auth = format!(
        "    file: [{{parameter: password, path: '{}'}}]\n",
        password.display()
    );
    let config = dir.write(
        "c.yaml",
        &authed_config(&name, redis.address(), &key, &user, &auth),
    );
    let daemon = Daemon::start(options(&config, &fake)).await;
    replicas_become(&fake, &name, 4, Duration::from_secs(20)).await;

    rotate(redis, &user, "new-pw-2");
    set_list(&redis.client(), &key, 75);
    let took = unauthorized_then_recovered(&daemon, &id, || {
        std::fs::write(&password, "new-pw-2\n").unwrap();
    })
    .await;
    assert!(
        took <= Duration::from_millis(2500),
        "answered {took:?} after the new password was in place: more than two polling intervals"
    );
    replicas_become(&fake, &name, 8, Duration::from_secs(10)).await;
    let text = daemon.metrics().await;
    assert_eq!(metric(&text, "scalers_trigger_rebuilds_total"), Some(1.0));
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [4, 8]);
    daemon.stop().await;
}

/// The same with the password in a Kubernetes Secret changed on the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_kubernetes_secret_is_picked_up_within_two_polling_intervals() {
    let redis = RedisServer::shared().await;
    let user = unique_name("rot-secret");
    redis.client().create_user(&user, "old-pw-3");
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 35);
    let fake = FakeApiServer::start().await;
    let name = k8s_name("rotate-secret");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    fake.put_secret(
        "shop",
        "redis-creds",
        &[("password", b"old-pw-3".as_slice())],
    );
    let dir = Dir::new("safety-rotate-secret");
    let auth = "    secretTargetRef: [{parameter: password, name: redis-creds, key: password}]\n";
    let config = dir.write(
        "c.yaml",
        &authed_config(&name, redis.address(), &key, &user, auth),
    );
    let daemon = Daemon::start(options(&config, &fake)).await;
    replicas_become(&fake, &name, 4, Duration::from_secs(20)).await;

    rotate(redis, &user, "new-pw-4");
    set_list(&redis.client(), &key, 75);
    let took = unauthorized_then_recovered(&daemon, &id, || {
        fake.put_secret(
            "shop",
            "redis-creds",
            &[("password", b"new-pw-4".as_slice())],
        );
    })
    .await;
    assert!(
        took <= Duration::from_millis(2500),
        "answered {took:?} after the new Secret was in place: more than two polling intervals"
    );
    replicas_become(&fake, &name, 8, Duration::from_secs(10)).await;
    // The new password never shows in the status or the metrics.
    let status = daemon.get("/status").await.1;
    let text = daemon.metrics().await;
    for shown in [&status, &text] {
        assert!(!shown.contains("new-pw-4") && !shown.contains(&base64(b"new-pw-4")));
    }
    daemon.stop().await;
}
