//! Redis (no persistence) restarts while orders are placed: the orders succeed, the
//! streams are lost with everything in them, and every mail still arrives exactly once —
//! the outbox kept each event until a worker had handled it.

use std::process::Command;
use std::time::{Duration, Instant};

use mercado_tests::redis_prefix::{Prefix, redis_url};
use mercado_tests::smtp::{SmtpSink, recipients};
use mercado_tests::{ADMIN_EMAIL, Backend, conformance, spawn_app_with};

conformance!(orders_placed_while_redis_restarts_mail_once);

fn redis_is_up() -> bool {
    Command::new("redis-cli")
        .arg("ping")
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"PONG"))
}

/// Starts Redis as this machine kind does (nothing kept on disk).
fn start_redis() {
    let status = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ])
        .status()
        .expect("redis-server runs");
    assert!(status.success(), "redis-server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !redis_is_up() {
        assert!(Instant::now() < deadline, "Redis up within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts Redis again whatever happens to the test.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        if !redis_is_up() {
            start_redis();
        }
    }
}

async fn orders_placed_while_redis_restarts_mail_once(backend: Backend) {
    if !super::may_stop_services(&format!(
        "{backend:?}: Redis restarts while orders are placed"
    )) {
        return;
    }
    let _turn = super::TURN.lock().await;
    let prefix = Prefix::default();
    let sink = SmtpSink::start();
    let (name, smtp) = (prefix.name.clone(), sink.url());
    let app = spawn_app_with(backend, |s| {
        s.redis_url = Some(redis_url().into());
        s.redis_prefix = name;
        s.smtp_url = Some(smtp.into());
        // What Redis lost is relayed again when its claim runs out.
        s.worker_lease_seconds = 3;
    })
    .await;
    let (token, email, id) = super::customer_and_tea(&app).await;
    assert_eq!(
        sink.wait_for(2).await.len(),
        2,
        "two welcomes, through Redis"
    );

    let restart = Restart;
    // Orders in flight as Redis goes: some events are in the stream when it is lost.
    for _ in 0..5 {
        app.order(&token, &[(&id, 1)]).await.expect(201);
    }
    let _ = Command::new("redis-cli")
        .args(["shutdown", "nosave"])
        .status();
    for _ in 0..5 {
        app.order(&token, &[(&id, 1)]).await.expect(201);
    }
    let problem = app.get("/health/ready", None).await.problem(503);
    assert_eq!(problem["type"], "urn:mercado:problem:broker-unavailable");
    start_redis();
    drop(restart);
    for _ in 0..5 {
        app.order(&token, &[(&id, 1)]).await.expect(201);
    }
    let mails = super::mails_after_recovery(&app, &sink, 17, Duration::from_secs(5)).await;
    assert_eq!(
        recipients(&mails, &email),
        16,
        "one welcome and 15 confirmations"
    );
    assert_eq!(recipients(&mails, ADMIN_EMAIL), 1);
    assert_eq!(mails.len(), 17);
}
