//! The migration lock: a session-level advisory lock on a dedicated
//! connection, taken by polling `pg_try_advisory_lock`.
//!
//! Polling rather than `pg_advisory_lock` matters: a runner blocked inside
//! `pg_advisory_lock` holds a snapshot, and `CREATE INDEX CONCURRENTLY` in
//! the runner that owns the lock waits for every older snapshot, so the two
//! wait for each other forever (Flyway #1654, golang-migrate #960). Between
//! polls a waiting runner holds nothing.

use std::time::{Duration, Instant};

use postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;

pub struct MigrationLock {
    client: Client,
    key: i64,
}

impl MigrationLock {
    /// Waits up to `timeout` for the lock. Ctrl-C stops the wait.
    pub fn acquire(spec: &ConnSpec, key: i64, timeout: Duration, out: &super::Output) -> Result<MigrationLock> {
        crate::postgres::pooler::refuse(
            spec,
            "migrate",
            "a session-level advisory lock that keeps two runners apart, held across migrations that \
             cannot run inside a transaction",
        )?;
        let mut client = spec.connect()?;
        let started = Instant::now();
        let mut announced = false;
        let mut pause = Duration::from_millis(20);
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map_err(|e| Error::pg("taking the migration lock", &e))?;
            if row.get::<_, bool>(0) {
                return Ok(MigrationLock { client, key });
            }
            if crate::report::interrupt::requested() {
                return Err(Error::Migrate(
                    "interrupted while waiting for the migration lock; nothing was applied".into(),
                ));
            }
            if started.elapsed() >= timeout {
                return Err(Error::Migrate(format!(
                    "another godwit runner held the migration lock for more than {}s; nothing was applied \
                     (raise --lock-timeout, or look for a stuck session in pg_locks where locktype = 'advisory')",
                    timeout.as_secs()
                )));
            }
            if !announced && started.elapsed() > Duration::from_secs(2) {
                out.note("waiting for another runner to release the migration lock…");
                announced = true;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        // Closing the session would release it too; unlocking explicitly
        // frees it at once even if the connection lingers.
        let _ = self.client.execute("SELECT pg_advisory_unlock($1)", &[&self.key]);
    }
}
