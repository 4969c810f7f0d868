//! Semantic validation of a loaded config: KEDA's admission checks, HPA behavior checks, the
//! scaling-modifiers formula, authentications and the references to them, and every trigger
//! built through the [`Registry`].

mod admission;
mod authentication;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::auth::{AuthValues, SecretReader, resolve};
use crate::config::model::{Config, Location, ScaledJob, ScaledObject, TriggerSpec};
use crate::error::{ConfigError, ConfigErrors};
use crate::secret::Secret;
use crate::trigger::{BuildContext, BuiltTrigger, EnvLookup, Registry};
use admission::{check_job, check_object};
use authentication::{check_authentications, find_authentication};

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
    let mut checker = Checker {
        config,
        registry,
        file,
        env,
        auth,
        errors,
    };
    let mut out = Vec::new();
    let mut names: HashMap<(&str, &str), usize> = HashMap::new();
    let mut targets: HashMap<(&str, &str, &str, &str), usize> = HashMap::new();
    for (i, object) in config.scaled_objects.iter().enumerate() {
        let loc = config.location(i);
        let mut errs = check_object(object);
        if let Some(first) = names.insert((&object.namespace, &object.name), i) {
            let first_at = config.location(first).metadata;
            errs.push(duplicate_name(
                "scaled object",
                "object",
                object.key(),
                &first_at,
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
        if let Some((triggers, warnings)) = checker.finish(object, &loc, errs) {
            out.push(ValidatedObject {
                object: object.clone(),
                triggers,
                warnings,
            });
        }
    }
    let mut jobs = Vec::new();
    let mut job_names: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, job) in config.scaled_jobs.iter().enumerate() {
        let loc = config.job_location(i);
        let mut errs = check_job(job);
        if let Some(first) = job_names.insert((&job.namespace, &job.name), i) {
            let first_at = config.job_location(first).metadata;
            errs.push(duplicate_name(
                "scaled job",
                "scaled job",
                job.key(),
                &first_at,
            ));
        }
        if let Some((triggers, warnings)) = checker.finish(&job.trigger_host(), &loc, errs) {
            jobs.push(ValidatedJob {
                job: job.clone(),
                triggers,
                warnings,
            });
        }
    }
    if checker.errors.is_empty() {
        Ok(Validated { objects: out, jobs })
    } else {
        Err(ConfigErrors(checker.errors))
    }
}

/// The error for a second scaled object or job (`kind`) of the same namespace and name
/// (`key`), the first `first_kind` of them being defined at `first_at`.
fn duplicate_name(kind: &str, first_kind: &str, key: String, first_at: &str) -> ObjectError {
    ObjectError::Metadata(
        MetadataField::Name,
        format!("duplicate {kind} {key:?}: already defined by the {first_kind} at {first_at}"),
    )
}

/// What checking a scaled object or a scaled job needs beyond the object itself, and the
/// errors found so far, located and attributed.
struct Checker<'c, 'a> {
    /// The config checked.
    config: &'c Config,
    /// Builds the triggers.
    registry: &'c Registry,
    /// The file errors are attributed to.
    file: &'c str,
    /// Resolves `*FromEnv` parameters.
    env: EnvLookup<'c>,
    /// Gives each trigger its authentication parameters.
    auth: &'c TriggerAuthFn<'c, 'a>,
    /// The errors found so far.
    errors: Vec<ConfigError>,
}

impl Checker<'_, '_> {
    /// Builds the triggers of a scaled object, or of a scaled job through its
    /// [`trigger host`](ScaledJob::trigger_host) (`host`), which sits at `loc` and whose own
    /// checks found `errs`; keeps every error, located. Returns the triggers and the warnings
    /// when it is valid.
    fn finish(
        &mut self,
        host: &ScaledObject,
        loc: &Location,
        mut errs: Vec<ObjectError>,
    ) -> Option<(Vec<BuiltTrigger>, Vec<ConfigError>)> {
        let (triggers, warnings) = self.build_triggers(host, &loc.spec, &mut errs);
        let valid = errs.is_empty() && triggers.len() == host.triggers.len();
        let file = self.file;
        self.errors
            .extend(errs.into_iter().map(|e| locate(e, loc, file)));
        valid.then_some((triggers, warnings))
    }

    /// Builds every trigger of `object` (whose spec sits at `spec_prefix`), its authentication
    /// found and read through `auth`; errors (relative to the spec) go to `errs`, warnings
    /// come back located.
    fn build_triggers(
        &self,
        object: &ScaledObject,
        spec_prefix: &str,
        errs: &mut Vec<ObjectError>,
    ) -> (Vec<BuiltTrigger>, Vec<ConfigError>) {
        let mut triggers = Vec::with_capacity(object.triggers.len());
        let mut warnings = Vec::new();
        for (j, spec) in object.triggers.iter().enumerate() {
            let at = format!("triggers[{j}]");
            let auth_index = match &spec.authentication_ref {
                None => None,
                Some(reference) => match find_authentication(self.config, object, reference) {
                    Ok(index) => Some(index),
                    Err(e) => {
                        errs.push(e.under(&at).into());
                        continue;
                    }
                },
            };
            let built = match (self.auth)(object, j, auth_index) {
                TriggerAuth::Values(values) => self.registry.build_with_warnings(BuildContext {
                    object,
                    index: j,
                    auth: &values,
                    env: self.env,
                }),
                TriggerAuth::Resolved(values) => {
                    build_with(self.registry, object, j, values, self.env)
                }
                TriggerAuth::Unreadable => continue,
            };
            match built {
                Ok((trigger, notes)) => {
                    triggers.push(trigger);
                    warnings.extend(
                        notes
                            .into_iter()
                            .map(|w| w.under(&at).under(spec_prefix).in_file(self.file)),
                    );
                }
                Err(es) => errs.extend(es.into_iter().map(|e| e.under(&at).into())),
            }
        }
        (triggers, warnings)
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
fn locate(e: ObjectError, loc: &Location, file: &str) -> ConfigError {
    match e {
        ObjectError::Metadata(field, message) => ConfigError::new(field.as_str(), message)
            .under(&loc.metadata)
            .in_file(file),
        ObjectError::Spec(e) => e.under(&loc.spec).in_file(file),
    }
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
