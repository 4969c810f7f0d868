//! `scalerd simulate --plot`: one SVG chart of a simulation, to see at a glance why replicas
//! moved.
//!
//! The chart has two panels over the same time axis. The upper one shows each trigger's value
//! as the engine saw it at each tick (a step line; a gap and a cross where the trigger failed)
//! with its target as a dashed line of the same colour; with `scalingModifiers`, the composite
//! metric and its target are drawn too, and the triggers' own targets are left out, as they do
//! not drive scaling then. The lower panel shows the replica count after each tick (a step
//! line), the ticks where the object was active (shaded), `minReplicaCount` and
//! `maxReplicaCount` when they are in view, and one marker per tick for each [`Mark`] that
//! decided its outcome. A legend on the right names every series and marker present.
//!
//! Text is written as SVG `<text>` and laid out by the viewer: rendering needs no font file
//! and no system library.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use scalers_core::config::ValidatedObject;
use scalers_core::engine::behavior::{Limit, Stabilization};
use scalers_core::engine::{COMPOSITE_METRIC, Decision, Reason};

use crate::error::{Error, Result};
use crate::tools::simulate::{Tick, Trace};

/// Width of the whole chart, in pixels.
const WIDTH: u32 = 1200;
/// Height of the whole chart, in pixels.
const HEIGHT: u32 = 780;
/// Width of the legend column on the right, in pixels.
const LEGEND_WIDTH: u32 = 290;
/// Height of the title band, in pixels.
const TITLE_HEIGHT: u32 = 56;
/// Font family of every text (resolved by the viewer).
const FONT: &str = "sans-serif";
/// Vertical distance between two markers of the same tick, in pixels.
const MARK_STACK: i32 = 13;

/// Beyond this many ticks, repeated marks are thinned out.
const DENSE_TICKS: usize = 300;
/// Longest legend label, in characters: what fits the legend column.
const LEGEND_NAME: usize = 28;

/// Colours of the metric series, in order (repeated past the end).
const SERIES_COLORS: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];
/// Colour of the replica line.
const REPLICAS: RGBColor = RGBColor(30, 30, 30);
/// Colour of the min/max reference lines.
const BOUNDS: RGBColor = RGBColor(130, 130, 130);
/// Colour of the shading of active ticks.
const ACTIVE: RGBColor = RGBColor(46, 160, 67);
/// Colour of the grid.
const GRID: RGBColor = RGBColor(232, 232, 232);

/// What decided a tick's outcome, as marked on the replica line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// A trigger became active at zero (or idle): scaled to `max(min, 1)`.
    Activated,
    /// Inactive for the whole cooldown: scaled to the idle count or the minimum.
    Cooldown,
    /// A stabilization window held the count.
    Window,
    /// A rate limit (scaling policies, or the legacy scale-up limit) held the count back.
    RateLimit,
    /// `minReplicaCount` or `maxReplicaCount` bounded the count.
    Bounds,
    /// A metric in fallback proposed the count.
    Fallback,
    /// Triggers failed and the count was held.
    Held,
    /// Scaling is paused.
    Paused,
}

impl Mark {
    /// Every mark, in legend order.
    pub const ALL: [Mark; 8] = [
        Mark::Activated,
        Mark::Cooldown,
        Mark::Window,
        Mark::RateLimit,
        Mark::Bounds,
        Mark::Fallback,
        Mark::Held,
        Mark::Paused,
    ];

