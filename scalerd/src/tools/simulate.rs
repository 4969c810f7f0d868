//! `scalerd simulate`: replays recorded trigger values through the real engine, offline.
//!
//! A trace is CSV with a header `time,<trigger>,...`: `time` in seconds from the start, one
//! column per trigger named by the trigger's `name` (or its `type` when unnamed). A cell holds a
//! number, or is empty or `error`, meaning the trigger failed at that time. The engine is
//! evaluated at t = 0, P, 2P, … up to the last trace time (P = `pollingInterval`); at each tick a
//! trigger's value is the one of the last row whose time ≤ t. New replicas are ready at once.
//!
//! A scaled job replays the same way through [`scalers_core::job::decide`] ([`simulate_job`]):
//! the trigger columns hold queue lengths, and an optional column [`COMPLETED_COLUMN`] the
//! number of running Jobs that finish at that row's time (the oldest first, counted once, at
//! the first tick at or after it). Created Jobs run at once (none is pending) and run until
//! completed.

use std::fmt::Write as _;

use scalers_core::Timestamp;
use scalers_core::config::{ValidatedJob, ValidatedObject};
use scalers_core::engine::{Decision, Engine, Reading, Replicas};
use scalers_core::job::{JobCounts, JobDecision, JobReading, decide};
use scalers_core::trigger::{Sample, TriggerErrorKind};

use crate::error::{Error, Result};

/// A parsed trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Trigger column names, in file order (without `time`).
    pub columns: Vec<String>,
    /// Rows in time order.
    pub rows: Vec<TraceRow>,
}

/// One row of a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRow {
    /// Time since the start.
    pub at: Timestamp,
    /// One cell per column; `None` means the trigger failed.
    pub values: Vec<Option<f64>>,
}

impl Trace {
    /// Parses trace text; `file` names it in errors.
    ///
    /// # Errors
    /// [`Error::Trace`] with the line number of the first malformed line.
    pub fn parse(text: &str, file: &str) -> Result<Trace> {
        let err = |line: usize, message: String| Error::Trace {
            file: file.to_owned(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let (hline, header) = lines.next().ok_or_else(|| {
            err(
                1,
                "the trace is empty; expected a header time,<trigger>,...".into(),
            )
        })?;
        let mut cols = header.split(',').map(str::trim);
        if cols.next() != Some("time") {
            return Err(err(hline, "the first column must be \"time\"".into()));
        }
        let columns: Vec<String> = cols.map(str::to_owned).collect();
        if columns.is_empty() {
            return Err(err(hline, "no trigger columns after \"time\"".into()));
        }
        for (i, c) in columns.iter().enumerate() {
            if c.is_empty() {
                return Err(err(hline, format!("column {} has an empty name", i + 2)));
            }
            if columns[..i].contains(c) {
                return Err(err(hline, format!("column {c:?} appears twice")));
            }
        }
        let mut rows: Vec<TraceRow> = Vec::new();
        for (n, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != columns.len() + 1 {
                return Err(err(
                    n,
                    format!("expected {} cells, got {}", columns.len() + 1, cells.len()),
                ));
            }
            let secs: f64 = cells[0]
                .parse()
                .ok()
                .filter(|t: &f64| t.is_finite() && *t >= 0.0)
                .ok_or_else(|| err(n, format!("time: expected seconds ≥ 0, got {:?}", cells[0])))?;
            let at = Timestamp::from_millis((secs * 1000.0).round() as u64);
            if rows.last().is_some_and(|r| r.at >= at) {
                return Err(err(
                    n,
                    format!("time {} is not after the previous row", cells[0]),
                ));
            }
            let values = cells[1..]
                .iter()
                .zip(&columns)
                .map(|(c, name)| match *c {
                    "" | "error" => Ok(None),
                    v => v
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .map(Some)
                        .ok_or_else(|| {
                            err(
                                n,
                                format!("{name}: expected a number, empty or error, got {v:?}"),
                            )
                        }),
                })
                .collect::<Result<Vec<_>>>()?;
            rows.push(TraceRow { at, values });
        }
        if rows.is_empty() {
            return Err(err(hline, "the trace has a header but no rows".into()));
        }
        Ok(Trace { columns, rows })
    }

    /// The value of column `col` at `at`: from the last row at or before `at`.
    fn value_at(&self, col: usize, at: Timestamp) -> Option<f64> {
        let idx = self.rows.partition_point(|r| r.at <= at);
        idx.checked_sub(1).and_then(|i| self.rows[i].values[col])
    }
}

/// One simulated tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    /// The engine's decision (its `desired` is the count after the tick).
    pub decision: Decision,
}

/// Replays `trace` through a fresh engine for `object`, starting from `initial_replicas`.
///
/// # Errors
/// [`Error::TraceColumns`] when the trace's columns do not match the object's triggers.
pub fn simulate(
    object: &ValidatedObject,
    trace: &Trace,
    trace_file: &str,
    initial_replicas: u32,
) -> Result<Vec<Tick>> {
    let mapping = map_columns(object, trace, trace_file)?;
    let mut engine = Engine::for_built(&object.object, &object.triggers, Timestamp::ZERO)?;
    let period = u64::try_from(object.object.polling_period().as_millis()).unwrap_or(u64::MAX);
    let last = trace.rows.last().map_or(0, |r| r.at.as_millis());
    let mut replicas = initial_replicas;
    let mut ticks = Vec::new();
    let mut t = 0;
    while t <= last {
        let now = Timestamp::from_millis(t);
        let readings: Vec<Reading> = mapping
            .iter()
            .zip(&object.triggers)
            .map(|(&col, trig)| match trace.value_at(col, now) {
                Some(v) => Ok(Sample::new(v, trig.trigger.target().activation_threshold)),
                None => Err(TriggerErrorKind::Unavailable),
            })
            .collect();
        let decision = engine.evaluate(now, Replicas::settled(replicas), &readings);
        engine.applied(&decision);
        replicas = decision.desired;
        ticks.push(Tick { decision });
        t += period;
    }
    Ok(ticks)
}

/// The trace column of a scaled job's trace giving the Jobs that complete at that time.
pub const COMPLETED_COLUMN: &str = "completed";

/// One simulated poll of a scaled job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobTick {
    /// When.
    pub at: Timestamp,
    /// Jobs that completed since the previous poll.
    pub completed: u32,
    /// The decision (its counts are the Jobs running before it).
    pub decision: JobDecision,
}

