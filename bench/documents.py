#!/usr/bin/env python3
"""`make bench`: documents (JSON Lines and CSV) into PostgreSQL, godwit
against DuckDB and dlt.

Usage: documents.py [--mb 1024] [--reps 1] [--tools godwit,duckdb,dlt] [--forms ndjson,json,csv]
                    [--data DIR] [--godwit-before PATH] [--report FILE]

The dataset comes from gen_documents.py (cached under bench/out/docs-<MB>/,
or --data DIR). Runs are interleaved (every tool once, then again, --reps
times) so that a machine's load falls on all tools alike; the median of each
is reported. --godwit-before adds another godwit binary (say, main's) as the
tool `godwit-before`.
Every tool loads into a fresh database on the `godwit local` bench server,
under /usr/bin/time -v for peak memory; then the target is inspected: keys,
foreign keys, column types, row counts, and a sample of rows read back as
text and compared with the values the generator wrote, so that what a tool
changed (rounded, retyped, dropped) is reported, not assumed.
"""

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gen_documents
import run as harness

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
VENV = BENCH / ".venv-documents"
VENV_PACKAGES = harness.VENV_PACKAGES + ["dlt[postgres]==1.31.0"]
# Rows read back and compared with what the generator wrote.
SAMPLE_IDS = [1, 2, 3, 7, 1000, 99_999]
ALL_TOOLS = ["godwit", "duckdb", "dlt"]


def ensure_venv(with_dlt):
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import duckdb, duckdb_ext" + (", dlt" if with_dlt else "")]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    packages = VENV_PACKAGES if with_dlt else harness.VENV_PACKAGES
    harness.log(f"creating {VENV} with {' '.join(packages)}")
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return python


def ensure_dataset(mb, forms, directory=None):
    directory = directory or OUT / f"docs-{mb:g}mb"
    missing = [f for f in forms if not any((directory / f).glob("events.*"))]
    if not missing:
        harness.log(f"dataset {directory} is cached")
    else:
        harness.log(f"generating {', '.join(missing)} in {directory}")
        subprocess.run([sys.executable, str(BENCH / "gen_documents.py"), "--mb", str(mb),
                        "--forms", ",".join(missing), str(directory)], check=True)
    return directory


def log_path(tool, form, rep, mb):
    directory = OUT / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"documents-{mb:g}mb-{tool}-{form}-r{rep}.log"


def cpu_seconds(log):
    """User + system seconds of the process, from /usr/bin/time -v beside its log."""
    try:
        text = log.with_suffix(".time").read_text()
    except OSError:
        return None
    found = [re.search(rf"{what} time \(seconds\): ([0-9.]+)", text) for what in ("User", "System")]
    return sum(float(m.group(1)) for m in found) if all(found) else None


def cpu_summary(runs):
    """The runs' CPU seconds and their median, for the report."""
    cpu = [r[3] for r in runs if r[3] is not None]
    if not cpu:
        return "n/a"
    return f"median {statistics.median(cpu):.1f} s ({', '.join(f'{c:.1f}' for c in cpu)})"


def command_for(tool, form, source, url, libpq, python, godwit):
    if tool.startswith("godwit"):
        return [godwit[tool], "copy", str(source), "--to", url]
    script = BENCH / ("duckdb_documents.py" if tool == "duckdb" else "dlt_documents.py")
    return [str(python), str(script), form, str(source), libpq if tool == "duckdb" else url]


def expected_rows():
    """What the generator wrote for the sampled ids, as PostgreSQL prints it."""
    import random

    rng = random.Random(42)
    wanted, out, i = set(SAMPLE_IDS), {}, 1
    while len(out) < len(wanted):
        e = gen_documents.event(i, rng)
        if i in wanted:
            out[i] = e
        i += 1
    return out


def column_of(columns, *candidates):
    for c in candidates:
        if c in columns:
            return c
    return None


