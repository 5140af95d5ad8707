//! Calendar arithmetic on plain integers: proleptic Gregorian days since
//! 1970-01-01, ISO-8601 parsing into microseconds, and PostgreSQL's epoch
//! (2000-01-01). A leaf: copy, verify, reverse and plan share it without
//! touching the COPY encoder.

/// Microseconds between the Unix epoch and PostgreSQL's 2000-01-01.
pub const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

pub const PG_EPOCH_OFFSET_DAYS: i64 = 10_957;

pub const US_PER_DAY: i64 = 86_400_000_000;

/// Julian day number of 1970-01-01 00:00 UTC.
pub const UNIX_EPOCH_JULIAN_DAY: f64 = 2_440_587.5;

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A parsed ISO-8601 instant: microseconds since the Unix epoch, UTC.
#[derive(Debug, PartialEq)]
pub struct Instant {
    pub unix_us: i64,
    pub has_time: bool,
}

/// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.f+]]][Z|±HH[:MM]]`.
pub fn parse_iso(s: &str) -> Option<Instant> {
    let b = s.trim().as_bytes();
    // Runs for every timestamp: plain digit arithmetic, no str parsing.
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i64::from(num(0..4)?);
    let (month, day) = (num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut us = days_from_civil(year, month, day) * US_PER_DAY;
    let mut i = 10;
    let mut has_time = false;
    if i < b.len() && (b[i] == b' ' || b[i] == b'T' || b[i] == b't') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let hour = num(i + 1..i + 3)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        let minute = num(i + 4..i + 6)?;
        i += 6;
        let mut second = 0;
        let mut micros: i64 = 0;
        if b.get(i) == Some(&b':') {
            second = num(i + 1..i + 3)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &b[start..i];
                if digits.is_empty() {
                    return None;
                }
                // Beyond microseconds would be lost: only zeros may follow.
                if digits.len() > 6 && digits[6..].iter().any(|d| *d != b'0') {
                    return None;
                }
                for k in 0..6 {
                    micros = micros * 10 + i64::from(digits.get(k).map_or(0, |d| d - b'0'));
                }
            }
        }
        if hour > 24 || minute > 59 || second > 60 || (hour == 24 && (minute, second, micros) != (0, 0, 0)) {
            return None;
        }
        has_time = true;
        us += (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)) * 1_000_000 + micros;
    }
    // Zone: Z, or ±HH, ±HHMM, ±HH:MM; SQLite also allows a space before it.
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if i < b.len() {
        match b[i] {
            b'Z' | b'z' if i + 1 == b.len() => {}
            sign @ (b'+' | b'-') => {
                let hh = num(i + 1..i + 3)?;
                let rest = &b[i + 3..];
                let mm = match rest {
                    [] => 0,
                    [b':', a, c] | [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => {
                        u32::from(a - b'0') * 10 + u32::from(c - b'0')
                    }
                    _ => return None,
                };
                let offset = (i64::from(hh) * 3600 + i64::from(mm) * 60) * 1_000_000;
                // Local time minus its offset is UTC.
                us = if sign == b'+' { us - offset } else { us + offset };
            }
            _ => return None,
        }
    }
    Some(Instant { unix_us: us, has_time })
}

/// ISO text of a PostgreSQL timestamp (µs since 2000-01-01), in UTC.
pub fn format_timestamp(pg_us: i64) -> String {
    let unix_us = pg_us + PG_EPOCH_OFFSET_US;
    let days = unix_us.div_euclid(US_PER_DAY);
    let in_day = unix_us.rem_euclid(US_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    let micros = in_day % 1_000_000;
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    s.push_str("+00");
    s
}

/// The width of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub fn parse(text: &str) -> Option<Interval> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" => Interval::Day,
            "week" | "weekly" => Interval::Week,
            "month" | "monthly" => Interval::Month,
            "year" | "yearly" => Interval::Year,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }

    /// pg_partman 4's name for it (`p_interval`).
    pub fn partman(self) -> &'static str {
        match self {
            Interval::Day => "daily",
            Interval::Week => "weekly",
            Interval::Month => "monthly",
            Interval::Year => "yearly",
        }
    }

    /// The first day (days since 1970-01-01) of the interval holding `day`.
    pub fn start_of(self, day: i64) -> i64 {
        match self {
            Interval::Day => day,
            // 1970-01-01 was a Thursday; ISO weeks start on Monday.
            Interval::Week => day - (day + 3).rem_euclid(7),
            Interval::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1)
            }
            Interval::Year => {
                let (y, _, _) = civil_from_days(day);
                days_from_civil(y, 1, 1)
            }
        }
    }

    /// The first day of the interval after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Interval::Day => start + 1,
            Interval::Week => start + 7,
            Interval::Month => {
                let (y, m, _) = civil_from_days(start);
                if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                }
            }
            Interval::Year => {
                let (y, _, _) = civil_from_days(start);
                days_from_civil(y + 1, 1, 1)
            }
        }
    }

    /// The suffix pg_partman 4 gives the partition starting at `start`
    /// (`to_char` with YYYY_MM_DD, IYYY"w"IW, YYYY_MM or YYYY).
    pub fn suffix(self, start: i64) -> String {
        let (y, m, d) = civil_from_days(start);
        match self {
            Interval::Day => format!("p{y:04}_{m:02}_{d:02}"),
            Interval::Week => {
                // The ISO year is the Thursday's; its week number counts
                // from the week holding 4 January.
                let thursday = start + 3;
                let (iso_year, _, _) = civil_from_days(thursday);
                let week = (thursday - days_from_civil(iso_year, 1, 1)) / 7 + 1;
                format!("p{iso_year:04}w{week:02}")
            }
            Interval::Month => format!("p{y:04}_{m:02}"),
            Interval::Year => format!("p{y:04}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_with_t_z_offsets_and_fractions() {
        let base = parse_iso("2024-03-01 12:34:56").unwrap().unix_us;
        assert_eq!(base, 1_709_296_496_000_000);
        assert_eq!(parse_iso("2024-03-01T12:34:56Z").unwrap().unix_us, base);
        assert_eq!(parse_iso("2024-03-01T14:34:56+02:00").unwrap().unix_us, base);
        assert_eq!(parse_iso("2024-03-01T07:34:56-0500").unwrap().unix_us, base);
        assert_eq!(parse_iso("2024-03-01 12:34:56.123456").unwrap().unix_us, base + 123_456);
        assert_eq!(parse_iso("2024-03-01 12:34:56.5").unwrap().unix_us, base + 500_000);
        assert!(
            parse_iso("2024-03-01 12:34:56.1234567").is_none(),
            "sub-microsecond digits would be lost"
        );
        assert!(parse_iso("2024-02-30").is_none());
        assert!(parse_iso("toto").is_none());
        assert_eq!(
            parse_iso("1970-01-01").unwrap(),
            Instant {
                unix_us: 0,
                has_time: false
            }
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 10_957, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
