//! The authentication modes of the HTTP triggers, their parameters and how they are read.
//!
//! Both triggers read the same modes with the same parameters; they differ only in how KEDA
//! spells a few names (`authModes` and `bearerToken` for `prometheus`, `authMode` and `token`
//! for `metrics-api`) and in which modes they accept. [`AuthParams`] captures that difference.

use std::fmt;

use reqwest::header::{HeaderName, HeaderValue};
use scalers_core::secret::Secret;
use scalers_core::trigger::{Invalid, Params};

use super::{parse_header_name, parse_header_value};

/// The authentication a trigger uses (its auth modes and their parameters): any combination
/// except bearer with basic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Auth {
    /// `bearer` or `basic`, or neither.
    pub credentials: Credentials,
    /// `tls`: a client certificate and/or an extra CA.
    pub tls: Option<TlsAuth>,
    /// `custom`: one header carrying a credential.
    pub custom: Option<CustomAuth>,
    /// `apiKey` (`metrics-api` only): a key sent in a header or in the query string.
    pub api_key: Option<ApiKey>,
}

/// The `Authorization` credentials: bearer and basic are mutually exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Credentials {
    /// No `Authorization` header.
    #[default]
    None,
    /// Mode `bearer`: `Authorization: Bearer <token>` (`bearerToken`, or `token` for
    /// `metrics-api`).
    Bearer(Secret),
    /// Mode `basic`: HTTP basic auth with `username` and optional `password`.
    Basic {
        /// `username`.
        username: Secret,
        /// `password`, if given.
        password: Option<Secret>,
    },
}

/// Mode `tls`: PEM material, given inline as in KEDA.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TlsAuth {
    /// `cert` and `key`: the client certificate and its private key.
    pub client: Option<ClientIdentity>,
    /// `ca`: extra trusted CA certificates, added to the system roots (the rule every trigger
    /// follows, see [`scalers_core::tls`]); usable alone.
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

pub use scalers_core::tls::ClientIdentity;

/// Mode `custom`: a header carrying a credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CustomAuth {
    /// `customAuthHeader`.
    pub header: HeaderName,
    /// `customAuthValue`, marked sensitive.
    pub value: HeaderValue,
}

/// Mode `apiKey`: the key `apiKey`, sent as `method` says under the name `keyParamName`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiKey {
    /// `method: header` (the default): a request header, `X-API-KEY` unless `keyParamName`
    /// says otherwise.
    Header {
        /// The header's name.
        name: HeaderName,
        /// The key, marked sensitive.
        value: HeaderValue,
    },
    /// `method: query`: a query parameter, `api_key` unless `keyParamName` says otherwise.
    Query {
        /// The parameter's name.
        name: String,
        /// The key.
        value: Secret,
    },
}

/// Default `keyParamName` for `method: header`, as in KEDA.
const DEFAULT_KEY_HEADER: &str = "X-API-KEY";
/// Default `keyParamName` for `method: query`, as in KEDA.
const DEFAULT_KEY_QUERY: &str = "api_key";

/// One auth mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthMode {
    ApiKey,
    Basic,
    Bearer,
    Tls,
    Custom,
}

impl AuthMode {
    fn name(self) -> &'static str {
        match self {
            AuthMode::ApiKey => "apiKey",
            AuthMode::Basic => "basic",
            AuthMode::Bearer => "bearer",
            AuthMode::Tls => "tls",
            AuthMode::Custom => "custom",
        }
    }
}

/// How one trigger type spells its authentication parameters.
pub(crate) struct AuthParams {
    /// The metadata keys that list the modes (comma-separated); at most one may be set.
    pub(crate) modes_keys: &'static [&'static str],
    /// The modes accepted, in the order error messages list them.
    pub(crate) modes: &'static [AuthMode],
    /// The names of the bearer token, in lookup order.
    pub(crate) bearer_token: &'static [&'static str],
}