def same_instant(want, got):
    from datetime import datetime

    try:
        a = datetime.fromisoformat(want.replace("Z", "+00:00"))
        b = datetime.fromisoformat(got.replace("Z", "+00:00").replace(" ", "T") + (":00" if got[-3] in "+-" else ""))
    except ValueError:
        return False
    return b.tzinfo is not None and a == b


def compare_values(server, database, table):
    """Reads the sampled rows back as text and lists every difference from
    the generator's values, by column."""
    columns = {r[0]: r[1] for r in server.rows(
        f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema')", database)}
    if not columns:
        return {"error": f"no table {table}"}, columns
    schema = server.psql(f"SELECT table_schema FROM information_schema.tables WHERE table_name = '{table}' "
                         "LIMIT 1", database)
    checks = ["seq", "amount", "ratio", "at", "code", "ok", "note"]
    present = [c for c in checks if c in columns]
    rows = server.rows(
        f"SELECT id::text, {', '.join(f'{c}::text' for c in present)} FROM \"{schema}\".\"{table}\" "
        f"WHERE id::text IN ({', '.join(repr(str(i)) for i in SAMPLE_IDS)})", database)
    expected = expected_rows()
    changed = {}
    for row in rows:
        e = expected[int(row[0])]
        for name, got in zip(present, row[1:]):
            want = e[name]
            if name == "at":
                # Any rendering of the same instant counts as equal; text without a zone does not.
                if not same_instant(want, got):
                    changed.setdefault(name, f"{want} -> {got} ({columns[name]})")
            elif name == "ok":
                if got not in ("true", "t") if want else got not in ("false", "f"):
                    changed.setdefault(name, f"{want} -> {got}")
            elif name == "note":
                if (want or "") != (got or ""):
                    changed.setdefault(name, f"{want!r} -> {got!r}")
            elif str(want) != got:
                changed.setdefault(name, f"{want} -> {got} ({columns[name]})")
    missing = [c for c in checks if c not in columns]
    if missing:
        changed["(missing columns)"] = ", ".join(missing)
    return changed, columns


def inspect(server, database):
    facts = {name: int(server.psql(sql, database)) for name, sql in harness.TARGET_QUERIES.items()}
    tables = server.rows("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
                         "('pg_catalog', 'information_schema') AND schemaname NOT LIKE '%staging%' "
                         "AND tablename NOT LIKE '\\_dlt%'", database)
    facts["tables"] = {t: int(server.psql(f'SELECT count(*) FROM "{s}"."{t}"', database)) for s, t in tables}
    return facts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1024, help="size of each events file (default 1024)")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--tools", default=",".join(ALL_TOOLS))
    parser.add_argument("--forms", default="ndjson,csv")
    parser.add_argument("--godwit", default=str(harness.REPO / "target" / "release" / "godwit"))
    parser.add_argument("--godwit-before", help="another godwit binary, run as the tool godwit-before")
    parser.add_argument("--data", type=Path, help="where the dataset is (generated there when missing)")
    parser.add_argument("--verify", action="store_true",
                        help="after each copy by the tool godwit, time `godwit verify` of it")
    parser.add_argument("--verify-before", metavar="GODWIT",
                        help="with --verify: also time this godwit's verify of the same copy, right after")
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()
    tools = args.tools.split(",")
    godwits = {"godwit": args.godwit}
    if args.godwit_before:
        tools.insert(0, "godwit-before")
        godwits["godwit-before"] = args.godwit_before
    forms = args.forms.split(",")
    harness.ensure_gnu_time()
    data = ensure_dataset(args.mb, forms, args.data)
    python = ensure_venv("dlt" in tools) if any(not t.startswith("godwit") for t in tools) else None
    server = harness.Server(args.godwit)
    lines = [f"documents benchmark: {args.mb:g} MB per events file, {args.reps} rep(s), "
             f"PostgreSQL {server.version()}, {time.strftime('%Y-%m-%d %H:%M')}"]
    for form in forms:
        source = data / form
        size = sum(f.stat().st_size for f in source.iterdir()) / 1e6
        lines.append(f"\n== {form}: {source} ({size:.0f} MB)")
        runs = {tool: [] for tool in tools}
        verifies = []
        verifies_before = []
        databases = {}
        # Interleaved: each rep runs every tool once, so load on the machine
        # falls on all of them alike.
        for rep in range(args.reps):
            for tool in tools:
                database = server.fresh_database(f"bench_docs_{tool.replace('-', '_')}_{form}")
                databases[tool] = database
                server.checkpoint()
                path = log_path(tool, form, rep, args.mb)
                command = command_for(tool, form, source, server.url_for(database), server.libpq_for(database),
                                      python, godwits)
                code, seconds, rss = harness.run_timed(command, path)
                runs[tool].append((code, seconds, rss, cpu_seconds(path)))
                harness.log(f"{tool} {form} rep {rep}: exit {code}, {seconds:.1f} s, {rss} kB")
                if args.verify and tool == "godwit":
                    path = log_path("godwit-verify", form, rep, args.mb)
                    command = [godwits[tool], "verify", str(source), "--to", server.url_for(database)]
                    code, seconds, rss = harness.run_timed(command, path)
                    verifies.append((code, seconds, rss, cpu_seconds(path)))
                    harness.log(f"godwit verify {form} rep {rep}: exit {code}, {seconds:.1f} s, {rss} kB")
                    if args.verify_before:
                        path = log_path("godwit-verify-before", form, rep, args.mb)
                        command = [args.verify_before, "verify", str(source), "--to", server.url_for(database)]
                        code, seconds, rss = harness.run_timed(command, path)
                        verifies_before.append((code, seconds, rss, cpu_seconds(path)))
                        harness.log(f"godwit verify (before) {form} rep {rep}: exit {code}, {seconds:.1f} s, {rss} kB")
                if rep + 1 < args.reps:
                    server.drop_database(database)
        for tool in tools:
            database = databases[tool]
            ok = [r for r in runs[tool] if r[0] in (0, 3)]
            median = statistics.median(r[1] for r in ok) if ok else None
            rss = max((r[2] or 0) for r in runs[tool])
            changed, columns = compare_values(server, database, "events")
            facts = inspect(server, database) if ok else {}
            lines.append(
                f"{tool:13} exit {','.join(str(r[0]) for r in runs[tool]):5} "
                f"median {'failed' if median is None else f'{median:.1f} s':>8}  "
                f"runs {', '.join(f'{r[1]:.1f}' for r in runs[tool])}  "
                f"CPU {cpu_summary(runs[tool])}  "
                f"peak RSS {rss / 1024:.0f} MB")
            if facts:
                lines.append(f"        keys {facts['primary_keys']}, foreign keys {facts['foreign_keys']}, "
                             f"NOT NULL {facts['not_null']}, tables {facts['tables']}")
                lines.append("        events columns: " + ", ".join(f"{c} {t}" for c, t in sorted(columns.items())))
                lines.append("        values changed: " + ("none" if not changed else
                             "; ".join(f"{k}: {v}" for k, v in changed.items())))
            server.drop_database(database)
        for label, done in (("godwit verify", verifies), ("verify before", verifies_before)):
            if not done:
                continue
            ok = [r for r in done if r[0] == 0]
            median = statistics.median(r[1] for r in ok) if ok else None
            lines.append(
                f"{label:13} exit {','.join(str(r[0]) for r in done):5} "
                f"median {'failed' if median is None else f'{median:.1f} s':>8}  "
                f"runs {', '.join(f'{r[1]:.1f}' for r in done)}  "
                f"CPU {cpu_summary(done)}  "
                f"peak RSS {max((r[2] or 0) for r in done) / 1024:.0f} MB")
    report = "\n".join(lines)
    print(report)
    if args.report:
        args.report.write_text(report + "\n")


if __name__ == "__main__":
    main()
