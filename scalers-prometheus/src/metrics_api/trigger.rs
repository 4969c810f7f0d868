//! The `metrics-api` trigger: one GET per sample, the value read at `valueLocation`.

use std::fmt;

use async_trait::async_trait;
use scalers_core::trigger::{MetricTarget, Sample, Trigger, TriggerError};
use serde_json::Value;

use super::config::{MetricsApiConfig, ValueLocation};
use super::exposition::SeriesSelector;
use super::json_path::{Found, JsonPath};
use crate::error::{Error, Result};
use crate::http::{ClientPool, Endpoint};
use crate::prometheus::parse_value;
use scalers_core::quantity;

/// `Accept` for `format: json`.
const ACCEPT_JSON: &str = "application/json";
/// `Accept` for `format: prometheus`: the classic text format.
const ACCEPT_TEXT: &str = "text/plain; version=0.0.4";
/// How much of a string value an error quotes.
const QUOTED_CHARS: usize = 64;

/// The `metrics-api` trigger: GETs `url` and reads the number at `valueLocation`.
///
/// Each sample sends `GET <url>` (with the API key in a header or the query string, and the
/// other credentials) through a client shared with every trigger of the same [`ClientPool`]
/// that has the same server and credentials, `prometheus` triggers included.
///
/// `Debug` shows the URL without userinfo or query string and never shows credentials.
pub struct MetricsApiTrigger {
    config: MetricsApiConfig,
    endpoint: Endpoint,
}

impl fmt::Debug for MetricsApiTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsApiTrigger")
            .field("endpoint", &self.endpoint.shown())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MetricsApiTrigger {
    /// A trigger for `config`, taking its HTTP client from `pool`.
    ///
    /// No I/O: the client is built and connects on the first sample.
    pub fn new(config: MetricsApiConfig, pool: &ClientPool) -> Self {
        let endpoint = Endpoint::new(
            config.url.clone(),
            config.auth.clone(),
            config.unsafe_ssl,
            config.timeout,
            pool,
        );
        MetricsApiTrigger { config, endpoint }
    }

    /// The parsed parameters.
    pub fn config(&self) -> &MetricsApiConfig {
        &self.config
    }

    /// Whether both triggers send their requests through the same HTTP client (and so the same
    /// keep-alive connections).
    pub fn shares_client_with(&self, other: &MetricsApiTrigger) -> bool {
        self.endpoint.shares_client_with(&other.endpoint)
    }

    /// Requests `url` once and returns the value at `valueLocation`.
    ///
    /// # Errors
    /// [`Error`]: the server was unreachable, did not answer within the timeout, refused the
    /// credentials or answered a non-2xx status; the body is not JSON
    /// ([`Error::Decode`]) or holds a malformed sample of the selected series
    /// ([`Error::Exposition`]); nothing is at `valueLocation` ([`Error::ValueNotFound`]);
    /// what is there is not a number ([`Error::NotANumber`]); several samples match
    /// ([`Error::MultipleSeries`]).
    pub async fn value(&self) -> Result<f64> {
        let accept = match &self.config.value_location {
            ValueLocation::Json(_) => ACCEPT_JSON,
            ValueLocation::Prometheus(_) => ACCEPT_TEXT,
        };
        let answer = self.endpoint.get(&[], &[], Some(accept)).await?;
        let shown = self.endpoint.shown();
        if !answer.status.is_success() {
            // The body is not shown: an error page may echo the request and its query string.
            return Err(Error::refused(shown, answer.status, None));
        }
        match &self.config.value_location {
            ValueLocation::Json(path) => read_json(shown, path, &answer.body),
            ValueLocation::Prometheus(selector) => read_exposition(shown, selector, &answer.body),
        }
    }
}

#[async_trait]
impl Trigger for MetricsApiTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.config.target_value,
            metric_type: self.config.metric_type,
            activation_threshold: self.config.activation_target_value,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        let value = self.value().await?;
        Ok(Sample::new(value, self.config.activation_target_value))
    }
}

/// The number at `path` in the JSON `body`.
fn read_json(endpoint: &str, path: &JsonPath, body: &[u8]) -> Result<f64> {
    let doc: Value = serde_json::from_slice(body).map_err(|source| Error::Decode {
        endpoint: endpoint.to_owned(),
        source,
    })?;
    let not_a_number = |found: String| Error::NotANumber {
        endpoint: endpoint.to_owned(),
        location: path.as_str().to_owned(),
        found,
    };
    match path.find(&doc) {
        None => Err(Error::ValueNotFound {
            endpoint: endpoint.to_owned(),
            location: path.as_str().to_owned(),
        }),
        // Lengths are exact in a float up to 2^53 elements.
        Some(Found::Length(n)) => Ok(n as f64),
        Some(Found::Value(Value::Number(n))) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| not_a_number(n.to_string())),
        Some(Found::Value(Value::String(s))) => {
            quantity::parse(s).ok_or_else(|| not_a_number(quote(s)))
        }
        Some(Found::Value(Value::Bool(b))) => Err(not_a_number(b.to_string())),
        Some(Found::Value(Value::Null)) => Err(not_a_number("null".to_owned())),
        Some(Found::Value(Value::Array(_))) => Err(not_a_number("an array".to_owned())),
        Some(Found::Value(Value::Object(_))) => Err(not_a_number("an object".to_owned())),
    }
}

