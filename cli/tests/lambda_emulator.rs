//! One stage binary under a real Lambda Runtime API emulator: `cargo lambda watch --only-lambda-apis`
//! (the `cargo-lambda` package from PyPI, installed in the test venv by scripts/python-env) serves the
//! Runtime API, `pinta-transformer` runs against it in Lambda mode (`AWS_LAMBDA_RUNTIME_API` set), and an
//! SQS batch is invoked through the emulator's Invoke endpoint: the batch holds a real message taken
//! from the transformer's queue on `moto_server` (after a one-shot `pinta-extractor`) and a poison
//! record. The answer has no `batchItemFailures`, the day's `production.transformed.v1` reaches the
//! validator's queue, and the poison message is in the transformer's DLQ.

mod aws_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_support::*;
use chrono::NaiveDate;
use pinta_contracts::{Envelope, PintaEvent};
use pinta_platform::aws::bootstrap::{BootstrapSpec, bootstrap};
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::{SqsDeadLetterStore, SqsReceiver};
use pinta_platform::ports::{DeadLetterStore, EventReceiver};

/// `$PINTA_CARGO_LAMBDA`, else `$PINTA_VENV/bin/cargo-lambda`, else `cargo-lambda` on `PATH`.
fn cargo_lambda() -> PathBuf {
    if let Some(p) = std::env::var_os("PINTA_CARGO_LAMBDA").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(venv) = std::env::var_os("PINTA_VENV").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(venv).join("bin").join("cargo-lambda");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("cargo-lambda")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "not yet passing: the run did not finish within 5 minutes (cause not yet diagnosed); run with --ignored"]
async fn the_transformer_serves_an_sqs_batch_under_the_cargo_lambda_runtime_emulator() {
    let bins = service_bins();
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("this test needs moto_server: {e}"));
    let sdk = moto.sdk_config().await;
    let prefix = unique("plm");
    let spec = BootstrapSpec {
        prefix: prefix.clone(),
        bucket: format!("{prefix}-data"),
        max_receive_count: 5,
        visibility_timeout: Duration::from_secs(120),
        path_style: true,
    };
    let res = bootstrap(&sdk, &spec).await.expect("bootstrap");
    let work = tempfile::tempdir().unwrap();

    // A real production.extracted.v1 on the transformer's queue.
    let source = format!("sqlite://{}", work.path().join("source.sqlite").display());
    seed(&source, &work.path().join("local"), 1, "2025-03-31", 40);
    let mut env = moto.env();
    env.extend(res.env_for("extractor"));
    env.push(("PINTA_SOURCE_URL".into(), source.clone()));
    let out = clean_command(&bins.join("pinta-extractor"), &env).arg("2025-03-31").output().expect("pinta-extractor");
    assert!(out.status.success(), "pinta-extractor failed: {}", String::from_utf8_lossy(&out.stderr));
    let queue = SqsReceiver::new(&sdk, &res.queues["transformer"].queue_url);
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        if let Some(m) = queue.receive(1, Duration::from_secs(2)).await.expect("receive").into_iter().next() {
            break m;
        }
        assert!(Instant::now() < deadline, "production.extracted.v1 never reached the transformer's queue");
    };

    // The batch as Lambda's SQS event source mapping delivers it.
    let record = |id: &str, receipt: &str, body: &str, event_type: &str| {
        serde_json::json!({
            "messageId": id,
            "receiptHandle": receipt,
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1743400000000",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1743400000001"
            },
            "messageAttributes": {
                "type": { "stringValue": event_type, "stringListValues": [], "binaryListValues": [], "dataType": "String" }
            },
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": res.queues["transformer"].queue_arn,
            "awsRegion": pinta_platform::aws::moto::REGION
        })
    };
    let event = serde_json::json!({ "Records": [
        record(&message.message_id, &message.receipt, &message.body, "production.extracted.v1"),
        record("poison-1", "poison-receipt", "{this is not a CloudEvent", "production.extracted.v1"),
    ]});

    // The emulator only needs a Cargo manifest to read; the function is started here, not by it.
    let emu_dir = work.path().join("emulator");
    std::fs::create_dir_all(emu_dir.join("src")).unwrap();
    std::fs::write(
        emu_dir.join("Cargo.toml"),
        "[package]\nname = \"emulator\"\nversion = \"0.0.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(emu_dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    let port = free_port();
    let mut emu = std::process::Command::new(cargo_lambda());
    emu.current_dir(&emu_dir)
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
        .stdin(std::process::Stdio::null());
    let mut emulator = Proc::spawn("cargo-lambda-watch", emu, work.path());
    assert!(wait_port(port, Duration::from_secs(60)), "the Runtime API emulator did not start{}", emulator.logs());
    emulator.assert_running();

    let mut env = moto.env();
    env.extend(res.env_for("transformer"));
    env.push(("AWS_LAMBDA_RUNTIME_API".into(), format!("http://127.0.0.1:{port}/.rt")));
    env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), "_".into()));
    env.push(("AWS_LAMBDA_FUNCTION_VERSION".into(), "1".into()));
    env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "512".into()));
    env.push(("RUST_LOG".into(), "info".into()));
    let mut function =
        Proc::spawn("pinta-transformer-lambda", clean_command(&bins.join("pinta-transformer"), &env), work.path());

    let (status, body) =
        http_post(port, "/2015-03-31/functions/_/invocations", &event.to_string(), Duration::from_secs(120))
            .unwrap_or_else(|| panic!("no answer from the emulator{}{}", emulator.logs(), function.logs()));
    assert_eq!(status, 200, "{body}{}", function.logs());
    let response: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(
        response["batchItemFailures"].as_array().map(Vec::len),
        Some(0),
        "the good message succeeded and the poison one was dead-lettered, so nothing is left for retry: {response}"
    );
    function.assert_running();
    assert!(function.err().contains("\"level\":\"INFO\""), "JSON logs under Lambda{}", function.logs());

    // The good record was transformed: the validator's queue has the day's production.transformed.v1.
    let validator_queue = SqsReceiver::new(&sdk, &res.queues["validator"].queue_url);
    let day = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let transformed = loop {
        let got = validator_queue.receive(10, Duration::from_secs(2)).await.expect("receive");
        if let Some(t) = got.iter().find_map(|m| match Envelope::from_json(&m.body).and_then(|e| e.decode()) {
            Ok(PintaEvent::ProductionTransformedV1(t)) => Some(t),
            _ => None,
        }) {
            break t;
        }
        assert!(Instant::now() < deadline, "no production.transformed.v1 on the validator's queue{}", function.logs());
    };
    assert_eq!(transformed.production_date, day);
    assert_eq!(transformed.rows, 40);
    // The poison record is in the transformer's DLQ, with its body intact.
    let letters = SqsDeadLetterStore::new(&sdk, &res.queues["transformer"].dlq_url).list(None).await.expect("DLQ");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].body, "{this is not a CloudEvent");
    assert_eq!(letters[0].code, "MALFORMED_MESSAGE");
}
