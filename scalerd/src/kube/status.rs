//! The `status` of KEDA's ScaledObjects, with KEDA's field names, types, conditions and
//! reasons, written through the status subresource, only when it changes.
//!
//! The loops hand the writer what each tick found ([`ObjectReport`], [`StatusWriter::report`]:
//! never waits); a task of its own keeps the latest report per object and writes the ones whose
//! status differs from what it last wrote (a merge patch of `…/scaledobjects/NAME/status`,
//! fenced by the leader lease and rate-limited as a report). A tick at steady state writes
//! nothing: status writes are what made KEDA throttle itself at a few hundred objects.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::error::call_fenced;
use super::{DEFAULT_REQUEST_TIMEOUT, Fence, Operation};

/// One condition: `True`, `False` or `Unknown`, with KEDA's reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// KEDA's reason (`ScaledObjectReady`, `ScalerActive`, …).
    pub reason: &'static str,
    /// For a person.
    pub message: String,
}

impl Condition {
    fn new(status: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Condition {
            status,
            reason,
            message: message.into(),
        }
    }

    /// Ready: the object is valid and its target and triggers answer.
    pub fn ready() -> Self {
        Condition::new(
            "True",
            "ScaledObjectReady",
            "ScaledObject is defined correctly and is ready for scaling",
        )
    }

    /// Not ready: the object is invalid (what `scalerd check` prints), or its target is missing.
    pub fn check_failed(message: impl Into<String>) -> Self {
        Condition::new("False", "ScaledObjectCheckFailed", message)
    }

    /// Not ready: the target's replicas cannot be read.
    pub fn target_unreadable(message: impl Into<String>) -> Self {
        Condition::new("False", "ErrorGettingCurrentReplicas", message)
    }

    /// Not ready: every trigger failed.
    pub fn trigger_error(message: impl Into<String>) -> Self {
        Condition::new("False", "TriggerError", message)
    }

    /// Unknown: some triggers failed.
    pub fn partial_trigger_error(message: impl Into<String>) -> Self {
        Condition::new("Unknown", "PartialTriggerError", message)
    }
}

/// What a tick found about one object, from which its status is made.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectReport {
    /// The Ready condition.
    pub ready: Condition,
    /// Whether a trigger was active; `None` when nothing was decided.
    pub active: Option<bool>,
    /// Whether some metric is in fallback.
    pub fallback: bool,
    /// Whether the object is paused (`paused` or `paused-replicas`).
    pub paused: bool,
    /// `pausedReplicaCount`, when pinned.
    pub paused_replicas: Option<u32>,
    /// When a trigger was last active (unix milliseconds).
    pub last_active_ms: Option<u64>,
    /// The target's replicas when scalerd first saw it.
    pub original_replicas: Option<u32>,
    /// Per trigger: consecutive failures.
    pub health: BTreeMap<String, u32>,
    /// The target's `apiVersion`, `kind`, and plural resource (`deployments`) when known.
    pub target: (String, String, Option<String>),
}

