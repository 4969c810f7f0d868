//! HTTP clients shared by every trigger with the same server and credentials.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use reqwest::Url;
use scalers_core::pool::SharedPool;
use scalers_core::secret::Secret;
use tokio::sync::Semaphore;

use super::auth::{ApiKey, Auth, Credentials, CustomAuth, TlsAuth};

/// The HTTP clients of a set of triggers, one per server and credentials.
///
/// Triggers built from the same pool that point at the same origin (scheme, host, port) with the
/// same credentials, TLS material and `unsafeSsl` share one `reqwest::Client`, hence one
/// keep-alive connection pool, whatever their type: a `prometheus` and a `metrics-api` trigger
/// of the same server and credentials share too. The pool holds its clients weakly: a client is dropped, with its
/// connections, when the last trigger using it is dropped (after a config reload, say).
///
/// [`register`](crate::register) keeps one pool inside the registered constructor rather than in
/// a process-wide `static`: everything built from one registry shares, nothing is shared behind
/// an embedder's back, and a client (whose connections belong to the tokio runtime that opened
/// them) never leaks from one runtime into another, as it would between tests or between two
/// embedded engines on separate runtimes.
///
/// Each client sends at most [`MAX_IN_FLIGHT`] requests at a time, so at most that many
/// connections are open to one server whatever the number of triggers: further samples wait for
/// a request to end (within their `timeout`), and beyond [`MAX_WAITING`] waiting samples a
/// sample fails at once rather than queue (load shedding: a server that cannot keep up answers
/// the samples it can, instead of every sample waiting until it times out).
///
/// Cloning a pool gives another handle on the same clients.
#[derive(Clone, Default)]
pub struct ClientPool {
    clients: SharedPool<ClientKey, SharedClient>,
}

impl fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientPool")
            .field("clients", &self.len())
            .finish()
    }
}

impl ClientPool {
    /// An empty pool.
    pub fn new() -> Self {
        ClientPool::default()
    }

    /// How many distinct clients triggers of this pool currently hold.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no trigger of this pool holds a client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client for requests to `url` with `auth`, shared with every trigger of the same key.
    /// Cheap: the `reqwest::Client` itself is built on first use.
    pub(crate) fn client_for(&self, url: &Url, auth: &Auth, unsafe_ssl: bool) -> Arc<SharedClient> {
        let key = ClientKey::new(url, auth, unsafe_ssl);
        self.clients.get_or_insert_with(&key, |_| SharedClient {
            tls: auth.tls.clone(),
            unsafe_ssl,
            client: OnceLock::new(),
            slots: Semaphore::new(MAX_IN_FLIGHT),
            waiting: AtomicUsize::new(0),
        })
    }
}

/// What makes two triggers share a client.
///
/// Credentials are sent per request, but they are part of the key anyway so that connections
/// (and TLS sessions) of different identities are never mixed. Secrets stay [`Secret`]s here, so
/// the map cannot print them.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    /// `scheme://host:port`.
    origin: String,
    /// Userinfo of the URL, which reqwest sends as basic auth.
    userinfo: Option<(Secret, Option<Secret>)>,
    credentials: Credentials,
    custom: Option<CustomAuth>,
    api_key: Option<ApiKey>,
    tls: Option<TlsAuth>,
    unsafe_ssl: bool,
}

impl ClientKey {
    fn new(url: &Url, auth: &Auth, unsafe_ssl: bool) -> Self {
        ClientKey {
            origin: origin(url),
            userinfo: (!url.username().is_empty() || url.password().is_some())
                .then(|| (Secret::new(url.username()), url.password().map(Secret::new))),
            credentials: auth.credentials.clone(),
            custom: auth.custom.clone(),
            api_key: auth.api_key.clone(),
            tls: auth.tls.clone(),
            unsafe_ssl,
        }
    }
}

fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// The most requests one shared client (one server and credentials) has in flight at once.
///
/// Prometheus speaks HTTP/1.1: one request per connection at a time, so without a limit 10,000
/// triggers polling one server opened thousands of connections in a burst, beyond Prometheus's
/// default `--web.max-connections` of 512, and most samples timed out in its accept queue
/// (measured with `bench/scale.sh --source prometheus`). An instant query takes well under a
/// millisecond of the server's time, so 32 connections carry far more queries than one server
/// answers.
pub const MAX_IN_FLIGHT: usize = 32;

