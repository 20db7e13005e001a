//! The alerts SNS topic: [`SnsAlertPublisher`] publishes a rendered alert (subject + plain-text body +
//! String message attributes) to the topic ops subscribe to by e-mail; [`AlertQueue`] is an SQS queue
//! subscribed to that topic *without* raw delivery, so each message keeps the SNS `Subject` — used to
//! read alerts back (tests against an emulator, checking a sandbox account).
//!
//! SNS limits, enforced here so a bad alert is a typed, permanent error rather than a service error:
//! the subject must be shorter than [`MAX_SUBJECT_CHARS`] + 1 characters with no control characters,
//! and the whole message (body and attributes) at most [`MAX_MESSAGE_BYTES`]. Fitting an alert into
//! them (truncating with a note) is the caller's job — the notifier's topic channel does it.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;

use super::bootstrap::{BootstrapError, create_queue};
use super::{boxed, classify};

/// SNS: a subject is "less than 100 characters long".
pub const MAX_SUBJECT_CHARS: usize = 99;
/// SNS: a message, attributes included, is at most 256 KiB.
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// Why an alert could not be published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertPublishError {
    /// The alert breaks an SNS limit (caller bug; retrying cannot help).
    #[error("the alert does not fit SNS: {reason}")]
    Invalid { reason: String },
    /// The topic does not exist (configuration; retrying cannot help).
    #[error("alerts topic {topic} does not exist")]
    NotFound {
        topic: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("publishing to the alerts topic {topic} failed")]
    Backend {
        topic: String,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl AlertPublishError {
    /// Whether publishing again can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            AlertPublishError::Invalid { .. } | AlertPublishError::NotFound { .. } => false,
            AlertPublishError::Backend { retryable, .. } => *retryable,
        }
    }
}

/// Publishes alerts to one SNS topic.
#[derive(Debug, Clone)]
pub struct SnsAlertPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlertPublisher {
    pub fn new(sdk: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        SnsAlertPublisher { client: aws_sdk_sns::Client::new(sdk), topic_arn: topic_arn.into() }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// Publishes `body` with `subject` (the e-mail subject of e-mail subscriptions) and String message
    /// attributes (for subscription filter policies). Returns the SNS message id.
    pub async fn publish(
        &self,
        subject: &str,
        body: &str,
        attributes: &[(String, String)],
    ) -> Result<String, AlertPublishError> {
        check(subject, body, attributes)?;
        let mut req = self.client.publish().topic_arn(&self.topic_arn).subject(subject).message(body);
        for (name, value) in attributes {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| AlertPublishError::Invalid { reason: format!("attribute {name}: {e}") })?;
            req = req.message_attributes(name, attr);
        }
        match req.send().await {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(e) => {
                let code = e.as_service_error().and_then(|s| s.code()).unwrap_or("").to_owned();
                if code == "NotFound" || code == "NotFoundException" {
                    return Err(AlertPublishError::NotFound { topic: self.topic_arn.clone(), source: boxed(e) });
                }
                if code == "InvalidParameter" || code == "InvalidParameterValue" {
                    return Err(AlertPublishError::Invalid { reason: format!("SNS refused the alert ({code})") });
                }
                let retryable = classify(&e);
                Err(AlertPublishError::Backend { topic: self.topic_arn.clone(), retryable, source: boxed(e) })
            }
        }
    }
}

/// Checks the SNS limits.
pub fn check(subject: &str, body: &str, attributes: &[(String, String)]) -> Result<(), AlertPublishError> {
    let invalid = |reason: String| Err(AlertPublishError::Invalid { reason });
    if subject.trim().is_empty() {
        return invalid("empty subject".into());
    }
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return invalid(format!("subject has {} characters (at most {MAX_SUBJECT_CHARS})", subject.chars().count()));
    }
    if subject.chars().any(char::is_control) {
        return invalid("subject contains a line break or control character".into());
    }
    if body.is_empty() {
        return invalid("empty message".into());
    }
    let size = body.len() + attributes.iter().map(|(k, v)| k.len() + v.len() + "String".len()).sum::<usize>();
    if size > MAX_MESSAGE_BYTES {
        return invalid(format!("message is {size} bytes (at most {MAX_MESSAGE_BYTES})"));
    }
    Ok(())
}

/// One alert as an e-mail subscriber would see it, read from an [`AlertQueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAlert {
    pub message_id: String,
    pub subject: Option<String>,
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
}

