//! Why one Kafka lag sample failed.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use scalers_core::trigger::{TriggerError, TriggerErrorKind};

/// Result with the kafka trigger's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a lag sample failed.
///
/// Every message starts with the bootstrap servers (`broker-1:9092,broker-2:9092`), which
/// carry no credentials, then says what was asked. [`Error::kind`] classifies the failure for
/// fallback and explanations; `From<Error>` turns it into the [`TriggerError`] a trigger
/// returns. A failure is never a lag of 0.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// librdkafka refused the client configuration (TLS material it cannot load, for example).
    #[error("{servers}: cannot create the Kafka client")]
    Client {
        /// The bootstrap servers.
        servers: String,
        /// librdkafka's explanation.
        #[source]
        source: KafkaError,
    },
    /// A request failed as a whole: no broker reachable, credentials refused, or a broker
    /// error. When the request failed for want of a usable broker, the code is that of the
    /// client's latest error event (a transport, TLS or SASL failure), which says why.
    #[error("{servers}: {operation}: {code}")]
    Request {
        /// The bootstrap servers.
        servers: String,
        /// What was asked, like `fetch metadata of topic "orders"`.
        operation: String,
        /// librdkafka's error code (a broker error or a local one, like a timeout).
        code: RDKafkaErrorCode,
    },
    /// No broker answered within the timeout, and none reported a failure (a broker that
    /// accepts connections but does not answer, say).
    #[error("{servers}: {operation}: no answer within {} ms", timeout.as_millis())]
    NoAnswer {
        /// The bootstrap servers.
        servers: String,
        /// What was asked.
        operation: String,
        /// The sample's timeout.
        timeout: std::time::Duration,
    },
    /// The broker answered an error for one partition.
    #[error("{servers}: {operation}: partition {topic}/{partition}: {code}")]
    Partition {
        /// The bootstrap servers.
        servers: String,
        /// What was asked.
        operation: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// A connection this crate makes itself to a broker (the group's coordinator, for its
    /// committed offsets) failed: refused, reset, a TLS failure, or an answer that does not
    /// parse.
    #[error("{servers}: {operation}: broker {broker}: {reason}")]
    Broker {
        /// The bootstrap servers.
        servers: String,
        /// What was asked, like `find the coordinator of group "workers"`.
        operation: String,
        /// The broker's `host:port`.
        broker: String,
        /// What went wrong.
        reason: String,
    },
    /// SASL authentication on such a connection failed: the broker refused the credentials
    /// (with its message), or does not offer the mechanism, or proved not to know the password
    /// (SCRAM).
    #[error("{servers}: {operation}: broker {broker}: SASL authentication failed: {reason}")]
    Authentication {
        /// The bootstrap servers.
        servers: String,
        /// What was asked.
        operation: String,
        /// The broker's `host:port`.
        broker: String,
        /// Why, as the broker or the exchange said.
        reason: String,
    },
    /// The topic does not exist.
    #[error("{servers}: topic {topic:?} does not exist")]
    UnknownTopic {
        /// The bootstrap servers.
        servers: String,
        /// The topic.
        topic: String,
    },
    /// `partitionLimitation` selects none of the topic's partitions.
    #[error(
        "{servers}: partitionLimitation {limitation} selects none of the {partitions} \
         partitions of topic {topic:?}"
    )]
    NoPartitionSelected {
        /// The bootstrap servers.
        servers: String,
        /// The topic.
        topic: String,
        /// How many partitions it has.
        partitions: usize,
        /// The limitation, as given.
        limitation: String,
    },
    /// The blocking task that talks to the brokers panicked or was cancelled.
    #[error("{servers}: the Kafka request task failed")]
    Task {
        /// The bootstrap servers.
        servers: String,
        /// The panic or cancellation.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Error {
    /// The kind of trigger failure this is.
    ///
    /// No broker reachable (transport failures, name resolution, no leader or coordinator) is
    /// `Unavailable`; a request without an answer in time is `Timeout`; refused credentials
    /// (SASL, authorization) are `Unauthorized`; everything else, a missing topic included, is
    /// `BadResponse`.
    pub fn kind(&self) -> TriggerErrorKind {
        match self {
            Error::Client { .. } | Error::Task { .. } | Error::Broker { .. } => {
                TriggerErrorKind::Unavailable
            }
            Error::Authentication { .. } => TriggerErrorKind::Unauthorized,
            Error::Request { code, .. } | Error::Partition { code, .. } => code_kind(*code),
            Error::NoAnswer { .. } => TriggerErrorKind::Timeout,
            Error::UnknownTopic { .. } | Error::NoPartitionSelected { .. } => {
                TriggerErrorKind::BadResponse
            }
        }
    }
}

/// The failure kind of a librdkafka error code.
pub(crate) fn code_kind(code: RDKafkaErrorCode) -> TriggerErrorKind {
    use RDKafkaErrorCode as C;
    match code {
        C::OperationTimedOut | C::RequestTimedOut | C::MessageTimedOut | C::TimedOutQueue => {
            TriggerErrorKind::Timeout
        }
        C::BrokerTransportFailure
        | C::AllBrokersDown
        | C::Resolve
        | C::BrokerNotAvailable
        | C::LeaderNotAvailable
        | C::NotLeaderForPartition
        | C::NotCoordinator
        | C::CoordinatorNotAvailable
        | C::CoordinatorLoadInProgress
        | C::NetworkException
        | C::SSL
        | C::WaitingForCoordinator
        | C::BrokerDestroy => TriggerErrorKind::Unavailable,
        C::Authentication
        | C::SaslAuthenticationFailed
        | C::UnsupportedSASLMechanism
        | C::IllegalSASLState
        | C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::ClusterAuthorizationFailed => TriggerErrorKind::Unauthorized,
        _ => TriggerErrorKind::BadResponse,
    }
}

/// The error code of a librdkafka error, `Fail` when it has none.
pub(crate) fn error_code(e: &KafkaError) -> RDKafkaErrorCode {
    e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)
}

impl From<Error> for TriggerError {
    /// Keeps `e` whole as the trigger error's source, for
    /// [`TriggerError::downcast_ref`]; the message is its text.
    fn from(e: Error) -> Self {
        TriggerError::from_plugin(e.kind(), e)
    }
}
