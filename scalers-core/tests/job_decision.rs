//! The ScaledJob decision, case by case: one table per strategy and one for combining
//! triggers; each case names the rule of `scalers_core::job` it checks.

use scalers_core::config::{JobScalingStrategy, MultipleScalersCalculation, ScaledJob};
use scalers_core::job::{
    JobCounts, JobPod, JobReading, JobReason, decide, job_pending, reads_pods,
};

/// A scaled job of `max` Jobs at most and `min` at least, with `strategy`.
fn job(strategy: JobScalingStrategy, min: u32, max: u32) -> ScaledJob {
    let template =
        serde_norway::from_str("{template: {spec: {containers: [{name: worker}]}}}").unwrap();
    let mut job = ScaledJob::new("worker", template);
    job.min_replica_count = min;
    job.max_replica_count = max;
    job.scaling_strategy.strategy = strategy;
    job
}

/// An active reading of `queue` items, `target` per Job (inactive when `queue` is 0).
fn reading(queue: f64, target: f64) -> Option<JobReading> {
    Some(JobReading {
        queue_length: queue,
        target,
        active: queue > 0.0,
    })
}

/// One case: the rule it checks, the scaled job, the readings, the Jobs running and pending,
/// and the Jobs created.
struct Case {
    rule: &'static str,
    job: ScaledJob,
    readings: Vec<Option<JobReading>>,
    running: u32,
    pending: u32,
    create: u32,
    reason: JobReason,
}

fn run(cases: Vec<Case>) {
    for (i, c) in cases.into_iter().enumerate() {
        let counts = JobCounts {
            running: c.running,
            pending: c.pending,
        };
        let d = decide(&c.job, &c.readings, counts);
        assert_eq!(
            (d.create, d.reason),
            (c.create, c.reason),
            "case {i} (rule {}): {}",
            c.rule,
            d.explanation
        );
    }
}

use JobReason::{BelowMinimum, Inactive, NoRoom, Scaled, TriggerError};
use JobScalingStrategy::{Accurate, Custom, Default, Eager};

#[test]
#[rustfmt::skip]
fn default_strategy_creates_max_scale_minus_running() {
    let d = |min, max| job(Default, min, max);
    run(vec![
        // 3 items, one per Job, none running: 3 Jobs.
        Case { rule: "default", job: d(0, 100), readings: vec![reading(3.0, 1.0)], running: 0, pending: 0, create: 3, reason: Scaled },
        // The same 3 items while their 3 Jobs run: nothing more.
        Case { rule: "default", job: d(0, 100), readings: vec![reading(3.0, 1.0)], running: 3, pending: 3, create: 0, reason: NoRoom },
        // 10 items, at most 5 Jobs.
        Case { rule: "max-scale", job: d(0, 5), readings: vec![reading(10.0, 1.0)], running: 0, pending: 0, create: 5, reason: Scaled },
        Case { rule: "max-scale", job: d(0, 5), readings: vec![reading(10.0, 1.0)], running: 5, pending: 0, create: 0, reason: NoRoom },
        Case { rule: "max-scale", job: d(0, 5), readings: vec![reading(10.0, 1.0)], running: 2, pending: 0, create: 3, reason: Scaled },
        // 5 items, 2 per Job: scale 2.5, rounded up.
        Case { rule: "per-trigger", job: d(0, 100), readings: vec![reading(5.0, 2.0)], running: 0, pending: 0, create: 3, reason: Scaled },
        // Scale 5 (0.5 / 0.1), but scaleTo = ceil(0.5) = 1 caps what one poll creates.
        Case { rule: "scale-to", job: d(0, 100), readings: vec![reading(0.5, 0.1)], running: 0, pending: 0, create: 1, reason: Scaled },
        // A target of 0 gives no scale.
        Case { rule: "per-trigger", job: d(0, 100), readings: vec![reading(4.0, 0.0)], running: 0, pending: 0, create: 0, reason: NoRoom },
        // Fewer than min running: the missing ones, active or not.
        Case { rule: "min", job: d(2, 10), readings: vec![reading(0.0, 1.0)], running: 0, pending: 0, create: 2, reason: BelowMinimum },
        Case { rule: "min", job: d(2, 10), readings: vec![reading(0.0, 1.0)], running: 2, pending: 0, create: 0, reason: Inactive },
        // min 2, max 5: room 3 beyond the minimum.
        Case { rule: "min", job: d(2, 5), readings: vec![reading(10.0, 1.0)], running: 2, pending: 0, create: 3, reason: Scaled },
        // min above max is lowered to max.
        Case { rule: "min", job: d(7, 4), readings: vec![reading(0.0, 1.0)], running: 0, pending: 0, create: 4, reason: BelowMinimum },
        // Nothing waits.
        Case { rule: "create", job: d(0, 100), readings: vec![reading(0.0, 1.0)], running: 0, pending: 0, create: 0, reason: Inactive },
        // A failing trigger: no Job, even with another trigger asking for some.
        Case { rule: "trigger-error", job: d(0, 100), readings: vec![reading(9.0, 1.0), None], running: 0, pending: 0, create: 0, reason: TriggerError },
        Case { rule: "trigger-error", job: d(2, 10), readings: vec![None], running: 0, pending: 0, create: 0, reason: TriggerError },
    ]);
}

