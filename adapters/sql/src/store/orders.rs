//! Orders: placing one takes stock, cancelling one returns it.

use mercado_core::StoreError;
use mercado_core::domain::{
    Money, Order, OrderId, OrderLine, OrderStatus, Page, Paged, ProductId, ProductName, Quantity,
    Recording, UserId,
};
use mercado_core::events::{DomainEvent, Event};
use mercado_core::ports::{CancelOrderError, OrderRepository, PlaceOrder, PlaceOrderError};
use time::OffsetDateTime;

use super::{SqlStore, TxError, corrupt, money, refuse};
use crate::{Executor, Kind, Row, Transaction, Value};

impl<E: Executor> SqlStore<E> {
    async fn place_once(
        &self,
        order: &PlaceOrder,
        record: Option<&Recording<'_, Order>>,
    ) -> Result<Order, TxError<PlaceOrderError>> {
        let st = &self.st;
        let lines = order.lines.as_slice();
        let mut ids: Vec<ProductId> = lines.iter().map(|l| l.product_id).collect();
        ids.sort_unstable();
        let params: Vec<Value> = ids.iter().map(|id| Value::Uuid(id.as_uuid())).collect();

        let mut tx = self.exec.begin().await?;
        // Locks every product of the order in id order, so crossed orders cannot deadlock.
        let rows = tx
            .fetch(
                &st.products_for_order[ids.len() - 1],
                &params,
                StockRow::KINDS,
            )
            .await?;
        let mut stock = Vec::with_capacity(rows.len());
        for row in &rows {
            stock.push(product_stock(row).map_err(|e| TxError::Domain(e.into()))?);
        }
        let mut order_lines = Vec::with_capacity(lines.len());
        for line in lines {
            let Some(p) = stock.iter().find(|p| p.id == line.product_id) else {
                return refuse(tx, PlaceOrderError::UnknownProduct(line.product_id)).await;
            };
            if p.stock < line.quantity.get() {
                return refuse(tx, PlaceOrderError::InsufficientStock(line.product_id)).await;
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
                return refuse(tx, PlaceOrderError::InsufficientStock(p.id)).await;
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
        self.commit_recording(tx, record, &placed).await?;
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
            let refusal = if exists {
                CancelOrderError::NotPending
            } else {
                CancelOrderError::NotFound
            };
            return refuse(tx, refusal).await;
        }
        let rows = tx
            .fetch(&st.order_by_id, &[order_id], OrderLineRow::KINDS)
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
}

impl<E: Executor> OrderRepository for SqlStore<E> {
    async fn place_order(
        &self,
        order: &PlaceOrder,
        record: Option<&Recording<'_, Order>>,
    ) -> Result<Order, PlaceOrderError> {
        self.retrying(|| self.place_once(order, record)).await
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
                OrderLineRow::KINDS,
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
                    self.fetch(&st.list_orders_of_user, &[user, a, b], OrderLineRow::KINDS)
                        .await?,
                )
            }
            None => (
                self.count(&st.count_orders, &[]).await?,
                self.fetch(&st.list_orders, &[a, b], OrderLineRow::KINDS)
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

columns! {
    /// The columns of a product that placing an order reads.
    pub(crate) enum StockRow {
        id: Uuid,
        name: Text,
        price: Money,
        stock: Int,
    }
}

/// A product as placing an order reads it.
struct ProductStock {
    id: ProductId,
    name: ProductName,
    price: Money,
    stock: i64,
}

fn product_stock(row: &Row) -> Result<ProductStock, StoreError> {
    Ok(ProductStock {
        id: ProductId::from_uuid(row.uuid(StockRow::id)?),
        name: ProductName::parse(&row.text(StockRow::name)?).map_err(|e| corrupt("name")(&e))?,
        price: money(row, StockRow::price)?,
        stock: row.int(StockRow::stock)?,
    })
}

columns! {
    /// The columns of an order joined with one of its lines.
    pub(crate) enum OrderLineRow {
        o.id: Uuid,
        o.user_id: Uuid,
        o.status: Text,
        o.created_at: Time,
        o.updated_at: Time,
        i.product_id: Uuid,
        i.product_name: Text,
        i.unit_price: Money,
        i.quantity: Int,
    }
}

/// Groups order ⋈ line rows (ordered by order, then line) into orders.
fn orders_from_rows(rows: &[Row]) -> Result<Vec<Order>, StoreError> {
    let mut orders: Vec<Order> = Vec::new();
    for row in rows {
        let id = OrderId::from_uuid(row.uuid(OrderLineRow::id)?);
        if orders.last().is_none_or(|o| o.id != id) {
            let status = row.text(OrderLineRow::status)?;
            orders.push(Order {
                id,
                user_id: UserId::from_uuid(row.uuid(OrderLineRow::user_id)?),
                status: OrderStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("status {status}").into()))?,
                lines: Vec::new(),
                created_at: row.time(OrderLineRow::created_at)?,
                updated_at: row.time(OrderLineRow::updated_at)?,
            });
        }
        let line = OrderLine {
            product_id: ProductId::from_uuid(row.uuid(OrderLineRow::product_id)?),
            product_name: ProductName::parse(&row.text(OrderLineRow::product_name)?)
                .map_err(|e| corrupt("product_name")(&e))?,
            unit_price: money(row, OrderLineRow::unit_price)?,
            quantity: Quantity::new(row.int(OrderLineRow::quantity)?)
                .map_err(|e| corrupt("quantity")(&e))?,
        };
        orders.last_mut().expect("pushed above").lines.push(line);
    }
    Ok(orders)
}
