//! Validation: KEDA's admission checks, behavior checks, formulas and trigger metadata, every
//! error reported at once with its file and path.

use std::collections::BTreeMap;
use std::sync::Arc;

use scalers_core::config::model::MetricType;
use scalers_core::config::{load_str, validate};
use scalers_core::trigger::{MetricTarget, Registry, Sample, Trigger, TriggerError};

/// A trigger type for tests: `value` (required number) and `threshold` (default 10).
struct Fixed {
    threshold: f64,
    activation: f64,
    value: f64,
}

#[async_trait::async_trait]
impl Trigger for Fixed {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.threshold,
            metric_type: MetricType::AverageValue,
            activation_threshold: self.activation,
        }
    }
    async fn sample(&self) -> Result<Sample, TriggerError> {
        Ok(Sample::new(self.value, self.activation))
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register("fixed", |p| {
        let value = p.required_f64("value");
        let threshold = p.f64_or("threshold", 10.0);
        let activation = p.f64_or("activationThreshold", 0.0);
        let (value, threshold, activation) = (value?, threshold?, activation?);
        Ok(Arc::new(Fixed {
            threshold,
            activation,
            value,
        }))
    });
    r.register("other", |_| {
        Ok(Arc::new(Fixed {
            threshold: 1.0,
            activation: 0.0,
            value: 0.0,
        }))
    });
    r
}

fn env(name: &str) -> Option<String> {
    (name == "QUEUE_VALUE").then(|| "12".to_owned())
}

/// Validates `text`; returns the error lines, or an empty list when valid.
fn check(text: &str) -> Vec<String> {
    let config = load_str(text, "app.yaml").unwrap_or_else(|e| panic!("load failed:\n{e}"));
    let no_auth = |_: &_, _: &_| BTreeMap::new();
    match validate(&config, &registry(), "app.yaml", &env, &no_auth) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn one(fields: &str) -> String {
    let mut text =
        String::from("scaledObjects:\n  - name: worker\n    scaleTargetRef: {name: worker}\n");
    for line in fields.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

const TRIGGER: &str = "triggers: [{type: fixed, metadata: {value: '1'}}]";

#[test]
fn a_valid_config_builds_its_triggers() {
    let text = one(TRIGGER);
    let config = load_str(&text, "app.yaml").unwrap();
    let no_auth = |_: &_, _: &_| BTreeMap::new();
    let objects = validate(&config, &registry(), "app.yaml", &env, &no_auth).unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].triggers[0].name, "fixed");
    assert_eq!(objects[0].triggers[0].trigger.target().value, 10.0);
}

#[test]
fn min_above_max_is_refused() {
    assert_eq!(
        check(&one(&format!(
            "minReplicaCount: 5\nmaxReplicaCount: 3\n{TRIGGER}"
        ))),
        ["app.yaml: scaledObjects[0].minReplicaCount: must not exceed maxReplicaCount (3), got 5"]
    );
}

#[test]
fn idle_must_be_below_min() {
    assert_eq!(
        check(&one(&format!(
            "idleReplicaCount: 2\nminReplicaCount: 2\n{TRIGGER}"
        ))),
        [
            "app.yaml: scaledObjects[0].idleReplicaCount: must be less than minReplicaCount (2), got 2"
        ]
    );
}

#[test]
fn zero_polling_interval_and_max_are_refused() {
    assert_eq!(
        check(&one(&format!(
            "pollingInterval: 0\nmaxReplicaCount: 0\n{TRIGGER}"
        ))),
        [
            "app.yaml: scaledObjects[0].pollingInterval: must be at least 1 second, got 0",
            "app.yaml: scaledObjects[0].maxReplicaCount: must be at least 1, got 0",
        ]
    );
}

#[test]
fn an_object_needs_a_trigger() {
    assert_eq!(
        check(&one("triggers: []")),
        ["app.yaml: scaledObjects[0].triggers: at least one trigger is required"]
    );
}

#[test]
fn trigger_names_are_unique() {
    let text = one(
        "triggers:\n  - {type: fixed, name: q, metadata: {value: '1'}}\n  - {type: fixed, name: q, metadata: {value: '2'}}",
    );
    assert_eq!(
        check(&text),
        [
            "app.yaml: scaledObjects[0].triggers[1].name: duplicate trigger name \"q\", already used by triggers[0]"
        ]
    );
}

#[test]
fn unknown_trigger_types_list_the_known_ones() {
    assert_eq!(
        check(&one("triggers: [{type: rabbitmq}]")),
        [
            "app.yaml: scaledObjects[0].triggers[0].type: unknown trigger type \"rabbitmq\"; known types: fixed, other"
        ]
    );
}

#[test]
fn trigger_metadata_errors_are_reported_together() {
    let text = one(
        "triggers:\n  - {type: fixed, metadata: {threshold: ten, activationThreshold: x}}\n  - {type: fixed, metadata: {value: '1', threshold: '-'}}",
    );
    assert_eq!(
        check(&text),
        [
            "app.yaml: scaledObjects[0].triggers[0].metadata.value: required parameter is missing",
            "app.yaml: scaledObjects[0].triggers[0].metadata.threshold: expected a number, got \"ten\"",
            "app.yaml: scaledObjects[0].triggers[0].metadata.activationThreshold: expected a number, got \"x\"",
            "app.yaml: scaledObjects[0].triggers[1].metadata.threshold: expected a number, got \"-\"",
        ]
    );
}

