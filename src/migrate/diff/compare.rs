//! Compares two catalogs and emits the statements that turn `current` into
//! `desired`, in an order that respects dependencies:
//! schemas, extensions, enums, functions → drop dependent views → drop
//! constraints (foreign keys first), triggers and indexes → sequences → new
//! tables → column changes → dropped tables and sequences → add constraints
//! (foreign keys last) → indexes → triggers → views → drop functions, types,
//! extensions, schemas.

use std::collections::{BTreeMap, BTreeSet};

use crate::postgres::conn::quote_literal;

use super::catalog::{Catalog, Column, Sequence};

#[derive(Debug, Clone)]
pub struct Change {
    pub sql: String,
    /// Comment printed above the statement: data loss or a manual step.
    pub warning: Option<String>,
}

fn plain(sql: String) -> Change {
    Change { sql, warning: None }
}

fn destructive(sql: String, what: String) -> Change {
    Change {
        sql,
        warning: Some(format!("DESTRUCTIVE: {what}")),
    }
}

/// Schemas that must never be dropped (the history table's).
pub struct Keep<'a> {
    pub schema: &'a str,
}

pub fn diff(current: &Catalog, desired: &Catalog, keep: &Keep<'_>) -> Vec<Change> {
    let mut out = Vec::new();

    for schema in desired.schemas.difference(&current.schemas) {
        out.push(plain(format!("CREATE SCHEMA {schema};")));
    }
    for (name, schema) in &desired.extensions {
        match current.extensions.get(name) {
            None => out.push(plain(format!(
                "CREATE EXTENSION IF NOT EXISTS \"{name}\" WITH SCHEMA {schema};"
            ))),
            Some(old) if old != schema => out.push(plain(format!("ALTER EXTENSION \"{name}\" SET SCHEMA {schema};"))),
            Some(_) => {}
        }
    }
    enums(current, desired, &mut out);
    // New and changed functions come before the tables whose defaults,
    // checks and triggers may call them; bodies that read tables created
    // later are only checked when called.
    let new_functions: Vec<&(String, String)> = desired
        .functions
        .iter()
        .filter(|f| !current.functions.contains(f))
        .collect();
    if !new_functions.is_empty() {
        out.push(plain("SET check_function_bodies = off;".into()));
    }
    for (_, definition) in &new_functions {
        out.push(plain(format!("{};", definition.trim_end().trim_end_matches(';'))));
    }

    let enum_columns = recreated_enum_columns(current, desired);
    // Tables whose columns change: views reading them are rebuilt.
    let changed_tables: BTreeSet<&String> = current
        .tables
        .iter()
        .filter(|(name, table)| desired.tables.get(*name) != Some(*table))
        .map(|(name, _)| name)
        .chain(enum_columns.iter().map(|(table, _, _)| *table))
        .collect();
    let rebuilt_views = views_to_drop(current, desired, &changed_tables);
    for view in current.views.iter().rev().filter(|v| rebuilt_views.contains(&v.name)) {
        let kind = if view.materialized { "MATERIALIZED VIEW" } else { "VIEW" };
        out.push(plain(format!("DROP {kind} {};", view.name)));
    }

    let dropped_tables: BTreeSet<&String> = current
        .tables
        .keys()
        .filter(|t| !desired.tables.contains_key(*t))
        .collect();
    // Indexes and constraints on a column that is dropped and added again
    // vanish with it, so they are dropped first and created again.
    let mut recreated: BTreeMap<&String, Vec<&str>> = desired
        .tables
        .iter()
        .filter_map(|(name, table)| {
            let old = current.tables.get(name)?;
            let columns: Vec<&str> = recreated_columns(&old.columns, &table.columns)
                .into_iter()
                .map(|c| c.name.as_str())
                .collect();
            (!columns.is_empty()).then_some((name, columns))
        })
        .collect();
    // Converting a column to a recreated enum breaks indexes and checks
    // that compare it with the old type's values: they are rebuilt too.
    for (table, column, _) in &enum_columns {
        recreated.entry(*table).or_default().push(column.name.as_str());
    }
    let touches_recreated = |table: &String, definition: &str| {
        recreated
            .get(table)
            .is_some_and(|columns| columns.iter().any(|c| mentions(definition, c)))
    };
    let constraint_changed = |key: &(String, String), c: &super::catalog::Constraint| {
        desired.constraints.get(key) != Some(c) || touches_recreated(&key.0, &c.definition)
    };
    let index_changed = |name: &String, index: &super::catalog::Index| {
        desired.indexes.get(name) != Some(index) || touches_recreated(&index.table, &index.definition)
    };
    // A foreign key depends on the referenced table's unique index: when
    // that goes (a changed key or unique index), the foreign key must be
    // dropped before it and added again after.
    let tables_losing_keys: BTreeSet<&String> = current
        .constraints
        .iter()
        .filter(|(key, c)| matches!(c.kind.as_str(), "p" | "u") && constraint_changed(key, c))
        .map(|(key, _)| &key.0)
        .chain(
            current
                .indexes
                .iter()
                .filter(|(name, index)| index.definition.starts_with("CREATE UNIQUE") && index_changed(name, index))
                .map(|(_, index)| &index.table),
        )
        .collect();
    let rebuilt_foreign_keys: BTreeSet<&(String, String)> = current
        .constraints
        .iter()
        .filter(|(key, c)| {
            c.kind == "f"
                && desired.constraints.get(*key) == Some(*c)
                && c.references.as_ref().is_some_and(|r| tables_losing_keys.contains(r))
        })
        .map(|(key, _)| key)
        .collect();
    // Foreign keys first: they depend on the other constraints' indexes,
    // and dropped tables referencing each other must lose them before any
    // of those tables can go. Other constraints of dropped tables go with them.
    for foreign_first in [true, false] {
        for (key, constraint) in &current.constraints {
            let is_foreign = constraint.kind == "f";
            if is_foreign != foreign_first || (!is_foreign && dropped_tables.contains(&key.0)) {
                continue;
            }
            if constraint_changed(key, constraint) || rebuilt_foreign_keys.contains(key) {
                out.push(plain(format!("ALTER TABLE {} DROP CONSTRAINT {};", key.0, key.1)));
            }
        }
    }
    for (key, definition) in &current.triggers {
        if !dropped_tables.contains(&key.0) && desired.triggers.get(key) != Some(definition) {
            out.push(plain(format!("DROP TRIGGER {} ON {};", key.1, key.0)));
        }
    }
    for (name, index) in &current.indexes {
        if !dropped_tables.contains(&index.table) && index_changed(name, index) {
            out.push(plain(format!("DROP INDEX {name};")));
        }
    }

    for (name, sequence) in &desired.sequences {
        match current.sequences.get(name) {
            None => out.push(plain(format!("CREATE SEQUENCE {name} {};", sequence_options(sequence)))),
            Some(old) if sequence_options(old) != sequence_options(sequence) => {
                out.push(plain(format!("ALTER SEQUENCE {name} {};", sequence_options(sequence))));
            }
            Some(_) => {}
        }
    }

    for (name, table) in &desired.tables {
        if !current.tables.contains_key(name) {
            let columns: Vec<String> = table
                .columns
                .iter()
                .map(|c| format!("    {}", column_definition(c)))
                .collect();
            out.push(plain(format!("CREATE TABLE {name} (\n{}\n);", columns.join(",\n"))));
        }
    }
    for (table, column, wanted) in &enum_columns {
        let name = &column.name;
        let Some(enum_type) = &column.enum_type else {
            continue;
        };
        if column.default.is_some() {
            out.push(plain(format!("ALTER TABLE {table} ALTER COLUMN {name} DROP DEFAULT;")));
        }
        out.push(plain(format!(
            "ALTER TABLE {table} ALTER COLUMN {name} TYPE {enum_type} USING {name}::text::{enum_type};"
        )));
        if let Some(default) = wanted.and_then(|w| w.default.as_ref()) {
            out.push(plain(format!(
                "ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT {default};"
            )));
        }
    }
    for (name, table) in &desired.tables {
        if let Some(old) = current.tables.get(name) {
            columns(name, &old.columns, &table.columns, &mut out);
        }
    }
    for table in &dropped_tables {
        out.push(destructive(
            format!("DROP TABLE {table};"),
            format!("drops table {table} and all its rows"),
        ));
    }

    for (name, sequence) in &desired.sequences {
        let old_owner = current.sequences.get(name).and_then(|s| s.owned_by.clone());
        if sequence.owned_by != old_owner {
            let owner = sequence
                .owned_by
                .as_ref()
                .map_or_else(|| "NONE".to_string(), |(table, column)| format!("{table}.{column}"));
            out.push(plain(format!("ALTER SEQUENCE {name} OWNED BY {owner};")));
        }
    }
    for (name, sequence) in &current.sequences {
        if desired.sequences.contains_key(name) {
            continue;
        }
        // A sequence owned by a dropped table or column is already gone.
        let goes_with_owner = sequence.owned_by.as_ref().is_some_and(|(table, column)| {
            dropped_tables.contains(table)
                || desired
                    .tables
                    .get(table)
                    .is_some_and(|t| !t.columns.iter().any(|c| &c.name == column))
        });
        if !goes_with_owner {
            out.push(destructive(
                format!("DROP SEQUENCE {name};"),
                format!("drops sequence {name} and its current value"),
            ));
        }
    }

    for kinds in [["p", "u", "x", "c"].as_slice(), ["f"].as_slice()] {
        for (key, constraint) in &desired.constraints {
            if kinds.contains(&constraint.kind.as_str())
                && (current.constraints.get(key) != Some(constraint)
                    || rebuilt_foreign_keys.contains(key)
                    || touches_recreated(&key.0, &constraint.definition))
            {
                out.push(plain(format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} {};",
                    key.0, key.1, constraint.definition
                )));
            }
        }
    }
    for (name, index) in &desired.indexes {
        if current.indexes.get(name) != Some(index) || touches_recreated(&index.table, &index.definition) {
            // Existing tables keep taking writes while the index builds.
            let definition = if current.tables.contains_key(&index.table) {
                index.definition.replacen("INDEX ", "INDEX CONCURRENTLY ", 1)
            } else {
                index.definition.clone()
            };
            out.push(plain(format!("{definition};")));
        }
    }
    for (key, definition) in &desired.triggers {
        if current.triggers.get(key) != Some(definition) {
            out.push(plain(format!("{definition};")));
        }
    }
    for view in &desired.views {
        if rebuilt_views.contains(&view.name) || !current.views.iter().any(|v| v.name == view.name) {
            let kind = if view.materialized { "MATERIALIZED VIEW" } else { "VIEW" };
            let body = view.definition.trim_end().trim_end_matches(';');
            out.push(plain(format!("CREATE {kind} {} AS\n{body};", view.name)));
        }
    }

    let desired_signatures: BTreeSet<&String> = desired.functions.iter().map(|(sig, _)| sig).collect();
    for (signature, definition) in current.functions.iter().rev() {
        if !desired_signatures.contains(signature) {
            let kind = if definition.starts_with("CREATE OR REPLACE PROCEDURE") {
                "PROCEDURE"
            } else {
                "FUNCTION"
            };
            out.push(plain(format!("DROP {kind} {signature};")));
        }
    }
    for (name, labels) in &current.enums {
        let recreated = desired.enums.get(name).is_some_and(|new| must_recreate(labels, new));
        if let Some((_, parked)) = current.enum_parking.get(name).filter(|_| recreated) {
            out.push(plain(format!("DROP TYPE {parked};")));
        }
    }
    for name in current.enums.keys().filter(|e| !desired.enums.contains_key(*e)) {
        out.push(plain(format!("DROP TYPE {name};")));
    }
    for name in current
        .extensions
        .keys()
        .filter(|e| !desired.extensions.contains_key(*e))
    {
        out.push(destructive(
            format!("DROP EXTENSION \"{name}\";"),
            format!("drops extension {name} and the objects it provides"),
        ));
    }
    for schema in current.schemas.difference(&desired.schemas) {
        if schema.trim_matches('"') != keep.schema {
            out.push(destructive(
                format!("DROP SCHEMA {schema};"),
                format!("drops schema {schema}"),
            ));
        }
    }
    out
}

