//! Synthetic source data: a plant's catalogue (operators, paint types with prices) and deterministic
//! daily production with defects injected at a given rate — the defects the validator must catch.
//!
//! Each day's rows depend only on `(seed, day, rows_per_day, defect_rate)`, so seeding a year or a
//! single day gives the same rows for that day, and tests can regenerate exactly what was injected.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use pinta_contracts::ReasonCode;
use pinta_contracts::catalog::{Catalog, CatalogOperator, CatalogPaint};
use pinta_platform::sql::{NewRow, SqlSource};
use pinta_platform::ports::SourceError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The kinds of defect injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    NegativeQuantity,
    NegativeUnitCost,
    UnknownOperator,
    UnknownPaintType,
    FutureDate,
    Duplicate,
    CostMismatch,
    MissingDate,
    MissingPaintType,
    MissingQuantity,
    MissingUnitCost,
    MissingOperator,
}

impl Defect {
    const ALL: [Defect; 12] = [
        Defect::NegativeQuantity,
        Defect::NegativeUnitCost,
        Defect::UnknownOperator,
        Defect::UnknownPaintType,
        Defect::FutureDate,
        Defect::Duplicate,
        Defect::CostMismatch,
        Defect::MissingDate,
        Defect::MissingPaintType,
        Defect::MissingQuantity,
        Defect::MissingUnitCost,
        Defect::MissingOperator,
    ];

    /// The reason code the validator must give a row with this defect (and only this one).
    pub fn expected_reason(self) -> ReasonCode {
        match self {
            Defect::NegativeQuantity => ReasonCode::NegativeQuantity,
            Defect::NegativeUnitCost => ReasonCode::NegativeUnitCost,
            Defect::UnknownOperator => ReasonCode::UnknownOperator,
            Defect::UnknownPaintType => ReasonCode::UnknownPaintType,
            Defect::FutureDate => ReasonCode::FutureDate,
            Defect::Duplicate => ReasonCode::DuplicateRow,
            Defect::CostMismatch => ReasonCode::CostMismatch,
            Defect::MissingDate => ReasonCode::MissingDate,
            Defect::MissingPaintType => ReasonCode::MissingPaintType,
            Defect::MissingQuantity => ReasonCode::MissingQuantity,
            Defect::MissingUnitCost => ReasonCode::MissingUnitCost,
            Defect::MissingOperator => ReasonCode::MissingOperator,
        }
    }
}

/// Parameters of `pinta seed`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedParams {
    pub days: u32,
    pub until: NaiveDate,
    pub rows_per_day: u32,
    pub defect_rate: f64,
    pub seed: u64,
}

/// One generated record and the defect injected into it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct SeededRow {
    pub row: NewRow,
    pub defect: Option<Defect>,
}

const OPERATORS: [&str; 10] = [
    "Juan Pérez",
    "María González",
    "Luis Hernández",
    "Ana Martínez",
    "Carlos López",
    "Sofía Ramírez",
    "Jorge Torres",
    "Lucía Flores",
    "Miguel Sánchez",
    "Elena Díaz",
];

const PAINTS: [(&str, f64); 8] = [
    ("Vinílica blanca", 85.0),
    ("Vinílica color", 92.5),
    ("Esmalte rojo", 120.5),
    ("Esmalte negro", 118.0),
    ("Acrílica azul", 95.75),
    ("Impermeabilizante", 140.0),
    ("Sellador", 70.0),
    ("Epóxica industrial", 210.0),
];

const STRANGERS: [&str; 4] = ["Operador Temporal", "Juan Peres", "Turno Noche", "Sin Asignar"];
const UNKNOWN_PAINTS: [&str; 3] = ["Esmalte verde limón", "Vinilica blanka", "Barniz marino"];

