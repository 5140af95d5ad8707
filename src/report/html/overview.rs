//! The bars at the top of the page: one per check or criterion, computed
//! from the same JSON values the sections show.

use serde::Serialize;
use serde_json::Value;

use super::Dossier;

/// One bar of the overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// "health", "inspect", "verify" or "workload".
    pub section: &'static str,
    /// The check, kind, criterion or query class.
    pub name: String,
    /// The colour: "ok", "warning", "critical" or "unknown".
    pub level: &'static str,
    /// The status exactly as the JSON spells it ("warning", "equal", "different"...).
    pub status: String,
    /// A short figure to read next to it.
    pub value: String,
    /// The element of the page the bar links to.
    pub anchor: String,
}

pub fn overview(dossier: &Dossier) -> Vec<Bar> {
    let mut bars = Vec::new();
    if let Some(health) = &dossier.health {
        bars.extend(health_bars(health));
    }
    if let Some(inspect) = &dossier.inspect {
        bars.extend(inspect_bars(inspect));
    }
    if let Some(verify) = &dossier.verify {
        bars.push(verify_bar(verify));
    }
    if let Some(workload) = &dossier.workload {
        bars.extend(workload_bars(workload));
    }
    bars
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn array(value: &Value, key: &str) -> Vec<Value> {
    value.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Health statuses are already ok, warning, critical or unknown.
fn health_level(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "warning" => "warning",
        "critical" => "critical",
        _ => "unknown",
    }
}

fn health_bars(health: &Value) -> Vec<Bar> {
    array(health, "checks")
        .iter()
        .enumerate()
        .map(|(i, check)| {
            let status = text(check.get("status"));
            Bar {
                section: "health",
                name: text(check.get("name")),
                level: health_level(&status),
                value: match check.get("value").and_then(Value::as_f64) {
                    Some(v) => format!("{} {}", super::number(v.into()), unit_suffix(check)),
                    None => String::new(),
                }
                .trim()
                .to_string(),
                status,
                anchor: format!("health-{i}"),
            }
        })
        .collect()
}

fn unit_suffix(check: &Value) -> &'static str {
    match check.get("unit").and_then(Value::as_str) {
        Some("seconds") => "s",
        Some("percent") => "%",
        Some("bytes") => "B",
        _ => "",
    }
}

/// One bar per kind that has findings (a finding is for review: warning),
/// one per note (something that could not be looked at: unknown), and a
/// single ok bar when there is nothing at all.
fn inspect_bars(inspect: &Value) -> Vec<Bar> {
    // Kinds in the order inspect reports them, each with its count.
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for finding in array(inspect, "findings") {
        let kind = text(finding.get("kind"));
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    let mut bars: Vec<Bar> = kinds
        .into_iter()
        .map(|(kind, n)| Bar {
            section: "inspect",
            anchor: anchor_for_kind(&kind),
            name: kind,
            level: "warning",
            status: "finding".into(),
            value: if n == 1 {
                "1 finding".into()
            } else {
                format!("{n} findings")
            },
        })
        .collect();
    let notes = array(inspect, "notes");
    if !notes.is_empty() {
        bars.push(Bar {
            section: "inspect",
            name: "notes".into(),
            level: "unknown",
            status: "note".into(),
            value: format!("{} not looked at", notes.len()),
            anchor: "inspect-notes".into(),
        });
    }
    if bars.is_empty() {
        bars.push(Bar {
            section: "inspect",
            name: "findings".into(),
            level: "ok",
            status: "none".into(),
            value: "nothing to review".into(),
            anchor: "inspect".into(),
        });
    }
    bars
}

/// Kinds are our own words, but keep the anchor to safe characters anyway.
pub fn anchor_for_kind(kind: &str) -> String {
    let safe: String = kind
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("inspect-{safe}")
}

fn verify_bar(verify: &Value) -> Bar {
    let status = text(verify.get("status"));
    let tables = array(verify, "tables");
    let equal = tables.iter().filter(|t| text(t.get("status")) == "equal").count();
    Bar {
        section: "verify",
        name: "tables".into(),
        level: if status == "equal" { "ok" } else { "critical" },
        status,
        value: format!("{equal} of {} equal", tables.len()),
        anchor: "verify".into(),
    }
}

/// A class's parity verdict, as a string or as `{"verdict": ...}`.
pub fn parity_of(class: &Value) -> String {
    match class.get("parity") {
        Some(Value::Object(p)) => text(p.get("verdict").or_else(|| p.get("status"))),
        other => text(other),
    }
}

/// Parity decides the colour: a difference or a failure on PostgreSQL is
/// critical (exit 4), what could not be checked is a warning (exit 3), and
/// a class that is equal but missed a latency target is a warning too.
fn workload_bars(workload: &Value) -> Vec<Bar> {
    array(workload, "classes")
        .iter()
        .enumerate()
        .map(|(i, class)| {
            let parity = parity_of(class);
            let misses = target_misses(class);
            let level = match parity.as_str() {
                "equal" if misses == 0 => "ok",
                "equal" | "untranslatable" | "error_source" => "warning",
                "different" | "error_target" => "critical",
                _ => "unknown",
            };
            Bar {
                section: "workload",
                name: text(class.get("name")),
                level,
                status: parity,
                value: if misses > 0 {
                    format!("{misses} targets missed")
                } else {
                    String::new()
                },
                anchor: format!("workload-{i}"),
            }
        })
        .collect()
}

/// How many targets a class missed, from `misses` or `target_misses`
/// (a list or a count).
pub fn target_misses(class: &Value) -> usize {
    match class.get("misses").or_else(|| class.get("target_misses")) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0),
        _ => 0,
    }
}
