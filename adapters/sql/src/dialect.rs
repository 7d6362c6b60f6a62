//! What differs between the SQL dialects, beside the statement texts themselves:
//! placeholders, paging, row locks, `LIKE` escaping, how constraint names are reported,
//! and the lock that serialises migrations.

use std::time::Duration;

use mercado_core::StoreError;

/// Calls `callback!` with `[args…]` and then the dialects, once: `Variant = "folder"`
/// with its doc, where `migrations/<folder>/` holds its SQL. Every other difference is a
/// `match` below without a catch-all arm, so a new dialect is a compile error in each
/// place that must say what it does.
macro_rules! dialects {
    ($callback:ident $(, $($args:tt)*)?) => {
        $callback! {
            [$($($args)*)?]
            /// SQLite 3.35+.
            Sqlite = "sqlite",
            /// PostgreSQL 13+.
            Postgres = "postgres",
            /// MySQL 8 and MariaDB 10.6+.
            MySql = "mysql",
            /// SQL Server 2017+.
            MsSql = "mssql",
        }
    };
}
pub(crate) use dialects;

/// `Dialect`, `Dialect::ALL` and `Dialect::name` from the table.
macro_rules! dialect_enum {
    ([] $($(#[$doc:meta])* $variant:ident = $folder:literal,)+) => {
        /// A SQL dialect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Dialect {
            $($(#[$doc])* $variant,)+
        }

        impl Dialect {
            /// Every dialect.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The name of the migrations folder for this dialect.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $folder,)+
                }
            }
        }
    };
}
dialects!(dialect_enum);

/// The escape character in every `LIKE … ESCAPE` clause: not a backslash, which MySQL
/// string literals would swallow.
pub(crate) const LIKE_ESCAPE: char = '!';

/// The name of the database-wide lock held while migrating.
const MIGRATION_LOCK: &str = "mercado_migrate";

/// Its key as a PostgreSQL advisory lock: the ASCII bytes of "mercado". Advisory locks
/// are scoped to the current database, as SQL Server's application locks are; MySQL's
/// named locks are server-wide, so there the lock's name includes the database's.
const PG_MIGRATION_LOCK_KEY: i64 = 0x006d_6572_6361_646f;

/// The statements of the migration lock. Every database's lock belongs to the session
/// (not the transaction), so all three run on one session, which keeps the lock until
/// `release` or until the session ends (a crashed process's lock is freed that way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MigrationLock {
    /// What the lock is called, for errors and logs.
    pub(crate) name: String,
    /// Runs first, in the transaction that takes the lock (PostgreSQL bounds the wait so).
    pub(crate) prepare: Option<String>,
    /// Takes the lock, waiting at most the given time: one row of one integer, 1 when
    /// taken, 0 when the wait ran out, NULL when the database failed otherwise.
    pub(crate) take: String,
    /// Releases it: one row of one integer, 1 when this session held it.
    pub(crate) release: String,
}

impl Dialect {
    /// Rewrites `?` placeholders into this dialect's (`$1`, `@P1`): executors run SQL as
    /// given, so text written once for every database (the catalogue's, a test's) goes
    /// through here. It must not contain `?` inside literals.
    pub fn render(self, sql: &str) -> String {
        let prefix = match self {
            Self::Sqlite | Self::MySql => return sql.to_owned(),
            Self::Postgres => "$",
            Self::MsSql => "@P",
        };
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(prefix);
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// The paging clause, taking its parameters as [`paging_params`](Self::paging_params)
    /// orders them.
    pub(crate) const fn paging(self) -> &'static str {
        match self {
            Self::MsSql => "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY",
            Self::Sqlite | Self::Postgres | Self::MySql => "LIMIT ? OFFSET ?",
        }
    }

    /// `limit` and `offset` in the order the [`paging`](Self::paging) clause takes them.
    pub(crate) fn paging_params<T>(self, limit: T, offset: T) -> [T; 2] {
        match self {
            Self::Sqlite | Self::Postgres | Self::MySql => [limit, offset],
            Self::MsSql => [offset, limit],
        }
    }

