//! The scaled jobs' loops: one task per scaled job that, every `pollingInterval`, samples the
//! triggers, counts the Jobs, creates the Jobs [`scalers_core::job::decide`] asks for, and
//! deletes finished Jobs beyond the history limits.
//!
//! Each poll, in order (KEDA's order):
//!
//! 1. paused (`autoscaling.keda.sh/paused`) or not leading: nothing, not even a read;
//! 2. every trigger sampled at once, each within the sample timeout;
//! 3. the Jobs labelled `scaledjob.keda.sh/name=<name>` listed; a failed list creates nothing
//!    (KEDA counts 0 running Jobs then, which would create Jobs on top of the running ones);
//!    for `accurate`, `eager` and `pendingPodConditions`, their pods read from the pod watch
//!    (the pending Jobs, [`scalers_core::job::job_pending`]); pods not listed yet create
//!    nothing either;
//! 4. on the first poll after a start or a change of the scaled job, the rollout: with
//!    strategy `default`, every Job of another template revision is deleted with the
//!    `propagationPolicy`; with `gradual`, they are left to finish;
//! 5. the decision, then the Jobs created one by one; the first refusal stops the poll's
//!    creations, is reported in `/status` and as a Warning Event `KEDAJobCreateFailed`;
//! 6. finished Jobs beyond `successfulJobsHistoryLimit` and `failedJobsHistoryLimit` deleted,
//!    oldest first (by completion time, then creation time, then name).
//!
//! A trigger that fails creates no Job and deletes none (the rollout and history cleanup still
//! run: they do not depend on the triggers). Every call goes through the daemon's one client
//! (rate limit, `User-Agent`) and every write through the leader fence.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use scalers_core::config::ValidatedJob;
use scalers_core::config::model::{
    PropagationPolicy, RolloutStrategy, ScaleTargetRef, ScaledJob, ScaledObject,
};
use scalers_core::job::{JobCounts, JobReading, decide};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, info_span, warn};

use crate::daemon::events::{Event, EventSink};
use crate::daemon::rotation::{Credentials, Rotation, Scaled};
use crate::daemon::runner::{Clock, sample_one};
use crate::daemon::status::{JobDecisionStatus, JobStatus, LoopState, StatusStore, TriggerStatus};
use crate::kube::{JobClient, JobPhase, ListedJob};

/// What every scaled job's loop shares.
pub struct JobContext {
    /// The Jobs API; none in a dry run without a cluster (then no Job is counted or created).
    pub client: Option<JobClient>,
    /// Where status goes.
    pub status: Arc<StatusStore>,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// Where metrics go.
    pub metrics: Arc<crate::daemon::metrics::Metrics>,
    /// Whether this instance may write (leader election); loops idle while false.
    pub leading: watch::Receiver<bool>,
    /// The clock.
    pub clock: Clock,
    /// Longest time a trigger sample may take.
    pub sample_timeout: Duration,
    /// Whether writes are only logged.
    pub dry_run: bool,
    /// Re-reads credentials and rebuilds triggers (rotated passwords), as for scaled objects;
    /// none: never.
    pub credentials: Option<Arc<dyn Credentials>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// The running loops of the scaled jobs, by `namespace/name`; clones share them.
#[derive(Clone, Debug)]
pub struct JobLoops {
    ctx: Arc<JobContext>,
    running: Arc<tokio::sync::Mutex<BTreeMap<String, JobLoop>>>,
}

#[derive(Debug)]
struct JobLoop {
    config: watch::Sender<Wanted>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A ScaledJob resource of the cluster that a loop runs for.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterJob {
    /// Its `metadata.uid`: the owner of the Jobs it creates.
    pub uid: String,
    /// Its `status` as the API served it when it was (re)read.
    pub status: serde_json::Value,
}

/// What a loop runs: the scaled job, and its resource in cluster mode.
#[derive(Clone, Debug)]
struct Wanted {
    job: ValidatedJob,
    cluster: Option<ClusterJob>,
}

impl JobLoops {
    /// No loops yet.
    pub fn new(ctx: JobContext) -> Self {
        JobLoops {
            ctx: Arc::new(ctx),
            running: Arc::default(),
        }
    }

