//! Orchestrates a copy: staging schema, parallel readers and COPY writers,
//! then keys, indexes, constraints, sequences and ANALYZE, then one final
//! transaction that moves everything into the target schema.

pub mod data_only;
pub mod origin;
mod queue;
pub mod rejects;
pub mod staging;
mod worker;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use postgres::Client;

use crate::error::{Error, Result};
use crate::plan::ddl;
use crate::plan::{Plan, TablePlan};
use crate::postgres::conn::{ConnSpec, describe_pg_error, quote_ident};
use crate::report::shown;
use crate::report::{CopySummary, Event, Reporter, TableSummary, interrupt};
use crate::source::{Reader, RowidRange, Source};
use crate::sync::seed::TableSeed;
use queue::TaskQueue;
use rejects::RejectSink;
use worker::{Chunk, ChunkOutcome, CopyMode, TableCopy, TableProgress, copy_chunk};

/// What a copy does with a value that does not fit its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Fail at the first such value; the target stays unchanged.
    #[default]
    Stop,
    /// Load everything else, write rejected rows to the reject file, exit 3.
    Skip,
}

#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub target: ConnSpec,
    pub schema: String,
    pub replace: bool,
    pub on_error: OnError,
    pub rejects_path: PathBuf,
    pub jobs: usize,
}

/// The result of a copy that finished.
#[derive(Debug)]
pub struct CopyOutcome {
    pub summary: CopySummary,
    /// Something needs a person's review: exit 3.
    pub review: bool,
}

/// Rows per chunk when a table is split across readers.
const CHUNK_ROWS: u64 = 250_000;

enum Task {
    Copy {
        table: usize,
        range: Option<RowidRange>,
    },
    /// An index build (CREATE INDEX) or another statement on one table.
    Sql {
        label: String,
        sql: String,
    },
    /// VALIDATE each constraint added NOT VALID on one table, then ANALYZE
    /// it: one task per table, because both take a lock that would make a
    /// second worker on the same table wait instead of working.
    Finish {
        table: usize,
        /// (constraint, label) pairs.
        constraints: Vec<(String, String)>,
    },
}

/// Runs a schema-and-data copy. When the source described itself
/// provisionally ([`Source::model_is_provisional`]), the rows are staged
/// with that plan while the source learns the rest; `settle` then gives
/// the whole plan. If it stages the same tables, columns and rows, the
/// copy goes on with it exactly as it would have; if not, or if anything
/// fails before, the staging is dropped and done again with it.
pub fn copy_schema_and_data(
    source: &dyn Source,
    plan: Plan,
    replan: &Replan<'_>,
    settle: &Settle<'_>,
    options: &CopyOptions,
    reporter: &Reporter,
) -> Result<CopyOutcome> {
    let started = Instant::now();
    if !source.model_is_provisional() {
        return copy_once(source, plan, replan, None, options, reporter, started)?
            .map_err(|_| Error::Other("a copy with its whole plan asked for another".into()));
    }
    let full = match copy_once(source, plan, replan, Some(settle), options, reporter, started) {
        Ok(Ok(outcome)) => return Ok(outcome),
        Ok(Err(again)) => {
            reporter.emit(Event::Info(format!(
                "{}: staging the rows again with the types of the whole source",
                again.why
            )));
            *again.plan
        }
        Err(e) if matches!(e, Error::Interrupted) || interrupt::requested() => return Err(e),
        // Nothing the whole source's types decide: reading it all to
        // meet the same error again would only cost the time.
        Err(e) if not_about_the_data(&e) => return Err(e),
        // Failed with the whole plan: that is the copy's failure.
        Err(e) if !source.model_is_provisional() => return Err(e),
        // Failed before the whole model was known: whatever it was (a
        // value the provisional types could not hold, a rejected row, an
        // error naming a key), the whole plan decides it.
        Err(e) => {
            let (_, full) = settle()?;
            reporter.emit(Event::Info(format!(
                "staging the rows again with the types of the whole source, which decide what it makes of \
                 this (staged with the types of its start, the copy stopped: {})",
                e.to_string().lines().next().unwrap_or_default()
            )));
            full
        }
    };
    copy_once(source, full, replan, None, options, reporter, started)?
        .map_err(|_| Error::Other("a copy with its whole plan asked for another".into()))
}

/// Errors of the target, the flags or the server rather than of values
/// and types: a table already there, a usage or config mistake, a server
/// that cannot be reached, refuses the login or lacks the room, memory or
/// connections (SQLSTATE classes 08, 28, 3D, 53, 57).
fn not_about_the_data(error: &Error) -> bool {
    match error {
        Error::TargetExists(_) | Error::Usage(_) | Error::Config { .. } | Error::Local(_) => true,
        Error::Postgres {
            sqlstate: Some(code), ..
        } => ["08", "28", "3D", "53", "57"]
            .iter()
            .any(|class| code.starts_with(class)),
        _ => false,
    }
}

/// Learns the whole model after a provisional staging and plans it: true
/// when the source says its tables, columns and rows are the provisional ones.
pub type Settle<'a> = dyn Fn() -> Result<(bool, Plan)> + Sync + 'a;

/// A provisional staging that does not stand: the whole plan, and why.
struct Again {
    plan: Box<Plan>,
    why: String,
}

