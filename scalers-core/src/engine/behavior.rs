//! The HPA's normalization of a raw recommendation: stabilization windows and rate limits,
//! in both its legacy form (no `behavior`) and its `behavior` form.
//!
//! The functions here mirror the HPA controller's step for step, so that its table tests can be
//! ported as facts (see `tests/hpa_behavior.rs`).

use std::fmt;

use crate::config::model::{Behavior, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy};
use crate::engine::proposal::{DEFAULT_TOLERANCE, Tolerance};
use crate::time::Timestamp;

/// Default downscale stabilization window of the HPA, in seconds (also the legacy window).
pub const DEFAULT_SCALE_DOWN_WINDOW_SECONDS: u32 = 300;

/// One direction's rules with every autoscaling/v2 default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// Stabilization window, in seconds.
    pub stabilization_window_seconds: u32,
    /// How policies combine.
    pub select_policy: SelectPolicy,
    /// Rate policies.
    pub policies: Vec<ScalingPolicy>,
    /// Tolerance for this direction.
    pub tolerance: f64,
}

impl Rules {
    /// The autoscaling/v2 scale-up defaults: no window, Max of 4 pods and 100 % per 15 s.
    pub fn default_up() -> Self {
        Rules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    policy_type: PolicyType::Pods,
                    value: 4,
                    period_seconds: 15,
                },
                ScalingPolicy {
                    policy_type: PolicyType::Percent,
                    value: 100,
                    period_seconds: 15,
                },
            ],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// The autoscaling/v2 scale-down defaults: 300 s window, 100 % per 15 s.
    pub fn default_down() -> Self {
        Rules {
            stabilization_window_seconds: DEFAULT_SCALE_DOWN_WINDOW_SECONDS,
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy {
                policy_type: PolicyType::Percent,
                value: 100,
                period_seconds: 15,
            }],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// `defaults` with every field that `given` sets replaced (the HPA's field-wise copy).
    pub fn merged(given: Option<&ScalingRules>, defaults: Rules) -> Self {
        let Some(g) = given else { return defaults };
        Rules {
            stabilization_window_seconds: g
                .stabilization_window_seconds
                .unwrap_or(defaults.stabilization_window_seconds),
            select_policy: g.select_policy.unwrap_or(defaults.select_policy),
            policies: g.policies.clone().unwrap_or(defaults.policies),
            tolerance: g.tolerance.unwrap_or(defaults.tolerance),
        }
    }

    fn longest_period_seconds(&self) -> u32 {
        self.policies
            .iter()
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0)
    }
}

/// A `behavior` with every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedBehavior {
    /// Scale-up rules.
    pub up: Rules,
    /// Scale-down rules.
    pub down: Rules,
}

impl ResolvedBehavior {
    /// Fills the autoscaling/v2 defaults into `behavior`.
    pub fn resolve(behavior: &Behavior) -> Self {
        ResolvedBehavior {
            up: Rules::merged(behavior.scale_up.as_ref(), Rules::default_up()),
            down: Rules::merged(behavior.scale_down.as_ref(), Rules::default_down()),
        }
    }

    /// The tolerance band of these rules.
    pub fn tolerance(&self) -> Tolerance {
        Tolerance {
            up: self.up.tolerance,
            down: self.down.tolerance,
        }
    }
}

impl Default for ResolvedBehavior {
    fn default() -> Self {
        ResolvedBehavior::resolve(&Behavior::default())
    }
}

/// A raw (unstabilized) recommendation the HPA stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recommendation {
    /// When it was made.
    pub at: Timestamp,
    /// The raw desired replica count.
    pub replicas: u32,
}

/// A change of replicas the HPA made, remembered for rate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    /// When the change was written.
    pub at: Timestamp,
    /// Size of the change (always positive; the direction is the list it is in).
    pub change: u32,
    /// Older than the longest policy period: its slot may be reused.
    pub outdated: bool,
}

/// Why the stabilized recommendation differs from the raw one, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stabilization {
    /// No window changed the recommendation.
    None,
    /// The scale-up window held replicas lower than recommended.
    ScaleUpStabilized,
    /// The scale-down window (legacy or behavior) held replicas higher than recommended.
    ScaleDownStabilized,
}

/// Which bound the final count was clamped to, if any (the HPA's `ScalingLimited` reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The recommendation was used as it was.
    DesiredWithinRange,
    /// Limited by the scale-up rate (policies, or `max(2 × current, 4)` on the legacy path).
    ScaleUpLimit,
    /// Limited by the scale-down rate policies.
    ScaleDownLimit,
    /// Limited to `maxReplicaCount`.
    TooManyReplicas,
    /// Raised to the minimum.
    TooFewReplicas,
}

