//! The worker: delivers events and runs jobs. Events come from one of two transports
//! behind [`EventSource`]: the database's outbox itself, or RabbitMQ (then a relay moves
//! the outbox into the broker, with confirms). Each event goes to the [`Notifier`]
//! (mails, each sent once) and is settled: done, retried later with a growing delay, or
//! parked. A worker that dies holds nothing past its lease (outbox) or its connection
//! (broker); one asked to stop finishes the event in hand and releases the rest.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use futures_util::FutureExt as _;
use mercado_core::Clock;
use mercado_core::delivery::{
    Delivery, EventSink, EventSource, OutboxSource, Settle, TransportError,
};
use mercado_core::domain::{JobError, JobId, JobStatus, NewProduct, Product};
use mercado_core::events::Event;
use mercado_core::notify::{Mailer, Notifier, NotifyError};
use mercado_core::ports::{Claim, ImportBatch, Store};
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;
use uuid::Uuid;

/// Events taken at once (and the broker consumer's prefetch window).
pub const BATCH: u16 = 32;
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
/// Events one worker handles at once: mail servers and databases serve several requests
/// at once far faster than the same requests one after another.
const CONCURRENCY: usize = 8;
/// The longest pause after a transport failure before trying it again.
const MAX_TRANSPORT_PAUSE: StdDuration = StdDuration::from_secs(5);

/// A worker's loop: each shows it is alive by beating at least once a lease.
#[derive(Debug, Clone, Copy)]
pub enum Loop {
    /// Taking events and mailing.
    Events = 0,
    /// Moving the outbox into the broker.
    Relay = 1,
    /// Running imports.
    Imports = 2,
}

/// How a worker is doing, as readiness and metrics tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Every loop beat within the last lease.
    Running,
    /// A loop has not beaten for longer than a lease: it hangs on something.
    Stuck,
    /// The worker has ended.
    Stopped,
}

impl Health {
    /// The word readiness reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "ok",
            Self::Stuck => "stuck",
            Self::Stopped => "stopped",
        }
    }
}

/// Signs of life of one worker's loops, shared with readiness and metrics.
#[derive(Debug)]
pub struct Liveness {
    epoch: Instant,
    /// Per [`Loop`]: milliseconds after `epoch` of its last beat, plus one (0: never).
    beats: [AtomicU64; 3],
    restarts: AtomicU64,
    running: AtomicBool,
    stuck_after: StdDuration,
}

impl Liveness {
    /// Liveness of a worker about to start (running until its [`WorkerHandle`] ends); a
    /// loop is stuck after `stuck_after` without a beat.
    pub fn new(stuck_after: StdDuration) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            beats: Default::default(),
            restarts: AtomicU64::new(0),
            running: AtomicBool::new(true),
            stuck_after,
        })
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `which` is alive.
    pub fn beat(&self, which: Loop) {
        self.beats[which as usize].store(self.millis() + 1, Ordering::Relaxed);
    }

    /// The longest time since a running loop's last beat.
    pub fn silence(&self) -> StdDuration {
        let now = self.millis() + 1;
        let oldest = self
            .beats
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .filter(|&b| b > 0)
            .map(|b| now.saturating_sub(b))
            .max()
            .unwrap_or(0);
        StdDuration::from_millis(oldest)
    }

    /// How the worker is doing.
    pub fn health(&self) -> Health {
        if !self.running.load(Ordering::Relaxed) {
            Health::Stopped
        } else if self.silence() > self.stuck_after {
            Health::Stuck
        } else {
            Health::Running
        }
    }

    /// Loop rounds started again after a panic, since the process started.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}

/// What a caught panic said.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Runs one round of a loop; a panic in it is logged and counted, and the loop goes on
/// after a pause (so a panic that recurs is not a busy loop).
async fn round(liveness: &Liveness, which: Loop, work: impl Future<Output = ()>) {
    liveness.beat(which);
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        liveness.restarts.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            worker_loop = ?which,
            panic = panic_message(panic.as_ref()),
            "worker loop panicked; it starts again in a second"
        );
        tokio::time::sleep(StdDuration::from_secs(1)).await;
    }
    liveness.beat(which);
}

