//! Semantic validation of a loaded config: KEDA's admission checks, HPA behavior checks, the
//! scaling-modifiers formula, authentications and the references to them, and every trigger
//! built through the [`Registry`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::auth::{AuthValues, SecretReader, resolve};
use crate::config::model::{
    AuthSource, Authentication, AuthenticationRef, CLUSTER_TRIGGER_AUTHENTICATION, Config,
    FallbackBehavior, JobScalingStrategy, ScaledJob, ScaledObject, ScalingRules,
    TRIGGER_AUTHENTICATION, TriggerSpec,
};
use crate::error::{ConfigError, ConfigErrors};
use crate::formula::Formula;
use crate::secret::Secret;
use crate::trigger::{BuildContext, BuiltTrigger, EnvLookup, Registry};

/// Longest HPA policy period, in seconds.
const MAX_POLICY_PERIOD_SECONDS: u32 = 1800;
/// Longest HPA stabilization window, in seconds.
const MAX_STABILIZATION_WINDOW_SECONDS: u32 = 3600;
/// Trigger types KEDA refuses `useCachedMetrics` on.
const UNCACHEABLE_TRIGGER_TYPES: [&str; 3] = ["cpu", "memory", "cron"];
/// Stands for a value that could not be read, where an empty one does not do.
const TEXT_PLACEHOLDER: &str = "placeholder";
/// Added to a trigger error about a parameter whose Secret was not read.
const PLACEHOLDER_NOTE: &str =
    "(checked against a placeholder: the Kubernetes Secret cannot be read without a cluster)";

/// A scaled object that passed validation, with its triggers built.
#[derive(Clone, Debug)]
pub struct ValidatedObject {
    /// The object.
    pub object: ScaledObject,
    /// Its triggers, in order.
    pub triggers: Vec<BuiltTrigger>,
    /// Notes that do not make the object invalid, located as errors are: each metadata key a
    /// trigger did not read (`scaledObjects[0].triggers[0].metadata.listLenght: not read by
    /// this trigger (ignored); did you mean "listLength"?`). `scalerd check` prints them.
    pub warnings: Vec<ConfigError>,
}

/// A scaled job that passed validation, with its triggers built.
#[derive(Clone, Debug)]
pub struct ValidatedJob {
    /// The scaled job.
    pub job: ScaledJob,
    /// Its triggers, in order.
    pub triggers: Vec<BuiltTrigger>,
    /// Notes that do not make it invalid, as [`ValidatedObject::warnings`].
    pub warnings: Vec<ConfigError>,
}

/// Everything of a config that passed validation: its scaled objects and its scaled jobs.
#[derive(Clone, Debug, Default)]
pub struct Validated {
    /// The scaled objects, in file order.
    pub objects: Vec<ValidatedObject>,
    /// The scaled jobs, in file order.
    pub jobs: Vec<ValidatedJob>,
}

impl Validated {
    /// Every warning, objects' first.
    pub fn warnings(&self) -> impl Iterator<Item = &ConfigError> {
        self.objects
            .iter()
            .flat_map(|o| &o.warnings)
            .chain(self.jobs.iter().flat_map(|j| &j.warnings))
    }
}

/// Where trigger credentials come from during validation.
pub type AuthLookup<'a> = &'a dyn Fn(&ScaledObject, &TriggerSpec) -> BTreeMap<String, Secret>;

/// Checks `config` and builds every trigger through `registry`, reporting every problem found.
///
/// `file` names the source in errors; `env` resolves `*FromEnv` parameters; `auth` gives each
/// trigger's authentication parameters, already read. Authentications are checked (names
/// unique per kind and namespace, each parameter set once) and every `authenticationRef` must
/// find one ([`Config::authentication_for`]); a trigger whose reference finds nothing is not
/// built. To have the authentications read as well, use [`validate_with_secrets`].
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
    let lookup = |object: &ScaledObject, trigger: usize, _: Option<usize>| {
        TriggerAuth::Values(auth(object, &object.triggers[trigger]))
    };
    let (errors, _) = check_authentications(config, file);
    check_all(config, registry, file, env, &lookup, errors).map(|v| v.objects)
}

