//! godwit through PgBouncer in transaction mode (`godwit local start
//! --pooler`, a private cluster with max_connections lowered): the
//! read-only commands work through it, the ones that need one server
//! session for their whole run refuse and change nothing, nothing godwit
//! sets or prepares is left behind in a pooled server session, `health
//! --pooler` reads PgBouncer's pools, and a workload level that direct
//! connections cannot reach still answers through the pooler.

mod cluster_support;

use cluster_support::{PrivateCluster, check, corpus, health, scalar};
use godwit::postgres::conn::ConnSpec;

/// A refusal: exit 2, in our words, naming the pooler.
fn assert_refused(out: &std::process::Output, command: &str, needs: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{command} through the pooler: {stderr}");
    assert!(stderr.contains("transaction-pooling proxy"), "{stderr}");
    assert!(
        stderr.contains(needs),
        "{command} names what needs the session: {stderr}"
    );
}

/// No session state of godwit's in any pooled server session: each of
/// `sessions` clients holds a transaction open so that they see distinct
/// server sessions.
fn assert_nothing_left_behind(pooled: &ConnSpec, sessions: usize) {
    let mut clients: Vec<postgres::Client> = (0..sessions).map(|_| pooled.connect().unwrap()).collect();
    let mut pids = std::collections::BTreeSet::new();
    for client in &mut clients {
        client.batch_execute("BEGIN").unwrap();
        let row = client
            .query_one(
                "SELECT pg_backend_pid(), current_setting('default_transaction_read_only'), \
                        current_setting('statement_timeout'), current_setting('search_path'), \
                        current_setting('jit'), (SELECT count(*) FROM pg_prepared_statements)",
                &[],
            )
            .unwrap();
        let pid: i32 = row.get(0);
        pids.insert(pid);
        assert_eq!(row.get::<_, String>(1), "off", "session {pid}: read-only left behind");
        assert_eq!(
            row.get::<_, String>(2),
            "0",
            "session {pid}: statement_timeout left behind"
        );
        assert_eq!(
            row.get::<_, String>(3),
            "\"$user\", public",
            "session {pid}: search_path left behind"
        );
        assert_eq!(row.get::<_, String>(4), "on", "session {pid}: jit left behind");
        // This very query is the one statement prepared in the session.
        assert!(
            row.get::<_, i64>(5) <= 1,
            "session {pid}: prepared statements left behind"
        );
    }
    assert!(pids.len() > 1, "the check saw several server sessions: {pids:?}");
    for client in &mut clients {
        client.batch_execute("ROLLBACK").unwrap();
    }
}

#[test]
fn godwit_through_a_transaction_pooler() {
    let cluster = PrivateCluster::start("pooler", &["--pooler", "--max-connections", "40"]);
    let direct = cluster.url(&[]);
    let pooled = cluster.url(&["--pooled"]);
    let mut admin = direct.connect().unwrap();
    admin.batch_execute("CREATE DATABASE app").unwrap();
    let (direct, pooled) = (direct.with_dbname("app"), pooled.with_dbname("app"));
    let (direct_url, pooled_url) = (direct.to_string(), pooled.to_string());
    let pgbouncer_conf = cluster.home.join("local/pooler/pgbouncer.ini");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&pgbouncer_conf).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the pooler's config is its owner's only");

    // The probe tells the two apart.
    assert!(godwit::postgres::pooler::shares_sessions(&pooled).unwrap());
    assert!(!godwit::postgres::pooler::shares_sessions(&direct).unwrap());

    let chinook = corpus("Chinook_Sqlite.sqlite");
    let chinook = chinook.to_str().unwrap();

    // copy: refused through the pooler, nothing created; works directly.
    let out = cluster.godwit(&["copy", chinook, "--to", &pooled_url]);
    assert_refused(&out, "copy", "advisory lock");
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );
    let out = cluster.godwit(&["copy", chinook, "--to", &direct_url]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // verify: works, each chunk in its own read-only transaction.
    for _ in 0..2 {
        let out = cluster.godwit(&["verify", chinook, "--to", &pooled_url]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // sync and migrate up: refused, nothing applied.
    let out = cluster.godwit(&["sync", chinook, "--to", &pooled_url]);
    assert_refused(&out, "sync", "session settings");
    let migrations = cluster.home.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("20260101000000_probe.up.sql"),
        "CREATE TABLE probe (id int);",
    )
    .unwrap();
    std::fs::write(migrations.join("20260101000000_probe.down.sql"), "DROP TABLE probe;").unwrap();
    let out = cluster.godwit(&[
        "migrate",
        "up",
        "--dir",
        migrations.to_str().unwrap(),
        "--to",
        &pooled_url,
    ]);
    assert_refused(&out, "migrate", "advisory lock");
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM pg_tables WHERE tablename = 'probe'"),
        "0"
    );

    // health: every database check runs through the pooler, and --pooler
    // reads PgBouncer's pools.
    let (code, report) = health(&cluster, &pooled, &["--pooler", &pooled_url]);
    assert!(code <= 1, "{report:#}");
    for c in report["checks"].as_array().unwrap() {
        assert_ne!(c["status"], "unknown", "{c:#}");
    }
    let servers = check(&report, "pooler_servers");
    assert!(
        servers["message"]
            .as_str()
            .unwrap()
            .contains("of 20 server connections"),
        "{servers:#}"
    );
    assert_eq!(check(&report, "pooler_waiting")["status"], "ok");
    check(&report, "pooler_efficiency");

    // inspect: one read-only transaction.
    let out = cluster.godwit(&["inspect", "--to", &pooled_url]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // workload: 120 clients against max_connections 40. Directly the
    // level is refused and the report says so; through the pooler it answers.
    let queries = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/workload/chinook-queries.sql"
    );
    let sweep = |url: &str| {
        let out = cluster.godwit(&[
            "workload",
            chinook,
            "--queries",
            queries,
            "--to",
            url,
            "--target-only",
            "--clients",
            "2,120",
            "--count",
            "3",
            "--warmup",
            "0s",
            "--json",
        ]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("workload --json: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), report)
    };
    let (code, report) = sweep(&direct_url);
    assert_eq!(
        code,
        Some(3),
        "a refused level is a finding to review: {:#}",
        report["summary"]
    );
    let refused = report["summary"]["refused"].to_string();
    assert!(
        refused.contains("120 clients") && refused.contains("53300"),
        "{refused}"
    );
    assert!(
        report["classes"][0]["latency"]["target"]["2"]["executions"]
            .as_u64()
            .unwrap()
            > 0
    );
    let (code, report) = sweep(&pooled_url);
    assert_eq!(code, Some(0), "{:#}", report["summary"]);
    assert_eq!(report["summary"]["pooled"], true);
    for class in report["classes"].as_array().unwrap() {
        let level = &class["latency"]["target"]["120"];
        assert!(level["executions"].as_u64().unwrap() > 0, "{class:#}");
        assert_eq!(level["errors"], 0, "{class:#}");
    }

    assert_nothing_left_behind(&pooled, 5);
}
