//! The Kubernetes HPA replica calculator's own test facts for External metrics, re-expressed as
//! table rows against `scalers_core::engine::proposal::propose` (inputs and expected outputs
//! only; no upstream code is reused).
//!
//! Source: `pkg/controller/podautoscaler/replica_calculator_test.go` in kubernetes/kubernetes:
//! `TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods`, `TestReplicaCalcScaleUpPerPodCMExternal`,
//! `TestReplicaCalcScaleDownCMExternal`, `TestReplicaCalcScaleDownPerPodCMExternal`,
//! `TestReplicaCalcToleranceCMExternal`, `TestReplicaCalcTolerancePerPodCMExternal`,
//! `TestReplicaCalcConfigurableToleranceCMExternal`,
//! `TestReplicaCalcConfigurableTolerancePerPodCMExternal`,
//! `TestExternalPerPodMetricReplicaOverflow`, `TestExternalPerPodMetricUsageOverflow` and
//! `TestReplicaCalcExternalMetricUsageOverflow`; then, clearly separated, cases the HPA computes
//! with the very same usage-ratio code (Object metrics, whose Value/AverageValue paths are the
//! External ones, and the per-direction tolerance table `TestReplicaCalcConfigurableTolerance`)
//! transposed onto External targets.
//!
//! How upstream's inputs map to ours:
//! - Upstream metric values and targets are raw milli-quantities (`8600` is 8.6); our API takes
//!   units, so every row states milli values and [`units`] divides by 1000 (checking that
//!   KEDA's milli truncation gives the upstream quantity back).
//! - "External" with a `Value` target is `MetricType::Value`; the per-pod (`AverageValue`)
//!   target is `MetricType::AverageValue`.
//! - Upstream `currentReplicas` is both the scale's spec and status replicas; pods are ready
//!   unless the row lists unready ones (`Replicas::ready`).
//! - `Tolerances{a, b}` upstream is `{scaleDown: a, scaleUp: b}`, ours `Tolerance { up, down }`;
//!   rows without tolerances use the default 0.1 both ways.

use scalers_core::config::model::MetricType::{self, AverageValue, Value};
use scalers_core::engine::proposal::{Replicas, Tolerance, propose, to_milli};

/// A milli-quantity as the unit value our API takes.
fn units(milli: i64) -> f64 {
    let v = milli as f64 / 1000.0;
    assert_eq!(
        to_milli(v),
        milli,
        "{milli} milli does not survive the unit conversion"
    );
    v
}

/// `Tolerance` from upstream's `Tolerances{scaleDown, scaleUp}` field order.
const fn tolerances(scale_down: f64, scale_up: f64) -> Tolerance {
    Tolerance {
        up: scale_up,
        down: scale_down,
    }
}

const DEFAULT: Tolerance = tolerances(0.1, 0.1);

struct Case {
    upstream: &'static str,
    /// Sum of the metric values the source returned, in milli.
    usage_milli: i64,
    target_milli: i64,
    metric_type: MetricType,
    /// Upstream `currentReplicas` (spec and status).
    current: u32,
    /// Ready pods among them.
    ready: u32,
    tolerance: Tolerance,
    expected: u32,
}

impl Case {
    fn replicas(&self) -> Replicas {
        Replicas {
            current: self.current,
            status: self.current,
            ready: self.ready,
        }
    }
}

