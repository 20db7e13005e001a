//! `pinta-bench`: the benchmark driver `bench/runner.py` starts as a child process. It runs the same
//! library code the transformer and validator Lambdas run, on local files, and prints one JSON object
//! of timings and counts on stdout (the runner measures peak RSS and CPU of the whole process itself).
//!
//! Commands:
//! * `all CSV CATALOG DAY OUT_DIR` — transform + validate in one process: CSV → staging (in memory, then
//!   a file in `OUT_DIR`) → rules → curated + quarantine Parquet in `OUT_DIR` (what `pinta up` does for
//!   one day, where the staging object is a file too).
//! * `transform CSV STAGING_OUT` — the transformer Lambda's work alone (CSV streamed in, staging out).
//! * `validate STAGING CATALOG DAY OUT_DIR` — the validator Lambda's work alone.
//! * `events DATA_DIR DAY NONCE` — `production.extracted.v1`, `production.transformed.v1` and a
//!   `pipeline.failed.v1` envelope for a day a `pinta run` left in `DATA_DIR`, with ids made unique by
//!   `NONCE`, so the cold-start benchmark can hand the Lambda binaries real events.
//!
//! `CATALOG` may be `-` for "no catalogue" (the UNKNOWN_* rules are then skipped).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{NaiveDate, Utc};
use pinta_contracts::catalog::Catalog;
use pinta_contracts::events::{ObjectRef, PipelineFailedV1, ProductionExtractedV1, ProductionTransformedV1};
use pinta_contracts::{Envelope, FailureCode, PintaEvent, Stage, layout, sha256_hex};
use pinta_validator::{RuleSet, read_staging, validate_staging_file};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = match a.as_slice() {
        ["all", csv, catalog, day, out_dir] => all(Path::new(csv), catalog, day, Path::new(out_dir))?,
        ["transform", csv, staging] => transform_only(Path::new(csv), Path::new(staging))?,
        ["validate", staging, catalog, day, out_dir] => {
            validate_only(Path::new(staging), catalog, day, Path::new(out_dir))?
        }
        ["events", data_dir, day, nonce] => events(Path::new(data_dir), day, nonce)?,
        _ => bail!(
            "usage: pinta-bench all CSV CATALOG DAY OUT_DIR | transform CSV STAGING_OUT | \
             validate STAGING CATALOG DAY OUT_DIR | events DATA_DIR DAY NONCE"
        ),
    };
    let mut out = out;
    if let Some(obj) = out.as_object_mut() {
        obj.insert("vm_hwm_kib".to_owned(), json!(peak_rss_kib()));
    }
    println!("{out}");
    Ok(())
}

/// Peak resident set size of this process (`VmHWM` of `/proc/self/status`), in KiB. Read here rather
/// than from the parent's wait4(2), which on Linux also counts the parent's size at fork time.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of this process so far (from `/proc/self/stat`, 10 ms resolution).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn parse_day(day: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d").with_context(|| format!("day {day:?} is not YYYY-MM-DD"))
}

fn load_catalog(path: &str) -> anyhow::Result<Option<Catalog>> {
    if path == "-" {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading the catalogue {path}"))?;
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("parsing the catalogue {path}"))?))
}

/// The transformer's core: CSV streamed from the file, staging Arrow IPC into memory.
fn run_transform(csv: &Path) -> anyhow::Result<(pinta_transformer::TransformStats, Vec<u8>)> {
    let file = File::open(csv).with_context(|| format!("opening {}", csv.display()))?;
    let mut staging = Vec::new();
    let stats = pinta_transformer::transform(BufReader::with_capacity(64 * 1024, file), &mut staging)
        .with_context(|| format!("transforming {}", csv.display()))?;
    Ok((stats, staging))
}

