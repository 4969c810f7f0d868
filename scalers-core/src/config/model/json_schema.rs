//! The JSON Schema of scalerd's own config format (cargo feature `schema`).
//!
//! The model types derive [`schemars::JsonSchema`], with KEDA's defaults and the field docs;
//! this module holds what the derive cannot say on its own about the YAML that
//! [`crate::config::load`] accepts:
//!
//! - an optional field may be written as `null` (the loader reads it as absent);
//! - trigger `metadata` values may be strings, numbers or booleans, kept as text;
//! - `scalingModifiers.target` and `activationTarget` may be numbers or strings holding one,
//!   and `tolerance` a number or a Kubernetes quantity such as `"50m"`;
//! - authentications are written in KEDA's shape (`secretTargetRef`, `configMapTargetRef`,
//!   `env`, `file` lists), not
//!   as the model's resolved [`Authentication`](super::Authentication);
//! - each field of a scaled object or an authentication says where KEDA keeps it.
//!
//! Use [`config_schema`]: `schemars::schema_for!(Config)` lacks the first and last points.
//!
//! ```
//! let schema = scalers_core::config::json_schema::config_schema();
//! assert_eq!(schema.get("title").and_then(|t| t.as_str()), Some("scalerd config"));
//! ```

use schemars::generate::SchemaSettings;
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use super::{
    Config, DEFAULT_COOLDOWN_PERIOD, DEFAULT_MAX_REPLICA_COUNT, DEFAULT_NAMESPACE,
    DEFAULT_POLLING_INTERVAL, ScaleTargetRef,
};

/// A finite decimal number as Rust's `f64` parser reads it (no `inf` or `NaN`), not negative.
const NON_NEGATIVE: &str = r"^\+?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$";
/// A number as [`NON_NEGATIVE`], greater than zero: some digit of the mantissa is not `0`.
const POSITIVE: &str = r"^\+?0*([1-9][0-9]*\.?[0-9]*|0?\.0*[1-9][0-9]*)([eE][+-]?[0-9]+)?$";
/// A non-negative Kubernetes quantity: a number with a decimal, binary or exponent suffix.
const QUANTITY: &str = r"^\+?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$";

/// Where KEDA keeps the fields of scalerd's own format that are not named as in KEDA's spec:
/// `(definition, property, KEDA location)`. Spec fields are `spec.<name>` in a ScaledObject;
/// `paused`, `pausedReplicaCount`, `pausedScaleIn` and `pausedScaleOut` name their annotations in
/// their own docs.
const KEDA_LOCATIONS: &[(&str, &str, &str)] = &[
    (
        "",
        "scaledObjects",
        "one `keda.sh/v1alpha1` `ScaledObject` manifest per entry",
    ),
    (
        "",
        "scaledJobs",
        "one `keda.sh/v1alpha1` `ScaledJob` manifest per entry",
    ),
    ("ScaledJob", "name", "`metadata.name`"),
    ("ScaledJob", "namespace", "`metadata.namespace`"),
    (
        "ScaledJob",
        "paused",
        "the annotation `autoscaling.keda.sh/paused`",
    ),
    ("ScaledJob", "labels", "`metadata.labels`"),
    (
        "",
        "authentications",
        "one `TriggerAuthentication` or `ClusterTriggerAuthentication` manifest per entry",
    ),
    ("ScaledObject", "name", "`metadata.name`"),
    ("ScaledObject", "namespace", "`metadata.namespace`"),
    ("Authentication", "name", "`metadata.name`"),
    ("Authentication", "namespace", "`metadata.namespace`"),
    ("Authentication", "kind", "the manifest's `kind`"),
    (
        "Authentication",
        "secretTargetRef",
        "`spec.secretTargetRef`",
    ),
    (
        "Authentication",
        "configMapTargetRef",
        "`spec.configMapTargetRef`",
    ),
    ("Authentication", "env", "`spec.env`"),
    ("Authentication", "file", "none: a scalerd extension"),
];

