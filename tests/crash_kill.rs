//! The crash harness's SIGKILL sweep: each command is killed at seeded
//! random points against the real server; after each kill the state must
//! be one the command promises (docs/reliability.md), no child process may
//! outlive godwit, and a rerun must complete.
//!
//! A few points per command here; `make crash` runs hundreds
//! (GODWIT_CRASH_POINTS) and prints a CRASH-TALLY line per command.
//! Replay a failure with the GODWIT_CRASH_SEED it printed.

mod common;
mod crash_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use crash_support as crash;
use godwit::postgres::conn::ConnSpec;
use rusqlite::Connection;

const POINTS: usize = 3;

/// A kill point in 0..1.3 × the time an undisturbed run takes, so that
/// some points land after the end too.
fn delay(rng: &mut crash::Rng, span: Duration) -> Duration {
    let ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX).max(20);
    Duration::from_millis(rng.below(ms * 13 / 10))
}

fn bin() -> PathBuf {
    godwit_bin()
}

fn ok(args: &[&str]) -> std::process::Output {
    let out = godwit(args);
    assert_exit(&out, 0);
    out
}

fn databases_like(pattern: &str) -> Vec<String> {
    let mut client = server().with_dbname("postgres").connect().unwrap();
    client
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1",
            &[&pattern],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A database worth a second or two of pg_dump / pg_restore.
fn app_database(name: &str) -> ConnSpec {
    let db = fresh_database(name);
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE, body text, at timestamptz);
             INSERT INTO users SELECT g, 'u' || g || '@example.org', repeat(md5(g::text), 4),
                    timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 60000) g;
             CREATE TABLE orders (id serial PRIMARY KEY, user_id bigint REFERENCES users, total numeric);
             INSERT INTO orders (user_id, total) SELECT 1 + g % 60000, g * 0.01 FROM generate_series(1, 60000) g;
             CREATE INDEX orders_user ON orders (user_id);",
        )
        .unwrap();
    db
}

