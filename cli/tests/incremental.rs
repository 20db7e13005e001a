//! Incremental extraction and a source database that is down, end to end:
//! * a row added and a row corrected after their day was published are picked up by the next run, on
//!   SQLite and on MariaDB: the day's curated Parquet (read by pyarrow) holds the change, the previous
//!   version is kept under `historico/reemplazado/`, every event of the re-run carries revision 2, rows
//!   are conserved, and a further run with no change writes nothing;
//! * `pinta run` against a private MariaDB server that the test stopped exits non-zero with
//!   `pipeline.failed.v1` alerted by the notifier, and completes the day once the server is back.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use pinta_cli::app::Embedded;
use pinta_cli::config::Config;
use pinta_cli::seed;
use pinta_contracts::{Envelope, PintaEvent, layout};
use pinta_platform::ports::{EventReceiver, ObjectStoreExt};
use pinta_platform::sql::NewRow;
use pinta_platform::sql::mariadb::PrivateMariaDb;
use tokio_util::sync::CancellationToken;

use support::*;

async fn drain(app: &Embedded, tap: &pinta_platform::embedded::InProcessQueue) -> Vec<Envelope> {
    let _ = app;
    let mut out = Vec::new();
    while let Ok(batch) = tap.receive(100, Duration::from_millis(20)).await {
        if batch.is_empty() {
            break;
        }
        for m in batch {
            tap.ack(&m).await.unwrap();
            out.push(Envelope::from_json(&m.body).unwrap());
        }
    }
    out
}

fn revision_of(event: &PintaEvent) -> Option<u32> {
    match event {
        PintaEvent::ProductionExtractedV1(e) => Some(e.revision),
        PintaEvent::ProductionTransformedV1(e) => Some(e.revision),
        PintaEvent::ProductionPublishedV1(e) => Some(e.revision),
        PintaEvent::RowsQuarantinedV1(e) => Some(e.revision),
        PintaEvent::PipelineFailedV1(_) => None,
    }
}

async fn history(app: &Embedded) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for meta in app.store.list(layout::SUPERSEDED_PREFIX).await.unwrap() {
        out.insert(meta.key.clone(), pinta_contracts::sha256_hex(&app.store.get_bytes(&meta.key).await.unwrap()));
    }
    out
}

