//! Named scenarios for every rule of the decision engine, with explicit timestamps.

use scalers_core::Timestamp;
use scalers_core::config::model::*;
use scalers_core::engine::behavior::{Limit, Stabilization};
use scalers_core::engine::{
    Decision, Engine, Phase, Reading, Reason, Replicas, Scaling, TriggerInfo,
};
use scalers_core::trigger::{MetricTarget, Sample, TriggerErrorKind};

fn trigger(name: &str, target: f64, activation: f64, metric_type: MetricType) -> TriggerInfo {
    TriggerInfo {
        name: name.to_owned(),
        target: MetricTarget {
            value: target,
            metric_type,
            activation_threshold: activation,
        },
    }
}

/// A queue trigger: AverageValue, 10 per replica, active above 0.
fn queue() -> TriggerInfo {
    trigger("queue", 10.0, 0.0, MetricType::AverageValue)
}

fn object() -> ScaledObject {
    let mut o = ScaledObject::new("worker", "worker");
    o.triggers.push(TriggerSpec::new("prometheus"));
    o
}

fn with_behavior(mut o: ScaledObject, b: Behavior) -> ScaledObject {
    o.advanced.horizontal_pod_autoscaler_config = Some(HorizontalPodAutoscalerConfig {
        name: None,
        behavior: Some(b),
    });
    o
}

/// Drives an engine tick by tick, applying each decision like the daemon does.
struct Harness {
    engine: Engine,
    triggers: Vec<TriggerInfo>,
    replicas: u32,
}

impl Harness {
    fn new(o: &ScaledObject, triggers: Vec<TriggerInfo>, replicas: u32) -> Self {
        Harness {
            engine: Engine::new(o, triggers.clone(), Timestamp::ZERO).unwrap(),
            triggers,
            replicas,
        }
    }

    /// One tick at `secs` with these values (`None` = the trigger failed).
    fn tick(&mut self, secs: u64, values: &[Option<f64>]) -> Decision {
        self.tick_with(secs, Replicas::settled(self.replicas), values)
    }

    fn tick_with(&mut self, secs: u64, replicas: Replicas, values: &[Option<f64>]) -> Decision {
        let readings: Vec<Reading> = values
            .iter()
            .zip(&self.triggers)
            .map(|(v, t)| match v {
                Some(v) => Ok(Sample::new(*v, t.target.activation_threshold)),
                None => Err(TriggerErrorKind::Unavailable),
            })
            .collect();
        let d = self
            .engine
            .evaluate(Timestamp::from_secs(secs), replicas, &readings);
        self.engine.applied(&d);
        self.replicas = d.desired;
        d
    }
}

fn scaling(d: &Decision) -> &Scaling {
    match &d.reason {
        Reason::Scaling(s) => s,
        other => panic!("expected a scaling decision, got {other:?}"),
    }
}

// ---------------------------------------------------------------- activation phase

#[test]
fn scales_from_zero_to_one_when_a_trigger_becomes_active() {
    let mut h = Harness::new(&object(), vec![queue()], 0);
    let d = h.tick(0, &[Some(50.0)]);
    assert_eq!((d.desired, d.active, d.phase), (1, true, Phase::Activation));
    assert_eq!(
        d.reason,
        Reason::Activated {
            by: vec!["queue".into()]
        }
    );
    assert_eq!(d.reason.to_string(), "activated by queue");
    // Next tick the HPA phase takes over: ceil(50/10) = 5, legacy limit max(2×1, 4) = 4.
    let d = h.tick(30, &[Some(50.0)]);
    assert_eq!(d.desired, 4);
    assert_eq!(scaling(&d).limit, Limit::ScaleUpLimit);
    let d = h.tick(60, &[Some(50.0)]);
    assert_eq!(d.desired, 5);
}

#[test]
fn activation_goes_to_min_replica_count_when_it_is_above_one() {
    let mut o = object();
    o.min_replica_count = 3;
    o.idle_replica_count = Some(0);
    let mut h = Harness::new(&o, vec![queue()], 0);
    assert_eq!(h.tick(0, &[Some(1.0)]).desired, 3);
}

#[test]
fn activity_is_strictly_above_the_activation_threshold() {
    let mut h = Harness::new(
        &object(),
        vec![trigger("q", 10.0, 5.0, MetricType::AverageValue)],
        0,
    );
    let d = h.tick(0, &[Some(5.0)]);
    assert_eq!(
        (d.desired, d.active, d.reason.clone()),
        (0, false, Reason::Idle)
    );
    let d = h.tick(30, &[Some(5.001)]);
    assert_eq!((d.desired, d.active), (1, true));
}

#[test]
fn scales_to_zero_only_after_the_cooldown_since_last_activity() {
    let mut o = object();
    o.cooldown_period = 300;
    let mut h = Harness::new(&o, vec![queue()], 2);
    h.tick(0, &[Some(20.0)]); // active at t=0
    // Inactive from t=30: the HPA phase keeps running (min 1) during the cooldown.
    let d = h.tick(30, &[Some(0.0)]);
    assert_eq!(d.phase, Phase::Scaling);
    // At exactly lastActive + cooldown it has not elapsed yet (strictly after, as KEDA).
    let d = h.tick(300, &[Some(0.0)]);
    assert_ne!(d.reason, Reason::Deactivated);
    let d = h.tick(301, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason.clone()), (0, Reason::Deactivated));
    // and stays there
    let d = h.tick(331, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason.clone()), (0, Reason::Idle));
}

