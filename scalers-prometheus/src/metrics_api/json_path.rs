//! `valueLocation` for `format: json`: the part of GJSON's path syntax that names one value.

use std::fmt;

use serde_json::Value;

/// A `valueLocation` for `format: json`: a subset of the GJSON path syntax KEDA uses.
///
/// Supported:
/// - keys separated by dots: `components.worker.tasks`;
/// - array indices, counted from 0, as path elements: `items.0.value` (on an object, `0` is an
///   ordinary key, as in GJSON);
/// - `#` as the last element: the length of the array before it (`items.#`, or `#` alone for a
///   top-level array);
/// - `\` escapes the next character, for keys that contain `.` or one of the characters below:
///   `version\.major`.
///
/// Not supported, and rejected when the trigger is built: wildcards (`*`, `?`), queries
/// (`items.#(name=="a").value`), `#` followed by more elements (`items.#.value`), modifiers
/// (`@reverse`), pipes (`|`) and multipaths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    raw: String,
    steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// An object key, or an array index when applied to an array.
    Key(String),
    /// `#`: the length of an array.
    Length,
}

/// What a path found in a document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Found<'a> {
    /// The value at the path.
    Value(&'a Value),
    /// The length of the array the path's final `#` applies to.
    Length(usize),
}

impl JsonPath {
    /// Parses a path, or says what about it is not supported.
    pub(crate) fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut steps = Vec::new();
        let mut key = String::new();
        // Whether the element being read started with an unescaped `#`.
        let mut hash = false;
        let mut chars = raw.chars();
        loop {
            let c = chars.next();
            match c {
                None | Some('.') => {
                    if hash {
                        if key != "#" {
                            return Err("queries (\"#(…)\") are not supported");
                        }
                        if c.is_some() {
                            return Err("\"#\" must be the last element");
                        }
                        steps.push(Step::Length);
                    } else if key.is_empty() {
                        return Err("it has an empty element");
                    } else {
                        steps.push(Step::Key(std::mem::take(&mut key)));
                    }
                    if c.is_none() {
                        break;
                    }
                    hash = false;
                }
                Some('\\') => match chars.next() {
                    Some(escaped) => key.push(escaped),
                    None => return Err("it ends with an escape character"),
                },
                Some('*' | '?') => return Err("wildcards (\"*\", \"?\") are not supported"),
                Some('|') => return Err("pipes (\"|\") are not supported"),
                Some('@') if key.is_empty() && !hash => {
                    return Err("modifiers (\"@…\") are not supported");
                }
                Some('#') if key.is_empty() && !hash => {
                    hash = true;
                    key.push('#');
                }
                Some(other) => key.push(other),
            }
        }
        Ok(JsonPath {
            raw: raw.to_owned(),
            steps,
        })
    }

    /// The path as written in the config.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// What the path names in `doc`, if anything.
    pub(crate) fn find<'a>(&self, doc: &'a Value) -> Option<Found<'a>> {
        let mut at = doc;
        for step in &self.steps {
            match step {
                Step::Key(key) => {
                    at = match at {
                        Value::Object(map) => map.get(key)?,
                        Value::Array(items) => items.get(index(key)?)?,
                        _ => return None,
                    };
                }
                Step::Length => {
                    return match at {
                        Value::Array(items) => Some(Found::Length(items.len())),
                        _ => None,
                    };
                }
            }
        }
        Some(Found::Value(at))
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// An array index: decimal digits only, as GJSON reads them.
fn index(key: &str) -> Option<usize> {
    if key.bytes().all(|b| b.is_ascii_digit()) {
        key.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn find(path: &str, doc: &Value) -> Option<Value> {
        let path = JsonPath::parse(path).unwrap();
        path.find(doc).map(|found| match found {
            Found::Value(v) => v.clone(),
            Found::Length(n) => json!(n),
        })
    }

    #[test]
    fn keys_indices_and_lengths() {
        let doc = json!({
            "components": {"worker": {"tasks": 12}},
            "items": [{"value": 1}, {"value": "2"}],
            "0": {"1": "object keys that look like indices"},
            "a.b": {"c#": 7},
            "empty": [],
        });
        assert_eq!(find("components.worker.tasks", &doc), Some(json!(12)));
        assert_eq!(find("items.1.value", &doc), Some(json!("2")));
        assert_eq!(find("items.#", &doc), Some(json!(2)));
        assert_eq!(find("empty.#", &doc), Some(json!(0)));
        assert_eq!(
            find("0.1", &doc),
            Some(json!("object keys that look like indices"))
        );
        assert_eq!(find(r"a\.b.c#", &doc), Some(json!(7)));
        assert_eq!(find("items", &doc), Some(doc["items"].clone()));
        assert_eq!(find("#", &json!([1, 2, 3])), Some(json!(3)));
    }

    #[test]
    fn missing_values() {
        let doc = json!({"items": [{"value": 1}], "n": 3, "o": {}});
        for path in [
            "nope",
            "items.1.value",
            "items.x",
            "items.-1",
            "n.x",
            "n.#",
            "o.#",
            "items.0.value.deeper",
        ] {
            assert_eq!(find(path, &doc), None, "{path}");
        }
    }

    #[test]
    fn unsupported_syntax_is_rejected() {
        for (path, reason) in [
            (
                "items.*.value",
                "wildcards (\"*\", \"?\") are not supported",
            ),
            ("item?", "wildcards (\"*\", \"?\") are not supported"),
            ("items.#.value", "\"#\" must be the last element"),
            (
                "items.#(name==\"a\").value",
                "queries (\"#(…)\") are not supported",
            ),
            ("items|@reverse", "pipes (\"|\") are not supported"),
            ("@this", "modifiers (\"@…\") are not supported"),
            ("a..b", "it has an empty element"),
            (".a", "it has an empty element"),
            ("a.", "it has an empty element"),
            ("a\\", "it ends with an escape character"),
        ] {
            assert_eq!(JsonPath::parse(path), Err(reason), "{path}");
        }
        // Escaped, the same characters are ordinary.
        let doc = json!({"*": {"#": {"@x|y": 1}}});
        assert_eq!(find(r"\*.\#.\@x\|y", &doc), Some(json!(1)));
        // Inside an element, `@` and `#` are ordinary too.
        assert_eq!(find("a@b", &json!({"a@b": 2})), Some(json!(2)));
    }
}
