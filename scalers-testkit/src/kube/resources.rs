//! The kinds of object the fake serves, and how each is served.

use super::store::Key;

/// A kind of object the fake server stores and serves.
///
/// The fake serves one version per resource; objects are keyed by group, plural, namespace and
/// name (an empty namespace for cluster-scoped resources). How a resource is served beyond its
/// name (its scope, whether it has a `/status` subresource) is in [`ResourceOptions`]; the
/// constants here are served as [`ResourceOptions::of`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FakeResource {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Plural resource name used in paths, e.g. `deployments`.
    pub plural: &'static str,
    /// Whether it has a `/scale` subresource (and `spec.replicas`/`status` handling).
    pub scale: bool,
}

impl FakeResource {
    /// `apps/v1` Deployments, with `/scale` and `/status`.
    pub const DEPLOYMENT: FakeResource = FakeResource::workload("apps", "v1", "Deployment");
    /// `apps/v1` StatefulSets, with `/scale` and `/status`.
    pub const STATEFUL_SET: FakeResource = FakeResource::workload("apps", "v1", "StatefulSet");
    /// `apps/v1` ReplicaSets, with `/scale` and `/status`.
    pub const REPLICA_SET: FakeResource = FakeResource::workload("apps", "v1", "ReplicaSet");
    /// `argoproj.io/v1alpha1` Rollouts: a custom resource with `/scale` and `/status`.
    pub const ROLLOUT: FakeResource = FakeResource::workload("argoproj.io", "v1alpha1", "Rollout");
    /// Core `v1` Secrets.
    pub const SECRET: FakeResource = FakeResource::plain("", "v1", "Secret", "secrets");
    /// Core `v1` ConfigMaps (a resource without `/scale`).
    pub const CONFIG_MAP: FakeResource = FakeResource::plain("", "v1", "ConfigMap", "configmaps");
    /// `events.k8s.io/v1` Events.
    pub const EVENT: FakeResource = FakeResource::plain("events.k8s.io", "v1", "Event", "events");
    /// `coordination.k8s.io/v1` Leases.
    pub const LEASE: FakeResource =
        FakeResource::plain("coordination.k8s.io", "v1", "Lease", "leases");
    /// `autoscaling/v2` HorizontalPodAutoscalers, with `/status`.
    pub const HPA: FakeResource = FakeResource::plain(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
    );
    /// Core `v1` Pods, with `/status`.
    pub const POD: FakeResource = FakeResource::plain("", "v1", "Pod", "pods");
    /// `batch/v1` Jobs, with `/status`.
    pub const JOB: FakeResource = FakeResource::plain("batch", "v1", "Job", "jobs");
    /// KEDA's `keda.sh/v1alpha1` ScaledObjects, with `/status`.
    pub const SCALED_OBJECT: FakeResource =
        FakeResource::plain("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects");
    /// KEDA's `keda.sh/v1alpha1` ScaledJobs, with `/status`.
    pub const SCALED_JOB: FakeResource =
        FakeResource::plain("keda.sh", "v1alpha1", "ScaledJob", "scaledjobs");
    /// KEDA's `keda.sh/v1alpha1` TriggerAuthentications, with `/status`.
    pub const TRIGGER_AUTHENTICATION: FakeResource = FakeResource::plain(
        "keda.sh",
        "v1alpha1",
        "TriggerAuthentication",
        "triggerauthentications",
    );
    /// KEDA's `keda.sh/v1alpha1` ClusterTriggerAuthentications: cluster-scoped, with `/status`.
    pub const CLUSTER_TRIGGER_AUTHENTICATION: FakeResource = FakeResource::plain(
        "keda.sh",
        "v1alpha1",
        "ClusterTriggerAuthentication",
        "clustertriggerauthentications",
    );

    /// `apiextensions.k8s.io/v1` CustomResourceDefinitions: cluster-scoped, with `/status`.
    /// Not served unless added (see [`FakeApiServer::put_scalable_crd`]).
    ///
    /// [`FakeApiServer::put_scalable_crd`]: super::FakeApiServer::put_scalable_crd
    pub const CUSTOM_RESOURCE_DEFINITION: FakeResource = FakeResource::plain(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );

