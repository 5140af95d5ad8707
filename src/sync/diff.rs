//! One table of a round: fingerprint the source's key ranges, and for the
//! ranges whose fingerprint moved, compare the source's rows (encoded by
//! the copy's own encoder) with the target's, giving the rows to insert,
//! update and delete.
//!
//! Fingerprints hash the source's raw values, so an unchanged range costs
//! one local read. A keyed table whose first key column is an integer is
//! scanned in key order and cut into buckets of consecutive key values;
//! the rows of the current bucket are kept until its fingerprint is known,
//! so a changed bucket is compared without reading the source again. Other
//! tables (no key: compared as content multisets; keys of other types)
//! have one fingerprint and, when it moves, are compared whole.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};

use postgres::Client;

use crate::error::{Error, Result};
use crate::hash::hash_of;
use crate::plan::types::Cast;
use crate::postgres::conn::qualified;
use crate::postgres::conn::quote_ident;
use crate::postgres::encode::{Scratch, encode_value};
use crate::source::json_of;
use crate::source::pages::PageMap;
use crate::source::preview::value_preview;
use crate::source::{Flow, Reader, Scan, Selected, ValueRef};
use crate::sync::state::{NewState, TableState};
use crate::verify::layout::Layout;
use crate::verify::value::{fields, push_canonical, push_field, push_key_field};

/// Rows of changed buckets gathered before they are compared in one go,
/// and their size at most (tables of large BLOBs).
const FLUSH_ROWS: usize = 20_000;
const FLUSH_BYTES: usize = 8 << 20;
/// Buckets compared per target query.
const FLUSH_BUCKETS: usize = 2_000;
/// Bytes of source rows a bucket aims at when a table is first synced
/// (about 8 rows of the usual 100-200 bytes): a changed range then costs
/// about the same to compare whatever its rows' width, one 10 kB row
/// rather than eight.
const BUCKET_BYTES: u64 = 1024;
/// The rows a bucket holds at most (narrow rows: a changed bucket is still
/// compared row by row) and when the table's size is not known.
const MAX_ROWS_PER_BUCKET: u64 = 32;
const ROWS_PER_BUCKET: u64 = 8;

/// What a round must do to one table.
#[derive(Debug, Default)]
pub struct TableDiff {
    /// Rows as framed COPY fields, one per layout column.
    pub inserts: Vec<Vec<u8>>,
    /// Updates that keep every foreign-key column: they refer to rows the
    /// target has now, so they can be written whenever they are found.
    pub updates: Vec<Vec<u8>>,
    /// Updates that change a foreign-key column: written once the table's
    /// parents and its own new rows are.
    pub moves: Vec<Vec<u8>>,
    /// Keys (framed COPY fields of the key columns) of rows to delete.
    pub deletes: Vec<Vec<u8>>,
    /// Rows of a keyless table to delete, by their place (`ctid`).
    pub delete_ctids: Vec<String>,
    pub state: NewState,
    /// Ranges whose rows were compared, and ranges in all.
    pub ranges_read: u64,
    pub ranges: u64,
    /// Buckets where rows differed (the whole table: `whole_changed`).
    pub changed_buckets: HashSet<i64>,
    pub whole_changed: bool,
    /// A date or time column planned without profiling held an epoch
    /// number: the round stops and the source is planned again.
    pub speculation_broken: bool,
    /// Time spent comparing changed ranges with the target.
    pub compare_seconds: f64,
    /// Source rows read and hashed (rows on unchanged pages are not).
    pub rows_read: u64,
    /// Rows already written by the round's transaction and dropped from
    /// `inserts` and `updates` (see `sync::transaction`).
    pub written_inserts: u64,
    pub written_updates: u64,
    /// Keys of deleted rows staged and dropped from `deletes`.
    pub written_deletes: u64,
}

impl TableDiff {
    pub fn changes(&self) -> u64 {
        self.inserted() + self.updated() + self.deleted()
    }

    pub fn inserted(&self) -> u64 {
        self.inserts.len() as u64 + self.written_inserts
    }

    pub fn updated(&self) -> u64 {
        (self.updates.len() + self.moves.len()) as u64 + self.written_updates
    }

    pub fn deleted(&self) -> u64 {
        (self.deletes.len() + self.delete_ctids.len()) as u64 + self.written_deletes
    }

    /// The rows found so far, leaving the counters and the state.
    fn take_rows(&mut self) -> TableDiff {
        TableDiff {
            inserts: std::mem::take(&mut self.inserts),
            updates: std::mem::take(&mut self.updates),
            moves: std::mem::take(&mut self.moves),
            deletes: std::mem::take(&mut self.deletes),
            delete_ctids: std::mem::take(&mut self.delete_ctids),
            ..TableDiff::default()
        }
    }

