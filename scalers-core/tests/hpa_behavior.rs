//! The Kubernetes HPA controller's own test facts for replica normalization, re-expressed as
//! table rows against `scalers_core::engine::behavior` (inputs and expected outputs only; no
//! upstream code is reused).
//!
//! Source: `pkg/controller/podautoscaler/horizontal_test.go` in kubernetes/kubernetes, tables of
//! `TestScalingWithRules`, `TestNormalizeDesiredReplicasWithBehavior`, `TestStoreScaleEvents`,
//! `TestConvertDesiredReplicasWithRules`, `TestNormalizeDesiredReplicas`,
//! `TestCalculateScaleUpLimitWithScalingRules` and `TestCalculateScaleDownLimitWithBehaviors`,
//! plus a few whole-controller cases of the same file (`TestStabilizeDownscale`,
//! `TestUpscaleCap`, `TestScaleUpCMExternal`, …) replayed through the same pure functions.
//! Every row carries the upstream case name, so a failure names the HPA fact it breaks.
//!
//! How upstream's inputs map to ours:
//! - "an event/recommendation N seconds ago" is a [`Timestamp`] of `NOW − N s`. Upstream builds
//!   its timestamps a moment before the controller reads the clock, so an entry exactly one
//!   period old is already outside the period; our comparisons are strict (`>` cutoff), which
//!   gives the same answer with exact timestamps.
//! - Upstream's uniformly spread test events (`generateEventsUniformDistribution(changes, 120)`)
//!   sit at the centres of equal segments of the last 120 s, truncated to whole seconds: three
//!   events are 100 s, 60 s and 20 s old; four are 105 s, 75 s, 45 s and 15 s old; one is 60 s
//!   old. The rows spell those ages out.
//! - Upstream's rule helper (`generateScalingRules`) always sets `selectPolicy: Max` and the given
//!   window; a policy with value 0 is omitted. [`rules`] builds the same thing.
//! - The legacy `ScaleUpLimit` is `max(2 × current, 4)` in production; upstream's test binary
//!   raises the factor to 8 in an `init` function, so rows whose expectation was computed with
//!   that factor use the production value instead (noted where it matters).

use std::fmt::Debug;
use std::time::Duration;

use scalers_core::Timestamp;
use scalers_core::config::model::{
    Behavior, MetricType, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy,
};
use scalers_core::engine::behavior::{
    DEFAULT_SCALE_DOWN_WINDOW_SECONDS, History, Limit, Recommendation, ResolvedBehavior, Rules,
    ScaleEvent, limit_legacy, limit_with_behavior, scale_down_limit, scale_up_limit,
};
use scalers_core::engine::proposal::{Replicas, Tolerance, propose};

use PolicyType::{Percent, Pods};

/// The controller's "now" in every row.
const NOW: Timestamp = Timestamp::from_secs(1_000_000);

/// `NOW − secs`.
fn ago(secs: u64) -> Timestamp {
    NOW - Duration::from_secs(secs)
}

/// Rules with `selectPolicy: Max`, the given stabilization window and policies
/// (`(type, value, periodSeconds)`), as upstream's rule helper builds them.
fn rules(window: u32, policies: &[(PolicyType, u32, u32)]) -> ScalingRules {
    ScalingRules {
        stabilization_window_seconds: Some(window),
        select_policy: Some(SelectPolicy::Max),
        policies: Some(
            policies
                .iter()
                .map(|&(policy_type, value, period_seconds)| ScalingPolicy {
                    policy_type,
                    value,
                    period_seconds,
                })
                .collect(),
        ),
        tolerance: None,
    }
}

/// Rules that only set stabilization windows (everything else defaulted).
fn window_only(window: u32) -> ScalingRules {
    ScalingRules {
        stabilization_window_seconds: Some(window),
        ..ScalingRules::default()
    }
}

/// A behavior with the autoscaling/v2 defaults filled in, as the controller sees it.
fn resolved(scale_up: Option<ScalingRules>, scale_down: Option<ScalingRules>) -> ResolvedBehavior {
    ResolvedBehavior::resolve(&Behavior {
        scale_up,
        scale_down,
    })
}

/// Scale events from `(change, age in seconds)` pairs, none marked outdated.
fn events(list: &[(u32, u64)]) -> Vec<ScaleEvent> {
    list.iter()
        .map(|&(change, age)| ScaleEvent {
            at: ago(age),
            change,
            outdated: false,
        })
        .collect()
}

/// Recommendations from `(replicas, age in seconds)` pairs.
fn recommendations(list: &[(u32, u64)]) -> Vec<Recommendation> {
    list.iter()
        .map(|&(replicas, age)| Recommendation {
            at: ago(age),
            replicas,
        })
        .collect()
}

/// Records a mismatch instead of panicking, so one run lists every differing upstream case.
fn expect<T: PartialEq + Debug>(
    failures: &mut Vec<String>,
    case: &str,
    what: &str,
    got: T,
    want: T,
) {
    if got != want {
        failures.push(format!("[{case}] {what}: got {got:?}, want {want:?}"));
    }
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} upstream fact(s) not reproduced:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// TestScalingWithRules: the rate-limit stage of the behavior path
// (upstream `convertDesiredReplicasWithBehaviorRate`).
// ---------------------------------------------------------------------------------------------

/// Three upstream events spread over 120 s: 1, 5 and 9 replicas, 100 s, 60 s and 20 s ago.
const SPREAD_1_5_9: &[(u32, u64)] = &[(1, 100), (5, 60), (9, 20)];
/// Four upstream events spread over 120 s: 8, 12, 9 and 11 replicas, 105, 75, 45 and 15 s ago.
const SPREAD_8_12_9_11: &[(u32, u64)] = &[(8, 105), (12, 75), (9, 45), (11, 15)];
/// Three upstream events of 10 replicas spread over 120 s.
const SPREAD_10_10_10: &[(u32, u64)] = &[(10, 100), (10, 60), (10, 20)];