    /// The legend text.
    pub fn label(self) -> &'static str {
        match self {
            Mark::Activated => "activated",
            Mark::Cooldown => "cooldown over (deactivated)",
            Mark::Window => "stabilization window held",
            Mark::RateLimit => "rate limit (policy)",
            Mark::Bounds => "limited by min/max replicas",
            Mark::Fallback => "fallback",
            Mark::Held => "held: trigger failed",
            Mark::Paused => "paused",
        }
    }

    fn color(self) -> RGBColor {
        match self {
            Mark::Activated => RGBColor(26, 152, 80),
            Mark::Cooldown => RGBColor(33, 102, 172),
            Mark::Window => RGBColor(118, 42, 131),
            Mark::RateLimit => RGBColor(224, 130, 20),
            Mark::Bounds => RGBColor(215, 48, 39),
            Mark::Fallback => RGBColor(197, 27, 125),
            Mark::Held => RGBColor(0, 0, 0),
            Mark::Paused => RGBColor(120, 120, 120),
        }
    }

    /// The marker centred `lift` pixels above `at`.
    fn element<'a, C, DB>(self, at: C, lift: i32) -> DynElement<'a, DB, C>
    where
        C: Clone + 'a,
        DB: DrawingBackend + 'a,
    {
        let style = self.color().filled();
        let shape = |points: &[(i32, i32)]| -> Vec<(i32, i32)> {
            points.iter().map(|&(x, y)| (x, y - lift)).collect()
        };
        let base = EmptyElement::at(at);
        match self {
            Mark::Activated => {
                (base + Polygon::new(shape(&[(0, -6), (6, 5), (-6, 5)]), style)).into_dyn()
            }
            Mark::Cooldown => {
                (base + Polygon::new(shape(&[(0, 6), (6, -5), (-6, -5)]), style)).into_dyn()
            }
            Mark::Window => {
                (base + Polygon::new(shape(&[(0, -6), (6, 0), (0, 6), (-6, 0)]), style)).into_dyn()
            }
            Mark::RateLimit => {
                (base + Rectangle::new([(-5, -5 - lift), (5, 5 - lift)], style)).into_dyn()
            }
            Mark::Bounds => {
                (base + Rectangle::new([(-7, -3 - lift), (7, 3 - lift)], style)).into_dyn()
            }
            Mark::Fallback => (base + Circle::new((0, -lift), 5, style)).into_dyn(),
            Mark::Held => {
                let line = self.color().stroke_width(2);
                (base
                    + PathElement::new(shape(&[(-5, -5), (5, 5)]), line)
                    + PathElement::new(shape(&[(-5, 5), (5, -5)]), line))
                .into_dyn()
            }
            Mark::Paused => {
                (base + Circle::new((0, -lift), 5, self.color().stroke_width(2))).into_dyn()
            }
        }
    }
}

/// What decided `decision`, in [`Mark::ALL`] order; empty when the metrics alone did.
pub fn marks(decision: &Decision) -> Vec<Mark> {
    let mut marks = match &decision.reason {
        Reason::Activated { .. } => vec![Mark::Activated],
        Reason::Deactivated => vec![Mark::Cooldown],
        Reason::BelowMinimum | Reason::AboveMaximum | Reason::BelowScalingMinimum => {
            vec![Mark::Bounds]
        }
        Reason::FallbackAtZero => vec![Mark::Fallback],
        Reason::TriggerError { .. } | Reason::AllMetricsFailed | Reason::PartialFailure { .. } => {
            vec![Mark::Held]
        }
        Reason::Paused | Reason::PausedReplicas => vec![Mark::Paused],
        Reason::Scaling(s) => {
            let mut m = Vec::new();
            if s.stabilization != Stabilization::None {
                m.push(Mark::Window);
            }
            match s.limit {
                Limit::DesiredWithinRange => {}
                Limit::ScaleUpLimit | Limit::ScaleDownLimit => m.push(Mark::RateLimit),
                Limit::TooManyReplicas | Limit::TooFewReplicas => m.push(Mark::Bounds),
            }
            if s.fallback {
                m.push(Mark::Fallback);
            }
            m
        }
        _ => Vec::new(),
    };
    marks.sort();
    marks
}

/// One metric series of the upper panel.
struct Series {
    name: String,
    color: RGBColor,
    /// The value at each tick; `None` where the metric failed.
    values: Vec<Option<f64>>,
    /// The target line, if drawn.
    target: Option<f64>,
}

