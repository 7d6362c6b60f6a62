//! Orders and their lines.

use std::collections::HashSet;

use time::OffsetDateTime;

use super::{Money, OrderId, ProductId, ProductName, Quantity, UserId};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed; its stock is taken.
    Pending,
    /// Cancelled; its stock was given back.
    Cancelled,
}

impl OrderStatus {
    /// The name used in storage and on the wire.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Cancelled => "cancelled",
        }
    }

    /// Reads a stored status.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A line of a placed order, with its own copy of the product's name and price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The product (which may since have been deleted).
    pub product_id: ProductId,
    /// The product's name when ordered.
    pub product_name: ProductName,
    /// The product's price when ordered.
    pub unit_price: Money,
    /// Units taken.
    pub quantity: Quantity,
}

impl OrderLine {
    /// `unit_price × quantity`, exactly.
    pub fn line_total(&self) -> Money {
        self.unit_price.times(self.quantity)
    }
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// Who placed it.
    pub user_id: UserId,
    /// Where it stands.
    pub status: OrderStatus,
    /// Its lines, in the order they were given.
    pub lines: Vec<OrderLine>,
    /// When it was placed.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl Order {
    /// The exact sum of the line totals.
    pub fn total(&self) -> Money {
        self.lines.iter().map(OrderLine::line_total).sum()
    }
}

/// One requested line: which product and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrderLine {
    /// The product.
    pub product_id: ProductId,
    /// How many units.
    pub quantity: Quantity,
}

/// Why requested lines are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderLinesError {
    /// Fewer than one or more than fifty lines.
    #[error("an order must have between 1 and {max} items")]
    Count {
        /// The most lines an order may have.
        max: usize,
    },
    /// The same product appears on two lines.
    #[error("product {0} appears more than once")]
    Duplicate(ProductId),
}

/// The lines of an order to place: 1 to 50, each product at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLines(Vec<NewOrderLine>);

impl OrderLines {
    /// The most lines an order may have.
    pub const MAX: usize = 50;

    /// Checks the count and that no product repeats.
    ///
    /// # Errors
    /// [`OrderLinesError`] when empty, too long or repeating a product.
    pub fn new(lines: Vec<NewOrderLine>) -> Result<Self, OrderLinesError> {
        if lines.is_empty() || lines.len() > Self::MAX {
            return Err(OrderLinesError::Count { max: Self::MAX });
        }
        let mut seen = HashSet::with_capacity(lines.len());
        if let Some(dup) = lines.iter().find(|l| !seen.insert(l.product_id)) {
            return Err(OrderLinesError::Duplicate(dup.product_id));
        }
        Ok(Self(lines))
    }

    /// The lines in the order given.
    pub fn as_slice(&self) -> &[NewOrderLine] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: ProductId, quantity: i64) -> NewOrderLine {
        NewOrderLine {
            product_id,
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    #[test]
    fn an_order_needs_one_to_fifty_lines() {
        assert_eq!(
            OrderLines::new(vec![]),
            Err(OrderLinesError::Count { max: 50 })
        );
        let many = (0..51).map(|_| line(ProductId::generate(), 1)).collect();
        assert!(OrderLines::new(many).is_err());
        let fifty: Vec<_> = (0..50).map(|_| line(ProductId::generate(), 1)).collect();
        assert_eq!(OrderLines::new(fifty).unwrap().as_slice().len(), 50);
    }

    #[test]
    fn a_product_may_appear_only_once() {
        let p = ProductId::generate();
        assert_eq!(
            OrderLines::new(vec![line(p, 1), line(ProductId::generate(), 2), line(p, 3)]),
            Err(OrderLinesError::Duplicate(p))
        );
    }

    #[test]
    fn the_total_is_the_exact_sum_of_line_totals() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let order = Order {
            id: OrderId::generate(),
            user_id: UserId::generate(),
            status: OrderStatus::Pending,
            lines: vec![
                OrderLine {
                    product_id: ProductId::generate(),
                    product_name: ProductName::parse("a").unwrap(),
                    unit_price: Money::parse("0.10").unwrap(),
                    quantity: Quantity::new(3).unwrap(),
                },
                OrderLine {
                    product_id: ProductId::generate(),
                    product_name: ProductName::parse("b").unwrap(),
                    unit_price: Money::parse("19.99").unwrap(),
                    quantity: Quantity::new(1).unwrap(),
                },
            ],
            created_at: now,
            updated_at: now,
        };
        assert_eq!(order.total().to_string(), "20.29");
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [OrderStatus::Pending, OrderStatus::Cancelled] {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(OrderStatus::parse("shipped"), None);
    }
}
