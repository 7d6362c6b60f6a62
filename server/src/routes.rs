//! The routes of one server: the API, its completed OpenAPI document and Swagger UI,
//! `/metrics` when enabled, and the edge middleware around them all.

use std::sync::Arc;

use mercado_core::ports::Store;
use poem::endpoint::{BoxEndpoint, make_sync};
use poem::middleware::CatchPanic;
use poem::web::{Html, Redirect};
use poem::{EndpointExt, IntoResponse, Response, Route, get};

use crate::api::document;
use crate::api::validation::Operations;
use crate::api::{self, State};
use crate::metrics::Metrics;
use crate::middleware::Edge;
use crate::problem::Problem;

/// Every route over one store's state; `metrics` when the settings enable them.
pub(crate) fn routes<S: Store>(
    state: Arc<State<S>>,
    max_body_bytes: usize,
    metrics: Option<Arc<Metrics>>,
) -> BoxEndpoint<'static, Response> {
    let tokens = state.tokens.clone();
    let edge_tokens = tokens.clone();
    let queries = state.queries.clone();
    let worker = state.worker.clone();
    let broker = state.broker.clone();
    let api = api::service(state);
    let generated = api.spec();
    let document = document::complete(&generated);
    let operations = Arc::new(Operations::from_document(&document));
    // Swagger UI embeds the document; give it the completed one.
    let docs_html = api.swagger_ui_html().replacen(&generated, &document, 1);
    let spec = make_sync(move |_| {
        Response::builder()
            .content_type("application/json")
            .body(document.clone())
    });
    let mut route = Route::new();
    if let Some(metrics) = &metrics {
        let metrics = metrics.clone();
        route = route.at(
            "/metrics",
            get(poem::endpoint::make(move |_| {
                let (metrics, queries, worker) = (metrics.clone(), queries.clone(), worker.clone());
                let broker = broker.clone();
                async move {
                    let store = queries
                        .gauges()
                        .await
                        .inspect_err(|error| tracing::warn!(%error, "metrics: store gauges unread"))
                        .ok();
                    let backlog = match broker {
                        Some(broker) => broker.backlog().await,
                        None => None,
                    };
                    let hashes = queries.hashes_in_flight();
                    Response::builder()
                        .content_type(crate::metrics::CONTENT_TYPE)
                        .body(metrics.render(store, hashes, worker.as_deref(), backlog))
                }
            })),
        );
    }
    route
        .at("/openapi.json", get(spec))
        .at("/docs", get(make_sync(move |_| Html(docs_html.clone()))))
        .at("/docs/", get(make_sync(|_| Redirect::permanent("/docs"))))
        // Browsers ask for it on every page; nothing, for a day, rather than a 404.
        .at(
            "/favicon.ico",
            get(make_sync(|_| {
                Response::builder()
                    .status(poem::http::StatusCode::NO_CONTENT)
                    .header("cache-control", "max-age=86400")
                    .finish()
            })),
        )
        .nest("/", api)
        .data(tokens)
        .with(CatchPanic::new().with_handler(|_| {
            tracing::error!("a handler panicked");
            Problem::new(
                poem::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an unexpected error occurred",
            )
            .into_response()
        }))
        .with(Edge {
            max_body_bytes,
            operations,
            tokens: edge_tokens,
            metrics,
        })
        .boxed()
}
