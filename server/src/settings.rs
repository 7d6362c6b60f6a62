//! Typed settings from the environment (and a `.env` file, which `main` loads first).
//! Every variable is listed, with its default, in `.env.example`.

use std::env;
use std::net::SocketAddr;

use secrecy::{ExposeSecret, SecretString};

/// Why a setting is unusable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub var: &'static str,
    /// What is wrong.
    pub message: String,
}

/// All settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: the scheme picks the adapter.
    pub database_url: String,
    /// `MERCADO_BIND`: the listen address.
    pub bind: SocketAddr,
    /// `MERCADO_JWT_SECRET`; `None` makes a random one at start.
    pub jwt_secret: Option<SecretString>,
    /// `MERCADO_TOKEN_TTL_SECONDS`.
    pub token_ttl_seconds: i64,
    /// `MERCADO_FIRST_SUPERUSER_EMAIL` and `MERCADO_FIRST_SUPERUSER_PASSWORD`, both set.
    pub first_superuser: Option<(String, SecretString)>,
    /// `MERCADO_PASSWORD_ROUNDS`: pbkdf2-sha256 rounds for new hashes.
    pub password_rounds: u32,
    /// `MERCADO_HASH_CONCURRENCY`: hashes computed at once (default: the number of cores).
    pub hash_concurrency: usize,
    /// `MERCADO_LOGIN_MAX_FAILURES`: failed logins per email within the window before 429.
    pub login_max_failures: i64,
    /// `MERCADO_LOGIN_WINDOW_SECONDS`: the window failed logins are counted in.
    pub login_window_seconds: i64,
    /// `MERCADO_LOW_STOCK_THRESHOLD`: stock below this records `ProductStockLow`.
    pub low_stock_threshold: i64,
    /// `MERCADO_MAX_BODY_BYTES`: the largest JSON or form request body.
    pub max_body_bytes: usize,
    /// `MERCADO_DB_MAX_CONNECTIONS`: connections per pool.
    pub db_max_connections: u32,
    /// `MERCADO_METRICS`: whether `GET /metrics` serves Prometheus metrics.
    pub metrics: bool,
    /// `MERCADO_RUN_WORKER`: whether `serve` also delivers events in-process.
    pub run_worker: bool,
    /// `MERCADO_AMQP_URL`: deliver events through this RabbitMQ broker; unset, through
    /// the database's outbox alone.
    pub amqp_url: Option<SecretString>,
    /// `MERCADO_SMTP_URL`: send mail over SMTP; unset writes `.eml` files instead.
    pub smtp_url: Option<SecretString>,
    /// `MERCADO_MAIL_DIR`: where `.eml` files go without SMTP.
    pub mail_dir: std::path::PathBuf,
    /// `MERCADO_MAIL_FROM`: the sender of every mail.
    pub mail_from: String,
    /// `MERCADO_WORKER_POLL_MS`: how long an idle worker waits before looking again.
    pub worker_poll_ms: u64,
    /// `MERCADO_WORKER_LEASE_SECONDS`: how long a worker's claim on an event or a job
    /// holds unless renewed; a dead worker's work moves on after this.
    pub worker_lease_seconds: i64,
    /// `MERCADO_MAX_IMPORT_BYTES`: the largest CSV upload.
    pub max_import_bytes: usize,
    /// `MERCADO_HEADER_TIMEOUT_SECONDS`: the time a client has to send a request's
    /// headers, from when it connected or got its previous response: slow senders and
    /// idle kept-alive connections are closed after it.
    pub header_timeout_seconds: u64,
    /// `MERCADO_MAX_CONNECTIONS`: client connections open at once; more wait to be
    /// accepted. Keep it well under the open-file limit (`ulimit -n`).
    pub max_connections: usize,
}

