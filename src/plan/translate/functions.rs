//! SQLite's functions and pattern operators in PostgreSQL terms, each with
//! SQLite's NULL handling and types (see docs/translation.md).

use sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments,
    TrimWhereField, Value, WindowType,
};

use super::{
    Kind, Result, Translator, Typed, ascii_lower, ascii_upper, datetime, kind_name, paren, unify, unsupported,
};
use crate::postgres::conn::quote_literal;

/// A function call's parts.
struct Call<'e> {
    name: String,
    args: Vec<&'e Expr>,
    star: bool,
    distinct: bool,
    order_by: Vec<&'e sqlparser::ast::OrderByExpr>,
    filter: Option<&'e Expr>,
    over: Option<&'e WindowType>,
}

fn parts(f: &Function) -> Result<Call<'_>> {
    let name = match f.name.0.as_slice() {
        [sqlparser::ast::ObjectNamePart::Identifier(i)] => i.value.to_ascii_lowercase(),
        _ => return unsupported(format!("the function {}", f.name)),
    };
    if f.uses_odbc_syntax || !f.within_group.is_empty() || f.null_treatment.is_some() {
        return unsupported(format!("the form of {name}()"));
    }
    if !matches!(f.parameters, FunctionArguments::None) {
        return unsupported(format!("the form of {name}()"));
    }
    let mut call = Call {
        name,
        args: Vec::new(),
        star: false,
        distinct: false,
        order_by: Vec::new(),
        filter: f.filter.as_deref(),
        over: f.over.as_ref(),
    };
    match &f.args {
        FunctionArguments::None => {}
        FunctionArguments::Subquery(_) => return unsupported(format!("{}(SELECT ...)", call.name)),
        FunctionArguments::List(list) => {
            call.distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
            for arg in &list.args {
                match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => call.args.push(e),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => call.star = true,
                    _ => return unsupported(format!("the arguments of {}()", call.name)),
                }
            }
            for clause in &list.clauses {
                match clause {
                    FunctionArgumentClause::OrderBy(items) => call.order_by.extend(items.iter()),
                    _ => return unsupported(format!("a clause in {}()", call.name)),
                }
            }
        }
    }
    Ok(call)
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "total",
    "avg",
    "min",
    "max",
    "group_concat",
    "string_agg",
];
const WINDOW_ONLY: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
];

pub(crate) fn call(t: &mut Translator<'_>, f: &Function) -> Result<Typed> {
    let c = parts(f)?;
    let n = c.args.len();
    let aggregate = AGGREGATES.contains(&c.name.as_str()) && !(matches!(c.name.as_str(), "min" | "max") && n > 1);
    if !aggregate && (c.distinct || c.filter.is_some() || !c.order_by.is_empty()) {
        return unsupported(format!("DISTINCT, FILTER or ORDER BY in {}()", c.name));
    }
    if c.over.is_some() && !aggregate && !WINDOW_ONLY.contains(&c.name.as_str()) {
        return unsupported(format!("{}() OVER", c.name));
    }
    if c.over.is_none() && WINDOW_ONLY.contains(&c.name.as_str()) {
        return unsupported(format!("{}() without OVER", c.name));
    }
    // The window goes right after the call (inside any cast of its result).
    let over = match c.over {
        None => String::new(),
        Some(WindowType::NamedWindow(w)) => return unsupported(format!("the named window {w}")),
        Some(WindowType::WindowSpec(spec)) => {
            if spec.window_name.is_some() {
                return unsupported("a window based on a named window");
            }
            let mut parts = Vec::new();
            if !spec.partition_by.is_empty() {
                let exprs = values(t, &spec.partition_by.iter().collect::<Vec<_>>())?;
                parts.push(format!("PARTITION BY {}", joined(&exprs)));
            }
            if !spec.order_by.is_empty() {
                let terms = spec
                    .order_by
                    .iter()
                    .map(|o| t.order_term(o))
                    .collect::<Result<Vec<_>>>()?;
                parts.push(format!("ORDER BY {}", terms.join(", ")));
            }
            if let Some(frame) = &spec.window_frame {
                // Frame syntax (ROWS/RANGE/GROUPS BETWEEN ...) is the same in both;
                // its bounds are literals (n PRECEDING), never names.
                parts.push(match &frame.end_bound {
                    Some(end) => format!("{} BETWEEN {} AND {end}", frame.units, frame.start_bound),
                    None => format!("{} {}", frame.units, frame.start_bound),
                });
            }
            format!(" OVER ({})", parts.join(" "))
        }
    };
    if aggregate {
        self::aggregate(t, &c, &over)
    } else if WINDOW_ONLY.contains(&c.name.as_str()) {
        let args = values(t, &c.args)?;
        let kind = match c.name.as_str() {
            "row_number" | "rank" | "dense_rank" | "ntile" => Kind::Int,
            "percent_rank" | "cume_dist" => Kind::Real,
            _ => args.first().map(|a| a.kind).unwrap_or(Kind::Unknown),
        };
        Ok(Typed::new(format!("{}({}){over}", c.name, joined(&args)), kind))
    } else if let Some(dt) = datetime::call(t, &c.name, &c.args)? {
        Ok(dt)
    } else if let Some(d) = super::django::call(t, &c.name, &c.args)? {
        Ok(d)
    } else {
        scalar(t, &c)
    }
}

