//! `godwit backup`, `backup list|prune|verify` and `restore`: real
//! `pg_dump -Fd` backups that carry a manifest able to prove a restore.
//!
//! - [`manifest`]: what `manifest.json` holds;
//! - [`store`]: a directory or an S3 bucket, behind one type;
//! - [`dump`]: finding and running pg_dump / pg_restore;
//! - [`fingerprint`]: row counts and content fingerprints;
//! - [`retention`]: which backups `prune` keeps;
//! - [`restore`]: restoring into a scratch database, proving, swapping.
//!
//! See docs/backup.md.

pub mod database;
pub mod dump;
pub mod fingerprint;
pub mod manifest;
mod progress;
pub mod restore;
pub mod retention;
pub mod store;

use std::process::Command;
use std::time::Instant;

use chrono::Utc;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;
use crate::report::{Event, Reporter};
use manifest::{MANIFEST, Manifest, VERIFIED, Verified};
use retention::Policy;
use store::Store;

/// Settings for `godwit backup`.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// The database to back up.
    pub source: ConnSpec,
    /// A directory or `s3://bucket/prefix`.
    pub location: String,
    pub jobs: usize,
    /// zstd, lz4, gzip or none; None picks the best the pg_dump found offers.
    pub compress: Option<String>,
    /// Applied after a successful backup when not empty.
    pub retention: Policy,
    /// `source` must be a hot standby (`--from-standby`); with `primary`,
    /// one of that primary's.
    pub from_standby: bool,
    pub primary: Option<ConnSpec>,
    /// Only these tables, with their definitions and rows (no indexes or
    /// constraints: those belong to the table they are attached to); every
    /// table when None. An archived partition is such a backup.
    pub tables: Option<Vec<fingerprint::TableName>>,
    /// Small files written into the backup beside the dump (archive.json).
    pub extra_files: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupOutcome {
    pub id: String,
    pub path: String,
    pub size: u64,
    pub database: String,
    pub tables: usize,
    pub rows: u64,
    pub pg_dump: String,
    pub compress: String,
    pub seconds: f64,
    /// Backups deleted by the retention flags, if given.
    pub pruned: Vec<String>,
}

