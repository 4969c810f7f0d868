//! # scalers-prometheus
//!
//! The HTTP-pull triggers of scalers, with KEDA's parameter names, defaults and semantics:
//! - `prometheus`: the value of an instant PromQL query;
//! - `metrics-api`: a number read from any HTTP endpoint, in JSON or in the Prometheus text
//!   format.
//!
//! Both share one HTTP stack: the [`ClientPool`], the auth modes ([`Auth`]), TLS, redirects,
//! timeouts, the classification of failures and the redaction of URLs and credentials.
//!
//! Where to start: [`register`] adds both types to a [`Registry`]; a trigger is then built
//! from config like any other. Embedders that build triggers themselves use
//! [`PrometheusConfig::from_params`] / [`PrometheusTrigger::new`] or
//! [`MetricsApiConfig::from_params`] / [`MetricsApiTrigger::new`] with a [`ClientPool`];
//! [`PrometheusTrigger::query`] and [`MetricsApiTrigger::value`] read the value once and return
//! it or a typed [`Error`]. Callers that query Prometheus through an HTTP client of their own
//! decode its answer with [`decode_query_response`].
//!
//! ## KEDA semantics implemented (`prometheus` scaler)
//! - Parameters `serverAddress`, `query`, `threshold` (required), `activationThreshold` (0),
//!   `namespace`, `customHeaders`, `queryParameters`, `ignoreNullValues` (true), `unsafeSsl`
//!   (false), `timeout` (ms, 3000), and `authModes` (`bearer`, `basic`, `tls`, `custom`; bearer
//!   and basic exclusive), each read from metadata, authentication parameters or
//!   `<name>FromEnv`.
//! - `GET <serverAddress>/api/v1/query?query=…&time=<now>[&namespace=…][&<queryParameters>]`.
//! - A vector of one element gives its value; more than one element is an error. Unlike KEDA,
//!   a scalar result is read too.
//! - An empty result, a missing value, NaN or ±Inf: with `ignoreNullValues: true` a stand-in 0
//!   marked "no data" ([`Sample::no_data`](scalers_core::trigger::Sample::no_data)), so the
//!   engine and its metrics can tell it from a real zero; with `false` a
//!   [`NoData`](scalers_core::trigger::TriggerErrorKind::NoData) failure, so fallback or hold
//!   applies.
//! - Active iff the value is greater than `activationThreshold`.
//!
//! Not implemented: KEDA's cloud identities (`awsRegion` SigV4, Azure/GCP pod identity), the
//! deprecated `cortexOrgID` (use `customHeaders: X-Scope-OrgID=…`), and the process-wide
//! `KEDA_HTTP_DEFAULT_TIMEOUT` (the default is its default, 3000 ms).
//!
//! ## KEDA semantics implemented (`metrics-api` scaler)
//! - Parameters `url` (required, query string allowed), `format` (`json` by default, or
//!   `prometheus`), `valueLocation` (required), `targetValue` (required), `activationTargetValue`
//!   (0), `unsafeSsl` (false), `timeout` (ms, 3000), and `authMode` (`apiKey`, `basic`,
//!   `bearer`, `tls`, `custom`; `authModes` is accepted too, bearer and basic exclusive):
//!   `apiKey` sends `apiKey` in the header named by `keyParamName` (default `X-API-KEY`) or,
//!   with `method: query`, in the query parameter `keyParamName` (default `api_key`); `bearer`
//!   sends `token` (or `bearerToken`).
//! - `GET <url>` with `Accept: application/json` or `text/plain; version=0.0.4`; a non-2xx
//!   answer is a failure.
//! - `format: json`: `valueLocation` is a GJSON-style path, in the subset [`JsonPath`]
//!   describes (dotted keys, array indices, a final `#` for an array's length). The value must
//!   be a JSON number or a string holding a Kubernetes quantity (`"42"`, `"2.5"`, `"500m"`,
//!   `"1Ki"`), as KEDA reads it; booleans, null, objects and arrays are errors.
//! - `format: prometheus`: `valueLocation` selects one series of the text exposition by name
//!   and labels ([`SeriesSelector`]); several matching samples are an error, where KEDA takes
//!   the first line that starts with `valueLocation`.
//! - `format: xml` and `yaml` are not supported (a config error), nor
//!   `aggregateFromKubeServiceEndpoints` (a config error when true) and `oauth`.
//! - Active iff the value is greater than `activationTargetValue`.
//!
//! ## Failures
//! Failures are typed ([`Error::kind`]): unreachable → `Unavailable`, timeout → `Timeout`,
//! 401/403 → `Unauthorized`, nothing at `valueLocation` → `NoData`, other non-2xx, Prometheus
//! errors (with their `errorType` and `error`), malformed bodies, multiple elements and values
//! that are not numbers → `BadResponse`. Messages name the endpoint without userinfo or query
//! string and never contain credentials or header values.
//!
//! ## Connections
//! HTTP keep-alive connections are pooled per origin and credentials and shared by every
//! trigger built from the same registration, of either type (see [`ClientPool`]). Building a
//! trigger does no I/O; the HTTP client is created on the first sample. TLS goes through rustls
//! with the aws-lc-rs provider and the platform's roots (plus `ca`). Redirects are followed only
//! within the server's origin, so custom headers and API keys never reach another host.
//! `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` apply, as in KEDA.
//!
//! ## Features
//! None: the crate always builds with reqwest's `rustls` (aws-lc-rs) and `query` features.
//!
//! # Examples
//! ```no_run
//! use scalers_core::config::model::{ScaledObject, TriggerSpec};
//! use scalers_core::trigger::{BuildContext, Registry};
//!
//! # async fn demo() {
//! let mut registry = Registry::new();
//! scalers_prometheus::register(&mut registry);
//!
//! let trigger = |kind: &str, metadata: &[(&str, &str)]| {
//!     let mut spec = TriggerSpec::new(kind);
//!     for (k, v) in metadata {
//!         spec.metadata.insert((*k).to_owned(), (*v).to_owned());
//!     }
//!     spec
//! };
//! let mut object = ScaledObject::new("orders", "orders-worker");
//! object.triggers.push(trigger(
//!     "prometheus",
//!     &[
//!         ("serverAddress", "http://prometheus:9090"),
//!         ("query", "sum(queue_depth{queue=\"orders\"})"),
//!         ("threshold", "10"),
//!     ],
//! ));
//! object.triggers.push(trigger(
//!     "metrics-api",
//!     &[
//!         ("url", "http://orders-api:8080/stats"),
//!         ("valueLocation", "queues.0.depth"),
//!         ("targetValue", "10"),
//!     ],
//! ));
//!
//! for index in 0..object.triggers.len() {
//!     let built = registry
//!         .build(BuildContext::new(&object, index).with_env(&|var| std::env::var(var).ok()))
//!         .expect("valid trigger");
//!     match built.trigger.sample().await {
//!         Ok(sample) => println!("value {} (active: {})", sample.value, sample.active),
//!         Err(e) => println!("{} failure: {e}", e.kind),
//!     }
//! }
//! # }
//! ```

