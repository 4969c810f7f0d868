//! The ScaledJob decision: how many Jobs to create this poll, and why.
//!
//! Pure and clock-free like [`crate::engine`]: the caller samples the triggers, counts the
//! Jobs (running, and pending among them) and passes them to [`decide`]; the daemon, `scalerd
//! simulate` and tests all go through it.
//!
//! The rules are KEDA's (its ScaledJob spec and scaling-jobs docs), in our words:
//!
//! 1. **Per trigger** (rule `per-trigger`): the queue length `ql` is the sampled value, the
//!    target `t` the trigger's target per Job; its scale is `ql / t` (0 when `t` is 0), at most
//!    the room `max − min`. Only active triggers (value above the activation threshold) count.
//! 2. **Several triggers** (rule `combine-*`), `multipleScalersCalculation`: `max` takes the
//!    trigger with the strictly greatest queue (the first of equals; a queue of 0 is never
//!    taken, so all-zero is inactive); `min` the first active one, replaced by a later one with
//!    a smaller queue or while the one taken has an empty queue; `avg` and `sum` the mean and
//!    the sum of the queues and of the scales. Active iff the combined queue is above 0.
//! 3. **Scale** (rule `max-scale`): `maxScale = ceil(min(scale, max − min))`; `scaleTo =
//!    ceil(ql)` bounds the Jobs created in one poll (rule `scale-to`).
//! 4. **Minimum** (rule `min`): with fewer than `minReplicaCount` Jobs running, create the
//!    missing ones, active or not. Otherwise `R = running − min`, and per strategy the Jobs
//!    that may be created, `E`:
//!    - `default` (rule `default`): `maxScale − R`;
//!    - `custom` (rule `custom`): `min(maxScale − deduction − trunc(R × percentage), max − min)`;
//!    - `accurate` (rule `accurate`): if `maxScale + R − pending > max − min` then
//!      `max − min − R`, else `maxScale − pending`;
//!    - `eager` (rule `eager`): `min(max − min − R − pending, maxScale)`, and `scaleTo` becomes
//!      `max − min` (it fills every free slot while items wait).
//!
//!    A negative `E` is 0. When active, `min(scaleTo, E)` Jobs are created (rule `create`);
//!    inactive, none.
//!
//! 5. **Pending** (rule `pending`): among the running Jobs, those none of whose pods has got
//!    far enough. With `pendingPodConditions`, a Job is pending unless some pod of it has every
//!    one of those conditions True; without, unless some pod of it is in phase `Running` or
//!    `Succeeded` ([`job_pending`]). Only `accurate` and `eager` read the pending count, so
//!    only they (and a scaled job that sets `pendingPodConditions`) need the pods
//!    ([`reads_pods`]).
//!
//! One deliberate difference: KEDA computes from the triggers that answered and skips a
//! failing one; scalerd creates no Job in a poll where any trigger failed (rule
//! `trigger-error`), because a failing trigger never reads as zero (or as its last value), and
//! Jobs once created cannot be taken back. Nothing is deleted either way.
//!
//! ```
//! use scalers_core::config::ScaledJob;
//! use scalers_core::job::{JobCounts, JobReading, decide};
//!
//! let template = serde_norway::from_str("{template: {spec: {containers: [{name: w}]}}}").unwrap();
//! let mut job = ScaledJob::new("worker", template);
//! job.max_replica_count = 5;
//! let reading = JobReading { queue_length: 10.0, target: 1.0, active: true };
//! let decision = decide(&job, &[Some(reading)], JobCounts { running: 2, pending: 0 });
//! assert_eq!(decision.create, 3); // maxScale 5, 2 running
//! ```

use std::fmt;

use crate::config::model::{JobScalingStrategy, MultipleScalersCalculation, ScaledJob};

/// One trigger's reading for a scaled job.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobReading {
    /// The items waiting (the trigger's value).
    pub queue_length: f64,
    /// Items one Job takes (the trigger's target).
    pub target: f64,
    /// Whether the trigger is active (value above its activation threshold).
    pub active: bool,
}

/// The Jobs of a scaled job that have not finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Jobs with no `Complete` or `Failed` condition.
    pub running: u32,
    /// Among `running`, those none of whose pods runs yet (or, with `pendingPodConditions`,
    /// none of whose pods has all of them True): see [`job_pending`].
    pub pending: u32,
}

/// One pod of a running Job, as the rule `pending` reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobPod {
    /// Its `status.phase`: `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// The types of its `status.conditions` whose status is `True` (`Ready`, `PodScheduled`).
    pub true_conditions: Vec<String>,
}

