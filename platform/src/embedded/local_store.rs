//! [`LocalObjectStore`]: the object-store port on a local directory.
//!
//! A key `crudos/produccion_raw_2025-01-07.csv` is the file `<root>/crudos/produccion_raw_2025-01-07.csv`.
//! Writes are atomic: the bytes go to a hidden temp file (`.tmp-<uuid>`) in the target directory, are
//! fsynced, and then either hard-linked to the final name (create-only: `link(2)` fails atomically if the
//! name exists) or renamed over it (overwrite). Readers therefore never see a partial object, and a
//! crash leaves at most a hidden temp file, never a truncated object.
//!
//! Names starting with `.` are reserved for temp files and internal state: no key segment may start
//! with a dot, and listings skip dot-files and dot-directories. Only regular files are objects; symbolic
//! links and other special files under the root are ignored by [`ObjectStore::list`].
//!
//! The file system cannot hold both an object `a` and an object `a/b` (S3 can); writing one when the
//! other exists fails with [`StoreError::Precondition`] (or an I/O error for the parent directory).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::ports::{GetResult, ObjectMeta, ObjectStore, PutMode, PutOptions, StoreError};

/// Read buffer size of streaming gets.
const READ_CHUNK: usize = 64 * 1024;

/// An [`ObjectStore`] rooted at a local directory (created on the first write).
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
}

impl LocalObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjectStore { root: root.into() }
    }

    /// The directory the objects live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`, after validating it.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_key(key)?;
        let mut path = self.root.clone();
        path.extend(key.split('/'));
        Ok(path)
    }
}

fn invalid(key: &str, reason: &'static str) -> StoreError {
    StoreError::InvalidKey { key: key.to_owned(), reason }
}

fn validate_chars(key: &str) -> Result<(), StoreError> {
    if key.contains('\\') {
        return Err(invalid(key, "contains a backslash"));
    }
    if key.contains('\0') {
        return Err(invalid(key, "contains a NUL character"));
    }
    if key.starts_with('/') {
        return Err(invalid(key, "starts with '/'"));
    }
    Ok(())
}

fn validate_segment(key: &str, segment: &str) -> Result<(), StoreError> {
    if segment.is_empty() {
        return Err(invalid(key, "has an empty path segment"));
    }
    if segment == "." || segment == ".." {
        return Err(invalid(key, "has a '.' or '..' segment"));
    }
    if segment.starts_with('.') {
        return Err(invalid(key, "has a segment starting with '.' (reserved)"));
    }
    Ok(())
}

/// Checks that `key` is a relative `/`-separated path that stays inside the root and names no reserved
/// (dot) file.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(invalid(key, "is empty"));
    }
    validate_chars(key)?;
    for segment in key.split('/') {
        validate_segment(key, segment)?;
    }
    Ok(())
}

/// Checks a list prefix: the part up to the last `/` must be valid key segments; the rest is a partial
/// name. Returns `(directory segments, partial name)`.
fn split_prefix(prefix: &str) -> Result<(Vec<&str>, &str), StoreError> {
    validate_chars(prefix)?;
    match prefix.rsplit_once('/') {
        None => Ok((Vec::new(), prefix)),
        Some((dirs, name)) => {
            let segments: Vec<&str> = dirs.split('/').collect();
            for s in &segments {
                validate_segment(prefix, s)?;
            }
            if name == ".." {
                return Err(invalid(prefix, "has a '.' or '..' segment"));
            }
            Ok((segments, name))
        }
    }
}

fn io_err(key: &str, source: std::io::Error) -> StoreError {
    StoreError::Io { key: key.to_owned(), source }
}

fn not_found(key: &str) -> StoreError {
    StoreError::NotFound { key: key.to_owned() }
}

fn to_utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

fn meta_of(key: &str, md: &fs::Metadata) -> ObjectMeta {
    let modified = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let nanos = modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    ObjectMeta {
        key: key.to_owned(),
        size: md.len(),
        last_modified: to_utc(modified),
        e_tag: Some(format!("{:x}-{:x}", md.len(), nanos)),
    }
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T, F>(key: &str, work: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(io_err(key, std::io::Error::other(join))),
    }
}

