//! The loop pieces: one [`ScaleLoop`] per scaled object ties its triggers, its [`Engine`] and its
//! [`ScaleTarget`] together, so that a program (or scalerd's runner) only has to call
//! [`ScaleLoop::tick`] on a timer.
//!
//! ```
//! use std::sync::Arc;
//! use scalers_core::config::model::{MetricType, ScaledObject, TriggerSpec};
//! use scalers_core::scale_loop::ScaleLoop;
//! use scalers_core::target::MemoryTarget;
//! use scalers_core::trigger::{BuiltTrigger, MetricTarget, Sample, Trigger, TriggerError};
//! use scalers_core::Timestamp;
//!
//! struct Backlog;
//! #[async_trait::async_trait]
//! impl Trigger for Backlog {
//!     fn target(&self) -> MetricTarget {
//!         MetricTarget { value: 10.0, metric_type: MetricType::AverageValue, activation_threshold: 0.0 }
//!     }
//!     async fn sample(&self) -> Result<Sample, TriggerError> {
//!         Ok(Sample::new(35.0, 0.0))
//!     }
//! }
//!
//! let mut object = ScaledObject::new("workers", "workers");
//! object.triggers.push(TriggerSpec::new("backlog"));
//! let trigger = BuiltTrigger { name: "backlog".into(), trigger_type: "backlog".into(), trigger: Arc::new(Backlog) };
//! let target = Arc::new(MemoryTarget::new(1));
//! let mut scale_loop = ScaleLoop::new(object, vec![trigger], target.clone(), Timestamp::ZERO).unwrap();
//! # futures_executor::block_on(async {
//! let report = scale_loop.tick(Timestamp::from_secs(30)).await;
//! assert_eq!(report.decision().unwrap().desired, 4); // ceil(35 / 10), at most max(2 × 1, 4)
//! assert_eq!(target.current(), 4);
//! # });
//! ```

use std::sync::Arc;

use futures_util::future::join_all;

use crate::config::model::ScaledObject;
use crate::engine::{Decision, Engine, Reading};
use crate::error::ConfigErrors;
use crate::target::{ScaleTarget, TargetError};
use crate::time::Timestamp;
use crate::trigger::{BuiltTrigger, Sample, TriggerError};

/// What happened to one trigger in a tick.
#[derive(Debug)]
pub struct TriggerOutcome {
    /// The trigger's name.
    pub name: String,
    /// The trigger's type.
    pub trigger_type: String,
    /// Its sample, or why it failed.
    pub result: Result<Sample, TriggerError>,
}

/// What happened in a tick.
#[derive(Debug)]
pub struct TickReport {
    /// When.
    pub at: Timestamp,
    /// One outcome per trigger, in order.
    pub triggers: Vec<TriggerOutcome>,
    /// The decision, or why there was none.
    pub outcome: TickOutcome,
}

impl TickReport {
    /// The decision, if the target could be read.
    pub fn decision(&self) -> Option<&Decision> {
        match &self.outcome {
            TickOutcome::Decided { decision, .. } => Some(decision),
            TickOutcome::TargetUnreadable(_) => None,
        }
    }
}

/// The end of a tick.
#[derive(Debug)]
pub enum TickOutcome {
    /// The engine decided; `write` is `None` when nothing had to be written.
    Decided {
        /// The decision.
        decision: Decision,
        /// The result of writing it, when it changed the count.
        write: Option<Result<(), TargetError>>,
    },
    /// The target's replica count could not be read, so nothing was decided.
    TargetUnreadable(TargetError),
}

/// One scaled object's loop state: its triggers, engine and target.
pub struct ScaleLoop {
    object: ScaledObject,
    triggers: Vec<BuiltTrigger>,
    engine: Engine,
    target: Arc<dyn ScaleTarget>,
}

impl std::fmt::Debug for ScaleLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScaleLoop")
            .field("object", &self.object.key())
            .field("triggers", &self.triggers)
            .finish_non_exhaustive()
    }
}

