//! Mercado's SQL adapter, written once for every database.
//!
//! It owns all SQL text: the statement catalogue with the dialects side by side
//! (`statements.rs`), row → domain mapping, vendor error → [`StoreError`] mapping, the
//! transactions behind each atomic port method ([`SqlStore`]) and the migration runner.
//! It reaches a database only through the small [`Executor`] trait, which the driver
//! crates implement; it never names a driver.
//!
//! Over any executor: migrate, then every port of `mercado-core` is a [`SqlStore`].
//!
//! ```
//! use mercado_sql::{Executor, MigrationError, SqlStore, migrate};
//!
//! async fn store<E: Executor>(executor: E) -> Result<SqlStore<E>, MigrationError> {
//!     migrate(&executor).await?;
//!     Ok(SqlStore::new(executor))
//! }
//! ```
//!
//! [`StoreError`]: mercado_core::StoreError

mod dialect;
mod error;
mod executor;
mod migrate;
mod statements;
mod store;
mod value;

pub use dialect::Dialect;
pub use error::{DbError, DbErrorKind};
pub use executor::{Executor, PoolStatus, Transaction};
pub use migrate::{
    MIGRATION_LOCK_WAIT, Migration, MigrationError, migrate, migrate_with_lock_wait, migrations,
};
pub use store::SqlStore;
pub use value::{Kind, Row, Value};
