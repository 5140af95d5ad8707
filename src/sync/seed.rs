//! Fingerprints taken by `copy` while it reads each row, so that the first
//! sync after a copy is as cheap as any later round: it compares only the
//! key ranges that changed since the copy.
//!
//! They are the fingerprints a round would take ([`diff`]: the same raw
//! values, buckets and layout signature) and are written in the copy's
//! final transaction, with the rows they describe. A copy loads every row
//! of a table into a table it creates, so what they claim holds by
//! construction: each recorded bucket holds exactly its source rows, and
//! the target holds no row elsewhere. A table where the copy left rows
//! out (`--on-error skip`) gets none, and its old sync state (if any) is
//! removed: its first round then compares every key.
//!
//! With them goes the table's [`PageMap`] in the copy's snapshot (the
//! reader given is one of the copy's), so the first round reads only the
//! pages that changed since the copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use postgres::GenericClient;

use crate::error::Result;
use crate::hash::hash_of;
use crate::plan::TablePlan;
use crate::source::pages::PageMap;
use crate::source::{Reader, Row, ValueRef};
use crate::sync::diff::{bucket_column, initial_width, push_raw};
use crate::sync::state::{self, NewState};
use crate::verify::layout::Layout;

/// What one table's rows add up to, in any order (sums are order-free).
#[derive(Default)]
struct Sums {
    buckets: HashMap<i64, u64>,
    whole: u64,
    /// A row was left out of the target: nothing is recorded.
    spoiled: bool,
}

impl Sums {
    fn add(&mut self, other: Sums) {
        self.spoiled |= other.spoiled;
        self.whole = self.whole.wrapping_add(other.whole);
        for (bucket, sum) in other.buckets {
            let total = self.buckets.entry(bucket).or_default();
            *total = total.wrapping_add(sum);
        }
    }
}

/// Which values of a row are fingerprinted, and how rows are bucketed.
struct Prints {
    /// Per layout column, its position in the copy's select list.
    columns: Vec<usize>,
    /// The select position of the bucket column, and the bucket width;
    /// None for a table fingerprinted whole.
    bucket: Option<(usize, i64)>,
}

/// One table's fingerprints as the copy reads it.
pub struct TableSeed {
    source_table: String,
    signature: String,
    prints: Arc<Prints>,
    /// How the copy's snapshot stores the table.
    pages: Option<PageMap>,
    sums: Mutex<Sums>,
}

impl TableSeed {
    /// None when the copy's columns are not the ones sync compares (a
    /// generated column written as a plain one): sync then starts afresh.
    pub fn new(
        plan: &TablePlan,
        copied: &[String],
        ordered_scans: bool,
        reader: &mut dyn Reader,
    ) -> Result<Option<TableSeed>> {
        // The layout sync will build from the target the copy creates.
        let mut layout = Layout::new(plan, true, Vec::new(), plan.identity.is_some());
        layout.orderable &= ordered_scans;
        let Some(columns) = layout
            .columns
            .iter()
            .map(|c| copied.iter().position(|s| s == &c.source))
            .collect::<Option<Vec<usize>>>()
        else {
            return Ok(None);
        };
        let bucket = match bucket_column(&layout) {
            Some(column) => Some((columns[column], initial_width(reader, &layout)?)),
            None => None,
        };
        let pages = reader.page_map(&layout.source_table)?;
        Ok(Some(TableSeed {
            pages,
            source_table: layout.source_table.clone(),
            signature: crate::sync::signature(&layout),
            prints: Arc::new(Prints { columns, bucket }),
            sums: Mutex::new(Sums::default()),
        }))
    }

    /// A chunk's own sums, merged when the chunk is in.
    pub fn chunk(&self) -> ChunkSeed<'_> {
        ChunkSeed {
            table: self,
            part: self.part(),
        }
    }

    /// Fingerprints of some of its rows, to be taken on any thread and
    /// added to a chunk's ([`ChunkSeed::add`]).
    pub fn part(&self) -> SeedPart {
        SeedPart {
            prints: self.prints.clone(),
            sums: Sums::default(),
            raw: Vec::new(),
        }
    }

    /// Writes the table's fingerprints in the copy's final transaction,
    /// under the target schema; or removes old ones when it has none.
    pub fn record(
        seed: Option<&TableSeed>,
        plan: &TablePlan,
        client: &mut impl GenericClient,
        schema: &str,
    ) -> Result<()> {
        let sums = seed.map(|s| std::mem::take(&mut *s.sums.lock().unwrap_or_else(|e| e.into_inner())));
        match (seed, sums) {
            (Some(seed), Some(sums)) if !sums.spoiled => {
                let (width, whole) = match seed.prints.bucket {
                    Some((_, width)) => (width, None),
                    None => (0, Some(sums.whole)),
                };
                let new = NewState {
                    signature: seed.signature.clone(),
                    width,
                    whole,
                    buckets: sums.buckets.into_iter().collect(),
                    fresh: true,
                    pages: seed.pages.clone(),
                    pages_moved: true,
                };
                state::write(client, schema, &seed.source_table, None, &new)
            }
            _ => state::forget(client, schema, &plan.source),
        }
    }
}

/// Fingerprints of some rows of a table, owned: a copy's reading threads
/// take them of the rows they make, and the chunk adds them up (sums are
/// order-free, so in whatever order the parts come).
pub struct SeedPart {
    prints: Arc<Prints>,
    sums: Sums,
    raw: Vec<u8>,
}

impl SeedPart {
    /// A row the copy wrote.
    pub fn row(&mut self, row: &dyn Row) {
        self.raw.clear();
        for &p in &self.prints.columns {
            push_raw(&mut self.raw, row.value(p));
        }
        // As a round sums them: never 0 for a row.
        let hash = hash_of(&self.raw) | 1;
        match self.prints.bucket {
            Some((key, width)) => match row.value(key) {
                ValueRef::Integer(k) => {
                    let sum = self.sums.buckets.entry(k.div_euclid(width)).or_default();
                    *sum = sum.wrapping_add(hash);
                }
                // A round stops at such a key; so does the record.
                _ => self.sums.spoiled = true,
            },
            None => self.sums.whole = self.sums.whole.wrapping_add(hash),
        }
    }

    /// A row the copy left out.
    pub fn left_out(&mut self) {
        self.sums.spoiled = true;
    }
}

/// Fingerprints of the rows of one chunk.
pub struct ChunkSeed<'a> {
    table: &'a TableSeed,
    part: SeedPart,
}

impl ChunkSeed<'_> {
    /// A row the copy wrote.
    pub fn row(&mut self, row: &dyn Row) {
        self.part.row(row);
    }

    /// A row the copy left out.
    pub fn left_out(&mut self) {
        self.part.left_out();
    }

    /// Rows of the chunk fingerprinted elsewhere (made on a reading thread).
    pub fn add(&mut self, part: SeedPart) {
        self.part.sums.add(part.sums);
    }

    /// The chunk is in the target: its sums join the table's.
    pub fn finish(self) {
        let mut table = self.table.sums.lock().unwrap_or_else(|e| e.into_inner());
        table.add(self.part.sums);
    }
}
