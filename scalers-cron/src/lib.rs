//! # scalers-cron
//!
//! The `cron` trigger of scalers: a fixed number of replicas inside time windows given by two
//! cron expressions, with KEDA's parameter names and semantics.
//!
//! Where to start: [`register`] adds the `cron` type to a [`Registry`], reading the system
//! clock; [`register_with_clock`] takes another [`Clock`] (tests, simulations). Embedders that
//! build triggers themselves use [`CronConfig::from_params`] and [`CronTrigger::new`];
//! [`CronTrigger::window_at`] tells where any instant stands.
//!
//! ## KEDA semantics implemented (`cron` scaler)
//! - Parameters `timezone` (an IANA name such as `Europe/Berlin` or `UTC`), `start` and `end`
//!   (five-field cron expressions, see [`CronExpr`]; they must differ) and `desiredReplicas`
//!   (a whole number, at least 1), all required, each read from metadata, authentication
//!   parameters or `<name>FromEnv`.
//! - Active iff the next occurrence of `end` comes no later than the next occurrence of
//!   `start`, that is, the current time is inside a window that opened at an occurrence of
//!   `start` and has not yet reached `end`. Computed afresh at every sample.
//! - The metric is `desiredReplicas` when active, 0 otherwise; the target is 1, with the
//!   trigger's `metricType` (default `AverageValue`), so the HPA proposes exactly
//!   `desiredReplicas` inside a window, and other triggers and `minReplicaCount` decide
//!   outside.
//! - Unlike KEDA's cron library, a window whose `start` falls in the hour skipped when daylight
//!   saving time begins opens right after the gap instead of not at all that day (see
//!   [`CronExpr`]). An expression that never occurs (`0 0 30 2 *`) is a config error.
//!
//! ## Time zones
//! Zones come from the system's time zone database (`/usr/share/zoneinfo`, or `TZDIR`) when
//! there is one, so rule changes arrive with the OS's `tzdata` updates; otherwise from the copy
//! of the IANA database compiled into the binary, so the trigger works on a bare machine.
//!
//! ## Features
//! None.
//!
//! # Examples
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use scalers_core::config::model::{ScaledObject, TriggerSpec};
//! use scalers_core::trigger::{BuildContext, Registry};
//!
//! // Mondays to Fridays, 08:00 to 18:00 in Berlin: 5 replicas.
//! let mut spec = TriggerSpec::new("cron");
//! for (k, v) in [
//!     ("timezone", "Europe/Berlin"),
//!     ("start", "0 8 * * 1-5"),
//!     ("end", "0 18 * * 1-5"),
//!     ("desiredReplicas", "5"),
//! ] {
//!     spec.metadata.insert(k.to_owned(), v.to_owned());
//! }
//! let mut object = ScaledObject::new("office-hours", "web");
//! object.triggers.push(spec);
//!
//! // Wednesday 2026-01-14, 10:00 in Berlin (09:00 UTC).
//! let wednesday_ten = SystemTime::UNIX_EPOCH + Duration::from_secs(1_768_381_200);
//! let mut registry = Registry::new();
//! scalers_cron::register_with_clock(&mut registry, Arc::new(move || wednesday_ten));
//!
//! let built = registry
//!     .build(BuildContext::new(&object, 0))
//!     .expect("valid trigger");
//! # block_on(async {
//! let sample = built.trigger.sample().await.expect("a sample");
//! assert_eq!((sample.value, sample.active), (5.0, true));
//! # });
//! # fn block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod clock;
mod config;
mod error;
mod schedule;
mod trigger;

use std::sync::Arc;

use scalers_core::trigger::Registry;

pub use clock::{Clock, SystemClock};
pub use config::CronConfig;
pub use error::{Error, Result};
pub use schedule::CronExpr;
pub use trigger::{CronTrigger, Window};

/// The trigger type name, as in KEDA.
pub const TYPE: &str = "cron";

/// Registers the `cron` trigger type, reading the system clock.
///
/// # Examples
/// ```
/// let mut registry = scalers_core::trigger::Registry::new();
/// scalers_cron::register(&mut registry);
/// assert!(registry.contains("cron"));
/// ```
pub fn register(registry: &mut Registry) {
    register_with_clock(registry, Arc::new(SystemClock));
}

/// Registers the `cron` trigger type with a clock of the caller's (a fixed or simulated time).
pub fn register_with_clock(registry: &mut Registry, clock: Arc<dyn Clock>) {
    registry.register(TYPE, move |p| {
        let config = CronConfig::from_params(p)?;
        Ok(Arc::new(CronTrigger::new(config, clock.clone())))
    });
}
