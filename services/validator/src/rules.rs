//! The rule set as data: which rules run, how severe each one is for the notifier, the tolerances and
//! the quarantine threshold. Loaded from TOML (`rules.example.toml` equals [`RuleSet::default`]).

use std::path::{Path, PathBuf};

use pinta_contracts::ReasonCode;
use serde::{Deserialize, Serialize};

/// How serious a rule's violation is; the notifier turns it into an alert level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// One rule's switch and severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub severity: Severity,
}

fn yes() -> bool {
    true
}

impl RuleConfig {
    pub const fn on(severity: Severity) -> Self {
        RuleConfig { enabled: true, severity }
    }
}

/// Every rule. Field names are the TOML table names under `[rules]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// `MISSING_DATE`, `MISSING_PAINT_TYPE`, `MISSING_QUANTITY`, `MISSING_UNIT_COST`, `MISSING_OPERATOR`.
    pub required_fields: RuleConfig,
    /// Parse codes carried over from the transformer: `UNPARSEABLE_*`, `MALFORMED_LINE`.
    pub unparseable: RuleConfig,
    pub negative_quantity: RuleConfig,
    pub negative_unit_cost: RuleConfig,
    pub cost_mismatch: RuleConfig,
    pub unknown_operator: RuleConfig,
    pub unknown_paint_type: RuleConfig,
    pub future_date: RuleConfig,
    pub date_outside_day: RuleConfig,
    pub duplicate_row: RuleConfig,
}

impl Default for Rules {
    fn default() -> Self {
        use Severity::*;
        Rules {
            required_fields: RuleConfig::on(Error),
            unparseable: RuleConfig::on(Error),
            negative_quantity: RuleConfig::on(Error),
            negative_unit_cost: RuleConfig::on(Error),
            cost_mismatch: RuleConfig::on(Warning),
            unknown_operator: RuleConfig::on(Warning),
            unknown_paint_type: RuleConfig::on(Warning),
            future_date: RuleConfig::on(Error),
            date_outside_day: RuleConfig::on(Warning),
            duplicate_row: RuleConfig::on(Warning),
        }
    }
}

/// The validator's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSet {
    /// Ratio of quarantined rows (0..=1) above which the whole day is held.
    pub quarantine_threshold: f64,
    /// The threshold only applies to days with at least this many rows.
    pub min_rows_for_threshold: u64,
    /// `COST_MISMATCH` absolute tolerance (currency units).
    pub cost_abs_tolerance: f64,
    /// `COST_MISMATCH` relative tolerance (fraction of quantity × unit cost).
    pub cost_rel_tolerance: f64,
    /// `FUTURE_DATE` fires only beyond now + this many minutes.
    pub future_tolerance_minutes: i64,
    /// Severity of a held day (the `DAY_HELD` failure).
    pub held_severity: Severity,
    pub rules: Rules,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet {
            quarantine_threshold: 0.5,
            min_rows_for_threshold: 1,
            cost_abs_tolerance: 0.01,
            cost_rel_tolerance: 0.001,
            future_tolerance_minutes: 60,
            held_severity: Severity::Critical,
            rules: Rules::default(),
        }
    }
}

