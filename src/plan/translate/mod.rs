//! SQLite expressions and SELECTs translated for PostgreSQL through a real
//! parser: `sqlparser` reads the SQLite text (SQLite dialect), this module
//! walks the tree and writes PostgreSQL that computes what SQLite computed.
//!
//! The walk knows each sub-expression's kind (integer, real, text, boolean
//! column, ...), because SQLite's semantics depend on it: `||` on a real
//! spells it as SQLite does, a comparison used as a value is 0/1, division
//! by zero is NULL, `flag = 1` on a column that became boolean is
//! `flag = true`. Every construct is on an allow-list: anything else is an
//! [`Untranslatable`] naming the function or construct, and the caller
//! reports that object as not migrated rather than guessing.
//! docs/translation.md lists the mappings and the semantics chosen.

mod datetime;
mod django;
mod functions;
mod literal;
mod query;

use sqlparser::ast::{BinaryOperator, CastKind, Expr, UnaryOperator, Value};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token as SqlToken;

use crate::plan::types::{Cast, EpochUnit, PgType};
use crate::postgres::conn::{quote_ident, quote_literal};
use crate::source::sqlite::sql::{Token, matching_paren, tokenize};

/// Why an expression has no faithful PostgreSQL translation: names the
/// function or construct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable(pub String);

impl std::fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, Untranslatable>;

fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(Untranslatable(what.into()))
}

/// What SQLite holds for an expression, as far as translation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The NULL literal: fits anywhere.
    Null,
    Int,
    Real,
    /// A PostgreSQL numeric: SQLite held integers or reals.
    Numeric,
    Text,
    Blob,
    /// A PostgreSQL boolean: a column that SQLite held as 0/1, or a
    /// comparison (which SQLite evaluates to 0/1).
    Bool,
    /// A date/time column; `numbers` is the epoch unit when SQLite held
    /// numbers, None when it held ISO-8601 text.
    Temporal {
        pg: TemporalType,
        numbers: Option<EpochUnit>,
    },
    /// jsonb.
    Json,
    /// uuid, inet, arrays: no SQLite twin.
    Other,
    /// A uuid that config's `uuid-from-int` made of SQLite's integer key
    /// (or a foreign key following one): the v5 namespace it was derived
    /// in, so an integer compared with it is converted the same way.
    UuidKey([u8; 16]),
    /// Unresolved (an output alias, an outer name).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalType {
    Timestamptz,
    Timestamp,
    Date,
    Time,
}

impl Kind {
    /// The kind of a planned column: its PostgreSQL type, and for dates
    /// whether SQLite held numbers (the profile's classes).
    pub fn of_column(pg_type: &PgType, cast: &Cast, observed: &[&str]) -> Kind {
        let numbers = || {
            let held_numbers =
                !observed.is_empty() && observed.iter().all(|c| matches!(*c, "integer" | "real" | "null"));
            match cast {
                Cast::Timestamp { unit, .. } | Cast::Date { unit } if held_numbers => Some(*unit),
                _ => None,
            }
        };
        if let Cast::UuidFromInt { namespace } = cast {
            return Kind::UuidKey(crate::postgres::encode::uuid_namespace(namespace));
        }
        match pg_type {
            PgType::SmallInt | PgType::Integer | PgType::BigInt => Kind::Int,
            PgType::Real | PgType::Double => Kind::Real,
            PgType::Numeric(_) => Kind::Numeric,
            PgType::Text | PgType::Varchar(_) | PgType::TextLike(_) => Kind::Text,
            PgType::Bytea => Kind::Blob,
            PgType::Boolean => Kind::Bool,
            PgType::Timestamptz => Kind::Temporal {
                pg: TemporalType::Timestamptz,
                numbers: numbers(),
            },
            PgType::Timestamp => Kind::Temporal {
                pg: TemporalType::Timestamp,
                numbers: numbers(),
            },
            PgType::Date => Kind::Temporal {
                pg: TemporalType::Date,
                numbers: numbers(),
            },
            PgType::Time => Kind::Temporal {
                pg: TemporalType::Time,
                numbers: None,
            },
            PgType::Json | PgType::Jsonb => Kind::Json,
            PgType::Uuid | PgType::Inet | PgType::Cidr | PgType::Array(_) => Kind::Other,
        }
    }

    fn is_number(self) -> bool {
        matches!(self, Kind::Int | Kind::Real | Kind::Numeric)
    }
}

/// A column an expression may name.
#[derive(Debug, Clone)]
pub struct Column {
    pub source: String,
    pub target: String,
    pub kind: Kind,
}

/// A table or view an expression may name.
#[derive(Debug, Clone)]
pub struct Relation {
    pub source: String,
    pub target: String,
    pub columns: Vec<Column>,
}

/// Every table and view translated so far.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub relations: Vec<Relation>,
}

impl Catalog {
    pub fn relation(&self, name: &str) -> Option<&Relation> {
        self.relations
            .iter()
            .find(|r| r.source == name)
            .or_else(|| self.relations.iter().find(|r| r.source.eq_ignore_ascii_case(name)))
    }
}

/// Where an expression's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A value (generated column, default, index term).
    Value,
    /// A condition (CHECK, partial-index WHERE).
    Condition,
    /// An index term: lower()/upper() stay PostgreSQL's own, so queries
    /// written for PostgreSQL use the index (an index holds no results to
    /// get wrong; a unique one that PostgreSQL's folding would break fails
    /// loudly at creation).
    IndexTerm,
    /// A partial index's WHERE.
    IndexPredicate,
    /// A generated column's expression.
    Generated,
}

impl Context {
    /// PostgreSQL accepts only immutable expressions in indexes and
    /// generated columns: date/time formatting (which depends on settings)
    /// cannot be there.
    fn immutable(self) -> bool {
        matches!(self, Context::IndexTerm | Context::IndexPredicate | Context::Generated)
    }
}

/// Translates one expression of `table` (a CHECK, generated column,
/// default, index term or partial-index predicate).
pub fn expression(sql: &str, table: &Relation, catalog: &Catalog, context: Context) -> Result<String> {
    expression_typed(sql, table, catalog, context).map(|t| t.sql)
}

fn expression_typed(sql: &str, table: &Relation, catalog: &Catalog, context: Context) -> Result<Typed> {
    let expr = parse_expression(sql)?;
    let mut t = Translator::new(catalog, sql);
    t.native_case = context == Context::IndexTerm;
    t.immutable = context.immutable();
    t.check = context == Context::Condition;
    t.scopes.push(query::Scope::single(table));
    let typed = t.expr(&expr)?;
    let typed = match context {
        Context::Value | Context::IndexTerm | Context::Generated => t.value(typed),
        Context::Condition | Context::IndexPredicate => Typed::new(t.condition(typed)?, Kind::Bool),
    };
    match t.mutable.take() {
        Some(what) => unsupported(format!(
            "{what}, which PostgreSQL does not allow in an index or generated column (not immutable)"
        )),
        None => Ok(typed),
    }
}

