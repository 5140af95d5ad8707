#!/usr/bin/env python3
"""Generates the benchmark's SQLite database: a social app at a scale factor.

Usage: gen_social.py --sf 1 OUT.db

At SF=1: 100k users, 5k subreddits, ~300k memberships, 500k posts, 1.5M
comments, 1M presence events, 20k attachments (about 3.4M rows, ~880 MB).
Every count scales linearly with SF. The output depends only on SF: the
random numbers are seeded and times count from a fixed origin.

It has the habits that make SQLite-to-PostgreSQL copies hard: ISO DATETIME
text, 0/1 booleans, REAL values that float4 would round, JSON text, BLOBs,
a composite primary key, a self-referencing foreign key, NULLs in nullable
columns, 6 secondary indexes and 10 foreign keys.

Rows are streamed from generators into executemany inside one transaction
with journaling and syncing off, so memory stays flat at any SF.
"""

import argparse
import json
import os
import random
import sqlite3
import sys
import time
from array import array

SEED = 4_2026
ORIGIN = 1_600_000_000  # 2020-09-13, epoch seconds; all times count from here
SPAN = 3 * 365 * 86400  # three years of activity

BASE_COUNTS = {
    "users": 100_000,
    "subreddits": 5_000,
    "posts": 500_000,
    "comments": 1_500_000,
    "presence_events": 1_000_000,
    "attachments": 20_000,
}

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    karma INTEGER NOT NULL DEFAULT 0,
    is_verified BOOLEAN NOT NULL DEFAULT 0,
    bio TEXT,
    created_at DATETIME NOT NULL
);
CREATE TABLE subreddits (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id INTEGER REFERENCES users(id),
    is_nsfw BOOLEAN NOT NULL DEFAULT 0,
    description TEXT,
    created_at DATETIME NOT NULL
);
CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES users(id),
    subreddit_id INTEGER NOT NULL REFERENCES subreddits(id),
    is_moderator BOOLEAN NOT NULL DEFAULT 0,
    joined_at DATETIME NOT NULL,
    PRIMARY KEY (user_id, subreddit_id)
);
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    subreddit_id INTEGER NOT NULL REFERENCES subreddits(id),
    author_id INTEGER REFERENCES users(id),
    title TEXT NOT NULL,
    body TEXT,
    score INTEGER NOT NULL DEFAULT 0,
    upvote_ratio REAL,
    is_pinned BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL
);
CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL REFERENCES posts(id),
    author_id INTEGER REFERENCES users(id),
    parent_id INTEGER REFERENCES comments(id),
    body TEXT NOT NULL,
    score INTEGER NOT NULL DEFAULT 0,
    is_deleted BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL
);
CREATE TABLE presence_events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    payload TEXT NOT NULL,
    latency REAL,
    occurred_at DATETIME NOT NULL
);
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL REFERENCES posts(id),
    mime_type TEXT NOT NULL,
    content BLOB NOT NULL,
    created_at DATETIME NOT NULL
);
"""

# Built after the load, as a real app's file would have them.
INDEXES = """
CREATE UNIQUE INDEX users_username ON users (username);
CREATE INDEX posts_subreddit_created ON posts (subreddit_id, created_at);
CREATE INDEX posts_author ON posts (author_id);
CREATE INDEX comments_post ON comments (post_id);
CREATE INDEX comments_parent ON comments (parent_id);
CREATE INDEX presence_user_time ON presence_events (user_id, occurred_at);
"""

WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this "
    "have from or one had by word but not what all were we when your can said there "
    "use an each which she do how their if will up other about out many then them "
    "these so some her would make like him into time has look two more write go see "
    "number no way could people my than first water been call who oil its now find "
    "long down day did get come made may part postgres sqlite index vacuum replica "
    "latency migration schema commit rollback weekend coffee garden bicycle guitar "
    "kernel compiler holiday mountain river election football recipe telescope"
).split()
MIME_TYPES = ["image/png", "image/jpeg", "application/pdf", "image/gif"]
DEVICES = ["ios", "android", "web", "desktop"]
STATUSES = ["online", "idle", "away", "offline"]


def scaled_counts(sf):
    return {table: max(1, round(n * sf)) for table, n in BASE_COUNTS.items()}


class TextSource:
    """Cheap deterministic prose: slices of one long pre-drawn word sequence.

    Drawing every word separately costs most of the generator's time; a slice
    at a random word boundary is as varied for a loader and ~20x faster."""

    def __init__(self, rng, words=2_000_000):
        text = " ".join(rng.choices(WORDS, k=words))
        starts = array("l", [0])
        for i, ch in enumerate(text):
            if ch == " ":
                starts.append(i + 1)
        starts.append(len(text) + 1)
        self.text, self.starts, self.rng = text, starts, rng

    def words(self, low, high):
        n = self.rng.randint(low, high)
        first = self.rng.randrange(len(self.starts) - n - 1)
        return self.text[self.starts[first]:self.starts[first + n] - 1]


def timestamp(seconds):
    """SQLite's CURRENT_TIMESTAMP format, the one ORMs write."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def random_time(rng):
    return timestamp(ORIGIN + rng.randrange(SPAN))


