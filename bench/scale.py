#!/usr/bin/env python3
"""Figures for docs/scale.md: replica lag, primary throughput and the
primary's CPU by process type (walsenders against client backends) with
--standbys streaming standbys (default 0, 1, 2), and a pooled against a direct read load at 100,
500 and 1,000 clients. Real PostgreSQL (`godwit local` under a private home)
and real PgBouncer (`godwit local start --pooler`); the load is pgbench's.

Runs are interleaved (0,1,2 standbys, then again) and medians of --reps
are printed as Markdown for BENCHMARKS.md.

  python3 bench/scale.py [--reps 3] [--seconds 30] [--read-seconds 15] [--godwit target/debug/godwit]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time


def sh(args, env=None, check=True, **kw):
    return subprocess.run(args, env=env, check=check, capture_output=True, text=True, **kw)


def psql(url, sql):
    return sh(["psql", url, "-XAtqc", sql]).stdout.strip()


class Cluster:
    def __init__(self, godwit, home, max_connections):
        self.godwit, self.home = godwit, home
        self.env = dict(os.environ, GODWIT_HOME=home)
        self.max_connections = max_connections

    def run(self, *args):
        return sh([self.godwit, "local", *args], env=self.env)

    def start(self, replicas=0, pooler=False):
        args = ["start", "--replicas", str(replicas), "--max-connections", str(self.max_connections)]
        if pooler:
            args.append("--pooler")
        self.run(*args)

    def url(self, *extra):
        return self.run("url", *extra).stdout.strip()


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """utime + stime of one process, in clock ticks (None once it exited)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def host_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def sample_cpu(url, processes, prefix=""):
    now = time.monotonic()
    for line in psql(url, "SELECT pid, backend_type FROM pg_stat_activity").splitlines():
        pid, kind = line.split("|", 1)
        ticks = cpu_ticks(pid)
        if ticks is not None:
            first = processes.setdefault(pid, {"kind": prefix + kind, "first": (now, ticks)})
            first["last"] = (now, ticks)


def sample_lag(primary, standbys, stop, samples, processes):
    """Once a second: the lag, and the CPU ticks of every primary process
    (pg_stat_activity lists walsenders and auxiliary processes too), so
    that the walsenders' share of the primary's CPU can be told apart; and
    of the standbys' processes (startup = replay, walreceiver), which share
    this machine's cores."""
    while not stop.is_set():
        out = psql(primary, "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0), "
                            "coalesce(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication")
        b, s = out.split("|")
        samples.append((float(b), float(s)))
        sample_cpu(primary, processes)
        for url in standbys:
            sample_cpu(url, processes, "standby ")
        time.sleep(1)


def cores_by_kind(processes):
    """CPU of the primary's processes during the run, in cores (CPU seconds
    per second between a process's first and last sample), summed by
    backend type; a process seen in one sample only counts nothing."""
    used = {}
    for p in processes.values():
        (t0, c0), (t1, c1) = p["first"], p["last"]
        if t1 > t0:
            used[p["kind"]] = used.get(p["kind"], 0.0) + (c1 - c0) / TICKS / (t1 - t0)
    return used


