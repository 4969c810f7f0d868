//! `type: external-push` against a real gRPC external scaler: a pushed `true` wakes the loop at
//! once, the stream reconnects after the scaler restarts, and closes with the trigger.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{FakeScaler, build, value};
use scalers_core::trigger::Waker;
use scalers_testkit::eventually;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A waker that counts its calls and notifies.
#[derive(Clone, Default)]
struct Wakes {
    count: Arc<AtomicUsize>,
    notify: Arc<Notify>,
}

impl Wakes {
    fn waker(&self) -> Waker {
        let this = self.clone();
        Waker::new(move || {
            this.count.fetch_add(1, Ordering::SeqCst);
            this.notify.notify_one();
        })
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits for the next wake, at most `limit`; returns how long it took.
    async fn next(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        tokio::time::timeout(limit, self.notify.notified())
            .await
            .unwrap_or_else(|_| panic!("no wake within {limit:?}"));
        started.elapsed()
    }
}

async fn one_open_stream(scaler: &FakeScaler) {
    eventually(Duration::from_secs(10), || async {
        let open = scaler.open_streams();
        (open == 1).then_some(()).ok_or(open)
    })
    .await;
}

#[tokio::test]
async fn a_pushed_true_wakes_the_loop_at_once_and_activates_the_next_sample() {
    let scaler = FakeScaler::start().await;
    scaler.set_values(vec![value(5, 0.0)]);
    let built = build(
        "external-push",
        &[("scalerAddress", &scaler.address()), ("queue", "q")],
    )
    .unwrap();
    let wakes = Wakes::default();
    built.trigger.set_waker(wakes.waker());
    one_open_stream(&scaler).await;
    // the stream carries the object and its metadata too
    let stream_call = scaler
        .calls()
        .into_iter()
        .find(|c| c.method == "StreamIsActive")
        .unwrap();
    assert_eq!(stream_call.object.name, "worker");
    assert_eq!(stream_call.object.scaler_metadata["queue"], "q");

    // IsActive says false; the pushed true still activates the sample that follows, once
    assert_eq!(scaler.push(true), 1);
    let took = wakes.next(Duration::from_secs(2)).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(wakes.count(), 1);
    let sample = built.trigger.sample().await.unwrap();
    assert_eq!((sample.value, sample.active), (0.5, true));
    assert!(!built.trigger.sample().await.unwrap().active);

    // `false` asks for nothing: the next wake is the next `true`'s
    assert_eq!(scaler.push(false), 1);
    assert_eq!(scaler.push(true), 1);
    wakes.next(Duration::from_secs(2)).await;
    assert_eq!(wakes.count(), 2);
}

#[tokio::test]
async fn the_stream_starts_at_the_first_sample_when_the_waker_came_outside_a_runtime() {
    let scaler = FakeScaler::start().await;
    let address = scaler.address();
    let wakes = Wakes::default();
    // set_waker on a thread without a tokio runtime cannot start the stream
    let built = std::thread::spawn({
        let wakes = wakes.clone();
        move || {
            let built = build("external-push", &[("scalerAddress", &address)]).unwrap();
            built.trigger.set_waker(wakes.waker());
            built
        }
    })
    .join()
    .unwrap();
    assert_eq!(scaler.stream_opens(), 0);
    built.trigger.sample().await.unwrap();
    one_open_stream(&scaler).await;
    scaler.push(true);
    wakes.next(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn the_stream_reconnects_after_the_scaler_restarts_on_the_same_port() {
    let scaler = FakeScaler::start().await;
    let built = build("external-push", &[("scalerAddress", &scaler.address())]).unwrap();
    let wakes = Wakes::default();
    built.trigger.set_waker(wakes.waker());
    one_open_stream(&scaler).await;

    // a crash: listener gone, connections cut; then the scaler is back on the same port
    let scaler = scaler.restart().await;
    one_open_stream(&scaler).await;
    assert_eq!(scaler.push(true), 1);
    wakes.next(Duration::from_secs(2)).await;

    // a stream the scaler ends cleanly is reopened too
    scaler.close_streams();
    eventually(Duration::from_secs(10), || async {
        let opens = scaler.stream_opens();
        (opens == 3 && scaler.open_streams() == 1)
            .then_some(())
            .ok_or(opens)
    })
    .await;
    scaler.push(true);
    wakes.next(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn the_stream_closes_when_the_trigger_is_dropped() {
    let scaler = FakeScaler::start().await;
    let built = build("external-push", &[("scalerAddress", &scaler.address())]).unwrap();
    built.trigger.set_waker(Wakes::default().waker());
    one_open_stream(&scaler).await;
    drop(built);
    eventually(Duration::from_secs(10), || async {
        let open = scaler.open_streams();
        (open == 0).then_some(()).ok_or(open)
    })
    .await;
    assert_eq!(scaler.stream_opens(), 1);
}

#[tokio::test]
async fn pull_triggers_open_no_stream() {
    let scaler = FakeScaler::start().await;
    let built = build("external", &[("scalerAddress", &scaler.address())]).unwrap();
    built.trigger.set_waker(Wakes::default().waker());
    built.trigger.sample().await.unwrap();
    assert_eq!(scaler.stream_opens(), 0);
    assert_eq!(
        scaler.methods(),
        ["GetMetricSpec", "GetMetrics", "IsActive"]
    );
}
