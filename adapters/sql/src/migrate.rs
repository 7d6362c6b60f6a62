//! The migration runner: one for every database, over the [`Executor`].
//!
//! Migrations are the plain SQL files in `migrations/<dialect>/`, embedded at build time.
//! Each is applied in its own transaction together with its row in `mercado_migrations`
//! (version, name, SHA-256 checksum, time), and re-checked inside that transaction. An
//! applied file whose checksum changed stops the run: migrations are append-only.
//!
//! Processes starting at once against one database (replicas) take turns: on PostgreSQL,
//! MySQL/MariaDB and SQL Server the whole run holds a database-wide lock (the dialect's
//! [`MigrationLock`]) on a session of its own ([`Executor::session`]), and every statement
//! of the run goes through that session. The re-check alone would not do: MySQL commits
//! DDL on the spot, so two processes could both start the same migration. The others
//! wait for the lock, then find the migrations applied; a bounded wait turns a stuck
//! peer into an error naming the lock. A crashed process's session ends, and with it
//! its lock.

use std::time::Duration;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::dialect::MigrationLock;
use crate::{DbError, DbErrorKind, Dialect, Executor, Kind, Transaction, Value};

/// How long [`migrate`] waits for another process's migration lock.
pub const MIGRATION_LOCK_WAIT: Duration = Duration::from_mins(1);

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number, the same for every dialect.
    pub version: i64,
    /// Its name, from the file name.
    pub name: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

impl Migration {
    /// The SHA-256 of the SQL, in hex.
    pub fn checksum(&self) -> String {
        use std::fmt::Write as _;
        Sha256::digest(self.sql.as_bytes())
            .iter()
            .fold(String::with_capacity(64), |mut hex, b| {
                // Writing into a String cannot fail.
                let _ = write!(hex, "{b:02x}");
                hex
            })
    }
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database failed.
    #[error("migration failed: {0}")]
    Db(#[from] DbError),
    /// An applied migration's file was edited afterwards.
    #[error("migration {version} ({name}) was changed after it was applied")]
    Modified {
        /// Its number.
        version: i64,
        /// Its name.
        name: &'static str,
    },
    /// The database has a migration this build does not know (a newer build ran).
    #[error("the database has migration {0}, newer than this build")]
    Unknown(i64),
    /// Another process held the migration lock for longer than the wait.
    #[error(
        "timed out after {waited:?} waiting for the migration lock {lock}: another process \
         is migrating this database, or is stuck holding the lock"
    )]
    LockTimeout {
        /// The lock.
        lock: String,
        /// How long this process waited.
        waited: Duration,
    },
    /// Taking the migration lock failed (on PostgreSQL, a timed-out wait too: "canceling
    /// statement due to lock timeout").
    #[error("could not take the migration lock {lock}, waiting at most {waited:?}: {source}")]
    Lock {
        /// The lock.
        lock: String,
        /// The longest wait allowed.
        waited: Duration,
        /// What the database said.
        source: DbError,
    },
}

macro_rules! migration_set {
    ($dir:literal: [$(($version:literal, $file:literal, $name:literal)),* $(,)?]) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/../../migrations/", $dir, "/", $file, "_", $name, ".sql"
            )),
        }),*]
    };
}

