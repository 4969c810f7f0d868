//! The trigger's parameters, parsed and validated from KEDA's metadata.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use scalers_core::config::model::MetricType;
use scalers_core::secret::Secret;
use scalers_core::trigger::{Invalid, Params};

use super::lag::{LagRules, OffsetResetPolicy, PartitionCap};

/// Default of `lagThreshold`, as in KEDA.
pub const DEFAULT_LAG_THRESHOLD: u64 = 10;

/// How long one sample may take, all broker requests included, by default.
///
/// KEDA's kafka scaler has no timeout parameter; this bounds the blocking librdkafka calls of a
/// sample (metadata, committed offsets, log offsets) so that a sample abandoned by its caller
/// does not hold a blocking thread for long. [`KafkaConfig::timeout`] changes it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The parsed parameters of one `kafka` trigger.
///
/// Built by [`KafkaConfig::from_params`], which checks everything checkable offline. Credentials
/// are [`Secret`]s and PEM material is not printed, so a config can be logged.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaConfig {
    /// `bootstrapServers`: the brokers to bootstrap from (`host:port`), in the given order.
    pub bootstrap_servers: Vec<String>,
    /// `consumerGroup`: the group whose lag is measured. The trigger never joins it and never
    /// commits for it.
    pub consumer_group: String,
    /// `topic`: the topic to measure; `None` measures every topic on which the group has
    /// committed offsets.
    pub topic: Option<String>,
    /// `partitionLimitation`: only these partitions of `topic` count; `None` counts them all.
    pub partition_limitation: Option<PartitionLimitation>,
    /// `lagThreshold`, `offsetResetPolicy`, `scaleToZeroOnInvalidOffset`,
    /// `excludePersistentLag` and the partition cap (`allowIdleConsumers`,
    /// `limitToPartitionsWithLag`, `ensureEvenDistributionOfPartitions`).
    pub rules: LagRules,
    /// `activationLagThreshold`: active iff the total lag (persistent lag included) is greater
    /// than this; default 0.
    pub activation_lag_threshold: u64,
    /// How `lagThreshold` is read (the trigger's `metricType`); default `AverageValue`, the
    /// only type the partition cap makes sense with.
    pub metric_type: MetricType,
    /// `tls` and `sasl`, with their material.
    pub security: Security,
    /// How long one sample may take; default [`DEFAULT_TIMEOUT`]. Not a KEDA parameter: set it
    /// on the parsed config.
    pub timeout: Duration,
}

/// `partitionLimitation`: the partitions that count, as a list of numbers and ranges
/// (`1,2,10-20`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionLimitation {
    ranges: Vec<RangeInclusive<i32>>,
}

impl PartitionLimitation {
    /// Parses `1,2,10-20`: partition numbers and inclusive ranges, comma-separated.
    ///
    /// # Errors
    /// A description of the first entry that is not a partition number or a range `a-b` with
    /// `a ≤ b`.
    ///
    /// # Examples
    /// ```
    /// use scalers_queue::kafka::PartitionLimitation;
    ///
    /// let l = PartitionLimitation::parse("1, 2,10-20").unwrap();
    /// assert!(l.contains(1) && l.contains(15) && !l.contains(3));
    /// assert!(PartitionLimitation::parse("3-1").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for entry in s.split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let number = |n: &str| n.trim().parse::<i32>().ok().filter(|n| *n >= 0);
            let range = match entry.split_once('-') {
                Some((a, b)) => match (number(a), number(b)) {
                    (Some(a), Some(b)) if a <= b => a..=b,
                    _ => {
                        return Err(format!("{entry:?} is not a range of partitions like 10-20"));
                    }
                },
                None => match number(entry) {
                    Some(n) => n..=n,
                    None => return Err(format!("{entry:?} is not a partition number")),
                },
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("no partition given".to_owned());
        }
        Ok(PartitionLimitation { ranges })
    }

    /// Whether partition `partition` counts.
    pub fn contains(&self, partition: i32) -> bool {
        self.ranges.iter().any(|r| r.contains(&partition))
    }
}

impl fmt::Display for PartitionLimitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

