//! A client-side rate limit on the calls to the Kubernetes API: one token bucket per process
//! (`--kube-api-qps`, `--kube-api-burst`, KEDA's flag names), with the calls that matter most
//! served first when calls wait.
//!
//! The limit is a tower layer under the [`kube::Client`] ([`client_with_rate_limit`]), so no call
//! can go around it. A call waits for a token before it is sent; while calls wait, a token goes
//! to the waiting call of the highest [`Priority`]: `/scale` writes first, then lists and
//! watches (which fill the caches), then single reads, then reports (status writes, Events and
//! scalerd's finalizer on its ScaledObjects). Within a priority, first come, first served. A
//! call given up while it waits (its deadline passed) takes no token. Lease calls take none at
//! all: their rate is fixed by `--lease-timings`, and a leader that cannot renew in time stops
//! writing.
//!
//! A caller whose call has a deadline of its own that must not count the wait (a `/scale`
//! write, whose timeout the leader fence shortens to the time left before the renew deadline)
//! takes its token first with [`RateLimit::paid`]: the wait is then outside the call, and the
//! fence is asked when the token is there, not before the queue.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{Method, Request};
use kube::client::ClientBuilder;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tower::{BoxError, Layer, Service, ServiceExt};

use super::KubeError;
use crate::daemon::metrics::{HistogramFamily, PriorityLabels};

/// The default of `--kube-api-qps`: 50 calls per second. Chosen by measurement
/// (`bench/scale.sh --target kube`, bench/RESULTS.md): replica counts come from watches, so
/// 10,000 objects polling every second need under one request per second at steady state,
/// and what the limit holds back is bursts of writes, written at its rate (10,000 objects all
/// changing within 200 s at 50 per second; Lease renewals and `/scale` writes first, status
/// writes and Events last). KEDA's default is 20, for an operator that also serves metrics to
/// the HPA; 0 means no limit.
pub const DEFAULT_QPS: f64 = 50.0;
/// The default of `--kube-api-burst`: 100 calls at once after a quiet time, so that a scale
/// event of up to a hundred objects goes out at once.
pub const DEFAULT_BURST: u32 = 100;

/// How urgent a call is; a waiting call of a higher priority gets the next token first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Leader election and shards (`coordination.k8s.io` Leases): a leader that cannot renew
    /// in time stops writing. These calls take no token (see [`RateLimit::acquire`]).
    Lease,
    /// Writes of a workload's replicas (`PATCH`/`PUT` of `…/scale`).
    Scale,
    /// Lists and the opening of watches (a `GET` with `watch`, `limit`, `continue` or a
    /// selector in its query): what fills the caches that spare every tick a read. Ahead of
    /// single reads, which a cache still listing makes wait or fall back to `/scale`: behind
    /// them, the pages of a list of 30,000 workloads waited in the queue of the very reads
    /// that the list would end.
    Watch,
    /// Everything else: single reads, other writes.
    Read,
    /// Reports: writes of a `…/status` subresource, Events, and writes of KEDA's own
    /// resources (scalerd's finalizer on a ScaledObject): bookkeeping that no tick waits for.
    Report,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 5] = [
        Priority::Lease,
        Priority::Scale,
        Priority::Watch,
        Priority::Read,
        Priority::Report,
    ];

    /// The priority of a request, from its method and path.
    ///
    /// ```
    /// use http::{Method, Request};
    /// use scalerd::kube::Priority;
    /// let patch = Request::builder()
    ///     .method(Method::PATCH)
    ///     .uri("/apis/apps/v1/namespaces/shop/deployments/web/scale")
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(Priority::of(&patch), Priority::Scale);
    /// ```
    pub fn of<B>(request: &Request<B>) -> Self {
        let path = request.uri().path();
        let write = request.method() != Method::GET && request.method() != Method::HEAD;
        if path.starts_with("/apis/coordination.k8s.io/") {
            Priority::Lease
        } else if write && path.ends_with("/scale") {
            Priority::Scale
        } else if path.starts_with("/apis/events.k8s.io/")
            || (path.starts_with("/api/v1/") && path.contains("/events"))
            || (write && path.ends_with("/status"))
            || (write && path.starts_with("/apis/keda.sh/"))
        {
            Priority::Report
        } else if !write && is_collection_read(request.uri().query().unwrap_or_default()) {
            Priority::Watch
        } else {
            Priority::Read
        }
    }

    /// `lease`, `scale`, `watch`, `read` or `report`, for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Lease => "lease",
            Priority::Scale => "scale",
            Priority::Watch => "watch",
            Priority::Read => "read",
            Priority::Report => "report",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whether a `GET` with this query string reads a collection: a watch, a page of a list, or a
