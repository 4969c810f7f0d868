//! Secrets kept: `scalerd run` (the binary, at trace log level) with a Redis password from an
//! `env` authentication source, a Prometheus bearer token from a Kubernetes Secret on the fake
//! API server, a password in a Prometheus URL and Kafka SASL credentials, while every one of
//! those sources fails (wrong password, refused token, unreachable). No secret value, nor its
//! base64 form, may appear in the process's logs, `/status`, `/metrics`, the Events or any
//! request it sent to the API server, nor in the output of `scalerd check` and `scalerd probe`.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use scalerd::daemon::status::Status;
use scalers_testkit::{
    FakeApiServer, FakeResource, HttpStub, RedisOptions, RedisServer, eventually, refused_url,
    unique_name,
};
use support::{Dir, ScalerdProcess, base64, free_port, get, k8s_name, kubeconfig};

/// Distinctive values: what is searched for is the random tail, so that even part of a value
/// would be found.
const REDIS_PASSWORD: &str = "redis-pw-Qx7Lm2Kd9Zr";
const PROM_TOKEN: &str = "prom-token-Wz4Rt8Hy3Vb";
const URL_PASSWORD: &str = "url-pw-Jn5Bv1Cs6Xe";
const KAFKA_PASSWORD: &str = "kafka-pw-Ty2Gh7Mp4Nq";

/// What must never be seen: each secret's random tail, and each whole secret in base64 (as a
/// Secret's data and a basic-auth header carry it).
fn needles() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for secret in [REDIS_PASSWORD, PROM_TOKEN, URL_PASSWORD, KAFKA_PASSWORD] {
        let tail = secret.rsplit('-').next().unwrap();
        out.push((secret.to_owned(), tail.to_owned()));
        out.push((format!("{secret} (base64)"), base64(secret.as_bytes())));
    }
    // HTTP basic auth as the URL's userinfo would send it.
    out.push((
        "the URL's basic credentials (base64)".to_owned(),
        base64(format!("scalers:{URL_PASSWORD}").as_bytes()),
    ));
    out
}