/// When a failed event may be tried again: 2 s, 4 s, 8 s, … up to an hour.
fn backoff(attempts: u32) -> Duration {
    let seconds = 1i64 << attempts.clamp(1, 20);
    Duration::seconds(seconds).min(MAX_BACKOFF)
}

/// What becomes of an event its handler failed on: retried later, unless it failed for
/// good (a mail refused) or too often.
fn after_failure(error: &NotifyError, attempts: u32, now: OffsetDateTime) -> Settle {
    let permanent = matches!(error, NotifyError::Mail(e) if !e.transient);
    if permanent || attempts >= MAX_ATTEMPTS {
        Settle::Park {
            error: error.to_string(),
        }
    } else {
        Settle::Retry {
            at: now + backoff(attempts),
            error: error.to_string(),
        }
    }
}

/// Waits `pause`, or less if asked to stop meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, pause: StdDuration) {
    let _ = tokio::time::timeout(pause, stop.changed()).await;
}

/// The pause after `failures` transport failures in a row: a quarter second, doubling up
/// to [`MAX_TRANSPORT_PAUSE`].
fn transport_pause(failures: u32) -> StdDuration {
    (StdDuration::from_millis(250) * 2u32.pow(failures.min(5))).min(MAX_TRANSPORT_PAUSE)
}

/// Failures of a transport in a row, and the pause they call for.
struct Failures(u32);

impl Failures {
    /// The next batch from `source`; `None` when it failed, after logging `what` and
    /// pausing.
    async fn receive<E: EventSource>(
        &mut self,
        source: &mut E,
        poll: StdDuration,
        stop: &mut watch::Receiver<bool>,
        what: &str,
    ) -> Option<Vec<Delivery<E::Receipt>>> {
        match source.receive(BATCH.into(), poll).await {
            Ok(batch) => Some(batch),
            Err(error) => {
                self.pause(stop, &error, what).await;
                None
            }
        }
    }

    /// The transport works again.
    fn reset(&mut self) {
        self.0 = 0;
    }

    /// Logs one more failure and pauses (less if asked to stop meanwhile).
    async fn pause(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        error: &TransportError,
        what: &str,
    ) {
        self.0 += 1;
        tracing::warn!(%error, failures = self.0, "{what}");
        pause(stop, transport_pause(self.0)).await;
    }
}

/// Runs until `stop` turns true: takes events from `source`, hands them to the notifier
/// [`CONCURRENCY`] at a time, and settles them.
pub async fn consume<E: EventSource, S: Store, M: Mailer>(
    mut source: E,
    notifier: Notifier<S, M>,
    clock: Arc<dyn Clock>,
    timing: Timing,
    liveness: Arc<Liveness>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = Failures(0);
    while !*stop.borrow() {
        let batch = consume_batch(
            &mut source,
            &notifier,
            &clock,
            timing,
            &liveness,
            &mut stop,
            &mut failures,
        );
        round(&liveness, Loop::Events, batch).await;
    }
}

/// Takes one batch from `source` and settles it, or releases what is left of it when
/// asked to stop.
async fn consume_batch<E: EventSource, S: Store, M: Mailer>(
    source: &mut E,
    notifier: &Notifier<S, M>,
    clock: &Arc<dyn Clock>,
    timing: Timing,
    liveness: &Liveness,
    stop: &mut watch::Receiver<bool>,
    failures: &mut Failures,
) {
    let what = "cannot receive events; trying again";
    let Some(batch) = failures.receive(source, timing.poll, stop, what).await else {
        return;
    };
    failures.reset();
    let mut pending = batch.into_iter();
    while !*stop.borrow() {
        let handling = pending
            .by_ref()
            .take(CONCURRENCY)
            .map(|delivery| async move {
                let how = handle(notifier, &delivery.event, delivery.attempts, clock.now()).await;
                (delivery, how)
            });
        let settled = futures_util::future::join_all(handling).await;
        if settled.is_empty() {
            break;
        }
        settle(source, settled).await;
        liveness.beat(Loop::Events);
    }
    // Stopping mid-batch: what is left goes back at once for another worker.
    let released = pending.map(|d| (d, Settle::Release)).collect();
    settle(source, released).await;
}

