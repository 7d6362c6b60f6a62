//! How recorded events reach their handlers. A transport hands events out through an
//! [`EventSource`] and is told what became of each ([`Settle`]); a relay moves events
//! from one transport into another through an [`EventSink`]. Two transports implement
//! them: the database's own outbox (`mercado-worker`'s `OutboxSource`, over any
//! `OutboxRepository`) and a message broker (the AMQP adapter), fed from the outbox.
//! What becomes of a failed event is decided here ([`after_failure`]); the loops that
//! run it, with their timers, are `mercado-worker`'s.
//!
//! Delivery is at least once on both: an event may be handed out again after a crash
//! or a lost acknowledgement, so handlers are idempotent (the [`crate::notify`]
//! mail log, for one).

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;

use uuid::Uuid;

use crate::StoreError;
use crate::events::Event;
use crate::notify::NotifyError;
use crate::ports::{OutboxRepository, PARKED};

/// Why a transport could not hand out, settle or take events; trying later may work.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    message: String,
    /// What failed beneath (the store's or the broker client's error), shared because a
    /// transport error is reported for every event of a batch.
    #[source]
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TransportError {
    /// An error with nothing beneath it.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error met while `doing`, caused by `error`.
    pub fn caused_by(
        doing: impl std::fmt::Display,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: format!("{doing}: {error}"),
            source: Some(std::sync::Arc::new(error)),
        }
    }
}

impl From<StoreError> for TransportError {
    fn from(e: StoreError) -> Self {
        Self {
            message: e.to_string(),
            source: Some(std::sync::Arc::new(e)),
        }
    }
}

/// One event handed out, with what its transport needs to settle it.
#[derive(Debug)]
pub struct Delivery<R> {
    /// The event.
    pub event: Event,
    /// How many times it was handed out, this time included (1 the first time).
    pub attempts: u32,
    /// The transport's handle on this hand-out.
    pub receipt: R,
}

/// What became of a delivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Handled: not handed out again.
    Done,
    /// Failed, may work later: hand it out again, not before `at`.
    Retry {
        /// The earliest next attempt.
        at: OffsetDateTime,
        /// Why it failed, kept for operators.
        error: String,
    },
    /// Failed for good: set aside, with why, for an operator.
    Park {
        /// Why it failed.
        error: String,
    },
    /// Not handled (the consumer is stopping): hand it out again now, to anyone.
    Release,
}

/// A transport's receiving end.
pub trait EventSource: Send {
    /// The transport's handle on one hand-out.
    type Receipt: Send;

    /// Up to `max` events, waiting up to `wait` for the first; empty when none came.
    ///
    /// # Errors
    /// [`TransportError`]: nothing was handed out.
    fn receive(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery<Self::Receipt>>, TransportError>> + Send;

    /// Records what became of each delivery; one result per delivery, in order.
    /// A failed one is handed out again later.
    fn settle(
        &mut self,
        settled: Vec<(Delivery<Self::Receipt>, Settle)>,
    ) -> impl Future<Output = Vec<Result<(), TransportError>>> + Send;
}

/// An event the relay hands to a sink, with the outbox claim it is held under (what a
/// sink that keeps nothing passes on, so that its consumer settles the event there).
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The event.
    pub event: Event,
    /// How many times the outbox handed it out, this claim included.
    pub attempts: u32,
    /// Who holds the claim.
    pub claimer: Uuid,
}

/// A transport's sending end.
pub trait EventSink: Send {
    /// Whether what the sink confirmed survives the sink's own restart (a broker that
    /// writes it to disk). When it may not (Redis without persistence), the relay leaves
    /// each event claimed in the outbox, and the transport's consumer settles it there
    /// ([`settle_in_outbox`]) once handled: until then the outbox is the record, and an
    /// event the sink lost is relayed again when its claim runs out.
    const KEEPS_EVENTS: bool = true;

    /// Whether the sink takes events now: the relay claims none while it does not, so an
    /// outage does not count as attempts.
    ///
    /// # Errors
    /// [`TransportError`] when it does not answer.
    fn ready(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send {
        std::future::ready(Ok(()))
    }

    /// Hands events over durably. One result per event, in order: `Ok` only once the
    /// transport has taken responsibility for that event.
    fn publish(
        &mut self,
        events: &[Outgoing],
    ) -> impl Future<Output = Vec<Result<(), TransportError>>> + Send;
}

/// Settles in the outbox an event claimed there by `claimer`: done, put back until a
/// time (retried, parked at [`PARKED`], or released now).
///
/// # Errors
/// [`TransportError`] when the store fails, or the claim ran out meanwhile (another
/// claim has the event; the handler's idempotency keeps the effect single).
pub async fn settle_in_outbox<S: OutboxRepository>(
    store: &S,
    id: Uuid,
    claimer: Uuid,
    how: Settle,
    now: OffsetDateTime,
) -> Result<(), TransportError> {
    let held = match how {
        Settle::Done => store.complete_event(id, claimer, now).await?,
        Settle::Retry { at, error } => store.retry_event(id, claimer, at, &error).await?,
        Settle::Park { error } => store.retry_event(id, claimer, PARKED, &error).await?,
        Settle::Release => {
            store
                .retry_event(id, claimer, now, "released by a stopping consumer")
                .await?
        }
    };
    held.then_some(())
        .ok_or_else(|| TransportError::new("lease ran out; another consumer has the event"))
}

/// Attempts before an event is parked (kept, with its last error, for an operator).
pub const MAX_ATTEMPTS: u32 = 12;
/// Retry delays double from 2 s up to this.
const MAX_BACKOFF: time::Duration = time::Duration::hours(1);

/// When a failed event may be tried again: 2 s, 4 s, 8 s, … up to an hour.
fn backoff(attempts: u32) -> time::Duration {
    let seconds = 1i64 << attempts.clamp(1, 20);
    time::Duration::seconds(seconds).min(MAX_BACKOFF)
}

/// What becomes of an event its handler failed on: retried later, unless it failed for
/// good (a mail refused) or too often.
pub fn after_failure(error: &NotifyError, attempts: u32, now: OffsetDateTime) -> Settle {
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

/// What becomes of an event handed out for the `attempts`-th time before it is handled:
/// parked when that is past [`MAX_ATTEMPTS`] (its parking was lost, so it came again).
pub fn given_up(attempts: u32) -> Option<Settle> {
    (attempts > MAX_ATTEMPTS).then(|| Settle::Park {
        error: format!("given up after {MAX_ATTEMPTS} attempts"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{MailError, NotifyError};

    #[test]
    fn failures_are_retried_later_unless_permanent_or_too_many() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mail = |transient| NotifyError::Mail(MailError::new(transient, "550 no such user"));
        assert_eq!(
            after_failure(&mail(true), 3, now),
            Settle::Retry {
                at: now + time::Duration::seconds(8),
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
        assert_eq!(given_up(MAX_ATTEMPTS), None);
        assert!(matches!(
            given_up(MAX_ATTEMPTS + 1),
            Some(Settle::Park { .. })
        ));
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff(1), time::Duration::seconds(2));
        assert_eq!(backoff(2), time::Duration::seconds(4));
        assert_eq!(backoff(5), time::Duration::seconds(32));
        assert_eq!(backoff(12), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
