//! `godwit verify`: prove the target equals the source, row by row.
//!
//! The source is read with the plan the copy used and every value is
//! encoded by the copy's own encoder; the target is read back with binary
//! COPY. Both become canonical rows ([`value`]), streamed on their own
//! threads ([`stream`]) and matched by key ([`compare`]); tables are
//! compared in parallel. See docs/verify.md.

pub mod compare;
mod copy_rows;
pub mod layout;
pub mod report;
mod row;
pub mod session;
pub mod stream;
pub mod value;
pub mod views;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use postgres::Client;

use crate::error::{Error, ExitCode, Result};
use crate::plan::Plan;
use crate::plan::retarget::retarget;
use crate::plan::types::PgType;
use crate::postgres::catalog;
use crate::postgres::conn::ConnSpec;
use crate::prepare::{Mapping, Profiling, plan_source};
use crate::report::{Event, Progress, Reporter, interrupt};
use crate::source::{Reader, Source, SourceSchema};
use compare::{Comparer, Outcome};
use layout::{KeyRange, Layout};
pub use report::{TableReport, VerifySummary};
use session::Session;

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub target: ConnSpec,
    pub schema: String,
    pub jobs: usize,
    pub max_keys: usize,
}

/// Tables with more rows than this are compared by hash in several passes
/// when their keys cannot be merged in order, to bound memory.
const ROWS_PER_HASH_PASS: u64 = 250_000;
/// The same for keyless tables, whose pending entries are only counters.
const ROWS_PER_MULTISET_PASS: u64 = 2_000_000;

pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// `godwit verify`: describes the source as verify needs it, then compares.
pub fn run(source: &dyn Source, mapping: &Mapping, options: &VerifyOptions, reporter: &Reporter) -> Result<ExitCode> {
    reuse_recorded_model(source, options, reporter)?;
    let (source_schema, plan) = plan_source(source, mapping, Profiling::DatesOnly, reporter)?;
    let context = Context {
        source,
        mapping,
        source_schema: &source_schema,
        plan: &plan,
        profiled_all: false,
    };
    finish(verify(&context, options, reporter)?, reporter)
}

/// `copy --verify`: verify right after the copy. The source is described
/// again rather than reusing the copy's plan, whose speculative types may
/// have been re-planned table by table during the load.
pub fn after_copy(
    source: &dyn Source,
    mapping: &Mapping,
    data_only: bool,
    options: &VerifyOptions,
    reporter: &Reporter,
) -> Result<ExitCode> {
    let profiling = if data_only {
        Profiling::Everything
    } else {
        Profiling::DatesOnly
    };
    let (source_schema, plan) = plan_source(source, mapping, profiling, reporter)?;
    let context = Context {
        source,
        mapping,
        source_schema: &source_schema,
        plan: &plan,
        profiled_all: data_only,
    };
    finish(verify(&context, options, reporter)?, reporter)
}

/// Takes the model `copy` recorded of a document file instead of reading
/// the file to learn it again, when the source finds it was learned from
/// exactly these bytes; says which it does, and why it learns.
fn reuse_recorded_model(source: &dyn Source, options: &VerifyOptions, reporter: &Reporter) -> Result<()> {
    let Some(key) = source.model_key() else {
        return Ok(());
    };
    let mut pg = connect(&options.target)?;
    begin(&mut pg)?;
    // A role that may not read godwit's schema verifies as before.
    let recorded = crate::postgres::bookkeeping::document_model(&mut pg, &options.schema, &key);
    drop(pg);
    let note = match recorded {
        Err(e) => format!("learning {key}: could not read the model copy recorded ({e})"),
        Ok(None) => format!(
            "learning {key}: no model of it recorded by copy in schema {}",
            options.schema
        ),
        Ok(Some(model)) => match source.reuse_model(&model)? {
            Ok(()) => format!("reusing the model copy learned of {key} (the same bytes): reading it once, to compare"),
            Err(why) => format!("learning {key} again: {why}"),
        },
    };
    reporter.emit(Event::Info(note));
    Ok(())
}

