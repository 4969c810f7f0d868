//! The decision engine: from one tick's trigger readings to a replica count, exactly as KEDA's
//! operator (activation phase) and the Kubernetes HPA (scaling phase) would decide together.
//!
//! One [`Engine`] holds the memory of one scaled object (last active time, failure counts, the
//! HPA's recommendations and scale events). Each tick, the caller passes the time, the replica
//! counts read from the target and one [`Reading`] per trigger to [`Engine::evaluate`], writes
//! the returned [`Decision::desired`] if it differs from the current count, and reports the
//! write with [`Engine::applied`] so that rate limits see it. The engine does no I/O and never
//! reads a clock.
//!
//! The order of a tick:
//! 1. **Pause**: `pausedReplicaCount` pins the count; `paused` freezes it.
//! 2. **Failures**: per-trigger consecutive failure counts; a trigger failing strictly more than
//!    `fallback.failureThreshold` times proposes the fallback count.
//! 3. **Activation** (KEDA's operator): active when any trigger (or the scaling-modifiers
//!    composite) is above its activation threshold. Active at 0 (or below min with an idle count)
//!    → `max(min, 1)`. Inactive with failures and no fallback → hold. Inactive past the cooldown
//!    → `idleReplicaCount`, else `minReplicaCount`.
//! 4. **Scaling** (the HPA, replicas ≥ 1): each metric's proposal ([`proposal::propose`]), the
//!    maximum of them, never a scale-down on partial data, then the legacy or `behavior`
//!    normalization ([`behavior`]) within `[max(min, 1), max]`.
//! 5. **Paused directions** (KEDA's `paused-scale-in` and `paused-scale-out`, which disable the
//!    HPA's `scaleDown` or `scaleUp` and block the operator's deactivation or activation): a
//!    decision of steps 3 and 4 that would lower (scale-in paused) or raise (scale-out paused)
//!    the count holds it instead, with [`Reason::ScaleInPaused`] or [`Reason::ScaleOutPaused`];
//!    a deactivation held this way leaves the count to the HPA phase, as in KEDA. The bounds are
//!    still enforced, as the HPA enforces them whatever its behavior says: a count above
//!    `maxReplicaCount` is lowered to it and one below `minReplicaCount` raised to it.
//!
//! # One evaluation per tick, whatever the polling interval
//!
//! The HPA's rate limits apply per evaluation, and the engine evaluates once per call of
//! [`Engine::evaluate`], that is once per `pollingInterval` in scalerd. On the legacy path (no
//! `behavior`), a scale-up is limited to max(2 × current, 4) per evaluation, and the HPA of a
//! KEDA ScaledObject evaluates every 15 s whatever its `pollingInterval`: at 1 s polling a
//! legacy object here ramps 15 times faster than under KEDA (from 1 to 100 replicas: 5 s
//! instead of 75 s), at 60 s four times slower (300 s). With a `behavior`, the policies are
//! periods in seconds and the pace does not depend on the polling interval. The
//! `legacy-ramp-fast` and `legacy-ramp-slow` samples in `examples/` show both rates with
//! `scalerd simulate`.

pub mod behavior;
pub mod proposal;

use std::fmt;
use std::time::Duration;

use crate::config::model::{Fallback, FallbackBehavior, MetricType, ScaledObject};
use crate::error::{ConfigError, ConfigErrors};
use crate::formula::Formula;
use crate::time::Timestamp;
use crate::trigger::{BuiltTrigger, MetricTarget, Sample, TriggerErrorKind};

use behavior::{History, Limit, ResolvedBehavior, Stabilization};
pub use proposal::{Replicas, Tolerance};

/// One trigger's outcome for a tick: a sample, or the kind of failure.
pub type Reading = Result<Sample, TriggerErrorKind>;

/// A trigger as the engine knows it: its name and target.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerInfo {
    /// The name used in formulas and explanations.
    pub name: String,
    /// Its target and activation threshold.
    pub target: MetricTarget,
}

