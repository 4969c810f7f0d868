//! `KubeScaleTarget` against the testkit's fake API server, through a real `kube::Client`.

use std::time::Duration;

use scalerd::kube::{KubeError, KubeScaleTarget, KubeTargets, client_from_config};
use scalers_core::config::{ScaleTargetRef, ScaledObject};
use scalers_core::engine::Replicas;
use scalers_core::target::TargetErrorKind;
use scalers_testkit::{FakeApiServer, FakeResource, Fault, StatusMode};
use serde_json::json;

const DEPLOYMENT_SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/web";

fn targets(server: &FakeApiServer) -> KubeTargets {
    KubeTargets::new(client_from_config(server.config()).expect("client"))
}

fn target_ref(api_version: &str, kind: &str, name: &str) -> ScaleTargetRef {
    ScaleTargetRef {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        env_source_container_name: None,
    }
}

fn web(server: &FakeApiServer) -> KubeScaleTarget {
    targets(server).scale_target("shop", &ScaleTargetRef::deployment("web"))
}

/// `(method, path, status)` of every request, for exact sequence assertions.
fn requests(server: &FakeApiServer) -> Vec<(String, String, u16)> {
    server
        .journal()
        .into_iter()
        .map(|e| (e.method, e.path, e.status))
        .collect()
}

fn req(method: &str, path: &str, status: u16) -> (String, String, u16) {
    (method.to_owned(), path.to_owned(), status)
}

#[tokio::test]
async fn deployment_scale_is_read_and_patched() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let target = web(&server);

    assert_eq!(target.read().await.unwrap(), Replicas::settled(2));
    target.write(5).await.unwrap();
    assert_eq!(
        server.replicas(&FakeResource::DEPLOYMENT, "shop", "web"),
        Some(5)
    );
    assert_eq!(target.read().await.unwrap(), Replicas::settled(5));

    assert_eq!(
        requests(&server),
        [
            req("GET", "/apis/apps/v1", 200),
            req("GET", DEPLOYMENT_SCALE, 200),
            req("GET", DEPLOYMENT, 200),
            req("PATCH", DEPLOYMENT_SCALE, 200),
            req("GET", DEPLOYMENT_SCALE, 200),
            req("GET", DEPLOYMENT, 200),
        ]
    );
    let patch = &server.requests("PATCH", DEPLOYMENT_SCALE)[0];
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.json(), Some(json!({"spec": {"replicas": 5}})));
    assert_eq!(
        server.scale_writes(&FakeResource::DEPLOYMENT, "shop", "web"),
        [5]
    );
}

#[tokio::test]
async fn statefulset_scale_is_read_and_patched() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::STATEFUL_SET, "shop", "db", 3);
    let target = targets(&server).scale_target("shop", &target_ref("apps/v1", "StatefulSet", "db"));

    assert_eq!(target.read().await.unwrap(), Replicas::settled(3));
    target.write(1).await.unwrap();
    assert_eq!(
        server.replicas(&FakeResource::STATEFUL_SET, "shop", "db"),
        Some(1)
    );
    assert_eq!(
        server.scale_writes(&FakeResource::STATEFUL_SET, "shop", "db"),
        [1]
    );
    assert_eq!(target.read().await.unwrap(), Replicas::settled(1));
}

#[tokio::test]
async fn custom_resource_scale_is_read_and_patched() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::ROLLOUT, "shop", "canary", 4);
    let target = targets(&server).scale_target(
        "shop",
        &target_ref("argoproj.io/v1alpha1", "Rollout", "canary"),
    );

    assert_eq!(target.read().await.unwrap(), Replicas::settled(4));
    target.write(7).await.unwrap();
    assert_eq!(
        server.replicas(&FakeResource::ROLLOUT, "shop", "canary"),
        Some(7)
    );
    assert_eq!(
        server
            .requests(
                "PATCH",
                "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/canary/scale"
            )
            .len(),
        1
    );
    assert_eq!(target.read().await.unwrap(), Replicas::settled(7));
}

