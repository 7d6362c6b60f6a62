//! [`SqlStore`]: every repository port, implemented once over an [`Executor`].

use std::future::Future;
use std::sync::Arc;

use mercado_core::StoreError;
use mercado_core::domain::{
    Description, Email, FullName, Job, JobError, JobId, JobKind, JobStatus, Money, Order, OrderId,
    OrderLine, OrderStatus, Page, Paged, Price, Product, ProductId, ProductName, ProductPatch,
    ProductQuery, Quantity, TokenId, User, UserId, UserPatch,
};
use mercado_core::events::{DomainEvent, Event};
use mercado_core::password::PasswordHash;
use mercado_core::ports::{
    Admission, AuthRepository, CancelOrderError, Claim, ClaimedEvent, ClaimedJob, Gauges,
    ImportBatch, JobRepository, MailLog, OrderRepository, OutboxRepository, PARKED, PlaceOrder,
    PlaceOrderError, ProductRepository, StoreHealth, UserRepository,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::statements::{
    COUNT_KINDS, JOB_KINDS, ORDER_LINE_KINDS, OUTBOX_KINDS, PRODUCT_KINDS, STOCK_KINDS, Statements,
    USER_KINDS,
};
use crate::{DbError, DbErrorKind, Executor, Kind, Row, Transaction, Value};

/// How many times a transaction that hit a deadlock or serialization failure is tried.
const TX_ATTEMPTS: usize = 4;

/// The store: all repository ports over one executor.
pub struct SqlStore<E> {
    exec: E,
    st: Arc<Statements>,
}

impl<E: Clone> Clone for SqlStore<E> {
    fn clone(&self) -> Self {
        Self {
            exec: self.exec.clone(),
            st: self.st.clone(),
        }
    }
}

impl<E> std::fmt::Debug for SqlStore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.st.dialect)
            .finish_non_exhaustive()
    }
}

/// A failure inside a transaction: the database's, or the operation's own outcome.
enum TxError<E> {
    Db(DbError),
    Domain(E),
}

impl<E> From<DbError> for TxError<E> {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

impl<E: Executor> SqlStore<E> {
    /// A store over `exec`, with the statements of its dialect.
    pub fn new(exec: E) -> Self {
        let st = Arc::new(Statements::new(exec.dialect()));
        Self { exec, st }
    }

    /// The executor, for callers that need the pool itself (migrations, tests).
    pub fn executor(&self) -> &E {
        &self.exec
    }

    fn err(&self, e: DbError) -> StoreError {
        e.into_store_error(self.st.dialect)
    }

    /// A read outside a transaction; one lost connection (a database restart) is
    /// retried on a fresh one, since reading twice changes nothing.
    async fn fetch(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Vec<Row>, StoreError> {
        let rows = match self.exec.fetch(sql, params, kinds).await {
            Err(e) if e.kind == DbErrorKind::Unavailable => {
                tracing::debug!(error = %e, "read retried on a fresh connection");
                self.exec.fetch(sql, params, kinds).await
            }
            other => other,
        };
        rows.map_err(|e| self.err(e))
    }

    async fn fetch_optional(
        &self,
        sql: &str,
        params: &[Value],
        kinds: &[Kind],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch(sql, params, kinds).await?.into_iter().next())
    }

    async fn count(&self, sql: &str, params: &[Value]) -> Result<i64, StoreError> {
        let row = self.fetch_optional(sql, params, COUNT_KINDS).await?;
        row.ok_or_else(|| StoreError::Corrupt("COUNT returned no row".into()))?
            .int(0)
    }

    async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.exec
            .execute(sql, params)
            .await
            .map_err(|e| self.err(e))
    }