struct RateCase {
    upstream: &'static str,
    up_events: &'static [(u32, u64)],
    down_events: &'static [(u32, u64)],
    min: u32,
    max: u32,
    /// `None`: the autoscaling/v2 defaults for that direction.
    scale_up: Option<ScalingRules>,
    scale_down: Option<ScalingRules>,
    current: u32,
    desired: u32,
    expected: u32,
    reason: Limit,
}

impl RateCase {
    fn new(upstream: &'static str, current: u32, desired: u32, min: u32, max: u32) -> Self {
        RateCase {
            upstream,
            up_events: &[],
            down_events: &[],
            min,
            max,
            scale_up: None,
            scale_down: None,
            current,
            desired,
            expected: 0,
            reason: Limit::DesiredWithinRange,
        }
    }

    fn up(mut self, rules: ScalingRules) -> Self {
        self.scale_up = Some(rules);
        self
    }

    fn down(mut self, rules: ScalingRules) -> Self {
        self.scale_down = Some(rules);
        self
    }

    fn up_events(mut self, list: &'static [(u32, u64)]) -> Self {
        self.up_events = list;
        self
    }

    fn down_events(mut self, list: &'static [(u32, u64)]) -> Self {
        self.down_events = list;
        self
    }

    fn expect(mut self, expected: u32, reason: Limit) -> Self {
        self.expected = expected;
        self.reason = reason;
        self
    }

    fn behavior(&self) -> ResolvedBehavior {
        resolved(self.scale_up.clone(), self.scale_down.clone())
    }

    fn history(&self) -> History {
        History {
            up_events: events(self.up_events),
            down_events: events(self.down_events),
            ..History::default()
        }
    }
}

