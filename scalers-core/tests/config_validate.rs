//! Validation: KEDA's admission checks, behavior checks, formulas and trigger metadata, every
//! error reported at once with its file and path.

use std::collections::BTreeMap;
use std::sync::Arc;

use scalers_core::config::auth::{AuthValues, SecretKeyRef, SecretRead, offline_secrets, resolve};
use scalers_core::config::model::{AuthenticationRef, Config, MetricType};
use scalers_core::config::{ValidatedObject, load_str, validate, validate_with_secrets};
use scalers_core::error::ConfigErrors;
use scalers_core::secret::Secret;
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

// --- authentications ----------------------------------------------------------------------

/// The test registry plus `gated` (a `mode` of `none` or `token`, where `token` needs a
/// non-empty `token`, as Kafka's `sasl` needs credentials) and `bearer` (a required
/// `bearerToken`, which may be empty, as Prometheus' bearer mode).
fn auth_registry() -> Registry {
    let mut r = registry();
    r.register("gated", |p| {
        let mode = p.one_of("mode", &["none", "token"]);
        let token = p.secret("token");
        let (mode, token) = (mode?, token?);
        if mode.as_deref() == Some("token") && token.is_none_or(|t| t.expose().is_empty()) {
            return Err(p.error("token", "required by mode token"));
        }
        Ok(Arc::new(Fixed {
            threshold: 1.0,
            activation: 0.0,
            value: 0.0,
        }))
    });
    r.register("bearer", |p| {
        p.required_str("bearerToken")?;
        Ok(Arc::new(Fixed {
            threshold: 1.0,
            activation: 0.0,
            value: 0.0,
        }))
    });
    r
}

