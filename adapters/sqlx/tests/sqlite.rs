//! The SQLite executor and the SQL layer over it, below the services: migrations, pool
//! failures and stored data that does not parse.

use mercado_core::StoreError;
use mercado_core::domain::{ProductId, UserId};
use mercado_core::ports::{
    AuthRepository, Claim, ImportBatch, JobRepository, OutboxRepository, ProductRepository,
    StoreHealth, UserRepository,
};
use mercado_sql::{Executor, MigrationError, SqlStore, Value, migrate};
use mercado_sqlx::sqlite::{SqliteExecutor, connect};

async fn fresh() -> (tempfile::TempDir, SqliteExecutor) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let exec = connect(&url, 2).await.unwrap();
    (dir, exec)
}

#[tokio::test]
async fn migrations_apply_once_and_refuse_edited_or_unknown_history() {
    let (_dir, exec) = fresh().await;
    let all = mercado_sql::migrations(mercado_sql::Dialect::Sqlite).len();
    assert!(all >= 2);
    assert_eq!(migrate(&exec).await.unwrap(), all);
    assert_eq!(migrate(&exec).await.unwrap(), 0);
    exec.execute("UPDATE mercado_migrations SET checksum = 'edited'", &[])
        .await
        .unwrap();
    assert!(matches!(
        migrate(&exec).await,
        Err(MigrationError::Modified { version: 1, .. })
    ));
    exec.execute("DELETE FROM mercado_migrations", &[])
        .await
        .unwrap();
    let params = [
        Value::Int(999),
        "future".into(),
        "x".into(),
        Value::Time(time::OffsetDateTime::now_utc()),
    ];
    exec.execute(
        "INSERT INTO mercado_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
        &params,
    )
    .await
    .unwrap();
    assert!(matches!(
        migrate(&exec).await,
        Err(MigrationError::Unknown(999))
    ));
}

#[tokio::test]
async fn a_closed_pool_is_reported_unavailable() {
    let (_dir, exec) = fresh().await;
    migrate(&exec).await.unwrap();
    let store = SqlStore::new(exec.clone());
    store.ping().await.unwrap();
    exec.close().await;
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.user_by_id(UserId::generate()).await,
        Err(StoreError::Unavailable(_))
    ));
    // The cause is kept: the classified error, then sqlx's own.
    let error = store.ping().await.unwrap_err();
    let classified = std::error::Error::source(&error).expect("a cause");
    let driver = classified.source().expect("the driver's error");
    assert!(driver.downcast_ref::<sqlx::Error>().is_some(), "{driver:?}");
}

