//! Tests of the YAML config loader: both formats, defaults, and every error form.

use std::collections::BTreeMap;

use scalers_core::config::model::*;
use scalers_core::config::{load_file, load_str};
use scalers_core::error::{ConfigError, ConfigErrors, Error};

const FILE: &str = "app.yaml";

/// Loads `text`, panicking with the errors if it is invalid.
fn load(text: &str) -> Config {
    match load_str(text, FILE) {
        Ok(config) => config,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

/// Loads `text`, which must be invalid, and returns each error as displayed.
fn errors(text: &str) -> Vec<String> {
    match load_str(text, FILE) {
        Ok(config) => panic!("unexpectedly valid: {config:?}"),
        Err(errors) => {
            assert!(!errors.is_empty());
            assert_eq!(errors.len(), errors.iter().count());
            errors.iter().map(ToString::to_string).collect()
        }
    }
}

/// Asserts that `text` fails with exactly the one error `expected`.
#[track_caller]
fn assert_error(text: &str, expected: &str) {
    assert_eq!(errors(text), [expected]);
}

/// The one scaled object of scalerd's own format with `fields` added to a valid minimal one.
fn own(fields: &str) -> String {
    let mut text = String::from(
        "scaledObjects:\n  - name: worker\n    scaleTargetRef: {name: worker}\n    \
         triggers: [{type: cpu}]\n",
    );
    for line in fields.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A trigger with only a type, as in `own`.
fn cpu() -> TriggerSpec {
    TriggerSpec::new("cpu")
}

fn metadata(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const FULL: &str = r#"
scaledObjects:
  - name: worker
    namespace: jobs
    scaleTargetRef:
      apiVersion: argoproj.io/v1alpha1
      kind: Rollout
      name: worker-rollout
      envSourceContainerName: main
    pollingInterval: 15
    cooldownPeriod: 120
    initialCooldownPeriod: 60
    idleReplicaCount: 0
    minReplicaCount: 1
    maxReplicaCount: 20
    fallback:
      failureThreshold: 3
      replicas: 6
      behavior: currentReplicasIfHigher
    advanced:
      restoreToOriginalReplicaCount: true
      horizontalPodAutoscalerConfig:
        name: worker-hpa
        behavior:
          scaleUp:
            stabilizationWindowSeconds: 0
            selectPolicy: Max
            policies:
              - type: Pods
                value: 4
                periodSeconds: 15
              - type: Percent
                value: 100
                periodSeconds: 15
            tolerance: 0.05
          scaleDown:
            stabilizationWindowSeconds: 300
            selectPolicy: Disabled
            policies:
              - {type: Percent, value: 50, periodSeconds: 60}
            tolerance: "50m"
      scalingModifiers:
        formula: "queue + lag"
        target: "10"
        activationTarget: 2.5
        metricType: Value
    triggers:
      - type: prometheus
        name: queue
        metadata:
          serverAddress: http://prometheus:9090
          query: sum(queue_depth)
          threshold: "5"
        metricType: Value
        authenticationRef:
          name: prom-auth
          kind: ClusterTriggerAuthentication
        useCachedMetrics: true
      - type: kafka
        name: lag
        metadata:
          topic: jobs
    paused: true
    pausedReplicaCount: 2
    pausedScaleIn: true
    pausedScaleOut: true
  - name: web
    scaleTargetRef:
      name: web
    triggers:
      - type: cpu
        metadata: {value: "60"}
"#;

fn full_expected() -> Config {
    let worker = ScaledObject {
        name: "worker".to_owned(),
        namespace: "jobs".to_owned(),
        scale_target_ref: ScaleTargetRef {
            api_version: "argoproj.io/v1alpha1".to_owned(),
            kind: "Rollout".to_owned(),
            name: "worker-rollout".to_owned(),
            env_source_container_name: Some("main".to_owned()),
        },
        polling_interval: 15,
        cooldown_period: 120,
        initial_cooldown_period: 60,
        idle_replica_count: Some(0),
        min_replica_count: 1,
        max_replica_count: 20,
        fallback: Some(Fallback {
            failure_threshold: 3,
            replicas: 6,
            behavior: FallbackBehavior::CurrentReplicasIfHigher,
        }),
        advanced: Advanced {
            horizontal_pod_autoscaler_config: Some(HorizontalPodAutoscalerConfig {
                name: Some("worker-hpa".to_owned()),
                behavior: Some(Behavior {
                    scale_up: Some(ScalingRules {
                        stabilization_window_seconds: Some(0),
                        select_policy: Some(SelectPolicy::Max),
                        policies: Some(vec![
                            ScalingPolicy {
                                policy_type: PolicyType::Pods,
                                value: 4,
                                period_seconds: 15,
                            },
                            ScalingPolicy {
                                policy_type: PolicyType::Percent,
                                value: 100,
                                period_seconds: 15,
                            },
                        ]),
                        tolerance: Some(0.05),
                    }),
                    scale_down: Some(ScalingRules {
                        stabilization_window_seconds: Some(300),
                        select_policy: Some(SelectPolicy::Disabled),
                        policies: Some(vec![ScalingPolicy {
                            policy_type: PolicyType::Percent,
                            value: 50,
                            period_seconds: 60,
                        }]),
                        tolerance: Some(0.05),
                    }),
                }),
            }),
            scaling_modifiers: Some(ScalingModifiers {
                formula: "queue + lag".to_owned(),
                target: 10.0,
                activation_target: 2.5,
                metric_type: MetricType::Value,
            }),
            restore_to_original_replica_count: true,
        },
        triggers: vec![
            TriggerSpec {
                trigger_type: "prometheus".to_owned(),
                name: Some("queue".to_owned()),
                metadata: metadata(&[
                    ("serverAddress", "http://prometheus:9090"),
                    ("query", "sum(queue_depth)"),
                    ("threshold", "5"),
                ]),
                metric_type: MetricType::Value,
                authentication_ref: Some(AuthenticationRef {
                    name: "prom-auth".to_owned(),
                    kind: Some("ClusterTriggerAuthentication".to_owned()),
                }),
                use_cached_metrics: true,
            },
            TriggerSpec {
                name: Some("lag".to_owned()),
                metadata: metadata(&[("topic", "jobs")]),
                ..TriggerSpec::new("kafka")
            },
        ],
        paused: true,
        paused_replica_count: Some(2),
        paused_scale_in: true,
        paused_scale_out: true,
    };
    let mut web = ScaledObject::new("web", "web");
    web.triggers = vec![TriggerSpec {
        metadata: metadata(&[("value", "60")]),
        ..TriggerSpec::new("cpu")
    }];
    Config {
        scaled_objects: vec![worker, web],
        locations: vec![Location::own_format(0), Location::own_format(1)],
        ..Config::default()
    }
}

/// The location of a KEDA manifest object whose paths start with `prefix`.
fn keda_location(prefix: &str) -> Location {
    Location {
        spec: format!("{prefix}spec"),
        metadata: format!("{prefix}metadata"),
    }
}

#[test]
fn own_format_with_every_field() {
    assert_eq!(load(FULL), full_expected());
}

#[test]
fn own_format_defaults() {
    let config = load(
        "scaledObjects:\n  - name: api\n    scaleTargetRef: {name: api-deploy}\n    \
         triggers:\n      - type: cpu\n      - type: memory\n        \
         authenticationRef: {name: creds}\n",
    );
    let [object] = config.scaled_objects.as_slice() else {
        panic!("expected one object: {config:?}");
    };
    assert_eq!(object.name, "api");
    assert_eq!(object.namespace, "default");
    assert_eq!(object.namespace, DEFAULT_NAMESPACE);
    assert_eq!(object.scale_target_ref.api_version, "apps/v1");
    assert_eq!(object.scale_target_ref.kind, "Deployment");
    assert_eq!(object.scale_target_ref.name, "api-deploy");
    assert_eq!(object.scale_target_ref.env_source_container_name, None);
    assert_eq!(object.polling_interval, 30);
    assert_eq!(object.cooldown_period, 300);
    assert_eq!(object.initial_cooldown_period, 0);
    assert_eq!(object.idle_replica_count, None);
    assert_eq!(object.min_replica_count, 0);
    assert_eq!(object.max_replica_count, 100);
    assert_eq!(object.fallback, None);
    assert_eq!(object.advanced.horizontal_pod_autoscaler_config, None);
    assert_eq!(object.advanced.scaling_modifiers, None);
    assert!(!object.advanced.restore_to_original_replica_count);
    assert!(!object.paused);
    assert_eq!(object.paused_replica_count, None);
    let [cpu, memory] = object.triggers.as_slice() else {
        panic!("expected two triggers: {object:?}");
    };
    assert_eq!(cpu.trigger_type, "cpu");
    assert_eq!(cpu.name, None);
    assert!(cpu.metadata.is_empty());
    assert_eq!(cpu.metric_type, MetricType::AverageValue);
    assert_eq!(cpu.authentication_ref, None);
    assert!(!cpu.use_cached_metrics);
    assert_eq!(
        memory.authentication_ref,
        Some(AuthenticationRef {
            name: "creds".to_owned(),
            kind: None,
        })
    );
    // Everything is as the model's own constructor has it.
    let mut expected = ScaledObject::new("api", "api-deploy");
    expected.triggers = vec![
        TriggerSpec::new("cpu"),
        TriggerSpec {
            authentication_ref: memory.authentication_ref.clone(),
            ..TriggerSpec::new("memory")
        },
    ];
    assert_eq!(*object, expected);
}

#[test]
fn nested_defaults() {
    let config = load(&own("fallback: {failureThreshold: 2, replicas: 5}\n\
         advanced:\n  \
           horizontalPodAutoscalerConfig: {behavior: {scaleUp: {}}}\n  \
           scalingModifiers: {formula: a + b, target: 3}"));
    let object = &config.scaled_objects[0];
    assert_eq!(
        object.fallback,
        Some(Fallback {
            failure_threshold: 2,
            replicas: 5,
            behavior: FallbackBehavior::Static,
        })
    );
    assert_eq!(
        object.behavior(),
        Some(&Behavior {
            scale_up: Some(ScalingRules::default()),
            scale_down: None,
        })
    );
    assert_eq!(
        object.advanced.scaling_modifiers,
        Some(ScalingModifiers {
            formula: "a + b".to_owned(),
            target: 3.0,
            activation_target: 0.0,
            metric_type: MetricType::AverageValue,
        })
    );
}

#[test]
fn null_means_absent() {
    let config = load(&own("namespace: null\n\
         pollingInterval: ~\n\
         idleReplicaCount:\n\
         fallback: null\n\
         advanced: null\n\
         paused: null\n\
         pausedReplicaCount: null"));
    let mut expected = ScaledObject::new("worker", "worker");
    expected.triggers = vec![cpu()];
    assert_eq!(config.scaled_objects, [expected]);
}

#[test]
fn tolerance_quantities() {
    for (written, expected) in [
        ("0.1", 0.1),
        ("\"0.05\"", 0.05),
        ("\"50m\"", 0.05),
        ("\"100m\"", 0.1),
        ("\"1e-1\"", 0.1),
        ("1", 1.0),
    ] {
        let config = load(&own(&format!(
            "advanced: {{horizontalPodAutoscalerConfig: {{behavior: \
             {{scaleDown: {{tolerance: {written}}}}}}}}}"
        )));
        let rules = config.scaled_objects[0]
            .behavior()
            .unwrap()
            .scale_down
            .clone();
        assert_eq!(rules.unwrap().tolerance, Some(expected), "{written}");
    }
}

#[test]
fn trigger_metadata_is_stringified() {
    let config = load(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w}\n    triggers:\n      \
         - type: prometheus\n        metadata:\n          threshold: 5\n          \
         activationThreshold: 0.5\n          ignoreNullValues: true\n          \
         unsafeSsl: false\n          query: 'sum(x)'\n          empty:\n          \
         quoted: \"10\"\n          negative: -3\n",
    );
    assert_eq!(
        config.scaled_objects[0].triggers[0].metadata,
        metadata(&[
            ("threshold", "5"),
            ("activationThreshold", "0.5"),
            ("ignoreNullValues", "true"),
            ("unsafeSsl", "false"),
            ("query", "sum(x)"),
            ("empty", ""),
            ("quoted", "10"),
            ("negative", "-3"),
        ])
    );
}

const KEDA_SINGLE: &str = r#"
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: orders
  namespace: shop
  labels:
    app.kubernetes.io/name: orders
  annotations:
    autoscaling.keda.sh/paused: "true"
    autoscaling.keda.sh/paused-replicas: "3"
    kubectl.kubernetes.io/last-applied-configuration: "{}"
  uid: 0a1b2c
  resourceVersion: "42"
  generation: 7
  creationTimestamp: "2024-01-01T00:00:00Z"
  finalizers: [finalizer.keda.sh]
spec:
  scaleTargetRef:
    name: orders
  minReplicaCount: 1
  maxReplicaCount: 8
  triggers:
    - type: redis
      metadata:
        listName: orders
        listLength: 10
status:
  conditions:
    - type: Ready
      status: "True"
"#;

#[test]
fn keda_single_manifest() {
    let mut expected = ScaledObject::new("orders", "orders");
    expected.namespace = "shop".to_owned();
    expected.min_replica_count = 1;
    expected.max_replica_count = 8;
    expected.triggers = vec![TriggerSpec {
        metadata: metadata(&[("listName", "orders"), ("listLength", "10")]),
        ..TriggerSpec::new("redis")
    }];
    expected.paused = true;
    expected.paused_replica_count = Some(3);
    let config = load(KEDA_SINGLE);
    assert_eq!(config.scaled_objects, [expected]);
    assert_eq!(config.locations, [keda_location("")]);
    assert_eq!(config.location(0).spec, "spec");
}

#[test]
fn keda_multiple_documents() {
    let text = "---\n\
        apiVersion: keda.sh/v1alpha1\n\
        kind: ScaledObject\n\
        metadata:\n  name: a\n  annotations:\n    autoscaling.keda.sh/paused: \"false\"\n\
        spec:\n  scaleTargetRef: {name: a}\n  triggers: [{type: cpu}]\n\
        ---\n\
        # only a comment\n\
        ---\n\
        apiVersion: keda.sh/v1alpha1\n\
        kind: ScaledObject\n\
        metadata:\n  name: b\n  namespace: ops\n  annotations:\n    \
        autoscaling.keda.sh/paused: \"yes please\"\n\
        spec:\n  scaleTargetRef: {kind: StatefulSet, name: b}\n  triggers: [{type: cpu}]\n\
        ---\n\
        apiVersion: keda.sh/v1alpha1\n\
        kind: ScaledObject\n\
        metadata:\n  name: c\n  annotations:\n    \
        autoscaling.keda.sh/paused-replicas: \"0\"\n\
        spec:\n  scaleTargetRef: {name: c}\n  triggers: [{type: cpu}]\n\
        ---\n";
    let mut a = ScaledObject::new("a", "a");
    a.triggers = vec![cpu()];
    let mut b = ScaledObject::new("b", "b");
    b.namespace = "ops".to_owned();
    b.scale_target_ref.kind = "StatefulSet".to_owned();
    b.triggers = vec![cpu()];
    b.paused = true;
    let mut c = ScaledObject::new("c", "c");
    c.triggers = vec![cpu()];
    c.paused_replica_count = Some(0);
    let config = load(text);
    assert_eq!(config.scaled_objects, [a, b, c]);
    // Positions count every document, empty ones included.
    assert_eq!(
        config.locations,
        [
            keda_location("documents[0]."),
            keda_location("documents[2]."),
            keda_location("documents[3]."),
        ]
    );
}

#[test]
fn both_formats_give_the_same_config() {
    let keda = load(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n\
         metadata: {name: worker}\n\
         spec:\n  scaleTargetRef: {name: worker}\n  triggers: [{type: cpu}]\n",
    );
    let own = load(&own(""));
    assert_eq!(keda.scaled_objects, own.scaled_objects);
    assert_eq!(keda.locations, [keda_location("")]);
    assert_eq!(own.locations, [Location::own_format(0)]);
}

#[test]
fn yaml_merge_keys_and_tags() {
    let config = load(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w}\n    \
         triggers:\n      - &base {type: cpu, metadata: {value: !custom \"50\"}}\n      \
         - <<: *base\n        name: second\n",
    );
    let triggers = &config.scaled_objects[0].triggers;
    assert_eq!(triggers[0].metadata, metadata(&[("value", "50")]));
    assert_eq!(triggers[1].trigger_type, "cpu");
    assert_eq!(triggers[1].name.as_deref(), Some("second"));
}

// --- errors -------------------------------------------------------------------------------

#[test]
fn error_display_and_fields() {
    let Err(ConfigErrors(list)) = load_str(&own("pollingInterval: ten"), "x.yaml") else {
        panic!("expected an error");
    };
    assert_eq!(
        list,
        [ConfigError {
            file: "x.yaml".to_owned(),
            path: "scaledObjects[0].pollingInterval".to_owned(),
            message: "expected a whole number, got \"ten\"".to_owned(),
        }]
    );
}

#[test]
fn wrong_type_messages() {
    assert_error(
        &own("pollingInterval: ten"),
        r#"app.yaml: scaledObjects[0].pollingInterval: expected a whole number, got "ten""#,
    );
    assert_error(
        &own("pollingInterval: \"30\""),
        r#"app.yaml: scaledObjects[0].pollingInterval: expected a whole number, got "30""#,
    );
    assert_error(
        &own("advanced: {scalingModifiers: {formula: a, target: [1]}}"),
        "app.yaml: scaledObjects[0].advanced.scalingModifiers.target: \
         expected a number, got a list",
    );
    assert_error(
        &own("paused: yes"),
        r#"app.yaml: scaledObjects[0].paused: expected true or false, got "yes""#,
    );
    assert_error(
        &own("namespace: {a: 1}"),
        "app.yaml: scaledObjects[0].namespace: expected a string, got a mapping",
    );
    assert_error(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w}\n    triggers: x\n",
        r#"app.yaml: scaledObjects[0].triggers: expected a list, got "x""#,
    );
    assert_error(
        &own("fallback: 3"),
        "app.yaml: scaledObjects[0].fallback: expected a mapping, got 3",
    );
    assert_error(
        "scaledObjects:\n  - name: 5\n    scaleTargetRef: {name: w}\n",
        "app.yaml: scaledObjects[0].name: expected a string, got 5",
    );
    assert_error(
        &own("advanced: {restoreToOriginalReplicaCount: null, scalingModifiers: true}"),
        "app.yaml: scaledObjects[0].advanced.scalingModifiers: \
         expected a mapping, got true",
    );
    assert_error(
        "scaledObjects: [null]\n",
        "app.yaml: scaledObjects[0]: expected a mapping, got null",
    );
    assert_error("- a\n- b\n", "app.yaml: expected a mapping, got a list");
}

#[test]
fn count_messages() {
    assert_error(
        &own("minReplicaCount: -1"),
        "app.yaml: scaledObjects[0].minReplicaCount: expected a non-negative whole number, got -1",
    );
    assert_error(
        &own("maxReplicaCount: 2.5"),
        "app.yaml: scaledObjects[0].maxReplicaCount: expected a whole number, got 2.5",
    );
    assert_error(
        &own("maxReplicaCount: 3.0"),
        "app.yaml: scaledObjects[0].maxReplicaCount: expected a whole number, got 3.0",
    );
    assert_error(
        &own("cooldownPeriod: 4294967296"),
        "app.yaml: scaledObjects[0].cooldownPeriod: \
         expected a whole number at most 4294967295, got 4294967296",
    );
    assert_eq!(
        load(&own("cooldownPeriod: 4294967295")).scaled_objects[0].cooldown_period,
        u32::MAX
    );
}

#[test]
fn number_messages() {
    assert_error(
        &own("advanced: {scalingModifiers: {formula: a, target: abc}}"),
        r#"app.yaml: scaledObjects[0].advanced.scalingModifiers.target: expected a number, got "abc""#,
    );
    assert_error(
        &own("advanced: {scalingModifiers: {formula: a, target: 1, activationTarget: \"inf\"}}"),
        "app.yaml: scaledObjects[0].advanced.scalingModifiers.activationTarget: \
         expected a number, got \"inf\"",
    );
    assert_error(
        &own("advanced: {horizontalPodAutoscalerConfig: {behavior: {scaleUp: {tolerance: 5x}}}}"),
        "app.yaml: scaledObjects[0].advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.\
         tolerance: expected a number or a quantity such as \"50m\", got \"5x\"",
    );
}

#[test]
fn enum_messages() {
    assert_error(
        &own(
            "advanced:\n  horizontalPodAutoscalerConfig:\n    behavior:\n      scaleUp:\n        \
             policies: [{type: pods, value: 1, periodSeconds: 15}]",
        ),
        "app.yaml: scaledObjects[0].advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.\
         policies[0].type: expected one of Pods, Percent, got \"pods\"",
    );
    assert_error(
        &own("fallback: {failureThreshold: 1, replicas: 1, behavior: current}"),
        "app.yaml: scaledObjects[0].fallback.behavior: expected one of static, \
         currentReplicas, currentReplicasIfHigher, currentReplicasIfLower, scalingModifiers, \
         got \"current\"",
    );
    assert_error(
        &own(
            "advanced: {horizontalPodAutoscalerConfig: {behavior: {scaleDown: {selectPolicy: 1}}}}",
        ),
        "app.yaml: scaledObjects[0].advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.\
         selectPolicy: expected one of Max, Min, Disabled, got 1",
    );
    assert_error(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w}\n    \
         triggers: [{type: cpu}, {type: cpu, metricType: Utilization}]\n",
        "app.yaml: scaledObjects[0].triggers[1].metricType: \
         expected one of AverageValue, Value, got \"Utilization\"",
    );
}

#[test]
fn required_field_messages() {
    assert_error(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {kind: StatefulSet}\n",
        "app.yaml: scaledObjects[0].scaleTargetRef.name: required field is missing",
    );
    assert_eq!(
        errors("scaledObjects:\n  - namespace: x\n"),
        [
            "app.yaml: scaledObjects[0].name: required field is missing",
            "app.yaml: scaledObjects[0].scaleTargetRef: required field is missing",
        ]
    );
    assert_eq!(
        errors(&own("fallback: {behavior: static}\n\
             advanced:\n  \
               scalingModifiers: {metricType: Value}\n  \
               horizontalPodAutoscalerConfig: {behavior: {scaleUp: {policies: [{}]}}}")),
        [
            "app.yaml: scaledObjects[0].fallback.failureThreshold: required field is missing",
            "app.yaml: scaledObjects[0].fallback.replicas: required field is missing",
            "app.yaml: scaledObjects[0].advanced.scalingModifiers.formula: \
             required field is missing",
            "app.yaml: scaledObjects[0].advanced.scalingModifiers.target: \
             required field is missing",
            "app.yaml: scaledObjects[0].advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.\
             policies[0].type: required field is missing",
            "app.yaml: scaledObjects[0].advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.\
             policies[0].value: required field is missing",
            "app.yaml: scaledObjects[0].advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.\
             policies[0].periodSeconds: required field is missing",
        ]
    );
    assert_eq!(
        errors(
            "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w}\n    \
             triggers:\n      - name: t\n        authenticationRef: {kind: X}\n"
        ),
        [
            "app.yaml: scaledObjects[0].triggers[0].authenticationRef.name: \
             required field is missing",
            "app.yaml: scaledObjects[0].triggers[0].type: required field is missing",
        ]
    );
    // null for a required field is a missing field.
    assert_error(
        "scaledObjects:\n  - name: ~\n    scaleTargetRef: {name: w}\n",
        "app.yaml: scaledObjects[0].name: required field is missing",
    );
    assert_error(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: \"\"}\n",
        r#"app.yaml: scaledObjects[0].scaleTargetRef.name: expected a non-empty string, got """#,
    );
}

#[test]
fn unknown_field_messages() {
    assert_error(
        &own("pollingIntervall: 10"),
        r#"app.yaml: scaledObjects[0].pollingIntervall: unknown field, did you mean "pollingInterval"?"#,
    );
    assert_error(
        &own("MaxReplicaCount: 10"),
        r#"app.yaml: scaledObjects[0].MaxReplicaCount: unknown field, did you mean "maxReplicaCount"?"#,
    );
    assert_error(
        &own("spec: {}"),
        "app.yaml: scaledObjects[0].spec: unknown field; expected one of name, namespace, \
         scaleTargetRef, pollingInterval, cooldownPeriod, initialCooldownPeriod, \
         idleReplicaCount, minReplicaCount, maxReplicaCount, fallback, advanced, triggers, \
         paused, pausedReplicaCount, pausedScaleIn, pausedScaleOut",
    );
    assert_error(
        &own("fallback: {failureThreshold: 1, replicas: 1, mode: static}"),
        "app.yaml: scaledObjects[0].fallback.mode: unknown field; \
         expected one of failureThreshold, replicas, behavior",
    );
    assert_error(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w, \"api version\": v1}\n",
        r#"app.yaml: scaledObjects[0].scaleTargetRef["api version"]: unknown field, did you mean "apiVersion"?"#,
    );
    assert_error(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w, app/v1: v1}\n",
        r#"app.yaml: scaledObjects[0].scaleTargetRef["app/v1"]: unknown field; expected one of apiVersion, kind, name, envSourceContainerName"#,
    );
    assert_eq!(
        errors(&(own("") + "authentication: []\n")),
        [r#"app.yaml: authentication: unknown field, did you mean "authentications"?"#]
    );
    assert_eq!(
        errors(&(own("") + "secrets: []\n")),
        [
            "app.yaml: secrets: unknown field; expected one of scaledObjects, scaledJobs, authentications"
        ]
    );
    // A misspelt top-level key also leaves the config without scaled objects.
    assert_eq!(
        errors("scaledObject:\n  - name: w\n"),
        [
            r#"app.yaml: scaledObject: unknown field, did you mean "scaledObjects"?"#,
            "app.yaml: scaledObjects: the config has no scaled objects",
        ]
    );
}

#[test]
fn trigger_metadata_messages() {
    assert_eq!(
        errors(
            "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w}\n    triggers:\n      \
             - type: kafka\n        metadata:\n          brokers: [a, b]\n          \
             sasl: {mode: plain}\n          1: one\n          \
             consumer.group: [x]\n"
        ),
        [
            "app.yaml: scaledObjects[0].triggers[0].metadata.brokers: expected a string, got a list",
            "app.yaml: scaledObjects[0].triggers[0].metadata.sasl: expected a string, got a mapping",
            "app.yaml: scaledObjects[0].triggers[0].metadata: expected a string key, got 1",
            r#"app.yaml: scaledObjects[0].triggers[0].metadata["consumer.group"]: expected a string, got a list"#,
        ]
    );
    assert_error(
        "scaledObjects:\n  - name: w\n    scaleTargetRef: {name: w}\n    \
         triggers: [{type: cpu, metadata: [value]}]\n",
        "app.yaml: scaledObjects[0].triggers[0].metadata: expected a mapping, got a list",
    );
}

#[test]
fn no_scaled_objects() {
    assert_error(
        "",
        "app.yaml: scaledObjects: the config has no scaled objects",
    );
    assert_error(
        "# nothing yet\n",
        "app.yaml: scaledObjects: the config has no scaled objects",
    );
    assert_error(
        "scaledObjects: []\n",
        "app.yaml: scaledObjects: the config has no scaled objects",
    );
    assert_error(
        "scaledObjects:\n",
        "app.yaml: scaledObjects: the config has no scaled objects",
    );
    assert_error("---\n---\n", "app.yaml: the config has no scaled objects");
}

#[test]
fn several_documents_in_own_format() {
    assert_error(
        &(own("") + "---\nscaledObjects: []\n"),
        "app.yaml: documents[1]: a scalerd config is a single YAML document; \
         only KEDA manifests can span several",
    );
}

#[test]
fn all_errors_in_document_order() {
    let text = "\
scaledObjects:
  - name: a
    scaleTargetRef: {name: a}
    pollingInterval: -5
    triggers:
      - type: cpu
        metricType: average
      - metadata: {x: 1}
  - name: b
    scaleTargetRef: {name: b}
    minReplicaCount: one
    cooldown: 10
    maxReplicaCount: 1.5
  - name: c
    scaleTargetRef: {name: c}
    triggers: [{type: cpu}]
  - scaleTargetRef: {}
    paused: 1
";
    assert_eq!(
        errors(text),
        [
            "app.yaml: scaledObjects[0].pollingInterval: expected a non-negative whole number, got -5",
            "app.yaml: scaledObjects[0].triggers[0].metricType: \
             expected one of AverageValue, Value, got \"average\"",
            "app.yaml: scaledObjects[0].triggers[1].type: required field is missing",
            r#"app.yaml: scaledObjects[1].minReplicaCount: expected a whole number, got "one""#,
            "app.yaml: scaledObjects[1].cooldown: unknown field; expected one of name, \
             namespace, scaleTargetRef, pollingInterval, cooldownPeriod, initialCooldownPeriod, \
             idleReplicaCount, minReplicaCount, maxReplicaCount, fallback, advanced, triggers, \
             paused, pausedReplicaCount, pausedScaleIn, pausedScaleOut",
            "app.yaml: scaledObjects[1].maxReplicaCount: expected a whole number, got 1.5",
            "app.yaml: scaledObjects[3].scaleTargetRef.name: required field is missing",
            "app.yaml: scaledObjects[3].paused: expected true or false, got 1",
            "app.yaml: scaledObjects[3].name: required field is missing",
        ]
    );
}

#[test]
fn yaml_syntax_error_has_its_location() {
    let errors = errors("scaledObjects:\n  - name: w\n    triggers: [a, b\n");
    let [error] = errors.as_slice() else {
        panic!("expected one error: {errors:?}");
    };
    assert!(error.starts_with("app.yaml: invalid YAML: "), "{error}");
    // Where the unclosed bracket opens.
    assert!(error.contains("line 3, column 15"), "{error}");
    let Err(ConfigErrors(list)) = load_str("a: [", FILE) else {
        panic!("expected an error");
    };
    assert_eq!(list[0].path, "");
    assert!(list[0].message.contains("line "), "{}", list[0].message);
}

#[test]
fn duplicate_keys_are_invalid_yaml() {
    let errors = errors(&own("pollingInterval: 1\npollingInterval: 2"));
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("app.yaml: invalid YAML: "),
        "{errors:?}"
    );
    assert!(errors[0].contains("pollingInterval"), "{errors:?}");
}

#[test]
fn long_strings_are_shortened() {
    let long = "x".repeat(100);
    assert_error(
        &own(&format!("pollingInterval: {long}")),
        &format!(
            "app.yaml: scaledObjects[0].pollingInterval: expected a whole number, got \"{}…\"",
            "x".repeat(60)
        ),
    );
}

// --- KEDA manifest errors -----------------------------------------------------------------

/// A valid KEDA manifest named `name`, with more metadata lines and spec lines.
fn manifest(name: &str, metadata_lines: &str, spec_lines: &str) -> String {
    let mut text =
        format!("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: {name}\n");
    for line in metadata_lines.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("spec:\n  scaleTargetRef: {name: t}\n");
    for line in spec_lines.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[test]
fn keda_paused_scale_in_and_out_annotations_are_read_as_booleans() {
    let config = load(&manifest(
        "a",
        "annotations:\n  autoscaling.keda.sh/paused-scale-in: \"true\"\n  \
         autoscaling.keda.sh/paused-scale-out: \"false\"",
        "triggers: [{type: cpu}]",
    ));
    let o = &config.scaled_objects[0];
    assert_eq!((o.paused_scale_in, o.paused_scale_out), (true, false));
    assert!(!o.paused && o.is_paused_in_some_direction() && o.is_paused());

    // Go's strconv.ParseBool spellings.
    let config = load(&manifest(
        "a",
        "annotations:\n  autoscaling.keda.sh/paused-scale-in: \"0\"\n  \
         autoscaling.keda.sh/paused-scale-out: \"True\"",
        "triggers: [{type: cpu}]",
    ));
    let o = &config.scaled_objects[0];
    assert_eq!((o.paused_scale_in, o.paused_scale_out), (false, true));

    let config = load(&manifest("a", "", "triggers: [{type: cpu}]"));
    let o = &config.scaled_objects[0];
    assert_eq!((o.paused_scale_in, o.paused_scale_out), (false, false));
    assert!(!o.is_paused_in_some_direction() && !o.is_paused());
}

#[test]
fn keda_paused_scale_in_and_out_annotations_refuse_other_values() {
    assert_error(
        &manifest(
            "a",
            "annotations:\n  autoscaling.keda.sh/paused-scale-in: \"x\"",
            "",
        ),
        "app.yaml: metadata.annotations[\"autoscaling.keda.sh/paused-scale-in\"]: \
         expected true or false, got \"x\"",
    );
    assert_error(
        &manifest(
            "a",
            "annotations:\n  autoscaling.keda.sh/paused-scale-out: \"yes\"",
            "",
        ),
        "app.yaml: metadata.annotations[\"autoscaling.keda.sh/paused-scale-out\"]: \
         expected true or false, got \"yes\"",
    );
    assert_error(
        &manifest(
            "a",
            "annotations:\n  autoscaling.keda.sh/paused-scale-out: true",
            "",
        ),
        "app.yaml: metadata.annotations[\"autoscaling.keda.sh/paused-scale-out\"]: \
         expected a string, got true",
    );
}

#[test]
fn own_format_paused_scale_in_and_out_fields() {
    let config = load(&own("pausedScaleIn: true\npausedScaleOut: false"));
    let o = &config.scaled_objects[0];
    assert_eq!((o.paused_scale_in, o.paused_scale_out), (true, false));
    let config = load(&own("pausedScaleOut: true"));
    let o = &config.scaled_objects[0];
    assert_eq!((o.paused_scale_in, o.paused_scale_out), (false, true));
    assert_error(
        &own("pausedScaleIn: \"true\""),
        r#"app.yaml: scaledObjects[0].pausedScaleIn: expected true or false, got "true""#,
    );
    assert_error(
        &own("pausedScaleOut: 1"),
        "app.yaml: scaledObjects[0].pausedScaleOut: expected true or false, got 1",
    );
}

#[test]
fn keda_single_document_paths_are_not_prefixed() {
    assert_error(
        &manifest("a", "", "pollingInterval: fast"),
        r#"app.yaml: spec.pollingInterval: expected a whole number, got "fast""#,
    );
    assert_error(
        &manifest("a", "", "paused: true"),
        "app.yaml: spec.paused: unknown field; expected one of scaleTargetRef, \
         pollingInterval, cooldownPeriod, initialCooldownPeriod, idleReplicaCount, \
         minReplicaCount, maxReplicaCount, fallback, advanced, triggers",
    );
    assert_error(
        &manifest(
            "a",
            "annotations:\n  autoscaling.keda.sh/paused-replicas: \"two\"",
            "",
        ),
        "app.yaml: metadata.annotations[\"autoscaling.keda.sh/paused-replicas\"]: \
         expected a whole number, got \"two\"",
    );
    assert_error(
        &manifest(
            "a",
            "annotations:\n  autoscaling.keda.sh/paused-replicas: \"-1\"",
            "",
        ),
        "app.yaml: metadata.annotations[\"autoscaling.keda.sh/paused-replicas\"]: \
         expected a non-negative whole number, got \"-1\"",
    );
    assert_error(
        &manifest(
            "a",
            "annotations:\n  autoscaling.keda.sh/paused-replicas: 2",
            "",
        ),
        "app.yaml: metadata.annotations[\"autoscaling.keda.sh/paused-replicas\"]: \
         expected a string, got 2",
    );
    assert_error(
        &manifest("a", "annotations: [x]", ""),
        "app.yaml: metadata.annotations: expected a mapping, got a list",
    );
    assert_error(
        &manifest("a", "nmespace: x", ""),
        r#"app.yaml: metadata.nmespace: unknown field, did you mean "namespace"?"#,
    );
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {namespace: x}\n\
         spec: {scaleTargetRef: {name: t}}\n",
        "app.yaml: metadata.name: required field is missing",
    );
    assert_eq!(
        errors("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n"),
        [
            "app.yaml: metadata: required field is missing",
            "app.yaml: spec: required field is missing",
        ]
    );
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nmetadata: {name: a}\nspec: {scaleTargetRef: {name: t}}\n",
        "app.yaml: kind: required field is missing",
    );
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\nspec: {}\n",
        "app.yaml: spec.scaleTargetRef: required field is missing",
    );
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\n\
         spec: {scaleTargetRef: {name: t}}\nextra: 1\n",
        "app.yaml: extra: unknown field; expected one of apiVersion, kind, metadata, spec, status",
    );
}

