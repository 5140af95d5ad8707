//! `migrate new NAME --recipe KIND`: ready-made up/down pairs for the
//! changes most apps make after the move, written to be safe on a big live
//! table (they pass `migrate lint`) and exactly reversible. See
//! docs/migrate.md, "Recipes".

use postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident as q, quote_literal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipeKind {
    /// A tsvector over --columns kept current by a trigger, backfilled in batches, with a GIN
    /// index built concurrently.
    Fts,
    /// created_at (where missing) and updated_at, with a trigger keeping updated_at current.
    Timestamps,
    /// deleted_at, unique indexes made partial for live rows, and a view of live rows (reads the
    /// unique indexes from --database-url).
    SoftDelete,
    /// A CHECK (--check EXPR) added NOT VALID, then validated in a second migration.
    Check,
    /// An audit trail of the table's writes in godwit.audit_log (who, when, row key, old and new
    /// row), kept by a trigger; --columns names the key [default: the primary key].
    Audit,
}

/// What a recipe needs to know.
#[derive(Debug, Clone)]
pub struct RecipeOptions {
    pub kind: RecipeKind,
    /// The migration's name, as sanitised for its file name.
    pub name: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub check: Option<String>,
    pub ts_config: String,
    /// Reads the catalog at generation time when given.
    pub database: Option<ConnSpec>,
}

/// One migration: its name and the text of both files.
pub struct Pair {
    pub name: String,
    pub up: String,
    pub down: String,
}

pub fn generate(options: &RecipeOptions) -> Result<Vec<Pair>> {
    if options.table.trim().is_empty() {
        return Err(Error::Usage("--recipe needs --table TABLE".into()));
    }
    match options.kind {
        RecipeKind::Fts => fts(options).map(|p| vec![p]),
        RecipeKind::Timestamps => timestamps(options).map(|p| vec![p]),
        RecipeKind::SoftDelete => soft_delete(options).map(|p| vec![p]),
        RecipeKind::Check => check(options),
        RecipeKind::Audit => Ok(vec![Pair {
            name: options.name.clone(),
            up: crate::audit::trigger::recipe_up(&table(options), &options.columns),
            down: crate::audit::trigger::recipe_down(&table(options)),
        }]),
    }
}

fn table(o: &RecipeOptions) -> String {
    format!("{}.{}", q(&o.schema), q(&o.table))
}

/// A name derived from the table, within PostgreSQL's 63 bytes.
fn derived(table: &str, suffix: &str) -> String {
    let mut base = table.to_string();
    while base.len() + suffix.len() + 1 > 63 {
        base.pop();
    }
    format!("{base}_{suffix}")
}

fn connect(o: &RecipeOptions, why: &str) -> Result<Option<Client>> {
    match &o.database {
        Some(spec) => spec.connect().map(Some),
        None if why.is_empty() => Ok(None),
        None => Err(Error::Usage(format!(
            "recipe {why} reads the catalog: pass --database-url URL (or set DATABASE_URL)"
        ))),
    }
}

fn table_oid(client: &mut Client, o: &RecipeOptions) -> Result<u32> {
    client
        .query_opt("SELECT to_regclass($1)::oid", &[&table(o)])
        .map_err(|e| Error::pg("reading the catalog", &e))?
        .and_then(|row| row.get::<_, Option<u32>>(0))
        .ok_or_else(|| Error::Usage(format!("no table {} in the database", table(o))))
}