/// Replays `trace` through [`decide`] for `job`, starting with no Job running.
///
/// # Errors
/// [`Error::TraceColumns`] when the trace's columns do not match the job's triggers (besides
/// [`COMPLETED_COLUMN`]), or a completion count is not a whole number.
pub fn simulate_job(job: &ValidatedJob, trace: &Trace, trace_file: &str) -> Result<Vec<JobTick>> {
    let completed_col = trace.columns.iter().position(|c| c == COMPLETED_COLUMN);
    let triggers_only = Trace {
        columns: trace
            .columns
            .iter()
            .filter(|c| *c != COMPLETED_COLUMN)
            .cloned()
            .collect(),
        rows: trace
            .rows
            .iter()
            .map(|r| TraceRow {
                at: r.at,
                values: r
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != completed_col)
                    .map(|(_, v)| *v)
                    .collect(),
            })
            .collect(),
    };
    let names: Vec<&str> = job.triggers.iter().map(|t| t.name.as_str()).collect();
    let mapping = map_names(&job.job.name, &names, &triggers_only, trace_file)?;
    let completions: Vec<(Timestamp, u32)> = match completed_col {
        None => Vec::new(),
        Some(col) => trace
            .rows
            .iter()
            .map(|r| {
                let n = r.values[col].unwrap_or(0.0);
                if n < 0.0 || n.fract() != 0.0 || n > f64::from(u32::MAX) {
                    return Err(Error::TraceColumns {
                        file: trace_file.to_owned(),
                        message: format!(
                            "{COMPLETED_COLUMN}: expected a whole number of Jobs, got {n}"
                        ),
                    });
                }
                Ok((r.at, n as u32))
            })
            .collect::<Result<_>>()?,
    };
    let period = u64::try_from(job.job.polling_period().as_millis()).unwrap_or(u64::MAX);
    let last = trace.rows.last().map_or(0, |r| r.at.as_millis());
    let mut running: u32 = 0;
    let mut ticks = Vec::new();
    let mut t = 0;
    let mut previous: Option<u64> = None;
    while t <= last {
        let now = Timestamp::from_millis(t);
        let completed: u32 = completions
            .iter()
            .filter(|(at, _)| previous.is_none_or(|p| at.as_millis() > p) && at.as_millis() <= t)
            .map(|(_, n)| *n)
            .fold(0u32, u32::saturating_add)
            .min(running);
        running -= completed;
        let readings: Vec<Option<JobReading>> = mapping
            .iter()
            .zip(&job.triggers)
            .map(|(&col, trig)| {
                triggers_only.value_at(col, now).map(|v| {
                    let target = trig.trigger.target();
                    JobReading {
                        queue_length: v,
                        target: target.value,
                        active: Sample::new(v, target.activation_threshold).active,
                    }
                })
            })
            .collect();
        let decision = decide(
            &job.job,
            &readings,
            JobCounts {
                running,
                pending: 0,
            },
        );
        running = running.saturating_add(decision.create);
        ticks.push(JobTick {
            at: now,
            completed,
            decision,
        });
        previous = Some(t);
        t += period;
    }
    Ok(ticks)
}