/// The JSON Schema (draft 7, for the widest editor support) of scalerd's own config format:
/// the file that [`crate::config::load_str`] reads when it has a top-level `scaledObjects` or
/// `scaledJobs`.
///
/// A document valid against it still goes through validation (relations between fields,
/// trigger parameters); an invalid one is refused by the loader or by validation.
pub fn config_schema() -> Schema {
    let mut schema = SchemaSettings::draft07()
        .with_transform(NullableOptionals)
        .into_generator()
        .into_root_schema_for::<Config>();
    schema.insert("title".into(), "scalerd config".into());
    schema.insert(
        "description".into(),
        "scalerd's own config format: the scaled objects it manages (KEDA's ScaledObject \
         spec, with name and namespace inline) and the authentications their triggers refer \
         to. KEDA manifests are read too, but are described by KEDA's own CRDs."
            .into(),
    );
    // A file has at least one scaled object or one scaled job (what the loader requires).
    schema.insert(
        "anyOf".into(),
        serde_json::json!([
            {"required": ["scaledObjects"], "properties": {"scaledObjects": {"minItems": 1}}},
            {"required": ["scaledJobs"], "properties": {"scaledJobs": {"minItems": 1}}},
        ]),
    );
    for value in schema.ensure_object().values_mut() {
        tidy_descriptions(value);
    }
    for (definition, property, keda) in KEDA_LOCATIONS {
        let pointer = if definition.is_empty() {
            format!("/properties/{property}")
        } else {
            format!("/definitions/{definition}/properties/{property}")
        };
        if let Some(Value::Object(field)) = schema.pointer_mut(&pointer) {
            let text = field
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let described = format!("{text}\n\nKEDA: {keda}.").trim_start().to_owned();
            field.insert("description".into(), described.into());
        }
    }
    schema
}

/// Rewrites every `description` from Rust doc comments to plain text: lines of a paragraph
/// joined, intra-doc link brackets dropped (`` [`Fallback`] `` becomes `` `Fallback` ``).
fn tidy_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(text) if key == "description" => *text = tidy(text),
                    _ => tidy_descriptions(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_descriptions),
        _ => {}
    }
}

/// One description, tidied as [`tidy_descriptions`] says.
fn tidy(text: &str) -> String {
    let joined = text
        .split("\n\n")
        .map(|paragraph| {
            paragraph
                .split('\n')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    joined.replace("[`", "`").replace("`]", "`")
}

/// Default of `namespace`.
pub(super) fn namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

/// Default of `pollingInterval`.
pub(super) fn polling_interval() -> u32 {
    DEFAULT_POLLING_INTERVAL
}

/// Default of `successfulJobsHistoryLimit` and `failedJobsHistoryLimit`.
pub(super) fn jobs_history_limit() -> u32 {
    super::DEFAULT_JOBS_HISTORY_LIMIT
}

/// A `batch/v1` `JobSpec`: a mapping with a pod `template` (described by Kubernetes' own
/// schema, not repeated here).
pub(super) fn job_spec(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["template"],
        "properties": { "template": { "type": "object" } },
    })
}

/// Default of `cooldownPeriod`.
pub(super) fn cooldown_period() -> u32 {
    DEFAULT_COOLDOWN_PERIOD
}

/// Default of `maxReplicaCount`.
pub(super) fn max_replica_count() -> u32 {
    DEFAULT_MAX_REPLICA_COUNT
}

/// Default of `scaleTargetRef.apiVersion`.
pub(super) fn api_version() -> String {
    ScaleTargetRef::deployment("").api_version
}

/// Default of `scaleTargetRef.kind`.
pub(super) fn kind() -> String {
    ScaleTargetRef::deployment("").kind
}

/// Trigger metadata: string keys, scalar values (kept as their text; `null` is empty).
pub(super) fn metadata(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "type": ["string", "number", "boolean", "null"] },
    })
}

/// A number greater than zero, or a string holding one.
pub(super) fn positive_number(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "number", "exclusiveMinimum": 0 },
            { "type": "string", "pattern": POSITIVE },
        ],
    })
}

/// A number not below zero, or a string holding one.
pub(super) fn non_negative_number(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "number", "minimum": 0 },
            { "type": "string", "pattern": NON_NEGATIVE },
        ],
    })
}

/// A number not below zero, or a Kubernetes quantity string such as `"50m"`.
pub(super) fn tolerance(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "number", "minimum": 0 },
            { "type": "string", "pattern": QUANTITY },
        ],
    })
}

/// The kind of an authentication reference.
pub(super) fn authentication_kind(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<AuthenticationKind>()
}

/// Marks every optional property as also accepting `null`, which the loader reads as absent.
#[derive(Clone, Copy, Debug)]
struct NullableOptionals;

impl Transform for NullableOptionals {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        let required: Vec<String> = match schema.get("required") {
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let Some(Value::Object(properties)) = schema.get_mut("properties") else {
            return;
        };
        for (name, property) in properties.iter_mut() {
            if !required.contains(name)
                && let Value::Object(field) = property
            {
                accept_null(field);
            }
        }
    }
}

