//! Configuration of the `pinta` binary: global flags with environment fallbacks (12-factor) and
//! defaults that make `pinta up` work with nothing set.

use std::path::{Path, PathBuf};

use chrono::FixedOffset;

/// Validated configuration shared by every subcommand.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root of the local object store (bucket layout) and of Pinta's state (`.pinta/`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `mysql://…`.
    pub source_url: String,
    /// UTC offset of the plant's clock for the daily schedule (Mexico City: -06:00, no DST).
    pub schedule_offset: FixedOffset,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("PINTA_DATA_DIR / --data-dir {path:?} cannot be used: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("PINTA_SOURCE_URL / --source {url:?} is not supported: expected sqlite://PATH or mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE")]
    SourceUrl { url: String },
    #[error("PINTA_SCHEDULE_UTC_OFFSET {value:?} is invalid: expected e.g. -06:00")]
    Offset { value: String },
}

impl Config {
    /// Builds and validates the configuration; creates the data directory.
    pub fn new(data_dir: &Path, source: Option<&str>, offset: Option<&str>) -> Result<Config, ConfigError> {
        std::fs::create_dir_all(data_dir.join(".pinta"))
            .map_err(|source| ConfigError::DataDir { path: data_dir.to_owned(), source })?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|source| ConfigError::DataDir { path: data_dir.to_owned(), source })?;
        let source_url = match source {
            Some(url) if url.starts_with("sqlite:") || url.starts_with("mysql:") || url.starts_with("mariadb:") => {
                url.to_owned()
            }
            Some(url) => return Err(ConfigError::SourceUrl { url: url.to_owned() }),
            None => format!("sqlite://{}", data_dir.join(".pinta").join("source.sqlite").display()),
        };
        let text = offset.unwrap_or("-06:00");
        let schedule_offset = text.parse::<FixedOffset>().map_err(|_| ConfigError::Offset { value: text.to_owned() })?;
        Ok(Config { data_dir, source_url, schedule_offset })
    }

    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join(".pinta")
    }

    pub fn dead_letter_dir(&self) -> PathBuf {
        self.state_dir().join("dlq")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.state_dir().join("outbox")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::new(dir.path(), None, None).unwrap();
        assert!(c.source_url.starts_with("sqlite://") && c.source_url.ends_with("source.sqlite"));
        assert_eq!(c.schedule_offset, FixedOffset::west_opt(6 * 3600).unwrap());
        assert!(Config::new(dir.path(), Some("postgres://x"), None).is_err());
        assert!(Config::new(dir.path(), None, Some("mexico")).is_err());
        let e = Config::new(dir.path(), Some("ftp://x"), None).unwrap_err().to_string();
        assert!(e.contains("PINTA_SOURCE_URL"), "{e}");
    }
}
