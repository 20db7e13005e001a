//! Reading the staging file (Arrow IPC file format, `pinta_contracts::tables::staging::schema()`) the
//! transformer writes, into plain [`StagingRow`]s the rules work on.

use std::io::Cursor;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType};
use chrono::{DateTime, NaiveDateTime};
use pinta_contracts::tables::{staging, timestamp_type};

/// One raw data line, typed values next to the text that was read.
///
/// Typed values are `None` when the cell was empty or could not be parsed; `*_raw` is the original
/// text (`Some("")` for an empty cell, `None` when the line had no such cell).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StagingRow {
    /// Line of the raw file (header = line 1).
    pub line: u64,
    pub date: Option<NaiveDateTime>,
    pub date_raw: Option<String>,
    pub paint_type: Option<String>,
    pub paint_type_raw: Option<String>,
    pub quantity: Option<i64>,
    pub quantity_raw: Option<String>,
    pub unit_cost: Option<f64>,
    pub unit_cost_raw: Option<String>,
    pub cost: Option<f64>,
    pub cost_raw: Option<String>,
    pub operator: Option<String>,
    pub operator_raw: Option<String>,
    /// The cost was computed as quantity × unit cost because the cell was empty.
    pub cost_computed: bool,
    /// Comma-separated reason codes of the cells the transformer could not parse ("" when none).
    pub cell_errors: String,
}

/// Why a staging file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("not an Arrow IPC file")]
    Ipc {
        #[source]
        source: ArrowError,
    },
    #[error("staging column {column:?} is missing")]
    MissingColumn { column: &'static str },
    #[error("staging column {column:?} has type {found}, expected {expected}")]
    WrongType { column: &'static str, expected: DataType, found: DataType },
    #[error("staging column {column:?} has a null in row {row} but is not nullable")]
    UnexpectedNull { column: &'static str, row: usize },
}

/// Reads every row of a staging file.
pub fn read_staging(bytes: &[u8]) -> Result<Vec<StagingRow>, StagingError> {
    let reader = arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes), None)
        .map_err(|source| StagingError::Ipc { source })?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| StagingError::Ipc { source })?;
        rows.extend(rows_from_batch(&batch)?);
    }
    Ok(rows)
}

fn column<'a>(batch: &'a RecordBatch, name: &'static str, expected: &DataType) -> Result<&'a dyn Array, StagingError> {
    let col = batch.column_by_name(name).ok_or(StagingError::MissingColumn { column: name })?;
    if col.data_type() != expected {
        return Err(StagingError::WrongType {
            column: name,
            expected: expected.clone(),
            found: col.data_type().clone(),
        });
    }
    Ok(col.as_ref())
}

fn wrong(column: &'static str, expected: DataType, col: &dyn Array) -> StagingError {
    StagingError::WrongType { column, expected, found: col.data_type().clone() }
}

fn strings(batch: &RecordBatch, name: &'static str) -> Result<Vec<Option<String>>, StagingError> {
    let col = column(batch, name, &DataType::Utf8)?;
    let arr = col.as_string_opt::<i32>().ok_or_else(|| wrong(name, DataType::Utf8, col))?;
    Ok(arr.iter().map(|v| v.map(str::to_owned)).collect())
}

