//! Restoring a backup and proving the result against its manifest.
//!
//! A restore never writes into the target database. It restores into a new
//! database `<target>_godwit_restore_<attempt>`, proves it (every table's row
//! count and fingerprint), and only then swaps names in one short
//! transaction: the old target is renamed away and the new one takes its
//! name (`ALTER DATABASE ... RENAME` is transactional). A restore killed at
//! any point before that commit leaves the target exactly as it was; the old
//! database is dropped only after the swap committed.
//!
//! Scratch names are unique per attempt, and each run holds a session
//! advisory lock named after each of its scratch databases on its
//! maintenance connection ([`ScratchLocks`]). The lock goes with the
//! session when a run dies, so the next run (or `restore --cleanup`) tells
//! a leftover (lock free: dropped WITH (FORCE)) from a run still going
//! (lock held: left alone).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use postgres::Client;

use crate::backup::RestoreOptions;
use crate::backup::database;
use crate::backup::dump::{self, LibpqEnv, Tool};
use crate::backup::fingerprint;
use crate::backup::manifest::Manifest;
use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident, quote_literal};
use crate::report::{Event, Progress, Reporter};

/// PostgreSQL truncates names at 63 bytes.
const MAX_NAME: usize = 63;

/// A database on `server` under a scratch name. Dropped on drop unless
/// kept, so a failed or interrupted run leaves nothing behind.
pub struct ScratchDb {
    server: ConnSpec,
    pub name: String,
    keep: bool,
}

impl ScratchDb {
    pub fn spec(&self) -> ConnSpec {
        self.server.with_dbname(&self.name)
    }

    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl ScratchDb {
    /// Drops the scratch database now, saying so when that fails (it is
    /// then left for the next run or `restore --cleanup`).
    pub fn discard(mut self, reporter: &Reporter) {
        self.keep = true;
        if let Err(e) = drop_scratch(&self.server, &self.name) {
            reporter.emit(Event::Warning(format!(
                "could not drop the scratch database {} ({e}); `godwit restore --cleanup` removes it",
                self.name
            )));
        }
    }
}

impl Drop for ScratchDb {
    /// The path of an error or an interrupt: best effort. A database left
    /// here is found by the next run's cleanup, because its lock is gone.
    fn drop(&mut self) {
        if !self.keep {
            let _ = drop_scratch(&self.server, &self.name);
        }
    }
}

/// Pauses between attempts to drop a scratch database.
const DROP_RETRIES: [Duration; 4] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Drops a scratch database, trying again a few times: `WITH (FORCE)` ends
/// the sessions on it but gives up when they take more than 5 seconds to
/// exit (a busy server), and a server at its connection limit refuses the
/// maintenance session for a moment.
fn drop_scratch(server: &ConnSpec, name: &str) -> Result<()> {
    let attempt = || maintenance_connection(server, name).and_then(|mut c| drop_database(&mut c, name, true));
    let mut outcome = attempt();
    for pause in DROP_RETRIES {
        if outcome.is_ok() {
            break;
        }
        std::thread::sleep(pause);
        outcome = attempt();
    }
    outcome
}

/// The advisory lock key that marks a scratch database as in use.
fn lock_key(name: &str) -> String {
    format!("godwit scratch database {name}")
}

/// A maintenance session holding the advisory locks on a run's scratch
/// names for as long as the run lives (see the module comment).
pub struct ScratchLocks {
    _client: Client,
}

impl ScratchLocks {
    /// Locks `names` on the maintenance database used for `avoid`'s server.
    /// When `avoid` is `postgres` that would be template1, and a session
    /// held there for a whole restore makes every other CREATE DATABASE on
    /// the server fail ("template1 is being accessed by other users"). The
    /// locks are then held on the target itself: the swap ends that session
    /// with the others on the target, when the names need no guard anymore.
    pub fn acquire(server: &ConnSpec, avoid: &str, names: &[&str]) -> Result<ScratchLocks> {
        let on_target = (avoid == "postgres")
            .then(|| server.with_dbname(avoid).connect().ok())
            .flatten();
        let mut client = match on_target {
            Some(client) => client,
            None => maintenance_connection(server, avoid)?,
        };
        for name in names {
            client
                .query_one("SELECT pg_advisory_lock(hashtext($1))", &[&lock_key(name)])
                .map_err(|e| Error::pg(format!("locking the scratch name {name}"), &e))?;
        }
        Ok(ScratchLocks { _client: client })
    }
}

/// A unique suffix for one attempt: the time to the millisecond and the
/// process id, so a rerun never meets the name of a killed attempt.
/// Always [`ATTEMPT_LEN`] characters, so that every attempt's name for one
/// target has the same prefix after cutting to PostgreSQL's name length.
pub fn attempt_suffix() -> String {
    let pid = std::process::id() % 10_000_000;
    format!("{}p{pid:07}", chrono::Utc::now().format("%Y%m%dt%H%M%S%3f"))
}

/// The length of [`attempt_suffix`]: `20261206t061800123p0012345`.
pub const ATTEMPT_LEN: usize = 26;

/// The scratch database `<base>_<kind>_<attempt>` and the prefix that every
/// attempt's name of that kind shares (for finding leftovers).
pub fn scratch_names(base: &str, kind: &str, attempt: &str) -> (String, String) {
    let name = scratch_name(base, &format!("{kind}_{attempt}"));
    let prefix = name[..name.len() - attempt.len()].to_string();
    (name, prefix)
}

/// A connection to the server on a database other than `avoid` (`postgres`,
/// else `template1`), for CREATE/ALTER/DROP DATABASE.
pub fn maintenance_connection(server: &ConnSpec, avoid: &str) -> Result<Client> {
    let db = if avoid == "postgres" { "template1" } else { "postgres" };
    match server.with_dbname(db).connect() {
        Ok(client) => Ok(client),
        // Some managed servers have no `postgres` database: try the one given.
        Err(_) if server.dbname != avoid => server.connect(),
        Err(e) => Err(e),
    }
}

/// Drops a database; `force` ends its sessions first (PostgreSQL 13+; on
/// older servers a plain DROP is tried).
pub fn drop_database(client: &mut Client, name: &str, force: bool) -> Result<()> {
    let plain = format!("DROP DATABASE IF EXISTS {}", quote_ident(name));
    let outcome = if force {
        client
            .batch_execute(&format!("{plain} WITH (FORCE)"))
            .or_else(|e| match e.code() {
                Some(&postgres::error::SqlState::SYNTAX_ERROR) => client.batch_execute(&plain),
                _ => Err(e),
            })
    } else {
        client.batch_execute(&plain)
    };
    outcome.map_err(|e| Error::pg(format!("dropping database {name}"), &e))
}

/// `<base>_<suffix>` cut to PostgreSQL's name length on a char boundary.
pub fn scratch_name(base: &str, suffix: &str) -> String {
    let room = MAX_NAME.saturating_sub(suffix.len() + 1);
    let mut cut = base.len().min(room);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{suffix}", &base[..cut])
}

/// What a cleanup of leftover scratch databases did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Cleanup {
    pub dropped: Vec<String>,
    /// Held by a run still going: left alone.
    pub in_use: Vec<String>,
    /// Could not be dropped, with the reason.
    pub failed: Vec<String>,
}

