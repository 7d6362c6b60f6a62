//! The SQL layer below the services, on every database: the migration history, a closed
//! pool, stored values that do not parse, a dead worker's job, constraint names, token
//! revocations and mail records made twice. Drivers decode values and word their errors
//! each their own way, so every check runs over each one's fresh, migrated database.

use mercado_core::StoreError;
use mercado_core::domain::{
    Email, Job, JobId, JobKind, JobStatus, ProductId, SecretToken, Session, TokenId, TokenPurpose,
    User, UserId,
};
use mercado_core::password::PasswordHash;
use mercado_core::ports::{
    AuthRepository, Claim, ImportBatch, JobRepository, MailLog, OutboxRepository,
    ProductRepository, Rotation, SessionRepository, StoreHealth, UserRepository,
};
use mercado_sql::{
    DbError, DbErrorKind, Dialect, Executor, Kind, MigrationError, SqlStore, Value, migrate,
};
use mercado_tests::{Backend, EngineBug, conformance, with_engine_bug, with_scratch_executor};
use rust_decimal::Decimal;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

conformance!(
    migrations_apply_once_and_refuse_edited_or_unknown_history,
    a_closed_pool_is_reported_unavailable,
    stored_values_that_do_not_parse_are_corrupt_not_panics,
    values_the_driver_cannot_read_are_errors_not_panics,
    an_outbox_row_that_does_not_parse_is_parked_not_delivered_nor_blocking,
    a_job_whose_worker_died_resumes_where_it_stood_and_the_old_worker_is_shut_out,
    check_constraints_are_reported_by_name,
    revoking_a_token_twice_is_harmless_and_expired_revocations_are_forgotten,
    recording_a_mail_twice_is_harmless,
    the_purge_forgets_ended_and_expired_sessions_and_keeps_live_ones,
);

/// Prices a product's column stores that are no [`mercado_core::domain::Price`]: the
/// store must read them as corrupt.
fn refused_prices(dialect: Dialect) -> Vec<Value> {
    // No database checks the sign: the domain does.
    let mut prices = vec![Value::Money(Decimal::new(-100, 2))];
    // SQLite's TEXT keeps a third fraction digit; DECIMAL(10,2) rounds it away elsewhere.
    if dialect == Dialect::Sqlite {
        prices.push("12.345".into());
    }
    prices
}

/// Statements, run in order on one session, that leave the product named `Spoilt`
/// holding a value its column accepts but the driver reads as no value of its kind.
fn spoilers(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        // TEXT holds anything; the executor parses money from it.
        Dialect::Sqlite => &["UPDATE products SET price = 'not money' WHERE name = 'Spoilt'"],
        // NUMERIC holds NaN; rust_decimal has none.
        Dialect::Postgres => &["UPDATE products SET price = 'NaN' WHERE name = 'Spoilt'"],
        // DECIMAL holds numbers only, but DATETIME holds the zero date where the session's
        // sql_mode allows it (MariaDB's default does, MySQL 8's not); sqlx reads it as
        // NULL, in a NOT NULL column.
        Dialect::MySql => &[
            "SET SESSION sql_mode = ''",
            "UPDATE products SET created_at = '0000-00-00 00:00:00' WHERE name = 'Spoilt'",
        ],
        // DECIMAL and DATETIME2 hold only what decodes, but NVARCHAR holds UTF-16 code
        // units, a lone surrogate (0xD800) too, which is no text.
        Dialect::MsSql => &["UPDATE products SET name = NCHAR(55296) WHERE name = N'Spoilt'"],
    }
}

/// An executor the closed-pool check can close behind its store's back.
trait Closing: Executor {
    /// Closes its pools.
    async fn close(&self);

    /// Asserts what lies beneath `error`, the executor's error once it is closed.
    fn assert_closed_cause(error: &DbError);
}

impl<DB: sqlx::Database> Closing for mercado_sqlx::SqlxExecutor<DB>
where
    Self: Executor,
{
    async fn close(&self) {
        Self::close(self).await;
    }

    fn assert_closed_cause(error: &DbError) {
        let driver = std::error::Error::source(error).expect("the driver's error");
        assert!(
            matches!(
                driver.downcast_ref::<sqlx::Error>(),
                Some(sqlx::Error::PoolClosed)
            ),
            "{driver:?}"
        );
    }
}

