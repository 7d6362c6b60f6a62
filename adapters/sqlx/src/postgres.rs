//! PostgreSQL: native types, its retryable error codes, and the pool.

use std::str::FromStr;

use mercado_sql::{Dialect, Kind, Value};
use rust_decimal::Decimal;
use sqlx::Postgres;
use sqlx::Row as _;
use sqlx::postgres::PgConnectOptions;
use sqlx::query::Query;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Args, Backend, RowsAffected, SqlxExecutor, native_types};

/// The PostgreSQL executor.
pub type PgExecutor = SqlxExecutor<Postgres>;

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Backend for Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
    const BEGIN: &'static str = "BEGIN";

    native_types!(OffsetDateTime, std::convert::identity);

    fn is_retryable(code: &str) -> bool {
        // serialization_failure, deadlock_detected
        matches!(code, "40001" | "40P01")
    }

    fn is_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
        error.code().is_some_and(|c| is_unavailable_code(&c))
    }
}

/// Class 08 (connection exception); `admin_shutdown`, `crash_shutdown`, `cannot_connect_now`
/// (a restart: `terminating connection due to administrator command`);
/// `too_many_connections`.
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// Opens a pool on a `postgres://` URL. Acquiring a connection gives up after a few
/// seconds, so that requests answer 503 rather than hang while the database is down.
///
/// # Errors
/// When the URL is malformed or the server cannot be reached.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgExecutor, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let pool = crate::open_pool::<sqlx::Postgres>(options, max_connections).await?;
    Ok(SqlxExecutor::shared(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_losses_are_unavailable() {
        for code in [
            "08000", "08003", "08006", "08P01", "57P01", "57P02", "57P03", "53300",
        ] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["40001", "23505", "57014", "42P01"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
    }
}
