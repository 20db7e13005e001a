//! The dashboard gateway's API over a seeded year processed by the real embedded pipeline, checked
//! against an independent reader of the curated Parquet (pyarrow): aggregates, filters, export,
//! quarantine, bad input, roles, and live notification of published days.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use pinta_contracts::layout;
use pinta_dashboard_gateway::{GatewayConfig, GatewayState};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain HTTP/1.1 request; returns status and body.
async fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status: u16 = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (s, b) = http(addr, "GET", path, None, "").await;
    assert_eq!(s, 200, "{path}: {b}");
    serde_json::from_str(&b).unwrap()
}

async fn serve(state: GatewayState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(pinta_dashboard_gateway::serve(listener, state, std::future::pending()));
    addr
}

/// pyarrow: rows and litres of a curated file after the same filters the API applies.
fn pyarrow_filtered(file: &PathBuf, operators: &[&str], min_qty: i64) -> (u64, i64, f64) {
    let script = r#"
import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1]).to_pylist()
ops = set(json.loads(sys.argv[2])); m = int(sys.argv[3])
keep = [r for r in t if (not ops or r["Operador"] in ops) and (r["Cantidad producida"] or 0) >= m]
print(json.dumps([len(keep), sum(r["Cantidad producida"] or 0 for r in keep), sum(r["Costo de la producción"] or 0 for r in keep)]))
"#;
    let out = std::process::Command::new(python())
        .args([
            "-c",
            script,
            file.to_str().unwrap(),
            &serde_json::to_string(operators).unwrap(),
            &min_qty.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_a_seeded_year_agrees_with_an_independent_reader() {
    let dir = tempfile::tempdir().unwrap();
    let app = seeded_app(dir.path(), &params(365, 12, 0.05)).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let _runners = app.start(&shutdown);
    let days = extract_all(&app).await;
    assert_eq!(days.len(), 365);

    let state = GatewayState::new(app.store.clone(), GatewayConfig::default());
    // Live notifications come from the gateway's own queue on the bus.
    let follower = {
        let (events, state, token) = (app.gateway_events.clone(), state.clone(), shutdown.clone());
        tokio::spawn(async move {
            pinta_dashboard_gateway::live::follow_events(events, state, async move { token.cancelled().await }).await
        })
    };
    let addr = serve(state.clone()).await;

    let listed: Vec<NaiveDate> = serde_json::from_value(get_json(addr, "/api/days").await["days"].clone()).unwrap();
    let curated: Vec<PathBuf> = listed
        .iter()
        .map(|d| dir.path().join(layout::curated_key(*d)))
        .collect();
    assert!(
        listed.len() >= 300,
        "most days should be published, got {}",
        listed.len()
    );
    let reference = read_parquet(&curated);

    // Every day's KPIs equal pyarrow/pandas sums over the same file.
    for (day, file) in listed.iter().zip(&curated) {
        let v = get_json(addr, &format!("/api/production/{day}")).await;
        let r = &reference[file.to_str().unwrap()];
        assert_eq!(v["kpis"]["rows"], r["rows"], "{day}");
        assert_eq!(v["kpis"]["liters"], r["liters"], "{day}");
        assert!(
            (v["kpis"]["total_cost"].as_f64().unwrap() - r["cost"].as_f64().unwrap()).abs() < 1e-6,
            "{day}"
        );
        let by_op: i64 = v["by_operator"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["liters"].as_i64().unwrap())
            .sum();
        let by_paint: i64 = v["by_paint"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["liters"].as_i64().unwrap())
            .sum();
        assert_eq!(
            (by_op, by_paint),
            (r["liters"].as_i64().unwrap(), r["liters"].as_i64().unwrap()),
            "{day}"
        );
    }

    // The latest published day is the last day; the hub learnt it from the bus.
    let last = *listed.last().unwrap();
    let latest = get_json(addr, "/api/production/latest").await;
    assert_eq!(latest["production_date"], last.to_string());
    let mut waited = 0;
    while state.hub().latest() != Some(last) {
        assert!(
            waited < 600,
            "the gateway never received production.published.v1 for {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }

    // Filters and export select exactly the rows pyarrow selects.
    let day = listed[listed.len() / 2];
    let file = dir.path().join(layout::curated_key(day));
    let full = get_json(addr, &format!("/api/production/{day}")).await;
    let ops: Vec<&str> = full["options"]["operators"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|o| o.as_str().unwrap())
        .collect();
    let min = full["options"]["max_quantity"].as_i64().unwrap() / 4;
    let query = format!("operator={}&operator={}&min_qty={min}", enc(ops[0]), enc(ops[1]));
    let v = get_json(addr, &format!("/api/production/{day}?{query}")).await;
    let (rows, liters, cost) = pyarrow_filtered(&file, &ops, min);
    assert_eq!(v["rows"].as_array().unwrap().len() as u64, rows);
    assert_eq!(v["kpis"]["liters"].as_i64().unwrap(), liters);
    assert!((v["kpis"]["total_cost"].as_f64().unwrap() - cost).abs() < 1e-6);
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| ops.contains(&r["operador"].as_str().unwrap()) && r["cantidad"].as_i64().unwrap() >= min)
    );
    let (s, csv) = http(
        addr,
        "GET",
        &format!("/api/production/{day}/export.csv?{query}"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 200);
    // Names in the seed hold no commas or quotes, so plain splitting reads this CSV.
    let records: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(records.len() as u64, rows);
    let csv_liters: i64 = records.iter().map(|r| r[2].parse::<i64>().unwrap()).sum();
    assert_eq!(csv_liters, liters);
    assert!(records.iter().all(|r| r.len() == 6 && ops.contains(&r[5])));

    // Quarantined rows: the same lines and reasons pyarrow reads.
    let qday = listed
        .iter()
        .copied()
        .find(|d| dir.path().join(layout::quarantine_key(*d)).exists())
        .expect("some day has quarantined rows");
    let qfile = dir.path().join(layout::quarantine_key(qday));
    let expected = read_parquet(std::slice::from_ref(&qfile));
    let v = get_json(addr, &format!("/api/quarantine/{qday}")).await;
    let got: Vec<serde_json::Value> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::json!([
                r["line"],
                r["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            ])
        })
        .collect();
    assert_eq!(
        serde_json::Value::Array(got),
        expected[qfile.to_str().unwrap()]["quarantine"]
    );

    // Bad input: 400 with a message, never a 500, never a file outside the layout.
    for bad in [
        "/api/production/2025-02-30",
        "/api/production/..%2F..%2Fetc%2Fpasswd",
        "/api/production/2025-01-01?colour=red",
        "/api/production/2025-01-01?min_qty=-1",
        "/api/quarantine/%2E%2E",
        "/api/production/_control%2Fdays/export.csv",
    ] {
        let (s, b) = http(addr, "GET", bad, None, "").await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert!(b.contains("error"), "{bad}");
    }
    shutdown.cancel();
    let _ = follower.await;
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gerencial_token_cannot_read_history_or_export() {
    let dir = tempfile::tempdir().unwrap();
    let app = seeded_app(dir.path(), &params(5, 10, 0.0)).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let _runners = app.start(&shutdown);
    let days = extract_all(&app).await;
    let config = GatewayConfig {
        users: pinta_dashboard_gateway::auth::parse_users("ana:gerencial:clave-de-ana,luis:operativo:clave-de-luis")
            .unwrap(),
        ..GatewayConfig::default()
    };
    assert!(config.check_bind("0.0.0.0".parse().unwrap()).is_ok());
    let addr = serve(GatewayState::new(app.store.clone(), config)).await;
    let token = |body: String| {
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (s, b) = http(
        addr,
        "POST",
        "/api/login",
        None,
        r#"{"user":"ana","password":"clave-de-ana"}"#,
    )
    .await;
    assert_eq!(s, 200);
    let ana = token(b);
    let (_, b) = http(
        addr,
        "POST",
        "/api/login",
        None,
        r#"{"user":"luis","password":"clave-de-luis"}"#,
    )
    .await;
    let luis = token(b);
    let day = days[0];
    assert_eq!(http(addr, "GET", "/api/production/latest", Some(&ana), "").await.0, 200);
    for path in [
        format!("/api/production/{day}"),
        format!("/api/production/{day}/export.csv"),
        "/api/days".into(),
        format!("/api/quarantine/{day}"),
    ] {
        assert_eq!(http(addr, "GET", &path, Some(&ana), "").await.0, 403, "{path}");
        assert_eq!(http(addr, "GET", &path, Some(&luis), "").await.0, 200, "{path}");
        assert_eq!(http(addr, "GET", &path, None, "").await.0, 401, "{path}");
    }
    shutdown.cancel();
}
