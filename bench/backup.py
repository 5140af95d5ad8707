#!/usr/bin/env python3
"""`make bench-backup SF=0.5`: godwit backup / restore against plain pg_dump / pg_restore.

The source database is the benchmark's social dataset copied into PostgreSQL by godwit (made once per SF
and kept). Then, interleaved for every repetition:

- `pg_dump -Fd -j N` against `godwit backup --jobs N` (dump + fingerprints from the same snapshot +
  sha256 of every file + manifest);
- `createdb` + `pg_restore -Fd -j N` against `godwit restore --jobs N` into a new database (checksums,
  restore, the proof of every table's count and fingerprint, and the swap);
- `godwit backup verify` (checksums, restore into a scratch database, proof, drop).

Both sides use the same pg_dump/pg_restore binaries and compression (gzip on PostgreSQL 15). Prints
medians, ratios and peak memory. See BENCHMARKS.md.
"""

import argparse
import os
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import run

WORK = run.OUT / "backup-bench"


def bindir(server):
    major = server.psql("SHOW server_version_num")[:-4]
    path = Path(f"/usr/lib/postgresql/{major}/bin")
    if not (path / "pg_dump").exists():
        sys.exit(f"bench: {path}/pg_dump is missing")
    return path


def ensure_source(server, godwit, sf):
    """The social dataset in PostgreSQL, copied once per SF."""
    name = f"backup_bench_sf{run.sf_label(sf).replace('.', '_')}"
    exists = server.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == "1"
    if exists and server.psql("SELECT to_regclass('public.godwit_bench_ready') IS NOT NULL", name) == "t":
        run.log(f"source database {name} is ready")
        return name
    dataset = run.ensure_dataset(sf)
    server.fresh_database(name)
    run.log(f"copying {dataset} into {name}")
    subprocess.run([godwit, "copy", str(dataset), "--to", server.url_for(name), "--quiet"], check=True)
    server.psql("CREATE TABLE godwit_bench_ready (); VACUUM ANALYZE", name)
    return name