#[test]
fn activity_during_the_cooldown_restarts_it() {
    let mut o = object();
    o.cooldown_period = 60;
    let mut h = Harness::new(&o, vec![queue()], 1);
    h.tick(0, &[Some(5.0)]);
    h.tick(50, &[Some(5.0)]); // active again: cooldown now ends at 110
    assert_eq!(h.tick(100, &[Some(0.0)]).desired, 1);
    assert_eq!(h.tick(111, &[Some(0.0)]).desired, 0);
}

#[test]
fn initial_cooldown_delays_the_first_scale_to_zero_when_never_active() {
    let mut o = object();
    o.initial_cooldown_period = 60;
    let mut h = Harness::new(&o, vec![queue()], 2);
    assert_ne!(h.tick(0, &[Some(0.0)]).reason, Reason::Deactivated);
    assert_ne!(h.tick(60, &[Some(0.0)]).reason, Reason::Deactivated);
    let d = h.tick(61, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (0, Reason::Deactivated));
}

// Issue 14 (restart safety): a process that does not know the object's past (a restart with
// no persisted lastActiveTime, a takeover) presumes it active when it first sees it running.

#[test]
fn a_resumed_engine_presumes_a_running_target_active_and_waits_a_full_cooldown() {
    let mut o = object();
    o.cooldown_period = 15;
    let mut h = Harness::new(&o, vec![queue()], 2);
    h.engine.resume();
    // Inactive from the first tick (t=100), running 2: counted active at t=100.
    let d = h.tick(100, &[Some(0.0)]);
    assert_eq!(d.phase, Phase::Scaling);
    assert_eq!(h.engine.last_active(), Some(Timestamp::from_secs(100)));
    assert_ne!(h.tick(115, &[Some(0.0)]).reason, Reason::Deactivated);
    let d = h.tick(116, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (0, Reason::Deactivated));
}

#[test]
fn without_resume_a_fresh_engine_scales_to_zero_at_once_as_kedas_initial_cooldown_allows() {
    // The contrast that makes resume necessary: initialCooldownPeriod 0, never active.
    let mut o = object();
    o.cooldown_period = 15;
    let mut h = Harness::new(&o, vec![queue()], 2);
    let d = h.tick(1, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (0, Reason::Deactivated));
}

#[test]
fn a_resumed_engine_also_waits_the_initial_cooldown_until_really_active() {
    let mut o = object();
    o.cooldown_period = 5;
    o.initial_cooldown_period = 30;
    let mut h = Harness::new(&o, vec![queue()], 3);
    h.engine.resume();
    h.tick(10, &[Some(0.0)]);
    // The cooldown (5 s) has passed, the initial cooldown (30 s) from the presumption has not.
    assert_ne!(h.tick(20, &[Some(0.0)]).reason, Reason::Deactivated);
    assert_ne!(h.tick(40, &[Some(0.0)]).reason, Reason::Deactivated);
    let d = h.tick(41, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (0, Reason::Deactivated));

    // Once a trigger is really active, the cooldown alone applies again.
    let mut h = Harness::new(&o, vec![queue()], 3);
    h.engine.resume();
    h.tick(10, &[Some(0.0)]);
    h.tick(12, &[Some(25.0)]); // really active at 12
    h.tick(13, &[Some(0.0)]);
    let d = h.tick(18, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (0, Reason::Deactivated));
}

#[test]
fn a_resumed_engine_at_the_idle_count_or_zero_presumes_nothing() {
    let mut o = object();
    o.idle_replica_count = Some(1);
    o.min_replica_count = 2;
    o.cooldown_period = 60;
    let mut h = Harness::new(&o, vec![queue()], 1);
    h.engine.resume();
    let d = h.tick(10, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (1, Reason::Idle));
    assert_eq!(h.engine.last_active(), None);

    let mut o = object();
    o.cooldown_period = 60;
    let mut h = Harness::new(&o, vec![queue()], 0);
    h.engine.resume();
    assert_eq!(h.tick(10, &[Some(0.0)]).reason, Reason::Idle);
    assert_eq!(h.engine.last_active(), None);
}

#[test]
fn resume_on_a_takeover_replaces_a_stale_last_active_time() {
    // A replica that led before, then was standby while another scaled: its memory of the
    // object is stale, and resume makes it count the object active again when it takes over.
    let mut o = object();
    o.cooldown_period = 15;
    let mut h = Harness::new(&o, vec![queue()], 1);
    h.tick(0, &[Some(5.0)]); // active at 0, then it stops leading
    h.engine.resume(); // leading again at 100, the target now runs 4
    h.replicas = 4;
    h.tick(100, &[Some(0.0)]);
    assert_eq!(h.engine.last_active(), Some(Timestamp::from_secs(100)));
    assert_ne!(h.tick(110, &[Some(0.0)]).reason, Reason::Deactivated);
    assert_eq!(h.tick(116, &[Some(0.0)]).desired, 0);
}

#[test]
fn idle_replica_count_is_used_when_inactive_and_held_without_flapping() {
    let mut o = object();
    o.idle_replica_count = Some(1);
    o.min_replica_count = 3;
    o.cooldown_period = 0;
    let mut h = Harness::new(&o, vec![queue()], 4);
    let d = h.tick(0, &[Some(0.0)]);
    // never active, initialCooldownPeriod 0 and t == start: not yet elapsed
    assert_eq!(d.phase, Phase::Scaling);
    let d = h.tick(1, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (1, Reason::Deactivated));
    // At the idle count and inactive: held (KEDA's HPA would raise it to min, keda#2314).
    for t in [2, 3, 4] {
        let d = h.tick(t, &[Some(0.0)]);
        assert_eq!((d.desired, d.reason), (1, Reason::Idle));
    }
    // Active at the idle count: straight to min.
    let d = h.tick(5, &[Some(1.0)]);
    assert_eq!(d.desired, 3);
    assert!(matches!(d.reason, Reason::Activated { .. }));
}

