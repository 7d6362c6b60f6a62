//! [`AnyStore`]: the store of whichever database `DATABASE_URL` names, a variant per
//! adapter compiled in, generated from the [`databases!`](crate::databases) table.

use mercado_core::domain::{
    Email, KeyClaim, Page, Paged, RecordedAnswer, Recording, RequestHash, TokenHash, TokenPurpose,
    User, UserId, UserPatch,
};
use mercado_core::events::Event;
use mercado_core::password::PasswordHash;
use mercado_core::ports::{
    ClaimedEvent, IdempotencyRepository, KeyState, MailLog, OneTimeTokenRepository,
    OutboxRepository, UserRepository,
};
use mercado_core::{StoreError, ports::Claim};
use mercado_sql::SqlStore;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::settings::Settings;
use crate::startup::StartupError;

/// `AnyStore`, its `open` and the `with_store!` dispatch, from the table.
macro_rules! any_store {
    ([$d:tt] $($variant:ident ($module:ident) {
        feature: $feature:literal, dialect: $dialect:ident, schemes: $schemes:tt,
        executor: $executor:path, connect: $connect:path $(,)?
    }),+ $(,)?) => {
        /// A store of whichever database the URL named.
        #[derive(Debug, Clone)]
        pub enum AnyStore {
            $(
                #[doc = concat!("The `", $feature, "` adapter's store.")]
                #[cfg(feature = $feature)]
                $variant(SqlStore<$executor>),
            )+
        }

        /// Runs `$body` with `$s` bound to the concrete store inside an [`AnyStore`].
        macro_rules! with_store {
            ($d store:expr, $d s:ident => $d body:expr) => {
                match $d store {
                    $(
                        #[cfg(feature = $feature)]
                        AnyStore::$variant($d s) => $d body,
                    )+
                }
            };
        }

        impl AnyStore {
            /// Opens the store `settings.database_url` names (without migrating).
            ///
            /// # Errors
            /// [`StartupError`] for an unknown or not compiled-in scheme, or a failed
            /// connection.
            pub async fn open(settings: &Settings) -> Result<Self, StartupError> {
                let url = settings.database_url.as_str();
                let scheme = crate::databases::scheme_of(url);
                let feature = crate::databases::feature_for(&scheme)
                    .ok_or_else(|| StartupError::UnknownScheme(scheme.clone()))?;
                match feature {
                    $(
                        #[cfg(feature = $feature)]
                        $feature => {
                            let exec = $connect(url, settings.db_max_connections)
                                .await
                                .map_err(|e| StartupError::Connect(e.into()))?;
                            Ok(Self::$variant(SqlStore::new(exec)))
                        }
                    )+
                    _ => Err(StartupError::FeatureMissing { scheme, feature }),
                }
            }
        }
    };
}
crate::databases!(any_store, $);
pub(crate) use with_store;

impl AnyStore {
    /// Applies pending migrations; returns how many.
    ///
    /// # Errors
    /// [`StartupError::Migrate`].
    pub async fn migrate(&self) -> Result<usize, StartupError> {
        Ok(with_store!(self, s => mercado_sql::migrate(s.executor()).await?))
    }

    /// Closes the pools.
    pub async fn close(&self) {
        with_store!(self, s => s.executor().close().await);
    }
}
/// The outbox of whichever database, for workers and tests that hold an [`AnyStore`].
impl OutboxRepository for AnyStore {
    async fn claim_events(&self, claim: &Claim) -> Result<Vec<ClaimedEvent>, StoreError> {
        with_store!(self, s => s.claim_events(claim).await)
    }

    async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        with_store!(self, s => s.record_event(event).await)
    }

    async fn complete_event(
        &self,
        id: Uuid,
        claimer: Uuid,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        with_store!(self, s => s.complete_event(id, claimer, now).await)
    }

    async fn retry_event(
        &self,
        id: Uuid,
        claimer: Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        with_store!(self, s => s.retry_event(id, claimer, retry_at, error).await)
    }
}

/// Users of whichever database: what the [`mercado_core::notify::Notifier`] reads, for
/// embedders and tests that hold an [`AnyStore`].
impl UserRepository for AnyStore {
    async fn insert_user(
        &self,
        user: &User,
        events: &[Event],
        record: Option<&Recording<'_, User>>,
    ) -> Result<(), StoreError> {
        with_store!(self, s => s.insert_user(user, events, record).await)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        with_store!(self, s => s.user_by_id(id).await)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        with_store!(self, s => s.user_by_email(email).await)
    }

    async fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        with_store!(self, s => s.update_user(id, patch, now).await)
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        with_store!(self, s => s.set_password_hash(id, hash, now).await)
    }

    async fn list_users(&self, page: Page) -> Result<Paged<User>, StoreError> {
        with_store!(self, s => s.list_users(page).await)
    }

    async fn active_superusers(&self) -> Result<Vec<User>, StoreError> {
        with_store!(self, s => s.active_superusers().await)
    }
}

/// One-time tokens on whichever database: what the notifier makes for links in mails.
impl OneTimeTokenRepository for AnyStore {
    async fn mint_token(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        with_store!(self, s => s.mint_token(user, purpose, hash, expires_at).await)
    }

    async fn token_owner(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        with_store!(self, s => s.token_owner(purpose, hash, now).await)
    }

    async fn reset_password(
        &self,
        token: &TokenHash,
        user: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
        event: &Event,
    ) -> Result<bool, StoreError> {
        with_store!(self, s => s.reset_password(token, user, hash, now, event).await)
    }

    async fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        with_store!(self, s => s.verify_email(token, now).await)
    }

    async fn replace_token(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        event: &Event,
    ) -> Result<(), StoreError> {
        with_store!(self, s => s.replace_token(user, purpose, event).await)
    }
}

/// Idempotency keys on whichever database: what the worker purges, and what tests claim.
impl IdempotencyRepository for AnyStore {
    async fn claim_key(
        &self,
        claim: &KeyClaim,
        request: &RequestHash,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> Result<KeyState, StoreError> {
        with_store!(self, s => s.claim_key(claim, request, now, lease_until, forget_before).await)
    }

    async fn settle_key(
        &self,
        claim: &KeyClaim,
        answer: Option<&RecordedAnswer>,
    ) -> Result<(), StoreError> {
        with_store!(self, s => s.settle_key(claim, answer).await)
    }

    async fn purge_keys(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        with_store!(self, s => s.purge_keys(before).await)
    }
}

/// Which mails went out, on whichever database.
impl MailLog for AnyStore {
    async fn was_mailed(&self, event: Uuid, user: UserId) -> Result<bool, StoreError> {
        with_store!(self, s => s.was_mailed(event, user).await)
    }

    async fn record_mail(
        &self,
        event: Uuid,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        with_store!(self, s => s.record_mail(event, user, at).await)
    }
}
