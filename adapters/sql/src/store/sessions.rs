//! Sessions: opened at login, renewed by rotating refresh tokens, ended by logout, by the
//! user, by a password change or deactivation, or by a refresh token used twice.

use mercado_core::StoreError;
use mercado_core::domain::{Session, SessionId, TokenHash, User, UserId};
use mercado_core::events::Event;
use mercado_core::password::PasswordHash;
use mercado_core::ports::{Rotation, SessionRepository};
use time::OffsetDateTime;

use super::users::{UserRow, user};
use super::{SqlStore, TxError};
use crate::{Executor, Kind, Row, Transaction, Value};

columns! {
    /// The columns of `sessions` a read decodes and an insert writes (`ended_at` aside).
    pub(crate) enum SessionRow {
        id: Uuid,
        user_id: Uuid,
        created_at: Time,
        last_used_at: Time,
        expires_at: Time,
        user_agent: Text,
    }
}

fn session(row: &Row) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId::from_uuid(row.uuid(SessionRow::id)?),
        user_id: UserId::from_uuid(row.uuid(SessionRow::user_id)?),
        created_at: row.time(SessionRow::created_at)?,
        last_used_at: row.time(SessionRow::last_used_at)?,
        expires_at: row.time(SessionRow::expires_at)?,
        user_agent: row.opt_text(SessionRow::user_agent)?,
    })
}

impl<E: Executor> SqlStore<E> {
    async fn rotate_once(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Rotation, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        let params = [
            now.into(),
            presented.as_str().into(),
            now.into(),
            now.into(),
        ];
        let spent = tx.execute(&st.spend_refresh_token, &params).await? == 1;
        let rows = tx
            .fetch(
                &st.refresh_token_by_hash,
                &[presented.as_str().into()],
                &[Kind::Uuid, Kind::Time],
            )
            .await?;
        let Some(row) = rows.first() else {
            tx.rollback().await?;
            return Ok(Rotation::Invalid);
        };
        let session_id = row.uuid(0).map_err(TxError::Domain)?;
        let session = Value::Uuid(session_id);
        if !spent {
            // Spent before (by this client's earlier refresh, or by whoever holds a copy):
            // the session cannot tell them apart, so it ends.
            let outcome = if row.opt_time(1).map_err(TxError::Domain)?.is_some() {
                tx.execute(&st.end_session, &[now.into(), session]).await?;
                Rotation::Reused
            } else {
                Rotation::Invalid
            };
            tx.commit().await?;
            return Ok(outcome);
        }
        let insert = [next.as_str().into(), session.clone(), expires_at.into()];
        tx.execute(&st.insert_refresh_token, &insert).await?;
        let touch = [now.into(), expires_at.into(), session.clone()];
        tx.execute(&st.touch_session, &touch).await?;
        let users = tx
            .fetch(&st.user_of_session, &[session], UserRow::KINDS)
            .await?;
        let user = users
            .first()
            .map(user)
            .transpose()
            .map_err(TxError::Domain)?
            .ok_or_else(|| {
                TxError::Domain(StoreError::Corrupt("a session without its user".into()))
            })?;
        tx.commit().await?;
        Ok(Rotation::Rotated {
            session: SessionId::from_uuid(session_id),
            user,
        })
    }