    /// How many loops run.
    pub async fn len(&self) -> usize {
        self.running.lock().await.len()
    }

    /// Whether no loop runs.
    pub async fn is_empty(&self) -> bool {
        self.running.lock().await.is_empty()
    }

    /// The Jobs API the loops use, if any.
    pub fn client(&self) -> Option<&JobClient> {
        self.ctx.client.as_ref()
    }

    /// Brings the loops in line with `jobs` (those of a config file): stops the removed ones,
    /// hands the kept ones their new version (a changed one rolls out at its next poll) and
    /// starts the new ones.
    pub async fn apply(&self, jobs: Vec<ValidatedJob>) {
        let wanted: BTreeMap<String, ValidatedJob> =
            jobs.into_iter().map(|j| (j.job.key(), j)).collect();
        let gone: Vec<String> = {
            let running = self.running.lock().await;
            running
                .keys()
                .filter(|k| !wanted.contains_key(*k))
                .cloned()
                .collect()
        };
        for key in gone {
            self.remove(&key).await;
        }
        for (_, job) in wanted {
            self.upsert(job, None).await;
        }
    }

    /// Starts the loop of `job`, or hands its loop the new version (`cluster`: the ScaledJob
    /// resource it comes from, in cluster mode).
    pub async fn upsert(&self, job: ValidatedJob, cluster: Option<ClusterJob>) {
        let key = job.job.key();
        let mut running = self.running.lock().await;
        match running.get(&key) {
            Some(l) => {
                let changed = {
                    let now = l.config.borrow();
                    now.job.job != job.job
                        || now.cluster.as_ref().map(|c| &c.uid) != cluster.as_ref().map(|c| &c.uid)
                };
                if changed {
                    l.config.send_replace(Wanted { job, cluster });
                }
            }
            None => {
                let (config, config_rx) = watch::channel(Wanted { job, cluster });
                let (stop, stop_rx) = watch::channel(false);
                let span = info_span!("scaled_job", scaled_job = %key);
                let task = tokio::spawn(run(self.ctx.clone(), config_rx, stop_rx).instrument(span));
                running.insert(key, JobLoop { config, stop, task });
            }
        }
    }

    /// Stops the loop of `key`, if any, and forgets its status.
    pub async fn remove(&self, key: &str) {
        let removed = self.running.lock().await.remove(key);
        if let Some(l) = removed {
            info!(scaled_job = %key, "stopping");
            let _ = l.stop.send(true);
            let _ = l.task.await;
        }
        self.ctx.status.remove_job(key);
    }

    /// Stops every loop, waiting for each to end its poll.
    pub async fn stop(&self) {
        let running = std::mem::take(&mut *self.running.lock().await);
        for l in running.values() {
            let _ = l.stop.send(true);
        }
        for (_, l) in running {
            let _ = l.task.await;
        }
    }
}

/// What a loop remembers between polls.
#[derive(Debug)]
struct Memory {
    created_total: u64,
    /// When the triggers' credentials are read again (as for scaled objects).
    rotation: Rotation,
    /// Triggers failing at the last poll (an Event when one starts failing).
    failing: BTreeSet<String>,
    /// Cluster mode: the ScaledJob status last written (or read).
    written: Option<serde_json::Value>,
    /// Jobs this loop created that the Job cache has not shown yet (it is fed by a watch, so
    /// a write shows up a moment later), counted as pending meanwhile.
    unseen_created: BTreeMap<String, (tokio::time::Instant, ListedJob)>,
    /// Jobs this loop deleted that the cache still shows, not counted meanwhile.
    unseen_deleted: BTreeMap<String, tokio::time::Instant>,
}

/// How long a write of this loop may take to show in the Job cache before the cache is
/// believed again.
const UNSEEN_FOR: Duration = Duration::from_secs(60);

impl Memory {
    fn new() -> Self {
        Memory {
            created_total: 0,
            rotation: Rotation::new(tokio::time::Instant::now()),
            failing: BTreeSet::new(),
            written: None,
            unseen_created: BTreeMap::new(),
            unseen_deleted: BTreeMap::new(),
        }
    }

