//! SQLite DDL for a PostgreSQL schema godwit did not copy: columns with
//! types whose affinity keeps values exactly, NOT NULL, translatable
//! defaults, keys, unique constraints, foreign keys and plain indexes.
//! Whatever has no SQLite form is listed for review.

use postgres::GenericClient;

use crate::error::{Error, Result};
use crate::postgres::catalog;
use crate::reverse::value::PgKind;
use crate::source::sqlite::quote;

#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    pub type_sql: String,
    pub kind: PgKind,
    pub not_null: bool,
    pub default: Option<String>,
    /// Filled by an identity or a sequence (serial).
    pub sequence: Option<String>,
    pub generated: bool,
}

#[derive(Debug, Clone)]
pub struct PgTable {
    pub name: String,
    pub columns: Vec<PgColumn>,
    pub primary_key: Vec<String>,
    pub uniques: Vec<Vec<String>>,
    pub foreign_keys: Vec<PgForeignKey>,
    /// CHECK constraints: (name, definition).
    pub checks: Vec<(String, String)>,
    pub indexes: Vec<PgIndex>,
}

#[derive(Debug, Clone)]
pub struct PgForeignKey {
    pub columns: Vec<String>,
    pub parent: String,
    pub parent_schema: String,
    pub parent_columns: Vec<String>,
    pub on_delete: char,
    pub on_update: char,
    pub deferrable: bool,
    pub deferred: bool,
}

#[derive(Debug, Clone)]
pub struct PgIndex {
    pub name: String,
    pub unique: bool,
    /// (column, descending); None when the index has expressions.
    pub columns: Option<Vec<(String, bool)>>,
    pub partial: bool,
    pub definition: String,
}

/// Every ordinary table of the schema, with what SQLite can hold of it.
pub fn read(client: &mut impl GenericClient, schema: &str) -> Result<Vec<PgTable>> {
    let e = |what: &str, err: postgres::Error| Error::pg(format!("reading {what} of schema {schema}"), &err);
    // Partitions are read through their parent.
    let mut tables: Vec<PgTable> = catalog::tables(client, schema)?
        .into_iter()
        .filter(|t| !t.is_partition)
        .map(|t| PgTable {
            name: t.name,
            columns: t
                .columns
                .into_iter()
                .map(|c| PgColumn {
                    name: c.name,
                    kind: PgKind::of(&c.type_sql, c.is_array),
                    type_sql: c.type_sql,
                    not_null: c.not_null,
                    default: c.default,
                    sequence: c.sequence,
                    generated: c.generated,
                })
                .collect(),
            primary_key: Vec::new(),
            uniques: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            indexes: Vec::new(),
        })
        .collect();
    let names = |attnums: &str| {
        format!(
            "ARRAY(SELECT a.attname::text FROM unnest({attnums}) WITH ORDINALITY k(n, i) \
             JOIN pg_attribute a ON a.attrelid = {} AND a.attnum = k.n ORDER BY k.i)",
            if attnums.starts_with("con.confkey") {
                "con.confrelid"
            } else {
                "con.conrelid"
            }
        )
    };
    let constraints = client
        .query(
            &format!(
                "SELECT c.relname::text, con.contype::text, {}, pc.relname::text, pn.nspname::text, {}, \
                        con.confdeltype::text, con.confupdtype::text, con.condeferrable, con.condeferred, \
                        con.conname::text, pg_get_constraintdef(con.oid) \
                 FROM pg_constraint con \
                 JOIN pg_class c ON c.oid = con.conrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_class pc ON pc.oid = con.confrelid \
                 LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace \
                 WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'f', 'c') \
                 ORDER BY c.relname, con.conname",
                names("con.conkey"),
                names("con.confkey")
            ),
            &[&schema],
        )
        .map_err(|err| e("the constraints", err))?;
    for row in constraints {
        let table: String = row.get(0);
        let Some(t) = tables.iter_mut().find(|t| t.name == table) else {
            continue;
        };
        let kind: String = row.get(1);
        let columns: Vec<String> = row.get(2);
        let first = |s: String| s.chars().next().unwrap_or('a');
        match kind.as_str() {
            "p" => t.primary_key = columns,
            "u" => t.uniques.push(columns),
            "f" => t.foreign_keys.push(PgForeignKey {
                columns,
                parent: row.get(3),
                parent_schema: row.get(4),
                parent_columns: row.get(5),
                on_delete: first(row.get(6)),
                on_update: first(row.get(7)),
                deferrable: row.get(8),
                deferred: row.get(9),
            }),
            _ => t.checks.push((row.get(10), row.get(11))),
        }
    }
    let indexes = client
        .query(
            "SELECT c.relname::text, i.relname::text, x.indisunique, x.indexprs IS NULL, x.indpred IS NOT NULL, \
                    ARRAY(SELECT coalesce(a.attname::text, '') FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o) \
                          LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n \
                          WHERE k.o <= x.indnkeyatts ORDER BY k.o), \
                    ARRAY(SELECT (k.opt & 1) = 1 FROM unnest(x.indoption::int2[]) WITH ORDINALITY k(opt, o) ORDER BY k.o), \
                    pg_get_indexdef(x.indexrelid) \
             FROM pg_index x \
             JOIN pg_class c ON c.oid = x.indrelid \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid) \
             ORDER BY c.relname, i.relname",
            &[&schema],
        )
        .map_err(|err| e("the indexes", err))?;
    for row in indexes {
        let table: String = row.get(0);
        let Some(t) = tables.iter_mut().find(|t| t.name == table) else {
            continue;
        };
        let plain: bool = row.get(3);
        let cols: Vec<String> = row.get(5);
        let desc: Vec<bool> = row.get(6);
        t.indexes.push(PgIndex {
            name: row.get(1),
            unique: row.get(2),
            columns: (plain && cols.iter().all(|c| !c.is_empty())).then(|| {
                cols.into_iter()
                    .zip(desc.into_iter().chain(std::iter::repeat(false)))
                    .collect()
            }),
            partial: row.get(4),
            definition: row.get(7),
        });
    }
    Ok(tables)
}

