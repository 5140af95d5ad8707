//! Matching source rows with target rows. Keyed tables stream both sides
//! in key order and merge; when a side turns out not to be in that order
//! (a cast that reorders keys) the table is compared again by hashing keys,
//! in partitions so memory stays bounded. Keyless tables are compared as
//! multisets of row contents.

use std::collections::HashMap;

use crossbeam_channel::Receiver;
use serde::Serialize;
use serde_json::Value;

use crate::hash::hash_of;
use crate::verify::layout::Layout;
use crate::verify::stream::Row;
use crate::verify::value::{display, fields, key_json, push_canonical, same_value};

/// Changed rows shown column by column, per table.
pub const DIFF_ROWS: usize = 3;

/// Keys of one kind of difference: the first `max` and the total.
#[derive(Debug, Default, Clone)]
pub struct KeyList {
    pub keys: Vec<Vec<Value>>,
    pub count: u64,
}

impl KeyList {
    fn push(&mut self, max: usize, key: impl FnOnce() -> Vec<Value>) {
        self.count += 1;
        if self.keys.len() < max {
            self.keys.push(key());
        }
    }

    fn absorb(&mut self, other: KeyList, max: usize) {
        self.count += other.count;
        let room = max.saturating_sub(self.keys.len());
        self.keys.extend(other.keys.into_iter().take(room));
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnDiff {
    pub column: String,
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowDiff {
    pub key: Vec<Value>,
    pub columns: Vec<ColumnDiff>,
}

/// What comparing one table found.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub rows_source: u64,
    pub rows_target: u64,
    pub missing: KeyList,
    pub extra: KeyList,
    pub changed: KeyList,
    pub diffs: Vec<RowDiff>,
    /// Keyless tables: rows whose content is only in the source / target.
    pub missing_hashes: u64,
    pub extra_hashes: u64,
}

impl Outcome {
    pub fn equal(&self) -> bool {
        self.missing.count == 0
            && self.extra.count == 0
            && self.changed.count == 0
            && self.missing_hashes == 0
            && self.extra_hashes == 0
    }

    pub fn absorb(&mut self, other: Outcome, max: usize) {
        self.rows_source += other.rows_source;
        self.rows_target += other.rows_target;
        self.missing.absorb(other.missing, max);
        self.extra.absorb(other.extra, max);
        self.changed.absorb(other.changed, max);
        let room = DIFF_ROWS.saturating_sub(self.diffs.len());
        self.diffs.extend(other.diffs.into_iter().take(room));
        self.missing_hashes += other.missing_hashes;
        self.extra_hashes += other.extra_hashes;
    }
}

/// A side was not in key order: the merge's verdicts cannot be trusted.
#[derive(Debug)]
pub struct OrderBroken;

/// Rows of one side, one at a time, checking the order when asked.
struct Side<'a> {
    rx: &'a Receiver<Vec<Row>>,
    batch: std::vec::IntoIter<Row>,
    last_key: Option<Vec<u8>>,
}

impl<'a> Side<'a> {
    fn new(rx: &'a Receiver<Vec<Row>>) -> Side<'a> {
        Side {
            rx,
            batch: Vec::new().into_iter(),
            last_key: None,
        }
    }

    fn next_raw(&mut self) -> Option<Row> {
        loop {
            if let Some(row) = self.batch.next() {
                return Some(row);
            }
            self.batch = self.rx.recv().ok()?.into_iter();
        }
    }

    /// Keys must strictly increase.
    fn check(&mut self, row: &Row) -> Result<(), OrderBroken> {
        if let Some(last) = &self.last_key
            && row.key <= *last
        {
            return Err(OrderBroken);
        }
        match &mut self.last_key {
            Some(last) => {
                last.clear();
                last.extend_from_slice(&row.key);
            }
            None => self.last_key = Some(row.key.clone()),
        }
        Ok(())
    }
}

/// Compares rows and records what differs.
pub struct Comparer<'a> {
    layout: &'a Layout,
    max_keys: usize,
    pub outcome: Outcome,
}

impl<'a> Comparer<'a> {
    pub fn new(layout: &'a Layout, max_keys: usize) -> Comparer<'a> {
        Comparer {
            layout,
            max_keys,
            outcome: Outcome::default(),
        }
    }

    fn key_of(&self, row: &Row) -> Vec<Value> {
        if let Some(source_key) = row.rejected.as_ref().and_then(|r| r.source_key.clone()) {
            return source_key;
        }
        let values = fields(&row.fields);
        self.layout
            .key
            .iter()
            .flatten()
            .map(|&p| key_json(self.layout.columns[p].kind, values.get(p).copied().flatten()))
            .collect()
    }

    fn missing(&mut self, row: &Row) {
        let key = self.key_of(row);
        self.outcome.missing.push(self.max_keys, || key);
    }

    fn extra(&mut self, row: &Row) {
        let key = self.key_of(row);
        self.outcome.extra.push(self.max_keys, || key);
    }

    fn matched(&mut self, source: &Row, target: &Row) {
        if source.rejected.is_none() && (source.fields == target.fields || self.same_values(source, target)) {
            return;
        }
        let key = self.key_of(target);
        if self.outcome.diffs.len() < DIFF_ROWS {
            let columns = self.column_diffs(source, target);
            self.outcome.diffs.push(RowDiff {
                key: key.clone(),
                columns,
            });
        }
        self.outcome.changed.push(self.max_keys, || key);
    }

    /// Field by field, for rows whose bytes differ: numeric and JSON
    /// values may be spelled differently by the two sides.
    fn same_values(&self, source: &Row, target: &Row) -> bool {
        if !self.layout.columns.iter().any(|c| c.kind.has_spellings()) {
            return false;
        }
        let (s, t) = (fields(&source.fields), fields(&target.fields));
        s.len() == t.len()
            && self
                .layout
                .columns
                .iter()
                .zip(s.iter().zip(&t))
                .all(|(c, (a, b))| same_value(c.kind, *a, *b))
    }

    fn column_diffs(&self, source: &Row, target: &Row) -> Vec<ColumnDiff> {
        let (s, t) = (fields(&source.fields), fields(&target.fields));
        let mut out = Vec::new();
        for (i, column) in self.layout.columns.iter().enumerate() {
            let target_value = display(column.kind, t.get(i).copied().flatten());
            match &source.rejected {
                Some(r) if r.column == i => out.push(ColumnDiff {
                    column: column.source.clone(),
                    source: format!("{} (the copy rejects it: {})", r.value, r.reason),
                    target: target_value,
                }),
                _ if !same_value(column.kind, s.get(i).copied().flatten(), t.get(i).copied().flatten()) => {
                    out.push(ColumnDiff {
                        column: column.source.clone(),
                        source: display(column.kind, s.get(i).copied().flatten()),
                        target: target_value,
                    })
                }
                _ => {}
            }
        }
        out
    }

    /// Rows whose key the copy could not convert are missing by nature and
    /// never take part in matching.
    fn unkeyed(&mut self, row: &Row) -> bool {
        if row.rejected.as_ref().is_some_and(|r| r.source_key.is_some()) {
            self.missing(row);
            true
        } else {
            false
        }
    }

    fn next_source(&mut self, side: &mut Side<'_>) -> Result<Option<Row>, OrderBroken> {
        while let Some(row) = side.next_raw() {
            self.outcome.rows_source += 1;
            if self.unkeyed(&row) {
                continue;
            }
            side.check(&row)?;
            return Ok(Some(row));
        }
        Ok(None)
    }

    fn next_target(&mut self, side: &mut Side<'_>) -> Result<Option<Row>, OrderBroken> {
        let Some(row) = side.next_raw() else {
            return Ok(None);
        };
        self.outcome.rows_target += 1;
        side.check(&row)?;
        Ok(Some(row))
    }

    /// Merge join of two key-ordered streams.
    pub fn merge(&mut self, source: &Receiver<Vec<Row>>, target: &Receiver<Vec<Row>>) -> Result<(), OrderBroken> {
        use std::cmp::Ordering;
        let mut source_side = Side::new(source);
        let mut target_side = Side::new(target);
        let mut s = self.next_source(&mut source_side)?;
        let mut t = self.next_target(&mut target_side)?;
        loop {
            let step = match (&s, &t) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.key.cmp(&b.key),
            };
            if step != Ordering::Greater {
                match (&s, &t, step) {
                    (Some(a), Some(b), Ordering::Equal) => self.matched(a, b),
                    (Some(a), _, _) => self.missing(a),
                    _ => {}
                }
                s = self.next_source(&mut source_side)?;
            }
            if step != Ordering::Less {
                if let (Some(b), Ordering::Greater) = (&t, step) {
                    self.extra(b);
                }
                t = self.next_target(&mut target_side)?;
            }
        }
        Ok(())
    }