/// A translated view: its PostgreSQL SELECT and its output columns.
#[derive(Debug, Clone)]
pub struct View {
    pub select: String,
    pub columns: Vec<Column>,
    /// Integer parameters compared with a `uuid-from-int` key, by their
    /// PostgreSQL number, with the key's namespace: written `$N::uuid`,
    /// so the caller binds each converted (`encode::uuid_in_namespace`).
    pub uuid_parameters: Vec<(usize, [u8; 16])>,
}

/// Translates a view's SELECT. `style` spells output aliases the way
/// table and column names are spelled.
pub fn view(select: &str, catalog: &Catalog, style: &dyn Fn(&str) -> String) -> Result<View> {
    let dialect = SQLiteDialect {};
    let statements = Parser::parse_sql(&dialect, select)
        .map_err(|e| Untranslatable(format!("SQLite syntax the parser does not read: {e}")))?;
    let [sqlparser::ast::Statement::Query(q)] = statements.as_slice() else {
        return unsupported("a view body that is not one SELECT");
    };
    let mut t = Translator::new(catalog, select);
    t.style = Some(style);
    let out = t.query(q)?;
    Ok(View {
        select: out.sql,
        columns: out.columns,
        uuid_parameters: t.uuid_parameters.take(),
    })
}

/// A query parameter as the translation sees it: what SQLite's value held
/// and where it goes in PostgreSQL's numbering (None: always NULL, written
/// as a literal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    pub kind: Kind,
    pub number: Option<usize>,
}

/// Translates an application's SELECT whose parameters are written `?NNN`
/// (SQLite's numbering, one-based): `parameters[NNN - 1]` says what each
/// holds. Each becomes `$N` cast to the type of its values, so PostgreSQL
/// computes with the same kinds SQLite did.
pub fn statement(sql: &str, catalog: &Catalog, parameters: &[Parameter]) -> Result<View> {
    let dialect = SQLiteDialect {};
    let statements = Parser::parse_sql(&dialect, sql)
        .map_err(|e| Untranslatable(format!("SQLite syntax the parser does not read: {e}")))?;
    let [sqlparser::ast::Statement::Query(q)] = statements.as_slice() else {
        return unsupported("a statement that is not one SELECT");
    };
    let mut t = Translator::new(catalog, sql);
    t.parameters = Some(parameters);
    let out = t.query(q)?;
    Ok(View {
        select: out.sql,
        columns: out.columns,
        uuid_parameters: t.uuid_parameters.take(),
    })
}

fn parse_expression(sql: &str) -> Result<Expr> {
    let dialect = SQLiteDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| Untranslatable(format!("SQLite syntax the parser does not read: {e}")))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| Untranslatable(format!("SQLite syntax the parser does not read: {e}")))?;
    let next = parser.peek_token();
    if next.token != SqlToken::EOF {
        return unsupported(format!(
            "SQLite syntax the parser does not read: {} after {expr}",
            next.token
        ));
    }
    Ok(expr)
}

/// A translated expression: PostgreSQL text and what it holds.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub sql: String,
    pub kind: Kind,
    /// A bare column reference (a boolean column stays boolean in a view).
    pub column: bool,
    /// Compared case-insensitively (COLLATE NOCASE).
    pub nocase: bool,
    /// Made of an application's parameters alone (no column): the same for
    /// every row, so a costly form of it may be computed once per
    /// execution, as a scalar subquery.
    pub per_execution: bool,
}

impl Typed {
    fn new(sql: impl Into<String>, kind: Kind) -> Typed {
        Typed {
            sql: sql.into(),
            kind,
            column: false,
            nocase: false,
            per_execution: false,
        }
    }

    /// The same expression as a scalar subquery: PostgreSQL computes it
    /// once per execution (an InitPlan) instead of for every row.
    pub(crate) fn once(sql: &str, kind: Kind) -> Typed {
        Typed {
            per_execution: true,
            ..Typed::new(format!("(SELECT {sql})"), kind)
        }
    }

    /// `form(value)` computed once per execution, where `form` names its
    /// argument several times (a CASE over SQLite's formats): the value is
    /// written once, in a derived table, rather than once per mention.
    pub(crate) fn once_over(value: &str, form: impl Fn(&str) -> String, kind: Kind) -> Typed {
        Typed {
            per_execution: true,
            ..Typed::new(
                format!(
                    "(SELECT {} FROM (SELECT {value} AS godwit_value) AS godwit_parameter)",
                    form("godwit_parameter.godwit_value")
                ),
                kind,
            )
        }
    }
}

pub(crate) struct Translator<'a> {
    catalog: &'a Catalog,
    /// The SQLite text being translated (for output names).
    source: &'a str,
    scopes: Vec<query::Scope>,
    style: Option<&'a dyn Fn(&str) -> String>,
    /// lower()/upper() as PostgreSQL's (index terms).
    native_case: bool,
    /// Only immutable PostgreSQL may be written (indexes, generated columns).
    immutable: bool,
    /// A CHECK constraint: a value PostgreSQL refuses to read rejects the
    /// row just as a false check does.
    check: bool,
    /// Inside a subquery whose column names nobody reads.
    unnamed: bool,
    /// The first construct written that is not immutable.
    mutable: std::cell::RefCell<Option<String>>,
    /// An application query's parameters (`?NNN`); None in schema objects.
    parameters: Option<&'a [Parameter]>,
    /// Parameters compared with a `uuid-from-int` key (see `View`).
    uuid_parameters: std::cell::RefCell<Vec<(usize, [u8; 16])>>,
}

