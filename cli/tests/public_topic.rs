//! The public topic as a downstream team sees it, against `moto_server` (started here): a day runs
//! through the real AWS adapters (S3, SNS with the public topic, SQS queues with filter policies), the
//! transformer and validator in runners of this process; a consumer queue subscribed to the public
//! topic with a filter policy on `type` = `production.published.v1` receives only that type (an
//! unfiltered queue proves `rows.quarantined.v1` was on the topic too), and the message — the SNS
//! notification's `Message` — validates against the committed JSON Schemas (`contracts/schemas/`,
//! envelope and `data`) with Python's `jsonschema` (`PINTA_PYTHON`).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pinta_cli::seed;
use pinta_contracts::{Envelope, EventType, PintaEvent};
use pinta_extractor::Extractor;
use pinta_platform::aws::bootstrap::{BootstrapSpec, bootstrap};
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::sns_alerts::ReceivedAlert;
use pinta_platform::aws::{AlertQueue, S3ObjectStore, SnsPublisher, SqsDeadLetterStore, SqsReceiver};
use pinta_platform::inbox::StoreInbox;
use pinta_platform::ports::{EventPublisher, ObjectStore, ProductionSource, SystemClock};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::{EventHandler, Runner};
use pinta_platform::sql::SqlSource;
use pinta_transformer::Transformer;
use pinta_validator::{RuleSet, Validator};
use tokio_util::sync::CancellationToken;

use support::python;

/// Validates `instance` against the schema file with Python's `jsonschema`.
fn check_schema(schema: &Path, instance: &serde_json::Value, work: &Path, name: &str) {
    if let Err(e) = validate_schema(schema, instance, work, name) {
        panic!("{name} does not validate against {}:\n{e}", schema.display());
    }
}

fn validate_schema(schema: &Path, instance: &serde_json::Value, work: &Path, name: &str) -> Result<(), String> {
    let file = work.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec(instance).unwrap()).unwrap();
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1], encoding='utf-8'))\n\
                  inst = json.load(open(sys.argv[2], encoding='utf-8'))\n\
                  cls = jsonschema.validators.validator_for(schema)\n\
                  cls.check_schema(schema)\n\
                  cls(schema, format_checker=cls.FORMAT_CHECKER).validate(inst)\n\
                  print('valid')\n";
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(schema)
        .arg(&file)
        .output()
        .expect("running python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("ModuleNotFoundError"), "{} lacks jsonschema (scripts/requirements-test.txt): {stderr}", python());
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "valid" {
        Ok(())
    } else {
        Err(format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)))
    }
}

