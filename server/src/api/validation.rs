//! Every request checked against the published OpenAPI document before an operation runs:
//! path, query and header parameters, JSON bodies and form bodies, each fault named by the input's
//! own path (`price`, `items[0].quantity`, `limit`, `id`) in plain words.
//!
//! poem-openapi's extractors stop at the first fault and describe it in their own terms
//! (`integer_int64`, `occurred while parsing`), and name path parameters `param0`. The
//! document is what clients and test generators read, so checking against it keeps the
//! server's answers and the document from ever disagreeing. The subset of OpenAPI 3.0
//! schema it reads is the one the document uses: `$ref`, a single `allOf`, `type`,
//! `nullable`, `properties`, `required`, `additionalProperties: false`, `items`,
//! `minItems`/`maxItems`, `minimum`/`maximum`, `minLength`/`maxLength`, `pattern`,
//! `enum` and the formats `uuid` and `email`. General JSON Schema validators do not read
//! OpenAPI 3.0's `nullable`, and their messages are not a client's words.

use std::collections::HashMap;
use std::fmt::Write as _;

use mercado_core::domain::Email;
use poem::http::{HeaderMap, Method};
use regex::Regex;
use serde_json::{Map, Value};

use super::fields::pattern_message;
use crate::problem::FieldError;

/// What a request must look like, per path template and method, read from the document.
#[derive(Debug, Default)]
pub struct Operations {
    paths: Vec<PathSpec>,
    schemas: Map<String, Value>,
    patterns: HashMap<String, Regex>,
}

#[derive(Debug)]
struct PathSpec {
    /// The template's segments; `None` stands for a parameter, with its name.
    segments: Vec<Segment>,
    operations: Vec<(Method, Operation)>,
    /// The `Allow` header value for 405 answers.
    allow: String,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Default)]
struct Operation {
    /// Whether it needs a bearer token.
    secured: bool,
    parameters: Vec<Parameter>,
    json_body: Option<Value>,
    form_body: Option<Value>,
    body_required: bool,
}

#[derive(Debug)]
struct Parameter {
    name: String,
    place: Place,
    required: bool,
    schema: Value,
}

/// Where a parameter is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Path,
    Query,
    Header,
}

/// A request as the checks need it.
#[derive(Debug)]
pub struct Incoming<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its path, still percent-encoded.
    pub path: &'a str,
    /// Its query string, if any.
    pub query: Option<&'a str>,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body; `None` when it has none (or an empty one).
    pub body: Option<Body<'a>>,
}

