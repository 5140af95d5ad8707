//! A migration file as statements, split by the real PostgreSQL parser
//! (`pg_query`), each with its position and whether it may run inside a
//! transaction block.

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, Node};

use crate::error::{Error, Result};

/// First-line directive that forces a file to run outside a transaction.
pub const NO_TRANSACTION: &str = "-- godwit:no-transaction";

#[derive(Debug, Clone)]
pub struct Statement {
    /// 1-based position among the file's statements.
    pub number: usize,
    pub text: String,
    /// Comments and blank space between the previous statement and this one
    /// (where `-- godwit:lint-ignore` directives live).
    pub leading: String,
    pub line: usize,
    pub column: usize,
    /// The parsed statement; `None` only for statements pg_query could split
    /// but not parse on their own (they still run; the server decides).
    pub node: Option<NodeEnum>,
    /// Why the statement cannot run inside a transaction block, if it cannot.
    pub outside_transaction: Option<&'static str>,
}

impl Statement {
    /// `statement 3 (line 12, column 1)`
    pub fn position(&self) -> String {
        format!("statement {} (line {}, column {})", self.number, self.line, self.column)
    }

    /// Line and column in the file of a 1-based character position inside
    /// this statement (as the server reports it for errors).
    pub fn file_position_of(&self, char_position: usize) -> (usize, usize) {
        let mut line = self.line;
        let mut column = self.column;
        for c in self.text.chars().take(char_position.saturating_sub(1)) {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        (line, column)
    }

    /// The statement on one line, shortened for messages.
    pub fn excerpt(&self) -> String {
        let flat: String = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() > 120 {
            format!("{}…", flat.chars().take(119).collect::<String>())
        } else {
            flat
        }
    }
}

#[derive(Debug, Clone)]
pub struct Script {
    pub statements: Vec<Statement>,
    /// The file starts with `-- godwit:no-transaction`.
    pub forced_no_transaction: bool,
}

impl Script {
    /// Splits normalised SQL text into statements. A syntax error names the
    /// file's context in the caller's message.
    pub fn parse(sql: &str) -> Result<Script> {
        let forced_no_transaction = sql
            .lines()
            .next()
            .is_some_and(|line| line.trim().eq_ignore_ascii_case(NO_TRANSACTION));
        let pieces = pg_query::split_with_parser(sql).map_err(|e| Error::Migrate(parse_message(&e)))?;
        let mut statements = Vec::with_capacity(pieces.len());
        let mut previous_end = 0;
        for (index, piece) in pieces.into_iter().enumerate() {
            let leading_space = piece.len() - piece.trim_start().len();
            let offset = piece.as_ptr() as usize - sql.as_ptr() as usize + leading_space;
            let piece = piece.trim();
            let (line, column) = line_and_column(sql, offset);
            let node = pg_query::parse(piece, 0)
                .ok()
                .and_then(|parsed| parsed.protobuf.stmts.into_iter().next())
                .and_then(|raw| raw.stmt)
                .and_then(|stmt| stmt.node);
            let outside_transaction = node.as_ref().and_then(needs_no_transaction);
            statements.push(Statement {
                number: index + 1,
                text: piece.to_string(),
                leading: sql.get(previous_end..offset).unwrap_or_default().to_string(),
                line,
                column,
                node,
                outside_transaction,
            });
            previous_end = offset + piece.len();
        }
        Ok(Script {
            statements,
            forced_no_transaction,
        })
    }

    /// A BEGIN, COMMIT, ROLLBACK or SAVEPOINT written in the file, which
    /// would end godwit's own transaction early and record the history row
    /// outside it. Allowed only in `-- godwit:no-transaction` files.
    pub fn stray_transaction_control(&self) -> Option<&Statement> {
        if self.forced_no_transaction {
            return None;
        }
        self.statements
            .iter()
            .find(|s| matches!(s.node, Some(NodeEnum::TransactionStmt(_))))
    }

