//! `pinta backfill PATH…`: loads historical Excel/ODS/CSV files into the curated layer once, safely,
//! with a reconciliation report.
//!
//! Only reading the spreadsheets is backfill-specific ([`read`]). The rows of each day — gathered from
//! every file that holds some — become the day's raw CSV (`crudos/produccion_raw_YYYY-MM-DD.csv`, the
//! header in `CURATED_COLUMNS`, the extractor's format), written create-only and announced with
//! `production.extracted.v1` (`origin: "backfill"`, `backfill: true`, source `/pinta/backfill`). The
//! embedded transformer and validator then do exactly what they do for a daily extraction, so curated
//! and quarantine Parquet come from the same rules; their events carry `backfill: true` on to
//! downstream consumers.
//!
//! Safety:
//! * Idempotent: a day whose raw file already holds identical bytes and whose day record is complete
//!   is "already backfilled" and nothing is written.
//! * Resumable: a day whose raw file is there (identical) but has no complete day record — a run was
//!   killed — is re-announced with an id unique to this run, so every stage redoes it.
//! * A day that already has other output (raw file with other content, a day record, or a curated file)
//!   is skipped unless `--replace`. With `--replace` the previous raw, curated, quarantine and
//!   day-record objects are first copied to `historico/reemplazado/<UTC timestamp>/<original key>`,
//!   then the curated, quarantine and day record are deleted and the raw file overwritten.
//! * Catalogue: rows are validated against the current snapshot (`catalogos/actual.json`, else the
//!   source database's catalogue); historical names not in it are quarantined as `UNKNOWN_OPERATOR` /
//!   `UNKNOWN_PAINT_TYPE`, and the report says so.

pub mod read;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::events::{ObjectRef, ProductionExtractedV1};
use pinta_contracts::tables::CURATED_COLUMNS;
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{Envelope, PintaEvent, layout, sha256_hex};
use pinta_platform::embedded::LocalObjectStore;
use pinta_platform::ports::{ObjectStore, ObjectStoreExt, PutOptions, StoreError};
use tokio_util::sync::CancellationToken;

use crate::app::Embedded;
use crate::config::Config;
use read::{FileRead, Record};
use report::{Account, DayReport, FileReport, Outcome, Report, read_outputs, row_values};

/// The CloudEvents `source` of backfill announcements.
pub const SOURCE: &str = "/pinta/backfill";
/// Folder under which `--replace` keeps previous versions.
pub const REPLACED_PREFIX: &str = "historico/reemplazado/";
/// Days announced before waiting for them to complete (keeps memory and the bus small, and makes an
/// interrupted run leave a clean prefix of finished days).
const BATCH_DAYS: usize = 16;

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// `.xlsx`, `.xls`, `.ods` or `.csv` files, or folders of them (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Replace days that already have output (the previous version is kept under historico/reemplazado/).
    #[arg(long)]
    pub replace: bool,
    /// Read everything and report what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write the JSON reconciliation report.
    #[arg(long, default_value = "backfill-report.json")]
    pub report: PathBuf,
}

/// What to do with one day.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    /// No output yet: write the raw file and announce it.
    New,
    /// Raw file identical, day not complete: re-announce.
    Resume,
    /// Other output exists and `--replace` was given.
    Replace,
    /// Raw identical and complete.
    Done,
    /// Other output exists; left alone.
    Skip(String),
}

struct Day {
    day: NaiveDate,
    /// Indices into the flat record list, in file then row order (raw line = position + 2).
    records: Vec<usize>,
    raw: Vec<u8>,
    sha: String,
    plan: Plan,
    kept_under: Option<String>,
}

/// Everything read and planned before anything is written.
struct Prepared {
    reads: Vec<FileRead>,
    records: Vec<Record>,
    days: Vec<Day>,
}

/// `pinta backfill`: reads, plans, and (unless `--dry-run`) loads through the embedded pipeline; prints
/// the reconciliation table, writes the JSON report, and fails when the two sides do not balance.
pub async fn run(config: Config, args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(&config.data_dir));
    let mut prepared = prepare(store.as_ref(), &args).await?;
    let report = if args.dry_run {
        build_report(&args, &prepared, None, store.as_ref(), None).await?
    } else {
        let app = Embedded::open(config).await?;
        let report = execute(&app, &args, &mut prepared).await;
        app.source.close().await;
        report?
    };
    finish(&args, report)
}