fn finish(summary: VerifySummary, reporter: &Reporter) -> Result<ExitCode> {
    let code = summary.exit_code();
    reporter.emit(Event::VerifyFinished(Box::new(summary)));
    Ok(code)
}

/// The source as the copy saw it.
pub struct Context<'a> {
    pub source: &'a dyn Source,
    pub mapping: &'a Mapping,
    pub source_schema: &'a SourceSchema,
    /// The plan, built from a source described with [`Profiling::DatesOnly`]
    /// or, when `profiled_all`, [`Profiling::Everything`].
    pub plan: &'a Plan,
    /// Every column was profiled, as `copy --data-only` does.
    pub profiled_all: bool,
}

/// Compares every table of the plan with the target. The plan is fitted
/// to the target's actual column types first, so data-only copies into
/// framework-made tables are compared with the casts they got.
pub fn verify(context: &Context<'_>, options: &VerifyOptions, reporter: &Reporter) -> Result<VerifySummary> {
    let started = Instant::now();
    let mut control = connect(&options.target)?;
    begin(&mut control)?;
    let targets = catalog::tables(&mut control, &options.schema)?;
    let layouts = layouts(context, &targets, reporter)?;
    drop(control);
    for note in crate::plan::fulltext::not_compared(context.source_schema) {
        reporter.emit(Event::Warning(note));
    }

    reporter.emit(Event::Phase(format!(
        "verifying {} tables against {} (schema {}) with {} jobs",
        layouts.len(),
        options.target,
        options.schema,
        options.jobs
    )));
    let source = context.source;
    // Ranges only split the key space (the outer ones are open), so they
    // need not come from the snapshot the comparison reads.
    let tasks = plan_tasks(source.readers(1)?[0].as_mut(), &layouts)?;
    let readers = source.readers(options.jobs.min(tasks.len()).max(1))?;
    let chunks_of = |table: usize| tasks.iter().filter(|t| t.table == table).count();
    let remaining: Vec<AtomicUsize> = (0..layouts.len()).map(|i| AtomicUsize::new(chunks_of(i))).collect();
    // Per table, per chunk (in key order): what comparing it found.
    let pieces: Mutex<Vec<Vec<Option<Piece>>>> =
        Mutex::new((0..layouts.len()).map(|i| vec![None; chunks_of(i)]).collect());
    let queue = Mutex::new(tasks.iter());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let tables_done = std::sync::atomic::AtomicU64::new(0);
    let tables_total = u64::try_from(layouts.len()).unwrap_or(u64::MAX);
    let fail = |e: Error| {
        failed.store(true, Ordering::Relaxed);
        first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    };

    std::thread::scope(|scope| {
        for mut reader in readers {
            let (queue, pieces, remaining, failed, fail, layouts, tables_done) =
                (&queue, &pieces, &remaining, &failed, &fail, &layouts, &tables_done);
            scope.spawn(move || {
                let mut pg = match Session::connect(&options.target) {
                    Ok(pg) => pg,
                    Err(e) => return fail(e),
                };
                while !failed.load(Ordering::Relaxed) {
                    let Some(task) = queue.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                        return;
                    };
                    let layout = &layouts[task.table];
                    let started = Instant::now();
                    // Each unit of work reads inside one read-only
                    // transaction: through a transaction-pooling proxy
                    // (PgBouncer) it then stays on one server session.
                    let compared = pg
                        .batch_execute("BEGIN READ ONLY", "starting a read-only transaction")
                        .and_then(|()| compare_table(reader.as_mut(), &mut pg, layout, task.range.as_ref(), options))
                        .and_then(|done| {
                            pg.batch_execute("ROLLBACK", "ending a read-only transaction")
                                .map(|()| done)
                        });
                    let (outcome, method) = match compared {
                        Ok(done) => done,
                        Err(e) => return fail(e),
                    };
                    let mut all = pieces.lock().unwrap_or_else(|p| p.into_inner());
                    all[task.table][task.chunk] = Some(Piece {
                        outcome,
                        method,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                    if remaining[task.table].fetch_sub(1, Ordering::AcqRel) == 1 {
                        let report = table_report(layout, &all[task.table], options.max_keys);
                        reporter.emit(Event::Info(report.progress_line()));
                        let done = tables_done.fetch_add(1, Ordering::AcqRel) + 1;
                        reporter.emit(Event::Progress(Progress::new(
                            "verify",
                            done,
                            Some(tables_total),
                            "tables",
                            report.table,
                        )));
                    }
                }
            });
        }
    });
    reporter.emit(Event::ProgressDone("verify".into()));
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let pieces = pieces.into_inner().unwrap_or_else(|p| p.into_inner());
    let tables: Vec<TableReport> = layouts
        .iter()
        .zip(&pieces)
        .map(|(layout, parts)| table_report(layout, parts, options.max_keys))
        .collect();
    // Views the source itself defines: their rows are what the translation must return.
    let compared: Vec<(&crate::plan::ViewPlan, &[String])> = context
        .plan
        .views
        .iter()
        .filter_map(|v| {
            let defined = context.source_schema.views.iter().find(|s| s.name == v.source)?;
            Some((v, defined.columns.as_slice()))
        })
        .collect();
    let mut reader = source
        .readers(1)?
        .pop()
        .ok_or_else(|| Error::Other("no source reader".into()))?;
    let mut pg = connect(&options.target)?;
    begin(&mut pg)?;
    let views = views::compare(reader.as_mut(), &mut pg, &options.schema, &compared, reporter)?;
    let summary = VerifySummary::new(
        context.plan.source.clone(),
        options.target.to_string(),
        options.schema.clone(),
        tables,
        started.elapsed().as_secs_f64(),
    );
    Ok(summary.with_views(views))
}

/// What comparing one chunk of a table found.
#[derive(Debug, Clone)]
struct Piece {
    outcome: Outcome,
    method: Method,
    seconds: f64,
}

/// One unit of work: a whole table, or one key range of a large one.
struct Task {
    table: usize,
    chunk: usize,
    range: Option<KeyRange>,
}

/// Rows per chunk when a large table keyed by its rowid is split.
const CHUNK_ROWS: u64 = 250_000;

/// Tasks, largest tables first; large rowid-keyed tables split into key
/// ranges so that one table uses every job.
fn plan_tasks(reader: &mut dyn Reader, layouts: &[Layout]) -> Result<Vec<Task>> {
    let mut order: Vec<usize> = (0..layouts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(layouts[i].row_count));
    let mut tasks = Vec::new();
    for table in order {
        let layout = &layouts[table];
        if !(layout.rowid_key && layout.target_exists && layout.row_count > CHUNK_ROWS) {
            tasks.push(Task {
                table,
                chunk: 0,
                range: None,
            });
            continue;
        }
        let Some((lo, hi)) = reader.rowid_bounds(&layout.source_table)? else {
            tasks.push(Task {
                table,
                chunk: 0,
                range: None,
            });
            continue;
        };
        let chunks = i64::try_from(layout.row_count.div_ceil(CHUNK_ROWS)).unwrap_or(1);
        let span = ((i128::from(hi) - i128::from(lo)) / i128::from(chunks) + 1).min(i128::from(i64::MAX));
        let span = i64::try_from(span).unwrap_or(i64::MAX);
        let mut from: Option<i64> = None;
        let mut boundary = lo;
        for chunk in 0..usize::try_from(chunks).unwrap_or(1) {
            boundary = boundary.saturating_add(span);
            let last = chunk + 1 == usize::try_from(chunks).unwrap_or(1) || boundary > hi;
            let to = if last { None } else { Some(boundary) };
            tasks.push(Task {
                table,
                chunk,
                range: Some(KeyRange { from, to }),
            });
            if last {
                break;
            }
            from = to;
        }
    }
    Ok(tasks)
}

/// A table's report from its chunks, absorbed in key order.
fn table_report(layout: &Layout, pieces: &[Option<Piece>], max_keys: usize) -> TableReport {
    let mut outcome = Outcome::default();
    let mut method = Method::Merge;
    let mut seconds = 0.0;
    for piece in pieces.iter().flatten() {
        outcome.absorb(piece.outcome.clone(), max_keys);
        if piece.method != Method::Merge {
            method = piece.method;
        }
        seconds += piece.seconds;
    }
    TableReport::new(layout, outcome, method, seconds)
}

/// Reads inside one read-only transaction: through a transaction-pooling
/// proxy (PgBouncer) its prepared statements then stay on the one server
/// session that runs it.
fn begin(pg: &mut Client) -> Result<()> {
    pg.batch_execute("BEGIN READ ONLY")
        .map_err(|e| Error::pg("starting a read-only transaction", &e))
}

fn connect(target: &ConnSpec) -> Result<Client> {
    let mut pg = target.connect()?;
    pg.batch_execute("SET application_name = 'godwit verify'")
        .map_err(|e| Error::pg("setting up the session", &e))?;
    Ok(pg)
}

/// One layout per planned table, with the casts the copy applied to the
/// target's actual columns.
///
/// The source was described profiling only date and time columns
/// ([`Profiling::DatesOnly`]): every other type is read from the target,
/// and a cast depends on the value profile only through the epoch unit of
/// dates and times. So, column by column: where the target has the planned
/// type, the plan's cast is the copy's (config casts, uuid-from-int keys);
/// where it has another type, the cast is the one `copy --data-only` gives
/// that type (`retarget`). When a date or time target column takes a source
/// column that was not profiled (INTEGER epoch values in a framework's
/// timestamp), the source is described again with every column profiled,
/// as `copy --data-only` does, for its epoch unit.
pub fn layouts(context: &Context<'_>, targets: &[catalog::TargetTable], reporter: &Reporter) -> Result<Vec<Layout>> {
    let planned_type = |plan: &Plan, table: &str, column: &str| {
        plan.tables
            .iter()
            .find(|t| t.source == table)
            .and_then(|t| t.columns.iter().find(|c| c.source == column))
            .map(|c| c.pg_type.clone())
    };
    let mut plan = std::borrow::Cow::Borrowed(context.plan);
    let mut fitted = plan.clone().into_owned();
    retarget(&mut fitted, context.source_schema, targets)?;
    let unprofiled_dates = !context.profiled_all
        && fitted.tables.iter().any(|t| {
            t.columns.iter().any(|c| {
                matches!(c.pg_type, PgType::Date | PgType::Timestamp | PgType::Timestamptz)
                    && planned_type(&plan, &t.source, &c.source).is_some_and(|p| p != c.pg_type)
                    && context
                        .source_schema
                        .table(&t.source)
                        .and_then(|s| s.column(&c.source))
                        .is_some_and(|s| s.profile.is_none())
            })
        });
    if unprofiled_dates {
        reporter.emit(Event::Info(
            "the target has date or time columns where the plan has other types (a data-only copy): profiling \
             every column, as copy --data-only does"
                .into(),
        ));
        let (profiled_schema, profiled_plan) = plan_source(
            context.source,
            context.mapping,
            Profiling::Everything,
            &Reporter::silent(),
        )?;
        fitted = profiled_plan.clone();
        retarget(&mut fitted, &profiled_schema, targets)?;
        plan = std::borrow::Cow::Owned(profiled_plan);
    }
    let mut out = Vec::new();
    for original in &plan.tables {
        let Some(table) = fitted.tables.iter_mut().find(|t| t.source == original.source) else {
            out.push(Layout::new(original, false, Vec::new(), false));
            continue;
        };
        // After copy --data-only --verify every cast is data-only's.
        if !context.profiled_all {
            for column in &mut table.columns {
                if let Some(planned) = original.columns.iter().find(|c| c.source == column.source)
                    && planned.pg_type == column.pg_type
                {
                    column.cast = planned.cast.clone();
                }
            }
        }
        let not_compared: Vec<String> = original
            .copied_columns()
            .filter(|c| !table.columns.iter().any(|f| f.source == c.source))
            .map(|c| c.source.clone())
            .collect();
        let mut layout = Layout::new(table, true, not_compared, original.identity.is_some());
        // A source that cannot stream in key order is matched by hash.
        layout.orderable &= context.source.ordered_scans_of(&layout.source_table);
        out.push(layout);
    }
    Ok(out)
}

/// How a table was compared, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Merge,
    Hash,
    Multiset,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Merge => "merge",
            Method::Hash => "hash",
            Method::Multiset => "multiset",
        }
    }
}

