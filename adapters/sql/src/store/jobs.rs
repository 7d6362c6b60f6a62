//! Jobs: uploaded CSV imports, their chunks, errors, leases and progress.

use mercado_core::StoreError;
use mercado_core::domain::{Job, JobError, JobId, JobKind, JobStatus};
use mercado_core::ports::{Claim, ClaimedJob, ImportBatch, JobRepository};
use time::OffsetDateTime;
use uuid::Uuid;

use super::products::product_params;
use super::{SqlStore, TxError, corrupt};
use crate::{DbError, Executor, Kind, Row, Transaction, Value};

/// Row 0 holds a job-wide error; CSV rows count from 1.
const JOB_WIDE: i64 = 0;

fn count(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

columns! {
    /// The columns of `jobs`, as every read selects them and an insert writes them.
    pub(crate) enum JobRow {
        id: Uuid,
        kind: Text,
        status: Text,
        rows_done: Int,
        rows_total: Int,
        created_at: Time,
        updated_at: Time,
        attempts: Int,
    }
}

fn job(row: &Row, errors: Vec<JobError>) -> Result<(Job, u32), StoreError> {
    let kind = row.text(JobRow::kind)?;
    let status = row.text(JobRow::status)?;
    let unsigned = |i: usize| row.int(i).map(|n| u64::try_from(n).unwrap_or(0));
    Ok((
        Job {
            id: JobId::from_uuid(row.uuid(JobRow::id)?),
            kind: JobKind::parse(&kind).ok_or_else(|| corrupt("job kind")(&kind))?,
            status: JobStatus::parse(&status).ok_or_else(|| corrupt("job status")(&status))?,
            done: unsigned(JobRow::rows_done)?,
            total: unsigned(JobRow::rows_total)?,
            errors,
            created_at: row.time(JobRow::created_at)?,
            updated_at: row.time(JobRow::updated_at)?,
        },
        u32::try_from(row.int(JobRow::attempts)?).unwrap_or(u32::MAX),
    ))
}

columns! {
    /// The columns of `job_errors` a job's reader selects.
    pub(crate) enum JobErrorRow {
        row_no: Int,
        message: Text,
    }
}

fn job_error(row: &Row) -> Result<JobError, StoreError> {
    Ok(JobError {
        row: u64::try_from(row.int(JobErrorRow::row_no)?)
            .ok()
            .filter(|n| *n > 0),
        message: row.text(JobErrorRow::message)?,
    })
}

impl<E: Executor> SqlStore<E> {
    async fn claim_job_once(
        &self,
        claim: &Claim,
    ) -> Result<Option<ClaimedJob>, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        let rows = tx
            .fetch(
                &st.claim_job,
                &[claim.now.into(), Value::Int(1)],
                JobRow::KINDS,
            )
            .await?;
        // Nothing to claim: end the transaction now, so the rows this claim locked
        // while looking are not skipped by the next one.
        let Some(row) = rows.first() else {
            tx.rollback().await?;
            return Ok(None);
        };
        let (mut job, attempts) = job(row, Vec::new()).map_err(TxError::Domain)?;
        let params = [
            Value::Uuid(claim.claimer),
            claim.until.into(),
            claim.now.into(),
            Value::Uuid(job.id.as_uuid()),
            claim.now.into(),
        ];
        // Another claimer took it since the read: it is theirs.
        if tx.execute(&st.take_job, &params).await? != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        job.status = JobStatus::Running;
        Ok(Some(ClaimedJob {
            job,
            attempts: attempts.saturating_add(1),
        }))
    }

    async fn import_batch_once(&self, b: &ImportBatch<'_>) -> Result<bool, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        for p in b.products {
            let key = [
                p.name.as_str().into(),
                Value::Money(p.price.amount().as_decimal()),
            ];
            let same = tx
                .fetch(&st.product_names_priced, &key, &[Kind::Text])
                .await?;
            if same
                .iter()
                .any(|r| r.text(0).is_ok_and(|n| n == p.name.as_str()))
            {
                continue;
            }
            tx.execute(&st.insert_product, &product_params(p)).await?;
        }
        for e in b.errors {
            let row = e.row.map_or(Value::Int(JOB_WIDE), count);
            let params = [Value::Uuid(b.job.as_uuid()), row, e.message.as_str().into()];
            tx.execute(&st.insert_job_error, &params).await?;
        }
        let params = [
            count(b.done),
            count(b.total),
            b.until.into(),
            b.now.into(),
            Value::Uuid(b.job.as_uuid()),
            Value::Uuid(b.claimer),
        ];
        // Lost the job: the batch is rolled back.
        if tx.execute(&st.job_progress, &params).await? != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}

