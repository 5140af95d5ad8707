//! The source schema plus config becomes the target schema, with a type
//! and a cast for every column. Pure and deterministic: the same source
//! and config always give the same plan (snapshot-tested).

pub mod ddl;
pub mod fulltext;
pub mod names;
pub mod partitions;
pub mod retarget;
pub mod spatial;
pub mod suggest;
pub mod translate;
pub mod types;

use std::collections::HashSet;

use serde::Serialize;

use crate::config::{CastTarget, Config, Transform};
use crate::error::{Error, Result};
use crate::source::{Deferrable, IndexPart, SourceSchema, Table};
pub use names::IdentifierStyle;
use types::{Cast, EpochUnit, PgType};

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source: String,
    pub schema: String,
    pub tables: Vec<TablePlan>,
    pub views: Vec<ViewPlan>,
    /// Statements run before the tables are created (extensions and text
    /// search configurations); each can run again harmlessly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<String>,
    /// How full-text and rtree tables were translated, and how to query them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub translations: Vec<String>,
    /// Objects that cannot be carried over, each with the reason.
    pub not_migrated: Vec<String>,
    pub warnings: Vec<String>,
    pub suggestions: Vec<String>,
    /// Keys and relations a document source inferred, with their evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inferred: Vec<String>,
    /// Files a directory source passed over.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// The SQLite views, translated again when the copy re-plans a table
    /// (a column's type decides SQLite's semantics in a view).
    #[serde(skip)]
    pub view_sources: Vec<crate::source::View>,
    #[serde(skip)]
    pub identifiers: IdentifierStyle,
}

#[derive(Debug, Clone, Serialize)]
pub struct TablePlan {
    pub source: String,
    pub target: String,
    pub columns: Vec<ColumnPlan>,
    /// Target names of the primary-key columns.
    pub primary_key: Vec<String>,
    pub primary_key_name: String,
    pub identity: Option<IdentityPlan>,
    pub uniques: Vec<UniquePlan>,
    pub indexes: Vec<IndexPlan>,
    pub checks: Vec<CheckPlan>,
    pub foreign_keys: Vec<ForeignKeyPlan>,
    pub row_count: u64,
    /// Rows can be read in rowid ranges (not a WITHOUT ROWID table).
    pub has_rowid: bool,
    /// Source columns that identify a row in messages: the key, else rowid.
    pub row_key: Vec<String>,
    /// Range-partitioned by time (`partition_by` in config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitioning: Option<partitions::PartitionPlan>,
}

