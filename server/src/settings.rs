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

/// The clock of [`Settings::clock`].
#[derive(Clone)]
pub struct SettingsClock(pub std::sync::Arc<dyn mercado_core::Clock>);

impl Default for SettingsClock {
    fn default() -> Self {
        Self(std::sync::Arc::new(mercado_core::SystemClock))
    }
}

impl std::fmt::Debug for SettingsClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettingsClock")
    }
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
    /// `MERCADO_REFRESH_TTL_SECONDS`: how long a refresh token, and so an idle session, lives.
    pub refresh_ttl_seconds: i64,
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
    /// `MERCADO_PUBLIC_URL`: the base of the links in mails.
    pub public_url: String,
    /// `MERCADO_RESET_TOKEN_TTL_SECONDS`: how long a password reset link works.
    pub reset_token_ttl_seconds: i64,
    /// `MERCADO_VERIFY_TOKEN_TTL_SECONDS`: how long an email verification link works.
    pub verify_token_ttl_seconds: i64,
    /// `MERCADO_REQUIRE_VERIFIED_EMAIL`: whether orders need a verified address.
    pub require_verified_email: bool,
    /// `MERCADO_MAX_BODY_BYTES`: the largest JSON or form request body.
    pub max_body_bytes: usize,
    /// `MERCADO_DB_MAX_CONNECTIONS`: connections per pool.
    pub db_max_connections: u32,
    /// `MERCADO_METRICS`: whether `GET /metrics` serves Prometheus metrics.
    pub metrics: bool,
    /// `MERCADO_RUN_WORKER`: whether `serve` also delivers events in-process.
    pub run_worker: bool,
    /// Not from the environment: the clock the services and the worker read (the
    /// system's; a test or an embedder may give another).
    pub clock: SettingsClock,
    /// `MERCADO_AMQP_URL`: deliver events through this RabbitMQ broker; unset, through
    /// the database's outbox alone.
    pub amqp_url: Option<SecretString>,
    /// `MERCADO_REDIS_URL`: deliver events through Redis Streams instead (`redis://`,
    /// `rediss://`); not with `MERCADO_AMQP_URL`.
    pub redis_url: Option<SecretString>,
    /// `MERCADO_REDIS_PREFIX`: the prefix of the Redis keys (`<prefix>:events`, …).
    pub redis_prefix: String,
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
            refresh_ttl_seconds: 1_209_600,
            first_superuser: None,
            password_rounds: mercado_core::password::PasswordHasher::DEFAULT_ROUNDS,
            hash_concurrency: std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get),
            login_max_failures: 5,
            login_window_seconds: 300,
            low_stock_threshold: 10,
            public_url: "http://127.0.0.1:8000".to_owned(),
            reset_token_ttl_seconds: 3_600,
            verify_token_ttl_seconds: 172_800,
            require_verified_email: false,
            max_body_bytes: 1024 * 1024,
            db_max_connections: 16,
            metrics: true,
            run_worker: true,
            clock: SettingsClock::default(),
            amqp_url: None,
            redis_url: None,
            redis_prefix: "mercado".into(),
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
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the settings from `lookup` (a variable's value, if set).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that does not parse.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let mut s = Self::with_database(
            vars.get("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://mercado.db?mode=rwc".to_owned()),
        );
        vars.parse("MERCADO_BIND", &mut s.bind)?;
        s.jwt_secret = vars.get("MERCADO_JWT_SECRET").map(SecretString::from);
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
        vars.positive("MERCADO_TOKEN_TTL_SECONDS", &mut s.token_ttl_seconds)?;
        vars.positive("MERCADO_REFRESH_TTL_SECONDS", &mut s.refresh_ttl_seconds)?;
        s.first_superuser = match (
            vars.get("MERCADO_FIRST_SUPERUSER_EMAIL"),
            vars.get("MERCADO_FIRST_SUPERUSER_PASSWORD"),
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
        vars.parse("MERCADO_PASSWORD_ROUNDS", &mut s.password_rounds)?;
        vars.positive("MERCADO_HASH_CONCURRENCY", &mut s.hash_concurrency)?;
        vars.parse("MERCADO_LOGIN_MAX_FAILURES", &mut s.login_max_failures)?;
        vars.positive("MERCADO_LOGIN_WINDOW_SECONDS", &mut s.login_window_seconds)?;
        vars.parse("MERCADO_LOW_STOCK_THRESHOLD", &mut s.low_stock_threshold)?;
        if let Some(url) = vars.get("MERCADO_PUBLIC_URL") {
            let parsed = url::Url::parse(&url).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.query().is_none()
            });
            if parsed.is_none() {
                return Err(ConfigError {
                    var: "MERCADO_PUBLIC_URL",
                    message: format!(
                        "{url:?} is not an http(s) URL without a query, like https://shop.example.com"
                    ),
                });
            }
            s.public_url = url;
        }
        vars.positive(
            "MERCADO_RESET_TOKEN_TTL_SECONDS",
            &mut s.reset_token_ttl_seconds,
        )?;
        vars.positive(
            "MERCADO_VERIFY_TOKEN_TTL_SECONDS",
            &mut s.verify_token_ttl_seconds,
        )?;
        vars.parse(
            "MERCADO_REQUIRE_VERIFIED_EMAIL",
            &mut s.require_verified_email,
        )?;
        vars.positive("MERCADO_MAX_BODY_BYTES", &mut s.max_body_bytes)?;
        vars.positive("MERCADO_DB_MAX_CONNECTIONS", &mut s.db_max_connections)?;
        vars.parse("MERCADO_RUN_WORKER", &mut s.run_worker)?;
        vars.parse("MERCADO_METRICS", &mut s.metrics)?;
        s.amqp_url = vars.get("MERCADO_AMQP_URL").map(SecretString::from);
        s.redis_url = vars.get("MERCADO_REDIS_URL").map(SecretString::from);
        if let Some(prefix) = vars.get("MERCADO_REDIS_PREFIX") {
            s.redis_prefix = prefix;
        }
        s.smtp_url = vars.get("MERCADO_SMTP_URL").map(SecretString::from);
        if let Some(dir) = vars.get("MERCADO_MAIL_DIR") {
            s.mail_dir = dir.into();
        }
        if let Some(from) = vars.get("MERCADO_MAIL_FROM") {
            s.mail_from = from;
        }
        vars.positive("MERCADO_WORKER_POLL_MS", &mut s.worker_poll_ms)?;
        vars.positive("MERCADO_MAX_IMPORT_BYTES", &mut s.max_import_bytes)?;
        vars.positive("MERCADO_WORKER_LEASE_SECONDS", &mut s.worker_lease_seconds)?;
        vars.positive(
            "MERCADO_HEADER_TIMEOUT_SECONDS",
            &mut s.header_timeout_seconds,
        )?;
        vars.positive("MERCADO_MAX_CONNECTIONS", &mut s.max_connections)?;
        Ok(s)
    }
}

