//! The alerts topic against `moto_server` (started here) through the real SNS/SQS clients: a CRITICAL
//! failure is published once to the alerts topic and reaches a subscribed queue with its subject and
//! body; a redelivery after a restart publishes nothing (the state lives in S3); an alert too long for
//! SNS is cut with a note naming where its full text is; a topic that is missing or unreachable leaves
//! the alert in the outbox. A missing `moto_server` fails the tests.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pinta_contracts::{FailureCode, PintaEvent, Stage};
use pinta_notifier::engine::Outcome;
use pinta_notifier::{AlertTopic, Delivery, Notifier, NotifierConfig};
use pinta_platform::aws::bootstrap::{BootstrapSpec, Resources, bootstrap};
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::sns_alerts::{MAX_MESSAGE_BYTES, ReceivedAlert};
use pinta_platform::aws::{AlertQueue, S3ObjectStore, SdkConfig, SnsAlertPublisher};
use pinta_platform::embedded::LocalObjectStore;
use pinta_platform::ports::{FixedClock, ObjectStore, ObjectStoreExt};
use pinta_platform::retry::RetryPolicy;

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("these tests need moto_server: {e}"))
}

async fn resources(sdk: &SdkConfig) -> Resources {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let spec = BootstrapSpec {
        prefix: format!("pinta-{tag}"),
        bucket: format!("pinta-{tag}-data"),
        max_receive_count: 5,
        visibility_timeout: Duration::from_secs(30),
        path_style: true,
    };
    bootstrap(sdk, &spec).await.expect("bootstrap on moto")
}

fn config(outbox: std::path::PathBuf, arn: &str) -> NotifierConfig {
    let mut c = NotifierConfig::new(outbox);
    c.alerts_topic_arn = Some(arn.to_owned());
    c.channel_retry = RetryPolicy { max_attempts: 2, base: Duration::from_millis(10), max: Duration::from_millis(50) };
    c
}

/// Receives until `n` alerts arrived (or 20 s passed), then checks nothing else is waiting.
async fn drain(queue: &AlertQueue, n: usize) -> Vec<ReceivedAlert> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n && tokio::time::Instant::now() < deadline {
        out.extend(queue.receive(Duration::from_secs(1)).await.expect("receive"));
    }
    let extra = queue.receive(Duration::from_secs(2)).await.expect("receive");
    assert!(extra.is_empty(), "unexpected extra alerts: {extra:?}");
    out
}

