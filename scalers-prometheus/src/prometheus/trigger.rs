//! The trigger: one instant query per sample.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::StatusCode;
use scalers_core::secret::redact_url;
use scalers_core::trigger::{MetricTarget, Sample, Trigger, TriggerError};
use serde::Deserialize;

use super::config::PrometheusConfig;
use crate::error::{ApiError, Error, NoData, Result};
use crate::http::{ClientPool, Endpoint};

/// The `prometheus` trigger: samples the value of an instant PromQL query.
///
/// Each sample sends `GET <serverAddress>/api/v1/query?query=…&time=<now>` (plus `namespace`
/// and `queryParameters`, with the custom headers and credentials) through a client shared with
/// every trigger of the same [`ClientPool`] that has the same server and credentials.
///
/// `Debug` shows the server address without userinfo and never shows credentials, header
/// values or query parameter values.
pub struct PrometheusTrigger {
    config: PrometheusConfig,
    /// `<serverAddress>/api/v1/query`.
    endpoint: Endpoint,
}

impl fmt::Debug for PrometheusTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusTrigger")
            .field("endpoint", &self.endpoint.shown())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PrometheusTrigger {
    /// A trigger for `config`, taking its HTTP client from `pool`.
    ///
    /// No I/O: the client is built and connects on the first sample.
    pub fn new(config: PrometheusConfig, pool: &ClientPool) -> Self {
        let mut url = config.server_address.clone();
        let path = format!("{}/api/v1/query", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let endpoint = Endpoint::new(
            url,
            config.auth.clone(),
            config.unsafe_ssl,
            config.timeout,
            pool,
        );
        PrometheusTrigger { config, endpoint }
    }

    /// The parsed parameters.
    pub fn config(&self) -> &PrometheusConfig {
        &self.config
    }

    /// Whether both triggers send their queries through the same HTTP client (and so the same
    /// keep-alive connections).
    pub fn shares_client_with(&self, other: &PrometheusTrigger) -> bool {
        self.endpoint.shares_client_with(&other.endpoint)
    }

    /// Runs the query once and returns its value.
    ///
    /// A vector with one element gives its value, a scalar gives its value.
    /// `ignoreNullValues` is not applied here: an empty result, a NaN or an infinity is
    /// [`Error::NoData`] (it is [`Trigger::sample`] that turns it into a "no data" sample).
    ///
    /// # Errors
    /// [`Error`]: the server was unreachable, did not answer within the timeout, refused the
    /// credentials, answered a non-2xx status or a Prometheus error, answered something that is
    /// not a query response, or the query returned several elements or no usable value.
    pub async fn query(&self) -> Result<f64> {
        let now = unix_now();
        let mut params: Vec<(&str, &str)> = vec![("query", &self.config.query), ("time", &now)];
        if let Some(namespace) = &self.config.namespace {
            params.push(("namespace", namespace));
        }
        for (name, value) in &self.config.query_parameters {
            params.push((name, value.expose()));
        }
        let answer = self
            .endpoint
            .get(&params, &self.config.custom_headers, None)
            .await?;
        decode(self.endpoint.shown(), answer.status, &answer.body)
    }
}

#[async_trait]
impl Trigger for PrometheusTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.config.threshold,
            metric_type: self.config.metric_type,
            activation_threshold: self.config.activation_threshold,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        let activation = self.config.activation_threshold;
        match self.query().await {
            Ok(value) => Ok(Sample::new(value, activation)),
            Err(Error::NoData { .. }) if self.config.ignore_null_values => {
                Ok(Sample::no_data(activation))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Unix seconds with milliseconds, one of the two `time` formats Prometheus accepts.
fn unix_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", now.as_secs(), now.subsec_millis())
}

/// The envelope of every Prometheus API response.
#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

impl Envelope {
    fn api_error(self) -> ApiError {
        ApiError {
            error_type: self.error_type.unwrap_or_else(|| "unknown".to_owned()),
            error: self.error.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// One element of a vector result; `value` is `[timestamp, "value"]`, possibly absent or empty
/// (native histograms carry `histogram` instead).
#[derive(Deserialize)]
struct VectorElement {
    #[serde(default)]
    value: Vec<serde_json::Value>,
}

/// Decodes the answer of Prometheus's instant-query API (`GET /api/v1/query`) into its value,
/// as the `prometheus` trigger reads it.
///
/// For callers that send the query through an HTTP client of their own: give the URL that was
/// queried, the response status (the `http` crate's `StatusCode`, which reqwest, hyper and axum
/// re-export) and the whole body. `endpoint` only names the source in errors; its userinfo,
/// query string and fragment are removed first
/// ([`redact_url`](scalers_core::secret::redact_url)), so a URL with credentials may be passed.
///
/// A vector of one element gives its value, a scalar gives its value (the value is Prometheus's
/// float text: Go's formatting, `NaN`, `+Inf`, `-Inf`). `ignoreNullValues` is not applied: an
/// empty vector, an element without a value, NaN or ±Inf is [`Error::NoData`], which a caller
/// may read as 0, as the trigger does with `ignoreNullValues: true`.
///
/// # Errors
/// - [`Error::Unauthorized`] (401, 403) or [`Error::Status`] (any other non-2xx status), with
///   Prometheus's `errorType` and `error` when the body is a Prometheus error;
/// - [`Error::Api`]: a 2xx answer whose `status` is not `success`;
/// - [`Error::Decode`]: a body that is not a query response;
/// - [`Error::UnsupportedResult`]: a matrix or a string result;
/// - [`Error::MultipleElements`]: a vector of more than one element;
/// - [`Error::BadValue`]: a value that is not a number;
/// - [`Error::NoData`]: no usable value, as above.
///
/// # Examples
/// ```
/// use reqwest::StatusCode;
/// use scalers_prometheus::{Error, decode_query_response};
///
/// let endpoint = "http://prometheus:9090/api/v1/query";
/// let body = br#"{"status":"success","data":{"resultType":"vector",
///     "result":[{"metric":{},"value":[1700000000.5,"42"]}]}}"#;
/// assert_eq!(decode_query_response(endpoint, StatusCode::OK, body)?, 42.0);
///
/// let refused = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
/// let err = decode_query_response(endpoint, StatusCode::BAD_REQUEST, refused).unwrap_err();
/// assert!(matches!(err, Error::Status { .. }));
/// assert_eq!(
///     err.to_string(),
///     "http://prometheus:9090/api/v1/query: HTTP 400 Bad Request: bad_data: parse error"
/// );
/// # Ok::<(), Error>(())
/// ```
pub fn decode_query_response(endpoint: &str, status: StatusCode, body: &[u8]) -> Result<f64> {
    decode(&redact_url(endpoint), status, body)
}

/// [`decode_query_response`] with `endpoint` already redacted.
fn decode(endpoint: &str, status: StatusCode, body: &[u8]) -> Result<f64> {
    let endpoint = endpoint.to_owned();
    if !status.is_success() {
        // Prometheus explains its errors in JSON; any other body is not shown, as a proxy's
        // error page may echo the request line and its query parameters.
        let api = serde_json::from_slice::<Envelope>(body)
            .ok()
            .filter(|e| e.status == "error")
            .map(Envelope::api_error);
        return Err(Error::refused(&endpoint, status, api));
    }
    let decode_err = |source| Error::Decode {
        endpoint: endpoint.clone(),
        source,
    };
    let envelope: Envelope = serde_json::from_slice(body).map_err(decode_err)?;
    if envelope.status != "success" {
        return Err(Error::Api {
            endpoint,
            api: envelope.api_error(),
        });
    }
    let Some(data) = envelope.data else {
        return Err(decode_err(serde::de::Error::missing_field("data")));
    };
    let raw = match data.result_type.as_str() {
        "vector" => {
            let elements: Vec<VectorElement> =
                serde_json::from_value(data.result).map_err(decode_err)?;
            match elements.len() {
                0 => Err(NoData::EmptyResult),
                // As KEDA: no value is no data, a value without its sample is malformed.
                1 => match elements.into_iter().next().map(|e| e.value) {
                    Some(v) if v.is_empty() => Err(NoData::MissingValue),
                    Some(v) if v.len() < 2 => {
                        return Err(decode_err(serde::de::Error::invalid_length(
                            v.len(),
                            &"a [timestamp, value] pair",
                        )));
                    }
                    Some(v) => v.into_iter().nth(1).ok_or(NoData::MissingValue),
                    None => Err(NoData::MissingValue),
                },
                count => return Err(Error::MultipleElements { endpoint, count }),
            }
        }
        // KEDA cannot read scalars; `[timestamp, "value"]`.
        "scalar" => {
            let pair: (serde_json::Value, serde_json::Value) =
                serde_json::from_value(data.result).map_err(decode_err)?;
            Ok(pair.1)
        }
        other => {
            return Err(Error::UnsupportedResult {
                endpoint,
                result_type: other.to_owned(),
            });
        }
    };
    let raw = raw.map_err(|reason| Error::NoData {
        endpoint: endpoint.clone(),
        reason,
    })?;
    let text = match &raw {
        serde_json::Value::String(s) => s.as_str(),
        other => {
            return Err(Error::BadValue {
                endpoint,
                value: other.to_string(),
            });
        }
    };
    let value = parse_value(text).ok_or_else(|| Error::BadValue {
        endpoint: endpoint.clone(),
        value: text.to_owned(),
    })?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NoData {
            endpoint,
            reason: NoData::NotFinite(value),
        })
    }
}

/// Prometheus's float formatting: Go's `strconv.FormatFloat` plus `NaN`, `+Inf`, `-Inf`.
pub(crate) fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::Strategy;

    const EP: &str = "http://prom:9090/api/v1/query";

    fn ok(body: &str) -> Result<f64> {
        decode(EP, StatusCode::OK, body.as_bytes())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any body, JSON-shaped or not, is a value or a typed error: never a panic.
        #[test]
        fn decoding_never_panics(
            body in proptest::prelude::prop_oneof![
                "[ -~]{0,120}",
                "[0-9a-zA-Z.+-]{0,12}".prop_map(|v| format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1,"{v}"]}}]}}}}"#)),
                "[a-z]{0,8}".prop_map(|t| format!(r#"{{"status":"success","data":{{"resultType":"{t}","result":[]}}}}"#)),
            ],
            status in proptest::prelude::prop_oneof![proptest::prelude::Just(200u16), 100u16..600],
        ) {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let _ = decode(EP, status, body.as_bytes());
        }
    }

    #[test]
    fn the_public_decoder_reads_values_and_types_errors_naming_the_redacted_endpoint() {
        let queried = "https://user:s3cret@prom:9090/api/v1/query?query=up&token=t0k#f";
        let shown = "https://prom:9090/api/v1/query";
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"q"},"value":[1700000000.5,"42"]}]}}"#;
        assert_eq!(
            decode_query_response(queried, StatusCode::OK, vector).unwrap(),
            42.0
        );

        let refused = br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#;
        let err = decode_query_response(queried, StatusCode::FORBIDDEN, refused).unwrap_err();
        let Error::Unauthorized {
            endpoint,
            status,
            api,
        } = &err
        else {
            panic!("expected Unauthorized, got {err:?}");
        };
        assert_eq!(endpoint, shown);
        assert_eq!(*status, StatusCode::FORBIDDEN);
        assert_eq!(
            api.as_ref(),
            Some(&ApiError {
                error_type: "bad_data".to_owned(),
                error: "1:5: parse error".to_owned(),
            })
        );
        assert_eq!(
            err.to_string(),
            format!("{shown}: HTTP 403 Forbidden: bad_data: 1:5: parse error")
        );

        let err = decode_query_response(queried, StatusCode::OK, b"{}").unwrap_err();
        assert!(matches!(&err, Error::Decode { endpoint, .. } if endpoint == shown));
        assert!(!format!("{err:?}").contains("s3cret"));
    }

    #[test]
    fn a_value_without_its_sample_is_malformed() {
        let half = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5]}]}}"#;
        let e = ok(half).unwrap_err();
        assert_eq!(
            e.kind(),
            scalers_core::trigger::TriggerErrorKind::BadResponse
        );
        assert_eq!(e.to_string(), format!("{EP}: malformed response"));
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            cause.as_deref(),
            Some("invalid length 1, expected a [timestamp, value] pair")
        );
        let none = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[]}]}}"#;
        assert!(matches!(ok(none), Err(Error::NoData { .. })));
    }

    #[test]
    fn vector_scalar_and_special_values() {
        let one = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"42"]}]}}"#;
        assert_eq!(ok(one).unwrap(), 42.0);
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"-3.25"]}}"#;
        assert_eq!(ok(scalar).unwrap(), -3.25);
        for (text, shown) in [("NaN", "NaN"), ("+Inf", "+Inf"), ("-Inf", "-Inf")] {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"scalar","result":[1,"{text}"]}}}}"#
            );
            let err = ok(&body).unwrap_err();
            assert!(matches!(
                err,
                Error::NoData {
                    reason: NoData::NotFinite(_),
                    ..
                }
            ));
            assert_eq!(err.to_string(), format!("{EP}: the query returned {shown}"));
        }
    }

    #[test]
    fn element_without_value_is_missing_not_empty() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}"#;
        let err = ok(body).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{EP}: the query returned an element without a value")
        );
    }

    #[test]
    fn matrix_and_bad_values_are_bad_responses() {
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(
            ok(matrix).unwrap_err().to_string(),
            format!("{EP}: the query returned a matrix; expected a vector or a scalar")
        );
        let bad = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"ten"]}}"#;
        assert_eq!(
            ok(bad).unwrap_err().to_string(),
            format!("{EP}: the value \"ten\" is not a number")
        );
        let missing = r#"{"status":"success"}"#;
        let err = ok(missing).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }));
    }

    #[test]
    fn error_status_in_a_2xx_is_an_api_error() {
        let body = r#"{"status":"error","errorType":"execution","error":"boom"}"#;
        assert_eq!(
            ok(body).unwrap_err().to_string(),
            format!("{EP}: execution: boom")
        );
    }

    #[test]
    fn non_json_error_bodies_are_not_shown() {
        let err = decode(
            EP,
            StatusCode::BAD_GATEWAY,
            b"GET /api/v1/query?token=s3cret",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), format!("{EP}: HTTP 502 Bad Gateway"));
    }
}