    /// Adds a later part of the same table; the last part brings the
    /// table's new state.
    pub fn absorb(&mut self, part: TableDiff, last: bool) {
        self.inserts.extend(part.inserts);
        self.updates.extend(part.updates);
        self.moves.extend(part.moves);
        self.deletes.extend(part.deletes);
        self.delete_ctids.extend(part.delete_ctids);
        self.ranges_read += part.ranges_read;
        self.ranges += part.ranges;
        self.changed_buckets.extend(part.changed_buckets);
        self.whole_changed |= part.whole_changed;
        self.speculation_broken |= part.speculation_broken;
        self.compare_seconds += part.compare_seconds;
        self.rows_read += part.rows_read;
        if last {
            self.state = part.state;
        }
    }
}

/// Ranges to compare whatever their fingerprints say (cutover's check).
#[derive(Debug, Clone, Default)]
pub struct Forced {
    pub buckets: HashSet<i64>,
    pub whole: bool,
}

pub struct Work<'a> {
    pub layout: &'a Layout,
    pub schema: &'a str,
    pub old: Option<&'a TableState>,
    pub signature: String,
    pub force: Option<&'a Forced>,
    /// Per column: its cast assumed text dates (see [`TableDiff::speculation_broken`]).
    pub speculative: &'a [bool],
    /// Takes the rows found so far while a large table is still being
    /// read, so they can be written meanwhile; what [`diff_table`] returns
    /// is the rest, the counters and the new state.
    pub emit: &'a dyn Fn(TableDiff),
    /// Positions of the columns in a foreign key (see [`TableDiff::moves`]).
    pub fk_columns: &'a [usize],
}

/// Whether a value breaks a column's assumed date or time text.
fn breaks(work: &Work<'_>, column: usize, value: ValueRef<'_>) -> bool {
    work.speculative.get(column).copied().unwrap_or(false) && matches!(value, ValueRef::Integer(_) | ValueRef::Real(_))
}

/// The position of the integer key column buckets are cut on, when the
/// table has one and both sides order it the same way.
pub fn bucket_column(layout: &Layout) -> Option<usize> {
    let key = layout.key.as_ref()?;
    let first = *key.first()?;
    (layout.orderable && matches!(layout.columns[first].cast, Cast::Integer { .. })).then_some(first)
}

pub fn diff_table(reader: &mut dyn Reader, pg: &mut Client, work: &Work<'_>) -> Result<TableDiff> {
    if !work.layout.target_exists {
        return Err(Error::Usage(format!(
            "table {} has no table in the target schema {}: sync keeps a copy in step; run godwit copy first",
            work.layout.source_table, work.schema
        )));
    }
    let old = work.old.filter(|o| o.signature == work.signature);
    match bucket_column(work.layout) {
        Some(column) => by_buckets(reader, pg, work, old, column),
        None => whole(reader, pg, work, old),
    }
}

// ---- raw rows: the source's values as read, for fingerprints ------------

pub(crate) fn push_raw(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => out.push(0),
        ValueRef::Integer(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_be_bytes());
        }
        ValueRef::Real(f) => {
            out.push(2);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            out.push(if matches!(value, ValueRef::Text(_)) { 3 } else { 4 });
            out.extend_from_slice(&u32::try_from(t.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(t);
        }
    }
}

/// Reads back one value written by [`push_raw`].
fn pop_raw(data: &[u8]) -> (ValueRef<'_>, &[u8]) {
    let eight = |d: &[u8]| {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&d[..8]);
        raw
    };
    match data[0] {
        1 => (ValueRef::Integer(i64::from_be_bytes(eight(&data[1..]))), &data[9..]),
        2 => (
            ValueRef::Real(f64::from_bits(u64::from_be_bytes(eight(&data[1..])))),
            &data[9..],
        ),
        tag @ (3 | 4) => {
            let len = usize::try_from(u32::from_be_bytes([data[1], data[2], data[3], data[4]])).unwrap_or(0);
            let bytes = &data[5..5 + len];
            let value = if tag == 3 {
                ValueRef::Text(bytes)
            } else {
                ValueRef::Blob(bytes)
            };
            (value, &data[5 + len..])
        }
        _ => (ValueRef::Null, &data[1..]),
    }
}

/// A source row encoded as the copy writes it.
struct Encoded {
    key: Vec<u8>,
    fields: Vec<u8>,
    canonical: u64,
    /// A hash of the foreign-key columns' fields.
    references: u64,
}

struct Encoder<'a> {
    layout: &'a Layout,
    fk_columns: &'a [usize],
    scratch: Scratch,
    one: Vec<u8>,
    canonical: Vec<u8>,
}