/// ASCII-only case folding, as SQLite's lower() and LIKE do.
fn ascii_lower(sql: &str) -> String {
    format!("translate({sql}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
}

fn ascii_upper(sql: &str) -> String {
    format!("translate({sql}, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')")
}

/// The text of a real as SQLite spells it (`%!.15g`: 1.0 → "1.0",
/// 0.1 + 0.2 → "0.3"). float8 → numeric keeps 15 significant digits,
/// as SQLite does; exponents (beyond 1e15) are spelled as PostgreSQL does.
fn real_text(sql: &str) -> String {
    let x = format!("({sql})::double precision");
    format!(
        "CASE WHEN {x} = trunc({x}) AND abs({x}) < 1e15 THEN trunc({x})::numeric::text || '.0' ELSE {x}::numeric::text END"
    )
}

impl<'a> Translator<'a> {
    fn new(catalog: &'a Catalog, source: &'a str) -> Translator<'a> {
        Translator {
            catalog,
            source,
            scopes: Vec::new(),
            style: None,
            native_case: false,
            immutable: false,
            check: false,
            unnamed: false,
            mutable: std::cell::RefCell::new(None),
            parameters: None,
            uuid_parameters: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Notes a construct that is not immutable (refused where only
    /// immutable expressions may go).
    pub(crate) fn not_immutable(&self, what: &str) {
        if self.immutable {
            self.mutable.borrow_mut().get_or_insert_with(|| what.to_string());
        }
    }

    /// The numbers SQLite held in a date column (extract is not immutable).
    fn epoch(&self, sql: &str, unit: EpochUnit) -> Typed {
        self.not_immutable("a date/time column read as a number");
        epoch_number(sql, unit)
    }

    /// A subquery inside an expression (scalar, EXISTS, IN): its output
    /// columns need no names.
    fn expression_query(&mut self, q: &sqlparser::ast::Query) -> Result<query::QueryOut> {
        let outer = std::mem::replace(&mut self.unnamed, true);
        let out = self.query(q);
        self.unnamed = outer;
        out
    }

    /// The expression where SQLite wants a value: a computed boolean is 0/1.
    pub(crate) fn value(&self, t: Typed) -> Typed {
        if t.kind == Kind::Bool && !t.column {
            Typed::new(format!("({})::integer", t.sql), Kind::Int)
        } else {
            t
        }
    }

    /// The expression as a number (booleans 0/1, epoch dates back to the
    /// numbers SQLite held).
    fn number(&self, t: Typed, what: &str) -> Result<Typed> {
        Ok(match t.kind {
            Kind::Bool => Typed::new(format!("({})::integer", t.sql), Kind::Int),
            Kind::Temporal {
                numbers: Some(unit), ..
            } => self.epoch(&t.sql, unit),
            Kind::Temporal { .. } => {
                return unsupported(format!("{what} on a date/time column SQLite held as text"));
            }
            Kind::Json | Kind::Other | Kind::UuidKey(_) | Kind::Blob => {
                return unsupported(format!("{what} on a {} value", kind_name(t.kind)));
            }
            _ => t,
        })
    }

    /// The expression as SQLite's text of it (for ||, LIKE, printf %s...).
    pub(crate) fn text(&self, t: Typed) -> Typed {
        let sql = match t.kind {
            Kind::Text | Kind::Null => return t,
            Kind::Int | Kind::Unknown | Kind::Other | Kind::UuidKey(_) | Kind::Json => format!("({})::text", t.sql),
            Kind::Bool => format!("({})::integer::text", t.sql),
            Kind::Real => real_text(&t.sql),
            Kind::Numeric => format!(
                "CASE WHEN {0} = trunc({0}) THEN trunc({0})::text ELSE trim_scale({0})::text END",
                t.sql
            ),
            Kind::Blob => {
                self.not_immutable("a blob read as text");
                format!("convert_from({}, 'UTF8')", t.sql)
            }
            Kind::Temporal {
                numbers: Some(unit), ..
            } => format!("({})::text", self.epoch(&t.sql, unit).sql),
            Kind::Temporal { pg, .. } => {
                self.not_immutable("a date/time column read as text");
                let format = match pg {
                    TemporalType::Date => "YYYY-MM-DD",
                    TemporalType::Time => "HH24:MI:SS",
                    _ => "YYYY-MM-DD HH24:MI:SS",
                };
                format!("to_char({}, '{format}')", datetime::utc_wall_clock(&t.sql, pg))
            }
        };
        Typed::new(sql, Kind::Text)
    }

    /// The expression where SQLite wants a condition: non-zero is true.
    pub(crate) fn condition(&self, t: Typed) -> Result<String> {
        Ok(match t.kind {
            Kind::Bool | Kind::Null | Kind::Unknown => t.sql,
            Kind::Int | Kind::Real | Kind::Numeric => format!("({}) <> 0", t.sql),
            Kind::Temporal {
                numbers: Some(unit), ..
            } => format!("({}) <> 0", self.epoch(&t.sql, unit).sql),
            other => return unsupported(format!("a {} value used as a condition", kind_name(other))),
        })
    }

    pub(crate) fn expr(&mut self, e: &Expr) -> Result<Typed> {
        match e {
            Expr::Identifier(ident) => self.column(None, &ident.value),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [table, column] => self.column(Some(&table.value), &column.value),
                [schema, table, column] if schema.value.eq_ignore_ascii_case("main") => {
                    self.column(Some(&table.value), &column.value)
                }
                _ => unsupported(format!("the qualified name {e}")),
            },
            Expr::Value(v) => self.literal(&v.value, v.span),
            Expr::Nested(inner) => {
                let t = self.expr(inner)?;
                Ok(Typed {
                    sql: format!("({})", t.sql),
                    ..t
                })
            }
            Expr::IsNull(inner) => {
                let t = self.expr(inner)?;
                Ok(Typed::new(format!("{} IS NULL", t.sql), Kind::Bool))
            }
            Expr::IsNotNull(inner) => {
                let t = self.expr(inner)?;
                Ok(Typed::new(format!("{} IS NOT NULL", t.sql), Kind::Bool))
            }
            Expr::IsTrue(inner) | Expr::IsNotTrue(inner) | Expr::IsFalse(inner) | Expr::IsNotFalse(inner) => {
                let t = self.expr(inner)?;
                let cond = self.condition(t)?;
                let test = match e {
                    Expr::IsTrue(_) => "IS TRUE",
                    Expr::IsNotTrue(_) => "IS NOT TRUE",
                    Expr::IsFalse(_) => "IS FALSE",
                    _ => "IS NOT FALSE",
                };
                Ok(Typed::new(format!("({cond}) {test}"), Kind::Bool))
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right),
            Expr::UnaryOp { op, expr } => {
                let t = self.expr(expr)?;
                match op {
                    UnaryOperator::Not => Ok(Typed::new(format!("NOT {}", paren(&self.condition(t)?)), Kind::Bool)),
                    UnaryOperator::Minus => {
                        let t = self.number(t, "unary minus")?;
                        Ok(Typed::new(format!("-{}", paren(&t.sql)), t.kind))
                    }
                    UnaryOperator::Plus => Ok(t),
                    UnaryOperator::BitwiseNot => {
                        let t = self.integer(t, "~")?;
                        Ok(Typed::new(format!("~{}", paren(&t)), Kind::Int))
                    }
                    other => unsupported(format!("the operator {other}")),
                }
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (x, low, high) = (self.expr(expr)?, self.expr(low)?, self.expr(high)?);
                let (x, lo) = self.comparable(x, low);
                let (x, hi) = self.comparable(x, high);
                let collate = if [&x, &lo, &hi].iter().any(|t| t.kind == Kind::Text) {
                    " COLLATE \"C\""
                } else {
                    ""
                };
                Ok(Typed::new(
                    format!(
                        "{}{collate} {}BETWEEN {} AND {}",
                        x.sql,
                        if *negated { "NOT " } else { "" },
                        lo.sql,
                        hi.sql
                    ),
                    Kind::Bool,
                ))
            }
            Expr::In {
                expr, target, negated, ..
            } => self.in_(expr, target, *negated),
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => functions::like(self, expr, pattern, escape_char.as_deref(), *negated),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref()),
            Expr::Cast {
                kind: CastKind::Cast,
                expr,
                data_type,
                format: None,
            } => self.cast(expr, &data_type.to_string()),
            Expr::Collate { expr, collation } => {
                let t = self.expr(expr)?;
                match collation.to_string().trim_matches('"').to_ascii_uppercase().as_str() {
                    "NOCASE" => Ok(Typed { nocase: true, ..t }),
                    "BINARY" => Ok(Typed { nocase: false, ..t }),
                    other => unsupported(format!("COLLATE {other}")),
                }
            }
            Expr::Function(f) => functions::call(self, f),
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => functions::substr(self, expr, substring_from.as_deref(), substring_for.as_deref()),
            Expr::Trim {
                trim_where,
                trim_what,
                expr,
                trim_characters,
            } => functions::trim(
                self,
                trim_where.as_ref(),
                trim_what.as_deref(),
                expr,
                trim_characters.as_deref(),
            ),
            Expr::Floor {
                expr,
                field: sqlparser::ast::CeilFloorKind::DateTimeField(sqlparser::ast::DateTimeField::NoDateTime),
            } => functions::floor_ceil(self, expr, "floor"),
            Expr::Ceil {
                expr,
                field: sqlparser::ast::CeilFloorKind::DateTimeField(sqlparser::ast::DateTimeField::NoDateTime),
            } => functions::floor_ceil(self, expr, "ceil"),
            Expr::Exists { subquery, negated } => {
                let q = self.expression_query(subquery)?;
                Ok(Typed::new(
                    format!("{}EXISTS ({})", if *negated { "NOT " } else { "" }, q.sql),
                    Kind::Bool,
                ))
            }
            Expr::Subquery(q) => {
                let out = self.expression_query(q)?;
                let kind = out.columns.first().map(|c| c.kind).unwrap_or(Kind::Unknown);
                Ok(Typed::new(format!("({})", out.sql), kind))
            }
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                let op = if matches!(e, Expr::IsDistinctFrom(..)) {
                    BinaryOperator::IsNot
                } else {
                    BinaryOperator::Is
                };
                self.binary(a, &op, b)
            }
            other => unsupported(format!("the construct {}", construct_name(other))),
        }
    }

    /// A name: a column of a relation in scope, else an output alias or
    /// an outer name, kept as written.
    fn column(&mut self, qualifier: Option<&str>, name: &str) -> Result<Typed> {
        if let Some(found) = query::resolve(&self.scopes, qualifier, name) {
            return Ok(found);
        }
        if qualifier.is_none() {
            if let Some(alias) = query::output_alias(&self.scopes, name) {
                return Ok(Typed::new(quote_ident(&alias), Kind::Unknown));
            }
            if ["rowid", "oid", "_rowid_"].iter().any(|r| r.eq_ignore_ascii_case(name)) {
                return unsupported(format!("the implicit {name} column"));
            }
        }
        match qualifier {
            Some(q) => unsupported(format!("the name {q}.{name}, which names no table or column in scope")),
            None => unsupported(format!("the name {name}, which names no column in scope")),
        }
    }

    fn literal(&mut self, v: &Value, span: sqlparser::tokenizer::Span) -> Result<Typed> {
        Ok(match v {
            Value::Number(n, _) => {
                if n.parse::<i64>().is_ok() {
                    Typed::new(n.clone(), Kind::Int)
                } else if n.chars().all(|c| c.is_ascii_digit()) {
                    // Beyond 64 bits SQLite reads an integer literal as a real.
                    Typed::new(format!("{n}::double precision"), Kind::Real)
                } else {
                    Typed::new(n.clone(), Kind::Real)
                }
            }
            Value::SingleQuotedString(s) => Typed::new(quote_literal(s), Kind::Text),
            Value::HexStringLiteral(hex) => {
                let written = self.span_text(span);
                if written.starts_with("0x") || written.starts_with("0X") {
                    match u64::from_str_radix(hex, 16) {
                        // SQLite reads 0xFFFFFFFFFFFFFFFF as -1: the bits of a 64-bit integer.
                        Ok(bits) => Typed::new(i64::from_ne_bytes(bits.to_ne_bytes()).to_string(), Kind::Int),
                        Err(_) => return unsupported(format!("the hex literal {written}, beyond 64 bits")),
                    }
                } else {
                    Typed::new(format!("'\\x{hex}'::bytea"), Kind::Blob)
                }
            }
            Value::Boolean(b) => Typed::new(if *b { "true" } else { "false" }, Kind::Bool),
            Value::Null => Typed::new("NULL", Kind::Null),
            Value::DoubleQuotedString(s) => Typed::new(quote_literal(s), Kind::Text),
            Value::Placeholder(p) => return self.parameter(p),
            other => return unsupported(format!("the literal {other}")),
        })
    }

    /// A `?NNN` parameter of an application query, cast to the type of
    /// the values it carries.
    fn parameter(&self, written: &str) -> Result<Typed> {
        let index = written.strip_prefix('?').and_then(|n| n.parse::<usize>().ok());
        let found = self
            .parameters
            .zip(index)
            .and_then(|(all, i)| all.get(i.checked_sub(1)?));
        let Some(p) = found else {
            return unsupported(format!("the parameter {written}"));
        };
        let Some(n) = p.number else {
            return Ok(Typed::new("NULL", Kind::Null));
        };
        let pg = match p.kind {
            Kind::Int | Kind::Bool => "bigint",
            Kind::Real => "double precision",
            Kind::Blob => "bytea",
            Kind::UuidKey(_) => "uuid",
            _ => "text",
        };
        Ok(Typed {
            per_execution: true,
            ..Typed::new(format!("${n}::{pg}"), p.kind)
        })
    }

    /// The SQLite text a node was parsed from (for output names).
    pub(crate) fn span_text(&self, span: sqlparser::tokenizer::Span) -> String {
        span_slice(self.source, span).unwrap_or_default()
    }

    fn integer(&self, t: Typed, what: &str) -> Result<String> {
        let t = self.number(t, what)?;
        Ok(match t.kind {
            Kind::Real | Kind::Numeric => format!("trunc({})::bigint", t.sql),
            _ => t.sql,
        })
    }

    /// Operands made comparable: a boolean column against 0/1 reads the
    /// literal as false/true, against other numbers as 0/1; a date column
    /// against text compares as dates (text read as UTC).
    fn comparable(&self, a: Typed, b: Typed) -> (Typed, Typed) {
        fn bool_literal(t: &Typed) -> Option<&'static str> {
            match t.sql.as_str() {
                "0" => Some("false"),
                "1" => Some("true"),
                _ => None,
            }
        }
        match (a.kind, b.kind) {
            (Kind::Bool, Kind::Int) => match bool_literal(&b) {
                Some(lit) => (a, Typed::new(lit, Kind::Bool)),
                None => (self.value_int(a), b),
            },
            (Kind::Int, Kind::Bool) => {
                let (b, a) = self.comparable(b, a);
                (a, b)
            }
            (Kind::Bool, Kind::Real | Kind::Numeric) => (self.value_int(a), b),
            (Kind::Real | Kind::Numeric, Kind::Bool) => (a, self.value_int(b)),
            (
                Kind::Temporal {
                    numbers: Some(unit), ..
                },
                k,
            ) if k.is_number() => (self.epoch(&a.sql, unit), b),
            (
                k,
                Kind::Temporal {
                    numbers: Some(unit), ..
                },
            ) if k.is_number() => (a, self.epoch(&b.sql, unit)),
            (Kind::Temporal { .. }, Kind::Text) | (Kind::Text, Kind::Temporal { .. }) if self.immutable => {
                self.not_immutable("a date/time column compared with text");
                (a, b)
            }
            // Text read as SQLite reads dates is a CASE of its formats:
            // for a parameter, computed once per execution.
            (Kind::Temporal { pg, .. }, Kind::Text) if b.per_execution => {
                let b = Typed::once_over(&b.sql, |v| datetime::text_as(v, pg), a.kind);
                (a, b)
            }
            (Kind::Text, Kind::Temporal { pg, .. }) if a.per_execution => {
                (Typed::once_over(&a.sql, |v| datetime::text_as(v, pg), b.kind), b)
            }
            (Kind::Temporal { pg, .. }, Kind::Text) => {
                let b = Typed::new(datetime::text_as(&b.sql, pg), a.kind);
                (a, b)
            }
            (Kind::Text, Kind::Temporal { pg, .. }) => (Typed::new(datetime::text_as(&a.sql, pg), b.kind), b),
            (Kind::UuidKey(ns), Kind::Int) => (a, self.uuid_key(ns, b)),
            (Kind::Int, Kind::UuidKey(ns)) => (self.uuid_key(ns, a), b),
            (Kind::Json, Kind::Text) => (Typed::new(format!("({})::text", a.sql), Kind::Text), b),
            (Kind::Text, Kind::Json) => (a, Typed::new(format!("({})::text", b.sql), Kind::Text)),
            _ => (a, b),
        }
    }

    /// An integer compared with a `uuid-from-int` key, converted as the
    /// copy converted the key: a literal here; a parameter is noted, and
    /// the caller binds it converted (see [`View::uuid_parameters`]).
    /// Anything else stays as it is, and PostgreSQL refuses to compare a
    /// uuid with a number (an error, never a silent mismatch).
    fn uuid_key(&self, namespace: [u8; 16], t: Typed) -> Typed {
        if let Ok(value) = t.sql.parse::<i64>() {
            let uuid = uuid::Uuid::from_bytes(crate::postgres::encode::uuid_in_namespace(namespace, value));
            return Typed::new(format!("'{uuid}'::uuid"), Kind::UuidKey(namespace));
        }
        let parameter = t
            .sql
            .strip_prefix('$')
            .and_then(|rest| rest.strip_suffix("::bigint"))
            .and_then(|n| n.parse::<usize>().ok());
        match parameter {
            Some(n) => {
                self.uuid_parameters.borrow_mut().push((n, namespace));
                Typed::new(format!("${n}::uuid"), Kind::UuidKey(namespace))
            }
            None => t,
        }
    }

    fn value_int(&self, t: Typed) -> Typed {
        Typed::new(format!("({})::integer", t.sql), Kind::Int)
    }

    fn binary(&mut self, left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<Typed> {
        use BinaryOperator as B;
        match op {
            B::And | B::Or => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                let word = if *op == B::And { "AND" } else { "OR" };
                Ok(Typed::new(
                    format!("{} {word} {}", self.condition(l)?, self.condition(r)?),
                    Kind::Bool,
                ))
            }
            B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::Is | B::IsNot => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                // SQLite's IS with NULL is IS NULL; otherwise null-safe equality.
                if matches!(op, B::Is | B::IsNot) && r.kind == Kind::Null {
                    let not = if *op == B::IsNot { " NOT" } else { "" };
                    return Ok(Typed::new(format!("{} IS{not} NULL", l.sql), Kind::Bool));
                }
                if !matches!(op, B::Is | B::IsNot)
                    && let Some(compared) = numeric_column_against_text(&l, &r, op)
                {
                    return Ok(compared);
                }
                let nocase = l.nocase || r.nocase;
                let (l, r) = self.comparable(l, r);
                let (l, r) = if nocase && (l.kind == Kind::Text || r.kind == Kind::Text) {
                    (
                        Typed::new(ascii_lower(&l.sql), Kind::Text),
                        Typed::new(ascii_lower(&r.sql), Kind::Text),
                    )
                } else {
                    (l, r)
                };
                let symbol = match op {
                    B::Eq => "=",
                    B::NotEq => "<>",
                    B::Lt => "<",
                    B::LtEq => "<=",
                    B::Gt => ">",
                    B::GtEq => ">=",
                    B::Is => "IS NOT DISTINCT FROM",
                    _ => "IS DISTINCT FROM",
                };
                // SQLite orders text by bytes (BINARY); PostgreSQL by the database collation.
                let ordering = matches!(op, B::Lt | B::LtEq | B::Gt | B::GtEq);
                let collate = if ordering && (l.kind == Kind::Text || r.kind == Kind::Text) {
                    " COLLATE \"C\""
                } else {
                    ""
                };
                Ok(Typed::new(format!("{}{collate} {symbol} {}", l.sql, r.sql), Kind::Bool))
            }
            B::Plus | B::Minus | B::Multiply => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                let what = format!("the operator {op}");
                let l = self.number(self.value(l), &what)?;
                let r = self.number(self.value(r), &what)?;
                let kind = arithmetic_kind(l.kind, r.kind);
                Ok(Typed::new(format!("{} {op} {}", l.sql, r.sql), kind))
            }
            B::Divide => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                let l = self.number(self.value(l), "the operator /")?;
                let r = self.number(self.value(r), "the operator /")?;
                let kind = arithmetic_kind(l.kind, r.kind);
                let plain = format!("{} / NULLIF({}, 0)", l.sql, r.sql);
                // SQLite held a NUMERIC column's integral values as integers,
                // and divides two integers as integers.
                let numeric = (l.kind == Kind::Numeric || r.kind == Kind::Numeric)
                    && l.kind != Kind::Real
                    && r.kind != Kind::Real;
                if numeric {
                    return Ok(Typed::new(
                        format!(
                            "CASE WHEN {0} = trunc({0}) AND {1} = trunc({1}) THEN trunc({0} / NULLIF({1}, 0)) ELSE {0} / NULLIF({1}, 0) END",
                            paren(&l.sql),
                            paren(&r.sql)
                        ),
                        kind,
                    ));
                }
                Ok(Typed::new(plain, kind))
            }
            B::Modulo => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                let l = self.number(self.value(l), "the operator %")?;
                let r = self.number(self.value(r), "the operator %")?;
                if l.kind == Kind::Int && r.kind == Kind::Int {
                    return Ok(Typed::new(format!("{} % NULLIF({}, 0)", l.sql, r.sql), Kind::Int));
                }
                // SQLite takes both operands as integers; the result is real
                // when either was real.
                let kind = if l.kind == Kind::Real || r.kind == Kind::Real {
                    Kind::Real
                } else {
                    arithmetic_kind(l.kind, r.kind)
                };
                Ok(Typed::new(
                    format!("(trunc(({})::numeric) % NULLIF(trunc(({})::numeric), 0))", l.sql, r.sql),
                    kind,
                ))
            }
            B::StringConcat => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                let l = self.text(self.value(l));
                let r = self.text(self.value(r));
                Ok(Typed::new(format!("{} || {}", l.sql, r.sql), Kind::Text))
            }
            B::BitwiseAnd | B::BitwiseOr | B::PGBitwiseShiftLeft | B::PGBitwiseShiftRight => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                let what = format!("the operator {op}");
                let l = self.integer(self.value(l), &what)?;
                let r = self.integer(self.value(r), &what)?;
                let sql = match op {
                    B::BitwiseAnd => format!("{l} & {r}"),
                    B::BitwiseOr => format!("{l} | {r}"),
                    // SQLite shifts by a negative count the other way; PostgreSQL wants an int4 count.
                    B::PGBitwiseShiftLeft => format!("({l})::bigint << ({r})::integer"),
                    _ => format!("({l})::bigint >> ({r})::integer"),
                };
                if matches!(op, B::PGBitwiseShiftLeft | B::PGBitwiseShiftRight) && !is_non_negative_literal(right) {
                    return unsupported(format!("the operator {op} with a count that may be negative"));
                }
                Ok(Typed::new(sql, Kind::Int))
            }
            B::Glob => functions::glob(self, left, right),
            B::Regexp => django::regexp(self, left, right),
            B::Arrow | B::LongArrow => functions::json_arrow(self, left, right, *op == B::LongArrow),
            other => unsupported(format!("the operator {other}")),
        }
    }

    fn in_(&mut self, expr: &Expr, target: &sqlparser::ast::InTarget, negated: bool) -> Result<Typed> {
        use sqlparser::ast::InTarget;
        let x = self.expr(expr)?;
        let not = if negated { "NOT " } else { "" };
        match target {
            InTarget::List(items) => {
                let mut left = x.clone();
                let mut out = Vec::new();
                for item in items {
                    let item = self.expr(item)?;
                    let (l, r) = self.comparable(x.clone(), item);
                    left = l;
                    out.push(r.sql);
                }
                Ok(Typed::new(
                    format!("{} {not}IN ({})", left.sql, out.join(", ")),
                    Kind::Bool,
                ))
            }
            InTarget::Subquery(q) => {
                let q = self.expression_query(q)?;
                let x = self.value(x);
                Ok(Typed::new(format!("{} {not}IN ({})", x.sql, q.sql), Kind::Bool))
            }
            _ => unsupported("IN over a table or a table function"),
        }
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        conditions: &[sqlparser::ast::CaseWhen],
        else_result: Option<&Expr>,
    ) -> Result<Typed> {
        let operand = operand.map(|o| self.expr(o)).transpose()?;
        let mut whens = Vec::new();
        let mut results = Vec::new();
        for w in conditions {
            let cond = self.expr(&w.condition)?;
            let cond = match &operand {
                Some(op) => {
                    let (l, r) = self.comparable(op.clone(), cond);
                    format!("{} = {}", l.sql, r.sql)
                }
                None => self.condition(cond)?,
            };
            whens.push(cond);
            results.push(self.expr(&w.result)?);
        }
        let else_typed = else_result.map(|e| self.expr(e)).transpose()?;
        let mut all: Vec<Typed> = results.into_iter().chain(else_typed.clone()).collect();
        let kind = unify(self, &mut all);
        let else_sql = else_typed.is_some().then(|| all.pop().map(|t| t.sql)).flatten();
        let mut sql = String::from("CASE");
        for (cond, result) in whens.iter().zip(&all) {
            sql.push_str(&format!(" WHEN {cond} THEN {}", result.sql));
        }
        if let Some(e) = else_sql {
            sql.push_str(&format!(" ELSE {e}"));
        }
        sql.push_str(" END");
        Ok(Typed::new(sql, kind))
    }

    /// CAST with SQLite's rules: to INTEGER truncates, text converts its
    /// numeric prefix (else 0).
    fn cast(&mut self, expr: &Expr, type_name: &str) -> Result<Typed> {
        use crate::plan::types::{Affinity, affinity};
        let t = self.expr(expr)?;
        let t = self.value(t);
        let numeric_prefix = |sql: &str| {
            format!("coalesce(substring({sql} from '^\\s*([+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?)')::numeric, 0)")
        };
        Ok(match affinity(&type_name.to_ascii_uppercase()) {
            Affinity::Integer => match t.kind {
                Kind::Int | Kind::Null => Typed::new(format!("({})::bigint", t.sql), Kind::Int),
                Kind::Real | Kind::Numeric => Typed::new(format!("trunc({})::bigint", t.sql), Kind::Int),
                Kind::Text => Typed::new(format!("trunc({})::bigint", numeric_prefix(&t.sql)), Kind::Int),
                _ => {
                    let n = self.number(t, "CAST AS INTEGER")?;
                    Typed::new(format!("trunc({})::bigint", n.sql), Kind::Int)
                }
            },
            Affinity::Real => match t.kind {
                Kind::Text => Typed::new(format!("({})::double precision", numeric_prefix(&t.sql)), Kind::Real),
                _ => {
                    let n = self.number(t, "CAST AS REAL")?;
                    Typed::new(format!("({})::double precision", n.sql), Kind::Real)
                }
            },
            Affinity::Numeric => match t.kind {
                Kind::Text => Typed::new(numeric_prefix(&t.sql), Kind::Numeric),
                _ => {
                    let n = self.number(t, "CAST AS NUMERIC")?;
                    Typed::new(format!("({})::numeric", n.sql), Kind::Numeric)
                }
            },
            Affinity::Text => self.text(t),
            Affinity::Blob => match t.kind {
                Kind::Blob | Kind::Null => t,
                _ => {
                    self.not_immutable("CAST AS BLOB");
                    Typed::new(format!("convert_to({}, 'UTF8')", self.text(t).sql), Kind::Blob)
                }
            },
        })
    }

    /// An output alias, spelled like the other names.
    pub(crate) fn alias(&self, name: &str) -> String {
        match self.style {
            Some(style) => style(name),
            None => name.to_string(),
        }
    }
}

