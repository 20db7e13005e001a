//! [`Notifier`]: the event handler. It loads the persisted [`NotifierState`] from the object store,
//! applies the policy ([`crate::engine::observe`]), renders and delivers what must be sent, and writes
//! the state back (`_control/notifier/state.json`, overwrite), so a new `Notifier` over the same store
//! continues where the old one stopped.
//!
//! Ordering: the alert is delivered (sent or put in the outbox) *before* the state is written. If the
//! state write fails the event fails with a retryable `STORAGE_UNAVAILABLE`, and a redelivery may mail
//! it again: at least once, never lost.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage};
use pinta_platform::ports::{Clock, ObjectStore, ObjectStoreExt, PutOptions, StoreError};
use pinta_platform::runner::{EventHandler, Failure, HandlerContext, HandlerError};

use crate::channels::{Alert, AlertTopic, ChannelError, Delivery, Dispatcher, TopicChannel};
use crate::config::{ConfigError, NotifierConfig};
use crate::engine::{NotifierState, Occurrence, Outcome, STATE_KEY, observe};
use crate::policy::Severity;
use crate::render::{self, Subject, Trace};

/// The notifier's failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifierError {
    #[error("invalid notifier configuration: {source}")]
    Config {
        #[from]
        source: ConfigError,
    },
    #[error("cannot set up alert channels: {source}")]
    Channels { source: ChannelError },
    #[error("notifier state {key} unavailable: {source}")]
    State { key: &'static str, source: StoreError },
    #[error("notifier state {key} is corrupt: {source}")]
    CorruptState { key: &'static str, source: serde_json::Error },
    #[error("alert could be neither sent nor written to the outbox: {source}")]
    Delivery { source: ChannelError },
}

impl Failure for NotifierError {
    fn code(&self) -> FailureCode {
        match self {
            NotifierError::Config { .. } | NotifierError::Channels { .. } => FailureCode::InvalidConfiguration,
            NotifierError::State { .. } | NotifierError::Delivery { .. } => FailureCode::StorageUnavailable,
            NotifierError::CorruptState { .. } => FailureCode::Internal,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            NotifierError::State { source, .. } => source.is_retryable(),
            NotifierError::Delivery { .. } => true,
            NotifierError::Config { .. } | NotifierError::Channels { .. } | NotifierError::CorruptState { .. } => {
                false
            }
        }
    }
}

/// The notifier service's handler.
#[derive(Debug)]
pub struct Notifier {
    config: NotifierConfig,
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    dispatcher: Dispatcher,
    /// Serialises read-modify-write of the state within this process.
    lock: tokio::sync::Mutex<()>,
}

/// What processing one event did.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    pub outcome: Outcome,
    /// Mails delivered for the event (the alert, and a due digest if one went out first).
    pub deliveries: Vec<Delivery>,
}

