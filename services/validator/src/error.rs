//! The validator's failures and how the runner should treat each one ([`Failure`]: code, retryable).

use pinta_contracts::FailureCode;
use pinta_contracts::events::ObjectRef;
use pinta_platform::ports::{BusError, StoreError};
use pinta_platform::runner::Failure;

use crate::output::OutputError;
use crate::rules::RuleSetError;
use crate::staging::StagingError;

/// Why handling a `production.transformed.v1` failed.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// An input named by the event is not in the store.
    #[error("{what} {} named by the event does not exist", object.key)]
    ObjectNotFound {
        what: &'static str,
        object: ObjectRef,
        #[source]
        source: StoreError,
    },
    /// The store failed while reading or writing.
    #[error("object store failed while {action} {key}")]
    Storage {
        action: &'static str,
        key: String,
        #[source]
        source: StoreError,
    },
    /// An output exists with different bytes than this run produced.
    #[error("{key} already exists with different content")]
    ObjectConflict {
        key: String,
        #[source]
        source: StoreError,
    },
    #[error("staging file {} is unreadable", object.key)]
    UnreadableStaging {
        object: ObjectRef,
        #[source]
        source: StagingError,
    },
    /// Copying the staging object to a local temporary file failed (reading the object's body or
    /// writing the file).
    #[error("could not copy staging file {} to a local temporary file", object.key)]
    Spool {
        object: ObjectRef,
        #[source]
        source: std::io::Error,
    },
    /// The validation thread panicked or was cancelled.
    #[error("the validation worker failed")]
    Worker {
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("staging file {} has sha256 {found}, the event says {}", object.key, object.sha256)]
    StagingChecksum { object: ObjectRef, found: String },
    #[error("catalogue {} is unreadable", object.key)]
    UnreadableCatalog {
        object: ObjectRef,
        #[source]
        source: serde_json::Error,
    },
    #[error("could not build the output files")]
    Output {
        #[source]
        source: OutputError,
    },
    #[error("row conservation violated: {rows_in} rows in, {curated} curated + {quarantined} quarantined")]
    RowsNotConserved { rows_in: u64, curated: u64, quarantined: u64 },
    #[error("could not publish {event_type}")]
    PublishFailed {
        event_type: &'static str,
        #[source]
        source: BusError,
    },
    #[error("invalid validator configuration")]
    Config {
        #[source]
        source: ConfigError,
    },
}

impl ValidatorError {
    /// Classifies a store error met while `action`ing `key`.
    pub fn store(action: &'static str, key: &str, source: StoreError) -> ValidatorError {
        match source {
            StoreError::Precondition { .. } => ValidatorError::ObjectConflict { key: key.to_owned(), source },
            source => ValidatorError::Storage { action, key: key.to_owned(), source },
        }
    }

    /// Classifies a store error met while reading an input named by the event.
    pub fn input(what: &'static str, object: &ObjectRef, source: StoreError) -> ValidatorError {
        match source {
            StoreError::NotFound { .. } => ValidatorError::ObjectNotFound { what, object: object.clone(), source },
            source => ValidatorError::store("reading", &object.key, source),
        }
    }
}

impl Failure for ValidatorError {
    fn code(&self) -> FailureCode {
        match self {
            ValidatorError::ObjectNotFound { .. } => FailureCode::ObjectNotFound,
            ValidatorError::Storage { .. } => FailureCode::StorageUnavailable,
            ValidatorError::ObjectConflict { .. } => FailureCode::ObjectConflict,
            ValidatorError::UnreadableStaging { .. }
            | ValidatorError::StagingChecksum { .. }
            | ValidatorError::UnreadableCatalog { .. } => FailureCode::UnreadableInput,
            ValidatorError::Output { .. } | ValidatorError::RowsNotConserved { .. } | ValidatorError::Worker { .. } => {
                FailureCode::Internal
            }
            ValidatorError::Spool { .. } => FailureCode::StorageUnavailable,
            ValidatorError::PublishFailed { .. } => FailureCode::PublishFailed,
            ValidatorError::Config { .. } => FailureCode::InvalidConfiguration,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            ValidatorError::Storage { source, .. } => source.is_retryable(),
            ValidatorError::PublishFailed { .. } | ValidatorError::Spool { .. } => true,
            _ => false,
        }
    }

    fn object(&self) -> Option<ObjectRef> {
        match self {
            ValidatorError::ObjectNotFound { object, .. }
            | ValidatorError::UnreadableStaging { object, .. }
            | ValidatorError::StagingChecksum { object, .. }
            | ValidatorError::Spool { object, .. }
            | ValidatorError::UnreadableCatalog { object, .. } => Some(object.clone()),
            _ => None,
        }
    }
}

/// Why the validator's configuration could not be read from the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}={value}: bad rule file")]
    Rules {
        variable: &'static str,
        value: String,
        #[source]
        source: Box<RuleSetError>,
    },
}

impl Failure for ConfigError {
    fn code(&self) -> FailureCode {
        FailureCode::InvalidConfiguration
    }
    fn is_retryable(&self) -> bool {
        false
    }
}
