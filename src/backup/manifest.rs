//! `manifest.json`: what a backup holds and how to prove a restore of it.
//! It is written last, so a backup without one is incomplete by definition.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const MANIFEST: &str = "manifest.json";
/// The result of the last `backup verify`, kept beside the manifest.
pub const VERIFIED: &str = "verified.json";
pub const FORMAT: u32 = 1;

/// Ids are UTC times to the millisecond, so they sort by time as text and
/// two backups a second apart never collide.
const ID_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    pub godwit_version: String,
    pub server_version: String,
    pub database: String,
    pub encoding: String,
    pub lc_collate: String,
    pub lc_ctype: String,
    /// Set when the database uses ICU collations (PostgreSQL 15+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_locale: Option<String>,
    /// When the snapshot was taken: the data is as of this time.
    pub started: String,
    pub finished: String,
    pub snapshot: String,
    pub pg_dump: ToolInfo,
    pub compress: String,
    pub jobs: usize,
    /// How `tables[].fingerprint` was computed, so that a restore recomputes it the same way.
    pub fingerprint_method: String,
    pub files: Vec<FileEntry>,
    pub tables: Vec<TableEntry>,
    /// Chosen tables only (a partition archive): their schemas are not in
    /// the dump, so a restore into an empty database creates them first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Set when the dump came from a hot standby (`backup --from-standby`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<StandbySource>,
}

/// Where on its primary's history a standby's dump stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StandbySource {
    /// The WAL position replayed when the snapshot was taken.
    pub replay_lsn: String,
    /// The commit time of the last transaction replayed then: the data is
    /// as of this time, which may be earlier than `started` by the lag.
    pub replayed_until: Option<String>,
    /// The cluster's system identifier, shared by the primary and its standbys.
    pub system_identifier: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolInfo {
    pub path: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableEntry {
    pub schema: String,
    pub name: String,
    pub rows: u64,
    pub fingerprint: String,
}

impl TableEntry {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// The outcome of `backup verify`, recorded with the backup so `list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verified {
    pub ok: bool,
    pub checked: String,
    /// The server the test restore ran on (never with a password).
    pub server: String,
    pub differences: Vec<String>,
}

impl Manifest {
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    pub fn parse(bytes: &[u8], origin: &str) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::Backup(format!("{origin}: not a godwit backup manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(Error::Backup(format!(
                "{origin}: manifest format {} is not one this godwit reads ({FORMAT}); use a newer godwit",
                manifest.format
            )));
        }
        Ok(manifest)
    }
}

pub fn new_id(now: DateTime<Utc>) -> String {
    now.format(ID_FORMAT).to_string()
}

/// The time an id stands for, or None for a name that is not an id.
pub fn id_time(id: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(id, ID_FORMAT).ok().map(|t| t.and_utc())
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The id without characters that are awkward in a database name.
pub fn id_for_names(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_sort_by_time_and_parse_back() {
        let a = Utc.with_ymd_and_hms(2026, 3, 9, 23, 59, 59).unwrap();
        let b = a + chrono::Duration::milliseconds(1);
        let c = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let ids = [new_id(a), new_id(b), new_id(c)];
        assert_eq!(ids[0], "20260309T235959.000Z");
        assert!(ids[0] < ids[1] && ids[1] < ids[2]);
        assert_eq!(id_time(&ids[1]), Some(b));
        assert_eq!(id_time(".20260309T235959.000Z.partial"), None);
        assert_eq!(id_for_names(&ids[0]), "20260309t235959000z");
    }
}
