//! Per-table statistics, and autovacuum's own formula for when a table
//! needs VACUUM or ANALYZE, with the table's reloptions overriding the
//! server settings as autovacuum does (`relation_needs_vacanalyze`).

use postgres::Client;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct TableStats {
    /// Qualified and quoted as needed (`regclass` text).
    pub name: String,
    pub pages: f64,
    /// `pg_class.reltuples`; autovacuum counts an unknown (-1) as 0.
    pub reltuples: f64,
    pub live_tuples: f64,
    pub dead_tuples: f64,
    pub mod_since_analyze: f64,
    pub ins_since_vacuum: f64,
    pub seq_scan: f64,
    pub idx_scan: f64,
    pub seq_tup_read: f64,
    pub never_analyzed: bool,
    pub autovacuum_enabled: bool,
    pub vacuum_threshold: f64,
    pub vacuum_scale_factor: f64,
    pub insert_threshold: f64,
    pub insert_scale_factor: f64,
    pub analyze_threshold: f64,
    pub analyze_scale_factor: f64,
    /// 0.1 .. 1.0
    pub fillfactor: f64,
    /// Average row size plus tuple header and line pointer: from pg_stats,
    /// or from the column types when the table was never analyzed.
    pub tuple_bytes: f64,
    pub width_from_stats: bool,
}

