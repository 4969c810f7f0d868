//! Why one Redis sample failed.

use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerErrorKind};
use scalers_core::trigger::{TriggerError, TriggerErrorKind};

/// Result with the Redis triggers' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who a credential belongs to, for "authentication failed" messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum User {
    /// No `username`: Redis's `default` user (a password alone, or none).
    Default,
    /// An ACL user, by name.
    Named(String),
    /// The sentinels' credentials (`sentinelUsername`/`sentinelPassword`).
    Sentinel(Option<String>),
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            User::Default => f.write_str("the default user"),
            User::Named(name) => write!(f, "user {name:?}"),
            User::Sentinel(None) => f.write_str("the sentinels' default user"),
            User::Sentinel(Some(name)) => write!(f, "sentinel user {name:?}"),
        }
    }
}

/// Why a sample failed.
///
/// Every message starts with the servers, as [`Connection::endpoint`](super::Connection::endpoint)
/// shows them (`redis 10.0.0.1:6379`), and never contains a password or a username's password;
/// usernames, key names and server error replies are shown. [`Error::kind`] classifies the
/// failure; `From<Error>` makes it the [`TriggerError`] a trigger returns.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The servers could not be reached: connection refused or reset, connection lost, DNS
    /// failure, TLS handshake failure, cluster or master down.
    #[error("{endpoint}: cannot connect")]
    Unavailable {
        /// The servers, without credentials.
        endpoint: String,
        /// The cause.
        #[source]
        source: RedisError,
    },
    /// The sentinels do not know the master (`sentinelMaster`), or it is not reachable through
    /// them.
    #[error("{endpoint}: the sentinels know no reachable master named {master:?}")]
    NoMaster {
        /// The servers, without credentials.
        endpoint: String,
        /// `sentinelMaster`.
        master: String,
        /// The cause.
        #[source]
        source: RedisError,
    },
    /// No connection or no answer within the connection or response timeout.
    #[error("{endpoint}: no answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The servers, without credentials.
        endpoint: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The server refused the credentials.
    #[error("{endpoint}: authentication failed for {user}")]
    Unauthorized {
        /// The servers, without credentials.
        endpoint: String,
        /// Whose credentials.
        user: User,
    },
    /// The user may not run a command the trigger needs (`NOPERM`).
    #[error("{endpoint}: {user} may not run {command}")]
    NoPermission {
        /// The servers, without credentials.
        endpoint: String,
        /// The user.
        user: User,
        /// The command refused.
        command: &'static str,
    },
    /// The key holds a type the trigger cannot measure.
    #[error("{endpoint}: key {key:?} is a {found}; expected {expected}")]
    WrongType {
        /// The servers, without credentials.
        endpoint: String,
        /// The key.
        key: String,
        /// Its type, as `TYPE` answers (`string`, `stream`, …).
        found: String,
        /// What the trigger measures.
        expected: &'static str,
    },
    /// Pending-entries mode: the stream or its consumer group does not exist (`NOGROUP`).
    #[error("{endpoint}: stream {stream:?} has no consumer group {group:?}")]
    NoGroup {
        /// The servers, without credentials.
        endpoint: String,
        /// `stream`.
        stream: String,
        /// `consumerGroup`.
        group: String,
    },
    /// Lag mode: Redis reports the group's lag as unknown (it cannot compute it after some
    /// deletions, or for a group created at an arbitrary ID).
    #[error(
        "{endpoint}: redis cannot tell the lag of consumer group {group:?} on stream {stream:?}"
    )]
    UnknownLag {
        /// The servers, without credentials.
        endpoint: String,
        /// `stream`.
        stream: String,
        /// `consumerGroup`.
        group: String,
    },
    /// Lag mode: `XINFO GROUPS` reports no `lag` field; lag needs Redis 7 or later.
    #[error("{endpoint}: lagCount needs redis 7 or later (XINFO GROUPS reports no lag)")]
    LagUnsupported {
        /// The servers, without credentials.
        endpoint: String,
    },
    /// The server answered a command with an error.
    #[error("{endpoint}: {command} failed: {reply}")]
    Server {
        /// The servers, without credentials.
        endpoint: String,
        /// The command.
        command: &'static str,
        /// The server's error reply.
        reply: String,
    },
    /// The server answered something the trigger cannot read.
    #[error("{endpoint}: unexpected reply to {command}: {reply}")]
    Unexpected {
        /// The servers, without credentials.
        endpoint: String,
        /// The command.
        command: &'static str,
        /// What came back.
        reply: String,
    },
}

