//! Kubernetes Events on scale targets, with KEDA's reasons.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use scalers_core::config::ScaledObject;

use super::error::call_fenced;
use super::{DEFAULT_REQUEST_TIMEOUT, Fence, KubeError, Operation};

/// The `reportingController` of scalerd's Events.
pub const REPORTING_CONTROLLER: &str = "scalerd";

/// The reasons scalerd's Events carry (KEDA's and the HPA's names).
pub mod reason {
    /// The target was scaled up from zero (or from idle) because a trigger became active.
    pub const TARGET_ACTIVATED: &str = "KEDAScaleTargetActivated";
    /// The target was scaled down to zero (or to idle) after the cooldown.
    pub const TARGET_DEACTIVATED: &str = "KEDAScaleTargetDeactivated";
    /// The target was rescaled (the HPA's reason).
    pub const SUCCESSFUL_RESCALE: &str = "SuccessfulRescale";
    /// Writing the new size failed (the HPA's reason).
    pub const FAILED_RESCALE: &str = "FailedRescale";
    /// A trigger could not be sampled.
    pub const SCALER_FAILED: &str = "KEDAScalerFailed";
    /// Triggers kept failing and the fallback replica count applies.
    pub const FALLBACK_ACTIVATED: &str = "ScaledObjectFallbackActivated";
    /// The triggers answer again and the fallback no longer applies.
    pub const FALLBACK_DEACTIVATED: &str = "ScaledObjectFallbackDeactivated";
    /// A ScaledObject of the cluster is invalid.
    pub const CHECK_FAILED: &str = "ScaledObjectCheckFailed";
    /// A scaled job's poll created Jobs.
    pub const JOBS_CREATED: &str = "KEDAJobsCreated";
    /// The API refused to create a scaled job's Job.
    pub const JOB_CREATE_FAILED: &str = "KEDAJobCreateFailed";
}

/// The `type` of an Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Something expected happened.
    Normal,
    /// Something went wrong.
    Warning,
}

impl EventKind {
    /// `Normal` or `Warning`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Normal => "Normal",
            EventKind::Warning => "Warning",
        }
    }
}

/// What an Event says; the constructors give KEDA's reasons and wording.
///
/// Notes are sent as given: callers pass messages that are already redacted (no secrets,
/// URLs without credentials). Notes longer than the API's 1 KiB are cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalerEvent {
    /// Normal or Warning.
    pub kind: EventKind,
    /// Machine-readable reason, e.g. `KEDAScaleTargetActivated` (see [`reason`]).
    pub reason: String,
    /// What was done or failed, e.g. `Scale`, `Sample`.
    pub action: String,
    /// For a person.
    pub note: String,
}

impl ScalerEvent {
    fn new(kind: EventKind, reason: &str, action: &str, note: String) -> Self {
        ScalerEvent {
            kind,
            reason: reason.to_owned(),
            action: action.to_owned(),
            note,
        }
    }

    /// `KEDAScaleTargetActivated`: "Scaled {kind} {ns}/{name} from {from} to {to}, triggered by
    /// {a;b}".
    ///
    /// ```
    /// use scalers_core::config::ScaledObject;
    /// use scalerd::kube::ScalerEvent;
    /// let mut object = ScaledObject::new("orders", "worker");
    /// object.namespace = "shop".into();
    /// let event = ScalerEvent::target_activated(&object, 0, 1, &["queue", "lag"]);
    /// assert_eq!(event.note, "Scaled Deployment shop/worker from 0 to 1, triggered by queue;lag");
    /// ```
    pub fn target_activated(object: &ScaledObject, from: u32, to: u32, triggers: &[&str]) -> Self {
        let target = &object.scale_target_ref;
        ScalerEvent::new(
            EventKind::Normal,
            reason::TARGET_ACTIVATED,
            "Scale",
            format!(
                "Scaled {} {}/{} from {from} to {to}, triggered by {}",
                target.kind,
                object.namespace,
                target.name,
                triggers.join(";")
            ),
        )
    }

    /// `KEDAScaleTargetDeactivated`: "Deactivated {kind} {ns}/{name} from {from} to {to}".
    pub fn target_deactivated(object: &ScaledObject, from: u32, to: u32) -> Self {
        let target = &object.scale_target_ref;
        ScalerEvent::new(
            EventKind::Normal,
            reason::TARGET_DEACTIVATED,
            "Scale",
            format!(
                "Deactivated {} {}/{} from {from} to {to}",
                target.kind, object.namespace, target.name
            ),
        )
    }