impl<E: Executor> JobRepository for SqlStore<E> {
    async fn store_job_chunk(&self, job: JobId, seq: u64, text: &str) -> Result<(), StoreError> {
        let params = [Value::Uuid(job.as_uuid()), count(seq), text.into()];
        self.execute(&self.st.insert_job_chunk, &params)
            .await
            .map(drop)
    }

    async fn discard_job_chunks(&self, job: JobId) -> Result<(), StoreError> {
        self.execute(&self.st.delete_job_chunks, &[Value::Uuid(job.as_uuid())])
            .await
            .map(drop)
    }

    async fn queue_job(&self, j: &Job) -> Result<(), StoreError> {
        let params = [
            Value::Uuid(j.id.as_uuid()),
            j.kind.as_str().into(),
            j.status.as_str().into(),
            count(j.done),
            count(j.total),
            j.created_at.into(),
            j.updated_at.into(),
            Value::Int(0),
        ];
        self.execute(&self.st.insert_job, &params).await.map(drop)
    }

    async fn job_by_id(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let key = [Value::Uuid(id.as_uuid())];
        let Some(row) = self
            .fetch_optional(&self.st.job_by_id, &key, JobRow::KINDS)
            .await?
        else {
            return Ok(None);
        };
        let errors = self
            .fetch(&self.st.job_errors, &key, JobErrorRow::KINDS)
            .await?
            .iter()
            .map(job_error)
            .collect::<Result<_, _>>()?;
        job(&row, errors).map(|(job, _)| Some(job))
    }

    async fn claim_job(&self, claim: &Claim) -> Result<Option<ClaimedJob>, StoreError> {
        self.retrying(|| self.claim_job_once(claim)).await
    }

    async fn job_chunk(&self, job: JobId, seq: u64) -> Result<Option<String>, StoreError> {
        let params = [Value::Uuid(job.as_uuid()), count(seq)];
        self.fetch_optional(&self.st.job_chunk, &params, &[Kind::Text])
            .await?
            .map(|r| r.text(0))
            .transpose()
    }

    async fn import_batch(&self, batch: &ImportBatch<'_>) -> Result<bool, StoreError> {
        self.retrying(|| self.import_batch_once(batch)).await
    }

    async fn finish_job(
        &self,
        id: JobId,
        claimer: Uuid,
        status: JobStatus,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let st = &self.st;
        let key = Value::Uuid(id.as_uuid());
        let mut tx = self.exec.begin().await.map_err(|e| self.err(e))?;
        let done = async {
            let params = [
                status.as_str().into(),
                now.into(),
                key.clone(),
                Value::Uuid(claimer),
            ];
            if tx.execute(&st.finish_job, &params).await? != 1 {
                return Ok(false);
            }
            if let Some(message) = error {
                let params = [key.clone(), Value::Int(JOB_WIDE), message.into()];
                tx.execute(&st.insert_job_error, &params).await?;
            }
            tx.execute(&st.delete_job_chunks, std::slice::from_ref(&key))
                .await?;
            Ok::<_, DbError>(true)
        }
        .await
        .map_err(|e| self.err(e))?;
        if done {
            tx.commit().await
        } else {
            tx.rollback().await
        }
        .map_err(|e| self.err(e))?;
        Ok(done)
    }
}
