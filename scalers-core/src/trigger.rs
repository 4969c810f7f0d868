//! The [`Trigger`] trait every metric source implements, and the [`Registry`] that builds
//! triggers from config.
//!
//! A trigger type is a constructor from [`Params`] (the trigger's metadata, authentication
//! parameters and environment, read through typed accessors that record every error with its
//! field path) to an `Arc<dyn Trigger>`. Building never does I/O: connections are opened on the
//! first [`Trigger::sample`], so `scalerd check` and `scalerd simulate` can build every trigger
//! without reaching its source.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::model::{MetricType, ScaledObject, TriggerSpec};
use crate::error::{ConfigError, join_path};
use crate::secret::Secret;

/// What one replica should handle, and when the trigger counts as active.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricTarget {
    /// The target value (per replica for AverageValue, for the whole workload for Value).
    pub value: f64,
    /// How `value` is read.
    pub metric_type: MetricType,
    /// The trigger is active iff its value is strictly greater than this.
    pub activation_threshold: f64,
}

/// One observation of a trigger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The metric value.
    pub value: f64,
    /// Whether the trigger asks for at least one replica.
    pub active: bool,
    /// The source answered "no data" and `value` is a stand-in zero (for example a Prometheus
    /// query with an empty result and `ignoreNullValues: true`).
    pub no_data: bool,
}

impl Sample {
    /// A sample whose activity follows KEDA's rule: active iff `value > activation_threshold`.
    pub fn new(value: f64, activation_threshold: f64) -> Self {
        Sample {
            value,
            active: value > activation_threshold,
            no_data: false,
        }
    }

    /// A stand-in zero for a source that answered with no data.
    pub fn no_data(activation_threshold: f64) -> Self {
        Sample {
            no_data: true,
            ..Sample::new(0.0, activation_threshold)
        }
    }
}

/// Why a sample failed; feeds fallback and the decision's explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TriggerErrorKind {
    /// The source could not be reached.
    Unavailable,
    /// The source answered something that is not a usable value.
    BadResponse,
    /// The source did not answer within the trigger timeout.
    Timeout,
    /// The source refused the credentials.
    Unauthorized,
    /// The source answered with no data and the trigger treats that as a failure.
    NoData,
}

impl TriggerErrorKind {
    /// A short lowercase name (`unavailable`, `bad_response`, …) for metrics and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerErrorKind::Unavailable => "unavailable",
            TriggerErrorKind::BadResponse => "bad_response",
            TriggerErrorKind::Timeout => "timeout",
            TriggerErrorKind::Unauthorized => "unauthorized",
            TriggerErrorKind::NoData => "no_data",
        }
    }
}

impl fmt::Display for TriggerErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed sample: its kind and a message free of credentials.
///
/// # The plugin's error
///
/// A trigger crate with an error type of its own converts it with
/// [`TriggerError::from_plugin`] (usually inside `impl From<Error> for TriggerError`). The
/// conversion keeps that error whole in [`source`](TriggerError::source): an embedding program
/// gets it back with [`TriggerError::downcast_ref`] (or by downcasting the field), for example
/// `e.downcast_ref::<scalers_prometheus::Error>()`, and matches on its variants.
///
/// The message is then the plugin error's `Display`, so the chain is printed once: the
/// [`std::error::Error::source`] of such a trigger error is the plugin error's own source (the
/// transport or decoding error underneath), never the plugin error itself, whose text would
/// repeat the message. A printer that walks the chain (`message: cause: cause …`) therefore shows
/// the same line whether or not the plugin error is kept. A cause attached with
/// [`TriggerError::with_source`] is not described by the message and is the chain's next link.
#[derive(Debug)]
pub struct TriggerError {
    /// What kind of failure.
    pub kind: TriggerErrorKind,
    /// What happened, without credentials or query strings.
    pub message: String,
    /// The plugin's own error (from [`TriggerError::from_plugin`]) or the underlying cause (from
    /// [`TriggerError::with_source`]), if any.
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// Whether `source` is the error `message` was taken from.
    from_plugin: bool,
}

