//! Per-metric replica proposals, as the HPA computes them for External metrics.

use crate::config::model::MetricType;

/// The dead band around a usage ratio of 1 inside which the HPA keeps the current count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Largest relative increase ignored (scale-up side), default 0.1.
    pub up: f64,
    /// Largest relative decrease ignored (scale-down side), default 0.1.
    pub down: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            up: DEFAULT_TOLERANCE,
            down: DEFAULT_TOLERANCE,
        }
    }
}

/// The kube-controller-manager's default tolerance.
pub const DEFAULT_TOLERANCE: f64 = 0.1;

impl Tolerance {
    /// Whether `ratio` is within `[1 - down, 1 + up]` (false for NaN).
    pub fn contains(self, ratio: f64) -> bool {
        (1.0 - self.down) <= ratio && ratio <= (1.0 + self.up)
    }
}

/// The replica counts the HPA reads before deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replicas {
    /// `spec.replicas` of the scale subresource: the count last asked for.
    pub current: u32,
    /// `status.replicas`: pods that exist (used by AverageValue targets).
    pub status: u32,
    /// Pods that are ready (used by Value targets).
    pub ready: u32,
}

impl Replicas {
    /// A workload whose `n` replicas all exist and are ready.
    pub const fn settled(n: u32) -> Self {
        Replicas {
            current: n,
            status: n,
            ready: n,
        }
    }
}

/// A metric value or target as the HPA sees it: KEDA hands quantities in milli-units, truncated,
/// and reports NaN, infinite and negative values as 0.
pub fn to_milli(value: f64) -> i64 {
    if value.is_finite() && value > 0.0 {
        // `as` saturates on overflow, which is what a quantity does too.
        (value * 1000.0) as i64
    } else {
        0
    }
}

/// Clamps a replica count computed in floating point to the `u32` range (HPA clamps to MaxInt32).
fn ceil_to_replicas(x: f64) -> u32 {
    let c = x.ceil();
    if c.is_nan() || c <= 0.0 {
        0
    } else if c >= f64::from(i32::MAX) {
        i32::MAX as u32
    } else {
        c as u32
    }
}

/// What one metric proposes, as the HPA's replica calculator would.
///
/// - `AverageValue`: `ratio = usage / (target × status)`; outside the tolerance band the
///   proposal is `ceil(usage / target)`, inside it is `status`.
/// - `Value`: `ratio = usage / target`; inside the band the proposal is `current`, outside it
///   is `ceil(ratio × ready)`; with `current == 0` it is `ceil(ratio)`.
///
/// Returns `None` when the proposal cannot be computed: a `Value` target with no ready replica
/// while replicas are requested (the HPA would propose 0 and scale down on missing data).
pub fn propose(
    value: f64,
    target: f64,
    metric_type: MetricType,
    replicas: Replicas,
    tolerance: Tolerance,
) -> Option<u32> {
    let usage = to_milli(value) as f64;
    let target = to_milli(target) as f64;
    if target <= 0.0 {
        return None;
    }
    match metric_type {
        MetricType::AverageValue => {
            let status = replicas.status;
            let ratio = usage / (target * f64::from(status));
            if tolerance.contains(ratio) {
                Some(status)
            } else {
                Some(ceil_to_replicas(usage / target))
            }
        }
        MetricType::Value => {
            let ratio = usage / target;
            if replicas.current == 0 {
                return Some(ceil_to_replicas(ratio));
            }
            if tolerance.contains(ratio) {
                return Some(replicas.current);
            }
            if replicas.ready == 0 {
                return None;
            }
            Some(ceil_to_replicas(ratio * f64::from(replicas.ready)))
        }
    }
}