    /// `jobs` as listed, corrected by this loop's own writes that the cache has not shown yet.
    fn reconcile(&mut self, jobs: &mut Vec<ListedJob>) {
        let now = tokio::time::Instant::now();
        let listed: BTreeSet<String> = jobs.iter().map(|j| j.name.clone()).collect();
        self.unseen_created
            .retain(|name, (at, _)| !listed.contains(name) && now - *at < UNSEEN_FOR);
        self.unseen_deleted
            .retain(|name, at| listed.contains(name) && now - *at < UNSEEN_FOR);
        jobs.retain(|j| !self.unseen_deleted.contains_key(&j.name));
        jobs.extend(self.unseen_created.values().map(|(_, j)| j.clone()));
    }
}

/// One scaled job's loop until `stop`.
async fn run(
    ctx: Arc<JobContext>,
    mut config: watch::Receiver<Wanted>,
    mut stop: watch::Receiver<bool>,
) {
    let mut memory = Memory::new();
    let mut rollout_due = true;
    let mut leading = ctx.leading.clone();
    let mut leading_open = true;
    // The loop's own copy: its triggers may be rebuilt with rotated credentials.
    let mut wanted = config.borrow_and_update().clone();
    let writer = ctx.status.job_writer(&wanted.job.job.key());
    loop {
        // Polls start a `pollingInterval` apart (KEDA's ticker), however long one takes.
        let started = tokio::time::Instant::now();
        let Wanted { job, cluster } = &mut wanted;
        if memory.written.is_none() {
            memory.written = cluster.as_ref().map(|c| c.status.clone());
        }
        let mut status = writer.get();
        status.paused = job.job.paused;
        if job.job.paused {
            status.state = LoopState::Running;
            write_conditions(&ctx, &job.job, cluster.as_ref(), &mut memory, None).await;
            writer.set(status);
        } else if !*leading.borrow() {
            status.state = LoopState::Standby;
            writer.set(status);
        } else {
            let outcome = poll(
                &ctx,
                job,
                cluster.as_ref(),
                &mut memory,
                rollout_due,
                &mut status,
            )
            .await;
            rollout_due = false;
            status.state = LoopState::Running;
            write_conditions(&ctx, &job.job, cluster.as_ref(), &mut memory, Some(outcome)).await;
            writer.set(status);
            refresh_credentials(&ctx, job, &mut memory.rotation).await;
        }
        let sleep = tokio::time::sleep_until(started + job.job.polling_period());
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                changed = config.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // KEDA reconciles a changed ScaledJob: the rollout, then a poll at once.
                    rollout_due = true;
                    wanted = config.borrow_and_update().clone();
                    memory.rotation.reloaded();
                    break;
                }
                changed = leading.changed(), if leading_open => {
                    if changed.is_ok() {
                        break;
                    }
                    // Without an election the sender is gone: leadership never changes.
                    leading_open = false;
                }
                () = &mut sleep => break,
            }
        }
    }
}

/// Replaces the triggers of `job` whose credentials changed ([`Rotation::rebuilds`]), as the
/// loops of scaled objects do.
async fn refresh_credentials(ctx: &JobContext, job: &mut ValidatedJob, rotation: &mut Rotation) {
    let Some(credentials) = &ctx.credentials else {
        return;
    };
    let rebuilt = rotation
        .rebuilds(
            credentials.as_ref(),
            Scaled::Job(&job.job),
            &job.triggers,
            job.job.polling_period(),
        )
        .await;
    for (i, t) in rebuilt {
        info!(trigger = %t.name, "trigger rebuilt with credentials read again");
        ctx.metrics.trigger_rebuilds.inc();
        job.triggers[i] = t;
    }
}

