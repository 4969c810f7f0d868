//! What the daemon costs the API server (issue 21): HPAs are listed once at start for every
//! object, not once per object; replica counts come from one watch per workload kind, so that
//! a tick at steady state sends no request; where a kind cannot be watched, `/scale` is read.

mod support;

use std::time::Duration;

use scalerd::kube::HpaIndex;
use scalers_core::config::ScaleTargetRef;
use scalers_testkit::{FakeApiServer, FakeResource, Fault, RedisServer, unique_name};
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

/// One object per workload, each a Redis list of 5 items for 10 per replica: 1 replica wanted.
fn objects(redis: &RedisServer, key: &str, workloads: &[(&str, &str, &str, &str)]) -> String {
    let mut objects = String::from("scaledObjects:\n");
    for (ns, api_version, kind, name) in workloads {
        objects.push_str(&format!(
            "  - name: {name}\n    namespace: {ns}\n    scaleTargetRef: {{apiVersion: {api_version}, kind: {kind}, name: {name}}}\n    pollingInterval: 1\n    triggers:\n      - type: redis\n        metadata: {{address: '{}', listName: '{key}', listLength: '10'}}\n",
            redis.address()
        ));
    }
    objects
}

/// Requests that read one workload (`get` of the object or of its `/scale`), in the journal.
fn workload_gets(fake: &FakeApiServer) -> Vec<String> {
    fake.journal()
        .into_iter()
        .filter(|e| e.method == "GET" && !e.is_watch())
        .filter(|e| {
            ["deployments/", "statefulsets/", "rollouts/"]
                .iter()
                .any(|kind| e.path.contains(kind))
        })
        .map(|e| e.path)
        .collect()
}

async fn ticked_twice(daemon: &Daemon, keys: &[String]) {
    for key in keys {
        let first = daemon
            .until(key, Duration::from_secs(15), "a tick", |o| {
                o.last_tick.is_some()
            })
            .await
            .last_tick;
        daemon
            .until(key, Duration::from_secs(15), "a second tick", |o| {
                o.last_tick > first
            })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_come_from_one_watch_per_kind_and_a_tick_sends_no_request() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 5);
    let fake = FakeApiServer::start().await;
    let mut workloads = Vec::new();
    for i in 0..12 {
        let ns = if i % 2 == 0 { "shop" } else { "billing" };
        let (resource, kind) = if i % 3 == 0 {
            (FakeResource::STATEFUL_SET, "StatefulSet")
        } else {
            (FakeResource::DEPLOYMENT, "Deployment")
        };
        let name: &'static str = Box::leak(format!("worker-{i}").into_boxed_str());
        fake.put_workload(&resource, ns, name, 1);
        workloads.push((ns, "apps/v1", kind, name));
    }
    let dir = Dir::new("economy-watch");
    let config = dir.write("c.yaml", &objects(redis, &key, &workloads));
    let daemon = Daemon::start(options(&config, &fake)).await;
    let keys: Vec<String> = workloads
        .iter()
        .map(|(ns, _, _, name)| format!("{ns}/{name}"))
        .collect();
    ticked_twice(&daemon, &keys).await;

    // One list and one watch per kind, across all namespaces.
    let tally = fake.tally();
    assert_eq!(tally.get("list deployments"), Some(&1), "{tally:?}");
    assert_eq!(tally.get("list statefulsets"), Some(&1), "{tally:?}");
    // Steady state: the counts are as wanted, every tick reads memory and writes nothing.
    fake.clear_journal();
    ticked_twice(&daemon, &keys).await;
    assert_eq!(workload_gets(&fake), Vec::<String>::new());
    let writes: Vec<_> = fake
        .journal()
        .into_iter()
        .filter(|e| e.is_write())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");

    // Someone scales a workload to zero: the watch tells the daemon, which scales it back up
    // (the source is busy) with one write, still without reading it.
    fake.put_workload(&FakeResource::DEPLOYMENT, "billing", "worker-1", 0);
    replicas_become_in(&fake, "billing", "worker-1", 1).await;
    ticked_twice(&daemon, &keys).await;
    assert_eq!(
        fake.scale_writes(&FakeResource::DEPLOYMENT, "billing", "worker-1"),
        [1],
        "written once, then read back from the watch"
    );
    assert_eq!(workload_gets(&fake), Vec::<String>::new());
    daemon.stop().await;
}

