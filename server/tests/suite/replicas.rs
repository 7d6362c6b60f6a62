//! Three `mercado serve` processes on one PostgreSQL database act as one service: what
//! they must agree on (revoked tokens, failed logins, stock) lives in the database.
#![cfg(feature = "postgres")]

use std::sync::Arc;

use super::support::{KillOnDrop, http, start};
use serde_json::{Value, json};
use sqlx::Connection;

/// A database of this test's own on the PostgreSQL server the suite uses; dropped at the end.
struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    fn admin(admin_url: &str, sql: &str) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let mut connection = sqlx::PgConnection::connect(admin_url)
                .await
                .expect("the PostgreSQL server of MERCADO_TEST_POSTGRES_URL answers");
            sqlx::raw_sql(sql).execute(&mut connection).await.unwrap();
        });
    }

    fn create() -> Self {
        let admin_url = std::env::var("MERCADO_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("mercado_replicas_{}", uuid::Uuid::now_v7().simple());
        Self::admin(&admin_url, &format!("CREATE DATABASE {name}"));
        Self { admin_url, name }
    }

    fn url(&self) -> String {
        let base = self.admin_url.rsplit_once('/').unwrap().0;
        format!("{base}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        Self::admin(&self.admin_url, &sql);
    }
}

fn json_body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn post_json(addr: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer));
    }
    let (status, _, body) = http(addr, &format!("POST {path}"), &headers, &json_body(body));
    (status, body)
}

fn get(addr: &str, path: &str, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    http(
        addr,
        &format!("GET {path}"),
        &[("Authorization", &bearer)],
        b"",
    )
    .0
}

fn login(addr: &str, email: &str, password: &str) -> (u16, Value) {
    let form = format!("username={}&password={password}", email.replace('@', "%40"));
    let (status, _, body) = http(
        addr,
        "POST /api/v1/login/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    (status, body)
}

fn token(addr: &str, email: &str, password: &str) -> String {
    let (status, body) = login(addr, email, password);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn sign_up(addr: &str, email: &str) {
    let body = json!({"email": email, "password": "replica-password"});
    let (status, body) = post_json(addr, "/api/v1/users", None, &body);
    assert_eq!(status, 201, "{body}");
}

#[test]
fn three_replicas_on_one_postgres_database_act_as_one() {
    let database = Database::create();
    let dir = tempfile::tempdir().unwrap();
    // One after another: the first migrates, the others find the schema current.
    let replicas: Vec<(KillOnDrop, String)> = (0..3)
        .map(|_| {
            let (process, addr) = start("serve", &dir, &database.url());
            (process, addr.unwrap())
        })
        .collect();
    let at = |i: usize| replicas[i % 3].1.as_str();

    // A token revoked through one replica is refused by all.
    sign_up(at(0), "ann@example.com");
    let ann = token(at(1), "ann@example.com", "replica-password");
    assert_eq!(get(at(2), "/api/v1/users/me", &ann), 200);
    let (status, _) = post_json(at(0), "/api/v1/logout", Some(&ann), &json!({}));
    assert_eq!(status, 204);
    for i in 0..3 {
        assert_eq!(get(at(i), "/api/v1/users/me", &ann), 401, "replica {i}");
    }

    // Failed logins spread across the replicas are counted as one: five, then 429.
    sign_up(at(1), "bob@example.com");
    for i in 0..5 {
        assert_eq!(login(at(i), "bob@example.com", "wrong-password").0, 401);
    }
    for i in 0..3 {
        let (status, body) = login(at(i), "bob@example.com", "replica-password");
        assert_eq!(status, 429, "replica {i}: {body}");
    }

    // 40 buyers for 10 units, spread across the replicas: exactly 10 orders.
    let admin = token(at(0), "admin@example.com", "admin-password-123");
    let (status, product) = post_json(
        at(1),
        "/api/v1/products",
        Some(&admin),
        &json!({"name": "Last ones", "price": "9.99", "stock": 10}),
    );
    assert_eq!(status, 201, "{product}");
    let product = product["id"].as_str().unwrap().to_owned();
    let buyers: Vec<String> = (0..40)
        .map(|i| {
            let email = format!("buyer{i}@example.com");
            sign_up(at(i), &email);
            token(at(i + 1), &email, "replica-password")
        })
        .collect();
    let addrs: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.1.clone()).collect());
    let orders: Vec<_> = buyers
        .into_iter()
        .enumerate()
        .map(|(i, buyer)| {
            let addrs = Arc::clone(&addrs);
            let product = product.clone();
            std::thread::spawn(move || {
                let items = json!({"items": [{"product_id": product, "quantity": 1}]});
                post_json(&addrs[i % 3], "/api/v1/orders", Some(&buyer), &items).0
            })
        })
        .collect();
    let statuses: Vec<u16> = orders.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 30);
    let (status, _, left) = http(at(2), &format!("GET /api/v1/products/{product}"), &[], b"");
    assert_eq!(status, 200);
    assert_eq!(left["stock"], 0);
    drop(replicas);
}