impl TriggerError {
    /// A failure of that kind with that message.
    pub fn new(kind: TriggerErrorKind, message: impl Into<String>) -> Self {
        TriggerError {
            kind,
            message: message.into(),
            source: None,
            from_plugin: false,
        }
    }

    /// A failure of that kind whose message is the plugin's `error`, kept as
    /// [`source`](TriggerError::source) for [`TriggerError::downcast_ref`]. The error must not
    /// carry credentials in its text (it becomes the message) nor in its causes.
    pub fn from_plugin(
        kind: TriggerErrorKind,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        TriggerError {
            from_plugin: true,
            ..TriggerError::new(kind, error.to_string()).with_source(error)
        }
    }

    /// The same failure with an underlying cause attached, the next link of the chain after the
    /// message.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self.from_plugin = false;
        self
    }

    /// The plugin's error, if this failure was converted from one
    /// ([`TriggerError::from_plugin`]) of type `E`.
    ///
    /// ```
    /// use scalers_core::trigger::{TriggerError, TriggerErrorKind};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("queue {0} is gone")]
    /// struct MyError(String);
    ///
    /// let e = TriggerError::from_plugin(TriggerErrorKind::BadResponse, MyError("jobs".into()));
    /// assert_eq!(e.to_string(), "queue jobs is gone");
    /// assert_eq!(e.downcast_ref::<MyError>().map(|m| m.0.as_str()), Some("jobs"));
    /// // The message is not repeated by the chain.
    /// assert!(std::error::Error::source(&e).is_none());
    /// ```
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source
            .as_deref()
            .filter(|_| self.from_plugin)?
            .downcast_ref()
    }
}

impl fmt::Display for TriggerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TriggerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source = self.source.as_deref()?;
        if self.from_plugin {
            source.source()
        } else {
            Some(source)
        }
    }
}

/// A metric source.
///
/// Implementations hold their parsed parameters and a handle on a shared client. Timeouts and
/// cancellation are the caller's business; `Drop` releases connections.
#[async_trait]
pub trait Trigger: Send + Sync {
    /// The trigger's target and activation threshold, fixed at build time.
    fn target(&self) -> MetricTarget;

    /// Takes one observation from the source.
    ///
    /// # Errors
    /// A [`TriggerError`] whose kind says whether the source was unavailable, answered badly,
    /// timed out, refused credentials or had no data.
    async fn sample(&self) -> Result<Sample, TriggerError>;

    /// Hands a push trigger the means to ask for an evaluation now instead of at the next poll
    /// (KEDA's `external-push`). The runner calls it once, when the object's loop starts; polling
    /// triggers ignore it.
    fn set_waker(&self, _wake: Waker) {}
}

/// Asks the owning loop to evaluate its object now; cheap to clone and to call often.
#[derive(Clone)]
pub struct Waker(Arc<dyn Fn() + Send + Sync>);

impl Waker {
    /// A waker that runs `wake`.
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Waker(Arc::new(wake))
    }

    /// Asks for an evaluation now.
    pub fn wake(&self) {
        (self.0)();
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waker")
    }
}

/// A KEDA boolean, as Go's `strconv.ParseBool` reads it: `1`, `t`, `T`, `true`, `TRUE`, `True`
/// and their `false` counterparts; anything else is none. The one parser of KEDA booleans: trigger
/// parameters ([`Params::bool_or`]) and the daemon's reading of `unsafeSsl` use it.
///
/// ```
/// use scalers_core::trigger::parse_bool;
/// assert_eq!(parse_bool("True"), Some(true));
/// assert_eq!(parse_bool("0"), Some(false));
/// assert_eq!(parse_bool("yes"), None);
/// ```
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Marker returned by [`Params`] accessors once a problem has been recorded in the [`Params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

/// Looks up environment variables for `*FromEnv` parameters.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// A trigger's parameters, read through typed accessors that record every problem.
///
/// A value is looked up, in KEDA's order, in the trigger's `metadata`, then in the
/// authentication parameters, then in the environment variable named by `metadata.<name>FromEnv`.
/// As in KEDA, every value is trimmed of surrounding white space (a trailing newline from a
/// Secret included) and a blank value counts as absent, for every trigger type.
/// Accessors return `Err(Invalid)` after recording a located error, so a constructor can call
/// them all and only then apply `?`, reporting every problem at once:
///
/// ```
/// use scalers_core::trigger::{Invalid, Params};
/// # fn demo(p: &mut Params<'_>) -> Result<(), Invalid> {
/// let query = p.required_str("query");
/// let threshold = p.required_f64("threshold");
/// let (query, threshold) = (query?, threshold?);
/// # let _ = (query, threshold); Ok(()) }
/// ```
pub struct Params<'a> {
    spec: &'a TriggerSpec,
    object: &'a ScaledObject,
    auth: &'a BTreeMap<String, Secret>,
    env: EnvLookup<'a>,
    errors: Vec<ConfigError>,
    used: HashSet<String>,
}