async fn replicas_become_in(fake: &FakeApiServer, ns: &str, name: &str, want: u32) {
    scalers_testkit::eventually(Duration::from_secs(15), || async {
        match fake.replicas(&FakeResource::DEPLOYMENT, ns, name) {
            Some(r) if r == want => Ok(()),
            other => Err(format!("{ns}/{name}: {other:?}, want {want}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cluster_wide_watch_gives_way_to_one_per_namespace_then_to_reads() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 5);
    let fake = FakeApiServer::start().await;
    fake.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 1);
    fake.put_workload(&FakeResource::DEPLOYMENT, "billing", "api", 1);
    // RBAC as with a Role in `shop` only: no list/watch across namespaces nor in `billing`.
    fake.inject(Fault::status(403).on("GET", "/apis/apps/v1/deployments"));
    fake.inject(Fault::status(403).on("GET", "/apis/apps/v1/namespaces/billing/deployments"));
    let dir = Dir::new("economy-refused");
    let config = dir.write(
        "c.yaml",
        &objects(
            redis,
            &key,
            &[
                ("shop", "apps/v1", "Deployment", "web"),
                ("billing", "apps/v1", "Deployment", "api"),
            ],
        ),
    );
    let daemon = Daemon::start(options(&config, &fake)).await;
    let keys = ["shop/web".to_owned(), "billing/api".to_owned()];
    ticked_twice(&daemon, &keys).await;
    // Give the namespaced watch time to be listed, then look at steady state.
    tokio::time::sleep(Duration::from_millis(500)).await;
    fake.clear_journal();
    ticked_twice(&daemon, &keys).await;
    let gets = workload_gets(&fake);
    assert!(
        gets.iter().all(|p| p.contains("/namespaces/billing/")),
        "shop is watched: {gets:?}"
    );
    assert!(
        gets.iter()
            .any(|p| p == "/apis/apps/v1/namespaces/billing/deployments/api/scale"),
        "billing cannot be watched: read through /scale each poll: {gets:?}"
    );
    assert!(
        fake.tally().get("watch deployments").copied().unwrap_or(0) >= 1,
        "{:?}",
        fake.tally()
    );
    let o = daemon.object("billing/api").await;
    assert_eq!(o.current_replicas, Some(1), "{o:?}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_kind_is_watched_through_the_scale_paths_of_its_definition() {
    let redis = RedisServer::shared().await;
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 5);
    let fake = FakeApiServer::start().await;
    fake.put_scalable_crd(&FakeResource::ROLLOUT);
    fake.put_workload(&FakeResource::ROLLOUT, "shop", "canary", 1);
    let dir = Dir::new("economy-crd");
    let config = dir.write(
        "c.yaml",
        &objects(
            redis,
            &key,
            &[("shop", "argoproj.io/v1alpha1", "Rollout", "canary")],
        ),
    );
    let daemon = Daemon::start(options(&config, &fake)).await;
    let keys = ["shop/canary".to_owned()];
    ticked_twice(&daemon, &keys).await;
    assert_eq!(
        fake.requests(
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/rollouts.argoproj.io"
        )
        .len(),
        1,
        "the definition is read once"
    );
    fake.clear_journal();
    ticked_twice(&daemon, &keys).await;
    assert_eq!(workload_gets(&fake), Vec::<String>::new());
    assert_eq!(fake.tally().get("list rollouts"), Some(&1));
    daemon.stop().await;
}
