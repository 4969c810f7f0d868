//! The YAML loader: turns a config file into a [`Config`], reporting every problem at once.
//!
//! Two formats are accepted, and both produce the same [`Config`].
//!
//! # scalerd's own format
//!
//! One YAML mapping with the keys `scaledObjects`, a list of scaled objects, and optionally
//! `authentications`, a list of credentials that triggers refer to. Each scaled object has
//! a `name` (required), an optional `namespace` (default `default`), the fields of KEDA's
//! `ScaledObject` spec inline (`scaleTargetRef`, `pollingInterval`, `cooldownPeriod`,
//! `initialCooldownPeriod`, `idleReplicaCount`, `minReplicaCount`, `maxReplicaCount`,
//! `fallback`, `advanced`, `triggers`), and optional `paused` and `pausedReplicaCount`:
//!
//! ```yaml
//! scaledObjects:
//!   - name: worker
//!     scaleTargetRef: { name: worker }
//!     maxReplicaCount: 10
//!     triggers:
//!       - type: prometheus
//!         metadata: { query: sum(rate(jobs[1m])), threshold: 5 }
//! ```
//!
//! Error paths start at `scaledObjects`, such as `scaledObjects[0].triggers[0].metadata.query`,
//! and each object's [`Location`] is `scaledObjects[i]`.
//!
//! A `scaledJobs` list holds scaled jobs (KEDA's ScaledJob) the same way: `name`, optional
//! `namespace`, `paused` and `labels`, and the ScaledJob spec fields inline (`jobTargetRef`,
//! required, `pollingInterval`, `successfulJobsHistoryLimit`, `failedJobsHistoryLimit`,
//! `envSourceContainerName`, `minReplicaCount`, `maxReplicaCount`, `rollout`, the deprecated
//! `rolloutStrategy`, `scalingStrategy`, `triggers`); paths start at `scaledJobs[i]`. A file
//! needs at least one scaled object or scaled job.
//!
//! Each authentication has a `name` (required), an optional `namespace` (without one it serves
//! every namespace), an optional `kind` (`TriggerAuthentication`, the default, or
//! `ClusterTriggerAuthentication`, which has no namespace) and its sources, in KEDA's shapes:
//!
//! ```yaml
//! authentications:
//!   - name: redis-auth
//!     namespace: shop
//!     secretTargetRef:            # keys of Kubernetes Secrets, read through the API
//!       - {parameter: password, name: redis, key: password}
//!     configMapTargetRef:         # keys of Kubernetes ConfigMaps, read through the API
//!       - {parameter: host, name: redis-conf, key: host}
//!     env:                        # variables of scalerd's own process environment
//!       - {parameter: username, name: REDIS_USER}
//!     file:                       # file contents, trailing newline trimmed (scalerd extension)
//!       - {parameter: ca, path: /etc/redis/ca.pem}
//! scaledObjects:
//!   - name: orders
//!     namespace: shop
//!     scaleTargetRef: {name: orders}
//!     triggers:
//!       - type: redis
//!         metadata: {address: redis:6379, listName: orders}
//!         authenticationRef: {name: redis-auth}
//! ```
//!
//! KEDA reads an `env` source from a container of the scale target (`containerName`, else the
//! first); so does scalerd in cluster mode, while objects from a file read scalerd's own
//! environment, since scalerd does not run inside the workload (`containerName` is kept and
//! then not used). KEDA's other sources (`podIdentity`, `hashiCorpVault`, `azureKeyVault`,
//! `gcpSecretManager`, `awsSecretManager`, `boundServiceAccountToken`, `oauth2`, `filePath`)
//! are refused with a message naming the supported ones. Error paths
//! start at `authentications`, such as `authentications[0].secretTargetRef[1].key`.
//!
//! `secretTargetRef` and `configMapTargetRef` keys are read the same way, through the
//! Kubernetes API: from the authentication's namespace, or from scalerd's own namespace for an
//! authentication without one (a ClusterTriggerAuthentication, or an entry of scalerd's own
//! format written without a namespace). A missing object or key is an error at its entry
//! (KEDA would read an empty value); without a cluster (`scalerd check`) they are not read.
//!
//! # KEDA manifests
//!
//! One or more YAML documents separated by `---` (empty documents are skipped), each a KEDA
//! `ScaledObject` (or `ScaledJob`, with the spec fields above, `metadata.labels` and the
//! `autoscaling.keda.sh/paused` annotation read as Go's `ParseBool` does, an unreadable value
//! pausing) exactly as it would be applied to a cluster: `apiVersion: keda.sh/v1alpha1`,
//! `kind: ScaledObject`, `metadata` (`name` required, `namespace` default `default`, the other
//! standard object metadata keys tolerated) and `spec`; a `status` is ignored. The annotation
//! `autoscaling.keda.sh/paused` pauses the object unless its value is `"false"`, and
//! `autoscaling.keda.sh/paused-replicas` sets the paused replica count.
//!
//! Documents of kind `TriggerAuthentication` and `ClusterTriggerAuthentication` (same
//! `apiVersion`) define authentications: `metadata.name` (required), `metadata.namespace` (for
//! a TriggerAuthentication, default `default`; ignored on a ClusterTriggerAuthentication, as
//! Kubernetes does for cluster-scoped objects) and a `spec` with the sources above
//! (`secretTargetRef`, `configMapTargetRef`, `env`, and the extension `file`). A file needs at least one
//! ScaledObject or ScaledJob. Documents of other kinds are errors.
//!
//! A document of kind `List` (`apiVersion: v1`, what `kubectl get scaledobjects,triggerauthentications
//! -A -o yaml` writes), or a typed list such as `ScaledObjectList`, stands for the manifests in
//! its `items`; error paths and locations then go through the item: `items[2].spec.triggers[0]`
//! (`documents[1].items[2]…` in a file of several documents).
//!
//! A file is read as KEDA manifests when its first non-empty document is a mapping with an
//! `apiVersion` key. Error paths start at the document (`spec.triggers[0].type`); when the file
//! holds more than one non-empty document they are prefixed with the document's position
//! among all documents, counting from 0: `documents[1].spec.triggers[0].type`. Each object's
//! [`Location`] is its document's `spec` and `metadata` (`documents[1].spec`, or `spec` alone),
//! and so is each authentication's.
//!
//! # Decoding
//!
//! The loader checks structure only: types, required fields, enumerations and unknown keys.
//! Counts are whole numbers that fit in 32 bits, `null` stands for an absent optional field,
//! and trigger `metadata` values may be strings, numbers or booleans (kept as their text; a
//! `null` value becomes the empty string). Relations between fields and the meaning of trigger
//! metadata are checked later by validation.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_norway::{Mapping, Number, Value};

use crate::config::model::{
    Advanced, AuthParameter, AuthSource, Authentication, AuthenticationRef, Behavior,
    CLUSTER_TRIGGER_AUTHENTICATION, Config, DEFAULT_COOLDOWN_PERIOD, DEFAULT_MAX_REPLICA_COUNT,
    DEFAULT_NAMESPACE, DEFAULT_POLLING_INTERVAL, Fallback, FallbackBehavior,
    HorizontalPodAutoscalerConfig, JobScalingStrategy, Location, MetricType,
    MultipleScalersCalculation, PolicyType, PropagationPolicy, Rollout, RolloutStrategy,
    ScaleTargetRef, ScaledJob, ScaledObject, ScalingModifiers, ScalingPolicy, ScalingRules,
    ScalingStrategy, SelectPolicy, TRIGGER_AUTHENTICATION, TriggerSpec,
};
use crate::error::{ConfigError, ConfigErrors, Error, Result};