    /// The table hint that takes row locks for update (SQL Server only).
    pub(crate) const fn lock_hint(self) -> &'static str {
        match self {
            Self::MsSql => " WITH (UPDLOCK, ROWLOCK)",
            Self::Sqlite | Self::Postgres | Self::MySql => "",
        }
    }

    /// The clause after a `SELECT` that locks its rows for update. SQLite has none: its
    /// write transactions (`BEGIN IMMEDIATE`) already exclude every other writer.
    pub(crate) const fn lock_suffix(self) -> &'static str {
        match self {
            Self::Postgres | Self::MySql => " FOR UPDATE",
            Self::Sqlite | Self::MsSql => "",
        }
    }

    /// The table hint that claims rows nobody else holds (SQL Server: skip locked rows,
    /// lock the rest for update).
    pub(crate) const fn claim_hint(self) -> &'static str {
        match self {
            Self::MsSql => " WITH (UPDLOCK, READPAST, ROWLOCK)",
            Self::Sqlite | Self::Postgres | Self::MySql => "",
        }
    }

    /// The clause after a `SELECT` that claims rows nobody else holds. SQLite has one
    /// writer at a time, so its claims never meet.
    pub(crate) const fn claim_suffix(self) -> &'static str {
        match self {
            Self::Postgres | Self::MySql => " FOR UPDATE SKIP LOCKED",
            Self::Sqlite | Self::MsSql => "",
        }
    }

    /// What follows `FROM table` to keep the rows whose `id` is one of `n` parameters.
    ///
    /// SQL Server gets a join against a `VALUES` list: the same index seeks as an `IN`
    /// list there, and it works around Babelfish 4.3, whose `IN` list on a `BINARY(16)`
    /// key fails ("missing support function 1 … in opfamily"). The others keep `IN`, as
    /// PostgreSQL's `FOR UPDATE` cannot lock a join with `VALUES`.
    pub(crate) fn id_in(self, n: usize) -> String {
        match self {
            Self::MsSql => format!(
                " JOIN (VALUES {}) AS wanted (wanted_id) ON id = wanted_id",
                vec!["(?)"; n].join(", ")
            ),
            Self::Sqlite | Self::Postgres | Self::MySql => {
                format!(" WHERE id IN ({})", vec!["?"; n].join(", "))
            }
        }
    }

    /// The clause keeping the first `?` rows of an ordered `SELECT`.
    pub(crate) const fn first_rows(self) -> &'static str {
        match self {
            Self::MsSql => "OFFSET 0 ROWS FETCH NEXT ? ROWS ONLY",
            Self::Sqlite | Self::Postgres | Self::MySql => "LIMIT ?",
        }
    }

    /// Whether `[…]` is a character class in `LIKE` patterns (SQL Server's extension).
    const fn brackets_are_wildcards(self) -> bool {
        match self {
            Self::MsSql => true,
            Self::Sqlite | Self::Postgres | Self::MySql => false,
        }
    }

    /// A `LIKE` pattern matching `needle` anywhere, with wildcards in it taken literally.
    pub(crate) fn contains_pattern(self, needle: &str) -> String {
        let mut pattern = String::with_capacity(needle.len() + 2);
        pattern.push('%');
        for c in needle.chars() {
            let special = matches!(c, '%' | '_')
                || c == LIKE_ESCAPE
                || (c == '[' && self.brackets_are_wildcards());
            if special {
                pattern.push(LIKE_ESCAPE);
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }

    /// The lock `migrate` holds for its whole run, waiting at most `wait` for it (at least
    /// 1 ms; MySQL counts whole seconds, rounded up).
    ///
    /// SQLite has none and needs none: a database file has one writer at a time, every
    /// migration runs in a `BEGIN IMMEDIATE` transaction that first re-checks
    /// `mercado_migrations`, and SQLite's DDL is transactional, so a second process waits
    /// for the first one's commit and then finds the migration applied.
    pub(crate) fn migration_lock(self, wait: Duration) -> Option<MigrationLock> {
        let ms = wait.as_millis().clamp(1, i32::MAX as u128);
        let lock = match self {
            Self::Sqlite => return None,
            // `lock_timeout` bounds waits for advisory locks too; `SET LOCAL` ends with
            // the transaction, so the migrations themselves wait as configured.
            Self::Postgres => MigrationLock {
                name: format!(
                    "{MIGRATION_LOCK} (PostgreSQL advisory lock {PG_MIGRATION_LOCK_KEY})"
                ),
                prepare: Some(format!("SET LOCAL lock_timeout = {ms}")),
                take: format!(
                    "SELECT CAST(1 AS BIGINT) FROM pg_advisory_lock({PG_MIGRATION_LOCK_KEY})"
                ),
                release: format!(
                    "SELECT CAST(CASE WHEN pg_advisory_unlock({PG_MIGRATION_LOCK_KEY}) \
                     THEN 1 ELSE 0 END AS BIGINT)"
                ),
            },
            // Lock names are at most 64 characters.
            Self::MySql => {
                let name = format!("SUBSTRING(CONCAT('{MIGRATION_LOCK}.', DATABASE()), 1, 64)");
                MigrationLock {
                    name: format!("{MIGRATION_LOCK}.<database> (MySQL GET_LOCK)"),
                    prepare: None,
                    take: format!("SELECT GET_LOCK({name}, {})", ms.div_ceil(1000)),
                    release: format!("SELECT RELEASE_LOCK({name})"),
                }
            }
            // sp_getapplock returns 0 or 1 when granted, -1 on timeout, below that on
            // failure (cancelled, deadlock victim, bad call).
            Self::MsSql => MigrationLock {
                name: format!("{MIGRATION_LOCK} (SQL Server application lock)"),
                prepare: None,
                take: format!(
                    "DECLARE @result INT; \
                     EXEC @result = sp_getapplock @Resource = N'{MIGRATION_LOCK}', \
                     @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = {ms}; \
                     SELECT CAST(CASE WHEN @result >= 0 THEN 1 WHEN @result = -1 THEN 0 END AS BIGINT)"
                ),
                release: format!(
                    "DECLARE @result INT; \
                     EXEC @result = sp_releaseapplock @Resource = N'{MIGRATION_LOCK}', \
                     @LockOwner = 'Session'; \
                     SELECT CAST(CASE WHEN @result >= 0 THEN 1 ELSE 0 END AS BIGINT)"
                ),
            },
        };
        Some(lock)
    }

    /// Creates the migrations' bookkeeping table unless it exists.
    pub(crate) const fn create_migrations_table(self) -> &'static str {
        match self {
            Self::Sqlite => {
                "CREATE TABLE IF NOT EXISTS mercado_migrations (version INTEGER NOT NULL PRIMARY KEY, \
                 name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
            }
            Self::Postgres => {
                "CREATE TABLE IF NOT EXISTS mercado_migrations (version BIGINT NOT NULL PRIMARY KEY, \
                 name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            }
            Self::MySql => {
                "CREATE TABLE IF NOT EXISTS mercado_migrations (version BIGINT NOT NULL PRIMARY KEY, \
                 name VARCHAR(200) NOT NULL, checksum CHAR(64) NOT NULL, applied_at DATETIME(6) NOT NULL)"
            }
            Self::MsSql => {
                "IF OBJECT_ID(N'mercado_migrations', N'U') IS NULL CREATE TABLE mercado_migrations \
                 (version BIGINT NOT NULL PRIMARY KEY, name NVARCHAR(200) NOT NULL, checksum CHAR(64) NOT NULL, \
                 applied_at DATETIME2(6) NOT NULL)"
            }
        }
    }

    /// The violated constraint's name, for drivers that only put it in the message.
    pub(crate) fn constraint_from_message(self, message: &str) -> Option<String> {
        match self {
            // "UNIQUE constraint failed: users.email" names columns, not the constraint;
            // "CHECK constraint failed: ck_products_stock" names it.
            Self::Sqlite => {
                let rest = message.split("constraint failed: ").nth(1)?;
                let columns = rest.split(',').next()?.trim();
                Some(
                    SQLITE_UNIQUE_COLUMNS
                        .iter()
                        .find(|(cols, _)| *cols == columns)
                        .map_or(columns, |(_, name)| name)
                        .to_owned(),
                )
            }
            // MySQL: "Duplicate entry 'x' for key 'users.uq_users_email'" (MySQL 8 prefixes
            // the table), "Check constraint 'ck_products_stock' is violated."; MariaDB:
            // "CONSTRAINT `ck_products_stock` failed for `db`.`products`"; foreign keys on
            // both: "… CONSTRAINT `fk_orders_user` FOREIGN KEY …".
            Self::MySql => quoted_after(message, "for key '", '\'')
                .or_else(|| quoted_after(message, "Check constraint '", '\''))
                .or_else(|| quoted_after(message, "CONSTRAINT `", '`')),
            // SQL Server 2627: "Violation of UNIQUE KEY constraint 'uq_users_email'. …",
            // 2601: "… with unique index 'uq_users_email'. …", 547: "The UPDATE statement
            // conflicted with the CHECK constraint "ck_products_stock". …".
            Self::MsSql => quoted_after(message, "constraint '", '\'')
                .or_else(|| quoted_after(message, "unique index '", '\''))
                .or_else(|| quoted_after(message, "constraint \"", '"')),
            Self::Postgres => None,
        }
    }

    /// Whether `error` violates `key`, the primary key of the one table the failed
    /// statement wrote. MySQL and MariaDB report any primary key as `PRIMARY` (MariaDB
    /// without its table), so there a `PRIMARY` conflict is that table's.
    pub(crate) fn violates_primary_key(self, error: &StoreError, key: &str) -> bool {
        error.is_conflict_on(key)
            || match self {
                Self::MySql => error.is_conflict_on(MYSQL_PRIMARY_KEY),
                Self::Sqlite | Self::Postgres | Self::MsSql => false,
            }
    }
}

#[cfg(test)]
impl Dialect {
    /// Parses `sql` with sqlparser's grammar for this database: a real parser per
    /// dialect reads every statement and migration in the tests.
    pub(crate) fn parse(self, sql: &str) -> Result<(), sqlparser::parser::ParserError> {
        use sqlparser::dialect::{MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
        let grammar: &dyn sqlparser::dialect::Dialect = match self {
            Self::Sqlite => &SQLiteDialect {},
            Self::Postgres => &PostgreSqlDialect {},
            Self::MySql => &MySqlDialect {},
            Self::MsSql => &MsSqlDialect {},
        };
        sqlparser::parser::Parser::parse_sql(grammar, sql).map(drop)
    }
}

/// The name after `marker` up to `close`, without any `table.` prefix.
fn quoted_after(message: &str, marker: &str, close: char) -> Option<String> {
    let rest = &message[message.find(marker)? + marker.len()..];
    let quoted = &rest[..rest.find(close)?];
    Some(quoted.rsplit('.').next()?.to_owned())
}

/// What MySQL and MariaDB call every primary key, whatever its `CONSTRAINT` clause says.
const MYSQL_PRIMARY_KEY: &str = "PRIMARY";

/// SQLite reports unique violations by column: the constraint each column list belongs to.
const SQLITE_UNIQUE_COLUMNS: &[(&str, &str)] = &[
    ("users.email", "uq_users_email"),
    ("users.id", "pk_users"),
    ("products.id", "pk_products"),
    ("orders.id", "pk_orders"),
    ("revoked_tokens.jti", "pk_revoked_tokens"),
    ("idempotency_keys.key_hash", "pk_idempotency_keys"),
    // A composite key is reported by its first column.
    ("sent_mails.event_id", "pk_sent_mails"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_per_dialect() {
        let sql = "SELECT a FROM t WHERE a = ? AND b = ?";
        assert_eq!(Dialect::Sqlite.render(sql), sql);
        assert_eq!(Dialect::MySql.render(sql), sql);
        assert_eq!(
            Dialect::Postgres.render(sql),
            "SELECT a FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(
            Dialect::MsSql.render(sql),
            "SELECT a FROM t WHERE a = @P1 AND b = @P2"
        );
    }

    #[test]
    fn like_wildcards_in_a_search_are_escaped() {
        assert_eq!(
            Dialect::Postgres.contains_pattern("50%_a!b"),
            "%50!%!_a!!b%"
        );
        assert_eq!(Dialect::Sqlite.contains_pattern("[x]"), "%[x]%");
        assert_eq!(Dialect::MsSql.contains_pattern("[x]"), "%![x]%");
        assert_eq!(Dialect::MySql.contains_pattern("a\\b"), "%a\\b%");
    }

    #[test]
    fn constraint_names_are_read_from_each_dialects_messages() {
        assert_eq!(
            Dialect::MySql
                .constraint_from_message("Duplicate entry 'a@b.co' for key 'users.uq_users_email'")
                .as_deref(),
            Some("uq_users_email")
        );
        assert_eq!(
            Dialect::MySql
                .constraint_from_message("Duplicate entry 'a@b.co' for key 'uq_users_email'")
                .as_deref(),
            Some("uq_users_email")
        );
        assert_eq!(
            Dialect::MsSql
                .constraint_from_message("Violation of UNIQUE KEY constraint 'uq_users_email'. Cannot insert duplicate key in object 'dbo.users'.")
                .as_deref(),
            Some("uq_users_email")
        );
        assert_eq!(
            Dialect::MsSql
                .constraint_from_message("Cannot insert duplicate key row in object 'dbo.users' with unique index 'uq_users_email'.")
                .as_deref(),
            Some("uq_users_email")
        );
        assert_eq!(
            Dialect::MsSql
                .constraint_from_message("The UPDATE statement conflicted with the CHECK constraint \"ck_products_stock\". The conflict occurred in database \"m\", table \"dbo.products\", column 'stock'.")
                .as_deref(),
            Some("ck_products_stock")
        );
        // Babelfish reports error 547 in PostgreSQL's words.
        assert_eq!(
            Dialect::MsSql
                .constraint_from_message(
                    "new row for relation \"products\" violates check constraint \"ck_products_stock\""
                )
                .as_deref(),
            Some("ck_products_stock")
        );
        assert_eq!(
            Dialect::Sqlite
                .constraint_from_message("UNIQUE constraint failed: users.email")
                .as_deref(),
            Some("uq_users_email")
        );
        assert_eq!(Dialect::Postgres.constraint_from_message("anything"), None);
    }

    #[test]
    fn a_mysql_primary_key_is_named_primary_and_is_the_written_tables() {
        let reported = Dialect::MySql
            .constraint_from_message("Duplicate entry 'a-b' for key 'PRIMARY'")
            .expect("a name");
        let conflict = StoreError::Conflict {
            constraint: reported,
        };
        assert!(Dialect::MySql.violates_primary_key(&conflict, "pk_sent_mails"));
        assert!(!Dialect::Postgres.violates_primary_key(&conflict, "pk_sent_mails"));
        let named = StoreError::Conflict {
            constraint: "pk_sent_mails".into(),
        };
        for dialect in Dialect::ALL {
            assert!(dialect.violates_primary_key(&named, "pk_sent_mails"));
        }
        let other = StoreError::Conflict {
            constraint: "fk_orders_user".into(),
        };
        assert!(!Dialect::MySql.violates_primary_key(&other, "pk_sent_mails"));
    }

    #[test]
    fn sql_server_pages_offset_first() {
        assert_eq!(
            Dialect::MsSql.paging_params("limit", "offset"),
            ["offset", "limit"]
        );
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            assert_eq!(
                dialect.paging_params("limit", "offset"),
                ["limit", "offset"]
            );
        }
        assert_eq!(
            Dialect::MsSql.paging(),
            "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY"
        );
    }
}
