//! Reading the staging file (Arrow IPC file format, `pinta_contracts::tables::staging::schema()`) the
//! transformer writes: batch by batch as borrowed [`RowView`]s ([`StagingColumns`], what the streaming
//! validator uses), or whole into owned [`StagingRow`]s (release and tests).

use std::io::{Cursor, Read, Seek};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType, UInt64Type};
use arrow_array::{Array, ArrowPrimitiveType, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
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
    let mut rows = Vec::new();
    for batch in staging_batches(Cursor::new(bytes))? {
        rows.extend(rows_from_batch(&batch?)?);
    }
    Ok(rows)
}

/// The record batches of a staging file, decoded one at a time.
pub fn staging_batches<R: Read + Seek>(
    input: R,
) -> Result<impl Iterator<Item = Result<RecordBatch, StagingError>>, StagingError> {
    let reader = arrow_ipc::reader::FileReader::try_new(input, None).map_err(|source| StagingError::Ipc { source })?;
    Ok(reader.map(|b| b.map_err(|source| StagingError::Ipc { source })))
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

fn strings<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a StringArray, StagingError> {
    let col = column(batch, name, &DataType::Utf8)?;
    col.as_string_opt::<i32>().ok_or_else(|| wrong(name, DataType::Utf8, col))
}

fn primitive<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &'static str,
    expected: DataType,
) -> Result<&'a PrimitiveArray<T>, StagingError> {
    let col = column(batch, name, &expected)?;
    col.as_primitive_opt::<T>().ok_or_else(|| wrong(name, expected, col))
}

/// The typed columns of one staging batch, checked once; rows are read from them as [`RowView`]s
/// without copying a cell.
pub struct StagingColumns<'a> {
    rows: usize,
    lines: &'a PrimitiveArray<UInt64Type>,
    dates: &'a PrimitiveArray<TimestampMicrosecondType>,
    date_raw: &'a StringArray,
    paint: &'a StringArray,
    paint_raw: &'a StringArray,
    quantities: &'a PrimitiveArray<Int64Type>,
    quantity_raw: &'a StringArray,
    unit_costs: &'a PrimitiveArray<Float64Type>,
    unit_cost_raw: &'a StringArray,
    costs: &'a PrimitiveArray<Float64Type>,
    cost_raw: &'a StringArray,
    operator: &'a StringArray,
    operator_raw: &'a StringArray,
    computed: &'a BooleanArray,
    cell_errors: &'a StringArray,
}

/// One staging row borrowed from its batch (or from a [`StagingRow`]): what the rules read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RowView<'a> {
    pub line: u64,
    pub date: Option<NaiveDateTime>,
    pub date_raw: Option<&'a str>,
    pub paint_type: Option<&'a str>,
    pub paint_type_raw: Option<&'a str>,
    pub quantity: Option<i64>,
    pub quantity_raw: Option<&'a str>,
    pub unit_cost: Option<f64>,
    pub unit_cost_raw: Option<&'a str>,
    pub cost: Option<f64>,
    pub cost_raw: Option<&'a str>,
    pub operator: Option<&'a str>,
    pub operator_raw: Option<&'a str>,
    pub cost_computed: bool,
    pub cell_errors: &'a str,
}

impl<'a> RowView<'a> {
    /// The `_raw` text of the six contracted columns, in `CURATED_COLUMNS` order.
    pub fn raw_cells(&self) -> [Option<&'a str>; 6] {
        [self.date_raw, self.paint_type_raw, self.quantity_raw, self.unit_cost_raw, self.cost_raw, self.operator_raw]
    }
}

impl StagingRow {
    /// This row as the rules read it.
    pub fn view(&self) -> RowView<'_> {
        RowView {
            line: self.line,
            date: self.date,
            date_raw: self.date_raw.as_deref(),
            paint_type: self.paint_type.as_deref(),
            paint_type_raw: self.paint_type_raw.as_deref(),
            quantity: self.quantity,
            quantity_raw: self.quantity_raw.as_deref(),
            unit_cost: self.unit_cost,
            unit_cost_raw: self.unit_cost_raw.as_deref(),
            cost: self.cost,
            cost_raw: self.cost_raw.as_deref(),
            operator: self.operator.as_deref(),
            operator_raw: self.operator_raw.as_deref(),
            cost_computed: self.cost_computed,
            cell_errors: self.cell_errors.as_str(),
        }
    }
}

