//! Events, Secrets, HPAs and connecting, against the testkit's fake API server through a real
//! `kube::Client`; and the fake server's own behaviour that other tests rely on.

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use scalerd::kube::{
    EventKind, EventRecorder, KubeError, KubeTargets, ScalerEvent, client_from_config, connect,
    hpas_targeting, read_secret_key,
};
use scalers_core::config::{ScaleTargetRef, ScaledObject};
use scalers_core::target::TargetErrorKind;
use scalers_testkit::{FakeApiServer, FakeResource, Fault, unique_name};

fn client(server: &FakeApiServer) -> kube::Client {
    client_from_config(server.config()).expect("client")
}

fn orders() -> ScaledObject {
    let mut object = ScaledObject::new("orders", "worker");
    object.namespace = "shop".to_owned();
    object
}

// ---- events ----

#[tokio::test]
async fn an_activation_event_regards_the_scale_target() {
    let server = FakeApiServer::start().await;
    let recorder = EventRecorder::new(client(&server), "scalerd-0");
    let object = orders();

    recorder
        .publish(
            &object,
            &ScalerEvent::target_activated(&object, 0, 1, &["queue-length", "lag"]),
        )
        .await
        .unwrap();

    let events = server.events("shop");
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(
        event
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("worker.")),
        "{:?}",
        event.metadata.name
    );
    assert_eq!(event.reason.as_deref(), Some("KEDAScaleTargetActivated"));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(event.action.as_deref(), Some("Scale"));
    assert_eq!(
        event.note.as_deref(),
        Some("Scaled Deployment shop/worker from 0 to 1, triggered by queue-length;lag")
    );
    assert_eq!(event.reporting_controller.as_deref(), Some("scalerd"));
    assert_eq!(event.reporting_instance.as_deref(), Some("scalerd-0"));
    assert!(event.event_time.is_some());
    assert_eq!(
        event.regarding,
        Some(ObjectReference {
            api_version: Some("apps/v1".to_owned()),
            kind: Some("Deployment".to_owned()),
            name: Some("worker".to_owned()),
            namespace: Some("shop".to_owned()),
            ..ObjectReference::default()
        })
    );
    assert_eq!(
        server
            .requests("POST", "/apis/events.k8s.io/v1/namespaces/shop/events")
            .len(),
        1
    );
}

#[tokio::test]
async fn every_reason_is_published_in_order_with_its_type() {
    let server = FakeApiServer::start().await;
    let recorder = EventRecorder::new(client(&server), "scalerd-0");
    let object = orders();
    let events = [
        ScalerEvent::target_activated(&object, 0, 2, &["q"]),
        ScalerEvent::rescaled(4, "external metric q above target"),
        ScalerEvent::scaler_failed("q", "redis 127.0.0.1:6379: connection refused"),
        ScalerEvent::fallback_activated(3, &["q"]),
        ScalerEvent::fallback_deactivated(),
        ScalerEvent::failed_rescale(5, "external metric q above target", "forbidden"),
        ScalerEvent::target_deactivated(&object, 3, 0),
    ];
    for event in &events {
        recorder.publish(&object, event).await.unwrap();
    }

    let published: Vec<_> = server
        .events("shop")
        .into_iter()
        .map(|e| (e.type_.unwrap(), e.reason.unwrap(), e.note.unwrap()))
        .collect();
    let expected = [
        (
            "Normal",
            "KEDAScaleTargetActivated",
            "Scaled Deployment shop/worker from 0 to 2, triggered by q",
        ),
        (
            "Normal",
            "SuccessfulRescale",
            "New size: 4; reason: external metric q above target",
        ),
        (
            "Warning",
            "KEDAScalerFailed",
            "q: redis 127.0.0.1:6379: connection refused",
        ),
        (
            "Warning",
            "ScaledObjectFallbackActivated",
            "Using fallback of 3 replicas: triggers q keep failing",
        ),
        (
            "Normal",
            "ScaledObjectFallbackDeactivated",
            "Triggers answer again; fallback no longer applies",
        ),
        (
            "Warning",
            "FailedRescale",
            "New size: 5; reason: external metric q above target; error: forbidden",
        ),
        (
            "Normal",
            "KEDAScaleTargetDeactivated",
            "Deactivated Deployment shop/worker from 3 to 0",
        ),
    ]
    .map(|(t, r, n)| (t.to_owned(), r.to_owned(), n.to_owned()));
    assert_eq!(published, expected);
    assert_eq!(events[2].kind, EventKind::Warning);
}

#[tokio::test]
async fn long_notes_are_cut_to_the_api_limit() {
    let server = FakeApiServer::start().await;
    let recorder = EventRecorder::new(client(&server), "scalerd-0");
    let error = "é".repeat(600); // 1200 bytes

    recorder
        .publish(&orders(), &ScalerEvent::scaler_failed("q", &error))
        .await
        .unwrap();

    let note = server.events("shop")[0].note.clone().unwrap();
    assert_eq!(note.len(), 1023, "cut at a character boundary");
    assert!(note.starts_with("q: é"));
}

