//! `pinta quarantine list|show|release`: review what was set aside, with reasons, from the quarantine
//! files and the day completion records; and release rows after a fix.
//!
//! `release DATE --rows L,L… | --all` re-validates the selected quarantined rows of a day against the
//! *current* rule set (`PINTA_RULES_FILE`) and catalogue (the source database's, else
//! `catalogos/actual.json`) with the validator's own rules ([`pinta_validator::revalidate`]). Rows that
//! now pass move to curated; the rest stay quarantined with their new reasons. When anything changed,
//! the day becomes a new revision:
//! 1. the current curated, quarantine and day-record objects are kept under
//!    `historico/reemplazado/<stamp>/` ([`pinta_platform::versions`]);
//! 2. the new curated and quarantine Parquet replace them (a file the new version no longer has is
//!    removed, its copy kept);
//! 3. `rows.quarantined.v1` (when rows remain) and `production.published.v1` (unless the day is still
//!    held) are published with the next `revision`;
//! 4. the day record is rewritten with that revision.
//!
//! Every release — changed or not — is recorded, append-only, as one create-only object
//! `_control/releases/YYYY-MM-DD/<stamp>-<id>.json` ([`ReleaseRecord`]: who, when, which rows, the
//! catalogue used, the result), and `show` lists them. Rows are conserved: curated + quarantined equals
//! the day's rows before and after, or nothing is written.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use pinta_contracts::catalog::Catalog;
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::events::ObjectRef;
use pinta_contracts::tables::CURATED_COLUMNS;
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{Envelope, PintaEvent, Stage, layout, sha256_hex};
use pinta_platform::ports::{BusError, EventPublisher, ObjectStore, ObjectStoreExt, PutOptions, StoreError};
use pinta_validator::{
    QuarantineEntry, QuarantinedNow, RuleSet, Selection, read_quarantine_parquet, read_staging, revalidate,
    write_curated_parquet, write_quarantine_parquet,
};
use serde::{Deserialize, Serialize};

/// Prefix of the release records.
pub const RELEASES_PREFIX: &str = "_control/releases/";

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
    #[error("{day} has no completed run (no day record): nothing to release")]
    NoDayRecord { day: NaiveDate },
    #[error("{day} has no quarantined rows")]
    NothingQuarantined { day: NaiveDate },
    #[error("unreadable {what} {key}: {reason}")]
    Corrupt { what: &'static str, key: String, reason: String },
    #[error("{day}: the stored files do not add up ({detail}); refusing to release")]
    Inconsistent { day: NaiveDate, detail: String },
    #[error("cannot re-validate {day}: {source}")]
    Revalidate { day: NaiveDate, source: pinta_validator::RevalidateError },
    #[error("cannot build the new {what} file: {source}")]
    Output { what: &'static str, source: pinta_validator::OutputError },
    #[error("publishing {event_type} failed: {source}")]
    Publish { event_type: &'static str, source: BusError },
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
            Ok(b) => serde_json::from_slice::<DayRecord>(&b)
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

/// A line that stayed in quarantine after a release, with its reasons then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StillQuarantined {
    pub line: u64,
    pub reasons: Vec<String>,
}

/// A day's counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    pub status: DayStatus,
    pub revision: u32,
    pub rows_in: u64,
    pub rows_curated: u64,
    pub rows_quarantined: u64,
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseResult {
    /// The day was rewritten as a new revision.
    NewRevision,
    /// Nothing changed (no selected row passes now, or they were released before).
    Unchanged,
}

/// One release, as recorded under `_control/releases/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub production_date: NaiveDate,
    pub released_at: DateTime<Utc>,
    /// Who asked (`--by`, default `$USER`).
    pub by: String,
    /// `all`, or the requested lines.
    pub selection: String,
    /// The catalogue the rows were judged against (`None`: no catalogue, names not checked).
    pub catalog: Option<ObjectRef>,
    pub result: ReleaseResult,
    /// Lines moved to curated.
    pub released: Vec<u64>,
    /// Selected lines that stay quarantined.
    pub still_quarantined: Vec<StillQuarantined>,
    /// Requested lines that were not in quarantine (ignored).
    pub not_quarantined: Vec<u64>,
    pub before: DayCounts,
    pub after: DayCounts,
    /// Where the previous version was kept.
    pub previous_kept_under: Option<String>,
    /// Events published for the new revision.
    pub event_ids: Vec<String>,
}

/// What to release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub day: NaiveDate,
    pub selection: Selection,
    pub by: String,
}

