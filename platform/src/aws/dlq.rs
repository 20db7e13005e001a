//! [`SqsDeadLetterStore`]: the dead-letter port on an SQS queue (a service's DLQ), so `pinta dlq
//! list|replay` works on AWS as on the embedded folder.
//!
//! * `put` sends the original body with the message attributes `type` (when known), `code`, `reason` and
//!   `pinta-dead-letter` (the entry's metadata as JSON, so `get` returns exactly what was put).
//! * Messages SQS itself moved here through the redrive policy (after `maxReceiveCount` receives) have
//!   no `pinta-dead-letter` attribute; they are listed with their SQS message id as id, code
//!   `INTERNAL`, the receive count SQS reports, and their original send time.
//! * `list`, `get` and `remove` scan the queue: they receive every message with a short visibility
//!   timeout (so each receive returns new ones), then make them visible again (`remove` deletes its
//!   target instead).
//!
//! Limits (SQS is a queue, not a table): a scan is O(queue size); while a scan runs, a concurrent scan
//! or a redrive of the same DLQ sees fewer messages; SQS keeps messages for its retention period only
//! (set 14 days on DLQs); a message larger than 256 KiB with its attributes cannot be stored.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sqs::{sqs_error, string_attr, to_message, SqsReceiver};
use crate::ports::{BusError, DeadLetter, DeadLetterStore};

/// The attribute holding an entry's metadata.
pub const META_ATTRIBUTE: &str = "pinta-dead-letter";
/// How long a scan keeps messages invisible.
const SCAN_HOLD: Duration = Duration::from_secs(20);
/// An SQS message attribute value is limited by the message size; reasons are cut to this in the
/// `reason` attribute (the metadata keeps the whole text).
const REASON_ATTR_MAX: usize = 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    id: String,
    queue: String,
    attributes: BTreeMap<String, String>,
    code: String,
    reason: String,
    receive_count: u32,
    dead_lettered_at: DateTime<Utc>,
    /// SQS bodies cannot be empty; an empty body is stored as a single space and flagged here.
    #[serde(default)]
    empty_body: bool,
}

/// Dead letters in an SQS queue.
#[derive(Debug, Clone)]
pub struct SqsDeadLetterStore {
    queue: SqsReceiver,
}

struct Held {
    letter: DeadLetter,
    receipt: String,
}

impl SqsDeadLetterStore {
    pub fn new(sdk: &aws_config::SdkConfig, dlq_url: impl Into<String>) -> Self {
        SqsDeadLetterStore { queue: SqsReceiver::new(sdk, dlq_url) }
    }

    fn letter_of(&self, m: aws_sdk_sqs::types::Message) -> Held {
        let sent = m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_else(Utc::now);
        let dlq_name = crate::ports::EventReceiver::name(&self.queue).to_owned();
        let msg = to_message(m, &dlq_name);
        let meta = msg.attributes.get(META_ATTRIBUTE).and_then(|j| serde_json::from_str::<Meta>(j).ok());
        let letter = match meta {
            Some(meta) => DeadLetter {
                id: meta.id,
                queue: meta.queue,
                body: if meta.empty_body { String::new() } else { msg.body },
                attributes: meta.attributes,
                code: meta.code,
                reason: meta.reason,
                receive_count: meta.receive_count,
                dead_lettered_at: meta.dead_lettered_at,
            },
            None => {
                let receives = msg.receive_count.saturating_sub(1).max(1);
                DeadLetter {
                    id: msg.message_id.clone(),
                    queue: dlq_name.strip_suffix("-dlq").unwrap_or(&dlq_name).to_owned(),
                    body: msg.body,
                    attributes: msg.attributes,
                    code: pinta_contracts::FailureCode::Internal.as_str().to_owned(),
                    reason: format!("moved to the dead-letter queue by SQS after {receives} receives (redrive policy)"),
                    receive_count: receives,
                    dead_lettered_at: sent,
                }
            }
        };
        Held { letter, receipt: msg.receipt }
    }