impl From<&BuiltTrigger> for TriggerInfo {
    fn from(t: &BuiltTrigger) -> Self {
        TriggerInfo {
            name: t.name.clone(),
            target: t.trigger.target(),
        }
    }
}

/// The name under which the scaling-modifiers composite metric is reported.
pub const COMPOSITE_METRIC: &str = "composite-metric";

/// How one metric fared in a tick.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricReport {
    /// Trigger name, or [`COMPOSITE_METRIC`].
    pub name: String,
    /// The value read (or computed by the formula); `None` when it failed.
    pub value: Option<f64>,
    /// The target it is compared with.
    pub target: MetricTarget,
    /// Whether it was above its activation threshold.
    pub active: bool,
    /// Why it failed, if it did.
    pub error: Option<TriggerErrorKind>,
    /// Consecutive failures so far.
    pub failures: u32,
    /// The fallback count it proposes instead of a value, when in fallback.
    pub fallback: Option<u32>,
    /// What it proposed in the scaling phase (`None` when that phase did not run or the metric
    /// could not propose).
    pub proposal: Option<u32>,
    /// The source answered "no data" (value is a stand-in 0).
    pub no_data: bool,
}

/// How the HPA phase arrived at its count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scaling {
    /// The metric whose proposal was the highest.
    pub metric: String,
    /// Whether that metric's proposal is its fallback count.
    pub fallback: bool,
    /// The highest proposal (before stabilization and limits).
    pub proposal: u32,
    /// After the stabilization window.
    pub stabilized: u32,
    /// Which window, if any, changed the proposal.
    pub stabilization: Stabilization,
    /// Which bound, if any, clamped the stabilized count.
    pub limit: Limit,
}

/// Why a decision came out as it did; [`fmt::Display`] gives a short sentence with no commas.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// `pausedReplicaCount` pins the count.
    PausedReplicas,
    /// `paused` freezes the count.
    Paused,
    /// `pausedScaleIn` (KEDA's `autoscaling.keda.sh/paused-scale-in`) holds a count that the
    /// decision would have lowered.
    ScaleInPaused {
        /// The count the decision would have written.
        blocked: u32,
    },
    /// `pausedScaleOut` (KEDA's `autoscaling.keda.sh/paused-scale-out`) holds a count that the
    /// decision would have raised.
    ScaleOutPaused {
        /// The count the decision would have written.
        blocked: u32,
    },
    /// A trigger became active while at zero (or idle): scale to `max(min, 1)`.
    Activated {
        /// The active metrics.
        by: Vec<String>,
    },
    /// No trigger active for the whole cooldown: scale to the idle count or the minimum.
    Deactivated,
    /// Inactive at zero or at the idle count: nothing to do.
    Idle,
    /// Inactive with no idle count and below the minimum: raise to the minimum.
    BelowMinimum,
    /// Inactive while triggers fail and no fallback applies: hold.
    TriggerError {
        /// The failing metrics.
        failing: Vec<String>,
    },
    /// In fallback while at zero: the HPA does not run at zero, so hold.
    FallbackAtZero,
    /// The scaling phase could use no metric: hold and store nothing.
    AllMetricsFailed,
    /// Some metrics failed and the others propose fewer replicas: never scale down on partial
    /// data, hold.
    PartialFailure {
        /// The failing metrics.
        failing: Vec<String>,
        /// What the working metrics proposed.
        proposal: u32,
    },
    /// Above `maxReplicaCount`: lower to it without evaluating metrics.
    AboveMaximum,
    /// Below `max(minReplicaCount, 1)` in the scaling phase: raise to it.
    BelowScalingMinimum,
    /// The HPA computation.
    Scaling(Scaling),
}