#[cfg(feature = "mssql")]
impl Closing for mercado_tiberius::MsExecutor {
    async fn close(&self) {
        Self::close(self).await;
    }

    /// A bb8 pool cannot be closed, so the executor refuses work itself, before asking
    /// the pool: no driver error lies beneath.
    fn assert_closed_cause(error: &DbError) {
        assert!(error.source.is_none(), "{error:?}");
        assert_eq!(error.message, "the pool is closed");
    }
}

/// Runs `sql`, written with `?` placeholders, numbered as `exec`'s dialect wants them.
async fn execute<E: Executor>(exec: &E, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    exec.execute(&exec.dialect().render(sql), params).await
}

/// Inserts a product behind the store's back, past every check but the database's.
async fn insert_product<E: Executor>(
    exec: &E,
    id: Uuid,
    name: &str,
    price: Value,
    stock: i64,
) -> Result<u64, DbError> {
    let now = Value::Time(OffsetDateTime::now_utc());
    let params = [
        Value::Uuid(id),
        name.into(),
        name.to_lowercase().into(),
        price,
        Value::Int(stock),
        now.clone(),
        now,
    ];
    execute(
        exec,
        "INSERT INTO products (id, name, name_folded, price, stock, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &params,
    )
    .await
}

// ---------------------------------------------------------------------------------------

async fn migrations_apply_once_and_refuse_edited_or_unknown_history(backend: Backend) {
    with_scratch_executor!(backend, migration_history);
}