/// The only `apiVersion` of KEDA manifests accepted.
const KEDA_API_VERSION: &str = "keda.sh/v1alpha1";
/// KEDA's annotation pausing a scaled object.
const PAUSED_ANNOTATION: &str = "autoscaling.keda.sh/paused";
/// KEDA's annotation holding a scaled object at a replica count.
const PAUSED_REPLICAS_ANNOTATION: &str = "autoscaling.keda.sh/paused-replicas";
/// KEDA's annotation forbidding every decision that lowers the replica count.
const PAUSED_SCALE_IN_ANNOTATION: &str = "autoscaling.keda.sh/paused-scale-in";
/// KEDA's annotation forbidding every decision that raises the replica count.
const PAUSED_SCALE_OUT_ANNOTATION: &str = "autoscaling.keda.sh/paused-scale-out";
/// The pause annotations read; any other annotation is ignored.
const PAUSE_ANNOTATIONS: &[&str] = &[
    PAUSED_ANNOTATION,
    PAUSED_REPLICAS_ANNOTATION,
    PAUSED_SCALE_IN_ANNOTATION,
    PAUSED_SCALE_OUT_ANNOTATION,
];
/// Reported when a file describes no scaled object at all.
const NO_OBJECTS: &str = "the config has no scaled objects";

/// Keys of scalerd's own format, at the top level.
const TOP_FIELDS: &[&str] = &["scaledObjects", "scaledJobs", "authentications"];
/// The kind of a KEDA scaled job manifest.
const SCALED_JOB: &str = "ScaledJob";
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
/// Keys of a scaled object of scalerd's own format that are not spec fields, before them.
const OWN_IDENTITY_FIELDS: &[&str] = &["name", "namespace"];
/// Keys of a scaled object of scalerd's own format that are not spec fields, after them.
const OWN_PAUSE_FIELDS: &[&str] = &[
    "paused",
    "pausedReplicaCount",
    "pausedScaleIn",
    "pausedScaleOut",
];
/// Keys of a KEDA `ScaledObject` spec.
const SPEC_FIELDS: &[&str] = &[
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
];
/// Keys of a KEDA manifest document.
const DOCUMENT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
/// Keys of a list document (`kind: List`).
const LIST_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "items"];
/// The `apiVersion`s of a list document: `v1` for `kind: List` as kubectl writes it, and KEDA's
/// for a typed list (`ScaledObjectList`) as the API serves it.
const LIST_API_VERSIONS: &[&str] = &["v1", KEDA_API_VERSION];
/// Keys of a Kubernetes `ObjectMeta`; only `name`, `namespace` and `annotations` are used.
const METADATA_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "annotations",
    "labels",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
];
/// Keys of `scaleTargetRef`.
const TARGET_FIELDS: &[&str] = &["apiVersion", "kind", "name", "envSourceContainerName"];
/// Keys of `fallback`.
const FALLBACK_FIELDS: &[&str] = &["failureThreshold", "replicas", "behavior"];
/// Keys of `advanced`.
const ADVANCED_FIELDS: &[&str] = &[
    "restoreToOriginalReplicaCount",
    "horizontalPodAutoscalerConfig",
    "scalingModifiers",
];
/// Keys of `advanced.horizontalPodAutoscalerConfig`.
const HPA_FIELDS: &[&str] = &["name", "behavior"];
/// Keys of `advanced.horizontalPodAutoscalerConfig.behavior`.
const BEHAVIOR_FIELDS: &[&str] = &["scaleUp", "scaleDown"];
/// Keys of `scaleUp` and `scaleDown`.
const RULES_FIELDS: &[&str] = &[
    "stabilizationWindowSeconds",
    "selectPolicy",
    "policies",
    "tolerance",
];
/// Keys of one scaling policy.
const POLICY_FIELDS: &[&str] = &["type", "value", "periodSeconds"];
/// Keys of `advanced.scalingModifiers`.
const MODIFIERS_FIELDS: &[&str] = &["formula", "target", "activationTarget", "metricType"];
/// Keys of a trigger.
const TRIGGER_FIELDS: &[&str] = &[
    "type",
    "name",
    "metadata",
    "metricType",
    "authenticationRef",
    "useCachedMetrics",
];
/// Keys of `authenticationRef`.
const AUTH_REF_FIELDS: &[&str] = &["name", "kind"];
/// Keys of an authentication of scalerd's own format that are not sources.
const OWN_AUTH_FIELDS: &[&str] = &["name", "namespace", "kind"];
/// The authentication sources scalerd reads.
const AUTH_SOURCES: &[&str] = &["secretTargetRef", "configMapTargetRef", "env", "file"];
/// KEDA's authentication sources that scalerd does not read.
const UNSUPPORTED_AUTH_SOURCES: &[&str] = &[
    "podIdentity",
    "hashiCorpVault",
    "azureKeyVault",
    "gcpSecretManager",
    "awsSecretManager",
    "boundServiceAccountToken",
    "oauth2",
    "filePath",
];
/// Keys of a `secretTargetRef` or `configMapTargetRef` entry, all required.
const KEY_REF_FIELDS: &[&str] = &["parameter", "name", "key"];
/// Keys of an `env` entry; the first two are required.
const ENV_FIELDS: &[&str] = &["parameter", "name", "containerName"];
/// Keys of a `file` entry, all required.
const FILE_FIELDS: &[&str] = &["parameter", "path"];

/// Spellings of [`FallbackBehavior`].
const FALLBACK_BEHAVIORS: &[(&str, FallbackBehavior)] = &[
    (FallbackBehavior::NAMES[0], FallbackBehavior::Static),
    (
        FallbackBehavior::NAMES[1],
        FallbackBehavior::CurrentReplicas,
    ),
    (
        FallbackBehavior::NAMES[2],
        FallbackBehavior::CurrentReplicasIfHigher,
    ),
    (
        FallbackBehavior::NAMES[3],
        FallbackBehavior::CurrentReplicasIfLower,
    ),
    (
        FallbackBehavior::NAMES[4],
        FallbackBehavior::ScalingModifiers,
    ),
];
/// Spellings of [`SelectPolicy`].
const SELECT_POLICIES: &[(&str, SelectPolicy)] = &[
    ("Max", SelectPolicy::Max),
    ("Min", SelectPolicy::Min),
    ("Disabled", SelectPolicy::Disabled),
];
/// Spellings of [`PolicyType`].
const POLICY_TYPES: &[(&str, PolicyType)] =
    &[("Pods", PolicyType::Pods), ("Percent", PolicyType::Percent)];
/// Spellings of an authentication's kind, as whether it is cluster-wide.
const AUTH_KINDS: &[(&str, bool)] = &[
    (TRIGGER_AUTHENTICATION, false),
    (CLUSTER_TRIGGER_AUTHENTICATION, true),
];
/// Spellings of [`MetricType`].
const METRIC_TYPES: &[(&str, MetricType)] = &[
    ("AverageValue", MetricType::AverageValue),
    ("Value", MetricType::Value),
];

/// Loads a config from YAML text; `file` is the name used in error messages.
///
/// The text is either scalerd's own format or KEDA manifests (see the [module
/// documentation](self)). The config records where each object sits ([`Config::locations`]),
/// so that validation can report paths into the file.
///
/// # Errors
/// Every problem found, in document order, each attributed to `file`; a YAML syntax error is
/// reported alone, with its line and column.
pub fn load_str(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let in_file = |errors: Vec<ConfigError>| {
        ConfigErrors(errors.into_iter().map(|e| e.in_file(file)).collect())
    };
    let documents = parse_documents(text).map_err(|e| in_file(vec![e]))?;
    let mut decoder = Decoder::default();
    decoder.documents(&documents);
    if decoder.errors.is_empty() {
        let (scaled_objects, locations) = decoder.objects.into_iter().unzip();
        let (authentications, authentication_locations) =
            decoder.authentications.into_iter().unzip();
        let (scaled_jobs, job_locations) = decoder.jobs.into_iter().unzip();
        Ok(Config {
            scaled_objects,
            scaled_jobs,
            authentications,
            locations,
            authentication_locations,
            job_locations,
        })
    } else {
        Err(in_file(decoder.errors))
    }
}

