//! Mercado's executor over sqlx, for SQLite, PostgreSQL and MySQL/MariaDB (features
//! `sqlite`, `postgres`, `mysql`).
//!
//! One generic executor ([`SqlxExecutor`]) runs statements on any sqlx database; what
//! differs per database (how a [`Value`] is bound and a column decoded, which error codes
//! mean "retry", how a write transaction begins, how to connect) lives in one
//! [`Backend`] impl per database module.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mercado_core::ports::StoreHealth as _;
//!
//! // Or `postgres::connect("postgres://…", 16)`, `mysql::connect("mysql://…", 16)`.
//! let executor = mercado_sqlx::sqlite::connect("sqlite::memory:", 1).await?;
//! mercado_sql::migrate(&executor).await?;
//! let store = mercado_sql::SqlStore::new(executor);
//! store.ping().await?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```

use futures_util::TryStreamExt;
use mercado_sql::{
    DbError, DbErrorKind, Dialect, Executor, Kind, PoolStatus, Row, Transaction, Value,
};
use sqlx::pool::PoolOptions;
use sqlx::query::Query;
use sqlx::{Database, IntoArguments, Pool};

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// `Backend::bind` and `Backend::decode` for databases with native UUID, DECIMAL, boolean
/// and timestamp types (PostgreSQL, MySQL/MariaDB): one text, expanded in each impl.
/// `$time` is the type a time is sent as and `$to_time` makes it from an `OffsetDateTime`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
macro_rules! native_types {
    ($time:ty, $to_time:expr) => {
        fn bind<'q>(
            query: Query<'q, Self, Args<'q, Self>>,
            value: &'q Value,
        ) -> Query<'q, Self, Args<'q, Self>> {
            match value {
                Value::Null(Kind::Bool) => query.bind(None::<bool>),
                Value::Null(Kind::Int) => query.bind(None::<i64>),
                Value::Null(Kind::Text) => query.bind(None::<String>),
                Value::Null(Kind::Uuid) => query.bind(None::<Uuid>),
                Value::Null(Kind::Money) => query.bind(None::<Decimal>),
                Value::Null(Kind::Time) => query.bind(None::<$time>),
                Value::Bool(v) => query.bind(*v),
                Value::Int(v) => query.bind(*v),
                Value::Text(v) => query.bind(v.as_str()),
                Value::Uuid(v) => query.bind(*v),
                Value::Money(v) => query.bind(*v),
                Value::Time(v) => query.bind($to_time(*v)),
            }
        }

        fn decode(
            row: &<Self as sqlx::Database>::Row,
            i: usize,
            kind: Kind,
        ) -> Result<Value, sqlx::Error> {
            let decoded = match kind {
                Kind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
                Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
                // Unchecked: MariaDB reports `utf8mb4_bin` text as VARBINARY, which sqlx's
                // type check refuses for String; the bytes are UTF-8 all the same.
                Kind::Text => row
                    .try_get_unchecked::<Option<String>, _>(i)?
                    .map(Value::Text),
                Kind::Uuid => row.try_get::<Option<Uuid>, _>(i)?.map(Value::Uuid),
                Kind::Money => row.try_get::<Option<Decimal>, _>(i)?.map(Value::Money),
                Kind::Time => row
                    .try_get::<Option<OffsetDateTime>, _>(i)?
                    .map(Value::Time),
            };
            Ok(decoded.unwrap_or(Value::Null(kind)))
        }
    };
}
#[cfg(any(feature = "postgres", feature = "mysql"))]
use native_types;

/// Arguments of a query on database `DB`.
type Args<'q, DB> = <DB as Database>::Arguments<'q>;

/// What differs between the databases sqlx drives.
pub trait Backend: Database + Sized {
    /// The SQL dialect.
    const DIALECT: Dialect;
    /// The statement that opens a read-write transaction.
    const BEGIN: &'static str;

