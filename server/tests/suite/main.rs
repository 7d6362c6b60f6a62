//! The `mercado` binary as operators run it: its commands, settings and exit codes.
//! (Migrations under a lock and replicas sharing a database are in the conformance
//! suite, on every database.)

mod cli;
mod support;
