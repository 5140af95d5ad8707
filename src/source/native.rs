//! A source's own definition of itself, for writing it back in its own
//! format (`copy postgresql://... --to sqlite:PATH`): the statements that
//! create it and the settings stored in the file. Only SQLite has one.

use serde::{Deserialize, Serialize};

/// The source's DDL objects in creation order, its tables' columns as
/// declared, and its file settings.
#[derive(Debug, Clone, Default)]
pub struct NativeDdl {
    pub objects: Vec<NativeObject>,
    pub tables: Vec<NativeTable>,
    pub settings: FileSettings,
}

/// A CREATE statement: table, index, trigger or view.
#[derive(Debug, Clone)]
pub struct NativeObject {
    /// `table`, `index`, `trigger` or `view`.
    pub kind: String,
    pub name: String,
    /// The table an index or trigger belongs to.
    pub table: String,
    pub sql: String,
    /// Its place in creation order.
    pub position: i64,
}

#[derive(Debug, Clone)]
pub struct NativeTable {
    pub name: String,
    /// Every column in order, with its declared type as written.
    pub columns: Vec<(String, String)>,
    /// The integer key that is the row's address (SQLite's rowid alias).
    pub rowid_alias: Option<String>,
    /// The last id handed out (SQLite's sqlite_sequence, AUTOINCREMENT).
    pub sequence: Option<i64>,
}

/// Settings stored in the database file itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileSettings {
    pub page_size: i64,
    pub auto_vacuum: i64,
    pub user_version: i64,
    pub application_id: i64,
    pub wal: bool,
}
