//! Helpers shared by the integration tests: building `prometheus` and `metrics-api` triggers from
//! metadata the way scalerd does (through a `Registry` and a `ScaledObject`).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use scalers_core::trigger::{BuiltTrigger, Registry, TriggerError, TriggerErrorKind};
use scalers_prometheus::{ClientPool, PrometheusConfig, PrometheusTrigger};

/// A registry with the `prometheus` and `metrics-api` types registered on `pool`.
pub(crate) fn registry(pool: &ClientPool) -> Registry {
    let mut registry = Registry::new();
    scalers_prometheus::register_with_pool(&mut registry, pool.clone());
    registry
}

/// Builds the trigger through `registry`, with authentication parameters and environment.
/// Errors come back as `(path, message)` pairs.
pub(crate) fn build_in(
    registry: &Registry,
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<(String, String)>> {
    scalers_testkit::build_trigger(registry, "prometheus", metadata, auth, env)
}

/// Builds the trigger through a fresh registry, metadata only.
pub(crate) fn build(metadata: &[(&str, &str)]) -> Result<BuiltTrigger, Vec<(String, String)>> {
    build_in(&registry(&ClientPool::new()), metadata, &[], &[])
}

/// Builds a trigger that must be valid.
pub(crate) fn trigger(metadata: &[(&str, &str)]) -> BuiltTrigger {
    build(metadata).unwrap_or_else(|e| panic!("invalid trigger: {e:?}"))
}

/// The parsed config, or the `(path, message)` errors.
pub(crate) fn config(
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
) -> Result<PrometheusConfig, Vec<(String, String)>> {
    scalers_testkit::read_params(
        "prometheus",
        metadata,
        auth,
        &[],
        PrometheusConfig::from_params,
    )
}

/// A concrete trigger on `pool`.
pub(crate) fn concrete(metadata: &[(&str, &str)], pool: &ClientPool) -> PrometheusTrigger {
    let config = config(metadata, &[]).unwrap_or_else(|e| panic!("invalid trigger: {e:?}"));
    PrometheusTrigger::new(config, pool)
}

/// The query endpoint under `base`.
pub(crate) fn endpoint(base: &str) -> String {
    format!("{base}/api/v1/query")
}

/// The kind and message of a failed sample.
pub(crate) fn failure(e: &TriggerError) -> (TriggerErrorKind, &str) {
    (e.kind, e.message.as_str())
}
