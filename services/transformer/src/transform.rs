//! The streaming transform: raw CSV bytes → typed Arrow IPC file with the staging schema
//! ([`pinta_contracts::tables::staging::schema`]). Reads through `std::io::Read`, hashes the input as
//! it goes, and writes one Arrow batch per [`BATCH_ROWS`] rows; the file is never held whole.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::CompressionType;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::{ArrowError, SchemaRef};
use pinta_contracts::ReasonCode;
use pinta_contracts::tables::staging;
use sha2::{Digest, Sha256};

use crate::dialect::sniff_delimiter;
use crate::encoding::{TextEncoding, UTF8_BOM, trim_cell};
use crate::header::{ColumnLayout, ProductionField};
use crate::values::{DecimalStyle, parse_number, parse_quantity, parse_timestamp};

/// Rows per Arrow record batch.
pub const BATCH_ROWS: usize = 8192;

/// Bytes looked at to detect the encoding and the delimiter.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// What a transform read and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformStats {
    /// Staging rows written: one per non-blank data record.
    pub rows: u64,
    /// Rows with at least one code in `cell_errors`.
    pub rows_with_cell_errors: u64,
    /// Rows whose cost was computed as quantity × unit cost.
    pub rows_with_computed_cost: u64,
    /// Blank (empty or whitespace-only) lines skipped.
    pub blank_lines: u64,
    /// `UTF-8` or `windows-1252`.
    pub encoding: &'static str,
    /// `,` or `;`.
    pub delimiter: char,
    /// Lower-case hex SHA-256 of every input byte.
    pub sha256_of_input: String,
    /// Input size in bytes.
    pub input_bytes: u64,
}

/// Why a transform failed. Bad cells and bad lines are not errors (they are marked in the output);
/// these are failures to read the input or write the output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// Reading the input failed (the underlying reader's error is kept as the source).
    #[error("could not read the input")]
    Read {
        #[source]
        source: io::Error,
    },
    /// The CSV reader reported an error it could not recover from.
    #[error("the input is not readable as CSV (near line {line:?})")]
    Csv {
        line: Option<u64>,
        #[source]
        source: csv::Error,
    },
    /// Building or writing the Arrow IPC output failed.
    #[error("could not write the Arrow IPC output")]
    Write {
        #[source]
        source: ArrowError,
    },
}

impl TransformError {
    /// The I/O error from the input reader, if that is what failed.
    pub fn read_error(&self) -> Option<&io::Error> {
        match self {
            TransformError::Read { source } => Some(source),
            _ => None,
        }
    }
}

