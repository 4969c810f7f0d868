//! A Kafka-protocol broker (tansu) for tests: from `.ci/run`, or started by the testkit; with
//! helpers that create topics, produce records and commit consumer-group offsets.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::eventually;
use crate::process::{ServiceProcess, free_ports, temp_dir};

/// Env var with the bootstrap address (`127.0.0.1:19092`) of the broker `.ci/run` started.
pub const KAFKA_BOOTSTRAP_ENV: &str = "SCALERS_TEST_KAFKA_BOOTSTRAP";
/// Env var with the path of a tansu binary, overriding the cache `.ci/tansu.sh` fills.
pub const TANSU_BIN_ENV: &str = "SCALERS_TEST_TANSU";

/// How long a started broker may take to accept connections, and a helper to see its effect.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// Timeout of each client call the helpers make.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

static SHARED: OnceCell<KafkaBroker> = OnceCell::const_new();

/// A Kafka-protocol broker on loopback: tansu 0.6, a single node with memory storage.
///
/// [`KafkaBroker::shared`] gives the broker of the test binary: the one `.ci/run` started
/// ([`KAFKA_BOOTSTRAP_ENV`]), or else one started here on a free port. [`KafkaBroker::start`]
/// starts a broker of the caller's own, which it can [`stop`](KafkaBroker::stop) and
/// [`restart`](KafkaBroker::restart) (memory storage: a restarted broker has no topics).
///
/// The binary is [`TANSU_BIN_ENV`], else `$HOME/.cache/scalers/tansu/bin/tansu` (where
/// `.ci/tansu.sh` installs it; the testkit runs that script when the binary is missing). A
/// started broker dies with the test process, however it ends: a watchdog shell reading a pipe
/// from the test process kills it at end-of-file, as for
/// [`PrometheusServices`](crate::PrometheusServices).
///
/// Each test owns its topics and groups (see [`unique_name`](crate::unique_name)).
///
/// tansu 0.6 answers a wrong log-end offset after a batch of several records (the offset of the
/// batch's first record plus one), so [`KafkaBroker::produce`] sends one record per batch.
pub struct KafkaBroker {
    bootstrap: String,
    started: Option<Mutex<Started>>,
}

impl std::fmt::Debug for KafkaBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBroker")
            .field("bootstrap", &self.bootstrap)
            .field("started_here", &self.started.is_some())
            .finish()
    }
}

struct Started {
    addr: SocketAddr,
    /// Whether the broker requires SASL authentication.
    authentication: bool,
    /// The broker.
    process: ServiceProcess,
    /// Whether it runs (not [stopped](KafkaBroker::stop)).
    running: bool,
}

