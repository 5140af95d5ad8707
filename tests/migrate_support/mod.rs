//! A migration project for tests: a fresh database and a temporary
//! migrations directory, and `godwit migrate` run against both.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use godwit::postgres::conn::ConnSpec;

use crate::common;

pub struct Project {
    pub db: ConnSpec,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(prefix: &str) -> Project {
        let db = common::fresh_database(prefix);
        Project {
            url: db.to_string(),
            db,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    /// Writes `<version>_<name>.up.sql` (and the down file when given).
    pub fn write(&self, version: i64, name: &str, up: &str, down: Option<&str>) -> PathBuf {
        let dir = self.migrations();
        std::fs::create_dir_all(&dir).unwrap();
        let up_path = dir.join(format!("{version}_{name}.up.sql"));
        std::fs::write(&up_path, up).unwrap();
        if let Some(down) = down {
            std::fs::write(dir.join(format!("{version}_{name}.down.sql")), down).unwrap();
        }
        up_path
    }

    /// `godwit migrate <sub> --database-url .. --dir .. <rest>`
    pub fn command(&self, sub: &str, rest: &[&str]) -> Command {
        let mut command = Command::new(common::godwit_bin());
        command
            .args(["migrate", sub, "--database-url", &self.url, "--dir"])
            .arg(self.migrations())
            .args(rest)
            .env_remove("DATABASE_URL");
        command
    }

    pub fn run(&self, sub: &str, rest: &[&str]) -> Output {
        self.command(sub, rest).output().expect("run godwit")
    }

    pub fn client(&self) -> postgres::Client {
        self.db.connect().expect("connect")
    }

    /// (version, name) of every history row.
    pub fn history(&self) -> Vec<(i64, String)> {
        self.history_in("public")
    }

    pub fn history_in(&self, schema: &str) -> Vec<(i64, String)> {
        let sql = format!("SELECT version, name FROM \"{schema}\".godwit_migrations ORDER BY version");
        self.client()
            .query(&sql, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    pub fn table_exists(&self, name: &str) -> bool {
        self.client()
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
            .unwrap()
            .get(0)
    }

    pub fn scalar_i64(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Panics with both streams when the exit code is not `expected`.
pub fn expect_code(out: &Output, expected: i32) {
    assert_eq!(
        code(out),
        expected,
        "stdout:\n{}\nstderr:\n{}",
        common::stdout(out),
        common::stderr(out)
    );
}

pub fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