/// The catalogue to judge against, with the snapshot object it came from.
#[derive(Debug, Clone)]
pub struct CurrentCatalog {
    pub catalog: Catalog,
    pub object: ObjectRef,
}

async fn get_opt(store: &dyn ObjectStore, key: &str) -> Result<Option<Bytes>, StoreError> {
    match store.get_bytes(key).await {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn parquet_rows(key: &str, bytes: Bytes) -> Result<u64, QuarantineError> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map(|b| u64::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0))
        .map_err(|e| QuarantineError::Corrupt { what: "Parquet file", key: key.to_owned(), reason: e.to_string() })
}

fn selection_text(selection: &Selection) -> String {
    match selection {
        Selection::All => "all".to_owned(),
        Selection::Lines(lines) => lines.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
    }
}

/// Re-validates and releases quarantined rows of a day (see the module doc). `now` stamps the release,
/// the history folder and the events, and is the time `FUTURE_DATE` is judged against.
pub async fn release(
    store: &dyn ObjectStore,
    publisher: &dyn EventPublisher,
    rules: &RuleSet,
    catalog: Option<&CurrentCatalog>,
    now: DateTime<Utc>,
    req: &ReleaseRequest,
) -> Result<ReleaseRecord, QuarantineError> {
    let day = req.day;
    let record = pinta_platform::versions::day_record(store, day)
        .await?
        .ok_or(QuarantineError::NoDayRecord { day })?;

    // The day as the pipeline staged it, and what is in its files now.
    let staging_key = layout::staging_key(day, &record.raw.sha256);
    let staging = store.get_bytes(&staging_key).await?;
    let rows = read_staging(&staging).map_err(|e| QuarantineError::Corrupt {
        what: "staging file",
        key: staging_key.clone(),
        reason: e.to_string(),
    })?;
    let entries = show(store, day).await?;
    if entries.is_empty() {
        return Err(QuarantineError::NothingQuarantined { day });
    }
    let curated_key = layout::curated_key(day);
    let quarantine_key = layout::quarantine_key(day);
    let curated_now = get_opt(store, &curated_key).await?;
    let quarantine_now = get_opt(store, &quarantine_key).await?;
    let curated_rows_now = match &curated_now {
        Some(b) => parquet_rows(&curated_key, b.clone())?,
        None => 0,
    };
    let rows_in = rows.len() as u64;
    if curated_rows_now + entries.len() as u64 != rows_in {
        return Err(QuarantineError::Inconsistent {
            day,
            detail: format!("{curated_rows_now} curated + {} quarantined ≠ {rows_in} staged rows", entries.len()),
        });
    }
    let mut quarantined = Vec::with_capacity(entries.len());
    for e in &entries {
        let reasons = pinta_validator::release::parse_reasons(&e.reasons).map_err(|reason| {
            QuarantineError::Corrupt { what: "quarantine file", key: quarantine_key.clone(), reason }
        })?;
        let line = u64::try_from(e.line).map_err(|_| QuarantineError::Corrupt {
            what: "quarantine file",
            key: quarantine_key.clone(),
            reason: format!("negative line {}", e.line),
        })?;
        quarantined.push(QuarantinedNow { line, reasons, detail: e.detail.clone() });
    }

    let r = revalidate(&rows, day, catalog.map(|c| &c.catalog), rules, now, &quarantined, &req.selection)
        .map_err(|source| QuarantineError::Revalidate { day, source })?;
    let v = &r.validation;
    if !v.is_conserved() {
        return Err(QuarantineError::Inconsistent {
            day,
            detail: format!("re-validation gave {} curated + {} quarantined of {rows_in}", v.curated.len(), v.quarantined.len()),
        });
    }
    let curated_bytes = if v.held {
        None
    } else {
        Some(write_curated_parquet(&v.curated).map_err(|source| QuarantineError::Output { what: "curated", source })?)
    };
    let quarantine_bytes = if v.quarantined.is_empty() {
        None
    } else {
        Some(
            write_quarantine_parquet(&v.quarantined)
                .map_err(|source| QuarantineError::Output { what: "quarantine", source })?,
        )
    };
    let before = DayCounts {
        status: record.status,
        revision: record.revision,
        rows_in,
        rows_curated: curated_rows_now,
        rows_quarantined: entries.len() as u64,
    };
    let unchanged = curated_bytes.as_deref() == curated_now.as_deref()
        && quarantine_bytes.as_deref() == quarantine_now.as_deref()
        && (record.status == DayStatus::Held) == v.held;
    let still_quarantined = r
        .still_quarantined
        .iter()
        .map(|(line, reasons)| StillQuarantined {
            line: *line,
            reasons: reasons.iter().map(|c| c.as_str().to_owned()).collect(),
        })
        .collect();
    let mut out = ReleaseRecord {
        production_date: day,
        released_at: now,
        by: req.by.clone(),
        selection: selection_text(&req.selection),
        catalog: catalog.map(|c| c.object.clone()),
        result: ReleaseResult::Unchanged,
        released: Vec::new(),
        still_quarantined,
        not_quarantined: r.not_quarantined.clone(),
        before: before.clone(),
        after: before,
        previous_kept_under: None,
        event_ids: Vec::new(),
    };
    if unchanged {
        write_record(store, &out).await?;
        return Ok(out);
    }

    // A new revision: keep the current version, write the new one, announce it, then the day record.
    let revision = pinta_platform::versions::latest_revision(store, day)
        .await?
        .unwrap_or(record.revision)
        .max(record.revision)
        + 1;
    let kept = pinta_platform::versions::keep_versions(
        store,
        &[curated_key.clone(), quarantine_key.clone(), layout::day_record_key(day)],
        now,
    )
    .await?;
    let curated = put_or_remove(store, &curated_key, curated_bytes).await?;
    let quarantine = put_or_remove(store, &quarantine_key, quarantine_bytes).await?;

    let source = pinta_platform::runner::source_of(Stage::Validator);
    let identity = format!(
        "{day}|{}|{}|{}|release revision {revision}",
        record.raw.sha256,
        curated.as_ref().map(|c| c.sha256.as_str()).unwrap_or("-"),
        quarantine.as_ref().map(|q| q.sha256.as_str()).unwrap_or("-")
    );
    let trace = TraceParent::from_seed(identity.as_bytes());
    let mut events = Vec::new();
    if let Some(q) = &quarantine {
        let payload = v.quarantined_event(day, q.clone(), record.raw.clone(), revision, false);
        events.push(Envelope::wrap(
            &source,
            &PintaEvent::RowsQuarantinedV1(payload),
            &format!("{identity}|rows.quarantined"),
            now,
            Some(trace.child(b"release.rows.quarantined")),
        ));
    }
    if let Some(c) = &curated {
        let payload = v.published_event(day, c.clone(), quarantine.clone(), record.raw.clone(), revision, false);
        events.push(Envelope::wrap(
            &source,
            &PintaEvent::ProductionPublishedV1(payload),
            &format!("{identity}|production.published"),
            now,
            Some(trace.child(b"release.production.published")),
        ));
    }
    for e in &events {
        let event_type = pinta_contracts::EventType::parse(&e.event_type).map(|t| t.as_str()).unwrap_or("event");
        publisher.publish(e).await.map_err(|source| QuarantineError::Publish { event_type, source })?;
    }
    let new_record = DayRecord {
        production_date: day,
        status: if v.held { DayStatus::Held } else { DayStatus::Published },
        raw: record.raw.clone(),
        curated,
        quarantine,
        rows_in,
        rows_curated: v.curated.len() as u64,
        rows_quarantined: v.quarantined.len() as u64,
        event_ids: events.iter().map(|e| e.id.clone()).collect(),
        completed_at: now,
        revision,
    };
    let json = serde_json::to_vec_pretty(&new_record).unwrap_or_default();
    store.put_opts(&layout::day_record_key(day), Bytes::from(json), PutOptions::overwrite()).await?;

    out.result = ReleaseResult::NewRevision;
    out.released = r.released.clone();
    out.after = DayCounts {
        status: new_record.status,
        revision,
        rows_in,
        rows_curated: new_record.rows_curated,
        rows_quarantined: new_record.rows_quarantined,
    };
    out.previous_kept_under = kept.kept_under;
    out.event_ids = new_record.event_ids.clone();
    write_record(store, &out).await?;
    Ok(out)
}

