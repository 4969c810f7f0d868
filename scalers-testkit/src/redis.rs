//! Redis for tests: a standalone server, a 3-master cluster and a sentinel set, from `.ci/run`
//! or started here from Debian's `redis-server`, `redis-tools` and `redis-sentinel`; test TLS
//! material made with the `openssl` command; a small RESP client to set up data and inspect
//! servers.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::eventually;
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

/// A RESP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resp {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`: an error reply, as text.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$…`: a bulk string, `None` for nil.
    Bulk(Option<String>),
    /// `*…`: an array, `None` for nil.
    Array(Option<Vec<Resp>>),
}

impl Resp {
    /// The text of a simple or bulk string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Resp::Simple(s) | Resp::Bulk(Some(s)) => Some(s),
            _ => None,
        }
    }

    /// The value of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Resp::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// A minimal RESP client over plain TCP: one connection per command, for setting up data and
/// inspecting servers (never the code under test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisClient {
    address: String,
    auth: Option<(String, String)>,
}

impl RedisClient {
    /// A client for `host:port`, as the default user without a password.
    pub fn new(address: impl Into<String>) -> Self {
        RedisClient {
            address: address.into(),
            auth: None,
        }
    }

    /// The same client authenticating as `user` with `password` (`default` for a
    /// `requirepass` server).
    pub fn with_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// The server's `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends one command and returns the reply (error replies are `Ok(Resp::Error)`).
    ///
    /// # Errors
    /// When the server cannot be reached or the reply does not parse.
    pub fn try_cmd(&self, args: &[&str]) -> Result<Resp, String> {
        let stream = TcpStream::connect(&self.address)
            .map_err(|e| format!("connect to {}: {e}", self.address))?;
        stream.set_read_timeout(Some(COMMAND_TIMEOUT)).ok();
        stream.set_write_timeout(Some(COMMAND_TIMEOUT)).ok();
        let mut writer = stream
            .try_clone()
            .map_err(|e| format!("{}: {e}", self.address))?;
        let mut reader = BufReader::new(stream);
        if let Some((user, password)) = &self.auth {
            writer
                .write_all(&encode(&["AUTH", user, password]))
                .map_err(|e| format!("{}: {e}", self.address))?;
            if let Resp::Error(e) = read_reply(&mut reader)? {
                return Err(format!("{}: AUTH: {e}", self.address));
            }
        }
        writer
            .write_all(&encode(args))
            .map_err(|e| format!("{}: {e}", self.address))?;
        read_reply(&mut reader).map_err(|e| format!("{}: {e}", self.address))
    }

    /// Sends one command that must succeed.
    ///
    /// # Panics
    /// When the server cannot be reached or answers an error.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        match self.try_cmd(args) {
            Ok(Resp::Error(e)) => panic!("{} {args:?}: {e}", self.address),
            Ok(reply) => reply,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    /// How many clients `CLIENT LIST` shows logged in as `user`.
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn clients_of_user(&self, user: &str) -> usize {
        let list = self.cmd(&["CLIENT", "LIST"]);
        let text = list.as_str().unwrap_or_default();
        let needle = format!(" user={user} ");
        text.lines()
            .filter(|l| format!("{l} ").contains(&needle))
            .count()
    }

    /// `total_connections_received` from `INFO stats` (this query's own connection included).
    ///
    /// # Panics
    /// When the server cannot be reached.
    pub fn total_connections_received(&self) -> u64 {
        let info = self.cmd(&["INFO", "stats"]);
        info.as_str()
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{}: no total_connections_received", self.address))
    }

    /// Creates (or resets) ACL user `user` with `password`, allowed everything.
    ///
    /// # Panics
    /// When the server refuses.
    pub fn create_user(&self, user: &str, password: &str) {
        let password = format!(">{password}");
        self.cmd(&[
            "ACL", "SETUSER", user, "reset", "on", &password, "~*", "&*", "+@all",
        ]);
    }
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_line(r: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    let n = r.read_line(&mut line).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".to_owned());
    }
    Ok(line.trim_end_matches("\r\n").to_owned())
}

