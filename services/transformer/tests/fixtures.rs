//! Fixture tests: messy raw CSVs (as byte strings) through `transform`, read back from Arrow IPC.

mod common;

use common::*;

#[test]
fn canonical_utf8_with_bom_and_crlf() {
    let input = format!(
        "\u{feff}{CANONICAL_HEADER}\r\n2025-01-07,Esmalte sintético,1500,12.5,18750,Ana Muñoz\r\n2025-01-07 08:30,Látex,200,10,2000,José\r\n"
    );
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(stats.encoding, "UTF-8");
    assert_eq!(stats.delimiter, ',');
    assert_eq!(
        (stats.rows, stats.rows_with_cell_errors, stats.rows_with_computed_cost, stats.blank_lines),
        (2, 0, 0, 0)
    );
    let r = &rows[0];
    assert_eq!(r.line, 2);
    assert_eq!(r.date, Some(micros(2025, 1, 7, 0, 0, 0)));
    assert_eq!(r.date_raw, some("2025-01-07"));
    assert_eq!(r.paint, some("Esmalte sintético"));
    assert_eq!(r.quantity, Some(1500));
    assert_eq!(r.unit_cost, Some(12.5));
    assert_eq!(r.cost, Some(18750.0));
    assert_eq!(r.cost_raw, some("18750"));
    assert_eq!(r.operator, some("Ana Muñoz"));
    assert!(!r.cost_computed);
    assert_eq!(r.cell_errors, "");
    assert_eq!(rows[1].line, 3);
    assert_eq!(rows[1].date, Some(micros(2025, 1, 7, 8, 30, 0)));
    assert_eq!(rows[1].operator_raw, some("José"));
}

#[test]
fn windows_1252_semicolon_decimal_comma_and_day_first_dates() {
    // `ó` = 0xF3, `ñ` = 0xF1, `é` = 0xE9 as single bytes.
    let input: &[u8] = b"Fecha de producci\xF3n;Tipo de pintura producida;Cantidad producida;Costo por litro producido;Costo de la producci\xF3n;Operador\r\n\
07/01/2025;Esmalte;1.500;12,5;18.750,00;Mu\xF1oz\r\n\
08/01/2025 14:05;Barniz mate;300;$ 1.234,56;370.368;Jos\xE9 Pe\xF1a\r\n\
09-01-2025;Imprimaci\xF3n;2500,0;0,75;1.875;Ana\r\n";
    let (stats, rows) = run(input);
    assert_eq!(stats.encoding, "windows-1252");
    assert_eq!(stats.delimiter, ';');
    assert_eq!(stats.rows, 3);
    assert_eq!(stats.rows_with_cell_errors, 0);
    assert_eq!(rows[0].date, Some(micros(2025, 1, 7, 0, 0, 0)));
    assert_eq!(rows[0].quantity, Some(1500));
    assert_eq!(rows[0].quantity_raw, some("1.500"));
    assert_eq!(rows[0].unit_cost, Some(12.5));
    assert_eq!(rows[0].cost, Some(18750.0));
    assert_eq!(rows[0].operator, some("Muñoz"));
    assert_eq!(rows[1].date, Some(micros(2025, 1, 8, 14, 5, 0)));
    assert_eq!(rows[1].unit_cost, Some(1234.56));
    assert_eq!(rows[1].unit_cost_raw, some("$ 1.234,56"));
    assert_eq!(rows[1].cost, Some(370_368.0));
    assert_eq!(rows[1].operator, some("José Peña"));
    assert_eq!(rows[2].date, Some(micros(2025, 1, 9, 0, 0, 0)));
    assert_eq!(rows[2].paint, some("Imprimación"));
    assert_eq!(rows[2].quantity, Some(2500));
    assert_eq!(rows[2].unit_cost, Some(0.75));
    assert_eq!(rows[2].cost, Some(1875.0));
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 3, 4]);
}

