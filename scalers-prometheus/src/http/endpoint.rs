//! One URL a trigger polls: its shared client, its credentials, and how a GET goes wrong.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use scalers_core::secret::redact_url;

use super::auth::{ApiKey, Auth, Credentials};
use super::pool::{ClientPool, MAX_IN_FLIGHT, MAX_WAITING, NoSlot, SharedClient};
use crate::error::{Error, Result};

/// A URL polled with GET, with the credentials of its trigger and a client from a
/// [`ClientPool`].
///
/// Every failure comes back as an [`Error`] naming [`Endpoint::shown`], the URL without
/// userinfo, query string or fragment; reqwest's own errors lose their URL.
pub(crate) struct Endpoint {
    url: Url,
    shown: String,
    auth: Auth,
    timeout: Duration,
    client: Arc<SharedClient>,
}

/// A response: its status and its whole body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl Endpoint {
    /// `url`, requested with `auth` within `timeout`, through the client of `pool` for that
    /// origin, credentials and `unsafe_ssl`. No I/O.
    pub(crate) fn new(
        mut url: Url,
        auth: Auth,
        unsafe_ssl: bool,
        timeout: Duration,
        pool: &ClientPool,
    ) -> Self {
        url.set_fragment(None);
        let shown = redact_url(url.as_str());
        let client = pool.client_for(&url, &auth, unsafe_ssl);
        Endpoint {
            url,
            shown,
            auth,
            timeout,
            client,
        }
    }

    /// The URL as errors and `Debug` show it: no userinfo, query string or fragment.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether both endpoints send through the same HTTP client.
    pub(crate) fn shares_client_with(&self, other: &Endpoint) -> bool {
        Arc::ptr_eq(&self.client, &other.client)
    }

    /// GET the URL with `query` appended to its query string, `headers`, the `accept` header if
    /// any, and the credentials; reads the whole body, whatever the status.
    ///
    /// # Errors
    /// [`Error::Client`], [`Error::Saturated`], [`Error::Connect`], [`Error::Timeout`] or
    /// [`Error::Request`].
    pub(crate) async fn get(
        &self,
        query: &[(&str, &str)],
        headers: &[(HeaderName, HeaderValue)],
        accept: Option<&'static str>,
    ) -> Result<Answer> {
        let client = self.client.get().map_err(|e| Error::Client {
            endpoint: self.shown.clone(),
            source: e.without_url(),
        })?;
        // Waiting for a request slot counts against the timeout: the whole sample is bounded.
        let started = Instant::now();
        let saturated = |waiting| Error::Saturated {
            endpoint: self.shown.clone(),
            timeout: self.timeout,
            in_flight: MAX_IN_FLIGHT,
            waiting,
        };
        let _slot = self.client.slot(self.timeout).await.map_err(|e| match e {
            NoSlot::Overloaded => saturated(Some(MAX_WAITING)),
            NoSlot::TimedOut => saturated(None),
        })?;
        let left = self.timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(saturated(None));
        }
        let mut request = client.get(self.url.clone()).timeout(left);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if !query.is_empty() {
            request = request.query(query);
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request = match &self.auth.credentials {
            Credentials::None => request,
            Credentials::Bearer(token) => request.bearer_auth(token.expose()),
            Credentials::Basic { username, password } => {
                request.basic_auth(username.expose(), password.as_ref().map(|p| p.expose()))
            }
        };
        if let Some(custom) = &self.auth.custom {
            request = request.header(&custom.header, &custom.value);
        }
        match &self.auth.api_key {
            Some(ApiKey::Header { name, value }) => request = request.header(name, value),
            Some(ApiKey::Query { name, value }) => {
                request = request.query(&[(name.as_str(), value.expose())]);
            }
            None => {}
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        Ok(Answer {
            status,
            body: body.to_vec(),
        })
    }

    /// A transport failure, classified, with the URL (and its query string) removed.
    fn transport(&self, e: reqwest::Error) -> Error {
        let endpoint = self.shown.clone();
        let source = e.without_url();
        if source.is_timeout() {
            Error::Timeout {
                endpoint,
                timeout: self.timeout,
                source,
            }
        } else if source.is_connect() {
            Error::Connect { endpoint, source }
        } else {
            Error::Request { endpoint, source }
        }
    }
}