fn scaling_with_rules_cases() -> Vec<RateCase> {
    use Limit::{
        DesiredWithinRange, ScaleDownLimit, ScaleUpLimit, TooFewReplicas, TooManyReplicas,
    };
    type C = RateCase;
    Vec::from([
        // Default rules (no behavior fields set).
        C::new("prenormalized desired replicas within range", 5, 7, 3, 8)
            .expect(7, DesiredWithinRange),
        C::new("prenormalized desired replicas < minReplicas", 3, 1, 2, 8)
            .expect(2, TooFewReplicas),
        C::new("prenormalized desired replicas within range when minReplicas is 0", 1, 0, 0, 10)
            .expect(0, DesiredWithinRange),
        C::new("maxReplicas is the limit because maxReplicas < scaleUpLimit", 20, 1000, 1, 10)
            .expect(10, TooManyReplicas),
        C::new("desired replica count is more than the maximum replica count", 100, 1000, 100, 150)
            .expect(150, TooManyReplicas),
        C::new(
            "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies",
            3,
            1000,
            1,
            2000,
        )
        .up(rules(0, &[(Percent, 1, 60)]))
        .expect(4, ScaleUpLimit),
        // Upstream marks this row `testThis: true`, which makes its loop skip it; the expected
        // values are still the HPA's and hold here.
        C::new(
            "scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies",
            1000,
            3,
            3,
            2000,
        )
        .down(rules(0, &[(Pods, 20, 60)]))
        .expect(980, ScaleDownLimit),
        // Scale up, no earlier events.
        C::new("scaleUp with default behavior", 10, 50, 1, 1000).expect(20, ScaleUpLimit),
        C::new("scaleUp with pods policy larger than percent policy", 10, 500, 1, 1000)
            .up(rules(0, &[(Pods, 100, 60), (Percent, 100, 60)]))
            .expect(110, ScaleUpLimit),
        C::new("scaleUp with percent policy larger than pods policy", 10, 500, 1, 1000)
            .up(rules(0, &[(Pods, 2, 60), (Percent, 100, 60)]))
            .expect(20, ScaleUpLimit),
        C::new("scaleUp with spec MaxReplicas limitation with large pod policy", 10, 50, 1, 1000)
            .up(rules(0, &[(Pods, 100, 60)]))
            .expect(50, DesiredWithinRange),
        // Upstream's "large percent policy" row actually configures a Pods policy of 10000.
        C::new(
            "scaleUp with spec MaxReplicas limitation with large percent policy",
            10,
            50,
            1,
            1000,
        )
        .up(rules(0, &[(Pods, 10000, 60)]))
        .expect(50, DesiredWithinRange),
        C::new("scaleUp with pod policy limitation", 10, 50, 1, 1000)
            .up(rules(0, &[(Pods, 30, 60)]))
            .expect(40, ScaleUpLimit),
        C::new("scaleUp with percent policy limitation", 10, 50, 1, 1000)
            .up(rules(0, &[(Percent, 200, 60)]))
            .expect(30, ScaleUpLimit),
        // Scale down, no earlier events.
        C::new("scaleDown with percent policy larger than pod policy", 100, 2, 1, 1000)
            .down(rules(300, &[(Pods, 20, 60), (Percent, 1, 60)]))
            .expect(80, ScaleDownLimit),
        C::new("scaleDown with pod policy larger than percent policy", 100, 2, 1, 1000)
            .down(rules(300, &[(Pods, 2, 60), (Percent, 1, 60)]))
            .expect(98, ScaleDownLimit),
        C::new(
            "scaleDown with spec MinReplicas=nil limitation with large pod policy",
            10,
            0,
            1,
            1000,
        )
        .down(rules(300, &[(Pods, 100, 60)]))
        .expect(1, TooFewReplicas),
        C::new("scaleDown with spec MinReplicas limitation with large pod policy", 10, 0, 1, 1000)
            .down(rules(300, &[(Pods, 100, 60)]))
            .expect(1, TooFewReplicas),
        C::new(
            "scaleDown with spec MinReplicas limitation with large percent policy",
            10,
            2,
            5,
            1000,
        )
        .down(rules(300, &[(Percent, 100, 60)]))
        .expect(5, TooFewReplicas),
        C::new("scaleDown with pod policy limitation", 10, 2, 1, 1000)
            .down(rules(300, &[(Pods, 5, 60)]))
            .expect(5, ScaleDownLimit),
        C::new("scaleDown with percent policy limitation", 10, 5, 1, 1000)
            .down(rules(300, &[(Percent, 50, 60)]))
            .expect(5, DesiredWithinRange),
        // Scale up with earlier events inside the policy periods.
        C::new(
            "scaleUp with spec MaxReplicas limitation with large pod policy and events",
            100,
            500,
            1,
            200,
        )
        .up_events(SPREAD_1_5_9)
        .up(rules(0, &[(Pods, 300, 60)]))
        .expect(200, TooManyReplicas),
        C::new(
            "scaleUp with spec MaxReplicas limitation with large percent policy and events",
            100,
            500,
            1,
            200,
        )
        .up_events(SPREAD_1_5_9)
        .up(rules(0, &[(Percent, 10000, 60)]))
        .expect(200, TooManyReplicas),
        // 120 s ago there were 100 − 15 replicas; + 5 is below current, so current is the limit.
        C::new(
            "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events",
            100,
            500,
            1,
            1000,
        )
        .up_events(SPREAD_1_5_9)
        .up(rules(0, &[(Pods, 5, 120)]))
        .expect(100, ScaleUpLimit),
        C::new("scaleUp with pod policy and previous scale up events", 100, 500, 1, 1000)
            .up_events(SPREAD_1_5_9)
            .up(rules(0, &[(Pods, 150, 120)]))
            .expect(235, ScaleUpLimit),
        C::new("scaleUp with percent policy and previous scale up events", 100, 500, 1, 1000)
            .up_events(SPREAD_1_5_9)
            .up(rules(0, &[(Percent, 200, 120)]))
            .expect(255, ScaleUpLimit),
        C::new("scaleUp with percent policy and previous scale up and down events", 6, 24, 1, 1000)
            .up_events(&[(4, 60)])
            .down_events(&[(2, 60)])
            .up(rules(0, &[(Percent, 300, 300)]))
            .expect(16, ScaleUpLimit),
        // Scale down with earlier events inside the policy periods.
        C::new("scaleDown with default policy and previous events", 10, 5, 1, 1000)
            .down_events(SPREAD_1_5_9)
            .expect(5, DesiredWithinRange),
        C::new(
            "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events",
            100,
            0,
            1,
            1000,
        )
        .down_events(SPREAD_1_5_9)
        .down(rules(300, &[(Pods, 115, 120)]))
        .expect(1, TooFewReplicas),
        C::new(
            "scaleDown with spec MinReplicas limitation with large pod policy and previous events",
            100,
            0,
            5,
            1000,
        )
        .down_events(SPREAD_1_5_9)
        .down(rules(300, &[(Pods, 130, 120)]))
        .expect(5, TooFewReplicas),
        C::new(
            "scaleDown with spec MinReplicas limitation with large percent policy and previous events",
            100,
            2,
            5,
            1000,
        )
        .down_events(SPREAD_1_5_9)
        .down(rules(300, &[(Percent, 100, 120)]))
        .expect(5, TooFewReplicas),
        C::new("scaleDown with pod policy limitation and previous events", 100, 2, 1, 1000)
            .down_events(SPREAD_1_5_9)
            .down(rules(300, &[(Pods, 5, 120)]))
            .expect(100, ScaleDownLimit),
        C::new("scaleDown with percent policy limitation and previous events", 100, 0, 1, 1000)
            .down_events(&[(2, 100), (4, 60), (6, 20)])
            .down(rules(300, &[(Percent, 50, 120)]))
            .expect(56, ScaleDownLimit),
        C::new(
            "scaleDown with percent policy and previous scale up and down events",
            10,
            1,
            1,
            1000,
        )
        .up_events(&[(2, 60)])
        .down_events(&[(4, 60)])
        .down(rules(0, &[(Percent, 50, 180)]))
        .expect(6, ScaleDownLimit),
        // (100 + 30) − 10 % = 117 is above current: keep current.
        C::new("scaleDown with previous events preventing further scale down", 100, 0, 1, 1000)
            .down_events(SPREAD_10_10_10)
            .down(rules(300, &[(Percent, 10, 120)]))
            .expect(100, ScaleDownLimit),
        // (10 + 30) − 1000 % is negative: the recommendation itself is allowed.
        C::new("scaleDown with with previous events still allowing more scale down", 10, 5, 1, 1000)
            .down_events(SPREAD_10_10_10)
            .down(rules(300, &[(Percent, 1000, 120)]))
            .expect(5, DesiredWithinRange),
        // The `outdated` flag never affects the limits.
        C::new("check 'outdated' flag for events for one behavior for up", 100, 200, 1, 1000)
            .up_events(SPREAD_8_12_9_11)
            .up(rules(0, &[(Pods, 1000, 60)]))
            .expect(200, DesiredWithinRange),
        C::new(
            "check that events were not marked 'outdated' for two different policies in the behavior for up",
            100,
            200,
            1,
            1000,
        )
        .up_events(SPREAD_8_12_9_11)
        .up(rules(0, &[(Pods, 1000, 120), (Percent, 100, 60)]))
        .expect(200, DesiredWithinRange),
        C::new(
            "check that events were marked 'outdated' for two different policies in the behavior for up",
            100,
            200,
            1,
            1000,
        )
        .up_events(SPREAD_8_12_9_11)
        .up(rules(0, &[(Pods, 1000, 30), (Percent, 100, 60)]))
        .expect(200, DesiredWithinRange),
        C::new("check 'outdated' flag for events for one behavior for down", 100, 5, 1, 1000)
            .down_events(SPREAD_8_12_9_11)
            .down(rules(300, &[(Pods, 1000, 60)]))
            .expect(5, DesiredWithinRange),
        C::new(
            "check that events were not marked 'outdated' for two different policies in the behavior for down",
            100,
            5,
            1,
            1000,
        )
        .down_events(SPREAD_8_12_9_11)
        .down(rules(300, &[(Pods, 1000, 120), (Percent, 100, 60)]))
        .expect(5, DesiredWithinRange),
        C::new(
            "check that events were marked 'outdated' for two different policies in the behavior for down",
            100,
            5,
            1,
            1000,
        )
        .down_events(SPREAD_8_12_9_11)
        .down(rules(300, &[(Pods, 1000, 30), (Percent, 100, 60)]))
        .expect(5, DesiredWithinRange),
    ])
}

