//! The config model: KEDA's ScaledObject and (Cluster)TriggerAuthentication, field for field,
//! with KEDA's defaults.
//!
//! These types are plain data. They are produced by [`crate::config::load`] (from scalerd's own
//! YAML format or from KEDA manifests) or built in code by an embedder, and they are checked by
//! [`crate::config::validate`](mod@crate::config::validate).

use std::collections::BTreeMap;

use serde::Serialize;

#[cfg(feature = "schema")]
pub mod json_schema;
mod scaled_job;

pub use scaled_job::*;

/// Default for [`ScaledObject::polling_interval`], in seconds.
pub const DEFAULT_POLLING_INTERVAL: u32 = 30;
/// Default for [`ScaledObject::cooldown_period`], in seconds.
pub const DEFAULT_COOLDOWN_PERIOD: u32 = 300;
/// Default for [`ScaledObject::max_replica_count`].
pub const DEFAULT_MAX_REPLICA_COUNT: u32 = 100;
/// Default namespace of a scaled object.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The kind of a namespaced authentication, and the default of [`AuthenticationRef::kind`].
pub const TRIGGER_AUTHENTICATION: &str = "TriggerAuthentication";
/// The kind of a cluster-wide authentication.
pub const CLUSTER_TRIGGER_AUTHENTICATION: &str = "ClusterTriggerAuthentication";

/// A whole scalerd config: the scaled objects it manages and the authentications their
/// triggers refer to.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Config {
    /// The scaled objects, in file order (a file has at least one scaled object or scaled
    /// job).
    #[cfg_attr(feature = "schema", schemars(default))]
    pub scaled_objects: Vec<ScaledObject>,
    /// The scaled jobs (KEDA's ScaledJobs), in file order; empty by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(default))]
    pub scaled_jobs: Vec<ScaledJob>,
    /// The authentications (KEDA's TriggerAuthentications and ClusterTriggerAuthentications),
    /// in file order; empty by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(default, with = "Vec<json_schema::OwnAuthentication>")
    )]
    pub authentications: Vec<Authentication>,
    /// Where each object sits in its document, for error paths; empty for configs built in code.
    #[serde(skip)]
    pub locations: Vec<Location>,
    /// Where each authentication sits in its document, for error paths; empty for configs built
    /// in code.
    #[serde(skip)]
    pub authentication_locations: Vec<Location>,
    /// Where each scaled job sits in its document, for error paths; empty for configs built in
    /// code.
    #[serde(skip)]
    pub job_locations: Vec<Location>,
}

impl Config {
    /// A config of these objects and no authentications, built in code.
    pub fn new(scaled_objects: Vec<ScaledObject>) -> Self {
        Config {
            scaled_objects,
            ..Config::default()
        }
    }

    /// Where object `index` sits (`scaledObjects[index]` for configs built in code).
    pub fn location(&self, index: usize) -> Location {
        self.locations
            .get(index)
            .cloned()
            .unwrap_or_else(|| Location::own_format(index))
    }

    /// Where scaled job `index` sits (`scaledJobs[index]` for configs built in code).
    pub fn job_location(&self, index: usize) -> Location {
        self.job_locations
            .get(index)
            .cloned()
            .unwrap_or_else(|| Location::own_job(index))
    }

    /// Where authentication `index` sits (`authentications[index]` for configs built in code).
    pub fn authentication_location(&self, index: usize) -> Location {
        self.authentication_locations
            .get(index)
            .cloned()
            .unwrap_or_else(|| Location::own_authentication(index))
    }

    /// The authentication a trigger of `object` refers to with `reference`, if it is defined.
    ///
    /// A `TriggerAuthentication` reference finds the namespaced authentication of that name in
    /// the object's namespace; failing that, an authentication of scalerd's own format written
    /// without a namespace, which serves every namespace. A `ClusterTriggerAuthentication`
    /// reference finds the cluster-wide authentication of that name. A reference of any other
    /// kind finds nothing.
    ///
    /// ```
    /// use scalers_core::config::model::*;
    ///
    /// let mut config = Config::new(vec![ScaledObject::new("worker", "worker")]);
    /// config.authentications.push(Authentication::new("redis-auth"));
    /// let reference = AuthenticationRef { name: "redis-auth".to_owned(), kind: None };
    /// let found = config.authentication_for(&config.scaled_objects[0], &reference);
    /// assert_eq!(found.map(|a| a.name.as_str()), Some("redis-auth"));
    /// ```
    pub fn authentication_for(
        &self,
        object: &ScaledObject,
        reference: &AuthenticationRef,
    ) -> Option<&Authentication> {
        self.authentication_index(object, reference)
            .map(|index| &self.authentications[index])
    }