/// Validates `text` with `validate_with_secrets`, the test environment, and `secrets`.
fn check_reading(
    text: &str,
    secrets: &dyn Fn(&SecretKeyRef<'_>) -> Result<SecretRead, String>,
) -> Result<Vec<ValidatedObject>, Vec<String>> {
    let config = load_str(text, "app.yaml").unwrap_or_else(|e| panic!("load failed:\n{e}"));
    validate_with_secrets(&config, &auth_registry(), "app.yaml", &env, secrets)
        .map_err(|e| e.iter().map(ToString::to_string).collect())
}

/// The error lines of `validate_with_secrets` with offline Secrets, or an empty list.
fn check_offline(text: &str) -> Vec<String> {
    check_reading(text, &offline_secrets)
        .err()
        .unwrap_or_default()
}

/// One object `worker` in namespace `namespace` with `triggers`, after `authentications`.
fn with_auth(authentications: &str, namespace: &str, triggers: &str) -> String {
    format!(
        "authentications:\n{authentications}scaledObjects:\n  - name: worker\n    \
         namespace: {namespace}\n    scaleTargetRef: {{name: worker}}\n    triggers:\n{triggers}"
    )
}

/// A `fixed` trigger with `value: '1'` referring to `reference` (flow-style YAML).
fn fixed_with(reference: &str) -> String {
    format!("      - {{type: fixed, metadata: {{value: '1'}}, authenticationRef: {reference}}}\n")
}

fn reference(name: &str, kind: Option<&str>) -> AuthenticationRef {
    AuthenticationRef {
        name: name.to_owned(),
        kind: kind.map(str::to_owned),
    }
}

#[test]
fn references_find_their_authentication() {
    let text = with_auth(
        "  - {name: a, namespace: shop}\n  - {name: a}\n  - {name: b}\n  \
         - {name: a, namespace: ops}\n  - {name: a, kind: ClusterTriggerAuthentication}\n",
        "shop",
        &[
            fixed_with("{name: a}"),
            fixed_with("{name: b, kind: TriggerAuthentication}"),
            fixed_with("{name: a, kind: ClusterTriggerAuthentication}"),
        ]
        .concat(),
    );
    assert_eq!(check_offline(&text), Vec::<String>::new());
    let config = load_str(&text, "app.yaml").unwrap();
    let shop = &config.scaled_objects[0];
    let mut elsewhere = shop.clone();
    elsewhere.namespace = "web".to_owned();
    let found = |object, name, kind| config.authentication_index(object, &reference(name, kind));
    // The namespaced one wins over the one for every namespace.
    assert_eq!(found(shop, "a", None), Some(0));
    assert_eq!(found(&elsewhere, "a", None), Some(1));
    assert_eq!(found(shop, "b", Some("TriggerAuthentication")), Some(2));
    assert_eq!(found(&elsewhere, "b", None), Some(2));
    assert_eq!(
        found(shop, "a", Some("ClusterTriggerAuthentication")),
        Some(4)
    );
    assert_eq!(found(shop, "b", Some("ClusterTriggerAuthentication")), None);
    assert_eq!(found(shop, "a", Some("Secret")), None);
    assert_eq!(found(shop, "c", None), None);
    assert_eq!(
        config.authentication_for(shop, &reference("a", None)),
        Some(&config.authentications[0])
    );
}

#[test]
fn references_that_find_nothing_are_refused() {
    let auths = "  - {name: b, namespace: shop}\n  - {name: a}\n  - {name: redis-auth, namespace: ops}\n  \
                 - {name: c, kind: ClusterTriggerAuthentication}\n";
    let triggers = [
        fixed_with("{name: a}"),
        fixed_with("{name: redis-auth}"),
        fixed_with("{name: a, kind: ClusterTriggerAuthentication}"),
        fixed_with("{name: a, kind: Secret}"),
    ]
    .concat();
    let expected = [
        "app.yaml: scaledObjects[0].triggers[1].authenticationRef.name: no TriggerAuthentication \
         \"redis-auth\" in namespace \"shop\"; defined: a, b; \
         there is TriggerAuthentication \"redis-auth\" in namespace \"ops\"",
        "app.yaml: scaledObjects[0].triggers[2].authenticationRef.name: no \
         ClusterTriggerAuthentication \"a\"; defined: c; \
         there is TriggerAuthentication \"a\" for every namespace",
        "app.yaml: scaledObjects[0].triggers[3].authenticationRef.kind: expected one of \
         TriggerAuthentication, ClusterTriggerAuthentication, got \"Secret\"",
    ];
    let text = with_auth(auths, "shop", &triggers);
    assert_eq!(check_offline(&text), expected);
    // `validate` checks references the same way.
    assert_eq!(check(&text), expected);
    assert_eq!(
        check(&one(
            "triggers: [{type: fixed, metadata: {value: '1'}, authenticationRef: {name: x}}]"
        )),
        [
            "app.yaml: scaledObjects[0].triggers[0].authenticationRef.name: no \
             TriggerAuthentication \"x\" in namespace \"default\"; none is defined"
        ]
    );
    // KEDA manifests: paths from the document.
    let text = "apiVersion: keda.sh/v1alpha1\nkind: TriggerAuthentication\n\
                metadata: {name: creds, namespace: ops}\nspec: {}\n---\n\
                apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\n\
                spec:\n  scaleTargetRef: {name: w}\n  \
                triggers: [{type: fixed, metadata: {value: '1'}, authenticationRef: {name: creds}}]\n";
    assert_eq!(
        check_offline(text),
        [
            "app.yaml: documents[1].spec.triggers[0].authenticationRef.name: no \
             TriggerAuthentication \"creds\" in namespace \"default\"; none is defined; \
             there is TriggerAuthentication \"creds\" in namespace \"ops\""
        ]
    );
}

#[test]
fn authentication_names_are_unique_per_kind_and_namespace() {
    let auths = "  - {name: a, namespace: shop}\n  - {name: a, namespace: ops}\n  - {name: a}\n  \
                 - {name: a, kind: ClusterTriggerAuthentication}\n  - {name: a, namespace: shop}\n  \
                 - {name: a}\n  - {name: a, kind: ClusterTriggerAuthentication}\n  - {name: ''}\n";
    assert_eq!(
        check_offline(&with_auth(auths, "shop", &fixed_with("{name: a}"))),
        [
            "app.yaml: authentications[4].name: duplicate TriggerAuthentication \"a\" in \
             namespace \"shop\": already defined by the authentication at authentications[0]",
            "app.yaml: authentications[5].name: duplicate TriggerAuthentication \"a\" for every \
             namespace: already defined by the authentication at authentications[2]",
            "app.yaml: authentications[6].name: duplicate ClusterTriggerAuthentication \"a\": \
             already defined by the authentication at authentications[3]",
            "app.yaml: authentications[7].name: must not be empty",
        ]
    );
    let document = |kind: &str| {
        format!(
            "apiVersion: keda.sh/v1alpha1\nkind: {kind}\nmetadata: {{name: a}}\nspec: {{}}\n---\n"
        )
    };
    let text = [
        document("TriggerAuthentication"),
        document("ClusterTriggerAuthentication"),
        document("TriggerAuthentication"),
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: w}\n\
         spec: {scaleTargetRef: {name: w}, triggers: [{type: fixed, metadata: {value: '1'}}]}\n"
            .to_owned(),
    ]
    .concat();
    assert_eq!(
        check_offline(&text),
        [
            "app.yaml: documents[2].metadata.name: duplicate TriggerAuthentication \"a\" in \
             namespace \"default\": already defined by the authentication at documents[0].metadata"
        ]
    );
}