#[test]
fn scaling_with_rules_table_has_every_upstream_row() {
    assert_eq!(scaling_with_rules_cases().len(), 42);
}

#[test]
fn scaling_with_rules_rate_limits_and_reasons_match_the_hpa() {
    let mut failures = Vec::new();
    for case in scaling_with_rules_cases() {
        let got = limit_with_behavior(
            NOW,
            &case.behavior(),
            &case.history(),
            case.current,
            case.desired,
            case.min,
            case.max,
        );
        expect(
            &mut failures,
            case.upstream,
            "(replicas, reason)",
            got,
            (case.expected, case.reason),
        );
    }
    report(&failures);
}

/// With no recorded recommendation the stabilization step passes the recommendation through,
/// so every rate row must hold through the whole behavior chain too.
#[test]
fn scaling_with_rules_rows_hold_through_the_whole_behavior_chain() {
    let mut failures = Vec::new();
    for case in scaling_with_rules_cases() {
        let behavior = case.behavior();
        let mut history = case.history();
        let stabilized = history.stabilize(NOW, &behavior, case.current, case.desired);
        expect(
            &mut failures,
            case.upstream,
            "stabilized",
            stabilized,
            case.desired,
        );
        let got = limit_with_behavior(
            NOW,
            &behavior,
            &history,
            case.current,
            stabilized,
            case.min,
            case.max,
        );
        expect(
            &mut failures,
            case.upstream,
            "(replicas, reason)",
            got,
            (case.expected, case.reason),
        );
    }
    report(&failures);
}

// ---------------------------------------------------------------------------------------------
// TestCalculateScaleUpLimitWithScalingRules / TestCalculateScaleDownLimitWithBehaviors.
// ---------------------------------------------------------------------------------------------

/// `selectPolicy: Min` over Pods 2 / 60 s and Percent 50 / 60 s, 300 s window.
fn min_select_pods_2_percent_50(defaults: Rules) -> Rules {
    Rules::merged(
        Some(&ScalingRules {
            stabilization_window_seconds: Some(300),
            select_policy: Some(SelectPolicy::Min),
            ..rules(300, &[(Pods, 2, 60), (Percent, 50, 60)])
        }),
        defaults,
    )
}

#[test]
fn scale_up_limit_with_min_select_policy_takes_the_smaller_increase() {
    // TestCalculateScaleUpLimitWithScalingRules: from 1 replica, +2 pods → 3, +50 % → 2.
    let rules = min_select_pods_2_percent_50(Rules::default_up());
    assert_eq!(scale_up_limit(NOW, 1, &rules, &History::default()), 2);
}

#[test]
fn scale_down_limit_with_min_select_policy_takes_the_smaller_decrease() {
    // TestCalculateScaleDownLimitWithBehaviors: from 5 replicas, −2 pods → 3, −50 % → 2.
    let rules = min_select_pods_2_percent_50(Rules::default_down());
    assert_eq!(scale_down_limit(NOW, 5, &rules, &History::default()), 3);
}

// ---------------------------------------------------------------------------------------------
// TestStoreScaleEvents: slot reuse of outdated scale events.
// ---------------------------------------------------------------------------------------------

struct StoreCase {
    upstream: &'static str,
    /// `(change, age in seconds)` of the events stored before.
    before: &'static [(u32, u64)],
    /// `None`: the HPA has no behavior, stores nothing (scalers: `Engine::applied` only records
    /// with a behavior, so `record_scale` is not called).
    rules: Option<ScalingRules>,
    /// `(change, outdated)` of the stored events afterwards, in order.
    after: &'static [(u32, bool)],
    /// Replicas changed within the last 60 s before storing.
    change_in_last_minute: u32,
}

fn store_scale_events_cases() -> Vec<StoreCase> {
    Vec::from([
        StoreCase {
            upstream: "empty entries with default behavior",
            before: &[],
            rules: None,
            after: &[],
            change_in_last_minute: 0,
        },
        StoreCase {
            upstream: "empty entries with two-policy-behavior",
            before: &[],
            rules: Some(rules(0, &[(Pods, 10, 60), (Percent, 100, 60)])),
            after: &[(5, false)],
            change_in_last_minute: 0,
        },
        StoreCase {
            upstream: "one outdated entry to be kept untouched without behavior",
            before: &[(7, 61)],
            rules: None,
            after: &[(7, false)],
            change_in_last_minute: 0,
        },
        StoreCase {
            upstream: "one outdated entry to be replaced with behavior",
            before: &[(7, 61)],
            rules: Some(rules(0, &[(Pods, 10, 60), (Percent, 100, 60)])),
            after: &[(5, false)],
            change_in_last_minute: 0,
        },
        StoreCase {
            upstream: "one actual entry to be not touched with behavior",
            before: &[(7, 58)],
            rules: Some(rules(0, &[(Pods, 10, 60), (Percent, 100, 60)])),
            after: &[(7, false), (5, false)],
            change_in_last_minute: 7,
        },
        StoreCase {
            upstream: "two entries, one of them to be replaced",
            before: &[(7, 61), (6, 59)],
            rules: Some(rules(0, &[(Pods, 10, 60)])),
            after: &[(5, false), (6, false)],
            change_in_last_minute: 6,
        },
        // The longest period (60 s) decides: both 61 s old events become outdated, the last
        // outdated slot is reused and the other one keeps its flag.
        StoreCase {
            upstream: "replace one entry, use policies with different periods",
            before: &[(8, 29), (6, 59), (7, 61), (9, 61)],
            rules: Some(rules(0, &[(Pods, 10, 60), (Percent, 100, 30)])),
            after: &[(8, false), (6, false), (7, true), (5, false)],
            change_in_last_minute: 14,
        },
        StoreCase {
            upstream: "two entries, both actual",
            before: &[(7, 58), (6, 59)],
            rules: Some(rules(0, &[(Pods, 10, 120), (Percent, 100, 30)])),
            after: &[(7, false), (6, false), (5, false)],
            change_in_last_minute: 13,
        },
    ])
}

