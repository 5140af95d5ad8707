//! The crash harness's server faults, on a cluster of the test's own (a
//! restart would break the other tests on the shared one): a PostgreSQL
//! fast restart in the middle of restore, backup, migrate and sync, and the
//! target's disk running full (a small tmpfs tablespace) under restore and
//! copy. Each time: a consistent state, a message saying what state things
//! are in, and a rerun that completes.

mod common;
mod crash_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{assert_exit, godwit_bin, stderr, stdout};
use crash_support as crash;
use godwit::postgres::conn::ConnSpec;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(godwit_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run godwit")
}

fn spawn_piped(args: &[&str]) -> Child {
    Command::new(godwit_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start godwit")
}

/// Waits for the child to end (bounded: a hang fails) and returns its exit code and stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let mut status = None;
    crash::wait_until("the command to end after the fault", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    (status.unwrap().code(), reader.join().unwrap())
}

/// Runs `sql` on a new connection, retrying while the server restarts.
fn try_query(db: &ConnSpec, sql: &str) -> Option<String> {
    let mut client = db.connect().ok()?;
    let row = client.query_one(sql, &[]).ok()?;
    Some(row.get::<_, Option<String>>(0).unwrap_or_default())
}

fn create_database(server: &ConnSpec, name: &str, extra: &str) -> ConnSpec {
    let mut client = server.connect().unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name} {extra}"))
        .unwrap();
    server.with_dbname(name)
}

fn fill(db: &ConnSpec, rows: u32) {
    db.connect()
        .unwrap()
        .batch_execute(&format!(
            "CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE, body text);
             INSERT INTO users SELECT g, 'u' || g || '@example.org', repeat(md5(g::text), 4)
               FROM generate_series(1, {rows}) g;
             CREATE TABLE orders (id serial PRIMARY KEY, user_id bigint REFERENCES users, total numeric);
             INSERT INTO orders (user_id, total) SELECT 1 + g % {rows}, g * 0.01 FROM generate_series(1, {rows}) g;"
        ))
        .unwrap();
}

