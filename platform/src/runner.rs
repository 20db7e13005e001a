//! The runner: drives one [`EventHandler`] from one [`EventReceiver`].
//!
//! For each message: parse the envelope and decode the payload (failures are permanent: dead-letter at
//! once), skip events the inbox has seen, call the handler, publish what it returns, record the event
//! as processed, ack. A transient failure is retried with backoff up to the policy's attempts; a
//! permanent one, or the last transient one, is dead-lettered with its reason and announced as
//! `pipeline.failed.v1`. The same [`Runner::process`] serves the long-running loop and a Lambda
//! invocation.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pinta_contracts::events::{EventRef, ObjectRef, PipelineFailedV1};
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{DecodeError, Envelope, EventType, FailureCode, PintaEvent, Stage};
use tokio_util::sync::CancellationToken;

use crate::inbox::Inbox;
use crate::ports::{Clock, DeadLetter, DeadLetterStore, EventPublisher, EventReceiver, Message};
use crate::retry::RetryPolicy;
use crate::telemetry;

/// What a service handler's error must tell the runner.
pub trait Failure: StdError + Send + Sync + 'static {
    fn code(&self) -> FailureCode;
    fn is_retryable(&self) -> bool;
    /// The object being worked on, for the failure event.
    fn object(&self) -> Option<ObjectRef> {
        None
    }
}

/// A handler's failure, boxed.
#[derive(Debug)]
pub struct HandlerError(pub Box<dyn Failure>);

impl<E: Failure> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError(Box::new(e))
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", error_chain(self.0.as_ref()))
    }
}

/// `error: cause: cause` — the whole chain for logs and failure events.
pub fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cur = s.source();
    }
    text
}

/// What the handler gets besides the payload.
#[derive(Debug, Clone)]
pub struct HandlerContext {
    /// The incoming envelope.
    pub envelope: Envelope,
    /// Delivery attempt, 1-based.
    pub attempt: u32,
    /// The trace to continue in outgoing events.
    pub traceparent: TraceParent,
}

/// A service's event handler.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Consumer name: queue, inbox namespace and log field.
    fn name(&self) -> &'static str;
    fn stage(&self) -> Stage;
    /// The event types this handler consumes (its queue's filter policy).
    fn accepts(&self) -> &'static [EventType];
    /// Does the work; returns the events to publish.
    async fn handle(&self, event: PintaEvent, ctx: &HandlerContext) -> Result<Vec<Envelope>, HandlerError>;
}

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Handled (or already handled earlier) and acknowledged.
    Done,
    /// Not for this handler; acknowledged without work.
    Ignored,
    /// Failed transiently; will be delivered again after the delay.
    RetryLater(Duration),
    /// Set aside in the dead-letter store with this code.
    DeadLettered(FailureCode),
}

/// Drives a handler from a receiver.
#[derive(Debug, Clone)]
pub struct Runner {
    pub receiver: Arc<dyn EventReceiver>,
    pub publisher: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub inbox: Arc<dyn Inbox>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    /// Messages taken per receive.
    pub batch: usize,
    /// Long-poll wait per receive.
    pub wait: Duration,
    /// How often the visibility of a message being handled is extended.
    pub heartbeat: Duration,
}

