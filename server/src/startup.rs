//! The composition root: the one place that knows the adapters. `DATABASE_URL`'s scheme
//! picks the store among the adapters compiled in (one `match`, each arm behind its cargo
//! feature); everything after that is generic over [`Store`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use mercado_core::domain::{Email, Password};
use mercado_core::password::PasswordHasher;
use mercado_core::ports::{Store, UserRepository};
use mercado_core::service::{ServiceConfig, services};
use mercado_core::{Clock, SystemClock};
use mercado_mail::{AnyMailer, FileMailer, Renderer, SmtpMailer};
use mercado_sql::SqlStore;
use poem::endpoint::BoxEndpoint;
use poem::endpoint::make_sync;
use poem::middleware::CatchPanic;
use poem::web::{Html, Redirect};
use poem::{EndpointExt, IntoResponse, Response, Route, get};
use secrecy::{ExposeSecret, SecretString};

use crate::api::document;
use crate::api::validation::Operations;
use crate::api::{self, State};
use crate::auth::TokenCodec;
use crate::metrics::Metrics;
use crate::middleware::Edge;
use crate::problem::Problem;
use crate::settings::Settings;
use mercado_worker::{self as worker, Liveness, Transport, WorkerHandle};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The URL's scheme names no database Mercado knows.
    #[error(
        "DATABASE_URL: unknown scheme `{0}` (expected sqlite, postgres, mysql, mariadb, mssql or sqlserver)"
    )]
    UnknownScheme(String),
    /// The URL names a database whose adapter this build does not include.
    #[error(
        "DATABASE_URL: `{scheme}` needs the `{feature}` feature (cargo run -p mercado-server --features {feature})"
    )]
    FeatureMissing {
        /// The URL's scheme.
        scheme: String,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// The database could not be opened.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] mercado_core::BoxError),
    /// Migrating failed.
    #[error(transparent)]
    Migrate(#[from] mercado_sql::MigrationError),
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// The store failed during start-up work.
    #[error(transparent)]
    Store(#[from] mercado_core::StoreError),
    /// The address could not be bound.
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
}

/// A store of whichever database the URL named.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(SqlStore<mercado_sqlx::sqlite::SqliteExecutor>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(SqlStore<mercado_sqlx::postgres::PgExecutor>),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    MySql(SqlStore<mercado_sqlx::mysql::MySqlExecutor>),
    /// SQL Server.
    #[cfg(feature = "mssql")]
    MsSql(SqlStore<mercado_tiberius::MsExecutor>),
}

/// Runs `$body` with `$s` bound to the concrete store inside an [`AnyStore`].
macro_rules! with_store {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            #[cfg(feature = "sqlite")]
            AnyStore::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $body,
            #[cfg(feature = "mysql")]
            AnyStore::MySql($s) => $body,
            #[cfg(feature = "mssql")]
            AnyStore::MsSql($s) => $body,
        }
    };
}

/// The cargo feature that compiles in the adapter for a URL scheme.
fn feature_for(scheme: &str) -> Option<&'static str> {
    match scheme {
        "sqlite" => Some("sqlite"),
        "postgres" | "postgresql" => Some("postgres"),
        "mysql" | "mariadb" => Some("mysql"),
        "mssql" | "sqlserver" | "jdbc" | "ado.net" => Some("mssql"),
        _ => None,
    }
}

/// The scheme of a database URL, lower-cased. An ADO.NET connection string
/// (`Server=tcp:host,1433;Database=…`) has none and names SQL Server: `ado.net` here.
fn scheme_of(url: &str) -> String {
    let url = url.trim();
    let scheme = url.split(':').next().unwrap_or(url).to_ascii_lowercase();
    if feature_for(&scheme).is_none() && !url.contains("://") && url.contains('=') {
        "ado.net".to_owned()
    } else {
        scheme
    }
}

