//! Pooled connections that know whether they are safe to hand out again.
//!
//! bb8-tiberius opens the connections; this wrapper adds what SQL Server needs from a
//! pool. A connection records whether a request is in flight or a transaction is open,
//! and bb8 asks `has_broken` before pooling it again: a connection dropped mid-request
//! (a cancelled future) or inside a transaction that was not ended is closed instead,
//! and the server rolls the transaction back when the session ends.

use mercado_sql::{DbError, Kind, Row, Value};
use tiberius::ToSql;

use crate::error::{classify, leaves_connection_usable};
use crate::types::{bind, decode_row};

/// Session settings for every new connection. `XACT_ABORT ON` makes any error inside a
/// transaction roll all of it back on the server, as PostgreSQL does, so no statement's
/// effects outlive a failed transaction.
const SESSION: &str = "SET XACT_ABORT ON; SET LOCK_TIMEOUT 10000;";

/// The bb8 manager: bb8-tiberius's, plus session settings and breakage tracking.
pub(crate) struct Manager(pub bb8_tiberius::ConnectionManager);

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manager")
    }
}

/// One SQL Server session.
pub(crate) struct Connection {
    client: bb8_tiberius::rt::Client,
    /// A request was sent whose reply was not read to the end without a transport error.
    in_flight: bool,
    /// `BEGIN TRANSACTION` was sent and neither `COMMIT` nor `ROLLBACK` completed.
    in_transaction: bool,
}

impl bb8::ManageConnection for Manager {
    type Connection = Connection;
    type Error = bb8_tiberius::Error;

    async fn connect(&self) -> Result<Connection, Self::Error> {
        let mut conn = Connection {
            client: self.0.connect().await?,
            in_flight: false,
            in_transaction: false,
        };
        conn.client
            .simple_query(SESSION)
            .await?
            .into_results()
            .await?;
        Ok(conn)
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), Self::Error> {
        conn.client
            .simple_query("SELECT 1")
            .await?
            .into_results()
            .await?;
        Ok(())
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.in_flight || conn.in_transaction
    }
}

impl Connection {
    /// Marks a request in flight, and clears the mark once its reply was read whole (or
    /// the server answered with an error, after which the stream is still in step).
    fn settle<T>(&mut self, result: Result<T, tiberius::error::Error>) -> Result<T, DbError> {
        match result {
            Ok(v) => {
                self.in_flight = false;
                Ok(v)
            }
            Err(e) => {
                if leaves_connection_usable(&e) {
                    self.in_flight = false;
                }
                Err(classify(&e))
            }
        }
    }

    /// Runs a parameterised statement and reads every row of every result.
    pub(crate) async fn fetch(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, DbError> {
        let (sql, params) = bind(sql, params);
        let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
        self.in_flight = true;
        let rows = match self.client.query(&*sql, &refs).await {
            Ok(stream) => stream.into_first_result().await,
            Err(e) => Err(e),
        };
        self.settle(rows)?
            .iter()
            .map(|row| decode_row(row, kinds))
            .collect()
    }

    /// Runs a parameterised statement; returns the rows it affected.
    pub(crate) async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let (sql, params) = bind(sql, params);
        let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
        self.in_flight = true;
        let done = self.client.execute(&*sql, &refs).await;
        self.settle(done).map(tiberius::ExecuteResult::total)
    }

    /// Runs a batch without parameters, reading every result.
    pub(crate) async fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.in_flight = true;
        let done = match self.client.simple_query(sql).await {
            Ok(stream) => stream.into_results().await.map(drop),
            Err(e) => Err(e),
        };
        self.settle(done)
    }

    pub(crate) async fn begin(&mut self) -> Result<(), DbError> {
        self.in_transaction = true;
        self.batch("BEGIN TRANSACTION").await
    }

    pub(crate) async fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT TRANSACTION").await?;
        self.in_transaction = false;
        Ok(())
    }

    /// Rolls back whatever is open; after an error `XACT_ABORT` may already have.
    pub(crate) async fn rollback(&mut self) -> Result<(), DbError> {
        self.batch("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
            .await?;
        self.in_transaction = false;
        Ok(())
    }
}
