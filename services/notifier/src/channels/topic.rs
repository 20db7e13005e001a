//! The alerts-topic channel: an alert published to a pub/sub topic that ops subscribe to by e-mail (on
//! AWS, the alerts SNS topic). The port is [`AlertTopic`] — a subject, a plain-text body and string
//! attributes, no SDK types; the SNS adapter is `pinta_platform::aws::SnsAlertPublisher`, plugged in
//! below.
//!
//! [`TopicChannel`] fits an alert into the topic's limits instead of failing: the subject is cut to
//! [`MAX_SUBJECT_CHARS`] characters with control characters replaced, and a body over
//! [`MAX_BODY_BYTES`] is cut with a note naming the object-store key where the full text was saved
//! (`_control/notifier/alerts/…`). Attributes `severity` and `escalated` let subscriptions filter
//! (e.g. the escalation list subscribes with `{"escalated": ["true"]}`).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pinta_contracts::sha256_hex;
use pinta_platform::aws::sns_alerts::{AlertPublishError, SnsAlertPublisher};
use pinta_platform::ports::{ObjectStore, ObjectStoreExt};

use super::{Alert, AlertChannel, ChannelError};
use crate::render::truncate_chars;

/// Longest subject sent to the topic (SNS: fewer than 100 characters).
pub const MAX_SUBJECT_CHARS: usize = 99;
/// Largest body sent to the topic, in bytes (SNS allows 256 KiB for body and attributes together).
pub const MAX_BODY_BYTES: usize = 256 * 1024 - 4096;
/// Where full texts of truncated alerts are kept.
pub const OVERFLOW_PREFIX: &str = "_control/notifier/alerts/";

/// What is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMessage {
    pub subject: String,
    pub body: String,
    /// String attributes, for subscription filter policies.
    pub attributes: Vec<(String, String)>,
}

/// A topic that could not take a message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TopicError {
    pub message: String,
    pub retryable: bool,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The port: somewhere alerts are published for subscribers.
#[async_trait]
pub trait AlertTopic: Send + Sync + std::fmt::Debug {
    /// Publishes; returns the topic's message id.
    async fn publish(&self, message: &TopicMessage) -> Result<String, TopicError>;
}

#[async_trait]
impl AlertTopic for SnsAlertPublisher {
    async fn publish(&self, message: &TopicMessage) -> Result<String, TopicError> {
        SnsAlertPublisher::publish(self, &message.subject, &message.body, &message.attributes)
            .await
            .map_err(TopicError::from)
    }
}

impl From<AlertPublishError> for TopicError {
    fn from(e: AlertPublishError) -> Self {
        TopicError { message: e.to_string(), retryable: e.is_retryable(), source: Some(Box::new(e)) }
    }
}

/// Delivers alerts to an [`AlertTopic`], fitting them into its limits.
#[derive(Debug, Clone)]
pub struct TopicChannel {
    topic: Arc<dyn AlertTopic>,
    store: Arc<dyn ObjectStore>,
}

/// The subject for the topic: no control characters, at most [`MAX_SUBJECT_CHARS`].
pub fn topic_subject(subject: &str) -> String {
    let clean: String = subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    truncate_chars(if clean.is_empty() { "Pinta" } else { clean }, MAX_SUBJECT_CHARS)
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut_bytes(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The body for the topic: `text` when it fits, else its beginning and a note saying how much was left
/// out and where the full text is (`full_key`, when it could be saved).
pub fn topic_body(text: &str, full_key: Option<&str>) -> String {
    if text.len() <= MAX_BODY_BYTES && !text.is_empty() {
        return text.to_owned();
    }
    if text.is_empty() {
        return "(alerta sin texto)".to_owned();
    }
    let where_ = match full_key {
        Some(key) => format!("Texto completo en el bucket de datos: {key}"),
        None => "No se pudo guardar el texto completo; consulte los registros del notificador.".to_owned(),
    };
    // Leave room for the note (it is short, well under 1 KiB).
    let head = cut_bytes(text, MAX_BODY_BYTES - 1024);
    let omitted = text.len() - head.len();
    format!("{head}\n\n[… alerta truncada: se omitieron {omitted} bytes. {where_}]\n")
}

impl TopicChannel {
    /// `store` keeps the full text of alerts too long for the topic.
    pub fn new(topic: Arc<dyn AlertTopic>, store: Arc<dyn ObjectStore>) -> TopicChannel {
        TopicChannel { topic, store }
    }

    /// The key the full text of an oversized alert is saved under.
    pub fn overflow_key(alert: &Alert) -> String {
        let digest = sha256_hex(alert.text.as_bytes());
        format!("{OVERFLOW_PREFIX}{}-{}.txt", alert.created_at.format("%Y%m%dT%H%M%SZ"), &digest[..16])
    }

    /// The message for `alert`, saving the full text first when the body must be cut.
    pub async fn message(&self, alert: &Alert) -> TopicMessage {
        let full_key = if alert.text.len() > MAX_BODY_BYTES {
            let key = TopicChannel::overflow_key(alert);
            match self.store.put_idempotent(&key, Bytes::from(alert.text.clone())).await {
                Ok(_) => Some(key),
                Err(e) => {
                    tracing::warn!(key, error = %e, "could not save the full text of an oversized alert");
                    None
                }
            }
        } else {
            None
        };
        TopicMessage {
            subject: topic_subject(&alert.subject),
            body: topic_body(&alert.text, full_key.as_deref()),
            attributes: vec![
                ("severity".to_owned(), alert.severity.as_str().to_owned()),
                ("escalated".to_owned(), alert.escalated.to_string()),
            ],
        }
    }
}

#[async_trait]
impl AlertChannel for TopicChannel {
    fn name(&self) -> &'static str {
        "alerts-topic"
    }

    async fn send(&self, alert: &Alert) -> Result<(), ChannelError> {
        let message = self.message(alert).await;
        let id = self.topic.publish(&message).await.map_err(|source| ChannelError::Topic { source })?;
        tracing::info!(message_id = %id, subject = %message.subject, "alert published to the alerts topic");
        Ok(())
    }
}