impl AnyStore {
    /// Opens the store `settings.database_url` names (without migrating).
    ///
    /// # Errors
    /// [`StartupError`] for an unknown or not compiled-in scheme, or a failed connection.
    pub async fn open(settings: &Settings) -> Result<Self, StartupError> {
        let url = settings.database_url.as_str();
        let scheme = scheme_of(url);
        let feature =
            feature_for(&scheme).ok_or_else(|| StartupError::UnknownScheme(scheme.clone()))?;
        match feature {
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                let exec = mercado_sqlx::sqlite::connect(url, settings.db_max_connections)
                    .await
                    .map_err(|e| StartupError::Connect(e.into()))?;
                Ok(Self::Sqlite(SqlStore::new(exec)))
            }
            #[cfg(feature = "postgres")]
            "postgres" => {
                let exec = mercado_sqlx::postgres::connect(url, settings.db_max_connections)
                    .await
                    .map_err(|e| StartupError::Connect(e.into()))?;
                Ok(Self::Postgres(SqlStore::new(exec)))
            }
            #[cfg(feature = "mysql")]
            "mysql" => {
                let exec = mercado_sqlx::mysql::connect(url, settings.db_max_connections)
                    .await
                    .map_err(|e| StartupError::Connect(e.into()))?;
                Ok(Self::MySql(SqlStore::new(exec)))
            }
            #[cfg(feature = "mssql")]
            "mssql" => {
                let exec = mercado_tiberius::connect(url, settings.db_max_connections)
                    .await
                    .map_err(|e| StartupError::Connect(e.into()))?;
                Ok(Self::MsSql(SqlStore::new(exec)))
            }
            _ => Err(StartupError::FeatureMissing { scheme, feature }),
        }
    }

    /// Applies pending migrations; returns how many.
    ///
    /// # Errors
    /// [`StartupError::Migrate`].
    pub async fn migrate(&self) -> Result<usize, StartupError> {
        Ok(with_store!(self, s => mercado_sql::migrate(s.executor()).await?))
    }

    /// Starts a worker delivering this store's outbox, through `broker` when given, with
    /// the mailer the settings choose.
    ///
    /// # Errors
    /// [`StartupError::Config`] for unusable mail settings.
    pub fn spawn_worker(
        &self,
        settings: &Settings,
        broker: Option<&mercado_amqp::Broker>,
        liveness: Arc<Liveness>,
    ) -> Result<WorkerHandle, StartupError> {
        let mailer = mailer(settings)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let timing = worker::Timing {
            poll: std::time::Duration::from_millis(settings.worker_poll_ms),
            lease: time::Duration::seconds(settings.worker_lease_seconds),
        };
        let transport = match broker {
            Some(broker) => Transport::Broker {
                publisher: broker.publisher(),
                consumer: broker.consumer(worker::BATCH),
            },
            None => Transport::Outbox,
        };
        Ok(
            with_store!(self.clone(), s => WorkerHandle::spawn(s, transport, mailer, clock, timing, liveness)),
        )
    }

    /// Closes the pools.
    pub async fn close(&self) {
        with_store!(self, s => s.executor().close().await);
    }
}

/// The mailer the settings choose: SMTP when `MERCADO_SMTP_URL` is set, else `.eml`
/// files in `MERCADO_MAIL_DIR`.
///
/// # Errors
/// [`StartupError::Config`] for an unusable sender or SMTP URL.
pub fn mailer(settings: &Settings) -> Result<AnyMailer, StartupError> {
    let config = |e: &dyn std::fmt::Display| StartupError::Config(e.to_string());
    let renderer = Renderer::new(&settings.mail_from).map_err(|e| config(&e))?;
    Ok(match &settings.smtp_url {
        Some(url) => {
            AnyMailer::Smtp(SmtpMailer::new(url.expose_secret(), renderer).map_err(|e| config(&e))?)
        }
        None => AnyMailer::File(FileMailer::new(&settings.mail_dir, renderer)),
    })
}

/// The broker `MERCADO_AMQP_URL` names, if set; make it once per process, so readiness
/// and the worker share its one connection. Nothing connects yet: the server starts with
/// the broker down, and events wait in the outbox until it is back.
///
/// # Errors
/// [`StartupError::Config`] when the URL is not an AMQP URL.
pub fn broker(settings: &Settings) -> Result<Option<mercado_amqp::Broker>, StartupError> {
    settings
        .amqp_url
        .as_ref()
        .map(|url| mercado_amqp::Broker::new(url.expose_secret()))
        .transpose()
        .map_err(|e| StartupError::Config(e.to_string()))
}

