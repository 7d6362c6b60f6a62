//! SQL Server errors, classified the way the SQL layer maps every database's.

use mercado_sql::{DbError, DbErrorKind};

/// Classifies a driver error.
pub(crate) fn classify(err: &tiberius::error::Error) -> DbError {
    use tiberius::error::Error as E;
    match err {
        E::Server(token) => server_error(token.code(), token.message()),
        E::Io { .. } | E::Tls(_) | E::Routing { .. } => {
            DbError::caused_by(DbErrorKind::Unavailable, err.clone())
        }
        _ => DbError::caused_by(DbErrorKind::Other, err.clone()),
    }
}

/// Whether the connection is still usable after `err`: after a server's error message
/// the reply is well formed, and the next request drains what is left of it; after
/// anything else the protocol state is unknown.
pub(crate) fn leaves_connection_usable(err: &tiberius::error::Error) -> bool {
    matches!(err, tiberius::error::Error::Server(_))
}

/// Classifies a server error by its number.
pub(crate) fn server_error(code: u32, message: &str) -> DbError {
    let kind = match code {
        // Unique constraint, unique index.
        2627 | 2601 => DbErrorKind::UniqueViolation,
        // 547 covers CHECK, FOREIGN KEY and REFERENCE (the delete side of a key).
        // SQL Server says "CHECK constraint"; Babelfish says "violates check constraint".
        547 if message.to_ascii_lowercase().contains("check constraint") => {
            DbErrorKind::CheckViolation
        }
        547 => DbErrorKind::ForeignKeyViolation,
        // Deadlock victim; snapshot isolation update conflict.
        1205 | 3960 => DbErrorKind::Retryable,
        // Lock wait over the session's LOCK_TIMEOUT; database not accessible or shutting
        // down; Azure SQL's "database unavailable", "service busy" and "resource limit";
        // transport-level losses the server reports (no process at the other end, the
        // connection reset, aborted or timed out, the network name gone); Azure's
        // "resource busy" family.
        1222
        | 4060
        | 6005
        | 40197
        | 40501
        | 40613
        | 10928
        | 10929
        | 233
        | 10053
        | 10054
        | 10060
        | 64
        | 49918..=49920 => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    };
    DbError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_numbers_map_to_kinds() {
        let cases = [
            (
                2627,
                "Violation of UNIQUE KEY constraint 'uq_users_email'.",
                DbErrorKind::UniqueViolation,
            ),
            (
                2601,
                "Cannot insert duplicate key row in object 'dbo.users' with unique index 'uq_users_email'.",
                DbErrorKind::UniqueViolation,
            ),
            (
                547,
                "The UPDATE statement conflicted with the CHECK constraint \"ck_products_stock\".",
                DbErrorKind::CheckViolation,
            ),
            // Babelfish words it as PostgreSQL does.
            (
                547,
                "new row for relation \"products\" violates check constraint \"ck_products_stock\"",
                DbErrorKind::CheckViolation,
            ),
            (
                547,
                "The INSERT statement conflicted with the FOREIGN KEY constraint \"fk_orders_user\".",
                DbErrorKind::ForeignKeyViolation,
            ),
            (
                547,
                "The DELETE statement conflicted with the REFERENCE constraint \"fk_order_items_order\".",
                DbErrorKind::ForeignKeyViolation,
            ),
            (
                1205,
                "Transaction (Process ID 52) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.",
                DbErrorKind::Retryable,
            ),
            (
                3960,
                "Snapshot isolation transaction aborted due to update conflict.",
                DbErrorKind::Retryable,
            ),
            (
                1222,
                "Lock request time out period exceeded.",
                DbErrorKind::Unavailable,
            ),
            (
                4060,
                "Cannot open database \"m\" requested by the login.",
                DbErrorKind::Unavailable,
            ),
            (102, "Incorrect syntax near 'x'.", DbErrorKind::Other),
        ];
        for (code, message, kind) in cases {
            let err = server_error(code, message);
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.message, message);
        }
    }

    #[test]
    fn transport_failures_are_unavailable_and_leave_the_connection_unusable() {
        let io: tiberius::error::Error =
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset").into();
        assert_eq!(classify(&io).kind, DbErrorKind::Unavailable);
        assert!(!leaves_connection_usable(&io));
        let tls = tiberius::error::Error::Tls("bad certificate".into());
        assert_eq!(classify(&tls).kind, DbErrorKind::Unavailable);
        let protocol = tiberius::error::Error::Protocol("unexpected token".into());
        assert_eq!(classify(&protocol).kind, DbErrorKind::Other);
        assert!(!leaves_connection_usable(&protocol));
    }
}
