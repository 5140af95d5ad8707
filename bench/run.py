#!/usr/bin/env python3
"""`make bench SF=1`: godwit against its peers and the server's own limit.

One run, one PostgreSQL server (`godwit local`), several repetitions, each
tool into a fresh database every time. Prints medians, ratios, peak memory,
exit codes, and what each tool's result lacks compared with the source
(checked in the target's catalog, not assumed). See BENCHMARKS.md.

A tool that fails is reported as failed and the run goes on with the others.
"""

import argparse
import os
import re
import shlex
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import social_schema

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
VENV = BENCH / ".venv"
# Versions that install on Python 3.11 here and ship the extensions as wheels.
VENV_PACKAGES = ["duckdb==1.4.4", "duckdb-ext-sqlite==1.4.4.20260205",
                 "duckdb-ext-postgres==1.4.4.20260205"]
# GODWIT_BENCH_HOME: another cluster, when several people bench on one machine.
GODWIT_HOME = os.environ.get("GODWIT_BENCH_HOME", "/tmp/godwit-bench-home")
# pgloader's default SBCL heap is exhausted on the SF=1 file.
PGLOADER_HEAP_MB = 8192
ALL_TOOLS = ["godwit", "pgloader", "duckdb", "limit", "limit-freeze"]
LIMIT_PHASES = ["copy", "primary keys", "indexes", "foreign keys"]


# --------------------------------------------------------------- results

@dataclass
class Attempt:
    """One tool's run into one fresh database."""
    tool: str
    rep: int
    exit_code: int
    seconds: float
    max_rss_kb: int | None = None
    phases: dict = field(default_factory=dict)
    log: Path | None = None
    target: dict | None = None  # catalog facts, see inspect_target
    # The machine is shared: a busy neighbour shows here and explains outliers.
    load_before: float | None = None

    @property
    def ok(self):
        # godwit exits 3 when the copy succeeded with something to review.
        return self.exit_code == 0 or (self.tool == "godwit" and self.exit_code == 3)


# ---------------------------------------------------------------- setup

def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_venv():
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import duckdb, duckdb_ext"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    log(f"creating {VENV} with {' '.join(VENV_PACKAGES)}")
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *VENV_PACKAGES], check=True)
    return python


def ensure_gnu_time():
    """Peak memory comes from GNU time's -v report (Debian package `time`)."""
    if Path("/usr/bin/time").exists():
        return
    log("installing the Debian package time for /usr/bin/time -v")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "time"], check=True, env=env)


def sf_label(sf):
    return f"{sf:g}"


def ensure_dataset(sf):
    """The generated file is cached per SF: generation is deterministic."""
    path = OUT / f"social-sf{sf_label(sf)}.db"
    if path.exists():
        log(f"dataset {path} is cached")
    else:
        log(f"generating {path}")
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(BENCH / "gen_social.py"), "--sf", str(sf), str(path)],
                       check=True)
    return path


# --------------------------------------------------------------- server

class Server:
    """The godwit local cluster, reached with psql as its superuser."""

    def __init__(self, godwit):
        if not Path(godwit).exists():
            sys.exit(f"bench: {godwit} is missing: run `cargo build --release` or pass --godwit")
        env = {**os.environ, "GODWIT_HOME": GODWIT_HOME}
        subprocess.run([godwit, "local", "start"], env=env, check=True, stdout=subprocess.DEVNULL)
        self.url = subprocess.run([godwit, "local", "url"], env=env, check=True,
                                  capture_output=True, text=True).stdout.strip()

    def url_for(self, database):
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))

    def libpq_for(self, database):
        """key=value form, for clients that do not take URLs' query strings."""
        parts = urllib.parse.urlsplit(self.url)
        return (f"host={parts.hostname} port={parts.port} user={parts.username} "
                f"dbname={database} sslmode=disable")

    def psql(self, sql, database="postgres"):
        result = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.url_for(database), "-c", sql],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed on {sql[:80]!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def rows(self, sql, database):
        return [line.split("|") for line in self.psql(sql, database).splitlines() if line]

    def fresh_database(self, name):
        self.drop_database(name)
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name):
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def checkpoint(self):
        # Flush the previous run's dirty pages so they do not bill the next tool.
        self.psql("CHECKPOINT")

    def version(self):
        return self.psql("SHOW server_version")