fn compare_table(
    reader: &mut dyn Reader,
    pg: &mut Session,
    layout: &Layout,
    range: Option<&KeyRange>,
    options: &VerifyOptions,
) -> Result<(Outcome, Method)> {
    if layout.key.is_some() && layout.orderable {
        let mut comparer = Comparer::new(layout, options.max_keys);
        let merged = run_pass(reader, pg, layout, &options.schema, (true, range), |s, t| {
            comparer.merge(s, t)
        })?;
        if merged.is_ok() {
            return Ok((comparer.outcome, Method::Merge));
        }
        // A cast reordered the keys (mixed-type or mixed-format values):
        // the merge's verdicts are void; compare again by hash.
    }
    let (method, per_pass) = if layout.key.is_some() {
        (Method::Hash, ROWS_PER_HASH_PASS)
    } else {
        (Method::Multiset, ROWS_PER_MULTISET_PASS)
    };
    let rows = if range.is_some() { CHUNK_ROWS } else { layout.row_count };
    let partitions = rows.div_ceil(per_pass).max(1);
    let mut total = Outcome::default();
    let spellings = layout.columns.iter().any(|c| c.kind.has_spellings());
    for partition in 0..partitions {
        let mut comparer = Comparer::new(layout, options.max_keys);
        if method == Method::Multiset {
            let mut balance = run_pass(reader, pg, layout, &options.schema, (false, range), |s, t| {
                comparer.multiset(s, t, partition, partitions)
            })?;
            if !balance.is_empty() && spellings {
                // Bytes differ; values may not (JSON key order, numeric scale).
                balance = run_pass(reader, pg, layout, &options.schema, (false, range), |s, t| {
                    comparer.multiset_canonical(s, t, &balance)
                })?;
            }
            comparer.count_unmatched(&balance);
        } else {
            run_pass(reader, pg, layout, &options.schema, (false, range), |s, t| {
                comparer.hash_join(s, t, partition, partitions)
            })?;
        }
        total.absorb(comparer.outcome, options.max_keys);
    }
    Ok((total, method))
}