/// The `status` object of `report`, with `conditions` (whose `lastTransitionTime` is `now`
/// unless `previous` had the same status for that type).
pub fn status_of(report: &ObjectReport, previous: &Value, now: &str) -> Value {
    let active = match report.active {
        Some(true) => Condition::new(
            "True",
            "ScalerActive",
            "Scaling is performed because triggers are active",
        ),
        Some(false) => Condition::new(
            "False",
            "ScalerNotActive",
            "Scaling is not performed because triggers are not active",
        ),
        None => Condition::new("Unknown", "UnknownState", "Scaling state is unknown"),
    };
    let fallback = if report.fallback {
        Condition::new(
            "True",
            "FallbackExists",
            "At least one trigger is falling back on this scaled object",
        )
    } else {
        Condition::new(
            "False",
            "NoFallbackFound",
            "No fallbacks are active on this scaled object",
        )
    };
    let paused = if report.paused {
        Condition::new("True", "ScaledObjectPaused", "ScaledObject is paused")
    } else {
        Condition::new(
            "False",
            "ScaledObjectUnpaused",
            "ScaledObject is not paused",
        )
    };
    let conditions: Vec<Value> = [
        ("Ready", &report.ready),
        ("Active", &active),
        ("Fallback", &fallback),
        ("Paused", &paused),
    ]
    .into_iter()
    .map(|(kind, c)| {
        let before = previous["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|p| p["type"] == kind));
        let since = match before {
            Some(p) if p["status"] == c.status => p["lastTransitionTime"].clone(),
            _ => json!(now),
        };
        json!({
            "type": kind, "status": c.status, "reason": c.reason, "message": c.message,
            "lastTransitionTime": since,
        })
    })
    .collect();
    let (api_version, kind, resource) = &report.target;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let mut gvkr = json!({"group": group, "version": version, "kind": kind});
    if let Some(r) = resource {
        gvkr["resource"] = json!(r);
    }
    let health: serde_json::Map<String, Value> = report
        .health
        .iter()
        .map(|(name, failures)| {
            let state = if *failures == 0 { "Happy" } else { "Failing" };
            (
                name.clone(),
                json!({"numberOfFailures": failures, "status": state}),
            )
        })
        .collect();
    let mut status = json!({
        "scaleTargetKind": format!("{api_version}.{kind}"),
        "scaleTargetGVKR": gvkr,
        "conditions": conditions,
        "health": health,
    });
    if let Some(n) = report.original_replicas {
        status["originalReplicaCount"] = json!(n);
    }
    if let Some(ms) = report.last_active_ms {
        status["lastActiveTime"] = json!(rfc3339(ms));
    }
    if let Some(n) = report.paused_replicas {
        status["pausedReplicaCount"] = json!(n);
    }
    status
}

/// Unix milliseconds as RFC 3339 with whole seconds, as Kubernetes writes `metav1.Time`.
pub fn rfc3339(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    Timestamp::from_second(secs).map_or_else(|_| String::new(), |t| t.to_string())
}

/// `lastActiveTime` (or any `metav1.Time`) as unix milliseconds.
pub fn parse_time_ms(text: &str) -> Option<u64> {
    let t: Timestamp = text.parse().ok()?;
    u64::try_from(t.as_millisecond()).ok()
}

/// What the writer knows of one object.
#[derive(Debug, Default)]
struct Entry {
    /// The latest report not yet written.
    pending: Option<ObjectReport>,
    /// The status last written (or found).
    written: Value,
    /// Set by [`StatusWriter::retarget`]: the `originalReplicaCount` known is the old
    /// target's, and the next report's is taken instead.
    retargeted: bool,
    /// The new target's `originalReplicaCount`, from the first report after a retarget.
    original: Option<u32>,
}

/// Writes ScaledObject statuses on change, from a task of its own. Clones share it.
#[derive(Clone)]
pub struct StatusWriter {
    inner: Arc<Shared>,
}

/// Reads a ScaledObject (by `namespace/name`) as the cluster serves it now (from a watch-fed
/// store).
pub type StatusLookup = Arc<dyn Fn(&str) -> Option<Arc<DynamicObject>> + Send + Sync>;

/// The finalizer scalerd puts on ScaledObjects (KEDA's own), so that a deleted object's target
/// can be given back its original count before the object goes.
pub const FINALIZER: &str = "finalizer.keda.sh";

struct Shared {
    client: kube::Client,
    fence: Fence,
    lookup: Option<StatusLookup>,
    entries: Mutex<HashMap<String, Entry>>,
    wake: Notify,
}

impl Shared {
    /// The entries, locked (a panic while they were held leaves them as they were).
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for StatusWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusWriter").finish_non_exhaustive()
    }
}

/// The API resource of KEDA's ScaledObjects.
pub fn scaled_object_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"),
        "scaledobjects",
    )
}

