//! The round's one transaction, written while the source is still being
//! read (large tables send their changes in parts), so the target's
//! writing overlaps the local reading instead of following it.
//!
//! Order ([`Writer::pump`]): updates that keep their foreign keys as soon
//! as they are found; new rows once the tables they reference are
//! written; updates that move a row to another parent after the table's
//! new rows; deletes children first at the end. A child moved to another
//! parent is moved before its old parent goes, which an `ON DELETE
//! CASCADE` would otherwise take with it. When a row takes a unique value
//! that a row deleted in the same round still holds, the round is read
//! again keeping its rows and written in a fresh transaction in another
//! order (see [`AFTER_A_UNIQUE_CONFLICT`]). Every statement must touch
//! exactly the rows the comparison found (see [`apply`]); the target is at
//! the previous snapshot until the commit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crossbeam_channel::Receiver;
use postgres::{Client, Transaction};

use crate::error::{Error, Result};
use crate::report::interrupt;
use crate::sync::apply;
use crate::sync::diff::TableDiff;
use crate::sync::state::{self, TableState};
use crate::verify::layout::Layout;

/// What the writer needs to know of the round's tables.
pub struct Tables<'a> {
    pub schema: &'a str,
    pub layouts: &'a [Layout],
    /// Layout indexes, parents first.
    pub order: &'a [usize],
    /// Per layout: the layouts it references that come before it in `order`
    /// (a cycle is cut where `order` cuts it).
    pub parents: &'a [Vec<usize>],
    /// Per layout: it references itself, so its new rows go in together.
    pub self_referencing: &'a [bool],
    /// sqlite_sequence of AUTOINCREMENT tables: sequences move past it.
    pub floors: &'a [Option<i64>],
    pub stored: &'a HashMap<String, TableState>,
}

/// A part of a table's diff from a reader; `last` brings the table's state.
pub type Part = (usize, TableDiff, bool);

/// How the round ended on the target's side.
pub struct Written {
    /// Each table's parts, together (without the rows already written,
    /// unless kept).
    pub diffs: HashMap<usize, TableDiff>,
    /// Rolled back on a unique conflict: the round must run again keeping
    /// its rows, so that it can write them in another order.
    pub again_keeping_rows: bool,
    /// Committed something (changes or fingerprints).
    pub wrote: bool,
    /// From the first statement to the commit.
    pub seconds: f64,
}

/// Gathers parts without writing (cutover's check compares only).
pub fn collect(arriving: Receiver<Part>) -> Written {
    let mut diffs: HashMap<usize, TableDiff> = HashMap::new();
    for (i, part, last) in arriving.iter() {
        diffs.entry(i).or_default().absorb(part, last);
    }
    Written {
        diffs,
        again_keeping_rows: false,
        wrote: false,
        seconds: 0.0,
    }
}

/// Whether a diff asks for any statement.
fn writes(d: &TableDiff) -> bool {
    d.changes() > 0 || d.state.writes_anything()
}

fn begin(control: &mut Client) -> Result<Transaction<'_>> {
    let mut tx = control
        .transaction()
        .map_err(|e| Error::pg("starting the round's transaction", &e))?;
    tx.batch_execute("SET LOCAL lock_timeout = '30s'; SET CONSTRAINTS ALL DEFERRED")
        .map_err(|e| Error::pg("starting the round's transaction", &e))?;
    Ok(tx)
}

fn commit(tx: Transaction<'_>) -> Result<()> {
    if interrupt::requested() {
        return Err(Error::Interrupted);
    }
    tx.commit().map_err(|e| Error::pg("committing the round", &e))
}

/// Where the writing of one table stands.
#[derive(Default, Clone)]
struct Progress {
    /// Rows of the gathered diff already written (or staged).
    updates: usize,
    inserts: usize,
    moves: usize,
    /// Keys of deleted rows already staged.
    deletes: usize,
    /// Its last part arrived.
    complete: bool,
    /// Complete, and everything but the deletes written.
    done: bool,
}

