//! The wall clock a cron trigger reads, injectable for tests.

use std::time::SystemTime;

/// Where a cron trigger reads the current time.
///
/// [`SystemClock`] in production; tests and simulations pass their own, for example a closure:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use scalers_cron::Clock;
///
/// let fixed = || SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
/// assert_eq!(fixed.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600));
/// ```
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F> Clock for F
where
    F: Fn() -> SystemTime + Send + Sync,
{
    fn now(&self) -> SystemTime {
        self()
    }
}
