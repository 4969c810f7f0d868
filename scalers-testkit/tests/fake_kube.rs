//! The fake Kubernetes API server through a real `kube::Client` over real HTTP: lists and
//! watches (resourceVersions, history, 410, bookmarks, timeouts, selectors), kube-runtime's
//! watcher and its recovery, status subresources, finalizers, conflicts and cluster scope.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, VersionMatch, WatchEvent, WatchParams,
};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use scalers_testkit::{FakeApiServer, FakeResource, Fault, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn api_resource(r: &FakeResource) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(r.group, r.version, r.kind), r.plural)
}

fn scaled_objects(server: &FakeApiServer, namespace: &str) -> Api<DynamicObject> {
    let ar = api_resource(&FakeResource::SCALED_OBJECT);
    Api::namespaced_with(server.client(), namespace, &ar)
}

fn config_maps(server: &FakeApiServer, namespace: &str) -> Api<DynamicObject> {
    let ar = api_resource(&FakeResource::CONFIG_MAP);
    Api::namespaced_with(server.client(), namespace, &ar)
}

fn scaled_object(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "labels": labels},
        "spec": {"scaleTargetRef": {"name": name}, "triggers": []},
    })
}

fn dynamic(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a valid object")
}

fn name_of(o: &DynamicObject) -> &str {
    o.metadata.name.as_deref().unwrap_or_default()
}

fn rv_of(o: &DynamicObject) -> u64 {
    o.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("a numeric resourceVersion")
}

/// The next item of a stream, failing the test after [`WAIT`].
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no watch item within 10 s")
}

/// A raw watch event as (type, name), for exact comparisons.
fn summary(event: &WatchEvent<DynamicObject>) -> (String, String) {
    match event {
        WatchEvent::Added(o) => ("ADDED".into(), name_of(o).into()),
        WatchEvent::Modified(o) => ("MODIFIED".into(), name_of(o).into()),
        WatchEvent::Deleted(o) => ("DELETED".into(), name_of(o).into()),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
        WatchEvent::Error(e) => ("ERROR".into(), format!("{} {}", e.code, e.reason)),
    }
}

fn pair(kind: &str, name: &str) -> (String, String) {
    (kind.to_owned(), name.to_owned())
}

#[tokio::test]
async fn a_watch_from_a_list_version_sees_exactly_the_later_changes() {
    let server = FakeApiServer::start().await;
    let api = scaled_objects(&server, "shop");
    for name in ["a", "b"] {
        api.create(
            &PostParams::default(),
            &dynamic(scaled_object(name, json!({}))),
        )
        .await
        .unwrap();
    }
    let list = api.list(&ListParams::default()).await.unwrap();
    let listed = list.metadata.resource_version.clone().unwrap();
    assert_eq!(listed, server.resource_version());
    assert_eq!(
        list.items.iter().map(name_of).collect::<Vec<_>>(),
        ["a", "b"]
    );

    // One change before the watch opens (replayed from the history), two after (live), one
    // in another namespace (not seen).
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("a", json!({"x": "1"})),
    );
    let wp = WatchParams::default().disable_bookmarks();
    let mut events = api.watch(&wp, &listed).await.unwrap().boxed();
    api.create(
        &PostParams::default(),
        &dynamic(scaled_object("c", json!({}))),
    )
    .await
    .unwrap();
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "other",
        scaled_object("z", json!({})),
    );
    api.delete("b", &DeleteParams::default()).await.unwrap();

    let mut seen = Vec::new();
    let mut versions = Vec::new();
    for _ in 0..3 {
        let event = next(&mut events).await.unwrap().unwrap();
        if let WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) = &event {
            versions.push(rv_of(o));
        }
        seen.push(summary(&event));
    }
    assert_eq!(
        seen,
        [
            pair("MODIFIED", "a"),
            pair("ADDED", "c"),
            pair("DELETED", "b")
        ]
    );
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert!(versions[0] > listed.parse::<u64>().unwrap());
    // The DELETED object carries the version of its deletion, which is the newest.
    assert_eq!(versions[2].to_string(), server.resource_version());

    // The journal has the watch as one entry, answered when it opened.
    let watches: Vec<_> = server
        .requests(
            "GET",
            "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects",
        )
        .into_iter()
        .filter(|e| e.is_watch())
        .collect();
    assert_eq!(watches.len(), 1);
    assert_eq!(watches[0].status, 200);
    assert_eq!(server.open_watches(), 1);
}

