//! A private `godwit local` cluster under its own temporary home, for the
//! tests that stop, pause or promote servers: the shared test server
//! (GODWIT_TEST_URL) is never touched. Stopped and removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use godwit::postgres::conn::ConnSpec;

pub struct PrivateCluster {
    pub home: PathBuf,
}

impl PrivateCluster {
    /// `godwit local start ARGS...` under a new home in /tmp (reachable by
    /// the server account when tests run as root).
    pub fn start(name: &str, args: &[&str]) -> PrivateCluster {
        let home = std::env::temp_dir().join(format!("godwit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let cluster = PrivateCluster { home };
        let mut all = vec!["local", "start"];
        all.extend_from_slice(args);
        let out = cluster.godwit(&all);
        assert!(
            out.status.success(),
            "godwit local start {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    /// Runs godwit with this cluster's home.
    pub fn godwit(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_godwit"))
            .args(args)
            .env("GODWIT_HOME", &self.home)
            .env_remove("DATABASE_URL")
            .output()
            .expect("run godwit")
    }

    /// `godwit local url EXTRA...`.
    pub fn url(&self, extra: &[&str]) -> ConnSpec {
        let mut args = vec!["local", "url"];
        args.extend_from_slice(extra);
        let out = self.godwit(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ConnSpec::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
    }

    pub fn data_dir(&self, replica: Option<u32>) -> PathBuf {
        match replica {
            Some(k) => self.home.join("local").join(format!("replica-{k}")).join("data"),
            None => self.home.join("local").join("data"),
        }
    }

    /// Kills a server's postmaster outright (SIGKILL), as a crash would.
    pub fn kill(&self, replica: Option<u32>) {
        let pid_file = self.data_dir(replica).join("postmaster.pid");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        let status = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        assert!(status.success(), "kill {pid}");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.godwit(&["local", "stop"]);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Polls `condition` until it holds; panics with `what` after a minute.
/// For states the server reaches asynchronously (a walsender noticing its
/// standby is gone); the assertions that follow are not timed.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One value of one query, as text.
pub fn scalar(spec: &ConnSpec, sql: &str) -> String {
    let mut client = spec.connect().unwrap();
    let rows = client.simple_query(sql).unwrap();
    rows.iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql} returned no row"))
}

/// `godwit health --json` output and exit code.
pub fn health(cluster: &PrivateCluster, url: &ConnSpec, extra: &[&str]) -> (i32, serde_json::Value) {
    let url = url.to_string();
    let mut args = vec!["health", "--json", "--to", url.as_str()];
    args.extend_from_slice(extra);
    let out = cluster.godwit(&args);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("health --json: {e}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), json)
}

pub fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

pub fn corpus(name: &str) -> PathBuf {
    let root = std::env::var_os("GODWIT_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        PathBuf::from,
    );
    root.join("sqlite").join(name)
}