/// A body the checks can read.
#[derive(Debug)]
pub enum Body<'a> {
    /// A parsed JSON body.
    Json(&'a Value),
    /// A form-urlencoded body.
    Form(&'a [u8]),
    /// A body of another media type, left unread (routing answers 415 where it does not
    /// belong).
    Other,
}

impl Operations {
    /// Reads the paths, parameters and request bodies of a completed document.
    ///
    /// # Panics
    /// When `doc` is not JSON: it is the server's own document, made at start.
    pub fn from_document(doc: &str) -> Self {
        let doc: Value = serde_json::from_str(doc).expect("a JSON document");
        let schemas = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut patterns = HashMap::new();
        collect_patterns(&doc, &mut patterns);
        let paths = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(template, ops)| {
                let segments = template
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_owned()),
                            None => Segment::Literal(s.to_owned()),
                        },
                    )
                    .collect();
                let operations: Vec<(Method, Operation)> = ops
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(method, op)| {
                        let method = Method::from_bytes(method.to_uppercase().as_bytes()).ok()?;
                        Some((method, Operation::read(op)))
                    })
                    .collect();
                let mut methods: Vec<&str> = operations.iter().map(|(m, _)| m.as_str()).collect();
                methods.sort_unstable();
                let allow = methods.join(", ");
                PathSpec {
                    segments,
                    operations,
                    allow,
                }
            })
            .collect();
        Self {
            paths,
            schemas,
            patterns,
        }
    }

    /// The methods allowed on a concrete path, if it matches a template.
    pub fn allow(&self, path: &str) -> Option<&str> {
        self.find(path).map(|(spec, _)| spec.allow.as_str())
    }

    /// Whether the operation `method path` needs a bearer token (`None`: no such one).
    pub fn is_secured(&self, method: &Method, path: &str) -> Option<bool> {
        let (spec, _) = self.find(path)?;
        spec.operation(method).map(|op| op.secured)
    }

    /// Whether the operation `method path` takes a JSON body.
    pub fn takes_json(&self, method: &Method, path: &str) -> bool {
        self.find(path)
            .and_then(|(spec, _)| spec.operation(method))
            .is_some_and(|op| op.json_body.is_some())
    }

    /// Every fault of the request: path parameters, query parameters, then the body's
    /// fields by name, and its unknown fields last. Empty when it matches its operation (or no operation
    /// matches: routing answers that).
    pub fn check(&self, request: &Incoming<'_>) -> Vec<FieldError> {
        let mut faults = Faults::default();
        let Some((spec, values)) = self.find(request.path) else {
            return Vec::new();
        };
        let Some(op) = spec.operation(request.method) else {
            return Vec::new();
        };
        let query: Vec<(String, String)> = request
            .query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        for place in [Place::Path, Place::Query, Place::Header] {
            for param in op.parameters.iter().filter(|p| p.place == place) {
                let value = match place {
                    Place::Path => values
                        .iter()
                        .find(|(name, _)| *name == param.name)
                        .map(|(_, v)| v.as_str()),
                    Place::Query => query
                        .iter()
                        .find(|(name, _)| *name == param.name)
                        .map(|(_, v)| v.as_str()),
                    // A value that is not visible ASCII is refused by the schema's own
                    // words, as its replacement character cannot match.
                    Place::Header => request
                        .headers
                        .get(param.name.as_str())
                        .map(|v| v.to_str().unwrap_or("\u{fffd}")),
                };
                self.text(param, value, &mut faults);
            }
        }
        match (&request.body, &op.json_body, &op.form_body) {
            (Some(Body::Json(value)), Some(schema), _) => {
                let mut path = Vec::new();
                self.value(schema, value, &mut path, &mut faults);
            }
            (Some(Body::Form(bytes)), _, Some(schema)) => self.form(schema, bytes, &mut faults),
            (None, Some(_), None) if op.body_required => faults.push(&[], "is required"),
            // An empty form still names each required field.
            (None, None, Some(schema)) => self.form(schema, b"", &mut faults),
            _ => {}
        }
        faults.0
    }

    /// The template a concrete path matches, preferring literal segments over parameters
    /// (`/users/me` before `/users/{id}`), with the parameters' percent-decoded values.
    fn find<'s>(&'s self, path: &str) -> Option<(&'s PathSpec, Vec<(&'s str, String)>)> {
        let segments: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|spec| spec.segments.len() == segments.len())
            .filter_map(|spec| {
                let mut literals = 0;
                let mut values = Vec::new();
                for (template, actual) in spec.segments.iter().zip(&segments) {
                    match template {
                        Segment::Literal(l) if l == actual => literals += 1,
                        Segment::Literal(_) => return None,
                        Segment::Param(name) => values.push((
                            name.as_str(),
                            percent_encoding::percent_decode_str(actual)
                                .decode_utf8_lossy()
                                .into_owned(),
                        )),
                    }
                }
                Some((literals, spec, values))
            })
            .max_by_key(|(literals, _, _)| *literals)
            .map(|(_, spec, values)| (spec, values))
    }

    /// A parameter: text, read as its schema's type.
    fn text(&self, param: &Parameter, value: Option<&str>, faults: &mut Faults) {
        let path = vec![Step::Key(param.name.clone())];
        match value {
            None if param.required => faults.push(&path, "is required"),
            None => {}
            Some(text) => match self.typed(&param.schema, text) {
                Ok(value) => self.value(&param.schema, &value, &mut path.clone(), faults),
                Err(message) => faults.push(&path, message),
            },
        }
    }

    /// A form body: each field is text, read as its property's type.
    fn form(&self, schema: &Value, bytes: &[u8], faults: &mut Faults) {
        let schema = self.resolve(schema);
        let fields: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
        let mut object = Map::new();
        let mut refused = Vec::new();
        for (name, property) in properties(schema) {
            let Some((_, text)) = fields.iter().find(|(n, _)| n == name) else {
                continue;
            };
            match self.typed(property, text) {
                Ok(value) => {
                    object.insert(name.clone(), value);
                }
                Err(message) => {
                    faults.push(&[Step::Key(name.clone())], message);
                    refused.push(name.clone());
                }
            }
        }
        // A field refused above is left out of the object, so it must not be reported
        // missing as well.
        let mut rest = Faults::default();
        self.value(schema, &Value::Object(object), &mut Vec::new(), &mut rest);
        faults
            .0
            .extend(rest.0.into_iter().filter(|f| !refused.contains(&f.field)));
    }

    /// Text as a JSON value of the schema's type.
    fn typed(&self, schema: &Value, text: &str) -> Result<Value, String> {
        let schema = self.resolve(schema);
        match schema["type"].as_str() {
            Some("integer") => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| not_whole(schema, text.parse::<f64>().ok())),
            Some("number") => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| "must be a number".to_owned()),
            Some("boolean") => match text {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err("must be true or false".to_owned()),
            },
            _ => Ok(Value::String(text.to_owned())),
        }
    }

    /// A schema with references followed (`$ref`, or an `allOf` of one member).
    fn resolve<'v>(&'v self, mut schema: &'v Value) -> &'v Value {
        for _ in 0..8 {
            if let Some(name) = schema["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                match self.schemas.get(name) {
                    Some(target) => schema = target,
                    None => break,
                }
            } else if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
                schema = only;
            } else {
                break;
            }
        }
        schema
    }

    /// A JSON value against a schema; records each fault under its path.
    fn value(&self, schema: &Value, value: &Value, path: &mut Vec<Step>, faults: &mut Faults) {
        let schema = self.resolve(schema);
        if value.is_null() {
            if !schema["nullable"].as_bool().unwrap_or(false) {
                faults.push(path, "must not be null");
            }
            return;
        }
        let ty = schema["type"].as_str().unwrap_or_default();
        let fault = match ty {
            "object" => match value.as_object() {
                Some(object) => {
                    self.object(schema, object, path, faults);
                    None
                }
                None => Some("must be an object".to_owned()),
            },
            "array" => match value.as_array() {
                Some(items) => self.array(schema, items, path, faults),
                None => Some("must be an array".to_owned()),
            },
            "string" => match value.as_str() {
                Some(text) => self.string(schema, text),
                None => Some("must be a string".to_owned()),
            },
            "integer" => match value.as_i64() {
                // Bounds in the document are far below 2^52: compared exactly.
                #[allow(clippy::cast_precision_loss)]
                Some(n) => range(schema, n as f64),
                None => Some(not_whole(schema, value.as_f64())),
            },
            "number" => match value.as_f64() {
                Some(n) => range(schema, n),
                None => Some("must be a number".to_owned()),
            },
            "boolean" => (!value.is_boolean()).then(|| "must be true or false".to_owned()),
            _ => None,
        };
        let fault = fault.or_else(|| one_of(schema, value));
        if let Some(message) = fault {
            faults.push(path, message);
        }
    }

    fn object(
        &self,
        schema: &Value,
        object: &Map<String, Value>,
        path: &mut Vec<Step>,
        faults: &mut Faults,
    ) {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, property) in properties(schema) {
            path.push(Step::Key(name.clone()));
            match object.get(name) {
                Some(value) => self.value(property, value, path, faults),
                None if required.contains(&name.as_str()) => faults.push(path, "is required"),
                None => {}
            }
            path.pop();
        }
        if schema["additionalProperties"] == Value::Bool(false) {
            let known = schema["properties"].as_object();
            for name in object.keys() {
                if known.is_none_or(|k| !k.contains_key(name)) {
                    path.push(Step::Key(name.clone()));
                    faults.push(path, "is not a known field");
                    path.pop();
                }
            }
        }
    }

    fn array(
        &self,
        schema: &Value,
        items: &[Value],
        path: &mut Vec<Step>,
        faults: &mut Faults,
    ) -> Option<String> {
        let (min, max) = (
            schema["minItems"].as_u64().unwrap_or(0),
            schema["maxItems"].as_u64(),
        );
        let count = items.len() as u64;
        if count < min || max.is_some_and(|max| count > max) {
            return Some(match max {
                Some(max) => format!("must have {min} to {max} items"),
                None => format!("must have at least {min} items"),
            });
        }
        let item = &schema["items"];
        for (i, value) in items.iter().enumerate() {
            path.push(Step::Index(i));
            self.value(item, value, path, faults);
            path.pop();
        }
        None
    }

    fn string(&self, schema: &Value, text: &str) -> Option<String> {
        let chars = text.chars().count() as u64;
        let (min, max) = (schema["minLength"].as_u64(), schema["maxLength"].as_u64());
        if min.is_some_and(|min| chars < min) || max.is_some_and(|max| chars > max) {
            return Some(match (min, max) {
                (Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
                (Some(min), None) => format!("must be at least {min} characters long"),
                (None, Some(max)) => format!("must be at most {max} characters long"),
                (None, None) => unreachable!("a bound was broken"),
            });
        }
        if let Some(pattern) = schema["pattern"].as_str()
            && self
                .patterns
                .get(pattern)
                .is_some_and(|re| !re.is_match(text))
        {
            return Some(
                pattern_message(pattern).unwrap_or_else(|| format!("must match {pattern}")),
            );
        }
        match schema["format"].as_str() {
            Some("uuid") if uuid::Uuid::parse_str(text).is_err() => Some("must be a UUID".into()),
            Some("email") => Email::parse(text).err().map(|e| e.to_string()),
            _ => None,
        }
    }
}

