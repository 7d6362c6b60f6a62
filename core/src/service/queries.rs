//! Queries: reads, with the access rules applied.

use std::sync::Arc;

use super::Context;
use crate::StoreError;
use crate::domain::{
    Actor, Job, JobId, Order, OrderId, Page, Paged, Product, ProductId, ProductQuery, Session,
    SessionId, TokenId, User, UserId,
};
use crate::ports::Store;

/// Why a read was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Authenticated, but not allowed to see this.
    #[error("not allowed")]
    Forbidden,
    /// There is no such thing, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a token's subject cannot act.
#[derive(Debug, thiserror::Error)]
pub enum ResolveActorError {
    /// The token was revoked, or its user no longer exists.
    #[error("token revoked or user unknown")]
    Unauthenticated,
    /// The user was deactivated.
    #[error("inactive user")]
    Inactive,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The read side.
pub struct Queries<S> {
    ctx: Arc<Context<S>>,
}

impl<S> Clone for Queries<S> {
    fn clone(&self) -> Self {
        Self {
            ctx: self.ctx.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Queries<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queries").finish_non_exhaustive()
    }
}

impl<S: Store> Queries<S> {
    pub(super) fn new(ctx: Arc<Context<S>>) -> Self {
        Self { ctx }
    }

    /// Who is acting for a verified token: its user, if the token's session is live (or,
    /// for a token without one, if the token is not revoked) and the user exists and is
    /// active. One statement for a token with a session, two without.
    ///
    /// # Errors
    /// [`ResolveActorError`].
    pub async fn resolve_actor(
        &self,
        user_id: UserId,
        token: TokenId,
        session: Option<SessionId>,
    ) -> Result<User, ResolveActorError> {
        let store = &self.ctx.store;
        let (user, live) = match session {
            Some(session) => store
                .user_in_session(user_id, session, self.ctx.clock.now())
                .await?
                .ok_or(ResolveActorError::Unauthenticated)?,
            None if store.is_token_revoked(token).await? => {
                return Err(ResolveActorError::Unauthenticated);
            }
            None => (
                store
                    .user_by_id(user_id)
                    .await?
                    .ok_or(ResolveActorError::Unauthenticated)?,
                true,
            ),
        };
        // A deactivated user's sessions ended with the deactivation; their tokens still
        // say why they are refused.
        if !user.is_active {
            return Err(ResolveActorError::Inactive);
        }
        if !live {
            return Err(ResolveActorError::Unauthenticated);
        }
        Ok(user)
    }

    /// The caller's live sessions, newest first.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn sessions(&self, actor: Actor) -> Result<Vec<Session>, StoreError> {
        self.ctx
            .store
            .live_sessions(actor.user_id(), self.ctx.clock.now())
            .await
    }

    /// A user, for themselves or a superuser. Others get `Forbidden` whether or not the id
    /// exists.
    ///
    /// # Errors
    /// [`AccessError`].
    pub async fn user(&self, actor: Actor, id: UserId) -> Result<User, AccessError> {
        if !actor.may_access(id) {
            return Err(AccessError::Forbidden);
        }
        self.ctx
            .store
            .user_by_id(id)
            .await?
            .ok_or(AccessError::NotFound)
    }

    /// All users, oldest first; superusers only.
    ///
    /// # Errors
    /// [`AccessError::Forbidden`] for others.
    pub async fn users(&self, actor: Actor, page: Page) -> Result<Paged<User>, AccessError> {
        actor.require_superuser()?;
        Ok(self.ctx.store.list_users(page).await?)
    }

    /// A product, for anyone.
    ///
    /// # Errors
    /// [`AccessError::NotFound`].
    pub async fn product(&self, id: ProductId) -> Result<Product, AccessError> {
        self.ctx
            .store
            .product_by_id(id)
            .await?
            .ok_or(AccessError::NotFound)
    }

    /// Products, oldest first, for anyone.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn products(
        &self,
        query: &ProductQuery,
        page: Page,
    ) -> Result<Paged<Product>, StoreError> {
        self.ctx.store.list_products(query, page).await
    }

    /// A background job, for superusers.
    ///
    /// # Errors
    /// [`AccessError::Forbidden`] for anyone else, [`AccessError::NotFound`].
    pub async fn job(&self, actor: Actor, id: JobId) -> Result<Job, AccessError> {
        actor.require_superuser()?;
        self.ctx
            .store
            .job_by_id(id)
            .await?
            .ok_or(AccessError::NotFound)
    }

    /// An order, for its owner or a superuser; `NotFound` for anyone else.
    ///
    /// # Errors
    /// [`AccessError::NotFound`].
    pub async fn order(&self, actor: Actor, id: OrderId) -> Result<Order, AccessError> {
        match self.ctx.store.order_by_id(id).await? {
            Some(order) if actor.may_access(order.user_id) => Ok(order),
            _ => Err(AccessError::NotFound),
        }
    }

    /// Orders, newest first. A superuser sees everyone's, or one user's with `only_user`;
    /// anyone else sees their own, narrowed by `only_user` like any filter (so another
    /// user's id gives an empty page).
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn orders(
        &self,
        actor: Actor,
        only_user: Option<UserId>,
        page: Page,
    ) -> Result<Paged<Order>, StoreError> {
        if actor.is_superuser() {
            return self.ctx.store.list_orders(only_user, page).await;
        }
        if only_user.is_some_and(|u| u != actor.user_id()) {
            return Ok(Paged {
                items: Vec::new(),
                total: 0,
                page,
            });
        }
        self.ctx
            .store
            .list_orders(Some(actor.user_id()), page)
            .await
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.ctx.store.ping().await
    }

    /// The store's backlogs and connections, for metrics.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn gauges(&self) -> Result<crate::ports::Gauges, StoreError> {
        self.ctx.store.gauges().await
    }

    /// Password hashes running now.
    pub fn hashes_in_flight(&self) -> usize {
        self.ctx.hasher.in_flight()
    }
}
