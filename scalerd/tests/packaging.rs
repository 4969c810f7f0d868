//! Packaging (issue 18): the Helm chart in `deploy/chart`, the manifests of `deploy/` rendered
//! from it, and the Dockerfile that both run.
//!
//! - The RBAC the chart renders (`deploy/rbac.yaml`, which `.ci/helm.py check` proves equal to
//!   a fresh render) grants exactly the requests a `scalerd run` makes: every request of a
//!   cluster-mode daemon with leader election against the fake API server is granted, and every
//!   granted verb is used.
//! - Every flag the chart can render is a flag of `scalerd run`, and the arguments each
//!   configuration renders parse as `scalerd run` arguments.
//! - The Dockerfile builds the binary, user and port the manifests expect.
//!
//! The tests that render the chart need Helm's SDK (PyPI's `helm-python-sdk`, which `.ci/run`
//! installs). Without it they say so and pass on a developer machine, and fail where
//! `SCALERS_REQUIRE_HELM=1` (set by `.ci/run`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use scalers_testkit::{
    FakeApiServer, FakeResource, Fault, JobState, RedisServer, eventually, unique_name,
};
use serde_json::{Value, json};
use support::{Daemon, kube_client, set_list};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The YAML documents of a file.
fn yaml_documents(relative: &str) -> Vec<serde_norway::Value> {
    let text = read(relative);
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{relative}: {e}")))
        .filter(|v: &serde_norway::Value| !v.is_null())
        .collect()
}

fn workspace_field(key: &str) -> String {
    read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("Cargo.toml: no {key}"))
        .trim_matches('"')
        .to_owned()
}

// ---- the chart, through Helm's SDK ---------------------------------------------------------------

/// Runs `python3 .ci/helm.py <args>`; `None` when Helm's SDK is not installed on a developer
/// machine (a failure where `SCALERS_REQUIRE_HELM=1`).
fn helm_py(args: &[&str]) -> Option<String> {
    let importable = Command::new("python3")
        .args(["-c", "import helm_python"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        let missing = "Helm's SDK is missing: python3 -m pip install helm-python-sdk==0.2.2 \
                       (the `Python tools` step of .ci/run installs it)";
        assert!(
            std::env::var("SCALERS_REQUIRE_HELM").as_deref() != Ok("1"),
            "{missing}"
        );
        eprintln!("skipped: {missing}");
        return None;
    }
    let out = Command::new("python3")
        .arg(root().join(".ci/helm.py"))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        ".ci/helm.py {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_committed_manifests_are_a_fresh_render_of_the_chart() {
    if let Some(out) = helm_py(&["check"]) {
        assert!(out.contains("equal a fresh render"), "{out}");
    }
}

/// The flags of `scalerd run --help`.
fn run_flags() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .collect()
}

#[test]
fn every_flag_the_chart_can_render_is_a_run_flag() {
    let accepted = run_flags();
    let mut rendered = BTreeMap::new();
    for file in [
        "deploy/chart/templates/_helpers.tpl",
        "deploy/chart/templates/deployment.yaml",
    ] {
        for (i, line) in read(file).lines().enumerate() {
            let Some(arg) = line.trim().strip_prefix("- --") else {
                continue;
            };
            let flag: String = arg
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            rendered.insert(format!("--{flag}"), format!("{file}:{}", i + 1));
        }
    }
    // The chart renders these in some configuration (the list keeps the scan honest).
    for flag in [
        "--config",
        "--watch-namespace",
        "--admin-addr",
        "--leader-elect",
        "--lease-name",
        "--lease-timings",
        "--lease-namespace",
        "--kube-api-qps",
        "--kube-api-burst",
        "--sharding",
    ] {
        assert!(
            rendered.contains_key(flag),
            "the chart no longer renders {flag}"
        );
    }
    let unknown: Vec<String> = rendered
        .iter()
        .filter(|(flag, _)| !accepted.contains(*flag))
        .map(|(flag, at)| format!("{flag} ({at})"))
        .collect();
    assert!(
        unknown.is_empty(),
        "deploy/chart renders flags that `scalerd run` does not accept: {} (`--sharding` comes \
         with the sharding branch: `sharding.enabled: true` renders it)",
        unknown.join(", ")
    );
}