/// The subject of a scaled job's Events: the ScaledJob itself (`keda.sh/v1alpha1`).
fn event_subject(job: &ScaledJob) -> ScaledObject {
    let mut subject = ScaledObject::new(&job.name, &job.name);
    subject.namespace = job.namespace.clone();
    subject.scale_target_ref = ScaleTargetRef {
        api_version: "keda.sh/v1alpha1".to_owned(),
        kind: "ScaledJob".to_owned(),
        name: job.name.clone(),
        env_source_container_name: None,
    };
    subject
}

/// How a poll went, for KEDA's conditions.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    /// Triggers that failed, of how many.
    failed: usize,
    triggers: usize,
    /// Whether the scaled job was active (`None`: not known, the poll stopped early).
    active: Option<bool>,
}

/// Writes KEDA's conditions of the ScaledJob (cluster mode), when they changed: after a poll
/// (`outcome`), or while paused (`None`).
async fn write_conditions(
    ctx: &JobContext,
    job: &ScaledJob,
    cluster: Option<&ClusterJob>,
    memory: &mut Memory,
    outcome: Option<Outcome>,
) {
    let (Some(_), Some(client)) = (cluster, ctx.client.as_ref()) else {
        return;
    };
    if ctx.dry_run {
        return;
    }
    let ready = match outcome {
        None => (
            "True",
            "ScaledJobReady",
            "ScaledJob is paused, skipping reconcile loop".to_owned(),
        ),
        Some(o) if o.failed == 0 => (
            "True",
            "ScaledJobReady",
            "ScaledJob is defined correctly and is ready to scaling".to_owned(),
        ),
        Some(o) if o.failed < o.triggers && o.active == Some(true) => (
            "Unknown",
            "PartialTriggerError",
            format!("{} of {} triggers failed", o.failed, o.triggers),
        ),
        Some(o) => (
            "False",
            "TriggerError",
            format!("{} of {} triggers failed", o.failed, o.triggers),
        ),
    };
    let active = match outcome.and_then(|o| o.active) {
        Some(true) => (
            "True",
            "ScalerActive",
            "Scaling is performed because triggers are active".to_owned(),
        ),
        Some(false) => (
            "False",
            "ScalerNotActive",
            "Scaling is not performed because triggers are not active".to_owned(),
        ),
        None => (
            "Unknown",
            "UnknownState",
            "Scaling state is unknown".to_owned(),
        ),
    };
    let paused = if job.paused {
        ("True", "ScaledJobPaused", "ScaledJob is paused".to_owned())
    } else {
        (
            "False",
            "ScaledJobUnpaused",
            "ScaledJob is not paused".to_owned(),
        )
    };
    let now = crate::kube::rfc3339(ctx.clock.wall_ms());
    let previous = memory.written.clone().unwrap_or(serde_json::Value::Null);
    let last_active = (outcome.and_then(|o| o.active) == Some(true)).then_some(now.as_str());
    let conditions = [
        ("Ready", ready.0, ready.1, ready.2),
        ("Active", active.0, active.1, active.2),
        ("Paused", paused.0, paused.1, paused.2),
    ];
    let mut next = crate::kube::scaled_job_status(conditions, None, &previous, &now);
    // The conditions decide whether to write; lastActiveTime alone does not (KEDA patches it
    // every active poll; a write per poll is what the status writer avoids).
    let changed = next["conditions"] != previous["conditions"];
    if !changed {
        return;
    }
    if let Some(at) = last_active {
        next["lastActiveTime"] = serde_json::json!(at);
    }
    match client.write_status(&job.namespace, &job.name, &next).await {
        Ok(()) => memory.written = Some(next),
        Err(e) => warn!(error = %e, "cannot write the ScaledJob status"),
    }
}

