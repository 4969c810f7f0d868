//! The fields of KEDA's `ScaledObject` spec that a scaled job does not have: `scaleTargetRef`,
//! `cooldownPeriod`, `initialCooldownPeriod`, `idleReplicaCount`, `fallback` and `advanced`
//! (the HPA behavior and the scaling modifiers), and the pause fields of scalerd's own format.

use serde_norway::Value;

use super::Decoder;
use super::scaled::{Identity, METRIC_TYPES, Scaled, SharedSpec, namespace_or_default};
use crate::config::model::{
    Advanced, Behavior, DEFAULT_COOLDOWN_PERIOD, Fallback, FallbackBehavior,
    HorizontalPodAutoscalerConfig, Location, PolicyType, ScaleTargetRef, ScaledObject,
    ScalingModifiers, ScalingPolicy, ScalingRules, SelectPolicy,
};

/// Keys of a scaled object of scalerd's own format that are not spec fields, before them.
const OWN_IDENTITY_FIELDS: &[&str] = &["name", "namespace"];
/// Keys of a scaled object of scalerd's own format that are not spec fields, after them.
const OWN_PAUSE_FIELDS: &[&str] = &[
    "paused",
    "pausedReplicaCount",
    "pausedScaleIn",
    "pausedScaleOut",
];
/// Keys of a KEDA `ScaledObject` spec.
const SPEC_FIELDS: &[&str] = &[
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
];
/// Keys of `scaleTargetRef`.
const TARGET_FIELDS: &[&str] = &["apiVersion", "kind", "name", "envSourceContainerName"];
/// Keys of `fallback`.
const FALLBACK_FIELDS: &[&str] = &["failureThreshold", "replicas", "behavior"];
/// Keys of `advanced`.
const ADVANCED_FIELDS: &[&str] = &[
    "restoreToOriginalReplicaCount",
    "horizontalPodAutoscalerConfig",
    "scalingModifiers",
];
/// Keys of `advanced.horizontalPodAutoscalerConfig`.
const HPA_FIELDS: &[&str] = &["name", "behavior"];
/// Keys of `advanced.horizontalPodAutoscalerConfig.behavior`.
const BEHAVIOR_FIELDS: &[&str] = &["scaleUp", "scaleDown"];
/// Keys of `scaleUp` and `scaleDown`.
const RULES_FIELDS: &[&str] = &[
    "stabilizationWindowSeconds",
    "selectPolicy",
    "policies",
    "tolerance",
];
/// Keys of one scaling policy.
const POLICY_FIELDS: &[&str] = &["type", "value", "periodSeconds"];
/// Keys of `advanced.scalingModifiers`.
const MODIFIERS_FIELDS: &[&str] = &["formula", "target", "activationTarget", "metricType"];

/// Spellings of [`FallbackBehavior`].
const FALLBACK_BEHAVIORS: &[(&str, FallbackBehavior)] = &[
    (FallbackBehavior::NAMES[0], FallbackBehavior::Static),
    (
        FallbackBehavior::NAMES[1],
        FallbackBehavior::CurrentReplicas,
    ),
    (
        FallbackBehavior::NAMES[2],
        FallbackBehavior::CurrentReplicasIfHigher,
    ),
    (
        FallbackBehavior::NAMES[3],
        FallbackBehavior::CurrentReplicasIfLower,
    ),
    (
        FallbackBehavior::NAMES[4],
        FallbackBehavior::ScalingModifiers,
    ),
];
/// Spellings of [`SelectPolicy`].
const SELECT_POLICIES: &[(&str, SelectPolicy)] = &[
    ("Max", SelectPolicy::Max),
    ("Min", SelectPolicy::Min),
    ("Disabled", SelectPolicy::Disabled),
];
/// Spellings of [`PolicyType`].
const POLICY_TYPES: &[(&str, PolicyType)] =
    &[("Pods", PolicyType::Pods), ("Percent", PolicyType::Percent)];

/// The fields of KEDA's `ScaledObject` spec, as decoded so far.
#[derive(Default)]
pub(super) struct ObjectSpec {
    /// The fields a scaled job has too.
    shared: SharedSpec,
    scale_target_ref: Option<ScaleTargetRef>,
    cooldown_period: Option<u32>,
    initial_cooldown_period: Option<u32>,
    idle_replica_count: Option<u32>,
    fallback: Option<Fallback>,
    advanced: Option<Advanced>,
}

