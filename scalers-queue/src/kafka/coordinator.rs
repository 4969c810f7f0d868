//! The committed offsets of any consumer group, asked of the group's coordinator over the
//! Kafka protocol by this crate itself, so that one client serves every group of a cluster.
//!
//! librdkafka reads committed offsets only for the group its instance was created with, and
//! rdkafka has no safe binding of the admin call that reads another group's
//! (`ListConsumerGroupOffsets`). Asking the coordinator directly needs four requests, all in
//! non-flexible versions every broker since Kafka 1.0 serves: ApiVersions (v0, to choose the
//! versions below within the broker's ranges), SaslHandshake (v1) and SaslAuthenticate (v0–v1)
//! when SASL is configured, FindCoordinator (v0–v2) and OffsetFetch (v1–v5).
//!
//! Connections are plain TCP or rustls (see [`scalers_core::tls::rustls_client_config`]),
//! blocking, each with a deadline; up to [`MAX_CONNECTIONS_PER_BROKER`] are kept per broker
//! and reused by every group's samples. A group's coordinator is remembered until it moves
//! (`NOT_COORDINATOR`) or its connection breaks.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;
use rustls::pki_types::ServerName;

use super::config::{KafkaConfig, Sasl, Tls};
use super::error::Error;
use super::sasl::{Exchange, Refused};
use super::wire::{Api, Malformed, Reader, Writer};

/// How many connections to one broker are open at most; more samples at once wait for one.
pub(crate) const MAX_CONNECTIONS_PER_BROKER: usize = 4;
/// The largest answer accepted (an OffsetFetch of thousands of partitions is well below).
const MAX_ANSWER: usize = 64 << 20;
const CLIENT_ID: &str = concat!("scalers/", env!("CARGO_PKG_VERSION"));

const API_VERSIONS: i16 = 18;
const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;
const FIND_COORDINATOR: i16 = 10;
const OFFSET_FETCH: i16 = 9;

/// Broker error codes this module acts on.
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;

/// The coordinator connections of one cluster and credentials.
pub(crate) struct Coordinators {
    /// The bootstrap servers, for messages.
    servers: String,
    bootstrap: Vec<String>,
    tls: Option<Tls>,
    sasl: Option<Sasl>,
    /// Built on the first TLS connection (it reads the system's roots).
    tls_config: Mutex<Option<Arc<rustls::ClientConfig>>>,
    /// Each group's coordinator, `host:port`, once found.
    coordinator_of: Mutex<HashMap<String, String>>,
    /// The connections to each broker, by `host:port`.
    brokers: Mutex<HashMap<String, Broker>>,
    /// Notified when a connection is given back or closed.
    returned: Condvar,
}

#[derive(Default)]
struct Broker {
    idle: Vec<Connection>,
    /// Open connections, idle or in use.
    open: usize,
}

/// Why a request did not get its answer; turned into an [`Error`] with what was asked.
#[derive(Debug)]
enum Failure {
    /// The deadline passed.
    Timeout,
    /// The connection failed or broke: refused, reset, TLS.
    Io { broker: String, reason: String },
    /// The answer does not parse.
    Malformed { broker: String, what: Malformed },
    /// The broker answered an error code.
    Code(i16),
    /// SASL failed: the broker refused (with its message), or the client stopped the exchange.
    Authentication { broker: String, reason: String },
}

impl Coordinators {
    pub(crate) fn new(config: &KafkaConfig) -> Self {
        Coordinators {
            servers: config.servers(),
            bootstrap: config.bootstrap_servers.clone(),
            tls: config.security.tls.clone(),
            sasl: config.security.sasl.clone(),
            tls_config: Mutex::new(None),
            coordinator_of: Mutex::new(HashMap::new()),
            brokers: Mutex::new(HashMap::new()),
            returned: Condvar::new(),
        }
    }

    /// How many connections are open, idle or in use.
    pub(crate) fn open(&self) -> usize {
        lock(&self.brokers).values().map(|b| b.open).sum()
    }