impl StatusWriter {
    /// A writer through `client`, fenced by `fence` (the fence of each object's writes is
    /// `fence.for_object(key)`: its shard's, when sharded); its task runs on the current runtime
    /// until the last clone is dropped.
    pub fn spawn(client: kube::Client, fence: Fence, lookup: Option<StatusLookup>) -> Self {
        let writer = StatusWriter {
            inner: Arc::new(Shared {
                client,
                fence,
                lookup,
                entries: Mutex::new(HashMap::new()),
                wake: Notify::new(),
            }),
        };
        let inner = writer.inner.clone();
        tokio::spawn(async move {
            // Ends once this task holds the last reference (every writer dropped).
            while Arc::strong_count(&inner) > 1 {
                flush(&inner).await;
                tokio::select! {
                    () = inner.wake.notified() => {}
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                }
            }
        });
        writer
    }

    /// Records the status found on the object (`namespace/name`), so that only differences are
    /// written and condition transition times are kept.
    pub fn found(&self, key: &str, status: &Value) {
        let mut entries = self.inner.entries();
        entries.entry(key.to_owned()).or_default().written = status.clone();
    }

    /// Hands over what a tick found; the status is written later if it changed. Never waits.
    pub fn report(&self, key: &str, report: ObjectReport) {
        {
            let mut entries = self.inner.entries();
            let e = entries.entry(key.to_owned()).or_default();
            if e.retargeted && report.original_replicas.is_some() {
                e.retargeted = false;
                e.original = report.original_replicas;
            }
            e.pending = Some(report);
        }
        self.inner.wake.notify_one();
    }

    /// Takes [`FINALIZER`] off a ScaledObject being deleted, so that it goes (fenced, with
    /// the `resourceVersion` it carries).
    ///
    /// # Errors
    /// The [`super::KubeError`] of the failed patch.
    pub async fn release(&self, object: &DynamicObject) -> Result<(), super::KubeError> {
        let finalizers: Vec<String> = object
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        if finalizers.len() == object.metadata.finalizers.as_ref().map_or(0, Vec::len) {
            return Ok(());
        }
        let ns = object.metadata.namespace.as_deref().unwrap_or_default();
        let name = object.metadata.name.as_deref().unwrap_or_default();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.inner.client.clone(), ns, &scaled_object_resource());
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": object.metadata.resource_version,
        }});
        call_fenced(
            &self.inner.fence.for_object(&format!("{ns}/{name}")),
            || Operation::object("patch", "scaledobjects.keda.sh", ns, name),
            DEFAULT_REQUEST_TIMEOUT,
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await?;
        Ok(())
    }

    /// Tells that the object `key` now scales another target (its `scaleTargetRef` was
    /// edited): its `originalReplicaCount` becomes the new target's count, taken from the
    /// next report, instead of the old target's kept in its status.
    pub fn retarget(&self, key: &str) {
        let mut entries = self.inner.entries();
        let e = entries.entry(key.to_owned()).or_default();
        e.retargeted = true;
        e.original = None;
    }

    /// Forgets an object (deleted).
    pub fn forget(&self, key: &str) {
        let mut entries = self.inner.entries();
        entries.remove(key);
    }

    /// The statuses known of `key`: as last written here, and as the cluster serves it.
    fn statuses(&self, key: &str) -> [Option<Value>; 2] {
        let written = {
            let entries = self.inner.entries();
            entries.get(key).map(|e| e.written.clone())
        };
        let served = self
            .inner
            .lookup
            .as_ref()
            .and_then(|f| f(key))
            .map(|o| o.data["status"].clone());
        [written, served]
    }

    /// `lastActiveTime`, the later of the one last written here and the one the cluster
    /// serves (another replica may have written it), in unix milliseconds.
    pub fn last_active_ms(&self, key: &str) -> Option<u64> {
        self.statuses(key)
            .iter()
            .flatten()
            .filter_map(|s| s["lastActiveTime"].as_str().and_then(parse_time_ms))
            .max()
    }

    /// `originalReplicaCount` as written here or, failing that, as served; after
    /// [`StatusWriter::retarget`], none until a report gives the new target's.
    pub fn original_replicas(&self, key: &str) -> Option<u32> {
        let count = |s: &Value| {
            s["originalReplicaCount"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
        };
        let written = {
            let entries = self.inner.entries();
            match entries.get(key) {
                Some(e) if e.retargeted => return None,
                Some(e) => e.original.or_else(|| count(&e.written)),
                None => None,
            }
        };
        written.or_else(|| {
            self.inner
                .lookup
                .as_ref()
                .and_then(|f| f(key))
                .and_then(|o| count(&o.data["status"]))
        })
    }
}

