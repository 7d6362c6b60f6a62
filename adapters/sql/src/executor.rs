//! The executor: the only thing a driver crate implements.
//!
//! Contract: `Executor::fetch` runs read-only statements (an executor may route them to
//! read connections); every write outside a transaction goes through
//! `Executor::execute`. A `Transaction` dropped without `commit` rolls back, and its
//! connection is never handed back to the pool inside the transaction.

use std::future::Future;

use crate::{DbError, Dialect, Kind, Row, Value};

/// A connection pool for one database.
pub trait Executor: Clone + Send + Sync + 'static {
    /// A transaction on one pooled connection.
    type Tx: Transaction;

    /// Which SQL dialect the database speaks.
    fn dialect(&self) -> Dialect;

    /// Runs a read-only statement and decodes each column as `kinds` says.
    fn fetch(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> impl Future<Output = Result<Vec<Row>, DbError>> + Send;

    /// Runs one writing statement; returns the rows affected.
    fn execute(
        &self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<u64, DbError>> + Send;

    /// Starts a read-write transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, DbError>> + Send;

    /// Opens an executor of its own over one new connection beside the pool: everything
    /// run through it (and its clones) happens in that one database session, so session
    /// state such as a lock lasts until it is dropped, which closes the connection. Should
    /// the connection be lost, later statements run on a new one, a new session: callers
    /// relying on session state check it (`migrate` checks it still held its lock). On
    /// SQLite it is another connection to the same file (to an in-memory database: a new,
    /// empty one).
    fn session(&self) -> impl Future<Output = Result<Self, DbError>> + Send;

    /// Its connections now: busy, and open but idle.
    fn pool_status(&self) -> PoolStatus;
}

/// The connections of a pool (or of all pools of one executor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Connections handed out.
    pub in_use: u32,
    /// Connections open and waiting to be handed out.
    pub idle: u32,
}

/// An open transaction.
pub trait Transaction: Send {
    /// Runs a statement inside the transaction and decodes its rows.
    fn fetch(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> impl Future<Output = Result<Vec<Row>, DbError>> + Send;

    /// Runs a writing statement inside the transaction; returns the rows affected.
    fn execute(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<u64, DbError>> + Send;

    /// Runs a script of several statements without parameters (migrations).
    fn execute_script(&mut self, script: &str) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Commits.
    fn commit(self) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Rolls back, now. A dropped transaction rolls back too, but later (when its
    /// connection is next used or returned), so its row locks outlive the call: a
    /// transaction that took locks and ends early rolls back with this.
    fn rollback(self) -> impl Future<Output = Result<(), DbError>> + Send;
}
