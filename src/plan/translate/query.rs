//! SELECT statements: FROM relations resolved against the catalog (names
//! re-quoted in their target spelling), clauses translated in order,
//! output columns typed so a view over a view knows its kinds.

use sqlparser::ast::{
    Distinct, GroupByExpr, Join, JoinConstraint, JoinOperator, LimitClause, OrderByExpr, OrderByKind, Query, Select,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, SetOperator, SetQuantifier, TableFactor, TableWithJoins,
};

use super::{Column, Kind, Relation, Result, Translator, Typed, unsupported};
use crate::postgres::conn::quote_ident;

/// A relation visible in a query, under the name the query uses for it.
#[derive(Debug, Clone)]
struct Bound {
    /// The name the SQLite query uses (alias, else the table name).
    name: String,
    /// The name to write in PostgreSQL (alias as written, else the target table).
    printed: String,
    columns: Vec<Column>,
}

/// The names one SELECT (or one table expression) can see.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    bound: Vec<Bound>,
    /// Output aliases, for ORDER BY / GROUP BY / HAVING: (SQLite name, printed).
    aliases: Vec<(String, String)>,
    /// Common table expressions defined here.
    ctes: Vec<Relation>,
}

impl Scope {
    /// The scope of a table's own expressions (CHECK, index, default).
    pub(crate) fn single(table: &Relation) -> Scope {
        Scope {
            bound: vec![Bound {
                name: table.source.clone(),
                printed: quote_ident(&table.target),
                columns: table.columns.clone(),
            }],
            ..Scope::default()
        }
    }
}

/// Finds a column, innermost scope first (correlated subqueries see outer names).
pub(crate) fn resolve(scopes: &[Scope], qualifier: Option<&str>, name: &str) -> Option<Typed> {
    for (depth, scope) in scopes.iter().rev().enumerate() {
        let candidates = scope
            .bound
            .iter()
            .filter(|b| qualifier.is_none_or(|q| b.name.eq_ignore_ascii_case(q)));
        for b in candidates {
            let column = b
                .columns
                .iter()
                .find(|c| c.source == name)
                .or_else(|| b.columns.iter().find(|c| c.source.eq_ignore_ascii_case(name)));
            if let Some(c) = column {
                // Qualified when it could be ambiguous: several relations, or
                // an outer query's column seen from a subquery.
                let sql = if qualifier.is_some() || scope.bound.len() > 1 || depth > 0 {
                    format!("{}.{}", b.printed, quote_ident(&c.target))
                } else {
                    quote_ident(&c.target)
                };
                return Some(Typed {
                    sql,
                    kind: c.kind,
                    column: true,
                    nocase: false,
                    per_execution: false,
                });
            }
        }
    }
    None
}

pub(crate) fn output_alias(scopes: &[Scope], name: &str) -> Option<String> {
    scopes
        .last()?
        .aliases
        .iter()
        .find(|(source, _)| source.eq_ignore_ascii_case(name))
        .map(|(_, printed)| printed.clone())
}

/// A translated query and its output columns.
pub(crate) struct QueryOut {
    pub sql: String,
    pub columns: Vec<Column>,
}

