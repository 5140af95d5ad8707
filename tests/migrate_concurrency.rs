//! Several runners at once, the lock timeout, and Ctrl-C during `up`.

mod common;
#[path = "migrate_support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Project, code, expect_code};

#[test]
fn six_concurrent_runners_apply_each_migration_exactly_once() {
    let project = Project::new("mig_six");
    project
        .client()
        .batch_execute("CREATE TABLE runs (migration text NOT NULL, pid int NOT NULL DEFAULT pg_backend_pid())")
        .unwrap();
    project.write(
        1,
        "users",
        "CREATE TABLE users (id int, email text);\nINSERT INTO runs VALUES ('1');",
        None,
    );
    project.write(2, "slow", "SELECT pg_sleep(0.5);\nINSERT INTO runs VALUES ('2');", None);
    // CONCURRENTLY while five other runners wait for the lock: with a
    // blocking pg_advisory_lock this deadlocks (Flyway #1654).
    project.write(
        3,
        "email_index",
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\nINSERT INTO runs VALUES ('3');",
        None,
    );
    project.write(
        4,
        "seed",
        "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 1000) g;\nINSERT INTO runs VALUES ('4');",
        None,
    );
    project.write(
        5,
        "orders",
        "CREATE TABLE orders (id int);\nINSERT INTO runs VALUES ('5');",
        None,
    );

    let started = Instant::now();
    let children: Vec<_> = (0..6)
        .map(|_| {
            project
                .command("up", &["--lock-timeout", "60"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn godwit")
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let elapsed = started.elapsed();
    for out in &outputs {
        expect_code(out, 0);
    }
    assert!(elapsed < Duration::from_secs(30), "runners took {elapsed:?}");
    let applied_by_runners: usize = outputs
        .iter()
        .map(|o| common::stdout(o).lines().filter(|l| l.starts_with("applied ")).count())
        .sum();
    assert_eq!(applied_by_runners, 5, "each migration applied by exactly one runner");
    assert_eq!(
        project.history().iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let runs: Vec<(String, i64)> = project
        .client()
        .query("SELECT migration, count(*) FROM runs GROUP BY 1 ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        runs,
        (1..=5).map(|v| (v.to_string(), 1)).collect::<Vec<_>>(),
        "every migration body ran exactly once"
    );
    assert_eq!(project.scalar_i64("SELECT count(*) FROM users"), 1000);
    assert!(project.table_exists("users_email"));
}

#[test]
fn a_runner_gives_up_after_the_lock_timeout() {
    let project = Project::new("mig_locktimeout");
    project.write(1, "slow", "SELECT pg_sleep(10);", None);
    let mut holder = project
        .command("up", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let waiter = project.run("up", &["--lock-timeout", "1"]);
    expect_code(&waiter, 1);
    // It gave up while the holder still applied, rather than waiting it out
    // (no clock: a loaded machine makes any bound flaky).
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the waiter returned only after the holder finished"
    );
    assert!(
        common::stderr(&waiter).contains("held the migration lock"),
        "{}",
        common::stderr(&waiter)
    );
    let holder = holder.wait_with_output().unwrap();
    expect_code(&holder, 0);
    assert_eq!(project.history().len(), 1);
}

#[test]
fn ctrl_c_during_up_rolls_back_and_does_not_exit_zero() {
    let project = Project::new("mig_sigint");
    project.write(1, "fast", "CREATE TABLE fast (id int);", None);
    project.write(2, "slow", "CREATE TABLE slow (id int);\nSELECT pg_sleep(30);", None);
    let child = project
        .command("up", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until migration 2 is running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while project.scalar_i64("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'") == 0 {
        assert!(Instant::now() < deadline, "migration 2 never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?} to stop",
        started.elapsed()
    );
    assert_eq!(code(&out), 1, "stderr: {}", common::stderr(&out));
    assert!(common::stderr(&out).contains("interrupted"), "{}", common::stderr(&out));
    assert_eq!(project.history(), vec![(1, "fast".into())]);
    assert!(
        !project.table_exists("slow"),
        "the interrupted migration must roll back"
    );
}

#[test]
fn ctrl_c_while_waiting_for_the_lock_applies_nothing() {
    let project = Project::new("mig_sigint_wait");
    // The first runner holds the migration lock for as long as the test
    // holds `gate`, not for a fixed time: a loaded machine cannot make it
    // let go before the second runner is waiting.
    let mut gate = project.client();
    gate.batch_execute("CREATE TABLE gate (x int)").unwrap();
    gate.batch_execute("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    project.write(1, "gated", "SELECT count(*) FROM gate;", None);
    let holder = project
        .command("up", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while project.scalar_i64("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT count(*) FROM gate%'") == 0
    {
        assert!(Instant::now() < deadline, "holder never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut waiter = project
        .command("up", &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The waiter says so once it has polled the lock for two seconds: its
    // Ctrl-C handler is in place by then.
    let mut said = String::new();
    let mut lines = std::io::BufReader::new(waiter.stderr.take().unwrap());
    while !said.contains("waiting for another runner") {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut lines, &mut line).unwrap();
        assert!(read > 0, "the waiter ended without waiting: {said}");
        said.push_str(&line);
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &waiter.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let waited = waiter.wait_with_output().unwrap();
    std::io::Read::read_to_string(lines.get_mut(), &mut said).unwrap();
    assert_eq!(code(&waited), 1, "{said}");
    assert!(
        said.contains("interrupted while waiting for the migration lock"),
        "{said}"
    );
    gate.batch_execute("COMMIT").unwrap();
    expect_code(&holder.wait_with_output().unwrap(), 0);
    assert_eq!(project.history(), vec![(1, "gated".into())]);
}