/// Like [`validate`], and reads the authentications that triggers refer to.
///
/// Each referenced authentication is read once with [`resolve`]: environment variables through
/// `env`, files from disk, Secret keys through `secrets`; its values become the authentication
/// parameters of every trigger referring to it. Authentications no trigger refers to, and
/// those with problems of their own (such as an empty variable name), are not read.
///
/// With [`offline_secrets`](crate::config::auth::offline_secrets) (no cluster), a parameter
/// from a Secret is unknown. A value that cannot be seen cannot be judged, so such a trigger
/// is accepted when it builds without them (an empty value counts as absent), or with them
/// set to a non-empty placeholder text; otherwise the errors of the build with the placeholder
/// text are reported, each error about an unknown value saying so. This keeps `scalerd check`
/// useful for the usual KEDA setups: a Kafka `sasl` mode read from a Secret (accepted without
/// it), a Prometheus `bearerToken` required by `authModes` and Kafka credentials that
/// `sasl: plaintext` in the metadata requires (both accepted with the text). Each unknown
/// value gets the same stand-in, so a trigger needing several unknown values of
/// different shapes (a `tls` mode and a PEM certificate) is still refused.
///
/// ```
/// use scalers_core::config::auth::offline_secrets;
/// use scalers_core::config::{load_str, validate_with_secrets};
/// use scalers_core::trigger::Registry;
///
/// let text = r#"
/// authentications:
///   - name: redis-auth
///     env: [{parameter: password, name: REDIS_PASSWORD}]
/// scaledObjects:
///   - name: worker
///     scaleTargetRef: {name: worker}
///     triggers: [{type: redis, authenticationRef: {name: redis-auth}}]
/// "#;
/// let config = load_str(text, "app.yaml").unwrap();
/// let env = |_: &str| None; // REDIS_PASSWORD is not set
/// let errors =
///     validate_with_secrets(&config, &Registry::new(), "app.yaml", &env, &offline_secrets)
///         .unwrap_err();
/// assert_eq!(
///     errors.to_string(),
///     "app.yaml: authentications[0].env[0].name: environment variable REDIS_PASSWORD is not set"
/// );
/// ```
///
/// # Errors
/// Every problem, as [`validate`], plus every parameter that could not be read, at its source
/// (`app.yaml: authentications[0].env[0].name: environment variable REDIS_PASSWORD is not
/// set`); a trigger whose authentication could not be read is not built.
pub fn validate_with_secrets(
    config: &Config,
    registry: &Registry,
    file: &str,
    env: EnvLookup<'_>,
    secrets: SecretReader<'_>,
) -> Result<Vec<ValidatedObject>, ConfigErrors> {
    validate_all_with_secrets(config, registry, file, env, secrets).map(|v| v.objects)
}