impl Notifier {
    /// Validates the configuration, builds the channels and reads the state (which checks the store
    /// is reachable). Without an alerts-topic adapter: see [`Notifier::with_topic`].
    pub async fn new(
        config: NotifierConfig,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Notifier, NotifierError> {
        Notifier::with_topic(config, store, clock, None).await
    }

    /// [`Notifier::new`] with the alerts topic as the e-mail route (`topic`: the adapter of
    /// `config.alerts_topic_arn`, e.g. `pinta_platform::aws::SnsAlertPublisher`).
    pub async fn with_topic(
        config: NotifierConfig,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        topic: Option<Arc<dyn AlertTopic>>,
    ) -> Result<Notifier, NotifierError> {
        config.validate()?;
        let mut dispatcher = Dispatcher::from_config(&config).map_err(|source| NotifierError::Channels { source })?;
        if let (Some(arn), None) = (&config.alerts_topic_arn, &topic) {
            tracing::warn!(topic = %arn, "PINTA_ALERTS_TOPIC_ARN is set but this process has no topic adapter; alerts go to the outbox");
        }
        dispatcher.topic = topic.map(|t| TopicChannel::new(t, store.clone()));
        let notifier = Notifier { config, store, clock, dispatcher, lock: tokio::sync::Mutex::new(()) };
        let state = notifier.load_state().await?;
        tracing::info!(
            incidents = state.incidents.len(),
            pending_digest = state.digest.len(),
            topic = notifier.dispatcher.topic.is_some(),
            smtp = notifier.config.smtp.is_some(),
            outbox = %notifier.config.outbox_dir.display(),
            "notifier ready"
        );
        Ok(notifier)
    }

    pub fn config(&self) -> &NotifierConfig {
        &self.config
    }

    /// The persisted state (empty when none was written yet).
    pub async fn load_state(&self) -> Result<NotifierState, NotifierError> {
        match self.store.get_bytes(STATE_KEY).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| NotifierError::CorruptState { key: STATE_KEY, source }),
            Err(StoreError::NotFound { .. }) => Ok(NotifierState::default()),
            Err(source) => Err(NotifierError::State { key: STATE_KEY, source }),
        }
    }

    async fn save_state(&self, state: &NotifierState) -> Result<(), NotifierError> {
        let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
        let mut opts = PutOptions::overwrite();
        opts.content_type = Some("application/json".to_owned());
        self.store
            .put_opts(STATE_KEY, Bytes::from(bytes), opts)
            .await
            .map(|_| ())
            .map_err(|source| NotifierError::State { key: STATE_KEY, source })
    }

    /// Sends the WARNING digest if it is due at `now`. Returns where it went, or `None` when nothing
    /// was due.
    pub async fn flush_digest(&self, now: DateTime<Utc>) -> Result<Option<Delivery>, NotifierError> {
        let _guard = self.lock.lock().await;
        let mut state = self.load_state().await?;
        let delivery = self.flush_digest_locked(&mut state, now).await?;
        if delivery.is_some() {
            self.save_state(&state).await?;
        }
        Ok(delivery)
    }

    /// For the scheduler: [`Notifier::flush_digest`] at the clock's time.
    pub async fn send_due_digest(&self) -> Result<Option<Delivery>, NotifierError> {
        self.flush_digest(self.clock.now()).await
    }

    async fn flush_digest_locked(
        &self,
        state: &mut NotifierState,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, NotifierError> {
        if !state.digest_due(&self.config.policy, now) {
            return Ok(None);
        }
        let rendered = render::render_digest(&state.digest, &self.config.runbook_base_url, now);
        let alert = self.alert(Severity::Warning, rendered, false, now);
        let delivery = self.dispatcher.deliver(&alert).await.map_err(|source| NotifierError::Delivery { source })?;
        tracing::info!(entries = state.digest.len(), ?delivery, "WARNING digest sent");
        state.digest.clear();
        state.alerts_sent += 1;
        state.last_digest_at = Some(now);
        Ok(Some(delivery))
    }

    fn alert(&self, severity: Severity, rendered: render::Rendered, escalate: bool, now: DateTime<Utc>) -> Alert {
        Alert {
            severity,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            from: self.config.from.clone(),
            to: self.config.recipients.clone(),
            cc: if escalate { self.config.escalation.clone() } else { Vec::new() },
            escalated: escalate,
            created_at: now,
        }
    }

    /// Applies one event: de-duplicate, classify, correlate, deliver, persist.
    pub async fn process(&self, event: &PintaEvent, envelope: &Envelope) -> Result<Processed, NotifierError> {
        let subject = match event {
            PintaEvent::PipelineFailedV1(f) => Subject::Failure(f),
            PintaEvent::RowsQuarantinedV1(q) => Subject::Quarantine(q),
            other => {
                tracing::debug!(event_type = other.event_type().as_str(), "not an alerting event; ignored");
                return Ok(Processed { outcome: Outcome::Ignored, deliveries: Vec::new() });
            }
        };
        let policy = &self.config.policy;
        let severity = match subject {
            Subject::Failure(f) => policy.classify_failure(f),
            Subject::Quarantine(q) => policy.classify_quarantine(q),
        };
        let occurrence = Occurrence {
            dedup_key: envelope.dedup_key(),
            event_id: envelope.id.clone(),
            incident_key: subject.incident_key(),
            day: subject.day(),
            severity,
            summary: format!("{}: {}", subject.stage(), subject.headline()),
            runbook: subject.runbook().to_owned(),
        };
        let trace = Trace {
            event_id: envelope.id.clone(),
            source: envelope.source.clone(),
            event_type: envelope.event_type.clone(),
            traceparent: envelope.traceparent.map(|t| t.to_string()),
        };

        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let mut state = self.load_state().await?;
        let mut deliveries = Vec::new();
        if let Some(d) = self.flush_digest_locked(&mut state, now).await? {
            deliveries.push(d);
        }
        let outcome = observe(&mut state, policy, &occurrence, now);
        match &outcome {
            Outcome::Ignored | Outcome::Duplicate => {
                tracing::info!(event_id = %envelope.id, incident = %occurrence.incident_key, "redelivered event; already counted");
            }
            Outcome::Logged { severity, occurrences } => {
                tracing::info!(%severity, occurrences, event_id = %envelope.id, summary = %occurrence.summary, "alert logged only");
            }
            Outcome::Digested { occurrences } => {
                tracing::info!(occurrences, event_id = %envelope.id, summary = %occurrence.summary, "WARNING kept for the daily digest");
            }
            Outcome::Suppressed { severity, occurrences } => {
                tracing::info!(%severity, occurrences, incident = %occurrence.incident_key, "occurrence counted into an incident already alerted");
            }
            Outcome::Alert(plan) => {
                let rendered = render::render_alert(subject, plan, &trace, &self.config.runbook_base_url, now);
                let alert = self.alert(plan.severity, rendered, plan.escalate, now);
                let delivery =
                    self.dispatcher.deliver(&alert).await.map_err(|source| NotifierError::Delivery { source })?;
                tracing::info!(severity = %plan.severity, kind = ?plan.kind, escalated = plan.escalate,
                    occurrences = plan.incident.occurrences, ?delivery, subject = %alert.subject, "alert delivered");
                deliveries.push(delivery);
            }
        }
        if !matches!(outcome, Outcome::Duplicate) || !deliveries.is_empty() {
            self.save_state(&state).await?;
        }
        Ok(Processed { outcome, deliveries })
    }
}

#[async_trait::async_trait]
impl EventHandler for Notifier {
    fn name(&self) -> &'static str {
        "notifier"
    }

    fn stage(&self) -> Stage {
        Stage::Notifier
    }

    fn accepts(&self) -> &'static [EventType] {
        &[EventType::PipelineFailedV1, EventType::RowsQuarantinedV1]
    }

    async fn handle(&self, event: PintaEvent, ctx: &HandlerContext) -> Result<Vec<pinta_contracts::Envelope>, HandlerError> {
        self.process(&event, &ctx.envelope).await?;
        Ok(Vec::new())
    }
}
