//! The embedding example's program (`embed_engine.rs` runs it; a test runs it too).

use std::sync::Arc;
use std::time::Duration;

use scalers_core::Timestamp;
use scalers_core::config::model::{
    Behavior, HorizontalPodAutoscalerConfig, ScaledObject, ScalingRules, TriggerSpec,
};
use scalers_core::scale_loop::ScaleLoop;
use scalers_core::trigger::BuiltTrigger;

use crate::worker_pool::{Backlog, BacklogTrigger, WorkerPool};

/// Puts 60 items in a backlog and lets the engine scale a [`WorkerPool`] up to drain it, then
/// back to zero, ticking every `every`; `out` receives one line per tick.
///
/// # Errors
/// When the pool has not drained the backlog and scaled to zero after 40 ticks.
pub async fn run_demo(every: Duration, mut out: impl FnMut(String)) -> anyhow::Result<()> {
    let backlog = Arc::new(Backlog::default());
    let pool = Arc::new(WorkerPool::new(backlog.clone(), Duration::from_millis(50)));

    // The scaled object, in code: 0..8 workers, 10 items per worker, quick scale-down.
    let mut object = ScaledObject::new("local-workers", "pool");
    object.min_replica_count = 0;
    object.max_replica_count = 8;
    object.cooldown_period = 1;
    object.advanced.horizontal_pod_autoscaler_config = Some(HorizontalPodAutoscalerConfig {
        name: None,
        behavior: Some(Behavior {
            scale_up: None,
            scale_down: Some(ScalingRules {
                stabilization_window_seconds: Some(1),
                ..ScalingRules::default()
            }),
        }),
    });
    object.triggers.push(TriggerSpec::new("backlog"));
    let trigger = BuiltTrigger {
        name: "backlog".into(),
        trigger_type: "backlog".into(),
        trigger: Arc::new(BacklogTrigger {
            backlog: backlog.clone(),
            per_worker: 10.0,
        }),
    };

    let start = tokio::time::Instant::now();
    let now = || Timestamp::from_millis(u64::try_from(start.elapsed().as_millis()).unwrap_or(0));
    let mut scale_loop = ScaleLoop::new(object, vec![trigger], pool.clone(), now())?;

    backlog.push(60);
    let mut ticks = tokio::time::interval(every);
    let mut peak = 0;
    for _ in 0..40 {
        ticks.tick().await;
        let report = scale_loop.tick(now()).await;
        if let Some(d) = report.decision() {
            peak = peak.max(d.desired);
            out(format!(
                "t={} backlog={} workers {} -> {}: {}",
                now(),
                backlog.len(),
                d.current,
                d.desired,
                d.reason
            ));
        }
        if peak > 1 && backlog.is_empty() && pool.size().await == 0 {
            out(format!(
                "backlog drained by up to {peak} workers; pool scaled to zero"
            ));
            return Ok(());
        }
    }
    anyhow::bail!("the pool did not drain the backlog and scale to zero in time")
}