fn run(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let got = propose(
            units(case.usage_milli),
            units(case.target_milli),
            case.metric_type,
            case.replicas(),
            case.tolerance,
        );
        if got != Some(case.expected) {
            failures.push(format!(
                "[{}] got {got:?}, want Some({})",
                case.upstream, case.expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} upstream fact(s) not reproduced:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const EXTERNAL_CASES: &[Case] = &[
    // ratio 8600 / 4400 ≈ 1.95 times the single ready pod; unready pods are not counted.
    Case {
        upstream: "TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods",
        usage_milli: 8600,
        target_milli: 4400,
        metric_type: Value,
        current: 3,
        ready: 1,
        tolerance: DEFAULT,
        expected: 2,
    },
    Case {
        upstream: "TestReplicaCalcScaleUpPerPodCMExternal",
        usage_milli: 8600,
        target_milli: 2150,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: DEFAULT,
        expected: 4,
    },
    Case {
        upstream: "TestReplicaCalcScaleDownCMExternal",
        usage_milli: 8600,
        target_milli: 14334,
        metric_type: Value,
        current: 5,
        ready: 5,
        tolerance: DEFAULT,
        expected: 3,
    },
    Case {
        upstream: "TestReplicaCalcScaleDownPerPodCMExternal",
        usage_milli: 8600,
        target_milli: 2867,
        metric_type: AverageValue,
        current: 5,
        ready: 5,
        tolerance: DEFAULT,
        expected: 3,
    },
    // ratio ≈ 0.968: within the default band, keep current.
    Case {
        upstream: "TestReplicaCalcToleranceCMExternal",
        usage_milli: 8600,
        target_milli: 8888,
        metric_type: Value,
        current: 3,
        ready: 3,
        tolerance: DEFAULT,
        expected: 3,
    },
    // ratio 8600 / (2900 × 3) ≈ 0.989: within the default band, keep status replicas.
    Case {
        upstream: "TestReplicaCalcTolerancePerPodCMExternal",
        usage_milli: 8600,
        target_milli: 2900,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: DEFAULT,
        expected: 3,
    },
    // ratio ≈ 1.011 is outside a 1 % scale-up tolerance.
    Case {
        upstream: "TestReplicaCalcConfigurableToleranceCMExternal",
        usage_milli: 8900,
        target_milli: 8800,
        metric_type: Value,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.1, 0.01),
        expected: 4,
    },
    // ratio 8600 / 8400 ≈ 1.024 is outside a 1 % scale-up tolerance.
    Case {
        upstream: "TestReplicaCalcConfigurableTolerancePerPodCMExternal",
        usage_milli: 8600,
        target_milli: 2800,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.1, 0.01),
        expected: 4,
    },
];

#[test]
fn external_metric_proposals_match_the_replica_calculator() {
    run(EXTERNAL_CASES);
}

#[test]
fn external_per_pod_proposal_overflowing_int32_is_clamped() {
    // TestExternalPerPodMetricReplicaOverflow: MaxInt64 milli against a 1-milli per-pod target.
    let got = propose(
        i64::MAX as f64 / 1000.0,
        units(1),
        AverageValue,
        Replicas::settled(1),
        DEFAULT,
    );
    assert_eq!(got, Some(i32::MAX as u32));
}

#[test]
fn external_per_pod_usage_at_int64_max_against_the_same_target_keeps_the_count() {
    // TestExternalPerPodMetricUsageOverflow: usage and per-pod target both MaxInt64 milli.
    let max = i64::MAX as f64 / 1000.0;
    assert_eq!(
        to_milli(max),
        i64::MAX,
        "KEDA's quantity saturates at MaxInt64 milli"
    );
    let got = propose(max, max, AverageValue, Replicas::settled(1), DEFAULT);
    assert_eq!(got, Some(1));
}

#[test]
fn external_usage_sum_overflowing_int64_is_capped_and_keeps_the_count() {
    // TestReplicaCalcExternalMetricUsageOverflow: two samples of MaxInt64/2 + 1 milli sum past
    // MaxInt64; the HPA caps the sum at MaxInt64, which equals the MaxInt64 target.
    let sample = (i64::MAX / 2 + 1) as f64 / 1000.0;
    let sum = sample + sample;
    assert_eq!(
        to_milli(sum),
        i64::MAX,
        "the summed quantity is capped at MaxInt64 milli"
    );
    let target = i64::MAX as f64 / 1000.0;
    let got = propose(sum, target, Value, Replicas::settled(3), DEFAULT);
    assert_eq!(got, Some(3));
}

// ---------------------------------------------------------------------------------------------
// Same code path, transposed. The HPA computes Object metrics with a `Value` target exactly as
// External `Value` (usage ratio against the target, times ready pods; `ceil(ratio)` from zero)
// and with an `AverageValue` target exactly as External `AverageValue` (per status replica).
// ---------------------------------------------------------------------------------------------

const OBJECT_CASES: &[Case] = &[
    Case {
        upstream: "TestReplicaCalcScaleUpCMObject",
        usage_milli: 20000,
        target_milli: 15000,
        metric_type: Value,
        current: 3,
        ready: 3,
        tolerance: DEFAULT,
        expected: 4,
    },
    Case {
        upstream: "TestReplicaCalcScaleUpCMPerPodObject",
        usage_milli: 20000,
        target_milli: 5000,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: DEFAULT,
        expected: 4,
    },
    // Would be 15 if unready pods counted.
    Case {
        upstream: "TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods",
        usage_milli: 50000,
        target_milli: 10000,
        metric_type: Value,
        current: 3,
        ready: 1,
        tolerance: DEFAULT,
        expected: 5,
    },
    Case {
        upstream: "TestReplicaCalcScaleDownCMObject",
        usage_milli: 12000,
        target_milli: 20000,
        metric_type: Value,
        current: 5,
        ready: 5,
        tolerance: DEFAULT,
        expected: 3,
    },
    Case {
        upstream: "TestReplicaCalcScaleDownPerPodCMObject",
        usage_milli: 6000,
        target_milli: 2000,
        metric_type: AverageValue,
        current: 5,
        ready: 5,
        tolerance: DEFAULT,
        expected: 3,
    },
    Case {
        upstream: "TestReplicaCalcToleranceCMObject",
        usage_milli: 20666,
        target_milli: 20000,
        metric_type: Value,
        current: 3,
        ready: 3,
        tolerance: DEFAULT,
        expected: 3,
    },
    Case {
        upstream: "TestReplicaCalcTolerancePerPodCMObject",
        usage_milli: 20166,
        target_milli: 5000,
        metric_type: AverageValue,
        current: 4,
        ready: 4,
        tolerance: DEFAULT,
        expected: 4,
    },
    Case {
        upstream: "TestReplicaCalcConfigurableToleranceCMObject",
        usage_milli: 20666,
        target_milli: 20000,
        metric_type: Value,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.1, 0.01),
        expected: 4,
    },
    // ratio 20208 / (5000 × 4) = 1.0104 is just outside a 1 % scale-up tolerance.
    Case {
        upstream: "TestReplicaCalcConfigurableTolerancePerPodCMObject",
        usage_milli: 20208,
        target_milli: 5000,
        metric_type: AverageValue,
        current: 4,
        ready: 4,
        tolerance: tolerances(0.1, 0.01),
        expected: 5,
    },
    // horizontal_test.go: from zero replicas the proposal is ceil(ratio), 20 / 15 → 2.
    Case {
        upstream: "TestScaleUpFromZeroCMObject",
        usage_milli: 20000,
        target_milli: 15000,
        metric_type: Value,
        current: 0,
        ready: 0,
        tolerance: DEFAULT,
        expected: 2,
    },
    // horizontal_test.go: from zero the tolerance band is ignored, ratio 1 → 1.
    Case {
        upstream: "TestScaleUpFromZeroIgnoresToleranceCMObject",
        usage_milli: 1000,
        target_milli: 1000,
        metric_type: Value,
        current: 0,
        ready: 0,
        tolerance: DEFAULT,
        expected: 1,
    },
];

