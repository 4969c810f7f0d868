//! Connections shared by every trigger that points at the same servers with the same
//! credentials.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, Cmd, ConnectionAddr, IntoConnectionInfo,
    Pipeline, RedisConnectionInfo, RedisFuture, RedisResult, TlsCertificates, TlsMode, Value,
};
use scalers_core::pool::SharedPool;
use scalers_core::secret::Secret;

use super::error::{Error, Failure, Result, User};
use super::topology::{Address, ClientIdentity, Connection, Tls, Topology};

/// Connection and response timeout of every Redis connection (KEDA has no timeout parameter for
/// Redis; this bounds a sample even when the caller sets no timeout).
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// First pause after a failed connection attempt; it doubles with each failure in a row.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest pause between connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The Redis connections of a set of triggers, one per servers and credentials.
///
/// Triggers built from the same pool whose [`Connection`]s are equal (same topology, addresses,
/// database, credentials and TLS settings) share one connection: one multiplexed connection
/// (kept up by a `redis::aio::ConnectionManager`, which reconnects with backoff) to a standalone
/// server or to the master a sentinel named, or one cluster client (one connection per node).
/// Samples from all those triggers are multiplexed on it concurrently.
///
/// The pool holds its connections weakly: a connection is closed when the last trigger using
/// it is dropped. [`register`](super::register) keeps one pool inside the registered
/// constructors rather than in a process-wide `static`, for the reasons
/// `scalers_prometheus::ClientPool` gives: everything built from one registry (in `scalerd`,
/// the whole process) shares, and a connection, whose driver task belongs to the tokio runtime
/// that opened it, never leaks into another runtime.
///
/// Cloning a pool gives another handle on the same connections.
#[derive(Clone, Default)]
pub struct RedisPool {
    entries: SharedPool<Connection, Shared>,
}

impl fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisPool")
            .field("connections", &self.len())
            .finish()
    }
}

impl RedisPool {
    /// An empty pool.
    pub fn new() -> Self {
        RedisPool::default()
    }

    /// How many distinct connections (servers + credentials) triggers of this pool hold.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no trigger of this pool holds a connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shared connection for `connection`. No I/O: it connects on first use.
    pub(crate) fn shared_for(&self, connection: &Connection) -> Arc<Shared> {
        self.entries
            .get_or_insert_with(connection, |c| Shared::new(c.clone()))
    }
}

/// A connection handle that commands can be sent through; cheap to clone.
#[derive(Clone)]
pub(crate) enum Conn {
    /// A standalone server or a sentinel-resolved master.
    Manager(ConnectionManager),
    /// A cluster.
    Cluster(ClusterConnection),
}

