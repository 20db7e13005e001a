//! The OpenAPI 3.1 description of the data API, served at `/api/openapi.json`.

use serde_json::{Value, json};

fn day_param() -> Value {
    json!({"name": "date", "in": "path", "required": true, "schema": {"type": "string", "format": "date"}, "description": "Production day, YYYY-MM-DD."})
}

fn filter_params() -> Vec<Value> {
    vec![
        json!({"name": "operator", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true, "description": "Keep these operators (repeat the parameter)."}),
        json!({"name": "paint", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true, "description": "Keep these paint types (repeat the parameter)."}),
        json!({"name": "min_qty", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "Minimum litres per row."}),
    ]
}

fn errors() -> Value {
    json!({
        "400": {"description": "Invalid date, unknown filter or bad value.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "401": {"description": "Not logged in."},
        "403": {"description": "The role does not allow this."},
        "404": {"description": "No data for that day."}
    })
}

pub fn document() -> Value {
    let mut with_filters = vec![day_param()];
    with_filters.extend(filter_params());
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Pinta dashboard gateway", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Read-only data API of the production dashboards. Roles: gerencial (latest day), operativo (everything). Live notifications: WebSocket at /ws (JSON messages {type: snapshot|published, latest, date, at})."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "pinta_session"}
            },
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
                "Group": {"type": "object", "properties": {"name": {"type": "string"}, "liters": {"type": "integer"}, "cost": {"type": "number"}, "rows": {"type": "integer"}}},
                "Row": {"type": "object", "properties": {
                    "fecha": {"type": ["string", "null"]}, "tipo_pintura": {"type": ["string", "null"]},
                    "cantidad": {"type": ["integer", "null"]}, "costo_litro": {"type": ["number", "null"]},
                    "costo": {"type": ["number", "null"]}, "operador": {"type": ["string", "null"]}}},
                "DayView": {"type": "object", "properties": {
                    "production_date": {"type": "string", "format": "date"},
                    "kpis": {"type": "object", "properties": {"date": {"type": "string"}, "operators": {"type": "integer"}, "paint_types": {"type": "integer"}, "liters": {"type": "integer"}, "total_cost": {"type": "number"}, "rows": {"type": "integer"}}},
                    "by_operator": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}},
                    "by_paint": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}},
                    "options": {"type": "object", "properties": {"operators": {"type": "array", "items": {"type": "string"}}, "paints": {"type": "array", "items": {"type": "string"}}, "max_quantity": {"type": "integer"}}},
                    "rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}}}}
            }
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text)", "security": [], "responses": {"200": {"description": "metrics"}}}},
            "/api/login": {"post": {"summary": "Log in; returns a token and sets the session cookie", "security": [],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"user": {"type": "string"}, "password": {"type": "string"}}}}}},
                "responses": {"200": {"description": "token"}, "401": {"description": "wrong user or password"}}}},
            "/api/days": {"get": {"summary": "Days with curated data (role operativo)",
                "parameters": [{"name": "year", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "{days: [date], latest: date}"}}}},
            "/api/production/latest": {"get": {"summary": "The latest published day, all rows (role gerencial)",
                "responses": {"200": {"description": "DayView plus record and updated_at", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DayView"}}}}, "404": {"description": "nothing published yet"}}}},
            "/api/production/{date}": {"get": {"summary": "A day's filtered rows and aggregates (role operativo)", "parameters": with_filters.clone(),
                "responses": merge(json!({"200": {"description": "DayView", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DayView"}}}}}), errors())}},
            "/api/production/{date}/export.csv": {"get": {"summary": "The same filtered rows as CSV (role operativo)", "parameters": with_filters,
                "responses": merge(json!({"200": {"description": "CSV with the six contracted columns", "content": {"text/csv": {}}}}), errors())}},
            "/api/quarantine/{date}": {"get": {"summary": "Quarantined rows of a day with their reasons (role operativo)", "parameters": [day_param()],
                "responses": merge(json!({"200": {"description": "{production_date, rows: [{line, reasons, detail, values}]}"}}), errors())}}
        }
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}
