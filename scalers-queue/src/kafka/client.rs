//! Kafka clients shared by every trigger with the same brokers and credentials, and the
//! blocking broker round of one sample.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use scalers_core::pool::SharedPool;
use scalers_core::secret::Secret;

use super::config::{KafkaConfig, PartitionLimitation, Sasl, Security};
use super::coordinator::Coordinators;
use super::error::{Error, Result, error_code};
use super::lag::PartitionOffsets;

/// The Kafka clients of a set of triggers.
///
/// Triggers built from the same pool that name the same bootstrap servers, TLS material and
/// SASL credentials share one client, whatever their consumer groups and topics: one librdkafka
/// instance, with its connections and threads, created on the first sample that needs it, for
/// metadata and log offsets; and up to four connections per coordinator for the groups'
/// committed offsets. The pool holds its clients weakly: a client is closed when the last
/// trigger using it is dropped.
///
/// Why two parts: librdkafka reads committed offsets only for the group its instance was
/// created with (`group.id`), and rdkafka has no safe binding of the admin API that reads any
/// group's offsets (`ListConsumerGroupOffsets`; the workspace forbids `unsafe`). So the
/// committed offsets are asked of each group's coordinator by this crate itself (FindCoordinator
/// and OffsetFetch, with the same TLS and SASL settings), and the librdkafka instance has no
/// group. Nothing joins a group or commits.
///
/// [`register`](super::register) keeps one pool inside the registered constructor rather than
/// in a process-wide `static`, so everything built from one registry shares and nothing is
/// shared behind an embedder's back.
///
/// Cloning a pool gives another handle on the same clients.
#[derive(Clone, Default)]
pub struct ClientPool {
    clients: SharedPool<ClientKey, SharedClient>,
}

impl fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientPool")
            .field("clients", &self.len())
            .field("connected", &self.connected())
            .finish()
    }
}

impl ClientPool {
    /// An empty pool.
    pub fn new() -> Self {
        ClientPool::default()
    }

    fn live(&self) -> Vec<Arc<SharedClient>> {
        self.clients.live()
    }

    /// How many distinct clients the triggers of this pool hold.
    pub fn len(&self) -> usize {
        self.live().len()
    }

    /// Whether no trigger of this pool holds a client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of those clients have created their librdkafka instance (on a first sample):
    /// building a trigger creates none.
    pub fn connected(&self) -> usize {
        self.live().iter().filter(|c| c.is_created()).count()
    }

    /// How many connections to group coordinators the clients hold open (at most four per
    /// coordinator and client, whatever the number of groups).
    pub fn coordinator_connections(&self) -> usize {
        self.live().iter().map(|c| c.coordinators.open()).sum()
    }

