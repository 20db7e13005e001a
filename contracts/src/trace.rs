//! W3C Trace Context `traceparent` values (`00-<trace-id>-<parent-id>-<flags>`).
//!
//! A trace starts where the work starts (the scheduler tick or a hand-dropped file) and every later
//! event of the same day's run carries the same trace id with a new parent id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A parsed `traceparent` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub sampled: bool,
}

/// Why a `traceparent` string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent {value:?}: {reason}")]
pub struct TraceParentError {
    pub value: String,
    pub reason: &'static str,
}

impl TraceParent {
    /// A new trace whose ids derive from `seed` (deterministic, so a re-run is traceable to the same id
    /// only when the caller wants that) — pass random bytes for a fresh trace.
    pub fn from_seed(seed: &[u8]) -> Self {
        let digest = crate::sha256_hex(seed);
        let bytes = hex::decode(&digest).unwrap_or_default();
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        trace_id.copy_from_slice(&bytes[..16]);
        parent_id.copy_from_slice(&bytes[16..24]);
        // All-zero ids are invalid per the spec; a SHA-256 prefix of zeros is astronomically unlikely,
        // but keep the value valid regardless.
        if trace_id == [0; 16] {
            trace_id[15] = 1;
        }
        if parent_id == [0; 8] {
            parent_id[7] = 1;
        }
        TraceParent { trace_id, parent_id, sampled: true }
    }

    /// The same trace, with a new parent id derived from `span_seed`.
    pub fn child(&self, span_seed: &[u8]) -> Self {
        let mut seed = self.trace_id.to_vec();
        seed.extend_from_slice(span_seed);
        let next = TraceParent::from_seed(&seed);
        TraceParent { trace_id: self.trace_id, parent_id: next.parent_id, sampled: self.sampled }
    }

    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{}",
            hex::encode(self.trace_id),
            hex::encode(self.parent_id),
            if self.sampled { "01" } else { "00" }
        )
    }
}

impl FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let err = |reason| TraceParentError { value: value.to_owned(), reason };
        let parts: Vec<&str> = value.trim().split('-').collect();
        if parts.len() != 4 {
            return Err(err("expected four dash-separated fields"));
        }
        if parts[0] != "00" {
            return Err(err("unsupported version (only 00)"));
        }
        let decode = |s: &str, n: usize| -> Result<Vec<u8>, TraceParentError> {
            if s.len() != n * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                return Err(err("ids must be lower-case hex of the right length"));
            }
            hex::decode(s).map_err(|_| err("ids must be hex"))
        };
        let t = decode(parts[1], 16)?;
        let p = decode(parts[2], 8)?;
        let flags = decode(parts[3], 1)?;
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        trace_id.copy_from_slice(&t);
        parent_id.copy_from_slice(&p);
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return Err(err("all-zero ids are invalid"));
        }
        Ok(TraceParent { trace_id, parent_id, sampled: flags[0] & 1 == 1 })
    }
}

impl Serialize for TraceParent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TraceParent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for TraceParent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TraceParent".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "W3C Trace Context traceparent",
            "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_children_keep_the_trace() {
        let root = TraceParent::from_seed(b"2025-01-01");
        let text = root.to_string();
        assert_eq!(text.len(), 55);
        assert_eq!(text.parse::<TraceParent>().unwrap(), root);
        let child = root.child(b"transformer");
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.parent_id, root.parent_id);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in ["", "00-abc", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"] {
            assert!(bad.parse::<TraceParent>().is_err(), "{bad} should be rejected");
        }
        assert!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse::<TraceParent>().is_ok());
    }
}
