//! The extractor against real databases: incremental extraction (a row added and a row corrected after
//! the day was extracted re-publish the day as revision 2, the previous version kept under
//! `historico/`), on SQLite and on MariaDB; and a MariaDB server that is down (a private one, stopped
//! and started by the test) giving a prompt `pipeline.failed.v1` and recovering on the next run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, NaiveDateTime, Utc};
use pinta_contracts::control::{DayRecord, DayStatus, ExtractorWatermark, RevisionRecord};
use pinta_contracts::events::ObjectRef;
use pinta_contracts::{Envelope, FailureCode, PintaEvent, Stage, layout, sha256_hex};
use pinta_extractor::{Extractor, IncrementalConfig};
use pinta_platform::embedded::{InProcessBus, InProcessQueue, LocalObjectStore};
use pinta_platform::ports::{
    CatalogOperator, CatalogPaint, EventPublisher, EventReceiver, ObjectStore, ObjectStoreExt, PutOptions,
    SystemClock,
};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::sql::mariadb::PrivateMariaDb;
use pinta_platform::sql::{NewRow, SourceSettings, SqlSource};

fn d1() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 5, 1).unwrap()
}
fn d2() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 5, 2).unwrap()
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn row(id: i64, day: NaiveDate, quantity: i64, updated: &str) -> NewRow {
    NewRow {
        id,
        day,
        produced_at: day.and_hms_opt(8, id as u32 % 60, 0),
        paint_type: Some("Esmalte rojo".into()),
        quantity: Some(quantity),
        unit_cost: Some(10.0),
        cost: Some(quantity as f64 * 10.0),
        operator: Some("Ana Martínez".into()),
        updated_at: at(updated),
    }
}

async fn seed(source: &SqlSource) {
    let catalog = pinta_platform::ports::Catalog {
        operators: vec![CatalogOperator { name: "Ana Martínez".into(), active: true }],
        paint_types: vec![CatalogPaint { name: "Esmalte rojo".into(), price_per_liter: 10.0 }],
    };
    source.replace_catalog(&catalog).await.unwrap();
    source.write_day(d1(), &[row(1, d1(), 5, "2025-05-02 00:00:00"), row(2, d1(), 6, "2025-05-02 00:00:00")]).await.unwrap();
    source.write_day(d2(), &[row(3, d2(), 7, "2025-05-03 00:00:00")]).await.unwrap();
}

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<LocalObjectStore>,
    publisher: Arc<dyn EventPublisher>,
    tap: Arc<InProcessQueue>,
    extractor: Extractor,
}

fn env(source: Arc<SqlSource>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let bus = InProcessBus::new();
    let tap = bus.subscribe("test-tap", &[], Duration::from_secs(60));
    let extractor = Extractor::new(source, store.clone(), Arc::new(SystemClock))
        .with_incremental(IncrementalConfig { overlap: Duration::from_secs(300) });
    Env { _dir: dir, store, publisher: bus.publisher(), tap, extractor }
}

async fn drain(tap: &InProcessQueue) -> Vec<Envelope> {
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

/// What the validator would write once the day completed (this test has no validator).
async fn complete(store: &LocalObjectStore, day: NaiveDate, raw: &ObjectRef, revision: u32) {
    let record = DayRecord {
        production_date: day,
        status: DayStatus::Published,
        raw: raw.clone(),
        curated: None,
        quarantine: None,
        rows_in: 0,
        rows_curated: 0,
        rows_quarantined: 0,
        event_ids: vec![],
        completed_at: Utc::now(),
        revision,
    };
    store
        .put_opts(&layout::day_record_key(day), Bytes::from(serde_json::to_vec(&record).unwrap()), PutOptions::overwrite())
        .await
        .unwrap();
}

async fn snapshot(store: &LocalObjectStore) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for meta in store.list("").await.unwrap() {
        if meta.key == layout::CURRENT_CATALOG_KEY || meta.key.starts_with(".pinta") {
            continue;
        }
        out.insert(meta.key.clone(), sha256_hex(&store.get_bytes(&meta.key).await.unwrap()));
    }
    out
}

