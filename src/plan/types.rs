//! Target types and the cast that carries each SQLite value into one.
//!
//! The rules follow SQLite's affinity plus the declared name, and are
//! lossless: a type is narrowed only when declared so and every value fits.

use serde::Serialize;

use crate::source::{Column, ColumnProfile, InferredKind};

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

/// The chosen type and cast for one column, and why.
#[derive(Debug, Clone)]
pub struct Choice {
    pub pg_type: PgType,
    pub cast: Cast,
    pub reason: String,
}

/// The declared type, upper-cased, split into base name and size arguments.
pub struct Declared {
    pub name: String,
    pub args: Vec<u32>,
}

pub fn parse_declared(declared: &str) -> Declared {
    let upper = declared.trim().to_ascii_uppercase();
    let (name, args) = match upper.split_once('(') {
        Some((n, rest)) => (n.trim().to_string(), rest.split(')').next().unwrap_or("").to_string()),
        None => (upper.clone(), String::new()),
    };
    Declared {
        name,
        args: args.split(',').filter_map(|a| a.trim().parse().ok()).collect(),
    }
}

/// How much choosing a type for a declared type depends on the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileNeed {
    /// The declared type alone decides.
    None,
    /// The declared type decides unless the values are unusual (numbers in
    /// a DATETIME, values too long or too large for the declared size). A
    /// copy assumes they are not, watches every value, and profiles and
    /// reloads the table only when one is.
    Speculate,
    /// Only the values can decide (untyped and BLOB columns).
    Always,
}

pub fn profile_need(declared: &str) -> ProfileNeed {
    let d = parse_declared(declared);
    let n = d.name.as_str();
    if n.is_empty() || n.contains("BLOB") {
        ProfileNeed::Always
    } else if is_boolean(n) || n == "JSON" || n == "JSONB" || n == "UUID" {
        ProfileNeed::None
    } else if is_temporal(n)
        || declared_decimal(declared).is_some()
        || (n.contains("INT") && !matches!(n, "INTEGER" | "BIGINT" | "INT8" | "UNSIGNED BIG INT"))
        || ((n.contains("CHAR") || n.contains("CLOB")) && !d.args.is_empty())
        || affinity(n) == Affinity::Real
    {
        ProfileNeed::Speculate
    } else {
        ProfileNeed::None
    }
}

/// The declared (precision, scale) of NUMERIC(p,s) / DECIMAL(p,s).
fn declared_decimal(declared: &str) -> Option<(u32, u32)> {
    let d = parse_declared(declared);
    if d.name.is_empty() || is_temporal(&d.name) || is_boolean(&d.name) || affinity(&d.name) != Affinity::Numeric {
        return None;
    }
    match d.args.as_slice() {
        [p, s] => Some((*p, *s)),
        [p] => Some((*p, 0)),
        _ => None,
    }
}

/// Whether a declared type is a date/time one whose numbers are epochs.
fn epoch_typed(declared: &str) -> bool {
    let name = parse_declared(declared).name;
    is_temporal(&name) && name != "TIME"
}

/// How many samples of each magnitude the profile keeps.
const SAMPLES: usize = 3;

/// What a second scan must measure in a column the aggregate profile
/// cannot describe well enough, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailNeed {
    /// NUMERIC(p,s): the digits each value needs, read as the numeric cast reads it.
    DecimalDigits,
    /// A date/time column holding numbers: how many of each magnitude.
    EpochMagnitudes,
}

/// Which detail a profiled column needs ([`ColumnProfile::decimal_digits`],
/// [`ColumnProfile::epoch_magnitudes`]).
pub fn detail_need(column: &Column) -> Option<DetailNeed> {
    let profile = column.profile.as_ref()?;
    if declared_decimal(&column.declared_type).is_some() {
        Some(DetailNeed::DecimalDigits)
    } else if epoch_typed(&column.declared_type) && profile.integers + profile.reals > 0 {
        Some(DetailNeed::EpochMagnitudes)
    } else {
        None
    }
}

