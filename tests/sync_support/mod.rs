//! What the sync tests share: running a round and reading its summary,
//! verifying, and writing to the app's SQLite file.
#![allow(dead_code)]

use std::path::Path;

use rusqlite::Connection;

use crate::common::{assert_exit, godwit, stdout};

/// `godwit sync SOURCE --to TARGET --json`, which must exit 0; its summary.
pub fn sync_json(source: &Path, target: &str) -> serde_json::Value {
    let out = godwit(&["sync", source.to_str().unwrap(), "--to", target, "--json"]);
    assert_exit(&out, 0);
    serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// One table's (inserted, updated, deleted) in a round's summary.
pub fn counts(summary: &serde_json::Value, table: &str) -> (u64, u64, u64) {
    let t = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("no {table} in {summary}"));
    (
        t["inserted"].as_u64().unwrap(),
        t["updated"].as_u64().unwrap(),
        t["deleted"].as_u64().unwrap(),
    )
}

/// All rows a round inserted, updated and deleted.
pub fn changes(summary: &serde_json::Value) -> u64 {
    ["inserted", "updated", "deleted"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum()
}

/// verify exits 0: the target holds exactly the source's rows.
pub fn verify_ok(source: &Path, target: &str) {
    let out = godwit(&["verify", source.to_str().unwrap(), "--to", target]);
    assert_exit(&out, 0);
}

/// The app writes to its SQLite file.
pub fn app_writes(app: &Path, sql: &str) {
    Connection::open(app).unwrap().execute_batch(sql).unwrap();
}