async fn changed_day_is_republished_as_revision_2(source: Arc<SqlSource>) {
    seed(&source).await;
    let e = env(source.clone());
    let retry = RetryPolicy::default();
    let first = e.extractor.extract_and_publish(e.publisher.as_ref(), Some(d1()), &retry).await.unwrap().unwrap();
    assert_eq!(first.revision, 1);
    let events = drain(&e.tap).await;
    assert_eq!(events.len(), 1);
    match events[0].decode().unwrap() {
        PintaEvent::ProductionExtractedV1(x) => assert_eq!((x.revision, x.rows), (1, 2)),
        other => panic!("unexpected {other:?}"),
    }
    complete(&e.store, d1(), &first.raw, 1).await;

    // First pass: no watermark yet, so every extracted day is compared; nothing changed.
    let pass = e.extractor.refresh_changed(e.publisher.as_ref(), &retry).await.unwrap();
    assert_eq!((pass.since, pass.checked.clone(), pass.republished.clone()), (None, vec![d1()], vec![]));
    assert_eq!(pass.watermark, Some(at("2025-05-03 00:00:00")));
    assert!(drain(&e.tap).await.is_empty(), "an unchanged, complete day is not announced again");
    let mark: ExtractorWatermark = serde_json::from_slice(&e.store.get_bytes(layout::WATERMARK_KEY).await.unwrap()).unwrap();
    assert_eq!(mark.updated_after, at("2025-05-03 00:00:00"));
    let old_raw = e.store.get_bytes(&layout::raw_key(d1())).await.unwrap();

    // A late row and a corrected row for day 1; a change on day 2, which was never extracted.
    source
        .upsert_rows(&[
            row(10, d1(), 4, "2025-05-06 09:00:00"),
            row(2, d1(), 60, "2025-05-06 09:00:05"),
            row(3, d2(), 8, "2025-05-06 09:00:06"),
        ])
        .await
        .unwrap();
    let pass = e.extractor.refresh_changed(e.publisher.as_ref(), &retry).await.unwrap();
    assert_eq!(pass.checked, vec![d1()], "only already-extracted days are re-extracted");
    assert_eq!(pass.republished, vec![(d1(), 2)]);
    assert_eq!(pass.watermark, Some(at("2025-05-06 09:00:06")));
    let events = drain(&e.tap).await;
    assert_eq!(events.len(), 1);
    let announced = match events[0].decode().unwrap() {
        PintaEvent::ProductionExtractedV1(x) => x,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!((announced.revision, announced.rows, announced.production_date), (2, 3, d1()));
    let new_raw = e.store.get_bytes(&layout::raw_key(d1())).await.unwrap();
    assert_eq!(announced.raw.sha256, sha256_hex(&new_raw));
    let text = String::from_utf8(new_raw.to_vec()).unwrap();
    assert!(text.contains(",60,") && text.contains(",4,") && !text.contains(",6,"), "{text}");

    // The previous raw file and day record are kept under historico/reemplazado/<stamp>/.
    let revision: RevisionRecord = serde_json::from_slice(&e.store.get_bytes(&layout::revision_key(d1())).await.unwrap()).unwrap();
    assert_eq!((revision.revision, revision.raw.sha256.clone()), (2, announced.raw.sha256.clone()));
    let kept = revision.previous_kept_under.expect("previous version kept");
    assert!(kept.starts_with(layout::SUPERSEDED_PREFIX));
    assert_eq!(e.store.get_bytes(&format!("{kept}{}", layout::raw_key(d1()))).await.unwrap(), old_raw);
    let kept_record: DayRecord =
        serde_json::from_slice(&e.store.get_bytes(&format!("{kept}{}", layout::day_record_key(d1()))).await.unwrap()).unwrap();
    assert_eq!(kept_record.raw.sha256, first.raw.sha256);

    // Event ids are deterministic per (day, raw content, revision): extracting again gives the same id.
    let again = e.extractor.extract(d1()).await.unwrap();
    assert_eq!((again.revision, again.created), (2, false));
    assert_eq!(again.envelope.id, events[0].id);
    assert_ne!(again.envelope.id, first.envelope.id);

    // Once revision 2 completed, a pass with no change writes and announces nothing.
    complete(&e.store, d1(), &announced.raw, 2).await;
    let before = snapshot(&e.store).await;
    let pass = e.extractor.refresh_changed(e.publisher.as_ref(), &retry).await.unwrap();
    assert!(pass.republished.is_empty() && pass.failed.is_empty(), "{pass:?}");
    assert!(drain(&e.tap).await.is_empty());
    assert_eq!(snapshot(&e.store).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changed_day_is_republished_as_a_new_revision() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("src.db").display());
    let source = Arc::new(SqlSource::connect(&url, Duration::from_secs(5)).await.unwrap());
    changed_day_is_republished_as_revision_2(source).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_changed_day_is_republished_as_a_new_revision() {
    sqlx::any::install_default_drivers();
    let base = std::env::var("PINTA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned());
    let admin = sqlx::AnyPool::connect(&format!("{base}/mysql"))
        .await
        .unwrap_or_else(|e| panic!("MariaDB is required at {base} (start it with scripts/ensure-mariadb): {e}"));
    let name = format!("pinta_inc_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    let source = Arc::new(SqlSource::connect(&format!("{base}/{name}"), Duration::from_secs(5)).await.unwrap());
    changed_day_is_republished_as_revision_2(source).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_gives_pipeline_failed_then_the_next_run_completes() {
    let db = tokio::task::spawn_blocking(PrivateMariaDb::start).await.unwrap().expect("private MariaDB server");
    let url = db.create_database("pinta_extractor_down").await.unwrap();
    seed(&SqlSource::connect(&url, Duration::from_secs(5)).await.unwrap()).await;
    let mut db = tokio::task::spawn_blocking(move || {
        let mut db = db;
        db.stop();
        db
    })
    .await
    .unwrap();

    // The extractor starts while the database is down (nothing is contacted until it runs).
    let settings = SourceSettings { connect_timeout: Duration::from_millis(500), query_timeout: Duration::from_secs(5) };
    let e = env(Arc::new(SqlSource::open(&url, settings).unwrap()));
    let retry = RetryPolicy { max_attempts: 3, base: Duration::from_millis(20), max: Duration::from_millis(100) };
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        e.extractor.extract_and_publish(e.publisher.as_ref(), Some(d1()), &retry),
    )
    .await
    .expect("a stopped database must not hang the extractor")
    .unwrap_err();
    assert_eq!(err.code(), FailureCode::SourceUnavailable);
    assert!(err.is_retryable());
    let events = drain(&e.tap).await;
    assert_eq!(events.len(), 1, "{events:?}");
    match events[0].decode().unwrap() {
        PintaEvent::PipelineFailedV1(f) => {
            assert_eq!((f.stage, f.code, f.retryable, f.attempts), (Stage::Extractor, FailureCode::SourceUnavailable, true, 3));
            assert_eq!(f.production_date, Some(d1()));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!e.store.exists(&layout::raw_key(d1())).await.unwrap());

    // The incremental pass fails the same way, announced without a day.
    let err = e.extractor.refresh_changed(e.publisher.as_ref(), &retry).await.unwrap_err();
    assert_eq!(err.code(), FailureCode::SourceUnavailable);
    match drain(&e.tap).await.as_slice() {
        [one] => match one.decode().unwrap() {
            PintaEvent::PipelineFailedV1(f) => assert_eq!((f.stage, f.production_date), (Stage::Extractor, None)),
            other => panic!("unexpected {other:?}"),
        },
        other => panic!("expected one failure, got {other:?}"),
    }

    // The database comes back: the next run completes the day.
    db = tokio::task::spawn_blocking(move || {
        db.start_again().expect("restart MariaDB");
        db
    })
    .await
    .unwrap();
    let x = e.extractor.extract_and_publish(e.publisher.as_ref(), Some(d1()), &retry).await.unwrap().unwrap();
    assert_eq!((x.rows, x.revision, x.created), (2, 1, true));
    let events = drain(&e.tap).await;
    assert!(matches!(events.as_slice(), [one] if one.event_type == "production.extracted.v1"), "{events:?}");
    drop(db);
}