/// Parses a raw production CSV from `input` and writes the staging Arrow IPC file to `out`.
///
/// Bad cells are marked, never dropped: the typed column is null, the `_raw` column keeps the text
/// and `cell_errors` names the problem. Every non-blank data record yields exactly one row.
pub fn transform<R: Read, W: Write + Send>(input: R, out: W) -> Result<TransformStats, TransformError> {
    let mut hashing = HashingReader::new(input);
    let sample = read_sample(&mut hashing, SNIFF_BYTES).map_err(|source| TransformError::Read { source })?;
    let encoding = TextEncoding::detect(&sample);
    let skip = if sample.starts_with(UTF8_BOM) { UTF8_BOM.len() } else { 0 };
    let delimiter = sniff_delimiter(&sample[skip..]);
    let style = DecimalStyle::for_delimiter(delimiter);
    let mut head = io::Cursor::new(sample);
    head.set_position(skip as u64);

    // Only `\n` ends a record: a `\r` before it is trimmed away with the cell's whitespace, and line
    // numbers stay physical. The final line gets a `\n` if it lacks one, so every record is terminated.
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(Terminated::new(head.chain(hashing)));

    let schema = staging::schema();
    std::thread::scope(|scope| {
        let mut writer = Encoder::start(scope, out, schema.clone());
        let mut batch = BatchBuilder::new(schema.clone());
        let mut stats = TransformStats {
            rows: 0,
            rows_with_cell_errors: 0,
            rows_with_computed_cost: 0,
            blank_lines: 0,
            encoding: encoding.label(),
            delimiter: char::from(delimiter),
            sha256_of_input: String::new(),
            input_bytes: 0,
        };

        let mut layout: Option<ColumnLayout> = None;
        let mut record = csv::ByteRecord::new();
        let mut last_error_line: Option<u64> = None;
        loop {
            // The csv reader's own record position is where the read began, before any empty lines it
            // skipped; the record's first line is found from the lines the read consumed instead.
            let before = csv.position().line();
            match csv.read_byte_record(&mut record) {
                Ok(false) => {
                    // Empty lines at the very end of the file.
                    stats.blank_lines += csv.position().line().saturating_sub(before);
                    break;
                }
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map(|p| p.line());
                    if e.is_io_error() {
                        return Err(match e.into_kind() {
                            csv::ErrorKind::Io(source) => TransformError::Read { source },
                            // Not reached: `is_io_error()` means the kind is `Io`.
                            other => TransformError::Csv {
                                line,
                                source: csv::Error::from(io::Error::other(format!("{other:?}"))),
                            },
                        });
                    }
                    // A CSV-level error on one record: mark it, unless the reader is stuck on it.
                    match line {
                        Some(l) if last_error_line != Some(l) && layout.is_some() => {
                            last_error_line = Some(l);
                            stats.rows += 1;
                            stats.rows_with_cell_errors += 1;
                            batch.push_unreadable(l);
                            flush_if_full(&mut batch, &mut writer)?;
                            continue;
                        }
                        _ => return Err(TransformError::Csv { line, source: e }),
                    }
                }
            }
            let consumed = csv.position().line().saturating_sub(before);
            let embedded = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
            let skipped = consumed.saturating_sub(embedded + 1);
            stats.blank_lines += skipped;
            let line = before + skipped;

            if record.len() <= 1 && record.get(0).is_none_or(|f| trim_cell(&encoding.decode(f)).is_empty()) {
                stats.blank_lines += 1;
                continue;
            }
            let columns = match &layout {
                Some(l) => l,
                None => {
                    let cells: Vec<String> = record.iter().map(|f| trim_cell(&encoding.decode(f)).to_owned()).collect();
                    let header = ColumnLayout::from_header(&cells);
                    if header.recognised() >= 3 {
                        layout = Some(header);
                        continue;
                    }
                    layout.insert(ColumnLayout::canonical())
                }
            };
            // A UTF-8 file's record is checked as UTF-8 once, not cell by cell; a record that is not
            // (a mis-encoded cell) is decoded cell by cell with the Windows-1252 fallback.
            let fields = std::mem::take(&mut record);
            let checked = match encoding {
                TextEncoding::Utf8 => csv::StringRecord::from_byte_record(fields).map_err(|e| e.into_byte_record()),
                TextEncoding::Windows1252 => Err(fields),
            };
            record = match checked {
                Ok(text) => {
                    let cells = |i: Option<usize>| text.get(i?).map(|c| Cow::Borrowed(trim_cell(c)));
                    accept(Row::parse(columns, text.len(), cells, line, style), &mut stats, &mut batch);
                    text.into_byte_record()
                }
                Err(bytes) => {
                    let cells = |i: Option<usize>| cell(&bytes, i, encoding);
                    accept(Row::parse(columns, bytes.len(), cells, line, style), &mut stats, &mut batch);
                    bytes
                }
            };
            flush_if_full(&mut batch, &mut writer)?;
        }
        if batch.len() > 0 {
            writer.send(batch.finish()?);
        }
        writer.finish()?;

        // Hash whatever the CSV reader did not need (nothing, normally) so the checksum covers every byte.
        let (_, mut hashing) = csv.into_inner().inner.into_inner();
        io::copy(&mut hashing, &mut io::sink()).map_err(|source| TransformError::Read { source })?;
        stats.input_bytes = hashing.bytes;
        stats.sha256_of_input = hex::encode(hashing.hasher.finalize());
        Ok(stats)
    })
}

