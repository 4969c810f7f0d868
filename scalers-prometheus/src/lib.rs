//! # scalers-prometheus
//!
//! The `prometheus` trigger of scalers: the value of an instant PromQL query drives a scaled
//! object, with KEDA's parameter names, defaults and semantics.
//!
//! Where to start: [`register`] adds the `prometheus` type to a
//! [`Registry`]; a trigger is then built from config like any other. Embedders
//! that build triggers themselves use [`PrometheusConfig::from_params`] and
//! [`PrometheusTrigger::new`] with a [`ClientPool`]; [`PrometheusTrigger::query`] runs the query
//! once and returns its value or a typed [`Error`].
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
//! - Failures are typed ([`Error::kind`]): unreachable → `Unavailable`, timeout → `Timeout`,
//!   401/403 → `Unauthorized`, other non-2xx, Prometheus errors (with their `errorType` and
//!   `error`), malformed JSON and multiple elements → `BadResponse`. Messages name the endpoint
//!   without userinfo or query string and never contain credentials or header values.
//!
//! Not implemented: KEDA's cloud identities (`awsRegion` SigV4, Azure/GCP pod identity), the
//! deprecated `cortexOrgID` (use `customHeaders: X-Scope-OrgID=…`), and the process-wide
//! `KEDA_HTTP_DEFAULT_TIMEOUT` (the default is its default, 3000 ms).
//!
//! ## Connections
//! HTTP keep-alive connections are pooled per server and credentials and shared by every
//! trigger built from the same registration (see [`ClientPool`]). Building a trigger does no
//! I/O; the HTTP client is created on the first sample. TLS goes through rustls with the
//! aws-lc-rs provider and the platform's roots (plus `ca`). Redirects are followed only within
//! the server's origin, so custom headers never reach another host. `HTTP_PROXY`/`HTTPS_PROXY`/
//! `NO_PROXY` apply, as in KEDA.
//!
//! ## Features
//! None: the crate always builds with reqwest's `rustls` (aws-lc-rs) and `query` features.
//!
//! # Examples
//! ```no_run
//! use std::collections::BTreeMap;
//! use scalers_core::config::model::{ScaledObject, TriggerSpec};
//! use scalers_core::trigger::Registry;
//!
//! # async fn demo() {
//! let mut registry = Registry::new();
//! scalers_prometheus::register(&mut registry);
//!
//! let mut spec = TriggerSpec::new("prometheus");
//! for (k, v) in [
//!     ("serverAddress", "http://prometheus:9090"),
//!     ("query", "sum(queue_depth{queue=\"orders\"})"),
//!     ("threshold", "10"),
//! ] {
//!     spec.metadata.insert(k.to_owned(), v.to_owned());
//! }
//! let mut object = ScaledObject::new("orders", "orders-worker");
//! object.triggers.push(spec);
//!
//! let built = registry
//!     .build(&object, 0, &BTreeMap::new(), &|var| std::env::var(var).ok())
//!     .expect("valid trigger");
//! match built.trigger.sample().await {
//!     Ok(sample) => println!("value {} (active: {})", sample.value, sample.active),
//!     Err(e) => println!("{} failure: {e}", e.kind),
//! }
//! # }
//! ```

mod client;
mod config;
mod error;
mod trigger;

use std::sync::Arc;

use scalers_core::trigger::Registry;

pub use client::ClientPool;
pub use config::{
    Auth, ClientIdentity, Credentials, CustomAuth, DEFAULT_TIMEOUT_MS, PrometheusConfig, TlsAuth,
};
pub use error::{ApiError, Error, NoData, Result};
pub use trigger::PrometheusTrigger;

/// The trigger type name, as in KEDA.
pub const TYPE: &str = "prometheus";

/// Registers the `prometheus` trigger type, with a [`ClientPool`] of its own shared by every
/// trigger the registry builds.
pub fn register(registry: &mut Registry) {
    register_with_pool(registry, ClientPool::new());
}

/// Registers the `prometheus` trigger type with the given [`ClientPool`], so the caller can
/// share it further or observe it.
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
/// assert!(pool.is_empty());
/// ```
pub fn register_with_pool(registry: &mut Registry, pool: ClientPool) {
    registry.register(TYPE, move |p| {
        let config = PrometheusConfig::from_params(p)?;
        Ok(Arc::new(PrometheusTrigger::new(config, &pool)))
    });
}
