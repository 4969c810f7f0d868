//! KEDA's `ScaledJob`: a Job per pending item instead of a scaled Deployment.
//!
//! The triggers are those of a [`ScaledObject`](super::ScaledObject); what differs is the
//! target (a Job template, `jobTargetRef`), the bounds (`maxReplicaCount` counts Jobs, not
//! replicas), the history of finished Jobs kept, the rollout of a changed template and the
//! scaling strategy, which [`crate::job`] computes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{DEFAULT_MAX_REPLICA_COUNT, DEFAULT_NAMESPACE, DEFAULT_POLLING_INTERVAL, TriggerSpec};

/// Default of [`ScaledJob::successful_jobs_history_limit`] and
/// [`ScaledJob::failed_jobs_history_limit`].
pub const DEFAULT_JOBS_HISTORY_LIMIT: u32 = 100;
/// The label KEDA puts on every Job it creates for a ScaledJob, with the ScaledJob's name.
pub const SCALED_JOB_NAME_LABEL: &str = "scaledjob.keda.sh/name";
/// The annotation KEDA puts on every Job it creates, with the ScaledJob's generation (scalerd:
/// the revision of the Job template, see [`ScaledJob::template_revision`]).
pub const SCALED_JOB_GENERATION_ANNOTATION: &str = "scaledjob.keda.sh/generation";

/// One scaled job: a Job template, the triggers that tell how many items wait, and how many
/// Jobs may run.
///
/// Mirrors KEDA's `ScaledJob` spec (`keda.sh/v1alpha1`); `name` and `namespace` come from
/// `metadata` in a KEDA manifest, `paused` from its `autoscaling.keda.sh/paused` annotation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct ScaledJob {
    /// Name of the scaled job, unique within its namespace; the prefix of its Jobs' names.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub name: String,
    /// Namespace of the scaled job and of its Jobs; default `default`.
    #[cfg_attr(
        feature = "schema",
        schemars(default = "super::json_schema::namespace")
    )]
    pub namespace: String,
    /// The Job spec every created Job gets (a `batch/v1` `JobSpec`, with its pod `template`).
    #[cfg_attr(
        feature = "schema",
        schemars(schema_with = "super::json_schema::job_spec")
    )]
    pub job_target_ref: serde_norway::Value,
    /// Seconds between two polls; default 30, at least 1.
    #[cfg_attr(
        feature = "schema",
        schemars(default = "super::json_schema::polling_interval", range(min = 1))
    )]
    pub polling_interval: u32,
    /// Succeeded Jobs kept; the oldest beyond it are deleted; default 100.
    #[cfg_attr(
        feature = "schema",
        schemars(default = "super::json_schema::jobs_history_limit")
    )]
    pub successful_jobs_history_limit: u32,
    /// Failed Jobs kept; the oldest beyond it are deleted; default 100.
    #[cfg_attr(
        feature = "schema",
        schemars(default = "super::json_schema::jobs_history_limit")
    )]
    pub failed_jobs_history_limit: u32,
    /// Container of the template whose environment resolves `*FromEnv` parameters (first one
    /// by default): read so in cluster mode; from a file, scalerd reads its own environment,
    /// as for scaled objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_source_container_name: Option<String>,
    /// Jobs kept running even with nothing to do; default 0. Above `maxReplicaCount` it is
    /// lowered to it, as KEDA does.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub min_replica_count: u32,
    /// Most Jobs running at once; default 100.
    #[cfg_attr(
        feature = "schema",
        schemars(default = "super::json_schema::max_replica_count")
    )]
    pub max_replica_count: u32,
    /// What happens to running Jobs when the template changes.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub rollout: Rollout,
    /// How the number of Jobs to create is computed.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub scaling_strategy: ScalingStrategy,
    /// The metric sources; at least one.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub triggers: Vec<TriggerSpec>,
    /// Whether the loop is stopped (KEDA annotation `autoscaling.keda.sh/paused`): no Job is
    /// created or deleted.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub paused: bool,
    /// Labels given to every created Job, after KEDA's own (from `metadata.labels` in a KEDA
    /// manifest).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "schema", schemars(default))]
    pub labels: BTreeMap<String, String>,
}

impl ScaledJob {
    /// A scaled job with KEDA's defaults, the given name and Job spec, and no triggers.
    pub fn new(name: impl Into<String>, job_target_ref: serde_norway::Value) -> Self {
        ScaledJob {
            name: name.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            job_target_ref,
            polling_interval: DEFAULT_POLLING_INTERVAL,
            successful_jobs_history_limit: DEFAULT_JOBS_HISTORY_LIMIT,
            failed_jobs_history_limit: DEFAULT_JOBS_HISTORY_LIMIT,
            env_source_container_name: None,
            min_replica_count: 0,
            max_replica_count: DEFAULT_MAX_REPLICA_COUNT,
            rollout: Rollout::default(),
            scaling_strategy: ScalingStrategy::default(),
            triggers: Vec::new(),
            paused: false,
            labels: BTreeMap::new(),
        }
    }

    /// `namespace/name`, as used in logs and status.
    pub fn key(&self) -> String {
        super::key(&self.namespace, &self.name)
    }

    /// The time between two polls: `pollingInterval` seconds, at least one second.
    pub fn polling_period(&self) -> std::time::Duration {
        super::polling_period(self.polling_interval)
    }

