//! Property tests: the config loader and the formula parser never panic on any input, and the
//! engine's decisions keep their invariants whatever the readings.

use proptest::prelude::*;
use scalers_core::Timestamp;
use scalers_core::config::load_str;
use scalers_core::config::model::{MetricType, ScaledObject, TriggerSpec};
use scalers_core::engine::{Engine, Phase, Reading, Replicas, TriggerInfo};
use scalers_core::formula::Formula;
use scalers_core::trigger::{MetricTarget, Sample, TriggerErrorKind};

/// YAML-ish text: mostly the characters configs are made of.
fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("scaledObjects:".to_owned()),
            Just("\n  - ".to_owned()),
            Just("name: a".to_owned()),
            Just("triggers: [{type: prometheus}]".to_owned()),
            Just("minReplicaCount: ".to_owned()),
            Just("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\n".to_owned()),
            Just("---\n".to_owned()),
            "[ -~\n]{0,12}",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_loader_never_panics(text in yamlish()) {
        let _ = load_str(&text, "p.yaml");
    }

    #[test]
    fn the_formula_parser_and_evaluator_never_panic(src in "[a-c0-9 +*/%()?:<>=!&|.-]{0,40}", a in any::<f64>(), b in proptest::option::of(any::<f64>())) {
        if let Ok(f) = Formula::parse(&src) {
            let _ = f.eval(&|name| match name { "a" => Some(a), "b" => b, _ => None });
        }
    }

    #[test]
    fn decisions_stay_within_their_bounds(
        min in 0u32..5,
        span in 1u32..50,
        current in 0u32..80,
        ticks in prop::collection::vec(proptest::option::of(0.0f64..2000.0), 1..40),
    ) {
        let mut o = ScaledObject::new("p", "p");
        o.min_replica_count = min;
        o.max_replica_count = min + span;
        o.cooldown_period = 30;
        o.triggers.push(TriggerSpec::new("t"));
        let trigger = TriggerInfo {
            name: "q".into(),
            target: MetricTarget { value: 10.0, metric_type: MetricType::AverageValue, activation_threshold: 0.0 },
        };
        let mut engine = Engine::new(&o, vec![trigger], Timestamp::ZERO).unwrap();
        let mut replicas = current;
        for (i, value) in ticks.iter().enumerate() {
            let reading: Reading = match value {
                Some(v) => Ok(Sample::new(*v, 0.0)),
                None => Err(TriggerErrorKind::Unavailable),
            };
            let d = engine.evaluate(Timestamp::from_secs(i as u64 * 15), Replicas::settled(replicas), &[reading]);
            engine.applied(&d);
            // A failing trigger (no fallback configured) never changes the count.
            if value.is_none() {
                prop_assert_eq!(d.desired, replicas);
            }
            // The scaling phase never leaves [max(min, 1), max] once inside it.
            if d.phase == Phase::Scaling && (min.max(1)..=o.max_replica_count).contains(&replicas) {
                prop_assert!((min.max(1)..=o.max_replica_count).contains(&d.desired), "{d:?}");
            }
            replicas = d.desired;
        }
    }
}