/// Whether a running Job whose pods are `pods` counts as pending (rule `pending`): with
/// `pending_pod_conditions` (KEDA's `scalingStrategy.pendingPodConditions`), unless some pod
/// has every one of them True; without, unless some pod is `Running` or `Succeeded`. A Job
/// without pods is pending.
///
/// ```
/// use scalers_core::job::{JobPod, job_pending};
///
/// let started = JobPod { phase: "Running".into(), true_conditions: vec!["PodScheduled".into()] };
/// assert!(!job_pending(&[started.clone()], &[]));
/// assert!(job_pending(&[started], &["Ready".to_owned()]));
/// assert!(job_pending(&[], &[]));
/// ```
pub fn job_pending(pods: &[JobPod], pending_pod_conditions: &[String]) -> bool {
    if pending_pod_conditions.is_empty() {
        !pods
            .iter()
            .any(|p| p.phase == "Running" || p.phase == "Succeeded")
    } else {
        !pods.iter().any(|p| {
            pending_pod_conditions
                .iter()
                .all(|c| p.true_conditions.contains(c))
        })
    }
}

/// Whether the pending count of `job` is read from its Jobs' pods: when its strategy reads
/// it (`accurate`, `eager`) or it sets `pendingPodConditions`. The other strategies do not
/// depend on it; their pending count, shown in the status only, comes from the Jobs' status.
pub fn reads_pods(job: &ScaledJob) -> bool {
    !job.scaling_strategy.pending_pod_conditions.is_empty()
        || matches!(
            job.scaling_strategy.strategy,
            JobScalingStrategy::Accurate | JobScalingStrategy::Eager
        )
}

/// Why a poll creates the Jobs it creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobReason {
    /// Fewer Jobs run than `minReplicaCount`: the missing ones are created.
    BelowMinimum,
    /// Items wait and there is room: Jobs are created.
    Scaled,
    /// Items wait, but the strategy leaves no room (enough Jobs run).
    NoRoom,
    /// No trigger is active: nothing to do.
    Inactive,
    /// A trigger failed: no Job is created this poll.
    TriggerError,
}

impl JobReason {
    /// A short code, for traces and status: `below-min`, `scaled`, `no-room`, `inactive`,
    /// `trigger-error`.
    pub fn code(self) -> &'static str {
        match self {
            JobReason::BelowMinimum => "below-min",
            JobReason::Scaled => "scaled",
            JobReason::NoRoom => "no-room",
            JobReason::Inactive => "inactive",
            JobReason::TriggerError => "trigger-error",
        }
    }
}

impl fmt::Display for JobReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What one poll of a scaled job decides.
#[derive(Clone, Debug, PartialEq)]
pub struct JobDecision {
    /// Jobs to create now.
    pub create: u32,
    /// Whether the scaled job is active (KEDA's `Active` condition).
    pub active: bool,
    /// The combined queue length.
    pub queue_length: f64,
    /// The combined scale, `maxScale`.
    pub max_scale: u64,
    /// The Jobs the strategy allows before `scaleTo` (`E`), never negative.
    pub allowed: u64,
    /// The Jobs counted.
    pub counts: JobCounts,
    /// Why.
    pub reason: JobReason,
    /// The computation in words: `queue 10, maxScale 5; default: 5 - 2 running = 3; create 3`.
    pub explanation: String,
}

/// The combined reading of the active triggers (rule `combine-*`): queue length, scale, and
/// whether anything counts.
fn combine(
    how: MultipleScalersCalculation,
    readings: &[JobReading],
    room: f64,
) -> Option<(f64, f64)> {
    let scale = |r: &JobReading| {
        if r.target == 0.0 {
            0.0
        } else {
            (r.queue_length / r.target).min(room)
        }
    };
    let active: Vec<(f64, f64)> = readings
        .iter()
        .filter(|r| r.active)
        .map(|r| (r.queue_length, scale(r)))
        .collect();
    let combined = match how {
        MultipleScalersCalculation::Max => {
            let mut best: Option<(f64, f64)> = None;
            for &(ql, s) in &active {
                if ql > best.map_or(0.0, |b| b.0) {
                    best = Some((ql, s));
                }
            }
            best?
        }
        MultipleScalersCalculation::Min => {
            let mut taken: Option<(f64, f64)> = None;
            for &(ql, s) in &active {
                if taken.is_none_or(|t| t.0 == 0.0 || ql < t.0) {
                    taken = Some((ql, s));
                }
            }
            taken?
        }
        MultipleScalersCalculation::Sum | MultipleScalersCalculation::Avg => {
            if active.is_empty() {
                return None;
            }
            let ql: f64 = active.iter().map(|a| a.0).sum();
            let s: f64 = active.iter().map(|a| a.1).sum();
            if how == MultipleScalersCalculation::Avg {
                let n = active.len() as f64;
                (ql / n, s / n)
            } else {
                (ql, s)
            }
        }
    };
    (combined.0 > 0.0).then_some(combined)
}