/// One copy: with `settle`, staged with a provisional plan.
#[allow(clippy::too_many_arguments)]
fn copy_once(
    source: &dyn Source,
    mut plan: Plan,
    replan: &Replan<'_>,
    settle: Option<&Settle<'_>>,
    options: &CopyOptions,
    reporter: &Reporter,
    started: Instant,
) -> Result<std::result::Result<CopyOutcome, Again>> {
    let mut control = options.target.connect()?;
    control
        .batch_execute("SET application_name = 'godwit copy'")
        .map_err(|e| Error::pg("setting up the session", &e))?;
    let dropped = staging::clean_abandoned(&mut control)?;
    if !dropped.is_empty() {
        reporter.emit(Event::Info(format!(
            "removed staging left by an interrupted run: {}",
            dropped.join(", ")
        )));
    }
    let replaced = check_target(&mut control, &plan, options)?;

    let staging_schema = staging::staging_name();
    staging::create(&mut control, &staging_schema)?;
    let result = load_into_staging(
        source,
        &mut plan,
        replan,
        settle,
        options,
        &staging_schema,
        &mut control,
        reporter,
    )
    .and_then(|staged| {
        let loaded = match staged {
            Staged::Loaded(loaded) => loaded,
            Staged::Again(again) => return Ok(Err(again)),
        };
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        let recorded = origin::gather(source, &plan);
        publish(
            &mut control,
            &plan,
            options,
            &staging_schema,
            &replaced,
            recorded,
            &loaded.fingerprints,
            reporter,
        )
        .map(|views_failed| Ok((loaded, views_failed)))
    });
    match result {
        Ok(Err(again)) => {
            staging::drop(&mut control, &staging_schema)?;
            Ok(Err(again))
        }
        Ok(Ok((mut loaded, views_failed))) => {
            loaded.not_migrated.extend(views_failed);
            // What the source could not keep (a directory's files that are
            // no document) is listed for review; hidden files are skipped
            // on purpose.
            loaded.not_migrated.extend(
                plan.skipped
                    .iter()
                    .filter(|s| !s.ends_with(": hidden"))
                    .map(|s| format!("not copied: {s}")),
            );
            let _ = control.query_one(
                "SELECT pg_advisory_unlock(hashtext($1))",
                &[&format!("godwit:{staging_schema}")],
            );
            origin::record_learned_model(&mut control, source, &options.schema, reporter);
            let review = loaded.rejects > 0 || !loaded.not_valid.is_empty() || !loaded.not_migrated.is_empty();
            let mut warnings = plan.warnings.clone();
            warnings.extend(loaded.not_valid.iter().cloned());
            let summary = CopySummary {
                phases: Vec::new(),
                source: plan.source.clone(),
                target: options.target.to_string(),
                schema: options.schema.clone(),
                tables: loaded.tables,
                warnings,
                not_migrated: loaded.not_migrated,
                rejects_file: loaded.rejects_file.map(|p| p.display().to_string()),
                seconds: started.elapsed().as_secs_f64(),
                status: if review {
                    "finished with items to review".into()
                } else {
                    "ok".into()
                },
            };
            Ok(Ok(CopyOutcome { summary, review }))
        }
        Err(err) => {
            if let Err(cleanup) = staging::drop(&mut control, &staging_schema) {
                reporter.emit(Event::Warning(format!(
                    "could not remove staging schema (the next run will): {cleanup}"
                )));
            }
            Err(err)
        }
    }
}

/// Refuses to overwrite; with --replace, returns the relations to drop.
fn check_target(control: &mut Client, plan: &Plan, options: &CopyOptions) -> Result<Vec<(String, char)>> {
    let mut names: Vec<String> = plan.tables.iter().map(|t| t.target.clone()).collect();
    names.extend(plan.views.iter().map(|v| v.target.clone()));
    let existing = staging::existing_relations(control, &options.schema, &names)?;
    if existing.is_empty() || options.replace {
        return Ok(existing);
    }
    let list: Vec<String> = existing
        .iter()
        .map(|(n, _)| format!("{}.{}", options.schema, n))
        .collect();
    Err(Error::TargetExists(format!(
        "{} already exist{} in the target: {}. godwit never overwrites: use --replace to drop and recreate them \
         (atomically), or --data-only to load into the existing tables",
        if list.len() == 1 { "a table" } else { "tables" },
        if list.len() == 1 { "s" } else { "" },
        list.join(", ")
    )))
}

struct Loaded {
    tables: Vec<TableSummary>,
    rejects: u64,
    rejects_file: Option<PathBuf>,
    not_valid: Vec<String>,
    not_migrated: Vec<String>,
    /// Per table, the fingerprints sync will start from (see `sync::seed`).
    fingerprints: Vec<Option<TableSeed>>,
}

/// A table's fingerprints, taken while it is copied.
fn seed_of(
    source: &dyn Source,
    reader: &mut dyn Reader,
    schema: &str,
    table: &TablePlan,
    plain_generated: &[String],
) -> Result<Option<TableSeed>> {
    let copy = TableCopy::new(schema, table, plain_generated);
    let copied: Vec<String> = copy.columns.iter().map(|c| c.source.clone()).collect();
    TableSeed::new(table, &copied, source.ordered_scans(), reader)
}

/// Re-plans one source table after profiling its values, for a table
/// where a value broke what its speculative types assumed.
pub type Replan<'a> = dyn Fn(&str) -> Result<TablePlan> + Sync + 'a;

/// What staging ended with.
enum Staged {
    Loaded(Loaded),
    /// The provisional plan did not hold: stage again with this one.
    Again(Again),
}