impl<'a> Encoder<'a> {
    fn new(layout: &'a Layout, fk_columns: &'a [usize]) -> Encoder<'a> {
        Encoder {
            layout,
            fk_columns,
            scratch: Scratch::default(),
            one: Vec::new(),
            canonical: Vec::new(),
        }
    }

    fn encode(&mut self, values: &[ValueRef<'_>]) -> Result<Encoded> {
        let layout = self.layout;
        let mut row = Vec::with_capacity(24 * values.len());
        for (i, column) in layout.columns.iter().enumerate() {
            let value = values[i];
            self.one.clear();
            let result = if column.not_null && value == ValueRef::Null {
                Err("NULL in a NOT NULL column".to_string())
            } else {
                encode_value(&mut self.one, value, &column.cast, &mut self.scratch)
            };
            if let Err(reason) = result {
                let key: Vec<serde_json::Value> = layout
                    .key
                    .as_ref()
                    .map(|k| k.iter().map(|&p| json_of(values[p])).collect())
                    .unwrap_or_default();
                return Err(Error::Other(format!(
                    "table {}, row {}, column {}: {reason} (value: {}); the round wrote nothing. \
                     Fix the row in the source, or add a [[cast]] in godwit.toml",
                    layout.source_table,
                    serde_json::Value::Array(key),
                    column.source,
                    value_preview(value)
                )));
            }
            row.extend_from_slice(&self.one);
        }
        Ok(self.finish(row))
    }

    /// Key bytes and canonical hash of a row of framed fields (either side).
    fn finish(&mut self, row: Vec<u8>) -> Encoded {
        let layout = self.layout;
        let split = fields(&row);
        let mut key = Vec::new();
        if let Some(positions) = &layout.key {
            for &p in positions {
                push_key_field(&mut key, layout.columns[p].kind, split.get(p).copied().flatten());
            }
        }
        self.canonical.clear();
        for (i, field) in split.iter().enumerate() {
            push_canonical(&mut self.canonical, layout.columns[i].kind, *field);
        }
        let canonical = hash_of(&self.canonical);
        self.canonical.clear();
        for &p in self.fk_columns {
            push_field(&mut self.canonical, split.get(p).copied().flatten());
        }
        let references = hash_of(&self.canonical);
        Encoded {
            key,
            fields: row,
            canonical,
            references,
        }
    }

    /// The framed key fields of a row, for deleting it.
    fn key_fields(&self, row: &[u8]) -> Vec<u8> {
        let split = fields(row);
        let mut out = Vec::new();
        for &p in self.layout.key.as_deref().unwrap_or(&[]) {
            push_field(&mut out, split.get(p).copied().flatten());
        }
        out
    }
}

fn select_of(layout: &Layout) -> Vec<Selected> {
    layout
        .columns
        .iter()
        .map(|c| Selected::Column(c.source.clone()))
        .collect()
}

fn column_list(layout: &Layout, prefix: &str) -> String {
    layout
        .columns
        .iter()
        .map(|c| format!("{prefix}{}", quote_ident(&c.target)))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- bucketed tables ----------------------------------------------------

/// Changed buckets waiting to be compared.
#[derive(Default)]
struct Batch {
    buckets: Vec<Pending>,
    rows: usize,
    bytes: usize,
}

/// A bucket whose fingerprint moved, with its raw rows.
#[derive(Default)]
struct Pending {
    bucket: i64,
    hash: u64,
    raw: Vec<u8>,
    rows: usize,
    /// The keys compared with the target: the bucket's own, or, on a
    /// table's first round, also the keys since the previous bucket the
    /// source has rows in (see [`Span`]).
    span: Span,
}

/// Inclusive key bounds of a compared range.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    lo: i64,
    hi: i64,
    /// Whether the range is a bucket whose fingerprint is recorded; the
    /// tail past the source's last bucket is not.
    records: bool,
}

