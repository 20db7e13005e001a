//! The AWS adapters against `moto_server` (started here, on a free loopback port) through the real
//! `aws-sdk-*` clients: the shared conformance suites, SNS→SQS filter policies, the redrive policy
//! moving a poison message to the DLQ, and visibility extension keeping a slow message in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use pinta_contracts::events::{ObjectRef, PipelineFailedV1, ProductionExtractedV1, ProductionTransformedV1};
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage};
use pinta_platform::aws::bootstrap::{create_queue, create_queue_with_dlq, create_topic, subscribe_queue};
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::{S3ObjectStore, SnsPublisher, SqsDeadLetterStore, SqsPublisher, SqsReceiver};
use pinta_platform::conformance;
use pinta_platform::embedded::{DirDeadLetterStore, LocalObjectStore};
use pinta_platform::inbox::StoreInbox;
use pinta_platform::ports::{DeadLetterStore, EventPublisher, EventReceiver, ObjectStoreExt, StoreError, SystemClock};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::{Disposition, EventHandler, HandlerContext, HandlerError, Runner};

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("these tests need moto_server: {e}"))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 4).unwrap()
}

fn raw_ref() -> ObjectRef {
    ObjectRef { key: "crudos/produccion_raw_2025-03-04.csv".into(), sha256: "0".repeat(64), size: 1 }
}

fn extracted(tag: &str) -> Envelope {
    let ev = PintaEvent::ProductionExtractedV1(ProductionExtractedV1 {
        production_date: day(),
        raw: raw_ref(),
        rows: 1,
        catalog: None,
        origin: "test".into(),
        revision: 1,
        backfill: false,
    });
    Envelope::wrap("/pinta/extractor", &ev, tag, Utc::now(), None)
}

fn transformed(tag: &str) -> Envelope {
    let ev = PintaEvent::ProductionTransformedV1(ProductionTransformedV1 {
        production_date: day(),
        raw: raw_ref(),
        staging: raw_ref(),
        rows: 1,
        rows_with_cell_errors: 0,
        rows_with_computed_cost: 0,
        encoding: "UTF-8".into(),
        delimiter: ";".into(),
        catalog: None,
        revision: 1,
        backfill: false,
    });
    Envelope::wrap("/pinta/transformer", &ev, tag, Utc::now(), None)
}

fn failed(tag: &str) -> Envelope {
    let ev = PintaEvent::PipelineFailedV1(PipelineFailedV1 {
        production_date: Some(day()),
        stage: Stage::Transformer,
        code: FailureCode::Internal,
        message: "test".into(),
        retryable: false,
        attempts: 1,
        object: None,
        rows: None,
        caused_by: None,
        failed_at: Utc::now(),
    });
    Envelope::wrap("/pinta/transformer", &ev, tag, Utc::now(), None)
}

