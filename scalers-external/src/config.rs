//! The trigger's parameters, parsed and validated from KEDA's metadata.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use scalers_core::config::model::MetricType;
use scalers_core::secret::redact_url;
use scalers_core::trigger::{Invalid, Params};

/// Default of `timeout`: KEDA's `KEDA_HTTP_DEFAULT_TIMEOUT`, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 3000;

/// Suffix of the metadata keys that name an environment variable.
const FROM_ENV: &str = "FromEnv";

/// Whether the trigger only polls (`external`) or also listens for pushes (`external-push`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `type: external`: `GetMetrics` and `IsActive` at every poll.
    Pull,
    /// `type: external-push`: as `Pull`, plus a `StreamIsActive` stream whose `true` messages
    /// ask for an evaluation at once.
    Push,
}

/// The parsed parameters of one `external` or `external-push` trigger.
///
/// Built by [`ExternalConfig::from_params`], which checks everything checkable offline.
/// `Debug` shows the metadata keys sent to the scaler but not their values (a `<key>FromEnv`
/// may resolve to a credential), and never shows TLS material.
#[derive(Clone, PartialEq)]
pub struct ExternalConfig {
    /// Pull or push.
    pub mode: Mode,
    /// `scalerAddress`: where the scaler listens.
    pub address: ScalerAddress,
    /// TLS, when `enableTLS` is true or TLS material is given; `None`: plaintext HTTP/2.
    pub tls: Option<TlsSettings>,
    /// `timeout`: deadline of each call (milliseconds in the metadata); default 3000 ms.
    pub timeout: Duration,
    /// `targetValue` (ours, not KEDA's): the target per replica, used instead of the one
    /// `GetMetricSpec` returns; the trigger then reports the raw metric.
    pub target_value: Option<f64>,
    /// How the target is read (the trigger's `metricType`); default `AverageValue`.
    pub metric_type: MetricType,
    /// Name of the scaled object, sent in `ScaledObjectRef.name`.
    pub name: String,
    /// Namespace of the scaled object, sent in `ScaledObjectRef.namespace`.
    pub namespace: String,
    /// The trigger's metadata as sent in `ScaledObjectRef.scalerMetadata`: as written, with the
    /// value of each `<key>FromEnv` resolved (see [`ExternalConfig::from_params`]).
    pub scaler_metadata: BTreeMap<String, String>,
}

impl fmt::Debug for ExternalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalConfig")
            .field("mode", &self.mode)
            .field("address", &self.address)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .field("target_value", &self.target_value)
            .field("metric_type", &self.metric_type)
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("scaler_metadata", &self.scaler_metadata.keys())
            .finish()
    }
}

/// A scaler's address, KEDA's `scalerAddress`: a gRPC target as grpc-go reads it, made by
/// [`ScalerAddress::parse`], so it always forms a valid URI.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScalerAddress {
    host: String,
    port: u16,
}

/// The port grpc-go's DNS resolver dials when a target names none.
pub const DEFAULT_GRPC_PORT: u16 = 443;