/// Where a parameter value came from, for error paths.
enum Origin {
    Metadata,
    Auth,
    Env(String),
}

impl<'a> Params<'a> {
    /// Parameters of `spec`, a trigger of `object`, with these authentication parameters and
    /// this environment.
    pub fn new(
        spec: &'a TriggerSpec,
        object: &'a ScaledObject,
        auth: &'a BTreeMap<String, Secret>,
        env: EnvLookup<'a>,
    ) -> Self {
        Params {
            spec,
            object,
            auth,
            env,
            errors: Vec::new(),
            used: HashSet::new(),
        }
    }

    /// The trigger being built.
    pub fn spec(&self) -> &TriggerSpec {
        self.spec
    }

    /// The scaled object the trigger belongs to.
    pub fn object(&self) -> &ScaledObject {
        self.object
    }

    /// Records a problem with parameter `name` (path `metadata.<name>`) and returns [`Invalid`].
    pub fn error(&mut self, name: &str, message: impl Into<String>) -> Invalid {
        self.errors
            .push(ConfigError::new(format!("metadata.{name}"), message));
        Invalid
    }

    /// Records a problem located at `path` relative to the trigger (e.g. `metricType`).
    pub fn error_at(&mut self, path: &str, message: impl Into<String>) -> Invalid {
        self.errors.push(ConfigError::new(path, message));
        Invalid
    }

    /// Problems recorded so far.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// Takes the recorded problems.
    pub fn take_errors(&mut self) -> Vec<ConfigError> {
        std::mem::take(&mut self.errors)
    }

    /// `Err(Invalid)` if any problem has been recorded.
    ///
    /// # Errors
    /// [`Invalid`] when an earlier accessor recorded a problem.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Finds parameter `name` in KEDA's order. Every value is trimmed of surrounding white
    /// space (trailing newlines included, as values read from Secrets often carry) and a blank
    /// value counts as absent, so the next source is tried: KEDA's rule for metadata,
    /// authentication and environment values alike.
    fn lookup(&mut self, name: &str) -> Option<(String, Origin)> {
        fn given(v: &str) -> Option<String> {
            let v = v.trim();
            (!v.is_empty()).then(|| v.to_owned())
        }
        self.used.insert(name.to_owned());
        if let Some(v) = self.spec.metadata.get(name).and_then(|v| given(v)) {
            return Some((v, Origin::Metadata));
        }
        if let Some(v) = self.auth.get(name).and_then(|v| given(v.expose())) {
            return Some((v, Origin::Auth));
        }
        let from_env = format!("{name}FromEnv");
        self.used.insert(from_env.clone());
        let var = self.spec.metadata.get(&from_env).and_then(|v| given(v))?;
        match (self.env)(&var) {
            Some(v) => given(&v).map(|v| (v, Origin::Env(var))),
            None => {
                self.errors.push(ConfigError::new(
                    format!("metadata.{from_env}"),
                    format!("environment variable {var} is not set"),
                ));
                None
            }
        }
    }

    fn locate(name: &str, origin: &Origin) -> String {
        match origin {
            Origin::Metadata => format!("metadata.{name}"),
            Origin::Auth => format!("authenticationRef.{name}"),
            Origin::Env(_) => format!("metadata.{name}FromEnv"),
        }
    }

    /// Whether parameter `name` is given anywhere.
    pub fn is_set(&mut self, name: &str) -> bool {
        let before = self.errors.len();
        let found = self.lookup(name).is_some();
        self.errors.truncate(before);
        found
    }

