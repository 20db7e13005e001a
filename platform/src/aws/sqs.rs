//! [`SqsReceiver`]: the receiver port on one SQS queue; [`SqsPublisher`]: publishing straight to a
//! queue (tests, replays into one consumer).
//!
//! Receives long-poll (up to 20 s per call) and ask for `ApproximateReceiveCount` and every message
//! attribute. Ack deletes the message; a retry or a visibility extension is `ChangeMessageVisibility`;
//! a message that is neither acked nor retried comes back when its visibility timeout expires, and the
//! queue's redrive policy moves it to the DLQ after `maxReceiveCount` receives. Every received message
//! is logged (`message received`, with its id and receive count) before it is worked on.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use pinta_contracts::Envelope;

use super::{boxed, classify, HttpStatus};
use crate::ports::{BusError, EventPublisher, EventReceiver, Message};

/// SQS caps a visibility timeout at 12 hours.
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;

pub(crate) fn sqs_error<E, R>(e: aws_sdk_sqs::error::SdkError<E, R>) -> BusError
where
    E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("").to_owned();
    if code.contains("NonExistentQueue") || code == "QueueDoesNotExist" {
        return BusError::NotFound { name: code };
    }
    let retryable = classify(&e);
    BusError::Backend { retryable, source: boxed(e) }
}

/// The queue's name: the last segment of its URL.
pub fn queue_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// Receives from one SQS queue.
#[derive(Debug, Clone)]
pub struct SqsReceiver {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    name: String,
}

impl SqsReceiver {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        let name = queue_name(&queue_url).to_owned();
        SqsReceiver { client: aws_sdk_sqs::Client::new(sdk), queue_url, name }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    async fn set_visibility(&self, message: &Message, secs: u64) -> Result<(), BusError> {
        let secs = secs.min(MAX_VISIBILITY_SECS) as i32;
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(&message.receipt)
            .visibility_timeout(secs)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_stale(e.as_service_error().and_then(|s| s.code())) => {
                Err(BusError::StaleReceipt { receipt: message.receipt.clone() })
            }
            Err(e) => Err(sqs_error(e)),
        }
    }
}

fn is_stale(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c.contains("ReceiptHandleIsInvalid") || c.contains("MessageNotInflight") || c.contains("InvalidParameterValue"))
}

/// Seconds for an SQS wait or timeout: rounded up, so a short non-zero wait still waits.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Converts an SQS message (from `ReceiveMessage`) to the port's [`Message`].
pub(crate) fn to_message(m: aws_sdk_sqs::types::Message, queue: &str) -> Message {
    let receive_count = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    let attributes: BTreeMap<String, String> = m
        .message_attributes()
        .map(|attrs| {
            attrs.iter().filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned()))).collect()
        })
        .unwrap_or_default();
    Message {
        message_id: m.message_id().unwrap_or_default().to_owned(),
        receipt: m.receipt_handle().unwrap_or_default().to_owned(),
        body: m.body().unwrap_or_default().to_owned(),
        attributes,
        receive_count,
        queue: queue.to_owned(),
    }
}

impl SqsReceiver {
    /// One `ReceiveMessage` call with an explicit visibility timeout for what it returns.
    pub(crate) async fn receive_raw(
        &self,
        max: usize,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<aws_sdk_sqs::types::Message>, BusError> {
        let mut req = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(ceil_secs(wait).min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("All");
        if let Some(v) = visibility {
            req = req.visibility_timeout(ceil_secs(v).min(MAX_VISIBILITY_SECS) as i32);
        }
        let out = req.send().await.map_err(sqs_error)?;
        Ok(out.messages.unwrap_or_default())
    }

    pub(crate) fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }
}

#[async_trait]
impl EventReceiver for SqsReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        let raw = self.receive_raw(max, wait, None).await?;
        let messages: Vec<Message> = raw.into_iter().map(|m| to_message(m, &self.name)).collect();
        for m in &messages {
            tracing::info!(
                queue = %self.name,
                message_id = %m.message_id,
                receive_count = m.receive_count,
                event_type = m.attributes.get("type").map(String::as_str).unwrap_or(""),
                "message received"
            );
        }
        Ok(messages)
    }

    async fn ack(&self, message: &Message) -> Result<(), BusError> {
        match self.client.delete_message().queue_url(&self.queue_url).receipt_handle(&message.receipt).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_stale(e.as_service_error().and_then(|s| s.code())) => {
                Err(BusError::StaleReceipt { receipt: message.receipt.clone() })
            }
            Err(e) => Err(sqs_error(e)),
        }
    }

    async fn retry_later(&self, message: &Message, delay: Duration) -> Result<(), BusError> {
        self.set_visibility(message, ceil_secs(delay)).await
    }

    async fn extend(&self, message: &Message, by: Duration) -> Result<(), BusError> {
        self.set_visibility(message, ceil_secs(by)).await
    }
}

/// Sends envelopes straight to one queue, with the `type` message attribute.
#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsPublisher {
    pub fn new(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        SqsPublisher { client: aws_sdk_sqs::Client::new(sdk), queue_url: queue_url.into() }
    }
}

pub(crate) fn string_attr(value: impl Into<String>) -> Result<MessageAttributeValue, BusError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| BusError::Backend { retryable: false, source: Box::new(e) })
}

#[async_trait]
impl EventPublisher for SqsPublisher {
    async fn publish(&self, event: &Envelope) -> Result<(), BusError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(event.to_json())
            .message_attributes("type", string_attr(event.event_type.clone())?)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }
}