/// One poll: sample, count, roll out, decide, create, clean up; `status` gets what it saw.
async fn poll(
    ctx: &JobContext,
    validated: &ValidatedJob,
    cluster: Option<&ClusterJob>,
    memory: &mut Memory,
    rollout_due: bool,
    status: &mut JobStatus,
) -> Outcome {
    let job = &validated.job;
    let subject = event_subject(job);
    status.last_poll = Some(ctx.clock.wall_ms());
    status.last_error = None;
    let timeout = ctx
        .sample_timeout
        .min(job.polling_period())
        .max(Duration::from_millis(100));
    let samples = join_all(
        validated
            .triggers
            .iter()
            .map(|t| sample_one(t.trigger.as_ref(), timeout)),
    )
    .await;
    let mut readings = Vec::with_capacity(samples.len());
    status.triggers.clear();
    memory.rotation.unauthorized.clear();
    for (t, (result, latency_ms)) in validated.triggers.iter().zip(samples) {
        let mut ts = TriggerStatus {
            name: t.name.clone(),
            trigger_type: t.trigger_type.clone(),
            latency_ms,
            ..TriggerStatus::default()
        };
        match result {
            Ok(sample) => {
                ts.value = Some(sample.value);
                ts.active = Some(sample.active);
                ts.no_data = sample.no_data;
                memory.failing.remove(&t.name);
                readings.push(Some(JobReading {
                    queue_length: sample.value,
                    target: t.trigger.target().value,
                    active: sample.active,
                }));
            }
            Err(e) => {
                warn!(trigger = %t.name, kind = %e.kind, error = %e.message, "trigger failed");
                if e.kind == scalers_core::trigger::TriggerErrorKind::Unauthorized {
                    memory.rotation.unauthorized.insert(t.name.clone());
                }
                if memory.failing.insert(t.name.clone()) {
                    ctx.events.emit(
                        &subject,
                        &Event::TriggerFailed {
                            trigger: t.name.clone(),
                            message: e.message.clone(),
                        },
                    );
                }
                status.last_error = Some(format!("trigger {}: {}", t.name, e.message));
                ts.error = Some(e.message);
                ts.error_kind = Some(e.kind.as_str().to_owned());
                readings.push(None);
            }
        }
        status.triggers.push(ts);
    }
    let mut outcome = Outcome {
        failed: readings.iter().filter(|r| r.is_none()).count(),
        triggers: readings.len(),
        active: None,
    };
    let mut jobs: Vec<ListedJob> = match &ctx.client {
        None => Vec::new(),
        Some(client) => match client.list(job).await {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(error = %e, "cannot list the Jobs: none created");
                status.last_error = Some(e.to_string());
                return outcome;
            }
        },
    };
    memory.reconcile(&mut jobs);
    if let Some(c) = cluster {
        // In the cluster, the Jobs of this ScaledJob are those it owns (a ScaledJob deleted
        // and created again under the same name does not count the old one's).
        jobs.retain(|j| j.owners.contains(&c.uid));
    }
    if rollout_due && job.rollout.strategy == RolloutStrategy::Default {
        jobs = roll_out(ctx, job, jobs, status, &mut memory.unseen_deleted).await;
    }
    let running = jobs.iter().filter(|j| !j.phase.finished()).count();
    let pending = match pending_by_pods(ctx, job, &jobs).await {
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            warn!(error = %e, "cannot read the Jobs' pods: none created");
            status.last_error = Some(e.to_string());
            return outcome;
        }
        None => jobs.iter().filter(|j| j.phase == JobPhase::Pending).count(),
    };
    let counts = JobCounts {
        running: u32::try_from(running).unwrap_or(u32::MAX),
        pending: u32::try_from(pending).unwrap_or(u32::MAX),
    };
    let decision = decide(job, &readings, counts);
    status.active = Some(decision.active);
    outcome.active = Some(decision.active);
    status.running = counts.running;
    status.pending = counts.pending;
    let mut created = 0;
    if decision.create > 0 {
        let owner = cluster.map(|c| crate::kube::owner_reference(&job.name, &c.uid));
        let names = create_jobs(ctx, job, owner.as_ref(), &subject, decision.create, status).await;
        created = u32::try_from(names.len()).unwrap_or(u32::MAX);
        memory.created_total += u64::from(created);
        let at = tokio::time::Instant::now();
        for name in names {
            let listed = ListedJob {
                name: name.clone(),
                phase: JobPhase::Pending,
                revision: Some(job.template_revision()),
                finished_at: None,
                created_at: None,
                owners: cluster.map(|c| c.uid.clone()).into_iter().collect(),
            };
            memory.unseen_created.insert(name, (at, listed));
        }
    }
    info!(
        create = decision.create,
        created,
        running = counts.running,
        pending = counts.pending,
        reason = %decision.reason,
        explanation = %decision.explanation,
        "polled"
    );
    status.running += created;
    status.pending += created;
    status.created_total = memory.created_total;
    status.decision = Some(JobDecisionStatus {
        reason_code: decision.reason.code().to_owned(),
        explanation: decision.explanation.clone(),
        queue_length: decision.queue_length,
        max_scale: decision.max_scale,
        create: decision.create,
        created,
    });
    clean_history(ctx, job, &jobs, status, &mut memory.unseen_deleted).await;
    outcome
}