    /// Runs `attempt` (one whole transaction) again while the database reports a deadlock
    /// or serialization failure, a bounded number of times; and once after a lost
    /// connection before COMMIT (the server rolled the transaction back with it). A
    /// connection lost during COMMIT ([`DbErrorKind::InDoubt`]) is never retried.
    async fn retrying<T, D, F, Fut>(&self, mut attempt: F) -> Result<T, D>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TxError<D>>>,
        D: From<StoreError>,
    {
        let mut tries = 0;
        let mut reconnected = false;
        loop {
            tries += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(TxError::Domain(e)) => return Err(e),
                Err(TxError::Db(e)) if e.kind == DbErrorKind::Retryable && tries < TX_ATTEMPTS => {
                    tracing::debug!(tries, error = %e, "transaction retried");
                }
                Err(TxError::Db(e)) if e.kind == DbErrorKind::Unavailable && !reconnected => {
                    reconnected = true;
                    tracing::debug!(error = %e, "transaction retried on a fresh connection");
                }
                Err(TxError::Db(e)) => return Err(self.err(e).into()),
            }
        }
    }

    fn paging(&self, page: Page) -> [Value; 2] {
        let (limit, offset) = (Value::Int(page.limit()), Value::Int(page.offset()));
        if self.st.dialect.offset_first() {
            [offset, limit]
        } else {
            [limit, offset]
        }
    }

    async fn insert_events(&self, tx: &mut E::Tx, events: &[Event]) -> Result<(), DbError> {
        for event in events {
            let payload = serde_json::to_string(&event.payload)
                .map_err(|e| DbError::new(DbErrorKind::Other, format!("event payload: {e}")))?;
            let params = [
                Value::Uuid(event.id),
                event.payload.kind().into(),
                payload.into(),
                event.occurred_at.into(),
            ];
            tx.execute(&self.st.insert_event, &params).await?;
        }
        Ok(())
    }

    async fn place_once(&self, order: &PlaceOrder) -> Result<Order, TxError<PlaceOrderError>> {
        let st = &self.st;
        let lines = order.lines.as_slice();
        let mut ids: Vec<ProductId> = lines.iter().map(|l| l.product_id).collect();
        ids.sort_unstable();
        let params: Vec<Value> = ids.iter().map(|id| Value::Uuid(id.as_uuid())).collect();

        let mut tx = self.exec.begin().await?;
        // Locks every product of the order in id order, so crossed orders cannot deadlock.
        let rows = tx
            .fetch(&st.products_for_order[ids.len() - 1], &params, STOCK_KINDS)
            .await?;
        let mut stock = Vec::with_capacity(rows.len());
        for row in &rows {
            stock.push(stock_row(row).map_err(|e| TxError::Domain(e.into()))?);
        }
        let mut order_lines = Vec::with_capacity(lines.len());
        for line in lines {
            let Some(p) = stock.iter().find(|p| p.id == line.product_id) else {
                return Err(TxError::Domain(PlaceOrderError::UnknownProduct(
                    line.product_id,
                )));
            };
            if p.stock < line.quantity.get() {
                return Err(TxError::Domain(PlaceOrderError::InsufficientStock(
                    line.product_id,
                )));
            }
            order_lines.push(OrderLine {
                product_id: p.id,
                product_name: p.name.clone(),
                unit_price: p.price,
                quantity: line.quantity,
            });
        }

        let mut events = Vec::with_capacity(1 + lines.len());
        for p in &stock {
            let quantity = lines
                .iter()
                .find(|l| l.product_id == p.id)
                .map_or(0, |l| l.quantity.get());
            let params = [
                quantity.into(),
                order.now.into(),
                Value::Uuid(p.id.as_uuid()),
                quantity.into(),
            ];
            // The condition re-checks under the lock; the CHECK constraint backs it up.
            if tx.execute(&st.take_stock, &params).await? != 1 {
                return Err(TxError::Domain(PlaceOrderError::InsufficientStock(p.id)));
            }
            let threshold = order.low_stock_threshold;
            if let Some(low) =
                DomainEvent::stock_low(p.id, &p.name, p.stock, p.stock - quantity, threshold)
            {
                events.push(Event::new(low, order.now));
            }
        }

        let placed = Order {
            id: order.id,
            user_id: order.user_id,
            status: OrderStatus::Pending,
            lines: order_lines,
            created_at: order.now,
            updated_at: order.now,
        };
        let params = [
            Value::Uuid(placed.id.as_uuid()),
            Value::Uuid(placed.user_id.as_uuid()),
            OrderStatus::Pending.as_str().into(),
            Value::Money(placed.total().as_decimal()),
            order.now.into(),
            order.now.into(),
        ];
        tx.execute(&st.insert_order, &params).await?;
        let mut params = Vec::with_capacity(placed.lines.len() * 6);
        for (no, line) in (1_i64..).zip(&placed.lines) {
            params.extend([
                Value::Uuid(placed.id.as_uuid()),
                no.into(),
                Value::Uuid(line.product_id.as_uuid()),
                line.product_name.as_str().into(),
                Value::Money(line.unit_price.as_decimal()),
                line.quantity.get().into(),
            ]);
        }
        tx.execute(&st.insert_order_items[placed.lines.len() - 1], &params)
            .await?;
        events.insert(0, Event::new(DomainEvent::order_placed(&placed), order.now));
        self.insert_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(placed)
    }

    async fn cancel_once(
        &self,
        id: OrderId,
        now: OffsetDateTime,
    ) -> Result<Order, TxError<CancelOrderError>> {
        let st = &self.st;
        let order_id = Value::Uuid(id.as_uuid());
        let mut tx = self.exec.begin().await?;
        // Only one concurrent caller moves the order out of `pending`.
        if tx
            .execute(&st.cancel_order, &[now.into(), order_id.clone()])
            .await?
            != 1
        {
            let exists = !tx
                .fetch(&st.order_status, &[order_id], &[Kind::Text])
                .await?
                .is_empty();
            return Err(TxError::Domain(if exists {
                CancelOrderError::NotPending
            } else {
                CancelOrderError::NotFound
            }));
        }
        let rows = tx
            .fetch(&st.order_by_id, &[order_id], ORDER_LINE_KINDS)
            .await?;
        let order = orders_from_rows(&rows)
            .and_then(|mut orders| {
                orders
                    .pop()
                    .ok_or_else(|| StoreError::Corrupt("order without lines".into()))
            })
            .map_err(|e| TxError::Domain(e.into()))?;
        let mut lines: Vec<&OrderLine> = order.lines.iter().collect();
        lines.sort_unstable_by_key(|l| l.product_id);
        for line in lines {
            let params = [
                line.quantity.get().into(),
                now.into(),
                Value::Uuid(line.product_id.as_uuid()),
            ];
            tx.execute(&st.return_stock, &params).await?;
        }
        self.insert_events(
            &mut tx,
            &[Event::new(DomainEvent::order_cancelled(&order), now)],
        )
        .await?;
        tx.commit().await?;
        Ok(order)
    }

    async fn update_product_once(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        now: OffsetDateTime,
        threshold: i64,
    ) -> Result<Option<Product>, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        let rows = tx
            .fetch(
                &st.product_by_id_for_update,
                &[Value::Uuid(id.as_uuid())],
                PRODUCT_KINDS,
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let before = product(row).map_err(TxError::Domain)?;
        let stock_before = before.stock;
        let after = patch.clone().apply(before, now);
        let params = [
            after.name.as_str().into(),
            after.name.folded().into(),
            Value::opt(
                after.description.as_ref().map(|d| d.as_str().into()),
                Kind::Text,
            ),
            Value::Money(after.price.amount().as_decimal()),
            after.stock.into(),
            now.into(),
            Value::Uuid(id.as_uuid()),
        ];
        tx.execute(&st.update_product, &params).await?;
        if let Some(low) =
            DomainEvent::stock_low(id, &after.name, stock_before, after.stock, threshold)
        {
            self.insert_events(&mut tx, &[Event::new(low, now)]).await?;
        }
        tx.commit().await?;
        Ok(Some(after))
    }

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
                USER_KINDS,
            )
            .await?;
        let Some(row) = rows.first() else {
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
        tx.commit().await?;
        Ok(Some(user))
    }
}

