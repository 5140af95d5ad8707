//! `migrate status`: every migration with its state, when it was applied
//! and how long it took, plus the problems that need a look.

use crate::error::{Error, ExitCode, Result};

use super::StatusOptions;
use super::commands::{open, version_suffix};
use super::state::{Entry, EntryState};

#[derive(serde::Serialize)]
struct StatusJson<'a> {
    database: String,
    history_table: String,
    current_version: Option<i64>,
    migrations: Vec<StatusEntryJson<'a>>,
    problems: Vec<String>,
}

#[derive(serde::Serialize)]
struct StatusEntryJson<'a> {
    version: i64,
    name: &'a str,
    state: EntryState,
    applied_at: Option<&'a str>,
    duration_ms: Option<i64>,
    applied_by: Option<&'a str>,
    file: Option<String>,
}

pub fn status(args: &StatusOptions) -> Result<ExitCode> {
    let spec = args.common.conn_spec()?;
    let context = open(&args.common)?;
    let state = &context.state;
    let problems: Vec<String> = state.entries.iter().filter_map(Entry::problem).collect();
    if args.json {
        let document = StatusJson {
            database: spec.to_string(),
            history_table: context.history.qualified(),
            current_version: state.current_version(),
            migrations: state
                .entries
                .iter()
                .map(|e| StatusEntryJson {
                    version: e.version,
                    name: &e.name,
                    state: e.state,
                    applied_at: e.applied.as_ref().map(|a| a.applied_at.as_str()),
                    duration_ms: e.applied.as_ref().map(|a| a.duration_ms),
                    applied_by: e.applied.as_ref().map(|a| a.applied_by.as_str()),
                    file: e.file.as_ref().map(|f| f.up_path.display().to_string()),
                })
                .collect(),
            problems: problems.clone(),
        };
        let text = serde_json::to_string_pretty(&document).map_err(|e| Error::Other(format!("encoding JSON: {e}")))?;
        println!("{text}");
    } else {
        println!("database: {spec}   history: {}", context.history.qualified());
        if state.entries.is_empty() {
            println!("no migrations in {} and none applied", args.common.dir.display());
        } else {
            println!(
                "{:<16} {:<32} {:<14} {:<22} {:>10}  BY",
                "VERSION", "NAME", "STATE", "APPLIED AT", "DURATION"
            );
            for e in &state.entries {
                let (at, took, by) = match &e.applied {
                    Some(a) => (
                        a.applied_at.as_str(),
                        format!("{} ms", a.duration_ms),
                        a.applied_by.as_str(),
                    ),
                    None => ("", String::new(), ""),
                };
                println!(
                    "{:<16} {:<32} {:<14} {:<22} {:>10}  {}",
                    e.version,
                    e.name,
                    e.state.label(),
                    at,
                    took,
                    by
                );
            }
            let pending = state.pending().len();
            println!(
                "\n{} applied, {pending} pending{}",
                state.entries.iter().filter(|e| e.applied.is_some()).count(),
                version_suffix(state.current_version())
            );
        }
        for problem in &problems {
            eprintln!("problem: {problem}");
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Review
    })
}
