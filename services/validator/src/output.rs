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
        .map(|i| Arc::new(StringArray::from(rows.iter().map(|r| r.raw[i].as_deref()).collect::<Vec<_>>())) as ArrayRef)
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

/// Rows per Parquet row group: bounds what the encoder holds before it writes a group out (a 1M-row
/// day is 8 groups; readers see one file either way).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Snappy, [`ROW_GROUP_ROWS`], nothing run-dependent: the same rows give the same bytes.
pub(crate) fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

fn write_parquet(schema: SchemaRef, batch: RecordBatch) -> Result<Vec<u8>, OutputError> {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(writer_properties()))
        .map_err(|source| OutputError::Parquet { source })?;
    if batch.num_rows() > 0 {
        writer.write(&batch).map_err(|source| OutputError::Parquet { source })?;
    }
    writer.close().map_err(|source| OutputError::Parquet { source })?;
    Ok(out)
}

/// One row of a quarantine file as read back (for review tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    /// The original cell text of the six contracted columns, in `CURATED_COLUMNS` order.
    pub values: [Option<String>; 6],
    pub line: i64,
    /// Comma-separated reason codes.
    pub reasons: String,
    pub detail: String,
}

/// Reads a `cuarentena/…parquet` file back.
pub fn read_quarantine_parquet(bytes: bytes::Bytes) -> Result<Vec<QuarantineEntry>, OutputError> {
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use pinta_contracts::tables::{COL_DETAIL, COL_LINE, COL_REASONS, CURATED_COLUMNS};

    let missing = |name: &str| OutputError::Arrow {
        source: ArrowError::SchemaError(format!("quarantine file lacks a readable column {name:?}")),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|source| OutputError::Parquet { source })?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| OutputError::Arrow { source })?;
        let text = |name: &str| -> Result<StringArray, OutputError> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned())
                .ok_or_else(|| missing(name))
        };
        let values: Vec<StringArray> = CURATED_COLUMNS.iter().map(|c| text(c)).collect::<Result<_, _>>()?;
        let lines = batch
            .column_by_name(COL_LINE)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
            .ok_or_else(|| missing(COL_LINE))?;
        let reasons = text(COL_REASONS)?;
        let detail = text(COL_DETAIL)?;
        for i in 0..batch.num_rows() {
            let cell = |a: &StringArray| (!a.is_null(i)).then(|| a.value(i).to_owned());
            out.push(QuarantineEntry {
                values: std::array::from_fn(|c| cell(&values[c])),
                line: lines.value(i),
                reasons: reasons.value(i).to_owned(),
                detail: detail.value(i).to_owned(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
    use bytes::Bytes;
    use chrono::NaiveDate;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use pinta_contracts::ReasonCode;

    fn read_back(bytes: Vec<u8>) -> (SchemaRef, Vec<RecordBatch>) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let schema = builder.schema().clone();
        let batches = builder.build().unwrap().collect::<Result<Vec<_>, _>>().unwrap();
        (schema, batches)
    }

    fn names_and_types(s: &SchemaRef) -> Vec<(String, arrow_schema::DataType)> {
        s.fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect()
    }

    fn curated_rows() -> Vec<CuratedRow> {
        let d = NaiveDate::from_ymd_opt(2025, 3, 10).unwrap().and_hms_opt(8, 30, 15).unwrap();
        vec![
            CuratedRow {
                date: Some(d),
                paint_type: Some("Esmalte".into()),
                quantity: Some(10),
                unit_cost: Some(2.5),
                cost: Some(25.0),
                operator: Some("Ana".into()),
            },
            CuratedRow { date: None, paint_type: None, quantity: None, unit_cost: None, cost: None, operator: None },
        ]
    }

    #[test]
    fn curated_file_has_exactly_the_contracted_schema_and_values() {
        let rows = curated_rows();
        let bytes = write_curated_parquet(&rows).unwrap();
        assert_eq!(bytes, write_curated_parquet(&rows).unwrap(), "same rows, same bytes");
        let (schema, batches) = read_back(bytes);
        assert_eq!(names_and_types(&schema), names_and_types(&curated_schema()));
        let b = &batches[0];
        assert_eq!(b.num_rows(), 2);
        let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(0), rows[0].date.unwrap().and_utc().timestamp_micros());
        assert!(ts.is_null(1));
        assert_eq!(b.column(1).as_string::<i32>().value(0), "Esmalte");
        assert_eq!(b.column(2).as_primitive::<Int64Type>().value(0), 10);
        assert_eq!(b.column(3).as_primitive::<Float64Type>().value(0), 2.5);
        assert_eq!(b.column(4).as_primitive::<Float64Type>().value(0), 25.0);
        assert_eq!(b.column(5).as_string::<i32>().value(0), "Ana");
        assert!(b.column(5).is_null(1));
    }

    #[test]
    fn an_empty_curated_file_is_valid() {
        let bytes = write_curated_parquet(&[]).unwrap();
        let (schema, batches) = read_back(bytes);
        assert_eq!(names_and_types(&schema), names_and_types(&curated_schema()));
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    }

    #[test]
    fn files_are_snappy_and_carry_no_run_dependent_metadata() {
        let bytes = write_curated_parquet(&curated_rows()).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let meta = builder.metadata();
        for rg in meta.row_groups() {
            for c in rg.columns() {
                assert_eq!(c.compression(), Compression::SNAPPY);
            }
        }
    }

    #[test]
    fn quarantine_file_has_the_contracted_schema_and_values() {
        let rows = vec![QuarantinedRow {
            line: 7,
            raw: [
                Some("2025-03-10 08:00".into()),
                Some("Esmalte".into()),
                Some("-5".into()),
                Some("2,5".into()),
                Some("".into()),
                None,
            ],
            reasons: vec![ReasonCode::NegativeQuantity, ReasonCode::DuplicateRow],
            detail: "Cantidad negativa (-5); Fila duplicada de la línea 2".into(),
            quantity: Some(-5),
            cost: None,
        }];
        let bytes = write_quarantine_parquet(&rows).unwrap();
        assert_eq!(bytes, write_quarantine_parquet(&rows).unwrap());
        let (schema, batches) = read_back(bytes);
        assert_eq!(names_and_types(&schema), names_and_types(&quarantine_schema()));
        let b = &batches[0];
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.column(0).as_string::<i32>().value(0), "2025-03-10 08:00");
        assert_eq!(b.column(2).as_string::<i32>().value(0), "-5");
        assert_eq!(b.column(3).as_string::<i32>().value(0), "2,5");
        assert_eq!(b.column(4).as_string::<i32>().value(0), "");
        assert!(b.column(5).is_null(0));
        assert_eq!(b.column(6).as_primitive::<Int64Type>().value(0), 7);
        assert_eq!(b.column(7).as_string::<i32>().value(0), "NEGATIVE_QUANTITY,DUPLICATE_ROW");
        assert_eq!(b.column(8).as_string::<i32>().value(0), "Cantidad negativa (-5); Fila duplicada de la línea 2");
    }

    #[test]
    fn quarantine_files_read_back_as_written() {
        let rows = vec![QuarantinedRow {
            line: 7,
            raw: [
                Some("2025-01-01 08:00:00".into()),
                None,
                Some("-5".into()),
                Some("".into()),
                None,
                Some("Ana".into()),
            ],
            reasons: vec![pinta_contracts::ReasonCode::MissingPaintType, pinta_contracts::ReasonCode::NegativeQuantity],
            detail: "detalle".into(),
            quantity: Some(-5),
            cost: None,
        }];
        let bytes = write_quarantine_parquet(&rows).unwrap();
        let back = read_quarantine_parquet(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].line, 7);
        assert_eq!(back[0].values, rows[0].raw);
        assert_eq!(back[0].reasons, "MISSING_PAINT_TYPE,NEGATIVE_QUANTITY");
        assert_eq!(back[0].detail, "detalle");
        assert!(read_quarantine_parquet(bytes::Bytes::from_static(b"not parquet")).is_err());
    }
}
