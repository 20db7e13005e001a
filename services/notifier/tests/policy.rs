//! The severity policy and the incident engine: every rule, without I/O.

mod common;

use chrono::Duration;
use common::*;
use pinta_contracts::{FailureCode, ReasonCode, Stage};
use pinta_notifier::engine::{AlertKind, NotifierState, Occurrence, Outcome, observe};
use pinta_notifier::policy::{PolicyConfig, PolicyError, Severity};

#[test]
fn example_file_equals_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy.example.toml");
    let parsed = PolicyConfig::load(&path).expect("policy.example.toml parses");
    assert_eq!(parsed, PolicyConfig::default());
}

#[test]
fn bad_policies_give_readable_errors() {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy.example.toml"))
        .expect("read example");
    let bad_severity = text.replace("default = \"ERROR\"", "default = \"LOUD\"");
    let e = PolicyConfig::from_toml_str(&bad_severity).expect_err("unknown severity");
    assert!(matches!(e, PolicyError::Parse { .. }));
    assert!(e.to_string().contains("LOUD"), "{e}");

    let swapped = text.replace("warning_ratio = 0.05", "warning_ratio = 0.5");
    let e = PolicyConfig::from_toml_str(&swapped).expect_err("warning above error");
    assert!(e.to_string().contains("warning_ratio"), "{e}");

    let e = PolicyConfig::load(std::path::Path::new("no/such/policy.toml")).expect_err("missing file");
    assert!(e.to_string().contains("no/such/policy.toml"), "{e}");
}

#[test]
fn failures_classify_by_code_then_stage_then_default() {
    let p = PolicyConfig::default();
    let f = |stage, code| p.classify_failure(&failure(stage, code, Some(day(1))));
    assert_eq!(f(Stage::Validator, FailureCode::DayHeld), Severity::Critical);
    assert_eq!(f(Stage::Extractor, FailureCode::SourceUnavailable), Severity::Critical);
    assert_eq!(f(Stage::Reconciler, FailureCode::SourceUnavailable), Severity::Error);
    assert_eq!(f(Stage::Transformer, FailureCode::MalformedMessage), Severity::Warning);
    assert_eq!(f(Stage::Gateway, FailureCode::Internal), Severity::Warning);
    assert_eq!(f(Stage::Transformer, FailureCode::UnreadableInput), Severity::Error);
}

#[test]
fn quarantines_classify_by_ratio_held_and_reason() {
    let p = PolicyConfig::default();
    assert_eq!(p.classify_quarantine(&quarantine(day(1), 100, 1, false)), Severity::Info);
    assert_eq!(p.classify_quarantine(&quarantine(day(1), 100, 5, false)), Severity::Warning);
    assert_eq!(p.classify_quarantine(&quarantine(day(1), 100, 19, false)), Severity::Warning);
    assert_eq!(p.classify_quarantine(&quarantine(day(1), 100, 20, false)), Severity::Error);
    assert_eq!(p.classify_quarantine(&quarantine(day(1), 100, 42, true)), Severity::Critical);
    let mut low = quarantine(day(1), 1000, 2, false);
    low.reasons.insert(ReasonCode::FutureDate, 1);
    assert_eq!(p.classify_quarantine(&low), Severity::Warning, "a listed reason sets a minimum");
}

fn occ(id: &str, key: &str, severity: Severity) -> Occurrence {
    Occurrence {
        dedup_key: format!("/pinta/test#{id}"),
        event_id: id.to_owned(),
        incident_key: key.to_owned(),
        day: Some(day(1)),
        severity,
        summary: format!("summary {key}"),
        runbook: "internal".to_owned(),
    }
}

fn alert_kind(o: &Outcome) -> Option<(AlertKind, bool, u64)> {
    match o {
        Outcome::Alert(plan) => Some((plan.kind, plan.escalate, plan.incident.occurrences)),
        _ => None,
    }
}

#[test]
fn redelivery_of_the_same_event_counts_once() {
    let p = PolicyConfig::default();
    let mut s = NotifierState::default();
    let first = observe(&mut s, &p, &occ("e1", "k", Severity::Error), t(1, 0));
    assert_eq!(alert_kind(&first), Some((AlertKind::New, false, 1)));
    let again = observe(&mut s, &p, &occ("e1", "k", Severity::Error), t(1, 1));
    assert_eq!(again, Outcome::Duplicate);
    assert_eq!(s.incidents["k"].occurrences, 1);
    assert_eq!(s.alerts_sent, 1);
}

