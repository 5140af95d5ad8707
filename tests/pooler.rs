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

fn scalar_on(client: &mut postgres::Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .unwrap()
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap()
}

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
/// server sessions. The failure names the caller's line.
#[track_caller]
fn assert_nothing_left_behind(pooled: &ConnSpec, sessions: usize) {
    let mut clients: Vec<postgres::Client> = (0..sessions).map(|_| pooled.connect().unwrap()).collect();
    let mut pids = std::collections::BTreeSet::new();
    for client in &mut clients {
        client.batch_execute("BEGIN").unwrap();
        let row = client
            .query_one(
                "SELECT pg_backend_pid(), current_setting('default_transaction_read_only'), \
                        current_setting('statement_timeout'), current_setting('search_path'), \
                        current_setting('jit'), (SELECT count(*) FROM pg_prepared_statements), \
                        (SELECT coalesce(string_agg(name || ': ' || left(statement, 120), '; '), '') \
                           FROM pg_prepared_statements)",
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
            "session {pid}: prepared statements left behind: {}",
            row.get::<_, String>(6)
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

/// The commands that change schema objects or read a snapshot, each run
/// through the pooler: audit, roles and the reverse copy keep every
/// statement inside one transaction and work; maintain, backup, restore
/// and cutover need one session for their whole run and refuse, changing
/// nothing. report and migrate's read-only commands work too.
#[test]
fn audit_roles_reverse_report_work_and_maintain_backup_restore_cutover_refuse() {
    let cluster = PrivateCluster::start("pooler-commands", &["--pooler", "--max-connections", "40"]);
    let mut admin = cluster.url(&[]).connect().unwrap();
    admin.batch_execute("CREATE DATABASE shop").unwrap();
    let (direct, pooled) = (
        cluster.url(&[]).with_dbname("shop"),
        cluster.url(&["--pooled"]).with_dbname("shop"),
    );
    let pooled_url = pooled.to_string();

    // PgBouncer picks server sessions round-robin here (server_round_robin),
    // with several of them open: one client's consecutive transactions then
    // land in different server sessions, so a statement prepared outside a
    // transaction and run in the next round trip fails every time instead
    // of passing by luck (the default reuses the session just released).
    let ini = cluster.home.join("local/pooler/pgbouncer.ini");
    let mut config = std::fs::read_to_string(&ini).unwrap();
    config.push_str("server_round_robin = 1\n");
    std::fs::write(&ini, config).unwrap();
    cluster
        .url(&["--pooled"])
        .with_dbname("pgbouncer")
        .connect()
        .unwrap()
        .simple_query("RELOAD")
        .unwrap();
    let mut holders: Vec<postgres::Client> = (0..4).map(|_| pooled.connect().unwrap()).collect();
    for client in &mut holders {
        client.batch_execute("BEGIN; SELECT 1").unwrap();
    }
    for client in &mut holders {
        client.batch_execute("COMMIT").unwrap();
    }
    let pids: std::collections::BTreeSet<String> = (0..3)
        .map(|_| scalar_on(&mut holders[0], "SELECT pg_backend_pid()"))
        .collect();
    assert!(pids.len() > 1, "one client moves between server sessions: {pids:?}");
    drop(holders);
    assert!(
        godwit::postgres::pooler::shares_sessions(&pooled).unwrap(),
        "the probe finds a round-robin pooler"
    );

    direct
        .connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric);
             CREATE TABLE orders (id int PRIMARY KEY, account_id int REFERENCES accounts, total numeric);
             INSERT INTO accounts VALUES (1, 'ada', 10.5), (2, 'bob', 20);
             INSERT INTO orders VALUES (10, 1, 3.25), (11, 2, 7);",
        )
        .unwrap();
    let ok = |out: &std::process::Output, what: &str| {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what} through the pooler: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A command through the pooler that must work, and leave no session
    // changed behind it.
    let works = |args: &[&str], what: &str| {
        let out = cluster.godwit(args);
        ok(&out, what);
        assert_nothing_left_behind(&pooled, 6);
        out
    };
    // One that must refuse, saying what it needs, and leave nothing behind.
    let refuses = |args: &[&str], what: &str, needs: &str| {
        assert_refused(&cluster.godwit(args), what, needs);
        assert_nothing_left_behind(&pooled, 6);
    };

    // audit: enable, a write through the pooler is recorded, status, disable.
    works(
        &["audit", "enable", "--to", &pooled_url, "--mode", "trigger"],
        "audit enable",
    );
    assert_eq!(
        scalar(
            &direct,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass AND NOT tgisinternal"
        ),
        "1"
    );
    pooled
        .connect()
        .unwrap()
        .batch_execute("UPDATE accounts SET balance = 11 WHERE id = 1")
        .unwrap();
    let out = works(&["audit", "status", "--to", &pooled_url, "--json"], "audit status");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["events"], 1, "{status:#}");
    assert!(status["trigger_tables"].to_string().contains("accounts"), "{status:#}");
    works(&["audit", "disable", "--to", &pooled_url], "audit disable");
    assert_eq!(
        scalar(
            &direct,
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass AND NOT tgisinternal"
        ),
        "0"
    );

    // roles: plan changes nothing, apply sets the roles up in one
    // transaction (its advisory lock is transaction-scoped), and a second
    // apply has nothing left to do.
    let out = works(&["roles", "plan", "--to", &pooled_url], "roles plan");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("CREATE ROLE \"shop_app\" LOGIN"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'shop\\_%'"),
        "0"
    );
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwords");
    works(
        &[
            "roles",
            "apply",
            "--to",
            &pooled_url,
            "--password-file",
            passwords.to_str().unwrap(),
        ],
        "roles apply",
    );
    assert_eq!(
        scalar(&direct, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'shop\\_%'"),
        "4"
    );
    assert_eq!(
        scalar(
            &direct,
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'orders'"
        ),
        "shop_owner"
    );
    let out = cluster.godwit(&["roles", "plan", "--to", &pooled_url]);
    ok(&out, "roles plan after apply");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("CREATE ROLE"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The reverse copy: one read-only snapshot, the rows come back.
    let back = dir.path().join("back.db");
    let out = cluster.godwit(&["copy", &pooled_url, "--to", &format!("sqlite:{}", back.display())]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "reverse copy through the pooler: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sqlite = rusqlite::Connection::open(&back).unwrap();
    let total: f64 = sqlite
        .query_row("SELECT sum(total) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert!((total - 10.25).abs() < 1e-9, "{total}");
    let owners: i64 = sqlite
        .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(owners, 2);
    assert_nothing_left_behind(&pooled, 6);

    // maintain, backup, restore, cutover: refused, nothing changed.
    refuses(&["maintain", "--to", &pooled_url], "maintain", "lock_timeout");
    let store = dir.path().join("backups");
    let out = cluster.godwit(&["backup", "--to", &pooled_url, "--dir", store.to_str().unwrap()]);
    assert_refused(&out, "backup", "pg_dump");
    assert!(
        !store.exists() || std::fs::read_dir(&store).unwrap().next().is_none(),
        "a refused backup wrote nothing"
    );
    let out = cluster.godwit(&["backup", "--to", &direct.to_string(), "--dir", store.to_str().unwrap()]);
    ok(&out, "backup, directly");
    let taken = String::from_utf8_lossy(&out.stdout).trim().to_string();
    refuses(
        &["restore", &taken, "--to", &pooled_url, "--replace"],
        "restore",
        "pg_restore",
    );
    let out = cluster.godwit(&["backup", "verify", &taken, "--to", &pooled_url]);
    assert_refused(&out, "backup verify", "pg_restore");
    assert_eq!(
        scalar(
            &direct,
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'godwit\\_verify%'"
        ),
        "0",
        "no scratch database was created"
    );
    assert_eq!(scalar(&direct, "SELECT balance FROM accounts WHERE id = 1"), "11");
    let chinook = corpus("Chinook_Sqlite.sqlite");
    refuses(
        &["cutover", chinook.to_str().unwrap(), "--to", &pooled_url],
        "cutover",
        "session settings",
    );

    // report: health and inspect, each in read-only transactions.
    let page = dir.path().join("report.html");
    let out = cluster.godwit(&["report", "--to", &pooled_url, "--html", page.to_str().unwrap()]);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "report through the pooler: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&page).unwrap().to_lowercase().contains("<html"));
    assert_nothing_left_behind(&pooled, 6);

    // migrate's read-only commands read the history in one transaction.
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("20260101000000_notes.up.sql"),
        "CREATE TABLE notes (id int);",
    )
    .unwrap();
    let migrations = migrations.to_str().unwrap();
    let out = cluster.godwit(&["migrate", "up", "--dir", migrations, "--to", &direct.to_string()]);
    ok(&out, "migrate up, directly");
    let out = works(
        &["migrate", "status", "--dir", migrations, "--to", &pooled_url],
        "migrate status",
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("20260101000000"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cluster.godwit(&["migrate", "validate", "--dir", migrations, "--to", &pooled_url]);
    ok(&out, "migrate validate");

    assert_nothing_left_behind(&pooled, 5);
}
