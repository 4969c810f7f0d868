//! Building `prometheus` triggers from config: defaults, values from every source, and the exact
//! errors for invalid parameters (all reported at once). No I/O happens here.

mod common;

use std::time::Duration;

use common::{build, build_in, config, registry};
use scalers_core::config::model::MetricType;
use scalers_core::trigger::{BuildContext, MetricTarget};
use scalers_prometheus::{ClientPool, Credentials};
use scalers_testkit::pairs as errors;

const BASE: [(&str, &str); 3] = [
    ("serverAddress", "http://prometheus.invalid:9090"),
    ("query", "sum(up)"),
    ("threshold", "10"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut all = BASE.to_vec();
    all.extend_from_slice(extra);
    all
}

fn build_errors(metadata: &[(&str, &str)]) -> Vec<(String, String)> {
    match build(metadata) {
        Ok(t) => panic!("expected errors, built {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_are_keda_defaults() {
    let c = config(&BASE, &[]).unwrap();
    assert_eq!(c.server_address.as_str(), "http://prometheus.invalid:9090/");
    assert_eq!(c.query, "sum(up)");
    assert_eq!(c.threshold, 10.0);
    assert_eq!(c.activation_threshold, 0.0);
    assert_eq!(c.metric_type, MetricType::AverageValue);
    assert_eq!(c.namespace, None);
    assert!(c.custom_headers.is_empty());
    assert!(c.query_parameters.is_empty());
    assert!(c.ignore_null_values);
    assert!(!c.unsafe_ssl);
    assert_eq!(c.timeout, Duration::from_millis(3000));
    assert_eq!(c.auth.credentials, Credentials::None);
    assert_eq!(c.auth.tls, None);
    assert_eq!(c.auth.custom, None);
}

#[test]
fn target_follows_threshold_activation_and_metric_type() {
    let mut object = scalers_testkit::object_with_trigger(
        "prometheus",
        &with(&[("activationThreshold", "-2.5")]),
    );
    object.triggers[0].metric_type = MetricType::Value;
    let registry = registry(&ClientPool::new());
    let no_env = |_: &str| None;
    let built = registry
        .build(BuildContext::new(&object, 0).with_env(&no_env))
        .unwrap();
    assert_eq!(
        built.trigger.target(),
        MetricTarget {
            value: 10.0,
            metric_type: MetricType::Value,
            activation_threshold: -2.5,
        }
    );
}

#[test]
fn options_are_parsed() {
    let c = config(
        &with(&[
            ("namespace", "team-a"),
            ("customHeaders", "X-Scope-OrgID=team-a, X-Other=1"),
            ("queryParameters", "dedup=true,partial_response=false"),
            ("ignoreNullValues", "false"),
            ("unsafeSsl", "true"),
            ("timeout", "250"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(c.namespace.as_deref(), Some("team-a"));
    let headers: Vec<(&str, &[u8])> = c
        .custom_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    assert_eq!(
        headers,
        [("x-scope-orgid", &b"team-a"[..]), ("x-other", &b"1"[..])]
    );
    assert!(c.custom_headers.iter().all(|(_, v)| v.is_sensitive()));
    let params: Vec<(&str, &str)> = c
        .query_parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    assert_eq!(params, [("dedup", "true"), ("partial_response", "false")]);
    assert!(!c.ignore_null_values);
    assert!(c.unsafe_ssl);
    assert_eq!(c.timeout, Duration::from_millis(250));
}

#[test]
fn credentials_come_from_metadata_auth_params_or_env() {
    let registry = registry(&ClientPool::new());
    // From the authentication section.
    let built = build_in(
        &registry,
        &with(&[("authModes", "basic")]),
        &[("username", "alice"), ("password", "pw")],
        &[],
    );
    assert!(built.is_ok(), "{built:?}");
    let c = config(
        &with(&[("authModes", "basic")]),
        &[("username", "alice"), ("password", "pw")],
    )
    .unwrap();
    let Credentials::Basic { username, password } = c.auth.credentials else {
        panic!("expected basic credentials");
    };
    assert_eq!(username.expose(), "alice");
    assert_eq!(password.unwrap().expose(), "pw");

    // From the environment, via bearerTokenFromEnv.
    let built = build_in(
        &registry,
        &with(&[
            ("authModes", "bearer"),
            ("bearerTokenFromEnv", "PROM_TOKEN"),
        ]),
        &[],
        &[("PROM_TOKEN", "t0ken")],
    );
    assert!(built.is_ok(), "{built:?}");
    // And a missing variable is reported where it was named.
    let missing = build_in(
        &registry,
        &with(&[
            ("authModes", "bearer"),
            ("bearerTokenFromEnv", "PROM_TOKEN"),
        ]),
        &[],
        &[],
    )
    .unwrap_err();
    assert_eq!(
        missing,
        errors(&[(
            "metadata.bearerTokenFromEnv",
            "environment variable PROM_TOKEN is not set"
        )])
    );
}

#[test]
fn missing_required_parameters_are_reported_together() {
    assert_eq!(
        build_errors(&[]),
        errors(&[
            ("metadata.serverAddress", "required parameter is missing"),
            ("metadata.query", "required parameter is missing"),
            ("metadata.threshold", "required parameter is missing"),
        ])
    );
}

#[test]
fn threshold_must_be_a_positive_number() {
    let ten = [BASE[0], BASE[1], ("threshold", "ten")];
    assert_eq!(
        build_errors(&ten),
        errors(&[("metadata.threshold", "expected a number, got \"ten\"")])
    );
    let negative = [BASE[0], BASE[1], ("threshold", "-1")];
    assert_eq!(
        build_errors(&negative),
        errors(&[("metadata.threshold", "must be greater than 0, got -1")])
    );
}

#[test]
fn server_address_must_be_an_http_url_and_is_shown_without_userinfo() {
    let ftp = [
        ("serverAddress", "ftp://user:s3cret@host/x?token=s3cret"),
        BASE[1],
        BASE[2],
    ];
    assert_eq!(
        build_errors(&ftp),
        errors(&[(
            "metadata.serverAddress",
            "expected an http or https URL, got \"ftp://host/x\""
        )])
    );
    let bare = [("serverAddress", "prometheus:9090"), BASE[1], BASE[2]];
    assert_eq!(
        build_errors(&bare),
        errors(&[(
            "metadata.serverAddress",
            "expected an http or https URL, got \"prometheus:9090\""
        )])
    );
}

#[test]
fn invalid_options_are_reported_together() {
    assert_eq!(
        build_errors(&with(&[
            ("activationThreshold", "lots"),
            ("ignoreNullValues", "maybe"),
            ("unsafeSsl", "yes"),
            ("timeout", "0"),
            ("customHeaders", "X Bad=1,novalue"),
        ])),
        errors(&[
            (
                "metadata.activationThreshold",
                "expected a number, got \"lots\""
            ),
            (
                "metadata.customHeaders",
                "expected comma-separated key=value pairs, got \"X Bad=1,novalue\""
            ),
            (
                "metadata.ignoreNullValues",
                "expected true or false, got \"maybe\""
            ),
            ("metadata.unsafeSsl", "expected true or false, got \"yes\""),
            ("metadata.timeout", "must be greater than 0, got 0"),
        ])
    );
    assert_eq!(
        build_errors(&with(&[("customHeaders", "X Bad=1"), ("timeout", "1.5")])),
        errors(&[
            ("metadata.customHeaders", "invalid header name \"X Bad\""),
            ("metadata.timeout", "expected a whole number, got \"1.5\""),
        ])
    );
}

#[test]
fn unknown_auth_mode() {
    assert_eq!(
        build_errors(&with(&[("authModes", "bearer,x")])),
        errors(&[(
            "metadata.authModes",
            "unknown auth mode \"x\"; expected bearer, basic, tls or custom"
        )])
    );
}

#[test]
fn bearer_and_basic_are_exclusive() {
    assert_eq!(
        build_errors(&with(&[
            ("authModes", "bearer, basic"),
            ("bearerToken", "t"),
            ("username", "u"),
        ])),
        errors(&[("metadata.authModes", "bearer and basic cannot be combined")])
    );
}

#[test]
fn each_auth_mode_requires_its_parameters() {
    assert_eq!(
        build_errors(&with(&[("authModes", "bearer")])),
        errors(&[("metadata.bearerToken", "required by authModes bearer")])
    );
    assert_eq!(
        build_errors(&with(&[("authModes", "basic,custom")])),
        errors(&[
            ("metadata.username", "required by authModes basic"),
            ("metadata.customAuthHeader", "required by authModes custom"),
            ("metadata.customAuthValue", "required by authModes custom"),
        ])
    );
    assert_eq!(
        build_errors(&with(&[("authModes", "tls")])),
        errors(&[(
            "metadata.cert",
            "required by authModes tls (with key), unless ca is set"
        )])
    );
    assert_eq!(
        build_errors(&with(&[("authModes", "tls"), ("cert", "x")])),
        errors(&[("metadata.key", "required by authModes tls when cert is set")])
    );
}

#[test]
fn tls_material_must_be_pem() {
    assert_eq!(
        build_errors(&with(&[
            ("authModes", "tls"),
            ("cert", "not a cert"),
            ("key", "s3cret key")
        ])),
        errors(&[(
            "metadata.cert",
            "cert and key are not a PEM certificate and key"
        )])
    );
    assert_eq!(
        build_errors(&with(&[("authModes", "tls"), ("ca", "not a cert")])),
        errors(&[("metadata.ca", "expected PEM certificates")])
    );
}

#[test]
fn custom_auth_header_must_be_valid() {
    assert_eq!(
        build_errors(&with(&[
            ("authModes", "custom"),
            ("customAuthHeader", "X Key"),
            ("customAuthValue", "v"),
        ])),
        errors(&[("metadata.customAuthHeader", "invalid header name \"X Key\"")])
    );
    let c = config(
        &with(&[("authModes", "custom")]),
        &[
            ("customAuthHeader", "X-Api-Key"),
            ("customAuthValue", "s3cret"),
        ],
    )
    .unwrap();
    let custom = c.auth.custom.unwrap();
    assert_eq!(custom.header.as_str(), "x-api-key");
    assert!(custom.value.is_sensitive());
}

#[test]
fn debug_never_shows_secrets() {
    let c = config(
        &[
            ("serverAddress", "https://user:s3cret-ui@prom:9090/sub"),
            ("query", "up"),
            ("threshold", "1"),
            ("customHeaders", "X-Tenant=s3cret-hdr"),
            ("queryParameters", "token=s3cret-qp"),
            ("authModes", "bearer,custom"),
            ("bearerToken", "s3cret-tok"),
            ("customAuthHeader", "X-Key"),
            ("customAuthValue", "s3cret-cust"),
        ],
        &[],
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("https://prom:9090/sub"), "{shown}");
    let trigger = scalers_prometheus::PrometheusTrigger::new(c, &ClientPool::new());
    let shown = format!("{trigger:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("https://prom:9090/sub/api/v1/query"),
        "{shown}"
    );
}

#[test]
fn keda_trims_values_so_a_header_from_a_secret_with_a_newline_is_valid() {
    // KEDA trims every metadata and authentication value (a Secret's trailing newline
    // included) before parsing it.
    let c = config(
        &with(&[("authModes", "custom\n")]),
        &[
            ("customAuthHeader", "header\n"),
            ("customAuthValue", " s3cret\n"),
        ],
    )
    .unwrap();
    let custom = c.auth.custom.unwrap();
    assert_eq!(custom.header.as_str(), "header");
    assert_eq!(custom.value.to_str().unwrap(), "s3cret");
}
