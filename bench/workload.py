#!/usr/bin/env python3
"""`make bench-workload`: is godwit workload's harness the bottleneck?

1. One simple indexed lookup (`SELECT abalance FROM accounts WHERE aid = ?`,
   aid uniform over 1M rows) at 1, 10 and 100 clients against the same
   PostgreSQL, side by side in one run: `pgbench -M prepared` (a custom
   script, -j up to the core count, a sampled per-transaction log and
   per-second progress) and `godwit workload --target-only`. Throughput
   ratio over the steady part, and p50 with one definition for both: from
   the moment a client is ready for its next execution to its result (for
   pgbench, the cycle between consecutive logged transactions of a client;
   its own logged latency leaves out the wait for its turn before sending,
   see pgbench() below). pgbench's logged p50 is shown beside it.
   At 1 client also the floor: examples/workload_floor, the loop godwit
   runs per execution with nothing of the harness around it (one
   tokio-postgres connection, one prepared statement), so a p50 gap
   splits into the driver's part and the harness's.
2. The harness's peak RSS (GNU time) at 100 clients and 1M executions.
3. Parity of 10,000 distinct queries (a captured log of lookups, ranges
   and small aggregates with their literals) against the ~100 MB SQLite
   file: wall time of `godwit workload --parity-only`.

Medians of --reps runs (default 3). The machine is shared with other
builds: the ratios within one repetition are the figures to trust.
Results go to bench/results/workload.json and are printed as a table.
"""

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GODWIT = ROOT / "target/release/godwit"
FLOOR = ROOT / "target/release/examples/workload_floor"
OUT = ROOT / "bench/out"
RESULTS = ROOT / "bench/results/workload.json"
GODWIT_HOME = os.environ.get("GODWIT_HOME", "/tmp/godwit-bench-home")
ROWS = 1_000_000
FILLER = 84  # pgbench_accounts' row width: ~100 MB of SQLite for 1M rows


def log(message):
    print(f"[bench-workload] {message}", file=sys.stderr, flush=True)


def run(command, **kwargs):
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)


def godwit_env():
    env = dict(os.environ, GODWIT_HOME=GODWIT_HOME)
    env.pop("DATABASE_URL", None)
    return env


def server_url():
    run([str(GODWIT), "local", "start"], env=godwit_env())
    return run([str(GODWIT), "local", "url"], env=godwit_env()).stdout.strip()


