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
    /// Whether this instance may write (leader election); loops idle while false.
    pub leading: watch::Receiver<bool>,
    /// The clock.
    pub clock: Clock,
    /// Longest time a trigger sample may take.
    pub sample_timeout: Duration,
    /// Whether writes are only logged.
    pub dry_run: bool,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// The running loops of the scaled jobs, by `namespace/name`.
#[derive(Debug)]
pub struct JobLoops {
    ctx: Arc<JobContext>,
    running: BTreeMap<String, JobLoop>,
}

#[derive(Debug)]
struct JobLoop {
    config: watch::Sender<ValidatedJob>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl JobLoops {
    /// No loops yet.
    pub fn new(ctx: JobContext) -> Self {
        JobLoops {
            ctx: Arc::new(ctx),
            running: BTreeMap::new(),
        }
    }

    /// How many loops run.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether no loop runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Brings the loops in line with `jobs`: stops the removed ones, hands the kept ones their
    /// new version (a changed one rolls out at its next poll) and starts the new ones.
    pub async fn apply(&mut self, jobs: Vec<ValidatedJob>) {
        let mut wanted: BTreeMap<String, ValidatedJob> =
            jobs.into_iter().map(|j| (j.job.key(), j)).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(l) = self.running.remove(&key) {
                info!(scaled_job = %key, "stopping");
                let _ = l.stop.send(true);
                let _ = l.task.await;
                self.ctx.status.remove_job(&key);
            }
        }
        for (key, job) in std::mem::take(&mut wanted) {
            match self.running.get(&key) {
                Some(l) => {
                    let changed = l.config.borrow().job != job.job;
                    if changed {
                        l.config.send_replace(job);
                    }
                }
                None => {
                    let (config, config_rx) = watch::channel(job);
                    let (stop, stop_rx) = watch::channel(false);
                    let span = info_span!("scaled_job", scaled_job = %key);
                    let task =
                        tokio::spawn(run(self.ctx.clone(), config_rx, stop_rx).instrument(span));
                    self.running.insert(key, JobLoop { config, stop, task });
                }
            }
        }
    }

    /// Stops every loop, waiting for each to end its poll.
    pub async fn stop(self) {
        for l in self.running.values() {
            let _ = l.stop.send(true);
        }
        for (_, l) in self.running {
            let _ = l.task.await;
        }
    }
}

/// What a loop remembers between polls.
#[derive(Debug, Default)]
struct Memory {
    created_total: u64,
    /// Triggers failing at the last poll (an Event when one starts failing).
    failing: BTreeSet<String>,
}

/// One scaled job's loop until `stop`.
async fn run(
    ctx: Arc<JobContext>,
    mut config: watch::Receiver<ValidatedJob>,
    mut stop: watch::Receiver<bool>,
) {
    let mut memory = Memory::default();
    let mut rollout_due = true;
    let mut leading = ctx.leading.clone();
    let mut leading_open = true;
    loop {
        let job = config.borrow_and_update().clone();
        let key = job.job.key();
        let mut status = ctx.status.job(&key).unwrap_or_else(|| JobStatus {
            scaled_job: key.clone(),
            ..JobStatus::default()
        });
        status.paused = job.job.paused;
        if job.job.paused {
            status.state = LoopState::Running;
            ctx.status.set_job(status);
        } else if !*leading.borrow() {
            status.state = LoopState::Standby;
            ctx.status.set_job(status);
        } else {
            poll(&ctx, &job, &mut memory, rollout_due, &mut status).await;
            rollout_due = false;
            status.state = LoopState::Running;
            ctx.status.set_job(status);
        }
        let sleep = tokio::time::sleep(job.job.polling_period());
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

/// One poll: sample, count, roll out, decide, create, clean up; `status` gets what it saw.
async fn poll(
    ctx: &JobContext,
    validated: &ValidatedJob,
    memory: &mut Memory,
    rollout_due: bool,
    status: &mut JobStatus,
) {
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
    let mut jobs: Vec<ListedJob> = match &ctx.client {
        None => Vec::new(),
        Some(client) => match client.list(job).await {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(error = %e, "cannot list the Jobs: none created");
                status.last_error = Some(e.to_string());
                return;
            }
        },
    };
    if rollout_due && job.rollout.strategy == RolloutStrategy::Default {
        jobs = roll_out(ctx, job, jobs, status).await;
    }
    let running = jobs.iter().filter(|j| !j.phase.finished()).count();
    let pending = jobs.iter().filter(|j| j.phase == JobPhase::Pending).count();
    let counts = JobCounts {
        running: u32::try_from(running).unwrap_or(u32::MAX),
        pending: u32::try_from(pending).unwrap_or(u32::MAX),
    };
    let decision = decide(job, &readings, counts);
    status.active = Some(decision.active);
    status.running = counts.running;
    status.pending = counts.pending;
    let mut created = 0;
    if decision.create > 0 {
        created = create_jobs(ctx, job, &subject, decision.create, status).await;
        memory.created_total += u64::from(created);
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
    clean_history(ctx, job, &jobs, status).await;
}

/// Creates `count` Jobs one by one; returns how many were created (0 in a dry run). The first
/// refusal ends the poll's creations and is reported.
async fn create_jobs(
    ctx: &JobContext,
    job: &ScaledJob,
    subject: &ScaledObject,
    count: u32,
    status: &mut JobStatus,
) -> u32 {
    let Some(client) = ctx.client.as_ref().filter(|_| !ctx.dry_run) else {
        info!(count, "dry run: would create Jobs");
        return 0;
    };
    let mut created = 0;
    for _ in 0..count {
        match client.create(job, None).await {
            Ok(name) => {
                info!(job = %name, "created a Job");
                created += 1;
            }
            Err(e) => {
                let message = e.to_string();
                warn!(error = %message, "cannot create a Job");
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
    if created > 0 {
        ctx.events
            .emit(subject, &Event::JobsCreated { count: created });
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
            kept[slot] -= 1;
        }
    }
    status.succeeded = u32::try_from(kept[0]).unwrap_or(u32::MAX);
    status.failed = u32::try_from(kept[1]).unwrap_or(u32::MAX);
}
