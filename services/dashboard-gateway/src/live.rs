//! Live push: "new production available" to every open dashboard.
//!
//! The [`Hub`] keeps the latest published day and fans notices out with a `tokio::sync::broadcast`
//! channel. Each WebSocket client runs [`client_loop`], generic over a `Sink`/`Stream` pair so it can
//! be tested with channels: on connect it sends the current latest day; each notice goes into a
//! bounded per-client queue drained by the writer half. A full queue is waited on for up to
//! [`Hub::stall_timeout`] — a burst of notices (a catch-up publishing many days at once) drains in
//! that time — and a client whose queue stays full that long (it stopped reading) is dropped, so it
//! never slows the others. If a client's broadcast receiver lags, it gets
//! the current snapshot instead of the missed notices (the snapshot says everything they said).
//! Notices of backfilled days are debounced: one notice after a quiet period, not one per day.
//! [`follow_events`] feeds the hub from any [`EventReceiver`] (the in-process bus locally, the
//! gateway instance's own SQS queue in AWS).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{NaiveDate, SecondsFormat, Utc};
use futures::{Sink, SinkExt, Stream, StreamExt};
use pinta_contracts::{Envelope, PintaEvent};
use pinta_platform::ports::EventReceiver;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::sync::mpsc::error::TrySendError;

/// What a dashboard receives (JSON text frames).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// `snapshot` on connect or after lag; `published` when a day was published.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The latest published day.
    pub latest: Option<NaiveDate>,
    /// The day just published (`published` only).
    pub date: Option<NaiveDate>,
    /// When the gateway learnt of it (RFC 3339, UTC).
    pub at: String,
}

