//! Every corpus file that copies verifies clean after its copy. Rows the
//! copy rejected under `--on-error skip` are legitimately missing: verify
//! must report exactly those rows as missing, and nothing else.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

fn corpus_files() -> Vec<std::path::PathBuf> {
    let dir = corpus("Chinook_Sqlite.sqlite").parent().unwrap().to_path_buf();
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "corpus looks incomplete: {files:?}");
    files
}

/// A key value as text, the same whichever side wrote it (reject files
/// write blobs as bare hex, verify as `\x` hex).
fn normalized(value: &Value) -> String {
    match value {
        Value::String(s) => s.strip_prefix("\\x").unwrap_or(s).to_string(),
        other => other.to_string(),
    }
}

/// Keys as sorted lists of their values: reject files keep keys as JSON
/// objects whose member order is not the key's.
/// Verify names a row with a NULL key by appending `{"rowid": N}`.
fn key_set<'a>(keys: impl Iterator<Item = &'a Value>) -> BTreeSet<Vec<String>> {
    fn flatten(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            Value::Object(map) => map.values().for_each(|v| flatten(v, out)),
            other => out.push(normalized(other)),
        }
    }
    keys.map(|k| {
        let mut values = Vec::new();
        flatten(k, &mut values);
        values.sort();
        values
    })
    .collect()
}

#[test]
fn every_corpus_file_that_copies_verifies_clean_but_for_its_rejected_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut verified = 0;
    for file in corpus_files() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let target = fresh_database("verify_corpus");
        let rejects_path = dir.path().join(format!("{name}.jsonl"));
        let out = copy(
            &file,
            &target,
            &["--on-error", "skip", "--rejects", rejects_path.to_str().unwrap()],
        );
        if !matches!(out.status.code(), Some(0) | Some(3)) {
            // Files that do not copy (exit 2: names PostgreSQL cannot hold) have nothing to verify.
            continue;
        }
        // Rejected rows by source table.
        let mut rejected: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&rejects_path) {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let record: Value = serde_json::from_str(line).unwrap();
                rejected
                    .entry(record["table"].as_str().unwrap().to_string())
                    .or_default()
                    .push(record["key"].clone());
            }
        }
        let url = target.to_string();
        let out = godwit(&[
            "verify",
            file.to_str().unwrap(),
            "--to",
            &url,
            "--json",
            "--max-keys",
            "100000",
        ]);
        let doc: Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}\n{}", stdout(&out), stderr(&out)));
        let expected_code = if rejected.is_empty() { 0 } else { 4 };
        assert_eq!(out.status.code(), Some(expected_code), "{name}: {doc:#}");
        for table in doc["tables"].as_array().unwrap() {
            let t = table["table"].as_str().unwrap();
            let rejects = rejected.get(t).cloned().unwrap_or_default();
            if table["key"].is_null() {
                assert_eq!(table["missing_hashes"], rejects.len(), "{name}.{t}: {table:#}");
                assert_eq!(table["extra_hashes"], 0, "{name}.{t}: {table:#}");
            } else {
                assert_eq!(table["missing_count"], rejects.len(), "{name}.{t}: {table:#}");
                assert_eq!(
                    key_set(table["missing"].as_array().unwrap().iter()),
                    key_set(rejects.iter()),
                    "{name}.{t}"
                );
                assert_eq!(table["extra_count"], 0, "{name}.{t}: {table:#}");
                assert_eq!(table["changed_count"], 0, "{name}.{t}: {table:#}");
            }
            assert_eq!(
                table["status"],
                if rejects.is_empty() { "equal" } else { "different" },
                "{name}.{t}"
            );
        }
        verified += 1;
    }
    assert!(verified >= 8, "only {verified} corpus files copied and verified");
}