/// How a table's rows are written.
enum Route {
    /// Not decided yet (the table has sent no rows).
    Unknown,
    /// Staged, then one statement each for rows and deletes ([`apply::Stage`]).
    Staged(apply::Stage),
    /// Statement by kind of change, as they are found ([`apply::update`]).
    Direct,
}

struct Writer<'a> {
    tables: &'a Tables<'a>,
    diffs: HashMap<usize, TableDiff>,
    progress: Vec<Progress>,
    routes: Vec<Route>,
    /// Whether tables that can are written through a stage (not when the
    /// round is written again after a unique conflict, pass by pass).
    staging: bool,
    /// Keep written rows, to write the round again after a unique
    /// conflict; otherwise they are dropped once written.
    keep_rows: bool,
    /// Scratch tables are named by this counter: a table may be written
    /// in several parts within the one transaction.
    statements: usize,
}

impl Writer<'_> {
    fn new<'a>(tables: &'a Tables<'a>, keep_rows: bool) -> Writer<'a> {
        Writer {
            tables,
            diffs: HashMap::new(),
            progress: vec![Progress::default(); tables.layouts.len()],
            routes: tables.layouts.iter().map(|_| Route::Unknown).collect(),
            staging: true,
            keep_rows,
            statements: 0,
        }
    }

    /// Writes what is ready, parents first. A staged table's rows go into
    /// its stage as they are found, and into the table in one statement
    /// once the table is complete and its parents are written. Otherwise:
    /// updates that keep every foreign key refer to rows the target has,
    /// so they are written as found; new rows wait for the table's parents
    /// (and, in a table that references itself, for the whole table: one
    /// may refer to another found later); updates that change a foreign
    /// key come last, once the table is complete, since they may refer to
    /// its new rows. Then sequences and fingerprints.
    fn pump(&mut self, tx: &mut Transaction<'_>) -> Result<()> {
        let tables = self.tables;
        for &i in tables.order {
            if self.progress[i].done {
                continue;
            }
            let parents_done = tables.parents[i].iter().all(|&p| self.progress[p].done);
            let Some(d) = self.diffs.get_mut(&i) else { continue };
            let layout = &tables.layouts[i];
            let progress = &mut self.progress[i];
            let finishing = parents_done && progress.complete;
            // Decided once a table has rows to write: a quiet table asks nothing.
            if matches!(self.routes[i], Route::Unknown) && d.changes() > 0 {
                self.statements += 1;
                self.routes[i] = if self.staging && apply::can_stage(tx, tables.schema, layout)? {
                    Route::Staged(apply::Stage::new(self.statements))
                } else {
                    Route::Direct
                };
            }
            match &mut self.routes[i] {
                Route::Staged(stage) => {
                    stage.rows(tx, tables.schema, layout, &d.updates[progress.updates..], true)?;
                    progress.updates = d.updates.len();
                    stage.rows(tx, tables.schema, layout, &d.moves[progress.moves..], true)?;
                    progress.moves = d.moves.len();
                    stage.rows(tx, tables.schema, layout, &d.inserts[progress.inserts..], false)?;
                    progress.inserts = d.inserts.len();
                    stage.deletes(tx, tables.schema, layout, &d.deletes[progress.deletes..])?;
                    progress.deletes = d.deletes.len();
                    if finishing {
                        stage.upsert(tx, tables.schema, layout)?;
                    }
                }
                Route::Direct | Route::Unknown => {
                    if progress.updates < d.updates.len() {
                        self.statements += 1;
                        apply::update(
                            tx,
                            tables.schema,
                            layout,
                            &d.updates[progress.updates..],
                            self.statements,
                        )?;
                        progress.updates = d.updates.len();
                    }
                    let inserts_ready = parents_done && (progress.complete || !tables.self_referencing[i]);
                    if inserts_ready && progress.inserts < d.inserts.len() {
                        apply::insert(tx, tables.schema, layout, &d.inserts[progress.inserts..])?;
                        progress.inserts = d.inserts.len();
                    }
                    if finishing && progress.moves < d.moves.len() {
                        self.statements += 1;
                        apply::update(tx, tables.schema, layout, &d.moves[progress.moves..], self.statements)?;
                        progress.moves = d.moves.len();
                    }
                }
            }
            if !self.keep_rows {
                // Memory holds only what is not written yet (a round far
                // behind its source can change millions of rows).
                d.written_updates += (progress.updates + progress.moves) as u64;
                d.written_inserts += progress.inserts as u64;
                d.written_deletes += progress.deletes as u64;
                d.updates.drain(..progress.updates);
                d.moves.drain(..progress.moves);
                d.inserts.drain(..progress.inserts);
                d.deletes.drain(..progress.deletes);
                progress.updates = 0;
                progress.moves = 0;
                progress.inserts = 0;
                progress.deletes = 0;
            }
            if finishing {
                if d.inserted() + d.updated() > 0 {
                    apply::move_sequences(tx, tables.schema, layout, tables.floors[i])?;
                }
                if writes(d) {
                    let name = &layout.source_table;
                    state::write(tx, tables.schema, name, tables.stored.get(name), &d.state)?;
                }
                progress.done = true;
            }
        }
        Ok(())
    }

    /// Every table of the round was read to its end and written: a round
    /// missing one must not commit.
    fn all_done(&self) -> Result<()> {
        match self.progress.iter().position(|p| !p.done) {
            Some(i) => Err(Error::Other(format!(
                "table {} was not read to its end; the round wrote nothing",
                self.tables.layouts[i].source_table
            ))),
            None => Ok(()),
        }
    }

    /// Deletes, children first.
    fn deletes(&mut self, tx: &mut Transaction<'_>) -> Result<()> {
        for &i in self.tables.order.iter().rev() {
            if let Route::Staged(stage) = &mut self.routes[i] {
                stage.delete(tx, self.tables.schema, &self.tables.layouts[i])?;
                continue;
            }
            if let Some(d) = self.diffs.get(&i) {
                self.statements += 1;
                apply::delete(
                    tx,
                    self.tables.schema,
                    &self.tables.layouts[i],
                    &d.deletes,
                    &d.delete_ctids,
                    self.statements,
                )?;
            }
        }
        Ok(())
    }

    /// The whole round again in a fresh transaction, in the given order of
    /// passes over the tables (each parents first, deletes children first).
    fn rewrite(&mut self, control: &mut Client, passes: &[Pass]) -> Result<()> {
        let mut tx = begin(control)?;
        let tables = self.tables;
        self.progress = vec![Progress::default(); tables.layouts.len()];
        // Written kind by kind, in the passes' order; the stages of the
        // rolled-back transaction are gone.
        self.staging = false;
        self.routes = tables.layouts.iter().map(|_| Route::Direct).collect();
        for pass in passes {
            if *pass == Pass::Deletes {
                self.deletes(&mut tx)?;
                continue;
            }
            for &i in tables.order {
                let Some(d) = self.diffs.get(&i) else { continue };
                let layout = &tables.layouts[i];
                let rows = match pass {
                    Pass::Updates => &d.updates,
                    Pass::Moves => &d.moves,
                    Pass::Inserts => {
                        apply::insert(&mut tx, tables.schema, layout, &d.inserts)?;
                        continue;
                    }
                    Pass::Deletes => continue,
                };
                self.statements += 1;
                apply::update(&mut tx, tables.schema, layout, rows, self.statements)?;
            }
        }
        for i in 0..tables.layouts.len() {
            self.progress[i] = Progress {
                updates: self.diffs.get(&i).map_or(0, |d| d.updates.len()),
                inserts: self.diffs.get(&i).map_or(0, |d| d.inserts.len()),
                moves: self.diffs.get(&i).map_or(0, |d| d.moves.len()),
                deletes: self.diffs.get(&i).map_or(0, |d| d.deletes.len()),
                complete: true,
                done: false,
            };
        }
        // Only sequences and fingerprints are left to write.
        self.pump(&mut tx)?;
        commit(tx)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Updates that keep their foreign keys.
    Updates,
    /// Updates that change one.
    Moves,
    Inserts,
    Deletes,
}

