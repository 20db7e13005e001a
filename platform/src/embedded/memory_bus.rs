//! [`InProcessBus`]: the messaging ports inside one process, with the semantics of SNS fanning out to
//! SQS queues.
//!
//! * The bus is the topic. [`InProcessBus::subscribe`] creates a named queue with a filter on the event
//!   `type` (an empty filter takes every type, including types this build does not know).
//! * Publishing an [`Envelope`] enqueues one message (body = the envelope's JSON, attributes `type`,
//!   `id` and `source`) on every queue whose filter matches. Delivery is at-least-once.
//! * A queue ([`InProcessQueue`]) behaves like SQS: a received message is in flight with a fresh
//!   receipt and an incremented `receive_count`; if it is not acknowledged within the visibility
//!   timeout it becomes visible again; `retry_later` makes it visible after a delay; `extend` pushes
//!   the deadline; an outdated receipt is [`BusError::StaleReceipt`].
//!
//! To observe everything that is published (tests, `pinta` debugging), subscribe a "tap" queue with an
//! empty filter: `bus.subscribe("tap", &[], Duration::from_secs(30))`. [`InProcessBus::published_count`]
//! counts publications.
//!
//! Messages live in memory only: what is in a queue when the process stops is lost. The reconciler
//! re-emits missing work on start-up, which is what makes the embedded mode durable.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use pinta_contracts::{Envelope, EventType};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ports::{BusError, EventPublisher, EventReceiver, Message};

/// Longest delay or visibility extension honoured (longer ones are capped), so deadlines never overflow.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

fn after(now: Instant, d: Duration) -> Instant {
    now + d.min(MAX_DELAY)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the plain data structures here inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The in-process topic.
pub struct InProcessBus {
    queues: Mutex<Vec<Arc<InProcessQueue>>>,
    published: AtomicU64,
    closed: AtomicBool,
}

impl fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = lock(&self.queues).iter().map(|q| q.name.clone()).collect();
        f.debug_struct("InProcessBus")
            .field("queues", &names)
            .field("published", &self.published.load(Ordering::Relaxed))
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl InProcessBus {
    pub fn new() -> Arc<InProcessBus> {
        Arc::new(InProcessBus { queues: Mutex::new(Vec::new()), published: AtomicU64::new(0), closed: AtomicBool::new(false) })
    }

    /// The bus as an [`EventPublisher`].
    pub fn publisher(self: &Arc<Self>) -> Arc<dyn EventPublisher> {
        self.clone()
    }

    /// Creates the queue `name` subscribed to `filter` (empty: every type). If a queue of that name
    /// already exists it is returned unchanged (like SQS `CreateQueue`), whatever `filter` and
    /// `visibility_timeout` say.
    pub fn subscribe(&self, name: &str, filter: &[EventType], visibility_timeout: Duration) -> Arc<InProcessQueue> {
        let mut queues = lock(&self.queues);
        if let Some(q) = queues.iter().find(|q| q.name == name) {
            if q.filter != filter {
                tracing::warn!(queue = name, "queue already subscribed with another filter; keeping the first");
            }
            return q.clone();
        }
        let q = Arc::new(InProcessQueue {
            name: name.to_owned(),
            filter: filter.to_vec(),
            visibility_timeout,
            state: Mutex::new(QueueState::default()),
            notify: Notify::new(),
        });
        queues.push(q.clone());
        q
    }

    /// The queue `name`, if subscribed.
    pub fn queue(&self, name: &str) -> Option<Arc<InProcessQueue>> {
        lock(&self.queues).iter().find(|q| q.name == name).cloned()
    }

    /// Envelopes published so far.
    pub fn published_count(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Stops the bus: publishing and receiving then fail with [`BusError::Closed`], and receivers
    /// waiting for messages wake up.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for q in lock(&self.queues).iter() {
            q.close();
        }
    }
}

#[async_trait]
impl EventPublisher for InProcessBus {
    async fn publish(&self, event: &Envelope) -> Result<(), BusError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        let body = event.to_json();
        let mut attributes = BTreeMap::new();
        attributes.insert("type".to_owned(), event.event_type.clone());
        attributes.insert("id".to_owned(), event.id.clone());
        attributes.insert("source".to_owned(), event.source.clone());
        let targets: Vec<Arc<InProcessQueue>> =
            lock(&self.queues).iter().filter(|q| q.matches(&event.event_type)).cloned().collect();
        for q in targets {
            q.send(body.clone(), attributes.clone());
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Debug)]
enum Visibility {
    /// Deliverable from this instant on.
    Visible { at: Instant },
    /// Received; invisible until `until` unless acknowledged.
    InFlight { receipt: String, until: Instant },
}

#[derive(Debug)]
struct Stored {
    message_id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    receive_count: u32,
    visibility: Visibility,
}

impl Stored {
    /// When the message can next be received.
    fn visible_at(&self) -> Instant {
        match &self.visibility {
            Visibility::Visible { at } => *at,
            Visibility::InFlight { until, .. } => *until,
        }
    }
}

#[derive(Debug, Default)]
struct QueueState {
    /// By enqueue sequence number.
    messages: BTreeMap<u64, Stored>,
    next_seq: u64,
    closed: bool,
}

/// One consumer's queue on an [`InProcessBus`].
pub struct InProcessQueue {
    name: String,
    filter: Vec<EventType>,
    visibility_timeout: Duration,
    state: Mutex<QueueState>,
    notify: Notify,
}

