//! SQLite: binding and decoding, error codes, and the pools.
//!
//! Money and times are stored as TEXT (see `migrations/sqlite`), UUIDs as 16-byte BLOBs.
//! WAL mode lets readers run beside the single writer connection, which serialises every
//! write transaction (`BEGIN IMMEDIATE`), so writers never fail with `SQLITE_BUSY`.

use std::str::FromStr;
use std::time::Duration;

use mercado_sql::{Dialect, Kind, Value};
use rust_decimal::Decimal;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::{Args, Backend, RowsAffected, SqlxExecutor};

/// Fixed-width UTC times, so that text order is time order.
const TIME_FORMAT: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// The SQLite executor.
pub type SqliteExecutor = SqlxExecutor<Sqlite>;

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Backend for Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    fn bind<'q>(
        query: Query<'q, Self, Args<'q, Self>>,
        value: &'q Value,
    ) -> Query<'q, Self, Args<'q, Self>> {
        match value {
            Value::Null(_) => query.bind(None::<String>),
            Value::Bool(v) => query.bind(*v),
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.as_str()),
            Value::Uuid(v) => query.bind(*v),
            Value::Money(v) => query.bind(format!("{v:.2}")),
            Value::Time(v) => query.bind(format_time(*v)),
        }
    }

    fn decode(row: &SqliteRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
        let decoded = match kind {
            Kind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
            Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
            Kind::Uuid => row.try_get::<Option<Uuid>, _>(i)?.map(Value::Uuid),
            Kind::Money => row
                .try_get::<Option<String>, _>(i)?
                .map(|s| {
                    Decimal::from_str(&s)
                        .map(Value::Money)
                        .map_err(|e| decode_error(i, e))
                })
                .transpose()?,
            Kind::Time => row
                .try_get::<Option<String>, _>(i)?
                .map(|s| {
                    parse_time(&s)
                        .map(Value::Time)
                        .map_err(|e| decode_error(i, e))
                })
                .transpose()?,
        };
        Ok(decoded.unwrap_or(Value::Null(kind)))
    }

    fn is_retryable(code: &str) -> bool {
        // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
        code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
    }

    fn is_unavailable(_: &dyn sqlx::error::DatabaseError) -> bool {
        // An embedded file has no connection to lose.
        false
    }
}

fn decode_error(index: usize, err: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: Box::new(err),
    }
}

fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(TIME_FORMAT)
        .expect("every UTC time formats")
}

fn parse_time(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    PrimitiveDateTime::parse(s, TIME_FORMAT).map(PrimitiveDateTime::assume_utc)
}

/// Opens a SQLite database from a `sqlite://` URL (creating the file when the URL says
/// `mode=rwc`): one writer connection and `readers` reader connections. An in-memory
/// database gets a single connection for both, since each connection would otherwise
/// see a database of its own.
///
/// # Errors
/// When the URL is malformed or the file cannot be opened.
pub async fn connect(url: &str, readers: u32) -> Result<SqliteExecutor, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(OPEN_BUSY_FOR)
        .foreign_keys(true);
    let pool = |max: u32| {
        SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(30))
    };
    let write = open_retrying_busy(|| pool(1).connect_with(options.clone()))
        .await
        .map_err(|e| explain_open(e, options.get_filename()))?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let read = if in_memory {
        write.clone()
    } else {
        let options = options.read_only(true);
        open_retrying_busy(|| pool(readers.max(1)).connect_with(options.clone())).await?
    };
    Ok(SqlxExecutor::new(read, write))
}

/// Opens a pool, again while the file is busy. Processes opening one new file at once
/// all switch it to WAL, which takes an exclusive lock; SQLite answers `SQLITE_BUSY` to
/// the others at once rather than through the busy timeout (it could deadlock waiting).
async fn open_retrying_busy<F, Fut>(open: F) -> Result<sqlx::SqlitePool, sqlx::Error>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<sqlx::SqlitePool, sqlx::Error>>,
{
    let give_up = tokio::time::Instant::now() + OPEN_BUSY_FOR;
    let mut pause = Duration::from_millis(5);
    loop {
        match open().await {
            Err(e)
                if tokio::time::Instant::now() < give_up
                    && e.as_database_error()
                        .and_then(sqlx::error::DatabaseError::code)
                        .is_some_and(|code| Sqlite::is_retryable(&code)) =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            opened => return opened,
        }
    }
}

/// How long opening waits out other openers, as long as a statement waits for a lock.
const OPEN_BUSY_FOR: Duration = Duration::from_secs(5);

/// SQLite's "unable to open database file" (`SQLITE_CANTOPEN`), said in the URL's terms.
fn explain_open(error: sqlx::Error, file: &std::path::Path) -> sqlx::Error {
    let cannot_open = error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| code == "14");
    if !cannot_open {
        return error;
    }
    let folder = file.parent().filter(|dir| !dir.as_os_str().is_empty());
    let reason = if folder.is_some_and(|dir| !dir.is_dir()) {
        format!("the folder of {} does not exist", file.display())
    } else if !file.exists() {
        format!(
            "{} does not exist (add ?mode=rwc to the URL to create it)",
            file.display()
        )
    } else {
        return error;
    };
    sqlx::Error::Configuration(Box::new(CannotOpen {
        reason,
        source: error,
    }))
}

/// A database file that could not be opened, and why in the URL's terms.
#[derive(Debug)]
struct CannotOpen {
    reason: String,
    source: sqlx::Error,
}

impl std::fmt::Display for CannotOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for CannotOpen {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[tokio::test]
    async fn a_file_that_cannot_be_opened_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("shop.db");
        let error = connect(&format!("sqlite://{}", missing.display()), 1)
            .await
            .unwrap_err();
        let said = error.to_string();
        assert!(
            said.contains("shop.db does not exist (add ?mode=rwc"),
            "{said}"
        );
        let no_folder = dir.path().join("nowhere").join("shop.db");
        let error = connect(&format!("sqlite://{}?mode=rwc", no_folder.display()), 1)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("the folder of"), "{error}");
        // The driver's error stays the cause.
        let cause = std::error::Error::source(&error).and_then(std::error::Error::source);
        assert!(
            cause.is_some_and(|c| c.to_string().contains("code: 14")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn processes_opening_one_new_file_at_once_all_open_it() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("shop.db").display());
            let opening: Vec<_> = (0..8)
                .map(|_| {
                    tokio::spawn({
                        let url = url.clone();
                        async move { connect(&url, 1).await.map(|_| ()) }
                    })
                })
                .collect();
            for opened in opening {
                opened.await.unwrap().expect("every opener gets the file");
            }
        }
    }

    #[test]
    fn times_are_written_fixed_width_and_read_back_equal() {
        let t = datetime!(2026-11-22 10:15:30.1 UTC);
        assert_eq!(format_time(t), "2026-11-22T10:15:30.100000Z");
        assert_eq!(parse_time(&format_time(t)).unwrap(), t);
    }

    #[test]
    fn busy_and_locked_are_retryable_but_constraints_are_not() {
        assert!(Sqlite::is_retryable("5"));
        assert!(Sqlite::is_retryable("517"));
        assert!(Sqlite::is_retryable("6"));
        assert!(!Sqlite::is_retryable("2067"));
        assert!(!Sqlite::is_retryable("x"));
    }
}
