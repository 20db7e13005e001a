//! The extractor service: turns one production day of the source database into
//! `crudos/produccion_raw_YYYY-MM-DD.csv` plus a catalogue snapshot, and announces it with
//! `production.extracted.v1`. Also home of the [`reconcile`] sweep, which re-announces raw files whose
//! day never completed (lost messages, crashes, files dropped into `crudos/` by hand).
//!
//! The extractor is driven by a schedule, not by events: callers (the in-process scheduler, the CLI,
//! a Lambda on an EventBridge tick) call [`Extractor::extract_and_publish`], then
//! [`Extractor::refresh_changed`] — the [`incremental`] pass that re-publishes, as a new revision,
//! any already-extracted day whose source rows changed.

pub mod csv_out;
pub mod error;
pub mod incremental;
pub mod reconcile;

use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use pinta_contracts::control::RevisionRecord;
use pinta_contracts::events::{FIRST_REVISION, ObjectRef, PipelineFailedV1, ProductionExtractedV1};
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{Envelope, FailureCode, PintaEvent, Stage, layout, sha256_hex};
use pinta_platform::ports::{
    Catalog, Clock, EventPublisher, ObjectStore, ObjectStoreExt, ProductionSource, PutOptions, PutOutcome, StoreError,
};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::{Failure, error_chain, source_of};
use pinta_platform::versions;

pub use error::ExtractError;
pub use incremental::{IncrementalConfig, RefreshReport};

/// What one extraction produced.
#[derive(Debug, Clone)]
pub struct Extraction {
    pub day: NaiveDate,
    pub raw: ObjectRef,
    pub rows: u64,
    /// False when an identical raw file was already there (a re-run).
    pub created: bool,
    /// The day's output version this extraction announces (1 = first).
    pub revision: u32,
    pub envelope: Envelope,
}

/// The extractor's capabilities: read the source, write objects, tell the time.
#[derive(Debug, Clone)]
pub struct Extractor {
    source: Arc<dyn ProductionSource>,
    store: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    incremental: IncrementalConfig,
}

impl Extractor {
    pub fn new(source: Arc<dyn ProductionSource>, store: Arc<dyn ObjectStore>, clock: Arc<dyn Clock>) -> Self {
        Extractor { source, store, clock, incremental: IncrementalConfig::default() }
    }

    /// Replaces the incremental-extraction settings (default: [`IncrementalConfig::default`]).
    pub fn with_incremental(mut self, incremental: IncrementalConfig) -> Self {
        self.incremental = incremental;
        self
    }

    /// The day to extract when none is given: the latest production day on or before today.
    pub async fn default_day(&self) -> Result<Option<NaiveDate>, ExtractError> {
        Ok(self.source.latest_day(self.clock.now().date_naive()).await?)
    }

    /// Writes the raw CSV and catalogue snapshot of `day` and returns the event announcing them.
    /// Re-running for the same day with the same source rows writes nothing new and yields the same event
    /// id. When the rows changed since the day's raw file was written, the day gets a new revision: the
    /// current raw, curated, quarantine and day-record objects are kept under
    /// `historico/reemplazado/<stamp>/`, a revision record is written, then the raw file is overwritten
    /// and announced with `revision` + 1.
    pub async fn extract(&self, day: NaiveDate) -> Result<Extraction, ExtractError> {
        let rows = self.source.rows_for_day(day).await?;
        let csv = csv_out::to_csv(&rows)?;
        let raw_key = layout::raw_key(day);
        let raw_sha = sha256_hex(&csv);
        let size = csv.len() as u64;
        let raw = ObjectRef { key: raw_key.clone(), sha256: raw_sha.clone(), size };
        let csv = Bytes::from(csv);
        let (created, revision) = match self.store.put_idempotent(&raw_key, csv.clone()).await {
            Ok(PutOutcome::Created(_)) => {
                // A day record without a raw file (the raw was removed by hand): the new file is a new
                // version of the day's output.
                let revision = match versions::latest_revision(self.store.as_ref(), day).await? {
                    Some(latest) if versions::revision_of_raw(self.store.as_ref(), day, &raw_sha).await? < latest => {
                        self.record_revision(day, &raw, latest + 1, None).await?;
                        latest + 1
                    }
                    _ => versions::revision_of_raw(self.store.as_ref(), day, &raw_sha).await?,
                };
                (true, revision)
            }
            Ok(PutOutcome::AlreadyIdentical(_)) => (false, versions::revision_of_raw(self.store.as_ref(), day, &raw_sha).await?),
            Err(StoreError::Precondition { .. }) => (true, self.supersede(day, &raw, csv).await?),
            Err(e) => return Err(e.into()),
        };
        let catalog = self.snapshot_catalog(&self.source.catalog().await?).await?;
        let payload = ProductionExtractedV1 {
            production_date: day,
            raw: raw.clone(),
            rows: rows.len() as u64,
            catalog: Some(catalog.clone()),
            origin: self.source.kind().to_owned(),
            revision,
            backfill: false,
        };
        // Revision 1 keeps the identity events had before revisions existed.
        let mut identity = format!("{day}|{}|{}", raw.sha256, catalog.sha256);
        if revision > FIRST_REVISION {
            identity.push_str(&format!("|r{revision}"));
        }
        let trace = TraceParent::from_seed(uuid::Uuid::new_v4().as_bytes());
        let envelope = Envelope::wrap(
            &source_of(Stage::Extractor),
            &PintaEvent::ProductionExtractedV1(payload),
            &identity,
            self.clock.now(),
            Some(trace),
        );
        tracing::info!(day = %day, rows = rows.len(), created, revision, event_id = %envelope.id, traceparent = %trace, "day extracted");
        Ok(Extraction { day, raw, rows: rows.len() as u64, created, revision, envelope })
    }

