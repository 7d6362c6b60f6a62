//! Mercado's worker, for the server and for any program that embeds the library: it
//! delivers recorded events and runs import jobs over any [`Store`]. Events come from
//! one of two transports behind [`EventSource`]: the database's outbox itself
//! ([`OutboxSource`]), or a broker (then a relay moves the outbox into it, with
//! confirms). Each event goes to the [`Notifier`] (mails, each sent once) and is settled
//! as `mercado-core`'s policy says: done, retried later with a growing delay, or parked.
//! A worker that dies holds nothing past its lease (outbox) or its connection (broker);
//! one asked to stop finishes the event in hand and releases the rest.
//!
//! This is where the async runtime enters: the loops sleep, time out and spawn on Tokio.
//!
//! ```no_run
//! # async fn run(store: impl mercado_core::ports::Store, mailer: impl mercado_core::notify::Mailer) {
//! use std::sync::Arc;
//! use mercado_worker::{Liveness, Timing, Transport, WorkerHandle};
//!
//! let clock: Arc<dyn mercado_core::Clock> = Arc::new(mercado_core::SystemClock);
//! let worker = WorkerHandle::spawn(
//!     store,
//!     Transport::outbox(),
//!     mailer,
//!     mercado_core::notify::Links::default(),
//!     clock,
//!     Timing::default(),
//!     Liveness::new(std::time::Duration::from_secs(120)),
//! );
//! // … until the program stops:
//! worker.stop().await;
//! # }
//! ```

mod events;
mod imports;
mod outbox;
mod purge;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use futures_util::FutureExt as _;
use mercado_core::Clock;
use mercado_core::delivery::{Delivery, EventSink, EventSource, Outgoing, Settle, TransportError};
use mercado_core::notify::{Links, Mailer, Notifier};
use mercado_core::ports::Store;
use time::Duration;
use tokio::sync::watch;

pub use events::{consume, relay};
pub use imports::run_imports;
pub use outbox::OutboxSource;
pub use purge::{PURGE_EVERY, purge};

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

impl Default for Timing {
    /// Half a second between looks, two-minute claims: what `mercado serve` uses.
    fn default() -> Self {
        Self {
            poll: StdDuration::from_millis(500),
            lease: Duration::minutes(2),
        }
    }
}

/// A worker's loop: each shows it is alive by beating at least once a lease.
#[derive(Debug, Clone, Copy)]
pub enum Loop {
    /// Taking events and mailing.
    Events = 0,
    /// Moving the outbox into the broker.
    Relay = 1,
    /// Running imports.
    Imports = 2,
    /// Purging ended sessions.
    Purge = 3,
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
    beats: [AtomicU64; 4],
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
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Runs one round of a loop; a panic in it is logged and counted, and the loop goes on
/// after a pause (so a panic that recurs is not a busy loop).
pub(crate) async fn round(liveness: &Liveness, which: Loop, work: impl Future<Output = ()>) {
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

/// No broker: the type of [`Transport::Outbox`]'s unused ends.
#[derive(Debug)]
pub enum NoBroker {}

impl EventSink for NoBroker {
    async fn publish(&mut self, _: &[Outgoing]) -> Vec<Result<(), TransportError>> {
        match *self {}
    }
}

impl EventSource for NoBroker {
    type Receipt = ();

    async fn receive(
        &mut self,
        _: usize,
        _: StdDuration,
    ) -> Result<Vec<Delivery<()>>, TransportError> {
        match *self {}
    }

    async fn settle(&mut self, _: Vec<(Delivery<()>, Settle)>) -> Vec<Result<(), TransportError>> {
        match *self {}
    }
}

impl Transport<NoBroker, NoBroker> {
    /// Events straight from the database's outbox, with no broker.
    pub fn outbox() -> Self {
        Self::Outbox
    }
}

/// A worker running beside the server (or alone, for `mercado worker`), and how to stop it.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Starts a worker on `store`: imports, the purge of ended sessions, and events through
    /// `transport`, mailed by `mailer` with links made by `links`; its loops report to
    /// `liveness`.
    pub fn spawn<S, M, K, E>(
        store: S,
        transport: Transport<K, E>,
        mailer: M,
        links: Links,
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
        let mut tasks = vec![
            tokio::spawn(run_imports(
                store.clone(),
                clock.clone(),
                timing,
                liveness.clone(),
                stopped.clone(),
            )),
            tokio::spawn(purge(
                store.clone(),
                clock.clone(),
                timing,
                liveness.clone(),
                stopped.clone(),
            )),
        ];
        let outbox = OutboxSource::new(store.clone(), clock.clone(), timing.lease);
        let notifier = Notifier::new(store, mailer, clock.clone(), links);
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