fn values(t: &mut Translator<'_>, args: &[&Expr]) -> Result<Vec<Typed>> {
    args.iter()
        .map(|a| {
            let x = t.expr(a)?;
            Ok(t.value(x))
        })
        .collect()
}

fn joined(args: &[Typed]) -> String {
    args.iter().map(|a| a.sql.as_str()).collect::<Vec<_>>().join(", ")
}

fn arity(name: &str, args: &[&Expr], allowed: &[usize]) -> Result<()> {
    if allowed.contains(&args.len()) {
        Ok(())
    } else {
        unsupported(format!("{name}() with {} arguments", args.len()))
    }
}

fn aggregate(t: &mut Translator<'_>, c: &Call<'_>, over: &str) -> Result<Typed> {
    let distinct = if c.distinct { "DISTINCT " } else { "" };
    let filter = match c.filter {
        Some(f) => {
            let x = t.expr(f)?;
            format!(" FILTER (WHERE {}){over}", t.condition(x)?)
        }
        None => over.to_string(),
    };
    let order_by = if c.order_by.is_empty() {
        String::new()
    } else {
        let terms = c.order_by.iter().map(|o| t.order_term(o)).collect::<Result<Vec<_>>>()?;
        format!(" ORDER BY {}", terms.join(", "))
    };
    if !order_by.is_empty() && !matches!(c.name.as_str(), "group_concat" | "string_agg") {
        return unsupported(format!("ORDER BY in {}()", c.name));
    }
    if c.name == "count" && c.star {
        return Ok(Typed::new(format!("count(*){filter}"), Kind::Int));
    }
    let args = values(t, &c.args)?;
    let one = |what: &str| -> Result<&Typed> {
        match args.as_slice() {
            [a] => Ok(a),
            _ => unsupported(format!("{what}() with {} arguments", args.len())),
        }
    };
    Ok(match c.name.as_str() {
        "count" => Typed::new(format!("count({distinct}{}){filter}", one("count")?.sql), Kind::Int),
        "sum" | "total" | "avg" => {
            let a = one(&c.name)?.clone();
            let a = match a.kind {
                Kind::Bool => Typed::new(format!("({})::integer", a.sql), Kind::Int),
                Kind::Int | Kind::Real | Kind::Numeric | Kind::Null | Kind::Unknown => a,
                other => return unsupported(format!("{}() of a {} value", c.name, kind_name(other))),
            };
            match c.name.as_str() {
                // SQLite's sum of integers is an integer; PostgreSQL's is numeric.
                "sum" if a.kind == Kind::Int => {
                    Typed::new(format!("(sum({distinct}{}){filter})::bigint", a.sql), Kind::Int)
                }
                "sum" => Typed::new(format!("sum({distinct}{}){filter}", a.sql), a.kind),
                // total() is always a real, 0.0 over no rows.
                "total" => Typed::new(
                    format!("coalesce(sum({distinct}({})::double precision){filter}, 0.0)", a.sql),
                    Kind::Real,
                ),
                _ => Typed::new(
                    format!("avg({distinct}({})::double precision){filter}", a.sql),
                    Kind::Real,
                ),
            }
        }
        "min" | "max" => {
            let a = one(&c.name)?;
            let collate = if a.kind == Kind::Text { " COLLATE \"C\"" } else { "" };
            Typed::new(format!("{}({distinct}{}{collate}){filter}", c.name, a.sql), a.kind)
        }
        _ => {
            // group_concat(x [, sep]) / string_agg(x, sep)
            let (x, sep) = match args.as_slice() {
                [x] if c.name == "group_concat" => (x.clone(), "','".to_string()),
                [x, sep] => (x.clone(), t.text(sep.clone()).sql),
                _ => return unsupported(format!("{}() with {} arguments", c.name, args.len())),
            };
            let x = t.text(x);
            Typed::new(
                format!("string_agg({distinct}{}, {sep}{order_by}){filter}", x.sql),
                Kind::Text,
            )
        }
    })
}

