//! Versioned event payloads and their typed decoding.
//!
//! A type name is `<family>.v<N>`. A new version is a new type; old versions stay decodable. A
//! consumer that meets a family it does not know, or a version of a known family it does not know,
//! gets a [`DecodeError`] (never a panic) and sends the message to its dead-letter queue.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reasons::{FailureCode, ReasonCode, Stage};

/// The event types this version of the contracts knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    ProductionExtractedV1,
    ProductionTransformedV1,
    ProductionPublishedV1,
    RowsQuarantinedV1,
    PipelineFailedV1,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::ProductionExtractedV1,
        EventType::ProductionTransformedV1,
        EventType::ProductionPublishedV1,
        EventType::RowsQuarantinedV1,
        EventType::PipelineFailedV1,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ProductionExtractedV1 => "production.extracted.v1",
            EventType::ProductionTransformedV1 => "production.transformed.v1",
            EventType::ProductionPublishedV1 => "production.published.v1",
            EventType::RowsQuarantinedV1 => "rows.quarantined.v1",
            EventType::PipelineFailedV1 => "pipeline.failed.v1",
        }
    }

    /// The family, without the version: `production.published`.
    pub fn family(self) -> &'static str {
        let s = self.as_str();
        s.rsplit_once('.').map(|(family, _)| family).unwrap_or(s)
    }

    /// The `dataschema` URI of this type's payload; the schema itself is committed as
    /// `contracts/schemas/<type>.json`.
    pub fn schema_uri(self) -> String {
        format!("urn:pinta:schema:{}", self.as_str())
    }

    pub fn parse(text: &str) -> Result<EventType, DecodeError> {
        if let Some(known) = EventType::ALL.iter().find(|t| t.as_str() == text) {
            return Ok(*known);
        }
        let (family, version) = text.rsplit_once('.').unwrap_or((text, ""));
        let supported: Vec<String> =
            EventType::ALL.iter().filter(|t| t.family() == family).map(|t| t.as_str().to_owned()).collect();
        if supported.is_empty() {
            Err(DecodeError::UnknownType { event_type: text.to_owned() })
        } else {
            Err(DecodeError::UnsupportedVersion {
                event_type: text.to_owned(),
                version: version.to_owned(),
                supported,
            })
        }
    }
}

/// Why an envelope or payload could not be decoded. None of these is retryable: the same bytes will
/// fail the same way, so the message belongs in the dead-letter queue at once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("message body is not a CloudEvents JSON envelope: {source}")]
    Malformed { source: serde_json::Error },
    #[error("unsupported CloudEvents specversion {found:?} (expected 1.0)")]
    UnsupportedSpecVersion { found: String },
    #[error("unknown event type {event_type:?}")]
    UnknownType { event_type: String },
    #[error("unsupported version {version:?} of {event_type:?}; this consumer reads {supported:?}")]
    UnsupportedVersion { event_type: String, version: String, supported: Vec<String> },
    #[error("payload of {event_type} does not match its schema: {source}")]
    InvalidPayload { event_type: &'static str, source: serde_json::Error },
}

/// The revision of a day's first output.
pub const FIRST_REVISION: u32 = 1;

/// Serde default of every `revision` field (absent in events from before revisions existed).
pub fn first_revision() -> u32 {
    FIRST_REVISION
}

/// A pointer to an object in the store, with the checksum of the bytes it held when the event was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    /// Key in the bucket layout, e.g. `crudos/produccion_raw_2025-01-07.csv`.
    pub key: String,
    /// Lower-case hex SHA-256 of the object's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The day's figures shown as KPI cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DayKpis {
    /// Sum of `Cantidad producida` over curated rows (litres).
    pub liters: i64,
    /// Sum of `Costo de la producción` over curated rows.
    pub total_cost: f64,
    /// Distinct operators in curated rows.
    pub operators: u32,
    /// Distinct paint types in curated rows.
    pub paint_types: u32,
    /// Curated rows.
    pub rows: u64,
}

/// `production.extracted.v1`: a day's rows were written to `crudos/` as CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductionExtractedV1 {
    pub production_date: NaiveDate,
    /// The raw CSV.
    pub raw: ObjectRef,
    /// Data rows in the CSV (not counting the header).
    pub rows: u64,
    /// The catalogue snapshot (operators, paint types) to validate against, when one was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<ObjectRef>,
    /// Where the rows came from: `sqlite`, `mysql`, `manual` (a file dropped into `crudos/`), `backfill`.
    pub origin: String,
    /// Version of the day's output this event belongs to: 1 for the first version of the day's output,
    /// `n` for its n-th version (re-published after the day's source rows changed, see incremental
    /// extraction). Events from before revisions existed carry no field and read as 1.
    #[serde(default = "first_revision")]
    pub revision: u32,
    /// True for historical loads: consumers may batch their reaction (one dashboard refresh at the end).
    #[serde(default)]
    pub backfill: bool,
}

