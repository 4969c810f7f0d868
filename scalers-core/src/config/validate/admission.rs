//! The checks of a scaled object and of a scaled job that need no registry, as KEDA's admission
//! webhook and controllers make them: bounds, HPA behavior, the scaling-modifiers formula and
//! the Job template. The checks both kinds share (the name, `pollingInterval` and
//! `maxReplicaCount`, the trigger names) are one function each, used by both.

use std::collections::HashMap;

use super::{MetadataField, ObjectError};
use crate::config::model::{
    FallbackBehavior, JobScalingStrategy, MetricType, ScaledJob, ScaledObject, ScalingRules,
    TriggerSpec,
};
use crate::error::ConfigError;
use crate::formula::Formula;

/// Longest HPA policy period, in seconds.
const MAX_POLICY_PERIOD_SECONDS: u32 = 1800;
/// Longest HPA stabilization window, in seconds.
const MAX_STABILIZATION_WINDOW_SECONDS: u32 = 3600;
/// Trigger types KEDA refuses `useCachedMetrics` on.
const UNCACHEABLE_TRIGGER_TYPES: [&str; 3] = ["cpu", "memory", "cron"];

/// The restart policies a Job's pod template may have (Kubernetes refuses `Always`).
const JOB_RESTART_POLICIES: [&str; 2] = ["Never", "OnFailure"];

/// The checks of a scaled job that need no registry.
pub(super) fn check_job(job: &ScaledJob) -> Vec<ObjectError> {
    let mut e = Vec::new();
    check_name(&job.name, &mut e);
    let mut err = |path: &str, msg: String| e.push(ConfigError::new(path, msg).into());
    check_polling_and_max(job.polling_interval, job.max_replica_count, &mut err);
    if job.triggers.is_empty() {
        err("triggers", "at least one trigger is required".into());
    }
    let strategy = &job.scaling_strategy;
    if strategy.strategy == JobScalingStrategy::Custom {
        match strategy.custom_scaling_running_job_percentage {
            // KEDA silently uses `default` then; a typo should not change the strategy.
            None => err(
                "scalingStrategy.customScalingRunningJobPercentage",
                "required by strategy custom".into(),
            ),
            Some(p) if !(0.0..=1.0).contains(&p) => err(
                "scalingStrategy.customScalingRunningJobPercentage",
                format!("must be between 0 and 1 (a share of the running Jobs), got {p}"),
            ),
            Some(_) => {}
        }
    }
    let base = "jobTargetRef";
    let spec = job
        .job_target_ref
        .get("template")
        .and_then(|t| t.get("spec"));
    match job.job_target_ref.get("template") {
        None => err(
            &format!("{base}.template"),
            "required field is missing".into(),
        ),
        Some(t) if !t.is_mapping() => err(&format!("{base}.template"), "expected a mapping".into()),
        Some(_) => match spec {
            None => err(
                &format!("{base}.template.spec"),
                "required field is missing".into(),
            ),
            Some(spec) => {
                let at = format!("{base}.template.spec");
                match spec.get("containers").and_then(|c| c.as_sequence()) {
                    Some(c) if !c.is_empty() => {
                        if let Some(wanted) = &job.env_source_container_name
                            && !c.iter().any(|c| {
                                c.get("name").and_then(|n| n.as_str()) == Some(wanted.as_str())
                            })
                        {
                            err(
                                "envSourceContainerName",
                                format!("no container named {wanted:?} in the Job template"),
                            );
                        }
                    }
                    _ => err(
                        &format!("{at}.containers"),
                        "at least one container is required".into(),
                    ),
                }
                if let Some(policy) = spec.get("restartPolicy") {
                    let text = policy.as_str().unwrap_or_default();
                    if !JOB_RESTART_POLICIES.contains(&text) {
                        err(
                            &format!("{at}.restartPolicy"),
                            format!(
                                "a Job's pods restart Never or OnFailure, got {}",
                                serde_norway::to_string(policy)
                                    .unwrap_or_default()
                                    .trim_end()
                            ),
                        );
                    }
                }
            }
        },
    }
    check_triggers(&job.triggers, &mut err, |i, t| {
        // KEDA's ScaledJob controller refuses a metricType: Jobs are counted per item.
        (t.metric_type == MetricType::Value).then(|| {
            let message = "not supported on a scaled job (each Job takes the target's share)";
            (format!("triggers[{i}].metricType"), message.to_owned())
        })
    });
    e
}

