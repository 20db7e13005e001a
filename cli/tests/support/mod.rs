//! Helpers shared by the end-to-end tests: a seeded embedded app, the independent Parquet reader,
//! and object snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use pinta_cli::app::Embedded;
use pinta_cli::config::Config;
use pinta_cli::seed::{self, SeedParams};
use pinta_platform::ports::{ObjectStoreExt, ProductionSource};

pub fn params(days: u32, rows: u32, defect_rate: f64) -> SeedParams {
    SeedParams { days, until: NaiveDate::from_ymd_opt(2025, 3, 31).unwrap(), rows_per_day: rows, defect_rate, seed: 11 }
}

/// An embedded app over a fresh data dir, seeded with `p`.
pub async fn seeded_app(dir: &Path, p: &SeedParams) -> Embedded {
    let app = Embedded::open(Config::new(dir, None, None).unwrap()).await.unwrap();
    seed::seed(&app.source, p).await.unwrap();
    app
}

/// Extracts every source day that has no raw file yet.
pub async fn extract_all(app: &Embedded) -> Vec<NaiveDate> {
    let from = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap();
    let days = app.extractor.pending_days(from, to).await.unwrap();
    for d in &days {
        app.extractor.extract_and_publish(app.publisher.as_ref(), Some(*d), &app.retry).await.unwrap();
    }
    assert!(app.wait_idle(Duration::from_secs(300)).await, "pipeline did not go idle");
    days
}

/// The Python interpreter with pyarrow and pandas (set up by `scripts/test`).
pub fn python() -> String {
    match std::env::var("PINTA_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!("PINTA_PYTHON is not set: run the tests through scripts/test, which creates the Python environment with pyarrow and pandas"),
    }
}

/// Reads Parquet files with pyarrow + pandas.
pub fn read_parquet(files: &[PathBuf]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/read_parquet.py");
    let out = std::process::Command::new(python()).arg(script).args(files).output().expect("running the Python reader");
    assert!(out.status.success(), "python reader failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("reader output is JSON")
}

/// sha256 of every object under the data dir except the processed-event log, by key.
pub async fn snapshot(app: &Embedded) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for prefix in ["crudos/", "produccion/", "cuarentena/", "staging/", "catalogos/"] {
        for meta in app.store.list(prefix).await.unwrap() {
            let bytes = app.store.get_bytes(&meta.key).await.unwrap();
            out.insert(meta.key.clone(), pinta_contracts::sha256_hex(&bytes));
        }
    }
    out
}

pub async fn source_days(app: &Embedded) -> Vec<NaiveDate> {
    app.source
        .days(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2100, 1, 1).unwrap())
        .await
        .unwrap()
}