/// Makes the schema `field` accept `null` too, keeping its annotations outermost.
fn accept_null(field: &mut Map<String, Value>) {
    let null = Value::from("null");
    let composite = ["$ref", "allOf", "anyOf", "oneOf", "const"]
        .iter()
        .any(|k| field.contains_key(*k));
    if !composite {
        match field.get_mut("type") {
            Some(Value::Array(types)) => {
                if !types.contains(&null) {
                    types.push(null.clone());
                }
            }
            Some(single @ Value::String(_)) if single != &null => {
                *single = Value::Array(vec![single.take(), null.clone()]);
            }
            _ => return,
        }
        if let Some(Value::Array(options)) = field.get_mut("enum")
            && !options.contains(&Value::Null)
        {
            options.push(Value::Null);
        }
        return;
    }
    if let Some(Value::Array(options)) = field.get("anyOf")
        && options.iter().any(|o| o.get("type") == Some(&null))
    {
        return;
    }
    let annotations = ["title", "description", "default", "examples", "deprecated"];
    let mut outer = Map::new();
    for key in annotations {
        if let Some(value) = field.remove(key) {
            outer.insert(key.to_owned(), value);
        }
    }
    let inner = std::mem::take(field);
    outer.insert(
        "anyOf".to_owned(),
        Value::Array(vec![
            Value::Object(inner),
            serde_json::json!({ "type": "null" }),
        ]),
    );
    *field = outer;
}

/// Named credentials that triggers refer to (KEDA's TriggerAuthentication and
/// ClusterTriggerAuthentication), as written in scalerd's own format.
///
/// A trigger reads a parameter from its `metadata`, then from its authentication, then from
/// `<name>FromEnv`.
#[derive(JsonSchema)]
#[schemars(
    rename = "Authentication",
    rename_all = "camelCase",
    deny_unknown_fields
)]
#[allow(dead_code, reason = "only the schema of these types is used")]
pub(super) struct OwnAuthentication {
    /// Name, unique per kind and namespace.
    #[schemars(length(min = 1))]
    name: String,
    /// Namespace whose scaled objects may refer to it; without one it serves every namespace.
    namespace: Option<String>,
    /// `TriggerAuthentication` (default) or `ClusterTriggerAuthentication` (cluster-wide: no
    /// namespace).
    kind: Option<AuthenticationKind>,
    /// Keys of Kubernetes Secrets, read through the Kubernetes API from the authentication's
    /// namespace (from scalerd's own namespace for a cluster-wide one).
    secret_target_ref: Option<Vec<SecretKeySource>>,
    /// Keys of Kubernetes ConfigMaps, read through the Kubernetes API from the same namespace
    /// as `secretTargetRef`.
    config_map_target_ref: Option<Vec<ConfigMapKeySource>>,
    /// Variables of scalerd's own process environment. KEDA reads them from a container of
    /// the scale target; scalerd runs outside the workload and reads its own.
    env: Option<Vec<EnvSource>>,
    /// File contents without their trailing newline, such as a mounted Secret key.
    file: Option<Vec<FileSource>>,
}

/// Which kind of authentication: namespaced or cluster-wide.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "only the schema of this type is used")]
enum AuthenticationKind {
    /// A namespaced authentication (the default).
    TriggerAuthentication,
    /// A cluster-wide authentication.
    ClusterTriggerAuthentication,
}

/// A trigger parameter read from a key of a Kubernetes Secret.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code, reason = "only the schema of this type is used")]
struct SecretKeySource {
    /// The trigger parameter it sets, such as `password`.
    parameter: String,
    /// The Secret's name.
    name: String,
    /// The key inside the Secret's data.
    key: String,
}

/// A trigger parameter read from a key of a Kubernetes ConfigMap.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code, reason = "only the schema of this type is used")]
struct ConfigMapKeySource {
    /// The trigger parameter it sets, such as `host`.
    parameter: String,
    /// The ConfigMap's name.
    name: String,
    /// The key inside the ConfigMap's data.
    key: String,
}

/// A trigger parameter read from an environment variable of the scalerd process.
#[derive(JsonSchema)]
#[schemars(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code, reason = "only the schema of this type is used")]
struct EnvSource {
    /// The trigger parameter it sets, such as `username`.
    parameter: String,
    /// The variable's name.
    name: String,
    /// The container KEDA reads the variable from; kept, and not used: objects from a file
    /// read scalerd's own environment.
    container_name: Option<String>,
}

/// A trigger parameter read from a file.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code, reason = "only the schema of this type is used")]
struct FileSource {
    /// The trigger parameter it sets, such as `ca`.
    parameter: String,
    /// The file's path.
    path: String,
}
