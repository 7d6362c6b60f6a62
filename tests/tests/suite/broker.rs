//! Events through the machine's real RabbitMQ, on every database: relayed from the outbox
//! with confirms, consumed with manual acks, each mail exactly once (also when a message
//! arrives twice), transient failures retried through a delay queue, unreadable messages
//! dead-lettered. Each test has a vhost of its own.

use mercado_amqp::{DEAD_QUEUE, EXCHANGE, NOTIFY_QUEUE};
use mercado_core::events::{DomainEvent, Event};
use mercado_core::ports::{Claim, OutboxRepository};
use mercado_tests::amqp::Vhost;
use mercado_tests::smtp::{SmtpSink, expect_broker_round_trip, recipients, unquoted};
use mercado_tests::{ADMIN_EMAIL, Backend, TestApp, conformance, free_port, spawn_app_with};
use serde_json::json;
use time::OffsetDateTime;

conformance!(
    events_go_through_the_broker_and_mail_once,
    a_message_delivered_twice_mails_once,
    transient_failures_are_retried_through_a_delay_queue,
    unreadable_messages_are_dead_lettered,
    an_unreachable_broker_stops_nothing_but_readiness,
    account_mails_go_through_the_broker_with_working_links,
);

async fn app_on(backend: Backend, vhost: &Vhost, sink: &SmtpSink) -> TestApp {
    let (amqp, smtp) = (vhost.url(), sink.url());
    spawn_app_with(backend, |s| {
        s.amqp_url = Some(amqp.into());
        s.smtp_url = Some(smtp.into());
    })
    .await
}

async fn events_go_through_the_broker_and_mail_once(backend: Backend) {
    let vhost = Vhost::create();
    let sink = SmtpSink::start();
    let app = app_on(backend, &vhost, &sink).await;
    expect_broker_round_trip(&app, &sink).await;
    // Everything acknowledged: nothing left in the queue or parked.
    vhost.wait_ready(NOTIFY_QUEUE, 0).await;
    assert_eq!(vhost.ready_in(DEAD_QUEUE).await, 0);
}

async fn a_message_delivered_twice_mails_once(backend: Backend) {
    let vhost = Vhost::create();
    let sink = SmtpSink::start();
    let app = app_on(backend, &vhost, &sink).await;
    let (_, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap();
    sink.wait_for(2).await;

    // The same event published twice, as a relay does when a confirm is lost.
    let event = Event::new(
        DomainEvent::UserCreated {
            user_id: serde_json::from_value(user["id"].clone()).unwrap(),
            email: email.to_owned(),
        },
        OffsetDateTime::now_utc(),
    );
    let body = serde_json::to_vec(&event).unwrap();
    vhost.publish(EXCHANGE, "user.created", &body).await;
    vhost.publish(EXCHANGE, "user.created", &body).await;

    let mails = sink.wait_for(3).await;
    assert_eq!(recipients(&mails, email), 2, "{mails:#?}");
    assert_eq!(mails.len(), 3);
    vhost.wait_ready(NOTIFY_QUEUE, 0).await;
}

async fn transient_failures_are_retried_through_a_delay_queue(backend: Backend) {
    let vhost = Vhost::create();
    let mut sink = SmtpSink::start();
    sink.stop();
    let app = app_on(backend, &vhost, &sink).await;
    // The superuser's welcome fails (connection refused) and waits 2 s in a delay queue.
    vhost
        .wait_ready(&format!("{NOTIFY_QUEUE}.retry.2s"), 1)
        .await;
    assert!(sink.messages().is_empty());
    sink.resume();
    let mails = sink.wait_for(1).await;
    assert_eq!(recipients(&mails, ADMIN_EMAIL), 1, "{mails:#?}");
    assert_eq!(mails.len(), 1);
    assert_eq!(vhost.ready_in(DEAD_QUEUE).await, 0);
    drop(app);
}

async fn unreadable_messages_are_dead_lettered(backend: Backend) {
    let vhost = Vhost::create();
    let sink = SmtpSink::start();
    let app = app_on(backend, &vhost, &sink).await;
    // The first mail proves the topology is declared.
    sink.wait_for(1).await;
    vhost
        .publish(EXCHANGE, "user.created", b"{\"not\": \"an event\"}")
        .await;
    vhost.wait_ready(DEAD_QUEUE, 1).await;
    vhost.wait_ready(NOTIFY_QUEUE, 0).await;
    // The consumer goes on with the next one.
    app.new_user().await;
    assert_eq!(sink.wait_for(2).await.len(), 2);
}

async fn an_unreachable_broker_stops_nothing_but_readiness(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, |s| {
        s.amqp_url = Some(format!("amqp://guest:guest@127.0.0.1:{port}/%2f").into());
    })
    .await;
    app.expect_broker_down().await;
    // Requests go on; their events wait in the outbox for the broker.
    let (_, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let claim = Claim {
        claimer: uuid::Uuid::now_v7(),
        limit: 10,
        now: later,
        until: later + time::Duration::minutes(1),
    };
    let waiting = app.store.claim_events(&claim).await.unwrap();
    assert!(
        waiting.iter().any(
            |c| matches!(&c.event.payload, DomainEvent::UserCreated { email: e, .. } if e == email)
        ),
        "{waiting:?}"
    );
}

/// The v1.1 mails (verification link, reset link, "password changed") take the broker's
/// path as every other event does, and their links work.
async fn account_mails_go_through_the_broker_with_working_links(backend: Backend) {
    let vhost = Vhost::create();
    let sink = SmtpSink::start();
    let app = app_on(backend, &vhost, &sink).await;
    let (email, password) = (
        mercado_tests::unique_email(),
        mercado_tests::unique_password(),
    );
    app.sign_up(&email, &password).await;
    // The superuser's welcome and this user's, with its verification link.
    let mails = sink.wait_for(2).await;
    let verify = link_token(&mails, &email, "verify-email");
    let verified = app
        .post(
            "/api/v1/users/verify-email",
            None,
            &json!({"token": verify}),
        )
        .await
        .expect(200);
    assert_eq!(verified["email_verified"], true);

    app.post("/api/v1/password-recovery", None, &json!({"email": email}))
        .await
        .expect(202);
    let mails = sink.wait_for(3).await;
    let reset = link_token(&mails, &email, "reset-password");
    let new_password = mercado_tests::unique_password();
    let body = json!({"token": reset, "new_password": new_password});
    let done = app.post("/api/v1/password-reset", None, &body).await;
    assert_eq!(done.status.as_u16(), 204, "{:?}", done.body);
    let mails = sink.wait_for(4).await;
    assert_eq!(mails.len(), 4, "{mails:#?}");
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Subject: Your Mercado password was changed")),
        "{mails:#?}"
    );
    app.login(&email, &new_password).await;
    vhost.wait_ready(NOTIFY_QUEUE, 0).await;
    assert_eq!(vhost.ready_in(DEAD_QUEUE).await, 0);
}

/// The token of the `/{path}?token=…` link in the mail to `to`.
fn link_token(mails: &[String], to: &str, path: &str) -> String {
    mails
        .iter()
        .map(|m| unquoted(m))
        .filter(|m| m.lines().any(|l| l.starts_with("To: ") && l.contains(to)))
        .find_map(|m| mercado_tests::smtp::link_token(&m, path))
        .unwrap_or_else(|| panic!("no {path} link mailed to {to}: {mails:#?}"))
}