#[test]
fn the_arguments_each_configuration_renders_parse_as_scalerd_run() {
    use clap::Parser;
    use scalerd::cli::{Cli, Command as Sub};
    let Some(out) = helm_py(&["args"]) else {
        return;
    };
    let configurations: BTreeMap<String, Vec<String>> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        configurations
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["cluster-two-namespaces", "default", "file", "sharding"]
    );
    for (name, args) in &configurations {
        let cli = Cli::try_parse_from(
            std::iter::once("scalerd").chain(args.iter().map(String::as_str)),
        )
        .unwrap_or_else(|e| {
            panic!(
                "configuration {name} (deploy/chart/ci/{name}-values.yaml) renders arguments \
                     `scalerd run` refuses: {args:?}: {e} (`--sharding` comes with the sharding \
                     branch)"
            )
        });
        let Sub::Run {
            config,
            watch_namespace,
            admin_addr,
            leader_elect,
            lease_namespace,
            kube_api_qps,
            ..
        } = cli.command
        else {
            panic!("configuration {name}: not `scalerd run`");
        };
        assert_eq!(admin_addr.to_string(), "0.0.0.0:9102", "{name}");
        assert_eq!(lease_namespace.as_deref(), Some("scalers"), "{name}");
        match name.as_str() {
            "default" => {
                assert_eq!((config, watch_namespace), (None, vec![]));
                assert_eq!(leader_elect, Some(true));
                assert_eq!(kube_api_qps, 50.0);
            }
            "cluster-two-namespaces" => {
                assert_eq!(config, None);
                assert_eq!(watch_namespace, ["shop", "billing"]);
                assert_eq!(kube_api_qps, 20.0);
            }
            "file" => {
                assert_eq!(config, Some(PathBuf::from("/etc/scalerd/scalerd.yaml")));
                assert_eq!(leader_elect, Some(true));
            }
            "sharding" => {
                assert!(args.contains(&"--sharding".to_owned()), "{args:?}");
                assert_eq!(leader_elect, None, "sharding renders no --leader-elect");
            }
            _ => unreachable!(),
        }
    }
}

// ---- deploy/ ----------------------------------------------------------------------------------

#[test]
fn the_config_of_deploy_passes_check() {
    let docs = yaml_documents("deploy/configmap.yaml");
    let text = docs[0]["data"]["scalerd.yaml"].as_str().unwrap();
    let dir = support::Dir::new("packaging-config");
    let file = dir.write("scalerd.yaml", text);
    let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy/configmap.yaml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 scaled object"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_dockerfile_builds_the_binary_user_and_port_the_manifests_run() {
    let dockerfile = read("Dockerfile");
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(
        froms,
        [
            format!(
                "FROM rust:{}-bookworm AS build",
                workspace_field("rust-version")
            )
            .as_str(),
            "FROM scratch"
        ],
        "a build stage on the workspace's toolchain, then an empty image"
    );
    assert!(lines.contains(&"RUN cargo build --release --locked -p scalerd"));
    // The final stage holds what deploy/image-rootfs.sh assembles (`.ci/image-smoke.sh` runs
    // scalerd in it): the binary, its libraries, CA certificates, the time zone database.
    assert!(lines.contains(&"RUN sh deploy/image-rootfs.sh target/release/scalerd /rootfs"));
    let last = dockerfile.rsplit("FROM ").next().unwrap();
    assert!(last.contains("COPY --from=build /rootfs/ /"), "{last}");
    let rootfs = read("deploy/image-rootfs.sh");
    for needed in [
        "\"$rootfs/usr/local/bin/scalerd\"",
        "ldd ",
        "/etc/ssl/certs/ca-certificates.crt",
        "/usr/share/zoneinfo",
        "scalerd:x:65532:65532:",
    ] {
        assert!(rootfs.contains(needed), "deploy/image-rootfs.sh: {needed}");
    }
    let instruction = |name: &str| -> String {
        lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("Dockerfile: no {name}"))
            .to_owned()
    };
    assert_eq!(instruction("ENTRYPOINT"), r#"["/usr/local/bin/scalerd"]"#);
    assert_eq!(instruction("USER"), "65532:65532");
    assert_eq!(instruction("EXPOSE"), "9102");

    // What deploy/ (rendered from the chart) runs.
    let deployment = &yaml_documents("deploy/deployment.yaml")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["runAsGroup"], 65532);
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"].as_str(),
        Some(format!("scalerd:{}", workspace_field("version")).as_str()),
        "the image the Dockerfile's instructions tag, at the workspace's version"
    );
    assert_eq!(container["ports"][0]["containerPort"], 9102);
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "run");
    assert!(args.contains(&"--admin-addr=0.0.0.0:9102"), "{args:?}");
    let chart = &yaml_documents("deploy/chart/Chart.yaml")[0];
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(workspace_field("version").as_str())
    );
}

