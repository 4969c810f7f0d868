//! The trigger: `GetMetricSpec` once, then `GetMetrics` and `IsActive` at every sample.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use scalers_core::engine::proposal::to_milli;
use scalers_core::trigger::{MetricTarget, Sample, Trigger, TriggerError, Waker};
use tonic::transport::Channel;

use crate::channel::{ChannelPool, SharedChannel};
use crate::config::{ExternalConfig, Mode};
use crate::error::{Error, Result};
use crate::proto::external_scaler_client::ExternalScalerClient;
use crate::proto::{GetMetricsRequest, MetricSpec, MetricValue, ScaledObjectRef};
use crate::push::{Push, PushBackoff};

/// The `external` and `external-push` triggers: a metric served by a KEDA external scaler.
///
/// Each sample calls `GetMetrics` then `IsActive`, as KEDA does; `GetMetricSpec` is called on
/// the first sample and its answer kept until a call fails. Without `targetValue`, the trigger
/// reports the metric divided by the scaler's target against a target of 1 (see the
/// [crate docs](crate#targets-and-values)). Activity is the scaler's `IsActive`, not a
/// threshold.
///
/// An `external-push` trigger also keeps a `StreamIsActive` stream open (from the moment the
/// runner hands it a [`Waker`]): each `true` wakes the object's loop at once and makes the
/// next sample active. The stream reconnects with [`PushBackoff`] and is closed when the
/// trigger is dropped.
pub struct ExternalTrigger {
    config: ExternalConfig,
    object_ref: ScaledObjectRef,
    channel: Arc<SharedChannel>,
    /// The first metric spec, once fetched.
    spec: Mutex<Option<SpecInfo>>,
    /// The push stream (push mode only).
    push: Option<Push>,
}

impl fmt::Debug for ExternalTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalTrigger")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One reading of an external scaler.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// The metric as the trigger reports it (see the [crate docs](crate#targets-and-values)):
    /// the replicas asked for, or the summed metric with `targetValue`. `None` when
    /// `GetMetrics` returned no value at all.
    pub value: Option<f64>,
    /// `IsActive`'s answer.
    pub active: bool,
}

/// What the trigger keeps of `GetMetricSpec`'s first spec.
#[derive(Clone, Debug, PartialEq)]
struct SpecInfo {
    /// The name passed to `GetMetrics`.
    metric_name: String,
    /// The target in milli-units, as KEDA hands it to the HPA; greater than 0.
    target_milli: i64,
}

impl ExternalTrigger {
    /// A trigger for `config`, taking its channel from `pool`; `backoff` paces the push
    /// stream's reconnections (ignored by pull triggers).
    ///
    /// No I/O: the channel connects on the first sample (or, for push triggers, when the
    /// stream opens).
    pub fn new(config: ExternalConfig, pool: &ChannelPool, backoff: PushBackoff) -> Self {
        let object_ref = ScaledObjectRef {
            name: config.name.clone(),
            namespace: config.namespace.clone(),
            scaler_metadata: config
                .scaler_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let channel = pool.channel_for(&config);
        let push = (config.mode == Mode::Push)
            .then(|| Push::new(channel.clone(), object_ref.clone(), config.timeout, backoff));
        ExternalTrigger {
            config,
            object_ref,
            channel,
            spec: Mutex::new(None),
            push,
        }
    }

    /// The parsed parameters.
    pub fn config(&self) -> &ExternalConfig {
        &self.config
    }

    /// Whether both triggers call their scalers through the same channel (and so the same
    /// HTTP/2 connection).
    pub fn shares_channel_with(&self, other: &ExternalTrigger) -> bool {
        Arc::ptr_eq(&self.channel, &other.channel)
    }

    /// Takes one reading (`GetMetricSpec` if not known yet, `GetMetrics`, `IsActive`), with
    /// this crate's typed errors; [`Trigger::sample`] is this plus pushed activity.
    ///
    /// # Errors
    /// [`Error`]: the scaler was unreachable, did not answer within the timeout, answered a
    /// gRPC error, or returned no usable metric spec.
    pub async fn read(&self) -> Result<Reading> {
        let outcome = self.read_once().await;
        if outcome.is_err() {
            // The scaler may have been redeployed with other metrics: ask again next time.
            *self.spec.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        outcome
    }

    async fn read_once(&self) -> Result<Reading> {
        let channel = self.channel.get()?;
        let mut client = ExternalScalerClient::new(channel);
        let spec = self.spec(&mut client).await?;
        let request = GetMetricsRequest {
            scaled_object_ref: Some(self.object_ref.clone()),
            metric_name: spec.metric_name.clone(),
        };
        let values = self
            .call("GetMetrics", |req| client.get_metrics(req), request)
            .await?
            .metric_values;
        let active = self
            .call(
                "IsActive",
                |req| client.is_active(req),
                self.object_ref.clone(),
            )
            .await?
            .result;
        let value = match self.config.target_value {
            _ if values.is_empty() => None,
            Some(_) => Some(values.iter().map(metric_value).sum()),
            None => Some(replicas_asked(&values, spec.target_milli)),
        };
        Ok(Reading { value, active })
    }

    /// The cached spec, or `GetMetricSpec`'s first one.
    async fn spec(&self, client: &mut ExternalScalerClient<Channel>) -> Result<SpecInfo> {
        if let Some(spec) = self
            .spec
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(spec);
        }
        let specs = self
            .call(
                "GetMetricSpec",
                |req| client.get_metric_spec(req),
                self.object_ref.clone(),
            )
            .await?
            .metric_specs;
        let first = specs
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoMetricSpec {
                address: self.channel.shown().to_owned(),
            })?;
        let spec = self.spec_info(first)?;
        *self.spec.lock().unwrap_or_else(PoisonError::into_inner) = Some(spec.clone());
        Ok(spec)
    }