#[tokio::test]
async fn ready_replicas_come_from_the_object_status() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    server.set_status_mode(
        &FakeResource::DEPLOYMENT,
        "shop",
        "web",
        StatusMode::HoldReady,
    );
    let target = web(&server);

    target.write(5).await.unwrap();
    assert_eq!(
        target.read().await.unwrap(),
        Replicas {
            current: 5,
            status: 5,
            ready: 2
        }
    );

    // A Deployment omits readyReplicas when none is ready: that reads as 0.
    server.set_status(&FakeResource::DEPLOYMENT, "shop", "web", 3, 0);
    assert_eq!(
        server
            .object(&FakeResource::DEPLOYMENT, "shop", "web")
            .unwrap()["status"]["readyReplicas"],
        serde_json::Value::Null
    );
    assert_eq!(
        target.read().await.unwrap(),
        Replicas {
            current: 5,
            status: 3,
            ready: 0
        }
    );
}

#[tokio::test]
async fn unknown_kinds_without_ready_replicas_fall_back_to_status_replicas() {
    let server = FakeApiServer::start().await;
    let worker = FakeResource {
        group: "example.com",
        version: "v1",
        kind: "Worker",
        plural: "workers",
        scale: true,
    };
    server.add_resource(worker);
    server.put_workload(&worker, "shop", "w", 4);
    server.set_status(&worker, "shop", "w", 3, 0);
    let target =
        targets(&server).scale_target("shop", &target_ref("example.com/v1", "Worker", "w"));

    assert_eq!(
        target.read().await.unwrap(),
        Replicas {
            current: 4,
            status: 3,
            ready: 3
        }
    );
}

#[tokio::test]
async fn discovery_is_asked_once_per_kind_for_all_targets() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 1);
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "api", 2);
    server.put_workload(&FakeResource::STATEFUL_SET, "shop", "db", 3);
    let targets = targets(&server);
    let web = targets.scale_target("shop", &ScaleTargetRef::deployment("web"));
    let api = targets.scale_target("shop", &ScaleTargetRef::deployment("api"));
    let db = targets.scale_target("shop", &target_ref("apps/v1", "StatefulSet", "db"));

    assert_eq!(web.read().await.unwrap().current, 1);
    assert_eq!(api.read().await.unwrap().current, 2);
    assert_eq!(db.read().await.unwrap().current, 3);
    web.write(2).await.unwrap();

    // One discovery per (apiVersion, kind): Deployment and StatefulSet.
    assert_eq!(server.requests("GET", "/apis/apps/v1").len(), 2);
}

/// Targets of one kind read for the first time together wait for one discovery, instead of
/// each sending its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_starting_together_share_one_discovery() {
    let server = FakeApiServer::start().await;
    for i in 0..50 {
        server.put_workload(&FakeResource::DEPLOYMENT, "shop", &format!("w{i}"), i);
    }
    let targets = targets(&server);
    let reads = (0..50u32).map(|i| {
        let target = targets.scale_target("shop", &ScaleTargetRef::deployment(format!("w{i}")));
        async move { (i, target.read().await.map(|r| r.current)) }
    });
    for (i, current) in futures_util::future::join_all(reads).await {
        assert_eq!(current.unwrap(), i);
    }
    assert_eq!(server.requests("GET", "/apis/apps/v1").len(), 1);
}

