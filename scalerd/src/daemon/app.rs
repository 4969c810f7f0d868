//! `scalerd run`: the daemon. [`App::build`] loads the config, builds every trigger, binds the
//! admin server and finds the cluster; [`App::run`] starts one loop per scaled object
//! ([`App::start`]), follows the config file until the shutdown future completes
//! ([`Started::follow`]: reloads on `SIGHUP` or when the file changes), then drains
//! ([`Started::drain`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scalers_core::config::model::{Config, ScaleTargetRef, ScaledObject};
use scalers_core::config::{ValidatedJob, ValidatedObject};
use scalers_core::trigger::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::daemon::admin::{AdminState, router};
use crate::daemon::cluster::{ClusterChange, ClusterSource};
use crate::daemon::credentials::ConfigCredentials;
use crate::daemon::credentials::Fingerprints;
use crate::daemon::events::{EventQueue, EventSink, LogSink, QueueSettings};
use crate::daemon::jobs::{JobContext, JobLoops};
use crate::daemon::metrics::Metrics;
use crate::daemon::options::RunOptions;
use crate::daemon::runner::{Clock, ObjectHandle, RunContext, spawn};
use crate::daemon::source::{FileSource, Loaded, hangup_signal};
use crate::daemon::status::{ReloadStatus, StatusStore};
use crate::daemon::targets::{ClusterTargets, MemoryTargets, Targets};
use crate::error::{Error, Result};
use crate::kube::{
    Condition, EventRecorder, Fence, KubeTargets, LeaderElector, ObjectReport, RateLimit,
    ShardElector, StatusWriter,
};

/// A client from the kubeconfig, whose requests carry `User-Agent: scalerd/<version>
/// (<identity>)` so that the API server's audit log tells replicas apart, and go through the
/// rate limit `--kube-api-qps`/`--kube-api-burst`.
async fn connect(
    opts: &RunOptions,
    metrics: &Metrics,
) -> std::result::Result<(kube::Client, RateLimit), crate::kube::KubeError> {
    let mut config =
        crate::kube::load_config(opts.kubeconfig.as_deref(), opts.context.as_deref()).await?;
    let agent = format!("scalerd/{} ({})", env!("CARGO_PKG_VERSION"), opts.identity);
    if let Ok(value) = http::HeaderValue::from_str(&agent) {
        config.headers.push((http::header::USER_AGENT, value));
    }
    let limit = RateLimit::spawn(opts.kube_api, metrics.rate_limit());
    Ok((
        crate::kube::client_with_rate_limit(config, limit.clone())?,
        limit,
    ))
}

