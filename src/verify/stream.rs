//! The two producers: source rows encoded with the copy's casts, and the
//! target's rows read back with binary COPY. Both yield [`Row`]s in the
//! same canonical form, in batches over a bounded channel, so each side
//! reads on its own thread while the comparison consumes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;

use crate::error::{Error, Result};
use crate::hash::hash_of;
use crate::postgres::encode::{Scratch, encode_value};
use crate::source::json_of;
use crate::source::preview::value_preview;
use crate::source::{Flow, Reader, Row as SourceRow, RowBatch, RowBatcher, Scan, ValueRef};
use crate::verify::copy_rows::CopyRows;
use crate::verify::layout::KeyRange;
use crate::verify::layout::Layout;
use crate::verify::row::push_key_fields;
pub use crate::verify::row::{Rejected, Row};
use crate::verify::session::{More, Session};
use crate::verify::value::push_field;

/// Rows per message: large enough to amortise the channel, small enough
/// to keep memory flat.
pub const BATCH_ROWS: usize = 2048;
/// Bytes per message at most, so that tables of large values (BLOBs,
/// documents) keep the same bounded memory as narrow ones: a few batches
/// are queued per side and job.
pub const BATCH_BYTES: usize = 1 << 20;

/// Rows gathered for one message.
struct Batch {
    rows: Vec<Row>,
    bytes: usize,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            rows: Vec::with_capacity(BATCH_ROWS),
            bytes: 0,
        }
    }

    /// Adds a row; true when the batch should be sent.
    fn push(&mut self, row: Row) -> bool {
        self.bytes += row.key.len() + row.fields.len();
        self.rows.push(row);
        self.rows.len() >= BATCH_ROWS || self.bytes >= BATCH_BYTES
    }
}

/// Sends batches; returns false once the receiver has gone (the
/// comparison stopped early) or Ctrl-C was pressed, which ends the
/// producer quietly (the caller reports the interruption).
fn send(tx: &Sender<Vec<Row>>, batch: &mut Batch) -> bool {
    let full = std::mem::replace(batch, Batch::new()).rows;
    !crate::report::interrupt::requested() && tx.send(full).is_ok()
}