async fn a_late_and_a_corrected_row_republish_the_day(dir: &std::path::Path, source: Option<String>) {
    let p = params(2, 30, 0.1);
    let app = Embedded::open(Config::new(dir, source.as_deref(), None).unwrap()).await.unwrap();
    seed::seed(&app.source, &p).await.unwrap();
    let tap = app.bus.subscribe("test-tap", &[], Duration::from_secs(60));
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    let day = p.until;

    // Revision 1: the day as first extracted; the first incremental pass sets the watermark.
    app.extractor.extract_and_publish(app.publisher.as_ref(), Some(day), &app.retry).await.unwrap();
    assert!(app.wait_idle(Duration::from_secs(120)).await);
    let first = app.day_record(day).await.unwrap().expect("day complete");
    assert_eq!(first.revision, 1);
    let pass = app.extractor.refresh_changed(app.publisher.as_ref(), &app.retry).await.unwrap();
    assert!(pass.republished.is_empty() && pass.watermark.is_some(), "{pass:?}");
    drain(&app, &tap).await;
    let curated_path = dir.join(layout::curated_key(day));
    let before = read_parquet(std::slice::from_ref(&curated_path));
    let liters_before = before[curated_path.to_string_lossy().as_ref()]["liters"].as_i64().unwrap();
    let old_curated = app.store.get_bytes(&layout::curated_key(day)).await.unwrap();

    // In the source: one clean row corrected (+1000 L), one late clean row added (777 L).
    let generated = seed::generate_day(&p, day);
    let clean = generated.iter().find(|r| r.defect.is_none()).expect("a clean row").row.clone();
    let now = chrono::Utc::now().naive_utc();
    let corrected_quantity = clean.quantity.unwrap() + 1000;
    let corrected = NewRow {
        quantity: Some(corrected_quantity),
        cost: clean.unit_cost.map(|c| c * corrected_quantity as f64),
        updated_at: now,
        ..clean.clone()
    };
    let max_id = generated.iter().map(|r| r.row.id).max().unwrap();
    let late = NewRow {
        id: max_id + 1,
        produced_at: day.and_hms_opt(23, 58, 0),
        quantity: Some(777),
        cost: clean.unit_cost.map(|c| c * 777.0),
        updated_at: now,
        ..clean.clone()
    };
    app.source.upsert_rows(&[corrected, late]).await.unwrap();

    // The next run picks the change up and re-publishes the day as revision 2.
    let pass = app.extractor.refresh_changed(app.publisher.as_ref(), &app.retry).await.unwrap();
    assert_eq!(pass.republished, vec![(day, 2)]);
    assert!(app.wait_idle(Duration::from_secs(120)).await);
    let second = app.day_record(day).await.unwrap().expect("revision 2 complete");
    assert_eq!(second.revision, 2);
    assert_eq!(second.rows_in, first.rows_in + 1);
    assert_eq!(second.rows_curated, first.rows_curated + 1);
    assert_eq!(second.rows_curated + second.rows_quarantined, second.rows_in, "row conservation");
    let after = read_parquet(std::slice::from_ref(&curated_path));
    let curated = &after[curated_path.to_string_lossy().as_ref()];
    assert_eq!(curated["rows"].as_u64().unwrap(), second.rows_curated);
    assert_eq!(curated["liters"].as_i64().unwrap(), liters_before + 1000 + 777);

    // Every event of the re-run carries revision 2.
    let events: Vec<PintaEvent> = drain(&app, &tap).await.iter().map(|e| e.decode().unwrap()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type().as_str()).collect();
    assert!(types.contains(&"production.extracted.v1") && types.contains(&"production.published.v1"), "{types:?}");
    assert!(events.iter().all(|e| revision_of(e) == Some(2)), "{events:?}");

    // The previous curated file (and raw file, and day record) are kept under historico/.
    let kept = history(&app).await;
    let old_sha = pinta_contracts::sha256_hex(&old_curated);
    assert!(
        kept.iter().any(|(k, sha)| k.ends_with(&layout::curated_key(day)) && *sha == old_sha),
        "previous curated file kept: {kept:?}"
    );
    assert!(kept.keys().any(|k| k.ends_with(&layout::raw_key(day))));
    assert!(kept.keys().any(|k| k.ends_with(&layout::day_record_key(day))));

    // Another run with no change writes nothing and announces nothing.
    let objects = snapshot(&app).await;
    let pass = app.extractor.refresh_changed(app.publisher.as_ref(), &app.retry).await.unwrap();
    assert!(pass.republished.is_empty() && pass.failed.is_empty(), "{pass:?}");
    app.extractor.extract_and_publish(app.publisher.as_ref(), Some(day), &app.retry).await.unwrap();
    assert!(app.wait_idle(Duration::from_secs(60)).await);
    assert_eq!(snapshot(&app).await, objects);
    assert_eq!(history(&app).await, kept);
    assert_eq!(app.day_record(day).await.unwrap().unwrap(), second);
    shutdown.cancel();
    for r in runners {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_late_and_a_corrected_row_republish_the_day_as_revision_2() {
    let dir = tempfile::tempdir().unwrap();
    a_late_and_a_corrected_row_republish_the_day(dir.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_a_late_and_a_corrected_row_republish_the_day_as_revision_2() {
    sqlx::any::install_default_drivers();
    let base = std::env::var("PINTA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
    let admin = sqlx::AnyPool::connect(&format!("{base}/mysql"))
        .await
        .unwrap_or_else(|e| panic!("MariaDB is required at {base} (start it with scripts/ensure-mariadb): {e}"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("pinta_cli_inc_{}_{nanos}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    let dir = tempfile::tempdir().unwrap();
    a_late_and_a_corrected_row_republish_the_day(dir.path(), Some(format!("{base}/{name}"))).await;
}

fn pinta(data_dir: &std::path::Path, source: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pinta"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--source")
        .arg(source)
        .args(args)
        .env("PINTA_SOURCE_CONNECT_TIMEOUT_SECS", "0.5")
        .env("PINTA_SOURCE_QUERY_TIMEOUT_SECS", "5")
        .env_remove("PINTA_SMTP_HOST")
        .output()
        .expect("running pinta")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinta_run_with_the_database_down_fails_with_pipeline_failed_then_completes_when_it_is_back() {
    let db = tokio::task::spawn_blocking(PrivateMariaDb::start).await.unwrap().expect("private MariaDB server");
    let url = db.create_database("pinta_cli_down").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let day = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
    let out = pinta(dir.path(), &url, &["seed", "--days", "2", "--until", "2025-03-31", "--rows-per-day", "20"]);
    assert!(out.status.success(), "seed: {}", String::from_utf8_lossy(&out.stderr));

    let mut db = tokio::task::spawn_blocking(move || {
        let mut db = db;
        db.stop();
        db
    })
    .await
    .unwrap();
    let data_dir = dir.path().to_owned();
    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || pinta(&data_dir, &url2, &["run", "--date", "2025-03-31"])).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stdout: {} stderr: {stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("extraction failed"), "{stderr}");
    // The notifier alerted the failure (the outbox, as no SMTP relay is configured).
    let outbox = dir.path().join(".pinta").join("outbox");
    let alerts: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap_or_else(|e| panic!("no outbox at {}: {e}", outbox.display()))
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    assert!(
        alerts.iter().any(|a| a.contains("source-unavailable") || a.contains("SOURCE_UNAVAILABLE")),
        "expected a source-unavailable alert, got {} file(s)",
        alerts.len()
    );
    assert!(!dir.path().join(layout::raw_key(day)).exists());

    db = tokio::task::spawn_blocking(move || {
        db.start_again().expect("restart MariaDB");
        db
    })
    .await
    .unwrap();
    let data_dir = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || pinta(&data_dir, &url, &["run", "--date", "2025-03-31"])).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "stdout: {stdout} stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2025-03-31: 20 rows read"), "{stdout}");
    assert!(dir.path().join(layout::day_record_key(day)).exists());
    drop(db);
}
