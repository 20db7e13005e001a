//! Fault tests over `moto_server` (started here):
//!
//! * The emulator goes away while `pinta up --aws` runs: the scheduled extraction in progress retries
//!   with backoff and the consumers keep retrying their receives; the emulator comes back on the same
//!   port (moto loses its state, so the resources are bootstrapped again, as a new account would be)
//!   and the retried extraction's day completes.
//! * A validator worker is killed with SIGKILL right after it received a message: the message becomes
//!   visible again after the queue's visibility timeout, a new worker completes the day, the curated
//!   and quarantine objects hold every source row exactly once, and after de-duplication by CloudEvents
//!   id the public topic carried the day's publication once.

mod aws_support;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use aws_support::*;
use chrono::NaiveDate;
use pinta_contracts::{Envelope, PintaEvent, layout};
use pinta_platform::aws::bootstrap::{BootstrapSpec, bootstrap, watch_topic};
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::{S3ObjectStore, SqsDeadLetterStore, SqsReceiver};
use pinta_platform::ports::{DeadLetterStore, ObjectStoreExt};

/// A JSON log line (`PINTA_LOG_FORMAT=json`) with this message.
fn log_event(line: &str, message: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    (v["message"] == message).then_some(v)
}

/// Rows in a Parquet object.
fn parquet_rows(bytes: bytes::Bytes) -> i64 {
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).expect("a Parquet file");
    builder.metadata().file_metadata().num_rows()
}