#[test]
fn utf8_file_with_one_windows_1252_field_falls_back_per_field() {
    // Detection looks at the first 64 KiB: the stray Windows-1252 byte comes after them.
    let mut input = format!("{CANONICAL_HEADER}\n");
    let filler = "2025-01-07,Látex,10,2,20,José\n";
    let n = 64 * 1024 / filler.len() + 1;
    for _ in 0..n {
        input.push_str(filler);
    }
    let mut input = input.into_bytes();
    input.extend_from_slice(b"2025-01-07,Esmalte,10,2,20,Mu\xF1oz\n");
    let (stats, rows) = run(&input);
    assert_eq!(stats.encoding, "UTF-8");
    assert_eq!(rows.len(), n + 1);
    assert_eq!(rows[0].paint, some("Látex"));
    assert_eq!(rows[0].operator, some("José"));
    assert_eq!(rows[n].operator, some("Muñoz"));
    assert_eq!(rows[n].line, n as u64 + 2);
    // Within the first 64 KiB, the same byte makes the whole file Windows-1252.
    let (stats, rows) = run(b"fecha,pintura,cantidad,precio,costo,operador\n2025-01-07,Esmalte,10,2,20,Mu\xF1oz\n");
    assert_eq!(stats.encoding, "windows-1252");
    assert_eq!(rows[0].operator, some("Muñoz"));
}

#[test]
fn reordered_accentless_headers_extra_column_and_missing_cost_column() {
    let input = b"  OPERARIO ,Litros,Notas,pintura, fecha ,Precio por litro\n\
Ana,1500,sin novedad,Esmalte,2025-01-07,12.5\n\
Luis,,turno noche,Latex,2025-01-07T22:15:30,10\n\
Eva,abc,,Barniz,2025-01-07,4\n";
    let (stats, rows) = run(input);
    assert_eq!(stats.rows, 3);
    assert_eq!(stats.rows_with_computed_cost, 1);
    assert_eq!(stats.rows_with_cell_errors, 1);
    let r = &rows[0];
    assert_eq!(r.operator, some("Ana"));
    assert_eq!(r.paint, some("Esmalte"));
    assert_eq!(r.quantity, Some(1500));
    assert_eq!(r.unit_cost, Some(12.5));
    assert_eq!(r.date, Some(micros(2025, 1, 7, 0, 0, 0)));
    // No cost column: computed, and the raw cell is null (there was no such cell).
    assert_eq!(r.cost, Some(18750.0));
    assert_eq!(r.cost_raw, None);
    assert!(r.cost_computed);
    // Empty quantity: not an error, but no cost can be computed.
    let r = &rows[1];
    assert_eq!(r.quantity, None);
    assert_eq!(r.quantity_raw, some(""));
    assert_eq!(r.date, Some(micros(2025, 1, 7, 22, 15, 30)));
    assert_eq!(r.cost, None);
    assert!(!r.cost_computed);
    assert_eq!(r.cell_errors, "");
    // Unparseable quantity: marked, cost not computed.
    let r = &rows[2];
    assert_eq!(r.quantity, None);
    assert_eq!(r.quantity_raw, some("abc"));
    assert_eq!(r.cell_errors, "UNPARSEABLE_QUANTITY");
    assert_eq!(r.cost, None);
    assert!(!r.cost_computed);
}

#[test]
fn header_variants_are_recognised() {
    let input = "Fecha Producción;Tipo de Pintura;Cantidad;Costo por litro;Costo Total;Operador\n07/01/2025;Esmalte;10;2,5;25;Ana\n";
    let (_, rows) = run(input.as_bytes());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].unit_cost, Some(2.5));
    assert_eq!(rows[0].cost, Some(25.0));
    let input = "fecha,pintura,cantidad producida,precio por litro,costo de la produccion,operario\n2025-01-07,Esmalte,10,2.5,,Ana\n";
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(rows[0].operator, some("Ana"));
    // Empty cost cell: computed, raw is the empty string.
    assert_eq!(rows[0].cost, Some(25.0));
    assert_eq!(rows[0].cost_raw, some(""));
    assert!(rows[0].cost_computed);
    assert_eq!(stats.rows_with_computed_cost, 1);
}

#[test]
fn short_and_long_lines_are_malformed_but_kept() {
    let input = format!("{CANONICAL_HEADER}\n2025-01-07,Esmalte,10\n2025-01-07,Esmalte,10,2,20,Ana,extra\n");
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(stats.rows, 2);
    assert_eq!(stats.rows_with_cell_errors, 2);
    let r = &rows[0];
    assert_eq!(r.cell_errors, "MALFORMED_LINE");
    assert_eq!(r.quantity, Some(10));
    assert_eq!(r.unit_cost_raw, None);
    assert_eq!(r.cost_raw, None);
    assert_eq!(r.operator_raw, None);
    assert_eq!(r.operator, None);
    assert!(!r.cost_computed);
    let r = &rows[1];
    assert_eq!(r.cell_errors, "MALFORMED_LINE");
    assert_eq!(r.operator, some("Ana"));
    assert_eq!(r.cost, Some(20.0));
}