fn read_reply(r: &mut impl BufRead) -> Result<Resp, String> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| format!("bad RESP line {line:?}"))
    };
    match kind {
        "+" => Ok(Resp::Simple(rest.to_owned())),
        "-" => Ok(Resp::Error(rest.to_owned())),
        ":" => Ok(Resp::Int(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(Resp::Bulk(None));
            }
            let mut buf = vec![0; len as usize + 2];
            r.read_exact(&mut buf).map_err(|e| e.to_string())?;
            buf.truncate(len as usize);
            Ok(Resp::Bulk(Some(String::from_utf8_lossy(&buf).into_owned())))
        }
        "*" => {
            let len = number()?;
            if len < 0 {
                return Ok(Resp::Array(None));
            }
            let items = (0..len)
                .map(|_| read_reply(r))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Resp::Array(Some(items)))
        }
        _ => Err(format!("bad RESP line {line:?}")),
    }
}

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
            let mut args = vec![
                "--port".to_owned(),
                port.to_string(),
                "--bind".to_owned(),
                "127.0.0.1".to_owned(),
                "--save".to_owned(),
                String::new(),
                "--appendonly".to_owned(),
                "no".to_owned(),
                "--dir".to_owned(),
                dir.display().to_string(),
                "--daemonize".to_owned(),
                "no".to_owned(),
            ];
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

/// A 3-master Redis Cluster for tests.
///
/// [`RedisCluster::shared`] is the test binary's cluster: the one `.ci/run` started
/// ([`REDIS_CLUSTER_ENV`]), or else three `redis-server --cluster-enabled yes` joined with
/// `redis-cli --cluster create` (about 2.5 s).
pub struct RedisCluster {
    nodes: Vec<String>,
    _servers: Vec<RedisServer>,
}

impl fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCluster")
            .field("nodes", &self.nodes)
            .finish()
    }
}

impl RedisCluster {
    /// The test binary's cluster, started on first use.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing (naming the Debian package) or the cluster
    /// does not form within 30 s.
    pub async fn shared() -> &'static RedisCluster {
        CLUSTER
            .get_or_init(|| async {
                match std::env::var(REDIS_CLUSTER_ENV) {
                    Ok(nodes) => RedisCluster {
                        nodes: nodes
                            .split(',')
                            .map(|n| n.trim().to_owned())
                            .filter(|n| !n.is_empty())
                            .collect(),
                        _servers: Vec::new(),
                    },
                    Err(_) => RedisCluster::start().await,
                }
            })
            .await
    }

    async fn start() -> RedisCluster {
        let mut servers = Vec::new();
        for _ in 0..3 {
            // Each node also listens on its port + 10000 (the cluster bus).
            let options = RedisOptions {
                args: vec![
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-config-file".to_owned(),
                    "nodes.conf".to_owned(),
                    "--cluster-node-timeout".to_owned(),
                    "2000".to_owned(),
                ],
                ..RedisOptions::default()
            };
            servers.push(start_cluster_node(options).await);
        }
        let nodes: Vec<String> = servers.iter().map(|s| s.address().to_owned()).collect();
        let mut args = vec!["--cluster".to_owned(), "create".to_owned()];
        args.extend(nodes.iter().cloned());
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(str::to_owned));
        let output = run_tool(Command::new("redis-cli").args(&args), &missing("redis-cli"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster {
            nodes,
            _servers: servers,
        };
        cluster.wait_ok().await;
        cluster
    }

    async fn wait_ok(&self) {
        for node in &self.nodes {
            let client = RedisClient::new(node.clone());
            eventually(READY_DEADLINE, || {
                let reply = client.try_cmd(&["CLUSTER", "INFO"]);
                async move {
                    let reply = reply?;
                    let text = reply.as_str().unwrap_or_default();
                    if text.contains("cluster_state:ok") {
                        Ok(())
                    } else {
                        Err(format!("not ok yet: {text}"))
                    }
                }
            })
            .await;
        }
    }

    /// `host:port` of each node.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// A [`RedisClient`] on each node.
    pub fn clients(&self) -> Vec<RedisClient> {
        self.nodes
            .iter()
            .map(|n| RedisClient::new(n.clone()))
            .collect()
    }

    /// Sends a one-key command to the node owning the key (following `MOVED`); it must succeed.
    ///
    /// # Panics
    /// When no node answers or the command fails.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        let mut address = self.nodes[0].clone();
        for _ in 0..5 {
            let reply = RedisClient::new(address.clone())
                .try_cmd(args)
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            match reply {
                Resp::Error(e) if e.starts_with("MOVED ") => {
                    address = e.rsplit(' ').next().unwrap_or_default().to_owned();
                }
                Resp::Error(e) => panic!("{address} {args:?}: {e}"),
                reply => return reply,
            }
        }
        panic!("{args:?}: too many redirections");
    }

    /// Creates (or resets) ACL user `user` with `password` on every node.
    ///
    /// # Panics
    /// When a node refuses.
    pub fn create_user(&self, user: &str, password: &str) {
        for client in self.clients() {
            client.create_user(user, password);
        }
    }
}

