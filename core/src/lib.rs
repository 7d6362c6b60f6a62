//! Mercado's domain: users, products and orders.
//!
//! This crate owns the domain types (which parse instead of validate), the domain
//! events, the repository ports and the command/query services. It knows no SQL, no
//! HTTP and no driver: adapters implement [`ports`], the server drives [`service`].
//! The one runtime dependency is Tokio: a semaphore and a oneshot channel, so that
//! password hashing runs on threads of its own, never on async threads (see [`password`]),
//! and a timer for the outbox consumer's idle wait (see [`delivery`]).

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
