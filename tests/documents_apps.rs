//! The two apps that never had a database: an app-state dump keyed by id
//! (users, subreddits, posts, comments, messages) and a directory of chat
//! sessions and memories. Each lands in a schema a person would design,
//! checked in the catalog, and verifies.

mod common;

use std::path::Path;

use common::*;
use godwit::postgres::conn::ConnSpec;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Every constraint of the schema, as `table: definition`.
fn catalog(target: &ConnSpec, kind: &str) -> Vec<String> {
    rows(
        target,
        &format!(
            "SELECT conrelid::regclass::text || ': ' || pg_get_constraintdef(oid) AS a FROM pg_constraint \
             WHERE contype = '{kind}' AND connamespace = 'public'::regnamespace ORDER BY 1"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

const STATE: &str = r#"{
  "users": {
    "u1": {"id": "u1", "name": "ann", "joined": "2024-01-02T03:04:05Z", "karma": 10},
    "u2": {"id": "u2", "name": "bob", "joined": "2024-02-02T03:04:05+02:00", "karma": 18446744073709551617},
    "u3": {"id": "u3", "name": "cy", "joined": "2024-03-02T03:04:05Z", "karma": 0}
  },
  "subreddits": {
    "s1": {"id": "s1", "title": "rust", "members": ["u1", "u2", "u3"], "post_ids": ["p1", "p2"]},
    "s2": {"id": "s2", "title": "tea", "members": ["u3"], "post_ids": []}
  },
  "posts": {
    "p1": {"id": "p1", "author_id": "u1", "subreddit_id": "s1", "title": "hello", "score": 0.1000},
    "p2": {"id": "p2", "author_id": "u2", "subreddit_id": "s1", "title": "again", "score": 2}
  },
  "comments": {
    "c1": {"id": "c1", "post_id": "p1", "author_id": "u2", "body": "nice", "reply_ids": ["c2", "c3"]},
    "c2": {"id": "c2", "post_id": "p1", "author_id": "u1", "body": "thanks", "reply_ids": []},
    "c3": {"id": "c3", "post_id": "p1", "author_id": "u3", "body": "+1", "reply_ids": []}
  },
  "messages": {
    "m1": {"id": "m1", "from_id": "u1", "to_id": "u2", "body": "hi", "read": false},
    "m2": {"id": "m2", "from_id": "u2", "to_id": "u1", "body": "hey", "read": true}
  }
}"#;

#[test]
fn an_app_state_dump_becomes_related_tables_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "state.json", STATE);
    let plan = godwit(&["plan", file.to_str().unwrap()]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    for line in [
        "posts.author_id: 2 of 2 values are keys of users",
        "subreddits.members: 4 of 4 values are keys of users",
        "comments.reply_ids: 2 of 2 values are keys of comments",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }

    let target = fresh_database("docs_reddit");
    assert_exit(&copy(&file, &target, &[]), 0);
    assert_eq!(
        catalog(&target, "p"),
        [
            "comments: PRIMARY KEY (id)",
            "comments__reply_ids: PRIMARY KEY (comment_id, ordinal)",
            "messages: PRIMARY KEY (id)",
            "posts: PRIMARY KEY (id)",
            "subreddits: PRIMARY KEY (id)",
            "subreddits__members: PRIMARY KEY (subreddit_id, ordinal)",
            "subreddits__post_ids: PRIMARY KEY (subreddit_id, ordinal)",
            "users: PRIMARY KEY (id)",
        ]
    );
    assert_eq!(
        catalog(&target, "f"),
        [
            "comments: FOREIGN KEY (author_id) REFERENCES users(id)",
            "comments: FOREIGN KEY (post_id) REFERENCES posts(id)",
            "comments__reply_ids: FOREIGN KEY (comment_id) REFERENCES comments(id)",
            "comments__reply_ids: FOREIGN KEY (reply_id) REFERENCES comments(id)",
            "messages: FOREIGN KEY (from_id) REFERENCES users(id)",
            "messages: FOREIGN KEY (to_id) REFERENCES users(id)",
            "posts: FOREIGN KEY (author_id) REFERENCES users(id)",
            "posts: FOREIGN KEY (subreddit_id) REFERENCES subreddits(id)",
            "subreddits__members: FOREIGN KEY (member_id) REFERENCES users(id)",
            "subreddits__members: FOREIGN KEY (subreddit_id) REFERENCES subreddits(id)",
            "subreddits__post_ids: FOREIGN KEY (post_id) REFERENCES posts(id)",
            "subreddits__post_ids: FOREIGN KEY (subreddit_id) REFERENCES subreddits(id)",
        ]
    );
    // Junction rows keep the list's order.
    assert_eq!(
        rows(
            &target,
            "SELECT ordinal AS a, member_id AS b FROM subreddits__members WHERE subreddit_id = 's1' ORDER BY ordinal"
        ),
        [["1", "u1"], ["2", "u2"], ["3", "u3"]]
    );
    assert_eq!(
        value(&target, "SELECT karma::text AS a FROM users WHERE id = 'u2'"),
        "18446744073709551617"
    );
    assert_eq!(
        value(&target, "SELECT score::text AS a FROM posts WHERE id = 'p1'"),
        "0.1000"
    );
    assert_eq!(
        value(&target, "SELECT read::text AS a FROM messages WHERE id = 'm2'"),
        "true"
    );

    let url = target.to_string();
    let verify = || godwit(&["verify", file.to_str().unwrap(), "--to", &url]);
    assert_exit(&verify(), 0);
    let mut client = target.connect().unwrap();
    client
        .batch_execute(
            "UPDATE posts SET title = 'HELLO' WHERE id = 'p1';
             DELETE FROM subreddits__members WHERE subreddit_id = 's1' AND ordinal = 2;",
        )
        .unwrap();
    let out = verify();
    assert_exit(&out, 4);
    let report = stdout(&out) + &stderr(&out);
    assert!(
        report.contains("posts differs") && report.contains("[\"p1\"]"),
        "{report}"
    );
    assert!(
        report.contains("subreddits__members differs") && report.contains("[\"s1\", 2]"),
        "{report}"
    );
}

#[test]
fn a_directory_of_chat_sessions_and_memories_becomes_tables_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("assistant");
    write(
        &root,
        "sessions/s-001.json",
        r#"{"id": "s-001", "title": "Trip", "created_at": "2024-06-01T09:00:00Z",
            "metadata": {"model": "m-large", "temperature": 0.70, "tags": ["travel", "rome"]},
            "messages": [{"role": "user", "content": "Plan a trip", "at": "2024-06-01T09:00:01Z"},
                         {"role": "assistant", "content": "Sure.\nDay 1: ...", "at": "2024-06-01T09:00:05Z", "tokens": 412}]}"#,
    );
    write(
        &root,
        "sessions/s-002.json",
        r#"{"id": "s-002", "title": "Code", "created_at": "2024-06-02T10:00:00Z",
            "metadata": {"model": "m-small", "temperature": 1, "tags": []},
            "messages": [{"role": "user", "content": "Fix this", "at": "2024-06-02T10:00:00Z"}]}"#,
    );
    write(&root, "sessions/.DS_Store", "\u{0}\u{0}binary");
    write(
        &root,
        "memories/likes-tea.json",
        r#"{"session_id": "s-001", "text": "likes tea", "created_at": "2024-06-01T09:01:00Z"}"#,
    );
    write(
        &root,
        "memories/has-cat.json",
        r#"{"session_id": "s-002", "text": "has a cat", "created_at": "2024-06-02T10:01:00Z"}"#,
    );

    let target = fresh_database("docs_chat");
    let out = copy(&root, &target, &["--verify"]);
    assert_exit(&out, 0);
    assert_eq!(
        catalog(&target, "p"),
        [
            "memories: PRIMARY KEY (id)",
            "sessions: PRIMARY KEY (id)",
            "sessions__messages: PRIMARY KEY (session_id, ordinal)",
        ]
    );
    assert_eq!(
        catalog(&target, "f"),
        [
            "memories: FOREIGN KEY (session_id) REFERENCES sessions(id)",
            "sessions__messages: FOREIGN KEY (session_id) REFERENCES sessions(id)",
        ]
    );
    // Memory files carry no id: the file name is the key.
    assert_eq!(
        rows(&target, "SELECT id AS a, session_id AS b FROM memories ORDER BY id"),
        [["has-cat", "s-002"], ["likes-tea", "s-001"]]
    );
    assert_eq!(
        rows(
            &target,
            "SELECT metadata__model AS a, metadata__temperature::text AS b, metadata__tags::text AS c FROM sessions ORDER BY id"
        ),
        [["m-large", "0.70", "{travel,rome}"], ["m-small", "1", "{}"]]
    );
    assert_eq!(
        rows(
            &target,
            "SELECT session_id AS a, ordinal AS b, role AS c, coalesce(tokens::text, 'NULL!') AS d \
             FROM sessions__messages ORDER BY 1, 2"
        ),
        [
            ["s-001", "1", "user", "NULL!"],
            ["s-001", "2", "assistant", "412"],
            ["s-002", "1", "user", "NULL!"]
        ]
    );
    assert_eq!(
        value(
            &target,
            "SELECT format_type(atttypid, atttypmod) AS a FROM pg_attribute WHERE attrelid = 'sessions__messages'::regclass AND attname = 'at'"
        ),
        "timestamp with time zone"
    );
    let url = target.to_string();
    let mut client = target.connect().unwrap();
    client
        .batch_execute("UPDATE sessions__messages SET content = 'Sure.' WHERE session_id = 's-001' AND ordinal = 2")
        .unwrap();
    let out = godwit(&["verify", root.to_str().unwrap(), "--to", &url]);
    assert_exit(&out, 4);
    assert!(stdout(&out).contains("[\"s-001\", 2]"), "{}", stdout(&out));
}