// ---- RBAC: exactly what scalerd uses ------------------------------------------------------------

/// One rule of a bound Role or ClusterRole, where it applies.
#[derive(Debug)]
struct Rule {
    /// `Some(namespace)` for a rule bound by a RoleBinding; `None` for every namespace (a
    /// ClusterRoleBinding).
    namespace: Option<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

impl Rule {
    fn grants(&self, r: &Access) -> bool {
        let strings = |v: &[String], s: &str| v.iter().any(|x| x == s);
        let resource = match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        };
        let namespace_ok = match &self.namespace {
            None => true,
            Some(ns) => r.namespace.as_deref() == Some(ns),
        };
        namespace_ok
            && (strings(&self.groups, "*") || strings(&self.groups, &r.group))
            && (strings(&self.resources, &resource)
                || r.subresource
                    .as_ref()
                    .is_some_and(|sub| strings(&self.resources, &format!("*/{sub}"))))
            && strings(&self.verbs, &r.verb)
    }

    fn from_json(namespace: Option<String>, rule: &Value) -> Rule {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .unwrap_or_else(|| panic!("a rule without {key}: {rule}"))
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        Rule {
            namespace,
            groups: strings("apiGroups"),
            resources: strings("resources"),
            verbs: strings("verbs"),
        }
    }
}

/// What RBAC objects grant, as the authorizer sees it: the rules of each bound role, where
/// its binding applies them.
fn grants(docs: &[Value]) -> Vec<Rule> {
    let role = |kind: &str, name: &str, ns: Option<&str>| {
        docs.iter()
            .find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"] == name
                    && d["metadata"]["namespace"].as_str() == ns
            })
            .unwrap_or_else(|| panic!("no {kind} {name} for a binding"))
    };
    let mut out = Vec::new();
    for binding in docs {
        let namespace = match binding["kind"].as_str() {
            Some("ClusterRoleBinding") => None,
            Some("RoleBinding") => Some(binding["metadata"]["namespace"].as_str().unwrap()),
            _ => continue,
        };
        let kind = binding["roleRef"]["kind"].as_str().unwrap();
        let name = binding["roleRef"]["name"].as_str().unwrap();
        let role_ns = if kind == "Role" { namespace } else { None };
        for rule in role(kind, name, role_ns)["rules"].as_array().unwrap() {
            out.push(Rule::from_json(namespace.map(str::to_owned), rule));
        }
    }
    out
}

/// What `deploy/rbac.yaml` grants.
fn deploy_grants() -> Vec<Rule> {
    let docs: Vec<Value> = yaml_documents("deploy/rbac.yaml")
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect();
    grants(&docs)
}

/// What a request asks of the authorizer, as Kubernetes' request info reads a path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Access {
    group: String,
    resource: String,
    subresource: Option<String>,
    namespace: Option<String>,
    verb: String,
}

/// The resource request of `method path?query`, or `None` for a non-resource path (discovery:
/// `/api`, `/apis`, `/apis/<group>[/<version>]`, `/version`).
fn access(method: &str, path: &str, watch: bool) -> Option<Access> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] if !rest.is_empty() => ("", rest),
        ["apis", group, _version, rest @ ..] if !rest.is_empty() => (*group, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        rest => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub] => (*resource, Some(*name), Some((*sub).to_owned())),
        _ => panic!("unexpected path {path}"),
    };
    let verb = match (method, name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => panic!("unexpected method {method} {path}"),
    };
    Some(Access {
        group: group.to_owned(),
        resource: resource.to_owned(),
        subresource,
        namespace,
        verb: verb.to_owned(),
    })
}

