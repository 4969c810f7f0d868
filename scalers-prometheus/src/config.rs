//! The trigger's parameters, parsed and validated from KEDA's metadata.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use scalers_core::config::model::MetricType;
use scalers_core::secret::{Secret, redact_url};
use scalers_core::trigger::{Invalid, Params};

/// Default of `timeout`: KEDA's `KEDA_HTTP_DEFAULT_TIMEOUT`, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 3000;

/// The parsed parameters of one `prometheus` trigger.
///
/// Built by [`PrometheusConfig::from_params`], which checks everything checkable offline. Header
/// values (custom headers, the custom auth value) are marked sensitive, credentials are
/// [`Secret`]s, and `Debug` redacts the server address, so a config can be logged.
#[derive(Clone, PartialEq)]
pub struct PrometheusConfig {
    /// `serverAddress`: base URL of the Prometheus HTTP API; queries go to
    /// `<serverAddress>/api/v1/query`.
    pub server_address: Url,
    /// `query`: the PromQL expression; it must yield one element or a scalar.
    pub query: String,
    /// `threshold`: the target value, greater than 0.
    pub threshold: f64,
    /// `activationThreshold`: active iff the value is greater than this; default 0.
    pub activation_threshold: f64,
    /// How `threshold` is read (the trigger's `metricType`); default `AverageValue`.
    pub metric_type: MetricType,
    /// `namespace`: sent as the `namespace` query parameter (Thanos/Cortex tenancy).
    pub namespace: Option<String>,
    /// `customHeaders`: extra request headers (`k=v,k2=v2`); values are marked sensitive.
    pub custom_headers: Vec<(HeaderName, HeaderValue)>,
    /// `queryParameters`: extra query parameters (`k=v,k2=v2`), URL-encoded when sent.
    pub query_parameters: Vec<(String, Secret)>,
    /// `ignoreNullValues`: an empty result, NaN or ±Inf reads as a "no data" zero instead of
    /// a failure; default true.
    pub ignore_null_values: bool,
    /// `unsafeSsl`: accept any server certificate; default false.
    pub unsafe_ssl: bool,
    /// `timeout`: per-request timeout (milliseconds in the metadata); default 3000 ms.
    pub timeout: Duration,
    /// `authModes` and their parameters.
    pub auth: Auth,
}

impl fmt::Debug for PrometheusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self
            .custom_headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        f.debug_struct("PrometheusConfig")
            .field("server_address", &redact_url(self.server_address.as_str()))
            .field("query", &self.query)
            .field("threshold", &self.threshold)
            .field("activation_threshold", &self.activation_threshold)
            .field("metric_type", &self.metric_type)
            .field("namespace", &self.namespace)
            .field("custom_headers", &header_names)
            .field("query_parameters", &self.query_parameters)
            .field("ignore_null_values", &self.ignore_null_values)
            .field("unsafe_ssl", &self.unsafe_ssl)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth)
            .finish()
    }
}

/// The authentication a trigger uses (`authModes`), any combination except bearer with basic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Auth {
    /// `bearer` or `basic`, or neither.
    pub credentials: Credentials,
    /// `tls`: a client certificate and/or an extra CA.
    pub tls: Option<TlsAuth>,
    /// `custom`: one header carrying a credential.
    pub custom: Option<CustomAuth>,
}

/// The `Authorization` credentials: bearer and basic are mutually exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Credentials {
    /// No `Authorization` header.
    #[default]
    None,
    /// `authModes: bearer`: `Authorization: Bearer <bearerToken>`.
    Bearer(Secret),
    /// `authModes: basic`: HTTP basic auth with `username` and optional `password`.
    Basic {
        /// `username`.
        username: Secret,
        /// `password`, if given.
        password: Option<Secret>,
    },
}

/// `authModes: tls`: PEM material, given inline as in KEDA.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TlsAuth {
    /// `cert` and `key`: the client certificate and its private key.
    pub client: Option<ClientIdentity>,
    /// `ca`: extra trusted CA certificates, added to the system roots; usable alone.
    pub ca: Option<String>,
}