    fn spec_info(&self, spec: MetricSpec) -> Result<SpecInfo> {
        let target = if spec.target_size_float > 0.0 {
            spec.target_size_float
        } else {
            spec.target_size as f64
        };
        let target_milli = to_milli(target);
        // With `targetValue` the scaler's target is not used, so it need not be valid.
        if target_milli <= 0 && self.config.target_value.is_none() {
            return Err(Error::BadTarget {
                address: self.channel.shown().to_owned(),
                metric: spec.metric_name,
                target,
            });
        }
        Ok(SpecInfo {
            metric_name: spec.metric_name,
            target_milli,
        })
    }

    /// One unary call with the trigger's deadline (also sent to the scaler as `grpc-timeout`).
    async fn call<Req, Resp, F, Fut>(
        &self,
        method: &'static str,
        call: F,
        message: Req,
    ) -> Result<Resp>
    where
        F: FnOnce(tonic::Request<Req>) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let timeout = self.config.timeout;
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        let timed_out = || Error::Timeout {
            address: self.channel.shown().to_owned(),
            method,
            timeout,
        };
        // tonic's channel enforces the request's deadline itself; our timer is the backstop.
        match tokio::time::timeout(timeout, call(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) if deadline_expired(&status) => Err(timed_out()),
            Ok(Err(status)) => Err(Error::from_status(self.channel.shown(), method, status)),
            Err(_) => Err(timed_out()),
        }
    }
}

#[async_trait]
impl Trigger for ExternalTrigger {
    fn target(&self) -> MetricTarget {
        MetricTarget {
            value: self.config.target_value.unwrap_or(1.0),
            metric_type: self.config.metric_type,
            // Activity is IsActive's answer; this only serves traces replayed by `simulate`.
            activation_threshold: 0.0,
        }
    }

    async fn sample(&self) -> Result<Sample, TriggerError> {
        if let Some(push) = &self.push {
            push.ensure_running();
        }
        let Reading { value, active } = self.read().await?;
        // A `true` pushed since the last sample activates the object once, as in KEDA, even if
        // IsActive has changed its mind since.
        let pushed = self.push.as_ref().is_some_and(Push::take_pushed);
        let sample = match value {
            Some(value) => Sample::new(value, 0.0),
            None => Sample::no_data(0.0),
        };
        Ok(Sample {
            active: active || pushed,
            ..sample
        })
    }

    fn set_waker(&self, wake: Waker) {
        if let Some(push) = &self.push {
            push.set_waker(wake);
        }
    }
}

