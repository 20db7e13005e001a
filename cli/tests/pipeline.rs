//! The whole pipeline in one process over seeded data: row conservation, quarantine reasons equal to
//! the injected defects, the contracted Parquet schema as seen by pyarrow and pandas, idempotency
//! under redelivery, and recovery from a stop between stages.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pinta_cli::app::Embedded;
use pinta_cli::config::Config;
use pinta_cli::seed;
use pinta_contracts::control::DayStatus;
use pinta_contracts::{EventType, PintaEvent, ReasonCode, layout};
use pinta_platform::ports::{EventReceiver, ObjectStoreExt};
use tokio_util::sync::CancellationToken;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_days_flow_to_curated_and_quarantine_with_exact_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(12, 80, 0.12);
    let app = seeded_app(dir.path(), &p).await;
    let tap = app.bus.subscribe("test-tap", &[], Duration::from_secs(60));
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    let days = extract_all(&app).await;
    assert_eq!(days.len(), 12);

    let mut files = Vec::new();
    let mut injected_total = 0;
    for day in &days {
        let record = app.day_record(*day).await.unwrap().expect("every day completes");
        assert_eq!(record.status, DayStatus::Published);
        let generated = seed::generate_day(&p, *day);
        assert_eq!(record.rows_in, generated.len() as u64);
        assert_eq!(record.rows_curated + record.rows_quarantined, record.rows_in, "row conservation for {day}");
        injected_total += generated.iter().filter(|r| r.defect.is_some()).count();
        files.push(dir.path().join(layout::curated_key(*day)));
        if record.rows_quarantined > 0 {
            files.push(dir.path().join(layout::quarantine_key(*day)));
        }
    }
    assert!(injected_total > 50, "the seed injected {injected_total} defects");

    // An independent reader (pyarrow + pandas) sees the contracted schema and the same row counts.
    let read = read_parquet(&files);
    for day in &days {
        let generated = seed::generate_day(&p, *day);
        let curated = &read[dir.path().join(layout::curated_key(*day)).to_string_lossy().as_ref()];
        assert_eq!(
            curated["arrow_types"],
            serde_json::json!({
                "Fecha de producción": "timestamp[us]",
                "Tipo de pintura producida": "string",
                "Cantidad producida": "int64",
                "Costo por litro producido": "double",
                "Costo de la producción": "double",
                "Operador": "string"
            })
        );
        assert!(curated["pandas_dtypes"]["Fecha de producción"].as_str().unwrap().starts_with("datetime64"));
        assert_eq!(curated["pandas_dtypes"]["Cantidad producida"], "int64");
        assert_eq!(curated["pandas_dtypes"]["Costo de la producción"], "float64");

        // Expected quarantine: exactly the rows with an injected defect, each with exactly its reason.
        // The raw CSV has the header on line 1, so generated row i is on line i + 2.
        let expected: BTreeMap<i64, BTreeSet<String>> = generated
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.defect.map(|d| (i as i64 + 2, BTreeSet::from([d.expected_reason().as_str().to_owned()]))))
            .collect();
        let got: BTreeMap<i64, BTreeSet<String>> = match read.get(dir.path().join(layout::quarantine_key(*day)).to_string_lossy().as_ref()) {
            Some(q) => q["quarantine"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    let reasons = pair[1].as_str().unwrap().split(',').map(str::to_owned).collect();
                    (pair[0].as_i64().unwrap(), reasons)
                })
                .collect(),
            None => BTreeMap::new(),
        };
        assert_eq!(got, expected, "quarantine of {day} must match the injected defects");
        let curated_rows = curated["rows"].as_u64().unwrap() as usize;
        assert_eq!(curated_rows, generated.len() - expected.len());
        let clean_liters: i64 = generated.iter().filter(|r| r.defect.is_none()).map(|r| r.row.quantity.unwrap()).sum();
        assert_eq!(curated["liters"].as_i64().unwrap(), clean_liters);
    }

    // The events announce every day once, with KPIs matching the curated files.
    let mut published = BTreeMap::new();
    while let Ok(batch) = tap.receive(100, Duration::from_millis(50)).await {
        if batch.is_empty() {
            break;
        }
        for m in batch {
            tap.ack(&m).await.unwrap();
            let env = pinta_contracts::Envelope::from_json(&m.body).unwrap();
            if let PintaEvent::ProductionPublishedV1(e) = env.decode().unwrap() {
                assert!(published.insert(e.production_date, e.kpis.liters).is_none(), "published twice");
            }
        }
    }
    assert_eq!(published.len(), days.len());
    shutdown.cancel();
    for r in runners {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_delivered_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(4, 50, 0.1);
    let app = seeded_app(dir.path(), &p).await;
    let tap = app.bus.subscribe("test-tap", &[], Duration::from_secs(60));
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    extract_all(&app).await;
    let before = snapshot(&app).await;
    let mut events = Vec::new();
    for m in tap.receive(1000, Duration::from_millis(100)).await.unwrap() {
        tap.ack(&m).await.unwrap();
        events.push(pinta_contracts::Envelope::from_json(&m.body).unwrap());
    }
    assert!(events.len() >= 4 * 3, "extracted, transformed, published per day at least");

    // 1. Plain redelivery: every event again. Consumers recognise them; nothing new is emitted.
    for e in &events {
        app.publisher.publish(e).await.unwrap();
    }
    assert!(app.wait_idle(Duration::from_secs(120)).await);
    let again = tap.receive(1000, Duration::from_millis(200)).await.unwrap();
    assert_eq!(again.len(), events.len(), "only the redelivered events themselves, no new ones");
    for m in &again {
        tap.ack(m).await.unwrap();
    }
    assert_eq!(snapshot(&app).await, before);

    // 2. Redelivery after the processed-event log is lost: the work is redone and yields the same
    //    objects and the same event ids.
    for meta in app.store.list("_control/inbox/").await.unwrap() {
        app.store.delete(&meta.key).await.unwrap();
    }
    for e in events.iter().filter(|e| e.event_type == EventType::ProductionExtractedV1.as_str()) {
        app.publisher.publish(e).await.unwrap();
    }
    assert!(app.wait_idle(Duration::from_secs(120)).await);
    assert_eq!(snapshot(&app).await, before, "redone work wrote identical objects");
    let original_ids: BTreeSet<String> = events.iter().map(|e| e.id.clone()).collect();
    for m in tap.receive(1000, Duration::from_millis(200)).await.unwrap() {
        tap.ack(&m).await.unwrap();
        let env = pinta_contracts::Envelope::from_json(&m.body).unwrap();
        assert!(original_ids.contains(&env.id), "event {} ({}) is new", env.id, env.event_type);
    }
    assert!(app.dead_letters.list(None).await.unwrap().is_empty());
    shutdown.cancel();
    for r in runners {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_between_stages_is_healed_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(3, 40, 0.05);
    // First life: the extractor runs and the process stops before any other stage handles its events
    // (they die with the in-process bus). No runner is started, so this does not depend on timing.
    {
        let app = seeded_app(dir.path(), &p).await;
        let days = source_days(&app).await;
        for d in &days {
            app.extractor.extract_and_publish(app.publisher.as_ref(), Some(*d), &app.retry).await.unwrap();
        }
        assert_eq!(app.store.list("crudos/").await.unwrap().len(), days.len());
        let complete = app.store.list("_control/days/").await.unwrap().len();
        assert_eq!(complete, 0, "the first life must leave every day unfinished");
    }
    // Second life: what `pinta up` does at start — reconcile, then run.
    let app = Embedded::open(Config::new(dir.path(), None, None).unwrap()).await.unwrap();
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    let report = app.reconciler.sweep(app.publisher.as_ref(), Duration::ZERO).await.unwrap();
    assert_eq!(report.raw_files, 3);
    assert!(!report.reemitted.is_empty());
    assert!(app.wait_idle(Duration::from_secs(120)).await);
    for d in source_days(&app).await {
        let record = app.day_record(d).await.unwrap().expect("healed");
        assert_eq!(record.rows_curated + record.rows_quarantined, record.rows_in);
        assert_eq!(record.rows_in, seed::generate_day(&p, d).len() as u64);
    }
    // A further sweep finds nothing to do.
    let report = app.reconciler.sweep(app.publisher.as_ref(), Duration::ZERO).await.unwrap();
    assert_eq!((report.complete, report.reemitted.len()), (3, 0));
    shutdown.cancel();
    for r in runners {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_dropped_into_crudos_by_hand_is_processed_by_the_reconciler() {
    let dir = tempfile::tempdir().unwrap();
    let app = seeded_app(dir.path(), &params(1, 5, 0.0)).await;
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    extract_all(&app).await; // takes a catalogue snapshot, as a real deployment would have
    let day = chrono::NaiveDate::from_ymd_opt(2024, 12, 24).unwrap();
    // A hand-made export: windows-1252, ';' and decimal comma, day-first dates, CRLF.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"fecha de produccion;tipo de pintura;cantidad;costo por litro;operador\r\n");
    bytes.extend_from_slice(b"24/12/2024 08:00;Esmalte rojo;100;120,5;Juan P\xe9rez\r\n");
    bytes.extend_from_slice(b"24/12/2024 09:00;Sellador;-3;70;Ana Mart\xednez\r\n");
    app.store.put_create(&layout::raw_key(day), bytes.into()).await.unwrap();
    let report = app.reconciler.sweep(app.publisher.as_ref(), Duration::ZERO).await.unwrap();
    assert_eq!(report.reemitted, vec![day]);
    assert!(app.wait_idle(Duration::from_secs(60)).await);
    let record = app.day_record(day).await.unwrap().expect("the hand-dropped day completes");
    assert_eq!((record.rows_in, record.rows_curated, record.rows_quarantined), (2, 1, 1));
    let read = read_parquet(&[dir.path().join(layout::curated_key(day)), dir.path().join(layout::quarantine_key(day))]);
    let curated = &read[dir.path().join(layout::curated_key(day)).to_string_lossy().as_ref()];
    assert_eq!(curated["liters"], 100);
    assert!((curated["cost"].as_f64().unwrap() - 12050.0).abs() < 1e-6, "cost computed as 100 × 120,5");
    let q = &read[dir.path().join(layout::quarantine_key(day)).to_string_lossy().as_ref()];
    assert_eq!(q["quarantine"], serde_json::json!([[3, ReasonCode::NegativeQuantity.as_str()]]));
    shutdown.cancel();
    for r in runners {
        r.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_review_lists_days_and_shows_rows_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(3, 60, 0.15);
    let app = seeded_app(dir.path(), &p).await;
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    let days = extract_all(&app).await;
    let listed = pinta_cli::quarantine::list(app.store.as_ref()).await.unwrap();
    for day in &days {
        let generated = seed::generate_day(&p, *day);
        let defects: Vec<(i64, &str)> = generated
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.defect.map(|d| (i as i64 + 2, d.expected_reason().as_str())))
            .collect();
        let shown = pinta_cli::quarantine::show(app.store.as_ref(), *day).await.unwrap();
        assert_eq!(shown.iter().map(|e| (e.line, e.reasons.as_str())).collect::<Vec<_>>(), defects);
        let entry = listed.iter().find(|d| d.day == *day).expect("listed");
        assert_eq!(entry.rows, defects.len());
        assert_eq!(entry.status, "published");
        assert_eq!(entry.reasons.values().sum::<usize>(), defects.len());
        let text = pinta_cli::quarantine::render(*day, &shown);
        assert!(text.contains(&format!("{} quarantined row(s)", defects.len())));
    }
    assert!(pinta_cli::quarantine::show(app.store.as_ref(), chrono::NaiveDate::from_ymd_opt(1999, 1, 1).unwrap()).await.unwrap().is_empty());
    shutdown.cancel();
    for r in runners {
        r.await.unwrap();
    }
}
