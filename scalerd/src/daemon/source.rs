//! Where the daemon's scaled objects come from: [`FileSource`], the config file (scalerd's format
//! or KEDA manifests), read at start and again when it changes or on `SIGHUP`.
//!
//! A source hands the [`App`](super::App) the whole set of objects it holds, validated and with
//! their triggers built, through the same code path as `scalerd check`; the app brings the
//! running loops in line with it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use scalers_core::config::model::Config;
use scalers_core::config::{ValidatedJob, ValidatedObject};
use scalers_core::trigger::Registry;
use tracing::info;

use crate::daemon::credentials::Fingerprints;
use crate::error::Result;

/// One load of a source: the config as read, its validated objects, and the fingerprints of
/// the credentials their triggers were built with.
#[derive(Debug)]
pub struct Loaded {
    /// The config as read.
    pub config: Config,
    /// Its objects, validated, triggers built.
    pub objects: Vec<ValidatedObject>,
    /// Its scaled jobs, validated, triggers built.
    pub jobs: Vec<ValidatedJob>,
    /// The fingerprints of their credentials ([`crate::daemon::rotation::Rebuilt`]).
    pub fingerprints: Fingerprints,
}

/// Why a source should be read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A `SIGHUP`.
    Hangup,
    /// The file's content changed.
    FileChanged,
}

/// The config file as a source of scaled objects.
///
/// [`FileSource::changed`] completes on `SIGHUP` or when the file's content changed (looked at
/// every `watch_interval`; never with zero); [`FileSource::load`] reads and validates it,
/// reading the Kubernetes Secrets its authentications name through the client.
pub struct FileSource {
    path: PathBuf,
    client: Option<kube::Client>,
    namespace: String,
    hash: Option<u64>,
    watch: Option<tokio::time::Interval>,
    hangup: Hangup,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// The file at `path`; Secrets read through `client` (placeholders without one), those of
    /// cluster-wide authentications from `namespace`. `hangup` is the `SIGHUP` listener, made
    /// with [`hangup_signal`] as early as possible (a `SIGHUP`'s default action ends the
    /// process).
    pub fn new(
        path: &Path,
        client: Option<kube::Client>,
        namespace: &str,
        watch_interval: Duration,
        hangup: Hangup,
    ) -> Self {
        FileSource {
            path: path.to_path_buf(),
            client,
            namespace: namespace.to_owned(),
            hash: None,
            watch: (!watch_interval.is_zero()).then(|| tokio::time::interval(watch_interval)),
            hangup,
        }
    }

    /// The file's name, for messages and `/status`.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Reads and validates the file.
    ///
    /// # Errors
    /// [`crate::Error::Read`] when the file cannot be read, [`crate::Error::Config`] with every
    /// problem found.
    pub async fn load(&mut self, registry: &Registry) -> Result<Loaded> {
        self.hash = file_hash(&self.path).or(self.hash);
        let file = self.name();
        let config = scalers_core::config::load_file(&self.path)?;
        let (validated, fingerprints) = crate::daemon::credentials::load_all(
            &config,
            &file,
            registry,
            self.client.as_ref(),
            &self.namespace,
            &crate::process_env,
        )
        .await?;
        Ok(Loaded {
            config,
            objects: validated.objects,
            jobs: validated.jobs,
            fingerprints,
        })
    }

    /// Completes when the file should be read again.
    pub async fn changed(&mut self) -> Change {
        loop {
            tokio::select! {
                Some(()) = recv_hangup(&mut self.hangup) => {
                    info!("SIGHUP: reloading the config");
                    return Change::Hangup;
                }
                _ = async {
                    match self.watch.as_mut() {
                        Some(t) => t.tick().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(h) = file_hash(&self.path)
                        && Some(h) != self.hash
                    {
                        info!("config file changed: reloading");
                        return Change::FileChanged;
                    }
                }
            }
        }
    }
}

fn file_hash(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// The `SIGHUP` listener of a [`FileSource`].
#[cfg(unix)]
pub type Hangup = Option<tokio::signal::unix::Signal>;
/// The `SIGHUP` listener of a [`FileSource`] (none off Unix).
#[cfg(not(unix))]
pub type Hangup = Option<()>;

/// Listens to `SIGHUP` from now on (none if the signal cannot be listened to).
#[cfg(unix)]
pub fn hangup_signal() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
/// Listens to `SIGHUP` from now on (never off Unix).
#[cfg(not(unix))]
pub fn hangup_signal() -> Hangup {
    None
}

#[cfg(unix)]
async fn recv_hangup(s: &mut Hangup) -> Option<()> {
    match s {
        Some(sig) => sig.recv().await,
        None => std::future::pending().await,
    }
}
#[cfg(not(unix))]
async fn recv_hangup(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}
