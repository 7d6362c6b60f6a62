//! The outbox (events claimed, settled) and the log of mails sent for them.

use mercado_core::StoreError;
use mercado_core::domain::UserId;
use mercado_core::events::{DomainEvent, Event};
use mercado_core::ports::{Claim, ClaimedEvent, MailLog, OutboxRepository, PARKED};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqlStore, TxError};
use crate::{Executor, Row, Transaction, Value};

impl<E: Executor> SqlStore<E> {
    async fn claim_once(&self, claim: &Claim) -> Result<Vec<ClaimedEvent>, TxError<StoreError>> {
        let st = &self.st;
        let limit = i64::try_from(claim.limit).unwrap_or(i64::MAX);
        let mut tx = self.exec.begin().await?;
        let rows = tx
            .fetch(
                &st.claim_events,
                &[claim.now.into(), limit.into()],
                OutboxRow::KINDS,
            )
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let (id, payload, occurred_at, attempts) = outbox_row(row).map_err(TxError::Domain)?;
            let taken = [
                Value::Uuid(claim.claimer),
                claim.until.into(),
                Value::Uuid(id),
                claim.now.into(),
            ];
            // Another claimer took it since the read: it is theirs.
            if tx.execute(&st.take_event, &taken).await? != 1 {
                continue;
            }
            match serde_json::from_str::<DomainEvent>(&payload) {
                Ok(payload) => claimed.push(ClaimedEvent {
                    event: Event {
                        id,
                        occurred_at,
                        payload,
                    },
                    attempts: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
                }),
                Err(e) => {
                    tracing::error!(event = %id, error = %e, "outbox payload unreadable; parked");
                    let parked = [
                        PARKED.into(),
                        format!("unreadable payload: {e}").into(),
                        Value::Uuid(id),
                        Value::Uuid(claim.claimer),
                    ];
                    tx.execute(&st.retry_event, &parked).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }
}

impl<E: Executor> OutboxRepository for SqlStore<E> {
    async fn claim_events(&self, claim: &Claim) -> Result<Vec<ClaimedEvent>, StoreError> {
        self.retrying(|| self.claim_once(claim)).await
    }

    async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        let attempt = async {
            let mut tx = self.exec.begin().await?;
            self.insert_events(&mut tx, std::slice::from_ref(event))
                .await?;
            tx.commit().await
        };
        attempt.await.map_err(|e| self.err(e))
    }

    async fn complete_event(
        &self,
        id: Uuid,
        claimer: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let params = [now.into(), Value::Uuid(id), Value::Uuid(claimer)];
        Ok(self.execute(&self.st.complete_event, &params).await? == 1)
    }

    async fn retry_event(
        &self,
        id: Uuid,
        claimer: Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let params = [
            retry_at.into(),
            error.into(),
            Value::Uuid(id),
            Value::Uuid(claimer),
        ];
        Ok(self.execute(&self.st.retry_event, &params).await? == 1)
    }
}

impl<E: Executor> MailLog for SqlStore<E> {
    async fn was_mailed(&self, event: Uuid, user: UserId) -> Result<bool, StoreError> {
        let params = [Value::Uuid(event), Value::Uuid(user.as_uuid())];
        Ok(self.count(&self.st.was_mailed, &params).await? > 0)
    }

    async fn record_mail(
        &self,
        event: Uuid,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let params = [Value::Uuid(event), Value::Uuid(user.as_uuid()), at.into()];
        match self.execute(&self.st.record_mail, &params).await {
            // Two deliveries of one event raced: it is recorded, which is what was asked.
            Err(e) if self.st.dialect.violates_primary_key(&e, "pk_sent_mails") => Ok(()),
            other => other.map(drop),
        }
    }
}

columns! {
    /// The columns of an outbox row a claim reads.
    pub(crate) enum OutboxRow {
        id: Uuid,
        payload: Text,
        occurred_at: Time,
        attempts: Int,
    }
}

fn outbox_row(row: &Row) -> Result<(Uuid, String, OffsetDateTime, i64), StoreError> {
    Ok((
        row.uuid(OutboxRow::id)?,
        row.text(OutboxRow::payload)?,
        row.time(OutboxRow::occurred_at)?,
        row.int(OutboxRow::attempts)?,
    ))
}
