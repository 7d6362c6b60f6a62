//! Mercado's executor for SQL Server: tiberius sessions pooled by bb8 (bb8-tiberius),
//! speaking the SQL layer's `MsSql` dialect.
//!
//! What SQL Server asks of a client, and where it is done:
//! - every result stream is read to its end before a connection is used again or pooled
//!   (`pool::Connection`), and a connection whose request was cut off is closed rather
//!   than pooled;
//! - transactions are explicit (`BEGIN TRANSACTION`), with `XACT_ABORT ON` so an error
//!   rolls the whole transaction back on the server; a [`MsTransaction`] dropped without
//!   commit rolls back before its connection returns to the pool, and one that cannot
//!   roll back is closed;
//! - unique violations (2627/2601), check and foreign-key violations (547) and deadlocks
//!   (1205) map to the same errors as on every other database (`error.rs`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Also ADO.NET (`Server=tcp:host,1433;Database=…`) and JDBC (`jdbc:sqlserver://…`).
//! let url = "mssql://mercado:secret@db.example.com:1433/mercado?encrypt=true";
//! let executor = mercado_tiberius::connect(url, 16).await?;
//! mercado_sql::migrate(&executor).await?;
//! let store = mercado_sql::SqlStore::new(executor);
//! # drop(store);
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod pool;
mod types;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bb8::{ManageConnection, PooledConnection, RunError};
use mercado_sql::{
    DbError, DbErrorKind, Dialect, Executor, Kind, PoolStatus, Row, Transaction, Value,
};

pub use config::{ConfigError, parse_config};

use pool::Manager;

/// How long a request waits for a pooled connection before the database counts as
/// unavailable (503), as on the other databases.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pool of SQL Server sessions.
#[derive(Debug, Clone)]
pub struct MsExecutor {
    pool: bb8::Pool<Manager>,
    closed: Arc<AtomicBool>,
    /// How to connect, for [`Executor::session`].
    config: ConnectConfig,
}

/// The connection settings, with a `Debug` that shows no password.
#[derive(Clone)]
struct ConnectConfig(Arc<tiberius::Config>);

impl std::fmt::Debug for ConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectConfig")
    }
}

/// Why the pool could not open.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL or connection string is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The first connection failed (server down, login refused, TLS, …).
    #[error("{0}")]
    Connect(String),
}

/// Opens a pool of up to `max_connections` on a `mssql://`/`sqlserver://` URL, an
/// ADO.NET string or a JDBC URL (see [`parse_config`]). One connection is made at once,
/// so a wrong address, login or certificate fails here with the server's reason.
///
/// # Errors
/// [`ConnectError`].
pub async fn connect(url: &str, max_connections: u32) -> Result<MsExecutor, ConnectError> {
    let config = ConnectConfig(Arc::new(parse_config(url)?));
    open(config, bb8::Pool::builder().max_size(max_connections)).await
}

async fn open(
    config: ConnectConfig,
    builder: bb8::Builder<Manager>,
) -> Result<MsExecutor, ConnectError> {
    let manager = Manager(bb8_tiberius::ConnectionManager::new(
        config.0.as_ref().clone(),
    ));
    let first = manager
        .connect()
        .await
        .map_err(|e| ConnectError::Connect(e.to_string()))?;
    let pool = builder
        .connection_timeout(ACQUIRE_TIMEOUT)
        .error_sink(Box::new(LogSink))
        .build_unchecked(manager);
    // The pool is empty and below its size, so it takes the connection.
    let _ = pool.add(first);
    Ok(MsExecutor {
        pool,
        closed: Arc::new(AtomicBool::new(false)),
        config,
    })
}

/// Logs why background connection attempts fail; requests meanwhile get 503.
#[derive(Debug, Clone, Copy)]
struct LogSink;

