//! Applies a round's differences in one PostgreSQL transaction: deletes
//! children first, then updates and inserts parents first, then moves
//! sequences past the new maximum and records the new fingerprints. The
//! target is at the previous snapshot until the commit, and at the new one
//! after it.

use std::io::Write;

use postgres::Transaction;

use crate::error::{Error, Result};
use crate::postgres::conn::qualified;
use crate::postgres::conn::quote_ident;
use crate::verify::layout::Layout;

/// Writes rows (framed fields each) as a binary COPY into `relation`.
pub fn copy_in(tx: &mut Transaction<'_>, relation: &str, columns: &[String], rows: &[Vec<u8>]) -> Result<u64> {
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let sql = format!("COPY {relation} ({}) FROM STDIN (FORMAT binary)", list.join(", "));
    let context = format!("writing into {relation}");
    let mut writer = tx.copy_in(&sql).map_err(|e| Error::pg(context.clone(), &e))?;
    let io = |e: std::io::Error| Error::io(context.clone(), e);
    let mut header = Vec::with_capacity(19);
    header.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    header.extend_from_slice(&0u32.to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes());
    writer.write_all(&header).map_err(io)?;
    let count = i16::try_from(columns.len()).unwrap_or(i16::MAX).to_be_bytes();
    for row in rows {
        writer.write_all(&count).map_err(io)?;
        writer.write_all(row).map_err(io)?;
    }
    writer.write_all(&(-1i16).to_be_bytes()).map_err(io)?;
    writer.finish().map_err(|e| Error::pg(context.clone(), &e))
}

fn exec(tx: &mut Transaction<'_>, sql: &str, what: &str) -> Result<u64> {
    tx.execute(sql, &[]).map_err(|e| Error::pg(what.to_string(), &e))
}

/// A temporary table shaped like some of the target's columns.
fn scratch_table(tx: &mut Transaction<'_>, name: &str, target: &str, columns: &[String]) -> Result<()> {
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {} FROM {target} WITH NO DATA",
        list.join(", ")
    ))
    .map_err(|e| Error::pg(format!("preparing changes for {target}"), &e))
}

/// Joins with the round's few rows go through the key's index: the
/// planner, seeing no statistics on the scratch table, would otherwise
/// scan or merge the whole target table for them.
fn by_index(tx: &mut Transaction<'_>, target: &str, keys: &[String], on: bool) -> Result<()> {
    let Some(first) = keys.first() else { return Ok(()) };
    let indexed: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid \
                            AND a.attnum = x.indkey[0] WHERE x.indrelid = $1::text::regclass AND a.attname = $2::text)",
            &[&target, first],
        )
        .map_err(|e| Error::pg(format!("reading the indexes of {target}"), &e))?
        .get(0);
    if indexed {
        let value = if on { "off" } else { "on" };
        tx.batch_execute(&format!(
            "SET LOCAL enable_hashjoin = {value}; SET LOCAL enable_mergejoin = {value}"
        ))
        .map_err(|e| Error::pg("planning the round's joins", &e))?;
    }
    Ok(())
}

fn key_names(layout: &Layout) -> Vec<String> {
    layout
        .key
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|&p| layout.columns[p].target.clone())
        .collect()
}

fn column_names(layout: &Layout) -> Vec<String> {
    layout.columns.iter().map(|c| c.target.clone()).collect()
}

fn key_match(keys: &[String], left: &str, right: &str) -> String {
    keys.iter()
        .map(|k| format!("{left}.{0} = {right}.{0}", quote_ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

pub fn delete(
    tx: &mut Transaction<'_>,
    schema: &str,
    layout: &Layout,
    keys: &[Vec<u8>],
    ctids: &[String],
    n: usize,
) -> Result<()> {
    let target = qualified(schema, &layout.target_table);
    let mut deleted = 0;
    if !ctids.is_empty() {
        deleted += tx
            .execute(
                &format!("DELETE FROM {target} WHERE ctid = ANY($1::text[]::tid[])"),
                &[&ctids],
            )
            .map_err(|e| Error::pg(format!("deleting rows of {}", layout.target_table), &e))?;
    }
    if !keys.is_empty() {
        deleted += delete_by_key(tx, &target, layout, keys, n)?;
    }
    expect_rows(layout, "delete", keys.len() + ctids.len(), deleted)
}

fn delete_by_key(tx: &mut Transaction<'_>, target: &str, layout: &Layout, keys: &[Vec<u8>], n: usize) -> Result<u64> {
    let names = key_names(layout);
    let scratch = format!("godwit_sync_delete_{n}");
    scratch_table(tx, &scratch, target, &names)?;
    copy_in(tx, &scratch, &names, keys)?;
    exec(
        tx,
        &format!(
            "DELETE FROM {target} t USING {scratch} d WHERE {}",
            key_match(&names, "t", "d")
        ),
        &format!("deleting rows of {}", layout.target_table),
    )
}

/// Every statement of a round touches exactly the rows the comparison
/// found. Fewer or more means the target moved after it was read (another
/// writer, or a cascade from a parent's delete), and the round must not
/// commit a state that matches no snapshot of the source.
fn expect_rows(layout: &Layout, verb: &str, expected: usize, done: u64) -> Result<()> {
    if u64::try_from(expected).unwrap_or(u64::MAX) == done {
        return Ok(());
    }
    Err(Error::Other(format!(
        "table {}: the round was to {verb} {expected} rows of the target and did {done}; the target changed \
         while the round ran (another writer, or a cascade from a parent's delete). Nothing was written; run sync again",
        layout.target_table
    )))
}

pub fn update(tx: &mut Transaction<'_>, schema: &str, layout: &Layout, rows: &[Vec<u8>], n: usize) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let target = qualified(schema, &layout.target_table);
    let names = column_names(layout);
    let keys = key_names(layout);
    let set: Vec<String> = names
        .iter()
        .filter(|c| !keys.contains(c))
        .map(|c| format!("{0} = u.{0}", quote_ident(c)))
        .collect();
    if set.is_empty() {
        return Ok(());
    }
    let scratch = format!("godwit_sync_update_{n}");
    scratch_table(tx, &scratch, &target, &names)?;
    copy_in(tx, &scratch, &names, rows)?;
    by_index(tx, &target, &keys, true)?;
    let updated = exec(
        tx,
        &format!(
            "UPDATE {target} t SET {} FROM {scratch} u WHERE {}",
            set.join(", "),
            key_match(&keys, "t", "u")
        ),
        &format!("updating rows of {}", layout.target_table),
    )?;
    by_index(tx, &target, &keys, false)?;
    expect_rows(layout, "update", rows.len(), updated)
}

pub fn insert(tx: &mut Transaction<'_>, schema: &str, layout: &Layout, rows: &[Vec<u8>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    copy_in(
        tx,
        &qualified(schema, &layout.target_table),
        &column_names(layout),
        rows,
    )?;
    Ok(())
}

/// Moves the table's identity and serial sequences past its largest id
/// (and past `floor`, SQLite's sqlite_sequence for AUTOINCREMENT), never back.
pub fn move_sequences(tx: &mut Transaction<'_>, schema: &str, layout: &Layout, floor: Option<i64>) -> Result<()> {
    crate::postgres::sequences::move_past_max(tx, schema, &layout.target_table, floor)
}
