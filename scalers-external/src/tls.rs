//! TLS for channels: rustls with the aws-lc-rs provider, and a connector for tonic.
//!
//! tonic's own TLS cannot skip certificate verification (KEDA's `unsafeSsl`), so the crate
//! connects TLS itself and hands tonic the encrypted stream; tonic is built without TLS
//! features.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::transport::Uri;

use crate::config::TlsSettings;

/// A rustls client for `settings` (see [`scalers_core::tls::rustls_client_config`]) with ALPN
/// `h2`, which gRPC servers require.
///
/// Reads the system's root certificates, so it runs on first use, not at build time.
pub(crate) fn client_config(settings: &TlsSettings) -> Result<ClientConfig, rustls::Error> {
    let mut config = scalers_core::tls::rustls_client_config(settings)?;
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