/// list by selector.
fn is_collection_read(query: &str) -> bool {
    query.split('&').any(|pair| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        matches!(
            key,
            "watch" | "limit" | "continue" | "labelSelector" | "fieldSelector"
        )
    })
}

/// The bucket: `qps` tokens a second, at most `burst` saved up. A `qps` of zero or less means no
/// limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitSettings {
    /// Sustained calls per second.
    pub qps: f64,
    /// Calls that may go at once after a quiet time (at least 1).
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            qps: DEFAULT_QPS,
            burst: DEFAULT_BURST,
        }
    }
}

/// What the rate limit shows in `/metrics` ([`crate::daemon::metrics::Metrics::rate_limit`]).
#[derive(Clone, Debug)]
pub struct RateLimitMetrics {
    /// Calls waiting for a token now, per priority.
    pub waiting: Family<PriorityLabels, Gauge>,
    /// How long calls waited for their token, per priority.
    pub wait: HistogramFamily<PriorityLabels>,
}

tokio::task_local! {
    /// Whether a token was already taken for the next call made in this scope
    /// ([`RateLimit::paid`]); the first call through a [`Limited`] service spends it.
    static PAID: Cell<bool>;
    /// Whether [`RateLimit::paid`] waits for its token in this scope ([`telling_token_waits`]).
    static WAITING: Cell<bool>;
}

/// Runs `f` so that [`waiting_for_token`], asked within it, tells whether `f` is waiting for
/// the token of a [`RateLimit::paid`] call: then nothing of that call has been sent, and `f`
/// can be dropped without cutting a request short.
pub async fn telling_token_waits<F: Future>(f: F) -> F::Output {
    WAITING.scope(Cell::new(false), f).await
}

/// Whether the code run by [`telling_token_waits`] waits for a token of [`RateLimit::paid`]
/// now; `false` outside it.
pub fn waiting_for_token() -> bool {
    WAITING.try_with(Cell::get).unwrap_or(false)
}

/// Sets [`WAITING`] while it lives, where there is one.
struct Waiting;

impl Waiting {
    fn start() -> Self {
        let _ = WAITING.try_with(|w| w.set(true));
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = WAITING.try_with(|w| w.set(false));
    }
}

/// A call waiting for its token.
struct Ask {
    priority: Priority,
    grant: oneshot::Sender<()>,
    asked: Instant,
}

/// The process's rate limit; clones share the bucket. Made with [`RateLimit::spawn`], used
/// through [`client_with_rate_limit`] (or [`RateLimit::acquire`] directly).
#[derive(Clone, Debug)]
pub struct RateLimit {
    asks: Option<mpsc::UnboundedSender<Ask>>,
    metrics: RateLimitMetrics,
}

impl RateLimit {
    /// A rate limit with these settings, whose bucket is kept by a task spawned on the current
    /// tokio runtime (it ends when the last clone is dropped).
    pub fn spawn(settings: RateLimitSettings, metrics: RateLimitMetrics) -> Self {
        if settings.qps <= 0.0 || !settings.qps.is_finite() {
            return RateLimit {
                asks: None,
                metrics,
            };
        }
        let (asks, inbox) = mpsc::unbounded_channel();
        tokio::spawn(keep_bucket(settings, inbox, metrics.clone()));
        RateLimit {
            asks: Some(asks),
            metrics,
        }
    }

    /// No limit at all.
    pub fn unlimited() -> Self {
        RateLimit {
            asks: None,
            metrics: crate::daemon::metrics::Metrics::new().rate_limit(),
        }
    }

    /// Waits for a token for a call of `priority`. Lease calls take none: they come at the
    /// fixed rate `--lease-timings` sets (a renewal per Lease per retry period) and must never
    /// wait behind work, as client-go's leader election, which runs on a client of its own;
    /// counted against the bucket, a spike of 10,000 writes at 50 per second waited 2 s more
    /// for the renewals taken out of it.
    pub async fn acquire(&self, priority: Priority) {
        let Some(asks) = &self.asks else {
            return;
        };
        if priority == Priority::Lease {
            return;
        }
        let (grant, granted) = oneshot::channel();
        let labels = PriorityLabels {
            priority: priority.as_str(),
        };
        self.metrics.waiting.get_or_create(&labels).inc();
        let ask = Ask {
            priority,
            grant,
            asked: Instant::now(),
        };
        // The bucket's task only ends once every sender is gone: it is there.
        if asks.send(ask).is_ok() {
            let _ = granted.await;
        } else {
            self.metrics.waiting.get_or_create(&labels).dec();
        }
    }

