//! The raw CSV format: the legacy header, one line per source record, empty cells for missing values.

use pinta_contracts::tables::CURATED_COLUMNS;
use pinta_platform::ports::SourceRow;

/// Renders rows as the raw CSV (UTF-8, `,`, LF, RFC 4180 quoting).
pub fn to_csv(rows: &[SourceRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::with_capacity(rows.len() * 96 + 128));
    w.write_record(CURATED_COLUMNS)?;
    for r in rows {
        w.write_record([
            r.produced_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
            r.paint_type.clone().unwrap_or_default(),
            r.quantity.map(|q| q.to_string()).unwrap_or_default(),
            r.unit_cost.map(fmt_number).unwrap_or_default(),
            r.cost.map(fmt_number).unwrap_or_default(),
            r.operator.clone().unwrap_or_default(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// Shortest text that reads back as the same `f64`.
fn fmt_number(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_quotes_and_empty_cells() {
        let rows = vec![SourceRow {
            id: 1,
            produced_at: chrono::NaiveDate::from_ymd_opt(2025, 1, 2).and_then(|d| d.and_hms_opt(7, 30, 0)),
            paint_type: Some("Esmalte, rojo".into()),
            quantity: Some(-5),
            unit_cost: Some(120.5),
            cost: None,
            operator: None,
        }];
        let text = String::from_utf8(to_csv(&rows).unwrap()).unwrap();
        assert_eq!(
            text,
            "Fecha de producción,Tipo de pintura producida,Cantidad producida,Costo por litro producido,Costo de la producción,Operador\n\
             2025-01-02 07:30:00,\"Esmalte, rojo\",-5,120.5,,\n"
        );
    }
}