/// Loads through an already opened embedded app (its runners must not be running) and returns the
/// report without printing it. `args.dry_run` is ignored.
pub async fn backfill_with(app: &Embedded, args: &BackfillArgs) -> anyhow::Result<Report> {
    let mut prepared = prepare(app.store.as_ref(), args).await?;
    execute(app, args, &mut prepared).await
}

async fn prepare(store: &dyn ObjectStore, args: &BackfillArgs) -> anyhow::Result<Prepared> {
    let files = read::collect_files(&args.paths).map_err(anyhow::Error::msg)?;
    if files.is_empty() {
        bail!("no .xlsx, .xls, .ods or .csv files under the given paths");
    }

    // 1. Read every file.
    let bar = progress(files.len() as u64, "reading");
    let mut reads: Vec<FileRead> = Vec::with_capacity(files.len());
    let mut rows = 0u64;
    for (i, path) in files.iter().enumerate() {
        bar.set_message(format!("{} rows — {}", rows, path.file_name().and_then(|n| n.to_str()).unwrap_or("")));
        let p = path.clone();
        let r = tokio::task::spawn_blocking(move || read::read_file(i, &p)).await.context("reading a file")?;
        rows += r.rows_read;
        reads.push(r);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let records: Vec<Record> = reads.iter_mut().flat_map(|r| std::mem::take(&mut r.records)).collect();

    // 2. Gather per day and plan.
    let mut by_day: BTreeMap<NaiveDate, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        by_day.entry(r.day).or_default().push(i);
    }
    let mut days = Vec::with_capacity(by_day.len());
    for (day, idx) in by_day {
        let raw = raw_csv(idx.iter().map(|&i| &records[i].cells))?;
        let sha = sha256_hex(&raw);
        let plan = plan_day(store, day, &sha, args.replace).await?;
        days.push(Day { day, records: idx, raw, sha, plan, kept_under: None });
    }
    Ok(Prepared { reads, records, days })
}

