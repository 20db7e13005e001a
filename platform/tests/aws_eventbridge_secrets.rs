//! The EventBridge publisher and the Secrets Manager source secret against `moto_server` (started here)
//! through the real SDK clients:
//!
//! * `PutEvents` on a custom bus, a rule matching one `detail-type` with an SQS target: only the
//!   matching event is delivered, with the whole CloudEvents JSON as `detail`;
//! * the MySQL URL read from an RDS-shaped secret opens the local MariaDB; `PINTA_SOURCE_URL` wins over
//!   the secret; a missing or malformed secret is a typed, non-retryable error naming the secret.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use pinta_contracts::events::{PipelineFailedV1, ProductionExtractedV1};
use pinta_contracts::{Envelope, FailureCode, PintaEvent, Stage};
use pinta_platform::aws::bootstrap::create_queue;
use pinta_platform::aws::config::Env;
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::secrets::{SecretError, source_url};
use pinta_platform::aws::{EventBridgePublisher, SqsReceiver};
use pinta_platform::ports::{EventPublisher, EventReceiver};
use pinta_platform::sql::SqlSource;

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("these tests need moto_server: {e}"))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn extracted() -> Envelope {
    // From JSON, so fields the payload gains later with serde defaults need no change here.
    let payload: ProductionExtractedV1 = serde_json::from_value(serde_json::json!({
        "production_date": "2025-03-04",
        "raw": { "key": "crudos/produccion_raw_2025-03-04.csv", "sha256": "0".repeat(64), "size": 1 },
        "rows": 1,
        "catalog": null,
        "origin": "test",
        "backfill": false
    }))
    .expect("a production.extracted.v1 payload");
    let ev = PintaEvent::ProductionExtractedV1(payload);
    Envelope::wrap("/pinta/extractor", &ev, &unique("e"), Utc::now(), None)
}

