//! The edge every request passes: a request id (reused from `x-request-id` when sane,
//! returned on every response), a tracing span and one log line per request, the body
//! size limit, the malformed-JSON check (400), the check of parameters and bodies against
//! the OpenAPI document (422 naming every fault), and problem+json for every error.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::OperationId;
use tracing::Instrument;
use uuid::Uuid;

use crate::api::validation::{self, Incoming, Operations};
use crate::api::{IDEMPOTENCY_KEY, hash_request};
use crate::auth::TokenCodec;
use crate::metrics::Metrics;
use crate::problem::{self, Problem};

/// The response header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The edge middleware.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The largest JSON or form body accepted.
    pub max_body_bytes: usize,
    /// What each operation accepts, and the methods each path allows (for the `Allow`
    /// header of 405 answers).
    pub operations: Arc<Operations>,
    /// Verifies bearer tokens, so that an operation that needs one answers 401 before
    /// it checks the request's values.
    pub tokens: Arc<TokenCodec>,
    /// Where answered requests are counted, unless metrics are off.
    pub metrics: Option<Arc<Metrics>>,
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            edge: self.clone(),
        }
    }
}

/// The endpoint [`Edge`] wraps.
#[derive(Debug)]
pub struct EdgeEndpoint<E> {
    inner: E,
    edge: Edge,
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = request_id(&req);
        let uri = req.uri().clone();
        let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
        async move {
            let started = Instant::now();
            let result = match self.prepare(req).await {
                Ok(req) => self.inner.call(req).await.map(IntoResponse::into_response),
                Err(problem) => Err(problem.into()),
            };
            // poem-openapi marks what it answers with the operation's id.
            let (mut response, operation) = match result {
                Ok(response) => {
                    let operation = response.data::<OperationId>().map(|o| o.0);
                    (response, operation)
                }
                Err(err) => {
                    let operation = err.data::<OperationId>().map(|o| o.0);
                    (problem::from_error(err).into_response(), operation)
                }
            };
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(allow) = self
                    .edge
                    .operations
                    .allow(uri.path())
                    .and_then(|a| HeaderValue::from_str(a).ok())
            {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            let status = response.status().as_u16();
            let elapsed = started.elapsed();
            if let Some(metrics) = &self.edge.metrics {
                metrics.observe(operation, status, elapsed);
            }
            let micros = elapsed.as_micros();
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
    /// Reads JSON and form bodies up to the limit (413 beyond), answers 400 for JSON that
    /// does not parse, then checks parameters and body against the document (422). Other
    /// bodies (CSV uploads) pass unread.
    async fn prepare(&self, mut req: Request) -> Result<Request, Problem> {
        let mime = req.header(header::CONTENT_TYPE).map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        let is_json = mime.as_deref().is_some_and(validation::is_json_media);
        let is_form = mime.as_deref() == Some("application/x-www-form-urlencoded");
        let mut bytes = None;
        if is_json || is_form {
            if announces_too_large(&req, self.edge.max_body_bytes) {
                return Err(Problem::payload_too_large());
            }
            let body = req.take_body().into_bytes_stream();
            bytes = Some(read_limited(body, self.edge.max_body_bytes).await?);
        }
        // An empty body is no body (clients send `Content-Type: application/json` on GETs
        // too), except where a JSON body belongs: there it is malformed JSON.
        if is_json
            && bytes.as_ref().is_some_and(Bytes::is_empty)
            && self
                .edge
                .operations
                .takes_json(req.method(), req.uri().path())
        {
            return Err(Problem::bad_request("malformed JSON: the body is empty"));
        }
        let bytes = bytes.filter(|b| !b.is_empty());
        let json = match &bytes {
            Some(b) if is_json => Some(
                serde_json::from_slice::<serde_json::Value>(b)
                    .map_err(|e| Problem::bad_request(format!("malformed JSON: {e}")))?,
            ),
            _ => None,
        };
        if self.values_are_checked(&req) {
            let body = match (&json, &bytes) {
                (Some(value), _) => Some(validation::Body::Json(value)),
                (None, Some(b)) => Some(validation::Body::Form(b)),
                (None, None) if mime.is_some() && !is_json && !is_form => {
                    Some(validation::Body::Other)
                }
                (None, None) => None,
            };
            let faults = self.edge.operations.check(&Incoming {
                method: req.method(),
                path: req.uri().path(),
                query: req.uri().query(),
                headers: req.headers(),
                body,
            });
            if !faults.is_empty() {
                return Err(Problem::validation(faults));
            }
        }
        // What a request with an idempotency key asked, so that the key cannot answer
        // another: its exact bytes, read here once.
        if req.headers().contains_key(IDEMPOTENCY_KEY) {
            let hash = hash_request(&req, bytes.as_deref().unwrap_or_default());
            req.extensions_mut().insert(hash);
        }
        if let Some(bytes) = bytes {
            req.set_body(Body::from_bytes(bytes));
        }
        Ok(req)
    }

    /// Whether to check the request's values now: not for an operation that needs a
    /// bearer token when the request has none that verifies (it gets its 401 first).
    fn values_are_checked(&self, req: &Request) -> bool {
        match self
            .edge
            .operations
            .is_secured(req.method(), req.uri().path())
        {
            None => false,
            Some(false) => true,
            Some(true) => req
                .header(header::AUTHORIZATION)
                .and_then(|h| {
                    h.strip_prefix("Bearer ")
                        .or_else(|| h.strip_prefix("bearer "))
                })
                .is_some_and(|token| self.edge.tokens.verify(token.trim()).is_ok()),
        }
    }
}

/// Whether the client announces a body over `limit` and waits for `100 Continue` before
/// sending it: it gets its 413 at once, and never sends the body (hyper says `100
/// Continue` only once the body is read).
pub fn announces_too_large(req: &Request, limit: usize) -> bool {
    let waits = req
        .header(header::EXPECT)
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    let length = req
        .header(header::CONTENT_LENGTH)
        .and_then(|l| l.trim().parse::<u64>().ok());
    waits && length.is_some_and(|l| l > u64::try_from(limit).unwrap_or(u64::MAX))
}

/// Past this, an oversized body is no longer drained before the 413: the connection is
/// simply closed.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads a body of at most `limit` bytes. A larger one is read on and discarded (up to
/// [`DRAIN_LIMIT`]) before the 413, so that the client, still sending, gets the answer
/// instead of a broken pipe.
async fn read_limited(
    body: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>,
    limit: usize,
) -> Result<Bytes, Problem> {
    let mut body = std::pin::pin!(body);
    let mut buffer = BytesMut::new();
    let mut seen = 0_usize;
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Problem::bad_request(format!("could not read the body: {e}")))?;
        seen += chunk.len();
        if seen <= limit {
            buffer.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > limit {
        return Err(Problem::payload_too_large());
    }
    Ok(buffer.freeze())
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
