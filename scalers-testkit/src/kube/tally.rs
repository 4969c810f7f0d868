//! Request counts by verb and resource, kept for every request even when the journal is off
//! (benchmarks run for minutes at thousands of requests per second).

use std::collections::BTreeMap;

/// The Kubernetes audit verb and resource of a request: `get`, `list`, `watch`, `create`,
/// `update`, `patch` or `delete`, and the plural resource with its subresource
/// (`deployments/scale`), as the API server's audit log and its
/// `apiserver_request_total{verb,resource,subresource}` metric name them. Discovery and other
/// non-resource paths are `("get", "discovery")`.
pub(super) fn audit_verb(method: &str, path: &str, watch: bool) -> (&'static str, String) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _, rest @ ..] | ["apis", _, _, rest @ ..] if !rest.is_empty() => rest,
        _ => return ("get", "discovery".to_owned()),
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, named) = match rest {
        [plural] => ((*plural).to_owned(), false),
        [plural, _name] => ((*plural).to_owned(), true),
        [plural, _name, sub, ..] => (format!("{plural}/{sub}"), true),
        [] => return ("get", "discovery".to_owned()),
    };
    let verb = match (method, named) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "other",
    };
    (verb, resource)
}

/// Counts of requests by `"<verb> <resource>"`, e.g. `"patch deployments/scale"`.
pub(super) type Tally = BTreeMap<String, u64>;

#[cfg(test)]
mod tests {
    use super::audit_verb;

    #[test]
    fn requests_are_named_as_the_audit_log_names_them() {
        let cases = [
            (
                "GET",
                "/apis/apps/v1/namespaces/a/deployments/w/scale",
                false,
                "get",
                "deployments/scale",
            ),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/a/deployments/w/scale",
                false,
                "patch",
                "deployments/scale",
            ),
            (
                "GET",
                "/apis/apps/v1/namespaces/a/deployments/w",
                false,
                "get",
                "deployments",
            ),
            (
                "GET",
                "/apis/apps/v1/deployments",
                false,
                "list",
                "deployments",
            ),
            (
                "GET",
                "/apis/apps/v1/deployments",
                true,
                "watch",
                "deployments",
            ),
            (
                "GET",
                "/api/v1/namespaces/a/secrets",
                false,
                "list",
                "secrets",
            ),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
                false,
                "update",
                "leases",
            ),
            (
                "POST",
                "/apis/events.k8s.io/v1/namespaces/a/events",
                false,
                "create",
                "events",
            ),
            (
                "DELETE",
                "/apis/batch/v1/namespaces/a/jobs/j",
                false,
                "delete",
                "jobs",
            ),
            ("GET", "/api/v1/namespaces", false, "list", "namespaces"),
            ("GET", "/apis/apps/v1", false, "get", "discovery"),
            ("GET", "/version", false, "get", "discovery"),
        ];
        for (method, path, watch, verb, resource) in cases {
            assert_eq!(
                audit_verb(method, path, watch),
                (verb, resource.to_owned()),
                "{method} {path}"
            );
        }
    }
}
