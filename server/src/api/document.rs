//! The published OpenAPI document: poem-openapi's, completed with what its derive cannot
//! state.

use serde_json::{Map, Value};

/// Problem statuses an operation answers beyond those its shape implies (see
/// [`problem_statuses`]), by operation id.
const EXTRA_STATUSES: &[(&str, &[u16])] = &[
    ("login", &[401, 403, 429]),
    // 409 also while a request with the same Idempotency-Key runs.
    ("signUp", &[409]),
    ("createProduct", &[409]),
    ("placeOrder", &[409]),
    ("cancelOrder", &[409]),
    ("recoverPassword", &[429]),
    ("requestVerification", &[409]),
];

/// poem-openapi's document, completed:
/// - `additionalProperties: false` on every object schema except form bodies: JSON bodies
///   reject unknown fields (`deny_unknown_fields`) and responses never carry extra ones,
///   but the derive does not say so;
/// - a described field of a referenced type comes as `allOf: [{$ref}, {description}]`,
///   which generators read as an intersection with an unknown type; the description-only
///   member is dropped (the field keeps its own `description`);
/// - media types are keyed `application/json`, not `application/json; charset=utf-8`
///   (generators and validators match the bare type);
/// - OAuth2 flows have `scopes` (required in OpenAPI 3.0; there are none);
/// - each operation lists only the problem statuses it can answer.
///
/// # Panics
/// When `spec` is not JSON (poem-openapi's own output always is).
pub fn complete(spec: &str) -> String {
    let mut doc: Value = serde_json::from_str(spec).expect("poem-openapi emits valid JSON");
    if doc["servers"].as_array().is_some_and(Vec::is_empty)
        && let Some(root) = doc.as_object_mut()
    {
        root.remove("servers");
    }
    let flows = doc["components"]["securitySchemes"]
        .as_object_mut()
        .into_iter()
        .flat_map(|schemes| schemes.values_mut())
        .filter_map(|scheme| scheme.get_mut("flows").and_then(Value::as_object_mut))
        .flat_map(|flows| flows.values_mut())
        .filter_map(Value::as_object_mut);
    for flow in flows {
        flow.entry("scopes")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
        .filter_map(Value::as_object_mut);
    for op in operations {
        let statuses = problem_statuses(op);
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.retain(|status, response| {
                !is_problem(response) || status.parse().is_ok_and(|s| statuses.contains(&s))
            });
            responses.values_mut().for_each(bare_media_types);
            if takes_idempotency_key(op) {
                say_replayed(op);
            }
        }
        if let Some(body) = op.get_mut("requestBody") {
            bare_media_types(body);
        }
    }
    let forms: Vec<String> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|ops| ops.values())
        .filter_map(|op| {
            op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"]
                .as_str()
        })
        .map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
        .collect();
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for (name, schema) in schemas.iter_mut() {
            if schema["type"] == "object"
                && schema.get("additionalProperties").is_none()
                && !forms.contains(name)
            {
                schema["additionalProperties"] = Value::Bool(false);
            }
            let properties = schema.get_mut("properties").and_then(Value::as_object_mut);
            for property in properties.into_iter().flat_map(|p| p.values_mut()) {
                if let Some(all_of) = property.get_mut("allOf").and_then(Value::as_array_mut) {
                    all_of.retain(|member| {
                        member.as_object().is_none_or(|m| {
                            m.keys()
                                .any(|k| !matches!(k.as_str(), "description" | "title"))
                        })
                    });
                }
            }
        }
    }
    serde_json::to_string(&doc).expect("a JSON value serialises")
}

/// Whether an operation takes the `Idempotency-Key` header.
fn takes_idempotency_key(op: &Map<String, Value>) -> bool {
    op.get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p["in"] == "header" && p["name"] == super::IDEMPOTENCY_KEY)
        })
}

/// Every answer of an operation that takes a key can be a replay, which says so.
fn say_replayed(op: &mut Map<String, Value>) {
    let responses = op.get_mut("responses").and_then(Value::as_object_mut);
    for response in responses.into_iter().flat_map(|r| r.values_mut()) {
        let header = serde_json::json!({
            "description": "`true` when this is the recorded answer of an earlier request \
                with the same Idempotency-Key, sent again; nothing was done twice.",
            "schema": {"type": "boolean"},
        });
        if let Some(response) = response.as_object_mut() {
            let headers = response
                .entry("headers")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(headers) = headers.as_object_mut() {
                headers.insert(super::IDEMPOTENT_REPLAYED.to_owned(), header);
            }
        }
    }
}