#[tokio::test]
async fn a_forbidden_event_names_the_call() {
    let server = FakeApiServer::start().await;
    server.inject(Fault::status(403).on("POST", "/apis/events.k8s.io/**"));
    let recorder = EventRecorder::new(client(&server), "scalerd-0");

    let error = recorder
        .publish(&orders(), &ScalerEvent::rescaled(2, "r"))
        .await
        .unwrap_err();

    let KubeError::Forbidden { operation, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(operation.verb, "create");
    assert_eq!(operation.resource, "events.events.k8s.io");
    assert_eq!(operation.namespace.as_deref(), Some("shop"));
    let name = operation.name.clone().unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "forbidden: cannot create events.events.k8s.io {name:?} in namespace \"shop\" \
             (check the ClusterRole)"
        )
    );
    assert!(server.events("shop").is_empty());
}

// ---- secrets ----

#[tokio::test]
async fn a_secret_key_is_read_and_decoded() {
    let server = FakeApiServer::start().await;
    server.put_secret(
        "shop",
        "redis",
        &[("password", b"s3cr3t pa55"), ("user", b"app")],
    );

    let secret = read_secret_key(&client(&server), "shop", "redis", "password")
        .await
        .unwrap();

    assert_eq!(secret.expose(), "s3cr3t pa55");
    assert_eq!(format!("{secret} {secret:?}"), "*** ***");
}

