//! The severity policy as configuration: which [`Severity`] a `pipeline.failed.v1` or a
//! `rows.quarantined.v1` gets, and the knobs of repetition, correlation, escalation and the digest.
//!
//! The policy is data ([`PolicyConfig`], read from TOML); [`PolicyConfig::classify_failure`] and
//! [`PolicyConfig::classify_quarantine`] are pure functions of it. What happens *over time* (counting,
//! windows, escalation) lives in [`crate::engine`].

use std::fmt;
use std::path::Path;

use pinta_contracts::events::{PipelineFailedV1, RowsQuarantinedV1};
use pinta_contracts::{FailureCode, ReasonCode, Stage};
use serde::{Deserialize, Serialize};

/// How bad an alert is. Ordered: `Info < Warning < Error < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Only logged.
    Info,
    /// Collected into the daily digest.
    Warning,
    /// Sent at once.
    Error,
    /// Sent at once; counts towards escalation.
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

    /// One level up (CRITICAL stays CRITICAL).
    pub fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Warning,
            Severity::Warning => Severity::Error,
            Severity::Error | Severity::Critical => Severity::Critical,
        }
    }

    /// Whether an alert of this severity is sent at once.
    pub fn is_immediate(self) -> bool {
        self >= Severity::Error
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failure rule: matches when every field that is set matches. The first matching rule wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<FailureCode>,
    pub severity: Severity,
}

/// Severity of `pipeline.failed.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailurePolicy {
    /// When no rule matches.
    pub default: Severity,
    /// Checked in order; the first match wins.
    #[serde(default)]
    pub rules: Vec<FailureRule>,
}

/// A quarantine carrying `reason` is at least `severity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonRule {
    pub reason: ReasonCode,
    pub severity: Severity,
}

/// Severity of `rows.quarantined.v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantinePolicy {
    /// Any quarantine below the thresholds.
    pub base: Severity,
    /// `ratio >= warning_ratio` → WARNING.
    pub warning_ratio: f64,
    /// `ratio >= error_ratio` → ERROR.
    pub error_ratio: f64,
    /// A held day (nothing published).
    pub held: Severity,
    /// Minimum severity when a reason is present.
    #[serde(default)]
    pub reasons: Vec<ReasonRule>,
}

/// The same incident recurring escalates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepetitionPolicy {
    /// From this many occurrences of one incident on, its severity is one level higher (0 = never).
    pub escalate_after: u32,
}

/// Grouping of occurrences into one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationPolicy {
    /// An occurrence within this many hours of the incident's last one joins it.
    pub window_hours: u32,
    /// A reminder is sent for an ongoing incident when the last mail is older than this (0 = never).
    pub reminder_after_hours: u32,
}

/// Escalation to the escalation recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    /// More than this many CRITICAL occurrences within the window escalate.
    pub critical_threshold: u32,
    pub window_minutes: u32,
}

/// The WARNING digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestPolicy {
    /// The digest of day D is sent at this UTC hour of day D+1 (0–23).
    pub send_hour_utc: u32,
}

/// The whole policy. [`Default`] is the built-in one, equal to `policy.example.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub failures: FailurePolicy,
    pub quarantine: QuarantinePolicy,
    pub repetition: RepetitionPolicy,
    pub correlation: CorrelationPolicy,
    pub escalation: EscalationPolicy,
    pub digest: DigestPolicy,
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid policy TOML: {source}")]
    Parse { source: toml::de::Error },
    #[error("invalid policy: {0}")]
    Invalid(String),
}

