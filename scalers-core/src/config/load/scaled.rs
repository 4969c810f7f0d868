//! What a scaled object and a scaled job have alike, read by one piece of code for both: the
//! identity (name, namespace, labels and pause settings), the spec fields of the same name and
//! meaning (`pollingInterval`, `minReplicaCount`, `maxReplicaCount`, and `triggers` with their
//! `metadata` and `authenticationRef`), and [`Scaled`], what each kind adds, through which
//! scalerd's own format and KEDA manifests read both kinds.

use std::collections::BTreeMap;

use serde_norway::Value;

use super::Decoder;
use super::primitives::child;
use crate::config::model::{
    AuthenticationRef, DEFAULT_MAX_REPLICA_COUNT, DEFAULT_NAMESPACE, DEFAULT_POLLING_INTERVAL,
    Location, MetricType, TriggerSpec,
};

/// Keys of a trigger.
const TRIGGER_FIELDS: &[&str] = &[
    "type",
    "name",
    "metadata",
    "metricType",
    "authenticationRef",
    "useCachedMetrics",
];
/// Keys of `authenticationRef`.
const AUTH_REF_FIELDS: &[&str] = &["name", "kind"];

/// Spellings of [`MetricType`].
pub(super) const METRIC_TYPES: &[(&str, MetricType)] = &[
    ("AverageValue", MetricType::AverageValue),
    ("Value", MetricType::Value),
];

/// What the loader reads differently for a scaled object and a scaled job. The rest is read
/// for both by [`Decoder::scaled_spec`] and [`Decoder::scaled_spec_field`] (the spec), by the
/// own format's and the manifests' readers (the identity) and kept through [`Scaled::keep`].
pub(super) trait Scaled: Sized {
    /// The kind's spec fields, as decoded so far.
    type Spec: Default;
    /// Keys of the kind's spec, in the order messages list them.
    const SPEC_FIELDS: &'static [&'static str];
    /// The required spec field naming what is scaled: `scaleTargetRef` or `jobTargetRef`.
    const TARGET: &'static str;
    /// Keys of scalerd's own format that are not spec fields: those listed before the spec
    /// fields in messages, and those listed after them.
    const OWN_FIELDS: (&'static [&'static str], &'static [&'static str]);

    /// The fields of `spec` that both kinds have.
    fn shared(spec: &mut Self::Spec) -> &mut SharedSpec;

    /// Decodes spec field `key`, one of [`Scaled::SPEC_FIELDS`] that only this kind has.
    fn spec_field(d: &mut Decoder, spec: &mut Self::Spec, key: &str, value: &Value, path: &str);

    /// Whether the text of the annotation `autoscaling.keda.sh/paused` pauses.
    fn paused_by(annotation: &str) -> bool;

    /// The value from its parts, with KEDA's defaults; `None` when a required part is missing
    /// (which has been reported).
    fn build(identity: Identity, spec: Self::Spec) -> Option<Self>;

    /// Keeps the decoded value in `d`, with where it sits.
    fn keep(self, d: &mut Decoder, location: Location);
}

/// The parts of a scaled object or a scaled job that are not in KEDA's spec.
#[derive(Default)]
pub(super) struct Identity {
    /// `name`, required.
    pub(super) name: Option<String>,
    /// `namespace`; see [`Identity::namespace_or_default`].
    pub(super) namespace: Option<String>,
    /// The text of the annotation `autoscaling.keda.sh/paused`, read per kind
    /// ([`Scaled::paused_by`]).
    pub(super) paused_text: Option<String>,
    /// `metadata.labels` (KEDA manifests), `labels` (a scaled job of the own format).
    pub(super) labels: BTreeMap<String, String>,
    /// `paused`, or what the annotation `autoscaling.keda.sh/paused` says.
    pub(super) paused: Option<bool>,
    /// `pausedReplicaCount`, or the annotation `autoscaling.keda.sh/paused-replicas`.
    pub(super) paused_replica_count: Option<u32>,
    /// `pausedScaleIn`, or the annotation `autoscaling.keda.sh/paused-scale-in`.
    pub(super) paused_scale_in: Option<bool>,
    /// `pausedScaleOut`, or the annotation `autoscaling.keda.sh/paused-scale-out`.
    pub(super) paused_scale_out: Option<bool>,
}

/// `namespace`, or `default` when it is not given.
pub(super) fn namespace_or_default(namespace: Option<String>) -> String {
    namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}

