//! TLS as libpq users expect it: a server that only accepts TLS, reached
//! with sslmode=require, verify-full against its CA, and refused when the
//! certificate does not match. A cluster of its own, so the shared test
//! server keeps its settings.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn self_signed(dir: &Path, name: &str, cn: &str) {
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={cn}"))
        .args(["-addext"])
        .arg(format!("subjectAltName=DNS:{cn}"))
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt"))));
}

#[test]
fn sslmodes_against_a_tls_only_server() {
    let home = tempfile::Builder::new()
        .prefix("godwit-tls-")
        .tempdir_in("/tmp")
        .unwrap();
    let local = |args: &[&str]| {
        Command::new(godwit_bin())
            .args(args)
            .env("GODWIT_HOME", home.path())
            .output()
            .unwrap()
    };
    let started = local(&["local", "start"]);
    assert!(started.status.success(), "{}", stderr(&started));
    let url = stdout(&started).trim().to_string();
    let data = home.path().join("local/data");
    self_signed(home.path(), "server", "localhost");
    self_signed(home.path(), "other", "localhost");
    std::fs::copy(home.path().join("server.crt"), data.join("server.crt")).unwrap();
    std::fs::copy(home.path().join("server.key"), data.join("server.key")).unwrap();
    // The server runs as an unprivileged account when we are root.
    let owner = Command::new("stat").args(["-c", "%U"]).arg(&data).output().unwrap();
    let owner = String::from_utf8_lossy(&owner.stdout).trim().to_string();
    run(Command::new("chown")
        .arg(&owner)
        .arg(data.join("server.crt"))
        .arg(data.join("server.key")));
    run(Command::new("chmod").arg("600").arg(data.join("server.key")));
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostnossl all all 0.0.0.0/0 reject\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let admin = godwit::postgres::conn::ConnSpec::parse(&url).unwrap();
    admin
        .connect()
        .unwrap()
        .batch_execute("ALTER SYSTEM SET ssl = on")
        .unwrap();
    let _ = local(&["local", "stop"]);
    let restarted = local(&["local", "start"]);
    assert!(restarted.status.success(), "{}", stderr(&restarted));
    let port = godwit::postgres::conn::ConnSpec::parse(stdout(&restarted).trim())
        .unwrap()
        .port;

    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "s.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);",
    );
    let attempt = |params: &str| {
        godwit(&[
            "copy",
            source.to_str().unwrap(),
            "--replace",
            "--to",
            &format!("postgresql://postgres@localhost:{port}/postgres?{params}"),
        ])
    };
    let refused = attempt("sslmode=disable");
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused).contains("no encryption") || stderr(&refused).contains("pg_hba.conf"),
        "{}",
        stderr(&refused)
    );
    assert_exit(&attempt("sslmode=require"), 0);
    let ca = home.path().join("server.crt");
    assert_exit(
        &attempt(&format!("sslmode=verify-full&sslrootcert={}", ca.display())),
        0,
    );
    let wrong_ca = home.path().join("other.crt");
    let mismatch = attempt(&format!("sslmode=verify-full&sslrootcert={}", wrong_ca.display()));
    assert_exit(&mismatch, 1);
    let _ = local(&["local", "stop"]);
}
