//! The validator's streaming core: a staging file judged batch by batch, never turned into owned rows.
//!
//! Each batch's rows are judged through borrowed [`RowView`]s with the same [`Judge`] as
//! [`validate()`](crate::validate::validate) and appended at once to the curated or the quarantine
//! Parquet encoder: a row's verdict depends only on earlier rows (duplicates), so it is final when the
//! row is read. Only a day's hold needs the whole day; a held day (rare) is read a second time to put
//! every row in quarantine. What is held in memory is one decoded batch, the duplicate index (a digest
//! per row), the failing rows' verdicts and the encoders' output — not the day's rows.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::ArrowWriter;
use pinta_contracts::ReasonCode;
use pinta_contracts::catalog::Catalog;
use pinta_contracts::events::QuarantineSample;
use pinta_contracts::tables::{curated_schema, quarantine_schema};

use crate::output::{OutputError, writer_properties};
use crate::rules::RuleSet;
use crate::staging::{RowView, StagingColumns, StagingError, staging_batches};
use crate::validate::{
    CuratedValues, DaySummary, DuplicateIndex, Judge, KpiAccumulator, MAX_SAMPLES, RowVerdict, held_detail, is_held,
    sample_of,
};

/// Why a staging file could not be validated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The staging file is not a readable staging file.
    #[error("unreadable staging file")]
    Staging {
        #[source]
        source: StagingError,
    },
    /// An output file could not be encoded or written.
    #[error("could not write an output file")]
    Output {
        #[source]
        source: OutputError,
    },
}

impl From<StagingError> for StreamError {
    fn from(source: StagingError) -> Self {
        StreamError::Staging { source }
    }
}

fn parquet_error(source: parquet::errors::ParquetError) -> StreamError {
    StreamError::Output { source: OutputError::Parquet { source } }
}

/// A validated day: the figures and the two Parquet files. Either file may have no rows (a valid file
/// with the schema); the caller decides whether to store it (`held`, `rows_quarantined`).
#[derive(Debug)]
pub struct StreamedDay {
    pub summary: DaySummary,
    pub curated: Vec<u8>,
    pub quarantine: Vec<u8>,
}

