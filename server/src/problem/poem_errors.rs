//! The errors poem and poem-openapi raise by themselves (routing, body reading, parsing,
//! authorization) as problems.

use poem::error::{
    MethodNotAllowedError, NotFoundError, ParseJsonError, ReadBodyError, SizedLimitError,
};
use poem::http::StatusCode;
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};

use super::Problem;

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
