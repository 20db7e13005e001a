//! Re-validation of quarantined rows of a day (behind `pinta quarantine release`), with the same rules
//! as [`validate()`](crate::validate::validate) — nothing here judges a row itself.
//!
//! Given the day's staging rows, the rows now in quarantine and a selection of them, [`revalidate`]
//! re-runs the rule set over the whole day (so `DUPLICATE_ROW` and the catalogue checks see the same
//! context as the original run) and builds the day's new state:
//! * rows not in quarantine stay curated;
//! * selected quarantined rows that now pass move to curated; the others stay quarantined with their
//!   new reasons;
//! * unselected quarantined rows keep their reasons and detail;
//! * the hold is decided again with the rule set's threshold. If the day was held and no longer is,
//!   rows that were set aside only by the hold (`DAY_HELD`) are judged too; if it is still held, every
//!   row stays in quarantine.
//!
//! The result is a [`Validation`] like the validator's, so the same writers and events apply, and it
//! conserves rows (`curated + quarantined == rows in`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use pinta_contracts::ReasonCode;
use pinta_contracts::catalog::Catalog;

use crate::rules::RuleSet;
use crate::staging::StagingRow;
use crate::validate::{RowVerdict, Validation, kpis_of, validate};

/// A row now in the day's quarantine file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedNow {
    pub line: u64,
    pub reasons: Vec<ReasonCode>,
    pub detail: String,
}

/// Which quarantined rows to re-validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Lines(BTreeSet<u64>),
}

impl Selection {
    fn contains(&self, line: u64) -> bool {
        match self {
            Selection::All => true,
            Selection::Lines(lines) => lines.contains(&line),
        }
    }
}

/// What a re-validation decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Revalidation {
    /// The day's new state.
    pub validation: Validation,
    /// Quarantined lines that moved to curated (selected, or freed by a lifted hold).
    pub released: Vec<u64>,
    /// Selected quarantined lines that stay in quarantine, with their reasons now.
    pub still_quarantined: Vec<(u64, Vec<ReasonCode>)>,
    /// Selected lines that were not in quarantine (curated, or not a line of the day): ignored.
    pub not_quarantined: Vec<u64>,
    /// The day was held before.
    pub was_held: bool,
}

/// Why a re-validation cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevalidateError {
    /// A quarantined line is not a line of the staged day: the quarantine file and the staging file
    /// are not from the same run.
    #[error("quarantined line {line} is not in the day's staging file")]
    UnknownLine { line: u64 },
    /// Two quarantine rows for one line.
    #[error("line {line} appears twice in the quarantine file")]
    DuplicateLine { line: u64 },
}