impl ScalerAddress {
    /// Parses a gRPC target the way grpc-go (KEDA's client) does with its default `dns`
    /// scheme.
    ///
    /// Accepted: `host`, `host:port`, an IPv4 address with or without a port, an IPv6 address
    /// bare (`::1`) or in brackets (`[::1]`, `[::1]:6000`), and each of these after `dns:///`
    /// or `dns:`. Without a port, grpc-go's default 443 is used; an empty host (`:6000`) is
    /// `localhost`, as in grpc-go. Refused, as grpc-go refuses them: a colon with no port
    /// after it (`scaler:`) and anything that is not a host and port (`http://scaler:6000`).
    /// Stricter than grpc-go, which leaves these to fail when dialling: a port outside
    /// 1–65535, a host name with characters DNS names cannot have, brackets around something
    /// that is not an IPv6 address, and a DNS server in the target (`dns://8.8.8.8/scaler`,
    /// which scalers cannot honour: names resolve through the system resolver).
    ///
    /// ```
    /// use scalers_external::ScalerAddress;
    ///
    /// assert_eq!(ScalerAddress::parse("scaler.jobs").unwrap().to_string(), "scaler.jobs:443");
    /// assert_eq!(ScalerAddress::parse("dns:///[::1]:6000").unwrap().to_string(), "[::1]:6000");
    /// ```
    ///
    /// # Errors
    /// A description of what is wrong, for a config error.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        // Shown without userinfo or query string, should someone paste a URL with credentials.
        let bad = || {
            format!(
                "expected a gRPC target (host, host:port, [ipv6]:port or dns:///host:port), \
                 got {:?}",
                redact_url(trimmed)
            )
        };
        let endpoint = match trimmed.strip_prefix("dns:") {
            None => trimmed,
            Some(rest) => match rest.strip_prefix("//") {
                None => rest,
                Some(rest) => match rest.split_once('/') {
                    Some(("", endpoint)) => endpoint,
                    Some(_) => {
                        return Err(format!(
                            "{:?}: a DNS server in the target is not supported; \
                             write dns:///host:port",
                            redact_url(trimmed)
                        ));
                    }
                    None => return Err(bad()),
                },
            },
        };
        let (host, port) = split_target(endpoint).ok_or_else(bad)?;
        let valid_host = if host.contains(':') || endpoint.starts_with('[') {
            host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            host.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0);
        let address = match (valid_host, port) {
            (true, Some(port)) => ScalerAddress {
                host: host.to_owned(),
                port,
            },
            _ => return Err(bad()),
        };
        match tonic::transport::Uri::try_from(format!("http://{}", address.authority())) {
            Ok(_) => Ok(address),
            Err(_) => Err(bad()),
        }
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URI authority: `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ScalerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

impl fmt::Debug for ScalerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// Splits a target's endpoint into host and port as grpc-go's DNS resolver does: a bare IP
/// address takes the default port; otherwise `host:port` (brackets around an IPv6 address),
/// an empty host meaning `localhost`, and when that fails `host` alone with the default port.
/// `None` for an empty endpoint, a colon without a port, or what is neither form.
fn split_target(endpoint: &str) -> Option<(&str, String)> {
    if endpoint.is_empty() {
        return None;
    }
    if endpoint.parse::<std::net::IpAddr>().is_ok() {
        return Some((endpoint, DEFAULT_GRPC_PORT.to_string()));
    }
    let split = |s: &str| -> Option<(String, String)> {
        // Go's net.SplitHostPort: `[host]:port`, or `host:port` with one colon.
        if let Some(v6) = s.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            let port = after.strip_prefix(':')?;
            (!port.contains([':', '[', ']'])).then(|| (host.to_owned(), port.to_owned()))
        } else {
            let (host, port) = s.split_once(':')?;
            (!port.contains(':') && !host.contains(['[', ']']))
                .then(|| (host.to_owned(), port.to_owned()))
        }
    };
    let (host, port) = match split(endpoint) {
        Some((_, port)) if port.is_empty() => return None,
        Some(found) => found,
        None => split(&format!("{endpoint}:{DEFAULT_GRPC_PORT}"))?,
    };
    let host = if host.is_empty() {
        "localhost"
    } else {
        // The host is a slice of the endpoint (brackets and port removed).
        let start = endpoint.find(host.as_str())?;
        &endpoint[start..start + host.len()]
    };
    Some((host, port))
}

/// How the channel speaks TLS: KEDA's `enableTLS`, `unsafeSsl`, `caCert`, `tlsClientCert` and
/// `tlsClientKey`, in the settings every trigger shares.
///
/// The server certificate is checked against the system's roots plus `ca`, unless
/// `unsafe_ssl` (see [`scalers_core::tls`]). PEM material is kept as given (and checked to
/// parse at build time).
pub use scalers_core::tls::TlsSettings;

pub use scalers_core::tls::ClientIdentity;

impl ExternalConfig {
    /// Reads and checks the trigger's parameters, reporting every problem at once.
    ///
    /// - `scalerAddress` (required): a gRPC target, see [`ScalerAddress::parse`].
    /// - `enableTLS`, `unsafeSsl` (booleans, default false); `caCert`, `tlsClientCert`,
    ///   `tlsClientKey` (PEM, usually from a TriggerAuthentication). As in KEDA, TLS is used
    ///   when `enableTLS` is true or any TLS material is given.
    /// - `timeout` (milliseconds, default 3000) and `targetValue` (ours; greater than 0).
    /// - `scalerMetadata` is the whole `metadata` map. As in KEDA, the value of each
    ///   `<key>FromEnv` entry is replaced by what it resolves to, and the entry is left out when
    ///   it resolves to nothing (an unset or empty variable is not a config error). The resolved
    ///   value is also sent under `<key>` itself, unless `<key>` is written in the metadata.
    ///   Resolution is [`Params`]'s: metadata, then authentication parameters, then the
    ///   environment variable.
    ///
    /// No I/O happens here: PEM material is only parsed; the channel connects on the first
    /// sample.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p` with its path, for example
    /// `metadata.scalerAddress: required parameter is missing`.
    pub fn from_params(p: &mut Params<'_>, mode: Mode) -> Result<Self, Invalid> {
        let address = p
            .required_str("scalerAddress")
            .and_then(|raw| ScalerAddress::parse(&raw).map_err(|e| p.error("scalerAddress", e)));
        let enable_tls = p.bool_or("enableTLS", false);
        let unsafe_ssl = p.bool_or("unsafeSsl", false);
        let ca = p.optional_str("caCert").and_then(|ca| check_ca(p, ca));
        let client = client_identity(p);
        let timeout = p.u64_or("timeout", DEFAULT_TIMEOUT_MS).and_then(|ms| {
            if ms > 0 {
                Ok(Duration::from_millis(ms))
            } else {
                Err(p.error("timeout", "must be greater than 0, got 0"))
            }
        });
        let target_value = p.optional_f64("targetValue").and_then(|t| match t {
            Some(t) if t <= 0.0 => {
                Err(p.error("targetValue", format!("must be greater than 0, got {t}")))
            }
            t => Ok(t),
        });
        let scaler_metadata = scaler_metadata(p);

        let (enable_tls, unsafe_ssl, ca, client) = (enable_tls?, unsafe_ssl?, ca?, client?);
        let tls = (enable_tls || ca.is_some() || client.is_some()).then_some(TlsSettings {
            ca,
            client,
            unsafe_ssl,
        });
        Ok(ExternalConfig {
            mode,
            address: address?,
            tls,
            timeout: timeout?,
            target_value: target_value?,
            metric_type: p.spec().metric_type,
            name: p.object().name.clone(),
            namespace: p.object().namespace.clone(),
            scaler_metadata,
        })
    }
}

