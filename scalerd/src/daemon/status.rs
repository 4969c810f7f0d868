//! What the daemon knows about each scaled object, for `/status`, `scalerd status` and tests.
//!
//! Each object's loop is the single writer of its own entry; the admin server and tests read
//! snapshots.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use scalers_core::engine::{Decision, Phase, Reason};
use scalers_core::scale_loop::{TickOutcome, TickReport};
use serde::{Deserialize, Serialize};

/// The whole daemon's status, as served on `/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Whether writes are only logged.
    pub dry_run: bool,
    /// Whether this instance holds the leader lease (always true without leader election).
    pub leader: bool,
    /// The config file.
    pub config_file: String,
    /// The last reload attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reload: Option<ReloadStatus>,
    /// With `--sharding`: the shards, which ones this replica holds, the live replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding: Option<ShardingStatus>,
    /// One entry per scaled object, sorted by `namespace/name`.
    pub objects: Vec<ObjectStatus>,
    /// One entry per scaled job, sorted by `namespace/name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobStatus>,
}

/// One scaled job's state: its Jobs and its last poll.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// `namespace/name`.
    pub scaled_job: String,
    /// What its loop is doing.
    pub state: LoopState,
    /// Whether it is paused (`autoscaling.keda.sh/paused`): no Job created or deleted.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub paused: bool,
    /// When the last poll ran (unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_poll: Option<u64>,
    /// Whether it was active at the last poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Jobs not finished at the last poll.
    pub running: u32,
    /// Among them, those with no pod running yet.
    pub pending: u32,
    /// Succeeded Jobs kept (history).
    pub succeeded: u32,
    /// Failed Jobs kept (history).
    pub failed: u32,
    /// Jobs created since scalerd started.
    pub created_total: u64,
    /// The last decision: its reason code (`scaled`, `no-room`, `inactive`, `below-min`,
    /// `trigger-error`) and explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<JobDecisionStatus>,
    /// The last sample of each trigger.
    pub triggers: Vec<TriggerStatus>,
    /// The last error: a trigger, listing, creating or deleting Jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The explanation of a scaled job's decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDecisionStatus {
    /// The reason code.
    pub reason_code: String,
    /// The computation in words.
    pub explanation: String,
    /// The combined queue length.
    pub queue_length: f64,
    /// The combined scale.
    pub max_scale: u64,
    /// Jobs decided.
    pub create: u32,
    /// Jobs created (fewer when the API refused one; 0 in a dry run).
    pub created: u32,
}

/// What a sharded replica holds and sees (`--sharding`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardingStatus {
    /// This replica's identity.
    pub identity: String,
    /// The number of shards.
    pub shards: u32,
    /// The shards this replica holds.
    pub held: Vec<u32>,
    /// The live replicas it counts, itself included, sorted.
    pub members: Vec<String>,
}

/// The outcome of a config reload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReloadStatus {
    /// When (unix milliseconds).
    pub at: u64,
    /// Whether the new config was taken.
    pub ok: bool,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an object's loop is doing, as `/status` shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoopState {
    /// Started, no tick yet.
    #[default]
    Starting,
    /// Ticking.
    Running,
    /// Not ticking: another replica leads.
    Standby,
}

impl LoopState {
    /// `starting`, `running` or `standby`.
    pub fn as_str(self) -> &'static str {
        match self {
            LoopState::Starting => "starting",
            LoopState::Running => "running",
            LoopState::Standby => "standby",
        }
    }
}

/// One scaled object's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// `namespace/name`.
    pub scaled_object: String,
    /// `Kind/name` of the target.
    pub target: String,
    /// What the object's loop is doing.
    pub state: LoopState,
    /// With `--sharding`: the object's shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// With `--sharding`: the replica that owns the object (holds its shard), as this replica
    /// last saw it; none while the shard is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When the last tick ran (unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tick: Option<u64>,
    /// Replicas found at the last tick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<u32>,
    /// Replicas decided at the last tick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<u32>,
    /// Whether the object was active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The last decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionStatus>,
    /// The last sample of each trigger.
    pub triggers: Vec<TriggerStatus>,
    /// The last write to the target (or the write a dry run would have done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_write: Option<WriteStatus>,
    /// The last error reading or writing the target, or of a trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The explanation of a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionStatus {
    /// `Paused`, `Activation` or `Scaling`.
    pub phase: Cow<'static, str>,
    /// A stable code (`ScaleUpLimit`, `Activated`, …).
    pub reason_code: Cow<'static, str>,
    /// A sentence.
    pub reason: String,
    /// The metric whose proposal won, in the scaling phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winning_metric: Option<String>,
    /// The highest proposal before stabilization and limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<u32>,
    /// After the stabilization window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilized: Option<u32>,
    /// Which window changed the proposal (`ScaleUpStabilized`, `ScaleDownStabilized`, or
    /// `ReadyForNewScale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stabilization: Option<String>,
    /// Which bound applied (`ScaleUpLimit`, `TooManyReplicas`, … or `DesiredWithinRange`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Each metric's part.
    pub metrics: Vec<MetricStatus>,
}