/// The validator's core, the way its Lambda runs it: the staging file (spooled to local disk by the
/// handler) read batch by batch ([`validate_staging_file`]), each row routed to the curated or the
/// quarantine encoder as it is judged; then the two Parquet files written into `out_dir`.
fn run_validate(
    staging: &Path,
    catalog: Option<&Catalog>,
    day: NaiveDate,
    out_dir: &Path,
) -> anyhow::Result<(serde_json::Value, f64, f64)> {
    let t = Instant::now();
    let v = validate_staging_file(staging, day, catalog, &RuleSet::default(), Utc::now())
        .context("validating the staging file")?;
    let s = &v.summary;
    if !s.is_conserved() {
        bail!("rows not conserved: {} in, {} curated, {} quarantined", s.rows_in, s.rows_curated, s.rows_quarantined);
    }
    let rules_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    write(&out_dir.join("curated.parquet"), &v.curated)?;
    write(&out_dir.join("quarantine.parquet"), &v.quarantine)?;
    let write_s = t.elapsed().as_secs_f64();
    let counts = json!({
        "rows_in": s.rows_in,
        "rows_curated": s.rows_curated,
        "rows_quarantined": s.rows_quarantined,
        "held": s.held,
        "curated_bytes": v.curated.len(),
        "quarantine_bytes": v.quarantine.len(),
    });
    Ok((counts, rules_s, write_s))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn all(csv: &Path, catalog: &str, day: &str, out_dir: &Path) -> anyhow::Result<serde_json::Value> {
    let day = parse_day(day)?;
    let catalog = load_catalog(catalog)?;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let (stats, staging) = run_transform(csv)?;
    // The transformer Lambda puts the staging object from memory; the validator's handler spools it to
    // a local file. Here: written to `out_dir`, then read back batch by batch.
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let staging_path = out_dir.join("staging.arrow");
    write(&staging_path, &staging)?;
    let staging_len = staging.len();
    drop(staging);
    let transform_s = start.elapsed().as_secs_f64();
    let (counts, rules_s, write_s) = run_validate(&staging_path, catalog.as_ref(), day, out_dir)?;
    let total_s = start.elapsed().as_secs_f64();
    Ok(json!({
        "counts": counts,
        "staging_bytes": staging_len,
        "input_bytes": stats.input_bytes,
        "work_wall_s": total_s,
        "work_cpu_s": cpu_seconds().zip(cpu0).map(|(b, a)| b - a),
        "phases_s": { "transform": transform_s, "validate_and_encode": rules_s, "write_files": write_s },
    }))
}

fn transform_only(csv: &Path, staging_out: &Path) -> anyhow::Result<serde_json::Value> {
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let (stats, staging) = run_transform(csv)?;
    write(staging_out, &staging)?;
    Ok(json!({
        "counts": { "rows_in": stats.rows, "rows_with_cell_errors": stats.rows_with_cell_errors },
        "staging_bytes": staging.len(),
        "work_wall_s": start.elapsed().as_secs_f64(),
        "work_cpu_s": cpu_seconds().zip(cpu0).map(|(b, a)| b - a),
    }))
}

fn validate_only(staging: &Path, catalog: &str, day: &str, out_dir: &Path) -> anyhow::Result<serde_json::Value> {
    let day = parse_day(day)?;
    let catalog = load_catalog(catalog)?;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let (counts, _, _) = run_validate(staging, catalog.as_ref(), day, out_dir)?;
    Ok(json!({
        "counts": counts,
        "work_wall_s": start.elapsed().as_secs_f64(),
        "work_cpu_s": cpu_seconds().zip(cpu0).map(|(b, a)| b - a),
    }))
}

/// An [`ObjectRef`] for a file of the data directory, keyed like the bucket.
fn object(data_dir: &Path, key: &str) -> anyhow::Result<ObjectRef> {
    let path: PathBuf = data_dir.join(key);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(ObjectRef { key: key.to_owned(), sha256: sha256_hex(&bytes), size: bytes.len() as u64 })
}

/// The single file under `dir` whose name starts with `prefix` and ends with `suffix`.
fn only_file(dir: &Path, prefix: &str, suffix: &str) -> anyhow::Result<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        n => bail!("expected one {prefix}*{suffix} in {}, found {n}", dir.display()),
    }
}

fn events(data_dir: &Path, day: &str, nonce: &str) -> anyhow::Result<serde_json::Value> {
    let day = parse_day(day)?;
    let raw = object(data_dir, &layout::raw_key(day))?;
    let catalog_name = only_file(&data_dir.join("catalogos"), "catalogo_", ".json")?;
    let catalog = object(data_dir, &format!("catalogos/{catalog_name}"))?;
    let staging_key = layout::staging_key(day, &raw.sha256);
    let staging = object(data_dir, &staging_key)?;
    let csv_bytes = std::fs::read(data_dir.join(&raw.key)).context("reading the raw CSV")?;
    let staging_bytes = std::fs::read(data_dir.join(&staging.key)).context("reading the staging file")?;
    let rows = read_staging(&staging_bytes).context("reading the staging file")?;
    let data_rows = csv_bytes.split(|b| *b == b'\n').skip(1).filter(|l| !l.is_empty()).count() as u64;
    let now = Utc::now();
    // Built from JSON so that fields the contracts give serde defaults (added in later versions of a
    // payload) take those defaults here too.
    let extracted: ProductionExtractedV1 = serde_json::from_value(json!({
        "production_date": day,
        "raw": raw,
        "rows": data_rows,
        "catalog": catalog,
        "origin": "sqlite",
        "backfill": false,
    }))
    .context("building production.extracted.v1")?;
    let transformed: ProductionTransformedV1 = serde_json::from_value(json!({
        "production_date": day,
        "raw": raw,
        "staging": staging,
        "rows": rows.len() as u64,
        "rows_with_cell_errors": rows.iter().filter(|r| !r.cell_errors.is_empty()).count() as u64,
        "rows_with_computed_cost": rows.iter().filter(|r| r.cost_computed).count() as u64,
        "encoding": "UTF-8",
        "delimiter": ",",
        "catalog": catalog,
        "backfill": false,
    }))
    .context("building production.transformed.v1")?;
    let failed: PipelineFailedV1 = serde_json::from_value(json!({
        "production_date": day,
        "stage": Stage::Extractor,
        "code": FailureCode::SourceUnavailable,
        "message": format!("benchmark alert {nonce}: the source database did not answer"),
        "retryable": true,
        "attempts": 5,
        "object": null,
        "rows": null,
        "caused_by": null,
        "failed_at": now,
    }))
    .context("building pipeline.failed.v1")?;
    let (extracted, transformed, failed) = (
        PintaEvent::ProductionExtractedV1(extracted),
        PintaEvent::ProductionTransformedV1(transformed),
        PintaEvent::PipelineFailedV1(failed),
    );
    let identity = format!("{day}|{}|bench-{nonce}", raw.sha256);
    let e1 = Envelope::wrap("/pinta/bench", &extracted, &identity, now, None);
    let e2 = Envelope::wrap("/pinta/bench", &transformed, &identity, now, None);
    let e3 = Envelope::wrap("/pinta/bench", &failed, &identity, now, None);
    Ok(json!({
        "extracted": e1.to_json(),
        "transformed": e2.to_json(),
        "failed": e3.to_json(),
        "staging_key": staging_key,
    }))
}
