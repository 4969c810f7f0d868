//! [`KubeError`]: what talking to the Kubernetes API can fail with.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use scalers_core::target::{TargetError, TargetErrorKind};

/// One API call, for messages: `patch deployments.apps/scale "web" in namespace "shop"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The verb: `get`, `patch`, `create`, `update`, `list`, `discover`.
    pub verb: &'static str,
    /// `plural.group` (`deployments.apps`), `plural` for the core group (`secrets`), or what
    /// is discovered.
    pub resource: String,
    /// The subresource (`scale`), if any.
    pub subresource: Option<&'static str>,
    /// The object's name; none for lists and discovery.
    pub name: Option<String>,
    /// The namespace; none for discovery.
    pub namespace: Option<String>,
}

impl Operation {
    /// A call on one named object in a namespace.
    pub fn object(verb: &'static str, resource: &str, namespace: &str, name: &str) -> Self {
        Operation {
            verb,
            resource: resource.to_owned(),
            subresource: None,
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
        }
    }

    /// The same call on a subresource.
    pub fn on(mut self, subresource: &'static str) -> Self {
        self.subresource = Some(subresource);
        self
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if let Some(sub) = self.subresource {
            write!(f, "/{sub}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns:?}")?;
        }
        Ok(())
    }
}

/// A failure talking to the Kubernetes API.
///
/// Messages name the call and what to check; the client's own error is the `source`. No
/// message ever contains a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeError {
    /// A kubeconfig could not be read, or has no such context.
    #[error("cannot load {}", kubeconfig_what(.path, .context))]
    Kubeconfig {
        /// The file given with `--kubeconfig`; none for the default (`KUBECONFIG`,
        /// `~/.kube/config`).
        path: Option<PathBuf>,
        /// The context given with `--context`.
        context: Option<String>,
        /// Why.
        #[source]
        source: Box<kube::config::KubeconfigError>,
    },
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error(
        "no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a cluster (no service account)"
    )]
    NoConfig(#[source] Box<kube::config::InferConfigError>),
    /// The client could not be built from its config (e.g. bad TLS material).
    #[error("cannot build the kubernetes client")]
    Client(#[source] Box<kube::Error>),
    /// The object does not exist (HTTP 404).
    #[error("{resource} {name:?} not found in namespace {namespace:?}")]
    NotFound {
        /// `plural.group` of the object, e.g. `deployments.apps`.
        resource: String,
        /// Its name.
        name: String,
        /// Its namespace.
        namespace: String,
    },
    /// RBAC does not allow the call (HTTP 403).
    #[error("forbidden: cannot {operation} (check the ClusterRole)")]
    Forbidden {
        /// The call.
        operation: Box<Operation>,
        /// The API's answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// The credentials were refused (HTTP 401).
    #[error("unauthorized: cannot {operation} (check the credentials)")]
    Unauthorized {
        /// The call.
        operation: Box<Operation>,
        /// The API's answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// A write lost the race with other writers (HTTP 409) on every attempt.
    #[error("conflict: cannot {operation}: the object kept changing ({attempts} attempts)")]
    Conflict {
        /// The call.
        operation: Box<Operation>,
        /// How many times it was tried.
        attempts: u32,
        /// The last answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// The API server could not be reached, or answered 429 or 5xx.
    #[error("cannot {operation}: the API server is unavailable{}", http_code(.code))]
    Unavailable {
        /// The call.
        operation: Box<Operation>,
        /// The HTTP status, when the server answered.
        code: Option<u16>,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
    /// The call took too long (our deadline, or the API server's 408/504).
    #[error("cannot {operation}: timed out{}", after.map(|d| format!(" after {d:?}")).unwrap_or_default())]
    Timeout {
        /// The call.
        operation: Box<Operation>,
        /// Our deadline, when it was ours that passed.
        after: Option<Duration>,
    },
    /// A write was not sent: this replica's leader lease is not fresh enough for the request
    /// to be answered before another replica may take over (see [`super::Fence`]).
    #[error("not sent: {operation}: this replica's leader lease is not fresh enough to write")]
    NotLeading {
        /// The call.
        operation: Box<Operation>,
    },
    /// The API server refused the call for another reason (e.g. 400, 422).
    #[error("cannot {operation}: the API server answered {code} {reason}: {message}")]
    Rejected {
        /// The call.
        operation: Box<Operation>,
        /// HTTP status.
        code: u16,
        /// The `Status` reason (`Invalid`, `BadRequest`, ...).
        reason: String,
        /// The `Status` message.
        message: String,
        /// The API's answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// The call failed in the client (a malformed answer, a request that cannot be built).
    #[error("cannot {operation}")]
    Request {
        /// The call.
        operation: Box<Operation>,
        /// Why.
        #[source]
        source: Box<kube::Error>,
    },
    /// `apiVersion`/`kind` names nothing the API server serves.
    #[error(
        "kind {kind:?} of {api_version:?} is not served by the API server (is its CRD installed?)"
    )]
    UnknownKind {
        /// The `apiVersion` asked for.
        api_version: String,
        /// The `kind` asked for.
        kind: String,
    },
    /// The resource exists but cannot be scaled.
    #[error("{resource} ({kind} of {api_version}) has no scale subresource")]
    NoScaleSubresource {
        /// The `apiVersion`.
        api_version: String,
        /// The `kind`.
        kind: String,
        /// Its `plural.group`.
        resource: String,
    },
    /// A replica count does not fit the API's 32-bit field.
    #[error(
        "cannot set {replicas} replicas: more than the API allows ({})",
        i32::MAX
    )]
    TooManyReplicas {
        /// The count asked for.
        replicas: u32,
    },
    /// The Secret exists but has no such key.
    #[error("secret {name:?} in namespace {namespace:?} has no key {key:?} (keys: {})", .keys.join(", "))]
    SecretKeyMissing {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key asked for.
        key: String,
        /// The keys it has (names only, never values).
        keys: Vec<String>,
    },
    /// The ConfigMap exists but has no such key (in `data` nor `binaryData`).
    #[error("config map {name:?} in namespace {namespace:?} has no key {key:?} (keys: {})", .keys.join(", "))]
    ConfigMapKeyMissing {
        /// The ConfigMap's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
        /// The key asked for.
        key: String,
        /// The keys it has (names only, never values).
        keys: Vec<String>,
    },
    /// A scaled job's `jobTargetRef` does not read as a `batch/v1` `JobSpec`.
    #[error("scaled job {scaled_job:?}: jobTargetRef is not a Job spec: {message}")]
    JobTemplate {
        /// `namespace/name` of the scaled job.
        scaled_job: String,
        /// What does not fit.
        message: String,
    },
    /// The Secret's value is not UTF-8 text.
    #[error("secret {name:?} in namespace {namespace:?}: key {key:?} is not valid UTF-8")]
    SecretNotUtf8 {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key.
        key: String,
    },
    /// The ConfigMap's `binaryData` value is not UTF-8 text.
    #[error("config map {name:?} in namespace {namespace:?}: key {key:?} is not valid UTF-8")]
    ConfigMapNotUtf8 {
        /// The ConfigMap's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
        /// The key.
        key: String,
    },
}

fn kubeconfig_what(path: &Option<PathBuf>, context: &Option<String>) -> String {
    let file = match path {
        Some(p) => format!("the kubeconfig {}", p.display()),
        None => "the kubeconfig".to_owned(),
    };
    match context {
        Some(c) => format!("context {c:?} from {file}"),
        None => file,
    }
}

fn http_code(code: &Option<u16>) -> String {
    code.map(|c| format!(" (HTTP {c})")).unwrap_or_default()
}

impl KubeError {
    /// The kind of failure, as the engine and status report it.
    pub fn kind(&self) -> TargetErrorKind {
        match self {
            KubeError::NotFound { .. } | KubeError::UnknownKind { .. } => TargetErrorKind::NotFound,
            KubeError::Forbidden { .. } | KubeError::Unauthorized { .. } => {
                TargetErrorKind::Forbidden
            }
            KubeError::Conflict { .. } => TargetErrorKind::Conflict,
            KubeError::Unavailable { .. } => TargetErrorKind::Unavailable,
            KubeError::Timeout { .. } => TargetErrorKind::Timeout,
            KubeError::NotLeading { .. } => TargetErrorKind::NotLeading,
            _ => TargetErrorKind::Other,
        }
    }

    /// Classifies a failed call: 404 → [`KubeError::NotFound`], 403 → `Forbidden`, 401 →
    /// `Unauthorized`, 409 → `Conflict` (one attempt), 408/504 and client timeouts →
    /// `Timeout`, 429/5xx and connection failures → `Unavailable`, other statuses →
    /// `Rejected`, the rest → `Request`.
    pub(crate) fn from_call(operation: Operation, source: kube::Error) -> Self {
        let status = match &source {
            kube::Error::Api(status) => {
                Some((status.code, status.reason.clone(), status.message.clone()))
            }
            _ => None,
        };
        let timed_out = status.is_none() && timed_out(&source);
        let transport = matches!(source, kube::Error::HyperError(_) | kube::Error::Service(_));
        let (operation, source) = (Box::new(operation), Box::new(source));
        match status {
            Some((404, ..)) if operation.name.is_some() && operation.namespace.is_some() => {
                let Operation {
                    resource,
                    name,
                    namespace,
                    ..
                } = *operation;
                KubeError::NotFound {
                    resource,
                    name: name.unwrap_or_default(),
                    namespace: namespace.unwrap_or_default(),
                }
            }
            Some((403, ..)) => KubeError::Forbidden { operation, source },
            Some((401, ..)) => KubeError::Unauthorized { operation, source },
            Some((409, ..)) => KubeError::Conflict {
                operation,
                attempts: 1,
                source,
            },
            Some((408 | 504, ..)) => KubeError::Timeout {
                operation,
                after: None,
            },
            Some((code @ (429 | 500..=599), ..)) => KubeError::Unavailable {
                operation,
                code: Some(code),
                source,
            },
            Some((code, reason, message)) => KubeError::Rejected {
                operation,
                code,
                reason,
                message,
                source,
            },
            None if timed_out => KubeError::Timeout {
                operation,
                after: None,
            },
            None if transport => KubeError::Unavailable {
                operation,
                code: None,
                source,
            },
            None => KubeError::Request { operation, source },
        }
    }

    /// The kube client's error behind this one, if any.
    pub fn into_client_error(self) -> Option<kube::Error> {
        match self {
            KubeError::Client(source)
            | KubeError::Forbidden { source, .. }
            | KubeError::Unauthorized { source, .. }
            | KubeError::Conflict { source, .. }
            | KubeError::Unavailable { source, .. }
            | KubeError::Rejected { source, .. }
            | KubeError::Request { source, .. } => Some(*source),
            _ => None,
        }
    }

    /// Whether the API answered 409 (a conflict or an existing name).
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(self, KubeError::Conflict { .. })
    }

    /// Whether the API answered 404.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, KubeError::NotFound { .. })
            || matches!(self, KubeError::Rejected { code: 404, .. })
    }
}