/// Views that must go: removed, redefined, reading a changed table, or
/// reading another view that goes.
fn views_to_drop(current: &Catalog, desired: &Catalog, changed_tables: &BTreeSet<&String>) -> BTreeSet<String> {
    let mut drop: BTreeSet<String> = current
        .views
        .iter()
        .filter(|v| {
            desired.views.iter().find(|d| d.name == v.name) != Some(*v)
                || current
                    .view_deps
                    .get(&v.name)
                    .is_some_and(|deps| deps.iter().any(|d| changed_tables.contains(d)))
        })
        .map(|v| v.name.clone())
        .collect();
    loop {
        let before = drop.len();
        for view in &current.views {
            if current
                .view_deps
                .get(&view.name)
                .is_some_and(|deps| deps.iter().any(|d| drop.contains(d)))
            {
                drop.insert(view.name.clone());
            }
        }
        if drop.len() == before {
            return drop;
        }
    }
}

fn enums(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
    for (name, labels) in &desired.enums {
        let Some(old) = current.enums.get(name) else {
            let list: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
            out.push(plain(format!("CREATE TYPE {name} AS ENUM ({});", list.join(", "))));
            continue;
        };
        if old == labels {
            continue;
        }
        if must_recreate(old, labels) {
            // PostgreSQL cannot drop or reorder enum values: the old type is
            // renamed out of the way, the columns are converted through text
            // (see `convert_enum_columns`) and the old type dropped at the end.
            let list: Vec<String> = labels.iter().map(|l| quote_literal(l)).collect();
            match current.enum_parking.get(name) {
                Some((bare, _)) => {
                    out.push(Change {
                        sql: format!("ALTER TYPE {name} RENAME TO {bare};"),
                        warning: Some(format!(
                            "recreates enum {name} ({} → {}): rows holding a removed value make the conversion fail",
                            old.join(", "),
                            labels.join(", ")
                        )),
                    });
                    out.push(plain(format!("CREATE TYPE {name} AS ENUM ({});", list.join(", "))));
                }
                None => out.push(Change {
                    sql: format!("-- ALTER TYPE {name}: values removed or reordered"),
                    warning: Some("MANUAL: recreate the enum type by hand".into()),
                }),
            }
            continue;
        }
        for (position, label) in labels.iter().enumerate() {
            if old.contains(label) {
                continue;
            }
            let anchor = match position.checked_sub(1).and_then(|p| labels.get(p)) {
                Some(previous) => format!(" AFTER {}", quote_literal(previous)),
                None => format!(" BEFORE {}", quote_literal(&labels[1])),
            };
            out.push(plain(format!(
                "ALTER TYPE {name} ADD VALUE IF NOT EXISTS {}{anchor};",
                quote_literal(label)
            )));
        }
    }
}