/// 3. Writes and announces, batch by batch, through the embedded pipeline, then reads the outputs back.
async fn execute(app: &Embedded, args: &BackfillArgs, prepared: &mut Prepared) -> anyhow::Result<Report> {
    let days = &mut prepared.days;
    let catalog = current_catalog(app).await?;
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    let run_id = uuid_like(app);
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let todo: Vec<usize> =
        (0..days.len()).filter(|&i| matches!(days[i].plan, Plan::New | Plan::Resume | Plan::Replace)).collect();
    let total_rows: u64 = todo.iter().map(|&i| days[i].records.len() as u64).sum();
    let bar = progress(todo.len() as u64, "days");
    let mut rows_done = 0u64;
    let mut failures = Vec::new();
    for chunk in todo.chunks(BATCH_DAYS) {
        let mut waiting = BTreeMap::new();
        for &i in chunk {
            let d = &mut days[i];
            match announce(app, d, catalog.as_ref(), &run_id, &stamp).await {
                Ok(()) => {
                    waiting.insert(d.day, (d.sha.clone(), d.records.len() as u64));
                }
                Err(e) => failures.push(format!("{}: {e:#}", d.day)),
            }
        }
        // Wait until every day of the batch has its record, or the pipeline is idle without it.
        let mut quiet = 0;
        while !waiting.is_empty() {
            let mut finished = Vec::new();
            for (day, (sha, n)) in &waiting {
                if let Ok(Some(r)) = app.day_record(*day).await
                    && &r.raw.sha256 == sha
                {
                    finished.push((*day, *n));
                }
            }
            for (day, n) in finished {
                waiting.remove(&day);
                rows_done += n;
                bar.inc(1);
                bar.set_message(format!("{rows_done}/{total_rows} rows"));
            }
            if app.backlog() == 0 {
                quiet += 1;
                if quiet > 20 {
                    break;
                }
            } else {
                quiet = 0;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    bar.finish_and_clear();
    shutdown.cancel();
    for r in runners {
        let _ = r.await;
    }
    build_report(args, prepared, catalog.as_ref(), app.store.as_ref(), Some(failures)).await
}

fn progress(len: u64, prefix: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}

/// A run id from the bus-independent clock and process id (unique enough to tell sweeps apart).
fn uuid_like(app: &Embedded) -> String {
    use pinta_platform::ports::Clock;
    format!("{}-{}", app.clock.now().timestamp_nanos_opt().unwrap_or_default(), std::process::id())
}

/// The day's raw CSV: the extractor's format (header, `,`, LF, RFC 4180 quoting).
fn raw_csv<'a>(rows: impl Iterator<Item = &'a [String; 6]>) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    w.write_record(CURATED_COLUMNS)?;
    for r in rows {
        w.write_record(r)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("writing the raw CSV: {}", e.error()))
}

async fn get_opt(store: &dyn ObjectStore, key: &str) -> Result<Option<Bytes>, StoreError> {
    match store.get_bytes(key).await {
        Ok(b) => Ok(Some(b)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn day_record(store: &dyn ObjectStore, day: NaiveDate) -> anyhow::Result<Option<DayRecord>> {
    Ok(match get_opt(store, &layout::day_record_key(day)).await? {
        Some(b) => serde_json::from_slice(&b).ok(),
        None => None,
    })
}

async fn plan_day(store: &dyn ObjectStore, day: NaiveDate, sha: &str, replace: bool) -> anyhow::Result<Plan> {
    let raw = get_opt(store, &layout::raw_key(day)).await?;
    let record = day_record(store, day).await?;
    if let Some(existing) = &raw
        && sha256_hex(existing) == sha
    {
        return Ok(match record {
            Some(r) if r.raw.sha256 == sha => Plan::Done,
            _ => Plan::Resume,
        });
    }
    let curated = store.exists(&layout::curated_key(day)).await?;
    let why = match (&raw, &record, curated) {
        (None, None, false) => return Ok(Plan::New),
        (_, Some(r), _) if r.status == DayStatus::Published => "the day is already published",
        (_, _, true) => "the day already has curated output",
        (Some(_), _, _) => "a raw file with other content exists for the day",
        _ => "the day already has a day record",
    };
    Ok(if replace { Plan::Replace } else { Plan::Skip(format!("{why}; use --replace to replace it")) })
}

/// The catalogue to validate against: `catalogos/actual.json`, else a snapshot of the source's
/// catalogue, else none (names are then not checked).
async fn current_catalog(app: &Embedded) -> anyhow::Result<Option<ObjectRef>> {
    if let Some(bytes) = get_opt(app.store.as_ref(), layout::CURRENT_CATALOG_KEY).await? {
        let sha = sha256_hex(&bytes);
        let key = layout::catalog_key(&sha);
        let size = bytes.len() as u64;
        app.store.put_idempotent(&key, bytes).await?;
        return Ok(Some(ObjectRef { key, sha256: sha, size }));
    }
    use pinta_platform::ports::ProductionSource;
    let catalog = app.source.catalog().await?;
    if catalog.operators.is_empty() && catalog.paint_types.is_empty() {
        return Ok(None);
    }
    Ok(Some(app.extractor.snapshot_catalog(&catalog).await?))
}

/// Writes (or replaces) the day's raw file and publishes `production.extracted.v1`.
async fn announce(app: &Embedded, d: &mut Day, catalog: Option<&ObjectRef>, run_id: &str, stamp: &str) -> anyhow::Result<()> {
    let raw_key = layout::raw_key(d.day);
    let identity = match d.plan {
        Plan::New => {
            app.store.put_idempotent(&raw_key, Bytes::from(d.raw.clone())).await?;
            format!("{}|{}", d.day, d.sha)
        }
        Plan::Resume => format!("{}|{}|resume {run_id}", d.day, d.sha),
        Plan::Replace => {
            let keep = format!("{REPLACED_PREFIX}{stamp}/");
            for key in [
                raw_key.clone(),
                layout::curated_key(d.day),
                layout::quarantine_key(d.day),
                layout::day_record_key(d.day),
            ] {
                if let Some(bytes) = get_opt(app.store.as_ref(), &key).await? {
                    match app.store.put_idempotent(&format!("{keep}{key}"), bytes).await {
                        Ok(_) => {}
                        Err(e) => return Err(e).context("keeping the previous version"),
                    }
                }
            }
            for key in [layout::day_record_key(d.day), layout::curated_key(d.day), layout::quarantine_key(d.day)] {
                app.store.delete(&key).await?;
            }
            app.store.put_opts(&raw_key, Bytes::from(d.raw.clone()), PutOptions::overwrite()).await?;
            d.kept_under = Some(keep);
            format!("{}|{}|replace {stamp}", d.day, d.sha)
        }
        Plan::Done | Plan::Skip(_) => return Ok(()),
    };
    let raw = ObjectRef { key: raw_key, sha256: d.sha.clone(), size: d.raw.len() as u64 };
    let payload = ProductionExtractedV1 {
        production_date: d.day,
        raw,
        rows: d.records.len() as u64,
        catalog: catalog.cloned(),
        origin: "backfill".to_owned(),
        revision: 1,
        backfill: true,
    };
    use pinta_platform::ports::Clock;
    let envelope = Envelope::wrap(
        SOURCE,
        &PintaEvent::ProductionExtractedV1(payload),
        &identity,
        app.clock.now(),
        Some(TraceParent::from_seed(identity.as_bytes())),
    );
    app.publisher.publish(&envelope).await?;
    Ok(())
}

async fn build_report(
    args: &BackfillArgs,
    prepared: &Prepared,
    catalog: Option<&ObjectRef>,
    store: &dyn ObjectStore,
    failures: Option<Vec<String>>,
) -> anyhow::Result<Report> {
    let dry = failures.is_none();
    let (reads, records, days) = (&prepared.reads, &prepared.records, &prepared.days);
    let mut per_file: Vec<Account> = reads
        .iter()
        .map(|r| Account { rows_read: r.rows_read, rows_skipped: r.skipped.len() as u64, ..Account::default() })
        .collect();
    let mut file_days: Vec<BTreeSet<NaiveDate>> = vec![BTreeSet::new(); reads.len()];
    let mut day_reports = Vec::with_capacity(days.len());
    for d in days {
        let mut acc = Account { rows_read: d.records.len() as u64, ..Account::default() };
        let mut problems = Vec::new();
        let mut outputs = Vec::new();
        let mut outcome = None;
        let sources: BTreeSet<String> = d.records.iter().map(|&i| reads[records[i].file].path.display().to_string()).collect();
        for &i in &d.records {
            file_days[records[i].file].insert(d.day);
        }
        let (status, skipped_why) = match (&d.plan, dry) {
            (Plan::Skip(why), _) => ("skipped", Some(why.clone())),
            (Plan::Done, _) => ("already backfilled", None),
            (Plan::New, true) => ("would write", None),
            (Plan::Resume, true) => ("would resume", None),
            (Plan::Replace, true) => ("would replace", None),
            (Plan::New, false) => ("written", None),
            (Plan::Resume, false) => ("resumed", None),
            (Plan::Replace, false) => ("replaced", None),
        };
        if skipped_why.is_some() {
            acc.rows_skipped = acc.rows_read;
            for &i in &d.records {
                per_file[records[i].file].rows_skipped += 1;
            }
        } else {
            // In: the cells delivered to the pipeline.
            acc.rows_loaded = acc.rows_read;
            let mut line_file = BTreeMap::new();
            for (pos, &i) in d.records.iter().enumerate() {
                let c = &records[i].cells;
                let v = row_values(Some(&c[2]), Some(&c[3]), Some(&c[4]));
                acc.sums_in.add(v);
                let f = &mut per_file[records[i].file];
                f.rows_loaded += 1;
                f.sums_in.add(v);
                line_file.insert(pos as u64 + 2, records[i].file);
            }
            let checking = !dry || d.plan == Plan::Done;
            if checking {
                // Out: read back from the store.
                let record = day_record(store, d.day).await?;
                match &record {
                    Some(r) if r.raw.sha256 == d.sha => {
                        outcome = Some(match r.status {
                            DayStatus::Published => "published".to_owned(),
                            DayStatus::Held => "held".to_owned(),
                        })
                    }
                    _ => problems.push("the day did not complete (no day record for this raw file)".to_owned()),
                }
                let raw_now = get_opt(store, &layout::raw_key(d.day)).await?;
                let curated = get_opt(store, &layout::curated_key(d.day)).await?;
                let quarantine = get_opt(store, &layout::quarantine_key(d.day)).await?;
                for (key, bytes) in [
                    (layout::raw_key(d.day), &raw_now),
                    (layout::curated_key(d.day), &curated),
                    (layout::quarantine_key(d.day), &quarantine),
                ] {
                    if let Some(b) = bytes {
                        outputs.push(ObjectRef { key, sha256: sha256_hex(b), size: b.len() as u64 });
                    }
                }
                if raw_now.as_deref().map(sha256_hex).as_deref() != Some(d.sha.as_str()) {
                    problems.push("the raw file in the store is not the one this run built".to_owned());
                }
                if record.is_some() {
                    let out = read_outputs(acc.rows_read, curated.as_deref(), quarantine.as_deref());
                    problems.extend(out.problems.iter().cloned());
                    acc.rows_curated = out.curated_rows;
                    acc.rows_quarantined = out.quarantined_rows;
                    for (line, (kind, v)) in &out.lines {
                        acc.sums_out.add(*v);
                        match line_file.get(line) {
                            Some(&f) => {
                                let fa = &mut per_file[f];
                                fa.sums_out.add(*v);
                                match kind {
                                    Outcome::Curated => fa.rows_curated += 1,
                                    Outcome::Quarantined => fa.rows_quarantined += 1,
                                }
                            }
                            None => problems.push(format!("output row for line {line}, which the raw file does not have")),
                        }
                    }
                }
            }
        }
        let balanced = if dry && d.plan != Plan::Done {
            acc.rows_read == acc.rows_loaded + acc.rows_skipped
        } else {
            acc.balanced() && problems.is_empty()
        };
        day_reports.push(DayReport {
            day: d.day,
            status: status.to_owned(),
            outcome,
            sources: sources.into_iter().collect(),
            account: acc,
            balanced,
            skipped_why,
            outputs,
            replaced_kept_under: d.kept_under.clone(),
            problems,
        });
    }
    let mut totals = Account::default();
    let files: Vec<FileReport> = reads
        .iter()
        .zip(per_file)
        .zip(file_days)
        .map(|((r, acc), days)| {
            totals.absorb(&acc);
            let balanced = r.error.is_none()
                && if dry { acc.rows_read == acc.rows_loaded + acc.rows_skipped } else { acc.balanced() };
            FileReport {
                path: r.path.display().to_string(),
                sheets: r.sheets.clone(),
                account: acc,
                balanced,
                days: days.into_iter().collect(),
                skipped: r.skipped.clone(),
                notes: r.notes.clone(),
                error: r.error.clone(),
            }
        })
        .collect();
    let failures = failures.unwrap_or_default();
    let balanced = files.iter().all(|f| f.balanced) && day_reports.iter().all(|d| d.balanced) && failures.is_empty();
    let catalog_note = match catalog {
        Some(c) => format!(
            "rows were validated against the current catalogue ({}); historical operators or paint types that are not in it are quarantined as UNKNOWN_OPERATOR / UNKNOWN_PAINT_TYPE",
            c.key
        ),
        None if dry => "dry run: the current catalogue (catalogos/actual.json or the source's) will be used".to_owned(),
        None => "no catalogue snapshot exists: operator and paint-type names were not checked".to_owned(),
    };
    for f in failures {
        if let Some(d) = day_reports.iter_mut().find(|d| f.starts_with(&d.day.to_string())) {
            d.problems.push(f);
            d.balanced = false;
        }
    }
    Ok(Report {
        generated_at: Utc::now(),
        dry_run: args.dry_run,
        replace: args.replace,
        catalog: catalog.map(|c| c.key.clone()),
        catalog_note,
        balanced,
        totals,
        files,
        days: day_reports,
    })
}

fn finish(args: &BackfillArgs, report: Report) -> anyhow::Result<ExitCode> {
    print!("{}", report.render());
    let json = serde_json::to_vec_pretty(&report)?;
    std::fs::write(&args.report, json).with_context(|| format!("writing the report to {}", args.report.display()))?;
    let t = &report.totals;
    let written = report.days.iter().filter(|d| matches!(d.status.as_str(), "written" | "resumed" | "replaced")).count();
    println!(
        "backfill{}: {} files, {} days ({} {}), {} rows read: {} curated, {} quarantined, {} skipped — {}; report in {}",
        if report.dry_run { " (dry run)" } else { "" },
        report.files.len(),
        report.days.len(),
        if report.dry_run {
            report.days.iter().filter(|d| d.status.starts_with("would")).count()
        } else {
            written
        },
        if report.dry_run { "would be written" } else { "written" },
        t.rows_read,
        t.rows_curated,
        t.rows_quarantined,
        t.rows_skipped,
        if report.balanced { "balanced" } else { "NOT BALANCED" },
        args.report.display()
    );
    Ok(if report.balanced { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