/// Counts a parsed row and appends it to the batch.
fn accept(row: Row<'_>, stats: &mut TransformStats, batch: &mut BatchBuilder) {
    stats.rows += 1;
    if !row.errors.is_empty() {
        stats.rows_with_cell_errors += 1;
    }
    if row.cost_computed {
        stats.rows_with_computed_cost += 1;
    }
    batch.push(&row);
}

fn flush_if_full(batch: &mut BatchBuilder, writer: &mut Encoder<'_>) -> Result<(), TransformError> {
    if batch.len() >= BATCH_ROWS {
        writer.send(batch.finish()?);
    }
    Ok(())
}

/// The staging file's encoder (Arrow IPC, LZ4-frame compressed buffers) on a second thread, so
/// compressing and writing a batch overlaps parsing the next one. At most two batches wait for it.
struct Encoder<'s> {
    batches: Option<SyncSender<RecordBatch>>,
    thread: ScopedJoinHandle<'s, Result<(), TransformError>>,
}

impl<'s> Encoder<'s> {
    fn start<W: Write + Send + 's>(scope: &'s Scope<'s, '_>, out: W, schema: SchemaRef) -> Self {
        let (tx, rx) = sync_channel::<RecordBatch>(2);
        let thread = scope.spawn(move || {
            let write = |source| TransformError::Write { source };
            let options =
                IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME)).map_err(write)?;
            let mut writer = FileWriter::try_new_with_options(out, &schema, options).map_err(write)?;
            for batch in rx {
                writer.write(&batch).map_err(write)?;
            }
            writer.finish().map_err(write)
        });
        Encoder { batches: Some(tx), thread }
    }

    /// Queues a batch. If the encoder has stopped on an error, the batch is dropped and the error is
    /// what [`Encoder::finish`] returns.
    fn send(&mut self, batch: RecordBatch) {
        if let Some(tx) = &self.batches
            && tx.send(batch).is_err()
        {
            self.batches = None;
        }
    }

    /// Waits for every queued batch to be written and the file to be finished.
    fn finish(mut self) -> Result<(), TransformError> {
        drop(self.batches.take());
        self.thread.join().unwrap_or_else(|_| {
            Err(TransformError::Write {
                source: ArrowError::ComputeError("the staging encoder thread panicked".into()),
            })
        })
    }
}

/// Reads up to `limit` bytes (fewer only at end of input).
fn read_sample<R: Read>(input: &mut R, limit: usize) -> io::Result<Vec<u8>> {
    let mut sample = Vec::with_capacity(limit.min(8192));
    input.take(limit as u64).read_to_end(&mut sample)?;
    Ok(sample)
}

/// Adds a final `\n` to input that does not end with one.
struct Terminated<R> {
    inner: R,
    last: Option<u8>,
    done: bool,
}

impl<R> Terminated<R> {
    fn new(inner: R) -> Self {
        Terminated { inner, last: None, done: false }
    }
}

impl<R: Read> Read for Terminated<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = buf.get(n - 1).copied();
            return Ok(n);
        }
        self.done = true;
        match (self.last, buf.first_mut()) {
            (Some(last), Some(first)) if last != b'\n' => {
                *first = b'\n';
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Counts and hashes the bytes read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), bytes: 0 }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        self.hasher.update(read);
        self.bytes += read.len() as u64;
        Ok(n)
    }
}