#[test]
fn inactive_below_min_without_idle_count_is_raised_to_min() {
    let mut o = object();
    o.min_replica_count = 2;
    let mut h = Harness::new(&o, vec![queue()], 1);
    let d = h.tick(0, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (2, Reason::BelowMinimum));
}

#[test]
fn min_replicas_above_zero_never_scale_to_zero() {
    let mut o = object();
    o.min_replica_count = 1;
    o.cooldown_period = 0;
    let mut h = Harness::new(&o, vec![queue()], 3);
    for t in [0, 300, 600, 900] {
        h.tick(t, &[Some(0.0)]);
    }
    assert_eq!(h.replicas, 1);
}

// ---------------------------------------------------------------- HPA math

#[test]
fn several_triggers_take_the_highest_proposal() {
    let triggers = vec![queue(), trigger("lag", 5.0, 0.0, MetricType::AverageValue)];
    let mut h = Harness::new(&object(), triggers, 4);
    let d = h.tick(0, &[Some(30.0), Some(30.0)]);
    assert_eq!(d.desired, 6);
    assert_eq!(scaling(&d).metric, "lag");
    assert_eq!(d.metrics[0].proposal, Some(3));
    assert_eq!(d.metrics[1].proposal, Some(6));
}

#[test]
fn a_change_within_the_tolerance_keeps_the_current_count() {
    let mut h = Harness::new(&object(), vec![queue()], 10);
    // 105 / (10 × 10) = 1.05: inside the default 10 % band
    let d = h.tick(0, &[Some(105.0)]);
    assert_eq!(d.desired, 10);
    assert_eq!(scaling(&d).proposal, 10);
    // 115: outside, ceil(11.5) = 12
    assert_eq!(h.tick(15, &[Some(115.0)]).desired, 12);
}

#[test]
fn per_direction_tolerance_from_behavior_is_honoured() {
    let o = with_behavior(
        object(),
        Behavior {
            scale_up: Some(ScalingRules {
                tolerance: Some(0.0),
                ..Default::default()
            }),
            scale_down: Some(ScalingRules {
                tolerance: Some(0.5),
                stabilization_window_seconds: Some(0),
                ..Default::default()
            }),
        },
    );
    let mut h = Harness::new(&o, vec![queue()], 10);
    assert_eq!(h.tick(0, &[Some(101.0)]).desired, 11);
    // 60 / (10 × 11) = 0.545 ≥ 0.5: ignored
    assert_eq!(h.tick(15, &[Some(60.0)]).desired, 11);
    // 50 / 110 = 0.45: outside
    assert_eq!(h.tick(30, &[Some(50.0)]).desired, 5);
}

#[test]
fn value_targets_scale_ready_replicas() {
    let mut h = Harness::new(
        &object(),
        vec![trigger("p99", 100.0, 0.0, MetricType::Value)],
        4,
    );
    let replicas = Replicas {
        current: 4,
        status: 4,
        ready: 2,
    };
    // ratio 3 × 2 ready = 6
    let d = h.tick_with(0, replicas, &[Some(300.0)]);
    assert_eq!(d.desired, 6);
}

#[test]
fn above_max_is_lowered_to_max_without_evaluating_metrics() {
    let mut o = object();
    o.max_replica_count = 5;
    let mut h = Harness::new(&o, vec![queue()], 8);
    let d = h.tick(0, &[Some(1000.0)]);
    assert_eq!((d.desired, d.reason), (5, Reason::AboveMaximum));
    // only the count found on the first tick is remembered, no metric recommendation
    let recs = &h.engine.history().recommendations;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].replicas, 8);
}

#[test]
fn proposals_are_clamped_to_max() {
    let mut o = object();
    o.max_replica_count = 3;
    let mut h = Harness::new(&o, vec![queue()], 2);
    let d = h.tick(0, &[Some(1000.0)]);
    assert_eq!(d.desired, 3);
    assert_eq!(scaling(&d).limit, Limit::TooManyReplicas);
    assert_eq!(d.reason.code(), "TooManyReplicas");
}

// ---------------------------------------------------------------- legacy normalization

#[test]
fn legacy_scale_up_is_limited_to_twice_current_or_four() {
    let mut o = object();
    o.max_replica_count = 1000;
    let mut h = Harness::new(&o, vec![queue()], 1);
    let steps: Vec<u32> = (0..5)
        .map(|i| h.tick(i * 15, &[Some(1000.0)]).desired)
        .collect();
    assert_eq!(steps, [4, 8, 16, 32, 64]);
}

#[test]
fn legacy_scale_down_takes_the_max_of_the_last_300_seconds() {
    let mut h = Harness::new(&object(), vec![queue()], 10);
    assert_eq!(h.tick(0, &[Some(100.0)]).desired, 10);
    let d = h.tick(15, &[Some(20.0)]);
    assert_eq!(d.desired, 10);
    assert_eq!(
        scaling(&d).stabilization,
        Stabilization::ScaleDownStabilized
    );
    assert_eq!(h.tick(300, &[Some(20.0)]).desired, 10); // t=0 still inside the window
    let d = h.tick(301, &[Some(20.0)]);
    assert_eq!(d.desired, 2);
    assert_eq!(scaling(&d).stabilization, Stabilization::None);
}