#[test]
fn repeated_failures_correlate_into_one_incident_and_escalate_one_level() {
    let p = PolicyConfig::default();
    let mut s = NotifierState::default();
    assert!(alert_kind(&observe(&mut s, &p, &occ("a", "k", Severity::Error), t(1, 0))).is_some());
    // Second occurrence (another id, e.g. next day's run): counted, not mailed.
    assert_eq!(
        observe(&mut s, &p, &occ("b", "k", Severity::Error), t(2, 0)),
        Outcome::Suppressed { severity: Severity::Error, occurrences: 2 }
    );
    // Third: repetition raises ERROR to CRITICAL, which is mailed once more.
    let third = observe(&mut s, &p, &occ("c", "k", Severity::Error), t(3, 0));
    match &third {
        Outcome::Alert(plan) => {
            assert_eq!(plan.kind, AlertKind::Raised);
            assert_eq!(plan.severity, Severity::Critical);
            assert_eq!(plan.incident.occurrences, 3);
        }
        other => panic!("expected a raised alert, got {other:?}"),
    }
    assert!(matches!(observe(&mut s, &p, &occ("d", "k", Severity::Error), t(4, 0)), Outcome::Suppressed { .. }));
}

#[test]
fn a_reminder_goes_out_after_the_cool_down() {
    let p = PolicyConfig::default(); // reminder after 6 h
    let mut s = NotifierState::default();
    observe(&mut s, &p, &occ("a", "k", Severity::Critical), t(0, 0));
    assert!(matches!(observe(&mut s, &p, &occ("b", "k", Severity::Critical), t(5, 0)), Outcome::Suppressed { .. }));
    let later = observe(&mut s, &p, &occ("c", "k", Severity::Critical), t(6, 30));
    assert_eq!(alert_kind(&later).map(|k| k.0), Some(AlertKind::Reminder));
}

#[test]
fn an_incident_closes_after_the_correlation_window() {
    let p = PolicyConfig::default(); // 24 h
    let mut s = NotifierState::default();
    observe(&mut s, &p, &occ("a", "k", Severity::Error), t(0, 0));
    let next = observe(&mut s, &p, &occ("b", "k", Severity::Error), t(0, 0) + Duration::hours(25));
    assert_eq!(alert_kind(&next), Some((AlertKind::New, false, 1)));
}

#[test]
fn the_fourth_critical_within_an_hour_escalates() {
    let p = PolicyConfig::default();
    let mut s = NotifierState::default();
    for (i, minute) in [0, 10, 20].iter().enumerate() {
        let o = observe(&mut s, &p, &occ(&format!("e{i}"), &format!("k{i}"), Severity::Critical), t(1, *minute));
        assert_eq!(alert_kind(&o), Some((AlertKind::New, false, 1)), "critical #{}", i + 1);
    }
    let fourth = observe(&mut s, &p, &occ("e3", "k3", Severity::Critical), t(1, 59));
    assert_eq!(alert_kind(&fourth), Some((AlertKind::New, true, 1)));
}

#[test]
fn four_criticals_spread_over_two_hours_do_not_escalate() {
    let p = PolicyConfig::default();
    let mut s = NotifierState::default();
    let times = [t(1, 0), t(1, 40), t(2, 20), t(3, 0)];
    for (i, at) in times.iter().enumerate() {
        let o = observe(&mut s, &p, &occ(&format!("e{i}"), &format!("k{i}"), Severity::Critical), *at);
        assert_eq!(alert_kind(&o), Some((AlertKind::New, false, 1)), "critical #{}", i + 1);
    }
}

#[test]
fn escalation_reaches_an_incident_already_mailed() {
    let p = PolicyConfig::default();
    let mut s = NotifierState::default();
    observe(&mut s, &p, &occ("a", "same", Severity::Critical), t(1, 0));
    observe(&mut s, &p, &occ("b", "same", Severity::Critical), t(1, 5));
    observe(&mut s, &p, &occ("c", "same", Severity::Critical), t(1, 10));
    let fourth = observe(&mut s, &p, &occ("d", "same", Severity::Critical), t(1, 15));
    assert_eq!(alert_kind(&fourth), Some((AlertKind::Escalation, true, 4)));
    // Escalated once; the fifth is only counted.
    assert!(matches!(observe(&mut s, &p, &occ("e", "same", Severity::Critical), t(1, 20)), Outcome::Suppressed { .. }));
}

#[test]
fn warnings_wait_for_the_digest_and_info_is_only_logged() {
    let p = PolicyConfig::default(); // digest at 07:00 UTC the next day
    let mut s = NotifierState::default();
    assert!(matches!(observe(&mut s, &p, &occ("i", "info", Severity::Info), t(9, 0)), Outcome::Logged { .. }));
    assert_eq!(observe(&mut s, &p, &occ("w1", "warn", Severity::Warning), t(9, 0)), Outcome::Digested { occurrences: 1 });
    assert_eq!(observe(&mut s, &p, &occ("w2", "warn", Severity::Warning), t(10, 0)), Outcome::Digested { occurrences: 2 });
    assert_eq!(s.digest.len(), 1);
    assert_eq!(s.digest[0].occurrences, 2);
    assert!(!s.digest_due(&p, t(23, 59)));
    let next_morning = t(7, 0) + Duration::days(1);
    assert_eq!(s.digest_due_at(&p), Some(next_morning));
    assert!(s.digest_due(&p, next_morning));
}
