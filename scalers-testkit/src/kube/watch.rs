//! Open watches: which changes each one gets, and the newline-delimited JSON stream that
//! carries them (with bookmarks and a timeout).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::resources::FakeResource;
use super::selector::Selector;
use super::store::{Change, Key, Store, lock};

/// What an open watch's stream gets next.
#[derive(Debug)]
pub(super) enum WatchMsg {
    /// One event line (JSON and a newline).
    Line(String),
    /// The connection fails (the server became unreachable).
    Abort,
}

/// An open watch: the changes it selects go to its stream.
#[derive(Debug)]
pub(super) struct Watcher {
    pub(super) resource: FakeResource,
    /// Only this namespace (else all, or the resource is cluster-scoped).
    pub(super) namespace: Option<String>,
    pub(super) selector: Selector,
    pub(super) tx: mpsc::UnboundedSender<WatchMsg>,
}

impl Watcher {
    fn selects(&self, key: &Key, object: Option<&Value>) -> bool {
        object.is_some_and(|o| {
            self.namespace
                .as_deref()
                .is_none_or(|ns| key.namespace == ns)
                && self.selector.matches(o)
        })
    }

    /// The event this watch sees for `change`, if any: an object that starts (stops)
    /// matching the selector is ADDED (DELETED) for this watch, as the real server does.
    pub(super) fn event(&self, change: &Change) -> Option<String> {
        if !self.resource.same(&change.key) {
            return None;
        }
        let before = self.selects(&change.key, change.before.as_ref());
        let after = self.selects(&change.key, change.after.as_ref());
        let kind = match (before, after) {
            (false, false) => return None,
            (false, true) => "ADDED",
            (true, false) => "DELETED",
            (true, true) => "MODIFIED",
        };
        Some(event_line(kind, &change.object()))
    }

    /// Sends `change` if this watch selects it; whether the watch is still open.
    pub(super) fn offer(&self, change: &Change) -> bool {
        match self.event(change) {
            Some(line) => self.tx.send(WatchMsg::Line(line)).is_ok(),
            None => !self.tx.is_closed(),
        }
    }
}

/// `{"type": kind, "object": object}` and a newline.
pub(super) fn event_line(kind: &str, object: &Value) -> String {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    line
}

/// A BOOKMARK event: an object of the resource's kind with only `metadata.resourceVersion`
/// (and, ending the initial events of `sendInitialEvents`, the `k8s.io/initial-events-end`
/// annotation).
pub(super) fn bookmark_line(resource: &FakeResource, version: u64, initial_end: bool) -> String {
    let mut object = json!({
        "kind": resource.kind,
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": version.to_string()},
    });
    if initial_end {
        object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line("BOOKMARK", &object)
}

/// How an accepted watch streams.
#[derive(Debug)]
pub(super) struct WatchStream {
    pub(super) resource: FakeResource,
    pub(super) rx: mpsc::UnboundedReceiver<WatchMsg>,
    /// Lines sent first: the initial events, or the replay of the history.
    pub(super) pending: VecDeque<String>,
    pub(super) bookmarks: Option<Duration>,
    /// When `timeoutSeconds` ends it.
    pub(super) deadline: Option<Instant>,
    /// Whether it ends after `pending` (a 410 `ERROR` event).
    pub(super) closing: bool,
}

struct Streaming {
    watch: WatchStream,
    store: Arc<Mutex<Store>>,
    ticks: Option<tokio::time::Interval>,
    done: bool,
}

impl WatchStream {
    /// The chunked response body: events as they come, until the deadline, the server ends
    /// the watch or the client goes away.
    pub(super) fn into_body(self, store: Arc<Mutex<Store>>) -> Body {
        let ticks = self.bookmarks.map(|period| {
            let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        let state = Streaming {
            watch: self,
            store,
            ticks,
            done: false,
        };
        Body::from_stream(futures_util::stream::unfold(state, next_chunk))
    }
}

async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "fake API server unreachable",
    )
}

async fn next_chunk(mut s: Streaming) -> Option<(Result<Bytes, io::Error>, Streaming)> {
    if s.done {
        return None;
    }
    if !s.watch.pending.is_empty() {
        let chunk: String = s.watch.pending.drain(..).collect();
        s.done = s.watch.closing;
        return Some((Ok(Bytes::from(chunk)), s));
    }
    tokio::select! {
        msg = s.watch.rx.recv() => match msg {
            Some(WatchMsg::Line(line)) => Some((Ok(Bytes::from(line)), s)),
            Some(WatchMsg::Abort) => {
                s.done = true;
                Some((Err(aborted()), s))
            }
            None => None,
        },
        () = tick(&mut s.ticks) => {
            // Every change up to `version` is in the channel already (changes are sent under
            // the store's lock): send them before the bookmark that passes them.
            let version = lock(&s.store).version;
            let mut chunk = String::new();
            while let Ok(msg) = s.watch.rx.try_recv() {
                match msg {
                    WatchMsg::Line(line) => chunk.push_str(&line),
                    WatchMsg::Abort => {
                        s.done = true;
                        return Some((Err(aborted()), s));
                    }
                }
            }
            chunk.push_str(&bookmark_line(&s.watch.resource, version, false));
            Some((Ok(Bytes::from(chunk)), s))
        }
        () = until(s.watch.deadline) => None,
    }
}