    /// The client for `config`, shared with every trigger of the same key. Cheap: the
    /// librdkafka instance is created on first use.
    pub(crate) fn client_for(&self, config: &KafkaConfig) -> Arc<SharedClient> {
        let key = ClientKey {
            servers: config.bootstrap_servers.clone(),
            security: config.security.clone(),
        };
        self.clients.get_or_insert_with(&key, |_| SharedClient {
            servers: config.servers(),
            coordinators: Coordinators::new(config),
            properties: properties(config),
            oauth_token: match &config.security.sasl {
                Some(Sasl::OAuthBearer { token }) => Some(token.clone()),
                _ => None,
            },
            consumer: Mutex::new(None),
        })
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    servers: Vec<String>,
    security: Security,
}

/// The librdkafka configuration of a trigger's client.
///
/// `isolation.level=read_uncommitted` makes the log-end offset the high watermark, as in KEDA
/// (sarama's `OffsetNewest`); `allow.auto.create.topics=false` keeps a metadata request for a
/// missing topic from creating it.
pub(crate) fn properties(config: &KafkaConfig) -> Vec<(&'static str, Secret)> {
    let mut p = vec![
        ("bootstrap.servers", Secret::new(config.servers())),
        (
            "client.id",
            Secret::new(concat!("scalers/", env!("CARGO_PKG_VERSION"))),
        ),
        ("enable.auto.commit", Secret::new("false")),
        ("enable.auto.offset.store", Secret::new("false")),
        ("allow.auto.create.topics", Secret::new("false")),
        ("isolation.level", Secret::new("read_uncommitted")),
    ];
    let security = &config.security;
    let protocol = match (&security.tls, &security.sasl) {
        (None, None) => "plaintext",
        (Some(_), None) => "ssl",
        (None, Some(_)) => "sasl_plaintext",
        (Some(_), Some(_)) => "sasl_ssl",
    };
    p.push(("security.protocol", Secret::new(protocol)));
    if let Some(tls) = &security.tls {
        if let Some(ca) = &tls.ca {
            // librdkafka trusts only `ssl.ca.pem` when it is given alone; naming the system's
            // bundle in `ssl.ca.location` loads it into the same store first, so `ca` adds to
            // the system roots, the rule every trigger follows (see `scalers_core::tls`).
            if let Some(location) = system_roots_location() {
                p.push(("ssl.ca.location", Secret::new(location)));
            }
            p.push(("ssl.ca.pem", Secret::new(ca.as_str())));
        }
        if let Some(client) = &tls.client {
            p.push(("ssl.certificate.pem", client.cert.clone()));
            p.push(("ssl.key.pem", client.key.clone()));
            if let Some(password) = &client.key_password {
                p.push(("ssl.key.password", password.clone()));
            }
        }
        if tls.unsafe_ssl {
            p.push(("enable.ssl.certificate.verification", Secret::new("false")));
            p.push(("ssl.endpoint.identification.algorithm", Secret::new("none")));
        }
    }
    if let Some(sasl) = &security.sasl {
        p.push(("sasl.mechanism", Secret::new(sasl.mechanism())));
        match sasl {
            Sasl::Plain(up) | Sasl::ScramSha256(up) | Sasl::ScramSha512(up) => {
                p.push(("sasl.username", up.username.clone()));
                p.push(("sasl.password", up.password.clone()));
            }
            // The token is handed over by the client context when librdkafka asks for it.
            Sasl::OAuthBearer { .. } => {}
        }
    }
    p
}

/// Where the system's trusted roots are, as OpenSSL finds them: `SSL_CERT_FILE`, else the
/// distribution's bundle, else its certificate directory (`SSL_CERT_DIR` or the usual places).
pub(crate) fn system_roots_location() -> Option<String> {
    let probe = openssl_probe::probe();
    probe
        .cert_file
        .or_else(|| probe.cert_dir.into_iter().next())
        .map(|path| path.to_string_lossy().into_owned())
}

/// The client context: hands a static OAUTHBEARER token to librdkafka when it asks, and keeps
/// the client's latest error events (transport failures, TLS or SASL failures), which explain a
/// request that failed for want of a usable broker.
pub(crate) struct TokenContext {
    token: Option<Secret>,
    events: Mutex<ErrorEvents>,
}

/// The error events a client reported, numbered.
#[derive(Default)]
struct ErrorEvents {
    /// How many have been reported.
    count: u64,
    /// The latest specific one (not "all brokers are down"), with its number.
    specific: Option<(u64, RDKafkaErrorCode)>,
    /// The latest one of any code, with its number.
    any: Option<(u64, RDKafkaErrorCode)>,
}

impl TokenContext {
    fn new(token: Option<Secret>) -> Self {
        TokenContext {
            token,
            events: Mutex::new(ErrorEvents::default()),
        }
    }

    fn events(&self) -> std::sync::MutexGuard<'_, ErrorEvents> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an error event.
    fn record(&self, code: RDKafkaErrorCode) {
        let mut events = self.events();
        events.count += 1;
        let event = Some((events.count, code));
        if code != RDKafkaErrorCode::AllBrokersDown {
            events.specific = event;
        }
        events.any = event;
    }

    /// How many error events have been reported so far.
    fn event_count(&self) -> u64 {
        self.events().count
    }

    /// The most telling error event reported after the first `seen`: a specific one rather
    /// than "all brokers are down".
    fn event_since(&self, seen: u64) -> Option<RDKafkaErrorCode> {
        let events = self.events();
        [events.specific, events.any]
            .into_iter()
            .flatten()
            .find(|(n, _)| *n > seen)
            .map(|(_, code)| code)
    }
}

/// How long librdkafka is told a static token lives; it asks again (for the same token) at 80%.
const STATIC_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

impl ClientContext for TokenContext {
    // Only has an effect with `sasl.mechanism=OAUTHBEARER`.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    /// Error events are kept, not logged: a failed sample returns them, and a log line as
    /// well would say it twice. Called by `poll` (see [`drain`]).
    fn error(&self, error: KafkaError, _reason: &str) {
        self.record(error_code(&error));
    }

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let token = self.token.as_ref().ok_or("no oauthToken configured")?;
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + STATIC_TOKEN_LIFETIME;
        Ok(OAuthToken {
            token: token.expose().to_owned(),
            // librdkafka wants a principal name; it stays on the client side.
            principal_name: "scalers".to_owned(),
            lifetime_ms: i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX),
        })
    }
}