/// Waits for a `production.published.v1` of `day` (or any day) on `watch`: its day and event id.
async fn wait_published(
    watch: &SqsReceiver,
    day: Option<NaiveDate>,
    proc: &mut Proc,
    timeout: Duration,
) -> (NaiveDate, String) {
    let deadline = Instant::now() + timeout;
    loop {
        proc.assert_running();
        assert!(Instant::now() < deadline, "no production.published.v1 for {day:?} on the public topic{}", proc.logs());
        for env in drain(watch, Duration::from_secs(2)).await {
            if let Ok(PintaEvent::ProductionPublishedV1(p)) = env.decode()
                && day.is_none_or(|d| d == p.production_date)
            {
                return (p.production_date, env.id.clone());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_restarted_mid_run_the_stack_retries_with_backoff_then_completes_the_day() {
    let mut moto = MotoServer::start().unwrap_or_else(|e| panic!("this test needs moto_server: {e}"));
    let prefix = unique("pfr");
    let vars = bootstrap_up_vars(&moto, &prefix, 60);
    let sdk = moto.sdk_config().await;
    let watch_name = format!("{prefix}-public-watch");
    let watch =
        SqsReceiver::new(&sdk, watch_topic(&sdk, &vars["PINTA_PUBLIC_TOPIC_ARN"], &watch_name).await.expect("watch"));

    // A SQLite source with one seeded day (and the catalogue, without which every row is quarantined):
    // the catch-up extracts it, then the demo schedule adds a day every few seconds and extracts it.
    let work = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", work.path().join("source.sqlite").display());
    seed(&source, &work.path().join("local"), 1, "2025-03-31", 40);
    let mut env = aws_env(&moto, &vars);
    env.push(("PINTA_LOG_FORMAT".into(), "json".into()));
    let mut cmd = clean_command(&pinta_bin(), &env);
    cmd.arg("--data-dir").arg(work.path().join("local")).args(["--source", &source]);
    cmd.args(["up", "--aws", "--no-seed", "--demo-every", "4s", "--port", &free_port().to_string()]);
    let mut up = Proc::spawn("pinta-up-aws", cmd, work.path());
    let (first, _) = wait_published(&watch, None, &mut up, Duration::from_secs(240)).await;

    // The endpoint goes away. The next scheduled extraction fails and is retried with growing delays.
    moto.stop();
    let retry = up.wait_line("an extraction retry", Duration::from_secs(240), |l| {
        log_event(l, "extraction failed; retrying").is_some_and(|v| v["attempt"].as_u64().is_some_and(|a| a >= 2))
    });
    let retry = log_event(&retry, "extraction failed; retrying").unwrap_or_default();
    assert!(retry["retry_in_ms"].as_u64().is_some_and(|ms| ms >= 500), "backoff grows: {retry}");
    let out = up.out();
    let retried_day: NaiveDate = out
        .lines()
        .filter_map(|l| l.strip_prefix("pinta: demo: new production day "))
        .last()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("the day being extracted is announced on stdout{}", up.logs()));
    assert!(retried_day > first, "the retried day is a new one");
    up.wait_line("consumers backing off", Duration::from_secs(60), |l| {
        log_event(l, "receive failed; backing off").is_some()
    });

    // The emulator comes back on the same port with no state: the resources are created again (same
    // names, so the same URLs and ARNs). moto needs a moment between answering and having every
    // resource, which real AWS never lacks; the process is paused for that moment only.
    up.signal("-STOP");
    moto.restart().unwrap_or_else(|e| panic!("restarting moto_server: {e}"));
    let again = bootstrap_up_vars(&moto, &prefix, 60);
    let watch =
        SqsReceiver::new(&sdk, watch_topic(&sdk, &again["PINTA_PUBLIC_TOPIC_ARN"], &watch_name).await.expect("watch"));
    up.signal("-CONT");
    assert_eq!(again, vars, "bootstrapping again yields the same resources");

    // The retried extraction succeeds and its day completes.
    wait_published(&watch, Some(retried_day), &mut up, Duration::from_secs(240)).await;
    let store = S3ObjectStore::new(&sdk, &vars["PINTA_BUCKET"], true);
    assert!(
        store.exists(&layout::raw_key(retried_day)).await.expect("S3"),
        "the retried raw file is in the new bucket"
    );
    assert!(store.exists(&layout::curated_key(retried_day)).await.expect("S3"), "the day's curated object is in S3");
    let log = up.err();
    let gave_up = log.lines().filter_map(|l| log_event(l, "extraction failed")).count();
    assert_eq!(gave_up, 0, "no extraction gave up{}", up.logs());

    up.signal("-INT");
    let status = up.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "pinta up --aws must exit 0 on SIGINT, got {status}{}", up.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_message_is_redelivered_and_the_day_completes_once() {
    const ROWS: u64 = 2000;
    let bins = service_bins();
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("this test needs moto_server: {e}"));
    let sdk = moto.sdk_config().await;
    let prefix = unique("pfk");
    let spec = BootstrapSpec {
        prefix: prefix.clone(),
        bucket: format!("{prefix}-data"),
        max_receive_count: 5,
        visibility_timeout: Duration::from_secs(8),
        path_style: true,
    };
    let res = bootstrap(&sdk, &spec).await.expect("bootstrap");
    let watch = SqsReceiver::new(
        &sdk,
        watch_topic(&sdk, &res.public_topic_arn, &format!("{prefix}-public-watch")).await.expect("watch"),
    );

    let work = tempfile::tempdir().unwrap();
    let source = format!("sqlite://{}", work.path().join("source.sqlite").display());
    seed(&source, &work.path().join("local"), 1, "2025-03-31", ROWS as u32);
    let day = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();

    let service_env = |service: &str| {
        let mut env = moto.env();
        env.extend(res.env_for(service));
        env.push(("PINTA_LOG_FORMAT".into(), "json".into()));
        env.push(("RUST_LOG".into(), "info".into()));
        env.push(("PINTA_OUTBOX_DIR".into(), work.path().join("outbox").display().to_string()));
        env
    };
    let start = |service: &str, name: &str| {
        Proc::spawn(name, clean_command(&bins.join(format!("pinta-{service}")), &service_env(service)), work.path())
    };
    let mut transformer = start("transformer", "transformer");
    let _notifier = start("notifier", "notifier");
    let mut first = start("validator", "validator-1");

    let mut env = service_env("extractor");
    env.push(("PINTA_SOURCE_URL".into(), source.clone()));
    let out = clean_command(&bins.join("pinta-extractor"), &env).arg("2025-03-31").output().expect("pinta-extractor");
    assert!(out.status.success(), "pinta-extractor failed: {}", String::from_utf8_lossy(&out.stderr));

    // Killed as soon as it has taken the message off its queue.
    let received = first.wait_line("message received", Duration::from_secs(240), |l| {
        log_event(l, "message received").is_some_and(|v| v["event_type"] == "production.transformed.v1")
    });
    first.child.kill().expect("SIGKILL");
    let status = first.wait_exit(Duration::from_secs(30));
    assert_eq!(status.signal(), Some(9), "the first validator died of SIGKILL");
    let received = log_event(&received, "message received").unwrap_or_default();
    let message_id = received["message_id"].as_str().expect("message id logged").to_owned();
    assert_eq!(received["receive_count"], 1);
    transformer.assert_running();

    // A new worker gets the same message once its visibility timeout has passed, and completes the day.
    let mut second = start("validator", "validator-2");
    second.wait_line("the message redelivered", Duration::from_secs(120), |l| {
        log_event(l, "message received").is_some_and(|v| {
            v["message_id"] == message_id.as_str() && v["receive_count"].as_u64().is_some_and(|c| c >= 2)
        })
    });
    let (_, first_id) = wait_published(&watch, Some(day), &mut second, Duration::from_secs(240)).await;
    // Whatever else arrives on the public topic within a quiet period.
    let mut public: Vec<Envelope> = Vec::new();
    let mut quiet = 0;
    while quiet < 3 {
        let got = drain(&watch, Duration::from_secs(3)).await;
        quiet = if got.is_empty() { quiet + 1 } else { 0 };
        public.extend(got);
    }
    let mut published_ids: Vec<String> = public
        .iter()
        .filter(|e| matches!(e.decode(), Ok(PintaEvent::ProductionPublishedV1(ref p)) if p.production_date == day))
        .map(|e| e.id.clone())
        .chain([first_id.clone()])
        .collect();
    let deliveries = published_ids.len();
    published_ids.sort();
    published_ids.dedup();
    assert_eq!(
        published_ids,
        vec![first_id],
        "one publication of the day after de-duplication by id ({deliveries} deliveries)"
    );

    // Every source row is in exactly one of the two objects, once.
    let store = S3ObjectStore::new(&sdk, &res.bucket, true);
    let record: pinta_contracts::control::DayRecord =
        serde_json::from_slice(&store.get_bytes(&layout::day_record_key(day)).await.expect("day record"))
            .expect("record");
    assert_eq!(record.rows_in, ROWS);
    let curated = parquet_rows(store.get_bytes(&layout::curated_key(day)).await.expect("curated object"));
    let quarantined = match store.get_bytes(&layout::quarantine_key(day)).await {
        Ok(b) => parquet_rows(b),
        Err(_) => 0,
    };
    assert_eq!(curated as u64, record.rows_curated, "curated rows match the record");
    assert_eq!(quarantined as u64, record.rows_quarantined, "quarantined rows match the record");
    assert_eq!((curated + quarantined) as u64, ROWS, "no row lost or duplicated");
    let letters = SqsDeadLetterStore::new(&sdk, &res.queues["validator"].dlq_url).list(None).await.expect("DLQ");
    assert!(letters.is_empty(), "nothing was dead-lettered: {letters:?}");
    second.assert_running();
}
