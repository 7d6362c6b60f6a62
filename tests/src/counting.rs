//! A statement-counting [`Executor`]: a real executor that delegates every call to the
//! database behind it and writes down each statement it sends, inside transactions too.
//! Tests build a [`mercado_sql::SqlStore`] over it to prove how many round trips an
//! operation costs, and that the number does not grow with the rows involved.
//!
//! What counts as a statement: every `fetch` and `execute`, on the pool or inside a
//! transaction, and each `execute_script` (as one). `BEGIN` and `COMMIT` are not
//! statements here: they are tallied apart, as [`Tally::transactions`] (begun) and
//! [`Tally::commits`] and [`Tally::rollbacks`] (explicit ones; a transaction dropped
//! without either rolls back later, uncounted).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use mercado_sql::{DbError, Dialect, Executor, Kind, PoolStatus, Row, Transaction, Value};

/// One statement sent to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its SQL text, as sent.
    pub sql: String,
    /// Whether it ran inside a transaction.
    pub in_transaction: bool,
}

/// What was sent since the log was last taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// The statements, in the order they were sent.
    pub statements: Vec<Statement>,
    /// Transactions begun (`BEGIN`, not counted as statements).
    pub transactions: usize,
    /// Transactions committed (`COMMIT`, not counted as statements).
    pub commits: usize,
    /// Transactions rolled back at once (`ROLLBACK`, not counted as statements).
    pub rollbacks: usize,
}

impl Tally {
    /// How many statements were sent.
    pub fn count(&self) -> usize {
        self.statements.len()
    }

    /// How many statements start with `prefix` (case-insensitively, after whitespace).
    pub fn starting_with(&self, prefix: &str) -> usize {
        self.statements
            .iter()
            .filter(|s| {
                let sql = s.sql.trim_start();
                sql.get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            })
            .count()
    }
}

/// Lists the statements, one a line: what an assertion message should show.
impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} statement(s), {} transaction(s) begun, {} committed",
            self.count(),
            self.transactions,
            self.commits
        )?;
        for (no, s) in (1..).zip(&self.statements) {
            let tx = if s.in_transaction { " [tx]" } else { "" };
            write!(f, "\n  {no:>3}{tx} {}", s.sql)?;
        }
        Ok(())
    }
}

/// The shared log of a [`Counting`] executor, its clones, sessions and transactions.
#[derive(Debug, Clone, Default)]
pub struct StatementLog(Arc<Mutex<Tally>>);

impl StatementLog {
    /// Returns what was sent since the last `take` and starts over.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn statement(&self, sql: &str, in_transaction: bool) {
        self.lock().statements.push(Statement {
            sql: sql.to_owned(),
            in_transaction,
        });
    }
}

/// An [`Executor`] that runs everything on `E` and logs each statement it sends.
#[derive(Debug, Clone)]
pub struct Counting<E> {
    inner: E,
    log: StatementLog,
}

impl<E> Counting<E> {
    /// Wraps `inner` with a fresh log.
    pub fn new(inner: E) -> Self {
        Self {
            inner,
            log: StatementLog::default(),
        }
    }

    /// The log every clone, session and transaction of this executor writes to.
    pub fn log(&self) -> &StatementLog {
        &self.log
    }

    /// The wrapped executor.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: Executor> Executor for Counting<E> {
    type Tx = CountingTx<E::Tx>;

    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    async fn fetch(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, DbError> {
        self.log.statement(sql, false);
        self.inner.fetch(sql, params, kinds).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.log.statement(sql, false);
        self.inner.execute(sql, params).await
    }

    async fn begin(&self) -> Result<Self::Tx, DbError> {
        let inner = self.inner.begin().await?;
        self.log.lock().transactions += 1;
        Ok(CountingTx {
            inner,
            log: self.log.clone(),
        })
    }

    async fn session(&self) -> Result<Self, DbError> {
        Ok(Self {
            inner: self.inner.session().await?,
            log: self.log.clone(),
        })
    }

    fn pool_status(&self) -> PoolStatus {
        self.inner.pool_status()
    }
}

/// A transaction of a [`Counting`] executor: its statements go to the same log.
#[derive(Debug)]
pub struct CountingTx<T> {
    inner: T,
    log: StatementLog,
}

impl<T: Transaction> Transaction for CountingTx<T> {
    async fn fetch(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, DbError> {
        self.log.statement(sql, true);
        self.inner.fetch(sql, params, kinds).await
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.log.statement(sql, true);
        self.inner.execute(sql, params).await
    }

    async fn execute_script(&mut self, script: &str) -> Result<(), DbError> {
        self.log.statement(script, true);
        self.inner.execute_script(script).await
    }

    async fn commit(self) -> Result<(), DbError> {
        self.inner.commit().await?;
        self.log.lock().commits += 1;
        Ok(())
    }

    async fn rollback(self) -> Result<(), DbError> {
        self.inner.rollback().await?;
        self.log.lock().rollbacks += 1;
        Ok(())
    }
}
