//! The geometry of a query class's latency chart: p50, p95 and p99 against
//! the client count, per engine, with the targets drawn in. The template
//! draws the SVG from these numbers, so labels from the data stay escaped.
//!
//! Input is one class of `workload --json`:
//! `latency: {"source": {LEVEL: {"p50_ms", "p95_ms", "p99_ms", ...}}, "target": {...}}`
//! where LEVEL is the client count as a string. The targets are read from
//! the document's `summary.targets` (or `targets`): `p95_ms`, an absolute
//! line, and `max_ratio`, a line at that multiple of the source's p95.

use serde::Serialize;
use serde_json::Value;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 120.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

#[derive(Debug, Clone, Serialize)]
pub struct LatencyChart {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub series: Vec<Series>,
    pub targets: Vec<TargetLine>,
    /// Where the legend's entries go, right of the plot.
    pub legend_x: f64,
    /// What the chart does not draw, in words.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub pos: f64,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// "source" or "target".
    pub engine: String,
    /// "p50", "p95" or "p99".
    pub percentile: &'static str,
    /// SVG polyline points, "x,y x,y ...".
    pub points: String,
    pub dots: Vec<Dot>,
    pub legend_y: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dot {
    pub x: f64,
    pub y: f64,
    /// The tooltip: "target p95 at 10 clients: 12.30 ms".
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetLine {
    pub label: String,
    pub points: String,
    pub label_x: f64,
    pub label_y: f64,
}

const PERCENTILES: [(&str, &str); 3] = [("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms")];

/// The chart of one class, or None when it has no latency figures.
pub fn latency_chart(class: &Value, document: Option<&Value>) -> Option<LatencyChart> {
    let latency = class.get("latency")?.as_object()?;
    // Client levels measured on either engine, in numeric order.
    let mut levels: Vec<(u64, String)> = latency
        .values()
        .filter_map(Value::as_object)
        .flat_map(|by_level| by_level.keys())
        .filter_map(|level| Some((level.parse::<u64>().ok()?, level.clone())))
        .collect();
    levels.sort();
    levels.dedup();
    if levels.is_empty() {
        return None;
    }
    let figure = |engine: &str, level: &str, key: &str| -> Option<f64> {
        latency
            .get(engine)?
            .get(level)?
            .get(key)?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let targets = document.and_then(|d| {
        d.get("summary")
            .and_then(|s| s.get("targets"))
            .or_else(|| d.get("targets"))
    });
    let p95_target = targets.and_then(|t| t.get("p95_ms")).and_then(Value::as_f64);
    let max_ratio = targets.and_then(|t| t.get("max_ratio")).and_then(Value::as_f64);

    let mut highest: f64 = 0.0;
    let engines: Vec<&String> = ["source", "target"]
        .iter()
        .filter_map(|e| latency.get_key_value(*e).map(|(k, _)| k))
        .collect();
    for engine in &engines {
        for (_, level) in &levels {
            for (_, key) in PERCENTILES {
                if let Some(v) = figure(engine, level, key) {
                    highest = highest.max(v);
                }
            }
        }
    }
    // A target far above every figure would squash the lines into the
    // floor: it is said below the chart instead of drawn.
    let mut notes = Vec::new();
    let p95_target = match p95_target {
        Some(t) if highest > 0.0 && t > 4.0 * highest => {
            notes.push(format!("p95 target {}: every figure is far below it", format_ms(t)));
            None
        }
        other => other,
    };
    if let Some(t) = p95_target {
        highest = highest.max(t);
    }
    let ratio_line: Vec<(usize, f64)> = match max_ratio {
        Some(ratio) => levels
            .iter()
            .enumerate()
            .filter_map(|(i, (_, level))| Some((i, figure("source", level, "p95_ms")? * ratio)))
            .collect(),
        None => Vec::new(),
    };
    for (_, v) in &ratio_line {
        highest = highest.max(*v);
    }
    let (step, top_value) = nice_scale(highest);

    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    // Client counts grow by factors (1, 10, 100): evenly spaced reads best.
    let x_of = |i: usize| {
        if levels.len() == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * as_f64(i) / as_f64(levels.len() - 1)
        }
    };
    let y_of = |v: f64| TOP + plot_h * (1.0 - v / top_value);

    let x_ticks = levels
        .iter()
        .enumerate()
        .map(|(i, (_, level))| Tick {
            pos: round1(x_of(i)),
            label: level.clone(),
        })
        .collect();
    let mut y_ticks = Vec::new();
    let mut v = 0.0;
    while v <= top_value + step / 2.0 {
        y_ticks.push(Tick {
            pos: round1(y_of(v)),
            label: format_ms(v),
        });
        v += step;
    }

    let mut series = Vec::new();
    for engine in &engines {
        for (percentile, key) in PERCENTILES {
            let dots: Vec<Dot> = levels
                .iter()
                .enumerate()
                .filter_map(|(i, (_, level))| {
                    let v = figure(engine, level, key)?;
                    Some(Dot {
                        x: round1(x_of(i)),
                        y: round1(y_of(v)),
                        title: format!("{engine} {percentile} at {level} clients: {v:.2} ms"),
                    })
                })
                .collect();
            if dots.is_empty() {
                continue;
            }
            let points = dots
                .iter()
                .map(|d| format!("{},{}", d.x, d.y))
                .collect::<Vec<_>>()
                .join(" ");
            let legend_y = TOP + 8.0 + 16.0 * as_f64(series.len());
            series.push(Series {
                engine: (*engine).clone(),
                percentile,
                points,
                dots,
                legend_y,
            });
        }
    }

    let mut target_lines = Vec::new();
    if let Some(t) = p95_target {
        let y = round1(y_of(t));
        target_lines.push(TargetLine {
            label: format!("p95 target {}", format_ms(t)),
            points: format!("{},{y} {},{y}", LEFT, round1(LEFT + plot_w)),
            label_x: LEFT + 4.0,
            label_y: y - 4.0,
        });
    }
    if !ratio_line.is_empty() {
        let points: Vec<(f64, f64)> = ratio_line
            .iter()
            .map(|(i, v)| (round1(x_of(*i)), round1(y_of(*v))))
            .collect();
        let (label_x, label_y) = points[0];
        target_lines.push(TargetLine {
            label: format!("{}× source p95", trim_number(max_ratio.unwrap_or(0.0))),
            points: points
                .iter()
                .map(|(x, y)| format!("{x},{y}"))
                .collect::<Vec<_>>()
                .join(" "),
            label_x: label_x + 4.0,
            label_y: label_y - 4.0,
        });
    }

    Some(LatencyChart {
        width: WIDTH,
        height: HEIGHT,
        left: LEFT,
        top: TOP,
        right: LEFT + plot_w,
        bottom: TOP + plot_h,
        x_ticks,
        y_ticks,
        series,
        targets: target_lines,
        legend_x: LEFT + plot_w + 12.0,
        notes,
    })
}

/// A tick step of 1, 2 or 5 times a power of ten, and the axis top: a
/// multiple of it at or above `highest`.
fn nice_scale(highest: f64) -> (f64, f64) {
    if highest <= 0.0 || !highest.is_finite() {
        return (1.0, 4.0);
    }
    let rough = highest / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    (step, (highest / step).ceil().max(1.0) * step)
}

fn format_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{} s", trim_number(v / 1000.0))
    } else {
        format!("{} ms", trim_number(v))
    }
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Chart positions are small counts; the conversion is exact.
fn as_f64(n: usize) -> f64 {
    u32::try_from(n).map_or(f64::MAX, f64::from)
}

#[cfg(test)]
pub fn nice_scale_for_tests(highest: f64) -> (f64, f64) {
    nice_scale(highest)
}