#[tokio::test]
async fn a_watch_without_a_version_starts_with_the_objects_there_now() {
    let server = FakeApiServer::start().await;
    server.put_config_map("shop", "one", &[("k", "v")]);
    let api = config_maps(&server, "shop");
    let wp = WatchParams::default().disable_bookmarks();
    let mut events = api.watch(&wp, "0").await.unwrap().boxed();
    let first = next(&mut events).await.unwrap().unwrap();
    assert_eq!(summary(&first), pair("ADDED", "one"));
    server.put_config_map("shop", "two", &[]);
    let second = next(&mut events).await.unwrap().unwrap();
    assert_eq!(summary(&second), pair("ADDED", "two"));
}

#[tokio::test]
async fn a_watch_from_a_version_older_than_the_history_gets_410_expired() {
    let server = FakeApiServer::start().await;
    server.set_history_limit(2);
    let api = config_maps(&server, "shop");
    let start = server.resource_version();
    for i in 0..5 {
        server.put_config_map("shop", &format!("cm{i}"), &[]);
    }
    let mut events = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    let event = next(&mut events).await.unwrap().unwrap();
    let WatchEvent::Error(status) = &event else {
        panic!("expected an ERROR event, got {:?}", summary(&event));
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    assert!(
        status.message.starts_with("too old resource version: "),
        "{}",
        status.message
    );
    assert!(
        next(&mut events).await.is_none(),
        "the stream ends after the 410"
    );

    // Two changes are still in the history: a watch from the version before them is fine.
    let recent = (server.resource_version().parse::<u64>().unwrap() - 2).to_string();
    let mut events = api
        .watch(&WatchParams::default(), &recent)
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        summary(&next(&mut events).await.unwrap().unwrap()),
        pair("ADDED", "cm3")
    );

    // After a compaction nothing older than now can be watched, nor listed exactly.
    server.compact();
    let mut events = api
        .watch(&WatchParams::default(), &recent)
        .await
        .unwrap()
        .boxed();
    let event = next(&mut events).await.unwrap().unwrap();
    assert_eq!(summary(&event).0, "ERROR");
    let lp = ListParams::default()
        .at(&recent)
        .matching(VersionMatch::Exact);
    let err = api.list(&lp).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    // NotOlderThan from an old version is served at the current one.
    let lp = ListParams::default()
        .at(&recent)
        .matching(VersionMatch::NotOlderThan);
    let list = api.list(&lp).await.unwrap();
    assert_eq!(
        list.metadata.resource_version,
        Some(server.resource_version())
    );
    assert_eq!(list.items.len(), 5);
}

#[tokio::test]
async fn an_exact_list_serves_the_state_at_that_version() {
    let server = FakeApiServer::start().await;
    let api = config_maps(&server, "shop");
    server.put_config_map("shop", "a", &[("k", "1")]);
    let then = server.resource_version();
    server.put_config_map("shop", "a", &[("k", "2")]);
    server.put_config_map("shop", "b", &[]);
    let lp = ListParams::default()
        .at(&then)
        .matching(VersionMatch::Exact);
    let list = api.list(&lp).await.unwrap();
    assert_eq!(
        list.metadata.resource_version.as_deref(),
        Some(then.as_str())
    );
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].data["data"], json!({"k": "1"}));
}