/// One metric's part in a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// Trigger name or `composite-metric`.
    pub name: String,
    /// Its value, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Its target.
    pub target: f64,
    /// `AverageValue` or `Value`.
    pub metric_type: Cow<'static, str>,
    /// Its activation threshold.
    pub activation_threshold: f64,
    /// Whether it was active.
    pub active: bool,
    /// Consecutive failures.
    pub failures: u32,
    /// The fallback count it proposes, when in fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<u32>,
    /// What it proposed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<u32>,
}

/// One trigger's last sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerStatus {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub trigger_type: String,
    /// The value, when the sample worked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Whether it was active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The source had no data (the value is a stand-in 0).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub no_data: bool,
    /// Why the sample failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failure kind (`unavailable`, `timeout`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// How long the sample took, in milliseconds.
    pub latency_ms: f64,
}

/// A write of the replica count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteStatus {
    /// When (unix milliseconds).
    pub at: u64,
    /// From this count.
    pub from: u32,
    /// To this count.
    pub to: u32,
    /// Only logged (dry run).
    pub dry_run: bool,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DecisionStatus {
    /// The explanation of `d`.
    pub fn of(d: &Decision) -> Self {
        let mut status = DecisionStatus::default();
        status.update(d);
        status
    }

    /// Becomes the explanation of `d`, reusing its strings' memory: a tick of every object
    /// records one, and allocating each string anew was a good part of a sample's cost.
    pub fn update(&mut self, d: &Decision) {
        use std::fmt::Write as _;
        let phase = match d.phase {
            Phase::Paused => "Paused",
            Phase::Activation => "Activation",
            Phase::Scaling => "Scaling",
        };
        let scaling = match &d.reason {
            Reason::Scaling(s) => Some(s),
            _ => None,
        };
        // Static names: no allocation in any object's status.
        self.phase = Cow::Borrowed(phase);
        self.reason_code = Cow::Borrowed(d.reason.code());
        self.reason.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.reason, "{}", d.reason);
        assign_opt(&mut self.winning_metric, scaling.map(|s| s.metric.as_str()));
        self.proposal = scaling.map(|s| s.proposal);
        self.stabilized = scaling.map(|s| s.stabilized);
        assign_opt(
            &mut self.stabilization,
            scaling.map(|s| s.stabilization.as_str()),
        );
        assign_opt(&mut self.limit, scaling.map(|s| s.limit.as_str()));
        fit(&mut self.metrics, d.metrics.len());
        for (status, m) in self.metrics.iter_mut().zip(&d.metrics) {
            assign(&mut status.name, &m.name);
            status.value = m.value;
            status.target = m.target.value;
            status.metric_type = Cow::Borrowed(m.target.metric_type.as_str());
            status.activation_threshold = m.target.activation_threshold;
            status.active = m.active;
            status.failures = m.failures;
            status.fallback = m.fallback;
            status.proposal = m.proposal;
        }
    }
}

/// Makes `v` hold `len` entries, keeping those it has: grown to exactly `len` (a vector's first
/// growth reserves room for four, which in every object's status cost about 1 KiB per object
/// for one trigger).
pub(crate) fn fit<T: Default>(v: &mut Vec<T>, len: usize) {
    v.truncate(len);
    v.reserve_exact(len - v.len());
    v.resize_with(len, T::default);
}

/// Makes `dst` equal `src`, in the memory it has when that is enough.
fn assign(dst: &mut String, src: &str) {
    if dst != src {
        dst.clear();
        dst.push_str(src);
    }
}

/// [`assign`] for an optional string.
fn assign_opt(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => assign(d, s),
        (None, Some(s)) => *dst = Some(s.to_owned()),
        (_, None) => *dst = None,
    }
}