#[test]
fn parameters_are_set_once_and_their_sources_named() {
    let auths = "  - name: a\n    secretTargetRef: [{parameter: password, name: s, key: k}, \
                 {parameter: '', name: '', key: ''}]\n    env: [{parameter: user, name: U}, \
                 {parameter: password, name: ''}]\n    file: [{parameter: user, path: ''}]\n  \
                 - {name: b, namespace: shop, kind: ClusterTriggerAuthentication}\n";
    assert_eq!(
        check_offline(&with_auth(auths, "default", &fixed_with("{name: a}"))),
        [
            "app.yaml: authentications[0].secretTargetRef[1].parameter: must not be empty",
            "app.yaml: authentications[0].secretTargetRef[1].name: must not be empty",
            "app.yaml: authentications[0].secretTargetRef[1].key: must not be empty",
            "app.yaml: authentications[0].env[1].parameter: parameter \"password\" is already \
             set by secretTargetRef[0]",
            "app.yaml: authentications[0].env[1].name: must not be empty",
            "app.yaml: authentications[0].file[0].parameter: parameter \"user\" is already set \
             by env[0]",
            "app.yaml: authentications[0].file[0].path: must not be empty",
            "app.yaml: authentications[1].namespace: a ClusterTriggerAuthentication has no \
             namespace",
        ]
    );
}

