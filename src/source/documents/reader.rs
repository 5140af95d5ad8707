//! The documents side of the [`Source`] interface. Readers share the
//! model `describe` learned; a scan streams the collection a table comes
//! from (a child or junction table re-reads its parent's collection).

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use super::DocumentSource;
use super::json::{Position, ValueProblem};
use super::lines::{Folding, Made, RangeMaker};
use super::normalize::ColumnSource;
use super::normalize::{Facts, LearnRange, Model, TableDef};
use super::onepass::Learning;
use super::records::{self, Parsed, Rec};
use super::rows::{RowBuf, each_row_object};
use super::shape::hash_key;
use super::template::{Cut, Paths, Template, blank_after};
use crate::error::{Error, Result};
use crate::source::{
    Column, Flow, InferredKind, ProfileFilter, Reader, Row, RowBatch, RowBatcher, Scan, Selected, Source, SourceSchema,
    Table, Value, ValueRef,
};

impl Source for DocumentSource {
    fn display_name(&self) -> String {
        self.path().display().to_string()
    }

    fn file_stem(&self) -> String {
        let stem = records::stem_of(self.path());
        if stem.is_empty() { "godwit".into() } else { stem }
    }

    fn describe(&self, _profile: &ProfileFilter<'_>) -> Result<SourceSchema> {
        let model = self.model()?;
        Ok(schema_of(&model))
    }

    fn readers(&self, n: usize) -> Result<Vec<Box<dyn Reader>>> {
        let model = self.model()?;
        Ok((0..n.max(1))
            .map(|_| {
                Box::new(DocumentReader {
                    model: model.clone(),
                    path: self.path().to_path_buf(),
                    learning: self.learning(),
                }) as Box<dyn Reader>
            })
            .collect())
    }

    /// Values of text and integer columns only: the others already have
    /// the type every value fits, which no suggestion would improve.
    fn sample(&self, table: &str, column: &str, n: usize) -> Result<Vec<Value>> {
        let model = self.model()?;
        let suggestible = model
            .tables
            .iter()
            .find(|t| t.name == table)
            .and_then(|t| t.columns.iter().find(|c| c.name == column))
            .is_some_and(|c| matches!(c.inferred.kind, InferredKind::Text | InferredKind::Integer));
        if !suggestible {
            return Ok(Vec::new());
        }
        let mut reader = DocumentReader {
            model,
            path: self.path().to_path_buf(),
            learning: None,
        };
        let select = [Selected::Column(column.to_string())];
        let scan = Scan::whole(table, &select);
        let mut out = Vec::new();
        reader.scan(&scan, &mut |row| {
            let value = match row.value(0) {
                ValueRef::Null => return Ok(Flow::Continue),
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            };
            out.push(value);
            Ok(if out.len() >= n { Flow::Stop } else { Flow::Continue })
        })?;
        Ok(out)
    }

    /// Records come in file order, not key order (`order_by` is not
    /// honoured)...
    fn ordered_scans(&self) -> bool {
        false
    }

    /// ...which is key order where the key counts up in the file (ids
    /// exported in order, or the position): verify merges those tables.
    fn ordered_scans_of(&self, table: &str) -> bool {
        self.model()
            .ok()
            .and_then(|m| m.tables.iter().find(|t| t.name == table).map(|t| t.in_key_order))
            .unwrap_or(false)
    }

    fn model_key(&self) -> Option<String> {
        self.model_key_of()
    }

    fn learned_model(&self) -> Result<std::result::Result<serde_json::Value, String>> {
        self.record_model()
    }

    fn reuse_model(&self, recorded: &serde_json::Value) -> Result<std::result::Result<(), String>> {
        self.reuse_recorded(recorded)
    }

