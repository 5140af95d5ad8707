//! SQLite's own DDL and file settings, for the way back.

use std::collections::HashMap;

use super::SqliteSource;
use crate::error::Result;
use crate::source::native::{FileSettings, NativeDdl, NativeObject, NativeTable};

impl SqliteSource {
    /// sqlite_master in creation order, every table's declared columns,
    /// sqlite_sequence and the PRAGMAs stored in the file.
    pub fn native(&self) -> Result<NativeDdl> {
        let conn = self.connect()?;
        let e = |err| self.err(err);
        let pragma =
            |name: &str| -> Result<i64> { conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(e) };
        let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(e)?;
        let settings = FileSettings {
            page_size: pragma("page_size")?,
            auto_vacuum: pragma("auto_vacuum")?,
            user_version: pragma("user_version")?,
            application_id: pragma("application_id")?,
            wal: journal.eq_ignore_ascii_case("wal"),
        };
        let mut stmt = conn
            .prepare(
                "SELECT type, name, tbl_name, sql, rowid FROM sqlite_master \
                 WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
            )
            .map_err(e)?;
        let objects: Vec<NativeObject> = stmt
            .query_map([], |r| {
                Ok(NativeObject {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    table: r.get(2)?,
                    sql: r.get(3)?,
                    position: r.get(4)?,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let sequences: HashMap<String, i64> = conn
            .prepare("SELECT name, seq FROM sqlite_sequence")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .unwrap_or_default();
        let mut tables = Vec::new();
        for object in objects.iter().filter(|o| o.kind == "table") {
            let mut info = conn
                .prepare("SELECT name, type, pk FROM pragma_table_xinfo(?1) ORDER BY cid")
                .map_err(e)?;
            let columns: Vec<(String, String, i64)> = info
                .query_map([&object.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
            let without_rowid: bool = conn
                .query_row(
                    "SELECT wr FROM pragma_table_list WHERE name = ?1 AND schema = 'main'",
                    [&object.name],
                    |r| r.get(0),
                )
                .unwrap_or(false);
            let keys = columns.iter().filter(|c| c.2 > 0).count();
            let rowid_alias = columns
                .iter()
                .find(|(_, declared, pk)| {
                    *pk > 0 && keys == 1 && !without_rowid && declared.eq_ignore_ascii_case("INTEGER")
                })
                .map(|c| c.0.clone());
            tables.push(NativeTable {
                name: object.name.clone(),
                columns: columns.into_iter().map(|(n, d, _)| (n, d)).collect(),
                rowid_alias,
                sequence: sequences.get(&object.name).copied(),
            });
        }
        Ok(NativeDdl {
            objects,
            tables,
            settings,
        })
    }
}