impl Cleanup {
    pub fn absorb(&mut self, other: Cleanup) {
        self.dropped.extend(other.dropped);
        self.in_use.extend(other.in_use);
        self.failed.extend(other.failed);
    }
}

/// Drops databases left by killed runs: names starting with `prefix` whose
/// advisory lock is free. `client` must be the maintenance connection the
/// runs lock on ([`ScratchLocks::acquire`] with the same `avoid`). Sessions
/// still on a leftover (an orphaned pg_restore) are ended by FORCE.
/// Failures are reported, never swallowed.
pub fn drop_abandoned(client: &mut Client, prefix: &str, reporter: &Reporter) -> Result<Cleanup> {
    let rows = client
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
            &[&prefix],
        )
        .map_err(|e| Error::pg("listing leftover scratch databases", &e))?;
    let mut cleanup = Cleanup::default();
    for row in rows {
        let name: String = row.get(0);
        let key = lock_key(&name);
        // Advisory locks belong to one database, and a run whose target is
        // `postgres` holds its locks on template1: so first look for the
        // lock in every database (pg_locks shows them all), then take it
        // here so that no other cleanup drops the same name meanwhile.
        let held_anywhere: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks, (SELECT hashtext($1)::bigint AS k) key                   WHERE locktype = 'advisory' AND objsubid = 1 AND granted                     AND classid::bigint = ((key.k >> 32) & 4294967295) AND objid::bigint = (key.k & 4294967295))",
                &[&key],
            )
            .map_err(|e| Error::pg(format!("checking whether {name} is in use"), &e))?
            .get(0);
        let free: bool = !held_anywhere
            && client
                .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&key])
                .map_err(|e| Error::pg(format!("checking whether {name} is in use"), &e))?
                .get(0);
        if !free {
            reporter.emit(Event::Info(format!("{name} belongs to a run still going; left alone")));
            cleanup.in_use.push(name);
            continue;
        }
        let dropped = drop_database(client, &name, true);
        let _ = client.query_one("SELECT pg_advisory_unlock(hashtext($1))", &[&key]);
        match dropped {
            Ok(()) => {
                reporter.emit(Event::Info(format!("dropped {name}, left by an interrupted run")));
                cleanup.dropped.push(name);
            }
            Err(e) => {
                reporter.emit(Event::Warning(format!(
                    "could not drop {name}, left by an interrupted run: {e}"
                )));
                cleanup.failed.push(format!("{name}: {e}"));
            }
        }
    }
    Ok(cleanup)
}

