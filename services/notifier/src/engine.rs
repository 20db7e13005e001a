//! The alerting state machine over time: de-duplication of redeliveries, correlation of occurrences
//! into incidents, repetition, the sliding escalation window and the WARNING digest.
//!
//! [`NotifierState`] is plain data (persisted as JSON by [`crate::notifier`]); [`observe`] is a pure
//! function of the state, the policy, one occurrence and the time, so every rule is testable without
//! I/O or a clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::{PolicyConfig, Severity};

/// Object-store key of the persisted state.
pub const STATE_KEY: &str = "_control/notifier/state.json";

/// Current layout version of [`NotifierState`].
pub const STATE_VERSION: u32 = 1;

/// Processed event ids are remembered at least this long (longer when the correlation window is).
const SEEN_RETENTION_DAYS: i64 = 7;

/// Event ids kept per incident.
const EVENT_IDS_PER_INCIDENT: usize = 20;

/// Everything the notifier remembers between events and restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifierState {
    #[serde(default)]
    pub version: u32,
    /// De-duplication keys (`source#id`) of processed events, with when they were processed.
    #[serde(default)]
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// Open incidents by correlation key.
    #[serde(default)]
    pub incidents: BTreeMap<String, Incident>,
    /// When CRITICAL occurrences happened (the escalation window slides over these).
    #[serde(default)]
    pub criticals: Vec<DateTime<Utc>>,
    /// WARNINGs waiting for the daily digest.
    #[serde(default)]
    pub digest: Vec<DigestEntry>,
    /// Mails handed to a channel (sent or put in the outbox), digests included.
    #[serde(default)]
    pub alerts_sent: u64,
    #[serde(default)]
    pub last_digest_at: Option<DateTime<Utc>>,
}

/// Occurrences of one cause, grouped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub key: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Distinct events (redeliveries excluded).
    pub occurrences: u64,
    /// Production days involved.
    pub days: BTreeSet<NaiveDate>,
    /// The most recent event ids.
    pub event_ids: Vec<String>,
    /// Highest severity the policy gave one occurrence.
    pub base_severity: Severity,
    /// Current severity (repetition included); never decreases.
    pub severity: Severity,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub last_sent_severity: Option<Severity>,
    /// Whether an alert about it already went to the escalation recipients.
    pub escalated: bool,
}

/// A WARNING waiting for the digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub incident: String,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub day: Option<NaiveDate>,
    pub summary: String,
    pub occurrences: u64,
    pub runbook: String,
    pub event_id: String,
}

/// One incoming event, reduced to what the state machine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// `source#id` of the envelope.
    pub dedup_key: String,
    /// The CloudEvents id (kept in the incident).
    pub event_id: String,
    /// Correlation key: occurrences with the same key are one incident.
    pub incident_key: String,
    pub day: Option<NaiveDate>,
    /// What the policy said about this occurrence alone.
    pub severity: Severity,
    /// One line for logs and the digest.
    pub summary: String,
    pub runbook: String,
}

/// Why a mail is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertKind {
    /// First mail about the incident.
    New,
    /// The incident's severity went up (repetition) since the last mail.
    Raised,
    /// The escalation threshold was crossed: the escalation recipients get it too.
    Escalation,
    /// Still happening; the last mail is older than the reminder interval.
    Reminder,
}

/// A mail to send for an occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPlan {
    pub kind: AlertKind,
    pub severity: Severity,
    pub incident: Incident,
    /// Also to the escalation recipients.
    pub escalate: bool,
}

/// What [`observe`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not an alerting event.
    Ignored,
    /// The same event (same `source#id`) was processed before: nothing counted, nothing sent.
    Duplicate,
    /// INFO: logged only.
    Logged { severity: Severity, occurrences: u64 },
    /// WARNING: added to (or counted in) the digest.
    Digested { occurrences: u64 },
    /// A mail goes out.
    Alert(Box<AlertPlan>),
    /// Counted into an incident already mailed; no new mail.
    Suppressed { severity: Severity, occurrences: u64 },
}

impl NotifierState {
    /// Forgets what fell out of every window at `now`.
    pub fn prune(&mut self, policy: &PolicyConfig, now: DateTime<Utc>) {
        let window = Duration::hours(i64::from(policy.correlation.window_hours));
        let retention = window.max(Duration::days(SEEN_RETENTION_DAYS));
        self.seen.retain(|_, at| now - *at < retention);
        self.incidents.retain(|_, i| now - i.last_seen < window);
        let esc = Duration::minutes(i64::from(policy.escalation.window_minutes));
        self.criticals.retain(|at| now - *at < esc);
    }

