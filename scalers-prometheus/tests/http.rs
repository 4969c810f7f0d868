//! The trigger against small local HTTP servers: what it sends (path, query string, headers,
//! credentials), how it shares connections, and how each kind of failure is reported.

mod common;

use std::error::Error as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{build_in, concrete, endpoint, failure, registry, trigger};
use scalers_core::trigger::{Sample, TriggerError, TriggerErrorKind};
use scalers_prometheus::ClientPool;
use scalers_testkit::{HttpStub, TriggerCase, refused_url, run_and_assert_trigger_compliance};

const ONE_ELEMENT: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"queue":"orders"},"value":[1700000000.5,"42"]}]}}"#;

fn base<'a>(server: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut m = vec![
        ("serverAddress", server),
        ("query", "sum(queue_depth{queue=\"orders\"})"),
        ("threshold", "10"),
    ];
    m.extend_from_slice(extra);
    m
}

/// Display of the error and of its whole source chain, and its Debug.
fn everything_shown(e: &TriggerError) -> String {
    let mut shown = format!("{e}\n{e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        shown.push_str(&format!("\n{s}\n{s:?}"));
        source = s.source();
    }
    shown
}

#[tokio::test]
async fn sends_the_instant_query_with_namespace_and_query_parameters_encoded() {
    let stub = HttpStub::json(ONE_ELEMENT).await;
    let server = format!("{}/prometheus/", stub.url());
    let t = trigger(&base(
        &server,
        &[
            ("namespace", "team a/b"),
            ("queryParameters", "dedup=true,filter=a b&c=d"),
        ],
    ));
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(42.0, 0.0));
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();

    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path(), "/prometheus/api/v1/query");
    let pairs = r.raw_query_pairs();
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["query", "time", "namespace", "dedup", "filter"]);
    assert_eq!(pairs[0].1, "sum%28queue_depth%7Bqueue%3D%22orders%22%7D%29");
    let time: f64 = pairs[1].1.parse().unwrap();
    assert!(
        before - 0.001 <= time && time <= after + 0.001,
        "{before} <= {time} <= {after}"
    );
    assert_eq!(pairs[2].1, "team+a%2Fb");
    assert_eq!(pairs[3].1, "true");
    assert_eq!(pairs[4].1, "a+b%26c%3Dd");
}

#[tokio::test]
async fn custom_headers_bearer_and_custom_auth_reach_the_server() {
    let stub = HttpStub::json(ONE_ELEMENT).await;
    let server = stub.url();
    let t = trigger(&base(
        &server,
        &[
            ("customHeaders", "X-Scope-OrgID=team-a,X-Other=1"),
            ("authModes", "bearer,custom"),
            ("bearerToken", "t0ken"),
            ("customAuthHeader", "X-Api-Key"),
            ("customAuthValue", "k3y"),
        ],
    ));
    assert_eq!(t.trigger.sample().await.unwrap(), Sample::new(42.0, 0.0));
    let r = &stub.requests()[0];
    assert_eq!(r.header("x-scope-orgid"), Some("team-a"));
    assert_eq!(r.header("x-other"), Some("1"));
    assert_eq!(r.header("authorization"), Some("Bearer t0ken"));
    assert_eq!(r.header("x-api-key"), Some("k3y"));
}

#[tokio::test]
async fn basic_auth_from_the_authentication_section_reaches_the_server() {
    let stub = HttpStub::json(ONE_ELEMENT).await;
    let server = stub.url();
    let built = build_in(
        &registry(&ClientPool::new()),
        &base(&server, &[("authModes", "basic")]),
        &[("username", "alice"), ("password", "pw")],
        &[],
    )
    .unwrap();
    assert_eq!(
        built.trigger.sample().await.unwrap(),
        Sample::new(42.0, 0.0)
    );
    // base64("alice:pw")
    assert_eq!(
        stub.requests()[0].header("authorization"),
        Some("Basic YWxpY2U6cHc=")
    );
}