async fn receive_until(queue: &AlertQueue, want: impl Fn(&[ReceivedAlert]) -> bool) -> Vec<ReceivedAlert> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while !want(&got) {
        assert!(tokio::time::Instant::now() < deadline, "timed out; received {got:?}");
        got.extend(queue.receive(Duration::from_secs(2)).await.expect("receive"));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_downstream_queue_gets_only_published_days_matching_the_schema() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("this test needs moto_server: {e}"));
    let sdk = moto.sdk_config().await;
    let tag = &uuid_tag();
    let spec = BootstrapSpec {
        prefix: format!("pinta-{tag}"),
        bucket: format!("pinta-{tag}-data"),
        max_receive_count: 5,
        visibility_timeout: Duration::from_secs(60),
        path_style: true,
    };
    let res = bootstrap(&sdk, &spec).await.expect("bootstrap");
    let filter = serde_json::json!({ "type": [EventType::ProductionPublishedV1.as_str()] }).to_string();
    let downstream = AlertQueue::create(&sdk, &res.public_topic_arn, &format!("pinta-{tag}-downstream"), Some(&filter))
        .await
        .expect("filtered downstream queue");
    let everything = AlertQueue::create(&sdk, &res.public_topic_arn, &format!("pinta-{tag}-everything"), None)
        .await
        .expect("unfiltered queue");

    // The pipeline on the AWS adapters; a seeded day with defects, so rows.quarantined.v1 is published too.
    let work = tempfile::tempdir().unwrap();
    let source = Arc::new(
        SqlSource::connect(&format!("sqlite://{}", work.path().join("source.sqlite").display()), Duration::from_secs(10))
            .await
            .expect("sqlite source"),
    );
    let p = support::params(1, 60, 0.2);
    seed::seed(&source, &p).await.expect("seed");
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&sdk, &res.bucket, true));
    let publisher: Arc<dyn EventPublisher> = Arc::new(
        SnsPublisher::new(&sdk, &res.pipeline_topic_arn).with_public_topic(Some(res.public_topic_arn.clone())),
    );
    let clock = Arc::new(SystemClock);
    let shutdown = CancellationToken::new();
    let handlers: Vec<(&str, Arc<dyn EventHandler>)> = vec![
        ("transformer", Arc::new(Transformer::new(store.clone(), clock.clone()))),
        ("validator", Arc::new(Validator::new(store.clone(), publisher.clone(), clock.clone(), RuleSet::default()))),
    ];
    let mut tasks = Vec::new();
    for (name, handler) in handlers {
        let runner = Runner {
            receiver: Arc::new(SqsReceiver::new(&sdk, &res.queues[name].queue_url)),
            publisher: publisher.clone(),
            dead_letters: Arc::new(SqsDeadLetterStore::new(&sdk, &res.queues[name].dlq_url)),
            inbox: Arc::new(StoreInbox::new(store.clone())),
            clock: clock.clone(),
            retry: RetryPolicy::default(),
            batch: 10,
            wait: Duration::from_secs(1),
            heartbeat: Duration::from_secs(20),
        };
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move { runner.run(handler, token).await }));
    }
    let extractor = Extractor::new(source.clone() as Arc<dyn ProductionSource>, store.clone(), clock.clone());
    extractor
        .extract_and_publish(publisher.as_ref(), Some(p.until), &RetryPolicy::default())
        .await
        .expect("extraction")
        .expect("a day to extract");

    // The unfiltered queue sees both public types; the filtered one only the publication.
    let all = receive_until(&everything, |got| {
        let types: Vec<&str> = got.iter().filter_map(|m| m.attributes.get("type").map(String::as_str)).collect();
        types.contains(&"production.published.v1") && types.contains(&"rows.quarantined.v1")
    })
    .await;
    assert!(all.iter().all(|m| {
        let t = m.attributes.get("type").map(String::as_str);
        t == Some("production.published.v1") || t == Some("rows.quarantined.v1")
    }));
    let got = receive_until(&downstream, |got| !got.is_empty()).await;
    let extra = downstream.receive(Duration::from_secs(3)).await.expect("receive");
    assert!(extra.is_empty(), "only one message expected, also got {extra:?}");
    assert_eq!(got.len(), 1, "{got:?}");
    let message = &got[0];
    assert_eq!(message.attributes.get("type").map(String::as_str), Some("production.published.v1"));

    // The body is the CloudEvents envelope; it and its data match the committed schemas.
    let envelope = Envelope::from_json(&message.body).expect("a CloudEvents envelope");
    let PintaEvent::ProductionPublishedV1(published) = envelope.decode().expect("decodes") else {
        panic!("not production.published.v1: {}", envelope.event_type)
    };
    assert_eq!(published.production_date, p.until);
    assert!(published.rows_quarantined > 0, "the seeded defects were quarantined");
    assert_eq!(published.rows_curated + published.rows_quarantined, published.rows_in);
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/schemas");
    let whole: serde_json::Value = serde_json::from_str(&message.body).expect("JSON body");
    check_schema(&schemas.join("envelope.json"), &whole, work.path(), "envelope");
    check_schema(&schemas.join("production.published.v1.json"), &whole["data"], work.path(), "data");
    assert_eq!(whole["dataschema"], "urn:pinta:schema:production.published.v1");
    // The check can fail: a payload without its curated object does not validate.
    let mut broken = whole["data"].clone();
    broken.as_object_mut().expect("data is an object").remove("curated");
    assert!(validate_schema(&schemas.join("production.published.v1.json"), &broken, work.path(), "broken").is_err());

    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }
    source.close().await;
}

fn uuid_tag() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}", nanos ^ u128::from(std::process::id())).chars().rev().take(10).collect()
}
