//! The database transport: the outbox itself, claimed under leases.

use std::sync::Arc;
use std::time::Duration;

use mercado_core::Clock;
use mercado_core::delivery::{Delivery, EventSource, Settle, TransportError, settle_in_outbox};
use mercado_core::ports::{Claim, OutboxRepository};
use uuid::Uuid;

/// The database transport: events claimed from the outbox under a lease, so any number
/// of consumers share it and a dead one's events return when its lease runs out.
pub struct OutboxSource<S> {
    store: S,
    clock: Arc<dyn Clock>,
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
    pub fn new(store: S, clock: Arc<dyn Clock>, lease: time::Duration) -> Self {
        Self {
            store,
            clock,
            claimer: Uuid::now_v7(),
            lease,
        }
    }
}

impl<S: OutboxRepository + 'static> EventSource for OutboxSource<S> {
    /// Who holds the claim: this source.
    type Receipt = Uuid;

    async fn receive(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Uuid>>, TransportError> {
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
                receipt: self.claimer,
            })
            .collect())
    }

    /// Settles the batch's rows at once: each is its own small transaction, so the
    /// database commits them together rather than one after another.
    async fn settle(
        &mut self,
        settled: Vec<(Delivery<Uuid>, Settle)>,
    ) -> Vec<Result<(), TransportError>> {
        let this = &*self;
        futures_util::future::join_all(settled.into_iter().map(|(delivery, how)| {
            let now = this.clock.now();
            settle_in_outbox(&this.store, delivery.event.id, delivery.receipt, how, now)
        }))
        .await
    }
}
