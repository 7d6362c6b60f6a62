//! Commands: every state change, with its access rules and its own error type.

use std::sync::Arc;

use time::OffsetDateTime;

use super::Context;
use crate::StoreError;
use crate::domain::{
    Actor, Email, FullName, IdempotencyKey, Job, JobId, JobKind, KEY_RETENTION, KeyClaim,
    NewProduct, NewUser, Order, OrderId, OrderLines, Password, Product, ProductId, ProductPatch,
    RecordedAnswer, Recording, RequestHash, SecretToken, Session, SessionId, TokenId, TokenPurpose,
    User, UserId, UserPatch,
};
use crate::events::{DomainEvent, Event};
use crate::password::Verification;
use crate::ports::{
    Admission, CancelOrderError, KeyState, PlaceOrder, PlaceOrderError, Rotation, Store,
};
use sha2::Digest as _;

/// The unique constraint on users' emails, the same name in every dialect.
pub const UQ_USERS_EMAIL: &str = "uq_users_email";

/// How long a running request holds its idempotency key before a retry may take it over
/// (the request died before it answered): longer than any request runs.
const KEY_LEASE: time::Duration = time::Duration::seconds(60);

/// What to do with a request that carries an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedRequest {
    /// Run it, recording its answer under this claim.
    Run(KeyClaim),
    /// It was answered: send this again.
    Replay(RecordedAnswer),
    /// The first request with this key still runs.
    Running,
    /// The key was used for a different request.
    Mismatch,
}

