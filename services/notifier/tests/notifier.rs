//! The handler over a local store and the outbox: de-duplication across redeliveries and restarts,
//! the held-day correlation, the digest, rendering, runbook links and configuration errors.

mod common;

use chrono::Duration;
use common::*;
use pinta_contracts::{FailureCode, PintaEvent, Stage};
use pinta_notifier::engine::{AlertKind, Outcome};
use pinta_notifier::render::{self, Subject, Trace};
use pinta_notifier::{Delivery, NotifierConfig, STATE_KEY};
use pinta_platform::ports::ObjectStoreExt;
use pinta_platform::runner::EventHandler;

#[tokio::test]
async fn redelivery_and_restart_never_mail_twice() {
    let fx = Fixture::new();
    let event = PintaEvent::PipelineFailedV1(failure(Stage::Extractor, FailureCode::SourceUnavailable, Some(day(1))));
    let env = envelope(&event, "run-1", t(0, 5));
    {
        let n = fx.notifier(fx.config()).await;
        assert_eq!(n.name(), "notifier");
        assert_eq!(n.stage(), Stage::Notifier);
        assert!(n.handle(event.clone(), &ctx(&env)).await.expect("handled").is_empty());
        let again = n.process(&event, &env).await.expect("redelivery handled");
        assert_eq!(again.outcome, Outcome::Duplicate);
        assert_eq!(emls(&fx.outbox()).len(), 1);
    }
    // A new notifier over the same store: same event again → nothing; the state was kept.
    fx.clock.set(t(0, 30));
    let n = fx.notifier(fx.config()).await;
    let state = n.load_state().await.expect("state");
    assert_eq!(state.incidents.len(), 1);
    assert_eq!(state.alerts_sent, 1);
    assert!(fx.store.exists(STATE_KEY).await.expect("store"));
    assert_eq!(n.process(&event, &env).await.expect("handled").outcome, Outcome::Duplicate);
    // A distinct occurrence of the same cause is counted into the same incident, not mailed.
    let retry_env = envelope(&event, "run-2", t(0, 30));
    let p = n.process(&event, &retry_env).await.expect("handled");
    assert!(matches!(p.outcome, Outcome::Suppressed { occurrences: 2, .. }), "{:?}", p.outcome);
    assert_eq!(emls(&fx.outbox()).len(), 1);
    let state = n.load_state().await.expect("state");
    assert_eq!(state.incidents.values().next().map(|i| i.occurrences), Some(2));
}