/// Fails, naming the output and the secret, if any secret shows in `text`.
fn assert_clean(what: &str, text: &str) {
    for (secret, needle) in needles() {
        if let Some(at) = text.find(&needle) {
            let start = text[..at]
                .char_indices()
                .rev()
                .nth(200)
                .map_or(0, |(i, _)| i);
            let end = (at + needle.len() + 200).min(text.len());
            let end = (end..=text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap();
            panic!("{what} shows {secret}:\n...{}...", &text[start..end]);
        }
    }
}

/// The environment every scalerd process of this test gets.
fn with_env(c: &mut Command) -> &mut Command {
    c.env("RUST_LOG", "trace")
        .env("SCALERS_TEST_REDIS_PASSWORD", REDIS_PASSWORD)
        .env("SCALERS_TEST_KAFKA_USER", "scalers")
        .env("SCALERS_TEST_KAFKA_PASSWORD", KAFKA_PASSWORD)
        .env_remove("KUBERNETES_SERVICE_HOST")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_show_while_their_sources_fail() {
    let redis = RedisServer::start(RedisOptions {
        password: Some("the-right-password".to_owned()),
        ..RedisOptions::default()
    })
    .await;
    let prometheus = HttpStub::respond(401, "text/plain", "unauthorized").await;
    let unreachable = refused_url();
    let unreachable_with_password =
        unreachable.replacen("http://", &format!("http://scalers:{URL_PASSWORD}@"), 1);
    let kafka = format!("127.0.0.1:{}", free_port());

    let fake = FakeApiServer::start().await;
    fake.put_secret("shop", "prom-auth", &[("token", PROM_TOKEN.as_bytes())]);
    let [jobs, orders, reports, events] = ["jobs", "orders", "reports", "events"].map(k8s_name);
    for name in [&jobs, &orders, &reports, &events] {
        fake.put_workload(&FakeResource::DEPLOYMENT, "shop", name, 1);
    }
    let object = |name: &str, auth: &str, kind: &str, metadata: &str| {
        format!(
            "  - name: {name}\n    namespace: shop\n    scaleTargetRef: {{name: {name}}}\n    pollingInterval: 1\n    triggers:\n      - type: {kind}\n        name: source\n{auth}        metadata: {metadata}\n"
        )
    };
    let auth = |name: &str| format!("        authenticationRef: {{name: {name}}}\n");
    let dir = Dir::new("secrets");
    let config = dir.write(
        "scalerd.yaml",
        &format!(
            "authentications:\n  - name: redis-auth\n    namespace: shop\n    env: [{{parameter: password, name: SCALERS_TEST_REDIS_PASSWORD}}]\n  - name: prom-auth\n    namespace: shop\n    secretTargetRef: [{{parameter: bearerToken, name: prom-auth, key: token}}]\n  - name: kafka-auth\n    namespace: shop\n    env:\n      - {{parameter: username, name: SCALERS_TEST_KAFKA_USER}}\n      - {{parameter: password, name: SCALERS_TEST_KAFKA_PASSWORD}}\nscaledObjects:\n{}{}{}{}",
            object(
                &jobs,
                &auth("redis-auth"),
                "redis",
                &format!("{{address: '{}', listName: '{}', listLength: '10'}}", redis.address(), unique_name("jobs"))
            ),
            object(
                &orders,
                &auth("prom-auth"),
                "prometheus",
                &format!("{{serverAddress: '{}', query: q, threshold: '10', authModes: bearer, timeout: '500'}}", prometheus.url())
            ),
            object(
                &reports,
                "",
                "prometheus",
                &format!("{{serverAddress: '{unreachable_with_password}', query: q, threshold: '10', timeout: '500'}}")
            ),
            object(
                &events,
                &auth("kafka-auth"),
                "kafka",
                &format!("{{bootstrapServers: '{kafka}', consumerGroup: g, topic: t, sasl: plaintext}}")
            ),
        ),
    );
    let kubeconfig = kubeconfig(&dir, &fake);
    let mut process = ScalerdProcess::spawn_with(&dir, "secrets", "trace", |c| {
        with_env(c)
            .args(["--leader-elect", "false", "--config"])
            .arg(&config)
            .arg("--kubeconfig")
            .arg(&kubeconfig);
    });
    let admin = process.admin.clone();

    // Every trigger fails, as intended, and says so.
    let expected = [
        (jobs.clone(), "unauthorized"),
        (orders.clone(), "unauthorized"),
        (reports.clone(), "unavailable"),
        (events.clone(), "timeout"),
    ];
    let status: Status = eventually(Duration::from_secs(30), || async {
        let body = reqwest::get(format!("{admin}/status"))
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let s: Status = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        let kinds: Vec<(String, String)> = s
            .objects
            .iter()
            .map(|o| {
                let name = o.scaled_object.trim_start_matches("shop/").to_owned();
                let kind = o.triggers.first().and_then(|t| t.error_kind.clone());
                (name, kind.unwrap_or_default())
            })
            .collect();
        let mut want: Vec<(String, String)> = expected
            .iter()
            .map(|(n, k)| (n.clone(), (*k).to_owned()))
            .collect();
        want.sort();
        if kinds == want {
            Ok(s)
        } else {
            Err(format!("{kinds:?}"))
        }
    })
    .await;
    assert_eq!(
        prometheus.requests()[0].header("authorization"),
        Some(format!("Bearer {PROM_TOKEN}").as_str()),
        "the token was read from the Secret and sent"
    );
    // One KEDAScalerFailed Event per object.
    let failed = eventually(Duration::from_secs(10), || async {
        let failed: Vec<_> = fake
            .events("shop")
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("KEDAScalerFailed"))
            .collect();
        if failed.len() == 4 {
            Ok(failed)
        } else {
            Err(failed.len())
        }
    })
    .await;
    assert!(
        failed.iter().any(|e| e.note.as_deref()
            == Some(&*format!(
                "source: redis {}: authentication failed for the default user",
                redis.address()
            ))),
        "{failed:#?}"
    );

    let status_text = get(&format!("{admin}/status")).await.1;
    let metrics_text = get(&format!("{admin}/metrics")).await.1;
    assert!(status.objects.iter().all(|o| o.last_error.is_some()));
    assert!(metrics_text.contains("scalers_trigger_errors_total"));

    // A clean stop, so that every log line is out.
    process.signal("TERM");
    let exit = eventually(Duration::from_secs(20), || {
        let exited = process.child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert_eq!(exit.code(), Some(0));
    let logs = process.log();
    assert!(logs.contains("TRACE"), "trace level is on");
    assert_eq!(
        logs.matches("trigger failed").count(),
        4,
        "one warning per trigger"
    );

    let events_text = serde_json::to_string_pretty(&fake.events("shop")).unwrap();
    let sent: String = fake
        .journal()
        .iter()
        .map(|e| {
            format!(
                "{} {}?{} {:?} {}\n",
                e.method,
                e.path,
                e.query.clone().unwrap_or_default(),
                e.user_agent,
                e.body
            )
        })
        .collect();

    // `check` and `probe` on the same config, with the same environment.
    let run = |args: &[&str]| {
        with_env(&mut Command::new(env!("CARGO_BIN_EXE_scalerd")))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .expect("scalerd runs")
    };
    let check = run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let probe = run(&["probe", "--timeout", "2"]);
    assert_eq!(probe.status.code(), Some(1), "{}", text(&probe));
    assert_eq!(String::from_utf8_lossy(&probe.stdout).lines().count(), 4);

    for (what, output) in [
        ("the daemon's log (trace level)", logs.as_str()),
        ("/status", status_text.as_str()),
        ("/metrics", metrics_text.as_str()),
        ("the Events", events_text.as_str()),
        ("the requests to the API server", sent.as_str()),
        ("scalerd check", text(&check).as_str()),
        ("scalerd probe", text(&probe).as_str()),
    ] {
        assert_clean(what, output);
    }
}

#[test]
fn the_admin_server_listens_on_loopback_unless_told_otherwise() {
    let opts = scalerd::daemon::RunOptions::new("scalerd.yaml".into());
    assert_eq!(opts.admin_addr.to_string(), "127.0.0.1:9102");
    assert_eq!(scalerd::daemon::DEFAULT_ADMIN_ADDR, "127.0.0.1:9102");
    let help = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args(["run", "--help"])
        .output()
        .expect("scalerd runs");
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("[default: 127.0.0.1:9102]"),
        "the --admin-addr default: {help}"
    );
}

/// The `rules:` of the RBAC manifests: (kind of the role, apiGroups, resources, verbs), read
/// from their one-line flow lists.
fn rbac_rules(text: &str) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let mut kind = String::new();
    let mut rule: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("kind: ") {
            kind = k.trim().to_owned();
        }
        let t = line.trim().trim_start_matches("- ");
        for key in ["apiGroups: ", "resources: ", "verbs: "] {
            if let Some(v) = t.strip_prefix(key) {
                rule.push(v.to_owned());
            }
        }
        if rule.len() == 3 {
            out.push((
                kind.clone(),
                rule[0].clone(),
                rule[1].clone(),
                rule[2].clone(),
            ));
            rule.clear();
        }
    }
    out
}