/// How the trigger connects: TLS and SASL (`security.protocol` follows from them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Security {
    /// `tls: enable` and its material; `None` for plaintext connections.
    pub tls: Option<Tls>,
    /// `sasl`; `None` for `sasl: none` (the default).
    pub sasl: Option<Sasl>,
}

/// `tls: enable`: PEM material, given inline as in KEDA; the settings every trigger shares,
/// where `ca` adds to the system roots (see [`scalers_core::tls`]).
pub type Tls = scalers_core::tls::TlsSettings;

pub use scalers_core::tls::ClientIdentity;

/// `sasl`: the SASL mechanism and its credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sasl {
    /// `plaintext`: SASL/PLAIN with `username` and `password`.
    Plain(UserPassword),
    /// `scram_sha256`: SASL/SCRAM-SHA-256 with `username` and `password`.
    ScramSha256(UserPassword),
    /// `scram_sha512`: SASL/SCRAM-SHA-512 with `username` and `password`.
    ScramSha512(UserPassword),
    /// `oauthbearer` with a static token (`oauthToken`), handed to the broker as is.
    OAuthBearer {
        /// `oauthToken`: the bearer token.
        token: Secret,
    },
}

impl Sasl {
    /// librdkafka's `sasl.mechanism`.
    pub(crate) fn mechanism(&self) -> &'static str {
        match self {
            Sasl::Plain(_) => "PLAIN",
            Sasl::ScramSha256(_) => "SCRAM-SHA-256",
            Sasl::ScramSha512(_) => "SCRAM-SHA-512",
            Sasl::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }
}

/// A username and password.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserPassword {
    /// `username`.
    pub username: Secret,
    /// `password`.
    pub password: Secret,
}

impl KafkaConfig {
    /// Reads and checks the trigger's parameters, reporting every problem at once.
    ///
    /// Names, defaults and lookup order (metadata, authentication parameters, `<name>FromEnv`)
    /// are KEDA's. No I/O happens here.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p` with its path, for example
    /// `metadata.lagThreshold: must be greater than 0, got 0` or
    /// `metadata.limitToPartitionsWithLag: needs topic`.
    ///
    /// `version` and `fullMetadata` are checked as KEDA checks them (a version sarama can
    /// parse; a boolean, `false` only with a `topic`) and change nothing here: librdkafka
    /// negotiates protocol versions with the broker, and metadata is always fetched for the
    /// one topic when there is one (what `fullMetadata: false` asks of KEDA).
    pub fn from_params(p: &mut Params<'_>) -> Result<Self, Invalid> {
        let bootstrap_servers = p
            .required_str("bootstrapServers")
            .and_then(|raw| parse_servers(p, &raw));
        let consumer_group = p.required_str("consumerGroup").and_then(|g| {
            let g = g.trim().to_owned();
            if g.is_empty() {
                Err(p.error("consumerGroup", "required parameter is missing"))
            } else {
                Ok(g)
            }
        });
        let topic = p
            .optional_str("topic")
            .map(|t| t.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()));
        let lag_threshold = p
            .u64_or("lagThreshold", DEFAULT_LAG_THRESHOLD)
            .and_then(|t| {
                if t > 0 {
                    Ok(t)
                } else {
                    Err(p.error("lagThreshold", "must be greater than 0, got 0"))
                }
            });
        let activation_lag_threshold = p.u64_or("activationLagThreshold", 0);
        let offset_reset_policy = p
            .one_of("offsetResetPolicy", &["latest", "earliest"])
            .map(|v| match v.as_deref() {
                Some("earliest") => OffsetResetPolicy::Earliest,
                _ => OffsetResetPolicy::Latest,
            });
        let allow_idle = p.bool_or("allowIdleConsumers", false);
        let scale_to_zero = p.bool_or("scaleToZeroOnInvalidOffset", false);
        let exclude_persistent = p.bool_or("excludePersistentLag", false);
        let limit_to_lag = p.bool_or("limitToPartitionsWithLag", false);
        let even = p.bool_or("ensureEvenDistributionOfPartitions", false);
        let limitation = p.optional_str("partitionLimitation").and_then(|raw| {
            raw.map(|raw| {
                PartitionLimitation::parse(&raw).map_err(|why| {
                    p.error(
                        "partitionLimitation",
                        format!("expected partition numbers and ranges like 1,2,10-20: {why}"),
                    )
                })
            })
            .transpose()
        });
        let security = parse_security(p);
        // Checked as KEDA checks them, with no effect here (see the module documentation).
        let version = p.optional_str("version").and_then(|v| match v {
            Some(v) if !is_kafka_version(&v) => Err(p.error(
                "version",
                format!("expected a Kafka version like 2.8.1 or 0.11.0.2, got {v:?}"),
            )),
            _ => Ok(()),
        });
        let full_metadata = p.bool_or("fullMetadata", true);