/// Validates the staging file `staging` (in memory) of `day` into the curated and the quarantine
/// Parquet files (contracted schemas, snappy). Same verdicts, same rows in the same order and the same
/// summary as [`validate()`](crate::validate::validate) on the same rows.
pub fn validate_staging(
    staging: &[u8],
    day: NaiveDate,
    catalog: Option<&Catalog>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<StreamedDay, StreamError> {
    std::thread::scope(|scope| run(scope, || staging_batches(Cursor::new(staging)), day, catalog, rules, now))
}

/// [`validate_staging`] for a staging file on disk, read batch by batch (what is in memory is one
/// batch, not the file).
pub fn validate_staging_file(
    path: &Path,
    day: NaiveDate,
    catalog: Option<&Catalog>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<StreamedDay, StreamError> {
    let open = || {
        let file = File::open(path).map_err(|source| StagingError::Ipc { source: ArrowError::from(source) })?;
        staging_batches(BufReader::with_capacity(256 * 1024, file))
    };
    std::thread::scope(|scope| run(scope, open, day, catalog, rules, now))
}

/// One pass routes every row as soon as it is judged: a row's verdict never depends on later rows
/// (a duplicate is a repeat of an *earlier* row). Only the hold needs the whole day: when the day is
/// held, which is rare, a second pass rewrites every row into the quarantine file. The curated
/// encoder runs on a thread of `scope`.
fn run<'s, I, F>(
    scope: &'s Scope<'s, '_>,
    open: F,
    day: NaiveDate,
    catalog: Option<&Catalog>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<StreamedDay, StreamError>
where
    F: Fn() -> Result<I, StagingError>,
    I: Iterator<Item = Result<RecordBatch, StagingError>>,
{
    let judge = Judge::new(day, catalog, rules, now);
    let mut seen = DuplicateIndex::default();
    // The failing rows' verdicts, by row index, for the held pass.
    let mut failures: Vec<(u64, RowVerdict)> = Vec::new();
    let mut out = Router::new(scope)?;
    let mut rows_in = 0u64;
    for batch in open()? {
        let batch = batch?;
        let cols = StagingColumns::new(&batch)?;
        let mut c = CuratedBatch::with_capacity(cols.len());
        let mut q = QuarantineBatch::default();
        for i in 0..cols.len() {
            let row = cols.row(i);
            let verdict = judge.verdict(&row, &mut seen);
            if verdict.passed() {
                out.curated(&mut c, &row);
            } else {
                out.quarantined(&mut q, &row, &verdict.reasons, &verdict.details.join("; "), false);
                failures.push((rows_in, verdict));
            }
            rows_in += 1;
        }
        out.send_curated(c)?;
        q.write(&mut out.quarantine)?;
    }
    drop(seen);
    let rows_failed = failures.len() as u64;
    if !is_held(rules, rows_failed, rows_in) {
        return out.finish(day, rows_in, rows_failed, false);
    }

    // Held: nothing is curated; every row goes to quarantine, good ones with `DAY_HELD`.
    drop(out);
    let held_text = held_detail(rules, rows_failed, rows_in);
    let mut out = Router::new(scope)?;
    let mut failures = failures.into_iter().peekable();
    let mut index = 0u64;
    for batch in open()? {
        let batch = batch?;
        let cols = StagingColumns::new(&batch)?;
        let mut q = QuarantineBatch::default();
        for i in 0..cols.len() {
            let row = cols.row(i);
            match failures.next_if(|(at, _)| *at == index) {
                Some((_, verdict)) => {
                    out.quarantined(&mut q, &row, &verdict.reasons, &verdict.details.join("; "), false)
                }
                None => out.quarantined(&mut q, &row, &[ReasonCode::DayHeld], &held_text, true),
            }
            index += 1;
        }
        q.write(&mut out.quarantine)?;
    }
    if index != rows_in {
        // The file changed under us between the passes.
        return Err(StreamError::Staging {
            source: StagingError::Ipc {
                source: ArrowError::InvalidArgumentError(format!(
                    "the staging file had {rows_in} rows on the first read and {index} on the second"
                )),
            },
        });
    }
    out.finish(day, rows_in, rows_failed, true)
}

/// The two encoders and the figures accumulated as rows are routed. The curated file, nearly every
/// row, is encoded on a second thread while this one reads and judges the next batch.
struct Router<'s> {
    curated: Option<SyncSender<RecordBatch>>,
    curated_encoder: ScopedJoinHandle<'s, Result<Vec<u8>, StreamError>>,
    quarantine: ArrowWriter<Vec<u8>>,
    kpis: KpiAccumulator,
    rows_curated: u64,
    rows_quarantined: u64,
    reason_counts: BTreeMap<ReasonCode, u64>,
    liters_affected: i64,
    cost_affected: f64,
    failed_samples: Vec<QuarantineSample>,
    held_samples: Vec<QuarantineSample>,
}

/// Encodes the curated batches it receives until the sender is dropped; the file's bytes.
fn encode_curated(batches: Receiver<RecordBatch>) -> Result<Vec<u8>, StreamError> {
    let mut writer =
        ArrowWriter::try_new(Vec::new(), curated_schema(), Some(writer_properties())).map_err(parquet_error)?;
    for batch in batches {
        writer.write(&batch).map_err(parquet_error)?;
    }
    writer.finish().map_err(parquet_error)?;
    Ok(std::mem::take(writer.inner_mut()))
}

impl<'s> Router<'s> {
    fn new(scope: &'s Scope<'s, '_>) -> Result<Self, StreamError> {
        // Two batches in flight at most: memory stays bounded if the encoder is the slower side.
        let (tx, rx) = sync_channel(2);
        Ok(Router {
            curated: Some(tx),
            curated_encoder: scope.spawn(move || encode_curated(rx)),
            quarantine: ArrowWriter::try_new(Vec::new(), quarantine_schema(), Some(writer_properties()))
                .map_err(parquet_error)?,
            kpis: KpiAccumulator::default(),
            rows_curated: 0,
            rows_quarantined: 0,
            reason_counts: BTreeMap::new(),
            liters_affected: 0,
            // `-0.0`, what `Iterator::sum` gives for nothing.
            cost_affected: -0.0,
            failed_samples: Vec::new(),
            held_samples: Vec::new(),
        })
    }

    /// Hands a batch of curated rows to the encoder thread. If that thread has stopped (an encoding
    /// error), its error is what [`Router::finish`] reports; here the batch is just not sent.
    fn send_curated(&mut self, batch: CuratedBatch) -> Result<(), StreamError> {
        if let (Some(batch), Some(tx)) = (batch.finish()?, &self.curated)
            && tx.send(batch).is_err()
        {
            self.curated = None;
        }
        Ok(())
    }

    fn curated(&mut self, batch: &mut CuratedBatch, row: &RowView<'_>) {
        let v = CuratedValues::of(row);
        self.kpis.add(v.quantity, v.cost, v.operator, v.paint_type);
        batch.push(&v);
        self.rows_curated += 1;
    }

    fn quarantined(
        &mut self,
        batch: &mut QuarantineBatch,
        row: &RowView<'_>,
        reasons: &[ReasonCode],
        detail: &str,
        held: bool,
    ) {
        for r in reasons {
            *self.reason_counts.entry(*r).or_insert(0) += 1;
        }
        if let Some(q) = row.quantity {
            self.liters_affected = self.liters_affected.saturating_add(q);
        }
        if let Some(c) = row.cost.filter(|c| c.is_finite()) {
            self.cost_affected += c;
        }
        let samples = if held { &mut self.held_samples } else { &mut self.failed_samples };
        if samples.len() < MAX_SAMPLES {
            samples.push(sample_of(row.line, reasons, row.raw_cells()));
        }
        batch.push(row, reasons, detail);
        self.rows_quarantined += 1;
    }

    fn finish(
        mut self,
        day: NaiveDate,
        rows_in: u64,
        rows_failed: u64,
        held: bool,
    ) -> Result<StreamedDay, StreamError> {
        drop(self.curated.take());
        let curated = self.curated_encoder.join().map_err(|_| StreamError::Output {
            source: OutputError::Arrow {
                source: ArrowError::ComputeError("the curated encoder thread panicked".into()),
            },
        })??;
        self.quarantine.finish().map_err(parquet_error)?;
        let mut samples = self.failed_samples;
        samples.extend(self.held_samples);
        samples.truncate(MAX_SAMPLES);
        let summary = DaySummary {
            day,
            rows_in,
            rows_curated: self.rows_curated,
            rows_quarantined: self.rows_quarantined,
            rows_failed,
            failed_ratio: if rows_in == 0 { 0.0 } else { rows_failed as f64 / rows_in as f64 },
            held,
            kpis: self.kpis.finish(),
            reason_counts: self.reason_counts,
            liters_affected: self.liters_affected,
            cost_affected: self.cost_affected,
            samples,
        };
        Ok(StreamedDay { summary, curated, quarantine: std::mem::take(self.quarantine.inner_mut()) })
    }
}

/// The curated rows of one staging batch, column by column.
struct CuratedBatch {
    rows: usize,
    date: TimestampMicrosecondBuilder,
    paint: StringBuilder,
    quantity: Int64Builder,
    unit_cost: Float64Builder,
    cost: Float64Builder,
    operator: StringBuilder,
}

impl CuratedBatch {
    fn with_capacity(rows: usize) -> Self {
        CuratedBatch {
            rows: 0,
            date: TimestampMicrosecondBuilder::with_capacity(rows),
            paint: StringBuilder::with_capacity(rows, rows * 12),
            quantity: Int64Builder::with_capacity(rows),
            unit_cost: Float64Builder::with_capacity(rows),
            cost: Float64Builder::with_capacity(rows),
            operator: StringBuilder::with_capacity(rows, rows * 12),
        }
    }

    fn push(&mut self, v: &CuratedValues<'_>) {
        self.rows += 1;
        self.date.append_option(v.date.map(|d| d.and_utc().timestamp_micros()));
        self.paint.append_option(v.paint_type);
        self.quantity.append_option(v.quantity);
        self.unit_cost.append_option(v.unit_cost);
        self.cost.append_option(v.cost);
        self.operator.append_option(v.operator);
    }

    /// The batch, if it has rows.
    fn finish(mut self) -> Result<Option<RecordBatch>, StreamError> {
        if self.rows == 0 {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.date.finish()),
            Arc::new(self.paint.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.unit_cost.finish()),
            Arc::new(self.cost.finish()),
            Arc::new(self.operator.finish()),
        ];
        RecordBatch::try_new(curated_schema(), columns)
            .map(Some)
            .map_err(|source| StreamError::Output { source: OutputError::Arrow { source } })
    }
}

