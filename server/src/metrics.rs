//! Metrics for Prometheus (`GET /metrics`, OpenMetrics text): requests by operation and
//! status with their latency, observed by the edge middleware; and gauges read when
//! scraped: the store's connections and backlogs, password hashes running, and how the
//! worker this process runs is doing.

use std::time::Duration;

use mercado_core::ports::Gauges;

use crate::api::BrokerBacklog;

use mercado_worker::{Health, Liveness};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of the rendered text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a request is counted under: its operation id (`none` off the API: docs, unknown
/// paths) and status. Both come from short fixed sets, so the series stay few.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Latency buckets: 0.5 ms doubling to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric of one process.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    connections: Family<StateLabels, Gauge>,
    store_up: Gauge,
    outbox_backlog: Gauge,
    jobs_waiting: Gauge,
    hashes_in_flight: Gauge,
    worker_up: Gauge,
    worker_silence: Gauge<f64, std::sync::atomic::AtomicU64>,
    worker_restarts: Counter,
    broker_backlog: Family<StateLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mercado");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by operation and status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response, by operation",
            latency.clone(),
        );
        let connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Pooled database connections, in use or idle",
            connections.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        Self {
            store_up: gauge(
                &mut registry,
                "db_up",
                "1 when the database answered this scrape",
            ),
            outbox_backlog: gauge(
                &mut registry,
                "outbox_backlog",
                "Events recorded and not yet delivered (parked ones included)",
            ),
            jobs_waiting: gauge(
                &mut registry,
                "jobs_waiting",
                "Background jobs queued or running",
            ),
            hashes_in_flight: gauge(
                &mut registry,
                "password_hashes_in_flight",
                "Password hashes and verifications running now",
            ),
            worker_up: gauge(
                &mut registry,
                "worker_up",
                "1 while this process's worker runs and each of its loops beat within a lease; \
                 0 when it is stuck or stopped, or this process runs no worker",
            ),
            worker_silence: {
                let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
                registry.register(
                    "worker_silence_seconds",
                    "Seconds since the least recent beat among the worker's loops",
                    gauge.clone(),
                );
                gauge
            },
            broker_backlog: {
                let family = Family::<StateLabels, Gauge>::default();
                registry.register(
                    "broker_backlog",
                    "Events in the broker (Redis Streams), by state: waiting to be read, \
                     pending (read, not yet settled), dead",
                    family.clone(),
                );
                family
            },
            worker_restarts: {
                let counter = Counter::default();
                registry.register(
                    "worker_restarts",
                    "Worker loop rounds started again after a panic",
                    counter.clone(),
                );
                counter
            },
            registry,
            requests,
            latency,
            connections,
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe(&self, operation: Option<&'static str>, status: u16, elapsed: Duration) {
        let operation = operation.unwrap_or("none");
        self.requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        self.latency
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    /// The text to serve, with the gauges as given (`None`: the store did not answer; no
    /// worker in this process).
    pub fn render(
        &self,
        store: Option<Gauges>,
        hashes_in_flight: usize,
        worker: Option<&Liveness>,
        broker: Option<BrokerBacklog>,
    ) -> String {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.store_up.set(i64::from(store.is_some()));
        if let Some(store) = store {
            self.outbox_backlog.set(gauge(store.outbox_backlog));
            self.jobs_waiting.set(gauge(store.jobs_waiting));
            for (state, n) in [
                ("in_use", store.connections_in_use),
                ("idle", store.connections_idle),
            ] {
                self.connections
                    .get_or_create(&StateLabels { state })
                    .set(n.into());
            }
        }
        self.hashes_in_flight
            .set(gauge(hashes_in_flight.try_into().unwrap_or(u64::MAX)));
        if let Some(worker) = worker {
            self.worker_up
                .set(i64::from(worker.health() == Health::Running));
            self.worker_silence.set(worker.silence().as_secs_f64());
            let restarts = worker.restarts();
            self.worker_restarts
                .inc_by(restarts.saturating_sub(self.worker_restarts.get()));
        }
        if let Some(backlog) = broker {
            for (state, n) in [
                ("waiting", backlog.waiting),
                ("pending", backlog.pending),
                ("dead", backlog.dead),
            ] {
                self.broker_backlog
                    .get_or_create(&StateLabels { state })
                    .set(gauge(n));
            }
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_operation_and_status_and_gauges_rendered() {
        let metrics = Metrics::default();
        metrics.observe(Some("get_product"), 200, Duration::from_millis(3));
        metrics.observe(Some("get_product"), 200, Duration::from_millis(1));
        metrics.observe(None, 404, Duration::from_micros(200));
        let store = Gauges {
            outbox_backlog: 7,
            jobs_waiting: 2,
            connections_in_use: 1,
            connections_idle: 3,
        };
        let worker = Liveness::new(Duration::from_mins(1));
        let broker = BrokerBacklog {
            waiting: 4,
            pending: 1,
            dead: 0,
        };
        let text = metrics.render(Some(store), 1, Some(&worker), Some(broker));
        for line in [
            "mercado_http_requests_total{operation=\"get_product\",status=\"200\"} 2",
            "mercado_http_requests_total{operation=\"none\",status=\"404\"} 1",
            "mercado_http_request_duration_seconds_count{operation=\"get_product\"} 2",
            "mercado_db_connections{state=\"in_use\"} 1",
            "mercado_db_connections{state=\"idle\"} 3",
            "mercado_db_up 1",
            "mercado_outbox_backlog 7",
            "mercado_jobs_waiting 2",
            "mercado_password_hashes_in_flight 1",
            "mercado_worker_up 1",
            "mercado_worker_restarts_total 0",
            "mercado_broker_backlog{state=\"waiting\"} 4",
            "mercado_broker_backlog{state=\"pending\"} 1",
            "mercado_broker_backlog{state=\"dead\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        assert!(
            metrics
                .render(None, 0, None, None)
                .contains("mercado_db_up 0")
        );
    }
}
