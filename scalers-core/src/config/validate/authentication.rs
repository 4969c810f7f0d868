//! The checks of the authentications and of the references to them: names unique per kind
//! and namespace, parameters set once from named sources, and an `authenticationRef` that
//! finds one, or a message saying what there is instead.

use std::collections::{BTreeSet, HashMap};

use crate::config::model::{
    AuthSource, Authentication, AuthenticationRef, CLUSTER_TRIGGER_AUTHENTICATION, Config,
    ScaledObject, TRIGGER_AUTHENTICATION,
};
use crate::error::ConfigError;

/// The position of the authentication `reference` finds for `object`, or the error (path
/// relative to the trigger) saying why there is none.
pub(super) fn find_authentication(
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
pub(super) fn check_authentications(
    config: &Config,
    file: &str,
) -> (Vec<ConfigError>, BTreeSet<usize>) {
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
