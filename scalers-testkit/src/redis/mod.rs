//! Redis for tests: a standalone server, a 3-master cluster and a sentinel set, from `.ci/run`
//! or started here from Debian's `redis-server`, `redis-tools` and `redis-sentinel`; test TLS
//! material made with the `openssl` command; a small RESP client to set up data and inspect
//! servers.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::process::{NotStarted, ServiceProcess, free_ports, run_tool, temp_dir};

/// Env var with the standalone server `.ci/run` started: `redis://127.0.0.1:16379` or
/// `127.0.0.1:16379`.
pub const REDIS_URL_ENV: &str = "SCALERS_TEST_REDIS_URL";
/// Env var with the cluster `.ci/run` started: its nodes, `host:port,host:port,host:port`.
pub const REDIS_CLUSTER_ENV: &str = "SCALERS_TEST_REDIS_CLUSTER_NODES";
/// Env var with the sentinel `.ci/run` started, `host:port`; the master is monitored under the
/// name in [`REDIS_SENTINEL_MASTER_ENV`] (default `mymaster`).
pub const REDIS_SENTINEL_ENV: &str = "SCALERS_TEST_REDIS_SENTINEL";
/// Env var with the name the sentinel of [`REDIS_SENTINEL_ENV`] monitors its master under.
pub const REDIS_SENTINEL_MASTER_ENV: &str = "SCALERS_TEST_REDIS_SENTINEL_MASTER";

/// How long a started server may take to answer `PING`, a cluster to reach `cluster_state:ok`,
/// a sentinel to know its master.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// Read and write timeout of [`RedisClient`] commands.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

static STANDALONE: OnceCell<RedisServer> = OnceCell::const_new();
static CLUSTER: OnceCell<RedisCluster> = OnceCell::const_new();
static SENTINEL: OnceCell<RedisSentinel> = OnceCell::const_new();

mod client;
mod cluster;
mod sentinel;

pub use client::{RedisClient, Resp};
pub use cluster::RedisCluster;
pub use sentinel::RedisSentinel;

/// TLS material made for a test server: a CA, and a client certificate it issued.
#[derive(Clone)]
pub struct RedisTls {
    /// The CA certificate (PEM) that issued the server and client certificates.
    pub ca: String,
    /// A client certificate (PEM) issued by the CA.
    pub client_cert: String,
    /// The client certificate's private key (PEM, unencrypted).
    pub client_key: String,
}

impl fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisTls { .. }")
    }
}

/// What a started server is configured with.
#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// Also listen with TLS (on [`RedisServer::tls_address`]), requiring client certificates
    /// issued by the test CA.
    pub tls: bool,
    /// `requirepass`: the default user's password.
    pub password: Option<String>,
    /// Extra `redis-server` arguments (`--cluster-enabled`, `--replicaof`, …).
    pub args: Vec<String>,
}

/// A Redis server for tests.
///
/// [`RedisServer::shared`] is the test binary's standalone server: the one `.ci/run` started
/// ([`REDIS_URL_ENV`]), or else `redis-server` started once on a free loopback port.
/// [`RedisServer::start`] starts a test's own server, which it can [`kill`](Self::kill) and
/// [`restart`](Self::restart) and which dies when dropped.
///
/// Started servers (and their temp dirs) go away with the test process however it ends: a
/// watchdog shell reads their PIDs on a pipe from this process and kills them when the pipe
/// closes (see [`PrometheusServices`](crate::PrometheusServices) for why).
pub struct RedisServer {
    address: String,
    tls_address: Option<String>,
    tls: Option<RedisTls>,
    password: Option<String>,
    process: Option<ServiceProcess>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("address", &self.address)
            .field("tls_address", &self.tls_address)
            .field("started_here", &self.process.is_some())
            .finish()
    }
}

