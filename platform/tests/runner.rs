//! The runner driven by the real embedded adapters: the in-process bus, the dead-letter folder and the
//! object-store inbox over a local directory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use pinta_contracts::events::{ObjectRef, ProductionExtractedV1, ProductionTransformedV1};
use pinta_contracts::{Envelope, EventType, FailureCode, PintaEvent, Stage};
use pinta_platform::embedded::{DirDeadLetterStore, InProcessBus, InProcessQueue, LocalObjectStore};
use pinta_platform::inbox::StoreInbox;
use pinta_platform::ports::bus::{ReplayError, replay_dead_letter};
use pinta_platform::ports::{DeadLetterStore, EventPublisher, EventReceiver, Message, SystemClock};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::{Disposition, EventHandler, Failure, HandlerContext, HandlerError, Runner};
use tokio_util::sync::CancellationToken;

// ---------- a test handler ----------

#[derive(Debug, thiserror::Error)]
#[error("test handler failed ({code})")]
struct TestFailure {
    code: FailureCode,
    retryable: bool,
}

impl Failure for TestFailure {
    fn code(&self) -> FailureCode {
        self.code
    }
    fn is_retryable(&self) -> bool {
        self.retryable
    }
    fn object(&self) -> Option<ObjectRef> {
        Some(raw_ref())
    }
}

#[derive(Debug, Clone, Copy)]
enum Script {
    /// Fail transiently this many times, then succeed.
    TransientThenOk(u32),
    AlwaysTransient,
    Permanent,
}

/// Turns `production.extracted.v1` into `production.transformed.v1`, failing as scripted.
struct Transformer {
    script: Script,
    calls: AtomicU32,
}

impl Transformer {
    fn new(script: Script) -> Arc<Transformer> {
        Arc::new(Transformer { script, calls: AtomicU32::new(0) })
    }
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EventHandler for Transformer {
    fn name(&self) -> &'static str {
        "transformer"
    }
    fn stage(&self) -> Stage {
        Stage::Transformer
    }
    fn accepts(&self) -> &'static [EventType] {
        &[EventType::ProductionExtractedV1]
    }
    async fn handle(&self, event: PintaEvent, ctx: &HandlerContext) -> Result<Vec<Envelope>, HandlerError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match self.script {
            Script::TransientThenOk(n) if call <= n => {
                return Err(TestFailure { code: FailureCode::StorageUnavailable, retryable: true }.into());
            }
            Script::AlwaysTransient => {
                return Err(TestFailure { code: FailureCode::StorageUnavailable, retryable: true }.into());
            }
            Script::Permanent => return Err(TestFailure { code: FailureCode::UnreadableInput, retryable: false }.into()),
            Script::TransientThenOk(_) => {}
        }
        let PintaEvent::ProductionExtractedV1(input) = event else {
            return Err(TestFailure { code: FailureCode::Internal, retryable: false }.into());
        };
        let out = PintaEvent::ProductionTransformedV1(ProductionTransformedV1 {
            production_date: input.production_date,
            raw: input.raw.clone(),
            staging: ObjectRef { key: "staging/transformed/x.arrow".into(), sha256: "cd".repeat(32), size: 1 },
            rows: input.rows,
            rows_with_cell_errors: 0,
            rows_with_computed_cost: 0,
            encoding: "UTF-8".into(),
            delimiter: ",".into(),
            catalog: None,
            revision: 1,
            backfill: false,
        });
        Ok(vec![Envelope::wrap("/pinta/transformer", &out, &input.raw.sha256, Utc::now(), Some(ctx.traceparent))])
    }
}

// ---------- wiring ----------

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 7).unwrap()
}

fn raw_ref() -> ObjectRef {
    ObjectRef { key: "crudos/produccion_raw_2025-01-07.csv".into(), sha256: "ab".repeat(32), size: 10 }
}

fn extracted(tag: &str) -> Envelope {
    let ev = PintaEvent::ProductionExtractedV1(ProductionExtractedV1 {
        production_date: day(),
        raw: raw_ref(),
        rows: 3,
        catalog: None,
        origin: "sqlite".into(),
        revision: 1,
        backfill: false,
    });
    Envelope::wrap("/pinta/extractor", &ev, tag, Utc::now(), None)
}

struct Harness {
    bus: Arc<InProcessBus>,
    queue: Arc<InProcessQueue>,
    tap: Arc<InProcessQueue>,
    dlq: Arc<DirDeadLetterStore>,
    runner: Runner,
    _dir: tempfile::TempDir,
}

