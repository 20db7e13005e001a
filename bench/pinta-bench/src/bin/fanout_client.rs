//! The client side of the WebSocket fan-out benchmark (bench/workload_fanout.py).
//!
//! Opens `--clients` WebSocket connections to the gateway's `/ws` on loopback (spread over the
//! `--sources` loopback addresses so ephemeral ports do not run short), waits for each one's snapshot
//! (it is then subscribed), prints `{"ready": …}` and records, for every reading client, the
//! CLOCK_REALTIME instant at which each `published` notice arrived (stamped as the frame is read,
//! before parsing). `--slow` of the clients (spread evenly) read their snapshot and then stop reading,
//! with a minimal receive buffer; once the readers are done they drain what they can, which shows
//! whether the gateway kept or dropped them. A reader stops reading after `--events` notices (or when its
//! connection ends) but keeps its connection open; when a line arrives on stdin (or `--timeout-s` after
//! ready) the slow readers drain and the client prints one JSON document with the raw receive instants.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::StreamExt;
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn realtime_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

async fn connect(server: SocketAddr, source: IpAddr, slow: bool) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    if slow {
        // The kernel doubles it and applies its minimum; a slow mobile client, not a 6 MB window.
        socket.set_recv_buffer_size(4096)?;
    }
    socket.bind(SocketAddr::new(source, 0)).context("binding a source address")?;
    let stream = socket.connect(server).await.context("connecting")?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(format!("ws://{server}/ws"), stream, Some(config))
        .await
        .context("WebSocket handshake")?;
    Ok(ws)
}

/// The next text frame, with the instant it was read.
async fn next_text(ws: &mut Ws) -> Option<(u64, String)> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Some((realtime_ns(), t.to_string())),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

fn published_date(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    (v["type"] == "published").then(|| v["date"].as_str().map(str::to_owned)).flatten()
}

#[derive(Default)]
struct Outcome {
    connected: bool,
    slow: bool,
    /// (date, realtime ns) of each `published` notice read.
    received: Vec<(String, u64)>,
    /// The connection ended (closed by the gateway, or failed) before the client stopped.
    ended: bool,
    error: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let server: SocketAddr = arg(&args, "--addr").context("--addr")?.parse().context("--addr")?;
    let clients: usize = arg(&args, "--clients").context("--clients")?.parse()?;
    let slow: usize = arg(&args, "--slow").map(|s| s.parse()).transpose()?.unwrap_or(0);
    let events: usize = arg(&args, "--events").context("--events")?.parse()?;
    let timeout = Duration::from_secs_f64(arg(&args, "--timeout-s").map(|s| s.parse()).transpose()?.unwrap_or(60.0));
    let parallel: usize = arg(&args, "--connect-parallel").map(|s| s.parse()).transpose()?.unwrap_or(64);
    let sources: Vec<IpAddr> = arg(&args, "--sources")
        .unwrap_or_else(|| "127.0.0.1".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("--sources")?;
    anyhow::ensure!(!sources.is_empty(), "--sources: at least one address");
    // Slow readers spread evenly: client i is slow when i * slow / clients crosses an integer.
    let is_slow = |i: usize| slow > 0 && (i + 1) * slow / clients != i * slow / clients;

    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let connected = Arc::new(AtomicUsize::new(0));
    let settled = Arc::new(AtomicUsize::new(0));
    let (drain_tx, drain_rx) = watch::channel(false);
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let (gate, connected, settled, mut drain_rx) = (gate.clone(), connected.clone(), settled.clone(), drain_rx.clone());
        let source = sources[i % sources.len()];
        let slow = is_slow(i);
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome { slow, ..Outcome::default() };
            let ws = {
                let _permit = gate.acquire().await;
                match connect(server, source, slow).await {
                    Ok(mut ws) => match next_text(&mut ws).await {
                        Some(_snapshot) => Some(ws),
                        None => {
                            out.error = Some("no snapshot".into());
                            None
                        }
                    },
                    Err(e) => {
                        out.error = Some(format!("{e:#}"));
                        None
                    }
                }
            };
            settled.fetch_add(1, Ordering::Relaxed);
            let Some(mut ws) = ws else { return out };
            out.connected = true;
            connected.fetch_add(1, Ordering::Relaxed);
            if slow {
                // Not reading: wait until the readers are done, then see what is left for us.
                while !*drain_rx.borrow() {
                    if drain_rx.changed().await.is_err() {
                        break;
                    }
                }
                loop {
                    match tokio::time::timeout(Duration::from_secs(2), next_text(&mut ws)).await {
                        Ok(Some((t, text))) => {
                            if let Some(d) = published_date(&text) {
                                out.received.push((d, t));
                            }
                        }
                        Ok(None) => {
                            out.ended = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                return out;
            }
            while out.received.len() < events {
                let next = tokio::select! {
                    n = next_text(&mut ws) => n,
                    // Told to stop before `--events` notices came (e.g. the publisher stopped early).
                    _ = drain_rx.wait_for(|drain| *drain) => break,
                };
                match next {
                    Some((t, text)) => {
                        if let Some(d) = published_date(&text) {
                            out.received.push((d, t));
                        }
                    }
                    None => {
                        out.ended = true;
                        break;
                    }
                }
            }
            // Keep the connection open (a closing client would change the gateway's work) until all
            // readers are done.
            while !*drain_rx.borrow() {
                if drain_rx.changed().await.is_err() {
                    break;
                }
            }
            out
        }));
    }
    while settled.load(Ordering::Relaxed) < clients {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = t0.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"ready": connected.load(Ordering::Relaxed), "failed": clients - connected.load(Ordering::Relaxed),
                           "connect_s": connect_s})
    );

    // The benchmark publishes its notices, waits, then writes a line (or closes our stdin): the slow
    // readers then drain and everyone reports.
    let deadline = Instant::now() + timeout;
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = String::new();
    let _ = tokio::time::timeout(timeout, tokio::io::AsyncBufReadExt::read_line(&mut stdin, &mut line)).await;
    let _ = drain_tx.send(true);
    let mut outcomes = Vec::with_capacity(clients);
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(10);
        match tokio::time::timeout(left, t).await {
            Ok(Ok(o)) => outcomes.push(o),
            _ => outcomes.push(Outcome { error: Some("did not finish".into()), ..Outcome::default() }),
        }
    }

    let mut by_date: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut slow_by_date: BTreeMap<String, usize> = BTreeMap::new();
    let (mut readers, mut slow_n, mut slow_ended, mut readers_ended, mut slow_notices) = (0, 0, 0, 0, 0);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        if let Some(e) = &o.error {
            *errors.entry(e.clone()).or_default() += 1;
        }
        if !o.connected {
            continue;
        }
        if o.slow {
            slow_n += 1;
            slow_ended += usize::from(o.ended);
            slow_notices += o.received.len();
            for (d, _) in &o.received {
                *slow_by_date.entry(d.clone()).or_default() += 1;
            }
        } else {
            readers += 1;
            readers_ended += usize::from(o.ended);
            for (d, t) in &o.received {
                by_date.entry(d.clone()).or_default().push(*t);
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "connect_s": connect_s,
            "readers": readers,
            "readers_ended": readers_ended,
            "received_ns": by_date,
            "slow": slow_n,
            "slow_ended": slow_ended,
            "slow_notices_drained": slow_notices,
            "slow_by_date": slow_by_date,
            "errors": errors,
        })
    );
    Ok(())
}
