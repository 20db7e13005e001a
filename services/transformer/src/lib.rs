//! `pinta-transformer`: turns a raw production CSV (`crudos/produccion_raw_YYYY-MM-DD.csv`) into the
//! typed Arrow IPC staging file (`staging/transformed/YYYY-MM-DD/<raw sha256>.arrow`) the validator
//! reads, and announces it as `production.transformed.v1`.
//!
//! * [`transform()`] — the streaming, storage-free core: bytes in, Arrow IPC file out, with
//!   [`TransformStats`]. Bad cells are marked (typed value null, original text kept, reason code in
//!   `cell_errors`), never dropped: every non-blank data record becomes exactly one staging row.
//! * [`Transformer`] — the [`pinta_platform::runner::EventHandler`] that reads the raw object from the
//!   object store, runs [`transform()`] on a blocking thread, writes the staging object create-only
//!   and returns the outgoing event.
//! * [`encoding`], [`dialect`], [`header`], [`values`] — the normalisation rules, each testable alone.
//!
//! Invariant: nothing derived from the input can make this crate panic; every problem is either a
//! marked cell or a typed error.

pub mod dialect;
pub mod encoding;
pub mod handler;
pub mod header;
pub mod transform;
pub mod values;

pub use handler::{Transformer, TransformerError};
pub use transform::{BATCH_ROWS, TransformError, TransformStats, transform};
