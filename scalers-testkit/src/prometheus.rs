//! Prometheus and Pushgateway for tests: from `.ci/run`, or started once per test binary.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::OnceCell;

use crate::eventually;

/// Env var with the Prometheus base URL started by `.ci/run`.
pub const PROMETHEUS_URL_ENV: &str = "SCALERS_TEST_PROMETHEUS_URL";
/// Env var with the Pushgateway base URL started by `.ci/run`.
pub const PUSHGATEWAY_URL_ENV: &str = "SCALERS_TEST_PUSHGATEWAY_URL";

/// How long a started service may take to answer `/-/ready`.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long a pushed sample may take to become queryable (the first scrape takes ~5 s).
const QUERY_DEADLINE: Duration = Duration::from_secs(20);

static SHARED: OnceCell<PrometheusServices> = OnceCell::const_new();

/// A Prometheus server scraping a Pushgateway every second.
///
/// [`PrometheusServices::shared`] gives the one instance of the test binary: the services
/// `.ci/run` started (env vars [`PROMETHEUS_URL_ENV`] and [`PUSHGATEWAY_URL_ENV`]), or else
/// `prometheus` and `prometheus-pushgateway` (the Debian binaries) started on free loopback
/// ports in a temp dir.
///
/// Services started here die with the test process, however it ends: next to them runs a
/// watchdog shell whose stdin is a pipe from the test process. When the test process exits —
/// normally, on panic, or killed by SIGKILL, as a nextest timeout does — the kernel closes the
/// pipe, the watchdog reads end-of-file, kills the services and removes the temp dir. A `static`
/// is never dropped, so a `Drop` guard could not do this; `PR_SET_PDEATHSIG` would need
/// `unsafe`; a fixed `timeout` would leave them running long after a short test.
///
/// Each test owns its metric names and Pushgateway job names (see
/// [`unique_name`](crate::unique_name)), so tests share the services and run in parallel.
pub struct PrometheusServices {
    prometheus_url: String,
    pushgateway_url: String,
    /// The started processes and the watchdog's stdin; kept for the life of the process.
    _started: Option<Mutex<Started>>,
}

impl std::fmt::Debug for PrometheusServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusServices")
            .field("prometheus_url", &self.prometheus_url)
            .field("pushgateway_url", &self.pushgateway_url)
            .field("started_here", &self._started.is_some())
            .finish()
    }
}

struct Started {
    _children: Vec<Child>,
    _watchdog: Child,
    /// Closing this (at process exit) tells the watchdog to kill the services.
    _watchdog_stdin: ChildStdin,
}

