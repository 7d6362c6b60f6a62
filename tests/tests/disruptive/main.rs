//! Tests that stop a shared server (PostgreSQL, MariaDB, RabbitMQ) and start it again.
//! A binary of their own: cargo runs test binaries one after another, so no test of the
//! suite sees a server down; within this one, the tests take turns ([`TURN`]), since
//! each needs the servers the others stop.

mod broker_restart;
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
