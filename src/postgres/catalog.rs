//! What a PostgreSQL schema already has: tables and their columns with
//! actual types, defaults and sequences. One reader for data-only loads,
//! verify, sync and the copy back into SQLite (`reverse::generic`).
//!
//! `migrate diff` reads its own whole-database snapshot
//! (`migrate/diff/catalog.rs`): it needs the declared types (domains and
//! collations kept), identity kinds, enums, sequences' options and views of
//! every schema, quoted for DDL; `inspect` reads the statistics views.

use postgres::GenericClient;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct TargetTable {
    pub name: String,
    pub columns: Vec<TargetColumn>,
    /// A partition of a partitioned table (its rows are read through the parent).
    pub is_partition: bool,
}

#[derive(Debug, Clone)]
pub struct TargetColumn {
    pub name: String,
    /// As `format_type` prints it, e.g. `timestamp(3) without time zone`.
    pub type_sql: String,
    /// Labels when the type (or, for arrays, the element type) is an enum.
    pub enum_labels: Option<Vec<String>>,
    pub is_array: bool,
    pub not_null: bool,
    pub has_default: bool,
    /// The default's expression (`pg_get_expr`), when there is one.
    pub default: Option<String>,
    /// The sequence that fills it (an identity or serial), qualified.
    pub sequence: Option<String>,
    pub identity: bool,
    pub generated: bool,
}

/// Every ordinary table of `schema` with its columns, in column order.
pub fn tables(client: &mut impl GenericClient, schema: &str) -> Result<Vec<TargetTable>> {
    let rows = client
        .query(
            "SELECT c.relname::text, a.attname::text, \
                    format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, \
                                CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END), \
                    (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e \
                      WHERE e.enumtypid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END), \
                    t.typcategory = 'A', a.attnotnull, a.atthasdef, a.attidentity <> '', a.attgenerated <> '', \
                    c.relispartition, pg_get_expr(d.adbin, d.adrelid), \
                    pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .map_err(|e| Error::pg(format!("reading the tables of schema {schema}"), &e))?;
    let mut out: Vec<TargetTable> = Vec::new();
    for row in rows {
        let table: String = row.get(0);
        let column = TargetColumn {
            name: row.get(1),
            type_sql: row.get(2),
            enum_labels: row.get(3),
            is_array: row.get(4),
            not_null: row.get(5),
            has_default: row.get(6),
            default: row.get(10),
            sequence: row.get(11),
            identity: row.get(7),
            generated: row.get(8),
        };
        match out.last_mut() {
            Some(t) if t.name == table => t.columns.push(column),
            _ => out.push(TargetTable {
                name: table,
                columns: vec![column],
                is_partition: row.get(9),
            }),
        }
    }
    Ok(out)
}
