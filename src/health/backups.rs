//! `last_backup`: the newest complete `godwit backup` in a directory or an
//! `s3://` location, its age and whether `backup verify` proved it.

use super::registry::Check;
use super::thresholds::{Threshold, judge};
use super::{CheckResult, Status};
use crate::units::format_seconds;

/// The check. Too old: by the thresholds (26 h / 50 h: a daily backup that
/// missed one run warns, two runs is critical), measured from the backup's
/// snapshot, which is how old its data is. Never verified: a warning; a
/// verification that found differences: critical. None at all: critical.
/// An unreadable location: unknown.
pub fn check(def: &Check, location: &str, threshold: &Threshold) -> CheckResult {
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
    match crate::backup::newest_complete(location) {
        Err(e) => result.message = format!("cannot read the backups at {location}: {e}"),
        Ok(None) => {
            result.status = Status::Critical;
            result.message = format!("no complete backup in {location}");
        }
        Ok(Some(newest)) => {
            // Ages are whole seconds far below f64's exact range.
            #[allow(clippy::cast_precision_loss)]
            let age = newest.age_seconds.max(0) as f64;
            let mut status = judge(def.direction, threshold, age);
            let mut message = format!("newest backup {} taken {} ago", newest.id, format_seconds(age));
            match newest.verified {
                Some(true) => message.push_str(", verified"),
                Some(false) => {
                    status = Status::Critical;
                    message.push_str(", and `godwit backup verify` found differences");
                }
                None => {
                    status = status.max(Status::Warning);
                    message.push_str(", never verified (run `godwit backup verify`)");
                }
            }
            result.status = status;
            result.value = Some(age);
            result.message = message;
        }
    }
    result
}
