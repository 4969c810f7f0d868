//! The trigger's parameters, parsed and validated from KEDA's metadata.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use scalers_core::config::model::MetricType;
use scalers_core::trigger::{Invalid, Params};

use crate::schedule::CronExpr;

/// The parsed parameters of one `cron` trigger.
///
/// Built by [`CronConfig::from_params`], which checks the time zone, both expressions (each
/// must occur at some point) and `desiredReplicas`.
#[derive(Clone)]
pub struct CronConfig {
    timezone: String,
    zone: TimeZone,
    start: CronExpr,
    end: CronExpr,
    desired_replicas: u32,
    metric_type: MetricType,
}

impl fmt::Debug for CronConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronConfig")
            .field("timezone", &self.timezone)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("desired_replicas", &self.desired_replicas)
            .field("metric_type", &self.metric_type)
            .finish()
    }
}

impl CronConfig {
    /// Reads and checks the trigger's parameters, reporting every problem at once.
    ///
    /// # Errors
    /// [`Invalid`] after recording each problem in `p` with its path, for example
    /// `metadata.timezone: unknown time zone "Mars/Base"` or
    /// `metadata.end: must differ from start`.
    pub fn from_params(p: &mut Params<'_>) -> Result<Self, Invalid> {
        let timezone = p.required_str("timezone");
        let zone = match &timezone {
            Ok(name) => parse_zone(p, name),
            Err(_) => Err(Invalid),
        };
        let start = p
            .required_str("start")
            .and_then(|raw| parse_expr(p, "start", &raw, zone.as_ref().ok()));
        let end = p
            .required_str("end")
            .and_then(|raw| parse_expr(p, "end", &raw, zone.as_ref().ok()));
        if let (Ok(start), Ok(end)) = (&start, &end)
            && start.normalized() == end.normalized()
        {
            p.error("end", "must differ from start");
        }
        let desired_replicas = p.optional_u64("desiredReplicas").and_then(|n| match n {
            None => Err(p.error("desiredReplicas", "required parameter is missing")),
            Some(0) => Err(p.error("desiredReplicas", "must be at least 1, got 0")),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or_else(|| {
                    p.error(
                        "desiredReplicas",
                        format!("must be at most {}, got {n}", i32::MAX),
                    )
                }),
        });
        p.check()?;
        Ok(CronConfig {
            timezone: timezone?.trim().to_owned(),
            zone: zone?,
            start: start?,
            end: end?,
            desired_replicas: desired_replicas?,
            metric_type: p.spec().metric_type,
        })
    }

    /// `timezone`: the IANA name of the time zone the expressions are read in.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    /// `start`: when a window opens.
    pub fn start(&self) -> &CronExpr {
        &self.start
    }

    /// `end`: when a window closes.
    pub fn end(&self) -> &CronExpr {
        &self.end
    }

    /// `desiredReplicas`: the replicas asked for inside a window, at least 1.
    pub fn desired_replicas(&self) -> u32 {
        self.desired_replicas
    }

    /// The trigger's `metricType`; default `AverageValue`, which makes the target of 1 propose
    /// exactly `desiredReplicas`.
    pub fn metric_type(&self) -> MetricType {
        self.metric_type
    }

    pub(crate) fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

fn parse_zone(p: &mut Params<'_>, name: &str) -> Result<TimeZone, Invalid> {
    jiff::tz::db()
        .get(name.trim())
        .map_err(|_| p.error("timezone", format!("unknown time zone {name:?}")))
}

/// An expression that parses and, in `zone` if it is known, occurs at least once.
fn parse_expr(
    p: &mut Params<'_>,
    which: &str,
    raw: &str,
    zone: Option<&TimeZone>,
) -> Result<CronExpr, Invalid> {
    let expr = CronExpr::parse(raw)
        .map_err(|reason| p.error(which, format!("invalid cron expression {raw:?}: {reason}")))?;
    if let Some(zone) = zone {
        // A date that does not exist (`0 0 30 2 *`) never comes; say so now rather than fail
        // every sample. Any fixed instant will do as the origin: the calendar repeats.
        if expr
            .next_after(&Timestamp::UNIX_EPOCH.to_zoned(zone.clone()))
            .is_none()
        {
            return Err(p.error(which, format!("cron expression {raw:?} never occurs")));
        }
    }
    Ok(expr)
}
