//! `migrate lint`: flags statements that lock or rewrite tables or break a
//! running app, using PostgreSQL's own parser (pg_query).

mod check;
pub mod rules;

use std::path::PathBuf;

use crate::error::{Error, ExitCode, Result};

use super::LintOptions;
use super::checksum::normalise;
use super::files::{self, read_text};
use super::script::Script;
use super::state::State;
use check::{NewTables, check};
use rules::{Rule, Severity};

/// Directive that accepts a rule for the statement it precedes (or sits in).
const IGNORE: &str = "godwit:lint-ignore";

#[derive(Debug, serde::Serialize)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub statement: String,
    pub risk: &'static str,
    pub instead: &'static str,
    /// Accepted with `-- godwit:lint-ignore RULE`.
    pub ignored: bool,
}

impl Finding {
    fn new(file: &str, line: usize, column: usize, rule: &'static Rule, message: String, statement: String) -> Finding {
        Finding {
            file: file.to_string(),
            line,
            column,
            rule: rule.id,
            severity: rule.severity,
            message,
            statement,
            risk: rule.risk,
            instead: rule.instead,
            ignored: false,
        }
    }
}

/// Lints the files in order (earlier files' new tables count for later ones).
pub fn lint_files(paths: &[PathBuf]) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut new_tables = NewTables::default();
    for path in paths {
        let shown = path.display().to_string();
        let sql = normalise(&read_text(path)?);
        let script = match Script::parse(&sql) {
            Ok(script) => script,
            Err(err) => {
                findings.push(Finding::new(
                    &shown,
                    1,
                    1,
                    &rules::SYNTAX_ERROR,
                    err.to_string(),
                    String::new(),
                ));
                continue;
            }
        };
        for statement in &script.statements {
            let accepted = ignored_rules(&statement.leading, &statement.text);
            for hit in check(statement, &mut new_tables) {
                let mut finding = Finding::new(
                    &shown,
                    statement.line,
                    statement.column,
                    hit.rule,
                    hit.message,
                    statement.excerpt(),
                );
                finding.ignored = accepted.iter().any(|id| id == hit.rule.id);
                findings.push(finding);
            }
        }
    }
    Ok(findings)
}

/// Rule ids named in `-- godwit:lint-ignore a, b` comments before or inside a statement.
fn ignored_rules(leading: &str, text: &str) -> Vec<String> {
    leading
        .lines()
        .chain(text.lines())
        .filter_map(|line| {
            let comment = line.trim_start().strip_prefix("--")?.trim_start();
            comment.strip_prefix(IGNORE).map(str::to_string)
        })
        .flat_map(|ids| {
            ids.split([',', ' ', '\t'])
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn files_to_lint(args: &LintOptions) -> Result<Vec<PathBuf>> {
    if !args.files.is_empty() {
        return Ok(args.files.clone());
    }
    let all = files::load_dir(&args.common.dir)?;
    if args.all {
        return Ok(all.into_iter().map(|f| f.up_path).collect());
    }
    let spec = args.common.conn_spec().map_err(|_| {
        Error::Usage(
            "lint checks the pending migrations, which needs the database: pass --database-url \
             (or DATABASE_URL), name FILES, or use --all to check every file in --dir"
                .into(),
        )
    })?;
    let mut client = spec.connect()?;
    let rows = args.common.history_table().load(&mut client)?;
    let state = State::build(&all, &rows);
    Ok(state
        .pending()
        .into_iter()
        .filter_map(|e| e.file.as_ref().map(|f| f.up_path.clone()))
        .collect())
}

pub fn run(args: &LintOptions) -> Result<ExitCode> {
    if args.rules {
        for rule in rules::ALL {
            let severity = match rule.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            println!(
                "{} ({severity})\n    risk:    {}\n    instead: {}\n",
                rule.id, rule.risk, rule.instead
            );
        }
        return Ok(ExitCode::Ok);
    }
    let paths = files_to_lint(args)?;
    let findings = lint_files(&paths)?;
    let active = || findings.iter().filter(|f| !f.ignored);
    let errors = active().filter(|f| f.severity == Severity::Error).count();
    let warnings = active().filter(|f| f.severity == Severity::Warning).count();
    let ignored = findings.iter().filter(|f| f.ignored).count();
    if args.json {
        let document = serde_json::json!({
            "files": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "findings": findings,
            "errors": errors,
            "warnings": warnings,
            "ignored": ignored,
        });
        let text = serde_json::to_string_pretty(&document).map_err(|e| Error::Other(format!("encoding JSON: {e}")))?;
        println!("{text}");
    } else {
        for f in active() {
            let severity = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            println!(
                "{}:{}:{}: {severity}[{}]: {}",
                f.file, f.line, f.column, f.rule, f.message
            );
            if !f.statement.is_empty() {
                println!("    {}", f.statement);
            }
            println!("    risk:    {}", f.risk);
            println!("    instead: {}", f.instead);
            println!(
                "    (if this is safe here, put `-- {IGNORE} {}` above the statement)\n",
                f.rule
            );
        }
        println!(
            "lint: {} file(s), {errors} error(s), {warnings} warning(s), {ignored} ignored",
            paths.len()
        );
    }
    if errors > 0 {
        return Err(Error::Migrate(format!("lint found {errors} error(s)")));
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::ignored_rules;

    #[test]
    fn every_rule_is_documented() {
        let doc = include_str!("../../../docs/migrate.md");
        for rule in super::rules::ALL {
            assert!(
                doc.contains(&format!("| `{}` |", rule.id)),
                "{} missing from docs/migrate.md",
                rule.id
            );
        }
    }

    #[test]
    fn ignore_directives() {
        let ids = ignored_rules("\n-- godwit:lint-ignore drop-table, rename\n", "DROP TABLE t");
        assert_eq!(ids, vec!["drop-table", "rename"]);
        assert!(ignored_rules("-- not godwit:lint-ignore x", "select 1").is_empty());
    }
}