/// A file in a fresh temporary directory, removed on drop.
struct TempFile {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl TempFile {
    fn new(test: &str, content: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "scalers-config-validate-{test}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("value");
        std::fs::write(&path, content).unwrap();
        TempFile { dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn triggers_receive_parameters_from_env_and_file_sources() {
    let file = TempFile::new("sources", "7\n");
    let text = with_auth(
        &format!(
            "  - name: from-env\n    env: [{{parameter: value, name: QUEUE_VALUE, containerName: app}}]\n  \
             - name: from-file\n    file: [{{parameter: value, path: {}}}]\n",
            file.path()
        ),
        "default",
        "      - {type: fixed, name: e, authenticationRef: {name: from-env}}\n      \
         - {type: fixed, name: f, authenticationRef: {name: from-file}}\n      \
         - {type: fixed, name: m, metadata: {value: '3'}, authenticationRef: {name: from-file}}\n",
    );
    let objects = check_reading(&text, &offline_secrets).unwrap();
    let sampled: Vec<(String, f64)> = objects[0]
        .triggers
        .iter()
        .map(|t| {
            let sample = futures_executor::block_on(t.trigger.sample()).unwrap();
            (t.name.clone(), sample.value)
        })
        .collect();
    // Metadata wins over authentication parameters, as in KEDA.
    assert_eq!(
        sampled,
        [
            ("e".to_owned(), 12.0),
            ("f".to_owned(), 7.0),
            ("m".to_owned(), 3.0)
        ]
    );

    // `resolve` on its own: values wrapped, trailing newline gone, Debug shows no value.
    let config = load_str(&text, "app.yaml").unwrap();
    let values = resolve(&config.authentications[1], &env, &offline_secrets).unwrap();
    assert_eq!(values.values()["value"].expose(), "7");
    assert!(values.offline().is_empty());
    assert_eq!(
        format!("{values:?}"),
        r#"AuthValues { values: {"value": ***}, offline: {} }"#
    );
}

#[test]
fn values_never_appear_in_errors_or_debug_output() {
    const VALUE: &str = "hunter2-is-not-a-number";
    let file = TempFile::new("secrecy", &format!("{VALUE}\r\n"));
    let text = with_auth(
        &format!(
            "  - name: creds\n    file: [{{parameter: value, path: {}}}]\n    \
             env: [{{parameter: threshold, name: SECRET_THRESHOLD}}]\n",
            file.path()
        ),
        "default",
        "      - {type: fixed, authenticationRef: {name: creds}}\n",
    );
    let env = |name: &str| (name == "SECRET_THRESHOLD").then(|| format!("{VALUE}-2"));
    let config = load_str(&text, "app.yaml").unwrap();
    let errors: ConfigErrors = validate_with_secrets(
        &config,
        &auth_registry(),
        "app.yaml",
        &env,
        &offline_secrets,
    )
    .unwrap_err();
    let shown = errors.to_string();
    assert_eq!(
        shown,
        "app.yaml: scaledObjects[0].triggers[0].authenticationRef.value: expected a number, \
         got a value that does not parse\n\
         app.yaml: scaledObjects[0].triggers[0].authenticationRef.threshold: expected a number, \
         got a value that does not parse"
    );
    let values = resolve(&config.authentications[0], &env, &offline_secrets).unwrap();
    assert_eq!(values.values()["value"].expose(), VALUE);
    for output in [
        shown,
        format!("{errors:?}"),
        format!("{values:?}"),
        format!("{:?}", values.with_placeholders("x")),
        format!("{config:?}"),
    ] {
        assert!(!output.contains("hunter2"), "{output}");
    }
}

#[test]
fn unreadable_sources_are_reported_at_their_entry() {
    let auths = "  - name: a\n    env: [{parameter: password, name: REDIS_PASSWORD}]\n    \
                 file: [{parameter: ca, path: /nonexistent/scalers/ca.pem}]\n  \
                 - name: unused\n    env: [{parameter: password, name: ALSO_UNSET}]\n";
    // The trigger of an unreadable authentication is not built: no error about its metadata.
    let text = with_auth(
        auths,
        "default",
        "      - {type: fixed, authenticationRef: {name: a}}\n",
    );
    assert_eq!(
        check_offline(&text),
        [
            "app.yaml: authentications[0].env[0].name: environment variable REDIS_PASSWORD is \
             not set",
            "app.yaml: authentications[0].file[0].path: cannot read /nonexistent/scalers/ca.pem: \
             No such file or directory",
        ]
    );
    // `validate` takes values already read, and reads nothing.
    assert_eq!(
        check(&text),
        ["app.yaml: scaledObjects[0].triggers[0].metadata.value: required parameter is missing"]
    );
}

#[test]
fn secrets_are_read_through_the_reader() {
    let auths = "  - name: shop-auth\n    namespace: shop\n    \
                 secretTargetRef: [{parameter: value, name: queue, key: depth}]\n  \
                 - name: shared\n    kind: ClusterTriggerAuthentication\n    \
                 secretTargetRef: [{parameter: threshold, name: tuning, key: threshold}]\n";
    let text = with_auth(
        auths,
        "shop",
        "      - {type: fixed, authenticationRef: {name: shop-auth}}\n      \
         - {type: fixed, metadata: {value: '1'}, authenticationRef: {name: shared, kind: ClusterTriggerAuthentication}}\n",
    );
    let reads = std::sync::Mutex::new(Vec::new());
    let reader = |r: &SecretKeyRef<'_>| {
        reads.lock().unwrap().push((
            r.namespace.map(str::to_owned),
            r.name.to_owned(),
            r.key.to_owned(),
        ));
        match r.name {
            "queue" => Ok(SecretRead::Found(Secret::new("40"))),
            _ => Ok(SecretRead::Found(Secret::new("20"))),
        }
    };
    let objects = check_reading(&text, &reader).unwrap();
    let triggers = &objects[0].triggers;
    let sample = futures_executor::block_on(triggers[0].trigger.sample()).unwrap();
    assert_eq!(sample.value, 40.0);
    assert_eq!(triggers[1].trigger.target().value, 20.0);
    // Each referenced authentication is read once; a cluster-wide one has no namespace.
    assert_eq!(
        reads.into_inner().unwrap(),
        [
            (
                Some("shop".to_owned()),
                "queue".to_owned(),
                "depth".to_owned()
            ),
            (None, "tuning".to_owned(), "threshold".to_owned()),
        ]
    );

    let failing = |r: &SecretKeyRef<'_>| match r.namespace {
        Some(_) => Err("secrets \"queue\" is forbidden".to_owned()),
        None => Err("not found".to_owned()),
    };
    assert_eq!(
        check_reading(&text, &failing).unwrap_err(),
        [
            "app.yaml: authentications[0].secretTargetRef[0]: cannot read key \"depth\" of \
             Secret \"queue\" in namespace \"shop\": secrets \"queue\" is forbidden",
            "app.yaml: authentications[1].secretTargetRef[0]: cannot read key \"threshold\" of \
             Secret \"tuning\": not found",
        ]
    );
}

#[test]
fn offline_secrets_let_triggers_build() {
    let auths = "  - name: kafka-like\n    secretTargetRef:\n      \
                 - {parameter: mode, name: s, key: mode}\n      \
                 - {parameter: token, name: s, key: token}\n  \
                 - name: bearer\n    secretTargetRef: [{parameter: bearerToken, name: s, key: t}]\n  \
                 - name: value\n    secretTargetRef: [{parameter: value, name: s, key: v}]\n";
    // A mode that cannot be judged builds without it; a required token with the placeholder.
    let text = with_auth(
        auths,
        "default",
        "      - {type: gated, authenticationRef: {name: kafka-like}}\n      \
         - {type: bearer, authenticationRef: {name: bearer}}\n",
    );
    let objects = check_reading(&text, &offline_secrets).unwrap();
    assert_eq!(objects[0].triggers.len(), 2);
    let config = load_str(&text, "app.yaml").unwrap();
    let values: AuthValues = resolve(&config.authentications[0], &env, &offline_secrets).unwrap();
    assert!(values.values().is_empty());
    assert_eq!(
        values.offline().iter().collect::<Vec<_>>(),
        ["mode", "token"]
    );
    assert_eq!(values.with_placeholders("")["mode"].expose(), "");
    // A mode in the metadata that needs a non-empty token: accepted with the placeholder text.
    let text = with_auth(
        auths,
        "default",
        "      - {type: gated, metadata: {mode: token}, authenticationRef: {name: kafka-like}}\n",
    );
    assert_eq!(check_offline(&text), Vec::<String>::new());
    // Metadata errors are still found.
    let text = with_auth(
        auths,
        "default",
        "      - {type: gated, metadata: {mode: tokens}, authenticationRef: {name: kafka-like}}\n",
    );
    assert_eq!(
        check_offline(&text),
        [
            "app.yaml: scaledObjects[0].triggers[0].metadata.mode: expected one of none, token, \
             got \"tokens\""
        ]
    );
    // A trigger that builds neither way reports the placeholder build, saying so.
    let text = with_auth(
        auths,
        "default",
        "      - {type: fixed, authenticationRef: {name: value}}\n",
    );
    assert_eq!(
        check_offline(&text),
        [
            "app.yaml: scaledObjects[0].triggers[0].authenticationRef.value: expected a number, \
             got a value that does not parse (checked against a placeholder: the Kubernetes \
             Secret cannot be read without a cluster)"
        ]
    );
}

#[test]
fn configs_built_in_code_validate_their_authentications() {
    use scalers_core::config::model::{
        AuthParameter, AuthSource, Authentication, ScaledObject, TriggerSpec,
    };
    let mut object = ScaledObject::new("w", "w");
    object.triggers = vec![TriggerSpec {
        authentication_ref: Some(reference("creds", None)),
        ..TriggerSpec::new("fixed")
    }];
    let mut config = Config::new(vec![object]);
    let mut creds = Authentication::new("creds");
    creds.parameters.push(AuthParameter {
        parameter: "value".to_owned(),
        source: AuthSource::Env {
            name: "QUEUE_VALUE".to_owned(),
            container: None,
        },
    });
    config.authentications.push(creds);
    let objects =
        validate_with_secrets(&config, &auth_registry(), "code", &env, &offline_secrets).unwrap();
    let sample = futures_executor::block_on(objects[0].triggers[0].trigger.sample()).unwrap();
    assert_eq!(sample.value, 12.0);
    config.authentications[0].parameters[0].source = AuthSource::Env {
        name: "UNSET".to_owned(),
        container: None,
    };
    let errors = validate_with_secrets(&config, &auth_registry(), "code", &env, &offline_secrets)
        .unwrap_err();
    assert_eq!(
        errors.to_string(),
        "code: authentications[0].env[0].name: environment variable UNSET is not set"
    );
}

#[test]
fn keda_refuses_use_cached_metrics_on_cron_cpu_and_memory() {
    // KEDA's admission webhook: a cached value would not follow the clock (cron) or the
    // resource metrics (cpu, memory).
    let text = one(
        "triggers:\n  - {type: cron, useCachedMetrics: true}\n  - {type: fixed, useCachedMetrics: true, metadata: {value: '1'}}\n  - {type: memory, useCachedMetrics: true}",
    );
    assert_eq!(
        check(&text),
        [
            "app.yaml: scaledObjects[0].triggers[0].useCachedMetrics: property \"useCachedMetrics\" is not supported for \"cron\" scaler",
            "app.yaml: scaledObjects[0].triggers[2].useCachedMetrics: property \"useCachedMetrics\" is not supported for \"memory\" scaler",
            "app.yaml: scaledObjects[0].triggers[0].type: unknown trigger type \"cron\"; known types: fixed, other",
            "app.yaml: scaledObjects[0].triggers[2].type: unknown trigger type \"memory\"; known types: fixed, other",
        ]
    );
    // Caching is allowed on other types, and off by default on cron.
    assert_eq!(
        check(&one(
            "triggers: [{type: fixed, useCachedMetrics: true, metadata: {value: '1'}}]"
        )),
        Vec::<String>::new()
    );
}

#[test]
fn unread_metadata_keys_become_located_warnings_not_errors() {
    let text = one("triggers:\n  - {type: fixed, metadata: {value: '1', valeu: '2'}}");
    let config = load_str(&text, "app.yaml").unwrap();
    let no_auth = |_: &_, _: &_| BTreeMap::new();
    let objects = validate(&config, &registry(), "app.yaml", &env, &no_auth).unwrap();
    let warnings: Vec<String> = objects[0]
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "app.yaml: scaledObjects[0].triggers[0].metadata.valeu: not read by this trigger \
             (ignored); did you mean \"value\"?"
        ]
    );
}