impl Conn {
    /// Runs `script` on `key` as `EVALSHA`, loading it on the server's `NOSCRIPT` and sending
    /// the same command again, as [`redis::Script::invoke_async`] does, but without building a
    /// script invocation per call (a sample's command is encoded once, from the key as it is).
    pub(crate) async fn eval_on_key<T: redis::FromRedisValue>(
        &mut self,
        script: &redis::Script,
        key: &str,
    ) -> RedisResult<T> {
        let hash = script.get_hash();
        let mut cmd = Cmd::with_capacity(4, hash.len() + key.len() + 8);
        cmd.arg("EVALSHA").arg(hash).arg(1).arg(key);
        match cmd.query_async(self).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                script.load_async(self).await?;
                cmd.query_async(self).await
            }
            answered => answered,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Manager(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Manager(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The connection state behind the lock.
#[derive(Default)]
struct State {
    /// The live connection and its generation.
    conn: Option<(Conn, u64)>,
    /// Incremented with each new connection.
    generation: u64,
    /// No new attempt before this; samples until then get `last_error`.
    retry_at: Option<Instant>,
    /// Why the last attempt (or the last connection) failed.
    last_error: Option<Error>,
}

/// One connection shared by the triggers of one [`Connection`].
pub(crate) struct Shared {
    connection: Connection,
    endpoint: String,
    user: User,
    state: tokio::sync::Mutex<State>,
    /// Failed attempts in a row, for the backoff.
    failures: AtomicU32,
}

impl Shared {
    fn new(connection: Connection) -> Self {
        let user = match &connection.username {
            Some(name) => User::Named(name.expose().to_owned()),
            None => User::Default,
        };
        Shared {
            endpoint: connection.endpoint(),
            connection,
            user,
            state: tokio::sync::Mutex::new(State::default()),
            failures: AtomicU32::new(0),
        }
    }

    /// How messages name the servers.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `command` (its name is for messages) on the shared connection, connecting first if
    /// needed, and classifies its failure.
    pub(crate) async fn run<T, F, Fut>(&self, command: &'static str, f: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (conn, generation) = self.get().await?;
        // One deadline for the whole command, reconnection attempts included.
        let error = match tokio::time::timeout(TIMEOUT, f(conn)).await {
            Ok(Ok(v)) => {
                if self.failures.load(Ordering::Relaxed) != 0 {
                    self.failures.store(0, Ordering::Relaxed);
                }
                return Ok(v);
            }
            Ok(Err(e)) => self.failure(command).classify(e),
            Err(_) => Error::Timeout {
                endpoint: self.endpoint.clone(),
                timeout: TIMEOUT,
            },
        };
        self.after_failure(&error, generation).await;
        Err(error)
    }

    fn failure(&self, command: &'static str) -> Failure<'_> {
        Failure {
            endpoint: &self.endpoint,
            command,
            user: &self.user,
            timeout: TIMEOUT,
        }
    }

    /// The live connection, or a new one; during the backoff after a failure, that failure.
    async fn get(&self) -> Result<(Conn, u64)> {
        let mut state = self.state.lock().await;
        if let Some((conn, generation)) = &state.conn {
            return Ok((conn.clone(), *generation));
        }
        if let (Some(at), Some(error)) = (state.retry_at, &state.last_error)
            && Instant::now() < at
        {
            return Err(error.clone());
        }
        // Concurrent samples wait on the lock and share this attempt's outcome.
        match self.connect().await {
            Ok(conn) => {
                state.generation += 1;
                state.conn = Some((conn.clone(), state.generation));
                state.retry_at = None;
                state.last_error = None;
                Ok((conn, state.generation))
            }
            Err(error) => {
                self.back_off(&mut state, &error);
                Err(error)
            }
        }
    }

    fn back_off(&self, state: &mut State, error: &Error) {
        let failures = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let pause = BACKOFF_MIN
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(BACKOFF_MAX);
        state.retry_at = Some(Instant::now() + pause);
        state.last_error = Some(error.clone());
    }

    /// Gives the connection up when it cannot recover by itself: refused credentials (a
    /// connection manager would retry the same handshake forever), or, behind sentinels and in
    /// clusters, an unreachable or silent server (the master may have moved; the slots may have
    /// changed).
    /// A standalone connection manager reconnects by itself after I/O errors.
    async fn after_failure(&self, error: &Error, generation: u64) {
        let renew = match error {
            Error::Unauthorized { .. } | Error::NoMaster { .. } => true,
            Error::Unavailable { .. } | Error::Timeout { .. } => {
                !matches!(self.connection.topology, Topology::Standalone { .. })
            }
            _ => false,
        };
        if !renew {
            return;
        }
        let mut state = self.state.lock().await;
        if state.conn.as_ref().is_some_and(|(_, g)| *g == generation) {
            state.conn = None;
            self.back_off(&mut state, error);
        }
    }

    /// Opens a connection: lazily for a standalone server (the manager connects on the first
    /// command), eagerly for a cluster (to learn its slots) and behind sentinels (to find the
    /// master).
    async fn connect(&self) -> Result<Conn> {
        let c = &self.connection;
        let setup = |e| self.failure("connect").classify(e);
        match &c.topology {
            Topology::Standalone { address, database } => {
                let client = client(
                    address,
                    *database,
                    c.username.as_ref(),
                    c.password.as_ref(),
                    c.tls.as_ref(),
                )
                .map_err(setup)?;
                manager(client).map_err(setup)
            }
            Topology::Cluster { nodes } => {
                let client = cluster_client(nodes, c).map_err(setup)?;
                let connecting = client.get_async_connection();
                match tokio::time::timeout(TIMEOUT * 2, connecting).await {
                    Ok(Ok(conn)) => Ok(Conn::Cluster(conn)),
                    Ok(Err(e)) => Err(self.failure("connect").classify(e)),
                    Err(_) => Err(Error::Timeout {
                        endpoint: self.endpoint.clone(),
                        timeout: TIMEOUT * 2,
                    }),
                }
            }
            Topology::Sentinel {
                sentinels,
                master,
                database,
                sentinel_username,
                sentinel_password,
            } => {
                let address = self
                    .find_master(
                        sentinels,
                        master,
                        sentinel_username.as_ref(),
                        sentinel_password.as_ref(),
                    )
                    .await?;
                let client = client(
                    &address,
                    *database,
                    c.username.as_ref(),
                    c.password.as_ref(),
                    c.tls.as_ref(),
                )
                .map_err(setup)?;
                manager(client).map_err(setup)
            }
        }
    }

    /// Asks the sentinels, in order, for the master's address
    /// (`SENTINEL GET-MASTER-ADDR-BY-NAME`); the first that knows it answers.
    async fn find_master(
        &self,
        sentinels: &[Address],
        master: &str,
        username: Option<&Secret>,
        password: Option<&Secret>,
    ) -> Result<Address> {
        let user = User::Sentinel(username.map(|u| u.expose().to_owned()));
        let failure = Failure {
            endpoint: &self.endpoint,
            command: "SENTINEL GET-MASTER-ADDR-BY-NAME",
            user: &user,
            timeout: TIMEOUT,
        };
        let mut last = None;
        for sentinel in sentinels {
            let asked = async {
                let client = client(
                    sentinel,
                    0,
                    username,
                    password,
                    self.connection.tls.as_ref(),
                )?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT));
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(master)
                    .query_async::<Option<(String, u16)>>(&mut conn)
                    .await
            };
            let outcome = match tokio::time::timeout(TIMEOUT * 2, asked).await {
                Ok(Ok(Some((host, port)))) => return Ok(Address { host, port }),
                Ok(Ok(None)) => Error::NoMaster {
                    endpoint: self.endpoint.clone(),
                    master: master.to_owned(),
                    source: redis::RedisError::from((
                        redis::ErrorKind::MasterNameNotFoundBySentinel,
                        "no sentinel knows the master",
                    )),
                },
                Ok(Err(e)) => failure.classify(e),
                Err(_) => Error::Timeout {
                    endpoint: self.endpoint.clone(),
                    timeout: TIMEOUT * 2,
                },
            };
            // A refused password is the answer; another sentinel would refuse it too.
            if matches!(outcome, Error::Unauthorized { .. }) {
                return Err(outcome);
            }
            last = Some(outcome);
        }
        Err(last.unwrap_or_else(|| Error::NoMaster {
            endpoint: self.endpoint.clone(),
            master: master.to_owned(),
            source: redis::RedisError::from((
                redis::ErrorKind::EmptySentinelList,
                "no sentinel address",
            )),
        }))
    }
}

/// A connection manager that connects on first use and reconnects, with backoff, after I/O
/// errors. Few retries per reconnection, so a sample during an outage fails fast (the next
/// sample starts the next reconnection).
fn manager(client: Client) -> RedisResult<Conn> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(2)
        .set_min_delay(BACKOFF_MIN)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_lazy_with_config(client, config).map(Conn::Manager)
}

/// The certificates of `tls` as the redis crate takes them.
///
/// redis-rs trusts only `root_cert` when it is given, so `ca` is appended to the system's roots
/// (as redis-rs itself loads them without a `ca`): `ca` adds to the system roots, the rule every
/// trigger follows (see [`scalers_core::tls`]).
fn certificates(ca: Option<&str>, identity: Option<&ClientIdentity>) -> TlsCertificates {
    TlsCertificates {
        client_tls: identity.map(|id| ClientTlsConfig {
            client_cert: id.cert.expose().as_bytes().to_vec(),
            client_key: id.key.expose().as_bytes().to_vec(),
        }),
        root_cert: ca.map(|pem| {
            let mut roots = system_roots_pem();
            roots.extend_from_slice(pem.as_bytes());
            roots
        }),
    }
}

/// The system's trusted roots (`SSL_CERT_FILE`, `SSL_CERT_DIR` or the platform store), in PEM.
///
/// A root that cannot be read or converted is left out, as redis-rs and rustls do with the
/// platform store.
fn system_roots_pem() -> Vec<u8> {
    let mut pem = Vec::new();
    for der in rustls_native_certs::load_native_certs().certs {
        if let Ok(cert) = openssl::x509::X509::from_der(&der)
            && let Ok(text) = cert.to_pem()
        {
            pem.extend_from_slice(&text);
        }
    }
    pem
}

/// Parses TLS material the way connecting will, without connecting.
pub(crate) fn check_certificates(
    ca: Option<&str>,
    identity: Option<&ClientIdentity>,
) -> RedisResult<()> {
    let info = ConnectionAddr::TcpTls {
        host: "127.0.0.1".to_owned(),
        port: 1,
        insecure: false,
        tls_params: None,
    }
    .into_connection_info()?;
    let mut certs = certificates(None, identity);
    certs.root_cert = ca.map(|pem| pem.as_bytes().to_vec());
    Client::build_with_tls(info, certs).map(drop)
}

/// A client (no I/O) for one server.
fn client(
    address: &Address,
    database: u32,
    username: Option<&Secret>,
    password: Option<&Secret>,
    tls: Option<&Tls>,
) -> RedisResult<Client> {
    let addr = match tls {
        Some(tls) => ConnectionAddr::TcpTls {
            host: address.host.clone(),
            port: address.port,
            insecure: tls.unsafe_ssl,
            tls_params: None,
        },
        None => ConnectionAddr::Tcp(address.host.clone(), address.port),
    };
    let mut settings = RedisConnectionInfo::default().set_db(i64::from(database));
    if let Some(username) = username {
        settings = settings.set_username(username.expose());
    }
    if let Some(password) = password {
        settings = settings.set_password(password.expose());
    }
    let info = addr.into_connection_info()?.set_redis_settings(settings);
    match tls {
        Some(tls) => {
            Client::build_with_tls(info, certificates(tls.ca.as_deref(), tls.client.as_ref()))
        }
        None => Client::open(info),
    }
}

/// A cluster client (no I/O) for these seed nodes.
fn cluster_client(
    nodes: &[Address],
    connection: &Connection,
) -> RedisResult<redis::cluster::ClusterClient> {
    let seeds = nodes
        .iter()
        .map(|a| ConnectionAddr::Tcp(a.host.clone(), a.port).into_connection_info())
        .collect::<RedisResult<Vec<_>>>()?;
    let mut builder = ClusterClientBuilder::new(seeds)
        .connection_timeout(TIMEOUT)
        .response_timeout(TIMEOUT)
        .retries(3);
    if let Some(username) = &connection.username {
        builder = builder.username(username.expose());
    }
    if let Some(password) = &connection.password {
        builder = builder.password(password.expose());
    }
    if let Some(tls) = &connection.tls {
        builder = builder
            .tls(if tls.unsafe_ssl {
                TlsMode::Insecure
            } else {
                TlsMode::Secure
            })
            .certs(certificates(tls.ca.as_deref(), tls.client.as_ref()));
    }
    builder.build()
}
