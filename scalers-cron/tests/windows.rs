//! Whether a `cron` trigger is active at given instants: table tests of windows during the day,
//! across midnight, across daylight saving changes, and a clock that moves between samples.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use jiff::Timestamp;
use scalers_core::config::model::{MetricType, ScaledObject, TriggerSpec};
use scalers_core::trigger::{BuildContext, MetricTarget, Registry, Sample};
use scalers_cron::{CronConfig, CronTrigger, SystemClock, Window};

/// A trigger built from metadata, through `CronConfig::from_params` as a registry would.
fn trigger(timezone: &str, start: &str, end: &str, replicas: &str) -> CronTrigger {
    let metadata = [
        ("timezone", timezone),
        ("start", start),
        ("end", end),
        ("desiredReplicas", replicas),
    ];
    let config = scalers_testkit::read_params("cron", &metadata, &[], &[], CronConfig::from_params)
        .unwrap_or_else(|errors| panic!("invalid config: {errors:?}"));
    CronTrigger::new(config, Arc::new(SystemClock))
}

fn at(instant: &str) -> SystemTime {
    SystemTime::from(instant.parse::<Timestamp>().expect("an RFC 3339 instant"))
}

/// Checks `(instant, active)` rows against one trigger.
fn check(t: &CronTrigger, rows: &[(&str, bool)]) {
    for (instant, active) in rows {
        let window = t.window_at(at(instant)).unwrap();
        assert_eq!(window.active, *active, "at {instant}: {window:?}");
    }
}

#[test]
fn office_hours_on_weekdays() {
    // Berlin is UTC+1 in January. 2026-01-14 is a Wednesday, 2026-01-17 a Saturday.
    let t = trigger("Europe/Berlin", "0 8 * * 1-5", "0 18 * * 1-5", "5");
    check(
        &t,
        &[
            ("2026-01-14T06:59:59Z", false),
            ("2026-01-14T07:00:00Z", true), // 08:00 sharp: the window opens
            ("2026-01-14T09:00:00Z", true),
            ("2026-01-14T16:59:59Z", true),
            ("2026-01-14T17:00:00Z", false), // 18:00 sharp: the window closes
            ("2026-01-14T23:00:00Z", false),
            ("2026-01-17T09:00:00Z", false), // Saturday
            ("2026-01-19T07:30:00Z", true),  // Monday again
        ],
    );
    assert_eq!(
        t.sample_at(at("2026-01-14T09:00:00Z")).unwrap(),
        Sample {
            value: 5.0,
            active: true,
            no_data: false
        }
    );
    assert_eq!(
        t.sample_at(at("2026-01-17T09:00:00Z")).unwrap(),
        Sample {
            value: 0.0,
            active: false,
            no_data: false
        }
    );
    assert_eq!(
        t.window_at(at("2026-01-14T09:00:00Z")).unwrap(),
        Window {
            active: true,
            next_start: "2026-01-15T08:00:00+01:00[Europe/Berlin]".to_owned(),
            next_end: "2026-01-14T18:00:00+01:00[Europe/Berlin]".to_owned(),
        }
    );
}

#[test]
fn windows_across_midnight() {
    let night = trigger("UTC", "0 22 * * *", "0 6 * * *", "3");
    check(
        &night,
        &[
            ("2026-01-14T21:59:59Z", false),
            ("2026-01-14T22:00:00Z", true),
            ("2026-01-14T23:59:59Z", true),
            ("2026-01-15T00:00:00Z", true),
            ("2026-01-15T05:59:00Z", true),
            ("2026-01-15T06:00:00Z", false),
            ("2026-01-15T12:00:00Z", false),
        ],
    );
    // The first hour of each day.
    let first_hour = trigger("UTC", "0 0 * * *", "0 1 * * *", "2");
    check(
        &first_hour,
        &[
            ("2026-12-31T23:59:59Z", false),
            ("2027-01-01T00:00:00Z", true),
            ("2027-01-01T00:59:59Z", true),
            ("2027-01-01T01:00:00Z", false),
        ],
    );
    // A time zone east of UTC: midnight in Tokyo is 15:00 UTC the day before.
    let tokyo = trigger("Asia/Tokyo", "0 0 * * *", "0 2 * * *", "2");
    check(
        &tokyo,
        &[
            ("2026-01-14T14:59:00Z", false),
            ("2026-01-14T15:00:00Z", true),
            ("2026-01-14T16:59:00Z", true),
            ("2026-01-14T17:00:00Z", false),
        ],
    );
}

#[test]
fn half_hours_of_every_hour() {
    let t = trigger("UTC", "0 * * * *", "30 * * * *", "4");
    check(
        &t,
        &[
            ("2026-01-14T10:00:00Z", true),
            ("2026-01-14T10:15:00Z", true),
            ("2026-01-14T10:29:59Z", true),
            ("2026-01-14T10:30:00Z", false),
            ("2026-01-14T10:59:59Z", false),
        ],
    );
}

#[test]
fn spring_forward_in_new_york() {
    // 2026-03-08: at 02:00 EST (07:00Z) the clock jumps to 03:00 EDT.
    // A window opening in the skipped hour opens right after the gap.
    let in_gap = trigger("America/New_York", "30 2 * * *", "0 4 * * *", "2");
    check(
        &in_gap,
        &[
            ("2026-03-08T06:59:59Z", false), // 01:59:59 EST
            ("2026-03-08T07:00:00Z", true),  // 03:00 EDT, "02:30" just happened
            ("2026-03-08T07:59:59Z", true),  // 03:59:59 EDT
            ("2026-03-08T08:00:00Z", false), // 04:00 EDT
            // The next day is an ordinary day, now in EDT.
            ("2026-03-09T06:29:59Z", false), // 02:29:59 EDT
            ("2026-03-09T06:30:00Z", true),  // 02:30 EDT
        ],
    );
    // A window spanning the change is one real hour shorter: 01:00 EST to 03:00 EDT.
    let spanning = trigger("America/New_York", "0 1 * * *", "0 3 * * *", "2");
    check(
        &spanning,
        &[
            ("2026-03-08T05:59:59Z", false), // 00:59:59 EST
            ("2026-03-08T06:00:00Z", true),  // 01:00 EST
            ("2026-03-08T06:59:59Z", true),  // 01:59:59 EST
            ("2026-03-08T07:00:00Z", false), // 03:00 EDT
        ],
    );
}