def maybe(rng, value, probability):
    """value, or NULL with 1 - probability: nullable columns hold NULLs."""
    return value if rng.random() < probability else None


def user_rows(rng, text, counts):
    for uid in range(1, counts["users"] + 1):
        yield (uid, f"user_{uid:07d}", f"user{uid}@example.org",
               rng.randint(-50, 50_000), int(rng.random() < 0.1),
               maybe(rng, text.words(3, 20), 0.4), random_time(rng))


def subreddit_rows(rng, text, counts):
    for sid in range(1, counts["subreddits"] + 1):
        yield (sid, f"r_{sid:06d}", maybe(rng, rng.randint(1, counts["users"]), 0.95),
               int(rng.random() < 0.05), maybe(rng, text.words(5, 30), 0.8),
               random_time(rng))


def membership_rows(rng, counts):
    """~2.75 distinct subreddits per user, so (user_id, subreddit_id) is unique."""
    subreddits = counts["subreddits"]
    for uid in range(1, counts["users"] + 1):
        joined = rng.sample(range(1, subreddits + 1), min(subreddits, rng.randint(0, 5) + rng.randint(0, 1)))
        for sid in sorted(joined):
            yield (uid, sid, int(rng.random() < 0.02), random_time(rng))


def post_rows(rng, text, counts):
    for pid in range(1, counts["posts"] + 1):
        yield (pid, rng.randint(1, counts["subreddits"]),
               maybe(rng, rng.randint(1, counts["users"]), 0.97),
               text.words(3, 12), maybe(rng, text.words(10, 80), 0.9),
               rng.randint(-100, 20_000),
               # Full double precision: a float4 target column would round it.
               maybe(rng, rng.random(), 0.95),
               int(rng.random() < 0.01), random_time(rng))


def comment_rows(rng, text, counts):
    """A third of the comments reply to an earlier one on the same post."""
    post_of = array("l", [0])  # post_of[comment id] = its post
    for cid in range(1, counts["comments"] + 1):
        parent = None
        if cid > 1 and rng.random() < 0.33:
            parent = cid - rng.randint(1, min(cid - 1, 5000))
            post = post_of[parent]
        else:
            post = rng.randint(1, counts["posts"])
        post_of.append(post)
        yield (cid, post, maybe(rng, rng.randint(1, counts["users"]), 0.95), parent,
               text.words(3, 40), rng.randint(-20, 2000), int(rng.random() < 0.03),
               random_time(rng))


def presence_rows(rng, counts):
    for eid in range(1, counts["presence_events"] + 1):
        payload = json.dumps({
            "status": rng.choice(STATUSES),
            "device": rng.choice(DEVICES),
            "app_version": f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
            "session": f"{rng.getrandbits(64):016x}",
            "battery": maybe(rng, rng.randint(1, 100), 0.7),
        })
        yield (eid, rng.randint(1, counts["users"]), payload,
               maybe(rng, rng.random() * 500, 0.9), random_time(rng))


def attachment_rows(rng, counts):
    """~10 KB average of incompressible bytes each."""
    for aid in range(1, counts["attachments"] + 1):
        yield (aid, rng.randint(1, counts["posts"]), rng.choice(MIME_TYPES),
               rng.randbytes(rng.randint(1024, 19 * 1024)), random_time(rng))


def insert(con, table, rows):
    width = len(con.execute(f"SELECT * FROM {table} LIMIT 0").description)
    con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", rows)


def generate(path, sf):
    rng = random.Random(SEED)
    text = TextSource(rng)
    counts = scaled_counts(sf)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        # A half-written file is deleted by the caller, so durability buys nothing.
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")  # 256 MB for the index builds
        con.execute("BEGIN")
        for statement in split_sql(SCHEMA):
            con.execute(statement)
        insert(con, "users", user_rows(rng, text, counts))
        insert(con, "subreddits", subreddit_rows(rng, text, counts))
        insert(con, "memberships", membership_rows(rng, counts))
        insert(con, "posts", post_rows(rng, text, counts))
        insert(con, "comments", comment_rows(rng, text, counts))
        insert(con, "presence_events", presence_rows(rng, counts))
        insert(con, "attachments", attachment_rows(rng, counts))
        for statement in split_sql(INDEXES):
            con.execute(statement)
        con.execute("COMMIT")
    finally:
        con.close()


def split_sql(script):
    """executescript would commit the open transaction first; run each
    statement on its own instead."""
    return [s.strip() for s in script.split(";") if s.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor (1 = ~880 MB)")
    parser.add_argument("out", help="database file to write (replaced if present)")
    args = parser.parse_args()

    partial = args.out + ".partial"
    for stale in (partial, args.out):
        if os.path.exists(stale):
            os.remove(stale)
    started = time.perf_counter()
    try:
        generate(partial, args.sf)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    # Only a complete file gets the final name, so a cache hit is always whole.
    os.replace(partial, args.out)
    size_mb = os.path.getsize(args.out) / 1e6
    print(f"gen_social: SF={args.sf:g} -> {args.out} ({size_mb:.0f} MB) "
          f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