#[allow(clippy::too_many_arguments)]
fn load_into_staging(
    source: &dyn Source,
    plan: &mut Plan,
    replan: &Replan<'_>,
    settle: Option<&Settle<'_>>,
    options: &CopyOptions,
    schema: &str,
    control: &mut Client,
    reporter: &Reporter,
) -> Result<Staged> {
    let mut not_migrated: Vec<String> = plan.not_migrated.clone();
    reporter.emit(Event::Phase(format!(
        "creating {} in staging schema {schema}",
        crate::units::count(plan.tables.len(), "table")
    )));
    for sql in &plan.setup {
        run(
            control,
            sql,
            &format!("preparing what full-text and rtree tables need (a database owner can run it beforehand):\n{sql}"),
        )?;
    }
    let mut plain_generated: Vec<Vec<String>> = Vec::new();
    for table in &plan.tables {
        plain_generated.push(create_table(control, schema, table, &mut not_migrated)?);
    }

    // Snapshot: every reader sees the same committed state of the source.
    let jobs = options.jobs.max(1);
    let mut readers = source.readers(jobs)?;
    let mut pgs: Vec<Client> = (0..jobs)
        .map(|_| connect_worker(&options.target))
        .collect::<Result<_>>()?;
    for table in plan.tables.iter().filter(|t| t.partitioning.is_some()) {
        let count = create_partitions(control, schema, table, readers[0].as_mut())?;
        reporter.emit(Event::Info(format!(
            "{}: {count} partitions and {}",
            table.target,
            crate::plan::partitions::default_name(&table.target)
        )));
    }
    let mut progress: Vec<TableProgress> = plan.tables.iter().map(|_| TableProgress::default()).collect();
    let mut fingerprints: Vec<Option<TableSeed>> = plan
        .tables
        .iter()
        .zip(&plain_generated)
        .map(|(t, plain)| seed_of(source, readers[0].as_mut(), schema, t, plain))
        .collect::<Result<_>>()?;
    // Staged provisionally, a rejected row fails the staging, which is
    // then done again with the whole plan (whose row keys and types name
    // and decide the rejects).
    let on_error = if settle.is_some() {
        OnError::Stop
    } else {
        options.on_error
    };
    let rejects = RejectSink::new(on_error, options.rejects_path.clone());
    reporter.emit(Event::Phase(format!(
        "copying data with {jobs} readers and COPY connections"
    )));

    // Phase 1 (workers): COPY; each table's indexes as soon as its data is in.
    let mut round: Vec<usize> = (0..plan.tables.len()).collect();
    for attempt in 0..2 {
        let unforeseen = copy_round(
            plan,
            &round,
            &plain_generated,
            schema,
            &mut readers,
            &mut pgs,
            &progress,
            &fingerprints,
            &rejects,
            settle.is_none(),
            reporter,
        )?;
        if let (Some(settle), Some((i, column, why))) = (settle, unforeseen.first()) {
            let why = format!(
                "{}.{} {why}, which the types learned from the start of the source do not hold",
                shown::name(&plan.tables[*i].source),
                shown::name(column)
            );
            return Ok(Staged::Again(Again {
                plan: Box::new(settle()?.1),
                why,
            }));
        }
        if unforeseen.is_empty() {
            break;
        }
        if attempt == 1 {
            return Err(Error::Other(format!(
                "table {} kept changing type while loading",
                plan.tables[unforeseen[0].0].source
            )));
        }
        // Values the declared types did not foresee: profile those tables,
        // re-plan them, and load them again into fresh staging tables.
        round.clear();
        for (i, column, why) in unforeseen {
            let old = &plan.tables[i];
            reporter.emit(Event::Info(format!(
                "{}.{} {why}, which its declared type does not say: profiling {} to choose its types, then loading it again",
                shown::name(&old.source),
                shown::name(&column),
                shown::name(&old.source)
            )));
            let fresh = replan(&old.source)?;
            run(
                control,
                &format!("DROP TABLE {}", ddl::qualified(schema, &old.target)),
                "dropping a staging table",
            )?;
            plain_generated[i] = create_table(control, schema, &fresh, &mut not_migrated)?;
            if fresh.partitioning.is_some() {
                create_partitions(control, schema, &fresh, readers[0].as_mut())?;
            }
            fingerprints[i] = seed_of(source, readers[0].as_mut(), schema, &fresh, &plain_generated[i])?;
            plan.tables[i] = fresh;
            progress[i] = TableProgress::default();
            round.push(i);
        }
        plan.retranslate_views(&mut not_migrated);
    }
    if interrupt::requested() {
        return Err(Error::Interrupted);
    }
    if let Some(settle) = settle {
        // Every row is staged and the source has read all of it: the
        // whole plan takes over if it stages exactly what was staged.
        let (same, full) = settle()?;
        if !same || !stages_alike(plan, &full, schema) {
            return Ok(Staged::Again(Again {
                plan: Box::new(full),
                why: "the whole source gives other tables, columns or types than its start".into(),
            }));
        }
        *plan = full;
        not_migrated = plan.not_migrated.clone();
        let indexes: Vec<Task> = plan.tables.iter().flat_map(|t| index_tasks(schema, t)).collect();
        // Staged with the start's types, the indexes wait for the whole
        // plan: on a large file this is seconds that should not be silent.
        reporter.emit(Event::Phase(format!(
            "building indexes of {}",
            crate::units::count(plan.tables.len(), "table")
        )));
        run_pool(&mut pgs, None, indexes, None, &|pg, _, task, _| match task {
            Task::Sql { label, sql } => pg.batch_execute(&sql).map_err(|e| Error::pg(label, &e)),
            _ => Ok(()),
        })?;
    }

    // Phase 2 (control): attach keys, add constraints NOT VALID, set defaults.
    reporter.emit(Event::Phase("keys, constraints and defaults".into()));
    let mut validations: Vec<Vec<(String, String)>> = vec![Vec::new(); plan.tables.len()];
    for (ti, table) in plan.tables.iter().enumerate() {
        let target = ddl::qualified(schema, &table.target);
        // A partitioned table's keys were added whole by its index tasks
        // (PostgreSQL has no ADD CONSTRAINT ... USING INDEX for them).
        let partitioned = table.partitioning.is_some();
        if !table.primary_key.is_empty() && !partitioned {
            run(
                control,
                &format!(
                    "ALTER TABLE {target} ADD CONSTRAINT {0} PRIMARY KEY USING INDEX {0}",
                    quote_ident(&table.primary_key_name)
                ),
                &format!("primary key of {}", table.target),
            )?;
        }
        for u in table.uniques.iter().filter(|_| !partitioned) {
            run(
                control,
                &format!(
                    "ALTER TABLE {target} ADD CONSTRAINT {0} UNIQUE USING INDEX {0}",
                    quote_ident(&u.name)
                ),
                &format!("unique constraint {}", u.name),
            )?;
        }
        for column in &table.columns {
            if let Some(default) = &column.default {
                try_statement(
                    control,
                    &ddl::set_default(schema, table, column, default),
                    || format!("default of {}.{} ({default})", table.target, column.target),
                    &mut not_migrated,
                )?;
            }
        }
        for check in &table.checks {
            if try_statement(
                control,
                &ddl::check(schema, table, check, true),
                || format!("check {} on {} ({})", check.name, table.target, check.expression),
                &mut not_migrated,
            )? {
                validations[ti].push((check.name.clone(), format!("check {} on {}", check.name, table.target)));
            }
        }
        restart_identity(control, schema, table)?;
    }
    for (ti, table) in plan.tables.iter().enumerate() {
        for fk in &table.foreign_keys {
            let label = format!("foreign key {} on {}", fk.name, table.target);
            // PostgreSQL has no NOT VALID foreign key on a partitioned
            // table: it is checked as it is added.
            let partitioned = table.partitioning.is_some();
            if try_statement(
                control,
                &ddl::foreign_key(schema, table, fk, !partitioned),
                || label.clone(),
                &mut not_migrated,
            )? && !partitioned
            {
                validations[ti].push((fk.name.clone(), label));
            }
        }
    }
    // Phase 3 (workers): VALIDATE and ANALYZE, a table per task, the
    // costliest first so the longest chain starts at once.
    let count: usize = validations.iter().map(Vec::len).sum();
    reporter.emit(Event::Phase(format!(
        "validating {} and analyzing",
        crate::units::count(count, "constraint")
    )));
    let mut finish: Vec<Task> = validations
        .into_iter()
        .enumerate()
        .map(|(table, constraints)| Task::Finish { table, constraints })
        .collect();
    finish.sort_by_key(|task| match task {
        Task::Finish { table, constraints } => {
            std::cmp::Reverse(plan.tables[*table].row_count * (constraints.len() as u64 + 1))
        }
        _ => std::cmp::Reverse(0),
    });
    let not_valid: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let plan_ref: &Plan = plan;
    run_pool(&mut pgs, None, finish, None, &|pg, _, task, _| {
        let Task::Finish { table, constraints } = task else {
            return Ok(());
        };
        let t = &plan_ref.tables[table];
        for (constraint, label) in constraints {
            if let Some(problem) = validate(pg, schema, &options.schema, t, &constraint, &label)? {
                not_valid.lock().unwrap_or_else(|e| e.into_inner()).push(problem);
            }
        }
        pg.batch_execute(&format!("ANALYZE {}", ddl::qualified(schema, &t.target)))
            .map_err(|e| Error::pg(format!("analyzing {}", t.target), &e))
    })?;
    let tables = plan
        .tables
        .iter()
        .zip(&progress)
        .map(|(t, p)| TableSummary {
            table: t.target.clone(),
            rows: p.rows.load(Ordering::Relaxed),
            bytes: p.bytes.load(Ordering::Relaxed),
            seconds: p.finished_after.get().copied().unwrap_or(0.0),
            rejects: p.rejects.load(Ordering::Relaxed),
        })
        .collect();
    let mut not_valid = not_valid.into_inner().unwrap_or_else(|e| e.into_inner());
    not_valid.sort();
    Ok(Staged::Loaded(Loaded {
        tables,
        rejects: rejects.count(),
        rejects_file: rejects.finish()?,
        not_valid,
        not_migrated,
        fingerprints,
    }))
}