#[test]
fn object_metric_proposals_use_the_external_formulas() {
    run(OBJECT_CASES);
}

#[test]
fn object_proposal_overflowing_int32_is_clamped() {
    // TestReplicaCalcScaleUpOverflow: MaxInt64 milli against a 1-milli Value target, 3 replicas.
    let got = propose(
        i64::MAX as f64 / 1000.0,
        units(1),
        Value,
        Replicas::settled(3),
        DEFAULT,
    );
    assert_eq!(got, Some(i32::MAX as u32));
}

/// `TestReplicaCalcConfigurableTolerance` (CPU utilization against a 100 % target on 3 ready
/// pods). With every pod ready and reporting, the resource path is `ceil(ratio × 3)` inside or
/// outside the same tolerance band, so each row is an `AverageValue` of 1000 milli per pod with
/// the upstream utilization as usage: `usage = utilization × 3 pods`.
const PER_DIRECTION_TOLERANCE_CASES: &[Case] = &[
    // 101 % with no tolerance at all.
    Case {
        upstream: "TestReplicaCalcConfigurableTolerance/Outside of a 0% tolerance",
        usage_milli: 3030,
        target_milli: 1000,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.0, 0.0),
        expected: 4,
    },
    Case {
        upstream: "TestReplicaCalcConfigurableTolerance/Within a 200% scale-up tolerance",
        usage_milli: 5700,
        target_milli: 1000,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.1, 2.0),
        expected: 3,
    },
    Case {
        upstream: "TestReplicaCalcConfigurableTolerance/Outside 8% scale-up tolerance (and superfuous scale-down tolerance)",
        usage_milli: 3270,
        target_milli: 1000,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: tolerances(2.0, 0.08),
        expected: 4,
    },
    Case {
        upstream: "TestReplicaCalcConfigurableTolerance/Within a 36% scale-down tolerance",
        usage_milli: 1950,
        target_milli: 1000,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.36, 0.1),
        expected: 3,
    },
    Case {
        upstream: "TestReplicaCalcConfigurableTolerance/Outside a 34% scale-down tolerance",
        usage_milli: 1950,
        target_milli: 1000,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.34, 0.1),
        expected: 2,
    },
    // TestReplicaCalcConfigurableToleranceCM: pod metric averaging 20666 milli against 20000.
    Case {
        upstream: "TestReplicaCalcConfigurableToleranceCM",
        usage_milli: 62000,
        target_milli: 20000,
        metric_type: AverageValue,
        current: 3,
        ready: 3,
        tolerance: tolerances(0.1, 0.01),
        expected: 4,
    },
];

#[test]
fn per_direction_tolerances_bound_each_side_of_the_band() {
    run(PER_DIRECTION_TOLERANCE_CASES);
}

#[test]
fn default_tolerance_band_is_ten_percent_each_way() {
    // defaultTestingTolerance is the controller default, 0.1 both ways.
    assert_eq!(Tolerance::default(), DEFAULT);
}
