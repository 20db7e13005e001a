//! The extractor's errors, with their failure codes and whether a retry can help.

use pinta_contracts::FailureCode;
use pinta_platform::ports::{BusError, SourceError, StoreError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    #[error("reading the source database failed")]
    Source(#[from] SourceError),
    #[error("writing to the object store failed")]
    Store(#[from] StoreError),
    #[error("publishing the event failed")]
    Publish(#[from] BusError),
    #[error("writing the CSV failed")]
    Csv(#[from] csv::Error),
}

impl ExtractError {
    pub fn code(&self) -> FailureCode {
        match self {
            ExtractError::Source(SourceError::InvalidUrl { .. }) => FailureCode::InvalidConfiguration,
            ExtractError::Source(_) => FailureCode::SourceUnavailable,
            ExtractError::Store(_) => FailureCode::StorageUnavailable,
            ExtractError::Publish(_) => FailureCode::PublishFailed,
            ExtractError::Csv(_) => FailureCode::Internal,
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            ExtractError::Source(e) => e.is_retryable(),
            ExtractError::Store(e) => e.is_retryable(),
            ExtractError::Publish(e) => e.is_retryable(),
            ExtractError::Csv(_) => false,
        }
    }
}