#[tokio::test]
async fn a_missing_key_lists_the_keys_but_no_value() {
    let server = FakeApiServer::start().await;
    server.put_secret("shop", "redis", &[("user", b"app"), ("host", b"h")]);

    let error = read_secret_key(&client(&server), "shop", "redis", "password")
        .await
        .unwrap_err();

    assert!(
        matches!(&error, KubeError::SecretKeyMissing { key, .. } if key == "password"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "secret \"redis\" in namespace \"shop\" has no key \"password\" (keys: host, user)"
    );
}

#[tokio::test]
async fn a_missing_secret_is_not_found() {
    let server = FakeApiServer::start().await;

    let error = read_secret_key(&client(&server), "shop", "redis", "password")
        .await
        .unwrap_err();

    assert_eq!(error.kind(), TargetErrorKind::NotFound);
    assert_eq!(
        error.to_string(),
        "secrets \"redis\" not found in namespace \"shop\""
    );
}

#[tokio::test]
async fn a_forbidden_secret_says_which_and_where() {
    let server = FakeApiServer::start().await;
    server.put_secret("shop", "redis", &[("password", b"s3cr3t")]);
    server.inject(Fault::status(403).on("GET", "/api/v1/namespaces/shop/secrets/redis"));

    let error = read_secret_key(&client(&server), "shop", "redis", "password")
        .await
        .unwrap_err();

    assert_eq!(
        error.to_string(),
        "forbidden: cannot get secrets \"redis\" in namespace \"shop\" (check the ClusterRole)"
    );
    assert!(!format!("{error:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn a_binary_secret_value_is_refused_without_printing_it() {
    let server = FakeApiServer::start().await;
    server.put_secret("shop", "tls", &[("key", &[0xff, 0xfe, 0x00])]);

    let error = read_secret_key(&client(&server), "shop", "tls", "key")
        .await
        .unwrap_err();

    assert_eq!(
        error.to_string(),
        "secret \"tls\" in namespace \"shop\": key \"key\" is not valid UTF-8"
    );
}

// ---- HPAs ----

#[tokio::test]
async fn hpas_targeting_a_workload_are_listed_by_name() {
    let server = FakeApiServer::start().await;
    server.put_hpa("shop", "web-hpa", "apps/v1", "Deployment", "web");
    server.put_hpa("shop", "web-old", "apps/v1beta1", "Deployment", "web");
    server.put_hpa("shop", "no-version", "", "Deployment", "web");
    server.put_hpa("shop", "api-hpa", "apps/v1", "Deployment", "api");
    server.put_hpa("shop", "sts-hpa", "apps/v1", "StatefulSet", "web");
    server.put_hpa("shop", "other-group", "example.com/v1", "Deployment", "web");
    server.put_hpa("elsewhere", "web-hpa", "apps/v1", "Deployment", "web");

    let names = hpas_targeting(&client(&server), "shop", &ScaleTargetRef::deployment("web"))
        .await
        .unwrap();

    assert_eq!(names, ["no-version", "web-hpa", "web-old"]);
    let none = hpas_targeting(
        &client(&server),
        "shop",
        &ScaleTargetRef::deployment("cart"),
    )
    .await
    .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn listing_hpas_without_rbac_is_forbidden() {
    let server = FakeApiServer::start().await;
    server.inject(Fault::status(403).on("GET", "/apis/autoscaling/v2/**"));

    let error = hpas_targeting(&client(&server), "shop", &ScaleTargetRef::deployment("web"))
        .await
        .unwrap_err();

    assert_eq!(
        error.to_string(),
        "forbidden: cannot list horizontalpodautoscalers.autoscaling in namespace \"shop\" \
         (check the ClusterRole)"
    );
}

// ---- connecting ----

fn kubeconfig(server_url: &str, current_context: &str) -> PathBuf {
    let path = std::env::temp_dir().join(unique_name("kubeconfig"));
    let refused = scalers_testkit::refused_url();
    let yaml = format!(
        "apiVersion: v1
kind: Config
current-context: {current_context}
clusters:
- name: fake
  cluster:
    server: {server_url}
- name: gone
  cluster:
    server: {refused}
users:
- name: nobody
  user: {{}}
contexts:
- name: fake
  context: {{cluster: fake, user: nobody, namespace: shop}}
- name: gone
  context: {{cluster: gone, user: nobody}}
"
    );
    std::fs::write(&path, yaml).expect("write the kubeconfig");
    path
}

#[tokio::test]
async fn connect_uses_the_kubeconfig_and_context_given() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 3);
    let path = kubeconfig(server.url(), "gone");

    let client = connect(Some(&path), Some("fake")).await.unwrap();
    let replicas = KubeTargets::new(client)
        .scale_target("shop", &ScaleTargetRef::deployment("web"))
        .read()
        .await
        .unwrap();
    assert_eq!(replicas.current, 3);

    // The file's current context points at a dead server.
    let client = connect(Some(&path), None).await.unwrap();
    let error = KubeTargets::new(client)
        .scale_target("shop", &ScaleTargetRef::deployment("web"))
        .read()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TargetErrorKind::Unavailable);
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn connect_reports_a_missing_file_or_context() {
    let missing = std::env::temp_dir().join(unique_name("no-kubeconfig"));
    let Err(error) = connect(Some(&missing), None).await else {
        panic!("connected without a kubeconfig");
    };
    assert!(matches!(error, KubeError::Kubeconfig { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("cannot load the kubeconfig {}", missing.display())
    );

    let server = FakeApiServer::start().await;
    let path = kubeconfig(server.url(), "fake");
    let Err(error) = connect(Some(&path), Some("nope")).await else {
        panic!("connected to a missing context");
    };
    assert_eq!(
        error.to_string(),
        format!(
            "cannot load context \"nope\" from the kubeconfig {}",
            path.display()
        )
    );
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn requests_name_scalerd_as_user_agent_unless_the_config_does() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 1);
    let read = |client| async move {
        KubeTargets::new(client)
            .scale_target("shop", &ScaleTargetRef::deployment("web"))
            .read()
            .await
            .unwrap()
    };

    read(client(&server)).await;
    let mut config = server.config();
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static("scalerd/test pod-b"),
    ));
    read(client_from_config(config).unwrap()).await;

    let agents: Vec<_> = server
        .requests("GET", "/apis/apps/v1/**/scale")
        .into_iter()
        .map(|e| e.user_agent.unwrap_or_default())
        .collect();
    assert_eq!(
        agents,
        [
            concat!("scalerd/", env!("CARGO_PKG_VERSION")),
            "scalerd/test pod-b"
        ]
    );
}

// ---- the fake server itself ----

#[tokio::test]
async fn the_fake_serves_full_discovery() {
    let server = FakeApiServer::start().await;

    let discovery = kube::Discovery::new(client(&server)).run().await.unwrap();

    let apps = discovery.get("apps").expect("apps group");
    let (deployment, caps) = apps.recommended_kind("Deployment").unwrap();
    assert_eq!(deployment.plural, "deployments");
    assert!(caps.subresources.iter().any(|(r, _)| r.plural == "scale"));
    let argo = discovery.get("argoproj.io").expect("argoproj.io group");
    assert!(argo.recommended_kind("Rollout").is_some());
    assert!(discovery.get("coordination.k8s.io").is_some());
    assert!(discovery.get("events.k8s.io").is_some());
    assert!(
        discovery
            .get("")
            .is_some_and(|core| core.recommended_kind("Secret").is_some())
    );
}

#[tokio::test]
async fn the_fake_refuses_a_stale_scale_put_and_counts_faults() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let api: Api<Deployment> = Api::namespaced(client(&server), "shop");
    let current = api.get_scale("web").await.unwrap();
    let version = current.metadata.resource_version.clone();
    let scale = |replicas, resource_version| Scale {
        metadata: ObjectMeta {
            name: Some("web".to_owned()),
            namespace: Some("shop".to_owned()),
            resource_version,
            ..ObjectMeta::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(replicas),
        }),
        status: None,
    };

    let put = api
        .replace_scale("web", &PostParams::default(), &scale(6, version.clone()))
        .await
        .unwrap();
    assert_eq!(put.spec.unwrap().replicas, Some(6));
    let stale = api
        .replace_scale("web", &PostParams::default(), &scale(7, version))
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{stale:?}"
    );
    assert_eq!(
        server.replicas(&FakeResource::DEPLOYMENT, "shop", "web"),
        Some(6)
    );
    assert_eq!(
        server.scale_writes(&FakeResource::DEPLOYMENT, "shop", "web"),
        [6]
    );

    server.inject(Fault::status(500).on("GET", "/apis/apps/v1/**").times(2));
    assert!(api.get("web").await.is_err());
    assert!(api.get("web").await.is_err());
    assert!(api.get("web").await.is_ok());
    let statuses: Vec<u16> = server
        .requests("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
        .iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
}