    /// The revision of the Job template: a stable hash of `jobTargetRef`, written in hex to
    /// the annotation [`SCALED_JOB_GENERATION_ANNOTATION`] of every created Job, so that a
    /// changed template can be told from Jobs of the old one.
    ///
    /// KEDA writes the ScaledJob's `metadata.generation` there; a file has no generation, so
    /// scalerd uses the template itself (the same in both modes, so a restart changes nothing).
    ///
    /// ```
    /// use scalers_core::config::ScaledJob;
    /// let a = ScaledJob::new("a", serde_norway::from_str("{template: {}}").unwrap());
    /// let b = ScaledJob::new("a", serde_norway::from_str("{template: {spec: {}}}").unwrap());
    /// assert_eq!(a.template_revision(), a.clone().template_revision());
    /// assert_ne!(a.template_revision(), b.template_revision());
    /// ```
    pub fn template_revision(&self) -> String {
        // FNV-1a over the canonical YAML text: stable across runs and builds (unlike
        // `DefaultHasher`), and mappings keep their order, so the same file gives the same
        // text.
        let text = serde_norway::to_string(&self.job_target_ref).unwrap_or_default();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    /// The scaled object its triggers are built for: same name, namespace and triggers, a
    /// `batch/v1` `Job` of its name as target (for `envSourceContainerName`).
    ///
    /// The [`Registry`](crate::trigger::Registry) builds triggers of scaled objects; a scaled
    /// job's triggers are the same triggers, read the same way.
    pub fn trigger_host(&self) -> super::ScaledObject {
        let mut host = super::ScaledObject::new(&self.name, &self.name);
        host.namespace = self.namespace.clone();
        host.scale_target_ref = super::ScaleTargetRef {
            api_version: "batch/v1".to_owned(),
            kind: "Job".to_owned(),
            name: self.name.clone(),
            env_source_container_name: self.env_source_container_name.clone(),
        };
        host.polling_interval = self.polling_interval;
        host.min_replica_count = self.min_replica_count;
        host.max_replica_count = self.max_replica_count;
        host.triggers = self.triggers.clone();
        host
    }

    /// The maximum after KEDA's rule "minReplicaCount above maxReplicaCount is lowered to it":
    /// `(min, max)`.
    pub fn bounds(&self) -> (u32, u32) {
        (
            self.min_replica_count.min(self.max_replica_count),
            self.max_replica_count,
        )
    }
}

/// KEDA's `rollout`: what a changed Job template does to the Jobs already running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct Rollout {
    /// `default` (delete the Jobs of the old template) or `gradual` (let them finish).
    #[cfg_attr(feature = "schema", schemars(default))]
    pub strategy: RolloutStrategy,
    /// How the deletions of `default` treat the Jobs' pods; default `background`.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub propagation_policy: PropagationPolicy,
}

/// KEDA's `rollout.strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RolloutStrategy {
    /// Delete the running Jobs of the old template at once (KEDA's code calls it
    /// `immediate`, which the loader accepts too).
    #[default]
    Default,
    /// Leave running Jobs alone; new Jobs come from the new template.
    Gradual,
}

/// KEDA's `rollout.propagationPolicy`: the `propagationPolicy` of the Kubernetes deletions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum PropagationPolicy {
    /// The Job goes at once, its pods are deleted in the background.
    #[default]
    Background,
    /// The Job stays until its pods are deleted.
    Foreground,
}

impl PropagationPolicy {
    /// The value of `DeleteOptions.propagationPolicy`: `Background` or `Foreground`.
    pub fn api_value(self) -> &'static str {
        match self {
            PropagationPolicy::Background => "Background",
            PropagationPolicy::Foreground => "Foreground",
        }
    }
}

/// KEDA's `scalingStrategy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(deny_unknown_fields)
)]
pub struct ScalingStrategy {
    /// `default`, `custom`, `accurate` or `eager`.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub strategy: JobScalingStrategy,
    /// `custom`: Jobs subtracted from the maximum scale; default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_scaling_queue_length_deduction: Option<i64>,
    /// `custom`: the share of running Jobs subtracted from the maximum scale (`0.5`: half).
    /// Required by `custom`: without it KEDA falls back to `default`, and so does scalerd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_scaling_running_job_percentage: Option<f64>,
    /// Pod conditions that must all be True for a Job to stop counting as pending (by
    /// default a Job is pending until a pod of it runs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(default))]
    pub pending_pod_conditions: Vec<String>,
    /// How the triggers' queue lengths combine: `max` (default), `min`, `avg` or `sum`.
    #[cfg_attr(feature = "schema", schemars(default))]
    pub multiple_scalers_calculation: MultipleScalersCalculation,
}

/// KEDA's `scalingStrategy.strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum JobScalingStrategy {
    /// New Jobs = maximum scale − running Jobs.
    #[default]
    Default,
    /// New Jobs = maximum scale − deduction − running Jobs × percentage.
    Custom,
    /// Counts the pending Jobs, for queues whose items are taken when a Job starts.
    Accurate,
    /// Fills the free slots up to the maximum while items wait.
    Eager,
}

impl JobScalingStrategy {
    /// The spelling in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobScalingStrategy::Default => "default",
            JobScalingStrategy::Custom => "custom",
            JobScalingStrategy::Accurate => "accurate",
            JobScalingStrategy::Eager => "eager",
        }
    }
}

/// KEDA's `scalingStrategy.multipleScalersCalculation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum MultipleScalersCalculation {
    /// The trigger with the longest queue.
    #[default]
    Max,
    /// The trigger with the shortest queue.
    Min,
    /// The mean of the queue lengths and of the scales.
    Avg,
    /// The sum of the queue lengths and of the scales.
    Sum,
}