impl ObjectStatus {
    /// Records a tick: samples (with their latencies), decision and write.
    pub fn record_tick(
        &mut self,
        report: &TickReport,
        latencies: &[f64],
        wall_ms: u64,
        dry_run: bool,
    ) {
        self.state = LoopState::Running;
        self.last_tick = Some(wall_ms);
        // In place: the names and messages keep their memory from tick to tick.
        fit(&mut self.triggers, report.triggers.len());
        let latencies = latencies.iter().copied().chain(std::iter::repeat(0.0));
        for ((status, t), latency_ms) in self
            .triggers
            .iter_mut()
            .zip(&report.triggers)
            .zip(latencies)
        {
            assign(&mut status.name, &t.name);
            assign(&mut status.trigger_type, &t.trigger_type);
            status.latency_ms = latency_ms;
            match &t.result {
                Ok(s) => {
                    status.value = Some(s.value);
                    status.active = Some(s.active);
                    status.no_data = s.no_data;
                    status.error = None;
                    status.error_kind = None;
                }
                Err(e) => {
                    status.value = None;
                    status.active = None;
                    status.no_data = false;
                    assign_opt(&mut status.error, Some(&e.message));
                    assign_opt(&mut status.error_kind, Some(e.kind.as_str()));
                }
            }
        }
        let trigger_error = report.triggers.iter().find_map(|t| {
            t.result
                .as_ref()
                .err()
                .map(|e| format!("trigger {}: {e}", t.name))
        });
        match &report.outcome {
            TickOutcome::TargetUnreadable(e) => {
                self.last_error = Some(format!("reading {}: {e}", self.target));
            }
            TickOutcome::Decided { decision, write } => {
                self.current_replicas = Some(decision.current);
                self.desired_replicas = Some(decision.desired);
                self.active = Some(decision.active);
                match &mut self.decision {
                    Some(d) => d.update(decision),
                    None => self.decision = Some(DecisionStatus::of(decision)),
                }
                let write_error = write.as_ref().and_then(|w| w.as_ref().err());
                if let Some(w) = write {
                    self.last_write = Some(WriteStatus {
                        at: wall_ms,
                        from: decision.current,
                        to: decision.desired,
                        dry_run,
                        error: w.as_ref().err().map(ToString::to_string),
                    });
                }
                self.last_error = write_error
                    .map(|e| format!("writing {}: {e}", self.target))
                    .or(trigger_error);
            }
        }
    }
}

/// One entry (an object's, a scaled job's): shared by its writer, which changes it, and the
/// store, which copies it for readers.
type Entry<T> = Arc<Mutex<T>>;

/// The handle through which one entry of a [`StatusStore`] changes (a scaled object's:
/// [`StatusWriter`], a scaled job's: [`JobStatusWriter`]); not `Clone`, so an entry has one
/// writer, its loop.
///
/// The writer holds its entry: a tick changes it under the entry's own lock, without taking the
/// store's (30,000 loops ticking each second made that one lock a point of contention).
#[derive(Debug)]
pub struct Writer<T> {
    key: String,
    entry: Entry<T>,
}

/// The writer of a scaled object's entry.
pub type StatusWriter = Writer<ObjectStatus>;

/// The writer of a scaled job's entry.
pub type JobStatusWriter = Writer<JobStatus>;

