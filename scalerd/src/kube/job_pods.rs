//! The pods of scaled jobs' Jobs, for the pending count of `accurate`, `eager` and
//! `pendingPodConditions` ([`scalers_core::job::job_pending`]).
//!
//! One watch of the pods labelled `scaledjob.keda.sh/name` (the label every created Job puts on
//! its pod template, as KEDA's do) per watched namespace, or one for all namespaces; started by
//! the first scaled job that needs it, never per poll. Of each pod it keeps only what the rule
//! reads: the Job it belongs to (its label `batch.kubernetes.io/job-name`, else `job-name`,
//! both set by the Job controller), its phase and the types of its True conditions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use scalers_core::config::model::SCALED_JOB_NAME_LABEL;
use scalers_core::job::JobPod;
use tokio::sync::watch;

use super::{KubeError, Operation};

/// The labels the Job controller puts on a Job's pods with the Job's name, newest first.
const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];

/// The pods of one watch scope: by `(namespace, Job name)`, then by pod name.
#[derive(Debug, Default)]
struct Pods {
    by_job: HashMap<(String, String), BTreeMap<String, JobPod>>,
    /// `(namespace, pod)` → the Job it was filed under, to move or remove it.
    job_of: HashMap<(String, String), String>,
}

impl Pods {
    fn apply(&mut self, pod: &Pod) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.remove(&ns, &name);
        let labels = pod.metadata.labels.as_ref();
        let Some(job) = JOB_NAME_LABELS
            .iter()
            .find_map(|l| labels.and_then(|ls| ls.get(*l)))
        else {
            return;
        };
        let status = pod.status.as_ref();
        let summary = JobPod {
            phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
            true_conditions: status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .filter(|c| c.status == "True")
                .map(|c| c.type_.clone())
                .collect(),
        };
        self.job_of.insert((ns.clone(), name.clone()), job.clone());
        self.by_job
            .entry((ns, job.clone()))
            .or_default()
            .insert(name, summary);
    }

    fn remove(&mut self, ns: &str, name: &str) {
        let Some(job) = self.job_of.remove(&(ns.to_owned(), name.to_owned())) else {
            return;
        };
        let key = (ns.to_owned(), job);
        if let Some(pods) = self.by_job.get_mut(&key) {
            pods.remove(name);
            if pods.is_empty() {
                self.by_job.remove(&key);
            }
        }
    }
}

/// One watch of the labelled pods, and whether its first list is complete.
#[derive(Debug)]
pub(super) struct PodWatch {
    pods: Arc<Mutex<Pods>>,
    ready: watch::Receiver<bool>,
    /// The last failure of the list or watch not yet reported (a 403 without RBAC on pods).
    failure: Arc<Mutex<Option<kube::Error>>>,
    /// Counts the failures, to wake a caller waiting for the first list.
    failures: watch::Receiver<u64>,
}

impl PodWatch {
    /// Starts the watch of the labelled pods in `namespace` (every namespace with `None`), on
    /// the current tokio runtime.
    pub(super) fn start(client: &Client, namespace: Option<&str>) -> Self {
        let api: Api<Pod> = match namespace {
            None => Api::all(client.clone()),
            Some(ns) => Api::namespaced(client.clone(), ns),
        };
        let config = watcher::Config::default().labels(SCALED_JOB_NAME_LABEL);
        let pods = Arc::new(Mutex::new(Pods::default()));
        let (ready_tx, ready) = watch::channel(false);
        let shared = pods.clone();
        let failure = Arc::new(Mutex::new(None));
        let failed = failure.clone();
        let (failures_tx, failures) = watch::channel(0u64);
        let stream = watcher(api, config).default_backoff();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            // A (re)list fills a fresh set, which replaces the old one when complete.
            let mut listing: Option<Pods> = None;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Init) => listing = Some(Pods::default()),
                    Ok(watcher::Event::InitApply(p)) => {
                        listing.get_or_insert_with(Pods::default).apply(&p);
                    }
                    Ok(watcher::Event::InitDone) => {
                        let listed = listing.take().unwrap_or_default();
                        *shared.lock().unwrap_or_else(PoisonError::into_inner) = listed;
                        ready_tx.send_replace(true);
                    }
                    Ok(watcher::Event::Apply(p)) => shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .apply(&p),
                    Ok(watcher::Event::Delete(p)) => shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(
                            p.metadata.namespace.as_deref().unwrap_or_default(),
                            p.metadata.name.as_deref().unwrap_or_default(),
                        ),
                    Err(e) => {
                        tracing::warn!(error = %e, "pod watch failed; retrying");
                        if let watcher::Error::InitialListFailed(e)
                        | watcher::Error::WatchStartFailed(e)
                        | watcher::Error::WatchFailed(e) = e
                        {
                            *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                            failures_tx.send_modify(|n| *n += 1);
                        }
                    }
                }
            }
        });
        PodWatch {
            pods,
            ready,
            failure,
            failures,
        }
    }

    /// The pods of each Job in `jobs` (of `namespace`), once the first list is complete
    /// (waiting at most `timeout` for it, or for the list or watch to fail).
    ///
    /// # Errors
    /// While the first list is not complete: the [`KubeError`] of a failed list or watch not
    /// reported yet (such as [`KubeError::Forbidden`]), else [`KubeError::Timeout`] after
    /// `timeout`.
    pub(super) async fn pods_of(
        &self,
        namespace: &str,
        jobs: &[&str],
        timeout: Duration,
    ) -> Result<HashMap<String, Vec<JobPod>>, KubeError> {
        let mut ready = self.ready.clone();
        let mut failures = self.failures.clone();
        failures.borrow_and_update();
        let pending_failure = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        let listed = *ready.borrow()
            || (!pending_failure
                && tokio::time::timeout(timeout, async {
                    tokio::select! {
                        r = ready.wait_for(|r| *r) => r.is_ok(),
                        _ = failures.changed() => false,
                    }
                })
                .await
                .unwrap_or(false));
        if !listed {
            let operation = Operation {
                verb: "watch",
                resource: "pods".to_owned(),
                subresource: None,
                name: None,
                namespace: Some(namespace.to_owned()),
            };
            let failed = self
                .failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            return Err(match failed {
                Some(e) => KubeError::from_call(operation, e),
                None => KubeError::Timeout {
                    operation: Box::new(operation),
                    after: Some(timeout),
                },
            });
        }
        let pods = self.pods.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(jobs
            .iter()
            .map(|job| {
                let of_job = pods
                    .by_job
                    .get(&(namespace.to_owned(), (*job).to_owned()))
                    .map(|p| p.values().cloned().collect())
                    .unwrap_or_default();
                ((*job).to_owned(), of_job)
            })
            .collect())
    }
}