# ------------------------------------------------------------ measuring

def run_timed(command, log_path, env=None):
    """Runs command under /usr/bin/time -v. Returns (exit code, wall seconds,
    peak RSS in kB); output goes to log_path."""
    rss_path = log_path.with_suffix(".time")
    started = time.perf_counter()
    with open(log_path, "w") as out:
        out.write("$ " + shlex.join(command) + "\n")
        out.flush()
        code = subprocess.run(["/usr/bin/time", "-v", "-o", str(rss_path), *command],
                              stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    seconds = time.perf_counter() - started
    return code, seconds, peak_rss_kb(rss_path)


def peak_rss_kb(time_output):
    try:
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output.read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def log_path(tool, sf, rep):
    directory = OUT / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{tool}-sf{sf_label(sf)}-r{rep}.log"


# ----------------------------------------------------------------- tools

def run_godwit(ctx, rep, database):
    command = [ctx.godwit, "copy", str(ctx.source), "--to", ctx.server.url_for(database)]
    if ctx.jobs:
        command += ["--jobs", str(ctx.jobs)]
    path = log_path("godwit", ctx.sf, rep)
    code, seconds, rss = run_timed(command, path)
    return Attempt("godwit", rep, code, seconds, rss, log=path)


def run_pgloader(ctx, rep, database):
    command = ["pgloader", "--dynamic-space-size", str(PGLOADER_HEAP_MB),
               f"sqlite://{ctx.source}", ctx.server.url_for(database)]
    path = log_path("pgloader", ctx.sf, rep)
    code, seconds, rss = run_timed(command, path)
    return Attempt("pgloader", rep, code, seconds, rss, log=path)


def run_duckdb(ctx, rep, database):
    command = [str(ctx.venv_python), str(BENCH / "duckdb_copy.py"), str(ctx.source),
               ctx.server.libpq_for(database), str(ctx.jobs or os.cpu_count())]
    path = log_path("duckdb", ctx.sf, rep)
    code, seconds, rss = run_timed(command, path)
    return Attempt("duckdb", rep, code, seconds, rss, log=path)


def run_limit(ctx, rep, database, freeze=False):
    """Server-side binary COPY of pre-encoded files into bare tables, N tables
    at a time, then keys, indexes and FKs one by one, each phase timed. No
    client parses or converts anything: this is the server's own speed.
    With `freeze`, each COPY runs with FREEZE in the transaction that
    truncates the table, as godwit's own loads do: the stricter bar."""
    files = ctx.encoded_files
    server = ctx.server
    for table in social_schema.TABLES:
        server.psql(social_schema.create_table_sql(table), database)
    phases = {}

    started = time.perf_counter()
    # Biggest files first, so the last one to finish is a small one.
    by_size = sorted(files, key=lambda t: files[t].stat().st_size, reverse=True)
    with ThreadPoolExecutor(max_workers=ctx.jobs or 2) as pool:
        copy = ("BEGIN; TRUNCATE {t}; COPY {t} FROM '{f}' (FORMAT binary, FREEZE); COMMIT" if freeze
                else "COPY {t} FROM '{f}' (FORMAT binary)")
        copies = [pool.submit(server.psql, copy.format(t=t, f=files[t]), database) for t in by_size]
        for copy in copies:
            copy.result()
    phases["copy"] = time.perf_counter() - started

    def timed_serially(phase, statements):
        began = time.perf_counter()
        for statement in statements:
            server.psql(statement, database)
        phases[phase] = time.perf_counter() - began

    timed_serially("primary keys", [social_schema.primary_key_sql(t) for t in social_schema.TABLES])
    timed_serially("indexes", social_schema.INDEXES)
    timed_serially("foreign keys", [social_schema.foreign_key_sql(*fk) for fk in social_schema.FOREIGN_KEYS])
    return Attempt("limit-freeze" if freeze else "limit", rep, 0, sum(phases.values()), None, phases)


def run_limit_freeze(ctx, rep, database):
    return run_limit(ctx, rep, database, freeze=True)


TOOL_RUNNERS = {"godwit": run_godwit, "pgloader": run_pgloader, "duckdb": run_duckdb, "limit": run_limit,
                "limit-freeze": run_limit_freeze}


def encode_limit_files(ctx):
    """Makes the binary COPY files once per SF: the sqlite3 shell's CSV into
    tables of the final schema, then the server writes each out. The files
    sit where the server's OS user can read them. Delete the directory after
    changing social_schema.py: the cache is keyed by SF only."""
    directory = Path(f"/tmp/godwit-bench-{sf_label(ctx.sf)}")
    files = {t: directory / f"{t}.bin" for t in social_schema.TABLES}
    if all(f.exists() for f in files.values()):
        log(f"binary COPY files in {directory} are cached")
        return files
    log(f"encoding binary COPY files into {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)  # the server's own account writes them
    database = ctx.server.fresh_database("godwit_bench_encode")
    try:
        for table in social_schema.TABLES:
            ctx.server.psql(social_schema.create_table_sql(table), database)
            load_table_with_csv(ctx, table, database)
            partial = directory / f"{table}.bin.partial"
            ctx.server.psql(f"COPY {table} TO '{partial}' (FORMAT binary)", database)
            partial.chmod(0o644)
            partial.replace(files[table])
    finally:
        ctx.server.drop_database(database)
    return files


def load_table_with_csv(ctx, table, database):
    export = subprocess.Popen(["sqlite3", "-csv", str(ctx.source), social_schema.export_select(table)],
                              stdout=subprocess.PIPE)
    load = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", ctx.server.url_for(database),
                           "-c", f"\\copy {table} FROM STDIN (FORMAT csv)"], stdin=export.stdout)
    export.stdout.close()
    if export.wait() != 0 or load.returncode != 0:
        raise RuntimeError(f"could not load {table} for encoding")