/// Reads and loads a file (error `Error::Read` if unreadable, `Error::Config` if invalid).
///
/// Error messages name the file as `path` displays.
///
/// # Errors
/// [`Error::Read`] when the file cannot be read (or is not UTF-8), [`Error::Config`] with every
/// problem found when it is not a valid config.
pub fn load_file(path: &Path) -> Result<Config> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        file: file.clone(),
        source,
    })?;
    load_str(&text, &file).map_err(Error::Config)
}

/// Parses every YAML document of `text`, with tags dropped and merge keys (`<<`) applied.
fn parse_documents(text: &str) -> Result<Vec<Value>, ConfigError> {
    let invalid = |e: serde_norway::Error| ConfigError::new("", format!("invalid YAML: {e}"));
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let mut value = strip_tags(Value::deserialize(document).map_err(invalid)?);
        value.apply_merge().map_err(invalid)?;
        documents.push(value);
    }
    Ok(documents)
}

/// `value` with every YAML tag (`!something`) removed, keeping the tagged values.
fn strip_tags(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => strip_tags(tagged.value),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(strip_tags).collect()),
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .map(|(k, v)| (strip_tags(k), strip_tags(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The path of field `key` of the mapping at `path`: `path.key`, or `path["key"]` when the key
/// is not a plain identifier.
fn child(path: &str, key: &str) -> String {
    let mut chars = key.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (plain, path.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{key:?}]"),
    }
}

/// The path of item `index` of the list at `path`.
fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A YAML value as shown after `got` in messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(tagged) => describe(&tagged.value),
    }
}

/// A string in double quotes, escaped, and shortened when long.
fn quote(s: &str) -> String {
    const MAX_CHARS: usize = 60;
    if s.chars().count() > MAX_CHARS {
        let mut short: String = s.chars().take(MAX_CHARS).collect();
        short.push('…');
        format!("{short:?}")
    } else {
        format!("{s:?}")
    }
}

/// The message for key `key`, which is none of `candidates` (the suggestions); `listed` are the
/// keys named when no candidate is close.
fn unknown_field_listing(key: &str, candidates: &[&str], listed: &[&str]) -> String {
    let key = key.to_lowercase();
    let closest = candidates
        .iter()
        .map(|k| (edit_distance(&key, &k.to_lowercase()), *k))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((_, k)) => format!("unknown field, did you mean {k:?}?"),
        None => format!("unknown field; expected one of {}", listed.join(", ")),
    }
}

/// Levenshtein distance between `a` and `b`, in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Parses a count written as text (annotation values): a whole number that fits in a `u32`.
fn parse_count(text: &str) -> Result<u32, String> {
    let got = quote(text);
    match text.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => Err(match text.parse::<i128>() {
            Ok(n) if n < 0 => format!("expected a non-negative whole number, got {got}"),
            Ok(_) => format!("expected a whole number at most {}, got {got}", u32::MAX),
            Err(_) => format!("expected a whole number, got {got}"),
        }),
    }
}

/// Parses a boolean written as text (annotation values) as Go's `strconv.ParseBool` does:
/// `true`/`false`, `1`/`0`, `t`/`f`, in lower, upper or title case.
fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" | "TRUE" | "True" | "t" | "T" | "1" => Ok(true),
        "false" | "FALSE" | "False" | "f" | "F" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {}", quote(text))),
    }
}

/// Parses a Kubernetes quantity (`0.05`, `50m`, `1e-1`, `2Ki`) to a finite number.
fn parse_quantity(text: &str) -> Option<f64> {
    crate::quantity::parse(text)
}

/// A decoded scaled object and where it sits in the file.
type Located = (ScaledObject, Location);

/// What a KEDA manifest document defines.
enum Manifest {
    /// A `ScaledObject` (boxed: it is much larger than an authentication).
    Object(Box<ScaledObject>),
    /// A `ScaledJob`.
    Job(Box<ScaledJob>),
    /// A `TriggerAuthentication` or `ClusterTriggerAuthentication`.
    Authentication(Authentication),
}

/// The parts of a scaled object that are not in KEDA's spec.
#[derive(Default)]
struct Identity {
    name: Option<String>,
    namespace: Option<String>,
    /// The text of the annotation `autoscaling.keda.sh/paused`, read per kind.
    paused_text: Option<String>,
    labels: BTreeMap<String, String>,
    paused: Option<bool>,
    paused_replica_count: Option<u32>,
    paused_scale_in: Option<bool>,
    paused_scale_out: Option<bool>,
}

/// The fields of KEDA's `ScaledObject` spec, as decoded so far.
#[derive(Default)]
struct Spec {
    scale_target_ref: Option<ScaleTargetRef>,
    polling_interval: Option<u32>,
    cooldown_period: Option<u32>,
    initial_cooldown_period: Option<u32>,
    idle_replica_count: Option<u32>,
    min_replica_count: Option<u32>,
    max_replica_count: Option<u32>,
    fallback: Option<Fallback>,
    advanced: Option<Advanced>,
    triggers: Option<Vec<TriggerSpec>>,
}

/// A scaled object from its parts, with KEDA's defaults; `None` when a required part is
/// missing (which has been reported).
fn scaled_object(identity: Identity, spec: Spec) -> Option<ScaledObject> {
    Some(ScaledObject {
        name: identity.name?,
        namespace: identity
            .namespace
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        scale_target_ref: spec.scale_target_ref?,
        polling_interval: spec.polling_interval.unwrap_or(DEFAULT_POLLING_INTERVAL),
        cooldown_period: spec.cooldown_period.unwrap_or(DEFAULT_COOLDOWN_PERIOD),
        initial_cooldown_period: spec.initial_cooldown_period.unwrap_or(0),
        idle_replica_count: spec.idle_replica_count,
        min_replica_count: spec.min_replica_count.unwrap_or(0),
        max_replica_count: spec.max_replica_count.unwrap_or(DEFAULT_MAX_REPLICA_COUNT),
        fallback: spec.fallback,
        advanced: spec.advanced.unwrap_or_default(),
        triggers: spec.triggers.unwrap_or_default(),
        paused: identity.paused.unwrap_or(false),
        paused_replica_count: identity.paused_replica_count,
        paused_scale_in: identity.paused_scale_in.unwrap_or(false),
        paused_scale_out: identity.paused_scale_out.unwrap_or(false),
    })
}

/// The fields of KEDA's `ScaledJob` spec, as decoded so far.
#[derive(Default)]
struct JobSpecFields {
    job_target_ref: Option<Value>,
    polling_interval: Option<u32>,
    successful_limit: Option<u32>,
    failed_limit: Option<u32>,
    env_source_container_name: Option<String>,
    min_replica_count: Option<u32>,
    max_replica_count: Option<u32>,
    /// `rollout`, with the strategy as written (`None` when not given).
    rollout: Option<(Option<RolloutStrategy>, Rollout)>,
    /// The deprecated `rolloutStrategy`.
    rollout_strategy: Option<RolloutStrategy>,
    scaling_strategy: Option<ScalingStrategy>,
    triggers: Option<Vec<TriggerSpec>>,
}

