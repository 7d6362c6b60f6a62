//! The worker's panic boundaries: a handler that panics on one event parks that event
//! and delivers the rest; a loop round that panics starts again; liveness says so. The
//! panics are injected through the worker's ports (a mailer and an event source that
//! panic once), since no real input reaches one any more.
#![cfg(feature = "sqlite")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use mercado_core::delivery::{Delivery, EventSource, Settle, TransportError};
use mercado_core::notify::{Links, MailError, Mailer, Notice, Notifier};
use mercado_core::ports::{Claim, OutboxRepository};
use mercado_core::{Clock, SystemClock};
use mercado_server::Settings;
use mercado_server::startup::mailer;
use mercado_sql::SqlStore;
use mercado_sqlx::sqlite::SqliteExecutor;
use mercado_tests::smtp::{SmtpSink, recipients};
use mercado_tests::{ADMIN_EMAIL, Backend, TestApp, spawn_app_with};
use mercado_worker::{Health, Liveness, OutboxSource, Timing, consume};
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;

/// The configured mailer, except that it panics for one address.
struct PanicsFor<M> {
    inner: M,
    address: String,
}

impl<M: Mailer> Mailer for PanicsFor<M> {
    async fn send(&self, notice: &Notice) -> Result<(), MailError> {
        assert_ne!(notice.to.as_str(), self.address, "injected panic");
        self.inner.send(notice).await
    }
}

/// The outbox, except that its first hand-out panics.
struct PanicsOnce<S> {
    inner: OutboxSource<S>,
    panicked: Arc<AtomicBool>,
}

impl<S: mercado_core::ports::Store> EventSource for PanicsOnce<S> {
    type Receipt = <OutboxSource<S> as EventSource>::Receipt;

    async fn receive(
        &mut self,
        max: usize,
        wait: StdDuration,
    ) -> Result<Vec<Delivery<Self::Receipt>>, TransportError> {
        assert!(self.panicked.swap(true, Ordering::SeqCst), "injected panic");
        self.inner.receive(max, wait).await
    }

    async fn settle(
        &mut self,
        settled: Vec<(Delivery<Self::Receipt>, Settle)>,
    ) -> Vec<Result<(), TransportError>> {
        self.inner.settle(settled).await
    }
}

const TIMING: Timing = Timing {
    poll: StdDuration::from_millis(50),
    lease: Duration::minutes(2),
};

/// A server on SQLite without a worker of its own, mailing to `sink`, with its settings.
async fn app(sink: &SmtpSink) -> (TestApp, Settings) {
    let url = sink.url();
    let mut settings = None;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.run_worker = false;
        s.smtp_url = Some(url.into());
        settings = Some(s.clone());
    })
    .await;
    (app, settings.unwrap())
}

/// Runs `consume` over `source` until `done` holds, then stops it.
async fn run_until<E: EventSource + 'static, M: Mailer>(
    app: &TestApp,
    source: E,
    mailer: M,
    liveness: &Arc<Liveness>,
    done: impl AsyncFnOnce(),
) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let notifier = Notifier::new(store(app).await, mailer, clock.clone(), Links::default());
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(consume(
        source,
        notifier,
        clock,
        TIMING,
        liveness.clone(),
        stopped,
    ));
    done().await;
    stop.send(true).unwrap();
    worker
        .await
        .expect("the worker ends when asked, not by a panic");
}

/// The server's SQLite database, opened once more (the worker is generic over a store).
async fn store(app: &TestApp) -> SqlStore<SqliteExecutor> {
    let exec = mercado_sqlx::sqlite::connect(&app.database_url, 4).await;
    SqlStore::new(exec.expect("the server's SQLite database opens"))
}

async fn outbox(app: &TestApp) -> OutboxSource<SqlStore<SqliteExecutor>> {
    OutboxSource::new(store(app).await, Arc::new(SystemClock), TIMING.lease)
}

#[tokio::test]
async fn an_event_whose_handler_panics_is_parked_and_the_rest_are_delivered() {
    let sink = SmtpSink::start();
    let (app, settings) = app(&sink).await;
    let (_, victim) = app.new_user().await;
    let (_, other) = app.new_user().await;
    let victim = victim["email"].as_str().unwrap().to_owned();
    let other = other["email"].as_str().unwrap().to_owned();
    let mailer = PanicsFor {
        inner: mailer(&settings).unwrap(),
        address: victim.clone(),
    };
    let liveness = Liveness::new(StdDuration::from_mins(1));
    run_until(&app, outbox(&app).await, mailer, &liveness, async || {
        let mails = sink.wait_for(2).await;
        assert_eq!(recipients(&mails, &other), 1);
        assert_eq!(recipients(&mails, ADMIN_EMAIL), 1);
        // The events after the poison one are delivered too: sign up once more.
        let (_, late) = app.new_user().await;
        let mails = sink.wait_for(3).await;
        assert_eq!(recipients(&mails, late["email"].as_str().unwrap()), 1);
        assert_eq!(liveness.health(), Health::Running);
    })
    .await;
    assert_eq!(recipients(&sink.messages(), &victim), 0);
    assert_eq!(liveness.restarts(), 0, "caught at the event, not the loop");
    // Parked: not handed out again, even long after.
    let later = OffsetDateTime::now_utc() + Duration::days(365);
    let claim = Claim {
        claimer: uuid::Uuid::now_v7(),
        limit: 10,
        now: later,
        until: later + Duration::minutes(1),
    };
    assert!(app.store.claim_events(&claim).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_loop_round_that_panics_starts_again_and_is_counted() {
    let sink = SmtpSink::start();
    let (app, settings) = app(&sink).await;
    let (_, user) = app.new_user().await;
    let source = PanicsOnce {
        inner: outbox(&app).await,
        panicked: Arc::new(AtomicBool::new(false)),
    };
    let liveness = Liveness::new(StdDuration::from_mins(1));
    run_until(
        &app,
        source,
        mailer(&settings).unwrap(),
        &liveness,
        async || {
            let mails = sink.wait_for(2).await;
            assert_eq!(recipients(&mails, user["email"].as_str().unwrap()), 1);
        },
    )
    .await;
    assert_eq!(liveness.restarts(), 1);
}

/// A mail server that takes the connection and never says a word: the worker waits on
/// it, and after a lease without a beat readiness and metrics call the worker stuck.
#[tokio::test]
async fn a_worker_hung_on_a_silent_mail_server_is_reported_stuck() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://{}", silent.local_addr().unwrap());
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.smtp_url = Some(url.into());
        s.worker_lease_seconds = 1;
    })
    .await;
    let ready = app.get("/health/ready", None).await.expect(200);
    assert!(ready.get("worker").is_none(), "{ready}");
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    let ready = app.get("/health/ready", None).await.expect(200);
    assert_eq!(ready["worker"], "stuck", "{ready}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "mercado_worker_up 0"),
        "{metrics}"
    );
    drop(silent);
}
