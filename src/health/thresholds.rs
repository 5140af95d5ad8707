//! Units, directions and thresholds of the checks (their defaults are in
//! [`super::registry`]), and how thresholds are written: `--threshold CHECK=WARN[,CRIT]` or a `[health]` table in
//! godwit.toml, durations as `30s` / `5min`, sizes as `10GB`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::units::{parse_bytes, parse_duration};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Seconds,
    Percent,
    Count,
    Bytes,
}

/// Whether a larger value is worse (ages, counts) or a smaller one (cache hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HigherIsWorse,
    LowerIsWorse,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Threshold {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

impl Threshold {
    pub const fn both(warning: f64, critical: f64) -> Threshold {
        Threshold {
            warning: Some(warning),
            critical: Some(critical),
        }
    }

    pub const fn warning_only(warning: f64) -> Threshold {
        Threshold {
            warning: Some(warning),
            critical: None,
        }
    }

    pub const NONE: Threshold = Threshold {
        warning: None,
        critical: None,
    };
}

use Direction::*;
use Unit::*;

fn known_names() -> String {
    super::registry::CHECKS
        .iter()
        .filter(|c| c.takes_thresholds())
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses one value in the check's unit: `30s`/`5min`, `90`/`90%`, `10GB`, `3`.
fn parse_value(unit: Unit, text: &str) -> Result<f64, String> {
    let t = text.trim();
    match unit {
        Seconds => parse_duration(t).map(|d| d.as_secs_f64()),
        Percent => t
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("invalid percentage {text:?}: write e.g. 90 or 90%")),
        Bytes => parse_bytes(t),
        Count => t.parse::<f64>().map_err(|_| format!("invalid number {text:?}")),
    }
}

/// Parses `CHECK=WARN[,CRIT]`. An empty side turns that level off:
/// `sequences=,99` only goes critical.
pub fn parse_assignment(text: &str) -> Result<(String, Threshold), String> {
    let (name, values) = text.split_once('=').ok_or_else(|| {
        format!("invalid threshold {text:?}: write CHECK=WARN[,CRIT], e.g. long_running_queries=30s,2min")
    })?;
    let name = name.trim();
    let threshold = parse_threshold(name, values)?;
    Ok((name.to_string(), threshold))
}

/// Parses `WARN[,CRIT]` for the named check.
pub fn parse_threshold(name: &str, values: &str) -> Result<Threshold, String> {
    let def = super::registry::find(name)
        .filter(|c| c.takes_thresholds())
        .ok_or_else(|| format!("unknown health check {name:?}; known: {}", known_names()))?;
    let (warning, critical) = match values.split_once(',') {
        Some((w, c)) => (w, Some(c)),
        None => (values, None),
    };
    let side = |t: &str| -> Result<Option<f64>, String> {
        if t.trim().is_empty() {
            Ok(None)
        } else {
            parse_value(def.unit, t).map(Some)
        }
    };
    let threshold = Threshold {
        warning: side(warning)?,
        critical: match critical {
            Some(c) => side(c)?,
            None => None,
        },
    };
    if threshold.warning.is_none() && threshold.critical.is_none() {
        return Err(format!("threshold for {name} has no value"));
    }
    if let (Some(w), Some(c)) = (threshold.warning, threshold.critical) {
        let ordered = match def.direction {
            HigherIsWorse => w <= c,
            LowerIsWorse => w >= c,
        };
        if !ordered {
            return Err(format!(
                "threshold for {name}: the warning level must come before the critical one \
                 ({})",
                match def.direction {
                    HigherIsWorse => "warning <= critical",
                    LowerIsWorse => "warning >= critical, lower is worse here",
                }
            ));
        }
    }
    Ok(threshold)
}

/// The thresholds of godwit.toml's `[health]` table, or an error naming
/// the file, the line and the check.
pub fn from_config(config: &crate::config::Config) -> crate::error::Result<BTreeMap<String, Threshold>> {
    let mut out = BTreeMap::new();
    for (name, written) in &config.health.thresholds {
        let threshold = parse_threshold(name, &written.text)
            .map_err(|m| config.error(written.line, format!("health.{name}: {m}")))?;
        out.insert(name.clone(), threshold);
    }
    Ok(out)
}

/// Merges `[health]` settings (file) and `--threshold` flags (which win).
pub fn merge(
    from_config: &BTreeMap<String, Threshold>,
    from_flags: &[(String, Threshold)],
) -> BTreeMap<String, Threshold> {
    let mut all = from_config.clone();
    for (name, t) in from_flags {
        all.insert(name.clone(), *t);
    }
    all
}

/// The status a value earns under a threshold.
pub fn judge(direction: Direction, threshold: &Threshold, value: f64) -> super::Status {
    let past = |limit: Option<f64>| match (limit, direction) {
        (Some(l), HigherIsWorse) => value >= l,
        (Some(l), LowerIsWorse) => value < l,
        (None, _) => false,
    };
    if past(threshold.critical) {
        super::Status::Critical
    } else if past(threshold.warning) {
        super::Status::Warning
    } else {
        super::Status::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Status;

    #[test]
    fn durations_percentages_and_sizes() {
        assert_eq!(
            parse_assignment("long_running_queries=30s,5min").unwrap(),
            ("long_running_queries".into(), Threshold::both(30.0, 300.0))
        );
        assert_eq!(
            parse_assignment("connections=80%,90").unwrap().1,
            Threshold::both(80.0, 90.0)
        );
        assert_eq!(
            parse_assignment("database_size=10GB").unwrap().1,
            Threshold::warning_only(10.0 * 1024.0 * 1024.0 * 1024.0)
        );
        assert_eq!(
            parse_assignment("sequences=,99").unwrap().1,
            Threshold {
                warning: None,
                critical: Some(99.0)
            }
        );
        assert_eq!(
            parse_assignment("last_backup=1d,2d").unwrap().1,
            Threshold::both(86400.0, 172_800.0)
        );
    }

    #[test]
    fn bad_thresholds_say_why() {
        assert!(parse_assignment("nope=1").unwrap_err().contains("unknown health check"));
        assert!(
            parse_assignment("long_running_queries")
                .unwrap_err()
                .contains("CHECK=WARN")
        );
        assert!(parse_assignment("long_running_queries=5 parsecs").is_err());
        assert!(
            parse_assignment("connections=95,90")
                .unwrap_err()
                .contains("before the critical")
        );
        assert!(
            parse_assignment("cache_hit=95,99")
                .unwrap_err()
                .contains("lower is worse")
        );
        assert!(parse_assignment("cache_hit=99,95").is_ok());
        assert!(parse_assignment("sequences=,").unwrap_err().contains("no value"));
    }

    #[test]
    fn judging_both_directions() {
        let t = Threshold::both(60.0, 300.0);
        assert_eq!(judge(HigherIsWorse, &t, 10.0), Status::Ok);
        assert_eq!(judge(HigherIsWorse, &t, 60.0), Status::Warning);
        assert_eq!(judge(HigherIsWorse, &t, 301.0), Status::Critical);
        let hit = Threshold::both(99.0, 95.0);
        assert_eq!(judge(LowerIsWorse, &hit, 99.5), Status::Ok);
        assert_eq!(judge(LowerIsWorse, &hit, 97.0), Status::Warning);
        assert_eq!(judge(LowerIsWorse, &hit, 90.0), Status::Critical);
        assert_eq!(judge(HigherIsWorse, &Threshold::NONE, 1e12), Status::Ok);
    }

    #[test]
    fn thresholds_from_godwit_toml() {
        use crate::config::Config;
        use std::path::Path;
        let c = Config::parse(
            "[health]\nlong_running_queries = \"30s,2min\"\nconnections = [80, 90]\nsequences = 70\n",
            Path::new("godwit.toml"),
        )
        .unwrap();
        let t = from_config(&c).unwrap();
        assert_eq!(t["long_running_queries"], Threshold::both(30.0, 120.0));
        assert_eq!(t["connections"], Threshold::both(80.0, 90.0));
        assert_eq!(t["sequences"], Threshold::warning_only(70.0));
        let c = Config::parse("[health]\n\nlong_runing_queries = \"30s\"\n", Path::new("g.toml")).unwrap();
        let err = from_config(&c).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("unknown health check"), "{err}");
        let c = Config::parse("[health]\nblocked_queries = \"soon\"\n", Path::new("g.toml")).unwrap();
        let err = from_config(&c).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("invalid duration"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let mut file = BTreeMap::new();
        file.insert("connections".to_string(), Threshold::both(50.0, 60.0));
        file.insert("sequences".to_string(), Threshold::both(70.0, 80.0));
        let merged = merge(&file, &[("connections".into(), Threshold::both(91.0, 96.0))]);
        assert_eq!(merged["connections"], Threshold::both(91.0, 96.0));
        assert_eq!(merged["sequences"], Threshold::both(70.0, 80.0));
    }
}