/// Hands one event to the notifier; what becomes of it. A panic while handling it parks
/// it like a permanent failure: a poison event never stops delivery of the others.
async fn handle<S: Store, M: Mailer>(
    notifier: &Notifier<S, M>,
    event: &Event,
    attempts: u32,
    now: OffsetDateTime,
) -> Settle {
    if attempts > MAX_ATTEMPTS {
        // Settled as parked before, but handed out again (a lost outcome): stop here.
        let error = format!("given up after {MAX_ATTEMPTS} attempts");
        tracing::error!(event = %event.id, attempts, %error, "event parked");
        return Settle::Park { error };
    }
    let outcome = match AssertUnwindSafe(notifier.handle(event))
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(panic) => {
            let error = format!("handling it panicked: {}", panic_message(panic.as_ref()));
            tracing::error!(event = %event.id, attempts, %error, "event parked");
            return Settle::Park { error };
        }
    };
    match outcome {
        Ok(sent) => {
            tracing::debug!(event = %event.id, kind = event.payload.kind(), sent, "event delivered");
            Settle::Done
        }
        Err(error) => {
            let how = after_failure(&error, attempts, now);
            if matches!(how, Settle::Park { .. }) {
                tracing::error!(event = %event.id, attempts, %error, "event parked");
            } else {
                tracing::warn!(event = %event.id, attempts, %error, "event will be retried");
            }
            how
        }
    }
}

/// Records outcomes; a lost one only means the event is handed out again.
async fn settle<E: EventSource>(source: &mut E, settled: Vec<(Delivery<E::Receipt>, Settle)>) {
    if settled.is_empty() {
        return;
    }
    let ids: Vec<_> = settled.iter().map(|(d, _)| d.event.id).collect();
    for (id, result) in ids.into_iter().zip(source.settle(settled).await) {
        if let Err(error) = result {
            tracing::warn!(event = %id, %error, "outcome not recorded; the event will come again");
        }
    }
}

/// Runs until `stop` turns true: moves events from the outbox into `sink`. An event
/// leaves the outbox only once the sink has confirmed it; the rest wait there, through
/// any outage of the sink.
pub async fn relay<E: EventSource, K: EventSink>(
    mut outbox: E,
    mut sink: K,
    clock: Arc<dyn Clock>,
    timing: Timing,
    liveness: Arc<Liveness>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = Failures(0);
    while !*stop.borrow() {
        let batch = relay_batch(
            &mut outbox,
            &mut sink,
            &clock,
            timing,
            &mut stop,
            &mut failures,
        );
        round(&liveness, Loop::Relay, batch).await;
    }
}

/// Moves one batch from the outbox into `sink`.
async fn relay_batch<E: EventSource, K: EventSink>(
    outbox: &mut E,
    sink: &mut K,
    clock: &Arc<dyn Clock>,
    timing: Timing,
    stop: &mut watch::Receiver<bool>,
    failures: &mut Failures,
) {
    let what = "cannot claim events to relay; trying again";
    let Some(batch) = failures.receive(outbox, timing.poll, stop, what).await else {
        return;
    };
    if batch.is_empty() {
        return;
    }
    let events: Vec<_> = batch.iter().map(|d| d.event.clone()).collect();
    let published = sink.publish(&events).await;
    let mut refused = None;
    let settled = batch
        .into_iter()
        .zip(published)
        .map(|(delivery, result)| match result {
            Ok(()) => (delivery, Settle::Done),
            Err(error) => {
                // Back in a moment; the pause below keeps the moment from being busy.
                let how = Settle::Retry {
                    at: clock.now(),
                    error: error.to_string(),
                };
                refused = Some(error);
                (delivery, how)
            }
        })
        .collect();
    settle(outbox, settled).await;
    if let Some(error) = refused {
        let what = "events not relayed; they wait in the outbox";
        failures.pause(stop, &error, what).await;
    } else {
        failures.reset();
    }
}

