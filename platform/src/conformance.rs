//! Conformance checks every adapter of a port must pass; each adapter's tests call them.
//!
//! One suite, many backends: the embedded adapters run these functions in `platform/tests/`, and the AWS
//! adapters run the very same functions against an AWS-protocol emulator. Each function takes the port
//! as `&dyn Trait`, panics with a message naming the violated rule, and works under a unique prefix (or
//! queue name) so it can share a backend with other tests and leaves nothing behind on success.
//!
//! * [`object_store`] — create-only, overwrite, idempotent puts, streaming gets, head, list by prefix
//!   (including prefixes that end mid-name), idempotent delete, key validation, a 5 MiB object,
//!   concurrent creates of one key.
//! * [`event_bus`] — publish / receive / retry / ack on a dedicated, initially empty queue that receives
//!   every event type the publisher sends.
//! * [`dead_letter_store`] — put / list (oldest first) / get / remove / not found.

use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, TimeDelta, Utc};
use futures::StreamExt;
use pinta_contracts::events::{ObjectRef, ProductionExtractedV1};
use pinta_contracts::{Envelope, PintaEvent};

use crate::ports::{
    BusError, DeadLetter, DeadLetterStore, EventPublisher, EventReceiver, Message, ObjectStore, ObjectStoreExt,
    PutOptions, PutOutcome, StoreError,
};

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Deterministic, incompressible-looking bytes.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn must_get(store: &dyn ObjectStore, key: &str) -> Bytes {
    match store.get_bytes(key).await {
        Ok(b) => b,
        Err(e) => panic!("object store: get {key:?} failed: {e}"),
    }
}

fn keys_of(metas: &[crate::ports::ObjectMeta]) -> Vec<String> {
    metas.iter().map(|m| m.key.clone()).collect()
}