    /// The committed offsets of `group` on `partitions` (`None` where it committed nothing),
    /// by the deadline, which ends the sample's `timeout` (named in a timeout's message).
    ///
    /// A coordinator that moved, is loading, or whose connection broke is looked up again and
    /// asked again while time is left.
    pub(crate) fn committed(
        &self,
        group: &str,
        partitions: &[(String, i32)],
        deadline: Instant,
        timeout: Duration,
    ) -> Result<HashMap<(String, i32), Option<i64>>, Error> {
        let operation = "fetch committed offsets";
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let known = lock(&self.coordinator_of).get(group).cloned();
            let coordinator = match known {
                Some(address) => address,
                None => self.find_coordinator(group, deadline, timeout)?,
            };
            let answer = self.with_connection(&coordinator, deadline, |c| {
                c.offset_fetch(group, partitions, deadline)
            });
            let failure = match answer {
                Ok(Fetched::Offsets(offsets)) => return Ok(offsets),
                Ok(Fetched::Partition {
                    topic,
                    partition,
                    code,
                }) => {
                    return Err(Error::Partition {
                        servers: self.servers.clone(),
                        operation: operation.to_owned(),
                        topic,
                        partition,
                        code: error_code(code),
                    });
                }
                Err(f) => f,
            };
            let retry = matches!(
                failure,
                Failure::Io { .. }
                    | Failure::Code(
                        COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
                    )
            );
            if !retry || attempt >= 4 || Instant::now() >= deadline {
                return Err(self.error(operation, failure, timeout));
            }
            lock(&self.coordinator_of).remove(group);
            if !matches!(failure, Failure::Io { .. }) {
                pause(attempt, deadline);
            }
        }
    }

    /// Asks the bootstrap servers, in order, for the coordinator of `group`, and remembers it.
    fn find_coordinator(
        &self,
        group: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<String, Error> {
        let operation = format!("find the coordinator of group {group:?}");
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut last = Failure::Timeout;
            for server in &self.bootstrap {
                match self
                    .with_connection(server, deadline, |c| c.find_coordinator(group, deadline))
                {
                    Ok(address) => {
                        lock(&self.coordinator_of).insert(group.to_owned(), address.clone());
                        return Ok(address);
                    }
                    // Another server may be reachable.
                    Err(f @ (Failure::Io { .. } | Failure::Malformed { .. })) => last = f,
                    Err(f) => {
                        last = f;
                        break;
                    }
                }
            }
            // The group's coordinator is being elected, or the offsets topic created.
            let retry = matches!(
                last,
                Failure::Code(COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE)
            );
            if !retry || Instant::now() >= deadline {
                return Err(self.error(&operation, last, timeout));
            }
            pause(attempt, deadline);
        }
    }

    /// Runs `f` on a connection to `address`: an idle one, a new one if fewer than
    /// [`MAX_CONNECTIONS_PER_BROKER`] are open, else the first one given back before the
    /// deadline. A connection whose request failed is closed, not given back.
    fn with_connection<T>(
        &self,
        address: &str,
        deadline: Instant,
        f: impl FnOnce(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut brokers = lock(&self.brokers);
        let idle = loop {
            let broker = brokers.entry(address.to_owned()).or_default();
            if let Some(c) = broker.idle.pop() {
                break Some(c);
            }
            if broker.open < MAX_CONNECTIONS_PER_BROKER {
                broker.open += 1;
                break None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout);
            }
            brokers = self
                .returned
                .wait_timeout(brokers, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(brokers);
        let connection = match idle {
            Some(c) => Ok(c),
            None => self.connect(address, deadline),
        };
        let result = connection.and_then(|mut c| f(&mut c).map(|answer| (answer, c)));
        let mut brokers = lock(&self.brokers);
        let broker = brokers.entry(address.to_owned()).or_default();
        let answer = match result {
            Ok((answer, c)) => {
                broker.idle.push(c);
                Ok(answer)
            }
            Err(f) => {
                broker.open = broker.open.saturating_sub(1);
                Err(f)
            }
        };
        drop(brokers);
        self.returned.notify_one();
        answer
    }

    /// A new connection to `address`: TCP, TLS if configured, the versions, SASL if configured.
    fn connect(&self, address: &str, deadline: Instant) -> Result<Connection, Failure> {
        let io = |e: io::Error| io_failure(address, e);
        let addrs: Vec<_> = address.to_socket_addrs().map_err(io)?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to nothing");
        let mut tcp = None;
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout);
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or_else(|| io(last))?;
        tcp.set_nodelay(true).map_err(io)?;
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(tls) => {
                let config = self.tls_config(tls).map_err(|reason| Failure::Io {
                    broker: address.to_owned(),
                    reason,
                })?;
                let host = host_of(address);
                let name = ServerName::try_from(host.to_owned()).map_err(|_| Failure::Io {
                    broker: address.to_owned(),
                    reason: format!("{host:?} is not a valid TLS server name"),
                })?;
                let tls = rustls::ClientConnection::new(config, name).map_err(|e| Failure::Io {
                    broker: address.to_owned(),
                    reason: e.to_string(),
                })?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(tls, tcp)))
            }
        };
        let mut c = Connection {
            address: address.to_owned(),
            stream,
            correlation: 0,
            versions: Versions::default(),
        };
        c.negotiate(deadline)?;
        if let Some(sasl) = &self.sasl {
            c.authenticate(sasl, deadline)?;
        }
        Ok(c)
    }

    fn tls_config(&self, tls: &Tls) -> Result<Arc<rustls::ClientConfig>, String> {
        let mut slot = lock(&self.tls_config);
        if let Some(config) = slot.as_ref() {
            return Ok(config.clone());
        }
        let mut settings = tls.clone();
        if let Some(client) = &mut settings.client
            && let Some(password) = client.key_password.take()
        {
            client.key =
                crate::keys::decrypt_private_key(&client.key, &password).ok_or_else(|| {
                    "keyPassword does not decrypt key (expected a PEM private key)".to_owned()
                })?;
        }
        let config = scalers_core::tls::rustls_client_config(&settings)
            .map(Arc::new)
            .map_err(|e| format!("TLS setup: {e}"))?;
        *slot = Some(config.clone());
        Ok(config)
    }

    fn error(&self, operation: &str, failure: Failure, timeout: Duration) -> Error {
        let servers = self.servers.clone();
        let operation = operation.to_owned();
        match failure {
            Failure::Timeout => Error::NoAnswer {
                servers,
                operation,
                timeout,
            },
            Failure::Io { broker, reason } => Error::Broker {
                servers,
                operation,
                broker,
                reason,
            },
            Failure::Malformed { broker, what } => Error::Broker {
                servers,
                operation,
                broker,
                reason: what.to_string(),
            },
            Failure::Code(code) => Error::Request {
                servers,
                operation,
                code: error_code(code),
            },
            Failure::Authentication { broker, reason } => Error::Authentication {
                servers,
                operation,
                broker,
                reason,
            },
        }
    }
}