    fn prefer_provisional_model(&self) {
        self.provisional_wanted
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn model_is_provisional(&self) -> bool {
        self.learning().is_some()
    }

    fn settle_model(&self) -> Result<bool> {
        self.settle()
    }

    fn explain_target_error(&self, error: Error) -> Error {
        match error {
            Error::Postgres {
                context,
                message,
                sqlstate,
            } => Error::Postgres {
                context: format!(
                    "copying {}: PostgreSQL refused the tables or rows godwit made of this file ({context})",
                    self.path().display()
                ),
                message,
                sqlstate,
            },
            other => other,
        }
    }
}

fn schema_of(model: &Model) -> SourceSchema {
    SourceSchema {
        tables: model.tables.iter().map(table_of).collect(),
        views: Vec::new(),
        triggers: Vec::new(),
        unsupported: Vec::new(),
        virtual_tables: Vec::new(),
        inferred: model.inferred.clone(),
        skipped: model.skipped.clone(),
    }
}

fn table_of(def: &TableDef) -> Table {
    Table {
        name: def.name.clone(),
        columns: def
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                declared_type: String::new(),
                not_null: c.not_null,
                default: None,
                generated: None,
                collation: None,
                profile: None,
                inferred: Some(c.inferred.clone()),
            })
            .collect(),
        primary_key: def.primary_key.clone(),
        rowid_alias: None,
        without_rowid: true,
        autoincrement: false,
        sequence: None,
        indexes: def.indexes.clone(),
        foreign_keys: def.foreign_keys.clone(),
        checks: Vec::new(),
        row_count: def.rows,
    }
}

pub struct DocumentReader {
    model: Arc<Model>,
    path: std::path::PathBuf,
    /// While the model is provisional: the scan of each collection's
    /// learner table learns the collection's facts as it makes its rows.
    learning: Option<Arc<Learning>>,
}

impl DocumentReader {
    fn table(&self, name: &str) -> Result<usize> {
        self.model
            .tables
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| Error::Source {
                path: self.path.clone(),
                message: format!("no table {name} in this source"),
            })
    }
}

impl Reader for DocumentReader {
    fn scan(&mut self, scan: &Scan<'_>, visit: &mut dyn FnMut(&dyn Row) -> Result<Flow>) -> Result<()> {
        let model = self.model.clone();
        let table = &model.tables[self.table(scan.table)?];
        let columns = selected_columns(table, scan);
        let origin = &model.collections[table.collection].origin;
        let mut row = RowBuf::default();
        let mut position = 0u64;
        let repeated = &model.repeated_keys[table.collection];
        let mut seen: HashSet<String> = HashSet::new();
        let each = if model.collections[table.collection].whole_values {
            records::each_whole
        } else {
            records::each
        };
        each(origin, &mut |rec| {
            position += 1;
            // A key seen before in the same object: that record is rejected.
            let repeat = rec
                .key
                .filter(|k| !repeated.is_empty() && repeated.contains(&hash_key(k)))
                .filter(|k| !seen.insert((*k).to_string()))
                .map(|k| ValueProblem {
                    at: rec.at,
                    reason: format!("the key {k:?} appears twice in one object"),
                    field: None,
                    malformed: false,
                });
            let rec = &Rec {
                key: rec.key,
                value: rec.value,
                problem: repeat.as_ref().or(rec.problem),
                not_object: rec.not_object,
                file: rec.file,
                at: rec.at,
                csv_record: rec.csv_record,
            };
            let mut flow = Flow::Continue;
            let mut failure = None;
            each_row_object(rec.value, &table.arrays, &mut |objects, ordinals| {
                if flow == Flow::Stop || failure.is_some() {
                    return;
                }
                row.fill(table, &columns, rec, position, objects, ordinals);
                match visit(&row) {
                    Ok(f) => flow = f,
                    Err(e) => failure = Some(e),
                }
            });
            match failure {
                Some(e) => Err(e),
                None => Ok(flow),
            }
        })
    }

    fn rowid_bounds(&mut self, _table: &str) -> Result<Option<(i64, i64)>> {
        Ok(None)
    }

