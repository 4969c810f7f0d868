//! The client-side rate limit (`--kube-api-qps`, `--kube-api-burst`) through a real
//! `kube::Client` against the testkit's fake API server: calls are spaced at the rate once the
//! burst is spent, `/scale` writes go ahead of waiting reads, and `/metrics` shows the waits.

use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use scalerd::daemon::metrics::Metrics;
use scalerd::kube::{KubeTargets, RateLimit, RateLimitSettings, client_with_rate_limit};
use scalers_core::config::ScaleTargetRef;
use scalers_core::target::TargetErrorKind;
use scalers_testkit::{FakeApiServer, FakeResource};
use serde_json::json;

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments/**";

/// A client of `fake` limited to `qps` and `burst`, the metrics of its limit, and the limit.
async fn limited(fake: &FakeApiServer, qps: f64, burst: u32) -> (kube::Client, Metrics, RateLimit) {
    let metrics = Metrics::new();
    let limit = RateLimit::spawn(RateLimitSettings { qps, burst }, metrics.rate_limit());
    let client = client_with_rate_limit(fake.config(), limit.clone()).expect("client");
    (client, metrics, limit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_burst_go_at_the_rate() {
    let fake = FakeApiServer::start().await;
    fake.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 1);
    let (client, metrics, _) = limited(&fake, 5.0, 2).await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    let calls = (0..7).map(|_| {
        let api = api.clone();
        async move { api.get("web").await.map(|_| ()) }
    });
    for r in futures_util::future::join_all(calls).await {
        r.expect("a get");
    }
    let mut received: Vec<_> = fake
        .requests("GET", DEPLOYMENTS)
        .into_iter()
        .map(|e| e.received)
        .collect();
    received.sort();
    assert_eq!(received.len(), 7);
    // 2 at once, then 5 at 5 per second: the last no sooner than 1 s after the first.
    let span = received[6].duration_since(received[0]);
    assert!(
        span >= Duration::from_millis(950),
        "7 calls within {span:?}"
    );
    let burst = received[1].duration_since(received[0]);
    assert!(
        burst < Duration::from_millis(150),
        "the burst took {burst:?}"
    );
    let text = metrics.encode();
    assert!(
        text.contains("scalers_kube_api_wait_seconds_count{priority=\"read\"} 7"),
        "{text}"
    );
    assert!(
        text.contains("scalers_kube_api_waiting{priority=\"read\"} 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_write_goes_ahead_of_waiting_reads() {
    let fake = FakeApiServer::start().await;
    fake.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 1);
    let (client, _metrics, _) = limited(&fake, 4.0, 1).await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    // The first read takes the only token; four more reads wait, then a write of `/scale`.
    api.get("web").await.expect("a get");
    let reads: Vec<_> = (0..4)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.get("web").await.map(|_| ()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let patch = json!({"spec": {"replicas": 3}});
    api.patch_scale("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("a scale write");
    for r in reads {
        r.await.unwrap().expect("a get");
    }
    let order: Vec<String> = fake
        .journal()
        .into_iter()
        .filter(|e| e.matches("*", DEPLOYMENTS))
        .map(|e| e.method)
        .collect();
    assert_eq!(order, ["GET", "PATCH", "GET", "GET", "GET", "GET"]);
    assert_eq!(
        fake.replicas(&FakeResource::DEPLOYMENT, "shop", "web"),
        Some(3)
    );
}

/// A list (a watcher's first page, say) goes ahead of single reads waiting for the limit: the
/// reads a cache still listing sends would otherwise hold back the list that ends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_goes_ahead_of_waiting_reads() {
    let fake = FakeApiServer::start().await;
    fake.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 1);
    let (client, metrics, _) = limited(&fake, 4.0, 1).await;
    let api: Api<Deployment> = Api::namespaced(client, "shop");
    api.get("web").await.expect("a get");
    let reads: Vec<_> = (0..4)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.get("web").await.map(|_| ()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let listed = api
        .list(&kube::api::ListParams::default().limit(500))
        .await
        .expect("a list");
    assert_eq!(listed.items.len(), 1);
    for r in reads {
        r.await.unwrap().expect("a get");
    }
    let order: Vec<bool> = fake
        .journal()
        .into_iter()
        .filter(|e| {
            e.path
                .starts_with("/apis/apps/v1/namespaces/shop/deployments")
        })
        .map(|e| e.path.ends_with("/deployments"))
        .collect();
    // The first read, then the list, then the four reads that waited before it.
    assert_eq!(order, [false, true, false, false, false, false]);
    let text = metrics.encode();
    assert!(
        text.contains("scalers_kube_api_wait_seconds_count{priority=\"watch\"} 1"),
        "{text}"
    );
}

/// A `/scale` write waits for its token before its timeout starts (and before the fence is
/// asked): queued behind others for longer than the timeout, it is still sent when its turn
/// comes, once. Through a client whose limit the targets do not know, the same wait counts
/// against the timeout and the writes give up in the queue, taking no token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_write_waits_for_its_token_outside_its_timeout() {
    let fake = FakeApiServer::start().await;
    let names = ["web-0", "web-1", "web-2"];
    for name in names {
        fake.put_workload(&FakeResource::DEPLOYMENT, "shop", name, 1);
    }
    let (client, metrics, limit) = limited(&fake, 4.0, 1).await;
    let timeout = Duration::from_millis(150);
    let write_all = |targets: KubeTargets, replicas: u32| {
        join_all(names.map(|name| {
            let target = targets.scale_target("shop", &ScaleTargetRef::deployment(name));
            async move { target.write(replicas).await }
        }))
    };

    // Each set of targets learns the kind first (discovery, and a read of web-0, with the
    // default timeout), which leaves the bucket empty.
    let warm = |targets: &KubeTargets| {
        let target = targets.scale_target("shop", &ScaleTargetRef::deployment("web-0"));
        async move { target.read().await.expect("a read") }
    };

    // The targets do not know the limit: each write waits 250 ms or more for a token within
    // its 150 ms, and gives up in the queue.
    let unaware = KubeTargets::new(client.clone());
    warm(&unaware).await;
    for r in write_all(unaware.with_timeout(timeout), 2).await {
        let e = r.expect_err("timed out in the queue");
        assert_eq!(e.kind(), TargetErrorKind::Timeout, "{e}");
        assert!(e.to_string().contains("patch"), "{e}");
    }
    assert!(fake.requests("PATCH", DEPLOYMENTS).is_empty());

    // Knowing it, the writes wait 250, 500 and 750 ms for their tokens, and all go out.
    let aware = KubeTargets::new(client).with_rate_limit(limit);
    warm(&aware).await;
    for r in write_all(aware.with_timeout(timeout), 2).await {
        r.expect("written after waiting longer than its timeout");
    }
    let mut sent: Vec<_> = fake
        .requests("PATCH", DEPLOYMENTS)
        .into_iter()
        .map(|e| e.received)
        .collect();
    sent.sort();
    assert_eq!(sent.len(), 3, "one patch per write");
    let span = sent[2].duration_since(sent[0]);
    assert!(
        span >= Duration::from_millis(450),
        "3 writes within {span:?}"
    );
    for name in names {
        assert_eq!(
            fake.replicas(&FakeResource::DEPLOYMENT, "shop", name),
            Some(2)
        );
    }
    assert!(
        metrics
            .encode()
            .contains("scalers_kube_api_wait_seconds_count{priority=\"scale\"} 3"),
        "{}",
        metrics.encode()
    );
}