/// The answer to OffsetFetch.
enum Fetched {
    Offsets(HashMap<(String, i32), Option<i64>>),
    /// The first partition the broker answered an error for.
    Partition {
        topic: String,
        partition: i32,
        code: i16,
    },
}

/// The versions chosen for a connection, within the broker's ranges.
#[derive(Clone, Copy, Debug, Default)]
struct Versions {
    find_coordinator: i16,
    offset_fetch: i16,
    sasl_authenticate: i16,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One connection to a broker.
struct Connection {
    /// `host:port`, for messages.
    address: String,
    stream: Stream,
    correlation: i32,
    versions: Versions,
}

impl Connection {
    /// Sends one request and reads its answer's body, by the deadline.
    fn request(
        &mut self,
        api: Api,
        body: impl FnOnce(&mut Writer),
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Timeout);
        }
        let io = |e: io::Error| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::Timeout,
            _ => io_failure(&self.address, e),
        };
        let tcp = self.stream.tcp();
        tcp.set_read_timeout(Some(left)).map_err(io)?;
        tcp.set_write_timeout(Some(left)).map_err(io)?;
        self.correlation = self.correlation.wrapping_add(1);
        let mut w = Writer::request(api, self.correlation, CLIENT_ID);
        body(&mut w);
        let frame = w.finish();
        self.stream.write_all(&frame).map_err(io)?;
        self.stream.flush().map_err(io)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(io)?;
        let size = usize::try_from(i32::from_be_bytes(size)).unwrap_or(0);
        let malformed = |address: &str| Failure::Malformed {
            broker: address.to_owned(),
            what: Malformed("response frame"),
        };
        if !(4..=MAX_ANSWER).contains(&size) {
            return Err(malformed(&self.address));
        }
        let mut answer = vec![0u8; size];
        self.stream.read_exact(&mut answer).map_err(io)?;
        if answer[..4] != self.correlation.to_be_bytes() {
            return Err(malformed(&self.address));
        }
        answer.drain(..4);
        Ok(answer)
    }

    fn malformed(&self, what: Malformed) -> Failure {
        Failure::Malformed {
            broker: self.address.clone(),
            what,
        }
    }

    /// ApiVersions v0: chooses the versions of the requests this module sends.
    fn negotiate(&mut self, deadline: Instant) -> Result<(), Failure> {
        let api = Api {
            key: API_VERSIONS,
            version: 0,
        };
        let answer = self.request(api, |_| {}, deadline)?;
        let parsed = (|| {
            let mut r = Reader::new(&answer, "ApiVersions");
            // UNSUPPORTED_VERSION (35) still lists the ranges.
            let code = r.i16()?;
            let mut ranges = HashMap::new();
            for _ in 0..r.len()? {
                ranges.insert(r.i16()?, (r.i16()?, r.i16()?));
            }
            Ok((code, ranges))
        })();
        let (code, ranges) = parsed.map_err(|m| self.malformed(m))?;
        if code != 0 && code != 35 {
            return Err(Failure::Code(code));
        }
        let pick = |key: i16, ours: (i16, i16), name: &str| {
            let (min, max) = ranges.get(&key).copied().unwrap_or((-1, -1));
            let version = max.min(ours.1);
            if version < ours.0 || version < min {
                return Err(Failure::Io {
                    broker: self.address.clone(),
                    reason: format!(
                        "the broker serves {name} versions {min}-{max}, this client {}-{}",
                        ours.0, ours.1
                    ),
                });
            }
            Ok(version)
        };
        self.versions = Versions {
            find_coordinator: pick(FIND_COORDINATOR, (0, 2), "FindCoordinator")?,
            offset_fetch: pick(OFFSET_FETCH, (1, 5), "OffsetFetch")?,
            sasl_authenticate: if ranges.contains_key(&SASL_AUTHENTICATE) {
                pick(SASL_AUTHENTICATE, (0, 1), "SaslAuthenticate")?
            } else {
                -1
            },
        };
        Ok(())
    }

    /// SASL authentication ([`Connection::sasl_exchange`]). A broker that drops the connection
    /// meanwhile refused: brokers close the connection of a client they do not authenticate
    /// (tansu does so for a mechanism it does not offer), so this is an authentication failure,
    /// as librdkafka reports it too.
    fn authenticate(&mut self, sasl: &Sasl, deadline: Instant) -> Result<(), Failure> {
        self.sasl_exchange(sasl, deadline).map_err(|f| match f {
            Failure::Io { broker, reason } => Failure::Authentication {
                broker,
                reason: format!(
                    "the broker dropped the connection during the {} exchange ({reason})",
                    sasl.mechanism()
                ),
            },
            other => other,
        })
    }

    /// SaslHandshake v1, then SaslAuthenticate until the mechanism is done.
    fn sasl_exchange(&mut self, sasl: &Sasl, deadline: Instant) -> Result<(), Failure> {
        let refused = |address: &str, reason: String| Failure::Authentication {
            broker: address.to_owned(),
            reason,
        };
        if self.versions.sasl_authenticate < 0 {
            return Err(refused(
                &self.address,
                "the broker does not serve SaslAuthenticate".to_owned(),
            ));
        }
        let mechanism = sasl.mechanism();
        let api = Api {
            key: SASL_HANDSHAKE,
            version: 1,
        };
        let answer = self.request(api, |w| _ = w.string(mechanism), deadline)?;
        let mut r = Reader::new(&answer, "SaslHandshake");
        let code = r.i16().map_err(|m| self.malformed(m))?;
        if code != 0 {
            return Err(refused(
                &self.address,
                format!("{} (mechanism {mechanism})", error_code(code)),
            ));
        }
        let mut exchange =
            Exchange::new(sasl).map_err(|Refused(reason)| refused(&self.address, reason))?;
        let mut message = exchange.first();
        let version = self.versions.sasl_authenticate;
        loop {
            let api = Api {
                key: SASL_AUTHENTICATE,
                version,
            };
            let answer = self.request(api, |w| _ = w.bytes(&message), deadline)?;
            let parsed = (|| {
                let mut r = Reader::new(&answer, "SaslAuthenticate");
                Ok((r.i16()?, r.nullable_string()?, r.bytes()?))
            })();
            let (code, text, server) = parsed.map_err(|m| self.malformed(m))?;
            if code != 0 {
                let mut reason = error_code(code).to_string();
                if let Some(text) = text.filter(|t| !t.is_empty()) {
                    reason = format!("{reason}: {text}");
                }
                return Err(refused(&self.address, reason));
            }
            match exchange.answer(&server) {
                Ok(Some(next)) => message = next,
                Ok(None) => return Ok(()),
                Err(Refused(reason)) => return Err(refused(&self.address, reason)),
            }
        }
    }

    /// FindCoordinator for a group: the coordinator's `host:port`.
    fn find_coordinator(&mut self, group: &str, deadline: Instant) -> Result<String, Failure> {
        let version = self.versions.find_coordinator;
        let api = Api {
            key: FIND_COORDINATOR,
            version,
        };
        let answer = self.request(
            api,
            |w| {
                w.string(group);
                if version >= 1 {
                    // key_type 0: a consumer group.
                    w.i8(0);
                }
            },
            deadline,
        )?;
        let parsed = (|| {
            let mut r = Reader::new(&answer, "FindCoordinator");
            if version >= 1 {
                r.i32()?; // throttle_time_ms
            }
            let code = r.i16()?;
            if version >= 1 {
                r.nullable_string()?; // error_message
            }
            let _node = r.i32()?;
            Ok((code, r.string()?, r.i32()?))
        })();
        let (code, host, port) = parsed.map_err(|m| self.malformed(m))?;
        if code != 0 {
            return Err(Failure::Code(code));
        }
        Ok(if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        })
    }

    /// OffsetFetch of a group's committed offsets on `partitions`.
    fn offset_fetch(
        &mut self,
        group: &str,
        partitions: &[(String, i32)],
        deadline: Instant,
    ) -> Result<Fetched, Failure> {
        let version = self.versions.offset_fetch;
        let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
        for (topic, partition) in partitions {
            match topics.last_mut() {
                Some((t, ps)) if t == topic => ps.push(*partition),
                _ => topics.push((topic, vec![*partition])),
            }
        }
        let api = Api {
            key: OFFSET_FETCH,
            version,
        };
        let answer = self.request(
            api,
            |w| {
                w.string(group).len(topics.len());
                for (topic, ps) in &topics {
                    w.string(topic).len(ps.len());
                    for p in ps {
                        w.i32(*p);
                    }
                }
            },
            deadline,
        )?;
        let parsed = (|| {
            let mut r = Reader::new(&answer, "OffsetFetch");
            if version >= 3 {
                r.i32()?; // throttle_time_ms
            }
            let mut offsets = HashMap::new();
            let mut first_error = None;
            for _ in 0..r.len()? {
                let topic = r.string()?;
                for _ in 0..r.len()? {
                    let partition = r.i32()?;
                    let offset = r.i64()?;
                    if version >= 5 {
                        r.i32()?; // committed_leader_epoch
                    }
                    r.nullable_string()?; // metadata
                    let code = r.i16()?;
                    if code != 0 && first_error.is_none() {
                        first_error = Some((topic.clone(), partition, code));
                    }
                    offsets.insert((topic.clone(), partition), (offset >= 0).then_some(offset));
                }
            }
            let code = if version >= 2 { r.i16()? } else { 0 };
            Ok((code, first_error, offsets))
        })();
        let (code, first_error, offsets) = parsed.map_err(|m| self.malformed(m))?;
        if code != 0 {
            return Err(Failure::Code(code));
        }
        if let Some((topic, partition, code)) = first_error {
            // A coordinator that moved or is loading says so per partition in old versions.
            if matches!(code, NOT_COORDINATOR | COORDINATOR_LOAD_IN_PROGRESS) {
                return Err(Failure::Code(code));
            }
            return Ok(Fetched::Partition {
                topic,
                partition,
                code,
            });
        }
        Ok(Fetched::Offsets(offsets))
    }
}

