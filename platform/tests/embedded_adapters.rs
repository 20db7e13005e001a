//! Behaviour of the embedded adapters beyond the shared conformance suite: file-system details of the
//! local store, SQS-like timing of the in-process bus, and robustness of the dead-letter folder.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use pinta_contracts::events::{ObjectRef, PipelineFailedV1, ProductionExtractedV1};
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage};
use pinta_platform::embedded::{DirDeadLetterStore, InProcessBus, LocalObjectStore};
use pinta_platform::ports::{
    BusError, DeadLetter, DeadLetterStore, EventPublisher, EventReceiver, ObjectStore, ObjectStoreExt, PutOptions,
    StoreError,
};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 7).unwrap()
}

fn extracted(tag: &str) -> Envelope {
    let ev = PintaEvent::ProductionExtractedV1(ProductionExtractedV1 {
        production_date: day(),
        raw: ObjectRef { key: "crudos/produccion_raw_2025-01-07.csv".into(), sha256: "ab".repeat(32), size: 10 },
        rows: 3,
        catalog: None,
        origin: "sqlite".into(),
        revision: 1,
        backfill: false,
    });
    Envelope::wrap("/pinta/extractor", &ev, tag, Utc::now(), None)
}

fn failed(tag: &str) -> Envelope {
    let ev = PintaEvent::PipelineFailedV1(PipelineFailedV1 {
        production_date: Some(day()),
        stage: Stage::Validator,
        code: FailureCode::Internal,
        message: "boom".into(),
        retryable: false,
        attempts: 1,
        object: None,
        rows: None,
        caused_by: None,
        failed_at: Utc::now(),
    });
    Envelope::wrap("/pinta/validator", &ev, tag, Utc::now(), None)
}

/// Every file name under `dir`, recursively (hidden ones included).
fn all_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out
}

// ---------- local object store ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_from_eight_tasks_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path()));
    for round in 0..5 {
        let key = format!("produccion/2025-01/produccion_2025-01-0{round}.parquet");
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let store = store.clone();
                let key = key.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    (i, store.put_create(&key, Bytes::from(vec![i; 100_000])).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (i, r) = t.await.unwrap();
            match r {
                Ok(_) => winners.push(i),
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(store.get_bytes(&key).await.unwrap(), Bytes::from(vec![winners[0]; 100_000]));
    }
    let leftovers: Vec<String> = all_files(dir.path()).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(leftovers.is_empty(), "temp files left behind: {leftovers:?}");
}

#[tokio::test]
async fn objects_are_plain_files_at_their_key_and_temp_files_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path());
    let key = "crudos/produccion_raw_2025-01-07.csv";
    store.put_create(key, Bytes::from_static(b"a,b\n1,2\n")).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("crudos").join("produccion_raw_2025-01-07.csv")).unwrap(), b"a,b\n1,2\n");
    assert!(store.put_create(key, Bytes::from_static(b"other")).await.is_err());
    store.put_opts(key, Bytes::from_static(b"new"), PutOptions::overwrite()).await.unwrap();
    // A write that fails after the temp file exists (the final name is a directory) removes it.
    store.put_create("staging/x/y.arrow", Bytes::from_static(b"1")).await.unwrap();
    match store.put_opts("staging/x", Bytes::from_static(b"2"), PutOptions::overwrite()).await {
        Err(StoreError::Precondition { .. }) => {}
        other => panic!("expected Precondition, got {other:?}"),
    }
    match store.put_create("staging/x", Bytes::from_static(b"2")).await {
        Err(StoreError::Precondition { .. }) => {}
        other => panic!("expected Precondition, got {other:?}"),
    }
    let hidden: Vec<String> = all_files(dir.path()).into_iter().filter(|n| n.starts_with('.')).collect();
    assert!(hidden.is_empty(), "temp files left behind: {hidden:?}");
    // A directory is not an object.
    assert!(matches!(store.head("staging/x").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.get("staging").await, Err(StoreError::NotFound { .. })));
    store.delete("staging/x").await.unwrap();
    assert!(store.exists("staging/x/y.arrow").await.unwrap());
    // A key below an object cannot exist.
    assert!(matches!(store.head("crudos/produccion_raw_2025-01-07.csv/x").await, Err(StoreError::NotFound { .. })));
}

