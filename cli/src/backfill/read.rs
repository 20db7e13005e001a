//! Reading history files — spreadsheets (`.xlsx`, `.xls`, `.ods`, via `calamine`) and `.csv` — into
//! rows of canonical cell text, one per production record, with a note for everything left out.
//!
//! This is the only backfill-specific interpretation of the data: which row is the header (spelling
//! variants are recognised by the transformer's own [`ColumnLayout`]), which rows are titles above it
//! or totals below the data, and how a cell becomes text (Excel date serials and text dates become
//! `YYYY-MM-DD HH:MM:SS`, numbers their shortest exact form). Whether a value is acceptable is decided
//! later by the same transformer and validator as the daily pipeline.

use std::path::{Path, PathBuf};

use calamine::{Data, ExcelDateTime, ExcelDateTimeType, Reader};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use pinta_transformer::encoding::TextEncoding;
use pinta_transformer::header::{ColumnLayout, ProductionField, normalise_name};
use pinta_transformer::values::{DecimalStyle, parse_number, parse_timestamp};

/// File name extensions the backfill reads.
pub const EXTENSIONS: [&str; 4] = ["xlsx", "xls", "ods", "csv"];

/// Rows above a header that are searched for it (merged titles, notes, blank lines).
const HEADER_SEARCH_ROWS: usize = 50;

/// One production record read from a file, with its day and the six cells as canonical text (in the
/// order of `CURATED_COLUMNS`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Index of the file in the run's file list.
    pub file: usize,
    /// `sheet!row` (1-based row as the spreadsheet shows it), or `line N` for a CSV.
    pub location: String,
    pub day: NaiveDate,
    pub cells: [String; 6],
}

/// A data row that was read but is not loaded, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Skip {
    pub location: String,
    pub why: String,
}

/// Everything read from one file.
#[derive(Debug, Clone, Default)]
pub struct FileRead {
    pub path: PathBuf,
    pub sheets: Vec<String>,
    /// Data rows below a header (blank rows, title rows and repeated headers are not data rows).
    pub rows_read: u64,
    pub records: Vec<Record>,
    pub skipped: Vec<Skip>,
    pub notes: Vec<String>,
    /// Set when the file could not be read at all.
    pub error: Option<String>,
}

