//! Memory of open dashboards: each WebSocket connection must stay small, since one gateway holds
//! thousands of them. Alone in its test binary because it reads the process's RSS (`/proc`), which
//! tests running in parallel would disturb.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use pinta_dashboard_gateway::serve;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Before the gateway set its read buffer, each connection's first read zero-filled tungstenite's
/// default 128 KiB buffer: ~130 KiB of RSS per dashboard. The bound here (48 KiB per connection,
/// gateway and client side together, in one process) separates the two with room for allocator noise.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_dashboard_connection_costs_little_memory() {
    const CLIENTS: u64 = 500;
    let dir = tempfile::tempdir().unwrap();
    let state = open_state(store(dir.path()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, state.clone(), std::future::pending()));
    // One connection first, so one-off allocations (runtime, router, hub) are not counted.
    let warm = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.unwrap().0;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = vm_rss_kib().expect("VmRSS in /proc/self/status");
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The client side's own buffers small too: it shares this process's RSS.
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let (mut c, _) =
            tokio_tungstenite::client_async_with_config(format!("ws://{addr}/ws"), stream, Some(config)).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(30), c.next()).await.unwrap().unwrap().unwrap();
        assert!(matches!(first, Message::Text(_)), "snapshot first: {first:?}");
        clients.push(c);
    }
    let after = vm_rss_kib().expect("VmRSS in /proc/self/status");
    let per_connection = after.saturating_sub(before) / CLIENTS;
    assert!(
        per_connection < 48,
        "{per_connection} KiB of RSS per open dashboard (before {before} KiB, after {after} KiB for {CLIENTS})"
    );
    assert_eq!(state.hub().connected.load(std::sync::atomic::Ordering::Relaxed), CLIENTS + 1);
    drop(warm);
}
