//! The audit trail without pgaudit: a row trigger on each audited table
//! writes who, when, which table, the row's key and the old and new row
//! (jsonb) into `godwit.audit_log`.
//!
//! The log is partitioned by month (`at`), with a default partition for
//! rows outside the months created so far: old months can be detached and
//! archived without touching the others. It is indexed for "what happened
//! to this row" (table, key, time). The trigger function is SECURITY
//! DEFINER with a fixed search_path: the application writes the log
//! through it and cannot read, change or delete it. The same SQL is what
//! `migrate new --recipe audit` writes, so the trail can live in the
//! app's migrations.

use crate::postgres::conn::quote_literal;

pub use crate::postgres::bookkeeping::{AUDIT_LOG as LOG, SCHEMA};
pub const FUNCTION: &str = "godwit.audit_row";
/// The name of the trigger on every audited table.
pub const TRIGGER: &str = "godwit_audit";

/// The log, its partitions, index and trigger function; idempotent.
pub fn install_sql() -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {LOG} (
    id bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL DEFAULT session_user,
    application text DEFAULT current_setting('application_name', true),
    client inet DEFAULT inet_client_addr(),
    txid bigint NOT NULL DEFAULT txid_current(),
    table_name text NOT NULL,
    operation text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    row_key jsonb,
    old_row jsonb,
    new_row jsonb,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE IF NOT EXISTS {LOG}_default PARTITION OF {LOG} DEFAULT;
CREATE INDEX IF NOT EXISTS audit_log_row ON {LOG} (table_name, row_key, at);
REVOKE ALL ON {LOG} FROM PUBLIC;
-- One partition per month; the next one is created ahead of time.
CREATE OR REPLACE FUNCTION {SCHEMA}.audit_add_month(month date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    first date := date_trunc('month', month);
    name text := 'audit_log_' || to_char(first, 'YYYY_MM');
BEGIN
    IF to_regclass('{SCHEMA}.' || quote_ident(name)) IS NULL THEN
        EXECUTE format('CREATE TABLE {SCHEMA}.%I PARTITION OF {LOG} FOR VALUES FROM (%L) TO (%L)',
                       name, first, (first + interval '1 month')::date);
    END IF;
END $fn$;
SELECT {SCHEMA}.audit_add_month(current_date);
SELECT {SCHEMA}.audit_add_month((current_date + interval '1 month')::date);
-- The row's key: the columns named as trigger arguments (the primary key
-- when the trigger was created), else the primary key read now.
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    source jsonb := coalesce(new_row, old_row);
    key jsonb;
    columns text[];
    column_name text;
BEGIN
    -- The usual case, one key column named by the trigger, costs no query.
    IF TG_NARGS = 1 THEN
        key := jsonb_build_object(TG_ARGV[0], source -> TG_ARGV[0]);
    ELSE
        columns := TG_ARGV;
        IF TG_NARGS = 0 THEN
            SELECT array_agg(a.attname::text ORDER BY k.ord) INTO columns
            FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = TG_RELID AND i.indisprimary;
        END IF;
        -- FOREACH, not subscripts: TG_ARGV is indexed from 0.
        FOREACH column_name IN ARRAY coalesce(columns, '{{}}') LOOP
            key := coalesce(key, '{{}}') || jsonb_build_object(column_name, source -> column_name);
        END LOOP;
    END IF;
    INSERT INTO {LOG} (table_name, operation, row_key, old_row, new_row)
    VALUES (quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME), TG_OP, key,
            old_row, new_row);
    RETURN NULL;
END $fn$;
REVOKE ALL ON FUNCTION {FUNCTION}() FROM PUBLIC;
"
    )
}

/// The trigger on one table, keyed by `key` (its primary key columns).
pub fn attach_sql(table: &str, key: &[String]) -> String {
    let args: Vec<String> = key.iter().map(|c| quote_literal(c)).collect();
    format!(
        "DROP TRIGGER IF EXISTS {TRIGGER} ON {table};\n\
         CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} \
         FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({});\n",
        args.join(", ")
    )
}

pub fn detach_sql(table: &str) -> String {
    format!("DROP TRIGGER IF EXISTS {TRIGGER} ON {table};\n")
}

/// `migrate new --recipe audit`: the log (if missing) and the trigger.
pub fn recipe_up(table: &str, key: &[String]) -> String {
    format!(
        "-- Audit trail of {table}, recipe audit: every INSERT, UPDATE and DELETE lands in {LOG}\n\
         -- (who, when, the row key, the old and new row). `godwit audit status` shows the last event.\n\
         {}{}",
        install_sql(),
        attach_sql(table, key)
    )
}

/// Its undo: the trigger goes, the trail written so far stays.
pub fn recipe_down(table: &str) -> String {
    format!(
        "-- Undoes the audit recipe on {table}. {LOG} and what it recorded are kept:\n\
         -- an audit trail is not dropped by a schema rollback (DROP TABLE {LOG} by hand).\n\
         {}",
        detach_sql(table)
    )
}