#[test]
fn keda_formulas_with_arrays_and_predicates_validate() {
    // KEDA's documented example: expr's count with a predicate over the named triggers.
    let text = one(
        "advanced:\n  scalingModifiers: {formula: 'count([a, b], {# > 1}) > 1 ? 5 : 0', target: '5'}\ntriggers:\n  - {type: fixed, name: a, metadata: {value: '1'}}\n  - {type: fixed, name: b, metadata: {value: '2'}}",
    );
    assert_eq!(check(&text), Vec::<String>::new());
    let text = one(
        "advanced:\n  scalingModifiers: {formula: 'sum(map([a, c], # * 2))', target: '5'}\ntriggers:\n  - {type: fixed, name: a, metadata: {value: '1'}}",
    );
    assert_eq!(
        check(&text),
        [
            "app.yaml: scaledObjects[0].advanced.scalingModifiers.formula: refers to \"c\", which is not a trigger name; named triggers: a"
        ]
    );
}

#[test]
fn keda_refuses_fallback_behavior_scaling_modifiers_without_a_formula() {
    let fixed = "triggers:\n  - {type: fixed, name: a, metadata: {value: '1'}}";
    let text = one(&format!(
        "fallback: {{failureThreshold: 1, replicas: 5, behavior: scalingModifiers}}\n{fixed}"
    ));
    assert_eq!(
        check(&text),
        [
            "app.yaml: scaledObjects[0].fallback.behavior: scalingModifiers needs advanced.scalingModifiers (a formula)"
        ]
    );
    let text = one(&format!(
        "fallback: {{failureThreshold: 1, replicas: 5, behavior: scalingModifiers}}\nadvanced:\n  scalingModifiers: {{formula: 'a ?? 3', target: '2'}}\n{fixed}"
    ));
    assert_eq!(check(&text), Vec::<String>::new());
}
