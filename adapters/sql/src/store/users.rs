//! Users: accounts, their profile and password hash.

use mercado_core::StoreError;
use mercado_core::domain::{Email, FullName, Page, Paged, Recording, User, UserId, UserPatch};
use mercado_core::events::Event;
use mercado_core::password::PasswordHash;
use mercado_core::ports::UserRepository;
use time::OffsetDateTime;

use super::{SqlStore, TxError, corrupt};
use crate::{Executor, Kind, Row, Transaction, Value};

impl<E: Executor> SqlStore<E> {
    async fn update_user_once(
        &self,
        id: UserId,
        patch: &UserPatch,
        now: OffsetDateTime,
    ) -> Result<Option<User>, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        let rows = tx
            .fetch(
                &st.user_by_id_for_update,
                &[Value::Uuid(id.as_uuid())],
                UserRow::KINDS,
            )
            .await?;
        let Some(row) = rows.first() else {
            tx.rollback().await?;
            return Ok(None);
        };
        let mut user = user(row).map_err(TxError::Domain)?;
        if let Some(full_name) = &patch.full_name {
            user.full_name = full_name.clone();
        }
        user.is_active = patch.is_active.unwrap_or(user.is_active);
        user.is_superuser = patch.is_superuser.unwrap_or(user.is_superuser);
        user.updated_at = now;
        let params = [
            Value::opt(
                user.full_name.as_ref().map(|n| n.as_str().into()),
                Kind::Text,
            ),
            user.is_active.into(),
            user.is_superuser.into(),
            now.into(),
            Value::Uuid(id.as_uuid()),
        ];
        tx.execute(&st.update_user, &params).await?;
        if patch.is_active == Some(false) {
            let end = [now.into(), Value::Uuid(id.as_uuid())];
            tx.execute(&st.end_sessions_of_user, &end).await?;
        }
        tx.commit().await?;
        Ok(Some(user))
    }
}

impl<E: Executor> UserRepository for SqlStore<E> {
    async fn insert_user(
        &self,
        user: &User,
        events: &[Event],
        record: Option<&Recording<'_, User>>,
    ) -> Result<(), StoreError> {
        let params = [
            Value::Uuid(user.id.as_uuid()),
            user.email.as_str().into(),
            Value::opt(
                user.full_name.as_ref().map(|n| n.as_str().into()),
                Kind::Text,
            ),
            user.password_hash.as_str().into(),
            user.is_active.into(),
            user.is_superuser.into(),
            user.email_verified.into(),
            user.created_at.into(),
            user.updated_at.into(),
        ];
        self.retrying(|| async {
            let mut tx = self.exec.begin().await?;
            tx.execute(&self.st.insert_user, &params).await?;
            self.insert_events(&mut tx, events).await?;
            self.commit_recording(tx, record, user).await
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = self
            .fetch_optional(
                &self.st.user_by_id,
                &[Value::Uuid(id.as_uuid())],
                UserRow::KINDS,
            )
            .await?;
        row.as_ref().map(user).transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let row = self
            .fetch_optional(
                &self.st.user_by_email,
                &[email.as_str().into()],
                UserRow::KINDS,
            )
            .await?;
        row.as_ref().map(user).transpose()
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        self.retrying(|| self.update_user_once(id, patch, now))
            .await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let params = [hash.as_str().into(), now.into(), Value::Uuid(id.as_uuid())];
        self.execute(&self.st.set_password_hash, &params)
            .await
            .map(drop)
    }

    async fn list_users(&self, page: Page) -> Result<Paged<User>, StoreError> {
        let total = self.count(&self.st.count_users, &[]).await?;
        let rows = self
            .fetch(&self.st.list_users, &self.paging(page), UserRow::KINDS)
            .await?;
        let items = rows.iter().map(user).collect::<Result<_, _>>()?;
        Ok(Paged { items, total, page })
    }

    async fn active_superusers(&self) -> Result<Vec<User>, StoreError> {
        let params = [Value::Bool(true), Value::Bool(true)];
        let rows = self
            .fetch(&self.st.active_superusers, &params, UserRow::KINDS)
            .await?;
        rows.iter().map(user).collect()
    }
}

columns! {
    /// The columns of `users`, as every read selects them and an insert writes them.
    pub(crate) enum UserRow {
        id: Uuid,
        email: Text,
        full_name: Text,
        password_hash: Text,
        is_active: Bool,
        is_superuser: Bool,
        email_verified: Bool,
        created_at: Time,
        updated_at: Time,
    }
}

pub(super) fn user(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(row.uuid(UserRow::id)?),
        email: Email::parse(&row.text(UserRow::email)?).map_err(|e| corrupt("email")(&e))?,
        full_name: row
            .opt_text(UserRow::full_name)?
            .map(|n| FullName::parse(&n))
            .transpose()
            .map_err(|e| corrupt("full_name")(&e))?,
        password_hash: PasswordHash::from_stored(row.text(UserRow::password_hash)?),
        is_active: row.bool(UserRow::is_active)?,
        is_superuser: row.bool(UserRow::is_superuser)?,
        email_verified: row.bool(UserRow::email_verified)?,
        created_at: row.time(UserRow::created_at)?,
        updated_at: row.time(UserRow::updated_at)?,
    })
}
