//! The gateway's router against a real local object store.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use http_body_util::BodyExt;
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::events::ObjectRef;
use pinta_contracts::layout;
use pinta_dashboard_gateway::{GatewayState, app};
use pinta_platform::embedded::LocalObjectStore;
use pinta_platform::ports::{ObjectStore, ObjectStoreExt};
use tower::ServiceExt;

fn record(day: &str, status: DayStatus) -> DayRecord {
    let d = layout::parse_day(day).unwrap();
    DayRecord {
        production_date: d,
        status,
        raw: ObjectRef { key: layout::raw_key(d), sha256: "0".repeat(64), size: 1 },
        curated: None,
        quarantine: None,
        rows_in: 10,
        rows_curated: 9,
        rows_quarantined: 1,
        event_ids: vec![],
        completed_at: Utc::now(),
    }
}

async fn get(store: Arc<dyn ObjectStore>, uri: &str) -> (StatusCode, serde_json::Value) {
    let res = app(GatewayState { store }).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn latest_is_the_most_recent_published_day() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path()));
    let (status, _) = get(store.clone(), "/api/production/latest").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (day, status) in [("2025-01-01", DayStatus::Published), ("2025-01-03", DayStatus::Held), ("2025-01-02", DayStatus::Published)] {
        let bytes = serde_json::to_vec(&record(day, status)).unwrap();
        store.put_create(&layout::day_record_key(layout::parse_day(day).unwrap()), bytes.into()).await.unwrap();
    }
    let (status, body) = get(store.clone(), "/api/production/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["production_date"], "2025-01-02");
    let (status, body) = get(store, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}
