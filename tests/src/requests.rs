//! Request chains the suite repeats, one helper each, so that a test reads as what it
//! checks rather than how the contract spells a path.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Reply, TestApp};

impl TestApp {
    /// Signs up `email` with `password`; returns the user (201).
    pub async fn sign_up(&self, email: &str, password: &str) -> Value {
        let body = json!({"email": email, "password": password});
        self.post("/api/v1/users", None, &body).await.expect(201)
    }

    /// The password grant from a client calling itself `user_agent`; the whole answer.
    pub async fn login_from(&self, email: &str, password: &str, user_agent: &str) -> Reply {
        let request = self
            .client
            .post(self.url("/api/v1/login/token"))
            .header(reqwest::header::USER_AGENT, user_agent)
            .form(&[("username", email), ("password", password)]);
        crate::read(request.send().await.expect("the server answers")).await
    }

    /// The refresh grant with `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        let request = self.client.post(self.url("/api/v1/login/token")).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]);
        crate::read(request.send().await.expect("the server answers")).await
    }

    /// The caller's live sessions.
    pub async fn sessions(&self, token: &str) -> Vec<Value> {
        let body = self
            .get("/api/v1/users/me/sessions", Some(token))
            .await
            .expect(200);
        body.as_array().expect("a list of sessions").clone()
    }

    /// The token of the newest link to `{public URL}/{path}?token=…` mailed to `to` (as
    /// the file mailer wrote it), waiting up to 15 s for one newer than `after` tokens.
    pub async fn mailed_token(&self, to: &str, path: &str, after: usize) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let tokens = self.mailed_tokens(to, path);
            if tokens.len() > after {
                return tokens.last().expect("one at least").clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no new {path} link mailed to {to} within 15 s (had {after})"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The tokens of every link to `{public URL}/{path}?token=…` mailed to `to` so far,
    /// oldest first (mail files are named by event, and event ids grow with time).
    pub fn mailed_tokens(&self, to: &str, path: &str) -> Vec<String> {
        let mut tokens: Vec<(String, String)> = self
            .mails_to(to)
            .into_iter()
            .filter_map(|(name, mail)| Some((name, crate::smtp::link_token(&mail, path)?)))
            .collect();
        tokens.sort();
        tokens.into_iter().map(|(_, token)| token).collect()
    }

    /// Every mail the file mailer wrote to `to`, by file name, quoted-printable undone.
    pub fn mails_to(&self, to: &str) -> Vec<(String, String)> {
        let dir = self.scratch.dir.path().join("mail");
        let header = format!("<{to}>");
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                let text = crate::smtp::unquoted(&text);
                let addressed = text.lines().any(|l| {
                    l.starts_with("To: ") && (l.ends_with(&header) || l == format!("To: {to}"))
                });
                addressed.then(|| (e.file_name().to_string_lossy().into_owned(), text))
            })
            .collect()
    }

    /// Logs `token` out.
    pub async fn logout(&self, token: &str) -> Reply {
        self.send(Method::POST, "/api/v1/logout", Some(token), None)
            .await
    }

    /// Creates a product as `admin`; returns its id.
    pub async fn product_id(&self, admin: &str, name: &str, price: &str, stock: i64) -> String {
        let product = self.product(admin, name, price, stock).await;
        product["id"].as_str().expect("a product id").to_owned()
    }

    /// A product's stock, as the API reads it.
    pub async fn stock(&self, product_id: &str) -> i64 {
        let product = self
            .get(&format!("/api/v1/products/{product_id}"), None)
            .await
            .expect(200);
        product["stock"].as_i64().expect("a stock")
    }

    /// Reads an order.
    pub async fn read_order(&self, token: Option<&str>, order_id: &str) -> Reply {
        self.get(&format!("/api/v1/orders/{order_id}"), token).await
    }

    /// Cancels an order.
    pub async fn cancel(&self, token: &str, order_id: &str) -> Reply {
        let path = format!("/api/v1/orders/{order_id}/cancel");
        self.send(Method::POST, &path, Some(token), None).await
    }

    /// The items of a list's page (200).
    pub async fn items(&self, path: &str, token: Option<&str>) -> Vec<Value> {
        let mut page = self.get(path, token).await.expect(200);
        match page["items"].take() {
            Value::Array(items) => items,
            other => panic!("a page's items: {other}"),
        }
    }

    /// How many items a list has in all (200).
    pub async fn total(&self, path: &str, token: Option<&str>) -> i64 {
        let page = self.get(path, token).await.expect(200);
        page["total"].as_i64().expect("a page's total")
    }
}

impl Reply {
    /// Asserts a 422 problem; returns its `errors` as (field, message) pairs, in order.
    #[track_caller]
    pub fn faults(self) -> Vec<(String, String)> {
        Self::faults_in(&self.problem(422))
    }

    /// A problem's `errors` as (field, message) pairs, in order, for a test that reads
    /// more of the problem.
    pub fn faults_in(problem: &Value) -> Vec<(String, String)> {
        problem["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {problem}"))
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap().to_owned(),
                    e["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}