impl<T: Clone> Writer<T> {
    /// `namespace/name` of the entry.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Changes the entry.
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        f(&mut self.entry.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A copy of the entry.
    pub fn get(&self) -> T {
        copy(&self.entry)
    }

    /// Replaces the entry.
    pub fn set(&self, value: T) {
        self.update(|s| *s = value);
    }
}

impl StatusWriter {
    /// Sets what the loop is doing.
    pub fn set_state(&self, state: LoopState) {
        self.update(|s| s.state = state);
    }
}

/// The writer of `key`'s entry in `entries`, the entry made by `new` if there is none.
fn writer_of<T>(
    entries: &mut BTreeMap<String, Entry<T>>,
    key: &str,
    new: impl FnOnce() -> T,
) -> Writer<T> {
    let entry = entries
        .entry(key.to_owned())
        .or_insert_with(|| Arc::new(Mutex::new(new())))
        .clone();
    Writer {
        key: key.to_owned(),
        entry,
    }
}

/// The status of every object, plus daemon-wide facts.
///
/// Single writer per entry: an object's entry is written only through its [`StatusWriter`]
/// ([`StatusStore::writer`]), a scaled job's through its [`JobStatusWriter`]
/// ([`StatusStore::job_writer`]), each owned by its loop; the admin server and embedders read
/// copies ([`StatusStore::snapshot`], [`StatusStore::object`], [`StatusStore::job`]).
#[derive(Debug, Default)]
pub struct StatusStore {
    inner: RwLock<Inner>,
    /// With sharding: who owns what, filled into each snapshot.
    shards: std::sync::OnceLock<Arc<crate::kube::ShardView>>,
}

#[derive(Debug, Default)]
struct Inner {
    dry_run: bool,
    leader: bool,
    config_file: String,
    last_reload: Option<ReloadStatus>,
    objects: BTreeMap<String, Entry<ObjectStatus>>,
    jobs: BTreeMap<String, Entry<JobStatus>>,
}

impl StatusStore {
    /// An empty store for a daemon reading `config_file`.
    pub fn new(config_file: String, dry_run: bool) -> Self {
        StatusStore {
            inner: RwLock::new(Inner {
                dry_run,
                leader: true,
                config_file,
                ..Inner::default()
            }),
            shards: std::sync::OnceLock::new(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer of the entry of `key` (created, `starting`, if it does not exist): the one
    /// handle through which it changes. Give it to the object's loop.
    pub fn writer(&self, key: &str) -> StatusWriter {
        writer_of(&mut self.write().objects, key, || ObjectStatus {
            scaled_object: key.to_owned(),
            ..ObjectStatus::default()
        })
    }

    /// The writer of scaled job `key`'s entry (created if it does not exist): give it to the
    /// scaled job's loop.
    pub fn job_writer(&self, key: &str) -> JobStatusWriter {
        writer_of(&mut self.write().jobs, key, || JobStatus {
            scaled_job: key.to_owned(),
            ..JobStatus::default()
        })
    }

    /// Forgets scaled job `key` (removed by a reload).
    pub fn remove_job(&self, key: &str) {
        self.write().jobs.remove(key);
    }

    /// A copy of scaled job `key`'s entry.
    pub fn job(&self, key: &str) -> Option<JobStatus> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.jobs.get(key).map(copy)
    }

    /// Forgets `key` (object removed by a reload).
    pub fn remove(&self, key: &str) {
        self.write().objects.remove(key);
    }

    /// Shows, in every snapshot, each object's shard and owner and what this replica holds
    /// (sharding); the first view given stays.
    pub fn set_shards(&self, shards: Arc<crate::kube::ShardView>) {
        let _ = self.shards.set(shards);
    }

    /// Records whether this instance leads.
    pub fn set_leader(&self, leader: bool) {
        self.write().leader = leader;
    }

    /// Records a reload attempt.
    pub fn set_reload(&self, reload: ReloadStatus) {
        self.write().last_reload = Some(reload);
    }

    /// A copy of everything.
    pub fn snapshot(&self) -> Status {
        self.snapshot_with(|objects| objects.values().map(copy).collect())
    }

    /// A copy of the daemon's status with only the object `key` (none if it is unknown),
    /// without copying the others' entries.
    pub fn snapshot_of(&self, key: &str) -> Status {
        self.snapshot_with(|objects| objects.get(key).map(copy).into_iter().collect())
    }

    fn snapshot_with(
        &self,
        objects: impl FnOnce(&BTreeMap<String, Entry<ObjectStatus>>) -> Vec<ObjectStatus>,
    ) -> Status {
        let mut status = {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            Status {
                dry_run: inner.dry_run,
                leader: inner.leader,
                config_file: inner.config_file.clone(),
                last_reload: inner.last_reload.clone(),
                sharding: None,
                objects: objects(&inner.objects),
                jobs: inner.jobs.values().map(copy).collect(),
            }
        };
        if let Some(view) = self.shards.get() {
            let holders = view.holders();
            for o in &mut status.objects {
                let shard = view.shard_of(&o.scaled_object);
                o.shard = Some(shard);
                o.owner = holders.get(shard as usize).cloned().flatten();
            }
            status.sharding = Some(ShardingStatus {
                identity: view.identity().to_owned(),
                shards: view.count(),
                held: view.held(),
                members: view.members(),
            });
        }
        status
    }

    /// A copy of one object's entry.
    pub fn object(&self, key: &str) -> Option<ObjectStatus> {
        let mut object = {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            inner.objects.get(key).map(copy)
        }?;
        if let Some(view) = self.shards.get() {
            object.shard = Some(view.shard_of(key));
            object.owner = view.owner(key);
        }
        Some(object)
    }
}

/// A copy of an entry, for readers.
fn copy<T: Clone>(entry: &Entry<T>) -> T {
    entry.lock().unwrap_or_else(PoisonError::into_inner).clone()
}