/// Whether going from `old` to `new` labels removes or reorders values
/// (anything but inserting new ones).
fn must_recreate(old: &[String], new: &[String]) -> bool {
    let kept: Vec<&String> = new.iter().filter(|l| old.contains(l)).collect();
    kept.len() != old.len() || !kept.iter().zip(old).all(|(a, b)| *a == b)
}

/// Enum types that are recreated, with the (table, column) pairs of tables
/// that stay which use them.
fn recreated_enum_columns<'a>(
    current: &'a Catalog,
    desired: &'a Catalog,
) -> Vec<(&'a String, &'a Column, Option<&'a Column>)> {
    let recreated: BTreeSet<&String> = desired
        .enums
        .iter()
        .filter(|(name, labels)| current.enums.get(*name).is_some_and(|old| must_recreate(old, labels)))
        .map(|(name, _)| name)
        .collect();
    let mut columns = Vec::new();
    for (table, old) in &current.tables {
        let Some(new) = desired.tables.get(table) else {
            continue;
        };
        for column in &old.columns {
            if column.enum_type.as_ref().is_some_and(|t| recreated.contains(t)) {
                let wanted = new.columns.iter().find(|c| c.name == column.name);
                columns.push((table, column, wanted));
            }
        }
    }
    columns
}

fn sequence_options(s: &Sequence) -> String {
    format!(
        "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
        s.data_type,
        s.increment,
        s.min,
        s.max,
        s.start,
        s.cache,
        if s.cycle { "CYCLE" } else { "NO CYCLE" }
    )
}