def write_run(cluster, standbys, seconds):
    cluster.start(replicas=standbys)
    primary = cluster.url()
    psql(primary, "CHECKPOINT")
    wal_before = psql(primary, "SELECT pg_current_wal_lsn()")
    stop, samples, processes = threading.Event(), [], {}
    standby_urls = [cluster.url("--replica", str(k)) for k in range(1, standbys + 1)]
    sampler = threading.Thread(target=sample_lag, args=(primary, standby_urls, stop, samples, processes))
    busy0, total0 = host_busy()
    started = time.monotonic()
    sampler.start()
    out = sh(["pgbench", "-n", "-N", "-c", "4", "-j", "2", "-T", str(seconds), primary]).stdout
    stop.set()
    sampler.join()
    elapsed = time.monotonic() - started
    busy1, total1 = host_busy()
    wal = float(psql(primary, f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{wal_before}')"))
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    lag_bytes = [b for b, _ in samples] or [0.0]
    lag_secs = [s for _, s in samples] or [0.0]
    cores = cores_by_kind(processes)
    senders = cores.get("walsender", 0.0)
    backends = cores.get("client backend", 0.0)
    on_standbys = sum(v for k, v in cores.items() if k.startswith("standby "))
    primary_total = sum(v for k, v in cores.items() if not k.startswith("standby "))
    host = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)
    return (tps, statistics.median(lag_bytes), max(lag_bytes), statistics.median(lag_secs), max(lag_secs),
            senders, backends, primary_total, host, wal / elapsed / 1e6, on_standbys)


def read_run(url, clients, seconds, logdir):
    for f in os.listdir(logdir):
        os.remove(os.path.join(logdir, f))
    prefix = os.path.join(logdir, "tx")
    try:
        p = subprocess.run(["pgbench", "-n", "-S", "-c", str(clients), "-j", "4", "-T", str(seconds),
                            "-l", "--log-prefix", prefix, url], capture_output=True, text=True,
                           timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        return None, None, None, f"no answer within {seconds + 120}s"
    m = re.search(r"tps = ([0-9.]+)", p.stdout)
    if p.returncode != 0 or not m:
        err = (p.stderr.strip().splitlines() or ["?"])
        reason = next((l for l in err if "too many clients" in l or "sorry" in l), err[-1])
        return None, None, None, reason.strip()[:160]
    lat = []
    for f in os.listdir(logdir):
        with open(os.path.join(logdir, f)) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)
    lat.sort()
    q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))] if lat else float("nan")
    return float(m.group(1)), q(0.5), q(0.95), ""