/// Every setting with its default and the first sentence of what `.env.example` says
/// of it, for `mercado --help`.
pub fn help() -> String {
    use std::fmt::Write as _;
    let mut help = String::from(
        "Settings: environment variables, or a .env file in the working directory (the \
         environment wins); all optional.\n.env.example explains each one.\n",
    );
    let mut block: Vec<&str> = Vec::new();
    for line in EXAMPLE.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            block.push(comment.trim());
        } else if let Some((name, default)) = line.split_once('=') {
            // Writing into a String cannot fail.
            let _ = write!(help, "\n  {name}={default}\n");
            // A block of comments speaks of the variables after it: say it once.
            if !block.is_empty() {
                let text = block.join("\n");
                block.clear();
                for line in wrap(first_sentence(&text), 80) {
                    let _ = writeln!(help, "      {line}");
                }
            }
        } else {
            block.clear();
        }
    }
    help
}

/// Up to the first full stop, or a colon that ends a line (a list follows).
fn first_sentence(text: &str) -> &str {
    let end = [". ", ".\n", ":\n"]
        .iter()
        .filter_map(|stop| text.find(stop).map(|at| at + 1))
        .min()
        .unwrap_or(text.len());
    text[..end].trim_end_matches(':')
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// The settings file every checkout has, with every variable and its default.
const EXAMPLE: &str = include_str!("../../.env.example");

/// The variables as `lookup` answers them; unset and blank are the same.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// Parses `name` into `target` when set; the error shows the value and the form
    /// expected (no secret is ever parsed here).
    fn parse<T: Form>(&self, name: &'static str, target: &mut T) -> Result<(), ConfigError> {
        if let Some(raw) = self.get(name) {
            *target = raw
                .trim()
                .parse()
                .map_err(|_| invalid(name, &raw, T::FORM))?;
        }
        Ok(())
    }

    /// As [`parse`](Self::parse), for a number that must be above zero.
    fn positive<T: Form + Default + PartialOrd>(
        &self,
        name: &'static str,
        target: &mut T,
    ) -> Result<(), ConfigError> {
        self.parse(name, target)?;
        if *target <= T::default() {
            let raw = self.get(name).unwrap_or_default();
            return Err(invalid(name, &raw, "a whole number above 0"));
        }
        Ok(())
    }
}

