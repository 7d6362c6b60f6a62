//! Forgetting what no request needs any more: sessions that ended or expired, with their
//! refresh tokens, revocations past their tokens' expiry, and idempotency keys past
//! their retention. Requests never purge, so
//! their cost does not depend on how much has piled up.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use mercado_core::Clock;
use mercado_core::domain::KEY_RETENTION;
use mercado_core::ports::{IdempotencyRepository, SessionRepository};
use tokio::sync::watch;

use crate::{Liveness, Loop, Timing, round};

/// How often the purge runs: rows it removes are never read, so only the tables' size
/// depends on it.
pub const PURGE_EVERY: StdDuration = StdDuration::from_mins(5);

/// Purges at start and then every [`PURGE_EVERY`], beating at least each poll interval
/// between, until `stop`.
pub async fn purge<S: SessionRepository + IdempotencyRepository>(
    store: S,
    clock: Arc<dyn Clock>,
    timing: Timing,
    liveness: Arc<Liveness>,
    mut stop: watch::Receiver<bool>,
) {
    let mut due = Instant::now();
    while !*stop.borrow() {
        round(&liveness, Loop::Purge, async {
            if Instant::now() >= due {
                let now = clock.now();
                match store.purge_expired(now).await {
                    Ok(0) => {}
                    Ok(rows) => {
                        tracing::info!(rows, "ended sessions and expired revocations purged");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "purging sessions failed; tried again later");
                    }
                }
                match store.purge_keys(now - KEY_RETENTION).await {
                    Ok(0) => {}
                    Ok(rows) => tracing::info!(rows, "idempotency keys past retention purged"),
                    Err(error) => {
                        tracing::warn!(%error, "purging idempotency keys failed; tried again later");
                    }
                }
                due = Instant::now() + PURGE_EVERY;
            }
        })
        .await;
        let _ = tokio::time::timeout(timing.poll, stop.changed()).await;
    }
}
