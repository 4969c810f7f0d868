//! `redis-streams`, `redis-cluster-streams`, `redis-sentinel-streams`: consumer-group lag,
//! pending entries, or stream length.

use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use redis::{Script, Value};
use scalers_core::config::model::MetricType;
use scalers_core::trigger::{Invalid, MetricTarget, Params, Sample, Trigger, TriggerError};

use super::error::{Error, Result};
use super::list::text;
use super::pool::{RedisPool, Shared};
use super::topology::{Connection, TopologyKind, target_or, whole_or};

/// Default of `pendingEntriesCount` and `streamLength`.
pub const DEFAULT_ENTRIES: u64 = 5;

/// `TYPE` of the key, then `XLEN` if it is a stream: `{type, length}`, or `{type}` for another
/// type.
static XLEN_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return { t, 0 } end
if t ~= 'stream' then return { t } end
return { t, redis.call('XLEN', KEYS[1]) }",
    )
});

/// What a stream trigger measures, chosen as KEDA does from `consumerGroup` and `lagCount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamMode {
    /// `consumerGroup` and a non-zero `lagCount`: the group's lag (entries not yet delivered
    /// to it), from `XINFO GROUPS` (Redis 7 or later). A missing group reads as the stream's
    /// length, a missing stream as 0. The only mode that can scale from zero consumers.
    Lag {
        /// `consumerGroup`.
        consumer_group: String,
        /// `lagCount`: the target per replica.
        lag_count: u64,
    },
    /// `consumerGroup` without `lagCount`: entries delivered to the group but not acknowledged
    /// (`XPENDING`). A missing stream or group is an error.
    Pending {
        /// `consumerGroup`.
        consumer_group: String,
        /// `pendingEntriesCount`: the target per replica; default 5.
        pending_entries_count: u64,
    },
    /// No `consumerGroup`: the stream's length (`XLEN`); a missing stream reads as 0.
    Length {
        /// `streamLength`: the target per replica; default 5.
        stream_length: u64,
    },
}

impl StreamMode {
    /// The target of this mode.
    pub fn target(&self) -> u64 {
        match self {
            StreamMode::Lag { lag_count, .. } => *lag_count,
            StreamMode::Pending {
                pending_entries_count,
                ..
            } => *pending_entries_count,
            StreamMode::Length { stream_length } => *stream_length,
        }
    }
}

/// The parsed parameters of one `redis-streams`, `redis-cluster-streams` or
/// `redis-sentinel-streams` trigger.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamConfig {
    /// Servers, credentials and TLS.
    pub connection: Connection,
    /// `stream`: the stream's key.
    pub stream: String,
    /// What is measured, and its target.
    pub mode: StreamMode,
    /// `activationLagCount`: active iff the value is greater than this, in every mode;
    /// default 0.
    pub activation_lag_count: i64,
    /// How the target is read (the trigger's `metricType`); default `AverageValue`.
    pub metric_type: MetricType,
}

impl StreamConfig {
    /// Reads and checks the parameters of a stream trigger of `kind`, reporting every problem
    /// at once. No I/O.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p`, for example
    /// `metadata.stream: required parameter is missing`.
    pub fn from_params(
        p: &mut Params<'_>,
        kind: TopologyKind,
        type_name: &str,
    ) -> Result<Self, Invalid> {
        let stream = p.required_str("stream");
        let group = p.optional_str("consumerGroup");
        let lag_count = p.u64_or("lagCount", 0);
        let activation_lag_count = whole_or(p, "activationLagCount", 0);
        // Every target is read (so none is reported unused); only the mode's own is checked.
        let mode = match (group, lag_count) {
            (Ok(Some(consumer_group)), Ok(lag_count)) if lag_count != 0 => {
                let _ = p.u64_or("pendingEntriesCount", DEFAULT_ENTRIES);
                let _ = p.u64_or("streamLength", DEFAULT_ENTRIES);
                Ok(StreamMode::Lag {
                    consumer_group,
                    lag_count,
                })
            }
            (Ok(Some(consumer_group)), Ok(_)) => {
                let _ = p.u64_or("streamLength", DEFAULT_ENTRIES);
                target_or(p, "pendingEntriesCount", DEFAULT_ENTRIES).map(|pending_entries_count| {
                    StreamMode::Pending {
                        consumer_group,
                        pending_entries_count,
                    }
                })
            }
            (Ok(None), Ok(_)) => {
                let _ = p.u64_or("pendingEntriesCount", DEFAULT_ENTRIES);
                target_or(p, "streamLength", DEFAULT_ENTRIES)
                    .map(|stream_length| StreamMode::Length { stream_length })
            }
            // The mode is unknown: its target cannot be checked.
            _ => {
                let _ = p.u64_or("pendingEntriesCount", DEFAULT_ENTRIES);
                let _ = p.u64_or("streamLength", DEFAULT_ENTRIES);
                Err(Invalid)
            }
        };
        let connection = Connection::from_params(p, kind, type_name);
        Ok(StreamConfig {
            connection: connection?,
            stream: stream?,
            mode: mode?,
            activation_lag_count: activation_lag_count?,
            metric_type: p.spec().metric_type,
        })
    }
}