/// Creates `name` like the backed-up database (encoding, locale), with the
/// owner and tablespace of the database it will replace (`like`), and runs
/// pg_restore into it.
pub fn restore_into(
    options: &RestoreOptions,
    name: &str,
    like: Option<&database::DatabaseProperties>,
    manifest: &Manifest,
    dir: &Path,
    pg_restore: &Tool,
    reporter: &Reporter,
) -> Result<ScratchDb> {
    let server = &options.target;
    let jobs = options.jobs;
    let mut client = maintenance_connection(server, name)?;
    let server_num: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .map_err(|e| Error::pg("reading the server version", &e))?
        .get(0);
    let server_major = server_num.parse::<u32>().unwrap_or(0) / 10000;
    let mut sql = format!(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        quote_ident(name),
        quote_literal(&manifest.encoding),
        quote_literal(&manifest.lc_collate),
        quote_literal(&manifest.lc_ctype)
    );
    if let Some(icu) = &manifest.icu_locale {
        sql.push_str(&format!(" LOCALE_PROVIDER icu ICU_LOCALE {}", quote_literal(icu)));
    }
    if let Some(like) = like {
        sql.push_str(&format!(" OWNER {}", quote_ident(&like.owner)));
        // In the replaced database's tablespace: the restored one takes its place.
        sql.push_str(&format!(" TABLESPACE {}", quote_ident(&like.tablespace)));
    }
    client
        .batch_execute(&sql)
        .map_err(|e| Error::pg(format!("creating database {name}"), &e))?;
    let scratch = ScratchDb {
        server: server.clone(),
        name: name.to_string(),
        keep: false,
    };
    drop(client);
    if manifest.partial {
        create_schemas(&scratch, manifest)?;
    }
    reporter.emit(Event::Phase(format!(
        "restoring into {name} with pg_restore {} ({}) -j {jobs}",
        pg_restore.number(),
        pg_restore.path.display()
    )));
    let mut env = LibpqEnv::new(&scratch.spec())?;
    env.check_client_connection(server_major);
    let mut command = Command::new(&pg_restore.path);
    command
        .arg("--format=directory")
        .arg("--verbose")
        .arg(format!("--jobs={jobs}"))
        .arg("--exit-on-error")
        .arg(format!("--dbname={name}"));
    if options.no_owner {
        command.args(["--no-owner", "--no-privileges"]);
    }
    command.arg(dir);
    env.apply(&mut command);
    let restored = dump::run_watching(
        command,
        "pg_restore",
        &super::progress::restore_watcher(manifest.tables.len(), reporter),
    );
    reporter.emit(Event::ProgressDone("restore".into()));
    if let Err(e) = restored {
        scratch.discard(reporter);
        return Err(e);
    }
    Ok(scratch)
}

/// The schemas a partial backup's tables live in (its dump holds the
/// tables only), in a database created empty for it.
fn create_schemas(scratch: &ScratchDb, manifest: &Manifest) -> Result<()> {
    let mut client = scratch.spec().connect()?;
    let schemas: std::collections::BTreeSet<&str> = manifest.tables.iter().map(|t| t.schema.as_str()).collect();
    for schema in schemas {
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)))
            .map_err(|e| Error::pg(format!("creating schema {schema} for the restore"), &e))?;
    }
    Ok(())
}