    /// When the pending digest becomes due, if there is one.
    pub fn digest_due_at(&self, policy: &PolicyConfig) -> Option<DateTime<Utc>> {
        let first = self.digest.iter().map(|e| e.first_at).min()?;
        let next_day = first.date_naive().succ_opt()?;
        let at = NaiveTime::from_hms_opt(policy.digest.send_hour_utc, 0, 0)?;
        Some(next_day.and_time(at).and_utc())
    }

    /// Whether the digest should be sent at `now`.
    pub fn digest_due(&self, policy: &PolicyConfig, now: DateTime<Utc>) -> bool {
        self.digest_due_at(policy).is_some_and(|due| now >= due)
    }
}

/// Applies one occurrence to the state and decides what to do. A returned [`Outcome::Alert`] is
/// already recorded as sent: if delivery fails the caller must drop the modified state.
pub fn observe(state: &mut NotifierState, policy: &PolicyConfig, occ: &Occurrence, now: DateTime<Utc>) -> Outcome {
    state.version = STATE_VERSION;
    state.prune(policy, now);
    if state.seen.contains_key(&occ.dedup_key) {
        return Outcome::Duplicate;
    }
    state.seen.insert(occ.dedup_key.clone(), now);

    let incident = state.incidents.entry(occ.incident_key.clone()).or_insert_with(|| Incident {
        key: occ.incident_key.clone(),
        first_seen: now,
        last_seen: now,
        occurrences: 0,
        days: BTreeSet::new(),
        event_ids: Vec::new(),
        base_severity: occ.severity,
        severity: occ.severity,
        last_sent_at: None,
        last_sent_severity: None,
        escalated: false,
    });
    incident.occurrences += 1;
    incident.last_seen = now;
    if let Some(day) = occ.day {
        incident.days.insert(day);
    }
    incident.event_ids.push(occ.event_id.clone());
    if incident.event_ids.len() > EVENT_IDS_PER_INCIDENT {
        let excess = incident.event_ids.len() - EVENT_IDS_PER_INCIDENT;
        incident.event_ids.drain(..excess);
    }
    incident.base_severity = incident.base_severity.max(occ.severity);
    let severity = policy.with_repetition(incident.base_severity, incident.occurrences).max(incident.severity);
    incident.severity = severity;

    let mut escalate_now = false;
    if severity == Severity::Critical {
        state.criticals.push(now);
        escalate_now = state.criticals.len() > policy.escalation.critical_threshold as usize;
    }

    match severity {
        Severity::Info => Outcome::Logged { severity, occurrences: incident.occurrences },
        Severity::Warning => {
            let occurrences = incident.occurrences;
            match state.digest.iter_mut().find(|e| e.incident == occ.incident_key) {
                Some(entry) => {
                    entry.occurrences = occurrences;
                    entry.last_at = now;
                }
                None => state.digest.push(DigestEntry {
                    incident: occ.incident_key.clone(),
                    first_at: now,
                    last_at: now,
                    day: occ.day,
                    summary: occ.summary.clone(),
                    occurrences,
                    runbook: occ.runbook.clone(),
                    event_id: occ.event_id.clone(),
                }),
            }
            Outcome::Digested { occurrences }
        }
        Severity::Error | Severity::Critical => {
            let reminder = policy.correlation.reminder_after_hours;
            let kind = match (incident.last_sent_at, incident.last_sent_severity) {
                (None, _) | (_, None) => Some(AlertKind::New),
                (Some(_), Some(sent)) if sent < severity => Some(AlertKind::Raised),
                _ if escalate_now && !incident.escalated => Some(AlertKind::Escalation),
                (Some(at), _) if reminder > 0 && now - at >= Duration::hours(i64::from(reminder)) => {
                    Some(AlertKind::Reminder)
                }
                _ => None,
            };
            match kind {
                None => Outcome::Suppressed { severity, occurrences: incident.occurrences },
                Some(kind) => {
                    let escalate = escalate_now || incident.escalated;
                    incident.last_sent_at = Some(now);
                    incident.last_sent_severity = Some(severity);
                    incident.escalated |= escalate;
                    state.alerts_sent += 1;
                    Outcome::Alert(Box::new(AlertPlan { kind, severity, incident: incident.clone(), escalate }))
                }
            }
        }
    }
}