/// The metric value KEDA feeds the HPA for a trigger in fallback, so that the HPA proposes
/// `replicas`: `target × replicas` for AverageValue, `target × replicas / ready` for Value.
///
/// `None` for a Value target with no ready replica (KEDA reports an error there).
pub fn fallback_value(
    target: f64,
    metric_type: MetricType,
    replicas: u32,
    ready: u32,
) -> Option<f64> {
    match metric_type {
        MetricType::AverageValue => Some(target * f64::from(replicas)),
        MetricType::Value if ready == 0 => None,
        MetricType::Value => Some(target * f64::from(replicas) / f64::from(ready)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Tolerance = Tolerance { up: 0.1, down: 0.1 };

    #[test]
    fn average_value_is_ceil_of_usage_over_target() {
        assert_eq!(
            propose(
                105.0,
                10.0,
                MetricType::AverageValue,
                Replicas::settled(3),
                T
            ),
            Some(11)
        );
    }

    #[test]
    fn average_value_inside_tolerance_keeps_status_replicas() {
        // 32 / (10 × 3) = 1.066 is within 10 %.
        assert_eq!(
            propose(
                32.0,
                10.0,
                MetricType::AverageValue,
                Replicas::settled(3),
                T
            ),
            Some(3)
        );
        // exactly on the band edge (ratio 1.1) still counts as inside
        assert_eq!(
            propose(
                33.0,
                10.0,
                MetricType::AverageValue,
                Replicas::settled(3),
                T
            ),
            Some(3)
        );
        assert_eq!(
            propose(
                33.1,
                10.0,
                MetricType::AverageValue,
                Replicas::settled(3),
                T
            ),
            Some(4)
        );
    }

    #[test]
    fn value_scales_ready_replicas() {
        let r = Replicas {
            current: 4,
            status: 4,
            ready: 2,
        };
        // ratio 3 × 2 ready = 6
        assert_eq!(propose(30.0, 10.0, MetricType::Value, r, T), Some(6));
        // within the band: keep current (4), not ready
        assert_eq!(propose(10.5, 10.0, MetricType::Value, r, T), Some(4));
    }

    #[test]
    fn value_with_no_ready_replica_is_not_computable() {
        let r = Replicas {
            current: 2,
            status: 2,
            ready: 0,
        };
        assert_eq!(propose(30.0, 10.0, MetricType::Value, r, T), None);
    }

    #[test]
    fn per_direction_tolerance() {
        let t = Tolerance { up: 0.0, down: 0.5 };
        // +5 % goes up with zero up-tolerance
        assert_eq!(
            propose(
                21.0,
                10.0,
                MetricType::AverageValue,
                Replicas::settled(2),
                t
            ),
            Some(3)
        );
        // −40 % is ignored with 50 % down-tolerance
        assert_eq!(
            propose(
                12.0,
                10.0,
                MetricType::AverageValue,
                Replicas::settled(2),
                t
            ),
            Some(2)
        );
    }

    #[test]
    fn quantities_are_milli_truncated_and_non_negative() {
        assert_eq!(to_milli(1.0009), 1000);
        assert_eq!(to_milli(-3.0), 0);
        assert_eq!(to_milli(f64::NAN), 0);
        assert_eq!(to_milli(f64::INFINITY), 0);
        assert_eq!(
            propose(
                -5.0,
                10.0,
                MetricType::AverageValue,
                Replicas::settled(3),
                T
            ),
            Some(0)
        );
    }

    #[test]
    fn zero_status_replicas_proposes_from_usage() {
        let r = Replicas {
            current: 2,
            status: 0,
            ready: 0,
        };
        assert_eq!(propose(25.0, 10.0, MetricType::AverageValue, r, T), Some(3));
        assert_eq!(propose(0.0, 10.0, MetricType::AverageValue, r, T), Some(0));
    }

    #[test]
    fn fallback_values_make_the_hpa_propose_the_fallback_count() {
        let v = fallback_value(10.0, MetricType::AverageValue, 7, 3).unwrap();
        assert_eq!(
            propose(v, 10.0, MetricType::AverageValue, Replicas::settled(3), T),
            Some(7)
        );
        let v = fallback_value(10.0, MetricType::Value, 6, 3).unwrap();
        assert_eq!(
            propose(v, 10.0, MetricType::Value, Replicas::settled(3), T),
            Some(6)
        );
        assert_eq!(fallback_value(10.0, MetricType::Value, 6, 0), None);
    }
}
