//! The outbox channel: each alert becomes one RFC 5322 `.eml` file in a folder, written atomically
//! (temp file, then rename). Used when no SMTP relay is configured and as the fallback when it fails.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{Alert, AlertChannel, ChannelError, build_message};

/// Writes alerts as `.eml` files.
#[derive(Debug, Clone)]
pub struct OutboxChannel {
    dir: PathBuf,
}

impl OutboxChannel {
    pub fn new(dir: PathBuf) -> OutboxChannel {
        OutboxChannel { dir }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Writes the alert; returns the file's path.
    pub async fn write(&self, alert: &Alert) -> Result<PathBuf, ChannelError> {
        let bytes = build_message(alert)?.formatted();
        let io = |path: &PathBuf| {
            let path = path.display().to_string();
            move |source| ChannelError::Io { path, source }
        };
        tokio::fs::create_dir_all(&self.dir).await.map_err(io(&self.dir))?;
        let name = format!(
            "{}-{:?}-{}.eml",
            alert.created_at.format("%Y%m%dT%H%M%SZ"),
            alert.severity,
            uuid::Uuid::new_v4().simple()
        )
        .to_lowercase();
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(name);
        tokio::fs::write(&tmp, &bytes).await.map_err(io(&tmp))?;
        tokio::fs::rename(&tmp, &path).await.map_err(io(&path))?;
        tracing::info!(path = %path.display(), subject = %alert.subject, "alert written to the outbox");
        Ok(path)
    }
}

#[async_trait]
impl AlertChannel for OutboxChannel {
    fn name(&self) -> &'static str {
        "outbox"
    }

    async fn send(&self, alert: &Alert) -> Result<(), ChannelError> {
        self.write(alert).await.map(|_| ())
    }
}