fn scratch_databases(server: &ConnSpec, target: &str) -> Vec<String> {
    let mut client = server.connect().unwrap();
    client
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1",
            &[&format!("{target}%godwit%")],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn complete_backups(dir: &Path) -> usize {
    let out = run(&["backup", "list", "--dir", dir.to_str().unwrap(), "--json"]);
    assert_exit(&out, 0);
    let listing: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    listing["backups"].as_array().unwrap().len()
}

#[test]
fn a_server_restart_mid_command_leaves_a_consistent_state_and_a_rerun_completes() {
    let seed = crash::seed("server-restart");
    let mut rng = crash::Rng::new(seed);
    let cluster = crash::PrivateCluster::start(&godwit_bin(), "restart");
    let server = ConnSpec::parse(&cluster.url).unwrap();
    let source = create_database(&server, "app", "");
    fill(&source, 80_000);
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_string();
    let source_url = source.to_string();
    let backup_args = [
        "backup",
        "--to",
        source_url.as_str(),
        "--dir",
        location.as_str(),
        "--jobs",
        "2",
    ];
    let out = run(&backup_args);
    assert_exit(&out, 0);
    let backup = stdout(&out).trim().to_string();
    let restored = crash::table_digests(&source);
    let target = create_database(&server, "target", "");
    let target_url = target.to_string();
    let restore_args = [
        "restore",
        backup.as_str(),
        "--to",
        target_url.as_str(),
        "--replace",
        "--jobs",
        "2",
    ];
    let mut tally = crash::Tally::new("restart");

    // Restarts are slow (a stop and a start each): a tenth of the sweep's points.
    for point in 0..(crash::points(20) / 10).max(2) {
        // restore: the restart lands while pg_restore writes the scratch database.
        target
            .connect()
            .unwrap()
            .batch_execute(&format!("CREATE TABLE marker_{point} (a int)"))
            .unwrap();
        let before = crash::table_digests(&target);
        let child = spawn_piped(&restore_args);
        crash::wait_until("the scratch database", || {
            try_query(
                &server,
                "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'target_godwit_restore_%'",
            )
            .is_some_and(|s| !s.is_empty())
        });
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        cluster.restart();
        let (code, err) = finish(child);
        tally.tried += 1;
        let after = crash::table_digests(&target);
        assert!(
            after == before || after == restored,
            "seed {seed} point {point}: restore: {err}"
        );
        if code != Some(0) {
            tally.killed += 1;
            assert_eq!(code, Some(1), "{err}");
            assert!(
                err.contains("target is unchanged") && err.contains("Run the same restore again"),
                "restore does not say what state the target is in and what to run next:\n{err}"
            );
            assert_eq!(after, before);
        }
        tally.consistent += 1;
        assert_exit(&run(&restore_args), 0);
        assert_eq!(crash::table_digests(&target), restored);
        assert!(scratch_databases(&server, "target").is_empty());
        tally.reruns_completed += 1;

        // backup: the restart lands while pg_dump writes.
        let complete = complete_backups(dir.path());
        let child = spawn_piped(&backup_args);
        crash::wait_until("the backup to start writing", || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        });
        std::thread::sleep(Duration::from_millis(rng.below(200)));
        cluster.restart();
        let (code, err) = finish(child);
        tally.tried += 1;
        let expected = complete + usize::from(code == Some(0));
        assert_eq!(
            complete_backups(dir.path()),
            expected,
            "seed {seed} point {point}: backup: {err}"
        );
        if code != Some(0) {
            tally.killed += 1;
            assert_eq!(code, Some(1), "{err}");
            assert!(err.contains("run the same command again"), "{err}");
        }
        tally.consistent += 1;
        assert_exit(&run(&backup_args), 0);
        assert_eq!(complete_backups(dir.path()), expected + 1);
        tally.reruns_completed += 1;
    }

    // migrate: the restart lands during a long migration.
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_big.up.sql"),
        "CREATE TABLE big AS SELECT g AS id, repeat('z', 100) AS body FROM generate_series(1, 3000000) g;",
    )
    .unwrap();
    std::fs::write(migrations.join("2_small.up.sql"), "CREATE TABLE small (id int);").unwrap();
    let app = create_database(&server, "migrated", "");
    let app_url = app.to_string();
    let migrate_args = [
        "migrate",
        "up",
        "--database-url",
        app_url.as_str(),
        "--dir",
        migrations.to_str().unwrap(),
    ];
    let child = spawn_piped(&migrate_args);
    crash::wait_until("the migration to run", || {
        try_query(
            &app,
            "SELECT count(*)::text FROM pg_stat_activity WHERE query LIKE 'CREATE TABLE big%' AND state = 'active'",
        )
        .is_some_and(|n| n != "0")
    });
    cluster.restart();
    let (code, err) = finish(child);
    tally.tried += 1;
    assert_ne!(code, Some(0), "the migration cannot have finished: {err}");
    let recorded = try_query(
        &app,
        "SELECT CASE WHEN to_regclass('godwit_migrations') IS NULL THEN '' ELSE
                (SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') FROM godwit_migrations) END",
    )
    .unwrap();
    let big = try_query(&app, "SELECT (to_regclass('big') IS NOT NULL)::text").unwrap();
    assert_eq!((recorded.as_str(), big.as_str()), ("", "false"), "half-applied: {err}");
    assert_eq!(crash::advisory_locks(&app), 0);
    tally.killed += 1;
    tally.consistent += 1;
    assert_exit(&run(&migrate_args), 0);
    assert_eq!(
        try_query(&app, "SELECT count(*)::text FROM godwit_migrations").unwrap(),
        "2"
    );
    tally.reruns_completed += 1;
    tally.print();
}

/// A tablespace on a tmpfs of `megabytes`, or None where mounting is not allowed.
fn small_tablespace(
    cluster: &crash::PrivateCluster,
    server: &ConnSpec,
    name: &str,
    megabytes: u32,
) -> Option<crash::SmallDisk> {
    let dir = PathBuf::from(format!("/tmp/godwit-crash-disk-{name}-{}", std::process::id()));
    let owner = crash::owner_of(&cluster.data_dir());
    let disk = crash::SmallDisk::mount(&dir, megabytes, &owner)?;
    server
        .connect()
        .unwrap()
        .batch_execute(&format!("CREATE TABLESPACE {name} LOCATION '{}'", dir.display()))
        .unwrap();
    Some(disk)
}