/// `a, b or c`.
fn listed(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The modes listed by whichever of `vocab.modes_keys` is set, and that key.
fn parse_modes(
    p: &mut Params<'_>,
    vocab: &AuthParams,
) -> Result<(Vec<AuthMode>, &'static str), Invalid> {
    let mut found: Option<(&'static str, String)> = None;
    for key in vocab.modes_keys {
        if let Some(raw) = p.optional_str(key)? {
            if let Some((first, _)) = &found {
                return Err(p.error(key, format!("set only one of {first} and {key}")));
            }
            found = Some((key, raw));
        }
    }
    let default_key = vocab.modes_keys.first().copied().unwrap_or("authModes");
    let Some((key, raw)) = found else {
        return Ok((Vec::new(), default_key));
    };
    let names: Vec<&str> = vocab.modes.iter().map(|m| m.name()).collect();
    let mut modes = Vec::new();
    let mut ok = true;
    for mode in raw.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match vocab.modes.iter().find(|m| m.name() == mode) {
            Some(m) if !modes.contains(m) => modes.push(*m),
            Some(_) => {}
            None => {
                p.error(
                    key,
                    format!("unknown auth mode {mode:?}; expected {}", listed(&names)),
                );
                ok = false;
            }
        }
    }
    if ok { Ok((modes, key)) } else { Err(Invalid) }
}

fn required_secret(
    p: &mut Params<'_>,
    name: &str,
    key: &str,
    mode: AuthMode,
) -> Result<Secret, Invalid> {
    match p.secret(name)? {
        Some(s) => Ok(s),
        None => Err(p.error(name, format!("required by {key} {}", mode.name()))),
    }
}

/// Reads the auth modes and the parameters of each, reporting every problem at once.
pub(crate) fn parse_auth(p: &mut Params<'_>, vocab: &AuthParams) -> Result<Auth, Invalid> {
    let (modes, key) = parse_modes(p, vocab)?;
    let has = |m| modes.contains(&m);

    let credentials = match (has(AuthMode::Bearer), has(AuthMode::Basic)) {
        (true, true) => Err(p.error(key, "bearer and basic cannot be combined")),
        (true, false) => parse_bearer(p, vocab, key).map(Credentials::Bearer),
        (false, true) => {
            let username = required_secret(p, "username", key, AuthMode::Basic);
            let password = p.secret("password");
            match (username, password) {
                (Ok(username), Ok(password)) => Ok(Credentials::Basic { username, password }),
                _ => Err(Invalid),
            }
        }
        (false, false) => Ok(Credentials::None),
    };
    let tls = if has(AuthMode::Tls) {
        parse_tls(p, key).map(Some)
    } else {
        Ok(None)
    };
    let custom = if has(AuthMode::Custom) {
        parse_custom(p, key).map(Some)
    } else {
        Ok(None)
    };
    let api_key = if has(AuthMode::ApiKey) {
        parse_api_key(p, key).map(Some)
    } else {
        Ok(None)
    };
    Ok(Auth {
        credentials: credentials?,
        tls: tls?,
        custom: custom?,
        api_key: api_key?,
    })
}

fn parse_bearer(p: &mut Params<'_>, vocab: &AuthParams, key: &str) -> Result<Secret, Invalid> {
    for name in vocab.bearer_token {
        if p.is_set(name) {
            return required_secret(p, name, key, AuthMode::Bearer);
        }
    }
    let first = vocab.bearer_token.first().copied().unwrap_or("bearerToken");
    required_secret(p, first, key, AuthMode::Bearer)
}

fn parse_tls(p: &mut Params<'_>, key: &str) -> Result<TlsAuth, Invalid> {
    let cert = p.secret("cert");
    let pem_key = p.secret("key");
    let ca = p.optional_str("ca");
    let (cert, pem_key, ca) = (cert?, pem_key?, ca?);
    let client = match (cert, pem_key) {
        (Some(cert), Some(key)) => {
            let identity = ClientIdentity::new(cert, key);
            if reqwest::Identity::from_pem(&identity.pem()).is_err() {
                // Say nothing about the content: it is a private key.
                return Err(p.error("cert", "cert and key are not a PEM certificate and key"));
            }
            Some(identity)
        }
        (Some(_), None) => {
            return Err(p.error("key", format!("required by {key} tls when cert is set")));
        }
        (None, Some(_)) => {
            return Err(p.error("cert", format!("required by {key} tls when key is set")));
        }
        (None, None) if ca.is_none() => {
            return Err(p.error(
                "cert",
                format!("required by {key} tls (with key), unless ca is set"),
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

fn parse_custom(p: &mut Params<'_>, key: &str) -> Result<CustomAuth, Invalid> {
    let header = required_secret(p, "customAuthHeader", key, AuthMode::Custom);
    let value = required_secret(p, "customAuthValue", key, AuthMode::Custom);
    let (header, value) = (header?, value?);
    let name = parse_header_name(p, "customAuthHeader", header.expose());
    let value = parse_header_value(p, "customAuthValue", header.expose(), value.expose());
    Ok(CustomAuth {
        header: name?,
        value: value?,
    })
}

fn parse_api_key(p: &mut Params<'_>, key: &str) -> Result<ApiKey, Invalid> {
    let secret = required_secret(p, "apiKey", key, AuthMode::ApiKey);
    let method = p.one_of("method", &["header", "query"]);
    let name = p.optional_str("keyParamName");
    let (secret, method, name) = (secret?, method?, name?);
    if method.as_deref() == Some("query") {
        return Ok(ApiKey::Query {
            name: name.unwrap_or_else(|| DEFAULT_KEY_QUERY.to_owned()),
            value: secret,
        });
    }
    let name = name.unwrap_or_else(|| DEFAULT_KEY_HEADER.to_owned());
    let header = parse_header_name(p, "keyParamName", &name);
    let value = parse_header_value(p, "apiKey", &name, secret.expose());
    Ok(ApiKey::Header {
        name: header?,
        value: value?,
    })
}

#[cfg(test)]
mod tests {
    use super::listed;

    #[test]
    fn lists_read_like_prose() {
        assert_eq!(listed(&[]), "");
        assert_eq!(listed(&["a"]), "a");
        assert_eq!(listed(&["a", "b"]), "a or b");
        assert_eq!(listed(&["a", "b", "c"]), "a, b or c");
    }
}