/// Orders to write the round in when a unique value is still held by a
/// row the round deletes. Rows moved to an existing parent are moved
/// before the old parent goes (a cascade would take them), so updates
/// come before deletes; then, for an update taking a freed value (or a
/// row moved to a new parent), deletes first and moves last.
const AFTER_A_UNIQUE_CONFLICT: [[Pass; 4]; 2] = [
    [Pass::Updates, Pass::Moves, Pass::Deletes, Pass::Inserts],
    [Pass::Deletes, Pass::Updates, Pass::Inserts, Pass::Moves],
];

/// SQLSTATE unique_violation.
const UNIQUE_VIOLATION: &str = "23505";

/// Writes parts as they arrive until every reader is done, then the
/// deletes, and commits. Nothing is committed when a reader failed (the
/// error is in `failed`), a diff asks for planning again, or the round was
/// interrupted; the diffs come back with `wrote` false.
pub fn write_as_they_come(
    control: &mut Client,
    tables: &Tables<'_>,
    arriving: Receiver<Part>,
    failed: &Mutex<Option<Error>>,
    keep_rows: bool,
) -> Result<Written> {
    let mut writer = Writer::new(tables, keep_rows);
    let mut started: Option<Instant> = None;
    // A unique value still held by a row this round deletes kills the
    // transaction: the rest is only gathered, then written in another
    // order (or, when rows were dropped, read again).
    let mut conflict: Option<Error> = None;
    // Readers that stop early (an error, Ctrl-C) leave tables out: such a
    // round must not commit.
    let stopped = |diffs: &HashMap<usize, TableDiff>| {
        failed.lock().unwrap_or_else(|p| p.into_inner()).is_some()
            || interrupt::requested()
            || diffs.values().any(|d| d.speculation_broken)
    };
    let mut tx = begin(control)?;
    for (i, part, last) in arriving.iter() {
        writer.diffs.entry(i).or_default().absorb(part, last);
        writer.progress[i].complete |= last;
        if conflict.is_some() || stopped(&writer.diffs) {
            continue;
        }
        if writer.diffs.values().any(writes) {
            started.get_or_insert_with(Instant::now);
        }
        match writer.pump(&mut tx) {
            Ok(()) => {}
            Err(e) if e.sqlstate() == Some(UNIQUE_VIOLATION) => conflict = Some(e),
            // The readers stop at their next table.
            Err(e) => {
                failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
            }
        }
    }
    let seconds = || started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    if stopped(&writer.diffs) || !writer.diffs.values().any(writes) {
        drop(tx);
        return Ok(Written {
            seconds: seconds(),
            diffs: writer.diffs,
            again_keeping_rows: false,
            wrote: false,
        });
    }
    let upserts_first = match conflict {
        Some(e) => Err(e),
        None => writer
            .pump(&mut tx)
            .and_then(|()| writer.all_done())
            .and_then(|()| writer.deletes(&mut tx)),
    };
    match upserts_first {
        Ok(()) => commit(tx)?,
        Err(e) if e.sqlstate() != Some(UNIQUE_VIOLATION) => return Err(e),
        Err(_) if !keep_rows => {
            drop(tx);
            return Ok(Written {
                seconds: seconds(),
                diffs: writer.diffs,
                again_keeping_rows: true,
                wrote: false,
            });
        }
        Err(mut conflict) => {
            drop(tx);
            let mut done = false;
            for passes in &AFTER_A_UNIQUE_CONFLICT {
                match writer.rewrite(control, passes) {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err(e) if e.sqlstate() == Some(UNIQUE_VIOLATION) => conflict = e,
                    Err(e) => return Err(e),
                }
            }
            if !done {
                return Err(conflict);
            }
        }
    }
    Ok(Written {
        seconds: seconds(),
        diffs: writer.diffs,
        again_keeping_rows: false,
        wrote: true,
    })
}