impl Notice {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Shared live state.
#[derive(Debug)]
pub struct Hub {
    tx: broadcast::Sender<Notice>,
    latest: Mutex<(Option<NaiveDate>, String)>,
    pending_backfill: Mutex<Option<(NaiveDate, tokio::time::Instant)>>,
    /// Per-client queue bound.
    pub client_queue: usize,
    /// Quiet period before a backfill notice.
    pub debounce: Duration,
    /// How long a client's full queue is waited on before the client is dropped.
    pub stall_timeout: Duration,
    pub connected: AtomicU64,
    pub dropped: AtomicU64,
    pub notices: AtomicU64,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Why a client loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The client closed or its stream ended.
    ClientGone,
    /// Writing failed.
    SendFailed,
    /// Its queue stayed full for [`Hub::stall_timeout`]: it stopped reading and was dropped.
    Dropped,
    /// The hub is gone (shutdown).
    Shutdown,
}

/// Default [`Hub::stall_timeout`].
pub const STALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Hub {
    pub fn new(client_queue: usize, debounce: Duration) -> Arc<Hub> {
        Hub::with_stall_timeout(client_queue, debounce, STALL_TIMEOUT)
    }

    pub fn with_stall_timeout(client_queue: usize, debounce: Duration, stall_timeout: Duration) -> Arc<Hub> {
        let (tx, _) = broadcast::channel(1024);
        Arc::new(Hub {
            tx,
            latest: Mutex::new((None, now())),
            pending_backfill: Mutex::new(None),
            client_queue: client_queue.max(1),
            debounce,
            stall_timeout,
            connected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            notices: AtomicU64::new(0),
        })
    }

    /// The current state, as sent on connect.
    pub fn snapshot(&self) -> Notice {
        let (latest, at) = self.latest.lock().map(|g| g.clone()).unwrap_or((None, now()));
        Notice {
            kind: "snapshot",
            latest,
            date: None,
            at,
        }
    }

    pub fn latest(&self) -> Option<NaiveDate> {
        self.latest.lock().ok().and_then(|g| g.0)
    }

    /// Sets the latest day without notifying (start-up).
    pub fn set_latest(&self, day: Option<NaiveDate>) {
        if let Ok(mut g) = self.latest.lock() {
            if day > g.0 {
                *g = (day, now());
            }
        }
    }

    /// A day was published. Live days are pushed at once; backfilled days wait for a quiet period
    /// (see [`Hub::flush_backfill`]).
    pub fn published(&self, day: NaiveDate, backfill: bool) {
        let latest = {
            let Ok(mut g) = self.latest.lock() else { return };
            if Some(day) > g.0 {
                g.0 = Some(day);
            }
            g.1 = now();
            g.0
        };
        if backfill {
            if let Ok(mut p) = self.pending_backfill.lock() {
                *p = Some((day, tokio::time::Instant::now()));
            }
            return;
        }
        self.send(Notice {
            kind: "published",
            latest,
            date: Some(day),
            at: now(),
        });
    }

    fn send(&self, n: Notice) {
        self.notices.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(n);
    }

    /// Sends the pending backfill notice if the quiet period has passed; true when it did.
    pub fn flush_backfill(&self) -> bool {
        let due = {
            let Ok(mut p) = self.pending_backfill.lock() else {
                return false;
            };
            match *p {
                Some((day, at)) if at.elapsed() >= self.debounce => {
                    *p = None;
                    Some(day)
                }
                _ => None,
            }
        };
        match due {
            Some(day) => {
                self.send(Notice {
                    kind: "published",
                    latest: self.latest(),
                    date: Some(day),
                    at: now(),
                });
                true
            }
            None => false,
        }
    }

    /// Runs [`Hub::flush_backfill`] periodically until the hub is dropped.
    pub fn spawn_debouncer(self: &Arc<Hub>) {
        let weak = Arc::downgrade(self);
        let tick = (self.debounce / 4).max(Duration::from_millis(20));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                match weak.upgrade() {
                    Some(hub) => {
                        hub.flush_backfill();
                    }
                    None => break,
                }
            }
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}

/// Serves one client: snapshot first, then notices, until it leaves, fails or falls behind.
/// `incoming` is only watched for its end (the client closing).
pub async fn client_loop<Si, St>(hub: &Hub, mut sink: Si, mut incoming: St) -> Ended
where
    Si: Sink<String> + Unpin,
    St: Stream + Unpin,
{
    let mut rx = hub.subscribe();
    hub.connected.fetch_add(1, Ordering::Relaxed);
    let (qtx, mut qrx) = tokio::sync::mpsc::channel::<String>(hub.client_queue);
    let _ = qtx.try_send(hub.snapshot().to_json());
    let writer = async {
        while let Some(text) = qrx.recv().await {
            if sink.send(text).await.is_err() {
                return Ended::SendFailed;
            }
        }
        Ended::Shutdown
    };
    let reader = async {
        loop {
            tokio::select! {
                n = rx.recv() => {
                    let text = match n {
                        Ok(n) => n.to_json(),
                        Err(broadcast::error::RecvError::Lagged(_)) => hub.snapshot().to_json(),
                        Err(broadcast::error::RecvError::Closed) => return Ended::Shutdown,
                    };
                    match qtx.try_send(text) {
                        Ok(()) => {}
                        // A burst, or a client that stopped reading: the writer keeps draining while
                        // this waits (both run in this task's `select!`).
                        Err(TrySendError::Full(text)) => {
                            match tokio::time::timeout(hub.stall_timeout, qtx.send(text)).await {
                                Ok(Ok(())) => {}
                                Ok(Err(_)) => return Ended::Shutdown,
                                Err(_) => return Ended::Dropped,
                            }
                        }
                        Err(TrySendError::Closed(_)) => return Ended::Shutdown,
                    }
                }
                item = incoming.next() => if item.is_none() { return Ended::ClientGone },
            }
        }
    };
    let ended = tokio::select! {
        e = writer => e,
        e = reader => e,
    };
    hub.connected.fetch_sub(1, Ordering::Relaxed);
    if ended == Ended::Dropped {
        hub.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::info!("dashboard client dropped: it stopped reading");
    }
    ended
}

/// Feeds `production.published.v1` from `receiver` into the hub (and the cache invalidation), acking
/// every message, until `shutdown` completes. Other event types are acked and ignored.
pub async fn follow_events(
    receiver: Arc<dyn EventReceiver>,
    state: crate::GatewayState,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    loop {
        let batch = tokio::select! {
            _ = &mut shutdown => break,
            b = receiver.receive(50, Duration::from_millis(500)) => b,
        };
        match batch {
            Ok(messages) => {
                for m in messages {
                    if let Ok(PintaEvent::ProductionPublishedV1(p)) =
                        Envelope::from_json(&m.body).and_then(|e| e.decode())
                    {
                        state.published(p.production_date, p.backfill);
                    }
                    if let Err(e) = receiver.ack(&m).await {
                        tracing::warn!(error = %e, "could not ack a gateway event");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "gateway event queue unavailable; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::mpsc;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, d).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_client_gets_the_snapshot_then_notices() {
        let hub = Hub::new(8, Duration::from_millis(50));
        hub.set_latest(Some(day(1)));
        let (out_tx, mut out_rx) = mpsc::unbounded::<String>();
        let (in_tx, in_rx) = mpsc::unbounded::<()>();
        let h = hub.clone();
        let task = tokio::spawn(async move { client_loop(&h, out_tx, in_rx).await });
        let first: serde_json::Value = serde_json::from_str(&out_rx.next().await.unwrap()).unwrap();
        assert_eq!(first["type"], "snapshot");
        assert_eq!(first["latest"], "2025-03-01");
        while hub.connected.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        hub.published(day(2), false);
        let n: serde_json::Value = serde_json::from_str(&out_rx.next().await.unwrap()).unwrap();
        assert_eq!(
            (n["type"].as_str(), n["date"].as_str(), n["latest"].as_str()),
            (Some("published"), Some("2025-03-02"), Some("2025-03-02"))
        );
        drop(in_tx);
        assert_eq!(task.await.unwrap(), Ended::ClientGone);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_and_the_others_keep_receiving() {
        let hub = Hub::with_stall_timeout(4, Duration::from_millis(50), Duration::from_millis(200));
        // A sink that never accepts anything: the writer blocks on the first send.
        let (stuck_tx, _stuck_rx) = mpsc::channel::<String>(0);
        let (_keep, in_rx) = mpsc::unbounded::<()>();
        let h = hub.clone();
        let stuck = tokio::spawn(async move { client_loop(&h, stuck_tx, in_rx).await });
        let (ok_tx, mut ok_rx) = mpsc::unbounded::<String>();
        let (_keep2, in_rx2) = mpsc::unbounded::<()>();
        let h = hub.clone();
        let good = tokio::spawn(async move { client_loop(&h, ok_tx, in_rx2).await });
        ok_rx.next().await.unwrap();
        while hub.connected.load(Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        for d in 1..=20 {
            hub.published(day(d), false);
            let n: serde_json::Value = serde_json::from_str(&ok_rx.next().await.unwrap()).unwrap();
            assert_eq!(n["date"], day(d).to_string());
        }
        assert_eq!(stuck.await.unwrap(), Ended::Dropped);
        assert_eq!(hub.dropped.load(Ordering::Relaxed), 1);
        hub.published(day(21), false);
        let n: serde_json::Value = serde_json::from_str(&ok_rx.next().await.unwrap()).unwrap();
        assert_eq!(n["date"], "2025-03-21");
        good.abort();
    }

    #[tokio::test]
    async fn a_burst_larger_than_the_queue_reaches_a_reading_client_whole() {
        // A catch-up publishes many live days back to back, faster than any writer: a client that
        // reads is not mistaken for a stalled one.
        let hub = Hub::new(4, Duration::from_millis(50));
        let (tx, mut rx) = mpsc::unbounded::<String>();
        let (_keep, in_rx) = mpsc::unbounded::<()>();
        let h = hub.clone();
        let client = tokio::spawn(async move { client_loop(&h, tx, in_rx).await });
        rx.next().await.unwrap(); // the snapshot
        while hub.connected.load(Ordering::Relaxed) < 1 {
            tokio::task::yield_now().await;
        }
        let days: Vec<NaiveDate> = (1..=100u64).map(|d| day(1) + chrono::Days::new(d)).collect();
        for d in &days {
            hub.published(*d, false);
        }
        for d in &days {
            let n: serde_json::Value = serde_json::from_str(&rx.next().await.unwrap()).unwrap();
            assert_eq!(n["date"], d.to_string());
        }
        assert_eq!(hub.dropped.load(Ordering::Relaxed), 0);
        assert!(!client.is_finished());
        client.abort();
    }

    #[tokio::test]
    async fn backfilled_days_become_one_notice_after_a_quiet_period() {
        let hub = Hub::new(64, Duration::from_millis(200));
        let mut rx = hub.subscribe();
        for d in 1..=10 {
            hub.published(day(d), true);
        }
        assert!(rx.try_recv().is_err(), "backfill days must not be pushed one by one");
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(hub.flush_backfill());
        let n = rx.recv().await.unwrap();
        assert_eq!((n.date, n.latest), (Some(day(10)), Some(day(10))));
        assert!(rx.try_recv().is_err());
        assert!(!hub.flush_backfill());
    }
}