def timed(label, rep, command):
    path = WORK / "logs" / f"{label}-r{rep}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    code, seconds, rss = run.run_timed(command, path)
    if code != 0:
        sys.exit(f"bench: {label} failed (exit {code}); see {path}")
    return seconds, rss, path


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def fingerprint_alone(server, database):
    """The fingerprint queries alone, one session, every table in turn (their whole CPU cost)."""
    tables = server.rows(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
        database)
    started = time.perf_counter()
    for (table,) in tables:
        server.psql(f"SELECT count(*), sum(hashtextextended(t::text, 0)) FROM ONLY {table} t", database)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description="godwit backup/restore vs pg_dump/pg_restore")
    parser.add_argument("--sf", type=float, default=0.5, help="scale factor of the social dataset (0.5 ≈ 440 MB)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--godwit", default=str(run.REPO / "target" / "release" / "godwit"))
    args = parser.parse_args()

    run.ensure_gnu_time()
    server = run.Server(args.godwit)
    source = ensure_source(server, args.godwit, args.sf)
    bins = bindir(server)
    db_size = int(server.psql(f"SELECT pg_database_size('{source}')"))
    rows = server.psql(f"SELECT sum(n_live_tup) FROM pg_stat_user_tables", source)
    run.log(f"source {source}: {db_size / 1e6:.0f} MB, ~{rows} rows; pg binaries {bins}")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    src_url = server.url_for(source)
    results = {k: [] for k in ["pg_dump", "godwit backup", "pg_restore", "godwit restore", "godwit verify",
                               "fingerprints alone"]}
    rss = {k: [] for k in results}
    sizes = {}
    for rep in range(1, args.reps + 1):
        loads = []
        # pg_dump
        server.checkpoint()
        loads.append(os.getloadavg()[0])
        dump_dir = WORK / "pgdump"
        shutil.rmtree(dump_dir, ignore_errors=True)
        s, r, _ = timed("pg_dump", rep, [str(bins / "pg_dump"), "-Fd", f"-j{args.jobs}", "-f", str(dump_dir),
                                          "-d", server.libpq_for(source)])
        results["pg_dump"].append(s)
        rss["pg_dump"].append(r)
        sizes["pg_dump"] = dir_size(dump_dir)
        # godwit backup
        server.checkpoint()
        loads.append(os.getloadavg()[0])
        backups = WORK / "godwit"
        shutil.rmtree(backups, ignore_errors=True)
        s, r, log = timed("godwit-backup", rep, [args.godwit, "backup", "--to", src_url, "--dir", str(backups),
                                                 "--jobs", str(args.jobs), "--json"])
        results["godwit backup"].append(s)
        rss["godwit backup"].append(r)
        text = log.read_text()
        outcome = json.loads(text[text.index("{"):])
        sizes["godwit backup"] = dir_size(backups)
        # pg_restore into a new database
        server.checkpoint()
        loads.append(os.getloadavg()[0])
        server.drop_database("bb_pg_restore")
        s, r, _ = timed("pg_restore", rep, ["sh", "-c",
                                            f"{bins}/createdb -d '{server.libpq_for('postgres')}' bb_pg_restore && "
                                            f"{bins}/pg_restore -Fd -j{args.jobs} -d "
                                            f"'{server.libpq_for('bb_pg_restore')}' {dump_dir}"])
        results["pg_restore"].append(s)
        rss["pg_restore"].append(r)
        # godwit restore (checksums, restore, proof, swap) into a new database
        server.checkpoint()
        loads.append(os.getloadavg()[0])
        server.drop_database("bb_godwit_restore")
        s, r, _ = timed("godwit-restore", rep, [args.godwit, "restore", outcome["path"], "--to",
                                                server.url_for("bb_godwit_restore"), "--jobs", str(args.jobs)])
        results["godwit restore"].append(s)
        rss["godwit restore"].append(r)
        # godwit backup verify
        server.checkpoint()
        s, r, _ = timed("godwit-verify", rep, [args.godwit, "backup", "verify", outcome["path"], "--to", src_url,
                                               "--jobs", str(args.jobs)])
        results["godwit verify"].append(s)
        rss["godwit verify"].append(r)
        results["fingerprints alone"].append(fingerprint_alone(server, source))
        server.drop_database("bb_pg_restore")
        server.drop_database("bb_godwit_restore")
        run.log(f"rep {rep}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in results.items())
                + f"; load {', '.join(f'{x:.1f}' for x in loads)}")

    med = {k: statistics.median(v) for k, v in results.items()}
    lines = [
        f"source: {source}, {db_size / 1e6:.0f} MB on disk, ~{rows} rows; jobs {args.jobs}; "
        f"{args.reps} reps, medians; server {server.version()}",
        "",
        "| | median s | runs (s) | ratio | peak RSS MB | output |",
        "|---|---|---|---|---|---|",
    ]

    def row(name, base=None, size_key=None):
        ratio = f"**{med[name] / med[base]:.2f}x** {base}" if base else "1"
        peak = max((x for x in rss[name] if x), default=None)
        size = f"{sizes[size_key] / 1e6:.0f} MB" if size_key else ""
        runs = ", ".join(f"{x:.1f}" for x in results[name])
        lines.append(f"| {name} | {med[name]:.1f} | {runs} | {ratio} | "
                     f"{peak / 1024:.0f} | {size} |" if peak else
                     f"| {name} | {med[name]:.1f} | {runs} | {ratio} | – | {size} |")

    row("pg_dump", size_key="pg_dump")
    row("godwit backup", "pg_dump", "godwit backup")
    row("pg_restore")
    row("godwit restore", "pg_restore")
    row("godwit verify", "pg_restore")
    row("fingerprints alone", "pg_dump")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