/// Renders scaled job ticks as CSV:
/// `time,queue,completed,running,created,reason,explanation` (`running` before the poll's
/// creations).
pub fn jobs_to_csv(ticks: &[JobTick]) -> String {
    let mut out = String::from("time,queue,completed,running,created,reason,explanation\n");
    for t in ticks {
        let d = &t.decision;
        let explanation = d.explanation.replace([',', '\n'], ";");
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            secs(t.at),
            d.queue_length,
            t.completed,
            d.counts.running,
            d.create,
            d.reason,
            explanation
        );
    }
    out
}

/// For each trigger, the index of its trace column.
fn map_columns(object: &ValidatedObject, trace: &Trace, file: &str) -> Result<Vec<usize>> {
    let names: Vec<&str> = object.triggers.iter().map(|t| t.name.as_str()).collect();
    map_names(&object.object.name, &names, trace, file)
}

/// For each trigger name of the object `owner`, the index of its trace column.
fn map_names(owner: &str, names: &[&str], trace: &Trace, file: &str) -> Result<Vec<usize>> {
    let err = |message: String| Error::TraceColumns {
        file: file.to_owned(),
        message,
    };
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(err(format!(
                "two triggers of {owner:?} go by {n:?}; give them distinct names to simulate"
            )));
        }
    }
    for c in &trace.columns {
        if !names.contains(&c.as_str()) {
            return Err(err(format!(
                "column {c:?} is not a trigger of {owner:?}; triggers: {}",
                names.join(", ")
            )));
        }
    }
    names
        .iter()
        .map(|n| {
            trace.columns.iter().position(|c| c == n).ok_or_else(|| {
                err(format!(
                    "no column for trigger {n:?}; columns: {}",
                    trace.columns.join(", ")
                ))
            })
        })
        .collect()
}

/// Seconds as printed in traces: `15`, or `1.5` when not whole.
fn secs(t: Timestamp) -> String {
    let ms = t.as_millis();
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        s.trim_end_matches('0').to_owned()
    }
}

/// Renders ticks as CSV: `time,replicas,active,reason`.
pub fn to_csv(ticks: &[Tick]) -> String {
    let mut out = String::from("time,replicas,active,reason\n");
    for t in ticks {
        let d = &t.decision;
        let reason = d.reason.to_string().replace([',', '\n'], ";");
        let _ = writeln!(out, "{},{},{},{}", secs(d.at), d.desired, d.active, reason);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cells_and_errors() {
        let t = Trace::parse("time,a,b\n0,1,\n1.5,error,2\n", "t.csv").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.rows[0].values, [Some(1.0), None]);
        assert_eq!(t.rows[1].at, Timestamp::from_millis(1500));
        assert_eq!(t.rows[1].values, [None, Some(2.0)]);
    }

    #[test]
    fn reports_the_line_of_a_bad_cell() {
        let e = Trace::parse("time,a\n0,1\n5,ten\n", "t.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv: line 3: a: expected a number, empty or error, got \"ten\""
        );
        let e = Trace::parse("time,a\n5,1\n5,2\n", "t.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv: line 3: time 5 is not after the previous row"
        );
        let e = Trace::parse("when,a\n", "t.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv: line 1: the first column must be \"time\""
        );
        let e = Trace::parse("time,a\n0,1,2\n", "t.csv").unwrap_err();
        assert_eq!(e.to_string(), "t.csv: line 2: expected 2 cells, got 3");
    }

    #[test]
    fn value_is_the_last_row_at_or_before() {
        let t = Trace::parse("time,a\n0,1\n10,2\n", "t.csv").unwrap();
        assert_eq!(t.value_at(0, Timestamp::from_secs(9)), Some(1.0));
        assert_eq!(t.value_at(0, Timestamp::from_secs(10)), Some(2.0));
        let late = Trace::parse("time,a\n5,1\n", "t.csv").unwrap();
        assert_eq!(late.value_at(0, Timestamp::ZERO), None);
    }

    #[test]
    fn seconds_print_compactly() {
        assert_eq!(secs(Timestamp::from_secs(15)), "15");
        assert_eq!(secs(Timestamp::from_millis(1500)), "1.5");
    }
}
