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

impl Product {
    /// A new product with a fresh id, created `now`.
    pub fn create(new: NewProduct, now: OffsetDateTime) -> Self {
        Self {
            id: ProductId::generate(),
            name: new.name,
            description: new.description,
            price: new.price,
            stock: new.stock.get(),
            created_at: now,
            updated_at: now,
        }
    }
}

impl NewProduct {
    /// A product from an import row (`name,description,price,stock`), checked as the API
    /// checks a new product; an empty description is none. The error names every bad field.
    ///
    /// # Errors
    /// `field: problem` for each bad field, joined by `; `.
    pub fn from_row(
        name: &str,
        description: &str,
        price: &str,
        stock: &str,
    ) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut note =
            |field: &str, e: &dyn std::fmt::Display| problems.push(format!("{field}: {e}"));
        let name = ProductName::parse(name).map_err(|e| note("name", &e)).ok();
        let description = if description.is_empty() {
            Some(None)
        } else {
            Description::parse(description)
                .map(Some)
                .map_err(|e| note("description", &e))
                .ok()
        };
        let price = Price::parse(price).map_err(|e| note("price", &e)).ok();
        let stock = if let Ok(n) = stock.trim().parse::<i64>() {
            Stock::new(n).map_err(|e| note("stock", &e)).ok()
        } else {
            note("stock", &"must be a whole number");
            None
        };
        match (name, description, price, stock) {
            (Some(name), Some(description), Some(price), Some(stock)) => Ok(Self {
                name,
                description,
                price,
                stock,
            }),
            _ => Err(problems.join("; ")),
        }
    }
}

#[cfg(test)]
mod import_row_tests {
    use super::*;

    #[test]
    fn a_good_row_is_a_product_and_a_bad_one_names_every_bad_field() {
        let p = NewProduct::from_row("Tea", "", "2.50", "7").unwrap();
        assert_eq!(
            (p.name.as_str(), p.description, p.stock.get()),
            ("Tea", None, 7)
        );
        let err = NewProduct::from_row("", "ok", "2.555", "-1").unwrap_err();
        assert!(err.starts_with("name: "), "{err}");
        assert!(
            err.contains("; price: ") && err.contains("; stock: "),
            "{err}"
        );
        assert!(!err.contains("description"), "{err}");
        assert!(
            NewProduct::from_row("Tea", "", "2.50", "many")
                .unwrap_err()
                .contains("whole number")
        );
    }
}