impl ScaleLoop {
    /// A scale loop for `object` with its built `triggers`, writing to `target`, started at
    /// `now`.
    ///
    /// # Errors
    /// The object's scaling-modifiers formula does not parse.
    pub fn new(
        object: ScaledObject,
        triggers: Vec<BuiltTrigger>,
        target: Arc<dyn ScaleTarget>,
        now: Timestamp,
    ) -> Result<Self, ConfigErrors> {
        let engine = Engine::for_built(&object, &triggers, now)?;
        Ok(ScaleLoop {
            object,
            triggers,
            engine,
            target,
        })
    }

    /// The scaled object.
    pub fn object(&self) -> &ScaledObject {
        &self.object
    }

    /// Its triggers.
    pub fn triggers(&self) -> &[BuiltTrigger] {
        &self.triggers
    }

    /// The engine, for inspection.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Replaces the object and its triggers (a config reload), keeping the engine's memory (see
    /// [`Engine::reconfigure`]).
    ///
    /// # Errors
    /// The new formula does not parse; the scale loop is unchanged then.
    pub fn reconfigure(
        &mut self,
        object: ScaledObject,
        triggers: Vec<BuiltTrigger>,
    ) -> Result<(), ConfigErrors> {
        self.engine
            .reconfigure(&object, triggers.iter().map(Into::into).collect())?;
        self.object = object;
        self.triggers = triggers;
        Ok(())
    }

    /// Makes the next tick start over without knowing the object's past ([`Engine::resume`]):
    /// after a restart with no persisted state, or when this process (re)gains the right to
    /// write.
    pub fn resume(&mut self) {
        self.engine.resume();
    }

    /// Makes the next tick start from a persisted last active time ([`Engine::restore`]).
    pub fn restore(&mut self, last_active: Timestamp) {
        self.engine.restore(last_active);
    }

    /// Replaces trigger `index` with `trigger`, a rebuild of the same spec (e.g. with rotated
    /// credentials), keeping the engine's memory and the other triggers.
    ///
    /// # Errors
    /// `index` is out of range, or the rebuilt trigger has another name (it is not a rebuild of
    /// the same spec); the scale loop is unchanged then.
    pub fn replace_trigger(
        &mut self,
        index: usize,
        trigger: BuiltTrigger,
    ) -> Result<(), ConfigErrors> {
        let same = self
            .triggers
            .get(index)
            .is_some_and(|t| t.name == trigger.name);
        if !same {
            return Err(ConfigErrors(vec![crate::error::ConfigError::new(
                format!("triggers[{index}]"),
                format!("{:?} is not a rebuild of this trigger", trigger.name),
            )]));
        }
        let mut triggers = self.triggers.clone();
        triggers[index] = trigger;
        let object = self.object.clone();
        self.reconfigure(object, triggers)
    }

    /// Samples every trigger concurrently, then decides and writes ([`ScaleLoop::tick_with`]).
    pub async fn tick(&mut self, now: Timestamp) -> TickReport {
        let results = join_all(self.triggers.iter().map(|t| t.trigger.sample())).await;
        self.tick_with(now, results).await
    }

    /// Decides from samples taken by the caller (one per trigger, in order), then reads the
    /// target, evaluates the engine, writes the decision when it changes the count and reports
    /// the write to the engine.
    pub async fn tick_with(
        &mut self,
        now: Timestamp,
        results: Vec<Result<Sample, TriggerError>>,
    ) -> TickReport {
        let readings: Vec<Reading> = results
            .iter()
            .map(|r| r.as_ref().map(|s| *s).map_err(|e| e.kind))
            .collect();
        let triggers = self
            .triggers
            .iter()
            .zip(results)
            .map(|(t, result)| TriggerOutcome {
                name: t.name.clone(),
                trigger_type: t.trigger_type.clone(),
                result,
            })
            .collect();
        let outcome = match self.target.replicas().await {
            Err(e) => TickOutcome::TargetUnreadable(e),
            Ok(replicas) => {
                let decision = self.engine.evaluate(now, replicas, &readings);
                let write = if decision.changes() {
                    let r = self.target.set_replicas(decision.desired).await;
                    if r.is_ok() {
                        self.engine.applied(&decision);
                    }
                    Some(r)
                } else {
                    None
                };
                TickOutcome::Decided { decision, write }
            }
        };
        TickReport {
            at: now,
            triggers,
            outcome,
        }
    }
}
