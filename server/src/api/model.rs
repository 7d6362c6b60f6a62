//! Response bodies and their conversion from domain types.

use std::borrow::Cow;

use mercado_core::domain::{Money, Order, OrderStatus, Paged, Product, User};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// Money on the wire: a decimal string with exactly two fraction digits.
#[derive(Debug, Clone)]
pub struct MoneyOut(String);

impl From<Money> for MoneyOut {
    fn from(m: Money) -> Self {
        Self(m.to_string())
    }
}

impl Type for MoneyOut {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("decimal"),
            pattern: Some("^[0-9]+\\.[0-9]{2}$".into()),
            example: Some("19.99".into()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for MoneyOut {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for MoneyOut {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// Text that may be `null`: always present, and marked nullable in the schema.
#[derive(Debug, Clone)]
pub struct NullableText(Option<String>);

impl<T: ToString> From<Option<T>> for NullableText {
    fn from(v: Option<T>) -> Self {
        Self(v.map(|t| t.to_string()))
    }
}

impl Type for NullableText {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            nullable: true,
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for NullableText {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Null => Ok(Self(None)),
            Value::String(s) => Ok(Self(Some(s))),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for NullableText {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone().map_or(Value::Null, Value::String))
    }
}

/// A user. Never carries a password or hash.
#[derive(Debug, Object)]
#[oai(rename = "User")]
pub struct UserOut {
    /// Its id (UUID v7).
    pub id: Uuid,
    /// Its lower-cased email.
    pub email: String,
    /// Its display name.
    pub full_name: NullableText,
    /// Whether it may log in.
    pub is_active: bool,
    /// Whether it may administer users and products.
    pub is_superuser: bool,
    /// Whether it proved it reads mail at its address.
    pub email_verified: bool,
    /// When it signed up (RFC 3339, UTC).
    pub created_at: OffsetDateTime,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.to_string(),
            full_name: u.full_name.into(),
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            email_verified: u.email_verified,
            created_at: u.created_at,
        }
    }
}

/// A product.
#[derive(Debug, Object)]
#[oai(rename = "Product")]
pub struct ProductOut {
    /// Its id (UUID v7).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: NullableText,
    /// Its unit price.
    pub price: MoneyOut,
    /// Units in stock.
    pub stock: i64,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        Self {
            id: p.id.as_uuid(),
            name: p.name.to_string(),
            description: p.description.into(),
            price: p.price.amount().into(),
            stock: p.stock,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Where an order stands.
#[derive(Debug, Enum)]
#[oai(rename = "OrderStatus", rename_all = "lowercase")]
pub enum OrderStatusOut {
    /// Placed; its stock is taken.
    Pending,
    /// Cancelled; its stock was given back.
    Cancelled,
}

/// An order line, with its own copy of the product's name and price.
#[derive(Debug, Object)]
#[oai(rename = "OrderItem")]
pub struct OrderItemOut {
    /// The product (which may since have been deleted).
    pub product_id: Uuid,
    /// The product's name when ordered.
    pub product_name: String,
    /// The product's price when ordered.
    pub unit_price: MoneyOut,
    /// Units.
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub line_total: MoneyOut,
}

/// An order.
#[derive(Debug, Object)]
#[oai(rename = "Order")]
pub struct OrderOut {
    /// Its id (UUID v7).
    pub id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// Where it stands.
    pub status: OrderStatusOut,
    /// Its lines, in the order given.
    pub items: Vec<OrderItemOut>,
    /// The exact sum of the line totals.
    pub total: MoneyOut,
    /// When it was placed.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl From<Order> for OrderOut {
    fn from(o: Order) -> Self {
        let total = o.total().into();
        Self {
            id: o.id.as_uuid(),
            user_id: o.user_id.as_uuid(),
            status: match o.status {
                OrderStatus::Pending => OrderStatusOut::Pending,
                OrderStatus::Cancelled => OrderStatusOut::Cancelled,
            },
            items: o
                .lines
                .into_iter()
                .map(|l| OrderItemOut {
                    product_id: l.product_id.as_uuid(),
                    product_name: l.product_name.to_string(),
                    unit_price: l.unit_price.into(),
                    quantity: l.quantity.get(),
                    line_total: l.line_total().into(),
                })
                .collect(),
            total,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

macro_rules! page_type {
    ($(#[$doc:meta])* $name:ident, $item:ty, $oai:literal) => {
        $(#[$doc])*
        #[derive(Debug, Object)]
        #[oai(rename = $oai)]
        pub struct $name {
            /// This page's items.
            pub items: Vec<$item>,
            /// How many items the whole list has.
            pub total: i64,
            /// The page size asked for.
            pub limit: i64,
            /// How many items were skipped.
            pub offset: i64,
        }

        impl<T: Into<$item>> From<Paged<T>> for $name {
            fn from(p: Paged<T>) -> Self {
                Self {
                    items: p.items.into_iter().map(Into::into).collect(),
                    total: p.total,
                    limit: p.page.limit(),
                    offset: p.page.offset(),
                }
            }
        }
    };
}

page_type!(
    /// A page of users, oldest first.
    UserPage, UserOut, "UserPage"
);
page_type!(
    /// A page of products, oldest first.
    ProductPage, ProductOut, "ProductPage"
);
page_type!(
    /// A page of orders, newest first.
    OrderPage, OrderOut, "OrderPage"
);

/// How far a job is.
#[derive(Debug, Object)]
#[oai(rename = "JobProgress")]
pub struct JobProgressOut {
    /// Rows handled (imported, already there, or refused).
    pub done: u64,
    /// Rows in all; 0 until a worker has counted them.
    pub total: u64,
}

/// A problem with one row, or (without `row`) with the whole job.
#[derive(Debug, Object)]
#[oai(rename = "JobError")]
pub struct JobErrorOut {
    /// The CSV row: 1 is the first row after the header.
    #[oai(skip_serializing_if_is_none)]
    pub row: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// The state of a job.
#[derive(Debug, poem_openapi::Enum)]
#[oai(rename = "JobStatus", rename_all = "lowercase")]
pub enum JobStatusOut {
    /// Waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Done; bad rows, if any, are in `errors`.
    Succeeded,
    /// Stopped for good; why is in `errors`.
    Failed,
}

/// A background job.
#[derive(Debug, Object)]
#[oai(rename = "Job")]
pub struct JobOut {
    /// Its id (UUID v7).
    pub id: Uuid,
    /// What it does: `product_import`.
    pub kind: String,
    /// Where it is.
    pub status: JobStatusOut,
    /// How far it is.
    pub progress: JobProgressOut,
    /// Problems, by row.
    pub errors: Vec<JobErrorOut>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it last moved.
    pub updated_at: OffsetDateTime,
}

impl From<mercado_core::domain::Job> for JobOut {
    fn from(j: mercado_core::domain::Job) -> Self {
        use mercado_core::domain::JobStatus as S;
        Self {
            id: j.id.as_uuid(),
            kind: j.kind.as_str().to_owned(),
            status: match j.status {
                S::Queued => JobStatusOut::Queued,
                S::Running => JobStatusOut::Running,
                S::Succeeded => JobStatusOut::Succeeded,
                S::Failed => JobStatusOut::Failed,
            },
            progress: JobProgressOut {
                done: j.done,
                total: j.total,
            },
            errors: j
                .errors
                .into_iter()
                .map(|e| JobErrorOut {
                    row: e.row,
                    message: e.message,
                })
                .collect(),
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}
