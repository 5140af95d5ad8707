//! `godwit backup`, `godwit backup list|prune|verify` and `godwit restore`:
//! flags in, `crate::backup` settings out, results printed.

use clap::{Args, Subcommand};

use crate::backup::retention::Policy;
use crate::backup::{self, BackupOptions, CheckOutcome, RestoreOptions};
use crate::cli::groups::OutputArgs;
use crate::error::{Error, ExitCode, Result};
use crate::postgres::conn::ConnSpec;
use crate::report::Reporter;

const BACKUP_EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  failed (a backup that failed is never listed as complete)
  2  usage error";

const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  every file, row count and fingerprint is equal to the manifest
  1  could not run
  2  usage error
  4  a file or a table differs (named on stderr and recorded with the backup)";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true, after_help = BACKUP_EXIT_CODES)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,

    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// List complete backups, newest first, with size, age and whether each was verified.
    List(ListArgs),
    /// Delete backups that the --keep-* rules do not keep (never the newest).
    Prune(PruneArgs),
    /// Check a backup's files, restore it into a scratch database and compare every table.
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The database to back up: a postgresql:// URL or a key=value string.
    #[arg(
        long,
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true,
        required_unless_present = "from_standby"
    )]
    pub to: Option<String>,

    /// Take the dump from this hot standby instead, sparing the primary the reads (with --to,
    /// it must be that primary's standby). The manifest records the standby's replay position.
    #[arg(long, value_name = "URL")]
    pub from_standby: Option<String>,

    #[command(flatten)]
    pub connect: super::connect::ConnectArgs,

    #[command(flatten)]
    pub location: LocationArgs,

    /// pg_dump parallel jobs [default: number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    /// Compression [default: zstd with pg_dump 16 or later, else gzip; lz4 and zstd need pg_dump 16].
    #[arg(long, value_name = "METHOD", value_parser = ["zstd", "lz4", "gzip", "none"])]
    pub compress: Option<String>,

    #[command(flatten)]
    pub keep: KeepArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LocationArgs {
    /// Where backups live: a directory, or s3://BUCKET/PREFIX (configured by AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_ENDPOINT_URL).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", required = true)]
    pub dir: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct KeepArgs {
    /// Keep the N newest backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,

    /// Keep the newest backup of each of the N most recent days that have one (UTC).
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,

    /// Keep the newest backup of each of the N most recent ISO weeks that have one (UTC).
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<usize>,
}

impl KeepArgs {
    fn policy(&self) -> Policy {
        Policy {
            keep_last: self.keep_last,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub location: LocationArgs,

    /// Print {"backups": [{"id", "path", "size", "created", "verified"}]} on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub location: LocationArgs,

    #[command(flatten)]
    pub keep: KeepArgs,

    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup: DIR/<id> or s3://BUCKET/PREFIX/<id>; a bare DIR or s3://BUCKET/PREFIX means
    /// its newest complete backup.
    #[arg(value_name = "BACKUP")]
    pub backup: String,

    /// The server to run the test restore on (a scratch database is created and dropped).
    /// Without it (and without DATABASE_URL) godwit uses its local cluster.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub to: Option<String>,

    #[command(flatten)]
    pub connect: super::connect::ConnectArgs,

    #[command(flatten)]
    pub restore: RestoreFlags,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreFlags {
    /// pg_restore parallel jobs, also used for the proof [default: number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    /// Restore without ownership and privileges (for a server without the same roles).
    #[arg(long)]
    pub no_owner: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit codes:
  0  restored and proven equal to the backup
  1  failed; the target is unchanged
  2  usage error
  4  a file or a table differs from the manifest; the target is unchanged")]
pub struct RestoreArgs {
    /// The backup: DIR/<id> or s3://BUCKET/PREFIX/<id>; a bare DIR or s3://BUCKET/PREFIX means
    /// its newest complete backup.
    #[arg(value_name = "BACKUP", required_unless_present = "cleanup")]
    pub backup: Option<String>,

    /// BACKUP is a partition archive (written by `maintain --archive-to`): restore that
    /// partition into the --to database, prove it against the archive, and attach it to its table.
    #[arg(long, conflicts_with = "cleanup")]
    pub archive: bool,

    /// Restore nothing: drop the scratch databases that killed restores to the --to database
    /// (and killed `backup verify` runs on its server) left behind. Those of runs still going stay.
    #[arg(long, conflicts_with = "backup")]
    pub cleanup: bool,

    /// The database to restore into (created if missing).
    #[arg(
        long,
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true,
        required = true
    )]
    pub to: Option<String>,

    #[command(flatten)]
    pub connect: super::connect::ConnectArgs,

    /// Replace a target database that already has tables.
    #[arg(long)]
    pub replace: bool,

    #[command(flatten)]
    pub restore: RestoreFlags,

    #[command(flatten)]
    pub output: OutputArgs,
}

fn jobs(flag: Option<usize>) -> usize {
    flag.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
        .max(1)
}

fn location(args: &LocationArgs) -> Result<&str> {
    args.dir
        .as_deref()
        .ok_or_else(|| Error::Usage("--dir DIR|s3://BUCKET/PREFIX is required".into()))
}

/// The target, waiting for a restarting server up to `--connect-timeout`.
fn connection(to: Option<&str>, connect: &super::connect::ConnectArgs, what: &str) -> Result<ConnSpec> {
    let url = to.ok_or_else(|| Error::Usage(format!("--to URL (or DATABASE_URL) is required: {what}")))?;
    let spec = ConnSpec::parse(url)?.with_retry(connect.connect_timeout, super::connect::wait_on_stderr());
    crate::postgres::pooler::refuse(
        &spec,
        "backup and restore",
        "pg_dump's and pg_restore's session settings and snapshot",
    )?;
    Ok(spec)
}

pub fn run(args: BackupArgs) -> Result<ExitCode> {
    match args.action {
        None => create(args.create),
        Some(BackupAction::List(args)) => list(&args),
        Some(BackupAction::Prune(args)) => prune(&args),
        Some(BackupAction::Verify(args)) => verify(&args),
    }
}

fn create(args: CreateArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(args.output.options());
    let (source, primary) = match &args.from_standby {
        Some(standby) => (
            connection(Some(standby), &args.connect, "the standby to back up")?,
            args.to
                .as_deref()
                .map(|to| connection(Some(to), &args.connect, "the primary"))
                .transpose()?,
        ),
        None => (
            connection(args.to.as_deref(), &args.connect, "the database to back up")?,
            None,
        ),
    };
    let options = BackupOptions {
        source,
        location: location(&args.location)?.to_string(),
        jobs: jobs(args.jobs),
        compress: args.compress.clone(),
        retention: args.keep.policy(),
        from_standby: args.from_standby.is_some(),
        primary,
        tables: None,
        extra_files: Vec::new(),
    };
    let outcome = backup::create(&options, &reporter)?;
    if args.output.json {
        print_json(&outcome);
    } else {
        eprintln!(
            "backup {} complete: {} tables, {} rows, {} in {:.1} s (pg_dump {}, {})",
            outcome.path,
            outcome.tables,
            outcome.rows,
            human_size(outcome.size),
            outcome.seconds,
            outcome.pg_dump,
            outcome.compress
        );
        println!("{}", outcome.path);
    }
    Ok(ExitCode::Ok)
}

fn list(args: &ListArgs) -> Result<ExitCode> {
    let listing = backup::list(location(&args.location)?)?;
    if args.json {
        let backups: Vec<serde_json::Value> = listing
            .backups
            .iter()
            .map(|b| {
                serde_json::json!({
                    "id": b.id, "path": b.path, "size": b.size, "created": b.created, "verified": b.verified,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "backups": backups, "incomplete": listing.incomplete }));
        return Ok(ExitCode::Ok);
    }
    if listing.backups.is_empty() {
        eprintln!("no complete backups in {}", location(&args.location)?);
    } else {
        println!("{:<22} {:>10} {:>10}  {:<10} PATH", "ID", "SIZE", "AGE", "VERIFIED");
        for b in &listing.backups {
            let verified = match b.verified {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "never",
            };
            println!(
                "{:<22} {:>10} {:>10}  {:<10} {}",
                b.id,
                human_size(b.size),
                human_age(b.age_seconds),
                verified,
                b.path
            );
        }
    }
    for id in &listing.incomplete {
        eprintln!("incomplete (killed, failed or still running): {id}");
    }
    Ok(ExitCode::Ok)
}

fn prune(args: &PruneArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(args.output.options());
    let outcome = backup::prune(location(&args.location)?, &args.keep.policy(), args.dry_run, &reporter)?;
    if args.output.json {
        print_json(&outcome);
    } else {
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        for id in &outcome.deleted {
            println!("{verb} {id}");
        }
        for id in &outcome.deleted_incomplete {
            println!("{verb} {id} (incomplete, older than a day)");
        }
        eprintln!(
            "kept {}, {verb} {}",
            outcome.kept.len(),
            outcome.deleted.len() + outcome.deleted_incomplete.len()
        );
    }
    Ok(ExitCode::Ok)
}

fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(args.output.options());
    let server = super::connect::resolve_url(args.to.as_deref(), args.connect.connect_timeout, &reporter)?;
    crate::postgres::pooler::refuse(
        &server,
        "backup verify",
        "pg_restore's session settings, into a scratch database it creates and drops",
    )?;
    let options = RestoreOptions {
        target: server,
        jobs: jobs(args.restore.jobs),
        replace: false,
        no_owner: args.restore.no_owner,
    };
    let outcome = backup::verify(&args.backup, &options, &reporter)?;
    Ok(report_check(&outcome, args.output.json, "verified"))
}

pub fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(args.output.options());
    let options = RestoreOptions {
        target: connection(args.to.as_deref(), &args.connect, "the database to restore into")?,
        jobs: jobs(args.restore.jobs),
        replace: args.replace,
        no_owner: args.restore.no_owner,
    };
    let Some(path) = args.backup.as_deref() else {
        return cleanup(&options.target, args.output.json, &reporter);
    };
    if args.archive {
        let outcome = crate::maintain::archive::restore(&options.target, path, &reporter)?;
        if args.output.json {
            print_json(&outcome);
        } else {
            eprintln!(
                "partition {} restored into {}: {} rows, proven against {} and attached, in {:.1} s",
                outcome.partition, outcome.table, outcome.rows, outcome.archive, outcome.seconds
            );
        }
        return Ok(ExitCode::Ok);
    }
    let outcome = backup::restore(path, &options, &reporter)?;
    Ok(report_check(&outcome, args.output.json, "restored"))
}

fn cleanup(target: &ConnSpec, json: bool, reporter: &Reporter) -> Result<ExitCode> {
    let outcome = backup::cleanup(target, reporter)?;
    if json {
        print_json(&outcome);
    } else {
        for name in &outcome.dropped {
            println!("dropped {name}");
        }
        eprintln!(
            "dropped {} leftover scratch database(s); {} in use by a running restore, {} could not be dropped",
            outcome.dropped.len(),
            outcome.in_use.len(),
            outcome.failed.len()
        );
    }
    if outcome.failed.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        Err(Error::Backup(format!("could not drop: {}", outcome.failed.join("; "))))
    }
}

fn report_check(outcome: &CheckOutcome, json: bool, verb: &str) -> ExitCode {
    if json {
        print_json(outcome);
    } else if outcome.ok {
        eprintln!(
            "{verb} {}: {} tables, {} rows, every count and fingerprint equal ({:.1} s)",
            outcome.backup, outcome.tables, outcome.rows, outcome.seconds
        );
    } else {
        eprintln!("{} differs from its manifest:", outcome.backup);
        for d in &outcome.differences {
            eprintln!("  {d}");
        }
        if verb == "restored" {
            eprintln!("nothing was swapped in: the target is unchanged");
        }
    }
    if outcome.ok { ExitCode::Ok } else { ExitCode::Different }
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{}s", s.max(0)),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}
