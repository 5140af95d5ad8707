//! `godwit migrate new|up|down|status|validate|repair|baseline` against a
//! real server: history rows, catalog state, exit codes and messages.

mod common;
#[path = "migrate_support/mod.rs"]
mod support;

use support::{Project, code, expect_code, write_file};

#[test]
fn new_creates_a_timestamped_pair_that_sorts_last() {
    let project = Project::new("mig_new");
    let dir = project.migrations();
    let dir = dir.to_str().unwrap();
    let first = common::godwit(&["migrate", "new", "Create Users", "--dir", dir]);
    expect_code(&first, 0);
    assert!(common::stdout(&first).contains("_create_users.up.sql"));
    let second = common::godwit(&["migrate", "new", "add email", "--dir", dir]);
    expect_code(&second, 0);
    let mut names: Vec<String> = std::fs::read_dir(project.migrations())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names[1].ends_with("_create_users.up.sql"), "{names:?}");
    assert!(names[0].ends_with("_create_users.down.sql"), "{names:?}");
    assert!(names[3].ends_with("_add_email.up.sql"), "{names:?}");
    let version = |name: &str| name.split('_').next().unwrap().parse::<i64>().unwrap();
    assert_eq!(names[1].split('_').next().unwrap().len(), 14);
    assert!(
        version(&names[3]) > version(&names[1]),
        "second file must sort after the first"
    );
    let year = version(&names[1]) / 10_000_000_000;
    assert!((2024..2100).contains(&year), "{names:?}");
}

#[test]
fn up_applies_pending_files_in_order_with_history() {
    let project = Project::new("mig_up");
    project.write(
        3,
        "add_orders",
        "CREATE TABLE orders (id int, user_id int REFERENCES users);",
        None,
    );
    project.write(1, "users", "CREATE TABLE users (id int PRIMARY KEY);", None);
    project.write(2, "seed", "INSERT INTO users VALUES (1), (2);", None);
    let out = project.run("up", &[]);
    expect_code(&out, 0);
    assert!(
        common::stdout(&out).contains("3 migration(s) applied"),
        "{}",
        common::stdout(&out)
    );
    assert_eq!(
        project.history(),
        vec![(1, "users".into()), (2, "seed".into()), (3, "add_orders".into())]
    );
    let mut client = project.client();
    let row = client
        .query_one(
            "SELECT checksum, duration_ms, applied_by, applied_at <= now(), kind FROM godwit_migrations WHERE version = 1",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0).len(), 64);
    assert!(row.get::<_, i64>(1) >= 0);
    assert_eq!(row.get::<_, String>(2), project.db.user);
    assert!(row.get::<_, bool>(3));
    assert_eq!(row.get::<_, String>(4), "migration");
    assert_eq!(project.scalar_i64("SELECT count(*) FROM users"), 2);

    let again = project.run("up", &[]);
    expect_code(&again, 0);
    assert!(
        common::stdout(&again).contains("up to date"),
        "{}",
        common::stdout(&again)
    );
    assert_eq!(project.history().len(), 3);
}

#[test]
fn up_to_stops_at_the_given_version() {
    let project = Project::new("mig_up_to");
    project.write(1, "a", "CREATE TABLE a (id int);", None);
    project.write(2, "b", "CREATE TABLE b (id int);", None);
    project.write(3, "c", "CREATE TABLE c (id int);", None);
    expect_code(&project.run("up", &["--to", "2"]), 0);
    assert_eq!(project.history().len(), 2);
    assert!(!project.table_exists("c"));
}

#[test]
fn failing_migration_rolls_back_and_reports_statement_and_position() {
    let project = Project::new("mig_fail");
    project.write(1, "ok", "CREATE TABLE one (id int);", None);
    project.write(
        2,
        "broken",
        "CREATE TABLE two (id int);\nINSERT INTO two VALUES (1);\n\n-- oops\nINSERT INTO two VALUES (1 / 0);\n",
        None,
    );
    project.write(3, "later", "CREATE TABLE three (id int);", None);
    let out = project.run("up", &[]);
    expect_code(&out, 1);
    let stderr = common::stderr(&out);
    assert!(
        stderr.contains("migration 2_broken failed at statement 3 (line 5, column 1)"),
        "{stderr}"
    );
    assert!(stderr.contains("INSERT INTO two VALUES (1 / 0)"), "{stderr}");
    assert!(stderr.contains("division by zero"), "{stderr}");
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert!(common::stdout(&out).contains("applied 1_ok"), "results stay on stdout");
    assert_eq!(
        project.history(),
        vec![(1, "ok".into())],
        "earlier migration stays applied"
    );
    assert!(project.table_exists("one"));
    assert!(
        !project.table_exists("two"),
        "the failing migration must leave no trace"
    );
    assert!(!project.table_exists("three"), "the run must stop at the failure");
}