#[test]
fn a_fresh_engine_does_not_scale_down_before_a_full_window() {
    // A restarted daemon finds 10 replicas and low load: like the HPA on first sight, the count
    // found counts as a recommendation, so the 300 s window holds it.
    let mut h = Harness::new(&object(), vec![queue()], 10);
    let d = h.tick(1000, &[Some(20.0)]);
    assert_eq!(d.desired, 10);
    assert_eq!(
        scaling(&d).stabilization,
        Stabilization::ScaleDownStabilized
    );
    assert_eq!(h.tick(1300, &[Some(20.0)]).desired, 10);
    assert_eq!(h.tick(1301, &[Some(20.0)]).desired, 2);
}

// ---------------------------------------------------------------- behavior normalization

#[test]
fn behavior_defaults_allow_four_pods_or_double_per_15_seconds() {
    let mut o = with_behavior(object(), Behavior::default());
    o.max_replica_count = 1000;
    let mut h = Harness::new(&o, vec![queue()], 1);
    // max(1 + 4, 1 × 2) = 5
    assert_eq!(h.tick(0, &[Some(1000.0)]).desired, 5);
    // inside the same 15 s period nothing more is allowed
    let d = h.tick(10, &[Some(1000.0)]);
    assert_eq!(d.desired, 5);
    assert_eq!(scaling(&d).limit, Limit::ScaleUpLimit);
    // period over: from 5, max(5 + 4, 10) = 10
    assert_eq!(h.tick(16, &[Some(1000.0)]).desired, 10);
    assert_eq!(h.tick(32, &[Some(1000.0)]).desired, 20);
}

#[test]
fn behavior_scale_up_window_takes_the_minimum_of_recent_recommendations() {
    let o = with_behavior(
        object(),
        Behavior {
            scale_up: Some(ScalingRules {
                stabilization_window_seconds: Some(60),
                ..Default::default()
            }),
            scale_down: None,
        },
    );
    let mut h = Harness::new(&o, vec![queue()], 2);
    assert_eq!(h.tick(0, &[Some(20.0)]).desired, 2);
    let d = h.tick(30, &[Some(80.0)]);
    assert_eq!(d.desired, 2);
    assert_eq!(scaling(&d).stabilization, Stabilization::ScaleUpStabilized);
    // t=0's recommendation (2) is inside the window until 60 s (exclusive, as the HPA's)
    assert_eq!(h.tick(59, &[Some(80.0)]).desired, 2);
    assert_eq!(h.tick(60, &[Some(80.0)]).desired, 6); // 2 + 4 pods in 15 s
}

#[test]
fn behavior_percent_policy_scales_down_gradually() {
    let o = with_behavior(
        object(),
        Behavior {
            scale_up: None,
            scale_down: Some(ScalingRules {
                stabilization_window_seconds: Some(0),
                policies: Some(vec![ScalingPolicy {
                    policy_type: PolicyType::Percent,
                    value: 50,
                    period_seconds: 60,
                }]),
                ..Default::default()
            }),
        },
    );
    let mut h = Harness::new(&o, vec![queue()], 20);
    let d = h.tick(0, &[Some(10.0)]);
    assert_eq!(d.desired, 10);
    assert_eq!(scaling(&d).limit, Limit::ScaleDownLimit);
    // within the same 60 s the period started at 20: floor(20 × 0.5) = 10 already reached
    assert_eq!(h.tick(30, &[Some(10.0)]).desired, 10);
    assert_eq!(h.tick(61, &[Some(10.0)]).desired, 5);
}

#[test]
fn behavior_select_policy_min_picks_the_smallest_change() {
    let o = with_behavior(
        object(),
        Behavior {
            scale_up: Some(ScalingRules {
                select_policy: Some(SelectPolicy::Min),
                ..Default::default()
            }),
            scale_down: None,
        },
    );
    let mut h = Harness::new(&o, vec![queue()], 10);
    // Pods 4 → 14, Percent 100 → 20: Min → 14
    assert_eq!(h.tick(0, &[Some(1000.0)]).desired, 14);
}

#[test]
fn behavior_select_policy_disabled_blocks_that_direction() {
    let o = with_behavior(
        object(),
        Behavior {
            scale_up: None,
            scale_down: Some(ScalingRules {
                select_policy: Some(SelectPolicy::Disabled),
                stabilization_window_seconds: Some(0),
                ..Default::default()
            }),
        },
    );
    let mut h = Harness::new(&o, vec![queue()], 8);
    let d = h.tick(0, &[Some(10.0)]);
    assert_eq!(d.desired, 8);
    assert_eq!(scaling(&d).limit, Limit::ScaleDownLimit);
    assert_eq!(h.tick(15, &[Some(1000.0)]).desired, 16);
}

#[test]
fn behavior_default_scale_down_window_is_300_seconds() {
    let o = with_behavior(object(), Behavior::default());
    let mut h = Harness::new(&o, vec![queue()], 10);
    h.tick(0, &[Some(100.0)]);
    assert_eq!(h.tick(299, &[Some(10.0)]).desired, 10);
    assert_eq!(h.tick(300, &[Some(10.0)]).desired, 1);
}

// ---------------------------------------------------------------- failures and fallback

#[test]
fn a_tick_where_every_trigger_failed_changes_nothing_and_stores_nothing() {
    let mut h = Harness::new(&object(), vec![queue()], 3);
    h.tick(0, &[Some(30.0)]);
    let before = h.engine.history().clone();
    let d = h.tick(15, &[None]);
    assert_eq!(d.desired, 3);
    assert_eq!(h.engine.history(), &before);
    assert_eq!(d.metrics[0].error, Some(TriggerErrorKind::Unavailable));
}

