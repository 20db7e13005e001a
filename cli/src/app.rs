//! The embedded application: every service in one process on the embedded adapters — a local
//! directory as the bucket, an in-process bus with one queue per consumer, a dead-letter folder, the
//! processed-event log in the bucket, and the SQL source. Used by `pinta up`, `run`, `reconcile` and
//! `dlq replay`, and by the end-to-end tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use pinta_contracts::control::DayRecord;
use pinta_contracts::{EventType, layout};
use pinta_extractor::{Extractor, IncrementalConfig};
use pinta_extractor::reconcile::Reconciler;
use pinta_platform::embedded::{DirDeadLetterStore, InProcessBus, InProcessQueue, LocalObjectStore};
use pinta_platform::inbox::{Inbox, StoreInbox};
use pinta_platform::ports::{
    Clock, DeadLetterStore, EventPublisher, ObjectStore, ObjectStoreExt, ProductionSource, StoreError,
};
use pinta_platform::retry::RetryPolicy;
use pinta_platform::runner::{EventHandler, Runner};
use pinta_platform::sql::{SourceSettings, SqlSource};
use pinta_transformer::Transformer;
use pinta_validator::{Validator, ValidatorConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The system clock, shifted by a number of whole days (`pinta up --demo-every` moves the plant's
/// calendar forward one day per tick so a demo shows new days without waiting for midnight).
#[derive(Debug, Default)]
pub struct PlantClock {
    shift_days: AtomicI64,
}

impl PlantClock {
    pub fn advance_one_day(&self) {
        self.shift_days.fetch_add(1, Ordering::SeqCst);
    }
}

impl Clock for PlantClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::days(self.shift_days.load(Ordering::SeqCst))
    }
}

/// Every consumer, its queue, and the shared adapters.
pub struct Embedded {
    pub config: Config,
    pub store: Arc<dyn ObjectStore>,
    pub bus: Arc<InProcessBus>,
    pub publisher: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub inbox: Arc<dyn Inbox>,
    pub clock: Arc<PlantClock>,
    pub source: Arc<SqlSource>,
    pub extractor: Extractor,
    pub reconciler: Reconciler,
    /// Alerts by e-mail (SMTP or the outbox folder).
    pub notifier: Arc<pinta_notifier::Notifier>,
    /// Sees every failure, publication and quarantine (for progress and exit codes).
    pub watch: Arc<InProcessQueue>,
    /// The dashboard gateway's own queue of `production.published.v1` (live push).
    pub gateway_events: Arc<InProcessQueue>,
    consumers: Vec<(Arc<dyn EventHandler>, Arc<InProcessQueue>)>,
    pub retry: RetryPolicy,
}

const VISIBILITY: Duration = Duration::from_secs(60);

impl Embedded {
    /// Opens the adapters and subscribes every consumer (before anything is published).
    pub async fn open(config: Config) -> anyhow::Result<Embedded> {
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(&config.data_dir));
        let bus = InProcessBus::new();
        let publisher = bus.publisher();
        let dead_letters: Arc<dyn DeadLetterStore> = Arc::new(DirDeadLetterStore::new(config.dead_letter_dir()));
        let inbox: Arc<dyn Inbox> = Arc::new(StoreInbox::new(store.clone()));
        let clock = Arc::new(PlantClock::default());
        // Not contacted yet: a database that is down fails the extraction with pipeline.failed.v1.
        let source = Arc::new(
            SqlSource::open(&config.source_url, SourceSettings::from_env()?)
                .with_context(|| format!("configuring the source database ({})", redacted(&config.source_url)))?,
        );
        let validator_config = ValidatorConfig::from_env()?;
        let transformer: Arc<dyn EventHandler> = Arc::new(Transformer::new(store.clone(), clock.clone()));
        let validator: Arc<dyn EventHandler> =
            Arc::new(Validator::new(store.clone(), publisher.clone(), clock.clone(), validator_config.rules));
        let notifier = pinta_notifier::Notifier::new(
            pinta_notifier::NotifierConfig::from_env(config.outbox_dir())?,
            store.clone(),
            clock.clone(),
        )
        .await?;
        let notifier = Arc::new(notifier);
        let mut consumers = Vec::new();
        for handler in [transformer, validator, notifier.clone() as Arc<dyn EventHandler>] {
            let queue = bus.subscribe(handler.name(), handler.accepts(), VISIBILITY);
            consumers.push((handler, queue));
        }
        let watch = bus.subscribe(
            "cli-watch",
            &[EventType::PipelineFailedV1, EventType::ProductionPublishedV1, EventType::RowsQuarantinedV1],
            VISIBILITY,
        );
        let gateway_events = bus.subscribe("dashboard-gateway", &[EventType::ProductionPublishedV1], VISIBILITY);
        let extractor = Extractor::new(source.clone() as Arc<dyn ProductionSource>, store.clone(), clock.clone())
            .with_incremental(IncrementalConfig::from_env()?);
        let reconciler = Reconciler::new(store.clone(), clock.clone());
        Ok(Embedded {
            config,
            store,
            bus,
            publisher,
            dead_letters,
            inbox,
            clock,
            source,
            extractor,
            reconciler,
            notifier,
            watch,
            gateway_events,
            consumers,
            retry: RetryPolicy::default(),
        })
    }

    /// Adds a consumer (must be called before events it should see are published).
    pub fn add_consumer(&mut self, handler: Arc<dyn EventHandler>) {
        let queue = self.bus.subscribe(handler.name(), handler.accepts(), VISIBILITY);
        self.consumers.push((handler, queue));
    }

    /// Starts one runner per consumer.
    pub fn start(&self, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
        self.consumers
            .iter()
            .map(|(handler, queue)| {
                let runner = Runner {
                    receiver: queue.clone(),
                    publisher: self.publisher.clone(),
                    dead_letters: self.dead_letters.clone(),
                    inbox: self.inbox.clone(),
                    clock: self.clock.clone(),
                    retry: self.retry,
                    batch: 10,
                    wait: Duration::from_millis(500),
                    heartbeat: Duration::from_secs(20),
                };
                let handler = handler.clone();
                let token = shutdown.clone();
                tokio::spawn(async move { runner.run(handler, token).await })
            })
            .collect()
    }

    /// Messages still queued, delayed or in flight across the stage consumers.
    pub fn backlog(&self) -> usize {
        self.consumers.iter().map(|(_, q)| q.depth()).sum()
    }

    /// Waits until every stage queue has been empty for a moment, or `timeout` passes.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut quiet = 0;
        while tokio::time::Instant::now() < deadline {
            if self.backlog() == 0 {
                quiet += 1;
                if quiet >= 3 {
                    return true;
                }
            } else {
                quiet = 0;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// The completion record of a day, if it has one.
    pub async fn day_record(&self, day: NaiveDate) -> anyhow::Result<Option<DayRecord>> {
        match self.store.get_bytes(&layout::day_record_key(day)).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).context("unreadable day record")?)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