/// The outbox of whichever database, for workers and tests that hold an [`AnyStore`].
impl mercado_core::ports::OutboxRepository for AnyStore {
    async fn claim_events(
        &self,
        claim: &mercado_core::ports::Claim,
    ) -> Result<Vec<mercado_core::ports::ClaimedEvent>, mercado_core::StoreError> {
        with_store!(self, s => s.claim_events(claim).await)
    }

    async fn complete_event(
        &self,
        id: uuid::Uuid,
        claimer: uuid::Uuid,
        now: time::OffsetDateTime,
    ) -> Result<bool, mercado_core::StoreError> {
        with_store!(self, s => s.complete_event(id, claimer, now).await)
    }

    async fn retry_event(
        &self,
        id: uuid::Uuid,
        claimer: uuid::Uuid,
        retry_at: time::OffsetDateTime,
        error: &str,
    ) -> Result<bool, mercado_core::StoreError> {
        with_store!(self, s => s.retry_event(id, claimer, retry_at, error).await)
    }
}

/// Users of whichever database: what the [`mercado_core::notify::Notifier`] reads, for
/// embedders and tests that hold an [`AnyStore`].
impl UserRepository for AnyStore {
    async fn insert_user(
        &self,
        user: &mercado_core::domain::User,
        events: &[mercado_core::events::Event],
    ) -> Result<(), mercado_core::StoreError> {
        with_store!(self, s => s.insert_user(user, events).await)
    }

    async fn user_by_id(
        &self,
        id: mercado_core::domain::UserId,
    ) -> Result<Option<mercado_core::domain::User>, mercado_core::StoreError> {
        with_store!(self, s => s.user_by_id(id).await)
    }

    async fn user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<mercado_core::domain::User>, mercado_core::StoreError> {
        with_store!(self, s => s.user_by_email(email).await)
    }

    async fn update_user(
        &self,
        id: mercado_core::domain::UserId,
        patch: &mercado_core::domain::UserPatch,
        now: time::OffsetDateTime,
    ) -> Result<Option<mercado_core::domain::User>, mercado_core::StoreError> {
        with_store!(self, s => s.update_user(id, patch, now).await)
    }

    async fn set_password_hash(
        &self,
        id: mercado_core::domain::UserId,
        hash: &mercado_core::password::PasswordHash,
        now: time::OffsetDateTime,
    ) -> Result<(), mercado_core::StoreError> {
        with_store!(self, s => s.set_password_hash(id, hash, now).await)
    }

    async fn list_users(
        &self,
        page: mercado_core::domain::Page,
    ) -> Result<mercado_core::domain::Paged<mercado_core::domain::User>, mercado_core::StoreError>
    {
        with_store!(self, s => s.list_users(page).await)
    }

    async fn active_superusers(
        &self,
    ) -> Result<Vec<mercado_core::domain::User>, mercado_core::StoreError> {
        with_store!(self, s => s.active_superusers().await)
    }
}

/// Which mails went out, on whichever database.
impl mercado_core::ports::MailLog for AnyStore {
    async fn was_mailed(
        &self,
        event: uuid::Uuid,
        user: mercado_core::domain::UserId,
    ) -> Result<bool, mercado_core::StoreError> {
        with_store!(self, s => s.was_mailed(event, user).await)
    }

    async fn record_mail(
        &self,
        event: uuid::Uuid,
        user: mercado_core::domain::UserId,
        at: time::OffsetDateTime,
    ) -> Result<(), mercado_core::StoreError> {
        with_store!(self, s => s.record_mail(event, user, at).await)
    }
}

