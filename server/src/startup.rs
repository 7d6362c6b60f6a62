//! The composition root: opens the store `DATABASE_URL` names ([`AnyStore`]), builds the
//! services, mailer, broker and worker from the settings, and binds the server. Everything
//! after opening the store is generic over [`Store`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use mercado_core::Clock;
use mercado_core::delivery::TransportError;
use mercado_core::domain::{Email, Password};
use mercado_core::notify::Links;
use mercado_core::password::PasswordHasher;
use mercado_core::ports::Store;
use mercado_core::service::{Commands, Queries, ServiceConfig, services};
use mercado_mail::{AnyMailer, FileMailer, Renderer, SmtpMailer};
use mercado_worker::{self as worker, Liveness, Transport, WorkerHandle};
use poem::Response;
use poem::endpoint::BoxEndpoint;
use secrecy::{ExposeSecret, SecretString};

use crate::api::{self, State, document};
use crate::auth::TokenCodec;
use crate::metrics::Metrics;
use crate::routes::routes;
use crate::settings::Settings;
use crate::store::{AnyStore, with_store};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The URL's scheme names no database Mercado knows.
    #[error(
        "DATABASE_URL: unknown scheme `{0}` (expected {schemes}, or an ADO.NET connection string)",
        schemes = crate::databases::url_schemes()
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

impl AnyStore {
    /// Starts a worker delivering this store's outbox, through `broker` when given, with
    /// the mailer the settings choose.
    ///
    /// # Errors
    /// [`StartupError::Config`] for unusable mail settings.
    pub fn spawn_worker(
        &self,
        settings: &Settings,
        broker: Option<&Broker>,
        liveness: Arc<Liveness>,
    ) -> Result<WorkerHandle, StartupError> {
        let mailer = mailer(settings)?;
        let clock = settings.clock.0.clone();
        let timing = worker::Timing {
            poll: std::time::Duration::from_millis(settings.worker_poll_ms),
            lease: time::Duration::seconds(settings.worker_lease_seconds),
        };
        let links = links(settings);
        Ok(with_store!(self.clone(), s => match broker {
            Some(Broker::Amqp(broker)) => {
                let transport = Transport::Broker {
                    publisher: broker.publisher(),
                    consumer: broker.consumer(worker::BATCH),
                };
                WorkerHandle::spawn(s, transport, mailer, links, clock, timing, liveness)
            }
            Some(Broker::Redis(streams)) => {
                // A dead consumer's entries are taken over in half a lease, before its
                // events' outbox claims run out and the relay sends them again.
                let idle = std::time::Duration::from_secs(
                    u64::try_from(settings.worker_lease_seconds / 2).unwrap_or(1).max(1),
                );
                let transport = Transport::Broker {
                    publisher: streams.publisher(),
                    consumer: streams.consumer(s.clone(), clock.clone(), idle),
                };
                WorkerHandle::spawn(s, transport, mailer, links, clock, timing, liveness)
            }
            None => WorkerHandle::spawn(s, Transport::outbox(), mailer, links, clock, timing, liveness),
        }))
    }
}

/// Where mails' links lead, and how long their tokens work.
pub fn links(settings: &Settings) -> Links {
    Links::new(
        &settings.public_url,
        time::Duration::seconds(settings.reset_token_ttl_seconds),
        time::Duration::seconds(settings.verify_token_ttl_seconds),
    )
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

/// The broker events go through, if one is configured.
#[derive(Debug, Clone)]
pub enum Broker {
    /// RabbitMQ (`MERCADO_AMQP_URL`).
    Amqp(mercado_amqp::Broker),
    /// Redis Streams (`MERCADO_REDIS_URL`).
    Redis(mercado_redis::Streams),
}

impl api::BrokerProbe for Broker {
    fn check(&self) -> BoxFuture<'static, Result<(), TransportError>> {
        let broker = self.clone();
        Box::pin(async move {
            match broker {
                Self::Amqp(broker) => broker.check().await,
                Self::Redis(streams) => streams.check().await,
            }
        })
    }

    fn backlog(&self) -> BoxFuture<'static, Option<api::BrokerBacklog>> {
        let broker = self.clone();
        Box::pin(async move {
            let Self::Redis(streams) = broker else {
                return None;
            };
            let backlog = streams
                .backlog()
                .await
                .inspect_err(|error| tracing::warn!(%error, "metrics: Redis backlog unread"))
                .ok()?;
            Some(api::BrokerBacklog {
                waiting: backlog.waiting,
                pending: backlog.pending,
                dead: backlog.dead,
            })
        })
    }
}