impl PrometheusServices {
    /// The services of this test binary, started on first use.
    ///
    /// # Panics
    /// When only one of the env vars is set, when a binary is missing (naming the Debian
    /// package to install), or when a service does not become ready within 30 s (with its log).
    pub async fn shared() -> &'static PrometheusServices {
        SHARED.get_or_init(PrometheusServices::locate).await
    }

    /// Base URL of Prometheus, like `http://127.0.0.1:19090`.
    pub fn prometheus_url(&self) -> &str {
        &self.prometheus_url
    }

    /// Base URL of the Pushgateway, like `http://127.0.0.1:19091`.
    pub fn pushgateway_url(&self) -> &str {
        &self.pushgateway_url
    }

    /// Pushes metrics in the text exposition format (`name{label="v"} 42`) to the Pushgateway
    /// under job `job`, adding to what the job already has.
    ///
    /// # Panics
    /// When the Pushgateway does not accept them.
    pub async fn push_metric(&self, job: &str, text: &str) {
        let mut body = text.to_owned();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        let url = format!("{}/metrics/job/{job}", self.pushgateway_url);
        let response = reqwest::Client::new()
            .post(&url)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("push to {url}: {e}"));
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            panic!("push to {url}: HTTP {status}: {body}");
        }
    }

    /// Waits until `query` returns exactly `expected` (one vector element or a scalar).
    ///
    /// # Panics
    /// After 20 s, with the last answer.
    pub async fn wait_for_query(&self, query: &str, expected: f64) {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/query", self.prometheus_url);
        eventually(QUERY_DEADLINE, || {
            let request = client.get(&url).query(&[("query", query)]);
            async move {
                let body = request
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .text()
                    .await
                    .map_err(|e| e.to_string())?;
                match single_value(&body) {
                    Some(v) if v == expected => Ok(()),
                    _ => Err(format!("{query} answered {body}")),
                }
            }
        })
        .await;
    }

    async fn locate() -> PrometheusServices {
        let prometheus = std::env::var(PROMETHEUS_URL_ENV).ok();
        let pushgateway = std::env::var(PUSHGATEWAY_URL_ENV).ok();
        match (prometheus, pushgateway) {
            (Some(prometheus), Some(pushgateway)) => PrometheusServices {
                prometheus_url: prometheus.trim_end_matches('/').to_owned(),
                pushgateway_url: pushgateway.trim_end_matches('/').to_owned(),
                _started: None,
            },
            (None, None) => PrometheusServices::start().await,
            _ => panic!("set both {PROMETHEUS_URL_ENV} and {PUSHGATEWAY_URL_ENV}, or neither"),
        }
    }

    async fn start() -> PrometheusServices {
        let dir = temp_dir();
        let mut watchdog = Command::new("sh")
            .arg("-c")
            // Collect PIDs until stdin closes (the test process is gone), then clean up.
            .arg(
                // A killed process may still be writing for a moment: retry the removal.
                r#"dir=$1; pids=; while read -r pid; do pids="$pids $pid"; done
                   kill -KILL $pids 2>/dev/null
                   rm -rf "$dir" 2>/dev/null || { sleep 1; rm -rf "$dir"; }"#,
            )
            .arg("scalers-testkit-watchdog")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog shell (sh)");
        let mut watchdog_stdin = watchdog.stdin.take().expect("watchdog stdin");

        // Hold both listeners at once so the two ports differ.
        let prometheus_port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let pushgateway_port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let prometheus_addr = prometheus_port.local_addr().expect("local address");
        let pushgateway_addr = pushgateway_port.local_addr().expect("local address");
        drop((prometheus_port, pushgateway_port));

        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n    \
                 static_configs:\n      - targets: [\"{pushgateway_addr}\"]\n"
            ),
        )
        .expect("write prometheus.yml");

        let pushgateway = spawn(
            "prometheus-pushgateway",
            &[format!("--web.listen-address={pushgateway_addr}")],
            &dir.join("pushgateway.log"),
            &mut watchdog_stdin,
        );
        let prometheus = spawn(
            "prometheus",
            &[
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.listen-address={prometheus_addr}"),
            ],
            &dir.join("prometheus.log"),
            &mut watchdog_stdin,
        );
        let mut children = vec![pushgateway, prometheus];
        let pushgateway_url = format!("http://{pushgateway_addr}");
        let prometheus_url = format!("http://{prometheus_addr}");
        wait_ready(
            &pushgateway_url,
            &mut children[0],
            &dir.join("pushgateway.log"),
        )
        .await;
        wait_ready(
            &prometheus_url,
            &mut children[1],
            &dir.join("prometheus.log"),
        )
        .await;
        PrometheusServices {
            prometheus_url,
            pushgateway_url,
            _started: Some(Mutex::new(Started {
                _children: children,
                _watchdog: watchdog,
                _watchdog_stdin: watchdog_stdin,
            })),
        }
    }
}

/// A fresh directory under the system temp dir (removed by the watchdog).
fn temp_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "scalers-testkit-prometheus-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Starts `program` with its output in `log` and hands its PID to the watchdog.
fn spawn(program: &str, args: &[String], log: &Path, watchdog: &mut ChildStdin) -> Child {
    let out = fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let err = out.try_clone().expect("clone the log file handle");
    let child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!("{}", missing_binary(program)),
        Err(e) => panic!("start {program}: {e}"),
    };
    writeln!(watchdog, "{}", child.id()).expect("hand the PID to the watchdog");
    child
}

/// What to do when a service binary is missing.
fn missing_binary(program: &str) -> String {
    let package = program;
    if std::env::var_os("CI").is_some() {
        format!(
            "{program} not found: the Debian package `{package}` must be installed by the \
             `.ci/run` step that installs Debian packages (or set {PROMETHEUS_URL_ENV} and \
             {PUSHGATEWAY_URL_ENV} to running services)"
        )
    } else {
        format!(
            "{program} not found; install it: apt-get install -y prometheus prometheus-pushgateway"
        )
    }
}

/// Waits for `<url>/-/ready`, failing early (with the log) if the process exits.
async fn wait_ready(url: &str, child: &mut Child, log: &Path) {
    let client = reqwest::Client::new();
    let ready = format!("{url}/-/ready");
    eventually(READY_DEADLINE, || {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(log).unwrap_or_default();
            panic!("{url} exited with {status} before it was ready; its log:\n{log}");
        }
        let request = client.get(&ready);
        let ready = &ready;
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("{ready}: HTTP {}", response.status()))
            }
        }
    })
    .await;
    // Another process could have held the port: make sure ours is the one answering.
    if let Ok(Some(status)) = child.try_wait() {
        let log = fs::read_to_string(log).unwrap_or_default();
        panic!("{url} exited with {status}; its log:\n{log}");
    }
}

/// The value of a Prometheus query response holding one vector element or a scalar.
fn single_value(body: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let result = v.pointer("/data/result")?;
    let pair = match v.pointer("/data/resultType")?.as_str()? {
        "scalar" => result,
        "vector" if result.as_array()?.len() == 1 => result.pointer("/0/value")?,
        _ => return None,
    };
    pair.get(1)?.as_str()?.parse().ok()
}
