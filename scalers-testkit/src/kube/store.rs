//! The object store: objects, the cluster-wide `resourceVersion`, the bounded history of
//! changes that watches replay, and the open watches each change is sent to.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::answers::ensure_object;
use super::faults::Fault;
use super::journal::JournalEntry;
use super::resources::{FakeResource, ResourceOptions, Served, StatusMode};
use super::watch::Watcher;

/// How many changes the history keeps by default: a watch from an older version gets 410.
pub(super) const DEFAULT_HISTORY: usize = 10_000;

/// Where an object is stored: group, plural, namespace (empty when cluster-scoped), name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) group: String,
    pub(super) plural: String,
    pub(super) namespace: String,
    pub(super) name: String,
}

impl Key {
    pub(super) fn new(resource: &FakeResource, namespace: &str, name: &str) -> Self {
        Key {
            group: resource.group.to_owned(),
            plural: resource.plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Whether this is an object of `resource` in `namespace`.
    pub(super) fn is_in(&self, resource: &FakeResource, namespace: &str) -> bool {
        self.group == resource.group
            && self.plural == resource.plural
            && self.namespace == namespace
    }
}

#[derive(Debug)]
pub(super) struct Stored {
    pub(super) object: Value,
    pub(super) mode: StatusMode,
}

/// One change, as watches see it: `before` absent for ADDED, `after` absent for DELETED.
#[derive(Debug)]
pub(super) struct Change {
    pub(super) version: u64,
    pub(super) key: Key,
    pub(super) before: Option<Value>,
    pub(super) after: Option<Value>,
}

impl Change {
    /// The object a watch event carries: the new state, or the deleted object at the version
    /// of its deletion.
    pub(super) fn object(&self) -> Value {
        match (&self.after, &self.before) {
            (Some(after), _) => after.clone(),
            (None, Some(before)) => {
                let mut o = before.clone();
                o["metadata"]["resourceVersion"] = json!(self.version.to_string());
                o
            }
            (None, None) => Value::Null,
        }
    }
}

#[derive(Debug)]
pub(super) struct Store {
    pub(super) resources: Vec<Served>,
    pub(super) objects: BTreeMap<Key, Stored>,
    /// The cluster-wide `resourceVersion`: that of the last change.
    pub(super) version: u64,
    /// The last changes, oldest first.
    pub(super) history: VecDeque<Change>,
    pub(super) history_limit: usize,
    /// The newest version no longer in the history: a watch from an older one gets 410.
    pub(super) compacted: u64,
    pub(super) watchers: Vec<Watcher>,
    pub(super) bookmark_interval: Duration,
    pub(super) faults: Vec<Fault>,
    pub(super) journal: Vec<JournalEntry>,
    /// Whether requests are added to `journal` (the tally counts them either way).
    pub(super) journaling: bool,
    pub(super) tally: super::tally::Tally,
    pub(super) address: String,
}

pub(super) fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panic while holding the lock (a test assertion) leaves consistent data.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    pub(super) fn new(address: String) -> Self {
        Store {
            resources: FakeResource::BUILTIN
                .iter()
                .map(|r| Served {
                    resource: *r,
                    options: ResourceOptions::of(r),
                })
                .collect(),
            objects: BTreeMap::new(),
            version: 1000,
            history: VecDeque::new(),
            history_limit: DEFAULT_HISTORY,
            compacted: 1000,
            watchers: Vec::new(),
            bookmark_interval: Duration::from_secs(1),
            faults: Vec::new(),
            journal: Vec::new(),
            journaling: true,
            tally: super::tally::Tally::new(),
            address,
        }
    }

    /// How `resource` is served (as added, else its default options).
    pub(super) fn served(&self, resource: &FakeResource) -> Served {
        self.resources
            .iter()
            .find(|s| s.resource.group == resource.group && s.resource.plural == resource.plural)
            .copied()
            .unwrap_or(Served {
                resource: *resource,
                options: ResourceOptions::of(resource),
            })
    }

    pub(super) fn find(&self, group: &str, version: &str, plural: &str) -> Option<Served> {
        self.resources
            .iter()
            .find(|s| {
                s.resource.group == group
                    && s.resource.version == version
                    && s.resource.plural == plural
            })
            .copied()
    }

    /// Records a change of the object at `key` to `after` (absent: deleted) as the next
    /// version, stamping `metadata.resourceVersion`; sends it to the open watches. Returns the
    /// object as stored (for a deletion, as the DELETED event carries it).
    pub(super) fn commit(&mut self, key: &Key, after: Option<Value>, mode: StatusMode) -> Value {
        self.version += 1;
        let version = self.version;
        let before = self.objects.remove(key).map(|s| s.object);
        let after = after.map(|mut o| {
            o["metadata"]["resourceVersion"] = json!(version.to_string());
            self.objects.insert(
                key.clone(),
                Stored {
                    object: o.clone(),
                    mode,
                },
            );
            o
        });
        let change = Change {
            version,
            key: key.clone(),
            before,
            after,
        };
        let object = change.object();
        self.watchers.retain(|w| w.offer(&change));
        self.history.push_back(change);
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.version;
            }
        }
        object
    }

    /// Forgets the whole history: a watch or exact list from any version before now gets 410.
    pub(super) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.version;
    }

    /// The objects of `resource` as they were at `version` (not older than
    /// [`Store::compacted`]), by undoing the later changes.
    pub(super) fn snapshot(&self, resource: &FakeResource, version: u64) -> BTreeMap<Key, Value> {
        let mut objects: BTreeMap<Key, Value> = self
            .objects
            .iter()
            .filter(|(k, _)| resource.same(k))
            .map(|(k, s)| (k.clone(), s.object.clone()))
            .collect();
        let later = self
            .history
            .iter()
            .rev()
            .take_while(|c| c.version > version);
        for change in later.filter(|c| resource.same(&c.key)) {
            match &change.before {
                Some(before) => objects.insert(change.key.clone(), before.clone()),
                None => objects.remove(&change.key),
            };
        }
        objects
    }

    /// Sets what the server owns on a new object: apiVersion, kind, namespace, uid,
    /// creationTimestamp and (for resources that keep one) generation 1.
    pub(super) fn stamp_new(&self, served: &Served, namespace: &str, object: &mut Value) {
        if !object.is_object() {
            *object = Value::Object(Map::new());
        }
        object["apiVersion"] = json!(served.resource.api_version());
        object["kind"] = json!(served.resource.kind);
        let uid = format!("uid-{}", self.version + 1);
        let metadata = ensure_object(object, "metadata");
        if served.options.namespaced {
            metadata.insert("namespace".to_owned(), json!(namespace));
        } else {
            metadata.remove("namespace");
        }
        metadata.insert("uid".to_owned(), json!(uid));
        metadata.insert("creationTimestamp".to_owned(), now_time());
        if served.generation() {
            metadata.insert("generation".to_owned(), json!(1));
        }
    }

    /// Stores `object` directly (the test helpers' way): a new object is stamped as created,
    /// an existing one keeps its identity and server-owned fields, as an update would.
    pub(super) fn put(&mut self, resource: &FakeResource, namespace: &str, object: Value) -> Value {
        let served = self.served(resource);
        let namespace = served.scope(namespace);
        let name = object["metadata"]["name"]
            .as_str()
            .expect("fake API server: put_object needs metadata.name")
            .to_owned();
        let key = Key::new(resource, namespace, &name);
        let mut object = object;
        let (mode, old) = match self.objects.get(&key) {
            Some(s) => (s.mode, Some(s.object.clone())),
            None => (StatusMode::default(), None),
        };
        self.stamp_new(&served, namespace, &mut object);
        if let Some(old) = &old {
            keep_owned(old, &mut object, &[]);
            bump_generation(old, &mut object, &served);
        }
        if resource.scale {
            apply_status(&mut object, mode);
        }
        let gone = being_deleted(&object) && finalizers(&object).is_empty();
        self.commit(&key, (!gone).then_some(object), mode)
    }
}

