//! The `pinta` command as a library, so integration tests drive the same code as the binary.
//!
//! * [`config`] — the typed configuration (flags and environment), validated at start-up.
//! * [`app`] — the embedded wiring: local store, in-process bus, runners for every stage.
//! * [`quarantine`] — reviewing quarantined rows.
//! * [`seed`] — synthetic source data with injected defects.
//! * [`commands`] — `up`, `seed`, `run`, `reconcile`, `dlq`, `backfill`.
//! * [`aws`] — `pinta aws bootstrap` and `pinta aws dlq` against AWS or an emulator.
//! * [`aws_up`] — `pinta up --aws`: the whole stack in one process on S3, SNS and SQS.
//! * [`backfill`] — historical Excel/ODS/CSV files through the same pipeline, with a reconciliation report.

pub mod app;
pub mod aws;
pub mod aws_up;
pub mod backfill;
pub mod commands;
pub mod config;
pub mod quarantine;
pub mod seed;
