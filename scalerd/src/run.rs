//! `scalerd run`: the daemon. [`App::build`] loads the config, builds every trigger, binds the
//! admin server and finds the cluster; [`App::run`] runs one loop per scaled object until the
//! shutdown future completes, reloading the config on `SIGHUP` or when the file changes.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use scalers_core::config::ValidatedObject;
use scalers_core::config::model::{ScaleTargetRef, ScaledObject};
use scalers_core::target::ScaleTarget;
use scalers_core::trigger::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::admin::{AdminState, router};
use crate::error::{Error, Result};
use crate::events::{EventSink, LogSink};
use crate::metrics::Metrics;
use crate::runner::{Clock, DryRunTarget, ObjectHandle, RunContext, spawn};
use crate::status::{ReloadStatus, StatusStore};

/// Default admin address.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9102";

/// Everything `scalerd run` is told, as plain data.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The config file.
    pub config: PathBuf,
    /// Log writes instead of doing them.
    pub dry_run: bool,
    /// Where the admin server listens (port 0: any free port; ask [`App::admin_addr`]).
    pub admin_addr: SocketAddr,
    /// Longest time one trigger sample may take.
    pub sample_timeout: Duration,
    /// Longest time to wait for the loops to stop on shutdown.
    pub drain_timeout: Duration,
    /// How often to look for a changed config file (zero: never).
    pub watch_interval: Duration,
}

impl RunOptions {
    /// Defaults for `config`.
    pub fn new(config: PathBuf) -> Self {
        RunOptions {
            config,
            dry_run: false,
            admin_addr: DEFAULT_ADMIN_ADDR
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9102))),
            sample_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            watch_interval: Duration::from_secs(2),
        }
    }
}

/// Where the loops' targets come from.
pub trait Targets: Send + Sync {
    /// The target of `object`.
    fn target(&self, object: &ScaledObject) -> Arc<dyn ScaleTarget>;
}

/// In-memory workloads for dry runs without a cluster; each starts at the object's minimum.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryTargets;

impl Targets for MemoryTargets {
    fn target(&self, object: &ScaledObject) -> Arc<dyn ScaleTarget> {
        Arc::new(DryRunTarget::in_memory(object.min_replica_count))
    }
}

struct Running {
    handle: ObjectHandle,
    target_ref: ScaleTargetRef,
}