/// The numbers SQLite held in a date column converted from epoch values.
fn epoch_number(sql: &str, unit: EpochUnit) -> Typed {
    match unit {
        EpochUnit::Seconds => Typed::new(format!("extract(epoch FROM {sql})::bigint"), Kind::Int),
        EpochUnit::Milliseconds => Typed::new(format!("(extract(epoch FROM {sql}) * 1000)::bigint"), Kind::Int),
        EpochUnit::JulianDay => Typed::new(
            format!("(extract(epoch FROM {sql}) / 86400 + 2440587.5)::double precision"),
            Kind::Real,
        ),
    }
}

fn is_non_negative_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.parse::<i64>().is_ok_and(|n| n >= 0)))
}

fn arithmetic_kind(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        (Kind::Real, _) | (_, Kind::Real) => Kind::Real,
        (Kind::Numeric, _) | (_, Kind::Numeric) => Kind::Numeric,
        (Kind::Int, Kind::Int | Kind::Null) | (Kind::Null, Kind::Int) => Kind::Int,
        _ => Kind::Unknown,
    }
}

/// One kind for branches that PostgreSQL must type alike (CASE,
/// coalesce): computed booleans become 0/1 when any branch is a number.
pub(crate) fn unify(t: &Translator<'_>, branches: &mut [Typed]) -> Kind {
    let non_null: Vec<Kind> = branches.iter().map(|b| b.kind).filter(|k| *k != Kind::Null).collect();
    let all_bool = non_null.iter().all(|k| *k == Kind::Bool);
    if !all_bool {
        for b in branches.iter_mut() {
            if b.kind == Kind::Bool {
                *b = t.value_int(b.clone());
            }
        }
    }
    let kinds: Vec<Kind> = branches.iter().map(|b| b.kind).filter(|k| *k != Kind::Null).collect();
    match kinds.first() {
        None => Kind::Null,
        Some(first) if kinds.iter().all(|k| k == first) => *first,
        Some(_) if kinds.iter().all(|k| k.is_number()) => kinds.iter().fold(Kind::Int, |a, b| arithmetic_kind(a, *b)),
        Some(_) => Kind::Unknown,
    }
}

