//! The loader's primitives: field paths, how values are shown in messages, counts, booleans and
//! quantities written as text, and the [`Decoder`]'s readers of typed values, which report a
//! value of the wrong type at its path.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Number, Value};

use super::Decoder;
use crate::error::ConfigError;

/// The path of field `key` of the mapping at `path`: `path.key`, or `path["key"]` when the key
/// is not a plain identifier.
pub(super) fn child(path: &str, key: &str) -> String {
    let mut chars = key.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (plain, path.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{key:?}]"),
    }
}

/// The path of item `index` of the list at `path`.
pub(super) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A YAML value as shown after `got` in messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(tagged) => describe(&tagged.value),
    }
}

/// A string in double quotes, escaped, and shortened when long.
pub(super) fn quote(s: &str) -> String {
    const MAX_CHARS: usize = 60;
    if s.chars().count() > MAX_CHARS {
        let mut short: String = s.chars().take(MAX_CHARS).collect();
        short.push('…');
        format!("{short:?}")
    } else {
        format!("{s:?}")
    }
}

/// The message for key `key`, which is none of `candidates` (the suggestions); `listed` are the
/// keys named when no candidate is close.
fn unknown_field_listing(key: &str, candidates: &[&str], listed: &[&str]) -> String {
    let key = key.to_lowercase();
    let closest = candidates
        .iter()
        .map(|k| (edit_distance(&key, &k.to_lowercase()), *k))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((_, k)) => format!("unknown field, did you mean {k:?}?"),
        None => format!("unknown field; expected one of {}", listed.join(", ")),
    }
}

/// Levenshtein distance between `a` and `b`, in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Parses a count written as text (annotation values): a whole number that fits in a `u32`.
pub(super) fn parse_count(text: &str) -> Result<u32, String> {
    let got = quote(text);
    match text.parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => Err(match text.parse::<i128>() {
            Ok(n) if n < 0 => format!("expected a non-negative whole number, got {got}"),
            Ok(_) => format!("expected a whole number at most {}, got {got}", u32::MAX),
            Err(_) => format!("expected a whole number, got {got}"),
        }),
    }
}

/// Parses a boolean written as text (annotation values) as Go's `strconv.ParseBool` does:
/// `true`/`false`, `1`/`0`, `t`/`f`, in lower, upper or title case.
pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" | "TRUE" | "True" | "t" | "T" | "1" => Ok(true),
        "false" | "FALSE" | "False" | "f" | "F" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {}", quote(text))),
    }
}

/// Parses a Kubernetes quantity (`0.05`, `50m`, `1e-1`, `2Ki`) to a finite number.
fn parse_quantity(text: &str) -> Option<f64> {
    crate::quantity::parse(text)
}

