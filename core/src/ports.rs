//! Repository ports: what the services need from storage.
//!
//! Each method that changes state is atomic and records its domain events in the same
//! transaction (the outbox); services never hold a transaction. Methods return futures
//! that are `Send`, so generic HTTP handlers can await them on any thread.

use std::future::Future;

use time::OffsetDateTime;

use crate::StoreError;
use crate::domain::{
    Email, Job, JobError, JobId, JobStatus, KeyClaim, Order, OrderId, OrderLines, Page, Paged,
    Product, ProductId, ProductPatch, ProductQuery, RecordedAnswer, Recording, RequestHash,
    Session, SessionId, TokenHash, TokenId, TokenPurpose, User, UserId, UserPatch,
};
use crate::events::Event;
use crate::password::PasswordHash;

/// Users.
pub trait UserRepository: Send + Sync {
    /// Inserts a user with its events, and the answer `record` gives it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] on `uq_users_email` when the email is taken, on
    /// [`PK_IDEMPOTENCY_KEYS`] when `record`'s claim was taken over (nothing changed).
    fn insert_user(
        &self,
        user: &User,
        events: &[Event],
        record: Option<&Recording<'_, User>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user with this id.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn user_by_id(
        &self,
        id: UserId,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The user with this (normalised) email.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn user_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Applies a change atomically; `None` when there is no such user. Deactivating a user
    /// ends all their sessions in the same transaction.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn update_user(
        &self,
        id: UserId,
        patch: &UserPatch,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Replaces a user's password hash.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Users, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn list_users(
        &self,
        page: Page,
    ) -> impl Future<Output = Result<Paged<User>, StoreError>> + Send;

    /// Every active superuser, oldest first (who low-stock notices go to).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn active_superusers(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
}

/// Products.
pub trait ProductRepository: Send + Sync {
    /// Inserts a product, and the answer `record` gives it.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails; a conflict on [`PK_IDEMPOTENCY_KEYS`] when
    /// `record`'s claim was taken over (nothing changed).
    fn insert_product(
        &self,
        product: &Product,
        record: Option<&Recording<'_, Product>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The product with this id.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn product_by_id(
        &self,
        id: ProductId,
    ) -> impl Future<Output = Result<Option<Product>, StoreError>> + Send;

    /// Applies a change under a row lock, recording `ProductStockLow` if the new stock
    /// crosses `low_stock_threshold`; `None` when there is no such product.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn update_product(
        &self,
        id: ProductId,
        patch: ProductPatch,
        now: OffsetDateTime,
        low_stock_threshold: i64,
    ) -> impl Future<Output = Result<Option<Product>, StoreError>> + Send;

    /// Deletes a product; `false` when there was none. Orders keep their copies.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn delete_product(
        &self,
        id: ProductId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Products, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn list_products(
        &self,
        query: &ProductQuery,
        page: Page,
    ) -> impl Future<Output = Result<Paged<Product>, StoreError>> + Send;
}