/// The checks of a scaled object that need no registry.
pub(super) fn check_object(o: &ScaledObject) -> Vec<ObjectError> {
    let mut e = Vec::new();
    check_name(&o.name, &mut e);
    let mut err = |path: &str, msg: String| e.push(ConfigError::new(path, msg).into());
    if o.scale_target_ref.name.is_empty() {
        err("scaleTargetRef.name", "must not be empty".into());
    }
    check_polling_and_max(o.polling_interval, o.max_replica_count, &mut err);
    if o.min_replica_count > o.max_replica_count {
        err(
            "minReplicaCount",
            format!(
                "must not exceed maxReplicaCount ({}), got {}",
                o.max_replica_count, o.min_replica_count
            ),
        );
    }
    if let Some(idle) = o.idle_replica_count
        && idle >= o.min_replica_count
    {
        err(
            "idleReplicaCount",
            format!(
                "must be less than minReplicaCount ({}), got {idle}",
                o.min_replica_count
            ),
        );
    }
    if let Some(p) = o.paused_replica_count
        && p > o.max_replica_count
    {
        // KEDA allows it; a pinned count above the maximum is almost always a typo.
        e.push(ObjectError::Metadata(
            MetadataField::PausedReplicaCount,
            format!(
                "must not exceed maxReplicaCount ({}), got {p}",
                o.max_replica_count
            ),
        ));
    }
    let mut err = |path: &str, msg: String| e.push(ConfigError::new(path, msg).into());
    if o.triggers.is_empty() {
        err("triggers", "at least one trigger is required".into());
    }
    if let Some(fb) = &o.fallback
        && fb.behavior == FallbackBehavior::ScalingModifiers
        && o.advanced.scaling_modifiers.is_none()
    {
        // KEDA's admission webhook refuses it too: there is no formula to pass nil to.
        err(
            "fallback.behavior",
            "scalingModifiers needs advanced.scalingModifiers (a formula)".into(),
        );
    }
    check_triggers(&o.triggers, &mut err, |i, t| {
        // KEDA's admission rule: a cached value of these would not follow the clock (cron) or
        // the resource metrics the HPA reads itself (cpu, memory).
        let uncacheable = UNCACHEABLE_TRIGGER_TYPES.contains(&t.trigger_type.as_str());
        (t.use_cached_metrics && uncacheable).then(|| {
            let message = format!(
                "property \"useCachedMetrics\" is not supported for {:?} scaler",
                t.trigger_type
            );
            (format!("triggers[{i}].useCachedMetrics"), message)
        })
    });
    if let Some(b) = o.behavior() {
        let base = "advanced.horizontalPodAutoscalerConfig.behavior";
        for (dir, rules) in [("scaleUp", &b.scale_up), ("scaleDown", &b.scale_down)] {
            if let Some(r) = rules {
                check_rules(&format!("{base}.{dir}"), r, &mut err);
            }
        }
    }
    if let Some(m) = &o.advanced.scaling_modifiers {
        let base = "advanced.scalingModifiers";
        if m.target.is_nan() || m.target <= 0.0 {
            err(
                &format!("{base}.target"),
                format!("must be greater than 0, got {}", m.target),
            );
        }
        if m.activation_target.is_nan() || m.activation_target < 0.0 {
            err(
                &format!("{base}.activationTarget"),
                format!("must not be negative, got {}", m.activation_target),
            );
        }
        match Formula::parse(&m.formula) {
            Err(fe) => err(&format!("{base}.formula"), fe.message),
            Ok(f) => {
                let known: Vec<&str> = o
                    .triggers
                    .iter()
                    .filter_map(|t| t.name.as_deref())
                    .collect();
                for v in f.variables() {
                    if !known.contains(&v) {
                        let list = if known.is_empty() {
                            "no trigger has a name".to_owned()
                        } else {
                            format!("named triggers: {}", known.join(", "))
                        };
                        err(
                            &format!("{base}.formula"),
                            format!("refers to {v:?}, which is not a trigger name; {list}"),
                        );
                    }
                }
            }
        }
    }
    e
}

