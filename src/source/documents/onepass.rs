//! One read for a copy of large JSON Lines and arrays: the model is first
//! learned from the start of each file (a provisional model, which the
//! copy stages rows with), and the whole file's facts are learned on the
//! reading threads as they make the rows. Once every row is staged the
//! whole facts give the real model; when its tables, columns and rows are
//! the provisional ones, the staged rows stand, else the copy stages them
//! again with the real model (as two reads would have).
//!
//! Only sources whose every collection is read in ranges on several
//! threads, and that hold at least [`MIN_RANGES`] ranges, are read so:
//! below that, learning first costs little (64 MiB learns in about half a
//! second), and a late change of type would cost a second staging for
//! next to nothing saved.

use std::sync::Mutex;

use super::DocumentOptions;
use super::infer::KindTally;
use super::lines::{Folding, Made, RangeMaker};
use super::normalize::{Collection, ColumnSource, Facts, LearnRange, Model};
use super::records::{self, Origin};
use super::shape::ObjectShape;
use crate::error::{Error, Result};
use crate::source::Flow;

/// Sources smaller than this many ranges are learned first, as before.
const MIN_RANGES: u64 = 64;

/// The provisional model is learned from about this many ranges of each
/// file (8 MiB with the default range size).
const PREFIX_RANGES: u64 = 8;

/// Whether these collections are worth reading once.
pub(super) fn worth_it(collections: &[Collection], options: &DocumentOptions) -> bool {
    let mut bytes = 0u64;
    for c in collections {
        let split = match &c.origin {
            Origin::Lines { split, .. } | Origin::Array { split, .. } => split,
            _ => return false,
        };
        if split.workers < 2 {
            return false;
        }
        bytes += std::fs::metadata(c.origin.path()).map_or(0, |m| m.len());
    }
    !collections.is_empty() && bytes >= MIN_RANGES.saturating_mul(options.range_bytes.max(1))
}

/// What was learned of the start of one collection.
pub(super) struct Prefix {
    pub facts: Facts,
    /// Records read (a limit for resolving references over the same ones).
    pub records: u64,
    /// How many times the whole file is larger than what was read: the
    /// provisional row counts are scaled by it (they only show progress).
    pub scale: u64,
}

/// Learns the first ranges of a collection read in ranges.
pub(super) fn learn_prefix(origin: &Origin, range_bytes: u64) -> Result<Prefix> {
    let keyed = origin.has_keys();
    let file = origin.path();
    let mut facts = Facts::new();
    let mut ranges = 0u64;
    let mut visited = 0u64;
    {
        let learned = std::cell::RefCell::new((&mut facts, &mut ranges, &mut visited));
        let fold = || Some(Box::new(LearnRange::new(file, keyed)) as Box<dyn RangeMaker>);
        let enough = |ranges: u64, visited: u64| ranges + visited / 1024 >= PREFIX_RANGES;
        let mut take = |made: Made| {
            let range = made
                .downcast::<Facts>()
                .map_err(|_| Error::Other("a range learned as something else".into()))?;
            let mut l = learned.borrow_mut();
            l.0.merge(*range);
            *l.1 += 1;
            Ok(if enough(*l.1, *l.2) { Flow::Stop } else { Flow::Continue })
        };
        let folding = Folding {
            fold: &fold,
            take: &mut take,
        };
        records::each_folded(origin, Some(folding), &mut |rec| {
            let mut l = learned.borrow_mut();
            l.0.add(rec, keyed);
            *l.2 += 1;
            Ok(if enough(*l.1, *l.2) { Flow::Stop } else { Flow::Continue })
        })?;
    }
    let size = std::fs::metadata(file).map_or(0, |m| m.len());
    let read = (ranges + visited / 1024).max(1).saturating_mul(range_bytes.max(1));
    Ok(Prefix {
        records: facts.records,
        facts,
        scale: (size / read).max(1),
    })
}

/// Integers this far above zero, none below it, at the start of a file,
/// are taken to be on their way past 64 bits (counters near the limit,
/// unsigned 64-bit ids): the provisional model stages them as numeric,
/// and the whole model says whether they got there (if not, the rows are
/// staged again). Ids, nanosecond timestamps and snowflake ids stay well
/// below; signed 64-bit hashes, which reach as far but never past, have
/// negative values too and stay bigint.
const NEAR_THE_LIMIT: i64 = 1 << 62;

