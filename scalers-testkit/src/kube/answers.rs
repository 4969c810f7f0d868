//! Answers: Kubernetes `Status` objects for errors, and the JSON merge patch.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::resources::FakeResource;

/// An answer: HTTP status and JSON body.
pub(super) type Answer = (StatusCode, Value);

pub(super) fn reason_of(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

pub(super) fn status_answer(code: u16, message: String, details: Option<Value>) -> Answer {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason_of(code),
        "code": code,
    });
    if let Some(d) = details {
        status["details"] = d;
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        status,
    )
}

pub(super) fn injected(code: u16, method: &str, path: &str) -> Answer {
    status_answer(code, format!("injected fault for {method} {path}"), None)
}

pub(super) fn not_found(resource: &FakeResource, name: &str) -> Answer {
    status_answer(
        404,
        format!("{} \"{name}\" not found", resource.qualified()),
        Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
    )
}

pub(super) fn conflict(resource: &FakeResource, name: &str) -> Answer {
    status_answer(
        409,
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.qualified()
        ),
        Some(json!({"name": name, "group": resource.group, "kind": resource.plural})),
    )
}

pub(super) fn invalid(resource: &FakeResource, name: &str, problem: &str) -> Answer {
    let kind = if resource.group.is_empty() {
        resource.kind.to_owned()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    };
    status_answer(
        422,
        format!("{kind} \"{name}\" is invalid: {problem}"),
        Some(json!({"name": name, "group": resource.group, "kind": resource.kind})),
    )
}

pub(super) fn bad_request(message: impl Into<String>) -> Answer {
    status_answer(400, message.into(), None)
}

pub(super) fn no_such_path() -> Answer {
    status_answer(
        404,
        "the server could not find the requested resource".to_owned(),
        None,
    )
}

pub(super) fn method_not_allowed(method: &Method) -> Answer {
    status_answer(
        405,
        format!("the server does not allow this method on the requested resource: {method}"),
        None,
    )
}

/// Applies an RFC 7386 JSON merge patch.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

pub(super) fn ensure_object<'a>(value: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    let map = value.as_object_mut().expect("made an object above");
    let slot = map
        .entry(field.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("made an object above")
}

pub(super) fn parse_merge_patch(content_type: Option<&str>, body: &[u8]) -> Result<Value, Answer> {
    let media = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if media != "application/merge-patch+json" && media != "application/strategic-merge-patch+json"
    {
        return Err(status_answer(
            415,
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {media:?})"
            ),
            None,
        ));
    }
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad_request("the patch is not a JSON object")),
    }
}

/// The first reason `events.k8s.io/v1` validation would reject this Event for.
pub(super) fn event_problem(event: &Value) -> Option<String> {
    let text = |field: &str| event[field].as_str().unwrap_or_default();
    if event["eventTime"].is_null() {
        return Some("eventTime: Required value".to_owned());
    }
    for field in [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if text(field).is_empty() {
            return Some(format!("{field}: Required value"));
        }
    }
    for field in ["action", "reason"] {
        if text(field).len() > 128 {
            return Some(format!("{field}: Too long: may not be longer than 128"));
        }
    }
    if !matches!(text("type"), "Normal" | "Warning") {
        return Some(format!(
            "type: Unsupported value: {:?}: supported values: \"Normal\", \"Warning\"",
            text("type")
        ));
    }
    if text("note").len() > 1024 {
        return Some("note: Too long: may not be longer than 1024".to_owned());
    }
    None
}

pub(super) trait MapReason {
    fn map_reason(self, reason: &str) -> Self;
}

impl MapReason for Answer {
    fn map_reason(mut self, reason: &str) -> Self {
        self.1["reason"] = json!(reason);
        self
    }
}

/// A 410 `Expired` `Status` (for a watch, the object of its `ERROR` event).
pub(super) fn expired(message: String) -> Answer {
    status_answer(410, message, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut target, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }
}