/// Like [`validate_with_secrets`], returning the scaled jobs as well as the scaled objects.
///
/// A scaled job is checked as KEDA's webhook and controller would: a Job template with a pod
/// template and containers, a `restartPolicy` a Job accepts, `maxReplicaCount` at least 1,
/// `custom` with its percentage, trigger names unique, and every trigger built as for a
/// scaled object (paths such as `scaledJobs[0].triggers[0].metadata.listLength`).
///
/// # Errors
/// Every problem, as [`validate_with_secrets`].
pub fn validate_all_with_secrets(
    config: &Config,
    registry: &Registry,
    file: &str,
    env: EnvLookup<'_>,
    secrets: SecretReader<'_>,
) -> Result<Validated, ConfigErrors> {
    let hosts: Vec<ScaledObject> = config
        .scaled_jobs
        .iter()
        .map(ScaledJob::trigger_host)
        .collect();
    let referenced: BTreeSet<usize> = config
        .scaled_objects
        .iter()
        .chain(&hosts)
        .flat_map(|object| {
            object
                .triggers
                .iter()
                .filter_map(|t| t.authentication_ref.as_ref())
                .filter_map(|r| config.authentication_index(object, r))
        })
        .collect();
    let (mut errors, invalid) = check_authentications(config, file);
    let mut resolved: Vec<Option<AuthValues>> = vec![None; config.authentications.len()];
    for index in referenced.difference(&invalid).copied() {
        match resolve(&config.authentications[index], env, secrets) {
            Ok(values) => resolved[index] = Some(values),
            Err(es) => {
                let prefix = config.authentication_location(index).spec;
                errors.extend(es.into_iter().map(|e| e.under(&prefix).in_file(file)));
            }
        }
    }
    let lookup = |_: &ScaledObject, _: usize, auth: Option<usize>| match auth {
        None => TriggerAuth::Values(BTreeMap::new()),
        Some(index) => resolved[index]
            .as_ref()
            .map_or(TriggerAuth::Unreadable, TriggerAuth::Resolved),
    };
    check_all(config, registry, file, env, &lookup, errors)
}

/// The authentication parameters a trigger is built with.
enum TriggerAuth<'a> {
    /// These values.
    Values(BTreeMap<String, Secret>),
    /// The values read from its authentication, some perhaps offline.
    Resolved(&'a AuthValues),
    /// Its authentication could not be read (already reported): the trigger is not built.
    Unreadable,
}

/// Gives trigger `index` of an object the parameters of the authentication at `auth`, the
/// position in [`Config::authentications`] of the one it refers to.
type TriggerAuthFn<'f, 'a> = dyn Fn(&ScaledObject, usize, Option<usize>) -> TriggerAuth<'a> + 'f;