/// A cluster node: a server whose bus port (port + 10000) is free too.
async fn start_cluster_node(options: RedisOptions) -> RedisServer {
    // `free_port(true)` only picks ports whose bus port is free; `start` picks its own, so
    // pass the port explicitly and retry on a collision.
    for _ in 0..5 {
        let port = cluster_port();
        let dir = temp_dir("redis-cluster");
        let mut args = vec![
            "--port".to_owned(),
            port.to_string(),
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "--save".to_owned(),
            String::new(),
            "--appendonly".to_owned(),
            "no".to_owned(),
            "--dir".to_owned(),
            dir.display().to_string(),
            "--daemonize".to_owned(),
            "no".to_owned(),
        ];
        args.extend(options.args.iter().cloned());
        let mut process = redis_process("redis-server", args, dir.join("redis.log"));
        let client = RedisClient::new(format!("127.0.0.1:{port}"));
        if run(&mut process, &client).await {
            return RedisServer {
                address: format!("127.0.0.1:{port}"),
                tls_address: None,
                tls: None,
                password: None,
                process: Some(process),
            };
        }
    }
    panic!("no cluster node could start");
}

/// A sentinel set for tests: one master, one replica, one sentinel monitoring the master.
///
/// [`RedisSentinel::shared`] is the test binary's set: the sentinel `.ci/run` started
/// ([`REDIS_SENTINEL_ENV`], master name [`REDIS_SENTINEL_MASTER_ENV`]), or else one started
/// here with `redis-server` and `redis-sentinel` (about 1 s). [`RedisSentinel::start`] starts a
/// test's own set, with passwords if asked.
pub struct RedisSentinel {
    sentinel: String,
    master_name: String,
    sentinel_password: Option<String>,
    master_password: Option<String>,
    servers: Vec<RedisServer>,
    _sentinel: Option<ServiceProcess>,
}

impl fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSentinel")
            .field("sentinel", &self.sentinel)
            .field("master_name", &self.master_name)
            .finish()
    }
}