#[tokio::test]
async fn a_paged_list_is_one_snapshot() {
    let server = FakeApiServer::start().await;
    let api = config_maps(&server, "shop");
    for i in 0..5 {
        server.put_config_map("shop", &format!("cm{i}"), &[]);
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let at = first.metadata.resource_version.clone().unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    server.put_config_map("shop", "cm9", &[]); // after the snapshot: not in later pages
    let mut names: Vec<String> = first.items.iter().map(|o| name_of(o).to_owned()).collect();
    let mut token = Some(token);
    while let Some(t) = token.take() {
        let page = api
            .list(&ListParams::default().limit(2).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(page.metadata.resource_version.as_deref(), Some(at.as_str()));
        names.extend(page.items.iter().map(|o| name_of(o).to_owned()));
        token = page.metadata.continue_.filter(|c| !c.is_empty());
    }
    assert_eq!(names, ["cm0", "cm1", "cm2", "cm3", "cm4"]);
}

#[tokio::test]
async fn bookmarks_arrive_only_with_allow_watch_bookmarks_and_timeout_ends_the_stream() {
    let server = FakeApiServer::start().await;
    server.set_bookmark_interval(Duration::from_millis(50));
    let api = config_maps(&server, "shop");
    let from = server.resource_version();
    server.put_config_map("shop", "a", &[]);
    let mut events = api
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        summary(&next(&mut events).await.unwrap().unwrap()),
        pair("ADDED", "a")
    );
    // A change elsewhere moves the version; the bookmark tells this watch it passed it.
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("x", json!({})),
    );
    let current = server.resource_version();
    // Bookmarks before the change may come first; the first one at or past it passes it.
    let bookmark = loop {
        match next(&mut events).await.unwrap().unwrap() {
            WatchEvent::Bookmark(b) if b.metadata.resource_version == current => break b,
            WatchEvent::Bookmark(b) => assert!(b.metadata.resource_version < current),
            other => panic!("unexpected {:?}", summary(&other)),
        }
    };
    assert_eq!(bookmark.types.kind, "ConfigMap");
    assert_eq!(bookmark.types.api_version, "v1");

    // Without bookmarks and with timeoutSeconds=1 the stream ends with nothing in it.
    let wp = WatchParams::default().disable_bookmarks().timeout(1);
    let items: Vec<_> = api
        .watch(&wp, &server.resource_version())
        .await
        .unwrap()
        .collect()
        .await;
    assert!(items.is_empty(), "{} items", items.len());
}

#[tokio::test]
async fn selectors_filter_lists_and_watches() {
    let server = FakeApiServer::start().await;
    let api = scaled_objects(&server, "shop");
    for (name, tier) in [("a", "front"), ("b", "back"), ("c", "front")] {
        server.put_object(
            &FakeResource::SCALED_OBJECT,
            "shop",
            scaled_object(name, json!({"tier": tier, "team": "x"})),
        );
    }
    let names = |list: kube::core::ObjectList<DynamicObject>| -> Vec<String> {
        list.items.iter().map(|o| name_of(o).to_owned()).collect()
    };
    let lp = ListParams::default().labels("tier=front,team==x");
    assert_eq!(names(api.list(&lp).await.unwrap()), ["a", "c"]);
    let lp = ListParams::default().labels("tier notin (front),team");
    assert_eq!(names(api.list(&lp).await.unwrap()), ["b"]);
    let lp = ListParams::default()
        .labels("tier!=front")
        .fields("metadata.name!=x");
    assert_eq!(names(api.list(&lp).await.unwrap()), ["b"]);
    let lp = ListParams::default().fields("metadata.name=c");
    assert_eq!(names(api.list(&lp).await.unwrap()), ["c"]);
    let err = api
        .list(&ListParams::default().labels("tier in front"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err:?}"
    );

    // In a watch, an object that stops matching is DELETED, one that starts is ADDED.
    let wp = WatchParams::default()
        .disable_bookmarks()
        .labels("tier=front");
    let mut events = api
        .watch(&wp, &server.resource_version())
        .await
        .unwrap()
        .boxed();
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("a", json!({"tier": "back"})),
    );
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("b", json!({"tier": "front"})),
    );
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("c", json!({"tier": "front", "v": "2"})),
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(summary(&next(&mut events).await.unwrap().unwrap()));
    }
    assert_eq!(
        seen,
        [
            pair("DELETED", "a"),
            pair("ADDED", "b"),
            pair("MODIFIED", "c")
        ]
    );
}

/// A watcher event as (kind, names) for exact comparisons; errors as ("Err", reason).
type Seen = (String, Vec<String>);

/// Drives `stream` in a task of its own (a watcher only talks to the server while polled),
/// forwarding what it yields.
fn spawn_watcher<S>(mut stream: S) -> tokio::sync::mpsc::UnboundedReceiver<Seen>
where
    S: Stream<Item = Result<Event<DynamicObject>, watcher::Error>> + Unpin + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let seen = match item {
                Ok(Event::Init) => ("Init".into(), vec![]),
                Ok(Event::InitApply(o)) => ("InitApply".into(), vec![name_of(&o).into()]),
                Ok(Event::InitDone) => ("InitDone".into(), vec![]),
                Ok(Event::Apply(o)) => ("Apply".into(), vec![name_of(&o).into()]),
                Ok(Event::Delete(o)) => ("Delete".into(), vec![name_of(&o).into()]),
                Err(watcher::Error::WatchError(s)) => {
                    ("Err".into(), vec![format!("{} {}", s.code, s.reason)])
                }
                Err(e) => ("Err".into(), vec![e.to_string()]),
            };
            if tx.send(seen).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next thing the watcher yielded, failing the test after [`WAIT`].
