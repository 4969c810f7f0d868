//! Daemon restart: a new daemon (a fresh engine, no history) finds a Deployment its predecessor
//! scaled up, under a lower load. It must not scale down before a full scale-down
//! stabilization window has passed since it started (the engine seeds its history with the
//! count it finds, as the HPA does), then scales down once, without flapping.

mod support;

use std::time::Duration;

use scalers_testkit::{FakeApiServer, FakeResource, RedisServer, unique_name};
use support::{Daemon, Dir, k8s_name, options, replicas_become, set_list};
use tokio::time::Instant;

const DEPLOY: FakeResource = FakeResource::DEPLOYMENT;
/// `behavior.scaleDown.stabilizationWindowSeconds` of the test's object.
const WINDOW: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_waits_a_full_stabilization_window_before_scaling_down() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 75);
    let fake = FakeApiServer::start().await;
    let name = k8s_name("orders");
    let id = format!("shop/{name}");
    fake.put_workload(&DEPLOY, "shop", &name, 1);
    let dir = Dir::new("restart");
    let config = dir.write(
        "c.yaml",
        &format!(
            "scaledObjects:\n  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    minReplicaCount: 1\n    maxReplicaCount: 20\n    advanced:\n      horizontalPodAutoscalerConfig:\n        behavior:\n          scaleUp: {{policies: [{{type: Pods, value: 100, periodSeconds: 1}}]}}\n          scaleDown: {{stabilizationWindowSeconds: {}}}\n    triggers:\n      - type: redis\n        name: jobs\n        metadata: {{address: '{}', listName: '{key}', listLength: '10'}}\n",
            WINDOW.as_secs(),
            redis.address()
        ),
    );

    // The first daemon scales to ceil(75 / 10) = 8, then stops.
    let first = Daemon::start(options(&config, &fake)).await;
    replicas_become(&fake, &name, 8, Duration::from_secs(20)).await;
    first.stop().await;
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [8]);

    // The load drops to 25 (3 replicas); a new daemon starts with no history.
    set_list(&redis.client(), &key, 25);
    let restarted = Instant::now();
    let second = Daemon::start(options(&config, &fake)).await;
    let o = second
        .until(&id, Duration::from_secs(5), "a first decision", |o| {
            o.decision.is_some()
        })
        .await;
    let d = o.decision.unwrap();
    assert_eq!((o.current_replicas, o.desired_replicas), (Some(8), Some(8)));
    assert_eq!(d.reason_code, "ScaleDownStabilized");
    assert_eq!((d.proposal, d.stabilized), (Some(3), Some(8)));
    assert_eq!(d.reason, "jobs proposes 3; scale-down window holds 8");

    // One scale-down, once the window since the restart has passed.
    replicas_become(&fake, &name, 3, WINDOW + Duration::from_secs(10)).await;
    let scale = format!("/apis/apps/v1/namespaces/shop/deployments/{name}/scale");
    let writes = fake.requests("PATCH", &scale);
    assert_eq!(writes.len(), 2);
    let after = writes[1].received.duration_since(restarted);
    assert!(
        after >= WINDOW,
        "scaled down {after:?} after the restart, before the {WINDOW:?} window"
    );
    assert!(
        after < WINDOW + Duration::from_secs(3),
        "scaled down {after:?} after the restart: later than the window and a tick or two"
    );
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [8, 3]);

    // No flapping: two more ticks, no more writes.
    let o = second
        .until(&id, Duration::from_secs(5), "settled", |o| {
            o.current_replicas == Some(3)
        })
        .await;
    let settled = o.last_tick.unwrap();
    let o = second
        .until(&id, Duration::from_secs(5), "two more ticks", |o| {
            o.last_tick.unwrap() >= settled + 2000
        })
        .await;
    assert_eq!((o.current_replicas, o.desired_replicas), (Some(3), Some(3)));
    assert_eq!(fake.scale_writes(&DEPLOY, "shop", &name), [8, 3]);
    second.stop().await;
}