fn type_clause(c: &Column) -> String {
    match &c.collation {
        Some(collation) => format!("{} COLLATE {collation}", c.data_type),
        None => c.data_type.clone(),
    }
}

fn column_definition(c: &Column) -> String {
    let mut sql = format!("{} {}", c.name, type_clause(c));
    match (c.identity.as_str(), c.generated.as_str(), &c.default) {
        ("a", _, _) => sql.push_str(" GENERATED ALWAYS AS IDENTITY"),
        ("d", _, _) => sql.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
        (_, "s", Some(expr)) => sql.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED")),
        (_, "v", Some(expr)) => sql.push_str(&format!(" GENERATED ALWAYS AS ({expr}) VIRTUAL")),
        (_, _, Some(expr)) => sql.push_str(&format!(" DEFAULT {expr}")),
        _ => {}
    }
    if c.not_null {
        sql.push_str(" NOT NULL");
    }
    sql
}

/// Columns that must be dropped and added again: generated columns whose
/// expression or kind changes (PostgreSQL 15 cannot alter them), and every
/// generated column of a table where some column changes type (PostgreSQL
/// refuses to retype a column a generated column reads).
fn recreated_columns<'a>(old: &[Column], new: &'a [Column]) -> Vec<&'a Column> {
    let any_retyped = new.iter().any(|column| {
        old.iter()
            .find(|c| c.name == column.name)
            .is_some_and(|before| before.data_type != column.data_type || before.collation != column.collation)
    });
    new.iter()
        .filter(|column| {
            old.iter().find(|c| c.name == column.name).is_some_and(|before| {
                before.generated != column.generated
                    || (!column.generated.is_empty() && before.default != column.default)
                    || (any_retyped && !column.generated.is_empty())
            })
        })
        .collect()
}

