//! Parameter values: captured with a statement, or drawn per execution
//! from a column of the source (`-- params: :user_id = users.id`,
//! uniformly or `zipf(S)`), with a seeded generator so runs repeat.

use rusqlite::Connection;
use serde::Serialize;

use super::queries::Statement;
use crate::postgres::conn::quote_ident;

/// One value, as SQLite binds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    #[serde(serialize_with = "hex")]
    Blob(Vec<u8>),
}

fn hex<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!(
        "x'{}'",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Null => f.write_str("NULL"),
            Param::Int(i) => write!(f, "{i}"),
            Param::Real(r) => write!(f, "{r:?}"),
            Param::Text(t) => write!(f, "'{}'", t.replace('\'', "''")),
            Param::Blob(b) => write!(f, "x'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        }
    }
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Param::Null => ValueRef::Null,
            Param::Int(i) => ValueRef::Integer(*i),
            Param::Real(r) => ValueRef::Real(*r),
            Param::Text(t) => ValueRef::Text(t.as_bytes()),
            Param::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Param {
    fn of_sqlite(v: rusqlite::types::ValueRef<'_>) -> Param {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Param::Null,
            ValueRef::Integer(i) => Param::Int(i),
            ValueRef::Real(r) => Param::Real(r),
            ValueRef::Text(t) => Param::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Param::Blob(b.to_vec()),
        }
    }
}

/// How a drawn parameter picks among the column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Uniform,
    /// The k-th most frequent value with weight 1/k^s.
    Zipf(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    pub table: String,
    pub column: String,
    pub distribution: Distribution,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// As written: `:user_id`, `?1`, `@id`...
    pub name: String,
    pub draw: Draw,
}

/// `:a = users.id, :b = orders.status zipf(1.1)`.
pub fn parse_specs(text: &str) -> Result<Vec<ParamSpec>, String> {
    let mut specs = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, rest) = part
            .split_once('=')
            .ok_or_else(|| format!("-- params: expects NAME = TABLE.COLUMN, got {part:?}"))?;
        let mut words = rest.split_whitespace();
        let column_ref = words
            .next()
            .ok_or_else(|| format!("-- params: {part:?} names no column"))?;
        let (table, column) = column_ref
            .split_once('.')
            .ok_or_else(|| format!("-- params: {column_ref:?} is not TABLE.COLUMN"))?;
        let distribution = match words.next() {
            None | Some("uniform") => Distribution::Uniform,
            Some(z) if z.starts_with("zipf(") && z.ends_with(')') => {
                let s: f64 = z[5..z.len() - 1]
                    .parse()
                    .map_err(|_| format!("-- params: {z} needs a number, e.g. zipf(1.1)"))?;
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("-- params: {z} needs an exponent above 0"));
                }
                Distribution::Zipf(s)
            }
            Some(other) => {
                return Err(format!(
                    "-- params: unknown distribution {other:?} (uniform or zipf(S))"
                ));
            }
        };
        specs.push(ParamSpec {
            name: name.trim().to_string(),
            draw: Draw {
                table: table.trim_matches(['"', '`', '[', ']']).to_string(),
                column: column.trim_matches(['"', '`', '[', ']']).to_string(),
                distribution,
            },
        });
    }
    Ok(specs)
}

/// A captured parameter list (an array by position, or an object by name).
pub fn from_json(value: &serde_json::Value, statement: &Statement) -> Result<Vec<Param>, String> {
    let convert = |v: &serde_json::Value| -> Result<Param, String> {
        Ok(match v {
            serde_json::Value::Null => Param::Null,
            serde_json::Value::Bool(b) => Param::Int(i64::from(*b)),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Param::Int(i),
                None => Param::Real(n.as_f64().ok_or_else(|| format!("the number {n} does not fit"))?),
            },
            serde_json::Value::String(s) => Param::Text(s.clone()),
            // Loggers write lists and objects as JSON text, as the app bound them.
            other => Param::Text(other.to_string()),
        })
    };
    let count = statement.parameter_count();
    let values = match value {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Array(items) => items.iter().map(convert).collect::<Result<Vec<_>, _>>()?,
        serde_json::Value::Object(map) => {
            let mut out = vec![Param::Null; count];
            for (k, v) in map {
                let i = statement
                    .index_of(k)
                    .ok_or_else(|| format!("the parameter {k} is not in the statement"))?;
                out[i - 1] = convert(v)?;
            }
            out
        }
        other => return Err(format!("params must be an array or an object, not {other}")),
    };
    if values.len() != count {
        return Err(format!(
            "the statement has {count} parameters but {} values were captured",
            values.len()
        ));
    }
    Ok(values)
}

