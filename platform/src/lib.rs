//! `pinta-platform`: everything a service needs from the outside world, behind small traits.
//!
//! * [`ports`] — the traits services depend on: [`ports::ObjectStore`], [`ports::EventPublisher`],
//!   [`ports::EventReceiver`], [`ports::DeadLetterStore`], [`ports::ProductionSource`], [`ports::Clock`].
//! * [`embedded`] — the default adapters used by `pinta up`: a local-directory object store with atomic
//!   create-only writes, an in-process bus with SQS-like semantics, a dead-letter folder.
//! * [`aws`] — the same ports on S3, SNS, SQS and EventBridge, configured from the environment.
//! * [`sql`] — the source database adapter (SQLite or MySQL through `sqlx`) and its migrations.
//! * [`runner`] — drives an [`runner::EventHandler`] from a receiver: decode, de-duplicate, handle,
//!   publish, ack; retries with backoff; dead-letters what cannot succeed.
//! * [`worker`] / [`lambda`] — running a stage binary as its own process on SQS, or under AWS Lambda.
//! * [`retry`] — exponential backoff with jitter.
//! * [`versions`] — superseding a day's outputs: previous versions kept under `historico/reemplazado/`,
//!   and a day's revision read back from its records.
//! * [`inbox`] — the processed-event log that makes redeliveries harmless.
//! * [`jwks`] — fetching an OpenID Connect provider's signing keys over HTTPS, and keeping them fresh.
//! * [`conformance`] — checks every adapter of a port must pass.
//! * [`telemetry`] — tracing set-up (human-readable locally, JSON in AWS).
//!
//! Invariant: service crates see only the traits; SDK and driver types never cross this crate's API.

pub mod aws;
pub mod conformance;
pub mod embedded;
pub mod inbox;
pub mod jwks;
pub mod lambda;
pub mod ports;
pub mod retry;
pub mod runner;
pub mod sql;
pub mod telemetry;
pub mod versions;
pub mod worker;