impl Reason {
    /// A stable machine-readable code (`ScaleUpLimit`, `Activated`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::PausedReplicas => "PausedReplicas",
            Reason::Paused => "Paused",
            Reason::ScaleInPaused { .. } => "ScaleInPaused",
            Reason::ScaleOutPaused { .. } => "ScaleOutPaused",
            Reason::Activated { .. } => "Activated",
            Reason::Deactivated => "Deactivated",
            Reason::Idle => "Idle",
            Reason::BelowMinimum => "BelowMinimum",
            Reason::TriggerError { .. } => "TriggerError",
            Reason::FallbackAtZero => "FallbackAtZero",
            Reason::AllMetricsFailed => "AllMetricsFailed",
            Reason::PartialFailure { .. } => "PartialFailure",
            Reason::AboveMaximum => "TooManyReplicas",
            Reason::BelowScalingMinimum => "TooFewReplicas",
            Reason::Scaling(s) => match (s.limit, s.stabilization) {
                (Limit::DesiredWithinRange, Stabilization::None) => "DesiredWithinRange",
                (Limit::DesiredWithinRange, st) => st.as_str(),
                (l, _) => l.as_str(),
            },
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::PausedReplicas => f.write_str("paused at pausedReplicaCount"),
            Reason::Paused => f.write_str("paused"),
            Reason::ScaleInPaused { blocked } => {
                write!(f, "holding: scale-in paused (would scale in to {blocked})")
            }
            Reason::ScaleOutPaused { blocked } => {
                write!(
                    f,
                    "holding: scale-out paused (would scale out to {blocked})"
                )
            }
            Reason::Activated { by } => write!(f, "activated by {}", by.join(" and ")),
            Reason::Deactivated => f.write_str("inactive for the cooldown period"),
            Reason::Idle => f.write_str("inactive"),
            Reason::BelowMinimum => f.write_str("inactive and below minReplicaCount"),
            Reason::TriggerError { failing } => {
                write!(
                    f,
                    "holding: {} failed and no fallback applies",
                    failing.join(" and ")
                )
            }
            Reason::FallbackAtZero => {
                f.write_str("holding at zero: fallback does not scale from zero")
            }
            Reason::AllMetricsFailed => f.write_str("holding: every trigger failed"),
            Reason::PartialFailure { failing, proposal } => write!(
                f,
                "holding: {} failed and the others propose {proposal} (no scale down on partial data)",
                failing.join(" and ")
            ),
            Reason::AboveMaximum => f.write_str("above maxReplicaCount"),
            Reason::BelowScalingMinimum => f.write_str("below minReplicaCount"),
            Reason::Scaling(s) => {
                let fallback = if s.fallback { " in fallback" } else { "" };
                write!(f, "{}{fallback} proposes {}", s.metric, s.proposal)?;
                match s.stabilization {
                    Stabilization::None => {}
                    Stabilization::ScaleUpStabilized => {
                        write!(f, "; scale-up window holds {}", s.stabilized)?
                    }
                    Stabilization::ScaleDownStabilized => {
                        write!(f, "; scale-down window holds {}", s.stabilized)?
                    }
                }
                match s.limit {
                    Limit::DesiredWithinRange => Ok(()),
                    Limit::ScaleUpLimit => f.write_str("; limited by scale-up rate"),
                    Limit::ScaleDownLimit => f.write_str("; limited by scale-down rate"),
                    Limit::TooManyReplicas => f.write_str("; limited by maxReplicaCount"),
                    Limit::TooFewReplicas => f.write_str("; limited by minReplicaCount"),
                }
            }
        }
    }
}

/// Which part of the algorithm produced a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Paused: nothing evaluated.
    Paused,
    /// KEDA's activation phase (0 ↔ 1, idle, min).
    Activation,
    /// The HPA phase (1 ↔ N).
    Scaling,
}