    /// JSON Lines and arrays: each range the workers parse without a
    /// problem is made into its batch of rows on the worker that parsed
    /// it; a range with a problem (whose messages need the lines before
    /// it) and every record of a file read in one piece are made into
    /// rows here, in order. A table numbered by position is scanned
    /// (a range does not know how many records came before it).
    fn scan_batched(
        &mut self,
        scan: &Scan<'_>,
        batcher: &dyn RowBatcher,
        take: &mut dyn FnMut(Box<dyn RowBatch>) -> Result<Flow>,
    ) -> Result<bool> {
        let model = self.model.clone();
        let table_index = self.table(scan.table)?;
        let table = &model.tables[table_index];
        let columns = selected_columns(table, scan);
        let collection = &model.collections[table.collection];
        let learning = self
            .learning
            .as_ref()
            .and_then(|l| l.learned_by(table_index).map(|c| (l, c)));
        let learns = learning.is_some();
        let keyed = collection.origin.has_keys();
        let facts = RefCell::new(Facts::new());
        let stopped = std::cell::Cell::new(false);
        let by_position = columns
            .iter()
            .flatten()
            .any(|&c| matches!(table.columns[c].source, ColumnSource::Position));
        if !records::read_in_ranges(&collection.origin) || by_position {
            return Ok(false);
        }
        let whole = collection.whole_values;
        let file = collection.origin.path();
        let fold = || {
            Some(Box::new(RangeRows {
                batch: batcher.batch(),
                row: RowBuf::default(),
                learning: learns.then(|| LearnRange::new(file, keyed)),
                file,
                whole,
                table,
                columns: &columns,
                stopped: false,
                lines: (!learns && !whole)
                    .then(|| line_paths(table, &columns))
                    .flatten()
                    .map(LineRows::new),
            }) as Box<dyn RangeMaker>)
        };
        let pending = RefCell::new(Pending { batch: None, take });
        let mut row = RowBuf::default();
        let mut visit = |rec: &Rec<'_>| {
            if learns {
                facts.borrow_mut().add(rec, keyed);
            }
            let mut pending = pending.borrow_mut();
            let flow = with_whole(rec, whole, &mut |rec| {
                let batch = pending.batch.get_or_insert_with(|| batcher.batch());
                Ok(add_rows(batch.as_mut(), &mut row, table, &columns, rec))
            })?;
            let full = pending.batch.as_ref().is_some_and(|b| b.full());
            if flow == Flow::Stop || full {
                let flow = match pending.hand_on()? {
                    Flow::Stop => Flow::Stop,
                    Flow::Continue => flow,
                };
                stopped.set(stopped.get() || flow == Flow::Stop);
                return Ok(flow);
            }
            Ok(Flow::Continue)
        };
        let mut take_made = |made: Made| {
            let batch = match made.downcast::<LearnedBatch>() {
                Ok(learned) => {
                    let LearnedBatch(batch, range) = *learned;
                    facts.borrow_mut().merge(range);
                    batch
                }
                Err(made) => *made
                    .downcast::<Box<dyn RowBatch>>()
                    .map_err(|_| Error::Other("a range made into something else than rows".into()))?,
            };
            let mut pending = pending.borrow_mut();
            let flow = match pending.hand_on()? {
                Flow::Stop => Flow::Stop,
                Flow::Continue => (pending.take)(batch)?,
            };
            stopped.set(stopped.get() || flow == Flow::Stop);
            Ok(flow)
        };
        let folding = Folding {
            fold: &fold,
            take: &mut take_made,
        };
        records::each_folded(&collection.origin, Some(folding), &mut visit)?;
        pending.borrow_mut().hand_on()?;
        // Read to its end: the facts are the collection's.
        if let Some((learning, c)) = learning.filter(|_| !stopped.get()) {
            learning.keep(c, facts.into_inner());
        }
        Ok(true)
    }

    /// The size of the file the table is read from, shared among the
    /// tables read from it by their rows.
    fn estimated_bytes(&mut self, table: &str, _columns: &[String], rows: u64) -> Result<u64> {
        let table = &self.model.tables[self.table(table)?];
        let path = self.model.collections[table.collection].origin.path();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            rows.saturating_mul(1024)
        } else if table.arrays.is_empty() {
            size
        } else {
            size / 4
        })
    }
}

/// The table's column for each selected one (None: not in the table).
fn selected_columns(table: &TableDef, scan: &Scan<'_>) -> Vec<Option<usize>> {
    scan.select
        .iter()
        .map(|s| match s {
            Selected::Column(name) => table.column(name),
            Selected::Rowid => None,
        })
        .collect()
}

/// A range's rows, and the facts of its records (a learner's scan).
struct LearnedBatch(Box<dyn RowBatch>, Facts);

/// The batch being filled on the reading thread, and the consumer.
struct Pending<'t, 'c> {
    batch: Option<Box<dyn RowBatch>>,
    take: &'t mut (dyn FnMut(Box<dyn RowBatch>) -> Result<Flow> + 'c),
}

impl Pending<'_, '_> {
    /// Hands on the batch being filled, if any.
    fn hand_on(&mut self) -> Result<Flow> {
        match self.batch.take() {
            Some(batch) => (self.take)(batch),
            None => Ok(Flow::Continue),
        }
    }
}