#[test]
fn server_error_position_points_into_the_file() {
    let project = Project::new("mig_pos");
    project.write(
        1,
        "typo",
        "CREATE TABLE t (id int);\nSELECT id,\n       nope\nFROM t;\n",
        None,
    );
    let out = project.run("up", &[]);
    expect_code(&out, 1);
    let stderr = common::stderr(&out);
    assert!(stderr.contains("1_typo.up.sql:3:8"), "{stderr}");
    assert!(stderr.contains("column \"nope\" does not exist"), "{stderr}");
}

#[test]
fn syntax_error_in_a_pending_file_applies_nothing() {
    let project = Project::new("mig_syntax");
    project.write(1, "fine", "CREATE TABLE fine (id int);", None);
    project.write(2, "bad", "CREATE TABEL nope (id int);", None);
    let out = project.run("up", &[]);
    expect_code(&out, 1);
    assert!(
        common::stderr(&out).contains("syntax error"),
        "{}",
        common::stderr(&out)
    );
    assert!(project.history().is_empty());
    assert!(!project.table_exists("fine"));
}

#[test]
fn concurrently_statements_run_outside_the_transaction() {
    let project = Project::new("mig_conc");
    project.write(
        1,
        "table_and_index",
        "CREATE TABLE t (id int, email text);\nCREATE INDEX CONCURRENTLY t_email ON t (email);\nVACUUM t;\n",
        Some("DROP INDEX CONCURRENTLY t_email;\nDROP TABLE t;\n"),
    );
    let out = project.run("up", &[]);
    expect_code(&out, 0);
    assert!(common::stdout(&out).contains("partly outside a transaction"));
    assert!(project.table_exists("t_email"));
    let out = project.run("down", &[]);
    expect_code(&out, 0);
    assert!(!project.table_exists("t"));
    assert!(project.history().is_empty());
}

#[test]
fn no_transaction_directive_commits_each_statement() {
    let project = Project::new("mig_notx");
    project.write(
        1,
        "forced",
        "-- godwit:no-transaction\nCREATE TABLE kept (id int);\nSELECT 1 / 0;\n",
        None,
    );
    let out = project.run("up", &[]);
    expect_code(&out, 1);
    let stderr = common::stderr(&out);
    assert!(stderr.contains("first 1 statement(s) stay committed"), "{stderr}");
    assert!(
        project.table_exists("kept"),
        "without a transaction the first statement stays"
    );
    assert!(project.history().is_empty());
}

#[test]
fn edited_applied_file_fails_validation_and_blocks_up_until_repair() {
    let project = Project::new("mig_edit");
    let path = project.write(1, "users", "CREATE TABLE users (id int);\n", None);
    expect_code(&project.run("up", &[]), 0);
    expect_code(&project.run("validate", &[]), 0);

    write_file(&path, "CREATE TABLE users (id bigint);\n");
    project.write(2, "later", "CREATE TABLE later (id int);", None);
    let validate = project.run("validate", &[]);
    expect_code(&validate, 1);
    assert!(common::stderr(&validate).contains("1_users: file changed after it was applied"));

    let up = project.run("up", &[]);
    expect_code(&up, 1);
    assert!(
        common::stderr(&up).contains("validation failed"),
        "{}",
        common::stderr(&up)
    );
    assert!(!project.table_exists("later"), "up must refuse while validation fails");

    let status = project.run("status", &[]);
    expect_code(&status, 3);
    assert!(common::stdout(&status).contains("CHANGED"));

    let repair = project.run("repair", &[]);
    expect_code(&repair, 0);
    assert!(common::stdout(&repair).contains("re-recorded checksum of 1_users"));
    expect_code(&project.run("validate", &[]), 0);
    expect_code(&project.run("up", &[]), 0);
    assert!(project.table_exists("later"));
}

