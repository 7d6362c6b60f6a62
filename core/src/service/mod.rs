//! The application services, split into commands (which change state) and queries
//! (which only read). Both check who may do what, so embedders get the same rules as
//! the HTTP server.

mod commands;
mod queries;

use std::sync::Arc;

use time::Duration;

pub use commands::{
    ChangeOwnProfile, Commands, CreateProductError, DeleteProductError, EndSessionError,
    ImportError, KeyedRequest, LogInError, LogoutError, OneTimeTokenError, PlaceOrderCommandError,
    RecoveryError, RefreshError, RequestVerificationError, SessionGrant, SignUpError,
    UpdateOwnProfileError, UpdateProductError, UpdateUserError,
};
pub use queries::{AccessError, Queries, ResolveActorError};

use crate::Clock;
use crate::password::PasswordHasher;

/// Settings the services obey.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Failed logins for one email within `login_window` before further attempts get
    /// [`LogInError::Throttled`].
    pub login_max_failures: i64,
    /// The window failed logins are counted in.
    pub login_window: Duration,
    /// Stock below this records `ProductStockLow`.
    pub low_stock_threshold: i64,
    /// How long a refresh token lives, and so an idle session.
    pub refresh_ttl: Duration,
    /// Whether only users with a verified address may place orders.
    pub require_verified_email: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            login_max_failures: 5,
            login_window: Duration::minutes(5),
            low_stock_threshold: 10,
            refresh_ttl: Duration::days(14),
            require_verified_email: false,
        }
    }
}

/// What commands and queries share.
struct Context<S> {
    store: S,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
}

/// Builds the command and query services over one store.
pub fn services<S: crate::ports::Store>(
    store: S,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
) -> (Commands<S>, Queries<S>) {
    let context = Arc::new(Context {
        store,
        hasher,
        clock,
        config,
    });
    (Commands::new(context.clone()), Queries::new(context))
}

/// A superusers-only operation refused: each command's `Forbidden`.
macro_rules! forbidden_from_superuser_required {
    ($($error:ty),+) => {$(
        impl From<crate::domain::SuperuserRequired> for $error {
            fn from(_: crate::domain::SuperuserRequired) -> Self {
                Self::Forbidden
            }
        }
    )+};
}

forbidden_from_superuser_required!(
    commands::UpdateUserError,
    commands::CreateProductError,
    commands::UpdateProductError,
    queries::AccessError
);
