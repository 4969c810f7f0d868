//! TLS settings every trigger shares, and the one rule for `ca`.
//!
//! KEDA's triggers take their TLS material inline (PEM strings in the trigger's metadata or its
//! TriggerAuthentication: `ca`, `cert`, `key`, `keyPassword`, `unsafeSsl`; the external trigger
//! names them `caCert`, `tlsClientCert`, `tlsClientKey`). Each trigger crate parses its own
//! parameter names into a [`TlsSettings`] and hands it to its client library.
//!
//! # The rule for `ca`
//!
//! **`ca` adds to the system's trusted roots; it never replaces them.** A server certificate
//! is accepted when it chains to a certificate in `ca` *or* to one of the roots the system
//! trusts (the platform store: on Linux the OpenSSL bundle and directory, honouring
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`). This is what KEDA does for every trigger: its shared
//! TLS helper starts from the system pool and appends `ca` to it. `unsafe_ssl` turns
//! verification off altogether, whatever `ca` holds.
//!
//! How each crate applies the rule with its client library:
//! - HTTP (reqwest, platform verifier): `ca` is merged into the platform's roots;
//! - gRPC (rustls, platform verifier): `ca` is given as extra roots;
//! - Redis (redis-rs over rustls): the system roots are loaded and `ca` is appended to them;
//! - Kafka (librdkafka over OpenSSL): `ssl.ca.location` names the system's bundle and
//!   `ssl.ca.pem` adds `ca` to the same store.

use std::fmt;

use crate::secret::Secret;

/// How a trigger's connection speaks TLS: the trusted CAs, a client certificate, and whether
/// to verify the server at all.
///
/// Two triggers whose settings are equal may share one connection (clients are pooled by
/// endpoint, credentials and these settings). `Debug` shows neither the key nor the PEM.
///
/// # Examples
///
/// ```
/// use scalers_core::tls::TlsSettings;
///
/// let tls = TlsSettings { ca: Some("-----BEGIN CERTIFICATE-----…".into()), ..TlsSettings::default() };
/// assert!(!tls.unsafe_ssl);
/// assert!(format!("{tls:?}").contains("bytes of PEM"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// `ca` (`caCert` for the external trigger): extra trusted CA certificates, in PEM, added
    /// to the system roots (see the [module docs](self) for the rule).
    pub ca: Option<String>,
    /// `cert` and `key` (and `keyPassword`): a client certificate for mutual TLS.
    pub client: Option<ClientIdentity>,
    /// `unsafeSsl`: accept any server certificate and host name; default false.
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

/// A client certificate chain and its private key, in PEM; `Debug` shows neither.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    /// `cert` (`tlsClientCert`): the certificate chain.
    pub cert: Secret,
    /// `key` (`tlsClientKey`): the private key.
    pub key: Secret,
    /// `keyPassword`: the key's password when `key` is still encrypted; `None` when it is
    /// not (the Redis trigger decrypts the key while parsing, and leaves this `None`).
    pub key_password: Option<Secret>,
}

impl ClientIdentity {
    /// An identity whose key is not encrypted.
    pub fn new(cert: Secret, key: Secret) -> Self {
        Self {
            cert,
            key,
            key_password: None,
        }
    }

    /// The certificate chain and key as one PEM document (the form reqwest reads).
    pub fn pem(&self) -> Vec<u8> {
        format!("{}\n{}\n", self.cert.expose(), self.key.expose()).into_bytes()
    }
}