impl Decoder {
    /// Records a problem at `path`.
    pub(super) fn report(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// Records that `value` at `path` is not `expected`.
    pub(super) fn report_mismatch(&mut self, path: &str, expected: &str, value: &Value) {
        self.report(
            path,
            format!("expected {expected}, got {}", describe(value)),
        );
    }

    /// Records that `value` at `path` is not `expected`, and gives up on it.
    pub(super) fn mismatch<T>(&mut self, path: &str, expected: &str, value: &Value) -> Option<T> {
        self.report_mismatch(path, expected, value);
        None
    }

    /// Decodes a mapping whose fields are all strings: `known` names them and `required` those
    /// that must be present. The values come in the order of `known`.
    pub(super) fn strings(
        &mut self,
        value: &Value,
        path: &str,
        known: &[&str],
        required: &[&str],
    ) -> Option<Vec<Option<String>>> {
        let mut values = vec![None; known.len()];
        let map = self.fields(value, path, known, |d, key, value, path| {
            if let Some(index) = known.iter().position(|k| *k == key) {
                values[index] = d.string(value, path);
            }
        })?;
        self.require(map, path, required);
        Some(values)
    }

    /// A mapping of strings to strings (labels); entries of other types are reported.
    pub(super) fn string_map(&mut self, value: &Value, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(map) = self.mapping(value, path) else {
            return out;
        };
        for (key, value) in map {
            let Some(key) = self.key(key, path) else {
                continue;
            };
            if let Some(text) = self.string(value, &child(path, key)) {
                out.insert(key.to_owned(), text);
            }
        }
        out
    }

    /// The whole number `value` at `path`, of either sign.
    pub(super) fn integer(&mut self, value: &Value, path: &str) -> Option<i64> {
        match value {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            _ => self.mismatch(path, "a whole number", value),
        }
    }

    /// Walks the mapping `value` at `path` in document order, calling `each` with the key, the
    /// value and the path of every field whose value is not `null`; keys not in `known` and
    /// keys that are not strings are reported. Returns the mapping, or `None` (reported) when
    /// `value` is not one.
    pub(super) fn fields<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
        each: impl FnMut(&mut Self, &'v str, &'v Value, &str),
    ) -> Option<&'v Mapping> {
        self.fields_listing(value, path, known, known, each)
    }

    /// [`Decoder::fields`], naming only `listed` among the `known` keys when reporting an
    /// unknown one (keys that are known only to be refused are not offered).
    pub(super) fn fields_listing<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
        listed: &[&str],
        mut each: impl FnMut(&mut Self, &'v str, &'v Value, &str),
    ) -> Option<&'v Mapping> {
        let map = self.mapping(value, path)?;
        for (key, value) in map {
            let Some(key) = self.key(key, path) else {
                continue;
            };
            let field_path = child(path, key);
            if !known.contains(&key) {
                self.report(&field_path, unknown_field_listing(key, known, listed));
            } else if !value.is_null() {
                each(self, key, value, &field_path);
            }
        }
        Some(map)
    }

    /// Reports each of `keys` absent or `null` in the mapping `map` at `path`.
    pub(super) fn require(&mut self, map: &Mapping, path: &str, keys: &[&str]) {
        for key in keys {
            if map.get(key).is_none_or(Value::is_null) {
                self.report(&child(path, key), "required field is missing");
            }
        }
    }

    /// The mapping `value` at `path`.
    pub(super) fn mapping<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(map) => Some(map),
            _ => self.mismatch(path, "a mapping", value),
        }
    }

    /// The key `key` of the mapping at `path`, which must be a string.
    pub(super) fn key<'v>(&mut self, key: &'v Value, path: &str) -> Option<&'v str> {
        match key {
            Value::String(s) => Some(s),
            _ => self.mismatch(path, "a string key", key),
        }
    }

    /// The list `value` at `path`.
    pub(super) fn list<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v [Value]> {
        match value {
            Value::Sequence(items) => Some(items),
            _ => self.mismatch(path, "a list", value),
        }
    }

    /// The list `value` at `path`, each item decoded by `each` at its own path; the items it
    /// could not decode (reported) are left out.
    pub(super) fn items<T>(
        &mut self,
        value: &Value,
        path: &str,
        mut each: impl FnMut(&mut Self, &Value, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = self.list(value, path)?;
        let mut decoded = Vec::with_capacity(items.len());
        for (index, entry) in items.iter().enumerate() {
            decoded.extend(each(self, entry, &item(path, index)));
        }
        Some(decoded)
    }

    /// The string `value` at `path`.
    pub(super) fn string(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            _ => self.mismatch(path, "a string", value),
        }
    }

    /// The boolean `value` at `path`.
    pub(super) fn boolean(&mut self, value: &Value, path: &str) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            _ => self.mismatch(path, "true or false", value),
        }
    }

    /// The count `value` at `path`: a YAML whole number that fits in a `u32`.
    pub(super) fn count(&mut self, value: &Value, path: &str) -> Option<u32> {
        let Value::Number(n) = value else {
            return self.mismatch(path, "a whole number", value);
        };
        let got = n.to_string();
        let message = match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => match u32::try_from(u) {
                Ok(count) => return Some(count),
                Err(_) => format!("expected a whole number at most {}, got {got}", u32::MAX),
            },
            (None, Some(_)) => format!("expected a non-negative whole number, got {got}"),
            (None, None) => format!("expected a whole number, got {got}"),
        };
        self.report(path, message);
        None
    }

    /// The number `value` at `path`: a finite YAML number, or a string holding one.
    pub(super) fn number(&mut self, value: &Value, path: &str) -> Option<f64> {
        let number = match value {
            Value::Number(n) => finite(n),
            Value::String(s) => s.parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        };
        number.or_else(|| self.mismatch(path, "a number", value))
    }

    /// The quantity `value` at `path`: a finite YAML number, or a string holding a Kubernetes
    /// quantity such as `0.05` or `50m`.
    pub(super) fn quantity(&mut self, value: &Value, path: &str) -> Option<f64> {
        let quantity = match value {
            Value::Number(n) => finite(n),
            Value::String(s) => parse_quantity(s),
            _ => None,
        };
        quantity.or_else(|| self.mismatch(path, "a number or a quantity such as \"50m\"", value))
    }

    /// The enumeration `value` at `path`: a string spelled as one of `options`.
    pub(super) fn choice<T: Copy>(
        &mut self,
        value: &Value,
        path: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        if let Value::String(s) = value
            && let Some((_, choice)) = options.iter().find(|(name, _)| name == s)
        {
            return Some(*choice);
        }
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let expected = format!("one of {}", names.join(", "));
        self.mismatch(path, &expected, value)
    }
}