impl RedisServer {
    /// The test binary's standalone server, started on first use.
    ///
    /// # Panics
    /// When `redis-server` is missing (naming the Debian package) or does not start.
    pub async fn shared() -> &'static RedisServer {
        STANDALONE
            .get_or_init(|| async {
                match std::env::var(REDIS_URL_ENV) {
                    Ok(url) => RedisServer::external(&url),
                    Err(_) => RedisServer::start(RedisOptions::default()).await,
                }
            })
            .await
    }

    fn external(url: &str) -> RedisServer {
        let address = url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        RedisServer {
            address,
            tls_address: None,
            tls: None,
            password: None,
            process: None,
        }
    }

    /// Starts a server of this test's own, on free loopback ports, killed when dropped.
    ///
    /// # Panics
    /// When `redis-server` (or, for TLS, `openssl`) is missing, naming the Debian package, or
    /// when the server does not answer within 30 s (with its log).
    pub async fn start(options: RedisOptions) -> RedisServer {
        let dir = temp_dir("redis");
        let tls = options.tls.then(|| make_tls(&dir));
        let mut last_log = String::new();
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let [port, secure] = free_ports();
            let tls_port = options.tls.then_some(secure);
            let mut args = server_args(port, &dir);
            if let Some(tls_port) = tls_port {
                for (flag, value) in [
                    ("--tls-port", tls_port.to_string()),
                    (
                        "--tls-cert-file",
                        dir.join("server.pem").display().to_string(),
                    ),
                    (
                        "--tls-key-file",
                        dir.join("server.key").display().to_string(),
                    ),
                    (
                        "--tls-ca-cert-file",
                        dir.join("ca.pem").display().to_string(),
                    ),
                    ("--tls-auth-clients", "yes".to_owned()),
                ] {
                    args.push(flag.to_owned());
                    args.push(value);
                }
            }
            if let Some(password) = &options.password {
                args.push("--requirepass".to_owned());
                args.push(password.clone());
            }
            args.extend(options.args.iter().cloned());
            let log = dir.join(format!("redis-{port}.log"));
            let mut process = redis_process("redis-server", args, log);
            let client = RedisClient::new(format!("127.0.0.1:{port}"));
            let client = match &options.password {
                Some(p) => client.with_auth("default", p),
                None => client,
            };
            if run(&mut process, &client).await {
                return RedisServer {
                    address: format!("127.0.0.1:{port}"),
                    tls_address: tls_port.map(|p| format!("127.0.0.1:{p}")),
                    tls,
                    password: options.password.clone(),
                    process: Some(process),
                };
            }
            last_log = process.log_text();
        }
        panic!("redis-server did not start; its last log:\n{last_log}");
    }

    /// `host:port` of the plain-TCP listener.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The port of [`address`](Self::address).
    pub fn port(&self) -> u16 {
        self.address
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_default()
    }

    /// `host:port` of the TLS listener, for a server started with [`RedisOptions::tls`].
    pub fn tls_address(&self) -> Option<&str> {
        self.tls_address.as_deref()
    }

    /// The test CA and client certificate, for a server started with [`RedisOptions::tls`].
    pub fn tls(&self) -> Option<&RedisTls> {
        self.tls.as_ref()
    }

    /// A [`RedisClient`] on the plain listener (authenticated when the server has a password).
    pub fn client(&self) -> RedisClient {
        let client = RedisClient::new(self.address.clone());
        match &self.password {
            Some(p) => client.with_auth("default", p),
            None => client,
        }
    }

    /// Sends one command that must succeed (see [`RedisClient::cmd`]).
    ///
    /// # Panics
    /// When the server cannot be reached or answers an error.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        self.client().cmd(args)
    }

    /// Kills the server (SIGKILL) and waits until it is gone; its data is lost.
    ///
    /// # Panics
    /// On the shared server or one `.ci/run` started.
    pub fn kill(&mut self) {
        self.process
            .as_mut()
            .expect("only a started server can be killed")
            .kill();
    }

    /// Starts the killed server again on the same ports, empty.
    ///
    /// # Panics
    /// On a server that was not started here, or when it does not come back within 30 s.
    pub async fn restart(&mut self) {
        let client = self.client();
        let address = self.address.clone();
        let process = self
            .process
            .as_mut()
            .expect("only a started server can be restarted");
        if !run(process, &client).await {
            let log = process.log_text();
            panic!("{address} did not restart; its log:\n{log}");
        }
    }
}

/// The arguments of a test `redis-server` on loopback `port`, with its files in `dir`, not
/// saving to disk and in the foreground.
fn server_args(port: u16, dir: &Path) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &dir.display().to_string(),
        "--daemonize",
        "no",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A `redis-server` or `redis-sentinel` process with these arguments, logging to `log`.
fn redis_process(program: &str, args: Vec<String>, log: PathBuf) -> ServiceProcess {
    ServiceProcess::new(program, args, log, missing(program))
}

/// Starts `process` and polls `PING` through `client` until `PONG`; false if the process exits
/// first (another process took its port).
///
/// # Panics
/// When it does not answer within 30 s.
async fn run(process: &mut ServiceProcess, client: &RedisClient) -> bool {
    let probe = || {
        let reply = client.try_cmd(&["PING"]);
        async move {
            match reply {
                Ok(Resp::Simple(pong)) if pong == "PONG" => Ok(()),
                other => Err(format!("PING answered {other:?}")),
            }
        }
    };
    match process.start(READY_DEADLINE, probe).await {
        Ok(()) => true,
        Err(NotStarted::Exited { .. }) => false,
        Err(e) => panic!(
            "redis on {} did not answer PING within 30 s: {e}",
            client.address()
        ),
    }
}

/// The Debian package that ships `program`.
fn package(program: &str) -> &'static str {
    match program {
        "redis-cli" => "redis-tools",
        "redis-sentinel" => "redis-sentinel",
        "openssl" => "openssl",
        _ => "redis-server",
    }
}

/// What to do when a binary is missing.
fn missing(program: &str) -> String {
    let package = package(program);
    if std::env::var_os("CI").is_some() {
        format!(
            "{program} not found: the Debian package `{package}` must be installed by the \
             `.ci/run` step that installs Debian packages"
        )
    } else {
        format!(
            "{program} not found; install it: apt-get install -y --no-install-recommends \
             redis-server redis-tools redis-sentinel openssl"
        )
    }
}

/// Makes a CA, a server certificate for `127.0.0.1`/`localhost` and a client certificate in
/// `dir` with the `openssl` command (EC P-256, valid one day).
fn make_tls(dir: &Path) -> RedisTls {
    let openssl = |args: &[&str]| {
        let output = run_tool(
            Command::new("openssl").args(args).current_dir(dir),
            &missing("openssl"),
        );
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=scalers test CA",
    ]);
    openssl(&ca);
    fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write server.ext");
    fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .expect("write client.ext");
    for (name, cn) in [
        ("server", "/CN=localhost"),
        ("client", "/CN=scalers test client"),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", cn]);
        openssl(&req);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "1",
            "-extfile",
            &ext,
        ]);
    }
    let read =
        |f: &str| fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
    RedisTls {
        ca: read("ca.pem"),
        client_cert: read("client.pem"),
        client_key: read("client.key"),
    }
}