/// Whether tonic failed the call because the request's deadline passed.
fn deadline_expired(status: &tonic::Status) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = cause {
        if e.is::<tonic::TimeoutExpired>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A value as KEDA reads it: `metricValueFloat` when greater than 0, else `metricValue`.
fn metric_value(v: &MetricValue) -> f64 {
    if v.metric_value_float > 0.0 {
        v.metric_value_float
    } else {
        v.metric_value as f64
    }
}

/// The replicas the values ask for against a target of `target_milli` (> 0): the HPA's
/// `Σ usage / target` computed on KEDA's milli-quantities, rounded up to the next 0.001 and
/// encoded so that the engine, which reads values in truncated milli-units, reads exactly
/// that many thousandths.
///
/// Rounding up keeps `ceil(value / 1)` equal to the HPA's `ceil(Σ usage / target)`.
fn replicas_asked(values: &[MetricValue], target_milli: i64) -> f64 {
    let usage: i128 = values
        .iter()
        .map(|v| i128::from(to_milli(metric_value(v))))
        .sum();
    let target = i128::from(target_milli);
    let thousandths = (usage * 1000 + target - 1) / target;
    let thousandths = i64::try_from(thousandths).unwrap_or(i64::MAX);
    exact_milli(thousandths)
}

/// The smallest `f64` whose engine reading (`to_milli`) is `thousandths`, when there is one;
/// `thousandths / 1000` may read one less after truncation (`4.35 × 1000 = 4349.99…`).
fn exact_milli(thousandths: i64) -> f64 {
    let mut v = thousandths as f64 / 1000.0;
    for _ in 0..4 {
        if to_milli(v) >= thousandths {
            break;
        }
        v = v.next_up();
    }
    v
}

#[cfg(test)]
mod tests {
    use scalers_core::config::model::MetricType;
    use scalers_core::engine::proposal::{Replicas, Tolerance, propose};

    use super::*;

    fn values(milli: &[i64]) -> Vec<MetricValue> {
        milli
            .iter()
            .map(|m| MetricValue {
                metric_name: "m".to_owned(),
                metric_value: 0,
                metric_value_float: *m as f64 / 1000.0,
            })
            .collect()
    }

    #[test]
    fn engine_reads_the_exact_thousandths() {
        for t in 0..200_000 {
            assert_eq!(to_milli(exact_milli(t)), t, "{t}");
        }
        // 1.001 × 1000 = 1000.999…: the plain quotient would read 1000
        assert_eq!(to_milli(1.001), 1000);
        assert_eq!(exact_milli(1001), 1.001f64.next_up());
        assert_eq!(exact_milli(3500), 3.5);
    }

    #[test]
    fn float_and_integer_values_as_in_keda() {
        let v = |int, float| MetricValue {
            metric_name: String::new(),
            metric_value: int,
            metric_value_float: float,
        };
        assert_eq!(metric_value(&v(7, 2.5)), 2.5);
        assert_eq!(metric_value(&v(7, 0.0)), 7.0);
        assert_eq!(metric_value(&v(7, -1.0)), 7.0);
        // 35 over three values against a target of 10 asks for 3.5 replicas
        assert_eq!(
            replicas_asked(&[v(10, 0.0), v(0, 20.5), v(4, 4.5)], 10_000),
            3.5
        );
    }

    /// The HPA's AverageValue proposal on KEDA's milli-quantities, in exact integers:
    /// `ratio = usage / (target × status)`; inside `[0.9, 1.1]` keep `status`, else
    /// `ceil(usage / target)`.
    fn hpa_average_value(usage: i64, target: i64, status: u32) -> u32 {
        let (u, t, s) = (i128::from(usage), i128::from(target), i128::from(status));
        if 9 * t * s <= 10 * u && 10 * u <= 11 * t * s {
            status
        } else {
            u32::try_from((u + t - 1) / t).unwrap()
        }
    }

    #[test]
    fn average_value_proposals_match_the_hpa_on_the_real_target() {
        // Every usage (milli) in a range, for several targets and replica counts: the engine
        // fed `value` against a target of 1 proposes what the HPA proposes with the real
        // target, except within 0.001 replica below the lower edge of the tolerance band,
        // where rounding up keeps the current count.
        let mut edge_cases = 0;
        for target in [1, 7, 1000, 3333, 10_000, 12_345, 1_000_000] {
            for status in [1, 2, 3, 9, 10, 17] {
                for usage in (0..40 * target).step_by(usize::try_from(target / 100 + 1).unwrap()) {
                    let value = replicas_asked(&values(&[usage]), target);
                    // what KEDA hands the HPA: the float value truncated to milli-units
                    let usage = to_milli(usage as f64 / 1000.0);
                    let ours = propose(
                        value,
                        1.0,
                        MetricType::AverageValue,
                        Replicas::settled(status),
                        Tolerance::default(),
                    )
                    .unwrap();
                    let hpa = hpa_average_value(usage, target, status);
                    if ours != hpa {
                        // ours holds at `status` where the HPA would scale down
                        let ratio = usage as f64 / (target as f64 * f64::from(status));
                        assert_eq!(
                            ours, status,
                            "usage {usage} target {target} status {status}"
                        );
                        assert!(
                            hpa < status && ratio < 0.9 && ratio > 0.9 - 0.001,
                            "{ratio}"
                        );
                        edge_cases += 1;
                    }
                }
            }
        }
        // 2 of about 170 000 combinations
        assert_eq!(edge_cases, 2);
    }

    #[test]
    fn value_proposals_match_the_hpa_outside_a_thousandth() {
        // Value: ratio = usage / target; the HPA proposes ceil(ratio × ready) outside the band.
        for (usage, target, ready, hpa) in [
            (35_000, 10_000, 1, 4),
            (35_000, 10_000, 4, 14),
            (5_000, 10_000, 3, 2),
            (120_000, 100_000, 10, 12),
        ] {
            let value = replicas_asked(&values(&[usage]), target);
            let ours = propose(
                value,
                1.0,
                MetricType::Value,
                Replicas::settled(ready),
                Tolerance::default(),
            );
            assert_eq!(ours, Some(hpa), "{usage}/{target} × {ready}");
        }
    }
}
