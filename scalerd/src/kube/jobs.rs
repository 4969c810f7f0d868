//! The `batch/v1` Jobs of scaled jobs: listed by KEDA's label, created from the template,
//! deleted past the history limits or on a rollout.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams, PropagationPolicy as ApiPolicy};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use scalers_core::config::model::{
    PropagationPolicy, SCALED_JOB_GENERATION_ANNOTATION, SCALED_JOB_NAME_LABEL, ScaledJob,
};

use super::error::{call, call_fenced};
use super::job_pods::PodWatch;
use super::{DEFAULT_REQUEST_TIMEOUT, Fence, KubeError, Operation};

/// `plural.group` of Jobs, for messages.
const JOBS: &str = "jobs.batch";

/// What a Job's status says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// No pod of it runs yet.
    Pending,
    /// A pod of it runs or ran (see [`JobClient::phase`]).
    Running,
    /// Its `Complete` condition is True.
    Succeeded,
    /// Its `Failed` condition is True.
    Failed,
}

impl JobPhase {
    /// Whether the Job has finished (succeeded or failed).
    pub fn finished(self) -> bool {
        matches!(self, JobPhase::Succeeded | JobPhase::Failed)
    }
}

/// One Job of a scaled job, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedJob {
    /// Its name.
    pub name: String,
    /// Its phase.
    pub phase: JobPhase,
    /// The template revision it was created from (annotation
    /// [`SCALED_JOB_GENERATION_ANNOTATION`]), if any.
    pub revision: Option<String>,
    /// When it finished (`completionTime`, else the finishing condition's transition time),
    /// for the history order.
    pub finished_at: Option<Timestamp>,
    /// `creationTimestamp`.
    pub created_at: Option<Timestamp>,
    /// The `uid`s of its owners (`metadata.ownerReferences`).
    pub owners: Vec<String>,
}

/// Lists, creates and deletes the Jobs of scaled jobs, through the shared client: every call
/// has a deadline, writes go only while the fence permits them.
///
/// Jobs are read from a watch-fed cache: one kube-runtime reflector over the Jobs that carry
/// the label `scaledjob.keda.sh/name` (in every namespace), started by the first
/// [`JobClient::list`]; until its first list is complete, [`JobClient::list`] lists through the
/// API. A scaled job's poll then costs no read at all.
///
/// The pods of the Jobs, for the pending count, come from another watch, started only when
/// a scaled job reads them ([`JobClient::pods_of`]).
///
/// Needs `list`, `watch`, `create` and `delete` on `jobs.batch`; `list` and `watch` on `pods`
/// when a scaled job reads them.
#[derive(Clone)]
pub struct JobClient {
    client: Client,
    fence: Fence,
    timeout: Duration,
    /// Watched in each of these namespaces (`--watch-namespace`); in all when empty.
    namespaces: Arc<Vec<String>>,
    /// One cache per watch: `None` for all namespaces.
    caches: Arc<std::sync::Mutex<std::collections::HashMap<Option<String>, Arc<JobCache>>>>,
    /// The watches of the Jobs' pods, by scope as `caches`; started by the first scaled job
    /// that reads pods ([`JobClient::pods_of`]).
    pods: Arc<std::sync::Mutex<std::collections::HashMap<Option<String>, Arc<PodWatch>>>>,
}

/// The reflector store of labelled Jobs, and whether its first list is complete.
struct JobCache {
    store: Store<Job>,
    ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for JobClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobClient").finish_non_exhaustive()
    }
}

impl JobClient {
    /// Jobs through `client`, writes fenced by `fence`.
    pub fn new(client: Client, fence: Fence) -> Self {
        JobClient {
            client,
            fence,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            namespaces: Arc::default(),
            caches: Arc::default(),
            pods: Arc::default(),
        }
    }