impl Series {
    /// The composite metric is wide and light, so that triggers with the same values show on
    /// top of it; the others are plain lines.
    fn line_style(&self) -> ShapeStyle {
        if self.name == COMPOSITE_METRIC {
            self.color.mix(0.55).stroke_width(5)
        } else {
            self.color.stroke_width(2)
        }
    }
}

/// The value of trace column `col` at `at_ms`: from the last row at or before it.
fn value_at(trace: &Trace, col: usize, at_ms: u64) -> Option<f64> {
    let idx = trace.rows.partition_point(|r| r.at.as_millis() <= at_ms);
    idx.checked_sub(1).and_then(|i| trace.rows[i].values[col])
}

/// Seconds of a tick.
fn seconds(decision: &Decision) -> f64 {
    decision.at.as_millis() as f64 / 1000.0
}

/// The metric series: one per trigger, then the composite metric if there is one.
fn series(object: &ValidatedObject, trace: &Trace, ticks: &[Tick]) -> Vec<Series> {
    let composite = ticks
        .iter()
        .flat_map(|t| &t.decision.metrics)
        .find(|m| m.name == COMPOSITE_METRIC)
        .map(|m| m.target.value);
    let mut out: Vec<Series> = object
        .triggers
        .iter()
        .filter_map(|t| {
            let col = trace.columns.iter().position(|c| *c == t.name)?;
            Some(Series {
                name: t.name.clone(),
                color: REPLICAS,
                values: ticks
                    .iter()
                    .map(|k| value_at(trace, col, k.decision.at.as_millis()))
                    .collect(),
                target: composite.is_none().then(|| t.trigger.target().value),
            })
        })
        .collect();
    if let Some(target) = composite {
        out.push(Series {
            name: COMPOSITE_METRIC.to_owned(),
            color: REPLICAS,
            values: ticks
                .iter()
                .map(|k| {
                    k.decision
                        .metrics
                        .iter()
                        .find(|m| m.name == COMPOSITE_METRIC)
                        .and_then(|m| m.value)
                })
                .collect(),
            target: Some(target),
        });
    }
    for (i, s) in out.iter_mut().enumerate() {
        s.color = SERIES_COLORS[i % SERIES_COLORS.len()];
    }
    out
}