fn fts(o: &RecipeOptions) -> Result<Pair> {
    if o.columns.is_empty() {
        return Err(Error::Usage(
            "recipe fts needs --columns a,b (in weight order: A, B, C, D)".into(),
        ));
    }
    let t = table(o);
    let column = "search_vector";
    let function = format!("{}.{}", q(&o.schema), q(&derived(&o.table, "search_vector_update")));
    let trigger = q(&derived(&o.table, "search_vector_update"));
    let index = derived(&o.table, "search_vector_idx");
    let config = format!("{}::regconfig", quote_literal(&o.ts_config));
    let vector = |row: &str| {
        o.columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "setweight(to_tsvector({config}, coalesce({row}{}::text, '')), '{}')",
                    q(c),
                    ["A", "B", "C", "D"][i.min(3)]
                )
            })
            .collect::<Vec<_>>()
            .join("\n      || ")
    };
    let columns = o.columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let up = format!(
        "-- godwit:no-transaction\n\
-- Full-text search on {t} ({columns}), recipe fts.\n\
--\n\
-- Why not `ADD COLUMN ... GENERATED ALWAYS AS (...) STORED`: adding a stored generated column\n\
-- rewrites the whole table under an ACCESS EXCLUSIVE lock, so reads and writes wait for the\n\
-- rewrite. Instead, each step below holds a lock only briefly:\n\
--   1. a plain nullable column (instant, no rewrite);\n\
--   2. a trigger that fills it for every new or changed row from now on;\n\
--   3. a backfill of the existing rows in batches of 1000 pages, each batch its own transaction\n\
--      (this file runs outside a transaction, so the DO block may COMMIT);\n\
--   4. CREATE INDEX CONCURRENTLY, which lets writes continue during the build.\n\
-- Query: WHERE {column} @@ websearch_to_tsquery({config}, 'words'), ranked by ts_rank_cd({column}, query).\n\
\n\
ALTER TABLE {t} ADD COLUMN {column} tsvector;\n\
\n\
CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $godwit$\n\
BEGIN\n\
  NEW.{column} :=\n      {new_vector};\n\
  RETURN NEW;\n\
END\n\
$godwit$;\n\
\n\
CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE OF {columns} ON {t}\n\
  FOR EACH ROW EXECUTE FUNCTION {function}();\n\
\n\
DO $godwit$\n\
DECLARE\n\
  first_page bigint := 0;\n\
  pages bigint;\n\
BEGIN\n\
  LOOP\n\
    pages := pg_relation_size('{t_literal}'::regclass) / current_setting('block_size')::bigint;\n\
    EXIT WHEN first_page > pages;\n\
    UPDATE {t} SET {column} =\n      {bare_vector}\n\
    WHERE ctid >= format('(%s,0)', first_page)::tid AND ctid < format('(%s,0)', first_page + 1000)::tid\n\
      AND {column} IS NULL;\n\
    COMMIT;\n\
    first_page := first_page + 1000;\n\
  END LOOP;\n\
END\n\
$godwit$;\n\
\n\
CREATE INDEX CONCURRENTLY {index_q} ON {t} USING gin ({column});\n",
        new_vector = vector("NEW."),
        bare_vector = vector(""),
        t_literal = t.replace('\'', "''"),
        index_q = q(&index),
    );
    let down = format!(
        "-- godwit:no-transaction\n\
-- Undoes the fts recipe on {t}.\n\
DROP INDEX CONCURRENTLY IF EXISTS {}.{};\n\
DROP TRIGGER IF EXISTS {trigger} ON {t};\n\
DROP FUNCTION IF EXISTS {function}();\n\
-- godwit:lint-ignore drop-column\n\
ALTER TABLE {t} DROP COLUMN IF EXISTS {column};\n",
        q(&o.schema),
        q(&index)
    );
    Ok(Pair {
        name: o.name.clone(),
        up,
        down,
    })
}

