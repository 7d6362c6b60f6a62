//! Idempotency keys: claimed by one INSERT (or a conditional take-over), answered by the
//! change itself inside its transaction.

use mercado_core::StoreError;
use mercado_core::domain::{KeyClaim, RecordedAnswer, Recording, RequestHash};
use mercado_core::ports::{IdempotencyRepository, KeyState, PK_IDEMPOTENCY_KEYS};
use time::OffsetDateTime;

use super::{SqlStore, TxError, refuse};
use crate::{Executor, Kind, Row, Transaction, Value};

columns! {
    /// A key as a later request reads it.
    pub(crate) enum KeyRow { request_hash: Text, status: Int, body: Text, location: Text }
}

/// A claim can be lost three ways between the statements that make it (inserted by
/// another, then released or forgotten before it is read): a few rounds settle it.
const CLAIM_ROUNDS: usize = 3;

impl<E: Executor> SqlStore<E> {
    /// Records `recording`'s answer for `value` in `tx`, the change's own transaction, and
    /// commits. When the claim is no longer this request's, the change is rolled back and
    /// refused as a conflict on the key, so nothing is done without its answer.
    pub(super) async fn commit_recording<T, D: From<StoreError>>(
        &self,
        mut tx: E::Tx,
        recording: Option<&Recording<'_, T>>,
        value: &T,
    ) -> Result<(), TxError<D>> {
        if let Some(recording) = recording {
            let answer = (recording.answer)(value);
            let params = answer_params(recording.claim, &answer);
            if tx.execute(&self.st.record_answer, &params).await? != 1 {
                let taken_over = StoreError::Conflict {
                    constraint: PK_IDEMPOTENCY_KEYS.to_owned(),
                };
                return refuse(tx, taken_over.into()).await;
            }
        }
        Ok(tx.commit().await?)
    }
}

fn answer_params(claim: &KeyClaim, answer: &RecordedAnswer) -> [Value; 5] {
    [
        Value::Int(answer.status.into()),
        answer.body.as_str().into(),
        Value::opt(answer.location.as_deref().map(Value::from), Kind::Text),
        claim.key.as_str().into(),
        Value::Uuid(claim.id),
    ]
}

fn key_state(row: &Row) -> Result<KeyState, StoreError> {
    let request = RequestHash::from_stored(row.text(KeyRow::request_hash)?);
    let answer = match row.opt_int(KeyRow::status)? {
        None => None,
        Some(status) => Some(RecordedAnswer {
            status: u16::try_from(status)
                .map_err(|e| StoreError::Corrupt(format!("answer status {status}: {e}").into()))?,
            body: row.text(KeyRow::body)?,
            location: row.opt_text(KeyRow::location)?,
        }),
    };
    Ok(KeyState::Held { request, answer })
}

impl<E: Executor> IdempotencyRepository for SqlStore<E> {
    async fn claim_key(
        &self,
        claim: &KeyClaim,
        request: &RequestHash,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<KeyState, StoreError> {
        let st = &self.st;
        let key = Value::from(claim.key.as_str());
        let insert = [
            key.clone(),
            request.as_str().into(),
            Value::Uuid(claim.id),
            lease_until.into(),
            now.into(),
        ];
        let take_over = [
            request.as_str().into(),
            Value::Uuid(claim.id),
            lease_until.into(),
            now.into(),
            key.clone(),
            forget_before.into(),
            now.into(),
            request.as_str().into(),
        ];
        for _ in 0..CLAIM_ROUNDS {
            match self.execute(&st.insert_key, &insert).await {
                Ok(_) => return Ok(KeyState::Claimed),
                Err(e) if st.dialect.violates_primary_key(&e, PK_IDEMPOTENCY_KEYS) => {}
                Err(e) => return Err(e),
            }
            if self.execute(&st.take_over_key, &take_over).await? == 1 {
                return Ok(KeyState::Claimed);
            }
            if let Some(row) = self
                .fetch_optional(&st.key_by_hash, std::slice::from_ref(&key), KeyRow::KINDS)
                .await?
            {
                return key_state(&row);
            }
        }
        Err(StoreError::Other(
            "an idempotency key kept changing hands while it was claimed".into(),
        ))
    }

    async fn settle_key(
        &self,
        claim: &KeyClaim,
        answer: Option<&RecordedAnswer>,
    ) -> Result<(), StoreError> {
        if let Some(answer) = answer {
            self.execute(&self.st.record_answer, &answer_params(claim, answer))
                .await?;
        } else {
            let params = [claim.key.as_str().into(), Value::Uuid(claim.id)];
            self.execute(&self.st.release_key, &params).await?;
        }
        Ok(())
    }

    async fn purge_keys(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.execute(&self.st.purge_keys, &[before.into()]).await
    }
}