#[test]
fn all_failing_while_active_in_the_scaling_phase_holds() {
    let triggers = vec![queue(), trigger("lag", 5.0, 0.0, MetricType::AverageValue)];
    let mut h = Harness::new(&object(), triggers, 3);
    let d = h.tick(0, &[None, None]);
    assert_eq!(d.desired, 3);
    assert_eq!(
        d.reason,
        Reason::TriggerError {
            failing: vec!["queue".into(), "lag".into()]
        }
    );
}

#[test]
fn partial_failure_never_scales_down() {
    let triggers = vec![queue(), trigger("lag", 5.0, 0.0, MetricType::AverageValue)];
    let mut h = Harness::new(&object(), triggers, 6);
    let d = h.tick(0, &[Some(10.0), None]);
    assert_eq!(d.desired, 6);
    assert_eq!(
        d.reason,
        Reason::PartialFailure {
            failing: vec!["lag".into()],
            proposal: 1
        }
    );
    assert!(!d.reason.to_string().contains(','));
}

#[test]
fn partial_failure_still_scales_up() {
    let triggers = vec![queue(), trigger("lag", 5.0, 0.0, MetricType::AverageValue)];
    let mut h = Harness::new(&object(), triggers, 2);
    assert_eq!(h.tick(0, &[Some(40.0), None]).desired, 4);
}

#[test]
fn a_failing_trigger_without_fallback_never_scales_to_zero() {
    let mut o = object();
    o.cooldown_period = 0;
    let mut h = Harness::new(&o, vec![queue()], 3);
    for t in (0..3600).step_by(30) {
        let d = h.tick(t, &[None]);
        assert_eq!(d.desired, 3, "at {t}s");
        assert_eq!(d.reason.code(), "TriggerError");
    }
}

fn with_fallback(threshold: u32, replicas: u32, behavior: FallbackBehavior) -> ScaledObject {
    let mut o = object();
    o.fallback = Some(Fallback {
        failure_threshold: threshold,
        replicas,
        behavior,
    });
    o
}

#[test]
fn fallback_applies_after_strictly_more_than_failure_threshold_failures() {
    let o = with_fallback(3, 6, FallbackBehavior::Static);
    let mut h = Harness::new(&o, vec![queue()], 2);
    for t in 0..3 {
        let d = h.tick(t * 30, &[None]);
        assert_eq!(d.desired, 2);
        assert_eq!(d.metrics[0].fallback, None);
        assert_eq!(d.reason, Reason::AllMetricsFailed);
    }
    let d = h.tick(90, &[None]);
    assert_eq!(d.metrics[0].failures, 4);
    assert_eq!(d.metrics[0].fallback, Some(6));
    assert!(scaling(&d).fallback);
    assert_eq!(
        d.reason.to_string(),
        "queue in fallback proposes 6; limited by scale-up rate"
    );
    // the fallback proposal goes through the HPA normalization: legacy limit max(2×2, 4) = 4
    assert_eq!(d.desired, 4);
    assert_eq!(h.tick(120, &[None]).desired, 6);
    assert_eq!(h.tick(150, &[None]).desired, 6);
    // recovered: the failure count resets and values drive again
    let d = h.tick(180, &[Some(60.0)]);
    assert_eq!(d.metrics[0].failures, 0);
    assert_eq!(d.metrics[0].fallback, None);
}

#[test]
fn fallback_behaviors_combine_with_the_current_count() {
    let cases = [
        (FallbackBehavior::Static, 5, 5),
        (FallbackBehavior::CurrentReplicas, 5, 3),
        (FallbackBehavior::CurrentReplicasIfHigher, 5, 5),
        (FallbackBehavior::CurrentReplicasIfHigher, 2, 3),
        (FallbackBehavior::CurrentReplicasIfLower, 5, 3),
        (FallbackBehavior::CurrentReplicasIfLower, 2, 2),
    ];
    for (behavior, replicas, expected) in cases {
        let o = with_fallback(0, replicas, behavior);
        let mut h = Harness::new(&o, vec![queue()], 3);
        let d = h.tick(0, &[None]);
        assert_eq!(
            d.metrics[0].fallback,
            Some(expected),
            "{behavior:?}/{replicas}"
        );
    }
}

#[test]
fn fallback_does_not_scale_from_zero() {
    let o = with_fallback(0, 5, FallbackBehavior::Static);
    let mut h = Harness::new(&o, vec![queue()], 0);
    let d = h.tick(0, &[None]);
    assert_eq!((d.desired, d.reason), (0, Reason::FallbackAtZero));
}

#[test]
fn fallback_for_value_targets_uses_ready_replicas() {
    let mut o = with_fallback(0, 6, FallbackBehavior::Static);
    o.max_replica_count = 10;
    let mut h = Harness::new(&o, vec![trigger("p99", 100.0, 0.0, MetricType::Value)], 3);
    let d = h.tick(0, &[None]);
    assert_eq!(d.desired, 6);
}

#[test]
fn a_healthy_active_trigger_outranks_a_lower_fallback() {
    let o = with_fallback(0, 2, FallbackBehavior::Static);
    let triggers = vec![queue(), trigger("lag", 5.0, 0.0, MetricType::AverageValue)];
    let mut h = Harness::new(&o, triggers, 4);
    let d = h.tick(0, &[Some(80.0), None]);
    assert_eq!(d.desired, 8);
    assert_eq!(d.metrics[1].proposal, Some(2));
}

// ---------------------------------------------------------------- pause

