//! Database errors as executors report them, and their mapping to [`StoreError`].

use std::sync::Arc;

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
    /// The database cannot be reached (connection refused or lost, pool timed out, …).
    /// Nothing was done, or a transaction was rolled back with its connection: the
    /// work may be tried again on a fresh connection.
    Unavailable,
    /// The connection was lost while a COMMIT was in flight: the transaction may or may
    /// not have committed, so it is never tried again.
    InDoubt,
    /// Anything else.
    Other,
}

/// A driver error, classified by the executor, with the driver's own error as its source.
#[derive(Debug, Clone)]
pub struct DbError {
    /// The classification.
    pub kind: DbErrorKind,
    /// The constraint name, when the driver reports it separately.
    pub constraint: Option<String>,
    /// The driver's message.
    pub message: String,
    /// The driver's error (shared: a `DbError` is cloned into retries and logs).
    pub source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {
    /// The driver's error itself (not the `Arc` around it), so callers can downcast it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl DbError {
    /// An error of `kind` with a message and no cause beneath it.
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            constraint: None,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` caused by the driver's `error`, whose text is the message.
    pub fn caused_by(
        kind: DbErrorKind,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: error.to_string(),
            source: Some(Arc::new(error)),
            ..Self::new(kind, "")
        }
    }

    /// The same error, met while committing: a lost connection leaves the outcome
    /// unknown ([`DbErrorKind::InDoubt`]).
    #[must_use]
    pub fn at_commit(mut self) -> Self {
        if self.kind == DbErrorKind::Unavailable {
            self.kind = DbErrorKind::InDoubt;
        }
        self
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
            DbErrorKind::Unavailable | DbErrorKind::InDoubt => {
                StoreError::Unavailable(Box::new(self))
            }
            DbErrorKind::Retryable | DbErrorKind::Other => StoreError::Other(Box::new(self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_lost_at_commit_is_in_doubt_and_still_unavailable() {
        let lost = DbError::new(DbErrorKind::Unavailable, "connection reset").at_commit();
        assert_eq!(lost.kind, DbErrorKind::InDoubt);
        assert!(matches!(
            lost.into_store_error(Dialect::Postgres),
            StoreError::Unavailable(_)
        ));
        let refused = DbError::new(DbErrorKind::UniqueViolation, "dup").at_commit();
        assert_eq!(refused.kind, DbErrorKind::UniqueViolation);
    }

    #[test]
    fn violations_become_conflicts_named_by_constraint() {
        let err = DbError {
            constraint: Some("uq_users_email".into()),
            ..DbError::new(DbErrorKind::UniqueViolation, "duplicate")
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
