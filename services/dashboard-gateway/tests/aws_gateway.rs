//! The `pinta-gateway` binary as its own process against AWS protocols (`moto_server`): it serves the
//! latest day from the S3 bucket, and a `production.published.v1` published on the pipeline topic
//! reaches it through its own SQS queue (subscribed with a filter on `type`) and is pushed to an open
//! WebSocket client; SIGINT stops it cleanly.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use futures::StreamExt;
use pinta_contracts::events::{DayKpis, ObjectRef, ProductionPublishedV1};
use pinta_contracts::{Envelope, PintaEvent, layout};
use pinta_platform::aws::bootstrap::{BootstrapSpec, bootstrap};
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::{S3ObjectStore, SnsPublisher};
use pinta_platform::ports::{EventPublisher, ObjectStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

fn published(d: chrono::NaiveDate) -> Envelope {
    let obj = |key: String| ObjectRef { key, sha256: "0".repeat(64), size: 1 };
    let payload = ProductionPublishedV1 {
        production_date: d,
        curated: obj(layout::curated_key(d)),
        quarantine: None,
        raw: obj(layout::raw_key(d)),
        rows_in: 2,
        rows_curated: 2,
        rows_quarantined: 0,
        kpis: DayKpis { liters: 1, total_cost: 1.0, operators: 1, paint_types: 1, rows: 2 },
        backfill: false,
        revision: 1,
    };
    Envelope::wrap("/pinta/validator", &PintaEvent::ProductionPublishedV1(payload), &format!("test {d}"), Utc::now(), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_process_serves_s3_and_pushes_days_arriving_on_its_queue() {
    let moto = MotoServer::start().expect("moto_server must be installed (scripts/test installs it)");
    let sdk = moto.sdk_config().await;
    let spec = BootstrapSpec {
        prefix: "pinta-gw".into(),
        bucket: "pinta-gw-datos".into(),
        max_receive_count: 3,
        visibility_timeout: Duration::from_secs(30),
        path_style: true,
    };
    let res = bootstrap(&sdk, &spec).await.unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&sdk, &res.bucket, true));
    put_day(&store, day("2025-03-01"), &DAY1, false).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pinta-gateway"))
        .envs(moto.env())
        .envs(res.env_for("gateway"))
        .env("PINTA_BIND", "127.0.0.1")
        .env("PINTA_PORT", port.to_string())
        .env_remove("PINTA_USERS")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);

    let mut latest = None;
    for _ in 0..240 {
        if let Some((200, body)) = http_get(port, "/api/production/latest").await {
            latest = Some(serde_json::from_str::<serde_json::Value>(&body).unwrap());
            break;
        }
        assert!(child.0.try_wait().unwrap().is_none(), "the gateway exited early");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let latest = latest.expect("the gateway did not serve /api/production/latest");
    assert_eq!(latest["production_date"], "2025-03-01");
    assert_eq!(latest["rows"].as_array().unwrap().len(), DAY1.len());

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws")).await.unwrap();
    let mut next = async || loop {
        let m = tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("no message in 60 s").unwrap().unwrap();
        if let Message::Text(t) = m {
            break serde_json::from_str::<serde_json::Value>(&t).unwrap();
        }
    };
    assert_eq!(next().await["latest"], "2025-03-01");

    // A new day lands in S3 and its event goes out on the pipeline topic.
    put_day(&store, day("2025-03-02"), &DAY1[..2], false).await;
    SnsPublisher::new(&sdk, res.pipeline_topic_arn.clone()).publish(&published(day("2025-03-02"))).await.unwrap();
    let notice = next().await;
    assert_eq!(notice["latest"], "2025-03-02", "{notice}");
    let (status, body) = http_get(port, "/api/production/latest").await.unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["production_date"].as_str(), v["rows"].as_array().map(Vec::len)), (Some("2025-03-02"), Some(2)));

    // SIGINT: a clean stop.
    let pid = child.0.id();
    std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    let mut status = None;
    for _ in 0..120 {
        if let Some(s) = child.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = status.expect("no exit within 30 s of SIGINT");
    assert!(status.success(), "exit status {status}");
}

/// Kills the child if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