#[test]
fn paused_objects_are_not_scaled() {
    let mut o = object();
    o.paused = true;
    let mut h = Harness::new(&o, vec![queue()], 3);
    let d = h.tick(0, &[Some(1000.0)]);
    assert_eq!(
        (d.desired, d.reason, d.phase),
        (3, Reason::Paused, Phase::Paused)
    );
}

#[test]
fn paused_replica_count_pins_the_count() {
    let mut o = object();
    o.paused = true;
    o.paused_replica_count = Some(7);
    let mut h = Harness::new(&o, vec![queue()], 3);
    let d = h.tick(0, &[None]);
    assert_eq!((d.desired, d.reason), (7, Reason::PausedReplicas));
}

/// Scale-down without a stabilization window, so that a single tick can lower the count.
fn quick_scale_down(o: ScaledObject) -> ScaledObject {
    with_behavior(
        o,
        Behavior {
            scale_up: None,
            scale_down: Some(ScalingRules {
                stabilization_window_seconds: Some(0),
                ..Default::default()
            }),
        },
    )
}

fn scale_in_paused(mut o: ScaledObject) -> ScaledObject {
    o.paused_scale_in = true;
    o
}

fn scale_out_paused(mut o: ScaledObject) -> ScaledObject {
    o.paused_scale_out = true;
    o
}

#[test]
fn keda_paused_scale_in_holds_an_hpa_scale_down_but_allows_a_scale_up() {
    let o = scale_in_paused(quick_scale_down(object()));
    let mut h = Harness::new(&o, vec![queue()], 8);
    // ceil(10 / 10) = 1: the HPA would scale in to 1, its scaleDown is disabled.
    let d = h.tick(0, &[Some(10.0)]);
    assert_eq!(
        (d.desired, d.phase, d.reason.clone()),
        (8, Phase::Scaling, Reason::ScaleInPaused { blocked: 1 })
    );
    assert_eq!(d.reason.code(), "ScaleInPaused");
    assert_eq!(
        d.reason.to_string(),
        "holding: scale-in paused (would scale in to 1)"
    );
    // Scale-out is not paused: ceil(120 / 10) = 12.
    let d = h.tick(15, &[Some(120.0)]);
    assert_eq!(d.desired, 12);
    assert_eq!(scaling(&d).limit, Limit::DesiredWithinRange);
}

#[test]
fn keda_paused_scale_in_holds_the_deactivation_to_zero_after_the_cooldown() {
    let mut o = scale_in_paused(object());
    o.cooldown_period = 60;
    let mut h = Harness::new(&o, vec![queue()], 0);
    assert_eq!(h.tick(0, &[Some(30.0)]).desired, 1);
    // Inactive past the cooldown: KEDA would scale to zero, the annotation forbids it.
    let d = h.tick(90, &[Some(0.0)]);
    assert_eq!(
        (d.desired, d.active, d.reason.clone()),
        (1, false, Reason::ScaleInPaused { blocked: 0 })
    );
    // The loop keeps evaluating: activity still scales out.
    let d = h.tick(120, &[Some(50.0)]);
    assert!(d.active);
    assert_eq!(d.desired, 4); // legacy limit max(2 × 1, 4)
}

#[test]
fn keda_paused_scale_in_holds_the_deactivation_to_the_idle_count() {
    let mut o = scale_in_paused(object());
    o.idle_replica_count = Some(0);
    o.min_replica_count = 2;
    o.cooldown_period = 0;
    let mut h = Harness::new(&o, vec![queue()], 5);
    let d = h.tick(10, &[Some(0.0)]);
    assert_eq!(
        (d.desired, d.reason),
        (5, Reason::ScaleInPaused { blocked: 0 })
    );
}

#[test]
fn keda_paused_scale_in_still_lowers_a_count_above_max_as_the_hpa_does() {
    let mut o = scale_in_paused(object());
    o.max_replica_count = 5;
    let mut h = Harness::new(&o, vec![queue()], 9);
    let d = h.tick(0, &[Some(10.0)]);
    assert_eq!((d.desired, d.reason), (5, Reason::AboveMaximum));
}

#[test]
fn keda_paused_scale_out_holds_the_activation_from_zero() {
    let o = scale_out_paused(object());
    let mut h = Harness::new(&o, vec![queue()], 0);
    let d = h.tick(0, &[Some(50.0)]);
    assert_eq!(
        (d.desired, d.active, d.phase, d.reason.clone()),
        (
            0,
            true,
            Phase::Activation,
            Reason::ScaleOutPaused { blocked: 1 }
        )
    );
    assert_eq!(d.reason.code(), "ScaleOutPaused");
    assert_eq!(
        d.reason.to_string(),
        "holding: scale-out paused (would scale out to 1)"
    );
    // Active all along, so no cooldown runs out while held.
    assert_eq!(h.engine.last_active(), Some(Timestamp::from_secs(0)));
}

#[test]
fn keda_paused_scale_out_holds_the_activation_from_the_idle_count() {
    let mut o = scale_out_paused(object());
    o.idle_replica_count = Some(0);
    o.min_replica_count = 3;
    let mut h = Harness::new(&o, vec![queue()], 0);
    let d = h.tick(0, &[Some(50.0)]);
    assert_eq!(
        (d.desired, d.reason),
        (0, Reason::ScaleOutPaused { blocked: 3 })
    );
}

