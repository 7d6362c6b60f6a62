//! Mercado's REST server: poem + poem-openapi over the core services, JWT auth, settings,
//! and the composition root that picks the database. The binary `mercado` (`main.rs`)
//! is a thin CLI over [`startup::App`].

pub mod api;
pub mod auth;
pub mod http;
pub mod metrics;
pub mod middleware;
pub mod problem;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::{AnyStore, App, StartupError};