#[tokio::test]
async fn one_conflict_is_retried_with_the_version_read_again() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let target = web(&server);
    target.read().await.unwrap();
    server.clear_journal();
    server.inject(Fault::status(409).on("PATCH", DEPLOYMENT_SCALE).times(1));

    target.write(4).await.unwrap();

    assert_eq!(
        server.replicas(&FakeResource::DEPLOYMENT, "shop", "web"),
        Some(4)
    );
    assert_eq!(
        requests(&server),
        [
            req("PATCH", DEPLOYMENT_SCALE, 409),
            req("GET", DEPLOYMENT_SCALE, 200),
            req("PATCH", DEPLOYMENT_SCALE, 200),
        ]
    );
    let version = server
        .object(&FakeResource::DEPLOYMENT, "shop", "web")
        .unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let retry = &server.requests("PATCH", DEPLOYMENT_SCALE)[1];
    assert_eq!(
        retry.json(),
        Some(json!({
            "metadata": {"resourceVersion": (version - 1).to_string()},
            "spec": {"replicas": 4},
        }))
    );
}

#[tokio::test]
async fn a_conflict_is_done_when_the_count_is_already_there() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 4);
    let target = web(&server);
    target.read().await.unwrap();
    server.clear_journal();
    server.inject(Fault::status(409).on("PATCH", DEPLOYMENT_SCALE).times(1));

    target.write(4).await.unwrap();

    assert_eq!(
        requests(&server),
        [
            req("PATCH", DEPLOYMENT_SCALE, 409),
            req("GET", DEPLOYMENT_SCALE, 200),
        ]
    );
}

#[tokio::test]
async fn persistent_conflicts_end_in_a_conflict_error() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let target = web(&server);
    server.inject(Fault::status(409).on("PATCH", DEPLOYMENT_SCALE));

    let error = target.write(6).await.unwrap_err();

    assert!(
        matches!(error, KubeError::Conflict { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), TargetErrorKind::Conflict);
    assert_eq!(
        error.to_string(),
        "conflict: cannot patch deployments.apps/scale \"web\" in namespace \"shop\": \
         the object kept changing (3 attempts)"
    );
    assert_eq!(server.requests("PATCH", DEPLOYMENT_SCALE).len(), 3);
    assert_eq!(server.requests("GET", DEPLOYMENT_SCALE).len(), 2);
    assert_eq!(
        server.replicas(&FakeResource::DEPLOYMENT, "shop", "web"),
        Some(2)
    );
}

#[tokio::test]
async fn a_missing_workload_is_not_found() {
    let server = FakeApiServer::start().await;
    let target = web(&server);

    let read = target.read().await.unwrap_err();
    let write = target.write(3).await.unwrap_err();

    for error in [read, write] {
        assert_eq!(error.kind(), TargetErrorKind::NotFound);
        assert_eq!(
            error.to_string(),
            "deployments.apps \"web\" not found in namespace \"shop\""
        );
    }
}

#[tokio::test]
async fn forbidden_names_the_verb_and_resource() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let target = web(&server);
    server.inject(Fault::status(403).on("PATCH", DEPLOYMENT_SCALE).times(1));
    server.inject(Fault::status(403).on("GET", DEPLOYMENT_SCALE).times(1));

    let write = target.write(3).await.unwrap_err();
    let read = target.read().await.unwrap_err();

    assert_eq!(write.kind(), TargetErrorKind::Forbidden);
    assert_eq!(
        write.to_string(),
        "forbidden: cannot patch deployments.apps/scale \"web\" in namespace \"shop\" \
         (check the ClusterRole)"
    );
    assert_eq!(read.kind(), TargetErrorKind::Forbidden);
    assert_eq!(
        read.to_string(),
        "forbidden: cannot get deployments.apps/scale \"web\" in namespace \"shop\" \
         (check the ClusterRole)"
    );
}