/// One parsed data record; the text cells borrow from the CSV record unless they had to be re-encoded.
#[derive(Debug)]
struct Row<'a> {
    line: u64,
    date: Option<i64>,
    date_raw: Option<Cow<'a, str>>,
    paint_raw: Option<Cow<'a, str>>,
    quantity: Option<i64>,
    quantity_raw: Option<Cow<'a, str>>,
    unit_cost: Option<f64>,
    unit_cost_raw: Option<Cow<'a, str>>,
    cost: Option<f64>,
    cost_raw: Option<Cow<'a, str>>,
    operator_raw: Option<Cow<'a, str>>,
    cost_computed: bool,
    /// Sorted in [`ReasonCode`] declaration order.
    errors: Vec<ReasonCode>,
}

/// A cell's text, trimmed (see [`trim_cell`]), borrowed from the record when it is valid UTF-8.
fn cell<'a>(record: &'a csv::ByteRecord, index: Option<usize>, encoding: TextEncoding) -> Option<Cow<'a, str>> {
    let bytes = record.get(index?)?;
    Some(match encoding.decode(bytes) {
        Cow::Borrowed(text) => Cow::Borrowed(trim_cell(text)),
        Cow::Owned(text) => Cow::Owned(trim_cell(&text).to_owned()),
    })
}

impl<'a> Row<'a> {
    /// `cells(i)` is the trimmed text of cell `i`; the record has `width` cells.
    fn parse(
        layout: &ColumnLayout,
        width: usize,
        cells: impl Fn(Option<usize>) -> Option<Cow<'a, str>>,
        line: u64,
        style: DecimalStyle,
    ) -> Row<'a> {
        let raw = |f: ProductionField| cells(layout.position(f));
        let mut errors = Vec::new();
        if width != layout.width {
            errors.push(ReasonCode::MalformedLine);
        }
        let date_raw = raw(ProductionField::Date);
        let quantity_raw = raw(ProductionField::Quantity);
        let unit_cost_raw = raw(ProductionField::UnitCost);
        let cost_raw = raw(ProductionField::Cost);

        let date = typed(&date_raw, ReasonCode::UnparseableDate, &mut errors, |s| {
            parse_timestamp(s).map(|t| t.and_utc().timestamp_micros())
        });
        let quantity = typed(&quantity_raw, ReasonCode::UnparseableQuantity, &mut errors, |s| parse_quantity(s, style));
        let unit_cost = typed(&unit_cost_raw, ReasonCode::UnparseableUnitCost, &mut errors, |s| parse_number(s, style));
        let mut cost = typed(&cost_raw, ReasonCode::UnparseableCost, &mut errors, |s| parse_number(s, style));
        let mut cost_computed = false;
        if cost_raw.as_deref().is_none_or(str::is_empty)
            && let (Some(q), Some(u)) = (quantity, unit_cost)
        {
            cost = Some(q as f64 * u);
            cost_computed = true;
        }
        errors.sort();
        errors.dedup();
        Row {
            line,
            date,
            date_raw,
            paint_raw: raw(ProductionField::PaintType),
            quantity,
            quantity_raw,
            unit_cost,
            unit_cost_raw,
            cost,
            cost_raw,
            operator_raw: raw(ProductionField::Operator),
            cost_computed,
            errors,
        }
    }

    /// A record the CSV reader could not split into cells: every cell unknown, `MALFORMED_LINE`.
    fn unreadable(line: u64) -> Row<'static> {
        Row {
            line,
            date: None,
            date_raw: None,
            paint_raw: None,
            quantity: None,
            quantity_raw: None,
            unit_cost: None,
            unit_cost_raw: None,
            cost: None,
            cost_raw: None,
            operator_raw: None,
            cost_computed: false,
            errors: vec![ReasonCode::MalformedLine],
        }
    }
}

/// Parses a present, non-empty cell; records `code` when it cannot be parsed.
fn typed<T>(
    raw: &Option<Cow<'_, str>>,
    code: ReasonCode,
    errors: &mut Vec<ReasonCode>,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    match raw.as_deref() {
        None | Some("") => None,
        Some(text) => {
            let value = parse(text);
            if value.is_none() {
                errors.push(code);
            }
            value
        }
    }
}

