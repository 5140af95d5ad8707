//! `godwit sync`: bring a copy up to the source's current state, and
//! `godwit cutover`: the last rounds with the source's writers held.
//!
//! A round reads one consistent snapshot of the source, fingerprints its
//! key ranges locally ([`diff`]), compares only the ranges whose
//! fingerprint moved since the last round with the target's rows, and
//! applies the difference in one PostgreSQL transaction together with the
//! new fingerprints ([`apply`], [`state`]): the target always equals some
//! snapshot of the source. The source is only read. See docs/cutover.md.

pub mod apply;
pub mod cutover;
pub mod diff;
mod report;
pub mod retry;
pub mod seed;
pub mod state;
pub mod transaction;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use postgres::Client;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::hash_of;
use crate::plan::types::Cast;
use crate::postgres::catalog;
use crate::postgres::conn::ConnSpec;
use crate::prepare::{Mapping, Profiling, describe_and_plan, plan_source};
use crate::report::{Event, Progress, Reporter, interrupt};
use crate::source::Source;
use crate::verify::layout::Layout;
use diff::{Forced, TableDiff, Work};

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub target: ConnSpec,
    pub schema: String,
    /// Tables read in parallel.
    pub jobs: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableCounts {
    pub table: String,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// What one round did.
#[derive(Debug, Clone, Serialize)]
pub struct RoundSummary {
    pub source: String,
    pub target: String,
    pub schema: String,
    pub tables: Vec<TableCounts>,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Key ranges whose rows were compared with the target, of all ranges.
    pub ranges_read: u64,
    pub ranges: u64,
    /// Whether the round wrote to the target (changes or fingerprints).
    pub wrote: bool,
    pub seconds: f64,
    /// Of which: comparing changed ranges with the target (summed over
    /// the tables read in parallel), and the applying transaction.
    pub compare_s: f64,
    pub apply_s: f64,
    /// Source rows read and hashed: rows on pages unchanged since the last
    /// round are not (see `source::pages`).
    pub rows_read: u64,
    /// Times the round ran again after losing its server (see [`retry`]).
    pub retried: u32,
}

impl RoundSummary {
    pub fn changes(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }

    /// One line for the round, then a line per table that changed.
    pub fn human(&self) -> String {
        let mut out = format!(
            "sync: {} inserted, {} updated, {} deleted; {} of {} key ranges compared; {:.2}s{}",
            self.inserted,
            self.updated,
            self.deleted,
            self.ranges_read,
            self.ranges,
            self.seconds,
            if self.wrote { "" } else { "; nothing written" }
        );
        for t in self.tables.iter().filter(|t| t.inserted + t.updated + t.deleted > 0) {
            out.push_str(&format!(
                "\n  {}: {} inserted, {} updated, {} deleted",
                crate::report::shown::name(&t.table),
                t.inserted,
                t.updated,
                t.deleted
            ));
        }
        out
    }
}

/// One reading and writing of a round.
enum Attempt {
    /// None when a speculative date column held numbers (plan again).
    Done(Option<Box<(RoundSummary, Changed)>>),
    /// Rolled back on a unique conflict; run again keeping the rows.
    UniqueConflict,
}

/// Where the differences of a round were, per source table.
pub type Changed = HashMap<String, Forced>;

/// The source planned against the target once; rounds reuse it.
pub struct Syncer<'a> {
    source: &'a dyn Source,
    options: SyncOptions,
    layouts: Vec<Layout>,
    /// Layout indexes, parents before children (the target's foreign keys).
    order: Vec<usize>,
    /// The order tables are read in (see [`reading_order`]).
    reading: Vec<usize>,
    /// Per layout, its parents that come before it in `order`.
    parents: Vec<Vec<usize>>,
    /// Per layout: it references itself; its foreign-key columns.
    self_referencing: Vec<bool>,
    fk_columns: Vec<Vec<usize>>,
    /// sqlite_sequence of AUTOINCREMENT tables: sequences move past it.
    floors: Vec<Option<i64>>,
    signatures: Vec<String>,
    mapping: Mapping,
    /// Per layout column: a date or time cast chosen without looking at
    /// the values, which an epoch number would break.
    speculative: Vec<Vec<bool>>,
    profiled_dates: bool,
    /// The command to run again when the server stays away.
    rerun: String,
}