#[test]
fn fall_back_in_new_york() {
    // 2026-11-01: at 02:00 EDT (06:00Z) the clock goes back to 01:00 EST; 01:00-01:59 happens
    // twice. A window from 01:00 to 02:00 opens at the first 01:00 and lasts two real hours.
    let t = trigger("America/New_York", "0 1 * * *", "0 2 * * *", "2");
    check(
        &t,
        &[
            ("2026-11-01T04:59:59Z", false), // 00:59:59 EDT
            ("2026-11-01T05:00:00Z", true),  // 01:00 EDT
            ("2026-11-01T05:59:59Z", true),  // 01:59:59 EDT
            ("2026-11-01T06:00:00Z", true),  // 01:00 EST, the second time
            ("2026-11-01T06:59:59Z", true),  // 01:59:59 EST
            ("2026-11-01T07:00:00Z", false), // 02:00 EST
        ],
    );
}

#[test]
fn daylight_saving_in_berlin() {
    // 2026-03-29: 02:00 CET (01:00Z) becomes 03:00 CEST. Office hours keep their wall clock
    // times: 08:00 is 07:00Z before the change and 06:00Z after it.
    let t = trigger("Europe/Berlin", "0 8 * * *", "0 18 * * *", "5");
    check(
        &t,
        &[
            ("2026-03-28T06:59:59Z", false),
            ("2026-03-28T07:00:00Z", true),
            ("2026-03-29T05:59:59Z", false),
            ("2026-03-29T06:00:00Z", true),
            ("2026-03-29T15:59:59Z", true),
            ("2026-03-29T16:00:00Z", false),
        ],
    );
}

#[test]
fn target_is_one_with_the_triggers_metric_type() {
    let t = trigger("UTC", "0 8 * * *", "0 18 * * *", "7");
    assert_eq!(
        scalers_core::trigger::Trigger::target(&t),
        MetricTarget {
            value: 1.0,
            metric_type: MetricType::AverageValue,
            activation_threshold: 0.0,
        }
    );
    assert_eq!(
        format!("{t:?}"),
        "CronTrigger { config: CronConfig { timezone: \"UTC\", start: CronExpr(\"0 8 * * *\"), \
         end: CronExpr(\"0 18 * * *\"), desired_replicas: 7, metric_type: AverageValue }, .. }"
    );
}

#[tokio::test]
async fn samples_read_the_injected_clock_each_time() {
    let now = Arc::new(Mutex::new(at("2026-01-14T07:59:00Z")));
    let clock_now = now.clone();
    let mut registry = Registry::new();
    scalers_cron::register_with_clock(
        &mut registry,
        Arc::new(move || *clock_now.lock().unwrap_or_else(PoisonError::into_inner)),
    );
    let mut spec = TriggerSpec::new("cron");
    for (k, v) in [
        ("timezone", "UTC"),
        ("start", "0 8 * * *"),
        ("end", "0 9 * * *"),
        ("desiredReplicas", "6"),
    ] {
        spec.metadata.insert(k.to_owned(), v.to_owned());
    }
    spec.metric_type = MetricType::Value;
    let mut object = ScaledObject::new("app", "app");
    object.triggers.push(spec);
    let built = registry.build(BuildContext::new(&object, 0)).unwrap();
    assert_eq!(built.trigger.target().metric_type, MetricType::Value);

    let mut seen = Vec::new();
    for instant in [
        "2026-01-14T07:59:00Z",
        "2026-01-14T08:00:00Z",
        "2026-01-14T08:59:59Z",
        "2026-01-14T09:00:00Z",
    ] {
        *now.lock().unwrap() = at(instant);
        let s = built.trigger.sample().await.unwrap();
        seen.push((instant, s.value, s.active));
    }
    assert_eq!(
        seen,
        [
            ("2026-01-14T07:59:00Z", 0.0, false),
            ("2026-01-14T08:00:00Z", 6.0, true),
            ("2026-01-14T08:59:59Z", 6.0, true),
            ("2026-01-14T09:00:00Z", 0.0, false),
        ]
    );
}

#[tokio::test]
async fn the_trigger_meets_the_trigger_rules_in_and_out_of_its_window() {
    for (instant, expected) in [
        ("2026-01-14T08:30:00Z", Sample::new(6.0, 0.0)),
        ("2026-01-14T09:30:00Z", Sample::new(0.0, 0.0)),
    ] {
        let now = at(instant);
        let mut registry = Registry::new();
        scalers_cron::register_with_clock(&mut registry, Arc::new(move || now));
        let metadata = [
            ("timezone", "UTC"),
            ("start", "0 8 * * *"),
            ("end", "0 9 * * *"),
            ("desiredReplicas", "6"),
        ];
        let case = scalers_testkit::TriggerCase::new("cron", &metadata);
        assert_eq!(
            scalers_testkit::run_and_assert_trigger_compliance(&registry, &case)
                .await
                .unwrap(),
            expected,
            "at {instant}"
        );
    }
}
