//! Orders and stock.

use std::sync::Arc;

use mercado_core::domain::{NewOrderLine, Order, OrderId, OrderLines, ProductId, Quantity, UserId};
use mercado_core::ports::Store;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::fields::IdempotencyKeyField;
use super::idempotency::{self, Begun, CreatedResource, Keyed};
use super::model::{OrderOut, OrderPage};
use super::{ApiTags, State, default_limit, field_error, page};
use crate::auth::BearerAuth;
use crate::problem::Problem;

pub struct OrdersApi<S>(pub Arc<State<S>>);

/// A new order: 1 to 50 lines, each product at most once.
#[derive(Debug, Object)]
#[oai(rename = "PlaceOrder", deny_unknown_fields)]
struct PlaceOrderIn {
    #[oai(validator(min_items = 1, max_items = 50))]
    items: Vec<OrderItemIn>,
}

/// One line of a new order.
#[derive(Debug, Object)]
#[oai(rename = "PlaceOrderItem", deny_unknown_fields)]
struct OrderItemIn {
    product_id: Uuid,
    /// Units, 1 to 1000.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
    quantity: i64,
}

impl CreatedResource for Order {
    type Out = OrderOut;

    fn location(&self) -> String {
        format!("/api/v1/orders/{}", self.id)
    }
}

#[derive(ApiResponse)]
enum Created {
    /// Placed; the stock is taken.
    #[oai(status = 201)]
    Order(Json<OrderOut>, #[oai(header = "Location")] String),
}

#[OpenApi(tag = "ApiTags::Orders")]
impl<S: Store> OrdersApi<S> {
    /// Places an order at the products' current prices, taking all stock in one
    /// transaction: 409 if any product lacks stock (and then nothing changed), 422 for an
    /// unknown product.
    #[oai(path = "/api/v1/orders", method = "post", operation_id = "placeOrder")]
    async fn place_order(
        &self,
        auth: BearerAuth,
        body: Json<PlaceOrderIn>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKeyField>>,
        req: &Request,
    ) -> Result<Keyed<Created>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        let mut lines = Vec::with_capacity(body.items.len());
        let mut errors = Vec::new();
        for (i, item) in body.items.iter().enumerate() {
            match Quantity::new(item.quantity) {
                Ok(quantity) => lines.push(NewOrderLine {
                    product_id: ProductId::from_uuid(item.product_id),
                    quantity,
                }),
                Err(e) => errors.push(field_error(&format!("items.{i}.quantity"), e)),
            }
        }
        if !errors.is_empty() {
            return Err(Problem::validation(errors));
        }
        let lines = OrderLines::new(lines).map_err(|e| Problem::invalid("items", e))?;
        let claim =
            match idempotency::begin(&self.0, Some(actor.user_id()), key.0.as_ref(), req).await? {
                Begun::Run(claim) => claim,
                Begun::Done(answer) => return Ok(answer),
            };
        let placed = self
            .0
            .commands
            .place_order(
                actor,
                lines,
                idempotency::recording(claim.as_ref()).as_ref(),
            )
            .await;
        idempotency::finish(&self.0, claim, placed, |order| {
            let location = order.location();
            Created::Order(Json(order.into()), location)
        })
        .await
    }

    /// The caller's orders, newest first. A superuser sees everyone's; `user_id` filters.
    #[oai(path = "/api/v1/orders", method = "get", operation_id = "listOrders")]
    async fn list_orders(
        &self,
        auth: BearerAuth,
        /// Only this user's orders.
        user_id: Query<Option<Uuid>>,
        /// Page size, 1 to 100.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "100"))
        )]
        limit: Query<i64>,
        /// Items to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<OrderPage>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        let page = page(limit.0, offset.0)?;
        let only = user_id.0.map(UserId::from_uuid);
        Ok(Json(self.0.queries.orders(actor, only, page).await?.into()))
    }

    /// One order, for its owner or a superuser (404 for anyone else).
    #[oai(
        path = "/api/v1/orders/:id",
        method = "get",
        operation_id = "readOrder"
    )]
    async fn read_order(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<OrderOut>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        Ok(Json(
            self.0
                .queries
                .order(actor, OrderId::from_uuid(id.0))
                .await?
                .into(),
        ))
    }

    /// Cancels a pending order and gives its stock back; 409 if it is not pending.
    #[oai(
        path = "/api/v1/orders/:id/cancel",
        method = "post",
        operation_id = "cancelOrder"
    )]
    async fn cancel_order(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<OrderOut>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        Ok(Json(
            self.0
                .commands
                .cancel_order(actor, OrderId::from_uuid(id.0))
                .await?
                .into(),
        ))
    }
}
