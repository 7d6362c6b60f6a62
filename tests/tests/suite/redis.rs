//! Events through the machine's real Redis (Streams, no persistence), on every database:
//! relayed from the outbox, read by a consumer group, each mail exactly once, a dead
//! consumer's entries taken over, unreadable entries dead-lettered, and the outbox the
//! record until an event is handled. Each test has a key prefix of its own.

use std::sync::Arc;
use std::time::Duration;

use mercado_core::SystemClock;
use mercado_core::delivery::{EventSink, EventSource, Outgoing};
use mercado_core::events::DomainEvent;
use mercado_core::ports::{Claim, OutboxRepository as _};
use mercado_redis::Streams;
use mercado_server::startup::{self, Broker};
use mercado_tests::redis_prefix::{Prefix, redis_url};
use mercado_tests::smtp::{SmtpSink, expect_broker_round_trip, recipients};
use mercado_tests::{Backend, TestApp, conformance, free_port, spawn_app_with};
use mercado_worker::{Liveness, OutboxSource};

conformance!(
    events_go_through_redis_and_mail_once,
    unreadable_entries_are_dead_lettered_and_the_rest_delivered,
    a_dead_consumers_entries_are_taken_over_and_mailed_once,
    an_unreachable_redis_stops_nothing_but_readiness,
    transient_failures_are_retried_through_the_outbox,
    an_event_handed_out_too_often_is_parked_and_dead_lettered,
);

async fn app_on(backend: Backend, prefix: &Prefix, sink: &SmtpSink) -> TestApp {
    let (name, smtp) = (prefix.name.clone(), sink.url());
    spawn_app_with(backend, |s| {
        s.redis_url = Some(redis_url().into());
        s.redis_prefix = name;
        s.smtp_url = Some(smtp.into());
    })
    .await
}

