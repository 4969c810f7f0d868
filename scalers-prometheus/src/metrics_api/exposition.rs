//! `valueLocation` for `format: prometheus`: one series of a Prometheus text exposition.

use std::fmt;

/// A `valueLocation` for `format: prometheus`: a metric name, optionally with label matchers,
/// that must match exactly one sample of the exposition.
///
/// `queue_depth` matches every sample of `queue_depth`; `queue_depth{queue="orders"}` only
/// those whose `queue` label is `orders` (other labels may be present). As in PromQL, a
/// matcher with an empty value matches samples without that label. Only `=` is supported.
///
/// Unlike KEDA, which takes the first line whose text starts with `valueLocation`, a name
/// matches only that metric, and several matching samples are an error rather than a silent
/// pick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesSelector {
    raw: String,
    name: String,
    labels: Vec<(String, String)>,
}

/// A sample of the selected series: its line (from 1) and its value as written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Match<'a> {
    pub(crate) line: usize,
    pub(crate) value: &'a str,
}

impl SeriesSelector {
    /// Parses a selector, or says what is wrong with it.
    pub(crate) fn parse(raw: &str) -> Result<Self, &'static str> {
        let mut c = Cursor::new(raw.trim());
        let name = c
            .metric_name()
            .ok_or("it does not start with a metric name")?;
        let labels = if c.eat('{') { c.labels()? } else { Vec::new() };
        c.skip_space();
        if !c.rest().is_empty() {
            return Err("unexpected text after the metric name and labels");
        }
        Ok(SeriesSelector {
            raw: raw.to_owned(),
            name: name.to_owned(),
            labels,
        })
    }

    /// The selector as written in the config.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The samples of `text` that match.
    ///
    /// Only lines of the selected metric are parsed; the rest (other metrics, comments, blank
    /// lines) are skipped without a look.
    ///
    /// # Errors
    /// The line (from 1) and what is wrong with it, for a malformed sample of the metric.
    pub(crate) fn matches<'a>(
        &self,
        text: &'a str,
    ) -> Result<Vec<Match<'a>>, (usize, &'static str)> {
        let mut found = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_start();
            let Some(rest) = line.strip_prefix(self.name.as_str()) else {
                continue;
            };
            if !rest.starts_with(['{', ' ', '\t']) {
                continue;
            }
            let mut c = Cursor::new(rest);
            let labels = if c.eat('{') {
                c.labels().map_err(|reason| (i + 1, reason))?
            } else {
                Vec::new()
            };
            c.skip_space();
            let value = c.token();
            if value.is_empty() {
                return Err((i + 1, "a sample without a value"));
            }
            let selected = self.labels.iter().all(|(name, wanted)| {
                let got = labels.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                got.map_or("", String::as_str) == wanted
            });
            if selected {
                found.push(Match { line: i + 1, value });
            }
        }
        Ok(found)
    }
}

