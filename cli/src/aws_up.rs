//! `pinta up --aws` (or `PINTA_MODE=aws pinta up`): the whole stack in one process against an AWS
//! endpoint (`AWS_ENDPOINT_URL` for an emulator, or real AWS), on the `platform::aws` adapters and the
//! same handlers as the embedded mode:
//!
//! * the extractor on the schedule (catch-up at start, then daily at 00:00 plant time, plus the
//!   reconciliation sweep), writing raw files to S3 and publishing to the pipeline SNS topic;
//! * one runner per consumer — transformer, validator, notifier — each long-polling its own SQS queue
//!   (subscribed to the pipeline topic with a filter policy on `type`), with its own SQS DLQ;
//! * the dashboard gateway serving the S3 bucket and following `production.published.v1` on its own
//!   queue (which also prints the progress lines).
//!
//! The configuration ([`UpConfig`]) is read and validated before anything starts: a missing or wrong
//! variable stops the command with an error naming it. `pinta aws bootstrap --only up` prints it.
//! The source database is `--source` / `PINTA_SOURCE_URL`, else the Secrets Manager secret
//! `PINTA_SOURCE_SECRET_ARN`, else the local SQLite file in the data directory.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{FixedOffset, NaiveDate};
use pinta_contracts::{Envelope, PintaEvent, layout};
use pinta_extractor::{Extractor, IncrementalConfig};
use pinta_extractor::reconcile::Reconciler;
use pinta_platform::aws::config::{Env, UpConfig};
use pinta_platform::aws::{S3ObjectStore, SnsPublisher, SqsDeadLetterStore, SqsReceiver};
use pinta_platform::inbox::{Inbox, StoreInbox};
use pinta_platform::ports::{
    BusError, Clock, DeadLetterStore, EventPublisher, EventReceiver, Message, ObjectStore, ProductionSource,
};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::{EventHandler, Runner, error_chain};
use pinta_platform::sql::SqlSource;
use tokio_util::sync::CancellationToken;

use crate::app::PlantClock;
use crate::commands::{UpArgs, catch_up, demo_params};
use crate::config::Config;
use crate::seed;

/// Scheduled extractions against a remote endpoint ride out a short outage: up to 8 attempts, 1 s
/// doubling to 30 s between them (about 90 s in all) before the day is reported as failed.
pub const EXTRACT_RETRY: RetryPolicy =
    RetryPolicy { max_attempts: 8, base: Duration::from_secs(1), max: Duration::from_secs(30) };

/// Long-poll wait of the consumers' receives.
const RECEIVE_WAIT: Duration = Duration::from_secs(10);

/// The gateway's queue, printing a line for every publication it sees.
#[derive(Debug)]
struct Announcing {
    inner: SqsReceiver,
    published: Arc<AtomicU64>,
}

#[async_trait]
impl EventReceiver for Announcing {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        let messages = self.inner.receive(max, wait).await?;
        for m in &messages {
            if let Ok(PintaEvent::ProductionPublishedV1(p)) = Envelope::from_json(&m.body).and_then(|e| e.decode()) {
                self.published.fetch_add(1, Ordering::Relaxed);
                println!(
                    "pinta: published {}: {} rows curated, {} quarantined, {} L",
                    p.production_date, p.rows_curated, p.rows_quarantined, p.kpis.liters
                );
            }
        }
        Ok(messages)
    }
    async fn ack(&self, message: &Message) -> Result<(), BusError> {
        self.inner.ack(message).await
    }
    async fn retry_later(&self, message: &Message, delay: Duration) -> Result<(), BusError> {
        self.inner.retry_later(message, delay).await
    }
    async fn extend(&self, message: &Message, by: Duration) -> Result<(), BusError> {
        self.inner.extend(message, by).await
    }
}

fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// The plant's calendar date.
fn plant_today(clock: &PlantClock, offset: FixedOffset) -> NaiveDate {
    clock.now().with_timezone(&offset).date_naive()
}

