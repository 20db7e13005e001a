//! The CloudEvents 1.0 JSON envelope (structured mode) carried as the body of every SQS/SNS message
//! and every in-process delivery. `data` stays raw JSON here; [`crate::events`] gives it a type.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::{DecodeError, PintaEvent};
use crate::trace::TraceParent;

/// The only CloudEvents version produced and accepted.
pub const SPEC_VERSION: &str = "1.0";

/// Namespace of the name-based (v5) UUIDs used as deterministic event ids.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_3b2a_9c4e_4f0b_8a7d_2e5c_1b90_a3f4);

/// A CloudEvents 1.0 event in JSON structured mode, plus the `traceparent` extension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    pub specversion: String,
    /// Unique per `source`; with `source`, the de-duplication key.
    pub id: String,
    /// URI-reference of the producer, e.g. `/pinta/validator`.
    pub source: String,
    /// e.g. `production.published.v1`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: DateTime<Utc>,
    /// The production day (`YYYY-MM-DD`) the event is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Identifies the JSON Schema of `data`.
    pub dataschema: String,
    pub datacontenttype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<TraceParent>,
    pub data: serde_json::Value,
}

impl Envelope {
    /// Wraps a typed event. `identity` names the fact the event states (for example the day and the
    /// checksum of the object produced); the same identity always yields the same id, which is what
    /// makes re-runs and redeliveries recognisable downstream.
    pub fn wrap(
        source: &str,
        event: &PintaEvent,
        identity: &str,
        time: DateTime<Utc>,
        traceparent: Option<TraceParent>,
    ) -> Envelope {
        let event_type = event.event_type();
        Envelope {
            specversion: SPEC_VERSION.to_owned(),
            id: deterministic_id(source, event_type.as_str(), identity),
            source: source.to_owned(),
            event_type: event_type.as_str().to_owned(),
            time,
            subject: event.production_date().map(|d| d.format("%Y-%m-%d").to_string()),
            dataschema: event_type.schema_uri(),
            datacontenttype: "application/json".to_owned(),
            traceparent,
            data: event.data_json(),
        }
    }

    /// Parses the JSON body of a message. Never panics; any problem is a [`DecodeError`].
    pub fn from_json(body: &str) -> Result<Envelope, DecodeError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(|source| DecodeError::Malformed { source })?;
        if envelope.specversion != SPEC_VERSION {
            return Err(DecodeError::UnsupportedSpecVersion { found: envelope.specversion });
        }
        Ok(envelope)
    }

    pub fn to_json(&self) -> String {
        // Serialising a struct of strings, a timestamp and a `Value` cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The typed payload.
    pub fn decode(&self) -> Result<PintaEvent, DecodeError> {
        PintaEvent::decode(&self.event_type, &self.data)
    }

    /// `source` and `id` joined: the de-duplication key of CloudEvents.
    pub fn dedup_key(&self) -> String {
        format!("{}#{}", self.source, self.id)
    }
}

/// A name-based UUID from the producer, the type and the identity of the fact.
pub fn deterministic_id(source: &str, event_type: &str, identity: &str) -> String {
    let name = format!("{source}\n{event_type}\n{identity}");
    Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).to_string()
}