async fn runtime_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no watcher event within 10 s")
        .expect("the watcher stream never ends")
}

fn ev(kind: &str, names: &[&str]) -> (String, Vec<String>) {
    (
        kind.to_owned(),
        names.iter().map(|n| (*n).to_owned()).collect(),
    )
}

#[tokio::test]
async fn kube_runtime_watcher_lists_watches_and_recovers_from_ended_watches_and_410() {
    let server = FakeApiServer::start().await;
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("a", json!({})),
    );
    let ar = api_resource(&FakeResource::SCALED_OBJECT);
    let api: Api<DynamicObject> = Api::all_with(server.client(), &ar);
    // Bookmarks would move the watcher's version past the compaction below.
    server.set_bookmark_interval(Duration::from_secs(3600));
    let mut stream = spawn_watcher(watcher::watcher(api, watcher::Config::default()).boxed());
    assert_eq!(runtime_event(&mut stream).await, ev("Init", &[]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitApply", &["a"]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitDone", &[]));

    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "other",
        scaled_object("b", json!({})),
    );
    assert_eq!(runtime_event(&mut stream).await, ev("Apply", &["b"]));
    let other = scaled_objects(&server, "other");
    other.delete("b", &DeleteParams::default()).await.unwrap();
    assert_eq!(runtime_event(&mut stream).await, ev("Delete", &["b"]));

    // The server ends its watches: the watcher watches again from its version, losing nothing.
    eventually(WAIT, || async {
        match server.end_watches() {
            1 => Ok(()),
            n => Err(format!("{n} open watches")),
        }
    })
    .await;
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("c", json!({})),
    );
    assert_eq!(runtime_event(&mut stream).await, ev("Apply", &["c"]));
    let watches = |s: &FakeApiServer| {
        s.requests("GET", "/apis/keda.sh/v1alpha1/scaledobjects")
            .into_iter()
            .filter(|e| e.is_watch())
            .count()
    };
    assert_eq!(watches(&server), 2);

    // The next watch gets 410: the watcher lists again.
    server.inject(Fault::expired().on("GET", "/apis/keda.sh/**").times(1));
    server.end_watches();
    assert_eq!(
        runtime_event(&mut stream).await,
        ev("Err", &["410 Expired"])
    );
    assert_eq!(runtime_event(&mut stream).await, ev("Init", &[]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitApply", &["a"]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitApply", &["c"]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitDone", &[]));
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("d", json!({})),
    );
    assert_eq!(runtime_event(&mut stream).await, ev("Apply", &["d"]));

    // A compacted history does the same through the server's own 410 (a change the watcher
    // does not see, then forgotten, leaves its version behind the history).
    server.put_config_map("shop", "unwatched", &[]);
    server.compact();
    server.end_watches();
    assert_eq!(
        runtime_event(&mut stream).await,
        ev("Err", &["410 Expired"])
    );
    assert_eq!(runtime_event(&mut stream).await, ev("Init", &[]));
    for name in ["a", "c", "d"] {
        assert_eq!(runtime_event(&mut stream).await, ev("InitApply", &[name]));
    }
    assert_eq!(runtime_event(&mut stream).await, ev("InitDone", &[]));
}

#[tokio::test]
async fn kube_runtime_watcher_catches_up_after_the_server_was_unreachable() {
    let server = FakeApiServer::start().await;
    let ar = api_resource(&FakeResource::SCALED_OBJECT);
    let api: Api<DynamicObject> = Api::all_with(server.client(), &ar);
    let mut stream = spawn_watcher(
        watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed(),
    );
    assert_eq!(runtime_event(&mut stream).await, ev("Init", &[]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitDone", &[]));
    eventually(WAIT, || async {
        match server.open_watches() {
            1 => Ok(()),
            n => Err(format!("{n} open watches")),
        }
    })
    .await;

    server.set_unreachable(true);
    // Changes while unreachable: seen once the watcher is back, each exactly once.
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("a", json!({})),
    );
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("b", json!({})),
    );
    let probe = scaled_objects(&server, "shop")
        .list(&ListParams::default())
        .await;
    assert!(
        matches!(
            probe,
            Err(kube::Error::HyperError(_) | kube::Error::Service(_))
        ),
        "{probe:?}"
    );
    server.set_unreachable(false);

    let mut applied = Vec::new();
    while applied.len() < 2 {
        let (kind, names) = runtime_event(&mut stream).await;
        match kind.as_str() {
            "Err" => {} // the broken watch and failed reconnections
            "Apply" => applied.extend(names),
            other => panic!("unexpected {other} {names:?}"),
        }
    }
    assert_eq!(applied, ["a", "b"]);
}

