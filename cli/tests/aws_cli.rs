//! `pinta aws bootstrap` and `pinta aws dlq list` against `moto_server` (started here): the command
//! creates the resources with the CDK app's wiring, is idempotent, and the DLQ listing shows what a
//! consumer dead-lettered.

use std::process::Command;

use pinta_platform::aws::SqsDeadLetterStore;
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::ports::{DeadLetter, DeadLetterStore};

fn pinta(moto: &MotoServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pinta"))
        .args(args)
        .envs(moto.env())
        .output()
        .expect("running pinta")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_creates_the_resources_idempotently_and_dlq_list_shows_dead_letters() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("this test needs moto_server: {e}"));
    let out = pinta(&moto, &["aws", "bootstrap", "--prefix", "pinta-clitest", "--json"]);
    assert!(out.status.success(), "bootstrap failed: {}", String::from_utf8_lossy(&out.stderr));
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(first["bucket"], "pinta-clitest-data");
    assert!(first["pipeline_topic_arn"].as_str().unwrap().ends_with(":pinta-clitest-pipeline"));
    assert!(first["public_topic_arn"].as_str().unwrap().ends_with(":pinta-clitest-public"));
    for q in ["transformer", "validator", "notifier", "gateway"] {
        let url = first["queues"][q]["queue_url"].as_str().unwrap_or_else(|| panic!("queue {q} missing: {first}"));
        assert!(url.ends_with(&format!("/pinta-clitest-{q}")), "{url}");
        assert!(first["queues"][q]["dlq_url"].as_str().unwrap().ends_with(&format!("/pinta-clitest-{q}-dlq")));
    }
    let again = pinta(&moto, &["aws", "bootstrap", "--prefix", "pinta-clitest", "--json"]);
    assert!(again.status.success(), "second bootstrap failed: {}", String::from_utf8_lossy(&again.stderr));
    let second: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON output");
    assert_eq!(first, second, "bootstrap is idempotent");

    let dlq_url = first["queues"]["transformer"]["dlq_url"].as_str().unwrap().to_owned();
    let empty = pinta(&moto, &["aws", "dlq", "list", "--dlq-url", &dlq_url]);
    assert!(empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stdout).contains("no dead letters"));

    let sdk = moto.sdk_config().await;
    let store = SqsDeadLetterStore::new(&sdk, &dlq_url);
    store
        .put(DeadLetter {
            id: "letter-1".into(),
            queue: "pinta-clitest-transformer".into(),
            body: "{broken".into(),
            attributes: Default::default(),
            code: "MALFORMED_MESSAGE".into(),
            reason: "not a CloudEvent".into(),
            receive_count: 1,
            dead_lettered_at: chrono::Utc::now(),
        })
        .await
        .expect("put");
    let listed = pinta(&moto, &["aws", "dlq", "list", "--dlq-url", &dlq_url]);
    assert!(listed.status.success());
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("letter-1") && text.contains("MALFORMED_MESSAGE"), "{text}");
    // An unreadable body cannot be replayed and stays in the DLQ.
    let replay = pinta(
        &moto,
        &["aws", "dlq", "replay", "--dlq-url", &dlq_url, "--topic-arn", first["pipeline_topic_arn"].as_str().unwrap(), "letter-1"],
    );
    assert!(!replay.status.success(), "replaying an unreadable body must fail");
    assert_eq!(store.list(None).await.expect("list").len(), 1, "the entry stays");
}