async fn notifier(
    sdk: &SdkConfig,
    res: &Resources,
    outbox: std::path::PathBuf,
    clock: Arc<FixedClock>,
) -> (Notifier, Arc<dyn ObjectStore>) {
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(sdk, &res.bucket, true));
    let topic: Arc<dyn AlertTopic> = Arc::new(SnsAlertPublisher::new(sdk, &res.alerts_topic_arn));
    let n = Notifier::with_topic(config(outbox, &res.alerts_topic_arn), store.clone(), clock, Some(topic))
        .await
        .expect("notifier starts");
    (n, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_failure_is_published_once_even_after_a_restart() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let res = resources(&sdk).await;
    let watch = AlertQueue::create(&sdk, &res.alerts_topic_arn, &format!("{}-watch", res.bucket), None)
        .await
        .expect("watch queue");
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = dir.path().join("outbox");
    let clock = Arc::new(FixedClock::new(t(0, 5)));

    let event = PintaEvent::PipelineFailedV1(failure(Stage::Extractor, FailureCode::SourceUnavailable, Some(day(1))));
    let env = envelope(&event, "run-1", t(0, 5));
    {
        let (n, _) = notifier(&sdk, &res, outbox.clone(), clock.clone()).await;
        let p = n.process(&event, &env).await.expect("handled");
        assert!(matches!(p.outcome, Outcome::Alert(_)), "{:?}", p.outcome);
        assert_eq!(p.deliveries, vec![Delivery::Published]);
    }
    let got = drain(&watch, 1).await;
    assert_eq!(got.len(), 1, "exactly one message on the alerts topic");
    let alert = &got[0];
    let subject = alert.subject.as_deref().expect("the SNS subject");
    assert_eq!(subject, "[CRITICAL] Pinta extractor: extractor falló con SOURCE_UNAVAILABLE (día 2025-03-01)");
    assert!(subject.chars().count() < 100);
    for part in [
        "extractor falló con SOURCE_UNAVAILABLE (día 2025-03-01)",
        "Severidad: CRITICAL",
        "Filas afectadas: 120",
        "extractor gave up: <boom> & co",
        "docs/runbooks/source-unavailable.md",
        env.id.as_str(),
    ] {
        assert!(alert.body.contains(part), "body lacks {part:?}:\n{}", alert.body);
    }
    assert_eq!(alert.attributes.get("severity").map(String::as_str), Some("CRITICAL"));
    assert_eq!(alert.attributes.get("escalated").map(String::as_str), Some("false"));
    assert!(emls(&outbox).is_empty(), "nothing fell back to the outbox");

    // A restarted notifier over the same bucket gets the same event again: nothing is published.
    clock.set(t(0, 20));
    let (n, store) = notifier(&sdk, &res, outbox.clone(), clock.clone()).await;
    let p = n.process(&event, &env).await.expect("redelivery handled");
    assert_eq!(p.outcome, Outcome::Duplicate);
    assert!(p.deliveries.is_empty());
    assert!(drain(&watch, 0).await.is_empty(), "no second message");
    let state = n.load_state().await.expect("state");
    assert_eq!(state.alerts_sent, 1);
    assert!(store.exists(pinta_notifier::STATE_KEY).await.expect("S3"), "state persisted in the bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_too_long_for_sns_is_cut_with_a_note_and_kept_whole_in_the_bucket() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let res = resources(&sdk).await;
    let watch = AlertQueue::create(&sdk, &res.alerts_topic_arn, &format!("{}-watch", res.bucket), None)
        .await
        .expect("watch queue");
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(FixedClock::new(t(1, 0)));
    let (n, store) = notifier(&sdk, &res, dir.path().join("outbox"), clock).await;

    // A held day whose sample rows carry enormous cells: the rendered text is far over 256 KiB.
    let mut q = quarantine(day(2), 100, 60, true);
    let huge = format!("INICIO{}FIN", "ñ".repeat(100_000));
    for s in q.samples.iter_mut() {
        s.values.insert("Operador".to_owned(), huge.clone());
    }
    q.samples = vec![q.samples[0].clone(); 3];
    let event = PintaEvent::RowsQuarantinedV1(q);
    let p = n.process(&event, &envelope(&event, "held", t(1, 0))).await.expect("handled");
    assert_eq!(p.deliveries, vec![Delivery::Published]);

    let got = drain(&watch, 1).await;
    assert_eq!(got.len(), 1);
    let body = &got[0].body;
    assert!(body.len() <= MAX_MESSAGE_BYTES, "{} bytes", body.len());
    assert!(body.starts_with("día 2025-03-02 retenido"), "the beginning is kept");
    let note = body.rsplit("[… alerta truncada: se omitieron ").next().expect("a truncation note");
    let key = note
        .split("Texto completo en el bucket de datos: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("the note names the key");
    assert!(key.starts_with("_control/notifier/alerts/"), "{key}");
    let full = String::from_utf8(store.get_bytes(key).await.expect("full text in S3").to_vec()).expect("UTF-8");
    assert_eq!(full.matches(&huge).count(), 3, "every sample is in the full text");
    assert!(full.contains("docs/runbooks/day-held.md"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_is_missing_or_down_leaves_the_alert_in_the_outbox() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path().join("data")));
    let clock = Arc::new(FixedClock::new(t(2, 0)));
    let event = PintaEvent::PipelineFailedV1(failure(Stage::Validator, FailureCode::StorageUnavailable, Some(day(3))));

    // A topic that does not exist: permanent, straight to the outbox.
    let missing = "arn:aws:sns:us-east-1:123456789012:pinta-no-such-topic";
    let outbox = dir.path().join("outbox-missing");
    let topic: Arc<dyn AlertTopic> = Arc::new(SnsAlertPublisher::new(&sdk, missing));
    let n = Notifier::with_topic(config(outbox.clone(), missing), store.clone(), clock.clone(), Some(topic))
        .await
        .expect("notifier starts");
    let p = n.process(&event, &envelope(&event, "a", t(2, 0))).await.expect("handled");
    assert!(matches!(p.deliveries.as_slice(), [Delivery::Outbox(_)]), "{:?}", p.deliveries);
    let files = emls(&outbox);
    assert_eq!(files.len(), 1);
    let mail = parse_mail(&std::fs::read(&files[0]).expect("read eml"));
    assert!(mail.subject.starts_with("[CRITICAL] Pinta validator"), "{}", mail.subject);

    // An endpoint nobody listens on (the emulator stopped): retried, then the outbox.
    let port = moto.port();
    drop(moto);
    let down = pinta_platform::aws::sdk_config_with_keys(
        &pinta_platform::aws::AwsSettings {
            endpoint_url: Some(format!("http://127.0.0.1:{port}")),
            region: Some("us-east-1".into()),
        },
        "testing",
        "testing",
    )
    .await;
    let arn = "arn:aws:sns:us-east-1:123456789012:pinta-alerts";
    let outbox = dir.path().join("outbox-down");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path().join("data-2")));
    let topic: Arc<dyn AlertTopic> = Arc::new(SnsAlertPublisher::new(&down, arn));
    let n = Notifier::with_topic(config(outbox.clone(), arn), store, clock, Some(topic)).await.expect("notifier starts");
    let p = n.process(&event, &envelope(&event, "b", t(2, 0))).await.expect("handled");
    assert!(matches!(p.deliveries.as_slice(), [Delivery::Outbox(_)]), "{:?}", p.deliveries);
    assert_eq!(emls(&outbox).len(), 1);
}
