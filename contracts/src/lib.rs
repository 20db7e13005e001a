//! `pinta-contracts`: the single source of truth for what crosses a service boundary.
//!
//! * [`envelope`] — the CloudEvents 1.0 JSON envelope every message travels in.
//! * [`events`] — the versioned payloads (`*.v1`) and typed decoding of an envelope.
//! * [`reasons`] — stable reason codes for quarantined rows and failures.
//! * [`layout`] — the bucket layout (a compatibility contract with the replaced system).
//! * [`tables`] — the Arrow schemas of the curated and quarantine Parquet files.
//! * [`asyncapi`] — the AsyncAPI 3 document of channels and messages (committed as `asyncapi.json`).
//! * [`glue`] — the Glue columns of the analyst tables, generated from [`tables`] (committed as
//!   `glue-tables.json`).
//! * [`schemas`] — JSON Schemas generated from the payload types (committed under `schemas/`).
//! * [`catalog`] — the catalogue snapshot (operators, paint types) rows are validated against.
//! * [`control`] — bookkeeping records under `_control/` (day completion records).
//! * [`trace`] — W3C `traceparent` values carried by every envelope.
//!
//! Invariant: this crate does no I/O. It only describes data.

pub mod asyncapi;
pub mod catalog;
pub mod control;
pub mod envelope;
pub mod events;
pub mod glue;
pub mod layout;
pub mod reasons;
pub mod schemas;
pub mod tables;
pub mod trace;

pub use envelope::{Envelope, SPEC_VERSION};
pub use events::{DecodeError, EventType, PintaEvent};
pub use reasons::{FailureCode, ReasonCode, Stage};

/// Lower-case hex SHA-256 of a byte slice: the checksum every payload carries for the object it names.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