/// The outcome of one tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// When it was made.
    pub at: Timestamp,
    /// The replica count it started from.
    pub current: u32,
    /// The replica count to write (equal to `current` when nothing changes).
    pub desired: u32,
    /// Whether the object is active.
    pub active: bool,
    /// Which phase decided.
    pub phase: Phase,
    /// Why.
    pub reason: Reason,
    /// Every metric's value, activity, failures and proposal.
    pub metrics: Vec<MetricReport>,
}

impl Decision {
    /// Whether the decision changes the replica count.
    pub fn changes(&self) -> bool {
        self.desired != self.current
    }

    /// Names of the metrics currently in fallback.
    pub fn fallback_metrics(&self) -> impl Iterator<Item = &str> {
        self.metrics
            .iter()
            .filter(|m| m.fallback.is_some())
            .map(|m| m.name.as_str())
    }
}

/// Settings the engine needs from a [`ScaledObject`], with defaults resolved.
#[derive(Clone, Debug)]
struct Settings {
    min: u32,
    max: u32,
    idle: Option<u32>,
    cooldown: Duration,
    initial_cooldown: Duration,
    paused: bool,
    paused_replicas: Option<u32>,
    paused_scale_in: bool,
    paused_scale_out: bool,
    fallback: Option<Fallback>,
    /// Boxed, as `composite`: most objects have neither, and every loop holds its engine
    /// (the two took 192 of an idle engine's 432 bytes inline).
    behavior: Option<Box<ResolvedBehavior>>,
}

/// The composite metric of `advanced.scalingModifiers`.
#[derive(Clone, Debug)]
struct Composite {
    formula: Formula,
    target: MetricTarget,
}

/// The decision engine of one scaled object. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Engine {
    settings: Settings,
    triggers: Vec<TriggerInfo>,
    composite: Option<Box<Composite>>,
    started: Timestamp,
    last_active: Option<Timestamp>,
    /// Consecutive failures per metric (per trigger, or the composite alone).
    failures: Vec<u32>,
    history: History,
    /// Whether the first tick has seeded the recommendations with the count it found.
    seeded: bool,
    /// Whether the next tick starts over without knowing the object's past (see
    /// [`Engine::resume`]).
    resuming: bool,
    /// When the object was presumed active by [`Engine::resume`], until a trigger is really
    /// active: the `initialCooldownPeriod` runs from then too.
    presumed_active: Option<Timestamp>,
}

impl Engine {
    /// An engine for `object`, whose triggers are `triggers` (in the object's order), started at
    /// `now` (the reference for `initialCooldownPeriod`).
    ///
    /// # Errors
    /// The scaling-modifiers formula does not parse; trigger counts differ.
    pub fn new(
        object: &ScaledObject,
        triggers: Vec<TriggerInfo>,
        now: Timestamp,
    ) -> Result<Engine, ConfigErrors> {
        let composite = match &object.advanced.scaling_modifiers {
            None => None,
            Some(m) => {
                let formula = Formula::parse(&m.formula).map_err(|e| {
                    ConfigErrors(vec![ConfigError::new(
                        "advanced.scalingModifiers.formula",
                        e.message,
                    )])
                })?;
                Some(Box::new(Composite {
                    formula,
                    target: MetricTarget {
                        value: m.target,
                        metric_type: m.metric_type,
                        activation_threshold: m.activation_target,
                    },
                }))
            }
        };
        let metric_count = if composite.is_some() {
            1
        } else {
            triggers.len()
        };
        Ok(Engine {
            settings: Settings {
                min: object.min_replica_count,
                max: object.max_replica_count,
                idle: object.idle_replica_count,
                cooldown: Duration::from_secs(u64::from(object.cooldown_period)),
                initial_cooldown: Duration::from_secs(u64::from(object.initial_cooldown_period)),
                paused: object.paused,
                paused_replicas: object.paused_replica_count,
                paused_scale_in: object.paused_scale_in,
                paused_scale_out: object.paused_scale_out,
                fallback: object.fallback.clone(),
                behavior: object
                    .behavior()
                    .map(|b| Box::new(ResolvedBehavior::resolve(b))),
            },
            triggers,
            composite,
            started: now,
            last_active: None,
            failures: vec![0; metric_count],
            history: History::default(),
            seeded: false,
            resuming: false,
            presumed_active: None,
        })
    }

