//! The dashboard gateway: an axum server with the managers' dashboard (`/`), the operations dashboard
//! (`/operativo`), their JSON data API (`/api/…`, described at `/api/openapi.json`), live push over
//! WebSocket (`/ws`), `/healthz` and Prometheus `/metrics`.
//!
//! - [`data`]: Parquet queries through the object-store port with the `parquet` crate (arrow-rs) —
//!   projection and row-filter pushdown, a cache of recent days. Not polars: see the module docs.
//! - [`live`]: the notification hub, the per-client WebSocket loop and the event follower.
//! - [`auth`]: configured users, roles (`gerencial`, `operativo`) and signed tokens.
//! - [`web`]: the pages and static assets (own files embedded; ECharts served from the built `dist`).
//!
//! The library holds no SDK type: events arrive through the `EventReceiver` port ([`live::follow_events`]).

pub mod auth;
pub mod data;
pub mod live;
pub mod oidc;
mod openapi;
pub mod web;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use futures::{SinkExt, StreamExt};
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::layout;
use pinta_platform::ports::{ObjectStore, ObjectStoreExt};

use crate::auth::{Authenticator, Principal, Role};
use crate::data::{DataError, DayReader, Filters};
use crate::live::Hub;

/// Configuration errors, each naming its variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Users(#[from] auth::UsersError),
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error(
        "refusing to serve on {0} without authentication: set PINTA_USERS (user:role:password,…) or PINTA_OIDC_ISSUER and PINTA_OIDC_AUDIENCE, or bind to a loopback address"
    )]
    Unauthenticated(IpAddr),
}

/// The gateway's settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Configured users (`PINTA_USERS`); empty = no authentication (loopback only).
    pub users: Vec<auth::User>,
    /// Token signing key (`PINTA_AUTH_SECRET`, ≥ 32 bytes); random per process when unset.
    pub secret: Vec<u8>,
    /// Session lifetime (`PINTA_SESSION_HOURS`, default 12).
    pub session: Duration,
    /// Extra origins allowed to open `/ws` besides the gateway's own (`PINTA_ALLOWED_ORIGINS`, comma
    /// separated, e.g. `https://tableros.example.com`).
    pub allowed_origins: Vec<String>,
    /// Folder with the built ECharts bundle (`PINTA_WEB_DIST`, default the crate's `web/dist`).
    pub web_dist: PathBuf,
    /// Per-WebSocket-client queue bound (`PINTA_WS_QUEUE`, default 32).
    pub client_queue: usize,
    /// Quiet period before announcing backfilled days (default 2 s).
    pub backfill_debounce: Duration,
    /// How long a WebSocket client's full queue is waited on before the client is dropped as stalled
    /// (default 5 s; a burst of notices drains well within it).
    pub stall_timeout: Duration,
    /// Recent days whose Parquet is cached (default 64).
    pub cache_days: usize,
    /// An OpenID Connect provider whose tokens are accepted (`PINTA_OIDC_ISSUER`, `PINTA_OIDC_AUDIENCE`,
    /// optional `PINTA_OIDC_ROLES_CLAIM`, `PINTA_OIDC_JWKS_URL`).
    pub oidc: Option<oidc::OidcConfig>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            users: Vec::new(),
            secret: rand::random::<[u8; 32]>().to_vec(),
            session: Duration::from_secs(12 * 3600),
            allowed_origins: Vec::new(),
            web_dist: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist")),
            client_queue: 32,
            backfill_debounce: Duration::from_secs(2),
            stall_timeout: live::STALL_TIMEOUT,
            cache_days: 64,
            oidc: None,
        }
    }
}