fn scalar(t: &mut Translator<'_>, c: &Call<'_>) -> Result<Typed> {
    let name = c.name.as_str();
    let args = &c.args;
    match name {
        "coalesce" | "ifnull" => {
            arity(
                name,
                args,
                if name == "ifnull" {
                    &[2]
                } else {
                    &[2, 3, 4, 5, 6, 7, 8, 9, 10]
                },
            )?;
            let mut v = values(t, args)?;
            let kind = unify(t, &mut v);
            Ok(Typed::new(format!("coalesce({})", joined(&v)), kind))
        }
        "nullif" => {
            arity(name, args, &[2])?;
            let a = t.expr(args[0])?;
            let b = t.expr(args[1])?;
            let (a, b) = t.comparable(t.value(a), b);
            let kind = a.kind;
            Ok(Typed::new(format!("nullif({}, {})", a.sql, b.sql), kind))
        }
        "iif" => {
            arity(name, args, &[2, 3])?;
            let cond = t.expr(args[0])?;
            let cond = t.condition(cond)?;
            let mut v = values(t, &args[1..])?;
            let kind = unify(t, &mut v);
            let otherwise = v.get(1).map(|e| format!(" ELSE {}", e.sql)).unwrap_or_default();
            Ok(Typed::new(
                format!("CASE WHEN {cond} THEN {}{otherwise} END", v[0].sql),
                kind,
            ))
        }
        "typeof" => {
            arity(name, args, &[1])?;
            let x = t.expr(args[0])?;
            let x = t.value(x);
            // The PostgreSQL column type says which storage class SQLite held
            // (values that did not fit were rejected by the copy).
            let class = match x.kind {
                Kind::Int | Kind::Bool | Kind::UuidKey(_) | Kind::Temporal { numbers: Some(_), .. } => "'integer'",
                Kind::Real => "'real'",
                Kind::Text | Kind::Json | Kind::Temporal { .. } => "'text'",
                Kind::Blob => "'blob'",
                Kind::Null => return Ok(Typed::new("'null'", Kind::Text)),
                Kind::Numeric => {
                    return Ok(Typed::new(
                        format!(
                            "CASE WHEN {0} IS NULL THEN 'null' WHEN {0} = trunc({0}) THEN 'integer' ELSE 'real' END",
                            x.sql
                        ),
                        Kind::Text,
                    ));
                }
                Kind::Other | Kind::Unknown => return unsupported("typeof() of a value whose SQLite type is unknown"),
            };
            Ok(Typed::new(
                format!("CASE WHEN {} IS NULL THEN 'null' ELSE {class} END", x.sql),
                Kind::Text,
            ))
        }
        "likely" | "unlikely" => {
            arity(name, args, &[1])?;
            t.expr(args[0])
        }
        "likelihood" => {
            arity(name, args, &[2])?;
            t.expr(args[0])
        }
        "abs" => {
            arity(name, args, &[1])?;
            let a = t.expr(args[0])?;
            let a = t.number(t.value(a), "abs()")?;
            Ok(Typed::new(format!("abs({})", a.sql), a.kind))
        }
        "sign" => {
            arity(name, args, &[1])?;
            let a = t.expr(args[0])?;
            let a = t.number(t.value(a), "sign()")?;
            Ok(Typed::new(format!("sign({})::integer", a.sql), Kind::Int))
        }
        "lower" | "upper" => {
            arity(name, args, &[1])?;
            let a = t.expr(args[0])?;
            let a = t.text(t.value(a));
            // SQLite folds ASCII letters only.
            let sql = match (t.native_case, name) {
                (true, _) => format!("{name}({})", a.sql),
                (false, "lower") => ascii_lower(&a.sql),
                (false, _) => ascii_upper(&a.sql),
            };
            Ok(Typed::new(sql, Kind::Text))
        }
        "length" => {
            arity(name, args, &[1])?;
            let a = t.expr(args[0])?;
            let a = t.value(a);
            Ok(match a.kind {
                Kind::Blob => Typed::new(format!("octet_length({})", a.sql), Kind::Int),
                _ => Typed::new(format!("length({})", t.text(a).sql), Kind::Int),
            })
        }
        "octet_length" => {
            arity(name, args, &[1])?;
            let a = t.expr(args[0])?;
            let a = t.value(a);
            Ok(match a.kind {
                Kind::Blob => Typed::new(format!("octet_length({})", a.sql), Kind::Int),
                _ => Typed::new(format!("octet_length({})", t.text(a).sql), Kind::Int),
            })
        }
        "substr" | "substring" => {
            arity(name, args, &[2, 3])?;
            substr(t, args[0], Some(args[1]), args.get(2).copied())
        }
        "instr" => {
            arity(name, args, &[2])?;
            let a = t.expr(args[0])?;
            let b = t.expr(args[1])?;
            let (a, b) = (t.value(a), t.value(b));
            if a.kind == Kind::Blob && b.kind == Kind::Blob {
                return Ok(Typed::new(format!("position({} in {})", b.sql, a.sql), Kind::Int));
            }
            Ok(Typed::new(
                format!("strpos({}, {})", t.text(a).sql, t.text(b).sql),
                Kind::Int,
            ))
        }
        "replace" => {
            arity(name, args, &[3])?;
            let v = values(t, args)?;
            let v: Vec<Typed> = v.into_iter().map(|a| t.text(a)).collect();
            Ok(Typed::new(format!("replace({})", joined(&v)), Kind::Text))
        }
        "ltrim" | "rtrim" | "trim" => {
            arity(name, args, &[1, 2])?;
            let v = values(t, args)?;
            let v: Vec<Typed> = v.into_iter().map(|a| t.text(a)).collect();
            let pg = if name == "trim" { "btrim" } else { name };
            // SQLite trims spaces only by default, as PostgreSQL does.
            Ok(Typed::new(format!("{pg}({})", joined(&v)), Kind::Text))
        }
        "concat" | "concat_ws" => {
            let v = values(t, args)?;
            let v: Vec<Typed> = v.into_iter().map(|a| t.text(a)).collect();
            Ok(Typed::new(format!("{name}({})", joined(&v)), Kind::Text))
        }
        "char" => {
            let v = values(t, args)?;
            if v.is_empty() {
                return Ok(Typed::new("''", Kind::Text));
            }
            let parts: Vec<String> = v.iter().map(|a| format!("chr(({})::integer)", a.sql)).collect();
            Ok(Typed::new(parts.join(" || "), Kind::Text))
        }
        "unicode" => {
            arity(name, args, &[1])?;
            let a = t.expr(args[0])?;
            let a = t.text(t.value(a));
            Ok(Typed::new(format!("nullif(ascii({}), 0)", a.sql), Kind::Int))
        }
        "hex" => {
            arity(name, args, &[1])?;
            let a = t.expr(args[0])?;
            let a = t.value(a);
            let bytes = match a.kind {
                Kind::Blob => a.sql,
                _ => {
                    t.not_immutable("hex() of text");
                    format!("convert_to({}, 'UTF8')", t.text(a).sql)
                }
            };
            // SQLite's hex(NULL) is ''.
            Ok(Typed::new(
                format!("coalesce(upper(encode({bytes}, 'hex')), '')"),
                Kind::Text,
            ))
        }
        "round" => {
            arity(name, args, &[1, 2])?;
            let x = t.expr(args[0])?;
            let x = t.number(t.value(x), "round()")?;
            let digits = match args.get(1) {
                Some(d) => {
                    let d = t.expr(d)?;
                    let d = t.number(t.value(d), "round()")?;
                    format!(", greatest(trunc(({})::numeric)::integer, 0)", d.sql)
                }
                None => String::new(),
            };
            // numeric rounds half away from zero, as SQLite does (double's round() is half-even);
            // SQLite's round() always returns a real.
            Ok(Typed::new(
                format!("round(({})::numeric{digits})::double precision", x.sql),
                Kind::Real,
            ))
        }
        "min" | "max" => {
            // Scalar min/max: NULL when any argument is NULL (LEAST/GREATEST skip NULLs).
            let v = values(t, args)?;
            let mut v = v;
            let kind = unify(t, &mut v);
            let any_null = v
                .iter()
                .map(|a| format!("{} IS NULL", a.sql))
                .collect::<Vec<_>>()
                .join(" OR ");
            let pg = if name == "min" { "least" } else { "greatest" };
            let collate = if kind == Kind::Text { " COLLATE \"C\"" } else { "" };
            let list = v
                .iter()
                .map(|a| format!("{}{collate}", a.sql))
                .collect::<Vec<_>>()
                .join(", ");
            Ok(Typed::new(
                format!("CASE WHEN {any_null} THEN NULL ELSE {pg}({list}) END"),
                kind,
            ))
        }
        "sqrt" | "exp" | "ln" | "log" | "log10" | "log2" | "pow" | "power" | "floor" | "ceil" | "ceiling" | "trunc"
        | "degrees" | "radians" | "sin" | "cos" | "tan" | "pi" | "mod" => math(t, name, args),
        "printf" | "format" => printf(t, args),
        "json" | "json_extract" | "json_object" | "json_array" | "json_array_length" | "json_valid" | "json_type" => {
            json(t, name, args)
        }
        _ => unsupported(format!("the function {name}()")),
    }
}