#[test]
fn keda_kinds_and_api_versions() {
    // A ScaledJob is decoded (tests/config_scaled_job.rs); other KEDA kinds are refused.
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: a}\n",
        "app.yaml: spec: required field is missing",
    );
    assert_error(
        "apiVersion: eventing.keda.sh/v1alpha1\nkind: CloudEventSource\nmetadata: {name: a}\n",
        "app.yaml: kind: unsupported kind \"CloudEventSource\"; \
         expected ScaledObject, ScaledJob, TriggerAuthentication or ClusterTriggerAuthentication",
    );
    // Authentication kinds are decoded; a file of them alone has no scaled object.
    assert_eq!(
        errors("apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: a}\n"),
        [
            "app.yaml: spec: required field is missing",
            "app.yaml: the config has no scaled objects",
        ]
    );
    assert_eq!(
        errors("apiVersion: keda.sh/v1alpha1\nkind: ClusterTriggerAuthentication\n"),
        [
            "app.yaml: metadata: required field is missing",
            "app.yaml: spec: required field is missing",
            "app.yaml: the config has no scaled objects",
        ]
    );
    assert_error(
        &manifest("a", "", "").replace("keda.sh/v1alpha1", "keda.sh/v1"),
        r#"app.yaml: apiVersion: unsupported apiVersion "keda.sh/v1"; expected keda.sh/v1alpha1"#,
    );
    assert_error(
        &manifest("a", "", "").replace("kind: ScaledObject", "kind: 3"),
        "app.yaml: kind: expected a string, got 3",
    );
}

