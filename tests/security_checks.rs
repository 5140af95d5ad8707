//! The security rules of `health` and `inspect`, each induced in a
//! database (or, for server-wide rules, with a role) of the test's own,
//! then cleared by running the fix `inspect` suggests.

mod common;
mod crash_support;

use common::{assert_exit, fresh_database, godwit, stdout};
use godwit::postgres::conn::ConnSpec;
use serde_json::Value;

fn health(target: &ConnSpec) -> Value {
    let out = godwit(&["health", "--to", &target.to_string(), "--json"]);
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

/// inspect's security findings: (object, evidence, suggestion).
fn security_findings(target: &ConnSpec) -> (Vec<(String, String, String)>, Vec<String>) {
    let out = godwit(&["inspect", "--to", &target.to_string(), "--kind", "security", "--json"]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let findings = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["kind"], "security");
            (
                f["object"].as_str().unwrap().to_string(),
                f["evidence"].as_str().unwrap().to_string(),
                f["suggestion"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let notes = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    (findings, notes)
}

fn finding_for(target: &ConnSpec, object: &str) -> Option<(String, String, String)> {
    security_findings(target).0.into_iter().find(|f| f.0 == object)
}

#[test]
fn database_rules_are_found_with_their_reference_and_their_fix_clears_them() {
    let db = fresh_database("sec_rules");
    let mut admin = db.connect().unwrap();
    admin
        .batch_execute(
            "GRANT CREATE ON SCHEMA public TO PUBLIC;
             CREATE FUNCTION elevate() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
             CREATE FUNCTION pinned() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT 1';
             CREATE EXTENSION pg_stat_statements VERSION '1.9';",
        )
        .unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET password_encryption = 'md5'",
            db.dbname
        ))
        .unwrap();

    let report = health(&db);
    for name in [
        "schema_create",
        "security_definer",
        "extension_updates",
        "password_encryption",
        "app_role",
    ] {
        let c = check(&report, name);
        assert_eq!(c["status"], "warning", "{c:#}");
        assert!(c["message"].as_str().unwrap().contains("CIS"), "names the item: {c:#}");
    }
    assert_eq!(
        check(&report, "security_definer")["value"],
        1.0,
        "the pinned function is fine"
    );

    let (findings, _) = security_findings(&db);
    let objects: Vec<&str> = findings.iter().map(|f| f.0.as_str()).collect();
    for expected in [
        "schema public",
        "function elevate()",
        "extension pg_stat_statements",
        "password_encryption",
        "role postgres",
    ] {
        assert!(objects.contains(&expected), "{expected} in {objects:?}");
    }
    assert!(!objects.contains(&"function pinned()"), "{objects:?}");
    // Each suggestion is the SQL that fixes it: run them, and they are gone.
    for object in ["schema public", "function elevate()", "extension pg_stat_statements"] {
        let (_, evidence, fix) = findings.iter().find(|f| f.0 == object).unwrap();
        assert!(evidence.contains("pgdsat"), "{evidence}");
        admin.batch_execute(fix).unwrap_or_else(|e| panic!("{fix}: {e}"));
        assert_eq!(finding_for(&db, object), None, "{object} after {fix}");
    }
    admin
        .batch_execute(&format!("ALTER DATABASE \"{}\" RESET password_encryption", db.dbname))
        .unwrap();
    let report = health(&db);
    for name in [
        "schema_create",
        "security_definer",
        "extension_updates",
        "password_encryption",
    ] {
        assert_eq!(check(&report, name)["status"], "ok", "{report:#}");
    }
}

#[test]
fn roles_rules_superusers_md5_secrets_and_table_owners() {
    let db = fresh_database("sec_roles");
    let suffix = std::process::id();
    let (superuser, md5_role, owner) = (
        format!("sec_super_{suffix}"),
        format!("sec_md5_{suffix}"),
        format!("sec_owner_{suffix}"),
    );
    let mut admin = db.connect().unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {superuser} SUPERUSER LOGIN;
             SET password_encryption = 'md5'; CREATE ROLE {md5_role} LOGIN PASSWORD 'not-a-secret';
             RESET password_encryption;
             CREATE ROLE {owner} LOGIN; CREATE TABLE owned (id int); ALTER TABLE owned OWNER TO {owner};"
        ))
        .unwrap();

    let (findings, _) = security_findings(&db);
    let found = |object: &str| findings.iter().find(|f| f.0 == object).cloned();
    let (_, evidence, fix) = found(&format!("role {superuser}")).expect("second superuser");
    assert!(evidence.contains("superuser with LOGIN"), "{evidence}");
    assert!(fix.contains("NOSUPERUSER"), "{fix}");
    let (_, _, fix) = found(&format!("role {md5_role}")).expect("md5 secret");
    assert!(fix.contains("scram-sha-256"), "{fix}");

    // The table owner, connecting as itself: it could DROP its tables.
    let as_owner = ConnSpec::parse(&format!(
        "postgresql://{owner}@{}:{}/{}?sslmode=disable",
        db.host, db.port, db.dbname
    ))
    .unwrap();
    let report = health(&as_owner);
    let app_role = check(&report, "app_role");
    assert_eq!(app_role["status"], "warning", "{app_role:#}");
    assert!(
        app_role["message"].as_str().unwrap().contains("owns 1 table"),
        "{app_role:#}"
    );
    // A role that may not read pg_authid is told so, not given an OK.
    let md5 = check(&report, "md5_passwords");
    assert_eq!(md5["status"], "unknown", "{md5:#}");
    assert!(md5["message"].as_str().unwrap().contains("superuser"), "{md5:#}");
    let hba = check(&report, "pg_hba");
    assert_eq!(hba["status"], "unknown", "{hba:#}");
    assert!(
        hba["message"].as_str().unwrap().contains("pg_hba_file_rules"),
        "{hba:#}"
    );

    admin
        .batch_execute(&format!(
            "ALTER ROLE {superuser} NOSUPERUSER; ALTER ROLE {md5_role} PASSWORD NULL; ALTER TABLE owned OWNER TO postgres;"
        ))
        .unwrap();
    let report = health(&as_owner);
    assert_eq!(check(&report, "app_role")["status"], "ok", "{report:#}");
    let (findings, _) = security_findings(&db);
    assert!(
        !findings.iter().any(|f| f.0.contains(&format!("_{suffix}"))),
        "{findings:?}"
    );
    admin
        .batch_execute(&format!(
            "DROP TABLE owned; DROP ROLE {superuser}; DROP ROLE {md5_role}; DROP ROLE {owner};"
        ))
        .unwrap();
}

