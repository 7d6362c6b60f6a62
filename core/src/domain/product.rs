//! Products.

use time::OffsetDateTime;

use super::{Description, Price, ProductId, ProductName, SearchText, Stock};

/// A product in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Its name.
    pub name: ProductName,
    /// Its description, if any.
    pub description: Option<Description>,
    /// Its current unit price.
    pub price: Price,
    /// Units left. Never below zero; may exceed [`Stock::MAX`] after cancellations return
    /// units.
    pub stock: i64,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// What creating a product supplies.
#[derive(Debug, Clone)]
pub struct NewProduct {
    /// Name.
    pub name: ProductName,
    /// Description, if any.
    pub description: Option<Description>,
    /// Unit price.
    pub price: Price,
    /// Units in stock.
    pub stock: Stock,
}

/// A change to a product. `None` leaves a field; `Some(None)` clears the description.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<ProductName>,
    /// New description, or clear it.
    pub description: Option<Option<Description>>,
    /// New price.
    pub price: Option<Price>,
    /// New stock level.
    pub stock: Option<Stock>,
}

impl ProductPatch {
    /// Applies the change to a product as it is now.
    pub fn apply(self, mut product: Product, now: OffsetDateTime) -> Product {
        if let Some(name) = self.name {
            product.name = name;
        }
        if let Some(description) = self.description {
            product.description = description;
        }
        if let Some(price) = self.price {
            product.price = price;
        }
        if let Some(stock) = self.stock {
            product.stock = stock.get();
        }
        product.updated_at = now;
        product
    }
}

/// Which products a list shows.
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    /// Only names containing this, case-insensitively.
    pub name_contains: Option<SearchText>,
}
