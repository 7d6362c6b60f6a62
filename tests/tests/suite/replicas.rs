//! Three servers on one database act as one service: what they must agree on (revoked
//! tokens, failed logins, stock) lives in the database, on every database.

use mercado_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, conformance, spawn_replicas};

/// Every user's password here.
const PASSWORD: &str = "replica-password";

async fn three_replicas_on_one_database_act_as_one(backend: Backend) {
    let replicas = spawn_replicas(backend, 3).await;
    let at = |i: usize| &replicas[i % 3];

    // A token revoked through one replica is refused by all.
    at(0).sign_up("ann@example.com", PASSWORD).await;
    let ann = at(1).login("ann@example.com", PASSWORD).await;
    at(2).get("/api/v1/users/me", Some(&ann)).await.expect(200);
    at(0).logout(&ann).await.expect(204);
    for i in 0..3 {
        let me = at(i).get("/api/v1/users/me", Some(&ann)).await;
        assert_eq!(me.status, 401, "replica {i}");
    }

    // Failed logins spread across the replicas are counted as one: five, then 429.
    at(1).sign_up("bob@example.com", PASSWORD).await;
    for i in 0..5 {
        let refused = at(i).login_raw("bob@example.com", "wrong-password").await;
        assert_eq!(refused.status, 401, "attempt {i}");
    }
    for i in 0..3 {
        at(i)
            .login_raw("bob@example.com", PASSWORD)
            .await
            .problem(429);
    }

    // 40 buyers for 10 units, spread across the replicas: exactly 10 orders.
    let admin = at(0).login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let product = at(1).product_id(&admin, "Last ones", "9.99", 10).await;
    let mut buyers = Vec::new();
    for i in 0..40 {
        let email = format!("buyer{i}@example.com");
        at(i).sign_up(&email, PASSWORD).await;
        buyers.push(at(i + 1).login(&email, PASSWORD).await);
    }
    let line = [(product.as_str(), 1)];
    let orders = buyers
        .iter()
        .enumerate()
        .map(|(i, buyer)| at(i).order(buyer, &line));
    let statuses: Vec<u16> = futures_util::future::join_all(orders)
        .await
        .into_iter()
        .map(|reply| reply.status.as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        30,
        "{statuses:?}"
    );
    assert_eq!(at(2).stock(&product).await, 0);
}

conformance!(three_replicas_on_one_database_act_as_one);