/// Points of a step line through `values` at `times`, split where a value is missing; each
/// value holds until the next time, the last one until `end`.
fn steps(times: &[f64], values: &[Option<f64>], end: f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    for (i, (&t, v)) in times.iter().zip(values).enumerate() {
        let next = times.get(i + 1).copied().unwrap_or(end);
        match v {
            Some(v) => {
                run.push((t, *v));
                run.push((next, *v));
            }
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// A round upper bound for an axis showing values up to `max`.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    let steps = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];
    steps
        .iter()
        .map(|s| s * magnitude)
        .find(|v| *v >= max * 1.08)
        .unwrap_or(10.0 * magnitude)
}

/// A compact number for axis labels: `1.5k` for 1500, `0.25`, `12`.
fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = format!("{scaled:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

/// `name`, cut to [`LEGEND_NAME`] characters with an ellipsis, so that it fits the legend.
fn shorten(name: &str) -> String {
    if name.chars().count() <= LEGEND_NAME {
        name.to_owned()
    } else {
        let mut short: String = name.chars().take(LEGEND_NAME - 1).collect();
        short.push('…');
        short
    }
}

/// Maps a drawing failure to scalerd's error.
fn drawing(e: impl std::fmt::Display) -> Error {
    Error::Write(std::io::Error::other(format!("cannot draw the plot: {e}")))
}

/// Renders the simulation of `object` over `trace` (`ticks` from
/// [`simulate`](crate::tools::simulate::simulate)) as an SVG document.
///
/// # Errors
/// [`Error::Write`] if plotting fails (the chart does not fit its canvas).
///
/// # Examples
/// ```no_run
/// use std::path::Path;
/// use scalerd::tools::simulate::{Trace, simulate};
///
/// let registry = scalerd::builtin_registry();
/// let objects = scalerd::load(Path::new("examples/configs/burst-limited.yaml"), &registry)?;
/// let text = std::fs::read_to_string("examples/traces/burst-limited.csv")?;
/// let trace = Trace::parse(&text, "burst-limited.csv")?;
/// let ticks = simulate(&objects[0], &trace, "burst-limited.csv", 1)?;
/// std::fs::write("burst-limited.svg", scalerd::tools::plot::render(&objects[0], &trace, &ticks)?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn render(object: &ValidatedObject, trace: &Trace, ticks: &[Tick]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, object, trace, ticks)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Draws the whole chart on `root`.
fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    object: &ValidatedObject,
    trace: &Trace,
    ticks: &[Tick],
) -> Result<()> {
    root.fill(&WHITE).map_err(drawing)?;
    let o = &object.object;
    let (title, body) = root.split_vertically(TITLE_HEIGHT);
    let heading = TextStyle::from((FONT, 22).into_font()).color(&BLACK);
    title
        .draw_text(&format!("{}/{}", o.namespace, o.name), &heading, (16, 10))
        .map_err(drawing)?;
    let summary = format!(
        "pollingInterval {} s, cooldownPeriod {} s, replicas {}..{}, {} ticks",
        o.polling_interval,
        o.cooldown_period,
        o.min_replica_count,
        o.max_replica_count,
        ticks.len()
    );
    let small = TextStyle::from((FONT, 14).into_font()).color(&RGBColor(90, 90, 90));
    title
        .draw_text(&summary, &small, (16, 36))
        .map_err(drawing)?;

    let (charts, legend) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
    let (upper, lower) = charts.split_vertically((HEIGHT - TITLE_HEIGHT) * 52 / 100);

    let period = o.polling_period().as_secs_f64();
    let times: Vec<f64> = ticks.iter().map(|t| seconds(&t.decision)).collect();
    let end = times.last().map_or(period, |t| t + period);
    let x_range = 0.0..end;
    let series = series(object, trace, ticks);
    draw_values(&upper, &series, &times, x_range.clone(), end)?;
    let mut extras = draw_replicas(&lower, o, ticks, &times, x_range, end)?;
    extras.failures = series.iter().any(|s| s.values.contains(&None));
    draw_legend(&legend, &series, &extras)
}

/// The upper panel: metric values and targets.
fn draw_values(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    series: &[Series],
    times: &[f64],
    x_range: Range<f64>,
    end: f64,
) -> Result<()> {
    let shown = || {
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied().chain(s.target))
    };
    let top = nice_ceiling(shown().fold(0.0_f64, f64::max));
    let lowest = shown().fold(0.0_f64, f64::min);
    let bottom = if lowest < 0.0 {
        -nice_ceiling(-lowest)
    } else {
        0.0
    };
    let mut chart = ChartBuilder::on(area)
        .margin_left(10)
        .margin_right(20)
        .margin_top(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .caption("trigger values", (FONT, 16))
        .build_cartesian_2d(x_range, bottom..top)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .x_labels(12)
        .y_labels(6)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| compact(*v))
        .y_desc("value")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(drawing)?;
    // The composite (last) first, so that the triggers are drawn over it.
    for (i, s) in series.iter().enumerate().rev() {
        if let Some(target) = s.target {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, target), (end, target)],
                    8,
                    5,
                    s.color.stroke_width(2),
                ))
                .map_err(drawing)?;
        }
        let line = s.line_style();
        for run in steps(times, &s.values, end) {
            chart
                .draw_series(LineSeries::new(run, line))
                .map_err(drawing)?;
        }
        // Crosses at zero, one row per series.
        let lift = 11 * i32::try_from(i).unwrap_or(0);
        let failed = times
            .iter()
            .zip(&s.values)
            .filter(|(_, v)| v.is_none())
            .map(|(t, _)| {
                EmptyElement::at((*t, 0.0)) + Cross::new((0, -lift), 5, s.color.stroke_width(2))
            });
        chart.draw_series(failed).map_err(drawing)?;
    }
    Ok(())
}

