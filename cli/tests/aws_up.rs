//! `pinta up --aws` end to end against `moto_server` (started here) and the local MariaDB: the
//! resources come from `pinta aws bootstrap --only up`, the whole stack runs in one `pinta` process,
//! a day's `production.published.v1` reaches a test queue on the public topic, the gateway serves it
//! from S3, `pinta dlq list|replay --aws` work on the consumers' SQS DLQs, and SIGINT stops the
//! process cleanly (exit 0). Also: start-up refuses a missing or wrong variable and names it.

mod aws_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_support::*;
use chrono::NaiveDate;
use pinta_contracts::{EventType, PintaEvent, layout};
use pinta_platform::aws::bootstrap::watch_topic;
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::{S3ObjectStore, SqsDeadLetterStore, SqsReceiver};
use pinta_platform::ports::{DeadLetter, DeadLetterStore, ObjectStoreExt};

fn pinta_out(env: &[(String, String)], args: &[&str]) -> std::process::Output {
    clean_command(&pinta_bin(), env).args(args).output().expect("running pinta")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_aws_runs_the_whole_stack_in_one_process_and_stops_cleanly() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("this test needs moto_server: {e}"));
    let prefix = unique("pup");
    let vars = bootstrap_up_vars(&moto, &prefix, 60);
    for var in [
        "PINTA_BUCKET",
        "PINTA_PIPELINE_TOPIC_ARN",
        "PINTA_PUBLIC_TOPIC_ARN",
        "PINTA_VALIDATOR_QUEUE_URL",
        "PINTA_GATEWAY_DLQ_URL",
    ] {
        assert!(vars.contains_key(var), "bootstrap --only up prints {var}: {vars:?}");
    }
    let sdk = moto.sdk_config().await;
    let public_watch = SqsReceiver::new(
        &sdk,
        watch_topic(&sdk, &vars["PINTA_PUBLIC_TOPIC_ARN"], &format!("{prefix}-public-watch")).await.expect("watch"),
    );
    let pipeline_watch = SqsReceiver::new(
        &sdk,
        watch_topic(&sdk, &vars["PINTA_PIPELINE_TOPIC_ARN"], &format!("{prefix}-pipeline-watch")).await.expect("watch"),
    );

    let source = fresh_mysql_db().await;
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("local");
    seed(&source, &data_dir, 3, "2025-03-31", 40);
    let day = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();

    let port = free_port();
    let env = aws_env(&moto, &vars);
    let mut cmd = clean_command(&pinta_bin(), &env);
    cmd.arg("--data-dir").arg(&data_dir).args([
        "--source",
        &source,
        "up",
        "--aws",
        "--no-seed",
        "--port",
        &port.to_string(),
    ]);
    let mut up = Proc::spawn("pinta-up-aws", cmd, work.path());

    // The public topic gets the day's publication (and nothing but public types).
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut published = None;
    let mut public_ids = Vec::new();
    while published.is_none() {
        up.assert_running();
        assert!(Instant::now() < deadline, "no production.published.v1 for {day} on the public topic{}", up.logs());
        for env in drain(&public_watch, Duration::from_secs(2)).await {
            public_ids.push(env.id.clone());
            match env.decode().expect("known event") {
                PintaEvent::ProductionPublishedV1(p) if p.production_date == day => published = Some((env.clone(), p)),
                PintaEvent::ProductionPublishedV1(_) | PintaEvent::RowsQuarantinedV1(_) => {}
                other => panic!("only public types reach the public topic, got {other:?}"),
            }
        }
    }
    let (published_env, published) = published.unwrap_or_else(|| unreachable!());
    assert_eq!(published.rows_in, 40, "every seeded row of the day was read from MariaDB");
    assert_eq!(published.rows_curated + published.rows_quarantined, published.rows_in, "rows are conserved");
    let store = S3ObjectStore::new(&sdk, &vars["PINTA_BUCKET"], true);
    let curated = store.get_bytes(&layout::curated_key(day)).await.expect("curated object in S3");
    assert_eq!(pinta_contracts::sha256_hex(&curated), published.curated.sha256, "the event names the object in S3");

    // The gateway in the same process serves the day from the bucket.
    let deadline = Instant::now() + Duration::from_secs(60);
    let latest: serde_json::Value = loop {
        up.assert_running();
        if let Some((200, body)) = http_get(port, "/api/production/latest") {
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON from the gateway");
            if v["record"]["production_date"] == "2025-03-31" {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "/api/production/latest never served {day}{}", up.logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(latest["record"]["rows_curated"], published.rows_curated, "{latest}");
    assert_eq!(latest["record"]["status"], "published", "{latest}");
    // The gateway's own queue saw the publication too (it prints a line for each).
    up.wait_line("published 2025-03-31", Duration::from_secs(60), |l| l.starts_with("pinta: published 2025-03-31"));

    // Dead letters: nothing so far, in any consumer's DLQ ...
    let list = pinta_out(&env, &["dlq", "list", "--aws"]);
    assert!(list.status.success(), "dlq list --aws: {}", String::from_utf8_lossy(&list.stderr));
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("no dead letters"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
    // ... then one in the gateway's DLQ, listed with PINTA_MODE=aws and replayed with --aws.
    let gateway_dlq = SqsDeadLetterStore::new(&sdk, &vars["PINTA_GATEWAY_DLQ_URL"]);
    let mut attributes = BTreeMap::new();
    attributes.insert("type".to_owned(), EventType::ProductionPublishedV1.as_str().to_owned());
    gateway_dlq
        .put(DeadLetter {
            id: "letter-gw-1".into(),
            queue: format!("{prefix}-gateway"),
            body: published_env.to_json(),
            attributes,
            code: "INTERNAL".into(),
            reason: "test".into(),
            receive_count: 5,
            dead_lettered_at: chrono::Utc::now(),
        })
        .await
        .expect("put a dead letter");
    let mut mode_env = env.clone();
    mode_env.push(("PINTA_MODE".into(), "aws".into()));
    let list = pinta_out(&mode_env, &["dlq", "list", "--queue", "gateway"]);
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.status.success(), "dlq list (PINTA_MODE=aws): {}", String::from_utf8_lossy(&list.stderr));
    assert!(text.contains("letter-gw-1") && text.contains("gateway") && text.contains("INTERNAL"), "{text}");
    let other = pinta_out(&mode_env, &["dlq", "list", "--queue", "validator"]);
    assert!(String::from_utf8_lossy(&other.stdout).contains("no dead letters"), "--queue keeps one consumer's DLQ");
    let replay = pinta_out(&env, &["dlq", "replay", "--aws", "--all"]);
    let text = String::from_utf8_lossy(&replay.stdout).into_owned();
    assert!(replay.status.success(), "dlq replay --aws: {text}{}", String::from_utf8_lossy(&replay.stderr));
    assert!(text.contains("replayed letter-gw-1"), "{text}");
    assert!(gateway_dlq.list(None).await.expect("list").is_empty(), "a replayed entry leaves the DLQ");
    // The replay went to the pipeline topic: the same event (same id) again, after the original.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while seen < 2 {
        assert!(Instant::now() < deadline, "the replayed event did not reach the pipeline topic ({seen} seen)");
        seen +=
            drain(&pipeline_watch, Duration::from_secs(2)).await.iter().filter(|e| e.id == published_env.id).count();
    }

    // A clean stop on SIGINT.
    up.signal("-INT");
    let status = up.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "pinta up --aws must exit 0 on SIGINT, got {status}{}", up.logs());
    assert!(up.out().contains("pinta: stopped"), "{}", up.logs());
    // Nothing was dead-lettered by the consumers while it ran.
    let list = pinta_out(&env, &["dlq", "list", "--aws"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("no dead letters"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );

    // Incremental extraction: a row of the day corrected in the source (+1000 L) while the stack was
    // down is picked up at the next start, and the day is re-published as revision 2.
    let db = sqlx::AnyPool::connect(&source).await.expect("the source database");
    let changed = sqlx::query(
        "UPDATE produccion SET cantidad = cantidad + 1000, costo_produccion = costo_por_litro * cantidad, \
         actualizado_en = UTC_TIMESTAMP() WHERE dia = '2025-03-31' AND cantidad IS NOT NULL ORDER BY id LIMIT 1",
    )
    .execute(&db)
    .await
    .expect("correct a row");
    assert_eq!(changed.rows_affected(), 1);
    db.close().await;
    let mut cmd = clean_command(&pinta_bin(), &env);
    cmd.arg("--data-dir").arg(&data_dir).args([
        "--source",
        &source,
        "up",
        "--aws",
        "--no-seed",
        "--port",
        &free_port().to_string(),
    ]);
    let mut again = Proc::spawn("pinta-up-aws-2", cmd, work.path());
    let deadline = Instant::now() + Duration::from_secs(240);
    let revised = loop {
        again.assert_running();
        assert!(Instant::now() < deadline, "no revision 2 of {day} on the public topic{}", again.logs());
        let found = drain(&public_watch, Duration::from_secs(2)).await.into_iter().find_map(|e| match e.decode() {
            Ok(PintaEvent::ProductionPublishedV1(p)) if p.production_date == day && p.revision == 2 => Some(p),
            _ => None,
        });
        if let Some(p) = found {
            break p;
        }
    };
    assert_eq!(revised.rows_in, published.rows_in, "a corrected row, not a new one");
    assert_eq!(revised.rows_curated + revised.rows_quarantined, revised.rows_in, "rows are conserved");
    let curated = store.get_bytes(&layout::curated_key(day)).await.expect("curated object in S3");
    assert_eq!(pinta_contracts::sha256_hex(&curated), revised.curated.sha256, "the object is revision 2's");
    assert_ne!(revised.raw.sha256, published.raw.sha256, "revision 2 was extracted again from the changed source");
    assert!(again.out().contains("re-published as revision 2"), "{}", again.logs());
    again.signal("-INT");
    let status = again.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "pinta up --aws must exit 0 on SIGINT, got {status}{}", again.logs());
}

#[test]
fn up_aws_refuses_to_start_and_names_the_missing_or_wrong_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars: Vec<(String, String)> = vec![
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("PINTA_BUCKET".into(), "pinta-dev-data".into()),
        ("PINTA_PIPELINE_TOPIC_ARN".into(), "arn:aws:sns:us-east-1:123456789012:pinta-dev-pipeline".into()),
    ];
    for (name, q, d) in pinta_platform::aws::config::UP_CONSUMERS {
        if name != "validator" {
            vars.push((q.into(), format!("http://127.0.0.1:9/123456789012/pinta-dev-{name}")));
        }
        vars.push((d.into(), format!("http://127.0.0.1:9/123456789012/pinta-dev-{name}-dlq")));
    }
    let run = |env: &[(String, String)], args: &[&str]| {
        let out = clean_command(&pinta_bin(), env)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .output()
            .expect("running pinta");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = run(&vars, &["up", "--aws", "--no-seed"]);
    assert!(!ok && err.contains("PINTA_VALIDATOR_QUEUE_URL"), "{err}");
    // PINTA_MODE=aws selects the same mode; a malformed value is named too.
    vars.push(("PINTA_VALIDATOR_QUEUE_URL".into(), "not a url".into()));
    vars.push(("PINTA_MODE".into(), "aws".into()));
    let (ok, err) = run(&vars, &["up", "--no-seed"]);
    assert!(!ok && err.contains("PINTA_VALIDATOR_QUEUE_URL") && err.contains("invalid"), "{err}");
    vars.retain(|(k, _)| k != "PINTA_MODE");
    vars.push(("PINTA_MODE".into(), "cloud".into()));
    let (ok, err) = run(&vars, &["up", "--no-seed"]);
    assert!(!ok && err.contains("PINTA_MODE"), "{err}");
    let (ok, err) = run(&[], &["up", "--aws", "--no-seed"]);
    assert!(!ok && err.contains("AWS_REGION"), "{err}");
}