/// Runs both producers on their own threads while `consume` matches.
fn run_pass<T>(
    reader: &mut dyn Reader,
    pg: &mut Session,
    layout: &Layout,
    schema: &str,
    (ordered, range): (bool, Option<&KeyRange>),
    consume: impl FnOnce(
        &crossbeam_channel::Receiver<Vec<stream::Row>>,
        &crossbeam_channel::Receiver<Vec<stream::Row>>,
    ) -> T,
) -> Result<T> {
    let stop = AtomicBool::new(false);
    let (source_tx, source_rx) = crossbeam_channel::bounded(4);
    let (target_tx, target_rx) = crossbeam_channel::bounded(4);
    std::thread::scope(|scope| {
        let stop = &stop;
        let source_thread = scope.spawn(move || stream::read_source(reader, layout, ordered, range, &source_tx, stop));
        let target_thread =
            scope.spawn(move || stream::read_target(pg, schema, layout, ordered, range, &target_tx, stop));
        let result = consume(&source_rx, &target_rx);
        // Stop producers that are still sending (the consumer gave up early).
        stop.store(true, Ordering::Relaxed);
        drop(source_rx);
        drop(target_rx);
        let source_result = source_thread
            .join()
            .unwrap_or_else(|_| Err(Error::Other("the source reader panicked".into())));
        let target_result = target_thread
            .join()
            .unwrap_or_else(|_| Err(Error::Other("the target reader panicked".into())));
        source_result?;
        target_result?;
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        Ok(result)
    })
}