fn connect(target: &ConnSpec, name: &str) -> Result<Client> {
    let mut pg = target.connect()?;
    // Range lookups look costly to the planner (a VALUES list joined by
    // ranges) and would be JIT-compiled for every batch, which costs more
    // than the lookups themselves.
    pg.batch_execute(&format!("SET application_name = '{name}'; SET jit = off"))
        .map_err(|e| Error::pg("setting up the session", &e))?;
    Ok(pg)
}

impl<'a> Syncer<'a> {
    /// Plans the source against the target's actual tables, as verify
    /// does, so copies made with `--data-only` get the same casts. Types
    /// come from the target, so no column is profiled: dates and times are
    /// assumed to be text, as copy assumes, and a round that meets an epoch
    /// number in one plans again with them profiled.
    pub fn prepare(
        source: &'a dyn Source,
        mapping: &Mapping,
        options: &SyncOptions,
        reporter: &Reporter,
    ) -> Result<Syncer<'a>> {
        Self::prepare_with(source, mapping, options, false, reporter)
    }

    fn prepare_with(
        source: &'a dyn Source,
        mapping: &Mapping,
        options: &SyncOptions,
        profile_dates: bool,
        reporter: &Reporter,
    ) -> Result<Syncer<'a>> {
        let (source_schema, plan) = if profile_dates {
            plan_source(source, mapping, Profiling::DatesOnly, reporter)?
        } else {
            reporter.emit(Event::Phase(format!("reading {}", source.display_name())));
            describe_and_plan(source, mapping, &|_, _| false)?
        };
        let mut control = connect(&options.target, "godwit sync")?;
        let targets = catalog::tables(&mut control, &options.schema)?;
        let context = crate::verify::Context {
            source,
            mapping,
            source_schema: &source_schema,
            plan: &plan,
            profiled_all: false,
        };
        let layouts = crate::verify::layouts(&context, &targets, reporter)?;
        let planned = |l: &Layout| plan.tables.iter().find(|t| t.source == l.source_table);
        let floors = layouts
            .iter()
            .map(|l| {
                planned(l)
                    .and_then(|t| t.identity.as_ref())
                    .and_then(|i| i.sequence_floor)
            })
            .collect();
        let speculative = layouts
            .iter()
            .map(|l| {
                l.columns
                    .iter()
                    .map(|c| {
                        matches!(c.cast, Cast::Timestamp { .. } | Cast::Date { .. })
                            && planned(l)
                                .and_then(|t| t.columns.iter().find(|p| p.source == c.source))
                                .is_some_and(|p| p.speculative && p.cast == c.cast)
                    })
                    .collect()
            })
            .collect();
        let signatures = layouts.iter().map(signature).collect();
        let keys = foreign_keys(&mut control, &options.schema, &layouts)?;
        let (order, parents) = parents_first(&keys.parents, &layouts);
        let reading = reading_order(&order, &parents, &layouts);
        Ok(Syncer {
            source,
            mapping: mapping.clone(),
            options: options.clone(),
            layouts,
            reading,
            order,
            parents,
            self_referencing: keys.self_referencing,
            fk_columns: keys.columns,
            floors,
            signatures,
            speculative,
            profiled_dates: profile_dates,
            rerun: format!("godwit sync {} --to {}", source.display_name(), options.target),
        })
    }

    /// One round: applies the difference, or with `check` only compares
    /// (the given ranges whatever their fingerprints) and writes nothing.
    /// A round that loses its server runs again (see [`retry`]).
    pub fn round(&mut self, check: Option<&Changed>, reporter: &Reporter) -> Result<(RoundSummary, Changed)> {
        let rerun = self.rerun.clone();
        let mut retried = 0;
        let (mut summary, changed) =
            match retry::retrying(reporter, &rerun, &mut retried, || self.round_once(check, reporter))? {
                Some(done) => done,
                None => {
                    reporter.emit(Event::Info(
                        "a date or time column holds epoch numbers: profiling date and time columns, then again".into(),
                    ));
                    let replanned = retry::retrying(reporter, &rerun, &mut retried, || {
                        Self::prepare_with(self.source, &self.mapping, &self.options, true, reporter)
                    })?;
                    *self = Syncer { rerun, ..replanned };
                    retry::retrying(reporter, &self.rerun, &mut retried, || self.round_once(check, reporter))?
                        .ok_or_else(|| Error::Other("date and time columns kept changing while planning".into()))?
                }
            };
        summary.retried = retried;
        Ok((summary, changed))
    }

    /// What to tell the user to run when the server stays away.
    pub fn rerun_with(&mut self, command: String) {
        self.rerun = command;
    }

    /// One round: applies the difference, or with `check` only compares
    /// (the given ranges whatever their fingerprints) and writes nothing.
    /// None when a speculative date column held numbers (plan again).
    fn round_once(&self, check: Option<&Changed>, reporter: &Reporter) -> Result<Option<(RoundSummary, Changed)>> {
        match self.read_and_write(check, false, reporter)? {
            Attempt::UniqueConflict => {
                reporter.emit(Event::Info(
                    "a new row takes a unique value a deleted row still holds: the round runs again, \
                     keeping its rows to write them deletes earlier"
                        .into(),
                ));
                match self.read_and_write(check, true, reporter)? {
                    Attempt::Done(done) => Ok(done.map(|d| *d)),
                    Attempt::UniqueConflict => Err(Error::Other("the round kept meeting unique conflicts".into())),
                }
            }
            Attempt::Done(done) => Ok(done.map(|d| *d)),
        }
    }

    fn read_and_write(&self, check: Option<&Changed>, keep_rows: bool, reporter: &Reporter) -> Result<Attempt> {
        let started = Instant::now();
        let options = &self.options;
        let mut control = connect(&options.target, "godwit sync")?;
        let stored = state::read(&mut control, &options.schema)?;
        let tables: Vec<usize> = match check {
            Some(changed) => (0..self.layouts.len())
                .filter(|&i| changed.contains_key(&self.layouts[i].source_table))
                .collect(),
            None => (0..self.layouts.len()).collect(),
        };
        // Parents first, so the writer can follow the readers closely.
        let queue: Vec<usize> = self.reading.iter().copied().filter(|i| tables.contains(i)).collect();
        let jobs = options.jobs.min(queue.len()).max(1);
        let readers = self.source.readers(jobs)?;
        reporter.emit(Event::Phase(if check.is_some() {
            format!(
                "comparing {} with {}",
                crate::units::count(queue.len(), "table"),
                crate::units::count(jobs, "reader")
            )
        } else {
            format!(
                "fingerprinting {} with {}, writing changes in one transaction as tables finish",
                crate::units::count(queue.len(), "table"),
                crate::units::count(jobs, "reader")
            )
        }));
        let task = if check.is_some() { "sync check" } else { "sync round" };
        let tables_total = u64::try_from(queue.len()).ok();
        let tables_read = std::sync::atomic::AtomicU64::new(0);
        let queue = Mutex::new(queue.into_iter());
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        // Bounded: when PostgreSQL writes slower than the source is read
        // (a target far behind), readers wait rather than pile up parts.
        let (finished, arriving) = crossbeam_channel::bounded::<transaction::Part>(8);
        let writing = transaction::Tables {
            schema: &options.schema,
            layouts: &self.layouts,
            order: &self.order,
            parents: &self.parents,
            self_referencing: &self.self_referencing,
            floors: &self.floors,
            stored: &stored,
        };
        let written = std::thread::scope(|scope| {
            for mut reader in readers {
                let (queue, first_error, stored, finished, tables_read) =
                    (&queue, &first_error, &stored, finished.clone(), &tables_read);
                scope.spawn(move || {
                    let fail = |e: Error| {
                        first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    };
                    let mut pg = match connect(&options.target, "godwit sync reader") {
                        Ok(pg) => pg,
                        Err(e) => return fail(e),
                    };
                    loop {
                        if first_error.lock().unwrap_or_else(|p| p.into_inner()).is_some() || interrupt::requested() {
                            return;
                        }
                        let Some(i) = queue.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                            return;
                        };
                        let layout = &self.layouts[i];
                        let emit = |part: TableDiff| {
                            // The writer outlives the readers; a send fails only after it failed.
                            let _ = finished.send((i, part, false));
                        };
                        let work = Work {
                            layout,
                            schema: &options.schema,
                            old: stored.get(&layout.source_table),
                            signature: self.signatures[i].clone(),
                            force: check.and_then(|c| c.get(&layout.source_table)),
                            speculative: if self.profiled_dates { &[] } else { &self.speculative[i] },
                            emit: &emit,
                            fk_columns: &self.fk_columns[i],
                        };
                        match diff::diff_table(reader.as_mut(), &mut pg, &work) {
                            Ok(d) => {
                                let _ = finished.send((i, d, true));
                                let done = tables_read.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
                                reporter.emit(Event::Progress(Progress::new(
                                    task,
                                    done,
                                    tables_total,
                                    "tables read",
                                    layout.source_table.clone(),
                                )));
                            }
                            Err(e) => return fail(e),
                        }
                    }
                });
            }
            drop(finished);
            if check.is_some() {
                return Ok(transaction::collect(arriving));
            }
            transaction::write_as_they_come(&mut control, &writing, arriving, &first_error, keep_rows)
        });
        reporter.emit(Event::ProgressDone(task.into()));
        if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        let transaction::Written {
            diffs,
            wrote,
            seconds: apply_s,
            again_keeping_rows,
        } = written?;
        if again_keeping_rows {
            return Ok(Attempt::UniqueConflict);
        }
        if diffs.values().any(|d| d.speculation_broken) {
            return Ok(Attempt::Done(None));
        }
        let mut changed: Changed = HashMap::new();
        for (&i, d) in &diffs {
            if !d.changed_buckets.is_empty() || d.whole_changed {
                changed.insert(
                    self.layouts[i].source_table.clone(),
                    Forced {
                        buckets: d.changed_buckets.clone(),
                        whole: d.whole_changed,
                    },
                );
            }
        }
        let mut summary = RoundSummary {
            source: self.source.display_name(),
            target: options.target.to_string(),
            schema: options.schema.clone(),
            tables: Vec::new(),
            inserted: 0,
            updated: 0,
            deleted: 0,
            ranges_read: 0,
            ranges: 0,
            wrote,
            seconds: 0.0,
            compare_s: 0.0,
            apply_s,
            rows_read: 0,
            retried: 0,
        };
        for &i in &tables {
            let Some(d) = diffs.get(&i) else { continue };
            let counts = TableCounts {
                table: self.layouts[i].target_table.clone(),
                inserted: d.inserted(),
                updated: d.updated(),
                deleted: d.deleted(),
            };
            summary.inserted += counts.inserted;
            summary.updated += counts.updated;
            summary.deleted += counts.deleted;
            summary.ranges_read += d.ranges_read;
            summary.ranges += d.ranges;
            summary.compare_s += d.compare_seconds;
            summary.rows_read += d.rows_read;
            summary.tables.push(counts);
        }
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(Attempt::Done(Some(Box::new((summary, changed)))))
    }
}