/// The most requests waiting for one of the [`MAX_IN_FLIGHT`] slots of a shared client; a
/// sample beyond that fails at once.
///
/// Waiting samples are served in order; with a long queue each would wait until it is nearly
/// out of time and be cut off in flight, so a server offered more queries than it answers would
/// answer almost none (measured: 10,000 triggers on one Prometheus that answers ~4,000 queries
/// per second got 775 answered per second). 256 waiting requests are a few tens of milliseconds
/// of work for a server that keeps up.
pub const MAX_WAITING: usize = 8 * MAX_IN_FLIGHT;

/// One `reqwest::Client`, built on first use, and its request slots.
pub(crate) struct SharedClient {
    tls: Option<TlsAuth>,
    unsafe_ssl: bool,
    client: OnceLock<reqwest::Client>,
    /// [`MAX_IN_FLIGHT`] permits; a request holds one until its body is read.
    slots: Semaphore,
    /// Requests waiting for a permit.
    waiting: AtomicUsize,
}

/// Why no request slot was had.
pub(crate) enum NoSlot {
    /// [`MAX_WAITING`] requests were already waiting.
    Overloaded,
    /// None freed up within the timeout.
    TimedOut,
}

/// A request slot, held until dropped.
pub(crate) type Slot<'a> = tokio::sync::SemaphorePermit<'a>;

impl SharedClient {
    /// A request slot, at once if one is free, else after waiting in order within `timeout`;
    /// none if [`MAX_WAITING`] requests are already waiting.
    pub(crate) async fn slot(&self, timeout: std::time::Duration) -> Result<Slot<'_>, NoSlot> {
        if let Ok(slot) = self.slots.try_acquire() {
            return Ok(slot);
        }
        let queued = Waiting::enter(&self.waiting);
        if queued.ahead >= MAX_WAITING {
            return Err(NoSlot::Overloaded);
        }
        match tokio::time::timeout(timeout, self.slots.acquire()).await {
            Ok(Ok(slot)) => Ok(slot),
            // The semaphore is never closed.
            Ok(Err(_)) | Err(_) => Err(NoSlot::TimedOut),
        }
    }
}

/// One more request in a client's waiting count, until dropped.
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// How many were waiting before this one.
    ahead: usize,
}

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let ahead = count.fetch_add(1, Ordering::Relaxed);
        Waiting { count, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SharedClient {
    /// The client, built now if this is its first use. A failed build is not remembered: the
    /// next sample tries again.
    pub(crate) fn get(&self) -> Result<reqwest::Client, reqwest::Error> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let built = self.build()?;
        // Two first samples may race; both get the one that was stored.
        Ok(self.client.get_or_init(|| built).clone())
    }

    fn build(&self) -> Result<reqwest::Client, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .user_agent(concat!("scalers-prometheus/", env!("CARGO_PKG_VERSION")))
            .tls_danger_accept_invalid_certs(self.unsafe_ssl)
            .redirect(reqwest::redirect::Policy::custom(same_origin_redirects));
        if let Some(tls) = &self.tls {
            if let Some(identity) = &tls.client {
                builder = builder.identity(reqwest::Identity::from_pem(&identity.pem())?);
            }
            if let Some(ca) = &tls.ca {
                builder =
                    builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(ca.as_bytes())?);
            }
        }
        builder.build()
    }
}

/// Redirects are followed within the server's origin only (at most 10).
///
/// Custom headers, the custom auth header and an API key header would follow a redirect anywhere (reqwest strips
/// only `Authorization` and cookies), so a redirect to another origin is not followed: the
/// sample fails with the 3xx status instead.
fn same_origin_redirects(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let same_origin = attempt
        .previous()
        .first()
        .is_some_and(|first| origin(first) == origin(attempt.url()));
    if !same_origin {
        attempt.stop()
    } else if attempt.previous().len() > 10 {
        attempt.error("too many redirects")
    } else {
        attempt.follow()
    }
}