/// Text that SQLite's NUMERIC affinity turns into a number: an integer or
/// real literal, with spaces around it (no hex, no `Inf`, no `NaN`).
const NUMERIC_TEXT: &str = "'^[[:space:]]*[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?[[:space:]]*$'";

/// A column of numeric affinity compared with text: SQLite gives the text
/// NUMERIC affinity first (<https://sqlite.org/datatype3.html>, "Type
/// Conversions Prior To Comparison"), so `price > '90'` (Django binds a
/// Decimal as text) compares numbers. Text that does not read as a number
/// stays text, and every number sorts before every text. Both cases,
/// exactly, as one CASE; None where the rule does not apply.
fn numeric_column_against_text(l: &Typed, r: &Typed, op: &BinaryOperator) -> Option<Typed> {
    use BinaryOperator as B;
    let number_left = l.column && l.kind.is_number() && r.kind == Kind::Text;
    let number_right = r.column && r.kind.is_number() && l.kind == Kind::Text;
    if !number_left && !number_right {
        return None;
    }
    let text = if number_left { r } else { l };
    let (symbol, left_below_right) = match op {
        B::Eq => ("=", false),
        B::NotEq => ("<>", true),
        B::Lt => ("<", true),
        B::LtEq => ("<=", true),
        B::Gt => (">", false),
        B::GtEq => (">=", false),
        _ => return None,
    };
    // The result when the text stays text: true exactly when the number
    // (always the smaller) is where the operator wants the smaller side.
    let constant = match op {
        B::Eq => false,
        B::NotEq => true,
        _ => left_below_right == number_left,
    };
    // The cast sits behind its own test: PostgreSQL folds a constant (a
    // literal, or a parameter in a custom plan) before the outer CASE
    // would skip it, and `'abc'::numeric` is an error.
    let as_number = |t: &Typed| {
        if t.kind == Kind::Text {
            format!("(CASE WHEN {0} ~ {NUMERIC_TEXT} THEN {0} END)::numeric", paren(&t.sql))
        } else {
            paren(&t.sql)
        }
    };
    Some(Typed::new(
        format!(
            "(CASE WHEN {l} IS NULL OR {r} IS NULL THEN NULL WHEN {t} ~ {NUMERIC_TEXT} THEN {ln} {symbol} {rn} ELSE {constant} END)",
            l = paren(&l.sql),
            r = paren(&r.sql),
            t = paren(&text.sql),
            ln = as_number(l),
            rn = as_number(r),
        ),
        Kind::Bool,
    ))
}

