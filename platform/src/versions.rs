//! Superseding a day's outputs: before a newer version of a production day overwrites the day's raw,
//! curated, quarantine or day-record objects, the objects there now are copied to
//! `historico/reemplazado/<UTC stamp>/<original key>`, so no published version is ever lost. The caller
//! overwrites afterwards (nothing here deletes or replaces an original).
//!
//! Also owns how a day's *revision* (1 = first version of its output, n = n-th version) is read back from
//! the bucket: the day record (`_control/days/…`, written by the validator) holds the revision last
//! completed, the revision record (`_control/revisions/…`, written by the extractor before it overwrites
//! a raw file) the revision of the raw file being processed.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use pinta_contracts::control::{DayRecord, RevisionRecord};
use pinta_contracts::events::FIRST_REVISION;
use pinta_contracts::layout;

use crate::ports::{ObjectStore, ObjectStoreExt, PutOptions, StoreError};

/// What a superseding copy kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Superseded {
    /// `historico/reemplazado/<stamp>/`, or `None` when none of the objects existed (nothing kept).
    pub kept_under: Option<String>,
    /// The original keys that were copied, in the order given.
    pub kept: Vec<String>,
}

impl Superseded {
    /// Where the previous version of `key` was kept, if it was.
    pub fn kept_key(&self, key: &str) -> Option<String> {
        let folder = self.kept_under.as_ref()?;
        self.kept.iter().any(|k| k == key).then(|| format!("{folder}{key}"))
    }
}