impl KafkaBroker {
    /// The broker of this test binary, started on first use unless [`KAFKA_BOOTSTRAP_ENV`] is
    /// set.
    ///
    /// # Panics
    /// When tansu is missing and `.ci/tansu.sh` cannot install it, or when the broker does not
    /// accept connections within 20 s (with its log).
    pub async fn shared() -> &'static KafkaBroker {
        SHARED
            .get_or_init(|| async {
                match std::env::var(KAFKA_BOOTSTRAP_ENV) {
                    Ok(bootstrap) if !bootstrap.trim().is_empty() => KafkaBroker {
                        bootstrap: bootstrap.trim().to_owned(),
                        started: None,
                    },
                    _ => KafkaBroker::start().await,
                }
            })
            .await
    }

    /// A broker of the caller's own on a free loopback port, killed when dropped.
    ///
    /// # Panics
    /// As [`KafkaBroker::shared`].
    pub async fn start() -> KafkaBroker {
        KafkaBroker::launch(false).await
    }

    /// A broker of the caller's own that requires SASL authentication (tansu's
    /// `--authentication`), killed when dropped.
    ///
    /// It knows no user: tansu keeps SCRAM users in its storage, its user API itself needs an
    /// authenticated client, and the memory storage starts empty. So every client is refused,
    /// which is what the tests of refused credentials need. The helpers of this type do not
    /// work on it.
    ///
    /// # Panics
    /// As [`KafkaBroker::shared`].
    pub async fn start_authenticating() -> KafkaBroker {
        KafkaBroker::launch(true).await
    }

    async fn launch(authentication: bool) -> KafkaBroker {
        let binary = tansu_binary();
        let log = temp_dir("tansu").join("tansu.log");
        // The free port may be taken between our probe and tansu's bind (tansu then panics with
        // AddrInUse): try a few ports.
        let mut attempts = 0;
        let started = loop {
            attempts += 1;
            let mut started = Started::new(&binary, &log, authentication);
            match started.launch().await {
                Ok(()) => break started,
                Err(log) if attempts < 3 && log.contains("AddrInUse") => {}
                Err(log) => panic!("tansu on {} did not start; its log:\n{log}", started.addr),
            }
        };
        KafkaBroker {
            bootstrap: started.addr.to_string(),
            started: Some(Mutex::new(started)),
        }
    }

    /// The bootstrap address, like `127.0.0.1:19092`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    async fn own(&self) -> MutexGuard<'_, Started> {
        self.started
            .as_ref()
            .expect("only a broker started by KafkaBroker::start can be stopped or restarted")
            .lock()
            .await
    }

    /// Kills the broker (its port then refuses connections).
    ///
    /// # Panics
    /// When this broker was not started by [`KafkaBroker::start`].
    pub async fn stop(&self) {
        let mut started = self.own().await;
        started.process.kill();
        started.running = false;
    }

    /// Starts the stopped broker again on the same port, with empty storage.
    ///
    /// # Panics
    /// When this broker was not started by [`KafkaBroker::start`], or does not start.
    pub async fn restart(&self) {
        let mut started = self.own().await;
        assert!(!started.running, "restart: the broker is running");
        if let Err(log) = started.launch().await {
            panic!("tansu on {} did not restart; its log:\n{log}", started.addr);
        }
    }

    /// Creates `topic` with `partitions` partitions and waits until the broker lists it.
    ///
    /// # Panics
    /// When the broker refuses.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let bootstrap = self.bootstrap.clone();
        let name = topic.to_owned();
        let admin: AdminClient<DefaultClientContext> = client_config(&bootstrap)
            .create()
            .expect("create the admin client");
        let options = AdminOptions::new().operation_timeout(Some(CALL_TIMEOUT));
        let new = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
        let results = admin
            .create_topics([&new], &options)
            .await
            .unwrap_or_else(|e| panic!("create topic {name}: {e}"));
        for r in results {
            if let Err((t, code)) = r {
                panic!("create topic {t}: {code}");
            }
        }
        let consumer = std::sync::Arc::new(metadata_consumer(&bootstrap));
        eventually(READY_DEADLINE, || {
            let consumer = consumer.clone();
            let name = name.clone();
            async move {
                let listed = tokio::task::spawn_blocking(move || {
                    let md = consumer
                        .fetch_metadata(Some(&name), CALL_TIMEOUT)
                        .map_err(|e| e.to_string())?;
                    md.topics()
                        .iter()
                        .find(|t| t.name() == name && t.error().is_none())
                        .map(|t| t.partitions().len())
                        .ok_or_else(|| format!("topic {name} not listed yet"))
                })
                .await
                .expect("the metadata task")?;
                if listed == partitions as usize {
                    Ok(())
                } else {
                    Err(format!("{listed} partitions listed"))
                }
            }
        })
        .await;
    }

    /// Produces `count` records to partition `partition` of `topic`, one record per batch, and
    /// waits until the partition's log-end offset has moved by `count`.
    ///
    /// One record per batch, because tansu 0.6 answers a wrong log-end offset (the first offset
    /// of the last batch, plus one) after a batch of several records.
    ///
    /// # Panics
    /// When a record is not acknowledged.
    pub async fn produce(&self, topic: &str, partition: i32, count: u64) {
        let bootstrap = self.bootstrap.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let consumer = metadata_consumer(&bootstrap);
            let (_, before) = consumer
                .fetch_watermarks(&topic, partition, CALL_TIMEOUT)
                .unwrap_or_else(|e| panic!("log-end offset of {topic}/{partition}: {e}"));
            let producer: BaseProducer = client_config(&bootstrap)
                .set("linger.ms", "0")
                .set("batch.num.messages", "1")
                .set("acks", "all")
                .create()
                .expect("create the producer");
            for i in 0..count {
                let payload = format!("record {i}");
                producer
                    .send(
                        BaseRecord::<(), _>::to(&topic)
                            .partition(partition)
                            .payload(&payload),
                    )
                    .unwrap_or_else(|(e, _)| panic!("produce to {topic}/{partition}: {e}"));
                // Flushing after each record keeps each in a batch of its own.
                producer
                    .flush(CALL_TIMEOUT)
                    .unwrap_or_else(|e| panic!("produce to {topic}/{partition}: {e}"));
            }
            let (_, after) = consumer
                .fetch_watermarks(&topic, partition, CALL_TIMEOUT)
                .unwrap_or_else(|e| panic!("log-end offset of {topic}/{partition}: {e}"));
            assert_eq!(
                after - before,
                count as i64,
                "the log-end offset of {topic}/{partition} moved from {before} to {after} after \
                 producing {count} records"
            );
        })
        .await
        .expect("the produce task");
    }

    /// Commits offsets for `group` on partitions of `topic`, `(partition, offset)` pairs, the
    /// way a consumer using `assign` does: without joining the group, so without a rebalance.
    ///
    /// # Panics
    /// When the broker refuses the commit.
    pub async fn commit(&self, group: &str, topic: &str, offsets: &[(i32, i64)]) {
        let bootstrap = self.bootstrap.clone();
        let group = group.to_owned();
        let topic = topic.to_owned();
        let offsets = offsets.to_vec();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = client_config(&bootstrap)
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .create()
                .expect("create the committing consumer");
            let mut list = TopicPartitionList::new();
            for (partition, offset) in &offsets {
                list.add_partition_offset(&topic, *partition, Offset::Offset(*offset))
                    .expect("a valid offset");
            }
            consumer
                .commit(&list, CommitMode::Sync)
                .unwrap_or_else(|e| panic!("commit {offsets:?} on {topic} for {group}: {e}"));
        })
        .await
        .expect("the commit task");
    }
}