#[test]
fn keda_multiple_documents_paths_are_prefixed() {
    let text = format!(
        "{}---\n{}---\n---\n{}---\napiVersion: apps/v1\nkind: Deployment\n---\n- a list\n",
        manifest("a", "", ""),
        manifest(
            "b",
            "",
            "triggers:\n  - type: prometheus\n    metadata: {query: [q]}"
        ),
        manifest(
            "c",
            "annotations: {autoscaling.keda.sh/paused-replicas: many}",
            ""
        ),
    );
    assert_eq!(
        errors(&text),
        [
            "app.yaml: documents[1].spec.triggers[0].metadata.query: \
             expected a string, got a list",
            "app.yaml: documents[3].metadata.annotations[\"autoscaling.keda.sh/paused-replicas\"]: \
             expected a whole number, got \"many\"",
            "app.yaml: documents[4].kind: unsupported kind \"Deployment\"; \
             expected ScaledObject, ScaledJob, TriggerAuthentication or ClusterTriggerAuthentication",
            "app.yaml: documents[5]: expected a mapping, got a list",
        ]
    );
}

// --- files --------------------------------------------------------------------------------

#[test]
fn load_file_reads_and_reports() {
    let dir = std::env::temp_dir().join(format!("scalers-config-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let good = dir.join("good.yaml");
    std::fs::write(&good, FULL).unwrap();
    assert_eq!(load_file(&good).unwrap(), full_expected());

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, own("pollingInterval: soon")).unwrap();
    match load_file(&bad) {
        Err(Error::Config(errors)) => assert_eq!(
            errors.to_string(),
            format!(
                "{}: scaledObjects[0].pollingInterval: expected a whole number, got \"soon\"",
                bad.display()
            )
        ),
        other => panic!("expected a config error: {other:?}"),
    }

    let missing = dir.join("missing.yaml");
    match load_file(&missing) {
        Err(error @ Error::Read { .. }) => assert_eq!(
            error.to_string(),
            format!("{}: cannot read the file", missing.display())
        ),
        other => panic!("expected a read error: {other:?}"),
    }

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_display_one_per_line() {
    let Err(errors) = load_str(&own("pollingInterval: a\ncooldownPeriod: b"), FILE) else {
        panic!("expected errors");
    };
    assert_eq!(
        errors.to_string(),
        "app.yaml: scaledObjects[0].pollingInterval: expected a whole number, got \"a\"\n\
         app.yaml: scaledObjects[0].cooldownPeriod: expected a whole number, got \"b\""
    );
}

// --- authentications ----------------------------------------------------------------------

fn env_param(parameter: &str, name: &str) -> AuthParameter {
    AuthParameter {
        parameter: parameter.to_owned(),
        source: AuthSource::Env {
            name: name.to_owned(),
            container: None,
        },
    }
}

fn file_param(parameter: &str, path: &str) -> AuthParameter {
    AuthParameter {
        parameter: parameter.to_owned(),
        source: AuthSource::File {
            path: path.to_owned(),
        },
    }
}

fn secret_param(parameter: &str, name: &str, key: &str) -> AuthParameter {
    AuthParameter {
        parameter: parameter.to_owned(),
        source: AuthSource::Secret {
            name: name.to_owned(),
            key: key.to_owned(),
        },
    }
}

fn authentication(
    name: &str,
    namespace: Option<&str>,
    cluster: bool,
    parameters: Vec<AuthParameter>,
) -> Authentication {
    Authentication {
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
        cluster,
        parameters,
    }
}

const OWN_AUTH: &str = r#"
authentications:
  - name: redis-auth
    namespace: shop
    kind: TriggerAuthentication
    secretTargetRef:
      - parameter: password
        name: redis
        key: password
      - {parameter: username, name: redis, key: user}
    configMapTargetRef:
      - {parameter: host, name: redis-conf, key: host}
    env:
      - {parameter: address, name: REDIS_ADDRESS, containerName: app}
    file:
      - {parameter: ca, path: /etc/redis/ca.pem}
  - name: everywhere
    env: [{parameter: token, name: TOKEN}]
  - name: cluster-wide
    kind: ClusterTriggerAuthentication
    file: [{parameter: bearerToken, path: /run/token}]
    secretTargetRef: null
  - name: empty
scaledObjects:
  - name: orders
    namespace: shop
    scaleTargetRef: {name: orders}
    triggers:
      - type: redis
        authenticationRef: {name: redis-auth}
"#;

#[test]
fn own_format_authentications() {
    let config = load(OWN_AUTH);
    assert_eq!(
        config.authentications,
        [
            authentication(
                "redis-auth",
                Some("shop"),
                false,
                vec![
                    secret_param("password", "redis", "password"),
                    secret_param("username", "redis", "user"),
                    AuthParameter {
                        parameter: "host".to_owned(),
                        source: AuthSource::ConfigMap {
                            name: "redis-conf".to_owned(),
                            key: "host".to_owned(),
                        },
                    },
                    AuthParameter {
                        parameter: "address".to_owned(),
                        source: AuthSource::Env {
                            name: "REDIS_ADDRESS".to_owned(),
                            container: Some("app".to_owned()),
                        },
                    },
                    file_param("ca", "/etc/redis/ca.pem"),
                ],
            ),
            authentication("everywhere", None, false, vec![env_param("token", "TOKEN")]),
            authentication(
                "cluster-wide",
                None,
                true,
                vec![file_param("bearerToken", "/run/token")],
            ),
            Authentication::new("empty"),
        ]
    );
    assert_eq!(
        config.authentication_locations,
        (0..4).map(Location::own_authentication).collect::<Vec<_>>()
    );
    assert_eq!(config.authentication_location(1).spec, "authentications[1]");
    let auth = &config.authentications[0];
    assert_eq!(auth.kind(), "TriggerAuthentication");
    assert_eq!(
        config.authentications[2].kind(),
        "ClusterTriggerAuthentication"
    );
    assert_eq!(
        (0..5).map(|i| auth.parameter_path(i)).collect::<Vec<_>>(),
        [
            "secretTargetRef[0]",
            "secretTargetRef[1]",
            "configMapTargetRef[0]",
            "env[0]",
            "file[0]"
        ]
    );
    // The order of the keys does not matter.
    let reordered = load(
        "scaledObjects:\n  - {name: w, scaleTargetRef: {name: w}}\n\
         authentications:\n  - {env: [{name: TOKEN, parameter: token}], name: everywhere}\n",
    );
    assert_eq!(
        reordered.authentications,
        [config.authentications[1].clone()]
    );
}

#[test]
fn configs_built_in_code_have_no_authentications() {
    let config = Config::new(vec![ScaledObject::new("a", "a")]);
    assert!(config.authentications.is_empty());
    assert_eq!(
        config.authentication_location(3),
        Location::own_authentication(3)
    );
    assert_eq!(load(&own("")).authentications, []);
}

const KEDA_AUTH: &str = r#"
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: kafka-auth
  namespace: shop
  labels: {team: shop}
  annotations:
    autoscaling.keda.sh/paused-replicas: "not read on an authentication"
spec:
  secretTargetRef:
    - {parameter: sasl, name: kafka-secrets, key: sasl}
    - {parameter: password, name: kafka-secrets, key: password}
  env:
    - {parameter: username, name: KAFKA_USER, containerName: app}
status:
  scaledobjects: orders
---
apiVersion: keda.sh/v1alpha1
kind: ClusterTriggerAuthentication
metadata:
  name: shared
  namespace: keda
spec:
  file: [{parameter: ca, path: /etc/ca.pem}]
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {name: plain}
spec: {}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: orders, namespace: shop}
spec:
  scaleTargetRef: {name: orders}
  triggers:
    - type: kafka
      metadata: {topic: orders}
      authenticationRef: {name: kafka-auth}
"#;

#[test]
fn keda_authentication_manifests() {
    let config = load(KEDA_AUTH);
    assert_eq!(
        config.authentications,
        [
            authentication(
                "kafka-auth",
                Some("shop"),
                false,
                vec![
                    secret_param("sasl", "kafka-secrets", "sasl"),
                    secret_param("password", "kafka-secrets", "password"),
                    AuthParameter {
                        parameter: "username".to_owned(),
                        source: AuthSource::Env {
                            name: "KAFKA_USER".to_owned(),
                            container: Some("app".to_owned()),
                        },
                    },
                ],
            ),
            // Kubernetes ignores the namespace of a cluster-scoped object; so does scalerd.
            authentication("shared", None, true, vec![file_param("ca", "/etc/ca.pem")]),
            authentication("plain", Some("default"), false, Vec::new()),
        ]
    );
    assert_eq!(
        config.authentication_locations,
        [
            keda_location("documents[0]."),
            keda_location("documents[1]."),
            keda_location("documents[2]."),
        ]
    );
    assert_eq!(config.locations, [keda_location("documents[3].")]);
    assert_eq!(config.scaled_objects[0].name, "orders");
}

#[test]
fn both_formats_give_the_same_authentications() {
    let keda = load(
        "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\n\
         metadata: {name: a, namespace: default}\n\
         spec: {secretTargetRef: [{parameter: p, name: s, key: k}], env: [{parameter: q, name: V}]}\n\
         ---\n\
         apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: worker}\n\
         spec:\n  scaleTargetRef: {name: worker}\n  triggers: [{type: cpu}]\n",
    );
    let own = load(&format!(
        "{}authentications:\n  - name: a\n    namespace: default\n    \
         secretTargetRef: [{{parameter: p, name: s, key: k}}]\n    env: [{{parameter: q, name: V}}]\n",
        own("")
    ));
    assert_eq!(keda.authentications, own.authentications);
    assert_eq!(keda.scaled_objects, own.scaled_objects);
}

#[test]
fn unsupported_authentication_sources() {
    let supported = "not supported by scalerd; supported sources: secretTargetRef, configMapTargetRef, env, file";
    assert_eq!(
        errors(&format!(
            "{}authentications:\n  - name: a\n    hashiCorpVault: {{address: http://vault}}\n    \
             podIdentity: {{provider: aws}}\n    configMapTargetRef: []\n",
            own("")
        )),
        [
            format!("app.yaml: authentications[0].hashiCorpVault: {supported}"),
            format!("app.yaml: authentications[0].podIdentity: {supported}"),
        ]
    );
    let mut text = String::from(
        "apiVersion: keda.sh/v1alpha1\nkind: ClusterTriggerAuthentication\nmetadata: {name: a}\n\
         spec:\n",
    );
    for source in [
        "podIdentity",
        "hashiCorpVault",
        "azureKeyVault",
        "gcpSecretManager",
        "awsSecretManager",
        "boundServiceAccountToken",
        "oauth2",
        "filePath",
    ] {
        text.push_str(&format!("  {source}: {{}}\n"));
    }
    text.push_str("  env: [{parameter: p, name: V}]\n---\n");
    text.push_str(&manifest("a", "", "triggers: [{type: cpu}]"));
    let expected: Vec<String> = [
        "podIdentity",
        "hashiCorpVault",
        "azureKeyVault",
        "gcpSecretManager",
        "awsSecretManager",
        "boundServiceAccountToken",
        "oauth2",
        "filePath",
    ]
    .iter()
    .map(|source| format!("app.yaml: documents[0].spec.{source}: {supported}"))
    .collect();
    assert_eq!(errors(&text), expected);
}

#[test]
fn authentication_unknown_fields() {
    let with = |auth: &str| format!("{}authentications:\n  - {auth}\n", own(""));
    assert_error(
        &with("{name: a, secrets: []}"),
        "app.yaml: authentications[0].secrets: unknown field; \
         expected one of name, namespace, kind, secretTargetRef, configMapTargetRef, env, file",
    );
    assert_error(
        &with("{name: a, secretTargetRefs: []}"),
        r#"app.yaml: authentications[0].secretTargetRefs: unknown field, did you mean "secretTargetRef"?"#,
    );
    assert_eq!(
        errors(&with(
            "{name: a, secretTargetRef: [{parameter: p, name: s, keys: k}]}"
        )),
        [
            r#"app.yaml: authentications[0].secretTargetRef[0].keys: unknown field, did you mean "key"?"#,
            "app.yaml: authentications[0].secretTargetRef[0].key: required field is missing",
        ]
    );
    // `key` is missing too: every problem is reported.
    assert_eq!(
        errors(&with(
            "{name: a, secretTargetRef: [{parameter: p, name: s, value: k}]}"
        )),
        [
            "app.yaml: authentications[0].secretTargetRef[0].value: unknown field; \
             expected one of parameter, name, key",
            "app.yaml: authentications[0].secretTargetRef[0].key: required field is missing",
        ]
    );
    assert_error(
        &with("{name: a, env: [{parameter: p, name: V, container: c}]}"),
        "app.yaml: authentications[0].env[0].container: unknown field; \
         expected one of parameter, name, containerName",
    );
    assert_eq!(
        errors(&with(
            "{name: a, file: [{parameter: p, path: /x, mode: 0400}]}"
        )),
        [
            "app.yaml: authentications[0].file[0].mode: unknown field; expected one of parameter, path"
        ]
    );
    assert_eq!(
        errors(
            &("apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: a}\n\
             spec: {envs: [], secretTargetRef: [{parameter: p, name: s, key: k, optional: true}]}\n\
             ---\n\
             apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\n\
             metadata: {name: b, nmespace: x}\nspec: {}\n---\n"
                .to_owned()
                + &manifest("a", "", ""))
        ),
        [
            r#"app.yaml: documents[0].spec.envs: unknown field, did you mean "env"?"#,
            "app.yaml: documents[0].spec.secretTargetRef[0].optional: unknown field; \
             expected one of parameter, name, key",
            r#"app.yaml: documents[1].metadata.nmespace: unknown field, did you mean "namespace"?"#,
        ]
    );
}

#[test]
fn authentication_types_and_required_fields() {
    let with = |auth: &str| format!("{}authentications:\n  - {auth}\n", own(""));
    assert_error(
        &(own("") + "authentications: redis\n"),
        r#"app.yaml: authentications: expected a list, got "redis""#,
    );
    assert_error(
        &(own("") + "authentications: [creds]\n"),
        r#"app.yaml: authentications[0]: expected a mapping, got "creds""#,
    );
    assert_error(
        &with("{namespace: shop}"),
        "app.yaml: authentications[0].name: required field is missing",
    );
    assert_error(
        &with("{name: 7}"),
        "app.yaml: authentications[0].name: expected a string, got 7",
    );
    assert_error(
        &with("{name: a, kind: Secret}"),
        "app.yaml: authentications[0].kind: \
         expected one of TriggerAuthentication, ClusterTriggerAuthentication, got \"Secret\"",
    );
    assert_error(
        &with("{name: a, env: {parameter: p, name: V}}"),
        "app.yaml: authentications[0].env: expected a list, got a mapping",
    );
    assert_error(
        &with("{name: a, file: [/etc/x]}"),
        r#"app.yaml: authentications[0].file[0]: expected a mapping, got "/etc/x""#,
    );
    assert_eq!(
        errors(&with(
            "{name: a, secretTargetRef: [{parameter: p, name: s, key: k}, {parameter: q, name: s}], \
             env: [{name: V}, {parameter: r, name: 5}], file: [{parameter: f}]}"
        )),
        [
            "app.yaml: authentications[0].secretTargetRef[1].key: required field is missing",
            "app.yaml: authentications[0].env[0].parameter: required field is missing",
            "app.yaml: authentications[0].env[1].name: expected a string, got 5",
            "app.yaml: authentications[0].file[0].path: required field is missing",
        ]
    );
    // KEDA manifests: paths from the document, every error at once, objects checked too.
    let text = format!(
        "{}---\n\
         apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {{namespace: x}}\n\
         spec: {{env: [{{parameter: p}}]}}\n---\n\
         apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {{name: b}}\n\
         spec:\n  env:\n    - {{parameter: p, name: V}}\n    - {{parameter: q, containerName: c}}\n\
         ---\n\
         apiVersion: keda.sh/v1\nkind: ClusterTriggerAuthentication\nmetadata: {{name: c}}\n\
         spec: []\n",
        manifest("a", "", "pollingInterval: soon"),
    );
    assert_eq!(
        errors(&text),
        [
            r#"app.yaml: documents[0].spec.pollingInterval: expected a whole number, got "soon""#,
            "app.yaml: documents[1].metadata.name: required field is missing",
            "app.yaml: documents[1].spec.env[0].name: required field is missing",
            "app.yaml: documents[2].spec.env[1].name: required field is missing",
            r#"app.yaml: documents[3].apiVersion: unsupported apiVersion "keda.sh/v1"; expected keda.sh/v1alpha1"#,
            "app.yaml: documents[3].spec: expected a mapping, got a list",
        ]
    );
}

#[test]
fn authentications_alone_are_not_a_config() {
    assert_error(
        "authentications:\n  - {name: a, env: [{parameter: p, name: V}]}\n",
        "app.yaml: scaledObjects: the config has no scaled objects",
    );
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: a}\n\
         spec: {env: [{parameter: p, name: V}]}\n",
        "app.yaml: the config has no scaled objects",
    );
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: a}\n\
         spec: {}\n---\n---\n\
         apiVersion: keda.sh/v1alpha1\nkind: ClusterTriggerAuthentication\nmetadata: {name: b}\n\
         spec: {}\n",
        "app.yaml: the config has no scaled objects",
    );
    // A broken ScaledObject is reported as such, not as a missing one.
    assert_error(
        "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\nmetadata: {name: a}\n\
         spec: {}\n---\n\
         apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: b}\n",
        "app.yaml: documents[1].spec: required field is missing",
    );
}