fn math(t: &mut Translator<'_>, name: &str, args: &[&Expr]) -> Result<Typed> {
    let v = values(t, args)?;
    let v = v
        .into_iter()
        .map(|a| t.number(a, &format!("{name}()")))
        .collect::<Result<Vec<_>>>()?;
    let x = |i: usize| format!("({})::double precision", v[i].sql);
    let guard = |cond: String, sql: String| format!("CASE WHEN {cond} THEN {sql} END");
    let sql = match (name, v.len()) {
        ("pi", 0) => "pi()".to_string(),
        // SQLite returns NULL outside a function's domain; PostgreSQL raises an error.
        ("sqrt", 1) => guard(format!("{} >= 0", x(0)), format!("sqrt({})", x(0))),
        ("ln", 1) => guard(format!("{} > 0", x(0)), format!("ln({})", x(0))),
        ("log" | "log10", 1) => guard(format!("{} > 0", x(0)), format!("log({})", x(0))),
        ("log2", 1) => guard(format!("{} > 0", x(0)), format!("ln({}) / ln(2)", x(0))),
        ("log", 2) => guard(
            format!("{} > 0 AND {} > 0 AND {} <> 1", x(0), x(1), x(0)),
            format!("ln({}) / ln({})", x(1), x(0)),
        ),
        ("exp" | "sin" | "cos" | "tan" | "degrees" | "radians", 1) => format!("{name}({})", x(0)),
        ("pow" | "power", 2) => format!("power({}, {})", x(0), x(1)),
        ("floor" | "ceil" | "ceiling" | "trunc", 1) => {
            // SQLite keeps integers integers here.
            if v[0].kind == Kind::Int {
                return Ok(v[0].clone());
            }
            format!("{name}({})", x(0))
        }
        ("mod", 2) => format!("CASE WHEN {1} <> 0 THEN ({0} - trunc({0} / {1}) * {1}) END", x(0), x(1)),
        _ => return unsupported(format!("{name}() with {} arguments", v.len())),
    };
    Ok(Typed::new(sql, Kind::Real))
}