    /// `SuccessfulRescale`: "New size: {size}; reason: {reason}".
    pub fn rescaled(size: u32, reason: &str) -> Self {
        ScalerEvent::new(
            EventKind::Normal,
            reason::SUCCESSFUL_RESCALE,
            "Scale",
            format!("New size: {size}; reason: {reason}"),
        )
    }

    /// `FailedRescale` (Warning): "New size: {size}; reason: {reason}; error: {error}".
    pub fn failed_rescale(size: u32, reason: &str, error: &str) -> Self {
        ScalerEvent::new(
            EventKind::Warning,
            reason::FAILED_RESCALE,
            "Scale",
            format!("New size: {size}; reason: {reason}; error: {error}"),
        )
    }

    /// `KEDAScalerFailed` (Warning): "{trigger}: {error}".
    pub fn scaler_failed(trigger: &str, error: &str) -> Self {
        ScalerEvent::new(
            EventKind::Warning,
            reason::SCALER_FAILED,
            "Sample",
            format!("{trigger}: {error}"),
        )
    }

    /// `ScaledObjectFallbackActivated` (Warning): "Using fallback of {replicas} replicas:
    /// triggers {a;b} keep failing".
    pub fn fallback_activated(replicas: u32, triggers: &[&str]) -> Self {
        ScalerEvent::new(
            EventKind::Warning,
            reason::FALLBACK_ACTIVATED,
            "Fallback",
            format!(
                "Using fallback of {replicas} replicas: triggers {} keep failing",
                triggers.join(";")
            ),
        )
    }

    /// `ScaledObjectCheckFailed` (Warning): what `scalerd check` prints about the object.
    pub fn check_failed(message: &str) -> Self {
        ScalerEvent::new(
            EventKind::Warning,
            reason::CHECK_FAILED,
            "Check",
            message.to_owned(),
        )
    }

    /// `KEDAJobsCreated`: "Created {n} jobs".
    pub fn jobs_created(count: u32) -> Self {
        let noun = if count == 1 { "job" } else { "jobs" };
        ScalerEvent::new(
            EventKind::Normal,
            reason::JOBS_CREATED,
            "CreateJobs",
            format!("Created {count} {noun}"),
        )
    }

    /// `KEDAJobCreateFailed` (Warning): "Failed to create a job: {message}".
    pub fn job_create_failed(message: &str) -> Self {
        ScalerEvent::new(
            EventKind::Warning,
            reason::JOB_CREATE_FAILED,
            "CreateJobs",
            format!("Failed to create a job: {message}"),
        )
    }

    /// `ScaledObjectFallbackDeactivated`: "Triggers answer again; fallback no longer applies".
    pub fn fallback_deactivated() -> Self {
        ScalerEvent::new(
            EventKind::Normal,
            reason::FALLBACK_DEACTIVATED,
            "Fallback",
            "Triggers answer again; fallback no longer applies".to_owned(),
        )
    }
}

/// Publishes `events.k8s.io/v1` Events about scale targets.
///
/// Each Event is `regarding` the scaled object's target (apiVersion, kind, name, namespace),
/// lives in its namespace, and is reported by controller [`REPORTING_CONTROLLER`] and this
/// recorder's instance (e.g. the pod name). Needs `create` on `events.events.k8s.io`.
///
/// # Examples
/// ```no_run
/// # async fn f(client: kube::Client, object: scalers_core::config::ScaledObject) {
/// use scalerd::kube::{EventRecorder, ScalerEvent};
/// let recorder = EventRecorder::new(client, "scalerd-7d9f-abcde");
/// let _ = recorder.publish(&object, &ScalerEvent::rescaled(4, "external metric above target")).await;
/// # }
/// ```
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    instance: String,
    timeout: Duration,
    fence: Fence,
}

impl std::fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecorder")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// The API's limits, in bytes.
const NOTE_LIMIT: usize = 1024;
const FIELD_LIMIT: usize = 128;

impl EventRecorder {
    /// A recorder reporting as `instance` (cut to the API's 128 bytes).
    pub fn new(client: Client, instance: impl Into<String>) -> Self {
        EventRecorder {
            client,
            instance: truncate(&instance.into(), FIELD_LIMIT),
            timeout: DEFAULT_REQUEST_TIMEOUT,
            fence: Fence::open(),
        }
    }

