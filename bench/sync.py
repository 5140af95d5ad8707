#!/usr/bin/env python3
"""`make bench-sync SF=1`: a sync round against the copy, and the cutover pause.

On a private copy of the benchmark file (bench/out/social-sfN.db, made by
gen_social.py), per repetition:

1. `godwit copy` into a fresh database (timed; it records each key range's
   fingerprint with the rows);
2. 1% of the rows changed in SQLite, spread over every table: 70% updates,
   20% inserts, 10% deletes (children first), seeded;
3. the first `godwit sync` after the copy (timed, peak memory);
4. another 1% changed, and a later `godwit sync` (timed, peak memory);
5. `godwit verify` must exit 0; a quiet round (timed) must write nothing;
6. `godwit cutover` while a writer thread commits a small transaction every
   few milliseconds (busy_timeout 60 s): its `source_paused_s`, and how long
   the writer's slowest commit waited.

Prints the medians and each run; see BENCHMARKS.md. The machine is shared:
ratios within one repetition are the figures to trust.
"""

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # noqa: E402

CHANGED = 0.01


def change_one_percent(path, seed):
    """Changes 1% of each table's rows: 70% updates, 20% inserts, 10% deletes
    where the app could make them (no inserts where names are unique, no
    deletes of rows that others reference: those become updates)."""
    rng = random.Random(seed)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    counts = {}
    for table, column, value, can_insert, leaf in [
        ("users", "karma", "karma + 1", False, False),
        ("subreddits", "description", "'edited'", False, False),
        ("posts", "score", "score + 1", True, False),
        ("comments", "score", "score - 1", True, False),
        ("presence_events", "latency", "latency * 2", True, True),
        ("attachments", "mime_type", "'image/webp'", True, True),
    ]:
        n, lo, hi = db.execute(f"SELECT count(*), min(id), max(id) FROM {table}").fetchone()
        changes = max(1, int(n * CHANGED))
        inserts = int(changes * 0.2) if can_insert else 0
        deletes = int(changes * 0.1) if leaf else 0
        updates = changes - inserts - deletes
        ids = rng.sample(range(lo, hi + 1), updates + deletes)
        done = [0, 0, 0]
        for i in ids[:updates]:
            done[0] += db.execute(f"UPDATE {table} SET {column} = {value} WHERE id = ?", (i,)).rowcount
        for i in ids[updates:]:
            done[2] += db.execute(f"DELETE FROM {table} WHERE id = ?", (i,)).rowcount
        # New rows copy existing ones under new ids.
        cols = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
        for j, source in enumerate(rng.sample(range(lo, hi + 1), inserts)):
            done[1] += db.execute(
                f"INSERT INTO {table} (id, {', '.join(cols)}) SELECT ?, {', '.join(cols)} FROM {table} WHERE id = ?",
                (hi + 1 + j, source)).rowcount
        counts[table] = tuple(done)
    n = db.execute("SELECT count(*) FROM memberships").fetchone()[0]
    k = max(1, int(n * CHANGED))
    done = db.execute("UPDATE memberships SET is_moderator = 1 - is_moderator "
                      "WHERE (rowid * 2654435761 + ?) % 100 = 0", (seed,)).rowcount
    counts["memberships"] = (done, 0, 0)
    db.execute("COMMIT")
    db.close()
    return counts


