//! Replicas starting at once against one empty database take turns migrating: each run
//! holds the database's migration lock (`mercado_sql::migrate`). On every database: six
//! `migrate` calls at once from separate pools, three servers started together, and a
//! peer stuck holding the lock (a bounded wait, then freed when its session ends).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mercado_sql::{DbErrorKind, Dialect, Executor, Kind, MigrationError, Transaction as _};
use mercado_sql::{migrate, migrate_with_lock_wait};
use mercado_tests::{Backend, Scratch, conformance, spawn_replicas, with_connector};

/// How many pools (or servers) migrate at once.
const RACERS: usize = 6;

/// Every table and column the migrations make, read once each.
const SCHEMA: &[&str] = &[
    "SELECT COUNT(*) FROM users",
    "SELECT COUNT(*) FROM products",
    "SELECT COUNT(*) FROM orders",
    "SELECT COUNT(*) FROM order_items",
    "SELECT COUNT(*) FROM revoked_tokens",
    "SELECT COUNT(*) FROM login_throttle",
    "SELECT COUNT(*) FROM outbox WHERE attempts = 0 AND claimed_by IS NULL \
     AND claimed_until IS NULL AND last_error IS NULL",
    "SELECT COUNT(*) FROM sent_mails",
    "SELECT COUNT(*) FROM jobs",
    "SELECT COUNT(*) FROM job_chunks",
    "SELECT COUNT(*) FROM job_errors",
];

/// `mercado_migrations` holds every migration of this build exactly once, with its
/// checksum, and every table the migrations make is there.
async fn assert_fully_migrated_once<E: Executor>(exec: &E) {
    let expected: Vec<(i64, String)> = mercado_sql::migrations(exec.dialect())
        .iter()
        .map(|m| (m.version, m.checksum()))
        .collect();
    let rows = exec
        .fetch(
            "SELECT version, checksum FROM mercado_migrations ORDER BY version",
            &[],
            &[Kind::Int, Kind::Text],
        )
        .await
        .unwrap();
    let recorded: Vec<(i64, String)> = rows
        .iter()
        .map(|r| (r.int(0).unwrap(), r.text(1).unwrap()))
        .collect();
    assert_eq!(recorded, expected);
    for sql in SCHEMA {
        let rows = exec.fetch(sql, &[], &[Kind::Int]).await;
        assert!(rows.is_ok(), "{sql}: {rows:?}");
    }
}

/// Runs `migrate` on each executor at the same moment; every run must succeed, and the
/// migrations are applied once in all.
async fn migrate_all_at_once<E: Executor>(execs: Vec<E>) {
    let all = mercado_sql::migrations(execs[0].dialect()).len();
    let start = Arc::new(tokio::sync::Barrier::new(execs.len()));
    let runs: Vec<_> = execs
        .iter()
        .cloned()
        .map(|exec| {
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                migrate(&exec).await
            })
        })
        .collect();
    let mut applied = 0;
    for (i, run) in runs.into_iter().enumerate() {
        match run.await.unwrap() {
            Ok(n) => applied += n,
            Err(e) => panic!("migration run {i} of {RACERS} failed: {e}"),
        }
    }
    assert_eq!(applied, all, "each migration applied exactly once in all");
    assert_fully_migrated_once(&execs[0]).await;
    // A late starter finds nothing to do.
    assert_eq!(migrate(&execs[1]).await.unwrap(), 0);
}

async fn six_migrations_at_once_apply_each_version_once(backend: Backend) {
    let scratch = Scratch::create(backend).await;
    with_connector!(backend, connect => {
        let mut execs = Vec::with_capacity(RACERS);
        for _ in 0..RACERS {
            execs.push(connect(&scratch.url, 2).await.expect("a pool opens"));
        }
        assert_eq!(execs[0].dialect(), backend.dialect());
        migrate_all_at_once(execs).await;
    });
}

