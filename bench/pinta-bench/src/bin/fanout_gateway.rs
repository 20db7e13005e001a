//! The gateway side of the WebSocket fan-out benchmark (bench/workload_fanout.py).
//!
//! Serves the dashboard gateway exactly as `pinta up` wires it — `GatewayState` + `start()` over a
//! local object store and the in-process bus, its queue subscribed to `production.published.v1` — with
//! no pipeline around it, so its RSS is the gateway's own. The benchmark drives it through stdin, one
//! command a line:
//!
//! * `publish` publishes the next day's `production.published.v1` on the bus (the event the validator
//!   emits) and prints `{"published": "<day>", "t_ns": <CLOCK_REALTIME ns just before publishing>}`;
//! * `stats` prints `{"connected": …, "dropped": …, "notices": …}` from the live hub;
//! * `flood MAX` publishes up to MAX more days, 10 every 2 ms, until the hub drops a client, and prints
//!   `{"flood": <days published>, "dropped": …}` (how much a client that stopped reading absorbs).
//!
//! Usage: `fanout-gateway --port PORT --dir EMPTY_DIR [--queue N]` (prints `{"listening": PORT}` once
//! it accepts connections; stdin closed = stop).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use pinta_contracts::events::{DayKpis, ObjectRef, ProductionPublishedV1};
use pinta_contracts::{Envelope, EventType, PintaEvent, layout};
use pinta_dashboard_gateway::{GatewayConfig, GatewayState};
use pinta_platform::embedded::{InProcessBus, LocalObjectStore};
use pinta_platform::ports::{EventPublisher, EventReceiver, ObjectStore};
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn realtime_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The event the validator publishes for `day` (object references are placeholders: the gateway
/// only reads the date and the backfill flag from it).
fn published(day: NaiveDate) -> Envelope {
    let obj = |key: String| ObjectRef { key, sha256: "0".repeat(64), size: 1 };
    let payload = ProductionPublishedV1 {
        production_date: day,
        curated: obj(layout::curated_key(day)),
        quarantine: None,
        raw: obj(layout::raw_key(day)),
        rows_in: 40,
        rows_curated: 40,
        rows_quarantined: 0,
        kpis: DayKpis { liters: 1, total_cost: 1.0, operators: 1, paint_types: 1, rows: 40 },
        revision: 1,
        backfill: false,
    };
    let event = PintaEvent::ProductionPublishedV1(payload);
    Envelope::wrap("/pinta/validator", &event, &format!("fanout {day}"), Utc::now(), None)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, "--port").context("--port")?.parse().context("--port")?;
    let dir = arg(&args, "--dir").context("--dir")?;
    let mut config = GatewayConfig::default();
    if let Some(q) = arg(&args, "--queue") {
        config.client_queue = q.parse().context("--queue")?;
    }
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir));
    let bus = InProcessBus::new();
    let events: Arc<dyn EventReceiver> =
        bus.subscribe("dashboard-gateway", &[EventType::ProductionPublishedV1], Duration::from_secs(30));
    let state = GatewayState::new(store, config);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.context("binding")?;
    let shutdown = CancellationToken::new();
    let tasks = pinta_dashboard_gateway::start(listener, state.clone(), events, shutdown.clone()).await?;
    println!("{}", serde_json::json!({"listening": port}));

    let mut day = NaiveDate::from_ymd_opt(2026, 1, 1).context("date")?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match line.trim() {
            "publish" => {
                let event = published(day);
                let t_ns = realtime_ns();
                bus.publish(&event).await?;
                println!("{}", serde_json::json!({"published": day.to_string(), "t_ns": t_ns.to_string()}));
                day = day.succ_opt().context("date")?;
            }
            "stats" => {
                let hub = state.hub();
                println!(
                    "{}",
                    serde_json::json!({
                        "connected": hub.connected.load(Ordering::Relaxed),
                        "dropped": hub.dropped.load(Ordering::Relaxed),
                        "notices": hub.notices.load(Ordering::Relaxed),
                    })
                );
            }
            cmd if cmd.starts_with("flood ") => {
                let max: u64 = cmd["flood ".len()..].trim().parse().context("flood MAX")?;
                let hub = state.hub().clone();
                let dropped = hub.dropped.load(Ordering::Relaxed);
                let mut sent = 0;
                while sent < max && hub.dropped.load(Ordering::Relaxed) == dropped {
                    for _ in 0..10 {
                        bus.publish(&published(day)).await?;
                        day = day.succ_opt().context("date")?;
                        sent += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                // Let the last notices through before counting.
                tokio::time::sleep(Duration::from_millis(500)).await;
                println!("{}", serde_json::json!({"flood": sent, "dropped": hub.dropped.load(Ordering::Relaxed) - dropped}));
            }
            "" => {}
            other => eprintln!("fanout-gateway: unknown command {other:?}"),
        }
    }
    shutdown.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    Ok(())
}