/// A single Pods policy of 0 over `period` s: its limit is exactly the replica count at the
/// start of the period, which exposes the change the HPA counts within that period.
fn period_probe(period: u32) -> Rules {
    Rules {
        stabilization_window_seconds: 0,
        select_policy: SelectPolicy::Max,
        policies: vec![ScalingPolicy {
            policy_type: Pods,
            value: 0,
            period_seconds: period,
        }],
        tolerance: 0.1,
    }
}

fn stored(list: &[ScaleEvent]) -> Vec<(u32, bool)> {
    list.iter().map(|e| (e.change, e.outdated)).collect()
}

#[test]
fn store_scale_events_reuses_outdated_slots_when_scaling_up() {
    let mut failures = Vec::new();
    for case in store_scale_events_cases() {
        let mut history = History {
            up_events: events(case.before),
            ..History::default()
        };
        let current = 10;
        let start = scale_up_limit(NOW, current, &period_probe(60), &history);
        expect(
            &mut failures,
            case.upstream,
            "up: change in the last 60 s",
            i64::from(current) - start,
            i64::from(case.change_in_last_minute),
        );
        if let Some(rules) = &case.rules {
            history.record_scale(NOW, &resolved(Some(rules.clone()), None), 10, 15);
        }
        expect(
            &mut failures,
            case.upstream,
            "up: stored events",
            stored(&history.up_events),
            case.after.to_vec(),
        );
        expect(
            &mut failures,
            case.upstream,
            "up: down events untouched",
            history.down_events.len(),
            0,
        );
    }
    report(&failures);
}

#[test]
fn store_scale_events_reuses_outdated_slots_when_scaling_down() {
    let mut failures = Vec::new();
    for case in store_scale_events_cases() {
        let mut history = History {
            down_events: events(case.before),
            ..History::default()
        };
        let current = 10;
        let start = scale_down_limit(NOW, current, &period_probe(60), &history);
        expect(
            &mut failures,
            case.upstream,
            "down: change in the last 60 s",
            start - i64::from(current),
            i64::from(case.change_in_last_minute),
        );
        if let Some(rules) = &case.rules {
            history.record_scale(NOW, &resolved(None, Some(rules.clone())), 10, 5);
        }
        expect(
            &mut failures,
            case.upstream,
            "down: stored events",
            stored(&history.down_events),
            case.after.to_vec(),
        );
        expect(
            &mut failures,
            case.upstream,
            "down: up events untouched",
            history.up_events.len(),
            0,
        );
    }
    report(&failures);
}

// ---------------------------------------------------------------------------------------------
// TestNormalizeDesiredReplicasWithBehavior: the stabilization stage of the behavior path
// (upstream `stabilizeRecommendationWithBehaviors`). Upstream passes both windows explicitly,
// 0 when a row does not set one; it does not check the condition reason.
// ---------------------------------------------------------------------------------------------

struct StabilizeCase {
    upstream: &'static str,
    /// `(replicas, age in seconds)`.
    recorded: &'static [(u32, u64)],
    up_window: u32,
    down_window: u32,
    current: u32,
    desired: u32,
    expected: u32,
    /// Stored raw recommendations afterwards, in order (`None`: upstream does not check).
    stored: Option<&'static [u32]>,
}

