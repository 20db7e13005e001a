//! The validator handler end to end against the embedded object store (a temp directory) and the
//! in-process bus: outputs, events, day record, a held day, redelivery, failures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use bytes::Bytes;
use chrono::{NaiveDate, TimeZone, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pinta_contracts::catalog::{Catalog, CatalogOperator, CatalogPaint};
use pinta_contracts::control::{DayRecord, DayStatus};
use pinta_contracts::events::{ObjectRef, ProductionTransformedV1};
use pinta_contracts::tables::{curated_schema, quarantine_schema, staging};
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, ReasonCode, Stage, layout, sha256_hex};
use pinta_platform::embedded::{InProcessBus, InProcessQueue, LocalObjectStore};
use pinta_platform::ports::{EventReceiver, FixedClock, ObjectStore, ObjectStoreExt};
use pinta_platform::runner::{EventHandler, Failure, HandlerContext};
use pinta_validator::{RuleSet, Validator, ValidatorError};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 10).unwrap()
}

/// One staging line: (date, paint, quantity, unit cost, cost) as raw text; typed values parsed here the
/// simple way the transformer would.
struct Line {
    date: &'static str,
    paint: &'static str,
    quantity: &'static str,
    unit_cost: &'static str,
    cost: &'static str,
    operator: &'static str,
}

fn line(
    date: &'static str,
    paint: &'static str,
    quantity: &'static str,
    unit_cost: &'static str,
    cost: &'static str,
    operator: &'static str,
) -> Line {
    Line { date, paint, quantity, unit_cost, cost, operator }
}

fn staging_file(lines: &[Line]) -> Vec<u8> {
    let parse_date = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok().map(|d| d.and_utc().timestamp_micros())
    };
    let text = |s: &str| {
        if s.is_empty() { None } else { Some(s.to_owned()) }
    };
    let mut errors = Vec::new();
    let mut qty = Vec::new();
    let mut unit = Vec::new();
    let mut cost = Vec::new();
    let mut computed = Vec::new();
    for l in lines {
        let mut e = Vec::new();
        if !l.date.is_empty() && parse_date(l.date).is_none() {
            e.push("UNPARSEABLE_DATE");
        }
        let q = l.quantity.parse::<i64>().ok();
        if !l.quantity.is_empty() && q.is_none() {
            e.push("UNPARSEABLE_QUANTITY");
        }
        let u = l.unit_cost.parse::<f64>().ok();
        if !l.unit_cost.is_empty() && u.is_none() {
            e.push("UNPARSEABLE_UNIT_COST");
        }
        let mut c = l.cost.parse::<f64>().ok();
        let mut was_computed = false;
        if let (true, Some(q), Some(u)) = (l.cost.is_empty(), q, u) {
            c = Some(q as f64 * u);
            was_computed = true;
        }
        qty.push(q);
        unit.push(u);
        cost.push(c);
        computed.push(was_computed);
        errors.push(e.join(","));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from((0..lines.len() as u64).map(|i| i + 2).collect::<Vec<_>>())),
        Arc::new(TimestampMicrosecondArray::from(lines.iter().map(|l| parse_date(l.date)).collect::<Vec<_>>())),
        Arc::new(StringArray::from(lines.iter().map(|l| Some(l.date)).collect::<Vec<_>>())),
        Arc::new(StringArray::from(lines.iter().map(|l| text(l.paint)).collect::<Vec<_>>())),
        Arc::new(StringArray::from(lines.iter().map(|l| Some(l.paint)).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(qty)),
        Arc::new(StringArray::from(lines.iter().map(|l| Some(l.quantity)).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(unit)),
        Arc::new(StringArray::from(lines.iter().map(|l| Some(l.unit_cost)).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(cost)),
        Arc::new(StringArray::from(lines.iter().map(|l| Some(l.cost)).collect::<Vec<_>>())),
        Arc::new(StringArray::from(lines.iter().map(|l| text(l.operator)).collect::<Vec<_>>())),
        Arc::new(StringArray::from(lines.iter().map(|l| Some(l.operator)).collect::<Vec<_>>())),
        Arc::new(BooleanArray::from(computed)),
        Arc::new(StringArray::from(errors)),
    ];
    let batch = RecordBatch::try_new(staging::schema(), columns).unwrap();
    let mut out = Vec::new();
    {
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &staging::schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }
    out
}

fn good_day() -> Vec<Line> {
    vec![
        line("2025-03-10 08:00:00", "Esmalte", "10", "2.5", "25", "Ana"),
        line("2025-03-10 09:00:00", "Látex", "20", "1.5", "", "Luis"),
        line("2025-03-10 10:00:00", "Esmalte", "-5", "2.5", "-12.5", "Ana"),
        line("2025-03-10 11:00:00", "Esmalte", "4", "2.5", "10", "Pedro"),
        line("2025-03-10 08:00:00", "Esmalte", "10", "2.5", "25", "Ana"),
        line("2025-03-10 12:00:00", "Látex", "8", "1.5", "12", "Luis"),
    ]
}

fn catalog() -> Catalog {
    Catalog {
        operators: vec![
            CatalogOperator { name: "Ana".into(), active: true },
            CatalogOperator { name: "Luis".into(), active: true },
        ],
        paint_types: vec![
            CatalogPaint { name: "Esmalte".into(), price_per_liter: 2.5 },
            CatalogPaint { name: "Látex".into(), price_per_liter: 1.5 },
        ],
    }
}

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<LocalObjectStore>,
    bus: Arc<InProcessBus>,
    observer: Arc<InProcessQueue>,
    validator: Validator,
}

