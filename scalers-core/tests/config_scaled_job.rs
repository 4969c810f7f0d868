//! KEDA's ScaledJob in configs: both formats, KEDA's defaults, and located errors from the
//! loader and from validation.

use std::sync::Arc;

use scalers_core::config::auth::offline_secrets;
use scalers_core::config::model::{
    JobScalingStrategy, MetricType, MultipleScalersCalculation, PropagationPolicy, RolloutStrategy,
};
use scalers_core::config::{load_str, validate_all_with_secrets};
use scalers_core::trigger::{MetricTarget, Registry, Sample, Trigger, TriggerError};

/// A trigger type for tests: `value` (required number), target `listLength` (default 5).
struct Fixed {
    target: f64,
}

#[async_trait::async_trait]
impl Trigger for Fixed {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.target,
            metric_type: MetricType::AverageValue,
            activation_threshold: 0.0,
        }
    }
    async fn sample(&self) -> Result<Sample, TriggerError> {
        Ok(Sample::new(1.0, 0.0))
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register("fixed", |p| {
        let target = p.f64_or("listLength", 5.0)?;
        Ok(Arc::new(Fixed { target }))
    });
    r
}

fn errors(text: &str) -> Vec<String> {
    let config = match load_str(text, "app.yaml") {
        Ok(c) => c,
        Err(e) => return e.iter().map(ToString::to_string).collect(),
    };
    match validate_all_with_secrets(
        &config,
        &registry(),
        "app.yaml",
        &|_| None,
        &offline_secrets,
    ) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const TEMPLATE: &str = "{template: {spec: {containers: [{name: worker, image: busybox}]}}}";

#[test]
fn a_keda_manifest_with_every_field() {
    let text = format!(
        r#"
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata:
  name: images
  namespace: media
  labels: {{team: media}}
  annotations: {{autoscaling.keda.sh/paused: "False"}}
spec:
  jobTargetRef: {TEMPLATE}
  pollingInterval: 10
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 2
  envSourceContainerName: worker
  minReplicaCount: 1
  maxReplicaCount: 8
  rollout: {{strategy: gradual, propagationPolicy: foreground}}
  scalingStrategy:
    strategy: custom
    customScalingQueueLengthDeduction: -1
    customScalingRunningJobPercentage: "0.5"
    pendingPodConditions: [Ready, PodScheduled]
    multipleScalersCalculation: sum
  triggers:
    - type: fixed
      metadata: {{listLength: "2"}}
"#
    );
    let config = load_str(&text, "app.yaml").unwrap();
    assert!(config.scaled_objects.is_empty());
    let job = &config.scaled_jobs[0];
    assert_eq!(job.key(), "media/images");
    assert_eq!(job.polling_interval, 10);
    assert_eq!(
        (
            job.successful_jobs_history_limit,
            job.failed_jobs_history_limit
        ),
        (3, 2)
    );
    assert_eq!(job.env_source_container_name.as_deref(), Some("worker"));
    assert_eq!((job.min_replica_count, job.max_replica_count), (1, 8));
    assert_eq!(job.rollout.strategy, RolloutStrategy::Gradual);
    assert_eq!(
        job.rollout.propagation_policy,
        PropagationPolicy::Foreground
    );
    let s = &job.scaling_strategy;
    assert_eq!(s.strategy, JobScalingStrategy::Custom);
    assert_eq!(s.custom_scaling_queue_length_deduction, Some(-1));
    assert_eq!(s.custom_scaling_running_job_percentage, Some(0.5));
    assert_eq!(s.pending_pod_conditions, ["Ready", "PodScheduled"]);
    assert_eq!(
        s.multiple_scalers_calculation,
        MultipleScalersCalculation::Sum
    );
    assert!(!job.paused);
    assert_eq!(job.labels.get("team").map(String::as_str), Some("media"));
    assert_eq!(config.job_location(0).spec, "spec");
    let validated = validate_all_with_secrets(
        &config,
        &registry(),
        "app.yaml",
        &|_| None,
        &offline_secrets,
    )
    .unwrap();
    assert_eq!(validated.jobs.len(), 1);
    assert_eq!(validated.jobs[0].triggers[0].trigger.target().value, 2.0);
}

#[test]
fn keda_defaults_and_the_pause_annotation() {
    let text = format!(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata:\n  name: a\n  \
         annotations: {{autoscaling.keda.sh/paused: \"yes\"}}\nspec:\n  jobTargetRef: {TEMPLATE}\n  \
         rolloutStrategy: gradual\n  triggers: [{{type: fixed}}]\n"
    );
    let job = load_str(&text, "app.yaml").unwrap().scaled_jobs.remove(0);
    assert_eq!(job.namespace, "default");
    assert_eq!(job.polling_interval, 30);
    assert_eq!(
        (
            job.successful_jobs_history_limit,
            job.failed_jobs_history_limit
        ),
        (100, 100)
    );
    assert_eq!((job.min_replica_count, job.max_replica_count), (0, 100));
    // The deprecated spelling applies when `rollout.strategy` is not given.
    assert_eq!(job.rollout.strategy, RolloutStrategy::Gradual);
    assert_eq!(
        job.rollout.propagation_policy,
        PropagationPolicy::Background
    );
    assert_eq!(job.scaling_strategy.strategy, JobScalingStrategy::Default);
    assert_eq!(
        job.scaling_strategy.multiple_scalers_calculation,
        MultipleScalersCalculation::Max
    );
    // Go's ParseBool does not read "yes": KEDA pauses then.
    assert!(job.paused);
}

#[test]
fn scalerds_format_has_a_scaled_jobs_list() {
    let text = format!(
        "scaledJobs:\n  - name: a\n    paused: true\n    jobTargetRef: {TEMPLATE}\n    \
         rollout: {{strategy: default}}\n    triggers: [{{type: fixed}}]\n"
    );
    let config = load_str(&text, "app.yaml").unwrap();
    assert_eq!(config.scaled_jobs[0].name, "a");
    assert!(config.scaled_jobs[0].paused);
    assert_eq!(config.job_location(0).spec, "scaledJobs[0]");
    // Only scaled jobs: still a config.
    assert_eq!(errors(&text), Vec::<String>::new());
}

#[test]
fn loader_errors_are_located() {
    let text = "scaledJobs:\n  - name: a\n    jobTargetRef: [x]\n    pollingIntervall: 3\n    \
                rollout: {strategy: fast}\n    scalingStrategy: {strategy: greedy, \
                multipleScalersCalculation: median}\n    triggers: [{type: fixed}]\n";
    assert_eq!(
        errors(text),
        [
            "app.yaml: scaledJobs[0].jobTargetRef: expected a mapping, got a list",
            "app.yaml: scaledJobs[0].pollingIntervall: unknown field, did you mean \"pollingInterval\"?",
            "app.yaml: scaledJobs[0].rollout.strategy: expected one of default, gradual, immediate, got \"fast\"",
            "app.yaml: scaledJobs[0].scalingStrategy.strategy: expected one of default, custom, accurate, eager, got \"greedy\"",
            "app.yaml: scaledJobs[0].scalingStrategy.multipleScalersCalculation: expected one of max, min, avg, sum, got \"median\"",
        ]
    );
    assert_eq!(
        errors("scaledJobs:\n  - name: a\n    triggers: []\n"),
        ["app.yaml: scaledJobs[0].jobTargetRef: required field is missing"]
    );
    assert_eq!(
        errors("scaledJobs: []\n"),
        ["app.yaml: scaledObjects: the config has no scaled objects"]
    );
}

#[test]
fn validation_errors_are_located() {
    let text = "\
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata: {name: a}
spec:
  jobTargetRef: {template: {spec: {containers: [], restartPolicy: Always}}}
  envSourceContainerName: worker
  maxReplicaCount: 0
  scalingStrategy: {strategy: custom}
  triggers:
    - {type: fixed, name: q}
    - {type: fixed, name: q, metricType: Value}
    - {type: nope}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata: {name: a}
spec:
  jobTargetRef: {}
  triggers: [{type: fixed, metadata: {listLength: ten}}]
";
    assert_eq!(
        errors(text),
        [
            "app.yaml: documents[0].spec.maxReplicaCount: must be at least 1, got 0",
            "app.yaml: documents[0].spec.scalingStrategy.customScalingRunningJobPercentage: required by strategy custom",
            "app.yaml: documents[0].spec.jobTargetRef.template.spec.containers: at least one container is required",
            "app.yaml: documents[0].spec.jobTargetRef.template.spec.restartPolicy: a Job's pods restart Never or OnFailure, got Always",
            "app.yaml: documents[0].spec.triggers[1].metricType: not supported on a scaled job (each Job takes the target's share)",
            "app.yaml: documents[0].spec.triggers[1].name: duplicate trigger name \"q\", already used by triggers[0]",
            "app.yaml: documents[0].spec.triggers[2].type: unknown trigger type \"nope\"; known types: fixed",
            "app.yaml: documents[1].spec.jobTargetRef.template: required field is missing",
            "app.yaml: documents[1].metadata.name: duplicate scaled job \"default/a\": already defined by the scaled job at documents[0].metadata",
            "app.yaml: documents[1].spec.triggers[0].metadata.listLength: expected a number, got \"ten\"",
        ]
    );
}

#[test]
fn the_template_revision_follows_the_template() {
    let load = |template: &str| {
        let text = format!(
            "scaledJobs:\n  - name: a\n    jobTargetRef: {template}\n    triggers: [{{type: fixed}}]\n"
        );
        load_str(&text, "app.yaml").unwrap().scaled_jobs.remove(0)
    };
    let a = load(TEMPLATE);
    let b = load("{template: {spec: {containers: [{name: worker, image: busybox:2}]}}}");
    assert_eq!(a.template_revision(), load(TEMPLATE).template_revision());
    assert_ne!(a.template_revision(), b.template_revision());
    assert_eq!(a.template_revision().len(), 16);
}
