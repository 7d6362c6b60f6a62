//! Domain types and entities.
//!
//! Every value type has private fields and a `parse` constructor that returns a typed
//! error, so code that holds one never sees an invalid value.

mod email;
mod idempotency;
mod ids;
mod job;
mod money;
mod numbers;
mod order;
mod page;
mod product;
mod session;
mod text;
mod user;

pub use email::{Email, EmailError};
pub use idempotency::{
    IdempotencyKey, InvalidKey, KEY_RETENTION, KeyClaim, KeyHash, MAX_KEY_CHARS, RecordedAnswer,
    Recording, RequestHash,
};
pub use ids::{JobId, OrderId, ProductId, SessionId, TokenId, UserId};
pub use job::{IMPORT_HEADER, Job, JobError, JobKind, JobStatus, is_import_header};
pub use money::{Money, MoneyError, Price};
pub use numbers::{NumberError, Quantity, Stock};
pub use order::{NewOrderLine, Order, OrderLine, OrderLines, OrderLinesError, OrderStatus};
pub use page::{Page, PageError, Paged};
pub use product::{NewProduct, Product, ProductPatch, ProductQuery};
pub(crate) use session::hex;
pub use session::{NotAToken, SecretToken, Session, TokenHash, TokenPurpose};
pub use text::{Description, FullName, ProductName, SearchText, TextError, is_one_line};
pub use user::{Actor, NewUser, SuperuserRequired, User, UserPatch};

pub use crate::password::{Password, PasswordError, PasswordHash};
