//! `pinta quarantine list|show`: review what was set aside, with reasons, from the quarantine files
//! and the day completion records.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pinta_contracts::layout;
use pinta_contracts::tables::CURATED_COLUMNS;
use pinta_platform::ports::{ObjectStore, ObjectStoreExt, StoreError};
use pinta_validator::{QuarantineEntry, read_quarantine_parquet};

/// One day with quarantined rows.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantinedDay {
    pub day: NaiveDate,
    pub rows: usize,
    /// Rows per reason code.
    pub reasons: BTreeMap<String, usize>,
    /// `published` / `held` / `incomplete`.
    pub status: String,
}

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("object store")]
    Store(#[from] StoreError),
    #[error("unreadable quarantine file {key}")]
    Unreadable { key: String, source: pinta_validator::OutputError },
}

/// Every day that has a quarantine file, oldest first.
pub async fn list(store: &dyn ObjectStore) -> Result<Vec<QuarantinedDay>, QuarantineError> {
    let mut out = Vec::new();
    for meta in store.list(layout::QUARANTINE_PREFIX).await? {
        let Some(day) = layout::day_of_quarantine_key(&meta.key) else { continue };
        let entries = show(store, day).await?;
        let mut reasons = BTreeMap::new();
        for e in &entries {
            for r in e.reasons.split(',').filter(|r| !r.is_empty()) {
                *reasons.entry(r.to_owned()).or_insert(0) += 1;
            }
        }
        let status = match store.get_bytes(&layout::day_record_key(day)).await {
            Ok(b) => serde_json::from_slice::<pinta_contracts::control::DayRecord>(&b)
                .map(|r| format!("{:?}", r.status).to_lowercase())
                .unwrap_or_else(|_| "unknown".into()),
            Err(StoreError::NotFound { .. }) => "incomplete".into(),
            Err(e) => return Err(e.into()),
        };
        out.push(QuarantinedDay { day, rows: entries.len(), reasons, status });
    }
    Ok(out)
}

/// The quarantined rows of one day (empty when the day has none).
pub async fn show(store: &dyn ObjectStore, day: NaiveDate) -> Result<Vec<QuarantineEntry>, QuarantineError> {
    let key = layout::quarantine_key(day);
    let bytes = match store.get_bytes(&key).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    read_quarantine_parquet(bytes).map_err(|source| QuarantineError::Unreadable { key, source })
}

/// Text rendering of `show`.
pub fn render(day: NaiveDate, entries: &[QuarantineEntry]) -> String {
    if entries.is_empty() {
        return format!("{day}: no quarantined rows\n");
    }
    let mut out = format!("{day}: {} quarantined row(s)\n", entries.len());
    for e in entries {
        out.push_str(&format!("  line {:>5}  {}\n           {}\n", e.line, e.reasons, e.detail));
        let values: Vec<String> = CURATED_COLUMNS
            .iter()
            .zip(e.values.iter())
            .map(|(c, v)| format!("{c}={}", v.as_deref().map(|s| format!("{s:?}")).unwrap_or_else(|| "—".into())))
            .collect();
        out.push_str(&format!("           {}\n", values.join("  ")));
    }
    out
}
