//! The databases Mercado serves, listed once. [`databases!`](crate::databases) is the
//! table: each row names the variant, the cargo feature that compiles its adapter in, its
//! SQL dialect, the URL schemes that pick it, its executor and the function that opens
//! one. [`AnyStore`](crate::AnyStore), the scheme check and the test harness's backends
//! are all generated from it, so a new database is one row here (and its adapter).

/// The adapter crates, for the code [`databases!`](crate::databases) generates in other
/// crates (each behind its feature there too).
#[doc(hidden)]
pub mod adapters {
    #[cfg(feature = "mysql")]
    pub use mercado_sqlx::mysql;
    #[cfg(feature = "postgres")]
    pub use mercado_sqlx::postgres;
    #[cfg(feature = "sqlite")]
    pub use mercado_sqlx::sqlite;
    #[cfg(feature = "mssql")]
    pub use mercado_tiberius as mssql;
}

/// Calls `callback!` with `[args…]` and then the table of databases, one row each:
///
/// ```text
/// Variant(module) { feature: "…", dialect: Variant, schemes: ["…", …], executor: path, connect: path }
/// ```
///
/// `module` names the database in test paths (`sqlite::…`). `connect(url, max_connections)`
/// returns the executor or an error that converts into a boxed error. Generated code puts
/// each row's items behind `#[cfg(feature = …)]`, which the crate expanding it answers:
/// its features must be named as these. `ado.net` stands for an ADO.NET connection
/// string, which has no scheme.
#[doc(hidden)]
#[macro_export]
macro_rules! databases {
    ($($callback:ident)::+ $(, $($args:tt)*)?) => {
        $($callback)::+! {
            [$($($args)*)?]
            Sqlite(sqlite) {
                feature: "sqlite",
                dialect: Sqlite,
                schemes: ["sqlite"],
                executor: $crate::databases::adapters::sqlite::SqliteExecutor,
                connect: $crate::databases::adapters::sqlite::connect,
            },
            Postgres(postgres) {
                feature: "postgres",
                dialect: Postgres,
                schemes: ["postgres", "postgresql"],
                executor: $crate::databases::adapters::postgres::PgExecutor,
                connect: $crate::databases::adapters::postgres::connect,
            },
            MySql(mysql) {
                feature: "mysql",
                dialect: MySql,
                schemes: ["mysql", "mariadb"],
                executor: $crate::databases::adapters::mysql::MySqlExecutor,
                connect: $crate::databases::adapters::mysql::connect,
            },
            MsSql(mssql) {
                feature: "mssql",
                dialect: MsSql,
                schemes: ["mssql", "sqlserver", "jdbc", "ado.net"],
                executor: $crate::databases::adapters::mssql::MsExecutor,
                connect: $crate::databases::adapters::mssql::connect,
            },
        }
    };
}

/// `feature_for` and `SCHEMES` from the table.
macro_rules! schemes {
    ([] $($variant:ident ($module:ident) {
        feature: $feature:literal, dialect: $dialect:ident, schemes: [$($scheme:literal),+],
        $($rest:tt)*
    }),+ $(,)?) => {
        /// Every scheme in the table, in its order.
        pub(crate) const SCHEMES: &[&str] = &[$($($scheme),+),+];

        /// The cargo feature that compiles in the adapter for a URL scheme.
        pub(crate) fn feature_for(scheme: &str) -> Option<&'static str> {
            match scheme {
                $($($scheme)|+ => Some($feature),)+
                _ => None,
            }
        }
    };
}
databases!(schemes);

/// What the table calls an ADO.NET connection string (`Server=tcp:host,1433;…`), which
/// has no scheme.
const ADO_NET: &str = "ado.net";

/// The schemes a `DATABASE_URL` may start with, for error messages.
pub(crate) fn url_schemes() -> String {
    let schemes: Vec<&str> = SCHEMES.iter().copied().filter(|s| *s != ADO_NET).collect();
    schemes.join(", ")
}

/// The scheme of a database URL, lower-cased; [`ADO_NET`] for a connection string.
pub(crate) fn scheme_of(url: &str) -> String {
    let url = url.trim();
    let scheme = url.split(':').next().unwrap_or(url).to_ascii_lowercase();
    if feature_for(&scheme).is_none() && !url.contains("://") && url.contains('=') {
        ADO_NET.to_owned()
    } else {
        scheme
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_scheme_picks_the_adapter_feature() {
        let cases = [
            ("sqlite://mercado.db?mode=rwc", Some("sqlite")),
            ("sqlite::memory:", Some("sqlite")),
            ("sqlite:mercado.db?mode=rwc", Some("sqlite")),
            ("PostgreSQL://u@h/db", Some("postgres")),
            ("mariadb://root@h/db", Some("mysql")),
            ("mssql://sa:x@h/db?encrypt=true", Some("mssql")),
            ("sqlserver://sa:x@h/db", Some("mssql")),
            ("jdbc:sqlserver://h:1433;databaseName=m", Some("mssql")),
            (
                "Server=tcp:h,1433;Database=m;User Id=sa;Password=x",
                Some("mssql"),
            ),
            ("oracle://h/db?x=y", None),
            ("mercado.db", None),
        ];
        for (url, feature) in cases {
            assert_eq!(feature_for(&scheme_of(url)), feature, "{url}");
        }
        assert!(SCHEMES.iter().all(|s| feature_for(s).is_some()));
        assert_eq!(
            url_schemes(),
            "sqlite, postgres, postgresql, mysql, mariadb, mssql, sqlserver, jdbc"
        );
    }
}
