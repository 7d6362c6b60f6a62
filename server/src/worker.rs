//! The worker: delivers the outbox through the database itself. Each loop claims a batch
//! of events under a lease, hands each to the [`Notifier`] (mails, each sent once), and
//! completes it, or puts it back with a growing delay. A worker that dies holds nothing
//! past its lease; one asked to stop finishes the event in hand and releases the rest.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use mercado_core::Clock;
use mercado_core::domain::{JobError, JobId, JobStatus, NewProduct, Product};
use mercado_core::notify::{Mailer, Notifier, NotifyError};
use mercado_core::ports::{Claim, ClaimedEvent, ImportBatch, Store};
use mercado_mail::{AnyMailer, FileMailer, Renderer, SmtpMailer};
use secrecy::ExposeSecret;
use time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

use crate::settings::Settings;
use crate::startup::StartupError;

/// Events claimed at once.
const BATCH: usize = 32;
/// How often an idle worker looks for work, and how long its claims hold.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The wait between looks when there is nothing to do.
    pub poll: StdDuration,
    /// How long a claim holds unless renewed: far longer than one batch takes, and how
    /// long a dead worker's work waits before another worker takes it over.
    pub lease: Duration,
}
/// Attempts before an event is parked (kept, with its last error, for an operator).
const MAX_ATTEMPTS: u32 = 12;
/// Retry delays double from 2 s up to this.
const MAX_BACKOFF: Duration = Duration::hours(1);

/// The mailer the settings choose: SMTP when `MERCADO_SMTP_URL` is set, else `.eml`
/// files in `MERCADO_MAIL_DIR`.
///
/// # Errors
/// [`StartupError::Config`] for an unusable sender or SMTP URL.
pub fn mailer(settings: &Settings) -> Result<AnyMailer, StartupError> {
    let config = |e: &dyn std::fmt::Display| StartupError::Config(e.to_string());
    let renderer = Renderer::new(&settings.mail_from).map_err(|e| config(&e))?;
    Ok(match &settings.smtp_url {
        Some(url) => {
            AnyMailer::Smtp(SmtpMailer::new(url.expose_secret(), renderer).map_err(|e| config(&e))?)
        }
        None => AnyMailer::File(FileMailer::new(&settings.mail_dir, renderer)),
    })
}

/// When a failed event may be tried again: 2 s, 4 s, 8 s, … up to an hour.
fn backoff(attempts: u32) -> Duration {
    let seconds = 1i64 << attempts.clamp(1, 20);
    Duration::seconds(seconds).min(MAX_BACKOFF)
}

/// Runs until `stop` turns true: claims, handles and settles events.
pub async fn run<S: Store, M: Mailer>(
    store: S,
    mailer: M,
    clock: Arc<dyn Clock>,
    timing: Timing,
    mut stop: watch::Receiver<bool>,
) {
    let notifier = Notifier::new(store.clone(), mailer, clock.clone());
    let claimer = Uuid::now_v7();
    tracing::info!(%claimer, "worker started");
    while !*stop.borrow() {
        let now = clock.now();
        let claim = Claim {
            claimer,
            limit: BATCH,
            now,
            until: now + timing.lease,
        };
        let batch = match store.claim_events(&claim).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "cannot claim events; trying again");
                Vec::new()
            }
        };
        let idle = batch.is_empty();
        let mut pending = batch.into_iter();
        for claimed in pending.by_ref() {
            settle(&store, &notifier, &clock, claimer, &claimed).await;
            if *stop.borrow() {
                break;
            }
        }
        // Stopping mid-batch: what is left goes back at once for another worker.
        for claimed in pending {
            let id = claimed.event.id;
            if let Err(error) = store
                .retry_event(id, claimer, clock.now(), "worker stopped")
                .await
            {
                tracing::warn!(event = %id, %error, "not released; its lease will run out");
            }
        }
        if idle {
            // Sleeps, or wakes as soon as it is told to stop.
            let _ = tokio::time::timeout(timing.poll, stop.changed()).await;
        }
    }
    tracing::info!(%claimer, "worker stopped");
}