/// One complete backup, as `list` and `health` show it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub id: String,
    pub path: String,
    pub size: u64,
    /// When its snapshot was taken (RFC 3339, UTC): the data is as of then.
    pub created: String,
    pub finished: String,
    pub age_seconds: i64,
    /// None when never verified.
    pub verified: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub backups: Vec<BackupSummary>,
    /// Backups without a manifest: killed, failed, or still running.
    pub incomplete: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneOutcome {
    pub kept: Vec<String>,
    pub deleted: Vec<String>,
    /// Incomplete backups older than a day, deleted with the others.
    pub deleted_incomplete: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub backup: String,
    pub ok: bool,
    pub differences: Vec<String>,
    pub tables: usize,
    pub rows: u64,
    pub seconds: f64,
    /// For restore: the database that now holds the backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// Takes a backup. Everything comes from one snapshot: pg_dump imports the
/// snapshot that godwit's own session exported and holds open, and the row
/// counts and fingerprints are computed in that same snapshot.
pub fn create(options: &BackupOptions, reporter: &Reporter) -> Result<BackupOutcome> {
    let mut outcome = create_unpruned(options, reporter).map_err(|e| {
        with_next_step(
            e,
            "no backup was recorded as complete (`backup list` shows none new); run the same command again",
        )
    })?;
    if !options.retention.is_empty() {
        let pruned = prune(&options.location, &options.retention, false, reporter).map_err(|e| {
            Error::Backup(format!(
                "backup {} is complete, but applying the retention rules failed: {e}",
                outcome.path
            ))
        })?;
        outcome.pruned = pruned.deleted;
    }
    Ok(outcome)
}

/// A server or pg_dump/pg_restore failure, with the state it left and what
/// to run next (a restarted server, a full disk...). Other errors, whose
/// exit codes differ, pass unchanged.
fn with_next_step(error: Error, next: &str) -> Error {
    match error {
        Error::Postgres { .. } | Error::Backup(_) | Error::Io { .. } => Error::Backup(format!("{error}\n{next}")),
        other => other,
    }
}

fn create_unpruned(options: &BackupOptions, reporter: &Reporter) -> Result<BackupOutcome> {
    let started_clock = Instant::now();
    let store = Store::open(&options.location)?;
    // The snapshot is taken by the session's first query, just after this.
    let started = Utc::now();
    let mut session = fingerprint::open_session(&options.source, None)?;
    let info = database_info(&mut session)?;
    let standby = if options.from_standby {
        Some(standby_source(&mut session, options, reporter)?)
    } else {
        None
    };
    let pg_dump = dump::find_tool("pg_dump", info.major)?;
    let compress = options
        .compress
        .clone()
        .unwrap_or_else(|| dump::default_compress(&pg_dump).to_string());
    let compress_args = dump::compress_args(&compress, &pg_dump)?;
    reporter.emit(Event::Info(format!(
        "using pg_dump {} ({}) for server {}",
        pg_dump.number(),
        pg_dump.path.display(),
        info.version
    )));

    let snapshot: String = session
        .query_one("SELECT pg_export_snapshot()", &[])
        .map_err(|e| Error::pg("exporting a snapshot", &e))?
        .get(0);
    let id = manifest::new_id(started);
    let tables = match &options.tables {
        Some(chosen) => chosen.clone(),
        None => fingerprint::list_tables(&mut session)?,
    };
    let staging = store.begin(&id)?;
    reporter.emit(Event::Phase(format!(
        "dumping {} ({} tables) with pg_dump -Fd -j {} --compress {compress}",
        options.source.dbname,
        tables.len(),
        options.jobs
    )));

    // Lives until pg_dump has finished: it owns the temporary passfile.
    let mut env = dump::LibpqEnv::new(&options.source)?;
    env.check_client_connection(info.major);
    let mut command = Command::new(&pg_dump.path);
    command
        .arg("--format=directory")
        .arg("--verbose")
        .arg(format!("--jobs={}", options.jobs))
        .arg(format!("--snapshot={snapshot}"))
        .args(&compress_args)
        .arg(format!("--file={}", staging.dir.display()));
    if let Some(chosen) = &options.tables {
        command.args(["--section=pre-data", "--section=data"]);
        for t in chosen {
            // Quoted, a pattern matches the name literally.
            command.arg(format!(
                "--table=\"{}\".\"{}\"",
                t.schema.replace('"', "\"\""),
                t.name.replace('"', "\"\"")
            ));
        }
    }
    env.apply(&mut command);

    // pg_dump and the fingerprints run at the same time, on the same snapshot.
    let canceller = fingerprint::Canceller::default();
    let (dumped, fingerprints) = std::thread::scope(|scope| {
        let fingerprints = scope.spawn(|| {
            fingerprint::fingerprint_tables_cancellable(
                &options.source,
                &tables,
                options.jobs,
                Some(&snapshot),
                &canceller,
            )
        });
        let dumped = dump::run_watching(
            command,
            "pg_dump",
            &progress::dump_watcher(&staging.dir, tables.len(), reporter),
        );
        if dumped.is_err() {
            // No use reading on: stop the fingerprint queries now.
            canceller.cancel();
        }
        let fingerprints = fingerprints
            .join()
            .unwrap_or_else(|_| Err(Error::Other("the fingerprint thread panicked".into())));
        (dumped, fingerprints)
    });
    reporter.emit(Event::ProgressDone("backup".into()));
    let _ = session.batch_execute("COMMIT");
    drop(session);
    let table_entries = match dumped.and(fingerprints) {
        Ok(entries) => entries,
        Err(e) => {
            store.discard(staging);
            return Err(e);
        }
    };

    for (name, bytes) in &options.extra_files {
        if let Err(e) = std::fs::write(staging.dir.join(name), bytes) {
            store.discard(staging);
            return Err(Error::io(format!("writing {name}"), e));
        }
    }
    reporter.emit(Event::Phase("checksumming".into()));
    let files = match checksum_dir(&staging.dir) {
        Ok(files) => files,
        Err(e) => {
            store.discard(staging);
            return Err(e);
        }
    };
    let manifest = Manifest {
        format: manifest::FORMAT,
        id: id.clone(),
        godwit_version: env!("CARGO_PKG_VERSION").to_string(),
        server_version: info.version.clone(),
        database: options.source.dbname.clone(),
        encoding: info.encoding,
        lc_collate: info.lc_collate,
        lc_ctype: info.lc_ctype,
        icu_locale: info.icu_locale,
        started: manifest::timestamp(started),
        finished: manifest::timestamp(Utc::now()),
        snapshot,
        pg_dump: manifest::ToolInfo {
            path: pg_dump.path.display().to_string(),
            version: pg_dump.version.clone(),
        },
        compress: compress.clone(),
        jobs: options.jobs,
        fingerprint_method: fingerprint::METHOD.to_string(),
        files,
        tables: table_entries,
        standby,
        partial: options.tables.is_some(),
    };
    if store.location().starts_with("s3://") {
        reporter.emit(Event::Phase(format!("uploading to {}", store.backup_path(&id))));
    }
    store.commit(staging, &manifest)?;
    Ok(BackupOutcome {
        path: store.backup_path(&id),
        id,
        size: manifest.size(),
        database: manifest.database.clone(),
        tables: manifest.tables.len(),
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        pg_dump: pg_dump.path.display().to_string(),
        compress,
        seconds: started_clock.elapsed().as_secs_f64(),
        pruned: Vec::new(),
    })
}

struct DatabaseInfo {
    version: String,
    major: u32,
    encoding: String,
    lc_collate: String,
    lc_ctype: String,
    icu_locale: Option<String>,
}

/// Checks that the source is a hot standby (of `primary`, when given: the
/// same system identifier) and records where its replay stands, in the
/// snapshot the dump reads. Warns when recovery may cancel pg_dump.
fn standby_source(
    session: &mut postgres::Client,
    options: &BackupOptions,
    reporter: &Reporter,
) -> Result<manifest::StandbySource> {
    let row = session
        .query_one(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, \
                    to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                    (SELECT system_identifier::text FROM pg_control_system()), \
                    current_setting('hot_standby_feedback') = 'on' OR current_setting('max_standby_streaming_delay') = '-1'",
            &[],
        )
        .map_err(|e| Error::pg("reading the standby's replay position", &e))?;
    if !row.get::<_, bool>(0) {
        return Err(Error::Usage(format!(
            "--from-standby: {} is not a standby (pg_is_in_recovery() is false); give a hot standby's URL, \
             e.g. `godwit local url --replica 1`, or drop --from-standby to dump this server",
            options.source
        )));
    }
    let system_identifier: String = row.get(3);
    if let Some(primary) = &options.primary {
        let mut client = primary.connect()?;
        let theirs: String = client
            .query_one("SELECT system_identifier::text FROM pg_control_system()", &[])
            .map_err(|e| Error::pg("reading the primary's system identifier", &e))?
            .get(0);
        if theirs != system_identifier {
            return Err(Error::Usage(format!(
                "--from-standby: {} is not a standby of {primary} (system identifiers {system_identifier} and \
                 {theirs} differ)",
                options.source
            )));
        }
    }
    if !row.get::<_, bool>(4) {
        reporter.emit(Event::Warning(
            "the standby has hot_standby_feedback off and max_standby_streaming_delay set: replaying the \
             primary's cleanup can cancel pg_dump's queries (a conflict with recovery) on a long dump; \
             set hot_standby_feedback = on on the standby if that happens"
                .into(),
        ));
    }
    Ok(manifest::StandbySource {
        replay_lsn: row.get::<_, Option<String>>(1).unwrap_or_default(),
        replayed_until: row.get(2),
        system_identifier,
    })
}

fn database_info(client: &mut postgres::Client) -> Result<DatabaseInfo> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                    pg_encoding_to_char(encoding)::text, datcollate::text, datctype::text
               FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .map_err(|e| Error::pg("reading the server version", &e))?;
    let num: i32 = row.get(1);
    let major = u32::try_from(num / 10000).unwrap_or(0);
    let icu_locale = if num >= 150000 {
        client
            .query_one(
                "SELECT CASE WHEN datlocprovider = 'i' THEN daticulocale::text END
                   FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .map_err(|e| Error::pg("reading the database locale", &e))?
            .get(0)
    } else {
        None
    };
    Ok(DatabaseInfo {
        version: row.get(0),
        major,
        encoding: row.get(2),
        lc_collate: row.get(3),
        lc_ctype: row.get(4),
        icu_locale,
    })
}

fn checksum_dir(dir: &std::path::Path) -> Result<Vec<manifest::FileEntry>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != MANIFEST)
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let (size, sha256) =
                store::sha256_file(&dir.join(&name)).map_err(|e| Error::io(format!("reading {name}"), e))?;
            Ok(manifest::FileEntry {
                path: name,
                size,
                sha256,
            })
        })
        .collect()
}

