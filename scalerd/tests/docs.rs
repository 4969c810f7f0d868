//! The docs cannot rot: every command in a ```bash block of `docs/*.md` and `README.md` runs
//! (against the built binary, with a Redis of this test's own where the docs use one), and the
//! reference pages agree with the code: every registered trigger type and its parameters, every
//! metric and its labels, every event reason, every `scalerd run` flag and every RBAC rule.
//!
//! A command that cannot run here must say why on its line: `# needs a cluster`, or
//! `# run by <file>` naming the test that runs it; a command `.ci/run` runs (such as the test
//! command) is recognised in `.ci/run` itself.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use scalers_core::config::model::{ScaledObject, TriggerSpec};
use scalers_core::trigger::BuildContext;
use scalers_testkit::{RedisOptions, RedisServer, unique_name};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The pages of `docs/`, sorted.
fn doc_pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_str().unwrap()))
        .collect();
    pages.sort();
    pages
}

/// The `##` sections of a page: (heading, body).
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            out.push((heading.to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The section of `page` whose heading contains `needle`.
fn section<'a>(all: &'a [(String, String)], needle: &str, page: &str) -> &'a str {
    all.iter()
        .find(|(h, _)| h.contains(needle))
        .map(|(_, body)| body.as_str())
        .unwrap_or_else(|| panic!("{page}: no section whose heading has {needle}"))
}

#[test]
fn the_guides_exist() {
    assert_eq!(
        doc_pages(),
        [
            "docs/RELIABILITY.md",
            "docs/migrating-from-keda.md",
            "docs/operations.md",
            "docs/quickstart.md",
            "docs/triggers.md"
        ]
    );
}

// ---- trigger reference --------------------------------------------------------------------------

/// Parameters a type reads but does not require, by type: the reference must name them. The
/// required ones are found by building each type (see [`required_parameters`]).
const OPTIONAL: &[(&str, &[&str])] = &[
    (
        "prometheus",
        &[
            "activationThreshold",
            "namespace",
            "customHeaders",
            "queryParameters",
            "ignoreNullValues",
            "unsafeSsl",
            "timeout",
            "authModes",
            "bearerToken",
            "username",
            "password",
            "ca",
            "cert",
            "key",
            "customAuthHeader",
            "customAuthValue",
        ],
    ),
    (
        "metrics-api",
        &[
            "format",
            "activationTargetValue",
            "unsafeSsl",
            "timeout",
            "authMode",
            "authModes",
            "apiKey",
            "method",
            "keyParamName",
            "token",
            "bearerToken",
            "username",
            "password",
            "ca",
            "cert",
            "key",
            "customAuthHeader",
            "customAuthValue",
            "aggregateFromKubeServiceEndpoints",
        ],
    ),
    ("redis", REDIS_LIST_OPTIONAL),
    ("redis-cluster", REDIS_LIST_OPTIONAL),
    ("redis-sentinel", REDIS_LIST_OPTIONAL),
    ("redis-streams", REDIS_STREAM_OPTIONAL),
    ("redis-cluster-streams", REDIS_STREAM_OPTIONAL),
    ("redis-sentinel-streams", REDIS_STREAM_OPTIONAL),
    (
        "kafka",
        &[
            "topic",
            "lagThreshold",
            "activationLagThreshold",
            "offsetResetPolicy",
            "allowIdleConsumers",
            "scaleToZeroOnInvalidOffset",
            "excludePersistentLag",
            "limitToPartitionsWithLag",
            "ensureEvenDistributionOfPartitions",
            "partitionLimitation",
            "tls",
            "ca",
            "cert",
            "key",
            "keyPassword",
            "unsafeSsl",
            "sasl",
            "username",
            "password",
            "oauthToken",
            "oauthTokenEndpointUri",
        ],
    ),
    ("cron", &[]),
    ("external", EXTERNAL_OPTIONAL),
    ("external-push", EXTERNAL_OPTIONAL),
];

const REDIS_CONNECTION: &[&str] = &[
    "address",
    "addresses",
    "host",
    "port",
    "hosts",
    "ports",
    "username",
    "password",
    "databaseIndex",
    "sentinelMaster",
    "sentinelUsername",
    "sentinelPassword",
    "enableTLS",
    "tls",
    "unsafeSsl",
    "ca",
    "cert",
    "key",
    "keyPassword",
];
const REDIS_LIST_OPTIONAL: &[&str] = &["listLength", "activationListLength"];
const REDIS_STREAM_OPTIONAL: &[&str] = &[
    "consumerGroup",
    "lagCount",
    "pendingEntriesCount",
    "streamLength",
    "activationLagCount",
];
const EXTERNAL_OPTIONAL: &[&str] = &[
    "enableTLS",
    "unsafeSsl",
    "caCert",
    "tlsClientCert",
    "tlsClientKey",
    "timeout",
    "targetValue",
];