fn until_next_midnight(clock: &PlantClock, offset: FixedOffset) -> Duration {
    let now = clock.now().with_timezone(&offset);
    let next = (now.date_naive() + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    let next = next.and_local_timezone(offset).single().map(|t| t.signed_duration_since(now));
    next.and_then(|d| d.to_std().ok()).unwrap_or(Duration::from_secs(3600))
}

/// Runs the stack until SIGINT / SIGTERM; exits 0 after a clean stop.
pub async fn run(config: Config, source_given: bool, args: UpArgs) -> anyhow::Result<ExitCode> {
    let offset = config.schedule_offset;
    // Everything is validated before any network call.
    let env = Env::process();
    let up = UpConfig::from_env(&env).context("pinta up --aws: invalid AWS configuration")?;
    let gateway_config = pinta_dashboard_gateway::GatewayConfig::from_env(args.bind)?;
    let rules = pinta_validator::ValidatorConfig::from_env()?.rules;
    let incremental = IncrementalConfig::from_env()?;
    let notifier_config = pinta_notifier::NotifierConfig::from_env(config.outbox_dir())?;
    let sdk = pinta_platform::aws::sdk_config(&up.aws).await;
    println!(
        "pinta: AWS mode: bucket {} at {}, pipeline topic {}",
        up.bucket,
        up.aws.endpoint_url.as_deref().unwrap_or("AWS"),
        up.pipeline_topic_arn
    );

    let source_url = if !source_given && env.get("PINTA_SOURCE_SECRET_ARN").is_some() {
        pinta_platform::aws::secrets::source_url(&env, &sdk).await.context("reading the source database secret")?
    } else {
        config.source_url.clone()
    };
    let source = Arc::new(
        SqlSource::connect(&source_url, Duration::from_secs(10))
            .await
            .with_context(|| format!("opening the source database ({})", redacted(&source_url)))?,
    );

    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(&sdk, &up.bucket, up.aws.path_style()));
    store.list(layout::CONTROL_PREFIX).await.with_context(|| {
        format!("reading the bucket {} (PINTA_BUCKET); `pinta aws bootstrap` creates it on an emulator", up.bucket)
    })?;
    let publisher: Arc<dyn EventPublisher> =
        Arc::new(SnsPublisher::new(&sdk, &up.pipeline_topic_arn).with_public_topic(up.public_topic_arn.clone()));
    let inbox: Arc<dyn Inbox> = Arc::new(StoreInbox::new(store.clone()));
    let clock = Arc::new(PlantClock::default());

    // The same handlers as the embedded mode.
    let transformer: Arc<dyn EventHandler> =
        Arc::new(pinta_transformer::Transformer::new(store.clone(), clock.clone()));
    let validator: Arc<dyn EventHandler> =
        Arc::new(pinta_validator::Validator::new(store.clone(), publisher.clone(), clock.clone(), rules));
    // Alerts go to the alerts SNS topic when PINTA_ALERTS_TOPIC_ARN is set (ops subscribe by e-mail).
    let alert_topic = notifier_config.alerts_topic_arn.as_ref().map(|arn| {
        Arc::new(pinta_platform::aws::SnsAlertPublisher::new(&sdk, arn.clone()))
            as Arc<dyn pinta_notifier::AlertTopic>
    });
    let notifier = Arc::new(
        pinta_notifier::Notifier::with_topic(notifier_config, store.clone(), clock.clone(), alert_topic).await?,
    );
    let extractor = Extractor::new(source.clone() as Arc<dyn ProductionSource>, store.clone(), clock.clone())
        .with_incremental(incremental);
    let reconciler = Reconciler::new(store.clone(), clock.clone());

    let today = plant_today(&clock, offset);
    if source.count_rows().await? == 0 && !args.no_seed {
        let until = today - chrono::Duration::days(1);
        print!("pinta: the source is empty; seeding a year of demo production (365 days to {until}) … ");
        let s = seed::seed(&source, &demo_params(until)).await?;
        println!("{} rows", s.rows);
    }

    // SIGINT / SIGTERM are caught from here on (also during the catch-up below).
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            pinta_platform::worker::wait_for_signal().await;
            stop.cancel();
        });
    }
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    for (consumer, handler) in [
        ("transformer", transformer),
        ("validator", validator),
        ("notifier", notifier.clone() as Arc<dyn EventHandler>),
    ] {
        let queues = &up.consumers[consumer];
        let dead_letters: Arc<dyn DeadLetterStore> = Arc::new(SqsDeadLetterStore::new(&sdk, &queues.dlq_url));
        let runner = Runner {
            receiver: Arc::new(SqsReceiver::new(&sdk, &queues.queue_url)),
            publisher: publisher.clone(),
            dead_letters,
            inbox: inbox.clone(),
            clock: clock.clone(),
            retry: RetryPolicy::default(),
            batch: 10,
            wait: RECEIVE_WAIT,
            heartbeat: Duration::from_secs(20),
        };
        let token = shutdown.clone();
        tasks.push(tokio::spawn(async move { runner.run(handler, token).await }));
    }

    // The gateway.
    let addr = SocketAddr::new(args.bind, args.port);
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the gateway to {addr}"))?;
    let state = pinta_dashboard_gateway::GatewayState::new(store.clone(), gateway_config);
    let published = Arc::new(AtomicU64::new(0));
    let events: Arc<dyn EventReceiver> = Arc::new(Announcing {
        inner: SqsReceiver::new(&sdk, &up.consumers["gateway"].queue_url),
        published: published.clone(),
    });
    tasks.extend(
        pinta_dashboard_gateway::start(listener, state, events, shutdown.clone())
            .await
            .context("PINTA_OIDC_JWKS_URL (or PINTA_OIDC_ISSUER): loading the provider's signing keys")?,
    );
    println!("pinta: dashboards on http://{addr}/ (gerencial) and http://{addr}/operativo (API: /api/openapi.json)");
    println!("pinta: alerts go to {} unless PINTA_SMTP_HOST is set", config.outbox_dir().display());

    // Heal what a previous run left unfinished, then catch up on days never extracted.
    let report = reconciler.sweep(publisher.as_ref(), Duration::ZERO).await?;
    if !report.reemitted.is_empty() {
        println!("pinta: resuming {} unfinished day(s) from a previous run", report.reemitted.len());
    }
    let pending = catch_up(&extractor, publisher.as_ref(), today, &EXTRACT_RETRY).await?;
    println!(
        "pinta: {} day(s) sent for processing; daily extraction at 00:00 UTC{offset}. Ctrl-C stops.",
        report.reemitted.len() + pending
    );

    let mut digest_every = tokio::time::interval(Duration::from_secs(300));
    let mut reconcile_every = tokio::time::interval(Duration::from_secs(600));
    reconcile_every.tick().await;
    let mut demo = args.demo_every.map(tokio::time::interval);
    if let Some(d) = demo.as_mut() {
        d.tick().await;
    }
    loop {
        let next_midnight = until_next_midnight(&clock, offset);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(next_midnight) => {
                match catch_up(&extractor, publisher.as_ref(), plant_today(&clock, offset), &EXTRACT_RETRY).await {
                    Ok(n) => println!("pinta: daily extraction: {n} new day(s)"),
                    Err(e) => eprintln!("pinta: daily extraction failed: {e:#}"),
                }
            }
            _ = digest_every.tick() => {
                if let Err(e) = notifier.send_due_digest().await {
                    eprintln!("pinta: alert digest failed: {e}");
                }
            }
            _ = reconcile_every.tick() => {
                if let Err(e) = reconciler.sweep(publisher.as_ref(), Duration::from_secs(300)).await {
                    eprintln!("pinta: reconciliation failed: {e:#}");
                }
            }
            _ = async { match demo.as_mut() { Some(d) => { d.tick().await; } None => std::future::pending::<()>().await } } => {
                clock.advance_one_day();
                let day = plant_today(&clock, offset) - chrono::Duration::days(1);
                let rows = seed::generate_day(&demo_params(day), day).into_iter().map(|r| r.row).collect::<Vec<_>>();
                match source.write_day(day, &rows).await {
                    Ok(()) => {
                        println!("pinta: demo: new production day {day} ({} rows)", rows.len());
                        if let Err(e) = extractor.extract_and_publish(publisher.as_ref(), Some(day), &EXTRACT_RETRY).await {
                            eprintln!("pinta: demo extraction failed: {}", error_chain(&e));
                        }
                    }
                    Err(e) => eprintln!("pinta: demo: could not write {day}: {e}"),
                }
            }
        }
    }
    println!("pinta: stopping …");
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }
    source.close().await;
    println!("pinta: stopped ({} day(s) published while running)", published.load(Ordering::Relaxed));
    Ok(ExitCode::SUCCESS)
}