/// The CREATE TABLE and CREATE INDEX statements for one table, plus what
/// cannot be carried over. The integer key of a table filled by a sequence
/// becomes `INTEGER PRIMARY KEY AUTOINCREMENT`, which, like a sequence,
/// never hands out an id twice.
pub fn ddl(table: &PgTable, schema: &str) -> (String, Vec<String>, Vec<String>) {
    let mut items = Vec::new();
    let rowid_key = match table.primary_key.as_slice() {
        [key] => table
            .columns
            .iter()
            .find(|c| &c.name == key && c.kind == PgKind::Integer)
            .map(|c| c.name.clone()),
        _ => None,
    };
    let mut lines = Vec::new();
    for c in &table.columns {
        let mut line = format!("{} {}", quote(&c.name), c.kind.declared(&c.type_sql));
        if rowid_key.as_deref() == Some(c.name.as_str()) {
            line = format!("{} INTEGER PRIMARY KEY", quote(&c.name));
            if c.sequence.is_some() {
                line.push_str(" AUTOINCREMENT");
            }
        }
        if c.not_null && rowid_key.as_deref() != Some(c.name.as_str()) {
            line.push_str(" NOT NULL");
        }
        if let PgKind::Other(t) = &c.kind {
            items.push(format!(
                "{}.{} ({t}) is kept as its PostgreSQL text in a TEXT column",
                table.name, c.name
            ));
        }
        if c.generated {
            items.push(format!(
                "{}.{} is a generated column in PostgreSQL; its values are kept, the expression is not",
                table.name, c.name
            ));
        } else if let Some(default) = &c.default
            && !(c.sequence.is_some() && default.starts_with("nextval("))
        {
            match translate_default(default, &c.kind) {
                Some(sql) => line.push_str(&format!(" DEFAULT {sql}")),
                None => items.push(format!(
                    "default of {}.{} ({default}) has no SQLite form; it is not kept",
                    table.name, c.name
                )),
            }
        } else if c.sequence.is_some() && rowid_key.as_deref() != Some(c.name.as_str()) {
            items.push(format!(
                "{}.{} is filled by a sequence in PostgreSQL; SQLite has none outside an INTEGER PRIMARY KEY",
                table.name, c.name
            ));
        }
        lines.push(line);
    }
    let list = |cols: &[String]| cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    if rowid_key.is_none() && !table.primary_key.is_empty() {
        lines.push(format!("PRIMARY KEY ({})", list(&table.primary_key)));
    }
    for u in &table.uniques {
        lines.push(format!("UNIQUE ({})", list(u)));
    }
    for fk in &table.foreign_keys {
        if fk.parent_schema != schema {
            items.push(format!(
                "foreign key {}({}) references {}.{}, outside the schema copied; it is not kept",
                table.name,
                fk.columns.join(", "),
                fk.parent_schema,
                fk.parent
            ));
            continue;
        }
        let action = |a: char| match a {
            'c' => " CASCADE",
            'n' => " SET NULL",
            'd' => " SET DEFAULT",
            'r' => " RESTRICT",
            _ => " NO ACTION",
        };
        let mut line = format!(
            "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE{} ON UPDATE{}",
            list(&fk.columns),
            quote(&fk.parent),
            list(&fk.parent_columns),
            action(fk.on_delete),
            action(fk.on_update)
        );
        if fk.deferrable {
            line.push_str(if fk.deferred {
                " DEFERRABLE INITIALLY DEFERRED"
            } else {
                " DEFERRABLE INITIALLY IMMEDIATE"
            });
        }
        lines.push(line);
    }
    for (name, definition) in &table.checks {
        items.push(format!(
            "check {name} on {} ({definition}) is PostgreSQL SQL; it is not kept",
            table.name
        ));
    }
    let create = format!("CREATE TABLE {} (\n  {}\n)", quote(&table.name), lines.join(",\n  "));
    let mut indexes = Vec::new();
    for index in &table.indexes {
        match (&index.columns, index.partial) {
            (Some(cols), false) => {
                let parts: Vec<String> = cols
                    .iter()
                    .map(|(c, desc)| format!("{}{}", quote(c), if *desc { " DESC" } else { "" }))
                    .collect();
                indexes.push(format!(
                    "CREATE {}INDEX {} ON {} ({})",
                    if index.unique { "UNIQUE " } else { "" },
                    quote(&index.name),
                    quote(&table.name),
                    parts.join(", ")
                ));
            }
            _ => items.push(format!(
                "index {} ({}) uses expressions or a predicate in PostgreSQL SQL; it is not kept",
                index.name, index.definition
            )),
        }
    }
    (create, indexes, items)
}

