//! `last_backup`: the newest complete backup's age and whether it was
//! verified, read from a backup directory.
//!
//! A backup is a directory `DIR/<id>` holding `manifest.json`; the newest is
//! the lexically largest id (ids sort by time). Its age comes from the
//! manifest's `finished_at` (RFC 3339), else the directory's mtime. It
//! counts as verified when `DIR/<id>/verified.json` says `"ok": true`.
//! Everything format-specific is in [`newest_backup`], so that a different
//! backup layout only changes that one function.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::thresholds::{self, Threshold, judge};
use super::{CheckResult, Status};
use crate::units::format_seconds;

/// What the check needs to know about the newest complete backup.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupInfo {
    pub id: String,
    pub finished: SystemTime,
    pub verified: bool,
}

/// The newest complete backup in `dir`, None when there is none.
pub fn newest_backup(dir: &Path) -> Result<Option<BackupInfo>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    let Some(id) = ids.pop() else {
        return Ok(None);
    };
    let backup = dir.join(&id);
    let manifest: Option<serde_json::Value> = std::fs::read_to_string(backup.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let finished = manifest
        .as_ref()
        .and_then(|m| m.get("finished_at"))
        .and_then(|v| v.as_str())
        .and_then(parse_rfc3339);
    let finished = match finished {
        Some(t) => t,
        None => std::fs::metadata(&backup)
            .and_then(|m| m.modified())
            .map_err(|e| format!("cannot read {}: {e}", backup.display()))?,
    };
    let verified = std::fs::read_to_string(backup.join("verified.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("ok").and_then(|ok| ok.as_bool()))
        .unwrap_or(false);
    Ok(Some(BackupInfo { id, finished, verified }))
}

/// The check. Too old: by the thresholds (26 h / 50 h: a daily backup
/// that missed one run warns, two runs is critical). Not verified: a
/// warning. None at all: critical. Unreadable location: unknown.
pub fn check(location: &str, threshold: &Threshold) -> CheckResult {
    let def = thresholds::def("last_backup");
    let mut result = CheckResult {
        name: def.name.into(),
        status: Status::Unknown,
        value: None,
        unit: def.unit,
        message: String::new(),
        warning: threshold.warning,
        critical: threshold.critical,
        details: Vec::new(),
    };
    if location.starts_with("s3://") {
        result.message = format!("{location}: object storage is not supported by this build; give a directory");
        return result;
    }
    match newest_backup(Path::new(location)) {
        Err(why) => result.message = why,
        Ok(None) => {
            result.status = Status::Critical;
            result.message = format!("no complete backup (a directory with manifest.json) in {location}");
        }
        Ok(Some(info)) => {
            let age = SystemTime::now()
                .duration_since(info.finished)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64();
            let mut status = judge(def.direction, threshold, age);
            let mut message = format!("newest backup {} finished {} ago", info.id, format_seconds(age));
            if info.verified {
                message.push_str(", verified");
            } else {
                status = status.max(Status::Warning);
                message.push_str(", NOT verified (no verified.json with \"ok\": true)");
            }
            result.status = status;
            result.value = Some(age);
            result.message = message;
        }
    }
    result
}

/// `2026-12-01T07:30:00Z`, `2026-12-01T08:30:00.123+01:00`.
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let t = text.trim();
    let (date, rest) = t.split_at_checked(10)?;
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let mut date_parts = date.split('-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let (clock, offset_seconds) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        (c, sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60))
    };
    let clock = clock.split('.').next()?;
    let mut clock_parts = clock.split(':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn rfc3339() {
        assert_eq!(epoch(parse_rfc3339("1970-01-01T00:00:00Z").unwrap()), 0);
        assert_eq!(epoch(parse_rfc3339("2026-12-01T07:30:00Z").unwrap()), 1_796_110_200);
        assert_eq!(
            epoch(parse_rfc3339("2026-12-01T08:30:00.5+01:00").unwrap()),
            1_796_110_200
        );
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2026-13-01T00:00:00Z").is_none());
    }

    fn backup(dir: &Path, id: &str, manifest: &str, verified: Option<&str>) {
        let b = dir.join(id);
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("manifest.json"), manifest).unwrap();
        if let Some(v) = verified {
            std::fs::write(b.join("verified.json"), v).unwrap();
        }
    }

    fn rfc3339_ago(hours: u64) -> String {
        let t = SystemTime::now() - Duration::from_secs(hours * 3600);
        let s = i64::try_from(epoch(t)).unwrap();
        let days = s.div_euclid(86_400);
        // Inverse of days_from_civil, by search: tests only.
        let mut y = 1970;
        while days_from_civil(y + 1, 1, 1) <= days {
            y += 1;
        }
        let mut m = 1;
        while m < 12 && days_from_civil(y, m + 1, 1) <= days {
            m += 1;
        }
        let d = days - days_from_civil(y, m, 1) + 1;
        let r = s.rem_euclid(86_400);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            r / 3600,
            r % 3600 / 60,
            r % 60
        )
    }

    #[test]
    fn newest_complete_verified_backup() {
        let dir = tempfile::tempdir().unwrap();
        let t = thresholds::def("last_backup").default;
        assert_eq!(check(dir.path().to_str().unwrap(), &t).status, Status::Critical);

        backup(
            dir.path(),
            "20261130T010000Z",
            &format!(r#"{{"finished_at": "{}"}}"#, rfc3339_ago(30)),
            Some(r#"{"ok": true}"#),
        );
        // An unfinished backup (no manifest) is not the newest.
        std::fs::create_dir_all(dir.path().join("20261201T010000Z")).unwrap();
        let r = check(dir.path().to_str().unwrap(), &t);
        assert_eq!(r.status, Status::Warning, "{}", r.message);
        assert!(
            r.message.contains("20261130T010000Z") && r.message.contains("verified"),
            "{}",
            r.message
        );

        backup(
            dir.path(),
            "20261201T020000Z",
            &format!(r#"{{"finished_at": "{}"}}"#, rfc3339_ago(1)),
            Some(r#"{"ok": true}"#),
        );
        assert_eq!(check(dir.path().to_str().unwrap(), &t).status, Status::Ok);

        backup(dir.path(), "20261201T030000Z", "{}", Some(r#"{"ok": false}"#));
        let r = check(dir.path().to_str().unwrap(), &t);
        assert_eq!(r.status, Status::Warning);
        assert!(r.message.contains("NOT verified"), "{}", r.message);

        backup(
            dir.path(),
            "20261201T040000Z",
            &format!(r#"{{"finished_at": "{}"}}"#, rfc3339_ago(60)),
            Some(r#"{"ok": true}"#),
        );
        assert_eq!(check(dir.path().to_str().unwrap(), &t).status, Status::Critical);

        assert_eq!(check("/nonexistent/backups", &t).status, Status::Unknown);
        assert!(check("s3://bucket/x", &t).message.contains("not supported"));
    }
}
