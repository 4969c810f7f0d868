//! The journal of requests, and what tests reconstruct from it.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::faults::path_matches;

/// One request the fake server received, with its answer.
///
/// A watch is one entry, recorded when it opens (its status is that of the opening answer,
/// 200 also when it then carries an `ERROR` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The request body as text (lossy UTF-8; empty for none).
    pub body: String,
    /// The HTTP status answered.
    pub status: u16,
    /// When the request arrived (tokio time, so paused clocks apply).
    pub received: Instant,
    /// When it was answered, after any injected delay; a write took effect then.
    pub answered: Instant,
}

impl JournalEntry {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// Whether the method changes state (`POST`, `PUT`, `PATCH`, `DELETE`).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// Whether the answer was a 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the request is a watch (`watch=1` or `watch=true` in its query).
    pub fn is_watch(&self) -> bool {
        self.query.as_deref().is_some_and(|q| {
            q.split('&')
                .any(|pair| pair == "watch=1" || pair == "watch=true")
        })
    }

    /// Whether the request has this method (`"*"` for any) and its path matches `pattern`
    /// (see [`path_matches`]).
    pub fn matches(&self, method: &str, pattern: &str) -> bool {
        (method == "*" || self.method.eq_ignore_ascii_case(method))
            && path_matches(pattern, &self.path)
    }
}

impl fmt::Display for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.status)
    }
}

/// One holder's term of a Lease, as [`FakeApiServer::lease_terms`] reconstructs it.
///
/// [`FakeApiServer::lease_terms`]: super::FakeApiServer::lease_terms
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTerm {
    /// The holder's identity.
    pub holder: String,
    /// When its first write as holder took effect.
    pub from: Instant,
    /// When the next holder's (or the release's) write took effect, or its last renewal plus
    /// the lease duration, whichever is earlier.
    pub until: Instant,
}

impl LeaseTerm {
    /// Whether `at` falls within the term.
    pub fn covers(&self, at: Instant) -> bool {
        self.from <= at && at <= self.until
    }
}

/// The terms of Lease `name`, from the journal's successful `POST`s to `collection` and `PUT`s
/// of `collection/name`.
pub(super) fn lease_terms(
    journal: &[JournalEntry],
    collection: &str,
    name: &str,
) -> Vec<LeaseTerm> {
    let object_path = format!("{collection}/{name}");
    let writes: Vec<(Option<String>, Duration, Instant)> = journal
        .iter()
        .filter(|e| e.succeeded())
        .filter(|e| {
            (e.method == "PUT" && e.path == object_path)
                || (e.method == "POST" && e.path == collection)
        })
        .filter_map(|e| {
            let body = e.json()?;
            if e.method == "POST" && body["metadata"]["name"] != name {
                return None;
            }
            let holder = body["spec"]["holderIdentity"]
                .as_str()
                .filter(|h| !h.is_empty())
                .map(str::to_owned);
            let seconds = body["spec"]["leaseDurationSeconds"].as_u64().unwrap_or(0);
            Some((holder, Duration::from_secs(seconds), e.answered))
        })
        .collect();
    let mut terms: Vec<LeaseTerm> = Vec::new();
    let mut open: Option<(LeaseTerm, Instant)> = None; // the term and its expiry
    for (holder, duration, at) in writes {
        match (&mut open, holder) {
            (Some((term, expiry)), Some(h)) if term.holder == h && at <= *expiry => {
                *expiry = at + duration;
            }
            (current, holder) => {
                if let Some((mut term, expiry)) = current.take() {
                    term.until = expiry.min(at);
                    terms.push(term);
                }
                *current = holder.map(|holder| {
                    let term = LeaseTerm {
                        holder,
                        from: at,
                        until: at + duration,
                    };
                    (term, at + duration)
                });
            }
        }
    }
    if let Some((mut term, expiry)) = open {
        term.until = expiry;
        terms.push(term);
    }
    terms
}
