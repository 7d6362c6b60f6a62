//! Product imports as background jobs, on every database: 202 + Location, progress and
//! per-row errors through `GET /jobs/{id}`, good rows imported, a second import of the
//! same file adding nothing twice; checks before anything is queued.

use mercado_tests::{Backend, TestApp, conformance, spawn_app};
use reqwest::Method;
use serde_json::Value;

conformance!(
    an_import_reports_bad_rows_imports_the_rest_and_adds_nothing_twice,
    imports_are_for_superusers_and_checked_before_queueing,
);

const FILE: &str = "name,description,price,stock\n\
Green tea,Loose leaf,4.50,20\n\
Bad price,,4.555,1\n\
\"Mug, large\",\"Holds \"\"a lot\"\"\",12.00,5\n\
Too few,fields\n\
Kettle,,30,2\n";

async fn import(app: &TestApp, token: &str, csv: &str) -> mercado_tests::Reply {
    app.send_raw(
        Method::POST,
        "/api/v1/products/import",
        Some(token),
        "text/csv",
        csv.to_owned(),
    )
    .await
}

/// Polls the job until it is no longer queued or running.
async fn finished(app: &TestApp, token: &str, location: &str) -> Value {
    for _ in 0..300 {
        let job = app.get(location, Some(token)).await.expect(200);
        if !matches!(job["status"].as_str(), Some("queued" | "running")) {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the job did not finish within 30 s");
}

async fn products_named(app: &TestApp, name: &str) -> usize {
    let path = format!("/api/v1/products?q={}&limit=100", name.replace(' ', "%20"));
    let items = app.items(&path, None).await;
    items.iter().filter(|p| p["name"] == name).count()
}

async fn an_import_reports_bad_rows_imports_the_rest_and_adds_nothing_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let reply = import(&app, &admin, FILE).await;
    let location = reply.header("location").expect("a Location").to_owned();
    let queued = reply.expect(202);
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["kind"], "product_import");
    assert_eq!(
        location,
        format!("/api/v1/jobs/{}", queued["id"].as_str().unwrap())
    );

    let job = finished(&app, &admin, &location).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], serde_json::json!({"done": 5, "total": 5}));
    let errors = job["errors"].as_array().unwrap();
    let rows: Vec<u64> = errors.iter().map(|e| e["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [2, 4], "{job}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("price: ")
    );
    assert!(errors[1]["message"].as_str().unwrap().contains("4 fields"));
    for name in ["Green tea", "Mug, large", "Kettle"] {
        assert_eq!(products_named(&app, name).await, 1, "{name}");
    }
    let mug = app.get("/api/v1/products?q=mug", None).await.expect(200);
    assert_eq!(mug["items"][0]["description"], "Holds \"a lot\"");
    assert_eq!(mug["items"][0]["price"], "12.00");

    // The same file again: every good row is already there.
    let again = import(&app, &admin, FILE).await;
    let location = again.header("location").unwrap().to_owned();
    again.expect(202);
    let job = finished(&app, &admin, &location).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    for name in ["Green tea", "Mug, large", "Kettle"] {
        assert_eq!(products_named(&app, name).await, 1, "{name}");
    }
}

async fn imports_are_for_superusers_and_checked_before_queueing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (user, _) = app.new_user().await;
    import(&app, &user, FILE).await.problem(403);
    let wrong = import(&app, &admin, "title,price\nTea,1.00\n")
        .await
        .problem(422);
    assert!(
        wrong["detail"].as_str().unwrap().contains("header")
            || wrong.to_string().contains("header"),
        "{wrong}"
    );
    let bytes: Vec<u8> = [IMPORT_HEADER_BYTES, b"Tea,,1.00,1\n\xff\xfe,,1.00,1\n"].concat();
    app.send_raw(
        Method::POST,
        "/api/v1/products/import",
        Some(&admin),
        "text/csv",
        bytes,
    )
    .await
    .problem(422);
    app.send_raw(
        Method::POST,
        "/api/v1/products/import",
        Some(&admin),
        "application/json",
        "{}",
    )
    .await
    .problem(415);
    let unknown = format!("/api/v1/jobs/{}", uuid::Uuid::now_v7());
    app.get(&unknown, Some(&admin)).await.problem(404);
    app.get(&unknown, Some(&user)).await.problem(403);
    app.get(&unknown, None).await.problem(401);
}

const IMPORT_HEADER_BYTES: &[u8] = b"name,description,price,stock\n";