#[tokio::test]
async fn unreachable_for_a_while_comes_back_by_itself() {
    let server = FakeApiServer::start().await;
    let api = config_maps(&server, "shop");
    server.unreachable_for(Duration::from_millis(300));
    assert!(api.list(&ListParams::default()).await.is_err());
    eventually(WAIT, || async {
        api.list(&ListParams::default()).await.map(|_| ())
    })
    .await;
}

#[tokio::test]
async fn the_status_subresource_changes_only_status_and_the_object_ignores_it() {
    let server = FakeApiServer::start().await;
    let api = scaled_objects(&server, "shop");
    let mut so = scaled_object("web", json!({}));
    so["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
    let created = api
        .create(&PostParams::default(), &dynamic(so))
        .await
        .unwrap();
    assert_eq!(created.data.get("status"), None, "create ignores status");
    assert_eq!(created.metadata.generation, Some(1));

    // /status: only status changes; the generation stays.
    let patch = json!({
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
        "spec": {"minReplicaCount": 3},
        "metadata": {"labels": {"sneaky": "yes"}},
    });
    let patched = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["conditions"][0]["status"], "False");
    assert_eq!(patched.data["spec"].get("minReplicaCount"), None);
    assert_eq!(
        patched
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("sneaky")),
        None
    );
    assert_eq!(patched.metadata.generation, Some(1));
    assert!(rv_of(&patched) > rv_of(&created));

    // The object: status ignored, a spec change bumps the generation, metadata does not.
    let patch = json!({"status": {"conditions": []}, "spec": {"minReplicaCount": 2}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["conditions"][0]["status"], "False");
    assert_eq!(patched.data["spec"]["minReplicaCount"], 2);
    assert_eq!(patched.metadata.generation, Some(2));
    let patch = json!({"metadata": {"labels": {"l": "1"}}});
    let labelled = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(2));

    // replace_status with the current version works; with a stale one it is a conflict.
    let mut current = labelled.clone();
    current.data["status"] = json!({"health": {}});
    let replaced = api
        .replace_status("web", &PostParams::default(), &current)
        .await
        .unwrap();
    assert_eq!(replaced.data["status"], json!({"health": {}}));
    let err = api
        .replace_status("web", &PostParams::default(), &current)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
    let stale = json!({"metadata": {"resourceVersion": "1"}, "status": {}});
    let err = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&stale))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );

    // Resources without /status have none.
    let cm = config_maps(&server, "shop");
    server.put_config_map("shop", "c", &[]);
    let err = cm
        .patch_status(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_deployment_status_write_holds_and_spec_writes_keep_status() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let ar = api_resource(&FakeResource::DEPLOYMENT);
    let api: Api<DynamicObject> = Api::namespaced_with(server.client(), "shop", &ar);
    let status = json!({"status": {"replicas": 2, "readyReplicas": 1}});
    api.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let patch = json!({"spec": {"replicas": 4}, "status": {"readyReplicas": 9}});
    let o = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(o.data["status"]["readyReplicas"], 1);
    assert_eq!(o.metadata.generation, Some(2));
}

