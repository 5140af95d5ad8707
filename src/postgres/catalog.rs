//! What the target database already has: tables and their columns with
//! actual types, for data-only loads and for verify.

use postgres::Client;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct TargetTable {
    pub name: String,
    pub columns: Vec<TargetColumn>,
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
    pub identity: bool,
    pub generated: bool,
}

/// Every ordinary table of `schema` with its columns, in column order.
pub fn tables(client: &mut Client, schema: &str) -> Result<Vec<TargetTable>> {
    let rows = client
        .query(
            "SELECT c.relname::text, a.attname::text, \
                    format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, \
                                CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END), \
                    (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e \
                      WHERE e.enumtypid = CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE t.oid END), \
                    t.typcategory = 'A', a.attnotnull, a.atthasdef, a.attidentity <> '', a.attgenerated <> '' \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_type t ON t.oid = a.atttypid \
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
            identity: row.get(7),
            generated: row.get(8),
        };
        match out.last_mut() {
            Some(t) if t.name == table => t.columns.push(column),
            _ => out.push(TargetTable {
                name: table,
                columns: vec![column],
            }),
        }
    }
    Ok(out)
}
