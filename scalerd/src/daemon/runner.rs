//! One task per scaled object: on its `pollingInterval` (or when woken), sample every trigger
//! concurrently with a timeout, let the [`ScaleLoop`] decide and write, then publish the
//! outcome to the status, the metrics, the log and the event sink.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use scalers_core::config::ValidatedObject;
use scalers_core::engine::{Decision, Phase, Reason};
use scalers_core::scale_loop::{ScaleLoop, TickOutcome, TickReport};
use scalers_core::target::{ScaleTarget, TargetError, TargetErrorKind};
use scalers_core::trigger::{Sample, TriggerError, TriggerErrorKind};
use scalers_core::{ConfigErrors, Timestamp};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

use crate::daemon::events::{Event, EventSink};
use crate::daemon::metrics::{
    Metrics, ObjectSeries, OwnerLabels, TargetErrorLabels, TriggerErrorLabels,
};
use crate::daemon::rotation::{Credentials, Rotation, Scaled};
use crate::daemon::status::{LoopState, StatusStore, StatusWriter};

/// The engine's clock: wall-clock milliseconds at start plus tokio's monotonic time since, so
/// that it never jumps back and pauses with tokio's test clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_ms: u64,
    start: Instant,
}

impl Clock {
    /// A clock starting at the current wall-clock time.
    pub fn system() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock {
            base_ms,
            start: Instant::now(),
        }
    }

    /// Now, for the engine.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.wall_ms())
    }

    /// Now, in unix milliseconds.
    pub fn wall_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.base_ms.saturating_add(elapsed)
    }
}

/// What every object's loop shares.
pub struct RunContext {
    /// Where status goes.
    pub status: Arc<StatusStore>,
    /// Where metrics go.
    pub metrics: Arc<Metrics>,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// Whether this instance may write (leader election); loops idle while false.
    pub leading: watch::Receiver<bool>,
    /// The clock.
    pub clock: Clock,
    /// Longest time a trigger sample may take (also capped at the polling interval).
    pub sample_timeout: Duration,
    /// Whether writes are only logged.
    pub dry_run: bool,
    /// Re-reads credentials and rebuilds triggers (rotated passwords); none: never.
    pub credentials: Option<Arc<dyn Credentials>>,
    /// Where objects from the cluster keep their status (KEDA's `status`, and the state a
    /// restart must not forget); none for objects from a file.
    pub statuses: Option<crate::kube::StatusWriter>,
    /// With sharding (`--sharding`): which shards this replica holds. A loop then ticks only
    /// while its object's shard is held ([`crate::kube::ShardView::owned`]), instead of
    /// following `leading`.
    pub shards: Option<Arc<crate::kube::ShardView>>,
}

/// Over how long the first ticks of loops that gain their objects together (a shard taken
/// over, a leader elected) are spread: short, since it adds to the takeover time, yet long
/// enough that a thousand loops do not sample and write in the same millisecond.
const GAIN_SPREAD: Duration = Duration::from_millis(500);

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("sample_timeout", &self.sample_timeout)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// What other tasks hand an object's loop: wake-ups, a reload's new version of the object and
/// the stop request. One small allocation per loop: a channel each would cost ~0.8 KiB per loop
/// (tokio's unbounded channel allocates a block of 32 slots up front), for messages sent once
/// per reload.
#[derive(Debug, Default)]
struct Inbox {
    /// Rung when mail is posted or a tick is asked for: one `Notify` for both, since every
    /// idle loop's task holds a waiter for each it listens to (64 bytes apiece).
    bell: Notify,
    /// Tick now (push triggers).
    woken: AtomicBool,
    mail_box: Mutex<Mail>,
}

#[derive(Debug, Default)]
struct Mail {
    /// The latest version of the object not yet taken (an earlier one is replaced).
    object: Option<Box<ValidatedObject>>,
    stop: bool,
}

impl Inbox {
    fn post(&self, f: impl FnOnce(&mut Mail)) {
        f(&mut self.mail_box.lock().unwrap_or_else(PoisonError::into_inner));
        self.bell.notify_one();
    }

