//! The S3 round trip against an S3-compatible server on loopback: moto in
//! server mode (`moto_server`), from a venv under target/moto-venv made on
//! first use from tests/backup_s3/requirements.txt (pip from PyPI) and
//! remade when that file changes. backup → list → verify → restore →
//! retention, all on s3://bucket/prefix.

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const READY_MARKER: &str = "godwit-requirements.txt";
const BUCKET: &str = "godwit-test";

/// The venv's bin directory, made first when missing or made from other
/// requirements. A file lock keeps parallel runs from building it twice.
fn moto_bin() -> PathBuf {
    let requirements_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/backup_s3/requirements.txt");
    let requirements = fs::read_to_string(&requirements_path).expect("read tests/backup_s3/requirements.txt");
    let venv = target_dir().join("moto-venv");
    let marker = venv.join(READY_MARKER);
    fs::create_dir_all(target_dir()).expect("create target/");
    let lock = File::create(target_dir().join("moto-venv.lock")).expect("create venv lock file");
    lock.lock().expect("lock target/moto-venv.lock");
    if fs::read_to_string(&marker).is_ok_and(|installed| installed == requirements) {
        return venv.join("bin");
    }
    let started = Instant::now();
    if venv.exists() {
        fs::remove_dir_all(&venv).expect("remove the stale target/moto-venv");
    }
    run_setup(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv target/moto-venv (is python3-venv installed? scripts/install-deps.sh installs it)",
    );
    run_setup(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                "-r",
            ])
            .arg(&requirements_path),
        "pip install -r tests/backup_s3/requirements.txt",
    );
    fs::write(&marker, &requirements).expect("write the venv's ready marker");
    eprintln!("made target/moto-venv in {:.1?}", started.elapsed());
    venv.join("bin")
}

/// moto_server on a free loopback port, killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let bin = moto_bin();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin.join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto_server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    moto.put(&format!("/{BUCKET}"), b"");
    moto
}

impl Moto {
    /// A raw PUT (moto takes unsigned requests): creates a bucket or an object.
    fn put(&self, path: &str, body: &[u8]) {
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "PUT {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "PUT {path}: {response}");
    }
}

