//! With `--sharding`: the shard set as the metrics show it. The Leases themselves are held by
//! [`crate::kube::ShardElector`]; each object's loop follows its shard
//! ([`crate::daemon::runner::RunContext::shards`]).

use std::sync::Arc;

use crate::daemon::metrics::Metrics;
use crate::kube::ShardView;

/// Keeps `scalers_shards_held` and `scalers_shard_members` in line with `view`, from a task
/// that runs as long as the process.
pub fn publish(view: Arc<ShardView>, metrics: Arc<Metrics>) {
    let mut changes = view.changes();
    tokio::spawn(async move {
        loop {
            let held = view.held().len();
            let members = view.members().len();
            metrics
                .shards_held
                .set(i64::try_from(held).unwrap_or(i64::MAX));
            metrics
                .shard_members
                .set(i64::try_from(members).unwrap_or(i64::MAX));
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
}