fn env(rules: RuleSet) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalObjectStore::new(dir.path()));
    let bus = InProcessBus::new();
    let observer = bus.subscribe("observer", &[], Duration::from_secs(30));
    let clock = Arc::new(FixedClock::new(Utc.with_ymd_and_hms(2025, 3, 11, 6, 0, 0).unwrap()));
    let validator = Validator::new(store.clone(), bus.publisher(), clock, rules);
    Env { _dir: dir, store, bus, observer, validator }
}

async fn put(store: &LocalObjectStore, key: &str, bytes: Vec<u8>) -> ObjectRef {
    let r = ObjectRef { key: key.to_owned(), sha256: sha256_hex(&bytes), size: bytes.len() as u64 };
    store.put_idempotent(key, Bytes::from(bytes)).await.unwrap();
    r
}

/// Stages `lines` (and a catalogue) and returns the incoming event with its context.
async fn stage(env: &Env, lines: &[Line], with_catalog: bool) -> (PintaEvent, HandlerContext) {
    let raw_bytes = b"raw csv".to_vec();
    let raw = put(&env.store, &layout::raw_key(day()), raw_bytes).await;
    let staging = put(&env.store, &layout::staging_key(day(), &raw.sha256), staging_file(lines)).await;
    let catalog = if with_catalog {
        let bytes = catalog().to_canonical_json();
        Some(put(&env.store, &layout::catalog_key(&sha256_hex(&bytes)), bytes).await)
    } else {
        None
    };
    let payload = ProductionTransformedV1 {
        production_date: day(),
        raw,
        staging,
        rows: lines.len() as u64,
        rows_with_cell_errors: 0,
        rows_with_computed_cost: 0,
        encoding: "UTF-8".into(),
        delimiter: ",".into(),
        catalog,
        revision: 1,
        backfill: false,
    };
    let event = PintaEvent::ProductionTransformedV1(payload);
    let trace = TraceParent::from_seed(b"test");
    let envelope = Envelope::wrap("/pinta/transformer", &event, "t", Utc::now(), Some(trace));
    let ctx = HandlerContext { envelope, attempt: 1, traceparent: trace.child(b"validator") };
    (event, ctx)
}

async fn drain(q: &InProcessQueue) -> Vec<Envelope> {
    let mut out = Vec::new();
    loop {
        let batch = q.receive(10, Duration::from_millis(20)).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for m in batch {
            out.push(Envelope::from_json(&m.body).unwrap());
            q.ack(&m).await.unwrap();
        }
    }
}

