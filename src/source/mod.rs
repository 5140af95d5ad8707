//! Sources godwit reads: each describes its schema as a [`SourceSchema`],
//! then streams rows.

pub mod sqlite;

use serde::Serialize;

/// Everything godwit knows about a source database's structure.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSchema {
    pub tables: Vec<Table>,
    pub views: Vec<View>,
    pub triggers: Vec<Trigger>,
    /// Objects godwit cannot carry over (virtual tables), with the reason.
    pub unsupported: Vec<String>,
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

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub parts: Vec<IndexPart>,
    /// `WHERE` clause of a partial index, as written in SQLite.
    pub predicate: Option<String>,
    /// Created by a UNIQUE constraint rather than CREATE INDEX.
    pub from_constraint: bool,
}

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
