//! What the HTTP triggers share: the client pool, authentication, the request/response exchange
//! with its error classification and redaction, and the parameters every HTTP trigger reads the
//! same way (URLs, headers, `timeout`).

mod auth;
mod endpoint;
mod pool;

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use scalers_core::secret::redact_url;
use scalers_core::trigger::{Invalid, Params};

pub use auth::{ApiKey, Auth, ClientIdentity, Credentials, CustomAuth, TlsAuth};
pub(crate) use auth::{AuthMode, AuthParams, parse_auth};
pub(crate) use endpoint::Endpoint;
pub use pool::{ClientPool, MAX_IN_FLIGHT, MAX_WAITING};

/// Default of `timeout`: KEDA's `KEDA_HTTP_DEFAULT_TIMEOUT`, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 3000;

/// Parameter `name`, an `http` or `https` URL with a host. The URL is shown without userinfo or
/// query string when it is rejected.
pub(crate) fn parse_http_url(p: &mut Params<'_>, name: &str, raw: &str) -> Result<Url, Invalid> {
    match Url::parse(raw.trim()) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(url)
        }
        _ => Err(p.error(
            name,
            format!("expected an http or https URL, got {:?}", redact_url(raw)),
        )),
    }
}

/// `timeout`, in milliseconds, greater than 0; default [`DEFAULT_TIMEOUT_MS`].
pub(crate) fn parse_timeout(p: &mut Params<'_>) -> Result<Duration, Invalid> {
    let ms = p.u64_or("timeout", DEFAULT_TIMEOUT_MS)?;
    if ms > 0 {
        Ok(Duration::from_millis(ms))
    } else {
        Err(p.error("timeout", "must be greater than 0, got 0"))
    }
}

/// A target-like parameter that must be a number greater than 0.
pub(crate) fn parse_positive(p: &mut Params<'_>, name: &str) -> Result<f64, Invalid> {
    let value = p.required_f64(name)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(p.error(name, format!("must be greater than 0, got {value}")))
    }
}

pub(crate) fn parse_header_name(
    p: &mut Params<'_>,
    param: &str,
    name: &str,
) -> Result<HeaderName, Invalid> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| p.error(param, format!("invalid header name {name:?}")))
}

/// A header value marked sensitive, so that reqwest and `Debug` never print it.
pub(crate) fn parse_header_value(
    p: &mut Params<'_>,
    param: &str,
    header: &str,
    value: &str,
) -> Result<HeaderValue, Invalid> {
    match HeaderValue::from_str(value) {
        Ok(mut v) => {
            v.set_sensitive(true);
            Ok(v)
        }
        Err(_) => Err(p.error(
            param,
            format!("the value of header {header:?} is not a valid header value"),
        )),
    }
}

/// A `k=v,k2=v2` parameter of request headers, values marked sensitive.
pub(crate) fn parse_headers(
    p: &mut Params<'_>,
    param: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, Invalid> {
    let pairs = p.map(param)?;
    let mut headers = Vec::with_capacity(pairs.len());
    let mut ok = true;
    for (name, value) in pairs {
        let n = parse_header_name(p, param, &name);
        let v = parse_header_value(p, param, &name, &value);
        match (n, v) {
            (Ok(n), Ok(v)) => headers.push((n, v)),
            _ => ok = false,
        }
    }
    if ok { Ok(headers) } else { Err(Invalid) }
}
