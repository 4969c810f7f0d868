//! Trigger tests: building triggers from `(name, value)` pairs the way scalerd does (through a
//! [`Registry`] and a [`ScaledObject`]), and [`run_and_assert_trigger_compliance`], the rules
//! every trigger type meets, checked on a live source.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::fmt::{self, Write as _};
use std::time::Duration;

use futures_util::FutureExt as _;
use scalers_core::config::model::{ScaledObject, TriggerSpec};
use scalers_core::error::ConfigError;
use scalers_core::secret::Secret;
use scalers_core::trigger::{
    BuildContext, BuiltTrigger, Invalid, Params, Registry, Sample, TriggerError, Waker,
};

/// How long [`run_and_assert_trigger_compliance`] lets one sample take (the runner's business
/// in scalerd; this harness is the runner here).
const SAMPLE_DEADLINE: Duration = Duration::from_secs(30);

/// Shorter authentication values are not looked for in output: a value such as `1` or `true`
/// would be found by chance.
const SHORTEST_SECRET: usize = 4;

/// `(String, String)` pairs from `(&str, &str)` ones: expected `(path, message)` errors, or an
/// environment.
///
/// # Examples
/// ```
/// let expected = scalers_testkit::pairs(&[("metadata.query", "required parameter is missing")]);
/// assert_eq!(expected[0].0, "metadata.query");
/// ```
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Authentication parameters as a build receives them (resolved, by parameter name).
pub fn auth_params(list: &[(&str, &str)]) -> BTreeMap<String, Secret> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
        .collect()
}

/// A scaled object `app` (namespace `default`, target Deployment `app`) with one trigger of
/// type `trigger_type` and this metadata: how trigger tests build triggers the way scalerd does,
/// through a `Registry`.
pub fn object_with_trigger(trigger_type: &str, metadata: &[(&str, &str)]) -> ScaledObject {
    let mut spec = TriggerSpec::new(trigger_type);
    for (k, v) in metadata {
        spec.metadata.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut object = ScaledObject::new("app", "app");
    object.triggers.push(spec);
    object
}

/// Builds trigger 0 of `object` through `registry`, as scalerd does, with these authentication
/// parameters and this environment (for `*FromEnv`).
///
/// # Errors
/// The registry's build errors.
pub fn build_object_trigger(
    registry: &Registry,
    object: &ScaledObject,
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<ConfigError>> {
    let auth = auth_params(auth);
    let env = pairs(env);
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    registry.build(
        BuildContext::new(object, 0)
            .with_auth(&auth)
            .with_env(&lookup),
    )
}

/// Builds a trigger of type `trigger_type` through `registry`, as scalerd does: on
/// [`object_with_trigger`], with these authentication parameters and this environment (for
/// `*FromEnv`). Errors come back as `(path, message)` pairs, for exact comparisons.
///
/// # Errors
/// The registry's build errors.
pub fn build_trigger(
    registry: &Registry,
    trigger_type: &str,
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<(String, String)>> {
    let object = object_with_trigger(trigger_type, metadata);
    build_object_trigger(registry, &object, auth, env)
        .map_err(|errors| errors.into_iter().map(|e| (e.path, e.message)).collect())
}

/// Runs `read` (a trigger type's `from_params`) on the parameters of a trigger of type
/// `trigger_type` with this metadata, authentication and environment, as a registry does:
/// what it read when it recorded no problem, else the problems as `(path, message)` pairs.
///
/// # Errors
/// The problems `read` recorded.
///
/// # Examples
/// ```
/// let threshold = scalers_testkit::read_params("demo", &[("threshold", "ten")], &[], &[], |p| {
///     p.required_f64("threshold")
/// });
/// let expected = scalers_testkit::pairs(&[("metadata.threshold", "expected a number, got \"ten\"")]);
/// assert_eq!(threshold, Err(expected));
/// ```
pub fn read_params<T>(
    trigger_type: &str,
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
    read: impl FnOnce(&mut Params<'_>) -> Result<T, Invalid>,
) -> Result<T, Vec<(String, String)>> {
    let object = object_with_trigger(trigger_type, metadata);
    let auth = auth_params(auth);
    let env = pairs(env);
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut params = Params::new(&object.triggers[0], &object, &auth, &lookup);
    let read = read(&mut params);
    let errors: Vec<_> = params
        .take_errors()
        .into_iter()
        .map(|e| (e.path, e.message))
        .collect();
    match read {
        Ok(value) if errors.is_empty() => Ok(value),
        _ => Err(errors),
    }
}

/// What [`run_and_assert_trigger_compliance`] builds and samples: a trigger type with its
/// metadata, authentication parameters and environment, and the values that must never show.
#[derive(Clone)]
pub struct TriggerCase<'a> {
    trigger_type: &'a str,
    metadata: &'a [(&'a str, &'a str)],
    auth: &'a [(&'a str, &'a str)],
    env: &'a [(&'a str, &'a str)],
    secrets: Vec<&'a str>,
    signed: bool,
}

impl fmt::Debug for TriggerCase<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth: Vec<&str> = self.auth.iter().map(|(k, _)| *k).collect();
        f.debug_struct("TriggerCase")
            .field("trigger_type", &self.trigger_type)
            .field("metadata", &self.metadata)
            .field("auth", &auth)
            .field("signed", &self.signed)
            .finish_non_exhaustive()
    }
}

impl<'a> TriggerCase<'a> {
    /// A trigger of type `trigger_type` with this metadata, no authentication parameters and an
    /// empty environment.
    pub fn new(trigger_type: &'a str, metadata: &'a [(&'a str, &'a str)]) -> Self {
        TriggerCase {
            trigger_type,
            metadata,
            auth: &[],
            env: &[],
            secrets: Vec::new(),
            signed: false,
        }
    }

    /// The same case with these authentication parameters. Every value of at least 4
    /// characters counts as a credential that must not show in any output.
    pub fn auth(self, auth: &'a [(&'a str, &'a str)]) -> Self {
        TriggerCase { auth, ..self }
    }

    /// The same case with this environment, for `*FromEnv` parameters.
    pub fn env(self, env: &'a [(&'a str, &'a str)]) -> Self {
        TriggerCase { env, ..self }
    }

    /// The same case with one more value that must not show in any output: a credential given
    /// elsewhere than in the authentication parameters (the password of a URL in the metadata).
    pub fn secret(mut self, secret: &'a str) -> Self {
        self.secrets.push(secret);
        self
    }

    /// The same case for a source whose values may be negative (a PromQL expression, an external
    /// scaler's number): a sample must then be finite, not also non-negative.
    pub fn signed(self) -> Self {
        TriggerCase {
            signed: true,
            ..self
        }
    }

    /// The values that must not show: the longer authentication values, and the extra secrets.
    fn credentials(&self) -> Vec<&'a str> {
        self.auth
            .iter()
            .map(|(_, v)| v.trim())
            .filter(|v| v.len() >= SHORTEST_SECRET)
            .chain(self.secrets.iter().copied())
            .collect()
    }
}

