//! A table's [`PageMap`], read from the file's pages through SQLite's
//! `sqlite_dbpage` virtual table on the reader's own connection, so inside
//! its snapshot and with the WAL's newer pages. The b-tree is walked from
//! the table's root page, following SQLite's file format
//! (<https://sqlite.org/fileformat2.html>); anything unexpected (a
//! WITHOUT ROWID table, a page that does not parse, a SQLite built without
//! the virtual table) gives no map, and the caller reads rows instead.

use rusqlite::{Connection, OptionalExtension};

use crate::hash::hash_of;
use crate::source::pages::{Leaf, PageMap};

/// B-tree page types of a rowid table.
const TABLE_INTERIOR: u8 = 0x05;
const TABLE_LEAF: u8 = 0x0d;

/// The file's fixed facts, from its header on page 1.
struct File {
    /// Bytes of a page SQLite uses (the page size less the reserved bytes).
    usable: usize,
    pages: u64,
}

pub fn page_map(conn: &Connection, table: &str) -> rusqlite::Result<Option<PageMap>> {
    let Some((root, sql)) = conn
        .query_row(
            "SELECT rootpage, sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<String>>(1)?)),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let (Some(root), Some(sql)) = (root.and_then(|r| u32::try_from(r).ok()).filter(|&r| r > 0), sql) else {
        return Ok(None);
    };
    // Built without it: no map, rows are read as before.
    let Ok(mut page) = conn.prepare_cached("SELECT data FROM sqlite_dbpage WHERE pgno = ?1") else {
        return Ok(None);
    };
    let mut read = |pgno: u32| -> rusqlite::Result<Option<Vec<u8>>> {
        page.query_row([pgno], |r| r.get::<_, Vec<u8>>(0)).optional()
    };
    let Some(first) = read(1)? else { return Ok(None) };
    let Some(header) = first.get(..100) else {
        return Ok(None);
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => usize::from(n),
    };
    let usable = page_size.saturating_sub(usize::from(header[20]));
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let pages = u64::try_from(pages).unwrap_or(0);
    if usable < 480 {
        return Ok(None);
    }
    let file = File { usable, pages };
    let mut shape = Vec::new();
    shape.extend_from_slice(b"sqlite-pages-1|");
    shape.extend_from_slice(&header[16..18]);
    shape.push(header[20]);
    shape.extend_from_slice(&header[56..60]);
    shape.extend_from_slice(sql.as_bytes());
    let mut leaves = Vec::new();
    // Pages to visit, the next on top: children pushed right to left so
    // that leaves come out in rowid order.
    let mut stack = vec![root];
    let mut visited: u64 = 0;
    while let Some(pgno) = stack.pop() {
        visited += 1;
        if visited > file.pages {
            return Ok(None); // a cycle: not a b-tree
        }
        let Some(bytes) = read(pgno)? else { return Ok(None) };
        let at = if pgno == 1 { 100 } else { 0 };
        match bytes.get(at) {
            Some(&TABLE_INTERIOR) => {
                let Some(children) = interior_children(&bytes, at) else {
                    return Ok(None);
                };
                stack.extend(children.into_iter().rev());
            }
            Some(&TABLE_LEAF) => {
                let Some(leaf) = leaf_of(&bytes, at, pgno, &file, &mut read)? else {
                    return Ok(None);
                };
                leaves.push(leaf);
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(PageMap {
        shape: hash_of(&shape),
        leaves,
    }))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// SQLite's variable-length integer at `at`: the value and its length.
fn varint(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let b = *bytes.get(at + i)?;
        if i == 8 {
            return Some(((value << 8) | u64::from(b), 9));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// An interior page's children, left to right.
fn interior_children(bytes: &[u8], at: usize) -> Option<Vec<u32>> {
    let cells = u16_at(bytes, at + 3)?;
    let mut children = Vec::with_capacity(cells + 1);
    for i in 0..cells {
        let cell = u16_at(bytes, at + 12 + 2 * i)?;
        children.push(u32_at(bytes, cell)?);
    }
    children.push(u32_at(bytes, at + 8)?);
    Some(children)
}

/// A leaf's rowids and hash (its bytes, then each overflow page of its
/// cells in order).
fn leaf_of(
    bytes: &[u8],
    at: usize,
    pgno: u32,
    file: &File,
    read: &mut dyn FnMut(u32) -> rusqlite::Result<Option<Vec<u8>>>,
) -> rusqlite::Result<Option<Leaf>> {
    let Some(cells) = u16_at(bytes, at + 3) else {
        return Ok(None);
    };
    let mut hashes: Vec<u8> = Vec::new();
    hashes.extend_from_slice(&hash_of(bytes).to_be_bytes());
    let (mut first, mut last) = (1i64, 0i64);
    let u = file.usable;
    let max_local = u - 35;
    let min_local = (u - 12) * 32 / 255 - 23;
    for i in 0..cells {
        let Some(cell) = u16_at(bytes, at + 8 + 2 * i) else {
            return Ok(None);
        };
        let Some((payload, a)) = varint(bytes, cell) else {
            return Ok(None);
        };
        let Some((rowid, b)) = varint(bytes, cell + a) else {
            return Ok(None);
        };
        let rowid = i64::from_be_bytes(rowid.to_be_bytes());
        if i == 0 {
            first = rowid;
        }
        last = rowid;
        let Ok(payload) = usize::try_from(payload) else {
            return Ok(None);
        };
        if payload <= max_local {
            continue;
        }
        let spill = min_local + (payload - min_local) % (u - 4);
        let local = if spill <= max_local { spill } else { min_local };
        let Some(mut next) = u32_at(bytes, cell + a + b + local) else {
            return Ok(None);
        };
        // The whole chain, to its last page (whose pointer is 0), which
        // must be as long as the payload says: each overflow page holds
        // usable - 4 bytes of the rest.
        let expected = (payload - local).div_ceil(u - 4);
        let mut seen = 0;
        while next != 0 {
            seen += 1;
            if seen > expected || u64::from(next) > file.pages {
                return Ok(None);
            }
            let Some(page) = read(next)? else { return Ok(None) };
            hashes.extend_from_slice(&hash_of(&page).to_be_bytes());
            let Some(following) = u32_at(&page, 0) else {
                return Ok(None);
            };
            next = following;
        }
        if seen != expected {
            return Ok(None);
        }
    }
    Ok(Some(Leaf {
        page: pgno,
        hash: hash_of(&hashes),
        first,
        last,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(conn: &Connection, table: &str) -> PageMap {
        page_map(conn, table).unwrap().expect("a page map")
    }

    #[test]
    fn varints_read_as_sqlite_writes_them() {
        assert_eq!(varint(&[0x05], 0), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81], 0), None);
    }

    #[test]
    fn a_changed_row_changes_only_its_leaf() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
             INSERT INTO t SELECT i, printf('row %d %s', i, hex(randomblob(20))) FROM n;
             INSERT INTO t VALUES (6000, hex(randomblob(9000)));",
        )
        .unwrap();
        let before = map(&conn, "t");
        assert!(before.leaves.len() > 10, "{} leaves", before.leaves.len());
        assert_eq!(before.leaves.first().map(|l| l.first), Some(1));
        assert_eq!(before.leaves.last().map(|l| l.last), Some(6000));
        assert!(before.leaves.windows(2).all(|w| w[0].last < w[1].first));
        assert_eq!(map(&conn, "t").changed_since(&before), Some(vec![]));

        conn.execute("UPDATE t SET body = 'changed' WHERE id = 2500", [])
            .unwrap();
        let after = map(&conn, "t");
        let changed = before.changed_since(&after).unwrap();
        assert_eq!(changed.len(), 1);
        assert!(changed[0].0 <= 2500 && 2500 <= changed[0].1, "{changed:?}");
        assert!(changed[0].1 - changed[0].0 < 500, "{changed:?}");

        // A row held mostly on overflow pages, changed past its leaf's part.
        conn.execute(
            "UPDATE t SET body = substr(body, 1, 8000) || 'FFFF' || substr(body, 8005) WHERE id = 6000",
            [],
        )
        .unwrap();
        let spilled = map(&conn, "t");
        let changed = after.changed_since(&spilled).unwrap();
        assert!(changed.iter().any(|&(lo, hi)| lo <= 6000 && 6000 <= hi), "{changed:?}");
    }

    #[test]
    fn other_definitions_and_tables_give_no_or_other_maps() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO t VALUES (1, 'a');
             CREATE TABLE w (id INTEGER PRIMARY KEY, body TEXT) WITHOUT ROWID;",
        )
        .unwrap();
        let before = map(&conn, "t");
        assert_eq!(page_map(&conn, "w").unwrap(), None);
        assert_eq!(page_map(&conn, "missing").unwrap(), None);
        conn.execute_batch("ALTER TABLE t ADD COLUMN extra INTEGER DEFAULT 7")
            .unwrap();
        assert_eq!(before.changed_since(&map(&conn, "t")), None);
    }
}