#[tokio::test]
async fn finalizers_keep_a_deleted_object_until_the_last_one_is_removed() {
    let server = FakeApiServer::start().await;
    let api = scaled_objects(&server, "shop");
    let mut so = scaled_object("web", json!({}));
    so["metadata"]["finalizers"] = json!(["finalizer.keda.sh"]);
    let created = api
        .create(&PostParams::default(), &dynamic(so))
        .await
        .unwrap();
    let wp = WatchParams::default().disable_bookmarks();
    let mut events = api
        .watch(&wp, &created.metadata.resource_version.clone().unwrap())
        .await
        .unwrap()
        .boxed();

    let deleted = api.delete("web", &DeleteParams::default()).await.unwrap();
    let marked = deleted.left().expect("the object, still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(0));
    let event = next(&mut events).await.unwrap().unwrap();
    assert_eq!(summary(&event), pair("MODIFIED", "web"));
    assert!(
        api.get("web")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );

    // No new finalizer once deletion started; deletionTimestamp cannot be taken back.
    let add = json!({"metadata": {"finalizers": ["finalizer.keda.sh", "other"]}});
    let err = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&add))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 422 && s.reason == "Invalid"),
        "{err:?}"
    );
    let undo = json!({"metadata": {"deletionTimestamp": null}});
    let kept = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&undo))
        .await
        .unwrap();
    assert!(kept.metadata.deletion_timestamp.is_some());
    assert_eq!(
        summary(&next(&mut events).await.unwrap().unwrap()),
        pair("MODIFIED", "web")
    );

    // Removing the last finalizer deletes it.
    let remove = json!({"metadata": {"finalizers": null}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&remove))
        .await
        .unwrap();
    assert_eq!(
        summary(&next(&mut events).await.unwrap().unwrap()),
        pair("DELETED", "web")
    );
    assert!(
        server
            .object(&FakeResource::SCALED_OBJECT, "shop", "web")
            .is_none()
    );

    // Without finalizers it goes at once; the helper deletes the same way.
    api.create(
        &PostParams::default(),
        &dynamic(scaled_object("plain", json!({}))),
    )
    .await
    .unwrap();
    let gone = api.delete("plain", &DeleteParams::default()).await.unwrap();
    assert!(gone.is_right());
    assert_eq!(
        summary(&next(&mut events).await.unwrap().unwrap()),
        pair("ADDED", "plain")
    );
    assert_eq!(
        summary(&next(&mut events).await.unwrap().unwrap()),
        pair("DELETED", "plain")
    );
    let mut held = scaled_object("held", json!({}));
    held["metadata"]["finalizers"] = json!(["f"]);
    server.put_object(&FakeResource::SCALED_OBJECT, "shop", held);
    assert_eq!(
        server.request_deletion(&FakeResource::SCALED_OBJECT, "shop", "held"),
        Some(false)
    );
    assert_eq!(
        server.request_deletion(&FakeResource::SCALED_OBJECT, "shop", "nope"),
        None
    );
}

#[tokio::test]
async fn stale_writes_and_existing_names_conflict() {
    let server = FakeApiServer::start().await;
    let api = scaled_objects(&server, "shop");
    let created = api
        .create(
            &PostParams::default(),
            &dynamic(scaled_object("web", json!({}))),
        )
        .await
        .unwrap();
    let err = api
        .create(
            &PostParams::default(),
            &dynamic(scaled_object("web", json!({}))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );
    let mut newer = created.clone();
    newer.data["spec"]["minReplicaCount"] = json!(1);
    api.replace("web", &PostParams::default(), &newer)
        .await
        .unwrap();
    let err = api
        .replace("web", &PostParams::default(), &created)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{err:?}"
    );
}

#[tokio::test]
async fn cluster_scoped_resources_and_lists_across_namespaces() {
    let server = FakeApiServer::start().await;
    let ar = api_resource(&FakeResource::CLUSTER_TRIGGER_AUTHENTICATION);
    let api: Api<DynamicObject> = Api::all_with(server.client(), &ar);
    let cta = json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ClusterTriggerAuthentication",
        "metadata": {"name": "shared"},
        "spec": {"secretTargetRef": []},
    });
    let created = api
        .create(&PostParams::default(), &dynamic(cta))
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace, None);
    assert_eq!(
        api.get("shared").await.unwrap().metadata.uid,
        created.metadata.uid
    );
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    assert!(
        server
            .object(&FakeResource::CLUSTER_TRIGGER_AUTHENTICATION, "", "shared")
            .is_some()
    );
    let namespaced: Api<DynamicObject> = Api::namespaced_with(server.client(), "shop", &ar);
    let err = namespaced.get("shared").await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 404),
        "{err:?}"
    );

    for ns in ["a", "b"] {
        server.put_object(
            &FakeResource::SCALED_OBJECT,
            ns,
            scaled_object("so", json!({})),
        );
    }
    let all: Api<DynamicObject> =
        Api::all_with(server.client(), &api_resource(&FakeResource::SCALED_OBJECT));
    let list = all.list(&ListParams::default()).await.unwrap();
    let namespaces: Vec<_> = list
        .items
        .iter()
        .map(|o| o.metadata.namespace.clone().unwrap())
        .collect();
    assert_eq!(namespaces, ["a", "b"]);
    let list = all
        .list(&ListParams::default().fields("metadata.namespace=b"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
}

#[tokio::test]
async fn discovery_lists_the_keda_resources_with_scope_and_status() {
    let server = FakeApiServer::start().await;
    let client = server.client();
    let list = client
        .list_api_group_resources("keda.sh/v1alpha1")
        .await
        .unwrap();
    let mut found: Vec<(String, bool)> = list
        .resources
        .iter()
        .map(|r| (r.name.clone(), r.namespaced))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("clustertriggerauthentications".to_owned(), false),
            ("clustertriggerauthentications/status".to_owned(), false),
            ("scaledjobs".to_owned(), true),
            ("scaledjobs/status".to_owned(), true),
            ("scaledobjects".to_owned(), true),
            ("scaledobjects/status".to_owned(), true),
            ("triggerauthentications".to_owned(), true),
            ("triggerauthentications/status".to_owned(), true),
        ]
    );
    assert!(list.resources[0].verbs.contains(&"watch".to_owned()));

    // kube's full discovery reads every group, with the subresources and scopes.
    let discovery = kube::Discovery::new(client).run().await.unwrap();
    let keda = discovery.get("keda.sh").expect("keda.sh group");
    let (so, caps) = keda.recommended_kind("ScaledObject").unwrap();
    assert_eq!(so.plural, "scaledobjects");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(caps.subresources.iter().any(|(r, _)| r.plural == "status"));
    let (_, caps) = keda
        .recommended_kind("ClusterTriggerAuthentication")
        .unwrap();
    assert_eq!(caps.scope, kube::discovery::Scope::Cluster);
    let apps = discovery.get("apps").expect("apps group");
    let (_, caps) = apps.recommended_kind("Deployment").unwrap();
    let mut subresources: Vec<_> = caps
        .subresources
        .iter()
        .map(|(r, _)| r.plural.clone())
        .collect();
    subresources.sort();
    assert_eq!(subresources, ["scale", "status"]);
    assert!(
        discovery
            .get("batch")
            .is_some_and(|b| b.recommended_kind("Job").is_some())
    );
}

