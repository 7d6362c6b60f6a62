//! Events become mails through a real SMTP conversation (aiosmtpd), on every database:
//! welcome, order confirmation and cancellation to the customer, low stock to every
//! active superuser; each exactly once, even when an event is delivered twice, and none
//! lost while the mail server is down.

use mercado_core::SystemClock;
use mercado_core::events::DomainEvent;
use mercado_core::notify::{Links, Notifier};
use mercado_core::ports::{Claim, OutboxRepository};
use mercado_tests::smtp::{SmtpSink, expect_every_kind_mailed_once, recipients};
use mercado_tests::{Backend, conformance, free_port, spawn_app_with};
use time::{Duration, OffsetDateTime};

conformance!(
    every_event_mails_its_recipients_exactly_once,
    an_event_delivered_twice_mails_once,
    mail_waits_while_the_mail_server_is_down,
);

async fn every_event_mails_its_recipients_exactly_once(backend: Backend) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = spawn_app_with(backend, |s| s.smtp_url = Some(url.into())).await;
    let (customer, order_id) = app.every_kind_of_event().await;
    expect_every_kind_mailed_once(&sink, &customer, &order_id).await;
}

async fn an_event_delivered_twice_mails_once(backend: Backend) {
    let sink = SmtpSink::start();
    let app = spawn_app_with(backend, |s| s.run_worker = false).await;
    let (_, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap();
    let now = OffsetDateTime::now_utc();
    let claim = Claim {
        claimer: uuid::Uuid::now_v7(),
        limit: 10,
        now,
        until: now + Duration::minutes(1),
    };
    let events = app.store.claim_events(&claim).await.unwrap();
    let welcome = events
        .iter()
        .find(
            |c| matches!(&c.event.payload, DomainEvent::UserCreated { email: e, .. } if e == email),
        )
        .expect("the sign-up's event");
    let mut settings = mercado_server::Settings::with_database(&app.database_url);
    settings.smtp_url = Some(sink.url().into());
    let mailer = mercado_server::startup::mailer(&settings).unwrap();
    let clock = std::sync::Arc::new(SystemClock);
    let notifier = Notifier::new(app.store.clone(), mailer, clock, Links::default());
    // Delivered, then delivered again (a redelivery after a lost acknowledgement).
    assert_eq!(notifier.handle(&welcome.event).await.unwrap(), 1);
    assert_eq!(notifier.handle(&welcome.event).await.unwrap(), 0);
    let mails = sink.wait_for(1).await;
    assert_eq!(recipients(&mails, email), 1, "{mails:#?}");
}

async fn mail_waits_while_the_mail_server_is_down(backend: Backend) {
    // A port nobody listens on yet: every attempt fails, and nothing is dropped.
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(backend, |s| s.smtp_url = Some(url.into())).await;
    let (_, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    // Still undelivered: a claim far in the future (past any backoff) finds both sign-ups.
    let later = OffsetDateTime::now_utc() + Duration::hours(2);
    let claim = Claim {
        claimer: uuid::Uuid::now_v7(),
        limit: 10,
        now: later,
        until: later + Duration::minutes(1),
    };
    let waiting = app.store.claim_events(&claim).await.unwrap();
    assert!(
        waiting.iter().any(
            |c| matches!(&c.event.payload, DomainEvent::UserCreated { email: e, .. } if *e == email)
        ),
        "{waiting:?}"
    );
    assert!(waiting.iter().all(|c| c.attempts >= 2), "{waiting:?}");
}