impl fmt::Debug for TlsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAuth")
            .field("client", &self.client)
            .field(
                "ca",
                &self
                    .ca
                    .as_ref()
                    .map(|pem| format!("<{} bytes of PEM>", pem.len())),
            )
            .finish()
    }
}

/// A client certificate and its key, in PEM.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    /// `cert`: the certificate chain.
    pub cert: Secret,
    /// `key`: the private key.
    pub key: Secret,
}

impl ClientIdentity {
    /// The certificate and key as one PEM document, as reqwest reads identities.
    pub(crate) fn pem(&self) -> Vec<u8> {
        format!("{}\n{}\n", self.cert.expose(), self.key.expose()).into_bytes()
    }
}

/// `authModes: custom`: a header carrying a credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CustomAuth {
    /// `customAuthHeader`.
    pub header: HeaderName,
    /// `customAuthValue`, marked sensitive.
    pub value: HeaderValue,
}

/// One value of `authModes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthMode {
    Bearer,
    Basic,
    Tls,
    Custom,
}

impl PrometheusConfig {
    /// Reads and checks the trigger's parameters, reporting every problem at once.
    ///
    /// Names, defaults and lookup order (metadata, authentication parameters, `<name>FromEnv`)
    /// are KEDA's. No I/O happens here: TLS material is only parsed, the client is built on the
    /// first query.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p` with its path, for example
    /// `metadata.threshold: must be greater than 0, got -1`.
    pub fn from_params(p: &mut Params<'_>) -> Result<Self, Invalid> {
        let server_address = p
            .required_str("serverAddress")
            .and_then(|raw| parse_server_address(p, &raw));
        let query = p.required_str("query");
        let threshold = p.required_f64("threshold").and_then(|t| {
            if t > 0.0 {
                Ok(t)
            } else {
                Err(p.error("threshold", format!("must be greater than 0, got {t}")))
            }
        });
        // KEDA accepts any activation threshold, negative ones included.
        let activation_threshold = p.f64_or("activationThreshold", 0.0);
        let namespace = p.optional_str("namespace");
        let custom_headers = p
            .map("customHeaders")
            .and_then(|pairs| parse_headers(p, "customHeaders", pairs));
        let query_parameters = p.map("queryParameters").map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect::<Vec<_>>()
        });
        let ignore_null_values = p.bool_or("ignoreNullValues", true);
        let unsafe_ssl = p.bool_or("unsafeSsl", false);
        let timeout = p.u64_or("timeout", DEFAULT_TIMEOUT_MS).and_then(|ms| {
            if ms > 0 {
                Ok(Duration::from_millis(ms))
            } else {
                Err(p.error("timeout", "must be greater than 0, got 0"))
            }
        });
        let auth = parse_auth(p);
        Ok(PrometheusConfig {
            server_address: server_address?,
            query: query?,
            threshold: threshold?,
            activation_threshold: activation_threshold?,
            metric_type: p.spec().metric_type,
            namespace: namespace?,
            custom_headers: custom_headers?,
            query_parameters: query_parameters?,
            ignore_null_values: ignore_null_values?,
            unsafe_ssl: unsafe_ssl?,
            timeout: timeout?,
            auth: auth?,
        })
    }
}

fn parse_server_address(p: &mut Params<'_>, raw: &str) -> Result<Url, Invalid> {
    match Url::parse(raw.trim()) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(url)
        }
        _ => Err(p.error(
            "serverAddress",
            format!("expected an http or https URL, got {:?}", redact_url(raw)),
        )),
    }
}

fn parse_header_name(p: &mut Params<'_>, param: &str, name: &str) -> Result<HeaderName, Invalid> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| p.error(param, format!("invalid header name {name:?}")))
}

