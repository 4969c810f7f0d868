//! `scalerd schema`: the JSON Schema of scalerd's own config format accepts every shipped
//! config of that format, refuses broken ones where the loader refuses them, and describes
//! each field (docs, defaults, enumerations).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema() -> Value {
    serde_json::from_str(&scalerd::tools::schema::render(&scalerd::builtin_registry()))
        .expect("the schema is JSON")
}

/// A compiled schema, ready to validate instances.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn new() -> Self {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("urn:scalerd:config", schema())
            .expect("the schema is a resource");
        // Compiling checks the schema against the draft-07 metaschema.
        let index = compiler
            .compile("urn:scalerd:config", &mut schemas)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e:#}"));
        Validator { schemas, index }
    }

    /// The instance locations of the innermost errors, or none when `doc` is valid.
    fn errors(&self, doc: &Value) -> Vec<String> {
        fn leaves(e: &boon::ValidationError<'_, '_>, out: &mut Vec<String>) {
            if e.causes.is_empty() {
                out.push(e.instance_location.to_string());
            }
            for c in &e.causes {
                leaves(c, out);
            }
        }
        match self.schemas.validate(doc, self.index) {
            Ok(()) => Vec::new(),
            Err(e) => {
                let mut all = Vec::new();
                leaves(&e, &mut all);
                // Where it breaks: a location inside another one wins over it (an invalid
                // `fallback.behavior` also fails the `null` alternative of `fallback`).
                let deepest = |l: &String| {
                    !all.iter().any(|m| {
                        m.len() > l.len()
                            && m.starts_with(l.as_str())
                            && m[l.len()..].starts_with('/')
                    })
                };
                let mut out: Vec<String> = all.iter().filter(|l| deepest(l)).cloned().collect();
                out.sort();
                out.dedup();
                out
            }
        }
    }
}

/// YAML text as the JSON value a YAML language server validates.
fn yaml(text: &str) -> Value {
    let value: serde_norway::Value = serde_norway::from_str(text).expect("valid YAML");
    serde_json::to_value(value).expect("YAML maps to JSON")
}

/// Whether scalerd itself loads and validates `text` (written to a temp file).
fn scalerd_accepts(name: &str, text: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("scalerd-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    let result = scalerd::load(&path, &scalerd::builtin_registry())
        .map(|_| ())
        .map_err(|e| e.to_string());
    std::fs::remove_file(&path).unwrap();
    result
}

/// Every `.yaml` under `examples/configs`, sorted.
fn example_configs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("examples/configs"), &mut out);
    out.sort();
    out
}

#[test]
fn every_shipped_config_of_scalerds_format_is_valid() {
    let validator = Validator::new();
    let mut own = Vec::new();
    for path in example_configs() {
        let doc = yaml(&std::fs::read_to_string(&path).unwrap());
        // KEDA manifests are described by KEDA's CRDs, not by this schema.
        if doc.get("apiVersion").is_some() {
            continue;
        }
        assert!(doc.get("scaledObjects").is_some(), "{}", path.display());
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        assert_eq!(validator.errors(&doc), Vec::<String>::new(), "{name}");
        own.push(name);
    }
    // At least these (other examples may be added; each is validated above).
    for name in [
        "examples/configs/burst-limited.yaml",
        "examples/configs/kafka-orders.yaml",
        "examples/configs/plugin/directory.yaml",
        "examples/configs/redis-cluster-sentinel.yaml",
        "examples/configs/redis-list.yaml",
        "examples/configs/scale-from-zero.yaml",
        "examples/configs/stabilized-scale-down.yaml",
    ] {
        assert!(
            own.iter().any(|o| o == name),
            "{name} not validated: {own:?}"
        );
    }
}

/// A valid config of every section, with the spellings the loader accepts besides the plain
/// ones: `null` for absent fields, numbers and booleans in metadata, numbers in strings.
/// (`PATH` and this crate's manifest stand for a variable and a file that exist.)
fn everything() -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    EVERYTHING.replace("MANIFEST", file.to_str().unwrap())
}

const EVERYTHING: &str = r#"
authentications:
  - name: redis-auth
    namespace: shop
    kind: TriggerAuthentication
    secretTargetRef: [{parameter: password, name: redis, key: password}]
    configMapTargetRef: [{parameter: address, name: redis-conf, key: address}]
    env: [{parameter: username, name: PATH, containerName: app}]
  - name: shared
    kind: ClusterTriggerAuthentication
    env: null
    file: [{parameter: token, path: "MANIFEST"}]
