//! Mercado as a library: sign up a user, stock a product and place an order on SQLite,
//! with no HTTP server. Run it with `cargo run -p mercado-examples --example embed`.

use std::sync::Arc;

use mercado_core::SystemClock;
use mercado_core::domain::{
    Email, NewOrderLine, NewProduct, NewUser, OrderLines, Password, Price, ProductName, Quantity,
    Stock,
};
use mercado_core::password::PasswordHasher;
use mercado_core::service::{ServiceConfig, services};
use mercado_sql::{SqlStore, migrate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // An in-memory database; use "sqlite://shop.db?mode=rwc" for a file.
    let executor = mercado_sqlx::sqlite::connect("sqlite::memory:", 4).await?;
    migrate(&executor).await?;
    let hasher = PasswordHasher::new(PasswordHasher::DEFAULT_ROUNDS, 2)?;
    let (commands, queries) = services(
        SqlStore::new(executor),
        hasher,
        Arc::new(SystemClock),
        ServiceConfig::default(),
    );

    let admin = commands
        .sign_up(NewUser {
            email: Email::parse("Admin@Example.com")?,
            password: Password::parse("correct horse battery")?,
            full_name: None,
            is_superuser: true,
        })
        .await?;
    commands
        .sign_up(NewUser {
            email: Email::parse("buyer@example.com")?,
            password: Password::parse("another fine password")?,
            full_name: None,
            is_superuser: false,
        })
        .await?;
    let buyer = commands
        .log_in("buyer@example.com", "another fine password")
        .await?
        .actor();

    let tea = commands
        .create_product(
            admin.actor(),
            NewProduct {
                name: ProductName::parse("Green tea")?,
                description: None,
                price: Price::parse("4.20")?,
                stock: Stock::new(12)?,
            },
        )
        .await?;
    let lines = OrderLines::new(vec![NewOrderLine {
        product_id: tea.id,
        quantity: Quantity::new(3)?,
    }])?;
    let order = commands.place_order(buyer, lines).await?;
    let left = queries.product(tea.id).await?.stock;

    println!(
        "order {} for {}: total {} ({} left in stock)",
        order.id,
        admin.email,
        order.total(),
        left
    );
    assert_eq!(order.total().to_string(), "12.60");
    assert_eq!(left, 9);
    Ok(())
}
