//! What the daemon reports as events, and where they go ([`EventSink`]): Kubernetes Events on
//! the target when a cluster is there ([`EventQueue`]: never waits, aggregates repeats), the log
//! otherwise.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use scalers_core::config::model::ScaledObject;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::daemon::metrics::Metrics;
use crate::kube::{EventRecorder, KubeError, Regarding, ScalerEvent};

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
    /// A ScaledObject from the cluster is invalid (what `scalerd check` prints).
    CheckFailed {
        /// Every problem, one per line.
        message: String,
    },
    /// A scaled job's poll created Jobs.
    JobsCreated {
        /// How many.
        count: u32,
    },
    /// The API refused to create a scaled job's Job.
    JobCreateFailed {
        /// Why.
        message: String,
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
            Event::CheckFailed { message } => ScalerEvent::check_failed(message),
            Event::JobsCreated { count } => ScalerEvent::jobs_created(*count),
            Event::JobCreateFailed { message } => ScalerEvent::job_create_failed(message),
        }
    }
}

/// Where events go. Publishing never waits: a sink that talks to the API queues the event for
/// a task of its own ([`EventQueue`]), so that a slow or hanging Events API never delays a tick.
pub trait EventSink: Send + Sync {
    /// Hands `event` about `object` over for publishing, without waiting; failures are the
    /// sink's to log and count.
    fn emit(&self, object: &ScaledObject, event: &Event);
}

/// Events into the log only (no cluster).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSink;

impl EventSink for LogSink {
    fn emit(&self, object: &ScaledObject, event: &Event) {
        let e = event.to_scaler_event(object);
        tracing::info!(reason = %e.reason, note = %e.note, "event");
    }
}

/// How the [`EventQueue`] holds and aggregates Events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Events waiting to be published, at most; beyond, new ones are dropped (and counted in
    /// `scalers_events_dropped_total`). Default 1,024 (client-go's recorder queues 1,000).
    pub capacity: usize,
    /// A repeat of an Event (same target, type, reason, action and note) within this time of
    /// the previous one is counted on the existing Event (its `series`) instead of creating a
    /// new one. Default 6 minutes, as client-go's `events.k8s.io` recorder.
    pub repeat_window: Duration,
    /// How often counted repeats are written to their Event (the second occurrence is written
    /// at once, later ones at this interval). Default 30 s.
    pub refresh: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            capacity: 1024,
            repeat_window: Duration::from_secs(360),
            refresh: Duration::from_secs(30),
        }
    }
}