/// A scaled job from its parts, with KEDA's defaults; `None` when a required part is missing
/// (which has been reported).
fn scaled_job(identity: Identity, spec: JobSpecFields) -> Option<ScaledJob> {
    let mut job = ScaledJob::new(identity.name?, spec.job_target_ref?);
    if let Some(namespace) = identity.namespace {
        job.namespace = namespace;
    }
    job.polling_interval = spec.polling_interval.unwrap_or(job.polling_interval);
    job.successful_jobs_history_limit = spec
        .successful_limit
        .unwrap_or(job.successful_jobs_history_limit);
    job.failed_jobs_history_limit = spec.failed_limit.unwrap_or(job.failed_jobs_history_limit);
    job.env_source_container_name = spec.env_source_container_name;
    job.min_replica_count = spec.min_replica_count.unwrap_or(0);
    job.max_replica_count = spec.max_replica_count.unwrap_or(job.max_replica_count);
    let (written, rollout) = spec.rollout.unwrap_or_default();
    job.rollout = rollout;
    // `rollout.strategy` wins over the deprecated `rolloutStrategy` when both are given.
    if written.is_none()
        && let Some(strategy) = spec.rollout_strategy
    {
        job.rollout.strategy = strategy;
    }
    job.scaling_strategy = spec.scaling_strategy.unwrap_or_default();
    job.triggers = spec.triggers.unwrap_or_default();
    job.paused = identity.paused.unwrap_or(false);
    job.labels = identity.labels;
    Some(job)
}

/// Walks YAML values, decoding them and collecting every problem with its path.
///
/// Decoding methods return `None` when the value could not be decoded (the reason has been
/// recorded). Where a part is optional and invalid, the enclosing value may still be built with
/// a default in its place: any recorded error makes the whole load fail, so such values are
/// never returned to the caller.
#[derive(Default)]
struct Decoder {
    /// The problems found so far, in document order.
    errors: Vec<ConfigError>,
    /// The scaled objects decoded so far.
    objects: Vec<Located>,
    /// The authentications decoded so far, with where they sit.
    authentications: Vec<(Authentication, Location)>,
    /// The scaled jobs decoded so far, with where they sit.
    jobs: Vec<(ScaledJob, Location)>,
}

impl Decoder {
    /// Records a problem at `path`.
    fn report(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// Records that `value` at `path` is not `expected`.
    fn report_mismatch(&mut self, path: &str, expected: &str, value: &Value) {
        self.report(
            path,
            format!("expected {expected}, got {}", describe(value)),
        );
    }

    /// Records that `value` at `path` is not `expected`, and gives up on it.
    fn mismatch<T>(&mut self, path: &str, expected: &str, value: &Value) -> Option<T> {
        self.report_mismatch(path, expected, value);
        None
    }

    /// Decodes all documents of a file into scaled objects and authentications.
    fn documents(&mut self, documents: &[Value]) {
        let non_empty: Vec<(usize, &Value)> = documents
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_null())
            .collect();
        match non_empty.first() {
            None => {
                let path = if documents.len() > 1 {
                    ""
                } else {
                    "scaledObjects"
                };
                self.report(path, NO_OBJECTS);
            }
            Some((_, Value::Mapping(first))) if first.contains_key("apiVersion") => {
                self.manifests(&non_empty)
            }
            Some(&(_, first)) => {
                self.own_config(first);
                for &(index, _) in &non_empty[1..] {
                    self.report(
                        &item("documents", index),
                        "a scalerd config is a single YAML document; \
                         only KEDA manifests can span several",
                    );
                }
            }
        }
    }

    /// Decodes a file of scalerd's own format.
    fn own_config(&mut self, root: &Value) {
        let mut empty = true;
        let decoded = self.fields(root, "", TOP_FIELDS, |d, key, value, path| {
            let Some(items) = d.list(value, path) else {
                // Reported as a list of the wrong type, not as an empty one.
                if key != "authentications" {
                    empty = false;
                }
                return;
            };
            for (index, entry) in items.iter().enumerate() {
                let path = item(path, index);
                if key == "scaledObjects" {
                    let object = d.own_object(entry, &path);
                    d.objects
                        .extend(object.map(|o| (o, Location::own_format(index))));
                } else if key == "scaledJobs" {
                    let job = d.own_job(entry, &path);
                    d.jobs.extend(job.map(|j| (j, Location::own_job(index))));
                } else {
                    let auth = d.own_authentication(entry, &path);
                    d.authentications
                        .extend(auth.map(|a| (a, Location::own_authentication(index))));
                }
            }
            if key != "authentications" && !items.is_empty() {
                empty = false;
            }
        });
        if decoded.is_some() && empty {
            self.report("scaledObjects", NO_OBJECTS);
        }
    }

    /// Decodes one authentication of scalerd's own format.
    fn own_authentication(&mut self, value: &Value, path: &str) -> Option<Authentication> {
        let (mut name, mut namespace, mut cluster) = (None, None, None);
        let mut parameters = Vec::new();
        let known = [OWN_AUTH_FIELDS, AUTH_SOURCES, UNSUPPORTED_AUTH_SOURCES].concat();
        let listed = [OWN_AUTH_FIELDS, AUTH_SOURCES].concat();
        let map = self.fields_listing(
            value,
            path,
            &known,
            &listed,
            |d, key, value, path| match key {
                "name" => name = d.string(value, path),
                "namespace" => namespace = d.string(value, path),
                "kind" => cluster = d.choice(value, path, AUTH_KINDS),
                _ => d.auth_source(&mut parameters, key, value, path),
            },
        )?;
        self.require(map, path, &["name"]);
        Some(Authentication {
            name: name?,
            namespace,
            cluster: cluster.unwrap_or(false),
            parameters,
        })
    }

    /// Decodes the sources of an authentication's `spec` (KEDA manifests).
    fn auth_spec(&mut self, value: &Value, path: &str) -> Option<Vec<AuthParameter>> {
        let mut parameters = Vec::new();
        let known = [AUTH_SOURCES, UNSUPPORTED_AUTH_SOURCES].concat();
        self.fields_listing(value, path, &known, AUTH_SOURCES, |d, key, value, path| {
            d.auth_source(&mut parameters, key, value, path);
        })?;
        Some(parameters)
    }

    /// Decodes the source list `key` of an authentication into `parameters`, or reports a
    /// source scalerd does not read.
    fn auth_source(
        &mut self,
        parameters: &mut Vec<AuthParameter>,
        key: &str,
        value: &Value,
        path: &str,
    ) {
        let (known, required) = match key {
            "secretTargetRef" | "configMapTargetRef" => (KEY_REF_FIELDS, KEY_REF_FIELDS),
            "env" => (ENV_FIELDS, &ENV_FIELDS[..2]),
            "file" => (FILE_FIELDS, FILE_FIELDS),
            _ => {
                let supported = AUTH_SOURCES.join(", ");
                let message = format!("not supported by scalerd; supported sources: {supported}");
                self.report(path, message);
                return;
            }
        };
        let Some(items) = self.list(value, path) else {
            return;
        };
        for (index, entry) in items.iter().enumerate() {
            let Some(fields) = self.strings(entry, &item(path, index), known, required) else {
                continue;
            };
            let [Some(parameter), Some(first), rest @ ..] = fields.as_slice() else {
                continue;
            };
            let source = match (key, rest.first().and_then(Option::as_ref)) {
                ("secretTargetRef", Some(secret_key)) => AuthSource::Secret {
                    name: first.clone(),
                    key: secret_key.clone(),
                },
                ("configMapTargetRef", Some(map_key)) => AuthSource::ConfigMap {
                    name: first.clone(),
                    key: map_key.clone(),
                },
                ("secretTargetRef" | "configMapTargetRef", None) => continue,
                ("env", container) => AuthSource::Env {
                    name: first.clone(),
                    container: container.cloned(),
                },
                _ => AuthSource::File {
                    path: first.clone(),
                },
            };
            parameters.push(AuthParameter {
                parameter: parameter.clone(),
                source,
            });
        }
    }