        // Rules between parameters, once each is known to parse.
        let topic = topic?;
        let full_metadata = match full_metadata {
            Ok(false) if topic.is_none() => Err(p.error("fullMetadata", "false needs topic")),
            other => other.map(drop),
        };
        let partition_cap = match (allow_idle, limit_to_lag, even) {
            (Ok(allow_idle), Ok(limit_to_lag), Ok(even)) => {
                partition_cap(p, topic.is_some(), allow_idle, limit_to_lag, even)
            }
            _ => Err(Invalid),
        };
        let partition_limitation = match limitation {
            Ok(Some(_)) if topic.is_none() => Err(p.error("partitionLimitation", "needs topic")),
            other => other,
        };

        let ((), ()) = (version?, full_metadata?);
        Ok(KafkaConfig {
            bootstrap_servers: bootstrap_servers?,
            consumer_group: consumer_group?,
            topic,
            partition_limitation: partition_limitation?,
            rules: LagRules {
                offset_reset_policy: offset_reset_policy?,
                scale_to_zero_on_invalid_offset: scale_to_zero?,
                exclude_persistent_lag: exclude_persistent?,
                lag_threshold: lag_threshold?,
                partition_cap: partition_cap?,
            },
            activation_lag_threshold: activation_lag_threshold?,
            metric_type: p.spec().metric_type,
            security: security?,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// `bootstrapServers` as given to librdkafka and shown in messages: `host:port,host:port`.
    pub fn servers(&self) -> String {
        self.bootstrap_servers.join(",")
    }
}

/// Whether `v` is a Kafka version as KEDA's client library (sarama) reads `version`: three
/// numbers (`2.8.1`) from 1.0.0 on, four starting with 0 before that (`0.11.0.2`).
fn is_kafka_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    let numbers = parts
        .iter()
        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let wanted = if v.starts_with('0') { 4 } else { 3 };
    numbers && parts.len() == wanted && (wanted == 3 || parts[0] == "0")
}

fn parse_servers(p: &mut Params<'_>, raw: &str) -> Result<Vec<String>, Invalid> {
    let servers: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if servers.is_empty() || servers.iter().any(|s| s.contains(char::is_whitespace)) {
        return Err(p.error(
            "bootstrapServers",
            format!("expected comma-separated host:port addresses, got {raw:?}"),
        ));
    }
    Ok(servers)
}

/// The partition cap, checking KEDA's rules between the flags.
fn partition_cap(
    p: &mut Params<'_>,
    has_topic: bool,
    allow_idle: bool,
    limit_to_lag: bool,
    even: bool,
) -> Result<PartitionCap, Invalid> {
    let mut ok = true;
    if limit_to_lag && !has_topic {
        p.error("limitToPartitionsWithLag", "needs topic");
        ok = false;
    }
    if even && !has_topic {
        p.error("ensureEvenDistributionOfPartitions", "needs topic");
        ok = false;
    }
    if allow_idle && limit_to_lag {
        p.error(
            "allowIdleConsumers",
            "cannot be combined with limitToPartitionsWithLag",
        );
        ok = false;
    }
    if even && limit_to_lag {
        p.error(
            "ensureEvenDistributionOfPartitions",
            "cannot be combined with limitToPartitionsWithLag",
        );
        ok = false;
    }
    // KEDA silently ignores ensureEvenDistributionOfPartitions when idle consumers are allowed;
    // a parameter without effect is more likely a mistake than a wish.
    if even && allow_idle {
        p.error(
            "ensureEvenDistributionOfPartitions",
            "cannot be combined with allowIdleConsumers",
        );
        ok = false;
    }
    if !ok {
        return Err(Invalid);
    }
    Ok(if allow_idle {
        PartitionCap::Uncapped
    } else if limit_to_lag {
        PartitionCap::PartitionsWithLag
    } else if even {
        PartitionCap::EvenDistribution
    } else {
        PartitionCap::Partitions
    })
}

fn parse_security(p: &mut Params<'_>) -> Result<Security, Invalid> {
    let tls = match p.one_of("tls", &["enable", "disable"]) {
        Ok(Some(v)) if v == "enable" => parse_tls(p).map(Some),
        Ok(_) => Ok(None),
        Err(e) => Err(e),
    };
    let sasl = parse_sasl(p);
    Ok(Security {
        tls: tls?,
        sasl: sasl?,
    })
}

/// A PEM parameter: at least one `-----BEGIN` block. librdkafka parses it on the first sample.
fn pem(p: &mut Params<'_>, name: &str) -> Result<Option<Secret>, Invalid> {
    match p.secret(name)? {
        Some(s) if !s.expose().contains("-----BEGIN ") => Err(p.error(name, "expected PEM")),
        other => Ok(other),
    }
}

fn parse_tls(p: &mut Params<'_>) -> Result<Tls, Invalid> {
    let ca = pem(p, "ca");
    let cert = pem(p, "cert");
    let key = pem(p, "key");
    let key_password = p.secret("keyPassword");
    let unsafe_ssl = p.bool_or("unsafeSsl", false);
    let (ca, cert, key, key_password, unsafe_ssl) = (ca?, cert?, key?, key_password?, unsafe_ssl?);
    let client = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientIdentity {
            cert,
            key,
            key_password,
        }),
        (Some(_), None) => return Err(p.error("key", "required by tls when cert is set")),
        (None, Some(_)) => return Err(p.error("cert", "required by tls when key is set")),
        (None, None) => None,
    };
    Ok(Tls {
        ca: ca.map(|s| s.expose().to_owned()),
        client,
        unsafe_ssl,
    })
}

