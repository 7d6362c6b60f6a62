//! Tests that stop a shared server (PostgreSQL, MariaDB, RabbitMQ) and start it again.
//! A binary of their own: cargo runs test binaries one after another, so no test of the
//! suite sees a server down; within this one, the tests take turns ([`TURN`]), since
//! each needs the servers the others stop.

mod broker_restart;
mod restart;

/// Held for the whole of each test here.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
