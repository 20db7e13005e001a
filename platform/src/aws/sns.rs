//! [`SnsPublisher`]: the publisher port on an SNS topic.
//!
//! The body is the CloudEvents JSON; the event type travels as the `type` message attribute, which the
//! queues' filter policies match (with raw message delivery the queue receives the JSON as the body and
//! `type` as an SQS message attribute). With a public topic configured, the two events outside
//! consumers care about — `production.published.v1` and `rows.quarantined.v1` — are published to the
//! public topic as well as the pipeline topic; everything else stays internal.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use pinta_contracts::{Envelope, EventType};

use super::{boxed, classify};
use crate::ports::{BusError, EventPublisher};

/// The event types that also go to the public topic.
pub const PUBLIC_TYPES: [EventType; 2] = [EventType::ProductionPublishedV1, EventType::RowsQuarantinedV1];

/// Publishes envelopes to an SNS topic (and the public types to the public topic).
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    public_topic_arn: Option<String>,
}

impl SnsPublisher {
    pub fn new(sdk: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        SnsPublisher { client: aws_sdk_sns::Client::new(sdk), topic_arn: topic_arn.into(), public_topic_arn: None }
    }

    /// Also publish [`PUBLIC_TYPES`] to `public_topic_arn`.
    pub fn with_public_topic(mut self, public_topic_arn: Option<String>) -> Self {
        self.public_topic_arn = public_topic_arn;
        self
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    async fn publish_to(&self, topic: &str, event: &Envelope) -> Result<(), BusError> {
        let body = event.to_json();
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(event.event_type.clone())
            .build()
            .map_err(|e| BusError::Backend { retryable: false, source: Box::new(e) })?;
        self.client
            .publish()
            .topic_arn(topic)
            .message(body)
            .message_attributes("type", attr)
            .send()
            .await
            .map_err(|e| {
                let retryable = classify(&e);
                BusError::Backend { retryable, source: boxed(e) }
            })?;
        Ok(())
    }
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish(&self, event: &Envelope) -> Result<(), BusError> {
        self.publish_to(&self.topic_arn, event).await?;
        if let Some(public) = &self.public_topic_arn
            && PUBLIC_TYPES.iter().any(|t| t.as_str() == event.event_type)
        {
            self.publish_to(public, event).await?;
        }
        Ok(())
    }
}
