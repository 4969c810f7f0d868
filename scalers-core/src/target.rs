//! The [`ScaleTarget`] trait: what the engine's decisions are written to.
//!
//! scalerd implements it on the Kubernetes `/scale` subresource; [`MemoryTarget`] keeps the count
//! in memory (dry runs, tests, and programs that scale something of their own).

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::engine::Replicas;

/// Why reading or writing a target failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetErrorKind {
    /// The target does not exist (HTTP 404).
    NotFound,
    /// Not allowed to read or write it (HTTP 403).
    Forbidden,
    /// The write lost a race with another writer (HTTP 409), even after retries.
    Conflict,
    /// The API could not be reached or answered with a server error (HTTP 5xx).
    Unavailable,
    /// The API took too long.
    Timeout,
    /// The write was not sent: this process may not write now (its leader lease is not fresh
    /// enough for the request to land before another replica may take over).
    NotLeading,
    /// Anything else (a malformed answer, an unknown kind).
    Other,
}

impl TargetErrorKind {
    /// A short lowercase name for metrics and status.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetErrorKind::NotFound => "not_found",
            TargetErrorKind::Forbidden => "forbidden",
            TargetErrorKind::Conflict => "conflict",
            TargetErrorKind::Unavailable => "unavailable",
            TargetErrorKind::Timeout => "timeout",
            TargetErrorKind::NotLeading => "not_leading",
            TargetErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for TargetErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed read or write of a target.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    /// What kind of failure.
    pub kind: TargetErrorKind,
    /// What happened, for a person.
    pub message: String,
    /// The underlying error, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TargetError {
    /// A failure of that kind with that message.
    pub fn new(kind: TargetErrorKind, message: impl Into<String>) -> Self {
        TargetError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same failure with an underlying cause attached.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

/// Something whose replica count the engine controls.
#[async_trait]
pub trait ScaleTarget: Send + Sync {
    /// The current, existing and ready replica counts.
    ///
    /// # Errors
    /// A [`TargetError`] saying why the target could not be read.
    async fn replicas(&self) -> Result<Replicas, TargetError>;

    /// Sets the desired replica count.
    ///
    /// # Errors
    /// A [`TargetError`] saying why the count could not be written.
    async fn set_replicas(&self, replicas: u32) -> Result<(), TargetError>;
}

/// A target that keeps its count in memory; new replicas are ready at once.
///
/// ```
/// use scalers_core::target::{MemoryTarget, ScaleTarget};
/// # futures_executor::block_on(async {
/// let target = MemoryTarget::new(2);
/// target.set_replicas(5).await.unwrap();
/// assert_eq!(target.replicas().await.unwrap().current, 5);
/// assert_eq!(target.writes(), [5]);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryTarget {
    state: Mutex<(u32, Vec<u32>)>,
}

impl MemoryTarget {
    /// A target currently at `replicas`.
    pub fn new(replicas: u32) -> Self {
        MemoryTarget {
            state: Mutex::new((replicas, Vec::new())),
        }
    }

    /// The current count.
    pub fn current(&self) -> u32 {
        self.lock().0
    }

    /// Every count written so far, in order.
    pub fn writes(&self) -> Vec<u32> {
        self.lock().1.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Vec<u32>)> {
        // A poisoned lock only means a panic elsewhere; the numbers are still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ScaleTarget for MemoryTarget {
    async fn replicas(&self) -> Result<Replicas, TargetError> {
        Ok(Replicas::settled(self.current()))
    }

    async fn set_replicas(&self, replicas: u32) -> Result<(), TargetError> {
        let mut s = self.lock();
        s.0 = replicas;
        s.1.push(replicas);
        Ok(())
    }
}