/// The parameters trigger type `kind` requires: builds it with empty metadata, then again with
/// each parameter reported missing set to a stand-in, until no new one is reported.
fn required_parameters(registry: &scalers_core::trigger::Registry, kind: &str) -> Vec<String> {
    let mut metadata = BTreeMap::new();
    let mut found = Vec::new();
    for _ in 0..5 {
        let mut spec = TriggerSpec::new(kind);
        spec.metadata = metadata.clone();
        let mut object = ScaledObject::new("docs", "docs");
        object.triggers.push(spec);
        let Err(errors) = registry.build(BuildContext::new(&object, 0)) else {
            break;
        };
        let missing: Vec<String> = errors
            .iter()
            .filter(|e| e.message.starts_with("required parameter is missing"))
            .filter_map(|e| e.path.strip_prefix("metadata."))
            .filter(|name| !metadata.contains_key(*name))
            .map(str::to_owned)
            .collect();
        if missing.is_empty() {
            break;
        }
        for name in missing {
            metadata.insert(name.clone(), "1".to_owned());
            found.push(name);
        }
    }
    found
}

#[test]
fn the_trigger_reference_covers_every_type_and_parameter() {
    let page = read("docs/triggers.md");
    let all = sections(&page);
    let registry = scalerd::builtin_registry();
    let types: Vec<&str> = registry.types().collect();
    let listed: Vec<&str> = OPTIONAL.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        types.iter().copied().collect::<BTreeSet<_>>(),
        listed.iter().copied().collect::<BTreeSet<_>>(),
        "every registered type needs an entry in OPTIONAL (and a section in docs/triggers.md)"
    );
    for kind in types {
        let body = section(&all, &format!("`{kind}`"), "docs/triggers.md");
        let required = required_parameters(&registry, kind);
        assert!(!required.is_empty(), "{kind}: no required parameter found");
        let optional = OPTIONAL.iter().find(|(t, _)| *t == kind).unwrap().1;
        let connection: &[&str] = if kind.starts_with("redis") {
            REDIS_CONNECTION
        } else {
            &[]
        };
        for name in required
            .iter()
            .map(String::as_str)
            .chain(optional.iter().copied())
            .chain(connection.iter().copied())
        {
            assert!(
                body.contains(&format!("`{name}`")),
                "docs/triggers.md: the section of `{kind}` does not name `{name}`"
            );
        }
        for name in &required {
            assert!(
                body.lines()
                    .any(|l| l.starts_with(&format!("| `{name}` |")) && l.contains("(required")),
                "docs/triggers.md: `{kind}`: `{name}` is required, its row must say so"
            );
        }
    }
}

// ---- operations: metrics, events, flags, RBAC ---------------------------------------------------