/// Overwrites `key` with `bytes`, or removes it when the new version has no such file.
async fn put_or_remove(
    store: &dyn ObjectStore,
    key: &str,
    bytes: Option<Vec<u8>>,
) -> Result<Option<ObjectRef>, StoreError> {
    match bytes {
        Some(bytes) => {
            let object = ObjectRef { key: key.to_owned(), sha256: sha256_hex(&bytes), size: bytes.len() as u64 };
            store.put_opts(key, Bytes::from(bytes), PutOptions::overwrite()).await?;
            Ok(Some(object))
        }
        None => {
            match store.delete(key).await {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            Ok(None)
        }
    }
}

/// `_control/releases/YYYY-MM-DD/`.
pub fn releases_folder(day: NaiveDate) -> String {
    format!("{RELEASES_PREFIX}{}/", day.format("%Y-%m-%d"))
}

async fn write_record(store: &dyn ObjectStore, record: &ReleaseRecord) -> Result<(), StoreError> {
    let key = format!(
        "{}{}-{}.json",
        releases_folder(record.production_date),
        record.released_at.format("%Y%m%dT%H%M%S%.3fZ"),
        &uuid_like(record)[..12]
    );
    let json = serde_json::to_vec_pretty(record).unwrap_or_default();
    store.put_create(&key, Bytes::from(json)).await?;
    Ok(())
}

/// A short unique suffix for a record key (two releases in the same millisecond stay distinct).
fn uuid_like(record: &ReleaseRecord) -> String {
    let mut seed = serde_json::to_vec(record).unwrap_or_default();
    seed.extend_from_slice(&rand::random::<u64>().to_le_bytes());
    sha256_hex(&seed)
}

/// The release records of a day, oldest first.
pub async fn releases(store: &dyn ObjectStore, day: NaiveDate) -> Result<Vec<ReleaseRecord>, QuarantineError> {
    let mut metas = store.list(&releases_folder(day)).await?;
    metas.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out = Vec::new();
    for meta in metas {
        let bytes = store.get_bytes(&meta.key).await?;
        let record = serde_json::from_slice(&bytes).map_err(|e| QuarantineError::Corrupt {
            what: "release record",
            key: meta.key.clone(),
            reason: e.to_string(),
        })?;
        out.push(record);
    }
    Ok(out)
}

/// Text rendering of a day's releases (empty when there were none).
pub fn render_releases(records: &[ReleaseRecord]) -> String {
    if records.is_empty() {
        return String::new();
    }
    let mut out = format!("releases ({}):\n", records.len());
    for r in records {
        let result = match r.result {
            ReleaseResult::NewRevision => format!("revision {} → {}", r.before.revision, r.after.revision),
            ReleaseResult::Unchanged => "unchanged".to_owned(),
        };
        out.push_str(&format!(
            "  {}  by {}  rows {}  {result}: curated {} → {}, quarantined {} → {}\n",
            r.released_at.format("%Y-%m-%d %H:%M:%S UTC"),
            r.by,
            r.selection,
            r.before.rows_curated,
            r.after.rows_curated,
            r.before.rows_quarantined,
            r.after.rows_quarantined
        ));
        if !r.released.is_empty() {
            let lines: Vec<String> = r.released.iter().map(u64::to_string).collect();
            out.push_str(&format!("           released lines {}\n", lines.join(",")));
        }
        for s in &r.still_quarantined {
            out.push_str(&format!("           line {} still quarantined: {}\n", s.line, s.reasons.join(",")));
        }
        if !r.not_quarantined.is_empty() {
            let lines: Vec<String> = r.not_quarantined.iter().map(u64::to_string).collect();
            out.push_str(&format!("           not in quarantine (ignored): {}\n", lines.join(",")));
        }
        if let Some(kept) = &r.previous_kept_under {
            out.push_str(&format!("           previous version kept under {kept}\n"));
        }
    }
    out
}

/// `show DATE`: the rows, then the releases.
pub async fn show_text(store: &dyn ObjectStore, day: NaiveDate) -> Result<String, QuarantineError> {
    let mut out = render(day, &show(store, day).await?);
    out.push_str(&render_releases(&releases(store, day).await?));
    Ok(out)
}

/// Text rendering of one release's outcome.
pub fn render_release(r: &ReleaseRecord) -> String {
    let mut out = match r.result {
        ReleaseResult::NewRevision => format!(
            "{}: released {} row(s); {} curated, {} quarantined — revision {} ({:?})\n",
            r.production_date,
            r.released.len(),
            r.after.rows_curated,
            r.after.rows_quarantined,
            r.after.revision,
            r.after.status
        ),
        ReleaseResult::Unchanged => format!(
            "{}: nothing changed; {} curated, {} quarantined (revision {})\n",
            r.production_date, r.after.rows_curated, r.after.rows_quarantined, r.after.revision
        ),
    };
    out.push_str(&render_releases(std::slice::from_ref(r)).lines().skip(1).map(|l| format!("{l}\n")).collect::<String>());
    out
}

/// The catalogue a release judges against: the source database's (snapshotted into `catalogos/`),
/// else the last snapshot `catalogos/actual.json`, else none.
pub async fn current_catalog(app: &crate::app::Embedded) -> anyhow::Result<Option<CurrentCatalog>> {
    use anyhow::Context;
    use pinta_platform::ports::ProductionSource;
    let catalog = app.source.catalog().await.context("reading the source database's catalogue")?;
    if !(catalog.operators.is_empty() && catalog.paint_types.is_empty()) {
        let object = app.extractor.snapshot_catalog(&catalog).await.context("snapshotting the catalogue")?;
        return Ok(Some(CurrentCatalog { catalog, object }));
    }
    let Some(bytes) = get_opt(app.store.as_ref(), layout::CURRENT_CATALOG_KEY).await? else { return Ok(None) };
    let catalog: Catalog = serde_json::from_slice(&bytes)
        .with_context(|| format!("unreadable catalogue {}", layout::CURRENT_CATALOG_KEY))?;
    let object = ObjectRef {
        key: layout::CURRENT_CATALOG_KEY.to_owned(),
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
    };
    Ok(Some(CurrentCatalog { catalog, object }))
}

/// `pinta quarantine release`: runs [`release`] on the embedded adapters; the events it publishes go
/// through the in-process bus to this process's consumers (the notifier).
pub async fn release_cmd(
    config: crate::config::Config,
    day: NaiveDate,
    rows: Vec<u64>,
    all: bool,
    by: String,
) -> anyhow::Result<std::process::ExitCode> {
    use pinta_platform::ports::Clock;
    let selection = if all { Selection::All } else { Selection::Lines(rows.into_iter().collect()) };
    if selection == Selection::Lines(Default::default()) {
        anyhow::bail!("name the lines to release with --rows, or --all");
    }
    let rules = pinta_validator::ValidatorConfig::from_env()?.rules;
    let app = crate::app::Embedded::open(config).await?;
    let catalog = current_catalog(&app).await?;
    if catalog.is_none() {
        eprintln!("warning: no catalogue (source or catalogos/actual.json): operator and paint names are not checked");
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    let runners = app.start(&shutdown);
    let req = ReleaseRequest { day, selection, by: if by.trim().is_empty() { "unknown".into() } else { by } };
    let outcome =
        release(app.store.as_ref(), app.publisher.as_ref(), &rules, catalog.as_ref(), app.clock.now(), &req).await;
    app.wait_idle(std::time::Duration::from_secs(60)).await;
    shutdown.cancel();
    for r in runners {
        let _ = r.await;
    }
    app.source.close().await;
    let record = outcome?;
    print!("{}", render_release(&record));
    Ok(std::process::ExitCode::SUCCESS)
}
