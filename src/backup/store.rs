//! Where backups live: a local directory or an S3-compatible bucket, behind
//! one type. Each backup is `<location>/<id>/`, complete once its
//! `manifest.json` exists:
//! - directory: written as `.<id>.partial/`, manifest written last, then
//!   renamed to `<id>/` (a rename is atomic on one filesystem);
//! - S3: dumped to a local temporary directory, each file uploaded
//!   (multipart, streamed from disk), then `manifest.json` last; a restore
//!   downloads into a temporary directory once. Either way there is never
//!   more than one full copy on local disk.
//!
//! object_store is async; a small current-thread tokio runtime lives here
//! and nowhere else.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::backup::manifest::{self, FileEntry, MANIFEST, Manifest};
use crate::error::{Error, Result};

/// A backup that is not complete (killed, failed, or still running) is
/// only cleaned up by `prune` once it is this old.
pub const STALE_AFTER_HOURS: i64 = 24;

const UPLOAD_PART: usize = 16 << 20;

pub struct Store {
    kind: Kind,
    display: String,
}

enum Kind {
    Dir(PathBuf),
    S3(S3Store),
}

struct S3Store {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
    /// Without leading or trailing slash; empty for the bucket's root.
    prefix: String,
}

/// One backup directory or prefix found in a location.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub complete: bool,
    /// The newest write seen in it.
    pub modified: Option<DateTime<Utc>>,
}

/// Where a new backup is being written.
pub struct Staging {
    pub dir: PathBuf,
    pub id: String,
    /// For S3: the local directory, removed on drop.
    temp: Option<tempfile::TempDir>,
}

