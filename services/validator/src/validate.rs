//! The rules themselves: pure logic from staging rows to a [`Validation`] (per-row reasons, curated and
//! quarantined rows, KPIs, the held decision). No I/O, so the historical backfill can reuse it.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use pinta_contracts::ReasonCode;
use pinta_contracts::catalog::Catalog;
use pinta_contracts::events::{DayKpis, ObjectRef, ProductionPublishedV1, QuarantineSample, RowsQuarantinedV1};
use pinta_contracts::tables::{COL_COST, COL_DATE, COL_OPERATOR, COL_PAINT, COL_QUANTITY, COL_UNIT_COST};

use crate::rules::RuleSet;
use crate::staging::{RowView, StagingRow};

/// How many sample rows a `rows.quarantined.v1` event carries.
pub const MAX_SAMPLES: usize = 5;

/// A row that passed every rule, in the curated schema's terms.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CuratedRow {
    pub date: Option<NaiveDateTime>,
    pub paint_type: Option<String>,
    pub quantity: Option<i64>,
    pub unit_cost: Option<f64>,
    pub cost: Option<f64>,
    pub operator: Option<String>,
}

/// A row set aside: the original text of each curated column, where it came from and why.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuarantinedRow {
    pub line: u64,
    /// Original cell text, in `CURATED_COLUMNS` order.
    pub raw: [Option<String>; 6],
    /// Reasons in `ReasonCode::ALL` order, never empty.
    pub reasons: Vec<ReasonCode>,
    /// Short Spanish explanation, one clause per reason.
    pub detail: String,
    /// Typed quantity, when readable (for `liters_affected`).
    pub quantity: Option<i64>,
    /// Typed (or computed) cost, when readable (for `cost_affected`).
    pub cost: Option<f64>,
}

impl QuarantinedRow {
    /// `Motivos`: the comma-separated codes.
    pub fn reasons_text(&self) -> String {
        self.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }

    /// A sample for an event: the original values by curated column name.
    pub fn sample(&self) -> QuarantineSample {
        sample_of(self.line, &self.reasons, self.raw.each_ref().map(|c| c.as_deref()))
    }
}

/// A quarantined row as an event sample: the original values by curated column name.
pub(crate) fn sample_of(line: u64, reasons: &[ReasonCode], raw: [Option<&str>; 6]) -> QuarantineSample {
    let names = [COL_DATE, COL_PAINT, COL_QUANTITY, COL_UNIT_COST, COL_COST, COL_OPERATOR];
    let values = names.iter().zip(raw).filter_map(|(n, v)| v.map(|v| ((*n).to_owned(), v.to_owned()))).collect();
    QuarantineSample { line, reasons: reasons.to_vec(), values }
}

/// The verdict on one input row, before any hold.
#[derive(Debug, Clone, PartialEq)]
pub struct RowVerdict {
    pub line: u64,
    /// Reasons in `ReasonCode::ALL` order; empty = the row passed.
    pub reasons: Vec<ReasonCode>,
    /// One Spanish clause per reason, same order.
    pub details: Vec<String>,
}

impl RowVerdict {
    pub fn passed(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Everything the validator decided about a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub day: NaiveDate,
    pub rows_in: u64,
    /// One per input row, in input order (the rule verdicts; a hold is not a verdict).
    pub verdicts: Vec<RowVerdict>,
    /// Rows for `produccion/` (empty when held).
    pub curated: Vec<CuratedRow>,
    /// Rows for `cuarentena/` (every row when held; good ones carry only `DAY_HELD`).
    pub quarantined: Vec<QuarantinedRow>,
    /// Rows that failed at least one rule.
    pub rows_failed: u64,
    /// `rows_failed / rows_in` (0 for an empty day): what the threshold is compared with.
    pub failed_ratio: f64,
    /// The day exceeded the quarantine threshold.
    pub held: bool,
    /// KPIs of the curated rows.
    pub kpis: DayKpis,
    /// Quarantined rows per reason (a row with two reasons counts under both).
    pub reason_counts: BTreeMap<ReasonCode, u64>,
    /// Sum of readable quantities of quarantined rows.
    pub liters_affected: i64,
    /// Sum of readable costs of quarantined rows.
    pub cost_affected: f64,
}

impl Validation {
    /// Every input row is in exactly one output.
    pub fn is_conserved(&self) -> bool {
        self.curated.len() as u64 + self.quarantined.len() as u64 == self.rows_in
            && self.verdicts.len() as u64 == self.rows_in
    }

    /// `rows.quarantined.v1` ratio: rows in the quarantine file / rows in.
    pub fn quarantined_ratio(&self) -> f64 {
        ratio(self.quarantined.len() as u64, self.rows_in)
    }

    /// Up to [`MAX_SAMPLES`] quarantined rows, rows that failed a rule first.
    pub fn samples(&self) -> Vec<QuarantineSample> {
        let failed = self.quarantined.iter().filter(|q| q.reasons != [ReasonCode::DayHeld]);
        let held = self.quarantined.iter().filter(|q| q.reasons == [ReasonCode::DayHeld]);
        failed.chain(held).take(MAX_SAMPLES).map(QuarantinedRow::sample).collect()
    }

