//! `pinta quarantine release` end to end on the embedded adapters: a day runs with an operator missing
//! from the catalogue (its rows are quarantined as UNKNOWN_OPERATOR); the operator is added back; a
//! release of some of those rows moves them to curated (read back with pyarrow/pandas) as a new
//! revision, keeps the previous version, records the release and republishes the day; repeating the
//! same release changes nothing; releasing the rest with the `pinta` binary empties the quarantine.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pinta_cli::quarantine::{self, ReleaseRequest, ReleaseResult};
use pinta_cli::seed;
use pinta_contracts::control::DayStatus;
use pinta_contracts::{Envelope, EventType, PintaEvent, layout, sha256_hex};
use pinta_platform::ports::{EventReceiver, ObjectStoreExt};
use pinta_validator::{RuleSet, Selection};
use tokio_util::sync::CancellationToken;

use support::*;

/// Every event waiting on a tap queue.
async fn drain(q: &pinta_platform::embedded::InProcessQueue) -> Vec<PintaEvent> {
    let mut out = Vec::new();
    loop {
        let batch = q.receive(100, Duration::from_millis(50)).await.expect("receive");
        if batch.is_empty() {
            return out;
        }
        for m in batch {
            q.ack(&m).await.expect("ack");
            out.push(Envelope::from_json(&m.body).and_then(|e| e.decode()).expect("a known event"));
        }
    }
}