#[test]
fn access_reads_paths_as_the_api_server_does() {
    let a = |m, p, w| access(m, p, w).unwrap();
    assert_eq!(
        a(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            false
        ),
        Access {
            group: "apps".into(),
            resource: "deployments".into(),
            subresource: Some("scale".into()),
            namespace: Some("shop".into()),
            verb: "patch".into()
        }
    );
    assert_eq!(
        a("GET", "/api/v1/namespaces/shop/secrets/s", false).verb,
        "get"
    );
    assert_eq!(
        a("GET", "/apis/autoscaling/v2/horizontalpodautoscalers", true).verb,
        "watch"
    );
    let cta = a(
        "GET",
        "/apis/keda.sh/v1alpha1/clustertriggerauthentications",
        false,
    );
    assert_eq!((cta.namespace, cta.verb.as_str()), (None, "list"));
    assert_eq!(access("GET", "/apis/apps/v1", false), None);
    assert_eq!(access("GET", "/api", false), None);
}

/// A workload of `resource` in `shop` whose first container reads `REDIS_ADDR` from ConfigMap
/// `redis-conf`.
fn workload(fake: &FakeApiServer, resource: &FakeResource, name: &str) {
    fake.put_object(
        resource,
        "shop",
        json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "env": [
                        {"name": "REDIS_ADDR", "valueFrom": {"configMapKeyRef": {"name": "redis-conf", "key": "addr"}}},
                    ]}]},
                },
            },
            "status": {},
        }),
    );
}

/// A ScaledObject `shop/<name>` on `target` with a redis-list trigger whose credentials come
/// from authentication `auth` (`kind`: TriggerAuthentication or ClusterTriggerAuthentication).
/// A ScaledJob on `key` (35 items, 100 per Job: one Job), with credentials from `auth`, that
/// keeps no succeeded Job; strategy `accurate` with `pendingPodConditions` (which reads the
/// Jobs' pods) for a TriggerAuthentication.
fn scaled_job(name: &str, address: &str, key: &str, auth: (&str, &str)) -> Value {
    let strategy = if auth.0 == "TriggerAuthentication" {
        json!({"strategy": "accurate", "pendingPodConditions": ["Ready"]})
    } else {
        json!({})
    };
    json!({
        "metadata": {"name": name},
        "spec": {
            "pollingInterval": 1,
            "maxReplicaCount": 1,
            "successfulJobsHistoryLimit": 0,
            "scalingStrategy": strategy,
            "jobTargetRef": {"template": {"spec": {"containers": [{"name": "w", "image": "busybox"}]}}},
            "triggers": [{
                "type": "redis",
                "authenticationRef": {"kind": auth.0, "name": auth.1},
                "metadata": {"address": address, "listName": key, "listLength": "100"},
            }],
        },
    })
}

fn scaled_object(name: &str, target: Value, key: &str, auth: (&str, &str)) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": target,
            "pollingInterval": 1,
            "minReplicaCount": 1,
            "maxReplicaCount": 10,
            "triggers": [{
                "type": "redis",
                "name": "jobs",
                "authenticationRef": {"kind": auth.0, "name": auth.1},
                "metadata": {"addressFromEnv": "REDIS_ADDR", "listName": key, "listLength": "10"},
            }],
        },
    })
}

