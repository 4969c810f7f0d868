//! TLS for channels: rustls with the aws-lc-rs provider, and a connector for tonic.
//!
//! tonic's own TLS cannot skip certificate verification (KEDA's `unsafeSsl`), so the crate
//! connects TLS itself and hands tonic the encrypted stream; tonic is built without TLS
//! features.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::transport::Uri;

use crate::config::TlsSettings;

/// A rustls client for `settings`: system roots plus `ca` (or no verification with
/// `unsafe_ssl`), the client certificate if any, ALPN `h2` (gRPC servers require it).
///
/// Reads the system's root certificates, so it runs on first use, not at build time.
pub(crate) fn client_config(settings: &TlsSettings) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if settings.unsafe_ssl {
        Arc::new(AcceptAnyCertificate(provider.clone()))
    } else {
        let extra = match &settings.ca {
            Some(pem) => CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| rustls::Error::General("caCert is not PEM".to_owned()))?,
            None => Vec::new(),
        };
        Arc::new(rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra,
            provider.clone(),
        )?)
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &settings.client {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let certs = CertificateDer::pem_slice_iter(identity.cert.expose().as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| rustls::Error::General("tlsClientCert is not PEM".to_owned()))?;
            let key = PrivateKeyDer::from_pem_slice(identity.key.expose().as_bytes())
                .map_err(|_| rustls::Error::General("tlsClientKey is not PEM".to_owned()))?;
            builder.with_client_auth_cert(certs, key)?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The boxed future of [`connect`].
type Connecting =
    Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TlsStream<TcpStream>>>> + Send>>;

/// A tonic connector: TCP to the URI's host and port, then a TLS handshake naming that host.
pub(crate) fn connector(
    config: Arc<ClientConfig>,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<TlsStream<TcpStream>>,
    Error = std::io::Error,
    Future = Connecting,
> + Send
+ 'static {
    let connector = TlsConnector::from(config);
    tower::service_fn(move |uri: Uri| -> Connecting {
        let connector = connector.clone();
        Box::pin(async move { connect(&connector, &uri).await })
    })
}

async fn connect(
    connector: &TlsConnector,
    uri: &Uri,
) -> std::io::Result<TokioIo<TlsStream<TcpStream>>> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    let host = uri
        .host()
        .ok_or_else(|| invalid("no host in the address"))?;
    let port = uri
        .port_u16()
        .ok_or_else(|| invalid("no port in the address"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| invalid("the host is not a valid TLS server name"))?;
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let tls = connector.connect(name, tcp).await?;
    Ok(TokioIo::new(tls))
}

/// `unsafeSsl`: any server certificate is accepted; handshake signatures are still checked, so
/// the peer holds the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

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