    async fn change_password_once(
        &self,
        user: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, TxError<StoreError>> {
        let mut tx = self.exec.begin().await?;
        if !self
            .set_password_in(&mut tx, user, hash, keep, now, event)
            .await?
        {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Inside `tx`: sets `user`'s password hash, ends their live sessions but `keep` and
    /// records `event`; whether the user exists (nothing else is written when not).
    pub(super) async fn set_password_in(
        &self,
        tx: &mut E::Tx,
        user: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, crate::DbError> {
        let st = &self.st;
        let id = Value::Uuid(user.as_uuid());
        let set = [hash.as_str().into(), now.into(), id.clone()];
        if tx.execute(&st.set_password_hash, &set).await? == 0 {
            return Ok(false);
        }
        end_sessions(tx, st, id, keep, now).await?;
        self.insert_events(tx, std::slice::from_ref(event)).await?;
        Ok(true)
    }
}

async fn end_sessions<T: Transaction>(
    tx: &mut T,
    st: &crate::statements::Statements,
    user: Value,
    keep: Option<SessionId>,
    now: OffsetDateTime,
) -> Result<u64, crate::DbError> {
    match keep {
        Some(keep) => {
            let params = [now.into(), user, Value::Uuid(keep.as_uuid())];
            tx.execute(&st.end_other_sessions, &params).await
        }
        None => {
            tx.execute(&st.end_sessions_of_user, &[now.into(), user])
                .await
        }
    }
}

impl<E: Executor> SessionRepository for SqlStore<E> {
    async fn open_session(&self, s: &Session, refresh: &TokenHash) -> Result<(), StoreError> {
        let session = [
            Value::Uuid(s.id.as_uuid()),
            Value::Uuid(s.user_id.as_uuid()),
            s.created_at.into(),
            s.last_used_at.into(),
            s.expires_at.into(),
            Value::opt(s.user_agent.as_deref().map(Into::into), Kind::Text),
        ];
        let token = [
            refresh.as_str().into(),
            Value::Uuid(s.id.as_uuid()),
            s.expires_at.into(),
        ];
        let attempt = async {
            let mut tx = self.exec.begin().await?;
            tx.execute(&self.st.insert_session, &session).await?;
            tx.execute(&self.st.insert_refresh_token, &token).await?;
            tx.commit().await
        };
        attempt.await.map_err(|e| self.err(e))
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        self.retrying(|| self.rotate_once(presented, next, now, expires_at))
            .await
    }

    async fn user_in_session(
        &self,
        user_id: UserId,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<(User, bool)>, StoreError> {
        let params = [
            Value::Uuid(session.as_uuid()),
            now.into(),
            Value::Uuid(user_id.as_uuid()),
        ];
        let mut kinds = UserRow::KINDS.to_vec();
        kinds.push(Kind::Int);
        let row = self
            .fetch_optional(&self.st.user_in_session, &params, &kinds)
            .await?;
        row.as_ref()
            .map(|row| Ok((user(row)?, row.int(UserRow::KINDS.len())? > 0)))
            .transpose()
    }

    async fn live_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>, StoreError> {
        let params = [Value::Uuid(user.as_uuid()), now.into()];
        let rows = self
            .fetch(&self.st.live_sessions, &params, SessionRow::KINDS)
            .await?;
        rows.iter().map(session).collect()
    }

    async fn end_session(
        &self,
        user: UserId,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let params = [
            now.into(),
            Value::Uuid(session.as_uuid()),
            Value::Uuid(user.as_uuid()),
            now.into(),
        ];
        Ok(self.execute(&self.st.end_session_of_user, &params).await? == 1)
    }

    async fn end_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let attempt = async {
            let mut tx = self.exec.begin().await?;
            let ended =
                end_sessions(&mut tx, &self.st, Value::Uuid(user.as_uuid()), keep, now).await?;
            tx.commit().await?;
            Ok(ended)
        };
        attempt.await.map_err(|e| self.err(e))
    }

    async fn change_password(
        &self,
        user: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, StoreError> {
        self.retrying(|| self.change_password_once(user, hash, keep, now, event))
            .await
    }

    async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let st = &self.st;
        let twice = [before.into(), before.into()];
        let attempt = async {
            let mut tx = self.exec.begin().await?;
            let tokens = tx.execute(&st.purge_refresh_tokens, &twice).await?;
            let sessions = tx.execute(&st.purge_sessions, &twice).await?;
            let one_time = tx.execute(&st.purge_one_time_tokens, &twice).await?;
            let revoked = tx
                .execute(&st.purge_revoked_tokens, &[before.into()])
                .await?;
            tx.commit().await?;
            Ok(tokens + sessions + one_time + revoked)
        };
        attempt.await.map_err(|e| self.err(e))
    }
}
