//! The Glue (Hive) columns of the lake's analyst tables, generated from the Arrow schemas of
//! [`crate::tables`] so the catalogue cannot drift from what the validator writes.
//!
//! The document is committed as `contracts/glue-tables.json`; the CDK app (`infra/cdk/lib/analytics.ts`)
//! reads it to declare the Glue tables `produccion` and `cuarentena`, and a test fails when the
//! committed file differs from what the code generates. Regenerate with
//! `PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts`.

use arrow_schema::{DataType, Schema};
use serde_json::{Value, json};

use crate::layout::{CURATED_PREFIX, QUARANTINE_PREFIX};
use crate::tables::{
    COL_COST, COL_DATE, COL_DETAIL, COL_LINE, COL_OPERATOR, COL_PAINT, COL_QUANTITY, COL_REASONS, COL_UNIT_COST,
    curated_schema, quarantine_schema,
};

/// An Arrow type with no faithful Glue/Hive column type for the Parquet files we write.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column:?}: Arrow type {data_type} has no Glue column type")]
pub struct UnsupportedType {
    pub column: String,
    pub data_type: DataType,
}

/// The Glue/Hive type Athena reads a Parquet column of `data_type` as.
///
/// Unsigned integers and zoned timestamps are refused rather than approximated: the analyst tables
/// only describe columns they can read exactly.
pub fn glue_type(column: &str, data_type: &DataType) -> Result<&'static str, UnsupportedType> {
    Ok(match data_type {
        DataType::Timestamp(_, None) => "timestamp",
        DataType::Date32 => "date",
        DataType::Utf8 | DataType::LargeUtf8 => "string",
        DataType::Boolean => "boolean",
        DataType::Int8 => "tinyint",
        DataType::Int16 => "smallint",
        DataType::Int32 => "int",
        DataType::Int64 => "bigint",
        DataType::Float32 => "float",
        DataType::Float64 => "double",
        other => return Err(UnsupportedType { column: column.to_owned(), data_type: other.clone() }),
    })
}

/// What a column means, for the Glue column comment (shown to analysts in the Athena console).
fn comment(table: &str, column: &str) -> &'static str {
    match (table, column) {
        ("produccion", COL_DATE) => "Production timestamp, plant local time (naive)",
        ("produccion", COL_PAINT) => "Paint type produced (a catalogue name)",
        ("produccion", COL_QUANTITY) => "Liters produced",
        ("produccion", COL_UNIT_COST) => "Cost per liter",
        ("produccion", COL_COST) => "Cost of the production (liters x cost per liter)",
        ("produccion", COL_OPERATOR) => "Operator (a catalogue name)",
        (_, COL_DATE) => "Production date as read from the raw file (text)",
        (_, COL_PAINT) => "Paint type as read (text)",
        (_, COL_QUANTITY) => "Liters as read (text)",
        (_, COL_UNIT_COST) => "Cost per liter as read (text)",
        (_, COL_COST) => "Cost as read (text)",
        (_, COL_OPERATOR) => "Operator as read (text)",
        (_, COL_LINE) => "Line of the raw CSV the row came from (header = 1)",
        (_, COL_REASONS) => "Comma-separated reason codes (see docs/analysts.md)",
        (_, COL_DETAIL) => "Human-readable detail of the reasons",
        _ => "",
    }
}

fn table(name: &str, prefix: &str, schema: &Schema) -> Result<Value, UnsupportedType> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            Ok(json!({
                "name": f.name(),
                "type": glue_type(f.name(), f.data_type())?,
                "comment": comment(name, f.name()),
            }))
        })
        .collect::<Result<Vec<_>, UnsupportedType>>()?;
    Ok(json!({ "name": name, "prefix": prefix, "columns": columns }))
}

/// The whole document: the tables `produccion` (curated) and `cuarentena` (quarantine), each with
/// its bucket prefix and its columns in Parquet order.
pub fn document() -> Result<Value, UnsupportedType> {
    Ok(json!({
        "_comment": "Generated from contracts/src/tables.rs by contracts/src/glue.rs; do not edit. Regenerate with PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts.",
        "tables": [
            table("produccion", CURATED_PREFIX, &curated_schema())?,
            table("cuarentena", QUARANTINE_PREFIX, &quarantine_schema())?,
        ]
    }))
}

/// Pretty JSON as committed.
pub fn rendered() -> Result<String, UnsupportedType> {
    let mut text = serde_json::to_string_pretty(&document()?).unwrap_or_default();
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::TimeUnit;
    use std::path::PathBuf;

    #[test]
    fn committed_glue_tables_match_the_arrow_schemas() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("glue-tables.json");
        let text = rendered().unwrap();
        if std::env::var_os("PINTA_UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == text, "contracts/glue-tables.json is stale: run PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts");
    }

    #[test]
    fn columns_are_the_parquet_names_with_hive_types() {
        let doc = document().unwrap();
        let cols = |i: usize| -> Vec<(String, String)> {
            doc["tables"][i]["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["name"].as_str().unwrap().to_owned(), c["type"].as_str().unwrap().to_owned()))
                .collect()
        };
        let curated = cols(0);
        assert_eq!(doc["tables"][0]["name"], "produccion");
        assert_eq!(doc["tables"][0]["prefix"], "produccion/");
        assert_eq!(
            curated,
            [
                ("Fecha de producción", "timestamp"),
                ("Tipo de pintura producida", "string"),
                ("Cantidad producida", "bigint"),
                ("Costo por litro producido", "double"),
                ("Costo de la producción", "double"),
                ("Operador", "string"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let quarantine = cols(1);
        assert_eq!(doc["tables"][1]["name"], "cuarentena");
        assert_eq!(doc["tables"][1]["prefix"], "cuarentena/");
        assert_eq!(quarantine.len(), 9);
        assert!(quarantine[..6].iter().all(|(_, t)| t == "string"));
        assert_eq!(quarantine[6], ("Línea de origen".to_owned(), "bigint".to_owned()));
        assert_eq!(quarantine[7], ("Motivos".to_owned(), "string".to_owned()));
        for t in doc["tables"].as_array().unwrap() {
            for c in t["columns"].as_array().unwrap() {
                assert!(!c["comment"].as_str().unwrap().is_empty(), "no comment for {c}");
            }
        }
    }

    #[test]
    fn types_without_an_exact_glue_type_are_refused() {
        assert_eq!(glue_type("x", &DataType::Timestamp(TimeUnit::Microsecond, None)), Ok("timestamp"));
        for t in [
            DataType::UInt64,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Binary,
        ] {
            let err = glue_type("Línea", &t).unwrap_err();
            assert_eq!(err.column, "Línea");
            assert!(err.to_string().contains("Línea"), "{err}");
        }
    }
}
