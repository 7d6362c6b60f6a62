//! Correctness under concurrency: stock never oversells, exactly one winner where the
//! contract says one, and crossed multi-item orders never deadlock.

use futures_util::future::join_all;
use mercado_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, conformance, spawn_app, unique_password,
};
use serde_json::json;

conformance!(
    forty_buyers_for_ten_units_get_exactly_ten_orders,
    crossed_multi_item_orders_neither_deadlock_nor_oversell,
    twelve_concurrent_cancels_have_exactly_one_winner,
    twelve_concurrent_sign_ups_with_one_email_create_one_user,
    a_burst_of_wrong_passwords_gets_exactly_the_limit_checked,
);

async fn forty_buyers_for_ten_units_get_exactly_ten_orders(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let id = app.product_id(&admin, "Scarce", "5.00", 10).await;
    let mut buyers = Vec::new();
    for _ in 0..40 {
        buyers.push(app.new_user().await.0);
    }
    let line = [(id.as_str(), 1)];
    let replies = join_all(buyers.iter().map(|token| app.order(token, &line))).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let conflicts = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (created, conflicts),
        (10, 30),
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.stock(&id).await, 0);
    assert_eq!(app.total("/api/v1/orders", Some(&admin)).await, 10);
}

async fn crossed_multi_item_orders_neither_deadlock_nor_oversell(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let a = app.product_id(&admin, "A", "1.00", 30).await;
    let b = app.product_id(&admin, "B", "1.00", 30).await;
    let (a, b) = (a.as_str(), b.as_str());
    let (token, _) = app.new_user().await;
    let orders = (0..40).map(|i| {
        let lines = if i % 2 == 0 {
            [(a, 1), (b, 1)]
        } else {
            [(b, 1), (a, 1)]
        };
        let (app, token) = (&app, &token);
        async move { app.order(token, &lines).await }
    });
    let replies = tokio::time::timeout(std::time::Duration::from_mins(1), join_all(orders))
        .await
        .expect("no deadlock");
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert!(
        replies.iter().all(|r| r.status == 201 || r.status == 409),
        "only 201 or 409"
    );
    assert_eq!(created, 30);
    for id in [a, b] {
        assert_eq!(app.stock(id).await, 0);
    }
}

async fn twelve_concurrent_cancels_have_exactly_one_winner(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let id = app.product_id(&admin, "Tea", "1.00", 10).await;
    let (token, _) = app.new_user().await;
    let order = app.order(&token, &[(&id, 3)]).await.expect(201);
    let order_id = order["id"].as_str().unwrap();
    let replies = join_all((0..12).map(|_| app.cancel(&token, order_id))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(app.stock(&id).await, 10, "stock returned once");
}

async fn twelve_concurrent_sign_ups_with_one_email_create_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"email": "race@example.com", "password": unique_password()});
    let replies = join_all((0..12).map(|_| app.post("/api/v1/users", None, &body))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
    let admin = app.admin().await;
    assert_eq!(app.total("/api/v1/users", Some(&admin)).await, 2);
}

/// 40 wrong passwords at once for one account, and 40 for an unknown email: the limit
/// (5) is checked, every other attempt is refused before hashing, and afterwards the
/// right password is refused too until the window ends.
async fn a_burst_of_wrong_passwords_gets_exactly_the_limit_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    for email in [ADMIN_EMAIL, "nobody@example.com"] {
        let passwords: Vec<String> = (0..40).map(|i| format!("wrong-{i}")).collect();
        let replies = join_all(passwords.iter().map(|p| app.login_raw(email, p))).await;
        let checked = replies.iter().filter(|r| r.status == 401).count();
        let refused = replies.iter().filter(|r| r.status == 429).count();
        assert_eq!(
            (checked, refused),
            (5, 35),
            "{email}: {:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
    }
    app.login_raw(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .problem(429);
}
