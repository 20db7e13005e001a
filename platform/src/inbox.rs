//! The processed-event log: which CloudEvents (`source` + `id`) a consumer has finished. The runner
//! checks it before handling and records after publishing, so a redelivered event is acknowledged
//! without doing the work — or emitting its events — a second time.
//!
//! It is kept in the object store under `_control/inbox/<consumer>/`, so it is as durable as the data
//! and needs no extra infrastructure in either mode.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::ports::{ObjectStore, ObjectStoreExt, StoreError};

#[async_trait]
pub trait Inbox: Send + Sync + Debug + 'static {
    async fn seen(&self, consumer: &str, dedup_key: &str) -> Result<bool, StoreError>;
    async fn record(&self, consumer: &str, dedup_key: &str) -> Result<(), StoreError>;
}

/// [`Inbox`] on top of any [`ObjectStore`].
#[derive(Debug, Clone)]
pub struct StoreInbox {
    store: Arc<dyn ObjectStore>,
}

impl StoreInbox {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        StoreInbox { store }
    }

    fn key(consumer: &str, dedup_key: &str) -> String {
        pinta_contracts::layout::inbox_key(consumer, &pinta_contracts::sha256_hex(dedup_key.as_bytes()))
    }
}

#[async_trait]
impl Inbox for StoreInbox {
    async fn seen(&self, consumer: &str, dedup_key: &str) -> Result<bool, StoreError> {
        self.store.exists(&Self::key(consumer, dedup_key)).await
    }

    async fn record(&self, consumer: &str, dedup_key: &str) -> Result<(), StoreError> {
        match self.store.put_create(&Self::key(consumer, dedup_key), Bytes::from(dedup_key.to_owned())).await {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