/// Handles one claimed event and records the outcome.
async fn settle<S: Store, M: Mailer>(
    store: &S,
    notifier: &Notifier<S, M>,
    clock: &Arc<dyn Clock>,
    claimer: Uuid,
    claimed: &ClaimedEvent,
) {
    let event = &claimed.event;
    let outcome = notifier.handle(event).await;
    let now = clock.now();
    let settled = match &outcome {
        Ok(sent) => {
            tracing::debug!(event = %event.id, kind = event.payload.kind(), sent, "event delivered");
            store.complete_event(event.id, claimer, now).await
        }
        Err(error) => {
            let permanent = matches!(error, NotifyError::Mail(e) if !e.transient);
            let retry_at = if permanent || claimed.attempts >= MAX_ATTEMPTS {
                tracing::error!(event = %event.id, attempts = claimed.attempts, %error, "event parked");
                time::macros::datetime!(9999-12-31 00:00 UTC)
            } else {
                tracing::warn!(event = %event.id, attempts = claimed.attempts, %error, "event will be retried");
                now + backoff(claimed.attempts)
            };
            store
                .retry_event(event.id, claimer, retry_at, &error.to_string())
                .await
        }
    };
    match settled {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(event = %event.id, "lease lost while handling; another worker has it")
        }
        Err(error) => {
            tracing::warn!(event = %event.id, %error, "outcome not recorded; the lease will run out")
        }
    }
}

/// A worker running beside the server (or alone, for `mercado worker`), and how to stop it.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Starts a worker on `store`.
    pub fn spawn<S: Store>(
        store: S,
        mailer: AnyMailer,
        clock: Arc<dyn Clock>,
        timing: Timing,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let imports = tokio::spawn(run_imports(
            store.clone(),
            clock.clone(),
            timing,
            stopped.clone(),
        ));
        let events = tokio::spawn(run(store, mailer, clock, timing, stopped));
        let task = tokio::spawn(async move {
            let _ = tokio::join!(events, imports);
        });
        Self { stop, task }
    }

    /// Asks it to stop and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Runs until `shutdown` completes, then stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        shutdown.await;
        self.stop().await;
    }
}

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
    mut stop: watch::Receiver<bool>,
) {
    let claimer = Uuid::now_v7();
    while !*stop.borrow() {
        let now = clock.now();
        let claim = Claim {
            claimer,
            limit: 1,
            now,
            until: now + timing.lease,
        };
        match store.claim_job(&claim).await {
            Ok(Some(claimed)) => {
                let id = claimed.job.id;
                let outcome = if claimed.attempts > MAX_JOB_ATTEMPTS {
                    Err(ImportStop::Malformed(format!(
                        "given up after {MAX_JOB_ATTEMPTS} attempts"
                    )))
                } else {
                    import(&store, &clock, timing.lease, claimer, &claimed.job, &stop).await
                };
                let (status, error) = match outcome {
                    Ok(()) => (JobStatus::Succeeded, None),
                    Err(ImportStop::Malformed(message)) => (JobStatus::Failed, Some(message)),
                    Err(ImportStop::Interrupted(why)) => {
                        tracing::warn!(job = %id, %why, "import interrupted; its lease decides");
                        continue;
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
    if !crate::api::is_import_header(&header.iter().collect::<Vec<_>>().join(",")) {
        return Err(ImportStop::Malformed(format!(
            "the first line must be the header `{}`",
            crate::api::IMPORT_HEADER
        )));
    }
    Ok(reader)
}

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
    store: &S,
    clock: &Arc<dyn Clock>,
    lease: Duration,
    claimer: Uuid,
    job: &mercado_core::domain::Job,
    stop: &watch::Receiver<bool>,
) -> Result<(), ImportStop> {
    use futures_util::StreamExt;
    // A resumed job was counted by the worker before.
    let total = if job.total > 0 {
        job.total
    } else {
        count_rows(store, job.id).await?
    };

    let mut reader = records(store, job.id).await?;
    let mut rows = reader.records();
    let mut pending = Pending {
        store,
        clock,
        lease,
        claimer,
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
    store: &'a S,
    clock: &'a Arc<dyn Clock>,
    lease: Duration,
    claimer: Uuid,
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
        let now = self.clock.now();
        let batch = ImportBatch {
            job: self.job,
            claimer: self.claimer,
            products: &self.products,
            errors: &self.errors,
            done,
            total: self.total,
            now,
            until: now + self.lease,
        };
        match self.store.import_batch(&batch).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(2), Duration::seconds(4));
        assert_eq!(backoff(5), Duration::seconds(32));
        assert_eq!(backoff(12), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