impl bb8::ErrorSink<bb8_tiberius::Error> for LogSink {
    fn sink(&self, error: bb8_tiberius::Error) {
        tracing::warn!(%error, "SQL Server connection failed");
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<bb8_tiberius::Error>> {
        Box::new(*self)
    }
}

impl MsExecutor {
    /// Refuses new work from now on; idle connections close when the last clone drops.
    /// Async like every executor's `close`, which the others await.
    #[allow(clippy::unused_async)]
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    async fn connection(&self) -> Result<PooledConnection<'static, Manager>, DbError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(DbError::new(DbErrorKind::Unavailable, "the pool is closed"));
        }
        self.pool.get_owned().await.map_err(|e| match e {
            RunError::User(e) => DbError::caused_by(DbErrorKind::Unavailable, e),
            RunError::TimedOut => DbError::new(
                DbErrorKind::Unavailable,
                "timed out waiting for a SQL Server connection",
            ),
        })
    }
}

impl Executor for MsExecutor {
    type Tx = MsTransaction;

    fn pool_status(&self) -> PoolStatus {
        let state = self.pool.state();
        PoolStatus {
            in_use: state.connections.saturating_sub(state.idle_connections),
            idle: state.idle_connections,
        }
    }

    fn dialect(&self) -> Dialect {
        Dialect::MsSql
    }

    async fn fetch(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, DbError> {
        self.connection().await?.fetch(sql, params, kinds).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.connection().await?.execute(sql, params).await
    }

    async fn begin(&self) -> Result<MsTransaction, DbError> {
        let mut conn = self.connection().await?;
        // On failure the connection is dropped marked "in transaction", so it is closed.
        conn.begin().await?;
        Ok(MsTransaction { conn: Some(conn) })
    }

    /// A pool of one connection that nothing closes or replaces while it works (no idle
    /// or lifetime limit, no test on check-out); closed once the last clone is dropped.
    async fn session(&self) -> Result<Self, DbError> {
        let builder = bb8::Pool::builder()
            .max_size(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false);
        open(self.config.clone(), builder)
            .await
            .map_err(|e| DbError::caused_by(DbErrorKind::Unavailable, e))
    }
}

/// An open transaction on one pooled session.
pub struct MsTransaction {
    /// `None` once committed.
    conn: Option<PooledConnection<'static, Manager>>,
}

impl std::fmt::Debug for MsTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsTransaction")
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl MsTransaction {
    fn conn(&mut self) -> &mut pool::Connection {
        self.conn
            .as_mut()
            .expect("a transaction is only used before commit, which consumes it")
    }
}

impl Transaction for MsTransaction {
    async fn fetch(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, DbError> {
        self.conn().fetch(sql, params, kinds).await
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.conn().execute(sql, params).await
    }

    async fn execute_script(&mut self, script: &str) -> Result<(), DbError> {
        self.conn().batch(script).await
    }

    async fn commit(mut self) -> Result<(), DbError> {
        let mut conn = self.conn.take().expect("commit runs once");
        // On failure the connection is dropped still marked "in transaction": closed.
        conn.commit().await.map_err(DbError::at_commit)
    }

    async fn rollback(mut self) -> Result<(), DbError> {
        let mut conn = self.conn.take().expect("rollback runs once");
        conn.rollback().await
    }
}

impl Drop for MsTransaction {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // Roll back on the same session before bb8 may hand it out again. Without a
        // runtime (process exit) the connection drops marked "in transaction", bb8 closes
        // it, and the server rolls back when the session ends.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = conn.rollback().await {
                    tracing::warn!(%error, "rollback failed; closing the connection");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_malformed_url_is_refused_before_any_connection() {
        let err = connect("mssql://sa:pw@localhost/db?colour=blue", 2)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Config(_)), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_at_connect_with_the_reason() {
        // Port 9 (discard) is closed on loopback: the connection is refused.
        let err = connect("mssql://sa:pw@127.0.0.1:9/db", 2)
            .await
            .unwrap_err();
        let ConnectError::Connect(message) = err else {
            panic!("{err}")
        };
        assert!(message.to_lowercase().contains("refused"), "{message}");
        assert!(!message.contains("pw@"), "{message}");
    }

    #[tokio::test]
    async fn a_peer_that_hangs_up_during_login_is_a_connect_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
        });
        let url = format!("mssql://sa:pw@127.0.0.1:{port}/db?encrypt=false");
        let err = connect(&url, 2).await.unwrap_err();
        assert!(matches!(err, ConnectError::Connect(_)), "{err}");
        peer.await.unwrap();
    }
}
