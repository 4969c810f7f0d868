//! The admin HTTP server: `/livez`, `/readyz`, `/metrics` and `/status`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::watch;

use crate::daemon::metrics::Metrics;
use crate::daemon::status::StatusStore;

/// What the admin handlers read.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The objects' status.
    pub status: Arc<StatusStore>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// True once the config is loaded and (outside dry runs) the cluster answered.
    pub ready: watch::Receiver<bool>,
}

/// The admin routes, without a socket (tests call it directly).
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(state)
}

async fn readyz(State(s): State<AdminState>) -> Response {
    if *s.ready.borrow() {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(s): State<AdminState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

/// `/status?scaledObject=namespace/name` narrows the answer to one object.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusQuery {
    scaled_object: Option<String>,
}

async fn status(State(s): State<AdminState>, Query(q): Query<StatusQuery>) -> Response {
    let snapshot = match q.scaled_object {
        Some(key) => {
            let one = s.status.snapshot_of(&key);
            if one.objects.is_empty() {
                return (StatusCode::NOT_FOUND, format!("no scaled object {key:?}\n"))
                    .into_response();
            }
            one
        }
        None => s.status.snapshot(),
    };
    axum::Json(snapshot).into_response()
}