    /// An optional string parameter.
    ///
    /// # Errors
    /// [`Invalid`] when `<name>FromEnv` names a variable that is not set.
    pub fn optional_str(&mut self, name: &str) -> Result<Option<String>, Invalid> {
        let before = self.errors.len();
        let v = self.lookup(name).map(|(v, _)| v);
        if self.errors.len() > before {
            return Err(Invalid);
        }
        Ok(v)
    }

    /// A required string parameter.
    ///
    /// # Errors
    /// [`Invalid`] when it is missing.
    pub fn required_str(&mut self, name: &str) -> Result<String, Invalid> {
        match self.optional_str(name)? {
            Some(v) => Ok(v),
            None => Err(self.error(name, "required parameter is missing")),
        }
    }

    /// An optional credential; it stays wrapped so it cannot be printed.
    ///
    /// # Errors
    /// [`Invalid`] when `<name>FromEnv` names a variable that is not set.
    pub fn secret(&mut self, name: &str) -> Result<Option<Secret>, Invalid> {
        Ok(self.optional_str(name)?.map(Secret::new))
    }

    fn parsed<T>(
        &mut self,
        name: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Invalid> {
        let before = self.errors.len();
        let Some((raw, origin)) = self.lookup(name) else {
            return if self.errors.len() > before {
                Err(Invalid)
            } else {
                Ok(None)
            };
        };
        match parse(&raw) {
            Some(v) => Ok(Some(v)),
            None => {
                let shown = match &origin {
                    Origin::Metadata => format!("{raw:?}"),
                    Origin::Auth => "a value that does not parse".to_owned(),
                    Origin::Env(var) => format!("the value of environment variable {var}"),
                };
                let path = Self::locate(name, &origin);
                Err(self.error_at(&path, format!("expected {what}, got {shown}")))
            }
        }
    }

    /// An optional floating-point parameter (finite).
    ///
    /// # Errors
    /// [`Invalid`] when it is not a number.
    pub fn optional_f64(&mut self, name: &str) -> Result<Option<f64>, Invalid> {
        self.parsed(name, "a number", |s| {
            s.parse::<f64>().ok().filter(|v| v.is_finite())
        })
    }

    /// A floating-point parameter with a default.
    ///
    /// # Errors
    /// [`Invalid`] when it is not a number.
    pub fn f64_or(&mut self, name: &str, default: f64) -> Result<f64, Invalid> {
        Ok(self.optional_f64(name)?.unwrap_or(default))
    }

    /// A required floating-point parameter.
    ///
    /// # Errors
    /// [`Invalid`] when it is missing or not a number.
    pub fn required_f64(&mut self, name: &str) -> Result<f64, Invalid> {
        match self.optional_f64(name)? {
            Some(v) => Ok(v),
            None => Err(self.error(name, "required parameter is missing")),
        }
    }

    /// An optional whole-number parameter.
    ///
    /// # Errors
    /// [`Invalid`] when it is not a non-negative whole number.
    pub fn optional_u64(&mut self, name: &str) -> Result<Option<u64>, Invalid> {
        self.parsed(name, "a whole number", |s| s.parse::<u64>().ok())
    }

    /// A whole-number parameter with a default.
    ///
    /// # Errors
    /// [`Invalid`] when it is not a non-negative whole number.
    pub fn u64_or(&mut self, name: &str, default: u64) -> Result<u64, Invalid> {
        Ok(self.optional_u64(name)?.unwrap_or(default))
    }

    /// A boolean parameter with a default (`true`/`false`, `1`/`0`, any case, as Go's ParseBool).
    ///
    /// # Errors
    /// [`Invalid`] when it is not a boolean.
    pub fn bool_or(&mut self, name: &str, default: bool) -> Result<bool, Invalid> {
        let v = self.parsed(name, "true or false", parse_bool)?;
        Ok(v.unwrap_or(default))
    }

    /// A parameter restricted to a set of values.
    ///
    /// # Errors
    /// [`Invalid`] when it is set to anything else.
    pub fn one_of(&mut self, name: &str, allowed: &[&str]) -> Result<Option<String>, Invalid> {
        let what = format!("one of {}", allowed.join(", "));
        self.parsed(name, &what, |s| {
            allowed.iter().find(|a| **a == s).map(|a| (*a).to_owned())
        })
    }

    /// A `k=v,k2=v2` map parameter (KEDA's format for headers and query parameters).
    ///
    /// # Errors
    /// [`Invalid`] when an entry has no `=` or an empty key.
    pub fn map(&mut self, name: &str) -> Result<Vec<(String, String)>, Invalid> {
        let parsed = self.parsed(name, "comma-separated key=value pairs", |s| {
            s.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    let (k, v) = e.split_once('=')?;
                    let k = k.trim();
                    (!k.is_empty()).then(|| (k.to_owned(), v.trim().to_owned()))
                })
                .collect::<Option<Vec<_>>>()
        })?;
        Ok(parsed.unwrap_or_default())
    }

    /// Metadata keys that no accessor asked for (KEDA warns about these; so do we).
    pub fn unused_metadata(&self) -> Vec<String> {
        self.spec
            .metadata
            .keys()
            .filter(|k| !self.used.contains(*k))
            .cloned()
            .collect()
    }

    /// Marks every metadata key as read, for a trigger that hands its whole metadata on (KEDA's
    /// external scalers receive it all), so none is reported by [`Params::unread_metadata`].
    pub fn read_all_metadata(&mut self) {
        self.used.extend(self.spec.metadata.keys().cloned());
    }

    /// One warning per metadata key no accessor asked for (a typo such as `listLenght`, or a
    /// parameter these settings do not use), at `metadata.<key>`, naming the nearest key the
    /// trigger did read when one is close, else the keys it reads.
    pub fn unread_metadata(&self) -> Vec<ConfigError> {
        let mut read: Vec<&str> = self
            .used
            .iter()
            .map(String::as_str)
            .filter(|k| !k.ends_with("FromEnv"))
            .collect();
        read.sort_unstable();
        self.unused_metadata()
            .into_iter()
            .map(|key| {
                if let Some(stem) = key.strip_suffix("FromEnv")
                    && self.used.contains(stem)
                {
                    let message = format!(
                        "not read by this trigger (ignored): {stem} is given in the metadata or \
                         the authentication, which come first"
                    );
                    return ConfigError::new(format!("metadata.{key}"), message);
                }
                let lower = key.to_lowercase();
                let nearest = read
                    .iter()
                    .map(|k| {
                        (
                            crate::config::load::edit_distance(&lower, &k.to_lowercase()),
                            *k,
                        )
                    })
                    .filter(|(distance, _)| *distance <= 2)
                    .min_by_key(|(distance, _)| *distance);
                let message = match nearest {
                    Some((_, k)) => {
                        format!("not read by this trigger (ignored); did you mean {k:?}?")
                    }
                    None => format!(
                        "not read by this trigger (ignored); it reads {}",
                        read.join(", ")
                    ),
                };
                ConfigError::new(format!("metadata.{key}"), message)
            })
            .collect()
    }
}

