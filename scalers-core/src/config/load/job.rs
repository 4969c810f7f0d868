//! The fields of KEDA's `ScaledJob` spec that a scaled object does not have: `jobTargetRef`,
//! the history limits, `envSourceContainerName`, `rollout` (and the deprecated
//! `rolloutStrategy`) and `scalingStrategy`, and the `labels` of scalerd's own format.

use serde_norway::Value;

use super::Decoder;
use super::primitives::parse_bool;
use super::scaled::{Identity, Scaled, SharedSpec, namespace_or_default};
use crate::config::model::{
    JobScalingStrategy, Location, MultipleScalersCalculation, PropagationPolicy, Rollout,
    RolloutStrategy, ScaledJob, ScalingStrategy,
};

/// Keys of a scaled job of scalerd's own format that are not spec fields.
const OWN_JOB_FIELDS: &[&str] = &["name", "namespace", "paused", "labels"];
/// Keys of a KEDA `ScaledJob` spec (`rolloutStrategy` is the deprecated spelling of
/// `rollout.strategy`, which wins over it when both are given, as in KEDA).
const JOB_SPEC_FIELDS: &[&str] = &[
    "jobTargetRef",
    "pollingInterval",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "envSourceContainerName",
    "minReplicaCount",
    "maxReplicaCount",
    "rollout",
    "rolloutStrategy",
    "scalingStrategy",
    "triggers",
];
/// Keys of a scaled job's `rollout`.
const ROLLOUT_FIELDS: &[&str] = &["strategy", "propagationPolicy"];
/// Keys of a scaled job's `scalingStrategy`.
const SCALING_STRATEGY_FIELDS: &[&str] = &[
    "strategy",
    "customScalingQueueLengthDeduction",
    "customScalingRunningJobPercentage",
    "pendingPodConditions",
    "multipleScalersCalculation",
];
/// Spellings of [`RolloutStrategy`]: KEDA's docs say `default`, its CRD `immediate`.
const ROLLOUT_STRATEGIES: &[(&str, RolloutStrategy)] = &[
    ("default", RolloutStrategy::Default),
    ("gradual", RolloutStrategy::Gradual),
    ("immediate", RolloutStrategy::Default),
];
/// Spellings of [`PropagationPolicy`].
const PROPAGATION_POLICIES: &[(&str, PropagationPolicy)] = &[
    ("background", PropagationPolicy::Background),
    ("foreground", PropagationPolicy::Foreground),
];
/// Spellings of [`JobScalingStrategy`].
const JOB_SCALING_STRATEGIES: &[(&str, JobScalingStrategy)] = &[
    ("default", JobScalingStrategy::Default),
    ("custom", JobScalingStrategy::Custom),
    ("accurate", JobScalingStrategy::Accurate),
    ("eager", JobScalingStrategy::Eager),
];
/// Spellings of [`MultipleScalersCalculation`].
const MULTIPLE_SCALERS_CALCULATIONS: &[(&str, MultipleScalersCalculation)] = &[
    ("max", MultipleScalersCalculation::Max),
    ("min", MultipleScalersCalculation::Min),
    ("avg", MultipleScalersCalculation::Avg),
    ("sum", MultipleScalersCalculation::Sum),
];

/// The fields of KEDA's `ScaledJob` spec, as decoded so far.
#[derive(Default)]
pub(super) struct JobSpec {
    /// The fields a scaled object has too.
    shared: SharedSpec,
    job_target_ref: Option<Value>,
    successful_limit: Option<u32>,
    failed_limit: Option<u32>,
    env_source_container_name: Option<String>,
    /// `rollout`, with the strategy as written (`None` when not given).
    rollout: Option<(Option<RolloutStrategy>, Rollout)>,
    /// The deprecated `rolloutStrategy`.
    rollout_strategy: Option<RolloutStrategy>,
    scaling_strategy: Option<ScalingStrategy>,
}