#[test]
fn unparseable_cells_are_marked_in_stable_order() {
    let input = format!(
        "{CANONICAL_HEADER}\nayer,Esmalte,1500.5,gratis,mucho,Ana\n2025-13-45,,10,2,x,\n2025-01-07,Esmalte,10,2\n"
    );
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(stats.rows, 3);
    assert_eq!(stats.rows_with_cell_errors, 3);
    let r = &rows[0];
    assert_eq!(r.cell_errors, "UNPARSEABLE_DATE,UNPARSEABLE_QUANTITY,UNPARSEABLE_UNIT_COST,UNPARSEABLE_COST");
    assert_eq!((r.date, r.quantity, r.unit_cost, r.cost), (None, None, None, None));
    assert_eq!(r.date_raw, some("ayer"));
    assert_eq!(r.quantity_raw, some("1500.5"));
    assert_eq!(r.unit_cost_raw, some("gratis"));
    assert_eq!(r.cost_raw, some("mucho"));
    assert!(!r.cost_computed);
    let r = &rows[1];
    assert_eq!(r.cell_errors, "UNPARSEABLE_DATE,UNPARSEABLE_COST");
    assert_eq!(r.paint, None);
    assert_eq!(r.paint_raw, some(""));
    assert_eq!(r.operator, None);
    assert_eq!(r.operator_raw, some(""));
    // An unparseable cost is not replaced by a computed one.
    assert_eq!(r.cost, None);
    assert!(!r.cost_computed);
    let r = &rows[2];
    assert_eq!(r.cell_errors, "MALFORMED_LINE");
    // Short line without a cost cell: the cost is still computed from what is there.
    assert_eq!(r.cost, Some(20.0));
    assert!(r.cost_computed);
}

#[test]
fn blank_lines_are_skipped_and_lines_are_physical() {
    let input = format!(
        "\n{CANONICAL_HEADER}\n\n2025-01-07,A,1,1,1,Ana\n   \n\r\n2025-01-07,B,2,1,2,Eva\n\u{a0}\n\n2025-01-07,C,3,1,3,Luis\n\n\n"
    );
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(stats.rows, 3);
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![4, 7, 10]);
    assert_eq!(rows.iter().map(|r| r.paint.clone().unwrap_or_default()).collect::<Vec<_>>(), vec!["A", "B", "C"]);
    assert_eq!(stats.blank_lines, 8);
}

#[test]
fn quoted_fields_whitespace_and_thousands_in_comma_files() {
    let input = format!(
        "{CANONICAL_HEADER}\n\
\" 2025-01-07 \",\"Esmalte, brillante\",\"1,500\",\"1,5\",\"$ 2,250.00\",\"\u{a0}Ana\u{a0}\"\n\
2025-01-07,\"Barniz\nmultilínea\",  7 , 2.5 ,\t17.5 ,\"O'Neil \"\"Jr\"\"\"\n\
2025-01-07,Latex,\"1,234\",\"1,234.56\",,Eva\n"
    );
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(stats.delimiter, ',');
    assert_eq!(stats.rows, 3);
    let r = &rows[0];
    assert_eq!(r.date, Some(micros(2025, 1, 7, 0, 0, 0)));
    assert_eq!(r.date_raw, some("2025-01-07"));
    assert_eq!(r.paint, some("Esmalte, brillante"));
    assert_eq!(r.quantity, Some(1500));
    assert_eq!(r.unit_cost, Some(1.5));
    assert_eq!(r.cost, Some(2250.0));
    assert_eq!(r.operator, some("Ana"));
    let r = &rows[1];
    assert_eq!(r.line, 3);
    assert_eq!(r.paint, some("Barniz\nmultilínea"));
    assert_eq!(r.quantity, Some(7));
    assert_eq!(r.unit_cost, Some(2.5));
    assert_eq!(r.cost, Some(17.5));
    assert_eq!(r.operator, some("O'Neil \"Jr\""));
    let r = &rows[2];
    assert_eq!(r.line, 5, "the record after a two-line record starts on physical line 5");
    assert_eq!(r.quantity, Some(1234));
    assert_eq!(r.unit_cost, Some(1234.56));
    assert!(r.cost_computed);
    assert_eq!(r.cell_errors, "");
}

