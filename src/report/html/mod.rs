//! One self-contained HTML page from the documents `--json` prints.
//!
//! Each section is fed the very `serde_json::Value` of the summary that
//! `--json` writes (health's report, inspect's report, verify's summary,
//! workload's document), so the page and the JSON cannot disagree: the
//! overview's bars are computed from those values ([`overview`]) and the
//! templates under `src/report/templates/` only lay them out. Templates end
//! in `.html`, so minijinja escapes every value from the data; CSS, the
//! sort script and the SVG charts are inline, and nothing is fetched.

mod chart;
mod overview;

use std::path::Path;

use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::error::{Error, Result};

pub use chart::{LatencyChart, latency_chart};
pub use overview::{Bar, overview};

/// What one page shows: any of the four sections, each as its JSON document.
#[derive(Debug, Clone, Default)]
pub struct Dossier {
    /// The page's heading, e.g. "godwit health".
    pub title: String,
    /// The database the page is about (credentials already redacted).
    pub target: String,
    pub health: Option<serde_json::Value>,
    pub inspect: Option<serde_json::Value>,
    pub verify: Option<serde_json::Value>,
    pub workload: Option<serde_json::Value>,
}

impl Dossier {
    pub fn new(title: &str, target: &str) -> Dossier {
        Dossier {
            title: title.to_string(),
            target: target.to_string(),
            ..Dossier::default()
        }
    }

    /// The value `--json` prints for `summary`.
    pub fn json_of<T: Serialize>(summary: &T) -> serde_json::Value {
        serde_json::to_value(summary).unwrap_or(serde_json::Value::Null)
    }
}

/// The page, as one string.
pub fn render(dossier: &Dossier) -> Result<String> {
    let env = environment()?;
    let bars = overview(dossier);
    let workload_charts: Vec<Option<LatencyChart>> = dossier
        .workload
        .as_ref()
        .and_then(|w| w.get("classes"))
        .and_then(serde_json::Value::as_array)
        .map(|classes| {
            classes
                .iter()
                .map(|c| latency_chart(c, dossier.workload.as_ref()))
                .collect()
        })
        .unwrap_or_default();
    let inspect_groups = dossier.inspect.as_ref().map(group_findings);
    let page = env
        .get_template("page.html")
        .map_err(template_error)?
        .render(context! {
            title => &dossier.title,
            target => &dossier.target,
            generated => chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            bars => to_value(&bars),
            health => dossier.health.as_ref().map(to_value),
            inspect => dossier.inspect.as_ref().map(to_value),
            inspect_groups => inspect_groups.as_ref().map(to_value),
            verify => dossier.verify.as_ref().map(to_value),
            workload => dossier.workload.as_ref().map(to_value),
            workload_charts => to_value(&workload_charts),
        })
        .map_err(template_error)?;
    Ok(page)
}

/// A serializable value as the templates see it.
fn to_value<T: Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// Renders and writes the page to `path`.
pub fn write(dossier: &Dossier, path: &Path) -> Result<()> {
    let page = render(dossier)?;
    std::fs::write(path, page).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    // The `.html` names turn on HTML escaping for every value; style.css and
    // sort.js are ours and carry no data.
    for (name, source) in [
        ("page.html", include_str!("../templates/page.html")),
        ("health.html", include_str!("../templates/health.html")),
        ("inspect.html", include_str!("../templates/inspect.html")),
        ("verify.html", include_str!("../templates/verify.html")),
        ("workload.html", include_str!("../templates/workload.html")),
        ("style.css", include_str!("../templates/style.css")),
        ("sort.js", include_str!("../templates/sort.js")),
    ] {
        env.add_template(name, source).map_err(template_error)?;
    }
    env.add_filter("number", number);
    env.add_filter("keytext", key_text);
    Ok(env)
}

/// The innermost cause names the template line at fault.
fn template_error(e: minijinja::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    Error::Other(format!("rendering the HTML report: {message}"))
}

/// Numbers as people read them: integers as they are, others to 2 places.
fn number(value: Value) -> String {
    if let Ok(i) = i64::try_from(value.clone()) {
        return i.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Ok(f) => format!("{f:.2}"),
        Err(_) if value.is_none() || value.is_undefined() => String::new(),
        Err(_) => value.to_string(),
    }
}

/// A row key (a JSON array of values) as verify's human output writes it.
fn key_text(value: Value) -> String {
    let json: serde_json::Value = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
    match json {
        serde_json::Value::Array(parts) => {
            let parts: Vec<String> = parts.iter().map(serde_json::Value::to_string).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// Inspect's findings by kind, in the order inspect reports them.
#[derive(Debug, Serialize)]
struct FindingGroup<'a> {
    kind: &'a str,
    /// The same anchor as the kind's overview bar.
    anchor: String,
    findings: Vec<&'a serde_json::Value>,
}

fn group_findings(report: &serde_json::Value) -> Vec<FindingGroup<'_>> {
    let mut groups: Vec<FindingGroup<'_>> = Vec::new();
    for finding in report
        .get("findings")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = finding
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("other");
        match groups.iter_mut().find(|g| g.kind == kind) {
            Some(group) => group.findings.push(finding),
            None => groups.push(FindingGroup {
                kind,
                anchor: overview::anchor_for_kind(kind),
                findings: vec![finding],
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests;
