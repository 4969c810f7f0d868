//! The crate's error type: why one call to an external scaler failed.

use std::time::Duration;

use scalers_core::trigger::{TriggerError, TriggerErrorKind};
use tonic::Code;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The longest part of a scaler's own error message that is repeated in ours.
const MAX_MESSAGE: usize = 256;

/// Why a call to an external scaler failed.
///
/// Every message starts with the scaler's address and names the gRPC method. Messages never
/// contain TLS material or metadata values; a scaler's own error message is repeated (cut to
/// 256 bytes), as it is the only explanation there is.
///
/// [`Error::kind`] classifies the failure for fallback and explanations; `From<Error>` turns it
/// into the [`TriggerError`] a trigger returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TLS settings could not be turned into a TLS client (no trusted roots on this
    /// machine, or a client key that does not fit its certificate).
    #[error("{address}: cannot set up TLS")]
    Tls {
        /// The scaler's address.
        address: String,
        /// What rustls refused.
        #[source]
        source: rustls::Error,
    },
    /// The scaler could not be reached, or the connection broke (refused, DNS failure, TLS
    /// handshake, reset); the gRPC status tonic made of it is the source.
    #[error("{address}: {method}: cannot reach the scaler")]
    Unavailable {
        /// The scaler's address.
        address: String,
        /// The gRPC method.
        method: &'static str,
        /// The transport failure, as a client-side gRPC status.
        #[source]
        source: Box<tonic::Status>,
    },
    /// No answer within the trigger's `timeout`.
    #[error("{address}: {method}: no answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The scaler's address.
        address: String,
        /// The gRPC method.
        method: &'static str,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The scaler answered with a gRPC error status.
    #[error("{address}: {method} returned {}: {message}", code_name(*.code))]
    Status {
        /// The scaler's address.
        address: String,
        /// The gRPC method.
        method: &'static str,
        /// The status code.
        code: Code,
        /// The scaler's message, cut to 256 bytes.
        message: String,
    },
    /// `GetMetricSpec` returned an empty list.
    #[error("{address}: GetMetricSpec returned no metric spec")]
    NoMetricSpec {
        /// The scaler's address.
        address: String,
    },
    /// The first metric spec has no positive target (neither `targetSizeFloat` nor
    /// `targetSize`, once in milli-units as KEDA hands it to the HPA).
    #[error(
        "{address}: GetMetricSpec returned target {target} for metric {metric:?}; expected a target greater than 0"
    )]
    BadTarget {
        /// The scaler's address.
        address: String,
        /// The metric's name.
        metric: String,
        /// The target as sent.
        target: f64,
    },
}

impl Error {
    /// The kind of trigger failure this is.
    ///
    /// Transport failures are `Unavailable`, the trigger's deadline is `Timeout`. A status sent
    /// by the scaler (or a proxy) is `BadResponse`, except `UNAVAILABLE` (`Unavailable`),
    /// `DEADLINE_EXCEEDED` (`Timeout`) and `UNAUTHENTICATED`/`PERMISSION_DENIED`
    /// (`Unauthorized`).
    pub fn kind(&self) -> TriggerErrorKind {
        match self {
            Error::Tls { .. } | Error::Unavailable { .. } => TriggerErrorKind::Unavailable,
            Error::Timeout { .. } => TriggerErrorKind::Timeout,
            Error::Status { code, .. } => match code {
                Code::Unavailable => TriggerErrorKind::Unavailable,
                Code::DeadlineExceeded => TriggerErrorKind::Timeout,
                Code::Unauthenticated | Code::PermissionDenied => TriggerErrorKind::Unauthorized,
                _ => TriggerErrorKind::BadResponse,
            },
            Error::NoMetricSpec { .. } | Error::BadTarget { .. } => TriggerErrorKind::BadResponse,
        }
    }

    /// The error for a failed call: a status with a source was made by tonic from a transport
    /// failure; one without was sent by the other side.
    pub(crate) fn from_status(address: &str, method: &'static str, status: tonic::Status) -> Self {
        let address = address.to_owned();
        if std::error::Error::source(&status).is_some() {
            return Error::Unavailable {
                address,
                method,
                source: Box::new(status),
            };
        }
        let mut message = status.message().to_owned();
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Error::Status {
            address,
            method,
            code: status.code(),
            message,
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

/// gRPC's canonical name of a status code (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_statuses_keep_code_and_a_bounded_message() {
        let e = Error::from_status(
            "s:1",
            "GetMetrics",
            tonic::Status::not_found("no such metric"),
        );
        assert_eq!(
            e.to_string(),
            "s:1: GetMetrics returned NOT_FOUND: no such metric"
        );
        assert_eq!(e.kind(), TriggerErrorKind::BadResponse);

        let long = "é".repeat(200);
        let e = Error::from_status("s:1", "IsActive", tonic::Status::internal(long));
        let Error::Status { message, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(message, &format!("{}…", "é".repeat(128)));

        for (status, kind) in [
            (
                tonic::Status::unavailable("x"),
                TriggerErrorKind::Unavailable,
            ),
            (
                tonic::Status::deadline_exceeded("x"),
                TriggerErrorKind::Timeout,
            ),
            (
                tonic::Status::unauthenticated("x"),
                TriggerErrorKind::Unauthorized,
            ),
            (
                tonic::Status::permission_denied("x"),
                TriggerErrorKind::Unauthorized,
            ),
            (
                tonic::Status::unimplemented("x"),
                TriggerErrorKind::BadResponse,
            ),
        ] {
            assert_eq!(Error::from_status("s:1", "IsActive", status).kind(), kind);
        }
    }
}