/// What `kubectl get scaledobjects,triggerauthentications -A -o yaml` writes: one `v1` `List`
/// document whose items carry the server's metadata and status.
const KUBECTL_EXPORT: &str = r#"apiVersion: v1
items:
- apiVersion: keda.sh/v1alpha1
  kind: ScaledObject
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject"}
    creationTimestamp: "2026-11-30T10:00:00Z"
    finalizers:
    - finalizer.keda.sh
    generation: 2
    labels:
      scaledobject.keda.sh/name: orders
    managedFields:
    - apiVersion: keda.sh/v1alpha1
      fieldsType: FieldsV1
      manager: kubectl-client-side-apply
      operation: Update
    name: orders
    namespace: shop
    resourceVersion: "123456"
    uid: 7c1e6f8a-0000-4000-8000-000000000001
  spec:
    maxReplicaCount: 8
    scaleTargetRef:
      name: orders
    triggers:
    - authenticationRef:
        name: redis-auth
      metadata:
        listName: orders
        listLength: "10"
      type: redis
  status:
    conditions:
    - status: "True"
      type: Ready
    originalReplicaCount: 1
- apiVersion: keda.sh/v1alpha1
  kind: TriggerAuthentication
  metadata:
    creationTimestamp: "2026-11-30T10:00:00Z"
    generation: 1
    name: redis-auth
    namespace: shop
    resourceVersion: "123400"
    uid: 7c1e6f8a-0000-4000-8000-000000000002
  spec:
    secretTargetRef:
    - key: password
      name: redis
      parameter: password
  status:
    scaledobjects: orders