impl Error {
    /// The kind of trigger failure this is.
    pub fn kind(&self) -> TriggerErrorKind {
        match self {
            Error::Unavailable { .. } | Error::NoMaster { .. } => TriggerErrorKind::Unavailable,
            Error::Timeout { .. } => TriggerErrorKind::Timeout,
            Error::Unauthorized { .. } | Error::NoPermission { .. } => {
                TriggerErrorKind::Unauthorized
            }
            Error::UnknownLag { .. } => TriggerErrorKind::NoData,
            Error::WrongType { .. }
            | Error::NoGroup { .. }
            | Error::LagUnsupported { .. }
            | Error::Server { .. }
            | Error::Unexpected { .. } => TriggerErrorKind::BadResponse,
        }
    }
}

impl From<Error> for TriggerError {
    /// Keeps `e` whole as the trigger error's source, for
    /// [`TriggerError::downcast_ref`]; the message is its text.
    fn from(e: Error) -> Self {
        TriggerError::from_plugin(e.kind(), e)
    }
}

/// What a failed command was doing, to classify its error.
pub(crate) struct Failure<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) command: &'static str,
    pub(crate) user: &'a User,
    pub(crate) timeout: Duration,
}

impl Failure<'_> {
    /// Classifies a client error.
    pub(crate) fn classify(&self, e: RedisError) -> Error {
        let endpoint = self.endpoint.to_owned();
        if e.is_timeout() {
            return Error::Timeout {
                endpoint,
                timeout: self.timeout,
            };
        }
        let code = e.code().unwrap_or_default();
        match e.kind() {
            ErrorKind::AuthenticationFailed => Error::Unauthorized {
                endpoint,
                user: self.user.clone(),
            },
            _ if matches!(code, "WRONGPASS" | "NOAUTH") => Error::Unauthorized {
                endpoint,
                user: self.user.clone(),
            },
            // The cluster client reports its seed nodes' failure as an I/O error whose detail is
            // the last node's error as text.
            ErrorKind::Io
                if e.detail().is_some_and(|d| {
                    d.contains("- AuthenticationFailed") || d.starts_with("WRONGPASS")
                }) =>
            {
                Error::Unauthorized {
                    endpoint,
                    user: self.user.clone(),
                }
            }
            ErrorKind::Server(ServerErrorKind::NoPerm) => Error::NoPermission {
                endpoint,
                user: self.user.clone(),
                command: self.command,
            },
            ErrorKind::MasterNameNotFoundBySentinel => Error::Unavailable {
                endpoint,
                source: e,
            },
            ErrorKind::Io
            | ErrorKind::ClusterConnectionNotFound
            | ErrorKind::EmptySentinelList
            | ErrorKind::Server(
                ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ReadOnly,
            ) => Error::Unavailable {
                endpoint,
                source: e,
            },
            _ if e.is_connection_dropped() || e.is_connection_refusal() => Error::Unavailable {
                endpoint,
                source: e,
            },
            ErrorKind::Server(_) | ErrorKind::Extension => Error::Server {
                endpoint,
                command: self.command,
                reply: server_reply(&e),
            },
            _ => Error::Unexpected {
                endpoint,
                command: self.command,
                reply: e.to_string(),
            },
        }
    }
}

/// A server error reply as Redis sent it: `CODE detail`.
fn server_reply(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(user: &User) -> Failure<'_> {
        Failure {
            endpoint: "redis h:1",
            command: "XLEN",
            user,
            timeout: Duration::from_secs(3),
        }
    }

    #[test]
    fn io_errors_are_unavailable_and_timeouts_timeouts() {
        let user = User::Default;
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let e = failure(&user).classify(refused);
        assert_eq!(e.kind(), TriggerErrorKind::Unavailable);
        assert_eq!(e.to_string(), "redis h:1: cannot connect");
        let timed_out = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let e = failure(&user).classify(timed_out);
        assert_eq!(e.kind(), TriggerErrorKind::Timeout);
        assert_eq!(e.to_string(), "redis h:1: no answer within 3000 ms");
    }

    #[test]
    fn auth_failures_name_the_user_only() {
        let user = User::Named("app".into());
        let e = failure(&user).classify(RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        )));
        assert_eq!(e.kind(), TriggerErrorKind::Unauthorized);
        assert_eq!(
            e.to_string(),
            "redis h:1: authentication failed for user \"app\""
        );
        assert_eq!(
            User::Sentinel(None).to_string(),
            "the sentinels' default user"
        );
    }
}