/// Builds a trigger of one type from its [`Params`]. Must not do I/O.
pub type BuildFn = dyn Fn(&mut Params<'_>) -> Result<Arc<dyn Trigger>, Invalid> + Send + Sync;

/// The set of trigger types a process knows, by KEDA type name.
///
/// Registration is explicit, so an embedder can list, restrict and test the set:
///
/// ```
/// use std::sync::Arc;
/// use scalers_core::trigger::{MetricTarget, Registry, Sample, Trigger, TriggerError};
/// use scalers_core::config::model::MetricType;
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
/// registry.register("fixed", |p| {
///     let v = p.required_f64("value")?;
///     Ok(Arc::new(Fixed(v)))
/// });
/// assert_eq!(registry.types().collect::<Vec<_>>(), ["fixed"]);
/// ```
#[derive(Default)]
pub struct Registry {
    builders: BTreeMap<String, Box<BuildFn>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("types", &self.builders.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A trigger built from config, with the name it goes by.
#[derive(Clone)]
pub struct BuiltTrigger {
    /// The trigger's `name`, or its `type` when it has none.
    pub name: String,
    /// The trigger's type.
    pub trigger_type: String,
    /// The trigger itself.
    pub trigger: Arc<dyn Trigger>,
}

impl fmt::Debug for BuiltTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltTrigger")
            .field("name", &self.name)
            .field("trigger_type", &self.trigger_type)
            .field("target", &self.trigger.target())
            .finish()
    }
}

/// What building one trigger reads besides the registry: the object, which of its triggers, the
/// authentication values resolved for it and the environment for `*FromEnv` parameters.
///
/// Building stays pure: the caller resolves `TriggerAuthentication` references and Secrets
/// beforehand, and the environment is a lookup, so `scalerd check` builds exactly what the daemon
/// builds. The fields are public for callers that have everything at hand; [`BuildContext::new`]
/// starts with no authentication values and an empty environment.
///
/// ```
/// use std::collections::BTreeMap;
/// use scalers_core::config::model::{ScaledObject, TriggerSpec};
/// use scalers_core::secret::Secret;
/// use scalers_core::trigger::{BuildContext, Registry};
///
/// let mut object = ScaledObject::new("api", "api");
/// object.triggers.push(TriggerSpec::new("mystery"));
/// let auth = BTreeMap::from([("token".to_owned(), Secret::new("s3cret"))]);
/// let context = BuildContext::new(&object, 0)
///     .with_auth(&auth)
///     .with_env(&|var| std::env::var(var).ok());
/// let errors = Registry::new().build(context).unwrap_err();
/// assert_eq!(errors[0].path, "type");
/// ```
#[derive(Clone, Copy)]
pub struct BuildContext<'a> {
    /// The object whose trigger is built.
    pub object: &'a ScaledObject,
    /// Which of `object.triggers` to build.
    pub index: usize,
    /// The trigger's authentication parameters, resolved (from `authenticationRef` or inline
    /// values), by parameter name.
    pub auth: &'a BTreeMap<String, Secret>,
    /// Where `*FromEnv` parameters are looked up.
    pub env: EnvLookup<'a>,
}