/// The object-store contract.
pub async fn object_store(store: &dyn ObjectStore) {
    let p = format!("conformance/{}/", unique());
    let mut written: Vec<String> = Vec::new();

    // Create-only.
    let a = format!("{p}a.txt");
    let meta = store
        .put_opts(&a, Bytes::from_static(b"one"), PutOptions::create())
        .await
        .unwrap_or_else(|e| panic!("object store: first create of {a:?} failed: {e}"));
    written.push(a.clone());
    assert_eq!(meta.key, a, "object store: put returns the key it wrote");
    assert_eq!(meta.size, 3, "object store: put returns the size written");
    match store.put_opts(&a, Bytes::from_static(b"two"), PutOptions::create()).await {
        Err(StoreError::AlreadyExists { key }) => assert_eq!(key, a, "object store: AlreadyExists names the key"),
        other => panic!("object store: a second create of an existing key must be AlreadyExists, got {other:?}"),
    }
    assert_eq!(must_get(store, &a).await, Bytes::from_static(b"one"), "object store: a failed create must not change the object");

    // Overwrite.
    store
        .put_opts(&a, Bytes::from_static(b"three"), PutOptions::overwrite())
        .await
        .unwrap_or_else(|e| panic!("object store: overwrite of {a:?} failed: {e}"));
    assert_eq!(must_get(store, &a).await, Bytes::from_static(b"three"), "object store: overwrite replaces the content");
    let head = store.head(&a).await.unwrap_or_else(|e| panic!("object store: head {a:?} failed: {e}"));
    assert_eq!(head.size, 5, "object store: head reports the size of the current content");
    assert_eq!(head.key, a, "object store: head reports the key");
    let fresh = format!("{p}fresh-overwrite.txt");
    store
        .put_opts(&fresh, Bytes::from_static(b"x"), PutOptions::overwrite())
        .await
        .unwrap_or_else(|e| panic!("object store: overwrite of a missing key must create it: {e}"));
    written.push(fresh.clone());

    // Idempotent puts.
    match store.put_idempotent(&a, Bytes::from_static(b"three")).await {
        Ok(PutOutcome::AlreadyIdentical(m)) => assert_eq!(m.size, 5),
        other => panic!("object store: put_idempotent with identical bytes must be AlreadyIdentical, got {other:?}"),
    }
    match store.put_idempotent(&a, Bytes::from_static(b"four")).await {
        Err(StoreError::Precondition { .. }) => {}
        other => panic!("object store: put_idempotent with different bytes must be Precondition, got {other:?}"),
    }
    assert_eq!(must_get(store, &a).await, Bytes::from_static(b"three"), "object store: a refused put_idempotent changes nothing");
    let idem = format!("{p}idem.txt");
    match store.put_idempotent(&idem, Bytes::from_static(b"new")).await {
        Ok(PutOutcome::Created(m)) => assert_eq!(m.size, 3),
        other => panic!("object store: put_idempotent of a new key must be Created, got {other:?}"),
    }
    written.push(idem.clone());

    // Missing keys.
    let missing = format!("{p}missing/nothing.txt");
    match store.get(&missing).await {
        Err(StoreError::NotFound { key }) => assert_eq!(key, missing),
        other => panic!("object store: get of a missing key must be NotFound, got {other:?}"),
    }
    match store.head(&missing).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("object store: head of a missing key must be NotFound, got {other:?}"),
    }
    assert!(!store.exists(&missing).await.unwrap_or(true), "object store: exists of a missing key must be false");
    assert!(store.exists(&a).await.unwrap_or(false), "object store: exists of a present key must be true");

    // Streaming get == bytes.
    let mut chunks = 0usize;
    let mut streamed = Vec::new();
    let got = store.get(&a).await.unwrap_or_else(|e| panic!("object store: get {a:?} failed: {e}"));
    assert_eq!(got.meta.size, 5, "object store: get reports the size");
    let mut body = got.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("object store: reading the body of {a:?} failed: {e}"));
        chunks += 1;
        streamed.extend_from_slice(&chunk);
    }
    assert!(chunks >= 1, "object store: a non-empty body yields at least one chunk");
    assert_eq!(streamed, b"three", "object store: the streamed body equals the bytes written");

    // Empty object.
    let empty = format!("{p}empty");
    store.put_create(&empty, Bytes::new()).await.unwrap_or_else(|e| panic!("object store: empty object: {e}"));
    written.push(empty.clone());
    assert!(must_get(store, &empty).await.is_empty(), "object store: an empty object reads back empty");

    // Listing. Written out of order to check sorting.
    let listed_keys = [
        format!("{p}dir/produccion_raw_2025-02-01.csv"),
        format!("{p}dir/produccion_raw_2025-01-02.csv"),
        format!("{p}dir/sub/deep/x.bin"),
        format!("{p}dir/produccion_raw_2025-01-01.csv"),
        format!("{p}dirt.txt"),
    ];
    for k in &listed_keys {
        store.put_create(k, Bytes::from(k.clone())).await.unwrap_or_else(|e| panic!("object store: put {k:?}: {e}"));
        written.push(k.clone());
    }
    let jan = store
        .list(&format!("{p}dir/produccion_raw_2025-01"))
        .await
        .unwrap_or_else(|e| panic!("object store: list failed: {e}"));
    assert_eq!(
        keys_of(&jan),
        vec![format!("{p}dir/produccion_raw_2025-01-01.csv"), format!("{p}dir/produccion_raw_2025-01-02.csv")],
        "object store: a prefix ending mid-name lists exactly the matching keys, sorted"
    );
    let expected_size = format!("{p}dir/produccion_raw_2025-01-01.csv").len() as u64;
    assert_eq!(jan[0].size, expected_size, "object store: list reports sizes");
    let dir = store.list(&format!("{p}dir/")).await.unwrap_or_else(|e| panic!("object store: list failed: {e}"));
    assert_eq!(
        keys_of(&dir),
        vec![
            format!("{p}dir/produccion_raw_2025-01-01.csv"),
            format!("{p}dir/produccion_raw_2025-01-02.csv"),
            format!("{p}dir/produccion_raw_2025-02-01.csv"),
            format!("{p}dir/sub/deep/x.bin"),
        ],
        "object store: listing is recursive and sorted, and `dir/` does not match `dirt.txt`"
    );
    let partial_dir = store.list(&format!("{p}di")).await.unwrap_or_else(|e| panic!("object store: list failed: {e}"));
    assert_eq!(partial_dir.len(), 5, "object store: a prefix ending mid-folder-name matches inside that folder and beside it");
    let all = store.list(&p).await.unwrap_or_else(|e| panic!("object store: list failed: {e}"));
    let mut sorted = written.clone();
    sorted.sort();
    assert_eq!(keys_of(&all), sorted, "object store: listing the test prefix returns every object written, sorted");
    let none = store.list(&format!("{p}nothing-here/")).await.unwrap_or_else(|e| panic!("object store: list failed: {e}"));
    assert!(none.is_empty(), "object store: listing a prefix with no objects is empty, not an error");

    // Delete.
    store.delete(&a).await.unwrap_or_else(|e| panic!("object store: delete {a:?} failed: {e}"));
    assert!(
        matches!(store.head(&a).await, Err(StoreError::NotFound { .. })),
        "object store: a deleted object is gone"
    );
    store.delete(&a).await.unwrap_or_else(|e| panic!("object store: deleting twice must succeed: {e}"));
    store.delete(&missing).await.unwrap_or_else(|e| panic!("object store: deleting a missing key must succeed: {e}"));
    written.retain(|k| k != &a);
    let after = store.list(&p).await.unwrap_or_else(|e| panic!("object store: list failed: {e}"));
    assert!(!keys_of(&after).contains(&a), "object store: a deleted object is not listed");
    store
        .put_create(&a, Bytes::from_static(b"again"))
        .await
        .unwrap_or_else(|e| panic!("object store: a deleted key can be created again: {e}"));
    written.push(a.clone());

    // Invalid keys.
    for bad in ["", "../x", "a/../../x", "/abs"] {
        match store.put_opts(bad, Bytes::from_static(b"x"), PutOptions::create()).await {
            Err(StoreError::InvalidKey { .. }) => {}
            other => panic!("object store: put of invalid key {bad:?} must be InvalidKey, got {other:?}"),
        }
        match store.get(bad).await {
            Err(StoreError::InvalidKey { .. }) => {}
            other => panic!("object store: get of invalid key {bad:?} must be InvalidKey, got {other:?}"),
        }
        match store.head(bad).await {
            Err(StoreError::InvalidKey { .. }) => {}
            other => panic!("object store: head of invalid key {bad:?} must be InvalidKey, got {other:?}"),
        }
        match store.delete(bad).await {
            Err(StoreError::InvalidKey { .. }) => {}
            other => panic!("object store: delete of invalid key {bad:?} must be InvalidKey, got {other:?}"),
        }
    }

    // A 5 MiB object round-trips, streamed.
    let big_key = format!("{p}big.bin");
    let big = Bytes::from(pseudo_random(5 * 1024 * 1024 + 7, 0x5EED));
    let meta = store.put_create(&big_key, big.clone()).await.unwrap_or_else(|e| panic!("object store: 5 MiB put: {e}"));
    written.push(big_key.clone());
    assert_eq!(meta.size, big.len() as u64, "object store: 5 MiB put reports its size");
    assert_eq!(store.head(&big_key).await.map(|m| m.size).ok(), Some(big.len() as u64), "object store: 5 MiB head size");
    let back = must_get(store, &big_key).await;
    assert!(back == big, "object store: the 5 MiB object must read back byte for byte ({} bytes read)", back.len());
    let mut reader = store
        .get(&big_key)
        .await
        .unwrap_or_else(|e| panic!("object store: 5 MiB get: {e}"))
        .into_async_read();
    let mut via_reader = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut via_reader)
        .await
        .unwrap_or_else(|e| panic!("object store: 5 MiB read through AsyncRead: {e}"));
    assert!(via_reader == big.as_ref(), "object store: the AsyncRead view of the body equals the bytes");

    // Concurrent creates of one key: exactly one wins, the others see AlreadyExists.
    let race = format!("{p}race.txt");
    let attempts = (0..8u8).map(|i| {
        let race = race.clone();
        async move { (i, store.put_create(&race, Bytes::from(vec![b'0' + i; 64])).await) }
    });
    let results = futures::future::join_all(attempts).await;
    written.push(race.clone());
    let winners: Vec<u8> = results.iter().filter(|(_, r)| r.is_ok()).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "object store: exactly one of 8 concurrent creates must succeed, got {results:?}");
    for (i, r) in &results {
        if r.is_err() {
            assert!(
                matches!(r, Err(StoreError::AlreadyExists { .. })),
                "object store: losing concurrent create {i} must be AlreadyExists, got {r:?}"
            );
        }
    }
    assert_eq!(
        must_get(store, &race).await,
        Bytes::from(vec![b'0' + winners[0]; 64]),
        "object store: the winner's bytes are stored, complete"
    );

    for k in &written {
        store.delete(k).await.unwrap_or_else(|e| panic!("object store: clean-up delete {k:?}: {e}"));
    }
    let left = store.list(&p).await.unwrap_or_else(|e| panic!("object store: list failed: {e}"));
    assert!(left.is_empty(), "object store: everything deleted, yet listed: {:?}", keys_of(&left));
}

