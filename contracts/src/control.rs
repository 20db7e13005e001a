//! Pinta's own bookkeeping records kept in the bucket under `_control/`.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::ObjectRef;

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
}