/// The metric names `scalerd/src/daemon/metrics.rs` registers (the first string after each
/// `registry.register(`).
fn registered_metric_names() -> Vec<String> {
    let source = read("scalerd/src/daemon/metrics.rs");
    source
        .split("registry.register(")
        .skip(1)
        .filter_map(|rest| rest.split('"').nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn every_metric_is_documented_with_its_labels() {
    use scalerd::daemon::metrics::{
        DecisionLabels, Metrics, ObjectLabels, TargetErrorLabels, TriggerErrorLabels,
        TriggerLabels, TriggerTypeLabels, label,
    };
    let m = Metrics::new();
    let trigger = TriggerLabels {
        namespace: label("n"),
        scaled_object: label("o"),
        trigger: label("t"),
        r#type: label("redis"),
    };
    let object = ObjectLabels {
        namespace: label("n"),
        scaled_object: label("o"),
    };
    // One series of every family, so that each is encoded with its labels.
    m.trigger_value.get_or_create(&trigger).set(1.0);
    m.trigger_active.get_or_create(&trigger).set(1);
    m.trigger_no_data.get_or_create(&trigger).inc();
    m.trigger_latency.get_or_create(&trigger).set(0.1);
    m.sample_duration
        .get_or_create(&TriggerTypeLabels {
            r#type: label("redis"),
        })
        .observe(0.1);
    m.trigger_errors
        .get_or_create(&TriggerErrorLabels {
            namespace: label("n"),
            scaled_object: label("o"),
            trigger: label("t"),
            kind: "timeout",
        })
        .inc();
    m.desired_replicas.get_or_create(&object).set(1);
    m.current_replicas.get_or_create(&object).set(1);
    m.last_decision
        .get_or_create(&DecisionLabels {
            namespace: label("n"),
            scaled_object: label("o"),
            reason: "Activated",
        })
        .set(1);
    m.target_errors
        .get_or_create(&TargetErrorLabels {
            namespace: label("n"),
            scaled_object: label("o"),
            kind: "conflict",
        })
        .inc();
    m.loop_lateness.observe(0.1);
    m.reload_failures.inc();
    m.leader.set(1);
    m.events_queued.set(1);
    m.events_dropped.inc();
    m.events_aggregated.inc();
    m.ticks_abandoned.inc();
    m.trigger_rebuilds.inc();
    let job = scalerd::daemon::metrics::JobLabels {
        namespace: label("n"),
        scaled_job: label("j"),
    };
    m.jobs_created.get_or_create(&job).inc();
    m.job_create_failures.get_or_create(&job).inc();
    let scale = scalerd::daemon::metrics::PriorityLabels { priority: "scale" };
    m.kube_api_waiting.get_or_create(&scale).set(0);
    m.kube_api_wait.get_or_create(&scale).observe(0.01);
    m.object_owner
        .get_or_create(&scalerd::daemon::metrics::OwnerLabels {
            namespace: label("n"),
            scaled_object: label("o"),
            owner: label("scalerd-a"),
        })
        .set(1);
    m.shards_held.set(11);
    m.shard_members.set(3);
    let text = m.encode();

    // family name → (type, label names)
    let mut families: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.insert(name.to_owned(), (kind.to_owned(), BTreeSet::new()));
        } else if !line.starts_with('#') && !line.is_empty() {
            let (series, _) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let family = families
                .keys()
                .filter(|f| name.starts_with(f.as_str()))
                .max_by_key(|f| f.len())
                .cloned()
                .unwrap_or_else(|| panic!("{name} belongs to no family"));
            for pair in labels
                .trim_end_matches('}')
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let label = pair.split_once('=').unwrap().0;
                if label != "le" {
                    families
                        .get_mut(&family)
                        .unwrap()
                        .1
                        .insert(label.to_owned());
                }
            }
        }
    }
    let registered: BTreeSet<String> = registered_metric_names()
        .into_iter()
        .map(|n| format!("scalers_{n}"))
        .collect();
    assert_eq!(
        families.keys().cloned().collect::<BTreeSet<_>>(),
        registered,
        "a metric of scalerd/src/daemon/metrics.rs is not populated above"
    );

    let page = read("docs/operations.md");
    let all = sections(&page);
    let table = section(&all, "Metrics", "docs/operations.md");
    for (family, (kind, labels)) in &families {
        let exposed = if kind == "counter" {
            format!("{family}_total")
        } else {
            family.clone()
        };
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| `{exposed}` |")))
            .unwrap_or_else(|| panic!("docs/operations.md: no row for `{exposed}`"));
        assert!(row.contains(&format!("| {kind} |")), "{row}");
        let documented: BTreeSet<String> = row
            .split('|')
            .nth(3)
            .unwrap()
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_owned())
            .filter(|l| !l.is_empty() && l != "none")
            .collect();
        assert_eq!(
            &documented, labels,
            "docs/operations.md: labels of `{exposed}`"
        );
    }
    let rows = table
        .lines()
        .filter(|l| l.starts_with("| `scalers_"))
        .count();
    assert_eq!(
        rows,
        families.len(),
        "docs/operations.md: a row for a metric that does not exist"
    );
}

#[test]
fn every_event_reason_is_documented() {
    use scalerd::kube::reason;
    let page = read("docs/operations.md");
    let all = sections(&page);
    let table = section(&all, "Events", "docs/operations.md");
    for r in [
        reason::TARGET_ACTIVATED,
        reason::TARGET_DEACTIVATED,
        reason::SUCCESSFUL_RESCALE,
        reason::FAILED_RESCALE,
        reason::SCALER_FAILED,
        reason::FALLBACK_ACTIVATED,
        reason::FALLBACK_DEACTIVATED,
        reason::CHECK_FAILED,
        reason::JOBS_CREATED,
        reason::JOB_CREATE_FAILED,
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("| `{r}` |"))),
            "docs/operations.md: no row for event reason `{r}`"
        );
    }
    assert_eq!(
        table.lines().filter(|l| l.starts_with("| `")).count(),
        10,
        "docs/operations.md: an event reason scalerd does not record"
    );
}

