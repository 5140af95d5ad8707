//! `workload --read-replica URL`: the read-only classes also run on a hot
//! standby, and its lag is sampled while they do, so the report shows what
//! moving reads to a replica costs in latency and in staleness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;

/// The replica's lag over the levels that ran on it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LagSummary {
    pub samples: usize,
    /// Replay behind receive, in time (0 when caught up).
    pub max_seconds: f64,
    /// WAL received and not yet replayed.
    pub max_bytes: f64,
}

/// Refuses a URL that is not a standby: the comparison would mean nothing.
pub fn check_standby(spec: &ConnSpec) -> Result<()> {
    let mut client = spec.connect()?;
    let row = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .map_err(|e| Error::pg("asking the read replica whether it is a standby", &e))?;
    if !row.get::<_, bool>(0) {
        return Err(Error::Usage(format!(
            "--read-replica {spec} is not a standby (pg_is_in_recovery() is false); give a hot standby's URL, \
             e.g. `godwit local url --replica 1`"
        )));
    }
    Ok(())
}

/// Samples the standby's lag twice a second until stopped.
pub struct LagSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<LagSummary>,
}

const LAG_SQL: &str = "SELECT CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 \
     ELSE extract(epoch FROM now() - coalesce(pg_last_xact_replay_timestamp(), pg_postmaster_start_time())) END::float8, \
     coalesce(greatest(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::float8";

impl LagSampler {
    pub fn start(spec: &ConnSpec) -> Result<LagSampler> {
        let mut client = spec.connect()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut summary = LagSummary::default();
            while !flag.load(Ordering::Relaxed) {
                if let Ok(row) = client.query_one(LAG_SQL, &[]) {
                    let (seconds, bytes): (f64, f64) = (row.get(0), row.get(1));
                    summary.samples += 1;
                    summary.max_seconds = summary.max_seconds.max(seconds);
                    summary.max_bytes = summary.max_bytes.max(bytes);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            summary
        });
        Ok(LagSampler { stop, handle })
    }

    pub fn finish(self) -> LagSummary {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Folds one level's samples into the run's.
pub fn merge(total: &mut LagSummary, level: &LagSummary) {
    total.samples += level.samples;
    total.max_seconds = total.max_seconds.max(level.max_seconds);
    total.max_bytes = total.max_bytes.max(level.max_bytes);
}
