//! MySQL 8 and MariaDB 10.6+: native types, their retryable error codes, and the pool.

use std::str::FromStr;

use mercado_sql::{Dialect, Kind, Value};
use rust_decimal::Decimal;
use sqlx::MySql;
use sqlx::Row as _;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::query::Query;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use uuid::Uuid;

use crate::{Args, Backend, RowsAffected, SqlxExecutor, native_types};

/// The MySQL/MariaDB executor.
pub type MySqlExecutor = SqlxExecutor<MySql>;

impl RowsAffected for sqlx::mysql::MySqlQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Backend for MySql {
    const DIALECT: Dialect = Dialect::MySql;
    const BEGIN: &'static str = "BEGIN";

    // Times go as DATETIME, in UTC like the session: sqlx sends an `OffsetDateTime` as
    // TIMESTAMP, whose range ends in 2038, and MariaDB stores a later one (the parked
    // time, 9999-12-31) as NULL without a word.
    native_types!(PrimitiveDateTime, utc_datetime);

    fn is_retryable(code: &str) -> bool {
        // sqlx reports the SQLSTATE; a deadlock (ER_LOCK_DEADLOCK) is 40001.
        code == "40001"
    }

    fn is_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
        error
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| is_unavailable_number(e.number()))
            || error.code().is_some_and(|c| c.starts_with("08"))
    }
}

/// The wall-clock time in UTC.
fn utc_datetime(t: OffsetDateTime) -> PrimitiveDateTime {
    let utc = t.to_offset(UtcOffset::UTC);
    PrimitiveDateTime::new(utc.date(), utc.time())
}

/// `ER_CON_COUNT_ERROR` (too many connections), `ER_SERVER_SHUTDOWN`, `ER_CONNECTION_KILLED`,
/// and the client's `CR_SERVER_GONE_ERROR` / `CR_SERVER_LOST` should a server relay them.
fn is_unavailable_number(number: u16) -> bool {
    matches!(number, 1040 | 1053 | 1927 | 2006 | 2013)
}

/// Opens a pool on a `mysql://` or `mariadb://` URL (sessions in UTC). Acquiring a
/// connection gives up after a few seconds, so requests answer 503 while it is down.
///
/// # Errors
/// When the URL is malformed or the server cannot be reached.
pub async fn connect(url: &str, max_connections: u32) -> Result<MySqlExecutor, sqlx::Error> {
    let url = url
        .strip_prefix("mariadb://")
        .map_or_else(|| url.to_owned(), |rest| format!("mysql://{rest}"));
    let options = MySqlConnectOptions::from_str(&url)?.timezone(Some("+00:00".to_owned()));
    let pool = crate::open_pool::<sqlx::MySql>(options, max_connections).await?;
    Ok(SqlxExecutor::shared(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_losses_are_unavailable() {
        for n in [1040, 1053, 1927, 2006, 2013] {
            assert!(is_unavailable_number(n), "{n}");
        }
        for n in [1062, 1213, 1205, 1146] {
            assert!(!is_unavailable_number(n), "{n}");
        }
    }
}