fn paren(sql: &str) -> String {
    let simple = sql
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '"' || c == '.');
    if simple { sql.to_string() } else { format!("({sql})") }
}

pub(crate) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Null => "NULL",
        Kind::Int => "integer",
        Kind::Real => "real",
        Kind::Numeric => "numeric",
        Kind::Text => "text",
        Kind::Blob => "blob",
        Kind::Bool => "boolean",
        Kind::Temporal { .. } => "date/time",
        Kind::Json => "JSON",
        Kind::Other => "uuid/inet/array",
        Kind::UuidKey(_) => "uuid (an integer key converted by uuid-from-int)",
        Kind::Unknown => "untyped",
    }
}

fn construct_name(e: &Expr) -> String {
    let text = e.to_string();
    let short: String = text.chars().take(60).collect();
    short
}

/// The slice of `source` a span covers (lines and columns are 1-based,
/// columns count characters).
fn span_slice(source: &str, span: sqlparser::tokenizer::Span) -> Option<String> {
    let start = crate::source::sqlite::sql::span_offset(source, span.start)?;
    let mut end = crate::source::sqlite::sql::span_offset(source, span.end)?;
    // A call's span may stop before its closing parenthesis: extend it
    // until the parentheses balance.
    let tokens_open = |s: &str| s.matches('(').count().saturating_sub(s.matches(')').count());
    if source.get(end..)?.trim_start().starts_with('(') {
        end += source.get(end..)?.find('(')? + 1;
    }
    while tokens_open(source.get(start..end)?) > 0 {
        let next = source.get(end..)?.find(')')?;
        end += next + 1;
    }
    source.get(start..end).map(str::to_string)
}

