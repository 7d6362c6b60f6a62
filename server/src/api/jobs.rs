//! Background jobs: product imports from CSV, and their progress.

use std::sync::Arc;

use futures_util::StreamExt;
use mercado_core::domain::{IMPORT_HEADER, JobId, is_import_header};
use mercado_core::ports::Store;
use mercado_core::service::Commands;
use poem::Body;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiRequest, ApiResponse, OpenApi};
use uuid::Uuid;

use super::model::JobOut;
use super::{ApiTags, State};
use crate::auth::BearerAuth;
use crate::problem::Problem;

/// Uploads are stored in pieces of about this many bytes.
const CHUNK_BYTES: usize = 256 * 1024;
/// Past the limit, this much more is read (and dropped) so the client gets its 413.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

pub struct JobsApi<S>(pub Arc<State<S>>);

/// A CSV file: UTF-8, header `name,description,price,stock`, one product per row.
#[derive(Debug, ApiRequest)]
enum ImportBody {
    /// The file.
    #[oai(content_type = "text/csv")]
    Csv(Binary<Body>),
}

#[derive(ApiResponse)]
enum Queued {
    /// Queued; follow `Location` for its progress.
    #[oai(status = 202)]
    Job(Json<JobOut>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Jobs")]
impl<S: Store> JobsApi<S> {
    /// Imports products from CSV in the background
    ///
    /// Superusers only. Rows are checked like `createProduct`; bad rows are reported in
    /// the job's `errors` by row number (1 = the first row after the header) and good
    /// rows are imported. Importing the same file again adds no product that already has
    /// a row's name and price. The upload is stored as it arrives, up to
    /// `MERCADO_MAX_IMPORT_BYTES` (413 beyond); a wrong header, bytes that are not UTF-8
    /// or a NUL character give 422 before anything is queued.
    #[oai(
        path = "/api/v1/products/import",
        method = "post",
        operation_id = "importProducts"
    )]
    async fn import_products(
        &self,
        req: &poem::Request,
        auth: BearerAuth,
        body: ImportBody,
    ) -> Result<Queued, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        if crate::middleware::announces_too_large(req, self.0.max_import_bytes) {
            return Err(Problem::payload_too_large());
        }
        let commands = &self.0.commands;
        let id = commands.start_import(actor)?;
        let ImportBody::Csv(Binary(body)) = body;
        if let Err(problem) = store_upload(commands, id, body, self.0.max_import_bytes).await {
            if let Err(error) = commands.abandon_import(id).await {
                tracing::warn!(job = %id, %error, "abandoned upload not removed");
            }
            return Err(problem);
        }
        let job = commands.queue_import(id).await?;
        Ok(Queued::Job(Json(job.into()), format!("/api/v1/jobs/{id}")))
    }

    /// A background job: status, progress and errors
    ///
    /// Superusers only. `progress.total` is 0 until a worker has counted the rows.
    #[oai(path = "/api/v1/jobs/:id", method = "get", operation_id = "getJob")]
    async fn job(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Json<JobOut>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        let job = self.0.queries.job(actor, JobId::from_uuid(id.0)).await?;
        Ok(Json(job.into()))
    }
}

/// Streams the body into the store in UTF-8 pieces of about [`CHUNK_BYTES`]: memory
/// stays bounded whatever the file's size. Checks the header, UTF-8, NUL and the size.
async fn store_upload<S: Store>(
    commands: &Commands<S>,
    id: JobId,
    body: Body,
    max_bytes: usize,
) -> Result<(), Problem> {
    let mut stream = body.into_bytes_stream();
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK_BYTES * 2);
    let (mut seq, mut total, mut header_checked) = (0u64, 0usize, false);
    loop {
        let next = stream.next().await;
        let finished = next.is_none();
        if let Some(bytes) = next {
            let bytes =
                bytes.map_err(|e| Problem::bad_request(format!("could not read the body: {e}")))?;
            total += bytes.len();
            if total > max_bytes {
                let mut drained = 0;
                while let Some(Ok(more)) = stream.next().await {
                    drained += more.len();
                    if drained > DRAIN_BYTES {
                        break;
                    }
                }
                return Err(Problem::payload_too_large());
            }
            pending.extend_from_slice(&bytes);
        }
        if !header_checked && (finished || pending.contains(&b'\n')) {
            check_header(&pending)?;
            header_checked = true;
        }
        if pending.len() >= CHUNK_BYTES || (finished && !pending.is_empty()) {
            // Cut at the last whole character; the rest waits for the next bytes.
            let valid = match std::str::from_utf8(&pending) {
                Ok(text) => text.len(),
                Err(e) if e.error_len().is_none() && !finished => e.valid_up_to(),
                Err(_) => return Err(Problem::invalid("body", "the CSV must be UTF-8")),
            };
            let text = std::str::from_utf8(&pending[..valid])
                .map_err(|_| Problem::invalid("body", "the CSV must be UTF-8"))?;
            if text.contains('\0') {
                return Err(Problem::invalid(
                    "body",
                    "the CSV must not contain NUL characters",
                ));
            }
            commands.store_import_chunk(id, seq, text).await?;
            seq += 1;
            pending.drain(..valid);
        }
        if finished {
            return Ok(());
        }
    }
}

/// The first line must be the import header.
fn check_header(start: &[u8]) -> Result<(), Problem> {
    let line = start.split(|b| *b == b'\n').next().unwrap_or_default();
    if std::str::from_utf8(line).is_ok_and(is_import_header) {
        Ok(())
    } else {
        Err(Problem::invalid(
            "body",
            format!("the first line must be the header `{IMPORT_HEADER}`"),
        ))
    }
}
