//! A [`ScaleTarget`] of one's own: a pool of local worker tasks that drain a shared backlog,
//! grown and shrunk by the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use scalers_core::engine::Replicas;
use scalers_core::target::{ScaleTarget, TargetError};
use scalers_core::trigger::{MetricTarget, Sample, Trigger, TriggerError};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// Items waiting to be processed.
#[derive(Debug, Default)]
pub struct Backlog(AtomicU64);

impl Backlog {
    /// Adds `n` items.
    pub fn push(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes one item, if any.
    pub fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
            .is_ok()
    }

    /// Items waiting.
    pub fn len(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A trigger built in code: the backlog's length, `per_worker` items per replica.
#[derive(Debug)]
pub struct BacklogTrigger {
    /// The backlog watched.
    pub backlog: Arc<Backlog>,
    /// Items one worker should have.
    pub per_worker: f64,
}

#[async_trait]
impl Trigger for BacklogTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.per_worker,
            metric_type: scalers_core::config::model::MetricType::AverageValue,
            activation_threshold: 0.0,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        Ok(Sample::new(self.backlog.len() as f64, 0.0))
    }
}

/// Worker tasks taking items from a backlog, each item taking `work` of time.
#[derive(Debug)]
pub struct WorkerPool {
    backlog: Arc<Backlog>,
    work: Duration,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl WorkerPool {
    /// An empty pool over `backlog`.
    pub fn new(backlog: Arc<Backlog>, work: Duration) -> Self {
        WorkerPool {
            backlog,
            work,
            workers: Mutex::new(Vec::new()),
        }
    }

    /// Workers running now.
    pub async fn size(&self) -> usize {
        self.workers.lock().await.len()
    }
}

#[async_trait]
impl ScaleTarget for WorkerPool {
    async fn replicas(&self) -> Result<Replicas, TargetError> {
        let n = u32::try_from(self.size().await).unwrap_or(u32::MAX);
        Ok(Replicas::settled(n))
    }

    async fn set_replicas(&self, replicas: u32) -> Result<(), TargetError> {
        let mut workers = self.workers.lock().await;
        let wanted = replicas as usize;
        while workers.len() > wanted {
            if let Some(w) = workers.pop() {
                w.abort();
            }
        }
        while workers.len() < wanted {
            let (backlog, work) = (self.backlog.clone(), self.work);
            workers.push(tokio::spawn(async move {
                loop {
                    if backlog.take() {
                        tokio::time::sleep(work).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        Ok(())
    }
}
