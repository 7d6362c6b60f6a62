//! Sessions and refresh tokens (API.md v1.1), over HTTP, on every database.

use base64::Engine as _;
use mercado_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Reply, TestApp, conformance, spawn_app, spawn_app_with,
    spawn_replicas, unique_email, unique_password,
};
use serde_json::{Value, json};

conformance!(
    a_login_opens_a_session_with_a_refresh_token,
    a_refresh_rotates_and_a_spent_token_ends_the_session,
    of_parallel_refreshes_with_one_token_exactly_one_succeeds,
    sessions_are_listed_newest_first_and_ended_one_or_all,
    logout_ends_the_session_and_its_refresh_token,
    a_password_change_ends_the_other_sessions,
    deactivation_ends_every_session,
    an_expired_refresh_token_is_refused,
    malformed_refresh_requests_are_named,
    ending_a_session_reaches_every_replica,
);

/// A fresh user's email and password, signed up.
async fn account(app: &TestApp) -> (String, String) {
    let (email, password) = (unique_email(), unique_password());
    app.sign_up(&email, &password).await;
    (email, password)
}

/// The access and refresh tokens of a token answer.
fn pair(body: &Value) -> (String, String) {
    let text = |key: &str| {
        body[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {body}"))
            .to_owned()
    };
    (text("access_token"), text("refresh_token"))
}

/// The claims of a JWT, unverified.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

async fn a_login_opens_a_session_with_a_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    let reply = app
        .login_from(&email, &password, "mercado-test/1 (\tbell)")
        .await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.expect(200);
    let (access, refresh) = pair(&body);
    assert_eq!(body["refresh_expires_in"], 1_209_600);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(refresh.len(), 43, "256 bits in URL-safe base64");
    assert!(
        refresh
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let sid = claims(&access)["sid"]
        .as_str()
        .expect("a sid claim")
        .to_owned();
    let sessions = app.sessions(&access).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(session["id"], sid.as_str());
    assert_eq!(session["current"], true);
    assert_eq!(session["user_agent"], "mercado-test/1 (bell)");
    assert_eq!(session["created_at"], session["last_used_at"]);
    let keys: Vec<&String> = session.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
}

async fn a_refresh_rotates_and_a_spent_token_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    let (access, first) = pair(&app.login_from(&email, &password, "one").await.expect(200));
    let reply = app.refresh(&first).await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let (renewed, second) = pair(&reply.expect(200));
    assert_ne!(second, first, "a new refresh token each time");
    assert_eq!(
        claims(&renewed)["sid"],
        claims(&access)["sid"],
        "the same session"
    );
    let sessions = app.sessions(&renewed).await;
    assert_eq!(sessions.len(), 1);
    assert_ne!(
        sessions[0]["last_used_at"], sessions[0]["created_at"],
        "a refresh uses it"
    );
    let (_, third) = pair(&app.refresh(&second).await.expect(200));

    // The first token again: somebody holds a copy, so the whole session ends.
    app.refresh(&first).await.problem(401);
    app.refresh(&third).await.problem(401);
    app.get("/api/v1/users/me", Some(&renewed))
        .await
        .problem(401);
    app.get("/api/v1/users/me", Some(&access))
        .await
        .problem(401);
    // Other sessions of the user are untouched.
    let other = app.login(&email, &password).await;
    assert_eq!(app.sessions(&other).await.len(), 1);
}

async fn of_parallel_refreshes_with_one_token_exactly_one_succeeds(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    for _ in 0..3 {
        let (_, refresh) = pair(&app.login_from(&email, &password, "burst").await.expect(200));
        let replies: Vec<Reply> =
            futures_util::future::join_all((0..8).map(|_| app.refresh(&refresh))).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(
            statuses.iter().filter(|&&s| s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|&s| s == 200 || s == 401),
            "{statuses:?}"
        );
    }
}

async fn sessions_are_listed_newest_first_and_ended_one_or_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    let (laptop, _) = pair(
        &app.login_from(&email, &password, "laptop")
            .await
            .expect(200),
    );
    let (phone, phone_refresh) =
        pair(&app.login_from(&email, &password, "phone").await.expect(200));
    let (tablet, _) = pair(
        &app.login_from(&email, &password, "tablet")
            .await
            .expect(200),
    );
    let listed = app.sessions(&phone).await;
    let agents: Vec<&str> = listed
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["tablet", "phone", "laptop"]);
    let current: Vec<bool> = listed
        .iter()
        .map(|s| s["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current, [false, true, false]);

    // Another user cannot see or end them.
    let (stranger, _) = app.new_user().await;
    let laptop_id = listed[2]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/me/sessions/{laptop_id}");
    app.delete(&path, Some(&stranger)).await.problem(404);
    app.get("/api/v1/users/me", Some(&laptop)).await.expect(200);

    assert_eq!(app.delete(&path, Some(&phone)).await.status, 204);
    app.get("/api/v1/users/me", Some(&laptop))
        .await
        .problem(401);
    app.delete(&path, Some(&phone)).await.problem(404);
    assert_eq!(app.sessions(&phone).await.len(), 2);

    assert_eq!(
        app.delete("/api/v1/users/me/sessions", Some(&tablet))
            .await
            .status,
        204
    );
    for token in [&phone, &tablet] {
        app.get("/api/v1/users/me", Some(token)).await.problem(401);
    }
    app.refresh(&phone_refresh).await.problem(401);
    app.get("/api/v1/users/me", Some(&stranger))
        .await
        .expect(200);
}

async fn logout_ends_the_session_and_its_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    let (access, refresh) = pair(&app.login_from(&email, &password, "a").await.expect(200));
    let (kept, _) = pair(&app.login_from(&email, &password, "b").await.expect(200));
    assert_eq!(app.logout(&access).await.status, 204);
    app.get("/api/v1/users/me", Some(&access))
        .await
        .problem(401);
    app.refresh(&refresh).await.problem(401);
    let left = app.sessions(&kept).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["user_agent"], "b");
}