/// A fresh `production.extracted.v1` envelope with a unique id.
fn sample_envelope(tag: &str) -> Envelope {
    let event = PintaEvent::ProductionExtractedV1(ProductionExtractedV1 {
        production_date: NaiveDate::from_ymd_opt(2025, 1, 7).unwrap_or_default(),
        raw: ObjectRef {
            key: "crudos/produccion_raw_2025-01-07.csv".to_owned(),
            sha256: pinta_contracts::sha256_hex(tag.as_bytes()),
            size: 1,
        },
        rows: 1,
        catalog: None,
        origin: "conformance".to_owned(),
        revision: 1,
        backfill: false,
    });
    Envelope::wrap("/pinta/conformance", &event, tag, Utc::now(), None)
}

/// Receives until every id in `want` has been seen once, or panics after `limit`. Messages that are not
/// wanted are a contract violation: the queue must be dedicated to the check.
async fn receive_ids(receiver: &dyn EventReceiver, want: &[&str], limit: Duration, what: &str) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got: Vec<Message> = Vec::new();
    while got.len() < want.len() {
        if tokio::time::Instant::now() >= deadline {
            panic!("event bus: {what}: only {} of {} messages arrived within {limit:?}", got.len(), want.len());
        }
        let batch = receiver
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("event bus: {what}: receive failed: {e}"));
        for m in batch {
            let env = Envelope::from_json(&m.body)
                .unwrap_or_else(|e| panic!("event bus: {what}: body is not the published envelope: {e}"));
            assert!(
                want.contains(&env.id.as_str()),
                "event bus: {what}: unexpected message {} (the queue must be dedicated to this check)",
                env.id
            );
            assert!(
                !got.iter().any(|g| g.message_id == m.message_id),
                "event bus: {what}: message {} delivered twice while in flight",
                m.message_id
            );
            got.push(m);
        }
    }
    got
}

