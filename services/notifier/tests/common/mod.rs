//! Shared fixtures for the notifier's tests: events, envelopes, notifiers over a temp directory.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pinta_contracts::events::{ObjectRef, PipelineFailedV1, QuarantineSample, RowsQuarantinedV1};
use pinta_contracts::trace::TraceParent;
use pinta_contracts::{Envelope, FailureCode, PintaEvent, ReasonCode, Stage};
use pinta_notifier::{Notifier, NotifierConfig};
use pinta_platform::embedded::LocalObjectStore;
use pinta_platform::ports::{FixedClock, ObjectStore};
use pinta_platform::runner::HandlerContext;

pub fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 2, h, m, 0).single().expect("valid time")
}

pub fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, d).expect("valid day")
}

pub fn obj(key: &str) -> ObjectRef {
    ObjectRef { key: key.to_owned(), sha256: "ab".repeat(32), size: 10 }
}

pub fn failure(stage: Stage, code: FailureCode, d: Option<NaiveDate>) -> PipelineFailedV1 {
    PipelineFailedV1 {
        production_date: d,
        stage,
        code,
        message: format!("{stage} gave up: <boom> & co"),
        retryable: true,
        attempts: 5,
        object: None,
        rows: Some(120),
        caused_by: None,
        failed_at: t(0, 5),
    }
}

pub fn quarantine(d: NaiveDate, rows_in: u64, quarantined: u64, held: bool) -> RowsQuarantinedV1 {
    let mut reasons = BTreeMap::new();
    reasons.insert(ReasonCode::UnknownOperator, quarantined.saturating_sub(1));
    reasons.insert(ReasonCode::NegativeQuantity, 1);
    let mut values = BTreeMap::new();
    values.insert("Operador".to_owned(), "<script>x</script>".to_owned());
    values.insert("Cantidad producida".to_owned(), "-5".to_owned());
    RowsQuarantinedV1 {
        production_date: d,
        quarantine: obj(&format!("cuarentena/2025-03/cuarentena_{d}.parquet")),
        raw: obj(&format!("crudos/produccion_raw_{d}.csv")),
        rows_in,
        rows_quarantined: quarantined,
        ratio: if rows_in == 0 { 0.0 } else { quarantined as f64 / rows_in as f64 },
        held,
        reasons,
        liters_affected: 4321,
        cost_affected: 98765.5,
        samples: vec![QuarantineSample { line: 7, reasons: vec![ReasonCode::NegativeQuantity], values }],
        revision: 1,
        backfill: false,
    }
}

/// Wraps an event; `identity` decides the CloudEvents id (same identity → same id).
pub fn envelope(event: &PintaEvent, identity: &str, at: DateTime<Utc>) -> Envelope {
    let source = match event {
        PintaEvent::PipelineFailedV1(f) => format!("/pinta/{}", f.stage),
        _ => "/pinta/validator".to_owned(),
    };
    Envelope::wrap(&source, event, identity, at, Some(TraceParent::from_seed(identity.as_bytes())))
}

pub fn ctx(envelope: &Envelope) -> HandlerContext {
    HandlerContext {
        envelope: envelope.clone(),
        attempt: 1,
        traceparent: envelope.traceparent.unwrap_or_else(|| TraceParent::from_seed(b"x")),
    }
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn ObjectStore>,
    pub clock: Arc<FixedClock>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(dir.path().join("data")));
        Fixture { dir, store, clock: Arc::new(FixedClock::new(t(0, 0))) }
    }

    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    pub fn config(&self) -> NotifierConfig {
        let mut c = NotifierConfig::new(self.outbox());
        c.escalation = vec!["manager@localhost".to_owned()];
        c
    }

    pub async fn notifier(&self, config: NotifierConfig) -> Notifier {
        Notifier::new(config, self.store.clone(), self.clock.clone()).await.expect("notifier starts")
    }
}

/// The `.eml` files in a folder, sorted.
pub fn emls(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Parsed view of a message: subject, To, Cc, text, HTML.
pub struct Mail {
    pub raw: String,
    pub subject: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub text: String,
    pub html: String,
}

pub fn parse_mail(bytes: &[u8]) -> Mail {
    let msg = mail_parser::MessageParser::default().parse(bytes).expect("parsable RFC 5322 message");
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_owned)).collect()).unwrap_or_default()
    };
    Mail {
        raw: String::from_utf8_lossy(bytes).into_owned(),
        subject: msg.subject().unwrap_or_default().to_owned(),
        to: addrs(msg.to()),
        cc: addrs(msg.cc()),
        text: msg.body_text(0).map(|c| c.into_owned()).unwrap_or_default(),
        html: msg.body_html(0).map(|c| c.into_owned()).unwrap_or_default(),
    }
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