/// The metadata as sent to the scaler, with `<key>FromEnv` values resolved.
fn scaler_metadata(p: &mut Params<'_>) -> BTreeMap<String, String> {
    // Every key goes to the scaler, so none is unread.
    p.read_all_metadata();
    let written = p.spec().metadata.clone();
    let mut sent = BTreeMap::new();
    for (key, value) in &written {
        let Some(name) = key.strip_suffix(FROM_ENV).filter(|n| !n.is_empty()) else {
            sent.insert(key.clone(), value.clone());
            continue;
        };
        // `is_set` records nothing: an unset variable drops the entry, as in KEDA, instead of
        // failing the build (the variable may exist only where the daemon runs).
        let resolved = if p.is_set(name) {
            p.optional_str(name).ok().flatten()
        } else {
            None
        };
        if let Some(resolved) = resolved.filter(|v| !v.is_empty()) {
            if written.get(name).is_none_or(|v| v.is_empty()) {
                sent.insert(name.to_owned(), resolved.clone());
            }
            sent.insert(key.clone(), resolved);
        }
    }
    sent
}

fn check_ca(p: &mut Params<'_>, ca: Option<String>) -> Result<Option<String>, Invalid> {
    let Some(pem) = ca else { return Ok(None) };
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    if certs.is_ok_and(|certs| are_certificates(&certs)) {
        Ok(Some(pem))
    } else {
        Err(p.error("caCert", "expected PEM certificates"))
    }
}