/// Whether an I/O timeout is somewhere in the error's causes.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Runs one API call with a deadline and classifies its failure.
pub(crate) async fn call<T>(
    operation: impl FnOnce() -> Operation,
    timeout: Duration,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeError> {
    match tokio::time::timeout(timeout, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(KubeError::from_call(operation(), e)),
        Err(_) => Err(KubeError::Timeout {
            operation: Box::new(operation()),
            after: Some(timeout),
        }),
    }
}

/// [`call`] for a write: sent only if `fence` permits it now, with the timeout it permits.
///
/// # Errors
/// [`KubeError::NotLeading`] when the fence does not permit the write (nothing is sent), and
/// those of [`call`].
pub(crate) async fn call_fenced<T>(
    fence: &super::Fence,
    operation: impl FnOnce() -> Operation,
    timeout: Duration,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeError> {
    match fence.enter(timeout) {
        Some((timeout, _flight)) => call(operation, timeout, request).await,
        None => Err(KubeError::NotLeading {
            operation: Box::new(operation()),
        }),
    }
}

impl From<KubeError> for TargetError {
    /// Keeps the kind and the message; the client's error (if any) becomes the source.
    fn from(e: KubeError) -> Self {
        let error = TargetError::new(e.kind(), e.to_string());
        match e.into_client_error() {
            Some(source) => error.with_source(source),
            None => error,
        }
    }
}