impl TablePlan {
    /// Columns whose values are copied (generated ones are computed).
    pub fn copied_columns(&self) -> impl Iterator<Item = &ColumnPlan> {
        self.columns.iter().filter(|c| c.generated.is_none())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnPlan {
    pub source: String,
    pub target: String,
    pub declared: String,
    /// Storage classes seen in the source, when profiled.
    pub observed: Vec<&'static str>,
    pub pg_type: PgType,
    pub cast: Cast,
    pub reason: String,
    pub not_null: bool,
    /// Default as a PostgreSQL expression.
    pub default: Option<String>,
    /// Generated-column expression, as PostgreSQL SQL.
    pub generated: Option<String>,
    pub identity: bool,
    /// Chosen without looking at the values (see [`types::ProfileNeed`]):
    /// the copy must watch for a value that breaks the assumption.
    #[serde(skip)]
    pub speculative: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentityPlan {
    pub column: String,
    /// The table's sqlite_sequence value: AUTOINCREMENT never reuses ids.
    pub sequence_floor: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UniquePlan {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IndexPlan {
    pub name: String,
    pub unique: bool,
    /// The parenthesised key list and any WHERE clause, as PostgreSQL SQL.
    pub definition: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckPlan {
    pub name: String,
    pub expression: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForeignKeyPlan {
    pub name: String,
    pub columns: Vec<String>,
    pub parent_table: String,
    pub parent_columns: Vec<String>,
    pub on_delete: String,
    pub on_update: String,
    pub deferrable: Deferrable,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewPlan {
    pub source: String,
    pub target: String,
    pub select: String,
}

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub schema: String,
    pub identifiers: IdentifierStyle,
}

/// Allocates relation and constraint names unique within the schema and at
/// most 63 bytes, the way PostgreSQL would name them itself.
#[derive(Default)]
struct NameAllocator {
    used: HashSet<String>,
}

impl NameAllocator {
    fn claim(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }

    fn allocate(&mut self, base: &str) -> String {
        let cut = |s: &str, max: usize| {
            let mut end = max.min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_string()
        };
        let mut name = cut(base, names::MAX_IDENTIFIER_BYTES);
        let mut n = 1;
        while self.used.contains(&name) {
            let suffix = format!("_{n}");
            name = format!("{}{suffix}", cut(base, names::MAX_IDENTIFIER_BYTES - suffix.len()));
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// Builds the plan. Config errors (unknown tables, columns, casts that do
/// not fit) and naming problems are returned before anything is done.
pub fn build(source: &str, schema: &SourceSchema, config: &Config, options: &PlanOptions) -> Result<Plan> {
    validate_config(schema, config)?;
    let style = options.identifiers;
    let kept: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| !config.tables.get(&t.name).is_some_and(|r| r.skip))
        .collect();
    let table_target = |name: &str| -> Option<String> {
        let table = kept
            .iter()
            .find(|t| t.name == name)
            .or_else(|| kept.iter().find(|t| t.name.eq_ignore_ascii_case(name)))?;
        Some(
            config
                .tables
                .get(&table.name)
                .and_then(|r| r.rename.clone())
                .unwrap_or_else(|| names::styled(&table.name, style)),
        )
    };
    let column_target = |table: &str, column: &str| -> String {
        config
            .tables
            .get(table)
            .and_then(|r| r.columns.get(column))
            .and_then(|c| c.rename.clone())
            .unwrap_or_else(|| names::styled(column, style))
    };

    // Names: fail early on what PostgreSQL would cut or merge.
    let mut problems = names::check(
        "table",
        &kept
            .iter()
            .map(|t| (t.name.clone(), table_target(&t.name).unwrap_or_default()))
            .collect::<Vec<_>>(),
    );
    for t in &kept {
        let cols: Vec<(String, String)> = t
            .columns
            .iter()
            .map(|c| (format!("{}.{}", t.name, c.name), column_target(&t.name, &c.name)))
            .collect();
        problems.extend(names::check("column", &cols));
    }
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "names that PostgreSQL cannot hold as they are:\n  - {}\nRename them in godwit.toml ([tables.T.columns.C] rename = \"...\"), \
             or use --identifiers lower|snake where that resolves them.",
            problems.join("\n  - ")
        )));
    }

    // Integer keys converted to UUIDs: foreign keys pointing at them follow.
    let uuid_keys: Vec<(String, String)> = config
        .casts
        .iter()
        .filter(|c| c.using == Some(Transform::UuidFromInt))
        .filter_map(|c| match &c.applies_to {
            CastTarget::Column { table, column } => Some((table.clone(), column.clone())),
            CastTarget::DeclaredType(_) => None,
        })
        .collect();

    let mut catalog = translate::Catalog::default();

    let mut allocator = NameAllocator::default();
    for t in &kept {
        allocator.claim(&table_target(&t.name).unwrap_or_default());
    }
    for v in &schema.views {
        allocator.claim(&names::styled(&v.name, style));
    }

    let mut plan = Plan {
        source: source.to_string(),
        schema: options.schema.clone(),
        tables: Vec::new(),
        views: Vec::new(),
        setup: Vec::new(),
        translations: Vec::new(),
        not_migrated: Vec::new(),
        warnings: Vec::new(),
        suggestions: Vec::new(),
        inferred: schema.inferred.clone(),
        skipped: schema.skipped.clone(),
        view_sources: schema.views.clone(),
        identifiers: style,
    };

    for table in &kept {
        let target = table_target(&table.name).unwrap_or_default();
        let column_skipped = |c: &str| {
            config
                .tables
                .get(&table.name)
                .and_then(|r| r.columns.get(c))
                .is_some_and(|c| c.skip)
        };
        let mut columns = Vec::new();
        for (index, column) in table.columns.iter().enumerate() {
            if column_skipped(&column.name) {
                if column.not_null && column.default.is_none() {
                    plan.warnings.push(format!(
                        "{}.{} is NOT NULL but skipped by config",
                        table.name, column.name
                    ));
                }
                continue;
            }
            let is_alias = table.rowid_alias == Some(index);
            let mut choice = types::choose(column, is_alias);
            let fk_to_uuid = table.foreign_keys.iter().find_map(|fk| {
                let pos = fk.columns.iter().position(|c| c.eq_ignore_ascii_case(&column.name))?;
                let parent_col = fk.parent_columns.get(pos).cloned().or_else(|| {
                    schema
                        .table(&fk.parent_table)
                        .and_then(|p| p.primary_key.get(pos).cloned())
                })?;
                uuid_keys
                    .iter()
                    .find(|(t, c)| t.eq_ignore_ascii_case(&fk.parent_table) && c.eq_ignore_ascii_case(&parent_col))
                    .map(|(t, c)| format!("{t}.{c}"))
            });
            let from_config =
                fk_to_uuid.is_some() || config_cast(config, &table.name, &column.name, &column.declared_type).is_some();
            if let Some(rule) = config_cast(config, &table.name, &column.name, &column.declared_type) {
                choice = apply_cast(&table.name, &column.name, &choice, rule);
            }
            if let Some(namespace) = fk_to_uuid {
                choice = types::Choice {
                    pg_type: PgType::Uuid,
                    cast: Cast::UuidFromInt {
                        namespace: namespace.clone(),
                    },
                    reason: format!("foreign key to {namespace}, which config converts with uuid-from-int"),
                };
            }
            if !from_config
                && let Some(note) = types::widening(column, &choice).or_else(|| types::epoch_outliers(column, &choice))
            {
                plan.warnings.push(format!("{}.{}: {note}", table.name, column.name));
            }
            if let Some(note) = column.profile.as_ref().and_then(|p| misfits(p, &choice.cast)) {
                plan.warnings.push(format!(
                    "{}.{} ({}): {note}",
                    table.name,
                    column.name,
                    choice.pg_type.sql()
                ));
            }
            let target_name = column_target(&table.name, &column.name);
            let identity = is_alias && matches!(choice.pg_type, PgType::BigInt | PgType::Integer | PgType::SmallInt);
            if column.generated.as_ref().is_some_and(|g| !g.stored) {
                plan.warnings.push(format!(
                    "{}.{} is a VIRTUAL generated column; PostgreSQL 15 has only STORED ones, so it is stored",
                    table.name, column.name
                ));
            }
            columns.push(ColumnPlan {
                source: column.name.clone(),
                target: target_name,
                declared: column.declared_type.clone(),
                observed: column.profile.as_ref().map(|p| p.classes()).unwrap_or_default(),
                pg_type: choice.pg_type,
                cast: choice.cast,
                reason: choice.reason,
                // A primary key implies NOT NULL in PostgreSQL.
                not_null: column.not_null || table.primary_key.iter().any(|k| k == &column.name),
                // Translated below, once every column's type is known.
                default: None,
                generated: None,
                identity,
                speculative: column.profile.is_none()
                    && !from_config
                    && types::profile_need(&column.declared_type) == types::ProfileNeed::Speculate,
            });
        }
        let relation = translate::Relation {
            source: table.name.clone(),
            target: target.clone(),
            columns: columns
                .iter()
                .map(|c| translate::Column {
                    source: c.source.clone(),
                    target: c.target.clone(),
                    kind: translate::Kind::of_column(&c.pg_type, &c.cast, &c.observed),
                })
                .collect(),
        };
        for c in &mut columns {
            let Some(source) = table.column(&c.source) else {
                continue;
            };
            if let Some(d) = source.default.as_deref().filter(|_| !c.identity) {
                match translate::default(d, &c.pg_type, &c.cast, &relation, &catalog) {
                    Ok(sql) => c.default = Some(sql),
                    Err(why) => plan
                        .not_migrated
                        .push(format!("default of {}.{}: {why}", table.name, c.source)),
                }
            }
            if let Some(g) = &source.generated {
                match translate::expression(&g.expression, &relation, &catalog, translate::Context::Generated) {
                    Ok(sql) => c.generated = Some(sql),
                    Err(why) => plan.not_migrated.push(format!(
                        "generated column {}.{} ({}): {why}; created as an ordinary column holding the copied values",
                        table.name, c.source, g.expression
                    )),
                }
            }
        }
        let column_name = |source: &str| -> Option<String> {
            columns
                .iter()
                .find(|c| c.source.eq_ignore_ascii_case(source))
                .map(|c| c.target.clone())
        };
        let primary_key: Vec<String> = table.primary_key.iter().filter_map(|k| column_name(k)).collect();
        let identity = table
            .rowid_alias
            .and_then(|i| columns.iter().find(|c| c.source == table.columns[i].name && c.identity))
            .map(|c| IdentityPlan {
                column: c.target.clone(),
                sequence_floor: table.sequence,
            });
        let mut uniques = Vec::new();
        let mut indexes = Vec::new();
        for index in &table.indexes {
            let simple: Option<Vec<String>> = index
                .parts
                .iter()
                .map(|p| match p {
                    IndexPart::Column {
                        name,
                        descending: false,
                        collation: None,
                    } => column_name(name),
                    _ => None,
                })
                .collect();
            if index.from_constraint
                && index.predicate.is_none()
                && let Some(cols) = &simple
            {
                let name = allocator.allocate(&format!("{target}_{}_key", cols.join("_")));
                uniques.push(UniquePlan {
                    name,
                    columns: cols.clone(),
                });
                continue;
            }
            let mut parts = Vec::new();
            let mut untranslatable = None;
            for part in &index.parts {
                parts.push(match part {
                    IndexPart::Column {
                        name,
                        descending,
                        collation,
                    } => {
                        let col =
                            crate::postgres::conn::quote_ident(&column_name(name).unwrap_or_else(|| name.clone()));
                        // NOCASE has no built-in twin; lower() gives the same matching.
                        let term = if collation.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("NOCASE")) {
                            format!("lower({col})")
                        } else {
                            col
                        };
                        if *descending { format!("{term} DESC") } else { term }
                    }
                    IndexPart::Expression { sql, descending } => {
                        match translate::expression(sql, &relation, &catalog, translate::Context::IndexTerm) {
                            Ok(term) => {
                                let term = format!("({term})");
                                if *descending { format!("{term} DESC") } else { term }
                            }
                            Err(why) => {
                                untranslatable = Some(why);
                                String::new()
                            }
                        }
                    }
                });
            }
            let mut definition = format!("({})", parts.join(", "));
            if let Some(predicate) = &index.predicate {
                match translate::expression(predicate, &relation, &catalog, translate::Context::IndexPredicate) {
                    Ok(sql) => definition.push_str(&format!(" WHERE {sql}")),
                    Err(why) => untranslatable = Some(why),
                }
            }
            if let Some(why) = untranslatable {
                plan.not_migrated
                    .push(format!("index {} on {}: {why}", index.name, table.name));
                continue;
            }
            let name = allocator.allocate(&names::styled(&index.name, style));
            indexes.push(IndexPlan {
                name,
                unique: index.unique,
                definition,
            });
        }
        let mut checks = Vec::new();
        for (n, check) in table.checks.iter().enumerate() {
            let base = check
                .name
                .clone()
                .unwrap_or_else(|| format!("{target}_check{}", if n == 0 { String::new() } else { n.to_string() }));
            match translate::expression(&check.expression, &relation, &catalog, translate::Context::Condition) {
                Ok(expression) => checks.push(CheckPlan {
                    name: truncate_name(&base),
                    expression,
                }),
                Err(why) => plan.not_migrated.push(format!(
                    "check {} on {} ({}): {why}",
                    check.name.as_deref().unwrap_or("(unnamed)"),
                    table.name,
                    check.expression
                )),
            }
        }
        let mut foreign_keys = Vec::new();
        let mut fk_names = NameAllocator::default();
        for fk in &table.foreign_keys {
            let Some(parent) = schema.table(&fk.parent_table) else {
                plan.not_migrated.push(format!(
                    "foreign key {}({}) → {}: the parent table does not exist in the source",
                    table.name,
                    fk.columns.join(", "),
                    fk.parent_table
                ));
                continue;
            };
            let Some(parent_target) = table_target(&parent.name) else {
                plan.not_migrated.push(format!(
                    "foreign key {}({}) → {}: the parent table is skipped by config",
                    table.name,
                    fk.columns.join(", "),
                    parent.name
                ));
                continue;
            };
            let parent_columns_source = if fk.parent_columns.is_empty() {
                parent.primary_key.clone()
            } else {
                fk.parent_columns.clone()
            };
            let child: Option<Vec<String>> = fk.columns.iter().map(|c| column_name(c)).collect();
            let parent_cols: Vec<String> = parent_columns_source
                .iter()
                .map(|c| column_target(&parent.name, c))
                .collect();
            let Some(child) = child else {
                plan.not_migrated.push(format!(
                    "foreign key {}({}): a column is skipped by config",
                    table.name,
                    fk.columns.join(", ")
                ));
                continue;
            };
            let base = fk
                .name
                .clone()
                .unwrap_or_else(|| format!("{target}_{}_fkey", child.join("_")));
            foreign_keys.push(ForeignKeyPlan {
                name: fk_names.allocate(&base),
                columns: child,
                parent_table: parent_target,
                parent_columns: parent_cols,
                on_delete: fk.on_delete.clone(),
                on_update: fk.on_update.clone(),
                deferrable: fk.deferrable,
            });
        }
        let row_key = if table.primary_key.is_empty() {
            vec!["rowid".to_string()]
        } else {
            table.primary_key.clone()
        };
        catalog.relations.push(relation);
        plan.tables.push(TablePlan {
            source: table.name.clone(),
            primary_key_name: allocator.allocate(&format!("{target}_pkey")),
            target,
            columns,
            primary_key,
            identity,
            uniques,
            indexes,
            checks,
            foreign_keys,
            row_count: table.row_count,
            has_rowid: !table.without_rowid,
            row_key,
            partitioning: None,
        });
    }

    partitions::apply(&mut plan, config)?;
    let failures = translate_views(&mut plan, catalog);
    plan.not_migrated.extend(failures);
    let replaced = fulltext::apply(&mut plan, schema, &|name| names::styled(name, style), &mut allocator);
    spatial::apply(&mut plan, schema, &mut allocator);
    for trigger in &schema.triggers {
        if let Some(note) = fulltext::replaced_trigger(&replaced, trigger) {
            plan.warnings.push(note);
            continue;
        }
        plan.not_migrated.push(format!(
            "trigger {} on {}: triggers are not translated; rewrite it as a PostgreSQL trigger function",
            trigger.name, trigger.table
        ));
    }
    plan.not_migrated.extend(schema.unsupported.iter().cloned());
    for t in &plan.tables {
        for c in &t.columns {
            if c.pg_type == PgType::Text
                && let Some(src) = schema.table(&t.source).and_then(|s| s.column(&c.source))
                && types::parse_declared(&src.declared_type).name.contains("DATE")
            {
                plan.warnings.push(format!("{}.{}: {}", t.source, c.source, c.reason));
            }
        }
    }
    Ok(plan)
}

impl Plan {
    /// Translates the views again from the current table plans (after the
    /// copy re-planned a table whose values broke its speculated type).
    /// Returns the views that cannot be translated, replacing what the
    /// plan said about them.
    pub fn retranslate_views(&mut self, not_migrated: &mut Vec<String>) {
        not_migrated.retain(|m| {
            !self
                .view_sources
                .iter()
                .any(|v| m.starts_with(&view_failure_prefix(&v.name)))
        });
        let catalog = translate::Catalog {
            relations: self.tables.iter().map(relation_of).collect(),
        };
        not_migrated.extend(translate_views(self, catalog));
    }
}

fn view_failure_prefix(view: &str) -> String {
    format!("view {view}: cannot be translated")
}

/// A planned table as the translator sees it.
fn relation_of(table: &TablePlan) -> translate::Relation {
    translate::Relation {
        source: table.source.clone(),
        target: table.target.clone(),
        columns: table
            .columns
            .iter()
            .map(|c| translate::Column {
                source: c.source.clone(),
                target: c.target.clone(),
                kind: translate::Kind::of_column(&c.pg_type, &c.cast, &c.observed),
            })
            .collect(),
    }
}

/// Translates every view in order (a view may read the ones before it);
/// returns the not-migrated entries of those that cannot be.
fn translate_views(plan: &mut Plan, mut catalog: translate::Catalog) -> Vec<String> {
    let style = plan.identifiers;
    let mut failures = Vec::new();
    plan.views.clear();
    for view in &plan.view_sources {
        let target = names::styled(&view.name, style);
        match translate::view(&view.select, &catalog, &|n| names::styled(n, style)) {
            Ok(translated) => {
                catalog.relations.push(translate::Relation {
                    source: view.name.clone(),
                    target: target.clone(),
                    columns: translated.columns,
                });
                plan.views.push(ViewPlan {
                    source: view.name.clone(),
                    target,
                    select: translated.select,
                });
            }
            Err(why) => failures.push(format!(
                "{}: {why}; its SQLite definition: {}",
                view_failure_prefix(&view.name),
                view.select
            )),
        }
    }
    failures
}

/// Values the profile shows cannot fit the cast: said in the plan so the
/// user knows before copying that rows will stop the copy or be rejected.
fn misfits(p: &crate::source::ColumnProfile, cast: &Cast) -> Option<String> {
    let (count, what) = match cast {
        Cast::Integer { .. } => (
            p.texts + p.blobs + p.fractional_reals,
            "text, blob or fractional values are not integers",
        ),
        Cast::Float { .. } => (p.texts + p.blobs, "text or blob values are not numbers"),
        Cast::Boolean => (p.blobs, "blob values are not booleans"),
        Cast::Text { .. } => (p.blobs, "blob values must be valid UTF-8 to become text"),
        _ => return None,
    };
    (count > 0).then(|| format!("{count} value(s) will not fit: {what}; they stop the copy (or are rejected with --on-error skip), or add a [[cast]]"))
}

fn truncate_name(name: &str) -> String {
    NameAllocator::default().allocate(name)
}

/// The config cast for a column: by `table.column` first, then by declared type.
fn config_cast<'a>(
    config: &'a Config,
    table: &str,
    column: &str,
    declared: &str,
) -> Option<&'a crate::config::CastRule> {
    config
        .casts
        .iter()
        .find(|c| matches!(&c.applies_to, CastTarget::Column { table: t, column: col } if t.eq_ignore_ascii_case(table) && col.eq_ignore_ascii_case(column)))
        .or_else(|| {
            let declared_name = types::parse_declared(declared).name;
            config.casts.iter().find(|c| {
                matches!(&c.applies_to, CastTarget::DeclaredType(t) if types::parse_declared(t).name == declared_name)
            })
        })
}

/// The type and cast a config rule asks for.
fn apply_cast(table: &str, column: &str, natural: &types::Choice, rule: &crate::config::CastRule) -> types::Choice {
    let unit_from_natural = match &natural.cast {
        Cast::Timestamp { unit, .. } | Cast::Date { unit } => *unit,
        _ => EpochUnit::Seconds,
    };
    let cast = match (&rule.using, &rule.to) {
        (Some(Transform::Split(sep)), PgType::Array(element)) => Cast::SplitArray {
            separator: sep.clone(),
            element: (**element).clone(),
        },
        (Some(Transform::JsonArray), PgType::Array(element)) => Cast::JsonArray {
            element: (**element).clone(),
        },
        (Some(Transform::UuidFromInt), _) => Cast::UuidFromInt {
            namespace: format!("{table}.{column}"),
        },
        (Some(Transform::EpochMs), t) => temporal_cast(t, EpochUnit::Milliseconds),
        (Some(Transform::EpochS), t) => temporal_cast(t, EpochUnit::Seconds),
        (_, t) => cast_for_type(t, unit_from_natural),
    };
    types::Choice {
        pg_type: rule.to.clone(),
        cast,
        reason: format!("cast in config (line {})", rule.line),
    }
}

fn temporal_cast(t: &PgType, unit: EpochUnit) -> Cast {
    match t {
        PgType::Date => Cast::Date { unit },
        PgType::Timestamp => Cast::Timestamp { unit, with_zone: false },
        _ => Cast::Timestamp { unit, with_zone: true },
    }
}

/// The default cast into a PostgreSQL type.
pub fn cast_for_type(t: &PgType, unit: EpochUnit) -> Cast {
    match t {
        PgType::SmallInt => Cast::Integer { bits: 16 },
        PgType::Integer => Cast::Integer { bits: 32 },
        PgType::BigInt => Cast::Integer { bits: 64 },
        PgType::Real => Cast::Float { bits: 32 },
        PgType::Double => Cast::Float { bits: 64 },
        PgType::Numeric(ps) => Cast::Numeric {
            precision: ps.map(|p| p.0),
            scale: ps.map(|p| p.1),
            round: false,
        },
        PgType::Text => Cast::Text { max_chars: None },
        PgType::Varchar(n) => Cast::Text { max_chars: *n },
        PgType::Bytea => Cast::Bytea,
        PgType::Boolean => Cast::Boolean,
        PgType::Date => Cast::Date { unit },
        PgType::Time => Cast::Time,
        PgType::Timestamp => Cast::Timestamp { unit, with_zone: false },
        PgType::Timestamptz => Cast::Timestamp { unit, with_zone: true },
        PgType::Json => Cast::Json { binary: false },
        PgType::Jsonb => Cast::Json { binary: true },
        PgType::Uuid => Cast::Uuid,
        PgType::Array(element) => Cast::JsonArray {
            element: (**element).clone(),
        },
        PgType::TextLike(_) => Cast::TextLike,
        PgType::Inet => Cast::Inet { cidr: false },
        PgType::Cidr => Cast::Inet { cidr: true },
    }
}

/// Every table and column config names must exist in the source.
fn validate_config(schema: &SourceSchema, config: &Config) -> Result<()> {
    let known_tables = || {
        schema
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, rule) in &config.tables {
        let Some(table) = schema.tables.iter().find(|t| &t.name == name) else {
            return Err(config.error(
                rule.line,
                format!(
                    "[tables.{name}]: no table {name:?} in the source (tables: {})",
                    known_tables()
                ),
            ));
        };
        for (column, c) in &rule.columns {
            if !table.columns.iter().any(|x| &x.name == column) {
                return Err(config.error(
                    c.line,
                    format!(
                        "[tables.{name}.columns.{column}]: table {name:?} has no column {column:?} (columns: {})",
                        table
                            .columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    for cast in &config.casts {
        match &cast.applies_to {
            CastTarget::Column { table, column } => {
                let Some(t) = schema.table(table) else {
                    return Err(config.error(
                        cast.line,
                        format!(
                            "cast.column: no table {table:?} in the source (tables: {})",
                            known_tables()
                        ),
                    ));
                };
                if t.column(column).is_none() {
                    return Err(config.error(
                        cast.line,
                        format!("cast.column: table {table:?} has no column {column:?}"),
                    ));
                }
            }
            CastTarget::DeclaredType(declared) => {
                let wanted = types::parse_declared(declared).name;
                let any = schema
                    .tables
                    .iter()
                    .flat_map(|t| &t.columns)
                    .any(|c| types::parse_declared(&c.declared_type).name == wanted);
                if !any {
                    return Err(config.error(
                        cast.line,
                        format!("cast.type: no source column is declared {declared:?}"),
                    ));
                }
            }
        }
    }
    Ok(())
}
