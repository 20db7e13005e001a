//! The source-database port: the plant's production records and catalogues, read by the extractor.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime};
pub use pinta_contracts::catalog::{Catalog, CatalogOperator, CatalogPaint};

/// One production record as stored in the source database. Every field may be missing: legacy data is
/// messy and the validator, not the extractor, decides what is acceptable.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub id: i64,
    pub produced_at: Option<NaiveDateTime>,
    pub paint_type: Option<String>,
    pub quantity: Option<i64>,
    pub unit_cost: Option<f64>,
    pub cost: Option<f64>,
    pub operator: Option<String>,
}

/// Which production days have records changed after a point in time (incremental extraction).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceChanges {
    /// Days with at least one record whose update timestamp is later than the point asked about, ascending.
    pub days: Vec<NaiveDate>,
    /// The highest update timestamp in the source when the question was answered (`None`: no records).
    /// The next check asks about changes after this.
    pub high_water: Option<NaiveDateTime>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("source database unavailable: {source}")]
    Unavailable { source: Box<dyn std::error::Error + Send + Sync + 'static> },
    #[error("source query failed: {source}")]
    Query { source: Box<dyn std::error::Error + Send + Sync + 'static> },
    #[error("source row {id} has an unreadable {column}: {value:?}")]
    BadValue { id: i64, column: &'static str, value: String },
    #[error("invalid source URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
}

impl SourceError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SourceError::Unavailable { .. })
    }
}

/// Read access to the production records.
#[async_trait]
pub trait ProductionSource: Send + Sync + Debug + 'static {
    /// A short name of the backend (`sqlite`, `mysql`) for event provenance.
    fn kind(&self) -> &'static str;
    /// The most recent production day on or before `not_after`.
    async fn latest_day(&self, not_after: NaiveDate) -> Result<Option<NaiveDate>, SourceError>;
    /// Every production day in `[from, to]`, ascending.
    async fn days(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, SourceError>;
    /// The records of one production day, in id order.
    async fn rows_for_day(&self, day: NaiveDate) -> Result<Vec<SourceRow>, SourceError>;
    /// The current catalogue.
    async fn catalog(&self) -> Result<Catalog, SourceError>;
    /// Days with records inserted or corrected after `after` (by their update timestamp, in the source's
    /// own clock); every day with records when `after` is `None`.
    async fn changes_since(&self, after: Option<NaiveDateTime>) -> Result<SourceChanges, SourceError>;
}
