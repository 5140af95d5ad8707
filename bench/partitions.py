#!/usr/bin/env python3
"""`make bench-partitions`: what time partitions cost and buy.

An event table (id, user_id, kind, created_at, payload; 3 years of rows
in id order, an index on user_id) is generated in SQLite under
/tmp/partitions/ (deleted at the end unless --keep). Then, per repetition,
interleaved (A, B, A, B, ...):

1. `godwit copy` into schema `flat` (not partitioned) and into schema
   `part` (monthly partitions, premake 4): wall time of each;
2. `godwit workload --target-only` on both, one client: a time-range
   query (one day's events by kind) and a per-user query (a user's 20
   newest events), p50 and p95 of each;
3. writes: pgbench, 8 clients inserting single events for --write-seconds
   into each table: rows/s, and WAL bytes/s from pg_current_wal_lsn;
4. `godwit maintain --archive-older-than 12months --archive-to DIR` on
   `part`: rows/s and MB/s (the archived partitions' table size, and the
   compressed archive size), from the report's per-partition seconds.

Table sizes (pg_total_relation_size) are recorded once. Medians of --reps
(default 3). The machine is shared: compare the ratios within a run.
Results go to bench/results/partitions.json and are printed as a table.
"""

import argparse
import datetime
import json
import random
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GODWIT = Path(os.environ.get("GODWIT_BIN", ROOT / "target/release/godwit"))
WORK = Path(os.environ.get("PARTITIONS_WORK", "/tmp/partitions"))
RESULTS = ROOT / "bench/results/partitions.json"
GODWIT_HOME = os.environ.get("GODWIT_HOME", "/tmp/godwit-bench-home")
START = 1704067200  # 2024-01-01
SPAN = 3 * 365 * 86400
# The partitioned copy goes to public, the plain one to schema flat.
PART = "public"

CONFIG = """[tables.events]
partition_by = "created_at"
interval = "month"
premake = 4
partition_key_in_keys = true
partman = false
"""

