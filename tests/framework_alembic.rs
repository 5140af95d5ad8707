//! End to end with a real framework: a SQLAlchemy + Alembic app writes its
//! data on SQLite, Alembic makes the schema on PostgreSQL, `godwit copy
//! --data-only` moves the data, and the app must read back exactly what it
//! wrote and keep working (see tests/framework/run_roundtrip.py).
//!
//! The app's Python packages live in a venv under target/framework-venv,
//! made on first use (pip from PyPI) and remade when
//! tests/framework/requirements.txt changes. A file lock keeps parallel
//! test runs from building it at the same time.

mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{run_setup, target_dir};

/// Written into the venv once pip succeeded: a copy of requirements.txt.
const READY_MARKER: &str = "godwit-requirements.txt";

fn framework_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/framework")
}

/// Returns the venv's python, making the venv first if it is missing or was
/// made from other requirements.
fn framework_python() -> PathBuf {
    let requirements_path = framework_dir().join("requirements.txt");
    let requirements = fs::read_to_string(&requirements_path).expect("read tests/framework/requirements.txt");
    let venv = target_dir().join("framework-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(READY_MARKER);

    fs::create_dir_all(target_dir()).expect("create target/");
    let lock = File::create(target_dir().join("framework-venv.lock")).expect("create venv lock file");
    lock.lock().expect("lock target/framework-venv.lock");
    if fs::read_to_string(&marker).is_ok_and(|installed| installed == requirements) {
        return python;
    }

    let started = Instant::now();
    if venv.exists() {
        fs::remove_dir_all(&venv).expect("remove the stale target/framework-venv");
    }
    run_setup(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv target/framework-venv",
    );
    run_setup(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
            ])
            .arg("-r")
            .arg(&requirements_path),
        "pip install -r tests/framework/requirements.txt",
    );
    fs::write(&marker, &requirements).expect("write the venv's ready marker");
    eprintln!("made target/framework-venv in {:.1?}", started.elapsed());
    python
}

#[test]
fn sqlalchemy_app_reads_back_its_data_after_data_only_copy() {
    let python = framework_python();
    let target = common::fresh_database("framework_alembic");
    let workdir = tempfile::tempdir().expect("temp dir");
    let sqlite = workdir.path().join("app.db");

    let started = Instant::now();
    let mut command = Command::new(&python);
    command
        .arg(framework_dir().join("run_roundtrip.py"))
        .arg(&sqlite)
        .arg(target.to_string())
        .arg(common::godwit_bin())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("DATABASE_URL");
    if let Some(password) = target.password() {
        command.env("PGPASSWORD", password);
    }
    let out = command.output().expect("run tests/framework/run_roundtrip.py");
    let stdout = common::stdout(&out);
    let stderr = common::stderr(&out);
    assert!(
        out.status.success(),
        "run_roundtrip.py exited {}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    eprintln!("{stdout}round trip took {:.1?}", started.elapsed());
}
