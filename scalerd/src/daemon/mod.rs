//! `scalerd run`, the daemon, laid out by what each part does:
//!
//! - [`app`]: [`App`] — built from [`RunOptions`] ([`options`]), it starts the admin server, the
//!   leader election and one loop per scaled object, follows its object source and drains on
//!   shutdown;
//! - [`source`]: where scaled objects come from (the config file: loaded once at start,
//!   reloaded on change or SIGHUP);
//! - [`runner`]: one task per scaled object (sample, decide, write, publish);
//! - [`jobs`]: one task per scaled job (sample, count the Jobs, create, clean up), fed by the
//!   config file or, in cluster mode, by [`cluster_jobs`] (KEDA's ScaledJobs, watched);
//! - [`targets`]: where the loops write (the cluster's workloads, in-memory ones, dry runs);
//! - [`status`]: what `/status` shows, written by the loops, read by the admin server;
//! - [`admin`]: the admin server (`/livez`, `/readyz`, `/metrics`, `/status`);
//! - [`metrics`]: the Prometheus metrics;
//! - [`events`]: the Event queue (never blocks a loop);
//! - [`credentials`]: reading credentials at load and again when they rotate;
//! - [`rotation`]: when a loop reads its triggers' credentials again, and which triggers it
//!   replaces;
//! - [`sharding`]: with `--sharding`, what the shard set shows in the metrics.

pub mod admin;
pub mod app;
pub mod cluster;
pub mod cluster_jobs;
pub mod credentials;
pub mod events;
pub mod jobs;
pub mod metrics;
pub mod options;
pub mod rotation;
pub mod runner;
pub mod sharding;
pub mod source;
pub mod status;
pub mod targets;

pub use app::{App, termination};
pub use options::{DEFAULT_ADMIN_ADDR, RunOptions};
pub use targets::{MemoryTargets, Targets};