impl Scaled for ScaledObject {
    type Spec = ObjectSpec;
    const SPEC_FIELDS: &'static [&'static str] = SPEC_FIELDS;
    const TARGET: &'static str = "scaleTargetRef";
    const OWN_FIELDS: (&'static [&'static str], &'static [&'static str]) =
        (OWN_IDENTITY_FIELDS, OWN_PAUSE_FIELDS);

    fn shared(spec: &mut ObjectSpec) -> &mut SharedSpec {
        &mut spec.shared
    }

    fn spec_field(d: &mut Decoder, spec: &mut ObjectSpec, key: &str, value: &Value, path: &str) {
        match key {
            "scaleTargetRef" => spec.scale_target_ref = d.scale_target_ref(value, path),
            "cooldownPeriod" => spec.cooldown_period = d.count(value, path),
            "initialCooldownPeriod" => spec.initial_cooldown_period = d.count(value, path),
            "idleReplicaCount" => spec.idle_replica_count = d.count(value, path),
            "fallback" => spec.fallback = d.fallback(value, path),
            "advanced" => spec.advanced = d.advanced(value, path),
            _ => {}
        }
    }

    /// Any text but `false` pauses, as in KEDA's ScaledObject controller.
    fn paused_by(annotation: &str) -> bool {
        annotation != "false"
    }

    fn build(identity: Identity, mut spec: ObjectSpec) -> Option<Self> {
        Some(ScaledObject {
            name: identity.name?,
            namespace: namespace_or_default(identity.namespace),
            scale_target_ref: spec.scale_target_ref?,
            polling_interval: spec.shared.polling_interval(),
            cooldown_period: spec.cooldown_period.unwrap_or(DEFAULT_COOLDOWN_PERIOD),
            initial_cooldown_period: spec.initial_cooldown_period.unwrap_or(0),
            idle_replica_count: spec.idle_replica_count,
            min_replica_count: spec.shared.min_replica_count(),
            max_replica_count: spec.shared.max_replica_count(),
            fallback: spec.fallback,
            advanced: spec.advanced.unwrap_or_default(),
            triggers: spec.shared.triggers(),
            paused: identity.paused.unwrap_or(false),
            paused_replica_count: identity.paused_replica_count,
            paused_scale_in: identity.paused_scale_in.unwrap_or(false),
            paused_scale_out: identity.paused_scale_out.unwrap_or(false),
        })
    }

    fn keep(self, d: &mut Decoder, location: Location) {
        d.objects.push((self, location));
    }
}

