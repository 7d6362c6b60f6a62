//! Errors as RFC 9457 problem details (`application/problem+json`), and the one place
//! that maps every error — the services', and those poem and poem-openapi raise by
//! themselves — to a status code.
//!
//! Here: the problem and how it renders. `domain_errors`: service and store errors;
//! `poem_errors`: poem's own; `openapi`: the statuses every operation documents.

mod domain_errors;
mod openapi;
mod poem_errors;

use std::fmt;

use mercado_core::domain::RecordedAnswer;
use poem::error::ResponseError;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::Object;

pub use poem_errors::from_error;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` of a 503: long enough for a restarted database to take connections.
const RETRY_UNAVAILABLE_SECS: u64 = 2;

/// `Retry-After` of a 409 for an idempotency key in use: requests take milliseconds.
const RETRY_KEY_IN_USE_SECS: u64 = 1;

/// One invalid field of a request.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct FieldError {
    /// The input: a body field by name (nested ones as a path such as
    /// `items[0].quantity`; `body` for the body as a whole), or a query or path
    /// parameter by its name (`limit`, `id`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Object, serde::Serialize)]
#[oai(rename = "Problem")]
pub struct ProblemBody {
    /// A URI reference naming the kind of problem.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// The invalid fields, for validation errors (422).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// An error response: a status, a problem body and the headers some statuses need.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    // Boxed so that `Result<T, Problem>` stays small on the happy path.
    body: Box<ProblemBody>,
    retry_after: Option<u64>,
    // Whether this is the operation's own answer, decided where its change would have
    // been made (too little stock, an email taken): a retry with the same idempotency
    // key gets it again. Other problems (invalid input, a database away) free the key.
    answers: bool,
}

impl Problem {
    /// A problem of `status`, with a slug naming its kind and a detail.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ProblemBody {
                kind: format!("urn:mercado:problem:{slug}"),
                title: status.canonical_reason().unwrap_or("Error").to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                errors: None,
            }),
            retry_after: None,
            answers: false,
        }
    }

    /// This problem, marked as the operation's answer: recorded under an idempotency key.
    #[must_use]
    pub fn answering(mut self) -> Self {
        self.answers = true;
        self
    }

    /// Whether a retry with the same idempotency key is to get this problem again.
    pub fn answers(&self) -> bool {
        self.answers
    }

    /// This problem as an idempotency key records it, and as it is sent.
    ///
    /// # Panics
    /// Never: a problem body is plain strings and numbers.
    pub fn recorded(&self) -> RecordedAnswer {
        RecordedAnswer {
            status: self.status.as_u16(),
            body: serde_json::to_string(&self.body).expect("a problem always serialises"),
            location: None,
        }
    }

    /// 409 with `Retry-After`: the first request with this idempotency key still runs.
    pub fn key_in_use() -> Self {
        let mut problem = Self::conflict(
            "idempotency-key-in-use",
            "a request with this Idempotency-Key is still being processed; retry later",
        );
        problem.retry_after = Some(RETRY_KEY_IN_USE_SECS);
        problem
    }

    /// 400: the request is not well-formed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed-request", detail)
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    /// 401 for a request without a usable bearer token, whatever is wrong with it
    /// (missing, malformed, expired, tampered, revoked, or its user gone): one stable
    /// sentence for clients; the cause goes to the debug log where it is known.
    pub fn token_required() -> Self {
        Self::unauthorized(
            "a valid bearer token is required: log in at /api/v1/login/token for a new one",
        )
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 409 of a named kind.
    pub fn conflict(slug: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, slug, detail)
    }

    /// 422 listing the invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut problem = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail);
        problem.body.errors = Some(errors);
        problem
    }

    /// 422 for one field.
    pub fn invalid(field: &str, message: impl fmt::Display) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.to_string(),
        }])
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut problem = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-failed-logins",
            detail,
        );
        problem.retry_after = Some(retry_after_secs);
        problem
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "the request body is too large",
        )
    }

    /// 503 with `Retry-After`: the database does not answer.
    pub fn unavailable() -> Self {
        let mut problem = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database-unavailable",
            "the database is not reachable; retry later",
        );
        problem.retry_after = Some(RETRY_UNAVAILABLE_SECS);
        problem
    }

    /// 503: the message broker does not answer (readiness only: requests never need it).
    pub fn broker_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker-unavailable",
            "the message broker is not reachable; events wait in the outbox",
        )
    }

    /// 500, after logging the cause chain. The body says nothing about the cause.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %chain(cause), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an unexpected error occurred",
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.body.detail)
    }
}

impl std::error::Error for Problem {}

impl ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let mut response = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_JSON)
            .body(self.recorded().body);
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.as_response()
    }
}

/// An error and its causes, one `: ` apart; a cause whose text its parent already ends
/// with (`database error: connection reset` over `connection reset`) is not repeated.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_every_cause_once() {
        let io = std::io::Error::other("connection reset");
        let store = mercado_core::StoreError::Unavailable(Box::new(io));
        assert_eq!(chain(&store), "database unavailable: connection reset");
        let wrapped = mercado_core::StoreError::Other(Box::new(store));
        assert_eq!(
            chain(&wrapped),
            "database error: database unavailable: connection reset"
        );
    }

    #[test]
    fn unavailable_problems_carry_retry_after() {
        let response = Problem::unavailable().as_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn unauthorized_problems_carry_www_authenticate() {
        let response = Problem::unauthorized("x").as_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
