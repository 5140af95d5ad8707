//! Printing findings: for people, or `{"findings": [...]}` as JSON.

use super::InspectReport;

pub fn human(report: &InspectReport) -> String {
    let mut out = String::new();
    if report.findings.is_empty() {
        out.push_str(&format!("no findings for {}\n", report.target));
    } else {
        out.push_str(&format!("{} findings for {}\n", report.findings.len(), report.target));
    }
    for f in &report.findings {
        let method = f.method.as_deref().map(|m| format!(" [{m}]")).unwrap_or_default();
        out.push_str(&format!(
            "\n{}{method}  {}\n  evidence:   {}\n  suggestion: {}\n",
            f.kind, f.object, f.evidence, f.suggestion
        ));
    }
    for note in &report.notes {
        out.push_str(&format!("\nnote: {note}\n"));
    }
    out
}

pub fn json(report: &InspectReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}