    /// Binds one parameter in this database's natural type.
    fn bind<'q>(
        query: Query<'q, Self, Args<'q, Self>>,
        value: &'q Value,
    ) -> Query<'q, Self, Args<'q, Self>>;

    /// Decodes column `index` as `kind`.
    ///
    /// # Errors
    /// A decode error when the column holds something else.
    fn decode(row: &Self::Row, index: usize, kind: Kind) -> Result<Value, sqlx::Error>;

    /// Whether a database error code means a deadlock or serialization failure.
    fn is_retryable(code: &str) -> bool;

    /// Whether a database error means the connection is gone or refused (the server
    /// shutting down or terminating the session, too many connections): 503, retried once.
    fn is_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool;
}

/// A sqlx pool pair: reads go to `read`, writes and transactions to `write`. They are
/// the same pool except on SQLite, where one writer connection serialises writes and
/// readers run beside it.
#[derive(Debug)]
pub struct SqlxExecutor<DB: Database> {
    read: Pool<DB>,
    write: Pool<DB>,
    /// Whether `read` and `write` are one pool (its connections counted once).
    shared: bool,
}

impl<DB: Database> Clone for SqlxExecutor<DB> {
    fn clone(&self) -> Self {
        Self {
            read: self.read.clone(),
            write: self.write.clone(),
            shared: self.shared,
        }
    }
}

impl<DB: Database> SqlxExecutor<DB> {
    /// An executor over separate read and write pools.
    pub fn new(read: Pool<DB>, write: Pool<DB>) -> Self {
        Self {
            read,
            write,
            shared: false,
        }
    }

    /// An executor reading and writing through one pool.
    pub fn shared(pool: Pool<DB>) -> Self {
        Self {
            read: pool.clone(),
            write: pool,
            shared: true,
        }
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// A transaction on the write pool; dropped without commit, sqlx rolls it back before the
/// connection returns to the pool.
#[derive(Debug)]
pub struct SqlxTransaction<DB: Database>(sqlx::Transaction<'static, DB>);

/// How long a request waits for a pooled connection of a database server: a few
/// seconds, so requests answer 503 rather than hang while the server is down.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens a database server's pool (PostgreSQL, MySQL/MariaDB). One connection is made
/// alone first: it fails with the reason ("connection refused", a bad password), where
/// the pool would retry until its timeout and say only that it timed out.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn open_pool<DB: Database>(
    options: <DB::Connection as sqlx::Connection>::Options,
    max_connections: u32,
) -> Result<Pool<DB>, sqlx::Error> {
    use sqlx::{ConnectOptions as _, Connection as _};
    options.connect().await?.close().await?;
    PoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
}

fn classify<DB: Backend>(err: sqlx::Error) -> DbError {
    use sqlx::error::ErrorKind as K;
    let kind = match &err {
        sqlx::Error::Database(db) => match db.kind() {
            K::UniqueViolation => DbErrorKind::UniqueViolation,
            K::CheckViolation => DbErrorKind::CheckViolation,
            K::ForeignKeyViolation => DbErrorKind::ForeignKeyViolation,
            _ if db.code().is_some_and(|c| DB::is_retryable(&c)) => DbErrorKind::Retryable,
            _ if DB::is_unavailable(db.as_ref()) => DbErrorKind::Unavailable,
            _ => DbErrorKind::Other,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    };
    let (constraint, message) = match &err {
        sqlx::Error::Database(db) => (
            db.constraint().map(str::to_owned),
            Some(db.message().to_owned()),
        ),
        _ => (None, None),
    };
    let mut error = DbError::caused_by(kind, err);
    error.constraint = constraint;
    // The server's own words, without sqlx's prefix: constraint names are read from them.
    if let Some(message) = message {
        error.message = message;
    }
    error
}

fn query<'q, DB: Backend>(sql: &'q str, params: &'q [Value]) -> Query<'q, DB, Args<'q, DB>> {
    params
        .iter()
        .fold(sqlx::query::<DB>(sql), |q, v| DB::bind(q, v))
}

fn decode_row<DB: Backend>(row: &DB::Row, kinds: &[Kind]) -> Result<Row, DbError> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| DB::decode(row, i, *kind))
        .collect::<Result<Vec<_>, _>>()
        .map(Row)
        .map_err(classify::<DB>)
}

