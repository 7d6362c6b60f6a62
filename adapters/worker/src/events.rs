//! The event loops: [`consume`] hands events to the notifier and settles them; [`relay`]
//! moves the outbox into another transport.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use futures_util::FutureExt as _;
use mercado_core::Clock;
use mercado_core::delivery::{
    Delivery, EventSink, EventSource, Outgoing, Settle, TransportError, after_failure, given_up,
};
use mercado_core::events::Event;
use mercado_core::notify::{Mailer, Notifier};
use mercado_core::ports::Store;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use crate::{BATCH, Liveness, Loop, Timing, panic_message, round};

/// Events one worker handles at once: mail servers and databases serve several requests
/// at once far faster than the same requests one after another.
const CONCURRENCY: usize = 8;
/// The longest pause after a transport failure before trying it again.
const MAX_TRANSPORT_PAUSE: StdDuration = StdDuration::from_secs(5);

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
/// eight at a time, and settles them.
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
    if let Some(parked) = given_up(attempts) {
        tracing::error!(event = %event.id, attempts, ?parked, "event parked");
        return parked;
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
pub async fn relay<E: EventSource<Receipt = Uuid>, K: EventSink>(
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
async fn relay_batch<E: EventSource<Receipt = Uuid>, K: EventSink>(
    outbox: &mut E,
    sink: &mut K,
    clock: &Arc<dyn Clock>,
    timing: Timing,
    stop: &mut watch::Receiver<bool>,
    failures: &mut Failures,
) {
    // A sink that is down gets nothing claimed for it: an outage is not an attempt.
    if let Err(error) = sink.ready().await {
        let what = "events not relayed; they wait in the outbox";
        failures.pause(stop, &error, what).await;
        return;
    }
    let what = "cannot claim events to relay; trying again";
    let Some(batch) = failures.receive(outbox, timing.poll, stop, what).await else {
        return;
    };
    if batch.is_empty() {
        return;
    }
    let outgoing: Vec<_> = batch
        .iter()
        .map(|d| Outgoing {
            event: d.event.clone(),
            attempts: d.attempts,
            claimer: d.receipt,
        })
        .collect();
    let published = sink.publish(&outgoing).await;
    let mut refused = None;
    let settled = batch
        .into_iter()
        .zip(published)
        .filter_map(|(delivery, result)| match result {
            Ok(()) if K::KEEPS_EVENTS => Some((delivery, Settle::Done)),
            // Its consumer settles it in the outbox once handled; until then it stays
            // claimed, and comes round again if the sink loses it.
            Ok(()) => None,
            Err(error) => {
                // Back in a moment; the pause below keeps the moment from being busy.
                let how = Settle::Retry {
                    at: clock.now(),
                    error: error.to_string(),
                };
                refused = Some(error);
                Some((delivery, how))
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
}
