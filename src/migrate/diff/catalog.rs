//! Reads the schema objects `diff` compares out of pg_catalog. Names come
//! back already quoted by the server's `quote_ident` (schema-qualified), and
//! definitions come from the server's own deparsers (pg_get_indexdef,
//! pg_get_constraintdef, pg_get_viewdef, pg_get_expr, format_type), so two
//! databases built from the same DDL produce identical text.

use std::collections::{BTreeMap, BTreeSet};

use postgres::Client;

use crate::error::{Error, Result};

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Quoted schema names, `public` and system schemas excluded.
    pub schemas: BTreeSet<String>,
    /// Extension name → quoted schema.
    pub extensions: BTreeMap<String, String>,
    /// Qualified enum type → labels in order.
    pub enums: BTreeMap<String, Vec<String>>,
    /// Qualified enum type → (bare name to rename it to, qualified renamed
    /// name) for when its values must be removed or reordered.
    pub enum_parking: BTreeMap<String, (String, String)>,
    pub sequences: BTreeMap<String, Sequence>,
    pub tables: BTreeMap<String, Table>,
    /// (qualified table, quoted constraint name) → constraint.
    pub constraints: BTreeMap<(String, String), Constraint>,
    /// Qualified index name → index (constraint-backed indexes excluded).
    pub indexes: BTreeMap<String, Index>,
    /// Views in creation order (dependencies first).
    pub views: Vec<View>,
    /// Qualified view → relations it reads.
    pub view_deps: BTreeMap<String, BTreeSet<String>>,
    /// Functions and procedures in creation order: signature and
    /// `pg_get_functiondef` text.
    pub functions: Vec<(String, String)>,
    /// (qualified table, quoted trigger name) → `pg_get_triggerdef` text.
    pub triggers: BTreeMap<(String, String), String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
    /// (qualified table, quoted column) for serial-style sequences.
    pub owned_by: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Quoted.
    pub name: String,
    pub data_type: String,
    /// Quoted collation when it differs from the type's default.
    pub collation: Option<String>,
    pub not_null: bool,
    /// Default, or the generation expression when `generated` is set.
    pub default: Option<String>,
    /// "" none, "a" ALWAYS, "d" BY DEFAULT.
    pub identity: String,
    /// "" none, "s" stored, "v" virtual.
    pub generated: String,
    /// The qualified type name when the column is of an enum type.
    pub enum_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// p, u, f, c or x.
    pub kind: String,
    pub definition: String,
    /// For foreign keys: the qualified table they reference.
    pub references: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub table: String,
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub name: String,
    pub materialized: bool,
    pub definition: String,
}

/// Objects godwit leaves alone: system schemas, extension members, and the
/// history table.
const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'";

fn not_extension_member(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass \
         AND e.objid = {oid} AND e.deptype = 'e')"
    )
}

