//! Building `cron` triggers from config: values from every source, and the exact errors for
//! invalid parameters (all reported at once).

use scalers_core::trigger::{BuiltTrigger, Registry};

const BASE: [(&str, &str); 4] = [
    ("timezone", "Europe/Berlin"),
    ("start", "0 8 * * 1-5"),
    ("end", "0 18 * * 1-5"),
    ("desiredReplicas", "5"),
];

/// BASE with some parameters replaced or added.
fn with<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all: Vec<(&str, &str)> = BASE
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .copied()
        .collect();
    all.extend_from_slice(changes);
    all
}

fn build_in(
    metadata: &[(&str, &str)],
    auth: &[(&str, &str)],
    env: &[(&str, &str)],
) -> Result<BuiltTrigger, Vec<(String, String)>> {
    let mut registry = Registry::new();
    scalers_cron::register(&mut registry);
    scalers_testkit::build_trigger(&registry, "cron", metadata, auth, env)
}

fn errors(metadata: &[(&str, &str)]) -> Vec<(String, String)> {
    match build_in(metadata, &[], &[]) {
        Ok(t) => panic!("expected errors, built {t:?}"),
        Err(e) => e,
    }
}

use scalers_testkit::pairs as expected;

#[test]
fn a_valid_trigger_builds() {
    let built = build_in(&BASE, &[], &[]).unwrap();
    assert_eq!(built.trigger_type, "cron");
    assert_eq!(built.trigger.target().value, 1.0);
    // `Registry::register` is the only way in: the type is listed.
    let mut registry = Registry::new();
    scalers_cron::register(&mut registry);
    assert_eq!(registry.types().collect::<Vec<_>>(), ["cron"]);
}

#[test]
fn values_come_from_auth_params_and_env_too() {
    let built = build_in(
        &[
            ("timezoneFromEnv", "TZ_NAME"),
            ("start", "0 8 * * *"),
            ("end", "0 18 * * *"),
        ],
        &[("desiredReplicas", "4")],
        &[("TZ_NAME", "America/New_York")],
    );
    assert!(built.is_ok(), "{built:?}");
}

#[test]
fn missing_parameters_are_reported_together() {
    assert_eq!(
        errors(&[]),
        expected(&[
            ("metadata.timezone", "required parameter is missing"),
            ("metadata.start", "required parameter is missing"),
            ("metadata.end", "required parameter is missing"),
            ("metadata.desiredReplicas", "required parameter is missing"),
        ])
    );
}

#[test]
fn unknown_time_zone() {
    assert_eq!(
        errors(&with(&[("timezone", "Mars/Base")])),
        expected(&[("metadata.timezone", "unknown time zone \"Mars/Base\"")])
    );
}

#[test]
fn invalid_expressions_name_the_field_and_the_problem() {
    assert_eq!(
        errors(&with(&[("start", "61 * * * *"), ("end", "0 18 * *")])),
        expected(&[
            (
                "metadata.start",
                "invalid cron expression \"61 * * * *\": minute 61 is out of range 0-59"
            ),
            (
                "metadata.end",
                "invalid cron expression \"0 18 * *\": expected 5 fields (minute hour \
                 day-of-month month day-of-week), got 4"
            ),
        ])
    );
    assert_eq!(
        errors(&with(&[("start", "0 0 8 * * *"), ("end", "@daily")])),
        expected(&[
            (
                "metadata.start",
                "invalid cron expression \"0 0 8 * * *\": expected 5 fields (minute hour \
                 day-of-month month day-of-week), got 6"
            ),
            (
                "metadata.end",
                "invalid cron expression \"@daily\": descriptors such as @daily are not \
                 supported; use 5 fields"
            ),
        ])
    );
    assert_eq!(
        errors(&with(&[("end", "*/0 18 * * *")])),
        expected(&[(
            "metadata.end",
            "invalid cron expression \"*/0 18 * * *\": step cannot be zero"
        )])
    );
}

#[test]
fn an_expression_that_never_occurs_is_rejected() {
    assert_eq!(
        errors(&with(&[("start", "0 8 30 2 *")])),
        expected(&[(
            "metadata.start",
            "cron expression \"0 8 30 2 *\" never occurs"
        )])
    );
}

#[test]
fn start_and_end_must_differ() {
    assert_eq!(
        errors(&with(&[("start", "0 8 * * *"), ("end", "0  8 * * * ")])),
        expected(&[("metadata.end", "must differ from start")])
    );
}

#[test]
fn desired_replicas_is_a_whole_number_of_at_least_one() {
    for (value, message) in [
        ("0", "must be at least 1, got 0"),
        ("-1", "expected a whole number, got \"-1\""),
        ("2.5", "expected a whole number, got \"2.5\""),
        ("ten", "expected a whole number, got \"ten\""),
        ("2147483648", "must be at most 2147483647, got 2147483648"),
    ] {
        assert_eq!(
            errors(&with(&[("desiredReplicas", value)])),
            expected(&[("metadata.desiredReplicas", message)]),
            "{value}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    assert_eq!(
        errors(&[
            ("timezone", "Mars/Base"),
            ("start", "0 25 * * *"),
            ("end", "0 8 * * *"),
            ("desiredReplicas", "0"),
        ]),
        expected(&[
            ("metadata.timezone", "unknown time zone \"Mars/Base\""),
            (
                "metadata.start",
                "invalid cron expression \"0 25 * * *\": hour 25 is out of range 0-23"
            ),
            ("metadata.desiredReplicas", "must be at least 1, got 0"),
        ])
    );
}
