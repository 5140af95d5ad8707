//! Sources godwit reads: each describes its schema as a [`SourceSchema`],
//! then streams rows.

pub mod documents;
pub mod native;
pub mod pages;
pub mod preview;
pub mod sqlite;
pub mod virtual_table;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Everything godwit knows about a source database's structure.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSchema {
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub triggers: Vec<Trigger>,
    /// Full-text and rtree tables. Those that hold their own rows are also
    /// in `tables`, keyed by rowid.
    pub virtual_tables: Vec<virtual_table::VirtualTable>,
    /// Objects godwit cannot carry over (virtual tables), with the reason.
    pub unsupported: Vec<String>,
    /// How a source that learns its structure from its values (documents)
    /// decided keys and relations, one line each with its evidence, e.g.
    /// "posts.author_id: 1,200 of 1,200 values are keys of users".
    pub inferred: Vec<String>,
    /// Files a directory source passed over (hidden, unrecognised), with why.
    pub skipped: Vec<String>,
}

impl SourceSchema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .or_else(|| self.tables.iter().find(|t| t.name.eq_ignore_ascii_case(name)))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary-key column names, in key order; empty when there is none.
    pub primary_key: Vec<String>,
    /// The column that aliases the rowid (`INTEGER PRIMARY KEY`), by index.
    pub rowid_alias: Option<usize>,
    pub without_rowid: bool,
    pub autoincrement: bool,
    /// The table's `sqlite_sequence` value, for AUTOINCREMENT tables.
    pub sequence: Option<i64>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    /// CHECK constraint expressions, as written in SQLite.
    pub checks: Vec<Check>,
    /// Rows at describe time (exact count).
    pub row_count: u64,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .or_else(|| self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)))
    }

    /// Columns whose values are stored (generated columns are computed).
    pub fn stored_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.generated.is_none())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Column {
    pub name: String,
    /// The declared type as written, e.g. `VARCHAR(80)`; empty when none.
    pub declared_type: String,
    pub not_null: bool,
    /// The default expression as written in SQLite.
    pub default: Option<String>,
    pub generated: Option<Generated>,
    /// `COLLATE` name when not BINARY.
    pub collation: Option<String>,
    /// What the column actually holds, filled by profiling.
    pub profile: Option<ColumnProfile>,
    /// The type a source without declared types found over every value
    /// (documents); None where the declared type speaks (SQLite).
    pub inferred: Option<Inferred>,
}

/// A column type learned from every value of a field, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inferred {
    pub kind: InferredKind,
    /// Why, for `plan`: e.g. "all 1,200 values are RFC 3339 with an offset".
    pub evidence: String,
}

/// What every value of a field is. Each kind says how its values arrive
/// as [`ValueRef`]s, which the plan's cast for it expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InferredKind {
    /// Integers that all fit 64 bits: `Integer`.
    Integer,
    /// Integers beyond 64 bits, and numbers with a fraction or exponent:
    /// `Text` holding the digits exactly as written.
    Decimal,
    /// `Integer` 0 or 1.
    Boolean,
    /// `Text`.
    Text,
    /// `Text`, RFC 3339 with an offset or Z, at most microseconds.
    Timestamptz,
    /// `Text`, ISO 8601 date and time without an offset.
    Timestamp,
    /// `Text`, ISO 8601 date.
    Date,
    /// `Text`, a UUID.
    Uuid,
    /// `Text` holding JSON: fields of several kinds, or kept whole by config.
    Json,
    /// `Text` holding a JSON array whose elements are all of this kind (or null).
    Array(Box<InferredKind>),
    /// Every value was null: `Null`.
    AlwaysNull,
}