/// `migrations`: every dialect's folder has a file of each number and name.
macro_rules! migration_sets {
    ([$migrations:tt] $($(#[$doc:meta])* $variant:ident = $folder:literal,)+) => {
        /// The migrations for a dialect, in order.
        pub fn migrations(dialect: Dialect) -> &'static [Migration] {
            match dialect {
                $(Dialect::$variant => migration_set!($folder: $migrations),)+
            }
        }
    };
}

crate::dialect::dialects!(
    migration_sets,
    [
        (1, "0001", "init"),
        (2, "0002", "outbox_delivery"),
        (3, "0003", "sent_mails"),
        (4, "0004", "jobs"),
        (5, "0005", "login_throttle"),
        (6, "0006", "sessions"),
        (7, "0007", "idempotency_keys"),
    ]
);

/// Applies every pending migration; returns how many it applied. Holds the database's
/// migration lock throughout, waiting up to [`MIGRATION_LOCK_WAIT`] for it.
///
/// # Errors
/// [`MigrationError`] when the database fails, the lock is not taken in time, an applied
/// file changed, or the database is ahead of this build.
pub async fn migrate<E: Executor>(exec: &E) -> Result<usize, MigrationError> {
    migrate_with_lock_wait(exec, MIGRATION_LOCK_WAIT).await
}

/// [`migrate`], waiting at most `lock_wait` for the migration lock.
///
/// # Errors
/// As [`migrate`].
pub async fn migrate_with_lock_wait<E: Executor>(
    exec: &E,
    lock_wait: Duration,
) -> Result<usize, MigrationError> {
    let Some(lock) = exec.dialect().migration_lock(lock_wait) else {
        return apply(exec).await;
    };
    // One session for the lock and every statement under it; dropped (on any path, a
    // cancelled future too) it closes its connection, which frees the lock.
    let session = exec.session().await?;
    take(&session, &lock, lock_wait).await?;
    let applied = apply(&session).await;
    match release(&session, &lock).await {
        Ok(true) => {}
        // The session is closed next anyway; the server frees a lock it still holds.
        Ok(false) => tracing::warn!(
            lock = %lock.name,
            "the migration lock was no longer held at the end: its session was lost"
        ),
        Err(error) => {
            tracing::warn!(lock = %lock.name, %error, "releasing the migration lock failed");
        }
    }
    applied
}

/// Takes the lock on `session`, waiting at most `wait`.
async fn take<E: Executor>(
    session: &E,
    lock: &MigrationLock,
    wait: Duration,
) -> Result<(), MigrationError> {
    let failed = |source: DbError| MigrationError::Lock {
        lock: lock.name.clone(),
        waited: wait,
        source,
    };
    let mut tx = session.begin().await.map_err(failed)?;
    if let Some(prepare) = &lock.prepare {
        tx.execute_script(prepare).await.map_err(failed)?;
    }
    let rows = tx
        .fetch(&lock.take, &[], &[Kind::Int])
        .await
        .map_err(failed)?;
    match rows.first().map(|row| row.opt_int(0)) {
        Some(Ok(Some(1))) => {}
        Some(Ok(Some(0))) => {
            return Err(MigrationError::LockTimeout {
                lock: lock.name.clone(),
                waited: wait,
            });
        }
        other => {
            let answer = match other {
                Some(Ok(Some(n))) => n.to_string(),
                Some(Ok(None)) => "NULL".to_owned(),
                Some(Err(e)) => e.to_string(),
                None => "no row".to_owned(),
            };
            let message = format!("the lock answered {answer}, not 1 (taken) or 0 (timed out)");
            return Err(failed(DbError::new(DbErrorKind::Other, message)));
        }
    }
    tx.commit().await.map_err(failed)?;
    tracing::debug!(lock = %lock.name, "migration lock taken");
    Ok(())
}

/// Releases the lock; whether `session` still held it.
async fn release<E: Executor>(session: &E, lock: &MigrationLock) -> Result<bool, DbError> {
    let mut tx = session.begin().await?;
    let rows = tx.fetch(&lock.release, &[], &[Kind::Int]).await?;
    tx.commit().await?;
    Ok(matches!(
        rows.first().map(|row| row.opt_int(0)),
        Some(Ok(Some(1)))
    ))
}

/// Applies every pending migration on `exec`, each in its own transaction.
async fn apply<E: Executor>(exec: &E) -> Result<usize, MigrationError> {
    let dialect = exec.dialect();
    let render = |sql: &str| dialect.render(sql);
    let mut tx = exec.begin().await?;
    tx.execute_script(dialect.create_migrations_table()).await?;
    tx.commit().await?;

    let set = migrations(dialect);
    let select = "SELECT version, checksum FROM mercado_migrations ORDER BY version";
    let applied = exec.fetch(select, &[], &[Kind::Int, Kind::Text]).await?;
    for row in &applied {
        let version = row
            .int(0)
            .map_err(|e| DbError::new(DbErrorKind::Other, e.to_string()))?;
        if !set.iter().any(|m| m.version == version) {
            return Err(MigrationError::Unknown(version));
        }
    }

    let is_applied = render("SELECT checksum FROM mercado_migrations WHERE version = ?");
    let record = render(
        "INSERT INTO mercado_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
    );
    let mut count = 0;
    for migration in set {
        let mut tx = exec.begin().await?;
        let found = tx
            .fetch(&is_applied, &[migration.version.into()], &[Kind::Text])
            .await?;
        if let Some(row) = found.first() {
            if row.text(0).ok().as_deref() != Some(migration.checksum().as_str()) {
                return Err(MigrationError::Modified {
                    version: migration.version,
                    name: migration.name,
                });
            }
            continue;
        }
        tx.execute_script(migration.sql).await?;
        let params = [
            migration.version.into(),
            migration.name.into(),
            migration.checksum().into(),
            Value::Time(mercado_core::clock::truncate_to_micros(
                OffsetDateTime::now_utc(),
            )),
        ];
        tx.execute(&record, &params).await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "migration applied"
        );
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_has_the_same_migration_numbers_and_constraint_names() {
        for dialect in [Dialect::Postgres, Dialect::MySql, Dialect::MsSql] {
            let (these, sqlite) = (migrations(dialect), migrations(Dialect::Sqlite));
            assert_eq!(
                these.iter().map(|m| m.version).collect::<Vec<_>>(),
                sqlite.iter().map(|m| m.version).collect::<Vec<_>>()
            );
            for (m, s) in these.iter().zip(sqlite) {
                let names = |sql: &str| -> Vec<String> {
                    let mut names: Vec<String> = sql
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .filter(|w| {
                            ["pk_", "uq_", "ck_", "fk_", "ix_"]
                                .iter()
                                .any(|p| w.starts_with(p))
                        })
                        .map(str::to_owned)
                        .collect();
                    names.sort();
                    names.dedup();
                    names
                };
                assert_eq!(
                    names(m.sql),
                    names(s.sql),
                    "{dialect:?} migration {}",
                    m.version
                );
            }
        }
    }

    /// The migration lock's statements, where the dialect has a lock.
    fn lock_statements(dialect: Dialect) -> Vec<String> {
        dialect
            .migration_lock(MIGRATION_LOCK_WAIT)
            .map(|lock| {
                let mut all = vec![lock.take, lock.release];
                all.extend(lock.prepare);
                all
            })
            .unwrap_or_default()
    }

    /// T-SQL keeps a procedure's return code with `EXEC @result = proc …`; sqlparser 0.64
    /// reads only `EXEC proc …`. The parse check drops that one assignment, nothing else.
    fn without_return_code(sql: &str) -> String {
        const CAPTURE: &str = "EXEC @result = ";
        if sql.contains(CAPTURE) {
            assert_eq!(sql.matches(CAPTURE).count(), 1, "{sql}");
            assert!(sql.starts_with("DECLARE @result INT; "), "{sql}");
        }
        sql.replace(CAPTURE, "EXEC ")
    }

    /// Each dialect's parser reads its migrations, its bookkeeping table and its
    /// migration lock.
    #[test]
    fn every_migration_parses_in_its_own_dialect() {
        for &dialect in Dialect::ALL {
            let lock = lock_statements(dialect);
            for sql in migrations(dialect)
                .iter()
                .map(|m| m.sql)
                .chain([dialect.create_migrations_table()])
                .chain(lock.iter().map(String::as_str))
            {
                if let Err(e) = dialect.parse(&without_return_code(sql)) {
                    panic!("{dialect:?} does not parse its migration: {e}\n{sql}");
                }
            }
        }
    }

    #[test]
    fn every_server_database_has_a_migration_lock_with_a_bounded_wait() {
        assert_eq!(Dialect::Sqlite.migration_lock(MIGRATION_LOCK_WAIT), None);
        let lock = |dialect: Dialect| dialect.migration_lock(Duration::from_millis(1500)).unwrap();
        let pg = lock(Dialect::Postgres);
        assert_eq!(pg.prepare.as_deref(), Some("SET LOCAL lock_timeout = 1500"));
        assert!(pg.take.contains("pg_advisory_lock("), "{}", pg.take);
        assert!(pg.release.contains("pg_advisory_unlock("), "{}", pg.release);
        let my = lock(Dialect::MySql);
        assert!(my.take.starts_with("SELECT GET_LOCK("), "{}", my.take);
        assert!(
            my.take.ends_with(", 2)"),
            "whole seconds, rounded up: {}",
            my.take
        );
        assert!(
            my.release.starts_with("SELECT RELEASE_LOCK("),
            "{}",
            my.release
        );
        let ms = lock(Dialect::MsSql);
        assert!(
            ms.take
                .contains("@LockOwner = 'Session', @LockTimeout = 1500;"),
            "{}",
            ms.take
        );
        assert!(ms.release.contains("sp_releaseapplock"), "{}", ms.release);
        for lock in [pg, my, ms] {
            assert!(lock.name.starts_with("mercado_migrate"), "{}", lock.name);
        }
        // Never an unbounded wait: 0 means "forever" to PostgreSQL's lock_timeout.
        let zero = Dialect::Postgres.migration_lock(Duration::ZERO).unwrap();
        assert_eq!(zero.prepare.as_deref(), Some("SET LOCAL lock_timeout = 1"));
    }

    /// sqlparser is lenient across dialects, so the constructs SQL Server lacks are ruled
    /// out by name, as for the statement catalogue.
    #[test]
    fn the_sql_server_lock_uses_no_syntax_it_lacks() {
        for sql in lock_statements(Dialect::MsSql) {
            for foreign in ["LIMIT", "TRUE", "FALSE", "?", "$1", "::"] {
                assert!(!sql.contains(foreign), "{foreign} in {sql}");
            }
        }
    }

    #[test]
    fn sqlite_migrations_are_numbered_from_one_and_checksummed() {
        let set = migrations(Dialect::Sqlite);
        assert_eq!(set[0].version, 1);
        assert!(set[0].sql.contains("CONSTRAINT uq_users_email"));
        assert_eq!(set[0].checksum().len(), 64);
        assert_ne!(
            set[0].checksum(),
            Migration { sql: "", ..set[0] }.checksum()
        );
    }
}
