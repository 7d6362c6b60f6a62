//! The test harness: every test gets a fresh, uniquely named, migrated database and a
//! real `mercado` server bound to a free port, started exactly as `main` starts it
//! ([`App::build`] then [`App::run`]), and typed helpers to talk to it over HTTP.
//!
//! Test bodies take a [`Backend`] and are expanded once per database by
//! [`conformance!`]; a database whose URL is missing makes its tests fail loudly.

// A harness fails by panicking: every helper would need a `# Panics` section saying so.
#![allow(clippy::missing_panics_doc)]

pub mod amqp;
pub mod clock;
pub mod counting;
pub mod passlib;
pub mod redis_prefix;
mod requests;
pub mod smtp;

mod scratch;

use std::net::SocketAddr;
use std::sync::Arc;

use mercado_core::domain::Email;
use mercado_core::password::PasswordHash;
use mercado_core::ports::UserRepository as _;
use mercado_server::{AnyStore, App, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

#[doc(hidden)]
pub use mercado_server::databases;
pub use scratch::{
    BABELFISH_SWITCH, Backend, EngineBug, MsEngine, Scratch, migrated, with_engine_bug,
};

/// The first superuser every test server creates.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// A unique, valid password.
pub fn unique_password() -> String {
    format!("pw-{}", uuid::Uuid::now_v7().simple())
}

/// A unique, valid email.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::now_v7().simple())
}

/// A loopback port nobody listens on (until someone binds it).
///
/// # Panics
/// When the system has no free port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running server over a fresh database; stopped (and the database removed) on drop.
#[derive(Debug)]
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The database it uses.
    pub database_url: String,
    /// An HTTP client with no TLS and no proxy.
    pub client: reqwest::Client,
    /// A second connection to the same database, for checks behind the API's back.
    pub store: AnyStore,
    /// The server's clock: `advance` it to let tokens and sessions expire.
    pub clock: Arc<clock::ManualClock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    scratch: Arc<Scratch>,
}

/// Starts a server on `backend` with the test defaults (1 000 password rounds, so tests
/// stay fast; the passlib tests use the real default).
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a server on `backend`, letting the test adjust the settings first.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let scratch = Arc::new(Scratch::create(backend).await);
    let secret = format!("test-secret-{}", uuid::Uuid::now_v7());
    spawn_on(scratch, secret, tweak).await
}

/// Starts `n` servers on one fresh database of `backend` at the same moment, as
/// replicas behind a load balancer would start: each its own pools, hashing threads
/// and worker, all with one JWT secret.
pub async fn spawn_replicas(backend: Backend, n: usize) -> Vec<TestApp> {
    let scratch = Arc::new(Scratch::create(backend).await);
    let secret = format!("test-secret-{}", uuid::Uuid::now_v7());
    let starting: Vec<_> = (0..n)
        .map(|_| tokio::spawn(spawn_on(Arc::clone(&scratch), secret.clone(), |_| {})))
        .collect();
    let mut replicas = Vec::with_capacity(n);
    for (i, started) in starting.into_iter().enumerate() {
        replicas.push(
            started
                .await
                .unwrap_or_else(|e| panic!("replica {i} did not start: {e}")),
        );
    }
    replicas
}

/// Starts a server on `scratch` with the test defaults, then `tweak`.
async fn spawn_on(
    scratch: Arc<Scratch>,
    secret: String,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let database_url = scratch.url.clone();
    let mut settings = Settings::with_database(database_url.clone());
    settings.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.password_rounds = 1_000;
    settings.jwt_secret = Some(secret.into());
    settings.first_superuser = Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.to_owned().into()));
    settings.mail_dir = scratch.dir.path().join("mail");
    settings.worker_poll_ms = 50;
    let clock = Arc::new(clock::ManualClock::default());
    settings.clock = mercado_server::settings::SettingsClock(clock.clone());
    tweak(&mut settings);
    let store = AnyStore::open(&settings)
        .await
        .expect("the test's own store opens");
    let app = App::build(settings).await.expect("the server starts");
    let addr = app.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    TestApp {
        addr,
        database_url,
        client,
        store,
        clock,
        shutdown: Some(tx),
        server: Some(server),
        scratch,
    }
}

