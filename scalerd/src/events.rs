//! What the daemon reports as events, and where they go ([`EventSink`]): Kubernetes Events on
//! the target when a cluster is there, the log otherwise.

use async_trait::async_trait;
use scalers_core::config::model::ScaledObject;

use crate::kube::{EventRecorder, ScalerEvent};

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
    /// The Kubernetes Event for it, with KEDA's reason and message formats.
    pub fn to_scaler_event(&self, object: &ScaledObject) -> ScalerEvent {
        match self {
            Event::Activated { from, to, by } => {
                let by: Vec<&str> = by.iter().map(String::as_str).collect();
                ScalerEvent::target_activated(object, *from, *to, &by)
            }
            Event::Deactivated { from, to } => ScalerEvent::target_deactivated(object, *from, *to),
            Event::Rescaled { to, reason, .. } => ScalerEvent::rescaled(*to, reason),
            Event::RescaleFailed { to, message } => {
                ScalerEvent::failed_rescale(*to, "writing the scale subresource", message)
            }
            Event::TriggerFailed { trigger, message } => {
                ScalerEvent::scaler_failed(trigger, message)
            }
            Event::FallbackActivated { metric, replicas } => {
                ScalerEvent::fallback_activated(*replicas, &[metric.as_str()])
            }
            Event::FallbackDeactivated { .. } => ScalerEvent::fallback_deactivated(),
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
        let e = event.to_scaler_event(object);
        tracing::info!(reason = %e.reason, note = %e.note, "event");
    }
}

/// Events on the scale target, through the Kubernetes API (and into the log).
#[derive(Clone, Debug)]
pub struct KubeSink {
    recorder: EventRecorder,
}

impl KubeSink {
    /// Publishes through `recorder`.
    pub fn new(recorder: EventRecorder) -> Self {
        KubeSink { recorder }
    }
}

#[async_trait]
impl EventSink for KubeSink {
    async fn emit(&self, object: &ScaledObject, event: &Event) {
        let e = event.to_scaler_event(object);
        tracing::info!(reason = %e.reason, note = %e.note, "event");
        if let Err(err) = self.recorder.publish(object, &e).await {
            tracing::warn!(reason = %e.reason, error = %err, "cannot publish the event");
        }
    }
}
