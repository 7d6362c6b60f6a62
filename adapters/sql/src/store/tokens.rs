//! One-time tokens: password reset and email verification links, by hash.

use mercado_core::StoreError;
use mercado_core::domain::{TokenHash, TokenPurpose, User, UserId};
use mercado_core::events::Event;
use mercado_core::password::PasswordHash;
use mercado_core::ports::OneTimeTokenRepository;
use time::OffsetDateTime;

use super::users::{UserRow, user};
use super::{SqlStore, TxError, refuse};
use crate::{Executor, Kind, Transaction, Value};

impl<E: Executor> SqlStore<E> {
    /// Uses a token of `purpose` inside `tx`: whether it was usable (exactly one of
    /// parallel users of one token gets `true`).
    async fn use_token(
        &self,
        tx: &mut E::Tx,
        token: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<bool, crate::DbError> {
        let params = [
            now.into(),
            token.as_str().into(),
            purpose.as_str().into(),
            now.into(),
        ];
        Ok(tx.execute(&self.st.use_token, &params).await? == 1)
    }

    async fn reset_password_once(
        &self,
        token: &TokenHash,
        owner: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, TxError<StoreError>> {
        let mut tx = self.exec.begin().await?;
        let done = self
            .use_token(&mut tx, token, TokenPurpose::Reset, now)
            .await?
            && self
                .set_password_in(&mut tx, owner, hash, None, now, event)
                .await?;
        if done {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(done)
    }

    async fn verify_email_once(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        let owner = [
            token.as_str().into(),
            TokenPurpose::Verify.as_str().into(),
            now.into(),
        ];
        let rows = tx.fetch(&st.token_owner, &owner, &[Kind::Uuid]).await?;
        let Some(owner) = rows
            .first()
            .map(|r| r.uuid(0))
            .transpose()
            .map_err(TxError::Domain)?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        if !self
            .use_token(&mut tx, token, TokenPurpose::Verify, now)
            .await?
        {
            tx.rollback().await?;
            return Ok(None);
        }
        let id = Value::Uuid(owner);
        let verify = [Value::Bool(true), now.into(), id.clone()];
        tx.execute(&st.verify_user_email, &verify).await?;
        let users = tx.fetch(&st.user_by_id, &[id], UserRow::KINDS).await?;
        let Some(row) = users.first() else {
            return refuse(tx, StoreError::Corrupt("a token without its user".into())).await;
        };
        let verified = user(row).map_err(TxError::Domain)?;
        tx.commit().await?;
        Ok(Some(verified))
    }
}

impl<E: Executor> OneTimeTokenRepository for SqlStore<E> {
    async fn mint_token(
        &self,
        owner: UserId,
        purpose: TokenPurpose,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let id = Value::Uuid(owner.as_uuid());
        let discard = [id.clone(), purpose.as_str().into()];
        let insert = [
            hash.as_str().into(),
            id,
            purpose.as_str().into(),
            expires_at.into(),
        ];
        let attempt = async {
            let mut tx = self.exec.begin().await?;
            tx.execute(&self.st.discard_unused_tokens, &discard).await?;
            tx.execute(&self.st.insert_one_time_token, &insert).await?;
            tx.commit().await
        };
        attempt.await.map_err(|e| self.err(e))
    }

    async fn token_owner(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let params = [hash.as_str().into(), purpose.as_str().into(), now.into()];
        let row = self
            .fetch_optional(&self.st.token_owner, &params, &[Kind::Uuid])
            .await?;
        Ok(row.map(|r| r.uuid(0)).transpose()?.map(UserId::from_uuid))
    }

    async fn reset_password(
        &self,
        token: &TokenHash,
        owner: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, StoreError> {
        self.retrying(|| self.reset_password_once(token, owner, hash, now, event))
            .await
    }

    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        self.retrying(|| self.verify_email_once(token, now)).await
    }

    async fn replace_token(
        &self,
        owner: UserId,
        purpose: TokenPurpose,
        event: &Event,
    ) -> Result<(), StoreError> {
        let discard = [Value::Uuid(owner.as_uuid()), purpose.as_str().into()];
        let attempt = async {
            let mut tx = self.exec.begin().await?;
            tx.execute(&self.st.discard_unused_tokens, &discard).await?;
            self.insert_events(&mut tx, std::slice::from_ref(event))
                .await?;
            tx.commit().await
        };
        attempt.await.map_err(|e| self.err(e))
    }
}