/// A built server, bound and ready to run.
pub struct App {
    listener: tokio::net::TcpListener,
    limits: crate::http::Limits,
    endpoint: BoxEndpoint<'static, Response>,
    store: AnyStore,
    local_addr: SocketAddr,
    worker: Option<WorkerHandle>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens and migrates the database, creates the first superuser if asked, and binds
    /// the listener (port 0 picks a free port, as tests do).
    ///
    /// # Errors
    /// [`StartupError`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let store = AnyStore::open(&settings).await?;
        store.migrate().await?;
        let broker = broker(&settings)?;
        let liveness = settings.run_worker.then(|| liveness(&settings));
        let endpoint = with_store!(store.clone(), s => assemble(s, &settings, broker.as_ref(), liveness.clone()).await?);
        let listener = tokio::net::TcpListener::bind(settings.bind).await?;
        let worker = match liveness {
            Some(liveness) => Some(store.spawn_worker(&settings, broker.as_ref(), liveness)?),
            None => None,
        };
        let local_addr = listener.local_addr()?;
        let limits = crate::http::Limits {
            header_timeout: std::time::Duration::from_secs(settings.header_timeout_seconds),
            max_connections: settings.max_connections,
            grace: std::time::Duration::from_secs(30),
        };
        Ok(Self {
            listener,
            limits,
            endpoint,
            store,
            local_addr,
            worker,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (up to 30 s)
    /// and closes the database pools.
    ///
    /// # Errors
    /// When the server fails to accept connections.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr, "listening; docs at /docs");
        let result = crate::http::serve(self.listener, self.endpoint, self.limits, shutdown).await;
        if let Some(worker) = self.worker {
            worker.stop().await;
        }
        self.store.close().await;
        tracing::info!("stopped");
        result
    }
}

/// A worker's liveness: a loop is stuck when silent for longer than a lease, since its
/// claims lapse then.
pub fn liveness(settings: &Settings) -> Arc<Liveness> {
    let lease = u64::try_from(settings.worker_lease_seconds).unwrap_or(u64::MAX);
    Liveness::new(std::time::Duration::from_secs(lease))
}

/// Builds the services and routes over one concrete store; readiness and metrics report
/// the worker's `liveness` when this process runs one.
async fn assemble<S: Store>(
    store: S,
    settings: &Settings,
    broker: Option<&mercado_amqp::Broker>,
    liveness: Option<Arc<Liveness>>,
) -> Result<BoxEndpoint<'static, Response>, StartupError> {
    let state = state(store, settings, broker, liveness)?;
    if let Some((email, password)) = &settings.first_superuser {
        let email = Email::parse(email)
            .map_err(|e| StartupError::Config(format!("MERCADO_FIRST_SUPERUSER_EMAIL {e}")))?;
        let password = Password::parse(password.expose_secret())
            .map_err(|e| StartupError::Config(format!("MERCADO_FIRST_SUPERUSER_PASSWORD {e}")))?;
        if state
            .commands
            .ensure_superuser(email.clone(), password)
            .await?
        {
            tracing::info!(%email, "first superuser created");
        }
    }
    let metrics = settings.metrics.then(|| Arc::new(Metrics::default()));
    Ok(routes(state, settings.max_body_bytes, metrics))
}

/// The handlers' state over one store; readiness also checks `broker` and reports
/// `worker` when given.
///
/// # Errors
/// [`StartupError::Config`] for unusable password settings.
pub fn state<S: Store>(
    store: S,
    settings: &Settings,
    broker: Option<&mercado_amqp::Broker>,
    worker: Option<Arc<Liveness>>,
) -> Result<Arc<State<S>>, StartupError> {
    let hasher = PasswordHasher::new(settings.password_rounds, settings.hash_concurrency)
        .map_err(|e| StartupError::Config(format!("MERCADO_PASSWORD_ROUNDS {e}")))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = ServiceConfig {
        login_max_failures: settings.login_max_failures,
        login_window: time::Duration::seconds(settings.login_window_seconds),
        low_stock_threshold: settings.low_stock_threshold,
    };
    let (commands, queries) = services(store, hasher, clock.clone(), config);
    let secret = settings.jwt_secret.clone().unwrap_or_else(|| {
        tracing::warn!(
            "MERCADO_JWT_SECRET is not set: using a random secret, so every token dies with this process \
             and replicas reject each other's tokens. Set a secret of 32 bytes or more."
        );
        let bytes: [u8; 32] = rand::random();
        let hex = bytes.iter().fold(String::with_capacity(64), |mut hex, b| {
            use std::fmt::Write as _;
            // Writing into a String cannot fail.
            let _ = write!(hex, "{b:02x}");
            hex
        });
        SecretString::from(hex)
    });
    let tokens = Arc::new(TokenCodec::new(
        &secret,
        time::Duration::seconds(settings.token_ttl_seconds),
    ));
    Ok(Arc::new(State {
        commands,
        queries,
        tokens,
        clock,
        max_import_bytes: settings.max_import_bytes,
        broker: broker.cloned().map(|broker| -> api::BrokerCheck {
            Arc::new(move || {
                let broker = broker.clone();
                Box::pin(async move { broker.check().await })
            })
        }),
        worker,
    }))
}