impl ConsumerContext for TokenContext {}

type KafkaConsumer = BaseConsumer<TokenContext>;

/// One librdkafka instance, created on first use.
pub(crate) struct SharedClient {
    /// The bootstrap servers, for messages.
    servers: String,
    properties: Vec<(&'static str, Secret)>,
    oauth_token: Option<Secret>,
    consumer: Mutex<Option<Arc<KafkaConsumer>>>,
    /// The groups' committed offsets.
    coordinators: Coordinators,
}

/// What one sample asks the brokers.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    /// The consumer group whose committed offsets count.
    pub(crate) group: String,
    pub(crate) topic: Option<String>,
    pub(crate) limitation: Option<PartitionLimitation>,
    /// Whether uncommitted partitions need their log-start offset (`earliest` policy without
    /// `scaleToZeroOnInvalidOffset`).
    pub(crate) log_start: bool,
    pub(crate) timeout: Duration,
}

impl SharedClient {
    /// The bootstrap servers, for messages.
    pub(crate) fn servers(&self) -> &str {
        &self.servers
    }

    fn is_created(&self) -> bool {
        self.consumer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The librdkafka instance, created now if this is its first use. A failed creation is not
    /// remembered: the next sample tries again. Blocking (the lock is held while creating).
    fn consumer(&self) -> Result<Arc<KafkaConsumer>> {
        let mut slot = self.consumer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(consumer) = slot.as_ref() {
            return Ok(consumer.clone());
        }
        let mut config = ClientConfig::new();
        for (name, value) in &self.properties {
            config.set(*name, value.expose());
        }
        let context = TokenContext::new(self.oauth_token.clone());
        let consumer = KafkaConsumer::from_config_and_context(&config, context)
            .map(Arc::new)
            .map_err(|source| Error::Client {
                servers: self.servers.clone(),
                source,
            })?;
        *slot = Some(consumer.clone());
        Ok(consumer)
    }

    /// One broker round: the partitions of the query with their committed, log-start and
    /// log-end offsets, sorted by topic and partition. Blocking; bounded by `query.timeout`.
    ///
    /// 1. Metadata of the topic (or of every topic, without one): its partitions, filtered by
    ///    `partitionLimitation`.
    /// 2. The group's committed offsets of those partitions (one OffsetFetch to its
    ///    coordinator, see [`Coordinators`]). Without a topic, the topics on which the group
    ///    committed nothing are dropped here.
    /// 3. The log-end offsets (ListOffsets, latest), and, when needed, the log-start offsets of
    ///    the uncommitted partitions (ListOffsets, earliest): one request per leader each.
    pub(crate) fn fetch(&self, query: &Query) -> Result<Vec<PartitionOffsets>> {
        let deadline = Instant::now() + query.timeout;
        let remaining = || deadline.saturating_duration_since(Instant::now());
        let consumer = self.consumer()?;
        // Serve queued events: errors, logs, and the OAUTHBEARER token request.
        drain(&consumer);
        let seen = consumer.context().event_count();
        let failed =
            |operation: &str, e: &KafkaError| self.failure(&consumer, seen, query, operation, e);

        let partitions = self.partitions(&consumer, query, remaining(), &failed)?;
        if partitions.is_empty() {
            return Ok(Vec::new());
        }

        let committed =
            self.coordinators
                .committed(&query.group, &partitions, deadline, query.timeout)?;
        let mut partitions: Vec<PartitionOffsets> = partitions
            .into_iter()
            .map(|(topic, partition)| {
                let committed = committed
                    .get(&(topic.clone(), partition))
                    .copied()
                    .flatten();
                PartitionOffsets {
                    topic,
                    partition,
                    committed,
                    log_start: None,
                    log_end: None,
                }
            })
            .collect();
        if query.topic.is_none() {
            let committed_topics: BTreeSet<String> = partitions
                .iter()
                .filter(|p| p.committed.is_some())
                .map(|p| p.topic.clone())
                .collect();
            partitions.retain(|p| committed_topics.contains(&p.topic));
            if partitions.is_empty() {
                return Ok(partitions);
            }
        }

        let all: Vec<(String, i32)> = partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        let log_end = self.log_offsets(
            &consumer,
            "list log-end offsets",
            &all,
            Offset::End,
            remaining(),
            &failed,
        )?;
        for p in &mut partitions {
            p.log_end = log_end
                .get(&(p.topic.clone(), p.partition))
                .copied()
                .flatten();
        }

        let uncommitted: Vec<(String, i32)> = partitions
            .iter()
            .filter(|p| p.committed.is_none())
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        if query.log_start && !uncommitted.is_empty() {
            let log_start = self.log_offsets(
                &consumer,
                "list log-start offsets",
                &uncommitted,
                Offset::Beginning,
                remaining(),
                &failed,
            )?;
            for p in &mut partitions {
                p.log_start = log_start
                    .get(&(p.topic.clone(), p.partition))
                    .copied()
                    .flatten();
            }
        }
        Ok(partitions)
    }

    /// The partitions to measure, from metadata.
    fn partitions(
        &self,
        consumer: &KafkaConsumer,
        query: &Query,
        timeout: Duration,
        failed: &dyn Fn(&str, &KafkaError) -> Error,
    ) -> Result<Vec<(String, i32)>> {
        let operation = match &query.topic {
            Some(topic) => format!("fetch metadata of topic {topic:?}"),
            None => "fetch metadata".to_owned(),
        };
        let metadata = consumer
            .fetch_metadata(query.topic.as_deref(), timeout)
            .map_err(|e| failed(&operation, &e))?;
        let mut partitions = Vec::new();
        match &query.topic {
            Some(topic) => {
                let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
                    return Err(self.unknown_topic(topic));
                };
                match found.error().map(RDKafkaErrorCode::from) {
                    None => {}
                    Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                        return Err(self.unknown_topic(topic));
                    }
                    Some(code) => {
                        return Err(Error::Request {
                            servers: self.servers.clone(),
                            operation,
                            code,
                        });
                    }
                }
                let all = found.partitions().len();
                partitions.extend(
                    found
                        .partitions()
                        .iter()
                        .map(|p| p.id())
                        .filter(|id| query.limitation.as_ref().is_none_or(|l| l.contains(*id)))
                        .map(|id| (topic.clone(), id)),
                );
                if let (Some(limitation), true) = (&query.limitation, partitions.is_empty()) {
                    return Err(Error::NoPartitionSelected {
                        servers: self.servers.clone(),
                        topic: topic.clone(),
                        partitions: all,
                        limitation: limitation.to_string(),
                    });
                }
            }
            None => {
                // Every topic the cluster has; those the group never committed on are dropped
                // after the committed offsets come back.
                for t in metadata.topics().iter().filter(|t| t.error().is_none()) {
                    partitions.extend(t.partitions().iter().map(|p| (t.name().to_owned(), p.id())));
                }
            }
        }
        partitions.sort();
        Ok(partitions)
    }

    /// Log offsets (`which` is `Offset::End` or `Offset::Beginning`) of `partitions`. A
    /// partition missing from the answer maps to `None`.
    fn log_offsets(
        &self,
        consumer: &KafkaConsumer,
        operation: &str,
        partitions: &[(String, i32)],
        which: Offset,
        timeout: Duration,
        failed: &dyn Fn(&str, &KafkaError) -> Error,
    ) -> Result<HashMap<(String, i32), Option<i64>>> {
        // ListOffsets with the special timestamps -1 (latest) and -2 (earliest): one request per
        // leader for all partitions, where `fetch_watermarks` would send two per partition.
        let answer = consumer
            .offsets_for_times(list(partitions, which), timeout)
            .map_err(|e| failed(operation, &e))?;
        // A partition the broker did not answer for keeps the timestamp we sent.
        self.offsets(operation, &answer, |o| match o {
            Offset::Offset(n) => Some(n),
            _ => None,
        })
    }

    /// The offsets of a list, failing on the first partition with an error.
    fn offsets(
        &self,
        operation: &str,
        list: &TopicPartitionList,
        read: impl Fn(Offset) -> Option<i64>,
    ) -> Result<HashMap<(String, i32), Option<i64>>> {
        let mut offsets = HashMap::new();
        for e in list.elements() {
            if let Err(err) = e.error() {
                return Err(Error::Partition {
                    servers: self.servers.clone(),
                    operation: operation.to_owned(),
                    topic: e.topic().to_owned(),
                    partition: e.partition(),
                    code: error_code(&err),
                });
            }
            offsets.insert((e.topic().to_owned(), e.partition()), read(e.offset()));
        }
        Ok(offsets)
    }

    /// A failed request. When it failed for want of a usable broker (a transport failure or a
    /// timeout), the client's error events since the sample began say why (connection
    /// refused, TLS handshake, SASL authentication); without any, no broker answered in time.
    fn failure(
        &self,
        consumer: &KafkaConsumer,
        seen: u64,
        query: &Query,
        operation: &str,
        e: &KafkaError,
    ) -> Error {
        use RDKafkaErrorCode as C;
        let code = error_code(e);
        let servers = self.servers.clone();
        let operation = operation.to_owned();
        if !matches!(
            code,
            C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::OperationTimedOut
                | C::RequestTimedOut
                | C::TimedOutQueue
        ) {
            return Error::Request {
                servers,
                operation,
                code,
            };
        }
        drain(consumer);
        match consumer.context().event_since(seen) {
            Some(code) => Error::Request {
                servers,
                operation,
                code,
            },
            None => Error::NoAnswer {
                servers,
                operation,
                timeout: query.timeout,
            },
        }
    }

    fn unknown_topic(&self, topic: &str) -> Error {
        Error::UnknownTopic {
            servers: self.servers.clone(),
            topic: topic.to_owned(),
        }
    }
}

