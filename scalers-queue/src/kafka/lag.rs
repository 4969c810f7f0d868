//! Consumer lag from offsets: KEDA's per-partition rules, the total, and the partition cap.
//!
//! Pure functions of what the broker answered, so every rule is unit-tested without a broker.

use std::collections::HashMap;

/// How a partition without a committed offset counts (`offsetResetPolicy`): the consumer will
/// start there once it gets the partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OffsetResetPolicy {
    /// `latest`: the consumer will skip what is there; the partition counts 1, so that one
    /// consumer runs and commits.
    #[default]
    Latest,
    /// `earliest`: the consumer will read everything still in the log; the partition counts
    /// its size (log-end offset − log-start offset).
    Earliest,
}

/// How the metric is capped so the workload is never asked for more consumers than can be
/// given partitions (KEDA's `allowIdleConsumers`, `limitToPartitionsWithLag` and
/// `ensureEvenDistributionOfPartitions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PartitionCap {
    /// The default: at most one replica per partition.
    #[default]
    Partitions,
    /// `limitToPartitionsWithLag`: at most one replica per partition that has lag.
    PartitionsWithLag,
    /// `ensureEvenDistributionOfPartitions`: the replica count is rounded up to a divisor of the
    /// partition count, so every replica gets as many partitions.
    EvenDistribution,
    /// `allowIdleConsumers`: no cap; replicas beyond the partition count stay idle.
    Uncapped,
}

/// The rules lag is computed with, from the trigger's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LagRules {
    /// `offsetResetPolicy`.
    pub offset_reset_policy: OffsetResetPolicy,
    /// `scaleToZeroOnInvalidOffset`: a partition without a committed offset counts 0.
    pub scale_to_zero_on_invalid_offset: bool,
    /// `excludePersistentLag`: a partition whose committed offset has not moved since the
    /// previous sample counts 0 in the metric (but its full lag for activity).
    pub exclude_persistent_lag: bool,
    /// `lagThreshold`: the lag one replica handles, greater than 0.
    pub lag_threshold: u64,
    /// The partition cap.
    pub partition_cap: PartitionCap,
}

/// The offsets of one partition, as the broker answered them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionOffsets {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset; `None` when the group never committed on the partition.
    pub committed: Option<i64>,
    /// The log-start offset (the first offset still in the log); only fetched when needed
    /// (`earliest` policy and no committed offset).
    pub log_start: Option<i64>,
    /// The log-end offset (the offset the next record gets); `None` when missing from the
    /// broker's answer.
    pub log_end: Option<i64>,
}

/// The lag of one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lag {
    /// The metric: the total lag without persistent lag, capped.
    pub value: u64,
    /// The total lag without persistent lag, before the cap.
    pub uncapped: u64,
    /// The total lag with persistent lag: activity is `with_persistent > activationLagThreshold`.
    pub with_persistent: u64,
    /// The number of partitions counted.
    pub partitions: u64,
    /// The number of those whose lag (without persistent lag) is greater than 0.
    pub partitions_with_lag: u64,
}

/// The lag of one partition: `(for the metric, for activity)`.
///
/// `previous` is the committed offset the previous sample saw on this partition, if any; it
/// only matters with `excludePersistentLag`.
///
/// # Examples
/// ```
/// use scalers_queue::kafka::{LagRules, OffsetResetPolicy, PartitionCap, PartitionOffsets, partition_lag};
///
/// let rules = LagRules {
///     offset_reset_policy: OffsetResetPolicy::Latest,
///     scale_to_zero_on_invalid_offset: false,
///     exclude_persistent_lag: false,
///     lag_threshold: 10,
///     partition_cap: PartitionCap::Partitions,
/// };
/// let p = PartitionOffsets {
///     topic: "orders".into(),
///     partition: 0,
///     committed: Some(3),
///     log_start: None,
///     log_end: Some(10),
/// };
/// assert_eq!(partition_lag(&rules, &p, None), (7, 7));
/// ```
pub fn partition_lag(rules: &LagRules, p: &PartitionOffsets, previous: Option<i64>) -> (u64, u64) {
    let Some(committed) = p.committed else {
        let lag = if rules.scale_to_zero_on_invalid_offset {
            0
        } else {
            match rules.offset_reset_policy {
                OffsetResetPolicy::Latest => 1,
                OffsetResetPolicy::Earliest => match p.log_end {
                    // Retention-deleted records (below the log start) are not lag.
                    Some(end) => clamp(end - p.log_start.unwrap_or(0).max(0)),
                    None => 0,
                },
            }
        };
        return (lag, lag);
    };
    let lag = p.log_end.map_or(0, |end| clamp(end - committed));
    if rules.exclude_persistent_lag && previous == Some(committed) {
        (0, lag)
    } else {
        (lag, lag)
    }
}

