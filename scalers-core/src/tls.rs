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

/// A rustls client configuration for `settings`, with the aws-lc-rs provider: the platform's
/// verifier with `ca` as extra roots (the rule above), or no verification of the certificate
/// with `unsafe_ssl` (handshake signatures are still checked), and the client certificate if
/// any. No ALPN: callers that need it set `alpn_protocols`.
///
/// Reads the system's root certificates, so call it on first use, not at build time. The key
/// must not be encrypted (a `key_password` is not applied here).
///
/// # Errors
/// A [`rustls::Error`] when `ca`, `cert` or `key` is not PEM, or the platform verifier or the
/// client certificate cannot be set up.
#[cfg(feature = "rustls")]
pub fn rustls_client_config(settings: &TlsSettings) -> Result<rustls::ClientConfig, rustls::Error> {
    use std::sync::Arc;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if settings.unsafe_ssl {
        Arc::new(accept_any::AcceptAnyCertificate(provider.clone()))
    } else {
        let extra = match &settings.ca {
            Some(pem) => CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| rustls::Error::General("ca is not PEM".to_owned()))?,
            None => Vec::new(),
        };
        Arc::new(rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra,
            provider.clone(),
        )?)
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &settings.client {
        None => Ok(builder.with_no_client_auth()),
        Some(identity) => {
            let certs = CertificateDer::pem_slice_iter(identity.cert.expose().as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| rustls::Error::General("cert is not PEM".to_owned()))?;
            let key = PrivateKeyDer::from_pem_slice(identity.key.expose().as_bytes())
                .map_err(|_| rustls::Error::General("key is not PEM".to_owned()))?;
            builder.with_client_auth_cert(certs, key)
        }
    }
}

#[cfg(feature = "rustls")]
mod accept_any {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    /// `unsafeSsl`: any server certificate is accepted; handshake signatures are still
    /// checked, so the peer holds the key of the certificate it shows.
    #[derive(Debug)]
    pub(super) struct AcceptAnyCertificate(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
