//! [`SqlStore`]: every repository port, implemented once over an [`Executor`], one module per
//! concept; here what they share: reads, the transaction runner with its bounded retries,
//! error mapping and row decoding helpers.

use std::future::Future;
use std::sync::Arc;

use mercado_core::StoreError;
use mercado_core::domain::{Money, Page};
use mercado_core::events::Event;

use crate::statements::Statements;
use crate::{DbError, DbErrorKind, Executor, Kind, Row, Transaction, Value};

/// Declares the columns a statement selects, in order, from one list of `name: Kind` pairs
/// (every name `table.name` where a join needs it): `$row::COLUMNS`, the list in the
/// statement's text; `$row::KINDS`, how the executor decodes them; and `$row::name`, each
/// column's index in a decoded [`Row`]. Reading columns by name, from one list, keeps the
/// three from drifting apart, and a selected column never read is reported as dead code.
/// Defined before the port modules, which use it.
macro_rules! columns {
    ($(#[$doc:meta])* $vis:vis enum $row:ident { $($name:ident: $kind:ident),+ $(,)? }) => {
        columns!(@declare $(#[$doc])* $vis $row [$(stringify!($name)),+] $($name: $kind),+);
    };
    ($(#[$doc:meta])* $vis:vis enum $row:ident {
        $($table:ident.$name:ident: $kind:ident),+ $(,)?
    }) => {
        columns!(
            @declare $(#[$doc])* $vis $row
            [$(concat!(stringify!($table), ".", stringify!($name))),+] $($name: $kind),+
        );
    };
    (@declare $(#[$doc:meta])* $vis:vis $row:ident [$first:expr $(, $rest:expr)*]
        $($name:ident: $kind:ident),+) => {
        $(#[$doc])*
        $vis enum $row {}

        // Column names as they are spelled in SQL.
        #[allow(non_upper_case_globals)]
        impl $row {
            $vis const COLUMNS: &'static str = concat!($first $(, ", ", $rest)*);
            $vis const KINDS: &'static [$crate::Kind] = &[$($crate::Kind::$kind),+];
            columns!(@index 0; $vis $($name)+);
        }
    };
    (@index $at:expr; $vis:vis) => {};
    (@index $at:expr; $vis:vis $name:ident $($rest:ident)*) => {
        $vis const $name: usize = $at;
        columns!(@index $at + 1; $vis $($rest)*);
    };
}

mod auth;
mod health;
mod idempotency;
mod jobs;
mod orders;
mod outbox;
mod products;
mod sessions;
mod tokens;
mod users;

pub(crate) use self::idempotency::KeyRow;
pub(crate) use self::jobs::{JobErrorRow, JobRow};
pub(crate) use self::orders::{OrderLineRow, StockRow};
pub(crate) use self::outbox::OutboxRow;
pub(crate) use self::products::ProductRow;
pub(crate) use self::sessions::SessionRow;
pub(crate) use self::users::UserRow;

/// The one column of a `COUNT(*)`.
const COUNT_KINDS: &[Kind] = &[Kind::Int];

/// How many times a transaction that hit a deadlock or serialization failure is tried.
const TX_ATTEMPTS: usize = 4;

/// The store: all repository ports over one executor.
pub struct SqlStore<E> {
    exec: E,
    st: Arc<Statements>,
}

impl<E: Clone> Clone for SqlStore<E> {
    fn clone(&self) -> Self {
        Self {
            exec: self.exec.clone(),
            st: self.st.clone(),
        }
    }
}

impl<E> std::fmt::Debug for SqlStore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.st.dialect)
            .finish_non_exhaustive()
    }
}

/// A failure inside a transaction: the database's, or the operation's own outcome.
enum TxError<E> {
    Db(DbError),
    Domain(E),
}

impl<E> From<DbError> for TxError<E> {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// Rolls `tx` back now and fails with `refusal`, so that a refused request holds no row
/// lock past its answer.
async fn refuse<T: Transaction, V, D>(tx: T, refusal: D) -> Result<V, TxError<D>> {
    tx.rollback().await?;
    Err(TxError::Domain(refusal))
}

impl<E: Executor> SqlStore<E> {
    /// A store over `exec`, with the statements of its dialect.
    pub fn new(exec: E) -> Self {
        let st = Arc::new(Statements::new(exec.dialect()));
        Self { exec, st }
    }

    /// The executor, for callers that need the pool itself (migrations, tests).
    pub fn executor(&self) -> &E {
        &self.exec
    }

    fn err(&self, e: DbError) -> StoreError {
        e.into_store_error(self.st.dialect)
    }

    /// A read outside a transaction; one lost connection (a database restart) is
    /// retried on a fresh one, since reading twice changes nothing.
    async fn fetch(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, StoreError> {
        let rows = match self.exec.fetch(sql, params, kinds).await {
            Err(e) if e.kind == DbErrorKind::Unavailable => {
                tracing::debug!(error = %e, "read retried on a fresh connection");
                self.exec.fetch(sql, params, kinds).await
            }
            other => other,
        };
        rows.map_err(|e| self.err(e))
    }

    async fn fetch_optional(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch(sql, params, kinds).await?.into_iter().next())
    }

    async fn count(&self, sql: &str, params: &[Value]) -> Result<i64, StoreError> {
        let row = self.fetch_optional(sql, params, COUNT_KINDS).await?;
        row.ok_or_else(|| StoreError::Corrupt("COUNT returned no row".into()))?
            .int(0)
    }

    /// A write outside a transaction. One the database gave up for a deadlock or a
    /// serialization failure was rolled back whole, so it is sent again (a bounded
    /// number of times): parallel single statements on one row, such as a burst of
    /// logins counted on the throttle, can deadlock on MySQL's and MariaDB's gap locks.
    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.exec.execute(sql, params).await {
                Err(e) if e.kind == DbErrorKind::Retryable && tries < TX_ATTEMPTS => {
                    tracing::debug!(tries, error = %e, "statement retried");
                }
                done => return done.map_err(|e| self.err(e)),
            }
        }
    }

    /// Runs `attempt` (one whole transaction) again while the database reports a deadlock
    /// or serialization failure, a bounded number of times; and once after a lost
    /// connection before COMMIT (the server rolled the transaction back with it). A
    /// connection lost during COMMIT ([`DbErrorKind::InDoubt`]) is never retried.
    async fn retrying<T, D, F, Fut>(&self, mut attempt: F) -> Result<T, D>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TxError<D>>>,
        D: From<StoreError>,
    {
        let mut tries = 0;
        let mut reconnected = false;
        loop {
            tries += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(TxError::Domain(e)) => return Err(e),
                Err(TxError::Db(e)) if e.kind == DbErrorKind::Retryable && tries < TX_ATTEMPTS => {
                    tracing::debug!(tries, error = %e, "transaction retried");
                }
                Err(TxError::Db(e)) if e.kind == DbErrorKind::Unavailable && !reconnected => {
                    reconnected = true;
                    tracing::debug!(error = %e, "transaction retried on a fresh connection");
                }
                Err(TxError::Db(e)) => return Err(self.err(e).into()),
            }
        }
    }

    fn paging(&self, page: Page) -> [Value; 2] {
        self.st
            .dialect
            .paging_params(Value::Int(page.limit()), Value::Int(page.offset()))
    }

    async fn insert_events(&self, tx: &mut E::Tx, events: &[Event]) -> Result<(), DbError> {
        for event in events {
            let payload = serde_json::to_string(&event.payload)
                .map_err(|e| DbError::new(DbErrorKind::Other, format!("event payload: {e}")))?;
            let params = [
                Value::Uuid(event.id),
                event.payload.kind().into(),
                payload.into(),
                event.occurred_at.into(),
            ];
            tx.execute(&self.st.insert_event, &params).await?;
        }
        Ok(())
    }
}

fn corrupt(what: &str) -> impl Fn(&dyn std::fmt::Display) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}").into())
}

fn money(row: &Row, i: usize) -> Result<Money, StoreError> {
    Money::from_decimal(row.money(i)?).map_err(|e| corrupt("money")(&e))
}

#[cfg(test)]
mod tests {
    use crate::Kind;

    columns! {
        enum Plain { id: Uuid, name: Text, stock: Int }
    }

    columns! {
        enum Joined { o.id: Uuid, i.quantity: Int }
    }

    #[test]
    fn a_column_list_gives_its_text_kinds_and_indexes_in_one_order() {
        assert_eq!(Plain::COLUMNS, "id, name, stock");
        assert_eq!(Plain::KINDS, [Kind::Uuid, Kind::Text, Kind::Int]);
        assert_eq!([Plain::id, Plain::name, Plain::stock], [0, 1, 2]);
        assert_eq!(Joined::COLUMNS, "o.id, i.quantity");
        assert_eq!(Joined::KINDS, [Kind::Uuid, Kind::Int]);
        assert_eq!([Joined::id, Joined::quantity], [0, 1]);
    }
}