/// Decides one poll of `job` from its triggers' readings (`None` for a trigger whose sample
/// failed) and its unfinished Jobs. See the [module documentation](self) for the rules.
pub fn decide(job: &ScaledJob, readings: &[Option<JobReading>], counts: JobCounts) -> JobDecision {
    let (min, max) = job.bounds();
    let room = u64::from(max - min);
    let running = u64::from(counts.running);
    let pending = u64::from(counts.pending.min(counts.running));
    let mut decision = JobDecision {
        create: 0,
        active: false,
        queue_length: 0.0,
        max_scale: 0,
        allowed: 0,
        counts,
        reason: JobReason::Inactive,
        explanation: String::new(),
    };
    if readings.iter().any(Option::is_none) {
        let failed = readings.iter().filter(|r| r.is_none()).count();
        decision.reason = JobReason::TriggerError;
        decision.explanation = format!("{failed} trigger(s) failed; no Job created");
        return decision;
    }
    let readings: Vec<JobReading> = readings.iter().flatten().copied().collect();
    let how = job.scaling_strategy.multiple_scalers_calculation;
    let (queue_length, scale) = combine(how, &readings, room as f64).unwrap_or((0.0, 0.0));
    decision.active = queue_length > 0.0;
    decision.queue_length = queue_length;
    let max_scale = ceil_u64(scale.min(room as f64));
    decision.max_scale = max_scale;
    if running < u64::from(min) {
        let missing = u64::from(min) - running;
        decision.create = saturating_u32(missing);
        decision.allowed = missing;
        decision.reason = JobReason::BelowMinimum;
        decision.explanation = format!(
            "{running} running < minReplicaCount {min}; create {}",
            decision.create
        );
        return decision;
    }
    let r = running - u64::from(min);
    let mut scale_to = ceil_u64(queue_length);
    let strategy = job.scaling_strategy.strategy;
    let percentage = job.scaling_strategy.custom_scaling_running_job_percentage;
    let (allowed, how_text): (i128, String) = match (strategy, percentage) {
        (JobScalingStrategy::Custom, Some(pct)) => {
            let deduction = job
                .scaling_strategy
                .custom_scaling_queue_length_deduction
                .unwrap_or(0);
            let share = (r as f64 * pct).trunc() as i128;
            let e = (i128::from(max_scale) - i128::from(deduction) - share).min(i128::from(room));
            (
                e,
                format!(
                    "custom: min({max_scale} - {deduction} - trunc({r} x {pct}), {room}) = {e}"
                ),
            )
        }
        (JobScalingStrategy::Accurate, _) => {
            let (ms, r, p, room) = (
                i128::from(max_scale),
                i128::from(r),
                i128::from(pending),
                i128::from(room),
            );
            if ms + r - p > room {
                (
                    room - r,
                    format!("accurate: {ms} + {r} - {p} pending > {room}: {room} - {r}"),
                )
            } else {
                (ms - p, format!("accurate: {ms} - {p} pending = {}", ms - p))
            }
        }
        (JobScalingStrategy::Eager, _) => {
            scale_to = room;
            let e =
                (i128::from(room) - i128::from(r) - i128::from(pending)).min(i128::from(max_scale));
            (
                e,
                format!("eager: min({room} - {r} - {pending} pending, {max_scale}) = {e}"),
            )
        }
        // `custom` without its percentage is `default`, as in KEDA.
        _ => {
            let e = i128::from(max_scale) - i128::from(r);
            (e, format!("default: {max_scale} - {r} running = {e}"))
        }
    };
    let allowed = u64::try_from(allowed.max(0)).unwrap_or(u64::MAX);
    decision.allowed = allowed;
    if !decision.active {
        decision.reason = JobReason::Inactive;
        decision.explanation = format!("queue {queue_length}: no trigger active; create 0");
        return decision;
    }
    let create = scale_to.min(allowed);
    decision.create = saturating_u32(create);
    decision.reason = if create > 0 {
        JobReason::Scaled
    } else {
        JobReason::NoRoom
    };
    decision.explanation = format!(
        "queue {queue_length}, maxScale {max_scale}; {how_text}; create {}",
        decision.create
    );
    decision
}

/// `ceil(x)` as a whole number (0 for negative or NaN values).
fn ceil_u64(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        // Saturates at u64::MAX for huge values (an `as` cast of a float does).
        x.ceil() as u64
    }
}

/// `n` as a `u32`, saturating.
fn saturating_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
