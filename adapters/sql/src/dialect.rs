//! What differs between the SQL dialects, beside the statement texts themselves:
//! placeholders, paging, row locks, `LIKE` escaping and how constraint names are reported.

/// A SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.35+.
    Sqlite,
    /// PostgreSQL 13+.
    Postgres,
    /// MySQL 8 and MariaDB 10.6+.
    MySql,
    /// SQL Server 2017+.
    MsSql,
}

/// The escape character in every `LIKE … ESCAPE` clause: not a backslash, which MySQL
/// string literals would swallow.
pub(crate) const LIKE_ESCAPE: char = '!';

impl Dialect {
    /// The name of the migrations folder for this dialect.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
            Self::MsSql => "mssql",
        }
    }

    /// Rewrites the catalogue's `?` placeholders into this dialect's (`$1`, `@P1`).
    /// Statement texts never contain `?` inside literals.
    pub(crate) fn render(self, sql: &str) -> String {
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

    /// The paging clause, taking `limit` then `offset` as parameters in that order.
    pub(crate) const fn paging(self) -> &'static str {
        match self {
            Self::MsSql => "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY",
            _ => "LIMIT ? OFFSET ?",
        }
    }

    /// Whether the paging clause takes offset first.
    pub(crate) const fn offset_first(self) -> bool {
        matches!(self, Self::MsSql)
    }

    /// The table hint that takes row locks for update (SQL Server only).
    pub(crate) const fn lock_hint(self) -> &'static str {
        match self {
            Self::MsSql => " WITH (UPDLOCK, ROWLOCK)",
            _ => "",
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
            _ => "",
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

    /// The clause keeping the first `?` rows of an ordered `SELECT`.
    pub(crate) const fn first_rows(self) -> &'static str {
        match self {
            Self::MsSql => "OFFSET 0 ROWS FETCH NEXT ? ROWS ONLY",
            _ => "LIMIT ?",
        }
    }

    /// A `LIKE` pattern matching `needle` anywhere, with wildcards in it taken literally.
    pub(crate) fn contains_pattern(self, needle: &str) -> String {
        let mut pattern = String::with_capacity(needle.len() + 2);
        pattern.push('%');
        for c in needle.chars() {
            let special =
                matches!(c, '%' | '_') || c == LIKE_ESCAPE || (c == '[' && self == Self::MsSql);
            if special {
                pattern.push(LIKE_ESCAPE);
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
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
}

#[cfg(test)]
impl Dialect {
    /// Every dialect.
    pub(crate) const ALL: [Self; 4] = [Self::Sqlite, Self::Postgres, Self::MySql, Self::MsSql];

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

/// SQLite reports unique violations by column: the constraint each column list belongs to.
const SQLITE_UNIQUE_COLUMNS: &[(&str, &str)] = &[
    ("users.email", "uq_users_email"),
    ("users.id", "pk_users"),
    ("products.id", "pk_products"),
    ("orders.id", "pk_orders"),
    ("revoked_tokens.jti", "pk_revoked_tokens"),
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
        assert_eq!(
            Dialect::Sqlite
                .constraint_from_message("UNIQUE constraint failed: users.email")
                .as_deref(),
            Some("uq_users_email")
        );
        assert_eq!(Dialect::Postgres.constraint_from_message("anything"), None);
    }

    #[test]
    fn sql_server_pages_offset_first() {
        assert!(Dialect::MsSql.offset_first());
        assert!(!Dialect::Sqlite.offset_first());
        assert_eq!(
            Dialect::MsSql.paging(),
            "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY"
        );
    }
}