#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub expression: String,
    pub stored: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: Option<String>,
    pub expression: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub parts: Vec<IndexPart>,
    /// `WHERE` clause of a partial index, as written in SQLite.
    pub predicate: Option<String>,
    /// Created by a UNIQUE constraint rather than CREATE INDEX.
    pub from_constraint: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum IndexPart {
    Column {
        name: String,
        descending: bool,
        collation: Option<String>,
    },
    Expression {
        sql: String,
        descending: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub parent_table: String,
    /// Parent columns; SQLite allows leaving them out to mean the parent's key.
    pub parent_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
    pub deferrable: Deferrable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deferrable {
    No,
    InitiallyImmediate,
    InitiallyDeferred,
}

#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub name: String,
    /// The view's SELECT, as written in SQLite.
    pub select: String,
    /// Its columns' names, as the source gives them.
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trigger {
    pub name: String,
    pub table: String,
    pub sql: String,
}

/// What one column holds, by SQLite storage class.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ColumnProfile {
    pub nulls: u64,
    pub integers: u64,
    pub reals: u64,
    pub texts: u64,
    pub blobs: u64,
    pub integer_min: Option<i64>,
    pub integer_max: Option<i64>,
    pub real_min: Option<f64>,
    pub real_max: Option<f64>,
    /// Longest text value, in characters.
    pub text_max_chars: Option<u64>,
    /// Reals that are not whole numbers.
    pub fractional_reals: u64,
    /// For columns declared NUMERIC(p,s): the most digits before and after
    /// the point any value needs as an exact decimal (what numeric(p,s)
    /// must hold; SQLite never bounded it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimal_digits: Option<(u32, u32)>,
    /// For date/time columns: their numbers by magnitude, so the epoch
    /// unit follows the bulk of the values, not the largest one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch_magnitudes: Option<EpochMagnitudes>,
}

/// Non-zero numbers of a date/time column by magnitude, with a few of each
/// kind (to name outliers in the plan).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EpochMagnitudes {
    /// Below 1e8 (years, counters, a day in milliseconds).
    pub small: u64,
    /// 1e8 up to 1e11: epoch seconds (1973 to 5138).
    pub seconds: u64,
    /// From 1e11: epoch milliseconds.
    pub milliseconds: u64,
    pub small_samples: Vec<f64>,
    pub seconds_samples: Vec<f64>,
    pub milliseconds_samples: Vec<f64>,
}

impl ColumnProfile {
    /// Storage classes seen, e.g. `["integer", "text"]`.
    pub fn classes(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (count, name) in [
            (self.integers, "integer"),
            (self.reals, "real"),
            (self.texts, "text"),
            (self.blobs, "blob"),
            (self.nulls, "null"),
        ] {
            if count > 0 {
                out.push(name);
            }
        }
        out
    }

    pub fn non_null(&self) -> u64 {
        self.integers + self.reals + self.texts + self.blobs
    }
}

/// A value as a source yields it. Every source maps what it reads onto
/// SQLite's five storage classes, which the copy's encoder and verify's
/// canonical form are written against: documents yield exact numbers as
/// text, booleans as integers and nested values as JSON text, each with
/// the cast its plan gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// An owned [`ValueRef`], for samples.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

/// What a scan selects, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Column(String),
    /// The row's position the source can address it by (SQLite's rowid).
    Rowid,
}

/// Rows whose rowid is in `from..to` (each end open when None).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowidRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// One read of one table.
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    pub table: &'a str,
    pub select: &'a [Selected],
    /// Only rows in this range; sources without rowids ignore it (their
    /// tables are never split, see [`Reader::rowid_bounds`]).
    pub rowids: Option<RowidRange>,
    /// Rows in ascending byte order of these columns, when the source can
    /// ([`Source::ordered_scans`]).
    pub order_by: Option<&'a [String]>,
}

impl<'a> Scan<'a> {
    /// Every row of `table`, in the source's own order.
    pub fn whole(table: &'a str, select: &'a [Selected]) -> Self {
        Scan {
            table,
            select,
            rowids: None,
            order_by: None,
        }
    }
}

/// The current row of a scan.
pub trait Row {
    /// The value at a position of [`Scan::select`].
    fn value(&self, index: usize) -> ValueRef<'_>;

    /// Why the source cannot give this row as it stands (a repeated key in
    /// a document, a NUL in a string, a CSV record with the wrong number of
    /// fields): it is rejected as a whole, as a value that does not fit is.
    fn problem(&self) -> Option<&RowProblem> {
        None
    }

    /// Where the row was read, for messages about it (a document's file,
    /// line, column and byte), when the source can say.
    fn place(&self) -> Option<String> {
        None
    }
}

/// A row the source read but cannot give as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct RowProblem {
    /// The field concerned, when there is one.
    pub column: Option<String>,
    /// What is wrong and where: file, line (and CSV record number).
    pub reason: String,
    /// A preview of the offending value or record.
    pub value: String,
}