/// Complete backups newest first, and the incomplete ones.
pub fn list(location: &str) -> Result<Listing> {
    let store = Store::open(location)?;
    let now = Utc::now();
    let mut backups = Vec::new();
    let mut incomplete = Vec::new();
    for entry in store.entries()?.into_iter().rev() {
        if !entry.complete {
            incomplete.push(entry.id);
            continue;
        }
        let manifest = store.read_manifest(&entry.id)?;
        let verified = match store.read_file(&entry.id, VERIFIED)? {
            Some(bytes) => serde_json::from_slice::<Verified>(&bytes).ok().map(|v| v.ok),
            None => None,
        };
        let created = manifest::parse_timestamp(&manifest.started)
            .or_else(|| manifest::id_time(&entry.id))
            .unwrap_or(now);
        backups.push(BackupSummary {
            path: store.backup_path(&entry.id),
            size: manifest.size(),
            created: manifest.started.clone(),
            finished: manifest.finished.clone(),
            age_seconds: (now - created).num_seconds(),
            verified,
            id: entry.id,
        });
    }
    Ok(Listing { backups, incomplete })
}

/// The newest complete backup at `location`, for `godwit health`.
pub fn newest_complete(location: &str) -> Result<Option<BackupSummary>> {
    Ok(list(location)?.backups.into_iter().next())
}

