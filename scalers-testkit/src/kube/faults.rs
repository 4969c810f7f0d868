//! Injected faults: answers a test chooses for the requests it names.

use std::time::Duration;

/// What a matching request gets instead of (or before) its normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FaultAction {
    Status(u16),
    Delay(Duration),
    /// A watch answered with an `ERROR` event carrying a 410 `Expired` `Status`.
    Expired,
}

/// An injected fault: for requests matching a method and a path pattern, answer a status code
/// (as a Kubernetes `Status` object) or wait before the normal answer.
///
/// A fault without [`Fault::on`] matches every request; without [`Fault::times`] it never wears
/// off. Path patterns match segment by segment: `*` matches one segment, `**` any number (zero
/// or more); the query string is ignored. A watch is a `GET` of its collection's path.
///
/// ```
/// use std::time::Duration;
/// use scalers_testkit::Fault;
///
/// let conflict_twice = Fault::status(409)
///     .on("PATCH", "/apis/apps/v1/namespaces/*/deployments/web/scale")
///     .times(2);
/// let slow_leases = Fault::delay(Duration::from_secs(3)).on("*", "/apis/coordination.k8s.io/**");
/// let next_watch_expired = Fault::expired().on("GET", "/apis/keda.sh/**").times(1);
/// # let _ = (conflict_twice, slow_leases, next_watch_expired);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    method: Option<String>,
    pattern: String,
    agent: Option<String>,
    pub(super) action: FaultAction,
    pub(super) remaining: Option<u32>,
}

impl Fault {
    fn new(action: FaultAction) -> Self {
        Fault {
            method: None,
            pattern: "/**".to_owned(),
            agent: None,
            action,
            remaining: None,
        }
    }

    /// Answer `code` (e.g. 403, 404, 409, 500, 503) with a `Status` body, instead of handling
    /// the request (a watch gets it as its HTTP answer, before any event).
    pub fn status(code: u16) -> Self {
        Fault::new(FaultAction::Status(code))
    }

    /// Wait `delay`, then handle the request normally.
    pub fn delay(delay: Duration) -> Self {
        Fault::new(FaultAction::Delay(delay))
    }

    /// Answer a watch (only: other requests do not match, nor count) as the real server does
    /// when its `resourceVersion` is older than the history kept: HTTP 200 with one `ERROR`
    /// event whose object is a `Status` with code 410, reason `Expired`, then the end of the
    /// stream. A client must then list again.
    pub fn expired() -> Self {
        Fault::new(FaultAction::Expired)
    }

    /// Only for requests with this method (`"*"` for any) whose path matches `pattern`.
    pub fn on(mut self, method: &str, pattern: &str) -> Self {
        self.method = (method != "*").then(|| method.to_ascii_uppercase());
        self.pattern = pattern.to_owned();
        self
    }

    /// Only for the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Only for requests whose `User-Agent` contains `part` (one client among several, e.g.
    /// one replica of a daemon whose agent names its identity).
    pub fn from_agent(mut self, part: &str) -> Self {
        self.agent = Some(part.to_owned());
        self
    }

    pub(super) fn matches(
        &self,
        method: &str,
        path: &str,
        agent: Option<&str>,
        watch: bool,
    ) -> bool {
        self.remaining != Some(0)
            && (watch || self.action != FaultAction::Expired)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .agent
                .as_deref()
                .is_none_or(|part| agent.is_some_and(|a| a.contains(part)))
            && path_matches(&self.pattern, path)
    }
}

/// Whether `path` matches `pattern` (`*`: one segment, `**`: any number of segments).
///
/// ```
/// use scalers_testkit::path_matches;
/// assert!(path_matches("/apis/apps/v1/namespaces/*/deployments/*/scale",
///                      "/apis/apps/v1/namespaces/shop/deployments/web/scale"));
/// assert!(path_matches("/apis/**", "/apis/apps/v1"));
/// assert!(!path_matches("/apis/*", "/apis/apps/v1"));
/// ```
pub fn path_matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[&str], s: &[&str]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((&"**", rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((head, rest)) => match s.split_first() {
                Some((seg, srest)) => (*head == "*" || head == seg) && go(rest, srest),
                None => false,
            },
        }
    }
    let split = |x: &str| -> Vec<String> {
        x.split('?')
            .next()
            .unwrap_or_default()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (p, s) = (split(pattern), split(path));
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    go(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_by_segment() {
        assert!(path_matches("/a/*/c", "/a/b/c"));
        assert!(!path_matches("/a/*/c", "/a/b/x/c"));
        assert!(path_matches("/a/**/c", "/a/b/x/c"));
        assert!(path_matches("/a/**/c", "/a/c"));
        assert!(path_matches("/a/**", "/a"));
        assert!(path_matches("/a/b", "/a/b?x=1"));
        assert!(!path_matches("/a/b", "/a/b/c"));
    }

    #[test]
    fn fault_wears_off_after_its_count() {
        let mut f = Fault::status(409).on("patch", "/x/*").times(1);
        assert!(f.matches("PATCH", "/x/y", None, false));
        assert!(!f.matches("GET", "/x/y", None, false));
        f.remaining = Some(0);
        assert!(!f.matches("PATCH", "/x/y", None, false));
    }

    #[test]
    fn a_fault_from_an_agent_matches_only_that_client() {
        let f = Fault::delay(Duration::from_secs(1)).from_agent("(replica-a)");
        assert!(f.matches("GET", "/api", Some("scalerd/0.1.0 (replica-a)"), false));
        assert!(!f.matches("GET", "/api", Some("scalerd/0.1.0 (replica-b)"), false));
        assert!(!f.matches("GET", "/api", None, false));
        assert!(Fault::status(500).matches("GET", "/api", None, false));
    }

    #[test]
    fn an_expired_fault_matches_only_watches() {
        let f = Fault::expired().on("GET", "/apis/**");
        assert!(f.matches("GET", "/apis/keda.sh/v1alpha1/scaledobjects", None, true));
        assert!(!f.matches("GET", "/apis/keda.sh/v1alpha1/scaledobjects", None, false));
    }
}
