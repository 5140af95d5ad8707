//! The lint rules: what each one catches, why it hurts a running app, and
//! what to do instead. The table in docs/migrate.md mirrors this list.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub risk: &'static str,
    pub instead: &'static str,
}

pub const INDEX_NOT_CONCURRENT: Rule = Rule {
    id: "create-index-not-concurrently",
    severity: Severity::Error,
    risk: "CREATE INDEX holds a SHARE lock on the table for the whole build: every INSERT, UPDATE and DELETE waits.",
    instead: "CREATE INDEX CONCURRENTLY (godwit runs it outside a transaction by itself); \
              if a concurrent build fails, drop the INVALID index it leaves and retry.",
};

pub const NOT_NULL_WITHOUT_DEFAULT: Rule = Rule {
    id: "add-column-not-null-without-default",
    severity: Severity::Error,
    risk: "Fails as soon as the table has rows, and app code that inserts without the new column breaks.",
    instead: "Add the column nullable or with a constant DEFAULT (instant since PostgreSQL 11), backfill, \
              then enforce NOT NULL through a NOT VALID check (see set-not-null).",
};

pub const COLUMN_TYPE_CHANGE: Rule = Rule {
    id: "column-type-change",
    severity: Severity::Error,
    risk: "Rewrites the table and its indexes under an ACCESS EXCLUSIVE lock (reads and writes wait), \
           except for binary-compatible changes such as varchar(n) to text; running app code may \
           not handle the new type.",
    instead: "Add a new column with the new type, backfill it in batches, switch the app over, \
              then drop the old column in a later migration.",
};

pub const CONSTRAINT_WITHOUT_NOT_VALID: Rule = Rule {
    id: "constraint-without-not-valid",
    severity: Severity::Error,
    risk: "Checking every existing row holds a lock that blocks writes for the whole scan \
           (ACCESS EXCLUSIVE for CHECK; SHARE ROW EXCLUSIVE on both tables for FOREIGN KEY).",
    instead: "ADD CONSTRAINT ... NOT VALID (new rows are checked at once), then \
              ALTER TABLE ... VALIDATE CONSTRAINT in a later migration, which allows reads and writes.",
};

pub const UNIQUE_WITHOUT_INDEX: Rule = Rule {
    id: "unique-constraint-without-index",
    severity: Severity::Error,
    risk: "ADD UNIQUE or ADD PRIMARY KEY builds its index while holding an ACCESS EXCLUSIVE lock: \
           reads and writes wait for the whole build.",
    instead: "CREATE UNIQUE INDEX CONCURRENTLY first, then \
              ALTER TABLE ... ADD CONSTRAINT name UNIQUE (or PRIMARY KEY) USING INDEX that_index.",
};

pub const SET_NOT_NULL: Rule = Rule {
    id: "set-not-null",
    severity: Severity::Error,
    risk: "Scans the whole table for NULLs while holding an ACCESS EXCLUSIVE lock.",
    instead: "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c; then SET NOT NULL \
              (PostgreSQL 12+ trusts the valid check and skips the scan) and drop the check.",
};

pub const DROP_COLUMN: Rule = Rule {
    id: "drop-column",
    severity: Severity::Warning,
    risk: "App code still running that reads or writes the column fails at once, and the data is gone.",
    instead: "Stop using the column in the app and deploy that first; drop it in a later migration.",
};

pub const DROP_TABLE: Rule = Rule {
    id: "drop-table",
    severity: Severity::Warning,
    risk: "App code still running that uses the table fails at once, and the data is gone.",
    instead: "Stop using the table in the app and deploy that first; keep a backup; drop it in a later migration.",
};

pub const RENAME: Rule = Rule {
    id: "rename",
    severity: Severity::Warning,
    risk: "The running app still uses the old name and fails until it is redeployed.",
    instead: "Expand and contract: add the new column or table (or a view under the new name), \
              write to both, switch reads, and drop the old name later.",
};

pub const VACUUM_FULL: Rule = Rule {
    id: "vacuum-full",
    severity: Severity::Error,
    risk: "Rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait for the whole rewrite.",
    instead: "Plain VACUUM (does not block reads or writes), or pg_repack / pg_squeeze to reclaim space online.",
};

pub const SYNTAX_ERROR: Rule = Rule {
    id: "syntax-error",
    severity: Severity::Error,
    risk: "The file does not parse, so `migrate up` would refuse it.",
    instead: "Fix the SQL; godwit uses PostgreSQL's own parser.",
};

pub const ALL: [&Rule; 11] = [
    &INDEX_NOT_CONCURRENT,
    &NOT_NULL_WITHOUT_DEFAULT,
    &COLUMN_TYPE_CHANGE,
    &CONSTRAINT_WITHOUT_NOT_VALID,
    &UNIQUE_WITHOUT_INDEX,
    &SET_NOT_NULL,
    &DROP_COLUMN,
    &DROP_TABLE,
    &RENAME,
    &VACUUM_FULL,
    &SYNTAX_ERROR,
];