kind: List
metadata:
  resourceVersion: ""
"#;

#[test]
fn a_kubectl_list_export_loads() {
    let config = load(KUBECTL_EXPORT);
    let mut orders = ScaledObject::new("orders", "orders");
    orders.namespace = "shop".to_owned();
    orders.max_replica_count = 8;
    orders.triggers = vec![TriggerSpec {
        metadata: metadata(&[("listName", "orders"), ("listLength", "10")]),
        authentication_ref: Some(AuthenticationRef {
            name: "redis-auth".to_owned(),
            kind: None,
        }),
        ..TriggerSpec::new("redis")
    }];
    assert_eq!(config.scaled_objects, [orders]);
    assert_eq!(config.locations, [keda_location("items[0].")]);
    assert_eq!(config.authentications.len(), 1);
    assert_eq!(config.authentications[0].name, "redis-auth");
    assert_eq!(config.authentications[0].namespace.as_deref(), Some("shop"));
    assert_eq!(
        config.authentication_locations,
        [keda_location("items[1].")]
    );
}

#[test]
fn typed_lists_and_lists_among_documents_load() {
    let text = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObjectList\nmetadata: {}\nitems:\n\
        - apiVersion: keda.sh/v1alpha1\n  kind: ScaledObject\n  metadata: {name: a}\n  \
        spec: {scaleTargetRef: {name: a}, triggers: [{type: cpu}]}\n\
        ---\n\
        apiVersion: v1\nkind: List\nitems:\n\
        - apiVersion: keda.sh/v1alpha1\n  kind: ScaledObject\n  metadata: {name: b}\n  \
        spec: {scaleTargetRef: {name: b}, triggers: [{type: cpu}]}\n";
    let config = load(text);
    let names: Vec<&str> = config
        .scaled_objects
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        config.locations,
        [
            keda_location("documents[0].items[0]."),
            keda_location("documents[1].items[0]."),
        ]
    );
}