/// Why a rule set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    #[error("cannot read rule file {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid rule set{}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Parse { path: Option<PathBuf>, source: toml::de::Error },
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl RuleSet {
    /// Parses TOML. Unknown keys and wrong types are errors that name the key.
    pub fn from_toml_str(text: &str) -> Result<RuleSet, RuleSetError> {
        let rules: RuleSet = toml::from_str(text).map_err(|source| RuleSetError::Parse { path: None, source })?;
        rules.check()?;
        Ok(rules)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: impl AsRef<Path>) -> Result<RuleSet, RuleSetError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| RuleSetError::Io { path: path.to_owned(), source })?;
        match RuleSet::from_toml_str(&text) {
            Err(RuleSetError::Parse { source, .. }) => Err(RuleSetError::Parse { path: Some(path.to_owned()), source }),
            other => other,
        }
    }

    /// Range checks the values serde cannot express.
    pub fn check(&self) -> Result<(), RuleSetError> {
        let finite_non_negative = |key: &'static str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(RuleSetError::Invalid { key, reason: format!("must be a finite number >= 0, got {v}") })
            }
        };
        finite_non_negative("cost_abs_tolerance", self.cost_abs_tolerance)?;
        finite_non_negative("cost_rel_tolerance", self.cost_rel_tolerance)?;
        if !(self.quarantine_threshold.is_finite() && (0.0..=1.0).contains(&self.quarantine_threshold)) {
            return Err(RuleSetError::Invalid {
                key: "quarantine_threshold",
                reason: format!("must be between 0 and 1, got {}", self.quarantine_threshold),
            });
        }
        if !(0..=7 * 24 * 60).contains(&self.future_tolerance_minutes) {
            return Err(RuleSetError::Invalid {
                key: "future_tolerance_minutes",
                reason: format!("must be between 0 and 10080 (one week), got {}", self.future_tolerance_minutes),
            });
        }
        Ok(())
    }

    /// The rule that produces `code` (`None` for `DAY_HELD`, which is not a row rule).
    pub fn rule_for(&self, code: ReasonCode) -> Option<&RuleConfig> {
        use ReasonCode::*;
        let r = &self.rules;
        Some(match code {
            MissingDate | MissingPaintType | MissingQuantity | MissingUnitCost | MissingOperator => &r.required_fields,
            UnparseableDate | UnparseableQuantity | UnparseableUnitCost | UnparseableCost | MalformedLine => {
                &r.unparseable
            }
            NegativeQuantity => &r.negative_quantity,
            NegativeUnitCost => &r.negative_unit_cost,
            CostMismatch => &r.cost_mismatch,
            UnknownOperator => &r.unknown_operator,
            UnknownPaintType => &r.unknown_paint_type,
            FutureDate => &r.future_date,
            DateOutsideDay => &r.date_outside_day,
            DuplicateRow => &r.duplicate_row,
            DayHeld => return None,
        })
    }

    /// Whether the rule producing `code` is enabled.
    pub fn enabled(&self, code: ReasonCode) -> bool {
        self.rule_for(code).is_some_and(|r| r.enabled)
    }

    /// The severity configured for `code` (the held severity for `DAY_HELD`).
    pub fn severity_of(&self, code: ReasonCode) -> Severity {
        self.rule_for(code).map(|r| r.severity).unwrap_or(self.held_severity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_equals_the_defaults() {
        let text = include_str!("../rules.example.toml");
        assert_eq!(RuleSet::from_toml_str(text).unwrap(), RuleSet::default());
    }

    #[test]
    fn empty_toml_is_the_default_and_partial_tables_fill_in() {
        assert_eq!(RuleSet::from_toml_str("").unwrap(), RuleSet::default());
        let r = RuleSet::from_toml_str(
            "quarantine_threshold = 0.2\n[rules.duplicate_row]\nenabled = false\nseverity = \"INFO\"\n",
        )
        .unwrap();
        assert_eq!(r.quarantine_threshold, 0.2);
        assert!(!r.rules.duplicate_row.enabled);
        assert_eq!(r.severity_of(ReasonCode::DuplicateRow), Severity::Info);
        assert!(r.rules.cost_mismatch.enabled);
        assert_eq!(r.severity_of(ReasonCode::DayHeld), Severity::Critical);
    }

    #[test]
    fn errors_name_the_bad_key() {
        let e = RuleSet::from_toml_str("quarantine_treshold = 0.2").unwrap_err();
        let text = format!("{e}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default());
        assert!(text.contains("quarantine_treshold"), "{text}");

        let e = RuleSet::from_toml_str("[rules.cost_mismatch]\nseverity = \"LOUD\"").unwrap_err();
        let text = format!("{e}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default());
        assert!(text.contains("severity"), "{text}");

        let e = RuleSet::from_toml_str("quarantine_threshold = 1.5").unwrap_err();
        assert!(e.to_string().contains("quarantine_threshold"), "{e}");
        let e = RuleSet::from_toml_str("cost_abs_tolerance = -1.0").unwrap_err();
        assert!(e.to_string().contains("cost_abs_tolerance"), "{e}");
    }

    #[test]
    fn load_reports_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.toml");
        std::fs::write(&p, "nope = 1").unwrap();
        let e = RuleSet::load(&p).unwrap_err();
        assert!(e.to_string().contains("r.toml"), "{e}");
        assert!(matches!(RuleSet::load(dir.path().join("missing.toml")), Err(RuleSetError::Io { .. })));
    }
}