/// A header value marked sensitive, so that reqwest and `Debug` never print it.
fn parse_header_value(
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

fn parse_headers(
    p: &mut Params<'_>,
    param: &str,
    pairs: Vec<(String, String)>,
) -> Result<Vec<(HeaderName, HeaderValue)>, Invalid> {
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

fn parse_auth_modes(p: &mut Params<'_>) -> Result<Vec<AuthMode>, Invalid> {
    let Some(raw) = p.optional_str("authModes")? else {
        return Ok(Vec::new());
    };
    let mut modes = Vec::new();
    let mut ok = true;
    for mode in raw.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let parsed = match mode {
            "bearer" => AuthMode::Bearer,
            "basic" => AuthMode::Basic,
            "tls" => AuthMode::Tls,
            "custom" => AuthMode::Custom,
            other => {
                p.error(
                    "authModes",
                    format!("unknown auth mode {other:?}; expected bearer, basic, tls or custom"),
                );
                ok = false;
                continue;
            }
        };
        if !modes.contains(&parsed) {
            modes.push(parsed);
        }
    }
    if ok { Ok(modes) } else { Err(Invalid) }
}

fn required_secret(p: &mut Params<'_>, name: &str, mode: &str) -> Result<Secret, Invalid> {
    match p.secret(name)? {
        Some(s) => Ok(s),
        None => Err(p.error(name, format!("required by authModes {mode}"))),
    }
}

fn parse_auth(p: &mut Params<'_>) -> Result<Auth, Invalid> {
    let modes = parse_auth_modes(p)?;
    let has = |m| modes.contains(&m);

    let credentials = match (has(AuthMode::Bearer), has(AuthMode::Basic)) {
        (true, true) => Err(p.error("authModes", "bearer and basic cannot be combined")),
        (true, false) => required_secret(p, "bearerToken", "bearer").map(Credentials::Bearer),
        (false, true) => {
            let username = required_secret(p, "username", "basic");
            let password = p.secret("password");
            match (username, password) {
                (Ok(username), Ok(password)) => Ok(Credentials::Basic { username, password }),
                _ => Err(Invalid),
            }
        }
        (false, false) => Ok(Credentials::None),
    };
    let tls = if has(AuthMode::Tls) {
        parse_tls(p).map(Some)
    } else {
        Ok(None)
    };
    let custom = if has(AuthMode::Custom) {
        parse_custom(p).map(Some)
    } else {
        Ok(None)
    };
    Ok(Auth {
        credentials: credentials?,
        tls: tls?,
        custom: custom?,
    })
}

fn parse_tls(p: &mut Params<'_>) -> Result<TlsAuth, Invalid> {
    let cert = p.secret("cert");
    let key = p.secret("key");
    let ca = p.optional_str("ca");
    let (cert, key, ca) = (cert?, key?, ca?);
    let client = match (cert, key) {
        (Some(cert), Some(key)) => {
            let identity = ClientIdentity { cert, key };
            if reqwest::Identity::from_pem(&identity.pem()).is_err() {
                // Say nothing about the content: it is a private key.
                return Err(p.error("cert", "cert and key are not a PEM certificate and key"));
            }
            Some(identity)
        }
        (Some(_), None) => return Err(p.error("key", "required by authModes tls when cert is set")),
        (None, Some(_)) => return Err(p.error("cert", "required by authModes tls when key is set")),
        (None, None) if ca.is_none() => {
            return Err(p.error(
                "cert",
                "required by authModes tls (with key), unless ca is set",
            ));
        }
        (None, None) => None,
    };
    if let Some(pem) = &ca {
        match reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
            Ok(certs) if !certs.is_empty() => {}
            _ => return Err(p.error("ca", "expected PEM certificates")),
        }
    }
    Ok(TlsAuth { client, ca })
}

fn parse_custom(p: &mut Params<'_>) -> Result<CustomAuth, Invalid> {
    let header = required_secret(p, "customAuthHeader", "custom");
    let value = required_secret(p, "customAuthValue", "custom");
    let (header, value) = (header?, value?);
    let name = parse_header_name(p, "customAuthHeader", header.expose());
    let value = parse_header_value(p, "customAuthValue", header.expose(), value.expose());
    Ok(CustomAuth {
        header: name?,
        value: value?,
    })
}
