//! Rotated credentials, picked up without a reload: what a scaled object's or scaled job's
//! loop ([`crate::daemon::runner`], [`crate::daemon::jobs`]) needs to read its triggers'
//! credentials again and replace only the triggers whose credentials changed. The reading
//! itself is [`crate::daemon::credentials`]' ([`Credentials`] is its trait).

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use scalers_core::config::model::{ScaledJob, ScaledObject};
use scalers_core::trigger::BuiltTrigger;
use tokio::time::Instant;
use tracing::warn;

/// How often the credentials of triggers that read them from files or Kubernetes Secrets are
/// read again, to pick up rotated ones before they fail: once a minute.
pub const CREDENTIALS_REFRESH: Duration = Duration::from_secs(60);

/// What a loop runs for, whose triggers [`Credentials`] build again: a scaled object or a
/// scaled job.
#[derive(Clone, Copy, Debug)]
pub enum Scaled<'a> {
    /// A scaled object.
    Object(&'a ScaledObject),
    /// A scaled job (its triggers are built for [`ScaledJob::trigger_host`]).
    Job(&'a ScaledJob),
}

impl<'a> Scaled<'a> {
    /// The key its credentials are held by: `namespace/name` for a scaled object,
    /// `ScaledJob namespace/name` for a scaled job (a scaled object and a scaled job may share
    /// a name).
    pub fn key(&self) -> String {
        match self {
            Scaled::Object(o) => o.key(),
            Scaled::Job(j) => Scaled::job_key(&j.key()),
        }
    }

    /// The key of the scaled job `namespace/name` (`key`), as [`Scaled::key`].
    pub fn job_key(key: &str) -> String {
        format!("ScaledJob {key}")
    }

    /// The scaled object its triggers are built for.
    pub fn trigger_host(&self) -> ScaledObject {
        self.host().into_owned()
    }

    /// [`Scaled::trigger_host`], borrowed for a scaled object.
    pub fn host(&self) -> std::borrow::Cow<'a, ScaledObject> {
        match *self {
            Scaled::Object(o) => std::borrow::Cow::Borrowed(o),
            Scaled::Job(j) => std::borrow::Cow::Owned(j.trigger_host()),
        }
    }
}

/// Re-reads the credentials of a scaled object's (or scaled job's) triggers and builds the
/// triggers again, so that a rotated password or token is picked up without a reload.
///
/// For objects whose credentials can change while scalerd runs ([`Credentials::rotates`]),
/// the loops call it when one of their triggers fails as `unauthorized`, and every
/// [`CREDENTIALS_REFRESH`] ([`Rotation`]); they replace only the triggers whose credentials changed, keeping the
/// engine's memory and the other triggers.
#[async_trait]
pub trait Credentials: Send + Sync {
    /// The fingerprints of the credentials `scaled`'s triggers were built with when its config
    /// was loaded (as [`Rebuilt::fingerprints`]), if known.
    fn loaded(&self, scaled: Scaled<'_>) -> Option<Vec<u64>>;

    /// Whether some trigger of `scaled` reads credentials from a source that can change while
    /// scalerd runs (a file, a Kubernetes Secret).
    fn rotates(&self, scaled: Scaled<'_>) -> bool;

    /// Reads every credential of `scaled`'s triggers again and builds the triggers with them.
    ///
    /// # Errors
    /// Why the credentials could not be read or the triggers not built (no secret values).
    async fn rebuild(&self, scaled: Scaled<'_>) -> Result<Rebuilt, String>;
}

/// When a loop reads its triggers' credentials again, and what it compares them with: one per
/// loop, of a scaled object or a scaled job.
#[derive(Debug)]
pub struct Rotation {
    /// The triggers whose last sample failed as `unauthorized` (the loop fills it).
    pub unauthorized: BTreeSet<String>,
    /// The fingerprints of the triggers' credentials at the last rebuild (none before).
    fingerprints: Option<Vec<u64>>,
    /// When the credentials are next read again on the timer.
    next_refresh: Instant,
}

impl Rotation {
    /// A loop started at `born`: its first timed read a [`CREDENTIALS_REFRESH`] later.
    pub fn new(born: Instant) -> Self {
        Rotation {
            unauthorized: BTreeSet::new(),
            fingerprints: None,
            next_refresh: born + CREDENTIALS_REFRESH,
        }
    }

    /// Whether [`Rotation::rebuilds`] has anything to do now: a trigger failed as
    /// `unauthorized`, or the timer is due.
    pub fn wanted(&self) -> bool {
        !self.unauthorized.is_empty() || Instant::now() >= self.next_refresh
    }

    /// The triggers were built again from a reloaded config: compare with its credentials.
    pub fn reloaded(&mut self) {
        self.fingerprints = None;
    }

    /// Reads the credentials of `scaled`'s `triggers` (the ones running) again, when they can
    /// change ([`Credentials::rotates`]), and one failed as `unauthorized` or the timer is
    /// due; returns those
    /// rebuilt whose credentials changed, with their position (see [`Credentials`]). A read
    /// takes at most `period`, between 1 and 10 seconds; a failed one is logged and returns
    /// nothing.
    pub async fn rebuilds(
        &mut self,
        credentials: &dyn Credentials,
        scaled: Scaled<'_>,
        triggers: &[BuiltTrigger],
        period: Duration,
    ) -> Vec<(usize, BuiltTrigger)> {
        if !self.wanted() {
            return Vec::new();
        }
        let unauthorized: BTreeSet<String> = self.unauthorized.clone();
        let now = Instant::now();
        if now >= self.next_refresh {
            self.next_refresh = now + CREDENTIALS_REFRESH;
        }
        // Credentials that cannot change read the same again, whatever failed.
        if !credentials.rotates(scaled) {
            return Vec::new();
        }
        let limit = period.clamp(Duration::from_secs(1), Duration::from_secs(10));
        let rebuilt = match tokio::time::timeout(limit, credentials.rebuild(scaled)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                warn!(error = %e, "cannot read the triggers' credentials again");
                return Vec::new();
            }
            Err(_) => {
                warn!(
                    after_ms = limit.as_millis(),
                    "cannot read the triggers' credentials again: timed out"
                );
                return Vec::new();
            }
        };
        if rebuilt.triggers.len() != triggers.len() {
            return Vec::new();
        }
        let previous = self
            .fingerprints
            .replace(rebuilt.fingerprints.clone())
            .or_else(|| credentials.loaded(scaled));
        rebuilt
            .triggers
            .into_iter()
            .enumerate()
            .filter(|(i, t)| match &previous {
                Some(old) => old.get(*i) != rebuilt.fingerprints.get(*i),
                // Nothing to compare with: replace what fails for want of valid credentials.
                None => unauthorized.contains(&t.name),
            })
            .collect()
    }
}

/// Triggers built again by [`Credentials::rebuild`].
pub struct Rebuilt {
    /// The object's triggers, in order.
    pub triggers: Vec<BuiltTrigger>,
    /// A fingerprint of each trigger's credentials (same order): a trigger is replaced only
    /// when its fingerprint changed. Never shown: it is a hash, not the values.
    pub fingerprints: Vec<u64>,
}

impl std::fmt::Debug for Rebuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rebuilt")
            .field("triggers", &self.triggers)
            .finish_non_exhaustive()
    }
}
