//! The sources of an authentication, in KEDA's shapes (`secretTargetRef`, `configMapTargetRef`,
//! `env`) and scalerd's (`file`), read the same way from an entry of scalerd's own format and
//! from the `spec` of a (Cluster)TriggerAuthentication manifest; KEDA's other sources are
//! refused with a message naming the supported ones.

use serde_norway::{Mapping, Value};

use super::Decoder;
use super::primitives::item;
use crate::config::model::{
    AuthParameter, AuthSource, CLUSTER_TRIGGER_AUTHENTICATION, TRIGGER_AUTHENTICATION,
};

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
/// Spellings of an authentication's kind, as whether it is cluster-wide.
pub(super) const AUTH_KINDS: &[(&str, bool)] = &[
    (TRIGGER_AUTHENTICATION, false),
    (CLUSTER_TRIGGER_AUTHENTICATION, true),
];

impl Decoder {
    /// Walks the mapping of an authentication at `path`: its keys `own` (those of scalerd's own
    /// format that are not sources, none in a manifest's `spec`) go to `each`, its sources are
    /// decoded. Returns the mapping and the parameters of the sources, or `None` (reported)
    /// when `value` is not a mapping.
    pub(super) fn authentication_fields<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        own: &[&str],
        mut each: impl FnMut(&mut Self, &'v str, &'v Value, &str),
    ) -> Option<(&'v Mapping, Vec<AuthParameter>)> {
        let mut parameters = Vec::new();
        let known = [own, AUTH_SOURCES, UNSUPPORTED_AUTH_SOURCES].concat();
        let listed = [own, AUTH_SOURCES].concat();
        let map = self.fields_listing(value, path, &known, &listed, |d, key, value, path| {
            if own.contains(&key) {
                each(d, key, value, path);
            } else {
                d.auth_source(&mut parameters, key, value, path);
            }
        })?;
        Some((map, parameters))
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
}
