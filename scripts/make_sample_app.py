#!/usr/bin/env python3
"""Writes the sample app database that `make demo` copies into PostgreSQL.

Usage: make_sample_app.py OUT.db

The schema follows what ORMs (Django, Rails, Prisma, SQLAlchemy) leave in a
SQLite file, quirks included, so the demo shows godwit handling them:
booleans stored as 0/1, DATETIME columns holding ISO text (a few in the
'T'/'Z' form), one DATETIME column holding epoch milliseconds (Prisma's
habit), JSON kept as text, a self-referencing foreign key, a partial index,
a CHECK constraint and a view. Every run writes the same rows: the random
numbers are seeded and the times count from a fixed origin, not the clock.
"""

import json
import os
import random
import sqlite3
import sys
from datetime import datetime, timedelta, timezone

SEED = 20261121
USER_COUNT = 200
POST_COUNT = 800
COMMENT_COUNT = 2400
# A fixed origin keeps the file byte-for-byte reproducible.
BASE_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name VARCHAR(80),
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    settings JSON
);
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body TEXT,
    published BOOLEAN,
    score REAL,
    created_at DATETIME,
    updated_at DATETIME
);
CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    parent_id INTEGER REFERENCES comments(id),
    body TEXT NOT NULL,
    created_at DATETIME
);
CREATE INDEX posts_user_created ON posts (user_id, created_at);
CREATE INDEX posts_published_score ON posts (score) WHERE published = 1;
CREATE INDEX comments_post ON comments (post_id);
CREATE VIEW post_stats AS
    SELECT p.id AS post_id, p.title, count(c.id) AS comment_count,
           max(c.created_at) AS last_comment_at
    FROM posts p LEFT JOIN comments c ON c.post_id = p.id
    GROUP BY p.id, p.title;
"""

FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances",
               "Ken", "Margaret", "Dennis", "Radia", "Tony", "Lynn", "Niklaus"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth",
              "Allen", "Thompson", "Hamilton", "Ritchie", "Perlman", "Hoare"]
WORDS = ("sqlite postgres index query table column row schema migration copy "
         "vacuum lock page cache commit rollback join view trigger cursor "
         "replica backup latency throughput tuple vector wal checkpoint").split()


def iso_time(moment, with_t_and_z):
    """SQLite's CURRENT_TIMESTAMP form, or the ISO 8601 'T'/'Z' form that
    JavaScript clients write: both occur in real files."""
    if with_t_and_z:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def random_moment(rng, after=BASE_TIME):
    return after + timedelta(seconds=rng.randrange(0, 3600 * 24 * 30))


def sentence(rng, low, high):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def user_rows(rng):
    for user_id in range(1, USER_COUNT + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        settings = json.dumps({"theme": rng.choice(["light", "dark"]),
                               "digest": rng.random() < 0.5}, sort_keys=True)
        # Some users never set a name or settings: NULLs must survive the copy.
        yield (user_id,
               f"user{user_id}@example.com",
               name if rng.random() < 0.9 else None,
               1 if user_id <= 3 else 0,
               iso_time(random_moment(rng), with_t_and_z=user_id % 50 == 0),
               settings if rng.random() < 0.8 else None)


def post_rows(rng):
    for post_id in range(1, POST_COUNT + 1):
        created = random_moment(rng)
        updated = created + timedelta(seconds=rng.randrange(0, 86400))
        published = rng.random() < 0.7 if post_id % 10 else None
        yield (post_id,
               rng.randint(1, USER_COUNT),
               sentence(rng, 2, 8).capitalize(),
               sentence(rng, 10, 60) if rng.random() < 0.95 else None,
               None if published is None else int(published),
               round(rng.uniform(-5, 100), 3),
               iso_time(created, with_t_and_z=post_id % 97 == 0),
               # Prisma stores DateTime as integer epoch milliseconds.
               int(updated.timestamp() * 1000))


def comment_rows(rng):
    for comment_id in range(1, COMMENT_COUNT + 1):
        # Replies point only to earlier comments, so the FK holds row by row.
        parent = rng.randint(1, comment_id - 1) if comment_id > 1 and rng.random() < 0.3 else None
        yield (comment_id,
               rng.randint(1, POST_COUNT),
               rng.randint(1, USER_COUNT) if rng.random() < 0.95 else None,
               parent,
               sentence(rng, 3, 30),
               iso_time(random_moment(rng), with_t_and_z=comment_id % 211 == 0))


def write_database(path):
    rng = random.Random(SEED)
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA foreign_keys = ON")
        with con:
            con.executescript(SCHEMA)
            con.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", user_rows(rng))
            con.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", post_rows(rng))
            con.executemany("INSERT INTO comments VALUES (?, ?, ?, ?, ?, ?)", comment_rows(rng))
    finally:
        con.close()


def main():
    if len(sys.argv) != 2:
        print("usage: make_sample_app.py OUT.db", file=sys.stderr)
        return 2
    out = sys.argv[1]
    if os.path.exists(out):
        os.remove(out)  # executescript would fail on existing tables
    write_database(out)
    total = USER_COUNT + POST_COUNT + COMMENT_COUNT
    print(f"sample app: {out}: users {USER_COUNT}, posts {POST_COUNT}, "
          f"comments {COMMENT_COUNT} ({total} rows)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