#[test]
fn semicolon_file_with_lf_and_no_bom_utf8() {
    let input = "fecha;pintura;cantidad;costo por litro;costo;operador\n2025-01-07;Esmalte;1.500;1.234,56;;Ana\n2025-01-07;Latex;12,5;3;37,5;Eva\n";
    let (stats, rows) = run(input.as_bytes());
    assert_eq!((stats.encoding, stats.delimiter), ("UTF-8", ';'));
    assert_eq!(rows[0].quantity, Some(1500));
    assert_eq!(rows[0].unit_cost, Some(1234.56));
    assert_eq!(rows[0].cost, Some(1500.0 * 1234.56));
    assert!(rows[0].cost_computed);
    // 12,5 litres is not a whole quantity.
    assert_eq!(rows[1].quantity, None);
    assert_eq!(rows[1].cell_errors, "UNPARSEABLE_QUANTITY");
    assert_eq!(rows[1].cost, Some(37.5));
}

#[test]
fn all_date_forms() {
    let dates = [
        ("2025-01-07", micros(2025, 1, 7, 0, 0, 0)),
        ("2025-01-07 08:30", micros(2025, 1, 7, 8, 30, 0)),
        ("2025-01-07 08:30:15", micros(2025, 1, 7, 8, 30, 15)),
        ("2025-01-07T08:30", micros(2025, 1, 7, 8, 30, 0)),
        ("2025-01-07T08:30:15", micros(2025, 1, 7, 8, 30, 15)),
        ("07/01/2025", micros(2025, 1, 7, 0, 0, 0)),
        ("07/01/2025 08:30", micros(2025, 1, 7, 8, 30, 0)),
        ("07/01/2025 08:30:15", micros(2025, 1, 7, 8, 30, 15)),
        ("07-01-2025", micros(2025, 1, 7, 0, 0, 0)),
    ];
    let mut input = format!("{CANONICAL_HEADER}\n");
    for (d, _) in &dates {
        input.push_str(&format!("{d},Esmalte,1,1,1,Ana\n"));
    }
    let (stats, rows) = run(input.as_bytes());
    assert_eq!(stats.rows_with_cell_errors, 0);
    for ((text, expected), row) in dates.iter().zip(&rows) {
        assert_eq!(row.date, Some(*expected), "{text}");
        assert_eq!(row.date_raw.as_deref(), Some(*text));
    }
}

#[test]
fn headerless_file_is_read_in_canonical_order() {
    let input = b"2025-01-07,Esmalte,1500,12.5,18750,Ana\n2025-01-07,Latex,10,2,20,Eva\n";
    let (stats, rows) = run(input);
    assert_eq!(stats.rows, 2);
    assert_eq!(rows[0].line, 1);
    assert_eq!(rows[0].paint, some("Esmalte"));
    assert_eq!(rows[0].cost, Some(18750.0));
    assert_eq!(rows[1].line, 2);
    assert_eq!(rows[1].operator, some("Eva"));
    // Two recognised names are not enough for a header: the line is data (and unparseable).
    let (stats, rows) = run(b"fecha,cantidad,x,y,z,w\n2025-01-07,Latex,10,2,20,Eva\n");
    assert_eq!(stats.rows, 2);
    assert_eq!(rows[0].cell_errors, "UNPARSEABLE_DATE,UNPARSEABLE_QUANTITY,UNPARSEABLE_UNIT_COST,UNPARSEABLE_COST");
}

#[test]
fn empty_and_header_only_inputs_give_empty_staging_files() {
    let (stats, rows) = run(b"");
    assert_eq!((stats.rows, rows.len()), (0, 0));
    let (stats, rows) = run(format!("{CANONICAL_HEADER}\r\n").as_bytes());
    assert_eq!((stats.rows, rows.len(), stats.blank_lines), (0, 0, 0));
}

#[test]
fn output_is_deterministic() {
    let input = format!("{CANONICAL_HEADER}\n2025-01-07,Esmalte,1500,12.5,18750,Ana\n");
    let mut a = Vec::new();
    let mut b = Vec::new();
    pinta_transformer::transform(input.as_bytes(), &mut a).unwrap();
    pinta_transformer::transform(input.as_bytes(), &mut b).unwrap();
    assert_eq!(a, b);
}