    /// Waits for a token of `priority`, then runs `call`, whose first API call through a client
    /// of this limit ([`client_with_rate_limit`]) goes without waiting again; any further call
    /// `call` makes waits for a token of its own. A timeout inside `call` therefore counts the
    /// call, not the queue: a `/scale` write that waits 200 s for its turn in a spike is still
    /// sent, and its fence is asked when it is about to leave.
    pub async fn paid<F: Future>(&self, priority: Priority, call: F) -> F::Output {
        {
            let _waiting = Waiting::start();
            self.acquire(priority).await;
        }
        PAID.scope(Cell::new(true), call).await
    }
}

/// Whether the current call was paid for by [`RateLimit::paid`]; spends that token.
fn take_paid() -> bool {
    PAID.try_with(|paid| paid.replace(false)).unwrap_or(false)
}

/// The task that keeps the bucket and hands out tokens, most urgent waiting call first.
async fn keep_bucket(
    settings: RateLimitSettings,
    mut inbox: mpsc::UnboundedReceiver<Ask>,
    metrics: RateLimitMetrics,
) {
    let burst = f64::from(settings.burst.max(1));
    let mut tokens = burst;
    let mut refilled = Instant::now();
    let mut queues: [VecDeque<Ask>; Priority::ALL.len()] = Default::default();
    let mut open = true;
    loop {
        if queues.iter().all(VecDeque::is_empty) {
            if !open {
                return;
            }
            match inbox.recv().await {
                Some(ask) => queues[ask.priority.index()].push_back(ask),
                None => return,
            }
        }
        while let Ok(ask) = inbox.try_recv() {
            queues[ask.priority.index()].push_back(ask);
        }
        let now = Instant::now();
        tokens = (tokens + settings.qps * now.duration_since(refilled).as_secs_f64()).min(burst);
        refilled = now;
        if tokens >= 1.0 {
            if let Some(ask) = queues.iter_mut().find_map(VecDeque::pop_front) {
                let labels = PriorityLabels {
                    priority: ask.priority.as_str(),
                };
                metrics.waiting.get_or_create(&labels).dec();
                let waited = ask.asked.elapsed();
                // A call given up while waiting takes no token.
                if ask.grant.send(()).is_ok() {
                    tokens -= 1.0;
                    metrics
                        .wait
                        .get_or_create(&labels)
                        .observe(waited.as_secs_f64());
                }
            }
            continue;
        }
        let next = Duration::from_secs_f64((1.0 - tokens) / settings.qps);
        tokio::select! {
            ask = inbox.recv(), if open => match ask {
                Some(ask) => queues[ask.priority.index()].push_back(ask),
                None => open = false,
            },
            () = tokio::time::sleep(next) => {}
        }
    }
}

/// A client for `config` with scalerd's settings ([`super::client_from_config`]) whose every
/// call goes through `limit`.
///
/// # Errors
/// [`KubeError::Client`] when kube cannot build the client.
pub fn client_with_rate_limit(
    config: kube::Config,
    limit: RateLimit,
) -> Result<kube::Client, KubeError> {
    let builder = ClientBuilder::try_from(super::client::scalerd_config(config))
        .map_err(|e| KubeError::Client(Box::new(e)))?;
    Ok(builder.with_layer(&RateLimitLayer(limit)).build())
}

/// The tower layer of a [`RateLimit`].
#[derive(Clone, Debug)]
pub struct RateLimitLayer(pub RateLimit);

impl<S> Layer<S> for RateLimitLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            limit: self.0.clone(),
        }
    }
}

/// A service whose calls wait for a token of its [`RateLimit`] first.
#[derive(Debug)]
pub struct Limited<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    limit: RateLimit,
}

impl<S> Clone for Limited<S> {
    fn clone(&self) -> Self {
        Limited {
            inner: self.inner.clone(),
            limit: self.limit.clone(),
        }
    }
}