/// Whether rows staged with plan `a` are the rows plan `b` stages: the
/// same tables and columns, created alike, filled by the same casts, and
/// rows named by the same keys (which the fingerprints rest on too).
fn stages_alike(a: &Plan, b: &Plan, schema: &str) -> bool {
    let table = |t: &TablePlan| {
        let casts: Vec<String> = t.columns.iter().map(|c| format!("{} {:?}", c.source, c.cast)).collect();
        format!(
            "{}\n{}\n{:?} {} {:?}\n{}",
            t.source,
            ddl::create_table(schema, t, &[]),
            t.row_key,
            t.has_rowid,
            t.partitioning,
            casts.join("\n")
        )
    };
    a.tables.len() == b.tables.len()
        && a.tables.iter().zip(&b.tables).all(|(x, y)| table(x) == table(y))
        && a.setup == b.setup
        && a.views.len() == b.views.len()
}

/// Copies the given tables through the worker pool, building each table's
/// indexes as soon as its data is in. Returns the tables where a value
/// broke a speculative type: (table, column, what it held).
#[allow(clippy::too_many_arguments)]
fn copy_round(
    plan: &Plan,
    tables: &[usize],
    plain_generated: &[Vec<String>],
    schema: &str,
    readers: &mut [Box<dyn Reader>],
    pgs: &mut [Client],
    progress: &[TableProgress],
    fingerprints: &[Option<TableSeed>],
    rejects: &RejectSink,
    indexes_now: bool,
    reporter: &Reporter,
) -> Result<Vec<(usize, String, String)>> {
    let copies: Vec<TableCopy<'_>> = plan
        .tables
        .iter()
        .zip(plain_generated)
        .map(|(t, plain)| TableCopy::new(schema, t, plain))
        .collect();
    let tasks = plan_copy_tasks(readers[0].as_mut(), plan, tables, pgs.len())?;
    for task in &tasks {
        if let Task::Copy { table, .. } = task {
            progress[*table].chunks_left.fetch_add(1, Ordering::Relaxed);
        }
    }
    let tick = || {
        for (i, p) in progress.iter().enumerate() {
            if p.started.get().is_some() && p.finished_after.get().is_none() {
                reporter.emit(Event::TableProgress {
                    table: plan.tables[i].target.clone(),
                    rows: p.rows.load(Ordering::Relaxed),
                    bytes: p.bytes.load(Ordering::Relaxed),
                });
            }
        }
    };
    run_pool(
        pgs,
        Some(readers),
        tasks,
        Some(&tick),
        &|pg, reader, task, queue| match task {
            Task::Copy { table, range } => {
                let p = &progress[table];
                if p.unforeseen.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                    p.chunks_left.fetch_sub(1, Ordering::AcqRel);
                    return Ok(());
                }
                if p.started.set(Instant::now()).is_ok() {
                    reporter.emit(Event::TableStarted {
                        table: plan.tables[table].target.clone(),
                        rows: plan.tables[table].row_count,
                    });
                }
                let reader = reader.ok_or_else(|| Error::Other("no source reader".into()))?;
                let stop = || queue.is_aborted() || interrupt::requested();
                // COPY FREEZE cannot write into a partitioned table.
                let mode = if range.is_none() && plan.tables[table].partitioning.is_none() {
                    CopyMode::Freeze
                } else {
                    CopyMode::Plain
                };
                let outcome = copy_chunk(
                    reader,
                    pg,
                    &copies[table],
                    Chunk { range, mode },
                    p,
                    rejects,
                    fingerprints[table].as_ref(),
                    &stop,
                )?;
                if let ChunkOutcome::Unforeseen { column, why } = outcome {
                    let mut slot = p.unforeseen.lock().unwrap_or_else(|e| e.into_inner());
                    slot.get_or_insert((column, why));
                }
                let last = p.chunks_left.fetch_sub(1, Ordering::AcqRel) == 1;
                if last && p.unforeseen.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
                    finish_table(plan, table, p, reporter);
                    // A provisional plan's keys are not the copy's yet.
                    if indexes_now {
                        queue.push_front(index_tasks(schema, &plan.tables[table]));
                    }
                }
                Ok(())
            }
            Task::Sql { label, sql } => pg.batch_execute(&sql).map_err(|e| Error::pg(label, &e)),
            _ => Ok(()),
        },
    )?;
    if interrupt::requested() {
        return Err(Error::Interrupted);
    }
    Ok(tables
        .iter()
        .filter_map(|&i| {
            let slot = progress[i].unforeseen.lock().unwrap_or_else(|e| e.into_inner());
            slot.as_ref().map(|(c, w)| (i, c.clone(), w.clone()))
        })
        .collect())
}

