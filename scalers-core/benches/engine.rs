//! Decision engine microbenchmarks: one decision with two triggers and a full `behavior`
//! (stabilization windows and rate policies, 10 minutes of 1 s history), and one tick over
//! 10,000 objects.
//!
//! `cargo bench -p scalers-core --bench engine`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use scalers_core::Timestamp;
use scalers_core::config::model::*;
use scalers_core::engine::{Engine, Reading, Replicas, TriggerInfo};
use scalers_core::trigger::{MetricTarget, Sample};

fn object() -> ScaledObject {
    let mut o = ScaledObject::new("bench", "bench");
    o.max_replica_count = 200;
    o.advanced.horizontal_pod_autoscaler_config = Some(HorizontalPodAutoscalerConfig {
        name: None,
        behavior: Some(Behavior {
            scale_up: Some(ScalingRules {
                stabilization_window_seconds: Some(60),
                select_policy: Some(SelectPolicy::Max),
                policies: Some(vec![
                    ScalingPolicy {
                        policy_type: PolicyType::Pods,
                        value: 4,
                        period_seconds: 15,
                    },
                    ScalingPolicy {
                        policy_type: PolicyType::Percent,
                        value: 100,
                        period_seconds: 60,
                    },
                ]),
                tolerance: None,
            }),
            scale_down: Some(ScalingRules {
                stabilization_window_seconds: Some(300),
                select_policy: Some(SelectPolicy::Min),
                policies: Some(vec![ScalingPolicy {
                    policy_type: PolicyType::Percent,
                    value: 10,
                    period_seconds: 60,
                }]),
                tolerance: Some(0.05),
            }),
        }),
    });
    o.triggers = vec![TriggerSpec::new("a"), TriggerSpec::new("b")];
    o
}

fn triggers() -> Vec<TriggerInfo> {
    ["queue", "lag"]
        .iter()
        .map(|n| TriggerInfo {
            name: (*n).to_owned(),
            target: MetricTarget {
                value: 10.0,
                metric_type: MetricType::AverageValue,
                activation_threshold: 0.0,
            },
        })
        .collect()
}

/// A load that moves up and down so both windows and both policies work.
fn load(t: u64) -> f64 {
    let phase = (t % 600) as f64 / 600.0 * std::f64::consts::TAU;
    500.0 + 400.0 * phase.sin()
}

fn readings(t: u64) -> [Reading; 2] {
    [
        Ok(Sample::new(load(t), 0.0)),
        Ok(Sample::new(load(t + 90) / 2.0, 0.0)),
    ]
}

/// An engine with 10 minutes of 1 s ticks behind it; returns it, its replica count and the time.
fn warmed() -> (Engine, u32, u64) {
    let mut e = Engine::new(&object(), triggers(), Timestamp::ZERO).expect("valid");
    let mut replicas = 10;
    for t in 0..600 {
        let d = e.evaluate(
            Timestamp::from_secs(t),
            Replicas::settled(replicas),
            &readings(t),
        );
        e.applied(&d);
        replicas = d.desired;
    }
    (e, replicas, 600)
}

fn one_decision(c: &mut Criterion) {
    let (mut engine, mut replicas, mut t) = warmed();
    c.bench_function("decision/2 triggers, behavior, 10 min history", |b| {
        b.iter(|| {
            let d = engine.evaluate(
                Timestamp::from_secs(t),
                Replicas::settled(replicas),
                black_box(&readings(t)),
            );
            engine.applied(&d);
            replicas = d.desired;
            t += 1;
            black_box(d.desired)
        });
    });
    eprintln!(
        "history after the run: {} recommendations, {} up / {} down events (window 300 s)",
        engine.history().recommendations.len(),
        engine.history().up_events.len(),
        engine.history().down_events.len()
    );
}

fn ten_thousand_objects(c: &mut Criterion) {
    let (template, replicas, start) = warmed();
    let mut engines: Vec<(Engine, u32)> =
        (0..10_000).map(|_| (template.clone(), replicas)).collect();
    let mut t = start;
    c.bench_function("tick/10,000 objects", |b| {
        b.iter(|| {
            for (e, r) in &mut engines {
                let d = e.evaluate(Timestamp::from_secs(t), Replicas::settled(*r), &readings(t));
                e.applied(&d);
                *r = d.desired;
            }
            t += 1;
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = one_decision, ten_thousand_objects
}
criterion_main!(benches);