fn required_secret(p: &mut Params<'_>, name: &str, mechanism: &str) -> Result<Secret, Invalid> {
    match p.secret(name)? {
        Some(s) if !s.expose().is_empty() => Ok(s),
        _ => Err(p.error(name, format!("required by sasl {mechanism}"))),
    }
}

fn user_password(p: &mut Params<'_>, mechanism: &str) -> Result<UserPassword, Invalid> {
    let username = required_secret(p, "username", mechanism);
    let password = required_secret(p, "password", mechanism);
    Ok(UserPassword {
        username: username?,
        password: password?,
    })
}

fn parse_sasl(p: &mut Params<'_>) -> Result<Option<Sasl>, Invalid> {
    let mode = p.one_of(
        "sasl",
        &[
            "none",
            "plaintext",
            "scram_sha256",
            "scram_sha512",
            "oauthbearer",
        ],
    )?;
    Ok(match mode.as_deref() {
        None | Some("none") => None,
        Some("plaintext") => Some(Sasl::Plain(user_password(p, "plaintext")?)),
        Some("scram_sha256") => Some(Sasl::ScramSha256(user_password(p, "scram_sha256")?)),
        Some("scram_sha512") => Some(Sasl::ScramSha512(user_password(p, "scram_sha512")?)),
        Some(_) => {
            let token = p.secret("oauthToken")?;
            match token.filter(|t| !t.expose().is_empty()) {
                Some(token) => Some(Sasl::OAuthBearer { token }),
                None => {
                    let why = if p.is_set("oauthTokenEndpointUri") {
                        "required by sasl oauthbearer (fetching tokens from \
                         oauthTokenEndpointUri is not supported)"
                    } else {
                        "required by sasl oauthbearer"
                    };
                    return Err(p.error("oauthToken", why));
                }
            }
        }
    })
}
