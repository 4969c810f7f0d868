//! Building `metrics-api` triggers from config: defaults, auth modes, and the exact errors for
//! invalid parameters (all reported at once). No I/O happens here.

mod common;

use std::time::Duration;

use common::registry;
use scalers_core::config::model::MetricType;
use scalers_core::trigger::{BuildContext, MetricTarget};
use scalers_prometheus::{
    ApiKey, ClientPool, Credentials, MetricsApiConfig, MetricsApiTrigger, ValueLocation,
};
use scalers_testkit::pairs as errors;

const BASE: [(&str, &str); 3] = [
    ("url", "http://app.invalid:8080/stats"),
    ("valueLocation", "components.worker.tasks"),
    ("targetValue", "10"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = BASE.to_vec();
    all.extend_from_slice(extra);
    all
}

/// The parsed config, or the `(path, message)` errors.
fn config(
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
) -> Result<MetricsApiConfig, Vec<(String, String)>> {
    scalers_testkit::read_params(
        "metrics-api",
        metadata,
        auth,
        &[],
        MetricsApiConfig::from_params,
    )
}

fn build_errors(metadata: &[(&str, &str)], auth: &[(&str, &str)]) -> Vec<(String, String)> {
    match scalers_testkit::build_trigger(
        &registry(&ClientPool::new()),
        "metrics-api",
        metadata,
        auth,
        &[],
    ) {
        Ok(t) => panic!("expected errors, built {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_are_keda_defaults() {
    let c = config(&BASE, &[]).unwrap();
    assert_eq!(c.url.as_str(), "http://app.invalid:8080/stats");
    assert_eq!(c.value_location.format(), "json");
    assert_eq!(c.value_location.as_str(), "components.worker.tasks");
    assert!(matches!(c.value_location, ValueLocation::Json(_)));
    assert_eq!(c.target_value, 10.0);
    assert_eq!(c.activation_target_value, 0.0);
    assert_eq!(c.metric_type, MetricType::AverageValue);
    assert!(!c.unsafe_ssl);
    assert_eq!(c.timeout, Duration::from_millis(3000));
    assert_eq!(c.auth.credentials, Credentials::None);
    assert_eq!(c.auth.api_key, None);
    assert_eq!(c.auth.tls, None);
    assert_eq!(c.auth.custom, None);
}

#[test]
fn options_are_parsed_and_the_target_follows_them() {
    let c = config(
        &with(&[
            ("format", "prometheus"),
            ("valueLocation", "queue_depth{queue=\"orders\"}"),
            ("activationTargetValue", "-1.5"),
            ("unsafeSsl", "true"),
            ("timeout", "250"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(c.value_location.format(), "prometheus");
    assert_eq!(c.value_location.as_str(), "queue_depth{queue=\"orders\"}");
    assert_eq!(c.activation_target_value, -1.5);
    assert!(c.unsafe_ssl);
    assert_eq!(c.timeout, Duration::from_millis(250));

    let mut object = scalers_testkit::object_with_trigger(
        "metrics-api",
        &with(&[("activationTargetValue", "2")]),
    );
    object.triggers[0].metric_type = MetricType::Value;
    let built = registry(&ClientPool::new())
        .build(BuildContext::new(&object, 0))
        .unwrap();
    assert_eq!(
        built.trigger.target(),
        MetricTarget {
            value: 10.0,
            metric_type: MetricType::Value,
            activation_threshold: 2.0,
        }
    );
}

#[test]
fn api_key_placement_and_names() {
    let auth = [("apiKey", "k3y")];
    let header = config(&with(&[("authMode", "apiKey")]), &auth).unwrap();
    let Some(ApiKey::Header { name, value }) = header.auth.api_key else {
        panic!("expected a header key");
    };
    assert_eq!(name.as_str(), "x-api-key");
    assert!(value.is_sensitive());
    assert_eq!(value.as_bytes(), b"k3y");

    let query = config(&with(&[("authMode", "apiKey"), ("method", "query")]), &auth).unwrap();
    let Some(ApiKey::Query { name, value }) = query.auth.api_key else {
        panic!("expected a query key");
    };
    assert_eq!((name.as_str(), value.expose()), ("api_key", "k3y"));

    let named = config(
        &with(&[
            ("authMode", "apiKey"),
            ("method", "query"),
            ("keyParamName", "key"),
        ]),
        &auth,
    )
    .unwrap();
    assert!(matches!(named.auth.api_key, Some(ApiKey::Query { name, .. }) if name == "key"));
}

#[test]
fn unsupported_formats() {
    for format in ["xml", "yaml", "JSON ", "csv"] {
        assert_eq!(
            build_errors(&with(&[("format", format)]), &[]),
            errors(&[(
                "metadata.format",
                format!(
                    "only json and prometheus are supported, got {:?}",
                    format.trim()
                )
                .as_str()
            )]),
            "{format}"
        );
    }
}

#[test]
fn missing_required_parameters_are_reported_together() {
    assert_eq!(
        build_errors(&[], &[]),
        errors(&[
            ("metadata.url", "required parameter is missing"),
            ("metadata.valueLocation", "required parameter is missing"),
            ("metadata.targetValue", "required parameter is missing"),
        ])
    );
}

#[test]
fn invalid_values_are_reported_together() {
    assert_eq!(
        build_errors(
            &[
                ("url", "ftp://user:s3cret@host/x?token=s3cret"),
                ("valueLocation", "items.*.value"),
                ("targetValue", "0"),
                ("activationTargetValue", "some"),
                ("unsafeSsl", "yes"),
                ("timeout", "0"),
                ("aggregateFromKubeServiceEndpoints", "true"),
            ],
            &[]
        ),
        errors(&[
            (
                "metadata.url",
                "expected an http or https URL, got \"ftp://host/x\""
            ),
            (
                "metadata.valueLocation",
                "unsupported path \"items.*.value\": wildcards (\"*\", \"?\") are not \
                 supported; use keys separated by dots, array indices and a final \"#\""
            ),
            ("metadata.targetValue", "must be greater than 0, got 0"),
            (
                "metadata.activationTargetValue",
                "expected a number, got \"some\""
            ),
            ("metadata.unsafeSsl", "expected true or false, got \"yes\""),
            ("metadata.timeout", "must be greater than 0, got 0"),
            (
                "metadata.aggregateFromKubeServiceEndpoints",
                "aggregating over the endpoints of a Kubernetes service is not supported"
            ),
        ])
    );
}

#[test]
fn value_locations_are_checked_for_their_format() {
    assert_eq!(
        build_errors(&with(&[("valueLocation", "items.#.value")]), &[]),
        errors(&[(
            "metadata.valueLocation",
            "unsupported path \"items.#.value\": \"#\" must be the last element; use keys \
             separated by dots, array indices and a final \"#\""
        )])
    );
    assert_eq!(
        build_errors(
            &with(&[
                ("format", "prometheus"),
                ("valueLocation", "sum(rate(x[5m]))")
            ]),
            &[]
        ),
        errors(&[(
            "metadata.valueLocation",
            "invalid series \"sum(rate(x[5m]))\": unexpected text after the metric name and \
             labels; expected a metric name with optional labels, like \
             queue_depth{queue=\"orders\"}"
        )])
    );
    // A GJSON path is not a series name, and the other way round.
    assert!(config(&with(&[("format", "prometheus")]), &[]).is_err());
    assert!(config(&with(&[("valueLocation", "queue_depth{queue=\"a\"}")]), &[]).is_ok());
}

#[test]
fn auth_mode_errors() {
    assert_eq!(
        build_errors(&with(&[("authMode", "apiKey,oauth")]), &[("apiKey", "k")]),
        errors(&[(
            "metadata.authMode",
            "unknown auth mode \"oauth\"; expected apiKey, basic, bearer, tls or custom"
        )])
    );
    assert_eq!(
        build_errors(&with(&[("authMode", "apiKey,bearer,basic")]), &[]),
        errors(&[
            ("metadata.authMode", "bearer and basic cannot be combined"),
            ("metadata.apiKey", "required by authMode apiKey"),
        ])
    );
    assert_eq!(
        build_errors(
            &with(&[("authMode", "bearer"), ("authModes", "basic")]),
            &[]
        ),
        errors(&[(
            "metadata.authModes",
            "set only one of authMode and authModes"
        )])
    );
    assert_eq!(
        build_errors(&with(&[("authMode", "bearer,tls")]), &[]),
        errors(&[
            ("metadata.token", "required by authMode bearer"),
            (
                "metadata.cert",
                "required by authMode tls (with key), unless ca is set"
            ),
        ])
    );
    assert_eq!(
        build_errors(
            &with(&[
                ("authMode", "apiKey"),
                ("method", "cookie"),
                ("keyParamName", "X Key")
            ]),
            &[("apiKey", "k")]
        ),
        errors(&[(
            "metadata.method",
            "expected one of header, query, got \"cookie\""
        )])
    );
    assert_eq!(
        build_errors(
            &with(&[("authMode", "apiKey"), ("keyParamName", "X Key")]),
            &[("apiKey", "k")]
        ),
        errors(&[("metadata.keyParamName", "invalid header name \"X Key\"")])
    );
}

#[test]
fn debug_never_shows_secrets() {
    let c = config(
        &[
            (
                "url",
                "https://user:s3cret-ui@app:8443/stats?token=s3cret-qs",
            ),
            ("valueLocation", "tasks"),
            ("targetValue", "1"),
            ("authMode", "apiKey,basic"),
        ],
        &[
            ("apiKey", "s3cret-key"),
            ("username", "alice"),
            ("password", "s3cret-pw"),
        ],
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("https://app:8443/stats"), "{shown}");
    let trigger = MetricsApiTrigger::new(c, &ClientPool::new());
    let shown = format!("{trigger:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("https://app:8443/stats"), "{shown}");
}
