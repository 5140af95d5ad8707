//! One worker's hot loop: read a chunk of rows from the source, encode
//! each value straight into binary COPY, stream it to PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use postgres::Client;

use crate::copy::rejects::{RejectRecord, RejectSink, json_of};
use crate::error::{Error, Result};
use crate::plan::types::breaks_speculation;
use crate::plan::{ColumnPlan, TablePlan};
use crate::postgres::binary_copy::begin_row;
use crate::postgres::copy::{BinaryCopy, FLUSH_BYTES, copy_statement};
use crate::postgres::encode::{Scratch, encode_value};
use crate::source::preview::value_preview;
use crate::source::{Flow, Reader, Row, RowBatch, RowBatcher, RowidRange, Scan, Selected, ValueRef};
use crate::sync::seed::{ChunkSeed, SeedPart, TableSeed};

/// Live counters for one table, read by the progress ticker.
#[derive(Default)]
pub struct TableProgress {
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
    pub rejects: AtomicU64,
    pub chunks_left: AtomicUsize,
    /// A chunk met a value its speculative type did not foresee.
    pub unforeseen: std::sync::Mutex<Option<(String, String)>>,
    pub started: std::sync::OnceLock<Instant>,
    pub finished_after: std::sync::OnceLock<f64>,
}

/// What one table's COPY needs, worked out once.
pub struct TableCopy<'a> {
    pub plan: &'a TablePlan,
    pub columns: Vec<&'a ColumnPlan>,
    /// Positions of the row-key columns in the select list.
    pub key_positions: Vec<usize>,
    /// Position of `rowid` in the select list, to name rows whose key is NULL.
    pub rowid_position: Option<usize>,
    pub select: Vec<Selected>,
    pub copy: String,
    /// COPY with FREEZE, for a table loaded whole in the transaction that
    /// truncates it: rows arrive frozen and all-visible, which measured
    /// ~40% faster and spares the later scans setting hint bits.
    pub copy_freeze: String,
    pub truncate: String,
}

impl<'a> TableCopy<'a> {
    pub fn new(schema: &str, plan: &'a TablePlan, plain_generated: &[String]) -> TableCopy<'a> {
        let columns: Vec<&ColumnPlan> = plan
            .columns
            .iter()
            .filter(|c| c.generated.is_none() || plain_generated.contains(&c.target))
            .collect();
        let mut select: Vec<Selected> = columns.iter().map(|c| Selected::Column(c.source.clone())).collect();
        let mut key_positions = Vec::new();
        for key in &plan.row_key {
            match columns.iter().position(|c| &c.source == key) {
                Some(p) => key_positions.push(p),
                None => {
                    key_positions.push(select.len());
                    select.push(if key == "rowid" {
                        Selected::Rowid
                    } else {
                        Selected::Column(key.clone())
                    });
                }
            }
        }
        let rowid_position = if plan.has_rowid && !plan.row_key.iter().any(|k| k == "rowid") {
            select.push(Selected::Rowid);
            Some(select.len() - 1)
        } else {
            None
        };
        let targets: Vec<&str> = columns.iter().map(|c| c.target.as_str()).collect();
        TableCopy {
            plan,
            key_positions,
            rowid_position,
            select,
            copy: copy_statement(schema, &plan.target, &targets, false),
            copy_freeze: copy_statement(schema, &plan.target, &targets, true),
            truncate: format!("TRUNCATE {}", crate::postgres::conn::qualified(schema, &plan.target)),
            columns,
        }
    }
}

/// How a chunk ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    Copied,
    /// A value broke the assumption a speculative column's type rests on:
    /// the table must be profiled, re-planned and loaded again.
    Unforeseen {
        column: String,
        why: String,
    },
}

/// How a chunk's COPY runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// In whatever transaction the session is in (or its own).
    Plain,
    /// The whole table in one transaction that truncates it first, with FREEZE.
    Freeze,
}

/// Which rows of a table a COPY carries, and how.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    /// `lo <= rowid < hi`, or every row.
    pub range: Option<RowidRange>,
    pub mode: CopyMode,
}

