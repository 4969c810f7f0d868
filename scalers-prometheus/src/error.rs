//! The crate's error type: why one sample of an HTTP trigger failed.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use scalers_core::trigger::{TriggerError, TriggerErrorKind};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a Prometheus query or a `metrics-api` request failed.
///
/// Every message starts with the endpoint stripped of userinfo and query string
/// (`http://prometheus:9090/api/v1/query`, `http://app:8080/stats`), so it never carries
/// credentials, header values or query parameters. Transport errors keep reqwest's error as
/// their source, with its URL removed. Response bodies are never quoted, except a Prometheus
/// error's own explanation and the short value found at a `metrics-api` `valueLocation`.
///
/// [`Error::kind`] classifies the failure for fallback and explanations; `From<Error>` turns it
/// into the [`TriggerError`] a trigger returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP client could not be built (TLS material rejected by the TLS library, for
    /// example).
    #[error("{endpoint}: cannot build the HTTP client")]
    Client {
        /// The endpoint, redacted.
        endpoint: String,
        /// The cause, without URL.
        #[source]
        source: reqwest::Error,
    },
    /// The server could not be reached (connection refused, DNS failure, TLS handshake).
    #[error("{endpoint}: cannot connect")]
    Connect {
        /// The endpoint, redacted.
        endpoint: String,
        /// The cause, without URL.
        #[source]
        source: reqwest::Error,
    },
    /// No complete answer within the trigger's `timeout`.
    #[error("{endpoint}: no answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The endpoint, redacted.
        endpoint: String,
        /// The per-request timeout that elapsed.
        timeout: Duration,
        /// The cause, without URL.
        #[source]
        source: reqwest::Error,
    },
    /// The request was not sent: the shared client of this server and credentials had its
    /// maximum of requests in flight during the whole `timeout`, or also its maximum of
    /// requests waiting (then the sample fails at once).
    #[error(
        "{endpoint}: no answer within {} ms ({in_flight} requests to this server already in flight{})",
        timeout.as_millis(),
        waiting.map(|w| format!(" and {w} waiting; not queued")).unwrap_or_default()
    )]
    Saturated {
        /// The endpoint, redacted.
        endpoint: String,
        /// The per-request timeout.
        timeout: Duration,
        /// The limit of requests in flight that was reached ([`MAX_IN_FLIGHT`](crate::MAX_IN_FLIGHT)).
        in_flight: usize,
        /// The limit of waiting requests, when it was reached too
        /// ([`MAX_WAITING`](crate::MAX_WAITING)).
        waiting: Option<usize>,
    },
    /// The request failed after the connection was made (reset, truncated body, …).
    #[error("{endpoint}: request failed")]
    Request {
        /// The endpoint, redacted.
        endpoint: String,
        /// The cause, without URL.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered 401 or 403.
    #[error("{endpoint}: HTTP {status}{}", with_api(.api))]
    Unauthorized {
        /// The endpoint, redacted.
        endpoint: String,
        /// 401 or 403.
        status: StatusCode,
        /// Prometheus's explanation, when the body was a Prometheus error.
        api: Option<ApiError>,
    },
    /// The server answered another non-2xx status.
    #[error("{endpoint}: HTTP {status}{}", with_api(.api))]
    Status {
        /// The endpoint, redacted.
        endpoint: String,
        /// The status.
        status: StatusCode,
        /// Prometheus's explanation (`errorType` and `error`), when the body was a Prometheus
        /// error; other bodies are not shown, as they may echo the request.
        api: Option<ApiError>,
    },
    /// A 2xx answer whose `status` is not `success`.
    #[error("{endpoint}: {api}")]
    Api {
        /// The endpoint, redacted.
        endpoint: String,
        /// Prometheus's explanation.
        api: ApiError,
    },
    /// The body is not a Prometheus query response, or not JSON for a `metrics-api` trigger
    /// with `format: json`.
    #[error("{endpoint}: malformed response")]
    Decode {
        /// The endpoint, redacted.
        endpoint: String,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A sample value is not a number.
    #[error("{endpoint}: the value {value:?} is not a number")]
    BadValue {
        /// The endpoint, redacted.
        endpoint: String,
        /// The value as Prometheus sent it.
        value: String,
    },
    /// The query returned a matrix or a string.
    #[error("{endpoint}: the query returned a {result_type}; expected a vector or a scalar")]
    UnsupportedResult {
        /// The endpoint, redacted.
        endpoint: String,
        /// Prometheus's `resultType`.
        result_type: String,
    },
    /// The query returned a vector of more than one element.
    #[error("{endpoint}: the query returned {count} elements; expected exactly one")]
    MultipleElements {
        /// The endpoint, redacted.
        endpoint: String,
        /// How many elements.
        count: usize,
    },
    /// A `metrics-api` response has nothing at `valueLocation`: no such key or index, or no
    /// sample of that series.
    #[error("{endpoint}: no value at {location:?}")]
    ValueNotFound {
        /// The endpoint, redacted.
        endpoint: String,
        /// The `valueLocation`.
        location: String,
    },
    /// The value at a `metrics-api` `valueLocation` is not a finite number or a numeric string.
    #[error("{endpoint}: the value at {location:?} is {found}, not a number")]
    NotANumber {
        /// The endpoint, redacted.
        endpoint: String,
        /// The `valueLocation`.
        location: String,
        /// What is there: `true`, `null`, `an object`, `an array`, a string (quoted, cut at 64
        /// characters), `NaN`, `+Inf` or `-Inf`.
        found: String,
    },
    /// Several samples of a `metrics-api` response in the Prometheus text format match
    /// `valueLocation`.
    #[error("{endpoint}: {count} samples match {selector:?}; expected exactly one")]
    MultipleSeries {
        /// The endpoint, redacted.
        endpoint: String,
        /// The `valueLocation`.
        selector: String,
        /// How many samples match.
        count: usize,
    },
    /// A sample of the `valueLocation` metric in a `metrics-api` response does not follow the
    /// Prometheus text format.
    #[error("{endpoint}: line {line} is not in the Prometheus text format: {reason}")]
    Exposition {
        /// The endpoint, redacted.
        endpoint: String,
        /// The line, counted from 1.
        line: usize,
        /// What is wrong with it (never its content).
        reason: &'static str,
    },
    /// The query returned no usable value (see [`NoData`]).
    ///
    /// A trigger with `ignoreNullValues: true` turns this into a "no data" sample instead.
    #[error("{endpoint}: the query returned {reason}")]
    NoData {
        /// The endpoint, redacted.
        endpoint: String,
        /// What came back.
        reason: NoData,
    },
}

fn with_api(api: &Option<ApiError>) -> String {
    api.as_ref().map_or_else(String::new, |a| format!(": {a}"))
}

/// The `errorType` and `error` of a Prometheus error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// Prometheus's `errorType` (`bad_data`, `timeout`, `execution`, …).
    pub error_type: String,
    /// Prometheus's `error` message.
    pub error: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error)
    }
}