#[test]
fn from_env_parameters_resolve_and_report_missing_variables() {
    assert!(
        check(&one(
            "triggers: [{type: fixed, metadata: {valueFromEnv: QUEUE_VALUE}}]"
        ))
        .is_empty()
    );
    assert_eq!(
        check(&one(
            "triggers: [{type: fixed, metadata: {valueFromEnv: NOPE}}]"
        )),
        [
            "app.yaml: scaledObjects[0].triggers[0].metadata.valueFromEnv: environment variable NOPE is not set",
        ]
    );
}

#[test]
fn a_non_positive_target_is_refused() {
    assert_eq!(
        check(&one(
            "triggers: [{type: fixed, metadata: {value: '1', threshold: '0'}}]"
        )),
        [
            "app.yaml: scaledObjects[0].triggers[0].metadata: the target must be greater than 0, got 0"
        ]
    );
}

#[test]
fn formulas_must_parse_and_name_existing_triggers() {
    let text = one(
        "advanced:\n  scalingModifiers: {formula: 'a + nope', target: '5'}\ntriggers: [{type: fixed, name: a, metadata: {value: '1'}}]",
    );
    assert_eq!(
        check(&text),
        [
            "app.yaml: scaledObjects[0].advanced.scalingModifiers.formula: refers to \"nope\", which is not a trigger name; named triggers: a"
        ]
    );
    let text = one(
        "advanced:\n  scalingModifiers: {formula: 'a +', target: '0'}\ntriggers: [{type: fixed, name: a, metadata: {value: '1'}}]",
    );
    let errors = check(&text);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors[0],
        "app.yaml: scaledObjects[0].advanced.scalingModifiers.target: must be greater than 0, got 0"
    );
    assert!(
        errors[1].starts_with("app.yaml: scaledObjects[0].advanced.scalingModifiers.formula: "),
        "{errors:?}"
    );
}

#[test]
fn behavior_policies_are_checked() {
    let text = one(&format!(
        "advanced:\n  horizontalPodAutoscalerConfig:\n    behavior:\n      scaleUp:\n        stabilizationWindowSeconds: 4000\n        policies: [{{type: Pods, value: 0, periodSeconds: 0}}]\n      scaleDown:\n        policies: []\n        tolerance: -0.1\n{TRIGGER}"
    ));
    let base = "app.yaml: scaledObjects[0].advanced.horizontalPodAutoscalerConfig.behavior";
    assert_eq!(
        check(&text),
        [
            format!("{base}.scaleUp.stabilizationWindowSeconds: must be at most 3600, got 4000"),
            format!("{base}.scaleUp.policies[0].value: must be greater than 0, got 0"),
            format!("{base}.scaleUp.policies[0].periodSeconds: must be between 1 and 1800, got 0"),
            format!("{base}.scaleDown.tolerance: must not be negative, got -0.1"),
            format!("{base}.scaleDown.policies: must specify at least one policy"),
        ]
    );
}

#[test]
fn duplicate_objects_and_shared_targets_are_refused() {
    let text = format!(
        "scaledObjects:\n  - {{name: a, scaleTargetRef: {{name: w}}, {TRIGGER_INLINE}}}\n  - {{name: a, scaleTargetRef: {{name: w}}, {TRIGGER_INLINE}}}\n  - {{name: b, namespace: other, scaleTargetRef: {{name: w}}, {TRIGGER_INLINE}}}\n"
    );
    assert_eq!(
        check(&text),
        [
            "app.yaml: scaledObjects[1].name: duplicate scaled object \"default/a\": already defined by the object at scaledObjects[0]",
            "app.yaml: scaledObjects[1].scaleTargetRef.name: Deployment default/w is already scaled by \"a\"; one scaled object per workload",
        ]
    );
}

const TRIGGER_INLINE: &str = "triggers: [{type: fixed, metadata: {value: '1'}}]";

#[test]
fn keda_manifest_errors_use_document_paths() {
    let text = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec:\n  scaleTargetRef: {name: w}\n  minReplicaCount: 4\n  maxReplicaCount: 2\n  triggers: [{type: fixed, metadata: {value: x}}]\n---\napiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec:\n  scaleTargetRef: {name: v}\n  triggers: [{type: fixed, metadata: {value: '1'}}]\n";
    assert_eq!(
        check(text),
        [
            "app.yaml: documents[0].spec.minReplicaCount: must not exceed maxReplicaCount (2), got 4",
            "app.yaml: documents[0].spec.triggers[0].metadata.value: expected a number, got \"x\"",
            "app.yaml: documents[1].metadata.name: duplicate scaled object \"default/a\": already defined by the object at documents[0].metadata",
        ]
    );
}