#[test]
#[rustfmt::skip]
fn custom_strategy_deducts_a_constant_and_a_share_of_the_running_jobs() {
    let c = |deduction, pct| {
        let mut j = job(Custom, 0, 10);
        j.scaling_strategy.custom_scaling_queue_length_deduction = deduction;
        j.scaling_strategy.custom_scaling_running_job_percentage = pct;
        j
    };
    run(vec![
        // min(10 - 1 - trunc(4 x 0.5), 10) = 7 (default would give 10 - 4 = 6).
        Case { rule: "custom", job: c(Some(1), Some(0.5)), readings: vec![reading(10.0, 1.0)], running: 4, pending: 0, create: 7, reason: Scaled },
        // trunc(3 x 0.5) = 1: min(10 - 0 - 1, 10) = 9, capped by scaleTo = 10.
        Case { rule: "custom", job: c(None, Some(0.5)), readings: vec![reading(10.0, 1.0)], running: 3, pending: 0, create: 9, reason: Scaled },
        // A negative deduction adds Jobs, still within the room and scaleTo.
        Case { rule: "custom", job: c(Some(-3), Some(1.0)), readings: vec![reading(4.0, 1.0)], running: 2, pending: 0, create: 4, reason: Scaled },
        // The deduction eats the whole scale.
        Case { rule: "custom", job: c(Some(5), Some(0.0)), readings: vec![reading(3.0, 1.0)], running: 0, pending: 0, create: 0, reason: NoRoom },
        // Without the percentage, custom is default: 10 - 4.
        Case { rule: "custom", job: c(Some(1), None), readings: vec![reading(10.0, 1.0)], running: 4, pending: 0, create: 6, reason: Scaled },
    ]);
}

#[test]
#[rustfmt::skip]
fn accurate_strategy_counts_pending_jobs() {
    let a = || job(Accurate, 0, 10);
    run(vec![
        // 3 + 4 - 1 <= 10: maxScale - pending = 3 - 1 = 2 (default: 3 - 4 < 0, none).
        Case { rule: "accurate", job: a(), readings: vec![reading(3.0, 1.0)], running: 4, pending: 1, create: 2, reason: Scaled },
        // 8 + 4 - 0 > 10: the room left, 10 - 4 = 6.
        Case { rule: "accurate", job: a(), readings: vec![reading(8.0, 1.0)], running: 4, pending: 0, create: 6, reason: Scaled },
        // Every waiting item already has a pending Job.
        Case { rule: "accurate", job: a(), readings: vec![reading(2.0, 1.0)], running: 2, pending: 2, create: 0, reason: NoRoom },
        Case { rule: "accurate", job: a(), readings: vec![reading(3.0, 1.0)], running: 0, pending: 0, create: 3, reason: Scaled },
    ]);
}

#[test]
#[rustfmt::skip]
fn eager_strategy_fills_the_free_slots() {
    let e = || job(Eager, 0, 10);
    run(vec![
        // min(10 - 4 - 1, 3) = 3 (default 0, custom 50% 1, accurate 2 on this case).
        Case { rule: "eager", job: e(), readings: vec![reading(3.0, 1.0)], running: 4, pending: 1, create: 3, reason: Scaled },
        // scaleTo is the room, not ceil(queue): 1 item at 0.1 per Job, scale 10, creates 10
        // (default creates ceil(1) = 1).
        Case { rule: "eager", job: e(), readings: vec![reading(1.0, 0.1)], running: 0, pending: 0, create: 10, reason: Scaled },
        // No free slot.
        Case { rule: "eager", job: e(), readings: vec![reading(9.0, 1.0)], running: 8, pending: 2, create: 0, reason: NoRoom },
    ]);
}

#[test]
fn the_strategies_differ_on_one_scenario() {
    // 3 items wait, 4 Jobs run, 1 of them pending, at most 10.
    let counts = JobCounts {
        running: 4,
        pending: 1,
    };
    let mut created = Vec::new();
    for strategy in [Default, Custom, Accurate, Eager] {
        let mut j = job(strategy, 0, 10);
        j.scaling_strategy.custom_scaling_running_job_percentage = Some(0.5);
        created.push(decide(&j, &[reading(3.0, 1.0)], counts).create);
    }
    assert_eq!(created, [0, 1, 2, 3]);
}