    /// The figures the events and the day record carry.
    pub fn summary(&self) -> DaySummary {
        DaySummary {
            day: self.day,
            rows_in: self.rows_in,
            rows_curated: self.curated.len() as u64,
            rows_quarantined: self.quarantined.len() as u64,
            rows_failed: self.rows_failed,
            failed_ratio: self.failed_ratio,
            held: self.held,
            kpis: self.kpis.clone(),
            reason_counts: self.reason_counts.clone(),
            liters_affected: self.liters_affected,
            cost_affected: self.cost_affected,
            samples: self.samples(),
        }
    }

    /// The `rows.quarantined.v1` payload of this verdict (see [`DaySummary::quarantined_event`]).
    pub fn quarantined_event(
        &self,
        day: NaiveDate,
        quarantine: ObjectRef,
        raw: ObjectRef,
        revision: u32,
        backfill: bool,
    ) -> RowsQuarantinedV1 {
        self.summary().quarantined_event(day, quarantine, raw, revision, backfill)
    }

    /// The `production.published.v1` payload of this verdict (see [`DaySummary::published_event`]).
    pub fn published_event(
        &self,
        day: NaiveDate,
        curated: ObjectRef,
        quarantine: Option<ObjectRef>,
        raw: ObjectRef,
        revision: u32,
        backfill: bool,
    ) -> ProductionPublishedV1 {
        self.summary().published_event(day, curated, quarantine, raw, revision, backfill)
    }
}

/// What was decided about a day, without the rows: counts, the hold, KPIs, the quarantine's impact
/// and a few sample rows. Both the in-memory [`validate()`] and the streaming
/// [`validate_staging`](crate::stream::validate_staging) give one.
#[derive(Debug, Clone, PartialEq)]
pub struct DaySummary {
    pub day: NaiveDate,
    pub rows_in: u64,
    /// Rows in the curated file (0 when held).
    pub rows_curated: u64,
    /// Rows in the quarantine file.
    pub rows_quarantined: u64,
    /// Rows that failed at least one rule.
    pub rows_failed: u64,
    /// `rows_failed / rows_in` (0 for an empty day).
    pub failed_ratio: f64,
    pub held: bool,
    /// KPIs of the curated rows.
    pub kpis: DayKpis,
    /// Quarantined rows per reason (a row with two reasons counts under both).
    pub reason_counts: BTreeMap<ReasonCode, u64>,
    /// Sum of readable quantities of quarantined rows.
    pub liters_affected: i64,
    /// Sum of readable (finite) costs of quarantined rows.
    pub cost_affected: f64,
    /// Up to [`MAX_SAMPLES`] quarantined rows, rows that failed a rule first.
    pub samples: Vec<QuarantineSample>,
}

impl DaySummary {
    /// Every input row is in exactly one output.
    pub fn is_conserved(&self) -> bool {
        self.rows_curated + self.rows_quarantined == self.rows_in
    }

    /// `rows.quarantined.v1` ratio: rows in the quarantine file / rows in.
    pub fn quarantined_ratio(&self) -> f64 {
        ratio(self.rows_quarantined, self.rows_in)
    }

    /// The `rows.quarantined.v1` payload of this verdict, for the written quarantine file.
    pub fn quarantined_event(
        &self,
        day: NaiveDate,
        quarantine: ObjectRef,
        raw: ObjectRef,
        revision: u32,
        backfill: bool,
    ) -> RowsQuarantinedV1 {
        RowsQuarantinedV1 {
            production_date: day,
            quarantine,
            raw,
            rows_in: self.rows_in,
            rows_quarantined: self.rows_quarantined,
            ratio: self.quarantined_ratio(),
            held: self.held,
            reasons: self.reason_counts.clone(),
            liters_affected: self.liters_affected,
            cost_affected: self.cost_affected,
            samples: self.samples.clone(),
            revision,
            backfill,
        }
    }

