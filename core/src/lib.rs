//! Mercado's domain: users, products and orders.
//!
//! This crate owns the domain types (which parse instead of validate), the domain
//! events, the repository ports and the command/query services. It knows no SQL, no
//! HTTP and no driver: adapters implement [`ports`], the server drives [`service`].
//! Of Tokio it uses only the runtime-free `sync` primitives (a semaphore, a oneshot
//! channel), so that password hashing runs on threads of its own, never on async threads
//! (see [`password`]); sleeping and spawning belong to the caller (`mercado-worker`).
//!
//! Embedding it: the services over any [`Store`](ports::Store) — `mercado-sql`'s
//! `SqlStore` over a driver crate's executor, as `examples/embed.rs` runs it.
//!
//! ```
//! use std::sync::Arc;
//!
//! use mercado_core::password::{PasswordError, PasswordHasher};
//! use mercado_core::ports::Store;
//! use mercado_core::service::{Commands, Queries, ServiceConfig, services};
//!
//! fn mercado<S: Store>(store: S) -> Result<(Commands<S>, Queries<S>), PasswordError> {
//!     let hasher = PasswordHasher::new(PasswordHasher::DEFAULT_ROUNDS, 2)?;
//!     let clock = Arc::new(mercado_core::SystemClock);
//!     Ok(services(store, hasher, clock, ServiceConfig::default()))
//! }
//! ```

pub mod clock;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod events;
pub mod notify;
pub mod password;
pub mod ports;
pub mod service;

pub use clock::{Clock, SystemClock};
pub use error::{BoxError, StoreError};
