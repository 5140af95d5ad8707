//! UTC timestamps for migration versions, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// `yyyymmddhhmmss` in UTC for the current time.
pub fn now_version() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    version_for_unix_seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// `yyyymmddhhmmss` for seconds since the epoch (proleptic Gregorian, UTC).
pub fn version_for_unix_seconds(seconds: i64) -> i64 {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    ((((year * 100 + month) * 100 + day) * 100 + hour) * 100 + minute) * 100 + second
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(version_for_unix_seconds(0), 19700101000000);
        assert_eq!(version_for_unix_seconds(951_782_400), 20000229000000);
        assert_eq!(version_for_unix_seconds(1_798_761_599), 20261231235959);
    }
}
