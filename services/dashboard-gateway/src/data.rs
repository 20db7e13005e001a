//! Reading the curated and quarantine Parquet of a day through the object-store port, with filters,
//! aggregates for the charts, CSV export, and a small cache of recent days.
//!
//! Why `parquet` (arrow-rs) and not polars: polars takes tens of minutes to compile on the project's
//! 2-core machines and CI, while arrow-rs is already compiled for the validator. The reader still
//! pushes work down: a [`ProjectionMask`] decodes only the columns a query needs (the options query
//! reads two columns), and a [`RowFilter`] of [`ArrowPredicateFn`]s evaluates the operator, paint type
//! and minimum quantity filters while decoding, so rows that fail them are never materialised.
//!
//! The cache holds the Parquet bytes of recent days (LRU by last use), so repeated queries with
//! different filters do not go back to the bucket; a `production.published.v1` for a day evicts it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use bytes::Bytes;
use chrono::NaiveDate;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, ParquetRecordBatchReaderBuilder, RowFilter};
use pinta_contracts::layout;
use pinta_contracts::tables::{
    COL_COST, COL_DATE, COL_DETAIL, COL_LINE, COL_OPERATOR, COL_PAINT, COL_QUANTITY, COL_REASONS, COL_UNIT_COST,
};
use pinta_platform::ports::{ObjectStore, ObjectStoreExt, StoreError};
use serde::Serialize;

/// What can go wrong answering a data query.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The request itself is wrong (bad date, unknown filter): a 400, not retryable.
    #[error("{0}")]
    BadRequest(String),
    /// No data for that day: a 404, not retryable.
    #[error("no data for {0}")]
    NotFound(NaiveDate),
    /// The bucket could not be read: retryable.
    #[error("object store unavailable: {0}")]
    Store(#[source] StoreError),
    /// A file in the bucket does not follow the contracted schema: not retryable.
    #[error("unreadable Parquet {key}: {message}")]
    Corrupt { key: String, message: String },
}

impl DataError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, DataError::Store(e) if e.is_retryable())
    }
}

/// Parses a `YYYY-MM-DD` path segment; anything else (including `../` tricks) is a 400.
pub fn parse_date(text: &str) -> Result<NaiveDate, DataError> {
    let ok_shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    match (ok_shape, layout::parse_day(text)) {
        (true, Some(d)) => Ok(d),
        _ => Err(DataError::BadRequest(format!(
            "invalid date {text:?}: expected YYYY-MM-DD"
        ))),
    }
}

/// Row filters of the production queries (`operator`, `paint` may repeat; `min_qty` once).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub operators: BTreeSet<String>,
    pub paints: BTreeSet<String>,
    pub min_qty: Option<i64>,
}

impl Filters {
    /// From query pairs; unknown keys and bad numbers are 400s.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Filters, DataError> {
        let mut f = Filters::default();
        for (k, v) in pairs {
            match k.as_str() {
                "operator" if !v.is_empty() => {
                    f.operators.insert(v.clone());
                }
                "paint" if !v.is_empty() => {
                    f.paints.insert(v.clone());
                }
                "operator" | "paint" => {}
                "min_qty" if v.is_empty() => {}
                "min_qty" => match v.parse::<i64>() {
                    Ok(n) if n >= 0 => f.min_qty = Some(n),
                    _ => {
                        return Err(DataError::BadRequest(format!(
                            "min_qty must be a whole number ≥ 0, got {v:?}"
                        )));
                    }
                },
                other => {
                    return Err(DataError::BadRequest(format!(
                        "unknown filter {other:?}: the filters are operator, paint and min_qty"
                    )));
                }
            }
        }
        Ok(f)
    }

    fn is_empty(&self) -> bool {
        self.operators.is_empty() && self.paints.is_empty() && self.min_qty.is_none()
    }
}

/// One curated row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `YYYY-MM-DDTHH:MM:SS` (plant local time, as stored).
    pub fecha: Option<String>,
    pub tipo_pintura: Option<String>,
    pub cantidad: Option<i64>,
    pub costo_litro: Option<f64>,
    pub costo: Option<f64>,
    pub operador: Option<String>,
}

/// Litres and cost of one operator or paint type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    pub liters: i64,
    pub cost: f64,
    pub rows: u64,
}

