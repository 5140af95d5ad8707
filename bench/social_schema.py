"""The PostgreSQL schema a lossless copy of gen_social.py's database ends in.

The server-limit measurement loads into exactly these tables, so its numbers
bound what any loader can reach for the same result: 64-bit integers (SQLite
INTEGER is 64-bit), double precision for REAL, boolean for 0/1 columns,
timestamp for the DATETIME text, bytea for BLOBs. Primary keys, indexes and
foreign keys are kept apart because a bulk load builds them after the data,
one phase each.
"""

TABLES = {
    "users": """
        id bigint NOT NULL, username text NOT NULL, email text NOT NULL,
        karma bigint NOT NULL DEFAULT 0, is_verified boolean NOT NULL DEFAULT false,
        bio text, created_at timestamp NOT NULL""",
    "subreddits": """
        id bigint NOT NULL, name text NOT NULL, owner_id bigint,
        is_nsfw boolean NOT NULL DEFAULT false, description text,
        created_at timestamp NOT NULL""",
    "memberships": """
        user_id bigint NOT NULL, subreddit_id bigint NOT NULL,
        is_moderator boolean NOT NULL DEFAULT false, joined_at timestamp NOT NULL""",
    "posts": """
        id bigint NOT NULL, subreddit_id bigint NOT NULL, author_id bigint,
        title text NOT NULL, body text, score bigint NOT NULL DEFAULT 0,
        upvote_ratio double precision, is_pinned boolean NOT NULL DEFAULT false,
        created_at timestamp NOT NULL""",
    "comments": """
        id bigint NOT NULL, post_id bigint NOT NULL, author_id bigint, parent_id bigint,
        body text NOT NULL, score bigint NOT NULL DEFAULT 0,
        is_deleted boolean NOT NULL DEFAULT false, created_at timestamp NOT NULL""",
    "presence_events": """
        id bigint NOT NULL, user_id bigint NOT NULL, payload text NOT NULL,
        latency double precision, occurred_at timestamp NOT NULL""",
    "attachments": """
        id bigint NOT NULL, post_id bigint NOT NULL, mime_type text NOT NULL,
        content bytea NOT NULL, created_at timestamp NOT NULL""",
}

PRIMARY_KEYS = {
    "users": "id",
    "subreddits": "id",
    "memberships": "user_id, subreddit_id",
    "posts": "id",
    "comments": "id",
    "presence_events": "id",
    "attachments": "id",
}

INDEXES = [
    "CREATE UNIQUE INDEX users_username ON users (username)",
    "CREATE INDEX posts_subreddit_created ON posts (subreddit_id, created_at)",
    "CREATE INDEX posts_author ON posts (author_id)",
    "CREATE INDEX comments_post ON comments (post_id)",
    "CREATE INDEX comments_parent ON comments (parent_id)",
    "CREATE INDEX presence_user_time ON presence_events (user_id, occurred_at)",
]

FOREIGN_KEYS = [
    ("subreddits", "owner_id", "users"),
    ("memberships", "user_id", "users"),
    ("memberships", "subreddit_id", "subreddits"),
    ("posts", "subreddit_id", "subreddits"),
    ("posts", "author_id", "users"),
    ("comments", "post_id", "posts"),
    ("comments", "author_id", "users"),
    ("comments", "parent_id", "comments"),
    ("presence_events", "user_id", "users"),
    ("attachments", "post_id", "posts"),
]

# How the sqlite3 shell writes each column as PostgreSQL CSV input. Most
# values need nothing: PostgreSQL reads 0/1 as boolean and the ISO text as
# timestamp. REAL needs 17 digits to round-trip (the shell prints 15), and
# BLOBs need bytea's hex form.
SPECIAL_EXPORTS = {
    ("posts", "upvote_ratio"): "printf('%.17g', upvote_ratio)",
    ("presence_events", "latency"): "printf('%.17g', latency)",
    ("attachments", "content"): "'\\x' || hex(content)",
}


def column_names(table):
    return [line.split()[0] for line in TABLES[table].replace("\n", " ").split(",")]


def create_table_sql(table):
    return f"CREATE TABLE {table} ({TABLES[table]})"


def primary_key_sql(table):
    return f"ALTER TABLE {table} ADD PRIMARY KEY ({PRIMARY_KEYS[table]})"


def foreign_key_sql(table, column, parent):
    return (f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey "
            f"FOREIGN KEY ({column}) REFERENCES {parent} (id)")


def export_select(table):
    """The SQLite query whose CSV output PostgreSQL reads into `table`.
    A NULL must stay NULL, not become printf's empty or zero text."""
    expressions = []
    for column in column_names(table):
        special = SPECIAL_EXPORTS.get((table, column))
        expressions.append(
            f"CASE WHEN {column} IS NULL THEN NULL ELSE {special} END" if special else column)
    return f"SELECT {', '.join(expressions)} FROM {table}"