/// Adds one value to the detail a column needs.
pub fn add_detail(need: DetailNeed, value: crate::source::ValueRef<'_>, profile: &mut ColumnProfile) {
    use crate::source::ValueRef;
    match need {
        DetailNeed::DecimalDigits => {
            if let Some((int, frac)) = crate::postgres::encode::decimal_digits(value) {
                let (i, f) = profile.decimal_digits.unwrap_or((0, 0));
                profile.decimal_digits = Some((i.max(int), f.max(frac)));
            }
        }
        DetailNeed::EpochMagnitudes => {
            #[allow(clippy::cast_precision_loss)] // only the magnitude matters
            let number = match value {
                ValueRef::Integer(i) => i as f64,
                ValueRef::Real(f) => f,
                _ => return,
            };
            if number == 0.0 {
                return;
            }
            let m = profile.epoch_magnitudes.get_or_insert_with(Default::default);
            let (count, samples) = if number.abs() < SMALL_NUMBER {
                (&mut m.small, &mut m.small_samples)
            } else if number.abs() < EPOCH_MS_THRESHOLD {
                (&mut m.seconds, &mut m.seconds_samples)
            } else {
                (&mut m.milliseconds, &mut m.milliseconds_samples)
            };
            *count += 1;
            if samples.len() < SAMPLES {
                samples.push(number);
            }
        }
    }
}

/// Numbers below this are not epoch timestamps (before 1973-03-03 in seconds).
const SMALL_NUMBER: f64 = 1e8;

/// Numbers of a date/time column read in the unit of the bulk though they
/// are far from it: the plan lists them.
pub fn epoch_outliers(column: &Column, choice: &Choice) -> Option<String> {
    let m = column.profile.as_ref()?.epoch_magnitudes.as_ref()?;
    let unit = match &choice.cast {
        Cast::Timestamp { unit, .. } | Cast::Date { unit } => *unit,
        _ => return None,
    };
    let (count, samples, name) = match unit {
        EpochUnit::Milliseconds => (
            m.small + m.seconds,
            m.small_samples.iter().chain(&m.seconds_samples).collect::<Vec<_>>(),
            "epoch milliseconds",
        ),
        EpochUnit::Seconds => (
            m.small + m.milliseconds,
            m.small_samples
                .iter()
                .chain(&m.milliseconds_samples)
                .collect::<Vec<_>>(),
            "epoch seconds",
        ),
        EpochUnit::JulianDay => return None,
    };
    (count > 0).then(|| {
        let shown: Vec<String> = samples.iter().take(SAMPLES).map(|v| v.to_string()).collect();
        format!(
            "{count} number(s) far from the bulk of the column (e.g. {}) are read as {name} like the rest; check them",
            shown.join(", ")
        )
    })
}

/// What a column's declared bound became when its values did not fit
/// (SQLite never enforces NUMERIC(p,s) or VARCHAR(n)): the plan's warning.
pub fn widening(column: &Column, choice: &Choice) -> Option<String> {
    let declared = parse_declared(&column.declared_type);
    let bounded = declared_decimal(&column.declared_type).is_some()
        || (affinity(&declared.name) == Affinity::Text && !declared.args.is_empty());
    let widened = match &choice.pg_type {
        PgType::Numeric(Some((p, s))) => declared_decimal(&column.declared_type) != Some((*p, *s)),
        PgType::Numeric(None) | PgType::Text => true,
        _ => false,
    };
    (bounded && widened && column.profile.is_some()).then(|| {
        format!(
            "declared {} but holds values that do not fit; SQLite never enforces that bound, so it is widened to {} rather than rejecting rows",
            column.declared_type,
            choice.pg_type.sql()
        )
    })
}

/// Whether a speculative column's value breaks the assumption its type
/// was chosen on. Values that would be rejected are checked by the cast.
#[inline]
pub fn breaks_speculation(cast: &Cast, value: crate::source::ValueRef<'_>) -> bool {
    use crate::source::ValueRef;
    matches!(cast, Cast::Timestamp { .. } | Cast::Date { .. })
        && matches!(value, ValueRef::Integer(_) | ValueRef::Real(_))
}

/// A date or time declared type (upper-cased name, as [`parse_declared`] gives).
pub fn is_temporal(n: &str) -> bool {
    n == "DATE" || n.starts_with("DATETIME") || n.starts_with("TIMESTAMP") || n == "TIME"
}