/// The check of a scaled object's or job's name that both kinds share: not empty.
fn check_name(name: &str, e: &mut Vec<ObjectError>) {
    if name.is_empty() {
        e.push(ObjectError::Metadata(
            MetadataField::Name,
            "must not be empty".into(),
        ));
    }
}

/// The checks of `pollingInterval` and `maxReplicaCount` that both kinds share: at least 1.
fn check_polling_and_max(
    polling_interval: u32,
    max_replica_count: u32,
    err: &mut impl FnMut(&str, String),
) {
    if polling_interval == 0 {
        err("pollingInterval", "must be at least 1 second, got 0".into());
    }
    if max_replica_count == 0 {
        err("maxReplicaCount", "must be at least 1, got 0".into());
    }
}

/// The checks of each trigger that both kinds share, after the kind's own (`own`: the path
/// and message of a problem of trigger `i`, if any): a name, when given, is not empty and not
/// the name of an earlier trigger.
fn check_triggers(
    triggers: &[TriggerSpec],
    err: &mut impl FnMut(&str, String),
    own: impl Fn(usize, &TriggerSpec) -> Option<(String, String)>,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, t) in triggers.iter().enumerate() {
        if let Some((path, message)) = own(i, t) {
            err(&path, message);
        }
        let Some(name) = t.name.as_deref() else {
            continue;
        };
        if name.is_empty() {
            err(&format!("triggers[{i}].name"), "must not be empty".into());
        } else if let Some(first) = seen.insert(name, i) {
            err(
                &format!("triggers[{i}].name"),
                format!("duplicate trigger name {name:?}, already used by triggers[{first}]"),
            );
        }
    }
}

/// The checks of the HPA scaling rules of one direction, at `base`.
fn check_rules(base: &str, r: &ScalingRules, err: &mut impl FnMut(&str, String)) {
    if let Some(w) = r.stabilization_window_seconds
        && w > MAX_STABILIZATION_WINDOW_SECONDS
    {
        err(
            &format!("{base}.stabilizationWindowSeconds"),
            format!("must be at most {MAX_STABILIZATION_WINDOW_SECONDS}, got {w}"),
        );
    }
    if let Some(t) = r.tolerance
        && (t.is_nan() || t < 0.0)
    {
        err(
            &format!("{base}.tolerance"),
            format!("must not be negative, got {t}"),
        );
    }
    if let Some(policies) = &r.policies {
        if policies.is_empty() {
            err(
                &format!("{base}.policies"),
                "must specify at least one policy".into(),
            );
        }
        for (i, p) in policies.iter().enumerate() {
            if p.value == 0 {
                err(
                    &format!("{base}.policies[{i}].value"),
                    "must be greater than 0, got 0".into(),
                );
            }
            if p.period_seconds == 0 || p.period_seconds > MAX_POLICY_PERIOD_SECONDS {
                err(
                    &format!("{base}.policies[{i}].periodSeconds"),
                    format!(
                        "must be between 1 and {MAX_POLICY_PERIOD_SECONDS}, got {}",
                        p.period_seconds
                    ),
                );
            }
        }
    }
}
