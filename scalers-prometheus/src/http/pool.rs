//! HTTP clients shared by every trigger with the same server and credentials.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use reqwest::Url;
use scalers_core::secret::Secret;

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
/// Cloning a pool gives another handle on the same clients.
#[derive(Clone, Default)]
pub struct ClientPool {
    clients: Arc<Mutex<HashMap<ClientKey, Weak<SharedClient>>>>,
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
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.values().filter(|c| c.strong_count() > 0).count()
    }

    /// Whether no trigger of this pool holds a client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client for requests to `url` with `auth`, shared with every trigger of the same key.
    /// Cheap: the `reqwest::Client` itself is built on first use.
    pub(crate) fn client_for(&self, url: &Url, auth: &Auth, unsafe_ssl: bool) -> Arc<SharedClient> {
        let key = ClientKey::new(url, auth, unsafe_ssl);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|_, c| c.strong_count() > 0);
        if let Some(client) = clients.get(&key).and_then(Weak::upgrade) {
            return client;
        }
        let client = Arc::new(SharedClient {
            tls: auth.tls.clone(),
            unsafe_ssl,
            client: OnceLock::new(),
        });
        clients.insert(key, Arc::downgrade(&client));
        client
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

/// One `reqwest::Client`, built on first use.
pub(crate) struct SharedClient {
    tls: Option<TlsAuth>,
    unsafe_ssl: bool,
    client: OnceLock<reqwest::Client>,
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
