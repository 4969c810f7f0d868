//! KEDA manifests: documents of kind `ScaledObject`, `ScaledJob`, `TriggerAuthentication` and
//! `ClusterTriggerAuthentication`, lists of them (`kind: List`, `ScaledObjectList`, …), their
//! `metadata` and KEDA's pause annotations; errors are located at the document (and the list
//! item) they come from.

use serde_norway::Value;

use super::authentication::AUTH_KINDS;
use super::primitives::{child, item, parse_bool, parse_count, quote};
use super::scaled::{Identity, Scaled, namespace_or_default};
use super::{Decoder, NO_OBJECTS};
use crate::config::model::{
    Authentication, CLUSTER_TRIGGER_AUTHENTICATION, Location, ScaledJob, ScaledObject,
    TRIGGER_AUTHENTICATION,
};

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
/// The kind of a KEDA scaled job manifest.
const SCALED_JOB: &str = "ScaledJob";
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

impl Decoder {
    /// Decodes KEDA manifests, the non-empty documents of a file with their positions; a list
    /// document (`kind: List`, as `kubectl get -o yaml` writes) stands for its items.
    pub(super) fn manifests(&mut self, documents: &[(usize, &Value)]) {
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
            self.locate_errors_since(first_error, &prefix);
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
            self.manifest(document, location);
            self.locate_errors_since(first_error, prefix);
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

    /// Decodes one KEDA manifest document, paths relative to the document, and keeps what it
    /// defines at `location`.
    fn manifest(&mut self, document: &Value, location: Location) {
        if let Some(cluster) = authentication_kind(document) {
            self.authentication_manifest(document, cluster, location);
            return;
        }
        if let Value::Mapping(map) = document
            && let Some(Value::String(kind)) = map.get("kind")
            && kind != "ScaledObject"
        {
            if kind == SCALED_JOB {
                self.scaled_manifest::<ScaledJob>(document, location);
                return;
            }
            let message = format!(
                "unsupported kind {}; expected ScaledObject, {SCALED_JOB}, \
                 {TRIGGER_AUTHENTICATION} or {CLUSTER_TRIGGER_AUTHENTICATION}",
                quote(kind)
            );
            self.report("kind", message);
            return;
        }
        self.scaled_manifest::<ScaledObject>(document, location);
    }

    /// Decodes a `ScaledObject` or `ScaledJob` manifest and keeps it at `location`.
    fn scaled_manifest<K: Scaled>(&mut self, document: &Value, location: Location) {
        let Some((mut identity, spec)) = self.document(document, true, Self::scaled_spec::<K>)
        else {
            return;
        };
        identity.paused = identity.paused_text.as_deref().map(K::paused_by);
        if let Some(scaled) = K::build(identity, spec) {
            scaled.keep(self, location);
        }
    }

    /// Decodes a `TriggerAuthentication` (or, when `cluster` is set, a
    /// `ClusterTriggerAuthentication`) manifest and keeps it at `location`.
    fn authentication_manifest(&mut self, document: &Value, cluster: bool, location: Location) {
        let read_spec = |d: &mut Self, value: &Value, path: &str| {
            d.authentication_fields(value, path, &[], |_, _, _, _| {})
                .map(|(_, parameters)| parameters)
        };
        let Some((identity, parameters)) = self.document(document, false, read_spec) else {
            return;
        };
        let Some(name) = identity.name else {
            return;
        };
        let authentication = Authentication {
            name,
            // Kubernetes ignores a namespace given to a cluster-scoped object.
            namespace: (!cluster).then(|| namespace_or_default(identity.namespace)),
            cluster,
            parameters,
        };
        self.authentications.push((authentication, location));
    }

    /// Walks the fields of a manifest document: checks `apiVersion` and `kind`, decodes
    /// `metadata` into an [`Identity`] (with KEDA's pause annotations when `pause` is set) and
    /// `spec` with `read_spec`, and ignores `status`. Returns the identity and the spec, or
    /// `None` when the document is not a mapping or its spec could not be decoded (reported).
    fn document<T>(
        &mut self,
        document: &Value,
        pause: bool,
        mut read_spec: impl FnMut(&mut Self, &Value, &str) -> Option<T>,
    ) -> Option<(Identity, T)> {
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
                "kind" => {
                    d.string(value, path);
                }
                "metadata" => d.object_meta(value, path, &mut identity, pause),
                "spec" => spec = read_spec(d, value, path),
                _ => {} // status: ignored.
            }
        })?;
        self.require(map, "", &["apiVersion", "kind", "metadata", "spec"]);
        Some((identity, spec?))
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

    /// Reads KEDA's pause annotations into `identity` (the text of `autoscaling.keda.sh/paused`,
    /// which each kind reads its own way); other annotations are ignored.
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
                PAUSED_ANNOTATION => identity.paused_text = Some(text),
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

    /// Puts `prefix` before the path of every error recorded since there were `first` of them.
    fn locate_errors_since(&mut self, first: usize, prefix: &str) {
        let located: Vec<_> = self
            .errors
            .drain(first..)
            .map(|e| e.under(prefix))
            .collect();
        self.errors.extend(located);
    }
}

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

/// Whether `document` is a KEDA authentication manifest, and if so whether it is a
/// ClusterTriggerAuthentication.
fn authentication_kind(document: &Value) -> Option<bool> {
    let kind = document.get("kind")?.as_str()?;
    AUTH_KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|&(_, cluster)| cluster)
}