/// Copies the fields the server owns from `old` to `new` (identity, generation, deletion
/// marks, and the `extra` top-level fields such as `status`).
pub(super) fn keep_owned(old: &Value, new: &mut Value, extra: &[&str]) {
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        let kept = old["metadata"][field].clone();
        let metadata = ensure_object(new, "metadata");
        if kept.is_null() {
            metadata.remove(field);
        } else {
            metadata.insert(field.to_owned(), kept);
        }
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
    for field in extra {
        match old.get(*field) {
            Some(v) => new[*field] = v.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove(*field);
                }
            }
        }
    }
}

/// Bumps `metadata.generation` when anything but `metadata` and `status` changed (for
/// resources that keep a generation).
pub(super) fn bump_generation(old: &Value, new: &mut Value, served: &Served) {
    if !served.generation() {
        return;
    }
    let spec_of = |o: &Value| -> Map<String, Value> {
        o.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let generation = old["metadata"]["generation"].as_u64().unwrap_or(1);
    let generation = if spec_of(old) == spec_of(new) {
        generation
    } else {
        generation + 1
    };
    new["metadata"]["generation"] = json!(generation);
}

pub(super) fn being_deleted(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null()
}

pub(super) fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn now_time() -> Value {
    serde_json::to_value(Time(Timestamp::now())).expect("a Time serializes")
}

pub(super) fn spec_replicas(object: &Value) -> u64 {
    object["spec"]["replicas"].as_u64().unwrap_or(1)
}

pub(super) fn apply_status(object: &mut Value, mode: StatusMode) {
    let replicas = spec_replicas(object);
    let generation = object["metadata"]["generation"].clone();
    if mode == StatusMode::Hold {
        return;
    }
    let status = ensure_object(object, "status");
    status.insert("replicas".to_owned(), json!(replicas));
    if !generation.is_null() {
        status.insert("observedGeneration".to_owned(), generation);
    }
    if mode == StatusMode::Follow {
        for field in ["readyReplicas", "availableReplicas", "updatedReplicas"] {
            if replicas == 0 {
                status.remove(field);
            } else {
                status.insert(field.to_owned(), json!(replicas));
            }
        }
    }
}

/// The `autoscaling/v1` Scale of a workload.
pub(super) fn scale_of(object: &Value) -> Value {
    let metadata = &object["metadata"];
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": spec_replicas(object)},
        "status": {
            "replicas": object["status"]["replicas"].as_u64().unwrap_or(0),
            "selector": selector,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_omits_zero_ready_replicas() {
        let mut o = json!({"spec": {"replicas": 0}, "status": {"readyReplicas": 3}});
        apply_status(&mut o, StatusMode::Follow);
        assert_eq!(o["status"], json!({"replicas": 0}));
        let mut o = json!({"spec": {"replicas": 4}, "status": {"readyReplicas": 3}});
        apply_status(&mut o, StatusMode::HoldReady);
        assert_eq!(o["status"], json!({"replicas": 4, "readyReplicas": 3}));
    }

    #[test]
    fn a_snapshot_undoes_later_changes() {
        let mut s = Store::new(String::new());
        let key = Key::new(&FakeResource::CONFIG_MAP, "ns", "a");
        s.commit(
            &key,
            Some(json!({"metadata": {"name": "a"}, "data": {"x": "1"}})),
            StatusMode::Hold,
        );
        let v1 = s.version;
        s.commit(
            &key,
            Some(json!({"metadata": {"name": "a"}, "data": {"x": "2"}})),
            StatusMode::Hold,
        );
        s.commit(&key, None, StatusMode::Hold);
        let cm = FakeResource::CONFIG_MAP;
        assert!(s.snapshot(&cm, s.version).is_empty());
        assert_eq!(s.snapshot(&cm, v1)[&key]["data"]["x"], "1");
        assert!(s.snapshot(&cm, v1 - 1).is_empty());
        assert!(s.snapshot(&FakeResource::SECRET, v1).is_empty());
    }

    #[test]
    fn history_is_bounded() {
        let mut s = Store::new(String::new());
        s.history_limit = 2;
        let key = Key::new(&FakeResource::CONFIG_MAP, "ns", "a");
        for i in 0..5 {
            s.commit(
                &key,
                Some(json!({"metadata": {"name": "a"}, "i": i})),
                StatusMode::Hold,
            );
        }
        assert_eq!(s.history.len(), 2);
        assert_eq!(s.compacted, s.version - 2);
    }
}
