//! What each API request does to the store: routing, discovery, list and watch, writes of
//! objects and of their `/scale` and `/status` subresources, and deletion with finalizers.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::answers::{
    Answer, MapReason, bad_request, conflict, event_problem, expired, invalid, merge_patch,
    method_not_allowed, no_such_path, not_found, parse_merge_patch, status_answer,
};
use super::resources::{FakeResource, Served, StatusMode};
use super::selector::Selector;
use super::store::{
    Key, Store, apply_status, being_deleted, bump_generation, finalizers, keep_owned, now_time,
    scale_of,
};
use super::watch::{WatchStream, Watcher, bookmark_line, event_line};

/// The query parameters of a request.
pub(super) type Params = BTreeMap<String, String>;

/// How a request is answered: at once, or by a watch stream.
pub(super) enum Reply {
    Answer(Answer),
    Watch(WatchStream),
}

/// Whether a query flag is set (`1` or `true`).
pub(super) fn flag(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// A watch that gets one `ERROR` event (410 `Expired`) and ends.
pub(super) fn expired_watch(resource: FakeResource, message: String) -> WatchStream {
    let (_, rx) = mpsc::unbounded_channel();
    WatchStream {
        resource,
        rx,
        pending: VecDeque::from([event_line("ERROR", &expired(message).1)]),
        bookmarks: None,
        deadline: None,
        closing: true,
    }
}

/// What a request path names below `/api/<v>` or `/apis/<g>/<v>`.
enum Target<'a> {
    Collection(Option<&'a str>),
    Object(&'a str, &'a str),
    Subresource(&'a str, &'a str, &'a str),
}

impl Store {
    pub(super) fn dispatch(
        &mut self,
        method: &Method,
        path: &str,
        params: &Params,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        Reply::Answer(match self.route(method, path, params, content_type, body) {
            Ok(reply) => return reply,
            Err(answer) => answer,
        })
    }

    fn route(
        &mut self,
        method: &Method,
        path: &str,
        params: &Params,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, Answer> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (group, version, rest) = match segments.as_slice() {
            ["version"] | ["api"] | ["apis"] | ["api", _] | ["apis", _, _] => {
                return Err(if method == Method::GET {
                    self.discovery(&segments)
                } else {
                    method_not_allowed(method)
                });
            }
            ["api", v, rest @ ..] => ("", *v, rest),
            ["apis", g, v, rest @ ..] => (*g, *v, rest),
            _ => return Err(no_such_path()),
        };
        let (plural, namespace, tail) = match rest {
            ["namespaces", ns, plural, tail @ ..] => (*plural, Some(*ns), tail),
            [plural, tail @ ..] => (*plural, None, tail),
            [] => return Err(no_such_path()),
        };
        let served = self.find(group, version, plural).ok_or_else(no_such_path)?;
        let namespaced = served.options.namespaced;
        if namespace.is_some() && !namespaced {
            return Err(no_such_path());
        }
        let target = match (tail, namespace) {
            ([], ns) => Target::Collection(ns),
            ([name], Some(ns)) => Target::Object(ns, name),
            ([name], None) if !namespaced => Target::Object("", name),
            ([name, sub], Some(ns)) => Target::Subresource(ns, name, sub),
            ([name, sub], None) if !namespaced => Target::Subresource("", name, sub),
            _ => return Err(no_such_path()),
        };
        let answer = match (target, method.as_str()) {
            (Target::Collection(ns), "GET") if flag(params, "watch") => {
                return Ok(Reply::Watch(self.watch(&served, ns, params)?));
            }
            (Target::Collection(ns), "GET") => self.list(&served, ns, params)?,
            (Target::Collection(Some(ns)), "POST") => self.create(&served, ns, body)?,
            (Target::Collection(None), "POST") if !namespaced => self.create(&served, "", body)?,
            (Target::Object(ns, name), "GET") => {
                let key = Key::new(&served.resource, ns, name);
                match self.objects.get(&key) {
                    Some(o) => (StatusCode::OK, o.object.clone()),
                    None => not_found(&served.resource, name),
                }
            }
            (Target::Object(ns, name), "PUT") => self.replace(&served, ns, name, body)?,
            (Target::Object(ns, name), "PATCH") => {
                self.patch(&served, ns, name, content_type, body)?
            }
            (Target::Object(ns, name), "DELETE") => self.delete(&served, ns, name, body)?,
            (Target::Subresource(ns, name, "scale"), m) if served.resource.scale => {
                self.scale(&served, ns, name, m, content_type, body)?
            }
            (Target::Subresource(ns, name, "status"), m) if served.options.status => {
                self.status(&served, ns, name, m, content_type, body)?
            }
            (Target::Subresource(..), _) => no_such_path(),
            _ => method_not_allowed(method),
        };
        Ok(Reply::Answer(answer))
    }

    fn discovery(&self, segments: &[&str]) -> Answer {
        let answer = match segments {
            ["version"] => json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-scalers-fake",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "", "compiler": "", "platform": "linux/amd64",
            }),
            ["api"] => json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.address},
                ],
            }),
            ["apis"] => {
                let mut groups: Vec<Value> = Vec::new();
                let mut seen: Vec<(&str, &str)> = Vec::new();
                for r in self.resources.iter().map(|s| &s.resource) {
                    if r.group.is_empty() || seen.contains(&(r.group, r.version)) {
                        continue;
                    }
                    seen.push((r.group, r.version));
                    let gv = json!({"groupVersion": r.api_version(), "version": r.version});
                    match groups.iter_mut().find(|g| g["name"] == r.group) {
                        Some(g) => g["versions"]
                            .as_array_mut()
                            .expect("versions is an array")
                            .push(gv),
                        None => groups.push(json!({
                            "name": r.group, "versions": [gv.clone()], "preferredVersion": gv,
                        })),
                    }
                }
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            }
            ["api", v] => return self.resource_list("", v),
            ["apis", g, v] => return self.resource_list(g, v),
            _ => return no_such_path(),
        };
        (StatusCode::OK, answer)
    }

    fn resource_list(&self, group: &str, version: &str) -> Answer {
        let mut resources = Vec::new();
        for s in self
            .resources
            .iter()
            .filter(|s| s.resource.group == group && s.resource.version == version)
        {
            let (r, namespaced) = (&s.resource, s.options.namespaced);
            resources.push(json!({
                "name": r.plural,
                "singularName": r.kind.to_ascii_lowercase(),
                "namespaced": namespaced,
                "kind": r.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }));
            if r.scale {
                resources.push(json!({
                    "name": format!("{}/scale", r.plural),
                    "singularName": "",
                    "namespaced": namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }));
            }
            if s.options.status {
                resources.push(json!({
                    "name": format!("{}/status", r.plural),
                    "singularName": "",
                    "namespaced": namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }));
            }
        }
        if resources.is_empty() {
            return no_such_path();
        }
        let group_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        let list = json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        });
        (StatusCode::OK, list)
    }

    /// A list, at the version its `resourceVersion`, `resourceVersionMatch` and `continue`
    /// ask for (see the module docs), filtered by its selectors, paged by `limit`.
    fn list(&self, served: &Served, ns: Option<&str>, params: &Params) -> Result<Answer, Answer> {
        let selector = selector(params)?;
        let limit = params
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let (at, after) = match params.get("continue").filter(|c| !c.is_empty()) {
            Some(token) => {
                let mut parts = token.splitn(3, '|');
                let at = parts.next().and_then(|v| v.parse::<u64>().ok());
                let (Some(at), Some(namespace), Some(name)) = (at, parts.next(), parts.next())
                else {
                    return Err(bad_request("continue key is not valid"));
                };
                if at < self.compacted {
                    return Err(expired(
                        "The provided continue parameter is too old to display a consistent \
                         list result. You can start a new list without the continue parameter."
                            .to_owned(),
                    ));
                }
                (at, Some(Key::new(&served.resource, namespace, name)))
            }
            None => (self.list_version(params, limit.is_some())?, None),
        };
        let snapshot;
        let objects: Box<dyn Iterator<Item = (&Key, &Value)>> = if at == self.version {
            Box::new(self.objects.iter().map(|(k, s)| (k, &s.object)))
        } else {
            snapshot = self.snapshot(&served.resource, at);
            Box::new(snapshot.iter())
        };
        let mut matching = objects
            .filter(|(k, _)| served.resource.same(k))
            .filter(|(k, _)| ns.is_none_or(|ns| k.namespace == ns))
            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
            .filter(|(_, o)| selector.matches(o));
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for (key, object) in matching.by_ref() {
            if limit.is_some_and(|l| items.len() == l) {
                more = true;
                break;
            }
            items.push(object.clone());
            last = Some(key.clone());
        }
        let mut metadata = json!({"resourceVersion": at.to_string()});
        if more && let Some(last) = last {
            metadata["continue"] = json!(format!("{at}|{}|{}", last.namespace, last.name));
        }
        let list = json!({
            "apiVersion": served.resource.api_version(),
            "kind": format!("{}List", served.resource.kind),
            "metadata": metadata,
            "items": items,
        });
        Ok((StatusCode::OK, list))
    }

    /// The version a list is served at: the current one, unless `Exact` semantics (asked for,
    /// or implied by a `limit` with a non-zero `resourceVersion` and no match) name an older
    /// one still in the history.
    fn list_version(&self, params: &Params, limited: bool) -> Result<u64, Answer> {
        let rv = params.get("resourceVersion").filter(|v| !v.is_empty());
        let exact = match params.get("resourceVersionMatch").map(String::as_str) {
            None | Some("") => limited && rv.is_some_and(|v| v != "0"),
            Some("Exact") => true,
            Some("NotOlderThan") => false,
            Some(other) => {
                return Err(bad_request(format!(
                    "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
                )));
            }
        };
        let Some(rv) = rv.filter(|v| *v != "0") else {
            return Ok(self.version);
        };
        let n = parse_version(rv)?;
        if n > self.version {
            return Err(too_large(n, self.version));
        }
        if !exact {
            return Ok(self.version);
        }
        if n < self.compacted {
            return Err(expired(
                "The resourceVersion for the provided list is too old.".to_owned(),
            ));
        }
        Ok(n)
    }

    /// Opens a watch: initial ADDED events (no `resourceVersion`, `0`, or
    /// `sendInitialEvents=true`), else the history after `resourceVersion`, then every change.
    fn watch(
        &mut self,
        served: &Served,
        ns: Option<&str>,
        params: &Params,
    ) -> Result<WatchStream, Answer> {
        let selector = selector(params)?;
        let bookmarks = flag(params, "allowWatchBookmarks").then_some(self.bookmark_interval);
        let deadline = params
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .map(|t| Instant::now() + Duration::from_secs(t));
        let initial_events = flag(params, "sendInitialEvents");
        let rv = params
            .get("resourceVersion")
            .filter(|v| !v.is_empty() && *v != "0");
        let from = rv.map(|v| parse_version(v)).transpose()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let watcher = Watcher {
            resource: served.resource,
            namespace: ns.map(str::to_owned),
            selector,
            tx,
        };
        let mut pending = VecDeque::new();
        match from {
            Some(n) if n > self.version => return Err(too_large(n, self.version)),
            Some(n) if !initial_events => {
                if n < self.compacted {
                    let message = format!("too old resource version: {n} ({})", self.compacted + 1);
                    return Ok(expired_watch(served.resource, message));
                }
                for change in self.history.iter().filter(|c| c.version > n) {
                    pending.extend(watcher.event(change));
                }
            }
            _ => {
                for (key, stored) in &self.objects {
                    if served.resource.same(key)
                        && ns.is_none_or(|ns| key.namespace == ns)
                        && watcher.selector.matches(&stored.object)
                    {
                        pending.push_back(event_line("ADDED", &stored.object));
                    }
                }
                if initial_events && bookmarks.is_some() {
                    pending.push_back(bookmark_line(&served.resource, self.version, true));
                }
            }
        }
        self.watchers.push(watcher);
        Ok(WatchStream {
            resource: served.resource,
            rx,
            pending,
            bookmarks,
            deadline,
            closing: false,
        })
    }

    fn create(&mut self, served: &Served, namespace: &str, body: &[u8]) -> Result<Answer, Answer> {
        let resource = &served.resource;
        let mut object = json_object(body)?;
        let metadata = &object["metadata"];
        if let Some(ns) = metadata["namespace"].as_str()
            && served.options.namespaced
            && ns != namespace
        {
            return Err(bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let name = match (metadata["name"].as_str(), metadata["generateName"].as_str()) {
            (Some(n), _) if !n.is_empty() => n.to_owned(),
            (_, Some(prefix)) if !prefix.is_empty() => {
                format!("{prefix}{:05x}", self.version + 1)
            }
            _ => {
                return Err(invalid(
                    resource,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        };
        let key = Key::new(resource, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(status_answer(
                409,
                format!("{} \"{name}\" already exists", resource.qualified()),
                Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
            )
            .map_reason("AlreadyExists"));
        }
        if *resource == FakeResource::EVENT
            && let Some(problem) = event_problem(&object)
        {
            return Err(invalid(resource, &name, &problem));
        }
        object["metadata"]["name"] = json!(name);
        for owned in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            if let Some(m) = object["metadata"].as_object_mut() {
                m.remove(owned);
            }
        }
        if served.options.status
            && let Some(o) = object.as_object_mut()
        {
            o.remove("status");
        }
        self.stamp_new(served, namespace, &mut object);
        let mode = StatusMode::default();
        if resource.scale {
            apply_status(&mut object, mode);
        }
        Ok((StatusCode::CREATED, self.commit(&key, Some(object), mode)))
    }

    fn stored(&self, served: &Served, ns: &str, name: &str) -> Result<(Key, Value), Answer> {
        let key = Key::new(&served.resource, ns, name);
        match self.objects.get(&key) {
            Some(s) => Ok((key, s.object.clone())),
            None => Err(not_found(&served.resource, name)),
        }
    }

    fn replace(
        &mut self,
        served: &Served,
        ns: &str,
        name: &str,
        body: &[u8],
    ) -> Result<Answer, Answer> {
        let new = json_object(body)?;
        let (key, old) = self.stored(served, ns, name)?;
        if new["metadata"]["name"].as_str() != Some(name) {
            return Err(bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        check_version(served, name, &old, &new)?;
        Ok((StatusCode::OK, self.write(served, &key, new)?))
    }

    fn patch(
        &mut self,
        served: &Served,
        ns: &str,
        name: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, Answer> {
        let patch = parse_merge_patch(content_type, body)?;
        let (key, old) = self.stored(served, ns, name)?;
        check_version(served, name, &old, &patch)?;
        let mut new = old;
        merge_patch(&mut new, &patch);
        Ok((StatusCode::OK, self.write(served, &key, new)?))
    }

    /// Stores `new` as the next version of the object at `key` (a write of the object
    /// itself), keeping what the server owns; removing the last finalizer of an object being
    /// deleted deletes it.
    fn write(&mut self, served: &Served, key: &Key, mut new: Value) -> Result<Value, Answer> {
        let stored = self.objects.get(key).expect("checked by the caller");
        let (old, mode) = (stored.object.clone(), stored.mode);
        let owned: &[&str] = if served.options.status || served.resource.scale {
            &["status"]
        } else {
            &[]
        };
        keep_owned(&old, &mut new, owned);
        if being_deleted(&old) {
            let before = finalizers(&old);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(invalid(
                    &served.resource,
                    &key.name,
                    &format!(
                        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                    ),
                ));
            }
        }
        bump_generation(&old, &mut new, served);
        if served.resource.scale {
            apply_status(&mut new, mode);
        }
        let gone = being_deleted(&new) && finalizers(&new).is_empty();
        Ok(self.commit(key, (!gone).then_some(new), mode))
    }

    fn delete(
        &mut self,
        served: &Served,
        ns: &str,
        name: &str,
        body: &[u8],
    ) -> Result<Answer, Answer> {
        let (key, old) = self.stored(served, ns, name)?;
        let options: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        // No garbage collector runs here and no object has dependents, so each policy ends
        // in the owner going at once; only its value is checked, as the API does.
        if let Some(policy) = options.get("propagationPolicy").filter(|p| !p.is_null()) {
            let policy = policy.as_str().unwrap_or_default();
            if !["Orphan", "Background", "Foreground"].contains(&policy) {
                return Err(invalid(
                    &served.resource,
                    name,
                    &format!(
                        "propagationPolicy: Unsupported value: {policy:?}: supported values: \
                         \"Foreground\", \"Background\", \"Orphan\""
                    ),
                ));
            }
        }
        let preconditions = &options["preconditions"];
        for field in ["resourceVersion", "uid"] {
            if let Some(wanted) = preconditions[field].as_str()
                && old["metadata"][field].as_str() != Some(wanted)
            {
                return Err(conflict(&served.resource, name));
            }
        }
        Ok(self.delete_object(served, &key).1)
    }

    /// Deletes the object at `key` as a `DELETE` does: marked (202, MODIFIED) while it has
    /// finalizers, else removed (200, DELETED). Returns whether it is gone, and the answer.
    pub(super) fn delete_object(&mut self, served: &Served, key: &Key) -> (bool, Answer) {
        let stored = self.objects.get(key).expect("checked by the caller");
        let (mut object, mode) = (stored.object.clone(), stored.mode);
        if finalizers(&object).is_empty() {
            self.commit(key, None, mode);
            let details = json!({"name": key.name, "group": served.resource.group, "kind": served.resource.plural});
            let status = json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Success", "details": details,
            });
            return (true, (StatusCode::OK, status));
        }
        if being_deleted(&object) {
            return (false, (StatusCode::ACCEPTED, object));
        }
        object["metadata"]["deletionTimestamp"] = now_time();
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if let Some(g) = object["metadata"]["generation"].as_u64() {
            object["metadata"]["generation"] = json!(g + 1);
        }
        (
            false,
            (StatusCode::ACCEPTED, self.commit(key, Some(object), mode)),
        )
    }

    /// `GET`, `PUT` or `PATCH` of `/status`: only `status` changes (a workload's status then
    /// holds, as [`StatusMode::Hold`]).
    fn status(
        &mut self,
        served: &Served,
        ns: &str,
        name: &str,
        method: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, Answer> {
        let (key, old) = self.stored(served, ns, name)?;
        let sent = match method {
            "GET" => return Ok((StatusCode::OK, old)),
            "PUT" => json_object(body)?,
            "PATCH" => {
                let patch = parse_merge_patch(content_type, body)?;
                check_version(served, name, &old, &patch)?;
                let mut merged = old.clone();
                merge_patch(&mut merged, &patch);
                merged["metadata"]["resourceVersion"] =
                    patch["metadata"]["resourceVersion"].clone();
                merged
            }
            _ => {
                return Err(method_not_allowed(
                    &Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
                ));
            }
        };
        check_version(served, name, &old, &sent)?;
        let mut new = old;
        match sent.get("status") {
            Some(status) if !status.is_null() => new["status"] = status.clone(),
            _ => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        let mode = if served.resource.scale {
            StatusMode::Hold
        } else {
            self.objects[&key].mode
        };
        Ok((StatusCode::OK, self.commit(&key, Some(new), mode)))
    }

    fn scale(
        &mut self,
        served: &Served,
        ns: &str,
        name: &str,
        method: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, Answer> {
        let (key, old) = self.stored(served, ns, name)?;
        let current = scale_of(&old);
        let sent = match method {
            "GET" => return Ok((StatusCode::OK, current)),
            "PATCH" => {
                let patch = parse_merge_patch(content_type, body)?;
                let mut scale = current.clone();
                merge_patch(&mut scale, &patch);
                // The version check applies to what the patch carries, not the merge.
                scale["metadata"]["resourceVersion"] = patch["metadata"]["resourceVersion"].clone();
                scale
            }
            "PUT" => json_object(body)?,
            _ => {
                return Err(method_not_allowed(
                    &Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
                ));
            }
        };
        check_version(served, name, &old, &sent)?;
        let replicas = match sent["spec"]["replicas"].as_i64() {
            Some(r) if (0..=i64::from(i32::MAX)).contains(&r) => r,
            _ => {
                return Err(invalid(
                    &FakeResource::plain("autoscaling", "v1", "Scale", "scale"),
                    name,
                    "spec.replicas: Invalid value: must be a non-negative integer",
                ));
            }
        };
        let mut new = old;
        new["spec"]["replicas"] = json!(replicas);
        let new = self.write(served, &key, new)?;
        Ok((StatusCode::OK, scale_of(&new)))
    }
}

fn json_object(body: &[u8]) -> Result<Value, Answer> {
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad_request("the body is not a JSON object")),
    }
}

/// 409 when a write carries a `metadata.resourceVersion` that is not the stored one.
fn check_version(served: &Served, name: &str, stored: &Value, sent: &Value) -> Result<(), Answer> {
    match sent["metadata"]["resourceVersion"].as_str() {
        Some(v) if !v.is_empty() && stored["metadata"]["resourceVersion"].as_str() != Some(v) => {
            Err(conflict(&served.resource, name))
        }
        _ => Ok(()),
    }
}

fn selector(params: &Params) -> Result<Selector, Answer> {
    Selector::parse(
        params.get("labelSelector").map(String::as_str),
        params.get("fieldSelector").map(String::as_str),
    )
    .map_err(bad_request)
}

fn parse_version(rv: &str) -> Result<u64, Answer> {
    rv.parse().map_err(|_| {
        status_answer(
            400,
            format!("resourceVersion: Invalid value: \"{rv}\": must be a decimal number"),
            None,
        )
    })
}

/// The real server's answer to a version it has not reached (after waiting a while).
fn too_large(asked: u64, current: u64) -> Answer {
    let mut answer = status_answer(
        504,
        format!("Too large resource version: {asked}, current: {current}"),
        Some(
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
        ),
    );
    answer.1["reason"] = json!("Timeout");
    answer
}