/// The requests of a cluster-mode daemon with leader election (watching `watch`, or every
/// namespace) that scales a Deployment, a StatefulSet and an Argo Rollout in `shop` with
/// credentials from a TriggerAuthentication and a ClusterTriggerAuthentication (Secrets) and
/// an address from the target's environment (a ConfigMap), next to an HPA, with one write that
/// meets a 409, and reports an invalid object twice (an Event, then its repeat); and two
/// ScaledJobs (one per kind of authentication), one of whose Jobs succeeds and is deleted.
async fn requests_of_a_daemon(watch: &[&str]) -> Vec<scalers_testkit::JournalEntry> {
    let redis = RedisServer::shared().await;
    let user = unique_name("rbac");
    redis.client().create_user(&user, "rbac-pw");
    let key = unique_name("jobs");
    set_list(&redis.client(), &key, 35);
    let fake = FakeApiServer::start().await;
    let creds: &[(&str, &[u8])] = &[("user", user.as_bytes()), ("pw", b"rbac-pw")];
    let secret_refs = json!([
        {"parameter": "username", "name": "redis-creds", "key": "user"},
        {"parameter": "password", "name": "redis-creds", "key": "pw"},
    ]);
    fake.put_secret("shop", "redis-creds", creds);
    // A ClusterTriggerAuthentication's Secrets live in scalerd's own namespace.
    fake.put_secret("scalers", "redis-creds", creds);
    fake.put_config_map("shop", "redis-conf", &[("addr", redis.address())]);
    fake.put_object(
        &FakeResource::TRIGGER_AUTHENTICATION,
        "shop",
        json!({"metadata": {"name": "redis-auth"}, "spec": {"secretTargetRef": secret_refs}}),
    );
    fake.put_object(
        &FakeResource::CLUSTER_TRIGGER_AUTHENTICATION,
        "",
        json!({"metadata": {"name": "redis-auth"}, "spec": {"secretTargetRef": secret_refs}}),
    );
    // Every kind of workload the ClusterRole names, an HPA elsewhere, and a bad object.
    workload(&fake, &FakeResource::DEPLOYMENT, "web");
    workload(&fake, &FakeResource::STATEFUL_SET, "db");
    workload(&fake, &FakeResource::ROLLOUT, "canary");
    // Its definition, for the replica paths of the watched Rollouts.
    fake.put_scalable_crd(&FakeResource::ROLLOUT);
    fake.put_hpa("shop", "other", "apps/v1", "Deployment", "other");
    // One write loses a race (409): it reads `/scale` again before retrying. (Replica counts
    // otherwise come from the watches: no other read of `/scale`.)
    fake.inject(
        Fault::status(409)
            .on(
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            )
            .times(1),
    );
    let ta = ("TriggerAuthentication", "redis-auth");
    let cta = ("ClusterTriggerAuthentication", "redis-auth");
    let so = FakeResource::SCALED_OBJECT;
    fake.put_object(
        &so,
        "shop",
        scaled_object("web", json!({"name": "web"}), &key, ta),
    );
    fake.put_object(
        &so,
        "shop",
        scaled_object(
            "db",
            json!({"kind": "StatefulSet", "name": "db"}),
            &key,
            cta,
        ),
    );
    fake.put_object(
        &so,
        "shop",
        scaled_object(
            "canary",
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "canary"}),
            &key,
            ta,
        ),
    );
    let bad = |generation: u32| {
        json!({
            "metadata": {"name": "bad"},
            "spec": {
                "scaleTargetRef": {"name": "web"},
                "pollingInterval": 10 + generation,
                "triggers": [{"type": "no-such-type"}],
            },
        })
    };
    fake.put_object(&so, "shop", bad(1));
    for (name, auth) in [("sj-ta", ta), ("sj-cta", cta)] {
        fake.put_object(
            &FakeResource::SCALED_JOB,
            "shop",
            scaled_job(name, redis.address(), &key, auth),
        );
    }

    let mut opts = scalerd::daemon::RunOptions::cluster();
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(kube_client(&fake));
    opts.leader_elect = Some(true);
    opts.namespace = "scalers".into();
    opts.identity = "scalerd-0".into();
    opts.watch_namespaces = watch.iter().map(|ns| (*ns).to_owned()).collect();
    let daemon = Daemon::start(opts).await;
    for (resource, name) in [
        (FakeResource::DEPLOYMENT, "web"),
        (FakeResource::STATEFUL_SET, "db"),
        (FakeResource::ROLLOUT, "canary"),
    ] {
        eventually(Duration::from_secs(30), || async {
            match fake.replicas(&resource, "shop", name) {
                Some(4) => Ok(()),
                n => Err(format!("{name}: {n:?} replicas")),
            }
        })
        .await;
    }
    // The same check failure in a new version: the recorder counts it on the first Event (a
    // patch of its series).
    eventually(Duration::from_secs(10), || async {
        let posted = fake
            .requests("POST", "/apis/events.k8s.io/v1/namespaces/shop/events")
            .iter()
            .any(|e| e.succeeded() && e.body.contains("ScaledObjectCheckFailed"));
        if posted {
            Ok(())
        } else {
            Err("no ScaledObjectCheckFailed Event yet")
        }
    })
    .await;
    fake.put_object(&so, "shop", bad(2));
    eventually(Duration::from_secs(10), || async {
        let patched = fake
            .requests("PATCH", "/apis/events.k8s.io/v1/namespaces/shop/events/*")
            .iter()
            .any(|e| e.succeeded());
        if patched {
            Ok(())
        } else {
            Err("no Event counted as a repeat yet")
        }
    })
    .await;
    // A renewal of the Lease.
    eventually(Duration::from_secs(10), || async {
        if fake
            .requests(
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/scalers/leases/scalerd",
            )
            .iter()
            .any(|e| e.succeeded())
        {
            Ok(())
        } else {
            Err("the Lease was not renewed")
        }
    })
    .await;
    // Each ScaledJob creates its Job; one succeeds and, beyond the history limit of 0, goes.
    let label = "scaledjob.keda.sh/name";
    for name in ["sj-ta", "sj-cta"] {
        eventually(Duration::from_secs(20), || async {
            match fake.jobs_labelled("shop", label, name).len() {
                0 => Err(format!("no Job of {name} yet")),
                _ => Ok(()),
            }
        })
        .await;
    }
    let job = fake.jobs_labelled("shop", label, "sj-ta")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.set_job_state("shop", &job, JobState::Succeeded);
    eventually(Duration::from_secs(20), || async {
        let deleted = fake
            .requests(
                "DELETE",
                &format!("/apis/batch/v1/namespaces/shop/jobs/{job}"),
            )
            .iter()
            .any(|e| e.succeeded());
        if deleted {
            Ok(())
        } else {
            Err(format!("{job} was not deleted"))
        }
    })
    .await;
    daemon.stop().await;
    fake.journal()
}