impl PathSpec {
    fn operation(&self, method: &Method) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, op)| op)
    }
}

impl Operation {
    fn read(op: &Value) -> Self {
        let parameters = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let place = match p["in"].as_str()? {
                    "path" => Place::Path,
                    "query" => Place::Query,
                    "header" => Place::Header,
                    _ => return None,
                };
                Some(Parameter {
                    name: p["name"].as_str()?.to_owned(),
                    place,
                    required: p["required"].as_bool().unwrap_or(place == Place::Path),
                    schema: p["schema"].clone(),
                })
            })
            .collect();
        let content = op["requestBody"]["content"].as_object();
        let body = |wanted: fn(&str) -> bool| {
            content
                .into_iter()
                .flatten()
                .find(|(media, _)| wanted(media.split(';').next().unwrap_or_default().trim()))
                .map(|(_, c)| c["schema"].clone())
        };
        Self {
            secured: op["security"].as_array().is_some_and(|s| !s.is_empty()),
            parameters,
            json_body: body(is_json_media),
            form_body: body(|m| m == "application/x-www-form-urlencoded"),
            body_required: op["requestBody"]["required"].as_bool().unwrap_or(false),
        }
    }
}

/// One step of a path into a request: a field's name or an array index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The faults found so far.
#[derive(Debug, Default)]
struct Faults(Vec<FieldError>);