const STABILIZE_CASES: &[StabilizeCase] = &[
    StabilizeCase {
        upstream: "empty recommendations for scaling down",
        recorded: &[],
        up_window: 0,
        down_window: 0,
        current: 100,
        desired: 5,
        expected: 5,
        stored: Some(&[5]),
    },
    StabilizeCase {
        upstream: "simple scale down stabilization",
        recorded: &[(4, 120), (5, 60)],
        up_window: 0,
        down_window: 180,
        current: 100,
        desired: 3,
        expected: 5,
        stored: Some(&[4, 5, 3]),
    },
    StabilizeCase {
        upstream: "simple scale up stabilization",
        recorded: &[(4, 120), (5, 60)],
        up_window: 300,
        down_window: 0,
        current: 1,
        desired: 7,
        expected: 4,
        stored: Some(&[4, 5, 7]),
    },
    StabilizeCase {
        upstream: "no scale down stabilization",
        recorded: &[(1, 120), (2, 60)],
        up_window: 300,
        down_window: 0,
        current: 100,
        desired: 3,
        expected: 3,
        stored: Some(&[1, 2, 3]),
    },
    StabilizeCase {
        upstream: "no scale up stabilization",
        recorded: &[(4, 120), (5, 60)],
        up_window: 0,
        down_window: 300,
        current: 1,
        desired: 3,
        expected: 3,
        stored: Some(&[4, 5, 3]),
    },
    StabilizeCase {
        upstream: "no scale down stabilization, reuse recommendation element",
        recorded: &[(10, 600), (9, 540)],
        up_window: 0,
        down_window: 0,
        current: 100,
        desired: 3,
        expected: 3,
        stored: Some(&[10, 3]),
    },
    StabilizeCase {
        upstream: "no scale up stabilization, reuse recommendation element",
        recorded: &[(10, 600), (9, 540)],
        up_window: 0,
        down_window: 0,
        current: 1,
        desired: 100,
        expected: 100,
        stored: Some(&[10, 100]),
    },
    StabilizeCase {
        upstream: "scale down stabilization, reuse one of obsolete recommendation element",
        recorded: &[(10, 600), (4, 60), (5, 120), (9, 540)],
        up_window: 0,
        down_window: 180,
        current: 100,
        desired: 3,
        expected: 5,
        stored: Some(&[10, 4, 5, 3]),
    },
    // Only the 100-minute-old entry is outside both windows, so only its slot is reused.
    StabilizeCase {
        upstream: "scale up stabilization, reuse one of obsolete recommendation element",
        recorded: &[(10, 6000), (6, 60), (5, 120), (9, 180)],
        up_window: 300,
        down_window: 0,
        current: 1,
        desired: 100,
        expected: 5,
        stored: Some(&[100, 6, 5, 9]),
    },
    StabilizeCase {
        upstream: "scale up and down stabilization, do not scale up when prenormalized rec goes down",
        recorded: &[(2, 6000), (3, 180)],
        up_window: 300,
        down_window: 300,
        current: 2,
        desired: 1,
        expected: 2,
        stored: None,
    },
    StabilizeCase {
        upstream: "scale up and down stabilization, do not scale down when prenormalized rec goes up",
        recorded: &[(2, 6000), (1, 180)],
        up_window: 300,
        down_window: 300,
        current: 2,
        desired: 3,
        expected: 2,
        stored: None,
    },
];

#[test]
fn normalize_desired_replicas_with_behavior_stabilizes_like_the_hpa() {
    assert_eq!(STABILIZE_CASES.len(), 11);
    let mut failures = Vec::new();
    for case in STABILIZE_CASES {
        let behavior = resolved(
            Some(window_only(case.up_window)),
            Some(window_only(case.down_window)),
        );
        let mut history = History {
            recommendations: recommendations(case.recorded),
            ..History::default()
        };
        let got = history.stabilize(NOW, &behavior, case.current, case.desired);
        expect(
            &mut failures,
            case.upstream,
            "stabilized",
            got,
            case.expected,
        );
        if let Some(want) = case.stored {
            let values: Vec<u32> = history.recommendations.iter().map(|r| r.replicas).collect();
            expect(
                &mut failures,
                case.upstream,
                "stored recommendations",
                values,
                want.to_vec(),
            );
            // Not checked upstream: the stored (or reused) slot carries the controller's now.
            let fresh = history
                .recommendations
                .iter()
                .filter(|r| r.at == NOW)
                .count();
            expect(
                &mut failures,
                case.upstream,
                "entries stamped now",
                fresh,
                1,
            );
        }
    }
    report(&failures);
}

// ---------------------------------------------------------------------------------------------
// TestNormalizeDesiredReplicas: legacy stabilization (no behavior), 5-minute window.
// ---------------------------------------------------------------------------------------------

struct LegacyStabilizeCase {
    upstream: &'static str,
    recorded: &'static [(u32, u64)],
    desired: u32,
    expected: u32,
    stored_len: usize,
}

const LEGACY_STABILIZE_CASES: &[LegacyStabilizeCase] = &[
    LegacyStabilizeCase {
        upstream: "empty log",
        recorded: &[],
        desired: 5,
        expected: 5,
        stored_len: 1,
    },
    LegacyStabilizeCase {
        upstream: "stabilize",
        recorded: &[(4, 120), (5, 60)],
        desired: 3,
        expected: 5,
        stored_len: 3,
    },
    LegacyStabilizeCase {
        upstream: "no stabilize",
        recorded: &[(1, 120), (2, 60)],
        desired: 3,
        expected: 3,
        stored_len: 3,
    },
    LegacyStabilizeCase {
        upstream: "no stabilize - old recommendations",
        recorded: &[(10, 600), (9, 540)],
        desired: 3,
        expected: 3,
        stored_len: 2,
    },
    LegacyStabilizeCase {
        upstream: "stabilize - old recommendations",
        recorded: &[(10, 600), (4, 60), (5, 120), (9, 540)],
        desired: 3,
        expected: 5,
        stored_len: 4,
    },
];

#[test]
fn legacy_stabilization_keeps_the_highest_recommendation_of_five_minutes() {
    assert_eq!(DEFAULT_SCALE_DOWN_WINDOW_SECONDS, 300);
    let mut failures = Vec::new();
    for case in LEGACY_STABILIZE_CASES {
        let mut history = History {
            recommendations: recommendations(case.recorded),
            ..History::default()
        };
        let got = history.stabilize_legacy(NOW, DEFAULT_SCALE_DOWN_WINDOW_SECONDS, case.desired);
        expect(
            &mut failures,
            case.upstream,
            "stabilized",
            got,
            case.expected,
        );
        expect(
            &mut failures,
            case.upstream,
            "stored recommendations",
            history.recommendations.len(),
            case.stored_len,
        );
    }
    report(&failures);
}

// ---------------------------------------------------------------------------------------------
// TestConvertDesiredReplicasWithRules: legacy bounds, `max(2 × current, 4)` per sync.
// ---------------------------------------------------------------------------------------------

struct LegacyLimitCase {
    upstream: &'static str,
    current: u32,
    desired: u32,
    min: u32,
    max: u32,
    expected: u32,
    reason: Limit,
}