/// Why a default could not be carried over.
pub type DefaultError = String;

/// Translates a SQLite column default for the chosen target type.
/// Literals go through the same cast as the column's values, so
/// `DEFAULT 0` on a boolean becomes `false` and on a timestamp the epoch;
/// "now" takes the column's shape; anything else is an expression.
pub fn default(
    default: &str,
    pg_type: &PgType,
    cast: &Cast,
    table: &Relation,
    catalog: &Catalog,
) -> std::result::Result<String, DefaultError> {
    let tokens = tokenize(default);
    let unwrapped = strip_parens(&tokens);
    if is_now_default(unwrapped) {
        return Ok(now_default(pg_type, unwrapped));
    }
    if let Some(value) = literal_value(unwrapped) {
        let value = apply_affinity(value, cast);
        return literal::literal_for(&value, pg_type, cast)
            .map_err(|why| format!("default {default} does not fit {}: {why}", pg_type.sql()));
    }
    let typed =
        expression_typed(default, table, catalog, Context::Value).map_err(|why| format!("default {default}: {why}"))?;
    // A date function gives SQLite's text; a date/time column wants its type.
    Ok(match (typed.kind, pg_type) {
        (Kind::Text, PgType::Timestamptz) => format!("(({})::timestamp AT TIME ZONE 'UTC')", typed.sql),
        (Kind::Text, PgType::Timestamp) => format!("({})::timestamp", typed.sql),
        (Kind::Text, PgType::Date) => format!("({})::date", typed.sql),
        (Kind::Text, PgType::Time) => format!("({})::time", typed.sql),
        _ => typed.sql,
    })
}