/// A partition list with the same offset on every partition.
fn list(partitions: &[(String, i32)], offset: Offset) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        // Only fails for offsets librdkafka cannot represent; ours are its special values.
        let _ = list.add_partition_offset(topic, *partition, offset);
    }
    list
}

/// Serves the events queued on the client (the instance has no subscription, so no message
/// comes): an OAUTHBEARER token request is answered, error events are recorded by the context
/// (and returned by `poll` as errors, ignored here), log lines go to the `log` crate.
///
/// `poll` answers `None` both for an empty queue and for an event it handled itself (a log
/// line), unless given time: with 1 ms it goes on past handled events and answers `None` only
/// once the queue stays empty. Bounded, so that a flood of events cannot hold the sample.
fn drain(consumer: &KafkaConsumer) {
    for _ in 0..1000 {
        // An error event comes back as `Some(Err(_))`, already recorded by
        // `TokenContext::error`, which `poll` calls first.
        if consumer.poll(Duration::from_millis(1)).is_none() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::config::{ClientIdentity, Tls, UserPassword};

    fn config(security: Security) -> KafkaConfig {
        crate::kafka::test_config(&["a:9092", "b:9093"], security)
    }

    fn shown(config: &KafkaConfig) -> Vec<(&'static str, String)> {
        properties(config)
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_owned()))
            .collect()
    }

    const BASE: [(&str, &str); 6] = [
        ("bootstrap.servers", "a:9092,b:9093"),
        ("client.id", concat!("scalers/", env!("CARGO_PKG_VERSION"))),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("allow.auto.create.topics", "false"),
        ("isolation.level", "read_uncommitted"),
    ];

    fn expected(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        BASE.iter()
            .chain(extra)
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect()
    }

    /// librdkafka builds its TLS context when the client is created: with `ssl.ca.location`
    /// (the system bundle) and `ssl.ca.pem` both set, it loads both, and a `ca` that is not PEM
    /// fails there, so the `ca` is read and not ignored.
    #[test]
    fn librdkafka_loads_the_system_roots_and_the_ca_together() {
        use rdkafka::ClientConfig;
        use rdkafka::config::FromClientConfig;
        use rdkafka::consumer::{BaseConsumer, DefaultConsumerContext};
        let create = |ca: &str| {
            let c = config(Security {
                tls: Some(Tls {
                    ca: Some(ca.to_owned()),
                    client: None,
                    unsafe_ssl: false,
                }),
                sasl: None,
            });
            let mut cc = ClientConfig::new();
            for (name, value) in properties(&c) {
                cc.set(name, value.expose());
            }
            BaseConsumer::<DefaultConsumerContext>::from_config(&cc)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        let ca = include_str!("../../../scalers-prometheus/tests/tls/ca.pem");
        assert_eq!(create(ca), Ok(()));
        let e = create("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(e.contains("ssl.ca.pem"), "{e}");
    }

    #[test]
    fn plaintext_properties() {
        assert_eq!(
            shown(&config(Security::default())),
            expected(&[("security.protocol", "plaintext")])
        );
    }

    #[test]
    fn tls_and_sasl_properties() {
        // `ca` is added to the system's roots: librdkafka loads the bundle, then `ssl.ca.pem`.
        let roots =
            system_roots_location().expect("a system CA bundle (Debian package ca-certificates)");
        let up = UserPassword {
            username: Secret::new("u"),
            password: Secret::new("p"),
        };
        let tls = Tls {
            ca: Some("CA".to_owned()),
            client: Some(ClientIdentity {
                cert: Secret::new("CERT"),
                key: Secret::new("KEY"),
                key_password: Some(Secret::new("KP")),
            }),
            unsafe_ssl: true,
        };
        let c = config(Security {
            tls: Some(tls),
            sasl: Some(Sasl::ScramSha512(up.clone())),
        });
        assert_eq!(
            shown(&c),
            expected(&[
                ("security.protocol", "sasl_ssl"),
                ("ssl.ca.location", roots.as_str()),
                ("ssl.ca.pem", "CA"),
                ("ssl.certificate.pem", "CERT"),
                ("ssl.key.pem", "KEY"),
                ("ssl.key.password", "KP"),
                ("enable.ssl.certificate.verification", "false"),
                ("ssl.endpoint.identification.algorithm", "none"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "u"),
                ("sasl.password", "p"),
            ])
        );
        let c = config(Security {
            tls: None,
            sasl: Some(Sasl::Plain(up.clone())),
        });
        assert_eq!(
            shown(&c),
            expected(&[
                ("security.protocol", "sasl_plaintext"),
                ("sasl.mechanism", "PLAIN"),
                ("sasl.username", "u"),
                ("sasl.password", "p"),
            ])
        );
        let c = config(Security {
            tls: Some(Tls {
                ca: None,
                client: None,
                unsafe_ssl: false,
            }),
            sasl: Some(Sasl::OAuthBearer {
                token: Secret::new("t"),
            }),
        });
        assert_eq!(
            shown(&c),
            expected(&[
                ("security.protocol", "sasl_ssl"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ])
        );
        let c = config(Security {
            tls: None,
            sasl: Some(Sasl::ScramSha256(up)),
        });
        assert!(shown(&c).contains(&("sasl.mechanism", "SCRAM-SHA-256".to_owned())));
    }

    #[test]
    fn static_token_is_handed_over_and_its_absence_is_an_error() {
        let ctx = TokenContext::new(Some(Secret::new("tok")));
        let token = ctx.generate_oauth_token(None).unwrap();
        assert_eq!(token.token, "tok");
        assert_eq!(token.principal_name, "scalers");
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(token.lifetime_ms > now_ms + 3_500_000);
        let none = TokenContext::new(None);
        let Err(e) = none.generate_oauth_token(None) else {
            panic!("a token without oauthToken");
        };
        assert_eq!(e.to_string(), "no oauthToken configured");
    }

    #[test]
    fn the_most_telling_recent_error_event_explains_a_failure() {
        use RDKafkaErrorCode as C;
        let ctx = TokenContext::new(None);
        assert_eq!(ctx.event_since(0), None);
        ctx.record(C::BrokerTransportFailure);
        ctx.record(C::AllBrokersDown);
        // The specific event wins over "all brokers are down".
        assert_eq!(ctx.event_since(0), Some(C::BrokerTransportFailure));
        let seen = ctx.event_count();
        assert_eq!((seen, ctx.event_since(seen)), (2, None));
        // Only "all brokers are down" since: that is what there is.
        ctx.record(C::AllBrokersDown);
        assert_eq!(ctx.event_since(seen), Some(C::AllBrokersDown));
        ctx.record(C::Authentication);
        ctx.record(C::AllBrokersDown);
        assert_eq!(ctx.event_since(seen), Some(C::Authentication));
        // Through the context callback librdkafka's events arrive by.
        ctx.error(KafkaError::Global(C::SSL), "handshake failed");
        assert_eq!(ctx.event_since(5), Some(C::SSL));
    }

    #[test]
    fn pool_shares_per_servers_and_security_whatever_the_group() {
        let pool = ClientPool::new();
        let a = pool.client_for(&config(Security::default()));
        let b = pool.client_for(&config(Security::default()));
        assert!(Arc::ptr_eq(&a, &b));
        let mut other_group = config(Security::default());
        other_group.consumer_group = "other".to_owned();
        assert!(Arc::ptr_eq(&a, &pool.client_for(&other_group)));
        let mut other_topic = config(Security::default());
        other_topic.topic = None;
        assert!(Arc::ptr_eq(&a, &pool.client_for(&other_topic)));
        let mut other_credentials = config(Security::default());
        other_credentials.security.sasl = Some(Sasl::OAuthBearer {
            token: Secret::new("t"),
        });
        let c = pool.client_for(&other_credentials);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((pool.len(), pool.connected()), (2, 0));
        drop((a, b, c));
        assert!(pool.is_empty());
    }
}
