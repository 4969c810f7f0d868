//! The config model: KEDA's ScaledObject, field for field, with KEDA's defaults.
//!
//! These types are plain data. They are produced by [`crate::config::load`] (from scalerd's own
//! YAML format or from KEDA manifests) or built in code by an embedder, and they are checked by
//! [`crate::config::validate`].

use std::collections::BTreeMap;

use serde::Serialize;

/// Default for [`ScaledObject::polling_interval`], in seconds.
pub const DEFAULT_POLLING_INTERVAL: u32 = 30;
/// Default for [`ScaledObject::cooldown_period`], in seconds.
pub const DEFAULT_COOLDOWN_PERIOD: u32 = 300;
/// Default for [`ScaledObject::max_replica_count`].
pub const DEFAULT_MAX_REPLICA_COUNT: u32 = 100;
/// Default namespace of a scaled object.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A whole scalerd config: the scaled objects it manages.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// The scaled objects, in file order.
    pub scaled_objects: Vec<ScaledObject>,
    /// Where each object sits in its document, for error paths; empty for configs built in code.
    #[serde(skip)]
    pub locations: Vec<Location>,
}

impl Config {
    /// A config of these objects, built in code.
    pub fn new(scaled_objects: Vec<ScaledObject>) -> Self {
        Config {
            scaled_objects,
            locations: Vec::new(),
        }
    }

    /// Where object `index` sits (`scaledObjects[index]` for configs built in code).
    pub fn location(&self, index: usize) -> Location {
        self.locations
            .get(index)
            .cloned()
            .unwrap_or_else(|| Location::own_format(index))
    }
}

/// The path prefixes of one scaled object inside its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Prefix of the spec fields: `scaledObjects[2]` or `documents[1].spec`.
    pub spec: String,
    /// Prefix of name, namespace and annotations: `scaledObjects[2]` or `documents[1].metadata`.
    pub metadata: String,
}

impl Location {
    /// The location of object `index` in scalerd's own format.
    pub fn own_format(index: usize) -> Self {
        let p = format!("scaledObjects[{index}]");
        Location {
            spec: p.clone(),
            metadata: p,
        }
    }
}

/// One scaled object: a workload, the triggers that drive it and how it may move.
///
/// Mirrors KEDA's `ScaledObject` spec; `name` and `namespace` come from `metadata` in a KEDA
/// manifest, and the `paused` fields from its `autoscaling.keda.sh/paused*` annotations.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObject {
    /// Name of the scaled object, unique within its namespace.
    pub name: String,
    /// Namespace of the scaled object and of its target; default `default`.
    pub namespace: String,
    /// The workload to scale.
    pub scale_target_ref: ScaleTargetRef,
    /// Seconds between two evaluations; default 30, at least 1.
    pub polling_interval: u32,
    /// Seconds since the last active time before scaling to idle/min; default 300.
    pub cooldown_period: u32,
    /// Seconds after start before the first scale to idle/min when never active; default 0.
    pub initial_cooldown_period: u32,
    /// Replicas while inactive, if set; must be below `minReplicaCount`.
    pub idle_replica_count: Option<u32>,
    /// Lowest replica count; default 0 (scale to zero allowed).
    pub min_replica_count: u32,
    /// Highest replica count; default 100.
    pub max_replica_count: u32,
    /// What to do when triggers keep failing; none by default (hold replicas).
    pub fallback: Option<Fallback>,
    /// HPA behavior and scaling modifiers.
    pub advanced: Advanced,
    /// The metric sources; at least one.
    pub triggers: Vec<TriggerSpec>,
    /// Whether scaling is paused (KEDA annotation `autoscaling.keda.sh/paused`).
    pub paused: bool,
    /// While set, the target is held at this count and nothing else is decided (KEDA
    /// annotation `autoscaling.keda.sh/paused-replicas`; wins over `paused`).
    pub paused_replica_count: Option<u32>,
}

impl ScaledObject {
    /// A scaled object with KEDA's defaults, the given name and target, and no triggers.
    pub fn new(name: impl Into<String>, target: impl Into<String>) -> Self {
        ScaledObject {
            name: name.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            scale_target_ref: ScaleTargetRef::deployment(target),
            polling_interval: DEFAULT_POLLING_INTERVAL,
            cooldown_period: DEFAULT_COOLDOWN_PERIOD,
            initial_cooldown_period: 0,
            idle_replica_count: None,
            min_replica_count: 0,
            max_replica_count: DEFAULT_MAX_REPLICA_COUNT,
            fallback: None,
            advanced: Advanced::default(),
            triggers: Vec::new(),
            paused: false,
            paused_replica_count: None,
        }
    }

    /// The HPA behavior, if one was given.
    pub fn behavior(&self) -> Option<&Behavior> {
        self.advanced
            .horizontal_pod_autoscaler_config
            .as_ref()
            .and_then(|h| h.behavior.as_ref())
    }

    /// `namespace/name`, as used in logs and status.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The workload a scaled object scales: any resource with a `/scale` subresource.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// API group and version; default `apps/v1`.
    pub api_version: String,
    /// Kind; default `Deployment`.
    pub kind: String,
    /// Name of the resource, in the scaled object's namespace.
    pub name: String,
    /// Container whose environment resolves `*FromEnv` parameters (first one by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_source_container_name: Option<String>,
}

