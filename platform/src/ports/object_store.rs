//! The object-store port: keys in the bucket layout, create-only writes, streaming reads.

use std::fmt::Debug;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

/// Metadata of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    /// Opaque version tag, when the backend has one.
    pub e_tag: Option<String>,
}

/// How a put treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Fail with [`StoreError::AlreadyExists`] if the key exists (S3 `If-None-Match: *`, `link(2)` locally).
    #[default]
    Create,
    /// Replace whatever is there.
    Overwrite,
}

#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub mode: PutMode,
    pub content_type: Option<String>,
}

impl PutOptions {
    pub fn create() -> Self {
        PutOptions { mode: PutMode::Create, content_type: None }
    }
    pub fn overwrite() -> Self {
        PutOptions { mode: PutMode::Overwrite, content_type: None }
    }
}

/// A streaming read.
pub struct GetResult {
    pub meta: ObjectMeta,
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
}

impl GetResult {
    /// Collects the whole body.
    pub async fn bytes(self) -> Result<Bytes, StoreError> {
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        if chunks.len() == 1 {
            return Ok(chunks.into_iter().next().unwrap_or_default());
        }
        let mut all = Vec::with_capacity(self.meta.size as usize);
        for c in chunks {
            all.extend_from_slice(&c);
        }
        Ok(Bytes::from(all))
    }

    /// The body as an `AsyncRead`, for streaming parsers.
    pub fn into_async_read(self) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
        tokio_util::io::StreamReader::new(self.body.map(|r| r.map_err(std::io::Error::other)))
    }
}

impl Debug for GetResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetResult").field("meta", &self.meta).finish_non_exhaustive()
    }
}

/// Object-store failures. The source is kept, never flattened to text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("object {key:?} not found")]
    NotFound { key: String },
    #[error("object {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("precondition failed for {key:?}: {detail}")]
    Precondition { key: String, detail: String },
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("I/O error on {key:?}: {source}")]
    Io { key: String, source: std::io::Error },
    #[error("object store backend error on {key:?}: {source}")]
    Backend {
        key: String,
        retryable: bool,
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl StoreError {
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::NotFound { .. }
            | StoreError::AlreadyExists { .. }
            | StoreError::Precondition { .. }
            | StoreError::InvalidKey { .. } => false,
            StoreError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidInput
            ),
            StoreError::Backend { retryable, .. } => *retryable,
        }
    }
}

/// The required core of an object store.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug + 'static {
    /// Writes `payload` at `key` according to `opts.mode`.
    async fn put_opts(&self, key: &str, payload: Bytes, opts: PutOptions) -> Result<ObjectMeta, StoreError>;
    /// Opens a streaming read.
    async fn get(&self, key: &str) -> Result<GetResult, StoreError>;
    /// Metadata without the body.
    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    /// Removes an object; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// What an idempotent write found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was created by this call.
    Created(ObjectMeta),
    /// An identical object was already there (a re-run or redelivery).
    AlreadyIdentical(ObjectMeta),
}

/// Conveniences on top of [`ObjectStore`].
#[async_trait]
pub trait ObjectStoreExt: ObjectStore {
    /// Create-only write.
    async fn put_create(&self, key: &str, payload: Bytes) -> Result<ObjectMeta, StoreError> {
        self.put_opts(key, payload, PutOptions::create()).await
    }

    /// Create-only write that accepts an existing object with the same bytes. An existing object with
    /// different bytes is a [`StoreError::Precondition`]: outputs are never silently replaced.
    async fn put_idempotent(&self, key: &str, payload: Bytes) -> Result<PutOutcome, StoreError> {
        match self.put_create(key, payload.clone()).await {
            Ok(meta) => Ok(PutOutcome::Created(meta)),
            Err(StoreError::AlreadyExists { .. }) => {
                let existing = self.get(key).await?;
                let meta = existing.meta.clone();
                let bytes = existing.bytes().await?;
                if bytes == payload {
                    Ok(PutOutcome::AlreadyIdentical(meta))
                } else {
                    Err(StoreError::Precondition {
                        key: key.to_owned(),
                        detail: format!(
                            "exists with different content (sha256 {} != {})",
                            pinta_contracts::sha256_hex(&bytes),
                            pinta_contracts::sha256_hex(&payload)
                        ),
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the whole object.
    async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        self.get(key).await?.bytes().await
    }

    /// Whether the key exists.
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl<T: ObjectStore + ?Sized> ObjectStoreExt for T {}
