//! What the last synced snapshot looked like, kept in the target next to
//! the data (schema `godwit`) and written in the same transaction as the
//! changes: a fingerprint per key range, so a round re-reads only the
//! ranges whose fingerprint moved.
//!
//! A keyed table whose first key column is an integer is cut into buckets
//! of `width` consecutive key values; bucket fingerprints are stored 256 to
//! a row. Other tables have one fingerprint for the whole table.
//!
//! A SQLite table also keeps the [`PageMap`] of the snapshot its
//! fingerprints describe, written with them: the next round reads only the
//! rowid ranges of leaf pages that changed since (see `diff`).

use std::collections::HashMap;

use postgres::GenericClient;

use crate::error::{Error, Result};
use crate::postgres::bookkeeping::{self, SCHEMA as GODWIT_SCHEMA};
use crate::source::pages::PageMap;

/// Bucket fingerprints per stored row.
pub const BUCKETS_PER_GROUP: i64 = 256;

#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// The layout the fingerprints were taken with; another layout (the
    /// schema or the casts changed) starts the table afresh.
    pub signature: String,
    /// Key values per bucket; 0 for a table fingerprinted whole.
    pub width: i64,
    pub whole: Option<u64>,
    pub buckets: HashMap<i64, u64>,
    /// How the source stored the table in the snapshot the fingerprints
    /// describe, when known.
    pub pages: Option<PageMap>,
}

fn ensure(client: &mut impl GenericClient) -> Result<()> {
    bookkeeping::ensure(
        client,
        &[
            &bookkeeping::SYNC_TABLES,
            &bookkeeping::SYNC_BUCKETS,
            &bookkeeping::SYNC_PAGES,
        ],
        "creating godwit's sync state",
    )
}

/// Every table's state in a target schema (empty before the first sync).
pub fn read(client: &mut impl GenericClient, schema: &str) -> Result<HashMap<String, TableState>> {
    let exists = bookkeeping::exists(
        client,
        &bookkeeping::SYNC_BUCKETS.qualified(),
        "looking for godwit's sync state",
    )?;
    let mut out: HashMap<String, TableState> = HashMap::new();
    if !exists {
        return Ok(out);
    }
    let e = |err: postgres::Error| Error::pg("reading godwit's sync state", &err);
    for row in client
        .query(
            &format!("SELECT name, signature, width, whole FROM {GODWIT_SCHEMA}.sync_tables WHERE schema = $1"),
            &[&schema],
        )
        .map_err(e)?
    {
        let whole: Option<i64> = row.get(3);
        out.insert(
            row.get(0),
            TableState {
                signature: row.get(1),
                width: row.get(2),
                whole: whole.map(|w| u64::from_be_bytes(w.to_be_bytes())),
                buckets: HashMap::new(),
                pages: None,
            },
        );
    }
    for row in client
        .query(
            &format!("SELECT name, grp, hashes FROM {GODWIT_SCHEMA}.sync_buckets WHERE schema = $1"),
            &[&schema],
        )
        .map_err(e)?
    {
        let name: String = row.get(0);
        let group: i64 = row.get(1);
        let hashes: Vec<u8> = row.get(2);
        let Some(table) = out.get_mut(&name) else { continue };
        for (i, chunk) in hashes.chunks_exact(8).enumerate() {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(chunk);
            let hash = u64::from_be_bytes(raw);
            if hash != 0 {
                let offset = i64::try_from(i).unwrap_or(0);
                table.buckets.insert(group * BUCKETS_PER_GROUP + offset, hash);
            }
        }
    }
    let pages = bookkeeping::exists(
        client,
        &bookkeeping::SYNC_PAGES.qualified(),
        "looking for godwit's sync state",
    )?;
    if pages {
        for row in client
            .query(
                &format!("SELECT name, pages FROM {GODWIT_SCHEMA}.sync_pages WHERE schema = $1"),
                &[&schema],
            )
            .map_err(e)?
        {
            let name: String = row.get(0);
            let bytes: Vec<u8> = row.get(1);
            if let Some(table) = out.get_mut(&name) {
                table.pages = PageMap::from_bytes(&bytes);
            }
        }
    }
    Ok(out)
}

/// What a round learnt about one table.
#[derive(Debug, Clone, Default)]
pub struct NewState {
    pub signature: String,
    pub width: i64,
    pub whole: Option<u64>,
    /// Buckets whose fingerprint changed (0: now empty).
    pub buckets: Vec<(i64, u64)>,
    /// The stored state did not fit (first round, other layout): replace it.
    pub fresh: bool,
    /// The table's pages in the round's snapshot (None: not known), and
    /// whether they differ from the stored ones.
    pub pages: Option<PageMap>,
    pub pages_moved: bool,
}

impl NewState {
    pub fn writes_anything(&self) -> bool {
        self.fresh || !self.buckets.is_empty() || self.pages_moved
    }
}