impl Started {
    /// tansu `binary` on a free port, logging to `log`, not started yet.
    fn new(binary: &Path, log: &Path, authentication: bool) -> Started {
        let [port] = free_ports();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let url = format!("tcp://{addr}");
        let mut args = vec![
            "broker".to_owned(),
            "--listener-url".to_owned(),
            url.clone(),
            "--advertised-listener-url".to_owned(),
            url,
            "--storage-engine".to_owned(),
            "memory://tansu/".to_owned(),
        ];
        if authentication {
            args.push("--authentication".to_owned());
        }
        let hint = format!("{} not found; run `bash .ci/tansu.sh`", binary.display());
        Started {
            addr,
            authentication,
            process: ServiceProcess::new(binary, args, log.to_owned(), hint),
            running: false,
        }
    }

    /// Starts tansu on `self.addr` and waits until it accepts connections and answers a
    /// metadata request. `Err` carries what happened and the log.
    async fn launch(&mut self) -> Result<(), String> {
        let addr = self.addr;
        let authentication = self.authentication;
        // Another process could hold the port (tansu then panics with AddrInUse, maybe just
        // after our probe connected to that other process): the launcher checks ours is alive
        // after the probe, and the probe asks for metadata (an authenticating broker answers no
        // unauthenticated metadata request, so for it a connection is enough).
        let probe = || async move {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                .map_err(|e| format!("connect: {e}"))?;
            if authentication {
                return Ok(());
            }
            let consumer = metadata_consumer(&addr.to_string());
            tokio::task::spawn_blocking(move || {
                consumer
                    .fetch_metadata(None, CALL_TIMEOUT)
                    .map(|_| ())
                    .map_err(|e| format!("no metadata answer: {e}"))
            })
            .await
            .expect("the metadata task")
        };
        self.process
            .start(READY_DEADLINE, probe)
            .await
            .map_err(|e| e.to_string())?;
        self.running = true;
        Ok(())
    }
}

/// The base client config of the helpers.
fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "scalers-testkit")
        // Let a restarted broker be found again quickly.
        .set("reconnect.backoff.max.ms", "500");
    config
}

/// A group-less consumer, for metadata and watermarks.
fn metadata_consumer(bootstrap: &str) -> BaseConsumer {
    client_config(bootstrap)
        .create()
        .expect("create the metadata consumer")
}

/// The tansu binary: [`TANSU_BIN_ENV`], the cache, or installed into the cache now.
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(TANSU_BIN_ENV) {
        return PathBuf::from(path);
    }
    let cached = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/scalers/tansu/bin/tansu"));
    if let Some(cached) = cached.as_ref().filter(|p| p.is_file()) {
        return cached.clone();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/tansu.sh");
    let how = format!(
        "tansu (the Kafka-protocol broker of the kafka tests) is not installed: run `bash \
         .ci/tansu.sh` (which `.ci/run` runs), set {TANSU_BIN_ENV} to a tansu binary, or set \
         {KAFKA_BOOTSTRAP_ENV} to a running broker"
    );
    let output = match Command::new("bash").arg(&script).output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!("{how} (bash not found)"),
        Err(e) => panic!("{how} (running {}: {e})", script.display()),
    };
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !output.status.success() || !path.is_file() {
        panic!(
            "{how}; running {} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    path
}