/// KPI cards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    pub date: NaiveDate,
    pub operators: usize,
    pub paint_types: usize,
    pub liters: i64,
    pub total_cost: f64,
    pub rows: usize,
}

/// What the filter controls can offer for a day (from the whole day, not the filtered rows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    pub operators: Vec<String>,
    pub paints: Vec<String>,
    pub max_quantity: i64,
}

/// A day's filtered rows and the aggregates the charts draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayView {
    pub production_date: NaiveDate,
    pub kpis: Kpis,
    pub by_operator: Vec<Group>,
    pub by_paint: Vec<Group>,
    pub options: Options,
    pub rows: Vec<Row>,
}

/// One quarantined row: the original cell text, the raw line and the reasons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantinedRow {
    pub line: i64,
    pub reasons: Vec<String>,
    pub detail: String,
    pub values: BTreeMap<String, Option<String>>,
}

/// The reader with its cache.
#[derive(Debug)]
pub struct DayReader {
    cache: Mutex<Lru>,
    pub(crate) hits: std::sync::atomic::AtomicU64,
    pub(crate) misses: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Lru {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (u64, Bytes)>,
}

impl Lru {
    fn get(&mut self, key: &str) -> Option<Bytes> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(key).map(|(t, b)| {
            *t = tick;
            b.clone()
        })
    }
    fn put(&mut self, key: String, bytes: Bytes) {
        self.tick += 1;
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            if let Some(oldest) = self.entries.iter().min_by_key(|(_, (t, _))| *t).map(|(k, _)| k.clone()) {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (self.tick, bytes));
    }
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> DataError {
    DataError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str, key: &str) -> Result<&'a T, DataError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| corrupt(key, format!("column {name:?} missing or of the wrong type")))
}

fn str_at(a: &StringArray, i: usize) -> Option<String> {
    if a.is_null(i) {
        None
    } else {
        Some(a.value(i).to_owned())
    }
}

impl DayReader {
    /// A reader caching up to `capacity` files.
    pub fn new(capacity: usize) -> DayReader {
        DayReader {
            cache: Mutex::new(Lru {
                capacity: capacity.max(1),
                ..Lru::default()
            }),
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    /// Forgets the cached files of `day` (a new version was published).
    pub fn invalidate(&self, day: NaiveDate) {
        if let Ok(mut c) = self.cache.lock() {
            c.entries.remove(&layout::curated_key(day));
            c.entries.remove(&layout::quarantine_key(day));
        }
    }

    async fn bytes(&self, store: &dyn ObjectStore, key: &str) -> Result<Option<Bytes>, DataError> {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(b) = self.cache.lock().ok().and_then(|mut c| c.get(key)) {
            self.hits.fetch_add(1, Relaxed);
            return Ok(Some(b));
        }
        self.misses.fetch_add(1, Relaxed);
        match store.get_bytes(key).await {
            Ok(b) => {
                if let Ok(mut c) = self.cache.lock() {
                    c.put(key.to_owned(), b.clone());
                }
                Ok(Some(b))
            }
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(DataError::Store(e)),
        }
    }

    /// Days with curated data, ascending.
    pub async fn days(&self, store: &dyn ObjectStore) -> Result<Vec<NaiveDate>, DataError> {
        let mut days: Vec<NaiveDate> = store
            .list(layout::CURATED_PREFIX)
            .await
            .map_err(DataError::Store)?
            .iter()
            .filter_map(|m| layout::day_of_curated_key(&m.key))
            .collect();
        days.sort();
        days.dedup();
        Ok(days)
    }

    /// The day's rows that pass `filters`, with aggregates.
    pub async fn day(&self, store: &dyn ObjectStore, day: NaiveDate, filters: &Filters) -> Result<DayView, DataError> {
        let key = layout::curated_key(day);
        let bytes = self.bytes(store, &key).await?.ok_or(DataError::NotFound(day))?;
        let options = options(&key, bytes.clone())?;
        let rows = read_rows(&key, bytes, filters)?;
        Ok(view(day, rows, options))
    }

    /// The quarantined rows of a day (empty when the day had none).
    pub async fn quarantine(&self, store: &dyn ObjectStore, day: NaiveDate) -> Result<Vec<QuarantinedRow>, DataError> {
        let key = layout::quarantine_key(day);
        let Some(bytes) = self.bytes(store, &key).await? else {
            if self.bytes(store, &layout::curated_key(day)).await?.is_some() {
                return Ok(Vec::new());
            }
            return Err(DataError::NotFound(day));
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(|e| corrupt(&key, e))?;
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(&key, e))?;
            let lines = column::<Int64Array>(&batch, COL_LINE, &key)?;
            let reasons = column::<StringArray>(&batch, COL_REASONS, &key)?;
            let detail = column::<StringArray>(&batch, COL_DETAIL, &key)?;
            let mut cols = Vec::new();
            for name in pinta_contracts::tables::CURATED_COLUMNS {
                cols.push((name, column::<StringArray>(&batch, name, &key)?));
            }
            for i in 0..batch.num_rows() {
                out.push(QuarantinedRow {
                    line: lines.value(i),
                    reasons: reasons
                        .value(i)
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    detail: detail.value(i).to_owned(),
                    values: cols.iter().map(|(n, a)| ((*n).to_owned(), str_at(a, i))).collect(),
                });
            }
        }
        Ok(out)
    }
}

/// Distinct operators and paint types of the whole day: a two-column projection.
fn options(key: &str, bytes: Bytes) -> Result<Options, DataError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(key, e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [COL_OPERATOR, COL_PAINT, COL_QUANTITY]);
    let reader = builder.with_projection(mask).build().map_err(|e| corrupt(key, e))?;
    let (mut ops, mut paints, mut max_q) = (BTreeSet::new(), BTreeSet::new(), 0i64);
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(key, e))?;
        let o = column::<StringArray>(&batch, COL_OPERATOR, key)?;
        let p = column::<StringArray>(&batch, COL_PAINT, key)?;
        let q = column::<Int64Array>(&batch, COL_QUANTITY, key)?;
        for i in 0..batch.num_rows() {
            ops.extend(str_at(o, i));
            paints.extend(str_at(p, i));
            if q.is_valid(i) {
                max_q = max_q.max(q.value(i));
            }
        }
    }
    Ok(Options {
        operators: ops.into_iter().collect(),
        paints: paints.into_iter().collect(),
        max_quantity: max_q,
    })
}