impl Limit {
    /// The HPA's reason string for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::DesiredWithinRange => "DesiredWithinRange",
            Limit::ScaleUpLimit => "ScaleUpLimit",
            Limit::ScaleDownLimit => "ScaleDownLimit",
            Limit::TooManyReplicas => "TooManyReplicas",
            Limit::TooFewReplicas => "TooFewReplicas",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Stabilization {
    /// The HPA's reason string for it (`ReadyForNewScale` when nothing was held).
    pub fn as_str(self) -> &'static str {
        match self {
            Stabilization::None => "ReadyForNewScale",
            Stabilization::ScaleUpStabilized => "ScaleUpStabilized",
            Stabilization::ScaleDownStabilized => "ScaleDownStabilized",
        }
    }
}

/// The HPA's per-object memory: raw recommendations and its own scale events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Raw recommendations: one entry per distinct count, stamped with the last time it was
    /// recommended; slots are reused once older than every window.
    ///
    /// A window's minimum or maximum only depends on which counts were recommended inside it,
    /// and a count is recommended inside a window exactly when its latest recommendation is, so
    /// keeping the latest time of each count gives the HPA's results from a list whose length
    /// is the number of distinct counts, not the number of ticks in the window.
    pub recommendations: Vec<Recommendation>,
    /// Scale-up events.
    pub up_events: Vec<ScaleEvent>,
    /// Scale-down events.
    pub down_events: Vec<ScaleEvent>,
}

/// `now − secs`, in signed milliseconds, so that times close to the epoch do not saturate.
fn cutoff(now: Timestamp, secs: u32) -> i64 {
    now.as_millis() as i64 - i64::from(secs) * 1000
}

/// `at` in the same signed milliseconds as [`cutoff`].
fn ms(at: Timestamp) -> i64 {
    at.as_millis() as i64
}