/// The lower panel: replicas, active ticks, bounds and marks; returns what it drew.
fn draw_replicas(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    o: &scalers_core::config::ScaledObject,
    ticks: &[Tick],
    times: &[f64],
    x_range: Range<f64>,
    end: f64,
) -> Result<Extras> {
    let highest = ticks
        .iter()
        .map(|t| t.decision.desired.max(t.decision.current))
        .chain([o.min_replica_count, 1])
        .max()
        .unwrap_or(1);
    // Room above the line for stacked markers.
    let top = (f64::from(highest) * 1.2).ceil() + 1.0;
    let mut chart = ChartBuilder::on(area)
        .margin_left(10)
        .margin_right(20)
        .margin_top(8)
        .margin_bottom(6)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .caption("replicas", (FONT, 16))
        .build_cartesian_2d(x_range, -0.05 * top..top)
        .map_err(drawing)?;
    let label_count = (top as usize + 1).min(8);
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .x_labels(12)
        .y_labels(label_count)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| {
            if v.fract() == 0.0 && *v >= 0.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .x_desc("time (s)")
        .y_desc("replicas")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(drawing)?;

    let shade = ACTIVE.mix(0.14).filled();
    let active = ticks
        .iter()
        .zip(times)
        .enumerate()
        .filter(|(_, (t, _))| t.decision.active)
        .map(|(i, (_, &at))| {
            let next = times.get(i + 1).copied().unwrap_or(end);
            Rectangle::new([(at, 0.0), (next, top)], shade)
        });
    chart.draw_series(active).map_err(drawing)?;

    let mut bounds = vec![(f64::from(o.max_replica_count), "maxReplicaCount")];
    if o.min_replica_count > 0 {
        bounds.push((f64::from(o.min_replica_count), "minReplicaCount"));
    }
    bounds.retain(|(v, _)| *v <= top);
    for &(value, name) in &bounds {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, value), (end, value)],
                6,
                6,
                BOUNDS.stroke_width(1),
            ))
            .map_err(drawing)?;
        let style = TextStyle::from((FONT, 12).into_font())
            .color(&BOUNDS)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        chart
            .draw_series([Text::new(format!("{name} {value}"), (end, value), style)])
            .map_err(drawing)?;
    }

    let mut line = Vec::with_capacity(ticks.len() * 2 + 1);
    if let Some(first) = ticks.first() {
        line.push((times[0], f64::from(first.decision.current)));
    }
    for (i, t) in ticks.iter().enumerate() {
        let desired = f64::from(t.decision.desired);
        line.push((times[i], desired));
        line.push((times.get(i + 1).copied().unwrap_or(end), desired));
    }
    chart
        .draw_series(LineSeries::new(line, REPLICAS.stroke_width(3)))
        .map_err(drawing)?;

    let mut seen = Vec::new();
    // On a long run, a mark repeated tick after tick is drawn where it starts and where the
    // count moves, so that markers do not pile up into a band.
    let dense = ticks.len() > DENSE_TICKS;
    let mut previous = Vec::new();
    for (t, &at) in ticks.iter().zip(times) {
        let marks = marks(&t.decision);
        let repeated = marks == previous && !t.decision.changes();
        previous.clone_from(&marks);
        if marks.is_empty() || (dense && repeated) {
            continue;
        }
        let at = (at, f64::from(t.decision.desired));
        for (k, m) in marks.iter().enumerate() {
            // Above the line, so the step stays visible; stacked upwards.
            let lift = 10 + MARK_STACK * i32::try_from(k).unwrap_or(0);
            chart
                .plotting_area()
                .draw(&m.element(at, lift))
                .map_err(drawing)?;
            if !seen.contains(m) {
                seen.push(*m);
            }
        }
    }
    seen.sort();
    Ok(Extras {
        failures: false,
        active: ticks.iter().any(|t| t.decision.active),
        bounds: !bounds.is_empty(),
        marks: seen,
    })
}