scaledObjects:
  - name: orders
    namespace: shop
    scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: orders, envSourceContainerName: app}
    pollingInterval: 15
    cooldownPeriod: null
    initialCooldownPeriod: 60
    idleReplicaCount: 0
    minReplicaCount: 1
    maxReplicaCount: 10
    paused: false
    pausedReplicaCount: null
    fallback: {failureThreshold: 3, replicas: 4, behavior: currentReplicasIfHigher}
    advanced:
      restoreToOriginalReplicaCount: true
      horizontalPodAutoscalerConfig:
        name: keda-hpa-orders
        behavior:
          scaleUp:
            stabilizationWindowSeconds: 0
            selectPolicy: Max
            tolerance: 50m
            policies: [{type: Pods, value: 4, periodSeconds: 15}]
          scaleDown:
            selectPolicy: Disabled
            tolerance: 0.05
      scalingModifiers: {formula: "jobs * 2", target: "10", activationTarget: 1.5, metricType: Value}
    triggers:
      - type: redis
        name: jobs
        metricType: AverageValue
        useCachedMetrics: false
        authenticationRef: {name: redis-auth}
        metadata:
          address: redis:6379
          listName: jobs
          listLength: 10
          enableTLS: false
          databaseIndex: null
"#;

#[test]
fn every_spelling_the_loader_accepts_is_valid() {
    let text = everything();
    assert_eq!(scalerd_accepts("everything", &text), Ok(()));
    assert_eq!(Validator::new().errors(&yaml(&text)), Vec::<String>::new());
}

#[test]
fn broken_configs_are_refused_where_they_break() {
    let validator = Validator::new();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "misspelled-top",
            "scaledObject: []\n",
            &[""], // unknown key, and the required scaledObjects is missing
        ),
        ("no-objects", "scaledObjects: []\n", &["/scaledObjects"]),
        (
            "job-without-template",
            "scaledJobs:\n  - {name: a, jobTargetRef: {parallelism: 1}, triggers: [{type: cpu}]}\n",
            &["/scaledJobs/0/jobTargetRef"],
        ),
        (
            "job-strategy",
            "scaledJobs:\n  - {name: a, jobTargetRef: {template: {}}, scalingStrategy: {strategy: greedy}, triggers: [{type: cpu}]}\n",
            &["/scaledJobs/0/scalingStrategy/strategy"],
        ),
        (
            "unknown-field",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, pollingIntervall: 5, triggers: [{type: cpu}]}\n",
            &["/scaledObjects/0"],
        ),
        (
            "count-as-text",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, pollingInterval: ten, triggers: [{type: cpu}]}\n",
            &["/scaledObjects/0/pollingInterval"],
        ),
        (
            "negative-count",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, minReplicaCount: -1, triggers: [{type: cpu}]}\n",
            &["/scaledObjects/0/minReplicaCount"],
        ),
        (
            "no-target",
            "scaledObjects:\n  - {name: a, triggers: [{type: cpu}]}\n",
            &["/scaledObjects/0"],
        ),
        (
            "empty-target-name",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: ''}, triggers: [{type: cpu}]}\n",
            &["/scaledObjects/0/scaleTargetRef/name"],
        ),
        (
            "no-triggers",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, triggers: []}\n",
            &["/scaledObjects/0/triggers"],
        ),
        (
            "metadata-list",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, triggers: [{type: prometheus, metadata: {threshold: [1]}}]}\n",
            &["/scaledObjects/0/triggers/0/metadata/threshold"],
        ),
        (
            "fallback-behavior",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, fallback: {failureThreshold: 3, replicas: 2, behavior: sometimes}, triggers: [{type: cpu}]}\n",
            &["/scaledObjects/0/fallback/behavior"],
        ),
        (
            "policy-type",
            "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    advanced: {horizontalPodAutoscalerConfig: {behavior: {scaleUp: {policies: [{type: Pod, value: 1, periodSeconds: 15}]}}}}\n    triggers: [{type: cpu}]\n",
            &[
                "/scaledObjects/0/advanced/horizontalPodAutoscalerConfig/behavior/scaleUp/policies/0/type",
            ],
        ),
        (
            "policy-period",
            "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    advanced: {horizontalPodAutoscalerConfig: {behavior: {scaleDown: {policies: [{type: Pods, value: 1, periodSeconds: 3600}]}}}}\n    triggers: [{type: cpu}]\n",
            &[
                "/scaledObjects/0/advanced/horizontalPodAutoscalerConfig/behavior/scaleDown/policies/0/periodSeconds",
            ],
        ),
        (
            "tolerance",
            "scaledObjects:\n  - name: a\n    scaleTargetRef: {name: a}\n    advanced: {horizontalPodAutoscalerConfig: {behavior: {scaleDown: {tolerance: 5x}}}}\n    triggers: [{type: cpu}]\n",
            &[
                "/scaledObjects/0/advanced/horizontalPodAutoscalerConfig/behavior/scaleDown/tolerance",
            ],
        ),
        (
            "modifier-target",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, advanced: {scalingModifiers: {formula: x, target: ten}}, triggers: [{type: cpu, name: x}]}\n",
            &["/scaledObjects/0/advanced/scalingModifiers/target"],
        ),
        (
            "modifier-zero-target",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, advanced: {scalingModifiers: {formula: x, target: '0.0'}}, triggers: [{type: cpu, name: x}]}\n",
            &["/scaledObjects/0/advanced/scalingModifiers/target"],
        ),
        (
            "auth-source",
            "authentications:\n  - {name: x, podIdentity: {provider: aws}}\nscaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, triggers: [{type: cpu}]}\n",
            &["/authentications/0"],
        ),
        (
            "auth-kind",
            "authentications:\n  - {name: x, kind: Secret}\nscaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, triggers: [{type: cpu}]}\n",
            &["/authentications/0/kind"],
        ),
        (
            "secret-key",
            "authentications:\n  - {name: x, secretTargetRef: [{parameter: password, name: redis}]}\nscaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, triggers: [{type: cpu}]}\n",
            &["/authentications/0/secretTargetRef/0"],
        ),
        (
            "auth-ref-kind",
            "scaledObjects:\n  - {name: a, scaleTargetRef: {name: a}, triggers: [{type: cpu, authenticationRef: {name: x, kind: Secret}}]}\n",
            &["/scaledObjects/0/triggers/0/authenticationRef/kind"],
        ),
    ];
    for (name, text, locations) in cases {
        let errors = validator.errors(&yaml(text));
        assert_eq!(&errors, locations, "{name}: {text}");
        assert!(
            scalerd_accepts(name, text).is_err(),
            "{name}: the schema refuses what scalerd accepts: {text}"
        );
    }
}

