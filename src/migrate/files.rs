//! Migration files on disk: `<version>_<name>.up.sql` and an optional
//! `<version>_<name>.down.sql`, versions compared as numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::checksum;

#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub version: i64,
    pub name: String,
    pub up_path: PathBuf,
    pub down_path: Option<PathBuf>,
    /// The up file's text, normalised (no BOM, LF line endings).
    pub up_sql: String,
    pub checksum: String,
}

impl MigrationFile {
    pub fn label(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }

    pub fn read_down(&self) -> Result<String> {
        let path = self.down_path.as_ref().ok_or_else(|| {
            Error::Migrate(format!(
                "migration {} has no down file ({}_{}.down.sql); nothing was reverted",
                self.label(),
                self.version,
                self.name
            ))
        })?;
        read_text(path).map(|text| checksum::normalise(&text))
    }
}

enum Direction {
    Up,
    Down,
}

/// Splits `20240101120000_add_users.up.sql` into its parts.
fn parse_file_name(file_name: &str) -> Option<(i64, String, Direction)> {
    let (stem, direction) = if let Some(stem) = file_name.strip_suffix(".up.sql") {
        (stem, Direction::Up)
    } else if let Some(stem) = file_name.strip_suffix(".down.sql") {
        (stem, Direction::Down)
    } else {
        return None;
    };
    let (version, name) = stem.split_once('_')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    Some((version.parse().ok()?, name.to_string(), direction))
}

pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

/// Every migration in `dir`, by version. A missing directory holds none.
/// Files that end in `.sql` but do not follow the naming scheme are an
/// error rather than silently skipped: a typo must not hide a migration.
pub fn load_dir(dir: &Path) -> Result<Vec<MigrationFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::io(format!("reading migration directory {}", dir.display()), e));
        }
    };
    let mut ups: BTreeMap<i64, (String, PathBuf)> = BTreeMap::new();
    let mut downs: BTreeMap<i64, (String, PathBuf)> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let path = entry.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if !file_name.ends_with(".sql") || !path.is_file() {
            continue;
        }
        let Some((version, name, direction)) = parse_file_name(&file_name) else {
            return Err(Error::Usage(format!(
                "{}: not a migration file name; expected <version>_<name>.up.sql or .down.sql \
                 (e.g. 20240131120000_add_users.up.sql)",
                path.display()
            )));
        };
        let slot = match direction {
            Direction::Up => &mut ups,
            Direction::Down => &mut downs,
        };
        if let Some((_, other)) = slot.insert(version, (name, path.clone())) {
            return Err(Error::Usage(format!(
                "two migrations share version {version}: {} and {}",
                other.display(),
                path.display()
            )));
        }
    }
    if let Some((version, (_, path))) = downs.iter().find(|(v, _)| !ups.contains_key(v)) {
        return Err(Error::Usage(format!(
            "{}: down file without an up file for version {version}",
            path.display()
        )));
    }
    let mut files = Vec::with_capacity(ups.len());
    for (version, (name, up_path)) in ups {
        let text = read_text(&up_path)?;
        files.push(MigrationFile {
            version,
            name,
            checksum: checksum::checksum(&text),
            up_sql: checksum::normalise(&text),
            down_path: downs.remove(&version).map(|(_, path)| path),
            up_path,
        });
    }
    Ok(files)
}

/// Lower-case letters, digits and underscores; anything else becomes `_`.
pub fn sanitise_name(name: &str) -> Result<String> {
    let mut cleaned = String::new();
    for c in name.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            cleaned.push(c);
        } else if !cleaned.ends_with('_') {
            cleaned.push('_');
        }
    }
    let cleaned = cleaned.trim_matches('_').to_string();
    if cleaned.is_empty() {
        return Err(Error::Usage(format!(
            "migration name {name:?} has no letters or digits; try e.g. add_users_email"
        )));
    }
    Ok(cleaned)
}

/// Writes a new pair of files. The version is the current UTC time, or one
/// second after the newest existing file so that new files always sort last.
pub fn create_pair(dir: &Path, name: &str, up_sql: &str, down_sql: &str) -> Result<(PathBuf, PathBuf)> {
    let name = sanitise_name(name)?;
    let existing = load_dir(dir)?;
    let newest = existing.last().map(|f| f.version);
    let mut version = super::timestamp::now_version();
    if let Some(newest) = newest
        && version <= newest
    {
        version = newest + 1;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let up = dir.join(format!("{version}_{name}.up.sql"));
    let down = dir.join(format!("{version}_{name}.down.sql"));
    for (path, text) in [(&up, up_sql), (&down, down_sql)] {
        std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok((up, down))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let (v, n, _) = parse_file_name("20240101120000_add_users.up.sql").unwrap();
        assert_eq!((v, n.as_str()), (20240101120000, "add_users"));
        assert!(parse_file_name("1_x.down.sql").is_some());
        assert!(parse_file_name("abc_x.up.sql").is_none());
        assert!(parse_file_name("20240101.up.sql").is_none());
        assert!(parse_file_name("1_x.sql").is_none());
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitise_name("Add Users-Email!").unwrap(), "add_users_email");
        assert!(sanitise_name("!!").is_err());
    }
}
