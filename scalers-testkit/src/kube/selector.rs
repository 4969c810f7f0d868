//! Label and field selectors, as lists and watches filter with them.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, labels: &Value) -> bool {
        let label = |k: &str| labels.get(k).and_then(Value::as_str);
        match self {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
        }
    }
}

/// Which objects a list or watch asks for: `labelSelector` and `fieldSelector` (on
/// `metadata.name` and `metadata.namespace`, the fields every resource supports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Selector {
    labels: Vec<Requirement>,
    /// (field path, equal (else not equal), value)
    fields: Vec<(String, bool, String)>,
}

impl Selector {
    /// Parses the two selectors of a query.
    ///
    /// # Errors
    /// The message of a 400 `BadRequest`, as the real server words it.
    pub(super) fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Self, String> {
        let mut selector = Selector::default();
        for part in split_top(labels.unwrap_or_default()) {
            selector.labels.push(requirement(&part)?);
        }
        for part in fields.unwrap_or_default().split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(format!(
                    "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                ));
            }
            selector
                .fields
                .push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(selector)
    }

    /// Whether `object` is selected.
    pub(super) fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.labels.iter().all(|r| r.matches(labels))
            && self.fields.iter().all(|(field, equal, value)| {
                let actual = match field.as_str() {
                    "metadata.name" => object["metadata"]["name"].as_str(),
                    _ => object["metadata"]["namespace"].as_str(),
                }
                .unwrap_or_default();
                (actual == value) == *equal
            })
    }
}

/// Splits at commas outside parentheses.
fn split_top(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn requirement(part: &str) -> Result<Requirement, String> {
    let bad = || format!("unable to parse requirement: found '{part}'");
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return if valid(key) {
            Ok(Requirement::NotExists(key.to_owned()))
        } else {
            Err(bad())
        };
    }
    for (op, negated) in [(" notin ", true), (" in ", false)] {
        if let Some((key, values)) = part.split_once(op) {
            let values = values.trim();
            let inner = values
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(bad)?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            let key = key.trim();
            if !valid(key) || values.is_empty() {
                return Err(bad());
            }
            return Ok(if negated {
                Requirement::NotIn(key.to_owned(), values)
            } else {
                Requirement::In(key.to_owned(), values)
            });
        }
    }
    let parsed = if let Some((k, v)) = part.split_once("!=") {
        Some((k, v, false))
    } else if let Some((k, v)) = part.split_once("==") {
        Some((k, v, true))
    } else {
        part.split_once('=').map(|(k, v)| (k, v, true))
    };
    match parsed {
        Some((k, v, equal)) => {
            let (k, v) = (k.trim(), v.trim());
            if !valid(k) || !(v.is_empty() || valid(v)) {
                return Err(bad());
            }
            Ok(if equal {
                Requirement::Equals(k.to_owned(), v.to_owned())
            } else {
                Requirement::NotEquals(k.to_owned(), v.to_owned())
            })
        }
        None if valid(part) => Ok(Requirement::Exists(part.to_owned())),
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(labels: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "shop", "labels": labels}})
    }

    #[test]
    fn label_selectors_follow_equality_and_set_rules() {
        let o = object(json!({"app": "web", "tier": "front"}));
        let sel = |s: &str| Selector::parse(Some(s), None).unwrap();
        assert!(sel("app=web,tier!=back").matches(&o));
        assert!(sel("app==web").matches(&o));
        assert!(!sel("app=web,tier=back").matches(&o));
        assert!(sel("tier in (front, back),app").matches(&o));
        assert!(!sel("tier notin (front)").matches(&o));
        assert!(sel("zone notin (a),!zone,zone!=a").matches(&o));
        assert!(!sel("zone").matches(&o));
        assert!(sel("").matches(&o));
        assert_eq!(
            Selector::parse(Some("app in web"), None),
            Err("unable to parse requirement: found 'app in web'".to_owned())
        );
    }

    #[test]
    fn field_selectors_know_name_and_namespace() {
        let o = object(json!({}));
        let sel = |s: &str| Selector::parse(None, Some(s)).unwrap();
        assert!(sel("metadata.name=web,metadata.namespace=shop").matches(&o));
        assert!(!sel("metadata.name!=web").matches(&o));
        assert!(Selector::parse(None, Some("spec.x=1")).is_err());
    }
}