impl Span {
    /// The keys of buckets `from..=to`, within the bigint range.
    fn buckets(from: i64, to: i64, width: i64) -> Span {
        let lo = i128::from(from) * i128::from(width);
        let hi = i128::from(to) * i128::from(width) + i128::from(width) - 1;
        let clamp = |v: i128| i64::try_from(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or(i64::MAX);
        Span {
            lo: clamp(lo),
            hi: clamp(hi),
            records: true,
        }
    }
}

fn by_buckets(
    reader: &mut dyn Reader,
    pg: &mut Client,
    work: &Work<'_>,
    old: Option<&TableState>,
    column: usize,
) -> Result<TableDiff> {
    let layout = work.layout;
    let width = match old {
        Some(o) if o.width > 0 => o.width,
        _ => initial_width(reader, layout)?,
    };
    // Fingerprints the target is known to hold. A bucket without one is
    // empty in the target only once a round has compared every key: so a
    // round without them (the table's first, or its layout changed)
    // compares each bucket together with the keys before it back to the
    // previous bucket, and the keys past the last one. Else a key whose
    // rows all left the source before that round would never be compared,
    // and the fingerprints recorded would hide it for good.
    let old = old.filter(|o| o.width == width);
    let fresh = old.is_none();
    let pages = reader.page_map(&layout.source_table)?;
    // The buckets to read: None for all of them; else those where the
    // source's pages changed since the stored fingerprints were taken.
    let reading = old.and_then(|o| buckets_to_read(work, o, pages.as_ref(), width));
    let mut diff = TableDiff {
        state: NewState {
            signature: work.signature.clone(),
            width,
            whole: None,
            buckets: Vec::new(),
            fresh,
            pages_moved: old.is_none_or(|o| o.pages != pages),
            pages,
        },
        ..TableDiff::default()
    };
    let read_here = |bucket: i64| {
        reading.as_ref().is_none_or(|r| {
            let at = r.partition_point(|&(_, hi)| hi < bucket);
            r.get(at).is_some_and(|&(lo, _)| lo <= bucket)
        })
    };
    if let (Some(o), Some(_)) = (old, &reading) {
        // Buckets on unchanged pages: the same rows, the same fingerprint.
        diff.ranges += o.buckets.keys().filter(|&&b| !read_here(b)).count() as u64;
    }
    let stored = |bucket: i64| old.and_then(|o| o.buckets.get(&bucket)).copied().unwrap_or(0);
    let forced = |bucket: i64| work.force.is_some_and(|f| f.buckets.contains(&bucket));
    let select = select_of(layout);
    let key_names = layout.key_names();
    let scan = Scan {
        table: &layout.source_table,
        select: &select,
        rowids: None,
        order_by: key_names.as_deref(),
    };
    let mut encoder = Encoder::new(layout, work.fk_columns);
    // Buckets seen, in increasing order (the scan is in key order).
    let mut visited: Vec<i64> = Vec::new();
    let mut current: Option<Pending> = None;
    // The current bucket's raw rows; moved into the batch only when its
    // fingerprint moved, so unchanged buckets reuse one buffer.
    let mut current_raw: Vec<u8> = Vec::new();
    let mut pending = Batch::default();
    let mut failure: Option<Error> = None;
    let mut broken = false;
    let close = |mut bucket: Pending,
                 raw: &mut Vec<u8>,
                 pending: &mut Batch,
                 diff: &mut TableDiff,
                 encoder: &mut Encoder<'_>,
                 pg: &mut Client|
     -> Result<()> {
        diff.ranges += 1;
        if bucket.hash != stored(bucket.bucket) || forced(bucket.bucket) {
            bucket.raw = std::mem::take(raw);
            pending.rows += bucket.rows;
            pending.bytes += bucket.raw.len();
            pending.buckets.push(bucket);
            if pending.rows >= FLUSH_ROWS || pending.bytes >= FLUSH_BYTES || pending.buckets.len() >= FLUSH_BUCKETS {
                let batch = std::mem::take(pending);
                compare_buckets(pg, work, width, column, batch.buckets, diff, encoder)?;
                if diff.changes() > 0 {
                    (work.emit)(diff.take_rows());
                }
            }
        } else {
            raw.clear();
        }
        Ok(())
    };
    let mut rows_read = 0u64;
    let mut visit = |row: &dyn crate::source::Row| {
        if failure.is_some() || broken {
            return Ok(Flow::Stop);
        }
        let key = match row.value(column) {
            ValueRef::Integer(k) => k,
            other => {
                failure = Some(Error::Other(format!(
                    "table {}: key {} holds {}, not an integer; sync tracks rows by their integer key",
                    layout.source_table,
                    layout.columns[column].source,
                    value_preview(other)
                )));
                return Ok(Flow::Stop);
            }
        };
        let bucket = key.div_euclid(width);
        if current.as_ref().is_none_or(|c| c.bucket != bucket) {
            if let Some(done) = current.take() {
                close(done, &mut current_raw, &mut pending, &mut diff, &mut encoder, pg)?;
            }
            let previous = visited.last().copied();
            if previous.is_some_and(|p| p > bucket) {
                // Not in key order (cannot happen for integer keys, which
                // both sides order alike): the ranges would not cover
                // every key, so stop rather than trust them.
                failure = Some(Error::Other(format!(
                    "table {}: the source returned key {key} after a larger one; the round wrote nothing",
                    layout.source_table
                )));
                return Ok(Flow::Stop);
            }
            visited.push(bucket);
            let span = match previous {
                _ if !fresh => Span::buckets(bucket, bucket, width),
                Some(p) => Span::buckets(p + 1, bucket, width),
                None => Span {
                    lo: i64::MIN,
                    ..Span::buckets(bucket, bucket, width)
                },
            };
            current = Some(Pending {
                bucket,
                span,
                ..Pending::default()
            });
        }
        let start = current_raw.len();
        for i in 0..layout.columns.len() {
            let value = row.value(i);
            if breaks(work, i, value) {
                broken = true;
                return Ok(Flow::Stop);
            }
            push_raw(&mut current_raw, value);
        }
        let hash = hash_of(&current_raw[start..]);
        if let Some(c) = current.as_mut() {
            // Order-free within a bucket, and never 0 for a non-empty one.
            c.hash = c.hash.wrapping_add(hash | 1);
            c.rows += 1;
        }
        rows_read += 1;
        Ok(Flow::Continue)
    };
    match &reading {
        None => reader.scan(&scan, &mut visit)?,
        Some(ranges) => {
            for &(from, to) in ranges {
                let keys = Span::buckets(from, to, width);
                let part = Scan {
                    rowids: Some(crate::source::RowidRange {
                        from: Some(keys.lo),
                        to: keys.hi.checked_add(1),
                    }),
                    ..scan.clone()
                };
                reader.scan(&part, &mut visit)?;
            }
        }
    }
    diff.rows_read += rows_read;
    if let Some(e) = failure {
        return Err(e);
    }
    if broken {
        diff.speculation_broken = true;
        return Ok(diff);
    }
    if let Some(done) = current.take() {
        close(done, &mut current_raw, &mut pending, &mut diff, &mut encoder, pg)?;
    }
    // Buckets the source no longer has a row in.
    let mut emptied: Vec<i64> = old
        .map(|o| {
            o.buckets
                .keys()
                .copied()
                .filter(|&b| read_here(b) && visited.binary_search(&b).is_err())
                .collect()
        })
        .unwrap_or_default();
    if let Some(force) = work.force.filter(|_| !fresh) {
        emptied.extend(
            force
                .buckets
                .iter()
                .copied()
                .filter(|b| visited.binary_search(b).is_err()),
        );
    }
    emptied.sort_unstable();
    emptied.dedup();
    let mut rest = pending.buckets;
    for bucket in emptied {
        diff.ranges += 1;
        rest.push(Pending {
            bucket,
            span: Span::buckets(bucket, bucket, width),
            ..Pending::default()
        });
    }
    if fresh {
        // The keys past the source's last bucket (all keys when it has none).
        let lo = match visited.last() {
            Some(&last) => Span::buckets(last.saturating_add(1), last.saturating_add(1), width).lo,
            None => i64::MIN,
        };
        let past_the_end = visited.last().is_none_or(|&last| last < i64::MAX.div_euclid(width));
        if past_the_end {
            diff.ranges += 1;
            rest.push(Pending {
                span: Span {
                    lo,
                    hi: i64::MAX,
                    records: false,
                },
                ..Pending::default()
            });
        }
    }
    for batch in rest.chunks_mut(FLUSH_BUCKETS) {
        let batch: Vec<Pending> = batch.iter_mut().map(std::mem::take).collect();
        compare_buckets(pg, work, width, column, batch, &mut diff, &mut encoder)?;
    }
    Ok(diff)
}

/// Changed pages are cut into this many scans at most (each is a seek
/// with one prepared statement: a few microseconds); past it, nearby
/// ranges are read as one, with the unchanged buckets between them.
const MAX_SCANS: usize = 1 << 16;

/// The buckets (inclusive ranges, sorted) whose rows sit on leaf pages
/// that changed since the stored fingerprints were taken; None to read
/// every bucket: no pages known on either side, a check that forces
/// buckets, or a table whose buckets are not cut on its rowids (it is
/// then skipped only when no page changed).
fn buckets_to_read(work: &Work<'_>, old: &TableState, pages: Option<&PageMap>, width: i64) -> Option<Vec<(i64, i64)>> {
    if work.force.is_some() {
        return None;
    }
    let changed = old.pages.as_ref()?.changed_since(pages?)?;
    if changed.is_empty() {
        return Some(Vec::new());
    }
    if !work.layout.rowid_key {
        return None;
    }
    let mut ranges: Vec<(i64, i64)> = Vec::with_capacity(changed.len());
    let mut gap = 0i64;
    loop {
        ranges.clear();
        for &(lo, hi) in &changed {
            let (lo, hi) = (lo.div_euclid(width), hi.div_euclid(width));
            match ranges.last_mut() {
                Some(last) if lo <= last.1.saturating_add(gap).saturating_add(1) => last.1 = last.1.max(hi),
                _ => ranges.push((lo, hi)),
            }
        }
        if ranges.len() <= MAX_SCANS {
            return Some(ranges);
        }
        gap = gap.saturating_mul(2).max(1);
    }
}

/// The bucket width a table is first synced (or copied) with: about
/// [`BUCKET_BYTES`] of rows per bucket for a table keyed by its rowid; one
/// key value per bucket for a composite key (its first column groups
/// rows, e.g. the memberships of one user). A table keeps the width its
/// fingerprints were recorded with (see `by_buckets`), so fingerprints
/// recorded with another rule stay valid.
pub(crate) fn initial_width(reader: &mut dyn Reader, layout: &Layout) -> Result<i64> {
    if !layout.rowid_key {
        return Ok(1);
    }
    let columns: Vec<String> = layout.columns.iter().map(|c| c.source.clone()).collect();
    let bytes = reader.estimated_bytes(&layout.source_table, &columns, layout.row_count)?;
    let per_bucket = rows_per_bucket(bytes, layout.row_count);
    Ok(width_for(
        reader.rowid_bounds(&layout.source_table)?,
        layout.row_count,
        per_bucket,
    ))
}

/// Rows per bucket for a table of `rows` rows and about `bytes` bytes.
fn rows_per_bucket(bytes: u64, rows: u64) -> u64 {
    if bytes == 0 || rows == 0 {
        return ROWS_PER_BUCKET;
    }
    let row_bytes = (bytes / rows).max(1);
    (BUCKET_BYTES / row_bytes).clamp(1, MAX_ROWS_PER_BUCKET)
}

/// The width giving about `per_bucket` rows per bucket to a table of
/// `rows` rows whose rowids span `bounds`.
fn width_for(bounds: Option<(i64, i64)>, rows: u64, per_bucket: u64) -> i64 {
    let Some((lo, hi)) = bounds else {
        return i64::try_from(per_bucket).unwrap_or(1);
    };
    let span = i128::from(hi) - i128::from(lo) + 1;
    let rows = i128::from(rows.max(1));
    let width = (span * i128::from(per_bucket) / rows).max(1);
    i64::try_from(width).unwrap_or(i64::MAX / 2)
}

/// Compares changed buckets with the target's rows in the same key ranges.
fn compare_buckets(
    pg: &mut Client,
    work: &Work<'_>,
    width: i64,
    column: usize,
    buckets: Vec<Pending>,
    diff: &mut TableDiff,
    encoder: &mut Encoder<'_>,
) -> Result<()> {
    let layout = work.layout;
    let started = std::time::Instant::now();
    diff.ranges_read += buckets.len() as u64;
    // Inclusive bigint bounds (the last bucket may end at i64::MAX), so
    // the key's index serves each range.
    let ranges: Vec<String> = buckets
        .iter()
        .map(|b| format!("(({})::bigint, ({})::bigint)", b.span.lo, b.span.hi))
        .collect();
    let key = quote_ident(&layout.columns[column].target);
    let sql = format!(
        "COPY (SELECT {} FROM {} t JOIN (VALUES {}) r(lo, hi) ON t.{key} BETWEEN r.lo AND r.hi) TO STDOUT (FORMAT binary)",
        column_list(layout, "t."),
        qualified(work.schema, &layout.target_table),
        ranges.join(", ")
    );
    let mut target: HashMap<Vec<u8>, (u64, u64, Vec<u8>)> = HashMap::new();
    read_copy(pg, &sql, &layout.target_table, &mut |row| {
        let encoded = encoder.finish(row.to_vec());
        let key_fields = encoder.key_fields(&encoded.fields);
        target.insert(encoded.key, (encoded.canonical, encoded.references, key_fields));
        Ok(())
    })?;
    for bucket in buckets {
        let mut changed = false;
        let mut rest: &[u8] = &bucket.raw;
        let mut values: Vec<ValueRef<'_>> = Vec::with_capacity(layout.columns.len());
        while !rest.is_empty() {
            values.clear();
            for _ in 0..layout.columns.len() {
                let (value, tail) = pop_raw(rest);
                values.push(value);
                rest = tail;
            }
            let row = encoder.encode(&values)?;
            match target.remove(&row.key) {
                Some((canonical, _, _)) if canonical == row.canonical => {}
                Some((_, references, _)) => {
                    if references == row.references {
                        diff.updates.push(row.fields);
                    } else {
                        diff.moves.push(row.fields);
                    }
                    changed = true;
                }
                None => {
                    diff.inserts.push(row.fields);
                    changed = true;
                }
            }
        }
        if !bucket.span.records {
            continue;
        }
        if changed {
            diff.changed_buckets.insert(bucket.bucket);
        }
        diff.state.buckets.push((bucket.bucket, bucket.hash));
    }
    // What is left has no source row in these ranges.
    let lo_of = |fields_row: &[u8]| -> Option<i64> {
        let f = fields(fields_row);
        let bytes = f.first().copied().flatten()?;
        int_of(bytes)
    };
    let key_position_in_key = layout
        .key
        .as_ref()
        .and_then(|k| k.iter().position(|&p| p == column))
        .unwrap_or(0);
    for (_, (_, _, key_fields)) in target {
        if key_position_in_key == 0
            && let Some(k) = lo_of(&key_fields)
        {
            diff.changed_buckets.insert(k.div_euclid(width));
        }
        diff.deletes.push(key_fields);
    }
    diff.compare_seconds += started.elapsed().as_secs_f64();
    Ok(())
}

/// An integer field of any width.
fn int_of(bytes: &[u8]) -> Option<i64> {
    Some(match bytes.len() {
        2 => i64::from(i16::from_be_bytes([bytes[0], bytes[1]])),
        4 => i64::from(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])),
        8 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(bytes);
            i64::from_be_bytes(raw)
        }
        _ => return None,
    })
}