def make_source(path):
    if path.exists():
        return
    log(f"writing {path} ({ROWS} accounts)")
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.execute(
        "CREATE TABLE accounts (aid INTEGER PRIMARY KEY, bid INTEGER NOT NULL, abalance INTEGER NOT NULL, filler TEXT)"
    )
    rng = random.Random(1)
    batch = []
    for aid in range(1, ROWS + 1):
        batch.append((aid, aid // 100_000 + 1, rng.randint(-5000, 5000), "x" * FILLER))
        if len(batch) == 50_000:
            db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)", batch)
    db.commit()
    db.close()
    tmp.rename(path)


def fresh_copy(url, source):
    base = url.rsplit("/", 1)[0]
    admin = url
    run(["psql", admin, "-qc", "DROP DATABASE IF EXISTS bench_workload"])
    run(["psql", admin, "-qc", "CREATE DATABASE bench_workload"])
    target = f"{base}/bench_workload"
    log("copying the source into bench_workload")
    run([str(GODWIT), "copy", str(source), "--to", target, "-q"], env=godwit_env())
    return target


# pgbench logs a random sample of its transactions (-l --sampling-rate),
# each line written in the loop that drives the clients. The cycle needs
# two consecutive transactions of a client in the sample (a quarter of them
# at 0.5: tens of thousands per level), so the sample is not smaller.
SAMPLE_RATE = 0.5
# Both tools' throughput counts the steady part only: godwit warms up for
# --warmup (1 s), pgbench has no warm-up, so its first progress second is
# left out.
STEADY_AFTER_S = 1.0


def pgbench(target, clients, seconds, workdir):
    """pgbench -M prepared on the lookup. What it reports, and what of it
    compares with godwit (pgbench.c of PostgreSQL 15; see BENCHMARKS.md,
    "What pgbench measures"):

    - its logged latency runs from the moment the client sends (the
      CSTATE_START_TX timestamp, taken when the thread's loop gets round to
      that client) to the moment its result is read (processXactStats). The
      wait between reading one result and sending the next (the client
      waits while its thread serves the other ready clients) is in no
      logged latency;
    - godwit's latency runs from the moment the client is ready for its
      next execution (in a closed loop: when the last one returned) to its
      last row, so any wait for its turn in the harness is in it.

    So the like-for-like pgbench figure is the *cycle*: from the end of a
    client's previous transaction to the end of this one, taken from the
    log's end timestamps of consecutive transactions of one client (both
    sampled; the sample is uniform, so the pairs are too). Its mean is
    clients / tps, pgbench's own `latency average`.
    """
    script = workdir / "lookup.pgbench"
    script.write_text(f"\\set aid random(1, {ROWS})\nSELECT abalance FROM accounts WHERE aid = :aid;\n")
    jobs = min(clients, os.cpu_count() or 1)
    prefix = workdir / f"pgbench_{clients}"
    for old in workdir.glob(f"pgbench_{clients}*"):
        old.unlink()
    result = run(
        [
            "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(jobs), "-T", str(seconds),
            "-P", "1", "-f", str(script), "-l", "--sampling-rate", str(SAMPLE_RATE),
            "--log-prefix", str(prefix), target,
        ],
        cwd=workdir,
    )
    tps_run = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout).group(1))
    # Per-second progress lines: the steady throughput leaves the first
    # second out, as godwit's warm-up does.
    progress = [(float(t), float(tps)) for t, tps in re.findall(r"progress: ([0-9.]+) s, ([0-9.]+) tps", result.stderr)]
    steady = [tps for t, tps in progress if t > STEADY_AFTER_S]
    tps = statistics.mean(steady) if steady else tps_run
    logged, ends = [], {}
    for f in workdir.glob(f"pgbench_{clients}*"):
        for line in f.read_text().splitlines():
            # client_id transaction_no latency_us script_no epoch_s epoch_us
            parts = line.split()
            if len(parts) >= 6 and parts[2].isdigit():
                logged.append(int(parts[2]))
                ends[(int(parts[0]), int(parts[1]))] = int(parts[4]) * 1_000_000 + int(parts[5])
    first = min(ends.values())
    cycles = [
        end - ends[(client, n - 1)]
        for (client, n), end in ends.items()
        if (client, n - 1) in ends and ends[(client, n - 1)] - first >= STEADY_AFTER_S * 1e6
    ]
    return {
        "tps": tps,
        "tps_run": tps_run,
        "logged_p50_ms": statistics.median(logged) / 1000.0,
        "cycle_p50_ms": statistics.median(cycles) / 1000.0 if cycles else float("nan"),
        "cycle_mean_ms": statistics.mean(cycles) / 1000.0 if cycles else float("nan"),
        "cycles": len(cycles),
    }


def godwit_lookup(source, target, clients, seconds, workdir):
    queries = workdir / "lookup.sql"
    queries.write_text("-- name: lookup\n-- params: :aid = accounts.aid\nSELECT abalance FROM accounts WHERE aid = :aid;\n")
    out = run(
        [
            str(GODWIT), "workload", str(source), "--queries", str(queries), "--to", target,
            "--clients", str(clients), "--duration", f"{seconds}s", "--warmup", "1s", "--target-only",
            "--parity-runs", "1", "--explain-top", "0", "--json",
        ],
        env=godwit_env(),
    ).stdout
    stats = json.loads(out)["classes"][0]["latency"]["target"][str(clients)]
    return stats["qps"], stats["p50_ms"]