#[tokio::test]
async fn kube_runtime_streaming_lists_get_initial_events_and_their_end_bookmark() {
    let server = FakeApiServer::start().await;
    for name in ["a", "b"] {
        server.put_object(
            &FakeResource::SCALED_OBJECT,
            "shop",
            scaled_object(name, json!({})),
        );
    }
    let api = scaled_objects(&server, "shop");
    let config = watcher::Config::default().streaming_lists();
    let mut stream = spawn_watcher(watcher::watcher(api, config).boxed());
    assert_eq!(runtime_event(&mut stream).await, ev("Init", &[]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitApply", &["a"]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitApply", &["b"]));
    assert_eq!(runtime_event(&mut stream).await, ev("InitDone", &[]));
    server.put_object(
        &FakeResource::SCALED_OBJECT,
        "shop",
        scaled_object("c", json!({})),
    );
    assert_eq!(runtime_event(&mut stream).await, ev("Apply", &["c"]));
    let watch = server
        .requests(
            "GET",
            "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects",
        )
        .into_iter()
        .find(|e| e.is_watch())
        .expect("a watch");
    let query = watch.query.unwrap_or_default();
    assert!(query.contains("sendInitialEvents=true"), "{query}");
    assert!(
        server
            .requests("GET", "/apis/keda.sh/**")
            .iter()
            .all(|e| e.is_watch()),
        "no list"
    );
}

#[tokio::test]
async fn changes_through_the_helpers_show_up_in_watches() {
    let server = FakeApiServer::start().await;
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 2);
    let ar = api_resource(&FakeResource::DEPLOYMENT);
    let api: Api<DynamicObject> = Api::namespaced_with(server.client(), "shop", &ar);
    let wp = WatchParams::default().disable_bookmarks();
    let mut events = api
        .watch(&wp, &server.resource_version())
        .await
        .unwrap()
        .boxed();
    let mut next_object = async || match next(&mut events).await.unwrap().unwrap() {
        WatchEvent::Modified(o) => ("MODIFIED", o),
        WatchEvent::Added(o) => ("ADDED", o),
        WatchEvent::Deleted(o) => ("DELETED", o),
        other => panic!("unexpected {:?}", summary(&other)),
    };
    server.set_status(&FakeResource::DEPLOYMENT, "shop", "web", 2, 1);
    let (kind, o) = next_object().await;
    assert_eq!(
        (kind, o.data["status"]["readyReplicas"].clone()),
        ("MODIFIED", json!(1))
    );
    server.set_status_mode(
        &FakeResource::DEPLOYMENT,
        "shop",
        "web",
        scalers_testkit::StatusMode::Follow,
    );
    let (kind, o) = next_object().await;
    assert_eq!(
        (kind, o.data["status"]["readyReplicas"].clone()),
        ("MODIFIED", json!(2))
    );
    server.put_workload(&FakeResource::DEPLOYMENT, "shop", "web", 3);
    let (kind, o) = next_object().await;
    assert_eq!(
        (kind, o.data["spec"]["replicas"].clone()),
        ("MODIFIED", json!(3))
    );
    assert_eq!(o.metadata.generation, Some(2));
    assert!(server.delete_object(&FakeResource::DEPLOYMENT, "shop", "web"));
    let (kind, o) = next_object().await;
    assert_eq!(
        (kind, rv_of(&o).to_string()),
        ("DELETED", server.resource_version())
    );
}

