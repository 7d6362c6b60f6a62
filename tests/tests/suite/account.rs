//! Password recovery and email verification (API.md v1.1), over HTTP, on every database:
//! links arrive by mail (the file mailer), work once, only the newest works, and expire.

use mercado_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, conformance, spawn_app, spawn_app_with,
    unique_email, unique_password,
};
use serde_json::json;

conformance!(
    recovery_answers_alike_whether_or_not_the_address_has_an_account,
    the_newest_reset_link_sets_the_password_once_and_ends_every_session,
    expired_reset_and_verification_links_are_refused,
    recovery_requests_are_throttled_per_address,
    reset_and_verification_inputs_are_named,
    of_parallel_resets_with_one_link_exactly_one_succeeds,
    the_sign_up_mail_verifies_the_address_once,
    a_new_verification_link_replaces_the_old_one,
    unverified_users_cannot_order_when_verification_is_required,
);

const RESET: &str = "reset-password";
const VERIFY: &str = "verify-email";

async fn account(app: &TestApp) -> (String, String) {
    let (email, password) = (unique_email(), unique_password());
    app.sign_up(&email, &password).await;
    (email, password)
}

async fn recover(app: &TestApp, email: &str) -> mercado_tests::Reply {
    app.post("/api/v1/password-recovery", None, &json!({"email": email}))
        .await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> mercado_tests::Reply {
    let body = json!({"token": token, "new_password": password});
    app.post("/api/v1/password-reset", None, &body).await
}

async fn recovery_answers_alike_whether_or_not_the_address_has_an_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let (known, _) = account(&app).await;
    let unknown = unique_email();
    let known_reply = recover(&app, &known).await;
    let unknown_reply = recover(&app, &unknown).await;
    assert_eq!(known_reply.status.as_u16(), 202);
    assert_eq!(unknown_reply.status.as_u16(), 202);
    assert_eq!(known_reply.body, unknown_reply.body);
    assert_eq!(
        known_reply.header("content-length"),
        unknown_reply.header("content-length")
    );
    app.mailed_token(&known, RESET, 0).await;
    // The worker had the unknown address's event too, and mailed nobody for it.
    assert!(app.mails_to(&unknown).is_empty());
}

async fn the_newest_reset_link_sets_the_password_once_and_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    let body = app.login_from(&email, &password, "old").await.expect(200);
    let (access, refresh) = (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    );
    recover(&app, &email).await.expect(202);
    let first = app.mailed_token(&email, RESET, 0).await;
    recover(&app, &email).await.expect(202);
    let second = app.mailed_token(&email, RESET, 1).await;
    assert_ne!(first, second);

    let new_password = unique_password();
    let stale = reset(&app, &first, &new_password).await.faults();
    assert_eq!(
        stale,
        [(
            "token".to_owned(),
            "is unknown, expired or already used".to_owned()
        )]
    );
    assert_eq!(
        reset(&app, &second, &new_password).await.status.as_u16(),
        204
    );
    reset(&app, &second, &unique_password()).await.problem(422);

    app.get("/api/v1/users/me", Some(&access))
        .await
        .problem(401);
    app.refresh(&refresh).await.problem(401);
    app.login_raw(&email, &password).await.problem(401);
    app.login(&email, &new_password).await;
    let changed =
        wait_for_subject(&app, &email, "Subject: Your Mercado password was changed").await;
    assert!(changed.contains("was just changed"), "{changed}");
}

async fn wait_for_subject(app: &TestApp, to: &str, subject: &str) -> String {
    for _ in 0..300 {
        if let Some((_, mail)) = app
            .mails_to(to)
            .into_iter()
            .find(|(_, m)| m.contains(subject))
        {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail {subject:?} to {to} within 15 s");
}

async fn expired_reset_and_verification_links_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    recover(&app, &email).await.expect(202);
    let token = app.mailed_token(&email, RESET, 0).await;
    app.clock.advance(time::Duration::minutes(61));
    reset(&app, &token, &unique_password()).await.problem(422);
    app.login(&email, &password).await;
    // A verification link lives two days.
    let verify = app.mailed_token(&email, VERIFY, 0).await;
    app.clock.advance(time::Duration::hours(48));
    let expired = app
        .post(
            "/api/v1/users/verify-email",
            None,
            &json!({"token": verify}),
        )
        .await;
    expired.problem(422);
}

async fn recovery_requests_are_throttled_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login_max_failures = 3;
        s.login_window_seconds = 60;
    })
    .await;
    let (email, _) = account(&app).await;
    for _ in 0..3 {
        recover(&app, &email).await.expect(202);
    }
    let refused = recover(&app, &email).await;
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    refused.problem(429);
    // Unknown addresses count alike, and the login throttle is another counter.
    let unknown = unique_email();
    for _ in 0..3 {
        recover(&app, &unknown).await.expect(202);
    }
    recover(&app, &unknown).await.problem(429);
    recover(&app, &unique_email()).await.expect(202);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