#[tokio::test]
async fn bearer_token_from_the_environment_reaches_the_server() {
    let stub = HttpStub::json(ONE_ELEMENT).await;
    let server = stub.url();
    let built = build_in(
        &registry(&ClientPool::new()),
        &base(
            &server,
            &[
                ("authModes", "bearer"),
                ("bearerTokenFromEnv", "PROM_TOKEN"),
            ],
        ),
        &[],
        &[("PROM_TOKEN", "from-env")],
    )
    .unwrap();
    built.trigger.sample().await.unwrap();
    assert_eq!(
        stub.requests()[0].header("authorization"),
        Some("Bearer from-env")
    );
}

#[tokio::test]
async fn triggers_with_the_same_server_and_credentials_share_one_client() {
    let stub = HttpStub::json(ONE_ELEMENT).await;
    let server = stub.url();
    let pool = ClientPool::new();
    let registry = registry(&pool);
    let bearer = [("authModes", "bearer"), ("bearerToken", "t")];
    let mut a_meta = base(&server, &bearer);
    a_meta[1] = ("query", "sum(a)");
    let mut b_meta = base(&server, &bearer);
    b_meta[1] = ("query", "sum(b)");
    let a = build_in(&registry, &a_meta, &[], &[]).unwrap();
    let b = build_in(&registry, &b_meta, &[], &[]).unwrap();
    assert_eq!(pool.len(), 1);

    for _ in 0..3 {
        a.trigger.sample().await.unwrap();
        b.trigger.sample().await.unwrap();
    }
    assert_eq!(stub.requests().len(), 6);
    // One keep-alive connection carried all six queries of both triggers.
    assert_eq!(stub.connections(), 1);

    // Other credentials get another client (and connection).
    let other = build_in(
        &registry,
        &base(&server, &[("authModes", "bearer"), ("bearerToken", "u")]),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(pool.len(), 2);
    other.trigger.sample().await.unwrap();
    assert_eq!(stub.connections(), 2);

    // Clients go away with the last trigger using them.
    drop((a, b, other));
    assert!(pool.is_empty());
}

#[tokio::test]
async fn sharing_is_visible_on_concrete_triggers() {
    let pool = ClientPool::new();
    let server = "http://prometheus.invalid:9090";
    let a = concrete(&base(server, &[("query", "a")]), &pool);
    let b = concrete(
        &base(&format!("{server}/other/"), &[("timeout", "10")]),
        &pool,
    );
    let tls_off = concrete(&base(server, &[("unsafeSsl", "true")]), &pool);
    let other_port = concrete(&base("http://prometheus.invalid:9091", &[]), &pool);
    assert!(a.shares_client_with(&b));
    assert!(!a.shares_client_with(&tls_off));
    assert!(!a.shares_client_with(&other_port));
    assert_eq!(pool.len(), 3);
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let stub = HttpStub::never_answer().await;
    let server = stub.url();
    let t = trigger(&base(&server, &[("timeout", "200")]));
    let started = Instant::now();
    let e = t.trigger.sample().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Timeout,
            format!("{}: no answer within 200 ms", endpoint(&server)).as_str()
        )
    );
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn requests_to_one_server_are_limited_in_flight_and_waiting() {
    let stub = HttpStub::never_answer().await;
    let server = stub.url();
    let pool = ClientPool::new();
    let registry = registry(&pool);
    // MAX_IN_FLIGHT triggers of one server whose queries hang for 10 s hold every slot...
    let holders: Vec<_> = (0..scalers_prometheus::MAX_IN_FLIGHT)
        .map(|i| {
            let query = format!("sum(q{i})");
            build_in(
                &registry,
                &base(&server, &[("query", &query), ("timeout", "10000")]),
                &[],
                &[],
            )
            .unwrap()
        })
        .collect();
    let in_flight: Vec<_> = holders
        .iter()
        .map(|t| {
            let trigger = t.trigger.clone();
            tokio::spawn(async move { trigger.sample().await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stub.requests().len() < scalers_prometheus::MAX_IN_FLIGHT {
        assert!(
            Instant::now() < deadline,
            "{} requests",
            stub.requests().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...so one more trigger of the same server waits for a slot, and gives up at its timeout
    // without opening another connection.
    let late = build_in(&registry, &base(&server, &[("timeout", "300")]), &[], &[]).unwrap();
    assert_eq!(pool.len(), 1);
    let started = Instant::now();
    let e = late.trigger.sample().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Timeout,
            format!(
                "{}: no answer within 300 ms ({} requests to this server already in flight)",
                endpoint(&server),
                scalers_prometheus::MAX_IN_FLIGHT
            )
            .as_str()
        )
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(stub.connections(), scalers_prometheus::MAX_IN_FLIGHT);
    assert_eq!(stub.requests().len(), scalers_prometheus::MAX_IN_FLIGHT);

    // With MAX_WAITING samples waiting too, one more fails at once instead of queueing.
    let waiters: Vec<_> = (0..scalers_prometheus::MAX_WAITING)
        .map(|_| {
            let trigger = holders[0].trigger.clone();
            tokio::spawn(async move { trigger.sample().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let e = late.trigger.sample().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Timeout,
            format!(
                "{}: no answer within 300 ms ({} requests to this server already in flight \
                 and {} waiting; not queued)",
                endpoint(&server),
                scalers_prometheus::MAX_IN_FLIGHT,
                scalers_prometheus::MAX_WAITING,
            )
            .as_str()
        )
    );
    for w in waiters {
        w.abort();
    }
    assert_eq!(stub.connections(), scalers_prometheus::MAX_IN_FLIGHT);

    // A slot freed (a sample ended) is taken by the next request.
    in_flight[0].abort();
    let _ = in_flight.into_iter().next().unwrap().await;
    let next = tokio::spawn(async move { late.trigger.sample().await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while stub.requests().len() <= scalers_prometheus::MAX_IN_FLIGHT {
        assert!(Instant::now() < deadline, "the freed slot was not reused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    next.abort();
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let server = refused_url();
    let t = trigger(&base(&server, &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Unavailable,
            format!("{}: cannot connect", endpoint(&server)).as_str()
        )
    );
    assert!(e.source.is_some());
}

#[tokio::test]
async fn the_crate_error_is_kept_for_downcasting_and_printed_once() {
    let server = refused_url();
    let t = trigger(&base(&server, &[]));
    let e = t.trigger.sample().await.unwrap_err();
    let Some(scalers_prometheus::Error::Connect {
        endpoint: at,
        source,
    }) = e.downcast_ref::<scalers_prometheus::Error>()
    else {
        panic!("not this crate's Connect error: {e:?}");
    };
    assert_eq!(*at, endpoint(&server));
    // The chain goes on from the crate error's own cause: the message is not repeated.
    let next = e.source().expect("the transport error");
    assert!(next.is::<reqwest::Error>(), "{next:?}");
    assert_eq!(next.to_string(), source.to_string());
}

#[tokio::test]
async fn non_2xx_answers_are_bad_responses_without_their_body() {
    let stub = HttpStub::respond(502, "text/html", "<h1>GET /api/v1/query?x</h1>").await;
    let server = stub.url();
    let t = trigger(&base(&server, &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::BadResponse,
            format!("{}: HTTP 502 Bad Gateway", endpoint(&server)).as_str()
        )
    );
}

#[tokio::test]
async fn prometheus_errors_show_their_type_and_message() {
    let body = r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples"}"#;
    let stub = HttpStub::respond(422, "application/json", body).await;
    let server = stub.url();
    let t = trigger(&base(&server, &[]));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::BadResponse,
            format!(
                "{}: HTTP 422 Unprocessable Entity: execution: query processing would load too \
                 many samples",
                endpoint(&server)
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn rejected_credentials_are_unauthorized() {
    for (status, reason) in [(401, "Unauthorized"), (403, "Forbidden")] {
        let stub = HttpStub::respond(status, "text/plain", "no").await;
        let server = stub.url();
        let t = trigger(&base(&server, &[]));
        let e = t.trigger.sample().await.unwrap_err();
        assert_eq!(
            failure(&e),
            (
                TriggerErrorKind::Unauthorized,
                format!("{}: HTTP {status} {reason}", endpoint(&server)).as_str()
            )
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_bad_response() {
    for body in [
        "<html>not json</html>",
        r#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
    ] {
        let stub = HttpStub::json(body).await;
        let server = stub.url();
        let t = trigger(&base(&server, &[]));
        let e = t.trigger.sample().await.unwrap_err();
        assert_eq!(
            failure(&e),
            (
                TriggerErrorKind::BadResponse,
                format!("{}: malformed response", endpoint(&server)).as_str()
            ),
            "{body}"
        );
        let cause = std::error::Error::source(&e).expect("the JSON error as source");
        assert!(cause.is::<serde_json::Error>(), "{cause:?}");
    }
}

#[tokio::test]
async fn credentials_never_appear_in_errors() {
    let never = HttpStub::never_answer().await;
    let unauthorized = HttpStub::respond(401, "text/plain", "bad token s3cret-body").await;
    let failing = HttpStub::respond(500, "text/plain", "s3cret-body").await;
    let malformed = HttpStub::json("{").await;
    let refused = refused_url();
    let servers = [
        never.url(),
        unauthorized.url(),
        failing.url(),
        malformed.url(),
        refused,
    ];
    for server in &servers {
        let with_userinfo = server.replace("http://", "http://user:s3cret-ui@");
        let configs = [
            base(
                server,
                &[
                    ("timeout", "200"),
                    ("authModes", "bearer,custom"),
                    ("bearerToken", "s3cret-tok"),
                    ("customAuthHeader", "X-Api-Key"),
                    ("customAuthValue", "s3cret-cust"),
                    ("customHeaders", "X-Scope-OrgID=s3cret-hdr"),
                    ("queryParameters", "token=s3cret-qp"),
                ],
            ),
            base(
                &with_userinfo,
                &[
                    ("timeout", "200"),
                    ("authModes", "basic"),
                    ("username", "alice"),
                    ("password", "s3cret-pw"),
                ],
            ),
        ];
        let secrets = [
            "s3cret-ui",
            "s3cret-tok",
            "s3cret-cust",
            "s3cret-hdr",
            "s3cret-qp",
            "s3cret-pw",
        ];
        for metadata in &configs {
            let case = secrets.into_iter().fold(
                TriggerCase::new("prometheus", metadata),
                TriggerCase::secret,
            );
            let e = run_and_assert_trigger_compliance(&registry(&ClientPool::new()), &case)
                .await
                .unwrap_err();
            let shown = everything_shown(&e);
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(!shown.contains("token="), "{shown}");
            let t = trigger(metadata);
            let shown = format!("{t:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }
}

#[tokio::test]
async fn redirects_are_followed_within_the_server_only() {
    let target = HttpStub::json(ONE_ELEMENT).await;
    // Same origin: a path moved on the same server is followed.
    let same = HttpStub::redirect(307, "/moved/api/v1/query").await;
    let t = trigger(&base(&same.url(), &[]));
    let e = t.trigger.sample().await.unwrap_err();
    // The stub redirects every request, including the redirected one: 11 hops, then an error.
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::Unavailable,
            format!("{}: request failed", endpoint(&same.url())).as_str()
        )
    );
    assert_eq!(same.requests().len(), 11);
    assert_eq!(same.requests()[1].path(), "/moved/api/v1/query");

    // Another origin (`localhost` is not `127.0.0.1`): not followed, credentials stay home.
    let elsewhere = format!(
        "{}/api/v1/query",
        target.url().replace("127.0.0.1", "localhost")
    );
    let away = HttpStub::redirect(302, &elsewhere).await;
    let server = away.url();
    let t = trigger(&base(
        &server,
        &[
            ("authModes", "custom"),
            ("customAuthHeader", "X-Api-Key"),
            ("customAuthValue", "k3y"),
        ],
    ));
    let e = t.trigger.sample().await.unwrap_err();
    assert_eq!(
        failure(&e),
        (
            TriggerErrorKind::BadResponse,
            format!("{}: HTTP 302 Found", endpoint(&server)).as_str()
        )
    );
    assert_eq!(target.connections(), 0);
}
