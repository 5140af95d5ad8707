//! `godwit audit enable|status|disable`: flags and printing.

use clap::{Args, Subcommand, ValueEnum};

use crate::audit::{self, AuditOptions, Enabled, ModeChoice};
use crate::cli::connect::DatabaseArgs;
use crate::error::{ExitCode, Result};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: AuditAction,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Audit writes to the tables (pgaudit when the server loads it, else triggers into
    /// godwit.audit_log) and, with pgaudit, DDL and role changes.
    Enable(EnableArgs),
    /// Show the mode, the audited tables and the last audited event.
    Status(StatusArgs),
    /// Stop auditing the tables (the trail already written stays).
    Disable(TablesArgs),
}

#[derive(Debug, Args)]
#[command(mut_arg("to", |a| a.help("Database: a postgresql:// URL or a key=value string")))]
pub struct StatusArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TablesArgs {
    #[command(flatten)]
    pub target: StatusArgs,

    /// Schema of the tables.
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,

    /// Only these tables (repeatable or comma-separated) [default: every table of the schema].
    #[arg(long, value_name = "TABLE", value_delimiter = ',')]
    pub tables: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    pub tables: TablesArgs,

    /// How to audit.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// pgaudit when the server preloads it; the steps to load it when it is only installed;
    /// triggers when it is not installed.
    Auto,
    /// pgaudit only.
    Pgaudit,
    /// Triggers into godwit.audit_log, whatever the server has.
    Trigger,
}

fn options(args: &TablesArgs, mode: ModeChoice) -> Result<AuditOptions> {
    Ok(AuditOptions {
        target: args.target.database.required()?,
        schema: args.schema.clone(),
        tables: args.tables.clone(),
        mode,
    })
}

pub fn run(args: AuditArgs) -> Result<ExitCode> {
    match args.action {
        AuditAction::Enable(args) => {
            let mode = match args.mode {
                ModeArg::Auto => ModeChoice::Auto,
                ModeArg::Pgaudit => ModeChoice::Pgaudit,
                ModeArg::Trigger => ModeChoice::Trigger,
            };
            match audit::enable(&options(&args.tables, mode)?)? {
                Enabled::On { mode, tables } => {
                    let how = match mode {
                        audit::Mode::Pgaudit => {
                            "pgaudit (writes logged through role godwit_auditor; DDL and role changes by session); \
                             events go to the server log, in new sessions"
                        }
                        audit::Mode::Trigger => "triggers into godwit.audit_log",
                    };
                    println!("auditing {} tables with {how}:", tables.len());
                    for table in tables {
                        println!("  {table}");
                    }
                    Ok(ExitCode::Ok)
                }
                Enabled::NeedsRestart { steps } => {
                    println!("pgaudit is installed but not loaded; nothing was changed. Steps:");
                    for (i, step) in steps.iter().enumerate() {
                        println!("  {}. {step}", i + 1);
                    }
                    println!("(or audit with triggers now: godwit audit enable --mode trigger)");
                    Ok(ExitCode::Review)
                }
            }
        }
        AuditAction::Status(args) => {
            let target = args.database.required()?;
            let status = audit::status(&target)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&status).unwrap_or_default());
            } else {
                let modes: Vec<&str> = status
                    .modes()
                    .iter()
                    .map(|m| match m {
                        audit::Mode::Pgaudit => "pgaudit",
                        audit::Mode::Trigger => "trigger",
                    })
                    .collect();
                println!(
                    "audit: {}",
                    if modes.is_empty() {
                        "off".into()
                    } else {
                        modes.join(" and ")
                    }
                );
                println!(
                    "pgaudit: {}",
                    match (status.pgaudit_installed, status.pgaudit_loaded) {
                        (_, true) => "loaded",
                        (true, false) => "installed, not loaded (shared_preload_libraries)",
                        (false, false) => "not installed",
                    }
                );
                if let Some(log) = &status.pgaudit_log {
                    println!("pgaudit session classes: {log}; events in the server log (AUDIT: lines)");
                }
                match (&status.pgaudit_last_event, &status.pgaudit_log_unreadable) {
                    (Some(event), _) => println!("pgaudit last event: {}", crate::report::shown::name(event)),
                    (None, Some(why)) => println!("pgaudit last event: unknown: {why}"),
                    (None, None) if status.modes().contains(&audit::Mode::Pgaudit) => {
                        println!("pgaudit last event: none in the server log's last megabyte");
                    }
                    (None, None) => {}
                }
                for table in &status.pgaudit_tables {
                    println!("  pgaudit  {table}");
                }
                for table in &status.trigger_tables {
                    println!("  trigger  {table}");
                }
                match &status.last_event {
                    Some(event) => println!("godwit.audit_log: {} events, last: {event}", status.events),
                    None if !status.trigger_tables.is_empty() => println!("godwit.audit_log: no events yet"),
                    None => {}
                }
                for problem in &status.problems {
                    println!("problem: {problem}");
                }
            }
            Ok(if status.problems.is_empty() {
                ExitCode::Ok
            } else {
                ExitCode::Review
            })
        }
        AuditAction::Disable(args) => {
            let removed = audit::disable(&options(&args, ModeChoice::Auto)?)?;
            if removed.is_empty() {
                println!("nothing to disable: no audited table matched");
            } else {
                println!(
                    "stopped auditing {} tables (the trail written so far stays):",
                    removed.len()
                );
                for table in removed {
                    println!("  {table}");
                }
            }
            Ok(ExitCode::Ok)
        }
    }
}