/// Builds `case` through `registry` as scalerd does, samples it as scalerd's runner does, and
/// asserts the rules every trigger type meets; returns the sample (or its failure), for the
/// test's own assertions. Modelled on Vector's `run_and_assert_source_compliance`: every trigger
/// crate's live tests call it.
///
/// The rules (from [`scalers_core::trigger`]'s `Trigger`, `Registry` and `TriggerError`):
/// - the trigger builds, named after its type (no `name` given), and reads every metadata key
///   given (no unread-key warning);
/// - its target is fixed at build time: the same on every call and on a second build from the
///   same parameters (building does no I/O, so it is repeatable); the target value is finite and
///   greater than 0, the activation threshold finite;
/// - it takes the runner's waker ([`Trigger::set_waker`](scalers_core::trigger::Trigger::set_waker))
///   before its first sample, as every trigger is handed one;
/// - a sample cancelled after its first poll (the runner's timeouts drop samples) leaves it
///   usable: the next sample meets these rules too, within 30 s;
/// - a sample's value is finite and, unless [`TriggerCase::signed`], not negative; a "no data"
///   sample's value is the stand-in 0;
/// - a failure has a non-empty message, which is its `Display`, and which no cause in its chain
///   repeats (a chain printer shows it once);
/// - no credential of the case (see [`TriggerCase::auth`] and [`TriggerCase::secret`]) shows in
///   the built trigger's `Debug`, the build warnings, the sample, or a failure's message,
///   `Display`, `Debug` or any cause's `Display` or `Debug`.
///
/// # Panics
/// When a rule is broken, naming it and the case.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use scalers_core::config::model::MetricType;
/// use scalers_core::trigger::{MetricTarget, Registry, Sample, Trigger, TriggerError};
/// use scalers_testkit::{TriggerCase, run_and_assert_trigger_compliance};
///
/// struct Fixed(f64);
/// #[async_trait::async_trait]
/// impl Trigger for Fixed {
///     fn target(&self) -> MetricTarget {
///         MetricTarget { value: 10.0, metric_type: MetricType::AverageValue, activation_threshold: 0.0 }
///     }
///     async fn sample(&self) -> Result<Sample, TriggerError> {
///         Ok(Sample::new(self.0, 0.0))
///     }
/// }
///
/// let mut registry = Registry::new();
/// registry.register("fixed", |p| Ok(Arc::new(Fixed(p.required_f64("value")?))));
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let case = TriggerCase::new("fixed", &[("value", "3")]).auth(&[("token", "s3cret")]);
/// let sample = run_and_assert_trigger_compliance(&registry, &case).await;
/// assert_eq!(sample.unwrap(), Sample::new(3.0, 0.0));
/// # });
/// ```
pub async fn run_and_assert_trigger_compliance(
    registry: &Registry,
    case: &TriggerCase<'_>,
) -> Result<Sample, TriggerError> {
    let check = Check {
        case,
        credentials: case.credentials(),
    };
    let built = check.build(registry);
    built.trigger.set_waker(Waker::new(|| {}));
    // Cancelled after its first poll, as a runner's timeout would.
    drop(built.trigger.sample().now_or_never());
    let outcome = tokio::time::timeout(SAMPLE_DEADLINE, built.trigger.sample())
        .await
        .unwrap_or_else(|_| check.fail(&format!("no sample within {SAMPLE_DEADLINE:?}")));
    match &outcome {
        Ok(sample) => check.sample(sample),
        Err(e) => check.failure(e),
    }
    assert_eq!(
        built.trigger.target(),
        check.build(registry).trigger.target(),
        "{case:?}: the target changed after sampling"
    );
    outcome
}