/// Reads the catalog, leaving out `exclude` (schema, table): the history table.
pub fn read(client: &mut Client, exclude: (&str, &str)) -> Result<Catalog> {
    let mut catalog = Catalog::default();
    let q = |client: &mut Client, what: &str, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]| {
        client
            .query(sql, params)
            .map_err(|e| Error::pg(format!("reading {what} from the catalog"), &e))
    };
    let (ex_schema, ex_table) = (exclude.0.to_string(), exclude.1.to_string());
    let relation_filter = format!(
        "{USER_SCHEMA} AND NOT (n.nspname = $1 AND c.relname = $2) AND {}",
        not_extension_member("pg_class", "c.oid")
    );

    let sql = format!(
        "SELECT quote_ident(n.nspname) FROM pg_namespace n
         WHERE {USER_SCHEMA} AND n.nspname <> 'public' AND {}",
        not_extension_member("pg_namespace", "n.oid")
    );
    for row in q(client, "schemas", &sql, &[])? {
        catalog.schemas.insert(row.get(0));
    }

    let sql = "SELECT x.extname, quote_ident(n.nspname) FROM pg_extension x
               JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname <> 'plpgsql'";
    for row in q(client, "extensions", sql, &[])? {
        catalog.extensions.insert(row.get(0), row.get(1));
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(t.typname),
                array_agg(e.enumlabel::text ORDER BY e.enumsortorder),
                quote_ident(t.typname || '_godwit_old'),
                quote_ident(n.nspname) || '.' || quote_ident(t.typname || '_godwit_old')
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE {USER_SCHEMA} AND {} GROUP BY n.nspname, t.typname",
        not_extension_member("pg_type", "t.oid")
    );
    for row in q(client, "enums", &sql, &[])? {
        catalog.enums.insert(row.get(0), row.get(1));
        catalog.enum_parking.insert(row.get(0), (row.get(2), row.get(3)));
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), format_type(s.seqtypid, NULL),
                s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                (SELECT quote_ident(tn.nspname) || '.' || quote_ident(tc.relname)
                 FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid
                 JOIN pg_namespace tn ON tn.oid = tc.relnamespace
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
                   AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0),
                (SELECT quote_ident(a.attname) FROM pg_depend d
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
                   AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_sequence s ON s.seqrelid = c.oid
         WHERE c.relkind = 'S' AND {relation_filter}
           AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_class'::regclass
                           AND i.objid = c.oid AND i.deptype = 'i')"
    );
    for row in q(client, "sequences", &sql, &[&ex_schema, &ex_table])? {
        let owner_table: Option<String> = row.get(8);
        let owner_column: Option<String> = row.get(9);
        catalog.sequences.insert(
            row.get(0),
            Sequence {
                data_type: row.get(1),
                start: row.get(2),
                increment: row.get(3),
                min: row.get(4),
                max: row.get(5),
                cache: row.get(6),
                cycle: row.get(7),
                owned_by: owner_table.zip(owner_column),
            },
        );
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(a.attname),
                format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(co.collname) END,
                a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text, a.attgenerated::text,
                CASE WHEN t.typtype = 'e' THEN quote_ident(tn.nspname) || '.' || quote_ident(t.typname) END
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
         LEFT JOIN pg_collation co ON co.oid = a.attcollation
         LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
         WHERE c.relkind = 'r' AND NOT c.relispartition AND {relation_filter}
         ORDER BY 1, a.attnum"
    );
    for row in q(client, "columns", &sql, &[&ex_schema, &ex_table])? {
        let table: String = row.get(0);
        catalog
            .tables
            .entry(table)
            .or_insert_with(|| Table { columns: Vec::new() })
            .columns
            .push(Column {
                name: row.get(1),
                data_type: row.get(2),
                collation: row.get(3),
                not_null: row.get(4),
                default: row.get(5),
                identity: row.get(6),
                generated: row.get(7),
                enum_type: row.get(8),
            });
    }
    // Tables without columns have no rows above.
    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND NOT c.relispartition AND {relation_filter}"
    );
    for row in q(client, "tables", &sql, &[&ex_schema, &ex_table])? {
        catalog
            .tables
            .entry(row.get(0))
            .or_insert_with(|| Table { columns: Vec::new() });
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(k.conname),
                k.contype::text, pg_get_constraintdef(k.oid),
                (SELECT quote_ident(fn.nspname) || '.' || quote_ident(fc.relname)
                 FROM pg_class fc JOIN pg_namespace fn ON fn.oid = fc.relnamespace WHERE fc.oid = k.confrelid)
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype IN ('p', 'u', 'f', 'c', 'x') AND c.relkind = 'r' AND {relation_filter}"
    );
    for row in q(client, "constraints", &sql, &[&ex_schema, &ex_table])? {
        catalog.constraints.insert(
            (row.get(0), row.get(1)),
            Constraint {
                kind: row.get(2),
                definition: row.get(3),
                references: row.get(4),
            },
        );
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(ic.relname),
                quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_get_indexdef(i.indexrelid)
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'm') AND {relation_filter}
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                           AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))"
    );
    for row in q(client, "indexes", &sql, &[&ex_schema, &ex_table])? {
        catalog.indexes.insert(
            row.get(0),
            Index {
                table: row.get(1),
                definition: row.get(2),
            },
        );
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind = 'm',
                pg_get_viewdef(c.oid, true)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('v', 'm') AND {relation_filter} ORDER BY c.oid"
    );
    for row in q(client, "views", &sql, &[&ex_schema, &ex_table])? {
        catalog.views.push(View {
            name: row.get(0),
            materialized: row.get(1),
            definition: row.get(2),
        });
    }

    let sql = format!(
        "SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                quote_ident(rn.nspname) || '.' || quote_ident(rc.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_rewrite r ON r.ev_class = c.oid
         JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
              AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> c.oid
         JOIN pg_class rc ON rc.oid = d.refobjid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
         WHERE c.relkind IN ('v', 'm') AND {relation_filter}"
    );
    for row in q(client, "view dependencies", &sql, &[&ex_schema, &ex_table])? {
        catalog.view_deps.entry(row.get(0)).or_default().insert(row.get(1));
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
                    || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                pg_get_functiondef(p.oid)
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMA} AND {} ORDER BY p.oid",
        not_extension_member("pg_proc", "p.oid")
    );
    for row in q(client, "functions", &sql, &[])? {
        catalog.functions.push((row.get(0), row.get(1)));
    }

    let sql = format!(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(t.tgname),
                pg_get_triggerdef(t.oid)
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE NOT t.tgisinternal AND {relation_filter}"
    );
    for row in q(client, "triggers", &sql, &[&ex_schema, &ex_table])? {
        catalog.triggers.insert((row.get(0), row.get(1)), row.get(2));
    }
    Ok(catalog)
}
