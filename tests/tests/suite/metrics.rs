//! `GET /metrics` on every database: requests counted by operation and status, the
//! outbox backlog and job queue read from the store, and a switch to turn it off.

use mercado_tests::{Backend, TestApp, conformance, spawn_app_with};
use reqwest::Method;

conformance!(
    metrics_count_requests_and_read_the_backlogs,
    metrics_can_be_turned_off,
);

async fn scrape(app: &TestApp) -> (u16, String, String) {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn has(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

async fn metrics_count_requests_and_read_the_backlogs(backend: Backend) {
    // No worker: the events and the job stay where the gauges can count them.
    let app = spawn_app_with(backend, |s| s.run_worker = false).await;
    let admin = app.admin().await;
    app.new_user().await;
    let unknown = "/api/v1/products/0190f1a2-0000-7000-8000-000000000000";
    app.get(unknown, None).await.problem(404);
    app.get("/no/such/path", None).await.problem(404);
    app.send_raw(
        Method::POST,
        "/api/v1/products/import",
        Some(&admin),
        "text/csv",
        "name,description,price,stock\nTea,,1.00,1\n",
    )
    .await
    .expect(202);

    let (status, content_type, text) = scrape(&app).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for line in [
        "mercado_http_requests_total{operation=\"signUp\",status=\"201\"} 1",
        "mercado_http_requests_total{operation=\"readProduct\",status=\"404\"} 1",
        "mercado_http_requests_total{operation=\"none\",status=\"404\"} 1",
        "mercado_http_requests_total{operation=\"importProducts\",status=\"202\"} 1",
        "mercado_http_request_duration_seconds_count{operation=\"signUp\"} 1",
        "mercado_db_up 1",
        // The first superuser's welcome and the new user's.
        "mercado_outbox_backlog 2",
        "mercado_jobs_waiting 1",
        "mercado_password_hashes_in_flight 0",
    ] {
        assert!(has(&text, line), "{line} in\n{text}");
    }
    assert!(
        text.contains("mercado_db_connections{state=\"idle\"}"),
        "{text}"
    );
    assert!(
        text.contains("mercado_db_connections{state=\"in_use\"}"),
        "{text}"
    );
    // The scrape itself is counted, by the next scrape.
    let (_, _, again) = scrape(&app).await;
    assert!(
        has(
            &again,
            "mercado_http_requests_total{operation=\"none\",status=\"200\"} 1"
        ),
        "{again}"
    );
}

async fn metrics_can_be_turned_off(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.metrics = false).await;
    let (status, _, _) = scrape(&app).await;
    assert_eq!(status, 404);
}