/// Why a sign-up failed.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    /// Another user has this email.
    #[error("email already registered")]
    EmailTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LogInError {
    /// Unknown email or wrong password: deliberately the same error.
    #[error("incorrect email or password")]
    InvalidCredentials,
    /// Right password, but the user is deactivated.
    #[error("inactive user")]
    Inactive,
    /// Too many recent failures for this email.
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the oldest counted failure leaves the window.
        retry_after_secs: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a refresh token was refused: all of them are 401 to the client.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, its session over, or its user deactivated.
    #[error("refresh token invalid or expired")]
    Invalid,
    /// Spent before: its session is ended now.
    #[error("refresh token already used; its session is ended")]
    Reused,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why ending a session failed.
#[derive(Debug, thiserror::Error)]
pub enum EndSessionError {
    /// The caller has no live session with this id.
    #[error("session not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session just opened or renewed, with the refresh token that renews it next.
#[derive(Debug)]
pub struct SessionGrant {
    /// The session.
    pub session: SessionId,
    /// Its user.
    pub user: User,
    /// The refresh token, shown to the client once.
    pub refresh_token: SecretToken,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: i64,
}

/// Why a logout failed.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user's change to their own profile. A new password always comes with the current
/// one, so the type cannot express a change without it.
#[derive(Debug, Clone, Default)]
pub struct ChangeOwnProfile {
    /// New display name, or clear it.
    pub full_name: Option<Option<FullName>>,
    /// `(new, current)` passwords.
    pub password: Option<(Password, Password)>,
}

/// Why a profile change failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateOwnProfileError {
    /// The current password given is wrong.
    #[error("current password is incorrect")]
    WrongCurrentPassword,
    /// The user vanished meanwhile.
    #[error("user not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an administrator's change to a user failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    /// The caller is not a superuser.
    #[error("superuser required")]
    Forbidden,
    /// There is no such user.
    #[error("user not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why creating a product failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateProductError {
    /// The caller is not a superuser.
    #[error("superuser required")]
    Forbidden,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an import could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The caller is not a superuser.
    #[error("superuser required")]
    Forbidden,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why changing a product failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateProductError {
    /// The caller is not a superuser.
    #[error("superuser required")]
    Forbidden,
    /// There is no such product.
    #[error("product not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why deleting a product failed.
pub type DeleteProductError = UpdateProductError;

/// Why placing an order failed, as the service reports it.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderCommandError {
    /// Orders need a verified address (`MERCADO_REQUIRE_VERIFIED_EMAIL`), and the
    /// caller's is not.
    #[error("verify your email address before placing orders")]
    EmailUnverified,
    /// The store refused or failed.
    #[error(transparent)]
    Order(#[from] PlaceOrderError),
}

/// Why a password recovery request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Too many requests for this address lately.
    #[error("too many recovery requests; retry in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a one-time token (reset or verification) was refused.
#[derive(Debug, thiserror::Error)]
pub enum OneTimeTokenError {
    /// Unknown, expired, used, or replaced by a newer one.
    #[error("is unknown, expired or already used")]
    Invalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a new verification mail was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestVerificationError {
    /// The address is verified already.
    #[error("the email address is already verified")]
    AlreadyVerified,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The write side.
pub struct Commands<S> {
    ctx: Arc<Context<S>>,
}

impl<S> Clone for Commands<S> {
    fn clone(&self) -> Self {
        Self {
            ctx: self.ctx.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Commands<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands").finish_non_exhaustive()
    }
}

impl<S: Store> Commands<S> {
    pub(super) fn new(ctx: Arc<Context<S>>) -> Self {
        Self { ctx }
    }

    fn now(&self) -> OffsetDateTime {
        self.ctx.clock.now()
    }

    /// Counts one attempt under `key` in the login window, atomically; the seconds to
    /// wait when the window is full.
    async fn throttle(&self, key: &str, now: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        let config = &self.ctx.config;
        let since = now - config.login_window;
        let admission = self
            .ctx
            .store
            .admit_login(key, now, since, config.login_max_failures)
            .await?;
        Ok(match admission {
            Admission::Admitted => None,
            Admission::Throttled { window_start } => {
                let until = window_start + config.login_window;
                Some((until - now).whole_seconds().max(1).unsigned_abs())
            }
        })
    }

    /// Signs a user up, active and never a superuser (superusers are made by
    /// [`Commands::ensure_superuser`] at start, or promoted by one), recording
    /// `UserCreated`.
    ///
    /// # Errors
    /// [`SignUpError::EmailTaken`] when the email is registered, even under a concurrent
    /// sign-up with the same email.
    pub async fn sign_up(
        &self,
        new: NewUser,
        record: Option<&Recording<'_, User>>,
    ) -> Result<User, SignUpError> {
        self.create_user(new, false, record).await
    }

    async fn create_user(
        &self,
        new: NewUser,
        is_superuser: bool,
        record: Option<&Recording<'_, User>>,
    ) -> Result<User, SignUpError> {
        let now = self.now();
        let user = User {
            id: UserId::generate(),
            email: new.email,
            full_name: new.full_name,
            password_hash: self.ctx.hasher.hash(&new.password).await,
            is_active: true,
            is_superuser,
            // Superusers are made by operators, who vouch for their address.
            email_verified: is_superuser,
            created_at: now,
            updated_at: now,
        };
        let event = Event::new(DomainEvent::user_created(user.id, &user.email), now);
        match self.ctx.store.insert_user(&user, &[event], record).await {
            Ok(()) => Ok(user),
            Err(e) if e.is_conflict_on(UQ_USERS_EMAIL) => Err(SignUpError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an active superuser unless a user with this email exists; returns whether
    /// it created one.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn ensure_superuser(
        &self,
        email: Email,
        password: Password,
    ) -> Result<bool, StoreError> {
        if self.ctx.store.user_by_email(&email).await?.is_some() {
            return Ok(false);
        }
        let new = NewUser {
            email,
            password,
            full_name: None,
        };
        match self.create_user(new, true, None).await {
            Ok(_) => Ok(true),
            Err(SignUpError::EmailTaken) => Ok(false),
            Err(SignUpError::Store(e)) => Err(e),
        }
    }

    /// Checks a login. Attempts are counted per email before any hashing, and forgotten
    /// on success; past the limit, attempts are refused. An unknown email spends one hash like a wrong password.
    /// A valid password in an older scheme, or with fewer rounds, is re-hashed.
    ///
    /// # Errors
    /// [`LogInError`].
    pub async fn log_in(&self, login: &str, password: &str) -> Result<User, LogInError> {
        let password = Password::candidate(password);
        // Only a well-formed email can ever log in, so only those are counted; anything
        // else still spends one hash, like a wrong password.
        let Ok(email) = Email::parse(login) else {
            self.ctx.hasher.verify_nothing(&password).await;
            return Err(LogInError::InvalidCredentials);
        };
        let now = self.now();
        let key = email.as_str();
        if let Some(retry_after_secs) = self.throttle(key, now).await? {
            return Err(LogInError::Throttled { retry_after_secs });
        }
        let user = self.ctx.store.user_by_email(&email).await?;
        let verification = if let Some(user) = &user {
            self.ctx.hasher.verify(&password, &user.password_hash).await
        } else {
            self.ctx.hasher.verify_nothing(&password).await;
            Verification::Invalid
        };
        // The attempt was counted when admitted: a failure needs no more writing.
        let (Some(user), Verification::Valid { needs_rehash }) = (user, verification) else {
            return Err(LogInError::InvalidCredentials);
        };
        self.ctx.store.clear_login_failures(key).await?;
        if !user.is_active {
            return Err(LogInError::Inactive);
        }
        if needs_rehash {
            let hash = self.ctx.hasher.hash(&password).await;
            self.ctx
                .store
                .set_password_hash(user.id, &hash, now)
                .await?;
        }
        Ok(user)
    }

    /// Opens a session for a user who just logged in.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn open_session(
        &self,
        user: User,
        user_agent: Option<&str>,
    ) -> Result<SessionGrant, StoreError> {
        let ttl = self.ctx.config.refresh_ttl;
        let session = Session::open(user.id, user_agent, self.now(), ttl);
        let refresh_token = SecretToken::generate();
        self.ctx
            .store
            .open_session(&session, &refresh_token.hash(TokenPurpose::Refresh))
            .await?;
        Ok(SessionGrant {
            session: session.id,
            user,
            refresh_token,
            refresh_expires_in: ttl.whole_seconds(),
        })
    }

    /// Renews a session with its refresh token, which is spent; the grant holds the next
    /// one. No password hash is computed. A token presented a second time ends its session.
    ///
    /// # Errors
    /// [`RefreshError`].
    pub async fn refresh(&self, token: &str) -> Result<SessionGrant, RefreshError> {
        let presented = SecretToken::parse(token).map_err(|_| RefreshError::Invalid)?;
        let next = SecretToken::generate();
        let now = self.now();
        let ttl = self.ctx.config.refresh_ttl;
        let rotation = self
            .ctx
            .store
            .rotate_refresh(
                &presented.hash(TokenPurpose::Refresh),
                &next.hash(TokenPurpose::Refresh),
                now,
                now + ttl,
            )
            .await?;
        match rotation {
            Rotation::Rotated { session, user } if user.is_active => Ok(SessionGrant {
                session,
                user,
                refresh_token: next,
                refresh_expires_in: ttl.whole_seconds(),
            }),
            Rotation::Rotated { .. } | Rotation::Invalid => Err(RefreshError::Invalid),
            Rotation::Reused => Err(RefreshError::Reused),
        }
    }

    /// Logs a token out: ends its session, or, for a token without one (issued before
    /// sessions existed), revokes its id until it would have expired.
    ///
    /// # Errors
    /// [`LogoutError`] when the store fails.
    pub async fn log_out(
        &self,
        actor: Actor,
        token: TokenId,
        session: Option<SessionId>,
        expires_at: OffsetDateTime,
    ) -> Result<(), LogoutError> {
        let store = &self.ctx.store;
        match session {
            Some(session) => store
                .end_session(actor.user_id(), session, self.now())
                .await
                .map(drop)?,
            None => store.revoke_token(token, expires_at).await?,
        }
        Ok(())
    }

    /// Ends one of the caller's live sessions.
    ///
    /// # Errors
    /// [`EndSessionError::NotFound`] unless the caller has a live session with this id.
    pub async fn end_session(&self, actor: Actor, id: SessionId) -> Result<(), EndSessionError> {
        if self
            .ctx
            .store
            .end_session(actor.user_id(), id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(EndSessionError::NotFound)
        }
    }

    /// Ends every session of the caller's, the current one included.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn end_all_sessions(&self, actor: Actor) -> Result<(), StoreError> {
        self.ctx
            .store
            .end_sessions(actor.user_id(), None, self.now())
            .await
            .map(drop)
    }

    /// Asks for a password reset link for `email`. The same work is done for every
    /// address (one throttle count, one outbox event, no lookup), so neither the answer nor
    /// its timing tells whether the address has an account; the worker mails an active
    /// user's address only. Counted per address like failed logins.
    ///
    /// # Errors
    /// [`RecoveryError`].
    pub async fn request_password_recovery(&self, email: &Email) -> Result<(), RecoveryError> {
        let now = self.now();
        // Its own counter per address, beside the login's: a hash keeps it short.
        let key = format!(
            "recovery:{}",
            crate::domain::hex(&sha2::Sha256::digest(email.as_str().as_bytes()))
        );
        if let Some(retry_after_secs) = self.throttle(&key, now).await? {
            return Err(RecoveryError::Throttled { retry_after_secs });
        }
        let event = DomainEvent::PasswordRecoveryRequested {
            email: email.as_str().to_owned(),
        };
        Ok(self.ctx.store.record_event(&Event::new(event, now)).await?)
    }

    /// Sets a new password with a reset link's token, which is used up; every session of
    /// the user ends and a "your password was changed" mail goes out. The password is
    /// hashed only for a token that is usable when it arrives.
    ///
    /// # Errors
    /// [`OneTimeTokenError::Invalid`] for a token that is unknown, expired, used, or not
    /// the user's newest.
    pub async fn reset_password(
        &self,
        token: &str,
        new: Password,
    ) -> Result<(), OneTimeTokenError> {
        let token = SecretToken::parse(token).map_err(|_| OneTimeTokenError::Invalid)?;
        let hash = token.hash(TokenPurpose::Reset);
        let store = &self.ctx.store;
        let owner = store
            .token_owner(TokenPurpose::Reset, &hash, self.now())
            .await?
            .ok_or(OneTimeTokenError::Invalid)?;
        let password = self.ctx.hasher.hash(&new).await;
        let now = self.now();
        let event = Event::new(DomainEvent::password_changed(owner), now);
        if store
            .reset_password(&hash, owner, &password, now, &event)
            .await?
        {
            Ok(())
        } else {
            Err(OneTimeTokenError::Invalid)
        }
    }

    /// Marks the address of a verification link's user verified; the token is used up.
    ///
    /// # Errors
    /// [`OneTimeTokenError::Invalid`] for a token that is unknown, expired, used, or not
    /// the user's newest.
    pub async fn verify_email(&self, token: &str) -> Result<User, OneTimeTokenError> {
        let token = SecretToken::parse(token).map_err(|_| OneTimeTokenError::Invalid)?;
        self.ctx
            .store
            .verify_email(&token.hash(TokenPurpose::Verify), self.now())
            .await?
            .ok_or(OneTimeTokenError::Invalid)
    }

    /// Sends the caller a new verification link; the earlier ones stop working now.
    ///
    /// # Errors
    /// [`RequestVerificationError::AlreadyVerified`] when there is nothing to verify.
    pub async fn request_verification(&self, user: &User) -> Result<(), RequestVerificationError> {
        if user.email_verified {
            return Err(RequestVerificationError::AlreadyVerified);
        }
        let event = Event::new(
            DomainEvent::VerificationRequested { user_id: user.id },
            self.now(),
        );
        Ok(self
            .ctx
            .store
            .replace_token(user.id, TokenPurpose::Verify, &event)
            .await?)
    }

    /// Changes the caller's own name and/or password (checking the current one). A new
    /// password ends every other session of the user (`session` is the caller's, kept; a
    /// token without a session keeps none).
    ///
    /// # Errors
    /// [`UpdateOwnProfileError`].
    pub async fn update_own_profile(
        &self,
        actor: Actor,
        session: Option<SessionId>,
        change: ChangeOwnProfile,
    ) -> Result<User, UpdateOwnProfileError> {
        let now = self.now();
        if let Some((new, current)) = &change.password {
            let user = self
                .ctx
                .store
                .user_by_id(actor.user_id())
                .await?
                .ok_or(UpdateOwnProfileError::NotFound)?;
            if self.ctx.hasher.verify(current, &user.password_hash).await == Verification::Invalid {
                return Err(UpdateOwnProfileError::WrongCurrentPassword);
            }
            let hash = self.ctx.hasher.hash(new).await;
            let event = Event::new(DomainEvent::password_changed(actor.user_id()), now);
            if !self
                .ctx
                .store
                .change_password(actor.user_id(), &hash, session, now, &event)
                .await?
            {
                return Err(UpdateOwnProfileError::NotFound);
            }
        }
        let patch = UserPatch {
            full_name: change.full_name,
            ..UserPatch::default()
        };
        self.ctx
            .store
            .update_user(actor.user_id(), &patch, now)
            .await?
            .ok_or(UpdateOwnProfileError::NotFound)
    }

    /// An administrator's change to any user.
    ///
    /// # Errors
    /// [`UpdateUserError`].
    pub async fn update_user(
        &self,
        actor: Actor,
        id: UserId,
        patch: UserPatch,
    ) -> Result<User, UpdateUserError> {
        actor.require_superuser()?;
        self.ctx
            .store
            .update_user(id, &patch, self.now())
            .await?
            .ok_or(UpdateUserError::NotFound)
    }

    /// Creates a product; superusers only.
    ///
    /// # Errors
    /// [`CreateProductError`].
    pub async fn create_product(
        &self,
        actor: Actor,
        new: NewProduct,
        record: Option<&Recording<'_, Product>>,
    ) -> Result<Product, CreateProductError> {
        actor.require_superuser()?;
        let product = Product::create(new, self.now());
        self.ctx.store.insert_product(&product, record).await?;
        Ok(product)
    }

    /// Starts a product import for a superuser: the upload is then stored piece by
    /// piece ([`Commands::store_import_chunk`]) and queued ([`Commands::queue_import`]), or
    /// dropped ([`Commands::abandon_import`]).
    ///
    /// # Errors
    /// [`ImportError::Forbidden`] for anyone else.
    pub fn start_import(&self, actor: Actor) -> Result<JobId, ImportError> {
        if actor.is_superuser() {
            Ok(JobId::generate())
        } else {
            Err(ImportError::Forbidden)
        }
    }

    /// Stores piece `seq` (from 0) of an import's upload.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn store_import_chunk(
        &self,
        job: JobId,
        seq: u64,
        text: &str,
    ) -> Result<(), StoreError> {
        self.ctx.store.store_job_chunk(job, seq, text).await
    }

    /// Queues an import whose upload is stored; a worker picks it up.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn queue_import(&self, id: JobId) -> Result<Job, StoreError> {
        let job = Job::queued(id, JobKind::ProductImport, self.now());
        self.ctx.store.queue_job(&job).await?;
        Ok(job)
    }

    /// Drops the stored pieces of an upload that failed half-way.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn abandon_import(&self, id: JobId) -> Result<(), StoreError> {
        self.ctx.store.discard_job_chunks(id).await
    }

    /// Changes a product; superusers only.
    ///
    /// # Errors
    /// [`UpdateProductError`].
    pub async fn update_product(
        &self,
        actor: Actor,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, UpdateProductError> {
        actor.require_superuser()?;
        let threshold = self.ctx.config.low_stock_threshold;
        self.ctx
            .store
            .update_product(id, patch, self.now(), threshold)
            .await?
            .ok_or(UpdateProductError::NotFound)
    }

    /// Deletes a product; superusers only. Orders keep their copies of it.
    ///
    /// # Errors
    /// [`DeleteProductError`].
    pub async fn delete_product(
        &self,
        actor: Actor,
        id: ProductId,
    ) -> Result<(), DeleteProductError> {
        actor.require_superuser()?;
        if self.ctx.store.delete_product(id).await? {
            Ok(())
        } else {
            Err(UpdateProductError::NotFound)
        }
    }

    /// Places an order for the caller, taking all stock at once or none.
    ///
    /// # Errors
    /// [`PlaceOrderCommandError`].
    pub async fn place_order(
        &self,
        actor: Actor,
        lines: OrderLines,
        record: Option<&Recording<'_, Order>>,
    ) -> Result<Order, PlaceOrderCommandError> {
        if self.ctx.config.require_verified_email && !actor.email_verified() {
            return Err(PlaceOrderCommandError::EmailUnverified);
        }
        let order = PlaceOrder {
            id: OrderId::generate(),
            user_id: actor.user_id(),
            lines,
            now: self.now(),
            low_stock_threshold: self.ctx.config.low_stock_threshold,
        };
        Ok(self.ctx.store.place_order(&order, record).await?)
    }

    /// Claims an idempotency key for a request of `caller` (`None`: anonymous, as a
    /// sign-up), or says why it is not to run: answered before, still running, or used
    /// for another request. A key older than [`KEY_RETENTION`] is forgotten.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn claim_key(
        &self,
        caller: Option<UserId>,
        key: &IdempotencyKey,
        request: &RequestHash,
    ) -> Result<KeyedRequest, StoreError> {
        let now = self.now();
        let claim = KeyClaim {
            key: key.hash_for(caller),
            id: uuid::Uuid::now_v7(),
        };
        let state = self
            .ctx
            .store
            .claim_key(&claim, request, now, now + KEY_LEASE, now - KEY_RETENTION)
            .await?;
        Ok(match state {
            KeyState::Claimed => KeyedRequest::Run(claim),
            KeyState::Held { request: held, .. } if held != *request => KeyedRequest::Mismatch,
            KeyState::Held {
                answer: Some(answer),
                ..
            } => KeyedRequest::Replay(answer),
            KeyState::Held { answer: None, .. } => KeyedRequest::Running,
        })
    }

    /// Settles a claim whose request changed nothing: records its answer (a refusal
    /// that a retry must get again), or with `None` frees the key for a retry.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn settle_key(
        &self,
        claim: &KeyClaim,
        answer: Option<&RecordedAnswer>,
    ) -> Result<(), StoreError> {
        self.ctx.store.settle_key(claim, answer).await
    }

    /// Cancels a pending order of the caller's (or anyone's, for a superuser) and gives
    /// its stock back.
    ///
    /// # Errors
    /// [`CancelOrderError::NotFound`] for an order the caller may not see;
    /// [`CancelOrderError::NotPending`] when it is already cancelled.
    pub async fn cancel_order(&self, actor: Actor, id: OrderId) -> Result<Order, CancelOrderError> {
        match self.ctx.store.order_by_id(id).await? {
            Some(order) if actor.may_access(order.user_id) => {}
            _ => return Err(CancelOrderError::NotFound),
        }
        self.ctx.store.cancel_order(id, self.now()).await
    }
}
