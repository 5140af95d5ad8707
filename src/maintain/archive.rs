//! `maintain --archive-older-than 12months --archive-to DIR|s3://...`:
//! old partitions leave the database for a backup store, and come back
//! with `restore --archive`.
//!
//! Each partition whose whole range is older than the cutoff goes through
//! steps recorded in `godwit.partition_archive`, so a run killed anywhere
//! is finished by the next one and loses nothing:
//! 1. `detaching`: DETACH PARTITION, CONCURRENTLY where PostgreSQL allows
//!    it (not while the table has a default partition: then a plain
//!    DETACH under lock_timeout, a brief lock and no scan). A concurrent
//!    detach cut short is FINALIZEd on the next run.
//! 2. `detached`: the partition, now a table of its own, is dumped to the
//!    store as a backup of that one table (pg_dump, definitions and rows),
//!    with `archive.json` (parent, bounds) and the manifest (rows and
//!    fingerprint, from the dump's snapshot).
//! 3. `archived`: the archive is read back (checksums; a test restore into
//!    a scratch database proven against the manifest), and the manifest's
//!    fingerprint is compared with the detached table's own.
//! 4. Only then is the table dropped, and the row marked `dropped`.
//!
//! Until step 4 the rows stay in the database, in the detached table.

use std::time::Instant;

use postgres::Client;
use serde::{Deserialize, Serialize};

use crate::backup::fingerprint::{self, TableName};
use crate::backup::{self, BackupOptions, RestoreOptions, retention::Policy, store::Store};
use crate::error::{Error, Result};
use crate::maintain::partitions::{self, children};
use crate::postgres::conn::qualified;
use crate::postgres::conn::{ConnSpec, describe_pg_error};
use crate::report::{Event, Reporter};
use crate::reverse::origin::GODWIT_SCHEMA;

pub const ARCHIVE_FILE: &str = "archive.json";

/// How old a partition must be: `12months`, `90days`, `2years`, `8weeks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    Days(i64),
    Months(i64),
}

impl Age {
    pub fn parse(text: &str) -> std::result::Result<Age, String> {
        let t = text.trim().to_ascii_lowercase();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: i64 = number
            .parse()
            .map_err(|_| format!("{text:?}: write a whole number and a unit, e.g. 12months, 90days, 2years"))?;
        Ok(match unit.trim() {
            "d" | "day" | "days" => Age::Days(n),
            "w" | "week" | "weeks" => Age::Days(n * 7),
            "mo" | "mon" | "month" | "months" => Age::Months(n),
            "y" | "year" | "years" => Age::Months(n * 12),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?}; use days, weeks, months or years"
                ));
            }
        })
    }

    /// The first day (since 1970-01-01) not older than this, from `today`.
    pub fn cutoff(self, today: i64) -> i64 {
        match self {
            Age::Days(n) => today - n,
            Age::Months(n) => {
                let (y, m, d) = crate::calendar::civil_from_days(today);
                let months = y * 12 + i64::from(m) - 1 - n;
                let (y, m) = (
                    months.div_euclid(12),
                    u32::try_from(months.rem_euclid(12)).unwrap_or(0) + 1,
                );
                crate::calendar::days_from_civil(y, m, d.min(crate::calendar::days_in_month(y, m)))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    pub target: ConnSpec,
    pub older_than: Age,
    /// A directory or `s3://bucket/prefix`.
    pub location: String,
    pub dry_run: bool,
    pub lock_timeout: std::time::Duration,
}

/// What `archive.json` says about the partition an archive holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedPartition {
    pub schema: String,
    pub parent: String,
    pub partition: String,
    /// `FOR VALUES FROM (...) TO (...)`, to attach it again.
    pub bound: String,
    pub key_column: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveStep {
    pub table: String,
    pub partition: String,
    /// planned, archived, failed.
    pub status: String,
    pub archive: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub location: String,
    pub cutoff: String,
    pub dry_run: bool,
    pub partitions: Vec<ArchiveStep>,
}

impl ArchiveReport {
    pub fn failed(&self) -> bool {
        self.partitions.iter().any(|p| p.status == "failed")
    }
}

fn ensure_journal(client: &mut Client) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {GODWIT_SCHEMA};
             CREATE TABLE IF NOT EXISTS {GODWIT_SCHEMA}.partition_archive (
                 schema text NOT NULL, partition text NOT NULL, parent text NOT NULL, bound text NOT NULL,
                 key_column text NOT NULL, state text NOT NULL, archive text, updated timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (schema, partition))"
        ))
        .map_err(|e| Error::pg("creating godwit.partition_archive", &e))
}