#[test]
fn fields_carry_docs_defaults_and_keda_names() {
    let schema = schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["title"], "scalerd config");
    assert_eq!(schema["required"], Value::Null);
    assert_eq!(
        schema["anyOf"],
        json!([
            {"required": ["scaledObjects"], "properties": {"scaledObjects": {"minItems": 1}}},
            {"required": ["scaledJobs"], "properties": {"scaledJobs": {"minItems": 1}}},
        ])
    );
    let job = &schema["definitions"]["ScaledJob"]["properties"];
    assert_eq!(job["successfulJobsHistoryLimit"]["default"], 100);
    assert_eq!(job["maxReplicaCount"]["default"], 100);
    let strategies = schema["definitions"]["JobScalingStrategy"].to_string();
    for name in ["default", "custom", "accurate", "eager"] {
        assert!(strategies.contains(&format!("\"{name}\"")), "{strategies}");
    }
    let defs = schema["definitions"].as_object().unwrap();
    let object = &defs["ScaledObject"]["properties"];
    assert_eq!(object["pollingInterval"]["default"], 30);
    assert_eq!(object["cooldownPeriod"]["default"], 300);
    assert_eq!(object["minReplicaCount"]["default"], 0);
    assert_eq!(object["maxReplicaCount"]["default"], 100);
    assert_eq!(object["namespace"]["default"], "default");
    assert_eq!(
        object["name"]["description"],
        "Name of the scaled object, unique within its namespace.\n\nKEDA: `metadata.name`."
    );
    assert_eq!(
        defs["ScaleTargetRef"]["properties"]["apiVersion"]["default"],
        "apps/v1"
    );
    assert_eq!(
        defs["ScaleTargetRef"]["properties"]["kind"]["default"],
        "Deployment"
    );
    let consts = |name: &str| -> Vec<Value> {
        defs[name]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an enumeration"))
            .iter()
            .map(|v| v["const"].clone())
            .collect()
    };
    assert_eq!(
        consts("FallbackBehavior"),
        [
            "static",
            "currentReplicas",
            "currentReplicasIfHigher",
            "currentReplicasIfLower",
            "scalingModifiers"
        ]
    );
    assert_eq!(consts("MetricType"), ["AverageValue", "Value"]);
    assert_eq!(consts("SelectPolicy"), ["Max", "Min", "Disabled"]);
    assert_eq!(consts("PolicyType"), ["Pods", "Percent"]);
    assert_eq!(
        defs["TriggerSpec"]["properties"]["type"]["examples"],
        json!(scalerd::builtin_registry().types().collect::<Vec<_>>())
    );
    // Every object is closed, and every property is documented, in plain text.
    for (name, def) in defs {
        let Some(properties) = def.get("properties").and_then(Value::as_object) else {
            continue;
        };
        assert_eq!(def["additionalProperties"], false, "{name}");
        for (field, property) in properties {
            let text = property["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}.{field} has no description"));
            assert!(!text.contains("[`"), "{name}.{field}: {text}");
            assert!(
                !text.replace("\n\n", "").contains('\n'),
                "{name}.{field}: {text:?}"
            );
        }
    }
}

#[test]
fn the_command_prints_the_schema() {
    let out = Command::new(env!("CARGO_BIN_EXE_scalerd"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        scalerd::tools::schema::render(&scalerd::builtin_registry())
    );
}
