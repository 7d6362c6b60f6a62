//! Database errors as executors report them, and their mapping to [`StoreError`].

use mercado_core::StoreError;

use crate::Dialect;

/// What kind of failure a driver reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// A unique or primary-key constraint.
    UniqueViolation,
    /// A check constraint.
    CheckViolation,
    /// A foreign-key constraint.
    ForeignKeyViolation,
    /// A deadlock or serialization failure: the transaction may be retried.
    Retryable,
    /// The database cannot be reached (connection refused, pool timed out, …).
    Unavailable,
    /// Anything else.
    Other,
}

/// A driver error, classified by the executor.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    /// The classification.
    pub kind: DbErrorKind,
    /// The constraint name, when the driver reports it separately.
    pub constraint: Option<String>,
    /// The driver's message.
    pub message: String,
}

impl DbError {
    /// An error of `kind` with a message.
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            constraint: None,
            message: message.into(),
        }
    }

    /// Maps to the store error the ports speak, naming violated constraints as the
    /// migrations do.
    pub(crate) fn into_store_error(self, dialect: Dialect) -> StoreError {
        match self.kind {
            DbErrorKind::UniqueViolation
            | DbErrorKind::CheckViolation
            | DbErrorKind::ForeignKeyViolation => {
                let constraint = self
                    .constraint
                    .clone()
                    .or_else(|| dialect.constraint_from_message(&self.message))
                    .unwrap_or_else(|| "unknown".to_owned());
                StoreError::Conflict { constraint }
            }
            DbErrorKind::Unavailable => StoreError::Unavailable(self.message),
            DbErrorKind::Retryable | DbErrorKind::Other => StoreError::Other(self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_become_conflicts_named_by_constraint() {
        let err = DbError {
            kind: DbErrorKind::UniqueViolation,
            constraint: Some("uq_users_email".into()),
            message: "duplicate".into(),
        };
        assert!(
            err.into_store_error(Dialect::Postgres)
                .is_conflict_on("uq_users_email")
        );
    }

    #[test]
    fn sqlite_names_come_from_the_message() {
        let err = DbError::new(
            DbErrorKind::UniqueViolation,
            "UNIQUE constraint failed: users.email",
        );
        assert!(
            err.into_store_error(Dialect::Sqlite)
                .is_conflict_on("uq_users_email")
        );
        let err = DbError::new(
            DbErrorKind::CheckViolation,
            "CHECK constraint failed: ck_products_stock",
        );
        assert!(
            err.into_store_error(Dialect::Sqlite)
                .is_conflict_on("ck_products_stock")
        );
    }

    #[test]
    fn unreachable_databases_are_unavailable_and_the_rest_other() {
        let down = DbError::new(DbErrorKind::Unavailable, "connection refused");
        assert!(matches!(
            down.into_store_error(Dialect::Sqlite),
            StoreError::Unavailable(_)
        ));
        let other = DbError::new(DbErrorKind::Other, "syntax error");
        assert!(matches!(
            other.into_store_error(Dialect::Sqlite),
            StoreError::Other(_)
        ));
    }
}
