//! The crash harness: run a godwit command against the real server,
//! interrupt it (SIGKILL at a seeded random point, a PostgreSQL fast
//! restart, a full disk), then let the caller check the state and rerun.
//!
//! Shared by tests/crash_*.rs and tests/backup.rs. Environment:
//! - `GODWIT_CRASH_SEED`: replay a sweep (every sweep prints its seed);
//! - `GODWIT_CRASH_POINTS`: points per command (a few in `make test`,
//!   hundreds in `make crash`).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic generator (SplitMix64): the same seed gives the
/// same kill points on every machine, with no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..bound (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// The sweep's seed: `GODWIT_CRASH_SEED` to replay, else from the clock.
/// Printed so a failure can be replayed.
pub fn seed(what: &str) -> u64 {
    let seed = std::env::var("GODWIT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos() % u128::from(u64::MAX)).unwrap_or(1))
                .unwrap_or(1)
        });
    eprintln!("crash sweep {what}: GODWIT_CRASH_SEED={seed}");
    seed
}

/// Points per command: `GODWIT_CRASH_POINTS`, else `default`.
pub fn points(default: usize) -> usize {
    std::env::var("GODWIT_CRASH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One sweep's counts, printed at the end (and parsed by `make crash`).
#[derive(Debug, Default)]
pub struct Tally {
    pub command: String,
    pub tried: usize,
    /// Killed before it finished (the others had already ended).
    pub killed: usize,
    pub consistent: usize,
    pub reruns_completed: usize,
}

impl Tally {
    pub fn new(command: &str) -> Tally {
        Tally {
            command: command.to_string(),
            ..Tally::default()
        }
    }

    pub fn print(&self) {
        eprintln!(
            "CRASH-TALLY command={} tried={} killed={} consistent={} reruns_completed={}",
            self.command, self.tried, self.killed, self.consistent, self.reruns_completed
        );
    }
}

/// Starts `program args` with its output discarded.
pub fn spawn(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Child {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in envs {
        command.env(k, v);
    }
    command.spawn().expect("start the command under test")
}

/// What [`kill_after`] found.
pub struct Strike {
    /// None: SIGKILLed while running; Some: it had already ended so.
    pub finished: Option<std::process::ExitStatus>,
    /// Its descendants just before the kill: none may outlive it.
    pub children: Vec<u32>,
}

/// Lets `child` run for `delay`, then SIGKILLs it (unless it ended first),
/// and checks that no process it started outlives it.
pub fn kill_after(child: &mut Child, delay: Duration) -> Strike {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Strike {
                finished: Some(status),
                children: Vec::new(),
            };
        }
        if start.elapsed() >= delay {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let children = descendants(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_all_exit(&children, "a child of the SIGKILLed godwit");
    Strike {
        finished: None,
        children,
    }
}

/// How long `args` takes when left alone: the range the kill points are drawn from.
pub fn timed_run(program: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the command to time it");
    assert!(status.success(), "{args:?} fails even without a fault: {status}");
    start.elapsed()
}

/// (pid, parent pid, state) of every process, from /proc.
fn process_table() -> Vec<(u32, u32, char)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push((pid, ppid, state));
    }
    out
}

/// Every live descendant of `root` (children, their children...).
pub fn descendants(root: u32) -> Vec<u32> {
    let table = process_table();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid, state) in &table {
        if *state != 'Z' {
            children.entry(*ppid).or_default().push(*pid);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        for child in children.get(&pid).cloned().unwrap_or_default() {
            found.push(child);
            queue.push(child);
        }
    }
    found
}

pub fn command_line(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
        .unwrap_or_default()
}

/// Whether a process is gone (or a zombie: it has exited, only not reaped).
pub fn is_gone(pid: u32) -> bool {
    process_table()
        .iter()
        .find(|(p, _, _)| *p == pid)
        .is_none_or(|(_, _, state)| *state == 'Z')
}

/// Waits (at most a minute: a hang, not a timing assertion) until every
/// pid in `pids` has exited; panics naming the survivors.
pub fn assert_all_exit(pids: &[u32], what: &str) {
    let start = Instant::now();
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| !is_gone(*p)).collect();
        if alive.is_empty() {
            return;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let names: Vec<String> = alive.iter().map(|p| format!("{p} {}", command_line(*p))).collect();
            panic!("{what}: still running a minute after godwit was killed: {names:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until `check` holds; panics after two minutes (a hang, not a timing assertion).
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The descendants of `root` whose command line mentions `program`.
pub fn descendants_running(root: u32, program: &str) -> Vec<u32> {
    descendants(root)
        .into_iter()
        .filter(|p| command_line(*p).contains(program))
        .collect()
}

/// A PostgreSQL cluster of the test's own (under a fresh GODWIT_HOME), for
/// faults that must not hit the shared test server: restarts, a full disk.
pub struct PrivateCluster {
    pub home: PathBuf,
    pub url: String,
    godwit: PathBuf,
}

impl PrivateCluster {
    pub fn start(godwit: &Path, name: &str) -> PrivateCluster {
        let home = PathBuf::from(format!("/tmp/godwit-crash-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let out = Command::new(godwit)
            .args(["local", "start"])
            .env("GODWIT_HOME", &home)
            .output()
            .expect("godwit local start");
        assert!(
            out.status.success(),
            "starting a private cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        PrivateCluster {
            home,
            url,
            godwit: godwit.to_path_buf(),
        }
    }

    fn local(&self, action: &str) {
        let out = Command::new(&self.godwit)
            .args(["local", action])
            .env("GODWIT_HOME", &self.home)
            .output()
            .expect("godwit local");
        assert!(
            out.status.success(),
            "godwit local {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fast shutdown (sessions ended, 57P01) and a start on the same port.
    pub fn restart(&self) {
        self.local("stop");
        self.local("start");
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.join("local").join("data")
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.godwit)
            .args(["local", "stop"])
            .env("GODWIT_HOME", &self.home)
            .output();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Mounts a tmpfs of `megabytes` at `dir`, owned by the server's account,
/// for a tablespace that fills up. None when this machine does not let us
/// mount (not root, or a container without CAP_SYS_ADMIN).
pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: &Path, megabytes: u32, owner: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let disk = SmallDisk { dir: dir.to_path_buf() };
        let owned = Command::new("chown")
            .arg(format!("{owner}:"))
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        owned.then_some(disk)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The owner of a directory, by name (the account the local server runs as).
pub fn owner_of(path: &Path) -> String {
    let out = Command::new("stat").args(["-c", "%U"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Names present in `a` but not in `b`.
pub fn missing(a: &[String], b: &[String]) -> Vec<String> {
    let b: HashSet<&String> = b.iter().collect();
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

/// Every user table as (name, count, md5 of the sorted rows), read
/// independently of godwit.
pub fn table_digests(db: &godwit::postgres::conn::ConnSpec) -> Vec<(String, i64, String)> {
    let mut client = db.connect().unwrap();
    client
        .batch_execute("SET TimeZone = 'UTC'; SET extra_float_digits = 1")
        .unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'godwit%' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|table| {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM ONLY {table} t"
                    ),
                    &[],
                )
                .unwrap();
            (table, row.get(0), row.get(1))
        })
        .collect()
}

/// Session-level advisory locks held in `db`'s database.
pub fn advisory_locks(db: &godwit::postgres::conn::ConnSpec) -> i64 {
    let mut client = db.connect().unwrap();
    client
        .query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
              WHERE l.locktype = 'advisory' AND d.datname = current_database() AND l.pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

impl PrivateCluster {
    /// Restarts the cluster with one of the options `godwit local` starts
    /// it with replaced, e.g. listening beyond loopback. The options come
    /// from postmaster.opts (what the running server was started with).
    pub fn restart_replacing(&self, option: &str, replacement: &str) {
        let data = self.data_dir();
        let opts = std::fs::read_to_string(data.join("postmaster.opts")).unwrap();
        // `/path/postgres "-D" "/data" "-p" "5432" "-c" "x=y" ...`: keep all
        // but the executable and -D (pg_ctl passes -D itself).
        let args: Vec<&str> = opts
            .trim()
            .split(" \"")
            .skip(1)
            .map(|a| a.trim_end_matches('"'))
            .collect();
        let mut kept = Vec::new();
        let mut skip_next = false;
        for arg in &args {
            if skip_next {
                skip_next = false;
                continue;
            }
            if *arg == "-D" {
                skip_next = true;
                continue;
            }
            let arg = if *arg == option { replacement } else { arg };
            kept.push(format!("'{}'", arg.replace('\'', "'\\''")));
        }
        assert!(args.contains(&option), "{option} not among {args:?}");
        let owner = String::from_utf8(
            Command::new("stat")
                .args(["-c", "%U"])
                .arg(&data)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let postgres = PathBuf::from(opts.split_whitespace().next().unwrap());
        let pg_ctl = postgres.with_file_name("pg_ctl");
        let mut cmd = if owner.trim() == whoami() {
            Command::new(&pg_ctl)
        } else {
            let mut c = Command::new("runuser");
            c.args(["-u", owner.trim(), "--"]).arg(&pg_ctl);
            c
        };
        let out = cmd
            .args(["restart", "-w", "-m", "fast", "-D"])
            .arg(&data)
            .arg("-o")
            .arg(kept.join(" "))
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl restart: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn whoami() -> String {
    String::from_utf8(Command::new("id").args(["-un"]).output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}