/// Applies the retention policy. Incomplete backups older than a day are
/// deleted too; younger ones may still be running and stay.
pub fn prune(location: &str, policy: &Policy, dry_run: bool, reporter: &Reporter) -> Result<PruneOutcome> {
    if policy.is_empty() {
        return Err(Error::Usage(
            "prune needs at least one of --keep-last, --keep-daily, --keep-weekly".into(),
        ));
    }
    let store = Store::open(location)?;
    if !dry_run {
        for id in store.finish_interrupted_deletes()? {
            reporter.emit(Event::Info(format!(
                "finished deleting {id}, which an interrupted prune left"
            )));
        }
    }
    let entries = store.entries()?;
    let complete: Vec<(String, chrono::DateTime<Utc>)> = entries
        .iter()
        .filter(|e| e.complete)
        .filter_map(|e| manifest::id_time(&e.id).map(|t| (e.id.clone(), t)))
        .collect();
    let decisions = retention::decide(&complete, policy);
    let now = Utc::now();
    let stale: Vec<String> = entries
        .iter()
        .filter(|e| !e.complete)
        .filter(|e| {
            let seen = e.modified.or_else(|| manifest::id_time(&e.id)).unwrap_or(now);
            now - seen > chrono::Duration::hours(store::STALE_AFTER_HOURS)
        })
        .map(|e| e.id.clone())
        .collect();
    let mut outcome = PruneOutcome {
        kept: decisions.iter().filter(|d| d.keep).map(|d| d.id.clone()).collect(),
        deleted: decisions.iter().filter(|d| !d.keep).map(|d| d.id.clone()).collect(),
        deleted_incomplete: stale,
        dry_run,
    };
    // Oldest first, so an interrupted prune has removed the least useful ones.
    outcome.deleted.reverse();
    if !dry_run {
        for id in outcome.deleted.iter().chain(&outcome.deleted_incomplete) {
            if crate::report::interrupt::requested() {
                return Err(Error::Interrupted);
            }
            store.delete(id)?;
            reporter.emit(Event::Info(format!("deleted {}", store.backup_path(id))));
        }
    }
    Ok(outcome)
}