impl Drop for TestApp {
    /// Stops the server as `main` does (its worker stopped, its pools closed) and closes
    /// the test's own store, so that no session is left on the database when it is
    /// dropped next (Babelfish refuses to drop a database in use). Bounded: a server
    /// still stopping after ten seconds is aborted.
    fn drop(&mut self) {
        // The client's idle keep-alive connections close first: the server's graceful
        // stop would otherwise wait for each until its header timeout.
        drop(std::mem::take(&mut self.client));
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(server) = self.server.take() else {
            return;
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            server.abort();
            return;
        }
        let store = self.store.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let abort = server.abort_handle();
                if tokio::time::timeout(std::time::Duration::from_secs(10), server)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
                store.close().await;
            });
        });
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts a problem+json answer with this status and returns it.
    #[track_caller]
    pub fn problem(self, status: u16) -> Value {
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            content_type, "application/problem+json",
            "problem content type; body: {}",
            self.body
        );
        let body = self.expect(status);
        assert_eq!(body["status"], status, "problem status member");
        for member in ["type", "title", "detail"] {
            assert!(body[member].is_string(), "problem member {member}: {body}");
        }
        body
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// The password hash stored for `email`.
    pub async fn stored_hash(&self, email: &str) -> String {
        let email = Email::parse(email).expect("a valid email");
        let user = self
            .store
            .user_by_email(&email)
            .await
            .expect("the store answers");
        user.expect("the user exists")
            .password_hash
            .as_str()
            .to_owned()
    }

    /// Replaces the password hash stored for `email`, as another application sharing the
    /// users table would.
    pub async fn store_hash(&self, email: &str, hash: &str) {
        let email = Email::parse(email).expect("a valid email");
        let hash = PasswordHash::from_stored(hash.to_owned());
        let user = self
            .store
            .user_by_email(&email)
            .await
            .expect("the store answers")
            .expect("the user exists");
        // Behind the API, as another application sharing the users table would.
        self.store
            .set_password_hash(user.id, &hash, time::OffsetDateTime::now_utc())
            .await
            .expect("the hash is stored");
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("the server answers")).await
    }

    /// Sends a raw body with a content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("the server answers")).await
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(Method::POST, path, token, Some(body)).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::DELETE, path, token, None).await
    }

    /// The OAuth2 password grant, raw.
    pub async fn login_raw(&self, username: &str, password: &str) -> Reply {
        let request = self
            .client
            .post(self.url("/api/v1/login/token"))
            .form(&[("username", username), ("password", password)]);
        read(request.send().await.expect("the server answers")).await
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = self.login_raw(email, password).await.expect(200);
        body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// Signs up a new, unique user; returns its token and user object.
    pub async fn new_user(&self) -> (String, Value) {
        let (email, password) = (unique_email(), unique_password());
        let user = self.sign_up(&email, &password).await;
        (self.login(&email, &password).await, user)
    }

    /// The first superuser's token.
    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates a product as `admin`; returns it.
    pub async fn product(&self, admin: &str, name: &str, price: &str, stock: i64) -> Value {
        let body = json!({"name": name, "price": price, "stock": stock});
        self.post("/api/v1/products", Some(admin), &body)
            .await
            .expect(201)
    }

    /// Makes one event of every kind a mail follows: a customer signs up, orders 3 of 12
    /// (below the low-stock threshold of 10) and cancels. Returns the customer's email
    /// and the order's id.
    pub async fn every_kind_of_event(&self) -> (String, String) {
        let admin = self.admin().await;
        let (token, user) = self.new_user().await;
        let product = self.product_id(&admin, "Green tea", "2.50", 12).await;
        let order = self.order(&token, &[(&product, 3)]).await.expect(201);
        let order_id = order["id"].as_str().unwrap().to_owned();
        self.cancel(&token, &order_id).await.expect(200);
        (user["email"].as_str().unwrap().to_owned(), order_id)
    }

    /// Asserts that readiness says the broker is down while liveness stays up.
    ///
    /// # Panics
    /// When either says otherwise.
    pub async fn expect_broker_down(&self) {
        let problem = self.get("/health/ready", None).await.problem(503);
        assert_eq!(problem["type"], "urn:mercado:problem:broker-unavailable");
        assert_eq!(self.get("/health", None).await.status, 200);
    }

    /// Places an order of `(product id, quantity)` lines.
    pub async fn order(&self, token: &str, lines: &[(&str, i64)]) -> Reply {
        let items: Vec<Value> = lines
            .iter()
            .map(|(id, q)| json!({"product_id": id, "quantity": q}))
            .collect();
        self.post("/api/v1/orders", Some(token), &json!({"items": items}))
            .await
    }
}

async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}