async fn migration_history<E: Executor>(exec: E) {
    let all = mercado_sql::migrations(exec.dialect()).len();
    assert!(all >= 2);
    // The harness migrated once: each migration is recorded once, and a second run finds
    // every one applied and unchanged, and none it does not know.
    let rows = exec
        .fetch("SELECT COUNT(*) FROM mercado_migrations", &[], &[Kind::Int])
        .await
        .unwrap();
    assert_eq!(usize::try_from(rows[0].int(0).unwrap()), Ok(all));
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
        Value::Time(OffsetDateTime::now_utc()),
    ];
    execute(
        &exec,
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

// ---------------------------------------------------------------------------------------

async fn a_closed_pool_is_reported_unavailable(backend: Backend) {
    with_scratch_executor!(backend, closed_pool);
}

async fn closed_pool<E: Closing>(exec: E) {
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
    // The cause is kept: the classified error, then what lies beneath it.
    let error = store.ping().await.unwrap_err();
    let cause = std::error::Error::source(&error).expect("a cause");
    let classified = cause
        .downcast_ref::<DbError>()
        .expect("the executor's error");
    assert_eq!(classified.kind, DbErrorKind::Unavailable);
    E::assert_closed_cause(classified);
}

// ---------------------------------------------------------------------------------------

async fn stored_values_that_do_not_parse_are_corrupt_not_panics(backend: Backend) {
    with_scratch_executor!(backend, refused_values);
}

async fn values_the_driver_cannot_read_are_errors_not_panics(backend: Backend) {
    // SQL Server's NVARCHAR holds UTF-16 code units, lone surrogates too; Babelfish keeps
    // it as UTF-8 and refuses one, so this way of planting an unreadable value fails there.
    let gap = EngineBug::BabelfishNvarcharRefusesLoneSurrogates;
    with_engine_bug(backend, gap, async {
        with_scratch_executor!(backend, unreadable_values);
    })
    .await;
}

async fn refused_values<E: Executor>(exec: E) {
    let store = SqlStore::new(exec.clone());
    let dialect = exec.dialect();
    for price in refused_prices(dialect) {
        let id = ProductId::generate();
        insert_product(&exec, id.as_uuid(), "Refused", price.clone(), 1)
            .await
            .unwrap();
        assert!(
            matches!(store.product_by_id(id).await, Err(StoreError::Corrupt(_))),
            "{price:?}"
        );
    }
}

async fn unreadable_values<E: Executor>(exec: E) {
    let store = SqlStore::new(exec.clone());
    let dialect = exec.dialect();
    let id = ProductId::generate();
    let price = Value::Money(Decimal::new(100, 2));
    insert_product(&exec, id.as_uuid(), "Spoilt", price, 1)
        .await
        .unwrap();
    assert!(store.product_by_id(id).await.unwrap().is_some());
    let session = exec.session().await.unwrap();
    for sql in spoilers(dialect) {
        session.execute(sql, &[]).await.unwrap();
    }
    drop(session);
    assert!(matches!(
        store.product_by_id(id).await,
        Err(StoreError::Other(_) | StoreError::Corrupt(_))
    ));
}

// ---------------------------------------------------------------------------------------

async fn an_outbox_row_that_does_not_parse_is_parked_not_delivered_nor_blocking(backend: Backend) {
    with_scratch_executor!(backend, unparsable_event);
}

async fn unparsable_event<E: Executor>(exec: E) {
    let store = SqlStore::new(exec.clone());
    let now = OffsetDateTime::now_utc();
    let bad = Uuid::now_v7();
    execute(
        &exec,
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
        claimer: Uuid::now_v7(),
        limit: 10,
        now,
        until: now + Duration::minutes(1),
    };
    assert!(store.claim_events(&claim).await.unwrap().is_empty());
    // Parked for good, with the reason kept: no later claim sees it.
    let much_later = Claim {
        now: now + Duration::days(3650),
        until: now + Duration::days(3651),
        ..claim
    };
    assert!(store.claim_events(&much_later).await.unwrap().is_empty());
    let rows = exec
        .fetch(
            &exec
                .dialect()
                .render("SELECT last_error FROM outbox WHERE id = ?"),
            &[Value::Uuid(bad)],
            &[Kind::Text],
        )
        .await
        .unwrap();
    assert!(rows[0].text(0).unwrap().starts_with("unreadable payload"));
}

// ---------------------------------------------------------------------------------------

async fn a_job_whose_worker_died_resumes_where_it_stood_and_the_old_worker_is_shut_out(
    backend: Backend,
) {
    with_scratch_executor!(backend, resumed_job);
}

async fn resumed_job<E: Executor>(exec: E) {
    let store = SqlStore::new(exec);
    let now = OffsetDateTime::now_utc();
    let id = JobId::generate();
    store
        .store_job_chunk(id, 0, "name,description,price,stock\n")
        .await
        .unwrap();
    let job = Job::queued(id, JobKind::ProductImport, now);
    store.queue_job(&job).await.unwrap();
    let claim = |claimer, at: OffsetDateTime| Claim {
        claimer,
        limit: 1,
        now: at,
        until: at + Duration::seconds(30),
    };
    let (dead, next) = (Uuid::now_v7(), Uuid::now_v7());
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
        until: now + Duration::seconds(30),
    };
    assert!(store.import_batch(&batch(dead, 4)).await.unwrap());
    // Held while the lease runs; then the next worker gets it, from row 4 on.
    assert!(store.claim_job(&claim(next, now)).await.unwrap().is_none());
    let later = now + Duration::seconds(31);
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

// ---------------------------------------------------------------------------------------

async fn check_constraints_are_reported_by_name(backend: Backend) {
    with_scratch_executor!(backend, check_constraint);
}

async fn check_constraint<E: Executor>(exec: E) {
    let price = Value::Money(Decimal::new(100, 2));
    let err = insert_product(&exec, Uuid::now_v7(), "x", price, -1)
        .await
        .unwrap_err();
    assert_eq!(err.kind, DbErrorKind::CheckViolation, "{err:?}");
    assert!(err.message.contains("ck_products_stock"), "{}", err.message);
}

// ---------------------------------------------------------------------------------------

async fn revoking_a_token_twice_is_harmless_and_expired_revocations_are_forgotten(
    backend: Backend,
) {
    with_scratch_executor!(backend, double_revocation);
}

async fn double_revocation<E: Executor>(exec: E) {
    let store = SqlStore::new(exec);
    let token = TokenId::generate();
    let now = OffsetDateTime::now_utc();
    store
        .revoke_token(token, now + Duration::minutes(5))
        .await
        .unwrap();
    store
        .revoke_token(token, now + Duration::minutes(5))
        .await
        .unwrap();
    assert!(store.is_token_revoked(token).await.unwrap());
    store.purge_expired(now).await.unwrap();
    assert!(
        store.is_token_revoked(token).await.unwrap(),
        "not expired yet"
    );
    store
        .purge_expired(now + Duration::minutes(10))
        .await
        .unwrap();
    assert!(
        !store.is_token_revoked(token).await.unwrap(),
        "expired revocations are purged"
    );
}

// ---------------------------------------------------------------------------------------

async fn the_purge_forgets_ended_and_expired_sessions_and_keeps_live_ones(backend: Backend) {
    with_scratch_executor!(backend, session_purge);
}

async fn session_purge<E: Executor>(exec: E) {
    let store = SqlStore::new(exec);
    let now = mercado_core::Clock::now(&mercado_core::SystemClock);
    let user = User {
        id: UserId::generate(),
        email: Email::parse(&format!("purge-{}@example.com", Uuid::now_v7().simple())).unwrap(),
        full_name: None,
        password_hash: PasswordHash::from_stored("$pbkdf2-sha256$1000$c2FsdA$aGFzaA".into()),
        is_active: true,
        is_superuser: false,
        email_verified: false,
        created_at: now,
        updated_at: now,
    };
    store.insert_user(&user, &[], None).await.unwrap();
    let store = &store;
    let open = |ttl: Duration| async move {
        let session = Session::open(user.id, Some("purge"), now, ttl);
        let token = SecretToken::generate();
        let hash = token.hash(TokenPurpose::Refresh);
        store.open_session(&session, &hash).await.unwrap();
        (session.id, hash)
    };
    let (live, live_token) = open(Duration::days(1)).await;
    let (ended, ended_token) = open(Duration::days(1)).await;
    let (expiring, _) = open(Duration::minutes(1)).await;
    assert!(store.end_session(user.id, ended, now).await.unwrap());
    assert_eq!(
        store.live_sessions(user.id, now).await.unwrap().len(),
        3 - 1
    );

    let later = now + Duration::minutes(2);
    // Two sessions and their refresh tokens.
    assert_eq!(store.purge_expired(later).await.unwrap(), 4);
    assert_eq!(
        store.purge_expired(later).await.unwrap(),
        0,
        "nothing left to purge"
    );
    let left: Vec<_> = store.live_sessions(user.id, later).await.unwrap();
    assert_eq!(left.iter().map(|s| s.id).collect::<Vec<_>>(), [live]);
    let next = SecretToken::generate().hash(TokenPurpose::Refresh);
    let expires = later + Duration::days(1);
    let purged = store
        .rotate_refresh(&ended_token, &next, later, expires)
        .await
        .unwrap();
    assert_eq!(
        purged,
        Rotation::Invalid,
        "a purged session's token is unknown"
    );
    match store
        .rotate_refresh(&live_token, &next, later, expires)
        .await
        .unwrap()
    {
        Rotation::Rotated {
            session,
            user: owner,
        } => {
            assert_eq!((session, owner.id), (live, user.id));
        }
        other => panic!("the live session refreshes: {other:?}"),
    }
    assert!(
        store
            .user_in_session(user.id, expiring, later)
            .await
            .unwrap()
            .is_some_and(|(_, live)| !live)
    );
}

// ---------------------------------------------------------------------------------------

async fn recording_a_mail_twice_is_harmless(backend: Backend) {
    with_scratch_executor!(backend, double_mail_record);
}

/// Two deliveries of one event race to record its mail: both succeed, one row stands.
async fn double_mail_record<E: Executor>(exec: E) {
    let store = SqlStore::new(exec);
    let (event, user) = (Uuid::now_v7(), UserId::generate());
    let now = OffsetDateTime::now_utc();
    assert!(!store.was_mailed(event, user).await.unwrap());
    store.record_mail(event, user, now).await.unwrap();
    store.record_mail(event, user, now).await.unwrap();
    assert!(store.was_mailed(event, user).await.unwrap());
}
