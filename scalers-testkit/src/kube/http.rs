//! The HTTP side: the request handler (faults, dispatch, journal) and the listener that can
//! make the server unreachable.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::answers::injected;
use super::faults::FaultAction;
use super::journal::JournalEntry;
use super::requests::{Params, Reply, expired_watch, flag};
use super::resources::FakeResource;
use super::store::{Store, lock};
use super::tally::audit_verb;
use super::watch::WatchMsg;

pub(super) async fn handle(State(store): State<Arc<Mutex<Store>>>, request: Request) -> Response {
    let received = Instant::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let params: Params = Query::try_from_uri(request.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let watch = method == "GET" && flag(&params, "watch");
    let (content_type, user_agent) = {
        let header = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (header(header::CONTENT_TYPE), header(header::USER_AGENT))
    };
    let body = axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .unwrap_or_default();

    let action = {
        let mut s = lock(&store);
        let fault = s
            .faults
            .iter_mut()
            .find(|f| f.matches(&method, &path, user_agent.as_deref(), watch));
        fault.map(|f| {
            if let Some(n) = f.remaining.as_mut() {
                *n -= 1;
            }
            f.action
        })
    };
    if let Some(FaultAction::Delay(d)) = action {
        tokio::time::sleep(d).await;
    }
    let reply = match action {
        Some(FaultAction::Status(code)) => Reply::Answer(injected(code, &method, &path)),
        Some(FaultAction::Expired) => {
            let asked = params.get("resourceVersion").cloned().unwrap_or_default();
            let current = lock(&store).version;
            let message = format!("too old resource version: {asked} ({current})");
            let status = FakeResource::plain("", "v1", "Status", "status");
            Reply::Watch(expired_watch(status, message))
        }
        _ => {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            lock(&store).dispatch(&method, &path, &params, content_type.as_deref(), &body)
        }
    };
    let status = match &reply {
        Reply::Answer((status, _)) => *status,
        Reply::Watch(_) => StatusCode::OK,
    };
    let entry = JournalEntry {
        method,
        path,
        query,
        content_type,
        user_agent,
        body: String::from_utf8_lossy(&body).into_owned(),
        status: status.as_u16(),
        received,
        answered: Instant::now(),
    };
    {
        let mut s = lock(&store);
        let (verb, resource) = audit_verb(&entry.method, &entry.path, watch);
        *s.tally.entry(format!("{verb} {resource}")).or_default() += 1;
        if s.journaling {
            s.journal.push(entry);
        }
    }
    let json = [(header::CONTENT_TYPE, "application/json")];
    match reply {
        Reply::Answer((status, answer)) => (status, json, answer.to_string()).into_response(),
        Reply::Watch(stream) => (status, json, stream.into_body(store.clone())).into_response(),
    }
}

/// Whether the server is reachable; going down ends every connection open then.
#[derive(Debug)]
pub(super) struct Gate {
    /// Bumped each time the server goes down: connections from before fail.
    epoch: watch::Sender<u64>,
    /// `Some(until)` while down (`None`: until told otherwise).
    down: Mutex<Option<Option<Instant>>>,
}

impl Gate {
    pub(super) fn new() -> Self {
        Gate {
            epoch: watch::Sender::new(0),
            down: Mutex::new(None),
        }
    }

    fn is_down(&self) -> bool {
        match *self.down.lock().unwrap_or_else(|e| e.into_inner()) {
            None => false,
            Some(None) => true,
            Some(Some(until)) => Instant::now() < until,
        }
    }

    /// Down until `until` (or until [`Gate::up`]); open connections and watches fail now.
    pub(super) fn down(&self, until: Option<Instant>, store: &Mutex<Store>) {
        *self.down.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
        self.epoch.send_modify(|e| *e += 1);
        for w in lock(store).watchers.drain(..) {
            let _ = w.tx.send(WatchMsg::Abort);
        }
    }

    pub(super) fn up(&self) {
        *self.down.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The server's listener: while the gate is down, connections are accepted and closed at
/// once.
pub(super) struct GatedListener {
    pub(super) inner: TcpListener,
    pub(super) gate: Arc<Gate>,
}

impl axum::serve::Listener for GatedListener {
    type Io = GatedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, address) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors and the like: wait, as axum's own listener does.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            if self.gate.is_down() {
                drop(stream);
                continue;
            }
            let mut epochs = self.gate.epoch.subscribe();
            let epoch = *epochs.borrow_and_update();
            let dead = Box::pin(async move {
                let _ = epochs.wait_for(|e| *e != epoch).await;
            });
            let io = GatedStream {
                inner: stream,
                dead,
                is_dead: false,
            };
            return (io, address);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails once the server goes down after it was accepted.
pub(super) struct GatedStream {
    inner: TcpStream,
    dead: Pin<Box<dyn Future<Output = ()> + Send>>,
    is_dead: bool,
}

impl GatedStream {
    fn dead(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.is_dead && self.dead.as_mut().poll(cx).is_ready() {
            self.is_dead = true;
        }
        self.is_dead
    }
}

fn reset() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "fake API server unreachable",
    )
}

impl AsyncRead for GatedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.dead(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.dead(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.dead(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
