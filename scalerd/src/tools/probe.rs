//! `scalerd probe`: samples every trigger once against its live source and prints the result.
//!
//! One JSON object per line per trigger:
//! `{"scaledObject":"ns/name","trigger":"queue","type":"prometheus","value":42,"active":true,"target":10,"metricType":"AverageValue"}`;
//! a failed sample has `"error":"<message>"` (and `"errorKind"`) instead of `value`/`active`, and
//! a sample whose source had no data has `"noData":true`.

use std::time::Duration;

use futures_util::future::join_all;
use scalers_core::config::ValidatedObject;
use scalers_core::trigger::{BuiltTrigger, Sample, TriggerError, TriggerErrorKind};
use serde_json::{Value, json};

/// The outcome of sampling one trigger.
#[derive(Debug)]
pub struct ProbeResult {
    /// `namespace/name` of the scaled object.
    pub scaled_object: String,
    /// The trigger's name (or type).
    pub trigger: String,
    /// The trigger's type.
    pub trigger_type: String,
    /// The target and metric type.
    pub target: scalers_core::trigger::MetricTarget,
    /// The sample, or why it failed.
    pub outcome: Result<Sample, TriggerError>,
}

/// One line of `scalerd probe` output, fields in the documented order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ProbeLine<'a> {
    scaled_object: &'a str,
    trigger: &'a str,
    #[serde(rename = "type")]
    trigger_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_data: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_kind: Option<&'a str>,
    target: Value,
    metric_type: &'a str,
}

impl ProbeResult {
    /// The JSON line for this result.
    pub fn to_json(&self) -> String {
        let (value, active, no_data, error, error_kind) = match &self.outcome {
            Ok(s) => (
                Some(number(s.value)),
                Some(s.active),
                s.no_data.then_some(true),
                None,
                None,
            ),
            Err(e) => (
                None,
                None,
                None,
                Some(e.message.as_str()),
                Some(e.kind.as_str()),
            ),
        };
        let line = ProbeLine {
            scaled_object: &self.scaled_object,
            trigger: &self.trigger,
            trigger_type: &self.trigger_type,
            value,
            active,
            no_data,
            error,
            error_kind,
            target: number(self.target.value),
            metric_type: self.target.metric_type.as_str(),
        };
        // Serializing strings, numbers and booleans cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// A JSON number, written as an integer when it is one.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// Samples one trigger, failing with a timeout after `timeout`.
async fn sample(t: &BuiltTrigger, timeout: Duration) -> Result<Sample, TriggerError> {
    match tokio::time::timeout(timeout, t.trigger.sample()).await {
        Ok(r) => r,
        Err(_) => Err(TriggerError::new(
            TriggerErrorKind::Timeout,
            format!("no answer within {} ms", timeout.as_millis()),
        )),
    }
}

/// Samples every trigger of `objects` concurrently; results in config order.
pub async fn probe(objects: &[&ValidatedObject], timeout: Duration) -> Vec<ProbeResult> {
    let jobs = objects.iter().flat_map(|o| {
        o.triggers.iter().map(move |t| async move {
            ProbeResult {
                scaled_object: o.object.key(),
                trigger: t.name.clone(),
                trigger_type: t.trigger_type.clone(),
                target: t.trigger.target(),
                outcome: sample(t, timeout).await,
            }
        })
    });
    join_all(jobs).await
}