    /// Decodes a mapping whose fields are all strings: `known` names them and `required` those
    /// that must be present. The values come in the order of `known`.
    fn strings(
        &mut self,
        value: &Value,
        path: &str,
        known: &[&str],
        required: &[&str],
    ) -> Option<Vec<Option<String>>> {
        let mut values = vec![None; known.len()];
        let map = self.fields(value, path, known, |d, key, value, path| {
            if let Some(index) = known.iter().position(|k| *k == key) {
                values[index] = d.string(value, path);
            }
        })?;
        self.require(map, path, required);
        Some(values)
    }

    /// Decodes one scaled object of scalerd's own format.
    fn own_object(&mut self, value: &Value, path: &str) -> Option<ScaledObject> {
        let mut identity = Identity::default();
        let mut spec = Spec::default();
        let known = [OWN_IDENTITY_FIELDS, SPEC_FIELDS, OWN_PAUSE_FIELDS].concat();
        let map = self.fields(value, path, &known, |d, key, value, path| match key {
            "name" => identity.name = d.string(value, path),
            "namespace" => identity.namespace = d.string(value, path),
            "paused" => identity.paused = d.boolean(value, path),
            "pausedReplicaCount" => identity.paused_replica_count = d.count(value, path),
            "pausedScaleIn" => identity.paused_scale_in = d.boolean(value, path),
            "pausedScaleOut" => identity.paused_scale_out = d.boolean(value, path),
            _ => d.spec_field(&mut spec, key, value, path),
        })?;
        self.require(map, path, &["name", "scaleTargetRef"]);
        scaled_object(identity, spec)
    }

    /// Decodes one scaled job of scalerd's own format.
    fn own_job(&mut self, value: &Value, path: &str) -> Option<ScaledJob> {
        let mut identity = Identity::default();
        let mut spec = JobSpecFields::default();
        let known = [OWN_JOB_FIELDS, JOB_SPEC_FIELDS].concat();
        let map = self.fields(value, path, &known, |d, key, value, path| match key {
            "name" => identity.name = d.string(value, path),
            "namespace" => identity.namespace = d.string(value, path),
            "paused" => identity.paused = d.boolean(value, path),
            "labels" => identity.labels = d.string_map(value, path),
            _ => d.job_spec_field(&mut spec, key, value, path),
        })?;
        self.require(map, path, &["name", "jobTargetRef"]);
        scaled_job(identity, spec)
    }

    /// Decodes a KEDA `ScaledJob` manifest; paths are relative to the document.
    fn job_manifest(&mut self, document: &Value) -> Option<Box<ScaledJob>> {
        let mut identity = Identity::default();
        let mut spec = None;
        let map = self.fields(document, "", DOCUMENT_FIELDS, |d, key, value, path| {
            match key {
                "apiVersion" => {
                    if let Some(api_version) = d.string(value, path)
                        && api_version != KEDA_API_VERSION
                    {
                        let got = quote(&api_version);
                        let message =
                            format!("unsupported apiVersion {got}; expected {KEDA_API_VERSION}");
                        d.report(path, message);
                    }
                }
                "metadata" => d.object_meta(value, path, &mut identity, true),
                "spec" => {
                    let mut fields = JobSpecFields::default();
                    let map = d.fields(value, path, JOB_SPEC_FIELDS, |d, key, value, path| {
                        d.job_spec_field(&mut fields, key, value, path);
                    });
                    if let Some(map) = map {
                        d.require(map, path, &["jobTargetRef"]);
                        spec = Some(fields);
                    }
                }
                _ => {} // kind: checked; status: ignored.
            }
        })?;
        self.require(map, "", &["apiVersion", "kind", "metadata", "spec"]);
        // KEDA reads the annotation with Go's ParseBool; a value it cannot parse pauses.
        identity.paused = identity
            .paused_text
            .as_deref()
            .map(|text| parse_bool(text).unwrap_or(true));
        scaled_job(identity, spec?).map(Box::new)
    }