    /// The position in [`Config::authentications`] of the authentication that
    /// [`Config::authentication_for`] finds.
    pub fn authentication_index(
        &self,
        object: &ScaledObject,
        reference: &AuthenticationRef,
    ) -> Option<usize> {
        let kind = reference.kind_or_default();
        let named = |namespace: Option<&str>| {
            self.authentications.iter().position(|a| {
                a.name == reference.name && a.kind() == kind && a.namespace.as_deref() == namespace
            })
        };
        match kind {
            TRIGGER_AUTHENTICATION => named(Some(&object.namespace)).or_else(|| named(None)),
            CLUSTER_TRIGGER_AUTHENTICATION => named(None),
            _ => None,
        }
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
        Location::both(format!("scaledObjects[{index}]"))
    }

    /// The location of scaled job `index` in scalerd's own format.
    pub fn own_job(index: usize) -> Self {
        Location::both(format!("scaledJobs[{index}]"))
    }

    /// The location of authentication `index` in scalerd's own format.
    pub fn own_authentication(index: usize) -> Self {
        Location::both(format!("authentications[{index}]"))
    }

    /// A location whose spec and metadata fields share the prefix `p`.
    fn both(p: String) -> Self {
        Location {
            spec: p.clone(),
            metadata: p,
        }
    }
}

/// One scaled object: a workload, the triggers that drive it and how it may move.
///
/// Mirrors KEDA's `ScaledObject` spec; `name` and `namespace` come from `metadata` in a KEDA
/// manifest, and the `paused*` fields from its `autoscaling.keda.sh/paused*` annotations.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct ScaledObject {
    /// Name of the scaled object, unique within its namespace.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub name: String,
    /// Namespace of the scaled object and of its target; default `default`.
    #[cfg_attr(feature = "schema", schemars(default = "json_schema::namespace"))]
    pub namespace: String,
    /// The workload to scale.
    pub scale_target_ref: ScaleTargetRef,
    /// Seconds between two evaluations; default 30, at least 1.
    #[cfg_attr(
        feature = "schema",
        schemars(default = "json_schema::polling_interval", range(min = 1))
    )]
    pub polling_interval: u32,
    /// Seconds since the last active time before scaling to idle/min; default 300.
    #[cfg_attr(feature = "schema", schemars(default = "json_schema::cooldown_period"))]
    pub cooldown_period: u32,
    /// Seconds after start before the first scale to idle/min when never active; default 0.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub initial_cooldown_period: u32,
    /// Replicas while inactive, if set; must be below `minReplicaCount`.
    pub idle_replica_count: Option<u32>,
    /// Lowest replica count; default 0 (scale to zero allowed).
    #[cfg_attr(feature = "schema", schemars(default))]
    pub min_replica_count: u32,
    /// Highest replica count; default 100.
    #[cfg_attr(
        feature = "schema",
        schemars(default = "json_schema::max_replica_count", range(min = 1))
    )]
    pub max_replica_count: u32,
    /// What to do when triggers keep failing; none by default (hold replicas).
    pub fallback: Option<Fallback>,
    /// HPA behavior and scaling modifiers.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub advanced: Advanced,
    /// The metric sources; at least one.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub triggers: Vec<TriggerSpec>,
    /// Whether scaling is paused (KEDA annotation `autoscaling.keda.sh/paused`).
    #[cfg_attr(feature = "schema", schemars(default))]
    pub paused: bool,
    /// While set, the target is held at this count and nothing else is decided (KEDA
    /// annotation `autoscaling.keda.sh/paused-replicas`; wins over `paused`).
    pub paused_replica_count: Option<u32>,
    /// Whether no decision may lower the replica count (KEDA annotation
    /// `autoscaling.keda.sh/paused-scale-in`): neither the HPA phase nor the deactivation to
    /// `idleReplicaCount`, `minReplicaCount` or zero; scaling out and the loop go on.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub paused_scale_in: bool,
    /// Whether no decision may raise the replica count (KEDA annotation
    /// `autoscaling.keda.sh/paused-scale-out`): neither the activation from zero or the idle
    /// count nor the HPA phase; scaling in and the loop go on.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub paused_scale_out: bool,
}