/// The layout a table's fingerprints were taken with.
pub(crate) fn signature(layout: &Layout) -> String {
    let columns: Vec<String> = layout
        .columns
        .iter()
        .map(|c| format!("{}:{}:{}:{:?}", c.source, c.target, c.pg_type.sql(), c.cast))
        .collect();
    let text = format!(
        "v2|{}|{}|{:?}|{}",
        layout.source_table,
        layout.target_table,
        layout.key,
        columns.join("|")
    );
    format!("{:016x}", hash_of(text.as_bytes()))
}

/// What the target's foreign keys say about each layout.
struct ForeignKeys {
    /// The layouts it references (itself excluded).
    parents: Vec<Vec<usize>>,
    /// It references itself (a thread of comments).
    self_referencing: Vec<bool>,
    /// Positions of its columns that are part of a foreign key.
    columns: Vec<Vec<usize>>,
}

fn foreign_keys(client: &mut Client, schema: &str, layouts: &[Layout]) -> Result<ForeignKeys> {
    let rows = client
        .query(
            "SELECT c.relname::text, p.relname::text, a.attname::text FROM pg_constraint con \
             JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class p ON p.oid = con.confrelid \
             CROSS JOIN LATERAL unnest(con.conkey) AS k(attnum) \
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
             WHERE con.contype = 'f' AND n.nspname = $1",
            &[&schema],
        )
        .map_err(|e| Error::pg("reading the target's foreign keys", &e))?;
    let index_of = |name: &str| layouts.iter().position(|l| l.target_table == name);
    let mut keys = ForeignKeys {
        parents: vec![Vec::new(); layouts.len()],
        self_referencing: vec![false; layouts.len()],
        columns: vec![Vec::new(); layouts.len()],
    };
    for row in rows {
        let (child, parent, column): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let Some(c) = index_of(&child) else { continue };
        if let Some(position) = layouts[c].columns.iter().position(|l| l.target == column)
            && !keys.columns[c].contains(&position)
        {
            keys.columns[c].push(position);
        }
        match index_of(&parent) {
            Some(p) if p == c => keys.self_referencing[c] = true,
            Some(p) if !keys.parents[c].contains(&p) => keys.parents[c].push(p),
            _ => {}
        }
    }
    Ok(keys)
}

