//! godwit's own tables in the databases it works on, all in one place:
//! each table's DDL, version and purpose, and the one way they are
//! created and upgraded ([`ensure`]).
//!
//! | table | written by | read by |
//! |---|---|---|
//! | `godwit.sqlite_origin` | `copy` (a SQLite source) | `copy postgresql://... --to sqlite:PATH` |
//! | `godwit.sync_tables`, `godwit.sync_buckets`, `godwit.sync_pages` | `copy`, `sync` rounds | `sync` |
//! | `godwit.document_models` | `copy` (a document source) | `verify` |
//! | `godwit.audit_log` and its partitions | `audit enable --mode trigger` | `audit status`, people |
//! | the migration history (`--history-schema`.`--history-table`, `godwit_migrations` by default) | `migrate` | `migrate` |
//!
//! Every DDL statement is idempotent (`IF NOT EXISTS`), so creating is
//! also checking. A table's version counts its upgrades: a change to a
//! table adds an idempotent statement to its `upgrades` (e.g. `ALTER TABLE
//! ... ADD COLUMN IF NOT EXISTS ...`) and bumps nothing else; [`ensure`]
//! runs the creation and then every upgrade, so a database made by any
//! earlier godwit reaches the current shape the same way a new one does.
//!
//! The audit log's DDL is a script with partitions and functions that
//! `migrate new --recipe audit` also writes into an app's migrations, so it
//! is made in [`crate::audit`]; its names are here.

use postgres::GenericClient;

use crate::error::{Error, Result};
use crate::postgres::conn::{quote_ident, quote_literal};

/// The schema of godwit's bookkeeping tables.
pub const SCHEMA: &str = "godwit";

/// `godwit.audit_log`: the trigger trail (made by the audit module).
pub const AUDIT_LOG: &str = "godwit.audit_log";

pub struct Table {
    /// The name inside its schema.
    pub name: &'static str,
    /// The column list and constraints, as inside `CREATE TABLE name (...)`.
    pub columns: &'static str,
    /// `COMMENT ON TABLE`, for people who find it in their database.
    pub comment: Option<&'static str>,
    /// Idempotent statements run after the creation, oldest first; `{table}`
    /// stands for the qualified name.
    pub upgrades: &'static [&'static str],
    /// What the table is for, in one line.
    pub about: &'static str,
}

impl Table {
    /// 1 for the table as first made, plus one per upgrade.
    pub fn version(&self) -> usize {
        1 + self.upgrades.len()
    }

    /// `godwit.name`, for tables in godwit's schema.
    pub fn qualified(&self) -> String {
        format!("{SCHEMA}.{}", self.name)
    }
}

pub const SQLITE_ORIGIN: Table = Table {
    name: "sqlite_origin",
    columns: "schema text NOT NULL,
                 name text NOT NULL,
                 target text NOT NULL,
                 source text NOT NULL,
                 recorded_at timestamptz NOT NULL DEFAULT now(),
                 origin jsonb NOT NULL,
                 PRIMARY KEY (schema, name)",
    comment: Some(
        "Written by godwit copy: each copied SQLite table's original DDL and value formats, \
         read by godwit copy postgresql://... --to sqlite:PATH",
    ),
    upgrades: &[],
    about: "each copied SQLite table's original DDL and value formats, for the copy back",
};

pub const SYNC_TABLES: Table = Table {
    name: "sync_tables",
    columns: "schema text NOT NULL,
                 name text NOT NULL,
                 signature text NOT NULL,
                 width bigint NOT NULL,
                 whole bigint,
                 synced_at timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (schema, name)",
    comment: None,
    upgrades: &[],
    about: "per synced table: the layout its fingerprints were taken with, and the whole-table fingerprint",
};

pub const SYNC_BUCKETS: Table = Table {
    name: "sync_buckets",
    columns: "schema text NOT NULL,
                 name text NOT NULL,
                 grp bigint NOT NULL,
                 hashes bytea NOT NULL,
                 PRIMARY KEY (schema, name, grp)",
    comment: None,
    upgrades: &[],
    about: "per synced table: key-range fingerprints, 256 to a row",
};

pub const SYNC_PAGES: Table = Table {
    name: "sync_pages",
    columns: "schema text NOT NULL,
                 name text NOT NULL,
                 pages bytea NOT NULL,
                 PRIMARY KEY (schema, name)",
    comment: None,
    // Stored as is: a map is megabytes that compress only a little, and
    // compressing them cost seconds a round (PostgreSQL 15 cannot say so
    // in CREATE TABLE). Checked first, so no lock is taken once done.
    upgrades: &[
        "DO $$ BEGIN IF (SELECT attstorage FROM pg_attribute WHERE attrelid = '{table}'::regclass \
                  AND attname = 'pages') <> 'e' THEN ALTER TABLE {table} ALTER COLUMN pages SET STORAGE EXTERNAL; \
                  END IF; END $$",
    ],
    about: "per synced SQLite table: a hash of each leaf page with its rowids, to skip the pages that did not change",
};

