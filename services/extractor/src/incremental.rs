//! Incremental extraction: picks up rows added or corrected in the source after their day was
//! extracted, and re-publishes such a day as a new revision of its output.
//!
//! The extractor keeps a watermark in the bucket (`_control/extractor/watermark.json`, so it is as durable
//! as the outputs, locally and on S3): the highest `produccion.actualizado_en` it has checked. Each
//! [`Extractor::refresh_changed`] asks the source for the days with rows updated after
//! `watermark − overlap` and re-extracts those that already have a raw file. A day whose rows render to
//! the same CSV writes and publishes nothing; a day whose CSV changed is superseded (the previous raw,
//! curated, quarantine and day record are kept under `historico/reemplazado/<stamp>/`) and announced
//! with `revision` + 1, so the transformer and validator redo it. The watermark moves only after every
//! changed day was handled. With no watermark yet, every extracted day is compared once.
//!
//! The overlap (`PINTA_WATERMARK_OVERLAP_SECS`, default 300) covers writers whose clocks lag and rows
//! committed in the same second as the watermark was read; re-checking a day costs one query and a
//! comparison, never a write.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, NaiveDateTime};
use pinta_contracts::control::ExtractorWatermark;
use pinta_contracts::layout;
use pinta_platform::ports::{EventPublisher, ObjectStoreExt, PutOptions, StoreError};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::error_chain;
use pinta_platform::versions;

use crate::{ExtractError, Extractor};

/// Settings of incremental extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncrementalConfig {
    /// How far before the watermark changes are looked for again.
    pub overlap: Duration,
}

impl Default for IncrementalConfig {
    fn default() -> Self {
        IncrementalConfig { overlap: Duration::from_secs(300) }
    }
}

/// `PINTA_WATERMARK_OVERLAP_SECS` is not a whole number of seconds.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is invalid: expected a whole number of seconds (e.g. 300)")]
pub struct IncrementalConfigError {
    pub variable: &'static str,
    pub value: String,
}

impl IncrementalConfig {
    pub const OVERLAP_VAR: &'static str = "PINTA_WATERMARK_OVERLAP_SECS";

    pub fn from_env() -> Result<IncrementalConfig, IncrementalConfigError> {
        IncrementalConfig::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<IncrementalConfig, IncrementalConfigError> {
        match lookup(Self::OVERLAP_VAR) {
            None => Ok(IncrementalConfig::default()),
            Some(value) => match value.trim().parse::<u64>() {
                Ok(secs) => Ok(IncrementalConfig { overlap: Duration::from_secs(secs) }),
                Err(_) => Err(IncrementalConfigError { variable: Self::OVERLAP_VAR, value }),
            },
        }
    }
}

/// What one incremental pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// The watermark the pass started from (`None`: first pass, every extracted day was compared).
    pub since: Option<NaiveDateTime>,
    /// Already-extracted days with changed rows that were re-extracted and compared.
    pub checked: Vec<NaiveDate>,
    /// Days re-published, with their new revision.
    pub republished: Vec<(NaiveDate, u32)>,
    /// Days whose re-extraction failed (each announced with `pipeline.failed.v1`); the watermark did not move.
    pub failed: Vec<NaiveDate>,
    /// The watermark after the pass.
    pub watermark: Option<NaiveDateTime>,
}

impl Extractor {
    /// The stored watermark, if any (an unreadable one counts as none: every day is compared again).
    pub async fn watermark(&self) -> Result<Option<ExtractorWatermark>, ExtractError> {
        match self.store.get_bytes(layout::WATERMARK_KEY).await {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                .inspect_err(|e| tracing::warn!(error = %e, "unreadable extractor watermark; every day is compared again"))
                .ok()),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn store_watermark(&self, updated_after: NaiveDateTime) -> Result<(), ExtractError> {
        let mark = ExtractorWatermark { updated_after, checked_at: self.clock.now() };
        let json = serde_json::to_vec_pretty(&mark).unwrap_or_default();
        self.store.put_opts(layout::WATERMARK_KEY, Bytes::from(json), PutOptions::overwrite()).await?;
        Ok(())
    }

    /// One incremental pass (see the module doc). Transient failures are retried with `retry`; a day that
    /// still fails is announced with `pipeline.failed.v1` and listed in the report, and the pass goes on
    /// with the other days. Fails as a whole (after announcing it) only when the source cannot say what
    /// changed.
    pub async fn refresh_changed(
        &self,
        publisher: &dyn EventPublisher,
        retry: &RetryPolicy,
    ) -> Result<RefreshReport, ExtractError> {
        let since = self.watermark().await?.map(|w| w.updated_after);
        let overlap = chrono::Duration::from_std(self.incremental.overlap).unwrap_or_default();
        let after = since.map(|w| w - overlap);
        let changes = self.with_retry(publisher, None, retry, move || async move { Ok(self.source.changes_since(after).await?) }).await?;
        let extracted: BTreeSet<NaiveDate> =
            self.store.list(layout::RAW_PREFIX).await?.iter().filter_map(|m| layout::day_of_raw_key(&m.key)).collect();
        let mut report = RefreshReport { since, watermark: since, ..RefreshReport::default() };
        for day in changes.days.into_iter().filter(|d| extracted.contains(d)) {
            report.checked.push(day);
            let outcome = self
                .with_retry(publisher, Some(day), retry, move || async move {
                    let x = self.extract(day).await?;
                    // Publish a new version, or one whose run never completed (a crash after the
                    // overwrite); an unchanged, complete day writes and publishes nothing.
                    let complete = versions::day_record(self.store.as_ref(), day)
                        .await?
                        .is_some_and(|r| r.raw.sha256 == x.raw.sha256 && r.revision >= x.revision);
                    if x.created || !complete {
                        publisher.publish(&x.envelope).await?;
                        return Ok(Some(x.revision));
                    }
                    Ok(None)
                })
                .await;
            match outcome {
                Ok(Some(revision)) => report.republished.push((day, revision)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%day, error = %error_chain(&e), "re-extraction of a changed day failed");
                    report.failed.push(day);
                }
            }
        }
        if report.failed.is_empty()
            && let Some(high) = changes.high_water
            && since.is_none_or(|s| high > s)
        {
            self.store_watermark(high).await?;
            report.watermark = Some(high);
        }
        tracing::info!(
            since = ?report.since,
            checked = report.checked.len(),
            republished = report.republished.len(),
            failed = report.failed.len(),
            watermark = ?report.watermark,
            "incremental extraction pass"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_comes_from_the_environment() {
        assert_eq!(IncrementalConfig::from_lookup(|_| None).unwrap(), IncrementalConfig::default());
        assert_eq!(
            IncrementalConfig::from_lookup(|_| Some("0".into())).unwrap().overlap,
            Duration::ZERO
        );
        let e = IncrementalConfig::from_lookup(|_| Some("5m".into())).unwrap_err();
        assert!(e.to_string().contains("PINTA_WATERMARK_OVERLAP_SECS"));
    }
}