impl Translator<'_> {
    pub(crate) fn query(&mut self, q: &Query) -> Result<QueryOut> {
        if q.fetch.is_some() || !q.locks.is_empty() || q.for_clause.is_some() || !q.pipe_operators.is_empty() {
            return unsupported("a query clause SQLite does not have");
        }
        self.scopes.push(Scope::default());
        let result = self.query_inner(q);
        self.scopes.pop();
        result
    }

    fn query_inner(&mut self, q: &Query) -> Result<QueryOut> {
        let mut sql = String::new();
        if let Some(with) = &q.with {
            let mut ctes = Vec::new();
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.clone();
                if with.recursive {
                    // A recursive CTE names itself; its columns come from the alias list.
                    let columns = cte
                        .alias
                        .columns
                        .iter()
                        .map(|c| Column {
                            source: c.name.value.clone(),
                            target: self.alias(&c.name.value),
                            kind: Kind::Unknown,
                        })
                        .collect();
                    let relation = Relation {
                        source: name.clone(),
                        target: self.alias(&name),
                        columns,
                    };
                    self.scope().ctes.push(relation);
                }
                let outer = std::mem::replace(&mut self.unnamed, false);
                let out = self.query(&cte.query);
                self.unnamed = outer;
                let out = out?;
                let columns: Vec<Column> = if cte.alias.columns.is_empty() {
                    out.columns
                } else {
                    cte.alias
                        .columns
                        .iter()
                        .zip(
                            out.columns
                                .iter()
                                .map(|c| c.kind)
                                .chain(std::iter::repeat(Kind::Unknown)),
                        )
                        .map(|(c, kind)| Column {
                            source: c.name.value.clone(),
                            target: self.alias(&c.name.value),
                            kind,
                        })
                        .collect()
                };
                let relation = Relation {
                    source: name.clone(),
                    target: self.alias(&name),
                    columns,
                };
                let column_list = if cte.alias.columns.is_empty() {
                    String::new()
                } else {
                    format!(
                        "({})",
                        relation
                            .columns
                            .iter()
                            .map(|c| quote_ident(&c.target))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                ctes.push(format!(
                    "{}{column_list} AS ({})",
                    quote_ident(&relation.target),
                    out.sql
                ));
                let scope = self.scope();
                scope.ctes.retain(|r| !r.source.eq_ignore_ascii_case(&name));
                scope.ctes.push(relation);
            }
            sql.push_str(&format!(
                "WITH {}{} ",
                if with.recursive { "RECURSIVE " } else { "" },
                ctes.join(", ")
            ));
        }
        let body = self.set_expr(&q.body)?;
        sql.push_str(&body.sql);
        if let Some(order_by) = &q.order_by {
            // ORDER BY of the whole query sees the output aliases.
            self.scope().aliases = body
                .columns
                .iter()
                .map(|c| (c.source.clone(), c.target.clone()))
                .collect();
            if let Some(bound) = body_bound(&q.body, self) {
                self.scope().bound = bound;
            }
            match &order_by.kind {
                OrderByKind::Expressions(items) => {
                    let terms = items.iter().map(|o| self.order_term(o)).collect::<Result<Vec<_>>>()?;
                    sql.push_str(&format!(" ORDER BY {}", terms.join(", ")));
                }
                OrderByKind::All(_) => return unsupported("ORDER BY ALL"),
            }
        }
        match &q.limit_clause {
            None => {}
            Some(LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                if !limit_by.is_empty() {
                    return unsupported("LIMIT BY");
                }
                if let Some(limit) = limit {
                    sql.push_str(&format!(" LIMIT {}", self.limit(limit)?));
                }
                if let Some(offset) = offset {
                    let t = self.expr(&offset.value)?;
                    sql.push_str(&format!(" OFFSET {}", t.sql));
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                let limit = self.limit(limit)?;
                let offset = self.expr(offset)?;
                sql.push_str(&format!(" LIMIT {limit} OFFSET {}", offset.sql));
            }
        }
        Ok(QueryOut {
            sql,
            columns: body.columns,
        })
    }

    /// SQLite's negative LIMIT means no limit.
    fn limit(&mut self, e: &sqlparser::ast::Expr) -> Result<String> {
        let t = self.expr(e)?;
        if t.sql.starts_with('-') {
            return Ok("ALL".into());
        }
        Ok(t.sql)
    }

    fn scope(&mut self) -> &mut Scope {
        if self.scopes.is_empty() {
            self.scopes.push(Scope::default());
        }
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    fn set_expr(&mut self, body: &SetExpr) -> Result<QueryOut> {
        match body {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Query(q) => {
                let out = self.query(q)?;
                Ok(QueryOut {
                    sql: format!("({})", out.sql),
                    columns: out.columns,
                })
            }
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let l = self.set_expr(left)?;
                // Each branch has its own FROM.
                let saved = std::mem::take(&mut self.scope().bound);
                let r = self.set_expr(right)?;
                self.scope().bound = saved;
                let op = match op {
                    SetOperator::Union => "UNION",
                    SetOperator::Intersect => "INTERSECT",
                    SetOperator::Except => "EXCEPT",
                    other => return unsupported(format!("the set operator {other}")),
                };
                let all = match set_quantifier {
                    SetQuantifier::All => " ALL",
                    SetQuantifier::None | SetQuantifier::Distinct => "",
                    other => return unsupported(format!("{op} {other}")),
                };
                let columns = l
                    .columns
                    .iter()
                    .zip(&r.columns)
                    .map(|(a, b)| Column {
                        kind: if a.kind == b.kind { a.kind } else { Kind::Unknown },
                        ..a.clone()
                    })
                    .collect();
                Ok(QueryOut {
                    sql: format!("{} {op}{all} {}", l.sql, r.sql),
                    columns,
                })
            }
            SetExpr::Values(values) => {
                let mut rows = Vec::new();
                let mut kinds: Vec<Kind> = Vec::new();
                for row in &values.rows {
                    let mut cells = Vec::new();
                    for (i, e) in row.content.iter().enumerate() {
                        let t = self.expr(e)?;
                        let t = self.value(t);
                        if kinds.len() <= i {
                            kinds.push(t.kind);
                        }
                        cells.push(t.sql);
                    }
                    rows.push(format!("({})", cells.join(", ")));
                }
                // SQLite names VALUES columns column1, column2, ...
                let columns = kinds
                    .into_iter()
                    .enumerate()
                    .map(|(i, kind)| Column {
                        source: format!("column{}", i + 1),
                        target: format!("column{}", i + 1),
                        kind,
                    })
                    .collect();
                Ok(QueryOut {
                    sql: format!("VALUES {}", rows.join(", ")),
                    columns,
                })
            }
            _ => unsupported("a statement that is not a SELECT inside a query"),
        }
    }

    fn select(&mut self, s: &Select) -> Result<QueryOut> {
        if s.top.is_some()
            || s.into.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || s.qualify.is_some()
            || !s.named_window.is_empty()
            || !s.connect_by.is_empty()
        {
            return unsupported("a SELECT clause SQLite does not have");
        }
        let mut from = Vec::new();
        let mut bound = Vec::new();
        for twj in &s.from {
            from.push(self.table_with_joins(twj, &mut bound)?);
        }
        self.scope().bound = bound.clone();
        self.scope().aliases.clear();
        let where_sql = match &s.selection {
            Some(w) => {
                let t = self.expr(w)?;
                Some(self.condition(t)?)
            }
            None => None,
        };
        // Projection (output aliases become visible to GROUP BY / HAVING / ORDER BY).
        let mut items = Vec::new();
        let mut columns = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let t = self.expr(e)?;
                    let t = self.value(t);
                    if t.column {
                        let name = match e {
                            sqlparser::ast::Expr::Identifier(i) => i.value.clone(),
                            sqlparser::ast::Expr::CompoundIdentifier(parts) => {
                                parts.last().map(|p| p.value.clone()).unwrap_or_default()
                            }
                            _ => String::new(),
                        };
                        let target = target_of(&bound, &name).unwrap_or_else(|| self.alias(&name));
                        columns.push(Column {
                            source: name,
                            target,
                            kind: t.kind,
                        });
                        items.push(t.sql);
                    } else {
                        // SQLite names an expression column by its text.
                        use sqlparser::ast::Spanned;
                        let name = self.span_text(e.span());
                        let name = if name.is_empty() { e.to_string() } else { name };
                        let printed = self.alias(&name);
                        if self.unnamed {
                            items.push(t.sql);
                        } else {
                            items.push(format!("{} AS {}", t.sql, quote_ident(&printed)));
                        }
                        columns.push(Column {
                            source: name,
                            target: printed,
                            kind: t.kind,
                        });
                    }
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let t = self.expr(expr)?;
                    let t = self.value(t);
                    let printed = self.alias(&alias.value);
                    items.push(format!("{} AS {}", t.sql, quote_ident(&printed)));
                    columns.push(Column {
                        source: alias.value.clone(),
                        target: printed,
                        kind: t.kind,
                    });
                }
                SelectItem::Wildcard(options) => {
                    if options.opt_exclude.is_some()
                        || options.opt_except.is_some()
                        || options.opt_replace.is_some()
                        || options.opt_rename.is_some()
                        || options.opt_ilike.is_some()
                    {
                        return unsupported("a wildcard with options");
                    }
                    items.push("*".into());
                    columns.extend(bound.iter().flat_map(|b| b.columns.clone()));
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let SelectItemQualifiedWildcardKind::ObjectName(name) = kind else {
                        return unsupported("a wildcard over an expression");
                    };
                    let name = object_name(name)?;
                    let Some(b) = bound.iter().find(|b| b.name.eq_ignore_ascii_case(&name)) else {
                        return unsupported(format!("{name}.*, which names no table in scope"));
                    };
                    items.push(format!("{}.*", b.printed));
                    columns.extend(b.columns.clone());
                }
                SelectItem::ExprWithAliases { .. } => return unsupported("a select item with several aliases"),
            }
        }
        self.scope().aliases = columns.iter().map(|c| (c.source.clone(), c.target.clone())).collect();
        let mut sql = String::from("SELECT ");
        match &s.distinct {
            None | Some(Distinct::All) => {}
            Some(Distinct::Distinct) => sql.push_str("DISTINCT "),
            Some(Distinct::On(_)) => return unsupported("DISTINCT ON"),
        }
        sql.push_str(&items.join(", "));
        if !from.is_empty() {
            sql.push_str(&format!(" FROM {}", from.join(", ")));
        }
        if let Some(w) = where_sql {
            sql.push_str(&format!(" WHERE {w}"));
        }
        match &s.group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return unsupported("GROUP BY modifiers");
                }
                if !exprs.is_empty() {
                    let terms = exprs
                        .iter()
                        .map(|e| {
                            let t = self.expr(e)?;
                            Ok(self.value(t).sql)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    sql.push_str(&format!(" GROUP BY {}", terms.join(", ")));
                }
            }
            GroupByExpr::All(_) => return unsupported("GROUP BY ALL"),
        }
        if let Some(h) = &s.having {
            let t = self.expr(h)?;
            sql.push_str(&format!(" HAVING {}", self.condition(t)?));
        }
        Ok(QueryOut { sql, columns })
    }

    /// One ORDER BY term. SQLite sorts NULLs first ascending, PostgreSQL
    /// last: say it.
    pub(crate) fn order_term(&mut self, o: &OrderByExpr) -> Result<String> {
        if o.with_fill.is_some() {
            return unsupported("WITH FILL");
        }
        let t = self.expr(&o.expr)?;
        let t = self.value(t);
        let term = if t.nocase {
            super::ascii_lower(&t.sql)
        } else if t.kind == Kind::Text {
            format!("{} COLLATE \"C\"", t.sql)
        } else {
            t.sql
        };
        let descending = matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Desc));
        let nulls_first = o.options.nulls_first.unwrap_or(!descending);
        Ok(format!(
            "{term}{} NULLS {}",
            if descending { " DESC" } else { "" },
            if nulls_first { "FIRST" } else { "LAST" }
        ))
    }

    fn table_with_joins(&mut self, twj: &TableWithJoins, bound: &mut Vec<Bound>) -> Result<String> {
        let mut sql = self.table_factor(&twj.relation, bound)?;
        for join in &twj.joins {
            sql.push(' ');
            sql.push_str(&self.join(join, bound)?);
        }
        Ok(sql)
    }

    fn join(&mut self, join: &Join, bound: &mut Vec<Bound>) -> Result<String> {
        let (word, constraint) = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => ("JOIN", Some(c)),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => ("LEFT JOIN", Some(c)),
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("RIGHT JOIN", Some(c)),
            JoinOperator::FullOuter(c) => ("FULL JOIN", Some(c)),
            JoinOperator::CrossJoin(c) => ("CROSS JOIN", Some(c)),
            _ => return unsupported("a join SQLite does not have"),
        };
        let relation = self.table_factor(&join.relation, bound)?;
        let natural = matches!(constraint, Some(JoinConstraint::Natural));
        let head = if natural {
            format!("NATURAL {word} {relation}")
        } else {
            format!("{word} {relation}")
        };
        match constraint {
            Some(JoinConstraint::On(e)) => {
                self.scope().bound = bound.clone();
                let t = self.expr(e)?;
                Ok(format!("{head} ON {}", self.condition(t)?))
            }
            Some(JoinConstraint::Using(names)) => {
                let mut cols = Vec::new();
                for n in names {
                    let n = object_name(n)?;
                    cols.push(quote_ident(&target_of(bound, &n).unwrap_or_else(|| n.clone())));
                }
                Ok(format!("{head} USING ({})", cols.join(", ")))
            }
            Some(JoinConstraint::Natural) => Ok(head),
            Some(JoinConstraint::None) | None => {
                if word == "JOIN" {
                    // SQLite's JOIN without a constraint is a cross join.
                    Ok(format!("CROSS JOIN {relation}"))
                } else {
                    Ok(head)
                }
            }
            Some(JoinConstraint::UsingAlias(..)) => unsupported("USING ... AS"),
        }
    }

    fn table_factor(&mut self, factor: &TableFactor, bound: &mut Vec<Bound>) -> Result<String> {
        match factor {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_directives,
                ..
            } => {
                if args.is_some() {
                    return unsupported(format!("the table-valued function {name}"));
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_directives.is_empty()
                {
                    return unsupported(format!("a table clause on {name}"));
                }
                let table_name = object_name(name)?;
                let relation = self
                    .scopes
                    .iter()
                    .rev()
                    .find_map(|s| s.ctes.iter().find(|r| r.source.eq_ignore_ascii_case(&table_name)))
                    .or_else(|| self.catalog.relation(&table_name))
                    .cloned();
                let Some(relation) = relation else {
                    return unsupported(format!("the table {table_name}, which is not in the copy"));
                };
                let (alias_name, printed, alias_sql) = match alias {
                    Some(a) => {
                        if !a.columns.is_empty() {
                            return unsupported("a table alias with a column list");
                        }
                        let printed = quote_ident(&a.name.value);
                        (a.name.value.clone(), printed.clone(), format!(" AS {printed}"))
                    }
                    None => (table_name.clone(), quote_ident(&relation.target), String::new()),
                };
                bound.push(Bound {
                    name: alias_name,
                    printed,
                    columns: relation.columns.clone(),
                });
                Ok(format!("{}{alias_sql}", quote_ident(&relation.target)))
            }
            TableFactor::Derived {
                lateral: false,
                subquery,
                alias,
                sample: None,
            } => {
                let outer = std::mem::replace(&mut self.unnamed, false);
                let out = self.query(subquery);
                self.unnamed = outer;
                let out = out?;
                let name = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_default();
                // Column aliases rename the subquery's outputs in order.
                let renamed: Vec<String> = alias
                    .iter()
                    .flat_map(|a| &a.columns)
                    .map(|c| self.alias(&c.name.value))
                    .collect();
                let mut columns = out.columns;
                for (column, new) in columns.iter_mut().zip(&renamed) {
                    column.source = new.clone();
                    column.target = new.clone();
                }
                let column_list = if renamed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "({})",
                        renamed.iter().map(|n| quote_ident(n)).collect::<Vec<_>>().join(", ")
                    )
                };
                let alias_sql = if name.is_empty() {
                    // PostgreSQL 15 wants every subquery in FROM named.
                    format!("AS godwit_subquery{column_list}")
                } else {
                    format!("AS {}{column_list}", quote_ident(&name))
                };
                bound.push(Bound {
                    name: name.clone(),
                    printed: if name.is_empty() {
                        "godwit_subquery".into()
                    } else {
                        quote_ident(&name)
                    },
                    columns,
                });
                Ok(format!("({}) {alias_sql}", out.sql))
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias: None,
            } => Ok(format!("({})", self.table_with_joins(table_with_joins, bound)?)),
            other => unsupported(format!("the FROM item {other}")),
        }
    }
}

fn object_name(name: &sqlparser::ast::ObjectName) -> Result<String> {
    let parts: Vec<&sqlparser::ast::ObjectNamePart> = name.0.iter().collect();
    let ident = |p: &sqlparser::ast::ObjectNamePart| match p {
        sqlparser::ast::ObjectNamePart::Identifier(i) => Ok(i.value.clone()),
        _ => unsupported(format!("the name {name}")),
    };
    match parts.as_slice() {
        [one] => ident(one),
        [schema, one] if ident(schema)?.eq_ignore_ascii_case("main") => ident(one),
        _ => unsupported(format!("the qualified name {name}")),
    }
}

fn target_of(bound: &[Bound], name: &str) -> Option<String> {
    bound.iter().find_map(|b| {
        b.columns
            .iter()
            .find(|c| c.source.eq_ignore_ascii_case(name))
            .map(|c| c.target.clone())
    })
}

/// The FROM relations of a simple SELECT body, for its ORDER BY.
fn body_bound(body: &SetExpr, t: &Translator<'_>) -> Option<Vec<Bound>> {
    match body {
        SetExpr::Select(_) => t.scopes.last().map(|s| s.bound.clone()),
        _ => None,
    }
}