pub const DOCUMENT_MODELS: Table = Table {
    name: "document_models",
    columns: "schema text NOT NULL,
                 source text NOT NULL,
                 recorded_at timestamptz NOT NULL DEFAULT now(),
                 model jsonb NOT NULL,
                 PRIMARY KEY (schema, source)",
    comment: Some(
        "Written by godwit copy: the tables it learned from each document file, with the file's size and \
         content hash, read by godwit verify to skip learning the same bytes again",
    ),
    upgrades: &[],
    about: "per copied document file: the model learned from it and the bytes it was learned from, for verify",
};

/// Records the model a copy learned of `source`, replacing an older one.
pub fn record_document_model(
    client: &mut impl GenericClient,
    schema: &str,
    source: &str,
    model: &serde_json::Value,
) -> Result<()> {
    ensure(client, &[&DOCUMENT_MODELS], "creating godwit.document_models")?;
    client
        .execute(
            &format!(
                "INSERT INTO {} (schema, source, model) VALUES ($1, $2, $3) \
                 ON CONFLICT (schema, source) DO UPDATE SET model = EXCLUDED.model, recorded_at = now()",
                DOCUMENT_MODELS.qualified()
            ),
            &[&schema, &source, model],
        )
        .map_err(|e| Error::pg("recording the model learned of the documents", &e))?;
    Ok(())
}

/// The model a copy recorded of `source` into `schema`, if any (read only).
pub fn document_model(
    client: &mut impl GenericClient,
    schema: &str,
    source: &str,
) -> Result<Option<serde_json::Value>> {
    let table = DOCUMENT_MODELS.qualified();
    if !exists(client, &table, "looking for godwit.document_models")? {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!("SELECT model FROM {table} WHERE schema = $1 AND source = $2"),
            &[&schema, &source],
        )
        .map_err(|e| Error::pg("reading the model copy recorded", &e))?;
    Ok(row.map(|r| r.get(0)))
}

/// The migration history, in the schema and under the name `migrate` is given.
pub const MIGRATION_HISTORY: Table = Table {
    name: "godwit_migrations",
    columns: "version bigint PRIMARY KEY,
                 name text NOT NULL,
                 checksum text,
                 kind text NOT NULL DEFAULT 'migration' CHECK (kind IN ('migration', 'baseline')),
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 duration_ms bigint NOT NULL DEFAULT 0,
                 applied_by text NOT NULL DEFAULT current_user",
    comment: Some("Migrations applied by godwit migrate; do not edit by hand (use migrate repair)."),
    upgrades: &[],
    about: "one row per applied migration or baseline, written in the migration's transaction",
};

/// Every table made from this module, for docs and tests.
pub const TABLES: &[&Table] = &[
    &SQLITE_ORIGIN,
    &SYNC_TABLES,
    &SYNC_BUCKETS,
    &SYNC_PAGES,
    &DOCUMENT_MODELS,
    &MIGRATION_HISTORY,
];

/// The statements that make `table` as `schema.name` (both quoted as
/// needed) and bring it to its current version.
pub fn ddl(table: &Table, schema: &str, name: &str) -> String {
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(name));
    let mut sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {};\nCREATE TABLE IF NOT EXISTS {qualified} (\n                 {}\n             );",
        quote_ident(schema),
        table.columns
    );
    if let Some(comment) = table.comment {
        sql.push_str(&format!(
            "\nCOMMENT ON TABLE {qualified} IS {};",
            quote_literal(comment)
        ));
    }
    for upgrade in table.upgrades {
        sql.push('\n');
        sql.push_str(&upgrade.replace("{table}", &qualified));
        sql.push(';');
    }
    sql
}

/// Creates (or upgrades) godwit's tables in its schema, in one batch.
pub fn ensure(client: &mut impl GenericClient, tables: &[&Table], context: &str) -> Result<()> {
    let sql: Vec<String> = tables.iter().map(|t| ddl(t, SCHEMA, t.name)).collect();
    client
        .batch_execute(&sql.join("\n"))
        .map_err(|e| Error::pg(context.to_string(), &e))
}

/// Whether a table exists (godwit's tables are made on first use; readers
/// find none before).
pub fn exists(client: &mut impl GenericClient, qualified: &str, context: &str) -> Result<bool> {
    Ok(client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
        .map_err(|e| Error::pg(context.to_string(), &e))?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_is_idempotent_and_names_the_table() {
        let sql = ddl(&SQLITE_ORIGIN, SCHEMA, SQLITE_ORIGIN.name);
        assert!(
            sql.starts_with(
                "CREATE SCHEMA IF NOT EXISTS \"godwit\";\nCREATE TABLE IF NOT EXISTS \"godwit\".\"sqlite_origin\" ("
            ),
            "{sql}"
        );
        assert!(
            sql.contains("IS 'Written by godwit copy: each copied SQLite table''s original DDL"),
            "{sql}"
        );
        let history = ddl(&MIGRATION_HISTORY, "App", "history");
        assert!(
            history.contains("CREATE TABLE IF NOT EXISTS \"App\".\"history\" ("),
            "{history}"
        );
        for t in TABLES {
            assert_eq!(t.version(), 1 + t.upgrades.len());
            assert!(!ddl(t, SCHEMA, t.name).contains("{table}"));
        }
    }
}
