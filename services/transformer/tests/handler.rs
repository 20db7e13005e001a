//! The handler end to end against the embedded `LocalObjectStore` in a temporary directory.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{NaiveDate, TimeZone, Utc};
use pinta_contracts::events::{ObjectRef, ProductionExtractedV1};
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage, layout, sha256_hex};
use pinta_platform::embedded::LocalObjectStore;
use pinta_platform::ports::{FixedClock, ObjectStore, ObjectStoreExt};
use pinta_platform::runner::{EventHandler, HandlerContext, source_of};
use pinta_transformer::Transformer;

use common::*;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 7).expect("date")
}

fn raw_bytes() -> Vec<u8> {
    b"Fecha de producci\xF3n;Tipo de pintura producida;Cantidad producida;Costo por litro producido;Costo de la producci\xF3n;Operador\r\n\
07/01/2025;Esmalte;1.500;12,5;;Mu\xF1oz\r\n\
07/01/2025;Latex;ayer;2;4;Ana\r\n"
        .to_vec()
}

fn extracted(raw: &[u8]) -> ProductionExtractedV1 {
    ProductionExtractedV1 {
        production_date: day(),
        raw: ObjectRef { key: layout::raw_key(day()), sha256: sha256_hex(raw), size: raw.len() as u64 },
        rows: 2,
        catalog: Some(ObjectRef { key: layout::catalog_key(&"cd".repeat(32)), sha256: "cd".repeat(32), size: 10 }),
        origin: "sqlite".into(),
        revision: 1,
        backfill: true,
    }
}

fn ctx_for(event: &ProductionExtractedV1) -> HandlerContext {
    let envelope = Envelope::wrap(
        "/pinta/extractor",
        &PintaEvent::ProductionExtractedV1(event.clone()),
        "2025-01-07|x",
        Utc.with_ymd_and_hms(2025, 1, 8, 0, 0, 5).single().expect("time"),
        None,
    );
    HandlerContext { envelope, attempt: 1, traceparent: TraceParent::from_seed(b"test") }
}

fn setup() -> (tempfile::TempDir, Arc<LocalObjectStore>, Transformer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let clock = Arc::new(FixedClock::new(Utc.with_ymd_and_hms(2025, 1, 8, 0, 1, 0).single().expect("time")));
    let t = Transformer::new(store.clone(), clock);
    (dir, store, t)
}

#[tokio::test]
async fn transforms_the_raw_object_into_staging_and_announces_it() {
    let (_dir, store, t) = setup();
    assert_eq!(t.name(), "transformer");
    assert_eq!(t.stage(), Stage::Transformer);
    assert_eq!(t.accepts(), &[EventType::ProductionExtractedV1]);
    let raw = raw_bytes();
    let event = extracted(&raw);
    store.put_create(&event.raw.key, Bytes::from(raw.clone())).await.expect("put raw");
    let ctx = ctx_for(&event);

    let out = t.handle(PintaEvent::ProductionExtractedV1(event.clone()), &ctx).await.expect("handled");
    assert_eq!(out.len(), 1);
    let env = &out[0];
    assert_eq!(env.source, source_of(Stage::Transformer));
    assert_eq!(env.event_type, "production.transformed.v1");
    assert_eq!(env.subject.as_deref(), Some("2025-01-07"));
    assert_eq!(env.traceparent, Some(ctx.traceparent));
    let PintaEvent::ProductionTransformedV1(p) = env.decode().expect("decodes") else {
        panic!("wrong payload type");
    };
    let key = layout::staging_key(day(), &sha256_hex(&raw));
    assert_eq!(p.staging.key, key);
    assert_eq!(p.raw, event.raw);
    assert_eq!(p.rows, 2);
    assert_eq!(p.rows_with_cell_errors, 1);
    assert_eq!(p.rows_with_computed_cost, 1);
    assert_eq!(p.encoding, "windows-1252");
    assert_eq!(p.delimiter, ";");
    assert_eq!(p.catalog, event.catalog);
    assert!(p.backfill);

    let staging = store.get_bytes(&key).await.expect("staging written");
    assert_eq!(p.staging.sha256, sha256_hex(&staging));
    assert_eq!(p.staging.size, staging.len() as u64);
    let rows = read_rows(&staging);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].operator, some("Muñoz"));
    assert_eq!(rows[0].cost, Some(18750.0));
    assert!(rows[0].cost_computed);
    assert_eq!(rows[1].cell_errors, "UNPARSEABLE_QUANTITY");

    // Redelivery: same staging bytes, same event id.
    let again = t.handle(PintaEvent::ProductionExtractedV1(event.clone()), &ctx).await.expect("handled twice");
    assert_eq!(again[0].id, env.id);
    assert_eq!(again[0].data, env.data);
    assert_eq!(store.get_bytes(&key).await.expect("still there"), staging);
}