mod error;
mod http;
mod metrics_api;
mod prometheus;

use std::sync::Arc;

use scalers_core::trigger::Registry;

pub use error::{ApiError, Error, NoData, Result};
pub use http::{
    ApiKey, Auth, ClientIdentity, ClientPool, Credentials, CustomAuth, DEFAULT_TIMEOUT_MS,
    MAX_IN_FLIGHT, MAX_WAITING, TlsAuth,
};
pub use metrics_api::{
    JsonPath, MetricsApiConfig, MetricsApiTrigger, SeriesSelector, ValueLocation,
};
pub use prometheus::{PrometheusConfig, PrometheusTrigger, decode_query_response};

/// The `prometheus` trigger type name, as in KEDA.
pub const TYPE: &str = "prometheus";

/// The `metrics-api` trigger type name, as in KEDA.
pub const METRICS_API_TYPE: &str = "metrics-api";

/// Registers the `prometheus` and `metrics-api` trigger types, with one [`ClientPool`] of their
/// own shared by every trigger the registry builds.
pub fn register(registry: &mut Registry) {
    register_with_pool(registry, ClientPool::new());
}

/// Registers the `prometheus` and `metrics-api` trigger types with the given [`ClientPool`], so
/// the caller can share it further or observe it.
///
/// # Examples
/// ```
/// use scalers_core::trigger::Registry;
/// use scalers_prometheus::ClientPool;
///
/// let pool = ClientPool::new();
/// let mut registry = Registry::new();
/// scalers_prometheus::register_with_pool(&mut registry, pool.clone());
/// assert!(registry.contains("prometheus"));
/// assert!(registry.contains("metrics-api"));
/// assert!(pool.is_empty());
/// ```
pub fn register_with_pool(registry: &mut Registry, pool: ClientPool) {
    let prometheus_pool = pool.clone();
    registry.register(TYPE, move |p| {
        let config = PrometheusConfig::from_params(p)?;
        Ok(Arc::new(PrometheusTrigger::new(config, &prometheus_pool)))
    });
    registry.register(METRICS_API_TYPE, move |p| {
        let config = MetricsApiConfig::from_params(p)?;
        Ok(Arc::new(MetricsApiTrigger::new(config, &pool)))
    });
}