#[test]
fn crlf_and_bom_only_changes_are_not_changes() {
    let project = Project::new("mig_crlf");
    let text = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n";
    let path = project.write(1, "ab", text, None);
    expect_code(&project.run("up", &[]), 0);
    write_file(&path, &format!("\u{feff}{}", text.replace('\n', "\r\n")));
    expect_code(&project.run("validate", &[]), 0);
    expect_code(&project.run("status", &[]), 0);
    // A real change in the same file is still caught.
    write_file(
        &path,
        &text.replace("b (id int)", "b (id bigint)").replace('\n', "\r\n"),
    );
    expect_code(&project.run("validate", &[]), 1);
}

#[test]
fn missing_applied_file_fails_validation_and_forget_missing_clears_it() {
    let project = Project::new("mig_missing");
    let path = project.write(1, "gone", "CREATE TABLE gone (id int);", None);
    expect_code(&project.run("up", &[]), 0);
    std::fs::remove_file(path).unwrap();
    let out = project.run("validate", &[]);
    expect_code(&out, 1);
    assert!(common::stderr(&out).contains("1_gone: applied but its file is missing"));
    expect_code(&project.run("repair", &[]), 3);
    expect_code(&project.run("repair", &["--forget-missing"]), 0);
    expect_code(&project.run("validate", &[]), 0);
    assert!(project.history().is_empty());
    assert!(project.table_exists("gone"), "forgetting the row keeps the schema");
}

#[test]
fn out_of_order_files_are_refused_unless_allowed() {
    let project = Project::new("mig_ooo");
    project.write(10, "ten", "CREATE TABLE ten (id int);", None);
    expect_code(&project.run("up", &[]), 0);
    project.write(5, "five", "CREATE TABLE five (id int);", None);
    let status = project.run("status", &["--json"]);
    expect_code(&status, 3);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["migrations"][0]["state"], "out-of-order");
    let out = project.run("up", &[]);
    expect_code(&out, 1);
    assert!(
        common::stderr(&out).contains("5_five: pending but older"),
        "{}",
        common::stderr(&out)
    );
    assert!(!project.table_exists("five"));
    expect_code(&project.run("up", &["--allow-out-of-order"]), 0);
    assert_eq!(project.history(), vec![(5, "five".into()), (10, "ten".into())]);
}

#[test]
fn baseline_marks_a_version_without_running_anything() {
    let project = Project::new("mig_base");
    project.client().batch_execute("CREATE TABLE legacy (id int)").unwrap();
    project.write(1, "legacy", "CREATE TABLE legacy (id int);", None);
    project.write(2, "legacy_more", "SELECT 1 / 0;", None);
    project.write(3, "new_stuff", "CREATE TABLE new_stuff (id int);", None);
    expect_code(&project.run("baseline", &["2"]), 0);
    let out = project.run("up", &[]);
    expect_code(&out, 0);
    assert_eq!(
        project.history(),
        vec![(2, "legacy_more".into()), (3, "new_stuff".into())]
    );
    assert!(project.table_exists("new_stuff"));
    // Baseline is only for databases godwit never touched.
    expect_code(&project.run("baseline", &["3"]), 1);
    // And down never goes below it.
    project.write(
        3,
        "new_stuff",
        "CREATE TABLE new_stuff (id int);",
        Some("DROP TABLE new_stuff;"),
    );
    expect_code(&project.run("down", &["--to", "0"]), 1);
    expect_code(&project.run("down", &[]), 0);
    assert!(!project.table_exists("new_stuff"));
}

#[test]
fn down_reverts_newest_first_by_steps_or_to_version() {
    let project = Project::new("mig_down");
    for (v, t) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        project.write(
            v,
            t,
            &format!("CREATE TABLE {t} (id int);"),
            Some(&format!("DROP TABLE {t};")),
        );
    }
    expect_code(&project.run("up", &[]), 0);
    let dry = project.run("down", &["--dry-run", "--steps", "2"]);
    expect_code(&dry, 0);
    let dry_sql = common::stdout(&dry);
    assert!(
        dry_sql.contains("4_d.down.sql") && dry_sql.contains("DROP TABLE d;"),
        "{dry_sql}"
    );
    assert!(
        dry_sql.find("DROP TABLE d;") < dry_sql.find("DROP TABLE c;"),
        "newest first: {dry_sql}"
    );
    assert!(dry_sql.contains("-- remove version 4 from the history table"));
    assert_eq!(project.history().len(), 4, "dry run reverts nothing");
    let out = project.run("down", &[]);
    expect_code(&out, 0);
    assert!(common::stdout(&out).contains("reverted 4_d"));
    assert!(!project.table_exists("d") && project.table_exists("c"));
    expect_code(&project.run("down", &["--steps", "2"]), 0);
    assert_eq!(project.history(), vec![(1, "a".into())]);
    expect_code(&project.run("up", &[]), 0);
    expect_code(&project.run("down", &["--to", "2"]), 0);
    assert_eq!(project.history(), vec![(1, "a".into()), (2, "b".into())]);
    assert!(!project.table_exists("c"));
}

