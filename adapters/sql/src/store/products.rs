//! Products: the catalogue, searched by folded name.

use mercado_core::StoreError;
use mercado_core::domain::{
    Description, Page, Paged, Price, Product, ProductId, ProductName, ProductPatch, ProductQuery,
    Recording,
};
use mercado_core::events::{DomainEvent, Event};
use mercado_core::ports::ProductRepository;
use time::OffsetDateTime;

use super::{SqlStore, TxError, corrupt, money};
use crate::{Executor, Kind, Row, Transaction, Value};

impl<E: Executor> SqlStore<E> {
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
                ProductRow::KINDS,
            )
            .await?;
        let Some(row) = rows.first() else {
            tx.rollback().await?;
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
}

impl<E: Executor> ProductRepository for SqlStore<E> {
    async fn insert_product(
        &self,
        p: &Product,
        record: Option<&Recording<'_, Product>>,
    ) -> Result<(), StoreError> {
        self.retrying(|| async {
            let mut tx = self.exec.begin().await?;
            tx.execute(&self.st.insert_product, &product_params(p))
                .await?;
            self.commit_recording(tx, record, p).await
        })
        .await
    }

    async fn product_by_id(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let row = self
            .fetch_optional(
                &self.st.product_by_id,
                &[Value::Uuid(id.as_uuid())],
                ProductRow::KINDS,
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
                    self.fetch(
                        &st.list_products_matching,
                        &[pattern, a, b],
                        ProductRow::KINDS,
                    )
                    .await?,
                )
            }
            None => (
                self.count(&st.count_products, &[]).await?,
                self.fetch(&st.list_products, &[a, b], ProductRow::KINDS)
                    .await?,
            ),
        };
        let items = rows.iter().map(product).collect::<Result<_, _>>()?;
        Ok(Paged { items, total, page })
    }
}

/// The parameters of `insert_product`.
pub(super) fn product_params(p: &Product) -> [Value; 8] {
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

columns! {
    /// The columns of `products`, as every read selects them and an insert writes them
    /// (with `name_folded`).
    pub(crate) enum ProductRow {
        id: Uuid,
        name: Text,
        description: Text,
        price: Money,
        stock: Int,
        created_at: Time,
        updated_at: Time,
    }
}

fn product(row: &Row) -> Result<Product, StoreError> {
    Ok(Product {
        id: ProductId::from_uuid(row.uuid(ProductRow::id)?),
        name: ProductName::parse(&row.text(ProductRow::name)?).map_err(|e| corrupt("name")(&e))?,
        description: row
            .opt_text(ProductRow::description)?
            .map(|d| Description::parse(&d))
            .transpose()
            .map_err(|e| corrupt("description")(&e))?,
        price: Price::new(money(row, ProductRow::price)?).map_err(|e| corrupt("price")(&e))?,
        stock: row.int(ProductRow::stock)?,
        created_at: row.time(ProductRow::created_at)?,
        updated_at: row.time(ProductRow::updated_at)?,
    })
}
