//! `type: external` against a real gRPC external scaler: values, activity, the metadata the
//! scaler receives, targets, and channel sharing.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{FakeScaler, build, build_in, object, registry, spec, value};
use scalers_core::config::model::MetricType;
use scalers_core::trigger::{MetricTarget, Params, Sample, TriggerErrorKind};
use scalers_external::proto::ScaledObjectRef;
use scalers_external::{
    ChannelPool, Error, ExternalConfig, ExternalTrigger, Mode, PushBackoff, Reading,
};

#[tokio::test]
async fn reports_the_replicas_asked_for_and_is_active_iff_is_active_says_so() {
    let scaler = FakeScaler::start().await;
    // 10 (integer) + 20.5 + 4.5 = 35 against a target of 10 per replica
    scaler.set_values(vec![value(10, 0.0), value(3, 20.5), value(0, 4.5)]);
    scaler.set_active(true);
    let built = build("external", &[("scalerAddress", &scaler.address())]).unwrap();
    assert_eq!(
        built.trigger.target(),
        MetricTarget {
            value: 1.0,
            metric_type: MetricType::AverageValue,
            activation_threshold: 0.0
        }
    );

    let sample = built.trigger.sample().await.unwrap();
    assert_eq!(
        sample,
        Sample {
            value: 3.5,
            active: true,
            no_data: false
        }
    );

    // activity is IsActive's, whatever the value
    scaler.set_active(false);
    let sample = built.trigger.sample().await.unwrap();
    assert_eq!((sample.value, sample.active), (3.5, false));

    // GetMetricSpec once, then GetMetrics before IsActive at each sample, as in KEDA
    assert_eq!(
        scaler.methods(),
        [
            "GetMetricSpec",
            "GetMetrics",
            "IsActive",
            "GetMetrics",
            "IsActive"
        ]
    );
    let calls = scaler.calls();
    assert_eq!(calls[1].metric_name, "queue");
}