async fn read_parquet(store: &LocalObjectStore, key: &str) -> (arrow_schema::SchemaRef, Vec<RecordBatch>, Bytes) {
    let bytes = store.get_bytes(key).await.unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
    let schema = builder.schema().clone();
    let batches = builder.build().unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    (schema, batches, bytes)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn same_fields(a: &arrow_schema::SchemaRef, b: &arrow_schema::SchemaRef) -> bool {
    let f = |s: &arrow_schema::SchemaRef| {
        s.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect::<Vec<_>>()
    };
    f(a) == f(b)
}

async fn day_record(store: &LocalObjectStore) -> DayRecord {
    serde_json::from_slice(&store.get_bytes(&layout::day_record_key(day())).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_day_is_split_published_and_recorded_and_redelivery_is_identical() {
    let env = env(RuleSet::default());
    let (event, ctx) = stage(&env, &good_day(), true).await;
    let out = env.validator.handle(event.clone(), &ctx).await.unwrap();
    assert!(out.is_empty(), "the validator publishes its own events");

    // Outputs: 3 good rows, 3 quarantined (negative, unknown operator, duplicate).
    let (cs, cb, curated_bytes) = read_parquet(&env.store, &layout::curated_key(day())).await;
    let (qs, qb, quarantine_bytes) = read_parquet(&env.store, &layout::quarantine_key(day())).await;
    assert!(same_fields(&cs, &curated_schema()));
    assert!(same_fields(&qs, &quarantine_schema()));
    assert_eq!(rows(&cb) + rows(&qb), 6, "row conservation");
    assert_eq!((rows(&cb), rows(&qb)), (3, 3));
    use arrow_array::cast::AsArray;
    let q = &qb[0];
    let lines: Vec<i64> = q.column(6).as_primitive::<arrow_array::types::Int64Type>().values().to_vec();
    assert_eq!(lines, vec![4, 5, 6]);
    let motives: Vec<&str> = q.column(7).as_string::<i32>().iter().map(|s| s.unwrap()).collect();
    assert_eq!(motives, vec!["NEGATIVE_QUANTITY", "UNKNOWN_OPERATOR", "DUPLICATE_ROW"]);
    assert_eq!(q.column(8).as_string::<i32>().value(0), "Cantidad negativa (-5)");

    // Events: quarantined first, then published.
    let events = drain(&env.observer).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["rows.quarantined.v1", "production.published.v1"]);
    assert!(events.iter().all(|e| e.source == "/pinta/validator" && e.subject.as_deref() == Some("2025-03-10")));
    assert!(events.iter().all(|e| e.traceparent.map(|t| t.trace_id) == Some(ctx.traceparent.trace_id)));
    let PintaEvent::RowsQuarantinedV1(rq) = events[0].decode().unwrap() else { panic!("not quarantined") };
    assert_eq!(rq.rows_in, 6);
    assert_eq!(rq.rows_quarantined, 3);
    assert!(!rq.held);
    assert_eq!(rq.ratio, 0.5);
    let expected: BTreeMap<ReasonCode, u64> =
        [(ReasonCode::NegativeQuantity, 1), (ReasonCode::UnknownOperator, 1), (ReasonCode::DuplicateRow, 1)]
            .into_iter()
            .collect();
    assert_eq!(rq.reasons, expected);
    assert_eq!(rq.liters_affected, -5 + 4 + 10);
    assert_eq!(rq.cost_affected, -12.5 + 10.0 + 25.0);
    assert_eq!(rq.samples.len(), 3);
    assert_eq!(rq.samples[0].values.get("Cantidad producida").map(String::as_str), Some("-5"));
    assert_eq!(rq.quarantine.sha256, sha256_hex(&quarantine_bytes));

    let PintaEvent::ProductionPublishedV1(pp) = events[1].decode().unwrap() else { panic!("not published") };
    assert_eq!((pp.rows_in, pp.rows_curated, pp.rows_quarantined), (6, 3, 3));
    assert_eq!(pp.kpis.liters, 10 + 20 + 8);
    assert_eq!(pp.kpis.total_cost, 25.0 + 30.0 + 12.0);
    assert_eq!((pp.kpis.operators, pp.kpis.paint_types, pp.kpis.rows), (2, 2, 3));
    assert_eq!(pp.curated.key, layout::curated_key(day()));
    assert_eq!(pp.curated.sha256, sha256_hex(&curated_bytes));
    assert_eq!(pp.curated.size, curated_bytes.len() as u64);
    assert_eq!(pp.quarantine.as_ref().map(|q| q.key.clone()), Some(layout::quarantine_key(day())));

    // The day record, written after the events.
    let record = day_record(&env.store).await;
    assert_eq!(record.status, DayStatus::Published);
    assert_eq!((record.rows_in, record.rows_curated, record.rows_quarantined), (6, 3, 3));
    assert_eq!(record.event_ids, events.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    assert_eq!(record.curated.as_ref(), Some(&pp.curated));

    // Redelivery: same files (no conflict), same event ids.
    env.validator.handle(event, &ctx).await.unwrap();
    let again = drain(&env.observer).await;
    assert_eq!(again.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), record.event_ids);
    assert_eq!(read_parquet(&env.store, &layout::curated_key(day())).await.2, curated_bytes);
    assert_eq!(read_parquet(&env.store, &layout::quarantine_key(day())).await.2, quarantine_bytes);
    assert_eq!(day_record(&env.store).await.event_ids, record.event_ids);
}

#[tokio::test]
async fn a_clean_day_writes_no_quarantine_file_and_no_quarantine_event() {
    let env = env(RuleSet::default());
    let lines = vec![
        line("2025-03-10 08:00:00", "Esmalte", "10", "2.5", "25", "Ana"),
        line("2025-03-10 09:00:00", "Látex", "20", "1.5", "30", "Pedro"),
    ];
    // No catalogue: Pedro is not checked.
    let (event, ctx) = stage(&env, &lines, false).await;
    env.validator.handle(event, &ctx).await.unwrap();
    assert!(!env.store.exists(&layout::quarantine_key(day())).await.unwrap());
    let (_, cb, _) = read_parquet(&env.store, &layout::curated_key(day())).await;
    assert_eq!(rows(&cb), 2);
    let events = drain(&env.observer).await;
    assert_eq!(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), vec!["production.published.v1"]);
    let record = day_record(&env.store).await;
    assert!(record.quarantine.is_none());
}

#[tokio::test]
async fn a_day_with_no_rows_is_still_published() {
    let env = env(RuleSet::default());
    let (event, ctx) = stage(&env, &[], true).await;
    env.validator.handle(event, &ctx).await.unwrap();
    let (cs, cb, _) = read_parquet(&env.store, &layout::curated_key(day())).await;
    assert!(same_fields(&cs, &curated_schema()));
    assert_eq!(rows(&cb), 0);
    let events = drain(&env.observer).await;
    assert_eq!(events.len(), 1);
    assert_eq!(day_record(&env.store).await.status, DayStatus::Published);
}

#[tokio::test]
async fn a_held_day_publishes_nothing_and_quarantines_every_row() {
    let env = env(RuleSet::default());
    let lines = vec![
        line("2025-03-10 08:00:00", "Esmalte", "10", "2.5", "25", "Ana"),
        line("2025-03-10 09:00:00", "Esmalte", "-1", "2.5", "-2.5", "Ana"),
        line("", "Esmalte", "3", "2.5", "7.5", "Ana"),
        line("2025-03-10 11:00:00", "Esmalte", "diez", "2.5", "", "Ana"),
    ];
    let (event, ctx) = stage(&env, &lines, true).await;
    env.validator.handle(event.clone(), &ctx).await.unwrap();

    assert!(!env.store.exists(&layout::curated_key(day())).await.unwrap(), "nothing in produccion/");
    let (_, qb, quarantine_bytes) = read_parquet(&env.store, &layout::quarantine_key(day())).await;
    assert_eq!(rows(&qb), 4);
    use arrow_array::cast::AsArray;
    let motives: Vec<&str> = qb[0].column(7).as_string::<i32>().iter().map(|s| s.unwrap()).collect();
    assert_eq!(motives, vec!["DAY_HELD", "NEGATIVE_QUANTITY", "MISSING_DATE", "UNPARSEABLE_QUANTITY"]);

    let events = drain(&env.observer).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["rows.quarantined.v1", "pipeline.failed.v1"]);
    let PintaEvent::RowsQuarantinedV1(rq) = events[0].decode().unwrap() else { panic!() };
    assert!(rq.held);
    assert_eq!(rq.rows_quarantined, 4);
    assert_eq!(rq.reasons.get(&ReasonCode::DayHeld), Some(&1));
    let PintaEvent::PipelineFailedV1(f) = events[1].decode().unwrap() else { panic!() };
    assert_eq!(f.stage, Stage::Validator);
    assert_eq!(f.code, FailureCode::DayHeld);
    assert!(!f.retryable);
    assert_eq!(f.rows, Some(4));
    assert_eq!(f.production_date, Some(day()));
    assert_eq!(f.caused_by.as_ref().map(|c| c.id.clone()), Some(ctx.envelope.id.clone()));
    assert_eq!(f.object.as_ref().map(|o| o.sha256.clone()), Some(sha256_hex(&quarantine_bytes)));

    let record = day_record(&env.store).await;
    assert_eq!(record.status, DayStatus::Held);
    assert!(record.curated.is_none());
    assert_eq!((record.rows_in, record.rows_curated, record.rows_quarantined), (4, 0, 4));

    env.validator.handle(event, &ctx).await.unwrap();
    let again = drain(&env.observer).await;
    assert_eq!(again.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), record.event_ids);
}