#[tokio::test]
async fn listing_skips_hidden_files_and_missing_roots() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path().join("not-yet-created"));
    assert!(store.list("").await.unwrap().is_empty());
    assert!(store.list("crudos/").await.unwrap().is_empty());

    let store = LocalObjectStore::new(dir.path());
    store.put_create("crudos/produccion_raw_2025-01-07.csv", Bytes::from_static(b"x")).await.unwrap();
    store.put_create("_control/inbox/validator/abc", Bytes::from_static(b"x")).await.unwrap();
    std::fs::write(dir.path().join("crudos").join(".tmp-leftover"), b"partial").unwrap();
    std::fs::create_dir_all(dir.path().join(".state").join("x")).unwrap();
    std::fs::write(dir.path().join(".state").join("x").join("y"), b"internal").unwrap();
    let keys: Vec<String> = store.list("").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, vec!["_control/inbox/validator/abc", "crudos/produccion_raw_2025-01-07.csv"]);
    assert!(store.list("crudos/.tmp").await.unwrap().is_empty());
    assert!(matches!(store.list("../").await, Err(StoreError::InvalidKey { .. })));
    assert!(matches!(store.list("/etc/").await, Err(StoreError::InvalidKey { .. })));
    // A listing prefix that names a file, not a folder, is simply empty.
    assert!(store.list("crudos/produccion_raw_2025-01-07.csv/").await.unwrap().is_empty());
}

#[tokio::test]
async fn reserved_and_escaping_keys_are_rejected_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path().join("bucket"));
    for bad in ["", "/abs", "a//b", "a/", "./a", "a/./b", "../outside", "a/../../outside", ".hidden", "x/.tmp-1", "a\\b", "a\0b"] {
        assert!(
            matches!(store.put_create(bad, Bytes::from_static(b"x")).await, Err(StoreError::InvalidKey { .. })),
            "put {bad:?}"
        );
        assert!(matches!(store.get(bad).await, Err(StoreError::InvalidKey { .. })), "get {bad:?}");
        assert!(matches!(store.delete(bad).await, Err(StoreError::InvalidKey { .. })), "delete {bad:?}");
    }
    assert!(!dir.path().join("outside").exists());
    assert!(!dir.path().join("bucket").exists(), "nothing was written");
}

// ---------- in-process bus ----------

