//! The verify result: a JSON document (`--json`) and a human summary.

use serde::Serialize;
use serde_json::Value;

use crate::error::ExitCode;
use crate::report::shown;
use crate::verify::Method;
use crate::verify::compare::{Outcome, RowDiff};
use crate::verify::layout::Layout;

#[derive(Debug, Clone, Serialize)]
pub struct VerifySummary {
    pub source: String,
    pub target: String,
    pub schema: String,
    pub status: &'static str,
    pub tables: Vec<TableReport>,
    /// Translated views, compared by the rows they return.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<crate::verify::views::ViewReport>,
    pub seconds: f64,
}

impl VerifySummary {
    pub fn new(source: String, target: String, schema: String, tables: Vec<TableReport>, seconds: f64) -> Self {
        let equal = tables.iter().all(|t| t.status == "equal");
        VerifySummary {
            source,
            target,
            schema,
            status: if equal { "equal" } else { "different" },
            tables,
            views: Vec::new(),
            seconds,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.status == "equal" {
            ExitCode::Ok
        } else {
            ExitCode::Different
        }
    }

    /// The human summary, printed on stdout.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let width = self
            .tables
            .iter()
            .map(|t| shown::name(&t.table).chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        out.push_str(&format!(
            "\n{:<width$}  {:>12}  {:>12}  status\n",
            "table", "rows source", "rows target"
        ));
        for t in &self.tables {
            out.push_str(&format!(
                "{:<width$}  {:>12}  {:>12}  {}\n",
                shown::name(&t.table),
                t.rows_source,
                t.rows_target,
                t.status
            ));
        }
        for t in self.tables.iter().filter(|t| t.status != "equal") {
            out.push_str(&format!("\n{} differs", shown::name(&t.table)));
            if t.target_table != t.table {
                out.push_str(&format!(" (target table {})", shown::name(&t.target_table)));
            }
            out.push_str(":\n");
            if t.target_missing {
                out.push_str("  the target has no such table\n");
            }
            if let Some(key) = &t.key {
                out.push_str(&format!("  key: ({})\n", key.join(", ")));
            }
            for (label, keys, count) in [
                ("missing from the target", &t.missing, t.missing_count),
                ("extra in the target", &t.extra, t.extra_count),
                ("changed", &t.changed, t.changed_count),
            ] {
                if let (Some(keys), Some(count)) = (keys, count)
                    && count > 0
                {
                    let shown: Vec<String> = keys.iter().take(20).map(|k| key_text(k)).collect();
                    let more = count - u64::try_from(shown.len()).unwrap_or(0);
                    out.push_str(&format!(
                        "  {count} {label}: {}{}\n",
                        shown.join(" "),
                        if more > 0 {
                            format!(" … and {more} more")
                        } else {
                            String::new()
                        }
                    ));
                }
            }
            if let Some(n) = t.missing_hashes.filter(|n| *n > 0) {
                out.push_str(&format!("  {n} rows only in the source (table has no key)\n"));
            }
            if let Some(n) = t.extra_hashes.filter(|n| *n > 0) {
                out.push_str(&format!("  {n} rows only in the target (table has no key)\n"));
            }
            for diff in &t.diffs {
                out.push_str(&format!("  row {}:\n", key_text(&diff.key)));
                for c in &diff.columns {
                    out.push_str(&format!("    {}: source {}  target {}\n", c.column, c.source, c.target));
                }
            }
        }
        for t in self.tables.iter().filter(|t| !t.not_compared.is_empty()) {
            out.push_str(&format!(
                "\nnote: {}: not compared (no such column in the target): {}\n",
                t.table,
                t.not_compared.join(", ")
            ));
        }
        out.push_str(&crate::verify::views::human(&self.views));
        let different = self.tables.iter().filter(|t| t.status != "equal").count();
        out.push_str(&format!(
            "\n{} verified in {:.2}s: {}\n",
            crate::units::count(self.tables.len(), "table"),
            self.seconds,
            if different == 0 && self.status == "equal" {
                "the target equals the source".to_string()
            } else if different == 0 {
                "the tables are equal; views differ".to_string()
            } else {
                format!("{different} differ")
            }
        ));
        out
    }
}

fn key_text(key: &[Value]) -> String {
    let parts: Vec<String> = key.iter().map(Value::to_string).collect();
    format!("[{}]", parts.join(", "))
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// The source table's name.
    pub table: String,
    pub target_table: String,
    pub status: &'static str,
    pub rows_source: u64,
    pub rows_target: u64,
    /// Source names of the key columns; null for tables without a key.
    pub key: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<Vec<Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Vec<Vec<Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<Vec<Value>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_hashes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_hashes: Option<u64>,
    /// Column-level differences of the first few changed rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<RowDiff>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub target_missing: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_compared: Vec<String>,
    pub method: &'static str,
    pub seconds: f64,
}

impl TableReport {
    pub fn new(layout: &Layout, outcome: Outcome, method: Method, seconds: f64) -> TableReport {
        let equal = outcome.equal() && layout.target_exists;
        let keyed = layout.key.is_some();
        TableReport {
            table: layout.source_table.clone(),
            target_table: layout.target_table.clone(),
            status: if equal { "equal" } else { "different" },
            rows_source: outcome.rows_source,
            rows_target: outcome.rows_target,
            key: layout.key_names(),
            missing: keyed.then(|| outcome.missing.keys.clone()),
            missing_count: keyed.then_some(outcome.missing.count),
            extra: keyed.then(|| outcome.extra.keys.clone()),
            extra_count: keyed.then_some(outcome.extra.count),
            changed: keyed.then(|| outcome.changed.keys.clone()),
            changed_count: keyed.then_some(outcome.changed.count),
            missing_hashes: (!keyed).then_some(outcome.missing_hashes),
            extra_hashes: (!keyed).then_some(outcome.extra_hashes),
            diffs: outcome.diffs,
            target_missing: !layout.target_exists,
            not_compared: layout.not_compared.clone(),
            method: method.name(),
            seconds,
        }
    }

    /// One progress line on stderr as each table finishes.
    pub fn progress_line(&self) -> String {
        format!(
            "{}: {} ({} rows source, {} rows target, {:.2}s, {})",
            shown::name(&self.table),
            self.status,
            self.rows_source,
            self.rows_target,
            self.seconds,
            self.method
        )
    }
}

impl crate::report::Summary for VerifySummary {
    fn human(&self) -> String {
        VerifySummary::human(self)
    }

    fn to_json(&self, pretty: bool) -> String {
        crate::report::json_of(self, pretty)
    }
}