/// Whether `certs` is not empty and each is an X.509 certificate (parsed as trust anchors).
fn are_certificates(certs: &[CertificateDer<'static>]) -> bool {
    let mut scratch = rustls::RootCertStore::empty();
    !certs.is_empty() && certs.iter().all(|c| scratch.add(c.clone()).is_ok())
}

fn client_identity(p: &mut Params<'_>) -> Result<Option<ClientIdentity>, Invalid> {
    let cert = p.secret("tlsClientCert");
    let key = p.secret("tlsClientKey");
    let (cert, key) = match (cert?, key?) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(p.error("tlsClientKey", "required when tlsClientCert is set"));
        }
        (None, Some(_)) => {
            return Err(p.error("tlsClientCert", "required when tlsClientKey is set"));
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    // Messages say nothing about the content: it is a private key.
    let certs = CertificateDer::pem_slice_iter(cert.expose().as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|c| are_certificates(c));
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let parsed_key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes())
        .ok()
        .filter(|k| {
            provider
                .key_provider
                .load_private_key(k.clone_key())
                .is_ok()
        });
    let (certs, parsed_key) = match (certs, parsed_key) {
        (Some(certs), Some(parsed_key)) => (certs, parsed_key),
        (certs, parsed_key) => {
            if certs.is_none() {
                p.error("tlsClientCert", "expected a PEM certificate chain");
            }
            if parsed_key.is_none() {
                p.error("tlsClientKey", "expected a PEM private key");
            }
            return Err(Invalid);
        }
    };
    match CertifiedKey::from_der(certs, parsed_key, &provider) {
        Ok(_) => Ok(Some(ClientIdentity::new(cert, key))),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(p.error("tlsClientKey", "is not the key of tlsClientCert"))
        }
        Err(_) => Err(p.error("tlsClientCert", "expected a PEM certificate chain")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_go_target_syntax_is_accepted_with_its_default_port() {
        let ok = |s: &str| ScalerAddress::parse(s).map(|a| a.authority());
        for (target, authority) in [
            ("scaler.ns:6000", "scaler.ns:6000"),
            ("scaler", "scaler:443"),
            (
                "scaler.jobs.svc.cluster.local",
                "scaler.jobs.svc.cluster.local:443",
            ),
            (" dns:///scaler:6000 ", "scaler:6000"),
            ("dns:///scaler", "scaler:443"),
            ("dns:scaler:6000", "scaler:6000"),
            ("127.0.0.1:1", "127.0.0.1:1"),
            ("127.0.0.1", "127.0.0.1:443"),
            ("[::1]:6000", "[::1]:6000"),
            ("[::1]", "[::1]:443"),
            ("::1", "[::1]:443"),
            ("fe80::1:2", "[fe80::1:2]:443"),
            ("dns:///[2001:db8::1]:6000", "[2001:db8::1]:6000"),
            (":6000", "localhost:6000"),
        ] {
            assert_eq!(ok(target), Ok(authority.to_owned()), "{target}");
        }
    }

    #[test]
    fn targets_grpc_go_refuses_are_refused() {
        let ok = |s: &str| ScalerAddress::parse(s).map(|a| a.authority());
        for bad in [
            "",
            "dns:///",
            "scaler:",
            "[::1]:",
            "scaler:0",
            "scaler:65536",
            "scaler:http",
            "http://scaler:6000",
            "[nope]:6000",
            "[::1]6000",
            "scaler/x:6000",
            "a:b:c",
        ] {
            assert_eq!(
                ok(bad),
                Err(format!(
                    "expected a gRPC target (host, host:port, [ipv6]:port or dns:///host:port), \
                     got {bad:?}"
                )),
                "{bad}"
            );
        }
        assert_eq!(
            ok("dns://8.8.8.8/scaler:6000"),
            Err(
                "\"dns://8.8.8.8/scaler:6000\": a DNS server in the target is not supported; \
                 write dns:///host:port"
                    .to_owned()
            )
        );
    }
}