/// Reads every user table of the current database.
pub fn read(client: &mut Client) -> Result<Vec<TableStats>> {
    let settings = client
        .query_one(
            "SELECT current_setting('autovacuum')::bool, \
                    current_setting('autovacuum_vacuum_threshold')::float8, \
                    current_setting('autovacuum_vacuum_scale_factor')::float8, \
                    current_setting('autovacuum_vacuum_insert_threshold')::float8, \
                    current_setting('autovacuum_vacuum_insert_scale_factor')::float8, \
                    current_setting('autovacuum_analyze_threshold')::float8, \
                    current_setting('autovacuum_analyze_scale_factor')::float8",
            &[],
        )
        .map_err(|e| Error::pg("reading autovacuum settings", &e))?;
    let rows = client
        .query(
            "SELECT s.relid::regclass::text, c.relpages::float8, c.reltuples::float8, \
                    s.n_live_tup::float8, s.n_dead_tup::float8, s.n_mod_since_analyze::float8, \
                    s.n_ins_since_vacuum::float8, s.seq_scan::float8, coalesce(s.idx_scan, 0)::float8, \
                    s.seq_tup_read::float8, \
                    s.last_analyze IS NULL AND s.last_autoanalyze IS NULL, \
                    coalesce(c.reloptions, '{}')::text[], \
                    (SELECT sum(st.avg_width)::float8 FROM pg_stats st \
                      WHERE st.schemaname = s.schemaname AND st.tablename = s.relname), \
                    (SELECT sum(CASE WHEN a.attlen > 0 THEN a.attlen ELSE 16 END)::float8 FROM pg_attribute a \
                      WHERE a.attrelid = s.relid AND a.attnum > 0 AND NOT a.attisdropped) \
             FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
             WHERE c.relkind IN ('r', 'm') \
             ORDER BY 1",
            &[],
        )
        .map_err(|e| Error::pg("reading table statistics", &e))?;
    let mut tables = Vec::new();
    for r in rows {
        let reloptions: Vec<String> = r.get(11);
        let option = |key: &str| -> Option<String> {
            reloptions
                .iter()
                .find_map(|o| o.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
        };
        let number = |key: &str, default: f64| option(key).and_then(|v| v.parse::<f64>().ok()).unwrap_or(default);
        // Never analyzed: fixed widths from the column types, 16 bytes for each variable one.
        let stats_width: Option<f64> = r.get(12);
        let type_width: Option<f64> = r.get(13);
        tables.push(TableStats {
            name: r.get(0),
            pages: r.get(1),
            reltuples: r.get::<_, f64>(2).max(0.0),
            live_tuples: r.get(3),
            dead_tuples: r.get(4),
            mod_since_analyze: r.get(5),
            ins_since_vacuum: r.get(6),
            seq_scan: r.get(7),
            idx_scan: r.get(8),
            seq_tup_read: r.get(9),
            never_analyzed: r.get(10),
            autovacuum_enabled: settings.get::<_, bool>(0)
                && option("autovacuum_enabled").is_none_or(|v| !matches!(v.as_str(), "false" | "off" | "0" | "no")),
            vacuum_threshold: number("autovacuum_vacuum_threshold", settings.get(1)),
            vacuum_scale_factor: number("autovacuum_vacuum_scale_factor", settings.get(2)),
            insert_threshold: number("autovacuum_vacuum_insert_threshold", settings.get(3)),
            insert_scale_factor: number("autovacuum_vacuum_insert_scale_factor", settings.get(4)),
            analyze_threshold: number("autovacuum_analyze_threshold", settings.get(5)),
            analyze_scale_factor: number("autovacuum_analyze_scale_factor", settings.get(6)),
            fillfactor: number("fillfactor", 100.0) / 100.0,
            tuple_bytes: stats_width.or(type_width).map_or(0.0, |w| w + 28.0),
            width_from_stats: stats_width.is_some(),
        });
    }
    Ok(tables)
}

impl TableStats {
    fn autovacuum_note(&self) -> &'static str {
        if self.autovacuum_enabled {
            ""
        } else {
            "; autovacuum is off for it, so nothing else will"
        }
    }

    /// Why autovacuum's formula says VACUUM, if it does: dead tuples past
    /// threshold + scale_factor × reltuples, or inserts past the insert
    /// threshold (which -1 turns off).
    pub fn vacuum_reason(&self) -> Option<String> {
        let dead_limit = self.vacuum_threshold + self.vacuum_scale_factor * self.reltuples;
        if self.dead_tuples > dead_limit {
            return Some(format!(
                "{:.0} dead tuples > autovacuum_vacuum_threshold {} + scale_factor {} × {:.0} rows = {dead_limit:.0}{}",
                self.dead_tuples,
                self.vacuum_threshold,
                self.vacuum_scale_factor,
                self.reltuples,
                self.autovacuum_note()
            ));
        }
        let insert_limit = self.insert_threshold + self.insert_scale_factor * self.reltuples;
        if self.insert_threshold >= 0.0 && self.ins_since_vacuum > insert_limit {
            return Some(format!(
                "{:.0} rows inserted since the last vacuum > autovacuum_vacuum_insert_threshold {} + scale_factor {} × \
                 {:.0} rows = {insert_limit:.0}{}",
                self.ins_since_vacuum,
                self.insert_threshold,
                self.insert_scale_factor,
                self.reltuples,
                self.autovacuum_note()
            ));
        }
        None
    }

    /// Why ANALYZE is due, if it is: never analyzed while holding rows, or
    /// changes past threshold + scale_factor × reltuples.
    pub fn analyze_reason(&self) -> Option<String> {
        if self.never_analyzed && (self.live_tuples > 0.0 || self.reltuples > 0.0 || self.mod_since_analyze > 0.0) {
            return Some(format!(
                "never analyzed, {:.0} rows: the planner guesses its statistics{}",
                self.live_tuples.max(self.reltuples),
                self.autovacuum_note()
            ));
        }
        let limit = self.analyze_threshold + self.analyze_scale_factor * self.reltuples;
        if self.mod_since_analyze > limit {
            return Some(format!(
                "{:.0} rows changed since the last analyze > autovacuum_analyze_threshold {} + scale_factor {} × \
                 {:.0} rows = {limit:.0}{}",
                self.mod_since_analyze,
                self.analyze_threshold,
                self.analyze_scale_factor,
                self.reltuples,
                self.autovacuum_note()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableStats {
        TableStats {
            name: "t".into(),
            pages: 10.0,
            reltuples: 10_000.0,
            live_tuples: 10_000.0,
            dead_tuples: 0.0,
            mod_since_analyze: 0.0,
            ins_since_vacuum: 0.0,
            seq_scan: 0.0,
            idx_scan: 0.0,
            seq_tup_read: 0.0,
            never_analyzed: false,
            autovacuum_enabled: true,
            vacuum_threshold: 50.0,
            vacuum_scale_factor: 0.2,
            insert_threshold: 1000.0,
            insert_scale_factor: 0.2,
            analyze_threshold: 50.0,
            analyze_scale_factor: 0.1,
            fillfactor: 1.0,
            tuple_bytes: 40.0,
            width_from_stats: true,
        }
    }

    #[test]
    fn autovacuum_formula() {
        let mut t = table();
        t.dead_tuples = 2050.0; // = 50 + 0.2 × 10000: not past it
        assert!(t.vacuum_reason().is_none());
        t.dead_tuples = 2051.0;
        assert!(t.vacuum_reason().unwrap().contains("2051 dead tuples"));
        // A per-table scale factor changes the limit.
        t.vacuum_scale_factor = 0.5;
        assert!(t.vacuum_reason().is_none());
        t.ins_since_vacuum = 3001.0;
        assert!(t.vacuum_reason().unwrap().contains("inserted"));
        t.insert_threshold = -1.0;
        assert!(t.vacuum_reason().is_none(), "-1 turns insert-triggered vacuum off");
    }

    #[test]
    fn analyze_formula() {
        let mut t = table();
        t.mod_since_analyze = 1050.0;
        assert!(t.analyze_reason().is_none());
        t.mod_since_analyze = 1051.0;
        assert!(t.analyze_reason().is_some());
        let mut fresh = table();
        fresh.never_analyzed = true;
        fresh.autovacuum_enabled = false;
        let why = fresh.analyze_reason().unwrap();
        assert!(
            why.contains("never analyzed") && why.contains("autovacuum is off"),
            "{why}"
        );
    }
}