    /// Receives every message (holding each invisible), de-duplicated by entry id.
    async fn scan(&self) -> Result<Vec<Held>, BusError> {
        let mut held: Vec<Held> = Vec::new();
        let mut empty_rounds = 0;
        while empty_rounds < 2 {
            let batch = self.queue.receive_raw(10, Duration::from_secs(1), Some(SCAN_HOLD)).await?;
            if batch.is_empty() {
                empty_rounds += 1;
                continue;
            }
            empty_rounds = 0;
            for m in batch {
                let h = self.letter_of(m);
                if let Some(existing) = held.iter_mut().find(|x| x.letter.id == h.letter.id) {
                    existing.receipt = h.receipt;
                } else {
                    held.push(h);
                }
            }
        }
        Ok(held)
    }

    /// Makes scanned messages visible again.
    async fn release(&self, held: &[Held]) {
        for h in held {
            let r = self
                .queue
                .client()
                .change_message_visibility()
                .queue_url(self.queue.queue_url())
                .receipt_handle(&h.receipt)
                .visibility_timeout(0)
                .send()
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %sqs_error(e), id = %h.letter.id, "could not release a scanned dead letter; it reappears after the scan hold");
            }
        }
    }
}

fn sorted(mut letters: Vec<DeadLetter>) -> Vec<DeadLetter> {
    letters.sort_by(|a, b| (a.dead_lettered_at, &a.id).cmp(&(b.dead_lettered_at, &b.id)));
    letters
}

#[async_trait]
impl DeadLetterStore for SqsDeadLetterStore {
    async fn put(&self, letter: DeadLetter) -> Result<(), BusError> {
        let meta = Meta {
            id: letter.id.clone(),
            queue: letter.queue.clone(),
            attributes: letter.attributes.clone(),
            code: letter.code.clone(),
            reason: letter.reason.clone(),
            receive_count: letter.receive_count,
            dead_lettered_at: letter.dead_lettered_at,
            empty_body: letter.body.is_empty(),
        };
        let meta_json = serde_json::to_string(&meta).map_err(|e| BusError::Backend { retryable: false, source: Box::new(e) })?;
        let reason_attr: String = letter.reason.chars().take(REASON_ATTR_MAX).collect();
        let body = if letter.body.is_empty() { " ".to_owned() } else { letter.body.clone() };
        let mut req = self
            .queue
            .client()
            .send_message()
            .queue_url(self.queue.queue_url())
            .message_body(body)
            .message_attributes("code", string_attr(letter.code.clone())?)
            .message_attributes("reason", string_attr(if reason_attr.is_empty() { "-".to_owned() } else { reason_attr })?)
            .message_attributes(META_ATTRIBUTE, string_attr(meta_json)?);
        if let Some(t) = letter.attributes.get("type").filter(|t| !t.is_empty()) {
            req = req.message_attributes("type", string_attr(t.clone())?);
        }
        req.send().await.map_err(sqs_error)?;
        Ok(())
    }

    async fn list(&self, queue: Option<&str>) -> Result<Vec<DeadLetter>, BusError> {
        let held = self.scan().await?;
        self.release(&held).await;
        let letters = held.into_iter().map(|h| h.letter).filter(|l| queue.is_none_or(|q| l.queue == q)).collect();
        Ok(sorted(letters))
    }

    async fn get(&self, id: &str) -> Result<DeadLetter, BusError> {
        let held = self.scan().await?;
        self.release(&held).await;
        held.into_iter()
            .map(|h| h.letter)
            .find(|l| l.id == id)
            .ok_or_else(|| BusError::DeadLetterNotFound { id: id.to_owned() })
    }

    async fn remove(&self, id: &str) -> Result<(), BusError> {
        let held = self.scan().await?;
        let (target, rest): (Vec<Held>, Vec<Held>) = held.into_iter().partition(|h| h.letter.id == id);
        self.release(&rest).await;
        let Some(t) = target.into_iter().next() else {
            return Err(BusError::DeadLetterNotFound { id: id.to_owned() });
        };
        self.queue
            .client()
            .delete_message()
            .queue_url(self.queue.queue_url())
            .receipt_handle(&t.receipt)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }
}