#[test]
fn every_run_flag_is_documented() {
    let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let flags: BTreeSet<String> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .filter(|w| w != "--help")
        .collect();
    assert!(
        flags.contains("--dry-run") && flags.contains("--lease-timings"),
        "{flags:?}"
    );
    let page = read("docs/operations.md");
    let all = sections(&page);
    let table = section(&all, "`scalerd run` flags", "docs/operations.md");
    let documented: BTreeSet<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `--"))
        .map(|l| format!("--{}", l.split('`').next().unwrap()))
        .collect();
    assert_eq!(documented, flags, "docs/operations.md: `scalerd run` flags");
}

#[test]
fn every_rbac_rule_is_documented() {
    let page = read("docs/operations.md");
    let all = sections(&page);
    let table = section(&all, "RBAC", "docs/operations.md");
    let text = read("deploy/rbac.yaml");
    let mut rules = 0;
    for document in serde_norway::Deserializer::from_str(&text) {
        let doc: serde_norway::Value = serde::Deserialize::deserialize(document).unwrap();
        let Some(list) = doc.get("rules").and_then(|r| r.as_sequence()) else {
            continue;
        };
        for rule in list {
            let strings = |key: &str| -> Vec<String> {
                rule[key]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect()
            };
            for resource in strings("resources") {
                rules += 1;
                let row = table
                    .lines()
                    .find(|l| l.starts_with('|') && l.contains(&format!("`{resource}`")))
                    .unwrap_or_else(|| panic!("docs/operations.md: no RBAC row for {resource}"));
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                for group in strings("apiGroups") {
                    let shown = if group.is_empty() {
                        "\"\""
                    } else {
                        group.as_str()
                    };
                    assert!(
                        cells[1].contains(&format!("`{shown}`")),
                        "{resource}: {row}"
                    );
                }
                let verbs: BTreeSet<String> = cells[3]
                    .split(',')
                    .map(|v| v.trim().trim_matches('`').to_owned())
                    .collect();
                assert_eq!(
                    verbs,
                    strings("verbs").into_iter().collect(),
                    "{resource}: {row}"
                );
            }
        }
    }
    assert_eq!(
        rules, 18,
        "deploy/rbac.yaml changed: update the RBAC section"
    );
}

// ---- commands -----------------------------------------------------------------------------------

/// One command of a ```bash block: its text (continuations joined) and its trailing comment.
#[derive(Debug)]
struct DocCommand {
    page: String,
    line: usize,
    text: String,
    comment: String,
}

/// The commands of the ```bash blocks of `page`.
fn commands(page: &str) -> Vec<DocCommand> {
    let text = read(page);
    let mut out = Vec::new();
    let mut in_bash = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_bash = !in_bash && trimmed == "```bash";
            continue;
        }
        if !in_bash || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        joined.push_str(trimmed.trim_end_matches('\\').trim_end());
        if trimmed.ends_with('\\') {
            joined.push(' ');
            pending = Some((start, joined));
            continue;
        }
        let (text, comment) = split_comment(&joined);
        out.push(DocCommand {
            page: page.to_owned(),
            line: start,
            text,
            comment,
        });
    }
    out
}

/// `command  # comment` → (command, comment); a `#` inside quotes is not a comment.
fn split_comment(line: &str) -> (String, String) {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => {
                return (line[..i].trim().to_owned(), line[i + 1..].trim().to_owned());
            }
            _ => {}
        }
        previous = c;
    }
    (line.trim().to_owned(), String::new())
}

/// Shell words: whitespace-separated, with single and double quotes.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in text.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// Whether `.ci/run` runs `command`: each `&&`-separated part matches a line of `.ci/run` that
/// starts with the part's first two words and has all of its words.
fn run_by_ci(command: &str) -> bool {
    let ci = read(".ci/run").replace("\\\n", " ");
    let ci_lines: Vec<Vec<String>> = ci.lines().map(words).collect();
    command.split("&&").all(|part| {
        let part = words(part);
        part.len() >= 2
            && ci_lines.iter().any(|line| {
                line.len() >= 2 && line[..2] == part[..2] && part.iter().all(|w| line.contains(w))
            })
    })
}