/// librdkafka's name for a broker error code (the same numbers), `Fail` for one it does not
/// know.
fn error_code(code: i16) -> RDKafkaErrorCode {
    RDKafkaRespErr::try_from(i32::from(code))
        .map(RDKafkaErrorCode::from)
        .unwrap_or(RDKafkaErrorCode::Fail)
}

fn io_failure(address: &str, e: io::Error) -> Failure {
    let reason = match e.kind() {
        io::ErrorKind::UnexpectedEof => "the broker closed the connection".to_owned(),
        _ => e.to_string(),
    };
    Failure::Io {
        broker: address.to_owned(),
        reason,
    }
}

/// The host of `host:port` (without the brackets of an IPv6 address).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Waits before asking again: 50 ms, 100 ms, 200 ms…, never past the deadline.
fn pause(attempt: u32, deadline: Instant) {
    let wait = Duration::from_millis(50 << attempt.min(4).saturating_sub(1));
    std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use scalers_core::secret::Secret;
    use scalers_core::trigger::TriggerErrorKind;
    use scalers_testkit::KafkaBroker;

    use super::*;
    use crate::kafka::config::{ClientIdentity, Security, Tls, UserPassword};
    use crate::kafka::test_config;

    const TIMEOUT: Duration = Duration::from_millis(800);

    fn partitions() -> Vec<(String, i32)> {
        vec![("orders".to_owned(), 0)]
    }

    /// Asks for the committed offsets in a blocking thread, as a sample does.
    async fn committed(
        servers: &str,
        security: Security,
    ) -> Result<HashMap<(String, i32), Option<i64>>, Error> {
        let config = test_config(&[servers], security);
        tokio::task::spawn_blocking(move || {
            Coordinators::new(&config).committed(
                "workers",
                &partitions(),
                Instant::now() + TIMEOUT,
                TIMEOUT,
            )
        })
        .await
        .unwrap()
    }

    /// A server that accepts one connection, reads what comes, and answers `answer` to it (or
    /// nothing, holding the connection open until the test ends).
    fn server(answer: Option<Vec<u8>>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            match answer {
                Some(a) => _ = s.write_all(&a),
                None => std::thread::sleep(TIMEOUT * 2),
            }
        });
        (address, handle)
    }

    #[tokio::test]
    async fn every_mechanism_is_refused_by_a_broker_that_knows_no_user() {
        // tansu with authentication and no users: each exchange reaches SaslAuthenticate (or,
        // for SCRAM, the first server message) and is refused there.
        let broker = KafkaBroker::start_authenticating().await;
        let up = || UserPassword {
            username: Secret::new("alice"),
            password: Secret::new("wrong"),
        };
        for sasl in [
            Sasl::Plain(up()),
            Sasl::ScramSha256(up()),
            Sasl::ScramSha512(up()),
            Sasl::OAuthBearer {
                token: Secret::new("eyJhbGciOiJub25lIn0.e30."),
            },
        ] {
            let mechanism = sasl.mechanism();
            let security = Security {
                tls: None,
                sasl: Some(sasl),
            };
            let e = committed(broker.bootstrap(), security).await.unwrap_err();
            assert_eq!(e.kind(), TriggerErrorKind::Unauthorized, "{mechanism}: {e}");
            let prefix = format!(
                "{0}: find the coordinator of group \"workers\": broker {0}: SASL authentication \
                 failed: ",
                broker.bootstrap()
            );
            let message = e.to_string();
            assert!(message.starts_with(&prefix), "{mechanism}: {message}");
            assert!(!message.contains("wrong"), "{mechanism}: {message}");
        }
    }

    #[tokio::test]
    async fn a_broker_that_never_answers_is_no_answer_within_the_timeout() {
        let (address, handle) = server(None);
        let started = Instant::now();
        let e = committed(&address, Security::default()).await.unwrap_err();
        assert!(started.elapsed() < TIMEOUT * 2, "{:?}", started.elapsed());
        assert_eq!(e.kind(), TriggerErrorKind::Timeout);
        assert_eq!(
            e.to_string(),
            format!(
                "{address}: find the coordinator of group \"workers\": no answer within 800 ms"
            )
        );
        handle.join().unwrap();
    }

    #[tokio::test]
    async fn an_answer_that_does_not_parse_names_the_broker() {
        // A frame of 6 bytes: a correlation id that is not ours.
        let (address, handle) = server(Some(vec![0, 0, 0, 6, 0, 0, 0, 99, 0, 0]));
        let e = committed(&address, Security::default()).await.unwrap_err();
        assert_eq!(e.kind(), TriggerErrorKind::Unavailable);
        assert_eq!(
            e.to_string(),
            format!(
                "{address}: find the coordinator of group \"workers\": broker {address}: \
                 malformed response frame answer"
            )
        );
        handle.join().unwrap();
    }

    /// Test-only TLS material (see scalers-prometheus/tests/tls/README.md).
    fn pem(name: &str) -> String {
        let path = format!(
            "{}/../scalers-prometheus/tests/tls/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// TLS against a real TLS server (an HTTP stub, not a broker): the certificate is checked
    /// against the system roots plus `ca`, a client certificate is presented, and what comes
    /// after the handshake is a Kafka request the server does not understand.
    #[tokio::test]
    async fn tls_verifies_the_broker_and_presents_the_client_certificate() {
        use scalers_testkit::{HttpStub, StubTls};

        let stub = HttpStub::respond_tls(
            &StubTls {
                cert_chain: pem("server.pem"),
                key: pem("server.key"),
                client_ca: Some(pem("ca.pem")),
            },
            200,
            "text/plain",
            "not kafka",
        )
        .await;
        let address = stub.addr().to_string();
        let tls = |ca: Option<String>, unsafe_ssl: bool| Security {
            tls: Some(Tls {
                ca,
                client: Some(ClientIdentity::new(
                    Secret::new(pem("client.pem")),
                    Secret::new(pem("client.key")),
                )),
                unsafe_ssl,
            }),
            sasl: None,
        };
        let broker_error = |e: &Error| match e {
            Error::Broker { broker, reason, .. } if *broker == address => reason.clone(),
            other => panic!("not a Broker error of {address}: {other}"),
        };
        // Not trusted: the system roots do not know the test CA.
        let e = committed(&address, tls(None, false)).await.unwrap_err();
        let reason = broker_error(&e);
        assert!(reason.contains("certificate"), "{reason}");
        assert_eq!(stub.failed_handshakes(), 1);
        // Trusted through `ca`, or with `unsafeSsl`: the handshake passes, mutual TLS included
        // (the stub requires a client certificate); the stub then waits for an HTTP request's
        // end, which a Kafka request never sends, so no answer comes.
        for security in [tls(Some(pem("ca.pem")), false), tls(None, true)] {
            let e = committed(&address, security).await.unwrap_err();
            assert_eq!(e.kind(), TriggerErrorKind::Timeout, "{e}");
        }
        assert_eq!((stub.connections(), stub.failed_handshakes()), (3, 1));
    }

    #[tokio::test]
    async fn no_broker_listening_names_the_refused_connection() {
        let e = committed("127.0.0.1:1", Security::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), TriggerErrorKind::Unavailable);
        let message = e.to_string();
        assert!(
            message.starts_with(
                "127.0.0.1:1: find the coordinator of group \"workers\": broker 127.0.0.1:1: "
            ) && message.contains("refused"),
            "{message}"
        );
    }

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("kafka-0:9092"), "kafka-0");
        assert_eq!(host_of("[::1]:9092"), "::1");
    }
}