impl<E: Executor> UserRepository for SqlStore<E> {
    async fn insert_user(&self, user: &User, events: &[Event]) -> Result<(), StoreError> {
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
            user.created_at.into(),
            user.updated_at.into(),
        ];
        let attempt = async {
            let mut tx = self.exec.begin().await?;
            tx.execute(&self.st.insert_user, &params).await?;
            self.insert_events(&mut tx, events).await?;
            tx.commit().await
        };
        attempt.await.map_err(|e| self.err(e))
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = self
            .fetch_optional(
                &self.st.user_by_id,
                &[Value::Uuid(id.as_uuid())],
                USER_KINDS,
            )
            .await?;
        row.as_ref().map(user).transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let row = self
            .fetch_optional(&self.st.user_by_email, &[email.as_str().into()], USER_KINDS)
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
            .fetch(&self.st.list_users, &self.paging(page), USER_KINDS)
            .await?;
        let items = rows.iter().map(user).collect::<Result<_, _>>()?;
        Ok(Paged { items, total, page })
    }

    async fn active_superusers(&self) -> Result<Vec<User>, StoreError> {
        let params = [Value::Bool(true), Value::Bool(true)];
        let rows = self
            .fetch(&self.st.active_superusers, &params, USER_KINDS)
            .await?;
        rows.iter().map(user).collect()
    }
}