fn membership(a: &ArrayRef, wanted: &BTreeSet<String>) -> BooleanArray {
    match a.as_any().downcast_ref::<StringArray>() {
        Some(s) => s.iter().map(|v| Some(v.is_some_and(|v| wanted.contains(v)))).collect(),
        None => BooleanArray::from(vec![false; a.len()]),
    }
}

/// Decodes the six contracted columns, with the filters evaluated during decoding.
fn read_rows(key: &str, bytes: Bytes, filters: &Filters) -> Result<Vec<Row>, DataError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(key, e))?;
    let schema = builder.parquet_schema();
    let projection = ProjectionMask::columns(schema, pinta_contracts::tables::CURATED_COLUMNS);
    let mut predicates: Vec<Box<dyn parquet::arrow::arrow_reader::ArrowPredicate>> = Vec::new();
    if !filters.operators.is_empty() {
        let wanted = filters.operators.clone();
        predicates.push(Box::new(ArrowPredicateFn::new(
            ProjectionMask::columns(schema, [COL_OPERATOR]),
            move |b| Ok(membership(b.column(0), &wanted)),
        )));
    }
    if !filters.paints.is_empty() {
        let wanted = filters.paints.clone();
        predicates.push(Box::new(ArrowPredicateFn::new(
            ProjectionMask::columns(schema, [COL_PAINT]),
            move |b| Ok(membership(b.column(0), &wanted)),
        )));
    }
    if let Some(min) = filters.min_qty {
        predicates.push(Box::new(ArrowPredicateFn::new(
            ProjectionMask::columns(schema, [COL_QUANTITY]),
            move |b| {
                Ok(match b.column(0).as_any().downcast_ref::<Int64Array>() {
                    Some(q) => q.iter().map(|v| Some(v.is_some_and(|v| v >= min))).collect(),
                    None => BooleanArray::from(vec![false; b.num_rows()]),
                })
            },
        )));
    }
    let mut builder = builder.with_projection(projection);
    if !filters.is_empty() {
        builder = builder.with_row_filter(RowFilter::new(predicates));
    }
    let reader = builder.build().map_err(|e| corrupt(key, e))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(key, e))?;
        let date = column::<TimestampMicrosecondArray>(&batch, COL_DATE, key)?;
        let paint = column::<StringArray>(&batch, COL_PAINT, key)?;
        let qty = column::<Int64Array>(&batch, COL_QUANTITY, key)?;
        let unit = column::<Float64Array>(&batch, COL_UNIT_COST, key)?;
        let cost = column::<Float64Array>(&batch, COL_COST, key)?;
        let op = column::<StringArray>(&batch, COL_OPERATOR, key)?;
        for i in 0..batch.num_rows() {
            rows.push(Row {
                fecha: date
                    .value_as_datetime(i)
                    .filter(|_| date.is_valid(i))
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
                tipo_pintura: str_at(paint, i),
                cantidad: qty.is_valid(i).then(|| qty.value(i)),
                costo_litro: unit.is_valid(i).then(|| unit.value(i)),
                costo: cost.is_valid(i).then(|| cost.value(i)),
                operador: str_at(op, i),
            });
        }
    }
    Ok(rows)
}