impl ScaledObject {
    /// The time between two evaluations: `pollingInterval` seconds, at least one second (the
    /// one place where the field becomes a period: the daemon's loops, `simulate` and its plot
    /// all tick at it).
    ///
    /// ```
    /// use scalers_core::config::ScaledObject;
    /// let mut o = ScaledObject::new("worker", "worker");
    /// assert_eq!(o.polling_period(), std::time::Duration::from_secs(30));
    /// o.polling_interval = 0; // refused by validation; still never a zero period
    /// assert_eq!(o.polling_period(), std::time::Duration::from_secs(1));
    /// ```
    pub fn polling_period(&self) -> std::time::Duration {
        polling_period(self.polling_interval)
    }

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
            paused_scale_in: false,
            paused_scale_out: false,
        }
    }

    /// Whether scaling is paused in at least one direction: `pausedScaleIn` or
    /// `pausedScaleOut` (KEDA's `autoscaling.keda.sh/paused-scale-in` and `paused-scale-out`).
    ///
    /// Unlike [`ScaledObject::paused`], the loop keeps evaluating: only the paused direction is
    /// held (both set hold the count, still evaluating every tick).
    pub fn is_paused_in_some_direction(&self) -> bool {
        self.paused_scale_in || self.paused_scale_out
    }

    /// Whether KEDA's `Paused` status condition is True: `paused`, `pausedReplicaCount`, or a
    /// pause in some direction ([`ScaledObject::is_paused_in_some_direction`]).
    ///
    /// ```
    /// use scalers_core::config::ScaledObject;
    /// let mut o = ScaledObject::new("worker", "worker");
    /// assert!(!o.is_paused());
    /// o.paused_scale_in = true;
    /// assert!(o.is_paused() && o.is_paused_in_some_direction());
    /// ```
    pub fn is_paused(&self) -> bool {
        self.paused || self.paused_replica_count.is_some() || self.is_paused_in_some_direction()
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
        key(&self.namespace, &self.name)
    }
}

/// The key of a scaled object or job in logs and status: `namespace/name`.
fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The period of a scaled object's or job's loop: `polling_interval` seconds, at least one.
fn polling_period(polling_interval: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(polling_interval.max(1)))
}

/// The workload a scaled object scales: any resource with a `/scale` subresource.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct ScaleTargetRef {
    /// API group and version; default `apps/v1`.
    #[cfg_attr(feature = "schema", schemars(default = "json_schema::api_version"))]
    pub api_version: String,
    /// Kind; default `Deployment`.
    #[cfg_attr(feature = "schema", schemars(default = "json_schema::kind"))]
    pub kind: String,
    /// Name of the resource, in the scaled object's namespace.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
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
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Fallback {
    /// Consecutive failures tolerated; fallback applies after strictly more than this.
    pub failure_threshold: u32,
    /// Replica count proposed while in fallback.
    pub replicas: u32,
    /// How `replicas` combines with the current count; default `static`.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub behavior: FallbackBehavior,
}

/// How fallback replicas combine with the current replica count (KEDA's `fallback.behavior`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// For an object with `advanced.scalingModifiers`: a failed trigger reads `nil` in the
    /// formula, so `??` can pick another trigger or a literal (`best ?? backup ?? 8`); when
    /// the formula still yields no number, `fallback.replicas` after `failureThreshold`
    /// consecutive failures of the composite metric. Validation refuses it without a formula,
    /// as KEDA's admission webhook does.
    ScalingModifiers,
}

impl FallbackBehavior {
    /// Every accepted spelling, as in KEDA.
    pub const NAMES: [&'static str; 5] = [
        "static",
        "currentReplicas",
        "currentReplicasIfHigher",
        "currentReplicasIfLower",
        "scalingModifiers",
    ];
}