const LEGACY_LIMIT_CASES: &[LegacyLimitCase] = &[
    LegacyLimitCase {
        upstream: "prenormalized desired replicas within range",
        current: 5,
        desired: 7,
        min: 3,
        max: 8,
        expected: 7,
        reason: Limit::DesiredWithinRange,
    },
    LegacyLimitCase {
        upstream: "prenormalized desired replicas < minReplicas",
        current: 3,
        desired: 1,
        min: 2,
        max: 8,
        expected: 2,
        reason: Limit::TooFewReplicas,
    },
    LegacyLimitCase {
        upstream: "prenormalized desired zeroed replicas within range",
        current: 1,
        desired: 0,
        min: 0,
        max: 10,
        expected: 0,
        reason: Limit::DesiredWithinRange,
    },
    LegacyLimitCase {
        upstream: "maxReplicas is the limit because maxReplicas < scaleUpLimit",
        current: 20,
        desired: 1000,
        min: 1,
        max: 10,
        expected: 10,
        reason: Limit::TooManyReplicas,
    },
    // Upstream expects `calculateScaleUpLimit(3)`: max(2 × 3, 4) = 6 with the production factor.
    LegacyLimitCase {
        upstream: "scaleUpLimit is the limit because scaleUpLimit < maxReplicas",
        current: 3,
        desired: 1000,
        min: 1,
        max: 2000,
        expected: 6,
        reason: Limit::ScaleUpLimit,
    },
];

#[test]
fn convert_desired_replicas_with_rules_clamps_like_the_legacy_hpa() {
    let mut failures = Vec::new();
    for case in LEGACY_LIMIT_CASES {
        let got = limit_legacy(case.current, case.desired, case.min, case.max);
        expect(
            &mut failures,
            case.upstream,
            "(replicas, reason)",
            got,
            (case.expected, case.reason),
        );
    }
    report(&failures);
}

#[test]
fn legacy_scale_up_limit_is_four_below_two_replicas() {
    // calculateScaleUpLimit: max(2 × current, 4); the minimum of 4 applies from 1 replica.
    assert_eq!(limit_legacy(1, 100, 1, 100), (4, Limit::ScaleUpLimit));
    assert_eq!(limit_legacy(2, 100, 1, 100), (4, Limit::ScaleUpLimit));
    assert_eq!(limit_legacy(3, 100, 1, 100), (6, Limit::ScaleUpLimit));
}

// ---------------------------------------------------------------------------------------------
// Whole-controller cases of horizontal_test.go, replayed through the pure chain.
//
// The controller seeds its recommendation log with the current replica count the first time it
// sees an HPA (`recordInitialRecommendation`), unless the test pre-sets the log; rows whose
// upstream case leaves the log unset therefore start with `(current, 0 s ago)`.
// ---------------------------------------------------------------------------------------------

/// Where a controller-level row's raw recommendation comes from.
enum Raw {
    /// An External metric, through [`propose`] with the default tolerance:
    /// `(usage milli, target milli, type)`.
    External(i64, i64, MetricType),
    /// A CPU-based case: the replica calculator's output for the upstream samples (we do not
    /// compute resource metrics; the derivation is in the row's comment).
    Given(u32),
}

struct ControllerCase {
    upstream: &'static str,
    min: u32,
    max: u32,
    /// spec = status = ready replicas.
    current: u32,
    recorded: &'static [(u32, u64)],
    raw: Raw,
    expected: u32,
    /// The `ScalingLimited` reason upstream expects.
    reason: Limit,
    /// Upstream expects `AbleToScale: ScaleDownStabilized` (the window changed the count).
    held_by_window: bool,
}

fn raw_recommendation(raw: &Raw, current: u32) -> u32 {
    match *raw {
        Raw::Given(n) => n,
        Raw::External(usage, target, metric_type) => propose(
            usage as f64 / 1000.0,
            target as f64 / 1000.0,
            metric_type,
            Replicas::settled(current),
            Tolerance::default(),
        )
        .expect("an External proposal with ready replicas"),
    }
}