#[test]
fn errors_inside_a_list_are_located_at_the_item() {
    let text = "apiVersion: v1\nkind: List\nitems:\n\
        - apiVersion: keda.sh/v1alpha1\n  kind: ScaledObject\n  metadata: {name: a}\n  \
        spec: {scaleTargetRef: {name: a}, triggers: [{type: cpu}], maxReplicaCount: ten}\n\
        - apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: a}\n  spec: {}\n";
    assert_eq!(
        errors(text),
        [
            "app.yaml: items[0].spec.maxReplicaCount: expected a whole number, got \"ten\"",
            "app.yaml: items[1].kind: unsupported kind \"Deployment\"; expected ScaledObject, \
             ScaledJob, TriggerAuthentication or ClusterTriggerAuthentication",
        ]
    );
    // The list's own fields are checked too.
    assert_eq!(
        errors("apiVersion: apps/v1\nkind: List\nitem: []\n"),
        [
            "app.yaml: apiVersion: unsupported apiVersion \"apps/v1\" for a list; expected v1 or \
             keda.sh/v1alpha1",
            "app.yaml: item: unknown field, did you mean \"items\"?",
            "app.yaml: items: required field is missing",
            "app.yaml: the config has no scaled objects",
        ]
    );
    // An empty export has no scaled objects, as an empty file.
    assert_error(
        "apiVersion: v1\nkind: List\nitems: []\nmetadata: {resourceVersion: \"\"}\n",
        "app.yaml: the config has no scaled objects",
    );
}