/// The plant's catalogue.
pub fn catalog() -> Catalog {
    let mut operators: Vec<CatalogOperator> =
        OPERATORS.iter().map(|n| CatalogOperator { name: (*n).to_owned(), active: true }).collect();
    operators.push(CatalogOperator { name: "Roberto Castillo".to_owned(), active: false });
    Catalog {
        operators,
        paint_types: PAINTS.iter().map(|(n, p)| CatalogPaint { name: (*n).to_owned(), price_per_liter: *p }).collect(),
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The days covered: `days` days ending at `until`.
pub fn days_of(params: &SeedParams) -> impl Iterator<Item = NaiveDate> + '_ {
    (0..params.days).rev().map(move |back| params.until - Duration::days(i64::from(back)))
}

/// Generates one day's rows.
pub fn generate_day(params: &SeedParams, day: NaiveDate) -> Vec<SeededRow> {
    let day_number = i64::from(day.num_days_from_ce());
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ (day_number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let n = params.rows_per_day as usize;
    let mut out: Vec<SeededRow> = Vec::with_capacity(n);
    // Production runs from 06:00 for up to 16 hours, spread evenly with jitter.
    let start = day.and_hms_opt(6, 0, 0).unwrap_or_default();
    let step_secs = (16 * 3600 / n.max(1) as i64).max(1);
    let updated_at = (day + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    let mut last_clean: Option<usize> = None;
    for i in 0..n {
        let id = day_number * 10_000_000 + i as i64;
        let at: NaiveDateTime = start + Duration::seconds(step_secs * i as i64 + rng.random_range(0..step_secs));
        let (paint, price) = PAINTS[rng.random_range(0..PAINTS.len())];
        let operator = OPERATORS[rng.random_range(0..OPERATORS.len())];
        let quantity: i64 = rng.random_range(40..=2_400);
        let mut row = NewRow {
            id,
            day,
            produced_at: Some(at),
            paint_type: Some(paint.to_owned()),
            quantity: Some(quantity),
            unit_cost: Some(price),
            cost: Some(round2(quantity as f64 * price)),
            operator: Some(operator.to_owned()),
            updated_at,
        };
        let mut defect = (rng.random::<f64>() < params.defect_rate).then(|| Defect::ALL[rng.random_range(0..Defect::ALL.len())]);
        if defect == Some(Defect::Duplicate) && last_clean.is_none() {
            defect = Some(Defect::CostMismatch);
        }
        match defect {
            None => {}
            Some(Defect::NegativeQuantity) => {
                row.quantity = Some(-quantity);
                row.cost = Some(round2(-quantity as f64 * price));
            }
            Some(Defect::NegativeUnitCost) => {
                row.unit_cost = Some(-price);
                row.cost = Some(round2(quantity as f64 * -price));
            }
            Some(Defect::UnknownOperator) => row.operator = Some(STRANGERS[rng.random_range(0..STRANGERS.len())].to_owned()),
            Some(Defect::UnknownPaintType) => {
                row.paint_type = Some(UNKNOWN_PAINTS[rng.random_range(0..UNKNOWN_PAINTS.len())].to_owned())
            }
            Some(Defect::FutureDate) => {
                // A typo in the year: ten years ahead.
                row.produced_at = at.with_year(at.year() + 10).or(Some(at + Duration::days(3653)));
            }
            Some(Defect::Duplicate) => {
                if let Some(j) = last_clean {
                    let original = &out[j].row;
                    row = NewRow { id, updated_at, ..original.clone() };
                }
            }
            Some(Defect::CostMismatch) => {
                row.cost = Some(round2(quantity as f64 * price * rng.random_range(1.1..1.6)));
            }
            Some(Defect::MissingDate) => row.produced_at = None,
            Some(Defect::MissingPaintType) => row.paint_type = None,
            Some(Defect::MissingQuantity) => row.quantity = None,
            Some(Defect::MissingUnitCost) => row.unit_cost = None,
            Some(Defect::MissingOperator) => row.operator = None,
        }
        if defect.is_none() {
            last_clean = Some(out.len());
        }
        out.push(SeededRow { row, defect });
    }
    out
}

/// Summary of a seeding run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeedSummary {
    pub days: u32,
    pub rows: u64,
    pub defects: u64,
}

/// Writes the catalogue and every day of `params` into the source (replacing those days).
pub async fn seed(source: &SqlSource, params: &SeedParams) -> Result<SeedSummary, SourceError> {
    source.replace_catalog(&catalog()).await?;
    let mut summary = SeedSummary::default();
    for day in days_of(params) {
        let rows = generate_day(params, day);
        summary.days += 1;
        summary.rows += rows.len() as u64;
        summary.defects += rows.iter().filter(|r| r.defect.is_some()).count() as u64;
        let plain: Vec<NewRow> = rows.into_iter().map(|r| r.row).collect();
        source.write_day(day, &plain).await?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SeedParams {
        SeedParams {
            days: 3,
            until: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
            rows_per_day: 400,
            defect_rate: 0.1,
            seed: 7,
        }
    }

    #[test]
    fn generation_is_deterministic_per_day() {
        let p = params();
        let day = p.until;
        assert_eq!(generate_day(&p, day), generate_day(&p, day));
        let one_day = SeedParams { days: 1, ..p.clone() };
        assert_eq!(generate_day(&one_day, day), generate_day(&p, day));
        assert_ne!(generate_day(&p, day), generate_day(&SeedParams { seed: 8, ..p.clone() }, day));
        let days: Vec<_> = days_of(&p).collect();
        assert_eq!(days.first().copied(), NaiveDate::from_ymd_opt(2025, 6, 28));
        assert_eq!(days.last().copied(), Some(p.until));
    }

    #[test]
    fn defects_are_injected_at_roughly_the_rate_and_clean_rows_are_consistent() {
        let p = params();
        let rows = generate_day(&p, p.until);
        let defects = rows.iter().filter(|r| r.defect.is_some()).count();
        assert!((20..=70).contains(&defects), "{defects} defects in 400 rows at 10 %");
        let cat = catalog();
        for r in rows.iter().filter(|r| r.defect.is_none()) {
            let row = &r.row;
            assert!(cat.has_operator(row.operator.as_deref().unwrap()));
            assert!(cat.has_paint_type(row.paint_type.as_deref().unwrap()));
            let expected = round2(row.quantity.unwrap() as f64 * row.unit_cost.unwrap());
            assert!((row.cost.unwrap() - expected).abs() < 1e-9);
            assert_eq!(row.produced_at.unwrap().date(), p.until);
        }
        let no_defects = generate_day(&SeedParams { defect_rate: 0.0, ..p.clone() }, p.until);
        assert!(no_defects.iter().all(|r| r.defect.is_none()));
    }
}
