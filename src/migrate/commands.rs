//! The version-keeping subcommands: new, up, down, validate, repair,
//! baseline (`status` lives in its own module). Results go to stdout,
//! progress and errors to stderr.

use std::time::Duration;

use postgres::Client;

use crate::error::{Error, ExitCode, Result};

use super::apply::{HistoryChange, run_script};
use super::files::{self, MigrationFile};
use super::history::HistoryTable;
use super::lock::MigrationLock;
use super::script::Script;
use super::state::{Entry, EntryState, State};
use super::{CommonOptions, DownOptions, NewOptions, Output, RepairOptions, UpOptions};

pub fn new(args: &NewOptions) -> Result<ExitCode> {
    if let Some(kind) = args.recipe {
        let options = super::recipe::RecipeOptions {
            kind,
            name: files::sanitise_name(&args.name)?,
            schema: args.schema.clone(),
            table: args.table.clone().unwrap_or_default(),
            columns: args.columns.clone(),
            check: args.check_expression.clone(),
            ts_config: args.ts_config.clone(),
            database: args
                .database_url
                .as_deref()
                .filter(|url| !url.trim().is_empty())
                .map(crate::postgres::conn::ConnSpec::parse)
                .transpose()?,
        };
        for pair in super::recipe::generate(&options)? {
            let (up, down) = files::create_pair(&args.dir, &pair.name, &pair.up, &pair.down)?;
            args.out.line(&format!("{}", up.display()));
            args.out.line(&format!("{}", down.display()));
        }
        return Ok(ExitCode::Ok);
    }
    let (up, down) = files::create_pair(
        &args.dir,
        &args.name,
        "-- Write the change here. Add `-- godwit:no-transaction` as the first line\n\
         -- to run this file outside a transaction.\n",
        "-- Write the SQL that undoes the up file here.\n",
    )?;
    args.out.line(&format!("{}", up.display()));
    args.out.line(&format!("{}", down.display()));
    Ok(ExitCode::Ok)
}

/// Session plus what the database and the directory say, read under the lock
/// when one is held.
pub(super) struct Context {
    pub(super) client: Client,
    pub(super) history: HistoryTable,
    pub(super) state: State,
}

pub(super) fn open(common: &CommonOptions) -> Result<Context> {
    let spec = common.conn_spec()?;
    let files = files::load_dir(&common.dir)?;
    let mut client = spec.connect()?;
    let history = common.history_table();
    // The history is read in one transaction of its own: through a
    // transaction pooler (which the read-only commands run through) its
    // statements then share one server session.
    let mut tx = client
        .transaction()
        .map_err(|e| Error::pg("starting a transaction to read the migration history", &e))?;
    let rows = history.load(&mut tx)?;
    tx.commit()
        .map_err(|e| Error::pg("ending the transaction that read the migration history", &e))?;
    Ok(Context {
        client,
        history,
        state: State::build(&files, &rows),
    })
}

fn lock(common: &CommonOptions, timeout_secs: u64) -> Result<MigrationLock> {
    let spec = common.conn_spec()?;
    MigrationLock::acquire(
        &spec,
        common.history_table().lock_key(),
        Duration::from_secs(timeout_secs),
        &common.out,
    )
}

fn refuse_when_invalid(state: &State) -> Result<()> {
    let problems = state.validation_problems();
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().filter_map(|e| e.problem()).collect();
    Err(Error::Migrate(format!(
        "validation failed, nothing was applied:\n  {}",
        lines.join("\n  ")
    )))
}

fn parse_file(file: &MigrationFile, sql: &str, which: &str) -> Result<Script> {
    let script = Script::parse(sql).map_err(|e| {
        Error::Migrate(format!(
            "{} ({which} file of {}): {e}; nothing was applied",
            file.up_path.display(),
            file.label()
        ))
    })?;
    if let Some(statement) = script.stray_transaction_control() {
        return Err(Error::Migrate(format!(
            "{which} file of {} has `{}` at {}: godwit already runs each file in a transaction \
             together with its history row. Remove it, or make `-- godwit:no-transaction` the first \
             line to manage transactions yourself; nothing was applied",
            file.label(),
            statement.excerpt(),
            statement.position()
        )));
    }
    Ok(script)
}