/// The running Jobs among `jobs` that count as pending by their pods
/// ([`scalers_core::job::job_pending`]), when `job` reads pods
/// ([`scalers_core::job::reads_pods`]) and there is a cluster; `None` otherwise (the Jobs'
/// status tells).
async fn pending_by_pods(
    ctx: &JobContext,
    job: &ScaledJob,
    jobs: &[ListedJob],
) -> Option<Result<usize, crate::kube::KubeError>> {
    let client = ctx.client.as_ref()?;
    if !scalers_core::job::reads_pods(job) {
        return None;
    }
    let running: Vec<&str> = jobs
        .iter()
        .filter(|j| !j.phase.finished())
        .map(|j| j.name.as_str())
        .collect();
    let conditions = &job.scaling_strategy.pending_pod_conditions;
    Some(client.pods_of(&job.namespace, &running).await.map(|pods| {
        running
            .iter()
            .filter(|name| {
                let of_job = pods.get(**name).map_or(&[][..], Vec::as_slice);
                scalers_core::job::job_pending(of_job, conditions)
            })
            .count()
    }))
}

/// Creates `count` Jobs one by one; returns the names of those created (none in a dry run).
/// The first refusal ends the poll's creations and is reported.
async fn create_jobs(
    ctx: &JobContext,
    job: &ScaledJob,
    owner: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    subject: &ScaledObject,
    count: u32,
    status: &mut JobStatus,
) -> Vec<String> {
    let Some(client) = ctx.client.as_ref().filter(|_| !ctx.dry_run) else {
        info!(count, "dry run: would create Jobs");
        return Vec::new();
    };
    let labels = crate::daemon::metrics::JobLabels {
        namespace: crate::daemon::metrics::label(&job.namespace),
        scaled_job: crate::daemon::metrics::label(&job.name),
    };
    let mut created = Vec::new();
    for _ in 0..count {
        match client.create(job, owner).await {
            Ok(name) => {
                info!(job = %name, "created a Job");
                ctx.metrics.jobs_created.get_or_create(&labels).inc();
                created.push(name);
            }
            Err(e) => {
                let message = e.to_string();
                warn!(error = %message, "cannot create a Job");
                ctx.metrics.job_create_failures.get_or_create(&labels).inc();
                ctx.events.emit(
                    subject,
                    &Event::JobCreateFailed {
                        message: message.clone(),
                    },
                );
                status.last_error = Some(message);
                break;
            }
        }
    }
    if !created.is_empty() {
        let count = u32::try_from(created.len()).unwrap_or(u32::MAX);
        ctx.events.emit(subject, &Event::JobsCreated { count });
    }
    created
}