fn id_of(m: &Message) -> String {
    Envelope::from_json(&m.body).map(|e| e.id).unwrap_or_default()
}

/// The publish / receive contract. `receiver` must be a dedicated queue, empty at the start, that gets
/// every `production.extracted.v1` the publisher sends, with a visibility timeout of at least 5 s.
pub async fn event_bus(publisher: &dyn EventPublisher, receiver: &dyn EventReceiver) {
    let limit = Duration::from_secs(20);
    let env = sample_envelope(&format!("conformance-{}", unique()));
    publisher.publish(&env).await.unwrap_or_else(|e| panic!("event bus: publish failed: {e}"));

    let first = receive_ids(receiver, &[&env.id], limit, "first delivery").await.remove(0);
    let parsed = Envelope::from_json(&first.body).unwrap_or_else(|e| panic!("event bus: body must parse: {e}"));
    assert_eq!(parsed, env, "event bus: the received envelope equals the published one");
    assert_eq!(first.receive_count, 1, "event bus: receive_count is 1 on first delivery");
    assert_eq!(
        first.attributes.get("type").map(String::as_str),
        Some(env.event_type.as_str()),
        "event bus: the `type` attribute carries the event type"
    );
    assert_eq!(first.queue, receiver.name(), "event bus: a message names the queue it came from");

    // Retry now: delivered again, counted.
    receiver.retry_later(&first, Duration::ZERO).await.unwrap_or_else(|e| panic!("event bus: retry_later failed: {e}"));
    let second = receive_ids(receiver, &[&env.id], limit, "redelivery after retry_later").await.remove(0);
    assert_eq!(second.receive_count, 2, "event bus: receive_count is 2 on the second delivery");
    assert_eq!(second.message_id, first.message_id, "event bus: a redelivery keeps the message id");
    assert_ne!(second.receipt, first.receipt, "event bus: each delivery has a fresh receipt");
    receiver.extend(&second, Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("event bus: extend failed: {e}"));
    receiver.ack(&second).await.unwrap_or_else(|e| panic!("event bus: ack failed: {e}"));

    // A batch of three, acked.
    let batch: Vec<Envelope> = (0..3).map(|i| sample_envelope(&format!("conformance-{}-{i}", unique()))).collect();
    for e in &batch {
        publisher.publish(e).await.unwrap_or_else(|err| panic!("event bus: publish failed: {err}"));
    }
    let ids: Vec<&str> = batch.iter().map(|e| e.id.as_str()).collect();
    let got = receive_ids(receiver, &ids, limit, "batch").await;
    let mut got_ids: Vec<String> = got.iter().map(id_of).collect();
    got_ids.sort();
    let mut want_ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    want_ids.sort();
    assert_eq!(got_ids, want_ids, "event bus: every published envelope is delivered");
    for m in &got {
        receiver.ack(m).await.unwrap_or_else(|e| panic!("event bus: ack failed: {e}"));
    }

    // Nothing left: an acked message is not delivered again, and an empty receive returns after the wait.
    let started = tokio::time::Instant::now();
    let rest = receiver
        .receive(10, Duration::from_secs(1))
        .await
        .unwrap_or_else(|e| panic!("event bus: receive on an empty queue failed: {e}"));
    assert!(rest.is_empty(), "event bus: acked messages must not come back, got {:?}", rest.iter().map(id_of).collect::<Vec<_>>());
    assert!(started.elapsed() < Duration::from_secs(15), "event bus: an empty receive must return after its wait");
}