impl fmt::Display for SeriesSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A position in a line.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    /// The characters up to the next space or the end.
    fn token(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest.find([' ', '\t']).unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    fn metric_name(&mut self) -> Option<&'a str> {
        self.identifier(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    fn label_name(&mut self) -> Option<&'a str> {
        self.identifier(|c| c.is_ascii_alphabetic() || c == '_')
    }

    fn identifier(&mut self, first: fn(char) -> bool) -> Option<&'a str> {
        let rest = self.rest();
        if !rest.starts_with(first) {
            return None;
        }
        let len = rest
            .find(|c: char| !(first(c) || c.is_ascii_digit()))
            .unwrap_or(rest.len());
        self.at += len;
        Some(&rest[..len])
    }

    /// `"…"` with the escapes `\\`, `\"` and `\n`.
    fn quoted(&mut self) -> Result<String, &'static str> {
        if !self.eat('"') {
            return Err("a label value is not quoted");
        }
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += i + 1;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, e @ ('\\' | '"'))) => value.push(e),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => break,
                },
                other => value.push(other),
            }
        }
        Err("a label value is not closed")
    }

    /// `name="value", …}`, after the `{`.
    fn labels(&mut self) -> Result<Vec<(String, String)>, &'static str> {
        let mut labels = Vec::new();
        loop {
            self.skip_space();
            if self.eat('}') {
                return Ok(labels);
            }
            let name = self.label_name().ok_or("a label name is invalid")?;
            self.skip_space();
            if !self.eat('=') {
                return Err("a label has no \"=\"");
            }
            self.skip_space();
            let value = self.quoted()?;
            labels.push((name.to_owned(), value));
            self.skip_space();
            if !self.eat(',') {
                self.skip_space();
                return if self.eat('}') {
                    Ok(labels)
                } else {
                    Err("the labels are not closed by \"}\"")
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP queue_depth Jobs waiting.
# TYPE queue_depth gauge
queue_depth{queue="orders",region="eu"} 42
queue_depth{queue="invoices", region="eu",} 7 1700000000000
queue_depth_total 99
queue_depth{queue="quote\"d\\n"} 3
  up 1
other{x="y"} NaN
"#;

    fn values(selector: &str, text: &str) -> Result<Vec<(usize, String)>, (usize, &'static str)> {
        let selector = SeriesSelector::parse(selector).unwrap();
        Ok(selector
            .matches(text)?
            .into_iter()
            .map(|m| (m.line, m.value.to_owned()))
            .collect())
    }

    fn at(line: usize, value: &str) -> (usize, String) {
        (line, value.to_owned())
    }

    #[test]
    fn selects_by_name_and_labels() {
        assert_eq!(
            values("queue_depth{queue=\"orders\"}", TEXT),
            Ok(vec![at(3, "42")])
        );
        assert_eq!(
            values("queue_depth{ queue = \"invoices\" , region=\"eu\" }", TEXT),
            Ok(vec![at(4, "7")])
        );
        assert_eq!(
            values("queue_depth", TEXT),
            Ok(vec![at(3, "42"), at(4, "7"), at(6, "3")])
        );
        assert_eq!(
            values("queue_depth{region=\"\"}", TEXT),
            Ok(vec![at(6, "3")])
        );
        assert_eq!(
            values(r#"queue_depth{queue="quote\"d\\n"}"#, TEXT),
            Ok(vec![at(6, "3")])
        );
        assert_eq!(values("queue_depth_total", TEXT), Ok(vec![at(5, "99")]));
        assert_eq!(values("up", TEXT), Ok(vec![at(7, "1")]));
        assert_eq!(values("other", TEXT), Ok(vec![at(8, "NaN")]));
        assert_eq!(values("queue", TEXT), Ok(vec![]));
        assert_eq!(values("HELP", TEXT), Ok(vec![]));
    }

    #[test]
    fn malformed_samples_of_the_metric_are_errors_others_are_skipped() {
        let text = "junk{{{ here\nm{a=\"x\" 1\nm{a=x} 1\nm{a=\"x} 1\nm{1=\"x\"} 1\nm \n";
        assert_eq!(values("junk2", text), Ok(vec![]));
        for (line, reason) in [
            ("m{a=\"x\" 1", "the labels are not closed by \"}\""),
            ("m{a=x} 1", "a label value is not quoted"),
            ("m{a=\"x} 1", "a label value is not closed"),
            ("m{1=\"x\"} 1", "a label name is invalid"),
            ("m{a} 1", "a label has no \"=\""),
            ("m ", "a sample without a value"),
        ] {
            assert_eq!(values("m", line), Err((1, reason)), "{line}");
        }
        assert_eq!(
            values("m", "m 1\nm{a=x} 2"),
            Err((2, "a label value is not quoted"))
        );
    }

    #[test]
    fn invalid_selectors() {
        for (raw, reason) in [
            ("", "it does not start with a metric name"),
            ("1abc", "it does not start with a metric name"),
            ("{a=\"b\"}", "it does not start with a metric name"),
            ("m{a=\"b\"", "the labels are not closed by \"}\""),
            ("m{a=~\"b\"}", "a label value is not quoted"),
            ("m{a!=\"b\"}", "a label has no \"=\""),
            ("m x", "unexpected text after the metric name and labels"),
            (
                "rate(m[5m])",
                "unexpected text after the metric name and labels",
            ),
        ] {
            assert_eq!(SeriesSelector::parse(raw), Err(reason), "{raw:?}");
        }
        let s = SeriesSelector::parse(" job:queue_depth:sum{queue=\"a\",} ").unwrap();
        assert_eq!(s.name, "job:queue_depth:sum");
        assert_eq!(s.labels, [("queue".to_owned(), "a".to_owned())]);
        assert_eq!(s.as_str(), " job:queue_depth:sum{queue=\"a\",} ");
    }
}