async fn reset_and_verification_inputs_are_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let faults = |reply: mercado_tests::Reply| reply.faults();
    assert_eq!(faults(recover(&app, "not-an-email").await)[0].0, "email");
    let short = faults(reset(&app, &"a".repeat(43), "short").await);
    assert_eq!(short[0].0, "new_password", "{short:?}");
    for token in ["", "x", &"a".repeat(43), &"é".repeat(100)] {
        let reply = reset(&app, token, &unique_password()).await;
        assert_eq!(reply.status.as_u16(), 422, "{token:?}: {:?}", reply.body);
        assert_eq!(reply.faults()[0].0, "token", "{token:?}");
        let reply = app
            .post("/api/v1/users/verify-email", None, &json!({"token": token}))
            .await;
        assert_eq!(reply.faults()[0].0, "token", "{token:?}");
    }
    let unknown_field = app
        .post(
            "/api/v1/password-recovery",
            None,
            &json!({"email": unique_email(), "x": 1}),
        )
        .await;
    assert_eq!(unknown_field.status.as_u16(), 422);
}

async fn of_parallel_resets_with_one_link_exactly_one_succeeds(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, _) = account(&app).await;
    recover(&app, &email).await.expect(202);
    let token = app.mailed_token(&email, RESET, 0).await;
    let passwords: Vec<String> = (0..6).map(|_| unique_password()).collect();
    let replies =
        futures_util::future::join_all(passwords.iter().map(|p| reset(&app, &token, p))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 204 || s == 422),
        "{statuses:?}"
    );
    let winner = &passwords[statuses.iter().position(|&s| s == 204).unwrap()];
    app.login(&email, winner).await;
}

async fn the_sign_up_mail_verifies_the_address_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let me = app.get("/api/v1/users/me", Some(&admin)).await.expect(200);
    assert_eq!(me["email_verified"], true, "first superusers are verified");
    let (email, password) = account(&app).await;
    let token = app.mailed_token(&email, VERIFY, 0).await;
    let verify = |token: String| {
        let app = &app;
        async move {
            app.post("/api/v1/users/verify-email", None, &json!({"token": token}))
                .await
        }
    };
    let user = verify(token.clone()).await.expect(200);
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["email_verified"], true);
    verify(token).await.problem(422);
    let access = app.login(&email, &password).await;
    let me = app.get("/api/v1/users/me", Some(&access)).await.expect(200);
    assert_eq!(me["email_verified"], true);
    let again = app
        .post("/api/v1/users/me/verification", Some(&access), &json!({}))
        .await;
    assert_eq!(
        again.problem(409)["type"],
        "urn:mercado:problem:already-verified"
    );
}

async fn a_new_verification_link_replaces_the_old_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (email, password) = account(&app).await;
    let old = app.mailed_token(&email, VERIFY, 0).await;
    let access = app.login(&email, &password).await;
    let asked = app
        .send(
            reqwest::Method::POST,
            "/api/v1/users/me/verification",
            Some(&access),
            None,
        )
        .await;
    assert_eq!(asked.status.as_u16(), 202, "{:?}", asked.body);
    let new = app.mailed_token(&email, VERIFY, 1).await;
    verify_with(&app, &old).await.problem(422);
    assert_eq!(
        verify_with(&app, &new).await.expect(200)["email_verified"],
        true
    );
}

async fn verify_with(app: &TestApp, token: &str) -> mercado_tests::Reply {
    app.post("/api/v1/users/verify-email", None, &json!({"token": token}))
        .await
}

async fn unverified_users_cannot_order_when_verification_is_required(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.require_verified_email = true).await;
    let admin = app.admin().await;
    let product = app.product_id(&admin, "Verified tea", "2.00", 10).await;
    let (email, password) = account(&app).await;
    let access = app.login(&email, &password).await;
    let refused = app.order(&access, &[(&product, 1)]).await.problem(403);
    assert_eq!(refused["type"], "urn:mercado:problem:email-unverified");
    assert_eq!(app.stock(&product).await, 10, "nothing taken");
    let token = app.mailed_token(&email, VERIFY, 0).await;
    app.post("/api/v1/users/verify-email", None, &json!({"token": token}))
        .await
        .expect(200);
    app.order(&access, &[(&product, 1)]).await.expect(201);
    app.order(&admin, &[(&product, 1)]).await.expect(201);
}