/// SQLite converts a numeric-looking text default to a number in columns
/// of numeric affinity, so `DEFAULT '0'` on an INTEGER column is 0.
fn apply_affinity(value: Literal, cast: &Cast) -> Literal {
    let numeric = !matches!(
        cast,
        Cast::Text { .. } | Cast::TextLike | Cast::Bytea | Cast::Json { .. } | Cast::Uuid
    );
    match value {
        Literal::Text(t) if numeric => {
            let trimmed = t.trim();
            if let Ok(i) = trimmed.parse::<i64>() {
                Literal::Integer(i)
            } else if let Ok(f) = trimmed
                .parse::<f64>()
                .map_err(|_| ())
                .and_then(|f| if f.is_finite() { Ok(f) } else { Err(()) })
            {
                Literal::Real(f)
            } else {
                Literal::Text(t)
            }
        }
        other => other,
    }
}

fn strip_parens(tokens: &[Token]) -> &[Token] {
    let mut t = tokens;
    while t.len() >= 2 && t[0].is_punct("(") && matching_paren(t, 0) == Some(t.len() - 1) {
        t = &t[1..t.len() - 1];
    }
    t
}

fn is_now_default(tokens: &[Token]) -> bool {
    match tokens {
        [t] => t.is_word("CURRENT_TIMESTAMP") || t.is_word("CURRENT_DATE") || t.is_word("CURRENT_TIME"),
        [Token::Word(f), open, rest @ ..] if open.is_punct("(") => {
            let f = f.to_ascii_lowercase();
            let strs: Vec<&str> = rest
                .iter()
                .filter_map(|t| if let Token::Str(s) = t { Some(s.as_str()) } else { None })
                .collect();
            // Modifiers ('localtime', '+1 day') are dropped: the default is
            // the moment of the insert, in the column's type.
            match f.as_str() {
                "datetime" | "date" | "time" | "unixepoch" | "julianday" => strs.first() == Some(&"now"),
                "strftime" => strs.get(1) == Some(&"now"),
                _ => false,
            }
        }
        _ => false,
    }
}

/// "now" in the shape the column holds.
fn now_default(pg_type: &PgType, tokens: &[Token]) -> String {
    let date_only = tokens
        .first()
        .is_some_and(|t| t.is_word("CURRENT_DATE") || t.is_word("date"));
    let time_only = tokens
        .first()
        .is_some_and(|t| t.is_word("CURRENT_TIME") || t.is_word("time"));
    match pg_type {
        // SQLite's date('now') is today's date, which a timestamp reads as UTC midnight.
        PgType::Timestamptz if date_only => "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')".into(),
        PgType::Timestamp if date_only => "date_trunc('day', now() AT TIME ZONE 'UTC')".into(),
        PgType::Timestamptz => "CURRENT_TIMESTAMP".into(),
        PgType::Timestamp => "(now() AT TIME ZONE 'UTC')".into(),
        PgType::Date => "((now() AT TIME ZONE 'UTC')::date)".into(),
        PgType::Time => "((now() AT TIME ZONE 'UTC')::time)".into(),
        PgType::BigInt | PgType::Integer => "(extract(epoch FROM now())::bigint)".into(),
        PgType::Double | PgType::Numeric(_) => "(extract(epoch FROM now()) / 86400.0 + 2440587.5)".into(),
        _ => {
            // Text keeps SQLite's own format.
            let now = "(now() AT TIME ZONE 'UTC')";
            if date_only {
                return format!("to_char({now}, 'YYYY-MM-DD')");
            }
            if time_only {
                return format!("to_char({now}, 'HH24:MI:SS')");
            }
            if let [Token::Word(f), ..] = tokens
                && f.eq_ignore_ascii_case("strftime")
            {
                let format = tokens
                    .iter()
                    .find_map(|t| if let Token::Str(s) = t { Some(s) } else { None });
                return match format.map(|f| datetime::strftime_sql(f, now)) {
                    Some(Ok(sql)) => sql,
                    _ => "CURRENT_TIMESTAMP::text".into(),
                };
            }
            format!("to_char({now}, 'YYYY-MM-DD HH24:MI:SS')")
        }
    }
}

/// A default literal as a SQLite value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

fn literal_value(tokens: &[Token]) -> Option<Literal> {
    let (negative, tokens) = match tokens {
        [sign, rest @ ..] if sign.is_punct("-") => (true, rest),
        [sign, rest @ ..] if sign.is_punct("+") => (false, rest),
        _ => (false, tokens),
    };
    match tokens {
        [Token::Number(n)] => {
            let text = if negative { format!("-{n}") } else { n.clone() };
            if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                return i64::from_str_radix(hex, 16).ok().map(Literal::Integer);
            }
            text.parse::<i64>()
                .map(Literal::Integer)
                .ok()
                .or_else(|| text.parse::<f64>().ok().map(Literal::Real))
        }
        [Token::Str(s)] if !negative => Some(Literal::Text(s.clone())),
        // SQLite reads a double-quoted default it cannot resolve as a string.
        [Token::QuotedIdent(s)] if !negative => Some(Literal::Text(s.clone())),
        [Token::Blob(hex)] if !negative => {
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
            bytes.map(Literal::Blob)
        }
        [t] if t.is_word("NULL") => Some(Literal::Null),
        [t] if t.is_word("TRUE") => Some(Literal::Integer(1)),
        [t] if t.is_word("FALSE") => Some(Literal::Integer(0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