async fn a_password_change_ends_the_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    let (here, here_refresh) = pair(&app.login_from(&email, &password, "here").await.expect(200));
    let (there, there_refresh) =
        pair(&app.login_from(&email, &password, "there").await.expect(200));
    let change = json!({"password": unique_password(), "current_password": password});
    app.patch("/api/v1/users/me", Some(&here), &change)
        .await
        .expect(200);
    app.get("/api/v1/users/me", Some(&there)).await.problem(401);
    app.refresh(&there_refresh).await.problem(401);
    app.get("/api/v1/users/me", Some(&here)).await.expect(200);
    app.refresh(&here_refresh).await.expect(200);
}

async fn deactivation_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (email, password) = account(&app).await;
    let (access, refresh) = pair(&app.login_from(&email, &password, "x").await.expect(200));
    let id = app.get("/api/v1/users/me", Some(&access)).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/users/{id}");
    app.patch(&path, Some(&admin), &json!({"is_active": false}))
        .await
        .expect(200);
    app.get("/api/v1/users/me", Some(&access))
        .await
        .problem(403);
    app.refresh(&refresh).await.problem(401);
    // Reactivated, the old session stays over: a new login is needed.
    app.patch(&path, Some(&admin), &json!({"is_active": true}))
        .await
        .expect(200);
    app.refresh(&refresh).await.problem(401);
    app.get("/api/v1/users/me", Some(&access))
        .await
        .problem(401);
    app.login(&email, &password).await;
}

async fn an_expired_refresh_token_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.refresh_ttl_seconds = 3_600).await;
    let body = app.login_raw(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(200);
    assert_eq!(body["refresh_expires_in"], 3_600);
    let (access, refresh) = pair(&body);
    app.clock.advance(time::Duration::minutes(59));
    let (renewed, refresh) = pair(&app.refresh(&refresh).await.expect(200));
    // Each refresh gives the session as long again.
    app.clock.advance(time::Duration::minutes(59));
    let (_, refresh) = pair(&app.refresh(&refresh).await.expect(200));
    app.clock.advance(time::Duration::minutes(61));
    app.refresh(&refresh).await.problem(401);
    // The session expired with it: its access tokens no longer act either.
    app.get("/api/v1/users/me", Some(&access))
        .await
        .problem(401);
    app.get("/api/v1/users/me", Some(&renewed))
        .await
        .problem(401);
    assert!(
        app.sessions(&app.admin().await).await.len() == 1,
        "only the new login is live"
    );
}

async fn malformed_refresh_requests_are_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let form = |body: &'static str| {
        app.send_raw(
            reqwest::Method::POST,
            "/api/v1/login/token",
            None,
            "application/x-www-form-urlencoded",
            body,
        )
    };
    let missing = form("grant_type=refresh_token").await.faults();
    assert_eq!(
        missing,
        [("refresh_token".to_owned(), "is required".to_owned())]
    );
    let unknown = form("grant_type=client_credentials").await.faults();
    assert_eq!(
        unknown,
        [(
            "grant_type".to_owned(),
            "must be password or refresh_token".to_owned()
        )]
    );
    for token in ["x", "%00%01", &"a".repeat(43), &"é".repeat(300)] {
        let reply = app.refresh(token).await;
        assert_eq!(reply.status.as_u16(), 401, "{token:?}: {:?}", reply.body);
        assert_eq!(reply.body["type"], "urn:mercado:problem:unauthenticated");
    }
}

async fn ending_a_session_reaches_every_replica(backend: Backend) {
    let replicas = spawn_replicas(backend, 2).await;
    let (a, b) = (&replicas[0], &replicas[1]);
    let (email, password) = account(a).await;
    let (access, refresh) = pair(&a.login_from(&email, &password, "r").await.expect(200));
    b.get("/api/v1/users/me", Some(&access)).await.expect(200);
    let (renewed, _) = pair(&b.refresh(&refresh).await.expect(200));
    assert_eq!(b.logout(&renewed).await.status, 204);
    a.get("/api/v1/users/me", Some(&renewed)).await.problem(401);
    a.get("/api/v1/users/me", Some(&access)).await.problem(401);
}