#[test]
fn restore_killed_anywhere_leaves_the_old_or_the_proven_new_database() {
    let seed = crash::seed("restore");
    let mut rng = crash::Rng::new(seed);
    let source = app_database("ck_restore_src");
    let dir = tempfile::tempdir().unwrap();
    let backup = ok(&[
        "backup",
        "--to",
        &source.to_string(),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let backup = stdout(&backup).trim().to_string();
    let restored = crash::table_digests(&source);
    let target = fresh_database("ck_restore");
    let url = target.to_string();
    let args = [
        "restore",
        backup.as_str(),
        "--to",
        url.as_str(),
        "--replace",
        "--jobs",
        "2",
    ];
    let span = crash::timed_run(&bin(), &args);
    let mut tally = crash::Tally::new("restore");
    for point in 0..crash::points(POINTS) {
        // Make the old database differ from the backup, to tell them apart.
        target
            .connect()
            .unwrap()
            .batch_execute(&format!(
                "CREATE TABLE marker_{point} (a int); INSERT INTO marker_{point} VALUES ({point})"
            ))
            .unwrap();
        let before = crash::table_digests(&target);
        let wait = delay(&mut rng, span);
        let mut child = crash::spawn(&bin(), &args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        let after = crash::table_digests(&target);
        assert!(
            after == before || after == restored,
            "seed {seed} point {point} ({wait:?}): the target is neither the old database nor the backup"
        );
        if let Some(status) = strike.finished {
            assert!(status.success(), "seed {seed} point {point}: restore failed on its own");
            assert_eq!(after, restored);
        }
        tally.consistent += 1;
        let rerun = ok(&args);
        assert_eq!(crash::table_digests(&target), restored, "seed {seed} point {point}");
        let left = databases_like(&format!("{}%godwit%", target.dbname));
        assert!(
            left.is_empty(),
            "seed {seed} point {point} ({wait:?}): scratch databases {left:?} left after the rerun:\n{}",
            stderr(&rerun)
        );
        tally.reruns_completed += 1;
    }
    tally.print();
}

/// Every complete backup in `dir`, checked: its manifest names files that
/// are all there with their sizes.
fn complete_backups(dir: &Path) -> Vec<String> {
    let out = ok(&["backup", "list", "--dir", dir.to_str().unwrap(), "--json"]);
    let listing: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    listing["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let path = PathBuf::from(b["path"].as_str().unwrap());
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path.join("manifest.json")).unwrap()).unwrap();
            for file in manifest["files"].as_array().unwrap() {
                let len = std::fs::metadata(path.join(file["path"].as_str().unwrap()))
                    .map(|m| m.len())
                    .unwrap_or(u64::MAX);
                assert_eq!(Some(len), file["size"].as_u64(), "{} in a listed backup", file["path"]);
            }
            b["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn backup_killed_anywhere_is_never_listed_as_complete() {
    let seed = crash::seed("backup");
    let mut rng = crash::Rng::new(seed);
    let source = app_database("ck_backup");
    let dir = tempfile::tempdir().unwrap();
    let url = source.to_string();
    let args = [
        "backup",
        "--to",
        url.as_str(),
        "--dir",
        dir.path().to_str().unwrap(),
        "--jobs",
        "2",
    ];
    let span = crash::timed_run(&bin(), &args);
    let mut completed = 1;
    let mut tally = crash::Tally::new("backup");
    for point in 0..crash::points(POINTS) {
        let wait = delay(&mut rng, span);
        let mut child = crash::spawn(&bin(), &args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        if let Some(status) = strike.finished {
            assert!(status.success(), "seed {seed} point {point}: backup failed on its own");
            completed += 1;
        }
        assert_eq!(
            complete_backups(dir.path()).len(),
            completed,
            "seed {seed} point {point} ({wait:?}): a killed backup is listed as complete"
        );
        tally.consistent += 1;
        ok(&args);
        completed += 1;
        assert_eq!(complete_backups(dir.path()).len(), completed);
        tally.reruns_completed += 1;
    }
    tally.print();
}

/// Copies one real backup under `count` older ids, so prune has work.
fn many_backups(dir: &Path, real: &Path, count: usize) {
    for i in 0..count {
        let id = format!("20250101T{:02}{:02}00.000Z", i / 60, i % 60);
        let to = dir.join(&id);
        if to.exists() {
            continue;
        }
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(real)
            .arg(&to)
            .status()
            .unwrap();
        assert!(status.success());
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(to.join("manifest.json")).unwrap()).unwrap();
        manifest["id"] = serde_json::Value::String(id.clone());
        std::fs::write(to.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
    }
}

#[test]
fn prune_killed_anywhere_never_removes_the_newest_complete_backup() {
    let seed = crash::seed("prune");
    let mut rng = crash::Rng::new(seed);
    let source = fresh_database("ck_prune");
    source
        .connect()
        .unwrap()
        .batch_execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS a")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap();
    let newest = stdout(&ok(&["backup", "--to", &source.to_string(), "--dir", location]))
        .trim()
        .to_string();
    let newest_id = Path::new(&newest).file_name().unwrap().to_string_lossy().into_owned();
    let args = ["backup", "prune", "--dir", location, "--keep-last", "1"];
    many_backups(dir.path(), Path::new(&newest), 40);
    let span = crash::timed_run(&bin(), &args);
    let mut tally = crash::Tally::new("prune");
    for point in 0..crash::points(POINTS) {
        many_backups(dir.path(), Path::new(&newest), 40);
        let wait = delay(&mut rng, span);
        let mut child = crash::spawn(&bin(), &args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        let listed = complete_backups(dir.path());
        assert!(
            listed.contains(&newest_id),
            "seed {seed} point {point} ({wait:?}): the newest complete backup is gone"
        );
        tally.consistent += 1;
        ok(&args);
        assert_eq!(complete_backups(dir.path()), vec![newest_id.clone()]);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            vec![newest_id.clone()],
            "seed {seed} point {point}: prune left {left:?}"
        );
        tally.reruns_completed += 1;
    }
    tally.print();
}

/// The SQLite file at `path`: None when absent; else its row count, after
/// an integrity check (a partial file fails it or lacks rows).
fn sqlite_rows(path: &Path) -> Option<i64> {
    if !path.exists() {
        return None;
    }
    let conn = Connection::open(path).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok", "{} is damaged", path.display());
    Some(conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap())
}

fn temp_files_beside(path: &Path) -> Vec<String> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&name) && n != &name)
        .collect()
}

#[test]
fn reverse_copy_killed_anywhere_leaves_no_file_or_a_whole_one() {
    let seed = crash::seed("reverse");
    let mut rng = crash::Rng::new(seed);
    let source = fresh_database("ck_reverse");
    source
        .connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, body text, n numeric);
             INSERT INTO items SELECT g, repeat('x', 80) || g, g * 0.5 FROM generate_series(1, 150000) g;",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let to = format!("sqlite:{}", path.display());
    let url = source.to_string();
    let fresh = ["copy", url.as_str(), "--to", to.as_str()];
    let replace = ["copy", url.as_str(), "--to", to.as_str(), "--replace"];
    let span = crash::timed_run(&bin(), &fresh);
    let mut tally = crash::Tally::new("reverse");
    for point in 0..crash::points(POINTS) {
        // Even points write a new file, odd ones replace a whole one that
        // the app left in WAL mode with a transaction not yet checkpointed.
        let replacing = point % 2 == 1;
        let _ = std::fs::remove_file(&path);
        let old_rows = if replacing {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT, n REAL);
                 INSERT INTO items VALUES (1, 'old', 1);",
            )
            .unwrap();
            // The connection stays open, as the app's would: the row is only in the WAL.
            std::mem::forget(conn);
            Some(1)
        } else {
            None
        };
        let args: &[&str] = if replacing { &replace } else { &fresh };
        let wait = delay(&mut rng, span);
        let mut child = crash::spawn(&bin(), args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        let rows = sqlite_rows(&path);
        assert!(
            rows == old_rows || rows == Some(150_000),
            "seed {seed} point {point} ({wait:?}): {} holds {rows:?} rows, neither before ({old_rows:?}) nor whole",
            path.display()
        );
        tally.consistent += 1;
        let out = godwit(&replace);
        assert_exit(&out, 0);
        assert_eq!(sqlite_rows(&path), Some(150_000));
        assert!(
            temp_files_beside(&path).iter().all(|n| !n.contains(".tmp-")),
            "seed {seed} point {point}: temporary files left: {:?}",
            temp_files_beside(&path)
        );
        tally.reruns_completed += 1;
    }
    tally.print();
}