/// Writes a table's new state inside the round's transaction.
pub fn write(
    client: &mut impl GenericClient,
    schema: &str,
    table: &str,
    old: Option<&TableState>,
    new: &NewState,
) -> Result<()> {
    ensure(client)?;
    let e = |err: postgres::Error| Error::pg(format!("writing the sync state of {table}"), &err);
    let whole = new.whole.map(|w| i64::from_be_bytes(w.to_be_bytes()));
    if new.fresh {
        client
            .execute(
                &format!("DELETE FROM {GODWIT_SCHEMA}.sync_buckets WHERE schema = $1 AND name = $2"),
                &[&schema, &table],
            )
            .map_err(e)?;
    }
    client
        .execute(
            &format!(
                "INSERT INTO {GODWIT_SCHEMA}.sync_tables (schema, name, signature, width, whole) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (schema, name) DO UPDATE SET signature = excluded.signature, width = excluded.width, \
                 whole = excluded.whole, synced_at = now()"
            ),
            &[&schema, &table, &new.signature, &new.width, &whole],
        )
        .map_err(e)?;
    // The pages of the snapshot these fingerprints describe, or none.
    match &new.pages {
        Some(pages) => client
            .execute(
                &format!(
                    "INSERT INTO {GODWIT_SCHEMA}.sync_pages (schema, name, pages) VALUES ($1, $2, $3) \
                     ON CONFLICT (schema, name) DO UPDATE SET pages = excluded.pages"
                ),
                &[&schema, &table, &pages.to_bytes()],
            )
            .map_err(e)?,
        None => client
            .execute(
                &format!("DELETE FROM {GODWIT_SCHEMA}.sync_pages WHERE schema = $1 AND name = $2"),
                &[&schema, &table],
            )
            .map_err(e)?,
    };
    // Whole groups are rewritten: merge the changed buckets into what was stored.
    let mut groups: HashMap<i64, Vec<u8>> = HashMap::new();
    for &(bucket, _) in &new.buckets {
        let group = bucket.div_euclid(BUCKETS_PER_GROUP);
        groups.entry(group).or_insert_with(|| {
            let mut bytes = vec![0u8; usize::try_from(BUCKETS_PER_GROUP).unwrap_or(256) * 8];
            if let Some(old) = old.filter(|_| !new.fresh) {
                for offset in 0..BUCKETS_PER_GROUP {
                    if let Some(hash) = old.buckets.get(&(group * BUCKETS_PER_GROUP + offset)) {
                        let at = usize::try_from(offset).unwrap_or(0) * 8;
                        bytes[at..at + 8].copy_from_slice(&hash.to_be_bytes());
                    }
                }
            }
            bytes
        });
    }
    for &(bucket, hash) in &new.buckets {
        let group = bucket.div_euclid(BUCKETS_PER_GROUP);
        let at = usize::try_from(bucket.rem_euclid(BUCKETS_PER_GROUP)).unwrap_or(0) * 8;
        if let Some(bytes) = groups.get_mut(&group) {
            bytes[at..at + 8].copy_from_slice(&hash.to_be_bytes());
        }
    }
    // One statement for every changed group: a round can touch thousands.
    let (numbers, blobs): (Vec<i64>, Vec<Vec<u8>>) = groups.into_iter().unzip();
    if !numbers.is_empty() {
        client
            .execute(
                &format!(
                    "INSERT INTO {GODWIT_SCHEMA}.sync_buckets (schema, name, grp, hashes) \
                     SELECT $1, $2, g, h FROM unnest($3::bigint[], $4::bytea[]) AS u(g, h) \
                     ON CONFLICT (schema, name, grp) DO UPDATE SET hashes = excluded.hashes"
                ),
                &[&schema, &table, &numbers, &blobs],
            )
            .map_err(e)?;
    }
    Ok(())
}

/// Removes a table's state, inside the caller's transaction: its next
/// round starts afresh and compares every key.
pub fn forget(client: &mut impl GenericClient, schema: &str, table: &str) -> Result<()> {
    let e = |err: postgres::Error| Error::pg(format!("removing the sync state of {table}"), &err);
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&bookkeeping::SYNC_BUCKETS.qualified()],
        )
        .map_err(e)?
        .get(0);
    if !exists {
        return Ok(());
    }
    client
        .execute(
            &format!("DELETE FROM {GODWIT_SCHEMA}.sync_buckets WHERE schema = $1 AND name = $2"),
            &[&schema, &table],
        )
        .map_err(e)?;
    client
        .execute(
            &format!("DELETE FROM {GODWIT_SCHEMA}.sync_tables WHERE schema = $1 AND name = $2"),
            &[&schema, &table],
        )
        .map_err(e)?;
    if bookkeeping::exists(
        client,
        &bookkeeping::SYNC_PAGES.qualified(),
        "looking for godwit's sync state",
    )? {
        client
            .execute(
                &format!("DELETE FROM {GODWIT_SCHEMA}.sync_pages WHERE schema = $1 AND name = $2"),
                &[&schema, &table],
            )
            .map_err(e)?;
    }
    Ok(())
}