/// Removes a temp file on drop unless disarmed, so no error path leaves one behind.
struct TempGuard {
    path: Option<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn put_blocking(path: &Path, key: &str, payload: &[u8], mode: PutMode) -> Result<ObjectMeta, StoreError> {
    let parent = path.parent().ok_or_else(|| invalid(key, "has no parent directory"))?;
    fs::create_dir_all(parent).map_err(|e| io_err(key, e))?;
    let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let guard = TempGuard { path: Some(tmp.clone()) };
    {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| io_err(key, e))?;
        file.write_all(payload).map_err(|e| io_err(key, e))?;
        file.sync_all().map_err(|e| io_err(key, e))?;
    }
    match mode {
        PutMode::Create => match fs::hard_link(&tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if path.is_dir() {
                    return Err(StoreError::Precondition {
                        key: key.to_owned(),
                        detail: "a directory of other objects exists under this name".to_owned(),
                    });
                }
                return Err(StoreError::AlreadyExists { key: key.to_owned() });
            }
            Err(e) => return Err(io_err(key, e)),
        },
        PutMode::Overwrite => {
            if path.is_dir() {
                return Err(StoreError::Precondition {
                    key: key.to_owned(),
                    detail: "a directory of other objects exists under this name".to_owned(),
                });
            }
            fs::rename(&tmp, path).map_err(|e| io_err(key, e))?;
        }
    }
    // For `Create` the guard removes the temp name (the data stays reachable through the final link);
    // after `rename` the temp name no longer exists and the removal is a no-op.
    drop(guard);
    sync_dir(parent);
    let md = fs::metadata(path).map_err(|e| io_err(key, e))?;
    Ok(meta_of(key, &md))
}

/// Makes the new directory entry durable. Best effort: not every platform can fsync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn list_blocking(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
    let (dirs, partial) = split_prefix(prefix)?;
    let mut dir = root.to_path_buf();
    let mut key_base = String::new();
    for d in &dirs {
        dir.push(d);
        key_base.push_str(d);
        key_base.push('/');
    }
    let mut out = Vec::new();
    walk(&dir, &key_base, Some(partial), prefix, &mut out)?;
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Collects every regular, non-hidden file under `dir` (whose key starts with `key_base`). At the top
/// level only names starting with `partial` are considered.
fn walk(
    dir: &Path,
    key_base: &str,
    partial: Option<&str>,
    prefix: &str,
    out: &mut Vec<ObjectMeta>,
) -> Result<(), StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Ok(());
        }
        Err(e) => return Err(io_err(prefix, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err(prefix, e))?;
        let name = entry.file_name();
        // Names that are not UTF-8 cannot be keys.
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        if let Some(p) = partial
            && !name.starts_with(p)
        {
            continue;
        }
        let file_type = match entry.file_type() {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(prefix, e)),
        };
        let key = format!("{key_base}{name}");
        if file_type.is_dir() {
            walk(&entry.path(), &format!("{key}/"), None, prefix, out)?;
        } else if file_type.is_file() {
            if validate_key(&key).is_err() {
                continue;
            }
            match entry.metadata() {
                Ok(md) => out.push(meta_of(&key, &md)),
                // Deleted while listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&key, e)),
            }
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put_opts(&self, key: &str, payload: Bytes, opts: PutOptions) -> Result<ObjectMeta, StoreError> {
        let path = self.path_of(key)?;
        let owned = key.to_owned();
        blocking(key, move || put_blocking(&path, &owned, &payload, opts.mode)).await
    }

    async fn get(&self, key: &str) -> Result<GetResult, StoreError> {
        let path = self.path_of(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                return Err(not_found(key));
            }
            Err(e) => return Err(io_err(key, e)),
        };
        // Metadata of the opened file, so size and body agree even if the key is overwritten meanwhile.
        let md = file.metadata().await.map_err(|e| io_err(key, e))?;
        if !md.is_file() {
            return Err(not_found(key));
        }
        let meta = meta_of(key, &md);
        let owned = key.to_owned();
        let body = tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK)
            .map(move |chunk| chunk.map_err(|e| io_err(&owned, e)))
            .boxed();
        Ok(GetResult { meta, body })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(md) if md.is_file() => Ok(meta_of(key, &md)),
            Ok(_) => Err(not_found(key)),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                Err(not_found(key))
            }
            Err(e) => Err(io_err(key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        split_prefix(prefix)?;
        let root = self.root.clone();
        let owned = prefix.to_owned();
        blocking(prefix, move || list_blocking(&root, &owned)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::symlink_metadata(&path).await {
            Ok(md) if md.is_dir() => return Ok(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                return Ok(());
            }
            Err(e) => return Err(io_err(key, e)),
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        for ok in ["a", "crudos/produccion_raw_2025-01-07.csv", "_control/inbox/x/abc", "a/b.c/d..e"] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "../x", "a/../b", "./a", "a/.", ".hidden", "a/.tmp-1", "a\\b", "a\0b"] {
            assert!(matches!(validate_key(bad), Err(StoreError::InvalidKey { .. })), "{bad:?}");
        }
    }

    #[test]
    fn prefixes_may_end_mid_name_but_not_escape() {
        assert_eq!(split_prefix("").unwrap(), (vec![], ""));
        assert_eq!(split_prefix("crudos/produccion_raw_2025-01").unwrap(), (vec!["crudos"], "produccion_raw_2025-01"));
        assert_eq!(split_prefix("produccion/2025-01/").unwrap(), (vec!["produccion", "2025-01"], ""));
        for bad in ["../", "a/../b", "/a", "a//", "a/..", "a\\b"] {
            assert!(split_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