/// Why reading an [`AlertQueue`] failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertQueueError {
    #[error("receiving from {queue_url} failed")]
    Receive {
        queue_url: String,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("a message on {queue_url} is not an SNS notification: {source}")]
    NotANotification { queue_url: String, source: serde_json::Error },
}

/// An SQS queue subscribed to an alerts topic (no raw delivery: bodies are SNS notifications).
#[derive(Debug, Clone)]
pub struct AlertQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
}

impl AlertQueue {
    /// Creates the queue `name` (idempotent), lets `topic_arn` send to it and subscribes it, optionally
    /// with a filter policy (JSON) on the message attributes.
    pub async fn create(
        sdk: &aws_config::SdkConfig,
        topic_arn: &str,
        name: &str,
        filter_policy: Option<&str>,
    ) -> Result<AlertQueue, BootstrapError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let sns = aws_sdk_sns::Client::new(sdk);
        let (queue_url, queue_arn) = create_queue(&sqs, name, &[]).await?;
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "FromAlertsTopic",
                "Effect": "Allow",
                "Principal": { "Service": "sns.amazonaws.com" },
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
            }]
        });
        let step = format!("allowing {topic_arn} to send to {queue_url}");
        sqs.set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| BootstrapError::Aws { step, retryable: classify(&e), source: boxed(e) })?;
        let step = format!("subscribing {queue_arn} to {topic_arn}");
        let mut req = sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(&queue_arn);
        if let Some(policy) = filter_policy {
            req = req.attributes("FilterPolicy", policy);
        }
        req.send().await.map_err(|e| BootstrapError::Aws { step, retryable: classify(&e), source: boxed(e) })?;
        Ok(AlertQueue { client: sqs, queue_url, queue_arn })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn queue_arn(&self) -> &str {
        &self.queue_arn
    }

    /// Receives what is waiting (long-polling up to `wait`, at most 20 s), deleting what it returns.
    pub async fn receive(&self, wait: Duration) -> Result<Vec<ReceivedAlert>, AlertQueueError> {
        let secs = i32::try_from(wait.as_secs().min(20)).unwrap_or(20);
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(secs)
            .send()
            .await
            .map_err(|e| AlertQueueError::Receive {
                queue_url: self.queue_url.clone(),
                retryable: classify(&e),
                source: boxed(e),
            })?;
        let mut alerts = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let body = m.body.unwrap_or_default();
            let notification: Notification = serde_json::from_str(&body)
                .map_err(|source| AlertQueueError::NotANotification { queue_url: self.queue_url.clone(), source })?;
            alerts.push(ReceivedAlert {
                message_id: notification.message_id,
                subject: notification.subject,
                body: notification.message,
                attributes: notification
                    .message_attributes
                    .into_iter()
                    .filter_map(|(k, v)| v.value.map(|v| (k, v)))
                    .collect(),
            });
            if let Some(receipt) = m.receipt_handle {
                self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt).send().await.map_err(
                    |e| AlertQueueError::Receive {
                        queue_url: self.queue_url.clone(),
                        retryable: classify(&e),
                        source: boxed(e),
                    },
                )?;
            }
        }
        Ok(alerts)
    }
}

/// The SNS notification JSON an SQS subscriber without raw delivery receives.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Notification {
    message_id: String,
    #[serde(default)]
    subject: Option<String>,
    message: String,
    #[serde(default)]
    message_attributes: BTreeMap<String, NotificationAttribute>,
}

#[derive(Debug, serde::Deserialize)]
struct NotificationAttribute {
    #[serde(rename = "Value", default)]
    value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_before_calling_sns() {
        let ok = check("[CRITICAL] Pinta extractor: día 2025-03-01", "cuerpo", &[]);
        assert!(ok.is_ok());
        let long = "x".repeat(100);
        assert!(matches!(check(&long, "b", &[]), Err(AlertPublishError::Invalid { .. })));
        assert!(check(&"á".repeat(99), "b", &[]).is_ok(), "characters, not bytes");
        assert!(check("a\nb", "b", &[]).is_err());
        assert!(check(" ", "b", &[]).is_err());
        assert!(check("s", "", &[]).is_err());
        let body = "x".repeat(MAX_MESSAGE_BYTES);
        assert!(check("s", &body, &[]).is_ok());
        assert!(check("s", &body, &[("severity".into(), "INFO".into())]).is_err());
        assert!(!AlertPublishError::Invalid { reason: String::new() }.is_retryable());
    }
}