#[tokio::test]
async fn a_held_day_reported_twice_is_one_alert_with_its_impact() {
    let fx = Fixture::new();
    let n = fx.notifier(fx.config()).await;
    let q = PintaEvent::RowsQuarantinedV1(quarantine(day(1), 100, 42, true));
    let q_env = envelope(&q, "q", t(0, 5));
    let p = n.process(&q, &q_env).await.expect("handled");
    assert!(matches!(p.outcome, Outcome::Alert(_)));
    assert!(matches!(p.deliveries.as_slice(), [Delivery::Outbox(_)]));
    let f = PintaEvent::PipelineFailedV1(failure(Stage::Validator, FailureCode::DayHeld, Some(day(1))));
    let p = n.process(&f, &envelope(&f, "f", t(0, 6))).await.expect("handled");
    assert!(matches!(p.outcome, Outcome::Suppressed { occurrences: 2, .. }), "{:?}", p.outcome);

    let files = emls(&fx.outbox());
    assert_eq!(files.len(), 1);
    let mail = parse_mail(&std::fs::read(&files[0]).expect("read eml"));
    assert_eq!(mail.subject, "[CRITICAL] Pinta validator: día 2025-03-01 retenido (42% en cuarentena)");
    assert_eq!(mail.to, vec!["ops@localhost".to_owned()]);
    assert!(mail.cc.is_empty());
    assert!(mail.raw.contains("multipart/alternative"));
    for body in [&mail.text, &mail.html] {
        assert!(body.contains("2025-03-01"));
        assert!(body.contains("4321"), "litres");
        assert!(body.contains("98765.50"), "cost");
        assert!(body.contains("UNKNOWN_OPERATOR"));
        assert!(body.contains("docs/runbooks/day-held.md"));
        assert!(body.contains(&q_env.id), "event id");
        assert!(body.contains(&q_env.traceparent.expect("traceparent").to_string()));
    }
    assert!(mail.text.contains("<script>x</script>"), "text keeps the raw sample");
    assert!(!mail.html.contains("<script>"), "HTML is escaped");
    assert!(mail.html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn warnings_go_into_a_digest_sent_after_the_day_rolls_over() {
    let fx = Fixture::new();
    let n = fx.notifier(fx.config()).await;
    fx.clock.set(t(10, 0));
    let w = PintaEvent::RowsQuarantinedV1(quarantine(day(2), 100, 7, false));
    let p = n.process(&w, &envelope(&w, "w", t(10, 0))).await.expect("handled");
    assert_eq!(p.outcome, Outcome::Digested { occurrences: 1 });
    let info = PintaEvent::RowsQuarantinedV1(quarantine(day(1), 1000, 2, false));
    let p = n.process(&info, &envelope(&info, "i", t(10, 0))).await.expect("handled");
    assert!(matches!(p.outcome, Outcome::Logged { .. }));
    assert!(emls(&fx.outbox()).is_empty());
    assert_eq!(n.flush_digest(t(23, 0)).await.expect("flush"), None, "not due the same day");

    // Next morning after 07:00 any event sends the due digest first.
    let next = t(8, 0) + Duration::days(1);
    fx.clock.set(next);
    let other = PintaEvent::RowsQuarantinedV1(quarantine(day(3), 1000, 1, false));
    let p = n.process(&other, &envelope(&other, "o", next)).await.expect("handled");
    assert_eq!(p.deliveries.len(), 1, "the digest");
    let files = emls(&fx.outbox());
    assert_eq!(files.len(), 1);
    let mail = parse_mail(&std::fs::read(&files[0]).expect("read"));
    assert!(mail.subject.starts_with("[WARNING] Pinta: resumen diario del 2025-03-02"), "{}", mail.subject);
    assert!(mail.text.contains("docs/runbooks/data-quality.md"));
    assert_eq!(n.send_due_digest().await.expect("flush"), None, "already sent");
}

#[tokio::test]
async fn the_scheduler_can_flush_the_digest() {
    let fx = Fixture::new();
    let n = fx.notifier(fx.config()).await;
    let w = PintaEvent::PipelineFailedV1(failure(Stage::Gateway, FailureCode::Internal, None));
    n.process(&w, &envelope(&w, "g", t(12, 0))).await.expect("handled");
    let due = t(7, 0) + Duration::days(1);
    assert!(matches!(n.flush_digest(due).await.expect("flush"), Some(Delivery::Outbox(_))));
    assert_eq!(emls(&fx.outbox()).len(), 1);
    assert!(n.load_state().await.expect("state").digest.is_empty());
}

#[tokio::test]
async fn the_fourth_critical_in_an_hour_copies_the_escalation_list() {
    let fx = Fixture::new();
    let n = fx.notifier(fx.config()).await;
    for d in 1..=4 {
        fx.clock.set(t(1, d * 10));
        let e = PintaEvent::RowsQuarantinedV1(quarantine(day(d), 100, 50, true));
        n.process(&e, &envelope(&e, &format!("held-{d}"), t(1, d * 10))).await.expect("handled");
    }
    let mails: Vec<_> = emls(&fx.outbox()).iter().map(|p| parse_mail(&std::fs::read(p).expect("read"))).collect();
    assert_eq!(mails.len(), 4);
    let escalated: Vec<_> = mails.iter().filter(|m| m.cc == vec!["manager@localhost".to_owned()]).collect();
    assert_eq!(escalated.len(), 1);
    assert!(escalated[0].subject.contains("2025-03-04"));
}

#[test]
fn every_runbook_link_points_to_a_file() {
    let root = workspace_root();
    let names = render::all_runbooks();
    assert!(names.len() >= 10);
    for name in names {
        let link = render::runbook_link(pinta_notifier::config::DEFAULT_RUNBOOK_BASE_URL, name);
        assert!(root.join(&link).is_file(), "{link} does not exist");
    }
    for code in FailureCode::ALL {
        let f = failure(Stage::Extractor, *code, None);
        let link = render::runbook_link("docs/runbooks/", Subject::Failure(&f).runbook());
        assert!(root.join(&link).is_file(), "{link} does not exist");
    }
}

#[test]
fn subjects_stay_within_100_characters() {
    let mut f = failure(Stage::Gateway, FailureCode::InvalidConfiguration, Some(day(1)));
    f.message = format!("<boom> & co {}", "x".repeat(500));
    let plan = pinta_notifier::engine::AlertPlan {
        kind: AlertKind::Escalation,
        severity: pinta_notifier::Severity::Critical,
        escalate: true,
        incident: pinta_notifier::engine::Incident {
            key: "k".into(),
            first_seen: t(0, 0),
            last_seen: t(0, 0),
            occurrences: 123456,
            days: Default::default(),
            event_ids: vec![],
            base_severity: pinta_notifier::Severity::Critical,
            severity: pinta_notifier::Severity::Critical,
            last_sent_at: None,
            last_sent_severity: None,
            escalated: false,
        },
    };
    let trace = Trace { event_id: "id".into(), source: "/s".into(), event_type: "t".into(), traceparent: None };
    let r = render::render_alert(Subject::Failure(&f), &plan, &trace, "https://wiki.example/rb", t(0, 0));
    assert!(r.subject.chars().count() <= 100, "{}", r.subject);
    assert!(r.html.contains("https://wiki.example/rb/invalid-configuration.md"));
    assert!(r.html.contains("&lt;boom&gt; &amp; co"));
    assert_eq!(render::truncate_chars(&"á".repeat(150), 100).chars().count(), 100);
}

#[test]
fn configuration_errors_name_the_variable() {
    let dir = std::path::PathBuf::from("outbox");
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let c = NotifierConfig::from_lookup(dir.clone(), env(&[])).expect("defaults");
    assert_eq!(c.recipients, vec!["ops@localhost".to_owned()]);
    assert!(c.escalation.is_empty() && c.smtp.is_none() && c.webhook_url.is_none());

    let c = NotifierConfig::from_lookup(
        dir.clone(),
        env(&[
            ("PINTA_ALERT_RECIPIENTS", "a@x.test, b@x.test"),
            ("PINTA_ALERT_ESCALATION", "boss@x.test"),
            ("PINTA_SMTP_HOST", "mail.x.test"),
            ("PINTA_SMTP_TLS", "tls"),
            ("PINTA_SMTP_USER", "u"),
            ("PINTA_SMTP_PASSWORD", "p"),
        ]),
    )
    .expect("valid");
    assert_eq!(c.recipients.len(), 2);
    let smtp = c.smtp.expect("smtp");
    assert_eq!((smtp.port, smtp.tls), (465, pinta_notifier::TlsMode::Tls));
    assert!(!format!("{smtp:?}").contains("\"p\""), "password not in Debug");

    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PINTA_ALERT_RECIPIENTS", "not an address")], "PINTA_ALERT_RECIPIENTS"),
        (&[("PINTA_ALERT_ESCALATION", "a@x.test,@@")], "PINTA_ALERT_ESCALATION"),
        (&[("PINTA_SMTP_HOST", "h"), ("PINTA_SMTP_TLS", "ssl")], "PINTA_SMTP_TLS"),
        (&[("PINTA_SMTP_HOST", "h"), ("PINTA_SMTP_PORT", "99999")], "PINTA_SMTP_PORT"),
        (&[("PINTA_SMTP_HOST", "h"), ("PINTA_SMTP_USER", "u")], "PINTA_SMTP_PASSWORD"),
        (&[("PINTA_SMTP_PORT", "25")], "PINTA_SMTP_PORT"),
        (&[("PINTA_ALERT_WEBHOOK_URL", "ftp://x")], "PINTA_ALERT_WEBHOOK_URL"),
        (&[("PINTA_ALERT_POLICY_FILE", "no/such.toml")], "PINTA_ALERT_POLICY_FILE"),
        (&[("PINTA_ALERT_FROM", "nobody")], "PINTA_ALERT_FROM"),
    ];
    for (pairs, var) in cases {
        let lookup = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let e = NotifierConfig::from_lookup(dir.clone(), lookup).expect_err(var);
        assert!(e.to_string().starts_with(var), "{var}: {e}");
    }
}