#[test]
fn keda_paused_scale_out_holds_an_hpa_scale_up_but_allows_a_scale_down() {
    let o = scale_out_paused(quick_scale_down(object()));
    let mut h = Harness::new(&o, vec![queue()], 4);
    // ceil(100 / 10) = 10 > 4: the HPA's scaleUp is disabled.
    let d = h.tick(0, &[Some(100.0)]);
    assert_eq!(
        (d.desired, d.phase, d.reason),
        (4, Phase::Scaling, Reason::ScaleOutPaused { blocked: 8 })
    );
    // Scale-in is not paused: ceil(20 / 10) = 2.
    assert_eq!(h.tick(15, &[Some(20.0)]).desired, 2);
}

#[test]
fn keda_paused_scale_out_allows_the_deactivation_to_zero() {
    let mut o = scale_out_paused(object());
    o.cooldown_period = 60;
    let mut h = Harness::new(&o, vec![queue()], 3);
    let d = h.tick(90, &[Some(0.0)]);
    assert_eq!((d.desired, d.reason), (0, Reason::Deactivated));
}

#[test]
fn keda_paused_scale_in_and_out_hold_both_directions_while_still_evaluating() {
    let mut o = scale_out_paused(scale_in_paused(quick_scale_down(object())));
    o.cooldown_period = 60;
    let mut h = Harness::new(&o, vec![queue()], 0);
    let d = h.tick(0, &[Some(50.0)]);
    assert_eq!(
        (d.desired, d.reason),
        (0, Reason::ScaleOutPaused { blocked: 1 })
    );
    let mut h = Harness::new(&o, vec![queue()], 4);
    let d = h.tick(0, &[Some(100.0)]);
    assert_eq!(
        (d.desired, d.reason),
        (4, Reason::ScaleOutPaused { blocked: 8 })
    );
    let d = h.tick(15, &[Some(10.0)]);
    assert_eq!(
        (d.desired, d.phase, d.reason),
        (4, Phase::Scaling, Reason::ScaleInPaused { blocked: 1 })
    );
    let d = h.tick(120, &[Some(0.0)]);
    assert_eq!(
        (d.desired, d.reason),
        (4, Reason::ScaleInPaused { blocked: 0 })
    );
    // Unlike `paused`, the metrics are read and reported.
    assert_eq!(d.metrics.len(), 1);
    assert_eq!(h.engine.last_active(), Some(Timestamp::from_secs(15)));
}

#[test]
fn unpausing_scale_in_lets_the_next_tick_scale_in() {
    let o = scale_in_paused(quick_scale_down(object()));
    let mut h = Harness::new(&o, vec![queue()], 8);
    assert_eq!(h.tick(0, &[Some(10.0)]).desired, 8);
    let mut unpaused = o.clone();
    unpaused.paused_scale_in = false;
    h.engine.reconfigure(&unpaused, vec![queue()]).unwrap();
    assert_eq!(h.tick(15, &[Some(10.0)]).desired, 1);
}

// ---------------------------------------------------------------- scaling modifiers

fn with_formula(formula: &str, target: f64, activation: f64) -> ScaledObject {
    let mut o = object();
    o.advanced.scaling_modifiers = Some(ScalingModifiers {
        formula: formula.to_owned(),
        target,
        activation_target: activation,
        metric_type: MetricType::AverageValue,
    });
    o
}

#[test]
fn scaling_modifiers_combine_triggers_into_one_metric() {
    let o = with_formula("a + b", 10.0, 0.0);
    let triggers = vec![
        trigger("a", 1.0, 0.0, MetricType::AverageValue),
        trigger("b", 1.0, 0.0, MetricType::AverageValue),
    ];
    let mut h = Harness::new(&o, triggers, 1);
    let d = h.tick(0, &[Some(25.0), Some(15.0)]);
    assert_eq!(d.metrics.len(), 1);
    assert_eq!(d.metrics[0].name, "composite-metric");
    assert_eq!(d.metrics[0].value, Some(40.0));
    assert_eq!(d.desired, 4);
}

#[test]
fn scaling_modifiers_activation_uses_the_composite_not_the_triggers() {
    let o = with_formula("a - b", 10.0, 5.0);
    let triggers = vec![
        trigger("a", 1.0, 0.0, MetricType::AverageValue),
        trigger("b", 1.0, 0.0, MetricType::AverageValue),
    ];
    let mut h = Harness::new(&o, triggers, 0);
    let d = h.tick(0, &[Some(100.0), Some(96.0)]); // both active, composite 4 ≤ 5
    assert_eq!((d.desired, d.active), (0, false));
    let d = h.tick(30, &[Some(100.0), Some(90.0)]);
    assert_eq!((d.desired, d.active), (1, true));
}

#[test]
fn scaling_modifiers_coalesce_a_failed_trigger() {
    let o = with_formula("(a ?? 0) + b", 10.0, 0.0);
    let triggers = vec![
        trigger("a", 1.0, 0.0, MetricType::AverageValue),
        trigger("b", 1.0, 0.0, MetricType::AverageValue),
    ];
    let mut h = Harness::new(&o, triggers, 1);
    let d = h.tick(0, &[None, Some(30.0)]);
    assert_eq!(d.metrics[0].value, Some(30.0));
    assert_eq!(d.desired, 3);
}

#[test]
fn scaling_modifiers_without_coalescing_fail_like_a_trigger() {
    let o = with_formula("a + b", 10.0, 0.0);
    let triggers = vec![
        trigger("a", 1.0, 0.0, MetricType::AverageValue),
        trigger("b", 1.0, 0.0, MetricType::AverageValue),
    ];
    let mut h = Harness::new(&o, triggers, 4);
    let d = h.tick(0, &[None, Some(5.0)]);
    assert_eq!(d.desired, 4);
    assert_eq!(d.metrics[0].error, Some(TriggerErrorKind::Unavailable));
    assert_eq!(
        d.reason,
        Reason::TriggerError {
            failing: vec!["composite-metric".into()]
        }
    );
}