/// Layout indexes parents first, the largest first among those ready
/// (cycles keep their given order; their constraints are deferred where
/// they are deferrable). Also each layout's parents that precede it, the
/// edges the order keeps.
fn parents_first(parents: &[Vec<usize>], layouts: &[Layout]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut placed: Vec<usize> = Vec::new();
    let mut left: Vec<usize> = (0..layouts.len()).collect();
    while !left.is_empty() {
        let mut ready: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| parents[i].iter().all(|p| placed.contains(p)))
            .collect();
        ready.sort_by_key(|&i| std::cmp::Reverse(layouts[i].row_count));
        let next = if ready.is_empty() { vec![left[0]] } else { ready };
        for i in next {
            placed.push(i);
            left.retain(|&l| l != i);
        }
    }
    let position = |i: usize| placed.iter().position(|&p| p == i).unwrap_or(usize::MAX);
    let kept = (0..layouts.len())
        .map(|i| {
            parents[i]
                .iter()
                .copied()
                .filter(|&p| position(p) < position(i))
                .collect()
        })
        .collect();
    (placed, kept)
}

/// The order tables are read in: the longest chain of rows first, a
/// chain being a table and, below it, the children that cannot be written
/// before it. The round's transaction writes a table once its parents are
/// written, so reading `users` and `posts` early lets it start while
/// `comments` is still being read, and the largest table is read early
/// rather than last.
fn reading_order(order: &[usize], parents: &[Vec<usize>], layouts: &[Layout]) -> Vec<usize> {
    let mut chain = vec![0u64; layouts.len()];
    // Children come after their parents in `order`: walk it backwards.
    for &i in order.iter().rev() {
        let below = (0..layouts.len())
            .filter(|&c| parents[c].contains(&i))
            .map(|c| chain[c])
            .max()
            .unwrap_or(0);
        chain[i] = layouts[i].row_count.max(1) + below;
    }
    let mut reading = order.to_vec();
    reading.sort_by_key(|&i| std::cmp::Reverse(chain[i]));
    reading
}