/// `production.transformed.v1`: the raw CSV was parsed into a typed Arrow file in `staging/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductionTransformedV1 {
    pub production_date: NaiveDate,
    pub raw: ObjectRef,
    /// The typed intermediate (Arrow IPC file).
    pub staging: ObjectRef,
    /// Data rows read from the raw file; every one of them is in the staging file.
    pub rows: u64,
    /// Rows with at least one cell that could not be parsed (marked, not dropped).
    pub rows_with_cell_errors: u64,
    /// Rows whose `Costo de la producción` was computed because the cell was absent.
    pub rows_with_computed_cost: u64,
    /// Detected text encoding (`UTF-8` or `windows-1252`).
    pub encoding: String,
    /// Detected field delimiter.
    pub delimiter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<ObjectRef>,
    /// Version of the day's output this event belongs to: 1 for the first version of the day's output,
    /// `n` for its n-th version (re-published after the day's source rows changed, see incremental
    /// extraction). Events from before revisions existed carry no field and read as 1.
    #[serde(default = "first_revision")]
    pub revision: u32,
    #[serde(default)]
    pub backfill: bool,
}

/// `production.published.v1`: a day's curated Parquet file is available.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductionPublishedV1 {
    pub production_date: NaiveDate,
    /// `produccion/YYYY-MM/produccion_YYYY-MM-DD.parquet`
    pub curated: ObjectRef,
    /// `cuarentena/YYYY-MM/cuarentena_YYYY-MM-DD.parquet`, when any row was quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<ObjectRef>,
    /// The raw file the day was built from.
    pub raw: ObjectRef,
    pub rows_in: u64,
    pub rows_curated: u64,
    pub rows_quarantined: u64,
    pub kpis: DayKpis,
    /// Version of the day's output this event belongs to: 1 for the first version of the day's output,
    /// `n` for its n-th version (re-published after the day's source rows changed, see incremental
    /// extraction). Events from before revisions existed carry no field and read as 1.
    #[serde(default = "first_revision")]
    pub revision: u32,
    #[serde(default)]
    pub backfill: bool,
}

/// One quarantined row, as a sample in an event or an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuarantineSample {
    /// Line of the raw file the row came from (the header is line 1).
    pub line: u64,
    pub reasons: Vec<ReasonCode>,
    /// The original cell values, by curated column name.
    pub values: BTreeMap<String, String>,
}

/// `rows.quarantined.v1`: some rows of a day were set aside, with reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RowsQuarantinedV1 {
    pub production_date: NaiveDate,
    pub quarantine: ObjectRef,
    pub raw: ObjectRef,
    pub rows_in: u64,
    pub rows_quarantined: u64,
    /// `rows_quarantined / rows_in` (0 when the day has no rows).
    pub ratio: f64,
    /// True when the ratio exceeded the threshold and the whole day was held back.
    pub held: bool,
    /// Rows per reason code (a row with two reasons counts under both).
    pub reasons: BTreeMap<ReasonCode, u64>,
    /// Litres in the quarantined rows whose quantity could be read.
    pub liters_affected: i64,
    /// Cost in the quarantined rows whose cost could be read or computed.
    pub cost_affected: f64,
    /// A few rows, for the alert.
    pub samples: Vec<QuarantineSample>,
    /// Version of the day's output this event belongs to: 1 for the first version of the day's output,
    /// `n` for its n-th version (re-published after the day's source rows changed, see incremental
    /// extraction). Events from before revisions existed carry no field and read as 1.
    #[serde(default = "first_revision")]
    pub revision: u32,
    #[serde(default)]
    pub backfill: bool,
}

/// `pipeline.failed.v1`: a stage gave up on a piece of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PipelineFailedV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_date: Option<NaiveDate>,
    pub stage: Stage,
    pub code: FailureCode,
    /// Human-readable cause chain.
    pub message: String,
    /// Whether the cause was judged transient (retries were attempted before giving up).
    pub retryable: bool,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The object the stage was working on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// Rows affected, when known (e.g. a held day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The event whose handling failed, if the work was event-driven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<EventRef>,
    pub failed_at: DateTime<Utc>,
}

/// Names another event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventRef {
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
}

/// A decoded payload of any known type.
#[derive(Debug, Clone, PartialEq)]
pub enum PintaEvent {
    ProductionExtractedV1(ProductionExtractedV1),
    ProductionTransformedV1(ProductionTransformedV1),
    ProductionPublishedV1(ProductionPublishedV1),
    RowsQuarantinedV1(RowsQuarantinedV1),
    PipelineFailedV1(PipelineFailedV1),
}

