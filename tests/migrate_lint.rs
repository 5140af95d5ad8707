//! `godwit migrate lint`: each rule, ignores, pending-only default, exit codes.

mod common;
#[path = "migrate_support/mod.rs"]
mod support;

use support::{Project, expect_code};

fn lint_json(project: &Project, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = project.run("lint", &all);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} / {}", common::stdout(&out), common::stderr(&out)));
    (support::code(&out), json)
}

/// Rule ids of the active (not ignored) findings.
fn rules_hit(json: &serde_json::Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ignored"] == false)
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_rule_fires_on_existing_tables() {
    let project = Project::new("lint_rules");
    let cases: [(&str, &str); 11] = [
        (
            "CREATE INDEX users_email ON users (email);",
            "create-index-not-concurrently",
        ),
        (
            "ALTER TABLE users ADD COLUMN age int NOT NULL;",
            "add-column-not-null-without-default",
        ),
        (
            "ALTER TABLE users ALTER COLUMN email TYPE varchar(200);",
            "column-type-change",
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);",
            "constraint-without-not-valid",
        ),
        (
            "ALTER TABLE users ADD CONSTRAINT positive CHECK (id > 0);",
            "constraint-without-not-valid",
        ),
        ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "set-not-null"),
        ("ALTER TABLE users DROP COLUMN email;", "drop-column"),
        ("DROP TABLE orders;", "drop-table"),
        ("ALTER TABLE users RENAME COLUMN email TO mail;", "rename"),
        ("VACUUM (FULL) users;", "vacuum-full"),
        (
            "ALTER TABLE users ADD CONSTRAINT email_unique UNIQUE (email);",
            "unique-constraint-without-index",
        ),
    ];
    for (index, (sql, rule)) in cases.iter().enumerate() {
        let path = project.dir.path().join(format!("case{index}.sql"));
        std::fs::write(&path, sql).unwrap();
        let (code, json) = lint_json(&project, &[path.to_str().unwrap()]);
        assert_eq!(rules_hit(&json), vec![rule.to_string()], "{sql}");
        let finding = &json["findings"][0];
        assert!(finding["risk"].as_str().unwrap().len() > 20, "{sql}: risk explained");
        assert!(
            finding["instead"].as_str().unwrap().len() > 20,
            "{sql}: alternative given"
        );
        let expected_code = if finding["severity"] == "error" { 1 } else { 0 };
        assert_eq!(code, expected_code, "{sql}");
    }
}

#[test]
fn safe_forms_pass() {
    let project = Project::new("lint_safe");
    let path = project.dir.path().join("safe.sql");
    std::fs::write(
        &path,
        "CREATE INDEX CONCURRENTLY users_email ON users (email);
         ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;
         ALTER TABLE users ADD COLUMN nickname text;
         ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
         ALTER TABLE orders VALIDATE CONSTRAINT fk;
         ALTER TABLE users ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;
         CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
         ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;
         VACUUM users;
         -- a brand-new table is empty: nothing to lock or rewrite
         CREATE TABLE events (id int, kind text);
         CREATE INDEX events_kind ON events (kind);
         ALTER TABLE events ADD COLUMN at timestamptz NOT NULL;
         ALTER TABLE events ALTER COLUMN kind TYPE varchar(20);
         ALTER TABLE events ADD CONSTRAINT kind_ok CHECK (kind <> '');",
    )
    .unwrap();
    let (code, json) = lint_json(&project, &[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{json}");
    assert!(rules_hit(&json).is_empty(), "{json}");
}

#[test]
fn lint_ignore_accepts_one_rule_for_one_statement() {
    let project = Project::new("lint_ignore");
    let path = project.dir.path().join("ignore.sql");
    std::fs::write(
        &path,
        "-- small table, reviewed\n-- godwit:lint-ignore create-index-not-concurrently\nCREATE INDEX a ON users (a);\nCREATE INDEX b ON users (b);\n",
    )
    .unwrap();
    let (code, json) = lint_json(&project, &[path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(json["ignored"], 1);
    assert_eq!(json["errors"], 1);
    assert_eq!(json["findings"][1]["line"], 4, "{json}");
}

#[test]
fn human_output_explains_and_exits_non_zero_on_errors() {
    let project = Project::new("lint_human");
    let path = project.dir.path().join("x.sql");
    std::fs::write(&path, "SELECT 1;\n\nCREATE INDEX i ON t (c);\n").unwrap();
    let out = project.run("lint", &[path.to_str().unwrap()]);
    expect_code(&out, 1);
    let stdout = common::stdout(&out);
    assert!(
        stdout.contains("x.sql:3:1: error[create-index-not-concurrently]"),
        "{stdout}"
    );
    assert!(stdout.contains("risk:") && stdout.contains("instead:") && stdout.contains("CONCURRENTLY"));
    assert!(common::stderr(&out).contains("lint found 1 error"));
}

#[test]
fn default_checks_only_pending_migrations() {
    let project = Project::new("lint_pending");
    project.write(1, "users", "CREATE TABLE users (id int, email text);", None);
    expect_code(&project.run("up", &[]), 0);
    // Applied files are history: not linted even though this one would hit.
    project.write(1, "users", "CREATE TABLE users (id int, email text);", None);
    project.write(2, "index", "CREATE INDEX users_email ON users (email);", None);
    let (code, json) = lint_json(&project, &[]);
    assert_eq!(code, 1);
    assert_eq!(rules_hit(&json), vec!["create-index-not-concurrently"]);
    assert_eq!(json["files"].as_array().unwrap().len(), 1, "{json}");
    // --all reads every file and needs no database; the table created in
    // file 1 then counts as new, so file 2 is fine.
    let all = common::godwit(&[
        "migrate",
        "lint",
        "--all",
        "--dir",
        project.migrations().to_str().unwrap(),
    ]);
    expect_code(&all, 0);
}

#[test]
fn syntax_errors_are_lint_errors() {
    let project = Project::new("lint_syntax");
    let path = project.dir.path().join("bad.sql");
    std::fs::write(&path, "ALTER TABLE users ADD COLUM x int;").unwrap();
    let (code, json) = lint_json(&project, &[path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(rules_hit(&json), vec!["syntax-error"]);
}
