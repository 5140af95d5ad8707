//! Applies a round's differences in one PostgreSQL transaction: new and
//! changed rows parents first, then deletes children first, then moves
//! sequences past the new maximum and records the new fingerprints. The
//! target is at the previous snapshot until the commit, and at the new one
//! after it.
//!
//! A table with a unique key PostgreSQL can arbitrate on is written
//! through a [`Stage`]: its new and changed rows go by binary COPY (the
//! copy's encoding, lossless) into a temporary table as the round finds
//! them, then into the table in one `INSERT ... ON CONFLICT DO UPDATE`;
//! its deleted keys likewise, removed in one `DELETE ... USING`. Other
//! tables (no key, a partitioned or deferrable one) keep [`update`] and
//! [`insert`].

use std::io::Write;

use postgres::Transaction;

use crate::error::{Error, Result};
use crate::postgres::binary_copy::{COPY_HEADER, COPY_TRAILER, begin_row};
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
    writer.write_all(COPY_HEADER).map_err(io)?;
    // Rows are small: framed into one buffer, written in large pieces.
    let mut buf = Vec::with_capacity(crate::postgres::copy::FLUSH_BYTES);
    for row in rows {
        begin_row(&mut buf, columns.len());
        buf.extend_from_slice(row);
        if buf.len() >= crate::postgres::copy::FLUSH_BYTES {
            writer.write_all(&buf).map_err(io)?;
            buf.clear();
        }
    }
    buf.extend_from_slice(COPY_TRAILER);
    writer.write_all(&buf).map_err(io)?;
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

/// Whether the target table can take its rows through a [`Stage`]: a
/// plain table with a unique index on exactly the layout's key that
/// `ON CONFLICT` can arbitrate on (not partial, not on expressions, not
/// deferrable). A partitioned table is left to [`update`] and [`insert`]:
/// there `RETURNING xmax` cannot tell an inserted row from an updated one.
pub fn can_stage(tx: &mut Transaction<'_>, schema: &str, layout: &Layout) -> Result<bool> {
    let keys = key_names(layout);
    if keys.is_empty() {
        return Ok(false);
    }
    let target = qualified(schema, &layout.target_table);
    tx.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid \
           WHERE x.indrelid = $1::text::regclass AND c.relkind = 'r' AND x.indisunique AND x.indimmediate \
             AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL \
             AND x.indnatts = cardinality($2::text[]) \
             AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a \
                   WHERE a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey::int2[])) \
                 = (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) AS k))",
        &[&target, &keys],
    )
    .map(|row| row.get(0))
    .map_err(|e| Error::pg(format!("reading the unique keys of {target}"), &e))
}

/// One table's changes gathered in temporary tables inside the round's
/// transaction, written to the table by one statement each at the end.
pub struct Stage {
    /// New and changed rows, and the keys of deleted ones.
    rows: String,
    keys: String,
    inserts: usize,
    updates: usize,
    deletes: usize,
}

impl Stage {
    /// `n` tells the stages of a transaction apart.
    pub fn new(n: usize) -> Stage {
        Stage {
            rows: format!("godwit_sync_stage_{n}"),
            keys: format!("godwit_sync_stage_{n}_gone"),
            inserts: 0,
            updates: 0,
            deletes: 0,
        }
    }

    /// Adds rows found new (`update` false) or changed in the source.
    pub fn rows(
        &mut self,
        tx: &mut Transaction<'_>,
        schema: &str,
        layout: &Layout,
        rows: &[Vec<u8>],
        update: bool,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let names = column_names(layout);
        if self.inserts + self.updates == 0 {
            scratch_table(tx, &self.rows, &qualified(schema, &layout.target_table), &names)?;
        }
        copy_in(tx, &self.rows, &names, rows)?;
        if update {
            self.updates += rows.len();
        } else {
            self.inserts += rows.len();
        }
        Ok(())
    }

