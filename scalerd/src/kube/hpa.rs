//! Finding HPAs that already scale a workload.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Client;
use kube::api::{Api, ListParams};
use scalers_core::config::ScaleTargetRef;

use super::error::call;
use super::{DEFAULT_REQUEST_TIMEOUT, KubeError, Operation};

/// The `autoscaling/v2` HPAs of one list call, to look up those scaling a workload without a
/// call per workload.
#[derive(Clone, Debug, Default)]
pub struct HpaIndex {
    /// (namespace, HPA name, target kind, target name, target API group or `None` when the HPA
    /// names no `apiVersion`).
    hpas: Vec<(String, String, String, String, Option<String>)>,
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

impl HpaIndex {
    /// Lists the HPAs of `namespace`, or of every namespace with `None`, in one call.
    ///
    /// # Errors
    /// The [`KubeError`] of the failed list call.
    pub async fn list(client: &Client, namespace: Option<&str>) -> Result<HpaIndex, KubeError> {
        let api: Api<HorizontalPodAutoscaler> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let list = call(
            || Operation {
                verb: "list",
                resource: "horizontalpodautoscalers.autoscaling".to_owned(),
                subresource: None,
                name: None,
                namespace: namespace.map(str::to_owned),
            },
            DEFAULT_REQUEST_TIMEOUT,
            api.list(&ListParams::default()),
        )
        .await?;
        let hpas = list
            .items
            .into_iter()
            .filter_map(|hpa| {
                let spec = hpa.spec?;
                let r = spec.scale_target_ref;
                Some((
                    hpa.metadata.namespace.unwrap_or_default(),
                    hpa.metadata.name?,
                    r.kind,
                    r.name,
                    r.api_version.map(|v| group_of(&v).to_owned()),
                ))
            })
            .collect();
        Ok(HpaIndex { hpas })
    }

    /// The names (sorted) of the HPAs in `namespace` whose `scaleTargetRef` points at
    /// `target`: on kind and name, and on the API group of its `apiVersion` (the version may
    /// differ: `apps/v1` and `apps/v1beta1` name the same Deployment); one without
    /// `apiVersion` matches on kind and name.
    pub fn targeting(&self, namespace: &str, target: &ScaleTargetRef) -> Vec<String> {
        let wanted = group_of(&target.api_version);
        let mut names: Vec<String> = self
            .hpas
            .iter()
            .filter(|(ns, _, kind, name, group)| {
                ns == namespace
                    && *kind == target.kind
                    && *name == target.name
                    && group.as_deref().is_none_or(|g| g == wanted)
            })
            .map(|(_, hpa, ..)| hpa.clone())
            .collect();
        names.sort();
        names
    }
}

/// The names (sorted) of the `autoscaling/v2` HPAs in `namespace` whose `scaleTargetRef`
/// points at `target` ([`HpaIndex::targeting`]), so the daemon can warn that two autoscalers
/// fight over it. One list call; to check many workloads, list once with [`HpaIndex::list`].
///
/// Needs `list` on `horizontalpodautoscalers.autoscaling`.
///
/// # Errors
/// The [`KubeError`] of the failed list call.
///
/// # Examples
/// ```no_run
/// # async fn f(client: kube::Client) -> Result<(), scalerd::kube::KubeError> {
/// use scalers_core::config::ScaleTargetRef;
/// let hpas = scalerd::kube::hpas_targeting(&client, "shop", &ScaleTargetRef::deployment("web")).await?;
/// # let _ = hpas; Ok(()) }
/// ```
pub async fn hpas_targeting(
    client: &Client,
    namespace: &str,
    target: &ScaleTargetRef,
) -> Result<Vec<String>, KubeError> {
    Ok(HpaIndex::list(client, Some(namespace))
        .await?
        .targeting(namespace, target))
}
