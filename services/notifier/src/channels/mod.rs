//! Delivery channels: the [`AlertChannel`] trait, the e-mail message builder shared by SMTP and the
//! outbox, and the [`Dispatcher`] that retries a channel that is down and falls back to the outbox,
//! so an alert is always either sent or on disk.
//!
//! The e-mail route is one of: the alerts topic ([`topic`], on AWS: ops subscribe to it by e-mail),
//! the SMTP relay ([`smtp`]), or the outbox folder ([`outbox`]) when neither is configured. Whichever
//! route fails after its retries, the alert is written to the outbox and the failure logged.

pub mod outbox;
pub mod smtp;
pub mod topic;
pub mod webhook;

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use pinta_platform::retry::RetryPolicy;

use crate::config::NotifierConfig;
use crate::policy::Severity;

pub use outbox::OutboxChannel;
pub use smtp::SmtpChannel;
pub use topic::{AlertTopic, TopicChannel, TopicError, TopicMessage};
pub use webhook::WebhookChannel;

/// A rendered alert with its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub severity: Severity,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub from: String,
    pub to: Vec<String>,
    /// Escalation recipients, when escalated.
    pub cc: Vec<String>,
    /// Whether the alert goes to the escalation list too (a topic attribute for filter policies).
    pub escalated: bool,
    pub created_at: DateTime<Utc>,
}

/// Why a channel could not deliver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    #[error("invalid address {value:?}: {source}")]
    Address { value: String, source: lettre::address::AddressError },
    #[error("cannot build the message: {source}")]
    Build { source: lettre::error::Error },
    #[error("SMTP delivery failed: {source}")]
    Smtp { source: lettre::transport::smtp::Error },
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("webhook request failed: {source}")]
    Http { source: reqwest::Error },
    #[error("webhook answered HTTP {status}")]
    HttpStatus { status: u16 },
    #[error("alerts topic: {source}")]
    Topic { source: TopicError },
}

impl ChannelError {
    /// Whether trying the same channel again can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            ChannelError::Address { .. } | ChannelError::Build { .. } => false,
            ChannelError::Smtp { source } => !source.is_permanent(),
            ChannelError::HttpStatus { status } => *status >= 500 || *status == 429,
            ChannelError::Io { .. } | ChannelError::Http { .. } => true,
            ChannelError::Topic { source } => source.retryable,
        }
    }
}

/// Somewhere an alert can go.
#[async_trait]
pub trait AlertChannel: Send + Sync + Debug {
    fn name(&self) -> &'static str;
    async fn send(&self, alert: &Alert) -> Result<(), ChannelError>;
}

fn mailbox(value: &str) -> Result<Mailbox, ChannelError> {
    value.parse::<Mailbox>().map_err(|source| ChannelError::Address { value: value.to_owned(), source })
}

/// The RFC 5322 message of an alert: multipart/alternative, text and HTML.
pub fn build_message(alert: &Alert) -> Result<Message, ChannelError> {
    let mut builder = Message::builder()
        .from(mailbox(&alert.from)?)
        .subject(alert.subject.clone())
        .date(alert.created_at.into());
    for to in &alert.to {
        builder = builder.to(mailbox(to)?);
    }
    for cc in &alert.cc {
        builder = builder.cc(mailbox(cc)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(alert.text.clone(), alert.html.clone()))
        .map_err(|source| ChannelError::Build { source })
}

/// Where an alert ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the SMTP relay.
    Sent,
    /// Published to the alerts topic.
    Published,
    /// Written to the outbox (no relay or topic configured, or it failed after retries).
    Outbox(std::path::PathBuf),
}

/// The configured channels, with retries and the outbox fallback.
#[derive(Debug)]
pub struct Dispatcher {
    /// The alerts topic; when set, it is the e-mail route (SMTP is then not configured).
    pub topic: Option<TopicChannel>,
    pub email: Option<SmtpChannel>,
    pub outbox: OutboxChannel,
    pub webhook: Option<WebhookChannel>,
    pub retry: RetryPolicy,
}

impl Dispatcher {
    pub fn from_config(config: &NotifierConfig) -> Result<Dispatcher, ChannelError> {
        Ok(Dispatcher {
            topic: None,
            email: config.smtp.as_ref().map(SmtpChannel::new).transpose()?,
            outbox: OutboxChannel::new(config.outbox_dir.clone()),
            webhook: config.webhook_url.as_ref().map(|u| WebhookChannel::new(u.clone())).transpose()?,
            retry: config.channel_retry,
        })
    }

    /// Delivers an alert to the alerts topic, by e-mail or to the outbox and, if configured, to the
    /// webhook. Fails only when the alert could be neither sent nor written to the outbox.
    pub async fn deliver(&self, alert: &Alert) -> Result<Delivery, ChannelError> {
        let delivery = match (&self.topic, &self.email) {
            (Some(topic), _) => match with_retries(topic, alert, self.retry).await {
                Ok(()) => Delivery::Published,
                Err(e) => {
                    tracing::error!(channel = topic.name(), subject = %alert.subject, error = %e,
                        retryable = e.is_retryable(), "alert could not be published to the alerts topic; writing it to the outbox");
                    Delivery::Outbox(self.outbox.write(alert).await?)
                }
            },
            (None, Some(smtp)) => match with_retries(smtp, alert, self.retry).await {
                Ok(()) => Delivery::Sent,
                Err(e) => {
                    tracing::error!(channel = smtp.name(), subject = %alert.subject, error = %e,
                        "alert could not be e-mailed; writing it to the outbox");
                    Delivery::Outbox(self.outbox.write(alert).await?)
                }
            },
            (None, None) => Delivery::Outbox(self.outbox.write(alert).await?),
        };
        if let Some(hook) = &self.webhook
            && let Err(e) = with_retries(hook, alert, self.retry).await
        {
            tracing::error!(channel = hook.name(), subject = %alert.subject, error = %e,
                "alert could not be posted to the webhook (the e-mail/outbox copy stands)");
        }
        Ok(delivery)
    }
}

/// Sends through `channel`, retrying transient failures with exponential backoff.
pub async fn with_retries(channel: &dyn AlertChannel, alert: &Alert, retry: RetryPolicy) -> Result<(), ChannelError> {
    let mut attempt = 1;
    loop {
        match channel.send(alert).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && retry.may_retry(attempt) => {
                let delay = retry.delay(attempt);
                tracing::warn!(channel = channel.name(), attempt, ?delay, error = %e, "alert channel failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