/// FLOOR(x) / CEIL(x), which the parser reads as their own constructs.
pub(crate) fn floor_ceil(t: &mut Translator<'_>, x: &Expr, name: &str) -> Result<Typed> {
    math(t, name, &[x])
}

/// substr(x, start[, length]) with SQLite's rules: a negative start counts
/// from the end, a negative length takes the characters before start.
pub(crate) fn substr(t: &mut Translator<'_>, x: &Expr, start: Option<&Expr>, length: Option<&Expr>) -> Result<Typed> {
    let x = t.expr(x)?;
    let x = t.value(x);
    let x = if x.kind == Kind::Blob { x } else { t.text(x) };
    let kind = x.kind;
    let Some(start) = start else {
        return unsupported("substr() without a start");
    };
    let start_t = t.expr(start)?;
    let s = t.number(t.value(start_t), "substr()")?;
    let s = format!("({})::integer", s.sql);
    let len_fn = if kind == Kind::Blob { "octet_length" } else { "length" };
    let from_end = format!("CASE WHEN {s} < 0 THEN {len_fn}({}) + {s} + 1 ELSE {s} END", x.sql);
    let sql = match length {
        None => format!("substr({}, greatest({from_end}, 1))", x.sql),
        Some(l) => {
            let l = t.expr(l)?;
            let l = t.number(t.value(l), "substr()")?;
            let l = format!("({})::integer", l.sql);
            format!(
                "CASE WHEN {l} < 0 THEN substr({0}, {from_end} + {l}, -{l}) ELSE substr({0}, {from_end}, {l}) END",
                x.sql
            )
        }
    };
    Ok(Typed::new(sql, kind))
}