/// A backup's files on local disk, ready for pg_restore.
pub struct LocalCopy {
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Store {
    /// `s3://bucket/prefix` or a directory path.
    pub fn open(location: &str) -> Result<Store> {
        let location = location.trim_end_matches('/');
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Usage(format!("{location}: no bucket; use s3://BUCKET/PREFIX")));
            }
            return Ok(Store {
                kind: Kind::S3(S3Store::open(bucket, prefix.trim_matches('/'))?),
                display: location.to_string(),
            });
        }
        if location.is_empty() {
            return Err(Error::Usage("empty backup location".into()));
        }
        let path = PathBuf::from(location);
        if path.exists() && !path.is_dir() {
            return Err(Error::Usage(format!("{location} is not a directory")));
        }
        Ok(Store {
            kind: Kind::Dir(path),
            display: location.to_string(),
        })
    }

    /// Splits `LOCATION/<id>` into the store and the id. A bare location
    /// (no id at the end) means its newest complete backup.
    pub fn open_backup(backup: &str) -> Result<(Store, String)> {
        let trimmed = backup.trim_end_matches('/');
        let (location, id) = trimmed.rsplit_once('/').unwrap_or((".", trimmed));
        if manifest::id_time(id).is_some() {
            let location = if location.is_empty() { "/" } else { location };
            return Ok((Store::open(location)?, id.to_string()));
        }
        let store = Store::open(trimmed)?;
        let newest = store.entries()?.into_iter().rev().find(|e| e.complete).ok_or_else(|| {
            Error::Backup(format!(
                "{backup}: no complete backup there (a backup is DIR/<id> or s3://BUCKET/PREFIX/<id>, \
                     with an id such as 20261201T073012.345Z; see `godwit backup list`)"
            ))
        })?;
        Ok((store, newest.id))
    }

    pub fn location(&self) -> &str {
        &self.display
    }

    pub fn backup_path(&self, id: &str) -> String {
        match &self.kind {
            Kind::Dir(dir) => dir.join(id).display().to_string(),
            Kind::S3(_) => format!("{}/{id}", self.display),
        }
    }

    /// Every backup found, complete or not, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut entries = match &self.kind {
            Kind::Dir(dir) => dir_entries(dir)?,
            Kind::S3(s3) => s3.entries()?,
        };
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(entries)
    }

    /// A small file of a complete backup (manifest, verified.json), or None.
    pub fn read_file(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        match &self.kind {
            Kind::Dir(dir) => match std::fs::read(dir.join(id).join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io(format!("reading {}", dir.join(id).join(name).display()), e)),
            },
            Kind::S3(s3) => s3.read(&s3.key(id, name)),
        }
    }

    pub fn read_manifest(&self, id: &str) -> Result<Manifest> {
        let origin = format!("{}/{MANIFEST}", self.backup_path(id));
        let bytes = self.read_file(id, MANIFEST)?.ok_or_else(|| {
            Error::Backup(format!(
                "{}: no such complete backup (no {MANIFEST})",
                self.backup_path(id)
            ))
        })?;
        Manifest::parse(&bytes, &origin)
    }

    /// Writes a small file into a complete backup, replacing it atomically.
    pub fn write_file(&self, id: &str, name: &str, bytes: &[u8]) -> Result<()> {
        match &self.kind {
            Kind::Dir(dir) => {
                let tmp = dir.join(id).join(format!(".{name}.tmp"));
                std::fs::write(&tmp, bytes).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
                std::fs::rename(&tmp, dir.join(id).join(name))
                    .map_err(|e| Error::io(format!("writing {}", dir.join(id).join(name).display()), e))
            }
            Kind::S3(s3) => s3.put(&s3.key(id, name), bytes.to_vec()),
        }
    }

    /// Starts a new backup: `.<id>.partial/` in a directory, a local
    /// temporary directory for S3.
    pub fn begin(&self, id: &str) -> Result<Staging> {
        match &self.kind {
            Kind::Dir(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
                let partial = dir.join(format!(".{id}.partial"));
                std::fs::create_dir(&partial).map_err(|e| Error::io(format!("creating {}", partial.display()), e))?;
                Ok(Staging {
                    dir: partial,
                    id: id.to_string(),
                    temp: None,
                })
            }
            Kind::S3(_) => {
                let temp = tempfile::Builder::new()
                    .prefix("godwit-backup-")
                    .tempdir()
                    .map_err(|e| Error::io("creating a temporary directory for the dump", e))?;
                Ok(Staging {
                    dir: temp.path().join("dump"),
                    id: id.to_string(),
                    temp: Some(temp),
                })
            }
        }
    }

    /// Removes a backup that failed before it was complete.
    pub fn discard(&self, staging: Staging) {
        if staging.temp.is_none() {
            let _ = std::fs::remove_dir_all(&staging.dir);
        }
    }

    /// Makes a staged backup complete: the manifest is the last thing written.
    pub fn commit(&self, staging: Staging, manifest: &Manifest) -> Result<()> {
        let bytes = manifest.to_json();
        match &self.kind {
            Kind::Dir(dir) => {
                let path = staging.dir.join(MANIFEST);
                let mut file =
                    std::fs::File::create(&path).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                file.write_all(&bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                let done = dir.join(&staging.id);
                std::fs::rename(&staging.dir, &done)
                    .map_err(|e| Error::io(format!("renaming {} to {}", staging.dir.display(), done.display()), e))?;
                // The rename is durable once the directory itself is synced.
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
            Kind::S3(s3) => {
                for file in &manifest.files {
                    s3.upload(&staging.dir.join(&file.path), &s3.key(&staging.id, &file.path))?;
                }
                s3.put(&s3.key(&staging.id, MANIFEST), bytes)
            }
        }
    }

    /// Deletes a backup. The manifest goes first, so a delete cut short
    /// leaves an incomplete backup, never a complete-looking damaged one.
    pub fn delete(&self, id: &str) -> Result<()> {
        match &self.kind {
            Kind::Dir(dir) => {
                let doomed = dir.join(format!(".{id}.deleting"));
                let complete = dir.join(id);
                // What a delete killed midway left: finish it first, or the
                // rename below would fail on a non-empty directory.
                if doomed.exists() {
                    std::fs::remove_dir_all(&doomed)
                        .map_err(|e| Error::io(format!("deleting {}", doomed.display()), e))?;
                }
                if complete.exists() {
                    std::fs::rename(&complete, &doomed)
                        .map_err(|e| Error::io(format!("deleting {}", complete.display()), e))?;
                }
                for path in [doomed, dir.join(format!(".{id}.partial"))] {
                    if path.exists() {
                        std::fs::remove_dir_all(&path)
                            .map_err(|e| Error::io(format!("deleting {}", path.display()), e))?;
                    }
                }
                Ok(())
            }
            Kind::S3(s3) => s3.delete_backup(id),
        }
    }

    /// Finishes the deletes a killed prune left (`.<id>.deleting`
    /// directories: already no backup, whatever their age). Returns their ids.
    pub fn finish_interrupted_deletes(&self) -> Result<Vec<String>> {
        let Kind::Dir(dir) = &self.kind else {
            // On S3 a delete removes the manifest first; the rest is an
            // incomplete prefix, pruned as such.
            return Ok(Vec::new());
        };
        let Ok(read) = std::fs::read_dir(dir) else {
            return Ok(Vec::new());
        };
        let mut finished = Vec::new();
        for item in read.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".deleting"))
                && manifest::id_time(id).is_some()
            {
                std::fs::remove_dir_all(item.path())
                    .map_err(|e| Error::io(format!("deleting {}", item.path().display()), e))?;
                finished.push(id.to_string());
            }
        }
        Ok(finished)
    }

    /// Checks every file of a backup against its manifest and returns a
    /// local directory pg_restore can read: the backup itself for a
    /// directory, a single download for S3. Differences name the file.
    pub fn fetch_checked(&self, id: &str, manifest: &Manifest) -> Result<(LocalCopy, Vec<String>)> {
        match &self.kind {
            Kind::Dir(dir) => {
                let root = dir.join(id);
                let mut differences = Vec::new();
                for file in &manifest.files {
                    let path = root.join(&file.path);
                    match sha256_file(&path) {
                        Ok(found) => differences.extend(compare_file(file, &found)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            differences.push(format!("file {}: missing", file.path));
                        }
                        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
                    }
                }
                Ok((LocalCopy { dir: root, _temp: None }, differences))
            }
            Kind::S3(s3) => {
                let temp = tempfile::Builder::new()
                    .prefix("godwit-restore-")
                    .tempdir()
                    .map_err(|e| Error::io("creating a temporary directory for the download", e))?;
                let mut differences = Vec::new();
                for file in &manifest.files {
                    match s3.download(&s3.key(id, &file.path), &temp.path().join(&file.path))? {
                        Some(found) => differences.extend(compare_file(file, &found)),
                        None => differences.push(format!("file {}: missing", file.path)),
                    }
                }
                Ok((
                    LocalCopy {
                        dir: temp.path().to_path_buf(),
                        _temp: Some(temp),
                    },
                    differences,
                ))
            }
        }
    }
}