    /// Whether any statement must run outside a transaction block.
    pub fn has_non_transactional(&self) -> bool {
        self.forced_no_transaction || self.statements.iter().any(|s| s.outside_transaction.is_some())
    }
}

fn parse_message(err: &pg_query::Error) -> String {
    match err {
        pg_query::Error::Split(message) | pg_query::Error::Parse(message) => {
            format!("syntax error: {message}")
        }
        other => other.to_string(),
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
    (line, column)
}

/// The statements PostgreSQL refuses inside a transaction block.
fn needs_no_transaction(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::IndexStmt(stmt) if stmt.concurrent => Some("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(stmt) if stmt.concurrent => Some("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(stmt) if has_option(&stmt.params, "concurrently") => Some("REINDEX CONCURRENTLY"),
        NodeEnum::VacuumStmt(stmt) if stmt.is_vacuumcmd => Some("VACUUM"),
        NodeEnum::CreatedbStmt(_) => Some("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => Some("DROP DATABASE"),
        NodeEnum::AlterSystemStmt(_) => Some("ALTER SYSTEM"),
        // Allowed in a transaction since PostgreSQL 12, but the new value
        // cannot be used until it commits, so later statements would fail.
        NodeEnum::AlterEnumStmt(stmt) if stmt.old_val.is_empty() => Some("ALTER TYPE ... ADD VALUE"),
        NodeEnum::CreateTableSpaceStmt(_) => Some("CREATE TABLESPACE"),
        NodeEnum::DropTableSpaceStmt(_) => Some("DROP TABLESPACE"),
        NodeEnum::AlterTableStmt(stmt) => stmt.cmds.iter().find_map(|cmd| match &cmd.node {
            Some(NodeEnum::AlterTableCmd(cmd))
                if cmd.subtype == AlterTableType::AtDetachPartition as i32
                    && matches!(cmd.def.as_deref().and_then(|d| d.node.as_ref()),
                        Some(NodeEnum::PartitionCmd(p)) if p.concurrent) =>
            {
                Some("DETACH PARTITION CONCURRENTLY")
            }
            _ => None,
        }),
        _ => None,
    }
}

/// Whether a DefElem option list holds `name` (e.g. VACUUM (FULL)).
pub fn has_option(options: &[Node], name: &str) -> bool {
    options.iter().any(|option| {
        matches!(&option.node, Some(NodeEnum::DefElem(elem)) if elem.defname.eq_ignore_ascii_case(name)
            && !matches!(elem.arg.as_deref().and_then(|a| a.node.as_ref()),
                Some(NodeEnum::Boolean(b)) if !b.boolval))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_keep_positions_and_comments() {
        let sql = "-- first\ncreate table a (id int);\n\n  -- make it fast\n  create index concurrently a_id on a (id);\nvacuum a; analyze a;";
        let script = Script::parse(sql).unwrap();
        assert_eq!(script.statements.len(), 4);
        let index = &script.statements[1];
        assert_eq!((index.line, index.column), (5, 3));
        assert!(index.text.starts_with("create index concurrently"), "{}", index.text);
        assert!(index.leading.contains("make it fast"), "{:?}", index.leading);
        assert_eq!(index.outside_transaction, Some("CREATE INDEX CONCURRENTLY"));
        assert_eq!(script.statements[0].outside_transaction, None);
        assert_eq!(script.statements[2].outside_transaction, Some("VACUUM"));
        assert_eq!(script.statements[3].outside_transaction, None);
        assert!(!script.forced_no_transaction);
    }

    #[test]
    fn detects_every_non_transactional_form() {
        for sql in [
            "drop index concurrently i",
            "reindex (concurrently) index i",
            "reindex index concurrently i",
            "create database x",
            "vacuum (full) t",
            "alter table p detach partition c concurrently",
        ] {
            let script = Script::parse(sql).unwrap();
            assert!(script.statements[0].outside_transaction.is_some(), "{sql}");
        }
        assert!(
            Script::parse("-- godwit:no-transaction\nselect 1")
                .unwrap()
                .forced_no_transaction
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        let err = Script::parse("select 1; this is not sql;").unwrap_err();
        assert!(err.to_string().contains("syntax error"), "{err}");
    }
}
