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

// Layout: `load_str` parses the YAML and hands the documents to a `Decoder`, which reads
// scalerd's own format (`own`) or KEDA manifests (`keda`). Both read a scaled object and a
// scaled job through the same code (`scaled`: the identity, `pollingInterval`, the replica
// bounds, `triggers` with their `metadata` and `authenticationRef`), each kind adding its own
// spec fields (`object`, `job`); `authentication` reads the sources of an authentication, and
// `primitives` has the typed values, field paths and messages the rest is built from.

mod authentication;
mod job;
mod keda;
mod object;
mod own;
mod primitives;
mod scaled;

use std::path::Path;

use serde_norway::Value;

use crate::config::model::{Authentication, Config, Location, ScaledJob, ScaledObject};
use crate::error::{ConfigError, ConfigErrors, Error, Result};

pub(crate) use primitives::edit_distance;
use primitives::item;

/// Reported when a file describes no scaled object at all.
const NO_OBJECTS: &str = "the config has no scaled objects";

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
///
/// The parser is serde-saphyr, which builds each document's values straight from the event
/// stream; serde_norway first collects the whole document's events, which for one file of
/// 30,000 objects doubled the memory of loading it (219 MiB instead of 115 MiB at the peak).
/// Its options keep serde_norway's reading of untyped scalars (YAML 1.2 core schema): only
/// `true`/`false` are booleans, `0755` and `1_000` stay as written. Duplicate keys are errors;
/// aliases are expanded within a limit proportional to the file (no alias bombs); no budget on
/// the document's size, which is the operator's own file.
fn parse_documents(text: &str) -> Result<Vec<Value>, ConfigError> {
    let invalid = |e: serde_saphyr::Error| {
        let message = match &e {
            // Its own text tells the reader to change the library's options.
            serde_saphyr::Error::DuplicateMappingKey { key, location } => {
                let key = key
                    .as_deref()
                    .map(|k| format!(" {k:?}"))
                    .unwrap_or_default();
                format!(
                    "duplicate key{key} at line {}, column {}",
                    location.line(),
                    location.column()
                )
            }
            _ => e.to_string(),
        };
        ConfigError::new("", format!("invalid YAML: {message}"))
    };
    // Aliases replay at most 100,000 events plus one per byte of the file: a file of
    // anchors shared by every object stays far below, an alias bomb stops early (the parser's
    // own limit, a million, let one use 250 MB first).
    let mut aliases = serde_saphyr::options::AliasLimits::default();
    aliases.max_total_replayed_events = 100_000 + text.len();
    let options = serde_saphyr::options! {
        budget: None,
        alias_limits: aliases,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    };
    let parsed: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(invalid)?;
    // serde-saphyr leaves out null documents (empty, `~`, `null`); they keep their place
    // here, as `documents[i]` in messages counts every document of the file.
    let nulls = null_documents(text);
    let documents = if nulls.iter().filter(|null| !**null).count() == parsed.len() {
        let mut parsed = parsed.into_iter();
        nulls
            .iter()
            .map(|null| match null {
                true => Value::Null,
                false => parsed.next().unwrap_or(Value::Null),
            })
            .collect()
    } else {
        parsed
    };
    if documents.is_empty() {
        // An empty file is one empty document.
        return Ok(vec![Value::Null]);
    }
    documents
        .into_iter()
        .map(|document| {
            let mut value = strip_tags(document);
            value
                .apply_merge()
                .map_err(|e| ConfigError::new("", format!("invalid YAML: {e}")))?;
            Ok(value)
        })
        .collect()
}

/// For each document of `text`, in order, whether it is null: empty, or a plain untagged
/// `~`, `null`, `Null` or `NULL`. Streams the parser's events, keeping nothing else; stops at a
/// syntax error (which the parse itself reports).
fn null_documents(text: &str) -> Vec<bool> {
    use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};
    let mut documents = Vec::new();
    let mut root: Option<bool> = None;
    for event in Parser::new_from_str(text) {
        let Ok((event, _)) = event else { break };
        match event {
            Event::DocumentStart(..) => root = None,
            Event::DocumentEnd => documents.push(root.unwrap_or(true)),
            Event::Scalar(value, style, _, tag) if root.is_none() => {
                root = Some(
                    tag.is_none()
                        && style == ScalarStyle::Plain
                        && matches!(&*value, "" | "~" | "null" | "Null" | "NULL"),
                );
            }
            Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_)
                if root.is_none() =>
            {
                root = Some(false);
            }
            _ => {}
        }
    }
    documents
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
    /// The scaled objects decoded so far, with where they sit.
    objects: Vec<(ScaledObject, Location)>,
    /// The authentications decoded so far, with where they sit.
    authentications: Vec<(Authentication, Location)>,
    /// The scaled jobs decoded so far, with where they sit.
    jobs: Vec<(ScaledJob, Location)>,
}

impl Decoder {
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
}
