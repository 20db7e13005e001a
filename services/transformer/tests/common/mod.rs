//! Shared test helpers: run a transform on bytes and read the staging Arrow IPC file back as rows.
#![allow(dead_code)]

use std::io::Cursor;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::FileReader;
use chrono::NaiveDate;
use pinta_contracts::tables::staging;
use pinta_transformer::{TransformStats, transform};

/// One staging row, every column as an `Option` (even non-nullable ones, for uniform access).
#[derive(Debug, Clone, PartialEq)]
pub struct StagingRow {
    pub line: u64,
    pub date: Option<i64>,
    pub date_raw: Option<String>,
    pub paint: Option<String>,
    pub paint_raw: Option<String>,
    pub quantity: Option<i64>,
    pub quantity_raw: Option<String>,
    pub unit_cost: Option<f64>,
    pub unit_cost_raw: Option<String>,
    pub cost: Option<f64>,
    pub cost_raw: Option<String>,
    pub operator: Option<String>,
    pub operator_raw: Option<String>,
    pub cost_computed: bool,
    pub cell_errors: String,
}

/// Runs the transform on `input`; panics (test helper) on error.
pub fn run(input: &[u8]) -> (TransformStats, Vec<StagingRow>) {
    let mut out = Vec::new();
    let stats = transform(input, &mut out).unwrap_or_else(|e| panic!("transform failed: {e:?}"));
    let rows = read_rows(&out);
    assert_eq!(rows.len() as u64, stats.rows, "stats.rows matches the staging file");
    assert_eq!(stats.input_bytes, input.len() as u64);
    assert_eq!(stats.sha256_of_input, pinta_contracts::sha256_hex(input));
    (stats, rows)
}

/// Reads a staging Arrow IPC file.
pub fn read_rows(ipc: &[u8]) -> Vec<StagingRow> {
    let reader = FileReader::try_new(Cursor::new(ipc.to_vec()), None).expect("valid Arrow IPC file");
    assert_eq!(reader.schema(), staging::schema(), "staging schema");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("readable batch");
        rows.extend(batch_rows(&batch));
    }
    rows
}

fn s(batch: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let a = batch.column_by_name(name).expect("column").as_string::<i32>();
    (!a.is_null(i)).then(|| a.value(i).to_owned())
}

fn batch_rows(batch: &RecordBatch) -> Vec<StagingRow> {
    let col = |name: &str| batch.column_by_name(name).expect("column").clone();
    let line = col(staging::LINE);
    let line = line.as_primitive::<UInt64Type>();
    let date = col(staging::DATE);
    let date = date.as_primitive::<TimestampMicrosecondType>();
    let quantity = col(staging::QUANTITY);
    let quantity = quantity.as_primitive::<Int64Type>();
    let unit_cost = col(staging::UNIT_COST);
    let unit_cost = unit_cost.as_primitive::<Float64Type>();
    let cost = col(staging::COST);
    let cost = cost.as_primitive::<Float64Type>();
    let computed = col(staging::COST_COMPUTED);
    let computed = computed.as_boolean();
    (0..batch.num_rows())
        .map(|i| StagingRow {
            line: line.value(i),
            date: (!date.is_null(i)).then(|| date.value(i)),
            date_raw: s(batch, staging::DATE_RAW, i),
            paint: s(batch, staging::PAINT, i),
            paint_raw: s(batch, staging::PAINT_RAW, i),
            quantity: (!quantity.is_null(i)).then(|| quantity.value(i)),
            quantity_raw: s(batch, staging::QUANTITY_RAW, i),
            unit_cost: (!unit_cost.is_null(i)).then(|| unit_cost.value(i)),
            unit_cost_raw: s(batch, staging::UNIT_COST_RAW, i),
            cost: (!cost.is_null(i)).then(|| cost.value(i)),
            cost_raw: s(batch, staging::COST_RAW, i),
            operator: s(batch, staging::OPERATOR, i),
            operator_raw: s(batch, staging::OPERATOR_RAW, i),
            cost_computed: computed.value(i),
            cell_errors: s(batch, staging::CELL_ERRORS, i).unwrap_or_default(),
        })
        .collect()
}

/// Microseconds since the epoch of a naive date-time.
pub fn micros(y: i32, m: u32, d: u32, h: u32, mi: u32, sec: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, mi, sec))
        .expect("valid date")
        .and_utc()
        .timestamp_micros()
}

pub fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

pub const CANONICAL_HEADER: &str = "Fecha de producción,Tipo de pintura producida,Cantidad producida,Costo por litro producido,Costo de la producción,Operador";
