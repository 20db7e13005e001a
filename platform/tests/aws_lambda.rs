//! The Lambda SQS runner with real-shaped events (`aws_lambda_events` types, parsed from the JSON Lambda
//! sends): a batch with one good message, one unreadable message and one whose handling fails
//! transiently. Only the transient one is reported in `batchItemFailures`; the unreadable one is
//! dead-lettered and announced, and does not fail the batch. Also: an EventBridge scheduled event
//! parses into the type the extractor's Lambda serves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use chrono::{NaiveDate, Utc};
use pinta_contracts::events::{ObjectRef, ProductionExtractedV1};
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage};
use pinta_platform::embedded::{DirDeadLetterStore, InProcessBus, LocalObjectStore};
use pinta_platform::inbox::StoreInbox;
use pinta_platform::lambda::{LambdaQueue, handle_sqs_batch};
use pinta_platform::ports::{DeadLetterStore, EventReceiver, SystemClock};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::{EventHandler, Failure, HandlerContext, HandlerError, Runner};

#[derive(Debug, thiserror::Error)]
#[error("the object store is briefly unavailable")]
struct Flaky;

impl Failure for Flaky {
    fn code(&self) -> FailureCode {
        FailureCode::StorageUnavailable
    }
    fn is_retryable(&self) -> bool {
        true
    }
}

/// Fails transiently on the day 2025-03-02, succeeds otherwise.
struct Handler {
    calls: AtomicU32,
}

#[async_trait]
impl EventHandler for Handler {
    fn name(&self) -> &'static str {
        "transformer"
    }
    fn stage(&self) -> Stage {
        Stage::Transformer
    }
    fn accepts(&self) -> &'static [EventType] {
        &[EventType::ProductionExtractedV1]
    }
    async fn handle(&self, event: PintaEvent, _ctx: &HandlerContext) -> Result<Vec<Envelope>, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match event {
            PintaEvent::ProductionExtractedV1(e) if e.production_date == NaiveDate::from_ymd_opt(2025, 3, 2).unwrap() => {
                Err(Flaky.into())
            }
            _ => Ok(vec![]),
        }
    }
}

fn extracted(day: u32) -> Envelope {
    let ev = PintaEvent::ProductionExtractedV1(ProductionExtractedV1 {
        production_date: NaiveDate::from_ymd_opt(2025, 3, day).unwrap(),
        raw: ObjectRef { key: format!("crudos/produccion_raw_2025-03-0{day}.csv"), sha256: "0".repeat(64), size: 1 },
        rows: 1,
        catalog: None,
        origin: "test".into(),
        revision: 1,
        backfill: false,
    });
    Envelope::wrap("/pinta/extractor", &ev, &format!("day-{day}"), Utc::now(), None)
}

/// One record as Lambda delivers it from an SQS event source mapping.
fn record(id: &str, body: &str, event_type: &str) -> serde_json::Value {
    serde_json::json!({
        "messageId": id,
        "receiptHandle": format!("AQEB{id}=="),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1741000000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1741000000001"
        },
        "messageAttributes": {
            "type": { "stringValue": event_type, "stringListValues": [], "binaryListValues": [], "dataType": "String" }
        },
        "md5OfMessageAttributes": null,
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:pinta-dev-transformer",
        "awsRegion": "eu-west-1"
    })
}

#[tokio::test]
async fn one_transient_failure_in_a_batch_is_exactly_the_reported_batch_item_failure() {
    let dir = tempfile::tempdir().unwrap();
    let bus = InProcessBus::new();
    let watch = bus.subscribe("watch", &[EventType::PipelineFailedV1], Duration::from_secs(30));
    let dead_letters = Arc::new(DirDeadLetterStore::new(dir.path().join("dlq")));
    let runner = Runner {
        receiver: Arc::new(LambdaQueue::new("pinta-dev-transformer", None)),
        publisher: bus.publisher(),
        dead_letters: dead_letters.clone(),
        inbox: Arc::new(StoreInbox::new(Arc::new(LocalObjectStore::new(dir.path().join("data"))))),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy::default(),
        batch: 10,
        wait: Duration::from_secs(1),
        heartbeat: Duration::from_secs(20),
    };
    let event_json = serde_json::json!({ "Records": [
        record("good-1", &extracted(1).to_json(), "production.extracted.v1"),
        record("flaky-2", &extracted(2).to_json(), "production.extracted.v1"),
        record("poison-3", "{this is not a CloudEvent", "production.extracted.v1"),
    ]});
    let event: SqsEvent = serde_json::from_value(event_json).expect("a real-shaped SQS event parses");
    let handler = Handler { calls: AtomicU32::new(0) };
    let response = handle_sqs_batch(&runner, &handler, event).await;

    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, vec!["flaky-2"], "exactly the transiently failing message is left on the queue");
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(wire, serde_json::json!({ "batchItemFailures": [ { "itemIdentifier": "flaky-2" } ] }), "the response Lambda reads");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 2, "the unreadable body never reaches the handler");

    let letters = dead_letters.list(None).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].body, "{this is not a CloudEvent");
    assert_eq!(letters[0].code, "MALFORMED_MESSAGE");
    assert_eq!(letters[0].queue, "pinta-dev-transformer");
    let announced = watch.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(announced.len(), 1, "the dead letter is announced as pipeline.failed.v1");
}

#[test]
fn an_eventbridge_scheduled_event_parses() {
    let json = serde_json::json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2025-03-04T06:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/pinta-dev-extract"],
        "detail": {}
    });
    let event: EventBridgeEvent = serde_json::from_value(json).expect("scheduled event parses");
    assert_eq!(event.detail_type, "Scheduled Event");
    assert_eq!(event.source, "aws.events");
}