fn harness(retry: RetryPolicy) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let bus = InProcessBus::new();
    let tap = bus.subscribe("tap", &[], Duration::from_secs(30));
    let queue = bus.subscribe("transformer", &[EventType::ProductionExtractedV1], Duration::from_secs(30));
    let store = Arc::new(LocalObjectStore::new(dir.path().join("bucket")));
    let dlq = Arc::new(DirDeadLetterStore::new(dir.path().join("dlq")));
    let runner = Runner {
        receiver: queue.clone(),
        publisher: bus.publisher(),
        dead_letters: dlq.clone(),
        inbox: Arc::new(StoreInbox::new(store)),
        clock: Arc::new(SystemClock),
        retry,
        batch: 10,
        wait: Duration::from_millis(100),
        heartbeat: Duration::from_secs(5),
    };
    Harness { bus, queue, tap, dlq, runner, _dir: dir }
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy { max_attempts, base: Duration::from_millis(10), max: Duration::from_millis(40) }
}

impl Harness {
    /// The next message on the runner's queue (waits through retry delays).
    async fn next(&self) -> Message {
        let mut got = self.queue.receive(1, Duration::from_secs(10)).await.unwrap();
        assert_eq!(got.len(), 1, "a message should arrive on the runner's queue");
        got.remove(0)
    }

    /// Everything published so far, as envelopes (drains the tap).
    async fn published(&self) -> Vec<Envelope> {
        let mut out = Vec::new();
        loop {
            let batch = self.tap.receive(100, Duration::from_millis(100)).await.unwrap();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                out.push(Envelope::from_json(&m.body).unwrap());
                self.tap.ack(&m).await.unwrap();
            }
        }
    }
}

fn of_type<'a>(envs: &'a [Envelope], t: EventType) -> Vec<&'a Envelope> {
    envs.iter().filter(|e| e.event_type == t.as_str()).collect()
}

fn failure_of(env: &Envelope) -> pinta_contracts::events::PipelineFailedV1 {
    match env.decode().unwrap() {
        PintaEvent::PipelineFailedV1(f) => f,
        other => panic!("not a failure event: {other:?}"),
    }
}

// ---------- tests ----------

#[tokio::test]
async fn a_poison_body_is_dead_lettered_and_announced() {
    let h = harness(fast_retry(5));
    let handler = Transformer::new(Script::TransientThenOk(0));
    let mut attributes = BTreeMap::new();
    attributes.insert("type".to_owned(), "production.extracted.v1".to_owned());
    h.queue.send("{not json".into(), attributes);

    let d = h.runner.process(handler.as_ref(), h.next().await).await;
    assert_eq!(d, Disposition::DeadLettered(FailureCode::MalformedMessage));
    assert_eq!(handler.calls(), 0);
    assert_eq!(h.queue.depth(), 0, "the poison message is acknowledged");

    let letters = h.dlq.list(Some("transformer")).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].code, "MALFORMED_MESSAGE");
    assert_eq!(letters[0].body, "{not json", "kept as it arrived");
    assert_eq!(letters[0].queue, "transformer");

    let published = h.published().await;
    let failures = of_type(&published, EventType::PipelineFailedV1);
    assert_eq!(failures.len(), 1, "published: {published:?}");
    let f = failure_of(failures[0]);
    assert_eq!((f.code, f.stage, f.retryable, f.attempts), (FailureCode::MalformedMessage, Stage::Transformer, false, 1));
    assert!(f.caused_by.is_none());

    // It cannot be replayed, and stays in the store.
    match replay_dead_letter(h.dlq.as_ref(), h.bus.as_ref(), &letters[0].id).await {
        Err(ReplayError::Undecodable { .. }) => {}
        other => panic!("expected Undecodable, got {other:?}"),
    }
    assert!(h.dlq.get(&letters[0].id).await.is_ok());
}

#[tokio::test]
async fn an_unknown_event_version_is_dead_lettered() {
    let h = harness(fast_retry(5));
    let handler = Transformer::new(Script::TransientThenOk(0));
    let mut env = extracted("v9");
    env.event_type = "production.published.v9".into();
    h.queue.send(env.to_json(), BTreeMap::new());

    let d = h.runner.process(handler.as_ref(), h.next().await).await;
    assert_eq!(d, Disposition::DeadLettered(FailureCode::UnknownEventType));
    assert_eq!(handler.calls(), 0);
    let letters = h.dlq.list(None).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].code, "UNKNOWN_EVENT_TYPE");
    assert!(letters[0].reason.contains("v9"), "reason: {}", letters[0].reason);
    let published = h.published().await;
    let failures = of_type(&published, EventType::PipelineFailedV1);
    assert_eq!(failures.len(), 1);
    let f = failure_of(failures[0]);
    assert_eq!(f.code, FailureCode::UnknownEventType);
    assert_eq!(f.caused_by.map(|c| c.id), Some(env.id));
    assert_eq!(f.production_date, Some(day()));
}

