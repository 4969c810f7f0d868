//! The object loops of `scalerd run` on tokio's paused clock: ticks at the polling interval, a
//! silent source ends at the sample timeout without scaling, standbys do not sample, a tick that
//! outlives leadership is abandoned without writing, and a reload keeps the engine's memory.
//! Paused time makes these exact and instant; the same behaviours are tested in real time
//! against real sources in `faults.rs`, `safety.rs` and `run_dry.rs`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use scalerd::daemon::events::LogSink;
use scalerd::daemon::metrics::Metrics;
use scalerd::daemon::runner::{Clock, RunContext, spawn};
use scalerd::daemon::status::{LoopState, StatusStore};
use scalerd::kube::{Priority, RateLimit, RateLimitSettings};
use scalers_core::config::ValidatedObject;
use scalers_core::config::model::{MetricType, ScaledObject, TriggerSpec};
use scalers_core::engine::Replicas;
use scalers_core::target::{MemoryTarget, ScaleTarget, TargetError};
use scalers_core::trigger::{BuiltTrigger, MetricTarget, Sample, Trigger, TriggerError};
use tokio::sync::watch;

/// A queue whose length the test sets; it counts its samples and can be made to hang.
#[derive(Default)]
struct Queue {
    length: Mutex<f64>,
    samples: AtomicU32,
    hang: Mutex<Option<Duration>>,
}

#[async_trait]
impl Trigger for Queue {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: 10.0,
            metric_type: MetricType::AverageValue,
            activation_threshold: 0.0,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        self.samples.fetch_add(1, Ordering::SeqCst);
        let hang = *self.hang.lock().unwrap();
        if let Some(d) = hang {
            tokio::time::sleep(d).await;
        }
        Ok(Sample::new(*self.length.lock().unwrap(), 0.0))
    }
}

fn object(polling: u32) -> ScaledObject {
    let mut o = ScaledObject::new("worker", "worker");
    o.namespace = "shop".into();
    o.polling_interval = polling;
    o.min_replica_count = 1;
    o.max_replica_count = 50;
    o.triggers.push(TriggerSpec::new("queue"));
    o
}

fn validated(o: ScaledObject, queue: &Arc<Queue>) -> ValidatedObject {
    ValidatedObject {
        object: o,
        triggers: vec![BuiltTrigger {
            name: "queue".into(),
            trigger_type: "queue".into(),
            trigger: queue.clone(),
        }],
        warnings: Vec::new(),
    }
}

struct Setup {
    ctx: Arc<RunContext>,
    leading: watch::Sender<bool>,
}

fn setup(sample_timeout: Duration) -> Setup {
    let (leading, leading_rx) = watch::channel(true);
    let ctx = Arc::new(RunContext {
        status: Arc::new(StatusStore::new("test".into(), false)),
        metrics: Arc::new(Metrics::new()),
        events: Arc::new(LogSink),
        leading: leading_rx,
        clock: Clock::system(),
        sample_timeout,
        dry_run: false,
        credentials: None,
        statuses: None,
        shards: None,
    });
    Setup { ctx, leading }
}