impl Runner {
    /// Receives and processes until `shutdown` is cancelled. Finishes the message in hand first.
    pub async fn run(&self, handler: Arc<dyn EventHandler>, shutdown: CancellationToken) {
        tracing::info!(consumer = handler.name(), queue = self.receiver.name(), "runner started");
        loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.receiver.receive(self.batch, self.wait) => r,
            };
            match batch {
                Ok(messages) => {
                    for m in messages {
                        self.process(handler.as_ref(), m).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(consumer = handler.name(), error = %e, "receive failed; backing off");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(self.retry.delay(2)) => {}
                    }
                }
            }
        }
        tracing::info!(consumer = handler.name(), "runner stopped");
    }

    /// Processes one message to a disposition. Never panics on message content.
    pub async fn process(&self, handler: &dyn EventHandler, message: Message) -> Disposition {
        let envelope = match Envelope::from_json(&message.body) {
            Ok(e) => e,
            Err(e) => return self.reject(handler, &message, None, &e).await,
        };
        let event = match envelope.decode() {
            Ok(ev) => ev,
            Err(e) => return self.reject(handler, &message, Some(&envelope), &e).await,
        };
        let event_type = event.event_type();
        if !handler.accepts().contains(&event_type) {
            self.ack(&message).await;
            return Disposition::Ignored;
        }
        let dedup = envelope.dedup_key();
        match self.inbox.seen(handler.name(), &dedup).await {
            Ok(true) => {
                telemetry::EventDuplicate { consumer: handler.name(), event: &envelope }.emit();
                self.ack(&message).await;
                return Disposition::Done;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(consumer = handler.name(), event_id = %envelope.id, error = %e, "inbox unavailable");
                return self.transient(handler, &message, &envelope, FailureCode::StorageUnavailable, &e, None).await;
            }
        }
        let traceparent = envelope
            .traceparent
            .map(|t| t.child(handler.name().as_bytes()))
            .unwrap_or_else(|| TraceParent::from_seed(dedup.as_bytes()));
        let ctx = HandlerContext { envelope: envelope.clone(), attempt: message.receive_count, traceparent };
        let started = std::time::Instant::now();
        let result = self.with_heartbeat(&message, handler.handle(event, &ctx)).await;
        match result {
            Ok(outgoing) => {
                for out in &outgoing {
                    if let Err(e) = self.publisher.publish(out).await {
                        return self.transient(handler, &message, &envelope, FailureCode::PublishFailed, &e, None).await;
                    }
                }
                if let Err(e) = self.inbox.record(handler.name(), &dedup).await {
                    // The work is done and its events are out; a redelivery will redo idempotent work.
                    tracing::warn!(consumer = handler.name(), event_id = %envelope.id, error = %e, "could not record processed event");
                }
                self.ack(&message).await;
                telemetry::EventHandled {
                    consumer: handler.name(),
                    event: &envelope,
                    published: outgoing.len(),
                    elapsed: started.elapsed(),
                }
                .emit();
                Disposition::Done
            }
            Err(HandlerError(failure)) => {
                let object = failure.object();
                if failure.is_retryable() {
                    self.transient(handler, &message, &envelope, failure.code(), failure.as_ref(), object).await
                } else {
                    self.dead_letter(handler, &message, Some(&envelope), failure.code(), failure.as_ref(), false, object)
                        .await
                }
            }
        }
    }

    async fn with_heartbeat<F: std::future::Future>(&self, message: &Message, work: F) -> F::Output {
        tokio::pin!(work);
        let mut beat = tokio::time::interval(self.heartbeat.max(Duration::from_millis(100)));
        beat.tick().await;
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = beat.tick() => {
                    if let Err(e) = self.receiver.extend(message, self.heartbeat * 3).await {
                        tracing::warn!(queue = self.receiver.name(), error = %e, "could not extend visibility");
                    }
                }
            }
        }
    }

    async fn reject(
        &self,
        handler: &dyn EventHandler,
        message: &Message,
        envelope: Option<&Envelope>,
        error: &DecodeError,
    ) -> Disposition {
        let code = match error {
            DecodeError::UnknownType { .. } | DecodeError::UnsupportedVersion { .. } => FailureCode::UnknownEventType,
            _ => FailureCode::MalformedMessage,
        };
        self.dead_letter(handler, message, envelope, code, error, false, None).await
    }

    async fn transient(
        &self,
        handler: &dyn EventHandler,
        message: &Message,
        envelope: &Envelope,
        code: FailureCode,
        error: &(dyn StdError + Send + Sync + 'static),
        object: Option<ObjectRef>,
    ) -> Disposition {
        if !self.retry.may_retry(message.receive_count) {
            return self.dead_letter(handler, message, Some(envelope), code, error, true, object).await;
        }
        let delay = self.retry.delay(message.receive_count);
        telemetry::EventRetried {
            consumer: handler.name(),
            event_id: &envelope.id,
            attempt: message.receive_count,
            delay,
            error: &error_chain(error),
        }
        .emit();
        if let Err(e) = self.receiver.retry_later(message, delay).await {
            tracing::warn!(queue = self.receiver.name(), error = %e, "could not schedule retry; visibility timeout will redeliver");
        }
        Disposition::RetryLater(delay)
    }

    #[allow(clippy::too_many_arguments)]
    async fn dead_letter(
        &self,
        handler: &dyn EventHandler,
        message: &Message,
        envelope: Option<&Envelope>,
        code: FailureCode,
        error: &(dyn StdError + Send + Sync + 'static),
        retryable: bool,
        object: Option<ObjectRef>,
    ) -> Disposition {
        let reason = error_chain(error);
        let now = self.clock.now();
        let letter = DeadLetter {
            id: uuid::Uuid::new_v4().to_string(),
            queue: self.receiver.name().to_owned(),
            body: message.body.clone(),
            attributes: message.attributes.clone(),
            code: code.as_str().to_owned(),
            reason: reason.clone(),
            receive_count: message.receive_count,
            dead_lettered_at: now,
        };
        if let Err(e) = self.dead_letters.put(letter).await {
            // Not acknowledged: the transport keeps the message and will deliver it again.
            tracing::error!(queue = self.receiver.name(), error = %e, "dead-letter store unavailable; message left on its queue");
            return Disposition::RetryLater(self.retry.delay(message.receive_count));
        }
        telemetry::EventDeadLettered { consumer: handler.name(), code, reason: &reason, message_id: &message.message_id }
            .emit();
        // Announce the failure — unless the failing event is itself a failure report (no loops).
        let is_failure_event = envelope.is_some_and(|e| e.event_type == EventType::PipelineFailedV1.as_str());
        if !is_failure_event {
            let failed = PipelineFailedV1 {
                production_date: envelope.and_then(|e| e.subject.as_deref()).and_then(pinta_contracts::layout::parse_day),
                stage: handler.stage(),
                code,
                message: reason,
                retryable,
                attempts: message.receive_count,
                object,
                rows: None,
                caused_by: envelope.map(|e| EventRef {
                    id: e.id.clone(),
                    source: e.source.clone(),
                    event_type: e.event_type.clone(),
                }),
                failed_at: now,
            };
            let identity = match envelope {
                Some(e) => format!("{}|{}", e.dedup_key(), code),
                None => format!("message|{}|{}", message.message_id, code),
            };
            let trace = envelope.and_then(|e| e.traceparent).map(|t| t.child(b"failed"));
            let out = Envelope::wrap(
                &source_of(handler.stage()),
                &PintaEvent::PipelineFailedV1(failed),
                &identity,
                now,
                trace,
            );
            if let Err(e) = self.publisher.publish(&out).await {
                tracing::error!(error = %e, "could not publish pipeline.failed.v1");
            }
        }
        self.ack(message).await;
        Disposition::DeadLettered(code)
    }

    async fn ack(&self, message: &Message) {
        if let Err(e) = self.receiver.ack(message).await {
            tracing::warn!(queue = self.receiver.name(), error = %e, "ack failed; the message may be delivered again");
        }
    }
}

/// The CloudEvents `source` of a stage: `/pinta/<stage>`.
pub fn source_of(stage: Stage) -> String {
    format!("/pinta/{}", stage.as_str())
}
