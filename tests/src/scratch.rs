//! Scratch databases: a fresh one per test on every database the build includes, and
//! the macros that run a test body on each. The databases come from the server's
//! table ([`mercado_server::databases!`]); what differs per dialect here is how a
//! scratch database is made and dropped.

use mercado_sql::{Dialect, Executor as _};

/// `Backend` from the table.
macro_rules! backends {
    ([] $($variant:ident ($module:ident) {
        feature: $feature:literal, dialect: $dialect:ident, $($rest:tt)*
    }),+ $(,)?) => {
        /// The databases a test can run on (each runs when its feature is on).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Backend {
            $(
                #[doc = concat!("A fresh database of the `", $feature, "` adapter.")]
                $variant,
            )+
        }

        impl Backend {
            /// Its SQL dialect.
            pub const fn dialect(self) -> Dialect {
                match self {
                    $(Self::$variant => Dialect::$dialect,)+
                }
            }

            /// Its cargo feature, here and in `mercado-server`.
            pub const fn feature(self) -> &'static str {
                match self {
                    $(Self::$variant => $feature,)+
                }
            }
        }
    };
}
mercado_server::databases!(backends);

impl Backend {
    /// The variable naming this backend's server, if it has one:
    /// `MERCADO_TEST_<FEATURE>_URL`, a URL whose user may create databases.
    fn url_variable(self) -> Option<String> {
        match self.dialect() {
            Dialect::Sqlite => None,
            Dialect::Postgres | Dialect::MySql | Dialect::MsSql => Some(format!(
                "MERCADO_TEST_{}_URL",
                self.feature().to_ascii_uppercase()
            )),
        }
    }

    /// The server's admin URL: the environment, else `tests/databases.env` (the services
    /// this project's machines run). Missing means the run fails, never skips.
    fn admin_url(self) -> Option<String> {
        static FILE: std::sync::Once = std::sync::Once::new();
        let var = self.url_variable()?;
        FILE.call_once(|| {
            let _ = dotenvy::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/databases.env"));
        });
        Some(std::env::var(&var).unwrap_or_else(|_| {
            panic!("{var} is not set: the {self:?} conformance tests need a server (see tests/databases.env)")
        }))
    }
}

/// A database made for one test on a server, dropped when the test ends.
#[derive(Debug)]
struct ScratchDatabase {
    backend: Backend,
    admin_url: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates a uniquely named database; returns it and the URL to reach it.
    async fn create(backend: Backend, admin_url: String) -> (Self, String) {
        let name = format!("mercado_test_{}", uuid::Uuid::now_v7().simple());
        let sql = match backend.dialect() {
            Dialect::Sqlite | Dialect::Postgres => format!("CREATE DATABASE {name}"),
            Dialect::MySql => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
            // Row versioning, as production databases should have it (Azure SQL's default):
            // readers see the last committed row instead of waiting for writers.
            Dialect::MsSql => format!(
                "CREATE DATABASE {name}; ALTER DATABASE {name} SET READ_COMMITTED_SNAPSHOT ON"
            ),
        };
        if let Err(e) = admin_execute(backend, &admin_url, &sql).await {
            panic!("cannot create a database on the {backend:?} test server at {admin_url}: {e}");
        }
        let url = with_database(&admin_url, &name);
        (
            Self {
                backend,
                admin_url,
                name,
            },
            url,
        )
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (backend, admin_url) = (self.backend, self.admin_url.clone());
        let sql = match backend.dialect() {
            Dialect::Sqlite | Dialect::MySql => format!("DROP DATABASE IF EXISTS {}", self.name),
            Dialect::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            // Pooled sessions may still be open on it; end them first.
            Dialect::MsSql => format!(
                "IF DB_ID(N'{0}') IS NOT NULL BEGIN \
                 ALTER DATABASE {0} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {0}; END",
                self.name
            ),
        };
        // Drop runs inside the test's runtime, which cannot block on another future.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(admin_execute(backend, &admin_url, &sql))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Runs one statement on a fresh one-connection pool to `backend`'s server.
async fn admin_execute(backend: Backend, admin_url: &str, sql: &str) -> Result<(), String> {
    crate::with_connector!(backend, connect => {
        let exec = connect(admin_url, 1).await.map_err(|e| e.to_string())?;
        let done = exec.execute(sql, &[]).await.map(drop).map_err(|e| e.to_string());
        exec.close().await;
        done
    })
}

/// `url` with its database (path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A fresh, empty database of one backend, removed when dropped: an SQLite file in a
/// temporary directory, or a uniquely named database on the backend's server.
#[derive(Debug)]
pub struct Scratch {
    /// Its URL, as `DATABASE_URL` would name it.
    pub url: String,
    /// A temporary directory (the SQLite file, mails), removed on drop.
    pub dir: tempfile::TempDir,
    _database: Option<ScratchDatabase>,
}

impl Scratch {
    /// Makes one on `backend`.
    ///
    /// # Panics
    /// When the backend's server is not configured or refuses.
    pub async fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (database, url) = match backend.admin_url() {
            None => (
                None,
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("mercado.db").display()
                ),
            ),
            Some(admin_url) => {
                let (database, url) = ScratchDatabase::create(backend, admin_url).await;
                (Some(database), url)
            }
        };
        Self {
            url,
            dir,
            _database: database,
        }
    }
}

