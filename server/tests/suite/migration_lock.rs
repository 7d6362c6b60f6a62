//! Replicas starting at once against one empty database take turns migrating: each run
//! holds the database's migration lock (`mercado_sql::migrate`). On PostgreSQL and
//! MariaDB: six `migrate` calls at once from separate pools, three `mercado serve`
//! processes started together, and a lock held elsewhere (a bounded wait, then freed when
//! its holder's session ends).
#![cfg(any(feature = "postgres", feature = "mysql"))]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::support::{KillOnDrop, http, start};
use mercado_sql::{Dialect, Executor, Kind, MigrationError, migrate, migrate_with_lock_wait};

/// How many processes (or pools) migrate at once.
const RACERS: usize = 6;

/// The database servers the suite uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Postgres,
    MariaDb,
}

impl Server {
    fn admin_url(self) -> String {
        let (var, default) = match self {
            Self::Postgres => (
                "MERCADO_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/postgres",
            ),
            Self::MariaDb => (
                "MERCADO_TEST_MYSQL_URL",
                "mysql://root@127.0.0.1:3306/mysql",
            ),
        };
        std::env::var(var).unwrap_or_else(|_| default.into())
    }
}

/// Runs `sql` on a fresh connection to `url` from a thread of its own, so that it works
/// inside a test's runtime and outside one alike.
fn admin(server: Server, url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(async move {
                match server {
                    #[cfg(feature = "postgres")]
                    Server::Postgres => {
                        use sqlx::Connection as _;
                        let mut conn = sqlx::PgConnection::connect(&url).await?;
                        sqlx::raw_sql(&sql).execute(&mut conn).await.map(drop)
                    }
                    #[cfg(feature = "mysql")]
                    Server::MariaDb => {
                        use sqlx::Connection as _;
                        let mut conn = sqlx::MySqlConnection::connect(&url).await?;
                        sqlx::raw_sql(&sql).execute(&mut conn).await.map(drop)
                    }
                    #[allow(unreachable_patterns)]
                    other => panic!("{other:?} is not compiled in"),
                }
            })
            .map_err(|e| e.to_string())
    })
    .join()
    .unwrap()
}

/// A database of this test's own, empty; dropped at the end.
struct Database {
    server: Server,
    admin_url: String,
    name: String,
}

impl Database {
    fn create(server: Server) -> Self {
        let admin_url = server.admin_url();
        let name = format!("mercado_lock_{}", uuid::Uuid::now_v7().simple());
        let sql = match server {
            Server::Postgres => format!("CREATE DATABASE {name}"),
            Server::MariaDb => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
        };
        admin(server, &admin_url, &sql)
            .unwrap_or_else(|e| panic!("the {server:?} test server at {admin_url} answers: {e}"));
        Self {
            server,
            admin_url,
            name,
        }
    }

