//! Reading the values of an [`Authentication`]: environment variables, files and keys of
//! Kubernetes Secrets and ConfigMaps.
//!
//! [`resolve`] turns an authentication into its parameter values ([`AuthValues`]). Environment
//! variables and files are read here; Kubernetes Secrets and ConfigMaps are read by the
//! caller's [`SecretReader`], since scalers-core has no network: scalerd's daemon passes one that asks
//! the Kubernetes API, and `scalerd check` and `scalerd simulate`, which run without a cluster,
//! pass [`offline_secrets`].
//!
//! # Offline Secrets
//!
//! A parameter whose Secret cannot be read offline is not an error: it is listed in
//! [`AuthValues::offline`], and validation builds the trigger with a placeholder in its place,
//! so that the rest of the trigger's parameters are still checked (see
//! [`crate::config::validate::validate_with_secrets`]). The placeholder never reaches a
//! running trigger: the daemon reads every Secret.
//!
//! # Secrecy
//!
//! Values are held as [`Secret`]s, which print as `***`. Errors name the variable, file, Secret
//! and key, never a value.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::model::{AuthSource, Authentication};
use crate::error::ConfigError;
use crate::secret::Secret;
use crate::trigger::EnvLookup;

/// Which kind of Kubernetes object a [`SecretKeyRef`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyObject {
    /// A Secret (`secretTargetRef`).
    Secret,
    /// A ConfigMap (`configMapTargetRef`).
    ConfigMap,
    /// A container of the scale target's pod template, whose environment an `env` source
    /// reads in cluster mode: [`SecretKeyRef::name`] is the container's name (empty: the
    /// first container) and [`SecretKeyRef::key`] the variable. A reader without targets
    /// answers [`SecretRead::Offline`], and the variable is read through the `env` lookup.
    Container,
}

impl KeyObject {
    /// `Secret` or `ConfigMap`, as Kubernetes names the kind.
    pub fn kind(self) -> &'static str {
        match self {
            KeyObject::Secret => "Secret",
            KeyObject::ConfigMap => "ConfigMap",
            KeyObject::Container => "container",
        }
    }
}

/// A key of a Kubernetes Secret or ConfigMap, as a `secretTargetRef` or `configMapTargetRef`
/// entry names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretKeyRef<'a> {
    /// Whether it is a key of a Secret or of a ConfigMap.
    pub object: KeyObject,
    /// The authentication's namespace; `None` for a cluster-wide authentication, whose
    /// Secrets and ConfigMaps live in scalerd's own namespace (as KEDA reads a
    /// ClusterTriggerAuthentication's from its own namespace).
    pub namespace: Option<&'a str>,
    /// The Secret's or ConfigMap's name.
    pub name: &'a str,
    /// The key inside its data.
    pub key: &'a str,
}

/// What a [`SecretReader`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRead {
    /// The value of the key.
    Found(Secret),
    /// Secrets cannot be read here (no cluster): the parameter is resolved to a placeholder
    /// and listed in [`AuthValues::offline`].
    Offline,
}

/// Reads one key of a Kubernetes Secret or ConfigMap.
///
/// `Err` carries why the key could not be read (the object or the key does not exist, access
/// was denied, …), without any value; it is reported at the `secretTargetRef` or
/// `configMapTargetRef` entry. For an `env` source it is asked first about the variable in
/// its container ([`KeyObject::Container`]); a reader that serves no scale targets (file mode,
/// `scalerd check`) answers [`SecretRead::Offline`] there, and the variable is read through the
/// `env` lookup.
pub type SecretReader<'a> = &'a dyn Fn(&SecretKeyRef<'_>) -> Result<SecretRead, String>;

/// The [`SecretReader`] of a process without a cluster: every Secret and ConfigMap is
/// [`SecretRead::Offline`].
///
/// # Errors
/// Never.
pub fn offline_secrets(_: &SecretKeyRef<'_>) -> Result<SecretRead, String> {
    Ok(SecretRead::Offline)
}

/// The resolved parameters of one authentication.
///
/// Its `Debug` output shows parameter names and `***` for each value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthValues {
    values: BTreeMap<String, Secret>,
    offline: BTreeSet<String>,
}

impl AuthValues {
    /// The values read, by parameter name (offline parameters excluded).
    pub fn values(&self) -> &BTreeMap<String, Secret> {
        &self.values
    }

    /// Parameters whose Kubernetes Secret or ConfigMap could not be read offline.
    pub fn offline(&self) -> &BTreeSet<String> {
        &self.offline
    }

    /// The values read, plus `placeholder` as the value of each offline parameter.
    pub fn with_placeholders(&self, placeholder: &str) -> BTreeMap<String, Secret> {
        let mut all = self.values.clone();
        for name in &self.offline {
            all.insert(name.clone(), Secret::new(placeholder));
        }
        all
    }
}