pub fn up(args: &UpOptions) -> Result<ExitCode> {
    if args.dry_run {
        return up_dry_run(args);
    }
    // Lock first, then create and read the history: a runner that waited
    // sees what the previous holder applied.
    let _lock = lock(&args.common, args.lock_timeout)?;
    let spec = args.common.conn_spec()?;
    let mut client = spec.connect()?;
    let history = args.common.history_table();
    history.ensure(&mut client)?;
    if !args.common.dir.is_dir() {
        args.common.out.note(&format!(
            "warning: migration directory {} does not exist (use --dir)",
            args.common.dir.display()
        ));
    }
    let files = files::load_dir(&args.common.dir)?;
    let rows = history.load(&mut client)?;
    let state = State::build(&files, &rows);
    let todo = plan_up(&state, args)?;
    if todo.is_empty() {
        args.common
            .out
            .line(&format!("up to date{}", version_suffix(state.current_version())));
        return Ok(ExitCode::Ok);
    }
    let scripts = todo
        .iter()
        .map(|file| parse_file(file, &file.up_sql, "up"))
        .collect::<Result<Vec<_>>>()?;
    let mut applied = 0;
    for (file, script) in todo.iter().zip(&scripts) {
        if crate::report::interrupt::requested() {
            return Err(Error::Migrate(format!(
                "interrupted before {}; {applied} migration(s) of this run stay applied",
                file.label()
            )));
        }
        let label = file.label();
        let change = HistoryChange::Record {
            version: file.version,
            name: &file.name,
            checksum: &file.checksum,
        };
        let elapsed = run_script(&mut client, &history, &label, &file.up_path, script, change)
            .map_err(|err| Error::Migrate(format!("{err}\n  applied in this run before the failure: {applied}")))?;
        applied += 1;
        args.common.out.line(&format!(
            "applied {label} ({} ms{})",
            elapsed.as_millis(),
            transaction_note(script)
        ));
    }
    args.common.out.line(&format!(
        "{applied} migration(s) applied{}",
        version_suffix(todo.last().map(|f| f.version))
    ));
    Ok(ExitCode::Ok)
}

fn transaction_note(script: &Script) -> &'static str {
    if script.has_non_transactional() {
        ", partly outside a transaction"
    } else {
        ""
    }
}

pub(super) fn version_suffix(version: Option<i64>) -> String {
    version.map_or_else(String::new, |v| format!("; database at version {v}"))
}

/// The files `up` would run, after the checks that make it refuse.
fn plan_up(state: &State, args: &UpOptions) -> Result<Vec<MigrationFile>> {
    refuse_when_invalid(state)?;
    let out_of_order = state.out_of_order();
    if !out_of_order.is_empty() && !args.allow_out_of_order {
        let lines: Vec<String> = out_of_order.iter().filter_map(|e| e.problem()).collect();
        return Err(Error::Migrate(format!(
            "refusing to apply files older than the newest applied migration, nothing was applied:\n  {}",
            lines.join("\n  ")
        )));
    }
    Ok(state
        .pending()
        .into_iter()
        .filter(|e| args.to_version.is_none_or(|to| e.version <= to))
        .filter_map(|e| e.file.clone())
        .collect())
}

fn up_dry_run(args: &UpOptions) -> Result<ExitCode> {
    let context = open(&args.common)?;
    let todo = plan_up(&context.state, args)?;
    if todo.is_empty() {
        args.common.out.line(&format!(
            "-- up to date{}",
            version_suffix(context.state.current_version())
        ));
    }
    for file in &todo {
        let script = parse_file(file, &file.up_sql, "up")?;
        print_script(&args.common.out, file, &file.up_path, &script, "up");
    }
    Ok(ExitCode::Ok)
}

fn print_script(out: &Output, file: &MigrationFile, path: &std::path::Path, script: &Script, direction: &str) {
    out.line(&format!("-- {direction} {} ({})", file.label(), path.display()));
    let mut in_transaction = false;
    for statement in &script.statements {
        let outside = script.forced_no_transaction || statement.outside_transaction.is_some();
        if outside && in_transaction {
            out.line("COMMIT;");
            in_transaction = false;
        }
        if !outside && !in_transaction {
            out.line("BEGIN;");
            in_transaction = true;
        }
        if let Some(reason) = statement.outside_transaction {
            out.line(&format!("-- {reason}: runs outside a transaction"));
        }
        out.line(&format!("{};", statement.text));
    }
    if !in_transaction {
        out.line("BEGIN;");
    }
    match direction {
        "up" => out.line(&format!("-- record version {} in the history table", file.version)),
        _ => out.line(&format!("-- remove version {} from the history table", file.version)),
    }
    out.line("COMMIT;\n");
}

