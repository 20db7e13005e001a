//! The validator's streaming core: a staging file judged batch by batch, never turned into owned rows.
//!
//! Pass 1 reads every batch and judges each row through borrowed [`RowView`]s with the same [`Judge`]
//! as [`validate()`](crate::validate::validate); it keeps only the verdicts of failing rows and a
//! digest per row for duplicates. The day's hold is then decided. Pass 2 reads the batches again and
//! appends each row to the curated or the quarantine Parquet encoder, one batch at a time. What is held
//! in memory is one decoded batch, the duplicate index, the failing rows' verdicts and the encoders'
//! current row group — not the day.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
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

/// A validated day: the figures, and the two Parquet files written to the caller's writers. Either
/// file may have no rows (a valid file with the schema); the caller decides whether to store it
/// (`rows_curated`/`held`, `rows_quarantined`).
#[derive(Debug)]
pub struct StreamedDay<C, Q> {
    pub summary: DaySummary,
    pub curated: C,
    pub quarantine: Q,
}

/// Validates the staging file `staging` of `day` and writes the curated and the quarantine Parquet
/// files (contracted schemas, snappy) to `curated` and `quarantine`. Same verdicts, same rows in the
/// same order and the same summary as [`validate()`](crate::validate::validate) on the same rows.
pub fn validate_staging<C: Write + Send, Q: Write + Send>(
    staging: &[u8],
    day: NaiveDate,
    catalog: Option<&Catalog>,
    rules: &RuleSet,
    now: DateTime<Utc>,
    mut curated: C,
    mut quarantine: Q,
) -> Result<StreamedDay<C, Q>, StreamError> {
    let judge = Judge::new(day, catalog, rules, now);

    // Pass 1: verdicts. Only failing rows' verdicts are kept, with their row index.
    let mut seen = DuplicateIndex::default();
    let mut failures: Vec<(u64, RowVerdict)> = Vec::new();
    let mut rows_in = 0u64;
    for batch in staging_batches(staging)? {
        let batch = batch?;
        let cols = StagingColumns::new(&batch)?;
        for i in 0..cols.len() {
            let verdict = judge.verdict(&cols.row(i), &mut seen);
            if !verdict.passed() {
                failures.push((rows_in, verdict));
            }
            rows_in += 1;
        }
    }
    drop(seen);
    let rows_failed = failures.len() as u64;
    let held = is_held(rules, rows_failed, rows_in);
    let held_text = held.then(|| held_detail(rules, rows_failed, rows_in));

    // Pass 2: every row to exactly one of the two files.
    let mut out = Router {
        curated: ArrowWriter::try_new(&mut curated, curated_schema(), Some(writer_properties()))
            .map_err(parquet_error)?,
        quarantine: ArrowWriter::try_new(&mut quarantine, quarantine_schema(), Some(writer_properties()))
            .map_err(parquet_error)?,
        kpis: KpiAccumulator::default(),
        rows_curated: 0,
        rows_quarantined: 0,
        reason_counts: BTreeMap::new(),
        liters_affected: 0,
        cost_affected: -0.0,
        failed_samples: Vec::new(),
        held_samples: Vec::new(),
    };
    let mut failures = failures.into_iter().peekable();
    let mut index = 0u64;
    for batch in staging_batches(staging)? {
        let batch = batch?;
        let cols = StagingColumns::new(&batch)?;
        let mut c = CuratedBatch::with_capacity(if held { 0 } else { cols.len() });
        let mut q = QuarantineBatch::default();
        for i in 0..cols.len() {
            let row = cols.row(i);
            match failures.next_if(|(at, _)| *at == index) {
                Some((_, verdict)) => {
                    let detail = verdict.details.join("; ");
                    out.quarantined(&mut q, &row, &verdict.reasons, &detail, false);
                }
                None => match &held_text {
                    Some(detail) => out.quarantined(&mut q, &row, &[ReasonCode::DayHeld], detail, true),
                    None => out.curated(&mut c, &row),
                },
            }
            index += 1;
        }
        c.write(&mut out.curated)?;
        q.write(&mut out.quarantine)?;
    }
    let summary = out.finish(day, rows_in, rows_failed, held)?;
    Ok(StreamedDay { summary, curated, quarantine })
}

/// Pass 2's state: the two encoders and the figures accumulated as rows are routed.
struct Router<C: Write + Send, Q: Write + Send> {
    curated: ArrowWriter<C>,
    quarantine: ArrowWriter<Q>,
    kpis: KpiAccumulator,
    rows_curated: u64,
    rows_quarantined: u64,
    reason_counts: BTreeMap<ReasonCode, u64>,
    liters_affected: i64,
    cost_affected: f64,
    failed_samples: Vec<QuarantineSample>,
    held_samples: Vec<QuarantineSample>,
}

impl<C: Write + Send, Q: Write + Send> Router<C, Q> {
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

    fn finish(self, day: NaiveDate, rows_in: u64, rows_failed: u64, held: bool) -> Result<DaySummary, StreamError> {
        self.curated.close().map_err(parquet_error)?;
        self.quarantine.close().map_err(parquet_error)?;
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
        Ok(summary)
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

    fn write<W: Write + Send>(mut self, writer: &mut ArrowWriter<W>) -> Result<(), StreamError> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.date.finish()),
            Arc::new(self.paint.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.unit_cost.finish()),
            Arc::new(self.cost.finish()),
            Arc::new(self.operator.finish()),
        ];
        write_batch(writer, curated_schema(), columns)
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
            paint_types: ["Esmalte", "Látex"]
                .map(|n| CatalogPaint { name: n.into(), price_per_liter: 2.0 })
                .to_vec(),
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
        let got = validate_staging(&file, day(), Some(&catalog()), rules, now(), Vec::new(), Vec::new()).unwrap();
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
    fn an_empty_day_gives_two_empty_files() {
        let s = assert_same_as_in_memory(&[], &RuleSet::default());
        assert_eq!((s.rows_in, s.rows_curated, s.rows_quarantined, s.held), (0, 0, 0, false));
    }

    #[test]
    fn a_file_that_is_not_staging_is_a_staging_error() {
        let e = validate_staging(b"nope", day(), None, &RuleSet::default(), now(), Vec::new(), Vec::new()).unwrap_err();
        assert!(matches!(e, StreamError::Staging { source: StagingError::Ipc { .. } }), "{e:?}");
    }

    #[test]
    fn same_staging_same_bytes() {
        let rows: Vec<StagingRow> = (0..2500).map(row).collect();
        let file = staging_file(&rows, 700);
        let run = || validate_staging(&file, day(), Some(&catalog()), &RuleSet::default(), now(), Vec::new(), Vec::new());
        let (a, b) = (run().unwrap(), run().unwrap());
        assert_eq!((a.curated, a.quarantine), (b.curated, b.quarantine));
    }
}