/// What the legend lists besides the metric series.
#[derive(Debug, Default)]
struct Extras {
    /// Some metric failed at some tick.
    failures: bool,
    /// The object was active at some tick.
    active: bool,
    /// A min/max reference line is in view.
    bounds: bool,
    /// The marks drawn, in [`Mark::ALL`] order.
    marks: Vec<Mark>,
}

/// The legend column: series, reference lines and the marks present.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    series: &[Series],
    extras: &Extras,
) -> Result<()> {
    let heading = TextStyle::from((FONT, 15).into_font().style(FontStyle::Bold))
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let text = TextStyle::from((FONT, 14).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (x, swatch, label, row, gap) = (10, 34, 56, 22, 12);
    let mut y = 24;
    let entry = |y: &mut i32, swatch: DynElement<'_, _, (i32, i32)>, name: &str| {
        area.draw(&swatch).map_err(drawing)?;
        area.draw_text(name, &text, (label, *y)).map_err(drawing)?;
        *y += row;
        Ok::<(), Error>(())
    };

    area.draw_text("trigger values", &heading, (x, y))
        .map_err(drawing)?;
    y += row;
    for s in series {
        let line = PathElement::new(vec![(x, y), (x + swatch, y)], s.line_style());
        entry(&mut y, line.into_dyn(), &shorten(&s.name))?;
        if s.target.is_some() {
            let dashed = DashedPathElement::new(
                vec![(x, y), (x + swatch, y)],
                8,
                5,
                s.color.stroke_width(2),
            );
            let label = shorten(&format!("target of {}", s.name));
            entry(&mut y, dashed.into_dyn(), &label)?;
        }
    }
    if extras.failures {
        let cross = Cross::new((x + swatch / 2, y), 5, BLACK.stroke_width(2));
        entry(&mut y, cross.into_dyn(), "failed sample")?;
    }
    y += gap;

    area.draw_text("replicas", &heading, (x, y))
        .map_err(drawing)?;
    y += row;
    let line = PathElement::new(vec![(x, y), (x + swatch, y)], REPLICAS.stroke_width(3));
    entry(&mut y, line.into_dyn(), "replicas")?;
    if extras.active {
        let band = Rectangle::new([(x, y - 7), (x + swatch, y + 7)], ACTIVE.mix(0.25).filled());
        entry(&mut y, band.into_dyn(), "active")?;
    }
    if extras.bounds {
        let dashed =
            DashedPathElement::new(vec![(x, y), (x + swatch, y)], 6, 6, BOUNDS.stroke_width(1));
        entry(&mut y, dashed.into_dyn(), "min/max replica count")?;
    }
    y += gap;

    if !extras.marks.is_empty() {
        area.draw_text("decided by", &heading, (x, y))
            .map_err(drawing)?;
        y += row;
        for m in &extras.marks {
            let marker = m.element((x + swatch / 2, y), 0);
            entry(&mut y, marker, m.label())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_hold_values_and_break_at_failures() {
        let runs = steps(
            &[0.0, 10.0, 20.0, 30.0],
            &[Some(1.0), Some(2.0), None, Some(4.0)],
            40.0,
        );
        assert_eq!(
            runs,
            [
                vec![(0.0, 1.0), (10.0, 1.0), (10.0, 2.0), (20.0, 2.0)],
                vec![(30.0, 4.0), (40.0, 4.0)],
            ]
        );
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(80.0), 100.0);
        assert_eq!(nice_ceiling(500.0), 600.0);
        assert_eq!(nice_ceiling(1600.0), 2000.0);
        assert_eq!(compact(1500.0), "1500");
        assert_eq!(compact(25000.0), "25k");
        assert_eq!(compact(0.25), "0.25");
    }
}