    /// The `production.published.v1` payload of this verdict, for the written curated file.
    pub fn published_event(
        &self,
        day: NaiveDate,
        curated: ObjectRef,
        quarantine: Option<ObjectRef>,
        raw: ObjectRef,
        revision: u32,
        backfill: bool,
    ) -> ProductionPublishedV1 {
        ProductionPublishedV1 {
            production_date: day,
            curated,
            quarantine,
            raw,
            rows_in: self.rows_in,
            rows_curated: self.rows_curated,
            rows_quarantined: self.rows_quarantined,
            kpis: self.kpis.clone(),
            revision,
            backfill,
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Text that means "empty cell": absent, or only whitespace.
fn blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim().is_empty())
}

/// Quotes a raw value for a detail message, shortened.
fn shown(s: Option<&str>) -> String {
    let text = s.unwrap_or("").trim();
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

fn fmt_num(v: f64) -> String {
    // Shortest text that round-trips; integers without a trailing ".0".
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// The trimmed text value of a string column: the typed value, or the raw text when there is none.
fn text_value<'a>(typed: Option<&'a str>, raw: Option<&'a str>) -> Option<&'a str> {
    typed.or(raw).map(str::trim).filter(|s| !s.is_empty())
}

/// Rows already seen, by duplicate key: the typed values (floats by bit pattern, `-0.0` folded into
/// `0.0`), kept as a 96-bit XXH3 digest of the key (the chance of two different keys colliding in a
/// million-row day is about 10^-17) and the line that had it first: 16 bytes a row, not the row's
/// strings. A line past `u32::MAX` is remembered as `u32::MAX`.
#[derive(Default)]
pub(crate) struct DuplicateIndex {
    first_seen: HashMap<[u32; 3], u32, BuildHasherDefault<DigestHasher>>,
    key: Vec<u8>,
}

impl DuplicateIndex {
    /// The line of an earlier row with the same key, or `None` (and `row` is remembered).
    pub(crate) fn earlier(&mut self, row: &RowView<'_>) -> Option<u64> {
        fn opt<T: Copy>(key: &mut Vec<u8>, v: Option<T>, bytes: impl Fn(T) -> [u8; 8]) {
            match v {
                Some(v) => {
                    key.push(1);
                    key.extend_from_slice(&bytes(v));
                }
                None => key.push(0),
            }
        }
        fn text(key: &mut Vec<u8>, v: Option<&str>) {
            match v {
                Some(s) => {
                    key.push(1);
                    key.extend_from_slice(&(s.len() as u64).to_le_bytes());
                    key.extend_from_slice(s.as_bytes());
                }
                None => key.push(0),
            }
        }
        let float = |f: f64| if f == 0.0 { 0.0f64.to_bits() } else { f.to_bits() }.to_le_bytes();
        let k = &mut self.key;
        k.clear();
        opt(k, row.date.map(|d| d.and_utc().timestamp_micros()), i64::to_le_bytes);
        text(k, row.paint_type);
        opt(k, row.quantity, i64::to_le_bytes);
        opt(k, row.unit_cost, float);
        opt(k, row.cost, float);
        text(k, row.operator);
        let d = twox_hash::XxHash3_128::oneshot(k);
        let digest = [d as u32, (d >> 32) as u32, (d >> 64) as u32];
        match self.first_seen.entry(digest) {
            Entry::Occupied(first) => Some(u64::from(*first.get())),
            Entry::Vacant(slot) => {
                slot.insert(u32::try_from(row.line).unwrap_or(u32::MAX));
                None
            }
        }
    }
}

/// Hashes the map's keys, which are already uniformly distributed digests, by folding them.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }
}

struct Reasons {
    list: Vec<(ReasonCode, String)>,
}

impl Reasons {
    fn add(&mut self, rules: &RuleSet, code: ReasonCode, detail: impl FnOnce() -> String) {
        if rules.enabled(code) && !self.list.iter().any(|(c, _)| *c == code) {
            self.list.push((code, detail()));
        }
    }
}

/// The rules of one day, ready to judge rows: the rule set, the catalogue's names and the clock
/// reading, prepared once.
pub(crate) struct Judge<'c> {
    day: NaiveDate,
    rules: &'c RuleSet,
    /// The catalogue's names, trimmed and sorted (binary search: no hashing per row).
    operators: Option<Vec<&'c str>>,
    paint_types: Option<Vec<&'c str>>,
    future_limit: NaiveDateTime,
}

impl<'c> Judge<'c> {
    /// `now` is the clock reading `FUTURE_DATE` is judged against. Without a catalogue the `UNKNOWN_*`
    /// rules are skipped.
    pub(crate) fn new(day: NaiveDate, catalog: Option<&'c Catalog>, rules: &'c RuleSet, now: DateTime<Utc>) -> Self {
        if catalog.is_none() && (rules.rules.unknown_operator.enabled || rules.rules.unknown_paint_type.enabled) {
            tracing::warn!(%day, "no catalogue for this day: UNKNOWN_OPERATOR / UNKNOWN_PAINT_TYPE not checked");
        }
        Judge {
            day,
            rules,
            operators: catalog.map(|c| sorted(c.operators.iter().map(|o| o.name.trim()))),
            paint_types: catalog.map(|c| sorted(c.paint_types.iter().map(|p| p.name.trim()))),
            future_limit: now.naive_utc() + Duration::minutes(rules.future_tolerance_minutes),
        }
    }

    /// The verdict on one row: its own merits, then `DUPLICATE_ROW` against the rows `seen` before.
    pub(crate) fn verdict(&self, row: &RowView<'_>, seen: &mut DuplicateIndex) -> RowVerdict {
        let mut reasons = self.judge(row);
        if let Some(first) = seen.earlier(row) {
            reasons.add(self.rules, ReasonCode::DuplicateRow, || format!("Fila duplicada de la línea {first}"));
        }
        let mut list = reasons.list;
        list.sort_by_key(|(c, _)| *c);
        RowVerdict {
            line: row.line,
            reasons: list.iter().map(|(c, _)| *c).collect(),
            details: list.into_iter().map(|(_, d)| d).collect(),
        }
    }

    /// Judges one row on its own merits (everything except `DUPLICATE_ROW`).
    fn judge(&self, row: &RowView<'_>) -> Reasons {
        use ReasonCode::*;
        let rules = self.rules;
        let mut r = Reasons { list: Vec::new() };

        // Parse codes found by the transformer.
        for code in row.cell_errors.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match code.parse::<ReasonCode>() {
                Ok(DayHeld) => {}
                Ok(c) => {
                    let raw = match c {
                        UnparseableDate => Some(row.date_raw),
                        UnparseableQuantity => Some(row.quantity_raw),
                        UnparseableUnitCost => Some(row.unit_cost_raw),
                        UnparseableCost => Some(row.cost_raw),
                        _ => None,
                    };
                    r.add(rules, c, || detail_for(c, raw, row));
                }
                Err(e) => {
                    tracing::warn!(line = row.line, error = %e, "ignoring unknown code in staging cell_errors")
                }
            }
        }

