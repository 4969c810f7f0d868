//! Semantic validation of a loaded config: KEDA's admission checks, HPA behavior checks, the
//! scaling-modifiers formula, and every trigger built through the [`Registry`].

use std::collections::{BTreeMap, HashMap};

use crate::config::model::{Config, ScaledObject, ScalingRules, TriggerSpec};
use crate::error::{ConfigError, ConfigErrors};
use crate::formula::Formula;
use crate::secret::Secret;
use crate::trigger::{BuiltTrigger, EnvLookup, Registry};

/// Longest HPA policy period, in seconds.
const MAX_POLICY_PERIOD_SECONDS: u32 = 1800;
/// Longest HPA stabilization window, in seconds.
const MAX_STABILIZATION_WINDOW_SECONDS: u32 = 3600;

/// A scaled object that passed validation, with its triggers built.
#[derive(Clone, Debug)]
pub struct ValidatedObject {
    /// The object.
    pub object: ScaledObject,
    /// Its triggers, in order.
    pub triggers: Vec<BuiltTrigger>,
}

/// Where trigger credentials come from during validation.
pub type AuthLookup<'a> = &'a dyn Fn(&ScaledObject, &TriggerSpec) -> BTreeMap<String, Secret>;

/// Checks `config` and builds every trigger through `registry`, reporting every problem found.
///
/// `file` names the source in errors; `env` resolves `*FromEnv` parameters; `auth` gives each
/// trigger's authentication parameters.
///
/// # Errors
/// Every problem, each with the file, the field path and what was expected.
pub fn validate(
    config: &Config,
    registry: &Registry,
    file: &str,
    env: EnvLookup<'_>,
    auth: AuthLookup<'_>,
) -> Result<Vec<ValidatedObject>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut names: HashMap<(&str, &str), usize> = HashMap::new();
    let mut targets: HashMap<(&str, &str, &str, &str), usize> = HashMap::new();
    for (i, object) in config.scaled_objects.iter().enumerate() {
        let loc = config.location(i);
        let mut errs = check_object(object);
        if let Some(first) = names.insert((&object.namespace, &object.name), i) {
            errs.push(ConfigError::new(
                "@name",
                format!(
                    "duplicate scaled object {:?}: already defined by the object at {}",
                    object.key(),
                    config.location(first).metadata
                ),
            ));
        }
        let t = &object.scale_target_ref;
        if let Some(first) =
            targets.insert((&object.namespace, &t.api_version, &t.kind, &t.name), i)
        {
            errs.push(ConfigError::new(
                "scaleTargetRef.name",
                format!(
                    "{} {}/{} is already scaled by {:?}; one scaled object per workload",
                    t.kind, object.namespace, t.name, config.scaled_objects[first].name
                ),
            ));
        }
        let built = registry.build_all(object, &|j| auth(object, &object.triggers[j]), env);
        match built {
            Ok(triggers) if errs.is_empty() => out.push(ValidatedObject {
                object: object.clone(),
                triggers,
            }),
            Ok(_) => {}
            Err(es) => errs.extend(es),
        }
        errors.extend(errs.into_iter().map(|e| {
            let prefix = match e.path.strip_prefix('@') {
                Some(rest) => {
                    return ConfigError::new(rest, e.message)
                        .under(&loc.metadata)
                        .in_file(file);
                }
                None => &loc.spec,
            };
            e.under(prefix).in_file(file)
        }));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The checks that need no registry; paths relative to the object's spec (`@` marks a path
/// relative to its metadata).
fn check_object(o: &ScaledObject) -> Vec<ConfigError> {
    let mut e = Vec::new();
    let mut err = |path: &str, msg: String| e.push(ConfigError::new(path, msg));
    if o.name.is_empty() {
        err("@name", "must not be empty".into());
    }
    if o.scale_target_ref.name.is_empty() {
        err("scaleTargetRef.name", "must not be empty".into());
    }
    if o.polling_interval == 0 {
        err("pollingInterval", "must be at least 1 second, got 0".into());
    }
    if o.max_replica_count == 0 {
        err("maxReplicaCount", "must be at least 1, got 0".into());
    }
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
        err(
            "@pausedReplicaCount",
            format!(
                "must not exceed maxReplicaCount ({}), got {p}",
                o.max_replica_count
            ),
        );
    }
    if o.triggers.is_empty() {
        err("triggers", "at least one trigger is required".into());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, t) in o.triggers.iter().enumerate() {
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
