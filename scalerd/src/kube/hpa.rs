//! Finding HPAs that already scale a workload.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Client;
use kube::api::{Api, ListParams};
use scalers_core::config::ScaleTargetRef;

use super::error::call;
use super::{DEFAULT_REQUEST_TIMEOUT, KubeError, Operation};

/// The names (sorted) of the `autoscaling/v2` HPAs in `namespace` whose `scaleTargetRef`
/// points at `target`, so the daemon can warn that two autoscalers fight over it.
///
/// An HPA matches on kind and name and on the API group of its `apiVersion` (the version may
/// differ: `apps/v1` and `apps/v1beta1` name the same Deployment); one without `apiVersion`
/// matches on kind and name. Needs `list` on `horizontalpodautoscalers.autoscaling`.
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
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), namespace);
    let list = call(
        || Operation {
            verb: "list",
            resource: "horizontalpodautoscalers.autoscaling".to_owned(),
            subresource: None,
            name: None,
            namespace: Some(namespace.to_owned()),
        },
        DEFAULT_REQUEST_TIMEOUT,
        api.list(&ListParams::default()),
    )
    .await?;
    let group = |api_version: &str| {
        api_version
            .rsplit_once('/')
            .map_or("", |(g, _)| g)
            .to_owned()
    };
    let wanted = group(&target.api_version);
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter(|hpa| {
            hpa.spec.as_ref().is_some_and(|spec| {
                let r = &spec.scale_target_ref;
                r.kind == target.kind
                    && r.name == target.name
                    && r.api_version.as_deref().is_none_or(|v| group(v) == wanted)
            })
        })
        .filter_map(|hpa| hpa.metadata.name)
        .collect();
    names.sort();
    Ok(names)
}