/// Copies one chunk of one table.
#[allow(clippy::too_many_arguments)]
pub fn copy_chunk(
    reader: &mut dyn Reader,
    pg: &mut Client,
    table: &TableCopy<'_>,
    chunk: Chunk,
    progress: &TableProgress,
    rejects: &RejectSink,
    seed: Option<&TableSeed>,
    should_stop: &dyn Fn() -> bool,
) -> Result<ChunkOutcome> {
    let freeze = chunk.mode == CopyMode::Freeze;
    if freeze {
        pg.batch_execute(&format!("BEGIN; {}", table.truncate))
            .map_err(|e| Error::pg(format!("preparing {} for COPY FREEZE", table.plan.target), &e))?;
    }
    let statement = if freeze { &table.copy_freeze } else { &table.copy };
    let mut copy = BinaryCopy::start(pg, statement, table.plan.target.clone())?;
    let scan = Scan {
        table: &table.plan.source,
        select: &table.select,
        rowids: chunk.range,
        order_by: None,
    };
    let mut fingerprints = seed.map(TableSeed::chunk);
    let outcome = stream_rows(
        reader,
        &scan,
        &mut copy,
        table,
        progress,
        rejects,
        seed,
        fingerprints.as_mut(),
        should_stop,
    );
    let finished = match outcome {
        Ok(ChunkOutcome::Copied) => {
            let mut refused = None;
            match (copy.finish_locating(&mut refused), refused) {
                (Ok(_), _) => {
                    if let Some(f) = fingerprints {
                        f.finish();
                    }
                    Ok(ChunkOutcome::Copied)
                }
                (Err(e), Some(n)) => Err(match refused_row_place(reader, &scan, table, n) {
                    Ok(Some(place)) => with_refused_row(e, &place),
                    _ => e,
                }),
                (Err(e), None) => Err(e),
            }
        }
        other => {
            copy.abort();
            other
        }
    };
    if freeze {
        let end = if matches!(finished, Ok(ChunkOutcome::Copied)) {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        pg.batch_execute(end)
            .map_err(|e| Error::pg(format!("committing COPY into {}", table.plan.target), &e))?;
    }
    finished
}

/// Where the `n`th row a COPY of this chunk sent came from (PostgreSQL
/// refused it): read the chunk again, passing over the rows the copy
/// rejected itself, as it did. The source's place for the row (a file and
/// line) when it has one, and the row's key.
fn refused_row_place(
    reader: &mut dyn Reader,
    scan: &Scan<'_>,
    table: &TableCopy<'_>,
    n: u64,
) -> Result<Option<String>> {
    let mut sent = 0u64;
    let mut found = None;
    let mut buf = Vec::new();
    let mut scratch = Scratch::default();
    reader.scan(scan, &mut |row: &dyn Row| {
        if row.problem().is_some() {
            return Ok(Flow::Continue);
        }
        buf.clear();
        let kept = table.columns.iter().enumerate().all(|(i, column)| {
            let value = row.value(i);
            !(column.not_null && value == ValueRef::Null)
                && encode_value(&mut buf, value, &column.cast, &mut scratch).is_ok()
        });
        if !kept {
            return Ok(Flow::Continue);
        }
        sent += 1;
        if sent < n {
            return Ok(Flow::Continue);
        }
        let key: Vec<String> = table
            .plan
            .row_key
            .iter()
            .zip(&table.key_positions)
            .map(|(name, pos)| format!("{name}={}", json_of(row.value(*pos))))
            .collect();
        found = Some(match (row.place(), key.is_empty()) {
            (Some(place), false) => format!("{place} ({})", key.join(", ")),
            (Some(place), true) => place,
            (None, _) => key.join(", "),
        });
        Ok(Flow::Stop)
    })?;
    Ok(found.filter(|f| !f.is_empty()))
}

fn with_refused_row(e: Error, place: &str) -> Error {
    match e {
        Error::Postgres {
            context,
            message,
            sqlstate,
        } => Error::Postgres {
            context: format!("{context}; the row it refused: {place}"),
            message,
            sqlstate,
        },
        other => other,
    }
}

/// How a table's rows are encoded, owned so that a source's reading
/// threads can encode rows ([`Reader::scan_batched`]).
struct RowEncoding {
    columns: Vec<ColumnPlan>,
    /// The row key's names and positions in the select list.
    key: Vec<(String, usize)>,
    rowid_position: Option<usize>,
}

impl RowEncoding {
    fn of(table: &TableCopy<'_>) -> RowEncoding {
        RowEncoding {
            columns: table.columns.iter().map(|c| (*c).clone()).collect(),
            key: table
                .plan
                .row_key
                .iter()
                .cloned()
                .zip(table.key_positions.iter().copied())
                .collect(),
            rowid_position: table.rowid_position,
        }
    }
}

/// What became of one row.
enum RowEnd {
    Sent,
    Rejected(Box<Rejection>),
    /// A speculative column's type does not hold.
    Unforeseen {
        column: String,
        why: String,
    },
}

/// A row the copy leaves out, and why.
struct Rejection {
    key: serde_json::Map<String, serde_json::Value>,
    column: String,
    reason: String,
    value: String,
}

/// Encodes one row at the end of `buf` (left as it was unless Sent).
fn encode_row(buf: &mut Vec<u8>, scratch: &mut Scratch, encoding: &RowEncoding, row: &dyn Row) -> RowEnd {
    let row_start = buf.len();
    begin_row(buf, encoding.columns.len());
    let mut rejected = row.problem().map(|p| {
        let column = p.column.clone().unwrap_or_else(|| "(record)".into());
        (column, p.reason.clone(), p.value.clone())
    });
    for (i, column) in encoding.columns.iter().enumerate() {
        if rejected.is_some() {
            break;
        }
        let value = row.value(i);
        if column.speculative && breaks_speculation(&column.cast, value) {
            buf.truncate(row_start);
            return RowEnd::Unforeseen {
                column: column.source.clone(),
                why: format!("holds {}", value_preview(value)),
            };
        }
        let result = if column.not_null && value == ValueRef::Null {
            Err("NULL in a NOT NULL column".to_string())
        } else {
            encode_value(buf, value, &column.cast, scratch)
        };
        if let Err(reason) = result {
            if column.speculative {
                buf.truncate(row_start);
                return RowEnd::Unforeseen {
                    column: column.source.clone(),
                    why: reason,
                };
            }
            rejected = Some((column.source.clone(), reason, value_preview(value)));
        }
    }
    let Some((column, reason, value)) = rejected else {
        return RowEnd::Sent;
    };
    buf.truncate(row_start);
    let mut key = serde_json::Map::new();
    for (name, pos) in &encoding.key {
        key.insert(name.clone(), json_of(row.value(*pos)));
    }
    if let Some(pos) = encoding
        .rowid_position
        .filter(|_| key.values().any(serde_json::Value::is_null))
    {
        key.insert("rowid".into(), json_of(row.value(pos)));
    }
    RowEnd::Rejected(Box::new(Rejection {
        key,
        column,
        reason,
        value,
    }))
}

fn record_reject(rejects: &RejectSink, table: &TableCopy<'_>, progress: &TableProgress, r: Rejection) -> Result<()> {
    rejects.record(&RejectRecord {
        table: &table.plan.source,
        key: r.key,
        column: &r.column,
        reason: &r.reason,
        value: r.value,
    })?;
    progress.rejects.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Rows encoded on the source's thread that read them.
struct EncodedBatch {
    encoding: Arc<RowEncoding>,
    buf: Vec<u8>,
    scratch: Scratch,
    rows: u64,
    /// Rows left out, in order.
    rejects: Vec<Rejection>,
    unforeseen: Option<(String, String)>,
    /// The sync fingerprints of the rows sent, when the copy takes them.
    seed: Option<SeedPart>,
}

impl RowBatch for EncodedBatch {
    fn row(&mut self, row: &dyn Row) -> Flow {
        match encode_row(&mut self.buf, &mut self.scratch, &self.encoding, row) {
            RowEnd::Sent => {
                self.rows += 1;
                if let Some(seed) = self.seed.as_mut() {
                    seed.row(row);
                }
            }
            RowEnd::Rejected(r) => {
                if let Some(seed) = self.seed.as_mut() {
                    seed.left_out();
                }
                self.rejects.push(*r);
            }
            RowEnd::Unforeseen { column, why } => {
                self.unforeseen = Some((column, why));
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    fn full(&self) -> bool {
        self.buf.len() >= FLUSH_BYTES
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// Makes the [`EncodedBatch`]es of one chunk.
struct Encoder<'s> {
    encoding: Arc<RowEncoding>,
    seed: Option<&'s TableSeed>,
}

impl RowBatcher for Encoder<'_> {
    fn batch(&self) -> Box<dyn RowBatch> {
        Box::new(EncodedBatch {
            encoding: self.encoding.clone(),
            buf: Vec::with_capacity(64 * 1024),
            scratch: Scratch::default(),
            rows: 0,
            rejects: Vec::new(),
            unforeseen: None,
            seed: self.seed.map(TableSeed::part),
        })
    }
}

/// Encodes rows into the COPY until the chunk ends or a value stops it.
#[allow(clippy::too_many_arguments)]
fn stream_rows(
    reader: &mut dyn Reader,
    scan: &Scan<'_>,
    copy: &mut BinaryCopy<'_>,
    table: &TableCopy<'_>,
    progress: &TableProgress,
    rejects: &RejectSink,
    seed: Option<&TableSeed>,
    mut fingerprints: Option<&mut ChunkSeed<'_>>,
    should_stop: &dyn Fn() -> bool,
) -> Result<ChunkOutcome> {
    let encoding = Arc::new(RowEncoding::of(table));
    {
        let mut outcome = ChunkOutcome::Copied;
        let encoder = Encoder {
            encoding: encoding.clone(),
            seed,
        };
        let batched = reader.scan_batched(scan, &encoder, &mut |batch| {
            let batch = batch
                .into_any()
                .downcast::<EncodedBatch>()
                .map_err(|_| Error::Other("a batch of rows of another kind".into()))?;
            let EncodedBatch {
                buf,
                rows,
                rejects: left_out,
                unforeseen,
                seed: part,
                ..
            } = *batch;
            if let (Some(f), Some(part)) = (fingerprints.as_deref_mut(), part) {
                f.add(part);
            }
            for r in left_out {
                record_reject(rejects, table, progress, r)?;
            }
            if let Some((column, why)) = unforeseen {
                outcome = ChunkOutcome::Unforeseen { column, why };
                return Ok(Flow::Stop);
            }
            copy.write(&buf)?;
            progress.rows.fetch_add(rows, Ordering::Relaxed);
            progress.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            if should_stop() {
                return Err(Error::Interrupted);
            }
            Ok(Flow::Continue)
        })?;
        if batched {
            return Ok(outcome);
        }
    }
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_BYTES + 64 * 1024);
    let mut scratch = Scratch::default();
    let mut pending_rows = 0u64;
    let mut outcome = ChunkOutcome::Copied;
    reader.scan(scan, &mut |row: &dyn Row| {
        let end = encode_row(&mut buf, &mut scratch, &encoding, row);
        if let Some(f) = fingerprints.as_deref_mut() {
            match end {
                RowEnd::Sent => f.row(row),
                RowEnd::Rejected(_) => f.left_out(),
                RowEnd::Unforeseen { .. } => {}
            }
        }
        match end {
            RowEnd::Sent => pending_rows += 1,
            RowEnd::Rejected(r) => record_reject(rejects, table, progress, *r)?,
            RowEnd::Unforeseen { column, why } => {
                outcome = ChunkOutcome::Unforeseen { column, why };
                return Ok(Flow::Stop);
            }
        }
        if buf.len() >= FLUSH_BYTES {
            copy.write(&buf)?;
            progress.rows.fetch_add(pending_rows, Ordering::Relaxed);
            progress.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
            pending_rows = 0;
            buf.clear();
            if should_stop() {
                return Err(Error::Interrupted);
            }
        }
        Ok(Flow::Continue)
    })?;
    if outcome != ChunkOutcome::Copied {
        return Ok(outcome);
    }
    copy.write(&buf)?;
    progress.rows.fetch_add(pending_rows, Ordering::Relaxed);
    progress.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
    Ok(ChunkOutcome::Copied)
}
