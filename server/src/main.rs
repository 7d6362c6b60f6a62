//! `mercado`: serve the API, migrate, print the OpenAPI document, or create a superuser.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Create an active superuser; the password is read from the first line of stdin.
    CreateSuperuser {
        /// The superuser's email.
        #[arg(long)]
        email: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli.command.unwrap_or(Command::Serve)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mercado: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    if let Command::Openapi = command {
        println!(
            "{}",
            startup::openapi_json().await.map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let settings = Settings::from_env().map_err(|e| e.to_string())?;
    match command {
        Command::Serve => {
            let app = App::build(settings).await.map_err(|e| e.to_string())?;
            app.run(shutdown_signal()).await.map_err(|e| e.to_string())
        }
        Command::Migrate => {
            let store = AnyStore::open(&settings).await.map_err(|e| e.to_string())?;
            let applied = store.migrate().await.map_err(|e| e.to_string())?;
            store.close().await;
            println!("{applied} migration(s) applied");
            Ok(())
        }
        Command::CreateSuperuser { email } => {
            let email = Email::parse(&email).map_err(|e| format!("--email {e}"))?;
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            let password = Password::parse(line.trim_end_matches(['\r', '\n']))
                .map_err(|e| format!("password {e}"))?;
            let store = AnyStore::open(&settings).await.map_err(|e| e.to_string())?;
            store.migrate().await.map_err(|e| e.to_string())?;
            let created = startup::create_superuser(&store, &settings, email.clone(), password)
                .await
                .map_err(|e| e.to_string())?;
            store.close().await;
            if created {
                println!("superuser {email} created");
                Ok(())
            } else {
                Err(format!("a user with email {email} already exists"))
            }
        }
        Command::Openapi => unreachable!("handled above"),
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
