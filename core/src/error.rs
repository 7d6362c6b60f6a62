//! The error every repository port shares.

/// Any error, as a cause kept inside another.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a store can report, whatever the database behind it.
///
/// Constraint names (`uq_users_email`, `ck_products_stock`) are the vocabulary shared by
/// every dialect's migrations, so services can map a violation without knowing the
/// database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique, check or foreign-key constraint rejected the change.
    #[error("constraint `{constraint}` violated")]
    Conflict {
        /// The constraint's name as the migrations declare it.
        constraint: String,
    },
    /// The database cannot be reached, or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A stored value does not parse as the domain type it must be (corrupt data).
    #[error("stored data is invalid: {0}")]
    Corrupt(#[source] BoxError),
    /// Anything else the database reported; a bug or an operational problem.
    #[error("database error: {0}")]
    Other(#[source] BoxError),
}

impl StoreError {
    /// Whether this error is a violation of the named constraint.
    pub fn is_conflict_on(&self, name: &str) -> bool {
        matches!(self, Self::Conflict { constraint } if constraint == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_is_recognised_by_its_constraint_name_only() {
        let err = StoreError::Conflict {
            constraint: "uq_users_email".into(),
        };
        assert!(err.is_conflict_on("uq_users_email"));
        assert!(!err.is_conflict_on("ck_products_stock"));
        assert!(!StoreError::Other("x".into()).is_conflict_on("uq_users_email"));
    }
}