#[test]
#[rustfmt::skip]
fn several_triggers_combine_per_multiple_scalers_calculation() {
    let with = |how| {
        let mut j = job(Default, 0, 100);
        j.scaling_strategy.multiple_scalers_calculation = how;
        j
    };
    use MultipleScalersCalculation::{Avg, Max, Min, Sum};
    let inactive = |queue| {
        Some(JobReading {
            queue_length: queue,
            target: 1.0,
            active: false,
        })
    };
    let empty_active = Some(JobReading {
        queue_length: 0.0,
        target: 1.0,
        active: true,
    });
    run(vec![
        Case { rule: "combine-max", job: with(Max), readings: vec![reading(3.0, 1.0), reading(7.0, 1.0)], running: 0, pending: 0, create: 7, reason: Scaled },
        // Equal queues: the first trigger's scale (5 / 1), not the second's (5 / 5).
        Case { rule: "combine-max", job: with(Max), readings: vec![reading(5.0, 1.0), reading(5.0, 5.0)], running: 0, pending: 0, create: 5, reason: Scaled },
        Case { rule: "combine-max", job: with(Max), readings: vec![reading(5.0, 5.0), reading(5.0, 1.0)], running: 0, pending: 0, create: 1, reason: Scaled },
        // An inactive trigger does not count, whatever its value.
        Case { rule: "combine-max", job: with(Max), readings: vec![reading(3.0, 1.0), inactive(9.0)], running: 0, pending: 0, create: 3, reason: Scaled },
        Case { rule: "combine-min", job: with(Min), readings: vec![reading(7.0, 1.0), reading(3.0, 1.0)], running: 0, pending: 0, create: 3, reason: Scaled },
        // The first one taken has an empty queue (active below a negative threshold): a later
        // one replaces it; the other way round, the empty queue is smaller and wins.
        Case { rule: "combine-min", job: with(Min), readings: vec![empty_active, reading(4.0, 1.0)], running: 0, pending: 0, create: 4, reason: Scaled },
        Case { rule: "combine-min", job: with(Min), readings: vec![reading(4.0, 1.0), empty_active], running: 0, pending: 0, create: 0, reason: Inactive },
        Case { rule: "combine-avg", job: with(Avg), readings: vec![reading(2.0, 1.0), reading(6.0, 1.0)], running: 0, pending: 0, create: 4, reason: Scaled },
        Case { rule: "combine-sum", job: with(Sum), readings: vec![reading(2.0, 1.0), reading(6.0, 1.0)], running: 0, pending: 0, create: 8, reason: Scaled },
        Case { rule: "combine-sum", job: with(Sum), readings: vec![inactive(2.0), inactive(6.0)], running: 0, pending: 0, create: 0, reason: Inactive },
    ]);
}

#[test]
fn a_decision_explains_itself() {
    let mut j = job(Default, 0, 5);
    j.name = "worker".into();
    let d = decide(
        &j,
        &[reading(10.0, 1.0)],
        JobCounts {
            running: 2,
            pending: 0,
        },
    );
    assert_eq!(d.max_scale, 5);
    assert_eq!(d.allowed, 3);
    assert!(d.active);
    assert_eq!(
        d.explanation,
        "queue 10, maxScale 5; default: 5 - 2 running = 3; create 3"
    );
}

fn pod(phase: &str, true_conditions: &[&str]) -> JobPod {
    JobPod {
        phase: phase.to_owned(),
        true_conditions: true_conditions.iter().map(|c| (*c).to_owned()).collect(),
    }
}

#[test]
#[rustfmt::skip]
fn a_running_job_is_pending_until_a_pod_gets_far_enough() {
    let none: &[String] = &[];
    let ready = ["Ready".to_owned()];
    let two = ["Ready".to_owned(), "PodScheduled".to_owned()];
    // (rule `pending`, pods, pendingPodConditions, pending)
    let cases: Vec<(Vec<JobPod>, &[String], bool)> = vec![
        // Without conditions: a pod Running or Succeeded ends it, whatever its conditions.
        (vec![], none, true),
        (vec![pod("Pending", &["PodScheduled"])], none, true),
        (vec![pod("Running", &[])], none, false),
        (vec![pod("Failed", &[]), pod("Succeeded", &[])], none, false),
        (vec![pod("Failed", &["Ready"])], none, true),
        // With conditions: some one pod has all of them True, whatever its phase.
        (vec![pod("Running", &["PodScheduled"])], &ready, true),
        (vec![pod("Running", &["Ready"])], &ready, false),
        (vec![pod("Running", &["Ready"]), pod("Running", &["PodScheduled"])], &two, true),
        (vec![pod("Running", &["PodScheduled", "Ready"])], &two, false),
        (vec![], &ready, true),
    ];
    for (i, (pods, conditions, pending)) in cases.into_iter().enumerate() {
        assert_eq!(job_pending(&pods, conditions), pending, "case {i} (rule pending): {pods:?} {conditions:?}");
    }
}

#[test]
fn only_the_strategies_that_read_pending_jobs_need_the_pods() {
    for (strategy, conditions, reads) in [
        (Default, false, false),
        (Custom, false, false),
        (Accurate, false, true),
        (Eager, false, true),
        (Default, true, true),
    ] {
        let mut j = job(strategy, 0, 5);
        if conditions {
            j.scaling_strategy.pending_pod_conditions = vec!["Ready".into()];
        }
        assert_eq!(
            reads_pods(&j),
            reads,
            "{strategy:?}, conditions {conditions}"
        );
    }
}
