//! The published OpenAPI document: poem-openapi's, completed with what its derive cannot
//! state, and the allowed methods per path that 405 answers list.

use serde_json::Value;

/// poem-openapi's document, with `additionalProperties: false` on every object schema
/// except form bodies: JSON bodies reject unknown fields (`deny_unknown_fields`) and
/// responses never carry extra ones, but the derive does not say so. A described field of
/// a referenced type comes as `allOf: [{$ref}, {description}]`, which generators read as
/// an intersection with an unknown type; the description-only member is dropped (the
/// field keeps its own `description`).
pub fn complete(spec: &str) -> String {
    let mut doc: Value = serde_json::from_str(spec).expect("poem-openapi emits valid JSON");
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

/// For each path template of the document, its methods as an `Allow` header value.
#[derive(Debug, Clone, Default)]
pub struct AllowTable(Vec<(Vec<String>, String)>);

impl AllowTable {
    /// Reads the paths of a document.
    pub fn from_document(doc: &str) -> Self {
        let doc: Value = serde_json::from_str(doc).expect("a JSON document");
        let table = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, ops)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> = ops
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(m, _)| m.to_uppercase())
                    .collect();
                methods.sort();
                (segments, methods.join(", "))
            })
            .collect();
        Self(table)
    }

    /// The methods allowed on a concrete path, if it matches a template.
    pub fn allow(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == segments.len()
                    && template
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
            })
            .map(|(_, allow)| allow.as_str())
    }
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
    fn allowed_methods_are_found_by_template() {
        let table = AllowTable::from_document(SPEC);
        assert_eq!(table.allow("/a/123"), Some("GET, PATCH"));
        assert_eq!(table.allow("/login"), Some("POST"));
        assert_eq!(table.allow("/a/1/2"), None);
        assert_eq!(table.allow("/b/1"), None);
    }
}
