//! The trigger's parameters, parsed and validated from KEDA's metadata.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use scalers_core::config::model::MetricType;
use scalers_core::secret::{Secret, redact_url};
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

/// A scaler's address: `host:port`, as in KEDA's `scalerAddress`; made by
/// [`ScalerAddress::parse`], so it always forms a valid URI.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScalerAddress {
    host: String,
    port: u16,
}

impl ScalerAddress {
    /// Parses `host:port`, `[ipv6]:port`, or gRPC's `dns:///host:port`.
    ///
    /// The port is required (gRPC's implicit 443 hides a forgotten port).
    ///
    /// # Errors
    /// A description of what is wrong, for a config error.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let rest = trimmed.strip_prefix("dns:///").unwrap_or(trimmed);
        // Shown without userinfo or query string, should someone paste a URL with credentials.
        let bad = || format!("expected host:port, got {:?}", redact_url(trimmed));
        let (host, port, valid_host) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = after.strip_prefix(':').ok_or_else(bad)?;
            (host, port, host.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            let valid = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            (host, port, valid)
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

/// How the channel speaks TLS: KEDA's `enableTLS`, `unsafeSsl`, `caCert`, `tlsClientCert` and
/// `tlsClientKey`.
///
/// The server certificate is checked against the system's roots plus `ca`, unless
/// `unsafe_ssl`. PEM material is kept as given (and checked to parse at build time).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// `caCert`: extra trusted CA certificates, in PEM.
    pub ca: Option<String>,
    /// `tlsClientCert` and `tlsClientKey`: a client certificate for mutual TLS.
    pub client: Option<ClientIdentity>,
    /// `unsafeSsl`: accept any server certificate.
    pub unsafe_ssl: bool,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field(
                "ca",
                &self
                    .ca
                    .as_ref()
                    .map(|pem| format!("<{} bytes of PEM>", pem.len())),
            )
            .field("client", &self.client)
            .field("unsafe_ssl", &self.unsafe_ssl)
            .finish()
    }
}

/// A client certificate chain and its private key, in PEM.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    /// `tlsClientCert`: the certificate chain.
    pub cert: Secret,
    /// `tlsClientKey`: the private key.
    pub key: Secret,
}

impl ExternalConfig {
    /// Reads and checks the trigger's parameters, reporting every problem at once.
    ///
    /// - `scalerAddress` (required): `host:port` (also `[ipv6]:port`, `dns:///host:port`).
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
        Ok(_) => Ok(Some(ClientIdentity { cert, key })),
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
    fn addresses() {
        let ok = |s: &str| ScalerAddress::parse(s).map(|a| a.authority());
        assert_eq!(ok("scaler.ns:6000"), Ok("scaler.ns:6000".to_owned()));
        assert_eq!(ok(" dns:///scaler:6000 "), Ok("scaler:6000".to_owned()));
        assert_eq!(ok("[::1]:6000"), Ok("[::1]:6000".to_owned()));
        assert_eq!(ok("127.0.0.1:1"), Ok("127.0.0.1:1".to_owned()));
        for bad in [
            "scaler",
            "scaler:",
            "scaler:0",
            "scaler:65536",
            ":6000",
            "http://scaler:6000",
            "::1:6000",
            "[nope]:6000",
            "[::1]6000",
            "scaler/x:6000",
        ] {
            assert_eq!(
                ok(bad),
                Err(format!("expected host:port, got {bad:?}")),
                "{bad}"
            );
        }
    }
}