/// A negative difference (a committed offset past the log end, after a topic was recreated,
/// say) is no lag.
fn clamp(diff: i64) -> u64 {
    u64::try_from(diff).unwrap_or(0)
}

/// The smallest divisor `f` of `partitions` with `f × threshold ≥ total`: the replica count
/// rounded up so that every replica gets as many partitions.
///
/// `total` 0 needs no replica, and gives 0.
///
/// # Examples
/// ```
/// // 12 partitions, 10 per replica: a lag of 35 needs 4 replicas, and 4 divides 12.
/// assert_eq!(scalers_queue::kafka::even_replicas(35, 12, 10), 4);
/// // 41 needs 5; the next divisor of 12 is 6.
/// assert_eq!(scalers_queue::kafka::even_replicas(41, 12, 10), 6);
/// ```
pub fn even_replicas(total: u64, partitions: u64, threshold: u64) -> u64 {
    if total == 0 || partitions == 0 {
        return 0;
    }
    let needed = total.div_ceil(threshold);
    (needed..=partitions)
        .find(|f| partitions.is_multiple_of(*f))
        .unwrap_or(partitions)
}

/// Applies the partition cap to the total lag.
///
/// With [`PartitionCap::EvenDistribution`] the total becomes
/// [`even_replicas`] × `threshold`. Then, unless [`PartitionCap::Uncapped`], a total that would
/// need more replicas than the bound (the partitions, or the partitions with lag) becomes
/// bound × `threshold`. "Would need" is a ceiling: KEDA divides with truncation, so a total
/// between bound × threshold and (bound + 1) × threshold escapes its cap and the HPA asks for
/// one replica too many; here it does not.
///
/// # Examples
/// ```
/// use scalers_queue::kafka::{PartitionCap, cap};
///
/// // 3 partitions, 10 per replica: 35 would need 4 replicas; capped to 3 × 10.
/// assert_eq!(cap(PartitionCap::Partitions, 35, 3, 3, 10), 30);
/// assert_eq!(cap(PartitionCap::Uncapped, 35, 3, 3, 10), 35);
/// ```
pub fn cap(
    cap: PartitionCap,
    total: u64,
    partitions: u64,
    partitions_with_lag: u64,
    threshold: u64,
) -> u64 {
    let bound = match cap {
        PartitionCap::Uncapped => return total,
        PartitionCap::Partitions | PartitionCap::EvenDistribution => partitions,
        PartitionCap::PartitionsWithLag => partitions_with_lag,
    };
    let total = match cap {
        PartitionCap::EvenDistribution => even_replicas(total, partitions, threshold) * threshold,
        _ => total,
    };
    if total.div_ceil(threshold) > bound {
        bound * threshold
    } else {
        total
    }
}

/// The committed offsets of the previous sample, per partition, for `excludePersistentLag`.
///
/// A trigger keeps one and passes it to [`LagState::observe`] on each sample.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LagState {
    previous: HashMap<(String, i32), i64>,
}

impl LagState {
    /// No previous sample.
    pub fn new() -> Self {
        LagState::default()
    }