/// Settings for `backup verify` and `restore`.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// verify: any database on the server to restore on; restore: the target.
    pub target: ConnSpec,
    pub jobs: usize,
    /// restore only: replace a target that already has tables.
    pub replace: bool,
    /// Skip ownership and privileges (for a server without the same roles).
    pub no_owner: bool,
}

/// `backup verify`: checksums, a test restore into a scratch database on
/// `options.target`'s server, the proof, then the scratch database is
/// dropped. The result is recorded in the backup as verified.json.
pub fn verify(backup: &str, options: &RestoreOptions, reporter: &Reporter) -> Result<CheckOutcome> {
    let clock = Instant::now();
    let (store, id) = Store::open_backup(backup)?;
    let manifest = store.read_manifest(&id)?;
    reporter.emit(Event::Phase(format!(
        "checking {} files of {}",
        manifest.files.len(),
        store.backup_path(&id)
    )));
    let (local, mut differences) = store.fetch_checked(&id, &manifest)?;
    if differences.is_empty() {
        let pg_restore = pg_restore_for(&options.target)?;
        let (name, prefix) = restore::scratch_names("godwit", "verify", &restore::attempt_suffix());
        let _locks = restore::ScratchLocks::acquire(&options.target, "", &[&name])?;
        let mut admin = restore::maintenance_connection(&options.target, "")?;
        restore::drop_abandoned(&mut admin, &prefix, reporter)?;
        drop(admin);
        let scratch = restore::restore_into(options, &name, None, &manifest, &local.dir, &pg_restore, reporter)?;
        reporter.emit(Event::Phase(format!("proving {} tables", manifest.tables.len())));
        differences = restore::prove(&scratch.spec(), &manifest, options.jobs, reporter)?;
        scratch.discard(reporter);
    }
    let record = Verified {
        ok: differences.is_empty(),
        checked: manifest::timestamp(Utc::now()),
        server: options.target.to_string(),
        differences: differences.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&record).unwrap_or_default();
    bytes.push(b'\n');
    store.write_file(&id, VERIFIED, &bytes)?;
    Ok(CheckOutcome {
        backup: store.backup_path(&id),
        ok: differences.is_empty(),
        differences,
        tables: manifest.tables.len(),
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        seconds: clock.elapsed().as_secs_f64(),
        database: None,
    })
}

/// `godwit restore`: see [`restore`] for how the target stays untouched
/// until the restored copy is proven.
pub fn restore(backup: &str, options: &RestoreOptions, reporter: &Reporter) -> Result<CheckOutcome> {
    let target = &options.target.dbname;
    restore_or_leave_unchanged(backup, options, reporter).map_err(|e| {
        with_next_step(
            e,
            &format!(
                "{target} is unchanged: nothing was swapped in. Run the same restore again; it drops what this \
                 run left (as does `godwit restore --cleanup --to URL`)"
            ),
        )
    })
}

