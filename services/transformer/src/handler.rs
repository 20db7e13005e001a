//! The `transformer` event handler: `production.extracted.v1` in, staging Arrow file written
//! create-only, `production.transformed.v1` out. Storage is reached only through the
//! [`ObjectStore`] port.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pinta_contracts::events::{ObjectRef, ProductionExtractedV1, ProductionTransformedV1};
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage, layout};
use pinta_platform::ports::{Clock, ObjectStore, ObjectStoreExt, PutOutcome, StoreError};
use pinta_platform::runner::{EventHandler, Failure, HandlerContext, HandlerError, source_of};
use tokio_util::io::SyncIoBridge;

use crate::transform::{TransformError, TransformStats, transform};

/// Why handling an event failed; each variant maps to a [`FailureCode`] and a retry decision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransformerError {
    /// The raw object named by the event does not exist.
    #[error("raw object {} not found", object.key)]
    RawNotFound {
        object: ObjectRef,
        #[source]
        source: StoreError,
    },
    /// The object store failed while reading the raw file or writing the staging file.
    #[error("object store failed on {key}")]
    Storage {
        key: String,
        object: ObjectRef,
        #[source]
        source: StoreError,
    },
    /// The raw object's bytes are not the ones the event describes: it changed after the event was made.
    #[error("raw object {} has sha256 {actual}, the event says {}", object.key, object.sha256)]
    ChecksumMismatch { object: ObjectRef, actual: String },
    /// A staging object already exists at the key with different content.
    #[error("staging object {key} already exists with different content")]
    StagingConflict {
        key: String,
        object: ObjectRef,
        #[source]
        source: StoreError,
    },
    /// The raw file could not be read as CSV, or the output could not be built.
    #[error("raw object {} could not be transformed", object.key)]
    Unreadable {
        object: ObjectRef,
        #[source]
        source: TransformError,
    },
    /// The blocking transform task did not complete (it panicked or was cancelled).
    #[error("transform of {} did not complete", object.key)]
    Worker {
        object: ObjectRef,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Failure for TransformerError {
    fn code(&self) -> FailureCode {
        match self {
            TransformerError::RawNotFound { .. } => FailureCode::ObjectNotFound,
            TransformerError::Storage { .. } => FailureCode::StorageUnavailable,
            TransformerError::ChecksumMismatch { .. } | TransformerError::StagingConflict { .. } => {
                FailureCode::ObjectConflict
            }
            TransformerError::Unreadable { .. } => FailureCode::UnreadableInput,
            TransformerError::Worker { .. } => FailureCode::Internal,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            TransformerError::Storage { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    fn object(&self) -> Option<ObjectRef> {
        Some(match self {
            TransformerError::RawNotFound { object, .. }
            | TransformerError::Storage { object, .. }
            | TransformerError::ChecksumMismatch { object, .. }
            | TransformerError::StagingConflict { object, .. }
            | TransformerError::Unreadable { object, .. }
            | TransformerError::Worker { object, .. } => object.clone(),
        })
    }
}

/// The transformer service's handler.
#[derive(Debug, Clone)]
pub struct Transformer {
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
}

impl Transformer {
    pub fn new(store: Arc<dyn ObjectStore>, clock: Arc<dyn Clock>) -> Self {
        Transformer { store, clock }
    }

    /// Reads the raw object, transforms it, writes the staging object and builds the outgoing event.
    pub async fn transform_extracted(
        &self,
        event: &ProductionExtractedV1,
        ctx: &HandlerContext,
    ) -> Result<Envelope, TransformerError> {
        let raw = &event.raw;
        let got = self.store.get(&raw.key).await.map_err(|source| match source {
            StoreError::NotFound { .. } => TransformerError::RawNotFound { object: raw.clone(), source },
            source => TransformerError::Storage { key: raw.key.clone(), object: raw.clone(), source },
        })?;
        let reader = SyncIoBridge::new(got.into_async_read());
        let (stats, staging_bytes) = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            transform(reader, &mut out).map(|stats| (stats, out))
        })
        .await
        .map_err(|source| TransformerError::Worker { object: raw.clone(), source })?
        .map_err(|source| classify_transform_error(raw, source))?;

        if stats.sha256_of_input != raw.sha256 {
            return Err(TransformerError::ChecksumMismatch { object: raw.clone(), actual: stats.sha256_of_input });
        }
        if stats.rows != event.rows {
            tracing::warn!(
                key = %raw.key,
                announced = event.rows,
                read = stats.rows,
                "row count differs from the extractor's"
            );
        }

        let key = layout::staging_key(event.production_date, &raw.sha256);
        let staging = ObjectRef {
            key: key.clone(),
            sha256: pinta_contracts::sha256_hex(&staging_bytes),
            size: staging_bytes.len() as u64,
        };
        match self.store.put_idempotent(&key, Bytes::from(staging_bytes)).await {
            Ok(PutOutcome::Created(_)) => {}
            Ok(PutOutcome::AlreadyIdentical(_)) => {
                tracing::info!(key = %key, "staging object already present with identical content");
            }
            Err(source @ StoreError::Precondition { .. }) => {
                return Err(TransformerError::StagingConflict { key, object: raw.clone(), source });
            }
            Err(source) => return Err(TransformerError::Storage { key, object: raw.clone(), source }),
        }

        tracing::info!(
            key = %raw.key,
            staging = %staging.key,
            rows = stats.rows,
            rows_with_cell_errors = stats.rows_with_cell_errors,
            encoding = stats.encoding,
            "raw file transformed"
        );
        let out = transformed_event(event, staging, &stats);
        let mut identity = format!(
            "{}|{}|{}",
            event.production_date.format("%Y-%m-%d"),
            raw.sha256,
            event.catalog.as_ref().map(|c| c.sha256.as_str()).unwrap_or("")
        );
        // Revision 1 keeps the identity events had before revisions existed.
        if event.revision > 1 {
            identity.push_str(&format!("|r{}", event.revision));
        }
        Ok(Envelope::wrap(
            &source_of(Stage::Transformer),
            &PintaEvent::ProductionTransformedV1(out),
            &identity,
            self.clock.now(),
            Some(ctx.traceparent),
        ))
    }
}

fn transformed_event(
    event: &ProductionExtractedV1,
    staging: ObjectRef,
    stats: &TransformStats,
) -> ProductionTransformedV1 {
    ProductionTransformedV1 {
        production_date: event.production_date,
        raw: event.raw.clone(),
        staging,
        rows: stats.rows,
        rows_with_cell_errors: stats.rows_with_cell_errors,
        rows_with_computed_cost: stats.rows_with_computed_cost,
        encoding: stats.encoding.to_owned(),
        delimiter: stats.delimiter.to_string(),
        catalog: event.catalog.clone(),
        revision: event.revision,
        backfill: event.backfill,
    }
}

/// A read error that came from the object store (through the async bridge) is a storage failure;
/// anything else means the input itself is unusable.
fn classify_transform_error(raw: &ObjectRef, error: TransformError) -> TransformerError {
    let from_store =
        error.read_error().and_then(|io| io.get_ref()).and_then(|inner| inner.downcast_ref::<StoreError>()).is_some();
    if from_store && let TransformError::Read { source } = error {
        let store_error = match source.into_inner().map(|inner| inner.downcast::<StoreError>()) {
            Some(Ok(store_error)) => *store_error,
            Some(Err(other)) => StoreError::Io { key: raw.key.clone(), source: std::io::Error::other(other) },
            None => StoreError::Io { key: raw.key.clone(), source: std::io::Error::other("read failed") },
        };
        return TransformerError::Storage { key: raw.key.clone(), object: raw.clone(), source: store_error };
    }
    TransformerError::Unreadable { object: raw.clone(), source: error }
}

#[async_trait]
impl EventHandler for Transformer {
    fn name(&self) -> &'static str {
        "transformer"
    }

    fn stage(&self) -> Stage {
        Stage::Transformer
    }

    fn accepts(&self) -> &'static [EventType] {
        &[EventType::ProductionExtractedV1]
    }

    async fn handle(&self, event: PintaEvent, ctx: &HandlerContext) -> Result<Vec<Envelope>, HandlerError> {
        match event {
            PintaEvent::ProductionExtractedV1(extracted) => Ok(vec![self.transform_extracted(&extracted, ctx).await?]),
            other => {
                tracing::debug!(event_type = other.event_type().as_str(), "not an event the transformer consumes");
                Ok(Vec::new())
            }
        }
    }
}