impl Scaled for ScaledJob {
    type Spec = JobSpec;
    const SPEC_FIELDS: &'static [&'static str] = JOB_SPEC_FIELDS;
    const TARGET: &'static str = "jobTargetRef";
    const OWN_FIELDS: (&'static [&'static str], &'static [&'static str]) = (OWN_JOB_FIELDS, &[]);

    fn shared(spec: &mut JobSpec) -> &mut SharedSpec {
        &mut spec.shared
    }

    fn spec_field(d: &mut Decoder, spec: &mut JobSpec, key: &str, value: &Value, path: &str) {
        match key {
            "jobTargetRef" if d.mapping(value, path).is_some() => {
                spec.job_target_ref = Some(value.clone());
            }
            "successfulJobsHistoryLimit" => spec.successful_limit = d.count(value, path),
            "failedJobsHistoryLimit" => spec.failed_limit = d.count(value, path),
            "envSourceContainerName" => spec.env_source_container_name = d.string(value, path),
            "rollout" => spec.rollout = d.rollout(value, path),
            "rolloutStrategy" => {
                spec.rollout_strategy = d.choice(value, path, ROLLOUT_STRATEGIES);
            }
            "scalingStrategy" => spec.scaling_strategy = d.scaling_strategy(value, path),
            _ => {}
        }
    }

    /// Read with Go's `ParseBool`, as KEDA's ScaledJob controller does; a text it cannot parse
    /// pauses.
    fn paused_by(annotation: &str) -> bool {
        parse_bool(annotation).unwrap_or(true)
    }

    fn build(identity: Identity, mut spec: JobSpec) -> Option<Self> {
        let mut job = ScaledJob::new(identity.name?, spec.job_target_ref?);
        job.namespace = namespace_or_default(identity.namespace);
        job.polling_interval = spec.shared.polling_interval();
        job.successful_jobs_history_limit = spec
            .successful_limit
            .unwrap_or(job.successful_jobs_history_limit);
        job.failed_jobs_history_limit = spec.failed_limit.unwrap_or(job.failed_jobs_history_limit);
        job.env_source_container_name = spec.env_source_container_name;
        job.min_replica_count = spec.shared.min_replica_count();
        job.max_replica_count = spec.shared.max_replica_count();
        let (written, rollout) = spec.rollout.unwrap_or_default();
        job.rollout = rollout;
        // `rollout.strategy` wins over the deprecated `rolloutStrategy` when both are given.
        if written.is_none()
            && let Some(strategy) = spec.rollout_strategy
        {
            job.rollout.strategy = strategy;
        }
        job.scaling_strategy = spec.scaling_strategy.unwrap_or_default();
        job.triggers = spec.shared.triggers();
        job.paused = identity.paused.unwrap_or(false);
        job.labels = identity.labels;
        Some(job)
    }

    fn keep(self, d: &mut Decoder, location: Location) {
        d.jobs.push((self, location));
    }
}

impl Decoder {
    /// Decodes a scaled job's `rollout`; a strategy not given stays `None`.
    fn rollout(&mut self, value: &Value, path: &str) -> Option<(Option<RolloutStrategy>, Rollout)> {
        let (mut strategy, mut policy) = (None, None);
        self.fields(
            value,
            path,
            ROLLOUT_FIELDS,
            |d, key, value, path| match key {
                "strategy" => strategy = d.choice(value, path, ROLLOUT_STRATEGIES),
                "propagationPolicy" => policy = d.choice(value, path, PROPAGATION_POLICIES),
                _ => {}
            },
        )?;
        let rollout = Rollout {
            strategy: strategy.unwrap_or_default(),
            propagation_policy: policy.unwrap_or_default(),
        };
        Some((strategy, rollout))
    }

    /// Decodes a scaled job's `scalingStrategy`.
    fn scaling_strategy(&mut self, value: &Value, path: &str) -> Option<ScalingStrategy> {
        let mut out = ScalingStrategy::default();
        self.fields(
            value,
            path,
            SCALING_STRATEGY_FIELDS,
            |d, key, value, path| match key {
                "strategy" => {
                    out.strategy = d
                        .choice(value, path, JOB_SCALING_STRATEGIES)
                        .unwrap_or_default();
                }
                "customScalingQueueLengthDeduction" => {
                    out.custom_scaling_queue_length_deduction = d.integer(value, path);
                }
                "customScalingRunningJobPercentage" => {
                    out.custom_scaling_running_job_percentage = d.number(value, path);
                }
                "pendingPodConditions" => {
                    out.pending_pod_conditions =
                        d.items(value, path, Self::string).unwrap_or_default();
                }
                "multipleScalersCalculation" => {
                    out.multiple_scalers_calculation = d
                        .choice(value, path, MULTIPLE_SCALERS_CALCULATIONS)
                        .unwrap_or_default();
                }
                _ => {}
            },
        )?;
        Some(out)
    }
}