/// The text of `/metrics`.
async fn metrics(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// Waits until the outbox has nothing undelivered: each event settled there.
async fn wait_outbox_empty(app: &TestApp) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = metrics(app).await;
        if text.lines().any(|l| l == "mercado_outbox_backlog 0") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outbox not empty:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events_go_through_redis_and_mail_once(backend: Backend) {
    let prefix = Prefix::default();
    let sink = SmtpSink::start();
    let app = app_on(backend, &prefix, &sink).await;
    expect_broker_round_trip(&app, &sink).await;
    prefix.wait_settled().await;
    // Settled in the outbox too: the stream was never the record.
    wait_outbox_empty(&app).await;
    assert_eq!(prefix.len(&prefix.dead()), 0);
    let metrics = metrics(&app).await;
    for line in [
        "mercado_broker_backlog{state=\"waiting\"} 0",
        "mercado_broker_backlog{state=\"pending\"} 0",
        "mercado_broker_backlog{state=\"dead\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

async fn unreadable_entries_are_dead_lettered_and_the_rest_delivered(backend: Backend) {
    let prefix = Prefix::default();
    let sink = SmtpSink::start();
    let app = app_on(backend, &prefix, &sink).await;
    // The superuser's welcome proves the group reads the stream.
    sink.wait_for(1).await;
    prefix.add(&[("event", "{\"not\": \"an event\"}")]);
    prefix.add(&[("id", "x")]);
    let (_, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap();
    let mails = sink.wait_for(2).await;
    assert_eq!(recipients(&mails, email), 1, "{mails:#?}");
    prefix.wait_settled().await;
    assert_eq!(prefix.len(&prefix.dead()), 2);
    wait_outbox_empty(&app).await;
}

/// Claims every event in the outbox and adds it to the stream by hand, as the relay does;
/// `attempts` says how often each was handed out before (the outbox's count if `None`).
async fn relay_by_hand(app: &TestApp, streams: &Streams, attempts: Option<u32>) -> usize {
    let clock = Arc::new(SystemClock);
    let mut outbox = OutboxSource::new(app.store.clone(), clock, time::Duration::minutes(2));
    let claimed = outbox.receive(10, Duration::from_millis(10)).await.unwrap();
    let outgoing: Vec<Outgoing> = claimed
        .iter()
        .map(|d| Outgoing {
            event: d.event.clone(),
            attempts: attempts.unwrap_or(d.attempts),
            claimer: d.receipt,
        })
        .collect();
    let mut publisher = streams.publisher();
    assert!(publisher.publish(&outgoing).await.iter().all(Result::is_ok));
    outgoing.len()
}

/// A worker of another process on `app`'s database, through Redis under `prefix`.
fn worker_on(app: &TestApp, prefix: &Prefix, smtp: String) -> mercado_worker::WorkerHandle {
    let mut settings = mercado_server::settings::Settings::with_database(app.database_url.clone());
    settings.redis_url = Some(redis_url().into());
    settings.redis_prefix.clone_from(&prefix.name);
    settings.smtp_url = Some(smtp.into());
    settings.worker_poll_ms = 50;
    settings.worker_lease_seconds = 2;
    let broker = startup::broker(&settings).unwrap();
    assert!(matches!(broker, Some(Broker::Redis(_))));
    app.store
        .spawn_worker(
            &settings,
            broker.as_ref(),
            Liveness::new(Duration::from_mins(1)),
        )
        .unwrap()
}

/// The events in the outbox that a claim `ahead` from now would take.
async fn claimable(app: &TestApp, ahead: time::Duration) -> Vec<mercado_core::ports::ClaimedEvent> {
    let at = time::OffsetDateTime::now_utc() + ahead;
    app.store
        .claim_events(&Claim {
            claimer: uuid::Uuid::now_v7(),
            limit: 10,
            now: at,
            until: at + time::Duration::minutes(1),
        })
        .await
        .unwrap()
}

/// The events still undelivered in the outbox, whatever their claims: an hour from now.
async fn undelivered(app: &TestApp) -> Vec<mercado_core::ports::ClaimedEvent> {
    claimable(app, time::Duration::hours(1)).await
}

/// A consumer that read an entry and died: another takes the entry over once it has been
/// idle for the consumer lease, and the mail goes out once.
async fn a_dead_consumers_entries_are_taken_over_and_mailed_once(backend: Backend) {
    let prefix = Prefix::default();
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let app = spawn_app_with(backend, |s| s.run_worker = false).await;
    let (_, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap().to_owned();

    // Relayed by hand, then read by a consumer that never settles (it dies).
    let streams = Streams::new(&redis_url(), &prefix.name).unwrap();
    assert_eq!(relay_by_hand(&app, &streams, None).await, 2, "two sign-ups");
    let idle = Duration::from_secs(1);
    let mut dying = streams.consumer(app.store.clone(), Arc::new(SystemClock), idle);
    let read = dying.receive(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(read.len(), 2);
    drop(dying);
    assert_eq!(prefix.pending(), 2);

    // A worker of another process takes them over after the idle time.
    let worker = worker_on(&app, &prefix, smtp);
    let mails = sink.wait_for(2).await;
    assert_eq!(recipients(&mails, &email), 1, "{mails:#?}");
    prefix.wait_settled().await;
    worker.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.wait_for(2).await.len(), 2, "each mail once");
    let left = undelivered(&app).await;
    assert!(left.is_empty(), "settled in the outbox: {left:?}");
}

async fn an_unreachable_redis_stops_nothing_but_readiness(backend: Backend) {
    let port = free_port();
    let prefix = Prefix::default();
    let name = prefix.name.clone();
    let app = spawn_app_with(backend, |s| {
        s.redis_url = Some(format!("redis://127.0.0.1:{port}/0").into());
        s.redis_prefix = name;
    })
    .await;
    app.expect_broker_down().await;
    // Requests go on; their events wait in the outbox, unclaimed (no attempt counted).
    let (_, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = claimable(&app, time::Duration::ZERO).await;
    let signed_up = waiting
        .iter()
        .find(
            |c| matches!(&c.event.payload, DomainEvent::UserCreated { email: e, .. } if e == email),
        )
        .unwrap_or_else(|| panic!("waiting in the outbox: {waiting:?}"));
    assert_eq!(signed_up.attempts, 1, "never claimed while Redis was down");
}

async fn transient_failures_are_retried_through_the_outbox(backend: Backend) {
    let prefix = Prefix::default();
    let mut sink = SmtpSink::start();
    sink.stop();
    let app = app_on(backend, &prefix, &sink).await;
    // The superuser's welcome fails (connection refused): put back in the outbox for
    // 2 s, then relayed again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.messages().is_empty());
    sink.resume();
    let mails = sink.wait_for(1).await;
    assert_eq!(
        recipients(&mails, mercado_tests::ADMIN_EMAIL),
        1,
        "{mails:#?}"
    );
    prefix.wait_settled().await;
    wait_outbox_empty(&app).await;
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(prefix.len(&prefix.dead()), 0);
}

/// An event handed out more often than the bound is parked without being handled: set
/// aside in the outbox and the dead-letter stream, never mailed, never claimed again.
async fn an_event_handed_out_too_often_is_parked_and_dead_lettered(backend: Backend) {
    let prefix = Prefix::default();
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, |s| s.run_worker = false).await;
    let streams = Streams::new(&redis_url(), &prefix.name).unwrap();
    let too_many = mercado_core::delivery::MAX_ATTEMPTS + 1;
    assert_eq!(relay_by_hand(&app, &streams, Some(too_many)).await, 1);
    let worker = worker_on(&app, &prefix, sink.url());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while prefix.len(&prefix.dead()) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "dead-lettered in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    prefix.wait_settled().await;
    worker.stop().await;
    assert!(sink.messages().is_empty(), "never mailed");
    assert!(
        undelivered(&app).await.is_empty(),
        "parked: never claimed again"
    );
}
