//! Pinta's own bookkeeping records kept in the bucket under `_control/`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::{ObjectRef, first_revision};

/// How a day's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    /// Curated output written and `production.published.v1` sent.
    Published,
    /// Quarantine threshold exceeded: every row is in quarantine and `pipeline.failed.v1` was sent.
    Held,
}

/// `_control/days/YYYY-MM-DD.json`: written by the validator *after* its events are published, so its
/// presence (for the current raw checksum) means the day needs no more work. The reconciler re-emits
/// work for every raw file without a matching record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DayRecord {
    pub production_date: NaiveDate,
    pub status: DayStatus,
    pub raw: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curated: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<ObjectRef>,
    pub rows_in: u64,
    pub rows_curated: u64,
    pub rows_quarantined: u64,
    /// Ids of the events sent for the day.
    pub event_ids: Vec<String>,
    pub completed_at: DateTime<Utc>,
    /// Version of the day's output this record describes (1 = first; see the events' `revision`).
    /// Records from before revisions existed read as 1.
    #[serde(default = "first_revision")]
    pub revision: u32,
}

/// `_control/revisions/YYYY-MM-DD.json`: written by the extractor when it supersedes a day's raw file with
/// a new version (source rows changed after the day was extracted), *before* it overwrites the raw file.
/// It ties the raw content to its revision so that a re-run, or the reconciler re-announcing an
/// unfinished day, announces the same revision again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RevisionRecord {
    pub production_date: NaiveDate,
    pub revision: u32,
    /// The raw file of this revision.
    pub raw: ObjectRef,
    /// Where the previous version was kept (`historico/reemplazado/<stamp>/`), if anything existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_kept_under: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `_control/extractor/watermark.json`: how far the extractor has looked for changed source rows.
/// Rows whose update timestamp (`produccion.actualizado_en`, in the source database's own clock) is
/// later than `updated_after` have not been checked yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExtractorWatermark {
    /// The highest update timestamp seen in the source when the last check completed.
    pub updated_after: NaiveDateTime,
    /// When that check completed.
    pub checked_at: DateTime<Utc>,
}