    /// The lag of one sample of `partitions`, remembering their committed offsets for the next.
    ///
    /// # Examples
    /// ```
    /// use scalers_queue::kafka::{Lag, LagRules, LagState, OffsetResetPolicy, PartitionCap, PartitionOffsets};
    ///
    /// let rules = LagRules {
    ///     offset_reset_policy: OffsetResetPolicy::Latest,
    ///     scale_to_zero_on_invalid_offset: false,
    ///     exclude_persistent_lag: true,
    ///     lag_threshold: 10,
    ///     partition_cap: PartitionCap::Partitions,
    /// };
    /// let stuck = [PartitionOffsets {
    ///     topic: "orders".into(),
    ///     partition: 0,
    ///     committed: Some(5),
    ///     log_start: None,
    ///     log_end: Some(8),
    /// }];
    /// let mut state = LagState::new();
    /// assert_eq!(state.observe(&rules, &stuck).value, 3);
    /// // The committed offset did not move: the lag no longer counts in the metric, but keeps
    /// // the trigger active.
    /// let second = state.observe(&rules, &stuck);
    /// assert_eq!((second.value, second.with_persistent), (0, 3));
    /// ```
    pub fn observe(&mut self, rules: &LagRules, partitions: &[PartitionOffsets]) -> Lag {
        let mut lag = Lag::default();
        let mut seen = HashMap::with_capacity(partitions.len());
        for p in partitions {
            let key = (p.topic.clone(), p.partition);
            let previous = self.previous.get(&key).copied();
            let (metric, activity) = partition_lag(rules, p, previous);
            lag.uncapped = lag.uncapped.saturating_add(metric);
            lag.with_persistent = lag.with_persistent.saturating_add(activity);
            lag.partitions += 1;
            if metric > 0 {
                lag.partitions_with_lag += 1;
            }
            if let Some(committed) = p.committed {
                seen.insert(key, committed);
            }
        }
        // Only what this sample saw: a partition that goes away is forgotten.
        self.previous = seen;
        lag.value = cap(
            rules.partition_cap,
            lag.uncapped,
            lag.partitions,
            lag.partitions_with_lag,
            rules.lag_threshold,
        );
        lag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (policy, scaleToZeroOnInvalidOffset, committed, log start, log end, expected lag)
    type PolicyCase = (
        OffsetResetPolicy,
        bool,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        u64,
    );
    /// (excludePersistentLag, previous committed, committed, log end, (metric, activity))
    type PersistentCase = (bool, Option<i64>, Option<i64>, i64, (u64, u64));

    const LATEST: OffsetResetPolicy = OffsetResetPolicy::Latest;
    const EARLIEST: OffsetResetPolicy = OffsetResetPolicy::Earliest;

    fn rules(policy: OffsetResetPolicy, scale_to_zero: bool, exclude_persistent: bool) -> LagRules {
        LagRules {
            offset_reset_policy: policy,
            scale_to_zero_on_invalid_offset: scale_to_zero,
            exclude_persistent_lag: exclude_persistent,
            lag_threshold: 10,
            partition_cap: PartitionCap::Partitions,
        }
    }

    fn offsets(
        partition: i32,
        committed: Option<i64>,
        log_start: Option<i64>,
        log_end: Option<i64>,
    ) -> PartitionOffsets {
        PartitionOffsets {
            topic: "t".to_owned(),
            partition,
            committed,
            log_start,
            log_end,
        }
    }

    #[test]
    fn partition_lag_table() {
        // (policy, scaleToZeroOnInvalidOffset, committed, log start, log end, expected lag)
        let table: &[PolicyCase] = &[
            // Committed: log end − committed, whatever the policy.
            (LATEST, false, Some(3), None, Some(10), 7),
            (EARLIEST, false, Some(3), Some(0), Some(10), 7),
            (LATEST, true, Some(3), None, Some(10), 7),
            // Fully consumed.
            (LATEST, false, Some(10), None, Some(10), 0),
            (EARLIEST, false, Some(10), Some(2), Some(10), 0),
            // Committed past the end (recreated topic): never negative.
            (LATEST, false, Some(12), None, Some(10), 0),
            // Missing from the log-end answer: 0.
            (LATEST, false, Some(3), None, None, 0),
            (EARLIEST, false, Some(3), None, None, 0),
            // Uncommitted under latest: 1, even on an empty partition; 0 with scale to zero.
            (LATEST, false, None, None, Some(10), 1),
            (LATEST, false, None, None, Some(0), 1),
            (LATEST, false, None, None, None, 1),
            (LATEST, true, None, None, Some(10), 0),
            // Uncommitted under earliest: the log size; 0 with scale to zero.
            (EARLIEST, false, None, Some(0), Some(10), 10),
            (EARLIEST, false, None, Some(4), Some(10), 6),
            (EARLIEST, false, None, None, Some(10), 10),
            (EARLIEST, false, None, Some(0), Some(0), 0),
            (EARLIEST, false, None, Some(0), None, 0),
            (EARLIEST, true, None, Some(0), Some(10), 0),
            // A log start past the end (a broker answering inconsistently) is no lag either.
            (EARLIEST, false, None, Some(12), Some(10), 0),
        ];
        for &(policy, zero, committed, start, end, expected) in table {
            let r = rules(policy, zero, false);
            let p = offsets(0, committed, start, end);
            assert_eq!(
                partition_lag(&r, &p, None),
                (expected, expected),
                "{policy:?} scaleToZero={zero} committed={committed:?} start={start:?} end={end:?}"
            );
        }
    }

    #[test]
    fn persistent_lag_counts_for_activity_only() {
        // (excludePersistentLag, previous committed, committed, log end, expected (metric, activity))
        let table: &[PersistentCase] = &[
            (true, None, Some(5), 8, (3, 3)),
            (true, Some(5), Some(5), 8, (0, 3)),
            (true, Some(4), Some(5), 8, (3, 3)),
            // Stuck but fully consumed: 0 either way.
            (true, Some(8), Some(8), 8, (0, 0)),
            // Uncommitted partitions have no previous offset to compare.
            (true, Some(5), None, 8, (1, 1)),
            (false, Some(5), Some(5), 8, (3, 3)),
        ];
        for &(exclude, previous, committed, end, expected) in table {
            let r = rules(LATEST, false, exclude);
            let p = offsets(0, committed, None, Some(end));
            assert_eq!(
                partition_lag(&r, &p, previous),
                expected,
                "exclude={exclude} previous={previous:?} committed={committed:?} end={end}"
            );
        }
    }

    #[test]
    fn even_replicas_table() {
        // (total, partitions, threshold, expected replicas)
        let table: &[(u64, u64, u64, u64)] = &[
            (0, 12, 10, 0),
            (1, 12, 10, 1),
            (10, 12, 10, 1),
            (11, 12, 10, 2),
            (25, 12, 10, 3),
            (31, 12, 10, 4),
            (41, 12, 10, 6),
            (61, 12, 10, 12),
            (1000, 12, 10, 12),
            // A prime partition count: 1 or all.
            (11, 7, 10, 7),
            (5, 7, 10, 1),
            (5, 0, 10, 0),
            (100, 1, 10, 1),
        ];
        for &(total, partitions, threshold, expected) in table {
            assert_eq!(
                even_replicas(total, partitions, threshold),
                expected,
                "total={total} partitions={partitions} threshold={threshold}"
            );
        }
    }

    #[test]
    fn cap_table() {
        use PartitionCap::*;
        // (cap, total, partitions, with lag, threshold, expected metric)
        let table: &[(PartitionCap, u64, u64, u64, u64, u64)] = &[
            (Partitions, 0, 3, 0, 10, 0),
            (Partitions, 25, 3, 3, 10, 25),
            (Partitions, 30, 3, 3, 10, 30),
            // KEDA's truncating division lets 31..39 through (ceil(35/10) = 4 replicas > 3).
            (Partitions, 31, 3, 3, 10, 30),
            (Partitions, 39, 3, 3, 10, 30),
            (Partitions, 1000, 3, 1, 10, 30),
            (PartitionsWithLag, 1000, 3, 1, 10, 10),
            (PartitionsWithLag, 10, 3, 1, 10, 10),
            (PartitionsWithLag, 11, 3, 1, 10, 10),
            (PartitionsWithLag, 0, 3, 0, 10, 0),
            (Uncapped, 1000, 3, 1, 10, 1000),
            // Even distribution: a multiple of the threshold by a divisor of the partitions.
            (EvenDistribution, 0, 12, 0, 10, 0),
            (EvenDistribution, 1, 12, 1, 10, 10),
            (EvenDistribution, 35, 12, 4, 10, 40),
            (EvenDistribution, 41, 12, 5, 10, 60),
            (EvenDistribution, 500, 12, 12, 10, 120),
            (EvenDistribution, 11, 7, 2, 10, 70),
            // Threshold 1: one replica per unit of lag, up to the partitions.
            (Partitions, 5, 3, 3, 1, 3),
            (Partitions, 2, 3, 2, 1, 2),
        ];
        for &(c, total, partitions, with_lag, threshold, expected) in table {
            assert_eq!(
                cap(c, total, partitions, with_lag, threshold),
                expected,
                "{c:?} total={total} partitions={partitions} with_lag={with_lag} threshold={threshold}"
            );
        }
    }

    #[test]
    fn capped_metric_never_asks_for_more_replicas_than_partitions() {
        for partitions in 1..=12u64 {
            for threshold in [1, 3, 10] {
                for total in 0..=(partitions + 2) * threshold {
                    for c in [PartitionCap::Partitions, PartitionCap::EvenDistribution] {
                        let metric = cap(c, total, partitions, partitions, threshold);
                        assert!(
                            metric.div_ceil(threshold) <= partitions,
                            "{c:?} total={total} partitions={partitions} threshold={threshold}: {metric}"
                        );
                        if c == PartitionCap::EvenDistribution && metric > 0 {
                            assert!(partitions.is_multiple_of(metric / threshold));
                            assert!(metric.is_multiple_of(threshold));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn observe_sums_counts_and_caps() {
        let r = LagRules {
            partition_cap: PartitionCap::Partitions,
            ..rules(LATEST, false, false)
        };
        let parts = [
            offsets(0, Some(0), None, Some(25)),
            offsets(1, None, None, Some(7)),
            offsets(2, Some(4), None, Some(4)),
        ];
        let lag = LagState::new().observe(&r, &parts);
        assert_eq!(
            lag,
            Lag {
                value: 26,
                uncapped: 26,
                with_persistent: 26,
                partitions: 3,
                partitions_with_lag: 2,
            }
        );
        let limited = LagRules {
            partition_cap: PartitionCap::PartitionsWithLag,
            ..r
        };
        assert_eq!(LagState::new().observe(&limited, &parts).value, 20);
        let even = LagRules {
            partition_cap: PartitionCap::EvenDistribution,
            ..r
        };
        assert_eq!(LagState::new().observe(&even, &parts).value, 30);
        assert_eq!(LagState::new().observe(&r, &[]), Lag::default());
    }

    #[test]
    fn observe_remembers_only_the_last_sample() {
        let r = rules(LATEST, false, true);
        let mut state = LagState::new();
        let first = [
            offsets(0, Some(5), None, Some(8)),
            offsets(1, Some(1), None, Some(9)),
        ];
        let lag = state.observe(&r, &first);
        assert_eq!((lag.value, lag.with_persistent), (11, 11));
        // Partition 0 is stuck, partition 1 moved.
        let second = [
            offsets(0, Some(5), None, Some(9)),
            offsets(1, Some(2), None, Some(9)),
        ];
        let lag = state.observe(&r, &second);
        assert_eq!((lag.value, lag.with_persistent), (7, 11));
        assert_eq!(lag.partitions_with_lag, 1);
        // Partition 0 disappears (partitionLimitation changed, say) and comes back: it has no
        // previous offset, so it counts again.
        state.observe(&r, &second[1..]);
        let lag = state.observe(&r, &second);
        assert_eq!((lag.value, lag.with_persistent), (4, 11));
        // The persistent-lag exclusion applies before the cap; activity uses the uncapped sum.
        let capped = LagRules {
            lag_threshold: 1,
            ..r
        };
        let mut state = LagState::new();
        let lag = state.observe(&capped, &first);
        assert_eq!((lag.value, lag.uncapped, lag.with_persistent), (2, 11, 11));
    }
}
