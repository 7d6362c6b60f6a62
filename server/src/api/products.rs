//! The catalogue.

use std::sync::Arc;

use mercado_core::domain::{
    Description, NewProduct, Price, Product, ProductId, ProductName, ProductPatch, ProductQuery,
    SearchText, Stock,
};
use mercado_core::ports::Store;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::fields::{DescriptionField, IdempotencyKeyField, PriceField, ProductNameField};
use super::idempotency::{self, Begun, CreatedResource, Keyed};
use super::model::{ProductOut, ProductPage};
use super::{ApiTags, State, clearable, default_limit, page, parse_fields, settable};
use crate::auth::BearerAuth;
use crate::problem::Problem;

pub struct ProductsApi<S>(pub Arc<State<S>>);

/// A new product.
#[derive(Debug, Object)]
#[oai(rename = "CreateProduct", deny_unknown_fields)]
struct CreateProductIn {
    name: ProductNameField,
    description: MaybeUndefined<DescriptionField>,
    price: PriceField,
    /// Units in stock.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    stock: i64,
}

/// A change to a product: any subset of the fields.
#[derive(Debug, Object)]
#[oai(rename = "UpdateProduct", deny_unknown_fields)]
struct UpdateProductIn {
    name: MaybeUndefined<ProductNameField>,
    description: MaybeUndefined<DescriptionField>,
    price: MaybeUndefined<PriceField>,
    /// Units in stock.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    stock: MaybeUndefined<i64>,
}

impl CreatedResource for Product {
    type Out = ProductOut;

    fn location(&self) -> String {
        format!("/api/v1/products/{}", self.id)
    }
}

#[derive(ApiResponse)]
enum Created {
    /// Created.
    #[oai(status = 201)]
    Product(Json<ProductOut>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted; orders keep their copies.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Products")]
impl<S: Store> ProductsApi<S> {
    /// Products, oldest first; `q` keeps those whose name contains it (case-insensitive,
    /// `%`, `_` and `\` taken literally).
    #[oai(
        path = "/api/v1/products",
        method = "get",
        operation_id = "listProducts"
    )]
    async fn list_products(
        &self,
        /// A substring of the name (at most 200 characters, no control characters).
        // The pattern is `SearchText::PATTERN` (a literal here; a test compares them).
        #[oai(validator(
            max_length = 200,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
        ))]
        q: Query<Option<String>>,
        /// Page size, 1 to 100.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "100"))
        )]
        limit: Query<i64>,
        /// Items to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<ProductPage>, Problem> {
        parse_fields! {
            name_contains = "q" => q.0.as_deref().map(SearchText::parse).transpose(),
        }
        let page = page(limit.0, offset.0)?;
        Ok(Json(
            self.0
                .queries
                .products(&ProductQuery { name_contains }, page)
                .await?
                .into(),
        ))
    }

    /// One product.
    #[oai(
        path = "/api/v1/products/:id",
        method = "get",
        operation_id = "readProduct"
    )]
    async fn read_product(&self, id: Path<Uuid>) -> Result<Json<ProductOut>, Problem> {
        Ok(Json(
            self.0
                .queries
                .product(ProductId::from_uuid(id.0))
                .await?
                .into(),
        ))
    }

    /// Creates a product. Superusers only.
    #[oai(
        path = "/api/v1/products",
        method = "post",
        operation_id = "createProduct"
    )]
    async fn create_product(
        &self,
        auth: BearerAuth,
        body: Json<CreateProductIn>,
        #[oai(name = "Idempotency-Key")] key: Header<Option<IdempotencyKeyField>>,
        req: &Request,
    ) -> Result<Keyed<Created>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        actor.require_superuser()?;
        parse_fields! {
            name = "name" => ProductName::parse(&body.name.0),
            description = "description" => body.description.value().map(|d| Description::parse(&d.0)).transpose(),
            price = "price" => Price::parse(&body.price.0),
            stock = "stock" => Stock::new(body.stock),
        }
        let claim =
            match idempotency::begin(&self.0, Some(actor.user_id()), key.0.as_ref(), req).await? {
                Begun::Run(claim) => claim,
                Begun::Done(answer) => return Ok(answer),
            };
        let new = NewProduct {
            name,
            description,
            price,
            stock,
        };
        let created = self
            .0
            .commands
            .create_product(actor, new, idempotency::recording(claim.as_ref()).as_ref())
            .await;
        idempotency::finish(&self.0, claim, created, |product| {
            let location = product.location();
            Created::Product(Json(product.into()), location)
        })
        .await
    }

    /// Changes any subset of a product's fields. Superusers only.
    #[oai(
        path = "/api/v1/products/:id",
        method = "patch",
        operation_id = "updateProduct"
    )]
    async fn update_product(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<UpdateProductIn>,
    ) -> Result<Json<ProductOut>, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        actor.require_superuser()?;
        parse_fields! {
            name = "name" => settable(&body.name, |n| ProductName::parse(&n.0)),
            description = "description" => clearable(&body.description, |d| Description::parse(&d.0)),
            price = "price" => settable(&body.price, |p| Price::parse(&p.0)),
            stock = "stock" => settable(&body.stock, |s| Stock::new(*s)),
        }
        let patch = ProductPatch {
            name,
            description,
            price,
            stock,
        };
        Ok(Json(
            self.0
                .commands
                .update_product(actor, ProductId::from_uuid(id.0), patch)
                .await?
                .into(),
        ))
    }

    /// Deletes a product. Orders that contain it are unchanged. Superusers only.
    #[oai(
        path = "/api/v1/products/:id",
        method = "delete",
        operation_id = "deleteProduct"
    )]
    async fn delete_product(&self, auth: BearerAuth, id: Path<Uuid>) -> Result<Deleted, Problem> {
        let actor = self.0.user(&auth).await?.actor();
        self.0
            .commands
            .delete_product(actor, ProductId::from_uuid(id.0))
            .await?;
        Ok(Deleted::NoContent)
    }
}
