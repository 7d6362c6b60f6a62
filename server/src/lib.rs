//! Mercado's REST server: poem + poem-openapi over the core services, JWT auth, settings,
//! and the composition root that picks the database. The binary `mercado` (`main.rs`)
//! is a thin CLI over [`startup::App`].

pub mod api;
pub mod auth;
pub mod databases;
pub mod http;
pub mod metrics;
pub mod middleware;
pub mod problem;
mod routes;
pub mod settings;
pub mod startup;
pub mod store;

pub use settings::Settings;
pub use startup::{App, StartupError};
pub use store::AnyStore;
