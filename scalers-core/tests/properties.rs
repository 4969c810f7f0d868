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

/// The HPA's stabilization computed the slow way, over every recommendation ever made:
/// `current` raised to the minimum of those newer than the scale-up window's cut and lowered to
/// the maximum of those newer than the scale-down window's cut (both including `desired`).
fn stabilize_over_every_tick(
    all: &[(i64, u32)],
    now_ms: i64,
    up_secs: u32,
    down_secs: u32,
    current: u32,
    desired: u32,
) -> u32 {
    let up_cut = now_ms - i64::from(up_secs) * 1000;
    let down_cut = now_ms - i64::from(down_secs) * 1000;
    let up = all
        .iter()
        .filter(|(at, _)| *at > up_cut)
        .map(|(_, r)| *r)
        .fold(desired, u32::min);
    let down = all
        .iter()
        .filter(|(at, _)| *at > down_cut)
        .map(|(_, r)| *r)
        .fold(desired, u32::max);
    current.max(up).min(down)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The stored history keeps one entry per distinct count, yet stabilizes exactly like the
    /// HPA's list of one entry per tick, whatever the ticks, counts and windows.
    #[test]
    fn the_compact_history_stabilizes_like_one_entry_per_tick(
        ticks in prop::collection::vec((0u64..40, 0u32..8, 0u32..8), 1..200),
        up_secs in prop_oneof![Just(0u32), 1u32..120],
        down_secs in prop_oneof![Just(0u32), 1u32..300],
    ) {
        use scalers_core::config::model::{Behavior, ScalingRules};
        use scalers_core::engine::behavior::{History, ResolvedBehavior};
        let window = |secs| Some(ScalingRules { stabilization_window_seconds: Some(secs), ..ScalingRules::default() });
        let behavior = ResolvedBehavior::resolve(&Behavior { scale_up: window(up_secs), scale_down: window(down_secs) });
        let mut history = History::default();
        let mut legacy = History::default();
        let mut all = Vec::new();
        let mut now = Timestamp::from_secs(1_000);
        for (step, current, desired) in ticks {
            now = now + std::time::Duration::from_secs(step);
            let now_ms = now.as_millis() as i64;
            let want = stabilize_over_every_tick(&all, now_ms, up_secs, down_secs, current, desired);
            prop_assert_eq!(history.stabilize(now, &behavior, current, desired), want);
            // legacy: the maximum of those not older than the window, and `desired`
            let cut = now_ms - i64::from(down_secs) * 1000;
            let legacy_want = all.iter().filter(|(at, _)| *at >= cut).map(|(_, r)| *r).fold(desired, u32::max);
            prop_assert_eq!(legacy.stabilize_legacy(now, down_secs, desired), legacy_want);
            all.push((now_ms, desired));
            let mut counts: Vec<u32> = history.recommendations.iter().map(|r| r.replicas).collect();
            counts.sort_unstable();
            counts.dedup();
            prop_assert_eq!(counts.len(), history.recommendations.len(), "one entry per count");
            prop_assert!(history.recommendations.len() <= 8);
        }
    }
}
