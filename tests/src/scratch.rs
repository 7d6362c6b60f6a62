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
    /// Which engine, for SQL Server URLs.
    engine: Option<MsEngine>,
    admin_url: String,
    name: String,
}

/// What a SQL Server URL leads to: SQL Server itself, or Babelfish for PostgreSQL, which
/// speaks its protocol but manages databases its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsEngine {
    /// Microsoft SQL Server (or Azure SQL).
    SqlServer,
    /// Babelfish for PostgreSQL.
    Babelfish,
}

/// The switch saying the SQL Server under test is Babelfish 4.3, whose known bugs the
/// marked tests then expect ([`with_engine_bug`]).
pub const BABELFISH_SWITCH: &str = "MERCADO_TEST_BABELFISH";

fn babelfish_switch() -> bool {
    std::env::var(BABELFISH_SWITCH).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Asks the server behind `admin_url` which engine it is (`@@VERSION` names Babelfish).
async fn ms_engine(backend: Backend, admin_url: &str) -> MsEngine {
    let sql = "SELECT COUNT(*) WHERE @@VERSION LIKE '%Babelfish%'";
    let babelfish = crate::with_connector!(backend, connect => {
        let exec = connect(admin_url, 1).await.map_err(|e| e.to_string());
        let rows = match &exec {
            Ok(exec) => exec.fetch(sql, &[], &[mercado_sql::Kind::Int]).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        if let Ok(exec) = exec {
            exec.close().await;
        }
        rows.map(|rows| rows.first().and_then(|r| r.int(0).ok()) == Some(1))
    })
    .unwrap_or_else(|e| panic!("cannot ask the {backend:?} test server at {admin_url} what it is: {e}"));
    let engine = if babelfish {
        MsEngine::Babelfish
    } else {
        MsEngine::SqlServer
    };
    assert!(
        engine == MsEngine::Babelfish || !babelfish_switch(),
        "{BABELFISH_SWITCH} is set, but the server at {admin_url} is not Babelfish"
    );
    engine
}

/// A known bug of an engine the suite runs on, which a marked test trips over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineBug {
    /// Babelfish 4.3: `LIKE … ESCAPE` right after a leading `%` matches nothing
    /// (`N'x%' LIKE N'%!%' ESCAPE '!'` is 0, SQL Server says 1). Upstream BABEL-6180.
    BabelfishLikeEscapeAfterPercent,
    /// Babelfish 4.3 keeps `NVARCHAR` as UTF-8, so `NCHAR(55296)` (a lone surrogate,
    /// which SQL Server stores) is refused: "requested character not valid for encoding".
    /// A compatibility gap rather than a bug, met only by a test that plants bad data.
    BabelfishNvarcharRefusesLoneSurrogates,
}

/// Runs `body`, a test that `bug` makes fail on its engine. With [`BABELFISH_SWITCH`] set
/// and `backend` SQL Server, the test must fail (it passes when it does, and fails when
/// it passes, so a fixed engine is noticed); everywhere else it runs as any other test.
/// Nothing is skipped: on SQL Server itself the switch is refused.
pub async fn with_engine_bug(backend: Backend, bug: EngineBug, body: impl Future<Output = ()>) {
    use futures_util::FutureExt as _;
    let expected = match bug {
        EngineBug::BabelfishLikeEscapeAfterPercent
        | EngineBug::BabelfishNvarcharRefusesLoneSurrogates => {
            backend.dialect() == Dialect::MsSql && babelfish_switch()
        }
    };
    if !expected {
        return body.await;
    }
    match std::panic::AssertUnwindSafe(body).catch_unwind().await {
        Err(_) => eprintln!("failed as expected on Babelfish 4.3: {bug:?}"),
        Ok(()) => panic!("{bug:?} was expected to fail on Babelfish 4.3 but passed: drop its mark"),
    }
}

/// Babelfish creates one database at a time ("tuple concurrently updated" otherwise);
/// within a process they queue here, across processes they are retried.
static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Tries `sql` until it succeeds or `attempts` run out, waiting longer each time;
/// `retry` says which errors are worth another try.
async fn admin_execute_retrying(
    backend: Backend,
    admin_url: &str,
    sql: &str,
    attempts: u32,
    retry: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match admin_execute(backend, admin_url, sql).await {
            Err(e) if attempt < attempts && retry(&e) => {
                let jitter = u64::from(uuid::Uuid::now_v7().as_bytes()[15] % 50);
                let wait = 100 * u64::from(attempt) + jitter;
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            done => return done,
        }
    }
}

impl ScratchDatabase {
    /// Creates a uniquely named database; returns it and the URL to reach it.
    async fn create(backend: Backend, admin_url: String) -> (Self, String) {
        let name = format!("mercado_test_{}", uuid::Uuid::now_v7().simple());
        let engine = match backend.dialect() {
            Dialect::MsSql => Some(ms_engine(backend, &admin_url).await),
            Dialect::Sqlite | Dialect::Postgres | Dialect::MySql => None,
        };
        // Row versioning on SQL Server, as production databases should have it (Azure
        // SQL's default): readers see the last committed row instead of waiting for
        // writers. Babelfish has PostgreSQL's MVCC underneath, and no ALTER DATABASE.
        let sql = match (backend.dialect(), engine) {
            (Dialect::MySql, _) => format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
            (Dialect::MsSql, Some(MsEngine::SqlServer)) => format!(
                "CREATE DATABASE {name}; ALTER DATABASE {name} SET READ_COMMITTED_SNAPSHOT ON"
            ),
            (Dialect::Sqlite | Dialect::Postgres | Dialect::MsSql, _) => {
                format!("CREATE DATABASE {name}")
            }
        };
        let created = if engine == Some(MsEngine::Babelfish) {
            let _turn = CREATING.lock().await;
            admin_execute_retrying(backend, &admin_url, &sql, 20, |e| {
                e.contains("concurrently")
            })
            .await
        } else {
            admin_execute(backend, &admin_url, &sql).await
        };
        if let Err(e) = created {
            panic!("cannot create a database on the {backend:?} test server at {admin_url}: {e}");
        }
        let url = with_database(&admin_url, &name);
        (
            Self {
                backend,
                engine,
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
        let name = self.name.clone();
        let babelfish = self.engine == Some(MsEngine::Babelfish);
        let sql = match (backend.dialect(), self.engine) {
            (Dialect::Sqlite | Dialect::MySql, _) => format!("DROP DATABASE IF EXISTS {name}"),
            (Dialect::Postgres, _) => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            // No SINGLE_USER there, and a test's pools may outlive it (its server's worker
            // runs until the runtime ends): their sessions are killed first, below.
            (Dialect::MsSql, Some(MsEngine::Babelfish)) => {
                format!("IF DB_ID(N'{name}') IS NOT NULL DROP DATABASE {name}")
            }
            // Pooled sessions may still be open on it; end them first.
            (Dialect::MsSql, _) => format!(
                "IF DB_ID(N'{name}') IS NOT NULL BEGIN \
                 ALTER DATABASE {name} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {name}; END"
            ),
        };
        // Drop runs inside the test's runtime, which cannot block on another future.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                if !babelfish {
                    return admin_execute(backend, &admin_url, &sql).await;
                }
                // A session may connect between the kill and the drop: then again.
                let mut attempt: u32 = 0;
                loop {
                    attempt += 1;
                    kill_sessions(backend, &admin_url, &name).await;
                    match admin_execute(backend, &admin_url, &sql).await {
                        Err(e) if attempt < 20 => {
                            eprintln!("dropping {name}, attempt {attempt}: {e}");
                            let wait = std::time::Duration::from_millis(100 * u64::from(attempt));
                            tokio::time::sleep(wait).await;
                        }
                        done => return done,
                    }
                }
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Ends every session on database `name` (Babelfish: `KILL` each), so it can be dropped.
async fn kill_sessions(backend: Backend, admin_url: &str, name: &str) {
    let sql = format!(
        "SELECT CAST(session_id AS BIGINT) FROM sys.dm_exec_sessions \
         WHERE database_id = DB_ID(N'{name}') AND session_id <> @@SPID"
    );
    let sessions: Vec<i64> = crate::with_connector!(backend, connect => {
        match connect(admin_url, 1).await {
            Ok(exec) => {
                let rows = exec.fetch(&sql, &[], &[mercado_sql::Kind::Int]).await.unwrap_or_default();
                exec.close().await;
                rows.iter().filter_map(|r| r.opt_int(0).ok().flatten()).collect()
            }
            Err(_) => Vec::new(),
        }
    });
    for session in sessions {
        // One already gone is fine: the drop says whether any is left.
        let _ = admin_execute(backend, admin_url, &format!("KILL {session}")).await;
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