fn is_boolean(n: &str) -> bool {
    n == "BOOL" || n == "BOOLEAN"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

/// SQLite's affinity rules, section 3.1 of its datatype documentation.
pub fn affinity(upper_name: &str) -> Affinity {
    if upper_name.contains("INT") {
        Affinity::Integer
    } else if upper_name.contains("CHAR") || upper_name.contains("CLOB") || upper_name.contains("TEXT") {
        Affinity::Text
    } else if upper_name.contains("BLOB") || upper_name.is_empty() {
        Affinity::Blob
    } else if upper_name.contains("REAL") || upper_name.contains("FLOA") || upper_name.contains("DOUB") {
        Affinity::Real
    } else {
        Affinity::Numeric
    }
}

const EPOCH_MS_THRESHOLD: f64 = 1e11;

/// The largest integer a double holds exactly.
pub const MAX_EXACT_DOUBLE: i64 = 1 << 53;

/// Chooses the PostgreSQL type and cast for a source column.
pub fn choose(column: &Column, is_rowid_alias: bool) -> Choice {
    let declared = parse_declared(&column.declared_type);
    let name = declared.name.as_str();
    let empty = ColumnProfile::default();
    let profile = column.profile.as_ref().unwrap_or(&empty);
    let choice = |pg_type, cast, reason: &str| Choice {
        pg_type,
        cast,
        reason: reason.to_string(),
    };

    if let Some(inferred) = &column.inferred {
        return from_inferred(&inferred.kind, &inferred.evidence);
    }
    if is_rowid_alias {
        return choice(
            PgType::BigInt,
            Cast::Integer { bits: 64 },
            "INTEGER PRIMARY KEY is SQLite's 64-bit rowid",
        );
    }
    if is_boolean(name) {
        return choice(PgType::Boolean, Cast::Boolean, "declared BOOLEAN");
    }
    if name == "JSON" || name == "JSONB" {
        return choice(PgType::Jsonb, Cast::Json { binary: true }, "declared JSON");
    }
    if name == "UUID" {
        return choice(PgType::Uuid, Cast::Uuid, "declared UUID");
    }
    if is_temporal(name) {
        return temporal(name, profile);
    }
    match affinity(name) {
        Affinity::Integer => {
            let fits = |lo: i64, hi: i64| {
                profile.integer_min.is_none_or(|m| m >= lo) && profile.integer_max.is_none_or(|m| m <= hi)
            };
            let small = matches!(
                name,
                "SMALLINT" | "INT2" | "TINYINT" | "SMALLINT UNSIGNED" | "TINYINT UNSIGNED"
            );
            let int4 = matches!(
                name,
                "INT" | "INT4" | "MEDIUMINT" | "INT UNSIGNED" | "MEDIUMINT UNSIGNED"
            );
            if small && fits(i16::MIN.into(), i16::MAX.into()) {
                choice(
                    PgType::SmallInt,
                    Cast::Integer { bits: 16 },
                    "declared small and every value fits",
                )
            } else if (small || int4) && fits(i32::MIN.into(), i32::MAX.into()) {
                choice(
                    PgType::Integer,
                    Cast::Integer { bits: 32 },
                    "declared 32-bit and every value fits",
                )
            } else if small || int4 {
                choice(
                    PgType::BigInt,
                    Cast::Integer { bits: 64 },
                    "declared narrower, but values need 64 bits",
                )
            } else {
                choice(PgType::BigInt, Cast::Integer { bits: 64 }, "SQLite integers are 64-bit")
            }
        }
        Affinity::Text => {
            let length = declared.args.first().copied();
            match length {
                Some(n) if profile.text_max_chars.is_none_or(|m| m <= u64::from(n)) => choice(
                    PgType::Varchar(Some(n)),
                    Cast::Text { max_chars: Some(n) },
                    if name.starts_with("CHAR") || name.starts_with("CHARACTER") || name.starts_with("NCHAR") {
                        "declared CHAR(n): varchar(n) keeps trailing spaces exactly, where char(n) would pad"
                    } else {
                        "declared with a length and every value fits"
                    },
                ),
                Some(_) => choice(
                    PgType::Text,
                    Cast::Text { max_chars: None },
                    "values are longer than the declared length",
                ),
                None => choice(PgType::Text, Cast::Text { max_chars: None }, "text affinity"),
            }
        }
        Affinity::Real => {
            if profile.integers > 0
                && (profile.integer_min.is_some_and(|m| m < -MAX_EXACT_DOUBLE)
                    || profile.integer_max.is_some_and(|m| m > MAX_EXACT_DOUBLE))
            {
                choice(
                    PgType::Numeric(None),
                    Cast::Numeric {
                        precision: None,
                        scale: None,
                        round: false,
                    },
                    "holds integers beyond 2^53, which a double would round",
                )
            } else {
                choice(
                    PgType::Double,
                    Cast::Float { bits: 64 },
                    "SQLite REAL is an 8-byte double",
                )
            }
        }
        Affinity::Numeric => match declared.args.as_slice() {
            [p, s]
                if profile
                    .decimal_digits
                    .is_some_and(|(int, frac)| int > *p - (*s).min(*p) || frac > *s) =>
            {
                let (int, frac) = profile.decimal_digits.unwrap_or_default();
                let scale = frac.max(*s);
                let precision = int.max(*p - (*s).min(*p)) + scale;
                // PostgreSQL's numeric(p,s) stops at 1000 digits.
                let pg_type = if precision <= 1000 {
                    PgType::Numeric(Some((precision, scale)))
                } else {
                    PgType::Numeric(None)
                };
                let cast = Cast::Numeric {
                    precision: (precision <= 1000).then_some(precision),
                    scale: (precision <= 1000).then_some(scale),
                    round: false,
                };
                choice(
                    pg_type,
                    cast,
                    &format!(
                        "declared NUMERIC({p},{s}); values need {int} digits before and {frac} after the point: widened"
                    ),
                )
            }
            [p, s] => choice(
                PgType::Numeric(Some((*p, *s))),
                Cast::Numeric {
                    precision: Some(*p),
                    scale: Some(*s),
                    round: false,
                },
                "declared NUMERIC(p,s)",
            ),
            [p] if profile.decimal_digits.is_some_and(|(int, frac)| int > *p || frac > 0) => {
                let (int, frac) = profile.decimal_digits.unwrap_or_default();
                let precision = int.max(*p) + frac;
                choice(
                    PgType::Numeric((precision <= 1000).then_some((precision, frac))),
                    Cast::Numeric {
                        precision: (precision <= 1000).then_some(precision),
                        scale: (precision <= 1000).then_some(frac),
                        round: false,
                    },
                    &format!(
                        "declared NUMERIC({p}); values need {int} digits before and {frac} after the point: widened"
                    ),
                )
            }
            [p] => choice(
                PgType::Numeric(Some((*p, 0))),
                Cast::Numeric {
                    precision: Some(*p),
                    scale: Some(0),
                    round: false,
                },
                "declared NUMERIC(p)",
            ),
            _ => choice(
                PgType::Numeric(None),
                Cast::Numeric {
                    precision: None,
                    scale: None,
                    round: false,
                },
                "numeric affinity: exact decimal",
            ),
        },
        Affinity::Blob => untyped(name, profile),
    }
}

/// A type a source learned from every value (documents): exact by
/// construction, so the cast only carries each value over.
fn from_inferred(kind: &InferredKind, evidence: &str) -> Choice {
    let (pg_type, cast) = inferred_type(kind);
    Choice {
        pg_type,
        cast,
        reason: evidence.to_string(),
    }
}

fn inferred_type(kind: &InferredKind) -> (PgType, Cast) {
    match kind {
        InferredKind::Integer => (PgType::BigInt, Cast::Integer { bits: 64 }),
        InferredKind::Decimal => (
            PgType::Numeric(None),
            Cast::Numeric {
                precision: None,
                scale: None,
                round: false,
            },
        ),
        InferredKind::Boolean => (PgType::Boolean, Cast::Boolean),
        InferredKind::Text | InferredKind::AlwaysNull => (PgType::Text, Cast::Text { max_chars: None }),
        InferredKind::Timestamptz => (
            PgType::Timestamptz,
            Cast::Timestamp {
                unit: EpochUnit::Seconds,
                with_zone: true,
            },
        ),
        InferredKind::Timestamp => (
            PgType::Timestamp,
            Cast::Timestamp {
                unit: EpochUnit::Seconds,
                with_zone: false,
            },
        ),
        InferredKind::Date => (
            PgType::Date,
            Cast::Date {
                unit: EpochUnit::Seconds,
            },
        ),
        InferredKind::Uuid => (PgType::Uuid, Cast::Uuid),
        InferredKind::Json => (PgType::Jsonb, Cast::Json { binary: true }),
        InferredKind::Array(element) => {
            let (element, _) = inferred_type(element);
            (PgType::Array(Box::new(element.clone())), Cast::JsonArray { element })
        }
    }
}

/// BLOB-declared and untyped columns: by what they hold.
fn untyped(name: &str, p: &ColumnProfile) -> Choice {
    let choice = |pg_type, cast, reason: &str| Choice {
        pg_type,
        cast,
        reason: reason.to_string(),
    };
    let only = |n: u64| n == p.non_null() && n > 0;
    if name.contains("BLOB") || only(p.blobs) || p.non_null() == 0 {
        if p.texts > 0 && !name.contains("BLOB") {
            return choice(
                PgType::Bytea,
                Cast::Bytea,
                "holds blobs and text; text is kept as its UTF-8 bytes",
            );
        }
        return choice(
            PgType::Bytea,
            Cast::Bytea,
            if name.contains("BLOB") {
                "declared BLOB"
            } else {
                "untyped, holds blobs or nothing"
            },
        );
    }
    if only(p.integers) {
        return choice(
            PgType::BigInt,
            Cast::Integer { bits: 64 },
            "untyped, holds only integers",
        );
    }
    if p.blobs == 0 && p.texts == 0 {
        return choice(
            PgType::Numeric(None),
            Cast::Numeric {
                precision: None,
                scale: None,
                round: false,
            },
            "untyped, holds integers and reals: exact decimal",
        );
    }
    if p.blobs == 0 && p.integers == 0 && p.reals == 0 {
        return choice(PgType::Text, Cast::Text { max_chars: None }, "untyped, holds only text");
    }
    if p.blobs == 0 {
        return choice(
            PgType::Text,
            Cast::Text { max_chars: None },
            "untyped, holds text and numbers: numbers kept as their text",
        );
    }
    choice(
        PgType::Bytea,
        Cast::Bytea,
        "untyped, holds blobs and other values: kept as bytes",
    )
}

fn temporal(name: &str, p: &ColumnProfile) -> Choice {
    let numbers = p.integers + p.reals;
    let max_abs = [
        p.integer_min.map(|v| v as f64),
        p.integer_max.map(|v| v as f64),
        p.real_min,
        p.real_max,
    ]
    .into_iter()
    .flatten()
    .map(f64::abs)
    .fold(0.0f64, f64::max);
    let unit = if p.reals > 0 && p.integers == 0 && p.real_min.is_some_and(|m| m >= 1.0e6) && max_abs < 1.0e7 {
        EpochUnit::JulianDay
    } else if max_abs >= EPOCH_MS_THRESHOLD {
        EpochUnit::Milliseconds
    } else {
        EpochUnit::Seconds
    };
    // The unit follows the bulk of the numbers when the profile counted
    // them: a few small outliers among epoch milliseconds stay timestamps.
    let bulk = p.epoch_magnitudes.as_ref().filter(|_| unit != EpochUnit::JulianDay);
    let unit = match bulk {
        Some(m) if m.milliseconds >= m.seconds && m.milliseconds > 0 => EpochUnit::Milliseconds,
        Some(m) if m.seconds > 0 => EpochUnit::Seconds,
        _ => unit,
    };
    // Small non-zero numbers (years, counters) are not timestamps: keep the
    // column as text rather than invent dates in 1970.
    let smallest_nonzero = [p.integer_min, p.integer_max]
        .into_iter()
        .flatten()
        .filter(|v| *v != 0)
        .map(|v| v.unsigned_abs())
        .min();
    let mostly_small = match bulk {
        Some(m) => m.small > 0 && m.small >= m.seconds + m.milliseconds,
        None => smallest_nonzero.is_some_and(|v| v < 100_000_000),
    };
    if numbers > 0 && unit != EpochUnit::JulianDay && mostly_small {
        return Choice {
            pg_type: PgType::Text,
            cast: Cast::Text { max_chars: None },
            reason: format!(
                "declared {name} but holds small numbers (e.g. years) that are not timestamps; kept as text, exactly"
            ),
        };
    }
    let unit_note = match (numbers > 0, unit) {
        (false, _) => String::new(),
        (true, EpochUnit::Milliseconds) => ", numbers read as epoch milliseconds".into(),
        (true, EpochUnit::Seconds) => ", numbers read as epoch seconds".into(),
        (true, EpochUnit::JulianDay) => ", reals read as julian days".into(),
    };
    if name == "DATE" {
        Choice {
            pg_type: PgType::Date,
            cast: Cast::Date { unit },
            reason: format!("declared DATE{unit_note}"),
        }
    } else if name == "TIME" {
        Choice {
            pg_type: PgType::Time,
            cast: Cast::Time,
            reason: "declared TIME".into(),
        }
    } else {
        Choice {
            pg_type: PgType::Timestamptz,
            cast: Cast::Timestamp { unit, with_zone: true },
            reason: format!("declared {name}: UTC timestamps{unit_note}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(declared: &str, profile: ColumnProfile) -> Column {
        Column {
            name: "c".into(),
            declared_type: declared.into(),
            not_null: false,
            default: None,
            generated: None,
            collation: None,
            profile: Some(profile),
            inferred: None,
        }
    }

    #[test]
    fn real_is_double_never_float4() {
        let c = choose(
            &column(
                "REAL",
                ColumnProfile {
                    reals: 3,
                    ..Default::default()
                },
            ),
            false,
        );
        assert_eq!(c.pg_type, PgType::Double);
        let c = choose(&column("FLOAT", ColumnProfile::default()), false);
        assert_eq!(c.pg_type, PgType::Double);
    }

    #[test]
    fn integers_narrow_only_when_declared_and_fitting() {
        let fits = ColumnProfile {
            integers: 2,
            integer_min: Some(-5),
            integer_max: Some(300),
            ..Default::default()
        };
        assert_eq!(
            choose(&column("SMALLINT", fits.clone()), false).pg_type,
            PgType::SmallInt
        );
        assert_eq!(choose(&column("INTEGER", fits.clone()), false).pg_type, PgType::BigInt);
        let big = ColumnProfile {
            integers: 1,
            integer_max: Some(70_000),
            ..Default::default()
        };
        assert_eq!(
            choose(&column("smallint unsigned", big), false).pg_type,
            PgType::Integer
        );
    }

    #[test]
    fn epoch_unit_from_values() {
        let ms = ColumnProfile {
            integers: 2,
            integer_min: Some(1_600_000_000_000),
            integer_max: Some(1_700_000_000_000),
            ..Default::default()
        };
        assert_eq!(
            choose(&column("DATETIME", ms), false).cast,
            Cast::Timestamp {
                unit: EpochUnit::Milliseconds,
                with_zone: true
            }
        );
        let s = ColumnProfile {
            integers: 1,
            integer_min: Some(1_600_000_000),
            integer_max: Some(1_700_000_000),
            ..Default::default()
        };
        assert_eq!(
            choose(&column("TIMESTAMP", s), false).cast,
            Cast::Timestamp {
                unit: EpochUnit::Seconds,
                with_zone: true
            }
        );
        let years = ColumnProfile {
            integers: 2,
            integer_min: Some(0),
            integer_max: Some(2024),
            texts: 1,
            ..Default::default()
        };
        assert_eq!(choose(&column("DATETIME", years), false).pg_type, PgType::Text);
    }

    #[test]
    fn the_epoch_unit_follows_the_bulk_of_the_values() {
        let mostly_ms = ColumnProfile {
            integers: 100,
            integer_min: Some(1000),
            integer_max: Some(1_700_000_000_000),
            epoch_magnitudes: Some(crate::source::EpochMagnitudes {
                small: 2,
                milliseconds: 98,
                small_samples: vec![1000.0, 86_400_000.0],
                ..Default::default()
            }),
            ..Default::default()
        };
        let col = column("DATETIME", mostly_ms);
        let choice = choose(&col, false);
        assert_eq!(
            choice.cast,
            Cast::Timestamp {
                unit: EpochUnit::Milliseconds,
                with_zone: true
            }
        );
        assert!(epoch_outliers(&col, &choice).unwrap().contains("2 number(s)"));
        let years = ColumnProfile {
            integers: 3,
            integer_min: Some(1999),
            integer_max: Some(1_700_000_000),
            epoch_magnitudes: Some(crate::source::EpochMagnitudes {
                small: 2,
                seconds: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(choose(&column("DATETIME", years), false).pg_type, PgType::Text);
    }

    #[test]
    fn declared_lengths_are_checked() {
        let long = ColumnProfile {
            texts: 1,
            text_max_chars: Some(90),
            ..Default::default()
        };
        assert_eq!(choose(&column("VARCHAR(80)", long), false).pg_type, PgType::Text);
        let short = ColumnProfile {
            texts: 1,
            text_max_chars: Some(8),
            ..Default::default()
        };
        assert_eq!(
            choose(&column("CHAR(20)", short), false).pg_type,
            PgType::Varchar(Some(20))
        );
    }

    #[test]
    fn parses_user_types() {
        assert_eq!(PgType::parse("text[]"), Some(PgType::Array(Box::new(PgType::Text))));
        assert_eq!(PgType::parse("numeric(12, 2)"), Some(PgType::Numeric(Some((12, 2)))));
        assert_eq!(PgType::parse("timestamp with time zone"), Some(PgType::Timestamptz));
        assert_eq!(PgType::parse("geometry"), None);
    }
}