# --------------------------------------------------------------- checks

def inspect_source(path):
    """What a complete copy must have, read from SQLite itself."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        facts = {"tables": len(tables), "rows": 0, "not_null": 0, "primary_keys": 0,
                 "foreign_keys": 0, "indexes": 0, "boolean": 0, "float4": 0,
                 "timestamp": 0, "bytea": 0}
        for table in tables:
            facts["rows"] += con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            columns = con.execute(f'PRAGMA table_info("{table}")').fetchall()
            # PRAGMA says notnull=0 for INTEGER PRIMARY KEY, yet it can never be NULL.
            facts["not_null"] += sum(1 for c in columns if c[3] or c[5])
            facts["primary_keys"] += any(c[5] for c in columns)
            facts["boolean"] += sum(1 for c in columns if c[2].upper() == "BOOLEAN")
            facts["timestamp"] += sum(1 for c in columns if c[2].upper() == "DATETIME")
            facts["bytea"] += sum(1 for c in columns if c[2].upper() == "BLOB")
            facts["foreign_keys"] += len({r[0] for r in con.execute(f'PRAGMA foreign_key_list("{table}")')})
            facts["indexes"] += sum(1 for r in con.execute(f'PRAGMA index_list("{table}")') if r[3] == "c")
        return facts
    finally:
        con.close()


TARGET_QUERIES = {
    "tables": "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    "not_null": "SELECT count(*) FROM information_schema.columns "
                "WHERE table_schema = 'public' AND is_nullable = 'NO'",
    "primary_keys": "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                    "WHERE n.nspname = 'public' AND c.contype = 'p'",
    "foreign_keys": "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                    "WHERE n.nspname = 'public' AND c.contype = 'f'",
    # Secondary indexes: every index but the ones behind primary keys.
    "indexes": "SELECT count(*) FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
               "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.schemaname = 'public' AND NOT x.indisprimary",
    "boolean": "SELECT count(*) FROM information_schema.columns "
               "WHERE table_schema = 'public' AND data_type = 'boolean'",
    "float4": "SELECT count(*) FROM information_schema.columns "
              "WHERE table_schema = 'public' AND data_type = 'real'",
    "timestamp": "SELECT count(*) FROM information_schema.columns "
                 "WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'",
    "bytea": "SELECT count(*) FROM information_schema.columns "
             "WHERE table_schema = 'public' AND data_type = 'bytea'",
}
FACTS = ["tables", "rows", "not_null", "primary_keys", "foreign_keys", "indexes",
         "boolean", "float4", "timestamp", "bytea"]


def inspect_target(server, database):
    facts = {name: int(server.psql(sql, database)) for name, sql in TARGET_QUERIES.items()}
    tables = [r[0] for r in server.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database)]
    facts["rows"] = sum(int(server.psql(f'SELECT count(*) FROM public."{t}"', database)) for t in tables)
    facts["column_types"] = server.psql(
        "SELECT string_agg(data_type || ' ' || n, ', ' ORDER BY data_type) FROM "
        "(SELECT data_type, count(*) n FROM information_schema.columns "
        "WHERE table_schema = 'public' GROUP BY 1) t", database)
    return facts


# ------------------------------------------------------------- the run

@dataclass
class Context:
    sf: float
    source: Path
    server: Server
    godwit: str
    jobs: int | None
    venv_python: Path | None = None
    encoded_files: dict | None = None


def attempt_once(ctx, tool, rep, keep):
    database = ctx.server.fresh_database(f"godwit_bench_{tool}_r{rep}")
    ctx.server.checkpoint()
    load = os.getloadavg()[0]
    try:
        attempt = TOOL_RUNNERS[tool](ctx, rep, database)
    except Exception as error:  # a broken tool must not end the whole run
        log(f"{tool} rep {rep}: {error}")
        attempt = Attempt(tool, rep, -1, float("nan"))
    attempt.load_before = load
    try:
        attempt.target = inspect_target(ctx.server, database)
    except Exception as error:
        log(f"{tool} rep {rep}: could not inspect the target: {error}")
    if not keep:
        ctx.server.drop_database(database)
    status = "ok" if attempt.ok else f"FAILED (exit {attempt.exit_code}, log {attempt.log})"
    log(f"{tool} rep {rep}: {attempt.seconds:.1f} s, {status} (load average before: {load:.1f})")
    return attempt


def prepare_tools(ctx, tools):
    """Per-tool setup that is not timed. Returns the tools that can run."""
    ready = []
    for tool in tools:
        try:
            if tool == "duckdb":
                ctx.venv_python = ensure_venv()
            elif tool.startswith("limit"):
                ctx.encoded_files = encode_limit_files(ctx)
            ready.append(tool)
        except Exception as error:
            log(f"{tool}: setup failed, skipped: {error}")
    return ready


def tool_versions(ctx, tools):
    probes = {
        "godwit": [ctx.godwit, "--version"],
        "pgloader": ["pgloader", "--version"],
        "duckdb": [str(ctx.venv_python or ""), "-c",
                   "import duckdb, importlib.metadata as m; print('duckdb', duckdb.__version__, "
                   "'sqlite ext', m.version('duckdb-ext-sqlite'), 'postgres ext', m.version('duckdb-ext-postgres'))"],
    }
    versions = {}
    for tool in tools:
        if tool in probes:
            try:
                out = subprocess.run(probes[tool], capture_output=True, text=True, timeout=30)
                versions[tool] = (out.stdout or out.stderr).strip().splitlines()[0]
            except Exception as error:
                versions[tool] = f"unknown ({error})"
    return versions


# -------------------------------------------------------------- report

def median_seconds(attempts):
    good = [a.seconds for a in attempts if a.ok]
    return statistics.median(good) if good else None


def fmt(value, pattern="{:.1f}"):
    return "-" if value is None else pattern.format(value)


def report(ctx, tools, attempts, source_facts, size_mb, versions):
    lines = []
    emit = lines.append
    by_tool = {t: [a for a in attempts if a.tool == t] for t in tools}
    medians = {t: median_seconds(by_tool[t]) for t in tools}
    godwit = medians.get("godwit")
    rows = source_facts["rows"]

    emit(f"godwit bench: SF={sf_label(ctx.sf)}, source {ctx.source.name}: {rows:,} rows, {size_mb:.0f} MB; "
         f"{max((a.rep for a in attempts), default=0)} repetition(s); server PostgreSQL {ctx.server.version()}; "
         f"{os.cpu_count()} cores")
    for tool, version in versions.items():
        emit(f"  {tool}: {version}")
    loads = [a.load_before for a in attempts if a.load_before is not None]
    if loads:
        emit(f"  1-minute load average before each run: {min(loads):.1f} to {max(loads):.1f} "
             f"(on {os.cpu_count()} cores; above that, other work shared the machine)")
    emit("")
    emit(f"{'tool':<12} {'exit codes':<11} {'median s':>9} {'all runs s':<22} {'rows/s':>10} {'MB/s':>6} "
         f"{'peak RSS MB':>11} {'vs godwit':>9} {'vs limit':>8}")
    for tool in tools:
        runs = by_tool[tool]
        median = medians[tool]
        codes = ",".join(str(a.exit_code) for a in runs)
        every = " ".join(fmt(a.seconds) for a in runs)
        rss = [a.max_rss_kb for a in runs if a.max_rss_kb]
        peak = max(rss) / 1024 if rss else None
        ratio = (median / godwit) if (median and godwit and tool != "godwit") else None
        limit = medians.get("limit")
        vs_limit = (median / limit) if (median and limit and tool != "limit") else None
        emit(f"{tool:<12} {codes:<11} {fmt(median):>9} {every:<22} "
             f"{fmt(rows / median if median else None, '{:,.0f}'):>10} "
             f"{fmt(size_mb / median if median else None):>6} {fmt(peak, '{:.0f}'):>11} "
             f"{fmt(ratio, '{:.2f}x'):>9} {fmt(vs_limit, '{:.2f}x'):>8}")
        if not median:
            emit(f"{'':<12} FAILED every run: see {runs[-1].log if runs and runs[-1].log else 'the log above'}")
    for limit_tool in ("limit", "limit-freeze"):
        if limit_tool in tools and medians.get(limit_tool):
            limit_runs = [a for a in by_tool[limit_tool] if a.ok]
            parts = ", ".join(f"{p} {statistics.median(a.phases[p] for a in limit_runs):.1f} s"
                              for p in LIMIT_PHASES)
            emit(f"server {limit_tool} phases (medians): {parts}")
            if godwit:
                emit(f"godwit vs server {limit_tool}: {godwit / medians[limit_tool]:.2f}x")
    emit("")
    emit("what each result has (last repetition, from the target's catalog; source = what a complete copy has)")
    emit(f"{'':<12} " + " ".join(f"{f:>12}" for f in FACTS))
    emit(f"{'source':<12} " + " ".join(f"{source_facts[f]:>12,}" for f in FACTS))
    for tool in tools:
        last = by_tool[tool][-1] if by_tool[tool] else None
        if last is None or last.target is None:
            emit(f"{tool:<12} (not inspected)")
            continue
        emit(f"{tool:<12} " + " ".join(f"{last.target[f]:>12,}" for f in FACTS))
    emit("(float4 = REAL columns made single precision: values rounded. "
         f"Source has {count_real_columns(ctx.source)} REAL columns.)")
    for tool in tools:
        last = by_tool[tool][-1] if by_tool[tool] else None
        if last and last.target:
            emit(f"column types, {tool}: {last.target['column_types']}")
    return "\n".join(lines)


def count_real_columns(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return sum(1 for t in tables for c in con.execute(f'PRAGMA table_info("{t}")') if c[2].upper() == "REAL")
    finally:
        con.close()


def parse_args():
    parser = argparse.ArgumentParser(description="godwit vs pgloader, DuckDB and the server's limit")
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor: 1 = 3.4M rows, ~880 MB")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per tool (default 3)")
    parser.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated subset of "
                        + ",".join(ALL_TOOLS))
    parser.add_argument("--godwit", default=str(REPO / "target" / "release" / "godwit"),
                        help="godwit binary; also starts the server (default target/release/godwit)")
    parser.add_argument("--jobs", type=int, help="parallelism for godwit --jobs, DuckDB threads and the "
                        "limit's concurrent COPYs (default: godwit's own, DuckDB the cores, limit 2)")
    parser.add_argument("--keep", action="store_true", help="keep the target databases")
    parser.add_argument("--report", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(ALL_TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    return args, tools


def main():
    args, tools = parse_args()
    ensure_gnu_time()
    source = ensure_dataset(args.sf)
    server = Server(args.godwit)
    ctx = Context(args.sf, source, server, args.godwit, args.jobs)
    tools = prepare_tools(ctx, tools)
    versions = tool_versions(ctx, tools)
    source_facts = inspect_source(source)
    size_mb = source.stat().st_size / 1e6
    attempts = []
    # Interleaved (rep 1 of every tool, then rep 2, ...) so that a slow spell
    # on this shared machine hits all tools alike.
    for rep in range(1, args.reps + 1):
        for tool in tools:
            attempts.append(attempt_once(ctx, tool, rep, args.keep))
    text = report(ctx, tools, attempts, source_facts, size_mb, versions)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n")


if __name__ == "__main__":
    main()
