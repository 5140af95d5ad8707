//! Walks parsed statements and reports rule hits. Tables created earlier in
//! the same lint run are new and empty, so locking rules skip them.

use std::collections::HashSet;

use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ConstrType, Node, ObjectType, RangeVar};

use super::rules::{self, Rule};
use crate::migrate::script::{Statement, has_option};

pub struct Hit {
    pub rule: &'static Rule,
    pub message: String,
}

/// Tables created so far in this lint run.
#[derive(Default)]
pub struct NewTables(HashSet<String>);

impl NewTables {
    fn contains(&self, relation: Option<&RangeVar>) -> bool {
        relation.is_some_and(|r| self.0.contains(&r.relname))
    }
}

fn name(relation: Option<&RangeVar>) -> String {
    match relation {
        Some(r) if !r.schemaname.is_empty() => format!("{}.{}", r.schemaname, r.relname),
        Some(r) => r.relname.clone(),
        None => "?".into(),
    }
}

fn hit(rule: &'static Rule, message: String) -> Hit {
    Hit { rule, message }
}

pub fn check(statement: &Statement, new_tables: &mut NewTables) -> Vec<Hit> {
    let mut hits = Vec::new();
    let Some(node) = &statement.node else {
        return hits;
    };
    match node {
        NodeEnum::CreateStmt(stmt) => {
            if let Some(r) = &stmt.relation {
                new_tables.0.insert(r.relname.clone());
            }
        }
        NodeEnum::CreateTableAsStmt(stmt) => {
            if let Some(r) = stmt.into.as_ref().and_then(|into| into.rel.as_ref()) {
                new_tables.0.insert(r.relname.clone());
            }
        }
        NodeEnum::IndexStmt(stmt) if !stmt.concurrent && !new_tables.contains(stmt.relation.as_ref()) => {
            hits.push(hit(
                &rules::INDEX_NOT_CONCURRENT,
                format!(
                    "CREATE INDEX on existing table {} without CONCURRENTLY",
                    name(stmt.relation.as_ref())
                ),
            ));
        }
        NodeEnum::AlterTableStmt(stmt) => {
            let table = name(stmt.relation.as_ref());
            let is_new = new_tables.contains(stmt.relation.as_ref());
            for cmd in &stmt.cmds {
                if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
                    check_alter(cmd, &table, is_new, &mut hits);
                }
            }
        }
        NodeEnum::DropStmt(stmt) if stmt.remove_type == ObjectType::ObjectTable as i32 => {
            for object in &stmt.objects {
                let dropped = qualified_name(object);
                if !new_tables.0.contains(dropped.rsplit('.').next().unwrap_or_default()) {
                    hits.push(hit(&rules::DROP_TABLE, format!("DROP TABLE {dropped}")));
                }
            }
        }
        NodeEnum::RenameStmt(stmt) => {
            let kind = match ObjectType::try_from(stmt.rename_type) {
                Ok(ObjectType::ObjectTable) => Some("table"),
                Ok(ObjectType::ObjectColumn) => Some("column"),
                Ok(ObjectType::ObjectView) => Some("view"),
                Ok(ObjectType::ObjectMatview) => Some("materialized view"),
                _ => None,
            };
            if let Some(kind) = kind
                && !new_tables.contains(stmt.relation.as_ref())
            {
                let old = if stmt.subname.is_empty() {
                    name(stmt.relation.as_ref())
                } else {
                    format!("{}.{}", name(stmt.relation.as_ref()), stmt.subname)
                };
                hits.push(hit(&rules::RENAME, format!("RENAME {kind} {old} to {}", stmt.newname)));
            }
        }
        NodeEnum::VacuumStmt(stmt) if stmt.is_vacuumcmd && has_option(&stmt.options, "full") => {
            hits.push(hit(&rules::VACUUM_FULL, "VACUUM FULL".into()));
        }
        _ => {}
    }
    hits
}

fn check_alter(cmd: &pg_query::protobuf::AlterTableCmd, table: &str, is_new: bool, hits: &mut Vec<Hit>) {
    let def = cmd.def.as_deref().and_then(|d| d.node.as_ref());
    let Ok(subtype) = AlterTableType::try_from(cmd.subtype) else {
        return;
    };
    match subtype {
        AlterTableType::AtAddColumn if !is_new => {
            if let Some(NodeEnum::ColumnDef(column)) = def {
                let kinds: Vec<i32> = column
                    .constraints
                    .iter()
                    .filter_map(|c| match &c.node {
                        Some(NodeEnum::Constraint(c)) => Some(c.contype),
                        _ => None,
                    })
                    .collect();
                let has = |t: ConstrType| kinds.contains(&(t as i32));
                let not_null = column.is_not_null || has(ConstrType::ConstrNotnull) || has(ConstrType::ConstrPrimary);
                let filled = has(ConstrType::ConstrDefault)
                    || has(ConstrType::ConstrIdentity)
                    || has(ConstrType::ConstrGenerated)
                    || column.raw_default.is_some();
                if not_null && !filled {
                    hits.push(hit(
                        &rules::NOT_NULL_WITHOUT_DEFAULT,
                        format!("ADD COLUMN {}.{} NOT NULL without a DEFAULT", table, column.colname),
                    ));
                }
            }
        }
        AlterTableType::AtAlterColumnType if !is_new => hits.push(hit(
            &rules::COLUMN_TYPE_CHANGE,
            format!("ALTER COLUMN {table}.{} TYPE", cmd.name),
        )),
        AlterTableType::AtAddConstraint if !is_new => {
            if let Some(NodeEnum::Constraint(constraint)) = def {
                let kind = match ConstrType::try_from(constraint.contype) {
                    Ok(ConstrType::ConstrForeign) => Some("FOREIGN KEY"),
                    Ok(ConstrType::ConstrCheck) => Some("CHECK"),
                    _ => None,
                };
                let builds_index = matches!(
                    ConstrType::try_from(constraint.contype),
                    Ok(ConstrType::ConstrUnique | ConstrType::ConstrPrimary)
                );
                if builds_index && constraint.indexname.is_empty() {
                    hits.push(hit(
                        &rules::UNIQUE_WITHOUT_INDEX,
                        format!("ADD UNIQUE or PRIMARY KEY on {table} builds its index under lock"),
                    ));
                }
                if let Some(kind) = kind
                    && !constraint.skip_validation
                {
                    hits.push(hit(
                        &rules::CONSTRAINT_WITHOUT_NOT_VALID,
                        format!("ADD {kind} on {table} without NOT VALID"),
                    ));
                }
            }
        }
        AlterTableType::AtSetNotNull if !is_new => hits.push(hit(
            &rules::SET_NOT_NULL,
            format!("ALTER COLUMN {table}.{} SET NOT NULL", cmd.name),
        )),
        AlterTableType::AtDropColumn if !is_new => {
            hits.push(hit(&rules::DROP_COLUMN, format!("DROP COLUMN {table}.{}", cmd.name)));
        }
        _ => {}
    }
}

/// `schema.table` from a DROP object list (a List of String nodes).
fn qualified_name(object: &Node) -> String {
    match &object.node {
        Some(NodeEnum::List(list)) => list
            .items
            .iter()
            .filter_map(|item| match &item.node {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("."),
        _ => "?".into(),
    }
}