impl<'a> RowView<'a> {
    /// An owned copy.
    pub fn to_owned_row(&self) -> StagingRow {
        let own = |s: Option<&str>| s.map(str::to_owned);
        StagingRow {
            line: self.line,
            date: self.date,
            date_raw: own(self.date_raw),
            paint_type: own(self.paint_type),
            paint_type_raw: own(self.paint_type_raw),
            quantity: self.quantity,
            quantity_raw: own(self.quantity_raw),
            unit_cost: self.unit_cost,
            unit_cost_raw: own(self.unit_cost_raw),
            cost: self.cost,
            cost_raw: own(self.cost_raw),
            operator: own(self.operator),
            operator_raw: own(self.operator_raw),
            cost_computed: self.cost_computed,
            cell_errors: self.cell_errors.to_owned(),
        }
    }
}

impl<'a> StagingColumns<'a> {
    /// Finds and type-checks the staging columns of `batch` by name; extra columns are ignored.
    pub fn new(batch: &'a RecordBatch) -> Result<Self, StagingError> {
        let lines = primitive::<UInt64Type>(batch, staging::LINE, DataType::UInt64)?;
        if let Some(row) = (0..lines.len()).find(|&i| lines.is_null(i)) {
            return Err(StagingError::UnexpectedNull { column: staging::LINE, row });
        }
        let computed_col = column(batch, staging::COST_COMPUTED, &DataType::Boolean)?;
        Ok(StagingColumns {
            rows: batch.num_rows(),
            lines,
            dates: primitive::<TimestampMicrosecondType>(batch, staging::DATE, timestamp_type())?,
            date_raw: strings(batch, staging::DATE_RAW)?,
            paint: strings(batch, staging::PAINT)?,
            paint_raw: strings(batch, staging::PAINT_RAW)?,
            quantities: primitive::<Int64Type>(batch, staging::QUANTITY, DataType::Int64)?,
            quantity_raw: strings(batch, staging::QUANTITY_RAW)?,
            unit_costs: primitive::<Float64Type>(batch, staging::UNIT_COST, DataType::Float64)?,
            unit_cost_raw: strings(batch, staging::UNIT_COST_RAW)?,
            costs: primitive::<Float64Type>(batch, staging::COST, DataType::Float64)?,
            cost_raw: strings(batch, staging::COST_RAW)?,
            operator: strings(batch, staging::OPERATOR)?,
            operator_raw: strings(batch, staging::OPERATOR_RAW)?,
            computed: computed_col
                .as_boolean_opt()
                .ok_or_else(|| wrong(staging::COST_COMPUTED, DataType::Boolean, computed_col))?,
            cell_errors: strings(batch, staging::CELL_ERRORS)?,
        })
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `i` (`i < len()`).
    pub fn row(&self, i: usize) -> RowView<'a> {
        fn text(a: &StringArray, i: usize) -> Option<&str> {
            a.is_valid(i).then(|| a.value(i))
        }
        fn value<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, i: usize) -> Option<T::Native> {
            a.is_valid(i).then(|| a.value(i))
        }
        RowView {
            line: self.lines.value(i),
            // A timestamp chrono cannot represent is treated like an unparseable cell.
            date: value(self.dates, i).and_then(DateTime::from_timestamp_micros).map(|d| d.naive_utc()),
            date_raw: text(self.date_raw, i),
            paint_type: text(self.paint, i),
            paint_type_raw: text(self.paint_raw, i),
            quantity: value(self.quantities, i),
            quantity_raw: text(self.quantity_raw, i),
            unit_cost: value(self.unit_costs, i),
            unit_cost_raw: text(self.unit_cost_raw, i),
            cost: value(self.costs, i),
            cost_raw: text(self.cost_raw, i),
            operator: text(self.operator, i),
            operator_raw: text(self.operator_raw, i),
            cost_computed: self.computed.is_valid(i) && self.computed.value(i),
            cell_errors: text(self.cell_errors, i).unwrap_or(""),
        }
    }
}

/// Converts one staging batch. Columns are found by name; extra columns are ignored.
pub fn rows_from_batch(batch: &RecordBatch) -> Result<Vec<StagingRow>, StagingError> {
    let cols = StagingColumns::new(batch)?;
    Ok((0..cols.len()).map(|i| cols.row(i).to_owned_row()).collect())
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
