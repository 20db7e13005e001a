//! Arrow schemas of the Parquet files in the bucket.
//!
//! The curated schema is a compatibility contract: the six columns below, with exactly these names and
//! types, are what the replaced pandas Lambdas wrote and what existing readers expect. Timestamps are
//! naive microseconds (pandas reads them as `datetime64`, Athena as `timestamp`).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub const COL_DATE: &str = "Fecha de producción";
pub const COL_PAINT: &str = "Tipo de pintura producida";
pub const COL_QUANTITY: &str = "Cantidad producida";
pub const COL_UNIT_COST: &str = "Costo por litro producido";
pub const COL_COST: &str = "Costo de la producción";
pub const COL_OPERATOR: &str = "Operador";

/// The six contracted columns, in order. Also the header of the raw CSV.
pub const CURATED_COLUMNS: [&str; 6] = [COL_DATE, COL_PAINT, COL_QUANTITY, COL_UNIT_COST, COL_COST, COL_OPERATOR];

/// Quarantine-only columns, after the six original values (kept as the text that was read).
pub const COL_LINE: &str = "Línea de origen";
pub const COL_REASONS: &str = "Motivos";
pub const COL_DETAIL: &str = "Detalle";

/// Arrow type of the production timestamp.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// `produccion/YYYY-MM/produccion_YYYY-MM-DD.parquet`
pub fn curated_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(COL_DATE, timestamp_type(), true),
        Field::new(COL_PAINT, DataType::Utf8, true),
        Field::new(COL_QUANTITY, DataType::Int64, true),
        Field::new(COL_UNIT_COST, DataType::Float64, true),
        Field::new(COL_COST, DataType::Float64, true),
        Field::new(COL_OPERATOR, DataType::Utf8, true),
    ]))
}

/// `cuarentena/YYYY-MM/cuarentena_YYYY-MM-DD.parquet`: the original cell text of each column, the line
/// of the raw file, the comma-separated reason codes and a human-readable detail.
pub fn quarantine_schema() -> SchemaRef {
    let mut fields: Vec<Field> = CURATED_COLUMNS.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect();
    fields.push(Field::new(COL_LINE, DataType::Int64, false));
    fields.push(Field::new(COL_REASONS, DataType::Utf8, false));
    fields.push(Field::new(COL_DETAIL, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curated_schema_is_the_legacy_one() {
        let s = curated_schema();
        let got: Vec<(&str, &DataType)> = s.fields().iter().map(|f| (f.name().as_str(), f.data_type())).collect();
        assert_eq!(
            got,
            vec![
                ("Fecha de producción", &DataType::Timestamp(TimeUnit::Microsecond, None)),
                ("Tipo de pintura producida", &DataType::Utf8),
                ("Cantidad producida", &DataType::Int64),
                ("Costo por litro producido", &DataType::Float64),
                ("Costo de la producción", &DataType::Float64),
                ("Operador", &DataType::Utf8),
            ]
        );
        assert_eq!(quarantine_schema().fields().len(), 9);
    }
}

/// Columns of the staging file (`staging/transformed/…arrow`, Arrow IPC) the transformer writes and
/// the validator reads: one row per raw data line, typed values next to the original text.
pub mod staging {
    use super::*;

    /// Line of the raw file (header = line 1).
    pub const LINE: &str = "line";
    pub const DATE: &str = "date";
    pub const DATE_RAW: &str = "date_raw";
    pub const PAINT: &str = "paint_type";
    pub const PAINT_RAW: &str = "paint_type_raw";
    pub const QUANTITY: &str = "quantity";
    pub const QUANTITY_RAW: &str = "quantity_raw";
    pub const UNIT_COST: &str = "unit_cost";
    pub const UNIT_COST_RAW: &str = "unit_cost_raw";
    pub const COST: &str = "cost";
    pub const COST_RAW: &str = "cost_raw";
    pub const OPERATOR: &str = "operator";
    pub const OPERATOR_RAW: &str = "operator_raw";
    /// True when the cost column was absent/empty and cost was computed as quantity × unit cost.
    pub const COST_COMPUTED: &str = "cost_computed";
    /// Comma-separated [`crate::ReasonCode`]s of cells that could not be parsed (empty when none).
    pub const CELL_ERRORS: &str = "cell_errors";

    /// The staging schema. Typed columns are null when the cell was empty or unparseable; the `_raw`
    /// column always holds the text that was read (empty string for an empty cell, null when the line
    /// had no such cell at all).
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(LINE, DataType::UInt64, false),
            Field::new(DATE, timestamp_type(), true),
            Field::new(DATE_RAW, DataType::Utf8, true),
            Field::new(PAINT, DataType::Utf8, true),
            Field::new(PAINT_RAW, DataType::Utf8, true),
            Field::new(QUANTITY, DataType::Int64, true),
            Field::new(QUANTITY_RAW, DataType::Utf8, true),
            Field::new(UNIT_COST, DataType::Float64, true),
            Field::new(UNIT_COST_RAW, DataType::Utf8, true),
            Field::new(COST, DataType::Float64, true),
            Field::new(COST_RAW, DataType::Utf8, true),
            Field::new(OPERATOR, DataType::Utf8, true),
            Field::new(OPERATOR_RAW, DataType::Utf8, true),
            Field::new(COST_COMPUTED, DataType::Boolean, false),
            Field::new(CELL_ERRORS, DataType::Utf8, false),
        ]))
    }
}