/// Where a worker takes its events from.
#[derive(Debug)]
pub enum Transport<K, E> {
    /// Straight from the database's outbox.
    Outbox,
    /// Through a broker: the outbox relayed into `publisher`, events taken from `consumer`.
    Broker {
        /// The broker's sending end.
        publisher: K,
        /// The broker's receiving end.
        consumer: E,
    },
}

/// A worker running beside the server (or alone, for `mercado worker`), and how to stop it.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Starts a worker on `store`: imports, and events through `transport`; its loops
    /// report to `liveness`.
    pub fn spawn<S, M, K, E>(
        store: S,
        transport: Transport<K, E>,
        mailer: M,
        clock: Arc<dyn Clock>,
        timing: Timing,
        liveness: Arc<Liveness>,
    ) -> Self
    where
        S: Store,
        M: Mailer,
        K: EventSink + 'static,
        E: EventSource + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(run_imports(
            store.clone(),
            clock.clone(),
            timing,
            liveness.clone(),
            stopped.clone(),
        ))];
        let outbox = OutboxSource::new(store.clone(), clock.clone(), timing.lease);
        let notifier = Notifier::new(store, mailer, clock.clone());
        match transport {
            Transport::Broker {
                publisher,
                consumer,
            } => {
                let relayed = relay(
                    outbox,
                    publisher,
                    clock.clone(),
                    timing,
                    liveness.clone(),
                    stopped.clone(),
                );
                tasks.push(tokio::spawn(relayed));
                tasks.push(tokio::spawn(consume(
                    consumer,
                    notifier,
                    clock,
                    timing,
                    liveness.clone(),
                    stopped,
                )));
            }
            Transport::Outbox => tasks.push(tokio::spawn(consume(
                outbox,
                notifier,
                clock,
                timing,
                liveness.clone(),
                stopped,
            ))),
        }
        tracing::info!("worker started");
        let task = tokio::spawn(async move {
            for ended in futures_util::future::join_all(tasks).await {
                if let Err(error) = ended {
                    tracing::error!(%error, "a worker loop ended unexpectedly");
                }
            }
            liveness.running.store(false, Ordering::Relaxed);
            tracing::info!("worker stopped");
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
                let held = Held {
                    store,
                    clock,
                    lease: timing.lease,
                    claimer,
                    liveness,
                };
                import(&held, &claimed.job, stop).await
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
    held: &Held<'_, S>,
    job: &mercado_core::domain::Job,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_pauses_double_up_to_five_seconds() {
        assert_eq!(transport_pause(0), StdDuration::from_millis(250));
        assert_eq!(transport_pause(1), StdDuration::from_millis(500));
        assert_eq!(transport_pause(4), StdDuration::from_secs(4));
        assert_eq!(transport_pause(5), MAX_TRANSPORT_PAUSE);
        assert_eq!(transport_pause(u32::MAX), MAX_TRANSPORT_PAUSE);
    }

    #[test]
    fn failures_are_retried_later_unless_permanent_or_too_many() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mail = |transient| {
            NotifyError::Mail(mercado_core::notify::MailError {
                transient,
                message: "550 no such user".into(),
            })
        };
        assert_eq!(
            after_failure(&mail(true), 3, now),
            Settle::Retry {
                at: now + Duration::seconds(8),
                error: "mail: 550 no such user".into()
            }
        );
        assert!(matches!(
            after_failure(&mail(false), 1, now),
            Settle::Park { .. }
        ));
        assert!(matches!(
            after_failure(&mail(true), MAX_ATTEMPTS, now),
            Settle::Park { .. }
        ));
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(2), Duration::seconds(4));
        assert_eq!(backoff(5), Duration::seconds(32));
        assert_eq!(backoff(12), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
