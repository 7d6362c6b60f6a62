//! `mercado`: serve the API, migrate, print the OpenAPI document, or create a superuser.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use mercado_core::domain::{Email, Password};
use mercado_server::{AnyStore, App, Settings, startup};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "mercado",
    version,
    about = "Users, products and orders over a REST API, on SQLite, PostgreSQL, MySQL/MariaDB or SQL Server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database, then serve (the default).
    Serve,
    /// Migrate the database, then deliver events (mails) until stopped; start more
    /// to share the work.
    Worker,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Create an active superuser; the password is asked for (not shown) on a terminal,
    /// else read from the first line of stdin.
    CreateSuperuser {
        /// The superuser's email.
        #[arg(long)]
        email: String,
    },
    /// Exit 0 if the server at `MERCADO_BIND` answers GET /health with 200 (container
    /// health checks; needs no shell or curl).
    Healthcheck {
        /// Check this address instead (host:port).
        #[arg(long)]
        addr: Option<String>,
    },
}

/// An error and its causes on one line, as the CLI prints it.
fn said(error: impl std::error::Error + 'static) -> String {
    mercado_server::problem::chain(&error)
}

#[tokio::main]
async fn main() -> ExitCode {
    // Every setting, with its default, under --help of the commands that read them.
    let settings = mercado_server::settings::help();
    let mut command = Cli::command().after_long_help(settings.clone());
    for name in ["serve", "worker", "migrate", "create-superuser"] {
        command = command.mut_subcommand(name, |c| c.after_long_help(settings.clone()));
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let _ = dotenvy::dotenv();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr);
    match std::env::var("MERCADO_LOG_FORMAT").as_deref() {
        Err(_) | Ok("" | "text") => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // One JSON object per line, the event's fields at the top level.
        Ok("json") => logs.json().flatten_event(true).init(),
        Ok(other) => {
            eprintln!("mercado: MERCADO_LOG_FORMAT: expected `text` or `json`, not `{other}`");
            return ExitCode::FAILURE;
        }
    }
    match run(cli.command.unwrap_or(Command::Serve)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mercado: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    if let Command::Healthcheck { addr } = command {
        return healthcheck(addr).await;
    }
    if let Command::Openapi = command {
        println!("{}", startup::openapi_json().await.map_err(said)?);
        return Ok(());
    }
    let settings = Settings::from_env().map_err(said)?;
    match command {
        Command::Serve => {
            let app = App::build(settings).await.map_err(said)?;
            app.run(shutdown_signal()).await.map_err(said)
        }
        Command::Worker => {
            let store = AnyStore::open(&settings).await.map_err(said)?;
            store.migrate().await.map_err(said)?;
            let broker = startup::broker(&settings).map_err(said)?;
            let worker = store
                .spawn_worker(&settings, broker.as_ref(), startup::liveness(&settings))
                .map_err(said)?;
            worker.run_until(shutdown_signal()).await;
            store.close().await;
            Ok(())
        }
        Command::Migrate => {
            let store = AnyStore::open(&settings).await.map_err(said)?;
            let applied = store.migrate().await.map_err(said)?;
            store.close().await;
            println!("{applied} migration(s) applied");
            Ok(())
        }
        Command::CreateSuperuser { email } => {
            let email = Email::parse(&email).map_err(|e| format!("--email: {email:?} {e}"))?;
            let prompt = format!("Password for {email}: ");
            let typed = tokio::task::spawn_blocking(move || read_password(&prompt))
                .await
                .map_err(said)??;
            let password = Password::parse(&typed).map_err(|e| format!("password: {e}"))?;
            let store = AnyStore::open(&settings).await.map_err(said)?;
            store.migrate().await.map_err(said)?;
            let created = startup::create_superuser(&store, &settings, email.clone(), password)
                .await
                .map_err(said)?;
            store.close().await;
            if created {
                println!("superuser {email} created");
                Ok(())
            } else {
                Err(format!("a user with email {email} already exists"))
            }
        }
        Command::Openapi | Command::Healthcheck { .. } => unreachable!("handled above"),
    }
}

/// The new superuser's password: asked for twice without echo on a terminal, else the
/// first line of stdin.
fn read_password(prompt: &str) -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).map_err(said)?;
        if !first.is_empty() {
            let again = rpassword::prompt_password("The same again: ").map_err(said)?;
            if again != first {
                return Err("the two passwords differ".into());
            }
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(said)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err("no password given (type it when asked, or pipe it on stdin)".into());
    }
    Ok(password)
}

/// GET /health on `addr`, or on `MERCADO_BIND` with an unspecified IP (`0.0.0.0`, `[::]`)
/// read as loopback. Reads no other setting, so it works wherever the server does.
async fn healthcheck(addr: Option<String>) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = if let Some(addr) = addr {
        addr
    } else {
        let bind = std::env::var("MERCADO_BIND").unwrap_or_else(|_| "127.0.0.1:8000".into());
        let mut bind: std::net::SocketAddr = bind
            .trim()
            .parse()
            .map_err(|_| format!("MERCADO_BIND: {bind:?} is not an address like 127.0.0.1:8000"))?;
        if bind.ip().is_unspecified() {
            bind.set_ip(match bind.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        bind.to_string()
    };
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(&addr).await?;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    // Under the container runtime's own 5 s limit, so the answer is ours, not a kill.
    let head = tokio::time::timeout(std::time::Duration::from_secs(3), probe)
        .await
        .map_err(|_| format!("{addr}: no answer within 3 s"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    match &head {
        b"HTTP/1.1 200" => Ok(()),
        other => Err(format!(
            "{addr}: /health answered {}",
            String::from_utf8_lossy(other)
        )),
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
