//! Helpers shared by the integration tests: building `prometheus` and `metrics-api` triggers from
//! metadata the way scalerd does (through a `Registry` and a `ScaledObject`).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use scalers_core::config::model::ScaledObject;
use scalers_core::secret::Secret;
use scalers_core::trigger::{BuiltTrigger, Params, Registry, TriggerError, TriggerErrorKind};
use scalers_prometheus::{ClientPool, PrometheusConfig, PrometheusTrigger};

/// A scaled object with one `prometheus` trigger with this metadata.
pub(crate) fn object(metadata: &[(&str, &str)]) -> ScaledObject {
    object_of("prometheus", metadata)
}

/// A scaled object with one trigger of type `kind` with this metadata.
pub(crate) fn object_of(kind: &str, metadata: &[(&str, &str)]) -> ScaledObject {
    scalers_testkit::object_with_trigger(kind, metadata)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

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
    build_kind_in(registry, "prometheus", metadata, auth, env)
}

/// Builds a trigger of type `kind` through `registry`, with authentication parameters and
/// environment. Errors come back as `(path, message)` pairs.
pub(crate) fn build_kind_in(
    registry: &Registry,
    kind: &str,
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<(String, String)>> {
    scalers_testkit::build_trigger(registry, kind, metadata, auth, env)
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
    let object = object(metadata);
    let auth: BTreeMap<String, Secret> = pairs(auth)
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v)))
        .collect();
    let no_env = |_: &str| None;
    let mut params = Params::new(&object.triggers[0], &object, &auth, &no_env);
    let config = PrometheusConfig::from_params(&mut params);
    let errors: Vec<_> = params
        .take_errors()
        .into_iter()
        .map(|e| (e.path, e.message))
        .collect();
    match config {
        Ok(config) if errors.is_empty() => Ok(config),
        _ => Err(errors),
    }
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

/// `(path, message)` pairs, for comparing with build errors.
pub(crate) fn errors(list: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs(list)
}