    /// The resources a new server serves.
    pub const BUILTIN: &'static [FakeResource] = &[
        FakeResource::DEPLOYMENT,
        FakeResource::STATEFUL_SET,
        FakeResource::REPLICA_SET,
        FakeResource::ROLLOUT,
        FakeResource::SECRET,
        FakeResource::CONFIG_MAP,
        FakeResource::EVENT,
        FakeResource::LEASE,
        FakeResource::HPA,
        FakeResource::JOB,
        FakeResource::POD,
        FakeResource::SCALED_OBJECT,
        FakeResource::SCALED_JOB,
        FakeResource::TRIGGER_AUTHENTICATION,
        FakeResource::CLUSTER_TRIGGER_AUTHENTICATION,
    ];

    const fn workload(group: &'static str, version: &'static str, kind: &'static str) -> Self {
        let plural = match kind.as_bytes() {
            b"Deployment" => "deployments",
            b"StatefulSet" => "statefulsets",
            b"ReplicaSet" => "replicasets",
            _ => "rollouts",
        };
        FakeResource {
            group,
            version,
            kind,
            plural,
            scale: true,
        }
    }

    /// A resource without `/scale`.
    pub const fn plain(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Self {
        FakeResource {
            group,
            version,
            kind,
            plural,
            scale: false,
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (`deployments.apps`), or `plural` for the core group, as in API messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub(super) fn same(&self, key: &Key) -> bool {
        self.group == key.group && self.plural == key.plural
    }
}

/// How a resource is served: its scope and whether it has a `/status` subresource.
///
/// With a status subresource, as the API conventions require, `PUT`/`PATCH` of `.../status`
/// change only `status`, writes of the object itself (`POST`, `PUT`, `PATCH`) ignore `status`,
/// and `metadata.generation` starts at 1 and is bumped by changes outside `metadata` and
/// `status` only (and when deletion starts). Resources with `/scale` keep that generation too.
///
/// ```
/// use scalers_testkit::{FakeResource, ResourceOptions};
///
/// let o = ResourceOptions::of(&FakeResource::CLUSTER_TRIGGER_AUTHENTICATION);
/// assert_eq!(o, ResourceOptions { namespaced: false, status: true });
/// assert_eq!(ResourceOptions::of(&FakeResource::CONFIG_MAP), ResourceOptions::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceOptions {
    /// Namespaced (`/namespaces/<ns>/<plural>/<name>`), else cluster-scoped
    /// (`/<plural>/<name>`).
    pub namespaced: bool,
    /// Whether it has a `/status` subresource.
    pub status: bool,
}

impl Default for ResourceOptions {
    /// Namespaced, without `/status`.
    fn default() -> Self {
        ResourceOptions {
            namespaced: true,
            status: false,
        }
    }
}

impl ResourceOptions {
    /// How the fake serves `resource` when added without options: the real server's way for
    /// the [`FakeResource`] constants, else namespaced with a `/status` subresource exactly
    /// when it has `/scale`.
    pub fn of(resource: &FakeResource) -> Self {
        let with_status = [
            FakeResource::HPA,
            FakeResource::JOB,
            FakeResource::POD,
            FakeResource::SCALED_OBJECT,
            FakeResource::SCALED_JOB,
            FakeResource::TRIGGER_AUTHENTICATION,
            FakeResource::CLUSTER_TRIGGER_AUTHENTICATION,
            FakeResource::CUSTOM_RESOURCE_DEFINITION,
        ];
        let cluster_scoped = [
            FakeResource::CLUSTER_TRIGGER_AUTHENTICATION,
            FakeResource::CUSTOM_RESOURCE_DEFINITION,
        ];
        ResourceOptions {
            namespaced: !cluster_scoped.contains(resource),
            status: resource.scale || with_status.contains(resource),
        }
    }
}

/// How a workload's `status` reacts to writes of `spec.replicas`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusMode {
    /// `status.replicas` and `status.readyReplicas` (and available/updated) follow at once.
    #[default]
    Follow,
    /// `status.replicas` follows, `status.readyReplicas` stays (new pods not ready yet).
    HoldReady,
    /// The status stays as it is.
    Hold,
}

/// A resource with the options it is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Served {
    pub(super) resource: FakeResource,
    pub(super) options: ResourceOptions,
}

impl Served {
    /// Whether the server keeps `metadata.generation` for it.
    pub(super) fn generation(&self) -> bool {
        self.options.status || self.resource.scale
    }

    /// The namespace objects are keyed under: `namespace`, or empty when cluster-scoped.
    pub(super) fn scope<'a>(&self, namespace: &'a str) -> &'a str {
        if self.options.namespaced {
            namespace
        } else {
            ""
        }
    }
}

/// `/api/<v>` or `/apis/<g>/<v>`.
pub(super) fn api_prefix(resource: &FakeResource) -> String {
    if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    }
}