/// Visits the record, kept whole in one `value` field when the
/// collection's records are read so.
fn with_whole(rec: &Rec<'_>, whole: bool, visit: &mut dyn FnMut(&Rec<'_>) -> Result<Flow>) -> Result<Flow> {
    if !whole || rec.not_object {
        return visit(rec);
    }
    let value = super::json::JValue::Object(vec![("value".into(), rec.value.clone())]);
    visit(&Rec {
        value: &value,
        not_object: true,
        ..*rec
    })
}

/// Adds the rows one record makes to `batch`; Stop when the batch says.
fn add_rows(
    batch: &mut dyn RowBatch,
    row: &mut RowBuf,
    table: &TableDef,
    columns: &[Option<usize>],
    rec: &Rec<'_>,
) -> Flow {
    let mut flow = Flow::Continue;
    each_row_object(rec.value, &table.arrays, &mut |objects, ordinals| {
        if flow == Flow::Stop {
            return;
        }
        // Position is never selected here (see `scan_batched`).
        row.fill(table, columns, rec, 0, objects, ordinals);
        flow = batch.row(row);
    });
    flow
}

/// A range's records made into one batch on the worker that parses them,
/// each as it is parsed, up to the first with a problem (its message
/// needs the line numbers of the ranges before, which only the reading
/// thread knows).
struct RangeRows<'f> {
    batch: Box<dyn RowBatch>,
    row: RowBuf,
    /// The facts of the records taken, for a scan that learns.
    learning: Option<LearnRange<'f>>,
    file: &'f std::path::Path,
    whole: bool,
    table: &'f TableDef,
    columns: &'f [Option<usize>],
    /// The batch wanted no more rows: later records are learned only.
    stopped: bool,
    /// JSON Lines whose rows are made from their lines' shape, when every
    /// column the scan selects is a field of the record.
    lines: Option<LineRows<'f>>,
}

/// Lines made into rows by their shape ([`Template`]).
struct LineRows<'f> {
    paths: Paths<'f>,
    template: Option<Template>,
    /// Lines in a row whose shape could not be learned.
    unlearned: usize,
    /// The last line's values, by column.
    cuts: Vec<(usize, Cut)>,
}

/// Rows made from their line's shape, for tests that must see it at work.
#[cfg(test)]
static ROWS_BY_TEMPLATE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// After this many lines in a row whose shape cannot be learned, a range
/// stops trying (its lines are parsed).
const UNLEARNED_LINES: usize = 8;

impl<'f> LineRows<'f> {
    fn new(paths: Paths<'f>) -> LineRows<'f> {
        LineRows {
            paths,
            template: None,
            unlearned: 0,
            cuts: Vec::new(),
        }
    }

    /// The record's text when the line has the shape of the lines before
    /// or its own, its values in `cuts`; None leaves the line to the reader.
    fn matched<'l>(&mut self, line: &'l [u8], whole_line: bool) -> Option<&'l str> {
        let ends = |object: &'l str| (!whole_line || blank_after(line, object.len())).then_some(object);
        if let Some(object) = self.template.as_ref().and_then(|t| t.matches(line, &mut self.cuts)) {
            return ends(object);
        }
        if self.unlearned >= UNLEARNED_LINES {
            return None;
        }
        let Some(template) = Template::learn(line, &self.paths) else {
            self.unlearned += 1;
            return None;
        };
        self.unlearned = 0;
        let object = template.matches(line, &mut self.cuts);
        self.template = Some(template);
        ends(object?)
    }
}