    /// Adds the keys (framed key fields) of rows gone from the source.
    pub fn deletes(&mut self, tx: &mut Transaction<'_>, schema: &str, layout: &Layout, keys: &[Vec<u8>]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let names = key_names(layout);
        if self.deletes == 0 {
            scratch_table(tx, &self.keys, &qualified(schema, &layout.target_table), &names)?;
        }
        copy_in(tx, &self.keys, &names, keys)?;
        self.deletes += keys.len();
        Ok(())
    }

    /// Writes the staged new and changed rows into the table: one
    /// `INSERT ... ON CONFLICT DO UPDATE`, which must insert exactly the
    /// rows found new and update exactly the rows found changed (see
    /// [`expect_rows`]; `xmax` is 0 only in a row version the statement
    /// inserted).
    pub fn upsert(&mut self, tx: &mut Transaction<'_>, schema: &str, layout: &Layout) -> Result<()> {
        if self.inserts + self.updates == 0 {
            return Ok(());
        }
        let target = qualified(schema, &layout.target_table);
        let names = column_names(layout);
        let keys = key_names(layout);
        let list: Vec<String> = names.iter().map(|c| quote_ident(c)).collect();
        let set: Vec<String> = names
            .iter()
            .filter(|c| !keys.contains(c))
            .map(|c| format!("{0} = excluded.{0}", quote_ident(c)))
            .collect();
        let action = if set.is_empty() {
            "NOTHING".to_string()
        } else {
            format!("UPDATE SET {}", set.join(", "))
        };
        let key_list: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
        // Rows in key order: the index is walked forward, not at random.
        let sql = format!(
            "WITH written AS (INSERT INTO {target} AS t ({list}) OVERRIDING SYSTEM VALUE \
             SELECT {list} FROM {stage} ORDER BY {keys} \
             ON CONFLICT ({keys}) DO {action} RETURNING t.xmax = 0 AS inserted) \
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written",
            list = list.join(", "),
            stage = self.rows,
            keys = key_list.join(", "),
        );
        let row = tx
            .query_one(&sql, &[])
            .map_err(|e| Error::pg(format!("writing rows of {}", layout.target_table), &e))?;
        let (inserted, updated): (i64, i64) = (row.get(0), row.get(1));
        expect_rows(layout, "insert", self.inserts, u64::try_from(inserted).unwrap_or(0))?;
        expect_rows(layout, "update", self.updates, u64::try_from(updated).unwrap_or(0))?;
        // Its space is given back now rather than at the commit.
        tx.batch_execute(&format!("DROP TABLE {}", self.rows))
            .map_err(|e| Error::pg(format!("writing rows of {}", layout.target_table), &e))?;
        self.inserts = 0;
        self.updates = 0;
        Ok(())
    }

    /// Removes the rows whose keys were staged: one `DELETE ... USING`.
    pub fn delete(&mut self, tx: &mut Transaction<'_>, schema: &str, layout: &Layout) -> Result<()> {
        if self.deletes == 0 {
            return Ok(());
        }
        let target = qualified(schema, &layout.target_table);
        let names = key_names(layout);
        // Statistics, so the few keys are looked up through the index
        // rather than the whole table scanned for them.
        tx.batch_execute(&format!("ANALYZE {}", self.keys))
            .map_err(|e| Error::pg(format!("deleting rows of {}", layout.target_table), &e))?;
        let deleted = exec(
            tx,
            &format!(
                "DELETE FROM {target} t USING {} d WHERE {}",
                self.keys,
                key_match(&names, "t", "d")
            ),
            &format!("deleting rows of {}", layout.target_table),
        )?;
        expect_rows(layout, "delete", self.deletes, deleted)?;
        self.deletes = 0;
        Ok(())
    }
}

/// Moves the table's identity and serial sequences past its largest id
/// (and past `floor`, SQLite's sqlite_sequence for AUTOINCREMENT), never back.
pub fn move_sequences(tx: &mut Transaction<'_>, schema: &str, layout: &Layout, floor: Option<i64>) -> Result<()> {
    crate::postgres::sequences::move_past_max(tx, schema, &layout.target_table, floor)
}
