//! [`EventBridgePublisher`]: the publisher port on an EventBridge bus (`PutEvents`), for consumers that
//! prefer rules to subscriptions. The entry's `Source` is the CloudEvents `source`, `DetailType` the
//! event type, and `Detail` the whole CloudEvents JSON.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use pinta_contracts::Envelope;

use super::{boxed, classify};
use crate::ports::{BusError, EventPublisher};

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

/// A `PutEvents` entry that was not accepted.
#[derive(Debug, thiserror::Error)]
#[error("EventBridge rejected the event: {code}: {message}")]
pub struct RejectedEntry {
    pub code: String,
    pub message: String,
}

impl EventBridgePublisher {
    /// `bus_name`: the event bus name or ARN (`default` for the account's default bus).
    pub fn new(sdk: &aws_config::SdkConfig, bus_name: impl Into<String>) -> Self {
        EventBridgePublisher { client: aws_sdk_eventbridge::Client::new(sdk), bus_name: bus_name.into() }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &Envelope) -> Result<(), BusError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(event.source.trim_start_matches('/').replace('/', "."))
            .detail_type(&event.event_type)
            .detail(event.to_json())
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(event.time.timestamp()))
            .build();
        let out = self.client.put_events().entries(entry).send().await.map_err(|e| {
            let retryable = classify(&e);
            BusError::Backend { retryable, source: boxed(e) }
        })?;
        if out.failed_entry_count() > 0 {
            let failed = out.entries().iter().find(|e| e.error_code().is_some());
            let code = failed.and_then(|e| e.error_code()).unwrap_or("unknown").to_owned();
            let message = failed.and_then(|e| e.error_message()).unwrap_or("").to_owned();
            let retryable = matches!(code.as_str(), "ThrottlingException" | "InternalFailure" | "InternalException");
            return Err(BusError::Backend { retryable, source: Box::new(RejectedEntry { code, message }) });
        }
        Ok(())
    }
}