/// The UTC stamp of a superseding operation: `YYYYMMDDTHHMMSS.mmmZ` (sorts by time).
pub fn history_stamp(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// The objects that make up a day's output, in the order they are kept: raw, curated, quarantine, day
/// record.
pub fn day_output_keys(day: NaiveDate) -> [String; 4] {
    [layout::raw_key(day), layout::curated_key(day), layout::quarantine_key(day), layout::day_record_key(day)]
}

async fn get_opt(store: &dyn ObjectStore, key: &str) -> Result<Option<Bytes>, StoreError> {
    match store.get_bytes(key).await {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Copies whichever of `keys` exist to `historico/reemplazado/<stamp>/<key>` (create-only) and says where.
/// The stamp comes from `now`; if another operation already used that stamp for different content, a
/// suffix (`-1`, `-2`, …) makes it unique, so a copy never replaces an earlier one. Re-running after a
/// crash with the same `now` is harmless (identical copies are accepted).
pub async fn keep_versions(
    store: &dyn ObjectStore,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Superseded, StoreError> {
    let mut existing = Vec::new();
    for key in keys {
        if let Some(bytes) = get_opt(store, key).await? {
            existing.push((key.clone(), bytes));
        }
    }
    if existing.is_empty() {
        return Ok(Superseded::default());
    }
    let base = history_stamp(now);
    let mut last_conflict = None;
    for n in 0..16u32 {
        let stamp = if n == 0 { base.clone() } else { format!("{base}-{n}") };
        let mut conflict = None;
        for (key, bytes) in &existing {
            match store.put_idempotent(&layout::superseded_key(&stamp, key), bytes.clone()).await {
                Ok(_) => {}
                Err(e @ StoreError::Precondition { .. }) => {
                    conflict = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        match conflict {
            None => {
                let kept_under = layout::superseded_folder(&stamp);
                tracing::info!(kept_under = %kept_under, objects = existing.len(), "previous version kept");
                return Ok(Superseded { kept_under: Some(kept_under), kept: existing.into_iter().map(|(k, _)| k).collect() });
            }
            Some(e) => last_conflict = Some(e),
        }
    }
    Err(last_conflict.unwrap_or_else(|| StoreError::Precondition {
        key: layout::superseded_folder(&base),
        detail: "no free history folder for this stamp".into(),
    }))
}

/// Keeps the current raw, curated, quarantine and day-record objects of `day` (whichever exist) under
/// `historico/reemplazado/<stamp>/`. The caller then overwrites them.
pub async fn supersede_day(store: &dyn ObjectStore, day: NaiveDate, now: DateTime<Utc>) -> Result<Superseded, StoreError> {
    keep_versions(store, &day_output_keys(day), now).await
}

/// Replaces `key` with `payload` after keeping the current object (if any) under the history folder.
pub async fn replace_keeping(
    store: &dyn ObjectStore,
    key: &str,
    payload: Bytes,
    now: DateTime<Utc>,
) -> Result<Superseded, StoreError> {
    let kept = keep_versions(store, &[key.to_owned()], now).await?;
    store.put_opts(key, payload, PutOptions::overwrite()).await?;
    Ok(kept)
}

/// Removes `key` after keeping the current object (if any) under the history folder — for an output a
/// newer version no longer has (e.g. no quarantined rows any more).
pub async fn remove_keeping(store: &dyn ObjectStore, key: &str, now: DateTime<Utc>) -> Result<Superseded, StoreError> {
    let kept = keep_versions(store, &[key.to_owned()], now).await?;
    if kept.kept_under.is_some() {
        store.delete(key).await?;
    }
    Ok(kept)
}

/// The day record of `day`, if it has a readable one (an unreadable record counts as none).
pub async fn day_record(store: &dyn ObjectStore, day: NaiveDate) -> Result<Option<DayRecord>, StoreError> {
    Ok(get_opt(store, &layout::day_record_key(day)).await?.and_then(|b| match serde_json::from_slice(&b) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(%day, error = %e, "unreadable day record; ignored");
            None
        }
    }))
}

/// The revision record of `day`, if the day's raw file was ever superseded.
pub async fn revision_record(store: &dyn ObjectStore, day: NaiveDate) -> Result<Option<RevisionRecord>, StoreError> {
    Ok(get_opt(store, &layout::revision_key(day)).await?.and_then(|b| match serde_json::from_slice(&b) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(%day, error = %e, "unreadable revision record; ignored");
            None
        }
    }))
}

/// Writes (replaces) the revision record of its day.
pub async fn write_revision_record(store: &dyn ObjectStore, record: &RevisionRecord) -> Result<(), StoreError> {
    let json = serde_json::to_vec_pretty(record).unwrap_or_default();
    store.put_opts(&layout::revision_key(record.production_date), Bytes::from(json), PutOptions::overwrite()).await?;
    Ok(())
}

/// The highest revision the bucket knows for `day` (day record or revision record), `None` when neither
/// exists.
pub async fn latest_revision(store: &dyn ObjectStore, day: NaiveDate) -> Result<Option<u32>, StoreError> {
    let a = day_record(store, day).await?.map(|r| r.revision);
    let b = revision_record(store, day).await?.map(|r| r.revision);
    Ok(a.max(b))
}

/// The revision of a raw file of `day` whose content has checksum `raw_sha256`: the revision record's if
/// it names this content, else the day record's if that does, else the first revision.
pub async fn revision_of_raw(store: &dyn ObjectStore, day: NaiveDate, raw_sha256: &str) -> Result<u32, StoreError> {
    if let Some(r) = revision_record(store, day).await?
        && r.raw.sha256 == raw_sha256
    {
        return Ok(r.revision);
    }
    if let Some(r) = day_record(store, day).await?
        && r.raw.sha256 == raw_sha256
    {
        return Ok(r.revision);
    }
    Ok(FIRST_REVISION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::LocalObjectStore;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 4).unwrap()
    }

    #[tokio::test]
    async fn keeps_whichever_objects_exist_and_never_replaces_a_kept_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path());
        let now = Utc::now();
        assert_eq!(supersede_day(&store, day(), now).await.unwrap(), Superseded::default());
        store.put_create(&layout::raw_key(day()), Bytes::from_static(b"v1")).await.unwrap();
        store.put_create(&layout::curated_key(day()), Bytes::from_static(b"c1")).await.unwrap();
        let first = supersede_day(&store, day(), now).await.unwrap();
        assert_eq!(first.kept, vec![layout::raw_key(day()), layout::curated_key(day())]);
        let raw_copy = first.kept_key(&layout::raw_key(day())).unwrap();
        assert!(raw_copy.starts_with("historico/reemplazado/") && raw_copy.ends_with("crudos/produccion_raw_2025-03-04.csv"));
        assert_eq!(store.get_bytes(&raw_copy).await.unwrap(), Bytes::from_static(b"v1"));
        assert_eq!(first.kept_key(&layout::quarantine_key(day())), None);
        // Same stamp again with the same content: the same folder (a re-run after a crash).
        assert_eq!(supersede_day(&store, day(), now).await.unwrap(), first);
        // Same stamp, other content: another folder; the first copy is untouched.
        replace_keeping(&store, &layout::raw_key(day()), Bytes::from_static(b"v2"), now).await.unwrap();
        assert_eq!(store.get_bytes(&layout::raw_key(day())).await.unwrap(), Bytes::from_static(b"v2"));
        let second = supersede_day(&store, day(), now).await.unwrap();
        assert_ne!(second.kept_under, first.kept_under);
        assert_eq!(store.get_bytes(&raw_copy).await.unwrap(), Bytes::from_static(b"v1"));
        assert_eq!(
            store.get_bytes(&second.kept_key(&layout::raw_key(day())).unwrap()).await.unwrap(),
            Bytes::from_static(b"v2")
        );
        // Removing keeps a copy first.
        let removed = remove_keeping(&store, &layout::curated_key(day()), now + chrono::Duration::seconds(1)).await.unwrap();
        assert!(!store.exists(&layout::curated_key(day())).await.unwrap());
        assert_eq!(
            store.get_bytes(&removed.kept_key(&layout::curated_key(day())).unwrap()).await.unwrap(),
            Bytes::from_static(b"c1")
        );
    }

    #[tokio::test]
    async fn revisions_are_read_from_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path());
        assert_eq!(latest_revision(&store, day()).await.unwrap(), None);
        assert_eq!(revision_of_raw(&store, day(), "aa").await.unwrap(), 1);
        let raw = pinta_contracts::events::ObjectRef { key: layout::raw_key(day()), sha256: "bb".into(), size: 2 };
        let record = RevisionRecord { production_date: day(), revision: 3, raw, previous_kept_under: None, created_at: Utc::now() };
        write_revision_record(&store, &record).await.unwrap();
        assert_eq!(latest_revision(&store, day()).await.unwrap(), Some(3));
        assert_eq!(revision_of_raw(&store, day(), "bb").await.unwrap(), 3);
        assert_eq!(revision_of_raw(&store, day(), "aa").await.unwrap(), 1);
    }
}
