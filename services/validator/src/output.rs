//! Writing the curated and quarantine Parquet files: exactly the contracted schemas, snappy, and the
//! same bytes for the same rows (no timestamps or other run-dependent metadata).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use pinta_contracts::tables::{curated_schema, quarantine_schema};

use crate::validate::{CuratedRow, QuarantinedRow};

/// Why an output file could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("could not build the Arrow batch")]
    Arrow {
        #[source]
        source: ArrowError,
    },
    #[error("could not encode Parquet")]
    Parquet {
        #[source]
        source: ParquetError,
    },
}

/// The curated rows as one batch of `curated_schema()`.
pub fn curated_batch(rows: &[CuratedRow]) -> Result<RecordBatch, OutputError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(
            rows.iter().map(|r| r.date.map(|d| d.and_utc().timestamp_micros())).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(rows.iter().map(|r| r.paint_type.as_deref()).collect::<Vec<_>>())),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.quantity).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.unit_cost).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.cost).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.operator.as_deref()).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(curated_schema(), columns).map_err(|source| OutputError::Arrow { source })
}

/// The quarantined rows as one batch of `quarantine_schema()`.
pub fn quarantine_batch(rows: &[QuarantinedRow]) -> Result<RecordBatch, OutputError> {
    let mut columns: Vec<ArrayRef> = (0..6)
        .map(|i| {
            Arc::new(StringArray::from(rows.iter().map(|r| r.raw[i].as_deref()).collect::<Vec<_>>())) as ArrayRef
        })
        .collect();
    columns.push(Arc::new(Int64Array::from(
        rows.iter().map(|r| i64::try_from(r.line).unwrap_or(i64::MAX)).collect::<Vec<_>>(),
    )));
    columns.push(Arc::new(StringArray::from(rows.iter().map(QuarantinedRow::reasons_text).collect::<Vec<_>>())));
    columns.push(Arc::new(StringArray::from(rows.iter().map(|r| r.detail.as_str()).collect::<Vec<_>>())));
    RecordBatch::try_new(quarantine_schema(), columns).map_err(|source| OutputError::Arrow { source })
}

/// `produccion/…parquet` bytes. Zero rows give a valid file with the schema and no row groups.
pub fn write_curated_parquet(rows: &[CuratedRow]) -> Result<Vec<u8>, OutputError> {
    write_parquet(curated_schema(), curated_batch(rows)?)
}

/// `cuarentena/…parquet` bytes.
pub fn write_quarantine_parquet(rows: &[QuarantinedRow]) -> Result<Vec<u8>, OutputError> {
    write_parquet(quarantine_schema(), quarantine_batch(rows)?)
}

fn write_parquet(schema: SchemaRef, batch: RecordBatch) -> Result<Vec<u8>, OutputError> {
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props)).map_err(|source| OutputError::Parquet { source })?;
    if batch.num_rows() > 0 {
        writer.write(&batch).map_err(|source| OutputError::Parquet { source })?;
    }
    writer.close().map_err(|source| OutputError::Parquet { source })?;
    Ok(out)
}