/// The spec fields a ScaledObject and a ScaledJob both have, as decoded so far; both kinds
/// have KEDA's same defaults for them.
#[derive(Default)]
pub(super) struct SharedSpec {
    /// `pollingInterval`.
    polling_interval: Option<u32>,
    /// `minReplicaCount`.
    min_replica_count: Option<u32>,
    /// `maxReplicaCount`.
    max_replica_count: Option<u32>,
    /// `triggers`.
    triggers: Option<Vec<TriggerSpec>>,
}

impl SharedSpec {
    /// `pollingInterval`, default 30 seconds.
    pub(super) fn polling_interval(&self) -> u32 {
        self.polling_interval.unwrap_or(DEFAULT_POLLING_INTERVAL)
    }

    /// `minReplicaCount`, default 0.
    pub(super) fn min_replica_count(&self) -> u32 {
        self.min_replica_count.unwrap_or(0)
    }

    /// `maxReplicaCount`, default 100.
    pub(super) fn max_replica_count(&self) -> u32 {
        self.max_replica_count.unwrap_or(DEFAULT_MAX_REPLICA_COUNT)
    }

    /// `triggers`, none by default.
    pub(super) fn triggers(&mut self) -> Vec<TriggerSpec> {
        self.triggers.take().unwrap_or_default()
    }
}

impl Decoder {
    /// Decodes the spec mapping of a `K` (KEDA manifests).
    pub(super) fn scaled_spec<K: Scaled>(&mut self, value: &Value, path: &str) -> Option<K::Spec> {
        let mut spec = K::Spec::default();
        let map = self.fields(value, path, K::SPEC_FIELDS, |d, key, value, path| {
            d.scaled_spec_field::<K>(&mut spec, key, value, path);
        })?;
        self.require(map, path, &[K::TARGET]);
        Some(spec)
    }

    /// Decodes spec field `key` of a `K` into `spec`: a field both kinds have here, the others
    /// by the kind.
    pub(super) fn scaled_spec_field<K: Scaled>(
        &mut self,
        spec: &mut K::Spec,
        key: &str,
        value: &Value,
        path: &str,
    ) {
        let shared = K::shared(spec);
        match key {
            "pollingInterval" => shared.polling_interval = self.count(value, path),
            "minReplicaCount" => shared.min_replica_count = self.count(value, path),
            "maxReplicaCount" => shared.max_replica_count = self.count(value, path),
            "triggers" => shared.triggers = self.items(value, path, Self::trigger),
            _ => K::spec_field(self, spec, key, value, path),
        }
    }

    /// Decodes one trigger.
    fn trigger(&mut self, value: &Value, path: &str) -> Option<TriggerSpec> {
        let (mut trigger_type, mut name, mut metadata, mut metric_type) = (None, None, None, None);
        let (mut authentication_ref, mut use_cached_metrics) = (None, None);
        let map = self.fields(
            value,
            path,
            TRIGGER_FIELDS,
            |d, key, value, path| match key {
                "type" => trigger_type = d.string(value, path),
                "name" => name = d.string(value, path),
                "metadata" => metadata = d.trigger_metadata(value, path),
                "metricType" => metric_type = d.choice(value, path, METRIC_TYPES),
                "authenticationRef" => authentication_ref = d.authentication_ref(value, path),
                "useCachedMetrics" => use_cached_metrics = d.boolean(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, &["type"]);
        Some(TriggerSpec {
            trigger_type: trigger_type?,
            name,
            metadata: metadata.unwrap_or_default(),
            metric_type: metric_type.unwrap_or_default(),
            authentication_ref,
            use_cached_metrics: use_cached_metrics.unwrap_or(false),
        })
    }

    /// Decodes a trigger's `metadata`: string keys, scalar values kept as text.
    fn trigger_metadata(&mut self, value: &Value, path: &str) -> Option<BTreeMap<String, String>> {
        let map = self.mapping(value, path)?;
        let mut metadata = BTreeMap::new();
        for (key, value) in map {
            let Some(key) = self.key(key, path) else {
                continue;
            };
            let text = match value {
                Value::Null => String::new(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => {
                    self.report_mismatch(&child(path, key), "a string", value);
                    continue;
                }
            };
            metadata.insert(key.to_owned(), text);
        }
        Some(metadata)
    }

    /// Decodes a trigger's `authenticationRef`.
    fn authentication_ref(&mut self, value: &Value, path: &str) -> Option<AuthenticationRef> {
        let (mut name, mut kind) = (None, None);
        let map = self.fields(
            value,
            path,
            AUTH_REF_FIELDS,
            |d, key, value, path| match key {
                "name" => name = d.string(value, path),
                "kind" => kind = d.string(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, &["name"]);
        Some(AuthenticationRef { name: name?, kind })
    }
}