/// Receives until `n` messages have arrived (or `limit` passes), then checks nothing else is waiting.
async fn drain(receiver: &SqsReceiver, n: usize) -> Vec<Envelope> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n && tokio::time::Instant::now() < deadline {
        for m in receiver.receive(10, Duration::from_secs(1)).await.expect("receive") {
            out.push(Envelope::from_json(&m.body).expect("body is the CloudEvents JSON (raw delivery)"));
            assert_eq!(m.attributes.get("type"), Some(&out.last().unwrap().event_type), "type attribute");
            receiver.ack(&m).await.expect("ack");
        }
    }
    let extra = receiver.receive(10, Duration::from_secs(2)).await.expect("receive");
    assert!(extra.is_empty(), "unexpected extra messages on {}: {:?}", receiver.name(), extra);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_object_store_passes_the_conformance_suite() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let store = S3ObjectStore::new(&sdk, unique("bucket"), true);
    store.ensure_bucket().await.expect("create bucket");
    conformance::object_store(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_create_only_write_refuses_a_second_writer() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let bucket = unique("bucket");
    let first = S3ObjectStore::new(&sdk, &bucket, true);
    first.ensure_bucket().await.expect("create bucket");
    // A second, independent client: another process writing the same key.
    let second = S3ObjectStore::new(&moto.sdk_config().await, &bucket, true);
    let key = "curado/year=2025/month=03/produccion_2025-03-04.parquet";
    first.put_create(key, bytes::Bytes::from_static(b"first")).await.expect("first writer");
    match second.put_create(key, bytes::Bytes::from_static(b"second")).await {
        Err(StoreError::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("second writer must be refused with AlreadyExists, got {other:?}"),
    }
    assert_eq!(second.get_bytes(key).await.expect("get").as_ref(), b"first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_to_sqs_passes_the_event_bus_conformance_suite() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = create_topic(&sns, &unique("pipeline")).await.expect("topic");
    let pair = create_queue_with_dlq(&sqs, &unique("consumer"), Duration::from_secs(30), 5).await.expect("queue");
    subscribe_queue(&sns, &sqs, &topic, (&pair.queue_url, &pair.queue_arn), Some(&[EventType::ProductionExtractedV1]))
        .await
        .expect("subscribe");
    let publisher = SnsPublisher::new(&sdk, &topic);
    let receiver = SqsReceiver::new(&sdk, &pair.queue_url);
    conformance::event_bus(&publisher, &receiver).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_direct_passes_the_event_bus_conformance_suite() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let pair = create_queue_with_dlq(&sqs, &unique("direct"), Duration::from_secs(30), 5).await.expect("queue");
    conformance::event_bus(&SqsPublisher::new(&sdk, &pair.queue_url), &SqsReceiver::new(&sdk, &pair.queue_url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_dead_letter_store_passes_the_conformance_suite() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (url, _) = create_queue(&sqs, &unique("dlq"), &[]).await.expect("queue");
    conformance::dead_letter_store(&SqsDeadLetterStore::new(&sdk, &url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_filter_policy_delivers_only_the_subscribed_types() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = create_topic(&sns, &unique("pipeline")).await.expect("topic");
    let public = create_topic(&sns, &unique("public")).await.expect("public topic");
    let mk = |name: &'static str| {
        let sqs = sqs.clone();
        async move { create_queue_with_dlq(&sqs, &unique(name), Duration::from_secs(30), 5).await.expect("queue") }
    };
    let transformer = mk("transformer").await;
    let notifier = mk("notifier").await;
    let public_q = mk("public-watch").await;
    subscribe_queue(&sns, &sqs, &topic, (&transformer.queue_url, &transformer.queue_arn), Some(&[EventType::ProductionExtractedV1]))
        .await
        .expect("subscribe");
    subscribe_queue(
        &sns,
        &sqs,
        &topic,
        (&notifier.queue_url, &notifier.queue_arn),
        Some(&[EventType::PipelineFailedV1, EventType::RowsQuarantinedV1]),
    )
    .await
    .expect("subscribe");
    subscribe_queue(&sns, &sqs, &public, (&public_q.queue_url, &public_q.queue_arn), None).await.expect("subscribe");

    let publisher = SnsPublisher::new(&sdk, &topic).with_public_topic(Some(public.clone()));
    let (e, t, f) = (extracted(&unique("e")), transformed(&unique("t")), failed(&unique("f")));
    for env in [&e, &t, &f] {
        publisher.publish(env).await.expect("publish");
    }
    let got = drain(&SqsReceiver::new(&sdk, &transformer.queue_url), 1).await;
    assert_eq!(got, vec![e.clone()], "the transformer queue gets only production.extracted.v1");
    let got = drain(&SqsReceiver::new(&sdk, &notifier.queue_url), 1).await;
    assert_eq!(got, vec![f.clone()], "the notifier queue gets only pipeline.failed.v1");
    // None of these three is a public type: the public topic stays silent.
    let got = drain(&SqsReceiver::new(&sdk, &public_q.queue_url), 0).await;
    assert!(got.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_moves_a_poison_message_to_the_dlq_after_n_receives() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let pair = create_queue_with_dlq(&sqs, &unique("poison"), Duration::from_secs(30), 2).await.expect("queue");
    let queue = SqsReceiver::new(&sdk, &pair.queue_url);
    let poison = extracted(&unique("poison"));
    SqsPublisher::new(&sdk, &pair.queue_url).publish(&poison).await.expect("send");

    // Two failed attempts: received, then made visible again at once.
    let mut counts = Vec::new();
    for attempt in 1..=2u32 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let m = loop {
            let got = queue.receive(1, Duration::from_secs(1)).await.expect("receive");
            if let Some(m) = got.into_iter().next() {
                break m;
            }
            assert!(tokio::time::Instant::now() < deadline, "attempt {attempt}: the message did not come back");
        };
        counts.push(m.receive_count);
        queue.retry_later(&m, Duration::ZERO).await.expect("retry_later");
    }
    assert_eq!(counts, vec![1, 2], "receive counts of the two attempts");
    // The third receive finds the main queue empty: SQS moved the message to the DLQ.
    let third = queue.receive(10, Duration::from_secs(2)).await.expect("receive");
    assert!(third.is_empty(), "after maxReceiveCount receives the message must leave the queue, got {third:?}");

    let dlq = SqsDeadLetterStore::new(&sdk, &pair.dlq_url);
    let letters = dlq.list(None).await.expect("list DLQ");
    assert_eq!(letters.len(), 1, "exactly the poison message is in the DLQ: {letters:?}");
    let letter = &letters[0];
    assert_eq!(Envelope::from_json(&letter.body).expect("body kept"), poison);
    assert_eq!(letter.attributes.get("type").map(String::as_str), Some("production.extracted.v1"));
    assert_eq!(letter.code, "INTERNAL");
    // Listing does not consume: it is still there, and can be removed by id.
    assert_eq!(dlq.get(&letter.id).await.expect("get").body, letter.body);
    dlq.remove(&letter.id).await.expect("remove");
    assert!(dlq.list(None).await.expect("list").is_empty());
}

/// A handler that works slower than the queue's visibility timeout.
struct Slow {
    calls: AtomicU32,
    work: Duration,
}

#[async_trait]
impl EventHandler for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn stage(&self) -> Stage {
        Stage::Transformer
    }
    fn accepts(&self) -> &'static [EventType] {
        &[EventType::ProductionExtractedV1]
    }
    async fn handle(&self, _event: PintaEvent, _ctx: &HandlerContext) -> Result<Vec<Envelope>, HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.work).await;
        Ok(vec![])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_extension_keeps_a_slow_message_from_being_redelivered() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // Visibility timeout 2 s; the handler takes 7 s.
    let pair = create_queue_with_dlq(&sqs, &unique("slow"), Duration::from_secs(2), 5).await.expect("queue");
    SqsPublisher::new(&sdk, &pair.queue_url).publish(&extracted(&unique("slow"))).await.expect("send");
    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(SqsReceiver::new(&sdk, &pair.queue_url));
    let runner = Runner {
        receiver: receiver.clone(),
        publisher: Arc::new(SqsPublisher::new(&sdk, &pair.dlq_url)),
        dead_letters: Arc::new(DirDeadLetterStore::new(dir.path().join("dlq"))),
        inbox: Arc::new(StoreInbox::new(Arc::new(LocalObjectStore::new(dir.path().join("data"))))),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy::default(),
        batch: 1,
        wait: Duration::from_secs(1),
        heartbeat: Duration::from_millis(500),
    };
    let handler = Slow { calls: AtomicU32::new(0), work: Duration::from_secs(7) };
    let message = loop {
        if let Some(m) = receiver.receive(1, Duration::from_secs(1)).await.expect("receive").into_iter().next() {
            break m;
        }
    };
    // A competing consumer polls the same queue for the whole time the message is being worked on.
    let competitor = SqsReceiver::new(&sdk, &pair.queue_url);
    let stop = tokio_util::sync::CancellationToken::new();
    let poll = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut stolen = Vec::new();
            while !stop.is_cancelled() {
                match competitor.receive(10, Duration::from_secs(1)).await {
                    Ok(ms) => stolen.extend(ms),
                    Err(e) => panic!("competitor receive failed: {e}"),
                }
            }
            stolen
        })
    };
    let disposition = runner.process(&handler, message).await;
    stop.cancel();
    let stolen = poll.await.expect("competitor task");
    assert_eq!(disposition, Disposition::Done);
    assert!(stolen.is_empty(), "the message was redelivered while in flight: {stolen:?}");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);
    // Acked: it does not come back after the visibility timeout either.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.receive(10, Duration::from_secs(1)).await.expect("receive").is_empty(), "acked message came back");
}