        // Required fields: missing = no typed value and no text. A value with text but no typed value is
        // unparseable (normally already reported by the transformer; reported here if it was not).
        let required = [
            (row.date_raw, row.date.is_some(), MissingDate, UnparseableDate),
            (row.quantity_raw, row.quantity.is_some(), MissingQuantity, UnparseableQuantity),
            (row.unit_cost_raw, row.unit_cost.is_some(), MissingUnitCost, UnparseableUnitCost),
        ];
        for (raw, present, missing, unparseable) in required {
            if present {
                continue;
            }
            if blank(raw) {
                r.add(rules, missing, || detail_for(missing, Some(raw), row));
            } else {
                r.add(rules, unparseable, || detail_for(unparseable, Some(raw), row));
            }
        }
        let paint = text_value(row.paint_type, row.paint_type_raw);
        let operator = text_value(row.operator, row.operator_raw);
        if paint.is_none() {
            r.add(rules, MissingPaintType, || detail_for(MissingPaintType, None, row));
        }
        if operator.is_none() {
            r.add(rules, MissingOperator, || detail_for(MissingOperator, None, row));
        }
        if row.cost.is_none() && !row.cost_computed && !blank(row.cost_raw) {
            r.add(rules, UnparseableCost, || detail_for(UnparseableCost, Some(row.cost_raw), row));
        }

        if let Some(q) = row.quantity.filter(|q| *q < 0) {
            r.add(rules, NegativeQuantity, || format!("Cantidad negativa ({q})"));
        }
        if let Some(u) = row.unit_cost.filter(|u| *u < 0.0) {
            r.add(rules, NegativeUnitCost, || format!("Costo por litro negativo ({})", fmt_num(u)));
        }

        if let (Some(q), Some(u), Some(c), false) = (row.quantity, row.unit_cost, row.cost, row.cost_computed) {
            let expected = q as f64 * u;
            let tolerance = rules.cost_abs_tolerance.max(rules.cost_rel_tolerance * expected.abs());
            // NaN anywhere counts as a mismatch.
            let within = (c - expected).abs() <= tolerance;
            if !within {
                r.add(rules, CostMismatch, || {
                    format!("Costo no cuadra ({} ≠ {} × {} = {})", fmt_num(c), q, fmt_num(u), fmt_num(expected))
                });
            }
        }

        if let (Some(known), Some(op)) = (&self.operators, operator)
            && known.binary_search(&op).is_err()
        {
            r.add(rules, UnknownOperator, || format!("Operador desconocido ({})", shown(Some(op))));
        }
        if let (Some(known), Some(p)) = (&self.paint_types, paint)
            && known.binary_search(&p).is_err()
        {
            r.add(rules, UnknownPaintType, || format!("Tipo de pintura desconocido ({})", shown(Some(p))));
        }

        if let Some(date) = row.date {
            let shown_date = date.format("%Y-%m-%d %H:%M:%S");
            if rules.enabled(FutureDate) && date > self.future_limit {
                r.add(rules, FutureDate, || format!("Fecha en el futuro ({shown_date})"));
            } else if date.date() != self.day {
                let day = self.day;
                r.add(rules, DateOutsideDay, || format!("Fecha fuera del día {day} ({shown_date})"));
            }
        }
        r
    }
}

fn sorted<'c>(names: impl Iterator<Item = &'c str>) -> Vec<&'c str> {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn detail_for(code: ReasonCode, raw: Option<Option<&str>>, row: &RowView<'_>) -> String {
    use ReasonCode::*;
    let raw = raw.map(shown).unwrap_or_default();
    match code {
        MissingDate => "Falta la fecha de producción".to_owned(),
        MissingPaintType => "Falta el tipo de pintura".to_owned(),
        MissingQuantity => "Falta la cantidad".to_owned(),
        MissingUnitCost => "Falta el costo por litro".to_owned(),
        MissingOperator => "Falta el operador".to_owned(),
        UnparseableDate => format!("Fecha ilegible ({raw})"),
        UnparseableQuantity => format!("Cantidad no entera ({raw})"),
        UnparseableUnitCost => format!("Costo por litro no numérico ({raw})"),
        UnparseableCost => format!("Costo de la producción no numérico ({raw})"),
        MalformedLine => format!("Línea {} con un número de columnas distinto al encabezado", row.line),
        other => other.as_str().to_owned(),
    }
}

/// Whether a day with `rows_failed` of `rows_in` failing rows is held back whole.
pub(crate) fn is_held(rules: &RuleSet, rows_failed: u64, rows_in: u64) -> bool {
    rows_in >= rules.min_rows_for_threshold && ratio(rows_failed, rows_in) > rules.quarantine_threshold
}

/// The detail of a good row quarantined because its day was held.
pub(crate) fn held_detail(rules: &RuleSet, rows_failed: u64, rows_in: u64) -> String {
    format!(
        "Día retenido: {rows_failed} de {rows_in} filas con errores ({:.1} % > umbral {:.1} %)",
        ratio(rows_failed, rows_in) * 100.0,
        rules.quarantine_threshold * 100.0
    )
}