fn groups(rows: &[Row], name: impl Fn(&Row) -> Option<&String>) -> Vec<Group> {
    let mut m: BTreeMap<String, Group> = BTreeMap::new();
    for r in rows {
        let n = name(r).cloned().unwrap_or_default();
        let g = m.entry(n.clone()).or_insert(Group {
            name: n,
            liters: 0,
            cost: 0.0,
            rows: 0,
        });
        g.liters += r.cantidad.unwrap_or(0);
        g.cost += r.costo.unwrap_or(0.0);
        g.rows += 1;
    }
    let mut v: Vec<Group> = m.into_values().collect();
    v.sort_by(|a, b| b.liters.cmp(&a.liters).then_with(|| a.name.cmp(&b.name)));
    v
}

fn view(day: NaiveDate, rows: Vec<Row>, options: Options) -> DayView {
    let by_operator = groups(&rows, |r| r.operador.as_ref());
    let by_paint = groups(&rows, |r| r.tipo_pintura.as_ref());
    let kpis = Kpis {
        date: day,
        operators: by_operator.len(),
        paint_types: by_paint.len(),
        liters: rows.iter().filter_map(|r| r.cantidad).sum(),
        total_cost: rows.iter().filter_map(|r| r.costo).sum(),
        rows: rows.len(),
    };
    DayView {
        production_date: day,
        kpis,
        by_operator,
        by_paint,
        options,
        rows,
    }
}

/// The rows as CSV with the contracted column names (UTF-8, comma separated, header first).
pub fn to_csv(rows: &[Row]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(pinta_contracts::tables::CURATED_COLUMNS)?;
    for r in rows {
        let cells = [
            r.fecha.clone().map(|f| f.replace('T', " ")).unwrap_or_default(),
            r.tipo_pintura.clone().unwrap_or_default(),
            r.cantidad.map(|v| v.to_string()).unwrap_or_default(),
            r.costo_litro.map(|v| v.to_string()).unwrap_or_default(),
            r.costo.map(|v| v.to_string()).unwrap_or_default(),
            r.operador.clone().unwrap_or_default(),
        ];
        w.write_record(&cells)?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("2025-03-31").is_ok());
        for bad in [
            "2025-3-31",
            "../etc/pa",
            "2025-02-30",
            "2025-03-31/..",
            "x",
            "20250331",
            "2025-03-3a",
        ] {
            assert!(matches!(parse_date(bad), Err(DataError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn filters_reject_unknown_keys_and_bad_numbers() {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let f = Filters::from_pairs(&[
            p("operator", "Ana"),
            p("operator", "Luis"),
            p("paint", "Esmalte"),
            p("min_qty", "10"),
        ])
        .unwrap();
        assert_eq!(f.operators.len(), 2);
        assert_eq!(f.min_qty, Some(10));
        assert!(Filters::from_pairs(&[p("opertor", "Ana")]).is_err());
        assert!(Filters::from_pairs(&[p("min_qty", "-1")]).is_err());
        assert!(Filters::from_pairs(&[p("min_qty", "diez")]).is_err());
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut l = Lru {
            capacity: 2,
            ..Lru::default()
        };
        l.put("a".into(), Bytes::from_static(b"a"));
        l.put("b".into(), Bytes::from_static(b"b"));
        assert!(l.get("a").is_some());
        l.put("c".into(), Bytes::from_static(b"c"));
        assert!(l.get("b").is_none());
        assert!(l.get("a").is_some() && l.get("c").is_some());
    }
}