#[tokio::test]
async fn transient_failures_are_retried_then_succeed_once() {
    let h = harness(fast_retry(5));
    let handler = Transformer::new(Script::TransientThenOk(2));
    h.bus.publish(&extracted("retry-then-ok")).await.unwrap();

    let first = h.next().await;
    assert!(matches!(h.runner.process(handler.as_ref(), first).await, Disposition::RetryLater(_)));
    let second = h.next().await;
    assert_eq!(second.receive_count, 2);
    assert!(matches!(h.runner.process(handler.as_ref(), second).await, Disposition::RetryLater(_)));
    let third = h.next().await;
    assert_eq!(third.receive_count, 3);
    assert_eq!(h.runner.process(handler.as_ref(), third).await, Disposition::Done);

    assert_eq!(handler.calls(), 3);
    assert_eq!(h.queue.depth(), 0);
    let published = h.published().await;
    assert_eq!(of_type(&published, EventType::ProductionTransformedV1).len(), 1, "output published once");
    assert!(of_type(&published, EventType::PipelineFailedV1).is_empty(), "no failure announced");
    assert!(h.dlq.list(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn persistent_transient_failures_are_dead_lettered_after_max_attempts() {
    let h = harness(fast_retry(3));
    let handler = Transformer::new(Script::AlwaysTransient);
    let env = extracted("always-transient");
    h.bus.publish(&env).await.unwrap();

    let mut dispositions = Vec::new();
    for _ in 0..3 {
        let m = h.next().await;
        dispositions.push(h.runner.process(handler.as_ref(), m).await);
    }
    assert!(matches!(dispositions[0], Disposition::RetryLater(_)));
    assert!(matches!(dispositions[1], Disposition::RetryLater(_)));
    assert_eq!(dispositions[2], Disposition::DeadLettered(FailureCode::StorageUnavailable));
    assert_eq!(handler.calls(), 3);
    assert_eq!(h.queue.depth(), 0);

    let letters = h.dlq.list(Some("transformer")).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].code.as_str(), letters[0].receive_count), ("STORAGE_UNAVAILABLE", 3));
    let published = h.published().await;
    let failures = of_type(&published, EventType::PipelineFailedV1);
    assert_eq!(failures.len(), 1);
    let f = failure_of(failures[0]);
    assert!(f.retryable, "a transient cause is reported as retryable");
    assert_eq!(f.attempts, 3);
    assert_eq!(f.object, Some(raw_ref()));
    assert_eq!(f.caused_by.map(|c| c.id), Some(env.id));
    assert!(of_type(&published, EventType::ProductionTransformedV1).is_empty());
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_once() {
    let h = harness(fast_retry(5));
    let handler = Transformer::new(Script::Permanent);
    h.bus.publish(&extracted("permanent")).await.unwrap();

    let d = h.runner.process(handler.as_ref(), h.next().await).await;
    assert_eq!(d, Disposition::DeadLettered(FailureCode::UnreadableInput));
    assert_eq!(handler.calls(), 1);
    assert_eq!(h.queue.depth(), 0);
    let letters = h.dlq.list(None).await.unwrap();
    assert_eq!((letters.len(), letters[0].receive_count), (1, 1));
    let published = h.published().await;
    let failures = of_type(&published, EventType::PipelineFailedV1);
    assert_eq!(failures.len(), 1);
    let f = failure_of(failures[0]);
    assert!(!f.retryable);
    assert_eq!((f.code, f.attempts), (FailureCode::UnreadableInput, 1));
}

#[tokio::test]
async fn a_duplicate_delivery_is_handled_once() {
    let h = harness(fast_retry(5));
    let handler = Transformer::new(Script::TransientThenOk(0));
    let env = extracted("duplicate");
    h.bus.publish(&env).await.unwrap();
    h.bus.publish(&env).await.unwrap();
    assert_eq!(h.queue.depth(), 2);

    assert_eq!(h.runner.process(handler.as_ref(), h.next().await).await, Disposition::Done);
    assert_eq!(h.runner.process(handler.as_ref(), h.next().await).await, Disposition::Done);
    assert_eq!(handler.calls(), 1, "the inbox stops the second delivery");
    assert_eq!(h.queue.depth(), 0, "both deliveries acknowledged");
    let published = h.published().await;
    assert_eq!(of_type(&published, EventType::ProductionTransformedV1).len(), 1, "output published once");
}

#[tokio::test]
async fn events_for_other_handlers_are_ignored() {
    let h = harness(fast_retry(5));
    let handler = Transformer::new(Script::TransientThenOk(0));
    let out = PintaEvent::ProductionTransformedV1(ProductionTransformedV1 {
        production_date: day(),
        raw: raw_ref(),
        staging: raw_ref(),
        rows: 1,
        rows_with_cell_errors: 0,
        rows_with_computed_cost: 0,
        encoding: "UTF-8".into(),
        delimiter: ",".into(),
        catalog: None,
        revision: 1,
        backfill: false,
    });
    let env = Envelope::wrap("/pinta/transformer", &out, "x", Utc::now(), None);
    h.queue.send(env.to_json(), BTreeMap::new());
    assert_eq!(h.runner.process(handler.as_ref(), h.next().await).await, Disposition::Ignored);
    assert_eq!((handler.calls(), h.queue.depth()), (0, 0));
}

#[tokio::test]
async fn a_dead_letter_can_be_replayed() {
    let h = harness(fast_retry(5));
    let failing = Transformer::new(Script::Permanent);
    let env = extracted("replay");
    h.bus.publish(&env).await.unwrap();
    assert_eq!(
        h.runner.process(failing.as_ref(), h.next().await).await,
        Disposition::DeadLettered(FailureCode::UnreadableInput)
    );
    let letters = h.dlq.list(None).await.unwrap();
    assert_eq!(letters.len(), 1);
    h.published().await;

    let replayed = replay_dead_letter(h.dlq.as_ref(), h.bus.as_ref(), &letters[0].id).await.unwrap();
    assert_eq!(replayed, env);
    assert!(h.dlq.list(None).await.unwrap().is_empty(), "removed after replay");
    assert!(h.dlq.get(&letters[0].id).await.is_err());

    // The fixed handler now processes it.
    let fixed = Transformer::new(Script::TransientThenOk(0));
    let m = h.next().await;
    assert_eq!(Envelope::from_json(&m.body).unwrap(), env);
    assert_eq!(h.runner.process(fixed.as_ref(), m).await, Disposition::Done);
    assert_eq!(fixed.calls(), 1);
    let published = h.published().await;
    assert_eq!(published.iter().filter(|e| e.id == env.id).count(), 1, "the replayed event went through the bus");
    assert_eq!(of_type(&published, EventType::ProductionTransformedV1).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_loop_processes_retries_and_stops_on_shutdown() {
    let h = harness(fast_retry(5));
    let handler = Transformer::new(Script::TransientThenOk(1));
    let shutdown = CancellationToken::new();
    h.bus.publish(&extracted("run-1")).await.unwrap();
    h.bus.publish(&extracted("run-2")).await.unwrap();
    h.queue.send("{not json".into(), BTreeMap::new());

    // `Runner::run`'s future is not `Send` at present (see the report), so it runs on this task,
    // concurrently with the observer, instead of under `tokio::spawn`.
    let run = h.runner.run(handler.clone(), shutdown.clone());
    let observe = async {
        // Wait (bounded) until both outputs and the failure report are out, then shut down.
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while of_type(&seen, EventType::ProductionTransformedV1).len() < 2
            || of_type(&seen, EventType::PipelineFailedV1).is_empty()
        {
            if tokio::time::Instant::now() >= deadline {
                shutdown.cancel();
                panic!("the runner did not finish in time: {seen:?}");
            }
            seen.extend(h.published().await);
        }
        shutdown.cancel();
        seen
    };
    let ((), seen) = tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(run, observe) })
        .await
        .expect("the runner stops after shutdown");

    assert_eq!(handler.calls(), 3, "one failed attempt, then one success per event");
    assert_eq!(of_type(&seen, EventType::ProductionTransformedV1).len(), 2);
    assert_eq!(h.queue.depth(), 0);
    assert_eq!(h.dlq.list(None).await.unwrap().len(), 1);
    // Nothing else trickles out after shutdown.
    assert!(of_type(&h.published().await, EventType::ProductionTransformedV1).is_empty());
}