fn timestamps(o: &RecipeOptions) -> Result<Pair> {
    let t = table(o);
    let mut existing: Vec<String> = Vec::new();
    if let Some(mut client) = connect(o, "")? {
        let oid = table_oid(&mut client, o)?;
        existing = client
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped \
                 AND attname IN ('created_at', 'updated_at')",
                &[&oid],
            )
            .map_err(|e| Error::pg("reading the catalog", &e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
    }
    let knows_catalog = o.database.is_some();
    let function = format!("{}.{}", q(&o.schema), q(&derived(&o.table, "set_updated_at")));
    let trigger = q(&derived(&o.table, "set_updated_at"));
    let marker = format!("added by godwit migration {}", o.name);
    let mut up = format!(
        "-- Timestamps on {t}, recipe timestamps.\n\
-- Columns with a constant-per-statement default (now()) are added without rewriting the table;\n\
-- rows that already exist get the time this migration ran.\n"
    );
    let mut down = format!(
        "-- Undoes the timestamps recipe on {t}.\nDROP TRIGGER IF EXISTS {trigger} ON {t};\nDROP FUNCTION IF EXISTS {function}();\n"
    );
    for column in ["created_at", "updated_at"] {
        if existing.iter().any(|c| c == column) {
            up.push_str(&format!("-- {column} already exists: kept as it is.\n"));
            continue;
        }
        if knows_catalog {
            up.push_str(&format!(
                "ALTER TABLE {t} ADD COLUMN {column} timestamptz NOT NULL DEFAULT now();\n"
            ));
            down.push_str(&format!(
                "-- godwit:lint-ignore drop-column\nALTER TABLE {t} DROP COLUMN {column};\n"
            ));
        } else {
            // Without the catalog at hand: add the column only where it is
            // missing, and mark it, so that down drops only what up added.
            up.push_str(&format!(
                "DO $godwit$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{tl}'::regclass \
                 AND attname = '{column}' AND NOT attisdropped) THEN\n    \
                 ALTER TABLE {t} ADD COLUMN {column} timestamptz NOT NULL DEFAULT now();\n    \
                 COMMENT ON COLUMN {t}.{column} IS {m};\n  END IF;\nEND\n$godwit$;\n",
                tl = t.replace('\'', "''"),
                m = quote_literal(&marker)
            ));
            down.push_str(&format!(
                "DO $godwit$\nBEGIN\n  IF col_description('{tl}'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = '{tl}'::regclass \
                 AND attname = '{column}')) = {m} THEN\n    ALTER TABLE {t} DROP COLUMN {column};\n  END IF;\nEND\n$godwit$;\n",
                tl = t.replace('\'', "''"),
                m = quote_literal(&marker)
            ));
        }
    }
    up.push_str(&format!(
        "\n-- Keeps updated_at current on every UPDATE, unless the statement sets it itself.\n\
CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $godwit$\n\
BEGIN\n\
  IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN\n\
    NEW.updated_at := now();\n\
  END IF;\n\
  RETURN NEW;\n\
END\n\
$godwit$;\n\
\n\
CREATE TRIGGER {trigger} BEFORE UPDATE ON {t}\n\
  FOR EACH ROW EXECUTE FUNCTION {function}();\n"
    ));
    Ok(Pair {
        name: o.name.clone(),
        up,
        down,
    })
}

fn soft_delete(o: &RecipeOptions) -> Result<Pair> {
    let Some(mut client) = connect(o, "soft-delete")? else {
        unreachable!("connect errors without a database")
    };
    let oid = table_oid(&mut client, o)?;
    let t = table(o);
    let rows = client
        .query(
            "SELECT i.relname::text, quote_ident(i.relname), pg_get_indexdef(x.indexrelid), x.indpred IS NOT NULL, \
                    c.conname::text, \
                    EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = x.indexrelid) \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.contype = 'u' AND c.conrelid = x.indrelid \
             WHERE x.indrelid = $1 AND x.indisunique AND NOT x.indisprimary ORDER BY i.relname",
            &[&oid],
        )
        .map_err(|e| Error::pg("reading the unique indexes", &e))?;
    let view = derived(&o.table, "live");
    let mut up = format!(
        "-- godwit:no-transaction\n\
-- Soft delete on {t}, recipe soft-delete: rows are marked deleted_at instead of deleted.\n\
-- Unique indexes become partial (WHERE deleted_at IS NULL) so a deleted row no longer blocks a\n\
-- new one with the same values; each new index is built CONCURRENTLY before the old one goes,\n\
-- so uniqueness is enforced throughout. {view} shows the live rows.\n\
\n\
ALTER TABLE {t} ADD COLUMN deleted_at timestamptz;\n"
    );
    let mut down_indexes = String::new();
    for row in &rows {
        let name: String = row.get(0);
        let quoted: String = row.get(1);
        let definition: String = row.get(2);
        let partial: bool = row.get(3);
        let constraint: Option<String> = row.get(4);
        let referenced: bool = row.get(5);
        if referenced {
            up.push_str(&format!(
                "-- {name} is kept: a foreign key references it, and a foreign key needs a non-partial unique index.\n"
            ));
            continue;
        }
        let prefix = format!("CREATE UNIQUE INDEX {quoted} ON ");
        let Some(rest) = definition.strip_prefix(&prefix) else {
            up.push_str(&format!(
                "-- {name} is kept: its definition was not understood ({definition}).\n"
            ));
            continue;
        };
        let live = derived(&name, "live");
        up.push_str(&format!(
            "\nCREATE UNIQUE INDEX CONCURRENTLY {} ON {rest} {} deleted_at IS NULL;\n",
            q(&live),
            if partial { "AND" } else { "WHERE" }
        ));
        match &constraint {
            Some(c) => {
                up.push_str(&format!("ALTER TABLE {t} DROP CONSTRAINT {};\n", q(c)));
                down_indexes.push_str(&format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY {quoted} ON {rest};\n\
                     ALTER TABLE {t} ADD CONSTRAINT {} UNIQUE USING INDEX {quoted};\n",
                    q(c)
                ));
            }
            None => {
                up.push_str(&format!("DROP INDEX CONCURRENTLY {}.{quoted};\n", q(&o.schema)));
                down_indexes.push_str(&format!("CREATE UNIQUE INDEX CONCURRENTLY {quoted} ON {rest};\n"));
            }
        }
        down_indexes.push_str(&format!("DROP INDEX CONCURRENTLY {}.{};\n", q(&o.schema), q(&live)));
    }
    up.push_str(&format!(
        "\nCREATE VIEW {}.{} AS SELECT * FROM {t} WHERE deleted_at IS NULL;\n",
        q(&o.schema),
        q(&view)
    ));
    let down = format!(
        "-- godwit:no-transaction\n\
-- Undoes the soft-delete recipe on {t}. Restoring a unique index fails while soft-deleted rows\n\
-- duplicate live ones: remove those rows first.\n\
DROP VIEW {}.{};\n\
{down_indexes}\
-- godwit:lint-ignore drop-column\n\
ALTER TABLE {t} DROP COLUMN deleted_at;\n",
        q(&o.schema),
        q(&view)
    );
    Ok(Pair {
        name: o.name.clone(),
        up,
        down,
    })
}