    /// The same, with every write fenced by `fence` (leader election, see [`Fence`]).
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = fence;
        self
    }

    /// A recorder for the Events about the scaled object `key` (`namespace/name`): fenced by
    /// that object's fence ([`Fence::for_object`]: its shard's, when sharded).
    pub fn for_object(&self, key: &str) -> EventRecorder {
        EventRecorder {
            fence: self.fence.for_object(key),
            ..self.clone()
        }
    }

    /// The same, with each call limited to `timeout` (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Creates an Event about `object`'s scale target.
    ///
    /// # Errors
    /// The [`KubeError`] of the failed call ([`KubeError::Forbidden`] without RBAC for Events,
    /// [`KubeError::NotLeading`] when the fence does not permit it).
    pub async fn publish(
        &self,
        object: &ScaledObject,
        event: &ScalerEvent,
    ) -> Result<(), KubeError> {
        self.create(&Regarding::target_of(object), event, Timestamp::now())
            .await
            .map(|_| ())
    }

    /// Creates an Event about `regarding` that happened at `event_time`, and returns its name.
    ///
    /// # Errors
    /// As [`EventRecorder::publish`].
    pub async fn create(
        &self,
        regarding: &Regarding,
        event: &ScalerEvent,
        event_time: Timestamp,
    ) -> Result<String, KubeError> {
        let namespace = &regarding.namespace;
        let name = event_name(&regarding.name);
        let body = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(event_time)),
            reporting_controller: Some(REPORTING_CONTROLLER.to_owned()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(truncate(&event.action, FIELD_LIMIT)),
            reason: Some(truncate(&event.reason, FIELD_LIMIT)),
            type_: Some(event.kind.as_str().to_owned()),
            note: Some(truncate(&event.note, NOTE_LIMIT)),
            regarding: Some(ObjectReference {
                api_version: Some(regarding.api_version.clone()),
                kind: Some(regarding.kind.clone()),
                name: Some(regarding.name.clone()),
                namespace: Some(namespace.clone()),
                ..ObjectReference::default()
            }),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        call_fenced(
            &self.fence,
            || Operation::object("create", "events.events.k8s.io", namespace, &name),
            self.timeout,
            api.create(&PostParams::default(), &body),
        )
        .await?;
        Ok(name)
    }

    /// Records that the Event `name` in `namespace` happened `count` times in all, the last
    /// at `last_observed`: its `series`, as the API expects for a repeated Event instead of a
    /// new one.
    ///
    /// # Errors
    /// As [`EventRecorder::publish`]; [`KubeError::NotFound`] when the Event is gone
    /// (expired).
    pub async fn count_repeats(
        &self,
        namespace: &str,
        name: &str,
        count: u32,
        last_observed: Timestamp,
    ) -> Result<(), KubeError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let patch = serde_json::json!({
            "series": {
                "count": i32::try_from(count).unwrap_or(i32::MAX),
                "lastObservedTime": MicroTime(last_observed),
            }
        });
        call_fenced(
            &self.fence,
            || Operation::object("patch", "events.events.k8s.io", namespace, name),
            self.timeout,
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await?;
        Ok(())
    }
}

/// What an Event is about: a scaled object's scale target.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Regarding {
    /// The namespace (of the object and of the Event).
    pub namespace: String,
    /// The target's `apiVersion`.
    pub api_version: String,
    /// The target's `kind`.
    pub kind: String,
    /// The target's name.
    pub name: String,
}

impl Regarding {
    /// The scale target of `object`.
    pub fn target_of(object: &ScaledObject) -> Self {
        let t = &object.scale_target_ref;
        Regarding {
            namespace: object.namespace.clone(),
            api_version: t.api_version.clone(),
            kind: t.kind.clone(),
            name: t.name.clone(),
        }
    }
}

/// `<target>.<hex>`, unique per process and time, like the names client-go gives Events.
fn event_name(target: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // 253 is the limit of a name; leave room for the suffix.
    format!("{}.{nanos:x}{n:x}", truncate(target, 200))
}

/// `s` cut to at most `limit` bytes, at a character boundary.
fn truncate(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_owned();
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }

    #[test]
    fn event_names_differ() {
        assert_ne!(event_name("web"), event_name("web"));
        assert!(event_name(&"x".repeat(300)).len() <= 253);
    }
}