/// KEDA's `advanced` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Advanced {
    /// HPA settings, of which scalerd uses `behavior`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub horizontal_pod_autoscaler_config: Option<HorizontalPodAutoscalerConfig>,
    /// A formula combining the triggers into one metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_modifiers: Option<ScalingModifiers>,
    /// Accepted for KEDA compatibility: restore the original count when the object is removed.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub restore_to_original_replica_count: bool,
}

/// KEDA's `advanced.horizontalPodAutoscalerConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
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
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
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
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct ScalingRules {
    /// Seconds of past recommendations considered (up: default 0, down: default 300).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(max = 3600)))]
    pub stabilization_window_seconds: Option<u32>,
    /// How to combine the policies; default `Max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicy>,
    /// Rate limits (up: default Pods 4 and Percent 100 per 15 s; down: Percent 100 per 15 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub policies: Option<Vec<ScalingPolicy>>,
    /// Relative change ignored in this direction; default 0.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(default, schema_with = "json_schema::tolerance")
    )]
    pub tolerance: Option<f64>,
}

/// How the HPA picks among policies (`selectPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct ScalingPolicy {
    /// Pods or Percent.
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    /// Pods, or percent of the replicas at the start of the period; greater than 0.
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub value: u32,
    /// Length of the period, in seconds (1 to 1800).
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1800)))]
    pub period_seconds: u32,
}

/// The unit of a [`ScalingPolicy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum PolicyType {
    /// An absolute number of pods.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

/// KEDA's `advanced.scalingModifiers`: one composite metric computed from the triggers.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct ScalingModifiers {
    /// Expression over trigger names (see [`crate::formula`]).
    #[cfg_attr(
        feature = "schema",
        schemars(
            description = "Expression over trigger names, such as `max(pending, retries * 2)`."
        )
    )]
    pub formula: String,
    /// Target of the composite metric; greater than 0.
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "json_schema::positive_number")
    )]
    pub target: f64,
    /// The object is active iff the composite value is greater than this; default 0.
    #[cfg_attr(
        feature = "schema",
        schemars(default, schema_with = "json_schema::non_negative_number")
    )]
    pub activation_target: f64,
    /// How the composite target is read; default `AverageValue`.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub metric_type: MetricType,
}

/// How a metric value relates to replicas (HPA External metric target types).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct TriggerSpec {
    /// The trigger type, as in KEDA (`prometheus`, `redis`, `kafka`, …).
    #[serde(rename = "type")]
    pub trigger_type: String,
    /// Name, unique within the object; used by formulas, traces and metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub name: Option<String>,
    /// The trigger's parameters, as strings (KEDA's `metadata`).
    #[cfg_attr(
        feature = "schema",
        schemars(default, schema_with = "json_schema::metadata")
    )]
    pub metadata: BTreeMap<String, String>,
    /// How the trigger's target is read; default `AverageValue`.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub metric_type: MetricType,
    /// Where credentials come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<AuthenticationRef>,
    /// Accepted for KEDA compatibility; scalerd samples once per poll anyway.
    #[cfg_attr(feature = "schema", schemars(default))]
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

/// A reference to a (Cluster)TriggerAuthentication, resolved by
/// [`Config::authentication_for`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(
        deny_unknown_fields,
        description = "A reference to an authentication of this file by name and kind."
    )
)]
pub struct AuthenticationRef {
    /// Name of the authentication.
    pub name: String,
    /// `TriggerAuthentication` (default) or `ClusterTriggerAuthentication`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(default, schema_with = "json_schema::authentication_kind")
    )]
    pub kind: Option<String>,
}

impl AuthenticationRef {
    /// The kind referred to: `kind`, or `TriggerAuthentication` when it is not given.
    pub fn kind_or_default(&self) -> &str {
        self.kind.as_deref().unwrap_or(TRIGGER_AUTHENTICATION)
    }
}