/// `(line, reasons)` of the quarantine file and the curated rows per operator, as pyarrow/pandas see them.
fn read_day(dir: &std::path::Path, day: chrono::NaiveDate) -> (Vec<(u64, String)>, BTreeMap<String, u64>, u64) {
    let curated = dir.join(layout::curated_key(day));
    let quarantine = dir.join(layout::quarantine_key(day));
    let mut files = vec![curated.clone()];
    if quarantine.exists() {
        files.push(quarantine.clone());
    }
    let out = read_parquet(&files);
    let c = &out[curated.display().to_string().as_str()];
    let per_operator: BTreeMap<String, u64> = c["operator_rows"]
        .as_object()
        .expect("operator counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect();
    let q = if quarantine.exists() {
        out[quarantine.display().to_string().as_str()]["quarantine"]
            .as_array()
            .expect("quarantine rows")
            .iter()
            .map(|r| (r[0].as_u64().expect("line"), r[1].as_str().expect("reasons").to_owned()))
            .collect()
    } else {
        Vec::new()
    };
    (q, per_operator, c["rows"].as_u64().expect("rows"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_rows_move_to_curated_as_a_new_revision() {
    let dir = tempfile::tempdir().unwrap();
    let p = params(1, 60, 0.0);
    let app = seeded_app(dir.path(), &p).await;
    let day = p.until;

    // The operator with most rows that day goes missing from the catalogue before the day runs.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in seed::generate_day(&p, day) {
        *counts.entry(r.row.operator.clone().unwrap_or_default()).or_default() += 1;
    }
    let (missing, n_missing) = counts.iter().max_by_key(|(_, n)| **n).map(|(o, n)| (o.clone(), *n)).unwrap();
    assert!(n_missing >= 3, "need a few rows of one operator, got {counts:?}");
    let mut broken = seed::catalog();
    broken.operators.retain(|o| o.name != missing);
    app.source.replace_catalog(&broken).await.unwrap();

    let tap = app.bus.subscribe("test-tap", &[EventType::ProductionPublishedV1, EventType::RowsQuarantinedV1], Duration::from_secs(60));
    let shutdown = CancellationToken::new();
    let runners = app.start(&shutdown);
    extract_all(&app).await;
    let first = app.day_record(day).await.unwrap().expect("the day completed");
    assert_eq!(first.status, DayStatus::Published);
    assert_eq!(first.revision, 1);
    assert_eq!(first.rows_quarantined, n_missing as u64);
    let (q_before, ops_before, curated_before) = read_day(dir.path(), day);
    assert!(q_before.iter().all(|(_, r)| r == "UNKNOWN_OPERATOR"), "{q_before:?}");
    assert_eq!(ops_before.get(&missing), None);
    let old_curated = app.store.get_bytes(&layout::curated_key(day)).await.unwrap();
    drain(&tap).await;

    // The catalogue is fixed; some of the rows are released.
    app.source.replace_catalog(&seed::catalog()).await.unwrap();
    let catalog = quarantine::current_catalog(&app).await.unwrap().expect("the source catalogue");
    let lines: Vec<u64> = q_before.iter().map(|(l, _)| *l).collect();
    let chosen: BTreeSet<u64> = lines.iter().copied().take(2).chain([1]).collect(); // line 1 is the header
    let req = ReleaseRequest { day, selection: Selection::Lines(chosen.clone()), by: "ana.ops".into() };
    let rules = RuleSet::default();
    let r = quarantine::release(app.store.as_ref(), app.publisher.as_ref(), &rules, Some(&catalog), chrono::Utc::now(), &req)
        .await
        .expect("release");
    assert_eq!(r.result, ReleaseResult::NewRevision);
    assert_eq!(r.released, lines[..2].to_vec());
    assert_eq!(r.not_quarantined, vec![1]);
    assert!(r.still_quarantined.is_empty());
    assert_eq!((r.before.revision, r.after.revision), (1, 2));
    assert_eq!(r.after.rows_curated, first.rows_curated + 2);
    assert_eq!(r.after.rows_curated + r.after.rows_quarantined, first.rows_in, "rows are conserved");

    // Read back independently.
    let (q_after, ops_after, curated_after) = read_day(dir.path(), day);
    assert_eq!(curated_after, curated_before + 2);
    assert_eq!(ops_after.get(&missing), Some(&2), "the released rows are curated under their operator");
    assert_eq!(q_after.iter().map(|(l, _)| *l).collect::<Vec<_>>(), lines[2..].to_vec());
    let record = app.day_record(day).await.unwrap().expect("record");
    assert_eq!((record.revision, record.rows_curated, record.rows_quarantined), (2, curated_after, q_after.len() as u64));
    assert_eq!(record.event_ids, r.event_ids);

    // The previous version is kept.
    let kept = r.previous_kept_under.clone().expect("previous version kept");
    assert!(kept.starts_with("historico/reemplazado/"), "{kept}");
    let kept_curated = app.store.get_bytes(&format!("{kept}{}", layout::curated_key(day))).await.unwrap();
    assert_eq!(sha256_hex(&kept_curated), sha256_hex(&old_curated));
    assert!(app.store.exists(&format!("{kept}{}", layout::day_record_key(day))).await.unwrap());

    // Republished with the next revision.
    assert!(app.wait_idle(Duration::from_secs(30)).await);
    let events = drain(&tap).await;
    let published: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PintaEvent::ProductionPublishedV1(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(published.len(), 1, "{events:?}");
    assert_eq!((published[0].revision, published[0].rows_curated), (2, curated_after));
    assert!(events.iter().any(|e| matches!(e, PintaEvent::RowsQuarantinedV1(q) if q.revision == 2)));

    // The release is recorded and shown.
    let records = quarantine::releases(app.store.as_ref(), day).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].by, "ana.ops");
    assert_eq!(records[0].selection, chosen.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
    let text = quarantine::show_text(app.store.as_ref(), day).await.unwrap();
    assert!(text.contains("by ana.ops") && text.contains("revision 1 → 2"), "{text}");

    // The same release again changes nothing (but is recorded).
    let snapshot = support::snapshot(&app).await;
    let again = quarantine::release(app.store.as_ref(), app.publisher.as_ref(), &rules, Some(&catalog), chrono::Utc::now(), &req)
        .await
        .expect("release again");
    assert_eq!(again.result, ReleaseResult::Unchanged);
    assert!(again.released.is_empty() && again.event_ids.is_empty());
    assert_eq!(support::snapshot(&app).await, snapshot, "no object changed");
    assert_eq!(app.day_record(day).await.unwrap().expect("record").revision, 2);
    assert!(drain(&tap).await.is_empty(), "nothing republished");
    assert_eq!(quarantine::releases(app.store.as_ref(), day).await.unwrap().len(), 2);

    shutdown.cancel();
    for r in runners {
        let _ = r.await;
    }
    app.source.close().await;

    // The rest with the command line: the quarantine file goes (its last version is kept).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pinta"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["quarantine", "release", &day.to_string(), "--all", "--by", "luis.ops"])
        .output()
        .expect("running pinta");
    assert!(out.status.success(), "pinta quarantine release failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("released {} row(s)", n_missing - 2)), "{stdout}");
    assert!(!dir.path().join(layout::quarantine_key(day)).exists());
    let (q_last, ops_last, curated_last) = read_day(dir.path(), day);
    assert!(q_last.is_empty());
    assert_eq!(curated_last, first.rows_in);
    assert_eq!(ops_last.get(&missing), Some(&(n_missing as u64)));
    let show = std::process::Command::new(env!("CARGO_BIN_EXE_pinta"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["quarantine", "show", &day.to_string()])
        .output()
        .expect("running pinta");
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("no quarantined rows") && text.contains("releases (3)") && text.contains("by luis.ops"), "{text}");
}
