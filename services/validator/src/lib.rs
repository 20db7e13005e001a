//! `pinta-validator`: applies the rule set to a staged production day.
//!
//! * [`rules`] — the rule set as data (TOML), with per-rule switch and severity.
//! * [`staging`] — reads the transformer's Arrow IPC staging file: batch by batch as borrowed
//!   [`RowView`]s, or whole as owned [`StagingRow`]s.
//! * [`validate`](mod@validate) — the pure rule logic: [`validate()`] gives a [`Validation`] (in memory).
//! * [`stream`] — [`validate_staging`]: the same rules over a staging file, batch by batch, writing the
//!   two Parquet files as it goes (what the validator Lambda runs; memory bounded by a batch).
//! * [`output`] — the curated and quarantine Parquet files (contracted schemas, deterministic bytes).
//! * [`handler`] — the [`Validator`] event handler: outputs, events, then the day record.
//! * [`release`] — [`revalidate`]: quarantined rows judged again with the same rules (quarantine
//!   release after a catalogue fix).
//! * [`config`] — [`ValidatorConfig`] from the environment (`PINTA_RULES_FILE`).
//! * [`error`] — [`ValidatorError`] and how the runner treats each failure.
//!
//! Invariant: every input row ends up in exactly one of the two output files.

pub mod config;
pub mod error;
pub mod handler;
pub mod output;
pub mod release;
pub mod rules;
pub mod staging;
pub mod stream;
pub mod validate;

pub use config::ValidatorConfig;
pub use error::{ConfigError, ValidatorError};
pub use handler::{DayOutcome, Validator};
pub use output::{
    OutputError, QuarantineEntry, read_quarantine_parquet, write_curated_parquet, write_quarantine_parquet,
};
pub use release::{QuarantinedNow, RevalidateError, Revalidation, Selection, revalidate};
pub use rules::{RuleConfig, RuleSet, RuleSetError, Rules, Severity};
pub use staging::{RowView, StagingColumns, StagingError, StagingRow, read_staging, staging_batches};
pub use stream::{StreamError, StreamedDay, validate_staging, validate_staging_file};
pub use validate::{CuratedRow, DaySummary, QuarantinedRow, RowVerdict, Validation, validate};
