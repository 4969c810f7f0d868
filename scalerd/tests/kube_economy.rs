//! What the daemon costs the API server (issue 21): HPAs are listed once at start for every
//! object, not once per object.

mod support;

use std::time::Duration;

use scalerd::kube::HpaIndex;
use scalers_core::config::ScaleTargetRef;
use scalers_testkit::{FakeApiServer, FakeResource, RedisServer, unique_name};
use support::{Daemon, Dir, kube_client, options, set_list};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpas_are_listed_once_at_start_for_every_object() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 5);
    let fake = FakeApiServer::start().await;
    let mut objects = String::new();
    for i in 0..40 {
        let ns = if i % 2 == 0 { "shop" } else { "billing" };
        let name = format!("worker-{i}");
        fake.put_workload(&FakeResource::DEPLOYMENT, ns, &name, 1);
        objects.push_str(&format!(
            "  - name: {name}\n    namespace: {ns}\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 30\n    triggers:\n      - type: redis\n        metadata: {{address: '{}', listName: '{key}', listLength: '10'}}\n",
            redis.address()
        ));
    }
    fake.put_hpa("shop", "legacy", "apps/v1", "Deployment", "worker-0");
    let dir = Dir::new("economy-hpa");
    let config = dir.write("c.yaml", &format!("scaledObjects:\n{objects}"));
    let daemon = Daemon::start(options(&config, &fake)).await;
    daemon
        .until(
            "billing/worker-39",
            Duration::from_secs(10),
            "a tick",
            |o| o.last_tick.is_some(),
        )
        .await;
    let lists = fake.requests("GET", "/apis/autoscaling/**");
    assert_eq!(
        lists.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["/apis/autoscaling/v2/horizontalpodautoscalers"],
        "one list across all namespaces"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn one_cluster_wide_list_finds_each_namespaces_hpas() {
    let fake = FakeApiServer::start().await;
    fake.put_hpa("shop", "b-hpa", "apps/v1", "Deployment", "web");
    fake.put_hpa("shop", "a-hpa", "", "Deployment", "web");
    fake.put_hpa("billing", "other", "apps/v1", "Deployment", "web");
    fake.put_hpa("shop", "rollout", "argoproj.io/v1alpha1", "Rollout", "web");
    let index = HpaIndex::list(&kube_client(&fake), None).await.unwrap();
    let web = ScaleTargetRef::deployment("web");
    assert_eq!(index.targeting("shop", &web), ["a-hpa", "b-hpa"]);
    assert_eq!(index.targeting("billing", &web), ["other"]);
    assert!(index.targeting("ops", &web).is_empty());
    assert_eq!(fake.requests("GET", "/apis/autoscaling/**").len(), 1);
}
