//! Telemetry: tracing set-up and named events that write the log line and bump the metric together.
//!
//! Logs are human-readable locally and JSON in AWS (`PINTA_LOG_FORMAT=json`, or automatically inside
//! Lambda). Every event-related line carries the CloudEvents id and the `traceparent`.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use pinta_contracts::{Envelope, FailureCode};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

impl LogFormat {
    /// `PINTA_LOG_FORMAT` (`json` / `human`), else JSON inside AWS Lambda, else human.
    pub fn from_env() -> LogFormat {
        match std::env::var("PINTA_LOG_FORMAT").ok().as_deref() {
            Some("json") => LogFormat::Json,
            Some(_) => LogFormat::Human,
            None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => LogFormat::Json,
            None => LogFormat::Human,
        }
    }
}

/// Installs the global subscriber (`RUST_LOG` filters; else `default_filter`). Safe to call twice.
pub fn init(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.compact().try_init(),
    };
}

/// Process-wide counters, rendered in Prometheus text format by the gateway's `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(String, Vec<(String, String)>), f64>>,
}

impl Metrics {
    pub fn global() -> &'static Metrics {
        static M: OnceLock<Metrics> = OnceLock::new();
        M.get_or_init(Metrics::default)
    }

    pub fn add(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        let key = (name.to_owned(), labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(key).or_insert(0.0) += value;
        }
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let key = (name.to_owned(), labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        self.counters.lock().ok().and_then(|c| c.get(&key).copied()).unwrap_or(0.0)
    }

    /// Prometheus text exposition (counters only).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(c) = self.counters.lock() else { return out };
        let mut last = "";
        for ((name, labels), value) in c.iter() {
            if name != last {
                out.push_str(&format!("# TYPE {name} counter\n"));
                last = name;
            }
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('"', "\\\""))).collect();
            if l.is_empty() {
                out.push_str(&format!("{name} {value}\n"));
            } else {
                out.push_str(&format!("{name}{{{}}} {value}\n", l.join(",")));
            }
        }
        out
    }
}

fn trace_of(e: &Envelope) -> String {
    e.traceparent.map(|t| t.to_string()).unwrap_or_default()
}

/// An event was handled and its outputs published.
pub struct EventHandled<'a> {
    pub consumer: &'a str,
    pub event: &'a Envelope,
    pub published: usize,
    pub elapsed: Duration,
}

impl EventHandled<'_> {
    pub fn emit(self) {
        tracing::info!(
            consumer = self.consumer,
            event_id = %self.event.id,
            event_type = %self.event.event_type,
            subject = self.event.subject.as_deref().unwrap_or(""),
            traceparent = %trace_of(self.event),
            published = self.published,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "event handled"
        );
        Metrics::global().add("pinta_events_handled_total", &[("consumer", self.consumer)], 1.0);
    }
}

/// A redelivered event was recognised and skipped.
pub struct EventDuplicate<'a> {
    pub consumer: &'a str,
    pub event: &'a Envelope,
}

impl EventDuplicate<'_> {
    pub fn emit(self) {
        tracing::info!(consumer = self.consumer, event_id = %self.event.id, traceparent = %trace_of(self.event), "duplicate event skipped");
        Metrics::global().add("pinta_events_duplicate_total", &[("consumer", self.consumer)], 1.0);
    }
}

/// A transient failure; the event will be delivered again.
pub struct EventRetried<'a> {
    pub consumer: &'a str,
    pub event_id: &'a str,
    pub attempt: u32,
    pub delay: Duration,
    pub error: &'a str,
}

impl EventRetried<'_> {
    pub fn emit(self) {
        tracing::warn!(
            consumer = self.consumer,
            event_id = self.event_id,
            attempt = self.attempt,
            retry_in_ms = self.delay.as_millis() as u64,
            error = self.error,
            "event failed; will retry"
        );
        Metrics::global().add("pinta_events_retried_total", &[("consumer", self.consumer)], 1.0);
    }
}

/// A message was set aside in the dead-letter store.
pub struct EventDeadLettered<'a> {
    pub consumer: &'a str,
    pub code: FailureCode,
    pub reason: &'a str,
    pub message_id: &'a str,
}

impl EventDeadLettered<'_> {
    pub fn emit(self) {
        tracing::error!(
            consumer = self.consumer,
            code = self.code.as_str(),
            message_id = self.message_id,
            reason = self.reason,
            "message dead-lettered"
        );
        Metrics::global().add(
            "pinta_events_dead_lettered_total",
            &[("consumer", self.consumer), ("code", self.code.as_str())],
            1.0,
        );
    }
}