impl<E: Executor> ProductRepository for SqlStore<E> {
    async fn insert_product(&self, p: &Product) -> Result<(), StoreError> {
        self.execute(&self.st.insert_product, &product_params(p))
            .await
            .map(drop)
    }

    async fn product_by_id(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let row = self
            .fetch_optional(
                &self.st.product_by_id,
                &[Value::Uuid(id.as_uuid())],
                PRODUCT_KINDS,
            )
            .await?;
        row.as_ref().map(product).transpose()
    }

    async fn update_product(
        &self,
        id: ProductId,
        patch: ProductPatch,
        now: OffsetDateTime,
        low_stock_threshold: i64,
    ) -> Result<Option<Product>, StoreError> {
        self.retrying(|| self.update_product_once(id, &patch, now, low_stock_threshold))
            .await
    }

    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError> {
        Ok(self
            .execute(&self.st.delete_product, &[Value::Uuid(id.as_uuid())])
            .await?
            > 0)
    }

    async fn list_products(
        &self,
        query: &ProductQuery,
        page: Page,
    ) -> Result<Paged<Product>, StoreError> {
        let st = &self.st;
        let [a, b] = self.paging(page);
        let (total, rows) = match &query.name_contains {
            Some(text) => {
                let pattern = Value::Text(st.dialect.contains_pattern(&text.folded()));
                let total = self
                    .count(&st.count_products_matching, std::slice::from_ref(&pattern))
                    .await?;
                (
                    total,
                    self.fetch(&st.list_products_matching, &[pattern, a, b], PRODUCT_KINDS)
                        .await?,
                )
            }
            None => (
                self.count(&st.count_products, &[]).await?,
                self.fetch(&st.list_products, &[a, b], PRODUCT_KINDS)
                    .await?,
            ),
        };
        let items = rows.iter().map(product).collect::<Result<_, _>>()?;
        Ok(Paged { items, total, page })
    }
}

impl<E: Executor> OrderRepository for SqlStore<E> {
    async fn place_order(&self, order: &PlaceOrder) -> Result<Order, PlaceOrderError> {
        self.retrying(|| self.place_once(order)).await
    }

    async fn cancel_order(
        &self,
        id: OrderId,
        now: OffsetDateTime,
    ) -> Result<Order, CancelOrderError> {
        self.retrying(|| self.cancel_once(id, now)).await
    }

    async fn order_by_id(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let rows = self
            .fetch(
                &self.st.order_by_id,
                &[Value::Uuid(id.as_uuid())],
                ORDER_LINE_KINDS,
            )
            .await?;
        Ok(orders_from_rows(&rows)?.pop())
    }

    async fn list_orders(
        &self,
        user: Option<UserId>,
        page: Page,
    ) -> Result<Paged<Order>, StoreError> {
        let st = &self.st;
        let [a, b] = self.paging(page);
        let (total, rows) = match user {
            Some(user) => {
                let user = Value::Uuid(user.as_uuid());
                let total = self
                    .count(&st.count_orders_of_user, std::slice::from_ref(&user))
                    .await?;
                (
                    total,
                    self.fetch(&st.list_orders_of_user, &[user, a, b], ORDER_LINE_KINDS)
                        .await?,
                )
            }
            None => (
                self.count(&st.count_orders, &[]).await?,
                self.fetch(&st.list_orders, &[a, b], ORDER_LINE_KINDS)
                    .await?,
            ),
        };
        Ok(Paged {
            items: orders_from_rows(&rows)?,
            total,
            page,
        })
    }
}