/// Compares a restored database with the manifest: the same tables, and
/// in each the same row count and fingerprint. Returns the differences.
pub fn prove(spec: &ConnSpec, manifest: &Manifest, jobs: usize, reporter: &Reporter) -> Result<Vec<String>> {
    if manifest.fingerprint_method != fingerprint::METHOD {
        return Err(Error::Backup(format!(
            "backup {} was fingerprinted as \"{}\", which this godwit does not compute; use the godwit \
             version that made it ({})",
            manifest.id, manifest.fingerprint_method, manifest.godwit_version
        )));
    }
    let mut client = fingerprint::open_session(spec, None)?;
    let found = fingerprint::list_tables(&mut client)?;
    drop(client);
    let mut differences = Vec::new();
    for table in &found {
        if !manifest
            .tables
            .iter()
            .any(|t| t.schema == table.schema && t.name == table.name)
        {
            differences.push(format!(
                "table {}.{}: restored, but not in the backup",
                table.schema, table.name
            ));
        }
    }
    let total = u64::try_from(found.len()).ok();
    let proven = std::sync::atomic::AtomicU64::new(0);
    let restored = fingerprint::fingerprint_tables_watched(
        spec,
        &found,
        jobs,
        None,
        &fingerprint::Canceller::default(),
        &|entry| {
            let done = proven.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
            reporter.emit(Event::Progress(Progress::new(
                "proof",
                done,
                total,
                "tables",
                entry.qualified(),
            )));
        },
    );
    reporter.emit(Event::ProgressDone("proof".into()));
    let restored = restored?;
    for expected in &manifest.tables {
        match restored
            .iter()
            .find(|t| t.schema == expected.schema && t.name == expected.name)
        {
            None => differences.push(format!(
                "table {}: in the backup, missing after restore",
                expected.qualified()
            )),
            Some(got) if got.rows != expected.rows => differences.push(format!(
                "table {}: {} rows in the backup, {} after restore",
                expected.qualified(),
                expected.rows,
                got.rows
            )),
            Some(got) if got.fingerprint != expected.fingerprint => differences.push(format!(
                "table {}: same {} rows, but the content fingerprint differs",
                expected.qualified(),
                expected.rows
            )),
            Some(_) => {}
        }
    }
    Ok(differences)
}

/// How many tables a database holds outside the system schemas; None when
/// it does not exist.
pub fn table_count(server: &ConnSpec, name: &str) -> Result<Option<i64>> {
    let mut client = maintenance_connection(server, name)?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(|e| Error::pg("looking for the target database", &e))?
        .is_some();
    drop(client);
    if !exists {
        return Ok(None);
    }
    let mut target = server.with_dbname(name).connect()?;
    let row = target
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p')
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%'",
            &[],
        )
        .map_err(|e| Error::pg(format!("counting tables in {name}"), &e))?;
    Ok(Some(row.get(0)))
}

/// Applies `properties` (read from `target`) to the restored database and
/// proves they arrived: reads both back and fails, before any swap, on a
/// difference (the target then is untouched).
pub fn carry_properties(
    server: &ConnSpec,
    target: &str,
    restored: &str,
    properties: &database::DatabaseProperties,
) -> Result<()> {
    let mut client = maintenance_connection(server, target)?;
    database::apply(&mut client, restored, properties)?;
    // Compared with the target as it is now, in case it changed meanwhile.
    let now = database::read(&mut client, target)?.unwrap_or_else(|| properties.clone());
    let got = database::read(&mut client, restored)?
        .ok_or_else(|| Error::Backup(format!("the restored database {restored} disappeared")))?;
    let differences = database::differences(&now, &got);
    if differences.is_empty() {
        return Ok(());
    }
    Err(Error::Backup(format!(
        "the restored database would not have what {target} has: {}; nothing was swapped, {target} is unchanged",
        differences.join("; ")
    )))
}

/// Puts `restored` in the place of `target` in one transaction; the old
/// target (if any) is renamed to `old` and dropped after the commit.
/// Sessions on the old target are ended first; a session that reconnects
/// in between makes the rename fail, and the swap is retried.
pub fn swap(server: &ConnSpec, target: &str, scratch: ScratchDb, old: &str, reporter: &Reporter) -> Result<()> {
    let mut client = maintenance_connection(server, target)?;
    let target_exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&target])
        .map_err(|e| Error::pg("looking for the target database", &e))?
        .is_some();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = (|| -> std::result::Result<(), postgres::Error> {
            let mut tx = client.transaction()?;
            if target_exists {
                tx.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&target],
                )?;
                tx.batch_execute(&format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(target),
                    quote_ident(old)
                ))?;
            }
            tx.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(&scratch.name),
                quote_ident(target)
            ))?;
            tx.commit()
        })();
        match outcome {
            Ok(()) => break,
            Err(e) if attempt < 5 => {
                reporter.emit(Event::Info(format!(
                    "swap attempt {attempt} failed ({}); retrying",
                    crate::postgres::conn::describe_pg_error(&e)
                )));
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(Error::pg(format!("swapping {} into {target}", scratch.name), &e)),
        }
    }
    // The scratch database now is the target: never drop it.
    scratch.keep();
    if target_exists && let Err(e) = drop_database(&mut client, old, true) {
        reporter.emit(Event::Warning(format!(
            "{target} is restored, but the database it replaced, now {old}, could not be dropped ({e}); \
             `godwit restore --cleanup` removes it"
        )));
    }
    Ok(())
}
