//! Prometheus and Pushgateway for tests: from `.ci/run`, or started once per test binary.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::eventually;
use crate::process::{ServiceProcess, free_ports, temp_dir};

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
/// `unsafe`; a fixed `timeout` would leave them running long after a short test. (One watchdog
/// serves every service the testkit starts: Redis, tansu and these.)
///
/// Each test owns its metric names and Pushgateway job names (see
/// [`unique_name`](crate::unique_name)), so tests share the services and run in parallel.
pub struct PrometheusServices {
    prometheus_url: String,
    pushgateway_url: String,
    /// The started processes (Pushgateway, Prometheus); kept for the life of the process.
    _started: Option<[ServiceProcess; 2]>,
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
        let dir = temp_dir("prometheus");
        let [prometheus_port, pushgateway_port] = free_ports();
        let prometheus_addr = format!("127.0.0.1:{prometheus_port}");
        let pushgateway_addr = format!("127.0.0.1:{pushgateway_port}");

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

        let mut pushgateway = service(
            "prometheus-pushgateway",
            vec![format!("--web.listen-address={pushgateway_addr}")],
            dir.join("pushgateway.log"),
        );
        let mut prometheus = service(
            "prometheus",
            vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.listen-address={prometheus_addr}"),
            ],
            dir.join("prometheus.log"),
        );
        let pushgateway_url = format!("http://{pushgateway_addr}");
        let prometheus_url = format!("http://{prometheus_addr}");
        start_ready(&mut pushgateway, &pushgateway_url).await;
        start_ready(&mut prometheus, &prometheus_url).await;
        PrometheusServices {
            prometheus_url,
            pushgateway_url,
            _started: Some([pushgateway, prometheus]),
        }
    }
}

/// `program` (a Debian package of the same name) with these arguments, logging to `log`.
fn service(program: &str, args: Vec<String>, log: PathBuf) -> ServiceProcess {
    ServiceProcess::new(program, args, log, missing_binary(program))
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

/// Starts `process` and waits for `<url>/-/ready`, failing (with the log) if it exits first.
async fn start_ready(process: &mut ServiceProcess, url: &str) {
    let client = reqwest::Client::new();
    let ready = format!("{url}/-/ready");
    let probe = || {
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
    };
    if let Err(e) = process.start(READY_DEADLINE, probe).await {
        panic!("{url} did not start: {e}");
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
