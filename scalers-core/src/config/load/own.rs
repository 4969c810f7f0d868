//! scalerd's own format: one mapping with the lists `scaledObjects`, `scaledJobs` and
//! `authentications`, each entry with its name, namespace and pause settings beside its spec
//! fields.

use serde_norway::Value;

use super::authentication::AUTH_KINDS;
use super::primitives::item;
use super::scaled::{Identity, Scaled};
use super::{Decoder, NO_OBJECTS};
use crate::config::model::{Authentication, Location, ScaledJob, ScaledObject};

/// Keys of scalerd's own format, at the top level.
const TOP_FIELDS: &[&str] = &["scaledObjects", "scaledJobs", "authentications"];
/// Keys of an authentication of scalerd's own format that are not sources.
const OWN_AUTH_FIELDS: &[&str] = &["name", "namespace", "kind"];

impl Decoder {
    /// Decodes a file of scalerd's own format.
    pub(super) fn own_config(&mut self, root: &Value) {
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
                    d.own_scaled::<ScaledObject>(entry, &path, Location::own_format(index));
                } else if key == "scaledJobs" {
                    d.own_scaled::<ScaledJob>(entry, &path, Location::own_job(index));
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

    /// Decodes one scaled object or scaled job of scalerd's own format, and keeps it at
    /// `location`.
    fn own_scaled<K: Scaled>(&mut self, value: &Value, path: &str, location: Location) {
        let mut identity = Identity::default();
        let mut spec = K::Spec::default();
        let (before, after) = K::OWN_FIELDS;
        let known = [before, K::SPEC_FIELDS, after].concat();
        let Some(map) = self.fields(value, path, &known, |d, key, value, path| {
            if !d.identity_field(&mut identity, key, value, path) {
                d.scaled_spec_field::<K>(&mut spec, key, value, path);
            }
        }) else {
            return;
        };
        self.require(map, path, &["name", K::TARGET]);
        if let Some(scaled) = K::build(identity, spec) {
            scaled.keep(self, location);
        }
    }

    /// Decodes field `key` of a scaled object or job of scalerd's own format into `identity`
    /// if it is not a spec field (each kind's [`Scaled::OWN_FIELDS`] say which it has); returns
    /// whether it was one.
    fn identity_field(
        &mut self,
        identity: &mut Identity,
        key: &str,
        value: &Value,
        path: &str,
    ) -> bool {
        match key {
            "name" => identity.name = self.string(value, path),
            "namespace" => identity.namespace = self.string(value, path),
            "paused" => identity.paused = self.boolean(value, path),
            "pausedReplicaCount" => identity.paused_replica_count = self.count(value, path),
            "pausedScaleIn" => identity.paused_scale_in = self.boolean(value, path),
            "pausedScaleOut" => identity.paused_scale_out = self.boolean(value, path),
            "labels" => identity.labels = self.string_map(value, path),
            _ => return false,
        }
        true
    }

    /// Decodes one authentication of scalerd's own format.
    fn own_authentication(&mut self, value: &Value, path: &str) -> Option<Authentication> {
        let (mut name, mut namespace, mut cluster) = (None, None, None);
        let (map, parameters) = self.authentication_fields(
            value,
            path,
            OWN_AUTH_FIELDS,
            |d, key, value, path| match key {
                "name" => name = d.string(value, path),
                "namespace" => namespace = d.string(value, path),
                "kind" => cluster = d.choice(value, path, AUTH_KINDS),
                _ => {}
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
}
