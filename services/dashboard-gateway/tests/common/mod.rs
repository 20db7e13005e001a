//! Fixtures for the gateway tests: a local bucket with hand-made curated and quarantine Parquet files
//! and completion records, and a gateway state over it.

#![allow(dead_code)]

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{NaiveDate, Utc};
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::events::ObjectRef;
use pinta_contracts::layout;
use pinta_contracts::tables::{curated_schema, quarantine_schema};
use pinta_dashboard_gateway::{GatewayConfig, GatewayState};
use pinta_platform::embedded::LocalObjectStore;
use pinta_platform::ports::{ObjectStore, ObjectStoreExt};

/// (hour, paint, litres, unit cost, operator)
pub type Spec = (u32, &'static str, i64, f64, &'static str);

pub const DAY1: [Spec; 5] = [
    (8, "Esmalte", 100, 10.0, "Ana"),
    (9, "Vinílica", 250, 8.0, "Luis"),
    (10, "Esmalte", 40, 10.0, "Luis"),
    (11, "Acrílica", 300, 12.5, "Marta"),
    (12, "Vinílica", 5, 8.0, "Ana"),
];

pub fn day(text: &str) -> NaiveDate {
    layout::parse_day(text).unwrap()
}

pub fn curated_parquet(d: NaiveDate, rows: &[Spec]) -> Vec<u8> {
    let ts: Vec<i64> = rows
        .iter()
        .map(|r| d.and_hms_opt(r.0, 0, 0).unwrap().and_utc().timestamp_micros())
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(ts)),
        Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.2 as f64 * r.3).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
    ];
    let batch = RecordBatch::try_new(curated_schema(), cols).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, curated_schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

pub fn quarantine_parquet() -> Vec<u8> {
    let text = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
    let cols: Vec<ArrayRef> = vec![
        text("2025-03-01 13:00:00"),
        text("Esmalte"),
        text("-3"),
        text("10"),
        text("-30"),
        text("Ana"),
        Arc::new(Int64Array::from(vec![7])),
        Arc::new(StringArray::from(vec!["negative_quantity"])),
        Arc::new(StringArray::from(vec!["Cantidad producida -3 < 0"])),
    ];
    let batch = RecordBatch::try_new(quarantine_schema(), cols).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, quarantine_schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

pub fn record(d: NaiveDate, status: DayStatus) -> DayRecord {
    DayRecord {
        production_date: d,
        status,
        raw: ObjectRef {
            key: layout::raw_key(d),
            sha256: "0".repeat(64),
            size: 1,
        },
        curated: None,
        quarantine: None,
        rows_in: 10,
        rows_curated: 9,
        rows_quarantined: 1,
        event_ids: vec![],
        completed_at: Utc::now(),
        revision: 1,
    }
}

/// Publishes a day into the bucket: curated file, optional quarantine, completion record.
pub async fn put_day(store: &Arc<dyn ObjectStore>, d: NaiveDate, rows: &[Spec], quarantine: bool) {
    store
        .put_create(&layout::curated_key(d), curated_parquet(d, rows).into())
        .await
        .unwrap();
    if quarantine {
        store
            .put_create(&layout::quarantine_key(d), quarantine_parquet().into())
            .await
            .unwrap();
    }
    let bytes = serde_json::to_vec(&record(d, DayStatus::Published)).unwrap();
    store
        .put_create(&layout::day_record_key(d), bytes.into())
        .await
        .unwrap();
}

pub fn store(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    Arc::new(LocalObjectStore::new(dir))
}

pub fn open_state(store: Arc<dyn ObjectStore>) -> GatewayState {
    GatewayState::new(store, GatewayConfig::default())
}

pub fn auth_state(store: Arc<dyn ObjectStore>) -> GatewayState {
    let config = GatewayConfig {
        users: pinta_dashboard_gateway::auth::parse_users("ana:gerencial:clave-de-ana,luis:operativo:clave-de-luis")
            .unwrap(),
        ..GatewayConfig::default()
    };
    GatewayState::new(store, config)
}
