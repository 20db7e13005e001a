//! [`DirDeadLetterStore`]: the dead-letter port as a folder of JSON files,
//! `<dir>/<queue>/<id>.json`, one per [`DeadLetter`], written atomically (hidden temp file + rename) so
//! an operator can read, edit or delete them by hand and a crash never leaves a half-written entry.
//!
//! Queue names and ids are single path segments: they cannot contain `/`, `\` or NUL, be `.`/`..`, or
//! start with `.` (reserved for temp files). A file that does not parse is reported as
//! [`BusError::Corrupt`] with its path.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::ports::{BusError, DeadLetter, DeadLetterStore};

const EXT: &str = ".json";

/// A [`DeadLetterStore`] in a local directory (created on the first write).
#[derive(Debug, Clone)]
pub struct DirDeadLetterStore {
    dir: PathBuf,
}

fn io(what: impl Into<String>, source: std::io::Error) -> BusError {
    BusError::Io { what: what.into(), source }
}

/// A queue name or id that cannot be a file name here.
#[derive(Debug, thiserror::Error)]
#[error("dead-letter {kind} {name:?} is not a valid name (one path segment, not starting with '.')")]
pub struct InvalidName {
    pub kind: &'static str,
    pub name: String,
}

/// The port has no "invalid argument" variant; a non-retryable backend error says the same.
fn invalid_name(kind: &'static str, name: &str) -> BusError {
    BusError::Backend { retryable: false, source: Box::new(InvalidName { kind, name: name.to_owned() }) }
}

fn valid_segment(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
}

impl DirDeadLetterStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirDeadLetterStore { dir: dir.into() }
    }

    /// The directory the entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn read_letter(path: &Path) -> Result<DeadLetter, BusError> {
    let text = fs::read_to_string(path).map_err(|e| io(path.display().to_string(), e))?;
    serde_json::from_str(&text).map_err(|source| BusError::Corrupt { path: path.display().to_string(), source })
}

/// Queue directories (only the one named when `queue` is given).
fn queue_dirs(dir: &Path, queue: Option<&str>) -> Result<Vec<PathBuf>, BusError> {
    if let Some(q) = queue {
        return Ok(vec![dir.join(q)]);
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(io(dir.display().to_string(), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir.display().to_string(), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if valid_segment(name) && entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Entry files of one queue directory.
fn letter_files(queue_dir: &Path) -> Result<Vec<PathBuf>, BusError> {
    let entries = match fs::read_dir(queue_dir) {
        Ok(e) => e,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(io(queue_dir.display().to_string(), e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(queue_dir.display().to_string(), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with('.') && name.ends_with(EXT) && entry.file_type().is_ok_and(|t| t.is_file()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

fn find(dir: &Path, id: &str) -> Result<Option<PathBuf>, BusError> {
    let file = format!("{id}{EXT}");
    for q in queue_dirs(dir, None)? {
        let candidate = q.join(&file);
        match fs::symlink_metadata(&candidate) {
            Ok(md) if md.is_file() => return Ok(Some(candidate)),
            Ok(_) => {}
            Err(e) if is_missing(&e) => {}
            Err(e) => return Err(io(candidate.display().to_string(), e)),
        }
    }
    Ok(None)
}

fn put_blocking(dir: &Path, letter: &DeadLetter) -> Result<(), BusError> {
    let queue_dir = dir.join(&letter.queue);
    fs::create_dir_all(&queue_dir).map_err(|e| io(queue_dir.display().to_string(), e))?;
    let json = serde_json::to_vec_pretty(letter).map_err(|e| io("dead-letter serialisation", std::io::Error::other(e)))?;
    let tmp = queue_dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let target = queue_dir.join(format!("{}{EXT}", letter.id));
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io(target.display().to_string(), e));
    }
    if let Ok(d) = fs::File::open(&queue_dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn list_blocking(dir: &Path, queue: Option<&str>) -> Result<Vec<DeadLetter>, BusError> {
    let mut out = Vec::new();
    for q in queue_dirs(dir, queue)? {
        for file in letter_files(&q)? {
            match read_letter(&file) {
                Ok(l) => out.push(l),
                // Removed while listing.
                Err(BusError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    out.sort_by(|a, b| a.dead_lettered_at.cmp(&b.dead_lettered_at).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

async fn blocking<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T, BusError> + Send + 'static,
) -> Result<T, BusError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => r,
        Err(join) => Err(io(what, std::io::Error::other(join))),
    }
}

#[async_trait]
impl DeadLetterStore for DirDeadLetterStore {
    async fn put(&self, letter: DeadLetter) -> Result<(), BusError> {
        if !valid_segment(&letter.queue) {
            return Err(invalid_name("queue", &letter.queue));
        }
        if !valid_segment(&letter.id) {
            return Err(invalid_name("id", &letter.id));
        }
        let dir = self.dir.clone();
        blocking("dead-letter put", move || put_blocking(&dir, &letter)).await
    }

    async fn list(&self, queue: Option<&str>) -> Result<Vec<DeadLetter>, BusError> {
        if let Some(q) = queue
            && !valid_segment(q)
        {
            return Err(invalid_name("queue", q));
        }
        let dir = self.dir.clone();
        let queue = queue.map(str::to_owned);
        blocking("dead-letter list", move || list_blocking(&dir, queue.as_deref())).await
    }

    async fn get(&self, id: &str) -> Result<DeadLetter, BusError> {
        if !valid_segment(id) {
            return Err(BusError::DeadLetterNotFound { id: id.to_owned() });
        }
        let dir = self.dir.clone();
        let owned = id.to_owned();
        blocking("dead-letter get", move || match find(&dir, &owned)? {
            Some(path) => match read_letter(&path) {
                Err(BusError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    Err(BusError::DeadLetterNotFound { id: owned })
                }
                other => other,
            },
            None => Err(BusError::DeadLetterNotFound { id: owned }),
        })
        .await
    }

    async fn remove(&self, id: &str) -> Result<(), BusError> {
        if !valid_segment(id) {
            return Err(BusError::DeadLetterNotFound { id: id.to_owned() });
        }
        let dir = self.dir.clone();
        let owned = id.to_owned();
        blocking("dead-letter remove", move || {
            let Some(path) = find(&dir, &owned)? else {
                return Err(BusError::DeadLetterNotFound { id: owned });
            };
            match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BusError::DeadLetterNotFound { id: owned }),
                Err(e) => Err(io(path.display().to_string(), e)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_segments() {
        for ok in ["validator", "a-b_c.d", "0b6f"] {
            assert!(valid_segment(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", ".tmp-1", "a\0"] {
            assert!(!valid_segment(bad), "{bad:?}");
        }
    }
}
