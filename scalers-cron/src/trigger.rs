//! The trigger: inside a start→end window or not, at the clock's current time.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use jiff::Timestamp;
use scalers_core::trigger::{MetricTarget, Sample, Trigger, TriggerError};

use crate::clock::Clock;
use crate::config::CronConfig;
use crate::error::{Error, Result};
use crate::schedule::CronExpr;

/// Where a time stands relative to the trigger's windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Whether the time is inside a window: the next `end` comes no later than the next
    /// `start`.
    pub active: bool,
    /// The next occurrence of `start`, in the trigger's time zone (RFC 3339 with the zone's
    /// name, e.g. `2026-03-09T09:00:00-04:00[America/New_York]`).
    pub next_start: String,
    /// The next occurrence of `end`, likewise.
    pub next_end: String,
}

/// The `cron` trigger: `desiredReplicas` inside each window from an occurrence of `start` to
/// the following occurrence of `end`, 0 outside.
///
/// Each sample reads the [`Clock`] and computes both next occurrences afresh, as KEDA does (no
/// caching): the time is inside a window iff the next `end` comes no later than the next
/// `start`. A window thus opens at the very minute of `start` and closes at the very minute of
/// `end`. The target is 1, so with the default `AverageValue` the HPA proposes exactly
/// `desiredReplicas` inside a window.
pub struct CronTrigger {
    config: CronConfig,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CronTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronTrigger")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CronTrigger {
    /// A trigger for `config` that reads `clock`.
    pub fn new(config: CronConfig, clock: Arc<dyn Clock>) -> Self {
        CronTrigger { config, clock }
    }

    /// The parsed parameters.
    pub fn config(&self) -> &CronConfig {
        &self.config
    }

    /// Where `now` stands relative to the windows.
    ///
    /// # Errors
    /// [`Error::ClockOutOfRange`] for a time outside the years -9999 to 9999;
    /// [`Error::NoOccurrence`] when an expression has no occurrence left before the year 5000.
    pub fn window_at(&self, now: SystemTime) -> Result<Window> {
        let now = Timestamp::try_from(now)
            .map_err(|_| Error::ClockOutOfRange)?
            .to_zoned(self.config.zone().clone());
        let next = |which: &'static str, expr: &CronExpr| {
            expr.next_after(&now).ok_or_else(|| Error::NoOccurrence {
                which,
                expression: expr.as_str().to_owned(),
                now: now.to_string(),
            })
        };
        let next_start = next("start", self.config.start())?;
        let next_end = next("end", self.config.end())?;
        Ok(Window {
            active: next_end.timestamp() <= next_start.timestamp(),
            next_start: next_start.to_string(),
            next_end: next_end.to_string(),
        })
    }

    /// The sample at `now`: `desiredReplicas` and active inside a window, 0 and inactive
    /// outside.
    ///
    /// # Errors
    /// As [`CronTrigger::window_at`].
    pub fn sample_at(&self, now: SystemTime) -> Result<Sample> {
        let window = self.window_at(now)?;
        let value = if window.active {
            f64::from(self.config.desired_replicas())
        } else {
            0.0
        };
        Ok(Sample {
            value,
            active: window.active,
            no_data: false,
        })
    }
}

#[async_trait]
impl Trigger for CronTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: 1.0,
            metric_type: self.config.metric_type(),
            activation_threshold: 0.0,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        Ok(self.sample_at(self.clock.now())?)
    }
}
