//! Errors as RFC 9457 problem details (`application/problem+json`), and the one place
//! that maps every error — the services', and those poem and poem-openapi raise by
//! themselves — to a status code.

use std::fmt;

use mercado_core::StoreError;
use mercado_core::ports::{CancelOrderError, PlaceOrderError};
use mercado_core::service::{
    AccessError, CreateProductError, LogInError, LogoutError, ResolveActorError, SignUpError,
    UpdateOwnProfileError, UpdateProductError, UpdateUserError,
};
use poem::error::{
    MethodNotAllowedError, NotFoundError, ParseJsonError, ReadBodyError, ResponseError,
    SizedLimitError,
};
use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` of a 503: long enough for a restarted database to take connections.
const RETRY_UNAVAILABLE_SECS: u64 = 2;

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
        }
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
        let body = serde_json::to_vec(&self.body).expect("a problem always serialises");
        let mut response = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_JSON)
            .body(body);
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

/// The statuses any operation may answer with a problem. Listing them on every operation
/// keeps generated clients' error types complete.
const STATUSES: &[(u16, &str)] = &[
    (400, "Malformed JSON, form or query"),
    (
        401,
        "Not authenticated (missing, malformed, expired, tampered or revoked token)",
    ),
    (403, "Authenticated but not allowed"),
    (404, "Unknown resource, or one the caller may not see"),
    (405, "Method not allowed"),
    (
        409,
        "Conflict: email taken, not enough stock, order not cancellable",
    ),
    (413, "Request body too large"),
    (415, "Unsupported content type"),
    (
        422,
        "Well-formed but invalid values; `errors` lists the fields",
    ),
    (429, "Too many failed logins; see `Retry-After`"),
    (500, "A bug"),
    (
        503,
        "The database (or, for readiness, the broker) is unreachable",
    ),
];

impl ApiResponse for Problem {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: STATUSES
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: ProblemBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ProblemBody::register(registry);
    }
}

/// Maps any error an endpoint returned to a problem response.
#[allow(clippy::needless_pass_by_value)] // poem's error hooks hand the error over.
pub fn from_error(err: poem::Error) -> Problem {
    if let Some(problem) = err.downcast_ref::<Problem>() {
        return problem.clone();
    }
    if err.is::<AuthorizationError>() {
        return Problem::token_required();
    }
    // The edge checks parameters and bodies against the document before an operation
    // runs, so poem-openapi refusing one means the two disagree: still the client's 422,
    // but worth a warning. Path parameters are named `param0`… inside poem-openapi.
    let refused = |field: &str, reason: &str| {
        tracing::warn!(
            field,
            reason,
            "poem-openapi refused what the document check passed"
        );
        Problem::invalid(field, "is not valid")
    };
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        return refused("path", &e.reason);
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return refused(e.name, &e.reason);
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return refused("body", &e.reason);
    }
    if err.is::<ParseJsonError>() {
        return Problem::bad_request(err.to_string());
    }
    if err.is::<ContentTypeError>() {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            err.to_string(),
        );
    }
    if matches!(
        err.downcast_ref::<ReadBodyError>(),
        Some(ReadBodyError::PayloadTooLarge)
    ) || err.is::<SizedLimitError>()
    {
        return Problem::payload_too_large();
    }
    if err.is::<NotFoundError>() {
        return Problem::not_found("no such resource");
    }
    if err.is::<MethodNotAllowedError>() {
        return Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "method not allowed",
        );
    }
    let status = err.status();
    if status.is_server_error() {
        return Problem::internal(&err);
    }
    Problem::new(status, "request-error", err.to_string())
}

// Domain errors → problems: the one mapping from service outcomes to statuses.

impl From<mercado_core::domain::SuperuserRequired> for Problem {
    fn from(e: mercado_core::domain::SuperuserRequired) -> Self {
        Self::forbidden(e.to_string())
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::unavailable()
            }
            StoreError::Conflict { constraint } => {
                Self::conflict("conflict", format!("constraint {constraint} violated"))
            }
            StoreError::Corrupt(_) | StoreError::Other(_) => Self::internal(&e),
        }
    }
}

impl From<AccessError> for Problem {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Forbidden => Self::forbidden("not allowed"),
            AccessError::NotFound => Self::not_found("no such resource"),
            AccessError::Store(e) => e.into(),
        }
    }
}

impl From<ResolveActorError> for Problem {
    fn from(e: ResolveActorError) -> Self {
        match e {
            ResolveActorError::Unauthenticated => {
                tracing::debug!("token revoked, or its user no longer exists");
                Self::token_required()
            }
            ResolveActorError::Inactive => Self::forbidden("inactive user"),
            ResolveActorError::Store(e) => e.into(),
        }
    }
}

impl From<SignUpError> for Problem {
    fn from(e: SignUpError) -> Self {
        match e {
            SignUpError::EmailTaken => {
                Self::conflict("email-taken", "a user with this email already exists")
            }
            SignUpError::Store(e) => e.into(),
        }
    }
}

impl From<LogInError> for Problem {
    fn from(e: LogInError) -> Self {
        match e {
            LogInError::InvalidCredentials => Self::unauthorized("incorrect email or password"),
            LogInError::Inactive => Self::forbidden("inactive user"),
            LogInError::Throttled { retry_after_secs } => Self::too_many_requests(
                "too many failed logins for this email; retry later",
                retry_after_secs,
            ),
            LogInError::Store(e) => e.into(),
        }
    }
}

impl From<LogoutError> for Problem {
    fn from(e: LogoutError) -> Self {
        match e {
            LogoutError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateOwnProfileError> for Problem {
    fn from(e: UpdateOwnProfileError) -> Self {
        match e {
            UpdateOwnProfileError::WrongCurrentPassword => {
                Self::forbidden("current password is incorrect")
            }
            UpdateOwnProfileError::NotFound => Self::token_required(),
            UpdateOwnProfileError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateUserError> for Problem {
    fn from(e: UpdateUserError) -> Self {
        match e {
            UpdateUserError::Forbidden => Self::forbidden("superuser required"),
            UpdateUserError::NotFound => Self::not_found("no such user"),
            UpdateUserError::Store(e) => e.into(),
        }
    }
}

impl From<CreateProductError> for Problem {
    fn from(e: CreateProductError) -> Self {
        match e {
            CreateProductError::Forbidden => Self::forbidden("superuser required"),
            CreateProductError::Store(e) => e.into(),
        }
    }
}

impl From<mercado_core::service::ImportError> for Problem {
    fn from(e: mercado_core::service::ImportError) -> Self {
        match e {
            mercado_core::service::ImportError::Forbidden => Self::forbidden("superuser required"),
            mercado_core::service::ImportError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateProductError> for Problem {
    fn from(e: UpdateProductError) -> Self {
        match e {
            UpdateProductError::Forbidden => Self::forbidden("superuser required"),
            UpdateProductError::NotFound => Self::not_found("no such product"),
            UpdateProductError::Store(e) => e.into(),
        }
    }
}

impl From<PlaceOrderError> for Problem {
    fn from(e: PlaceOrderError) -> Self {
        match e {
            PlaceOrderError::UnknownProduct(id) => {
                Self::invalid("items", format!("product {id} does not exist"))
            }
            PlaceOrderError::InsufficientStock(id) => Self::conflict(
                "insufficient-stock",
                format!("not enough stock for product {id}"),
            ),
            PlaceOrderError::Store(e) => e.into(),
        }
    }
}

impl From<CancelOrderError> for Problem {
    fn from(e: CancelOrderError) -> Self {
        match e {
            CancelOrderError::NotFound => Self::not_found("no such order"),
            CancelOrderError::NotPending => {
                Self::conflict("order-not-pending", "only a pending order can be cancelled")
            }
            CancelOrderError::Store(e) => e.into(),
        }
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