fn grow(disk: &crash::SmallDisk, megabytes: u32) {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,size={megabytes}m")])
        .arg(&disk.dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_full_disk_fails_cleanly_and_a_rerun_completes_once_there_is_room() {
    let cluster = crash::PrivateCluster::start(&godwit_bin(), "disk");
    let server = ConnSpec::parse(&cluster.url).unwrap();
    let Some(restore_disk) = small_tablespace(&cluster, &server, "small_restore", 6) else {
        eprintln!("this machine does not allow mounting a tmpfs: the full-disk faults are not run here");
        return;
    };
    let copy_disk = small_tablespace(&cluster, &server, "small_copy", 6).unwrap();

    // restore into a database whose tablespace is full.
    let source = create_database(&server, "app", "");
    fill(&source, 80_000);
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "backup",
        "--to",
        &source.to_string(),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    let backup = stdout(&out).trim().to_string();
    let target = create_database(&server, "target", "TABLESPACE small_restore");
    target
        .connect()
        .unwrap()
        .batch_execute("CREATE TABLE precious AS SELECT 1 AS a")
        .unwrap();
    let before = crash::table_digests(&target);
    let restore_args = ["restore", backup.as_str(), "--to", &target.to_string(), "--replace"];
    let out = run(&restore_args);
    assert_exit(&out, 1);
    let err = stderr(&out);
    // PostgreSQL words a full disk two ways (ENOSPC, or a short write with
    // "Check free disk space"): godwit names it the same in its own words.
    assert!(
        err.contains("the server's disk is full (No space left on device)"),
        "{err}"
    );
    assert!(err.contains("target is unchanged"), "{err}");
    assert_eq!(crash::table_digests(&target), before);
    // With the disk full the server cannot checkpoint, so DROP DATABASE
    // fails too: godwit says so rather than leaving it in silence...
    let left = scratch_databases(&server, "target");
    for name in &left {
        assert!(
            err.contains(&format!("could not drop the scratch database {name}")),
            "{err}"
        );
    }
    grow(&restore_disk, 200);
    // ...and once there is room, the rerun drops it and completes.
    let out = run(&restore_args);
    assert_exit(&out, 0);
    for name in &left {
        assert!(stderr(&out).contains(&format!("dropped {name}")), "{}", stderr(&out));
    }
    assert!(scratch_databases(&server, "target").is_empty());
    assert_eq!(crash::table_digests(&target), crash::table_digests(&source));
    assert_eq!(
        try_query(
            &target,
            "SELECT spcname::text FROM pg_tablespace t JOIN pg_database d ON d.dattablespace = t.oid WHERE datname = 'target'"
        )
        .unwrap(),
        "small_restore",
        "the restored database takes the replaced one's tablespace"
    );

    // copy into a database whose tablespace is full.
    let files = tempfile::tempdir().unwrap();
    let sqlite = common::sqlite_file(
        files.path(),
        "app.db",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000)
         INSERT INTO items SELECT i, printf('%.100c', 'x') || i FROM s;",
    );
    let copied = create_database(&server, "copied", "TABLESPACE small_copy");
    let out = common::copy(&sqlite, &copied, &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("the server's disk is full (No space left on device)"),
        "{}",
        stderr(&out)
    );
    assert!(
        crash::table_digests(&copied).is_empty(),
        "a failed copy leaves no table"
    );
    grow(&copy_disk, 200);
    assert_exit(&common::copy(&sqlite, &copied, &[]), 0);
    assert_eq!(
        try_query(&copied, "SELECT count(*)::text FROM items").unwrap(),
        "100000"
    );
    // Before the disks go: nothing of the cluster may stay on them.
    let mut admin = server.connect().unwrap();
    admin.batch_execute("DROP DATABASE target WITH (FORCE)").unwrap();
    admin.batch_execute("DROP DATABASE copied WITH (FORCE)").unwrap();
    admin.batch_execute("DROP TABLESPACE small_restore").unwrap();
    admin.batch_execute("DROP TABLESPACE small_copy").unwrap();
}