/// A stream trigger: consumer-group lag, pending entries or length, by [`StreamMode`].
pub struct StreamTrigger {
    config: StreamConfig,
    shared: Arc<Shared>,
}

impl fmt::Debug for StreamTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTrigger")
            .field("endpoint", &self.shared.endpoint())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StreamTrigger {
    /// A trigger for `config`, sharing its connection through `pool`. No I/O.
    pub fn new(config: StreamConfig, pool: &RedisPool) -> Self {
        let shared = pool.shared_for(&config.connection);
        StreamTrigger { config, shared }
    }

    /// The parsed parameters.
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// Whether both triggers use the same connection.
    pub fn shares_connection_with(&self, other: &StreamTrigger) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The measured value now: lag, pending entries or length, by mode.
    ///
    /// # Errors
    /// [`Error`]: the servers are unreachable or too slow, refused the credentials, the key is
    /// not a stream, in pending mode the stream or group does not exist, in lag mode Redis
    /// cannot tell the lag or is older than 7.
    pub async fn count(&self) -> Result<u64> {
        match &self.config.mode {
            StreamMode::Length { .. } => self.length().await,
            StreamMode::Pending { consumer_group, .. } => self.pending(consumer_group).await,
            StreamMode::Lag { consumer_group, .. } => self.lag(consumer_group).await,
        }
    }

    fn endpoint(&self) -> String {
        self.shared.endpoint().to_owned()
    }

    async fn length(&self) -> Result<u64> {
        let key = &self.config.stream;
        let reply: Vec<Value> = self
            .shared
            .run("EVALSHA", |mut conn| async move {
                conn.eval_on_key(&XLEN_SCRIPT, key).await
            })
            .await?;
        match reply.as_slice() {
            [kind, Value::Int(n)] if *n >= 0 && text(kind).is_some() => Ok(*n as u64),
            [kind] if text(kind).is_some() => Err(self.wrong_type(text(kind).unwrap_or_default())),
            other => Err(Error::Unexpected {
                endpoint: self.endpoint(),
                command: "EVALSHA",
                reply: format!("{other:?}"),
            }),
        }
    }

    async fn pending(&self, group: &str) -> Result<u64> {
        let key = &self.config.stream;
        let reply = self
            .shared
            .run("XPENDING", |mut conn| async move {
                redis::cmd("XPENDING")
                    .arg(key)
                    .arg(group)
                    .query_async::<Value>(&mut conn)
                    .await
            })
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(Error::Server { reply, .. }) if reply.starts_with("NOGROUP") => {
                return Err(Error::NoGroup {
                    endpoint: self.endpoint(),
                    stream: key.clone(),
                    group: group.to_owned(),
                });
            }
            Err(Error::Server { reply, .. }) if reply.starts_with("WRONGTYPE") => {
                return Err(self.wrong_type(self.key_type().await?));
            }
            Err(e) => return Err(e),
        };
        // The summary form: [count, smallest id, greatest id, [[consumer, count], ...]].
        match &reply {
            Value::Array(items) => match items.first() {
                Some(Value::Int(n)) if *n >= 0 => Ok(*n as u64),
                _ => Err(self.unexpected("XPENDING", &reply)),
            },
            _ => Err(self.unexpected("XPENDING", &reply)),
        }
    }

    async fn lag(&self, group: &str) -> Result<u64> {
        let key = &self.config.stream;
        let reply = self
            .shared
            .run("XINFO GROUPS", |mut conn| async move {
                redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(key)
                    .query_async::<Value>(&mut conn)
                    .await
            })
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(Error::Server { reply, .. }) if reply == "ERR no such key" => return Ok(0),
            Err(Error::Server { reply, .. }) if reply.starts_with("WRONGTYPE") => {
                return Err(self.wrong_type(self.key_type().await?));
            }
            Err(e) => return Err(e),
        };
        match group_lag(&reply, group) {
            GroupLag::Lag(n) => Ok(n),
            // KEDA: a group that does not exist yet has consumed nothing; all entries are its lag.
            GroupLag::NoGroup => self.length().await,
            GroupLag::Unknown => Err(Error::UnknownLag {
                endpoint: self.endpoint(),
                stream: key.clone(),
                group: group.to_owned(),
            }),
            GroupLag::Unsupported => Err(Error::LagUnsupported {
                endpoint: self.endpoint(),
            }),
            GroupLag::Malformed => Err(self.unexpected("XINFO GROUPS", &reply)),
        }
    }
    /// `TYPE key`, to name the type in a wrong-type error.
    async fn key_type(&self) -> Result<String> {
        let key = &self.config.stream;
        let reply = self
            .shared
            .run("TYPE", |mut conn| async move {
                redis::cmd("TYPE")
                    .arg(key)
                    .query_async::<Value>(&mut conn)
                    .await
            })
            .await?;
        text(&reply).ok_or_else(|| self.unexpected("TYPE", &reply))
    }

    fn wrong_type(&self, found: String) -> Error {
        Error::WrongType {
            endpoint: self.endpoint(),
            key: self.config.stream.clone(),
            found,
            expected: "a stream",
        }
    }

    fn unexpected(&self, command: &'static str, reply: &Value) -> Error {
        Error::Unexpected {
            endpoint: self.endpoint(),
            command,
            reply: format!("{reply:?}"),
        }
    }
}