/// Named credentials that triggers refer to, like KEDA's `TriggerAuthentication` (namespaced)
/// and `ClusterTriggerAuthentication` (cluster-wide).
///
/// Each parameter is filled from one source and handed to the trigger as an authentication
/// parameter: a trigger reads a value from its `metadata`, then from these parameters, then
/// from `<name>FromEnv` (see [`crate::trigger::Params`]). The model holds where values come
/// from, never the values; [`crate::config::auth::resolve`] reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    /// Name, unique per kind and namespace.
    pub name: String,
    /// Namespace whose scaled objects may refer to it; `None` for a cluster-wide
    /// authentication (a ClusterTriggerAuthentication, or an entry of scalerd's own format
    /// written without a namespace, which serves every namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Whether it is a ClusterTriggerAuthentication (then `namespace` is `None`).
    pub cluster: bool,
    /// The parameters it provides, in file order: the `secretTargetRef`, `configMapTargetRef`,
    /// `env` and `file` lists, each in its own order.
    pub parameters: Vec<AuthParameter>,
}

impl Authentication {
    /// A TriggerAuthentication of that name for every namespace, with no parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Authentication {
            name: name.into(),
            namespace: None,
            cluster: false,
            parameters: Vec::new(),
        }
    }

    /// `TriggerAuthentication` or `ClusterTriggerAuthentication`.
    pub fn kind(&self) -> &'static str {
        if self.cluster {
            CLUSTER_TRIGGER_AUTHENTICATION
        } else {
            TRIGGER_AUTHENTICATION
        }
    }

    /// The path of parameter `index` relative to the authentication: its source list and its
    /// position there (`secretTargetRef[1]`, `configMapTargetRef[0]`, `env[0]`, `file[0]`).
    ///
    /// Parameters of one source keep their list order in [`Authentication::parameters`], so
    /// the position is the number of earlier parameters with the same source.
    pub fn parameter_path(&self, index: usize) -> String {
        let field = self.parameters[index].source.field();
        let position = self.parameters[..index]
            .iter()
            .filter(|p| p.source.field() == field)
            .count();
        format!("{field}[{position}]")
    }
}

/// One parameter of an [`Authentication`] and where its value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthParameter {
    /// The trigger parameter it sets, such as `password` or `bearerToken`.
    pub parameter: String,
    /// Where the value is read.
    pub source: AuthSource,
}

/// Where the value of an [`AuthParameter`] comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthSource {
    /// An environment variable (`env`). In cluster mode, of a container of the scale
    /// target's pod template, as KEDA reads it: the one named `containerName`, else the first
    /// (not `envSourceContainerName`). Objects from a file read scalerd's own environment,
    /// since scalerd runs outside the workload (`containerName` is then not used).
    Env {
        /// The variable's name.
        name: String,
        /// The container it is read from (`containerName`); `None`: the first.
        #[serde(skip_serializing_if = "Option::is_none")]
        container: Option<String>,
    },
    /// The content of a file, such as a mounted Secret key, without its trailing newline
    /// (`file`, a scalerd extension).
    File {
        /// The file's path.
        path: String,
    },
    /// A key of a Kubernetes Secret (`secretTargetRef`), read through the Kubernetes API from
    /// the authentication's namespace (from scalerd's own namespace for a cluster-wide one,
    /// as KEDA reads ClusterTriggerAuthentication secrets from its own namespace).
    Secret {
        /// The Secret's name.
        name: String,
        /// The key inside the Secret's data.
        key: String,
    },
    /// A key of a Kubernetes ConfigMap (`configMapTargetRef`), read through the Kubernetes API
    /// from the same namespace as a `secretTargetRef` (the authentication's; scalerd's own for
    /// a cluster-wide one).
    ConfigMap {
        /// The ConfigMap's name.
        name: String,
        /// The key inside the ConfigMap's `data` (or `binaryData`).
        key: String,
    },
}

impl AuthSource {
    /// The config field listing sources of this kind: `env`, `file`, `secretTargetRef` or
    /// `configMapTargetRef`.
    pub fn field(&self) -> &'static str {
        match self {
            AuthSource::Env { .. } => "env",
            AuthSource::File { .. } => "file",
            AuthSource::Secret { .. } => "secretTargetRef",
            AuthSource::ConfigMap { .. } => "configMapTargetRef",
        }
    }
}