class Writer(threading.Thread):
    """The app: a small transaction every 5 ms; notes its slowest commit."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.commits, self.slowest = path, threading.Event(), 0, 0.0

    def run(self):
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        while not self.stop.is_set():
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE users SET karma = karma + 1 WHERE id = ?", (1 + self.commits % 1000,))
            db.execute("COMMIT")
            self.slowest = max(self.slowest, time.perf_counter() - started)
            self.commits += 1
            time.sleep(0.005)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--godwit", default=str(harness.REPO / "target" / "release" / "godwit"))
    args = parser.parse_args()
    pristine = harness.ensure_dataset(args.sf)
    # A cluster of one's own on a shared machine (default: the bench's).
    harness.GODWIT_HOME = os.environ.get("GODWIT_BENCH_HOME", harness.GODWIT_HOME)
    server = harness.Server(args.godwit)
    work = harness.OUT / f"sync-sf{harness.sf_label(args.sf)}.db"
    results = []
    for rep in range(args.reps):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(pristine, work)
        sqlite3.connect(work).execute("PRAGMA journal_mode = WAL").fetchone()
        database = server.fresh_database("godwit_bench_sync")
        url = server.url_for(database)
        server.checkpoint()

        def timed(name, *command):
            path = harness.log_path(f"sync-{name}", args.sf, rep)
            code, seconds, rss = harness.run_timed([args.godwit, *command], path)
            if code not in (0, 3):
                sys.exit(f"bench: {name} exited {code}, see {path}")
            return seconds, rss, path

        copy_s, copy_rss, _ = timed("copy", "copy", str(work), "--to", url)
        first_counts = change_one_percent(work, seed=1000 + rep)
        server.checkpoint()
        first_s, first_rss, first_log = timed("first", "sync", str(work), "--to", url, "--json")
        first = json.loads(first_log.read_text().splitlines()[-1])
        counts = change_one_percent(work, seed=rep)
        server.checkpoint()
        round_s, round_rss, round_log = timed("round", "sync", str(work), "--to", url, "--json")
        summary = json.loads(round_log.read_text().splitlines()[-1])
        verify_s, verify_rss, _ = timed("verify", "verify", str(work), "--to", url)
        quiet_s, quiet_rss, quiet_log = timed("quiet", "sync", str(work), "--to", url, "--json")
        quiet = json.loads(quiet_log.read_text().splitlines()[-1])
        writer = Writer(work)
        writer.start()
        time.sleep(1)
        cut_s, cut_rss, cut_log = timed("cutover", "cutover", str(work), "--to", url, "--json")
        writer.stop.set()
        writer.join()
        cut = json.loads(cut_log.read_text().split("\n", 1)[1])
        row = {
            "rep": rep, "copy_s": copy_s, "copy_rss_mb": copy_rss / 1024,
            "first_sync_s": first_s, "first_sync_rss_mb": first_rss / 1024,
            "first_ratio": first_s / copy_s,
            "first_changed_rows": sum(sum(c) for c in first_counts.values()),
            "first_applied": first["inserted"] + first["updated"] + first["deleted"],
            "first_ranges_read": first["ranges_read"],
            # Where a round's time goes: comparing moved ranges with the
            # target (thread time summed over readers), and the applying
            # transaction from its first statement to the commit.
            "first_compare_s": first["compare_s"], "first_apply_s": first["apply_s"],
            "round_compare_s": summary["compare_s"], "round_apply_s": summary["apply_s"],
            "changed_rows": sum(sum(c) for c in counts.values()),
            "round_s": round_s, "round_rss_mb": round_rss / 1024, "ratio": round_s / copy_s,
            "applied": summary["inserted"] + summary["updated"] + summary["deleted"],
            "ranges_read": summary["ranges_read"], "ranges": summary["ranges"],
            "verify_s": verify_s, "quiet_s": quiet_s, "quiet_ratio": quiet_s / copy_s,
            "quiet_rss_mb": quiet_rss / 1024,
            "quiet_wrote": quiet["wrote"],
            # Source rows read and hashed (rows on unchanged pages are not;
            # absent from godwit before it kept page maps).
            "first_rows_read": first.get("rows_read"), "round_rows_read": summary.get("rows_read"),
            "quiet_rows_read": quiet.get("rows_read"),
            "cutover_s": cut_s, "cutover_rss_mb": cut_rss / 1024,
            "source_paused_s": cut["source_paused_s"], "writer_commits": writer.commits,
            "writer_slowest_commit_s": writer.slowest, "cutover_differences": cut["differences"],
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        server.drop_database(database)
    keys = ["copy_s", "copy_rss_mb", "first_sync_s", "first_ratio", "first_sync_rss_mb", "first_compare_s",
            "first_apply_s", "round_s", "ratio", "round_rss_mb", "round_compare_s", "round_apply_s",
            "verify_s", "quiet_s", "quiet_ratio", "quiet_rss_mb",
            "source_paused_s", "writer_slowest_commit_s", "cutover_s", "cutover_rss_mb"]
    print("medians: " + json.dumps({k: round(statistics.median(r[k] for r in results), 3) for k in keys}))


if __name__ == "__main__":
    main()