fn set_state(client: &mut Client, p: &ArchivedPartition, state: &str, archive: Option<&str>) -> Result<()> {
    client
        .execute(
            &format!(
                "INSERT INTO {GODWIT_SCHEMA}.partition_archive (schema, partition, parent, bound, key_column, state, archive)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (schema, partition) DO UPDATE SET state = excluded.state,
                   archive = coalesce(excluded.archive, partition_archive.archive), updated = now()"
            ),
            &[&p.schema, &p.partition, &p.parent, &p.bound, &p.key_column, &state, &archive],
        )
        .map_err(|e| Error::pg("recording an archive step", &e))?;
    Ok(())
}

/// Partitions an earlier run left between steps: (partition, state, archive).
fn unfinished(client: &mut Client) -> Result<Vec<(ArchivedPartition, String, Option<String>)>> {
    let rows = client
        .query(
            &format!(
                "SELECT schema, partition, parent, bound, key_column, state, archive
                   FROM {GODWIT_SCHEMA}.partition_archive WHERE state NOT IN ('dropped', 'restored') ORDER BY 1, 2"
            ),
            &[],
        )
        .map_err(|e| Error::pg("reading godwit.partition_archive", &e))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                ArchivedPartition {
                    schema: r.get(0),
                    partition: r.get(1),
                    parent: r.get(2),
                    bound: r.get(3),
                    key_column: r.get(4),
                },
                r.get(5),
                r.get(6),
            )
        })
        .collect())
}

fn bound_of(client: &mut Client, schema: &str, name: &str) -> Result<String> {
    client
        .query_one(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = (quote_ident($1) || '.' || quote_ident($2))::regclass",
            &[&schema, &name],
        )
        .map(|r| r.get(0))
        .map_err(|e| Error::pg(format!("reading the bounds of {schema}.{name}"), &e))
}

pub fn run(options: &ArchiveOptions, reporter: &Reporter) -> Result<ArchiveReport> {
    let mut client = options.target.connect()?;
    let lock_ms = options.lock_timeout.as_millis().max(1);
    client
        .batch_execute(&format!(
            "SET lock_timeout = {lock_ms}; SET statement_timeout = 0; SET application_name = 'godwit maintain archive'"
        ))
        .map_err(|e| Error::pg("setting up the session", &e))?;
    let today = partitions::today();
    let cutoff = options.older_than.cutoff(today);
    let (y, m, d) = crate::calendar::civil_from_days(cutoff);
    let mut report = ArchiveReport {
        location: Store::open(&options.location)?.location().to_string(),
        cutoff: format!("{y:04}-{m:02}-{d:02}"),
        dry_run: options.dry_run,
        partitions: Vec::new(),
    };
    if !options.dry_run {
        ensure_journal(&mut client)?;
    }
    // What a killed run left first, then the partitions now old enough.
    let mut work: Vec<(ArchivedPartition, String, Option<String>)> = if options.dry_run {
        Vec::new()
    } else {
        unfinished(&mut client)?
    };
    for set in partitions::sets(&mut client)? {
        for child in children(&mut client, &set.schema, &set.name)? {
            if child.is_default || child.to.is_none_or(|to| to > cutoff) {
                continue;
            }
            if work
                .iter()
                .any(|(p, _, _)| p.schema == set.schema && p.partition == child.name)
            {
                continue;
            }
            let partition = ArchivedPartition {
                schema: set.schema.clone(),
                parent: set.name.clone(),
                bound: bound_of(&mut client, &set.schema, &child.name)?,
                partition: child.name.clone(),
                key_column: set.column.clone(),
            };
            let state = if child.detach_pending { "detaching" } else { "new" };
            work.push((partition, state.to_string(), None));
        }
    }
    for (partition, state, archive) in work {
        let started = Instant::now();
        let mut step = ArchiveStep {
            table: qualified(&partition.schema, &partition.parent),
            partition: partition.partition.clone(),
            status: "planned".into(),
            archive: archive.clone(),
            rows: 0,
            bytes: 0,
            seconds: 0.0,
            message: format!("older than {}: {}", report.cutoff, partition.bound),
        };
        if options.dry_run {
            report.partitions.push(step);
            continue;
        }
        reporter.emit(Event::Phase(format!("archiving {}", step.partition)));
        match archive_one(&mut client, options, &partition, &state, archive, reporter) {
            Ok(done) => {
                step.status = "archived".into();
                step.rows = done.rows;
                step.bytes = done.bytes;
                step.message = format!(
                    "{} rows archived to {} and proven; the partition is dropped",
                    done.rows, done.path
                );
                step.archive = Some(done.path);
            }
            Err(e) => {
                step.status = "failed".into();
                step.message = format!(
                    "{e}; nothing is lost: the rows stay in {} (attached, or detached and kept) until an archive of \
                     them is proven, and the next run continues from here",
                    qualified(&partition.schema, &partition.partition)
                );
            }
        }
        step.seconds = started.elapsed().as_secs_f64();
        report.partitions.push(step);
    }
    Ok(report)
}