/// The statement a stuck peer would have run: it takes the migration lock, written here
/// independently of the dialect's own, and answers 1 when taken. `None` on SQLite, whose
/// migrations need no lock of their own: the peer holds the database's write lock.
fn take_lock(dialect: Dialect) -> Option<&'static str> {
    match dialect {
        Dialect::Sqlite => None,
        // The advisory lock key is the ASCII bytes of "mercado".
        Dialect::Postgres => {
            Some("SELECT CAST(1 AS BIGINT) FROM pg_advisory_lock(x'006d65726361646f'::bigint)")
        }
        // Named locks are server-wide: the name includes the database's.
        Dialect::MySql => {
            Some("SELECT GET_LOCK(SUBSTRING(CONCAT('mercado_migrate.', DATABASE()), 1, 64), 0)")
        }
        Dialect::MsSql => Some(
            "DECLARE @r INT; EXEC @r = sp_getapplock @Resource = N'mercado_migrate', \
             @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 0; \
             SELECT CAST(CASE WHEN @r >= 0 THEN 1 ELSE 0 END AS BIGINT)",
        ),
    }
}

/// How the bounded wait ends: PostgreSQL cancels the waiting statement ("canceling
/// statement due to lock timeout"), MySQL's `GET_LOCK` and SQL Server's `sp_getapplock`
/// answer "not granted", SQLite's busy timeout reports the database locked (retryable).
fn gave_up(dialect: Dialect, error: &MigrationError) -> bool {
    match dialect {
        Dialect::Sqlite => {
            matches!(error, MigrationError::Db(e) if e.kind == DbErrorKind::Retryable)
        }
        Dialect::Postgres => matches!(error, MigrationError::Lock { .. }),
        Dialect::MySql | Dialect::MsSql => matches!(error, MigrationError::LockTimeout { .. }),
    }
}

/// A peer stuck holding the lock on a session of its own: a migration gives up after a
/// bounded wait with an error that says why; once the holder's session ends (closed
/// without unlocking, as a crash does), it goes ahead.
async fn a_held_migration_lock_bounds_the_wait_and_ends_with_its_session(backend: Backend) {
    let scratch = Scratch::create(backend).await;
    with_connector!(backend, connect => {
        let exec = connect(&scratch.url, 2).await.expect("a pool opens");
        let peer = connect(&scratch.url, 2).await.expect("a pool opens");
        let dialect = exec.dialect();
        let holder = peer.session().await.unwrap();
        // SQLite: the peer is mid-way through a write transaction.
        let mut writing = None;
        if let Some(take) = take_lock(dialect) {
            let rows = holder.fetch(take, &[], &[Kind::Int]).await.unwrap();
            assert_eq!(rows[0].int(0).unwrap(), 1, "the holder has the lock");
        } else {
            let mut tx = holder.begin().await.unwrap();
            tx.execute("CREATE TABLE held (x INTEGER)", &[]).await.unwrap();
            writing = Some(tx);
        }
        let started = Instant::now();
        let err = migrate_with_lock_wait(&exec, Duration::from_secs(1))
            .await
            .unwrap_err();
        let waited = started.elapsed();
        assert!(gave_up(dialect, &err), "{err:?}");
        let message = err.to_string();
        if take_lock(dialect).is_some() {
            assert!(message.contains("mercado_migrate"), "{message}");
        }
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(20)).contains(&waited),
            "waited {waited:?}: {message}"
        );
        // Nothing was applied meanwhile: the bookkeeping table is made under the lock too.
        let table = exec
            .fetch("SELECT COUNT(*) FROM mercado_migrations", &[], &[Kind::Int])
            .await;
        assert!(table.is_err(), "{table:?}");

        drop(writing);
        drop(holder);
        let all = mercado_sql::migrations(dialect).len();
        assert_eq!(migrate(&exec).await.unwrap(), all);
        assert_fully_migrated_once(&exec).await;
    });
}

/// Three servers started at the same moment on one empty database all become ready:
/// each migrates (taking turns), creates the first superuser unless another did, then
/// serves.
async fn three_servers_started_together_all_become_ready(backend: Backend) {
    let replicas = spawn_replicas(backend, 3).await;
    for (i, replica) in replicas.iter().enumerate() {
        let ready = replica.get("/health/ready", None).await;
        assert_eq!(ready.status, 200, "replica {i}: {}", ready.body);
        replica.admin().await;
    }
    with_connector!(backend, connect => {
        let exec = connect(&replicas[0].database_url, 1).await.unwrap();
        assert_fully_migrated_once(&exec).await;
    });
}

conformance!(
    six_migrations_at_once_apply_each_version_once,
    a_held_migration_lock_bounds_the_wait_and_ends_with_its_session,
    three_servers_started_together_all_become_ready,
);
