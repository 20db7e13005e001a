//! E-mail end to end against a real SMTP server (aiosmtpd, started here on a free loopback port with
//! the interpreter in `PINTA_PYTHON`, else `python3`), and the outbox fallback when the relay is down.
//! A missing `aiosmtpd` fails the test; it is never skipped.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use pinta_contracts::{FailureCode, PintaEvent, Stage};
use pinta_notifier::engine::Outcome;
use pinta_notifier::{Delivery, NotifierConfig, SmtpConfig, TlsMode};
use pinta_platform::retry::RetryPolicy;

struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn start_sink(dir: &Path) -> SmtpSink {
    let python = std::env::var("PINTA_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".to_owned());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
    let port = free_port();
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(dir)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {python} (set PINTA_PYTHON to a Python with aiosmtpd): {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    if line.trim() != "READY" {
        let _ = child.kill();
        let out = child.wait_with_output().expect("sink output");
        panic!(
            "the SMTP sink did not start with {python}: {}\n(install it: {python} -m pip install -r scripts/requirements-test.txt)",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    SmtpSink { child, port, dir: dir.to_owned() }
}

fn smtp_config(fx: &Fixture, port: u16) -> NotifierConfig {
    let mut c = fx.config();
    c.smtp = Some(SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        credentials: None,
        timeout: Duration::from_secs(5),
    });
    c.channel_retry = RetryPolicy { max_attempts: 3, base: Duration::from_millis(20), max: Duration::from_millis(100) };
    c
}

#[tokio::test]
async fn a_critical_failure_is_one_mail_on_a_real_smtp_server() {
    let fx = Fixture::new();
    let sink = start_sink(&fx.dir.path().join("smtp"));
    let n = fx.notifier(smtp_config(&fx, sink.port)).await;

    // Three CRITICALs first, so the one under test is the fourth within the hour (escalated).
    for d in 2..=4 {
        let e = PintaEvent::RowsQuarantinedV1(quarantine(day(d), 100, 50, true));
        n.process(&e, &envelope(&e, &format!("warm-{d}"), t(0, 1))).await.expect("handled");
    }
    let event = PintaEvent::PipelineFailedV1(failure(Stage::Extractor, FailureCode::SourceUnavailable, Some(day(1))));
    let env = envelope(&event, "critical", t(0, 5));
    fx.clock.set(t(0, 5));
    let p = n.process(&event, &env).await.expect("handled");
    assert_eq!(p.deliveries, vec![Delivery::Sent]);
    // Redelivery: no second mail.
    assert_eq!(n.process(&event, &env).await.expect("handled").outcome, Outcome::Duplicate);

    let mails = emls(&sink.dir);
    assert_eq!(mails.len(), 4, "three warm-up mails and exactly one for the failure");
    let last = mails.last().expect("a mail");
    let mail = parse_mail(&std::fs::read(last).expect("read"));
    assert_eq!(mail.subject, "[CRITICAL] Pinta extractor: extractor falló con SOURCE_UNAVAILABLE (día 2025-03-01)");
    assert_eq!(mail.to, vec!["ops@localhost".to_owned()]);
    assert_eq!(mail.cc, vec!["manager@localhost".to_owned()]);
    let rcpt = std::fs::read_to_string(last.with_extension("rcpt")).expect("rcpt");
    let mut rcpt: Vec<&str> = rcpt.lines().collect();
    rcpt.sort_unstable();
    assert_eq!(rcpt, vec!["manager@localhost", "ops@localhost"]);
    assert!(mail.raw.contains("multipart/alternative"));
    for body in [&mail.text, &mail.html] {
        assert!(body.contains("2025-03-01"), "day");
        assert!(body.contains("120"), "rows affected");
        assert!(body.contains("docs/runbooks/source-unavailable.md"), "runbook");
        assert!(body.contains(&env.id), "event id");
    }
    assert!(!mail.html.contains("<boom>"), "HTML escaped");
    assert!(emls(&fx.outbox()).is_empty(), "nothing fell back to the outbox");
}

#[tokio::test]
async fn an_unreachable_relay_falls_back_to_the_outbox() {
    let fx = Fixture::new();
    let closed = free_port(); // bound then released: nothing listens there
    let n = fx.notifier(smtp_config(&fx, closed)).await;
    let event = PintaEvent::PipelineFailedV1(failure(Stage::Transformer, FailureCode::UnreadableInput, Some(day(1))));
    let p = n.process(&event, &envelope(&event, "x", t(0, 5))).await.expect("handled despite the relay");
    assert!(matches!(p.deliveries.as_slice(), [Delivery::Outbox(_)]), "{:?}", p.deliveries);
    let files = emls(&fx.outbox());
    assert_eq!(files.len(), 1);
    let mail = parse_mail(&std::fs::read(&files[0]).expect("read"));
    assert_eq!(mail.subject, "[ERROR] Pinta transformer: transformer falló con UNREADABLE_INPUT (día 2025-03-01)");
    assert_eq!(mail.to, vec!["ops@localhost".to_owned()]);
    assert!(mail.text.contains("docs/runbooks/unreadable-input.md"));
}