/// Re-validates the selected rows of `quarantined` (see the module doc). `now` is the clock reading
/// `FUTURE_DATE` is judged against.
pub fn revalidate(
    rows: &[StagingRow],
    day: NaiveDate,
    catalog: Option<&Catalog>,
    rules: &RuleSet,
    now: DateTime<Utc>,
    quarantined: &[QuarantinedNow],
    selection: &Selection,
) -> Result<Revalidation, RevalidateError> {
    let lines: BTreeSet<u64> = rows.iter().map(|r| r.line).collect();
    let mut before: BTreeMap<u64, &QuarantinedNow> = BTreeMap::new();
    for q in quarantined {
        if !lines.contains(&q.line) {
            return Err(RevalidateError::UnknownLine { line: q.line });
        }
        if before.insert(q.line, q).is_some() {
            return Err(RevalidateError::DuplicateLine { line: q.line });
        }
    }
    let was_held = !before.is_empty() && before.len() == rows.len() && before.values().any(|q| is_held_only(q));
    let not_quarantined = match selection {
        Selection::All => Vec::new(),
        Selection::Lines(sel) => sel.iter().copied().filter(|l| !before.contains_key(l)).collect(),
    };

    // The rule verdicts of today, for the whole day.
    let fresh = validate(rows, day, catalog, rules, now);

    // Each row's state before the hold is decided again.
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        /// Curated before, untouched.
        Curated,
        /// Passes its rules (re-validated now, or held only by the hold).
        Passes { was_quarantined: bool, judged: bool },
        /// Fails: index into `fresh.verdicts` (judged now) or the previous reasons.
        FailsNow,
        FailsBefore,
    }
    let mut states = Vec::with_capacity(rows.len());
    for (row, verdict) in rows.iter().zip(&fresh.verdicts) {
        let state = match before.get(&row.line) {
            None => State::Curated,
            Some(_) if selection.contains(row.line) => {
                if verdict.passed() {
                    State::Passes { was_quarantined: true, judged: true }
                } else {
                    State::FailsNow
                }
            }
            Some(q) if is_held_only(q) => State::Passes { was_quarantined: true, judged: false },
            Some(_) => State::FailsBefore,
        };
        states.push(state);
    }
    let rows_in = rows.len() as u64;
    let failed = |states: &[State]| states.iter().filter(|s| matches!(s, State::FailsNow | State::FailsBefore)).count();
    let mut held = rows_in >= rules.min_rows_for_threshold
        && ratio(failed(&states) as u64, rows_in) > rules.quarantine_threshold;
    if !held {
        // Rows set aside only by a hold that no longer applies are judged with today's rules too.
        for (state, verdict) in states.iter_mut().zip(&fresh.verdicts) {
            if let State::Passes { judged: false, .. } = state {
                *state = if verdict.passed() {
                    State::Passes { was_quarantined: true, judged: true }
                } else {
                    State::FailsNow
                };
            }
        }
        held = rows_in >= rules.min_rows_for_threshold
            && ratio(failed(&states) as u64, rows_in) > rules.quarantine_threshold;
    }
    let rows_failed = failed(&states) as u64;
    let failed_ratio = ratio(rows_failed, rows_in);

    // Curated rows are the validator's own conversion of the staging rows (`fresh.curated` holds every
    // row that passes today, in input order).
    let mut fresh_curated = fresh_curated_by_line(rows, &fresh);
    let mut verdicts = Vec::with_capacity(rows.len());
    let mut curated = Vec::new();
    let mut quarantined_rows = Vec::new();
    let mut released = Vec::new();
    let mut still = Vec::new();
    for ((row, verdict), state) in rows.iter().zip(&fresh.verdicts).zip(&states) {
        let (reasons, detail): (Vec<ReasonCode>, String) = match state {
            State::FailsNow => (verdict.reasons.clone(), verdict.details.join("; ")),
            State::FailsBefore => {
                let q = before.get(&row.line).copied();
                (q.map(|q| q.reasons.clone()).unwrap_or_default(), q.map(|q| q.detail.clone()).unwrap_or_default())
            }
            State::Curated | State::Passes { .. } => (Vec::new(), String::new()),
        };
        verdicts.push(RowVerdict {
            line: row.line,
            reasons: reasons.clone(),
            details: if reasons.is_empty() { Vec::new() } else { vec![detail.clone()] },
        });
        let to_curated = !held && matches!(state, State::Curated | State::Passes { .. });
        if to_curated {
            match fresh_curated.remove(&row.line) {
                Some(c) => curated.push(c),
                None => {
                    // Curated before but failing today's rules (the rules or catalogue changed): a
                    // release only moves rows out of quarantine, so the row stays curated as it was.
                    curated.push(crate::validate::curated_row(row));
                }
            }
            if let State::Passes { was_quarantined: true, .. } = state {
                released.push(row.line);
            }
            continue;
        }
        let (reasons, detail) = if reasons.is_empty() {
            let detail = format!(
                "Día retenido: {rows_failed} de {rows_in} filas con errores ({:.1} % > umbral {:.1} %)",
                failed_ratio * 100.0,
                rules.quarantine_threshold * 100.0
            );
            (vec![ReasonCode::DayHeld], detail)
        } else {
            (reasons, detail)
        };
        if before.contains_key(&row.line) && selection.contains(row.line) {
            still.push((row.line, reasons.clone()));
        }
        quarantined_rows.push(crate::validate::quarantined_row(row, reasons, detail));
    }

    let mut reason_counts = BTreeMap::new();
    for q in &quarantined_rows {
        for r in &q.reasons {
            *reason_counts.entry(*r).or_insert(0u64) += 1;
        }
    }
    let liters_affected = quarantined_rows.iter().filter_map(|q| q.quantity).fold(0i64, i64::saturating_add);
    let cost_affected = quarantined_rows.iter().filter_map(|q| q.cost).filter(|c| c.is_finite()).sum();
    let kpis = kpis_of(&curated);
    let validation = Validation {
        day,
        rows_in,
        verdicts,
        curated,
        quarantined: quarantined_rows,
        rows_failed,
        failed_ratio,
        held,
        kpis,
        reason_counts,
        liters_affected,
        cost_affected,
    };
    Ok(Revalidation { validation, released, still_quarantined: still, not_quarantined, was_held })
}