def floor_lookup(target, seconds):
    out = run([str(FLOOR), target, str(ROWS), str(seconds)]).stdout
    stats = json.loads(out)
    return stats["qps"], stats["p50_ms"]


def load_average():
    return os.getloadavg()[0]


def peak_rss(source, target, workdir, executions):
    queries = workdir / "lookup.sql"
    result = subprocess.run(
        [
            "/usr/bin/time", "-v", str(GODWIT), "workload", str(source), "--queries", str(queries), "--to", target,
            "--clients", "100", "--count", str(executions), "--warmup", "0s", "--target-only",
            "--parity-runs", "1", "--explain-top", "0", "--json",
        ],
        env=godwit_env(), text=True, capture_output=True,
    )
    if result.returncode not in (0, 3):
        raise RuntimeError(result.stderr)
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", result.stderr).group(1)
    return kb / 1024.0, wall


def parity_log(path, count):
    rng = random.Random(7)
    seen = set()
    with open(path, "w") as out:
        while len(seen) < count:
            kind = rng.randrange(3)
            a = rng.randint(1, ROWS - 20)
            if kind == 0:
                sql = f"SELECT aid, bid, abalance, filler FROM accounts WHERE aid = {a}"
            elif kind == 1:
                sql = f"SELECT aid, abalance FROM accounts WHERE aid BETWEEN {a} AND {a + rng.randint(1, 20)} ORDER BY aid"
            else:
                sql = f"SELECT count(*), sum(abalance), avg(abalance) FROM accounts WHERE aid >= {a} AND aid < {a + 15}"
            if sql in seen:
                continue
            seen.add(sql)
            out.write(json.dumps({"sql": sql, "params": []}) + "\n")


