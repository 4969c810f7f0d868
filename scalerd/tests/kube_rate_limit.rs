//! The client-side rate limit (`--kube-api-qps`, `--kube-api-burst`) through a real
//! `kube::Client` against the testkit's fake API server: calls are spaced at the rate once the
//! burst is spent, `/scale` writes go ahead of waiting reads, and `/metrics` shows the waits.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use scalerd::daemon::metrics::Metrics;
use scalerd::kube::{RateLimit, RateLimitSettings, client_with_rate_limit};
use scalers_testkit::{FakeApiServer, FakeResource};
use serde_json::json;

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments/**";

async fn limited(fake: &FakeApiServer, qps: f64, burst: u32) -> (kube::Client, Metrics) {
    let metrics = Metrics::new();
    let limit = RateLimit::spawn(RateLimitSettings { qps, burst }, metrics.rate_limit());
    let client = client_with_rate_limit(fake.config(), limit).expect("client");
    (client, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_burst_go_at_the_rate() {
    let fake = FakeApiServer::start().await;
    fake.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 1);
    let (client, metrics) = limited(&fake, 5.0, 2).await;
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
    let (client, _metrics) = limited(&fake, 4.0, 1).await;
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
    let (client, metrics) = limited(&fake, 4.0, 1).await;
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