pub(crate) fn trim(
    t: &mut Translator<'_>,
    where_: Option<&TrimWhereField>,
    what: Option<&Expr>,
    x: &Expr,
    characters: Option<&[Expr]>,
) -> Result<Typed> {
    if where_.is_some() || what.is_some() {
        return unsupported("TRIM(... FROM ...)");
    }
    let x = t.expr(x)?;
    let x = t.text(t.value(x));
    match characters {
        None => Ok(Typed::new(format!("btrim({})", x.sql), Kind::Text)),
        Some([chars]) => {
            let c = t.expr(chars)?;
            let c = t.text(t.value(c));
            Ok(Typed::new(format!("btrim({}, {})", x.sql, c.sql), Kind::Text))
        }
        Some(_) => unsupported("trim() with more than two arguments"),
    }
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// LIKE: SQLite folds ASCII letters only and has no default escape.
/// An all-ASCII literal pattern becomes ILIKE (readable and exact for
/// ASCII); any other pattern compares ASCII-folded text with LIKE.
pub(crate) fn like(
    t: &mut Translator<'_>,
    x: &Expr,
    pattern: &Expr,
    escape: Option<&Expr>,
    negated: bool,
) -> Result<Typed> {
    let subject = t.expr(x)?;
    let subject = t.text(t.value(subject));
    let escape_sql = match escape {
        Some(e) => {
            let e = t.expr(e)?;
            t.text(t.value(e)).sql
        }
        None => "''".to_string(),
    };
    let not = if negated { "NOT " } else { "" };
    if let Some(p) = string_literal(pattern)
        && p.is_ascii()
    {
        return Ok(Typed::new(
            format!("{} {not}ILIKE {} ESCAPE {escape_sql}", subject.sql, quote_literal(p)),
            Kind::Bool,
        ));
    }
    let p = t.expr(pattern)?;
    let p = t.text(t.value(p));
    Ok(Typed::new(
        format!(
            "{} {not}LIKE {} ESCAPE {escape_sql}",
            ascii_lower(&subject.sql),
            ascii_lower(&p.sql)
        ),
        Kind::Bool,
    ))
}

/// GLOB with a literal pattern → an anchored, case-sensitive regular
/// expression (`*` → `.*`, `?` → `.`, `[...]` classes kept, `[^...]`
/// negated, everything else escaped).
pub(crate) fn glob(t: &mut Translator<'_>, x: &Expr, pattern: &Expr) -> Result<Typed> {
    let subject = t.expr(x)?;
    let subject = t.text(t.value(subject));
    let Some(p) = string_literal(pattern) else {
        return unsupported("GLOB with a pattern that is not a literal");
    };
    let Some(regex) = glob_regex(p) else {
        return unsupported(format!("the GLOB pattern {}", quote_literal(p)));
    };
    Ok(Typed::new(
        format!("{} ~ {}", subject.sql, quote_literal(&regex)),
        Kind::Bool,
    ))
}

pub(crate) fn glob_regex(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from("^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'^') {
                    class.push('^');
                    j += 1;
                }
                // A ']' first in the class is a literal.
                if chars.get(j) == Some(&']') {
                    class.push_str("\\]");
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    let ch = chars[j];
                    if ch == '\\' || ch == '[' || ch == '^' {
                        class.push('\\');
                    }
                    class.push(ch);
                    j += 1;
                }
                if j >= chars.len() {
                    // An unclosed class matches nothing in SQLite.
                    return None;
                }
                class.push(']');
                out.push_str(&class);
                i = j;
            }
            _ => {
                if "\\.+()|{}^$".contains(c) || c == ']' {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        i += 1;
    }
    out.push('$');
    Some(out)
}

/// A SQLite JSON path ('$', '$.a.b', '$.a[0]', '$."k"') as a PostgreSQL
/// text[] path for `#>`; None for what it cannot say ('$[#-1]').
pub(crate) fn json_path(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('$')?;
    let chars: Vec<char> = rest.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let mut key = String::new();
                if chars.get(i) == Some(&'"') {
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        key.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        key.push(chars[i]);
                        i += 1;
                    }
                }
                out.push(key);
            }
            '[' => {
                i += 1;
                let mut index = String::new();
                while i < chars.len() && chars[i] != ']' {
                    index.push(chars[i]);
                    i += 1;
                }
                i += 1;
                if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                out.push(index);
            }
            _ => return None,
        }
    }
    Some(out)
}