#[tokio::test]
async fn failures_are_classified() {
    let env = env(RuleSet::default());
    let (event, ctx) = stage(&env, &good_day(), true).await;
    let PintaEvent::ProductionTransformedV1(payload) = &event else { panic!() };

    // Staging missing: permanent OBJECT_NOT_FOUND naming the object.
    let mut missing = payload.clone();
    missing.staging.key = "staging/transformed/2025-03-10/nope.arrow".into();
    let e = env.validator.process(&missing, &ctx).await.unwrap_err();
    assert_eq!(e.code(), FailureCode::ObjectNotFound);
    assert!(!e.is_retryable());
    assert_eq!(e.object().map(|o| o.key), Some(missing.staging.key.clone()));

    // Catalogue missing.
    let mut no_catalog = payload.clone();
    no_catalog.catalog = Some(ObjectRef { key: "catalogos/catalogo_x.json".into(), sha256: "x".into(), size: 1 });
    assert_eq!(env.validator.process(&no_catalog, &ctx).await.unwrap_err().code(), FailureCode::ObjectNotFound);

    // Not an Arrow file: permanent UNREADABLE_INPUT.
    let junk = put(&env.store, "staging/transformed/2025-03-10/junk.arrow", b"not arrow".to_vec()).await;
    let mut unreadable = payload.clone();
    unreadable.staging = junk;
    let e = env.validator.process(&unreadable, &ctx).await.unwrap_err();
    assert!(matches!(e, ValidatorError::UnreadableStaging { .. }), "{e:?}");
    assert_eq!(e.code(), FailureCode::UnreadableInput);
    assert!(!e.is_retryable());

    // The staging object's bytes are not the ones the event announced: permanent, nothing validated.
    let mut tampered = payload.clone();
    tampered.staging.sha256 = "0".repeat(64);
    let e = env.validator.process(&tampered, &ctx).await.unwrap_err();
    assert!(matches!(&e, ValidatorError::StagingChecksum { found, .. } if *found == payload.staging.sha256), "{e:?}");
    assert_eq!(e.code(), FailureCode::UnreadableInput);
    assert!(!e.is_retryable());

    // A different curated file already there: permanent OBJECT_CONFLICT, nothing published.
    env.store.put_create(&layout::curated_key(day()), Bytes::from_static(b"other")).await.unwrap();
    let e = env.validator.process(payload, &ctx).await.unwrap_err();
    assert_eq!(e.code(), FailureCode::ObjectConflict);
    assert!(!e.is_retryable());
    assert!(drain(&env.observer).await.is_empty());
    assert!(!env.store.exists(&layout::day_record_key(day())).await.unwrap());
}

#[tokio::test]
async fn a_publish_failure_is_retryable_and_leaves_no_day_record() {
    let env = env(RuleSet::default());
    let (event, ctx) = stage(&env, &good_day(), true).await;
    env.bus.close();
    let PintaEvent::ProductionTransformedV1(payload) = &event else { panic!() };
    let e = env.validator.process(payload, &ctx).await.unwrap_err();
    assert_eq!(e.code(), FailureCode::PublishFailed);
    assert!(e.is_retryable());
    assert!(!env.store.exists(&layout::day_record_key(day())).await.unwrap());
    // Through the handler trait the failure is a HandlerError carrying the same classification.
    let err = env.validator.handle(event, &ctx).await.unwrap_err();
    assert_eq!(err.0.code(), FailureCode::PublishFailed);
}

#[tokio::test]
async fn the_handler_declares_itself() {
    let env = env(RuleSet::default());
    assert_eq!(env.validator.name(), "validator");
    assert_eq!(env.validator.stage(), Stage::Validator);
    assert_eq!(env.validator.accepts(), &[EventType::ProductionTransformedV1]);
    // Unused store method keeps the trait object honest.
    let _: &dyn ObjectStore = env.store.as_ref();
}
