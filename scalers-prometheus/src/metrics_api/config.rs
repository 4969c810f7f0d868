//! The `metrics-api` trigger's parameters, parsed and validated from KEDA's metadata.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use scalers_core::config::model::MetricType;
use scalers_core::secret::redact_url;
use scalers_core::trigger::{Invalid, Params};

use super::exposition::SeriesSelector;
use super::json_path::JsonPath;
use crate::http::{
    Auth, AuthMode, AuthParams, parse_auth, parse_http_url, parse_positive, parse_timeout,
};

/// How the `metrics-api` trigger spells its authentication parameters: KEDA's `authMode` (or
/// `authModes`, as for `prometheus`), and `token` (or `bearerToken`) for bearer.
const AUTH: AuthParams = AuthParams {
    modes_keys: &["authMode", "authModes"],
    modes: &[
        AuthMode::ApiKey,
        AuthMode::Basic,
        AuthMode::Bearer,
        AuthMode::Tls,
        AuthMode::Custom,
    ],
    bearer_token: &["token", "bearerToken"],
};

/// Where the value is in the response, and so how the response is read (`format` and
/// `valueLocation`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueLocation {
    /// `format: json` (the default): a GJSON-style path (see [`JsonPath`] for the subset).
    Json(JsonPath),
    /// `format: prometheus`: a series of a Prometheus text exposition (see
    /// [`SeriesSelector`]).
    Prometheus(SeriesSelector),
}

impl ValueLocation {
    /// The `format` this location is for: `json` or `prometheus`.
    pub fn format(&self) -> &'static str {
        match self {
            ValueLocation::Json(_) => "json",
            ValueLocation::Prometheus(_) => "prometheus",
        }
    }

    /// `valueLocation` as written in the config.
    pub fn as_str(&self) -> &str {
        match self {
            ValueLocation::Json(path) => path.as_str(),
            ValueLocation::Prometheus(selector) => selector.as_str(),
        }
    }
}

/// The parsed parameters of one `metrics-api` trigger.
///
/// Built by [`MetricsApiConfig::from_params`], which checks everything checkable offline.
/// Credentials are [`Secret`](scalers_core::secret::Secret)s or sensitive header values, and
/// `Debug` shows the URL without userinfo or query string, so a config can be logged.
#[derive(Clone, PartialEq)]
pub struct MetricsApiConfig {
    /// `url`: the full URL to GET, query string included.
    pub url: Url,
    /// `format` and `valueLocation`.
    pub value_location: ValueLocation,
    /// `targetValue`: the target value, greater than 0.
    pub target_value: f64,
    /// `activationTargetValue`: active iff the value is greater than this; default 0.
    pub activation_target_value: f64,
    /// How `targetValue` is read (the trigger's `metricType`); default `AverageValue`.
    pub metric_type: MetricType,
    /// `unsafeSsl`: accept any server certificate; default false.
    pub unsafe_ssl: bool,
    /// `timeout`: per-request timeout (milliseconds in the metadata); default 3000 ms.
    pub timeout: Duration,
    /// `authMode` (`apiKey`, `basic`, `bearer`, `tls`, `custom`) and their parameters.
    pub auth: Auth,
}

impl fmt::Debug for MetricsApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsApiConfig")
            .field("url", &redact_url(self.url.as_str()))
            .field("value_location", &self.value_location)
            .field("target_value", &self.target_value)
            .field("activation_target_value", &self.activation_target_value)
            .field("metric_type", &self.metric_type)
            .field("unsafe_ssl", &self.unsafe_ssl)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth)
            .finish()
    }
}

impl MetricsApiConfig {
    /// Reads and checks the trigger's parameters, reporting every problem at once.
    ///
    /// Names, defaults and lookup order (metadata, authentication parameters, `<name>FromEnv`)
    /// are KEDA's. No I/O happens here.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p` with its path, for example
    /// `metadata.format: only json and prometheus are supported, got "xml"`.
    pub fn from_params(p: &mut Params<'_>) -> Result<Self, Invalid> {
        let url = p
            .required_str("url")
            .and_then(|raw| parse_http_url(p, "url", &raw));
        let format = parse_format(p);
        let location = p.required_str("valueLocation");
        let value_location = match (format, location) {
            (Ok(format), Ok(raw)) => parse_location(p, format, &raw),
            _ => Err(Invalid),
        };
        let target_value = parse_positive(p, "targetValue");
        // As KEDA: any activation value, negative ones included.
        let activation_target_value = p.f64_or("activationTargetValue", 0.0);
        let unsafe_ssl = p.bool_or("unsafeSsl", false);
        let timeout = parse_timeout(p);
        let aggregate = match p.bool_or("aggregateFromKubeServiceEndpoints", false) {
            Ok(true) => Err(p.error(
                "aggregateFromKubeServiceEndpoints",
                "aggregating over the endpoints of a Kubernetes service is not supported",
            )),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        let auth = parse_auth(p, &AUTH);
        aggregate?;
        Ok(MetricsApiConfig {
            url: url?,
            value_location: value_location?,
            target_value: target_value?,
            activation_target_value: activation_target_value?,
            metric_type: p.spec().metric_type,
            unsafe_ssl: unsafe_ssl?,
            timeout: timeout?,
            auth: auth?,
        })
    }
}

/// A supported `format`.
#[derive(Clone, Copy)]
enum Format {
    Json,
    Prometheus,
}

fn parse_format(p: &mut Params<'_>) -> Result<Format, Invalid> {
    match p.optional_str("format")?.as_deref().map(str::trim) {
        None | Some("json") => Ok(Format::Json),
        Some("prometheus") => Ok(Format::Prometheus),
        Some(other) => Err(p.error(
            "format",
            format!("only json and prometheus are supported, got {other:?}"),
        )),
    }
}

fn parse_location(p: &mut Params<'_>, format: Format, raw: &str) -> Result<ValueLocation, Invalid> {
    match format {
        Format::Json => JsonPath::parse(raw)
            .map(ValueLocation::Json)
            .map_err(|reason| {
                p.error(
                    "valueLocation",
                    format!(
                        "unsupported path {raw:?}: {reason}; use keys separated by dots, array \
                     indices and a final \"#\""
                    ),
                )
            }),
        Format::Prometheus => SeriesSelector::parse(raw)
            .map(ValueLocation::Prometheus)
            .map_err(|reason| {
                p.error(
                    "valueLocation",
                    format!(
                        "invalid series {raw:?}: {reason}; expected a metric name with optional \
                         labels, like queue_depth{{queue=\"orders\"}}"
                    ),
                )
            }),
    }
}