fn check(o: &RecipeOptions) -> Result<Vec<Pair>> {
    let Some(expression) = o.check.as_deref().filter(|e| !e.trim().is_empty()) else {
        return Err(Error::Usage("recipe check needs --check 'EXPRESSION'".into()));
    };
    let t = table(o);
    let constraint = q(&derived(&o.table, &format!("{}_check", o.name)));
    let add = format!("ALTER TABLE {t} ADD CONSTRAINT {constraint} CHECK ({expression}) NOT VALID;\n");
    Ok(vec![
        Pair {
            name: o.name.clone(),
            up: format!(
                "-- CHECK ({expression}) on {t}, recipe check, step 1 of 2.\n\
-- NOT VALID: new and updated rows are checked at once, and existing rows are not scanned under\n\
-- the ACCESS EXCLUSIVE lock this statement takes. The next migration validates them.\n\
{add}"
            ),
            down: format!("ALTER TABLE {t} DROP CONSTRAINT {constraint};\n"),
        },
        Pair {
            name: format!("{}_validate", o.name),
            up: format!(
                "-- CHECK ({expression}) on {t}, recipe check, step 2 of 2: scan the existing rows.\n\
-- VALIDATE CONSTRAINT takes a SHARE UPDATE EXCLUSIVE lock: reads and writes go on meanwhile.\n\
-- It fails, changing nothing, when a row violates the check: fix those rows and run it again.\n\
ALTER TABLE {t} VALIDATE CONSTRAINT {constraint};\n"
            ),
            // Back to NOT VALID, exactly the state step 1 left.
            down: format!("ALTER TABLE {t} DROP CONSTRAINT {constraint};\n{add}"),
        },
    ])
}