impl ScaleTargetRef {
    /// An `apps/v1` Deployment of that name.
    pub fn deployment(name: impl Into<String>) -> Self {
        ScaleTargetRef {
            api_version: "apps/v1".to_owned(),
            kind: "Deployment".to_owned(),
            name: name.into(),
            env_source_container_name: None,
        }
    }
}

/// Replicas to use while a trigger keeps failing.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fallback {
    /// Consecutive failures tolerated; fallback applies after strictly more than this.
    pub failure_threshold: u32,
    /// Replica count proposed while in fallback.
    pub replicas: u32,
    /// How `replicas` combines with the current count; default `static`.
    pub behavior: FallbackBehavior,
}

/// How fallback replicas combine with the current replica count (KEDA's `fallback.behavior`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FallbackBehavior {
    /// Always `fallback.replicas`.
    #[default]
    Static,
    /// Keep the current replica count.
    CurrentReplicas,
    /// The higher of the current count and `fallback.replicas`.
    CurrentReplicasIfHigher,
    /// The lower of the current count and `fallback.replicas`.
    CurrentReplicasIfLower,
}

impl FallbackBehavior {
    /// Every accepted spelling, as in KEDA.
    pub const NAMES: [&'static str; 4] = [
        "static",
        "currentReplicas",
        "currentReplicasIfHigher",
        "currentReplicasIfLower",
    ];
}

/// KEDA's `advanced` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Advanced {
    /// HPA settings, of which scalerd uses `behavior`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizontal_pod_autoscaler_config: Option<HorizontalPodAutoscalerConfig>,
    /// A formula combining the triggers into one metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_modifiers: Option<ScalingModifiers>,
    /// Accepted for KEDA compatibility: restore the original count when the object is removed.
    pub restore_to_original_replica_count: bool,
}

/// KEDA's `advanced.horizontalPodAutoscalerConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerConfig {
    /// Name KEDA would give the HPA; accepted and ignored (scalerd computes in-process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The HPA `behavior`; when absent the HPA's legacy normalization applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
}

/// The HPA `spec.behavior`: rules per direction, each field optional (autoscaling/v2 defaults).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Behavior {
    /// Rules when increasing replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalingRules>,
    /// Rules when decreasing replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalingRules>,
}

/// The HPA `HPAScalingRules` of one direction; absent fields take autoscaling/v2 defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    /// Seconds of past recommendations considered (up: default 0, down: default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<u32>,
    /// How to combine the policies; default `Max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// Rate limits (up: default Pods 4 and Percent 100 per 15 s; down: Percent 100 per 15 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<ScalingPolicy>>,
    /// Relative change ignored in this direction; default 0.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

/// How the HPA picks among policies (`selectPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No change in this direction.
    Disabled,
}

/// One HPA rate policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicy {
    /// Pods or Percent.
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    /// Pods, or percent of the replicas at the start of the period; greater than 0.
    pub value: u32,
    /// Length of the period, in seconds (1 to 1800).
    pub period_seconds: u32,
}

/// The unit of a [`ScalingPolicy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PolicyType {
    /// An absolute number of pods.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

/// KEDA's `advanced.scalingModifiers`: one composite metric computed from the triggers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingModifiers {
    /// Expression over trigger names (see [`crate::formula`]).
    pub formula: String,
    /// Target of the composite metric; greater than 0.
    pub target: f64,
    /// The object is active iff the composite value is greater than this; default 0.
    pub activation_target: f64,
    /// How the composite target is read; default `AverageValue`.
    pub metric_type: MetricType,
}

/// How a metric value relates to replicas (HPA External metric target types).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum MetricType {
    /// The target is per replica: desired = ceil(value / target).
    #[default]
    AverageValue,
    /// The target is for the whole workload: desired = ceil(value / target × ready replicas).
    Value,
}

/// One trigger of a scaled object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerSpec {
    /// The trigger type, as in KEDA (`prometheus`, `redis`, `kafka`, …).
    #[serde(rename = "type")]
    pub trigger_type: String,
    /// Name, unique within the object; used by formulas, traces and metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The trigger's parameters, as strings (KEDA's `metadata`).
    pub metadata: BTreeMap<String, String>,
    /// How the trigger's target is read; default `AverageValue`.
    pub metric_type: MetricType,
    /// Where credentials come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<AuthenticationRef>,
    /// Accepted for KEDA compatibility; scalerd samples once per poll anyway.
    pub use_cached_metrics: bool,
}

impl TriggerSpec {
    /// A trigger of that type with no name, no metadata and default settings.
    pub fn new(trigger_type: impl Into<String>) -> Self {
        TriggerSpec {
            trigger_type: trigger_type.into(),
            name: None,
            metadata: BTreeMap::new(),
            metric_type: MetricType::AverageValue,
            authentication_ref: None,
            use_cached_metrics: false,
        }
    }

    /// Its name, or its type when it has none (the column name in traces).
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.trigger_type)
    }
}

/// A reference to a (Cluster)TriggerAuthentication.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationRef {
    /// Name of the authentication.
    pub name: String,
    /// `TriggerAuthentication` (default) or `ClusterTriggerAuthentication`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}