impl History {
    /// Legacy stabilization (no `behavior`): the maximum of `desired` and every recommendation
    /// not older than `window`; then stores `desired` (re-stamping its entry if the count is
    /// already stored, else reusing a slot older than the window).
    pub fn stabilize_legacy(&mut self, now: Timestamp, window_secs: u32, desired: u32) -> u32 {
        let mut max = desired;
        let (mut old, mut same) = (None, None);
        let cut = cutoff(now, window_secs);
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.replicas == desired {
                same = Some(i);
            }
            if ms(r.at) < cut {
                old = Some(i);
            } else if r.replicas > max {
                max = r.replicas;
            }
        }
        self.store(same.or(old), now, desired);
        max
    }

    /// Behavior stabilization: `current` raised to the minimum of the recommendations inside the
    /// scale-up window and lowered to the maximum of those inside the scale-down window (both
    /// including `desired`); then stores `desired` (re-stamping its entry if the count is already
    /// stored, else reusing a slot older than both windows).
    pub fn stabilize(
        &mut self,
        now: Timestamp,
        behavior: &ResolvedBehavior,
        current: u32,
        desired: u32,
    ) -> u32 {
        let up_cut = cutoff(now, behavior.up.stabilization_window_seconds);
        let down_cut = cutoff(now, behavior.down.stabilization_window_seconds);
        let (mut up, mut down) = (desired, desired);
        let (mut old, mut same) = (None, None);
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.replicas == desired {
                same = Some(i);
            }
            let at = ms(r.at);
            if at > up_cut {
                up = up.min(r.replicas);
            }
            if at > down_cut {
                down = down.max(r.replicas);
            }
            if at < up_cut && at < down_cut {
                old = Some(i);
            }
        }
        self.store(same.or(old), now, desired);
        current.max(up).min(down)
    }

    fn store(&mut self, slot: Option<usize>, now: Timestamp, desired: u32) {
        match slot {
            // The entry of the same count (re-stamped), or one older than every window.
            Some(i) => {
                let r = &mut self.recommendations[i];
                r.at = r.at.max(now);
                r.replicas = desired;
            }
            None => {
                // Holds one entry per distinct recommendation of the longest window (a few,
                // whatever the polling interval): grow in small steps rather than doubling.
                if self.recommendations.len() == self.recommendations.capacity() {
                    self.recommendations.reserve_exact(4);
                }
                self.recommendations.push(Recommendation {
                    at: now,
                    replicas: desired,
                });
            }
        }
    }

    /// Remembers a change from `from` to `to` made at `now`, for the rate limits of `behavior`.
    pub fn record_scale(
        &mut self,
        now: Timestamp,
        behavior: &ResolvedBehavior,
        from: u32,
        to: u32,
    ) {
        let (events, rules, change) = match to.cmp(&from) {
            std::cmp::Ordering::Greater => (&mut self.up_events, &behavior.up, to - from),
            std::cmp::Ordering::Less => (&mut self.down_events, &behavior.down, from - to),
            std::cmp::Ordering::Equal => return,
        };
        let cut = cutoff(now, rules.longest_period_seconds());
        let mut old = None;
        for (i, e) in events.iter_mut().enumerate() {
            if ms(e.at) < cut {
                e.outdated = true;
            }
            if e.outdated {
                old = Some(i);
            }
        }
        let event = ScaleEvent {
            at: now,
            change,
            outdated: false,
        };
        match old {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

/// Sum of the changes of `events` strictly newer than `now − period`.
fn change_in_period(now: Timestamp, period_secs: u32, events: &[ScaleEvent]) -> i64 {
    let cut = cutoff(now, period_secs);
    events
        .iter()
        .filter(|e| ms(e.at) > cut)
        .map(|e| i64::from(e.change))
        .sum()
}

fn period_start(now: Timestamp, current: u32, p: &ScalingPolicy, h: &History) -> i64 {
    i64::from(current) - change_in_period(now, p.period_seconds, &h.up_events)
        + change_in_period(now, p.period_seconds, &h.down_events)
}

/// The highest count the scale-up policies allow now (may be below `current` while recent
/// events use the budget up; `current` itself when the policy is `Disabled`).
pub fn scale_up_limit(now: Timestamp, current: u32, rules: &Rules, history: &History) -> i64 {
    let proposals = rules.policies.iter().map(|p| {
        let start = period_start(now, current, p, history);
        match p.policy_type {
            PolicyType::Pods => start + i64::from(p.value),
            PolicyType::Percent => {
                (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
            }
        }
    });
    match rules.select_policy {
        SelectPolicy::Disabled => i64::from(current),
        SelectPolicy::Min => proposals.fold(i64::from(i32::MAX), i64::min),
        SelectPolicy::Max => proposals.fold(i64::from(i32::MIN), i64::max),
    }
}

/// The lowest count the scale-down policies allow now (`current` when `Disabled`).
pub fn scale_down_limit(now: Timestamp, current: u32, rules: &Rules, history: &History) -> i64 {
    let proposals = rules.policies.iter().map(|p| {
        let start = period_start(now, current, p, history);
        match p.policy_type {
            PolicyType::Pods => start - i64::from(p.value),
            // Go converts with truncation toward zero.
            PolicyType::Percent => (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64,
        }
    });
    match rules.select_policy {
        SelectPolicy::Disabled => i64::from(current),
        SelectPolicy::Min => proposals.fold(i64::from(i32::MIN), i64::max),
        SelectPolicy::Max => proposals.fold(i64::from(i32::MAX), i64::min),
    }
}

fn to_u32(x: i64) -> u32 {
    u32::try_from(x.max(0)).unwrap_or(u32::MAX)
}

/// Applies the rate policies of `behavior` and the `[min, max]` bounds to a stabilized count.
pub fn limit_with_behavior(
    now: Timestamp,
    behavior: &ResolvedBehavior,
    history: &History,
    current: u32,
    desired: u32,
    min: u32,
    max: u32,
) -> (u32, Limit) {
    if desired > current {
        let limit = scale_up_limit(now, current, &behavior.up, history).max(i64::from(current));
        let (allowed, reason) = if i64::from(max) > limit {
            (to_u32(limit), Limit::ScaleUpLimit)
        } else {
            (max, Limit::TooManyReplicas)
        };
        if desired > allowed {
            return (allowed, reason);
        }
    } else if desired < current {
        let limit = scale_down_limit(now, current, &behavior.down, history).min(i64::from(current));
        let (allowed, reason) = if i64::from(min) < limit {
            (to_u32(limit), Limit::ScaleDownLimit)
        } else {
            (min, Limit::TooFewReplicas)
        };
        if desired < allowed {
            return (allowed, reason);
        }
    }
    (desired, Limit::DesiredWithinRange)
}

/// The legacy bounds (no `behavior`): at least `min`, at most `min(max, max(2 × current, 4))`.
pub fn limit_legacy(current: u32, desired: u32, min: u32, max: u32) -> (u32, Limit) {
    let scale_up_limit = current.saturating_mul(2).max(4);
    let (allowed_max, reason) = if max > scale_up_limit {
        (scale_up_limit, Limit::ScaleUpLimit)
    } else {
        (max, Limit::TooManyReplicas)
    };
    if desired < min {
        (min, Limit::TooFewReplicas)
    } else if desired > allowed_max {
        (allowed_max, reason)
    } else {
        (desired, Limit::DesiredWithinRange)
    }
}
