//! The import loop: claim a job, stream its upload from the store as CSV, and record it
//! a batch per transaction, resuming where a previous worker stopped.

use std::sync::Arc;

use mercado_core::Clock;
use mercado_core::domain::{
    IMPORT_HEADER, Job, JobError, JobId, JobStatus, NewProduct, Product, is_import_header,
};
use mercado_core::ports::{Claim, ImportBatch, Store};
use time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

use crate::{Liveness, Loop, Timing, round};

/// Rows recorded per transaction (and per progress update).
const IMPORT_BATCH: usize = 500;
/// Claims of one job before it is failed rather than tried again.
const MAX_JOB_ATTEMPTS: u32 = 3;

/// Why an import stopped early.
enum ImportStop {
    /// The file cannot be read as CSV: the job fails with this message.
    Malformed(String),
    /// The store failed, or another worker holds the job now: the lease decides.
    Interrupted(String),
}

/// Runs imports until `stop` turns true, one job at a time.
pub async fn run_imports<S: Store>(
    store: S,
    clock: Arc<dyn Clock>,
    timing: Timing,
    liveness: Arc<Liveness>,
    mut stop: watch::Receiver<bool>,
) {
    let claimer = Uuid::now_v7();
    while !*stop.borrow() {
        let next = next_import(&store, &clock, timing, &liveness, claimer, &mut stop);
        round(&liveness, Loop::Imports, next).await;
    }
}

/// Claims one job and runs it, or waits a poll interval when there is none.
async fn next_import<S: Store>(
    store: &S,
    clock: &Arc<dyn Clock>,
    timing: Timing,
    liveness: &Liveness,
    claimer: Uuid,
    stop: &mut watch::Receiver<bool>,
) {
    let now = clock.now();
    let wanted = Claim {
        claimer,
        limit: 1,
        now,
        until: now + timing.lease,
    };
    match store.claim_job(&wanted).await {
        Ok(Some(taken)) => {
            let id = taken.job.id;
            let outcome = if taken.attempts > MAX_JOB_ATTEMPTS {
                Err(ImportStop::Malformed(format!(
                    "given up after {MAX_JOB_ATTEMPTS} attempts"
                )))
            } else {
                let held = Held {
                    store,
                    clock,
                    lease: timing.lease,
                    claimer,
                    liveness,
                };
                import(&held, &taken.job, stop).await
            };
            let (status, error) = match outcome {
                Ok(()) => (JobStatus::Succeeded, None),
                Err(ImportStop::Malformed(message)) => (JobStatus::Failed, Some(message)),
                Err(ImportStop::Interrupted(why)) => {
                    tracing::warn!(job = %id, %why, "import interrupted; its lease decides");
                    return;
                }
            };
            let finished = store
                .finish_job(id, claimer, status, error.as_deref(), clock.now())
                .await;
            if !matches!(finished, Ok(true)) {
                tracing::warn!(job = %id, ?finished, "job end not recorded; its lease decides");
            }
        }
        Ok(None) => {
            let _ = tokio::time::timeout(timing.poll, stop.changed()).await;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot claim jobs; trying again");
            let _ = tokio::time::timeout(timing.poll, stop.changed()).await;
        }
    }
}

/// What an import needs while it holds its job.
struct Held<'a, S> {
    store: &'a S,
    clock: &'a Arc<dyn Clock>,
    lease: Duration,
    claimer: Uuid,
    liveness: &'a Liveness,
}

/// The upload as bytes, piece by piece from the store.
fn upload<S: Store>(
    store: &S,
    job: JobId,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin + 'static {
    let store = store.clone();
    Box::pin(futures_util::stream::try_unfold(0u64, move |seq| {
        let store = store.clone();
        async move {
            match store.job_chunk(job, seq).await {
                Ok(Some(text)) => Ok(Some((bytes::Bytes::from(text), seq + 1))),
                Ok(None) => Ok(None),
                Err(e) => Err(std::io::Error::other(e)),
            }
        }
    }))
}

/// The upload's CSV records, header checked.
async fn records<S: Store>(
    store: &S,
    job: JobId,
) -> Result<
    csv_async::AsyncReader<
        tokio_util::io::StreamReader<
            impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin,
            bytes::Bytes,
        >,
    >,
    ImportStop,