#[tokio::test]
async fn stored_values_that_do_not_parse_are_corrupt_not_panics() {
    let (_dir, exec) = fresh().await;
    migrate(&exec).await.unwrap();
    let store = SqlStore::new(exec.clone());
    let id = ProductId::generate();
    let now = Value::Time(time::OffsetDateTime::now_utc());
    let params = [
        Value::Uuid(id.as_uuid()),
        "Bad".into(),
        "bad".into(),
        "12.345".into(),
        Value::Int(1),
        now.clone(),
        now,
    ];
    exec.execute(
        "INSERT INTO products (id, name, name_folded, price, stock, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &params,
    )
    .await
    .unwrap();
    assert!(matches!(
        store.product_by_id(id).await,
        Err(StoreError::Corrupt(_))
    ));
    exec.execute(
        "UPDATE products SET price = 'not money' WHERE name = 'Bad'",
        &[],
    )
    .await
    .unwrap();
    assert!(matches!(
        store.product_by_id(id).await,
        Err(StoreError::Other(_) | StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn an_outbox_row_that_does_not_parse_is_parked_not_delivered_nor_blocking() {
    let (_dir, exec) = fresh().await;
    migrate(&exec).await.unwrap();
    let store = SqlStore::new(exec.clone());
    let now = time::OffsetDateTime::now_utc();
    let bad = uuid::Uuid::now_v7();
    exec.execute(
        "INSERT INTO outbox (id, kind, payload, occurred_at) VALUES (?, ?, ?, ?)",
        &[
            Value::Uuid(bad),
            "Unknown".into(),
            "{\"type\":\"Unknown\"}".into(),
            Value::Time(now),
        ],
    )
    .await
    .unwrap();
    let claim = Claim {
        claimer: uuid::Uuid::now_v7(),
        limit: 10,
        now,
        until: now + time::Duration::minutes(1),
    };
    assert!(store.claim_events(&claim).await.unwrap().is_empty());
    // Parked for good, with the reason kept: no later claim sees it.
    let much_later = Claim {
        now: now + time::Duration::days(3650),
        until: now + time::Duration::days(3651),
        ..claim
    };
    assert!(store.claim_events(&much_later).await.unwrap().is_empty());
    let rows = exec
        .fetch(
            "SELECT last_error FROM outbox WHERE id = ?",
            &[Value::Uuid(bad)],
            &[mercado_sql::Kind::Text],
        )
        .await
        .unwrap();
    assert!(rows[0].text(0).unwrap().starts_with("unreadable payload"));
}

#[tokio::test]
async fn a_job_whose_worker_died_resumes_where_it_stood_and_the_old_worker_is_shut_out() {
    use mercado_core::domain::{Job, JobId, JobKind, JobStatus};
    let (_dir, exec) = fresh().await;
    migrate(&exec).await.unwrap();
    let store = SqlStore::new(exec);
    let now = time::OffsetDateTime::now_utc();
    let id = JobId::generate();
    store
        .store_job_chunk(id, 0, "name,description,price,stock\n")
        .await
        .unwrap();
    let job = Job {
        id,
        kind: JobKind::ProductImport,
        status: JobStatus::Queued,
        done: 0,
        total: 0,
        errors: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    store.queue_job(&job).await.unwrap();
    let claim = |claimer, at: time::OffsetDateTime| Claim {
        claimer,
        limit: 1,
        now: at,
        until: at + time::Duration::seconds(30),
    };
    let (dead, next) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let held = store.claim_job(&claim(dead, now)).await.unwrap().unwrap();
    assert_eq!((held.job.status, held.attempts), (JobStatus::Running, 1));
    let batch = |claimer, done| ImportBatch {
        job: id,
        claimer,
        products: &[],
        errors: &[],
        done,
        total: 10,
        now,
        until: now + time::Duration::seconds(30),
    };
    assert!(store.import_batch(&batch(dead, 4)).await.unwrap());
    // Held while the lease runs; then the next worker gets it, from row 4 on.
    assert!(store.claim_job(&claim(next, now)).await.unwrap().is_none());
    let later = now + time::Duration::seconds(31);
    let resumed = store.claim_job(&claim(next, later)).await.unwrap().unwrap();
    assert_eq!(
        (resumed.job.done, resumed.job.total, resumed.attempts),
        (4, 10, 2)
    );
    // The dead worker's late writes count for nothing.
    assert!(!store.import_batch(&batch(dead, 9)).await.unwrap());
    assert!(
        !store
            .finish_job(id, dead, JobStatus::Succeeded, None, later)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_job(id, next, JobStatus::Failed, Some("stopped"), later)
            .await
            .unwrap()
    );
    let done = store.job_by_id(id).await.unwrap().unwrap();
    assert_eq!((done.status, done.done), (JobStatus::Failed, 4));
    assert_eq!(done.errors[0].row, None);
    assert_eq!(
        store.job_chunk(id, 0).await.unwrap(),
        None,
        "the upload is dropped"
    );
}

#[tokio::test]
async fn check_constraints_are_reported_by_name() {
    let (_dir, exec) = fresh().await;
    migrate(&exec).await.unwrap();
    let now = Value::Time(time::OffsetDateTime::now_utc());
    let params = [
        Value::Uuid(uuid::Uuid::now_v7()),
        "x".into(),
        "x".into(),
        "1.00".into(),
        Value::Int(-1),
        now.clone(),
        now,
    ];
    let err = exec
        .execute(
            "INSERT INTO products (id, name, name_folded, price, stock, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            &params,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, mercado_sql::DbErrorKind::CheckViolation);
    assert!(err.message.contains("ck_products_stock"), "{}", err.message);
}

#[tokio::test]
async fn revoking_a_token_twice_is_harmless_and_expired_revocations_are_forgotten() {
    let (_dir, exec) = fresh().await;
    migrate(&exec).await.unwrap();
    let store = SqlStore::new(exec);
    let token = mercado_core::domain::TokenId::generate();
    let now = time::OffsetDateTime::now_utc();
    store
        .revoke_token(token, now + time::Duration::minutes(5), now)
        .await
        .unwrap();
    store
        .revoke_token(token, now + time::Duration::minutes(5), now)
        .await
        .unwrap();
    assert!(store.is_token_revoked(token).await.unwrap());
    let later = now + time::Duration::minutes(10);
    store
        .revoke_token(mercado_core::domain::TokenId::generate(), later, later)
        .await
        .unwrap();
    assert!(
        !store.is_token_revoked(token).await.unwrap(),
        "expired revocations are purged"
    );
}

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