impl PintaEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            PintaEvent::ProductionExtractedV1(_) => EventType::ProductionExtractedV1,
            PintaEvent::ProductionTransformedV1(_) => EventType::ProductionTransformedV1,
            PintaEvent::ProductionPublishedV1(_) => EventType::ProductionPublishedV1,
            PintaEvent::RowsQuarantinedV1(_) => EventType::RowsQuarantinedV1,
            PintaEvent::PipelineFailedV1(_) => EventType::PipelineFailedV1,
        }
    }

    /// The production day the event is about.
    pub fn production_date(&self) -> Option<NaiveDate> {
        match self {
            PintaEvent::ProductionExtractedV1(e) => Some(e.production_date),
            PintaEvent::ProductionTransformedV1(e) => Some(e.production_date),
            PintaEvent::ProductionPublishedV1(e) => Some(e.production_date),
            PintaEvent::RowsQuarantinedV1(e) => Some(e.production_date),
            PintaEvent::PipelineFailedV1(e) => e.production_date,
        }
    }

    pub fn data_json(&self) -> serde_json::Value {
        let value = match self {
            PintaEvent::ProductionExtractedV1(e) => serde_json::to_value(e),
            PintaEvent::ProductionTransformedV1(e) => serde_json::to_value(e),
            PintaEvent::ProductionPublishedV1(e) => serde_json::to_value(e),
            PintaEvent::RowsQuarantinedV1(e) => serde_json::to_value(e),
            PintaEvent::PipelineFailedV1(e) => serde_json::to_value(e),
        };
        // Plain structs with string map keys always serialise.
        value.unwrap_or(serde_json::Value::Null)
    }

    /// Decodes `data` according to `event_type`.
    pub fn decode(event_type: &str, data: &serde_json::Value) -> Result<PintaEvent, DecodeError> {
        fn typed<T: serde::de::DeserializeOwned>(t: EventType, data: &serde_json::Value) -> Result<T, DecodeError> {
            T::deserialize(data).map_err(|source| DecodeError::InvalidPayload { event_type: t.as_str(), source })
        }
        let t = EventType::parse(event_type)?;
        Ok(match t {
            EventType::ProductionExtractedV1 => PintaEvent::ProductionExtractedV1(typed(t, data)?),
            EventType::ProductionTransformedV1 => PintaEvent::ProductionTransformedV1(typed(t, data)?),
            EventType::ProductionPublishedV1 => PintaEvent::ProductionPublishedV1(typed(t, data)?),
            EventType::RowsQuarantinedV1 => PintaEvent::RowsQuarantinedV1(typed(t, data)?),
            EventType::PipelineFailedV1 => PintaEvent::PipelineFailedV1(typed(t, data)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;

    fn sample() -> PintaEvent {
        PintaEvent::ProductionExtractedV1(ProductionExtractedV1 {
            production_date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            raw: ObjectRef { key: "crudos/produccion_raw_2025-03-01.csv".into(), sha256: "ab".repeat(32), size: 10 },
            rows: 3,
            catalog: None,
            origin: "sqlite".into(),
            revision: 1,
            backfill: false,
        })
    }

    #[test]
    fn envelope_round_trips_and_ids_are_deterministic() {
        let t = Utc::now();
        let a = Envelope::wrap("/pinta/extractor", &sample(), "2025-03-01/abab", t, None);
        let b = Envelope::wrap("/pinta/extractor", &sample(), "2025-03-01/abab", t, None);
        let c = Envelope::wrap("/pinta/extractor", &sample(), "2025-03-01/other", t, None);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.subject.as_deref(), Some("2025-03-01"));
        let parsed = Envelope::from_json(&a.to_json()).unwrap();
        assert_eq!(parsed, a);
        assert_eq!(parsed.decode().unwrap(), sample());
    }

    #[test]
    fn unknown_types_and_versions_are_typed_errors() {
        assert!(matches!(EventType::parse("production.exploded.v1"), Err(DecodeError::UnknownType { .. })));
        match EventType::parse("production.published.v9") {
            Err(DecodeError::UnsupportedVersion { version, supported, .. }) => {
                assert_eq!(version, "v9");
                assert_eq!(supported, vec!["production.published.v1".to_owned()]);
            }
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
        let bad = serde_json::json!({"production_date": "not a date"});
        assert!(matches!(
            PintaEvent::decode("production.extracted.v1", &bad),
            Err(DecodeError::InvalidPayload { .. })
        ));
        assert!(matches!(Envelope::from_json("{"), Err(DecodeError::Malformed { .. })));
        let mut env = Envelope::wrap("/x", &sample(), "i", Utc::now(), None);
        env.specversion = "0.3".into();
        assert!(matches!(Envelope::from_json(&env.to_json()), Err(DecodeError::UnsupportedSpecVersion { .. })));
    }

    #[test]
    fn revision_is_optional_and_defaults_to_the_first() {
        let mut data = sample().data_json();
        assert_eq!(data["revision"], 1);
        data.as_object_mut().unwrap().remove("revision");
        match PintaEvent::decode("production.extracted.v1", &data).unwrap() {
            PintaEvent::ProductionExtractedV1(e) => assert_eq!(e.revision, FIRST_REVISION),
            other => panic!("unexpected {other:?}"),
        }
        data["revision"] = serde_json::json!(3);
        match PintaEvent::decode("production.extracted.v1", &data).unwrap() {
            PintaEvent::ProductionExtractedV1(e) => assert_eq!(e.revision, 3),
            other => panic!("unexpected {other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in ".*") {
            if let Ok(env) = Envelope::from_json(&body) {
                let _ = env.decode();
            }
        }
    }
}
