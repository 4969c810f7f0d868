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
use serde_json::{Map, Value, json};

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

impl ProbeResult {
    /// The JSON line for this result.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("scaledObject".into(), json!(self.scaled_object));
        m.insert("trigger".into(), json!(self.trigger));
        m.insert("type".into(), json!(self.trigger_type));
        match &self.outcome {
            Ok(s) => {
                m.insert("value".into(), number(s.value));
                m.insert("active".into(), json!(s.active));
                if s.no_data {
                    m.insert("noData".into(), json!(true));
                }
            }
            Err(e) => {
                m.insert("error".into(), json!(e.message));
                m.insert("errorKind".into(), json!(e.kind.as_str()));
            }
        }
        m.insert("target".into(), number(self.target.value));
        m.insert("metricType".into(), json!(self.target.metric_type.as_str()));
        Value::Object(m)
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