/// The daemon, built and ready to run.
pub struct App {
    opts: RunOptions,
    registry: Arc<Registry>,
    ctx: Arc<RunContext>,
    targets: Arc<dyn Targets>,
    listener: TcpListener,
    admin: AdminState,
    ready: watch::Sender<bool>,
    _leading: watch::Sender<bool>,
    initial: Vec<ValidatedObject>,
    config_hash: u64,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn file_hash(path: &std::path::Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

impl App {
    /// Loads and validates the config, binds the admin server and picks the targets.
    ///
    /// With `dry_run`, workloads are simulated in memory (no cluster is needed).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid config (every problem listed), [`Error::Read`] when the
    /// file cannot be read, [`Error::Bind`] when the admin address is taken.
    pub async fn build(opts: RunOptions, registry: Registry) -> Result<App> {
        let initial = crate::load(&opts.config, &registry)?;
        let config_hash = file_hash(&opts.config).unwrap_or_default();
        let listener = TcpListener::bind(opts.admin_addr)
            .await
            .map_err(|source| Error::Bind {
                addr: opts.admin_addr,
                source,
            })?;
        let targets: Arc<dyn Targets> = if opts.dry_run {
            Arc::new(MemoryTargets)
        } else {
            return Err(Error::Selection(
                "scalerd run needs a cluster; use --dry-run to run without one".to_owned(),
            ));
        };
        let events: Arc<dyn EventSink> = Arc::new(LogSink);
        let status = Arc::new(StatusStore::new(
            opts.config.display().to_string(),
            opts.dry_run,
        ));
        let metrics = Arc::new(Metrics::new());
        let (leading_tx, leading) = watch::channel(true);
        metrics.leader.set(1);
        let (ready, ready_rx) = watch::channel(false);
        let ctx = Arc::new(RunContext {
            status: status.clone(),
            metrics: metrics.clone(),
            events,
            leading,
            clock: Clock::system(),
            sample_timeout: opts.sample_timeout,
            dry_run: opts.dry_run,
        });
        Ok(App {
            admin: AdminState {
                status,
                metrics,
                ready: ready_rx,
            },
            opts,
            registry: Arc::new(registry),
            ctx,
            targets,
            listener,
            ready,
            _leading: leading_tx,
            initial,
            config_hash,
        })
    }

    /// The address the admin server is bound to.
    ///
    /// # Errors
    /// When the socket cannot tell (it always can once bound).
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The status store, for embedders and tests.
    pub fn status(&self) -> Arc<StatusStore> {
        self.ctx.status.clone()
    }

    /// Runs until `shutdown` completes, then stops the loops within the drain timeout.
    ///
    /// # Errors
    /// When the admin server fails.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let App {
            opts,
            registry,
            ctx,
            targets,
            listener,
            admin,
            ready,
            _leading,
            initial,
            mut config_hash,
        } = self;
        let (server_stop, mut server_stop_rx) = watch::channel(false);
        let server = tokio::spawn(async move {
            axum::serve(listener, router(admin))
                .with_graceful_shutdown(async move {
                    let _ = server_stop_rx.changed().await;
                })
                .await
        });

        let mut running: BTreeMap<String, Running> = BTreeMap::new();
        apply(&ctx, targets.as_ref(), &mut running, initial).await;
        let _ = ready.send(true);
        info!(
            objects = running.len(),
            dry_run = opts.dry_run,
            "scalerd running"
        );

        let mut hangup = hangup_signal();
        let mut watch_tick =
            (!opts.watch_interval.is_zero()).then(|| tokio::time::interval(opts.watch_interval));
        tokio::pin!(shutdown);
        loop {
            let reload = tokio::select! {
                () = &mut shutdown => break,
                Some(()) = recv_hangup(&mut hangup) => {
                    info!("SIGHUP: reloading the config");
                    true
                }
                _ = async { match watch_tick.as_mut() { Some(t) => t.tick().await, None => std::future::pending().await } } => {
                    match file_hash(&opts.config) {
                        Some(h) if h != config_hash => {
                            info!("config file changed: reloading");
                            true
                        }
                        _ => false,
                    }
                }
            };
            if reload {
                config_hash = file_hash(&opts.config).unwrap_or(config_hash);
                match crate::load(&opts.config, &registry) {
                    Ok(objects) => {
                        apply(&ctx, targets.as_ref(), &mut running, objects).await;
                        ctx.status.set_reload(ReloadStatus {
                            at: ctx.clock.wall_ms(),
                            ok: true,
                            error: None,
                        });
                    }
                    Err(e) => {
                        error!(error = %e, "config reload rejected; the previous config keeps running");
                        ctx.metrics.reload_failures.inc();
                        ctx.status.set_reload(ReloadStatus {
                            at: ctx.clock.wall_ms(),
                            ok: false,
                            error: Some(e.to_string()),
                        });
                    }
                }
            }
        }

        info!("shutting down");
        let _ = ready.send(false);
        for r in running.values() {
            r.handle.signal_stop();
        }
        let drain = async {
            for (_, r) in running {
                r.handle.join().await;
            }
        };
        if tokio::time::timeout(opts.drain_timeout, drain)
            .await
            .is_err()
        {
            warn!(
                timeout_ms = opts.drain_timeout.as_millis(),
                "loops did not stop in time"
            );
        }
        let _ = server_stop.send(true);
        match server.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Serve(e)),
            Err(e) => Err(Error::Serve(std::io::Error::other(e))),
        }
    }
}

/// Brings the running loops in line with `objects`: stops removed ones, reconfigures kept ones
/// (restarting those whose target changed) and starts new ones.
async fn apply(
    ctx: &Arc<RunContext>,
    targets: &dyn Targets,
    running: &mut BTreeMap<String, Running>,
    objects: Vec<ValidatedObject>,
) {
    let mut wanted: BTreeMap<String, ValidatedObject> =
        objects.into_iter().map(|o| (o.object.key(), o)).collect();
    let keys: Vec<String> = running.keys().cloned().collect();
    for key in keys {
        let keep = wanted.get(&key).is_some_and(|o| {
            running
                .get(&key)
                .is_some_and(|r| r.target_ref == o.object.scale_target_ref)
        });
        if keep {
            if let (Some(r), Some(o)) = (running.get(&key), wanted.remove(&key)) {
                r.handle.reconfigure(o);
            }
        } else if let Some(r) = running.remove(&key) {
            info!(scaled_object = %key, "stopping");
            r.handle.stop().await;
            if !wanted.contains_key(&key) {
                ctx.status.remove(&key);
            }
        }
    }
    for (key, object) in wanted {
        let target = targets.target(&object.object);
        let target_ref = object.object.scale_target_ref.clone();
        match spawn(ctx.clone(), object, target) {
            Ok(handle) => {
                running.insert(key, Running { handle, target_ref });
            }
            Err(e) => error!(scaled_object = %key, error = %e, "cannot start"),
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_signal() -> Hangup {
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

/// Completes on SIGTERM or SIGINT.
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM"),
                    _ = int.recv() => info!("SIGINT"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