impl<E: Executor> AuthRepository for SqlStore<E> {
    async fn revoke_token(
        &self,
        id: TokenId,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute(&self.st.purge_revoked_tokens, &[now.into()])
            .await?;
        match self
            .execute(
                &self.st.revoke_token,
                &[Value::Uuid(id.as_uuid()), expires_at.into()],
            )
            .await
        {
            // Revoked twice at once: it is revoked, which is what was asked.
            Err(e) if e.is_conflict_on("pk_revoked_tokens") => Ok(()),
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

impl<E: Executor> SqlStore<E> {
    async fn claim_once(&self, claim: &Claim) -> Result<Vec<ClaimedEvent>, TxError<StoreError>> {
        let st = &self.st;
        let limit = i64::try_from(claim.limit).unwrap_or(i64::MAX);
        let mut tx = self.exec.begin().await?;
        let rows = tx
            .fetch(
                &st.claim_events,
                &[claim.now.into(), limit.into()],
                OUTBOX_KINDS,
            )
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let (id, payload, occurred_at, attempts) = outbox_row(row).map_err(TxError::Domain)?;
            let taken = [
                Value::Uuid(claim.claimer),
                claim.until.into(),
                Value::Uuid(id),
            ];
            tx.execute(&st.take_event, &taken).await?;
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
            Err(e) if e.is_conflict_on("pk_sent_mails") => Ok(()),
            other => other.map(drop),
        }
    }
}

/// The parameters of `insert_product`.
fn product_params(p: &Product) -> [Value; 8] {
    [
        Value::Uuid(p.id.as_uuid()),
        p.name.as_str().into(),
        Value::opt(
            p.description.as_ref().map(|d| d.as_str().into()),
            Kind::Text,
        ),
        Value::Money(p.price.amount().as_decimal()),
        p.stock.into(),
        p.created_at.into(),
        p.updated_at.into(),
        p.name.folded().into(),
    ]
}

/// Row 0 holds a job-wide error; CSV rows count from 1.
const JOB_WIDE: i64 = 0;

fn count(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn job(row: &Row, errors: Vec<JobError>) -> Result<(Job, u32), StoreError> {
    let kind = row.text(1)?;
    let status = row.text(2)?;
    let unsigned = |i: usize| row.int(i).map(|n| u64::try_from(n).unwrap_or(0));
    Ok((
        Job {
            id: JobId::from_uuid(row.uuid(0)?),
            kind: JobKind::parse(&kind).ok_or_else(|| corrupt("job kind")(&kind))?,
            status: JobStatus::parse(&status).ok_or_else(|| corrupt("job status")(&status))?,
            done: unsigned(3)?,
            total: unsigned(4)?,
            errors,
            created_at: row.time(5)?,
            updated_at: row.time(6)?,
        },
        u32::try_from(row.int(7)?).unwrap_or(u32::MAX),
    ))
}

impl<E: Executor> SqlStore<E> {
    async fn claim_job_once(
        &self,
        claim: &Claim,
    ) -> Result<Option<ClaimedJob>, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        let rows = tx
            .fetch(&st.claim_job, &[claim.now.into(), Value::Int(1)], JOB_KINDS)
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let (mut job, attempts) = job(row, Vec::new()).map_err(TxError::Domain)?;
        let params = [
            Value::Uuid(claim.claimer),
            claim.until.into(),
            claim.now.into(),
            Value::Uuid(job.id.as_uuid()),
        ];
        tx.execute(&st.take_job, &params).await?;
        tx.commit().await?;
        job.status = JobStatus::Running;
        Ok(Some(ClaimedJob {
            job,
            attempts: attempts.saturating_add(1),
        }))
    }

    async fn import_batch_once(&self, b: &ImportBatch<'_>) -> Result<bool, TxError<StoreError>> {
        let st = &self.st;
        let mut tx = self.exec.begin().await?;
        for p in b.products {
            let key = [
                p.name.as_str().into(),
                Value::Money(p.price.amount().as_decimal()),
            ];
            let same = tx
                .fetch(&st.product_names_priced, &key, &[Kind::Text])
                .await?;
            if same
                .iter()
                .any(|r| r.text(0).is_ok_and(|n| n == p.name.as_str()))
            {
                continue;
            }
            tx.execute(&st.insert_product, &product_params(p)).await?;
        }
        for e in b.errors {
            let row = e.row.map_or(Value::Int(JOB_WIDE), count);
            let params = [Value::Uuid(b.job.as_uuid()), row, e.message.as_str().into()];
            tx.execute(&st.insert_job_error, &params).await?;
        }
        let params = [
            count(b.done),
            count(b.total),
            b.until.into(),
            b.now.into(),
            Value::Uuid(b.job.as_uuid()),
            Value::Uuid(b.claimer),
        ];
        // Lost the job: dropping the transaction rolls the batch back.
        if tx.execute(&st.job_progress, &params).await? != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}

impl<E: Executor> JobRepository for SqlStore<E> {
    async fn store_job_chunk(&self, job: JobId, seq: u64, text: &str) -> Result<(), StoreError> {
        let params = [Value::Uuid(job.as_uuid()), count(seq), text.into()];
        self.execute(&self.st.insert_job_chunk, &params)
            .await
            .map(drop)
    }

    async fn discard_job_chunks(&self, job: JobId) -> Result<(), StoreError> {
        self.execute(&self.st.delete_job_chunks, &[Value::Uuid(job.as_uuid())])
            .await
            .map(drop)
    }

    async fn queue_job(&self, j: &Job) -> Result<(), StoreError> {
        let params = [
            Value::Uuid(j.id.as_uuid()),
            j.kind.as_str().into(),
            j.status.as_str().into(),
            count(j.done),
            count(j.total),
            j.created_at.into(),
            j.updated_at.into(),
            Value::Int(0),
        ];
        self.execute(&self.st.insert_job, &params).await.map(drop)
    }

    async fn job_by_id(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let key = [Value::Uuid(id.as_uuid())];
        let Some(row) = self
            .fetch_optional(&self.st.job_by_id, &key, JOB_KINDS)
            .await?
        else {
            return Ok(None);
        };
        let errors = self
            .fetch(&self.st.job_errors, &key, &[Kind::Int, Kind::Text])
            .await?
            .iter()
            .map(|r| {
                Ok(JobError {
                    row: u64::try_from(r.int(0)?).ok().filter(|n| *n > 0),
                    message: r.text(1)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        job(&row, errors).map(|(job, _)| Some(job))
    }

    async fn claim_job(&self, claim: &Claim) -> Result<Option<ClaimedJob>, StoreError> {
        self.retrying(|| self.claim_job_once(claim)).await
    }

    async fn job_chunk(&self, job: JobId, seq: u64) -> Result<Option<String>, StoreError> {
        let params = [Value::Uuid(job.as_uuid()), count(seq)];
        self.fetch_optional(&self.st.job_chunk, &params, &[Kind::Text])
            .await?
            .map(|r| r.text(0))
            .transpose()
    }

    async fn import_batch(&self, batch: &ImportBatch<'_>) -> Result<bool, StoreError> {
        self.retrying(|| self.import_batch_once(batch)).await
    }

    async fn finish_job(
        &self,
        id: JobId,
        claimer: Uuid,
        status: JobStatus,
        error: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let st = &self.st;
        let key = Value::Uuid(id.as_uuid());
        let mut tx = self.exec.begin().await.map_err(|e| self.err(e))?;
        let done = async {
            let params = [
                status.as_str().into(),
                now.into(),
                key.clone(),
                Value::Uuid(claimer),
            ];
            if tx.execute(&st.finish_job, &params).await? != 1 {
                return Ok(false);
            }
            if let Some(message) = error {
                let params = [key.clone(), Value::Int(JOB_WIDE), message.into()];
                tx.execute(&st.insert_job_error, &params).await?;
            }
            tx.execute(&st.delete_job_chunks, std::slice::from_ref(&key))
                .await?;
            Ok::<_, DbError>(true)
        }
        .await
        .map_err(|e| self.err(e))?;
        if done {
            tx.commit().await.map_err(|e| self.err(e))?;
        }
        Ok(done)
    }
}

fn outbox_row(row: &Row) -> Result<(Uuid, String, OffsetDateTime, i64), StoreError> {
    Ok((row.uuid(0)?, row.text(1)?, row.time(2)?, row.int(3)?))
}

impl<E: Executor> StoreHealth for SqlStore<E> {
    async fn ping(&self) -> Result<(), StoreError> {
        // No columns decoded: `SELECT 1` is a different integer type per database.
        self.fetch(&self.st.ping, &[], &[]).await.map(drop)
    }

    async fn gauges(&self) -> Result<Gauges, StoreError> {
        let waiting = [
            Value::Text(JobStatus::Queued.as_str().into()),
            Value::Text(JobStatus::Running.as_str().into()),
        ];
        let row = self
            .fetch_optional(&self.st.gauges, &waiting, &[Kind::Int, Kind::Int])
            .await?
            .ok_or_else(|| StoreError::Corrupt("COUNT returned no row".into()))?;
        let count = |i| row.int(i).map(|n| u64::try_from(n).unwrap_or_default());
        let pool = self.exec.pool_status();
        Ok(Gauges {
            outbox_backlog: count(0)?,
            jobs_waiting: count(1)?,
            connections_in_use: pool.in_use,
            connections_idle: pool.idle,
        })
    }
}

fn corrupt(what: &str) -> impl Fn(&dyn std::fmt::Display) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}").into())
}

fn money(row: &Row, i: usize) -> Result<Money, StoreError> {
    Money::from_decimal(row.money(i)?).map_err(|e| corrupt("money")(&e))
}

fn user(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(row.uuid(0)?),
        email: Email::parse(&row.text(1)?).map_err(|e| corrupt("email")(&e))?,
        full_name: row
            .opt_text(2)?
            .map(|n| FullName::parse(&n))
            .transpose()
            .map_err(|e| corrupt("full_name")(&e))?,
        password_hash: PasswordHash::from_stored(row.text(3)?),
        is_active: row.bool(4)?,
        is_superuser: row.bool(5)?,
        created_at: row.time(6)?,
        updated_at: row.time(7)?,
    })
}

fn product(row: &Row) -> Result<Product, StoreError> {
    Ok(Product {
        id: ProductId::from_uuid(row.uuid(0)?),
        name: ProductName::parse(&row.text(1)?).map_err(|e| corrupt("name")(&e))?,
        description: row
            .opt_text(2)?
            .map(|d| Description::parse(&d))
            .transpose()
            .map_err(|e| corrupt("description")(&e))?,
        price: Price::new(money(row, 3)?).map_err(|e| corrupt("price")(&e))?,
        stock: row.int(4)?,
        created_at: row.time(5)?,
        updated_at: row.time(6)?,
    })
}

/// A product as placing an order reads it.
struct StockRow {
    id: ProductId,
    name: ProductName,
    price: Money,
    stock: i64,
}

fn stock_row(row: &Row) -> Result<StockRow, StoreError> {
    Ok(StockRow {
        id: ProductId::from_uuid(row.uuid(0)?),
        name: ProductName::parse(&row.text(1)?).map_err(|e| corrupt("name")(&e))?,
        price: money(row, 2)?,
        stock: row.int(3)?,
    })
}

/// Groups order ⋈ line rows (ordered by order, then line) into orders.
fn orders_from_rows(rows: &[Row]) -> Result<Vec<Order>, StoreError> {
    let mut orders: Vec<Order> = Vec::new();
    for row in rows {
        let id = OrderId::from_uuid(row.uuid(0)?);
        if orders.last().is_none_or(|o| o.id != id) {
            let status = row.text(2)?;
            orders.push(Order {
                id,
                user_id: UserId::from_uuid(row.uuid(1)?),
                status: OrderStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("status {status}").into()))?,
                lines: Vec::new(),
                created_at: row.time(3)?,
                updated_at: row.time(4)?,
            });
        }
        let line = OrderLine {
            product_id: ProductId::from_uuid(row.uuid(5)?),
            product_name: ProductName::parse(&row.text(6)?)
                .map_err(|e| corrupt("product_name")(&e))?,
            unit_price: money(row, 7)?,
            quantity: Quantity::new(row.int(8)?).map_err(|e| corrupt("quantity")(&e))?,
        };
        orders.last_mut().expect("pushed above").lines.push(line);
    }
    Ok(orders)
}