impl fmt::Debug for InProcessQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessQueue")
            .field("name", &self.name)
            .field("filter", &self.filter)
            .field("visibility_timeout", &self.visibility_timeout)
            .field("depth", &self.depth())
            .finish()
    }
}

/// A receipt names the message (sequence number) and the delivery (random part).
fn parse_receipt(receipt: &str) -> Option<u64> {
    receipt.split_once(':').and_then(|(seq, _)| seq.parse().ok())
}

impl InProcessQueue {
    pub fn filter(&self) -> &[EventType] {
        &self.filter
    }

    pub fn visibility_timeout(&self) -> Duration {
        self.visibility_timeout
    }

    fn matches(&self, event_type: &str) -> bool {
        self.filter.is_empty() || self.filter.iter().any(|t| t.as_str() == event_type)
    }

    /// Messages in the queue: visible, delayed and in flight.
    pub fn depth(&self) -> usize {
        lock(&self.state).messages.len()
    }

    /// Enqueues a raw message directly on this queue, bypassing the topic and the filter (like SQS
    /// `SendMessage`; used to inject arbitrary bodies). Returns the message id. A closed queue drops it.
    pub fn send(&self, body: String, attributes: BTreeMap<String, String>) -> String {
        let message_id = uuid::Uuid::new_v4().to_string();
        {
            let mut st = lock(&self.state);
            if st.closed {
                return message_id;
            }
            let seq = st.next_seq;
            st.next_seq += 1;
            st.messages.insert(
                seq,
                Stored {
                    message_id: message_id.clone(),
                    body,
                    attributes,
                    receive_count: 0,
                    visibility: Visibility::Visible { at: Instant::now() },
                },
            );
        }
        self.notify.notify_waiters();
        message_id
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.notify.notify_waiters();
    }

    /// Takes up to `max` visible messages; otherwise says when the next one becomes visible.
    fn take_visible(&self, max: usize) -> Result<(Vec<Message>, Option<Instant>), BusError> {
        let now = Instant::now();
        let mut st = lock(&self.state);
        if st.closed {
            return Err(BusError::Closed);
        }
        let mut ready: Vec<(Instant, u64)> =
            st.messages.iter().map(|(seq, m)| (m.visible_at(), *seq)).filter(|(at, _)| *at <= now).collect();
        if ready.is_empty() {
            let next = st.messages.values().map(Stored::visible_at).min();
            return Ok((Vec::new(), next));
        }
        ready.sort();
        ready.truncate(max);
        let mut out = Vec::with_capacity(ready.len());
        for (_, seq) in ready {
            if let Some(m) = st.messages.get_mut(&seq) {
                let receipt = format!("{seq}:{}", uuid::Uuid::new_v4().simple());
                m.receive_count = m.receive_count.saturating_add(1);
                m.visibility = Visibility::InFlight { receipt: receipt.clone(), until: after(now, self.visibility_timeout) };
                out.push(Message {
                    message_id: m.message_id.clone(),
                    receipt,
                    body: m.body.clone(),
                    attributes: m.attributes.clone(),
                    receive_count: m.receive_count,
                    queue: self.name.clone(),
                });
            }
        }
        Ok((out, None))
    }

    /// Applies `change` to the in-flight message `receipt` names, or reports a stale receipt. A receipt
    /// stays valid until the message is received again, acknowledged or released (as with SQS, an
    /// expired visibility timeout alone does not invalidate it).
    fn with_in_flight<T>(
        &self,
        receipt: &str,
        change: impl FnOnce(&mut QueueState, u64) -> T,
    ) -> Result<T, BusError> {
        let stale = || BusError::StaleReceipt { receipt: receipt.to_owned() };
        let seq = parse_receipt(receipt).ok_or_else(stale)?;
        let mut st = lock(&self.state);
        if st.closed {
            return Err(BusError::Closed);
        }
        match st.messages.get(&seq) {
            Some(Stored { visibility: Visibility::InFlight { receipt: current, .. }, .. }) if current == receipt => {
                Ok(change(&mut st, seq))
            }
            _ => Err(stale()),
        }
    }
}

#[async_trait]
impl EventReceiver for InProcessQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Message>, BusError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = after(Instant::now(), wait);
        loop {
            // Register for wake-ups before looking, so a publication in between is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (messages, next) = self.take_visible(max)?;
            if !messages.is_empty() {
                return Ok(messages);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake = next.map_or(deadline, |n| n.min(deadline));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn ack(&self, message: &Message) -> Result<(), BusError> {
        self.with_in_flight(&message.receipt, |st, seq| {
            st.messages.remove(&seq);
        })
    }

    async fn retry_later(&self, message: &Message, delay: Duration) -> Result<(), BusError> {
        let at = after(Instant::now(), delay);
        self.with_in_flight(&message.receipt, |st, seq| {
            if let Some(m) = st.messages.get_mut(&seq) {
                m.visibility = Visibility::Visible { at };
            }
        })?;
        // Waiting receivers recompute their wake-up time (the message may be visible already).
        self.notify.notify_waiters();
        Ok(())
    }

    async fn extend(&self, message: &Message, by: Duration) -> Result<(), BusError> {
        let until_new = after(Instant::now(), by);
        self.with_in_flight(&message.receipt, |st, seq| {
            if let Some(Stored { visibility: Visibility::InFlight { until, .. }, .. }) = st.messages.get_mut(&seq) {
                *until = until_new;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_parse_only_when_well_formed() {
        assert_eq!(parse_receipt("12:abc"), Some(12));
        assert_eq!(parse_receipt("abc"), None);
        assert_eq!(parse_receipt("x:abc"), None);
    }
}