type Handler<'a> = dyn Fn(&mut Client, Option<&mut dyn Reader>, Task, &TaskQueue<Task>) -> Result<()> + Sync + 'a;

/// Runs tasks on one thread per connection until none are queued or
/// running. The first error aborts the rest and is returned.
fn run_pool(
    pgs: &mut [Client],
    readers: Option<&mut [Box<dyn Reader>]>,
    tasks: Vec<Task>,
    tick: Option<&(dyn Fn() + Sync)>,
    handle: &Handler<'_>,
) -> Result<()> {
    let queue = TaskQueue::new(tasks);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let mut readers: Vec<Option<&mut Box<dyn Reader>>> = match readers {
        Some(r) => r.iter_mut().map(Some).collect(),
        None => Vec::new(),
    };
    readers.resize_with(pgs.len(), || None);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if let Some(tick) = tick {
                    tick();
                }
                if interrupt::requested() {
                    queue.abort();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let workers: Vec<_> = pgs
            .iter_mut()
            .zip(readers)
            .map(|(pg, mut reader)| {
                let (queue, first_error) = (&queue, &first_error);
                scope.spawn(move || {
                    while let Some(task) = queue.next() {
                        let reader: Option<&mut dyn Reader> = match reader.as_mut() {
                            Some(boxed) => Some(boxed.as_mut()),
                            None => None,
                        };
                        let result = handle(pg, reader, task, queue);
                        queue.done();
                        if let Err(e) = result {
                            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            slot.get_or_insert(e);
                            queue.abort();
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, Ordering::Relaxed);
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None if interrupt::requested() => Err(Error::Interrupted),
        None => Ok(()),
    }
}

fn connect_worker(target: &ConnSpec) -> Result<Client> {
    let mut pg = target.connect()?;
    // Staging data becomes durable with the final commit, whose WAL flush
    // covers everything written before it.
    pg.batch_execute(
        "SET synchronous_commit = off; SET maintenance_work_mem = '256MB'; SET application_name = 'godwit copy worker'",
    )
    .map_err(|e| Error::pg("setting up a COPY session", &e))?;
    Ok(pg)
}

fn finish_table(plan: &Plan, table: usize, p: &TableProgress, reporter: &Reporter) {
    let seconds = p.started.get().map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
    let _ = p.finished_after.set(seconds);
    reporter.emit(Event::TableFinished(TableSummary {
        table: plan.tables[table].target.clone(),
        rows: p.rows.load(Ordering::Relaxed),
        bytes: p.bytes.load(Ordering::Relaxed),
        seconds,
        rejects: p.rejects.load(Ordering::Relaxed),
    }));
}

/// The indexes behind the key, unique constraints and indexes of a table:
/// plain CREATE INDEX (which tables' other index builds do not block);
/// constraints are attached to them afterwards.
fn index_tasks(schema: &str, table: &TablePlan) -> Vec<Task> {
    let target = ddl::qualified(schema, &table.target);
    let unique_index = |name: &str, columns: &[String], what: String| Task::Sql {
        label: format!("building {what} of {}", table.target),
        sql: if table.partitioning.is_some() {
            format!(
                "ALTER TABLE {target} ADD CONSTRAINT {} {} ({})",
                quote_ident(name),
                if what == "the primary key" {
                    "PRIMARY KEY"
                } else {
                    "UNIQUE"
                },
                ddl::column_list(columns)
            )
        } else {
            format!(
                "CREATE UNIQUE INDEX {} ON {target} ({})",
                quote_ident(name),
                ddl::column_list(columns)
            )
        },
    };
    let mut tasks = Vec::new();
    if !table.primary_key.is_empty() {
        tasks.push(unique_index(
            &table.primary_key_name,
            &table.primary_key,
            "the primary key".into(),
        ));
    }
    for u in &table.uniques {
        tasks.push(unique_index(
            &u.name,
            &u.columns,
            format!("unique constraint {}", u.name),
        ));
    }
    for i in &table.indexes {
        tasks.push(Task::Sql {
            label: format!("building index {} on {}", i.name, table.target),
            sql: ddl::index(schema, table, i),
        });
    }
    tasks
}

/// Copy tasks, largest tables first, large rowid tables split into ranges.
fn plan_copy_tasks(reader: &mut dyn Reader, plan: &Plan, tables: &[usize], jobs: usize) -> Result<Vec<Task>> {
    let sizes: Vec<u64> = tables
        .iter()
        .map(|&i| {
            let t = &plan.tables[i];
            let columns: Vec<String> = t.columns.iter().map(|c| c.source.clone()).collect();
            reader.estimated_bytes(&t.source, &columns, t.row_count)
        })
        .collect::<Result<_>>()?;
    let fair_share = sizes.iter().sum::<u64>() / u64::try_from(jobs.max(1)).unwrap_or(1);
    let mut order: Vec<(usize, u64)> = tables.iter().copied().zip(sizes).collect();
    order.sort_by_key(|&(_, size)| std::cmp::Reverse(size));
    let mut tasks = Vec::new();
    for (i, size) in order {
        let t = &plan.tables[i];
        // A table is split across workers only when alone it would be the
        // critical path; otherwise it loads whole, with FREEZE.
        let bounds = if t.has_rowid && t.row_count > CHUNK_ROWS && size > fair_share {
            reader.rowid_bounds(&t.source)?
        } else {
            None
        };
        let Some((lo, hi)) = bounds else {
            tasks.push(Task::Copy { table: i, range: None });
            continue;
        };
        let chunks = i64::try_from(t.row_count.div_ceil(CHUNK_ROWS)).unwrap_or(1);
        let span = (hi - lo) / chunks + 1;
        let mut start = lo;
        while start <= hi {
            let end = start.saturating_add(span).min(hi.saturating_add(1));
            tasks.push(Task::Copy {
                table: i,
                range: Some(RowidRange {
                    from: Some(start),
                    to: Some(if end > hi { i64::MAX } else { end }),
                }),
            });
            start = end;
            if end == i64::MAX {
                break;
            }
        }
    }
    Ok(tasks)
}

/// Creates a table; a generated column whose expression PostgreSQL
/// rejects becomes an ordinary column holding the source's values.
fn create_table(
    control: &mut Client,
    schema: &str,
    table: &TablePlan,
    not_migrated: &mut Vec<String>,
) -> Result<Vec<String>> {
    let sql = ddl::create_table(schema, table, &[]);
    match control.batch_execute(&sql) {
        Ok(()) => Ok(Vec::new()),
        Err(e) if table.columns.iter().any(|c| c.generated.is_some()) => {
            let plain: Vec<String> = table
                .columns
                .iter()
                .filter(|c| c.generated.is_some())
                .map(|c| c.target.clone())
                .collect();
            for c in table.columns.iter().filter(|c| c.generated.is_some()) {
                not_migrated.push(format!(
                    "generated column {}.{} ({}): {}; created as an ordinary column holding the copied values",
                    table.target,
                    c.target,
                    c.generated.as_deref().unwrap_or(""),
                    describe_pg_error(&e).lines().next().unwrap_or("")
                ));
            }
            run(
                control,
                &ddl::create_table(schema, table, &plain),
                &format!("creating table {}", table.target),
            )?;
            Ok(plain)
        }
        Err(e) => Err(Error::pg(format!("creating table {}\n{sql}", table.target), &e)),
    }
}

fn run(client: &mut Client, sql: &str, what: &str) -> Result<()> {
    client.batch_execute(sql).map_err(|e| Error::pg(what.to_string(), &e))
}

/// Runs a statement (in autocommit) that may fail because the SQLite
/// construct has no PostgreSQL translation; such a failure is recorded,
/// not fatal.
fn try_statement(
    client: &mut Client,
    sql: &str,
    what: impl Fn() -> String,
    not_migrated: &mut Vec<String>,
) -> Result<bool> {
    match client.batch_execute(sql) {
        Ok(()) => Ok(true),
        Err(e) if e.as_db_error().is_some() => {
            not_migrated.push(format!(
                "{}: {}",
                what(),
                describe_pg_error(&e).lines().next().unwrap_or("")
            ));
            Ok(false)
        }
        Err(e) => Err(Error::pg(what(), &e)),
    }
}

/// VALIDATE a constraint added NOT VALID. When rows violate it, it stays
/// NOT VALID and the returned message says how many rows and why.
fn validate(
    pg: &mut Client,
    schema: &str,
    final_schema: &str,
    table: &TablePlan,
    constraint: &str,
    label: &str,
) -> Result<Option<String>> {
    match pg.batch_execute(&ddl::validate(schema, &table.target, constraint)) {
        Ok(()) => Ok(None),
        Err(e) if matches!(e.code().map(|c| c.code()), Some("23503") | Some("23514")) => {
            let count = violations(pg, schema, table, constraint).unwrap_or(-1);
            Ok(Some(format!(
                "{label} is NOT VALID: {} row{} it (nothing was deleted); fix the rows, then run \
                 ALTER TABLE {} VALIDATE CONSTRAINT {}",
                if count >= 0 { count.to_string() } else { "some".into() },
                if count == 1 { " violates" } else { "s violate" },
                ddl::qualified(final_schema, &table.target),
                quote_ident(constraint)
            )))
        }
        Err(e) => Err(Error::pg(format!("validating {label}"), &e)),
    }
}

/// Counts the rows that violate a foreign key (orphans) or check.
fn violations(pg: &mut Client, schema: &str, table: &TablePlan, constraint: &str) -> Result<i64> {
    let target = ddl::qualified(schema, &table.target);
    if let Some(fk) = table.foreign_keys.iter().find(|f| f.name == constraint) {
        let not_null: Vec<String> = fk
            .columns
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
            .collect();
        let join: Vec<String> = fk
            .columns
            .iter()
            .zip(&fk.parent_columns)
            .map(|(c, p)| format!("p.{} = c.{}", quote_ident(p), quote_ident(c)))
            .collect();
        let sql = format!(
            "SELECT count(*) FROM {target} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
            not_null.join(" AND "),
            ddl::qualified(schema, &fk.parent_table),
            join.join(" AND ")
        );
        return pg
            .query_one(&sql, &[])
            .map(|r| r.get(0))
            .map_err(|e| Error::pg("counting orphans", &e));
    }
    if let Some(check) = table.checks.iter().find(|c| c.name == constraint) {
        let sql = format!("SELECT count(*) FROM {target} WHERE NOT ({})", check.expression);
        return pg
            .query_one(&sql, &[])
            .map(|r| r.get(0))
            .map_err(|e| Error::pg("counting check violations", &e));
    }
    Ok(-1)
}

/// Moves an identity column's sequence past the copied ids (and past
/// sqlite_sequence for AUTOINCREMENT tables, which never reuse ids).
fn restart_identity(control: &mut Client, schema: &str, table: &TablePlan) -> Result<()> {
    let Some(identity) = &table.identity else {
        return Ok(());
    };
    let target = ddl::qualified(schema, &table.target);
    let max: Option<i64> = control
        .query_one(
            &format!("SELECT max({})::bigint FROM {target}", quote_ident(&identity.column)),
            &[],
        )
        .map_err(|e| Error::pg(format!("reading max id of {}", table.target), &e))?
        .get(0);
    let next = max
        .unwrap_or(0)
        .max(identity.sequence_floor.unwrap_or(0))
        .saturating_add(1)
        .max(1);
    run(
        control,
        &format!(
            "ALTER TABLE {target} ALTER COLUMN {} RESTART WITH {next}",
            quote_ident(&identity.column)
        ),
        &format!("setting the identity of {}", table.target),
    )
}

/// The final transaction: drop what --replace replaces, move the staged
/// tables into the target schema, create the views. Returns the views that
/// could not be translated.
#[allow(clippy::too_many_arguments)]
fn publish(
    control: &mut Client,
    plan: &Plan,
    options: &CopyOptions,
    staging_schema: &str,
    replaced: &[(String, char)],
    recorded: Result<Vec<origin::TableOrigin>>,
    fingerprints: &[Option<TableSeed>],
    reporter: &Reporter,
) -> Result<Vec<String>> {
    reporter.emit(Event::Phase(format!("publishing into schema {}", options.schema)));
    let target = quote_ident(&options.schema);
    let mut tx = control
        .transaction()
        .map_err(|e| Error::pg("starting the final transaction", &e))?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '30s'; CREATE SCHEMA IF NOT EXISTS {target}"
    ))
    .map_err(|e| Error::pg(format!("creating schema {}", options.schema), &e))?;
    tx.query_one(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("godwit:publish:{}", options.schema)],
    )
    .map_err(|e| Error::pg("locking the target schema", &e))?;
    let views: Vec<String> = replaced
        .iter()
        .filter(|(_, kind)| *kind == 'v')
        .map(|(n, _)| ddl::qualified(&options.schema, n))
        .collect();
    let tables: Vec<String> = replaced
        .iter()
        .filter(|(_, kind)| *kind != 'v')
        .map(|(n, _)| ddl::qualified(&options.schema, n))
        .collect();
    for (kind, list) in [("VIEW", &views), ("TABLE", &tables)] {
        if !list.is_empty() {
            tx.batch_execute(&format!("DROP {kind} {}", list.join(", ")))
                .map_err(|e| {
                    Error::pg(
                        format!(
                            "--replace: dropping {} (other objects that depend on them must be dropped first)",
                            list.join(", ")
                        ),
                        &e,
                    )
                })?;
        }
    }
    for table in &plan.tables {
        // A partition is a table of its own: each moves with its parent.
        let partitions = match &table.partitioning {
            Some(_) => crate::postgres::partitions::children(&mut tx, staging_schema, &table.target)?,
            None => Vec::new(),
        };
        for name in std::iter::once(&table.target).chain(partitions.iter().map(|p| &p.name)) {
            tx.batch_execute(&format!(
                "ALTER TABLE {} SET SCHEMA {target}",
                ddl::qualified(staging_schema, name)
            ))
            .map_err(|e| {
                let why = if name != &table.target && e.code().map(|c| c.code()) == Some("42P07") {
                    format!(
                        "moving partition {name} into {}: a table of that name is there already (a partition \
                         detached and kept, by hand or by an archive run that has not finished); archive, rename \
                         or drop it first",
                        options.schema
                    )
                } else {
                    format!("moving {name} into {}", options.schema)
                };
                Error::pg(why, &e)
            })?;
        }
        if let Some(p) = &table.partitioning {
            crate::postgres::partitions::record(
                &mut tx,
                &options.schema,
                &table.target,
                &crate::postgres::partitions::NewSet {
                    column: &p.column,
                    pg_type: &p.pg_type,
                    interval: p.interval,
                    premake: p.premake,
                    partman: p.partman,
                },
            )?;
        }
    }
    let mut failed = Vec::new();
    tx.batch_execute(&format!("SET LOCAL search_path = {target}"))
        .map_err(|e| Error::pg("search_path", &e))?;
    for view in &plan.views {
        let mut sp = tx.savepoint("godwit_view").map_err(|e| Error::pg("savepoint", &e))?;
        match sp.batch_execute(&ddl::view(&options.schema, view)) {
            Ok(()) => sp.commit().map_err(|e| Error::pg("savepoint", &e))?,
            Err(e) => {
                failed.push(format!(
                    "view {}: could not be translated ({}); its SQLite definition: {}",
                    view.source,
                    describe_pg_error(&e).lines().next().unwrap_or(""),
                    view.select
                ));
                sp.rollback().map_err(|e| Error::pg("savepoint", &e))?;
            }
        }
    }
    let note = match recorded {
        Ok(tables) => origin::record(&mut tx, &options.schema, &plan.source, &tables),
        Err(e) => Some(format!(
            "could not read the SQLite origin ({e}); a reverse copy will use the generic mapping"
        )),
    };
    if let Some(note) = note {
        reporter.emit(Event::Info(format!("note: {note}")));
    }
    // With the rows they describe: sync's first round starts from them.
    for (table, seed) in plan.tables.iter().zip(fingerprints) {
        TableSeed::record(seed.as_ref(), table, &mut tx, &options.schema)?;
    }
    tx.batch_execute(&format!("DROP SCHEMA {} CASCADE", quote_ident(staging_schema)))
        .map_err(|e| Error::pg("dropping the staging schema", &e))?;
    if interrupt::requested() {
        return Err(Error::Interrupted);
    }
    tx.commit().map_err(|e| Error::pg("committing the copy", &e))?;
    for table in &plan.tables {
        if table.partitioning.as_ref().is_some_and(|p| p.partman) {
            match crate::maintain::partitions::register_with_partman(control, &options.schema, &table.target) {
                Ok(Some(note)) => reporter.emit(Event::Info(note)),
                Ok(None) => {}
                Err(e) => reporter.emit(Event::Warning(format!(
                    "{} is partitioned, but registering it with pg_partman failed ({e}); \
                     `godwit maintain` keeps its partitions ahead itself, and registers it when it can",
                    table.target
                ))),
            }
        }
    }
    Ok(failed)
}

/// Creates a partitioned table's partitions in staging: one per interval
/// its source rows fall in (one streaming pass over the key column, cast
/// as the copy casts it), the ones ahead, and the default partition.
/// Returns how many ranged partitions it created.
fn create_partitions(control: &mut Client, schema: &str, table: &TablePlan, reader: &mut dyn Reader) -> Result<usize> {
    let Some(p) = &table.partitioning else {
        return Ok(0);
    };
    let column = table.columns.iter().find(|c| c.target == p.column).ok_or_else(|| {
        Error::Other(format!(
            "partition key {} is not a column of {}",
            p.column, table.target
        ))
    })?;
    let select = [crate::source::Selected::Column(column.source.clone())];
    let scan = crate::source::Scan::whole(&table.source, &select);
    let mut starts = std::collections::BTreeSet::new();
    let mut buf = Vec::with_capacity(16);
    let mut scratch = crate::postgres::encode::Scratch::default();
    reader.scan(&scan, &mut |row| {
        let value = row.value(0);
        if matches!(value, crate::source::ValueRef::Null) {
            return Ok(crate::source::Flow::Continue);
        }
        buf.clear();
        // A value that does not cast stops the copy (or is rejected) later,
        // with its row named; here it only has no interval.
        if crate::postgres::encode::encode_value(&mut buf, value, &column.cast, &mut scratch).is_ok()
            && let Some(day) = crate::plan::partitions::day_of_encoded(&p.pg_type, &buf)
        {
            starts.insert(p.interval.start_of(day));
        }
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        Ok(crate::source::Flow::Continue)
    })?;
    let with_data: Vec<i64> = starts.into_iter().collect();
    let today = chrono::Utc::now().timestamp().div_euclid(86_400);
    let created = crate::plan::partitions::intervals_to_create(p.interval, &with_data, today, p.premake);
    for &from in &created {
        if let Some(sql) = ddl::partition(schema, table, from, p.interval.next(from)) {
            run(control, &sql, &format!("creating a partition of {}", table.target))?;
        }
    }
    run(
        control,
        &ddl::default_partition(schema, table),
        &format!("creating the default partition of {}", table.target),
    )?;
    Ok(created.len())
}