struct Done {
    path: String,
    rows: u64,
    bytes: u64,
}

fn archive_one(
    client: &mut Client,
    options: &ArchiveOptions,
    partition: &ArchivedPartition,
    state: &str,
    archive: Option<String>,
    reporter: &Reporter,
) -> Result<Done> {
    let parent = qualified(&partition.schema, &partition.parent);
    let table = qualified(&partition.schema, &partition.partition);
    if matches!(state, "new" | "detaching") {
        set_state(client, partition, "detaching", None)?;
        detach(client, &partition.schema, &partition.parent, &partition.partition)?;
        set_state(client, partition, "detached", None)?;
    }
    let name = TableName {
        schema: partition.schema.clone(),
        name: partition.partition.clone(),
    };
    // An archive an earlier run wrote and recorded is proven, not redone.
    let path = match archive.filter(|_| state == "archived") {
        Some(path) => path,
        None => {
            let outcome = backup::create(
                &BackupOptions {
                    source: options.target.clone(),
                    location: options.location.clone(),
                    jobs: 1,
                    compress: None,
                    retention: Policy::default(),
                    from_standby: false,
                    primary: None,
                    tables: Some(vec![name.clone()]),
                    extra_files: vec![(
                        ARCHIVE_FILE.to_string(),
                        serde_json::to_vec_pretty(partition).unwrap_or_default(),
                    )],
                },
                reporter,
            )?;
            set_state(client, partition, "archived", Some(&outcome.path))?;
            outcome.path
        }
    };
    // Read back: the files against their checksums, a test restore proven
    // against the manifest, and the manifest against the table itself.
    let checked = backup::verify(
        &path,
        &RestoreOptions {
            target: options.target.clone(),
            jobs: 1,
            replace: false,
            no_owner: true,
        },
        reporter,
    )?;
    if !checked.ok {
        return Err(Error::Backup(format!(
            "the archive {path} does not prove equal: {}",
            checked.differences.join("; ")
        )));
    }
    let (store, id) = Store::open_backup(&path)?;
    let manifest = store.read_manifest(&id)?;
    let live = fingerprint::fingerprint_tables(&options.target, std::slice::from_ref(&name), 1, None)?;
    let archived = manifest
        .tables
        .iter()
        .find(|t| t.schema == name.schema && t.name == name.name);
    match (archived, live.first()) {
        (Some(a), Some(l)) if a.rows == l.rows && a.fingerprint == l.fingerprint => {}
        (a, l) => {
            return Err(Error::Backup(format!(
                "the archive {path} holds {} rows (fingerprint {}), the table {table} {} ({}): not dropped",
                a.map_or(0, |a| a.rows),
                a.map_or("none", |a| a.fingerprint.as_str()),
                l.map_or(0, |l| l.rows),
                l.map_or("none", |l| l.fingerprint.as_str())
            )));
        }
    }
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .map_err(|e| Error::pg(format!("dropping {table} (archived in {path}) from {parent}"), &e))?;
    set_state(client, partition, "dropped", Some(&path))?;
    Ok(Done {
        path,
        rows: checked.rows,
        bytes: manifest.size(),
    })
}

