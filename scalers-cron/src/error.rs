//! The crate's error type: why a cron trigger could not tell whether it is active.

use scalers_core::trigger::{TriggerError, TriggerErrorKind};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a sample failed. Neither can happen for a config that built and a clock between the
/// years 1 and 4999; they exist so that a broken clock reads as a failure, never as zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The clock reads a time jiff cannot represent (outside the years -9999 to 9999).
    #[error("the clock reads a time out of range")]
    ClockOutOfRange,
    /// An expression has no occurrence after the current time (before the year 5000).
    #[error("{which} {expression:?} has no occurrence after {now}")]
    NoOccurrence {
        /// `start` or `end`.
        which: &'static str,
        /// The expression.
        expression: String,
        /// The current time, in the trigger's time zone.
        now: String,
    },
}

impl Error {
    /// The kind of trigger failure this is.
    pub fn kind(&self) -> TriggerErrorKind {
        TriggerErrorKind::BadResponse
    }
}

impl From<Error> for TriggerError {
    /// Keeps `e` whole as the trigger error's source, for
    /// [`TriggerError::downcast_ref`]; the message is its text.
    fn from(e: Error) -> Self {
        TriggerError::from_plugin(e.kind(), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_error_is_kept_for_downcasting() {
        let e = TriggerError::from(Error::NoOccurrence {
            which: "start",
            expression: "0 0 30 2 *".to_owned(),
            now: "2026-02-01T00:00:00Z".to_owned(),
        });
        assert_eq!(
            e.message,
            "start \"0 0 30 2 *\" has no occurrence after 2026-02-01T00:00:00Z"
        );
        let Some(Error::NoOccurrence { which, .. }) = e.downcast_ref::<Error>() else {
            panic!("not this crate's error: {e:?}");
        };
        assert_eq!(*which, "start");
        assert!(std::error::Error::source(&e).is_none());
    }
}