impl GatewayConfig {
    /// From the environment (see the field docs), checked against the bind address.
    pub fn from_env(bind: IpAddr) -> Result<GatewayConfig, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut c = GatewayConfig::default();
        if let Some(u) = var("PINTA_USERS") {
            c.users = auth::parse_users(&u)?;
        }
        if let Some(s) = var("PINTA_AUTH_SECRET") {
            if s.len() < 32 {
                return Err(ConfigError::Invalid {
                    var: "PINTA_AUTH_SECRET",
                    message: "must be at least 32 characters".into(),
                });
            }
            c.secret = s.into_bytes();
        }
        if let Some(h) = var("PINTA_SESSION_HOURS") {
            let h: u64 = h.parse().ok().filter(|h| *h > 0).ok_or(ConfigError::Invalid {
                var: "PINTA_SESSION_HOURS",
                message: format!("expected a whole number of hours > 0, got {h:?}"),
            })?;
            c.session = Duration::from_secs(h * 3600);
        }
        if let Some(o) = var("PINTA_ALLOWED_ORIGINS") {
            c.allowed_origins = o
                .split(',')
                .map(|s| s.trim().trim_end_matches('/').to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(d) = var("PINTA_WEB_DIST") {
            c.web_dist = PathBuf::from(d);
        }
        if let Some(q) = var("PINTA_WS_QUEUE") {
            c.client_queue = q.parse().ok().filter(|q| *q > 0).ok_or(ConfigError::Invalid {
                var: "PINTA_WS_QUEUE",
                message: format!("expected a whole number > 0, got {q:?}"),
            })?;
        }
        match (var("PINTA_OIDC_ISSUER"), var("PINTA_OIDC_AUDIENCE")) {
            (None, None) => {}
            (Some(issuer), Some(audience)) => {
                if !issuer.starts_with("https://") && !issuer.starts_with("http://127.0.0.1") {
                    return Err(ConfigError::Invalid {
                        var: "PINTA_OIDC_ISSUER",
                        message: format!("expected an https:// URL, got {issuer:?}"),
                    });
                }
                let mut o = oidc::OidcConfig::new(&issuer, &audience);
                if let Some(claim) = var("PINTA_OIDC_ROLES_CLAIM") {
                    o.roles_claim = claim;
                }
                if let Some(url) = var("PINTA_OIDC_JWKS_URL") {
                    o.jwks_url = url;
                }
                c.oidc = Some(o);
            }
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    var: "PINTA_OIDC_AUDIENCE",
                    message: "required with PINTA_OIDC_ISSUER: the app client id".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    var: "PINTA_OIDC_ISSUER",
                    message: "required with PINTA_OIDC_AUDIENCE: the provider's issuer URL".into(),
                });
            }
        }
        c.check_bind(bind)?;
        Ok(c)
    }

    /// Non-loopback addresses need users.
    pub fn check_bind(&self, bind: IpAddr) -> Result<(), ConfigError> {
        if !bind.is_loopback() && self.users.is_empty() && self.oidc.is_none() {
            return Err(ConfigError::Unauthenticated(bind));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Metrics {
    requests: AtomicU64,
    bad_requests: AtomicU64,
    server_errors: AtomicU64,
    denied: AtomicU64,
    exports: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    config: GatewayConfig,
    auth: Authenticator,
    reader: DayReader,
    hub: Arc<Hub>,
    metrics: Metrics,
}

/// What the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GatewayState {
    inner: Arc<Inner>,
}

impl GatewayState {
    /// Must be called inside a Tokio runtime (it starts the backfill debouncer).
    pub fn new(store: Arc<dyn ObjectStore>, config: GatewayConfig) -> GatewayState {
        let hub = Hub::with_stall_timeout(config.client_queue, config.backfill_debounce, config.stall_timeout);
        hub.spawn_debouncer();
        let mut auth = Authenticator::new(config.users.clone(), config.secret.clone(), config.session.as_secs());
        if let Some(o) = &config.oidc {
            auth = auth.with_oidc(Arc::new(oidc::OidcVerifier::new(o.clone())));
        }
        let reader = DayReader::new(config.cache_days);
        GatewayState {
            inner: Arc::new(Inner {
                store,
                config,
                auth,
                reader,
                hub,
                metrics: Metrics::default(),
            }),
        }
    }

    /// The OpenID Connect verifier, when a provider is configured (the binary feeds it the key set).
    pub fn oidc(&self) -> Option<&Arc<oidc::OidcVerifier>> {
        self.inner.auth.oidc()
    }

    /// With an OpenID Connect provider configured: fetches its key set now and keeps it fresh until
    /// `shutdown` (see [`pinta_platform::jwks`]); returns the number of keys loaded.
    pub async fn load_oidc_keys(
        &self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Option<usize>, pinta_platform::jwks::JwksError> {
        let Some(verifier) = self.oidc().cloned() else { return Ok(None) };
        let url = verifier.config().jwks_url.clone();
        let apply: Arc<pinta_platform::jwks::ApplyKeys> = Arc::new(move |body: &[u8]| {
            verifier.set_keys(body).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        });
        let n = pinta_platform::jwks::load_and_refresh(url, apply, Default::default(), shutdown).await?;
        Ok(Some(n))
    }

    /// The live hub (for tests and metrics).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// `production.published.v1` for `day`: evicts its cache entry and notifies the dashboards.
    pub fn published(&self, day: NaiveDate, backfill: bool) {
        self.inner.reader.invalidate(day);
        self.inner.hub.published(day, backfill);
    }

    /// Reads the latest published day from the bucket into the hub (start-up).
    pub async fn load_latest(&self) -> Result<Option<NaiveDate>, pinta_platform::ports::StoreError> {
        let latest = latest_published(self.inner.store.as_ref())
            .await?
            .map(|r| r.production_date);
        self.inner.hub.set_latest(latest);
        Ok(latest)
    }
}

/// The gateway's router.
pub fn app(state: GatewayState) -> Router {
    Router::new()
        .route("/", get(web::managers_page))
        .route("/operativo", get(web::operations_page))
        .route("/login", get(web::login_page))
        .route("/assets/{file}", get(web::asset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws", get(ws))
        .route("/api/openapi.json", get(openapi))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/days", get(days))
        .route("/api/production/latest", get(latest))
        .route("/api/production/{date}", get(production))
        .route("/api/production/{date}/export.csv", get(export))
        .route("/api/quarantine/{date}", get(quarantine))
        .fallback(not_found)
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: GatewayState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Err(e) = state.load_latest().await {
        tracing::warn!(error = %e, "could not read the latest published day at start");
    }
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

/// Starts the gateway in the background until `shutdown`: loads the OpenID Connect key set when a
/// provider is configured (an unreachable provider is an error, before anything is served), follows
/// `events` for published days, and serves on `listener`. Returns the two tasks (follower, server).
pub async fn start(
    listener: tokio::net::TcpListener,
    state: GatewayState,
    events: Arc<dyn pinta_platform::ports::EventReceiver>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<[tokio::task::JoinHandle<()>; 2], pinta_platform::jwks::JwksError> {
    state.load_oidc_keys(shutdown.clone()).await?;
    let follower = {
        let (state, token) = (state.clone(), shutdown.clone());
        tokio::spawn(async move { live::follow_events(events, state, async move { token.cancelled().await }).await })
    };
    let server = tokio::spawn(async move {
        if let Err(e) = serve(listener, state, async move { shutdown.cancelled().await }).await {
            tracing::error!(error = %e, "gateway stopped");
        }
    });
    Ok([follower, server])
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(serde_json::json!({"error": message}))).into_response()
}

impl GatewayState {
    fn count(&self) {
        self.inner.metrics.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn data_error(&self, e: DataError) -> Response {
        let m = &self.inner.metrics;
        match e {
            DataError::BadRequest(msg) => {
                m.bad_requests.fetch_add(1, Ordering::Relaxed);
                error(StatusCode::BAD_REQUEST, msg)
            }
            DataError::NotFound(d) => error(StatusCode::NOT_FOUND, format!("no production data for {d}")),
            e @ DataError::Store(_) => {
                m.server_errors.fetch_add(1, Ordering::Relaxed);
                error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            e @ DataError::Corrupt { .. } => {
                m.server_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "curated file unreadable");
                error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }

    /// The caller if it holds `role`, else the 401/403 response.
    pub(crate) fn require(&self, headers: &HeaderMap, role: Role) -> Result<Principal, Response> {
        match self.inner.auth.principal(headers) {
            Some(p) if p.can(role) => Ok(p),
            Some(p) => {
                self.inner.metrics.denied.fetch_add(1, Ordering::Relaxed);
                Err(error(
                    StatusCode::FORBIDDEN,
                    format!("{} has role {}; this needs {}", p.user, p.role.as_str(), role.as_str()),
                ))
            }
            None => {
                self.inner.metrics.denied.fetch_add(1, Ordering::Relaxed);
                Err(error(StatusCode::UNAUTHORIZED, "log in first (POST /api/login)"))
            }
        }
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

async fn openapi() -> impl IntoResponse {
    Json(openapi::document())
}

async fn metrics(State(s): State<GatewayState>) -> Response {
    let m = &s.inner.metrics;
    let h = &s.inner.hub;
    let r = &s.inner.reader;
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let lines = [
        (
            "pinta_gateway_requests_total",
            "counter",
            "API requests.",
            g(&m.requests),
        ),
        (
            "pinta_gateway_bad_requests_total",
            "counter",
            "Requests answered 400.",
            g(&m.bad_requests),
        ),
        (
            "pinta_gateway_server_errors_total",
            "counter",
            "Requests answered 5xx.",
            g(&m.server_errors),
        ),
        (
            "pinta_gateway_denied_total",
            "counter",
            "Requests answered 401/403.",
            g(&m.denied),
        ),
        ("pinta_gateway_exports_total", "counter", "CSV exports.", g(&m.exports)),
        (
            "pinta_gateway_cache_hits_total",
            "counter",
            "Parquet cache hits.",
            g(&r.hits),
        ),
        (
            "pinta_gateway_cache_misses_total",
            "counter",
            "Parquet cache misses.",
            g(&r.misses),
        ),
        (
            "pinta_gateway_ws_clients",
            "gauge",
            "Connected WebSocket clients.",
            g(&h.connected),
        ),
        (
            "pinta_gateway_ws_dropped_total",
            "counter",
            "WebSocket clients dropped for not reading.",
            g(&h.dropped),
        ),
        (
            "pinta_gateway_notices_total",
            "counter",
            "Notifications broadcast.",
            g(&h.notices),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, v) in lines {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    user: String,
    password: String,
}

async fn login(State(s): State<GatewayState>, body: axum::body::Bytes) -> Response {
    s.count();
    let Ok(form) = serde_json::from_slice::<LoginForm>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected JSON {\"user\": …, \"password\": …}");
    };
    if s.inner.auth.is_open() {
        return error(
            StatusCode::BAD_REQUEST,
            "authentication is not configured (local mode): no login needed",
        );
    }
    match s.inner.auth.login(&form.user, &form.password) {
        Some((token, p)) => {
            let cookie = format!(
                "{}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                auth::COOKIE,
                s.inner.config.session.as_secs()
            );
            let mut res = Json(serde_json::json!({"token": token, "user": p.user, "role": p.role})).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        None => {
            s.inner.metrics.denied.fetch_add(1, Ordering::Relaxed);
            error(StatusCode::UNAUTHORIZED, "wrong user or password")
        }
    }
}

async fn logout() -> Response {
    let mut res = Json(serde_json::json!({"ok": true})).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("pinta_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    res
}

async fn me(State(s): State<GatewayState>, headers: HeaderMap) -> Response {
    match s.require(&headers, Role::Gerencial) {
        Ok(p) => {
            Json(serde_json::json!({"user": p.user, "role": p.role, "auth": !s.inner.auth.is_open()})).into_response()
        }
        Err(r) => r,
    }
}

/// The most recent published day (by production date), from the completion records.
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

async fn days(State(s): State<GatewayState>, headers: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Response {
    s.count();
    if let Err(r) = s.require(&headers, Role::Operativo) {
        return r;
    }
    let mut year = None;
    for (k, v) in &q {
        match (k.as_str(), v.parse::<i32>()) {
            ("year", Ok(y)) if (1900..=9999).contains(&y) => year = Some(y),
            ("year", _) => {
                return s.data_error(DataError::BadRequest(format!(
                    "year must be a four-digit year, got {v:?}"
                )));
            }
            _ => {
                return s.data_error(DataError::BadRequest(format!(
                    "unknown parameter {k:?}: only year is accepted"
                )));
            }
        }
    }
    use chrono::Datelike;
    match s.inner.reader.days(s.inner.store.as_ref()).await {
        Ok(d) => {
            let d: Vec<NaiveDate> = d.into_iter().filter(|d| year.is_none_or(|y| d.year() == y)).collect();
            Json(serde_json::json!({"days": d, "latest": s.inner.hub.latest()})).into_response()
        }
        Err(e) => s.data_error(e),
    }
}

async fn latest(State(s): State<GatewayState>, headers: HeaderMap) -> Response {
    s.count();
    if let Err(r) = s.require(&headers, Role::Gerencial) {
        return r;
    }
    let record = match latest_published(s.inner.store.as_ref()).await {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no production day has been published yet"),
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("object store unavailable: {e}"),
            );
        }
    };
    s.inner.hub.set_latest(Some(record.production_date));
    match s
        .inner
        .reader
        .day(s.inner.store.as_ref(), record.production_date, &Filters::default())
        .await
    {
        Ok(view) => {
            let mut v = serde_json::to_value(&view).unwrap_or_default();
            v["record"] = serde_json::to_value(&record).unwrap_or_default();
            v["updated_at"] = serde_json::json!(record.completed_at);
            Json(v).into_response()
        }
        Err(e) => s.data_error(e),
    }
}

async fn production(
    State(s): State<GatewayState>,
    headers: HeaderMap,
    Path(date): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    s.count();
    if let Err(r) = s.require(&headers, Role::Operativo) {
        return r;
    }
    let (day, filters) = match data::parse_date(&date).and_then(|d| Ok((d, Filters::from_pairs(&q)?))) {
        Ok(x) => x,
        Err(e) => return s.data_error(e),
    };
    match s.inner.reader.day(s.inner.store.as_ref(), day, &filters).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => s.data_error(e),
    }
}

async fn export(
    State(s): State<GatewayState>,
    headers: HeaderMap,
    Path(date): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    s.count();
    if let Err(r) = s.require(&headers, Role::Operativo) {
        return r;
    }
    let (day, filters) = match data::parse_date(&date).and_then(|d| Ok((d, Filters::from_pairs(&q)?))) {
        Ok(x) => x,
        Err(e) => return s.data_error(e),
    };
    match s.inner.reader.day(s.inner.store.as_ref(), day, &filters).await {
        Ok(view) => match data::to_csv(&view.rows) {
            Ok(bytes) => {
                s.inner.metrics.exports.fetch_add(1, Ordering::Relaxed);
                let disposition = format!("attachment; filename=\"produccion_{day}.csv\"");
                let mut res = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response();
                if let Ok(v) = HeaderValue::from_str(&disposition) {
                    res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
                res
            }
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("could not write the CSV: {e}"),
            ),
        },
        Err(e) => s.data_error(e),
    }
}

async fn quarantine(State(s): State<GatewayState>, headers: HeaderMap, Path(date): Path<String>) -> Response {
    s.count();
    if let Err(r) = s.require(&headers, Role::Operativo) {
        return r;
    }
    let day = match data::parse_date(&date) {
        Ok(d) => d,
        Err(e) => return s.data_error(e),
    };
    match s.inner.reader.quarantine(s.inner.store.as_ref(), day).await {
        Ok(rows) => Json(serde_json::json!({"production_date": day, "rows": rows})).into_response(),
        Err(e) => s.data_error(e),
    }
}

/// `Origin` must be this gateway's own (same host) or explicitly allowed; absent (non-browser
/// clients) is accepted since credentials are still required.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// Initial read buffer of a dashboard's WebSocket, in bytes.
pub const WS_READ_BUFFER: usize = 4096;

async fn ws(State(s): State<GatewayState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    if !origin_allowed(&headers, &s.inner.config.allowed_origins) {
        s.inner.metrics.denied.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::FORBIDDEN, "origin not allowed");
    }
    if let Err(r) = s.require(&headers, Role::Gerencial) {
        return r;
    }
    let hub = s.inner.hub.clone();
    // Dashboards send nothing but control frames: a small read buffer (grown on demand for a larger
    // frame). The default, 128 KiB zero-filled on the first read, made each connection cost ~130 KiB
    // of RSS (1.3 GB for 10,000 dashboards, see bench/RESULTS.md).
    upgrade.read_buffer_size(WS_READ_BUFFER).on_upgrade(move |socket| async move {
        let (sink, stream) = socket.split();
        let sink = sink.with(|text: String| futures::future::ready(Ok::<_, axum::Error>(WsMessage::Text(text.into()))));
        let incoming =
            stream.take_while(|m| futures::future::ready(matches!(m, Ok(m) if !matches!(m, WsMessage::Close(_)))));
        let mut sink = Box::pin(sink);
        let ended = live::client_loop(&hub, &mut sink, Box::pin(incoming)).await;
        if ended == live::Ended::Dropped {
            let _ = tokio::time::timeout(Duration::from_millis(100), sink.close()).await;
        }
    })
}

/// Redirect helper for pages.
pub(crate) fn to_login(next: &str) -> Response {
    Redirect::to(&format!("/login?next={next}")).into_response()
}
