//! Helpers shared by the daemon's end-to-end tests (`run_dry.rs`, `run_kube.rs`, `faults.rs`,
//! `restart.rs`, `sighup.rs`, `secrets.rs`, `source_responses.rs`): temp dirs, an in-process
//! daemon observed through its admin server, metric lookups and Redis list set-up. Each test
//! binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use scalerd::daemon::status::{ObjectStatus, Status};
use scalerd::daemon::{App, RunOptions};
use scalers_testkit::{FakeApiServer, FakeResource, Fault, RedisClient, eventually, unique_name};
use tokio::sync::oneshot;

/// A temp dir removed on drop.
pub(crate) struct Dir(pub(crate) PathBuf);

impl Dir {
    pub(crate) fn new(prefix: &str) -> Self {
        let p = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    /// Writes `name` atomically (write then rename), so a watcher never reads half a file.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        let tmp = self.0.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        p
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A name that is valid as a Kubernetes object name and unique to this test.
pub(crate) fn k8s_name(prefix: &str) -> String {
    unique_name(prefix).replace('_', "-")
}

/// A free loopback port (free a moment ago).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client for the fake API server with scalerd's own client settings (kube's retries off),
/// as `scalerd run` builds it from a kubeconfig.
pub(crate) fn kube_client(fake: &FakeApiServer) -> kube::Client {
    scalerd::kube::client_from_config(fake.config()).expect("a client for the fake API server")
}

/// RBAC without `list`/`watch` on Deployments, in all namespaces and in `shop`: the daemon
/// then reads each target through `/scale` at every poll, as for any kind it cannot watch.
/// For the tests of what a failing read does.
#[allow(dead_code)]
pub(crate) fn refuse_workload_watches(fake: &FakeApiServer) {
    for path in [
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/namespaces/shop/deployments",
    ] {
        fake.inject(Fault::status(403).on("GET", path));
    }
}

/// A kubeconfig file naming the fake API server.
pub(crate) fn kubeconfig(dir: &Dir, fake: &FakeApiServer) -> PathBuf {
    dir.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: '{}'}}}}]\ncontexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\ncurrent-context: fake\nusers: [{{name: fake, user: {{}}}}]\n",
            fake.url()
        ),
    )
}

/// Makes `key` a list of exactly `n` items.
pub(crate) fn set_list(redis: &RedisClient, key: &str, n: usize) {
    redis.cmd(&["DEL", key]);
    let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    for chunk in items.chunks(100) {
        let mut args = vec!["RPUSH", key];
        args.extend(chunk.iter().map(String::as_str));
        redis.cmd(&args);
    }
}

/// The value of one series in the Prometheus text format: `name{labels} value`.
pub(crate) fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// Every series of metric `name` (`name{...} value` lines), for exact checks of what exists.
pub(crate) fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}{{");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

/// A daemon (`scalerd run`) in this process, observed through its admin server.
pub(crate) struct Daemon {
    pub(crate) base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<scalerd::Result<()>>,
}

/// Options for a daemon writing to the fake API server: admin on a free port, no leader
/// election, no config watching.
pub(crate) fn options(config: &Path, fake: &FakeApiServer) -> RunOptions {
    let mut opts = RunOptions::new(config.to_path_buf());
    opts.admin_addr = "127.0.0.1:0".parse().unwrap();
    opts.kube_client = Some(kube_client(fake));
    opts.leader_elect = Some(false);
    opts.namespace = "scalers".into();
    opts.watch_interval = Duration::ZERO;
    opts
}

impl Daemon {
    pub(crate) async fn start(opts: RunOptions) -> Daemon {
        let app = App::build(opts, scalerd::builtin_registry())
            .await
            .expect("the daemon builds");
        let base = format!("http://{}", app.admin_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        Daemon {
            base,
            stop: Some(tx),
            task,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        get(&format!("{}{path}", self.base)).await
    }

    pub(crate) async fn status(&self) -> Status {
        let body = self.get("/status").await.1;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    pub(crate) async fn object(&self, key: &str) -> ObjectStatus {
        self.status()
            .await
            .objects
            .into_iter()
            .find(|o| o.scaled_object == key)
            .unwrap_or_else(|| panic!("no {key} in /status"))
    }

    pub(crate) async fn metrics(&self) -> String {
        self.get("/metrics").await.1
    }

    /// Waits up to `deadline` until the object's status satisfies `f`, and returns it.
    pub(crate) async fn until(
        &self,
        key: &str,
        deadline: Duration,
        what: &str,
        f: impl Fn(&ObjectStatus) -> bool,
    ) -> ObjectStatus {
        eventually(deadline, || async {
            let o = self.object(key).await;
            if f(&o) {
                Ok(o)
            } else {
                Err(format!("{what}: {o:?}"))
            }
        })
        .await
    }

    /// Stops the daemon (as on SIGTERM) and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// GET `url`: status and body.
pub(crate) async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Waits up to `deadline` until Deployment `shop/<name>` on the fake API server has `replicas`.
pub(crate) async fn replicas_become(
    fake: &FakeApiServer,
    name: &str,
    replicas: u32,
    deadline: Duration,
) {
    eventually(deadline, || async {
        match fake.replicas(&FakeResource::DEPLOYMENT, "shop", name) {
            Some(r) if r == replicas => Ok(()),
            other => Err(format!("{name}: {other:?}, want {replicas}")),
        }
    })
    .await;
}

/// Now, in unix milliseconds (to compare with times the daemon reports).
pub(crate) fn unix_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Standard base64 (with padding), for looking for encoded secrets.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A `scalerd run` process with its admin server on a free port, killed on drop; its log
/// (stderr, at `RUST_LOG=log_filter`) goes to `<identity>.log` in the test's directory.
pub(crate) struct ScalerdProcess {
    pub(crate) child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) admin: String,
    pub(crate) identity: String,
    log: PathBuf,
}

impl Drop for ScalerdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ScalerdProcess {
    /// `scalerd run --admin-addr <free port> --identity <identity> <args>`, outside any pod.
    pub(crate) fn spawn<I, A>(dir: &Dir, identity: &str, log_filter: &str, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<std::ffi::OsStr>,
    {
        Self::spawn_with(dir, identity, log_filter, |c| {
            c.args(args);
        })
    }

    /// Like [`ScalerdProcess::spawn`], with `configure` giving the arguments after `run …` and
    /// any environment variables.
    pub(crate) fn spawn_with(
        dir: &Dir,
        identity: &str,
        log_filter: &str,
        configure: impl FnOnce(&mut std::process::Command),
    ) -> Self {
        let admin = format!("127.0.0.1:{}", free_port());
        let log = dir.path(&format!("{identity}.log"));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_scalerd"));
        command.args(["run", "--admin-addr", &admin, "--identity", identity]);
        configure(&mut command);
        let child = command
            .env("RUST_LOG", log_filter)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("scalerd starts");
        ScalerdProcess {
            child,
            admin: format!("http://{admin}"),
            identity: identity.to_owned(),
            log,
        }
    }

    /// Its `/status`, if it answers.
    pub(crate) async fn status(&self) -> Option<Status> {
        let r = reqwest::get(format!("{}/status", self.admin)).await.ok()?;
        serde_json::from_slice(&r.bytes().await.ok()?).ok()
    }

    /// Its `/metrics`.
    pub(crate) async fn metrics(&self) -> String {
        let r = reqwest::get(format!("{}/metrics", self.admin))
            .await
            .expect("/metrics");
        r.text().await.expect("/metrics body")
    }

    /// Sends it signal `name` (`HUP`, `TERM`) with `kill`.
    pub(crate) fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Its log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
