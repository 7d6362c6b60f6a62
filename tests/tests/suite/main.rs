//! The conformance suite: every module runs against real databases, a real broker, a
//! real SMTP conversation and a real server over HTTP. One binary, so the server and
//! harness are linked once.

// Tests that are tables of cases read best as one long function each.
#![allow(clippy::too_many_lines)]

mod account;
mod api;
mod broker;
mod concurrency;
mod idempotency;
mod jobs;
mod mail;
mod metrics;
mod migrations;
mod outbox;
mod passlib;
mod queries;
mod redis;
mod replicas;
mod sessions;
mod store;
mod worker;
