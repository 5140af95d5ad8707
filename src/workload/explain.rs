//! EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of a class with real values,
//! and what deserves a flag: sequential scans that read many rows, sorts
//! that spill to disk, row estimates off by 10× or more.

use postgres::Client;
use serde_json::Value;

use super::engine::{PgValue, as_refs, pg_error};

/// A sequential scan reading at least this many rows is flagged.
pub const LARGE_SCAN_ROWS: f64 = 10_000.0;
/// Estimates off by this factor either way are flagged.
pub const ESTIMATE_FACTOR: f64 = 10.0;

/// A scan or sort the advice may help, from the analysed plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    pub relation: String,
    /// Filter, sort key or join condition text that names its columns.
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Explained {
    pub flags: Vec<String>,
    pub hotspots: Vec<Hotspot>,
    /// The planner's total cost.
    pub cost: f64,
}

pub fn analyze(client: &mut Client, sql: &str, values: &[PgValue]) -> Result<Explained, String> {
    // ANALYZE runs the statement: in a read-only transaction, rolled back.
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| pg_error(&e))?;
    let row = tx
        .query_one(
            &format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}"),
            &as_refs(values),
        )
        .map_err(|e| pg_error(&e))?;
    let plan: Value = row.try_get(0).map_err(|e| e.to_string())?;
    let root = &plan[0]["Plan"];
    let mut out = Explained {
        cost: root["Total Cost"].as_f64().unwrap_or(0.0),
        ..Explained::default()
    };
    walk(root, false, &mut out);
    Ok(out)
}

/// The planner's cost alone (no execution), for hypothetical indexes.
pub fn cost(client: &mut Client, sql: &str, values: &[PgValue]) -> Result<f64, String> {
    let row = client
        .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &as_refs(values))
        .map_err(|e| pg_error(&e))?;
    let plan: Value = row.try_get(0).map_err(|e| e.to_string())?;
    Ok(plan[0]["Plan"]["Total Cost"].as_f64().unwrap_or(0.0))
}

/// `limited`: under a Limit, nodes stop early, so their actual rows say
/// nothing about the estimate.
fn walk(node: &Value, limited: bool, out: &mut Explained) {
    let kind = node["Node Type"].as_str().unwrap_or("");
    let relation = node["Relation Name"].as_str();
    let loops = node["Actual Loops"].as_f64().unwrap_or(1.0).max(1.0);
    let actual = node["Actual Rows"].as_f64().unwrap_or(0.0) * loops;
    let planned = node["Plan Rows"].as_f64().unwrap_or(0.0) * loops;
    if kind == "Seq Scan" {
        let removed = node["Rows Removed by Filter"].as_f64().unwrap_or(0.0) * loops;
        let read = actual + removed;
        let name = relation.unwrap_or("?");
        if read >= LARGE_SCAN_ROWS {
            out.flags.push(format!(
                "sequential scan of {name}: {read:.0} rows read, {actual:.0} kept"
            ));
        }
        if let Some(filter) = node["Filter"].as_str() {
            out.hotspots.push(Hotspot {
                relation: name.to_string(),
                text: filter.to_string(),
            });
        }
    }
    if kind == "Sort" {
        if node["Sort Space Type"].as_str() == Some("Disk") {
            out.flags.push(format!(
                "sort spills to disk ({} kB, {})",
                node["Sort Space Used"].as_i64().unwrap_or(0),
                node["Sort Method"].as_str().unwrap_or("external")
            ));
        }
        // The relation under the sort, for an index that gives the order.
        if let (Some(keys), Some(r)) = (node["Sort Key"].as_array(), first_relation(node)) {
            let text = keys.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ");
            out.hotspots.push(Hotspot { relation: r, text });
        }
    }
    let (big, small) = (actual.max(planned).max(1.0), actual.min(planned).max(1.0));
    if !limited && big / small >= ESTIMATE_FACTOR && big >= 100.0 {
        out.flags.push(format!(
            "{kind}{}: estimated {planned:.0} rows, actual {actual:.0}",
            relation.map(|r| format!(" on {r}")).unwrap_or_default()
        ));
    }
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            walk(child, limited || kind == "Limit", out);
        }
    }
}

fn first_relation(node: &Value) -> Option<String> {
    if let Some(r) = node["Relation Name"].as_str() {
        return Some(r.to_string());
    }
    node["Plans"].as_array()?.iter().find_map(first_relation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_scans_spills_and_estimates() {
        let plan: Value = serde_json::json!({
            "Node Type": "Sort", "Sort Space Type": "Disk", "Sort Space Used": 2048, "Sort Method": "external merge",
            "Sort Key": ["orders.created_at"], "Plan Rows": 100, "Actual Rows": 50000, "Actual Loops": 1,
            "Plans": [{"Node Type": "Seq Scan", "Relation Name": "orders", "Filter": "(status = 'x'::text)",
                       "Plan Rows": 100, "Actual Rows": 50000, "Rows Removed by Filter": 10, "Actual Loops": 1}]
        });
        let mut out = Explained::default();
        walk(&plan, false, &mut out);
        assert!(
            out.flags.iter().any(|f| f.starts_with("sort spills")),
            "{:?}",
            out.flags
        );
        assert!(
            out.flags.iter().any(|f| f.starts_with("sequential scan of orders")),
            "{:?}",
            out.flags
        );
        assert!(
            out.flags.iter().any(|f| f.contains("estimated 100 rows, actual 50000")),
            "{:?}",
            out.flags
        );
        assert_eq!(out.hotspots.len(), 2);
    }
}
