//! The HTTP API: poem-openapi operations over the core services, grouped by tag.
//!
//! Request bodies are parsed into domain types at this edge; responses are built from
//! domain types. Every error leaves as a [`Problem`]. Handlers are generic over the
//! [`Store`], so the same code serves every database.

mod account;
pub mod document;
mod fields;
mod health;
mod idempotency;
mod jobs;
mod login;
mod model;
mod orders;
mod products;
mod sessions;
mod users;
pub mod validation;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use mercado_core::Clock;
use mercado_core::delivery::TransportError;
use mercado_core::domain::{Page, User};
use mercado_core::ports::Store;
use mercado_core::service::{Commands, Queries};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{OpenApi, OpenApiService, Tags};

pub use self::idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, hash_request};
use crate::auth::{BearerAuth, TokenCodec};
use crate::problem::{FieldError, Problem};

/// Everything the handlers share.
pub struct State<S> {
    /// The write side.
    pub commands: Commands<S>,
    /// The read side.
    pub queries: Queries<S>,
    /// Signs and verifies tokens.
    pub tokens: Arc<TokenCodec>,
    /// The clock tokens are issued by.
    pub clock: Arc<dyn Clock>,
    /// The largest CSV upload accepted.
    pub max_import_bytes: usize,
    /// Whether the message broker answers, when events go through one: readiness
    /// reports it.
    pub broker: Option<BrokerCheck>,
    /// The worker this process runs, if any: readiness and metrics report how it does.
    pub worker: Option<Arc<mercado_worker::Liveness>>,
}

/// What readiness and metrics ask of the broker, chosen at start (hence `dyn`: the API
/// stays generic over the store alone and names no adapter).
pub trait BrokerProbe: Send + Sync {
    /// Whether the broker answers.
    fn check(&self) -> BoxFuture<'static, Result<(), TransportError>>;

    /// Its backlog, where it can tell one (`None` when it cannot, or did not answer).
    fn backlog(&self) -> BoxFuture<'static, Option<BrokerBacklog>>;
}

/// A broker's backlog, as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerBacklog {
    /// Events not yet read by a consumer.
    pub waiting: u64,
    /// Events read and not yet settled.
    pub pending: u64,
    /// Events set aside for good.
    pub dead: u64,
}

/// The broker of this process, shared by readiness and metrics.
pub type BrokerCheck = Arc<dyn BrokerProbe>;

impl<S> std::fmt::Debug for State<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl<S: Store> State<S> {
    /// The user a verified token acts for: its session live (or the token not revoked),
    /// existing and active.
    async fn user(&self, auth: &BearerAuth) -> Result<User, Problem> {
        let token = &auth.0;
        Ok(self
            .queries
            .resolve_actor(token.user_id, token.token_id, token.session)
            .await?)
    }
}

#[derive(Tags)]
enum ApiTags {
    /// Liveness and readiness.
    Health,
    /// Access tokens.
    Login,
    /// Accounts.
    Users,
    /// The catalogue.
    Products,
    /// Orders and stock.
    Orders,
    /// Background work: product imports and their progress.
    Jobs,
}

/// The whole API over one store, ready to serve.
pub fn service<S: Store>(state: Arc<State<S>>) -> OpenApiService<impl OpenApi, ()> {
    let apis = (
        health::HealthApi(state.clone()),
        login::LoginApi(state.clone()),
        sessions::SessionsApi(state.clone()),
        account::AccountApi(state.clone()),
        users::UsersApi(state.clone()),
        products::ProductsApi(state.clone()),
        jobs::JobsApi(state.clone()),
        orders::OrdersApi(state),
    );
    OpenApiService::new(apis, "Mercado", env!("CARGO_PKG_VERSION")).description(
        "Users, products and orders on SQLite, PostgreSQL, MySQL/MariaDB and SQL Server. \
             Errors are RFC 9457 problem details (`application/problem+json`). Money is a decimal \
             string with exactly two fraction digits. Times are RFC 3339 in UTC.",
    )
}

fn default_limit() -> i64 {
    Page::DEFAULT_LIMIT
}

/// Checks paging parameters (poem-openapi has already checked their ranges).
fn page(limit: i64, offset: i64) -> Result<Page, Problem> {
    Page::new(limit, offset).map_err(|e| {
        Problem::invalid(
            if e == mercado_core::domain::PageError::Limit {
                "limit"
            } else {
                "offset"
            },
            e,
        )
    })
}

/// Parses each field into its domain type, then answers 422 listing every invalid field,
/// or binds each name to its parsed value.
macro_rules! parse_fields {
    ($($name:ident = $field:literal => $parse:expr),+ $(,)?) => {
        let mut errors: Vec<$crate::problem::FieldError> = Vec::new();
        $(
            let $name = match $parse {
                Ok(value) => Some(value),
                Err(e) => {
                    errors.push($crate::problem::FieldError { field: $field.into(), message: e.to_string() });
                    None
                }
            };
        )+
        if !errors.is_empty() {
            return Err($crate::problem::Problem::validation(errors));
        }
        $(let $name = $name.expect("no error was recorded for this field");)+
    };
}
pub(crate) use parse_fields;

/// A PATCH field that may be cleared: absent → `None`, `null` → `Some(None)`.
fn clearable<F, T, E: ToString>(
    field: &MaybeUndefined<F>,
    parse: impl FnOnce(&F) -> Result<T, E>,
) -> Result<Option<Option<T>>, String> {
    match field {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(v) => parse(v).map(|t| Some(Some(t))).map_err(|e| e.to_string()),
    }
}

/// A PATCH field that may not be `null`: absent → `None`.
fn settable<F, T, E: ToString>(
    field: &MaybeUndefined<F>,
    parse: impl FnOnce(&F) -> Result<T, E>,
) -> Result<Option<T>, String> {
    match field {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err("must not be null".to_owned()),
        MaybeUndefined::Value(v) => parse(v).map(Some).map_err(|e| e.to_string()),
    }
}

/// Field errors for problems raised outside `parse_fields!`.
#[allow(clippy::needless_pass_by_value)] // Messages come as `String`s and `&str`s alike.
fn field_error(field: &str, message: impl ToString) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_string(),
    }
}
