//! The PostgreSQL column types godwit writes, and the cast that carries a
//! source value into each: what plan chooses and encode.rs carries out.

use serde::Serialize;

/// A PostgreSQL column type godwit can write in binary COPY format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum PgType {
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    /// `numeric(precision, scale)` or unconstrained `numeric`.
    Numeric(Option<(u32, u32)>),
    Text,
    Varchar(Option<u32>),
    Bytea,
    Boolean,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Json,
    Jsonb,
    Uuid,
    Array(Box<PgType>),
    /// A type whose binary form is its text: enums, citext (data-only mode).
    TextLike(String),
    Inet,
    Cidr,
}

impl From<PgType> for String {
    fn from(t: PgType) -> String {
        t.sql()
    }
}

impl PgType {
    pub fn sql(&self) -> String {
        match self {
            PgType::SmallInt => "smallint".into(),
            PgType::Integer => "integer".into(),
            PgType::BigInt => "bigint".into(),
            PgType::Real => "real".into(),
            PgType::Double => "double precision".into(),
            PgType::Numeric(Some((p, s))) => format!("numeric({p},{s})"),
            PgType::Numeric(None) => "numeric".into(),
            PgType::Text => "text".into(),
            PgType::Varchar(Some(n)) => format!("varchar({n})"),
            PgType::Varchar(None) => "varchar".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Boolean => "boolean".into(),
            PgType::Date => "date".into(),
            PgType::Time => "time".into(),
            PgType::Timestamp => "timestamp".into(),
            PgType::Timestamptz => "timestamptz".into(),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Uuid => "uuid".into(),
            PgType::Array(inner) => format!("{}[]", inner.sql()),
            PgType::TextLike(name) => name.clone(),
            PgType::Inet => "inet".into(),
            PgType::Cidr => "cidr".into(),
        }
    }

    /// Parses a type as a user writes it in godwit.toml or as PostgreSQL's
    /// `format_type` prints it.
    pub fn parse(text: &str) -> Option<PgType> {
        let t = text.trim().to_ascii_lowercase();
        if let Some(inner) = t.strip_suffix("[]") {
            return Some(PgType::Array(Box::new(PgType::parse(inner)?)));
        }
        let (base, args) = match t.split_once('(') {
            Some((b, rest)) => (b.trim().to_string(), rest.trim_end_matches(')').to_string()),
            None => (t.clone(), String::new()),
        };
        let nums: Vec<u32> = args.split(',').filter_map(|a| a.trim().parse().ok()).collect();
        Some(match base.as_str() {
            "smallint" | "int2" => PgType::SmallInt,
            "integer" | "int" | "int4" => PgType::Integer,
            "bigint" | "int8" => PgType::BigInt,
            "real" | "float4" => PgType::Real,
            "double precision" | "float8" | "double" => PgType::Double,
            "numeric" | "decimal" => PgType::Numeric(match nums.as_slice() {
                [p] => Some((*p, 0)),
                [p, s] => Some((*p, *s)),
                _ => None,
            }),
            "text" => PgType::Text,
            "varchar" | "character varying" => PgType::Varchar(nums.first().copied()),
            "bytea" => PgType::Bytea,
            "boolean" | "bool" => PgType::Boolean,
            "date" => PgType::Date,
            "time" | "time without time zone" => PgType::Time,
            "timestamp" | "timestamp without time zone" => PgType::Timestamp,
            "timestamptz" | "timestamp with time zone" => PgType::Timestamptz,
            "json" => PgType::Json,
            "jsonb" => PgType::Jsonb,
            "uuid" => PgType::Uuid,
            "citext" => PgType::TextLike("citext".into()),
            "inet" => PgType::Inet,
            "cidr" => PgType::Cidr,
            _ => return None,
        })
    }
}

/// How integer or real values in a date/time column are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EpochUnit {
    Seconds,
    Milliseconds,
    /// SQLite's julianday() reals.
    JulianDay,
}

/// The conversion applied to each source value. Text in a date column is
/// always read as ISO-8601; the unit applies to numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Cast {
    Integer {
        bits: u8,
    },
    Float {
        bits: u8,
    },
    Numeric {
        precision: Option<u32>,
        scale: Option<u32>,
        round: bool,
    },
    Text {
        max_chars: Option<u32>,
    },
    Bytea,
    Boolean,
    Date {
        unit: EpochUnit,
    },
    Time,
    Timestamp {
        unit: EpochUnit,
        with_zone: bool,
    },
    Json {
        binary: bool,
    },
    Uuid,
    /// A deterministic name-based UUID from the table name and an integer.
    UuidFromInt {
        namespace: String,
    },
    /// `a,b,c` split on a separator into a text array.
    SplitArray {
        separator: String,
        element: PgType,
    },
    /// A JSON array text into a PostgreSQL array.
    JsonArray {
        element: PgType,
    },
    /// Text sent as is, for types whose binary input is their text.
    TextLike,
    /// Text that must be one of an enum's labels.
    Enum {
        labels: Vec<String>,
    },
    /// An IP address or network, `addr[/bits]`.
    Inet {
        cidr: bool,
    },
}

impl Cast {
    /// The cast as one short phrase, for `plan`.
    pub fn describe(&self) -> String {
        match self {
            Cast::Integer { bits } => format!("integer, range-checked to {bits} bits"),
            Cast::Float { bits } => format!("float{}, exact", bits / 8),
            Cast::Numeric {
                scale: Some(s),
                round: true,
                ..
            } => format!("exact decimal, rounded to scale {s}"),
            Cast::Numeric { scale: Some(s), .. } => format!("exact decimal, scale {s}"),
            Cast::Numeric { .. } => "exact decimal".into(),
            Cast::Text { max_chars: Some(n) } => format!("UTF-8 text, at most {n} characters"),
            Cast::Text { max_chars: None } => "UTF-8 text".into(),
            Cast::Bytea => "bytes".into(),
            Cast::Boolean => "0/1, true/false, t/f".into(),
            Cast::Date { unit } => format!("ISO-8601 text or epoch {unit:?}"),
            Cast::Time => "ISO-8601 time".into(),
            Cast::Timestamp { unit, .. } => {
                format!("ISO-8601 text (UTC unless an offset is given) or {}", unit_name(*unit))
            }
            Cast::Json { .. } => "JSON text, validated".into(),
            Cast::Uuid => "UUID from 32-hex, 36-character text or 16-byte blob".into(),
            Cast::UuidFromInt { namespace } => {
                format!("name-based UUID (v5) from {namespace} and the integer")
            }
            Cast::SplitArray { separator, .. } => format!("split on {separator:?} into an array"),
            Cast::JsonArray { .. } => "JSON array into a PostgreSQL array".into(),
            Cast::TextLike => "text".into(),
            Cast::Enum { labels } => format!("one of {}", labels.join(", ")),
            Cast::Inet { .. } => "IP address text".into(),
        }
    }
}

fn unit_name(unit: EpochUnit) -> &'static str {
    match unit {
        EpochUnit::Seconds => "epoch seconds",
        EpochUnit::Milliseconds => "epoch milliseconds",
        EpochUnit::JulianDay => "julian-day reals",
    }
}