/// Converts one staging batch. Columns are found by name; extra columns are ignored.
pub fn rows_from_batch(batch: &RecordBatch) -> Result<Vec<StagingRow>, StagingError> {
    let line_col = column(batch, staging::LINE, &DataType::UInt64)?;
    let lines =
        line_col.as_primitive_opt::<UInt64Type>().ok_or_else(|| wrong(staging::LINE, DataType::UInt64, line_col))?;
    let date_col = column(batch, staging::DATE, &timestamp_type())?;
    let dates = date_col
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| wrong(staging::DATE, timestamp_type(), date_col))?;
    let q_col = column(batch, staging::QUANTITY, &DataType::Int64)?;
    let quantities =
        q_col.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong(staging::QUANTITY, DataType::Int64, q_col))?;
    let u_col = column(batch, staging::UNIT_COST, &DataType::Float64)?;
    let unit_costs =
        u_col.as_primitive_opt::<Float64Type>().ok_or_else(|| wrong(staging::UNIT_COST, DataType::Float64, u_col))?;
    let c_col = column(batch, staging::COST, &DataType::Float64)?;
    let costs =
        c_col.as_primitive_opt::<Float64Type>().ok_or_else(|| wrong(staging::COST, DataType::Float64, c_col))?;
    let cc_col = column(batch, staging::COST_COMPUTED, &DataType::Boolean)?;
    let computed = cc_col.as_boolean_opt().ok_or_else(|| wrong(staging::COST_COMPUTED, DataType::Boolean, cc_col))?;

    let date_raw = strings(batch, staging::DATE_RAW)?;
    let paint = strings(batch, staging::PAINT)?;
    let paint_raw = strings(batch, staging::PAINT_RAW)?;
    let quantity_raw = strings(batch, staging::QUANTITY_RAW)?;
    let unit_cost_raw = strings(batch, staging::UNIT_COST_RAW)?;
    let cost_raw = strings(batch, staging::COST_RAW)?;
    let operator = strings(batch, staging::OPERATOR)?;
    let operator_raw = strings(batch, staging::OPERATOR_RAW)?;
    let cell_errors = strings(batch, staging::CELL_ERRORS)?;

    let opt = |a: &dyn Array, i: usize| a.is_valid(i);
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        if !opt(lines, i) {
            return Err(StagingError::UnexpectedNull { column: staging::LINE, row: i });
        }
        let take = |v: &[Option<String>]| v.get(i).cloned().flatten();
        out.push(StagingRow {
            line: lines.value(i),
            // A timestamp chrono cannot represent is treated like an unparseable cell.
            date: opt(dates, i)
                .then(|| DateTime::from_timestamp_micros(dates.value(i)).map(|d| d.naive_utc()))
                .flatten(),
            date_raw: take(&date_raw),
            paint_type: take(&paint),
            paint_type_raw: take(&paint_raw),
            quantity: opt(quantities, i).then(|| quantities.value(i)),
            quantity_raw: take(&quantity_raw),
            unit_cost: opt(unit_costs, i).then(|| unit_costs.value(i)),
            unit_cost_raw: take(&unit_cost_raw),
            cost: opt(costs, i).then(|| costs.value(i)),
            cost_raw: take(&cost_raw),
            operator: take(&operator),
            operator_raw: take(&operator_raw),
            cost_computed: opt(computed, i) && computed.value(i),
            cell_errors: take(&cell_errors).unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array};
    use arrow_schema::{Field, Schema};

    use super::*;

    fn ipc(batch: &RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &batch.schema()).unwrap();
        w.write(batch).unwrap();
        w.finish().unwrap();
        drop(w);
        out
    }

    #[test]
    fn junk_missing_columns_and_wrong_types_are_errors_not_panics() {
        assert!(matches!(read_staging(b"nope"), Err(StagingError::Ipc { .. })));
        assert!(matches!(read_staging(&[]), Err(StagingError::Ipc { .. })));

        let schema = Arc::new(Schema::new(vec![Field::new("other", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef]).unwrap();
        assert!(matches!(read_staging(&ipc(&batch)), Err(StagingError::MissingColumn { column: "line" })));

        let schema = Arc::new(Schema::new(vec![Field::new(staging::LINE, DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef]).unwrap();
        let e = read_staging(&ipc(&batch)).unwrap_err();
        assert!(matches!(e, StagingError::WrongType { column: "line", .. }), "{e}");
    }

    #[test]
    fn an_empty_staging_file_has_no_rows() {
        let batch = RecordBatch::new_empty(staging::schema());
        assert!(read_staging(&ipc(&batch)).unwrap().is_empty());
    }
}