impl<S, B> Service<Request<B>> for Limited<S>
where
    S: Service<Request<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the token's, asked for in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (inner, limit) = (self.inner.clone(), self.limit.clone());
        Box::pin(async move {
            // Asked here, not in `call`: kube's client runs `call` on the task of its buffer,
            // and the returned future on the caller's, where the scope of `paid` is.
            if !take_paid() {
                limit.acquire(Priority::of(&request)).await;
            }
            let sent = {
                let mut service = inner.lock().await;
                service.ready().await.map_err(Into::into)?.call(request)
            };
            sent.await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(qps: f64, burst: u32) -> (RateLimit, crate::daemon::metrics::Metrics) {
        let metrics = crate::daemon::metrics::Metrics::new();
        let limit = RateLimit::spawn(RateLimitSettings { qps, burst }, metrics.rate_limit());
        (limit, metrics)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_and_the_rest_at_the_rate() {
        let (limit, _) = limit(10.0, 3);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..13 {
            limit.acquire(Priority::Read).await;
            at.push(start.elapsed().as_millis());
        }
        // 3 at once, then one every 100 ms: the 13th after 1 s.
        assert_eq!(&at[..3], &[0, 0, 0]);
        for (i, t) in at.iter().enumerate().skip(3) {
            let want = (i as u128 - 2) * 100;
            assert!(
                (want..want + 5).contains(t),
                "call {i} at {t} ms, want {want}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lease_calls_take_no_token() {
        let (limit, _metrics) = limit(1.0, 1);
        limit.acquire(Priority::Read).await; // the bucket is now empty
        let start = Instant::now();
        for _ in 0..10 {
            limit.acquire(Priority::Lease).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Nor did they spend any: the next read waits one token's time, not eleven.
        limit.acquire(Priority::Read).await;
        assert!(
            start.elapsed() <= Duration::from_millis(1001),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_calls_are_served_by_priority_then_in_order() {
        let (limit, metrics) = limit(1.0, 1);
        limit.acquire(Priority::Read).await; // the bucket is now empty
        let (tx, mut order) = mpsc::unbounded_channel();
        let asks = [
            (Priority::Read, "read 1"),
            (Priority::Report, "report"),
            (Priority::Read, "read 2"),
            (Priority::Scale, "scale"),
            (Priority::Lease, "lease"),
        ];
        for (priority, name) in asks {
            let (limit, tx) = (limit.clone(), tx.clone());
            tokio::spawn(async move {
                limit.acquire(priority).await;
                let _ = tx.send(name);
            });
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        let waiting = |p: &'static str| {
            metrics
                .kube_api_waiting
                .get_or_create(&PriorityLabels { priority: p })
                .get()
        };
        assert_eq!((waiting("read"), waiting("scale")), (2, 1));
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(order.recv().await.unwrap());
        }
        assert_eq!(got, ["lease", "scale", "read 1", "read 2", "report"]);
        assert_eq!((waiting("read"), waiting("scale")), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_given_up_while_waiting_takes_no_token() {
        let (limit, _) = limit(1.0, 1);
        limit.acquire(Priority::Read).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(500), limit.acquire(Priority::Read));
        assert!(gave_up.await.is_err());
        // The token of t = 1 s goes to the next call, not to the abandoned one.
        let start = Instant::now();
        limit.acquire(Priority::Read).await;
        assert!(
            start.elapsed() <= Duration::from_millis(600),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_qps_means_no_limit() {
        let (limit, _) = limit(0.0, 1);
        let start = Instant::now();
        for _ in 0..1000 {
            limit.acquire(Priority::Read).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[test]
    fn priorities_come_from_method_and_path() {
        let of = |method: Method, path: &str| {
            Priority::of(
                &Request::builder()
                    .method(method)
                    .uri(path)
                    .body(())
                    .unwrap(),
            )
        };
        let deploy = "/apis/apps/v1/namespaces/shop/deployments/web";
        assert_eq!(
            of(Method::PATCH, &format!("{deploy}/scale")),
            Priority::Scale
        );
        assert_eq!(of(Method::PUT, &format!("{deploy}/scale")), Priority::Scale);
        assert_eq!(of(Method::GET, &format!("{deploy}/scale")), Priority::Read);
        assert_eq!(of(Method::GET, deploy), Priority::Read);
        // A watcher's list pages and its watch go ahead of single reads.
        assert_eq!(
            of(Method::GET, "/apis/apps/v1/deployments?limit=500"),
            Priority::Watch
        );
        assert_eq!(
            of(
                Method::GET,
                "/apis/apps/v1/deployments?allowWatchBookmarks=true&resourceVersion=7&timeoutSeconds=290&watch=true"
            ),
            Priority::Watch
        );
        assert_eq!(
            of(
                Method::GET,
                "/apis/batch/v1/jobs?labelSelector=scaledjob.keda.sh%2Fname"
            ),
            Priority::Watch
        );
        assert_eq!(
            of(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/s/leases/l"
            ),
            Priority::Lease
        );
        assert_eq!(
            of(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/shop/events"
            ),
            Priority::Report
        );
        assert_eq!(
            of(
                Method::PATCH,
                "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/o/status"
            ),
            Priority::Report
        );
        // scalerd's finalizer on a ScaledObject: a report; reading the object is a read.
        assert_eq!(
            of(
                Method::PATCH,
                "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/o"
            ),
            Priority::Report
        );
        assert_eq!(
            of(
                Method::GET,
                "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/o"
            ),
            Priority::Read
        );
        assert_eq!(
            of(Method::GET, "/api/v1/namespaces/shop/secrets/s"),
            Priority::Read
        );
    }
}