/// Whether a definition names `column` as a whole identifier.
fn mentions(definition: &str, column: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    definition.match_indices(column).any(|(at, _)| {
        let before = definition[..at].chars().next_back();
        let after = definition[at + column.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

fn columns(table: &str, old: &[Column], new: &[Column], out: &mut Vec<Change>) {
    let alter = |rest: String| plain(format!("ALTER TABLE {table} {rest};"));
    let recreated = recreated_columns(old, new);
    for column in &recreated {
        let was_generated = old.iter().any(|o| o.name == column.name && !o.generated.is_empty());
        if was_generated && !column.generated.is_empty() {
            out.push(alter(format!("DROP COLUMN {}", column.name)));
        } else {
            out.push(destructive(
                format!("ALTER TABLE {table} DROP COLUMN {};", column.name),
                format!(
                    "recreates {table}.{} as a {} column; its current values are lost",
                    column.name,
                    if column.generated.is_empty() {
                        "plain"
                    } else {
                        "generated"
                    }
                ),
            ));
        }
    }
    for column in new {
        if recreated.iter().any(|c| c.name == column.name) {
            continue;
        }
        let Some(before) = old.iter().find(|c| c.name == column.name) else {
            out.push(alter(format!("ADD COLUMN {}", column_definition(column))));
            continue;
        };
        if before == column {
            continue;
        }
        let name = &column.name;
        if !before.identity.is_empty() && column.identity.is_empty() {
            out.push(alter(format!("ALTER COLUMN {name} DROP IDENTITY")));
        }
        let retyped = before.data_type != column.data_type || before.collation != column.collation;
        let mut old_default = before.default.clone();
        if retyped && old_default.is_some() {
            out.push(alter(format!("ALTER COLUMN {name} DROP DEFAULT")));
            old_default = None;
        }
        if retyped {
            out.push(Change {
                sql: format!(
                    "ALTER TABLE {table} ALTER COLUMN {name} TYPE {} USING {name}::{};",
                    type_clause(column),
                    column.data_type
                ),
                warning: Some(format!(
                    "changes the type of {table}.{name} from {} to {}: rewrites the table; values that do not convert make it fail",
                    before.data_type, column.data_type
                )),
            });
        }
        // Identity columns have no default; one left over must go first.
        let wanted_default = if column.identity.is_empty() {
            column.default.clone()
        } else {
            None
        };
        if old_default != wanted_default {
            match &wanted_default {
                Some(expr) => out.push(alter(format!("ALTER COLUMN {name} SET DEFAULT {expr}"))),
                None => out.push(alter(format!("ALTER COLUMN {name} DROP DEFAULT"))),
            }
        }
        if before.not_null != column.not_null {
            let verb = if column.not_null { "SET" } else { "DROP" };
            out.push(alter(format!("ALTER COLUMN {name} {verb} NOT NULL")));
        }
        let kind = |identity: &str| {
            if identity == "a" { "ALWAYS" } else { "BY DEFAULT" }
        };
        match (before.identity.as_str(), column.identity.as_str()) {
            ("", "") => {}
            ("", new) => out.push(alter(format!(
                "ALTER COLUMN {name} ADD GENERATED {} AS IDENTITY",
                kind(new)
            ))),
            (old, new) if !new.is_empty() && old != new => {
                out.push(alter(format!("ALTER COLUMN {name} SET GENERATED {}", kind(new))));
            }
            _ => {}
        }
    }
    for column in &recreated {
        out.push(alter(format!("ADD COLUMN {}", column_definition(column))));
    }
    for column in old {
        if !new.iter().any(|c| c.name == column.name) {
            out.push(destructive(
                format!("ALTER TABLE {table} DROP COLUMN {};", column.name),
                format!("drops column {table}.{} and its data", column.name),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog_with_enum(labels: &[&str]) -> Catalog {
        let mut catalog = Catalog::default();
        catalog
            .enums
            .insert("public.mood".into(), labels.iter().map(|l| l.to_string()).collect());
        catalog
    }

    fn sql(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.sql.as_str()).collect()
    }

    #[test]
    fn whole_identifiers_only() {
        assert!(mentions("CREATE INDEX i ON t USING btree (total)", "total"));
        assert!(!mentions("CREATE INDEX i ON t USING btree (total_cents)", "total"));
        assert!(!mentions("CHECK ((subtotal > 0))", "total"));
        assert!(mentions("CHECK ((\"Total\" > 0))", "\"Total\""));
    }

    #[test]
    fn enum_values_are_added_in_place() {
        let keep = Keep { schema: "public" };
        let changes = diff(
            &catalog_with_enum(&["ok", "sad"]),
            &catalog_with_enum(&["happy", "ok", "meh", "sad"]),
            &keep,
        );
        assert_eq!(
            sql(&changes),
            vec![
                "ALTER TYPE public.mood ADD VALUE IF NOT EXISTS 'happy' BEFORE 'ok';",
                "ALTER TYPE public.mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok';",
            ]
        );
    }

    #[test]
    fn removed_enum_values_recreate_the_type() {
        let keep = Keep { schema: "public" };
        let mut current = catalog_with_enum(&["ok", "sad"]);
        current.enum_parking.insert(
            "public.mood".into(),
            ("mood_godwit_old".into(), "public.mood_godwit_old".into()),
        );
        let changes = diff(&current, &catalog_with_enum(&["ok"]), &keep);
        assert_eq!(
            sql(&changes),
            vec![
                "ALTER TYPE public.mood RENAME TO mood_godwit_old;",
                "CREATE TYPE public.mood AS ENUM ('ok');",
                "DROP TYPE public.mood_godwit_old;",
            ]
        );
    }

    #[test]
    fn serial_to_identity_drops_the_default_first() {
        let column = |default: Option<&str>, identity: &str| Column {
            name: "id".into(),
            data_type: "integer".into(),
            collation: None,
            not_null: true,
            default: default.map(str::to_string),
            identity: identity.into(),
            generated: String::new(),
            enum_type: None,
        };
        let mut out = Vec::new();
        columns(
            "public.t",
            &[column(Some("nextval('t_id_seq'::regclass)"), "")],
            &[column(None, "d")],
            &mut out,
        );
        assert_eq!(
            sql(&out),
            vec![
                "ALTER TABLE public.t ALTER COLUMN id DROP DEFAULT;",
                "ALTER TABLE public.t ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;",
            ]
        );
    }
}