/// Detaches a partition, or finishes a concurrent detach cut short.
fn detach(client: &mut Client, schema: &str, parent: &str, partition: &str) -> Result<()> {
    let parent_q = qualified(schema, parent);
    let table = qualified(schema, partition);
    let kids = children(client, schema, parent)?;
    let Some(child) = kids.iter().find(|c| c.name == partition) else {
        // Detached already (the run died after the detach, before recording it).
        return Ok(());
    };
    let sql = if child.detach_pending {
        format!("ALTER TABLE {parent_q} DETACH PARTITION {table} FINALIZE")
    } else if kids.iter().any(|c| c.is_default) {
        // PostgreSQL allows no concurrent detach beside a default partition.
        format!("ALTER TABLE {parent_q} DETACH PARTITION {table}")
    } else {
        format!("ALTER TABLE {parent_q} DETACH PARTITION {table} CONCURRENTLY")
    };
    client
        .batch_execute(&sql)
        .map_err(|e| Error::pg(format!("detaching {table}: {sql}"), &e))
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoredPartition {
    pub archive: String,
    pub table: String,
    pub partition: String,
    pub rows: u64,
    pub seconds: f64,
}

/// `restore --archive LOCATION/ID`: the partition comes back into its
/// table. The archive's files are checked, its table restored in one
/// transaction, proven against the manifest, and only then attached.
pub fn restore(target: &ConnSpec, archive: &str, reporter: &Reporter) -> Result<RestoredPartition> {
    let started = Instant::now();
    let (store, id) = Store::open_backup(archive)?;
    let manifest = store.read_manifest(&id)?;
    let about: ArchivedPartition = store
        .read_file(&id, ARCHIVE_FILE)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            Error::Backup(format!(
                "{}: not a partition archive (no {ARCHIVE_FILE}); restore a whole backup with `godwit restore BACKUP`",
                store.backup_path(&id)
            ))
        })?;
    let (local, differences) = store.fetch_checked(&id, &manifest)?;
    if !differences.is_empty() {
        return Err(Error::Backup(format!(
            "{}: files differ from the manifest: {}",
            store.backup_path(&id),
            differences.join("; ")
        )));
    }
    let mut client = target.connect()?;
    let table = qualified(&about.schema, &about.partition);
    let parent = qualified(&about.schema, &about.parent);
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .map_err(|e| Error::pg("looking for the partition", &e))?
        .get(0);
    if exists {
        return Err(Error::Usage(format!(
            "{table} exists in the target already; drop or rename it to restore the archive"
        )));
    }
    reporter.emit(Event::Phase(format!(
        "restoring {table} from {}",
        store.backup_path(&id)
    )));
    let server_major = client
        .query_one("SELECT current_setting('server_version_num')::int / 10000", &[])
        .map(|r| u32::try_from(r.get::<_, i32>(0)).unwrap_or(0))
        .map_err(|e| Error::pg("reading the server version", &e))?;
    let pg_restore = crate::backup::dump::find_tool("pg_restore", server_major)?;
    let mut env = crate::backup::dump::LibpqEnv::new(target)?;
    env.check_client_connection(server_major);
    let mut command = std::process::Command::new(&pg_restore.path);
    command
        .arg("--format=directory")
        .arg("--single-transaction")
        .arg("--exit-on-error")
        .args(["--no-owner", "--no-privileges"])
        .arg(format!("--dbname={}", target.dbname))
        .arg(&local.dir);
    env.apply(&mut command);
    crate::backup::dump::run(command, "pg_restore")?;
    let name = TableName {
        schema: about.schema.clone(),
        name: about.partition.clone(),
    };
    let live = fingerprint::fingerprint_tables(target, std::slice::from_ref(&name), 1, None)?;
    let expected = manifest
        .tables
        .iter()
        .find(|t| t.schema == name.schema && t.name == name.name);
    let proven =
        matches!((expected, live.first()), (Some(e), Some(l)) if e.rows == l.rows && e.fingerprint == l.fingerprint);
    if !proven {
        let _ = client.batch_execute(&format!("DROP TABLE {table}"));
        return Err(Error::Backup(format!(
            "{table} as restored does not match the archive's manifest; it was dropped again and {parent} is unchanged"
        )));
    }
    client
        .batch_execute(&format!("ALTER TABLE {parent} ATTACH PARTITION {table} {}", about.bound))
        .map_err(|e| {
            Error::Backup(format!(
                "{table} is restored and proven, but attaching it to {parent} failed: {}; it is left as a table of its own",
                describe_pg_error(&e)
            ))
        })?;
    let _ = client.execute(
        &format!(
            "UPDATE {GODWIT_SCHEMA}.partition_archive SET state = 'restored', updated = now() \
             WHERE schema = $1 AND partition = $2"
        ),
        &[&about.schema, &about.partition],
    );
    Ok(RestoredPartition {
        archive: store.backup_path(&id),
        table: parent,
        partition: about.partition,
        rows: live.first().map_or(0, |l| l.rows),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    #[test]
    fn ages_parse_and_count_back_on_the_calendar() {
        assert_eq!(Age::parse("12months"), Ok(Age::Months(12)));
        assert_eq!(Age::parse("2y"), Ok(Age::Months(24)));
        assert_eq!(Age::parse("90 days"), Ok(Age::Days(90)));
        assert!(Age::parse("soon").is_err());
        assert!(Age::parse("3 fortnights").is_err());
        let today = days_from_civil(2026, 3, 31);
        assert_eq!(Age::Months(1).cutoff(today), days_from_civil(2026, 2, 28));
        assert_eq!(Age::Months(12).cutoff(today), days_from_civil(2025, 3, 31));
        assert_eq!(Age::Days(31).cutoff(today), days_from_civil(2026, 2, 28));
    }
}