/// Applies every migration, then hands the executor back.
pub async fn migrated<E: mercado_sql::Executor>(exec: E) -> E {
    mercado_sql::migrate(&exec)
        .await
        .expect("the scratch database migrates");
    exec
}

/// Runs `$body` with `$connect` bound to `$backend`'s `connect(url, max_connections)`
/// (what `AnyStore::open` calls): the body is generic code, expanded once per database
/// compiled in.
#[macro_export]
macro_rules! with_connector {
    ($backend:expr, $connect:ident => $body:expr) => {
        $crate::databases!($crate::__with_connector, $backend, $connect => $body)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __with_connector {
    ([$backend:expr, $bound:ident => $body:expr] $($variant:ident ($module:ident) {
        feature: $feature:literal, dialect: $dialect:ident, schemes: $schemes:tt,
        executor: $executor:path, connect: $connect:path $(,)?
    }),+ $(,)?) => {{
        let backend: $crate::Backend = $backend;
        match backend {
            $(
                #[cfg(feature = $feature)]
                $crate::Backend::$variant => {
                    let $bound = $connect;
                    $body
                }
            )+
            #[allow(unreachable_patterns)]
            other => panic!("the {other:?} feature of mercado-tests is off"),
        }
    }};
}

/// Runs `$test`, an `async fn<E: mercado_sql::Executor>(E)`, over the executor of a
/// fresh, migrated [`Scratch`] database of `$backend` (a [`Backend`]): generic test
/// bodies inside a [`conformance!`](crate::conformance) test. The database is removed
/// afterwards.
#[macro_export]
macro_rules! with_scratch_executor {
    ($backend:expr, $test:path) => {{
        let backend: $crate::Backend = $backend;
        let scratch = $crate::Scratch::create(backend).await;
        $crate::with_connector!(backend, connect => {
            let exec = connect(&scratch.url, 4).await;
            $test($crate::migrated(exec.expect("the scratch database opens")).await).await
        })
    }};
}

/// Expands test bodies `async fn name(backend: Backend)` into one `#[tokio::test]` per
/// database compiled in, in a module per database (`sqlite::name`, `postgres::name`, …).
#[macro_export]
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        $crate::databases!($crate::__conformance, ($($name),+));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance {
    ([$names:tt] $($variant:ident ($module:ident) { feature: $feature:literal, $($rest:tt)* }),+ $(,)?) => {
        $(
            #[cfg(feature = $feature)]
            mod $module {
                $crate::__conformance_tests!($variant: $names);
            }
        )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($variant:ident: ($($name:ident),+)) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                super::$name($crate::Backend::$variant).await;
            }
        )+
    };
}