pub fn down(args: &DownOptions) -> Result<ExitCode> {
    let _lock = if args.dry_run {
        None
    } else {
        Some(lock(&args.common, args.lock_timeout)?)
    };
    let mut context = open(&args.common)?;
    let applied = context.state.applied_newest_first();
    if args.steps.is_some() && args.to_version.is_some() {
        return Err(Error::Usage("--steps and --to-version exclude each other".into()));
    }
    let chosen: Vec<&Entry> = match (args.steps, args.to_version) {
        (_, Some(to)) => applied.into_iter().take_while(|e| e.version > to).collect(),
        (steps, None) => applied.into_iter().take(steps.unwrap_or(1)).collect(),
    };
    if let Some(to) = args.to_version
        && let Some(baseline) = context
            .state
            .entries
            .iter()
            .find(|e| e.state == EntryState::Baseline && e.version > to)
    {
        return Err(Error::Migrate(format!(
            "cannot go below the baseline at version {}; nothing was reverted",
            baseline.version
        )));
    }
    if chosen.is_empty() {
        args.common.out.line(&format!(
            "nothing to revert{}",
            version_suffix(context.state.current_version())
        ));
        return Ok(ExitCode::Ok);
    }
    // Every down file must exist and parse before the first one runs.
    let mut plan = Vec::with_capacity(chosen.len());
    for entry in &chosen {
        let file = entry.file.as_ref().ok_or_else(|| {
            Error::Migrate(format!(
                "{}: applied but its files are missing, so it cannot be reverted; nothing was reverted",
                entry.label()
            ))
        })?;
        let sql = file.read_down()?;
        let script = parse_file(file, &sql, "down")?;
        plan.push((file.clone(), script));
    }
    if args.dry_run {
        for (file, script) in &plan {
            let path = file.down_path.as_deref().unwrap_or(&file.up_path);
            print_script(&args.common.out, file, path, script, "down");
        }
        return Ok(ExitCode::Ok);
    }
    let mut reverted = 0;
    for (file, script) in &plan {
        if crate::report::interrupt::requested() {
            return Err(Error::Migrate(format!(
                "interrupted before reverting {}; {reverted} migration(s) were reverted",
                file.label()
            )));
        }
        let label = file.label();
        let down_path = file.down_path.clone().unwrap_or_else(|| file.up_path.clone());
        let elapsed = run_script(
            &mut context.client,
            &context.history,
            &label,
            &down_path,
            script,
            HistoryChange::Forget { version: file.version },
        )?;
        reverted += 1;
        args.common
            .out
            .line(&format!("reverted {label} ({} ms)", elapsed.as_millis()));
    }
    let rows = context.history.load(&mut context.client)?;
    let now = rows.iter().map(|r| r.version).max();
    args.common
        .out
        .line(&format!("{reverted} migration(s) reverted{}", version_suffix(now)));
    Ok(ExitCode::Ok)
}

pub fn validate(common: &CommonOptions) -> Result<ExitCode> {
    let context = open(common)?;
    refuse_when_invalid(&context.state).map_err(|_| {
        let lines: Vec<String> = context
            .state
            .validation_problems()
            .iter()
            .filter_map(|e| e.problem())
            .collect();
        Error::Migrate(format!("validation failed:\n  {}", lines.join("\n  ")))
    })?;
    let checked = context
        .state
        .entries
        .iter()
        .filter(|e| e.state == EntryState::Applied)
        .count();
    common
        .out
        .line(&format!("ok: {checked} applied migration(s) match their files"));
    Ok(ExitCode::Ok)
}

pub fn repair(args: &RepairOptions) -> Result<ExitCode> {
    let _lock = lock(&args.common, 60)?;
    let mut context = open(&args.common)?;
    let mut changed = 0;
    let mut forgotten = 0;
    let mut still_missing = Vec::new();
    for entry in context.state.validation_problems() {
        match (entry.state, &entry.file) {
            (EntryState::Changed, Some(file)) => {
                context
                    .history
                    .update_checksum(&mut context.client, file.version, &file.name, &file.checksum)?;
                args.common
                    .out
                    .line(&format!("re-recorded checksum of {}", entry.label()));
                changed += 1;
            }
            (EntryState::Missing, _) if args.forget_missing => {
                context.history.forget(&mut context.client, entry.version)?;
                args.common
                    .out
                    .line(&format!("forgot {} (its schema changes stay)", entry.label()));
                forgotten += 1;
            }
            _ => still_missing.push(entry.label()),
        }
    }
    args.common.out.line(&format!(
        "repair: {changed} checksum(s) re-recorded, {forgotten} missing row(s) forgotten"
    ));
    if still_missing.is_empty() {
        Ok(ExitCode::Ok)
    } else {
        args.common.out.note(&format!(
            "still missing (restore the files, or run repair --forget-missing): {}",
            still_missing.join(", ")
        ));
        Ok(ExitCode::Review)
    }
}

pub fn baseline(args: &super::BaselineOptions) -> Result<ExitCode> {
    let _lock = lock(&args.common, 60)?;
    let spec = args.common.conn_spec()?;
    let mut client = spec.connect()?;
    let history = args.common.history_table();
    history.ensure(&mut client)?;
    let rows = history.load(&mut client)?;
    if let Some(newest) = rows.last() {
        return Err(Error::Migrate(format!(
            "{} already records migrations (newest: {}_{}); baseline is for databases godwit has never migrated",
            history.qualified(),
            newest.version,
            newest.name
        )));
    }
    let files = files::load_dir(&args.common.dir)?;
    let name = files
        .iter()
        .find(|f| f.version == args.version)
        .map_or_else(|| "baseline".to_string(), |f| f.name.clone());
    history.record(&mut client, args.version, &name, None, "baseline", 0)?;
    let skipped = files.iter().filter(|f| f.version <= args.version).count();
    args.common.out.line(&format!(
        "baseline recorded at version {}; {skipped} file(s) at or below it will never run",
        args.version
    ));
    Ok(ExitCode::Ok)
}