fn routes<S: Store>(
    state: Arc<State<S>>,
    max_body_bytes: usize,
    metrics: Option<Arc<Metrics>>,
) -> BoxEndpoint<'static, Response> {
    let tokens = state.tokens.clone();
    let edge_tokens = tokens.clone();
    let queries = state.queries.clone();
    let worker = state.worker.clone();
    let api = api::service(state);
    let generated = api.spec();
    let document = document::complete(&generated);
    let operations = Arc::new(Operations::from_document(&document));
    // Swagger UI embeds the document; give it the completed one.
    let docs_html = api.swagger_ui_html().replacen(&generated, &document, 1);
    let spec = make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .body(document.clone())
    });
    let mut route = Route::new();
    if let Some(metrics) = &metrics {
        let metrics = metrics.clone();
        route = route.at(
            "/metrics",
            get(poem::endpoint::make(move |_| {
                let (metrics, queries, worker) = (metrics.clone(), queries.clone(), worker.clone());
                async move {
                    let store = queries
                        .gauges()
                        .await
                        .inspect_err(|error| tracing::warn!(%error, "metrics: store gauges unread"))
                        .ok();
                    Response::builder()
                        .content_type(crate::metrics::CONTENT_TYPE)
                        .body(metrics.render(store, queries.hashes_in_flight(), worker.as_deref()))
                }
            })),
        );
    }
    route
        .at("/openapi.json", get(spec))
        .at("/docs", get(make_sync(move |_| Html(docs_html.clone()))))
        .at("/docs/", get(make_sync(|_| Redirect::permanent("/docs"))))
        .nest("/", api)
        .data(tokens)
        .with(CatchPanic::new().with_handler(|_| {
            tracing::error!("a handler panicked");
            Problem::new(
                poem::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an unexpected error occurred",
            )
            .into_response()
        }))
        .with(Edge {
            max_body_bytes,
            operations,
            tokens: edge_tokens,
            metrics,
        })
        .boxed()
}

/// The OpenAPI document, without a database (an in-memory SQLite store stands in).
///
/// # Errors
/// [`StartupError`] if the stand-in store cannot be opened.
pub async fn openapi_json() -> Result<String, StartupError> {
    let mut settings = Settings::with_database("sqlite::memory:");
    // No token is ever issued from this state; a fixed secret only avoids the warning.
    settings.jwt_secret = Some(SecretString::from("unused: the document needs no tokens"));
    let store = AnyStore::open(&settings).await?;
    let spec = with_store!(store, s => {
        let state = state(s.clone(), &settings, None, None)?;
        let spec = document::complete(&api::service(state).spec());
        s.executor().close().await;
        spec
    });
    Ok(spec)
}

/// Creates an active superuser unless the email is taken; returns whether it did.
///
/// # Errors
/// [`StartupError`] when the store fails.
pub async fn create_superuser(
    store: &AnyStore,
    settings: &Settings,
    email: Email,
    password: Password,
) -> Result<bool, StartupError> {
    Ok(
        with_store!(store, s => state(s.clone(), settings, None, None)?.commands.ensure_superuser(email, password).await?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_scheme_picks_the_adapter_feature() {
        let cases = [
            ("sqlite://mercado.db?mode=rwc", Some("sqlite")),
            ("sqlite::memory:", Some("sqlite")),
            ("sqlite:mercado.db?mode=rwc", Some("sqlite")),
            ("PostgreSQL://u@h/db", Some("postgres")),
            ("mariadb://root@h/db", Some("mysql")),
            ("mssql://sa:x@h/db?encrypt=true", Some("mssql")),
            ("sqlserver://sa:x@h/db", Some("mssql")),
            ("jdbc:sqlserver://h:1433;databaseName=m", Some("mssql")),
            (
                "Server=tcp:h,1433;Database=m;User Id=sa;Password=x",
                Some("mssql"),
            ),
            ("oracle://h/db?x=y", None),
            ("mercado.db", None),
        ];
        for (url, feature) in cases {
            assert_eq!(feature_for(&scheme_of(url)), feature, "{url}");
        }
    }
}
