//! The whole pipeline as separate OS processes on AWS protocols: `moto_server` (S3, SNS, SQS) and the
//! local MariaDB as the source. Each stage service runs as its own binary in worker mode, polling its
//! own queue; the extractor runs one-shot; a test queue subscribed to the public topic must receive
//! `production.published.v1`, and the curated and quarantine objects must be in the bucket.
//!
//! The binaries (`pinta`, `pinta-extractor`, `pinta-transformer`, `pinta-validator`, `pinta-notifier`)
//! are built into this test's target directory first (a no-op when they are up to date).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::NaiveDate;
use pinta_contracts::{Envelope, PintaEvent, layout};
use pinta_platform::aws::bootstrap::{BootstrapSpec, bootstrap, create_queue, subscribe_queue};
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::aws::{S3ObjectStore, SqsDeadLetterStore, SqsReceiver};
use pinta_platform::ports::{DeadLetterStore, EventReceiver, ObjectStoreExt};

fn mysql_base() -> String {
    std::env::var("PINTA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

async fn fresh_mysql_db() -> String {
    sqlx::any::install_default_drivers();
    let base = mysql_base();
    let admin = sqlx::AnyPool::connect(&format!("{base}/mysql"))
        .await
        .unwrap_or_else(|e| panic!("MariaDB is required at {base} (start it with scripts/ensure-mariadb): {e}"));
    let name = format!("pinta_aws_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    admin.close().await;
    format!("{base}/{name}")
}

/// `target/<profile>` of this test binary.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// Builds the binaries the test runs (cargo is a no-op when they are fresh).
fn build_binaries() -> PathBuf {
    let dir = bin_dir();
    let target = dir.parent().expect("target dir").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--bins", "-p", "pinta-cli", "-p", "pinta-extractor", "-p", "pinta-transformer"])
        .args(["-p", "pinta-validator", "-p", "pinta-notifier"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo build for the service binaries");
    assert!(status.success(), "building the service binaries failed");
    dir
}

/// Child processes killed (SIGKILL) on drop.
struct Procs(Vec<(String, Child, PathBuf)>);

impl Procs {
    fn logs(&self) -> String {
        let mut out = String::new();
        for (name, _, log) in &self.0 {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            out.push_str(&format!("\n--- {name} (last lines) ---\n"));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    fn assert_running(&mut self) {
        let mut dead = Vec::new();
        for (name, child, _) in &mut self.0 {
            if let Ok(Some(status)) = child.try_wait() {
                dead.push(format!("{name} exited: {status}"));
            }
        }
        assert!(dead.is_empty(), "{dead:?}{}", self.logs());
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn command(bin: &Path, env: &[(String, String)], log: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(log).expect("log file")))
        .stderr(Stdio::from(std::fs::OpenOptions::new().append(true).open(log).expect("log file")));
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_as_separate_processes_over_moto_and_mariadb() {
    let bins = build_binaries();
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("this test needs moto_server: {e}"));
    let sdk = moto.sdk_config().await;
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..10];
    let spec = BootstrapSpec {
        prefix: format!("pinta-{tag}"),
        bucket: format!("pinta-{tag}-data"),
        max_receive_count: 5,
        visibility_timeout: Duration::from_secs(60),
        path_style: true,
    };
    let res = bootstrap(&sdk, &spec).await.expect("bootstrap");
    // The outside world's view: a queue on the public topic.
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (watch_url, watch_arn) = create_queue(&sqs, &format!("pinta-{tag}-watch"), &[]).await.expect("watch queue");
    subscribe_queue(&sns, &sqs, &res.public_topic_arn, (&watch_url, &watch_arn), None).await.expect("subscribe watch");

    let source = fresh_mysql_db().await;
    let work = tempfile::tempdir().unwrap();
    let day = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
    let seed = Command::new(bins.join("pinta"))
        .args(["--data-dir"])
        .arg(work.path().join("local"))
        .args(["--source", &source, "seed", "--days", "3", "--until", "2025-03-31", "--rows-per-day", "40", "--defect-rate", "0.1"])
        .output()
        .expect("running pinta seed");
    assert!(seed.status.success(), "pinta seed failed: {}", String::from_utf8_lossy(&seed.stderr));

    let mut procs = Procs(Vec::new());
    for service in ["transformer", "validator", "notifier"] {
        let mut env = moto.env();
        env.extend(res.env_for(service));
        env.push(("PINTA_OUTBOX_DIR".into(), work.path().join("outbox").display().to_string()));
        let log = work.path().join(format!("{service}.log"));
        let child = command(&bins.join(format!("pinta-{service}")), &env, &log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting pinta-{service}: {e}"));
        procs.0.push((service.to_owned(), child, log));
    }

    // Trigger: the extractor, one-shot, for the last seeded day.
    let mut env = moto.env();
    env.extend(res.env_for("extractor"));
    env.push(("PINTA_SOURCE_URL".into(), source.clone()));
    let log = work.path().join("extractor.log");
    let status = command(&bins.join("pinta-extractor"), &env, &log).arg("2025-03-31").status().expect("running pinta-extractor");
    assert!(status.success(), "pinta-extractor failed: {}", std::fs::read_to_string(&log).unwrap_or_default());

    // Wait for production.published.v1 on the public topic.
    let watch = SqsReceiver::new(&sdk, &watch_url);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut published = None;
    let mut quarantined = None;
    while published.is_none() {
        procs.assert_running();
        assert!(tokio::time::Instant::now() < deadline, "no production.published.v1 on the public topic{}", procs.logs());
        for m in watch.receive(10, Duration::from_secs(2)).await.expect("receive") {
            let env = Envelope::from_json(&m.body).expect("public events are CloudEvents JSON");
            match env.decode().expect("known event") {
                PintaEvent::ProductionPublishedV1(p) => published = Some(p),
                PintaEvent::RowsQuarantinedV1(q) => quarantined = Some(q),
                other => panic!("only public types reach the public topic, got {other:?}"),
            }
            watch.ack(&m).await.expect("ack");
        }
    }
    let published = published.unwrap_or_else(|| unreachable!());
    assert_eq!(published.production_date, day);
    assert_eq!(published.rows_in, 40, "every seeded row of the day was read");
    assert_eq!(published.rows_curated + published.rows_quarantined, published.rows_in, "rows are conserved");

    // The objects in S3 are the ones the event names.
    let store = S3ObjectStore::new(&sdk, &res.bucket, true);
    let curated = store.get_bytes(&layout::curated_key(day)).await.expect("curated object in S3");
    assert_eq!(published.curated.key, layout::curated_key(day));
    assert_eq!(pinta_contracts::sha256_hex(&curated), published.curated.sha256, "curated object matches the event");
    assert_eq!(&curated[..4], b"PAR1", "the curated object is Parquet");
    if published.rows_quarantined > 0 {
        let q = published.quarantine.as_ref().expect("quarantine ref when rows were quarantined");
        let bytes = store.get_bytes(&layout::quarantine_key(day)).await.expect("quarantine object in S3");
        assert_eq!(pinta_contracts::sha256_hex(&bytes), q.sha256, "quarantine object matches the event");
        // rows.quarantined.v1 is public too; it may arrive just after production.published.v1.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while quarantined.is_none() && tokio::time::Instant::now() < deadline {
            for m in watch.receive(10, Duration::from_secs(2)).await.expect("receive") {
                if let Ok(PintaEvent::RowsQuarantinedV1(q)) = Envelope::from_json(&m.body).and_then(|e| e.decode()) {
                    quarantined = Some(q);
                }
                watch.ack(&m).await.expect("ack");
            }
        }
        let q = quarantined.expect("rows.quarantined.v1 on the public topic");
        assert_eq!(q.rows_quarantined, published.rows_quarantined);
    }
    // Nothing was dead-lettered.
    for service in ["transformer", "validator"] {
        let dlq = SqsDeadLetterStore::new(&sdk, &res.queues[service].dlq_url);
        let letters = dlq.list(None).await.expect("list DLQ");
        assert!(letters.is_empty(), "{service} dead-lettered: {letters:?}{}", procs.logs());
    }
    procs.assert_running();
}
