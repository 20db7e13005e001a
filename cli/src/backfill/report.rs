//! The reconciliation report of a backfill: per source file and per day, rows read, curated,
//! quarantined and skipped (with why), the sums of litres and cost going in and coming out, and the
//! SHA-256 of every output object. The "out" side is read back from the Parquet files the validator
//! wrote — never taken from the backfill's own counters.

use std::collections::BTreeMap;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use bytes::Bytes;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pinta_contracts::events::ObjectRef;
use pinta_contracts::tables::{COL_COST, COL_LINE, COL_QUANTITY, CURATED_COLUMNS};
use pinta_transformer::values::{DecimalStyle, parse_number, parse_quantity};
use serde::Serialize;

use super::read::Skip;

/// Allowed difference between cost sums (floating-point summation order differs between the sides).
pub const COST_TOLERANCE: f64 = 0.01;

/// Litres and cost of one row as the pipeline reads them: the quantity and cost cells parsed, and the
/// cost computed as quantity × price when the cost cell is empty (the transformer's rule).
pub fn row_values(quantity: Option<&str>, unit_cost: Option<&str>, cost: Option<&str>) -> (Option<i64>, Option<f64>) {
    let q = quantity.and_then(|s| parse_quantity(s, DecimalStyle::Point));
    let u = unit_cost.and_then(|s| parse_number(s, DecimalStyle::Point));
    let c = match cost {
        Some(s) if !s.is_empty() => parse_number(s, DecimalStyle::Point),
        _ => match (q, u) {
            (Some(q), Some(u)) => Some(q as f64 * u),
            _ => None,
        },
    };
    (q, c)
}

/// Sums over a set of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sums {
    pub liters: i64,
    pub cost: f64,
}

impl Sums {
    pub fn add(&mut self, (q, c): (Option<i64>, Option<f64>)) {
        self.liters += q.unwrap_or(0);
        self.cost += c.unwrap_or(0.0);
    }
    pub fn matches(&self, other: &Sums) -> bool {
        self.liters == other.liters && (self.cost - other.cost).abs() <= COST_TOLERANCE + 1e-9 * self.cost.abs()
    }
}

/// Litres and cost of one row (`None` where unreadable).
pub type RowValues = (Option<i64>, Option<f64>);

/// How one row of a day's raw file ended up, read back from the outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Curated,
    Quarantined,
}

/// The outputs of a day read back: what happened to each raw line (2 = first data line).
#[derive(Debug, Clone, Default)]
pub struct DayOutputs {
    pub lines: BTreeMap<u64, (Outcome, RowValues)>,
    pub curated_rows: u64,
    pub quarantined_rows: u64,
    /// Anything that keeps the outputs from being matched to the raw lines.
    pub problems: Vec<String>,
}

/// Reads the curated and quarantine Parquet of a day and maps every row to its raw line. Quarantine
/// rows carry their line; curated rows are, in order, the lines that were not quarantined.
pub fn read_outputs(rows_written: u64, curated: Option<&[u8]>, quarantine: Option<&[u8]>) -> DayOutputs {
    let mut out = DayOutputs::default();
    if let Some(bytes) = quarantine {
        match read_batches(bytes) {
            Ok(batches) => {
                for b in &batches {
                    let line = b.column_by_name(COL_LINE).and_then(|c| c.as_any().downcast_ref::<Int64Array>());
                    let text = |name: &str| b.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>());
                    let (Some(line), Some(q), Some(u), Some(c)) =
                        (line, text(CURATED_COLUMNS[2]), text(CURATED_COLUMNS[3]), text(CURATED_COLUMNS[4]))
                    else {
                        out.problems.push("the quarantine file does not have the contracted columns".into());
                        break;
                    };
                    for i in 0..b.num_rows() {
                        let values = row_values(opt_str(q, i), opt_str(u, i), opt_str(c, i));
                        out.quarantined_rows += 1;
                        if out.lines.insert(line.value(i) as u64, (Outcome::Quarantined, values)).is_some() {
                            out.problems.push(format!("line {} appears twice in the quarantine file", line.value(i)));
                        }
                    }
                }
            }
            Err(e) => out.problems.push(format!("unreadable quarantine file: {e}")),
        }
    }
    if let Some(bytes) = curated {
        match read_batches(bytes) {
            Ok(batches) => {
                let mut free = (2..rows_written + 2).filter(|l| !out.lines.contains_key(l)).collect::<Vec<_>>().into_iter();
                for b in &batches {
                    let q = b.column_by_name(COL_QUANTITY).and_then(|c| c.as_any().downcast_ref::<Int64Array>());
                    let c = b.column_by_name(COL_COST).and_then(|c| c.as_any().downcast_ref::<Float64Array>());
                    let (Some(q), Some(c)) = (q, c) else {
                        out.problems.push("the curated file does not have the contracted columns".into());
                        break;
                    };
                    for i in 0..b.num_rows() {
                        out.curated_rows += 1;
                        let values = ((!q.is_null(i)).then(|| q.value(i)), (!c.is_null(i)).then(|| c.value(i)));
                        match free.next() {
                            Some(line) => {
                                out.lines.insert(line, (Outcome::Curated, values));
                            }
                            None => out.problems.push("the curated file has more rows than the raw file".into()),
                        }
                    }
                }
            }
            Err(e) => out.problems.push(format!("unreadable curated file: {e}")),
        }
    }
    out
}

fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn read_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes))
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
}