/// The problem statuses an operation can answer, from its shape: 503 wherever the
/// database is asked (all but liveness), 401 and 403 with a bearer token (403 also for
/// an inactive user), 422 for any input, 400, 413 and 415 for a body, 404 for a path
/// parameter; then [`EXTRA_STATUSES`].
fn problem_statuses(op: &Map<String, Value>) -> Vec<u16> {
    let id = op
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let has = |key: &str| {
        op.get(key)
            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()))
    };
    let in_path = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
    let mut statuses = Vec::new();
    if id != "health" {
        statuses.push(503);
    }
    if has("security") {
        statuses.extend([401, 403]);
    }
    if has("parameters") || has("requestBody") {
        statuses.push(422);
    }
    if has("requestBody") {
        statuses.extend([400, 413, 415]);
    }
    if in_path {
        statuses.push(404);
    }
    let extra = EXTRA_STATUSES.iter().filter(|(op, _)| *op == id);
    statuses.extend(extra.flat_map(|(_, s)| s.iter().copied()));
    statuses
}

fn is_problem(response: &Value) -> bool {
    response["content"]
        .as_object()
        .is_some_and(|c| c.contains_key(crate::problem::PROBLEM_JSON))
}

/// Renames `content` keys such as `application/json; charset=utf-8` to the bare type.
fn bare_media_types(holder: &mut Value) {
    let Some(content) = holder.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let renamed: Map<String, Value> = std::mem::take(content)
        .into_iter()
        .map(|(media, v)| {
            let bare = media
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            (bare, v)
        })
        .collect();
    *content = renamed;
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r##"{"paths": {
        "/a/{id}": {"get": {}, "patch": {}},
        "/login": {"post": {"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Form"}}}}}}
    }, "components": {"schemas": {
        "Body": {"type": "object", "properties": {"status": {"allOf": [{"$ref": "#/components/schemas/Status"}, {"description": "Where."}], "description": "Where."}}},
        "Form": {"type": "object"}, "Open": {"type": "object", "additionalProperties": {"type": "string"}}
    }}}"##;

    #[test]
    fn json_objects_are_closed_but_forms_and_maps_are_not() {
        let doc: Value = serde_json::from_str(&complete(SPEC)).unwrap();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Body"]["additionalProperties"], false);
        assert!(schemas["Form"].get("additionalProperties").is_none());
        assert_eq!(schemas["Open"]["additionalProperties"]["type"], "string");
    }

    #[test]
    fn a_described_reference_is_the_referenced_type_alone() {
        let doc: Value = serde_json::from_str(&complete(SPEC)).unwrap();
        let status = &doc["components"]["schemas"]["Body"]["properties"]["status"];
        assert_eq!(
            status["allOf"],
            serde_json::json!([{"$ref": "#/components/schemas/Status"}])
        );
        assert_eq!(status["description"], "Where.");
    }

    #[test]
    fn operations_list_only_the_problems_they_can_answer() {
        let problem = r#"{"content": {"application/problem+json": {}}}"#;
        let spec = format!(
            r#"{{"paths": {{
                "/health": {{"get": {{"operationId": "health", "responses": {{"200": {{"content": {{"application/json; charset=utf-8": {{}}}}}}, "503": {problem}}}}}}},
                "/p/{{id}}": {{"get": {{"operationId": "readP", "parameters": [{{"in": "path", "name": "id"}}], "responses": {{"200": {{}}, "400": {problem}, "401": {problem}, "404": {problem}, "422": {problem}, "503": {problem}}}}}}},
                "/o": {{"post": {{"operationId": "placeOrder", "security": [{{"x": []}}], "requestBody": {{"content": {{"application/json; charset=utf-8": {{}}}}}}, "responses": {{"201": {{}}, "400": {problem}, "401": {problem}, "403": {problem}, "404": {problem}, "409": {problem}, "413": {problem}, "415": {problem}, "422": {problem}, "429": {problem}, "503": {problem}}}}}}}
            }}, "components": {{"securitySchemes": {{"x": {{"type": "oauth2", "flows": {{"password": {{"tokenUrl": "/t"}}}}}}}}}}, "servers": []}}"#
        );
        let doc: Value = serde_json::from_str(&complete(&spec)).unwrap();
        let statuses = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(statuses("/health", "get"), ["200"]);
        assert_eq!(statuses("/p/{id}", "get"), ["200", "404", "422", "503"]);
        assert_eq!(
            statuses("/o", "post"),
            [
                "201", "400", "401", "403", "409", "413", "415", "422", "503"
            ]
        );
        let ok = &doc["paths"]["/health"]["get"]["responses"]["200"]["content"];
        assert!(ok.get("application/json").is_some(), "{ok}");
        let body = &doc["paths"]["/o"]["post"]["requestBody"]["content"];
        assert!(body.get("application/json").is_some(), "{body}");
        assert_eq!(
            doc["components"]["securitySchemes"]["x"]["flows"]["password"]["scopes"],
            serde_json::json!({})
        );
        assert!(doc.get("servers").is_none());
    }
}