/// Reads every parameter of `auth`: environment variables through `secrets` (a container of
/// the scale target, [`KeyObject::Container`]) or, where it answers
/// [`SecretRead::Offline`], through `env`; files from disk; Secret and ConfigMap keys through
/// `secrets`.
///
/// Reading a file is I/O, as loading the config file is: this runs while a config is loaded,
/// never while scaling. A file's content loses its trailing newlines (`\n` or `\r\n`), as
/// `echo secret > file` writes one. An environment variable that is set but empty gives an
/// empty value.
///
/// ```no_run
/// use scalers_core::config::auth::{offline_secrets, resolve};
/// use scalers_core::config::model::{AuthParameter, AuthSource, Authentication};
///
/// let mut auth = Authentication::new("redis-auth");
/// auth.parameters.push(AuthParameter {
///     parameter: "password".to_owned(),
///     source: AuthSource::File { path: "/var/run/secrets/redis/password".to_owned() },
/// });
/// let env = |name: &str| std::env::var(name).ok();
/// let values = resolve(&auth, &env, &offline_secrets).expect("readable");
/// assert!(values.values().contains_key("password"));
/// ```
///
/// # Errors
/// Every parameter that could not be read, with paths relative to the authentication's spec
/// fields: `env[0].name: environment variable REDIS_PASSWORD is not set`,
/// `file[0].path: cannot read /x: No such file or directory`, or
/// `secretTargetRef[1]: cannot read key "password" of Secret "redis" in namespace "shop": …`
/// (`configMapTargetRef[0]: cannot read key "host" of ConfigMap "redis-conf" …` likewise).
pub fn resolve(
    auth: &Authentication,
    env: EnvLookup<'_>,
    secrets: SecretReader<'_>,
) -> Result<AuthValues, Vec<ConfigError>> {
    let mut resolved = AuthValues::default();
    let mut errors = Vec::new();
    for (index, parameter) in auth.parameters.iter().enumerate() {
        let path = auth.parameter_path(index);
        let value = match &parameter.source {
            AuthSource::Env { name, container } => {
                let reference = SecretKeyRef {
                    object: KeyObject::Container,
                    namespace: auth.namespace.as_deref(),
                    name: container.as_deref().unwrap_or_default(),
                    key: name,
                };
                match secrets(&reference) {
                    Ok(SecretRead::Found(value)) => Ok(value),
                    Ok(SecretRead::Offline) => env(name).map(Secret::new).ok_or_else(|| {
                        ConfigError::new(
                            format!("{path}.name"),
                            format!("environment variable {name} is not set"),
                        )
                    }),
                    Err(why) => Err(ConfigError::new(path, why)),
                }
            }
            AuthSource::File { path: file } => {
                read_file(file).map_err(|why| ConfigError::new(format!("{path}.path"), why))
            }
            AuthSource::Secret { name, key } | AuthSource::ConfigMap { name, key } => {
                let object = match &parameter.source {
                    AuthSource::ConfigMap { .. } => KeyObject::ConfigMap,
                    _ => KeyObject::Secret,
                };
                let reference = SecretKeyRef {
                    object,
                    namespace: auth.namespace.as_deref(),
                    name,
                    key,
                };
                match secrets(&reference) {
                    Ok(SecretRead::Found(value)) => Ok(value),
                    Ok(SecretRead::Offline) => {
                        resolved.values.remove(&parameter.parameter);
                        resolved.offline.insert(parameter.parameter.clone());
                        continue;
                    }
                    Err(why) => {
                        let place = match reference.namespace {
                            Some(namespace) => format!(" in namespace {namespace:?}"),
                            None => String::new(),
                        };
                        Err(ConfigError::new(
                            path,
                            format!(
                                "cannot read key {key:?} of {} {name:?}{place}: {why}",
                                object.kind()
                            ),
                        ))
                    }
                }
            }
        };
        match value {
            Ok(value) => {
                resolved.offline.remove(&parameter.parameter);
                resolved.values.insert(parameter.parameter.clone(), value);
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// The content of the file at `path` without trailing newlines, or why it cannot be read.
fn read_file(path: &str) -> Result<Secret, String> {
    match std::fs::read_to_string(path) {
        Ok(mut text) => {
            let kept = text.trim_end_matches(['\n', '\r']).len();
            text.truncate(kept);
            Ok(Secret::new(text))
        }
        Err(error) => {
            // The OS error code adds nothing for a person.
            let shown = error.to_string();
            let why = shown.split(" (os error ").next().unwrap_or(&shown);
            Err(format!("cannot read {path}: {why}"))
        }
    }
}