> {
    let mut reader = csv_async::AsyncReaderBuilder::new()
        .flexible(true)
        .create_reader(tokio_util::io::StreamReader::new(upload(store, job)));
    let header = reader.headers().await.map_err(csv_stop)?;
    if !is_import_header(&header.iter().collect::<Vec<_>>().join(",")) {
        return Err(ImportStop::Malformed(format!(
            "the first line must be the header `{IMPORT_HEADER}`"
        )));
    }
    Ok(reader)
}

#[allow(clippy::needless_pass_by_value)] // Called as `map_err(csv_stop)`.
fn csv_stop(e: csv_async::Error) -> ImportStop {
    if let csv_async::ErrorKind::Io(io) = e.kind() {
        ImportStop::Interrupted(io.to_string())
    } else {
        ImportStop::Malformed(format!("malformed CSV: {e}"))
    }
}

/// The upload's rows, header excluded.
async fn count_rows<S: Store>(store: &S, job: JobId) -> Result<u64, ImportStop> {
    use futures_util::StreamExt;
    let mut reader = records(store, job).await?;
    let mut rows = reader.records();
    let mut total = 0;
    while let Some(row) = rows.next().await {
        row.map_err(csv_stop)?;
        total += 1;
    }
    Ok(total)
}

/// Counts the rows (unless a previous worker did), then imports them from where the job
/// stood, a batch per transaction.
async fn import<S: Store>(
    held: &Held<'_, S>,
    job: &Job,
    stop: &watch::Receiver<bool>,
) -> Result<(), ImportStop> {
    use futures_util::StreamExt;
    let (store, clock) = (held.store, held.clock);
    // A resumed job was counted by the worker before.
    let total = if job.total > 0 {
        job.total
    } else {
        count_rows(store, job.id).await?
    };

    let mut reader = records(store, job.id).await?;
    let mut rows = reader.records();
    let mut pending = Pending {
        held,
        job: job.id,
        total,
        products: Vec::new(),
        errors: Vec::new(),
    };
    let mut row_no = 0u64;
    while let Some(record) = rows.next().await {
        let record = record.map_err(csv_stop)?;
        row_no += 1;
        if row_no <= job.done {
            continue;
        }
        let fields: Vec<&str> = record.iter().collect();
        let parsed = match fields.as_slice() {
            [name, description, price, stock] => {
                NewProduct::from_row(name, description, price, stock)
            }
            other => Err(format!("expected 4 fields, got {}", other.len())),
        };
        match parsed {
            Ok(new) => pending.products.push(Product::create(new, clock.now())),
            Err(message) => pending.errors.push(JobError {
                row: Some(row_no),
                message,
            }),
        }
        if pending.len() >= IMPORT_BATCH {
            pending.record(row_no).await?;
            if *stop.borrow() {
                return Err(ImportStop::Interrupted("worker stopped".into()));
            }
        }
    }
    pending.record(row_no.max(job.done)).await
}

/// Rows read but not yet recorded, for one held job.
struct Pending<'a, S> {
    held: &'a Held<'a, S>,
    job: JobId,
    total: u64,
    products: Vec<Product>,
    errors: Vec<JobError>,
}

impl<S: Store> Pending<'_, S> {
    fn len(&self) -> usize {
        self.products.len() + self.errors.len()
    }

    /// Records what is pending, and progress up to row `done`, in one transaction.
    async fn record(&mut self, done: u64) -> Result<(), ImportStop> {
        let held = self.held;
        held.liveness.beat(Loop::Imports);
        let now = held.clock.now();
        let batch = ImportBatch {
            job: self.job,
            claimer: held.claimer,
            products: &self.products,
            errors: &self.errors,
            done,
            total: self.total,
            now,
            until: now + held.lease,
        };
        match held.store.import_batch(&batch).await {
            Ok(true) => {
                self.products.clear();
                self.errors.clear();
                Ok(())
            }
            Ok(false) => Err(ImportStop::Interrupted(
                "another worker holds the job".into(),
            )),
            Err(e) => Err(ImportStop::Interrupted(e.to_string())),
        }
    }
}