# The app's queries as a capture of literal statements (JSON Lines), sent
# as written (--as-is): a day's events by kind, and a user's newest events.
def write_queries(path, count=20, seed=1):
    rng = random.Random(seed)
    with open(path, "w") as out:
        for _ in range(count):
            day = datetime.datetime.fromtimestamp(START + rng.randrange(0, SPAN // 86400) * 86400, datetime.timezone.utc)
            nxt = day + datetime.timedelta(days=1)
            sql = (f"SELECT kind, count(*) AS n FROM events WHERE created_at >= '{day:%Y-%m-%d %H:%M:%S}' "
                   f"AND created_at < '{nxt:%Y-%m-%d %H:%M:%S}' GROUP BY kind ORDER BY kind")
            out.write(json.dumps({"sql": sql, "params": []}) + "\n")
            user = rng.randrange(1, 100_001)
            sql = f"SELECT id, kind, created_at FROM events WHERE user_id = {user} ORDER BY created_at DESC LIMIT 20"
            out.write(json.dumps({"sql": sql, "params": []}) + "\n")


INSERT = """\\set u random(1, 100000)
INSERT INTO {schema}.events (user_id, kind, created_at, payload)
VALUES (:u, 'kind3', now() - random() * interval '20 days', md5(random()::text));
"""


def log(message):
    print(f"[bench-partitions] {message}", file=sys.stderr, flush=True)


def run(command, check=True, **kwargs):
    return subprocess.run(command, check=check, text=True, capture_output=True, **kwargs)


def env():
    e = dict(os.environ, GODWIT_HOME=GODWIT_HOME)
    e.pop("DATABASE_URL", None)
    return e


def server_url():
    run([str(GODWIT), "local", "start"], env=env())
    return run([str(GODWIT), "local", "url"], env=env()).stdout.strip()


def make_source(path, rows):
    if path.exists():
        return
    log(f"writing {path} ({rows:,} events)")
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    sql = f"""
PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL,
                     created_at DATETIME NOT NULL, payload TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
INSERT INTO events SELECT i, abs(random()) % 100000 + 1, 'kind' || (i % 7),
       strftime('%Y-%m-%d %H:%M:%S', {START} + i * {SPAN} / {rows}, 'unixepoch'), hex(randomblob(12)) FROM n;
CREATE INDEX events_user ON events (user_id);
"""
    subprocess.run(["sqlite3", str(tmp)], input=sql, text=True, check=True)
    tmp.rename(path)


def copy(source, url, schema, config):
    args = [str(GODWIT), "copy", str(source), "--to", url, "--schema", schema, "--replace", "--quiet"]
    if config:
        args += ["--config", str(config)]
    started = time.monotonic()
    out = run(args, check=False, env=env())
    seconds = time.monotonic() - started
    if out.returncode not in (0, 3):
        raise SystemExit(f"copy into {schema} failed ({out.returncode}): {out.stderr}")
    return seconds


def workload(source, url, schema, queries, seconds):
    out = run(
        [
            str(GODWIT), "workload", str(source), "--queries", str(queries), "--to", url, "--schema", schema,
            "--clients", "1", "--duration", f"{seconds}s", "--warmup", "1s", "--target-only",
            "--parity-runs", "1", "--explain-top", "0", "--as-is", "--json",
        ],
        check=False,
        env=env(),
    )
    if out.returncode not in (0, 3):
        raise SystemExit(f"workload on {schema} failed ({out.returncode}): {out.stderr}")
    report = json.loads(out.stdout)
    names = {"SELECT kind": "day_by_kind", "SELECT id,": "user_newest"}

    def name_of(c):
        text = json.dumps(c)
        return next((v for k, v in names.items() if k in text), c["name"])

    return {
        name_of(c): {"p50_ms": c["latency"]["target"]["1"]["p50_ms"], "p95_ms": c["latency"]["target"]["1"]["p95_ms"]}
        for c in report["classes"]
    }


def psql(url, sql):
    return run(["psql", url, "-XAtqc", sql]).stdout.strip()


def writes(url, schema, seconds, script_dir):
    script = script_dir / f"insert-{schema}.sql"
    script.write_text(INSERT.format(schema=schema))
    before = psql(url, "SELECT pg_current_wal_lsn()")
    started = time.monotonic()
    out = run(["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(seconds), "-f", str(script), url])
    elapsed = time.monotonic() - started
    wal = int(psql(url, f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{before}')"))
    tps = float(next(line for line in out.stdout.splitlines() if line.startswith("tps")).split()[2])
    return {"rows_per_s": tps, "wal_mb_per_s": wal / elapsed / 1e6}


def archive(url, store):
    if store.exists():
        shutil.rmtree(store)
    sizes = {}
    for line in psql(
        url,
        "SELECT c.relname || ' ' || pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'public.events'::regclass",
    ).splitlines():
        name, size = line.split()
        sizes[name] = int(size)
    out = run(
        [
            str(GODWIT), "maintain", "--to", url, "--archive-older-than", "12months", "--archive-to", str(store),
            "--json",
        ],
        check=False,
        env=env(),
    )
    if out.returncode != 0:
        raise SystemExit(f"archive failed ({out.returncode}): {out.stderr}")
    parts = json.loads(out.stdout)["archive"]["partitions"]
    rows = sum(p["rows"] for p in parts)
    seconds = sum(p["seconds"] for p in parts)
    table_bytes = sum(sizes.get(p["partition"], 0) for p in parts)
    archive_bytes = sum(p["bytes"] for p in parts)
    return {
        "partitions": len(parts),
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "table_mb_per_s": table_bytes / seconds / 1e6,
        "archive_mb": archive_bytes / 1e6,
    }


def median_of(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workload-seconds", type=int, default=10)
    parser.add_argument("--write-seconds", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep /tmp/partitions/ afterwards")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    source = WORK / f"events-{args.rows}.db"
    config = WORK / "partitioned.toml"
    config.write_text(CONFIG)
    queries = WORK / "queries.jsonl"
    write_queries(queries)
    make_source(source, args.rows)
    base = server_url()
    admin = base
    run(["psql", admin, "-qc", "DROP DATABASE IF EXISTS bench_partitions"])
    run(["psql", admin, "-qc", "CREATE DATABASE bench_partitions"])
    url = base.rsplit("/", 1)[0] + "/bench_partitions"

    reps = []
    sizes = {}
    for rep in range(args.reps):
        log(f"repetition {rep + 1}/{args.reps}")
        r = {}
        r["copy_flat_s"] = copy(source, url, "flat", None)
        r["copy_part_s"] = copy(source, url, PART, config)
        log(f"  copy: flat {r['copy_flat_s']:.1f}s, partitioned {r['copy_part_s']:.1f}s")
        if not sizes:
            for side, schema in (("flat", "flat"), ("part", PART)):
                sizes[side] = int(
                    psql(
                        url,
                        f"SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        f"WHERE n.nspname = '{schema}' AND c.relkind = 'r'",
                    )
                )
        r["workload_flat"] = workload(source, url, "flat", queries, args.workload_seconds)
        r["workload_part"] = workload(source, url, PART, queries, args.workload_seconds)
        log(f"  workload: flat {r['workload_flat']}, partitioned {r['workload_part']}")
        r["writes_flat"] = writes(url, "flat", args.write_seconds, WORK)
        r["writes_part"] = writes(url, PART, args.write_seconds, WORK)
        log(f"  writes: flat {r['writes_flat']}, partitioned {r['writes_part']}")
        r["archive"] = archive(url, WORK / "archive")
        log(f"  archive: {r['archive']}")
        reps.append(r)

    summary = {
        "rows": args.rows,
        "reps": args.reps,
        "table_bytes": sizes,
        "copy_flat_s": median_of([r["copy_flat_s"] for r in reps]),
        "copy_part_s": median_of([r["copy_part_s"] for r in reps]),
        "copy_ratio": median_of([r["copy_part_s"] / r["copy_flat_s"] for r in reps]),
        "workload": {
            side: {
                cls: {k: median_of([r[f"workload_{side}"][cls][k] for r in reps]) for k in ("p50_ms", "p95_ms")}
                for cls in reps[0][f"workload_{side}"]
            }
            for side in ("flat", "part")
        },
        "writes": {
            side: {k: median_of([r[f"writes_{side}"][k] for r in reps]) for k in ("rows_per_s", "wal_mb_per_s")}
            for side in ("flat", "part")
        },
        "archive": {
            k: median_of([r["archive"][k] for r in reps])
            for k in ("partitions", "rows", "seconds", "rows_per_s", "table_mb_per_s", "archive_mb")
        },
        "runs": reps,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"rows {args.rows:,}, medians of {args.reps}")
    print(f"copy: flat {summary['copy_flat_s']:.1f}s, partitioned {summary['copy_part_s']:.1f}s "
          f"(ratio {summary['copy_ratio']:.2f})")
    for side in ("flat", "part"):
        for cls, v in summary["workload"][side].items():
            print(f"workload {side:<5} {cls:<12} p50 {v['p50_ms']:.2f} ms  p95 {v['p95_ms']:.2f} ms")
        w = summary["writes"][side]
        print(f"writes   {side:<5} {w['rows_per_s']:.0f} rows/s, WAL {w['wal_mb_per_s']:.2f} MB/s")
    a = summary["archive"]
    print(f"archive: {a['partitions']:.0f} partitions, {a['rows']:.0f} rows in {a['seconds']:.1f}s: "
          f"{a['rows_per_s']:.0f} rows/s, {a['table_mb_per_s']:.1f} MB/s of table, {a['archive_mb']:.1f} MB archived")
    print(f"sizes: flat {sizes['flat'] / 1e6:.0f} MB, partitioned {sizes['part'] / 1e6:.0f} MB")
    run(["psql", admin, "-qc", "DROP DATABASE IF EXISTS bench_partitions"])
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
