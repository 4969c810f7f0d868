//! A real external scaler for the tests (a tonic gRPC server on a free loopback port, plain or
//! TLS) whose answers the test controls, and helpers that build triggers the way scalerd does.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use scalers_core::config::model::{ScaledObject, TriggerSpec};
use scalers_core::trigger::{BuiltTrigger, Registry};
use scalers_external::proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use scalers_external::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use scalers_external::{ChannelPool, PushBackoff};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::server::Connected;
use tonic::{Code, Request, Response, Status};

/// The test TLS material (see `tests/tls/README.md`).
pub(crate) fn pem(name: &str) -> String {
    let path = format!("{}/tests/tls/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One call the scaler received.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    /// The method.
    pub method: &'static str,
    /// The scaled object reference it carried.
    pub object: ScaledObjectRef,
    /// `GetMetrics`'s metric name (empty for the other methods).
    pub metric_name: String,
}

/// What the scaler answers; the test changes it at will.
#[derive(Default)]
struct State {
    specs: Mutex<Vec<MetricSpec>>,
    values: Mutex<Vec<MetricValue>>,
    active: Mutex<bool>,
    /// Methods that fail, with the status they return.
    failures: Mutex<BTreeMap<&'static str, (Code, String)>>,
    /// How long unary calls take.
    delay: Mutex<Duration>,
    calls: Mutex<Vec<Call>>,
    /// One sender per open `StreamIsActive` stream.
    streams: Mutex<Vec<mpsc::UnboundedSender<Result<IsActiveResponse, Status>>>>,
    stream_opens: AtomicUsize,
}

#[derive(Clone)]
struct Service(Arc<State>);

impl Service {
    async fn unary(
        &self,
        method: &'static str,
        object: ScaledObjectRef,
        metric_name: String,
    ) -> Result<(), Status> {
        self.0.calls.lock().unwrap().push(Call {
            method,
            object,
            metric_name,
        });
        let delay = *self.0.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match self.0.failures.lock().unwrap().get(method) {
            Some((code, message)) => Err(Status::new(*code, message.clone())),
            None => Ok(()),
        }
    }
}

type PushStream = Pin<Box<dyn Stream<Item = Result<IsActiveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalScaler for Service {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        self.unary("IsActive", request.into_inner(), String::new())
            .await?;
        let result = *self.0.active.lock().unwrap();
        Ok(Response::new(IsActiveResponse { result }))
    }

    type StreamIsActiveStream = PushStream;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<PushStream>, Status> {
        self.0.calls.lock().unwrap().push(Call {
            method: "StreamIsActive",
            object: request.into_inner(),
            metric_name: String::new(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.streams.lock().unwrap().push(tx);
        self.0.stream_opens.fetch_add(1, Ordering::SeqCst);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        self.unary("GetMetricSpec", request.into_inner(), String::new())
            .await?;
        let metric_specs = self.0.specs.lock().unwrap().clone();
        Ok(Response::new(GetMetricSpecResponse { metric_specs }))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let request = request.into_inner();
        let object = request.scaled_object_ref.unwrap_or_default();
        self.unary("GetMetrics", object, request.metric_name)
            .await?;
        let metric_values = self.0.values.lock().unwrap().clone();
        Ok(Response::new(GetMetricsResponse { metric_values }))
    }
}

/// A server-side connection, plain or TLS, that tonic can serve.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Connected for Io {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// TLS settings of a test scaler: its certificate, and whether clients must present one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerTls {
    /// Server certificate only.
    ServerOnly,
    /// Clients must present a certificate issued by the test CA.
    Mutual,
}

impl ServerTls {
    fn acceptor(self) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pem("server.pem").as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(pem("server.key").as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder();
        let builder = match self {
            ServerTls::ServerOnly => builder.with_no_client_auth(),
            ServerTls::Mutual => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem("ca.pem").as_bytes()) {
                    roots.add(cert.unwrap()).unwrap();
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// A real external scaler on a free loopback port: answers what the test sets, records the
/// calls, pushes what the test pushes. Stops (listener and connections) when dropped.
pub(crate) struct FakeScaler {
    addr: SocketAddr,
    state: Arc<State>,
    server: Option<JoinHandle<()>>,
    /// Clones of the accepted sockets, to cut them as a crash would.
    sockets: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl FakeScaler {
    /// A plaintext scaler on a free port: metric `queue` with target 10, no value, inactive.
    pub(crate) async fn start() -> FakeScaler {
        Self::start_with(None, "127.0.0.1:0".parse().unwrap(), Arc::default()).await
    }

    /// A TLS scaler on a free port (certificate for 127.0.0.1 and localhost).
    pub(crate) async fn start_tls(tls: ServerTls) -> FakeScaler {
        Self::start_with(Some(tls), "127.0.0.1:0".parse().unwrap(), Arc::default()).await
    }

    async fn start_with(tls: Option<ServerTls>, addr: SocketAddr, state: Arc<State>) -> FakeScaler {
        if state.specs.lock().unwrap().is_empty() {
            *state.specs.lock().unwrap() = vec![spec("queue", 0, 10.0)];
        }
        let listener = TcpListener::bind(addr).await.expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tls.map(ServerTls::acceptor);
        let kept = sockets.clone();
        let incoming = futures_util::stream::unfold(listener, move |listener| {
            let kept = kept.clone();
            let acceptor = acceptor.clone();
            async move {
                let accepted: io::Result<Io> = async {
                    let (tcp, _) = listener.accept().await?;
                    let std = tcp.into_std()?;
                    kept.lock().unwrap().push(std.try_clone()?);
                    let tcp = TcpStream::from_std(std)?;
                    match acceptor {
                        None => Ok(Io::Plain(tcp)),
                        Some(acceptor) => Ok(Io::Tls(Box::new(acceptor.accept(tcp).await?))),
                    }
                }
                .await;
                Some((accepted, listener))
            }
        });
        let service = ExternalScalerServer::new(Service(state.clone()));
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .serve_with_incoming(service, incoming)
                .await;
        });
        FakeScaler {
            addr,
            state,
            server: Some(server),
            sockets,
        }
    }

    /// Stops listening and cuts every connection (as a crash would), then starts a new server
    /// on the same port with the same answers.
    pub(crate) async fn restart(mut self) -> FakeScaler {
        let server = self.server.take().unwrap();
        server.abort();
        // the listener is freed once the aborted task is gone
        let _ = server.await;
        self.cut_connections();
        let (addr, state) = (self.addr, self.state.clone());
        drop(self);
        state.streams.lock().unwrap().clear();
        Self::start_with(None, addr, state).await
    }

    fn cut_connections(&self) {
        for socket in self.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Sets `GetMetricSpec`'s answer.
    pub(crate) fn set_specs(&self, specs: Vec<MetricSpec>) {
        *self.state.specs.lock().unwrap() = specs;
    }

    /// Sets `GetMetrics`'s answer.
    pub(crate) fn set_values(&self, values: Vec<MetricValue>) {
        *self.state.values.lock().unwrap() = values;
    }

    /// Sets `IsActive`'s answer.
    pub(crate) fn set_active(&self, active: bool) {
        *self.state.active.lock().unwrap() = active;
    }

    /// Makes `method` fail with this status (or succeed again with `None`).
    pub(crate) fn fail(&self, method: &'static str, status: Option<(Code, &str)>) {
        let mut failures = self.state.failures.lock().unwrap();
        match status {
            Some((code, message)) => failures.insert(method, (code, message.to_owned())),
            None => failures.remove(method),
        };
    }

    /// Makes every unary call take this long.
    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// The calls received so far.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The methods called so far, in order.
    pub(crate) fn methods(&self) -> Vec<&'static str> {
        self.calls().into_iter().map(|c| c.method).collect()
    }

    /// Sends `result` on every open `StreamIsActive` stream; returns how many got it.
    pub(crate) fn push(&self, result: bool) -> usize {
        let mut streams = self.state.streams.lock().unwrap();
        streams.retain(|s| s.send(Ok(IsActiveResponse { result })).is_ok());
        streams.len()
    }

    /// How many `StreamIsActive` streams are open (their client has not gone away).
    pub(crate) fn open_streams(&self) -> usize {
        let mut streams = self.state.streams.lock().unwrap();
        streams.retain(|s| !s.is_closed());
        streams.len()
    }

    /// How many `StreamIsActive` streams were ever opened.
    pub(crate) fn stream_opens(&self) -> usize {
        self.state.stream_opens.load(Ordering::SeqCst)
    }

    /// Ends every open stream with an OK status (a clean end).
    pub(crate) fn close_streams(&self) {
        self.state.streams.lock().unwrap().clear();
    }
}

impl Drop for FakeScaler {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.cut_connections();
    }
}

/// A metric spec.
pub(crate) fn spec(name: &str, target_size: i64, target_size_float: f64) -> MetricSpec {
    MetricSpec {
        metric_name: name.to_owned(),
        target_size,
        target_size_float,
    }
}

/// A metric value.
pub(crate) fn value(metric_value: i64, metric_value_float: f64) -> MetricValue {
    MetricValue {
        metric_name: "queue".to_owned(),
        metric_value,
        metric_value_float,
    }
}

/// A scaled object `shop/worker` with one trigger of type `trigger_type` and this metadata.
pub(crate) fn object(trigger_type: &str, metadata: &[(&str, &str)]) -> ScaledObject {
    let mut spec = TriggerSpec::new(trigger_type);
    for (k, v) in metadata {
        spec.metadata.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut object = ScaledObject::new("worker", "worker");
    object.namespace = "shop".to_owned();
    object.triggers.push(spec);
    object
}

/// Push backoff for tests: 50 ms doubling to 400 ms.
pub(crate) const FAST: PushBackoff = PushBackoff {
    initial: Duration::from_millis(50),
    max: Duration::from_millis(400),
};

/// A registry with both types on `pool`, with [`FAST`] push backoff.
pub(crate) fn registry(pool: &ChannelPool) -> Registry {
    let mut registry = Registry::new();
    scalers_external::register_with(&mut registry, pool.clone(), FAST);
    registry
}

/// Builds trigger 0 of `object` through `registry`, with authentication parameters and
/// environment. Errors come back as `path: message` lines.
pub(crate) fn build_in(
    registry: &Registry,
    object: &ScaledObject,
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<String>> {
    scalers_testkit::build_object_trigger(registry, object, auth, env)
        .map_err(|errors| errors.into_iter().map(|e| e.to_string()).collect())
}

/// Builds an `external` trigger with this metadata through a fresh registry.
pub(crate) fn build(
    trigger_type: &str,
    metadata: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<String>> {
    build_in(
        &registry(&ChannelPool::new()),
        &object(trigger_type, metadata),
        &[],
        &[],
    )
}