/// Streams the source table, each value encoded by the copy's own encoder.
pub fn read_source(
    reader: &mut dyn Reader,
    layout: &Layout,
    ordered: bool,
    range: Option<&KeyRange>,
    tx: &Sender<Vec<Row>>,
    stop: &AtomicBool,
) -> Result<()> {
    let select = layout.source_select();
    let key_names = layout.key_names();
    let scan = Scan {
        table: &layout.source_table,
        select: &select,
        rowids: range.map(KeyRange::rowids),
        order_by: if ordered { key_names.as_deref() } else { None },
    };
    // Rows made on the source's reading threads where it has them.
    let mut receiver_gone = false;
    let batcher = Encoder(Arc::new(layout.clone()));
    let batched = reader.scan_batched(&scan, &batcher, &mut |batch| {
        let mut batch = batch
            .into_any()
            .downcast::<EncodedRows>()
            .map_err(|_| Error::Other("a batch of rows of another kind".into()))?;
        if batch.rows.rows.is_empty() {
            return Ok(Flow::Continue);
        }
        if stop.load(Ordering::Relaxed) || !send(tx, &mut batch.rows) {
            receiver_gone = true;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })?;
    if batched {
        return Ok(());
    }
    let mut batch = Batch::new();
    let mut encoder = RowEncoder::new(layout.columns.len());
    reader.scan(&scan, &mut |source_row: &dyn SourceRow| {
        let row = encoder.row(layout, source_row);
        if batch.push(row) && (stop.load(Ordering::Relaxed) || !send(tx, &mut batch)) {
            receiver_gone = true;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })?;
    if !batch.rows.is_empty() && !receiver_gone {
        send(tx, &mut batch);
    }
    Ok(())
}

/// Makes source rows canonical; its buffers are reused row after row.
struct RowEncoder {
    scratch: Scratch,
    /// Where each column's field starts in `fields`; None when it failed.
    starts: Vec<Option<usize>>,
    /// The sizes of the last row, to allocate the next one once.
    sizes: RowSizes,
}

impl RowEncoder {
    fn new(columns: usize) -> RowEncoder {
        RowEncoder {
            scratch: Scratch::default(),
            starts: vec![None; columns],
            sizes: RowSizes::new(columns),
        }
    }

    fn row(&mut self, layout: &Layout, source_row: &dyn SourceRow) -> Row {
        let columns = layout.columns.len();
        let mut row = self.sizes.new_row();
        if let Some(problem) = source_row.problem() {
            row.rejected = Some(Box::new(Rejected {
                column: problem
                    .column
                    .as_ref()
                    .and_then(|c| layout.columns.iter().position(|l| &l.source == c))
                    .unwrap_or(0),
                reason: problem.reason.clone(),
                value: problem.value.clone(),
                source_key: None,
            }));
        }
        for (i, column) in layout.columns.iter().enumerate() {
            let value = source_row.value(i);
            // Encoded straight into the row; a value refused is taken back
            // (whatever part of it was written) and stands as a NULL.
            let start = row.fields.len();
            let result = if column.not_null && value == ValueRef::Null {
                Err("NULL in a NOT NULL column".to_string())
            } else {
                encode_value(&mut row.fields, value, &column.cast, &mut self.scratch)
            };
            match result {
                Ok(()) => self.starts[i] = Some(start),
                Err(reason) => {
                    row.fields.truncate(start);
                    self.starts[i] = None;
                    push_field(&mut row.fields, None);
                    if row.rejected.is_none() {
                        row.rejected = Some(Box::new(Rejected {
                            column: i,
                            reason,
                            value: value_preview(value),
                            source_key: None,
                        }));
                    }
                }
            }
        }
        if let Some(key) = &layout.key {
            if key.iter().any(|&p| self.starts[p].is_none()) {
                let mut values: Vec<serde_json::Value> = key.iter().map(|&p| json_of(source_row.value(p))).collect();
                // A NULL key does not name the row; its rowid does (as in reject files).
                if layout.selects_rowid && values.iter().any(serde_json::Value::is_null) {
                    values.push(serde_json::json!({ "rowid": json_of(source_row.value(columns)) }));
                }
                if let Some(r) = row.rejected.as_mut() {
                    r.source_key = Some(values);
                }
            } else {
                push_key_fields(&mut row, key, &self.starts, layout);
            }
        }
        if layout.key.is_none() {
            row.content_hash = hash_of(&row.fields);
        }
        self.sizes.saw(&row);
        row
    }
}

/// Room for a row's key and fields, from the row before: rows of a table
/// are alike, so most take one allocation each and never grow.
struct RowSizes {
    key: usize,
    fields: usize,
}

impl RowSizes {
    fn new(columns: usize) -> RowSizes {
        RowSizes {
            key: 16,
            fields: 24 * columns,
        }
    }

    fn new_row(&self) -> Row {
        Row {
            key: Vec::with_capacity(self.key),
            fields: Vec::with_capacity(self.fields),
            rejected: None,
            content_hash: 0,
        }
    }

    /// Remembers this row's sizes, with some slack for a longer one.
    fn saw(&mut self, row: &Row) {
        self.key = row.key.len();
        self.fields = row.fields.len() + row.fields.len() / 8;
    }
}

/// Canonical source rows made on the source's thread that read them.
struct EncodedRows {
    layout: Arc<Layout>,
    encoder: RowEncoder,
    rows: Batch,
}

impl RowBatch for EncodedRows {
    fn row(&mut self, row: &dyn SourceRow) -> Flow {
        let row = self.encoder.row(&self.layout, row);
        self.rows.push(row);
        Flow::Continue
    }

    fn full(&self) -> bool {
        self.rows.rows.len() >= BATCH_ROWS || self.rows.bytes >= BATCH_BYTES
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// Makes the [`EncodedRows`] of one table.
struct Encoder(Arc<Layout>);

impl RowBatcher for Encoder {
    fn batch(&self) -> Box<dyn RowBatch> {
        Box::new(EncodedRows {
            layout: self.0.clone(),
            encoder: RowEncoder::new(self.0.columns.len()),
            rows: Batch::new(),
        })
    }
}

/// Streams the target table with `COPY ... TO STDOUT (FORMAT binary)`,
/// read inside one pass of the session's runtime.
pub fn read_target(
    session: &mut Session,
    schema: &str,
    layout: &Layout,
    ordered: bool,
    range: Option<&KeyRange>,
    tx: &Sender<Vec<Row>>,
    stop: &AtomicBool,
) -> Result<()> {
    if !layout.target_exists {
        return Ok(());
    }
    let context = format!("reading target table {}", layout.target_table);
    let mut rows = CopyRows::new(layout, &context);
    let mut batch = Batch::new();
    let mut receiver_gone = false;
    session.copy_out(&layout.target_copy(schema, ordered, range), &context, &mut |message| {
        rows.take(message, &mut |row| {
            if batch.push(row) && (stop.load(Ordering::Relaxed) || !send(tx, &mut batch)) {
                receiver_gone = true;
                return More::No;
            }
            More::Yes
        })
    })?;
    if receiver_gone {
        return Ok(());
    }
    rows.finish()?;
    if !batch.rows.is_empty() {
        send(tx, &mut batch);
    }
    Ok(())
}
