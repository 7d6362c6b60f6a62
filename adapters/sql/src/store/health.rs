//! Store health: reachability and the gauges `/metrics` reports.

use mercado_core::StoreError;
use mercado_core::domain::JobStatus;
use mercado_core::ports::{Gauges, StoreHealth};

use super::SqlStore;
use crate::{Executor, Kind, Value};

impl<E: Executor> StoreHealth for SqlStore<E> {
    async fn ping(&self) -> Result<(), StoreError> {
        // No columns decoded: `SELECT 1` is a different integer type per database.
        self.fetch(&self.st.ping, &[], &[]).await.map(drop)
    }

    async fn gauges(&self) -> Result<Gauges, StoreError> {
        let waiting = [
            Value::Text(JobStatus::Queued.as_str().into()),
            Value::Text(JobStatus::Running.as_str().into()),
        ];
        let row = self
            .fetch_optional(&self.st.gauges, &waiting, &[Kind::Int, Kind::Int])
            .await?
            .ok_or_else(|| StoreError::Corrupt("COUNT returned no row".into()))?;
        let count = |i| row.int(i).map(|n| u64::try_from(n).unwrap_or_default());
        let pool = self.exec.pool_status();
        Ok(Gauges {
            outbox_backlog: count(0)?,
            jobs_waiting: count(1)?,
            connections_in_use: pool.in_use,
            connections_idle: pool.idle,
        })
    }
}