    fn url(&self) -> String {
        let base = self.admin_url.rsplit_once('/').unwrap().0;
        format!("{base}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Server::MariaDb => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        if let Err(e) = admin(self.server, &self.admin_url, &sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

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

/// Holds the migration lock on a connection of its own (as a stuck peer would): a
/// migration gives up after its bounded wait with an error naming the lock; once the
/// holder's session ends (closed without unlocking, as a crash does), it goes ahead.
async fn a_held_lock<E: Executor>(
    exec: E,
    holder: E,
    take: &str,
    expected: fn(&MigrationError) -> bool,
) {
    let rows = holder.fetch(take, &[], &[Kind::Int]).await.unwrap();
    assert_eq!(rows[0].int(0).unwrap(), 1, "the holder has the lock");
    let started = Instant::now();
    let err = migrate_with_lock_wait(&exec, Duration::from_secs(1))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(expected(&err), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("mercado_migrate"), "{message}");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(10)).contains(&waited),
        "waited {waited:?}: {message}"
    );
    // Nothing was applied meanwhile: the bookkeeping table is made under the lock too.
    let table = exec
        .fetch("SELECT COUNT(*) FROM mercado_migrations", &[], &[Kind::Int])
        .await;
    assert!(table.is_err(), "{table:?}");

    drop(holder);
    let all = mercado_sql::migrations(exec.dialect()).len();
    assert_eq!(migrate(&exec).await.unwrap(), all);
    assert_fully_migrated_once(&exec).await;
}

/// Starts three `mercado serve` processes on `url` at the same moment; each must become
/// ready (each migrates, then serves).
fn three_replicas_start_together(server: Server) {
    let database = Database::create(server);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let url = database.url();
    let start_line = Arc::new(std::sync::Barrier::new(3));
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let (dir, url, start_line) = (Arc::clone(&dir), url.clone(), Arc::clone(&start_line));
            std::thread::spawn(move || {
                start_line.wait();
                let (process, addr) = start("serve", &dir, &url);
                (process, addr.unwrap())
            })
        })
        .collect();
    let replicas: Vec<(KillOnDrop, String)> = starting
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            t.join()
                .unwrap_or_else(|_| panic!("replica {i} exited before listening"))
        })
        .collect();
    for (i, (_, addr)) in replicas.iter().enumerate() {
        let (status, _, body) = http(addr, "GET /health/ready", &[], b"");
        assert_eq!(status, 200, "replica {i}: {body}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        match server {
            #[cfg(feature = "postgres")]
            Server::Postgres => {
                let exec = mercado_sqlx::postgres::connect(&url, 1).await.unwrap();
                assert_fully_migrated_once(&exec).await;
            }
            #[cfg(feature = "mysql")]
            Server::MariaDb => {
                let exec = mercado_sqlx::mysql::connect(&url, 1).await.unwrap();
                assert_fully_migrated_once(&exec).await;
            }
            #[allow(unreachable_patterns)]
            other => panic!("{other:?} is not compiled in"),
        }
    });
    drop(replicas);
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    /// The advisory lock key `Dialect::Postgres` uses (the bytes of "mercado").
    const KEY: i64 = 0x006d_6572_6361_646f;

    async fn pools(url: &str, n: usize) -> Vec<mercado_sqlx::postgres::PgExecutor> {
        let mut pools = Vec::new();
        for _ in 0..n {
            pools.push(mercado_sqlx::postgres::connect(url, 2).await.unwrap());
        }
        pools
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn six_migrations_at_once_on_postgres_apply_each_version_once() {
        let database = Database::create(Server::Postgres);
        let execs = pools(&database.url(), RACERS).await;
        assert_eq!(execs[0].dialect(), Dialect::Postgres);
        migrate_all_at_once(execs).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_migration_lock_on_postgres_bounds_the_wait_and_ends_with_its_session() {
        let database = Database::create(Server::Postgres);
        let mut execs = pools(&database.url(), 2).await;
        let holder = execs.pop().unwrap().session().await.unwrap();
        let take = format!("SELECT CAST(1 AS BIGINT) FROM pg_advisory_lock({KEY})");
        // PostgreSQL ends the wait with an error ("canceling statement due to lock timeout").
        let expected = |e: &MigrationError| matches!(e, MigrationError::Lock { .. });
        a_held_lock(execs.pop().unwrap(), holder, &take, expected).await;
    }

    #[test]
    fn three_replicas_started_together_on_postgres_all_become_ready() {
        three_replicas_start_together(Server::Postgres);
    }
}

#[cfg(feature = "mysql")]
mod mariadb {
    use super::*;

    async fn pools(url: &str, n: usize) -> Vec<mercado_sqlx::mysql::MySqlExecutor> {
        let mut pools = Vec::new();
        for _ in 0..n {
            pools.push(mercado_sqlx::mysql::connect(url, 2).await.unwrap());
        }
        pools
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn six_migrations_at_once_on_mariadb_apply_each_version_once() {
        let database = Database::create(Server::MariaDb);
        let execs = pools(&database.url(), RACERS).await;
        assert_eq!(execs[0].dialect(), Dialect::MySql);
        migrate_all_at_once(execs).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_migration_lock_on_mariadb_bounds_the_wait_and_ends_with_its_session() {
        let database = Database::create(Server::MariaDb);
        let mut execs = pools(&database.url(), 2).await;
        let holder = execs.pop().unwrap().session().await.unwrap();
        // MySQL's named locks are server-wide: the name includes the database's.
        let take = format!("SELECT GET_LOCK('mercado_migrate.{}', 0)", database.name);
        // GET_LOCK answers 0 when the wait runs out.
        let expected = |e: &MigrationError| matches!(e, MigrationError::LockTimeout { .. });
        a_held_lock(execs.pop().unwrap(), holder, &take, expected).await;
    }

    #[test]
    fn three_replicas_started_together_on_mariadb_all_become_ready() {
        three_replicas_start_together(Server::MariaDb);
    }
}