/// A `scalerd run` started in the background by a doc.
struct Background {
    child: Child,
    /// `http://addr` of its admin server.
    url: String,
}

/// Runs the commands of one page, in order, in a scratch directory where `examples` and `docs`
/// point at the repository's.
struct Session {
    dir: PathBuf,
    env: Vec<(String, String)>,
    redis: Option<RedisServer>,
    background: Option<Background>,
    ran: usize,
}

impl Session {
    fn new(page: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(&format!(
            "scalerd-docs-{}",
            page.replace(['/', '.'], "-")
        )));
        std::fs::create_dir_all(&dir).unwrap();
        for link in ["examples", "docs"] {
            std::os::unix::fs::symlink(root().join(link), dir.join(link)).unwrap();
        }
        Session {
            dir,
            // No cluster: `run --dry-run` scales in-memory stand-ins.
            env: vec![("KUBECONFIG".into(), "/nonexistent/kubeconfig".into())],
            redis: None,
            background: None,
            ran: 0,
        }
    }

    /// The docs' Redis address, `127.0.0.1:6379`, mapped to this test's server.
    fn map(&self, text: &str) -> String {
        match &self.redis {
            Some(r) => text.replace("127.0.0.1:6379", r.address()),
            None => text.to_owned(),
        }
    }

    fn scalerd(&self, args: &[String]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_scalerd"));
        c.args(args).current_dir(&self.dir);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    async fn run(&mut self, cmd: &DocCommand) {
        let at = format!("{}:{}: {}", cmd.page, cmd.line, cmd.text);
        if cmd.comment.contains("needs a cluster") {
            return;
        }
        if let Some(file) = cmd.comment.strip_prefix("run by ") {
            assert!(root().join(file).is_file(), "{at}: no {file}");
            return;
        }
        let (text, background) = match cmd.text.strip_suffix('&') {
            Some(t) => (t.trim().to_owned(), true),
            None => (cmd.text.clone(), false),
        };
        let (text, redirect) = match text.split_once(" > ") {
            Some((t, file)) => (t.trim().to_owned(), Some(file.trim().to_owned())),
            None => (text, None),
        };
        let mut w = words(&self.map(&text));
        if w.len() > 5 && w[..5] == ["cargo", "run", "-q", "-p", "scalerd"] && w[5] == "--" {
            w.drain(..6);
            w.insert(0, "scalerd".into());
        }
        if w[0] != "scalerd" && run_by_ci(&text) {
            return;
        }
        match w[0].as_str() {
            "scalerd" => {
                self.scalerd_command(&at, &w[1..], background, redirect)
                    .await
            }
            "cargo" if w[1..] == ["build", "-p", "scalerd"] => {
                // `cargo test` built it before running this test.
                assert!(Path::new(env!("CARGO_BIN_EXE_scalerd")).is_file(), "{at}");
            }
            "export" => {
                let (name, value) = w[1].split_once('=').unwrap();
                if name != "PATH" {
                    self.env.push((name.to_owned(), value.to_owned()));
                }
            }
            "redis-server" => {
                // This test's own server stands in for it (and `127.0.0.1:6379` maps to it).
                self.redis = Some(RedisServer::start(RedisOptions::default()).await);
            }
            "redis-cli" => {
                let redis = self.redis.as_ref().unwrap_or_else(|| {
                    panic!("{at}: redis-cli before redis-server in the same page")
                });
                let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
                redis.client().cmd(&args);
            }
            "sleep" => {} // The next command waits for what it needs instead.
            "kill" if w[1] == "%1" => self.stop_background(&at),
            _ => panic!(
                "{at}: not a command this test runs; run it in `.ci/run`, or mark it \
                 `# needs a cluster` or `# run by <test file>`"
            ),
        }
        self.ran += 1;
    }

    async fn scalerd_command(
        &mut self,
        at: &str,
        args: &[String],
        background: bool,
        redirect: Option<String>,
    ) {
        let mut args = args.to_vec();
        if background {
            assert_eq!(
                args[0], "run",
                "{at}: only `scalerd run` goes to the background"
            );
            assert!(self.background.is_none(), "{at}: a daemon runs already");
            assert!(!args.iter().any(|a| a.starts_with("--admin-addr")), "{at}");
            // A free port instead of the default 9102; `scalerd status` is pointed at it.
            args.extend(["--admin-addr".into(), "127.0.0.1:0".into()]);
            let mut child = self
                .scalerd(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some((_, addr)) = line.split_once("admin server listening addr=") {
                        let _ = tx.send(addr.trim().to_owned());
                    }
                }
            });
            let addr = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("{at}: the daemon did not start its admin server"));
            self.background = Some(Background {
                child,
                url: format!("http://{addr}"),
            });
            return;
        }
        if args[0] == "status" && !args.iter().any(|a| a == "--url") {
            let url = match &self.background {
                Some(b) => b.url.clone(),
                None => panic!("{at}: scalerd status without a daemon"),
            };
            args.extend(["--url".into(), url]);
        }
        let out = self.wait_for_success(at, &args);
        if let Some(file) = redirect {
            std::fs::write(self.dir.join(&file), &out.stdout).unwrap();
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        match args[0].as_str() {
            "schema" => {
                let _: serde_json::Value =
                    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{at}: {e}"));
            }
            "simulate" => {
                assert!(stdout.starts_with("time,replicas,active,reason\n"), "{at}");
                if let Some(i) = args.iter().position(|a| a == "--plot") {
                    let svg = std::fs::read_to_string(self.dir.join(&args[i + 1])).unwrap();
                    roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{at}: {e}"));
                }
            }
            "probe" => {
                for line in stdout.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert!(v.get("value").is_some(), "{at}: {line}");
                }
            }
            "status" => assert!(stdout.starts_with("OBJECT "), "{at}: {stdout}"),
            _ => {}
        }
    }

    /// Runs scalerd until it exits 0: at once for most commands, retried for a while for
    /// `status` (the daemon is starting).
    fn wait_for_success(&self, at: &str, args: &[String]) -> Output {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.scalerd(args).output().unwrap();
            let ok = out.status.success();
            if ok || args[0] != "status" || Instant::now() > deadline {
                assert!(
                    ok,
                    "{at}: exit {:?}\nstdout: {}\nstderr: {}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                return out;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop_background(&mut self, at: &str) {
        let mut b = self
            .background
            .take()
            .unwrap_or_else(|| panic!("{at}: nothing runs in the background"));
        let pid = b.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success(), "{at}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = b.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{at}: the daemon did not stop");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{at}: the daemon exited with {status}");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut b) = self.background.take() {
            let _ = b.child.kill();
            let _ = b.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn run_page(page: &str) -> usize {
    let cmds = commands(page);
    let mut session = Session::new(page);
    for c in &cmds {
        session.run(c).await;
    }
    assert!(
        session.background.is_none(),
        "{page}: a daemon is left running"
    );
    session.ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_quickstart_runs() {
    let ran = run_page("docs/quickstart.md").await;
    assert_eq!(ran, 18, "docs/quickstart.md: commands run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_other_pages_and_the_readme_runs() {
    let mut ran = BTreeMap::new();
    for page in doc_pages()
        .into_iter()
        .filter(|p| p != "docs/quickstart.md")
        .chain(["README.md".to_owned()])
    {
        ran.insert(page.clone(), run_page(&page).await);
    }
    assert_eq!(
        ran,
        BTreeMap::from([
            ("README.md".to_owned(), 5),
            ("docs/RELIABILITY.md".to_owned(), 0),
            ("docs/migrating-from-keda.md".to_owned(), 5),
            ("docs/operations.md".to_owned(), 1),
            ("docs/triggers.md".to_owned(), 0),
        ])
    );
}

#[test]
fn commands_are_parsed_as_a_shell_would() {
    assert_eq!(
        words("redis-server --port 6379 --save '' --daemonize yes"),
        [
            "redis-server",
            "--port",
            "6379",
            "--save",
            "",
            "--daemonize",
            "yes"
        ]
    );
    assert_eq!(
        split_comment("scalerd run --config a.yaml  # needs a cluster"),
        (
            "scalerd run --config a.yaml".to_owned(),
            "needs a cluster".to_owned()
        )
    );
    assert_eq!(
        split_comment("echo 'a # b'"),
        ("echo 'a # b'".to_owned(), String::new())
    );
    assert!(run_by_ci(
        "cargo nextest run --workspace && cargo test --workspace --doc"
    ));
    assert!(run_by_ci("kubectl kustomize deploy/"));
    assert!(!run_by_ci("kubectl apply -k deploy/"));
}