/// Every request in `journal` is granted by `rules`, and every group, resource and verb that
/// `rules` grant is asked for by some request.
fn assert_grants_exactly(rules: &[Rule], journal: &[scalers_testkit::JournalEntry], rbac: &str) {
    let mut used = BTreeSet::new();
    let mut denied = BTreeSet::new();
    for e in journal {
        let Some(a) = access(&e.method, &e.path, e.is_watch()) else {
            assert_eq!(e.method, "GET", "a write to a non-resource path: {e}");
            continue;
        };
        if !rules.iter().any(|r| r.grants(&a)) {
            denied.insert(format!("{} {} ({a:?})", e.method, e.path));
        }
        used.insert(a);
    }
    assert!(
        denied.is_empty(),
        "{rbac} does not grant what scalerd asked:\n{}",
        denied.into_iter().collect::<Vec<_>>().join("\n")
    );
    let mut unused = Vec::new();
    for rule in rules {
        for group in &rule.groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    let one = Rule {
                        namespace: rule.namespace.clone(),
                        groups: vec![group.clone()],
                        resources: vec![resource.clone()],
                        verbs: vec![verb.clone()],
                    };
                    // A rule bound in several namespaces counts as used when used in one.
                    let anywhere = Rule {
                        namespace: None,
                        ..one
                    };
                    if !used.iter().any(|a| anywhere.grants(a)) {
                        unused.push(format!("{group:?} {resource} {verb}"));
                    }
                }
            }
        }
    }
    unused.dedup();
    assert!(
        unused.is_empty(),
        "{rbac} grants what scalerd never asked for here: {}",
        unused.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_rbac_grants_exactly_what_scalerd_uses() {
    let journal = requests_of_a_daemon(&[]).await;
    assert_grants_exactly(
        &deploy_grants(),
        &journal,
        "deploy/rbac.yaml (rendered from deploy/chart)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rbac_rendered_for_two_watched_namespaces_grants_exactly_what_scalerd_uses() {
    let Some(out) = helm_py(&["rbac", "cluster-two-namespaces"]) else {
        return;
    };
    let rendered: Vec<Value> = serde_json::from_str(&out).unwrap();
    let rules: Vec<Rule> = rendered
        .iter()
        .map(|g| Rule::from_json(g["namespace"].as_str().map(str::to_owned), g))
        .collect();
    // RoleBindings in the watched namespaces and scalerd's own; nothing cluster-wide but the
    // cluster-scoped ClusterTriggerAuthentications and CustomResourceDefinitions.
    let cluster_wide: Vec<&Vec<String>> = rules
        .iter()
        .filter(|r| r.namespace.is_none())
        .map(|r| &r.resources)
        .collect();
    assert_eq!(
        cluster_wide,
        [
            &vec!["customresourcedefinitions".to_owned()],
            &vec!["clustertriggerauthentications".to_owned()]
        ]
    );
    let journal = requests_of_a_daemon(&["shop", "billing"]).await;
    assert_grants_exactly(
        &rules,
        &journal,
        "the RBAC of deploy/chart/ci/cluster-two-namespaces-values.yaml",
    );
}