/// Why an order could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// A line names a product that does not exist.
    #[error("product {0} does not exist")]
    UnknownProduct(ProductId),
    /// A product has fewer units than asked for; nothing was changed.
    #[error("not enough stock for product {0}")]
    InsufficientStock(ProductId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an order could not be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelOrderError {
    /// There is no such order.
    #[error("order not found")]
    NotFound,
    /// The order is not pending any more.
    #[error("order is not pending")]
    NotPending,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What placing an order needs.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    /// The new order's id.
    pub id: OrderId,
    /// Who places it.
    pub user_id: UserId,
    /// What it takes.
    pub lines: OrderLines,
    /// When.
    pub now: OffsetDateTime,
    /// Stock below this after the order records `ProductStockLow`.
    pub low_stock_threshold: i64,
}

/// Orders.
pub trait OrderRepository: Send + Sync {
    /// In one transaction: reads the products (locking them in a fixed order), checks
    /// every line's stock, takes it, writes the order with copies of names and prices, and
    /// records `OrderPlaced` and any `ProductStockLow`, and the answer `record` gives the
    /// order. On any error nothing changed.
    ///
    /// # Errors
    /// [`PlaceOrderError`]; a conflict on [`PK_IDEMPOTENCY_KEYS`] when `record`'s claim was
    /// taken over.
    fn place_order(
        &self,
        order: &PlaceOrder,
        record: Option<&Recording<'_, Order>>,
    ) -> impl Future<Output = Result<Order, PlaceOrderError>> + Send;

    /// In one transaction: moves a pending order to cancelled (exactly one concurrent
    /// caller wins), gives its stock back and records `OrderCancelled`.
    ///
    /// # Errors
    /// [`CancelOrderError`].
    fn cancel_order(
        &self,
        id: OrderId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Order, CancelOrderError>> + Send;

    /// The order with this id, with its lines.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn order_by_id(
        &self,
        id: OrderId,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Orders, newest first, optionally only one user's.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn list_orders(
        &self,
        user: Option<UserId>,
        page: Page,
    ) -> impl Future<Output = Result<Paged<Order>, StoreError>> + Send;
}

/// The constraint a change reports when the idempotency claim it was to settle is no
/// longer its own (held past its lease and taken over by a retry).
pub const PK_IDEMPOTENCY_KEYS: &str = "pk_idempotency_keys";

/// Where an idempotency key stands for a request that presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// The request holds the key now: it runs, and its change records its answer.
    Claimed,
    /// Another request holds the key or answered it.
    Held {
        /// What that request asked.
        request: RequestHash,
        /// Its answer; `None` while it runs.
        answer: Option<RecordedAnswer>,
    },
}

