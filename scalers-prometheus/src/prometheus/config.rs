//! The trigger's parameters, parsed and validated from KEDA's metadata.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use scalers_core::config::model::MetricType;
use scalers_core::secret::{Secret, redact_url};
use scalers_core::trigger::{Invalid, Params};

use crate::http::{
    Auth, AuthMode, AuthParams, parse_auth, parse_headers, parse_http_url, parse_positive,
    parse_timeout,
};

/// How the `prometheus` trigger spells its authentication parameters (KEDA's names).
const AUTH: AuthParams = AuthParams {
    modes_keys: &["authModes"],
    modes: &[
        AuthMode::Bearer,
        AuthMode::Basic,
        AuthMode::Tls,
        AuthMode::Custom,
    ],
    bearer_token: &["bearerToken"],
};

/// The parsed parameters of one `prometheus` trigger.
///
/// Built by [`PrometheusConfig::from_params`], which checks everything checkable offline. Header
/// values (custom headers, the custom auth value) are marked sensitive, credentials are
/// [`Secret`]s, and `Debug` redacts the server address, so a config can be logged.
#[derive(Clone, PartialEq)]
pub struct PrometheusConfig {
    /// `serverAddress`: base URL of the Prometheus HTTP API; queries go to
    /// `<serverAddress>/api/v1/query`.
    pub server_address: Url,
    /// `query`: the PromQL expression; it must yield one element or a scalar.
    pub query: String,
    /// `threshold`: the target value, greater than 0.
    pub threshold: f64,
    /// `activationThreshold`: active iff the value is greater than this; default 0.
    pub activation_threshold: f64,
    /// How `threshold` is read (the trigger's `metricType`); default `AverageValue`.
    pub metric_type: MetricType,
    /// `namespace`: sent as the `namespace` query parameter (Thanos/Cortex tenancy).
    pub namespace: Option<String>,
    /// `customHeaders`: extra request headers (`k=v,k2=v2`); values are marked sensitive.
    pub custom_headers: Vec<(HeaderName, HeaderValue)>,
    /// `queryParameters`: extra query parameters (`k=v,k2=v2`), URL-encoded when sent.
    pub query_parameters: Vec<(String, Secret)>,
    /// `ignoreNullValues`: an empty result, NaN or ±Inf reads as a "no data" zero instead of
    /// a failure; default true.
    pub ignore_null_values: bool,
    /// `unsafeSsl`: accept any server certificate; default false.
    pub unsafe_ssl: bool,
    /// `timeout`: per-request timeout (milliseconds in the metadata); default 3000 ms.
    pub timeout: Duration,
    /// `authModes` (`bearer`, `basic`, `tls`, `custom`) and their parameters.
    pub auth: Auth,
}

impl fmt::Debug for PrometheusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self
            .custom_headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        f.debug_struct("PrometheusConfig")
            .field("server_address", &redact_url(self.server_address.as_str()))
            .field("query", &self.query)
            .field("threshold", &self.threshold)
            .field("activation_threshold", &self.activation_threshold)
            .field("metric_type", &self.metric_type)
            .field("namespace", &self.namespace)
            .field("custom_headers", &header_names)
            .field("query_parameters", &self.query_parameters)
            .field("ignore_null_values", &self.ignore_null_values)
            .field("unsafe_ssl", &self.unsafe_ssl)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth)
            .finish()
    }
}

impl PrometheusConfig {
    /// Reads and checks the trigger's parameters, reporting every problem at once.
    ///
    /// Names, defaults and lookup order (metadata, authentication parameters, `<name>FromEnv`)
    /// are KEDA's. No I/O happens here: TLS material is only parsed, the client is built on the
    /// first query.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p` with its path, for example
    /// `metadata.threshold: must be greater than 0, got -1`.
    pub fn from_params(p: &mut Params<'_>) -> Result<Self, Invalid> {
        let server_address = p
            .required_str("serverAddress")
            .and_then(|raw| parse_http_url(p, "serverAddress", &raw));
        let query = p.required_str("query");
        let threshold = parse_positive(p, "threshold");
        // KEDA accepts any activation threshold, negative ones included.
        let activation_threshold = p.f64_or("activationThreshold", 0.0);
        let namespace = p.optional_str("namespace");
        let custom_headers = parse_headers(p, "customHeaders");
        let query_parameters = p.map("queryParameters").map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect::<Vec<_>>()
        });
        let ignore_null_values = p.bool_or("ignoreNullValues", true);
        let unsafe_ssl = p.bool_or("unsafeSsl", false);
        let timeout = parse_timeout(p);
        let auth = parse_auth(p, &AUTH);
        Ok(PrometheusConfig {
            server_address: server_address?,
            query: query?,
            threshold: threshold?,
            activation_threshold: activation_threshold?,
            metric_type: p.spec().metric_type,
            namespace: namespace?,
            custom_headers: custom_headers?,
            query_parameters: query_parameters?,
            ignore_null_values: ignore_null_values?,
            unsafe_ssl: unsafe_ssl?,
            timeout: timeout?,
            auth: auth?,
        })
    }
}
