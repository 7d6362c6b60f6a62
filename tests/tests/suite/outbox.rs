//! The outbox as deliverers see it, on every database: events are claimed under a lease,
//! oldest first, never by two claimers at once; a lapsed lease or a retry time hands
//! them out again; completed events are never claimed again.

use std::collections::HashSet;

use mercado_core::events::DomainEvent;
use mercado_core::ports::{Claim, ClaimedEvent, OutboxRepository, PARKED};
use mercado_tests::{Backend, TestApp, conformance, spawn_app_with};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A server whose own worker stays off: these tests are the deliverers.
async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.run_worker = false).await
}

conformance!(
    events_are_claimed_oldest_first_once_and_completed,
    concurrent_claimers_never_share_an_event,
    a_lapsed_lease_moves_the_event_to_the_next_claimer,
    a_retried_event_waits_until_its_time,
    a_parked_event_is_never_claimed_again,
);

/// A claim of up to `limit` events for `lease` from `now`, by a fresh claimer.
fn claim(now: OffsetDateTime, limit: usize, lease: Duration) -> Claim {
    Claim {
        claimer: Uuid::now_v7(),
        limit,
        now,
        until: now + lease,
    }
}

/// Signs up `n` users through the API: one `UserCreated` event each.
async fn sign_ups(app: &TestApp, n: usize) -> HashSet<String> {
    let mut emails = HashSet::new();
    for _ in 0..n {
        let (_, user) = app.new_user().await;
        emails.insert(user["email"].as_str().unwrap().to_owned());
    }
    emails
}

fn signed_up(events: &[ClaimedEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|c| match &c.event.payload {
            DomainEvent::UserCreated { email, .. } => Some(email.clone()),
            _ => None,
        })
        .collect()
}

async fn events_are_claimed_oldest_first_once_and_completed(backend: Backend) {
    let app = spawn_app(backend).await;
    let emails = sign_ups(&app, 3).await;
    let now = OffsetDateTime::now_utc();
    let first = claim(now, 100, Duration::minutes(5));
    let claimed = app.store.claim_events(&first).await.unwrap();
    // The first superuser's sign-up, then the three, in the order they happened.
    assert_eq!(claimed.len(), 4, "{claimed:?}");
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.event.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(claimed.iter().all(|c| c.attempts == 1));
    let got: HashSet<String> = signed_up(&claimed).into_iter().collect();
    assert!(emails.is_subset(&got), "{got:?}");

    // Held: nobody else gets them while the lease runs.
    let other = claim(now, 100, Duration::minutes(5));
    assert!(app.store.claim_events(&other).await.unwrap().is_empty());

    for c in &claimed {
        assert!(
            app.store
                .complete_event(c.event.id, first.claimer, now)
                .await
                .unwrap()
        );
    }
    // Delivered: not even a lapsed lease brings them back.
    let later = claim(now + Duration::hours(1), 100, Duration::minutes(5));
    assert!(app.store.claim_events(&later).await.unwrap().is_empty());
}

async fn concurrent_claimers_never_share_an_event(backend: Backend) {
    let app = spawn_app(backend).await;
    sign_ups(&app, 24).await;
    let now = OffsetDateTime::now_utc();
    let mut claimers = Vec::new();
    for _ in 0..6 {
        let store = app.store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_events(&claim(now, 3, Duration::minutes(5)))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.event.id));
            }
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "an event was claimed twice");
    // 24 sign-ups and the first superuser's.
    assert_eq!(distinct.len(), 25);
}

async fn a_lapsed_lease_moves_the_event_to_the_next_claimer(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = OffsetDateTime::now_utc();
    let crashed = claim(now, 1, Duration::seconds(30));
    let held = app.store.claim_events(&crashed).await.unwrap();
    assert_eq!(held.len(), 1);
    let id = held[0].event.id;

    // Before the lease ends: still held. After: the next claimer gets it.
    let early = claim(now + Duration::seconds(29), 1, Duration::seconds(30));
    assert!(app.store.claim_events(&early).await.unwrap().is_empty());
    let next = claim(now + Duration::seconds(31), 1, Duration::seconds(30));
    let again = app.store.claim_events(&next).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].event.id, again[0].attempts), (id, 2));

    // The first claimer woke up too late: its completion does not count.
    assert!(
        !app.store
            .complete_event(id, crashed.claimer, now)
            .await
            .unwrap()
    );
    assert!(
        !app.store
            .retry_event(id, crashed.claimer, now, "late")
            .await
            .unwrap()
    );
    assert!(
        app.store
            .complete_event(id, next.claimer, now + Duration::seconds(32))
            .await
            .unwrap()
    );
}

async fn a_retried_event_waits_until_its_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = OffsetDateTime::now_utc();
    let first = claim(now, 1, Duration::minutes(5));
    let id = app.store.claim_events(&first).await.unwrap()[0].event.id;
    let retry_at = now + Duration::seconds(60);
    assert!(
        app.store
            .retry_event(id, first.claimer, retry_at, "mail server down")
            .await
            .unwrap()
    );
    let soon = claim(now + Duration::seconds(59), 1, Duration::minutes(5));
    assert!(app.store.claim_events(&soon).await.unwrap().is_empty());
    let then = claim(retry_at, 1, Duration::minutes(5));
    let again = app.store.claim_events(&then).await.unwrap();
    assert_eq!((again[0].event.id, again[0].attempts), (id, 2));
}

/// Parking stores the far-future time as it is: a driver that sent it in a type that ends
/// sooner (MySQL's TIMESTAMP ends in 2038) would store NULL, and a NULL lease is free to
/// claim at once, so the event would be retried in a tight loop.
async fn a_parked_event_is_never_claimed_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = OffsetDateTime::now_utc();
    let first = claim(now, 1, Duration::minutes(5));
    let id = app.store.claim_events(&first).await.unwrap()[0].event.id;
    assert!(
        app.store
            .retry_event(id, first.claimer, PARKED, "mailbox refused")
            .await
            .unwrap()
    );
    for later in [Duration::ZERO, Duration::days(365 * 100)] {
        let next = claim(now + later, 10, Duration::minutes(5));
        let claimed = app.store.claim_events(&next).await.unwrap();
        assert!(
            claimed.iter().all(|c| c.event.id != id),
            "parked event claimed again {later} later"
        );
    }
}