    /// Decodes field `key` of a scaled job's spec into `spec`.
    fn job_spec_field(&mut self, spec: &mut JobSpecFields, key: &str, value: &Value, path: &str) {
        match key {
            "jobTargetRef" if self.mapping(value, path).is_some() => {
                spec.job_target_ref = Some(value.clone());
            }
            "pollingInterval" => spec.polling_interval = self.count(value, path),
            "successfulJobsHistoryLimit" => spec.successful_limit = self.count(value, path),
            "failedJobsHistoryLimit" => spec.failed_limit = self.count(value, path),
            "envSourceContainerName" => spec.env_source_container_name = self.string(value, path),
            "minReplicaCount" => spec.min_replica_count = self.count(value, path),
            "maxReplicaCount" => spec.max_replica_count = self.count(value, path),
            "rollout" => spec.rollout = self.rollout(value, path),
            "rolloutStrategy" => {
                spec.rollout_strategy = self.choice(value, path, ROLLOUT_STRATEGIES);
            }
            "scalingStrategy" => spec.scaling_strategy = self.scaling_strategy(value, path),
            "triggers" => spec.triggers = self.triggers(value, path),
            _ => {}
        }
    }

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
                    let items = d.list(value, path).unwrap_or_default();
                    out.pending_pod_conditions = items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| d.string(v, &item(path, i)))
                        .collect();
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

    /// A mapping of strings to strings (labels); entries of other types are reported.
    fn string_map(&mut self, value: &Value, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(map) = self.mapping(value, path) else {
            return out;
        };
        for (key, value) in map {
            let Some(key) = self.key(key, path) else {
                continue;
            };
            if let Some(text) = self.string(value, &child(path, key)) {
                out.insert(key.to_owned(), text);
            }
        }
        out
    }

    /// The whole number `value` at `path`, of either sign.
    fn integer(&mut self, value: &Value, path: &str) -> Option<i64> {
        match value {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            _ => self.mismatch(path, "a whole number", value),
        }
    }

    /// Decodes KEDA manifests, the non-empty documents of a file with their positions; a list
    /// document (`kind: List`, as `kubectl get -o yaml` writes) stands for its items.
    fn manifests(&mut self, documents: &[(usize, &Value)]) {
        let mut entries: Vec<(String, &Value)> = Vec::new();
        for &(index, document) in documents {
            let prefix = if documents.len() > 1 {
                item("documents", index)
            } else {
                String::new()
            };
            if !is_list(document) {
                entries.push((prefix, document));
                continue;
            }
            let first_error = self.errors.len();
            let items = self.list_items(document);
            let located: Vec<ConfigError> = self
                .errors
                .drain(first_error..)
                .map(|e| e.under(&prefix))
                .collect();
            self.errors.extend(located);
            let items_path = child(&prefix, "items");
            for (i, entry) in items.iter().enumerate() {
                entries.push((item(&items_path, i), entry));
            }
        }
        let mut authentication_documents = 0;
        for (prefix, document) in &entries {
            let (prefix, document) = (prefix.as_str(), *document);
            let first_error = self.errors.len();
            let location = Location {
                spec: child(prefix, "spec"),
                metadata: child(prefix, "metadata"),
            };
            if authentication_kind(document).is_some() {
                authentication_documents += 1;
            }
            match self.manifest(document) {
                Some(Manifest::Object(object)) => self.objects.push((*object, location)),
                Some(Manifest::Job(job)) => self.jobs.push((*job, location)),
                Some(Manifest::Authentication(auth)) => {
                    self.authentications.push((auth, location));
                }
                None => {}
            }
            if !prefix.is_empty() {
                let located: Vec<ConfigError> = self
                    .errors
                    .drain(first_error..)
                    .map(|e| e.under(prefix))
                    .collect();
                self.errors.extend(located);
            }
        }
        if authentication_documents == entries.len() {
            self.report("", NO_OBJECTS);
        }
    }

    /// The items of a list document (`apiVersion: v1`, `kind: List` or `kind: ScaledObjectList`
    /// and the like), its own fields checked; paths relative to the document.
    fn list_items<'v>(&mut self, document: &'v Value) -> &'v [Value] {
        let mut items: &[Value] = &[];
        let Some(map) = self.fields(document, "", LIST_FIELDS, |d, key, value, path| {
            match key {
                "apiVersion" => {
                    if let Some(api_version) = d.string(value, path)
                        && !LIST_API_VERSIONS.contains(&api_version.as_str())
                    {
                        let message = format!(
                            "unsupported apiVersion {} for a list; expected {}",
                            quote(&api_version),
                            LIST_API_VERSIONS.join(" or ")
                        );
                        d.report(path, message);
                    }
                }
                "items" => items = d.list(value, path).unwrap_or_default(),
                _ => {} // kind: checked by is_list; metadata: ignored.
            }
        }) else {
            return &[];
        };
        self.require(map, "", &["items"]);
        items
    }

    /// Decodes one KEDA manifest document; paths are relative to the document.
    fn manifest(&mut self, document: &Value) -> Option<Manifest> {
        let cluster = authentication_kind(document);
        if cluster.is_none()
            && let Value::Mapping(map) = document
            && let Some(Value::String(kind)) = map.get("kind")
            && kind != "ScaledObject"
        {
            if kind == SCALED_JOB {
                return self.job_manifest(document).map(Manifest::Job);
            }
            let message = format!(
                "unsupported kind {}; expected ScaledObject, {SCALED_JOB}, \
                 {TRIGGER_AUTHENTICATION} or {CLUSTER_TRIGGER_AUTHENTICATION}",
                quote(kind)
            );
            self.report("kind", message);
            return None;
        }
        let mut identity = Identity::default();
        let (mut spec, mut parameters) = (None, None);
        let map = self.fields(document, "", DOCUMENT_FIELDS, |d, key, value, path| {
            match key {
                "apiVersion" => {
                    if let Some(api_version) = d.string(value, path)
                        && api_version != KEDA_API_VERSION
                    {
                        let got = quote(&api_version);
                        let message =
                            format!("unsupported apiVersion {got}; expected {KEDA_API_VERSION}");
                        d.report(path, message);
                    }
                }
                "kind" => {
                    d.string(value, path);
                }
                "metadata" => d.object_meta(value, path, &mut identity, cluster.is_none()),
                "spec" if cluster.is_some() => parameters = d.auth_spec(value, path),
                "spec" => spec = d.spec(value, path),
                _ => {} // status: ignored.
            }
        })?;
        self.require(map, "", &["apiVersion", "kind", "metadata", "spec"]);
        match cluster {
            None => scaled_object(identity, spec?).map(|o| Manifest::Object(Box::new(o))),
            Some(cluster) => Some(Manifest::Authentication(Authentication {
                name: identity.name?,
                // Kubernetes ignores a namespace given to a cluster-scoped object.
                namespace: (!cluster).then(|| {
                    identity
                        .namespace
                        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
                }),
                cluster,
                parameters: parameters?,
            })),
        }
    }

    /// Decodes a manifest's `metadata` into `identity`, reading KEDA's pause annotations when
    /// `pause` is set (other annotations are ignored).
    fn object_meta(&mut self, value: &Value, path: &str, identity: &mut Identity, pause: bool) {
        let map = self.fields(
            value,
            path,
            METADATA_FIELDS,
            |d, key, value, path| match key {
                "name" => identity.name = d.string(value, path),
                "namespace" => identity.namespace = d.string(value, path),
                "annotations" if pause => d.annotations(value, path, identity),
                "labels" => identity.labels = d.string_map(value, path),
                _ => {} // Tolerated, unused.
            },
        );
        if let Some(map) = map {
            self.require(map, path, &["name"]);
        }
    }

    /// Reads KEDA's pause annotations into `identity`; other annotations are ignored.
    fn annotations(&mut self, value: &Value, path: &str, identity: &mut Identity) {
        let Some(map) = self.mapping(value, path) else {
            return;
        };
        for (key, value) in map {
            let Some(key) = key.as_str() else { continue };
            if value.is_null() || !PAUSE_ANNOTATIONS.contains(&key) {
                continue;
            }
            let path = child(path, key);
            let Some(text) = self.string(value, &path) else {
                continue;
            };
            match key {
                PAUSED_ANNOTATION => {
                    identity.paused = Some(text != "false");
                    identity.paused_text = Some(text);
                }
                PAUSED_REPLICAS_ANNOTATION => match parse_count(&text) {
                    Ok(n) => identity.paused_replica_count = Some(n),
                    Err(message) => self.report(&path, message),
                },
                _ => {
                    let flag = match parse_bool(&text) {
                        Ok(b) => b,
                        Err(message) => {
                            self.report(&path, message);
                            continue;
                        }
                    };
                    if key == PAUSED_SCALE_IN_ANNOTATION {
                        identity.paused_scale_in = Some(flag);
                    } else {
                        identity.paused_scale_out = Some(flag);
                    }
                }
            }
        }
    }

    /// Decodes a KEDA spec mapping.
    fn spec(&mut self, value: &Value, path: &str) -> Option<Spec> {
        let mut spec = Spec::default();
        let map = self.fields(value, path, SPEC_FIELDS, |d, key, value, path| {
            d.spec_field(&mut spec, key, value, path);
        })?;
        self.require(map, path, &["scaleTargetRef"]);
        Some(spec)
    }

    /// Decodes spec field `key` into `spec`.
    fn spec_field(&mut self, spec: &mut Spec, key: &str, value: &Value, path: &str) {
        match key {
            "scaleTargetRef" => spec.scale_target_ref = self.scale_target_ref(value, path),
            "pollingInterval" => spec.polling_interval = self.count(value, path),
            "cooldownPeriod" => spec.cooldown_period = self.count(value, path),
            "initialCooldownPeriod" => spec.initial_cooldown_period = self.count(value, path),
            "idleReplicaCount" => spec.idle_replica_count = self.count(value, path),
            "minReplicaCount" => spec.min_replica_count = self.count(value, path),
            "maxReplicaCount" => spec.max_replica_count = self.count(value, path),
            "fallback" => spec.fallback = self.fallback(value, path),
            "advanced" => spec.advanced = self.advanced(value, path),
            "triggers" => spec.triggers = self.triggers(value, path),
            _ => {}
        }
    }

    /// Decodes `scaleTargetRef`.
    fn scale_target_ref(&mut self, value: &Value, path: &str) -> Option<ScaleTargetRef> {
        let (mut api_version, mut kind, mut name, mut container) = (None, None, None, None);
        let map = self.fields(
            value,
            path,
            TARGET_FIELDS,
            |d, key, value, path| match key {
                "apiVersion" => api_version = d.string(value, path),
                "kind" => kind = d.string(value, path),
                "name" => {
                    name = d.string(value, path);
                    if name.as_deref() == Some("") {
                        d.report_mismatch(path, "a non-empty string", value);
                    }
                }
                "envSourceContainerName" => container = d.string(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, &["name"]);
        let defaults = ScaleTargetRef::deployment(name?);
        Some(ScaleTargetRef {
            api_version: api_version.unwrap_or(defaults.api_version),
            kind: kind.unwrap_or(defaults.kind),
            env_source_container_name: container,
            ..defaults
        })
    }

    /// Decodes `fallback`.
    fn fallback(&mut self, value: &Value, path: &str) -> Option<Fallback> {
        let (mut threshold, mut replicas, mut behavior) = (None, None, None);
        let map = self.fields(
            value,
            path,
            FALLBACK_FIELDS,
            |d, key, value, path| match key {
                "failureThreshold" => threshold = d.count(value, path),
                "replicas" => replicas = d.count(value, path),
                "behavior" => behavior = d.choice(value, path, FALLBACK_BEHAVIORS),
                _ => {}
            },
        )?;
        self.require(map, path, &["failureThreshold", "replicas"]);
        Some(Fallback {
            failure_threshold: threshold?,
            replicas: replicas?,
            behavior: behavior.unwrap_or_default(),
        })
    }

    /// Decodes `advanced`.
    fn advanced(&mut self, value: &Value, path: &str) -> Option<Advanced> {
        let mut advanced = Advanced::default();
        self.fields(
            value,
            path,
            ADVANCED_FIELDS,
            |d, key, value, path| match key {
                "restoreToOriginalReplicaCount" => {
                    advanced.restore_to_original_replica_count =
                        d.boolean(value, path).unwrap_or_default();
                }
                "horizontalPodAutoscalerConfig" => {
                    advanced.horizontal_pod_autoscaler_config = d.hpa_config(value, path);
                }
                "scalingModifiers" => advanced.scaling_modifiers = d.scaling_modifiers(value, path),
                _ => {}
            },
        )?;
        Some(advanced)
    }

    /// Decodes `advanced.horizontalPodAutoscalerConfig`.
    fn hpa_config(&mut self, value: &Value, path: &str) -> Option<HorizontalPodAutoscalerConfig> {
        let mut config = HorizontalPodAutoscalerConfig::default();
        self.fields(value, path, HPA_FIELDS, |d, key, value, path| match key {
            "name" => config.name = d.string(value, path),
            "behavior" => config.behavior = d.behavior(value, path),
            _ => {}
        })?;
        Some(config)
    }

    /// Decodes an HPA `behavior`.
    fn behavior(&mut self, value: &Value, path: &str) -> Option<Behavior> {
        let mut behavior = Behavior::default();
        self.fields(
            value,
            path,
            BEHAVIOR_FIELDS,
            |d, key, value, path| match key {
                "scaleUp" => behavior.scale_up = d.scaling_rules(value, path),
                "scaleDown" => behavior.scale_down = d.scaling_rules(value, path),
                _ => {}
            },
        )?;
        Some(behavior)
    }

    /// Decodes the HPA scaling rules of one direction.
    fn scaling_rules(&mut self, value: &Value, path: &str) -> Option<ScalingRules> {
        let mut rules = ScalingRules::default();
        self.fields(value, path, RULES_FIELDS, |d, key, value, path| match key {
            "stabilizationWindowSeconds" => {
                rules.stabilization_window_seconds = d.count(value, path);
            }
            "selectPolicy" => rules.select_policy = d.choice(value, path, SELECT_POLICIES),
            "policies" => rules.policies = d.policies(value, path),
            "tolerance" => rules.tolerance = d.quantity(value, path),
            _ => {}
        })?;
        Some(rules)
    }

    /// Decodes a list of HPA scaling policies.
    fn policies(&mut self, value: &Value, path: &str) -> Option<Vec<ScalingPolicy>> {
        let items = self.list(value, path)?;
        let mut policies = Vec::with_capacity(items.len());
        for (index, entry) in items.iter().enumerate() {
            policies.extend(self.policy(entry, &item(path, index)));
        }
        Some(policies)
    }

    /// Decodes one HPA scaling policy.
    fn policy(&mut self, value: &Value, path: &str) -> Option<ScalingPolicy> {
        let (mut policy_type, mut amount, mut period) = (None, None, None);
        let map = self.fields(
            value,
            path,
            POLICY_FIELDS,
            |d, key, value, path| match key {
                "type" => policy_type = d.choice(value, path, POLICY_TYPES),
                "value" => amount = d.count(value, path),
                "periodSeconds" => period = d.count(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, POLICY_FIELDS);
        Some(ScalingPolicy {
            policy_type: policy_type?,
            value: amount?,
            period_seconds: period?,
        })
    }

    /// Decodes `advanced.scalingModifiers`.
    fn scaling_modifiers(&mut self, value: &Value, path: &str) -> Option<ScalingModifiers> {
        let (mut formula, mut target, mut activation, mut metric_type) = (None, None, None, None);
        let map = self.fields(
            value,
            path,
            MODIFIERS_FIELDS,
            |d, key, value, path| match key {
                "formula" => formula = d.string(value, path),
                "target" => target = d.number(value, path),
                "activationTarget" => activation = d.number(value, path),
                "metricType" => metric_type = d.choice(value, path, METRIC_TYPES),
                _ => {}
            },
        )?;
        self.require(map, path, &["formula", "target"]);
        Some(ScalingModifiers {
            formula: formula?,
            target: target?,
            activation_target: activation.unwrap_or(0.0),
            metric_type: metric_type.unwrap_or_default(),
        })
    }

    /// Decodes the list of triggers.
    fn triggers(&mut self, value: &Value, path: &str) -> Option<Vec<TriggerSpec>> {
        let items = self.list(value, path)?;
        let mut triggers = Vec::with_capacity(items.len());
        for (index, entry) in items.iter().enumerate() {
            triggers.extend(self.trigger(entry, &item(path, index)));
        }
        Some(triggers)
    }

    /// Decodes one trigger.
    fn trigger(&mut self, value: &Value, path: &str) -> Option<TriggerSpec> {
        let (mut trigger_type, mut name, mut metadata, mut metric_type) = (None, None, None, None);
        let (mut authentication_ref, mut use_cached_metrics) = (None, None);
        let map = self.fields(
            value,
            path,
            TRIGGER_FIELDS,
            |d, key, value, path| match key {
                "type" => trigger_type = d.string(value, path),
                "name" => name = d.string(value, path),
                "metadata" => metadata = d.trigger_metadata(value, path),
                "metricType" => metric_type = d.choice(value, path, METRIC_TYPES),
                "authenticationRef" => authentication_ref = d.authentication_ref(value, path),
                "useCachedMetrics" => use_cached_metrics = d.boolean(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, &["type"]);
        Some(TriggerSpec {
            trigger_type: trigger_type?,
            name,
            metadata: metadata.unwrap_or_default(),
            metric_type: metric_type.unwrap_or_default(),
            authentication_ref,
            use_cached_metrics: use_cached_metrics.unwrap_or(false),
        })
    }

    /// Decodes a trigger's `metadata`: string keys, scalar values kept as text.
    fn trigger_metadata(&mut self, value: &Value, path: &str) -> Option<BTreeMap<String, String>> {
        let map = self.mapping(value, path)?;
        let mut metadata = BTreeMap::new();
        for (key, value) in map {
            let Some(key) = self.key(key, path) else {
                continue;
            };
            let text = match value {
                Value::Null => String::new(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => {
                    self.report_mismatch(&child(path, key), "a string", value);
                    continue;
                }
            };
            metadata.insert(key.to_owned(), text);
        }
        Some(metadata)
    }

    /// Decodes a trigger's `authenticationRef`.
    fn authentication_ref(&mut self, value: &Value, path: &str) -> Option<AuthenticationRef> {
        let (mut name, mut kind) = (None, None);
        let map = self.fields(
            value,
            path,
            AUTH_REF_FIELDS,
            |d, key, value, path| match key {
                "name" => name = d.string(value, path),
                "kind" => kind = d.string(value, path),
                _ => {}
            },
        )?;
        self.require(map, path, &["name"]);
        Some(AuthenticationRef { name: name?, kind })
    }

    /// Walks the mapping `value` at `path` in document order, calling `each` with the key, the
    /// value and the path of every field whose value is not `null`; keys not in `known` and
    /// keys that are not strings are reported. Returns the mapping, or `None` (reported) when
    /// `value` is not one.
    fn fields<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
        each: impl FnMut(&mut Self, &'v str, &'v Value, &str),
    ) -> Option<&'v Mapping> {
        self.fields_listing(value, path, known, known, each)
    }

    /// [`Decoder::fields`], naming only `listed` among the `known` keys when reporting an
    /// unknown one (keys that are known only to be refused are not offered).
    fn fields_listing<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
        listed: &[&str],
        mut each: impl FnMut(&mut Self, &'v str, &'v Value, &str),
    ) -> Option<&'v Mapping> {
        let map = self.mapping(value, path)?;
        for (key, value) in map {
            let Some(key) = self.key(key, path) else {
                continue;
            };
            let field_path = child(path, key);
            if !known.contains(&key) {
                self.report(&field_path, unknown_field_listing(key, known, listed));
            } else if !value.is_null() {
                each(self, key, value, &field_path);
            }
        }
        Some(map)
    }

    /// Reports each of `keys` absent or `null` in the mapping `map` at `path`.
    fn require(&mut self, map: &Mapping, path: &str, keys: &[&str]) {
        for key in keys {
            if map.get(key).is_none_or(Value::is_null) {
                self.report(&child(path, key), "required field is missing");
            }
        }
    }

    /// The mapping `value` at `path`.
    fn mapping<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(map) => Some(map),
            _ => self.mismatch(path, "a mapping", value),
        }
    }

    /// The key `key` of the mapping at `path`, which must be a string.
    fn key<'v>(&mut self, key: &'v Value, path: &str) -> Option<&'v str> {
        match key {
            Value::String(s) => Some(s),
            _ => self.mismatch(path, "a string key", key),
        }
    }

    /// The list `value` at `path`.
    fn list<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v [Value]> {
        match value {
            Value::Sequence(items) => Some(items),
            _ => self.mismatch(path, "a list", value),
        }
    }

    /// The string `value` at `path`.
    fn string(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            _ => self.mismatch(path, "a string", value),
        }
    }

    /// The boolean `value` at `path`.
    fn boolean(&mut self, value: &Value, path: &str) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            _ => self.mismatch(path, "true or false", value),
        }
    }

    /// The count `value` at `path`: a YAML whole number that fits in a `u32`.
    fn count(&mut self, value: &Value, path: &str) -> Option<u32> {
        let Value::Number(n) = value else {
            return self.mismatch(path, "a whole number", value);
        };
        let got = n.to_string();
        let message = match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => match u32::try_from(u) {
                Ok(count) => return Some(count),
                Err(_) => format!("expected a whole number at most {}, got {got}", u32::MAX),
            },
            (None, Some(_)) => format!("expected a non-negative whole number, got {got}"),
            (None, None) => format!("expected a whole number, got {got}"),
        };
        self.report(path, message);
        None
    }

    /// The number `value` at `path`: a finite YAML number, or a string holding one.
    fn number(&mut self, value: &Value, path: &str) -> Option<f64> {
        let number = match value {
            Value::Number(n) => finite(n),
            Value::String(s) => s.parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        };
        number.or_else(|| self.mismatch(path, "a number", value))
    }

    /// The quantity `value` at `path`: a finite YAML number, or a string holding a Kubernetes
    /// quantity such as `0.05` or `50m`.
    fn quantity(&mut self, value: &Value, path: &str) -> Option<f64> {
        let quantity = match value {
            Value::Number(n) => finite(n),
            Value::String(s) => parse_quantity(s),
            _ => None,
        };
        quantity.or_else(|| self.mismatch(path, "a number or a quantity such as \"50m\"", value))
    }

    /// The enumeration `value` at `path`: a string spelled as one of `options`.
    fn choice<T: Copy>(&mut self, value: &Value, path: &str, options: &[(&str, T)]) -> Option<T> {
        if let Value::String(s) = value
            && let Some((_, choice)) = options.iter().find(|(name, _)| name == s)
        {
            return Some(*choice);
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let expected = format!("one of {}", names.join(", "));
        self.mismatch(path, &expected, value)
    }
}

