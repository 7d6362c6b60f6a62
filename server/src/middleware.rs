//! The edge every request passes: a request id (reused from `x-request-id` when sane,
//! returned on every response), a tracing span and one log line per request, the body
//! size limit, the malformed-JSON check (400, so that poem-openapi's payload errors are
//! always 422), and problem+json for every error.

use std::time::Instant;

use poem::http::{HeaderValue, header};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;
use uuid::Uuid;

use crate::problem::{self, Problem};

/// The response header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The edge middleware.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// The largest JSON or form body accepted.
    pub max_body_bytes: usize,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// The endpoint [`Edge`] wraps.
#[derive(Debug)]
pub struct EdgeEndpoint<E> {
    inner: E,
    max_body_bytes: usize,
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = request_id(&req);
        let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
        async move {
            let started = Instant::now();
            let result = match self.check_body(req).await {
                Ok(req) => self.inner.call(req).await.map(IntoResponse::into_response),
                Err(problem) => Err(problem.into()),
            };
            let mut response =
                result.unwrap_or_else(|err| problem::from_error(err).into_response());
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            let status = response.status().as_u16();
            let micros = started.elapsed().as_micros();
            if status >= 500 {
                tracing::error!(status, micros, "request failed");
            } else {
                tracing::info!(status, micros, "request");
            }
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

impl<E> EdgeEndpoint<E> {
    /// Reads JSON and form bodies up to the limit (413 beyond), and answers 400 for JSON
    /// that does not parse. Other bodies pass untouched.
    async fn check_body(&self, mut req: Request) -> Result<Request, Problem> {
        let Some(content_type) = req
            .header(header::CONTENT_TYPE)
            .map(str::to_ascii_lowercase)
        else {
            return Ok(req);
        };
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let is_json = mime == "application/json" || mime.ends_with("+json");
        if !is_json && mime != "application/x-www-form-urlencoded" {
            return Ok(req);
        }
        let too_large = || {
            Problem::new(
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "the request body is too large",
            )
        };
        let declared = req
            .header(header::CONTENT_LENGTH)
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes) {
            return Err(too_large());
        }
        let bytes = req
            .take_body()
            .into_bytes_limit(self.max_body_bytes)
            .await
            .map_err(|e| match e {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                other => Problem::bad_request(format!("could not read the body: {other}")),
            })?;
        if is_json && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            return Err(Problem::bad_request(format!("malformed JSON: {e}")));
        }
        req.set_body(Body::from_bytes(bytes));
        Ok(req)
    }
}

/// The caller's request id if it is short and plain, else a new UUID v7.
fn request_id(req: &Request) -> String {
    req.header(REQUEST_ID)
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}
