//! Authentication: revoked tokens and the login throttle.

use mercado_core::StoreError;
use mercado_core::domain::TokenId;
use mercado_core::ports::{Admission, AuthRepository};
use time::OffsetDateTime;

use super::SqlStore;
use crate::{Executor, Kind, Value};

impl<E: Executor> AuthRepository for SqlStore<E> {
    async fn revoke_token(
        &self,
        id: TokenId,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        match self
            .execute(
                &self.st.revoke_token,
                &[Value::Uuid(id.as_uuid()), expires_at.into()],
            )
            .await
        {
            // Revoked twice at once: it is revoked, which is what was asked.
            Err(e)
                if self
                    .st
                    .dialect
                    .violates_primary_key(&e, "pk_revoked_tokens") =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    async fn is_token_revoked(&self, id: TokenId) -> Result<bool, StoreError> {
        Ok(self
            .count(&self.st.is_token_revoked, &[Value::Uuid(id.as_uuid())])
            .await?
            > 0)
    }

    async fn admit_login(
        &self,
        login: &str,
        now: OffsetDateTime,
        since: OffsetDateTime,
        max: i64,
    ) -> Result<Admission, StoreError> {
        let st = &self.st;
        let admit = [
            since.into(),
            since.into(),
            now.into(),
            login.into(),
            since.into(),
            Value::Int(max),
        ];
        let open = [login.into(), now.into(), login.into()];
        // Twice at most: a window opened (or cleared) by a parallel attempt between the
        // two statements is counted in on the second round.
        for _ in 0..2 {
            if self.execute(&st.admit_login, &admit).await? == 1 {
                return Ok(Admission::Admitted);
            }
            match self.execute(&st.open_login_window, &open).await {
                Ok(1) => {
                    // A new login name: forget the windows that have passed, so the table
                    // stays as small as the logins of one window. Not on refused attempts.
                    self.execute(&st.purge_login_windows, &[since.into()])
                        .await?;
                    return Ok(Admission::Admitted);
                }
                Ok(_) | Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let rows = self
            .fetch(&st.login_window_start, &[login.into()], &[Kind::Time])
            .await?;
        let window_start = rows.first().map(|r| r.time(0)).transpose()?.unwrap_or(now);
        Ok(Admission::Throttled { window_start })
    }

    async fn clear_login_failures(&self, login: &str) -> Result<(), StoreError> {
        self.execute(&self.st.clear_login_failures, &[login.into()])
            .await
            .map(drop)
    }
}