    /// Symmetric hash join of one partition of the keys, in any order.
    pub fn hash_join(
        &mut self,
        source: &Receiver<Vec<Row>>,
        target: &Receiver<Vec<Row>>,
        partition: u64,
        partitions: u64,
    ) {
        let mut pending_source: HashMap<Vec<u8>, Row> = HashMap::new();
        let mut pending_target: HashMap<Vec<u8>, Row> = HashMap::new();
        let mine = |key: &[u8]| partitions <= 1 || hash_of(key) % partitions == partition;
        each_batch(source, target, |from_source, rows| {
            for row in rows {
                if from_source {
                    if row.rejected.as_ref().is_some_and(|r| r.source_key.is_some()) {
                        // Keyless rejects belong to partition 0 only.
                        if partition == 0 {
                            self.outcome.rows_source += 1;
                            self.unkeyed(&row);
                        }
                        continue;
                    }
                    if !mine(&row.key) {
                        continue;
                    }
                    self.outcome.rows_source += 1;
                    match pending_target.remove(&row.key) {
                        Some(t) => self.matched(&row, &t),
                        None => {
                            pending_source.insert(row.key.clone(), row);
                        }
                    }
                } else {
                    if !mine(&row.key) {
                        continue;
                    }
                    self.outcome.rows_target += 1;
                    if let Some(s) = pending_source.remove(&row.key) {
                        self.matched(&s, &row);
                    } else if pending_target.contains_key(&row.key) {
                        // A key the target holds twice: one of them is extra.
                        self.extra(&row);
                    } else {
                        pending_target.insert(row.key.clone(), row);
                    }
                }
            }
        });
        let mut left: Vec<Row> = pending_source.into_values().collect();
        left.sort_by(|a, b| a.key.cmp(&b.key));
        for row in &left {
            self.missing(row);
        }
        let mut left: Vec<Row> = pending_target.into_values().collect();
        left.sort_by(|a, b| a.key.cmp(&b.key));
        for row in &left {
            self.extra(row);
        }
    }

