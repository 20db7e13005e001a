//! The validator's event handler: reads the staged day, validates it, writes the curated and quarantine
//! files, publishes its events itself and finally writes the day record `_control/days/YYYY-MM-DD.json`.
//!
//! Revisions: an event whose `revision` is newer than the day record's replaces the day's curated and
//! quarantine files (each previous file is first kept under `historico/reemplazado/<stamp>/`); an event
//! older than the completed revision is stale and ignored; at the same revision, different bytes are
//! still refused as a conflict.
//!
//! Order matters: outputs, then events, then the day record. A crash anywhere before the record leaves
//! the day without a record, so the reconciler redoes it; every step is idempotent (same bytes, same
//! event ids), so redoing is harmless.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pinta_contracts::catalog::Catalog;
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::events::{EventRef, ObjectRef, PipelineFailedV1, ProductionTransformedV1};
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage, layout, sha256_hex};
use pinta_platform::ports::{Clock, EventPublisher, ObjectStore, ObjectStoreExt, PutOptions, StoreError};
use pinta_platform::runner::{EventHandler, HandlerContext, HandlerError, source_of};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ValidatorError;
use crate::rules::RuleSet;
use crate::stream::{StreamError, validate_staging_file};
use crate::validate::DaySummary;

/// The validator service.
#[derive(Debug, Clone)]
pub struct Validator {
    store: Arc<dyn ObjectStore>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    rules: RuleSet,
}

/// What one run of a day produced.
#[derive(Debug, Clone, PartialEq)]
pub struct DayOutcome {
    pub record: DayRecord,
    /// The events published, in order.
    pub events: Vec<Envelope>,
}

