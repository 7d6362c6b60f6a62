//! Mercado as a library: sign up a user, stock a product and place an order on SQLite,
//! then run the worker until the order's confirmation mail is written, with no HTTP
//! server. Run it with `cargo run -p mercado-examples --example embed`.

use std::sync::Arc;

use mercado_core::domain::{
    Email, NewOrderLine, NewProduct, NewUser, OrderLines, Password, Price, ProductName, Quantity,
    Stock,
};
use mercado_core::password::PasswordHasher;
use mercado_core::service::{ServiceConfig, services};
use mercado_core::{Clock, SystemClock};
use mercado_mail::{FileMailer, Renderer};
use mercado_sql::{SqlStore, migrate};
use mercado_worker::{Liveness, Timing, Transport, WorkerHandle};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // An in-memory database; use "sqlite://shop.db?mode=rwc" for a file.
    let executor = mercado_sqlx::sqlite::connect("sqlite::memory:", 4).await?;
    migrate(&executor).await?;
    let hasher = PasswordHasher::new(PasswordHasher::DEFAULT_ROUNDS, 2)?;
    let store = SqlStore::new(executor);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (commands, queries) = services(
        store.clone(),
        hasher,
        clock.clone(),
        ServiceConfig::default(),
    );

    // Sign-up never makes a superuser; the first one is made like this (as
    // MERCADO_FIRST_SUPERUSER_* does for the server).
    commands
        .ensure_superuser(
            Email::parse("Admin@Example.com")?,
            Password::parse("correct horse battery")?,
        )
        .await?;
    let admin = commands
        .log_in("admin@example.com", "correct horse battery")
        .await?;
    // `None`: no idempotency key to record the answer under (the HTTP server passes one).
    let buyer = NewUser {
        email: Email::parse("buyer@example.com")?,
        password: Password::parse("another fine password")?,
        full_name: None,
    };
    commands.sign_up(buyer, None).await?;
    let buyer = commands
        .log_in("buyer@example.com", "another fine password")
        .await?;

    let tea = commands
        .create_product(
            admin.actor(),
            NewProduct {
                name: ProductName::parse("Green tea")?,
                description: None,
                price: Price::parse("4.20")?,
                stock: Stock::new(12)?,
            },
            None,
        )
        .await?;
    let lines = OrderLines::new(vec![NewOrderLine {
        product_id: tea.id,
        quantity: Quantity::new(3)?,
    }])?;
    let order = commands.place_order(buyer.actor(), lines, None).await?;
    let left = queries.product(tea.id).await?.stock;

    println!(
        "order {} for {}: total {} ({} left in stock)",
        order.id,
        buyer.email,
        order.total(),
        left
    );
    assert_eq!(order.total().to_string(), "12.60");
    assert_eq!(left, 9);

    // The worker delivers what the commands recorded: here, mails as .eml files.
    let mail_dir = std::env::temp_dir().join(format!("mercado-embed-{}", order.id));
    let mailer = FileMailer::new(&mail_dir, Renderer::new("Shop <shop@example.com>")?);
    let worker = WorkerHandle::spawn(
        store,
        Transport::outbox(),
        mailer,
        mercado_core::notify::Links::default(),
        clock,
        Timing::default(),
        Liveness::new(std::time::Duration::from_mins(2)),
    );
    let subject = format!("Subject: Your order {}", order.id);
    let confirmation = wait_for_mail(&mail_dir, &subject).await;
    worker.stop().await;
    std::fs::remove_dir_all(&mail_dir)?;
    assert!(
        confirmation.contains("To: buyer@example.com"),
        "{confirmation}"
    );
    println!("confirmation mailed: {subject}");
    Ok(())
}

/// The first mail in `dir` with the line `subject`, waiting up to ten seconds.
async fn wait_for_mail(dir: &std::path::Path, subject: &str) -> String {
    for _ in 0..100 {
        let mails = std::fs::read_dir(dir).into_iter().flatten().flatten();
        for mail in mails {
            let text = std::fs::read_to_string(mail.path()).unwrap_or_default();
            if text.lines().any(|l| l == subject) {
                return text;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no mail with {subject:?} in {}", dir.display());
}