/// Runs rounds: once, or every `watch` seconds until Ctrl-C.
pub fn run(
    source: &dyn Source,
    mapping: &Mapping,
    options: &SyncOptions,
    watch: Option<f64>,
    reporter: &Reporter,
) -> Result<RoundSummary> {
    let rerun = format!("godwit sync {} --to {}", source.display_name(), options.target);
    let mut syncer = retry::retrying(reporter, &rerun, &mut 0, || {
        Syncer::prepare(source, mapping, options, reporter)
    })?;
    let mut last: Option<RoundSummary> = None;
    loop {
        let summary = match syncer.round(None, reporter) {
            Ok((summary, _)) => summary,
            // Ctrl-C under --watch ends the loop; the round in flight left
            // the target at the previous snapshot.
            Err(Error::Interrupted) if watch.is_some() => {
                return last.ok_or(Error::Interrupted);
            }
            Err(e) => return Err(e),
        };
        reporter.emit(Event::SyncRound(Box::new(summary.clone())));
        last = Some(summary.clone());
        let Some(seconds) = watch else {
            return Ok(summary);
        };
        let until = Instant::now() + std::time::Duration::from_secs_f64(seconds.max(0.0));
        while Instant::now() < until {
            if interrupt::requested() {
                return Ok(summary);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