impl Default for PolicyConfig {
    fn default() -> Self {
        use FailureCode as C;
        let rule = |stage: Option<Stage>, code: Option<FailureCode>, severity| FailureRule { stage, code, severity };
        PolicyConfig {
            failures: FailurePolicy {
                default: Severity::Error,
                rules: vec![
                    rule(None, Some(C::DayHeld), Severity::Critical),
                    rule(None, Some(C::InvalidConfiguration), Severity::Critical),
                    rule(Some(Stage::Extractor), Some(C::SourceUnavailable), Severity::Critical),
                    rule(None, Some(C::StorageUnavailable), Severity::Critical),
                    rule(None, Some(C::MalformedMessage), Severity::Warning),
                    rule(None, Some(C::UnknownEventType), Severity::Warning),
                    rule(Some(Stage::Gateway), None, Severity::Warning),
                ],
            },
            quarantine: QuarantinePolicy {
                base: Severity::Info,
                warning_ratio: 0.05,
                error_ratio: 0.2,
                held: Severity::Critical,
                reasons: vec![ReasonRule { reason: ReasonCode::FutureDate, severity: Severity::Warning }],
            },
            repetition: RepetitionPolicy { escalate_after: 3 },
            correlation: CorrelationPolicy { window_hours: 24, reminder_after_hours: 6 },
            escalation: EscalationPolicy { critical_threshold: 3, window_minutes: 60 },
            digest: DigestPolicy { send_hour_utc: 7 },
        }
    }
}

impl PolicyConfig {
    /// Parses and validates a TOML policy.
    pub fn from_toml_str(text: &str) -> Result<PolicyConfig, PolicyError> {
        let policy: PolicyConfig = toml::from_str(text).map_err(|source| PolicyError::Parse { source })?;
        policy.validate()?;
        Ok(policy)
    }

    /// Reads a TOML policy file.
    pub fn load(path: &Path) -> Result<PolicyConfig, PolicyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PolicyError::Read { path: path.display().to_string(), source })?;
        PolicyConfig::from_toml_str(&text)
    }

    /// Checks the numbers make sense.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let q = &self.quarantine;
        let ratio_ok = |r: f64| r.is_finite() && (0.0..=1.0).contains(&r);
        if !ratio_ok(q.warning_ratio) || !ratio_ok(q.error_ratio) {
            return Err(PolicyError::Invalid("quarantine ratios must lie between 0 and 1".into()));
        }
        if q.warning_ratio > q.error_ratio {
            return Err(PolicyError::Invalid(format!(
                "quarantine.warning_ratio ({}) is above quarantine.error_ratio ({})",
                q.warning_ratio, q.error_ratio
            )));
        }
        if self.correlation.window_hours == 0 {
            return Err(PolicyError::Invalid("correlation.window_hours must be at least 1".into()));
        }
        if self.escalation.window_minutes == 0 {
            return Err(PolicyError::Invalid("escalation.window_minutes must be at least 1".into()));
        }
        if self.digest.send_hour_utc > 23 {
            return Err(PolicyError::Invalid(format!(
                "digest.send_hour_utc must be 0-23, got {}",
                self.digest.send_hour_utc
            )));
        }
        Ok(())
    }

    /// Severity of a failure, before repetition.
    pub fn classify_failure(&self, failure: &PipelineFailedV1) -> Severity {
        self.failures
            .rules
            .iter()
            .find(|r| r.stage.is_none_or(|s| s == failure.stage) && r.code.is_none_or(|c| c == failure.code))
            .map(|r| r.severity)
            .unwrap_or(self.failures.default)
    }

    /// Severity of a quarantine, before repetition.
    pub fn classify_quarantine(&self, q: &RowsQuarantinedV1) -> Severity {
        let p = &self.quarantine;
        if q.held {
            return p.held;
        }
        let by_ratio = if q.ratio >= p.error_ratio {
            Severity::Error
        } else if q.ratio >= p.warning_ratio {
            Severity::Warning
        } else {
            p.base
        };
        let by_reason = p
            .reasons
            .iter()
            .filter(|r| q.reasons.get(&r.reason).is_some_and(|n| *n > 0))
            .map(|r| r.severity)
            .max()
            .unwrap_or(Severity::Info);
        by_ratio.max(by_reason)
    }

    /// Severity after `occurrences` of the same incident.
    pub fn with_repetition(&self, base: Severity, occurrences: u64) -> Severity {
        let n = self.repetition.escalate_after;
        if n > 0 && occurrences >= u64::from(n) { base.raised() } else { base }
    }
}