#[test]
fn migrate_killed_anywhere_records_only_what_it_applied_and_releases_its_lock() {
    let seed = crash::seed("migrate");
    let mut rng = crash::Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    let files = [
        (
            "1_items",
            "CREATE TABLE items (id bigint PRIMARY KEY, body text);
             INSERT INTO items SELECT g, repeat('y', 60) FROM generate_series(1, 200000) g;",
            "DROP TABLE items;",
        ),
        (
            "2_items_body",
            "CREATE INDEX items_body ON items (body, id);",
            "DROP INDEX items_body;",
        ),
        (
            "3_tags",
            "CREATE TABLE tags (id int PRIMARY KEY); INSERT INTO tags SELECT generate_series(1, 50000);",
            "DROP TABLE tags;",
        ),
    ];
    for (name, up, down) in files {
        std::fs::write(migrations.join(format!("{name}.up.sql")), up).unwrap();
        std::fs::write(migrations.join(format!("{name}.down.sql")), down).unwrap();
    }
    let mut tally = crash::Tally::new("migrate");
    let mut span = None;
    for point in 0..crash::points(POINTS) {
        let db = fresh_database("ck_migrate");
        let url = db.to_string();
        let dir_arg = migrations.to_str().unwrap();
        let up = ["migrate", "up", "--database-url", url.as_str(), "--dir", dir_arg];
        let down = [
            "migrate",
            "down",
            "--steps",
            "3",
            "--database-url",
            url.as_str(),
            "--dir",
            dir_arg,
        ];
        let span = *span.get_or_insert_with(|| crash::timed_run(&bin(), &up));
        // Odd points kill a `down` from fully applied; even points an `up` from nothing.
        let going_down = point % 2 == 1;
        if going_down && value(&db, "SELECT to_regclass('godwit_migrations') IS NOT NULL AS a") == "false" {
            ok(&up);
        }
        let wait = delay(&mut rng, span);
        let mut child = crash::spawn(&bin(), if going_down { &down } else { &up }, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        // Recorded exactly when applied: each migration's effect against the history.
        let recorded: Vec<String> = if value(&db, "SELECT to_regclass('godwit_migrations') IS NOT NULL AS a") == "true"
        {
            rows(&db, "SELECT version::text AS a FROM godwit_migrations ORDER BY version")
                .into_iter()
                .map(|r| r[0].clone())
                .collect()
        } else {
            Vec::new()
        };
        let applied: Vec<String> = [("1", "items"), ("2", "items_body"), ("3", "tags")]
            .iter()
            .filter(|(_, object)| value(&db, &format!("SELECT to_regclass('{object}') IS NOT NULL AS a")) == "true")
            .map(|(v, _)| v.to_string())
            .collect();
        assert_eq!(
            recorded, applied,
            "seed {seed} point {point} ({wait:?}): the history and the schema disagree"
        );
        if recorded.contains(&"1".to_string()) {
            assert_eq!(value(&db, "SELECT count(*) AS a FROM items"), "200000");
        }
        crash::wait_until("the killed session's advisory lock to go", || {
            crash::advisory_locks(&db) == 0
        });
        tally.consistent += 1;
        ok(&up);
        assert_eq!(value(&db, "SELECT count(*) AS a FROM godwit_migrations"), "3");
        tally.reruns_completed += 1;
        // A database per point: dropped, so a long sweep does not fill the disk.
        server()
            .connect()
            .unwrap()
            .batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", db.dbname))
            .unwrap();
    }
    tally.print();
}

/// Invalid indexes, by name.
fn invalid_indexes(db: &ConnSpec) -> Vec<String> {
    rows(
        db,
        "SELECT c.relname::text AS a FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid ORDER BY 1",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

/// `events` holds a duplicate id: CREATE UNIQUE INDEX CONCURRENTLY fails and
/// leaves `events_id` invalid, as it does in production; then the duplicate
/// goes, so a rebuild can succeed.
fn leave_events_id_invalid(client: &mut postgres::Client) {
    assert!(
        client
            .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY events_id ON events (id)")
            .is_err()
    );
    client
        .batch_execute("DELETE FROM events WHERE body = 'duplicate'")
        .unwrap();
}

#[test]
fn maintain_killed_anywhere_leaves_no_invalid_index_unreported() {
    let seed = crash::seed("maintain");
    let mut rng = crash::Rng::new(seed);
    let db = fresh_database("ck_maintain");
    let url = db.to_string();
    let args = ["maintain", "--to", url.as_str()];
    let mut tally = crash::Tally::new("maintain");
    let mut span = None;
    for point in 0..crash::points(POINTS) {
        // An invalid index, as a failed CREATE UNIQUE INDEX CONCURRENTLY leaves it.
        let mut client = db.connect().unwrap();
        client
            .batch_execute(
                "DROP TABLE IF EXISTS events;
                 CREATE TABLE events (id int, body text);
                 INSERT INTO events SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
                 INSERT INTO events VALUES (1, 'duplicate');",
            )
            .unwrap();
        leave_events_id_invalid(&mut client);
        assert_eq!(invalid_indexes(&db), vec!["events_id".to_string()]);
        let span = *span.get_or_insert_with(|| {
            let span = crash::timed_run(&bin(), &args);
            assert!(invalid_indexes(&db).is_empty());
            span
        });
        if point == 0 {
            // The timing run repaired it: make it invalid again.
            client
                .batch_execute("DROP INDEX events_id; INSERT INTO events VALUES (1, 'duplicate')")
                .unwrap();
            leave_events_id_invalid(&mut client);
        }
        let wait = delay(&mut rng, span);
        let mut child = crash::spawn(&bin(), &args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        // Whatever invalid index the kill left, maintain's plan names it.
        crash::wait_until("the killed session to end", || {
            value(
                &db,
                "SELECT count(*) AS a FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'",
            ) == "0"
        });
        let invalid = invalid_indexes(&db);
        let plan = stdout(&godwit(&["maintain", "--to", &url, "--dry-run", "--json"]));
        for index in &invalid {
            assert!(
                plan.contains(index.as_str()),
                "seed {seed} point {point} ({wait:?}): invalid index {index} is not in maintain's plan:\n{plan}"
            );
        }
        tally.consistent += 1;
        let rerun = godwit(&args);
        assert!(
            matches!(rerun.status.code(), Some(0 | 3)),
            "seed {seed} point {point}: {}",
            stderr(&rerun)
        );
        assert!(
            invalid_indexes(&db).is_empty(),
            "seed {seed} point {point}: {:?}",
            invalid_indexes(&db)
        );
        tally.reruns_completed += 1;
    }
    tally.print();
}

/// Rows of `events` accounted for: attached, in a detached partition kept
/// in the database, or in a complete archive of a partition that is gone.
/// Returns (rows, sum of ids), each row counted once.
fn archive_accounting(db: &ConnSpec, store: &Path) -> (i64, i64) {
    let mut client = db.connect().unwrap();
    let live: (i64, i64) = client
        .query_one("SELECT count(*), coalesce(sum(id), 0)::bigint FROM events", &[])
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    let mut total = live;
    let kept: Vec<String> = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relname LIKE 'events\\_p%' AND relkind = 'r' AND NOT relispartition",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in &kept {
        let (n, s): (i64, i64) = client
            .query_one(
                &format!("SELECT count(*), coalesce(sum(id), 0)::bigint FROM \"{table}\""),
                &[],
            )
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        total = (total.0 + n, total.1 + s);
    }
    let attached: Vec<String> = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relname LIKE 'events\\_p%' AND relispartition",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // A partition gone from the database must be in a complete archive;
    // its rows are read back from the archive's manifest (counts) and the
    // archive's own test restore proved them.
    let mut seen = std::collections::BTreeSet::new();
    for id in complete_backups(store) {
        let about: serde_json::Value =
            serde_json::from_slice(&std::fs::read(store.join(&id).join("archive.json")).unwrap()).unwrap();
        let partition = about["partition"].as_str().unwrap().to_string();
        if kept.contains(&partition) || attached.contains(&partition) || !seen.insert(partition.clone()) {
            continue;
        }
        // Its rows, restored from the archive into a scratch table, by id.
        let restored = fresh_database("ck_archive_check");
        let out = godwit(&[
            "restore",
            "--archive",
            store.join(&id).to_str().unwrap(),
            "--to",
            &restored.to_string(),
        ]);
        // The parent is missing in the scratch database: restore proves and
        // then fails to attach, leaving the proven table to read.
        assert!(
            stderr(&out).contains("restored and proven"),
            "archive {id}: {}",
            stderr(&out)
        );
        let (n, s): (i64, i64) = restored
            .connect()
            .unwrap()
            .query_one(
                &format!("SELECT count(*), coalesce(sum(id), 0)::bigint FROM \"{partition}\""),
                &[],
            )
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        total = (total.0 + n, total.1 + s);
    }
    total
}

#[test]
fn archive_killed_anywhere_loses_no_row() {
    let seed = crash::seed("archive");
    let mut rng = crash::Rng::new(seed);
    let work = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        work.path(),
        "events.db",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, body TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO events SELECT i, datetime('2020-01-01', '+' || (i % 731) || ' days'), hex(randomblob(20)) FROM n;",
    );
    let config = work.path().join("godwit.toml");
    std::fs::write(
        &config,
        "[tables.events]\npartition_by = \"at\"\ninterval = \"year\"\npartman = false\npartition_key_in_keys = true\n",
    )
    .unwrap();
    let expected: (i64, i64) = (20000, 20000 * 20001 / 2);
    // 2020 and 2021 end before 2022-06-01.
    let days = (chrono::Utc::now().date_naive() - chrono::NaiveDate::from_ymd_opt(2022, 6, 1).unwrap()).num_days();
    let age = format!("{days}days");
    let mut tally = crash::Tally::new("maintain --archive");
    let mut span = None;
    for point in 0..crash::points(POINTS) {
        let db = fresh_database("ck_archive");
        let url = db.to_string();
        assert_exit(&copy(&app, &db, &["--config", config.to_str().unwrap()]), 0);
        let store = work.path().join(format!("archive-{point}"));
        let args = [
            "maintain",
            "--to",
            url.as_str(),
            "--archive-older-than",
            age.as_str(),
            "--archive-to",
            store.to_str().unwrap(),
        ];
        if span.is_none() {
            // Time an undisturbed run on a database of its own.
            let timing = fresh_database("ck_archive_timing");
            assert_exit(&copy(&app, &timing, &["--config", config.to_str().unwrap()]), 0);
            let timing_url = timing.to_string();
            let timing_store = work.path().join("archive-timing");
            span = Some(crash::timed_run(
                &bin(),
                &[
                    "maintain",
                    "--to",
                    timing_url.as_str(),
                    "--archive-older-than",
                    age.as_str(),
                    "--archive-to",
                    timing_store.to_str().unwrap(),
                ],
            ));
        }
        let wait = delay(&mut rng, span.unwrap_or_default());
        let mut child = crash::spawn(&bin(), &args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        assert_eq!(
            archive_accounting(&db, &store),
            expected,
            "seed {seed} point {point} ({wait:?}): rows lost or doubled by a killed archive run"
        );
        tally.consistent += 1;
        ok(&args);
        let client_rows = value(&db, "SELECT count(*) AS a FROM events");
        assert_eq!(
            archive_accounting(&db, &store),
            expected,
            "seed {seed} point {point}: after the rerun"
        );
        assert_eq!(
            value(
                &db,
                "SELECT count(*) AS a FROM godwit.partition_archive WHERE state <> 'dropped'"
            ),
            "0",
            "seed {seed} point {point}: the rerun left a partition between steps ({client_rows} rows attached)"
        );
        tally.reruns_completed += 1;
    }
    tally.print();
}