/// The shortest `MERCADO_JWT_SECRET` accepted: HS256 is as strong as its key.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Settings {
    /// The defaults, on `database_url`. Tests start from here.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            jwt_secret: None,
            token_ttl_seconds: 1800,
            first_superuser: None,
            password_rounds: mercado_core::password::PasswordHasher::DEFAULT_ROUNDS,
            hash_concurrency: std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get),
            login_max_failures: 5,
            login_window_seconds: 300,
            low_stock_threshold: 10,
            max_body_bytes: 1024 * 1024,
            db_max_connections: 16,
            metrics: true,
            run_worker: true,
            amqp_url: None,
            smtp_url: None,
            mail_dir: "mail".into(),
            mail_from: "Mercado <no-reply@mercado.localhost>".to_owned(),
            worker_poll_ms: 500,
            max_import_bytes: 64 * 1024 * 1024,
            worker_lease_seconds: 120,
            header_timeout_seconds: 10,
            max_connections: 1024,
        }
    }

    /// Reads the environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut s = Self::with_database(
            var("DATABASE_URL").unwrap_or_else(|| "sqlite://mercado.db?mode=rwc".to_owned()),
        );
        parse_into("MERCADO_BIND", &mut s.bind)?;
        s.jwt_secret = var("MERCADO_JWT_SECRET").map(SecretString::from);
        if s.jwt_secret
            .as_ref()
            .is_some_and(|secret| secret.expose_secret().len() < MIN_JWT_SECRET_BYTES)
        {
            return Err(ConfigError {
                var: "MERCADO_JWT_SECRET",
                message: format!(
                    "must be at least {MIN_JWT_SECRET_BYTES} bytes (`openssl rand -hex 32` makes one)"
                ),
            });
        }
        parse_into("MERCADO_TOKEN_TTL_SECONDS", &mut s.token_ttl_seconds)?;
        s.first_superuser = match (
            var("MERCADO_FIRST_SUPERUSER_EMAIL"),
            var("MERCADO_FIRST_SUPERUSER_PASSWORD"),
        ) {
            (Some(email), Some(password)) => Some((email, SecretString::from(password))),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError {
                    var: "MERCADO_FIRST_SUPERUSER_PASSWORD",
                    message: "must be set with MERCADO_FIRST_SUPERUSER_EMAIL".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    var: "MERCADO_FIRST_SUPERUSER_EMAIL",
                    message: "must be set with MERCADO_FIRST_SUPERUSER_PASSWORD".into(),
                });
            }
        };
        parse_into("MERCADO_PASSWORD_ROUNDS", &mut s.password_rounds)?;
        parse_into("MERCADO_HASH_CONCURRENCY", &mut s.hash_concurrency)?;
        parse_into("MERCADO_LOGIN_MAX_FAILURES", &mut s.login_max_failures)?;
        parse_into("MERCADO_LOGIN_WINDOW_SECONDS", &mut s.login_window_seconds)?;
        parse_into("MERCADO_LOW_STOCK_THRESHOLD", &mut s.low_stock_threshold)?;
        parse_into("MERCADO_MAX_BODY_BYTES", &mut s.max_body_bytes)?;
        parse_into("MERCADO_DB_MAX_CONNECTIONS", &mut s.db_max_connections)?;
        parse_into("MERCADO_RUN_WORKER", &mut s.run_worker)?;
        parse_into("MERCADO_METRICS", &mut s.metrics)?;
        s.amqp_url = var("MERCADO_AMQP_URL").map(SecretString::from);
        s.smtp_url = var("MERCADO_SMTP_URL").map(SecretString::from);
        parse_into("MERCADO_MAIL_DIR", &mut s.mail_dir)?;
        parse_into("MERCADO_MAIL_FROM", &mut s.mail_from)?;
        parse_into("MERCADO_WORKER_POLL_MS", &mut s.worker_poll_ms)?;
        parse_into("MERCADO_MAX_IMPORT_BYTES", &mut s.max_import_bytes)?;
        parse_into("MERCADO_WORKER_LEASE_SECONDS", &mut s.worker_lease_seconds)?;
        parse_into(
            "MERCADO_HEADER_TIMEOUT_SECONDS",
            &mut s.header_timeout_seconds,
        )?;
        parse_into("MERCADO_MAX_CONNECTIONS", &mut s.max_connections)?;
        if s.header_timeout_seconds == 0 || s.max_connections == 0 {
            return Err(ConfigError {
                var: "MERCADO_HEADER_TIMEOUT_SECONDS/MERCADO_MAX_CONNECTIONS",
                message: "must be positive".into(),
            });
        }
        if s.worker_lease_seconds <= 0 {
            return Err(ConfigError {
                var: "MERCADO_WORKER_LEASE_SECONDS",
                message: "must be positive".into(),
            });
        }
        if s.token_ttl_seconds <= 0 {
            return Err(ConfigError {
                var: "MERCADO_TOKEN_TTL_SECONDS",
                message: "must be positive".into(),
            });
        }
        if s.hash_concurrency == 0 || s.db_max_connections == 0 {
            return Err(ConfigError {
                var: "MERCADO_HASH_CONCURRENCY/MERCADO_DB_MAX_CONNECTIONS",
                message: "must be positive".into(),
            });
        }
        Ok(s)
    }
}

/// A variable's value; unset and empty are the same.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_into<T: std::str::FromStr>(name: &'static str, target: &mut T) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    if let Some(raw) = var(name) {
        *target = raw.trim().parse().map_err(|e: T::Err| ConfigError {
            var: name,
            message: e.to_string(),
        })?;
    }
    Ok(())
}
