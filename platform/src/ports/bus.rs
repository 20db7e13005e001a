//! The messaging ports: publish CloudEvents, receive them with SQS-like semantics (ack, retry later,
//! redelivery after a visibility timeout), and keep what cannot be processed in a dead-letter store
//! that can be listed and replayed.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pinta_contracts::Envelope;
use serde::{Deserialize, Serialize};

/// Messaging failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    #[error("queue or topic {name:?} does not exist")]
    NotFound { name: String },
    #[error("receipt {receipt:?} is unknown or expired")]
    StaleReceipt { receipt: String },
    #[error("the bus is closed")]
    Closed,
    #[error("dead-letter entry {id:?} not found")]
    DeadLetterNotFound { id: String },
    #[error("I/O error in {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("corrupt dead-letter entry {path}: {source}")]
    Corrupt { path: String, source: serde_json::Error },
    #[error("messaging backend error: {source}")]
    Backend { retryable: bool, source: Box<dyn std::error::Error + Send + Sync + 'static> },
}

impl BusError {
    pub fn is_retryable(&self) -> bool {
        match self {
            BusError::Io { .. } => true,
            BusError::Backend { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// A received message. The body is kept as text so a poison message can still be dead-lettered as it
/// arrived.
#[derive(Debug, Clone)]
pub struct Message {
    /// Transport id (SQS message id, or a local id).
    pub message_id: String,
    /// Handle for ack / retry; valid while the message is in flight.
    pub receipt: String,
    pub body: String,
    /// Message attributes (`type` is always set by Pinta's publishers).
    pub attributes: BTreeMap<String, String>,
    /// How many times this message has been received, this delivery included (1 on first delivery).
    pub receive_count: u32,
    /// The queue it came from.
    pub queue: String,
}

/// Publishes events to the pipeline topic (and whatever fans out from it).
#[async_trait]
pub trait EventPublisher: Send + Sync + Debug + 'static {
    async fn publish(&self, event: &Envelope) -> Result<(), BusError>;
}

/// One consumer's queue.
#[async_trait]
pub trait EventReceiver: Send + Sync + Debug + 'static {
    /// The queue's name (used for logs and dead letters).
    fn name(&self) -> &str;
    /// Up to `max` messages, waiting at most `wait` for the first one. An empty vector means none came.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError>;
    /// Done: the message will not be delivered again.
    async fn ack(&self, message: &Message) -> Result<(), BusError>;
    /// Make the message visible again after `delay` (a failed attempt).
    async fn retry_later(&self, message: &Message, delay: Duration) -> Result<(), BusError>;
    /// Keep the message invisible for `by` from now (long work in progress), like SQS
    /// `ChangeMessageVisibility`.
    async fn extend(&self, message: &Message, by: Duration) -> Result<(), BusError>;
}

/// A message set aside with the reason it could not be processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Unique id of the entry.
    pub id: String,
    /// The queue (consumer) that gave up.
    pub queue: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// Stable code (a [`pinta_contracts::FailureCode`] text).
    pub code: String,
    /// Human-readable cause chain.
    pub reason: String,
    pub receive_count: u32,
    pub dead_lettered_at: DateTime<Utc>,
}

/// Where dead letters are kept.
#[async_trait]
pub trait DeadLetterStore: Send + Sync + Debug + 'static {
    async fn put(&self, letter: DeadLetter) -> Result<(), BusError>;
    /// All entries, oldest first; `queue` narrows to one consumer.
    async fn list(&self, queue: Option<&str>) -> Result<Vec<DeadLetter>, BusError>;
    async fn get(&self, id: &str) -> Result<DeadLetter, BusError>;
    async fn remove(&self, id: &str) -> Result<(), BusError>;
}

/// Sends a dead letter back into the pipeline by re-publishing its envelope, then removes it.
/// A body that is still not a readable envelope stays in the store.
pub async fn replay_dead_letter(
    store: &dyn DeadLetterStore,
    publisher: &dyn EventPublisher,
    id: &str,
) -> Result<Envelope, ReplayError> {
    let letter = store.get(id).await?;
    let envelope = Envelope::from_json(&letter.body).map_err(|source| ReplayError::Undecodable { id: id.to_owned(), source })?;
    publisher.publish(&envelope).await?;
    store.remove(id).await?;
    Ok(envelope)
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("dead letter {id} is not a readable event and cannot be replayed: {source}")]
    Undecodable { id: String, source: pinta_contracts::DecodeError },
}