    /// An engine for `object` and its built triggers.
    ///
    /// # Errors
    /// As [`Engine::new`].
    pub fn for_built(
        object: &ScaledObject,
        triggers: &[BuiltTrigger],
        now: Timestamp,
    ) -> Result<Engine, ConfigErrors> {
        Engine::new(
            object,
            triggers.iter().map(TriggerInfo::from).collect(),
            now,
        )
    }

    /// The triggers, in order.
    pub fn triggers(&self) -> &[TriggerInfo] {
        &self.triggers
    }

    /// When a trigger was last active, if ever.
    pub fn last_active(&self) -> Option<Timestamp> {
        self.last_active
    }

    /// The HPA memory (recommendations and scale events), for inspection.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Takes new settings and triggers (a config reload) while keeping the engine's memory:
    /// recommendations, scale events and last active time; failure counts are kept when the
    /// metrics are the same ones.
    ///
    /// # Errors
    /// As [`Engine::new`]; the engine is unchanged then.
    pub fn reconfigure(
        &mut self,
        object: &ScaledObject,
        triggers: Vec<TriggerInfo>,
    ) -> Result<(), ConfigErrors> {
        let mut fresh = Engine::new(object, triggers, self.started)?;
        let same_metrics = fresh.composite.is_some() == self.composite.is_some()
            && fresh
                .triggers
                .iter()
                .map(|t| &t.name)
                .eq(self.triggers.iter().map(|t| &t.name));
        if same_metrics {
            fresh.failures = std::mem::take(&mut self.failures);
        }
        fresh.last_active = self.last_active;
        fresh.history = std::mem::take(&mut self.history);
        fresh.seeded = self.seeded;
        fresh.resuming = self.resuming;
        fresh.presumed_active = self.presumed_active;
        *self = fresh;
        Ok(())
    }

    /// Overrides when the object was last active, for a daemon restoring its state.
    pub fn set_last_active(&mut self, at: Option<Timestamp>) {
        self.last_active = at;
    }

    /// Makes the next tick treat the object as seen for the first time by a process that does
    /// not know its past: a daemon that restarted with no persisted state, or a replica taking
    /// over from another (or taking back an object it handed over).
    ///
    /// At that tick:
    /// - if the target runs more replicas than the object scales in to (more than
    ///   `idleReplicaCount`, or more than zero without one), the object counts as active at that
    ///   moment, so it is scaled in only after a full `cooldownPeriod` and, until a trigger is
    ///   really active, a full `initialCooldownPeriod` too;
    /// - the count found is recorded as a recommendation, as on first sight, so that no
    ///   scale-down happens before a full stabilization window.
    ///
    /// KEDA keeps `status.lastActiveTime` in the ScaledObject for this; without it, presuming
    /// activity is the only rule that never scales a cooling workload to zero early.
    pub fn resume(&mut self) {
        self.resuming = true;
        self.seeded = false;
    }

    /// Like [`Engine::resume`], for a process that knows when the object was last active
    /// (KEDA's `status.lastActiveTime`, persisted in the cluster): the cooldown continues from
    /// `last_active` instead of from now; the count found still seeds the stabilization window.
    pub fn restore(&mut self, last_active: Timestamp) {
        self.last_active = Some(last_active);
        self.presumed_active = None;
        self.resuming = false;
        self.seeded = false;
    }

    /// Reports that `decision` was written to the target, so that the HPA's rate limits count it.
    ///
    /// Only scaling-phase changes count, as the HPA only remembers its own writes.
    pub fn applied(&mut self, decision: &Decision) {
        if decision.phase != Phase::Scaling || !decision.changes() {
            return;
        }
        if let Some(b) = &self.settings.behavior {
            self.history
                .record_scale(decision.at, b, decision.current, decision.desired);
        }
    }