fn compare_file(expected: &FileEntry, found: &(u64, String)) -> Option<String> {
    if found.0 != expected.size {
        Some(format!(
            "file {}: {} bytes, the manifest says {}",
            expected.path, found.0, expected.size
        ))
    } else if found.1 != expected.sha256 {
        Some(format!("file {}: sha256 differs from the manifest", expected.path))
    } else {
        None
    }
}

/// Size and sha256 of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dir_entries(dir: &Path) -> Result<Vec<Entry>> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let mut entries = Vec::new();
    for item in read.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        if !item.path().is_dir() {
            continue;
        }
        let (id, complete) = match name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".partial").or_else(|| n.strip_suffix(".deleting")))
        {
            Some(id) => (id.to_string(), false),
            None => (name.clone(), item.path().join(MANIFEST).is_file()),
        };
        if manifest::id_time(&id).is_none() {
            continue;
        }
        entries.push(Entry {
            id,
            complete,
            modified: newest_mtime(&item.path()),
        });
    }
    Ok(entries)
}

fn newest_mtime(dir: &Path) -> Option<DateTime<Utc>> {
    let mut times: Vec<std::time::SystemTime> = std::fs::metadata(dir).and_then(|m| m.modified()).into_iter().collect();
    if let Ok(read) = std::fs::read_dir(dir) {
        times.extend(
            read.flatten()
                .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok()),
        );
    }
    times.into_iter().max().map(DateTime::<Utc>::from)
}

impl S3Store {
    /// Configured from the usual AWS variables: AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL. Plain http is
    /// allowed for a loopback endpoint (a local MinIO or moto); elsewhere
    /// only with AWS_ALLOW_HTTP=true.
    fn open(bucket: &str, prefix: &str) -> Result<S3Store> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = builder.get_config_value(&AmazonS3ConfigKey::Endpoint)
            && is_loopback_http(&endpoint)
        {
            builder = builder.with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(|e| Error::Backup(format!("s3://{bucket}: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the S3 client runtime", e))?;
        Ok(S3Store {
            runtime,
            store: Arc::new(store),
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, id: &str, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(format!("{id}/{name}"))
        } else {
            ObjectPath::from(format!("{}/{id}/{name}", self.prefix))
        }
    }

    fn prefix_path(&self, id: Option<&str>) -> Option<ObjectPath> {
        let text = match (self.prefix.is_empty(), id) {
            (true, None) => return None,
            (true, Some(id)) => id.to_string(),
            (false, None) => self.prefix.clone(),
            (false, Some(id)) => format!("{}/{id}", self.prefix),
        };
        Some(ObjectPath::from(text))
    }

    fn list(&self, id: Option<&str>) -> Result<Vec<object_store::ObjectMeta>> {
        let prefix = self.prefix_path(id);
        self.runtime.block_on(async {
            let mut stream = self.store.list(prefix.as_ref());
            let mut all = Vec::new();
            while let Some(item) = stream.next().await {
                all.push(item.map_err(|e| s3_error("listing", &e))?);
            }
            Ok(all)
        })
    }

    fn entries(&self) -> Result<Vec<Entry>> {
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.split('/').count()
        };
        let mut entries: Vec<Entry> = Vec::new();
        for object in self.list(None)? {
            let mut parts = object.location.parts().skip(skip);
            let (Some(id), Some(name)) = (parts.next(), parts.next()) else {
                continue;
            };
            let id = id.as_ref().to_string();
            if manifest::id_time(&id).is_none() {
                continue;
            }
            let is_manifest = name.as_ref() == MANIFEST && parts.next().is_none();
            match entries.iter_mut().find(|e| e.id == id) {
                Some(entry) => {
                    entry.complete |= is_manifest;
                    entry.modified = entry.modified.max(Some(object.last_modified));
                }
                None => entries.push(Entry {
                    id,
                    complete: is_manifest,
                    modified: Some(object.last_modified),
                }),
            }
        }
        Ok(entries)
    }

    fn read(&self, key: &ObjectPath) -> Result<Option<Vec<u8>>> {
        self.runtime.block_on(async {
            match self.store.get(key).await {
                Ok(result) => Ok(Some(
                    result
                        .bytes()
                        .await
                        .map_err(|e| s3_error(&format!("reading {key}"), &e))?
                        .to_vec(),
                )),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_error(&format!("reading {key}"), &e)),
            }
        })
    }