#[test]
fn an_invalid_formula_is_refused_at_construction() {
    let o = with_formula("a +", 10.0, 0.0);
    let err = Engine::new(&o, vec![queue()], Timestamp::ZERO).unwrap_err();
    assert_eq!(err.0[0].path, "advanced.scalingModifiers.formula");
}

#[test]
fn reconfiguring_keeps_the_history() {
    let mut h = Harness::new(&object(), vec![queue()], 10);
    h.tick(0, &[Some(100.0)]);
    let mut o = object();
    o.max_replica_count = 50;
    h.engine.reconfigure(&o, vec![queue()]).unwrap();
    // the 300 s window still remembers 10
    assert_eq!(h.tick(30, &[Some(20.0)]).desired, 10);
    // the seed and the first tick both recommended 10 (one entry), the second tick 2
    let counts: Vec<u32> = h
        .engine
        .history()
        .recommendations
        .iter()
        .map(|r| r.replicas)
        .collect();
    assert_eq!(counts, [10, 2]);
    // a broken formula leaves the engine as it was
    let broken = with_formula("queue +", 10.0, 0.0);
    assert!(h.engine.reconfigure(&broken, vec![queue()]).is_err());
    assert_eq!(h.tick(60, &[Some(20.0)]).desired, 10);
}

#[test]
fn history_stays_bounded_by_the_windows() {
    // An hour of 1 s ticks with the default 300 s window: a count already stored is re-stamped
    // and slots older than the window are reused, so memory does not grow with the history's
    // length nor with the number of ticks in the window.
    let o = with_behavior(object(), Behavior::default());
    let mut h = Harness::new(&o, vec![queue()], 5);
    for t in 0..3600 {
        let v = if (t / 120) % 2 == 0 { 90.0 } else { 20.0 };
        h.tick(t, &[Some(v)]);
    }
    let history = h.engine.history();
    // one entry per distinct count recommended (the seed 5, and the two loads' counts), not
    // one per tick of the 300 s window
    let mut counts: Vec<u32> = history.recommendations.iter().map(|r| r.replicas).collect();
    counts.sort_unstable();
    assert_eq!(counts, [2, 5, 9]);
    assert!(history.up_events.len() <= 16, "{}", history.up_events.len());
    assert!(
        history.down_events.len() <= 16,
        "{}",
        history.down_events.len()
    );
}

/// KEDA's example for `fallback.behavior: scalingModifiers` (keda PR 7790): a chain of
/// triggers through `??`, then a literal or `fallback.replicas`.
fn with_modifier_fallback(formula: &str) -> ScaledObject {
    let mut o = with_formula(formula, 2.0, 0.0);
    o.max_replica_count = 20;
    o.fallback = Some(Fallback {
        failure_threshold: 1,
        replicas: 10,
        behavior: FallbackBehavior::ScalingModifiers,
    });
    o
}

fn modifier_triggers() -> Vec<TriggerInfo> {
    ["best_metric", "slower_metric", "metric_backup"]
        .into_iter()
        .map(|name| trigger(name, 1.0, 0.0, MetricType::AverageValue))
        .collect()
}

#[test]
fn keda_scaling_modifiers_fallback_passes_failed_triggers_as_nil() {
    let o = with_modifier_fallback("best_metric ?? slower_metric ?? metric_backup ?? 8");
    let mut h = Harness::new(&o, modifier_triggers(), 4);
    // Every trigger answers: the first one drives (8 / target 2 = 4 replicas).
    let d = h.tick(0, &[Some(8.0), Some(20.0), Some(40.0)]);
    assert_eq!((d.metrics[0].value, d.desired), (Some(8.0), 4));
    // The best one fails: the next one in the chain drives, from the first failure on.
    let d = h.tick(15, &[None, Some(12.0), Some(40.0)]);
    assert_eq!((d.metrics[0].value, d.metrics[0].error), (Some(12.0), None));
    assert_eq!(d.desired, 6);
    // All fail: the literal at the end of the chain proposes 4 (the count stays at 6 for
    // the scale-down stabilization window), and nothing counts as failing.
    let d = h.tick(30, &[None, None, None]);
    assert_eq!(
        (d.metrics[0].value, d.metrics[0].proposal),
        (Some(8.0), Some(4))
    );
    assert_eq!((d.metrics[0].failures, d.desired), (0, 6));
}

#[test]
fn keda_scaling_modifiers_fallback_ends_at_fallback_replicas() {
    // Without a literal, the composite fails when every trigger does; after more than
    // failureThreshold (1) consecutive failures, fallback.replicas (10) applies.
    let o = with_modifier_fallback("best_metric ?? slower_metric");
    let mut h = Harness::new(&o, modifier_triggers(), 4);
    let d = h.tick(0, &[None, None, Some(1.0)]);
    assert_eq!((d.metrics[0].failures, d.metrics[0].fallback), (1, None));
    assert_eq!(d.desired, 4);
    let d = h.tick(15, &[None, None, Some(1.0)]);
    assert_eq!(
        (d.metrics[0].failures, d.metrics[0].fallback),
        (2, Some(10))
    );
    // Through the legacy HPA scale-up limit, max(2 × 4, 4) = 8, then 10.
    assert_eq!(d.desired, 8);
    assert_eq!(h.tick(30, &[None, None, None]).desired, 10);
}
