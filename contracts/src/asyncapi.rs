//! The AsyncAPI 3 document describing Pinta's channels (SNS topics, SQS queues) and messages, generated
//! from the event types so it cannot drift from the code. Committed as `contracts/asyncapi.json`; a
//! test fails when the committed file differs. Regenerate with
//! `PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts`.

use serde_json::{Map, Value, json};

use crate::events::EventType;

/// Which service consumes which types (each consumer has its own SQS queue with a filter policy on the
/// `type` message attribute).
pub const CONSUMERS: &[(&str, &[EventType])] = &[
    ("transformer", &[EventType::ProductionExtractedV1]),
    ("validator", &[EventType::ProductionTransformedV1]),
    ("notifier", &[EventType::PipelineFailedV1, EventType::RowsQuarantinedV1]),
    ("dashboard-gateway", &[EventType::ProductionPublishedV1]),
];

/// The types re-published on the public topic for downstream systems.
pub const PUBLIC_TYPES: &[EventType] = &[EventType::ProductionPublishedV1, EventType::RowsQuarantinedV1];

fn message_name(t: EventType) -> String {
    t.as_str().replace('.', "_")
}

fn message_refs(types: &[EventType]) -> Value {
    let mut m = Map::new();
    for t in types {
        m.insert(message_name(*t), json!({"$ref": format!("#/components/messages/{}", message_name(*t))}));
    }
    Value::Object(m)
}

fn operation_messages(channel: &str, types: &[EventType]) -> Value {
    Value::Array(
        types.iter().map(|t| json!({"$ref": format!("#/channels/{channel}/messages/{}", message_name(*t))})).collect(),
    )
}

/// The whole document.
pub fn document() -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    channels.insert(
        "pipeline".into(),
        json!({
            "address": "pinta-pipeline",
            "title": "Pipeline topic (SNS)",
            "description": "Every event of the pipeline. The CloudEvents JSON envelope is the message body; the SNS message attribute `type` carries the CloudEvents type for filter policies.",
            "messages": message_refs(EventType::ALL),
            "bindings": {"sns": {"name": "pinta-pipeline"}}
        }),
    );
    operations.insert(
        "publishPipelineEvents".into(),
        json!({"action": "send", "channel": {"$ref": "#/channels/pipeline"}, "messages": operation_messages("pipeline", EventType::ALL)}),
    );
    channels.insert(
        "public".into(),
        json!({
            "address": "pinta-public",
            "title": "Public topic (SNS) for downstream systems",
            "description": "Production published and rows quarantined, for subscribers in other accounts. De-duplicate by CloudEvents `source` + `id`; filter on the `type` message attribute; ignore unknown types.",
            "messages": message_refs(PUBLIC_TYPES),
            "bindings": {"sns": {"name": "pinta-public"}}
        }),
    );
    operations.insert(
        "receivePublicEvents".into(),
        json!({"action": "receive", "channel": {"$ref": "#/channels/public"}, "messages": operation_messages("public", PUBLIC_TYPES)}),
    );
    for (consumer, types) in CONSUMERS {
        let name = format!("{consumer}Queue");
        channels.insert(
            name.clone(),
            json!({
                "address": format!("pinta-{consumer}"),
                "title": format!("{consumer} queue (SQS)"),
                "description": format!("Subscribed to the pipeline topic with a filter policy on `type`; raw message delivery; a dead-letter queue after the maximum receive count."),
                "messages": message_refs(types),
                "bindings": {"sqs": {"queue": {"name": format!("pinta-{consumer}")}}}
            }),
        );
        operations.insert(
            format!("{}Receives", consumer.replace('-', "_")),
            json!({"action": "receive", "channel": {"$ref": format!("#/channels/{name}")}, "messages": operation_messages(&name, types)}),
        );
    }
    let mut messages = Map::new();
    for t in EventType::ALL {
        messages.insert(
            message_name(*t),
            json!({
                "name": t.as_str(),
                "title": t.as_str(),
                "contentType": "application/cloudevents+json",
                "headers": {"$ref": "./schemas/envelope.json"},
                "payload": {"$ref": format!("./schemas/{}.json", t.as_str())},
                "correlationId": {"location": "$message.header#/traceparent"}
            }),
        );
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Pinta events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (JSON structured mode) exchanged by Pinta's services and offered to downstream systems. A type ends in .vN; a new version is a new type and old ones stay readable."
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages}
    })
}

/// Pretty JSON as committed.
pub fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn committed_asyncapi_matches_the_code() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("asyncapi.json");
        if std::env::var_os("PINTA_UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, rendered()).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == rendered(), "contracts/asyncapi.json is stale: run PINTA_UPDATE_SCHEMAS=1 cargo test -p pinta-contracts");
    }

    #[test]
    fn every_type_has_a_message_whose_schema_file_exists() {
        let doc = document();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        for t in EventType::ALL {
            let msg = &doc["components"]["messages"][message_name(*t)];
            assert_eq!(msg["name"], t.as_str());
            let payload = msg["payload"]["$ref"].as_str().unwrap();
            assert!(dir.join(payload).is_file(), "{payload} is missing");
            assert!(doc["channels"]["pipeline"]["messages"].get(message_name(*t)).is_some());
        }
        // Every internal reference resolves.
        fn walk(v: &Value, root: &Value) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref")
                        && let Some(pointer) = r.strip_prefix('#')
                    {
                        assert!(root.pointer(pointer).is_some(), "dangling $ref {r}");
                    }
                    m.values().for_each(|x| walk(x, root));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, root)),
                _ => {}
            }
        }
        walk(&doc, &doc);
        for t in PUBLIC_TYPES {
            assert!(doc["channels"]["public"]["messages"].get(message_name(*t)).is_some());
        }
    }
}
