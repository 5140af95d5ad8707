//! Real hot standbys (`godwit local start --replicas 2` on a private
//! cluster): what health says when one is killed or paused, and godwit's
//! commands against a promoted one. One cluster for the file, its steps in
//! order, to keep the test quick.

mod cluster_support;

use cluster_support::{PrivateCluster, check, corpus, health, scalar, wait_until};

fn streaming(primary: &godwit::postgres::conn::ConnSpec) -> usize {
    scalar(
        primary,
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
    )
    .parse()
    .unwrap()
}

#[test]
fn standbys_killed_paused_and_promoted() {
    let cluster = PrivateCluster::start("replicas", &["--replicas", "2"]);
    let primary = cluster.url(&[]);
    let first = cluster.url(&["--replica", "1"]);
    let second = cluster.url(&["--replica", "2"]);
    assert_ne!(first.to_string(), second.to_string());
    wait_until("both standbys stream", || streaming(&primary) == 2);
    // Status names both standbys.
    let status = String::from_utf8_lossy(&cluster.godwit(&["local", "status"]).stdout).into_owned();
    assert!(
        status.contains("replica 1: running") && status.contains("replica 2: running"),
        "{status}"
    );

    // Healthy: every replication check OK on the primary and on a standby.
    let (code, report) = health(&cluster, &primary, &["--threshold", "replicas=2"]);
    for name in ["replication", "replication_lag_bytes", "replicas", "replication_slots"] {
        assert_eq!(
            check(&report, name)["status"],
            "ok",
            "{name} on the primary: {report:#}"
        );
    }
    assert_eq!(check(&report, "replicas")["value"], 2.0);
    assert!(code <= 1, "{report:#}");
    let (_, report) = health(&cluster, &first, &[]);
    let receiver = check(&report, "standby_receiver");
    assert_eq!(receiver["status"], "ok", "{report:#}");
    assert!(
        receiver["message"].as_str().unwrap().contains("streaming"),
        "{receiver:#}"
    );
    assert_eq!(check(&report, "replay_paused")["status"], "ok");

    // A monitoring role (pg_monitor, no superuser) sees every replication
    // check on both sides.
    let mut admin = primary.connect().unwrap();
    admin
        .batch_execute("CREATE ROLE watcher LOGIN IN ROLE pg_monitor")
        .unwrap();
    let created = scalar(&primary, "SELECT pg_current_wal_lsn()");
    wait_until("standby 1 has the role", || {
        scalar(
            &first,
            &format!("SELECT pg_last_wal_replay_lsn() >= '{created}'::pg_lsn"),
        ) == "t"
    });
    let as_watcher = |spec: &godwit::postgres::conn::ConnSpec| {
        godwit::postgres::conn::ConnSpec::parse(&spec.to_string().replacen("postgres@", "watcher@", 1)).unwrap()
    };
    let (_, report) = health(&cluster, &as_watcher(&primary), &["--threshold", "replicas=2"]);
    for name in ["replication", "replication_lag_bytes", "replicas", "replication_slots"] {
        assert_eq!(check(&report, name)["status"], "ok", "{name} as pg_monitor: {report:#}");
    }
    let (_, report) = health(&cluster, &as_watcher(&first), &[]);
    for name in [
        "replication",
        "replication_lag_bytes",
        "standby_receiver",
        "replay_paused",
    ] {
        assert_eq!(
            check(&report, name)["status"],
            "ok",
            "{name} as pg_monitor on a standby: {report:#}"
        );
    }

    // The app's data on the primary, streamed to both standbys.
    let chinook = corpus("Chinook_Sqlite.sqlite");
    let chinook = chinook.to_str().unwrap();
    let primary_url = primary.to_string();
    let out = cluster.godwit(&["copy", chinook, "--to", &primary_url]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = scalar(&primary, "SELECT pg_current_wal_lsn()");
    wait_until("standby 1 replayed the copy", || {
        scalar(
            &first,
            &format!("SELECT pg_last_wal_replay_lsn() >= '{copied}'::pg_lsn"),
        ) == "t"
    });

    // workload --read-replica: the read classes run on both sides, with
    // the standby's lag sampled.
    let queries = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/workload/chinook-queries.sql"
    );
    let first_url = first.to_string();
    let out = cluster.godwit(&[
        "workload",
        chinook,
        "--queries",
        queries,
        "--to",
        &primary_url,
        "--read-replica",
        &first_url,
        "--target-only",
        "--clients",
        "2",
        "--count",
        "5",
        "--warmup",
        "0s",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for class in report["classes"].as_array().unwrap() {
        assert!(
            class["latency"]["target"]["2"]["executions"].as_u64().unwrap() > 0,
            "{class:#}"
        );
        assert!(
            class["latency"]["replica"]["2"]["executions"].as_u64().unwrap() > 0,
            "{class:#}"
        );
    }
    assert!(
        report["summary"]["replica_lag"]["samples"].as_u64().is_some(),
        "{:#}",
        report["summary"]
    );
    // The primary is no read replica.
    let out = cluster.godwit(&[
        "workload",
        chinook,
        "--queries",
        queries,
        "--to",
        &primary_url,
        "--read-replica",
        &primary_url,
        "--target-only",
        "--clients",
        "1",
        "--count",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a standby"));

    // backup --from-standby: the manifest says where the standby stood, and
    // restore's proof holds against a restore on the primary.
    let backups = cluster.home.join("backups");
    let backups_dir = backups.to_str().unwrap();
    let out = cluster.godwit(&[
        "backup",
        "--dir",
        backups_dir,
        "--from-standby",
        &first_url,
        "--to",
        &primary_url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let id = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .find(|e| e.path().join("manifest.json").exists())
        .expect("a complete backup")
        .path();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(id.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest["standby"]["replay_lsn"].as_str().unwrap().contains('/'),
        "{manifest:#}"
    );
    assert_eq!(
        manifest["standby"]["system_identifier"],
        scalar(&primary, "SELECT system_identifier::text FROM pg_control_system()")
    );
    let restored = primary.with_dbname("restored_from_standby").to_string();
    let out = cluster.godwit(&["restore", id.to_str().unwrap(), "--to", &restored]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        scalar(
            &primary.with_dbname("restored_from_standby"),
            "SELECT count(*) FROM \"Track\""
        ),
        "3503"
    );
    let out = cluster.godwit(&["backup", "--dir", backups_dir, "--from-standby", &primary_url]);
    assert_eq!(out.status.code(), Some(2), "the primary is no standby");

    // Pause replay on standby 1, write on the primary: the lag grows and
    // both sides say so.
    let mut writer = primary.connect().unwrap();
    scalar(&first, "SELECT pg_wal_replay_pause()");
    wait_until("replay is paused", || {
        scalar(&first, "SELECT pg_get_wal_replay_pause_state()") == "paused"
    });
    writer
        .batch_execute(
            "CREATE TABLE lag_probe AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 100000) g",
        )
        .unwrap();
    let written = scalar(&primary, "SELECT pg_current_wal_lsn()");
    wait_until("standby 1 received the writes", || {
        scalar(
            &first,
            &format!("SELECT pg_last_wal_receive_lsn() >= '{written}'::pg_lsn"),
        ) == "t"
    });
    let (code, report) = health(&cluster, &primary, &["--threshold", "replication_lag_bytes=1MB,1GB"]);
    let lag = check(&report, "replication_lag_bytes");
    assert_eq!(lag["status"], "warning", "{lag:#}");
    assert!(lag["value"].as_f64().unwrap() > 1_000_000.0, "{lag:#}");
    assert!(
        lag["details"].to_string().contains("godwit_replica_1"),
        "the lagging standby is named: {lag:#}"
    );
    assert_ne!(code, 0, "health is not OK while a standby lags: {report:#}");
    let (_, report) = health(&cluster, &first, &["--threshold", "replication_lag_bytes=1MB,1GB"]);
    assert_eq!(check(&report, "replay_paused")["status"], "warning", "{report:#}");
    let standby_lag = check(&report, "replication_lag_bytes");
    assert_eq!(standby_lag["status"], "warning", "{standby_lag:#}");
    let behind = check(&report, "replication");
    assert!(
        behind["value"].as_f64().unwrap() > 0.0,
        "replay is behind in time: {behind:#}"
    );
    scalar(&first, "SELECT pg_wal_replay_resume()");
    wait_until("standby 1 caught up", || {
        scalar(
            &first,
            &format!("SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn"),
        ) == "t"
    });
    let (_, report) = health(&cluster, &first, &[]);
    assert_eq!(check(&report, "replay_paused")["status"], "ok", "{report:#}");

    // Kill standby 2: missing against replicas=2 is CRITICAL, its slot
    // now keeps WAL (a warning), and the standby itself is unreachable.
    cluster.kill(Some(2));
    wait_until("the primary sees standby 2 gone", || streaming(&primary) == 1);
    let (code, report) = health(&cluster, &primary, &["--threshold", "replicas=2"]);
    let replicas = check(&report, "replicas");
    assert_eq!(replicas["status"], "critical", "{replicas:#}");
    assert!(
        replicas["message"].as_str().unwrap().contains("1 missing"),
        "{replicas:#}"
    );
    let slots = check(&report, "replication_slots");
    assert_eq!(slots["status"], "warning", "{slots:#}");
    assert!(
        slots["message"].as_str().unwrap().contains("godwit_replica_2"),
        "{slots:#}"
    );
    assert_eq!(code, 2, "{report:#}");
    let (code, report) = health(&cluster, &second, &["--connect-timeout", "2s"]);
    assert_eq!(code, 2, "the killed standby: {report:#}");
    assert_eq!(check(&report, "connection")["status"], "critical");

    // Promote standby 1 and point godwit at it: copy, verify and health work.
    scalar(&first, "SELECT pg_promote()");
    wait_until("standby 1 is promoted", || {
        scalar(&first, "SELECT pg_is_in_recovery()") == "f"
    });
    let url = first.to_string();
    let out = cluster.godwit(&["copy", chinook, "--to", &url, "--replace", "--verify"]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "copy --verify to the promoted standby: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(scalar(&first, "SELECT count(*) FROM \"Track\""), "3503");
    let out = cluster.godwit(&["verify", chinook, "--to", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, report) = health(&cluster, &first, &[]);
    assert!(code <= 1, "{report:#}");
    assert!(
        check(&report, "standby_receiver")["message"]
            .as_str()
            .unwrap()
            .contains("primary"),
        "{report:#}"
    );
}