// --- YAML features ------------------------------------------------------------------------

#[test]
fn anchors_aliases_and_merge_keys_share_parts_between_objects() {
    let config = load(
        "scaledObjects:\n\
         \x20 - &base {name: a, scaleTargetRef: {name: a}, triggers: [&redis {type: redis, \
         metadata: {address: 'r:6379', listName: jobs}}]}\n\
         \x20 - {name: c, scaleTargetRef: {name: c}, triggers: [*redis]}\n\
         \x20 - {<<: *base, name: b, scaleTargetRef: {name: b}}\n",
    );
    let [a, c, b] = config.scaled_objects.as_slice() else {
        panic!("three objects: {:?}", config.scaled_objects);
    };
    assert_eq!((a.name.as_str(), b.name.as_str()), ("a", "b"));
    assert_eq!(b.scale_target_ref.name, "b");
    assert_eq!(a.triggers, b.triggers);
    assert_eq!(a.triggers, c.triggers);
    assert_eq!(
        b.triggers[0].metadata,
        metadata(&[("address", "r:6379"), ("listName", "jobs")])
    );
}

#[test]
fn plain_scalars_read_as_yaml_1_2_core_and_as_written() {
    // `yes` is no boolean, and numbers with leading zeros or underscores keep their spelling:
    // metadata values are the text the operator wrote.
    let text = "scaledObjects:\n  - name: worker\n    scaleTargetRef: {name: worker}\n    \
                triggers: [{type: cpu, metadata: {v: yes, mode: 0755, n: 1_000, t: true}}]\n";
    let config = load(text);
    let m = &config.scaled_objects[0].triggers[0].metadata;
    assert_eq!(
        (
            m["v"].as_str(),
            m["mode"].as_str(),
            m["n"].as_str(),
            m["t"].as_str()
        ),
        ("yes", "0755", "1_000", "true")
    );
}

#[test]
fn an_alias_bomb_is_refused_early() {
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let aliases = vec![format!("*{prev}"); 10].join(", ");
        text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
    }
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("app.yaml: invalid YAML: alias replay limit exceeded"),
        "{errors:?}"
    );
}

#[test]
fn empty_and_null_documents_keep_their_place() {
    let object = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: a}\n\
                  spec: {scaleTargetRef: {name: a}, triggers: [{type: cpu}], maxReplicaCount: x}\n";
    let valid = object
        .replace("name: a", "name: b")
        .replace("maxReplicaCount: x", "maxReplicaCount: 3");
    let text = format!("---\n# nothing\n---\n~\n---\n{valid}---\n{object}");
    assert_eq!(
        errors(&text),
        ["app.yaml: documents[3].spec.maxReplicaCount: expected a whole number, got \"x\""]
    );
}