    fn tolerance(&self) -> Tolerance {
        self.settings
            .behavior
            .as_ref()
            .map_or_else(Tolerance::default, |b| b.tolerance())
    }

    /// The fallback count for a metric failing more than the threshold, if fallback applies.
    fn fallback_for(&self, failures: u32, current: u32) -> Option<u32> {
        let fb = self.settings.fallback.as_ref()?;
        if failures <= fb.failure_threshold {
            return None;
        }
        Some(match fb.behavior {
            // With scalingModifiers, failed triggers already read nil in the formula; this is
            // the last resort when it still yields no number.
            FallbackBehavior::Static | FallbackBehavior::ScalingModifiers => fb.replicas,
            FallbackBehavior::CurrentReplicas => current,
            FallbackBehavior::CurrentReplicasIfHigher => current.max(fb.replicas),
            FallbackBehavior::CurrentReplicasIfLower => current.min(fb.replicas),
        })
    }

    /// Builds this tick's metric reports and updates failure counts.
    fn read_metrics(&mut self, readings: &[Reading], current: u32) -> Vec<MetricReport> {
        /// One metric's report; counts its consecutive failures.
        fn report(
            name: &str,
            target: MetricTarget,
            r: Reading,
            failures: &mut u32,
        ) -> MetricReport {
            match r {
                Ok(_) => *failures = 0,
                Err(_) => *failures = failures.saturating_add(1),
            }
            MetricReport {
                name: name.to_owned(),
                value: r.ok().map(|s| s.value),
                target,
                active: r.is_ok_and(|s| s.active),
                error: r.err(),
                failures: *failures,
                fallback: None,
                proposal: None,
                no_data: r.is_ok_and(|s| s.no_data),
            }
        }

        let mut metrics = Vec::with_capacity(self.failures.len());
        match &self.composite {
            None => {
                let readings = readings
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(Err(TriggerErrorKind::Unavailable)));
                for ((t, r), failures) in self.triggers.iter().zip(readings).zip(&mut self.failures)
                {
                    metrics.push(report(&t.name, t.target, r, failures));
                }
            }
            Some(c) => {
                let triggers = &self.triggers;
                let lookup = |name: &str| {
                    triggers
                        .iter()
                        .position(|t| t.name == name)
                        .and_then(|i| readings.get(i))
                        .and_then(|r| r.as_ref().ok())
                        .map(|s| s.value)
                };
                let reading = c
                    .formula
                    .eval(&lookup)
                    .map(|v| Sample::new(v, c.target.activation_threshold))
                    .map_err(|_| {
                        readings
                            .iter()
                            .find_map(|r| r.err())
                            .unwrap_or(TriggerErrorKind::BadResponse)
                    });
                if let Some(failures) = self.failures.first_mut() {
                    metrics.push(report(COMPOSITE_METRIC, c.target, reading, failures));
                }
            }
        }
        for m in &mut metrics {
            if m.error.is_some() {
                m.fallback = self.fallback_for(m.failures, current);
            }
        }
        metrics
    }

    fn cooldown_elapsed(&self, now: Timestamp) -> bool {
        let initial_over = |from: Timestamp| from + self.settings.initial_cooldown < now;
        match self.last_active {
            Some(t) => {
                t + self.settings.cooldown < now && self.presumed_active.is_none_or(initial_over)
            }
            None => initial_over(self.started),
        }
    }

    /// Decides one tick. `readings` holds one entry per trigger, in order (a missing entry
    /// counts as a failure).
    pub fn evaluate(
        &mut self,
        now: Timestamp,
        replicas: Replicas,
        readings: &[Reading],
    ) -> Decision {
        let current = replicas.current;
        let mut decision = Decision {
            at: now,
            current,
            desired: current,
            active: false,
            phase: Phase::Paused,
            reason: Reason::Paused,
            metrics: Vec::new(),
        };
        if let Some(n) = self.settings.paused_replicas {
            decision.desired = n;
            decision.reason = Reason::PausedReplicas;
            return decision;
        }
        if self.settings.paused {
            return decision;
        }

        if !self.seeded {
            // Like the HPA on first sight of an object: the count found counts as a
            // recommendation, so a fresh engine (a restart) cannot scale down before a full
            // stabilization window has passed.
            self.history.recommendations.push(behavior::Recommendation {
                at: now,
                replicas: current,
            });
            self.seeded = true;
        }
        if std::mem::take(&mut self.resuming) {
            let floor = self.settings.idle.unwrap_or(0);
            if current > floor {
                self.last_active = Some(now);
                self.presumed_active = Some(now);
            }
        }
        decision.metrics = self.read_metrics(readings, current);
        decision.active = decision.metrics.iter().any(|m| m.active);
        decision.phase = Phase::Activation;
        let failing: Vec<String> = decision
            .metrics
            .iter()
            .filter(|m| m.error.is_some())
            .map(|m| m.name.clone())
            .collect();
        let s = &self.settings;
        // The deactivation target that `pausedScaleIn` held back, if it did.
        let mut held_deactivation = None;

        if decision.active {
            self.last_active = Some(now);
            self.presumed_active = None;
            if current == 0 || (s.idle.is_some() && current < s.min) {
                if s.paused_scale_out {
                    decision.reason = Reason::ScaleOutPaused {
                        blocked: s.min.max(1),
                    };
                    return decision;
                }
                decision.desired = s.min.max(1);
                decision.reason = Reason::Activated {
                    by: decision
                        .metrics
                        .iter()
                        .filter(|m| m.active)
                        .map(|m| m.name.clone())
                        .collect(),
                };
                return decision;
            }
        } else {
            // KEDA's order: failures with a non-zero fallback leave the count to the HPA (which
            // holds, or proposes the fallback count past the threshold); failures without a
            // fallback hold; otherwise the usual inactive handling.
            let fallback_set = s.fallback.as_ref().is_some_and(|f| f.replicas != 0);
            if !failing.is_empty() && fallback_set {
                if current == 0 {
                    decision.reason = Reason::FallbackAtZero;
                    return decision;
                }
            } else if !failing.is_empty() && s.fallback.is_none() {
                decision.reason = Reason::TriggerError { failing };
                return decision;
            } else {
                let above_idle = s.idle.is_some_and(|idle| current > idle);
                if above_idle || (current > 0 && s.min == 0) {
                    if self.cooldown_elapsed(now) {
                        let to = s.idle.unwrap_or(s.min);
                        if !s.paused_scale_in {
                            decision.desired = to;
                            decision.reason = Reason::Deactivated;
                            return decision;
                        }
                        // KEDA skips the deactivation and leaves the count to the HPA, whose
                        // scale-down is disabled.
                        held_deactivation = Some(to);
                    }
                    // Still cooling down: the HPA keeps running on 1..N.
                } else if s.idle.is_none() && current < s.min {
                    decision.desired = s.min;
                    decision.reason = Reason::BelowMinimum;
                    return decision;
                } else if current == 0 || s.idle == Some(current) {
                    // At zero the HPA is disabled; at the idle count KEDA's HPA would raise the
                    // count to min and flap (keda#2314), so scalerd holds the idle count.
                    decision.reason = Reason::Idle;
                    return decision;
                }
            }
        }

        decision.phase = Phase::Scaling;
        self.scale(&mut decision, replicas, now, failing);
        self.hold_paused_directions(&mut decision, held_deactivation);
        decision
    }

    /// Holds the count of a scaling-phase decision that moves it in a paused direction; a
    /// deactivation held by `pausedScaleIn` (`held_deactivation`, its target) is reported as such
    /// unless the HPA scales out. Corrections to the bounds are left as they are (the HPA makes
    /// them whatever its behavior says).
    fn hold_paused_directions(&self, decision: &mut Decision, held_deactivation: Option<u32>) {
        if matches!(
            decision.reason,
            Reason::AboveMaximum | Reason::BelowScalingMinimum
        ) {
            return;
        }
        let s = &self.settings;
        let current = decision.current;
        if s.paused_scale_in && decision.desired < current {
            // A held deactivation would have come first.
            let blocked = held_deactivation.unwrap_or(decision.desired);
            decision.reason = Reason::ScaleInPaused { blocked };
            decision.desired = current;
        } else if s.paused_scale_out && decision.desired > current {
            decision.reason = Reason::ScaleOutPaused {
                blocked: decision.desired,
            };
            decision.desired = current;
        } else if let Some(blocked) = held_deactivation
            && decision.desired == current
        {
            decision.reason = Reason::ScaleInPaused { blocked };
        }
    }

    /// The HPA phase, with `current ≥ 1`.
    fn scale(
        &mut self,
        decision: &mut Decision,
        replicas: Replicas,
        now: Timestamp,
        failing: Vec<String>,
    ) {
        let current = replicas.current;
        let (min, max) = (self.settings.min.max(1), self.settings.max);
        if current > max {
            decision.desired = max;
            decision.reason = Reason::AboveMaximum;
            return;
        }
        if current < min {
            decision.desired = min;
            decision.reason = Reason::BelowScalingMinimum;
            return;
        }
        let tolerance = self.tolerance();
        let mut best: Option<(u32, &str, bool)> = None;
        let mut invalid = 0usize;
        for m in &mut decision.metrics {
            let value = match (m.value, m.fallback) {
                (Some(v), _) => Some(v),
                (None, Some(fb)) => proposal::fallback_value(
                    m.target.value,
                    m.target.metric_type,
                    fb,
                    replicas.ready,
                ),
                (None, None) => None,
            };
            m.proposal = value.and_then(|v| {
                proposal::propose(v, m.target.value, m.target.metric_type, replicas, tolerance)
            });
            match m.proposal {
                None => invalid += 1,
                Some(p) if best.is_none_or(|(b, _, _)| p > b) => {
                    best = Some((p, m.name.as_str(), m.value.is_none()));
                }
                Some(_) => {}
            }
        }
        let Some((proposal, metric, fallback)) = best else {
            decision.reason = Reason::AllMetricsFailed;
            return;
        };
        let metric = metric.to_owned();
        if invalid > 0 && proposal < current {
            decision.reason = Reason::PartialFailure { failing, proposal };
            return;
        }
        let (stabilized, desired, limit) = match &self.settings.behavior {
            None => {
                let stabilized = self.history.stabilize_legacy(
                    now,
                    behavior::DEFAULT_SCALE_DOWN_WINDOW_SECONDS,
                    proposal,
                );
                let (desired, limit) = behavior::limit_legacy(current, stabilized, min, max);
                (stabilized, desired, limit)
            }
            Some(b) => {
                let stabilized = self.history.stabilize(now, b, current, proposal);
                let (desired, limit) = behavior::limit_with_behavior(
                    now,
                    b,
                    &self.history,
                    current,
                    stabilized,
                    min,
                    max,
                );
                (stabilized, desired, limit)
            }
        };
        let stabilization = if stabilized == proposal {
            Stabilization::None
        } else if self.settings.behavior.is_some() && proposal >= current {
            Stabilization::ScaleUpStabilized
        } else {
            Stabilization::ScaleDownStabilized
        };
        decision.desired = desired;
        decision.reason = Reason::Scaling(Scaling {
            metric,
            fallback,
            proposal,
            stabilized,
            stabilization,
            limit,
        });
    }
}

impl MetricType {
    /// The KEDA spelling (`AverageValue`, `Value`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::AverageValue => "AverageValue",
            MetricType::Value => "Value",
        }
    }
}
