//! How recorded events reach their handlers. A transport hands events out through an
//! [`EventSource`] and is told what became of each ([`Settle`]); a relay moves events
//! from one transport into another through an [`EventSink`]. Two transports implement
//! them: the database's own outbox ([`OutboxSource`], here, over any
//! [`OutboxRepository`]) and a message broker (the AMQP adapter), fed from the outbox.
//!
//! Delivery is at least once on both: an event may be handed out again after a crash
//! or a lost acknowledgement, so handlers are idempotent (the [`crate::notify`]
//! mail log, for one).

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::events::Event;
use crate::ports::{Claim, OutboxRepository, PARKED};
use crate::{Clock, StoreError};

/// Why a transport could not hand out, settle or take events; trying later may work.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

impl From<StoreError> for TransportError {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
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

/// A transport's sending end.
pub trait EventSink: Send {
    /// Hands events over durably. One result per event, in order: `Ok` only once the
    /// transport has taken responsibility for that event.
    fn publish(
        &mut self,
        events: &[Event],
    ) -> impl Future<Output = Vec<Result<(), TransportError>>> + Send;
}

/// The database transport: events claimed from the outbox under a lease, so any number
/// of consumers share it and a dead one's events return when its lease runs out.
pub struct OutboxSource<S> {
    store: S,
    clock: std::sync::Arc<dyn Clock>,
    claimer: Uuid,
    lease: time::Duration,
}

impl<S> std::fmt::Debug for OutboxSource<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxSource")
            .field("claimer", &self.claimer)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<S: OutboxRepository> OutboxSource<S> {
    /// A consumer of `store`'s outbox whose claims hold for `lease`.
    pub fn new(store: S, clock: std::sync::Arc<dyn Clock>, lease: time::Duration) -> Self {
        Self {
            store,
            clock,
            claimer: Uuid::now_v7(),
            lease,
        }
    }

    async fn settle_one(&self, id: Uuid, how: Settle) -> Result<(), TransportError> {
        match how {
            Settle::Done => {
                let held = self
                    .store
                    .complete_event(id, self.claimer, self.clock.now())
                    .await?;
                held.then_some(()).ok_or_else(lease_lost)
            }
            Settle::Retry { at, error } => self.put_back(id, at, &error).await,
            Settle::Park { error } => self.put_back(id, PARKED, &error).await,
            Settle::Release => {
                self.put_back(id, self.clock.now(), "released by a stopping consumer")
                    .await
            }
        }
    }

    async fn put_back(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        why: &str,
    ) -> Result<(), TransportError> {
        let held = self.store.retry_event(id, self.claimer, at, why).await?;
        held.then_some(()).ok_or_else(lease_lost)
    }
}

/// The lease ran out while the event was handled: another consumer has it now (and the
/// handler's idempotency keeps the effect single).
fn lease_lost() -> TransportError {
    TransportError("lease ran out; another consumer has the event".into())
}

impl<S: OutboxRepository + 'static> EventSource for OutboxSource<S> {
    type Receipt = ();

    async fn receive(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<()>>, TransportError> {
        let now = self.clock.now();
        let claim = Claim {
            claimer: self.claimer,
            limit: max,
            now,
            until: now + self.lease,
        };
        let claimed = self.store.claim_events(&claim).await?;
        if claimed.is_empty() {
            tokio::time::sleep(wait).await;
        }
        Ok(claimed
            .into_iter()
            .map(|c| Delivery {
                event: c.event,
                attempts: c.attempts,
                receipt: (),
            })
            .collect())
    }

    /// Settles the batch's rows at once: each is its own small transaction, so the
    /// database commits them together rather than one after another.
    async fn settle(
        &mut self,
        settled: Vec<(Delivery<()>, Settle)>,
    ) -> Vec<Result<(), TransportError>> {
        let this = &*self;
        futures_util::future::join_all(
            settled
                .into_iter()
                .map(|(delivery, how)| this.settle_one(delivery.event.id, how)),
        )
        .await
    }
}