/// A small seeded generator (splitmix64): repeatable draws without a crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)] // 53 bits, exactly representable
        let x = (self.next_u64() >> 11) as f64;
        x / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }
}

/// Most distinct values kept per drawn column.
const POOL_LIMIT: usize = 100_000;

/// A column's values, most frequent first, with the cumulative weights of
/// its distribution.
#[derive(Debug, Clone)]
pub struct Pool {
    values: Vec<Param>,
    cumulative: Option<Vec<f64>>,
}

impl Pool {
    /// Reads the column's distinct values from the source.
    pub fn load(conn: &Connection, draw: &Draw) -> Result<Pool, String> {
        // SQLite reads an unknown "name" as a string: check the column exists.
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE)",
                [&draw.table, &draw.column],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if !exists {
            return Err(format!(
                "-- params: {}.{} is not a column of the source",
                draw.table, draw.column
            ));
        }
        let sql = format!(
            "SELECT {c} FROM {t} WHERE {c} IS NOT NULL GROUP BY {c} ORDER BY count(*) DESC, {c} LIMIT {POOL_LIMIT}",
            c = quote_ident(&draw.column),
            t = quote_ident(&draw.table)
        );
        let mut stmt = conn
            .prepare(&sql)
            .map_err(|e| format!("-- params: cannot read {}.{}: {e}", draw.table, draw.column))?;
        let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
        let mut values = Vec::new();
        while let Some(row) = rows.next().map_err(|e| e.to_string())? {
            values.push(Param::of_sqlite(row.get_ref(0).map_err(|e| e.to_string())?));
        }
        if values.is_empty() {
            return Err(format!(
                "-- params: {}.{} holds no values to draw",
                draw.table, draw.column
            ));
        }
        let cumulative = match draw.distribution {
            Distribution::Uniform => None,
            Distribution::Zipf(s) => {
                let mut total = 0.0;
                let mut c = Vec::with_capacity(values.len());
                for k in 1..=values.len() {
                    #[allow(clippy::cast_precision_loss)] // k ≤ 100 000
                    let w = 1.0 / (k as f64).powf(s);
                    total += w;
                    c.push(total);
                }
                Some(c.into_iter().map(|x| x / total).collect())
            }
        };
        Ok(Pool { values, cumulative })
    }

    /// The most frequent value (what translation types the parameter by).
    pub fn sample(&self) -> &Param {
        &self.values[0]
    }

    pub fn draw(&self, rng: &mut Rng) -> Param {
        let i = match &self.cumulative {
            None => rng.below(self.values.len()),
            Some(c) => {
                let u = rng.unit();
                c.partition_point(|x| *x < u).min(self.values.len() - 1)
            }
        };
        self.values[i].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        let specs = parse_specs(" :user_id = users.id, ?2 = orders.status zipf(1.2)").unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name, ":user_id");
        assert_eq!(specs[0].draw.table, "users");
        assert_eq!(specs[1].draw.distribution, Distribution::Zipf(1.2));
        assert!(parse_specs(":a = users").is_err());
        assert!(parse_specs(":a = users.id pareto").is_err());
    }

    #[test]
    fn seeded_draws_repeat() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(
            (0..5).map(|_| a.next_u64()).collect::<Vec<_>>(),
            (0..5).map(|_| b.next_u64()).collect::<Vec<_>>()
        );
    }
}
