//! What the daemon reports as events, and where they go ([`EventSink`]): Kubernetes Events on
//! the target when a cluster is there, the log otherwise.

use async_trait::async_trait;
use scalers_core::config::model::ScaledObject;

/// Something worth telling the workload's owner, modelled on KEDA's event reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Scaled from zero (or the idle count) because triggers became active.
    Activated {
        /// From this count.
        from: u32,
        /// To this count.
        to: u32,
        /// The active triggers.
        by: Vec<String>,
    },
    /// Scaled to the idle count or the minimum after the cooldown.
    Deactivated {
        /// From this count.
        from: u32,
        /// To this count.
        to: u32,
    },
    /// Scaled between 1 and N.
    Rescaled {
        /// From this count.
        from: u32,
        /// To this count.
        to: u32,
        /// The decision's reason.
        reason: String,
    },
    /// Writing the count failed.
    RescaleFailed {
        /// The count that could not be written.
        to: u32,
        /// Why.
        message: String,
    },
    /// A trigger started failing.
    TriggerFailed {
        /// The trigger.
        trigger: String,
        /// Why (no credentials).
        message: String,
    },
    /// A metric entered fallback.
    FallbackActivated {
        /// The metric.
        metric: String,
        /// The fallback count.
        replicas: u32,
    },
    /// A metric left fallback.
    FallbackDeactivated {
        /// The metric.
        metric: String,
    },
}

impl Event {
    /// KEDA's reason string for it.
    pub fn reason(&self) -> &'static str {
        match self {
            Event::Activated { .. } => "KEDAScaleTargetActivated",
            Event::Deactivated { .. } => "KEDAScaleTargetDeactivated",
            Event::Rescaled { .. } => "SuccessfulRescale",
            Event::RescaleFailed { .. } => "FailedRescale",
            Event::TriggerFailed { .. } => "KEDAScalerFailed",
            Event::FallbackActivated { .. } => "ScaledObjectFallbackActivated",
            Event::FallbackDeactivated { .. } => "ScaledObjectFallbackDeactivated",
        }
    }

    /// Whether it is a warning.
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Event::RescaleFailed { .. }
                | Event::TriggerFailed { .. }
                | Event::FallbackActivated { .. }
        )
    }

    /// The message, for a person, about `object`'s target.
    pub fn message(&self, object: &ScaledObject) -> String {
        let t = &object.scale_target_ref;
        let target = format!("{} {}/{}", t.kind, object.namespace, t.name);
        match self {
            Event::Activated { from, to, by } => {
                format!(
                    "Scaled {target} from {from} to {to}, triggered by {}",
                    by.join(";")
                )
            }
            Event::Deactivated { from, to } => format!("Deactivated {target} from {from} to {to}"),
            Event::Rescaled { to, reason, .. } => format!("New size: {to}; reason: {reason}"),
            Event::RescaleFailed { to, message } => {
                format!("Failed to scale {target} to {to}: {message}")
            }
            Event::TriggerFailed { trigger, message } => format!("trigger {trigger}: {message}"),
            Event::FallbackActivated { metric, replicas } => {
                format!("{metric} is failing; using fallback of {replicas} replicas")
            }
            Event::FallbackDeactivated { metric } => format!("{metric} recovered; fallback ended"),
        }
    }
}

/// Where events go.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes `event` about `object`; failures are the sink's to log.
    async fn emit(&self, object: &ScaledObject, event: &Event);
}

/// Events into the log only (no cluster).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSink;

#[async_trait]
impl EventSink for LogSink {
    async fn emit(&self, object: &ScaledObject, event: &Event) {
        tracing::info!(
            scaled_object = %object.key(),
            reason = event.reason(),
            message = %event.message(object),
            "event"
        );
    }
}