/// The value of the one sample of `selector` in the text exposition `body`.
fn read_exposition(endpoint: &str, selector: &SeriesSelector, body: &[u8]) -> Result<f64> {
    let text = String::from_utf8_lossy(body);
    let matches = selector
        .matches(&text)
        .map_err(|(line, reason)| Error::Exposition {
            endpoint: endpoint.to_owned(),
            line,
            reason,
        })?;
    let raw = match matches.as_slice() {
        [] => {
            return Err(Error::ValueNotFound {
                endpoint: endpoint.to_owned(),
                location: selector.as_str().to_owned(),
            });
        }
        [one] => one.value,
        several => {
            return Err(Error::MultipleSeries {
                endpoint: endpoint.to_owned(),
                selector: selector.as_str().to_owned(),
                count: several.len(),
            });
        }
    };
    match parse_value(raw) {
        Some(v) if v.is_finite() => Ok(v),
        parsed => Err(Error::NotANumber {
            endpoint: endpoint.to_owned(),
            location: selector.as_str().to_owned(),
            found: match parsed {
                Some(v) if v.is_nan() => "NaN".to_owned(),
                Some(v) if v > 0.0 => "+Inf".to_owned(),
                Some(_) => "-Inf".to_owned(),
                None => quote(raw),
            },
        }),
    }
}

/// `s` quoted, cut at [`QUOTED_CHARS`] characters.
fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: &str = "http://app:8080/stats";

    fn json(path: &str, body: &str) -> Result<f64> {
        read_json(EP, &JsonPath::parse(path).unwrap(), body.as_bytes())
    }

    fn text(selector: &str, body: &str) -> Result<f64> {
        read_exposition(
            EP,
            &SeriesSelector::parse(selector).unwrap(),
            body.as_bytes(),
        )
    }

    #[test]
    fn json_numbers_numeric_strings_and_lengths() {
        let body = r#"{"a":{"b":12.5},"s":"500m","items":[{"v":3},{"v":"4"}],"big":1e308}"#;
        assert_eq!(json("a.b", body).unwrap(), 12.5);
        assert_eq!(json("s", body).unwrap(), 0.5);
        assert_eq!(json("items.0.v", body).unwrap(), 3.0);
        assert_eq!(json("items.1.v", body).unwrap(), 4.0);
        assert_eq!(json("items.#", body).unwrap(), 2.0);
        assert_eq!(json("big", body).unwrap(), 1e308);
    }

    #[test]
    fn json_values_that_are_not_numbers() {
        let long = "x".repeat(100);
        let body =
            format!(r#"{{"t":true,"f":false,"n":null,"o":{{}},"a":[],"s":"ten","long":"{long}"}}"#);
        for (path, found) in [
            ("t", "true"),
            ("f", "false"),
            ("n", "null"),
            ("o", "an object"),
            ("a", "an array"),
            ("s", "\"ten\""),
        ] {
            assert_eq!(
                json(path, &body).unwrap_err().to_string(),
                format!("{EP}: the value at \"{path}\" is {found}, not a number")
            );
        }
        assert_eq!(
            json("long", &body).unwrap_err().to_string(),
            format!(
                "{EP}: the value at \"long\" is \"{}\"…, not a number",
                "x".repeat(64)
            )
        );
        let missing = json("a.0", &body).unwrap_err();
        assert!(matches!(missing, Error::ValueNotFound { .. }));
        assert_eq!(missing.to_string(), format!("{EP}: no value at \"a.0\""));
        let malformed = json("a", "{").unwrap_err();
        assert!(matches!(malformed, Error::Decode { .. }));
    }

    #[test]
    fn exposition_values() {
        let body = "# TYPE q gauge\nq{k=\"a\"} 3\nq{k=\"b\"} 1e3\nn NaN\np +Inf\nm -Inf\nw ten\n";
        assert_eq!(text("q{k=\"a\"}", body).unwrap(), 3.0);
        assert_eq!(text("q{k=\"b\"}", body).unwrap(), 1000.0);
        for (selector, message) in [
            (
                "q",
                format!("{EP}: 2 samples match \"q\"; expected exactly one"),
            ),
            ("x", format!("{EP}: no value at \"x\"")),
            (
                "n",
                format!("{EP}: the value at \"n\" is NaN, not a number"),
            ),
            (
                "p",
                format!("{EP}: the value at \"p\" is +Inf, not a number"),
            ),
            (
                "m",
                format!("{EP}: the value at \"m\" is -Inf, not a number"),
            ),
            (
                "w",
                format!("{EP}: the value at \"w\" is \"ten\", not a number"),
            ),
        ] {
            assert_eq!(text(selector, body).unwrap_err().to_string(), message);
        }
        assert_eq!(
            text("q", "q{k=\"a\" 1").unwrap_err().to_string(),
            format!(
                "{EP}: line 1 is not in the Prometheus text format: the labels are not closed \
                 by \"}}\""
            )
        );
    }
}
