//! The command line: help texts a newcomer learns from (snapshot-tested),
//! documented exit codes for usage errors, and no password in any output.

mod common;

use common::*;

#[test]
fn help_texts() {
    for (name, args) in [
        ("godwit", vec!["--help"]),
        ("copy", vec!["copy", "--help"]),
        ("plan", vec!["plan", "--help"]),
        ("local", vec!["local", "--help"]),
        ("backup", vec!["backup", "--help"]),
        ("backup_verify", vec!["backup", "verify", "--help"]),
        ("restore", vec!["restore", "--help"]),
        ("health", vec!["health", "--help"]),
        ("inspect", vec!["inspect", "--help"]),
        ("maintain", vec!["maintain", "--help"]),
    ] {
        let out = godwit(&args);
        assert_exit(&out, 0);
        insta::assert_snapshot!(format!("help_{name}"), stdout(&out));
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = godwit(&["copy"]);
    assert_exit(&out, 2);
    let out = godwit(&["copy", "x.db", "--on-error", "sometimes"]);
    assert_exit(&out, 2);
    let out = godwit(&["copy", "x.db", "--truncate"]);
    assert_exit(&out, 2);
}

#[test]
fn config_errors_exit_2_and_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "s.db", "CREATE TABLE users (id INTEGER PRIMARY KEY);");
    let config = dir.path().join("godwit.toml");
    std::fs::write(&config, "[[cast]]\ncolumn = \"users.nope\"\nto = \"uuid\"\n").unwrap();
    let out = godwit(&["plan", source.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("godwit.toml: line 1") && err.contains("no column \"nope\""),
        "{err}"
    );
    std::fs::write(
        &config,
        "[[cast]]\ncolumn = \"users.id\"\nto = \"uuid\"\nusing = \"telepathy\"\n",
    )
    .unwrap();
    let out = godwit(&["plan", source.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("line 4") && stderr(&out).contains("unknown transform"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn passwords_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "s.db", "CREATE TABLE t (id INTEGER PRIMARY KEY);");
    let out = godwit(&[
        "copy",
        source.to_str().unwrap(),
        "--to",
        "postgresql://alice:hunter2secret@127.0.0.1:1/db",
    ]);
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("hunter2secret"), "{all}");
    assert!(all.contains("alice@127.0.0.1:1"), "{all}");
    let out = godwit(&[
        "copy",
        source.to_str().unwrap(),
        "--to",
        "host=127.0.0.1 port=1 user=alice password=hunter2secret",
    ]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("hunter2secret"), "{all}");
}

#[test]
fn local_cluster_reports_its_url() {
    let server = server();
    let home = std::env::var("GODWIT_HOME").unwrap_or_else(|_| "/tmp/godwit-test-home".into());
    let out = std::process::Command::new(godwit_bin())
        .args(["local", "status"])
        .env("GODWIT_HOME", &home)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("running on 127.0.0.1:"), "{}", stdout(&out));
    let out = std::process::Command::new(godwit_bin())
        .args(["local", "url"])
        .env("GODWIT_HOME", &home)
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), server.with_dbname("postgres").to_string());
}
