//! Idempotent retries (API.md v1.1, `Idempotency-Key`), over HTTP, on every database and
//! across replicas: a retry gets the first answer and changes nothing.

use std::collections::HashSet;

use mercado_core::domain::{IdempotencyKey, KeyClaim, RequestHash, UserId};
use mercado_core::events::DomainEvent;
use mercado_core::ports::{Claim, IdempotencyRepository, KeyState, OutboxRepository};
use mercado_tests::{Backend, Reply, TestApp, conformance, spawn_app_with, spawn_replicas};
use reqwest::Method;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

conformance!(
    a_retried_order_gets_the_first_answer_and_changes_nothing,
    a_refusal_for_stock_is_answered_again_even_after_a_restock,
    of_parallel_requests_with_one_key_exactly_one_places_an_order,
    a_key_is_refused_for_another_request_and_freed_by_invalid_input,
    a_retried_sign_up_and_product_are_created_once,
    a_key_is_kept_a_day_then_forgotten_and_purged,
    a_key_held_by_a_request_that_died_is_taken_over_after_its_lease,
    a_retry_on_another_replica_gets_the_first_answer,
);

/// A server whose worker stays off, so the outbox keeps every event for counting.
async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.run_worker = false).await
}

/// A body sent as these exact bytes, with a key.
async fn keyed(app: &TestApp, path: &str, token: Option<&str>, key: &str, body: &str) -> Reply {
    let mut request = app
        .client
        .request(Method::POST, app.url(path))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body");
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn order_body(product: &str, quantity: i64) -> String {
    json!({"items": [{"product_id": product, "quantity": quantity}]}).to_string()
}

fn replayed(reply: &Reply) -> bool {
    reply.header("idempotent-replayed") == Some("true")
}

/// The `OrderPlaced` events in the outbox, by order id.
async fn placed_orders(app: &TestApp) -> Vec<String> {
    let now = OffsetDateTime::now_utc() + Duration::days(3);
    let claim = Claim {
        claimer: Uuid::now_v7(),
        limit: 1000,
        now,
        until: now + Duration::minutes(5),
    };
    let events = app.store.claim_events(&claim).await.expect("the outbox");
    events
        .iter()
        .filter_map(|c| match &c.event.payload {
            DomainEvent::OrderPlaced { order_id, .. } => Some(order_id.to_string()),
            _ => None,
        })
        .collect()
}

/// A shop with one product of `stock` units and one customer.
struct Shop {
    app: TestApp,
    admin: String,
    tea: String,
    token: String,
    user: UserId,
}

async fn shop(backend: Backend, stock: i64) -> Shop {
    let app = spawn(backend).await;
    let admin = app.admin().await;
    let tea = app.product_id(&admin, "Tea", "4.20", stock).await;
    let (token, user) = customer(&app).await;
    Shop {
        app,
        admin,
        tea,
        token,
        user,
    }
}

impl Shop {
    /// The customer's order of `quantity` teas, with `key`.
    async fn order(&self, key: &str, quantity: i64) -> Reply {
        let body = order_body(&self.tea, quantity);
        keyed(&self.app, "/api/v1/orders", Some(&self.token), key, &body).await
    }
}

/// A signed-up user's token and id.
async fn customer(app: &TestApp) -> (String, UserId) {
    let (token, user) = app.new_user().await;
    let id = user["id"].as_str().expect("an id").parse().expect("a uuid");
    (token, UserId::from_uuid(id))
}

async fn a_retried_order_gets_the_first_answer_and_changes_nothing(backend: Backend) {
    let shop = shop(backend, 10).await;
    let (app, tea, token) = (&shop.app, &shop.tea, &shop.token);
    let body = order_body(tea, 3);
    let first = shop.order("order-1", 3).await;
    assert!(!replayed(&first));
    let location = first.header("location").map(str::to_owned);
    let first_body = first.expect(201);
    for _ in 0..2 {
        let again = shop.order("order-1", 3).await;
        assert!(replayed(&again), "{:?}", again.headers);
        assert_eq!(again.header("location").map(str::to_owned), location);
        assert_eq!(
            again.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(again.expect(201), first_body);
    }
    assert_eq!(app.stock(tea).await, 7, "the stock was taken once");
    assert_eq!(app.total("/api/v1/orders", Some(token)).await, 1);
    assert_eq!(placed_orders(app).await.len(), 1, "one OrderPlaced event");

    // A key is its caller's own: another user's equal key places another order.
    let (other, _) = customer(app).await;
    let theirs = keyed(app, "/api/v1/orders", Some(&other), "order-1", &body).await;
    assert!(!replayed(&theirs));
    assert_ne!(theirs.expect(201)["id"], first_body["id"]);
    assert_eq!(app.stock(tea).await, 4);
    // Without a key, the same request is simply another order.
    let unkeyed = app.order(token, &[(tea, 1)]).await;
    assert!(unkeyed.header("idempotent-replayed").is_none());
    unkeyed.expect(201);
}

async fn a_refusal_for_stock_is_answered_again_even_after_a_restock(backend: Backend) {
    let shop = shop(backend, 1).await;
    let (app, admin, tea) = (&shop.app, &shop.admin, &shop.tea);
    let first = shop.order("short", 2).await.problem(409);
    assert_eq!(first["type"], "urn:mercado:problem:insufficient-stock");
    app.patch(
        &format!("/api/v1/products/{tea}"),
        Some(admin),
        &json!({"stock": 5}),
    )
    .await
    .expect(200);
    let again = shop.order("short", 2).await;
    assert!(replayed(&again));
    assert_eq!(again.problem(409), first, "the first answer, not a new try");
    assert_eq!(app.stock(tea).await, 5, "nothing was taken");
    assert!(placed_orders(app).await.is_empty());
    // A new key is a new request.
    shop.order("short-2", 2).await.expect(201);
    assert_eq!(app.stock(tea).await, 3);
}

async fn of_parallel_requests_with_one_key_exactly_one_places_an_order(backend: Backend) {
    let shop = shop(backend, 100).await;
    let (app, tea, token) = (&shop.app, &shop.tea, &shop.token);
    // Connections opened first, so that the burst arrives at once.
    let warm = (0..20).map(|_| app.get("/health", None));
    futures_util::future::join_all(warm).await;
    let burst = (0..20).map(|_| shop.order("burst", 2));
    let replies = futures_util::future::join_all(burst).await;
    let mut ids = HashSet::new();
    let (mut created, mut busy) = (0, 0);
    for reply in replies {
        match reply.status.as_u16() {
            201 => {
                created += 1;
                ids.insert(reply.body["id"].as_str().unwrap().to_owned());
            }
            409 => {
                busy += 1;
                assert_eq!(reply.header("retry-after"), Some("1"));
                let problem = reply.problem(409);
                assert_eq!(
                    problem["type"],
                    "urn:mercado:problem:idempotency-key-in-use"
                );
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(created >= 1, "{created} created, {busy} busy");
    assert_eq!(ids.len(), 1, "every 201 is the one order: {ids:?}");
    assert_eq!(app.stock(tea).await, 98, "one stock decrement");
    assert_eq!(app.total("/api/v1/orders", Some(token)).await, 1);
    let events = placed_orders(app).await;
    assert_eq!(events.len(), 1, "one event");
    assert!(ids.contains(&events[0]));
    // Once it is answered, every retry gets the answer.
    let after = shop.order("burst", 2).await;
    assert!(replayed(&after));
    assert!(ids.contains(after.expect(201)["id"].as_str().unwrap()));
}

async fn a_key_is_refused_for_another_request_and_freed_by_invalid_input(backend: Backend) {
    let shop = shop(backend, 10).await;
    let (app, admin, tea, token) = (&shop.app, &shop.admin, &shop.tea, &shop.token);
    let path = "/api/v1/orders";
    keyed(app, path, Some(token), "k", &order_body(tea, 1))
        .await
        .expect(201);
    let other = keyed(app, path, Some(token), "k", &order_body(tea, 2)).await;
    assert_eq!(
        other.problem(422)["errors"][0]["field"],
        "Idempotency-Key",
        "a different body with a used key"
    );
    // The same bytes to another operation are another request too.
    let product = json!({"name": "Cake", "price": "1.00", "stock": 1}).to_string();
    keyed(app, "/api/v1/products", Some(admin), "k", &product)
        .await
        .expect(201);
    assert_eq!(app.stock(tea).await, 9);

    // Refused input is not recorded: the key stays free for the corrected request.
    let invalid = keyed(app, path, Some(token), "fix", &order_body(tea, 0)).await;
    assert_eq!(
        invalid.problem(422)["errors"][0]["field"],
        "items[0].quantity"
    );
    let unknown = order_body(&Uuid::now_v7().to_string(), 1);
    keyed(app, path, Some(token), "fix", &unknown)
        .await
        .problem(422);
    let fixed = keyed(app, path, Some(token), "fix", &order_body(tea, 1)).await;
    assert!(!replayed(&fixed));
    fixed.expect(201);

    // Malformed keys are named, in plain words.
    for bad in ["", &"k".repeat(256)] {
        let reply = keyed(app, path, Some(token), bad, &order_body(tea, 1)).await;
        let faults = reply.faults();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].0, "Idempotency-Key");
    }
    let raw = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .body(order_body(tea, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 422);
    let problem: Value = raw.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(
        problem["errors"][0]["message"],
        "must be 1 to 255 printable ASCII characters, not beginning or ending with a space"
    );
    assert_eq!(app.stock(tea).await, 8, "no malformed request took stock");
}

async fn a_retried_sign_up_and_product_are_created_once(backend: Backend) {
    let app = spawn(backend).await;
    let email = mercado_tests::unique_email();
    let body = json!({"email": email, "password": mercado_tests::unique_password()}).to_string();
    let first = keyed(&app, "/api/v1/users", None, "signup-1", &body).await;
    let location = first.header("location").map(str::to_owned);
    let user = first.expect(201);
    let again = keyed(&app, "/api/v1/users", None, "signup-1", &body).await;
    assert!(replayed(&again));
    assert_eq!(again.header("location").map(str::to_owned), location);
    assert_eq!(again.expect(201), user);
    // The email is taken now: a new key gets the 409, and its retry the same 409.
    let taken = keyed(&app, "/api/v1/users", None, "signup-2", &body)
        .await
        .problem(409);
    assert_eq!(taken["type"], "urn:mercado:problem:email-taken");
    let again = keyed(&app, "/api/v1/users", None, "signup-2", &body).await;
    assert!(replayed(&again));
    assert_eq!(again.problem(409), taken);

    let admin = app.admin().await;
    let before = app.total("/api/v1/products", None).await;
    let product = json!({"name": "Scone", "price": "2.50", "stock": 4}).to_string();
    let made = keyed(&app, "/api/v1/products", Some(&admin), "p", &product)
        .await
        .expect(201);
    let again = keyed(&app, "/api/v1/products", Some(&admin), "p", &product).await;
    assert!(replayed(&again));
    assert_eq!(again.expect(201), made);
    assert_eq!(app.total("/api/v1/products", None).await, before + 1);
}

async fn a_key_is_kept_a_day_then_forgotten_and_purged(backend: Backend) {
    let shop = shop(backend, 10).await;
    let (app, tea) = (&shop.app, &shop.tea);
    let first = shop.order("daily", 1).await.expect(201);
    app.clock.advance(Duration::hours(23));
    let again = shop.order("daily", 1).await;
    assert!(replayed(&again), "kept for 24 hours");
    assert_eq!(again.expect(201)["id"], first["id"]);
    let now = OffsetDateTime::now_utc() + Duration::hours(23);
    assert_eq!(
        app.store
            .purge_keys(now - Duration::hours(24))
            .await
            .unwrap(),
        0,
        "not purged within the day"
    );

    app.clock.advance(Duration::minutes(61));
    let later = shop.order("daily", 1).await;
    assert!(!replayed(&later), "forgotten after 24 hours");
    assert_ne!(later.expect(201)["id"], first["id"]);
    assert_eq!(app.stock(tea).await, 8);
    // The worker's purge deletes keys older than a day: the renewed one is young.
    let now = OffsetDateTime::now_utc() + Duration::hours(24) + Duration::minutes(1);
    assert_eq!(
        app.store
            .purge_keys(now - Duration::hours(24))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.store
            .purge_keys(now + Duration::minutes(1))
            .await
            .unwrap(),
        1
    );
}

async fn a_key_held_by_a_request_that_died_is_taken_over_after_its_lease(backend: Backend) {
    let shop = shop(backend, 10).await;
    let (app, tea, token, user) = (&shop.app, &shop.tea, &shop.token, shop.user);
    let body = order_body(tea, 1);
    // A request that claimed the key and died before it answered.
    let key = IdempotencyKey::parse("crashed").unwrap();
    let claim = KeyClaim {
        key: key.hash_for(Some(user)),
        id: Uuid::now_v7(),
    };
    let request = RequestHash::of("POST", "/api/v1/orders", body.as_bytes());
    let now = OffsetDateTime::now_utc();
    let claimed = app
        .store
        .claim_key(
            &claim,
            &request,
            now,
            now + Duration::seconds(60),
            now - Duration::hours(24),
        )
        .await
        .unwrap();
    assert_eq!(claimed, KeyState::Claimed);
    let busy = shop.order("crashed", 1).await;
    assert_eq!(busy.header("retry-after"), Some("1"));
    busy.problem(409);
    // Another request with the held key is still refused after the lease.
    app.clock.advance(Duration::seconds(61));
    let other = keyed(
        app,
        "/api/v1/orders",
        Some(token),
        "crashed",
        &order_body(tea, 2),
    )
    .await;
    other.problem(422);
    let resumed = shop.order("crashed", 1).await;
    assert!(!replayed(&resumed));
    resumed.expect(201);
    assert_eq!(app.stock(tea).await, 9);
    // The dead request's claim records nothing now.
    let answer = mercado_core::domain::RecordedAnswer {
        status: 500,
        body: String::new(),
        location: None,
    };
    app.store.settle_key(&claim, Some(&answer)).await.unwrap();
    app.store.settle_key(&claim, None).await.unwrap();
    let again = shop.order("crashed", 1).await;
    assert!(replayed(&again));
    again.expect(201);
}

async fn a_retry_on_another_replica_gets_the_first_answer(backend: Backend) {
    let replicas = spawn_replicas(backend, 3).await;
    let admin = replicas[0].admin().await;
    let tea = replicas[0].product_id(&admin, "Tea", "4.20", 50).await;
    let (token, _) = customer(&replicas[1]).await;
    let body = order_body(&tea, 5);
    let burst = (0..12).map(|i| {
        keyed(
            &replicas[i % 3],
            "/api/v1/orders",
            Some(&token),
            "everywhere",
            &body,
        )
    });
    let replies = futures_util::future::join_all(burst).await;
    let mut ids = HashSet::new();
    for reply in replies {
        match reply.status.as_u16() {
            201 => {
                ids.insert(reply.body["id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(reply.header("retry-after"), Some("1")),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    for replica in &replicas {
        let again = keyed(replica, "/api/v1/orders", Some(&token), "everywhere", &body).await;
        assert!(replayed(&again));
        assert!(ids.contains(again.expect(201)["id"].as_str().unwrap()));
    }
    assert_eq!(replicas[2].stock(&tea).await, 45);
}