/// The broker `MERCADO_AMQP_URL` or `MERCADO_REDIS_URL` names, if either is set; make it
/// once per process, so readiness and the worker share it. Nothing connects yet: the
/// server starts with the broker down, and events wait in the outbox until it is back.
///
/// # Errors
/// [`StartupError::Config`] when the URL is unusable, or both are set.
pub fn broker(settings: &Settings) -> Result<Option<Broker>, StartupError> {
    let config = |e: &dyn std::fmt::Display| StartupError::Config(e.to_string());
    match (&settings.amqp_url, &settings.redis_url) {
        (Some(_), Some(_)) => Err(StartupError::Config(
            "MERCADO_AMQP_URL and MERCADO_REDIS_URL are both set: events go through one broker"
                .into(),
        )),
        (Some(url), None) => mercado_amqp::Broker::new(url.expose_secret())
            .map(|b| Some(Broker::Amqp(b)))
            .map_err(|e| config(&e)),
        (None, Some(url)) => {
            mercado_redis::Streams::new(url.expose_secret(), &settings.redis_prefix)
                .map(|s| Some(Broker::Redis(s)))
                .map_err(|e| config(&e))
        }
        (None, None) => Ok(None),
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
        let addr = self.local_addr;
        tracing::info!(%addr, "listening on http://{addr}, docs at http://{addr}/docs");
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
    broker: Option<&Broker>,
    liveness: Option<Arc<Liveness>>,
) -> Result<BoxEndpoint<'static, Response>, StartupError> {
    let state = state(store, settings, broker, liveness)?;
    if let Some((email, password)) = &settings.first_superuser {
        let email = Email::parse(email).map_err(|e| {
            StartupError::Config(format!("MERCADO_FIRST_SUPERUSER_EMAIL: {email:?} {e}"))
        })?;
        let password = Password::parse(password.expose_secret())
            .map_err(|e| StartupError::Config(format!("MERCADO_FIRST_SUPERUSER_PASSWORD: {e}")))?;
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

/// The command and query services over `store`, as the settings configure them.
fn services_of<S: Store>(
    store: S,
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<(Commands<S>, Queries<S>), StartupError> {
    let hasher =
        PasswordHasher::new(settings.password_rounds, settings.hash_concurrency).map_err(|e| {
            let rounds = settings.password_rounds;
            StartupError::Config(format!(
                "MERCADO_PASSWORD_ROUNDS: \"{rounds}\" is too few: {e}"
            ))
        })?;
    let config = ServiceConfig {
        login_max_failures: settings.login_max_failures,
        login_window: time::Duration::seconds(settings.login_window_seconds),
        low_stock_threshold: settings.low_stock_threshold,
        refresh_ttl: time::Duration::seconds(settings.refresh_ttl_seconds),
        require_verified_email: settings.require_verified_email,
    };
    Ok(services(store, hasher, clock, config))
}

/// The handlers' state over one store; readiness also checks `broker` and reports
/// `worker` when given.
///
/// # Errors
/// [`StartupError::Config`] for unusable password settings.
pub fn state<S: Store>(
    store: S,
    settings: &Settings,
    broker: Option<&Broker>,
    worker: Option<Arc<Liveness>>,
) -> Result<Arc<State<S>>, StartupError> {
    let clock = settings.clock.0.clone();
    let (commands, queries) = services_of(store, settings, clock.clone())?;
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
        broker: broker
            .cloned()
            .map(|broker| -> api::BrokerCheck { Arc::new(broker) }),
        worker,
    }))
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
    Ok(with_store!(store, s => {
        let (commands, _) = services_of(s.clone(), settings, settings.clock.0.clone())?;
        commands.ensure_superuser(email, password).await?
    }))
}