fn restore_or_leave_unchanged(backup: &str, options: &RestoreOptions, reporter: &Reporter) -> Result<CheckOutcome> {
    let clock = Instant::now();
    let (store, id) = Store::open_backup(backup)?;
    let manifest = store.read_manifest(&id)?;
    let target = options.target.dbname.clone();
    let outcome = |differences: Vec<String>, database: Option<String>| CheckOutcome {
        backup: store.backup_path(&id),
        ok: differences.is_empty(),
        differences,
        tables: manifest.tables.len(),
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        seconds: clock.elapsed().as_secs_f64(),
        database,
    };
    if let Some(tables) = restore::table_count(&options.target, &target)?
        && tables > 0
        && !options.replace
    {
        return Err(Error::TargetExists(format!(
            "database {target} already has {tables} tables; restore replaces a database only with --replace"
        )));
    }
    let pg_restore = pg_restore_for(&options.target)?;
    reporter.emit(Event::Phase(format!(
        "checking {} files of {}",
        manifest.files.len(),
        store.backup_path(&id)
    )));
    let (local, differences) = store.fetch_checked(&id, &manifest)?;
    if !differences.is_empty() {
        return Ok(outcome(differences, None));
    }
    let attempt = restore::attempt_suffix();
    let (name, restore_prefix) = restore::scratch_names(&target, "godwit_restore", &attempt);
    let (old, old_prefix) = restore::scratch_names(&target, "godwit_old", &attempt);
    // Held until this run ends: marks its scratch names as in use.
    let _locks = restore::ScratchLocks::acquire(&options.target, &target, &[&name, &old])?;
    let mut admin = restore::maintenance_connection(&options.target, &target)?;
    for prefix in [&restore_prefix, &old_prefix] {
        restore::drop_abandoned(&mut admin, prefix, reporter)?;
    }
    drop(admin);
    let mut admin = restore::maintenance_connection(&options.target, &target)?;
    // What the swap must carry over from the database it replaces.
    let properties = database::read(&mut admin, &target)?;
    drop(admin);
    let scratch = restore::restore_into(
        options,
        &name,
        properties.as_ref(),
        &manifest,
        &local.dir,
        &pg_restore,
        reporter,
    )?;
    reporter.emit(Event::Phase(format!("proving {} tables", manifest.tables.len())));
    let differences = restore::prove(&scratch.spec(), &manifest, options.jobs, reporter)?;
    if !differences.is_empty() {
        // Never swap in a copy that does not match; the target stays as it was.
        scratch.discard(reporter);
        return Ok(outcome(differences, None));
    }
    if let Some(properties) = &properties {
        reporter.emit(Event::Phase(format!(
            "carrying {target}'s owner, comment, grants and settings to {}",
            scratch.name
        )));
        restore::carry_properties(&options.target, &target, &scratch.name, properties)?;
    }
    if crate::report::interrupt::requested() {
        return Err(Error::Interrupted);
    }
    reporter.emit(Event::Phase(format!("swapping the restored database into {target}")));
    restore::swap(&options.target, &target, scratch, &old, reporter)?;
    Ok(outcome(Vec::new(), Some(target)))
}

/// `godwit restore --cleanup`: drops the scratch databases that killed
/// restores to `target` (and killed `backup verify` runs on its server)
/// left, except those of runs still going.
pub fn cleanup(target: &ConnSpec, reporter: &Reporter) -> Result<restore::Cleanup> {
    let name = target.dbname.clone();
    let mut total = restore::Cleanup::default();
    let mut admin = restore::maintenance_connection(target, &name)?;
    let attempt = restore::attempt_suffix();
    for kind in ["godwit_restore", "godwit_old"] {
        let (_, prefix) = restore::scratch_names(&name, kind, &attempt);
        total.absorb(restore::drop_abandoned(&mut admin, &prefix, reporter)?);
    }
    drop(admin);
    let mut admin = restore::maintenance_connection(target, "")?;
    let (_, prefix) = restore::scratch_names("godwit", "verify", &attempt);
    total.absorb(restore::drop_abandoned(&mut admin, &prefix, reporter)?);
    Ok(total)
}

fn pg_restore_for(server: &ConnSpec) -> Result<dump::Tool> {
    let mut client = restore::maintenance_connection(server, "")?;
    let num: String = client
        .query_one("SELECT current_setting('server_version_num')", &[])
        .map_err(|e| Error::pg("reading the server version", &e))?
        .get(0);
    let major = num.parse::<u32>().unwrap_or(0) / 10000;
    dump::find_tool("pg_restore", major)
}