fn failed() -> Envelope {
    let ev = PintaEvent::PipelineFailedV1(PipelineFailedV1 {
        production_date: Some(NaiveDate::from_ymd_opt(2025, 3, 4).unwrap()),
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
    Envelope::wrap("/pinta/transformer", &ev, &unique("f"), Utc::now(), None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_rules_deliver_the_matching_events_with_the_cloudevent_as_detail() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let bus = unique("pinta-bus");
    events.create_event_bus().name(&bus).send().await.expect("create bus");
    let (queue_url, queue_arn) = create_queue(&sqs, &unique("failures"), &[]).await.expect("queue");
    let rule = unique("failures-rule");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(serde_json::json!({ "detail-type": ["pipeline.failed.v1"] }).to_string())
        .send()
        .await
        .expect("put rule");
    let target =
        aws_sdk_eventbridge::types::Target::builder().id("failures-queue").arn(&queue_arn).build().expect("target");
    events.put_targets().rule(&rule).event_bus_name(&bus).targets(target).send().await.expect("put targets");

    let publisher = EventBridgePublisher::new(&sdk, &bus);
    let (e, f) = (extracted(), failed());
    publisher.publish(&e).await.expect("PutEvents extracted");
    publisher.publish(&f).await.expect("PutEvents failed");

    let receiver = SqsReceiver::new(&sdk, &queue_url);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.is_empty() && tokio::time::Instant::now() < deadline {
        for m in receiver.receive(10, Duration::from_secs(1)).await.expect("receive") {
            got.push(
                serde_json::from_str::<serde_json::Value>(&m.body).expect("the target gets the EventBridge event JSON"),
            );
            receiver.ack(&m).await.expect("ack");
        }
    }
    let extra = receiver.receive(10, Duration::from_secs(2)).await.expect("receive");
    assert_eq!(got.len() + extra.len(), 1, "only the pipeline.failed.v1 event matches the rule: {got:?} {extra:?}");
    let event = &got[0];
    assert_eq!(event["detail-type"], "pipeline.failed.v1");
    assert_eq!(event["source"], "pinta.transformer", "the CloudEvents source as an EventBridge source");
    let detail = serde_json::to_string(&event["detail"]).expect("detail");
    assert_eq!(Envelope::from_json(&detail).expect("detail is the CloudEvents JSON"), f);

    // A bus that does not exist: a typed error, not a silent drop.
    let nowhere = EventBridgePublisher::new(&sdk, unique("no-such-bus"));
    let err = nowhere.publish(&e).await;
    assert!(err.is_err(), "publishing to a missing bus must fail, got {err:?}");
}

fn mysql_base() -> String {
    std::env::var("PINTA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A new database on the local MariaDB: its name.
async fn fresh_mysql_db() -> String {
    sqlx::any::install_default_drivers();
    let base = mysql_base();
    let admin = sqlx::AnyPool::connect(&format!("{base}/mysql"))
        .await
        .unwrap_or_else(|e| panic!("MariaDB is required at {base} (start it with scripts/ensure-mariadb): {e}"));
    let name = format!("pinta_secret_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create database");
    admin.close().await;
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_url_comes_from_an_rds_secret_in_secrets_manager() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let db = fresh_mysql_db().await;
    // The local MariaDB's root user has no password; host and port from the test URL.
    let base = mysql_base();
    let host_port = base.rsplit('@').next().unwrap_or("127.0.0.1:3306").trim_end_matches('/');
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    let user = base.strip_prefix("mysql://").and_then(|s| s.split('@').next()).unwrap_or("root");
    let user = user.split(':').next().unwrap_or("root");
    let secret_json = serde_json::json!({
        "engine": "mariadb", "host": host, "port": port.parse::<u16>().unwrap_or(3306),
        "username": user, "password": "", "dbname": db
    });
    let arn = secrets
        .create_secret()
        .name(unique("pinta/source"))
        .secret_string(secret_json.to_string())
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("secret ARN");

    let url = source_url(&Env::from_pairs([("PINTA_SOURCE_SECRET_ARN", arn.as_str())]), &sdk)
        .await
        .expect("URL from the secret");
    assert!(url.starts_with("mysql://") && url.ends_with(&format!("/{db}")), "{url}");
    let source = SqlSource::connect(&url, Duration::from_secs(10)).await.expect("the secret's URL opens MariaDB");
    assert_eq!(source.count_rows().await.expect("count"), 0, "a fresh, migrated database");
    source.close().await;

    // An explicit URL wins over the secret.
    let env = Env::from_pairs([("PINTA_SOURCE_SECRET_ARN", arn.as_str()), ("PINTA_SOURCE_URL", "mysql://u@h:1/x")]);
    assert_eq!(source_url(&env, &sdk).await.expect("explicit URL"), "mysql://u@h:1/x");

    // A secret that does not exist, or is not an RDS connection secret: typed errors naming it.
    let missing = format!("{}-missing", arn);
    match source_url(&Env::from_pairs([("PINTA_SOURCE_SECRET_ARN", missing.as_str())]), &sdk).await {
        Err(e @ SecretError::Fetch { .. }) => {
            assert!(!e.is_retryable(), "a missing secret is not retried: {e}");
            assert!(e.to_string().contains(&missing), "{e}");
        }
        other => panic!("expected a fetch error, got {other:?}"),
    }
    let bad = secrets
        .create_secret()
        .name(unique("pinta/not-rds"))
        .secret_string("{\"token\":\"abc\"}")
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("ARN");
    match source_url(&Env::from_pairs([("PINTA_SOURCE_SECRET_ARN", bad.as_str())]), &sdk).await {
        Err(SecretError::Shape { arn, .. }) => assert_eq!(arn, bad),
        other => panic!("expected a shape error, got {other:?}"),
    }
    // Neither variable: the error names them.
    let err = source_url(&Env::from_pairs(Vec::<(String, String)>::new()), &sdk).await.expect_err("nothing configured");
    assert!(err.to_string().contains("PINTA_SOURCE_SECRET_ARN"), "{err}");
}