/// One compliance run: the case and the credentials to look for.
struct Check<'c, 'a> {
    case: &'c TriggerCase<'a>,
    credentials: Vec<&'a str>,
}

impl Check<'_, '_> {
    fn fail(&self, rule: &str) -> ! {
        panic!("trigger compliance: {rule}\n  case: {:?}", self.case)
    }

    /// Fails when a credential shows in `text` (`what` says where it was found).
    fn no_credentials(&self, what: &str, text: &str) {
        for secret in &self.credentials {
            if text.contains(secret) {
                // Not the text itself: it holds the secret.
                self.fail(&format!(
                    "{what} shows a credential (a value of {} characters)",
                    secret.len()
                ));
            }
        }
    }

    /// Builds the case, checking the build rules.
    fn build(&self, registry: &Registry) -> BuiltTrigger {
        let case = self.case;
        let object = object_with_trigger(case.trigger_type, case.metadata);
        let auth = auth_params(case.auth);
        let env = pairs(case.env);
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let context = BuildContext::new(&object, 0)
            .with_auth(&auth)
            .with_env(&lookup);
        let (built, warnings) = match registry.build_with_warnings(context) {
            Ok(built) => built,
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                self.no_credentials("a build error", &errors.join("\n"));
                self.fail(&format!("it does not build: {errors:?}"))
            }
        };
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        self.no_credentials("a build warning", &warnings.join("\n"));
        if !warnings.is_empty() {
            self.fail(&format!("metadata it does not read: {warnings:?}"));
        }
        self.no_credentials("the built trigger's Debug", &format!("{built:?}"));
        if built.trigger_type != case.trigger_type || built.name != case.trigger_type {
            self.fail(&format!(
                "built as {:?} named {:?}",
                built.trigger_type, built.name
            ));
        }
        let target = built.trigger.target();
        if !(target.value.is_finite() && target.value > 0.0) {
            self.fail(&format!("target value {}", target.value));
        }
        if !target.activation_threshold.is_finite() {
            self.fail(&format!(
                "activation threshold {}",
                target.activation_threshold
            ));
        }
        if built.trigger.target() != target {
            self.fail("target() answers differently on a second call");
        }
        built
    }

    fn sample(&self, sample: &Sample) {
        self.no_credentials("a sample", &format!("{sample:?}"));
        if !sample.value.is_finite() || (!self.case.signed && sample.value < 0.0) {
            self.fail(&format!("sampled value {}", sample.value));
        }
        if sample.no_data && sample.value != 0.0 {
            self.fail(&format!("a no-data sample with value {}", sample.value));
        }
    }

    fn failure(&self, e: &TriggerError) {
        self.no_credentials("a failure's message", &e.message);
        self.no_credentials("a failure's Display", &e.to_string());
        self.no_credentials("a failure's Debug", &format!("{e:?}"));
        if e.message.trim().is_empty() {
            self.fail(&format!("a {} failure without a message", e.kind));
        }
        if e.to_string() != e.message {
            self.fail("a failure whose Display is not its message");
        }
        let mut chain = String::new();
        let mut cause = e.source();
        while let Some(c) = cause {
            let _ = write!(chain, ": {c}");
            self.no_credentials("a failure's cause", &c.to_string());
            self.no_credentials("a failure's cause's Debug", &format!("{c:?}"));
            if c.to_string() == e.message {
                self.fail(&format!(
                    "a failure whose cause repeats its message: {}{chain}",
                    e.message
                ));
            }
            cause = c.source();
        }
    }
}
