//! The worker: delivers the outbox through the database itself. Each loop claims a batch
//! of events under a lease, hands each to the [`Notifier`] (mails, each sent once), and
//! completes it, or puts it back with a growing delay. A worker that dies holds nothing
//! past its lease; one asked to stop finishes the event in hand and releases the rest.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use mercado_core::Clock;
use mercado_core::notify::{Mailer, Notifier, NotifyError};
use mercado_core::ports::{Claim, ClaimedEvent, Store};
use mercado_mail::{AnyMailer, FileMailer, Renderer, SmtpMailer};
use secrecy::ExposeSecret;
use time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

use crate::settings::Settings;
use crate::startup::StartupError;

/// Events claimed at once.
const BATCH: usize = 32;
/// How long a claim holds; far longer than handling one batch takes.
const LEASE: Duration = Duration::minutes(2);
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
    poll: StdDuration,
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
            until: now + LEASE,
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
            let _ = tokio::time::timeout(poll, stop.changed()).await;
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
        poll: StdDuration,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, mailer, clock, poll, stopped));
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