    /// The same, watching Jobs only in `namespaces` (one watch each; all namespaces when
    /// empty), as RBAC granted per watched namespace allows.
    pub fn with_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = Arc::new(namespaces);
        self
    }

    /// The cache of labelled Jobs that covers `namespace`, started on first use (on the
    /// current tokio runtime); `None` when `namespace` is not watched.
    fn cache(&self, namespace: &str) -> Option<Arc<JobCache>> {
        let scope = if self.namespaces.is_empty() {
            None
        } else if self.namespaces.iter().any(|n| n == namespace) {
            Some(namespace.to_owned())
        } else {
            return None;
        };
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        let cache = caches.entry(scope.clone()).or_insert_with(|| {
            let api: Api<Job> = match &scope {
                None => Api::all(self.client.clone()),
                Some(ns) => Api::namespaced(self.client.clone(), ns),
            };
            let config = watcher::Config::default().labels(SCALED_JOB_NAME_LABEL);
            let writer = reflector::store::Writer::default();
            let store = writer.as_reader();
            let ready = Arc::new(AtomicBool::new(false));
            let flag = ready.clone();
            let stream = watcher(api, config).default_backoff().reflect(writer);
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    match event {
                        Ok(watcher::Event::InitDone) => flag.store(true, Ordering::Release),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "Job watch failed; retrying"),
                    }
                }
            });
            Arc::new(JobCache { store, ready })
        });
        Some(cache.clone())
    }

    /// The pods of each of `jobs` (Jobs of `namespace`), from the watch of the labelled pods
    /// that covers `namespace` (a watch of that namespace alone when it is not watched),
    /// started on first use; the first call waits for its first list, at most the request
    /// timeout. Needs `list` and `watch` on `pods`.
    ///
    /// # Errors
    /// [`KubeError::Timeout`] when the watch has not listed the pods within the request
    /// timeout (the watch goes on).
    pub async fn pods_of(
        &self,
        namespace: &str,
        jobs: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<scalers_core::job::JobPod>>, KubeError> {
        let scope = if self.namespaces.is_empty() {
            None
        } else {
            Some(namespace.to_owned())
        };
        let watch = {
            let mut watches = self.pods.lock().unwrap_or_else(|e| e.into_inner());
            watches
                .entry(scope.clone())
                .or_insert_with(|| Arc::new(PodWatch::start(&self.client, scope.as_deref())))
                .clone()
        };
        watch.pods_of(namespace, jobs, self.timeout).await
    }

    fn api(&self, namespace: &str) -> Api<Job> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The phase of a Job from its status, as the Job controller writes it: `Complete` or
    /// `Failed` True finishes it; otherwise a ready pod (`status.ready`), a succeeded one
    /// (`status.succeeded`), or an active one (no `ready` field, older servers) makes it
    /// running; else it is pending.
    ///
    /// This is the pending count of the strategies that do not read it (`default`, `custom`),
    /// shown in the status only: KEDA's rule reads the pods (one `Running` or `Succeeded`),
    /// which [`JobClient::pods_of`] gives to those that do. From the Job alone, a pod that
    /// runs but is not ready yet cannot be told from one that waits.
    pub fn phase(job: &Job) -> JobPhase {
        let Some(status) = &job.status else {
            return JobPhase::Pending;
        };
        let holds = |kind: &str| {
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == kind && c.status == "True")
        };
        if holds("Complete") {
            JobPhase::Succeeded
        } else if holds("Failed") {
            JobPhase::Failed
        } else if status.ready.unwrap_or(0) > 0
            || status.succeeded.unwrap_or(0) > 0
            || (status.ready.is_none() && status.active.unwrap_or(0) > 0)
        {
            JobPhase::Running
        } else {
            JobPhase::Pending
        }
    }

    /// Writes a ScaledJob's `status` through its `/status` subresource (a merge patch).
    ///
    /// # Errors
    /// [`KubeError::NotLeading`] when the fence does not permit it, else the [`KubeError`] of
    /// the call.
    pub async fn write_status(
        &self,
        namespace: &str,
        name: &str,
        status: &serde_json::Value,
    ) -> Result<(), KubeError> {
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &scaled_job_resource());
        let patch = serde_json::json!({"status": status});
        call_fenced(
            &self.fence,
            || Operation::object("patch", "scaledjobs.keda.sh", namespace, name).on("status"),
            self.timeout,
            api.patch_status(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            ),
        )
        .await
        .map(|_| ())
    }

    /// The Jobs labelled `scaledjob.keda.sh/name=<job>` in its namespace.
    ///
    /// # Errors
    /// The [`KubeError`] of the list.
    pub async fn list(&self, job: &ScaledJob) -> Result<Vec<ListedJob>, KubeError> {
        if let Some(cache) = self.cache(&job.namespace)
            && cache.ready.load(Ordering::Acquire)
        {
            let mut jobs: Vec<ListedJob> = cache
                .store
                .state()
                .iter()
                .filter(|j| j.metadata.namespace.as_deref() == Some(job.namespace.as_str()))
                .filter(|j| {
                    j.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(SCALED_JOB_NAME_LABEL))
                        == Some(&job.name)
                })
                .map(|j| listed(j))
                .collect();
            jobs.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(jobs);
        }
        self.list_through_api(job).await
    }

    /// The Jobs labelled `scaledjob.keda.sh/name=<job>`, listed through the API.
    ///
    /// # Errors
    /// The [`KubeError`] of the list.
    pub async fn list_through_api(&self, job: &ScaledJob) -> Result<Vec<ListedJob>, KubeError> {
        let selector = format!("{SCALED_JOB_NAME_LABEL}={}", job.name);
        let params = ListParams::default().labels(&selector);
        let list = call(
            || Operation {
                verb: "list",
                resource: JOBS.to_owned(),
                subresource: None,
                name: None,
                namespace: Some(job.namespace.clone()),
            },
            self.timeout,
            self.api(&job.namespace).list(&params),
        )
        .await?;
        Ok(list.items.iter().map(listed).collect())
    }

    /// Creates one Job from `job`'s template (name `<job>-<random>`), with KEDA's labels and
    /// annotations, owned by `owner` when given (cluster mode: the ScaledJob). Returns its name.
    ///
    /// # Errors
    /// [`KubeError::NotLeading`] when the fence does not permit it, else the [`KubeError`] of
    /// the call; a template that is not a Job spec is a [`KubeError::JobTemplate`].
    pub async fn create(
        &self,
        job: &ScaledJob,
        owner: Option<&OwnerReference>,
    ) -> Result<String, KubeError> {
        let object = job_object(job, owner)?;
        let created = call_fenced(
            &self.fence,
            || Operation {
                verb: "create",
                resource: JOBS.to_owned(),
                subresource: None,
                name: None,
                namespace: Some(job.namespace.clone()),
            },
            self.timeout,
            self.api(&job.namespace)
                .create(&PostParams::default(), &object),
        )
        .await?;
        Ok(created.metadata.name.unwrap_or_default())
    }

    /// Deletes the Job `name` with `policy` for its pods; one already gone counts as deleted.
    ///
    /// # Errors
    /// [`KubeError::NotLeading`] when the fence does not permit it, else the [`KubeError`] of
    /// the call.
    pub async fn delete(
        &self,
        namespace: &str,
        name: &str,
        policy: PropagationPolicy,
    ) -> Result<(), KubeError> {
        let params = DeleteParams {
            propagation_policy: Some(match policy {
                PropagationPolicy::Background => ApiPolicy::Background,
                PropagationPolicy::Foreground => ApiPolicy::Foreground,
            }),
            ..DeleteParams::default()
        };
        let deleted = call_fenced(
            &self.fence,
            || Operation::object("delete", JOBS, namespace, name),
            self.timeout,
            self.api(namespace).delete(name, &params),
        )
        .await;
        match deleted {
            Ok(_) | Err(KubeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A listed Job.
fn listed(job: &Job) -> ListedJob {
    let status = job.status.as_ref();
    let finishing = status.and_then(|s| {
        s.conditions
            .iter()
            .flatten()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
    });
    let finished_at = status
        .and_then(|s| s.completion_time.as_ref())
        .or_else(|| finishing.and_then(|c| c.last_transition_time.as_ref()))
        .map(|t| t.0);
    ListedJob {
        name: job.metadata.name.clone().unwrap_or_default(),
        phase: JobClient::phase(job),
        revision: job
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SCALED_JOB_GENERATION_ANNOTATION))
            .cloned(),
        finished_at,
        created_at: job.metadata.creation_timestamp.as_ref().map(|t| t.0),
        owners: job
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| o.uid.clone())
            .collect(),
    }
}

