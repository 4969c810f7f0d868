//! A tiny real HTTP/1.1 server on 127.0.0.1:0 for failure and header tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// A request the stub received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as sent: path and raw (still encoded) query string.
    pub target: String,
    /// Header names (lowercased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// Whether the client presented a certificate (TLS stubs only).
    pub client_certificate: bool,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query string's `name=value` pairs, still URL-encoded, in order.
    pub fn raw_query_pairs(&self) -> Vec<(String, String)> {
        let Some((_, query)) = self.target.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (p.to_owned(), String::new()),
            })
            .collect()
    }

    /// The still-encoded value of query parameter `name`, if present.
    pub fn raw_query(&self, name: &str) -> Option<String> {
        self.raw_query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What the stub does with each request.
#[derive(Clone, Debug)]
enum Behavior {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    NeverAnswer,
}

#[derive(Default)]
struct Journal {
    requests: Mutex<Vec<RecordedRequest>>,
    connections: AtomicUsize,
    failed_handshakes: AtomicUsize,
}

/// TLS settings of a stub: its certificate, and the CA its clients must present a certificate
/// from, if any. All PEM.
#[derive(Clone, Debug)]
pub struct StubTls {
    /// The server's certificate chain.
    pub cert_chain: String,
    /// The server's private key.
    pub key: String,
    /// When set, clients must present a certificate issued by this CA.
    pub client_ca: Option<String>,
}

impl StubTls {
    fn acceptor(&self) -> TlsAcceptor {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_chain.as_bytes())
                .collect::<Result<_, _>>()
                .expect("stub certificate chain in PEM");
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes()).expect("stub key in PEM");
        let builder = rustls::ServerConfig::builder();
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots
                        .add(cert.expect("client CA in PEM"))
                        .expect("client CA");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .expect("client certificate verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(certs, key)
            .expect("stub certificate and key");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A real HTTP server on a free loopback port that records what it receives.
///
/// It speaks just enough HTTP/1.1 for a client under test: keep-alive, `Content-Length`
/// bodies. It answers every request the same way, or never answers (for timeout tests). It
/// stops when dropped.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let stub = scalers_testkit::HttpStub::respond(503, "text/plain", "down").await;
/// assert!(stub.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(stub.connections(), 0);
/// # }
/// ```
pub struct HttpStub {
    addr: SocketAddr,
    tls: bool,
    journal: Arc<Journal>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for HttpStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStub")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpStub {
    /// A stub answering every request with this status, content type and body.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn respond(status: u16, content_type: &str, body: impl Into<String>) -> HttpStub {
        HttpStub::start(
            Behavior::Respond {
                status,
                headers: vec![("content-type".to_owned(), content_type.to_owned())],
                body: body.into(),
            },
            None,
        )
        .await
    }

    /// A stub answering every request with this redirect status and `location`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn redirect(status: u16, location: &str) -> HttpStub {
        HttpStub::start(
            Behavior::Respond {
                status,
                headers: vec![("location".to_owned(), location.to_owned())],
                body: String::new(),
            },
            None,
        )
        .await
    }

    /// A stub answering every request over TLS with this status, content type and body.
    ///
    /// # Panics
    /// When no loopback port can be bound or the TLS material does not load.
    pub async fn respond_tls(
        tls: &StubTls,
        status: u16,
        content_type: &str,
        body: impl Into<String>,
    ) -> HttpStub {
        HttpStub::start(
            Behavior::Respond {
                status,
                headers: vec![("content-type".to_owned(), content_type.to_owned())],
                body: body.into(),
            },
            Some(tls.acceptor()),
        )
        .await
    }

    /// A stub answering every request `200 OK` with this JSON body.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn json(body: impl Into<String>) -> HttpStub {
        HttpStub::respond(200, "application/json", body).await
    }

    /// A stub that accepts connections, reads requests and never answers.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn never_answer() -> HttpStub {
        HttpStub::start(Behavior::NeverAnswer, None).await
    }

    async fn start(behavior: Behavior, tls: Option<TlsAcceptor>) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the HTTP stub");
        let addr = listener
            .local_addr()
            .expect("local address of the HTTP stub");
        let journal = Arc::new(Journal::default());
        let is_tls = tls.is_some();
        let task = tokio::spawn(accept_loop(listener, behavior, tls, journal.clone()));
        HttpStub {
            addr,
            tls: is_tls,
            journal,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`, or `https://…` for a TLS stub.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.journal
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many TCP connections it has accepted.
    pub fn connections(&self) -> usize {
        self.journal.connections.load(Ordering::SeqCst)
    }

    /// How many TLS handshakes failed (TLS stubs only).
    pub fn failed_handshakes(&self) -> usize {
        self.journal.failed_handshakes.load(Ordering::SeqCst)
    }
}

async fn accept_loop(
    listener: TcpListener,
    behavior: Behavior,
    tls: Option<TlsAcceptor>,
    journal: Arc<Journal>,
) {
    // Owned by this task: aborting the task drops the set, which aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                journal.connections.fetch_add(1, Ordering::SeqCst);
                let (behavior, journal) = (behavior.clone(), journal.clone());
                match tls.clone() {
                    None => connections.spawn(serve(stream, false, behavior, journal)),
                    Some(acceptor) => connections.spawn(async move {
                        match acceptor.accept(stream).await {
                            Ok(stream) => {
                                let client_cert = stream.get_ref().1.peer_certificates().is_some();
                                serve(stream, client_cert, behavior, journal).await;
                            }
                            Err(_) => {
                                journal.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }),
                };
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve<S>(stream: S, client_certificate: bool, behavior: Behavior, journal: Arc<Journal>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut stream, client_certificate).await else {
            return;
        };
        journal
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        match &behavior {
            Behavior::NeverAnswer => std::future::pending::<()>().await,
            Behavior::Respond {
                status,
                headers,
                body,
            } => {
                let reason = reqwest::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Unknown");
                let mut response = format!("HTTP/1.1 {status} {reason}\r\n");
                for (name, value) in headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
                let out = stream.get_mut();
                if out.write_all(response.as_bytes()).await.is_err() || out.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one request (line, headers, `Content-Length` body); `None` at end of stream.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    client_certificate: bool,
) -> Option<RecordedRequest> {
    let mut line = String::new();
    if stream.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    stream.take(length).read_to_end(&mut body).await.ok()?;
    Some(RecordedRequest {
        method,
        target,
        headers,
        client_certificate,
    })
}

/// An `http://127.0.0.1:<port>` URL where nothing listens, so connecting is refused; see
/// [`refused_address`].
///
/// # Panics
/// When no loopback port can be bound.
pub fn refused_url() -> String {
    format!("http://{}", refused_address())
}

/// A `127.0.0.1:<port>` address where nothing listens, so connecting is refused.
///
/// The port was free a moment ago; another process could take it in between, which is
/// unlikely enough on loopback for tests.
///
/// # Panics
/// When no loopback port can be bound.
pub fn refused_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").to_string()
}
