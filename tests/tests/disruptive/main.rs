//! Tests that stop a shared server (PostgreSQL, MariaDB, RabbitMQ, Redis) and start it again.
//! A binary of their own: cargo runs test binaries one after another, so no test of the
//! suite sees a server down; within this one, the tests take turns ([`TURN`]), since
//! each needs the servers the others stop.

mod broker_restart;
mod redis_restart;
mod restart;

/// Held for the whole of each test here.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The variable that allows these tests to stop shared servers (`.ci/run` sets it).
const ALLOW: &str = "MERCADO_TEST_STOP_SERVICES";

/// Whether this run may stop shared servers: only when asked for with
/// `MERCADO_TEST_STOP_SERVICES=1`, so the README's `cargo test` never stops a server a
/// developer relies on. Otherwise the test says, on its output, that it did not run.
fn may_stop_services(test: &str) -> bool {
    let allowed = std::env::var(ALLOW).is_ok_and(|v| v == "1");
    if !allowed {
        // Straight to the stream: libtest would hide `eprintln!` of a passing test.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr().lock(),
            "{test}: NOT RUN: it stops a shared server; {ALLOW}=1 runs it (CI does)"
        );
    }
    allowed
}

/// Once `app` is ready again (within 30 s), the mails `sink` got after at least `n` came,
/// with time for any duplicate to show up (a lost event comes back within a lease).
async fn mails_after_recovery(
    app: &mercado_tests::TestApp,
    sink: &mercado_tests::smtp::SmtpSink,
    n: usize,
    settle: std::time::Duration,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.get("/health/ready", None).await.status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "ready again within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mails = sink.wait_for(n).await;
    tokio::time::sleep(settle).await;
    let later = sink.messages();
    if later.len() > mails.len() {
        later
    } else {
        mails
    }
}

/// A customer's token and email, and a product with plenty of stock, on `app`.
async fn customer_and_tea(app: &mercado_tests::TestApp) -> (String, String, String) {
    let admin = app.admin().await;
    let (token, user) = app.new_user().await;
    let email = user["email"].as_str().unwrap().to_owned();
    let product = app.product(&admin, "Sencha", "3.00", 1_000).await;
    (token, email, product["id"].as_str().unwrap().to_owned())
}