/// Whether a scan goes on after a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// A reader inside a source's snapshot: every reader a source opens at
/// once sees the same committed state.
pub trait Reader: Send {
    /// Streams the rows of one table to `visit`, one at a time.
    fn scan(&mut self, scan: &Scan<'_>, visit: &mut dyn FnMut(&dyn Row) -> Result<Flow>) -> Result<()>;

    /// The smallest and largest rowid of a table, for splitting it into
    /// ranges; None when the source has no rowids or the table is empty.
    fn rowid_bounds(&mut self, table: &str) -> Result<Option<(i64, i64)>>;

    /// A cheap estimate of a table's size in bytes, to balance the work.
    fn estimated_bytes(&mut self, table: &str, columns: &[String], rows: u64) -> Result<u64>;

    /// How a table's rows are stored, in this reader's snapshot
    /// ([`pages::PageMap`]), when the source can tell without reading them;
    /// None otherwise, and then the rows are read.
    fn page_map(&mut self, table: &str) -> Result<Option<pages::PageMap>> {
        let _ = table;
        Ok(None)
    }

    /// Streams the rows of one table into batches that `batcher` makes,
    /// filled on the source's own reading threads where it has them (a
    /// JSON Lines file's ranges), and hands the batches to `take` in scan
    /// order: the rows, problems and order are those [`Reader::scan`]
    /// gives. Building a row's output where the row was parsed spares
    /// handing each parsed record to one thread that does all the rest.
    /// Ok(false), having read nothing, when the source cannot (the
    /// caller scans); the default.
    fn scan_batched(
        &mut self,
        scan: &Scan<'_>,
        batcher: &dyn RowBatcher,
        take: &mut dyn FnMut(Box<dyn RowBatch>) -> Result<Flow>,
    ) -> Result<bool> {
        let _ = (scan, batcher, take);
        Ok(false)
    }
}

/// Makes the empty batches of a [`Reader::scan_batched`], on any thread.
pub trait RowBatcher: Sync {
    fn batch(&self) -> Box<dyn RowBatch>;
}

/// What a consumer makes of a run of consecutive rows, made on whichever
/// thread read them and handed back in order.
pub trait RowBatch: Send {
    /// Adds the next row; Stop ends the scan after this batch is taken.
    fn row(&mut self, row: &dyn Row) -> Flow;

    /// Whether the batch should be handed on before more rows are added
    /// (a reader that makes batches of any length asks this).
    fn full(&self) -> bool;

    /// The batch as its own type, for the consumer that made it.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// Which columns `describe` profiles (a scan of their values), given the
/// table and column. Sources that learn their schema from the values
/// profile every column whatever this says.
pub type ProfileFilter<'a> = dyn Fn(&Table, &Column) -> bool + 'a;

/// A source godwit reads: its schema, and readers that stream its rows.
/// Nothing above `source/` knows which kind it reads.
pub trait Source: Sync {
    /// The source as the user named it, for messages and reports.
    fn display_name(&self) -> String;

    /// Where reject files go by default: beside the working directory,
    /// named after this stem.
    fn file_stem(&self) -> String;