/// Leans the provisional kinds of integers near the 64-bit limit to
/// exact numeric, which holds them either way (see [`NEAR_THE_LIMIT`]).
pub(super) fn lean_to_numeric(shape: &mut ObjectShape) {
    fn tally(t: &mut KindTally) {
        if t.integers > 0 && t.decimals == 0 && t.int_min >= 0 && t.int_max >= NEAR_THE_LIMIT {
            t.decimals = 1;
        }
    }
    for field in &mut shape.fields {
        tally(&mut field.scalars);
        if let Some(object) = field.object.as_deref_mut() {
            lean_to_numeric(object);
        }
        if let Some(elements) = field.elements.as_deref_mut() {
            tally(&mut elements.scalars);
            lean_to_numeric(&mut elements.objects);
        }
    }
}

/// The table whose staging scan learns each collection: its first table,
/// when that is scanned in ranges (a table numbered by position is not).
/// None when some collection has none such: no provisional model then.
pub(super) fn learners(model: &Model) -> Option<Vec<usize>> {
    model
        .collections
        .iter()
        .enumerate()
        .map(|(c, collection)| {
            if collection.whole_values || !records::read_in_ranges(&collection.origin) {
                return None;
            }
            let t = model.tables.iter().position(|t| t.collection == c)?;
            let by_position = model.tables[t]
                .columns
                .iter()
                .any(|col| matches!(col.source, ColumnSource::Position));
            (!by_position).then_some(t)
        })
        .collect()
}

/// What a copy staging with a provisional model learns as it goes.
pub(super) struct Learning {
    /// The collections as discovered, and what discovery skipped: the
    /// whole model is built from them again.
    pub collections: Vec<Collection>,
    pub skipped: Vec<String>,
    /// Per collection, the table whose staging scan learns it.
    learners: Vec<usize>,
    /// Per collection, its facts once its learner's scan read it whole.
    facts: Mutex<Vec<Option<Facts>>>,
}

impl Learning {
    pub fn new(collections: Vec<Collection>, skipped: Vec<String>, learners: Vec<usize>) -> Learning {
        let facts = Mutex::new(learners.iter().map(|_| None).collect());
        Learning {
            collections,
            skipped,
            learners,
            facts,
        }
    }

    /// The collection the scan of this table learns, if it is its learner.
    pub fn learned_by(&self, table: usize) -> Option<usize> {
        self.learners.iter().position(|&t| t == table)
    }

    /// Keeps the facts of a whole collection, read to its end.
    pub fn keep(&self, collection: usize, facts: Facts) {
        let mut slots = self.facts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get_mut(collection) {
            *slot = Some(facts);
        }
    }

    /// Every collection's facts: those the scans learned, the others
    /// (and any whose records turned out mixed) learned now.
    pub fn whole_facts(&self) -> Result<Vec<Facts>> {
        let slots = std::mem::take(&mut *self.facts.lock().unwrap_or_else(|p| p.into_inner()));
        let slots = slots.into_iter().chain(std::iter::repeat_with(|| None));
        self.collections
            .iter()
            .zip(slots)
            .map(|(c, facts)| match facts {
                Some(f) if !(f.not_objects > 0 && f.not_objects < f.records) => Ok(f),
                _ => super::normalize::learn(&c.origin),
            })
            .collect()
    }
}

/// Whether two models make the same rows into the same tables: the
/// same tables of the same collections, with the same columns taken from
/// the same places as the same kinds (keys, relations, counts and the
/// words of the evidence may differ: they are decided after staging).
pub(super) fn stage_alike(a: &Model, b: &Model) -> bool {
    let collections = a.collections.len() == b.collections.len()
        && a.collections
            .iter()
            .zip(&b.collections)
            .all(|(x, y)| x.name == y.name && x.whole_values == y.whole_values);
    let tables = a.tables.len() == b.tables.len()
        && a.tables.iter().zip(&b.tables).all(|(x, y)| {
            x.name == y.name
                && x.collection == y.collection
                && x.arrays == y.arrays
                && x.columns.len() == y.columns.len()
                && x.columns.iter().zip(&y.columns).all(|(p, q)| {
                    p.name == q.name
                        && p.source == q.source
                        && p.inferred.kind == q.inferred.kind
                        && p.not_null == q.not_null
                })
        });
    collections && tables && a.repeated_keys == b.repeated_keys
}