impl Validator {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        publisher: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
        rules: RuleSet,
    ) -> Validator {
        Validator { store, publisher, clock, rules }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Validates one staged day end to end (outputs, events, day record).
    pub async fn process(
        &self,
        event: &ProductionTransformedV1,
        ctx: &HandlerContext,
    ) -> Result<DayOutcome, ValidatorError> {
        let day = event.production_date;
        // The staging object is spooled to a local temporary file while it is hashed, and validated from
        // there batch by batch: the validator's memory does not grow with the day.
        let spool = self.spool_staging(&event.staging).await?;
        let catalog = match &event.catalog {
            Some(object) => Some(self.read_catalog(object).await?),
            None => None,
        };

        // Revisions: a newer version of the day's output replaces the current one (kept under
        // `historico/reemplazado/`); an older one than what is already complete is stale and ignored.
        let current = pinta_platform::versions::day_record(self.store.as_ref(), day)
            .await
            .map_err(|e| ValidatorError::store("reading", &layout::day_record_key(day), e))?;
        if let Some(record) = current.as_ref().filter(|r| event.revision < r.revision) {
            tracing::warn!(%day, revision = event.revision, current = record.revision, "stale revision of the day ignored");
            return Ok(DayOutcome { record: record.clone(), events: Vec::new() });
        }
        // Replacing is allowed only for a re-publication newer than the completed one; the same revision
        // with other bytes is still a conflict.
        let supersedes = event.revision > 1 && current.as_ref().is_none_or(|r| event.revision > r.revision);

        let now = self.clock.now();
        let rules = self.rules.clone();
        let streamed = tokio::task::spawn_blocking(move || {
            let result = validate_staging_file(spool.path(), day, catalog.as_ref(), &rules, now);
            drop(spool);
            result
        })
        .await
        .map_err(|source| ValidatorError::Worker { source })?
        .map_err(|e| match e {
            StreamError::Staging { source } => {
                ValidatorError::UnreadableStaging { object: event.staging.clone(), source }
            }
            StreamError::Output { source } => ValidatorError::Output { source },
        })?;
        let v = streamed.summary;
        if !v.is_conserved() {
            return Err(ValidatorError::RowsNotConserved {
                rows_in: v.rows_in,
                curated: v.rows_curated,
                quarantined: v.rows_quarantined,
            });
        }
        if v.rows_in != event.rows {
            tracing::warn!(%day, staging_rows = v.rows_in, event_rows = event.rows, "staging row count differs from the event");
        }

        // Outputs.
        let quarantine = if v.rows_quarantined == 0 {
            None
        } else {
            Some(self.put(&layout::quarantine_key(day), streamed.quarantine, supersedes).await?)
        };
        let curated =
            if v.held { None } else { Some(self.put(&layout::curated_key(day), streamed.curated, supersedes).await?) };
        if supersedes {
            // An output the previous version had and this one has not is removed (a copy is kept).
            for (key, present) in
                [(layout::quarantine_key(day), quarantine.is_some()), (layout::curated_key(day), curated.is_some())]
            {
                if !present {
                    pinta_platform::versions::remove_keeping(self.store.as_ref(), &key, now)
                        .await
                        .map_err(|e| ValidatorError::store("replacing", &key, e))?;
                }
            }
        }

        // Events: quarantined first, then published / failed.
        let events = self.events(event, ctx, &v, curated.as_ref(), quarantine.as_ref(), now);
        for out in &events {
            self.publisher
                .publish(out)
                .await
                .map_err(|source| ValidatorError::PublishFailed { event_type: event_type_name(out), source })?;
        }

        // The day record, last.
        let record = DayRecord {
            production_date: day,
            status: if v.held { DayStatus::Held } else { DayStatus::Published },
            raw: event.raw.clone(),
            curated,
            quarantine,
            rows_in: v.rows_in,
            rows_curated: v.rows_curated,
            rows_quarantined: v.rows_quarantined,
            event_ids: events.iter().map(|e| e.id.clone()).collect(),
            completed_at: now,
            revision: event.revision,
        };
        let key = layout::day_record_key(day);
        let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
        self.store
            .put_opts(&key, Bytes::from(json), PutOptions::overwrite())
            .await
            .map_err(|e| ValidatorError::store("writing", &key, e))?;

        tracing::info!(
            %day,
            rows_in = v.rows_in,
            rows_curated = record.rows_curated,
            rows_quarantined = record.rows_quarantined,
            held = v.held,
            "day validated"
        );
        Ok(DayOutcome { record, events })
    }

    /// Copies the staging object into a temporary file, checking its SHA-256 against the event's.
    async fn spool_staging(&self, object: &ObjectRef) -> Result<tempfile::NamedTempFile, ValidatorError> {
        let got = self.store.get(&object.key).await.map_err(|e| ValidatorError::input("staging file", object, e))?;
        let spool_error = |source| ValidatorError::Spool { object: object.clone(), source };
        let spool = tempfile::NamedTempFile::new().map_err(spool_error)?;
        let mut file = tokio::fs::File::from_std(spool.reopen().map_err(spool_error)?);
        let mut input = got.into_async_read();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = input.read(&mut buf).await.map_err(spool_error)?;
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else { break };
            hasher.update(chunk);
            file.write_all(chunk).await.map_err(spool_error)?;
        }
        file.flush().await.map_err(spool_error)?;
        let found = hex::encode(hasher.finalize());
        if found != object.sha256 {
            return Err(ValidatorError::StagingChecksum { object: object.clone(), found });
        }
        Ok(spool)
    }

    async fn read_catalog(&self, object: &ObjectRef) -> Result<Catalog, ValidatorError> {
        let bytes =
            self.store.get_bytes(&object.key).await.map_err(|e| ValidatorError::input("catalogue", object, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|source| ValidatorError::UnreadableCatalog { object: object.clone(), source })
    }

    /// Create-only write that accepts identical bytes. With `supersedes` (a newer revision of the day) an
    /// object with other bytes is kept under `historico/reemplazado/` and replaced; otherwise it is a
    /// conflict.
    async fn put(&self, key: &str, bytes: Vec<u8>, supersedes: bool) -> Result<ObjectRef, ValidatorError> {
        let sha256 = sha256_hex(&bytes);
        let size = bytes.len() as u64;
        let payload = Bytes::from(bytes);
        match self.store.put_idempotent(key, payload.clone()).await {
            Ok(_) => {}
            Err(StoreError::Precondition { .. }) if supersedes => {
                let kept =
                    pinta_platform::versions::replace_keeping(self.store.as_ref(), key, payload, self.clock.now())
                        .await
                        .map_err(|e| ValidatorError::store("replacing", key, e))?;
                tracing::info!(key, kept_under = ?kept.kept_under, "previous version replaced");
            }
            Err(e) => return Err(ValidatorError::store("writing", key, e)),
        }
        Ok(ObjectRef { key: key.to_owned(), sha256, size })
    }

    fn events(
        &self,
        event: &ProductionTransformedV1,
        ctx: &HandlerContext,
        v: &DaySummary,
        curated: Option<&ObjectRef>,
        quarantine: Option<&ObjectRef>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Envelope> {
        let day = event.production_date;
        let source = source_of(Stage::Validator);
        // Revision 1 keeps the identity events had before revisions existed.
        let revision = if event.revision > 1 { format!("|r{}", event.revision) } else { String::new() };
        let identity = |out: Option<&ObjectRef>| {
            format!("{day}|{}|{}{revision}", event.raw.sha256, out.map(|o| o.sha256.as_str()).unwrap_or("-"))
        };
        let mut events = Vec::new();
        if let Some(q) = quarantine {
            let payload = v.quarantined_event(day, q.clone(), event.raw.clone(), event.revision, event.backfill);
            events.push(Envelope::wrap(
                &source,
                &PintaEvent::RowsQuarantinedV1(payload),
                &identity(Some(q)),
                now,
                Some(ctx.traceparent.child(b"validator.rows.quarantined")),
            ));
        }
        match curated {
            Some(c) => {
                let payload = v.published_event(
                    day,
                    c.clone(),
                    quarantine.cloned(),
                    event.raw.clone(),
                    event.revision,
                    event.backfill,
                );
                events.push(Envelope::wrap(
                    &source,
                    &PintaEvent::ProductionPublishedV1(payload),
                    &format!("{}|{}", identity(Some(c)), quarantine.map(|q| q.sha256.as_str()).unwrap_or("-")),
                    now,
                    Some(ctx.traceparent.child(b"validator.production.published")),
                ));
            }
            None => {
                let payload = PipelineFailedV1 {
                    production_date: Some(day),
                    stage: Stage::Validator,
                    code: FailureCode::DayHeld,
                    message: format!(
                        "day {day} held: {} of {} rows failed validation ({:.1} % > threshold {:.1} %); nothing published, every row is in {}",
                        v.rows_failed,
                        v.rows_in,
                        v.failed_ratio * 100.0,
                        self.rules.quarantine_threshold * 100.0,
                        quarantine.map(|q| q.key.as_str()).unwrap_or("quarantine"),
                    ),
                    retryable: false,
                    attempts: ctx.attempt,
                    object: quarantine.cloned(),
                    rows: Some(v.rows_in),
                    caused_by: Some(EventRef {
                        id: ctx.envelope.id.clone(),
                        source: ctx.envelope.source.clone(),
                        event_type: ctx.envelope.event_type.clone(),
                    }),
                    failed_at: now,
                };
                events.push(Envelope::wrap(
                    &source,
                    &PintaEvent::PipelineFailedV1(payload),
                    &format!("{}|{}", identity(quarantine), FailureCode::DayHeld),
                    now,
                    Some(ctx.traceparent.child(b"validator.pipeline.failed")),
                ));
            }
        }
        events
    }
}

fn event_type_name(e: &Envelope) -> &'static str {
    EventType::parse(&e.event_type).map(EventType::as_str).unwrap_or("event")
}

#[async_trait]
impl EventHandler for Validator {
    fn name(&self) -> &'static str {
        "validator"
    }

    fn stage(&self) -> Stage {
        Stage::Validator
    }

    fn accepts(&self) -> &'static [EventType] {
        &[EventType::ProductionTransformedV1]
    }

    /// Publishes its own events (see the module doc), so it always returns an empty list.
    async fn handle(&self, event: PintaEvent, ctx: &HandlerContext) -> Result<Vec<Envelope>, HandlerError> {
        match event {
            PintaEvent::ProductionTransformedV1(e) => {
                self.process(&e, ctx).await?;
            }
            other => {
                tracing::warn!(event_type = other.event_type().as_str(), "validator ignores this event type");
            }
        }
        Ok(Vec::new())
    }
}