/// Rows and sums of one side of the account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Account {
    pub rows_read: u64,
    pub rows_curated: u64,
    pub rows_quarantined: u64,
    pub rows_skipped: u64,
    /// Rows delivered to the pipeline (read − skipped).
    pub rows_loaded: u64,
    /// Over the loaded rows, from the cells read.
    #[serde(rename = "in")]
    pub sums_in: Sums,
    /// Over the curated and quarantined rows, read back from the Parquet outputs.
    #[serde(rename = "out")]
    pub sums_out: Sums,
}

impl Account {
    pub fn balanced(&self) -> bool {
        self.rows_read == self.rows_curated + self.rows_quarantined + self.rows_skipped
            && self.rows_loaded == self.rows_curated + self.rows_quarantined
            && self.sums_in.matches(&self.sums_out)
    }
    pub fn absorb(&mut self, other: &Account) {
        self.rows_read += other.rows_read;
        self.rows_curated += other.rows_curated;
        self.rows_quarantined += other.rows_quarantined;
        self.rows_skipped += other.rows_skipped;
        self.rows_loaded += other.rows_loaded;
        self.sums_in.liters += other.sums_in.liters;
        self.sums_in.cost += other.sums_in.cost;
        self.sums_out.liters += other.sums_out.liters;
        self.sums_out.cost += other.sums_out.cost;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub sheets: Vec<String>,
    #[serde(flatten)]
    pub account: Account,
    pub balanced: bool,
    pub days: Vec<NaiveDate>,
    pub skipped: Vec<Skip>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    pub day: NaiveDate,
    /// `written`, `resumed`, `replaced`, `already backfilled`, `skipped`, or `would …` in a dry run.
    pub status: String,
    /// `published` or `held` from the day record, when the day completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub sources: Vec<String>,
    #[serde(flatten)]
    pub account: Account,
    pub balanced: bool,
    /// Why the day's rows were skipped, when they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_why: Option<String>,
    /// Raw, curated and quarantine objects with their SHA-256 as read back now.
    pub outputs: Vec<ObjectRef>,
    /// Where the previous version was kept (`--replace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_kept_under: Option<String>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: chrono::DateTime<chrono::Utc>,
    pub dry_run: bool,
    pub replace: bool,
    /// The catalogue snapshot rows were validated against, and what that means for old names.
    pub catalog: Option<String>,
    pub catalog_note: String,
    pub balanced: bool,
    pub totals: Account,
    pub files: Vec<FileReport>,
    pub days: Vec<DayReport>,
}

impl Report {
    /// The printed table.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let line = |label: &str, a: &Account, ok: bool| {
            format!(
                "{label:<44} {:>7} {:>7} {:>7} {:>7} {:>11} {:>11} {:>15.2} {:>15.2}  {}\n",
                a.rows_read,
                a.rows_curated,
                a.rows_quarantined,
                a.rows_skipped,
                a.sums_in.liters,
                a.sums_out.liters,
                a.sums_in.cost,
                a.sums_out.cost,
                if ok { "ok" } else { "MISMATCH" }
            )
        };
        let head = format!(
            "{:<44} {:>7} {:>7} {:>7} {:>7} {:>11} {:>11} {:>15} {:>15}\n",
            "", "read", "curated", "quar.", "skipped", "liters in", "liters out", "cost in", "cost out"
        );
        s.push_str(&head.replacen(&" ".repeat(44), &format!("{:<44}", "source file"), 1));
        for f in &self.files {
            let name = shorten(&f.path, 44);
            s.push_str(&line(&name, &f.account, f.balanced));
            if let Some(e) = &f.error {
                s.push_str(&format!("    error: {e}\n"));
            }
            for n in &f.notes {
                s.push_str(&format!("    note: {n}\n"));
            }
        }
        s.push_str(&head.replacen(&" ".repeat(44), &format!("{:<44}", "day"), 1));
        for d in &self.days {
            s.push_str(&line(&format!("{} {}", d.day, d.status), &d.account, d.balanced));
            for p in &d.problems {
                s.push_str(&format!("    problem: {p}\n"));
            }
        }
        s.push_str(&line("TOTAL", &self.totals, self.balanced));
        s.push_str(&format!("catalogue: {}\n", self.catalog_note));
        s
    }
}

fn shorten(path: &str, width: usize) -> String {
    let n = path.chars().count();
    if n <= width { path.to_owned() } else { format!("…{}", path.chars().skip(n + 1 - width).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_transformer_rules_and_sums_compare_with_tolerance() {
        assert_eq!(row_values(Some("10"), Some("2.5"), Some("")), (Some(10), Some(25.0)));
        assert_eq!(row_values(Some("10"), Some("2.5"), Some("30")), (Some(10), Some(30.0)));
        assert_eq!(row_values(Some("1.5"), None, None), (None, None));
        let a = Sums { liters: 5, cost: 100.0 };
        assert!(a.matches(&Sums { liters: 5, cost: 100.004 }));
        assert!(!a.matches(&Sums { liters: 6, cost: 100.0 }));
        assert!(!a.matches(&Sums { liters: 5, cost: 101.0 }));
        let acc = Account { rows_read: 3, rows_curated: 1, rows_quarantined: 1, rows_skipped: 1, rows_loaded: 2, ..Default::default() };
        assert!(acc.balanced());
        assert!(!Account { rows_curated: 2, ..acc.clone() }.balanced());
    }
}