#[test]
fn the_deploy_manifests_run_unprivileged_with_least_privilege_rbac() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let deployment = std::fs::read_to_string(root.join("deployment.yaml")).unwrap();
    for setting in [
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [\"ALL\"]",
    ] {
        assert!(deployment.contains(setting), "deployment.yaml: {setting}");
    }
    let rbac = std::fs::read_to_string(root.join("rbac.yaml")).unwrap();
    let rules = rbac_rules(&rbac);
    assert!(rules.len() >= 5, "{rules:?}");
    for (kind, groups, resources, verbs) in &rules {
        let rule = format!("{kind} {groups} {resources} {verbs}");
        assert!(!verbs.contains("\"*\""), "no wildcard verb: {rule}");
        // Scaled jobs delete their own finished Jobs (history limits) and those of an old
        // template (rollout), as KEDA does: `delete` on batch Jobs, and nowhere else.
        let jobs_only = resources == "[\"jobs\"]" && groups == "[\"batch\"]";
        if !jobs_only {
            assert!(!verbs.contains("\"delete\""), "{rule}");
        }
        for verb in ["deletecollection", "escalate", "bind", "impersonate"] {
            assert!(!verbs.contains(&format!("\"{verb}\"")), "{rule}");
        }
        if resources.contains("secrets") {
            assert_eq!(verbs, "[\"get\"]", "Secrets are read by name only: {rule}");
        }
        if resources.contains("leases") {
            assert_eq!(
                kind, "Role",
                "the Lease lives in scalerd's namespace: {rule}"
            );
        }
        if resources.contains("/scale") {
            assert_eq!(verbs, "[\"get\", \"patch\"]", "{rule}");
        } else if groups.contains("apps") || groups.contains("argoproj.io") {
            assert_eq!(
                verbs, "[\"get\", \"list\", \"watch\"]",
                "workloads themselves are only read (and watched): {rule}"
            );
        }
    }
}
