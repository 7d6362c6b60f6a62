//! Domain events, recorded in the outbox in the same transaction as the change that
//! caused them. Delivery (mails, jobs) happens elsewhere, at least once, so consumers
//! deduplicate on [`Event::id`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Email, Order, OrderId, ProductId, ProductName, UserId};

/// An event with its identity and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event (UUID v7): the idempotency key for consumers.
    pub id: Uuid,
    /// When the change happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// What happened.
    pub payload: DomainEvent,
}

impl Event {
    /// Wraps a payload with a fresh id.
    pub fn new(payload: DomainEvent, occurred_at: OffsetDateTime) -> Self {
        Self {
            id: Uuid::now_v7(),
            occurred_at,
            payload,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "snake_case")]
pub enum DomainEvent {
    /// A user signed up (or was created as superuser).
    UserCreated {
        /// The new user.
        user_id: UserId,
        /// Where to send the welcome mail.
        email: String,
    },
    /// An order was placed.
    OrderPlaced {
        /// The order.
        order_id: OrderId,
        /// Who placed it.
        user_id: UserId,
        /// Its lines.
        items: Vec<EventLine>,
        /// Its exact total, as a decimal string.
        total: String,
    },
    /// An order was cancelled and its stock given back.
    OrderCancelled {
        /// The order.
        order_id: OrderId,
        /// Who placed it.
        user_id: UserId,
    },
    /// Somebody asked for a password reset link for this address. Recorded whatever the
    /// address is, so the request does the same work for every address; the worker mails
    /// a link only to an active user's.
    PasswordRecoveryRequested {
        /// The address asked for, normalised.
        email: String,
    },
    /// A user's password was changed (with the current one, or by a reset link).
    PasswordChanged {
        /// Whose.
        user_id: UserId,
    },
    /// A user asked for a new verification link (earlier ones stopped working).
    VerificationRequested {
        /// Who.
        user_id: UserId,
    },
    /// A product's stock fell below the low-stock threshold.
    ProductStockLow {
        /// The product.
        product_id: ProductId,
        /// Its name.
        name: String,
        /// Units left.
        stock: i64,
        /// The threshold it fell below.
        threshold: i64,
    },
}

/// An order line as events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// The product.
    pub product_id: ProductId,
    /// Its name when ordered.
    pub product_name: String,
    /// Its price when ordered.
    pub unit_price: String,
    /// Units.
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub line_total: String,
}

impl DomainEvent {
    /// The event's type name, as stored in the outbox.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::UserCreated { .. } => "UserCreated",
            Self::OrderPlaced { .. } => "OrderPlaced",
            Self::OrderCancelled { .. } => "OrderCancelled",
            Self::PasswordRecoveryRequested { .. } => "PasswordRecoveryRequested",
            Self::PasswordChanged { .. } => "PasswordChanged",
            Self::VerificationRequested { .. } => "VerificationRequested",
            Self::ProductStockLow { .. } => "ProductStockLow",
        }
    }

    /// `UserCreated` for a new user.
    pub fn user_created(user_id: UserId, email: &Email) -> Self {
        Self::UserCreated {
            user_id,
            email: email.as_str().to_owned(),
        }
    }

    /// `PasswordChanged` for a user.
    pub fn password_changed(user_id: UserId) -> Self {
        Self::PasswordChanged { user_id }
    }

    /// `OrderPlaced` for a new order.
    pub fn order_placed(order: &Order) -> Self {
        Self::OrderPlaced {
            order_id: order.id,
            user_id: order.user_id,
            items: order
                .lines
                .iter()
                .map(|l| EventLine {
                    product_id: l.product_id,
                    product_name: l.product_name.to_string(),
                    unit_price: l.unit_price.to_string(),
                    quantity: l.quantity.get(),
                    line_total: l.line_total().to_string(),
                })
                .collect(),
            total: order.total().to_string(),
        }
    }

    /// `OrderCancelled` for a cancelled order.
    pub fn order_cancelled(order: &Order) -> Self {
        Self::OrderCancelled {
            order_id: order.id,
            user_id: order.user_id,
        }
    }

    /// `ProductStockLow` if the stock went from at or above `threshold` to below it.
    pub fn stock_low(
        product_id: ProductId,
        name: &ProductName,
        before: i64,
        after: i64,
        threshold: i64,
    ) -> Option<Self> {
        (before >= threshold && after < threshold).then(|| Self::ProductStockLow {
            product_id,
            name: name.to_string(),
            stock: after,
            threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low(before: i64, after: i64) -> Option<DomainEvent> {
        DomainEvent::stock_low(
            ProductId::generate(),
            &ProductName::parse("Tea").unwrap(),
            before,
            after,
            10,
        )
    }

    #[test]
    fn stock_low_fires_only_when_the_threshold_is_crossed() {
        assert!(matches!(
            low(10, 9),
            Some(DomainEvent::ProductStockLow {
                stock: 9,
                threshold: 10,
                ..
            })
        ));
        assert!(low(9, 8).is_none(), "already below");
        assert!(low(12, 10).is_none(), "not below yet");
        assert!(low(5, 50).is_none(), "restocked");
    }

    #[test]
    fn events_serialise_with_their_type_name_and_snake_case_fields() {
        let user_id = UserId::generate();
        let event = DomainEvent::user_created(user_id, &Email::parse("A@B.co").unwrap());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.kind());
        assert_eq!(json["user_id"], user_id.to_string());
        assert_eq!(json["email"], "a@b.co");
    }
}