/// Puts [`FINALIZER`] on the ScaledObject `key` if it has none (a merge patch of
/// `metadata.finalizers` carrying the `resourceVersion` read, fenced); true once it is there.
async fn ensure_finalizer(inner: &Shared, key: &str) -> bool {
    let Some(object) = inner.lookup.as_ref().and_then(|f| f(key)) else {
        return false;
    };
    if object.metadata.deletion_timestamp.is_some() {
        return true;
    }
    let mut finalizers = object.metadata.finalizers.clone().unwrap_or_default();
    if finalizers.iter().any(|f| f == FINALIZER) {
        return true;
    }
    finalizers.push(FINALIZER.to_owned());
    let (ns, name) = key.split_once('/').unwrap_or(("", key));
    let api: Api<DynamicObject> =
        Api::namespaced_with(inner.client.clone(), ns, &scaled_object_resource());
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": object.metadata.resource_version,
    }});
    let added = call_fenced(
        &inner.fence.for_object(key),
        || Operation::object("patch", "scaledobjects.keda.sh", ns, name),
        DEFAULT_REQUEST_TIMEOUT,
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
    )
    .await;
    match added {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(scaled_object = %key, error = %e, "finalizer not added yet");
            false
        }
    }
}

/// Writes every pending report whose status differs from what was written.
async fn flush(inner: &Shared) {
    let now = Timestamp::from_second(Timestamp::now().as_second())
        .map_or_else(|_| String::new(), |t| t.to_string());
    // The finalizer is looked for on the object as served (an edit may have dropped it), and
    // the status is compared with the one served (an edit may have replaced it; the watch
    // shows a write within milliseconds, long before the next tick), else with the one last
    // written.
    let pending: Vec<String> = {
        let entries = inner.entries();
        entries
            .iter()
            .filter(|(_, e)| e.pending.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    };
    let mut served: HashMap<String, Value> = HashMap::new();
    if let Some(lookup) = &inner.lookup {
        for key in pending {
            ensure_finalizer(inner, &key).await;
            if let Some(o) = lookup(&key) {
                served.insert(key, o.data["status"].clone());
            }
        }
    }
    let work: Vec<(String, Value, Value)> = {
        let mut entries = inner.entries();
        entries
            .iter_mut()
            .filter_map(|(key, e)| {
                let report = e.pending.take()?;
                let previous = served.get(key).unwrap_or(&e.written);
                let status = status_of(&report, previous, &now);
                (status != *previous).then(|| (key.clone(), status, e.written.clone()))
            })
            .collect()
    };
    for (key, status, _before) in work {
        let (ns, name) = key.split_once('/').unwrap_or(("", &key));
        let api: Api<DynamicObject> =
            Api::namespaced_with(inner.client.clone(), ns, &scaled_object_resource());
        let patch = json!({"status": status});
        let written = call_fenced(
            &inner.fence.for_object(&key),
            || Operation::object("patch", "scaledobjects.keda.sh", ns, name).on("status"),
            DEFAULT_REQUEST_TIMEOUT,
            api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await;
        match written {
            Ok(_) => {
                let mut entries = inner.entries();
                if let Some(e) = entries.get_mut(&key) {
                    e.written = status;
                }
            }
            Err(e) => tracing::debug!(scaled_object = %key, error = %e, "status not written"),
        }
    }
}