/// Accumulates rows into one Arrow record batch.
struct BatchBuilder {
    schema: SchemaRef,
    rows: usize,
    line: UInt64Builder,
    date: TimestampMicrosecondBuilder,
    date_raw: StringBuilder,
    paint: StringBuilder,
    paint_raw: StringBuilder,
    quantity: Int64Builder,
    quantity_raw: StringBuilder,
    unit_cost: Float64Builder,
    unit_cost_raw: StringBuilder,
    cost: Float64Builder,
    cost_raw: StringBuilder,
    operator: StringBuilder,
    operator_raw: StringBuilder,
    cost_computed: BooleanBuilder,
    cell_errors: StringBuilder,
}

impl BatchBuilder {
    fn new(schema: SchemaRef) -> Self {
        BatchBuilder {
            schema,
            rows: 0,
            line: UInt64Builder::new(),
            date: TimestampMicrosecondBuilder::new(),
            date_raw: StringBuilder::new(),
            paint: StringBuilder::new(),
            paint_raw: StringBuilder::new(),
            quantity: Int64Builder::new(),
            quantity_raw: StringBuilder::new(),
            unit_cost: Float64Builder::new(),
            unit_cost_raw: StringBuilder::new(),
            cost: Float64Builder::new(),
            cost_raw: StringBuilder::new(),
            operator: StringBuilder::new(),
            operator_raw: StringBuilder::new(),
            cost_computed: BooleanBuilder::new(),
            cell_errors: StringBuilder::new(),
        }
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn push(&mut self, row: &Row<'_>) {
        // The typed text of a string column is its trimmed text, null when empty.
        fn text<'s>(c: &'s Option<Cow<'_, str>>) -> Option<&'s str> {
            c.as_deref().filter(|s| !s.is_empty())
        }
        self.rows += 1;
        self.line.append_value(row.line);
        self.date.append_option(row.date);
        self.date_raw.append_option(row.date_raw.as_deref());
        self.paint.append_option(text(&row.paint_raw));
        self.paint_raw.append_option(row.paint_raw.as_deref());
        self.quantity.append_option(row.quantity);
        self.quantity_raw.append_option(row.quantity_raw.as_deref());
        self.unit_cost.append_option(row.unit_cost);
        self.unit_cost_raw.append_option(row.unit_cost_raw.as_deref());
        self.cost.append_option(row.cost);
        self.cost_raw.append_option(row.cost_raw.as_deref());
        self.operator.append_option(text(&row.operator_raw));
        self.operator_raw.append_option(row.operator_raw.as_deref());
        self.cost_computed.append_value(row.cost_computed);
        match row.errors.as_slice() {
            [] => self.cell_errors.append_value(""),
            [one] => self.cell_errors.append_value(one.as_str()),
            many => {
                let codes: Vec<&str> = many.iter().map(|c| c.as_str()).collect();
                self.cell_errors.append_value(codes.join(","));
            }
        }
    }

    /// A record the CSV reader could not split into cells: every cell unknown, `MALFORMED_LINE`.
    fn push_unreadable(&mut self, line: u64) {
        self.push(&Row::unreadable(line));
    }

    /// Takes the accumulated rows as a record batch and starts a new one.
    fn finish(&mut self) -> Result<RecordBatch, TransformError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.line.finish()),
            Arc::new(self.date.finish()),
            Arc::new(self.date_raw.finish()),
            Arc::new(self.paint.finish()),
            Arc::new(self.paint_raw.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.quantity_raw.finish()),
            Arc::new(self.unit_cost.finish()),
            Arc::new(self.unit_cost_raw.finish()),
            Arc::new(self.cost.finish()),
            Arc::new(self.cost_raw.finish()),
            Arc::new(self.operator.finish()),
            Arc::new(self.operator_raw.finish()),
            Arc::new(self.cost_computed.finish()),
            Arc::new(self.cell_errors.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|source| TransformError::Write { source })
    }
}