/// Idempotency keys. A key is claimed by one write whose outcome the database decides,
/// so of concurrent requests with one key exactly one runs; its answer is written by the
/// change itself, in the change's transaction ([`Recording`]), so a replay returns what
/// the first request answered and no change is ever without its answer.
pub trait IdempotencyRepository: Send + Sync {
    /// Claims `claim.key` for `request` until `lease_until`: a key never seen, one
    /// created before `forget_before` (forgotten), or one this same request claimed whose
    /// lease ended by `now` (its request died before answering). Otherwise says who
    /// holds it.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn claim_key(
        &self,
        claim: &KeyClaim,
        request: &RequestHash,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        forget_before: OffsetDateTime,
    ) -> impl Future<Output = Result<KeyState, StoreError>> + Send;

    /// Settles a claim whose request changed nothing: records `answer` (a refusal that
    /// is the request's answer, such as too little stock), or with `None` lets the key
    /// go (the request was not answered, and may be sent again). A claim taken over
    /// since is left alone.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn settle_key(
        &self,
        claim: &KeyClaim,
        answer: Option<&RecordedAnswer>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes keys created before `before`; how many went.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn purge_keys(
        &self,
        before: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Shared authentication state: revoked tokens and failed logins, kept in the database so
/// that every replica agrees.
pub trait AuthRepository: Send + Sync {
    /// Marks a token id revoked until `expires_at` (the worker forgets it after that).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn revoke_token(
        &self,
        id: TokenId,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether a token id was revoked.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn is_token_revoked(
        &self,
        id: TokenId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Counts one login attempt for a login name, unless `max` were counted in its window
    /// (which began at or after `since`; an older one is replaced by a new window from
    /// `now`). Decided atomically: parallel attempts never get past `max`. Windows older
    /// than `since` are forgotten.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn admit_login(
        &self,
        login: &str,
        now: OffsetDateTime,
        since: OffsetDateTime,
        max: i64,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// Forgets a login name's failures (after a successful login).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn clear_login_failures(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Sessions and their refresh tokens. Every replica sees the same sessions, so ending
/// one ends it everywhere at once.
pub trait SessionRepository: Send + Sync {
    /// Records a session just opened, with its first refresh token.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn open_session(
        &self,
        session: &Session,
        refresh: &TokenHash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Spends the refresh token `presented` and, in the same transaction, gives its session
    /// the token `next` (expiring at `expires_at`, which the session's expiry follows).
    /// Spending is one conditional write, so of two rotations of one token exactly one
    /// succeeds. A token already spent ends its whole session ([`Rotation::Reused`]).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn rotate_refresh(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;

    /// A user, and whether `session` is a live session (not ended, not expired) of theirs:
    /// what an access token with a `sid` acts for. One statement.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn user_in_session(
        &self,
        user: UserId,
        session: SessionId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<(User, bool)>, StoreError>> + Send;

    /// A user's live sessions, newest first.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn live_sessions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// Ends one live session of `user`; whether there was one.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn end_session(
        &self,
        user: UserId,
        session: SessionId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends every live session of `user` but `keep`; how many ended.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn end_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Sets a user's password hash and, in the same transaction, ends every live session
    /// of theirs but `keep` and records `event`. Whether the user exists.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn change_password(
        &self,
        user: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        event: &Event,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes sessions that ended or expired before `before`, with their refresh tokens,
    /// one-time tokens used or expired by then, and revocations that have expired; how
    /// many rows went.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn purge_expired(
        &self,
        before: OffsetDateTime,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The one-time tokens of password recovery and email verification, by hash. Using one
/// is one conditional write, so a token works once however many requests present it.
pub trait OneTimeTokenRepository: Send + Sync {
    /// Stores a new token of `purpose` for `user`, expiring at `expires_at`; the user's
    /// unused tokens of that purpose stop working in the same transaction (only the newest
    /// link works).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn mint_token(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        hash: &TokenHash,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whose usable token of `purpose` this is, if it is one (unused and unexpired).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn token_owner(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<UserId>, StoreError>> + Send;

    /// In one transaction: uses `user`'s reset token, sets the password hash, ends all
    /// their sessions and records `event`. `false` when the token was not usable (used by
    /// a parallel request, expired, or replaced meanwhile): then nothing changed.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn reset_password(
        &self,
        token: &TokenHash,
        user: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
        event: &Event,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// In one transaction: uses a verification token and marks its user's email verified;
    /// the user as now stored, or `None` when the token was not usable.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn verify_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// In one transaction: makes `user`'s unused tokens of `purpose` stop working and
    /// records `event` (which asks the worker for a new one).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn replace_token(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        event: &Event,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How presenting a refresh token went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// Spent; the session holds the next token now.
    Rotated {
        /// The session.
        session: SessionId,
        /// Its user, as stored now.
        user: User,
    },
    /// It had been spent before: a copy is in other hands, so the session ended.
    Reused,
    /// Unknown, expired, or its session is over.
    Invalid,
}

/// Whether a login attempt may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted: check the password.
    Admitted,
    /// The window is full: refused until it ends.
    Throttled {
        /// When the full window began.
        window_start: OffsetDateTime,
    },
}

/// A claim on outbox events: who claims, how many at most, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The deliverer, unique per worker process and loop.
    pub claimer: uuid::Uuid,
    /// Events to claim at most.
    pub limit: usize,
    /// Now: events whose lease or backoff ended by then are claimable.
    pub now: OffsetDateTime,
    /// The lease: unless completed or retried first, the events are claimable again then.
    pub until: OffsetDateTime,
}

/// The retry time of a parked event: claimable never again, its error kept in the outbox
/// for whoever inspects it.
pub const PARKED: OffsetDateTime = time::macros::datetime!(9999-12-31 00:00 UTC);

/// An event handed to a deliverer, with the number of claims including this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedEvent {
    /// The event.
    pub event: Event,
    /// How many times it was claimed, this claim included (1 on the first delivery).
    pub attempts: u32,
}

/// The outbox, as deliverers see it: events are claimed under a lease, in the order they
/// were recorded, and each is either completed or put back with a retry time. Any number
/// of deliverers may claim at once; no event is held by two of them.
pub trait OutboxRepository: Send + Sync {
    /// Claims up to `claim.limit` undelivered events whose lease or backoff has ended.
    /// A row whose payload no longer parses is parked (never claimable again, its error
    /// recorded) rather than returned or left to block the queue.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn claim_events(
        &self,
        claim: &Claim,
    ) -> impl Future<Output = Result<Vec<ClaimedEvent>, StoreError>> + Send;

    /// Records an event that goes with no other change (a request for a mail).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn record_event(&self, event: &Event) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a claimed event delivered. `false` when `claimer` no longer holds it (its
    /// lease ran out and another deliverer may have it).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn complete_event(
        &self,
        id: uuid::Uuid,
        claimer: uuid::Uuid,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Puts a claimed event back, claimable again from `retry_at`, recording why it
    /// failed. `false` when `claimer` no longer holds it.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn retry_event(
        &self,
        id: uuid::Uuid,
        claimer: uuid::Uuid,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A job handed to a worker, with the number of claims including this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job (without its errors).
    pub job: Job,
    /// How many times it was claimed, this claim included.
    pub attempts: u32,
}