/// Applies `rules` to the rows of `day`, all in memory (quarantine release, tests; the validator
/// Lambda streams the staging file through [`crate::stream`] with the same [`Judge`]). `now` is the
/// clock reading `FUTURE_DATE` is judged against. Without a catalogue the `UNKNOWN_*` rules are skipped.
pub fn validate(
    rows: &[StagingRow],
    day: NaiveDate,
    catalog: Option<&Catalog>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Validation {
    let judge = Judge::new(day, catalog, rules, now);
    let mut seen = DuplicateIndex::default();
    let verdicts: Vec<RowVerdict> = rows.iter().map(|row| judge.verdict(&row.view(), &mut seen)).collect();

    let rows_in = rows.len() as u64;
    let rows_failed = verdicts.iter().filter(|v| !v.passed()).count() as u64;
    let failed_ratio = ratio(rows_failed, rows_in);
    let held = is_held(rules, rows_failed, rows_in);

    let mut curated = Vec::new();
    let mut quarantined = Vec::new();
    for (row, verdict) in rows.iter().zip(&verdicts) {
        if verdict.passed() && !held {
            curated.push(curated_row(row));
            continue;
        }
        let (reasons, detail) = if verdict.passed() {
            (vec![ReasonCode::DayHeld], held_detail(rules, rows_failed, rows_in))
        } else {
            (verdict.reasons.clone(), verdict.details.join("; "))
        };
        quarantined.push(quarantined_row(row, reasons, detail));
    }

    let mut reason_counts = BTreeMap::new();
    for q in &quarantined {
        for r in &q.reasons {
            *reason_counts.entry(*r).or_insert(0u64) += 1;
        }
    }
    let liters_affected = quarantined.iter().filter_map(|q| q.quantity).fold(0i64, i64::saturating_add);
    let cost_affected = quarantined.iter().filter_map(|q| q.cost).filter(|c| c.is_finite()).sum();
    let kpis = kpis_of(&curated);

    Validation {
        day,
        rows_in,
        verdicts,
        curated,
        quarantined,
        rows_failed,
        failed_ratio,
        held,
        kpis,
        reason_counts,
        liters_affected,
        cost_affected,
    }
}

/// The curated values of a row that passed: typed values, string values trimmed (the raw text when
/// the typed one is missing).
pub(crate) struct CuratedValues<'a> {
    pub date: Option<NaiveDateTime>,
    pub paint_type: Option<&'a str>,
    pub quantity: Option<i64>,
    pub unit_cost: Option<f64>,
    pub cost: Option<f64>,
    pub operator: Option<&'a str>,
}

impl<'a> CuratedValues<'a> {
    pub(crate) fn of(row: &RowView<'a>) -> Self {
        CuratedValues {
            date: row.date,
            paint_type: text_value(row.paint_type, row.paint_type_raw),
            quantity: row.quantity,
            unit_cost: row.unit_cost,
            cost: row.cost,
            operator: text_value(row.operator, row.operator_raw),
        }
    }
}

/// A staging row that passed, in the curated schema's terms (string values trimmed).
pub fn curated_row(row: &StagingRow) -> CuratedRow {
    let v = CuratedValues::of(&row.view());
    CuratedRow {
        date: v.date,
        paint_type: v.paint_type.map(str::to_owned),
        quantity: v.quantity,
        unit_cost: v.unit_cost,
        cost: v.cost,
        operator: v.operator.map(str::to_owned),
    }
}

/// A staging row set aside with `reasons`: its original cell text, line and impact.
pub fn quarantined_row(row: &StagingRow, reasons: Vec<ReasonCode>, detail: String) -> QuarantinedRow {
    QuarantinedRow {
        line: row.line,
        raw: row.view().raw_cells().map(|c| c.map(str::to_owned)),
        reasons,
        detail,
        quantity: row.quantity,
        cost: row.cost,
    }
}

/// KPI cards of a set of curated rows.
pub fn kpis_of(curated: &[CuratedRow]) -> DayKpis {
    let mut kpis = KpiAccumulator::default();
    for r in curated {
        kpis.add(r.quantity, r.cost, r.operator.as_deref(), r.paint_type.as_deref());
    }
    kpis.finish()
}

/// KPI cards accumulated row by row (curated rows only).
#[derive(Debug)]
pub(crate) struct KpiAccumulator {
    liters: i64,
    total_cost: f64,
    operators: BTreeSet<String>,
    paint_types: BTreeSet<String>,
    rows: u64,
}

impl Default for KpiAccumulator {
    fn default() -> Self {
        // `-0.0`, the value `Iterator::sum` gives for no costs.
        KpiAccumulator {
            liters: 0,
            total_cost: -0.0,
            operators: BTreeSet::new(),
            paint_types: BTreeSet::new(),
            rows: 0,
        }
    }
}

impl KpiAccumulator {
    pub(crate) fn add(
        &mut self,
        quantity: Option<i64>,
        cost: Option<f64>,
        operator: Option<&str>,
        paint: Option<&str>,
    ) {
        if let Some(q) = quantity {
            self.liters = self.liters.saturating_add(q);
        }
        if let Some(c) = cost {
            self.total_cost += c;
        }
        if let Some(o) = operator.filter(|o| !self.operators.contains(*o)) {
            self.operators.insert(o.to_owned());
        }
        if let Some(p) = paint.filter(|p| !self.paint_types.contains(*p)) {
            self.paint_types.insert(p.to_owned());
        }
        self.rows += 1;
    }

    pub(crate) fn finish(self) -> DayKpis {
        DayKpis {
            liters: self.liters,
            total_cost: self.total_cost,
            operators: u32::try_from(self.operators.len()).unwrap_or(u32::MAX),
            paint_types: u32::try_from(self.paint_types.len()).unwrap_or(u32::MAX),
            rows: self.rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReasonCode::*;
    use chrono::{NaiveTime, TimeZone};
    use pinta_contracts::catalog::{CatalogOperator, CatalogPaint};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 10).unwrap()
    }

