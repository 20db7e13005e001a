//! The freshness benchmark's probe (bench/workload_freshness.py): how long from the moment the
//! extractor is triggered for a new day to the moment a dashboard's WebSocket receives "new production
//! available" for that day.
//!
//! Its stdin is the stdout of a running `pinta up --demo-every …` (embedded or `--aws`), piped
//! directly. `pinta up` prints `pinta: demo: new production day D (…)` after writing the day's rows
//! to the source and immediately before calling the extractor for D; the probe stamps that line as
//! it reads it (so the figure leaves out the microseconds the line spends in the pipe). It connects
//! to the gateway's `/ws` as soon as `pinta up` announces the dashboards, and stamps each `published`
//! notice for a triggered day. Both instants are on this process's monotonic clock.
//!
//! Usage: `freshness --ws 127.0.0.1:PORT --days N [--timeout-s S]`. Every input line is copied to
//! stderr. Prints one JSON document once N days are measured (or at the timeout), then keeps reading
//! stdin until it ends, so `pinta up` never writes into a closed pipe.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

enum Seen {
    Dashboards,
    UpToDate(Instant),
    Trigger(String, Instant),
    Notice(String, Instant),
    WsConnected(Instant),
    WsEnded(String),
    /// `pinta up`'s output ended (it exited).
    InputEnded,
}

async fn watch_ws(addr: SocketAddr, tx: mpsc::UnboundedSender<Seen>) {
    let url = format!("ws://{addr}/ws");
    let started = Instant::now();
    let mut ws = loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => break ws,
            Err(e) if started.elapsed() > Duration::from_secs(30) => {
                let _ = tx.send(Seen::WsEnded(format!("could not connect: {e}")));
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let mut first = true;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let at = Instant::now();
                if first {
                    // The snapshot: from now on this client is subscribed.
                    first = false;
                    let _ = tx.send(Seen::WsConnected(at));
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                if v["type"] == "published" {
                    if let Some(d) = v["date"].as_str() {
                        let _ = tx.send(Seen::Notice(d.to_owned(), at));
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                let _ = tx.send(Seen::WsEnded(e.to_string()));
                return;
            }
            None => {
                let _ = tx.send(Seen::WsEnded("closed".into()));
                return;
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = arg(&args, "--ws").context("--ws")?.parse().context("--ws")?;
    let days: usize = arg(&args, "--days").context("--days")?.parse()?;
    let timeout = Duration::from_secs_f64(arg(&args, "--timeout-s").map(|s| s.parse()).transpose()?.unwrap_or(600.0));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let at = Instant::now();
                if let Some(rest) = line.strip_prefix("pinta: demo: new production day ") {
                    if let Some(day) = rest.split_whitespace().next() {
                        let _ = tx.send(Seen::Trigger(day.to_owned(), at));
                    }
                } else if line.contains("dashboards on http://") {
                    let _ = tx.send(Seen::Dashboards);
                } else if line.contains("up to date") {
                    let _ = tx.send(Seen::UpToDate(at));
                }
                eprintln!("{line}");
            }
            let _ = tx.send(Seen::InputEnded);
        })
    };

    let t0 = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut triggers: BTreeMap<String, Instant> = BTreeMap::new();
    let mut notices: BTreeMap<String, Instant> = BTreeMap::new();
    let mut ws_connected = None;
    let mut ws_ended = None;
    let mut up_to_date = None;
    let mut input_ended = false;
    let measured = |t: &BTreeMap<String, Instant>, n: &BTreeMap<String, Instant>| {
        t.keys().filter(|d| n.get(*d).is_some_and(|at| *at >= t[*d])).count()
    };
    while measured(&triggers, &notices) < days {
        let seen = tokio::select! {
            s = rx.recv() => match s { Some(s) => s, None => break },
            _ = tokio::time::sleep_until(deadline) => break,
        };
        match seen {
            Seen::Dashboards => {
                tokio::spawn(watch_ws(addr, tx.clone()));
            }
            Seen::UpToDate(at) => up_to_date = Some(at.duration_since(t0).as_secs_f64()),
            Seen::WsConnected(at) => ws_connected = Some(at.duration_since(t0).as_secs_f64()),
            Seen::WsEnded(why) => ws_ended = Some(why),
            Seen::InputEnded => {
                input_ended = true;
                break;
            }
            // Only notices after the client subscribed and for triggered days count; a day published
            // again later (not expected) keeps its first notice.
            Seen::Trigger(d, at) => {
                triggers.entry(d).or_insert(at);
            }
            Seen::Notice(d, at) => {
                notices.entry(d).or_insert(at);
            }
        }
    }
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (d, t) in &triggers {
        match notices.get(d) {
            Some(n) if n >= t => out.push(serde_json::json!({"date": d, "latency_s": n.duration_since(*t).as_secs_f64()})),
            _ => missing.push(d.clone()),
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "days": out,
            "triggered_without_notice": missing,
            "ws_connected_s": ws_connected,
            "up_to_date_s": up_to_date,
            "ws_ended": ws_ended,
            "pinta_up_exited": input_ended,
            "elapsed_s": t0.elapsed().as_secs_f64(),
        })
    );
    // Keep draining `pinta up`'s output until it exits.
    if !input_ended {
        let _ = reader.await;
    }
    Ok(())
}
