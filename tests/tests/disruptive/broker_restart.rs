//! The broker stops while orders are placed: the orders still succeed, readiness says 503,
//! the events wait in the outbox, and once the broker is back every mail arrives exactly
//! once.

use std::process::Command;
use std::time::Duration;

use mercado_tests::amqp::{Vhost, rabbitmqctl};
use mercado_tests::smtp::{SmtpSink, recipients};
use mercado_tests::{ADMIN_EMAIL, Backend, conformance, spawn_app_with};

conformance!(orders_placed_while_the_broker_is_down_mail_once_when_it_returns);

fn broker_is_up() -> bool {
    Command::new("rabbitmqctl")
        .args(["-q", "list_vhosts"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Starts the broker's application again whatever happens to the test.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        if !broker_is_up() {
            let _ = Command::new("rabbitmqctl").arg("start_app").status();
        }
    }
}

async fn orders_placed_while_the_broker_is_down_mail_once_when_it_returns(backend: Backend) {
    if !super::may_stop_services(&format!(
        "{backend:?}: the broker stops while orders are placed"
    )) {
        return;
    }
    let _turn = super::TURN.lock().await;
    let vhost = Vhost::create();
    let sink = SmtpSink::start();
    let (amqp, smtp) = (vhost.url(), sink.url());
    let app = spawn_app_with(backend, |s| {
        s.amqp_url = Some(amqp.into());
        s.smtp_url = Some(smtp.into());
    })
    .await;
    let (token, email, id) = super::customer_and_tea(&app).await;
    for _ in 0..3 {
        app.order(&token, &[(&id, 1)]).await.expect(201);
    }
    // Two welcomes and three confirmations, through the broker.
    assert_eq!(sink.wait_for(5).await.len(), 5);

    let restart = Restart;
    rabbitmqctl(&["stop_app"]);
    for _ in 0..10 {
        app.order(&token, &[(&id, 1)]).await.expect(201);
    }
    let problem = app.get("/health/ready", None).await.problem(503);
    assert_eq!(problem["type"], "urn:mercado:problem:broker-unavailable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sink.messages().len(),
        5,
        "nothing goes out while the broker is down"
    );

    rabbitmqctl(&["start_app"]);
    drop(restart);
    let mails = super::mails_after_recovery(&app, &sink, 15, Duration::from_secs(2)).await;
    assert_eq!(
        recipients(&mails, &email),
        14,
        "one welcome and 13 confirmations"
    );
    assert_eq!(recipients(&mails, ADMIN_EMAIL), 1);
    assert_eq!(mails.len(), 15);
}
