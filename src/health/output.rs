//! The four ways a health report is printed: for people, JSON, a Nagios
//! plugin line with perfdata, and Prometheus text exposition (for
//! node_exporter's textfile collector).

use super::{CheckResult, HealthReport, Status, Unit};
use crate::units::{format_bytes, format_seconds};

/// One line per check, worst first, after a line with the overall status.
pub fn human(report: &HealthReport) -> String {
    let width = report.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = format!("health {} for {}\n", report.status.label(), report.target);
    for c in &report.checks {
        out.push_str(&format!(
            "{:<8} {:<width$}  {}\n",
            c.status.label(),
            c.name,
            c.message.replace('\n', " ")
        ));
    }
    out
}

pub fn json(report: &HealthReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// `POSTGRES WARNING - name: message; ... | label=value[UOM];warn;crit;min;max ...`
/// The text names the checks that are not OK (or says all are).
pub fn nagios(report: &HealthReport) -> String {
    let problems: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Ok)
        // Without a connection the rest did not run; the connection says why.
        .filter(|c| !c.message.starts_with("not run:"))
        .map(|c| format!("{}: {}", c.name, c.message.replace(['|', '\n'], " ")))
        .collect();
    let text = if problems.is_empty() {
        format!("{} checks OK", report.checks.len())
    } else {
        problems.join("; ")
    };
    let perfdata: Vec<String> = report.checks.iter().filter_map(perfdata).collect();
    format!("POSTGRES {} - {text} | {}", report.status.label(), perfdata.join(" "))
}

fn perfdata(c: &CheckResult) -> Option<String> {
    let value = c.value?;
    let (uom, min, max) = match c.unit {
        Unit::Seconds => ("s", "0", ""),
        Unit::Percent => ("%", "0", ""),
        Unit::Bytes => ("B", "0", ""),
        Unit::Count => ("", "0", ""),
    };
    let level = |l: Option<f64>| l.map(|v| format!("{v}")).unwrap_or_default();
    // Nagios ranges alert outside start:end; "@" would invert. A lower-is-worse
    // limit L is written "L:" (alert below L).
    let lower = super::registry::find(&c.name).is_some_and(|d| d.direction == super::Direction::LowerIsWorse);
    let range = |l: Option<f64>| {
        if lower {
            l.map(|v| format!("{v}:")).unwrap_or_default()
        } else {
            level(l)
        }
    };
    Some(format!(
        "{}={}{uom};{};{};{min};{max}",
        c.name,
        trim_float(value),
        range(c.warning),
        range(c.critical)
    ))
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Prometheus text exposition: the overall status and a status gauge per
/// check (0 ok, 1 warning, 2 critical, 3 unknown, as the exit code), and a
/// value gauge per check whose `unit` label says what it counts.
pub fn prometheus(report: &HealthReport) -> String {
    let mut out = String::new();
    out.push_str("# HELP godwit_health_status Overall health status: 0 ok, 1 warning, 2 critical, 3 unknown.\n");
    out.push_str("# TYPE godwit_health_status gauge\n");
    out.push_str(&format!("godwit_health_status {}\n", report.status.code()));
    out.push_str("# HELP godwit_health_check_status Status of one check: 0 ok, 1 warning, 2 critical, 3 unknown.\n");
    out.push_str("# TYPE godwit_health_check_status gauge\n");
    for c in &report.checks {
        out.push_str(&format!(
            "godwit_health_check_status{{check=\"{}\"}} {}\n",
            c.name,
            c.status.code()
        ));
    }
    out.push_str("# HELP godwit_health_check_value What a check measured, in the unit its label names.\n");
    out.push_str("# TYPE godwit_health_check_value gauge\n");
    for c in &report.checks {
        if let Some(v) = c.value {
            let unit = match c.unit {
                Unit::Seconds => "seconds",
                Unit::Percent => "percent",
                Unit::Bytes => "bytes",
                Unit::Count => "count",
            };
            out.push_str(&format!(
                "godwit_health_check_value{{check=\"{}\",unit=\"{unit}\"}} {}\n",
                c.name,
                trim_float(v)
            ));
        }
    }
    out
}

/// A value with its unit, for people.
pub fn show_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Seconds => format_seconds(v),
        Unit::Percent => format!("{v:.1}%"),
        Unit::Bytes => format_bytes(v),
        Unit::Count => format!("{v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> HealthReport {
        let check = |name: &str, status, value, unit, warning, critical| CheckResult {
            name: name.into(),
            status,
            value,
            unit,
            message: format!("{name} says hi"),
            warning,
            critical,
            details: vec![],
        };
        HealthReport {
            status: Status::Warning,
            target: "postgresql://u@h:5432/db".into(),
            checks: vec![
                check(
                    "long_running_queries",
                    Status::Warning,
                    Some(75.0),
                    Unit::Seconds,
                    Some(60.0),
                    Some(300.0),
                ),
                check(
                    "sequences",
                    Status::Unknown,
                    None,
                    Unit::Percent,
                    Some(85.0),
                    Some(95.0),
                ),
                check(
                    "cache_hit",
                    Status::Ok,
                    Some(99.5),
                    Unit::Percent,
                    Some(99.0),
                    Some(95.0),
                ),
            ],
        }
    }

    #[test]
    fn nagios_line_with_perfdata() {
        let line = nagios(&report());
        assert!(line.starts_with("POSTGRES WARNING - long_running_queries: "), "{line}");
        assert!(line.contains("sequences: sequences says hi"), "{line}");
        assert!(
            line.contains("| long_running_queries=75s;60;300;0; cache_hit=99.5%;99:;95:;0;"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn prometheus_exposition() {
        let text = prometheus(&report());
        assert!(text.contains("godwit_health_status 1\n"), "{text}");
        assert!(
            text.contains("godwit_health_check_status{check=\"sequences\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("godwit_health_check_value{check=\"long_running_queries\",unit=\"seconds\"} 75\n"),
            "{text}"
        );
        assert!(!text.contains("check_value{check=\"sequences\""), "{text}");
    }

    #[test]
    fn json_statuses_are_lowercase() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["status"], "warning");
        assert_eq!(v["checks"][1]["status"], "unknown");
        assert_eq!(v["checks"][0]["value"], 75.0);
    }
}
