//! Typed identifiers: UUID v7, made by the application, never by the database.

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (version 7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an id read from storage or from a request.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a user.
    UserId
);
id_type!(
    /// Identifies a product.
    ProductId
);
id_type!(
    /// Identifies an order.
    OrderId
);
id_type!(
    /// Identifies an access token (its `jti` claim).
    TokenId
);
id_type!(
    /// Identifies a background job.
    JobId
);
id_type!(
    /// Identifies a session (the `sid` claim of its access tokens).
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_version_7_and_increase() {
        let a = OrderId::generate();
        let b = OrderId::generate();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "v7 ids made later sort later");
    }

    #[test]
    fn an_id_displays_as_its_hyphenated_uuid() {
        let raw = Uuid::now_v7();
        assert_eq!(UserId::from_uuid(raw).to_string(), raw.to_string());
    }
}