fn letter(queue: &str, id: String, at: chrono::DateTime<Utc>, body: &str) -> DeadLetter {
    DeadLetter {
        id,
        queue: queue.to_owned(),
        body: body.to_owned(),
        attributes: [("type".to_owned(), "production.extracted.v1".to_owned())].into_iter().collect(),
        code: "MALFORMED_MESSAGE".to_owned(),
        reason: "conformance: not a CloudEvent".to_owned(),
        receive_count: 1,
        dead_lettered_at: at,
    }
}

/// The dead-letter contract.
pub async fn dead_letter_store(store: &dyn DeadLetterStore) {
    let queue = format!("conformance-{}", unique());
    let other_queue = format!("conformance-{}", unique());
    // Whole seconds: backends may store timestamps at second or millisecond precision.
    let t0 = chrono::DateTime::<Utc>::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default();
    let oldest = letter(&queue, format!("c-{}", unique()), t0 - TimeDelta::hours(1), "{not json");
    let tie_b = letter(&queue, format!("b-{}", unique()), t0, "{\"b\":1}");
    let tie_a = letter(&queue, format!("a-{}", unique()), t0, "{\"a\":1}");
    let newest = letter(&other_queue, format!("d-{}", unique()), t0 + TimeDelta::hours(1), "plain text body");
    for l in [&tie_b, &newest, &oldest, &tie_a] {
        store.put(l.clone()).await.unwrap_or_else(|e| panic!("dead letters: put {} failed: {e}", l.id));
    }

    let listed = store.list(Some(&queue)).await.unwrap_or_else(|e| panic!("dead letters: list failed: {e}"));
    assert_eq!(
        listed,
        vec![oldest.clone(), tie_a.clone(), tie_b.clone()],
        "dead letters: list(queue) returns that queue's entries, oldest first, ties by id, unchanged"
    );
    let all = store.list(None).await.unwrap_or_else(|e| panic!("dead letters: list failed: {e}"));
    let ours: Vec<&DeadLetter> =
        all.iter().filter(|l| l.queue == queue || l.queue == other_queue).collect();
    assert_eq!(
        ours,
        vec![&oldest, &tie_a, &tie_b, &newest],
        "dead letters: list(None) returns every queue's entries, oldest first"
    );
    assert!(
        all.windows(2).all(|w| (w[0].dead_lettered_at, &w[0].id) <= (w[1].dead_lettered_at, &w[1].id)),
        "dead letters: list(None) is sorted oldest first"
    );

    let got = store.get(&newest.id).await.unwrap_or_else(|e| panic!("dead letters: get failed: {e}"));
    assert_eq!(got, newest, "dead letters: get returns the entry as it was put");

    store.remove(&oldest.id).await.unwrap_or_else(|e| panic!("dead letters: remove failed: {e}"));
    match store.get(&oldest.id).await {
        Err(BusError::DeadLetterNotFound { id }) => assert_eq!(id, oldest.id),
        other => panic!("dead letters: get of a removed entry must be DeadLetterNotFound, got {other:?}"),
    }
    match store.remove(&oldest.id).await {
        Err(BusError::DeadLetterNotFound { .. }) => {}
        other => panic!("dead letters: removing a removed entry must be DeadLetterNotFound, got {other:?}"),
    }
    let missing = format!("missing-{}", unique());
    assert!(
        matches!(store.get(&missing).await, Err(BusError::DeadLetterNotFound { .. })),
        "dead letters: get of an unknown id must be DeadLetterNotFound"
    );
    let listed = store.list(Some(&queue)).await.unwrap_or_else(|e| panic!("dead letters: list failed: {e}"));
    assert_eq!(listed, vec![tie_a.clone(), tie_b.clone()], "dead letters: a removed entry is no longer listed");

    for l in [&tie_a, &tie_b, &newest] {
        store.remove(&l.id).await.unwrap_or_else(|e| panic!("dead letters: clean-up remove failed: {e}"));
    }
    let none = store.list(Some(&queue)).await.unwrap_or_else(|e| panic!("dead letters: list failed: {e}"));
    assert!(none.is_empty(), "dead letters: everything removed, yet listed");
}
