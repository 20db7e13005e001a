//! Live push over real WebSockets: a served gateway and `tokio-tungstenite` clients.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use pinta_dashboard_gateway::{GatewayState, serve};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Client = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(state: GatewayState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, state, std::future::pending()));
    addr
}

async fn connect(addr: SocketAddr) -> Client {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap()
        .0
}

/// The next JSON text frame (bounded wait so a broken push fails instead of hanging).
async fn next_json(c: &mut Client) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), c.next())
            .await
            .expect("no message within 30 s")
            .expect("stream ended")
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn a_client_gets_the_latest_day_on_connect_and_each_published_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    put_day(&store, day("2025-03-01"), &DAY1, false).await;
    let state = open_state(store);
    let addr = start(state.clone()).await;
    let mut c = connect(addr).await;
    let hello = next_json(&mut c).await;
    assert_eq!(
        (hello["type"].as_str(), hello["latest"].as_str()),
        (Some("snapshot"), Some("2025-03-01"))
    );
    state.published(day("2025-03-02"), false);
    let n = next_json(&mut c).await;
    assert_eq!(
        (n["type"].as_str(), n["date"].as_str(), n["latest"].as_str()),
        (Some("published"), Some("2025-03-02"), Some("2025-03-02"))
    );
    // An older day reprocessed does not move "latest" back.
    state.published(day("2025-02-10"), false);
    let n = next_json(&mut c).await;
    assert_eq!(
        (n["date"].as_str(), n["latest"].as_str()),
        (Some("2025-02-10"), Some("2025-03-02"))
    );
}

#[tokio::test]
async fn a_thousand_clients_all_receive_the_notification() {
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(store(dir.path()));
    let addr = start(state.clone()).await;
    let mut clients = Vec::new();
    for _ in 0..1000 {
        let mut c = connect(addr).await;
        assert_eq!(next_json(&mut c).await["type"], "snapshot");
        clients.push(c);
    }
    state.published(day("2025-03-05"), false);
    let received = futures::future::join_all(clients.iter_mut().map(|c| async move { next_json(c).await })).await;
    assert_eq!(received.len(), 1000);
    assert!(received.iter().all(|n| n["date"] == "2025-03-05"));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_while_the_others_keep_receiving() {
    let dir = tempfile::tempdir().unwrap();
    let config = pinta_dashboard_gateway::GatewayConfig { stall_timeout: Duration::from_millis(300), ..Default::default() };
    let state = GatewayState::new(store(dir.path()), config);
    let addr = start(state.clone()).await;
    let _stalled = connect(addr).await; // never read again
    let mut good = connect(addr).await;
    next_json(&mut good).await;
    let hub = state.hub().clone();
    let mut sent = 0u32;
    // Publish in small batches, each fully received by the good client, until the stalled one's
    // socket buffers and queue fill up and the gateway drops it.
    while hub.dropped.load(Ordering::Relaxed) == 0 {
        assert!(sent < 2_000_000, "the stalled client was never dropped");
        for _ in 0..16 {
            sent += 1;
            let d = day("2025-01-01") + chrono::Duration::days(i64::from(sent % 300));
            state.published(d, false);
        }
        for _ in 0..16 {
            assert_eq!(next_json(&mut good).await["type"], "published");
        }
    }
    state.published(day("2026-01-01"), false);
    let n = next_json(&mut good).await;
    assert_eq!(n["date"], "2026-01-01");
    assert_eq!(hub.connected.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn backfilled_days_arrive_as_one_notification() {
    let dir = tempfile::tempdir().unwrap();
    let state = GatewayState::new(
        store(dir.path()),
        pinta_dashboard_gateway::GatewayConfig {
            backfill_debounce: Duration::from_millis(300),
            ..Default::default()
        },
    );
    let addr = start(state.clone()).await;
    let mut c = connect(addr).await;
    next_json(&mut c).await;
    state.published(day("2025-03-01"), false);
    for d in 1..=28 {
        state.published(day(&format!("2024-02-{d:02}")), true);
    }
    let live = next_json(&mut c).await;
    assert_eq!(live["date"], "2025-03-01");
    let n = next_json(&mut c).await;
    assert_eq!(
        (n["date"].as_str(), n["latest"].as_str()),
        (Some("2024-02-28"), Some("2025-03-01"))
    );
    // Nothing else follows: the next frame is the one we cause.
    state.published(day("2025-03-02"), false);
    assert_eq!(next_json(&mut c).await["date"], "2025-03-02");
}

#[tokio::test]
async fn the_upgrade_checks_origin_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let state = auth_state(store(dir.path()));
    let addr = start(state.clone()).await;
    // No credentials.
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let token = {
        let c = reqwest_like_login(addr).await;
        c["token"].as_str().unwrap().to_owned()
    };
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    req.headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    req.headers_mut()
        .insert("Origin", format!("http://{addr}").parse().unwrap());
    let (mut c, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next_json(&mut c).await["type"], "snapshot");
    c.send(Message::Close(None)).await.unwrap();
}

/// Logs in over plain HTTP/1.1 on a TCP socket.
async fn reqwest_like_login(addr: SocketAddr) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"user":"ana","password":"clave-de-ana"}"#;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let json = out.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(json).unwrap()
}