#[tokio::test]
async fn sends_the_object_and_the_metadata_with_from_env_values_resolved() {
    let scaler = FakeScaler::start().await;
    let address = scaler.address();
    let object = object(
        "external",
        &[
            ("scalerAddress", &address),
            ("queue", "orders"),
            // resolved from the environment: sent under both keys
            ("passwordFromEnv", "QUEUE_PASSWORD"),
            // `host` is written: it stays, and hostFromEnv carries the written value (metadata
            // wins over the environment, as for every parameter)
            ("host", "broker"),
            ("hostFromEnv", "QUEUE_HOST"),
            // unset or empty variables drop the entry, as in KEDA
            ("userFromEnv", "UNSET_VARIABLE"),
            ("regionFromEnv", "EMPTY_VARIABLE"),
        ],
    );
    let env = [
        ("QUEUE_PASSWORD", "s3cret"),
        ("QUEUE_HOST", "other"),
        ("EMPTY_VARIABLE", ""),
    ];
    let built = build_in(&registry(&ChannelPool::new()), &object, &[], &env).unwrap();
    built.trigger.sample().await.unwrap();

    let expected = ScaledObjectRef {
        name: "worker".to_owned(),
        namespace: "shop".to_owned(),
        scaler_metadata: HashMap::from(
            [
                ("scalerAddress", address.as_str()),
                ("queue", "orders"),
                ("password", "s3cret"),
                ("passwordFromEnv", "s3cret"),
                ("host", "broker"),
                ("hostFromEnv", "broker"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        ),
    };
    let calls = scaler.calls();
    assert_eq!(calls.len(), 3);
    for call in calls {
        assert_eq!(call.object, expected, "{}", call.method);
    }
}

#[tokio::test]
async fn integer_fields_count_when_the_floats_are_not_positive() {
    let scaler = FakeScaler::start().await;
    scaler.set_specs(vec![spec("jobs", 4, 0.0), spec("ignored", 1, 1.0)]);
    scaler.set_values(vec![value(10, 0.0), value(0, -3.0)]);
    let built = build("external", &[("scalerAddress", &scaler.address())]).unwrap();
    // 10 / 4 (the second spec is ignored, a negative float falls back to the integer 0)
    assert_eq!(built.trigger.sample().await.unwrap().value, 2.5);
    assert_eq!(scaler.calls()[1].metric_name, "jobs");
}

#[tokio::test]
async fn the_value_is_rounded_up_to_a_thousandth_of_a_replica() {
    let scaler = FakeScaler::start().await;
    scaler.set_specs(vec![spec("queue", 3, 0.0)]);
    scaler.set_values(vec![value(10, 0.0)]);
    let built = build("external", &[("scalerAddress", &scaler.address())]).unwrap();
    // 10 / 3 = 3.333…: 3.334, so that ceil gives the HPA's 4 and never fewer
    assert_eq!(built.trigger.sample().await.unwrap().value, 3.334);
}

#[tokio::test]
async fn target_value_reports_the_raw_metric_against_it() {
    let scaler = FakeScaler::start().await;
    scaler.set_values(vec![value(30, 0.0), value(0, 5.5)]);
    let mut o = object(
        "external",
        &[("scalerAddress", &scaler.address()), ("targetValue", "5")],
    );
    o.triggers[0].metric_type = MetricType::Value;
    let built = build_in(&registry(&ChannelPool::new()), &o, &[], &[]).unwrap();
    assert_eq!(
        built.trigger.target(),
        MetricTarget {
            value: 5.0,
            metric_type: MetricType::Value,
            activation_threshold: 0.0
        }
    );
    // the scaler's own target (10) is not used; the spec still names the metric
    assert_eq!(built.trigger.sample().await.unwrap().value, 35.5);
    assert_eq!(scaler.calls()[1].metric_name, "queue");
}

#[tokio::test]
async fn no_value_is_a_no_data_sample_whose_activity_is_still_is_active() {
    let scaler = FakeScaler::start().await;
    scaler.set_active(true);
    let built = build("external", &[("scalerAddress", &scaler.address())]).unwrap();
    assert_eq!(
        built.trigger.sample().await.unwrap(),
        Sample {
            value: 0.0,
            active: true,
            no_data: true
        }
    );
}

#[tokio::test]
async fn unusable_metric_specs_are_bad_responses() {
    let scaler = FakeScaler::start().await;
    let address = scaler.address();
    let built = build("external", &[("scalerAddress", &address)]).unwrap();

    scaler.set_specs(vec![]);
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::BadResponse);
    assert_eq!(
        e.message,
        format!("{address}: GetMetricSpec returned no metric spec")
    );

    // 0.0004 is 0 milli-units, as KEDA hands it to the HPA
    scaler.set_specs(vec![spec("queue", 0, 0.0004)]);
    let e = built.trigger.sample().await.unwrap_err();
    assert_eq!(e.kind, TriggerErrorKind::BadResponse);
    assert_eq!(
        e.message,
        format!(
            "{address}: GetMetricSpec returned target 0.0004 for metric \"queue\"; expected a target greater than 0"
        )
    );

    // a spec that comes right is picked up at the next sample
    scaler.set_specs(vec![spec("queue", 2, 0.0)]);
    scaler.set_values(vec![value(3, 0.0)]);
    assert_eq!(built.trigger.sample().await.unwrap().value, 1.5);
}

#[tokio::test]
async fn the_spec_is_asked_again_after_a_failure() {
    let scaler = FakeScaler::start().await;
    scaler.set_values(vec![value(20, 0.0)]);
    let built = build("external", &[("scalerAddress", &scaler.address())]).unwrap();
    assert_eq!(built.trigger.sample().await.unwrap().value, 2.0);

    // the scaler is redeployed with another target; a failure makes the trigger ask again
    scaler.fail(
        "GetMetrics",
        Some((tonic::Code::NotFound, "no metric queue")),
    );
    built.trigger.sample().await.unwrap_err();
    scaler.fail("GetMetrics", None);
    scaler.set_specs(vec![spec("queue", 0, 4.0)]);
    assert_eq!(built.trigger.sample().await.unwrap().value, 5.0);
    assert_eq!(
        scaler.methods(),
        [
            "GetMetricSpec",
            "GetMetrics",
            "IsActive",
            "GetMetrics",
            "GetMetricSpec",
            "GetMetrics",
            "IsActive"
        ]
    );
}

#[tokio::test]
async fn channels_are_shared_per_address_and_tls_settings() {
    let (a, b) = (FakeScaler::start().await, FakeScaler::start().await);
    let pool = ChannelPool::new();
    let registry = registry(&pool);
    let one = |address: &str, extra: &[(&str, &str)]| {
        let mut metadata = vec![("scalerAddress", address)];
        metadata.extend_from_slice(extra);
        build_in(&registry, &object("external", &metadata), &[], &[]).unwrap()
    };
    let first = one(&a.address(), &[("queue", "one")]);
    let second = one(&a.address(), &[("queue", "two"), ("timeout", "1000")]);
    assert_eq!(pool.len(), 1);
    let push = build_in(
        &registry,
        &object("external-push", &[("scalerAddress", &a.address())]),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(pool.len(), 1);
    let other_address = one(&b.address(), &[]);
    let other_tls = one(
        &a.address(),
        &[("enableTLS", "true"), ("unsafeSsl", "true")],
    );
    assert_eq!(pool.len(), 3);

    // both triggers of the shared channel work through it
    a.set_values(vec![value(10, 0.0)]);
    assert_eq!(first.trigger.sample().await.unwrap().value, 1.0);
    assert_eq!(second.trigger.sample().await.unwrap().value, 1.0);

    drop((first, second, push, other_address));
    assert_eq!(pool.len(), 1);
    drop(other_tls);
    assert!(pool.is_empty());
}

#[tokio::test]
async fn embedders_build_triggers_themselves_and_read_typed_errors() {
    let scaler = FakeScaler::start().await;
    scaler.set_values(vec![value(15, 0.0)]);
    scaler.set_active(true);
    let o = object("external", &[("scalerAddress", &scaler.address())]);
    let (auth, env) = (BTreeMap::new(), |_: &str| None);
    let mut p = Params::new(&o.triggers[0], &o, &auth, &env);
    let config = ExternalConfig::from_params(&mut p, Mode::Pull).unwrap();
    let pool = ChannelPool::new();
    let a = ExternalTrigger::new(config.clone(), &pool, PushBackoff::default());
    let b = ExternalTrigger::new(config, &pool, PushBackoff::default());
    assert!(a.shares_channel_with(&b));
    assert_eq!(
        a.read().await.unwrap(),
        Reading {
            value: Some(1.5),
            active: true
        }
    );

    scaler.fail("IsActive", Some((tonic::Code::Internal, "boom")));
    let e = b.read().await.unwrap_err();
    assert!(
        matches!(
            &e,
            Error::Status {
                method: "IsActive",
                code: tonic::Code::Internal,
                message,
                ..
            } if message == "boom"
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), TriggerErrorKind::BadResponse);
}

#[tokio::test]
async fn both_types_meet_the_trigger_rules() {
    let scaler = FakeScaler::start().await;
    scaler.set_values(vec![value(25, 0.0)]);
    scaler.set_active(true);
    let registry = registry(&ChannelPool::new());
    let address = scaler.address();
    let metadata = [("scalerAddress", address.as_str()), ("queue", "orders")];
    for trigger_type in ["external", "external-push"] {
        let case = scalers_testkit::TriggerCase::new(trigger_type, &metadata);
        let sample = scalers_testkit::run_and_assert_trigger_compliance(&registry, &case)
            .await
            .unwrap();
        // 25 against a target of 10 per replica: 2.5 replicas
        assert_eq!((sample.value, sample.active), (2.5, true), "{trigger_type}");
    }
}
