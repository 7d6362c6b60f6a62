//! What only SQLite's executor does. The SQL layer's checks on every database, this one
//! included, are in `mercado-tests` (`suite/store.rs`).

use mercado_core::ports::ProductRepository;
use mercado_sql::{SqlStore, migrate};
use mercado_sqlx::sqlite::connect;

#[tokio::test]
async fn an_in_memory_database_shares_one_connection() {
    let exec = connect("sqlite::memory:", 4).await.unwrap();
    migrate(&exec).await.unwrap();
    let store = SqlStore::new(exec);
    assert!(
        store
            .list_products(
                &mercado_core::domain::ProductQuery::default(),
                mercado_core::domain::Page::default()
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