    /// Well after the day, so no date of the day is in the future.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 11, 6, 0, 0).unwrap()
    }

    fn at(d: NaiveDate, h: u32, m: u32) -> NaiveDateTime {
        d.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap())
    }

    /// A good row, as the transformer would stage it.
    fn row(line: u64, quantity: i64, unit_cost: f64, operator: &str) -> StagingRow {
        let date = at(day(), 8, line as u32 % 60);
        let cost = quantity as f64 * unit_cost;
        StagingRow {
            line,
            date: Some(date),
            date_raw: Some(date.format("%Y-%m-%d %H:%M:%S").to_string()),
            paint_type: Some("Esmalte".into()),
            paint_type_raw: Some("Esmalte".into()),
            quantity: Some(quantity),
            quantity_raw: Some(quantity.to_string()),
            unit_cost: Some(unit_cost),
            unit_cost_raw: Some(unit_cost.to_string()),
            cost: Some(cost),
            cost_raw: Some(cost.to_string()),
            operator: Some(operator.into()),
            operator_raw: Some(operator.into()),
            cost_computed: false,
            cell_errors: String::new(),
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            operators: vec![
                CatalogOperator { name: "Ana".into(), active: true },
                CatalogOperator { name: "Luis".into(), active: true },
            ],
            paint_types: vec![CatalogPaint { name: "Esmalte".into(), price_per_liter: 10.0 }],
        }
    }

    /// Rules with no hold, to look at single rows.
    fn no_hold() -> RuleSet {
        RuleSet { quarantine_threshold: 1.0, ..RuleSet::default() }
    }

    fn reasons_of(r: StagingRow, rules: &RuleSet) -> Vec<ReasonCode> {
        let v = validate(&[r], day(), Some(&catalog()), rules, now());
        v.verdicts[0].reasons.clone()
    }

    fn reasons(r: StagingRow) -> Vec<ReasonCode> {
        reasons_of(r, &no_hold())
    }

    #[test]
    fn a_good_row_is_curated_with_kpis() {
        let v = validate(&[row(2, 10, 2.5, "Ana"), row(3, 5, 2.0, "Luis")], day(), Some(&catalog()), &no_hold(), now());
        assert!(v.is_conserved());
        assert_eq!(v.curated.len(), 2);
        assert!(v.quarantined.is_empty());
        assert_eq!(v.kpis, DayKpis { liters: 15, total_cost: 35.0, operators: 2, paint_types: 1, rows: 2 });
        assert!(!v.held);
        assert_eq!(v.curated[0].operator.as_deref(), Some("Ana"));
    }

    #[test]
    fn missing_fields_need_empty_typed_and_empty_raw() {
        let mut r = row(2, 10, 2.5, "Ana");
        r.date = None;
        r.date_raw = Some("".into());
        r.paint_type = None;
        r.paint_type_raw = None;
        r.quantity = None;
        r.quantity_raw = Some("  ".into());
        r.unit_cost = None;
        r.unit_cost_raw = None;
        r.operator = None;
        r.operator_raw = Some("".into());
        r.cost = None;
        r.cost_raw = Some("".into());
        assert_eq!(reasons(r), vec![MissingDate, MissingPaintType, MissingQuantity, MissingUnitCost, MissingOperator]);
    }

    #[test]
    fn parse_codes_are_carried_over_with_raw_text_in_the_detail() {
        let mut r = row(4, 10, 2.5, "Ana");
        r.quantity = None;
        r.quantity_raw = Some("diez".into());
        r.cost = None;
        r.cost_raw = Some("x".into());
        r.cell_errors = "UNPARSEABLE_QUANTITY,UNPARSEABLE_COST,MALFORMED_LINE".into();
        let v = validate(&[r], day(), Some(&catalog()), &no_hold(), now());
        assert_eq!(v.verdicts[0].reasons, vec![UnparseableQuantity, UnparseableCost, MalformedLine]);
        assert!(v.quarantined[0].detail.contains("Cantidad no entera (diez)"), "{}", v.quarantined[0].detail);
        assert_eq!(v.quarantined[0].reasons_text(), "UNPARSEABLE_QUANTITY,UNPARSEABLE_COST,MALFORMED_LINE");
    }

    #[test]
    fn text_without_a_typed_value_is_unparseable_even_if_the_transformer_said_nothing() {
        let mut r = row(2, 10, 2.5, "Ana");
        r.date = None;
        r.date_raw = Some("31/02/2025".into());
        assert_eq!(reasons(r), vec![UnparseableDate]);
    }

    #[test]
    fn unknown_cell_error_codes_are_ignored() {
        let mut r = row(2, 10, 2.5, "Ana");
        r.cell_errors = "SOMETHING_NEW".into();
        assert!(reasons(r).is_empty());
    }

    #[test]
    fn negative_quantity_and_unit_cost() {
        let v = validate(&[row(2, -5, 2.0, "Ana")], day(), Some(&catalog()), &no_hold(), now());
        assert_eq!(v.verdicts[0].reasons, vec![NegativeQuantity]);
        assert_eq!(v.quarantined[0].detail, "Cantidad negativa (-5)");
        assert_eq!(reasons(row(2, 5, -2.0, "Ana")), vec![NegativeUnitCost]);
        assert!(reasons(row(2, 0, 0.0, "Ana")).is_empty());
    }

    #[test]
    fn cost_mismatch_respects_both_tolerances() {
        // 10 × 2.5 = 25: tolerance = max(0.01, 0.001 × 25) = 0.025.
        let with_cost = |quantity: i64, unit: f64, cost: f64| {
            let mut r = row(2, quantity, unit, "Ana");
            r.cost = Some(cost);
            r
        };
        assert!(reasons(with_cost(10, 2.5, 25.02)).is_empty());
        assert_eq!(reasons(with_cost(10, 2.5, 25.03)), vec![CostMismatch]);
        // Small amounts: the absolute tolerance (0.01) dominates.
        assert!(reasons(with_cost(1, 1.0, 1.009)).is_empty());
        assert_eq!(reasons(with_cost(1, 1.0, 1.02)), vec![CostMismatch]);
        // Large amounts: the relative tolerance dominates (1000 × 100 = 100000 → 100).
        assert!(reasons(with_cost(1000, 100.0, 100_099.0)).is_empty());
        assert_eq!(reasons(with_cost(1000, 100.0, 100_101.0)), vec![CostMismatch]);
        // Configured tolerances.
        let loose = RuleSet { cost_abs_tolerance: 1.0, ..no_hold() };
        assert!(reasons_of(with_cost(10, 2.5, 25.9), &loose).is_empty());
        // A computed cost is never a mismatch.
        let mut computed = with_cost(10, 2.5, 99.0);
        computed.cost_computed = true;
        assert!(reasons(computed).is_empty());
        // Not checked when a value is missing.
        let mut no_cost = with_cost(10, 2.5, 0.0);
        no_cost.cost = None;
        no_cost.cost_raw = Some("".into());
        assert!(reasons(no_cost).is_empty());
    }

    #[test]
    fn unknown_operator_and_paint_type_after_trimming() {
        let mut r = row(2, 10, 2.5, "  Ana ");
        r.paint_type = Some(" Esmalte".into());
        assert!(reasons(r).is_empty());
        let mut r = row(2, 10, 2.5, "Pedro");
        r.paint_type = Some("Acrílica".into());
        let v = validate(&[r], day(), Some(&catalog()), &no_hold(), now());
        assert_eq!(v.verdicts[0].reasons, vec![UnknownOperator, UnknownPaintType]);
        assert!(v.quarantined[0].detail.contains("Operador desconocido (Pedro)"));
        // Case matters (exact match).
        assert_eq!(reasons(row(2, 10, 2.5, "ana")), vec![UnknownOperator]);
    }

    #[test]
    fn without_a_catalogue_the_unknown_rules_are_skipped() {
        let mut r = row(2, 10, 2.5, "Pedro");
        r.paint_type = Some("Acrílica".into());
        let v = validate(&[r], day(), None, &no_hold(), now());
        assert!(v.verdicts[0].passed());
        assert_eq!(v.curated.len(), 1);
    }

    #[test]
    fn future_date_with_tolerance_and_exclusive_with_outside_day() {
        let now = Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap();
        let dated = |d: NaiveDateTime| {
            let mut r = row(2, 10, 2.5, "Ana");
            r.date = Some(d);
            r
        };
        let check = |d: NaiveDateTime, rules: &RuleSet| {
            validate(&[dated(d)], day(), Some(&catalog()), rules, now).verdicts[0].reasons.clone()
        };
        let rules = no_hold();
        // Within the 60-minute tolerance.
        assert!(check(at(day(), 13, 0), &rules).is_empty());
        assert_eq!(check(at(day(), 13, 1), &rules), vec![FutureDate]);
        // Tomorrow: future AND outside the day, but only FUTURE_DATE is reported.
        assert_eq!(check(at(day().succ_opt().unwrap(), 9, 0), &rules), vec![FutureDate]);
        // Yesterday: outside the day.
        assert_eq!(check(at(day().pred_opt().unwrap(), 9, 0), &rules), vec![DateOutsideDay]);
        // Zero tolerance.
        let strict = RuleSet { future_tolerance_minutes: 0, ..no_hold() };
        assert_eq!(check(at(day(), 12, 1), &strict), vec![FutureDate]);
        // With FUTURE_DATE disabled, tomorrow is just outside the day.
        let mut no_future = no_hold();
        no_future.rules.future_date.enabled = false;
        assert_eq!(check(at(day().succ_opt().unwrap(), 9, 0), &no_future), vec![DateOutsideDay]);
    }

    #[test]
    fn duplicates_keep_the_first_which_is_judged_on_its_own() {
        let a = row(2, 10, 2.5, "Ana");
        let mut b = a.clone();
        b.line = 3;
        let mut c = a.clone();
        c.line = 7;
        let other = row(4, 11, 2.5, "Ana");
        let v = validate(&[a, b, other, c], day(), Some(&catalog()), &no_hold(), now());
        let r: Vec<_> = v.verdicts.iter().map(|x| x.reasons.clone()).collect();
        assert_eq!(r, vec![vec![], vec![DuplicateRow], vec![], vec![DuplicateRow]]);
        assert_eq!(v.quarantined[0].detail, "Fila duplicada de la línea 2");
        assert_eq!(v.curated.len(), 2);

        // A bad first row stays bad for its own reasons; its copy is a duplicate too.
        let bad = row(2, -1, 2.5, "Ana");
        let mut copy = bad.clone();
        copy.line = 3;
        let v = validate(&[bad, copy], day(), Some(&catalog()), &no_hold(), now());
        assert_eq!(v.verdicts[0].reasons, vec![NegativeQuantity]);
        assert_eq!(v.verdicts[1].reasons, vec![NegativeQuantity, DuplicateRow]);
    }

    #[test]
    fn several_reasons_come_in_stable_order() {
        let mut r = row(9, -3, -1.0, "Pedro");
        r.date = Some(at(day().pred_opt().unwrap(), 8, 0));
        r.cost = Some(50.0);
        r.paint_type = None;
        r.paint_type_raw = Some("".into());
        let v = validate(&[r], day(), Some(&catalog()), &no_hold(), now());
        assert_eq!(
            v.verdicts[0].reasons,
            vec![MissingPaintType, NegativeQuantity, NegativeUnitCost, CostMismatch, UnknownOperator, DateOutsideDay]
        );
        let q = &v.quarantined[0];
        assert_eq!(
            q.reasons_text(),
            "MISSING_PAINT_TYPE,NEGATIVE_QUANTITY,NEGATIVE_UNIT_COST,COST_MISMATCH,UNKNOWN_OPERATOR,DATE_OUTSIDE_DAY"
        );
        assert_eq!(q.detail.split("; ").count(), 6, "{}", q.detail);
        let mut sorted = q.reasons.clone();
        sorted.sort_by_key(|c| ReasonCode::ALL.iter().position(|a| a == c));
        assert_eq!(sorted, q.reasons);
    }

    #[test]
    fn disabled_rules_do_not_fire() {
        let mut rules = no_hold();
        rules.rules.negative_quantity.enabled = false;
        rules.rules.unknown_operator.enabled = false;
        rules.rules.required_fields.enabled = false;
        rules.rules.duplicate_row.enabled = false;
        rules.rules.date_outside_day.enabled = false;
        rules.rules.cost_mismatch.enabled = false;
        rules.rules.unparseable.enabled = false;
        let mut r = row(2, -5, 2.0, "Pedro");
        r.date = Some(at(day().pred_opt().unwrap(), 8, 0));
        r.cost = Some(1.0);
        r.operator = None;
        r.operator_raw = Some("".into());
        r.cell_errors = "MALFORMED_LINE".into();
        let copy = StagingRow { line: 3, ..r.clone() };
        let v = validate(&[r, copy], day(), Some(&catalog()), &rules, now());
        assert!(v.verdicts.iter().all(RowVerdict::passed), "{:?}", v.verdicts);
        assert_eq!(v.curated.len(), 2);
        assert_eq!(v.curated[0].operator, None);
    }

    #[test]
    fn held_threshold_just_below_and_just_above() {
        let rows = |bad: usize, total: usize| -> Vec<StagingRow> {
            (0..total).map(|i| row(i as u64 + 2, if i < bad { -1 } else { 10 + i as i64 }, 2.0, "Ana")).collect()
        };
        let rules = RuleSet::default(); // threshold 0.5, ratio must EXCEED it
        let at_threshold = validate(&rows(2, 4), day(), Some(&catalog()), &rules, now());
        assert!(!at_threshold.held);
        assert_eq!((at_threshold.curated.len(), at_threshold.quarantined.len()), (2, 2));

        let above = validate(&rows(3, 5), day(), Some(&catalog()), &rules, now());
        assert!(above.held);
        assert!(above.is_conserved());
        assert!(above.curated.is_empty());
        assert_eq!(above.quarantined.len(), 5);
        assert_eq!(above.rows_failed, 3);
        assert_eq!(above.quarantined[3].reasons, vec![DayHeld]);
        assert!(above.quarantined[3].detail.starts_with("Día retenido: 3 de 5"), "{}", above.quarantined[3].detail);
        assert_eq!(above.quarantined[0].reasons, vec![NegativeQuantity]);
        assert_eq!(above.reason_counts.get(&DayHeld), Some(&2));
        assert_eq!(above.reason_counts.get(&NegativeQuantity), Some(&3));
        assert_eq!(above.kpis.rows, 0);
        assert_eq!(above.quarantined_ratio(), 1.0);
        // Samples list failing rows before held ones.
        let samples = above.samples();
        assert_eq!(samples.len(), 5);
        assert_eq!(samples[0].reasons, vec![NegativeQuantity]);

        let below = RuleSet { quarantine_threshold: 0.61, ..RuleSet::default() };
        assert!(!validate(&rows(3, 5), day(), Some(&catalog()), &below, now()).held);
        let just_above = RuleSet { quarantine_threshold: 0.59, ..RuleSet::default() };
        assert!(validate(&rows(3, 5), day(), Some(&catalog()), &just_above, now()).held);

        // Too few rows for the threshold to apply.
        let min_rows = RuleSet { min_rows_for_threshold: 6, ..RuleSet::default() };
        assert!(!validate(&rows(3, 5), day(), Some(&catalog()), &min_rows, now()).held);
        // An empty day is never held.
        let empty = validate(&[], day(), Some(&catalog()), &rules, now());
        assert!(!empty.held && empty.is_conserved() && empty.failed_ratio == 0.0);
    }

    #[test]
    fn affected_sums_and_samples_use_the_original_text() {
        let mut r = row(2, -5, 2.0, "Ana");
        r.quantity_raw = Some("-5".into());
        let v = validate(&[r, row(3, 10, 2.0, "Ana")], day(), Some(&catalog()), &no_hold(), now());
        assert_eq!(v.liters_affected, -5);
        assert_eq!(v.cost_affected, -10.0);
        let s = v.samples();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].line, 2);
        assert_eq!(s[0].values.get(COL_QUANTITY).map(String::as_str), Some("-5"));
        assert_eq!(s[0].values.get(COL_OPERATOR).map(String::as_str), Some("Ana"));
    }
}