def parity_time(source, target, workdir, count):
    queries = workdir / "distinct.jsonl"
    parity_log(queries, count)
    started = time.monotonic()
    result = subprocess.run(
        [str(GODWIT), "workload", str(source), "--queries", str(queries), "--to", target,
         "--parity-only", "--parity-runs", "1", "--json"],
        env=godwit_env(), text=True, capture_output=True,
    )
    seconds = time.monotonic() - started
    report = json.loads(result.stdout)
    executions = sum(c["executions"] for c in report["classes"])
    equal = all(c["parity"] == "equal" for c in report["classes"])
    return seconds, executions, equal


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="time per level and tool")
    parser.add_argument("--levels", default="1,10,100")
    parser.add_argument("--executions", type=int, default=1_000_000, help="for the RSS run")
    parser.add_argument("--distinct", type=int, default=10_000)
    parser.add_argument("--load-only", action="store_true", help="only the side-by-side levels (no RSS, no parity)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    source = OUT / "workload-accounts.db"
    make_source(source)
    url = server_url()
    target = fresh_copy(url, source)
    size_mb = source.stat().st_size / 1e6
    rows = {level: [] for level in levels}
    rss, parity, floor = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for rep in range(args.reps):
            for level in levels:
                before = load_average()
                pg = pgbench(target, level, args.seconds, workdir)
                gw_qps, gw_p50 = godwit_lookup(source, target, level, args.seconds, workdir)
                rows[level].append({"pgbench": pg, "godwit_qps": gw_qps, "godwit_p50_ms": gw_p50, "load": before})
                log(f"rep {rep + 1} clients {level} (load {before:.1f}): pgbench {pg['tps']:.0f} tps "
                    f"p50 logged {pg['logged_p50_ms']:.3f} ms, cycle {pg['cycle_p50_ms']:.3f} ms "
                    f"(mean {pg['cycle_mean_ms']:.3f}, clients/tps {level / pg['tps'] * 1000:.3f}); "
                    f"godwit {gw_qps:.0f} qps p50 {gw_p50:.3f} ms (clients/qps {level / gw_qps * 1000:.3f})")
                if level == 1 and FLOOR.exists():
                    fl_qps, fl_p50 = floor_lookup(target, args.seconds)
                    floor.append((fl_qps, fl_p50))
                    log(f"rep {rep + 1} clients 1: floor loop {fl_qps:.0f} qps p50 {fl_p50:.3f} ms")
            if args.load_only:
                continue
            mb, wall = peak_rss(source, target, workdir, args.executions)
            rss.append(mb)
            log(f"rep {rep + 1}: peak RSS {mb:.1f} MB at 100 clients, {args.executions} executions ({wall})")
            seconds, executions, equal = parity_time(source, target, workdir, args.distinct)
            parity.append(seconds)
            log(f"rep {rep + 1}: parity of {executions} distinct queries in {seconds:.1f} s (all equal: {equal})")
    summary = {"source_mb": round(size_mb, 1), "levels": {}, "distinct": args.distinct, "reps": args.reps,
               "seconds": args.seconds, "pgbench_sample_rate": SAMPLE_RATE}
    if rss:
        summary["rss_mb"] = statistics.median(rss)
        summary["parity_seconds"] = statistics.median(parity)
    print(f"\nsource {size_mb:.0f} MB; medians of {args.reps} runs, {args.seconds}s per level and tool")
    print("throughput: steady part (pgbench's progress seconds after the first; godwit after its 1 s warm-up)")
    print("p50 like for like: godwit's latency (from the moment the client is ready) against pgbench's cycle")
    print("(end of a client's previous transaction to the end of this one); pgbench's logged p50 for reference")
    print(f"{'clients':>8} {'pgbench tps':>12} {'godwit qps':>11} {'ratio':>6} {'pgb logged':>11} "
          f"{'pgb cycle':>10} {'godwit p50':>11} {'p50 ratio':>10} {'vs logged':>10}")
    for level in levels:
        runs = rows[level]
        pg_tps = statistics.median(r["pgbench"]["tps"] for r in runs)
        gw_qps = statistics.median(r["godwit_qps"] for r in runs)
        ratio = statistics.median(r["godwit_qps"] / r["pgbench"]["tps"] for r in runs)
        logged = statistics.median(r["pgbench"]["logged_p50_ms"] for r in runs)
        cycle = statistics.median(r["pgbench"]["cycle_p50_ms"] for r in runs)
        gw_p50 = statistics.median(r["godwit_p50_ms"] for r in runs)
        p50_ratio = statistics.median(r["godwit_p50_ms"] / r["pgbench"]["cycle_p50_ms"] for r in runs)
        vs_logged = statistics.median(r["godwit_p50_ms"] / r["pgbench"]["logged_p50_ms"] for r in runs)
        summary["levels"][level] = {
            "pgbench_tps": pg_tps, "godwit_qps": gw_qps, "ratio": ratio, "pgbench_logged_p50_ms": logged,
            "pgbench_cycle_p50_ms": cycle, "godwit_p50_ms": gw_p50, "p50_ratio": p50_ratio,
            "p50_ratio_vs_logged": vs_logged, "runs": runs,
        }
        print(f"{level:>8} {pg_tps:>12.0f} {gw_qps:>11.0f} {ratio:>6.2f} {logged:>11.3f} "
              f"{cycle:>10.3f} {gw_p50:>11.3f} {p50_ratio:>10.2f} {vs_logged:>10.2f}")
    if floor:
        fl_qps = statistics.median(r[0] for r in floor)
        fl_p50 = statistics.median(r[1] for r in floor)
        summary["floor_1_client"] = {"qps": fl_qps, "p50_ms": fl_p50, "runs": floor}
        print(f"{'floor':>8} {'':>12} {fl_qps:>11.0f} {'':>6} {'':>11} {'':>10} {fl_p50:>11.3f}"
              "  (examples/workload_floor, 1 client)")
    print("ratios are medians of the per-run ratios")
    if rss:
        print(f"peak RSS at 100 clients, {args.executions} executions: {summary['rss_mb']:.1f} MB")
        print(f"parity of {args.distinct} distinct queries: {summary['parity_seconds']:.1f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
