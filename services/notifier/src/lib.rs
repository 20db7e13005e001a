//! `pinta-notifier`: turns `pipeline.failed.v1` and `rows.quarantined.v1` into alerts for the ops
//! engineers — with a severity, the impact, a runbook link and a trace id — without flooding them.
//!
//! * [`policy`] — the severity policy as configuration (TOML; built-in defaults equal to
//!   `policy.example.toml`).
//! * [`engine`] — de-duplication, correlation into incidents, repetition, the 1-hour escalation window
//!   and the WARNING digest, as a pure state machine over persisted [`engine::NotifierState`].
//! * [`render`] — subject, plain-text and HTML bodies, runbook links.
//! * [`channels`] — the alerts topic (port [`AlertTopic`]; SNS adapter in `pinta_platform::aws`), SMTP
//!   (`lettre`), the `.eml` outbox, the webhook; retries and the outbox fallback.
//! * [`config`] — [`NotifierConfig`] from the environment.
//! * [`notifier`] — [`Notifier`], the [`pinta_platform::runner::EventHandler`].
//!
//! Invariant: an alert is either published to the alerts topic, handed to the SMTP relay or written to
//! the outbox (and a failed route is logged); a redelivered
//! event (same `source`+`id`) is never counted or mailed twice.

pub mod channels;
pub mod config;
pub mod engine;
pub mod notifier;
pub mod policy;
pub mod render;

pub use channels::{Alert, AlertChannel, AlertTopic, ChannelError, Delivery, TopicChannel, TopicError, TopicMessage};
pub use config::{ConfigError, NotifierConfig, SmtpConfig, TlsMode};
pub use engine::{NotifierState, Outcome, STATE_KEY};
pub use notifier::{Notifier, NotifierError, Processed};
pub use policy::{PolicyConfig, PolicyError, Severity};
