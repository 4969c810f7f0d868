//! # scalers-testkit
//!
//! Test support for scalers, used only as a dev-dependency: real services on loopback and the
//! helpers tests wait and observe with.
//!
//! - [`eventually`]: poll until a condition holds, with a deadline — the way tests wait (never a
//!   fixed sleep).
//! - [`PrometheusServices`]: Prometheus scraping a Pushgateway every second, from `.ci/run`
//!   (`SCALERS_TEST_PROMETHEUS_URL`, `SCALERS_TEST_PUSHGATEWAY_URL`) or started once per test
//!   binary from the Debian packages `prometheus` and `prometheus-pushgateway`; with
//!   [`PrometheusServices::push_metric`] and [`PrometheusServices::wait_for_query`].
//! - [`HttpStub`]: a tiny real HTTP server recording requests and answering a fixed response,
//!   or never answering; [`refused_url`] for connection-refused tests.
//! - [`unique_name`]: names for metrics, jobs and keys that no other test uses, since tests run
//!   in parallel against shared services.

mod eventually;
mod http_stub;
mod prometheus;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use eventually::{Attempt, eventually};
pub use http_stub::{HttpStub, RecordedRequest, StubTls, refused_url};
pub use prometheus::{PROMETHEUS_URL_ENV, PUSHGATEWAY_URL_ENV, PrometheusServices};

/// `<prefix>_<pid>_<time>_<n>`: a name (valid as a Prometheus metric, label value, job name or
/// key) that no other test, in this process or another, uses.
///
/// # Examples
/// ```
/// let a = scalers_testkit::unique_name("queue");
/// let b = scalers_testkit::unique_name("queue");
/// assert!(a.starts_with("queue_") && a != b);
/// ```
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    format!("{prefix}_{}_{micros}_{n}", std::process::id())
}