fn godwit_s3(moto: &Moto, tmp: &Path, args: &[&str]) -> Output {
    Command::new(godwit_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .env("AWS_ACCESS_KEY_ID", "godwit-test-key")
        .env("AWS_SECRET_ACCESS_KEY", "godwit-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("TMPDIR", tmp)
        .output()
        .expect("run godwit")
}

fn digest(db: &godwit::postgres::conn::ConnSpec) -> Vec<Vec<String>> {
    rows(
        db,
        "SELECT a AS a, b AS b FROM (SELECT count(*)::text AS a, md5(string_agg(t::text, ',' ORDER BY t::text)) AS b FROM items t) x",
    )
}

#[test]
fn s3_round_trip_backup_list_verify_restore_prune() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let source = fresh_database("bks3");
    source
        .connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, seen timestamptz);
             INSERT INTO items SELECT g, 'item ' || g, g * 0.5, timestamptz '2025-01-01' + g * interval '1 minute'
               FROM generate_series(1, 20000) g;",
        )
        .unwrap();
    let location = format!("s3://{BUCKET}/nightly/app");

    let out = godwit_s3(
        &moto,
        tmp.path(),
        &["backup", "--to", &source.to_string(), "--dir", &location, "--jobs", "2"],
    );
    assert_exit(&out, 0);
    let path = stdout(&out).trim().to_string();
    assert!(path.starts_with(&format!("{location}/")), "{path}");
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the local dump is removed after the upload"
    );

    let list = |moto: &Moto| -> serde_json::Value {
        let out = godwit_s3(moto, tmp.path(), &["backup", "list", "--dir", &location, "--json"]);
        assert_exit(&out, 0);
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    // An upload cut short: files without a manifest are never a backup.
    moto.put(
        &format!("/{BUCKET}/nightly/app/20200101T000000.000Z/toc.dat"),
        b"half a backup",
    );
    let listed = list(&moto);
    assert_eq!(listed["backups"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["backups"][0]["path"], path.as_str(), "{listed}");
    assert!(listed["backups"][0]["verified"].is_null());
    assert_eq!(listed["incomplete"], serde_json::json!(["20200101T000000.000Z"]));

    let out = godwit_s3(
        &moto,
        tmp.path(),
        &["backup", "verify", &path, "--to", &server().to_string()],
    );
    assert_exit(&out, 0);
    assert_eq!(list(&moto)["backups"][0]["verified"], true);

    let target = fresh_database("bks3t");
    let out = godwit_s3(&moto, tmp.path(), &["restore", &path, "--to", &target.to_string()]);
    assert_exit(&out, 0);
    assert_eq!(digest(&target), digest(&source));
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the download is removed after the restore"
    );

    // A second backup with retention deletes the first.
    let out = godwit_s3(
        &moto,
        tmp.path(),
        &[
            "backup",
            "--to",
            &source.to_string(),
            "--dir",
            &location,
            "--keep-last",
            "1",
        ],
    );
    assert_exit(&out, 0);
    let second = stdout(&out).trim().to_string();
    let listed = list(&moto);
    let backups = listed["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{listed}");
    assert_eq!(backups[0]["path"], second.as_str());
    // The incomplete one was written just now (it may still be running): kept.
    assert_eq!(listed["incomplete"], serde_json::json!(["20200101T000000.000Z"]));

    // Asking for a backup that is not there is an error, not a crash.
    let out = godwit_s3(&moto, tmp.path(), &["restore", &path, "--to", &target.to_string()]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no such complete backup"), "{}", stderr(&out));
}

/// `maintain --archive-to s3://...`: old partitions go to the bucket with
/// their manifest, are read back from it and proven before they are
/// dropped, and `restore --archive` brings one back from the bucket.
#[test]
fn s3_partition_archive_round_trip() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        work.path(),
        "events.db",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, what TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO events SELECT i, datetime('2020-01-01', '+' || (i % 730) || ' days'), 'event ' || i FROM n;",
    );
    let config = work.path().join("godwit.toml");
    fs::write(
        &config,
        "[tables.events]\npartition_by = \"at\"\ninterval = \"year\"\npartman = false\npartition_key_in_keys = true\n",
    )
    .unwrap();
    let target = fresh_database("bks3part");
    // In a schema of its own: the archive's test restore must create it.
    let out = copy(
        &app,
        &target,
        &["--config", config.to_str().unwrap(), "--schema", "app"],
    );
    assert_exit(&out, 0);
    let before = rows(&target, "SELECT count(*) AS a, sum(id) AS b FROM app.events");
    let location = format!("s3://{BUCKET}/archive/events");
    // 2020 and 2021 end before 2022-06-01.
    let days = (chrono::Utc::now().date_naive() - chrono::NaiveDate::from_ymd_opt(2022, 6, 1).unwrap()).num_days();
    let age = format!("{days}days");
    let out = godwit_s3(
        &moto,
        tmp.path(),
        &[
            "maintain",
            "--to",
            &target.to_string(),
            "--archive-older-than",
            &age,
            "--archive-to",
            &location,
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let archived = report["archive"]["partitions"].as_array().unwrap();
    let names: Vec<&str> = archived.iter().map(|p| p["partition"].as_str().unwrap()).collect();
    assert_eq!(names, ["events_p2020", "events_p2021"], "{report}");
    assert!(archived.iter().all(|p| p["status"] == "archived"), "{report}");
    assert_eq!(value(&target, "SELECT count(*) AS a FROM app.events"), "0");
    let listed = godwit_s3(&moto, tmp.path(), &["backup", "list", "--dir", &location, "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(listed["backups"].as_array().unwrap().len(), 2, "{listed}");
    for p in archived {
        let path = p["archive"].as_str().unwrap();
        assert!(path.starts_with(&location), "{path}");
        let out = godwit_s3(
            &moto,
            tmp.path(),
            &["restore", "--archive", path, "--to", &target.to_string()],
        );
        assert_exit(&out, 0);
    }
    assert_eq!(
        rows(&target, "SELECT count(*) AS a, sum(id) AS b FROM app.events"),
        before
    );
}