/// The `keda.sh/v1alpha1` ScaledJob resource, for watches and status writes.
pub fn scaled_job_resource() -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "keda.sh".to_owned(),
        version: "v1alpha1".to_owned(),
        api_version: "keda.sh/v1alpha1".to_owned(),
        kind: "ScaledJob".to_owned(),
        plural: "scaledjobs".to_owned(),
    }
}

/// The owner reference of a Job created for the ScaledJob `name` (`uid`): its controller, so
/// that the garbage collector deletes the Job with the ScaledJob, as KEDA's are.
pub fn owner_reference(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "keda.sh/v1alpha1".to_owned(),
        kind: "ScaledJob".to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A ScaledJob's `status` as KEDA writes it: the conditions `(type, status, reason, message)`
/// (`Ready`, `Active`, `Paused`) and `lastActiveTime`; a condition whose status did not change
/// keeps its `lastTransitionTime` from `previous` (the status as the API serves it), else it
/// is `now`.
pub fn scaled_job_status(
    conditions: [(&str, &str, &str, String); 3],
    last_active: Option<&str>,
    previous: &serde_json::Value,
    now: &str,
) -> serde_json::Value {
    let conditions: Vec<serde_json::Value> = conditions
        .into_iter()
        .map(|(kind, status, reason, message)| {
            let before = previous["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|p| p["type"] == kind));
            let since = match before {
                Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
                _ => serde_json::json!(now),
            };
            serde_json::json!({
                "type": kind, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": since,
            })
        })
        .collect();
    let mut out = serde_json::json!({"conditions": conditions});
    if let Some(at) = last_active.or_else(|| previous["lastActiveTime"].as_str()) {
        out["lastActiveTime"] = serde_json::json!(at);
    }
    out
}

/// The Job created for `job`: its template as the spec (`restartPolicy` `OnFailure` when the
/// template has none, as KEDA does), `generateName: <job>-`, and on the Job and its pods the
/// labels `app.kubernetes.io/name`, `app.kubernetes.io/part-of`, `app.kubernetes.io/managed-by`
/// and `scaledjob.keda.sh/name`, then the scaled job's own labels; the annotation
/// `scaledjob.keda.sh/generation` holds the template revision.
///
/// # Errors
/// [`KubeError::JobTemplate`] when the template does not read as a `JobSpec`.
pub fn job_object(job: &ScaledJob, owner: Option<&OwnerReference>) -> Result<Job, KubeError> {
    let invalid = |message: String| KubeError::JobTemplate {
        scaled_job: job.key(),
        message,
    };
    let mut spec_json =
        serde_json::to_value(&job.job_target_ref).map_err(|e| invalid(e.to_string()))?;
    let pod_spec = &mut spec_json["template"]["spec"];
    if pod_spec
        .get("restartPolicy")
        .is_none_or(serde_json::Value::is_null)
    {
        pod_spec["restartPolicy"] = "OnFailure".into();
    }
    let mut spec: JobSpec =
        serde_json::from_value(spec_json).map_err(|e| invalid(e.to_string()))?;
    let mut labels = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), job.name.clone()),
        ("app.kubernetes.io/part-of".to_owned(), job.name.clone()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            super::REPORTING_CONTROLLER.to_owned(),
        ),
        (SCALED_JOB_NAME_LABEL.to_owned(), job.name.clone()),
    ]);
    labels.extend(job.labels.clone());
    // The selector label wins over a scaled job label of the same key.
    labels.insert(SCALED_JOB_NAME_LABEL.to_owned(), job.name.clone());
    let template_meta = spec
        .template
        .metadata
        .get_or_insert_with(ObjectMeta::default);
    template_meta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(SCALED_JOB_NAME_LABEL.to_owned(), job.name.clone());
    Ok(Job {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", job.name)),
            namespace: Some(job.namespace.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                SCALED_JOB_GENERATION_ANNOTATION.to_owned(),
                job.template_revision(),
            )])),
            owner_references: owner.map(|o| vec![o.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}