fn pg_path(path: &[String]) -> String {
    let items: Vec<String> = path
        .iter()
        .map(|p| format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    quote_literal(&format!("{{{}}}", items.join(",")))
}

fn as_jsonb(t: &Translator<'_>, x: Typed) -> String {
    match x.kind {
        Kind::Json => x.sql,
        _ => format!("({})::jsonb", t.text(x).sql),
    }
}

/// The SQL value SQLite's json_extract / ->> gives for a jsonb value:
/// strings unquoted, numbers and objects as text, true/false as 1/0.
fn json_sql_value(v: &str) -> String {
    format!(
        "CASE jsonb_typeof({v}) WHEN 'boolean' THEN (({v})::boolean)::integer::text WHEN 'null' THEN NULL ELSE {v} #>> '{{}}' END"
    )
}

pub(crate) fn json_arrow(t: &mut Translator<'_>, left: &Expr, right: &Expr, long: bool) -> Result<Typed> {
    let j = t.expr(left)?;
    let j = as_jsonb(t, t.value(j));
    let path = match right {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) if s.starts_with('$') => json_path(s),
            Value::SingleQuotedString(s) => Some(vec![s.clone()]),
            Value::Number(n, _) if n.parse::<u32>().is_ok() => Some(vec![n.clone()]),
            _ => None,
        },
        _ => None,
    };
    let Some(path) = path else {
        return unsupported(format!("the JSON path {right}"));
    };
    let v = format!("({j} #> {})", pg_path(&path));
    if long {
        Ok(Typed::new(json_sql_value(&v), Kind::Text))
    } else {
        Ok(Typed::new(v, Kind::Json))
    }
}

fn json(t: &mut Translator<'_>, name: &str, args: &[&Expr]) -> Result<Typed> {
    match name {
        "json" => {
            arity(name, args, &[1])?;
            let x = t.expr(args[0])?;
            Ok(Typed::new(as_jsonb(t, t.value(x)), Kind::Json))
        }
        "json_extract" => {
            if args.len() != 2 {
                return unsupported(format!("json_extract() with {} arguments", args.len()));
            }
            let j = t.expr(args[0])?;
            let j = as_jsonb(t, t.value(j));
            let Some(path) = string_literal(args[1]).and_then(json_path) else {
                return unsupported(format!("the JSON path {}", args[1]));
            };
            let v = format!("({j} #> {})", pg_path(&path));
            Ok(Typed::new(json_sql_value(&v), Kind::Text))
        }
        "json_array_length" => {
            arity(name, args, &[1, 2])?;
            let j = t.expr(args[0])?;
            let mut v = as_jsonb(t, t.value(j));
            if let Some(p) = args.get(1) {
                let Some(path) = string_literal(p).and_then(json_path) else {
                    return unsupported(format!("the JSON path {p}"));
                };
                v = format!("({v} #> {})", pg_path(&path));
            }
            Ok(Typed::new(
                format!(
                    "CASE WHEN {v} IS NULL THEN NULL WHEN jsonb_typeof({v}) = 'array' THEN jsonb_array_length({v}) ELSE 0 END"
                ),
                Kind::Int,
            ))
        }
        "json_object" | "json_array" => {
            if name == "json_object" && !args.len().is_multiple_of(2) {
                return unsupported("json_object() with an odd number of arguments");
            }
            let mut items = Vec::new();
            for (i, a) in args.iter().enumerate() {
                let x = t.expr(a)?;
                let x = t.value(x);
                let key = name == "json_object" && i % 2 == 0;
                items.push(match x.kind {
                    _ if key => t.text(x).sql,
                    // Booleans were 0/1 in SQLite: numbers in its JSON.
                    Kind::Bool => format!("({})::integer", x.sql),
                    Kind::Int | Kind::Real | Kind::Numeric | Kind::Text | Kind::Json | Kind::Null => x.sql,
                    Kind::Unknown => x.sql,
                    other => return unsupported(format!("{name}() of a {} value", kind_name(other))),
                });
            }
            let pg = if name == "json_object" {
                "jsonb_build_object"
            } else {
                "jsonb_build_array"
            };
            Ok(Typed::new(format!("{pg}({})", items.join(", ")), Kind::Json))
        }
        "json_valid" => {
            arity(name, args, &[1])?;
            let x = t.expr(args[0])?;
            let x = t.text(t.value(x));
            // In a CHECK (Django's JSONField has one on SQLite), reading the
            // text as json rejects what json_valid() rejects, on every
            // PostgreSQL version: an error or a false check both refuse
            // the row. Elsewhere it needs a true boolean: PostgreSQL 16's
            // pg_input_is_valid; on 15 the server refuses the object, and
            // it is reported as not migrated.
            if t.check {
                return Ok(Typed::new(
                    format!(
                        "(CASE WHEN {0} IS NULL THEN NULL ELSE ({0})::json IS NOT NULL END)",
                        paren(&x.sql)
                    ),
                    Kind::Bool,
                ));
            }
            t.not_immutable("json_valid()");
            Ok(Typed::new(format!("pg_input_is_valid({}, 'json')", x.sql), Kind::Bool))
        }
        _ => unsupported(format!("the function {name}()")),
    }
}