// ---- whole tables -------------------------------------------------------

fn whole(reader: &mut dyn Reader, pg: &mut Client, work: &Work<'_>, old: Option<&TableState>) -> Result<TableDiff> {
    let layout = work.layout;
    let pages = reader.page_map(&layout.source_table)?;
    let pages_moved = old.is_none_or(|o| o.pages != pages);
    if let Some(o) = old.filter(|o| o.width == 0 && o.whole.is_some())
        && buckets_to_read(work, o, pages.as_ref(), 1).is_some_and(|r| r.is_empty())
    {
        // No page changed: the same rows, the same fingerprint.
        return Ok(TableDiff {
            ranges: 1,
            state: NewState {
                signature: work.signature.clone(),
                width: 0,
                whole: o.whole,
                buckets: Vec::new(),
                fresh: false,
                pages,
                pages_moved,
            },
            ..TableDiff::default()
        });
    }
    let select = select_of(layout);
    let scan = Scan::whole(&layout.source_table, &select);
    let mut fingerprint: u64 = 0;
    let mut rows_read = 0u64;
    let mut row_raw = Vec::new();
    let mut broken = false;
    reader.scan(&scan, &mut |row| {
        row_raw.clear();
        for i in 0..layout.columns.len() {
            let value = row.value(i);
            if breaks(work, i, value) {
                broken = true;
                return Ok(Flow::Stop);
            }
            push_raw(&mut row_raw, value);
        }
        fingerprint = fingerprint.wrapping_add(hash_of(&row_raw) | 1);
        rows_read += 1;
        Ok(Flow::Continue)
    })?;
    let mut diff = TableDiff {
        ranges: 1,
        state: NewState {
            signature: work.signature.clone(),
            width: 0,
            whole: Some(fingerprint),
            buckets: Vec::new(),
            fresh: old.is_none_or(|o| o.width != 0),
            pages,
            pages_moved,
        },
        rows_read,
        ..TableDiff::default()
    };
    if broken {
        diff.speculation_broken = true;
        return Ok(diff);
    }
    let unchanged = old.and_then(|o| o.whole) == Some(fingerprint) && !work.force.is_some_and(|f| f.whole);
    if unchanged {
        return Ok(diff);
    }
    if old.and_then(|o| o.whole) != Some(fingerprint) {
        // The stored fingerprint changes even when no row differs.
        diff.state.fresh = true;
    }
    diff.ranges_read = 1;
    let started = std::time::Instant::now();
    let mut encoder = Encoder::new(layout, work.fk_columns);
    let keyed = layout.key.is_some();
    // Source: key → content, or content → how many rows hold it.
    let mut by_key: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut counts: HashMap<u64, i64> = HashMap::new();
    let mut values: Vec<ValueRef<'_>> = Vec::new();
    let mut failure: Option<Error> = None;
    let mut encode_scan = |reader: &mut dyn Reader, visit: &mut dyn FnMut(Encoded)| -> Result<()> {
        reader.scan(&scan, &mut |row| {
            let mut owned: Vec<ValueRef<'_>> = Vec::with_capacity(layout.columns.len());
            for i in 0..layout.columns.len() {
                owned.push(row.value(i));
            }
            match encoder.encode(&owned) {
                Ok(e) => {
                    visit(e);
                    Ok(Flow::Continue)
                }
                Err(e) => {
                    failure = Some(e);
                    Ok(Flow::Stop)
                }
            }
        })?;
        match failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    };
    values.clear();
    encode_scan(reader, &mut |row| {
        if keyed {
            by_key.insert(row.key, row.canonical);
        } else {
            *counts.entry(row.canonical).or_default() += 1;
        }
    })?;
    let mut updates: HashSet<Vec<u8>> = HashSet::new();
    let ctid = if keyed { "" } else { "ctid, " };
    let sql = format!(
        "COPY (SELECT {ctid}{} FROM {}) TO STDOUT (FORMAT binary)",
        column_list(layout, ""),
        qualified(work.schema, &layout.target_table)
    );
    let mut target_encoder = Encoder::new(layout, work.fk_columns);
    read_copy(pg, &sql, &layout.target_table, &mut |row| {
        if keyed {
            let encoded = target_encoder.finish(row.to_vec());
            match by_key.remove(&encoded.key) {
                Some(canonical) if canonical == encoded.canonical => {}
                Some(_) => {
                    updates.insert(encoded.key);
                }
                None => diff.deletes.push(target_encoder.key_fields(&encoded.fields)),
            }
        } else {
            let split_at = 4 + usize::try_from(i32::from_be_bytes([row[0], row[1], row[2], row[3]])).unwrap_or(0);
            let (tid, rest) = row.split_at(split_at);
            let encoded = target_encoder.finish(rest.to_vec());
            match counts.get_mut(&encoded.canonical) {
                Some(n) if *n > 0 => *n -= 1,
                _ => diff.delete_ctids.push(tid_text(&tid[4..])),
            }
        }
        Ok(())
    })?;
    let inserts: HashSet<Vec<u8>> = by_key.into_keys().collect();
    encode_scan(reader, &mut |row| {
        if keyed {
            if updates.contains(&row.key) {
                // Not told apart here: written with the table's new rows.
                diff.moves.push(row.fields);
            } else if inserts.contains(&row.key) {
                diff.inserts.push(row.fields);
            }
        } else if let Some(n) = counts.get_mut(&row.canonical)
            && *n > 0
        {
            *n -= 1;
            diff.inserts.push(row.fields);
        }
    })?;
    diff.whole_changed = diff.changes() > 0;
    diff.compare_seconds = started.elapsed().as_secs_f64();
    Ok(diff)
}