#[tokio::test]
async fn unacked_messages_are_redelivered_after_the_visibility_timeout() {
    let bus = InProcessBus::new();
    let q = bus.subscribe("validator", &[], Duration::from_millis(200));
    let env = extracted("redeliver");
    bus.publish(&env).await.unwrap();

    let first = q.receive(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, 1);
    assert_eq!(first[0].attributes.get("type").map(String::as_str), Some("production.extracted.v1"));
    assert_eq!(first[0].attributes.get("id"), Some(&env.id));
    // Not acked: it must come back by itself (long wait bounds the test, not a timing assertion).
    let second = tokio::time::timeout(Duration::from_secs(10), q.receive(10, Duration::from_secs(10)))
        .await
        .expect("receive returned")
        .unwrap();
    assert_eq!(second.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(second[0].receipt, first[0].receipt);
    // The first receipt is outdated now.
    assert!(matches!(q.ack(&first[0]).await, Err(BusError::StaleReceipt { .. })));
    assert!(matches!(q.retry_later(&first[0], Duration::ZERO).await, Err(BusError::StaleReceipt { .. })));
    assert!(matches!(q.extend(&first[0], Duration::from_secs(1)).await, Err(BusError::StaleReceipt { .. })));
    assert_eq!(q.depth(), 1);
    q.ack(&second[0]).await.unwrap();
    assert_eq!(q.depth(), 0);
    assert!(matches!(q.ack(&second[0]).await, Err(BusError::StaleReceipt { .. })), "double ack is stale");
    let mut forged = second[0].clone();
    forged.receipt = "not-a-receipt".into();
    assert!(matches!(q.ack(&forged).await, Err(BusError::StaleReceipt { .. })));
}

#[tokio::test]
async fn extend_keeps_a_message_invisible_and_retry_later_delays_it() {
    let bus = InProcessBus::new();
    let q = bus.subscribe("transformer", &[], Duration::from_millis(100));
    bus.publish(&extracted("extend")).await.unwrap();
    let m = q.receive(1, Duration::from_secs(5)).await.unwrap().remove(0);
    q.extend(&m, Duration::from_secs(60)).await.unwrap();
    // Well past the original 100 ms timeout, it stays invisible.
    assert!(q.receive(1, Duration::from_millis(500)).await.unwrap().is_empty());
    q.retry_later(&m, Duration::from_secs(60)).await.unwrap();
    assert!(q.receive(1, Duration::from_millis(300)).await.unwrap().is_empty(), "delayed, not visible yet");
    assert_eq!(q.depth(), 1, "a delayed message is still in the queue");
    assert!(matches!(q.ack(&m).await, Err(BusError::StaleReceipt { .. })), "a released receipt is stale");
}

#[tokio::test]
async fn a_waiting_receiver_wakes_up_on_publish_and_retry() {
    let bus = InProcessBus::new();
    let q = bus.subscribe("notifier", &[], Duration::from_secs(30));
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.receive(10, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    bus.publish(&extracted("wake")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken up").unwrap().unwrap();
    assert_eq!(got.len(), 1);
    // retry_later with a short delay wakes a receiver that is already waiting.
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.receive(10, Duration::from_secs(20)).await })
    };
    q.retry_later(&got[0], Duration::from_millis(50)).await.unwrap();
    let again = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken up").unwrap().unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn receive_respects_max_and_delivers_in_order() {
    let bus = InProcessBus::new();
    let q = bus.subscribe("q", &[], Duration::from_secs(30));
    let envs: Vec<Envelope> = (0..5).map(|i| extracted(&format!("order-{i}"))).collect();
    for e in &envs {
        bus.publish(e).await.unwrap();
    }
    let a = q.receive(3, Duration::ZERO).await.unwrap();
    let b = q.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!((a.len(), b.len()), (3, 2));
    let ids: Vec<String> = a.iter().chain(&b).map(|m| Envelope::from_json(&m.body).unwrap().id).collect();
    assert_eq!(ids, envs.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    assert!(q.receive(0, Duration::from_secs(5)).await.unwrap().is_empty());
}

#[tokio::test]
async fn filters_route_only_matching_types() {
    let bus = InProcessBus::new();
    let extract_only = bus.subscribe("transformer", &[EventType::ProductionExtractedV1], Duration::from_secs(30));
    let failures = bus.subscribe(
        "notifier",
        &[EventType::PipelineFailedV1, EventType::RowsQuarantinedV1],
        Duration::from_secs(30),
    );
    let tap = bus.subscribe("tap", &[], Duration::from_secs(30));
    let published_only = bus.subscribe("gateway", &[EventType::ProductionPublishedV1], Duration::from_secs(30));

    bus.publish(&extracted("f1")).await.unwrap();
    bus.publish(&extracted("f2")).await.unwrap();
    bus.publish(&failed("f3")).await.unwrap();
    let mut unknown = extracted("f4");
    unknown.event_type = "production.published.v9".into();
    bus.publish(&unknown).await.unwrap();

    let types = |msgs: Vec<pinta_platform::ports::Message>| -> Vec<String> {
        msgs.into_iter().map(|m| m.attributes.get("type").cloned().unwrap_or_default()).collect()
    };
    assert_eq!(types(extract_only.receive(10, Duration::ZERO).await.unwrap()), vec!["production.extracted.v1"; 2]);
    assert_eq!(types(failures.receive(10, Duration::ZERO).await.unwrap()), vec!["pipeline.failed.v1"]);
    assert_eq!(
        types(tap.receive(10, Duration::ZERO).await.unwrap()),
        vec!["production.extracted.v1", "production.extracted.v1", "pipeline.failed.v1", "production.published.v9"]
    );
    assert!(published_only.receive(10, Duration::ZERO).await.unwrap().is_empty(), "an unknown version does not match v1");
    assert_eq!(bus.published_count(), 4);
    // Subscribing again by name returns the same queue.
    assert!(Arc::ptr_eq(&bus.subscribe("tap", &[], Duration::from_secs(1)), &tap));
    assert!(bus.queue("nope").is_none());
}

#[tokio::test]
async fn a_closed_bus_refuses_work_and_wakes_receivers() {
    let bus = InProcessBus::new();
    let q = bus.subscribe("q", &[], Duration::from_secs(30));
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.receive(1, Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    bus.close();
    let r = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("woken by close").unwrap();
    assert!(matches!(r, Err(BusError::Closed)));
    assert!(matches!(bus.publish(&extracted("closed")).await, Err(BusError::Closed)));
}

#[tokio::test]
async fn raw_sends_bypass_the_filter() {
    let bus = InProcessBus::new();
    let q = bus.subscribe("validator", &[EventType::ProductionTransformedV1], Duration::from_secs(30));
    let id = q.send("{not json".into(), BTreeMap::new());
    let m = q.receive(1, Duration::ZERO).await.unwrap().remove(0);
    assert_eq!((m.message_id, m.body.as_str(), m.queue.as_str()), (id, "{not json", "validator"));
}

// ---------- dead-letter folder ----------

fn letter(queue: &str, id: &str) -> DeadLetter {
    DeadLetter {
        id: id.into(),
        queue: queue.into(),
        body: "{}".into(),
        attributes: BTreeMap::new(),
        code: "INTERNAL".into(),
        reason: "r".into(),
        receive_count: 1,
        dead_lettered_at: Utc::now(),
    }
}

#[tokio::test]
async fn dead_letters_are_json_files_and_corrupt_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirDeadLetterStore::new(dir.path().join("dlq"));
    assert!(store.list(None).await.unwrap().is_empty(), "a missing folder is an empty store");
    store.put(letter("validator", "one")).await.unwrap();
    let path = dir.path().join("dlq").join("validator").join("one.json");
    let on_disk: DeadLetter = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk.id, "one");
    assert!(all_files(dir.path()).iter().all(|n| !n.starts_with('.')), "no temp file left");

    // Hidden and non-JSON files are not entries.
    std::fs::write(dir.path().join("dlq").join("validator").join(".tmp-x"), b"partial").unwrap();
    std::fs::write(dir.path().join("dlq").join("validator").join("README.txt"), b"notes").unwrap();
    assert_eq!(store.list(Some("validator")).await.unwrap().len(), 1);

    std::fs::write(dir.path().join("dlq").join("validator").join("bad.json"), b"{ truncated").unwrap();
    assert!(matches!(store.get("bad").await, Err(BusError::Corrupt { .. })));
    assert!(matches!(store.list(None).await, Err(BusError::Corrupt { .. })));
    assert!(matches!(store.list(Some("validator")).await, Err(BusError::Corrupt { .. })));
    assert!(store.list(Some("notifier")).await.unwrap().is_empty());
    store.remove("bad").await.unwrap();
    assert_eq!(store.list(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn dead_letter_names_cannot_escape_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirDeadLetterStore::new(dir.path().join("dlq"));
    for (queue, id) in [("..", "x"), ("a/b", "x"), ("q", "../x"), ("q", "a/b"), ("q", ""), ("", "x"), (".hidden", "x"), ("q", "a\\b")] {
        let r = store.put(letter(queue, id)).await;
        assert!(r.is_err(), "{queue:?}/{id:?} accepted");
        assert!(!r.unwrap_err().is_retryable(), "an invalid name is not worth retrying");
    }
    assert!(all_files(dir.path()).is_empty(), "nothing written: {:?}", all_files(dir.path()));
    assert!(matches!(store.get("../x").await, Err(BusError::DeadLetterNotFound { .. })));
    assert!(matches!(store.remove("../x").await, Err(BusError::DeadLetterNotFound { .. })));
    assert!(store.list(Some("../")).await.is_err());
}