/// The validation shared by [`validate`] and [`validate_with_secrets`], after the errors
/// `errors` (located and attributed) found by the caller in the authentications.
fn check_all(
    config: &Config,
    registry: &Registry,
    file: &str,
    env: EnvLookup<'_>,
    auth: &TriggerAuthFn<'_, '_>,
    errors: Vec<ConfigError>,
) -> Result<Validated, ConfigErrors> {
    let mut errors = errors;
    let mut out = Vec::new();
    let mut names: HashMap<(&str, &str), usize> = HashMap::new();
    let mut targets: HashMap<(&str, &str, &str, &str), usize> = HashMap::new();
    for (i, object) in config.scaled_objects.iter().enumerate() {
        let loc = config.location(i);
        let mut errs = check_object(object);
        if let Some(first) = names.insert((&object.namespace, &object.name), i) {
            errs.push(ObjectError::Metadata(
                MetadataField::Name,
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
            errs.push(ObjectError::Spec(ConfigError::new(
                "scaleTargetRef.name",
                format!(
                    "{} {}/{} is already scaled by {:?}; one scaled object per workload",
                    t.kind, object.namespace, t.name, config.scaled_objects[first].name
                ),
            )));
        }
        let (triggers, warnings) = build_triggers(
            config, registry, object, &loc.spec, file, env, auth, &mut errs,
        );
        if errs.is_empty() && triggers.len() == object.triggers.len() {
            out.push(ValidatedObject {
                object: object.clone(),
                triggers,
                warnings,
            });
        }
        errors.extend(errs.into_iter().map(|e| locate(e, &loc, file)));
    }
    let mut jobs = Vec::new();
    let mut job_names: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, job) in config.scaled_jobs.iter().enumerate() {
        let loc = config.job_location(i);
        let mut errs = check_job(job);
        if let Some(first) = job_names.insert((&job.namespace, &job.name), i) {
            errs.push(ObjectError::Metadata(
                MetadataField::Name,
                format!(
                    "duplicate scaled job {:?}: already defined by the scaled job at {}",
                    job.key(),
                    config.job_location(first).metadata
                ),
            ));
        }
        let host = job.trigger_host();
        let (triggers, warnings) = build_triggers(
            config, registry, &host, &loc.spec, file, env, auth, &mut errs,
        );
        if errs.is_empty() && triggers.len() == job.triggers.len() {
            jobs.push(ValidatedJob {
                job: job.clone(),
                triggers,
                warnings,
            });
        }
        errors.extend(errs.into_iter().map(|e| locate(e, &loc, file)));
    }
    if errors.is_empty() {
        Ok(Validated { objects: out, jobs })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// A problem found in one scaled object or job, before it is located in its file.
#[derive(Debug)]
enum ObjectError {
    /// At a path relative to the object's spec (`maxReplicaCount`, `triggers[0].type`).
    Spec(ConfigError),
    /// About one of the fields located with the object's name (under `metadata` in KEDA's
    /// manifests, beside the spec in scalerd's own format), with this message.
    Metadata(MetadataField, String),
}

impl From<ConfigError> for ObjectError {
    fn from(e: ConfigError) -> Self {
        ObjectError::Spec(e)
    }
}

/// A field located with the object's name rather than in its spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MetadataField {
    /// The object's name (empty, or the same as another object's).
    Name,
    /// `pausedReplicaCount` (from the `autoscaling.keda.sh/paused-replicas` annotation in KEDA's
    /// manifests).
    PausedReplicaCount,
}

impl MetadataField {
    /// The field's name in the document.
    fn as_str(self) -> &'static str {
        match self {
            MetadataField::Name => "name",
            MetadataField::PausedReplicaCount => "pausedReplicaCount",
        }
    }
}

/// `e` located in the file: under the object's spec or its metadata.
fn locate(e: ObjectError, loc: &crate::config::model::Location, file: &str) -> ConfigError {
    match e {
        ObjectError::Metadata(field, message) => ConfigError::new(field.as_str(), message)
            .under(&loc.metadata)
            .in_file(file),
        ObjectError::Spec(e) => e.under(&loc.spec).in_file(file),
    }
}

/// Builds every trigger of `object` (whose spec sits at `spec`), its authentication found
/// and read through `auth`; errors (relative to the spec) go to `errs`, warnings come back
/// located.
#[allow(clippy::too_many_arguments)]
fn build_triggers(
    config: &Config,
    registry: &Registry,
    object: &ScaledObject,
    spec_prefix: &str,
    file: &str,
    env: EnvLookup<'_>,
    auth: &TriggerAuthFn<'_, '_>,
    errs: &mut Vec<ObjectError>,
) -> (Vec<BuiltTrigger>, Vec<ConfigError>) {
    let mut triggers = Vec::with_capacity(object.triggers.len());
    let mut warnings = Vec::new();
    for (j, spec) in object.triggers.iter().enumerate() {
        let at = format!("triggers[{j}]");
        let auth_index = match &spec.authentication_ref {
            None => None,
            Some(reference) => match find_authentication(config, object, reference) {
                Ok(index) => Some(index),
                Err(e) => {
                    errs.push(e.under(&at).into());
                    continue;
                }
            },
        };
        let built = match auth(object, j, auth_index) {
            TriggerAuth::Values(values) => registry.build_with_warnings(BuildContext {
                object,
                index: j,
                auth: &values,
                env,
            }),
            TriggerAuth::Resolved(values) => build_with(registry, object, j, values, env),
            TriggerAuth::Unreadable => continue,
        };
        match built {
            Ok((trigger, notes)) => {
                triggers.push(trigger);
                warnings.extend(
                    notes
                        .into_iter()
                        .map(|w| w.under(&at).under(spec_prefix).in_file(file)),
                );
            }
            Err(es) => errs.extend(es.into_iter().map(|e| e.under(&at).into())),
        }
    }
    (triggers, warnings)
}

/// The restart policies a Job's pod template may have (Kubernetes refuses `Always`).
const JOB_RESTART_POLICIES: [&str; 2] = ["Never", "OnFailure"];

/// The checks of a scaled job that need no registry.
fn check_job(job: &ScaledJob) -> Vec<ObjectError> {
    let mut e = Vec::new();
    if job.name.is_empty() {
        e.push(ObjectError::Metadata(
            MetadataField::Name,
            "must not be empty".into(),
        ));
    }
    let mut err = |path: &str, msg: String| e.push(ConfigError::new(path, msg).into());
    if job.polling_interval == 0 {
        err("pollingInterval", "must be at least 1 second, got 0".into());
    }
    if job.max_replica_count == 0 {
        err("maxReplicaCount", "must be at least 1, got 0".into());
    }
    if job.triggers.is_empty() {
        err("triggers", "at least one trigger is required".into());
    }
    let strategy = &job.scaling_strategy;
    if strategy.strategy == JobScalingStrategy::Custom {
        match strategy.custom_scaling_running_job_percentage {
            // KEDA silently uses `default` then; a typo should not change the strategy.
            None => err(
                "scalingStrategy.customScalingRunningJobPercentage",
                "required by strategy custom".into(),
            ),
            Some(p) if !(0.0..=1.0).contains(&p) => err(
                "scalingStrategy.customScalingRunningJobPercentage",
                format!("must be between 0 and 1 (a share of the running Jobs), got {p}"),
            ),
            Some(_) => {}
        }
    }
    let base = "jobTargetRef";
    let spec = job
        .job_target_ref
        .get("template")
        .and_then(|t| t.get("spec"));
    match job.job_target_ref.get("template") {
        None => err(
            &format!("{base}.template"),
            "required field is missing".into(),
        ),
        Some(t) if !t.is_mapping() => err(&format!("{base}.template"), "expected a mapping".into()),
        Some(_) => match spec {
            None => err(
                &format!("{base}.template.spec"),
                "required field is missing".into(),
            ),
            Some(spec) => {
                let at = format!("{base}.template.spec");
                match spec.get("containers").and_then(|c| c.as_sequence()) {
                    Some(c) if !c.is_empty() => {
                        if let Some(wanted) = &job.env_source_container_name
                            && !c.iter().any(|c| {
                                c.get("name").and_then(|n| n.as_str()) == Some(wanted.as_str())
                            })
                        {
                            err(
                                "envSourceContainerName",
                                format!("no container named {wanted:?} in the Job template"),
                            );
                        }
                    }
                    _ => err(
                        &format!("{at}.containers"),
                        "at least one container is required".into(),
                    ),
                }
                if let Some(policy) = spec.get("restartPolicy") {
                    let text = policy.as_str().unwrap_or_default();
                    if !JOB_RESTART_POLICIES.contains(&text) {
                        err(
                            &format!("{at}.restartPolicy"),
                            format!(
                                "a Job's pods restart Never or OnFailure, got {}",
                                serde_norway::to_string(policy)
                                    .unwrap_or_default()
                                    .trim_end()
                            ),
                        );
                    }
                }
            }
        },
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, t) in job.triggers.iter().enumerate() {
        if t.metric_type == crate::config::model::MetricType::Value {
            // KEDA's ScaledJob controller refuses a metricType: Jobs are counted per item.
            err(
                &format!("triggers[{i}].metricType"),
                "not supported on a scaled job (each Job takes the target's share)".into(),
            );
        }
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
    e
}

/// Builds trigger `index` of `object` with resolved authentication values; see
/// [`validate_with_secrets`] for how offline parameters are treated.
fn build_with(
    registry: &Registry,
    object: &ScaledObject,
    index: usize,
    values: &AuthValues,
    env: EnvLookup<'_>,
) -> Result<(BuiltTrigger, Vec<ConfigError>), Vec<ConfigError>> {
    if values.offline().is_empty() {
        return registry.build_with_warnings(BuildContext {
            object,
            index,
            auth: values.values(),
            env,
        });
    }
    // A blank value counts as absent (KEDA's rule, applied by `Params`), so the build with
    // empty stand-ins is also the build without them.
    let empty = values.with_placeholders("");
    if let Ok(trigger) = registry.build_with_warnings(BuildContext {
        object,
        index,
        auth: &empty,
        env,
    }) {
        return Ok(trigger);
    }
    let errors = match registry.build_with_warnings(BuildContext {
        object,
        index,
        auth: &values.with_placeholders(TEXT_PLACEHOLDER),
        env,
    }) {
        Ok(trigger) => return Ok(trigger),
        Err(errors) => errors,
    };
    // Errors about an offline parameter: located at the authentication, or at the metadata
    // (where `Params::error` puts them) when the metadata does not give that parameter.
    let metadata = &object.triggers[index].metadata;
    let noted = |path: &str| {
        values.offline().iter().any(|p| {
            path == format!("authenticationRef.{p}")
                || (path == format!("metadata.{p}")
                    && metadata.get(p).is_none_or(|v| v.trim().is_empty()))
        })
    };
    Err(errors
        .into_iter()
        .map(|mut e| {
            if noted(&e.path) {
                e.message = format!("{} {PLACEHOLDER_NOTE}", e.message);
            }
            e
        })
        .collect())
}

/// The position of the authentication `reference` finds for `object`, or the error (path
/// relative to the trigger) saying why there is none.
fn find_authentication(
    config: &Config,
    object: &ScaledObject,
    reference: &AuthenticationRef,
) -> Result<usize, ConfigError> {
    let kind = reference.kind_or_default();
    if kind != TRIGGER_AUTHENTICATION && kind != CLUSTER_TRIGGER_AUTHENTICATION {
        return Err(ConfigError::new(
            "authenticationRef.kind",
            format!(
                "expected one of {TRIGGER_AUTHENTICATION}, {CLUSTER_TRIGGER_AUTHENTICATION}, \
                 got {kind:?}"
            ),
        ));
    }
    if let Some(index) = config.authentication_index(object, reference) {
        return Ok(index);
    }
    let cluster = kind == CLUSTER_TRIGGER_AUTHENTICATION;
    let visible = |a: &Authentication| {
        a.cluster == cluster
            && (cluster
                || a.namespace.is_none()
                || a.namespace.as_deref() == Some(&object.namespace))
    };
    let defined: BTreeSet<&str> = config
        .authentications
        .iter()
        .filter(|a| visible(a))
        .map(|a| a.name.as_str())
        .collect();
    let name = &reference.name;
    let mut message = if cluster {
        format!("no {kind} {name:?}")
    } else {
        format!("no {kind} {name:?} in namespace {:?}", object.namespace)
    };
    if defined.is_empty() {
        message.push_str("; none is defined");
    } else {
        let list: Vec<&str> = defined.into_iter().collect();
        message.push_str(&format!("; defined: {}", list.join(", ")));
    }
    if let Some(other) = config.authentications.iter().find(|a| &a.name == name) {
        message.push_str(&format!("; there is {}", describe(other)));
    }
    Err(ConfigError::new("authenticationRef.name", message))
}

/// An authentication as messages name it: `TriggerAuthentication "a" in namespace "shop"`,
/// `TriggerAuthentication "a" for every namespace` or `ClusterTriggerAuthentication "a"`.
fn describe(auth: &Authentication) -> String {
    let (kind, name) = (auth.kind(), &auth.name);
    match (&auth.namespace, auth.cluster) {
        (_, true) => format!("{kind} {name:?}"),
        (Some(namespace), false) => format!("{kind} {name:?} in namespace {namespace:?}"),
        (None, false) => format!("{kind} {name:?} for every namespace"),
    }
}

/// Checks every authentication: names present and unique per kind and namespace, no
/// namespace on a cluster-wide one, each parameter named, set once, and its source named.
/// Returns the errors, and the positions of the authentications whose values must not be
/// read because a source is unnamed.
fn check_authentications(config: &Config, file: &str) -> (Vec<ConfigError>, BTreeSet<usize>) {
    let mut errors = Vec::new();
    let mut invalid = BTreeSet::new();
    let mut seen: HashMap<(bool, Option<&str>, &str), usize> = HashMap::new();
    for (i, auth) in config.authentications.iter().enumerate() {
        let loc = config.authentication_location(i);
        let mut err = |prefix: &str, path: &str, message: String| {
            errors.push(ConfigError::new(path, message).under(prefix).in_file(file));
        };
        if auth.name.is_empty() {
            err(&loc.metadata, "name", "must not be empty".into());
        } else if let Some(first) =
            seen.insert((auth.cluster, auth.namespace.as_deref(), &auth.name), i)
        {
            err(
                &loc.metadata,
                "name",
                format!(
                    "duplicate {}: already defined by the authentication at {}",
                    describe(auth),
                    config.authentication_location(first).metadata
                ),
            );
        }
        if auth.cluster && auth.namespace.is_some() {
            err(
                &loc.metadata,
                "namespace",
                format!("a {CLUSTER_TRIGGER_AUTHENTICATION} has no namespace"),
            );
        }
        let mut parameters: HashMap<&str, String> = HashMap::new();
        for (j, parameter) in auth.parameters.iter().enumerate() {
            let path = auth.parameter_path(j);
            let name = parameter.parameter.as_str();
            if name.is_empty() {
                err(
                    &loc.spec,
                    &format!("{path}.parameter"),
                    "must not be empty".into(),
                );
            } else if let Some(first) = parameters.get(name) {
                err(
                    &loc.spec,
                    &format!("{path}.parameter"),
                    format!("parameter {name:?} is already set by {first}"),
                );
            } else {
                parameters.insert(name, path.clone());
            }
            let sources = match &parameter.source {
                AuthSource::Env { name, .. } => vec![("name", name)],
                AuthSource::File { path } => vec![("path", path)],
                AuthSource::Secret { name, key } | AuthSource::ConfigMap { name, key } => {
                    vec![("name", name), ("key", key)]
                }
            };
            for (field, value) in sources {
                if value.is_empty() {
                    err(
                        &loc.spec,
                        &format!("{path}.{field}"),
                        "must not be empty".into(),
                    );
                    invalid.insert(i);
                }
            }
        }
    }
    (errors, invalid)
}

/// The checks of a scaled object that need no registry.
fn check_object(o: &ScaledObject) -> Vec<ObjectError> {
    let mut e = Vec::new();
    if o.name.is_empty() {
        e.push(ObjectError::Metadata(
            MetadataField::Name,
            "must not be empty".into(),
        ));
    }
    let mut err = |path: &str, msg: String| e.push(ConfigError::new(path, msg).into());
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
        e.push(ObjectError::Metadata(
            MetadataField::PausedReplicaCount,
            format!(
                "must not exceed maxReplicaCount ({}), got {p}",
                o.max_replica_count
            ),
        ));
    }
    let mut err = |path: &str, msg: String| e.push(ConfigError::new(path, msg).into());
    if o.triggers.is_empty() {
        err("triggers", "at least one trigger is required".into());
    }
    if let Some(fb) = &o.fallback
        && fb.behavior == FallbackBehavior::ScalingModifiers
        && o.advanced.scaling_modifiers.is_none()
    {
        // KEDA's admission webhook refuses it too: there is no formula to pass nil to.
        err(
            "fallback.behavior",
            "scalingModifiers needs advanced.scalingModifiers (a formula)".into(),
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, t) in o.triggers.iter().enumerate() {
        // KEDA's admission rule: a cached value of these would not follow the clock (cron) or
        // the resource metrics the HPA reads itself (cpu, memory).
        if t.use_cached_metrics && UNCACHEABLE_TRIGGER_TYPES.contains(&t.trigger_type.as_str()) {
            err(
                &format!("triggers[{i}].useCachedMetrics"),
                format!(
                    "property \"useCachedMetrics\" is not supported for {:?} scaler",
                    t.trigger_type
                ),
            );
        }
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