/// The path of each selected column when every one is a field of the
/// record (a table of no array), None otherwise.
fn line_paths<'t>(table: &'t TableDef, columns: &[Option<usize>]) -> Option<Paths<'t>> {
    if !table.arrays.is_empty() {
        return None;
    }
    columns
        .iter()
        .map(|c| match c.map(|i| &table.columns[i].source) {
            None => Some(None),
            Some(ColumnSource::Field { level: 0, path }) => Some(Some(path.as_slice())),
            Some(_) => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(Paths::new)
}

impl RangeMaker for RangeRows<'_> {
    fn take(&mut self, record: &Parsed) -> bool {
        if record.problem.is_some() {
            return false;
        }
        if let Some(learning) = self.learning.as_mut() {
            learning.add(record);
        }
        if !self.stopped {
            let (batch, row, table, columns) = (self.batch.as_mut(), &mut self.row, self.table, self.columns);
            let flow = with_whole(&record.rec(self.file), self.whole, &mut |rec| {
                Ok(add_rows(batch, row, table, columns, rec))
            });
            self.stopped = !matches!(flow, Ok(Flow::Continue));
        }
        true
    }

    fn takes_lines(&self) -> bool {
        self.lines.is_some() && !self.stopped
    }

    fn take_line(&mut self, line: &[u8], at: Position, whole_line: bool) -> Option<usize> {
        let lines = self.lines.as_mut().filter(|_| !self.stopped)?;
        let object = lines.matched(line, whole_line)?;
        self.row
            .fill_tokens(self.table, self.columns, self.file, at, object, &lines.cuts);
        #[cfg(test)]
        ROWS_BY_TEMPLATE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stopped = self.batch.row(&self.row) != Flow::Continue;
        Some(object.len())
    }

    fn made(self: Box<Self>) -> Made {
        match self.learning {
            Some(learning) => Box::new(LearnedBatch(self.batch, learning.into_facts())),
            None => Box::new(self.batch),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::thread::ThreadId;

    use super::*;
    use crate::source::documents::DocumentOptions;
    use crate::source::documents::detect::Format;

    /// Each row as text, and the thread that made it.
    type Seen = Mutex<Vec<(String, ThreadId)>>;

    struct Collect<'a>(&'a Seen);

    struct Rows<'a> {
        seen: &'a Seen,
        rows: Vec<(String, ThreadId)>,
    }

    fn text_of(row: &dyn Row, n: usize) -> String {
        let mut out = String::new();
        for i in 0..n {
            match row.value(i) {
                ValueRef::Text(t) => out.push_str(&format!("{}|", String::from_utf8_lossy(t))),
                other => out.push_str(&format!("{other:?}|")),
            }
        }
        if let Some(p) = row.problem() {
            out.push_str(&format!("problem {p:?}"));
        }
        out
    }

    impl RowBatcher for Collect<'static> {
        fn batch(&self) -> Box<dyn RowBatch> {
            Box::new(Rows {
                seen: self.0,
                rows: Vec::new(),
            })
        }
    }

    impl RowBatch for Rows<'static> {
        fn row(&mut self, row: &dyn Row) -> Flow {
            self.rows.push((text_of(row, COLUMNS), std::thread::current().id()));
            Flow::Continue
        }

        fn full(&self) -> bool {
            self.rows.len() >= 7
        }

        fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
            self.seen.lock().unwrap().extend(self.rows.iter().cloned());
            self
        }
    }

    const COLUMNS: usize = 8;

    /// Every table's rows read one by one, and made into batches.
    fn both_ways(
        path: &std::path::Path,
        format: Format,
        workers: usize,
    ) -> Vec<(String, Vec<String>, Vec<String>, bool)> {
        let options = DocumentOptions {
            workers,
            range_bytes: 40,
            ..DocumentOptions::default()
        };
        let source = DocumentSource::new(path.to_path_buf(), Some(format), &options);
        let schema = source.describe(&|_, _| false).unwrap();
        let mut reader = source.readers(1).unwrap().pop().unwrap();
        let caller = std::thread::current().id();
        let mut out = Vec::new();
        for table in &schema.tables {
            let mut select: Vec<Selected> = table.columns.iter().map(|c| Selected::Column(c.name.clone())).collect();
            select.resize(COLUMNS, Selected::Rowid);
            let scan = Scan::whole(&table.name, &select);
            let mut scanned = Vec::new();
            reader
                .scan(&scan, &mut |row| {
                    scanned.push(text_of(row, COLUMNS));
                    Ok(Flow::Continue)
                })
                .unwrap();
            let seen: &'static Seen = Box::leak(Box::new(Mutex::new(Vec::new())));
            let batched = reader
                .scan_batched(&scan, &Collect(seen), &mut |batch| {
                    batch.into_any();
                    Ok(Flow::Continue)
                })
                .unwrap();
            assert!(batched, "{}", table.name);
            let seen = seen.lock().unwrap();
            let on_workers = seen.iter().any(|(_, t)| *t != caller);
            out.push((
                table.name.clone(),
                scanned,
                seen.iter().map(|(r, _)| r.clone()).collect(),
                on_workers,
            ));
        }
        out
    }

    /// Ids, a nested object, an array of objects (a child table), a type
    /// that widens late in the file, a malformed line and a NUL in the
    /// middle, and a line far longer than a range.
    fn tricky_lines() -> String {
        let mut text = String::new();
        for i in 1..=200 {
            let v = if i == 180 { "1.5".to_string() } else { i.to_string() };
            let w = if i == 190 {
                "\"late text\"".to_string()
            } else {
                (i * 3).to_string()
            };
            let note = if i == 120 { "y".repeat(5_000) } else { format!("n{i}") };
            let line = match i {
                77 => r#"{"id": 77, "v": "#.to_string(),
                91 => r#"{"id": 91, "note": "a\u0000b"}"#.to_string(),
                _ => format!(
                    r#"{{"id": {i}, "v": {v}, "w": {w}, "device": {{"os": "o{i}", "n": {i}}}, "parts": [{{"p": {i}}}, {{"p": "{i}b"}}], "note": "{note}"}}"#
                ),
            };
            text.push_str(&line);
            text.push_str(if i % 5 == 0 { "\r\n" } else { "\n" });
        }
        text
    }

    #[test]
    fn rows_made_on_the_reading_threads_are_the_rows_a_scan_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        std::fs::write(&path, tricky_lines()).unwrap();
        let tables = both_ways(&path, Format::JsonLines, 3);
        assert!(tables.len() >= 2, "a root and a child table");
        for (name, scanned, batched, on_workers) in &tables {
            assert!(scanned.len() >= 198, "{name}: {}", scanned.len());
            assert_eq!(scanned, batched, "{name}");
            assert!(on_workers, "{name}: no batch was made on a worker");
        }
        // The widened values and the problem rows are there, in order.
        let root = &tables.iter().find(|t| t.0 == "events").unwrap().1;
        assert!(root.iter().any(|r| r.contains("|1.5|")));
        assert!(root.iter().any(|r| r.contains("late text")));
        assert_eq!(root.iter().filter(|r| r.contains("problem")).count(), 2);
        // Read in one piece, the same rows again (made on the caller).
        for ((_, one, made, on_workers), (_, many, ..)) in both_ways(&path, Format::JsonLines, 1).iter().zip(&tables) {
            assert_eq!(one, many);
            assert_eq!(one, made);
            assert!(!on_workers);
        }
    }

    #[test]
    fn rows_of_a_json_array_made_on_the_reading_threads_are_the_rows_a_scan_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("things.json");
        let records: Vec<String> = tricky_lines()
            .lines()
            .filter(|l| !l.starts_with(r#"{"id": 77,"#))
            .map(String::from)
            .collect();
        std::fs::write(&path, format!("[\n{}\n]\n", records.join(",\n"))).unwrap();
        let tables = both_ways(&path, Format::Json, 3);
        for (name, scanned, batched, on_workers) in &tables {
            assert!(scanned.len() >= 198, "{name}: {}", scanned.len());
            assert_eq!(scanned, batched, "{name}");
            assert!(on_workers, "{name}: no batch was made on a worker");
        }
    }

    /// Records of one shape with escapes and non-ASCII text in their
    /// strings, and lines that break the shape every way a record can:
    /// other spacing, a member more or less, values of other kinds
    /// (widening their columns), a repeated key, a malformed line, a
    /// nested array, invalid UTF-8, a nested object where a column held
    /// scalars, CRLF endings and blank lines.
    fn one_shape_and_its_breaks() -> Vec<u8> {
        let mut out = Vec::new();
        for i in 1..=300 {
            let name = match i % 11 {
                0 => r#""a\"b\u00e9""#.to_string(),
                5 => r#""é ☃ 𝄞""#.to_string(),
                _ => format!("\"n{i}\""),
            };
            let tags = match i {
                70 => "[1,2]".to_string(),
                71 => r#"["x", "y"]"#.to_string(),
                72 => "[]".to_string(),
                73 => r#"["x",null]"#.to_string(),
                _ => format!(r#"["t{}","u"]"#, i % 3),
            };
            let ok = match i {
                50 => "\"yes\"",
                51 => "null",
                _ if i % 2 == 0 => "true",
                _ => "false",
            };
            let score = match i {
                60 => "\"7\"".to_string(),
                61 => "1e3".to_string(),
                62 => "-0.0".to_string(),
                _ => format!("{i}.{}", i % 10),
            };
            let device = match i {
                _ if i % 17 == 0 => String::new(),
                120 => r#","device":{"os":{"deep":1},"v":2}"#.to_string(),
                _ => format!(r#","device":{{"os":"o{}","v":{i}}}"#, i % 4),
            };
            let extra = if i % 13 == 0 { r#","extra":1"# } else { "" };
            let mut line = format!(
                r#"{{"id":{i},"name":{name},"score":{score},"ok":{ok},"tags":{tags}{device},"n":null{extra}}}"#
            )
            .into_bytes();
            match i {
                19 | 38 => line = String::from_utf8(line).unwrap().replace(",", ", ").into_bytes(),
                80 => line = br#"{"id":80,"id":81,"name":"dup"}"#.to_vec(),
                90 => line = br#"{"id":90,"name":"#.to_vec(),
                95 => line = br#"{"id":95,"name":"x","tags":[["nested"]]}"#.to_vec(),
                99 => line = b"{\"id\":99,\"name\":\"\xff\"}".to_vec(),
                _ => {}
            }
            out.extend_from_slice(&line);
            out.extend_from_slice(if i % 9 == 0 { b" \r\n" } else { b"\n" });
            if i == 150 {
                out.extend_from_slice(b"\n  \n");
            }
        }
        out
    }

    #[test]
    fn lines_of_one_shape_make_the_rows_their_parse_makes() {
        let dir = tempfile::tempdir().unwrap();
        let lines = dir.path().join("events.ndjson");
        std::fs::write(&lines, one_shape_and_its_breaks()).unwrap();
        // The same records as an array, without the lines an array cannot hold.
        let array = dir.path().join("events.json");
        let text = one_shape_and_its_breaks();
        let records: Vec<&[u8]> = text
            .split(|&b| b == b'\n')
            .map(|l| l.trim_ascii())
            .filter(|l| !l.is_empty() && !l.starts_with(br#"{"id":90,"#))
            .collect();
        let mut joined = b"[\n".to_vec();
        joined.extend_from_slice(&records.join(&b",\n"[..]));
        joined.extend_from_slice(b"\n]\n");
        std::fs::write(&array, joined).unwrap();
        // And minified: every record on the one line, each matched in turn.
        let minified = dir.path().join("minified.json");
        let mut one_line = b"[".to_vec();
        one_line.extend_from_slice(&records.join(&b","[..]));
        one_line.extend_from_slice(b"]");
        std::fs::write(&minified, one_line).unwrap();
        for (path, format) in [
            (&lines, Format::JsonLines),
            (&array, Format::Json),
            (&minified, Format::Json),
        ] {
            let before = ROWS_BY_TEMPLATE.load(std::sync::atomic::Ordering::Relaxed);
            let tables = both_ways(path, format, 3);
            let by_template = ROWS_BY_TEMPLATE.load(std::sync::atomic::Ordering::Relaxed) - before;
            for (name, scanned, batched, _) in &tables {
                assert!(scanned.len() >= 290, "{name}: {}", scanned.len());
                assert_eq!(scanned, batched, "{name} ({format:?})");
            }
            assert!(
                by_template >= 200,
                "{format:?}: {by_template} rows made by their line's shape"
            );
        }
    }

    /// Everything `describe` says of a file read with these workers.
    fn described(path: &std::path::Path, format: Format, workers: usize, range_bytes: u64) -> String {
        let options = DocumentOptions {
            workers,
            range_bytes,
            ..DocumentOptions::default()
        };
        let source = DocumentSource::new(path.to_path_buf(), Some(format), &options);
        serde_json::to_string_pretty(&source.describe(&|_, _| false).unwrap()).unwrap()
    }

    /// Fields that first appear late (top level, nested, in array
    /// elements), a field that goes missing, ids whose run breaks late, a
    /// key field with more distinct values than the sample keeps, a long
    /// value, kinds that widen late, and a malformed line.
    fn late_facts() -> String {
        let mut text = String::new();
        for i in 1..=150 {
            let id = if i == 140 { 7 } else { i };
            let mut line = format!(r#"{{"id": {id}, "user_id": {}, "n": {i}"#, i % 90);
            if i < 100 {
                line.push_str(&format!(r#", "gone": "g{i}""#));
            }
            if i > 60 {
                line.push_str(&format!(r#", "late": "2026-01-{:02}""#, 1 + i % 28));
            }
            if i == 149 {
                line.push_str(r#", "late": "not a date""#);
            }
            let extra = if i > 120 {
                format!(r#", "new{}": true"#, i % 3)
            } else {
                String::new()
            };
            line.push_str(&format!(r#", "dev": {{"os": "o{i}"{extra}}}"#));
            line.push_str(&format!(r#", "items": [{{"k": {i}{extra}}}, "#));
            line.push_str(if i == 130 { r#"{"k": 1.25}]"# } else { r#"{"k": 0}]"# });
            if i == 75 {
                line.push_str(&format!(r#", "long": "{}""#, "z".repeat(300)));
            }
            line.push('}');
            if i == 50 {
                line = r#"{"id": 50, "n": "#.to_string();
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Stages every table of a provisional model (as a copy would), then
    /// settles it: whether it held, and what the source describes after.
    fn staged_once(path: &std::path::Path, format: Format) -> (bool, String) {
        let options = DocumentOptions {
            workers: 3,
            range_bytes: 40,
            ..DocumentOptions::default()
        };
        let source = DocumentSource::new(path.to_path_buf(), Some(format), &options);
        source.prefer_provisional_model();
        let schema = source.describe(&|_, _| false).unwrap();
        assert!(source.model_is_provisional(), "{}", path.display());
        let mut reader = source.readers(1).unwrap().pop().unwrap();
        for table in &schema.tables {
            let select: Vec<Selected> = table.columns.iter().map(|c| Selected::Column(c.name.clone())).collect();
            let scan = Scan::whole(&table.name, &select);
            let seen: &'static Seen = Box::leak(Box::new(Mutex::new(Vec::new())));
            let batched = reader
                .scan_batched(&scan, &Collect(seen), &mut |batch| {
                    batch.into_any();
                    Ok(Flow::Continue)
                })
                .unwrap();
            assert!(batched, "{}", table.name);
        }
        let same = source.settle_model().unwrap();
        assert!(!source.model_is_provisional());
        (
            same,
            serde_json::to_string_pretty(&source.describe(&|_, _| false).unwrap()).unwrap(),
        )
    }

    /// 300 records with ids, a nested object, an array of objects (a
    /// child table) and a malformed line; `late` adds a record at the end.
    fn steady_records(late: &str) -> String {
        let mut text = String::new();
        for i in 1..=300 {
            let line = if i == 150 {
                r#"{"id": 150, "v": "#.to_string()
            } else {
                format!(
                    r#"{{"id": {i}, "v": {}, "day": "2026-01-{:02}", "dev": {{"os": "o{}"}}, "parts": [{{"p": {i}}}]}}"#,
                    i * 3,
                    1 + i % 28,
                    i % 3
                )
            };
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str(late);
        text
    }

    #[test]
    fn a_model_learned_while_staging_is_the_model_of_two_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steady.ndjson");
        for (late, holds) in [
            ("", true),
            ("{\"id\": 301, \"v\": 1.5}\n", false),
            ("{\"id\": 301, \"v\": 3, \"day\": \"soon\", \"new\": true}\n", false),
            (
                "{\"id\": 301, \"v\": 3, \"dev\": {\"os\": \"o\", \"arch\": \"arm\"}}\n",
                false,
            ),
        ] {
            std::fs::write(&path, steady_records(late)).unwrap();
            let (same, settled) = staged_once(&path, Format::JsonLines);
            assert_eq!(same, holds, "{late}");
            assert_eq!(settled, described(&path, Format::JsonLines, 1, 40), "{late}");
        }
        let array = dir.path().join("steady.json");
        let records: Vec<&str> = steady_records("")
            .leak()
            .lines()
            .filter(|l| !l.ends_with(": "))
            .collect();
        std::fs::write(&array, format!("[{}]", records.join(",\n"))).unwrap();
        let (same, settled) = staged_once(&array, Format::Json);
        assert!(same);
        assert_eq!(settled, described(&array, Format::Json, 1, 40));
    }

    #[test]
    fn facts_learned_range_by_range_are_the_facts_of_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let lines = dir.path().join("facts.ndjson");
        std::fs::write(&lines, late_facts()).unwrap();
        let array = dir.path().join("facts.json");
        let records: Vec<&str> = late_facts().leak().lines().filter(|l| !l.ends_with(": ")).collect();
        std::fs::write(&array, format!("[{}]", records.join(",\n"))).unwrap();
        for (path, format) in [(&lines, Format::JsonLines), (&array, Format::Json)] {
            let one = described(path, format, 1, 40);
            assert!(one.contains("\"late\""), "{one}");
            for (workers, range_bytes) in [(3, 40), (2, 700), (4, 5_000)] {
                assert_eq!(
                    one,
                    described(path, format, workers, range_bytes),
                    "{workers} workers, {range_bytes} bytes"
                );
            }
        }
    }
}