/// Logs a warning for every HPA that already scales one of `objects`' targets.
///
/// One list of HPAs across all namespaces for every object (a list per object made 2,000
/// identical calls at start for 2,000 objects); when that is forbidden, one list per namespace.
async fn warn_about_hpas(client: &kube::Client, objects: &[ValidatedObject]) {
    use crate::kube::HpaIndex;
    if objects.is_empty() {
        return;
    }
    let mut indexes: BTreeMap<Option<String>, Option<HpaIndex>> = BTreeMap::new();
    match HpaIndex::list(client, None).await {
        Ok(all) => {
            indexes.insert(None, Some(all));
        }
        Err(e) => {
            info!(error = %e, "cannot list HPAs in all namespaces; listing them per namespace");
            for o in objects {
                let ns = o.object.namespace.clone();
                if indexes.contains_key(&Some(ns.clone())) {
                    continue;
                }
                let found = match HpaIndex::list(client, Some(&ns)).await {
                    Ok(index) => Some(index),
                    Err(e) => {
                        warn!(namespace = %ns, error = %e, "cannot list HPAs");
                        None
                    }
                };
                indexes.insert(Some(ns), found);
            }
        }
    }
    for o in objects {
        let object = &o.object;
        let index = indexes
            .get(&None)
            .or_else(|| indexes.get(&Some(object.namespace.clone())))
            .and_then(Option::as_ref);
        let Some(index) = index else {
            continue;
        };
        let hpas = index.targeting(&object.namespace, &object.scale_target_ref);
        if !hpas.is_empty() {
            warn!(
                scaled_object = %object.key(),
                hpas = %hpas.join(", "),
                "an HorizontalPodAutoscaler already scales this target; both will write its replicas"
            );
        }
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
    leading: watch::Sender<bool>,
    elector: Option<LeaderElector>,
    shard_elector: Option<ShardElector>,
    client: Option<kube::Client>,
    initial: Vec<ValidatedObject>,
    /// The scaled jobs' loops, and the scaled jobs to start with.
    jobs: (JobLoops, Vec<ValidatedJob>),
    credentials: Arc<ConfigCredentials>,
    /// The config file, whose SIGHUP listener exists from the start of [`App::build`]: a
    /// SIGHUP's default action ends the process, so one sent while the daemon starts must
    /// already find a handler.
    source: Source,
}

/// Where the objects come from: the config file, or the cluster.
enum Source {
    File(FileSource),
    Cluster(ClusterSource),
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// A started daemon: its loops run, its admin server serves, its election runs. Made by
/// [`App::start`]; [`Started::follow`] applies the source's changes until shutdown, then
/// [`Started::drain`] stops everything within the drain timeout.
pub struct Started {
    opts: RunOptions,
    registry: Arc<Registry>,
    ctx: Arc<RunContext>,
    targets: Arc<dyn Targets>,
    ready: watch::Sender<bool>,
    credentials: Arc<ConfigCredentials>,
    source: Source,
    running: BTreeMap<String, Running>,
    jobs: JobLoops,
    /// Cluster mode: the watch of ScaledJobs feeding `jobs` (its stop, its task).
    cluster_jobs: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
    elector_stop: watch::Sender<bool>,
    elector_task: Option<tokio::task::JoinHandle<()>>,
    server_stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("objects", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Loads and validates the config, binds the admin server and picks the targets.
    ///
    /// Connects to Kubernetes (kubeconfig or in-cluster); with `dry_run` and no reachable
    /// cluster, workloads are simulated in memory. Secrets named by authentications are read
    /// through the API.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid config (every problem listed), [`Error::Read`] when the
    /// file cannot be read, [`Error::Bind`] when the admin address is taken, [`Error::Kube`]
    /// when there is no cluster config outside a dry run.
    pub async fn build(opts: RunOptions, registry: Registry) -> Result<App> {
        let hangup = hangup_signal();
        // A broken config is reported before anything else happens (Secrets are checked against
        // placeholders here, and read for real once connected).
        if let Some(path) = &opts.config {
            crate::load_all(path, &registry)?;
        }
        let metrics = Arc::new(Metrics::new());
        // The client's rate limit, when scalerd made the client (a client handed over in the
        // options is limited, if at all, by its maker).
        let (client, mut limit) = match opts.kube_client.clone() {
            Some(c) => (Some(c), None),
            None => match connect(&opts, &metrics).await {
                Ok((c, l)) => (Some(c), Some(l)),
                Err(e) if opts.dry_run => {
                    info!(error = %e, "no cluster: dry run with in-memory workloads");
                    (None, None)
                }
                Err(e) => return Err(Error::Kube(e)),
            },
        };
        let reachable = match &client {
            Some(c) => tokio::time::timeout(Duration::from_secs(3), c.apiserver_version())
                .await
                .is_ok_and(|r| r.is_ok()),
            None => false,
        };
        let client = if opts.dry_run && !reachable {
            if client.is_some() {
                info!("the cluster does not answer: dry run with in-memory workloads");
            }
            None
        } else {
            client
        };
        let registry = Arc::new(registry);
        let (source, loaded) = match (&opts.config, &client) {
            (Some(path), _) => {
                let mut file = FileSource::new(
                    path,
                    client.clone(),
                    &opts.namespace,
                    opts.watch_interval,
                    hangup,
                );
                let loaded = file.load(&registry).await?;
                (Source::File(file), loaded)
            }
            (None, Some(c)) => {
                let cluster = ClusterSource::start(
                    c.clone(),
                    &opts.watch_namespaces,
                    registry.clone(),
                    &opts.namespace,
                );
                let empty = Loaded {
                    config: Config::default(),
                    objects: Vec::new(),
                    jobs: Vec::new(),
                    fingerprints: Fingerprints::new(),
                };
                (Source::Cluster(cluster), empty)
            }
            (None, None) => return Err(Error::NoCluster),
        };
        let source_name = match &source {
            Source::File(f) => f.name(),
            Source::Cluster(_) => "cluster".to_owned(),
        };
        let credentials = Arc::new(ConfigCredentials::new(
            loaded.config,
            loaded.fingerprints,
            source_name.clone(),
            registry.clone(),
            client.clone(),
            opts.namespace.clone(),
        ));
        let initial = loaded.objects;
        let initial_jobs = loaded.jobs;
        let listener = TcpListener::bind(opts.admin_addr)
            .await
            .map_err(|source| Error::Bind {
                addr: opts.admin_addr,
                source,
            })?;
        if let Some(c) = &client {
            warn_about_hpas(c, &initial).await;
        }
        let status = Arc::new(StatusStore::new(source_name, opts.dry_run));
        let shard = client.is_some() && !opts.dry_run && opts.sharding;
        let elect = client.is_some()
            && !opts.dry_run
            && !opts.sharding
            && opts.leader_elect.unwrap_or_else(crate::kube::in_cluster);
        let elector = match (&client, elect) {
            (Some(c), true) => Some(LeaderElector::new(
                c.clone(),
                &opts.namespace,
                &opts.lease_name,
                &opts.identity,
                opts.lease_timings,
            )),
            _ => None,
        };
        let shard_elector = match (&client, shard) {
            (Some(c), true) => Some(ShardElector::new(
                c.clone(),
                &opts.namespace,
                &opts.lease_name,
                &opts.identity,
                opts.shards,
                opts.lease_timings,
            )),
            _ => None,
        };
        let shards = shard_elector.as_ref().map(ShardElector::view);
        // Every write leaves only while the lease is fresh enough (no election: always); with
        // sharding, the lease of the written object's shard.
        let fence = match (&elector, &shards) {
            (Some(e), _) => e.fence(),
            (None, Some(view)) => view.fence(),
            (None, None) => Fence::open(),
        };
        if let Some(view) = &shards {
            status.set_shards(view.clone());
        }
        let (targets, events): (Arc<dyn Targets>, Arc<dyn EventSink>) = match &client {
            None => (Arc::new(MemoryTargets), Arc::new(LogSink)),
            Some(c) => {
                let mut kube =
                    KubeTargets::new(c.clone()).with_watches(opts.watch_namespaces.clone());
                if let Some(limit) = limit.take() {
                    kube = kube.with_rate_limit(limit);
                }
                credentials.set_targets(kube.clone());
                let targets = Arc::new(ClusterTargets::new(kube, fence.clone(), opts.dry_run));
                let fence = fence.clone();
                let events: Arc<dyn EventSink> = if opts.dry_run {
                    Arc::new(LogSink)
                } else {
                    let recorder =
                        EventRecorder::new(c.clone(), opts.identity.clone()).with_fence(fence);
                    // The publishing task ends when the last loop's context is dropped.
                    let (queue, _task) =
                        EventQueue::spawn(recorder, metrics.clone(), QueueSettings::default());
                    Arc::new(queue)
                };
                (targets, events)
            }
        };
        // Cluster mode keeps KEDA's status in the ScaledObjects (not in a dry run: no writes).
        let statuses = match (&source, &client) {
            (Source::Cluster(cluster), Some(c)) if !opts.dry_run => Some(StatusWriter::spawn(
                c.clone(),
                fence.clone(),
                Some(cluster.status_lookup()),
            )),
            _ => None,
        };
        let (leading_tx, leading) = watch::channel(elector.is_none());
        status.set_leader(elector.is_none());
        metrics.leader.set(i64::from(elector.is_none()));
        let (ready, ready_rx) = watch::channel(false);
        let ctx = Arc::new(RunContext {
            status: status.clone(),
            metrics: metrics.clone(),
            events,
            leading,
            clock: Clock::system(),
            sample_timeout: opts.sample_timeout,
            dry_run: opts.dry_run,
            credentials: Some(credentials.clone()),
            statuses,
            shards,
        });
        let job_loops = JobLoops::new(JobContext {
            client: client.as_ref().map(|c| {
                crate::kube::JobClient::new(c.clone(), fence.clone())
                    .with_namespaces(opts.watch_namespaces.clone())
            }),
            status: ctx.status.clone(),
            events: ctx.events.clone(),
            metrics: ctx.metrics.clone(),
            leading: ctx.leading.clone(),
            clock: Clock::system(),
            sample_timeout: opts.sample_timeout,
            dry_run: opts.dry_run,
            credentials: Some(credentials.clone()),
        });
        Ok(App {
            admin: AdminState {
                status,
                metrics,
                ready: ready_rx,
            },
            opts,
            registry,
            ctx,
            targets,
            listener,
            ready,
            leading: leading_tx,
            elector,
            shard_elector,
            client,
            initial,
            jobs: (job_loops, initial_jobs),
            credentials,
            source,
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

    /// Runs until `shutdown` completes, then stops the loops within the drain timeout:
    /// [`App::start`], [`Started::follow`], [`Started::drain`].
    ///
    /// # Errors
    /// When the admin server fails.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let mut started = self.start().await;
        started.follow(shutdown).await;
        started.drain().await
    }

    /// Starts the election, the admin server and one loop per object, and reports ready once
    /// the cluster answers (at once without one, or in a dry run).
    pub async fn start(self) -> Started {
        let App {
            opts,
            registry,
            ctx,
            targets,
            listener,
            admin,
            ready,
            leading,
            elector,
            shard_elector,
            client,
            initial,
            jobs: (jobs, initial_jobs),
            credentials,
            source,
        } = self;
        let (elector_stop, mut elector_stop_rx) = watch::channel(false);
        let mut leading_rx = leading.subscribe();
        let stopped = async move {
            let _ = elector_stop_rx.changed().await;
        };
        let elector_task = match (elector, shard_elector) {
            (Some(e), _) => Some(tokio::spawn(e.run(leading, stopped))),
            (None, Some(s)) => {
                crate::daemon::sharding::publish(s.view(), ctx.metrics.clone());
                Some(tokio::spawn(s.run(stopped)))
            }
            (None, None) => None,
        };
        {
            let (status, metrics) = (ctx.status.clone(), ctx.metrics.clone());
            tokio::spawn(async move {
                while leading_rx.changed().await.is_ok() {
                    let now = *leading_rx.borrow();
                    info!(leading = now, "leadership changed");
                    status.set_leader(now);
                    metrics.leader.set(i64::from(now));
                }
            });
        }
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
        jobs.apply(initial_jobs).await;
        let cluster_jobs = match (&source, &client) {
            (Source::Cluster(_), Some(c)) => Some(crate::daemon::cluster_jobs::spawn(
                c.clone(),
                &opts.watch_namespaces,
                registry.clone(),
                opts.namespace.clone(),
                jobs.clone(),
                ctx.events.clone(),
                credentials.clone(),
            )),
            _ => None,
        };
        match (&client, opts.dry_run) {
            (Some(c), false) => {
                let (c, ready) = (c.clone(), ready.clone());
                tokio::spawn(async move {
                    loop {
                        let answered =
                            tokio::time::timeout(Duration::from_secs(3), c.apiserver_version())
                                .await
                                .is_ok_and(|r| r.is_ok());
                        if answered {
                            let _ = ready.send(true);
                            return;
                        }
                        warn!("the Kubernetes API does not answer yet");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                });
            }
            _ => {
                let _ = ready.send(true);
            }
        }
        let scaled_jobs = jobs.len().await;
        info!(
            objects = running.len(),
            scaled_jobs,
            dry_run = opts.dry_run,
            "scalerd running"
        );
        Started {
            opts,
            registry,
            ctx,
            targets,
            ready,
            credentials,
            source,
            running,
            jobs,
            cluster_jobs,
            elector_stop,
            elector_task,
            server_stop,
            server,
        }
    }
}

impl Started {
    /// Applies the changes of the object source (a reloaded config) until `shutdown`
    /// completes; a rejected config is logged and shown, and the previous one keeps running.
    pub async fn follow(&mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match &mut self.source {
                Source::File(file) => {
                    tokio::select! {
                        () = &mut shutdown => return,
                        _ = file.changed() => {}
                    }
                    self.reload().await;
                }
                Source::Cluster(cluster) => {
                    let changes = tokio::select! {
                        () = &mut shutdown => return,
                        changes = cluster.next() => changes,
                    };
                    for change in changes {
                        self.apply_change(change).await;
                    }
                }
            }
        }
    }

    /// Reads the config file again and applies it, or rejects it.
    async fn reload(&mut self) {
        let Source::File(file) = &mut self.source else {
            return;
        };
        let ctx = &self.ctx;
        match file.load(&self.registry).await {
            Ok(loaded) => {
                self.credentials
                    .set_config(loaded.config, loaded.fingerprints);
                apply(
                    ctx,
                    self.targets.as_ref(),
                    &mut self.running,
                    loaded.objects,
                )
                .await;
                self.jobs.apply(loaded.jobs).await;
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

    /// Applies one change of the cluster: a new or changed object starts or reconfigures its
    /// loop; an invalid one is reported on itself alone (its loop, if it had one, keeps the
    /// last valid version); a deleted one stops.
    async fn apply_change(&mut self, change: ClusterChange) {
        let ctx = &self.ctx;
        match change {
            ClusterChange::Apply {
                object,
                resource,
                config,
                fingerprints,
                env,
            } => {
                let key = object.object.key();
                if let Some(statuses) = &ctx.statuses {
                    statuses.found(&key, &resource.data["status"]);
                }
                self.credentials.merge(*config, fingerprints, env);
                // An edited `scaleTargetRef`: the old target is released as on deletion.
                let moved = self
                    .running
                    .get(&key)
                    .filter(|r| r.target_ref != object.object.scale_target_ref)
                    .map(|r| r.target_ref.clone());
                if let (Some(old), Some(statuses)) = (moved, &ctx.statuses) {
                    if let Some(r) = self.running.remove(&key) {
                        info!(scaled_object = %key, "target changed: releasing the old one");
                        r.handle.stop().await;
                    }
                    let mut previous = object_of(&resource);
                    previous.scale_target_ref = old;
                    if ctx.shards.as_ref().is_none_or(|s| s.holds(&key)) {
                        self.restore_original(&key, &resource, &previous, statuses)
                            .await;
                    }
                    statuses.retarget(&key);
                }
                upsert(ctx, self.targets.as_ref(), &mut self.running, *object).await;
            }
            ClusterChange::Invalid {
                key,
                resource,
                message,
            } => {
                warn!(scaled_object = %key, error = %message, "invalid ScaledObject: not scaled");
                if let Some(statuses) = &ctx.statuses {
                    statuses.found(&key, &resource.data["status"]);
                    statuses.report(&key, invalid_report(&resource, &message));
                }
                ctx.events.emit(
                    &object_of(&resource),
                    &crate::daemon::events::Event::CheckFailed { message },
                );
            }
            ClusterChange::Remove {
                key,
                resource,
                deleting,
            } => {
                if let Some(r) = self.running.remove(&key) {
                    info!(scaled_object = %key, "deleted: stopping");
                    r.handle.stop().await;
                }
                // Sharded, the owner of the object's shard finalizes it (the others' writes
                // would be refused by its fence).
                let owned = ctx.shards.as_ref().is_none_or(|s| s.holds(&key));
                if deleting
                    && owned
                    && let Some(statuses) = &ctx.statuses
                {
                    self.finalize(&key, &resource, statuses).await;
                }
                ctx.status.remove(&key);
                if let Some(statuses) = &ctx.statuses {
                    statuses.forget(&key);
                }
                self.credentials.remove(&key);
            }
        }
    }

    /// The end of a deleted ScaledObject: its target is released
    /// ([`Started::restore_original`]); then scalerd's finalizer comes off.
    async fn finalize(
        &self,
        key: &str,
        resource: &kube::api::DynamicObject,
        statuses: &StatusWriter,
    ) {
        self.restore_original(key, resource, &object_of(resource), statuses)
            .await;
        if let Err(e) = statuses.release(resource).await {
            warn!(scaled_object = %key, error = %e, "cannot remove the finalizer");
        }
    }

    /// Releases the target of `object` (deleted, or no longer its target since
    /// `scaleTargetRef` was edited): with `advanced.restoreToOriginalReplicaCount` in
    /// `resource`'s spec it goes back to `originalReplicaCount` (as written or served, the
    /// count it had when the object took it); without it, it keeps its count.
    async fn restore_original(
        &self,
        key: &str,
        resource: &kube::api::DynamicObject,
        object: &ScaledObject,
        statuses: &StatusWriter,
    ) {
        let restore = resource.data["spec"]["advanced"]["restoreToOriginalReplicaCount"]
            .as_bool()
            .unwrap_or(false);
        let original = statuses.original_replicas(key);
        let (true, Some(n)) = (restore, original) else {
            return;
        };
        let t = &object.scale_target_ref;
        match self.targets.target(object).set_replicas(n).await {
            Ok(()) => {
                info!(scaled_object = %key, target = %format!("{}/{}", t.kind, t.name), to = n, "released: original replica count restored")
            }
            Err(e) => {
                warn!(scaled_object = %key, error = %e, "released: cannot restore the original replica count")
            }
        }
    }

    /// Stops the loops (within the drain timeout), releases the lease and stops the admin
    /// server.
    ///
    /// # Errors
    /// When the admin server failed.
    pub async fn drain(self) -> Result<()> {
        info!("shutting down");
        let _ = self.ready.send(false);
        for r in self.running.values() {
            r.handle.signal_stop();
        }
        let running = self.running;
        let jobs = self.jobs;
        if let Some((stop, task)) = self.cluster_jobs {
            let _ = stop.send(true);
            let _ = task.await;
        }
        let drain = async {
            for (_, r) in running {
                r.handle.join().await;
            }
            jobs.stop().await;
        };
        if tokio::time::timeout(self.opts.drain_timeout, drain)
            .await
            .is_err()
        {
            warn!(
                timeout_ms = self.opts.drain_timeout.as_millis(),
                "loops did not stop in time"
            );
        }
        let _ = self.elector_stop.send(true);
        if let Some(task) = self.elector_task
            && tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
        {
            warn!("the leader lease was not released in time");
        }
        let _ = self.server_stop.send(true);
        match self.server.await {
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
    for (_, object) in wanted {
        upsert(ctx, targets, running, object).await;
    }
}

/// Starts the loop of `object`, or hands a running one its new version (restarting it when
/// its target changed).
async fn upsert(
    ctx: &Arc<RunContext>,
    targets: &dyn Targets,
    running: &mut BTreeMap<String, Running>,
    object: ValidatedObject,
) {
    let key = object.object.key();
    if let Some(r) = running.get(&key) {
        if r.target_ref == object.object.scale_target_ref {
            r.handle.reconfigure(object);
            return;
        }
        if let Some(r) = running.remove(&key) {
            info!(scaled_object = %key, "target changed: restarting");
            r.handle.stop().await;
        }
    }
    let target = targets.target(&object.object);
    let target_ref = object.object.scale_target_ref.clone();
    match spawn(ctx.clone(), object, target) {
        Ok(handle) => {
            running.insert(key, Running { handle, target_ref });
        }
        Err(e) => error!(scaled_object = %key, error = %e, "cannot start"),
    }
}

/// The target of a ScaledObject as the API serves it (KEDA's defaults for `apiVersion` and
/// `kind`), for reports about an object that could not be read as a whole.
fn object_of(resource: &kube::api::DynamicObject) -> ScaledObject {
    let t = &resource.data["spec"]["scaleTargetRef"];
    let mut o = ScaledObject::new(
        resource.metadata.name.clone().unwrap_or_default(),
        t["name"].as_str().unwrap_or_default(),
    );
    o.namespace = resource.metadata.namespace.clone().unwrap_or_default();
    if let Some(v) = t["apiVersion"].as_str() {
        v.clone_into(&mut o.scale_target_ref.api_version);
    }
    if let Some(k) = t["kind"].as_str() {
        k.clone_into(&mut o.scale_target_ref.kind);
    }
    o
}

/// The status of an invalid object: Ready=False with what `scalerd check` prints.
fn invalid_report(resource: &kube::api::DynamicObject, message: &str) -> ObjectReport {
    let o = object_of(resource);
    let t = o.scale_target_ref;
    ObjectReport {
        ready: Condition::check_failed(message),
        active: None,
        fallback: false,
        paused: false,
        paused_replicas: None,
        last_active_ms: resource.data["status"]["lastActiveTime"]
            .as_str()
            .and_then(crate::kube::parse_time_ms),
        original_replicas: resource.data["status"]["originalReplicaCount"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok()),
        health: BTreeMap::new(),
        target: (t.api_version, t.kind, None),
    }
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