#[tokio::test(start_paused = true)]
async fn a_loop_ticks_once_per_polling_interval() {
    let s = setup(Duration::from_secs(10));
    let queue = Arc::new(Queue::default());
    *queue.length.lock().unwrap() = 35.0;
    let target = Arc::new(MemoryTarget::new(1));
    let handle = spawn(s.ctx.clone(), validated(object(2), &queue), target.clone()).unwrap();
    // The first tick comes within the first second, then one every 2 s.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(queue.samples.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let n = queue.samples.load(Ordering::SeqCst);
    assert!(
        (10..=11).contains(&n),
        "{n} samples in 21 s at a 2 s interval"
    );
    // ceil(35 / 10) = 4, at most max(2 × 1, 4) on the first scale-up: written once.
    assert_eq!(target.writes(), [4]);
    let status = s.ctx.status.object("shop/worker").unwrap();
    assert_eq!(status.state, LoopState::Running);
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_source_ends_at_the_sample_timeout_and_nothing_is_written() {
    let s = setup(Duration::from_millis(700));
    let queue = Arc::new(Queue::default());
    *queue.length.lock().unwrap() = 80.0;
    *queue.hang.lock().unwrap() = Some(Duration::from_secs(3600));
    let target = Arc::new(MemoryTarget::new(2));
    let handle = spawn(s.ctx.clone(), validated(object(1), &queue), target.clone()).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = s.ctx.status.object("shop/worker").unwrap();
    let trigger = &status.triggers[0];
    assert_eq!(trigger.error_kind.as_deref(), Some("timeout"));
    assert_eq!(trigger.error.as_deref(), Some("no answer within 700 ms"));
    assert!(
        (700.0..701.0).contains(&trigger.latency_ms),
        "{}",
        trigger.latency_ms
    );
    assert!(target.writes().is_empty(), "a failing source never scales");
    // One sample per tick, each ended by the timeout: about five ticks in 5 s.
    let n = queue.samples.load(Ordering::SeqCst);
    assert!((4..=6).contains(&n), "{n}");
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_standby_samples_nothing_and_a_tick_that_outlives_leadership_is_abandoned() {
    let s = setup(Duration::from_secs(10));
    s.leading.send_replace(false);
    let queue = Arc::new(Queue::default());
    *queue.length.lock().unwrap() = 80.0;
    let target = Arc::new(MemoryTarget::new(2));
    let handle = spawn(s.ctx.clone(), validated(object(1), &queue), target.clone()).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(queue.samples.load(Ordering::SeqCst), 0);
    assert_eq!(
        s.ctx.status.object("shop/worker").unwrap().state,
        LoopState::Standby
    );

    // Leading, with a source that hangs: the first tick comes within half a second of the
    // gain and lasts the 1 s sample timeout; leadership is lost 0.9 s after the gain, inside it.
    *queue.hang.lock().unwrap() = Some(Duration::from_secs(5));
    s.leading.send_replace(true);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(queue.samples.load(Ordering::SeqCst), 1);
    s.leading.send_replace(false);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        target.writes().is_empty(),
        "an abandoned tick writes nothing"
    );
    let text = s.ctx.metrics.encode();
    assert!(text.contains("scalers_ticks_abandoned_total 1"), "{text}");
    assert_eq!(
        s.ctx.status.object("shop/worker").unwrap().state,
        LoopState::Standby
    );
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_the_engines_memory() {
    let s = setup(Duration::from_secs(10));
    let queue = Arc::new(Queue::default());
    *queue.length.lock().unwrap() = 80.0;
    let target = Arc::new(MemoryTarget::new(8));
    let mut o = object(1);
    o.min_replica_count = 1;
    let handle = spawn(s.ctx.clone(), validated(o.clone(), &queue), target.clone()).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(target.writes().is_empty(), "8 is what 80 needs");
    // The load drops; the legacy scale-down window (300 s) holds 8. A reload (a new maximum)
    // in the middle must not reset that window.
    *queue.length.lock().unwrap() = 10.0;
    tokio::time::sleep(Duration::from_secs(100)).await;
    o.max_replica_count = 40;
    handle.reconfigure(validated(o, &queue));
    tokio::time::sleep(Duration::from_secs(150)).await;
    assert!(
        target.writes().is_empty(),
        "scaled down {:?} within the window",
        target.writes()
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(target.writes(), [1]);
    handle.stop().await;
}

/// A target whose writes wait for a token of `limit` first, as the cluster's targets do.
struct Throttled {
    inner: MemoryTarget,
    limit: RateLimit,
    asked: AtomicU32,
}

#[async_trait]
impl ScaleTarget for Throttled {
    async fn replicas(&self) -> Result<Replicas, TargetError> {
        self.inner.replicas().await
    }

    async fn set_replicas(&self, replicas: u32) -> Result<(), TargetError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.limit
            .paid(Priority::Scale, self.inner.set_replicas(replicas))
            .await
    }
}

/// A stop does not wait for a tick whose write waits for its token (a burst of writes ahead
/// of it may take minutes); nothing of that write is sent.
#[tokio::test(start_paused = true)]
async fn a_stop_does_not_wait_for_a_write_waiting_for_its_token() {
    let s = setup(Duration::from_secs(10));
    let queue = Arc::new(Queue::default());
    *queue.length.lock().unwrap() = 35.0;
    // One token an hour, and the only one taken: the write waits an hour.
    let limit = RateLimit::spawn(
        RateLimitSettings {
            qps: 1.0 / 3600.0,
            burst: 1,
        },
        Metrics::new().rate_limit(),
    );
    limit.acquire(Priority::Read).await;
    let target = Arc::new(Throttled {
        inner: MemoryTarget::new(1),
        limit,
        asked: AtomicU32::new(0),
    });
    let handle = spawn(s.ctx.clone(), validated(object(1), &queue), target.clone()).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(target.asked.load(Ordering::SeqCst), 1, "the write waits");
    let asked_stop = tokio::time::Instant::now();
    handle.stop().await;
    let took = asked_stop.elapsed();
    assert!(took < Duration::from_secs(1), "the stop took {took:?}");
    assert!(target.inner.writes().is_empty(), "nothing was written");
}