#[tokio::test]
async fn server_errors_are_unavailable_and_not_retried_by_the_client() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let target = web(&server);
    target.read().await.unwrap();

    for code in [500, 503] {
        server.clear_journal();
        server.inject(Fault::status(code).on("PATCH", DEPLOYMENT_SCALE).times(1));
        let error = target.write(3).await.unwrap_err();
        assert_eq!(error.kind(), TargetErrorKind::Unavailable);
        assert_eq!(
            error.to_string(),
            format!(
                "cannot patch deployments.apps/scale \"web\" in namespace \"shop\": \
                 the API server is unavailable (HTTP {code})"
            )
        );
        assert_eq!(requests(&server), [req("PATCH", DEPLOYMENT_SCALE, code)]);
    }
    assert_eq!(
        server.replicas(&FakeResource::DEPLOYMENT, "shop", "web"),
        Some(2)
    );
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let target = targets(&server)
        .with_timeout(Duration::from_millis(300))
        .scale_target("shop", &ScaleTargetRef::deployment("web"));
    target.read().await.unwrap();
    server.inject(
        Fault::delay(Duration::from_secs(3))
            .on("GET", DEPLOYMENT_SCALE)
            .times(1),
    );

    let error = target.read().await.unwrap_err();

    assert_eq!(error.kind(), TargetErrorKind::Timeout);
    assert_eq!(
        error.to_string(),
        "cannot get deployments.apps/scale \"web\" in namespace \"shop\": timed out after 300ms"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let config = kube::Config::new(scalers_testkit::refused_url().parse().unwrap());
    let targets = KubeTargets::new(client_from_config(config).unwrap());
    let target = targets.scale_target("shop", &ScaleTargetRef::deployment("web"));

    let error = target.read().await.unwrap_err();

    assert_eq!(error.kind(), TargetErrorKind::Unavailable);
    assert_eq!(
        error.to_string(),
        "cannot discover the kinds of apps/v1: the API server is unavailable"
    );
}

#[tokio::test]
async fn unknown_kinds_and_groups_are_not_found() {
    let server = FakeApiServer::start().await;
    let targets = targets(&server);
    for (api_version, kind) in [("apps/v1", "Frobnicator"), ("nothing.example/v1", "Thing")] {
        let error = targets
            .scale_target("shop", &target_ref(api_version, kind, "x"))
            .read()
            .await
            .unwrap_err();
        assert!(matches!(error, KubeError::UnknownKind { .. }), "{error:?}");
        assert_eq!(error.kind(), TargetErrorKind::NotFound);
        assert_eq!(
            error.to_string(),
            format!(
                "kind {kind:?} of {api_version:?} is not served by the API server \
                 (is its CRD installed?)"
            )
        );
    }
}

#[tokio::test]
async fn kinds_without_scale_subresource_are_refused() {
    let server = FakeApiServer::start().await;
    let target = targets(&server).scale_target("shop", &target_ref("v1", "ConfigMap", "settings"));

    let error = target.write(2).await.unwrap_err();

    assert_eq!(error.kind(), TargetErrorKind::Other);
    assert_eq!(
        error.to_string(),
        "configmaps (ConfigMap of v1) has no scale subresource"
    );
    assert!(server.requests("PATCH", "/**").is_empty());
}

#[tokio::test]
async fn the_scale_target_trait_reports_kinds_and_messages() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let mut object = ScaledObject::new("orders", "web");
    object.namespace = "shop".to_owned();
    let target = targets(&server).target(&object);

    target.set_replicas(3).await.unwrap();
    assert_eq!(target.replicas().await.unwrap(), Replicas::settled(3));

    server.delete_object(&FakeResource::DEPLOYMENT, "shop", "web");
    let error = target.replicas().await.unwrap_err();
    assert_eq!(error.kind, TargetErrorKind::NotFound);
    assert_eq!(
        error.message,
        "deployments.apps \"web\" not found in namespace \"shop\""
    );

    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    server.inject(Fault::status(403).on("PATCH", DEPLOYMENT_SCALE).times(1));
    let error = target.set_replicas(4).await.unwrap_err();
    assert_eq!(error.kind, TargetErrorKind::Forbidden);
    assert!(
        std::error::Error::source(&error)
            .is_some_and(|s| s.downcast_ref::<kube::Error>().is_some()),
        "the kube error is the source"
    );
}