/// What a query returned instead of a usable value.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum NoData {
    /// An empty vector.
    EmptyResult,
    /// A vector element without a value (KEDA treats it as empty).
    MissingValue,
    /// NaN, +Inf or -Inf.
    NotFinite(f64),
}

impl fmt::Display for NoData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoData::EmptyResult => f.write_str("an empty result"),
            NoData::MissingValue => f.write_str("an element without a value"),
            NoData::NotFinite(v) if v.is_nan() => f.write_str("NaN"),
            NoData::NotFinite(v) if *v > 0.0 => f.write_str("+Inf"),
            NoData::NotFinite(_) => f.write_str("-Inf"),
        }
    }
}

impl Error {
    /// The kind of trigger failure this is.
    pub fn kind(&self) -> TriggerErrorKind {
        match self {
            Error::Client { .. } | Error::Connect { .. } | Error::Request { .. } => {
                TriggerErrorKind::Unavailable
            }
            Error::Timeout { .. } | Error::Saturated { .. } => TriggerErrorKind::Timeout,
            Error::Unauthorized { .. } => TriggerErrorKind::Unauthorized,
            Error::NoData { .. } | Error::ValueNotFound { .. } => TriggerErrorKind::NoData,
            Error::Status { .. }
            | Error::Api { .. }
            | Error::Decode { .. }
            | Error::BadValue { .. }
            | Error::NotANumber { .. }
            | Error::UnsupportedResult { .. }
            | Error::MultipleElements { .. }
            | Error::MultipleSeries { .. }
            | Error::Exposition { .. } => TriggerErrorKind::BadResponse,
        }
    }

    /// A non-2xx answer: [`Error::Unauthorized`] for 401 and 403, else [`Error::Status`].
    pub(crate) fn refused(endpoint: &str, status: StatusCode, api: Option<ApiError>) -> Error {
        let endpoint = endpoint.to_owned();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized {
                endpoint,
                status,
                api,
            },
            _ => Error::Status {
                endpoint,
                status,
                api,
            },
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
