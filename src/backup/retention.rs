//! Which backups `prune` keeps, with restic's and pgBackRest-style
//! semantics (times in UTC):
//! - `--keep-last N`: the N newest backups;
//! - `--keep-daily N`: the newest backup of each of the N most recent days
//!   that have a backup;
//! - `--keep-weekly N`: the same per ISO week.
//!
//! A backup is kept when any rule keeps it, and the newest complete backup is
//! always kept. Days without a backup do not use up `--keep-daily`, so a
//! pause in backups never deletes the last good ones.

use chrono::{DateTime, Datelike, Utc};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub keep_last: Option<usize>,
    pub keep_daily: Option<usize>,
    pub keep_weekly: Option<usize>,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        self.keep_last.is_none() && self.keep_daily.is_none() && self.keep_weekly.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub keep: bool,
    /// Why it is kept: "newest", "last", "daily", "weekly".
    pub reasons: Vec<&'static str>,
}

/// Decides for each complete backup, given as (id, time). Returns them
/// newest first.
pub fn decide(backups: &[(String, DateTime<Utc>)], policy: &Policy) -> Vec<Decision> {
    let mut sorted: Vec<&(String, DateTime<Utc>)> = backups.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut days_seen = Vec::new();
    let mut weeks_seen = Vec::new();
    sorted
        .iter()
        .enumerate()
        .map(|(index, (id, time))| {
            let mut reasons = Vec::new();
            if index == 0 {
                reasons.push("newest");
            }
            if policy.keep_last.is_some_and(|n| index < n) {
                reasons.push("last");
            }
            let day = time.date_naive();
            if let Some(n) = policy.keep_daily
                && !days_seen.contains(&day)
                && days_seen.len() < n
            {
                days_seen.push(day);
                reasons.push("daily");
            }
            let week = (time.iso_week().year(), time.iso_week().week());
            if let Some(n) = policy.keep_weekly
                && !weeks_seen.contains(&week)
                && weeks_seen.len() < n
            {
                weeks_seen.push(week);
                reasons.push("weekly");
            }
            Decision {
                id: id.clone(),
                keep: !reasons.is_empty(),
                reasons,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> (String, DateTime<Utc>) {
        // March 2026: the 2nd is a Monday.
        let t = Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap();
        (crate::backup::manifest::new_id(t), t)
    }

    fn kept(backups: &[(String, DateTime<Utc>)], policy: Policy) -> Vec<String> {
        let mut ids: Vec<String> = decide(backups, &policy)
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect();
        ids.sort();
        ids
    }

    fn ids(list: &[(String, DateTime<Utc>)]) -> Vec<String> {
        list.iter().map(|b| b.0.clone()).collect()
    }

    #[test]
    fn keep_last_keeps_the_newest_n() {
        let all = [at(1, 1), at(1, 2), at(2, 1), at(3, 1)];
        let policy = Policy {
            keep_last: Some(2),
            ..Policy::default()
        };
        assert_eq!(kept(&all, policy), ids(&all[2..]));
    }

    #[test]
    fn keep_daily_keeps_the_newest_of_each_day_with_backups() {
        // Two a day on the 1st and 2nd, none on the 3rd and 4th, one on the 5th.
        let all = [at(1, 6), at(1, 18), at(2, 6), at(2, 18), at(5, 6)];
        let policy = Policy {
            keep_daily: Some(2),
            ..Policy::default()
        };
        // The 5th and the 2nd (newest of that day); the empty days do not count.
        assert_eq!(kept(&all, policy), ids(&[at(2, 18), at(5, 6)]));
        let policy = Policy {
            keep_daily: Some(3),
            ..Policy::default()
        };
        assert_eq!(kept(&all, policy), ids(&[at(1, 18), at(2, 18), at(5, 6)]));
    }

    #[test]
    fn keep_weekly_uses_iso_weeks() {
        // Sun 1st (week 9), Mon 2nd and Sun 8th (week 10), Mon 9th (week 11).
        let all = [at(1, 12), at(2, 12), at(8, 12), at(9, 12)];
        let policy = Policy {
            keep_weekly: Some(2),
            ..Policy::default()
        };
        assert_eq!(kept(&all, policy), ids(&[at(8, 12), at(9, 12)]));
    }

    #[test]
    fn rules_add_up_and_the_newest_always_stays() {
        let all = [at(1, 1), at(2, 1), at(3, 1), at(3, 2), at(3, 3)];
        let policy = Policy {
            keep_last: Some(1),
            keep_daily: Some(2),
            keep_weekly: Some(1),
        };
        // last: 3rd 03h; daily: 3rd 03h and 2nd; weekly (2nd..8th is one week): 3rd 03h.
        assert_eq!(kept(&all, policy), ids(&[at(2, 1), at(3, 3)]));
        let nothing = Policy {
            keep_last: Some(0),
            ..Policy::default()
        };
        assert_eq!(kept(&all, nothing), ids(&[at(3, 3)]));
        let decisions = decide(&all, &nothing);
        assert_eq!(decisions[0].reasons, vec!["newest"]);
    }
}