    /// The day's raw file differs from `raw`: keeps the current version, records the new revision, then
    /// overwrites the raw file. Returns the new revision.
    async fn supersede(&self, day: NaiveDate, raw: &ObjectRef, csv: Bytes) -> Result<u32, ExtractError> {
        let store = self.store.as_ref();
        // A crash after the revision record but before the overwrite left the record naming this very
        // content: its revision is reused rather than skipped.
        let revision = match versions::revision_record(store, day).await? {
            Some(r) if r.raw.sha256 == raw.sha256 => r.revision,
            _ => versions::latest_revision(store, day).await?.unwrap_or(FIRST_REVISION).max(FIRST_REVISION) + 1,
        };
        let kept = versions::supersede_day(store, day, self.clock.now()).await?;
        self.record_revision(day, raw, revision, kept.kept_under.clone()).await?;
        self.store.put_opts(&raw.key, csv, PutOptions::overwrite()).await?;
        tracing::info!(%day, revision, kept_under = ?kept.kept_under, "source rows changed; the day is re-published as a new revision");
        Ok(revision)
    }

    async fn record_revision(
        &self,
        day: NaiveDate,
        raw: &ObjectRef,
        revision: u32,
        previous_kept_under: Option<String>,
    ) -> Result<(), ExtractError> {
        let record = RevisionRecord {
            production_date: day,
            revision,
            raw: raw.clone(),
            previous_kept_under,
            created_at: self.clock.now(),
        };
        Ok(versions::write_revision_record(self.store.as_ref(), &record).await?)
    }

    /// Stores the catalogue content-addressed and as `catalogos/actual.json`.
    pub async fn snapshot_catalog(&self, catalog: &Catalog) -> Result<ObjectRef, ExtractError> {
        let bytes = catalog.to_canonical_json();
        let sha = sha256_hex(&bytes);
        let key = layout::catalog_key(&sha);
        let size = bytes.len() as u64;
        self.store.put_idempotent(&key, Bytes::from(bytes.clone())).await?;
        self.store.put_opts(layout::CURRENT_CATALOG_KEY, Bytes::from(bytes), PutOptions::overwrite()).await?;
        Ok(ObjectRef { key, sha256: sha, size })
    }

    /// Extracts `day` (default: the latest production day), retrying transient failures with backoff,
    /// and publishes `production.extracted.v1`. When it gives up it publishes `pipeline.failed.v1` and
    /// returns the error. `Ok(None)` means the source has no production day yet.
    pub async fn extract_and_publish(
        &self,
        publisher: &dyn EventPublisher,
        day: Option<NaiveDate>,
        retry: &RetryPolicy,
    ) -> Result<Option<Extraction>, ExtractError> {
        self.with_retry(publisher, day, retry, move || async move {
            let day = match day {
                Some(d) => d,
                None => match self.default_day().await? {
                    Some(d) => d,
                    None => return Ok(None),
                },
            };
            let extraction = self.extract(day).await?;
            publisher.publish(&extraction.envelope).await?;
            Ok(Some(extraction))
        })
        .await
    }

    /// Runs `work`, retrying transient failures with backoff; when it gives up it publishes
    /// `pipeline.failed.v1` (stage extractor, for `day` when known) and returns the error.
    async fn with_retry<T, F, Fut>(
        &self,
        publisher: &dyn EventPublisher,
        day: Option<NaiveDate>,
        retry: &RetryPolicy,
        mut work: F,
    ) -> Result<T, ExtractError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ExtractError>>,
    {
        let mut attempt = 1;
        loop {
            match work().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && retry.may_retry(attempt) => {
                    let delay = retry.delay(attempt);
                    tracing::warn!(attempt, retry_in_ms = delay.as_millis() as u64, error = %error_chain(&e), "extraction failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.announce_failure(publisher, day, &e, attempt).await;
                    return Err(e);
                }
            }
        }
    }

    async fn announce_failure(&self, publisher: &dyn EventPublisher, day: Option<NaiveDate>, e: &ExtractError, attempts: u32) {
        let now = self.clock.now();
        let failed = PipelineFailedV1 {
            production_date: day,
            stage: Stage::Extractor,
            code: e.code(),
            message: error_chain(e),
            retryable: e.is_retryable(),
            attempts,
            object: None,
            rows: None,
            caused_by: None,
            failed_at: now,
        };
        let identity = format!("{}|{}|{}", day.map(|d| d.to_string()).unwrap_or_default(), e.code(), now.timestamp() / 3600);
        let envelope = Envelope::wrap(&source_of(Stage::Extractor), &PintaEvent::PipelineFailedV1(failed), &identity, now, None);
        tracing::error!(day = ?day, code = %e.code(), error = %error_chain(e), "extraction failed");
        if let Err(pe) = publisher.publish(&envelope).await {
            tracing::error!(error = %pe, "could not publish pipeline.failed.v1");
        }
    }

    /// Production days in `[from, to]` that have no raw file yet (the backlog `pinta up` catches up on).
    pub async fn pending_days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, ExtractError> {
        let existing: std::collections::BTreeSet<NaiveDate> = self
            .store
            .list(layout::RAW_PREFIX)
            .await?
            .iter()
            .filter_map(|m| layout::day_of_raw_key(&m.key))
            .collect();
        Ok(self.source.days(from, to).await?.into_iter().filter(|d| !existing.contains(d)).collect())
    }
}

impl Failure for ExtractError {
    fn code(&self) -> FailureCode {
        ExtractError::code(self)
    }
    fn is_retryable(&self) -> bool {
        ExtractError::is_retryable(self)
    }
}
