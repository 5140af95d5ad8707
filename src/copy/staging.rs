//! The staging schema that makes a copy atomic. Everything is built in a
//! schema of its own; one final transaction moves it into the target. A
//! run holds an advisory lock named after its staging schema for its whole
//! life, so the next run can tell abandoned staging (lock free) from a
//! copy still in progress (lock held) and drops only the former.

use postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::conn::quote_ident;

pub const STAGING_PREFIX: &str = "godwit_staging_";

pub fn staging_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{STAGING_PREFIX}{}_{nanos:x}", std::process::id())
}

fn lock_key(schema: &str) -> String {
    format!("godwit:{schema}")
}

/// Creates the staging schema and takes its lock on `client`'s session.
pub fn create(client: &mut Client, schema: &str) -> Result<()> {
    client
        .query_one("SELECT pg_advisory_lock(hashtext($1))", &[&lock_key(schema)])
        .map_err(|e| Error::pg("locking the staging schema", &e))?;
    client
        .batch_execute(&format!("CREATE SCHEMA {}", quote_ident(schema)))
        .map_err(|e| Error::pg(format!("creating staging schema {schema}"), &e))
}

/// Drops staging schemas left by runs that died (their lock is free).
/// Returns the names dropped.
pub fn clean_abandoned(client: &mut Client) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&STAGING_PREFIX],
        )
        .map_err(|e| Error::pg("looking for leftover staging schemas", &e))?;
    let mut dropped = Vec::new();
    for row in rows {
        let schema: String = row.get(0);
        let free: bool = client
            .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock_key(&schema)])
            .map_err(|e| Error::pg("checking a staging schema's lock", &e))?
            .get(0);
        if free {
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(&schema)))
                .map_err(|e| Error::pg(format!("dropping leftover staging schema {schema}"), &e))?;
            client
                .query_one("SELECT pg_advisory_unlock(hashtext($1))", &[&lock_key(&schema)])
                .map_err(|e| Error::pg("releasing a staging lock", &e))?;
            dropped.push(schema);
        }
    }
    Ok(dropped)
}

/// Drops this run's staging schema (after a failure) and releases its lock.
pub fn drop(client: &mut Client, schema: &str) -> Result<()> {
    let _ = client.batch_execute("ROLLBACK");
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(schema)))
        .map_err(|e| Error::pg(format!("dropping staging schema {schema}"), &e))?;
    let _ = client.query_one("SELECT pg_advisory_unlock(hashtext($1))", &[&lock_key(schema)]);
    Ok(())
}

/// Tables and views in `schema` among `names`.
pub fn existing_relations(client: &mut Client, schema: &str, names: &[String]) -> Result<Vec<(String, char)>> {
    let rows = client
        .query(
            "SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = ANY($2)",
            &[&schema, &names],
        )
        .map_err(|e| Error::pg(format!("looking at schema {schema}"), &e))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, String>(1).chars().next().unwrap_or('r'),
            )
        })
        .collect())
}