#[tokio::test]
async fn a_watch_from_a_version_not_reached_yet_is_refused() {
    let server = FakeApiServer::start().await;
    // Without kube's own retries of 504.
    let mut config = server.config();
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client, "shop", &api_resource(&FakeResource::CONFIG_MAP));
    let err = api
        .watch(&WatchParams::default(), "999999")
        .await
        .err()
        .expect("an error");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 504 && s.reason == "Timeout"),
        "{err:?}"
    );
}

#[tokio::test]
async fn jobs_are_listed_by_label_take_states_and_are_deleted_with_a_propagation_policy() {
    use k8s_openapi::api::batch::v1::Job;
    use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy};
    use scalers_testkit::JobState;

    let server = FakeApiServer::start().await;
    let jobs: Api<Job> = Api::namespaced(server.client(), "media");
    let job: Job = serde_json::from_value(json!({
        "metadata": {
            "generateName": "images-",
            "labels": {"scaledjob.keda.sh/name": "images"},
            "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob",
                                 "name": "images", "uid": "u-1", "controller": true}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "w"}], "restartPolicy": "Never"}}},
        "status": {"succeeded": 9},
    }))
    .unwrap();
    let created = jobs.create(&PostParams::default(), &job).await.unwrap();
    let name = created.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("images-") && name.len() > "images-".len(),
        "{name}"
    );
    // POST ignores status (a status subresource); owner references are kept as sent.
    assert_eq!(created.status.as_ref().and_then(|s| s.succeeded), None);
    assert_eq!(created.metadata.owner_references.unwrap()[0].uid, "u-1");
    jobs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "other", "labels": {"scaledjob.keda.sh/name": "videos"}}, "spec": {"template": {}}})).unwrap(),
    )
    .await
    .unwrap();

    let selected = jobs
        .list(&ListParams::default().labels("scaledjob.keda.sh/name=images"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    assert_eq!(
        selected.items[0].metadata.name.as_deref(),
        Some(name.as_str())
    );

    server.set_job_state("media", &name, JobState::Running);
    let status = jobs.get(&name).await.unwrap().status.unwrap();
    assert_eq!((status.active, status.ready), (Some(1), Some(1)));
    server.set_job_state("media", &name, JobState::Succeeded);
    let status = jobs.get(&name).await.unwrap().status.unwrap();
    assert_eq!((status.active, status.succeeded), (Some(0), Some(1)));
    assert!(status.completion_time.is_some());
    let kinds: Vec<(String, String)> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert_eq!(
        kinds,
        [
            ("SuccessCriteriaMet".to_owned(), "True".to_owned()),
            ("Complete".to_owned(), "True".to_owned())
        ]
    );
    server.set_job_state("media", "other", JobState::Failed);
    let failed = jobs.get("other").await.unwrap().status.unwrap();
    assert_eq!(failed.failed, Some(1));
    assert!(
        failed.completion_time.is_none(),
        "only a succeeded Job has one"
    );

    // A propagation policy the API does not know is refused (422); a known one deletes.
    let bad = server.url().to_owned() + "/apis/batch/v1/namespaces/media/jobs/other";
    let answer = reqwest::Client::new()
        .delete(&bad)
        .header("content-type", "application/json")
        .body(json!({"propagationPolicy": "Sideways"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 422);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    jobs.delete(&name, &params).await.unwrap();
    jobs.delete("other", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        jobs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let deletes = server.requests("DELETE", "/apis/batch/v1/namespaces/media/jobs/*");
    let policies: Vec<String> = deletes
        .iter()
        .map(|e| {
            e.json().unwrap()["propagationPolicy"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(policies, ["Sideways", "Foreground", "Background"]);
}