/// The rollout of strategy `default`: deletes every Job of another template revision (or of
/// none), with the scaled job's propagation policy; returns the Jobs left.
async fn roll_out(
    ctx: &JobContext,
    job: &ScaledJob,
    jobs: Vec<ListedJob>,
    status: &mut JobStatus,
    deleted: &mut BTreeMap<String, tokio::time::Instant>,
) -> Vec<ListedJob> {
    let revision = job.template_revision();
    let (old, current): (Vec<ListedJob>, Vec<ListedJob>) = jobs
        .into_iter()
        .partition(|j| j.revision.as_deref() != Some(revision.as_str()));
    if old.is_empty() {
        return current;
    }
    info!(
        jobs = old.len(),
        "template changed: deleting the Jobs of the old one"
    );
    let mut kept = current;
    for (i, j) in old.iter().enumerate() {
        if let Err(e) = delete(ctx, job, &j.name, job.rollout.propagation_policy).await {
            warn!(job = %j.name, error = %e, "rollout: cannot delete a Job");
            status.last_error = Some(e);
            // The rest stay counted, as they still run.
            kept.extend(old[i..].iter().cloned());
            break;
        }
        deleted.insert(j.name.clone(), tokio::time::Instant::now());
    }
    kept
}

/// Deletes Job `name` (only logged in a dry run).
async fn delete(
    ctx: &JobContext,
    job: &ScaledJob,
    name: &str,
    policy: PropagationPolicy,
) -> Result<(), String> {
    let Some(client) = ctx.client.as_ref().filter(|_| !ctx.dry_run) else {
        info!(job = %name, "dry run: would delete a Job");
        return Ok(());
    };
    client
        .delete(&job.namespace, name, policy)
        .await
        .map(|()| info!(job = %name, policy = policy.api_value(), "deleted a Job"))
        .map_err(|e| e.to_string())
}

/// Deletes the oldest finished Jobs beyond the history limits (Background, as KEDA); the
/// first failure ends the cleanup.
async fn clean_history(
    ctx: &JobContext,
    job: &ScaledJob,
    jobs: &[ListedJob],
    status: &mut JobStatus,
    deleted: &mut BTreeMap<String, tokio::time::Instant>,
) {
    let finished = |phase: JobPhase| {
        let mut list: Vec<&ListedJob> = jobs.iter().filter(|j| j.phase == phase).collect();
        list.sort_by(|a, b| {
            (&a.finished_at, &a.created_at, &a.name).cmp(&(&b.finished_at, &b.created_at, &b.name))
        });
        list
    };
    let mut kept = [0usize; 2];
    for (slot, (phase, limit)) in [
        (JobPhase::Succeeded, job.successful_jobs_history_limit),
        (JobPhase::Failed, job.failed_jobs_history_limit),
    ]
    .into_iter()
    .enumerate()
    {
        let list = finished(phase);
        let excess = list.len().saturating_sub(limit as usize);
        kept[slot] = list.len();
        for j in &list[..excess] {
            if let Err(e) = delete(ctx, job, &j.name, PropagationPolicy::Background).await {
                warn!(job = %j.name, error = %e, "history: cannot delete a finished Job");
                status.last_error = Some(e);
                break;
            }
            deleted.insert(j.name.clone(), tokio::time::Instant::now());
            kept[slot] -= 1;
        }
    }
    status.succeeded = u32::try_from(kept[0]).unwrap_or(u32::MAX);
    status.failed = u32::try_from(kept[1]).unwrap_or(u32::MAX);
}