impl Faults {
    fn push(&mut self, path: &[Step], message: impl Into<String>) {
        let mut field = String::new();
        for step in path {
            match step {
                Step::Key(k) if field.is_empty() => field.push_str(k),
                Step::Key(k) => {
                    field.push('.');
                    field.push_str(k);
                }
                Step::Index(i) => {
                    let _ = write!(field, "[{i}]");
                }
            }
        }
        if path.is_empty() {
            field.push_str("body");
        } else if field.is_empty() {
            // A key that is the empty string, shown as JSON writes it.
            field.push_str("\"\"");
        }
        self.0.push(FieldError {
            field,
            message: message.into(),
        });
    }
}

/// Whether a bare media type (no parameters, lower case) is JSON.
pub fn is_json_media(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

fn properties(schema: &Value) -> impl Iterator<Item = (&String, &Value)> {
    schema["properties"].as_object().into_iter().flatten()
}

/// A number against `minimum`/`maximum` (inclusive, as the document's bounds all are).
fn range(schema: &Value, n: f64) -> Option<String> {
    let (min, max) = (schema["minimum"].as_f64(), schema["maximum"].as_f64());
    let shown = format_bound;
    let broken = min.is_some_and(|min| n < min) || max.is_some_and(|max| n > max);
    broken.then(|| match (min, max) {
        (Some(min), Some(max)) => format!("must be between {} and {}", shown(min), shown(max)),
        (Some(min), None) => format!("must be at least {}", shown(min)),
        (None, Some(max)) => format!("must be at most {}", shown(max)),
        (None, None) => unreachable!("a bound was broken"),
    })
}

/// Why a number that is not an `i64` is refused: a whole number too large for one is
/// out of range, anything else is not whole.
fn not_whole(schema: &Value, n: Option<f64>) -> String {
    n.filter(|n| n.fract() == 0.0 && n.abs() >= 9.0e18)
        .map_or_else(
            || "must be a whole number".to_owned(),
            |n| range(schema, n).unwrap_or_else(|| "is too large".to_owned()),
        )
}

/// `1.0` as `1`, `0.5` as `0.5`.
fn format_bound(b: f64) -> String {
    if b.fract() == 0.0 && b.abs() < 1e15 {
        // Whole and well within i64: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let whole = b as i64;
        format!("{whole}")
    } else {
        b.to_string()
    }
}

fn one_of(schema: &Value, value: &Value) -> Option<String> {
    let allowed = schema["enum"].as_array().filter(|e| !e.is_empty())?;
    (!allowed.contains(value)).then(|| {
        let names: Vec<String> = allowed
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect();
        format!("must be one of: {}", names.join(", "))
    })
}

/// Compiles every `pattern` of the document once.
fn collect_patterns(value: &Value, into: &mut HashMap<String, Regex>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get("pattern")
                && !into.contains_key(p)
            {
                match Regex::new(p) {
                    Ok(re) => {
                        into.insert(p.clone(), re);
                    }
                    Err(error) => tracing::warn!(pattern = %p, %error, "pattern not checked"),
                }
            }
            map.values().for_each(|v| collect_patterns(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_patterns(v, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn operations() -> Operations {
        let doc = json!({
            "paths": {
                "/a/{id}": {
                    "get": {"parameters": [{"in": "path", "name": "id", "required": true, "schema": {"type": "string", "format": "uuid"}}]},
                    "patch": {"security": [{"x": []}]}
                },
                "/a/me": {"get": {}},
                "/login": {"post": {"requestBody": {"required": true, "content": {
                    "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Form"}}}}}},
                "/things": {"post": {
                    "parameters": [
                        {"in": "query", "name": "n", "schema": {"type": "integer", "minimum": 1.0}},
                        {"in": "header", "name": "Key", "schema": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"}}
                    ],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                }}
            },
            "components": {"schemas": {
                "Form": {"type": "object", "required": ["user", "n"], "properties": {"user": {"type": "string"}, "n": {"type": "integer"}}},
                "Thing": {"type": "object", "additionalProperties": false, "required": ["tags"], "properties": {
                    "tags": {"type": "array", "maxItems": 2, "items": {"allOf": [{"$ref": "#/components/schemas/Tag"}]}},
                    "kind": {"type": "string", "enum": ["a", "b"], "nullable": true},
                    "code": {"type": "string", "pattern": "^[0-9]+$"},
                    "ratio": {"type": "number", "maximum": 0.5}
                }},
                "Tag": {"type": "object", "properties": {"on": {"type": "boolean"}}}
            }}
        });
        Operations::from_document(&doc.to_string())
    }

    #[allow(clippy::needless_pass_by_value)] // Test cases pass `Method::GET` and the like.
    fn check(
        method: Method,
        path: &str,
        query: Option<&str>,
        body: Option<Body<'_>>,
    ) -> Vec<(String, String)> {
        check_with(method, path, query, &HeaderMap::new(), body)
    }

    #[allow(clippy::needless_pass_by_value)]
    fn check_with(
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Option<Body<'_>>,
    ) -> Vec<(String, String)> {
        operations()
            .check(&Incoming {
                method: &method,
                path,
                query,
                headers,
                body,
            })
            .into_iter()
            .map(|f| (f.field, f.message))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(f, m)| ((*f).to_owned(), (*m).to_owned()))
            .collect()
    }

    #[test]
    fn allowed_methods_are_found_by_template_literals_first() {
        let ops = operations();
        assert_eq!(ops.allow("/a/123"), Some("GET, PATCH"));
        assert_eq!(ops.allow("/a/me"), Some("GET"));
        assert_eq!(ops.allow("/login"), Some("POST"));
        assert_eq!(ops.allow("/a/1/2"), None);
        assert_eq!(ops.is_secured(&Method::PATCH, "/a/1"), Some(true));
        assert_eq!(ops.is_secured(&Method::GET, "/a/1"), Some(false));
        assert_eq!(ops.is_secured(&Method::GET, "/b"), None);
        assert!(ops.takes_json(&Method::POST, "/things"));
        assert!(!ops.takes_json(&Method::POST, "/login"));
    }

    #[test]
    fn path_parameters_are_decoded_and_named() {
        assert_eq!(
            check(Method::GET, "/a/x%20y", None, None),
            pairs(&[("id", "must be a UUID")])
        );
        assert!(check(Method::GET, "/a/me", None, None).is_empty());
        assert!(
            check(
                Method::GET,
                "/a/0193a1a4-0000-7000-8000-000000000000",
                None,
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn json_bodies_report_every_fault_by_path() {
        let body = json!({"tags": [{"on": "yes"}, 1, {"on": true}], "kind": "c", "code": "12a", "ratio": 0.75, "extra": 1});
        assert_eq!(
            check(
                Method::POST,
                "/things",
                Some("n=0"),
                Some(Body::Json(&body))
            ),
            pairs(&[
                ("n", "must be at least 1"),
                ("code", "must match ^[0-9]+$"),
                ("kind", "must be one of: a, b"),
                ("ratio", "must be at most 0.5"),
                ("tags", "must have 0 to 2 items"),
                ("extra", "is not a known field"),
            ])
        );
        let body = json!({"tags": [{"on": "yes"}, 1], "kind": null, "ratio": "x"});
        assert_eq!(
            check(
                Method::POST,
                "/things",
                Some("n=1e9"),
                Some(Body::Json(&body))
            ),
            pairs(&[
                ("n", "must be a whole number"),
                ("ratio", "must be a number"),
                ("tags[0].on", "must be true or false"),
                ("tags[1]", "must be an object"),
            ])
        );
        assert_eq!(
            check(Method::POST, "/things", None, None),
            pairs(&[("body", "is required")])
        );
        assert!(check(Method::POST, "/things", None, Some(Body::Other)).is_empty());
        let body = json!({"tags": [], "": null});
        assert_eq!(
            check(Method::POST, "/things", None, Some(Body::Json(&body))),
            pairs(&[("\"\"", "is not a known field")])
        );
    }

    #[test]
    fn form_fields_are_text_read_as_their_type() {
        assert_eq!(
            check(
                Method::POST,
                "/login",
                None,
                Some(Body::Form(b"n=x&other=1"))
            ),
            pairs(&[("n", "must be a whole number"), ("user", "is required")])
        );
        assert!(
            check(
                Method::POST,
                "/login",
                None,
                Some(Body::Form(b"user=a%40b&n=2"))
            )
            .is_empty()
        );
    }

    #[test]
    fn header_parameters_are_checked_by_their_name_in_any_case() {
        let body = json!({"tags": []});
        let with_key = |value: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert(
                "key",
                poem::http::HeaderValue::from_bytes(value).expect("a header value"),
            );
            check_with(
                Method::POST,
                "/things",
                None,
                &headers,
                Some(Body::Json(&body)),
            )
        };
        assert_eq!(with_key(b"abc"), pairs(&[]));
        assert_eq!(
            with_key(b"abcd"),
            pairs(&[("Key", "must be at most 3 characters long")])
        );
        // Bytes that are not visible ASCII never match a pattern.
        assert_eq!(with_key(b"\xe9"), pairs(&[("Key", "must match ^[a-z]+$")]));
        let none = check(Method::POST, "/things", None, Some(Body::Json(&body)));
        assert_eq!(none, pairs(&[]));
    }

    #[test]
    fn bounds_read_as_written() {
        assert_eq!(format_bound(1.0), "1");
        assert_eq!(format_bound(0.5), "0.5");
        let schema = json!({"type": "integer", "maximum": 10.0});
        assert_eq!(not_whole(&schema, Some(1e20)), "must be at most 10");
        assert_eq!(
            not_whole(&json!({"type": "integer"}), Some(1e20)),
            "is too large"
        );
        assert_eq!(not_whole(&schema, Some(1.5)), "must be a whole number");
    }
}