#[tokio::test]
async fn missing_raw_object_is_permanent_object_not_found() {
    let (_dir, _store, t) = setup();
    let event = extracted(&raw_bytes());
    let err = t.handle(PintaEvent::ProductionExtractedV1(event.clone()), &ctx_for(&event)).await.expect_err("fails");
    assert_eq!(err.0.code(), FailureCode::ObjectNotFound);
    assert!(!err.0.is_retryable());
    assert_eq!(err.0.object(), Some(event.raw.clone()));
}

#[tokio::test]
async fn changed_raw_object_is_an_object_conflict() {
    let (_dir, store, t) = setup();
    let raw = raw_bytes();
    let event = extracted(&raw);
    let mut changed = raw.clone();
    changed.extend_from_slice(b"07/01/2025;Esmalte;1;1;1;Eva\r\n");
    store.put_create(&event.raw.key, Bytes::from(changed)).await.expect("put raw");
    let err = t.handle(PintaEvent::ProductionExtractedV1(event.clone()), &ctx_for(&event)).await.expect_err("fails");
    assert_eq!(err.0.code(), FailureCode::ObjectConflict);
    assert!(!err.0.is_retryable());
    assert!(!store.exists(&layout::staging_key(day(), &event.raw.sha256)).await.expect("exists"));
}

#[tokio::test]
async fn different_existing_staging_object_is_an_object_conflict() {
    let (_dir, store, t) = setup();
    let raw = raw_bytes();
    let event = extracted(&raw);
    store.put_create(&event.raw.key, Bytes::from(raw.clone())).await.expect("put raw");
    store
        .put_create(&layout::staging_key(day(), &event.raw.sha256), Bytes::from_static(b"not arrow"))
        .await
        .expect("put staging");
    let err = t.handle(PintaEvent::ProductionExtractedV1(event.clone()), &ctx_for(&event)).await.expect_err("fails");
    assert_eq!(err.0.code(), FailureCode::ObjectConflict);
    assert!(!err.0.is_retryable());
}

#[tokio::test]
async fn events_it_does_not_consume_produce_nothing() {
    let (_dir, _store, t) = setup();
    let event = extracted(&raw_bytes());
    let ctx = ctx_for(&event);
    let other = PintaEvent::PipelineFailedV1(pinta_contracts::events::PipelineFailedV1 {
        production_date: None,
        stage: Stage::Extractor,
        code: FailureCode::Internal,
        message: "x".into(),
        retryable: false,
        attempts: 1,
        object: None,
        rows: None,
        caused_by: None,
        failed_at: Utc::now(),
    });
    assert!(t.handle(other, &ctx).await.expect("ignored").is_empty());
}

/// The store's failure mid-stream reaches the handler as a storage error, retryable as the store says.
#[tokio::test]
async fn store_failure_while_streaming_is_storage_unavailable() {
    use async_trait::async_trait;
    use pinta_platform::ports::{GetResult, ObjectMeta, PutOptions, StoreError};

    #[derive(Debug)]
    struct BrokenStream;
    #[async_trait]
    impl ObjectStore for BrokenStream {
        async fn put_opts(&self, key: &str, _: Bytes, _: PutOptions) -> Result<ObjectMeta, StoreError> {
            Err(StoreError::NotFound { key: key.into() })
        }
        async fn get(&self, key: &str) -> Result<GetResult, StoreError> {
            let meta = ObjectMeta { key: key.into(), size: 100, last_modified: Utc::now(), e_tag: None };
            let k = key.to_owned();
            let chunks: Vec<Result<Bytes, StoreError>> = vec![
                Ok(Bytes::from_static(b"a,b,c\n")),
                Err(StoreError::Io { key: k, source: std::io::Error::from(std::io::ErrorKind::ConnectionReset) }),
            ];
            Ok(GetResult { meta, body: Box::pin(futures::stream::iter(chunks)) })
        }
        async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
            Err(StoreError::NotFound { key: key.into() })
        }
        async fn list(&self, _: &str) -> Result<Vec<ObjectMeta>, StoreError> {
            Ok(Vec::new())
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
    }

    let clock = Arc::new(FixedClock::new(Utc::now()));
    let t = Transformer::new(Arc::new(BrokenStream), clock);
    let event = extracted(&raw_bytes());
    let err = t.handle(PintaEvent::ProductionExtractedV1(event.clone()), &ctx_for(&event)).await.expect_err("fails");
    assert_eq!(err.0.code(), FailureCode::StorageUnavailable);
    assert!(err.0.is_retryable());
}