const LEGACY_CONTROLLER_CASES: &[ControllerCase] = &[
    ControllerCase {
        upstream: "TestScaleUpCMExternal",
        min: 2,
        max: 6,
        current: 3,
        recorded: &[(3, 0)],
        raw: Raw::External(8600, 6666, MetricType::Value),
        expected: 4,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    ControllerCase {
        upstream: "TestScaleUpPerPodCMExternal",
        min: 2,
        max: 6,
        current: 3,
        recorded: &[(3, 0)],
        raw: Raw::External(8600, 2222, MetricType::AverageValue),
        expected: 4,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    ControllerCase {
        upstream: "TestScaleDownCMExternal",
        min: 2,
        max: 6,
        current: 5,
        recorded: &[],
        raw: Raw::External(8600, 14400, MetricType::Value),
        expected: 3,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    ControllerCase {
        upstream: "TestScaleDownToZeroCMExternal",
        min: 0,
        max: 6,
        current: 5,
        recorded: &[],
        raw: Raw::External(0, 14400, MetricType::Value),
        expected: 0,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    ControllerCase {
        upstream: "TestScaleDownPerPodCMExternal",
        min: 2,
        max: 6,
        current: 5,
        recorded: &[],
        raw: Raw::External(8600, 3000, MetricType::AverageValue),
        expected: 3,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    ControllerCase {
        upstream: "TestToleranceCMExternal",
        min: 2,
        max: 6,
        current: 4,
        recorded: &[(4, 0)],
        raw: Raw::External(8600, 8666, MetricType::Value),
        expected: 4,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    ControllerCase {
        upstream: "TestTolerancePerPodCMExternal",
        min: 2,
        max: 6,
        current: 4,
        recorded: &[(4, 0)],
        raw: Raw::External(8600, 2200, MetricType::AverageValue),
        expected: 4,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    // 50 % CPU against a 100 % target on 3 ready pods proposes 2; a 4 recorded a minute ago holds
    // the count (the 10-minute-old 10 is outside the window).
    ControllerCase {
        upstream: "TestStabilizeDownscale",
        min: 1,
        max: 5,
        current: 4,
        recorded: &[(10, 600), (4, 60)],
        raw: Raw::Given(2),
        expected: 4,
        reason: Limit::DesiredWithinRange,
        held_by_window: true,
    },
    // 28 % CPU against 50 % on 5 pods proposes 3; the seeded initial recommendation (5) holds.
    ControllerCase {
        upstream: "TestScaleDownStabilizeInitialSize",
        min: 2,
        max: 6,
        current: 5,
        recorded: &[(5, 0)],
        raw: Raw::Given(3),
        expected: 5,
        reason: Limit::DesiredWithinRange,
        held_by_window: true,
    },
    // ~3.8 % CPU against 90 % on 3 pods proposes 1.
    ControllerCase {
        upstream: "TestMinReplicas",
        min: 2,
        max: 5,
        current: 3,
        recorded: &[],
        raw: Raw::Given(1),
        expected: 2,
        reason: Limit::TooFewReplicas,
        held_by_window: false,
    },
    // No CPU use proposes 0.
    ControllerCase {
        upstream: "TestZeroMinReplicasDesiredZero",
        min: 0,
        max: 5,
        current: 3,
        recorded: &[],
        raw: Raw::Given(0),
        expected: 0,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
    ControllerCase {
        upstream: "TestMinReplicasDesiredZero",
        min: 2,
        max: 5,
        current: 3,
        recorded: &[],
        raw: Raw::Given(0),
        expected: 2,
        reason: Limit::TooFewReplicas,
        held_by_window: false,
    },
    // 18.5 CPU over 3.0 requested (616 %) against 90 % on 3 pods proposes 21.
    ControllerCase {
        upstream: "TestMaxReplicas",
        min: 2,
        max: 5,
        current: 3,
        recorded: &[(3, 0)],
        raw: Raw::Given(21),
        expected: 5,
        reason: Limit::TooManyReplicas,
        held_by_window: false,
    },
    // The same samples give 24 in replica_calculator_test.go's TestReplicaCalcSuperfluousMetrics.
    ControllerCase {
        upstream: "TestSuperfluousMetrics",
        min: 2,
        max: 6,
        current: 4,
        recorded: &[(4, 0)],
        raw: Raw::Given(24),
        expected: 6,
        reason: Limit::TooManyReplicas,
        held_by_window: false,
    },
    // The same samples give 3 in replica_calculator_test.go's TestReplicaCalcMissingMetrics.
    ControllerCase {
        upstream: "TestMissingMetrics",
        min: 2,
        max: 6,
        current: 4,
        recorded: &[],
        raw: Raw::Given(3),
        expected: 3,
        reason: Limit::DesiredWithinRange,
        held_by_window: false,
    },
];

#[test]
fn controller_cases_without_behavior_match_through_the_legacy_chain() {
    let mut failures = Vec::new();
    for case in LEGACY_CONTROLLER_CASES {
        let raw = raw_recommendation(&case.raw, case.current);
        let mut history = History {
            recommendations: recommendations(case.recorded),
            ..History::default()
        };
        let stabilized = history.stabilize_legacy(NOW, DEFAULT_SCALE_DOWN_WINDOW_SECONDS, raw);
        expect(
            &mut failures,
            case.upstream,
            "held by the window",
            stabilized != raw,
            case.held_by_window,
        );
        let got = limit_legacy(case.current, stabilized, case.min, case.max);
        expect(
            &mut failures,
            case.upstream,
            "(replicas, reason)",
            got,
            (case.expected, case.reason),
        );
    }
    report(&failures);
}

struct BehaviorControllerCase {
    upstream: &'static str,
    scale_up: Option<ScalingRules>,
    min: u32,
    max: u32,
    current: u32,
    recorded: &'static [(u32, u64)],
    raw: u32,
    expected: u32,
    reason: Limit,
}

fn behavior_controller_cases() -> Vec<BehaviorControllerCase> {
    Vec::from([
        // 200 % CPU against a 10 % target on 3 pods proposes 60; +700 % per minute allows 24.
        BehaviorControllerCase {
            upstream: "TestUpscaleCap",
            scale_up: Some(rules(0, &[(Percent, 700, 60)])),
            min: 1,
            max: 100,
            current: 3,
            recorded: &[(3, 0)],
            raw: 60,
            expected: 24,
            reason: Limit::ScaleUpLimit,
        },
        BehaviorControllerCase {
            upstream: "TestUpscaleCapGreaterThanMaxReplicas",
            scale_up: Some(rules(0, &[(Percent, 700, 60)])),
            min: 1,
            max: 20,
            current: 3,
            recorded: &[(3, 0)],
            raw: 60,
            expected: 20,
            reason: Limit::TooManyReplicas,
        },
        // 28 % CPU against 50 % on 5 pods proposes 3; the default scale-down rules allow it.
        BehaviorControllerCase {
            upstream: "TestScaleDownWithScalingRules",
            scale_up: Some(rules(30, &[(Percent, 100, 15)])),
            min: 2,
            max: 6,
            current: 5,
            recorded: &[],
            raw: 3,
            expected: 3,
            reason: Limit::DesiredWithinRange,
        },
    ])
}

#[test]
fn controller_cases_with_behavior_match_through_the_behavior_chain() {
    let mut failures = Vec::new();
    for case in behavior_controller_cases() {
        let behavior = resolved(case.scale_up.clone(), None);
        let mut history = History {
            recommendations: recommendations(case.recorded),
            ..History::default()
        };
        let stabilized = history.stabilize(NOW, &behavior, case.current, case.raw);
        let got = limit_with_behavior(
            NOW,
            &behavior,
            &history,
            case.current,
            stabilized,
            case.min,
            case.max,
        );
        expect(
            &mut failures,
            case.upstream,
            "(replicas, reason)",
            got,
            (case.expected, case.reason),
        );
    }
    report(&failures);
}
