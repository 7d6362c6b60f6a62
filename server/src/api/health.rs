//! Liveness and readiness.

use std::sync::Arc;

use mercado_core::ports::Store;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{ApiTags, State};
use crate::problem::Problem;

pub struct HealthApi<S>(pub Arc<State<S>>);

/// The process is running.
#[derive(Debug, Object)]
#[oai(rename = "Health")]
struct HealthOut {
    /// Always `ok`.
    status: String,
}

/// The server can serve requests.
#[derive(Debug, Object)]
#[oai(rename = "Readiness")]
struct ReadyOut {
    /// `ready`.
    status: String,
    /// `ok` when the database answers.
    database: String,
}

#[OpenApi(tag = "ApiTags::Health")]
impl<S: Store> HealthApi<S> {
    /// Liveness: 200 while the process runs.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<HealthOut> {
        Json(HealthOut {
            status: "ok".into(),
        })
    }

    /// Readiness: 200 when the database answers, 503 when it does not.
    #[oai(path = "/health/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> Result<Json<ReadyOut>, Problem> {
        self.0.queries.ready().await?;
        Ok(Json(ReadyOut {
            status: "ready".into(),
            database: "ok".into(),
        }))
    }
}