    /// Multiset comparison of row contents, for tables without a key.
    ///
    /// First by the hash of the bytes as they are. Only when rows are left
    /// over and some column's values have spellings (numeric, JSON) is
    /// `respelled` called: it runs [`Comparer::multiset_canonical`] on a
    /// second read, for the leftover rows only, so that parsing JSON is
    /// paid where bytes differ, not for every row.
    pub fn multiset(
        &mut self,
        source: &Receiver<Vec<Row>>,
        target: &Receiver<Vec<Row>>,
        partition: u64,
        partitions: u64,
    ) -> HashMap<u64, i64> {
        let mut balance: HashMap<u64, i64> = HashMap::new();
        each_batch(source, target, |from_source, rows| {
            for row in rows {
                if from_source && row.rejected.is_some() {
                    if partition == 0 {
                        self.outcome.rows_source += 1;
                        self.outcome.missing_hashes += 1;
                    }
                    continue;
                }
                let hash = row.content_hash;
                if partitions > 1 && hash % partitions != partition {
                    continue;
                }
                let delta = if from_source {
                    self.outcome.rows_source += 1;
                    1
                } else {
                    self.outcome.rows_target += 1;
                    -1
                };
                add(&mut balance, hash, delta);
            }
        });
        balance
    }

    /// The second read of a keyless table: rows whose byte hash was left
    /// over, matched again by the hash of their canonical values.
    pub fn multiset_canonical(
        &mut self,
        source: &Receiver<Vec<Row>>,
        target: &Receiver<Vec<Row>>,
        leftover: &HashMap<u64, i64>,
    ) -> HashMap<u64, i64> {
        let mut balance: HashMap<u64, i64> = HashMap::new();
        let mut canonical_row = Vec::new();
        each_batch(source, target, |from_source, rows| {
            for row in rows {
                if (from_source && row.rejected.is_some()) || !leftover.contains_key(&row.content_hash) {
                    continue;
                }
                canonical_row.clear();
                for (column, field) in self.layout.columns.iter().zip(fields(&row.fields)) {
                    push_canonical(&mut canonical_row, column.kind, field);
                }
                add(&mut balance, hash_of(&canonical_row), if from_source { 1 } else { -1 });
            }
        });
        balance
    }

    /// Counts what a multiset balance leaves unmatched.
    pub fn count_unmatched(&mut self, balance: &HashMap<u64, i64>) {
        for n in balance.values() {
            if *n > 0 {
                self.outcome.missing_hashes += n.unsigned_abs();
            } else {
                self.outcome.extra_hashes += n.unsigned_abs();
            }
        }
    }
}

fn add(balance: &mut HashMap<u64, i64>, hash: u64, delta: i64) {
    let entry = balance.entry(hash).or_insert(0);
    *entry += delta;
    if *entry == 0 {
        balance.remove(&hash);
    }
}

/// Takes batches from whichever side has one, until both are done.
fn each_batch(source: &Receiver<Vec<Row>>, target: &Receiver<Vec<Row>>, mut handle: impl FnMut(bool, Vec<Row>)) {
    let never = crossbeam_channel::never::<Vec<Row>>();
    let (mut s, mut t) = (source, target);
    let (mut s_open, mut t_open) = (true, true);
    while s_open || t_open {
        crossbeam_channel::select! {
            recv(s) -> msg => match msg {
                Ok(rows) => handle(true, rows),
                Err(_) => { s_open = false; s = &never; }
            },
            recv(t) -> msg => match msg {
                Ok(rows) => handle(false, rows),
                Err(_) => { t_open = false; t = &never; }
            },
        }
    }
}