fn is_held_only(q: &QuarantinedNow) -> bool {
    q.reasons == [ReasonCode::DayHeld]
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The curated rows of a fresh validation by line (when the fresh run held the day, none).
fn fresh_curated_by_line(rows: &[StagingRow], fresh: &Validation) -> BTreeMap<u64, crate::validate::CuratedRow> {
    if fresh.held {
        return rows
            .iter()
            .zip(&fresh.verdicts)
            .filter(|(_, v)| v.passed())
            .map(|(r, _)| (r.line, crate::validate::curated_row(r)))
            .collect();
    }
    let passing = rows.iter().zip(&fresh.verdicts).filter(|(_, v)| v.passed()).map(|(r, _)| r.line);
    passing.zip(fresh.curated.iter().cloned()).collect()
}

/// Parses the `Motivos` text of a quarantine row (`A,B`) back into codes.
pub fn parse_reasons(text: &str) -> Result<Vec<ReasonCode>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<ReasonCode>().map_err(|_| format!("unknown reason code {c:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pinta_contracts::catalog::{CatalogOperator, CatalogPaint};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 10).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 11, 6, 0, 0).unwrap()
    }

    fn row(line: u64, quantity: i64, operator: &str) -> StagingRow {
        let date = day().and_hms_opt(8, line as u32 % 60, 0).unwrap();
        StagingRow {
            line,
            date: Some(date),
            date_raw: Some(date.format("%Y-%m-%d %H:%M:%S").to_string()),
            paint_type: Some("Esmalte".into()),
            paint_type_raw: Some("Esmalte".into()),
            quantity: Some(quantity),
            quantity_raw: Some(quantity.to_string()),
            unit_cost: Some(2.0),
            unit_cost_raw: Some("2".into()),
            cost: Some(quantity as f64 * 2.0),
            cost_raw: Some((quantity * 2).to_string()),
            operator: Some(operator.into()),
            operator_raw: Some(operator.into()),
            cost_computed: false,
            cell_errors: String::new(),
        }
    }

    fn catalog(operators: &[&str]) -> Catalog {
        Catalog {
            operators: operators.iter().map(|o| CatalogOperator { name: (*o).into(), active: true }).collect(),
            paint_types: vec![CatalogPaint { name: "Esmalte".into(), price_per_liter: 2.0 }],
        }
    }

    fn quarantine_of(v: &Validation) -> Vec<QuarantinedNow> {
        v.quarantined
            .iter()
            .map(|q| QuarantinedNow { line: q.line, reasons: q.reasons.clone(), detail: q.detail.clone() })
            .collect()
    }

    #[test]
    fn a_catalogue_fix_releases_only_the_selected_rows() {
        let rows = vec![row(2, 10, "Ana"), row(3, 11, "Pedro"), row(4, -1, "Ana"), row(5, 12, "Pedro")];
        let rules = RuleSet { quarantine_threshold: 1.0, ..RuleSet::default() };
        let first = validate(&rows, day(), Some(&catalog(&["Ana"])), &rules, now());
        assert_eq!(first.quarantined.len(), 3);
        let q = quarantine_of(&first);
        let fixed = catalog(&["Ana", "Pedro"]);

        let sel = Selection::Lines([3, 4, 2, 99].into_iter().collect());
        let r = revalidate(&rows, day(), Some(&fixed), &rules, now(), &q, &sel).unwrap();
        assert!(r.validation.is_conserved());
        assert_eq!(r.released, vec![3]);
        assert_eq!(r.still_quarantined, vec![(4, vec![ReasonCode::NegativeQuantity])]);
        assert_eq!(r.not_quarantined, vec![2, 99]);
        let lines: Vec<u64> = r.validation.quarantined.iter().map(|q| q.line).collect();
        assert_eq!(lines, vec![4, 5], "line 5 was not selected and keeps UNKNOWN_OPERATOR");
        assert_eq!(r.validation.quarantined[1].reasons, vec![ReasonCode::UnknownOperator]);
        assert_eq!(r.validation.curated.len(), 2);
        assert_eq!(r.validation.curated[1].operator.as_deref(), Some("Pedro"));
        assert_eq!(r.validation.kpis.liters, 21);

        // --all, then again: nothing more moves.
        let r = revalidate(&rows, day(), Some(&fixed), &rules, now(), &q, &Selection::All).unwrap();
        assert_eq!(r.released, vec![3, 5]);
        let again =
            revalidate(&rows, day(), Some(&fixed), &rules, now(), &quarantine_of(&r.validation), &Selection::All)
                .unwrap();
        assert!(again.released.is_empty());
        assert_eq!(again.validation.curated, r.validation.curated);
        assert_eq!(again.validation.quarantined, r.validation.quarantined);
    }

    #[test]
    fn a_held_day_is_lifted_when_enough_rows_pass_and_stays_held_otherwise() {
        let rows = vec![row(2, 10, "Pedro"), row(3, 11, "Pedro"), row(4, 12, "Ana"), row(5, -1, "Ana")];
        let rules = RuleSet::default(); // held above 50 %
        let first = validate(&rows, day(), Some(&catalog(&["Ana"])), &rules, now());
        assert!(first.held);
        let q = quarantine_of(&first);
        let fixed = catalog(&["Ana", "Pedro"]);

        // Releasing one row leaves 2 of 4 failing: 50 % is not above the threshold, so the hold lifts and
        // the row held only by the hold (line 4) is judged and curated too.
        let r = revalidate(&rows, day(), Some(&fixed), &rules, now(), &q, &Selection::Lines([2].into())).unwrap();
        assert!(r.was_held && !r.validation.held);
        assert_eq!(r.released, vec![2, 4]);
        assert_eq!(r.validation.quarantined.iter().map(|q| q.line).collect::<Vec<_>>(), vec![3, 5]);

        // With a stricter threshold the day stays held: everything stays in quarantine.
        let strict = RuleSet { quarantine_threshold: 0.2, ..RuleSet::default() };
        let r = revalidate(&rows, day(), Some(&fixed), &strict, now(), &q, &Selection::Lines([2].into())).unwrap();
        assert!(r.validation.held);
        assert!(r.released.is_empty() && r.validation.curated.is_empty());
        assert_eq!(r.validation.quarantined.len(), 4);
        assert_eq!(r.validation.quarantined[0].reasons, vec![ReasonCode::DayHeld]);
        assert!(r.validation.is_conserved());
    }

    #[test]
    fn a_quarantine_from_another_run_is_refused() {
        let rows = vec![row(2, 10, "Ana")];
        let q = vec![QuarantinedNow { line: 7, reasons: vec![ReasonCode::NegativeQuantity], detail: String::new() }];
        let e = revalidate(&rows, day(), None, &RuleSet::default(), now(), &q, &Selection::All).unwrap_err();
        assert_eq!(e, RevalidateError::UnknownLine { line: 7 });
        assert_eq!(parse_reasons("NEGATIVE_QUANTITY, DAY_HELD").unwrap(), vec![ReasonCode::NegativeQuantity, ReasonCode::DayHeld]);
        assert!(parse_reasons("NOPE").is_err());
    }
}