/// What `XINFO GROUPS` says about one group.
#[derive(Debug, PartialEq, Eq)]
enum GroupLag {
    /// Its lag.
    Lag(u64),
    /// The stream has no such group.
    NoGroup,
    /// Redis cannot tell (`lag` is nil).
    Unknown,
    /// No `lag` field: Redis older than 7.
    Unsupported,
    /// Not an `XINFO GROUPS` reply.
    Malformed,
}

/// Finds `group` in an `XINFO GROUPS` reply.
fn group_lag(reply: &Value, group: &str) -> GroupLag {
    let Value::Array(groups) = reply else {
        return GroupLag::Malformed;
    };
    for entry in groups {
        let Some(fields) = fields(entry) else {
            return GroupLag::Malformed;
        };
        let name = fields
            .iter()
            .find(|(k, _)| k == "name")
            .and_then(|(_, v)| text(v));
        if name.as_deref() != Some(group) {
            continue;
        }
        return match fields.iter().find(|(k, _)| k == "lag").map(|(_, v)| *v) {
            Some(Value::Int(n)) if *n >= 0 => GroupLag::Lag(*n as u64),
            Some(Value::Nil) => GroupLag::Unknown,
            Some(_) => GroupLag::Malformed,
            None => GroupLag::Unsupported,
        };
    }
    GroupLag::NoGroup
}

/// The fields of one `XINFO GROUPS` entry: a flat `[k, v, k, v, …]` array (RESP2) or a map
/// (RESP3).
fn fields(entry: &Value) -> Option<Vec<(String, &Value)>> {
    match entry {
        Value::Array(flat) if flat.len() % 2 == 0 => flat
            .chunks(2)
            .map(|kv| Some((text(&kv[0])?, &kv[1])))
            .collect(),
        Value::Map(pairs) => pairs.iter().map(|(k, v)| Some((text(k)?, v))).collect(),
        _ => None,
    }
}

#[async_trait]
impl Trigger for StreamTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.config.mode.target() as f64,
            metric_type: self.config.metric_type,
            activation_threshold: self.config.activation_lag_count as f64,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        let value = self.count().await?;
        Ok(Sample::new(
            value as f64,
            self.config.activation_lag_count as f64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn group_fields_read_from_resp2_and_resp3() {
        let flat = Value::Array(vec![bulk("name"), bulk("g"), bulk("lag"), Value::Int(3)]);
        let f = fields(&flat).unwrap();
        assert_eq!(f[0].0, "name");
        assert_eq!(f[1].1, &Value::Int(3));
        let map = Value::Map(vec![(bulk("lag"), Value::Nil)]);
        assert_eq!(fields(&map).unwrap()[0].1, &Value::Nil);
        assert!(fields(&Value::Array(vec![bulk("odd")])).is_none());
    }

    fn group(name: &str, lag: Option<Value>) -> Value {
        let mut flat = vec![bulk("name"), bulk(name), bulk("pending"), Value::Int(0)];
        if let Some(lag) = lag {
            flat.extend([bulk("lag"), lag]);
        }
        Value::Array(flat)
    }

    #[test]
    fn group_lag_finds_the_group_and_reads_its_lag() {
        let reply = Value::Array(vec![
            group("a", Some(Value::Int(7))),
            group("b", Some(Value::Nil)),
        ]);
        assert_eq!(group_lag(&reply, "a"), GroupLag::Lag(7));
        assert_eq!(group_lag(&reply, "b"), GroupLag::Unknown);
        assert_eq!(group_lag(&reply, "c"), GroupLag::NoGroup);
        // Redis 6 has no `lag` field.
        let old = Value::Array(vec![group("a", None)]);
        assert_eq!(group_lag(&old, "a"), GroupLag::Unsupported);
        assert_eq!(group_lag(&Value::Int(1), "a"), GroupLag::Malformed);
        let bad = Value::Array(vec![group("a", Some(bulk("x")))]);
        assert_eq!(group_lag(&bad, "a"), GroupLag::Malformed);
    }
}