/// A binary `tid` (block, offset) as PostgreSQL spells it.
fn tid_text(bytes: &[u8]) -> String {
    if bytes.len() != 6 {
        return "(0,0)".into();
    }
    let block = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let offset = u16::from_be_bytes([bytes[4], bytes[5]]);
    format!("({block},{offset})")
}

/// Streams a binary COPY: `visit` gets each row's framed fields.
fn read_copy(pg: &mut Client, sql: &str, table: &str, visit: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let context = format!("reading target table {table}");
    let reader = pg.copy_out(sql).map_err(|e| Error::pg(context.clone(), &e))?;
    let mut input = BufReader::with_capacity(256 * 1024, reader);
    let io = |e: std::io::Error| Error::io(context.clone(), e);
    let bad = || Error::Other(format!("{context}: malformed COPY stream"));
    let mut header = [0u8; 19];
    input.read_exact(&mut header).map_err(io)?;
    if &header[..11] != b"PGCOPY\n\xff\r\n\0" {
        return Err(bad());
    }
    let extension = u32::from_be_bytes([header[15], header[16], header[17], header[18]]);
    std::io::copy(&mut (&mut input).take(u64::from(extension)), &mut std::io::sink()).map_err(io)?;
    let mut row = Vec::new();
    loop {
        let mut count = [0u8; 2];
        input.read_exact(&mut count).map_err(io)?;
        let count = i16::from_be_bytes(count);
        if count == -1 {
            return Ok(());
        }
        row.clear();
        for _ in 0..count {
            let mut len = [0u8; 4];
            input.read_exact(&mut len).map_err(io)?;
            row.extend_from_slice(&len);
            if let Ok(n) = usize::try_from(i32::from_be_bytes(len)) {
                let start = row.len();
                row.resize(start + n, 0);
                input.read_exact(&mut row[start..]).map_err(io)?;
            }
        }
        visit(&row)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_about_a_kilobyte_of_rows() {
        // 10 kB rows (attachments): one per bucket, not eight.
        assert_eq!(rows_per_bucket(20_000 * 10_400, 20_000), 1);
        // 150-byte rows: about seven.
        assert_eq!(rows_per_bucket(1_000_000 * 150, 1_000_000), 6);
        // Tiny rows: capped, a changed bucket is compared row by row.
        assert_eq!(rows_per_bucket(1_000 * 4, 1_000), MAX_ROWS_PER_BUCKET);
        // Size unknown: the old eight.
        assert_eq!(rows_per_bucket(0, 1_000), 8);
        // Dense rowids: the width is the rows per bucket; sparse ones widen it.
        assert_eq!(width_for(Some((1, 1_000)), 1_000, 6), 6);
        assert_eq!(width_for(Some((1, 10_000)), 1_000, 6), 60);
        assert_eq!(width_for(None, 0, 6), 6);
        assert_eq!(width_for(Some((i64::MIN, i64::MAX)), 1, 32), i64::MAX / 2);
    }

    #[test]
    fn raw_values_round_trip() {
        let values = [
            ValueRef::Null,
            ValueRef::Integer(-5),
            ValueRef::Real(1.5),
            ValueRef::Text(b"caf\xc3\xa9"),
            ValueRef::Blob(&[0, 1, 2]),
        ];
        let mut raw = Vec::new();
        for v in values {
            push_raw(&mut raw, v);
        }
        let mut rest: &[u8] = &raw;
        for v in values {
            let (got, tail) = pop_raw(rest);
            assert_eq!(got, v);
            rest = tail;
        }
        assert!(rest.is_empty());
    }
}
