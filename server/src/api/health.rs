//! Liveness and readiness.

use std::sync::Arc;

use mercado_core::ports::Store;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{ApiTags, State};
use crate::problem::Problem;
use mercado_worker::Health;

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
    /// `ok` when the message broker answers; absent when events go through the database.
    #[oai(skip_serializing_if_is_none)]
    broker: Option<String>,
    /// Present when the worker this process runs is not working: `stuck` when one of its
    /// loops has not moved for longer than a lease, `stopped` when it has ended. Mail and
    /// imports wait meanwhile, but requests are served all the same, so readiness stays
    /// 200 (`mercado_worker_up` in `/metrics` says the same).
    #[oai(skip_serializing_if_is_none)]
    worker: Option<String>,
}

/// How long the broker may take to answer a readiness check.
const BROKER_CHECK: std::time::Duration = std::time::Duration::from_secs(3);

#[OpenApi(tag = "ApiTags::Health")]
impl<S: Store> HealthApi<S> {
    /// Liveness: 200 while the process runs.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    #[allow(clippy::unused_async)] // poem-openapi operations are async.
    async fn health(&self) -> Json<HealthOut> {
        Json(HealthOut {
            status: "ok".into(),
        })
    }

    /// Readiness: 200 when the database (and the message broker, when one is configured)
    /// answers, 503 when not.
    #[oai(path = "/health/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> Result<Json<ReadyOut>, Problem> {
        self.0.queries.ready().await?;
        let broker = match &self.0.broker {
            None => None,
            Some(broker) => match tokio::time::timeout(BROKER_CHECK, broker.check()).await {
                Ok(Ok(())) => Some("ok".into()),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "readiness: broker down");
                    return Err(Problem::broker_unavailable());
                }
                Err(_) => {
                    tracing::warn!("readiness: broker did not answer in time");
                    return Err(Problem::broker_unavailable());
                }
            },
        };
        let worker = self.0.worker.as_ref().and_then(|w| {
            let health = w.health();
            (health != Health::Running).then(|| {
                tracing::warn!(worker = health.as_str(), silent = ?w.silence(), "readiness: the worker is not working");
                health.as_str().to_owned()
            })
        });
        Ok(Json(ReadyOut {
            status: "ready".into(),
            database: "ok".into(),
            broker,
            worker,
        }))
    }
}
