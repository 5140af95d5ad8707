#!/usr/bin/env python3
"""A sample app-state dump for `make demo`: what an app that kept its state
in in-memory dicts keyed by id writes with json.dump.

Usage: make_sample_state.py OUT.json

Users, subreddits, posts, comments and messages point at each other by id;
a subreddit's members and posts and a comment's replies are lists of ids;
a post carries a nested object and a list of tags; amounts are exact
decimals and one counter is past 64 bits. Seeded: the same file every time.
"""

import json
import random
import sys
from datetime import datetime, timedelta, timezone


def main():
    out = sys.argv[1]
    rng = random.Random(7)
    start = datetime(2025, 6, 1, tzinfo=timezone.utc)

    def at(minutes):
        return (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    users = {
        f"u{i}": {
            "name": name,
            "karma": rng.randrange(0, 5000),
            "joined": at(i * 600),
            "settings": {"theme": rng.choice(["dark", "light"]), "digest": rng.random() < 0.5},
        }
        for i, name in enumerate(["ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances"], 1)
    }
    user_ids = list(users)
    posts = {}
    for i in range(1, 31):
        posts[f"p{i}"] = {
            "id": f"p{i}",
            "author_id": rng.choice(user_ids),
            "title": f"Post number {i}",
            "created": at(10_000 + i * 37),
            "score": rng.randrange(-5, 400),
            "tip": f"{rng.randrange(0, 10000) / 100:.2f}",
            "tags": rng.sample(["rust", "sql", "json", "postgres", "sqlite"], k=rng.randrange(0, 3)),
            "meta": {"edited": rng.random() < 0.2, "client": rng.choice(["web", "ios", "android"])},
        }
    post_ids = list(posts)
    subreddits = {
        "s1": {"name": "databases", "member_ids": user_ids[:6], "post_ids": post_ids[:15]},
        "s2": {"name": "rustlang", "member_ids": user_ids[3:], "post_ids": post_ids[15:]},
    }
    comments = {}
    for i in range(1, 61):
        comments[f"c{i}"] = {
            "post_id": rng.choice(post_ids),
            "author_id": rng.choice(user_ids),
            "body": f"Comment {i}",
            "created": at(20_000 + i * 11),
            "reply_ids": [],
        }
    for i in range(2, 61):
        if rng.random() < 0.4:
            parent = f"c{rng.randrange(1, i)}"
            comments[parent]["reply_ids"].append(f"c{i}")
    messages = [
        {
            "from_id": rng.choice(user_ids),
            "to_id": rng.choice(user_ids),
            "text": f"hello {i}",
            "sent": at(30_000 + i),
            "views": 18446744073709551616 + i if i == 1 else i,
        }
        for i in range(1, 11)
    ]
    state = {"users": users, "subreddits": subreddits, "posts": posts, "comments": comments, "messages": messages}
    with open(out, "w") as f:
        json.dump(state, f, indent=1)


if __name__ == "__main__":
    main()