/// Events on the scale target, through the Kubernetes API (and into the log), published by a
/// task of their own from one bounded queue per process.
///
/// [`EventSink::emit`] only puts the Event in the queue (or drops it when the queue is full):
/// it never waits for the API. The task publishes one Event at a time, each call bounded by the
/// recorder's timeout, and aggregates repeats as Kubernetes recorders do: the first occurrence
/// creates an Event, a repeat within [`QueueSettings::repeat_window`] increments the
/// `series.count` of that Event (written at once for the second occurrence, then every
/// [`QueueSettings::refresh`]), and a repeat after the window creates a new Event.
#[derive(Clone, Debug)]
pub struct EventQueue {
    queue: mpsc::Sender<Queued>,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct Queued {
    /// `namespace/name` of the scaled object, whose fence the writes go through.
    object: String,
    regarding: Regarding,
    event: ScalerEvent,
    at: Timestamp,
}

impl EventQueue {
    /// A queue publishing through `recorder`, and the task that drains it (spawned on the
    /// current tokio runtime; it ends once every clone of the queue is dropped).
    pub fn spawn(
        recorder: EventRecorder,
        metrics: Arc<Metrics>,
        settings: QueueSettings,
    ) -> (EventQueue, JoinHandle<()>) {
        let (queue, inbox) = mpsc::channel(settings.capacity.max(1));
        let publisher = Publisher {
            recorder,
            metrics: metrics.clone(),
            settings,
            series: HashMap::new(),
        };
        let task = tokio::spawn(publisher.run(inbox));
        (EventQueue { queue, metrics }, task)
    }
}

impl EventSink for EventQueue {
    fn emit(&self, object: &ScaledObject, event: &Event) {
        let e = event.to_scaler_event(object);
        tracing::info!(reason = %e.reason, note = %e.note, "event");
        let queued = Queued {
            object: object.key(),
            regarding: Regarding::target_of(object),
            event: e,
            at: Timestamp::now(),
        };
        match self.queue.try_send(queued) {
            Ok(()) => {
                self.metrics.events_queued.inc();
            }
            Err(mpsc::error::TrySendError::Full(q)) => {
                self.metrics.events_dropped.inc();
                tracing::debug!(reason = %q.event.reason, "event queue full: event dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// What makes two Events the same one, repeated (client-go's key, less the related object).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    regarding: Regarding,
    kind: &'static str,
    reason: String,
    action: String,
    note: String,
}

/// An Event already created, and its repeats.
#[derive(Debug)]
struct Series {
    /// `namespace/name` of the scaled object the Event is about.
    object: String,
    /// The Event's name.
    name: String,
    /// Occurrences so far.
    count: u32,
    /// Occurrences written to the Event.
    written: u32,
    /// When the last occurrence happened.
    last_observed: Timestamp,
    /// When it was handled here, for the window.
    last_seen: Instant,
}

/// The task behind an [`EventQueue`].
struct Publisher {
    recorder: EventRecorder,
    metrics: Arc<Metrics>,
    settings: QueueSettings,
    series: HashMap<SeriesKey, Series>,
}

impl Publisher {
    async fn run(mut self, mut inbox: mpsc::Receiver<Queued>) {
        let mut refresh =
            tokio::time::interval(self.settings.refresh.max(Duration::from_millis(10)));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                queued = inbox.recv() => match queued {
                    Some(q) => {
                        let _ = self.metrics.events_queued.dec();
                        self.record(q).await;
                    }
                    None => break,
                },
                _ = refresh.tick() => self.refresh().await,
            }
        }
        self.refresh().await;
    }

    async fn record(&mut self, q: Queued) {
        let key = SeriesKey {
            regarding: q.regarding,
            kind: q.event.kind.as_str(),
            reason: q.event.reason.clone(),
            action: q.event.action.clone(),
            note: q.event.note.clone(),
        };
        let now = Instant::now();
        let window = self.settings.repeat_window;
        if let Some(s) = self.series.get_mut(&key)
            && now.duration_since(s.last_seen) < window
        {
            s.count = s.count.saturating_add(1);
            s.last_observed = q.at;
            s.last_seen = now;
            self.metrics.events_aggregated.inc();
            if s.written < 2 {
                // The second occurrence turns the Event into a series at once, as client-go does.
                Self::write_series(&self.recorder, &key, s).await;
            }
            return;
        }
        self.series.remove(&key);
        let recorder = self.recorder.for_object(&q.object);
        match recorder.create(&key.regarding, &q.event, q.at).await {
            Ok(name) => {
                self.series.insert(
                    key,
                    Series {
                        object: q.object,
                        name,
                        count: 1,
                        written: 1,
                        last_observed: q.at,
                        last_seen: now,
                    },
                );
            }
            Err(e) => log_failure(&q.event.reason, &e),
        }
    }

    /// Writes the counts not yet written, and forgets series whose window has passed.
    async fn refresh(&mut self) {
        let window = self.settings.repeat_window;
        let mut gone = Vec::new();
        for (key, s) in &mut self.series {
            let unwritten = s.count > s.written;
            let gone_from_api = unwritten && !Self::write_series(&self.recorder, key, s).await;
            if gone_from_api || s.last_seen.elapsed() >= window {
                gone.push(key.clone());
            }
        }
        for key in gone {
            self.series.remove(&key);
        }
    }

    /// Writes `s`'s count to its Event; false when the Event is gone.
    async fn write_series(recorder: &EventRecorder, key: &SeriesKey, s: &mut Series) -> bool {
        let written = recorder
            .for_object(&s.object)
            .count_repeats(&key.regarding.namespace, &s.name, s.count, s.last_observed)
            .await;
        match written {
            Ok(()) => {
                s.written = s.count;
                true
            }
            Err(e) if e.is_not_found() => false,
            Err(e) => {
                log_failure(&key.reason, &e);
                true
            }
        }
    }
}

fn log_failure(reason: &str, e: &KubeError) {
    if matches!(e, KubeError::NotLeading { .. }) {
        tracing::debug!(reason, error = %e, "event not published: not leading");
    } else {
        tracing::warn!(reason, error = %e, "cannot publish the event");
    }
}