/// `n` as a finite `f64`.
fn finite(n: &Number) -> Option<f64> {
    n.as_f64().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for (text, expected) in [
            ("0.05", 0.05),
            ("50m", 0.05),
            ("+1", 1.0),
            ("-2", -2.0),
            (".5", 0.5),
            ("1e-1", 0.1),
            ("1E2", 100.0),
            ("2k", 2000.0),
            ("1E", 1e18),
            ("1Ki", 1024.0),
            ("3u", 3e-6),
        ] {
            assert_eq!(parse_quantity(text), Some(expected), "{text}");
        }
        for text in [
            "", "m", ".", "1.2.3", "5x", "1e", "1e+", "1 m", "50M i", "inf", "1-2",
        ] {
            assert_eq!(parse_quantity(text), None, "{text}");
        }
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("kind", ""), 4);
        assert_eq!(edit_distance("pollingintervall", "pollinginterval"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("réplicas", "replicas"), 1);
    }

    #[test]
    fn paths() {
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(child("spec", "min_1"), "spec.min_1");
        assert_eq!(child("a", "b.c"), r#"a["b.c"]"#);
        assert_eq!(child("a", "1x"), r#"a["1x"]"#);
        assert_eq!(child("a", ""), r#"a[""]"#);
        assert_eq!(child("a", "q\""), r#"a["q\""]"#);
        assert_eq!(item("triggers", 2), "triggers[2]");
    }

    #[test]
    fn counts_from_text() {
        assert_eq!(parse_count("7"), Ok(7));
        assert_eq!(
            parse_count("4294967296"),
            Err(r#"expected a whole number at most 4294967295, got "4294967296""#.to_owned())
        );
        assert_eq!(
            parse_count("1.5"),
            Err(r#"expected a whole number, got "1.5""#.to_owned())
        );
    }

    #[test]
    fn unknown_field_hints() {
        let known = ["name", "namespace", "kind"];
        let hint = |key| unknown_field_listing(key, &known, &known);
        assert_eq!(hint("nme"), r#"unknown field, did you mean "name"?"#);
        assert_eq!(hint("KIND"), r#"unknown field, did you mean "kind"?"#);
        assert_eq!(
            hint("labels"),
            "unknown field; expected one of name, namespace, kind"
        );
        // Suggestions come from every candidate, the list only from the listed keys.
        assert_eq!(
            unknown_field_listing("kinds", &known, &known[..2]),
            r#"unknown field, did you mean "kind"?"#
        );
        assert_eq!(
            unknown_field_listing("labels", &known, &known[..2]),
            "unknown field; expected one of name, namespace"
        );
    }
}