/// `n` as a finite `f64`.
fn finite(n: &Number) -> Option<f64> {
    n.as_f64().filter(|v| v.is_finite())
}

/// Whether `document` is a KEDA authentication manifest, and if so whether it is a
/// ClusterTriggerAuthentication.
/// Whether `document` is a Kubernetes list: `kind: List` (what `kubectl get -o yaml` writes
/// for several objects) or the list kind of one of the kinds read here (`ScaledObjectList`).
fn is_list(document: &Value) -> bool {
    let Some(kind) = document.get("kind").and_then(Value::as_str) else {
        return false;
    };
    kind == "List"
        || kind.strip_suffix("List").is_some_and(|kind| {
            kind == "ScaledObject"
                || kind == SCALED_JOB
                || kind == TRIGGER_AUTHENTICATION
                || kind == CLUSTER_TRIGGER_AUTHENTICATION
        })
}

fn authentication_kind(document: &Value) -> Option<bool> {
    let kind = document.get("kind")?.as_str()?;
    AUTH_KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|&(_, cluster)| cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for (text, expected) in [
            ("0.05", 0.05),
            ("50m", 0.05),
            ("+1", 1.0),
            ("-2", -2.0),
            (".5", 0.5),
            ("1e-1", 0.1),
            ("1E2", 100.0),
            ("2k", 2000.0),
            ("1E", 1e18),
            ("1Ki", 1024.0),
            ("3u", 3e-6),
        ] {
            assert_eq!(parse_quantity(text), Some(expected), "{text}");
        }
        for text in [
            "", "m", ".", "1.2.3", "5x", "1e", "1e+", "1 m", "50M i", "inf", "1-2",
        ] {
            assert_eq!(parse_quantity(text), None, "{text}");
        }
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("kind", ""), 4);
        assert_eq!(edit_distance("pollingintervall", "pollinginterval"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("réplicas", "replicas"), 1);
    }

    #[test]
    fn paths() {
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(child("spec", "min_1"), "spec.min_1");
        assert_eq!(child("a", "b.c"), r#"a["b.c"]"#);
        assert_eq!(child("a", "1x"), r#"a["1x"]"#);
        assert_eq!(child("a", ""), r#"a[""]"#);
        assert_eq!(child("a", "q\""), r#"a["q\""]"#);
        assert_eq!(item("triggers", 2), "triggers[2]");
    }

    #[test]
    fn counts_from_text() {
        assert_eq!(parse_count("7"), Ok(7));
        assert_eq!(
            parse_count("4294967296"),
            Err(r#"expected a whole number at most 4294967295, got "4294967296""#.to_owned())
        );
        assert_eq!(
            parse_count("1.5"),
            Err(r#"expected a whole number, got "1.5""#.to_owned())
        );
    }

    #[test]
    fn unknown_field_hints() {
        let known = ["name", "namespace", "kind"];
        let hint = |key| unknown_field_listing(key, &known, &known);
        assert_eq!(hint("nme"), r#"unknown field, did you mean "name"?"#);
        assert_eq!(hint("KIND"), r#"unknown field, did you mean "kind"?"#);
        assert_eq!(
            hint("labels"),
            "unknown field; expected one of name, namespace, kind"
        );
        // Suggestions come from every candidate, the list only from the listed keys.
        assert_eq!(
            unknown_field_listing("kinds", &known, &known[..2]),
            r#"unknown field, did you mean "kind"?"#
        );
        assert_eq!(
            unknown_field_listing("labels", &known, &known[..2]),
            "unknown field; expected one of name, namespace"
        );
    }
}