/// The quarantined rows of one staging batch.
#[derive(Default)]
struct QuarantineBatch {
    rows: usize,
    raw: [StringBuilder; 6],
    line: Int64Builder,
    reasons: StringBuilder,
    detail: StringBuilder,
    text: String,
}

impl QuarantineBatch {
    fn push(&mut self, row: &RowView<'_>, reasons: &[ReasonCode], detail: &str) {
        self.rows += 1;
        for (builder, cell) in self.raw.iter_mut().zip(row.raw_cells()) {
            builder.append_option(cell);
        }
        self.line.append_value(i64::try_from(row.line).unwrap_or(i64::MAX));
        self.text.clear();
        for (i, r) in reasons.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(r.as_str());
        }
        self.reasons.append_value(&self.text);
        self.detail.append_value(detail);
    }

    fn write<W: Write + Send>(mut self, writer: &mut ArrowWriter<W>) -> Result<(), StreamError> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = self.raw.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        columns.push(Arc::new(self.line.finish()));
        columns.push(Arc::new(self.reasons.finish()));
        columns.push(Arc::new(self.detail.finish()));
        write_batch(writer, quarantine_schema(), columns)
    }
}

fn write_batch<W: Write + Send>(
    writer: &mut ArrowWriter<W>,
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
) -> Result<(), StreamError> {
    let batch = RecordBatch::try_new(schema, columns)
        .map_err(|source| StreamError::Output { source: OutputError::Arrow { source } })?;
    writer.write(&batch).map_err(parquet_error)
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::builder::{BooleanBuilder, UInt64Builder};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
    use chrono::TimeZone;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use pinta_contracts::catalog::{CatalogOperator, CatalogPaint};
    use pinta_contracts::tables::staging;

    use super::*;
    use crate::output::read_quarantine_parquet;
    use crate::staging::StagingRow;
    use crate::validate::{CuratedRow, validate};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 10).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 10, 20, 0, 0).unwrap()
    }

    fn catalog() -> Catalog {
        Catalog {
            operators: ["Ana", "Luis", "Marta"].map(|n| CatalogOperator { name: n.into(), active: true }).to_vec(),
            paint_types: ["Esmalte", "Látex"].map(|n| CatalogPaint { name: n.into(), price_per_liter: 2.0 }).to_vec(),
        }
    }

    /// Row `i` of a synthetic day: mostly good, with every kind of defect at its own period, and
    /// exact repeats of earlier rows now and then.
    fn row(i: u64) -> StagingRow {
        let minute = (i % 600) as u32;
        let date = day().and_hms_opt(8 + minute / 60, minute % 60, (i % 60) as u32);
        let quantity = 10 + (i % 37) as i64;
        let unit = 1.5 + (i % 3) as f64;
        let mut r = StagingRow {
            line: i + 2,
            date,
            date_raw: date.map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()),
            paint_type: Some(if i % 2 == 0 { "Esmalte" } else { "Látex" }.into()),
            paint_type_raw: None,
            quantity: Some(quantity),
            quantity_raw: Some(quantity.to_string()),
            unit_cost: Some(unit),
            unit_cost_raw: Some(unit.to_string()),
            cost: Some(quantity as f64 * unit),
            cost_raw: Some((quantity as f64 * unit).to_string()),
            operator: Some(["Ana", "Luis", "Marta"][(i % 3) as usize].into()),
            operator_raw: None,
            cost_computed: false,
            cell_errors: String::new(),
        };
        r.paint_type_raw = r.paint_type.clone();
        r.operator_raw = r.operator.clone();
        match i % 97 {
            5 => {
                r.quantity = None;
                r.quantity_raw = Some("diez".into());
                r.cell_errors = "UNPARSEABLE_QUANTITY".into();
            }
            17 => {
                r.operator = None;
                r.operator_raw = Some(" ".into());
            }
            23 => {
                r.operator = Some("Zoe".into());
                r.operator_raw = Some(" Zoe ".into());
            }
            31 => r.cost = Some(1.0),
            43 => r.date = day().pred_opt().and_then(|d| d.and_hms_opt(23, 0, 0)),
            59 => r.quantity = Some(-3),
            71 => {
                r.cost = None;
                r.cost_raw = Some(String::new());
                r.cost_computed = true;
            }
            83 => r.paint_type = Some("  ".into()),
            89 => r.cell_errors = "MALFORMED_LINE".into(),
            _ => {}
        }
        if i % 211 == 7 && i > 200 {
            // An exact repeat of an earlier row (same typed values), on a later line.
            let mut earlier = row(i - 200);
            earlier.line = i + 2;
            return earlier;
        }
        r
    }

    /// `rows` as a staging file of several batches.
    fn staging_file(rows: &[StagingRow], batch_rows: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &staging::schema()).unwrap();
        for chunk in rows.chunks(batch_rows) {
            let mut line = UInt64Builder::new();
            let mut date = TimestampMicrosecondBuilder::new();
            let mut text: [StringBuilder; 9] = Default::default();
            let mut quantity = Int64Builder::new();
            let mut unit = Float64Builder::new();
            let mut cost = Float64Builder::new();
            let mut computed = BooleanBuilder::new();
            for r in chunk {
                line.append_value(r.line);
                date.append_option(r.date.map(|d| d.and_utc().timestamp_micros()));
                quantity.append_option(r.quantity);
                unit.append_option(r.unit_cost);
                cost.append_option(r.cost);
                computed.append_value(r.cost_computed);
                let cells = [
                    &r.date_raw,
                    &r.paint_type,
                    &r.paint_type_raw,
                    &r.quantity_raw,
                    &r.unit_cost_raw,
                    &r.cost_raw,
                    &r.operator,
                    &r.operator_raw,
                    &Some(r.cell_errors.clone()),
                ];
                for (b, c) in text.iter_mut().zip(cells) {
                    b.append_option(c.as_deref());
                }
            }
            let [date_raw, paint, paint_raw, quantity_raw, unit_raw, cost_raw, operator, operator_raw, errors] =
                text.map(|mut b| Arc::new(b.finish()) as ArrayRef);
            let columns: Vec<ArrayRef> = vec![
                Arc::new(line.finish()),
                Arc::new(date.finish()),
                date_raw,
                paint,
                paint_raw,
                Arc::new(quantity.finish()),
                quantity_raw,
                Arc::new(unit.finish()),
                unit_raw,
                Arc::new(cost.finish()),
                cost_raw,
                operator,
                operator_raw,
                Arc::new(computed.finish()),
                errors,
            ];
            w.write(&RecordBatch::try_new(staging::schema(), columns).unwrap()).unwrap();
        }
        w.finish().unwrap();
        drop(w);
        out
    }

    fn read_curated(bytes: Vec<u8>) -> Vec<CuratedRow> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap().build().unwrap();
        let mut rows = Vec::new();
        for batch in reader {
            let b = batch.unwrap();
            let dates = b.column(0).as_primitive::<TimestampMicrosecondType>();
            let paint = b.column(1).as_string::<i32>();
            let q = b.column(2).as_primitive::<Int64Type>();
            let u = b.column(3).as_primitive::<Float64Type>();
            let c = b.column(4).as_primitive::<Float64Type>();
            let op = b.column(5).as_string::<i32>();
            for i in 0..b.num_rows() {
                let text = |a: &arrow_array::StringArray| (!a.is_null(i)).then(|| a.value(i).to_owned());
                rows.push(CuratedRow {
                    date: (!dates.is_null(i))
                        .then(|| DateTime::from_timestamp_micros(dates.value(i)).map(|d| d.naive_utc()))
                        .flatten(),
                    paint_type: text(paint),
                    quantity: (!q.is_null(i)).then(|| q.value(i)),
                    unit_cost: (!u.is_null(i)).then(|| u.value(i)),
                    cost: (!c.is_null(i)).then(|| c.value(i)),
                    operator: text(op),
                });
            }
        }
        rows
    }

    /// The streaming validator and the in-memory one decide the same for every row of a day that spans
    /// several staging batches: same summary, same curated rows, same quarantined rows and reasons.
    fn assert_same_as_in_memory(rows: &[StagingRow], rules: &RuleSet) -> DaySummary {
        let expected = validate(rows, day(), Some(&catalog()), rules, now());
        let file = staging_file(rows, 1000);
        let got = validate_staging(&file, day(), Some(&catalog()), rules, now()).unwrap();
        assert_eq!(got.summary, expected.summary());
        assert!(got.summary.is_conserved());
        assert_eq!(read_curated(got.curated), expected.curated);
        let quarantined = read_quarantine_parquet(bytes::Bytes::from(got.quarantine)).unwrap();
        assert_eq!(quarantined.len(), expected.quarantined.len());
        for (q, e) in quarantined.iter().zip(&expected.quarantined) {
            assert_eq!(q.values, e.raw);
            assert_eq!(q.line, e.line as i64);
            assert_eq!(q.reasons, e.reasons_text());
            assert_eq!(q.detail, e.detail);
        }
        got.summary
    }

    #[test]
    fn streaming_matches_in_memory_on_a_day_with_every_defect() {
        let rows: Vec<StagingRow> = (0..5000).map(row).collect();
        let s = assert_same_as_in_memory(&rows, &RuleSet::default());
        // The day is not trivial: every defect shows up, duplicates included, and it is not held.
        assert!(!s.held);
        assert!(s.rows_quarantined > 300 && s.rows_curated > 4000, "{s:?}");
        for code in [
            ReasonCode::UnparseableQuantity,
            ReasonCode::MissingOperator,
            ReasonCode::UnknownOperator,
            ReasonCode::CostMismatch,
            ReasonCode::DateOutsideDay,
            ReasonCode::NegativeQuantity,
            ReasonCode::MissingPaintType,
            ReasonCode::MalformedLine,
            ReasonCode::DuplicateRow,
        ] {
            assert!(s.reason_counts.get(&code).copied().unwrap_or(0) > 0, "{code:?} missing: {s:?}");
        }
        assert_eq!(s.samples.len(), MAX_SAMPLES);
    }

    #[test]
    fn streaming_matches_in_memory_on_a_held_day() {
        let rows: Vec<StagingRow> = (0..3000).map(row).collect();
        let rules = RuleSet { quarantine_threshold: 0.01, ..RuleSet::default() };
        let s = assert_same_as_in_memory(&rows, &rules);
        assert!(s.held);
        assert_eq!((s.rows_curated, s.rows_quarantined), (0, 3000));
        assert!(s.reason_counts.get(&ReasonCode::DayHeld).copied().unwrap_or(0) > 2000);
    }

    #[test]
    fn a_staging_file_on_disk_gives_what_the_same_bytes_in_memory_give() {
        let rows: Vec<StagingRow> = (0..2500).map(row).collect();
        let bytes = staging_file(&rows, 600);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staging.arrow");
        std::fs::write(&path, &bytes).unwrap();
        let rules = RuleSet::default();
        let from_disk = validate_staging_file(&path, day(), Some(&catalog()), &rules, now()).unwrap();
        let in_memory = validate_staging(&bytes, day(), Some(&catalog()), &rules, now()).unwrap();
        assert_eq!(from_disk.summary, in_memory.summary);
        assert_eq!((from_disk.curated, from_disk.quarantine), (in_memory.curated, in_memory.quarantine));
        let missing = validate_staging_file(&dir.path().join("nope.arrow"), day(), None, &rules, now());
        assert!(matches!(missing, Err(StreamError::Staging { .. })), "{missing:?}");
    }

    #[test]
    fn an_empty_day_gives_two_empty_files() {
        let s = assert_same_as_in_memory(&[], &RuleSet::default());
        assert_eq!((s.rows_in, s.rows_curated, s.rows_quarantined, s.held), (0, 0, 0, false));
    }

    #[test]
    fn a_file_that_is_not_staging_is_a_staging_error() {
        let e = validate_staging(b"nope", day(), None, &RuleSet::default(), now()).unwrap_err();
        assert!(matches!(e, StreamError::Staging { source: StagingError::Ipc { .. } }), "{e:?}");
    }

    #[test]
    fn same_staging_same_bytes() {
        let rows: Vec<StagingRow> = (0..2500).map(row).collect();
        let file = staging_file(&rows, 700);
        let run = || validate_staging(&file, day(), Some(&catalog()), &RuleSet::default(), now());
        let (a, b) = (run().unwrap(), run().unwrap());
        assert_eq!((a.curated, a.quarantine), (b.curated, b.quarantine));
    }
}
