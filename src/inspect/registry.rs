//! Every kind of finding, one row each: its name, the pass that finds it,
//! and the rule and suggestion the docs table shows. `inspect`'s dispatch,
//! `--kind` checking, `inspect --help` and the kinds table of
//! docs/operations.md all read this list: a new kind is one row here and
//! one function in [`super`].
//!
//! The order of the rows is the order findings are reported in.

use postgres::Client;

use super::{InspectOptions, InspectReport};
use crate::error::Result;
use crate::inspect::tables::TableStats;

/// What every pass may read besides the session.
pub struct Scan<'a> {
    pub options: &'a InspectOptions,
    /// Per-table statistics, read once for the passes that share them.
    pub stats: &'a [TableStats],
    /// Whether pgstattuple is installed: exact figures instead of estimates.
    pub pgstattuple: bool,
}

/// A pass: adds its findings (and notes) to the report.
pub type Pass = fn(&mut Client, &Scan, &mut InspectReport) -> Result<()>;

pub enum Find {
    Pass(Pass),
    /// Found by the named kind's pass, which looks at the same rows once
    /// and runs when either kind is wanted.
    With(&'static str),
}

pub struct Kind {
    pub name: &'static str,
    pub find: Find,
    /// The docs table's "rule" cell (Markdown).
    pub rule: &'static str,
    /// The docs table's "suggestion" cell (Markdown).
    pub suggestion: &'static str,
}

/// Every kind, in the order they are reported.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "slow_query",
        find: Find::Pass(super::slow_queries),
        rule: "statements of this database in `pg_stat_statements` whose mean time is at least `--slow-query` \
               (100 ms), costliest in total first, with mean and total time, calls and rows",
        suggestion: "`EXPLAIN (ANALYZE, BUFFERS) ...`",
    },
    Kind {
        name: "duplicate_index",
        find: Find::Pass(super::duplicate_indexes),
        rule: "a valid index whose key columns (same operator classes, no expressions, same predicate, same access \
               method) lead another index of the same table; a unique index only duplicates an identical unique \
               index, and an index behind a constraint is never the one to drop",
        suggestion: "`DROP INDEX CONCURRENTLY ...`",
    },
    Kind {
        name: "unused_index",
        find: Find::Pass(super::unused_indexes),
        rule: "no scan since statistics began, on a table that has been read, and never a primary-key, unique, \
               constraint or invalid index; only when statistics are old enough (below)",
        suggestion: "`DROP INDEX CONCURRENTLY ...`",
    },
    Kind {
        name: "missing_fk_index",
        find: Find::Pass(super::missing_fk_indexes),
        rule: "a foreign key whose columns no valid, non-partial index leads with (in any order)",
        suggestion: "`CREATE INDEX CONCURRENTLY ON t (cols)`",
    },
    Kind {
        name: "dead_tuples",
        find: Find::Pass(super::dead_tuples_and_bloat),
        rule: "dead tuples at least 20% of the table and at least 1,000",
        suggestion: "`VACUUM (ANALYZE, VERBOSE) ...`",
    },
    Kind {
        name: "bloat",
        find: Find::With("dead_tuples"),
        rule: "a table of 1 MB or more at least half made of space its live rows do not use; a btree index of 1 MB \
               or more whose leaves are less than half full (pgstattuple only)",
        suggestion: "`VACUUM`, or `REINDEX INDEX CONCURRENTLY` for indexes",
    },
    Kind {
        name: "vacuum_needed",
        find: Find::Pass(super::vacuum_and_analyze),
        rule: "autovacuum's own formula: dead tuples > `autovacuum_vacuum_threshold` + \
               `autovacuum_vacuum_scale_factor` × reltuples, or inserts since the last vacuum > the insert \
               threshold and scale factor; per-table reloptions override the server settings, and \
               `autovacuum_enabled = false` is named",
        suggestion: "`VACUUM (ANALYZE, VERBOSE) ...`",
    },
    Kind {
        name: "analyze_needed",
        find: Find::With("vacuum_needed"),
        rule: "never analyzed while holding rows, or rows changed since the last analyze > \
               `autovacuum_analyze_threshold` + `autovacuum_analyze_scale_factor` × reltuples (reloptions honoured)",
        suggestion: "`ANALYZE ...`",
    },
    Kind {
        name: "seq_scans",
        find: Find::Pass(super::seq_scans),
        rule: "tables of 10,000 rows or more read more often by sequential than by index scans, reading 1,000 rows \
               or more per scan",
        suggestion: "a `pg_stat_statements` query to find the statements",
    },
    Kind {
        name: "setting",
        find: Find::Pass(super::settings),
        rule: "`autovacuum` or `track_counts` off, `shared_buffers` at the 128 MB default, `random_page_cost` at 4 \
               (spinning disks)",
        suggestion: "the `ALTER SYSTEM` to run",
    },
    Kind {
        name: "security",
        find: Find::Pass(super::security::findings),
        rule: "each security rule of `health` (docs/security.md), one finding per offending object; a rule the \
               role may not run is a note naming the privilege",
        suggestion: "the statement or configuration line that fixes it",
    },
];

pub fn known(name: &str) -> bool {
    KINDS.iter().any(|k| k.name == name)
}

pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// Whether a pass-owning kind's pass runs: it or a kind found with it is wanted.
pub fn pass_wanted(kind: &Kind, options: &InspectOptions) -> bool {
    options.wants(kind.name)
        || KINDS
            .iter()
            .any(|other| matches!(other.find, Find::With(owner) if owner == kind.name) && options.wants(other.name))
}

/// The kinds table of docs/operations.md.
pub fn docs_table() -> String {
    let mut out = String::from("| kind | rule | suggestion |\n|---|---|---|\n");
    for k in KINDS {
        out.push_str(&format!("| `{}` | {} | {} |\n", k.name, k.rule, k.suggestion));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_passes_name_an_earlier_kind_with_a_pass() {
        for (i, k) in KINDS.iter().enumerate() {
            if let Find::With(owner) = k.find {
                let at = KINDS.iter().position(|o| o.name == owner).expect("owner is a kind");
                assert!(at < i, "{} is found with a later kind", k.name);
                assert!(matches!(KINDS[at].find, Find::Pass(_)), "{owner} has no pass");
            }
        }
    }
}
