//! Latency histograms (HdrHistogram, mergeable across clients) and the
//! figures the report gives per class, engine and level.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies in microseconds, up to ten minutes, to 2 significant digits
/// (1% resolution keeps a histogram ~11 kB, so 100 clients × many classes
/// stay small).
pub fn histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 600_000_000, 2)
        .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| unreachable!()))
}

/// What one class did on one engine at one level.
#[derive(Debug, Clone)]
pub struct Tally {
    pub latency: Histogram<u32>,
    pub errors: u64,
    /// SQLite's single writer: "database is locked" / busy.
    pub busy: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            latency: histogram(),
            errors: 0,
            busy: 0,
            first_error: None,
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        let _ = self.latency.add(&other.latency);
        self.errors += other.errors;
        self.busy += other.busy;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

/// The figures of one class, engine and level, as `--json` gives them.
#[derive(Debug, Clone, Serialize)]
pub struct LevelStats {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub qps: f64,
    pub errors: u64,
    pub executions: u64,
    /// Of the errors, how many were SQLite's busy/locked.
    pub busy: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

fn ms(us: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // microseconds below 2^53
    let x = us as f64 / 1000.0;
    (x * 1000.0).round() / 1000.0
}

impl LevelStats {
    pub fn of(tally: &Tally, seconds: f64) -> LevelStats {
        let h = &tally.latency;
        let n = h.len();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^53
        let qps = if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
        let q = |p: f64| if n == 0 { 0.0 } else { ms(h.value_at_quantile(p)) };
        LevelStats {
            p50_ms: q(0.50),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: if n == 0 { 0.0 } else { ms(h.max()) },
            qps: (qps * 10.0).round() / 10.0,
            errors: tally.errors,
            executions: n,
            busy: tally.busy,
            first_error: tally.first_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_tallies_give_percentiles_and_rate() {
        let mut a = Tally::new();
        let mut b = Tally::new();
        for us in 1..=900u64 {
            a.latency.saturating_record(us * 10);
        }
        for us in 901..=1000u64 {
            b.latency.saturating_record(us * 10);
        }
        b.errors = 2;
        b.busy = 1;
        a.merge(&b);
        let s = LevelStats::of(&a, 2.0);
        assert_eq!(s.executions, 1000);
        assert_eq!(s.qps, 500.0);
        assert_eq!((s.errors, s.busy), (2, 1));
        // 1% resolution: p50 is 5 ms, p95 9.5 ms, max 10 ms, within it.
        assert!((s.p50_ms - 5.0).abs() <= 0.05, "{s:?}");
        assert!((s.p95_ms - 9.5).abs() <= 0.1, "{s:?}");
        assert!((s.max_ms - 10.0).abs() <= 0.1, "{s:?}");
    }
}