impl RedisSentinel {
    /// The test binary's sentinel set (no passwords), started on first use.
    ///
    /// # Panics
    /// When `redis-server` or `redis-sentinel` is missing (naming the Debian package) or the
    /// sentinel does not know its master within 30 s.
    pub async fn shared() -> &'static RedisSentinel {
        SENTINEL
            .get_or_init(|| async {
                match std::env::var(REDIS_SENTINEL_ENV) {
                    Ok(sentinel) => RedisSentinel {
                        sentinel: sentinel.trim().to_owned(),
                        master_name: std::env::var(REDIS_SENTINEL_MASTER_ENV)
                            .unwrap_or_else(|_| "mymaster".to_owned()),
                        sentinel_password: None,
                        master_password: None,
                        servers: Vec::new(),
                        _sentinel: None,
                    },
                    Err(_) => RedisSentinel::start(None, None).await,
                }
            })
            .await
    }

    /// Starts a set of this test's own, monitoring the master as `mymaster`: the master and the
    /// replica with `requirepass master_password`, the sentinel with `requirepass
    /// sentinel_password`, when given.
    ///
    /// # Panics
    /// When a binary is missing or the sentinel does not know its master within 30 s.
    pub async fn start(
        master_password: Option<&str>,
        sentinel_password: Option<&str>,
    ) -> RedisSentinel {
        let master = RedisServer::start(RedisOptions {
            password: master_password.map(str::to_owned),
            ..RedisOptions::default()
        })
        .await;
        let mut replica_args = vec![
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            master.port().to_string(),
        ];
        if let Some(p) = master_password {
            replica_args.push("--masterauth".to_owned());
            replica_args.push(p.to_owned());
        }
        let replica = RedisServer::start(RedisOptions {
            password: master_password.map(str::to_owned),
            args: replica_args,
            ..RedisOptions::default()
        })
        .await;
        let master_name = "mymaster".to_owned();
        for _ in 0..5 {
            let [port] = free_ports();
            let dir = temp_dir("redis-sentinel");
            let mut conf = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {master_name} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {master_name} 5000\n",
                dir.display(),
                master.port()
            );
            if let Some(p) = master_password {
                conf.push_str(&format!("sentinel auth-pass {master_name} {p}\n"));
            }
            if let Some(p) = sentinel_password {
                conf.push_str(&format!("requirepass {p}\n"));
            }
            let conf_path = dir.join("sentinel.conf");
            fs::write(&conf_path, conf).expect("write sentinel.conf");
            let mut process = redis_process(
                "redis-sentinel",
                vec![conf_path.display().to_string()],
                dir.join("sentinel.log"),
            );
            let address = format!("127.0.0.1:{port}");
            let client = match sentinel_password {
                Some(p) => RedisClient::new(address.clone()).with_auth("default", p),
                None => RedisClient::new(address.clone()),
            };
            if !run(&mut process, &client).await {
                continue;
            }
            let set = RedisSentinel {
                sentinel: address,
                master_name: master_name.clone(),
                sentinel_password: sentinel_password.map(str::to_owned),
                master_password: master_password.map(str::to_owned),
                servers: vec![master, replica],
                _sentinel: Some(process),
            };
            let expected = set.servers[0].address().to_owned();
            eventually(READY_DEADLINE, || {
                let got = set.try_master_address();
                let expected = expected.clone();
                async move {
                    match got {
                        Ok(a) if a == expected => Ok(()),
                        other => Err(format!("sentinel answers {other:?}")),
                    }
                }
            })
            .await;
            return set;
        }
        panic!("redis-sentinel did not start");
    }

    /// `host:port` of the sentinel.
    pub fn sentinel_address(&self) -> &str {
        &self.sentinel
    }

    /// The name the sentinel monitors the master under.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    fn sentinel_client(&self) -> RedisClient {
        let client = RedisClient::new(self.sentinel.clone());
        match &self.sentinel_password {
            Some(p) => client.with_auth("default", p),
            None => client,
        }
    }

    fn try_master_address(&self) -> Result<String, String> {
        let reply = self.sentinel_client().try_cmd(&[
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            &self.master_name,
        ])?;
        match reply {
            Resp::Array(Some(items)) if items.len() == 2 => Ok(format!(
                "{}:{}",
                items[0].as_str().unwrap_or_default(),
                items[1].as_str().unwrap_or_default()
            )),
            other => Err(format!("{other:?}")),
        }
    }

    /// The master's `host:port`, as the sentinel reports it.
    ///
    /// # Panics
    /// When the sentinel does not know the master.
    pub fn master_address(&self) -> String {
        self.try_master_address()
            .unwrap_or_else(|e| panic!("sentinel {}: {e}", self.sentinel))
    }

    /// A [`RedisClient`] on the master (authenticated when it has a password).
    pub fn master(&self) -> RedisClient {
        let client = RedisClient::new(self.master_address());
        match &self.master_password {
            Some(p) => client.with_auth("default", p),
            None => client,
        }
    }

    /// Kills the master (SIGKILL) of a set this test started; the sentinel notices after 5 s.
    ///
    /// # Panics
    /// On the shared set or one `.ci/run` started.
    pub fn kill_master(&mut self) {
        self.servers
            .first_mut()
            .expect("only a started set has servers")
            .kill();
    }

    /// Starts the killed master again on the same port, empty.
    ///
    /// # Panics
    /// On the shared set, or when the master does not come back within 30 s.
    pub async fn restart_master(&mut self) {
        self.servers
            .first_mut()
            .expect("only a started set has servers")
            .restart()
            .await;
    }

    /// Sends one command to the master; it must succeed.
    ///
    /// # Panics
    /// When the master cannot be reached or answers an error.
    pub fn cmd(&self, args: &[&str]) -> Resp {
        self.master().cmd(args)
    }
}

/// A loopback port nobody listens on whose cluster bus port (port + 10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let [port] = free_ports();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
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