/// A PostgreSQL default as SQLite SQL, for literals and the current time.
fn translate_default(default: &str, kind: &PgKind) -> Option<String> {
    let d = default.trim();
    let now = |d: &str| {
        matches!(
            d,
            "now()" | "CURRENT_TIMESTAMP" | "statement_timestamp()" | "transaction_timestamp()" | "LOCALTIMESTAMP"
        )
    };
    match kind {
        PgKind::Timestamptz if now(d) => return Some("(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))".into()),
        PgKind::Timestamp if now(d) => return Some("(strftime('%Y-%m-%d %H:%M:%f', 'now'))".into()),
        PgKind::Date if d == "CURRENT_DATE" => return Some("CURRENT_DATE".into()),
        _ => {}
    }
    if d == "true" || d == "false" {
        return Some(if d == "true" { "1" } else { "0" }.into());
    }
    if d == "NULL" || d.starts_with("NULL::") {
        return Some("NULL".into());
    }
    let number = |s: &str| {
        let t = s.trim_start_matches('(').trim_end_matches(')');
        (t.parse::<f64>().is_ok() && !t.contains(['e', 'E', 'n', 'N', 'i', 'I'])).then(|| t.to_string())
    };
    if let Some(n) = number(d) {
        return Some(if *kind == PgKind::Numeric { format!("'{n}'") } else { n });
    }
    // 'literal'::type
    let rest = d.strip_prefix('\'')?;
    let mut literal = String::new();
    let mut chars = rest.chars().peekable();
    loop {
        match chars.next()? {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                literal.push('\'');
            }
            '\'' => break,
            c => literal.push(c),
        }
    }
    let tail: String = chars.collect();
    if !(tail.is_empty() || tail.starts_with("::")) || tail.contains('(') && !tail.contains("::character") {
        return None;
    }
    match kind {
        PgKind::Boolean => match literal.as_str() {
            "true" | "t" => Some("1".into()),
            "false" | "f" => Some("0".into()),
            _ => None,
        },
        PgKind::Integer | PgKind::Float => number(&literal),
        PgKind::Timestamp | PgKind::Timestamptz | PgKind::Date | PgKind::Time | PgKind::Bytea => None,
        _ => Some(format!("'{}'", literal.replace('\'', "''"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        assert_eq!(translate_default("0", &PgKind::Integer).as_deref(), Some("0"));
        assert_eq!(
            translate_default("'-1'::integer", &PgKind::Integer).as_deref(),
            Some("-1")
        );
        assert_eq!(translate_default("true", &PgKind::Boolean).as_deref(), Some("1"));
        assert_eq!(
            translate_default("'it''s'::text", &PgKind::Text).as_deref(),
            Some("'it''s'")
        );
        assert_eq!(translate_default("'{}'::jsonb", &PgKind::Json).as_deref(), Some("'{}'"));
        assert!(translate_default("now()", &PgKind::Timestamptz).is_some());
        assert_eq!(translate_default("gen_random_uuid()", &PgKind::Uuid), None);
        assert_eq!(translate_default("1.50", &PgKind::Numeric).as_deref(), Some("'1.50'"));
    }
}
