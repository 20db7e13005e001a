//! The reconciler sweep: compares the raw layer with the day-completion records and re-announces every
//! raw file whose day never completed for its current content — a lost message, a crash between stages,
//! or a CSV dropped into `crudos/` by hand. It is what makes the embedded mode durable across restarts.
//!
//! A re-announcement carries the revision of the raw file's content (from the revision record the
//! extractor wrote when it superseded the day, else 1).
//!
//! Its events come from `/pinta/reconciler` with an id unique to the sweep, so consumers that already
//! processed the original extraction still take the re-announcement; every stage is idempotent, so
//! redoing finished work changes nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDate;
use pinta_contracts::control::DayRecord;
use pinta_contracts::events::{ObjectRef, ProductionExtractedV1};
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{Envelope, PintaEvent, Stage, layout, sha256_hex};
use pinta_platform::ports::{Clock, EventPublisher, ObjectStore, ObjectStoreExt, StoreError};
use pinta_platform::runner::source_of;
use pinta_platform::versions;

use crate::ExtractError;

/// What a sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Raw files looked at.
    pub raw_files: usize,
    /// Days complete for their current raw content.
    pub complete: usize,
    /// Raw files younger than the grace period (probably still in the pipeline).
    pub in_flight: usize,
    /// Days re-announced.
    pub reemitted: Vec<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct Reconciler {
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
}

impl Reconciler {
    pub fn new(store: Arc<dyn ObjectStore>, clock: Arc<dyn Clock>) -> Self {
        Reconciler { store, clock }
    }

    /// One sweep. Raw files modified less than `grace` ago are left alone.
    pub async fn sweep(&self, publisher: &dyn EventPublisher, grace: Duration) -> Result<SweepReport, ExtractError> {
        let mut report = SweepReport::default();
        let now = self.clock.now();
        let sweep_id = uuid::Uuid::new_v4();
        let mut catalog: Option<Option<ObjectRef>> = None;
        for meta in self.store.list(layout::RAW_PREFIX).await? {
            let Some(day) = layout::day_of_raw_key(&meta.key) else {
                tracing::warn!(key = %meta.key, "file in crudos/ does not follow produccion_raw_YYYY-MM-DD.csv; ignored");
                continue;
            };
            report.raw_files += 1;
            let raw_bytes = match self.store.get_bytes(&meta.key).await {
                Ok(b) => b,
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let raw = ObjectRef { key: meta.key.clone(), sha256: sha256_hex(&raw_bytes), size: raw_bytes.len() as u64 };
            if self.is_complete(day, &raw.sha256).await? {
                report.complete += 1;
                continue;
            }
            let age = now.signed_duration_since(meta.last_modified).to_std().unwrap_or_default();
            if age < grace {
                report.in_flight += 1;
                continue;
            }
            if catalog.is_none() {
                catalog = Some(self.current_catalog().await?);
            }
            let catalog_ref = catalog.clone().flatten();
            let revision = versions::revision_of_raw(self.store.as_ref(), day, &raw.sha256).await?;
            let payload = ProductionExtractedV1 {
                production_date: day,
                raw: raw.clone(),
                rows: count_records(&raw_bytes),
                catalog: catalog_ref.clone(),
                origin: "reconciler".to_owned(),
                revision: revision,
                backfill: false,
            };
            let identity = format!(
                "{day}|{}|{}|r{revision}|sweep {sweep_id}",
                raw.sha256,
                catalog_ref.as_ref().map(|c| c.sha256.as_str()).unwrap_or("")
            );
            let envelope = Envelope::wrap(
                &source_of(Stage::Reconciler),
                &PintaEvent::ProductionExtractedV1(payload),
                &identity,
                now,
                Some(TraceParent::from_seed(identity.as_bytes())),
            );
            publisher.publish(&envelope).await?;
            tracing::info!(day = %day, event_id = %envelope.id, "reconciler re-announced an incomplete day");
            report.reemitted.push(day);
        }
        Ok(report)
    }

    async fn is_complete(&self, day: NaiveDate, raw_sha: &str) -> Result<bool, ExtractError> {
        match self.store.get_bytes(&layout::day_record_key(day)).await {
            Ok(bytes) => match serde_json::from_slice::<DayRecord>(&bytes) {
                Ok(record) => Ok(record.raw.sha256 == raw_sha),
                Err(e) => {
                    tracing::warn!(day = %day, error = %e, "unreadable day record; the day will be redone");
                    Ok(false)
                }
            },
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The latest catalogue snapshot, content-addressed, if the extractor ever took one.
    async fn current_catalog(&self) -> Result<Option<ObjectRef>, ExtractError> {
        let bytes = match self.store.get_bytes(layout::CURRENT_CATALOG_KEY).await {
            Ok(b) => b,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let sha = sha256_hex(&bytes);
        let key = layout::catalog_key(&sha);
        let size = bytes.len() as u64;
        self.store.put_idempotent(&key, Bytes::from(bytes.to_vec())).await?;
        Ok(Some(ObjectRef { key, sha256: sha, size }))
    }
}

/// Data records of a CSV (header excluded, blank lines ignored). Informational: the transformer
/// reports the authoritative count.
fn count_records(bytes: &[u8]) -> u64 {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(bytes);
    reader.byte_records().filter(|r| r.as_ref().map(|rec| rec.iter().any(|f| !f.is_empty())).unwrap_or(true)).count() as u64
}
