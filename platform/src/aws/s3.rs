//! [`S3ObjectStore`]: the object-store port on Amazon S3 (or any S3-protocol endpoint).
//!
//! Create-only writes send `If-None-Match: *`; S3 answers 412 (or 409 when two conditional writes race)
//! when the key exists, which becomes [`StoreError::AlreadyExists`]. Reads stream the body chunk by
//! chunk. Keys are validated exactly like the local store's, so a key that works in one mode works in
//! the other. A custom endpoint (emulators) switches to path-style addressing.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{boxed, classify, status_of};
use crate::embedded::local_store::validate_key;
use crate::ports::{GetResult, ObjectMeta, ObjectStore, PutMode, PutOptions, StoreError};

/// An [`ObjectStore`] on one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    /// `path_style`: address the bucket in the path (needed by emulators on a custom endpoint).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>, path_style: bool) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build();
        S3ObjectStore { client: aws_sdk_s3::Client::from_conf(conf), bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket if it does not exist (development set-up).
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(backend("", e)),
        }
        let mut req = self.client.create_bucket().bucket(&self.bucket);
        if let Some(region) = self.client.config().region().map(|r| r.as_ref().to_owned())
            && region != "us-east-1"
        {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(status_of(&e), Some(409)) => Ok(()),
            Err(e) => Err(backend("", e)),
        }
    }
}

fn backend<E, R>(key: &str, e: aws_sdk_s3::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: super::HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = classify(&e);
    StoreError::Backend { key: key.to_owned(), retryable, source: boxed(e) }
}

fn to_utc(t: Option<&aws_sdk_s3::primitives::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())).unwrap_or_else(Utc::now)
}

fn invalid(key: &str, reason: &'static str) -> StoreError {
    StoreError::InvalidKey { key: key.to_owned(), reason }
}

/// The same rules as the local store: the folder part must be valid key segments, the rest is a
/// partial name.
fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.contains('\\') {
        return Err(invalid(prefix, "contains a backslash"));
    }
    if prefix.contains('\0') {
        return Err(invalid(prefix, "contains a NUL character"));
    }
    if prefix.starts_with('/') {
        return Err(invalid(prefix, "starts with '/'"));
    }
    if let Some((dirs, name)) = prefix.rsplit_once('/') {
        validate_key(dirs)?;
        if name == ".." {
            return Err(invalid(prefix, "has a '.' or '..' segment"));
        }
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put_opts(&self, key: &str, payload: Bytes, opts: PutOptions) -> Result<ObjectMeta, StoreError> {
        validate_key(key)?;
        let size = payload.len() as u64;
        let mut req = self.client.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(payload));
        if opts.mode == PutMode::Create {
            req = req.if_none_match("*");
        }
        if let Some(ct) = &opts.content_type {
            req = req.content_type(ct);
        }
        match req.send().await {
            Ok(out) => Ok(ObjectMeta { key: key.to_owned(), size, last_modified: Utc::now(), e_tag: out.e_tag }),
            Err(e) if opts.mode == PutMode::Create && matches!(status_of(&e), Some(412 | 409)) => {
                Err(StoreError::AlreadyExists { key: key.to_owned() })
            }
            Err(e) => Err(backend(key, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<GetResult, StoreError> {
        validate_key(key)?;
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if status_of(&e) == Some(404) => return Err(StoreError::NotFound { key: key.to_owned() }),
            Err(e) => return Err(backend(key, e)),
        };
        let meta = ObjectMeta {
            key: key.to_owned(),
            size: out.content_length.unwrap_or(0).max(0) as u64,
            last_modified: to_utc(out.last_modified.as_ref()),
            e_tag: out.e_tag.clone(),
        };
        let owned_key = key.to_owned();
        let body = futures::stream::unfold(Some(out.body), move |state| {
            let key = owned_key.clone();
            async move {
                let mut body = state?;
                match body.try_next().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(body))),
                    Ok(None) => None,
                    Err(e) => Some((
                        Err(StoreError::Backend { key, retryable: true, source: Box::new(e) }),
                        None,
                    )),
                }
            }
        });
        Ok(GetResult { meta, body: Box::pin(body) })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        validate_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(ObjectMeta {
                key: key.to_owned(),
                size: out.content_length.unwrap_or(0).max(0) as u64,
                last_modified: to_utc(out.last_modified.as_ref()),
                e_tag: out.e_tag,
            }),
            Err(e) if status_of(&e) == Some(404) => Err(StoreError::NotFound { key: key.to_owned() }),
            Err(e) => Err(backend(key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        validate_prefix(prefix)?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix);
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let page = req.send().await.map_err(|e| backend(prefix, e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                out.push(ObjectMeta {
                    key: key.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    last_modified: to_utc(o.last_modified()),
                    e_tag: o.e_tag().map(str::to_owned),
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        match self.client.delete_object().bucket(&self.bucket).key(key).send().await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(backend(key, e)),
        }
    }
}
