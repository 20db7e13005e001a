//! The gateway's router against a real local object store with real Parquet files: the data API,
//! filters, export, quarantine, bad input, roles, pages, OpenAPI and metrics.

mod common;

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use http_body_util::BodyExt;
use pinta_contracts::control::DayStatus;
use pinta_contracts::layout;
use pinta_dashboard_gateway::{GatewayConfig, GatewayState, app};
use pinta_platform::ports::ObjectStoreExt;
use tower::ServiceExt;

async fn call(state: &GatewayState, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (
        status,
        headers,
        res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

async fn get(state: &GatewayState, uri: &str) -> (StatusCode, serde_json::Value) {
    let (s, _, body) = call(state, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

async fn get_as(state: &GatewayState, uri: &str, token: &str) -> StatusCode {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    call(state, req).await.0
}

async fn login(state: &GatewayState, user: &str, password: &str) -> (StatusCode, serde_json::Value, Option<String>) {
    let body = serde_json::json!({"user": user, "password": password}).to_string();
    let req = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let (s, h, b) = call(state, req).await;
    let cookie = h.get(header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
    (s, serde_json::from_slice(&b).unwrap_or_default(), cookie)
}

#[tokio::test]
async fn latest_is_the_most_recent_published_day_with_its_rows_and_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let state = open_state(store.clone());
    let (status, body) = get(&state, "/api/production/latest").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    put_day(&store, day("2025-03-01"), &DAY1, true).await;
    put_day(&store, day("2025-03-02"), &DAY1[..2], false).await;
    // A held day is not "latest" even if later.
    let held = serde_json::to_vec(&record(day("2025-03-03"), DayStatus::Held)).unwrap();
    store
        .put_create(&layout::day_record_key(day("2025-03-03")), held.into())
        .await
        .unwrap();
    let (status, body) = get(&state, "/api/production/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["production_date"], "2025-03-02");
    assert_eq!(body["kpis"]["liters"], 350);
    assert_eq!(body["kpis"]["operators"], 2);
    assert_eq!(body["rows"].as_array().unwrap().len(), 2);
    assert!(body["updated_at"].is_string());
    let (status, body) = get(&state, "/healthz").await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
}

#[tokio::test]
async fn a_day_has_kpis_groups_and_options_and_filters_select_exactly_the_matching_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_day(&store, day("2025-03-01"), &DAY1, true).await;
    let state = open_state(store);
    let (s, v) = get(&state, "/api/production/2025-03-01").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["kpis"]["liters"], 695);
    assert_eq!(
        v["kpis"]["total_cost"],
        100.0 * 10.0 + 250.0 * 8.0 + 400.0 + 300.0 * 12.5 + 40.0
    );
    assert_eq!(
        (v["kpis"]["operators"].as_u64(), v["kpis"]["paint_types"].as_u64()),
        (Some(3), Some(3))
    );
    // Groups sorted by litres, descending.
    let ops: Vec<(&str, i64)> = v["by_operator"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["liters"].as_i64().unwrap()))
        .collect();
    assert_eq!(ops, vec![("Marta", 300), ("Luis", 290), ("Ana", 105)]);
    let paints: Vec<(&str, i64)> = v["by_paint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["liters"].as_i64().unwrap()))
        .collect();
    assert_eq!(paints, vec![("Acrílica", 300), ("Vinílica", 255), ("Esmalte", 140)]);
    assert_eq!(v["options"]["max_quantity"], 300);
    assert_eq!(v["rows"][0]["fecha"], "2025-03-01T08:00:00");

    // Filters: operator (repeatable), paint, min_qty; options still describe the whole day.
    let (s, v) = get(
        &state,
        "/api/production/2025-03-01?operator=Ana&operator=Luis&paint=Vin%C3%ADlica",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let q: Vec<i64> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cantidad"].as_i64().unwrap())
        .collect();
    assert_eq!(q, vec![250, 5]);
    assert_eq!(v["kpis"]["liters"], 255);
    assert_eq!(v["options"]["operators"].as_array().unwrap().len(), 3);
    let (_, v) = get(&state, "/api/production/2025-03-01?min_qty=100").await;
    let q: Vec<i64> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cantidad"].as_i64().unwrap())
        .collect();
    assert_eq!(q, vec![100, 250, 300]);
    let (_, v) = get(&state, "/api/production/2025-03-01?operator=Nadie").await;
    assert_eq!(v["rows"].as_array().unwrap().len(), 0);
    assert_eq!(v["kpis"]["liters"], 0);

    // Export: the same rows as CSV, header first.
    let (s, h, body) = call(
        &state,
        Request::get("/api/production/2025-03-01/export.csv?operator=Luis&min_qty=50")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Fecha de producción,Tipo de pintura producida,Cantidad producida,Costo por litro producido,Costo de la producción,Operador"
    );
    assert_eq!(lines[1..], ["2025-03-01 09:00:00,Vinílica,250,8,2000,Luis"]);
}

#[tokio::test]
async fn quarantine_lists_the_rows_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_day(&store, day("2025-03-01"), &DAY1, true).await;
    put_day(&store, day("2025-03-02"), &DAY1, false).await;
    let state = open_state(store);
    let (s, v) = get(&state, "/api/quarantine/2025-03-01").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["rows"][0]["line"], 7);
    assert_eq!(v["rows"][0]["reasons"], serde_json::json!(["negative_quantity"]));
    assert_eq!(v["rows"][0]["values"]["Cantidad producida"], "-3");
    let (s, v) = get(&state, "/api/quarantine/2025-03-02").await;
    assert_eq!((s, v["rows"].as_array().unwrap().len()), (StatusCode::OK, 0));
    let (s, _) = get(&state, "/api/quarantine/2025-03-09").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = get(&state, "/api/days").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["days"], serde_json::json!(["2025-03-01", "2025-03-02"]));
    let (_, v) = get(&state, "/api/days?year=2024").await;
    assert_eq!(v["days"], serde_json::json!([]));
}

#[tokio::test]
async fn bad_input_is_a_400_with_a_message_never_a_500() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_day(&store, day("2025-03-01"), &DAY1, true).await;
    let state = open_state(store);
    for uri in [
        "/api/production/2025-13-01",
        "/api/production/2025-3-1",
        "/api/production/..%2F..%2Fetc%2Fpasswd",
        "/api/production/..",
        "/api/production/2025-03-01?opertor=Ana",
        "/api/production/2025-03-01?min_qty=-5",
        "/api/production/2025-03-01?min_qty=mucho",
        "/api/production/2025-03-01/export.csv?color=rojo",
        "/api/production/..%2F_control/export.csv",
        "/api/quarantine/hoy",
        "/api/quarantine/%2E%2E%2F%2E%2E",
        "/api/days?year=dos-mil",
        "/api/days?foo=1",
    ] {
        let (s, v) = get(&state, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{uri}");
    }
    let (s, _) = get(&state, "/api/production/../../etc/passwd").await;
    assert!(s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST, "{s}");
    let (s, _) = get(&state, "/api/production/2024-01-01").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_gate_the_views_and_tokens_must_be_valid() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_day(&store, day("2025-03-01"), &DAY1, true).await;
    let state = auth_state(store);
    // Without credentials: 401 on the API, a redirect to the login page for pages.
    assert_eq!(get(&state, "/api/production/latest").await.0, StatusCode::UNAUTHORIZED);
    let (s, h, _) = call(&state, Request::get("/operativo").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/login?next=/operativo");
    // Bad password.
    assert_eq!(
        login(&state, "ana", "clave-equivocada").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, body, cookie) = login(&state, "ana", "clave-de-ana").await;
    assert_eq!(s, StatusCode::OK);
    let ana = body["token"].as_str().unwrap().to_owned();
    assert!(cookie.unwrap().contains("HttpOnly"));
    let (_, body, _) = login(&state, "luis", "clave-de-luis").await;
    let luis = body["token"].as_str().unwrap().to_owned();
    // gerencial: the latest day and the managers' page, nothing else.
    assert_eq!(get_as(&state, "/api/production/latest", &ana).await, StatusCode::OK);
    assert_eq!(get_as(&state, "/", &ana).await, StatusCode::OK);
    for uri in [
        "/api/production/2025-03-01",
        "/api/production/2025-03-01/export.csv",
        "/api/quarantine/2025-03-01",
        "/api/days",
        "/operativo",
    ] {
        assert_eq!(get_as(&state, uri, &ana).await, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(get_as(&state, uri, &luis).await, StatusCode::OK, "{uri}");
    }
    assert_eq!(get_as(&state, "/api/production/latest", &luis).await, StatusCode::OK);
    // The cookie works like the bearer token; a forged token does not.
    let req = Request::get("/api/days")
        .header(header::COOKIE, format!("other=1; pinta_session={luis}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&state, req).await.0, StatusCode::OK);
    let forged = format!("{}.{}", hex_encode("luis|operativo|99999999999"), "00".repeat(32));
    assert_eq!(get_as(&state, "/api/days", &forged).await, StatusCode::UNAUTHORIZED);
}

fn hex_encode(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn binding_beyond_loopback_without_users_is_refused() {
    let c = GatewayConfig::default();
    assert!(c.check_bind("127.0.0.1".parse::<IpAddr>().unwrap()).is_ok());
    assert!(c.check_bind("::1".parse::<IpAddr>().unwrap()).is_ok());
    let err = c.check_bind("0.0.0.0".parse::<IpAddr>().unwrap()).unwrap_err();
    assert!(err.to_string().contains("PINTA_USERS"), "{err}");
    let with_users = GatewayConfig {
        users: pinta_dashboard_gateway::auth::parse_users("ana:gerencial:clave-de-ana").unwrap(),
        ..GatewayConfig::default()
    };
    assert!(with_users.check_bind("0.0.0.0".parse::<IpAddr>().unwrap()).is_ok());
}

#[tokio::test]
async fn pages_openapi_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_day(&store, day("2025-03-01"), &DAY1, false).await;
    let state = open_state(store);
    for (uri, needle) in [
        ("/", "Producción del día"),
        ("/operativo", "Tablero operativo"),
        ("/assets/common.js", "es-MX"),
        ("/login", "Contraseña"),
    ] {
        let (s, _, body) = call(&state, Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert!(String::from_utf8_lossy(&body).contains(needle), "{uri}");
    }
    let (s, _, _) = call(
        &state,
        Request::get("/assets/..%2FCargo.toml").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = get(&state, "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["openapi"], "3.1.0");
    for p in [
        "/api/days",
        "/api/production/latest",
        "/api/production/{date}",
        "/api/production/{date}/export.csv",
        "/api/quarantine/{date}",
        "/healthz",
        "/metrics",
    ] {
        assert!(v["paths"][p].is_object(), "{p} undocumented");
    }
    get(&state, "/api/production/2025-03-01").await;
    get(&state, "/api/production/2025-03-01?min_qty=1").await;
    get(&state, "/api/production/nope").await;
    let (s, _, body) = call(&state, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    let metric = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing"))
            .parse()
            .unwrap()
    };
    assert_eq!(metric("pinta_gateway_bad_requests_total"), 1);
    assert_eq!(metric("pinta_gateway_cache_misses_total"), 1);
    assert_eq!(metric("pinta_gateway_cache_hits_total"), 1);
}

#[tokio::test]
async fn a_published_event_evicts_the_cached_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_day(&store, day("2025-03-01"), &DAY1, false).await;
    let state = open_state(store.clone());
    let (_, v) = get(&state, "/api/production/2025-03-01").await;
    assert_eq!(v["kpis"]["liters"], 695);
    // The day is reprocessed: a new curated file replaces the old one.
    store
        .put_opts(
            &layout::curated_key(day("2025-03-01")),
            curated_parquet(day("2025-03-01"), &DAY1[..1]).into(),
            pinta_platform::ports::PutOptions::overwrite(),
        )
        .await
        .unwrap();
    let (_, v) = get(&state, "/api/production/2025-03-01").await;
    assert_eq!(v["kpis"]["liters"], 695, "served from the cache until the event");
    state.published(day("2025-03-01"), false);
    let (_, v) = get(&state, "/api/production/2025-03-01").await;
    assert_eq!(v["kpis"]["liters"], 100);
}