impl Decoder {
    /// Decodes `scaleTargetRef`.
    fn scale_target_ref(&mut self, value: &Value, path: &str) -> Option<ScaleTargetRef> {
        let (mut api_version, mut kind, mut name, mut container) = (None, None, None, None);
        let map = self.fields(
            value,
            path,
            TARGET_FIELDS,
            |d, key, value, path| match key {
                "apiVersion" => api_version = d.string(value, path),
                "kind" => kind = d.string(value, path),
                "name" => {
                    name = d.string(value, path);
                    if name.as_deref() == Some("") {
                        d.report_mismatch(path, "a non-empty string", value);
                    }
                }
                "envSourceContainerName" => container = d.string(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, &["name"]);
        let defaults = ScaleTargetRef::deployment(name?);
        Some(ScaleTargetRef {
            api_version: api_version.unwrap_or(defaults.api_version),
            kind: kind.unwrap_or(defaults.kind),
            env_source_container_name: container,
            ..defaults
        })
    }

    /// Decodes `fallback`.
    fn fallback(&mut self, value: &Value, path: &str) -> Option<Fallback> {
        let (mut threshold, mut replicas, mut behavior) = (None, None, None);
        let map = self.fields(
            value,
            path,
            FALLBACK_FIELDS,
            |d, key, value, path| match key {
                "failureThreshold" => threshold = d.count(value, path),
                "replicas" => replicas = d.count(value, path),
                "behavior" => behavior = d.choice(value, path, FALLBACK_BEHAVIORS),
                _ => {}
            },
        )?;
        self.require(map, path, &["failureThreshold", "replicas"]);
        Some(Fallback {
            failure_threshold: threshold?,
            replicas: replicas?,
            behavior: behavior.unwrap_or_default(),
        })
    }

    /// Decodes `advanced`.
    fn advanced(&mut self, value: &Value, path: &str) -> Option<Advanced> {
        let mut advanced = Advanced::default();
        self.fields(
            value,
            path,
            ADVANCED_FIELDS,
            |d, key, value, path| match key {
                "restoreToOriginalReplicaCount" => {
                    advanced.restore_to_original_replica_count =
                        d.boolean(value, path).unwrap_or_default();
                }
                "horizontalPodAutoscalerConfig" => {
                    advanced.horizontal_pod_autoscaler_config = d.hpa_config(value, path);
                }
                "scalingModifiers" => advanced.scaling_modifiers = d.scaling_modifiers(value, path),
                _ => {}
            },
        )?;
        Some(advanced)
    }

    /// Decodes `advanced.horizontalPodAutoscalerConfig`.
    fn hpa_config(&mut self, value: &Value, path: &str) -> Option<HorizontalPodAutoscalerConfig> {
        let mut config = HorizontalPodAutoscalerConfig::default();
        self.fields(value, path, HPA_FIELDS, |d, key, value, path| match key {
            "name" => config.name = d.string(value, path),
            "behavior" => config.behavior = d.behavior(value, path),
            _ => {}
        })?;
        Some(config)
    }

    /// Decodes an HPA `behavior`.
    fn behavior(&mut self, value: &Value, path: &str) -> Option<Behavior> {
        let mut behavior = Behavior::default();
        self.fields(
            value,
            path,
            BEHAVIOR_FIELDS,
            |d, key, value, path| match key {
                "scaleUp" => behavior.scale_up = d.scaling_rules(value, path),
                "scaleDown" => behavior.scale_down = d.scaling_rules(value, path),
                _ => {}
            },
        )?;
        Some(behavior)
    }

    /// Decodes the HPA scaling rules of one direction.
    fn scaling_rules(&mut self, value: &Value, path: &str) -> Option<ScalingRules> {
        let mut rules = ScalingRules::default();
        self.fields(value, path, RULES_FIELDS, |d, key, value, path| match key {
            "stabilizationWindowSeconds" => {
                rules.stabilization_window_seconds = d.count(value, path);
            }
            "selectPolicy" => rules.select_policy = d.choice(value, path, SELECT_POLICIES),
            "policies" => rules.policies = d.items(value, path, Self::policy),
            "tolerance" => rules.tolerance = d.quantity(value, path),
            _ => {}
        })?;
        Some(rules)
    }

    /// Decodes one HPA scaling policy.
    fn policy(&mut self, value: &Value, path: &str) -> Option<ScalingPolicy> {
        let (mut policy_type, mut amount, mut period) = (None, None, None);
        let map = self.fields(
            value,
            path,
            POLICY_FIELDS,
            |d, key, value, path| match key {
                "type" => policy_type = d.choice(value, path, POLICY_TYPES),
                "value" => amount = d.count(value, path),
                "periodSeconds" => period = d.count(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, POLICY_FIELDS);
        Some(ScalingPolicy {
            policy_type: policy_type?,
            value: amount?,
            period_seconds: period?,
        })
    }

    /// Decodes `advanced.scalingModifiers`.
    fn scaling_modifiers(&mut self, value: &Value, path: &str) -> Option<ScalingModifiers> {
        let (mut formula, mut target, mut activation, mut metric_type) = (None, None, None, None);
        let map = self.fields(
            value,
            path,
            MODIFIERS_FIELDS,
            |d, key, value, path| match key {
                "formula" => formula = d.string(value, path),
                "target" => target = d.number(value, path),
                "activationTarget" => activation = d.number(value, path),
                "metricType" => metric_type = d.choice(value, path, METRIC_TYPES),
                _ => {}
            },
        )?;
        self.require(map, path, &["formula", "target"]);
        Some(ScalingModifiers {
            formula: formula?,
            target: target?,
            activation_target: activation.unwrap_or(0.0),
            metric_type: metric_type.unwrap_or_default(),
        })
    }
}
