//! The migration runner: one for every database, over the [`Executor`].
//!
//! Migrations are the plain SQL files in `migrations/<dialect>/`, embedded at build time.
//! Each is applied in its own transaction together with its row in `mercado_migrations`
//! (version, name, SHA-256 checksum, time), and re-checked inside that transaction so
//! that two processes starting at once apply it once. An applied file whose checksum
//! changed stops the run: migrations are append-only.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{DbError, Dialect, Executor, Kind, Transaction, Value};

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
        Sha256::digest(self.sql.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
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
}

macro_rules! migration_set {
    ($dir:literal: $(($version:literal, $file:literal, $name:literal)),* $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/../../migrations/", $dir, "/", $file, "_", $name, ".sql"
            )),
        }),*]
    };
}

/// Every migration, once: each dialect's folder has a file of the same number and name.
macro_rules! migration_sets {
    ($($migration:tt),* $(,)?) => {
        const SQLITE: &[Migration] = migration_set!("sqlite": $($migration),*);
        const POSTGRES: &[Migration] = migration_set!("postgres": $($migration),*);
        const MYSQL: &[Migration] = migration_set!("mysql": $($migration),*);
        const MSSQL: &[Migration] = migration_set!("mssql": $($migration),*);
    };
}

migration_sets!(
    (1, "0001", "init"),
    (2, "0002", "outbox_delivery"),
    (3, "0003", "sent_mails"),
    (4, "0004", "jobs"),
);

/// The migrations for a dialect, in order.
pub fn migrations(dialect: Dialect) -> &'static [Migration] {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
        Dialect::MySql => MYSQL,
        Dialect::MsSql => MSSQL,
    }
}

/// The bookkeeping table, in each dialect.
fn create_table(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS mercado_migrations (version INTEGER NOT NULL PRIMARY KEY, \
             name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
        }
        Dialect::Postgres => {
            "CREATE TABLE IF NOT EXISTS mercado_migrations (version BIGINT NOT NULL PRIMARY KEY, \
             name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        }
        Dialect::MySql => {
            "CREATE TABLE IF NOT EXISTS mercado_migrations (version BIGINT NOT NULL PRIMARY KEY, \
             name VARCHAR(200) NOT NULL, checksum CHAR(64) NOT NULL, applied_at DATETIME(6) NOT NULL)"
        }
        Dialect::MsSql => {
            "IF OBJECT_ID(N'mercado_migrations', N'U') IS NULL CREATE TABLE mercado_migrations \
             (version BIGINT NOT NULL PRIMARY KEY, name NVARCHAR(200) NOT NULL, checksum CHAR(64) NOT NULL, \
             applied_at DATETIME2(6) NOT NULL)"
        }
    }
}

/// Applies every pending migration; returns how many it applied.
///
/// # Errors
/// [`MigrationError`] when the database fails, an applied file changed, or the database
/// is ahead of this build.
pub async fn migrate<E: Executor>(exec: &E) -> Result<usize, MigrationError> {
    let dialect = exec.dialect();
    let render = |sql: &str| dialect.render(sql);
    let mut tx = exec.begin().await?;
    tx.execute_script(create_table(dialect)).await?;
    tx.commit().await?;

    let set = migrations(dialect);
    let select = "SELECT version, checksum FROM mercado_migrations ORDER BY version";
    let applied = exec.fetch(select, &[], &[Kind::Int, Kind::Text]).await?;
    for row in &applied {
        let version = row
            .int(0)
            .map_err(|e| DbError::new(crate::DbErrorKind::Other, e.to_string()))?;
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

    /// Each dialect's parser reads its migrations and its bookkeeping table.
    #[test]
    fn every_migration_parses_in_its_own_dialect() {
        for dialect in Dialect::ALL {
            for sql in migrations(dialect)
                .iter()
                .map(|m| m.sql)
                .chain([create_table(dialect)])
            {
                if let Err(e) = dialect.parse(sql) {
                    panic!("{dialect:?} does not parse its migration: {e}\n{sql}");
                }
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