/// printf/format with a literal format: each conversion becomes SQL text
/// with SQLite's rules (NULL prints as '' for %s and 0 for numbers).
fn printf(t: &mut Translator<'_>, args: &[&Expr]) -> Result<Typed> {
    let Some(format) = args.first().and_then(|a| string_literal(a)) else {
        return unsupported("printf() with a format that is not a literal");
    };
    let values = self::values(t, &args[1..])?;
    let mut next = values.into_iter();
    let mut parts: Vec<String> = Vec::new();
    let mut literal = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            literal.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        if chars.get(i) == Some(&'%') {
            literal.push('%');
            i += 1;
            continue;
        }
        let mut flags = String::new();
        while let Some(&c) = chars.get(i).filter(|c| "-+ 0#,!".contains(**c)) {
            flags.push(c);
            i += 1;
        }
        let mut width = String::new();
        while let Some(&c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
            width.push(c);
            i += 1;
        }
        let mut precision: Option<usize> = None;
        if chars.get(i) == Some(&'.') {
            i += 1;
            let mut p = String::new();
            while let Some(&c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
                p.push(c);
                i += 1;
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(&conversion) = chars.get(i) else {
            return unsupported("printf() format ending in %");
        };
        i += 1;
        if flags.chars().any(|f| f != '-' && f != '0') {
            return unsupported(format!("the printf flag in %{flags}{conversion}"));
        }
        let Some(arg) = next.next() else {
            return unsupported("printf() with fewer arguments than conversions");
        };
        let text = match conversion {
            'd' | 'i' => {
                let n = t.number(arg, "printf %d")?;
                let n = match n.kind {
                    Kind::Real | Kind::Numeric => format!("trunc({})::bigint", n.sql),
                    Kind::Int | Kind::Null => n.sql,
                    _ => return unsupported("printf %d of a value that may be text"),
                };
                format!("(coalesce({n}, 0))::text")
            }
            'f' => {
                let n = t.number(arg, "printf %f")?;
                if !matches!(n.kind, Kind::Int | Kind::Real | Kind::Numeric | Kind::Null) {
                    return unsupported("printf %f of a value that may be text");
                }
                format!(
                    "round((coalesce({}, 0))::numeric, {})::text",
                    n.sql,
                    precision.unwrap_or(6)
                )
            }
            'x' | 'X' => {
                let n = t.number(arg, "printf %x")?;
                if !matches!(n.kind, Kind::Int | Kind::Null) {
                    return unsupported("printf %x of a value that may not be an integer");
                }
                let hex = format!("to_hex((coalesce({}, 0))::bigint)", n.sql);
                if conversion == 'X' {
                    format!("upper({hex})")
                } else {
                    hex
                }
            }
            's' => {
                let s = t.text(arg).sql;
                let s = format!("coalesce({s}, '')");
                // SQLite's precision counts bytes: a cut inside a character
                // fails loudly here, as it has no valid text to give.
                match precision {
                    Some(p) => {
                        t.not_immutable("printf %.Ns");
                        format!("convert_from(substring(convert_to({s}, 'UTF8') FROM 1 FOR {p}), 'UTF8')")
                    }
                    None => s,
                }
            }
            other => return unsupported(format!("the printf conversion %{other}")),
        };
        if precision.is_some() && !matches!(conversion, 'f' | 's') {
            return unsupported(format!("a precision on printf %{conversion}"));
        }
        // SQLite's width counts bytes, too.
        let pad =
            |fill: &str, text: &str, w: usize| format!("repeat('{fill}', greatest({w} - octet_length({text}), 0))");
        let text = match width.parse::<usize>() {
            Ok(w) if flags.contains('-') => format!("{text} || {}", pad(" ", &text, w)),
            Ok(w) if flags.contains('0') && conversion != 's' => format!(
                "CASE WHEN left({text}, 1) = '-' THEN '-' || {} || substr({text}, 2) ELSE {} || {text} END",
                pad("0", &text, w),
                pad("0", &text, w)
            ),
            Ok(w) => format!("{} || {text}", pad(" ", &text, w)),
            Err(_) => text,
        };
        if !literal.is_empty() {
            parts.push(quote_literal(&std::mem::take(&mut literal)));
        }
        parts.push(text);
    }
    if !literal.is_empty() {
        parts.push(quote_literal(&literal));
    }
    if next.next().is_some() {
        return unsupported("printf() with more arguments than conversions");
    }
    if parts.is_empty() {
        return Ok(Typed::new("''", Kind::Text));
    }
    Ok(Typed::new(parts.join(" || "), Kind::Text))
}
