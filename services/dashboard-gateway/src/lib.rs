//! The dashboard gateway: an axum server over the curated layer.
//!
//! What is here so far: `GET /healthz` and `GET /api/production/latest` (the latest published day,
//! from its completion record). The dashboards, the rest of the data API and the WebSocket push are
//! the subject of their own issue.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::layout;
use pinta_platform::ports::{ObjectStore, ObjectStoreExt};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct GatewayState {
    pub store: Arc<dyn ObjectStore>,
}

/// The gateway's router.
pub fn app(state: GatewayState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/production/latest", get(latest))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({"error": message}))).into_response()
}

/// The most recent published day (by production date).
pub async fn latest_published(store: &dyn ObjectStore) -> Result<Option<DayRecord>, pinta_platform::ports::StoreError> {
    let mut records = store.list(&format!("{}days/", layout::CONTROL_PREFIX)).await?;
    records.sort_by(|a, b| b.key.cmp(&a.key));
    for meta in records {
        let bytes = store.get_bytes(&meta.key).await?;
        match serde_json::from_slice::<DayRecord>(&bytes) {
            Ok(r) if r.status == DayStatus::Published => return Ok(Some(r)),
            Ok(_) => continue,
            Err(e) => tracing::warn!(key = %meta.key, error = %e, "unreadable day record skipped"),
        }
    }
    Ok(None)
}

async fn latest(State(state): State<GatewayState>) -> Response {
    match latest_published(state.store.as_ref()).await {
        Ok(Some(record)) => Json(record).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no production day has been published yet".into()),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("object store unavailable: {e}")),
    }
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: GatewayState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}