/// One batch of an import, recorded atomically.
#[derive(Debug, Clone, Copy)]
pub struct ImportBatch<'a> {
    /// The job.
    pub job: JobId,
    /// Who holds it: nothing is recorded unless this claimer still does.
    pub claimer: uuid::Uuid,
    /// Good rows; one whose name and price a product already has is skipped, so
    /// importing a file again adds nothing twice.
    pub products: &'a [Product],
    /// Bad rows.
    pub errors: &'a [JobError],
    /// Rows handled once this batch is in.
    pub done: u64,
    /// Rows in all.
    pub total: u64,
    /// Now.
    pub now: OffsetDateTime,
    /// The claim's new end: every batch extends it.
    pub until: OffsetDateTime,
}

/// Background jobs: uploads stored in pieces, queued, claimed by workers under a lease,
/// advanced batch by batch, finished.
pub trait JobRepository: Send + Sync {
    /// Stores piece `seq` (from 0) of an upload, before its job is queued.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn store_job_chunk(
        &self,
        job: JobId,
        seq: u64,
        text: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops the pieces of an upload that never became a job.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn discard_job_chunks(&self, job: JobId)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Queues a job whose upload is stored.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn queue_job(&self, job: &Job) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A job with its errors, by row.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn job_by_id(&self, id: JobId) -> impl Future<Output = Result<Option<Job>, StoreError>> + Send;

    /// Claims the oldest queued job, or a running one whose lease ran out (its worker
    /// died): it becomes `running`, held by `claim.claimer` until `claim.until`.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn claim_job(
        &self,
        claim: &Claim,
    ) -> impl Future<Output = Result<Option<ClaimedJob>, StoreError>> + Send;

    /// Piece `seq` of a job's upload; `None` past the last.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn job_chunk(
        &self,
        job: JobId,
        seq: u64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Records a batch; `false` (and nothing recorded) when the claimer lost the job.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn import_batch(
        &self,
        batch: &ImportBatch<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends a held job as `status`, with a job-wide error if given, and drops its upload.
    /// `false` when the claimer lost the job.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn finish_job(
        &self,
        id: JobId,
        claimer: uuid::Uuid,
        status: JobStatus,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Which mails went out: one row per event and recipient, so an event delivered twice
/// mails once.
pub trait MailLog: Send + Sync {
    /// Whether the mail for `event` to `user` was sent.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn was_mailed(
        &self,
        event: uuid::Uuid,
        user: UserId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records that the mail for `event` to `user` was sent; recording it twice is harmless.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn record_mail(
        &self,
        event: uuid::Uuid,
        user: UserId,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What an operator watches of the store: work waiting, and its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// Events recorded but not yet delivered (parked ones included).
    pub outbox_backlog: u64,
    /// Jobs queued or running.
    pub jobs_waiting: u64,
    /// Pooled connections busy now.
    pub connections_in_use: u32,
    /// Pooled connections open and idle.
    pub connections_idle: u32,
}

/// Health of the store.
pub trait StoreHealth: Send + Sync {
    /// Answers when the database answers a trivial query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The backlogs and the pool's state, now.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    fn gauges(&self) -> impl Future<Output = Result<Gauges, StoreError>> + Send;
}

/// Everything the services need from one store.
pub trait Store:
    UserRepository
    + ProductRepository
    + OrderRepository
    + AuthRepository
    + SessionRepository
    + OneTimeTokenRepository
    + IdempotencyRepository
    + OutboxRepository
    + MailLog
    + JobRepository
    + StoreHealth
    + Clone
    + 'static
{
}

impl<T> Store for T where
    T: UserRepository
        + ProductRepository
        + OrderRepository
        + AuthRepository
        + SessionRepository
        + OneTimeTokenRepository
        + IdempotencyRepository
        + OutboxRepository
        + MailLog
        + JobRepository
        + StoreHealth
        + Clone
        + 'static
{
}