#[test]
fn down_without_a_down_file_reverts_nothing() {
    let project = Project::new("mig_nodown");
    project.write(1, "a", "CREATE TABLE a (id int);", Some("DROP TABLE a;"));
    project.write(2, "b", "CREATE TABLE b (id int);", None);
    expect_code(&project.run("up", &[]), 0);
    let out = project.run("down", &["--steps", "2"]);
    expect_code(&out, 1);
    assert!(
        common::stderr(&out).contains("2_b has no down file"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(project.history().len(), 2);
}

#[test]
fn dry_run_prints_sql_and_changes_nothing() {
    let project = Project::new("mig_dry");
    project.write(
        1,
        "a",
        "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);",
        None,
    );
    let out = project.run("up", &["--dry-run"]);
    expect_code(&out, 0);
    let stdout = common::stdout(&out);
    assert!(stdout.contains("CREATE TABLE a (id int);"), "{stdout}");
    assert!(
        stdout.contains("CREATE INDEX CONCURRENTLY: runs outside a transaction"),
        "{stdout}"
    );
    assert!(!project.table_exists("a"));
    assert!(
        !project.table_exists("godwit_migrations"),
        "dry run must not even create the history table"
    );
}

#[test]
fn history_schema_is_configurable() {
    let project = Project::new("mig_schema");
    project.write(1, "a", "CREATE TABLE a (id int);", None);
    expect_code(&project.run("up", &["--history-schema", "ops"]), 0);
    assert_eq!(project.history_in("ops"), vec![(1, "a".into())]);
    assert!(!project.table_exists("public.godwit_migrations"));
    let status = project.run("status", &["--history-schema", "ops", "--json"]);
    expect_code(&status, 0);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["current_version"], 1);
    assert_eq!(json["migrations"][0]["state"], "applied");
    assert!(json["migrations"][0]["applied_at"].as_str().unwrap().ends_with('Z'));
    assert!(json["migrations"][0]["duration_ms"].is_number());
}

#[test]
fn status_lists_applied_and_pending() {
    let project = Project::new("mig_status");
    project.write(1, "a", "CREATE TABLE a (id int);", None);
    expect_code(&project.run("up", &[]), 0);
    project.write(2, "b", "CREATE TABLE b (id int);", None);
    let out = project.run("status", &[]);
    expect_code(&out, 0);
    let stdout = common::stdout(&out);
    assert!(stdout.contains("1 applied, 1 pending"), "{stdout}");
    let pending_line = stdout.lines().find(|l| l.starts_with("2 ")).unwrap();
    assert!(pending_line.contains("pending"), "{stdout}");
}

#[test]
fn missing_database_url_is_a_usage_error() {
    let out = common::godwit(&["migrate", "status"]);
    assert_eq!(code(&out), 2);
    let stderr = common::stderr(&out);
    assert!(
        stderr.contains("--database-url") && stderr.contains("godwit local url"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_file_names_are_refused() {
    let project = Project::new("mig_names");
    std::fs::create_dir_all(project.migrations()).unwrap();
    write_file(&project.migrations().join("add_users.sql"), "select 1");
    let out = project.run("up", &[]);
    expect_code(&out, 2);
    assert!(common::stderr(&out).contains("not a migration file name"));
}

#[test]
fn explicit_begin_commit_is_refused_unless_no_transaction() {
    let project = Project::new("mig_begin");
    project.write(1, "manual", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n", None);
    let out = project.run("up", &[]);
    expect_code(&out, 1);
    let stderr = common::stderr(&out);
    assert!(stderr.contains("`BEGIN` at statement 1 (line 1, column 1)"), "{stderr}");
    assert!(!project.table_exists("a"));
    project.write(
        1,
        "manual",
        "-- godwit:no-transaction\nBEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n",
        None,
    );
    expect_code(&project.run("up", &[]), 0);
    assert!(project.table_exists("a"));
    assert_eq!(project.history(), vec![(1, "manual".into())]);
}
