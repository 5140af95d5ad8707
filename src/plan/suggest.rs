//! Suggestions `plan` makes from sampled values: casts that would give the
//! app a better PostgreSQL type, which godwit never applies on its own
//! because they change the representation.

/// What a sample of a text or integer column suggests, if anything.
pub fn for_column(table: &str, column: &str, declared: &str, samples: &[crate::source::Value]) -> Option<String> {
    use crate::source::Value;
    if samples.is_empty() {
        return None;
    }
    let texts: Vec<&str> = samples
        .iter()
        .filter_map(|v| if let Value::Text(t) = v { Some(t.as_str()) } else { None })
        .collect();
    let integers: Vec<i64> = samples
        .iter()
        .filter_map(|v| if let Value::Integer(i) = v { Some(*i) } else { None })
        .collect();
    let declared_upper = declared.to_ascii_uppercase();
    if texts.len() == samples.len() && !declared_upper.contains("JSON") {
        let json_like = texts.iter().all(|t| {
            let t = t.trim_start();
            (t.starts_with('{') || t.starts_with('[')) && serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
        });
        if json_like {
            return Some(format!(
                "{table}.{column} holds JSON text; it stays text (lossless). For jsonb add to godwit.toml:\n    \
                 [[cast]]\n    column = \"{table}.{column}\"\n    to = \"jsonb\""
            ));
        }
        let delimited = texts
            .iter()
            .filter(|t| t.contains(',') && !t.contains(", ") && !t.contains(' '))
            .count();
        if delimited * 2 > texts.len() && delimited >= 2 {
            return Some(format!(
                "{table}.{column} holds comma-separated lists; for an array add:\n    \
                 [[cast]]\n    column = \"{table}.{column}\"\n    to = \"text[]\"\n    using = \"split(',')\""
            ));
        }
    }
    let lower = column.to_ascii_lowercase();
    let time_named = ["_at", "time", "date", "_ts", "timestamp"]
        .iter()
        .any(|s| lower.contains(s));
    if time_named && integers.len() == samples.len() && declared_upper.contains("INT") {
        let (lo, hi) = (integers.iter().min()?, integers.iter().max()?);
        let unit = if *lo >= 100_000_000_000 && *hi < 100_000_000_000_000 {
            "epoch-ms"
        } else if *lo >= 100_000_000 && *hi < 100_000_000_000 {
            "epoch-s"
        } else {
            return None;
        };
        return Some(format!(
            "{table}.{column} looks like {unit} timestamps; for timestamptz add:\n    \
             [[cast]]\n    column = \"{table}.{column}\"\n    to = \"timestamptz\"\n    using = \"{unit}\""
        ));
    }
    None
}
