//! `redis`, `redis-cluster`, `redis-sentinel`: the length of a list (or set, sorted set, hash).

use std::fmt;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use redis::{Script, Value};
use scalers_core::config::model::MetricType;
use scalers_core::trigger::{Invalid, MetricTarget, Params, Sample, Trigger, TriggerError};

use super::error::{Error, Result};
use super::pool::{RedisPool, Shared};
use super::topology::{Connection, TopologyKind, target_or, whole_or};

/// Default of `listLength`.
pub const DEFAULT_LIST_LENGTH: u64 = 5;

/// `TYPE` of the key, then its length by type, in one round trip and one slot. Answers the
/// length as an integer (0 for a missing key), or `{type}` for a type without a length. A bare
/// integer, not `{type, length}`: decoding the reply is a good part of a sample's CPU, and an
/// integer is the cheapest reply there is.
static LENGTH_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local t = redis.call('TYPE', KEYS[1]).ok
local by_type = { list = 'LLEN', set = 'SCARD', zset = 'ZCARD', hash = 'HLEN' }
if t == 'none' then return 0 end
local cmd = by_type[t]
if cmd == nil then return { t } end
return redis.call(cmd, KEYS[1])",
    )
});

/// The parsed parameters of one `redis`, `redis-cluster` or `redis-sentinel` trigger.
#[derive(Clone, Debug, PartialEq)]
pub struct ListConfig {
    /// Servers, credentials and TLS.
    pub connection: Connection,
    /// `listName`: the key to measure.
    pub list_name: String,
    /// `listLength`: the target length per replica; default 5.
    pub list_length: u64,
    /// `activationListLength`: active iff the length is greater than this; default 0.
    pub activation_list_length: i64,
    /// How `listLength` is read (the trigger's `metricType`); default `AverageValue`.
    pub metric_type: MetricType,
}

impl ListConfig {
    /// Reads and checks the parameters of a list trigger of `kind`, reporting every problem at
    /// once. No I/O.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p`, for example
    /// `metadata.listName: required parameter is missing`.
    pub fn from_params(
        p: &mut Params<'_>,
        kind: TopologyKind,
        type_name: &str,
    ) -> Result<Self, Invalid> {
        let list_name = p.required_str("listName");
        let list_length = target_or(p, "listLength", DEFAULT_LIST_LENGTH);
        let activation_list_length = whole_or(p, "activationListLength", 0);
        let connection = Connection::from_params(p, kind, type_name);
        Ok(ListConfig {
            connection: connection?,
            list_name: list_name?,
            list_length: list_length?,
            activation_list_length: activation_list_length?,
            metric_type: p.spec().metric_type,
        })
    }
}

/// A list-length trigger: `LLEN`, `SCARD`, `ZCARD` or `HLEN` of `listName` by the key's type,
/// 0 for a missing key, a [`BadResponse`](scalers_core::trigger::TriggerErrorKind::BadResponse)
/// for any other type.
pub struct ListTrigger {
    config: ListConfig,
    shared: Arc<Shared>,
}

impl fmt::Debug for ListTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListTrigger")
            .field("endpoint", &self.shared.endpoint())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ListTrigger {
    /// A trigger for `config`, sharing its connection through `pool`. No I/O.
    pub fn new(config: ListConfig, pool: &RedisPool) -> Self {
        let shared = pool.shared_for(&config.connection);
        ListTrigger { config, shared }
    }

    /// The parsed parameters.
    pub fn config(&self) -> &ListConfig {
        &self.config
    }

    /// Whether both triggers use the same connection.
    pub fn shares_connection_with(&self, other: &ListTrigger) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The key's length now.
    ///
    /// # Errors
    /// [`Error`]: the servers are unreachable or too slow, refused the credentials, or the key
    /// holds a type without a length (a string, a stream, …).
    pub async fn length(&self) -> Result<u64> {
        let key = &self.config.list_name;
        let reply: Value = self
            .shared
            .run("EVALSHA", |mut conn| async move {
                conn.eval_on_key(&LENGTH_SCRIPT, key).await
            })
            .await?;
        let endpoint = self.shared.endpoint();
        match &reply {
            Value::Int(n) if *n >= 0 => Ok(n.unsigned_abs()),
            Value::Array(a) if a.len() == 1 && text(&a[0]).is_some() => Err(Error::WrongType {
                endpoint: endpoint.to_owned(),
                key: key.clone(),
                found: text(&a[0]).unwrap_or_default(),
                expected: "a list, set, sorted set or hash",
            }),
            other => Err(Error::Unexpected {
                endpoint: endpoint.to_owned(),
                command: "EVALSHA",
                reply: format!("{other:?}"),
            }),
        }
    }
}

/// A bulk or simple string as text.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

#[async_trait]
impl Trigger for ListTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.config.list_length as f64,
            metric_type: self.config.metric_type,
            activation_threshold: self.config.activation_list_length as f64,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        let length = self.length().await?;
        Ok(Sample::new(
            length as f64,
            self.config.activation_list_length as f64,
        ))
    }
}