    fn put(&self, key: &ObjectPath, bytes: Vec<u8>) -> Result<()> {
        self.runtime.block_on(async {
            self.store
                .put(key, bytes.into())
                .await
                .map(|_| ())
                .map_err(|e| s3_error(&format!("writing {key}"), &e))
        })
    }

    /// Streams a file up: one PUT when small, a multipart upload above 16 MiB.
    fn upload(&self, file: &Path, key: &ObjectPath) -> Result<()> {
        let mut source = std::fs::File::open(file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        self.runtime.block_on(async {
            // 16 MiB parts, 4 in flight: 64 MiB of memory, and S3's 10,000
            // parts allow files up to 156 GiB (pg_dump writes one per table).
            let mut writer =
                object_store::buffered::BufWriter::with_capacity(Arc::clone(&self.store), key.clone(), UPLOAD_PART)
                    .with_max_concurrency(4);
            let mut buffer = vec![0u8; 1 << 20];
            let outcome: Result<()> = async {
                loop {
                    if crate::report::interrupt::requested() {
                        return Err(Error::Interrupted);
                    }
                    let n = source
                        .read(&mut buffer)
                        .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
                    if n == 0 {
                        break;
                    }
                    writer
                        .write_all(&buffer[..n])
                        .await
                        .map_err(|e| Error::Backup(format!("uploading {key}: {e}")))?;
                }
                writer
                    .shutdown()
                    .await
                    .map_err(|e| Error::Backup(format!("uploading {key}: {e}")))
            }
            .await;
            if outcome.is_err() {
                let _ = writer.abort().await;
            }
            outcome
        })
    }

    /// Streams an object down into `dest`, hashing on the way. None when it
    /// does not exist.
    fn download(&self, key: &ObjectPath, dest: &Path) -> Result<Option<(u64, String)>> {
        self.runtime.block_on(async {
            let result = match self.store.get(key).await {
                Ok(result) => result,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(s3_error(&format!("downloading {key}"), &e)),
            };
            let mut file =
                std::fs::File::create(dest).map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut stream = result.into_stream();
            while let Some(chunk) = stream.next().await {
                if crate::report::interrupt::requested() {
                    return Err(Error::Interrupted);
                }
                let chunk = chunk.map_err(|e| s3_error(&format!("downloading {key}"), &e))?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk)
                    .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
            }
            Ok(Some((size, hex(&hasher.finalize()))))
        })
    }

    fn delete_backup(&self, id: &str) -> Result<()> {
        let manifest_key = self.key(id, MANIFEST);
        self.runtime.block_on(async {
            match self.store.delete(&manifest_key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(s3_error(&format!("deleting {manifest_key}"), &e)),
            }
        })?;
        for object in self.list(Some(id))? {
            self.runtime.block_on(async {
                match self.store.delete(&object.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(s3_error(&format!("deleting {}", object.location), &e)),
                }
            })?;
        }
        Ok(())
    }
}

fn s3_error(what: &str, e: &object_store::Error) -> Error {
    Error::Backup(format!("S3 {what}: {e}"))
}

fn is_loopback_http(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_only() {
        assert!(is_loopback_http("http://127.0.0.1:9000"));
        assert!(is_loopback_http("http://localhost:5000/"));
        assert!(is_loopback_http("http://[::1]:9000"));
        assert!(!is_loopback_http("http://minio.internal:9000"));
        assert!(!is_loopback_http("https://127.0.0.1:9000"));
    }

    #[test]
    fn backup_names_split_into_location_and_id() {
        let (store, id) = Store::open_backup("/var/backups/app/20261201T073012.345Z/").unwrap();
        assert_eq!(store.location(), "/var/backups/app");
        assert_eq!(id, "20261201T073012.345Z");
        let empty = tempfile::tempdir().unwrap();
        let err = Store::open_backup(empty.path().to_str().unwrap()).err().unwrap();
        assert!(err.to_string().contains("no complete backup there"), "{err}");
    }
}
