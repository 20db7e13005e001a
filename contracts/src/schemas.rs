//! JSON Schemas of the envelope and of every payload type, generated from the Rust types.
//!
//! The generated documents are committed under `contracts/schemas/`; a test fails when they differ
//! from what the code generates. Regenerate with `PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts`.

use schemars::{JsonSchema, schema_for};

use crate::envelope::Envelope;
use crate::events::*;

/// `(file name, pretty JSON)` for every committed schema.
pub fn all() -> Vec<(String, String)> {
    let mut out = vec![("envelope.json".to_owned(), render(schema_for!(Envelope), "envelope"))];
    for t in EventType::ALL {
        let schema = match t {
            EventType::ProductionExtractedV1 => schema_for!(ProductionExtractedV1),
            EventType::ProductionTransformedV1 => schema_for!(ProductionTransformedV1),
            EventType::ProductionPublishedV1 => schema_for!(ProductionPublishedV1),
            EventType::RowsQuarantinedV1 => schema_for!(RowsQuarantinedV1),
            EventType::PipelineFailedV1 => schema_for!(PipelineFailedV1),
        };
        out.push((format!("{}.json", t.as_str()), render(schema, &t.schema_uri())));
    }
    out
}

fn render(mut schema: schemars::Schema, id: &str) -> String {
    schema.insert("$id".to_owned(), serde_json::Value::String(id.to_owned()));
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema of one payload type (for validators in tests and tools).
pub fn payload_schema<T: JsonSchema>() -> schemars::Schema {
    schema_for!(T)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn committed_schemas_match_the_code() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let update = std::env::var_os("PINTA_UPDATE_SCHEMAS").is_some();
        let mut stale = Vec::new();
        for (name, text) in super::all() {
            let path = dir.join(&name);
            if update {
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(committed) if committed == text => {}
                _ => stale.push(name),
            }
        }
        assert!(
            stale.is_empty(),
            "committed JSON Schemas differ from the code: {stale:?}; run PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts and commit contracts/schemas/"
        );
    }
}