/// Expands folders (recursively) into the supported files they hold, sorted by path. A named file
/// with an unsupported extension, or a path that does not exist, is an error.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if is_supported(p) {
            out.push(p.clone());
        } else {
            return Err(format!("{}: not a .xlsx, .xls, .ods or .csv file", p.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_supported(&path)
            && !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("~$") || n.starts_with(".~lock"))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn is_supported(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads one file. Never fails: an unreadable file comes back with [`FileRead::error`] set.
pub fn read_file(index: usize, path: &Path) -> FileRead {
    let mut read = FileRead { path: path.to_owned(), ..FileRead::default() };
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if ext == "csv" {
        match std::fs::read(path) {
            Ok(bytes) => read_csv(index, &bytes, &mut read),
            Err(e) => read.error = Some(format!("cannot read the file: {e}")),
        }
        return read;
    }
    let mut workbook = match calamine::open_workbook_auto(path) {
        Ok(w) => w,
        Err(e) => {
            read.error = Some(format!("cannot open the workbook: {e}"));
            return read;
        }
    };
    for name in workbook.sheet_names() {
        match workbook.worksheet_range(&name) {
            Ok(range) => {
                let first_row = range.start().map(|(r, _)| r).unwrap_or(0);
                let rows = range.rows().enumerate().map(|(i, cells)| (first_row as u64 + i as u64 + 1, cells.to_vec()));
                read_sheet(index, &name, rows, DecimalStyle::Point, &mut read);
                read.sheets.push(name);
            }
            Err(e) => {
                read.error = Some(format!("cannot read sheet {name:?}: {e}"));
                return read;
            }
        }
    }
    read
}

fn read_csv(index: usize, bytes: &[u8], read: &mut FileRead) {
    let encoding = TextEncoding::detect(&bytes[..bytes.len().min(64 * 1024)]);
    let text = encoding.decode(bytes);
    let delimiter = pinta_transformer::dialect::sniff_delimiter(text.as_bytes());
    let style = DecimalStyle::for_delimiter(delimiter);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = record.as_ref().ok().and_then(|r| r.position()).map(|p| p.line()).unwrap_or(i as u64 + 1);
        match record {
            Ok(r) => rows.push((line, r.iter().map(|c| Data::String(c.to_owned())).collect::<Vec<_>>())),
            Err(e) => {
                // An unreadable line (e.g. an unbalanced quote) is counted and reported, never dropped silently.
                read.rows_read += 1;
                read.skipped.push(Skip { location: format!("line {line}"), why: format!("unreadable CSV line: {e}") });
            }
        }
    }
    read.sheets.push("csv".to_owned());
    read_sheet(index, "", rows.into_iter(), style, read);
}

/// Finds the header, then turns every data row below it into a [`Record`] or a [`Skip`].
fn read_sheet(
    index: usize,
    sheet: &str,
    rows: impl Iterator<Item = (u64, Vec<Data>)>,
    style: DecimalStyle,
    read: &mut FileRead,
) {
    let location = |row: u64| if sheet.is_empty() { format!("line {row}") } else { format!("{sheet}!{row}") };
    let label = if sheet.is_empty() { "the file".to_owned() } else { format!("sheet {sheet:?}") };
    let mut layout: Option<ColumnLayout> = None;
    let mut above_header: Vec<u64> = Vec::new();
    let mut seen = 0usize;
    for (row, cells) in rows {
        if cells.iter().all(is_blank) {
            continue;
        }
        seen += 1;
        let texts: Vec<String> = cells.iter().map(|c| if let Data::String(s) = c { s.clone() } else { String::new() }).collect();
        let candidate = ColumnLayout::from_header(&texts);
        if candidate.recognised() >= 4 && candidate.position(ProductionField::Date).is_some() {
            if layout.is_some() {
                read.notes.push(format!("{}: repeated header row left out", location(row)));
            }
            layout = Some(candidate);
            continue;
        }
        let Some(l) = &layout else {
            if seen <= HEADER_SEARCH_ROWS {
                above_header.push(row);
                continue;
            }
            // No header in the first rows: everything is read and reported as skipped.
            read.rows_read += 1;
            read.skipped.push(Skip { location: location(row), why: "no header row recognised above it".into() });
            continue;
        };
        read.rows_read += 1;
        let cell = |f: ProductionField| l.position(f).and_then(|i| cells.get(i)).unwrap_or(&Data::Empty);
        let date = cell_date(cell(ProductionField::Date));
        let Some(at) = date else {
            let why = if is_totals_row(&cells) {
                "totals row".to_owned()
            } else {
                format!(
                    "no readable production date ({:?}): the row cannot be assigned to a day",
                    cell_text(cell(ProductionField::Date), false, style)
                )
            };
            read.skipped.push(Skip { location: location(row), why });
            continue;
        };
        let cells6 = [
            at.format("%Y-%m-%d %H:%M:%S").to_string(),
            cell_text(cell(ProductionField::PaintType), false, style),
            cell_text(cell(ProductionField::Quantity), true, style),
            cell_text(cell(ProductionField::UnitCost), true, style),
            cell_text(cell(ProductionField::Cost), true, style),
            cell_text(cell(ProductionField::Operator), false, style),
        ];
        read.records.push(Record { file: index, location: location(row), day: at.date(), cells: cells6 });
    }
    match (&layout, above_header.is_empty()) {
        (Some(_), false) => read.notes.push(format!(
            "{label}: {} title row(s) above the header left out (rows {})",
            above_header.len(),
            above_header.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        )),
        (None, false) => {
            // No header at all: the rows are data the run could not interpret.
            for row in above_header {
                read.rows_read += 1;
                read.skipped.push(Skip { location: location(row), why: "no header row recognised in the sheet".into() });
            }
        }
        _ => {}
    }
    let totals = read.skipped.iter().filter(|s| s.why == "totals row").count();
    if totals > 0 && read.notes.iter().all(|n| !n.contains("totals row")) {
        read.notes.push("totals row(s) recognised and left out (see skipped)".to_owned());
    }
}

fn is_blank(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A row whose text cells say it is a sum: `Total`, `TOTALES`, `Total general`, `Suma`, `Gran total`.
fn is_totals_row(cells: &[Data]) -> bool {
    cells.iter().any(|c| match c {
        Data::String(s) => {
            let n = normalise_name(s);
            n.starts_with("total") || n.starts_with("suma") || n == "gran total" || n == "sum"
        }
        _ => false,
    })
}

/// The production timestamp of a date cell: a date-formatted cell, an Excel serial number, or a text
/// date in a format the transformer reads (`YYYY-MM-DD[ HH:MM[:SS]]`, `DD/MM/YYYY[ HH:MM[:SS]]`, …).
pub fn cell_date(d: &Data) -> Option<NaiveDateTime> {
    match d {
        Data::DateTime(dt) if dt.is_datetime() => dt.as_datetime().map(round_to_second),
        Data::Float(v) => serial(*v),
        Data::Int(v) => serial(*v as f64),
        Data::String(s) | Data::DateTimeIso(s) => parse_timestamp(s).or_else(|| {
            let t = s.trim();
            // A serial exported as text (a CSV made from a sheet with unformatted dates).
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') { t.parse::<f64>().ok().and_then(serial) } else { None }
        }),
        _ => None,
    }
}

/// Excel serial day numbers between 1927 and 2119 (days since 1899-12-30): anything else is not a
/// plausible production date and is left unread.
fn serial(v: f64) -> Option<NaiveDateTime> {
    if !(10_000.0..80_000.0).contains(&v) {
        return None;
    }
    ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false).as_datetime().map(round_to_second)
}

fn round_to_second(t: NaiveDateTime) -> NaiveDateTime {
    let t = t + chrono::Duration::milliseconds(500);
    t.with_nanosecond(0).unwrap_or(t)
}

/// A cell as the text the raw CSV carries. Numbers get their shortest exact form (what the extractor
/// writes); in a `;`-delimited CSV a decimal-comma number is rewritten with a point, because the raw
/// CSV is `,`-delimited. Text stays as it is (the transformer trims and judges it).
pub fn cell_text(d: &Data, numeric: bool, style: DecimalStyle) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => {
            if numeric && style == DecimalStyle::Comma && !s.trim().is_empty() {
                parse_number(s, style).map(|v| format!("{v}")).unwrap_or_else(|| s.clone())
            } else {
                s.clone()
            }
        }
        Data::Float(v) => format!("{v}"),
        Data::Int(v) => v.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) if !numeric => round_to_second(t).format("%Y-%m-%d %H:%M:%S").to_string(),
            _ => format!("{}", dt.as_f64()),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_text_dates_and_numbers() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(cell_date(&Data::Float(45_658.25)), Some(t("2025-01-01 06:00:00")));
        assert_eq!(cell_date(&Data::String("07/01/2025".into())), Some(t("2025-01-07 00:00:00")));
        assert_eq!(cell_date(&Data::String("45658".into())), Some(t("2025-01-01 00:00:00")));
        assert_eq!(cell_date(&Data::String("Total".into())), None);
        assert_eq!(cell_date(&Data::Float(3.0)), None);
        assert_eq!(cell_text(&Data::Float(1500.0), true, DecimalStyle::Point), "1500");
        assert_eq!(cell_text(&Data::Float(92.5), true, DecimalStyle::Point), "92.5");
        assert_eq!(cell_text(&Data::String("1.234,5".into()), true, DecimalStyle::Comma), "1234.5");
        assert_eq!(cell_text(&Data::String("abc".into()), true, DecimalStyle::Comma), "abc");
        assert!(is_totals_row(&[Data::Empty, Data::String("TOTAL general".into()), Data::Float(3.0)]));
    }
}
