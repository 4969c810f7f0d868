//! The trigger compliance harness catches what it promises to: a trigger that breaks one rule
//! fails the run, naming the rule; one that keeps them all passes, its sample handed back.

use std::sync::Arc;

use scalers_core::config::model::MetricType;
use scalers_core::trigger::{
    MetricTarget, Registry, Sample, Trigger, TriggerError, TriggerErrorKind,
};
use scalers_testkit::{TriggerCase, run_and_assert_trigger_compliance};

/// What the test trigger does when sampled.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers its `value` parameter.
    Value(f64),
    /// Fails with a message showing its `token` authentication parameter.
    LeakToken,
    /// Fails with a message that its cause repeats.
    RepeatedCause,
}

struct Test {
    behaviour: Behaviour,
    token: String,
}

#[async_trait::async_trait]
impl Trigger for Test {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: 10.0,
            metric_type: MetricType::AverageValue,
            activation_threshold: 0.0,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        match self.behaviour {
            Behaviour::Value(v) => Ok(Sample::new(v, 0.0)),
            Behaviour::LeakToken => Err(TriggerError::new(
                TriggerErrorKind::Unauthorized,
                format!("token {} refused", self.token),
            )),
            Behaviour::RepeatedCause => {
                let cause = std::io::Error::other("connection refused");
                Err(
                    TriggerError::new(TriggerErrorKind::Unavailable, "connection refused")
                        .with_source(cause),
                )
            }
        }
    }
}

/// A registry with type `test`, reading `value` and the `token` authentication parameter.
fn registry(behaviour: fn(f64) -> Behaviour) -> Registry {
    let mut registry = Registry::new();
    registry.register("test", move |p| {
        let value = p.required_f64("value")?;
        let token = p.secret("token")?;
        Ok(Arc::new(Test {
            behaviour: behaviour(value),
            token: token.map(|t| t.expose().to_owned()).unwrap_or_default(),
        }))
    });
    registry
}

const AUTH: [(&str, &str); 1] = [("token", "s3cret-token")];

#[tokio::test]
async fn a_trigger_keeping_the_rules_passes_and_its_sample_is_handed_back() {
    let case = TriggerCase::new("test", &[("value", "3")]).auth(&AUTH);
    let sample = run_and_assert_trigger_compliance(&registry(Behaviour::Value), &case).await;
    assert_eq!(sample.unwrap(), Sample::new(3.0, 0.0));
    let signed = TriggerCase::new("test", &[("value", "-3")]).signed();
    let sample = run_and_assert_trigger_compliance(&registry(Behaviour::Value), &signed).await;
    assert_eq!(sample.unwrap(), Sample::new(-3.0, 0.0));
}

#[tokio::test]
#[should_panic(expected = "trigger compliance: a failure's message shows a credential")]
async fn a_credential_in_a_failure_fails() {
    let case = TriggerCase::new("test", &[("value", "3")]).auth(&AUTH);
    let _ = run_and_assert_trigger_compliance(&registry(|_| Behaviour::LeakToken), &case).await;
}

#[tokio::test]
#[should_panic(expected = "trigger compliance: a failure whose cause repeats its message")]
async fn a_cause_repeating_the_message_fails() {
    let case = TriggerCase::new("test", &[("value", "3")]);
    let _ = run_and_assert_trigger_compliance(&registry(|_| Behaviour::RepeatedCause), &case).await;
}

#[tokio::test]
#[should_panic(expected = "trigger compliance: sampled value -3")]
async fn a_negative_value_fails_unless_the_case_is_signed() {
    let case = TriggerCase::new("test", &[("value", "-3")]);
    let _ = run_and_assert_trigger_compliance(&registry(Behaviour::Value), &case).await;
}

#[tokio::test]
#[should_panic(expected = "trigger compliance: metadata it does not read")]
async fn metadata_the_trigger_does_not_read_fails() {
    let case = TriggerCase::new("test", &[("value", "3"), ("valu", "4")]);
    let _ = run_and_assert_trigger_compliance(&registry(Behaviour::Value), &case).await;
}

#[tokio::test]
#[should_panic(expected = "trigger compliance: it does not build")]
async fn a_trigger_that_does_not_build_fails() {
    let case = TriggerCase::new("test", &[("value", "ten")]);
    let _ = run_and_assert_trigger_compliance(&registry(Behaviour::Value), &case).await;
}