    fn describe(&self, profile: &ProfileFilter<'_>) -> Result<SourceSchema>;

    /// `n` readers sharing one consistent snapshot.
    fn readers(&self, n: usize) -> Result<Vec<Box<dyn Reader>>>;

    /// Up to `n` non-null values of a column, for `plan`'s suggestions.
    fn sample(&self, table: &str, column: &str, n: usize) -> Result<Vec<Value>>;

    /// Whether scans can return rows in key order ([`Scan::order_by`]).
    /// Verify merges ordered scans and hashes the others.
    fn ordered_scans(&self) -> bool;

    /// Whether scans of one table come in key order: every table's when
    /// [`Source::ordered_scans`]; a source read in file order says which
    /// of its tables' keys count up in the file. Verify checks the order
    /// as it merges, and hashes instead when it does not hold.
    fn ordered_scans_of(&self, table: &str) -> bool {
        let _ = table;
        self.ordered_scans()
    }

    /// The source's own DDL and file settings, which `copy` records in the
    /// target so the data can be written back in the source's own format
    /// (`copy postgresql://... --to sqlite:PATH`). None when the source has
    /// no such definition (documents).
    fn native_ddl(&self) -> Result<Option<native::NativeDdl>> {
        Ok(None)
    }

    /// Holds the source's writers until the hold is released: they wait,
    /// they are not refused (`cutover`'s final round). None when the
    /// source has no writers to hold.
    fn hold_writers(&self) -> Result<Option<Box<dyn WriterHold>>> {
        Ok(None)
    }

    /// An error from the target while copying this source, said in terms
    /// of the source (a document names its file: PostgreSQL's words alone
    /// would name neither the file nor what godwit made of it).
    fn explain_target_error(&self, error: crate::error::Error) -> crate::error::Error {
        error
    }

    /// Under what name a model this source learned is recorded in the
    /// target (its file, as an absolute path). None for a source that
    /// learns nothing from its values (SQLite), or whose model is not kept.
    fn model_key(&self) -> Option<String> {
        None
    }

    /// The model learned from the values, to record after a copy, tied to
    /// the bytes it was learned from; `Ok(Err(why))` when it cannot be
    /// kept (the files changed while they were read).
    fn learned_model(&self) -> Result<std::result::Result<serde_json::Value, String>> {
        Ok(Err("this source keeps no model".into()))
    }

    /// Takes a model [`Source::learned_model`] recorded, instead of learning
    /// the values again, when it was learned from exactly these bytes with
    /// these settings. `Ok(Err(why))` when it was not: the source then
    /// learns as usual.
    fn reuse_model(&self, recorded: &serde_json::Value) -> Result<std::result::Result<(), String>> {
        let _ = recorded;
        Ok(Err("this source keeps no model".into()))
    }

    /// Asks a source that learns its model from the values to describe
    /// itself, where it can, from the start of its values only, and to
    /// learn the rest while a copy stages its rows (one read instead of
    /// two). Asked before the first `describe`; a source that cannot
    /// ignores it.
    fn prefer_provisional_model(&self) {}

    /// Whether the model `describe` gave is provisional: the copy must
    /// call [`Source::settle_model`] once its rows are staged.
    fn model_is_provisional(&self) -> bool {
        false
    }

    /// After the staging scans: learns the whole model (from what the
    /// scans learned, reading again only what they did not), and from then
    /// on describes that. True when it makes the same tables, columns and
    /// rows as the provisional one; false when rows staged with the
    /// provisional one must be staged again.
    fn settle_model(&self) -> Result<bool> {
        Ok(true)
    }
}

/// The source's writers held ([`Source::hold_writers`]); dropping it
/// releases them too.
pub trait WriterHold: Send {
    fn release(self: Box<Self>) -> Result<()>;
}

/// Opens the source a user named, recognised by its content. Prefixes
/// force a kind: `sqlite:`, and for documents `json:`, `ndjson:`, `csv:`.
pub fn open(spec: &str) -> Result<Box<dyn Source>> {
    open_with(spec, &documents::DocumentOptions::default())
}

/// [`open`], with how documents are mapped (godwit.toml's `[documents]`).
pub fn open_with(spec: &str, options: &documents::DocumentOptions) -> Result<Box<dyn Source>> {
    use documents::detect::{Kind, kind_of};
    use std::path::PathBuf;
    if spec.starts_with("sqlite:") {
        return Ok(Box::new(sqlite::SqliteSource::open(spec)?));
    }
    let (forced, rest) = documents::detect::format_of_prefix(spec).map_or((None, spec), |(f, r)| (f, r));
    let path = PathBuf::from(rest);
    let fail = |message: String| crate::error::Error::Source {
        path: path.clone(),
        message,
    };
    let kind = kind_of(&path).map_err(|e| {
        fail(if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            e.to_string()
        })
    })?;
    // The prefix, else the file's name, decides the format; the content
    // only for other names.
    let named = forced
        .map(|f| (f, "the prefix"))
        .or_else(|| documents::detect::format_of_name(&path).map(|f| (f, "the name")));
    // A name that says CSV or JSON does not make UTF-16 or gzip readable.
    if let Some(why) = documents::detect::unreadable(&path, &kind) {
        return Err(fail(why));
    }
    if let Some((format, how)) = named.filter(|_| kind != Kind::Directory) {
        if kind == Kind::Sqlite {
            return Err(fail(format!(
                "{how} says a document, but it is a SQLite database: name it sqlite:{rest} to copy it as one"
            )));
        }
        let note = documents::detect::contradiction(format, how, &kind);
        return Ok(Box::new(
            documents::DocumentSource::new(path, Some(format), options).with_note(note),
        ));
    }
    match kind {
        Kind::Directory if forced.is_some() => {
            Err(fail("is a directory; name a directory without a format prefix".into()))
        }
        Kind::Sqlite => Ok(Box::new(sqlite::SqliteSource::open(rest)?)),
        Kind::Directory => Ok(Box::new(documents::DocumentSource::new(path, None, options))),
        Kind::Document(format) => Ok(Box::new(documents::DocumentSource::new(path, Some(format), options))),
        Kind::Empty => Err(fail(
            "is empty (0 bytes): neither a SQLite database nor a document".into(),
        )),
        Kind::Wide(_) | Kind::Compressed(_) => {
            Err(fail(documents::detect::unreadable(&path, &kind).unwrap_or_default()))
        }
        Kind::Binary(at) => {
            // Excel and older apps save text in Windows-1252 or Latin-1,
            // whose accented letters are no UTF-8.
            let single_byte = if at.maybe_single_byte {
                format!(
                    "; if it is text saved in a single-byte encoding (Windows-1252 or Latin-1, as Excel and older apps save it), name it csv:{rest} and set encoding = \"windows-1252\" under [documents.csv] in godwit.toml"
                )
            } else {
                String::new()
            };
            Err(fail(format!(
                "is not a SQLite database or a document: {at} is not text (another format, or an encrypted database; name it json:, ndjson: or csv: to read it as one){single_byte}"
            )))
        }
    }
}

/// A source value as JSON, the way the reject file writes keys (and verify
/// reports the same rows): blobs as hex.
pub fn json_of(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect::<String>().into(),
    }
}