async fn fetch_with<'e, 'q: 'e, DB, X>(
    exec: X,
    sql: &'q str,
    params: &'q [Value],
    kinds: &[Kind],
) -> Result<Vec<Row>, DbError>
where
    DB: Backend,
    X: sqlx::Executor<'e, Database = DB> + 'e,
    for<'a> Args<'a, DB>: IntoArguments<'a, DB>,
{
    let mut rows = Vec::new();
    let mut stream = query::<DB>(sql, params).fetch(exec);
    while let Some(row) = stream.try_next().await.map_err(classify::<DB>)? {
        rows.push(decode_row::<DB>(&row, kinds)?);
    }
    Ok(rows)
}

async fn execute_with<'e, 'q: 'e, DB, X>(
    exec: X,
    sql: &'q str,
    params: &'q [Value],
) -> Result<u64, DbError>
where
    DB: Backend,
    X: sqlx::Executor<'e, Database = DB> + 'e,
    for<'a> Args<'a, DB>: IntoArguments<'a, DB>,
    DB::QueryResult: RowsAffected,
{
    let done = query::<DB>(sql, params)
        .execute(exec)
        .await
        .map_err(classify::<DB>)?;
    Ok(done.rows_affected())
}

/// The rows a statement affected; each database's result type has it, under no trait.
pub trait RowsAffected {
    /// How many rows.
    fn rows_affected(&self) -> u64;
}

impl<DB> Executor for SqlxExecutor<DB>
where
    DB: Backend,
    for<'a> Args<'a, DB>: IntoArguments<'a, DB>,
    for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::QueryResult: RowsAffected,
{
    type Tx = SqlxTransaction<DB>;

    fn pool_status(&self) -> PoolStatus {
        let status = |pool: &Pool<DB>| {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            PoolStatus {
                in_use: pool.size().saturating_sub(idle),
                idle,
            }
        };
        let read = status(&self.read);
        if self.shared {
            return read;
        }
        let write = status(&self.write);
        PoolStatus {
            in_use: read.in_use + write.in_use,
            idle: read.idle + write.idle,
        }
    }

    fn dialect(&self) -> Dialect {
        DB::DIALECT
    }

    async fn fetch(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, DbError> {
        fetch_with(&self.read, sql, params, kinds).await
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute_with(&self.write, sql, params).await
    }

    async fn begin(&self) -> Result<Self::Tx, DbError> {
        self.write
            .begin_with(DB::BEGIN)
            .await
            .map(SqlxTransaction)
            .map_err(classify::<DB>)
    }

    /// A pool of one connection, opened with the write pool's options: nothing closes
    /// or replaces it while it works (no idle or lifetime limit, no test on acquire).
    async fn session(&self) -> Result<Self, DbError> {
        let options = self.write.connect_options().as_ref().clone();
        let pool = PoolOptions::<DB>::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .acquire_timeout(self.write.options().get_acquire_timeout())
            .connect_with(options)
            .await
            .map_err(classify::<DB>)?;
        Ok(Self::shared(pool))
    }
}

impl<DB> Transaction for SqlxTransaction<DB>
where
    DB: Backend,
    for<'a> Args<'a, DB>: IntoArguments<'a, DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::QueryResult: RowsAffected,
{
    async fn fetch(
        &mut self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, DbError> {
        fetch_with(&mut *self.0, sql, params, kinds).await
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute_with(&mut *self.0, sql, params).await
    }

    async fn execute_script(&mut self, script: &str) -> Result<(), DbError> {
        // A bare string carries no arguments, so every driver runs all its statements.
        sqlx::Executor::execute(&mut *self.0, script)
            .await
            .map(drop)
            .map_err(classify::<DB>)
    }

    async fn commit(self) -> Result<(), DbError> {
        self.0
            .commit()
            .await
            .map_err(|e| classify::<DB>(e).at_commit())
    }

    async fn rollback(self) -> Result<(), DbError> {
        self.0.rollback().await.map_err(classify::<DB>)
    }
}