fn invalid(var: &'static str, raw: &str, form: &str) -> ConfigError {
    let shown: String = raw.trim().chars().take(64).collect();
    ConfigError {
        var,
        message: format!("{shown:?} is not {form}"),
    }
}

/// A setting's type, and how its errors describe the form it takes.
trait Form: std::str::FromStr {
    const FORM: &'static str;
}

impl Form for SocketAddr {
    const FORM: &'static str = "an address like 127.0.0.1:8000";
}

impl Form for bool {
    const FORM: &'static str = "true or false";
}

macro_rules! whole_numbers {
    ($($ty:ty),+) => {
        $(impl Form for $ty {
            const FORM: &'static str = "a whole number";
        })+
    };
}
whole_numbers!(i64, u32, u64, usize);

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    /// `.env.example`'s values, as `VAR=value` lines.
    fn example() -> Vec<(&'static str, &'static str)> {
        EXAMPLE
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .collect()
    }

    #[test]
    fn bad_values_are_shown_with_the_form_expected() {
        for (vars, said) in [
            (
                &[("MERCADO_BIND", "x")][..],
                r#"MERCADO_BIND: "x" is not an address like 127.0.0.1:8000"#,
            ),
            (
                &[("MERCADO_TOKEN_TTL_SECONDS", "soon")],
                r#"MERCADO_TOKEN_TTL_SECONDS: "soon" is not a whole number"#,
            ),
            (
                &[("MERCADO_MAX_CONNECTIONS", "0")],
                r#"MERCADO_MAX_CONNECTIONS: "0" is not a whole number above 0"#,
            ),
            (
                &[("MERCADO_METRICS", "yes")],
                r#"MERCADO_METRICS: "yes" is not true or false"#,
            ),
        ] {
            assert_eq!(with(vars).unwrap_err().to_string(), said);
        }
    }

    /// Every variable `.env.example` lists, set to the value it gives, yields the
    /// defaults: the file and the code agree.
    #[test]
    fn the_example_file_gives_the_defaults() {
        let defaults = format!("{:?}", with(&[]).unwrap());
        let listed: Vec<(&str, &str)> = example()
            .into_iter()
            .filter(|(name, _)| name.starts_with("MERCADO_") || *name == "DATABASE_URL")
            .collect();
        assert!(listed.len() > 20, "{listed:?}");
        // The hashing threads' default is the machine's core count, left blank there.
        let concurrency = format!("hash_concurrency: {}", with(&[]).unwrap().hash_concurrency);
        assert!(defaults.contains(&concurrency));
        assert_eq!(format!("{:?}", with(&listed).unwrap()), defaults);
        // And it lists every variable read.
        let asked = std::cell::RefCell::new(Vec::new());
        Settings::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            None
        })
        .unwrap();
        for name in asked.into_inner() {
            assert!(
                listed.iter().any(|(n, _)| *n == name),
                "{name} is not in .env.example"
            );
        }
    }

    #[test]
    fn help_lists_every_variable_with_its_default() {
        let help = help();
        for (name, default) in example() {
            assert!(
                help.contains(&format!("  {name}={default}\n")),
                "{name}: {help}"
            );
        }
        assert!(help.contains("      Listen address."), "{help}");
    }
}
