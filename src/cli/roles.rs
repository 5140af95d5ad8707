//! `godwit roles plan|apply`: flags and printing.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::connect::DatabaseArgs;
use crate::error::{ExitCode, Result};
use crate::roles::{self, RoleNames, RolesOptions};

#[derive(Debug, Args)]
pub struct RolesArgs {
    #[command(subcommand)]
    pub action: RolesAction,
}

#[derive(Debug, Subcommand)]
pub enum RolesAction {
    /// Print the SQL that would set up the roles; change nothing.
    Plan(RolesTarget),
    /// Set up the roles in one transaction; a second run changes nothing and says so.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
#[command(mut_arg("to", |a| a.help(
    "Database: a postgresql:// URL or a key=value string, as a role that may create roles and owns the \
     schema's objects (a superuser, or the cloud provider's admin role)"
)))]
pub struct RolesTarget {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The application's schema.
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,

    /// Roles are named PREFIX_owner, PREFIX_app, PREFIX_readonly, PREFIX_monitor
    /// [default: the schema's name, or the database's for public].
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: RolesTarget,

    /// Write the new roles' passwords to this file (.pgpass format, mode 0600) instead of
    /// showing them once on stdout. Never overwrites a file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

fn options(target: &RolesTarget) -> Result<RolesOptions> {
    let spec = target.database.required()?;
    let prefix = target
        .prefix
        .clone()
        .unwrap_or_else(|| roles::default_prefix(&target.schema, &spec.dbname));
    Ok(RolesOptions {
        names: RoleNames::new(&prefix)?,
        schema: target.schema.clone(),
        target: spec,
    })
}

pub fn run(args: RolesArgs) -> Result<ExitCode> {
    match args.action {
        RolesAction::Plan(target) => {
            let options = options(&target)?;
            let plan = roles::plan(&options)?;
            if plan.steps.is_empty() {
                println!(
                    "-- nothing to change: the roles of schema {} are set up",
                    options.schema
                );
            } else {
                print!("{}", plan.script());
            }
            for note in &plan.notes {
                eprintln!("note: {note}");
            }
            Ok(ExitCode::Ok)
        }
        RolesAction::Apply(args) => {
            let options = options(&args.target)?;
            let applied = roles::apply(&options, args.password_file.as_deref())?;
            if applied.plan.steps.is_empty() {
                println!(
                    "nothing changed: the roles of schema {} were already set up",
                    options.schema
                );
            } else {
                println!("applied {} statements in one transaction:", applied.plan.steps.len());
                for step in &applied.plan.steps {
                    println!("  {}", step.why);
                }
            }
            if let Some(path) = &applied.password_file {
                println!("passwords of the new roles written to {} (mode 0600)", path.display());
            }
            if !applied.passwords.is_empty() {
                println!("passwords of the new roles (shown once; stored only as SCRAM-SHA-256):");
                for (role, secret) in &applied.passwords {
                    println!("  {role}  {}", secret.expose());
                }
            }
            for note in &applied.plan.notes {
                eprintln!("note: {note}");
            }
            Ok(ExitCode::Ok)
        }
    }
}