/// No authentication values, for [`BuildContext::new`].
static NO_AUTH: BTreeMap<String, Secret> = BTreeMap::new();

/// An environment without variables, for [`BuildContext::new`].
fn no_env(_: &str) -> Option<String> {
    None
}

impl<'a> BuildContext<'a> {
    /// Trigger `index` of `object`, without authentication values, in an empty environment.
    pub fn new(object: &'a ScaledObject, index: usize) -> Self {
        BuildContext {
            object,
            index,
            auth: &NO_AUTH,
            env: &no_env,
        }
    }

    /// The same build with these resolved authentication parameters.
    pub fn with_auth(self, auth: &'a BTreeMap<String, Secret>) -> Self {
        BuildContext { auth, ..self }
    }

    /// The same build with this environment lookup.
    pub fn with_env(self, env: EnvLookup<'a>) -> Self {
        BuildContext { env, ..self }
    }

    /// The trigger being built (`object.triggers[index]`).
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn spec(&self) -> &'a TriggerSpec {
        &self.object.triggers[self.index]
    }
}

impl fmt::Debug for BuildContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildContext")
            .field("object", &self.object.name)
            .field("index", &self.index)
            .field("auth", &self.auth.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers (or replaces) the builder of trigger type `name`.
    pub fn register<F>(&mut self, name: impl Into<String>, build: F)
    where
        F: Fn(&mut Params<'_>) -> Result<Arc<dyn Trigger>, Invalid> + Send + Sync + 'static,
    {
        self.builders.insert(name.into(), Box::new(build));
    }

    /// The registered type names, sorted.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.builders.keys().map(String::as_str)
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.builders.contains_key(name)
    }

    /// Builds trigger [`index`](BuildContext::index) of the context's object.
    ///
    /// # Errors
    /// Every problem found, with paths relative to the trigger (`metadata.threshold`).
    pub fn build(&self, context: BuildContext<'_>) -> Result<BuiltTrigger, Vec<ConfigError>> {
        self.build_with_warnings(context)
            .map(|(trigger, _)| trigger)
    }

    /// Like [`Registry::build`], also returning a warning for each metadata key the trigger
    /// did not read ([`Params::unread_metadata`]), with paths relative to the trigger.
    ///
    /// # Errors
    /// As [`Registry::build`].
    pub fn build_with_warnings(
        &self,
        context: BuildContext<'_>,
    ) -> Result<(BuiltTrigger, Vec<ConfigError>), Vec<ConfigError>> {
        let BuildContext {
            object, auth, env, ..
        } = context;
        let spec = context.spec();
        let Some(build) = self.builders.get(&spec.trigger_type) else {
            let known = self.types().collect::<Vec<_>>().join(", ");
            return Err(vec![ConfigError::new(
                "type",
                format!(
                    "unknown trigger type {:?}; known types: {known}",
                    spec.trigger_type
                ),
            )]);
        };
        let mut params = Params::new(spec, object, auth, env);
        let built = build(&mut params);
        let mut errors = params.take_errors();
        match built {
            Ok(trigger) if errors.is_empty() => {
                let target = trigger.target();
                if target.value.is_nan() || target.value <= 0.0 {
                    errors.push(ConfigError::new(
                        "metadata",
                        format!("the target must be greater than 0, got {}", target.value),
                    ));
                    return Err(errors);
                }
                let built = BuiltTrigger {
                    name: spec.display_name().to_owned(),
                    trigger_type: spec.trigger_type.clone(),
                    trigger,
                };
                Ok((built, params.unread_metadata()))
            }
            _ => {
                if errors.is_empty() {
                    errors.push(ConfigError::new("metadata", "invalid parameters"));
                }
                Err(errors)
            }
        }
    }

    /// Builds every trigger of `object`.
    ///
    /// # Errors
    /// Every problem of every trigger, with paths `triggers[i]....`.
    pub fn build_all(
        &self,
        object: &ScaledObject,
        auth: &dyn Fn(usize) -> BTreeMap<String, Secret>,
        env: EnvLookup<'_>,
    ) -> Result<Vec<BuiltTrigger>, Vec<ConfigError>> {
        let mut built = Vec::new();
        let mut errors = Vec::new();
        for i in 0..object.triggers.len() {
            let params = auth(i);
            match self.build(
                BuildContext::new(object, i)
                    .with_auth(&params)
                    .with_env(env),
            ) {
                Ok(t) => built.push(t),
                Err(es) => errors.extend(
                    es.into_iter()
                        .map(|e| e.under(&join_path("triggers", &format!("[{i}]")))),
                ),
            }
        }
        if errors.is_empty() {
            Ok(built)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `read` on the parameters of a trigger with this metadata, authentication and
    /// environment, and returns what it read with the located errors it recorded.
    fn read<T>(
        metadata: &[(&str, &str)],
        auth: &[(&str, &str)],
        env: &[(&str, &str)],
        read: impl FnOnce(&mut Params<'_>) -> T,
    ) -> (T, Vec<(String, String)>) {
        let mut spec = TriggerSpec::new("test");
        for (k, v) in metadata {
            spec.metadata.insert((*k).to_owned(), (*v).to_owned());
        }
        let object = ScaledObject::new("app", "app");
        let auth: BTreeMap<String, Secret> = auth
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
            .collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut params = Params::new(&spec, &object, &auth, &lookup);
        let out = read(&mut params);
        let errors = params
            .take_errors()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect();
        (out, errors)
    }

    #[test]
    fn keda_trims_metadata_values_trailing_newlines_included() {
        let (v, errors) = read(&[("customAuthHeader", "  header\n")], &[], &[], |p| {
            p.optional_str("customAuthHeader")
        });
        assert_eq!(v, Ok(Some("header".to_owned())));
        assert!(errors.is_empty());
        let (v, _) = read(&[("threshold", "\t10 \r\n")], &[], &[], |p| {
            p.required_f64("threshold")
        });
        assert_eq!(v, Ok(10.0));
    }

    #[test]
    fn keda_trims_authentication_and_environment_values() {
        let (v, _) = read(&[], &[("password", "s3cret\n")], &[], |p| {
            p.secret("password")
                .map(|s| s.map(|s| s.expose().to_owned()))
        });
        assert_eq!(v, Ok(Some("s3cret".to_owned())));
        let (v, _) = read(
            &[("hostFromEnv", " REDIS_HOST ")],
            &[],
            &[("REDIS_HOST", "redis.local\n")],
            |p| p.optional_str("host"),
        );
        assert_eq!(v, Ok(Some("redis.local".to_owned())));
    }

    #[test]
    fn keda_treats_a_blank_metadata_value_as_absent() {
        // Absent, so the default applies rather than "expected a whole number".
        let (v, errors) = read(&[("listLength", "   ")], &[], &[], |p| {
            p.u64_or("listLength", 5)
        });
        assert_eq!((v, errors), (Ok(5), vec![]));
        // Absent, so a required parameter is reported missing, at its metadata path.
        let (v, errors) = read(&[("query", "\n")], &[], &[], |p| p.required_str("query"));
        assert_eq!(v, Err(Invalid));
        assert_eq!(
            errors,
            [(
                "metadata.query".to_owned(),
                "required parameter is missing".to_owned()
            )]
        );
        let (set, _) = read(&[("topic", " ")], &[], &[], |p| p.is_set("topic"));
        assert!(!set);
    }

    #[test]
    fn keda_falls_through_blank_values_to_the_next_source() {
        // Blank metadata: the authentication parameter is used.
        let (v, _) = read(&[("host", " ")], &[("host", "from-auth")], &[], |p| {
            p.optional_str("host")
        });
        assert_eq!(v, Ok(Some("from-auth".to_owned())));
        // Blank authentication parameter: the environment is used.
        let (v, _) = read(
            &[("hostFromEnv", "HOST")],
            &[("host", "\n")],
            &[("HOST", "from-env")],
            |p| p.optional_str("host"),
        );
        assert_eq!(v, Ok(Some("from-env".to_owned())));
        // A blank environment value is absent too, and not an error.
        let (v, errors) = read(&[("hostFromEnv", "HOST")], &[], &[("HOST", "  ")], |p| {
            p.optional_str("host")
        });
        assert_eq!((v, errors), (Ok(None), vec![]));
    }

    #[test]
    fn unread_metadata_keys_are_warned_about_with_the_nearest_read_key() {
        let metadata = [
            ("listName", "jobs"),
            ("listLenght", "5"),
            ("frobnicate", "yes"),
            ("hostFromEnv", "HOST"),
        ];
        let (warnings, errors) = read(&metadata, &[("host", "h")], &[], |p| {
            let _ = p.required_str("listName");
            let _ = p.u64_or("listLength", 5);
            let _ = p.optional_str("host");
            p.unread_metadata()
        });
        assert!(errors.is_empty());
        let warnings: Vec<(String, String)> =
            warnings.into_iter().map(|w| (w.path, w.message)).collect();
        assert_eq!(
            warnings,
            [
                (
                    "metadata.frobnicate".to_owned(),
                    "not read by this trigger (ignored); it reads host, listLength, listName"
                        .to_owned()
                ),
                // The authentication parameter wins, so the variable is not read.
                (
                    "metadata.hostFromEnv".to_owned(),
                    "not read by this trigger (ignored): host is given in the metadata or the \
                     authentication, which come first"
                        .to_owned()
                ),
                (
                    "metadata.listLenght".to_owned(),
                    "not read by this trigger (ignored); did you mean \"listLength\"?".to_owned()
                ),
            ]
        );
        // A trigger that hands its whole metadata on reads every key.
        let (warnings, _) = read(&metadata, &[], &[], |p| {
            p.read_all_metadata();
            p.unread_metadata()
        });
        assert!(warnings.is_empty());
    }

    #[test]
    fn parse_errors_show_the_trimmed_value_at_its_path() {
        let (v, errors) = read(&[("threshold", " ten\n")], &[], &[], |p| {
            p.required_f64("threshold")
        });
        assert_eq!(v, Err(Invalid));
        assert_eq!(
            errors,
            [(
                "metadata.threshold".to_owned(),
                "expected a number, got \"ten\"".to_owned()
            )]
        );
    }
}