    /// Asks for a tick now.
    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.bell.notify_one();
    }

    fn take(&self) -> Mail {
        std::mem::take(&mut self.mail_box.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A running object loop.
#[derive(Debug)]
pub struct ObjectHandle {
    key: String,
    inbox: StopOnDrop,
    task: JoinHandle<()>,
}

/// The handle's inbox, which stops the loop when the handle is dropped: a loop never outlives
/// its handle.
#[derive(Debug)]
struct StopOnDrop(Arc<Inbox>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.post(|m| m.stop = true);
    }
}

impl std::ops::Deref for StopOnDrop {
    type Target = Inbox;

    fn deref(&self) -> &Inbox {
        &self.0
    }
}

impl ObjectHandle {
    /// `namespace/name` of the object.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Hands the loop a new version of its object (a reload); its state is kept.
    pub fn reconfigure(&self, object: ValidatedObject) {
        // Taken at the loop's next turn; a loop that already stopped never reads it.
        self.inbox.post(|m| m.object = Some(Box::new(object)));
    }

    /// Makes the loop tick now instead of at its next scheduled time (push triggers).
    pub fn wake(&self) {
        self.inbox.wake();
    }

    /// A waker other tasks can use to make the loop tick now.
    pub fn waker(&self) -> scalers_core::trigger::Waker {
        waker_of(&self.inbox.0)
    }

    /// Asks the loop to stop after its current tick (at once when the tick's write waits for
    /// its token of the rate limit: nothing of it was sent) and waits for it.
    pub async fn stop(self) {
        self.signal_stop();
        let _ = self.task.await;
    }

    /// Asks the loop to stop without waiting.
    pub fn signal_stop(&self) {
        self.inbox.post(|m| m.stop = true);
    }

    /// Waits for the loop to end.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Starts the loop of `object`, writing to `target`.
///
/// # Errors
/// The object's formula does not parse.
pub fn spawn(
    ctx: Arc<RunContext>,
    object: ValidatedObject,
    target: Arc<dyn ScaleTarget>,
) -> Result<ObjectHandle, ConfigErrors> {
    let key = object.object.key();
    let mut scale_loop = ScaleLoop::new(object.object, object.triggers, target, ctx.clock.now())?;
    start_over(&ctx, &key, &mut scale_loop);
    let t = &scale_loop.object().scale_target_ref;
    let target_name = format!("{}/{}", t.kind, t.name);
    let status = ctx.status.writer(&key);
    status.update(|s| s.target = target_name);
    let inbox = Arc::new(Inbox::default());
    set_wakers(&scale_loop, &inbox);
    warn_unsafe_ssl(&scale_loop);
    let span = info_span!(
        "scaled_object",
        namespace = %scale_loop.object().namespace,
        name = %scale_loop.object().name
    );
    // The scale loop is boxed: an async fn's arguments are stored in its future both as
    // arguments and as locals, which doubled the idle task's size (2.9 KiB → 0.7 KiB + 0.9 KiB).
    let fut = run(ctx, Box::new(scale_loop), inbox.clone(), status).instrument(span);
    let task = tokio::spawn(fut);
    Ok(ObjectHandle {
        key,
        inbox: StopOnDrop(inbox),
        task,
    })
}

/// Warns, once per trigger at start, about triggers that skip TLS verification.
fn warn_unsafe_ssl(c: &ScaleLoop) {
    for (spec, t) in c.object().triggers.iter().zip(c.triggers()) {
        let unsafe_ssl = spec
            .metadata
            .get("unsafeSsl")
            .is_some_and(|v| scalers_core::trigger::parse_bool(v.trim()) == Some(true));
        if unsafe_ssl {
            warn!(
                scaled_object = %c.object().key(),
                trigger = %t.name,
                "unsafeSsl: this trigger does not verify its source's TLS certificate"
            );
        }
    }
}

/// Gives every trigger of `c` a waker that makes the loop tick now (push triggers).
fn set_wakers(c: &ScaleLoop, inbox: &Arc<Inbox>) {
    for t in c.triggers() {
        t.trigger.set_waker(waker_of(inbox));
    }
}

fn waker_of(inbox: &Arc<Inbox>) -> scalers_core::trigger::Waker {
    let inbox = inbox.clone();
    scalers_core::trigger::Waker::new(move || inbox.wake())
}

/// A stable offset in `[0, period)` for the loop of `key`.
fn spread_of(key: &str, period: Duration) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(h.finish() % period_ms)
}

fn period_of(c: &ScaleLoop) -> Duration {
    c.object().polling_period()
}

/// What the previous tick saw, to report transitions only once, and the object's series labels.
struct Seen {
    series: ObjectSeries,
    failing: BTreeSet<String>,
    /// When the credentials are read again, and the triggers that failed as `unauthorized`.
    rotation: Rotation,
    fallback: BTreeSet<String>,
    target_errors: u32,
    /// The reason code of the last decision, whose metric series is the object's current one.
    last_code: Option<&'static str>,
}

async fn run(
    ctx: Arc<RunContext>,
    mut scale_loop: Box<ScaleLoop>,
    inbox: Arc<Inbox>,
    status: StatusWriter,
) {
    let mut period = period_of(&scale_loop);
    // Ticks are offset by a fixed fraction of the period drawn from the object's name, so that
    // thousands of loops started together do not all tick in the same millisecond: the first
    // one within the first second (or period, if shorter), the later ones at their offset in
    // the period. Starting 10,000 loops with an immediate tick each put 10,000 samples in
    // flight at once, whose memory stayed in the allocator's arenas (~28 MiB of RSS).
    let born = Instant::now();
    let key = scale_loop.object().key();
    let mut next = born + spread_of(&key, period.min(Duration::from_secs(1)));
    let mut steady = Some(born + spread_of(&key, period));
    let mut seen = Seen {
        series: series_of(&ctx.metrics, &scale_loop),
        failing: BTreeSet::new(),
        rotation: Rotation::new(born),
        fallback: BTreeSet::new(),
        target_errors: 0,
        last_code: None,
    };
    // Sharded: the loop follows whether this replica holds its object's shard.
    let mut leading = match &ctx.shards {
        Some(shards) => shards.owned(&key),
        None => ctx.leading.clone(),
    };
    let mut leading_open = true;
    // Whether the loop was leading when it last looked: on a gain of leadership the engine
    // starts over ([`ScaleLoop::resume`]), since another replica may have scaled meanwhile.
    let mut was_leading = *leading.borrow_and_update();
    let mut owner = Owner::new(&ctx, &seen.series);
    if was_leading {
        owner.set(&ctx, true);
    }
    loop {
        let scheduled = tokio::select! {
            biased;
            () = inbox.bell.notified() => {
                let mail = inbox.take();
                if mail.stop {
                    break;
                }
                if let Some(object) = mail.object {
                    let object = *object;
                    match scale_loop.reconfigure(object.object, object.triggers) {
                        Ok(()) => {
                            // Built with the reload's credentials: compare with those next.
                            seen.rotation.reloaded();
                            set_wakers(&scale_loop, &inbox);
                            info!("config reloaded");
                        }
                        Err(e) => warn!(error = %e, "reload refused for this object"),
                    }
                    period = period_of(&scale_loop);
                    let series = series_of(&ctx.metrics, &scale_loop);
                    if series.triggers != seen.series.triggers {
                        seen.series.forget_triggers(&ctx.metrics);
                    }
                    seen.series = series;
                    let t = &scale_loop.object().scale_target_ref;
                    let name = format!("{}/{}", t.kind, t.name);
                    status.update(|s| s.target = name);
                }
                if !inbox.woken.swap(false, Ordering::AcqRel) {
                    continue;
                }
                // Asked to tick now: a scheduled tick if its time has come as well.
                Instant::now() >= next
            }
            () = tokio::time::sleep_until(next) => true,
            // A closed channel means leadership no longer changes: stop watching it.
            changed = leading.changed(), if leading_open => {
                if changed.is_err() {
                    leading_open = false;
                } else if !*leading.borrow_and_update() {
                    owner.set(&ctx, false);
                    if std::mem::replace(&mut was_leading, false) {
                        status.set_state(LoopState::Standby);
                    }
                } else if !was_leading {
                    // Gained (a takeover, a shard handed over): tick soon, spread over half
                    // a second so that a thousand loops gaining at once do not tick together
                    // (the takeover bound in docs/operations.md counts this half second).
                    owner.set(&ctx, true);
                    next = Instant::now() + spread_of(&key, period.min(GAIN_SPREAD));
                }
                continue;
            }
        };
        let started = Instant::now();
        if scheduled {
            let lateness = started.saturating_duration_since(next);
            ctx.metrics.loop_lateness.observe(lateness.as_secs_f64());
            next = steady.take().unwrap_or(next) + period;
            if next <= started {
                next = started + period;
            }
        }
        if !*leading.borrow() {
            status.set_state(LoopState::Standby);
            owner.set(&ctx, false);
            was_leading = false;
            continue;
        }
        if !std::mem::replace(&mut was_leading, true) {
            start_over(&ctx, &key, &mut scale_loop);
        }
        owner.set(&ctx, true);
        // Boxed, with the futures raced against it: the tick's state lives only while it runs,
        // instead of in every idle task (boxing the tick alone left the race in the task: 1,448
        // bytes instead of 984 per idle loop). A tick that outlives leadership is dropped where
        // it is (a read in flight is cancelled; writes are fenced by the lease as well).
        // A stop does not wait for a tick whose write waits for its token of the rate limit
        // (for as long as a burst of thousands of writes takes): nothing was sent yet, so the
        // tick is abandoned there. Mail that arrives meanwhile is taken after the tick.
        let took_mail = AtomicBool::new(false);
        let ticked = Box::pin(crate::kube::telling_token_waits(async {
            tokio::select! {
                biased;
                () = lost_leadership(&mut leading) => Ticked::LostLeadership,
                // (A dry run writes nothing: no token to wait for.)
                () = stop_while_waiting(&inbox, &took_mail), if !ctx.dry_run => Ticked::Stopped,
                backoff = tick(&ctx, &status, &mut scale_loop, &mut seen, period) => {
                    Ticked::Done(backoff)
                }
            }
        }))
        .await;
        if took_mail.load(Ordering::Relaxed) {
            inbox.bell.notify_one();
        }
        match ticked {
            Ticked::Stopped => {
                info!("stopped while a write waited for its token: tick abandoned");
                break;
            }
            Ticked::LostLeadership => {
                warn!("stopped leading during the tick: abandoned");
                ctx.metrics.ticks_abandoned.inc();
                status.set_state(LoopState::Standby);
                owner.set(&ctx, false);
                was_leading = false;
            }
            Ticked::Done(Some(extra)) => next = Instant::now() + extra,
            Ticked::Done(None) => {}
        }
        if matches!(ticked, Ticked::Done(_)) && ctx.credentials.is_some() && seen.rotation.wanted()
        {
            // Boxed, as the tick: its state lives only while credentials are read again.
            Box::pin(refresh_credentials(
                &ctx,
                &mut scale_loop,
                &inbox,
                &mut seen,
                period,
            ))
            .await;
        }
    }
    owner.set(&ctx, false);
    seen.series.forget(&ctx.metrics, seen.last_code);
    info!("stopped");
}

/// The object's `scalers_scaled_object_owner` series, present while this replica owns the
/// object (sharding only).
struct Owner {
    labels: Option<OwnerLabels>,
    shown: bool,
}

impl Owner {
    fn new(ctx: &RunContext, series: &ObjectSeries) -> Self {
        let labels = ctx.shards.as_ref().map(|s| OwnerLabels {
            namespace: series.object.namespace.clone(),
            scaled_object: series.object.scaled_object.clone(),
            owner: crate::daemon::metrics::label(s.identity()),
        });
        Owner {
            labels,
            shown: false,
        }
    }

    fn set(&mut self, ctx: &RunContext, owned: bool) {
        let Some(labels) = &self.labels else {
            return;
        };
        if owned && !self.shown {
            ctx.metrics.object_owner.get_or_create(labels).set(1);
        } else if !owned && self.shown {
            ctx.metrics.object_owner.remove(labels);
        }
        self.shown = owned;
    }
}

/// Makes the loop's next tick start as a process that does not know what happened meanwhile
/// (a start, a takeover): from the persisted `lastActiveTime` when the object has one (cluster
/// mode), else presuming a running target active ([`ScaleLoop::resume`]), so that a cooling
/// workload is never scaled in early.
fn start_over(ctx: &RunContext, key: &str, scale_loop: &mut ScaleLoop) {
    let persisted = ctx.statuses.as_ref().and_then(|s| s.last_active_ms(key));
    match persisted {
        Some(ms) => scale_loop.restore(Timestamp::from_millis(ms)),
        None => scale_loop.resume(),
    }
}

/// How a tick ended.
enum Ticked {
    /// It ran to its end, asking for this extra wait before the next one (a backoff).
    Done(Option<Duration>),
    /// This instance stopped leading meanwhile.
    LostLeadership,
    /// A stop was posted while its write waited for a token.
    Stopped,
}

/// How often a posted stop looks again whether the tick waits for a token.
const STOP_LOOK: Duration = Duration::from_millis(50);

/// Completes once a stop is posted to `inbox` and the tick waits for a token of the rate limit
/// ([`crate::kube::waiting_for_token`]); sets `took_mail` when it took the notification of
/// mail (a stop, or other mail), which the caller gives back when the tick ends otherwise.
async fn stop_while_waiting(inbox: &Inbox, took_mail: &AtomicBool) {
    loop {
        inbox.bell.notified().await;
        took_mail.store(true, Ordering::Relaxed);
        if inbox
            .mail_box
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop
        {
            break;
        }
    }
    while !crate::kube::waiting_for_token() {
        tokio::time::sleep(STOP_LOOK).await;
    }
}

/// Completes once this instance no longer leads (never, when leadership cannot change).
async fn lost_leadership(leading: &mut watch::Receiver<bool>) {
    if leading.wait_for(|l| !*l).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Replaces the loop's triggers whose credentials changed ([`Rotation::rebuilds`]).
async fn refresh_credentials(
    ctx: &RunContext,
    scale_loop: &mut ScaleLoop,
    inbox: &Arc<Inbox>,
    seen: &mut Seen,
    period: Duration,
) {
    let Some(credentials) = &ctx.credentials else {
        return;
    };
    let scaled = Scaled::Object(scale_loop.object());
    let rebuilt = seen
        .rotation
        .rebuilds(credentials.as_ref(), scaled, scale_loop.triggers(), period)
        .await;
    let mut replaced = false;
    for (i, t) in rebuilt {
        let name = t.name.clone();
        match scale_loop.replace_trigger(i, t) {
            Ok(()) => {
                info!(trigger = %name, "trigger rebuilt with credentials read again");
                ctx.metrics.trigger_rebuilds.inc();
                replaced = true;
            }
            Err(e) => warn!(trigger = %name, error = %e, "cannot rebuild the trigger"),
        }
    }
    if replaced {
        set_wakers(scale_loop, inbox);
    }
}

fn series_of(metrics: &Metrics, c: &ScaleLoop) -> ObjectSeries {
    let o = c.object();
    ObjectSeries::new(
        metrics,
        &o.namespace,
        &o.name,
        c.triggers()
            .iter()
            .map(|t| (t.name.as_str(), t.trigger_type.as_str())),
    )
}

/// Samples one trigger within `timeout`, returning the result and its latency in milliseconds.
pub(crate) async fn sample_one(
    trigger: &dyn scalers_core::trigger::Trigger,
    timeout: Duration,
) -> (Result<Sample, TriggerError>, f64) {
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, trigger.sample()).await {
        Ok(r) => r,
        Err(_) => Err(TriggerError::new(
            TriggerErrorKind::Timeout,
            format!("no answer within {} ms", timeout.as_millis()),
        )),
    };
    (result, started.elapsed().as_secs_f64() * 1000.0)
}

/// One tick; returns a delay before the next one when the target could not be read (backoff).
async fn tick(
    ctx: &RunContext,
    status: &StatusWriter,
    scale_loop: &mut ScaleLoop,
    seen: &mut Seen,
    period: Duration,
) -> Option<Duration> {
    let timeout = ctx
        .sample_timeout
        .min(period)
        .max(Duration::from_millis(100));
    let (results, latencies): (Vec<_>, Vec<_>) = match scale_loop.triggers() {
        // Most objects have one trigger: sampled without join_all's buffers.
        [one] => {
            let (result, latency) = sample_one(one.trigger.as_ref(), timeout).await;
            (vec![result], vec![latency])
        }
        all => join_all(all.iter().map(|t| sample_one(t.trigger.as_ref(), timeout)))
            .await
            .into_iter()
            .unzip(),
    };
    let report = scale_loop.tick_with(ctx.clock.now(), results).await;
    publish(ctx, status, scale_loop, &report, &latencies, seen);
    match &report.outcome {
        TickOutcome::TargetUnreadable(_) => {
            seen.target_errors = seen.target_errors.saturating_add(1);
            let factor = 1u32 << seen.target_errors.min(4);
            Some((period * factor).min(Duration::from_secs(300)))
        }
        TickOutcome::Decided { .. } => {
            seen.target_errors = 0;
            None
        }
    }
}

fn publish(
    ctx: &RunContext,
    status: &StatusWriter,
    scale_loop: &ScaleLoop,
    report: &TickReport,
    latencies: &[f64],
    seen: &mut Seen,
) {
    let object = scale_loop.object();
    let wall = ctx.clock.wall_ms();
    status.update(|s| s.record_tick(report, latencies, wall, ctx.dry_run));
    if let Some(statuses) = &ctx.statuses {
        let original = statuses
            .original_replicas(status.key())
            .or_else(|| report.decision().map(|d| d.current));
        let last_active = scale_loop.engine().last_active().map(Timestamp::as_millis);
        statuses.report(
            status.key(),
            object_report(scale_loop, report, original, last_active),
        );
    }

    let m = &ctx.metrics;
    let mut failing = BTreeSet::new();
    seen.rotation.unauthorized.clear();
    for (i, (t, latency)) in report.triggers.iter().zip(latencies).enumerate() {
        seen.series.sampled(m, i, latency / 1000.0);
        match &t.result {
            Ok(s) => seen.series.valued(m, i, s.value, s.active, s.no_data),
            Err(e) => {
                let Some(labels) = seen.series.triggers.get(i) else {
                    continue;
                };
                m.trigger_errors
                    .get_or_create(&TriggerErrorLabels {
                        namespace: labels.namespace.clone(),
                        scaled_object: labels.scaled_object.clone(),
                        trigger: labels.trigger.clone(),
                        kind: e.kind.as_str(),
                    })
                    .inc();
                failing.insert(t.name.clone());
                if e.kind == TriggerErrorKind::Unauthorized {
                    seen.rotation.unauthorized.insert(t.name.clone());
                }
                if !seen.failing.contains(&t.name) {
                    warn!(trigger = %t.name, kind = %e.kind, error = %e, "trigger failed");
                    let event = Event::TriggerFailed {
                        trigger: t.name.clone(),
                        message: e.message.clone(),
                    };
                    ctx.events.emit(object, &event);
                }
            }
        }
    }
    for recovered in seen.failing.difference(&failing) {
        info!(trigger = %recovered, "trigger recovered");
    }
    seen.failing = failing;

    match &report.outcome {
        TickOutcome::TargetUnreadable(e) => {
            count_target_error(m, &seen.series, e);
            warn!(kind = %e.kind, error = %e, "cannot read the target");
        }
        TickOutcome::Decided { decision, write } => {
            seen.series.decided(m, decision.current, decision.desired);
            let code = decision.reason.code();
            seen.series.last_decision(m, seen.last_code, code);
            seen.last_code = Some(code);
            publish_fallback(ctx, object, decision, seen);
            match write {
                None => {}
                Some(Ok(())) => {
                    info!(
                        from = decision.current,
                        to = decision.desired,
                        reason = %decision.reason,
                        dry_run = ctx.dry_run,
                        "scaled target"
                    );
                    if let Some(event) = scale_event(decision) {
                        ctx.events.emit(object, &event);
                    }
                }
                Some(Err(e)) if e.kind == TargetErrorKind::NotLeading => {
                    warn!(to = decision.desired, error = %e, "stopped leading before the write: tick abandoned");
                    m.ticks_abandoned.inc();
                }
                Some(Err(e)) => {
                    count_target_error(m, &seen.series, e);
                    warn!(to = decision.desired, kind = %e.kind, error = %e, "cannot scale the target");
                    let event = Event::RescaleFailed {
                        to: decision.desired,
                        message: e.message.clone(),
                    };
                    ctx.events.emit(object, &event);
                }
            }
        }
    }
}

/// What KEDA's status of the object says after `report`.
fn object_report(
    scale_loop: &ScaleLoop,
    report: &TickReport,
    original_replicas: Option<u32>,
    last_active_ms: Option<u64>,
) -> crate::kube::ObjectReport {
    use crate::kube::Condition;
    let o = scale_loop.object();
    let failing: Vec<&str> = report
        .triggers
        .iter()
        .filter(|t| t.result.is_err())
        .map(|t| t.name.as_str())
        .collect();
    let ready = match &report.outcome {
        TickOutcome::TargetUnreadable(e) => Condition::target_unreadable(e.to_string()),
        _ if !failing.is_empty() && failing.len() == report.triggers.len() => {
            Condition::trigger_error(format!("triggers failing: {}", failing.join(", ")))
        }
        _ if !failing.is_empty() => {
            Condition::partial_trigger_error(format!("triggers failing: {}", failing.join(", ")))
        }
        _ => Condition::ready(),
    };
    let decision = report.decision();
    let t = &o.scale_target_ref;
    let resource = match t.kind.as_str() {
        "Deployment" => Some("deployments"),
        "StatefulSet" => Some("statefulsets"),
        "ReplicaSet" => Some("replicasets"),
        "Rollout" => Some("rollouts"),
        _ => None,
    };
    crate::kube::ObjectReport {
        ready,
        active: decision.map(|d| d.active),
        fallback: decision.is_some_and(|d| d.fallback_metrics().next().is_some()),
        paused: o.is_paused(),
        paused_replicas: o.paused_replica_count,
        last_active_ms,
        original_replicas,
        health: decision
            .map(|d| {
                d.metrics
                    .iter()
                    .map(|m| (m.name.clone(), m.failures))
                    .collect()
            })
            .unwrap_or_default(),
        target: (
            t.api_version.clone(),
            t.kind.clone(),
            resource.map(str::to_owned),
        ),
    }
}

fn count_target_error(m: &Metrics, series: &ObjectSeries, e: &TargetError) {
    m.target_errors
        .get_or_create(&TargetErrorLabels {
            namespace: series.object.namespace.clone(),
            scaled_object: series.object.scaled_object.clone(),
            kind: e.kind.as_str(),
        })
        .inc();
}

fn publish_fallback(
    ctx: &RunContext,
    object: &scalers_core::config::model::ScaledObject,
    d: &Decision,
    seen: &mut Seen,
) {
    let now: BTreeSet<String> = d.fallback_metrics().map(str::to_owned).collect();
    for m in d.metrics.iter().filter(|m| m.fallback.is_some()) {
        if !seen.fallback.contains(&m.name) {
            let event = Event::FallbackActivated {
                metric: m.name.clone(),
                replicas: m.fallback.unwrap_or_default(),
            };
            warn!(metric = %m.name, "fallback activated");
            ctx.events.emit(object, &event);
        }
    }
    for gone in seen.fallback.difference(&now) {
        info!(metric = %gone, "fallback deactivated");
        let event = Event::FallbackDeactivated {
            metric: gone.clone(),
        };
        ctx.events.emit(object, &event);
    }
    seen.fallback = now;
}

/// The event for a successful write.
fn scale_event(d: &Decision) -> Option<Event> {
    match (&d.reason, d.phase) {
        (Reason::Activated { by }, _) => Some(Event::Activated {
            from: d.current,
            to: d.desired,
            by: by.clone(),
        }),
        (Reason::Deactivated, _) => Some(Event::Deactivated {
            from: d.current,
            to: d.desired,
        }),
        (_, Phase::Paused) => None,
        (reason, _) => Some(Event::Rescaled {
            from: d.current,
            to: d.desired,
            reason: reason.to_string(),
        }),
    }
}