def workload_sweep(cluster, a):
    """godwit workload itself at 100/500/1000 clients, directly and pooled,
    on the Chinook sample and tests/fixtures/workload/chinook-queries.sql."""
    import json
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.environ.get("GODWIT_CORPUS", os.path.join(here, "..", "..", "shared", "corpus"))
    chinook = os.path.join(corpus, "sqlite", "Chinook_Sqlite.sqlite")
    queries = os.path.join(here, "..", "tests", "fixtures", "workload", "chinook-queries.sql")
    cluster.start(replicas=0, pooler=True)
    direct, pooled = cluster.url(), cluster.url("--pooled")
    sh([cluster.godwit, "copy", chinook, "--to", direct, "--replace"], env=cluster.env, check=False)
    rows = {}
    for rep in range(a.reps):
        for name, url in (("direct", direct), ("pooled", pooled)):
            p = sh([cluster.godwit, "workload", chinook, "--queries", queries, "--to", url, "--target-only",
                    "--clients", "100,500,1000", "--duration", f"{a.workload_seconds}s", "--warmup", "1s",
                    "--json"], env=cluster.env, check=False)
            report = json.loads(p.stdout)
            refused = report["summary"].get("refused", [])
            for level in ("100", "500", "1000"):
                qps = sum(c["latency"]["target"].get(level, {}).get("qps", 0) for c in report["classes"])
                p50 = max((c["latency"]["target"].get(level, {}).get("p50_ms", 0) for c in report["classes"]), default=0)
                p95 = max((c["latency"]["target"].get(level, {}).get("p95_ms", 0) for c in report["classes"]), default=0)
                errors = sum(c["latency"]["target"].get(level, {}).get("errors", 0) for c in report["classes"])
                why = next((r for r in refused if r.startswith(f"{level} clients")), "")
                rows.setdefault((int(level), name), []).append((qps, p50, p95, errors, why))
                print(f"rep {rep + 1} workload {level} {name}: qps {qps:.0f} p50 {p50:.2f} p95 {p95:.2f} "
                      f"errors {errors} {why}", flush=True)
    print("\n| clients | path | queries/s (all classes) | p50 ms (worst class) | p95 ms (worst class) | errors | not measured |")
    print("|---|---|---|---|---|---|---|")
    for (level, name), rs in sorted(rows.items()):
        measured = [r for r in rs if not r[4]]
        if not measured:
            print(f"| {level} | {name} | - | - | - | - | {len(rs)}/{len(rs)} runs: {rs[0][4][:120]} |")
            continue
        med = lambda i: statistics.median(r[i] for r in measured)
        print(f"| {level} | {name} | {med(0):.0f} | {med(1):.2f} | {med(2):.2f} | {med(3):.0f} | {len(rs) - len(measured)}/{len(rs)} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--standbys", default="0,1,2", help="standby counts for the write runs, e.g. 0,2,4,8")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--read-seconds", type=int, default=15)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--max-connections", type=int, default=200)
    ap.add_argument("--godwit", default="target/release/godwit")
    ap.add_argument("--skip-writes", action="store_true")
    ap.add_argument("--skip-reads", action="store_true")
    ap.add_argument("--skip-workload", action="store_true")
    ap.add_argument("--workload-seconds", type=int, default=10)
    a = ap.parse_args()
    home = tempfile.mkdtemp(prefix="godwit-scale-")
    os.chmod(home, 0o755)
    cluster = Cluster(os.path.abspath(a.godwit), home, a.max_connections)
    try:
        cluster.start()
        sh(["pgbench", "-i", "-q", "-s", str(a.scale), cluster.url()])
        if not a.skip_writes:
            counts = [int(x) for x in a.standbys.split(",")]
            runs = {n: [] for n in counts}
            for rep in range(a.reps):
                for n in counts:
                    r = write_run(cluster, n, a.seconds)
                    runs[n].append(r)
                    print(f"rep {rep + 1}, {n} standbys: tps {r[0]:.0f}, lag median {r[1] / 1024:.0f} kB / "
                          f"max {r[2] / 1024:.0f} kB, {r[3] * 1000:.1f} ms / max {r[4] * 1000:.1f} ms; "
                          f"walsenders {r[5]:.3f} cores, client backends {r[6]:.3f}, primary {r[7]:.3f}, "
                          f"standbys {r[10]:.3f}, host busy {r[8]:.2f} of {os.cpu_count()} cores, WAL {r[9]:.2f} MB/s", flush=True)
            print("\n| standbys | primary tps (pgbench -N -c 4) | replica lag, median of samples | worst sample "
                  "| walsenders, cores | per standby | client backends, cores | whole primary, cores "
                  "| standbys' processes, cores | host busy, cores | WAL MB/s |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for n, rs in runs.items():
                med = lambda i: statistics.median(r[i] for r in rs)
                lag = "n/a" if n == 0 else f"{med(1) / 1024:.0f} kB, {med(3) * 1000:.1f} ms"
                worst = "n/a" if n == 0 else f"{med(2) / 1024:.0f} kB, {med(4) * 1000:.1f} ms"
                per = "n/a" if n == 0 else f"{statistics.median(r[5] / n for r in rs):.3f}"
                print(f"| {n} | {med(0):.0f} | {lag} | {worst} | {med(5):.3f} | {per} | {med(6):.3f} | {med(7):.3f} "
                      f"| {med(10):.3f} | {med(8):.2f} | {med(9):.2f} |")
        if not a.skip_reads:
            cluster.start(replicas=0, pooler=True)
            direct, pooled = cluster.url(), cluster.url("--pooled")
            logdir = tempfile.mkdtemp(prefix="pgbench-log-", dir="/tmp")
            results = {}
            for rep in range(a.reps):
                for clients in (100, 500, 1000):
                    for name, url in (("direct", direct), ("pooled", pooled)):
                        r = read_run(url, clients, a.read_seconds, logdir)
                        results.setdefault((clients, name), []).append(r)
                        print(f"rep {rep + 1}, {clients} clients {name}: {r}", flush=True)
            shutil.rmtree(logdir, ignore_errors=True)
            print("\n| clients | path | tps (pgbench -S) | p50 ms | p95 ms | failed |")
            print("|---|---|---|---|---|---|")
            for (clients, name), rs in results.items():
                ok = [r for r in rs if r[0] is not None]
                if not ok:
                    print(f"| {clients} | {name} | - | - | - | {len(rs)}/{len(rs)} runs: {rs[0][3]} |")
                    continue
                med = lambda i: statistics.median(r[i] for r in ok)
                print(f"| {clients} | {name} | {med(0):.0f} | {med(1):.2f} | {med(2):.2f} | {len(rs) - len(ok)}/{len(rs)} runs |")
        if not a.skip_workload:
            workload_sweep(cluster, a)
    finally:
        subprocess.run([cluster.godwit, "local", "stop"], env=cluster.env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
