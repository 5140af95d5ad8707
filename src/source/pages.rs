//! How a table is stored, cheaper to learn than its rows: a hash of each
//! leaf page of its b-tree with the rowids it holds. Two maps of the same
//! table tell which rowid ranges can have changed between two snapshots:
//! a leaf found byte for byte the same, at the same place and with the
//! same rowids, holds the same rows in both, and every other row was, or
//! is, on a leaf that is not (`sync` reads only those ranges).

use std::collections::HashSet;

/// One leaf page of a table's b-tree: its rows' rowids run from `first` to
/// `last` (none when `first > last`), and `hash` covers its bytes and its
/// rows' overflow pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Leaf {
    pub page: u32,
    pub hash: u64,
    pub first: i64,
    pub last: i64,
}

/// A table's leaves in rowid order, and what their bytes mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMap {
    /// The table's definition, the page size and the text encoding, hashed:
    /// the same bytes under another shape may hold other values (a column
    /// added with a default), so maps of other shapes compare nothing.
    pub shape: u64,
    pub leaves: Vec<Leaf>,
}

/// The stored form's version: another one is not read back.
const VERSION: u8 = 1;
const LEAF_BYTES: usize = 4 + 8 + 8 + 8;

impl PageMap {
    /// The stored form: a version byte, the shape, then each leaf.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + LEAF_BYTES * self.leaves.len());
        out.push(VERSION);
        out.extend_from_slice(&self.shape.to_be_bytes());
        for leaf in &self.leaves {
            out.extend_from_slice(&leaf.page.to_be_bytes());
            out.extend_from_slice(&leaf.hash.to_be_bytes());
            out.extend_from_slice(&leaf.first.to_be_bytes());
            out.extend_from_slice(&leaf.last.to_be_bytes());
        }
        out
    }

    /// None for anything but [`PageMap::to_bytes`]'s output of this version.
    pub fn from_bytes(bytes: &[u8]) -> Option<PageMap> {
        let (&version, rest) = bytes.split_first()?;
        if version != VERSION || rest.len() < 8 || !(rest.len() - 8).is_multiple_of(LEAF_BYTES) {
            return None;
        }
        let eight = |b: &[u8]| -> [u8; 8] { b.try_into().unwrap_or([0; 8]) };
        let shape = u64::from_be_bytes(eight(&rest[..8]));
        let leaves = rest[8..]
            .chunks_exact(LEAF_BYTES)
            .map(|c| Leaf {
                page: u32::from_be_bytes(c[..4].try_into().unwrap_or([0; 4])),
                hash: u64::from_be_bytes(eight(&c[4..12])),
                first: i64::from_be_bytes(eight(&c[12..20])),
                last: i64::from_be_bytes(eight(&c[20..28])),
            })
            .collect();
        Some(PageMap { shape, leaves })
    }

    /// The rowid ranges (inclusive, sorted, disjoint) where rows may differ
    /// between this older map and `new`: those of every leaf not found the
    /// same in both. A row outside them is on a leaf that is the same in
    /// both snapshots, so it is there, and the same, in both. None when the
    /// shapes differ (nothing can be told).
    pub fn changed_since(&self, new: &PageMap) -> Option<Vec<(i64, i64)>> {
        if self.shape != new.shape {
            return None;
        }
        let old: HashSet<&Leaf> = self.leaves.iter().collect();
        let now: HashSet<&Leaf> = new.leaves.iter().collect();
        let mut ranges: Vec<(i64, i64)> = new
            .leaves
            .iter()
            .filter(|l| !old.contains(l))
            .chain(self.leaves.iter().filter(|l| !now.contains(l)))
            .filter(|l| l.first <= l.last)
            .map(|l| (l.first, l.last))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(page: u32, hash: u64, first: i64, last: i64) -> Leaf {
        Leaf {
            page,
            hash,
            first,
            last,
        }
    }

    #[test]
    fn stored_form_round_trips_and_rejects_other_bytes() {
        let map = PageMap {
            shape: 7,
            leaves: vec![leaf(3, 1, -5, 9), leaf(4, u64::MAX, 10, i64::MAX)],
        };
        assert_eq!(PageMap::from_bytes(&map.to_bytes()), Some(map.clone()));
        let mut other = map.to_bytes();
        other[0] = 2;
        assert_eq!(PageMap::from_bytes(&other), None);
        assert_eq!(PageMap::from_bytes(&map.to_bytes()[..20]), None);
        assert_eq!(PageMap::from_bytes(&[]), None);
    }

    #[test]
    fn changed_ranges_are_those_of_leaves_not_the_same_in_both() {
        let old = PageMap {
            shape: 1,
            leaves: vec![leaf(2, 10, 1, 100), leaf(3, 11, 101, 200), leaf(4, 12, 201, 300)],
        };
        // Leaf 3 rewritten with a row fewer; leaf 4 split into 4 and 5.
        let new = PageMap {
            shape: 1,
            leaves: vec![
                leaf(2, 10, 1, 100),
                leaf(3, 99, 101, 199),
                leaf(4, 13, 201, 250),
                leaf(5, 14, 251, 320),
            ],
        };
        assert_eq!(old.changed_since(&new), Some(vec![(101, 320)]));
        assert_eq!(old.changed_since(&old), Some(vec![]));
        // The same bytes moved to another page count as changed.
        let moved = PageMap {
            shape: 1,
            leaves: vec![leaf(9, 10, 1, 100), leaf(3, 11, 101, 200), leaf(4, 12, 201, 300)],
        };
        assert_eq!(old.changed_since(&moved), Some(vec![(1, 100)]));
        let reshaped = PageMap {
            shape: 2,
            ..old.clone()
        };
        assert_eq!(old.changed_since(&reshaped), None);
    }
}
