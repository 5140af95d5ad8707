//! godwit.toml: casts the user asks for, renamed and skipped tables and
//! columns. Errors name the key and its line; they are config errors
//! (exit 2) raised before anything is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::postgres::types::PgType;

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file read, for messages; None when there is no config.
    pub path: Option<PathBuf>,
    pub casts: Vec<CastRule>,
    pub tables: BTreeMap<String, TableRule>,
    /// The `[health]` table: thresholds by check, and the backup location.
    pub health: HealthSettings,
    /// How documents (JSON, CSV, directories) are mapped into tables.
    pub documents: crate::source::documents::DocumentOptions,
}

/// The `[health]` table as written; `health` parses the thresholds
/// (their units are its own) with [`crate::health::thresholds::from_config`].
#[derive(Debug, Clone, Default)]
pub struct HealthSettings {
    /// By check name: `WARN[,CRIT]` as written, and its line.
    pub thresholds: BTreeMap<String, WrittenThreshold>,
    pub backups: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WrittenThreshold {
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct CastRule {
    pub applies_to: CastTarget,
    pub to: PgType,
    pub using: Option<Transform>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CastTarget {
    /// A source `table.column`.
    Column { table: String, column: String },
    /// Every source column with this declared type (case-insensitive).
    DeclaredType(String),
}

/// The named transforms `using` accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// `split(',')`: delimited text into an array.
    Split(String),
    /// A deterministic name-based UUID from table and integer.
    UuidFromInt,
    EpochMs,
    EpochS,
    /// A JSON array text into a PostgreSQL array.
    JsonArray,
}

impl Transform {
    fn parse(text: &str) -> Option<Transform> {
        let t = text.trim();
        if let Some(arg) = t.strip_prefix("split(").and_then(|r| r.strip_suffix(')')) {
            let arg = arg.trim();
            let sep = arg
                .strip_prefix('\'')
                .and_then(|a| a.strip_suffix('\''))
                .or_else(|| arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')))?;
            return (!sep.is_empty()).then(|| Transform::Split(sep.to_string()));
        }
        Some(match t {
            "uuid-from-int" => Transform::UuidFromInt,
            "epoch-ms" => Transform::EpochMs,
            "epoch-s" => Transform::EpochS,
            "json-array" | "json" => Transform::JsonArray,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct TableRule {
    pub skip: bool,
    pub rename: Option<String>,
    pub columns: BTreeMap<String, ColumnRule>,
    /// `partition_by` and its companions: a time-partitioned table.
    pub partition: Option<PartitionRule>,
    pub line: usize,
}

/// `partition_by = "created_at"`, `interval = "month"`, `premake = 4`,
/// `partition_key_in_keys = true`, `partman = false`.
#[derive(Debug, Clone)]
pub struct PartitionRule {
    /// The source column.
    pub column: String,
    pub interval: crate::calendar::Interval,
    pub premake: u32,
    /// Consent to add the partition key to the primary key and unique
    /// constraints (and to leave out foreign keys that point at the table).
    pub keys_include_partition_key: bool,
    /// Register with pg_partman where it is installed (default true).
    pub partman: bool,
    pub line: usize,
}

/// pg_partman's default, and godwit's.
pub const DEFAULT_PREMAKE: u32 = 4;

#[derive(Debug, Clone, Default)]
pub struct ColumnRule {
    pub rename: Option<String>,
    pub skip: bool,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    cast: Vec<Spanned<RawCast>>,
    #[serde(default)]
    tables: BTreeMap<Spanned<String>, Spanned<RawTable>>,
    #[serde(default)]
    health: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    documents: Option<crate::source::documents::DocumentOptions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCast {
    column: Option<Spanned<String>>,
    #[serde(rename = "type")]
    declared_type: Option<Spanned<String>>,
    to: Spanned<String>,
    using: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    skip: bool,
    rename: Option<String>,
    #[serde(default)]
    columns: BTreeMap<Spanned<String>, Spanned<RawColumn>>,
    partition_by: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    premake: Option<Spanned<i64>>,
    #[serde(default)]
    partition_key_in_keys: bool,
    partman: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    rename: Option<String>,
    #[serde(default)]
    skip: bool,
}

impl Config {
    /// Reads `--config FILE`, or ./godwit.toml when present, or nothing.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let default = PathBuf::from("godwit.toml");
                if !default.exists() {
                    return Ok(Config::default());
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Config {
            path: path.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let fail = |line: usize, message: String| Error::Config {
            path: path.to_path_buf(),
            message: format!("line {line}: {message}"),
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            fail(line, e.message().to_string())
        })?;
        let mut config = Config {
            path: Some(path.to_path_buf()),
            documents: raw.documents.unwrap_or_default(),
            ..Config::default()
        };
        for cast in raw.cast {
            let line = line_of(text, cast.span().start);
            let cast = cast.into_inner();
            let applies_to = match (&cast.column, &cast.declared_type) {
                (Some(c), None) => {
                    let (table, column) = c.get_ref().rsplit_once('.').ok_or_else(|| {
                        fail(
                            line_of(text, c.span().start),
                            format!("cast.column {:?} must be \"table.column\"", c.get_ref()),
                        )
                    })?;
                    CastTarget::Column {
                        table: table.to_string(),
                        column: column.to_string(),
                    }
                }
                (None, Some(t)) => CastTarget::DeclaredType(t.get_ref().trim().to_string()),
                _ => {
                    return Err(fail(line, "a [[cast]] needs exactly one of `column` or `type`".into()));
                }
            };
            let to = PgType::parse(cast.to.get_ref()).ok_or_else(|| {
                fail(
                    line_of(text, cast.to.span().start),
                    format!(
                        "cast.to {:?} is not a type godwit can write; use e.g. bigint, integer, numeric(12,2), text, \
                         varchar(n), boolean, date, timestamp, timestamptz, jsonb, json, uuid, bytea or an array such as text[]",
                        cast.to.get_ref()
                    ),
                )
            })?;
            let using = match &cast.using {
                None => None,
                Some(u) => Some(Transform::parse(u.get_ref()).ok_or_else(|| {
                    fail(
                        line_of(text, u.span().start),
                        format!(
                            "unknown transform {:?} in cast.using; known: split(','), uuid-from-int, epoch-ms, epoch-s, json-array",
                            u.get_ref()
                        ),
                    )
                })?),
            };
            check_transform_fits(&to, using.as_ref()).map_err(|m| fail(line, m))?;
            config.casts.push(CastRule {
                applies_to,
                to,
                using,
                line,
            });
        }
        for (name, table) in raw.tables {
            let line = line_of(text, name.span().start);
            let table = table.into_inner();
            let partition =
                partition_rule(&table, line, &|offset| line_of(text, offset)).map_err(|(l, m)| fail(l, m))?;
            let mut rule = TableRule {
                skip: table.skip,
                rename: table.rename,
                columns: BTreeMap::new(),
                partition,
                line,
            };
            for (column, c) in table.columns {
                let line = line_of(text, column.span().start);
                let c = c.into_inner();
                rule.columns.insert(
                    column.into_inner(),
                    ColumnRule {
                        rename: c.rename,
                        skip: c.skip,
                        line,
                    },
                );
            }
            config.tables.insert(name.into_inner(), rule);
        }
        for (key, value) in raw.health {
            let line = line_of(text, key.span().start);
            let key = key.into_inner();
            let value = value.into_inner();
            if key == "backups" {
                let location = value
                    .as_str()
                    .ok_or_else(|| fail(line, "health.backups must be a string: a directory".into()))?;
                config.health.backups = Some(location.to_string());
                continue;
            }
            // "60s,5min", 90, or ["60s", "5min"]: WARN then CRIT.
            let written = match &value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Array(levels) if (1..=2).contains(&levels.len()) => levels
                    .iter()
                    .map(|l| match l {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    return Err(fail(
                        line,
                        format!("health.{key}: write \"WARN,CRIT\", e.g. \"60s,5min\", or [\"60s\", \"5min\"]"),
                    ));
                }
            };
            config
                .health
                .thresholds
                .insert(key, WrittenThreshold { line, text: written });
        }
        Ok(config)
    }

    /// An error about this config, naming its file.
    pub fn error(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.clone().unwrap_or_else(|| PathBuf::from("godwit.toml")),
            message: format!("line {line}: {}", message.into()),
        }
    }
}

/// The partitioning a `[tables.NAME]` asks for; (line, message) when it is
/// incomplete or its values are not ones godwit knows.
fn partition_rule(
    table: &RawTable,
    line: usize,
    line_at: &dyn Fn(usize) -> usize,
) -> std::result::Result<Option<PartitionRule>, (usize, String)> {
    use crate::calendar::Interval;
    let Some(column) = &table.partition_by else {
        if let Some(i) = &table.interval {
            return Err((
                line_at(i.span().start),
                "`interval` needs `partition_by = \"COLUMN\"` beside it".into(),
            ));
        }
        if let Some(p) = &table.premake {
            return Err((
                line_at(p.span().start),
                "`premake` needs `partition_by = \"COLUMN\"` beside it".into(),
            ));
        }
        return Ok(None);
    };
    let interval = match &table.interval {
        None => {
            return Err((
                line_at(column.span().start),
                "partition_by needs an `interval`: \"day\", \"week\", \"month\" or \"year\"".into(),
            ));
        }
        Some(i) => Interval::parse(i.get_ref()).ok_or_else(|| {
            (
                line_at(i.span().start),
                format!(
                    "interval {:?}: use \"day\", \"week\", \"month\" or \"year\"",
                    i.get_ref()
                ),
            )
        })?,
    };
    let premake = match &table.premake {
        None => DEFAULT_PREMAKE,
        Some(p) => u32::try_from(*p.get_ref()).ok().filter(|n| *n <= 1000).ok_or_else(|| {
            (
                line_at(p.span().start),
                format!("premake {}: a count from 0 to 1000", p.get_ref()),
            )
        })?,
    };
    Ok(Some(PartitionRule {
        column: column.get_ref().clone(),
        interval,
        premake,
        keys_include_partition_key: table.partition_key_in_keys,
        partman: table.partman.unwrap_or(true),
        line,
    }))
}

/// A transform must produce the type it is cast to.
fn check_transform_fits(to: &PgType, using: Option<&Transform>) -> std::result::Result<(), String> {
    match (using, to) {
        (Some(Transform::Split(_) | Transform::JsonArray), PgType::Array(_)) => Ok(()),
        (Some(Transform::Split(_) | Transform::JsonArray), other) => Err(format!(
            "split and json-array produce arrays, but the cast is to {}",
            other.sql()
        )),
        (Some(Transform::UuidFromInt), PgType::Uuid) => Ok(()),
        (Some(Transform::UuidFromInt), other) => Err(format!(
            "uuid-from-int produces uuid, but the cast is to {}",
            other.sql()
        )),
        (Some(Transform::EpochMs | Transform::EpochS), PgType::Timestamptz | PgType::Timestamp | PgType::Date) => {
            Ok(())
        }
        (Some(Transform::EpochMs | Transform::EpochS), other) => Err(format!(
            "epoch-ms and epoch-s produce timestamps, but the cast is to {}",
            other.sql()
        )),
        (None, PgType::Array(_)) => {
            Err("a cast to an array needs `using = \"split(',')\"` or `using = \"json-array\"`".into())
        }
        _ => Ok(()),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[[cast]]
column = "presence_events.clients"
to = "text[]"
using = "split(',')"

[[cast]]
column = "users.id"
to = "uuid"
using = "uuid-from-int"

[[cast]]
type = "datetime"
to = "timestamp"

[tables.sqlite_stat1]
skip = true

[tables.users]
rename = "app_users"

[tables.users.columns.fullName]
rename = "full_name"
"#;

    #[test]
    fn reads_the_documented_example() {
        let c = Config::parse(EXAMPLE, Path::new("godwit.toml")).unwrap();
        assert_eq!(c.casts.len(), 3);
        assert_eq!(c.casts[0].using, Some(Transform::Split(",".into())));
        assert_eq!(c.casts[0].to, PgType::Array(Box::new(PgType::Text)));
        assert_eq!(c.casts[1].line, 7);
        assert_eq!(c.casts[2].applies_to, CastTarget::DeclaredType("datetime".into()));
        assert!(c.tables["sqlite_stat1"].skip);
        assert_eq!(c.tables["users"].rename.as_deref(), Some("app_users"));
        assert_eq!(
            c.tables["users"].columns["fullName"].rename.as_deref(),
            Some("full_name")
        );
    }

    #[test]
    fn health_section_is_kept_as_written() {
        let c = Config::parse(
            "[health]\nlong_running_queries = \"30s,2min\"\nconnections = [80, 90]\nsequences = 70\nbackups = \"/var/backups/pg\"\n",
            Path::new("godwit.toml"),
        )
        .unwrap();
        let t = &c.health.thresholds;
        assert_eq!(
            (t["long_running_queries"].text.as_str(), t["long_running_queries"].line),
            ("30s,2min", 2)
        );
        assert_eq!(t["connections"].text, "80,90");
        assert_eq!(t["sequences"].text, "70");
        assert_eq!(c.health.backups.as_deref(), Some("/var/backups/pg"));
        let err = Config::parse("[health]\nsequences = {}\n", Path::new("g.toml")).unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("WARN,CRIT"),
            "{err}"
        );
    }

    #[test]
    fn reads_how_documents_are_mapped() {
        let c = Config::parse(
            "[documents]\nmax_depth = 2\nkeep_json = [\"users.settings\"]\n\n\
             [[documents.relation]]\nfield = \"posts.editor\"\nto = \"users\"\n\n\
             [[documents.relation]]\nfield = \"posts.tags\"\nrefuse = true\n",
            Path::new("godwit.toml"),
        )
        .unwrap();
        assert_eq!(c.documents.max_depth, 2);
        assert_eq!(c.documents.keep_json, ["users.settings"]);
        assert_eq!(c.documents.relations.len(), 2);
        assert_eq!(c.documents.relations[0].to.as_deref(), Some("users"));
        assert!(c.documents.relations[1].refuse);
        assert_eq!(Config::default().documents.max_depth, 3);
        let err = Config::parse("[documents]\ndepth = 2\n", Path::new("g.toml")).unwrap_err();
        assert!(err.to_string().contains("depth"), "{err}");
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = Config::parse("[[cast]]\ncolumn = \"a.b\"\nto = \"geometry\"\n", Path::new("g.toml")).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(err.to_string().contains("geometry"), "{err}");
        let err = Config::parse(
            "[[cast]]\ncolumn = \"a.b\"\nto = \"uuid\"\nusing = \"magic\"\n",
            Path::new("g.toml"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("line 4") && err.to_string().contains("unknown transform"),
            "{err}"
        );
        let err = Config::parse("[tables.x]\nskipp = true\n", Path::new("g.toml")).unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("skipp"),
            "{err}"
        );
        assert_eq!(err.exit_code(), crate::ExitCode::Usage);
    }
}