/// Restores pg_hba.conf however the test ends.
struct HbaRestore {
    path: String,
    original: String,
}

impl Drop for HbaRestore {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, &self.original);
    }
}

#[test]
fn pg_hba_rules_beyond_loopback_are_named_by_line() {
    let db = fresh_database("sec_hba");
    let path = common::value(&db, "SELECT current_setting('hba_file')");
    let original = std::fs::read_to_string(&path).unwrap();
    let _restore = HbaRestore {
        path: path.clone(),
        original: original.clone(),
    };
    // pg_hba_file_rules reads the file as it is now, without a reload:
    // the running server never sees these lines.
    let lines_before = original.lines().count();
    std::fs::write(
        &path,
        format!(
            "{original}\nhost all all 0.0.0.0/0 scram-sha-256\nhost app app 10.0.0.0/8 md5\nhost all all 127.0.0.1/32 trust\n"
        ),
    )
    .unwrap();
    let (findings, _) = security_findings(&db);
    let wide = format!("pg_hba.conf line {}", lines_before + 2);
    let md5 = format!("pg_hba.conf line {}", lines_before + 3);
    let loopback = format!("pg_hba.conf line {}", lines_before + 4);
    let objects: Vec<&str> = findings.iter().map(|f| f.0.as_str()).collect();
    assert!(objects.contains(&wide.as_str()), "{wide} in {findings:?}");
    assert!(objects.contains(&md5.as_str()), "{md5} in {findings:?}");
    assert!(
        !objects.contains(&loopback.as_str()),
        "loopback trust is allowed: {findings:?}"
    );
    let (_, evidence, fix) = findings.iter().find(|f| f.0 == md5).unwrap();
    assert!(evidence.contains("10.0.0.0 255.0.0.0 md5"), "{evidence}");
    assert!(fix.contains("scram-sha-256"), "{fix}");
    assert_eq!(check(&health(&db), "pg_hba")["status"], "warning");
    drop(_restore);
    assert_eq!(check(&health(&db), "pg_hba")["status"], "ok");
}

#[test]
fn server_settings_rules_answer_on_the_test_cluster() {
    let db = fresh_database("sec_settings");
    let report = health(&db);
    // The test cluster listens on loopback only: TLS is not required.
    assert_eq!(check(&report, "ssl")["status"], "ok", "{report:#}");
    let logging = check(&report, "connection_logging");
    let off = common::value(
        &db,
        "SELECT count(*) FROM pg_settings WHERE name IN ('log_connections', 'log_disconnections') AND setting = 'off'",
    );
    assert_eq!(logging["value"].as_f64().unwrap().to_string(), off, "{logging:#}");
    // Every rule is reported, also when the server cannot be reached.
    let out = godwit(&[
        "health",
        "--to",
        "postgresql://nobody@127.0.0.1:1/x",
        "--json",
        "--connect-timeout",
        "1s",
    ]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(check(&report, "security_definer")["status"], "unknown");
    assert_exit(&out, 2);
}

#[test]
fn ssl_off_is_flagged_once_the_server_listens_beyond_loopback() {
    let cluster = crash_support::PrivateCluster::start(std::path::Path::new(env!("CARGO_BIN_EXE_godwit")), "ssl");
    let db = ConnSpec::parse(&cluster.url).unwrap();
    assert_eq!(check(&health(&db), "ssl")["status"], "ok", "loopback only");
    cluster.restart_replacing("listen_addresses=127.0.0.1", "listen_addresses=127.0.0.1,0.0.0.0");
    let report = health(&db);
    let ssl = check(&report, "ssl");
    assert_ne!(ssl["status"], "ok", "{report:#}");
    assert!(ssl["message"].as_str().unwrap().contains("0.0.0.0"), "{ssl:#}");
    let (findings, _) = security_findings(&db);
    let (_, evidence, fix) = findings
        .iter()
        .find(|f| f.0 == "ssl")
        .unwrap_or_else(|| panic!("no ssl finding in {findings:?}"));
    assert!(
        evidence.contains("listen_addresses = '127.0.0.1,0.0.0.0'"),
        "{evidence}"
    );
    assert!(fix.contains("ssl = on"), "{fix}");
}
