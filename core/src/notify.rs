//! What each domain event tells whom: welcome mails, order confirmations and
//! cancellations, low-stock notices to every active superuser. The [`Notifier`] turns a
//! delivered event into notices and hands each to a [`Mailer`] once: a notice already in
//! the [`MailLog`] is not sent again, so delivering an event twice mails once.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::domain::{Email, OrderId, ProductId, UserId};
use crate::events::{DomainEvent, Event, EventLine};
use crate::ports::{MailLog, UserRepository};
use crate::{Clock, StoreError};

/// What a notice says; each variant is one template (`template` is its name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Message {
    /// After sign-up.
    Welcome,
    /// After an order was placed.
    OrderConfirmation {
        /// The order.
        order_id: OrderId,
        /// Its lines.
        items: Vec<EventLine>,
        /// Its total, exact.
        total: String,
    },
    /// After an order was cancelled.
    OrderCancelled {
        /// The order.
        order_id: OrderId,
    },
    /// To a superuser, after a product's stock fell below the threshold.
    StockLow {
        /// The product.
        product_id: ProductId,
        /// Its name.
        name: String,
        /// Units left.
        stock: i64,
        /// The threshold.
        threshold: i64,
    },
}

impl Message {
    /// The template's name.
    pub const fn template(&self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::OrderConfirmation { .. } => "order_confirmation",
            Self::OrderCancelled { .. } => "order_cancelled",
            Self::StockLow { .. } => "stock_low",
        }
    }
}

/// One mail to one user because of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The event; with `user_id`, the mail's identity.
    pub event_id: Uuid,
    /// The recipient.
    pub user_id: UserId,
    /// Their address.
    pub to: Email,
    /// Their name, if they gave one.
    pub full_name: Option<String>,
    /// What it says.
    pub message: Message,
}

/// Why a mail could not be sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// Whether trying later may succeed (the mail server is down or busy) or not (the
    /// mail cannot be built or was refused for good).
    pub transient: bool,
    /// What went wrong; never a password.
    pub message: String,
    /// The mail client's or the file system's error beneath, if any.
    #[source]
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl MailError {
    /// An error with nothing beneath it.
    pub fn new(transient: bool, message: impl Into<String>) -> Self {
        Self {
            transient,
            message: message.into(),
            source: None,
        }
    }

    /// An error met while `doing`, caused by `error`.
    pub fn caused_by(
        transient: bool,
        doing: impl std::fmt::Display,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            transient,
            message: format!("{doing}: {error}"),
            source: Some(std::sync::Arc::new(error)),
        }
    }
}

/// Sends rendered notices: over SMTP, into files, or anywhere else.
pub trait Mailer: Send + Sync + 'static {
    /// Renders and sends one notice. The message id is derived from the notice's event
    /// and recipient, so a resend after an unknown outcome is recognisable.
    ///
    /// # Errors
    /// [`MailError`].
    fn send(&self, notice: &Notice) -> impl Future<Output = Result<(), MailError>> + Send;
}

/// Why handling an event failed; it is retried later either way.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A mail could not be sent.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
}

/// Turns events into mails, each sent once.
pub struct Notifier<S, M> {
    store: S,
    mailer: M,
    clock: Arc<dyn Clock>,
}

impl<S, M> std::fmt::Debug for Notifier<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl<S: UserRepository + MailLog, M: Mailer> Notifier<S, M> {
    /// A notifier over a store and a mailer.
    pub fn new(store: S, mailer: M, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            mailer,
            clock,
        }
    }

    /// The notices an event gives, addressed from the store's current users.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn notices(&self, event: &Event) -> Result<Vec<Notice>, StoreError> {
        let to_user = |user_id: UserId, message: Message| async move {
            Ok::<_, StoreError>(self.store.user_by_id(user_id).await?.map(|user| Notice {
                event_id: event.id,
                user_id,
                to: user.email,
                full_name: user.full_name.map(|n| n.to_string()),
                message,
            }))
        };
        let notices = match &event.payload {
            DomainEvent::UserCreated { user_id, .. } => to_user(*user_id, Message::Welcome)
                .await?
                .into_iter()
                .collect(),
            DomainEvent::OrderPlaced {
                order_id,
                user_id,
                items,
                total,
            } => {
                let message = Message::OrderConfirmation {
                    order_id: *order_id,
                    items: items.clone(),
                    total: total.clone(),
                };
                to_user(*user_id, message).await?.into_iter().collect()
            }
            DomainEvent::OrderCancelled { order_id, user_id } => {
                let message = Message::OrderCancelled {
                    order_id: *order_id,
                };
                to_user(*user_id, message).await?.into_iter().collect()
            }
            DomainEvent::ProductStockLow {
                product_id,
                name,
                stock,
                threshold,
            } => self
                .store
                .active_superusers()
                .await?
                .into_iter()
                .map(|admin| Notice {
                    event_id: event.id,
                    user_id: admin.id,
                    to: admin.email,
                    full_name: admin.full_name.map(|n| n.to_string()),
                    message: Message::StockLow {
                        product_id: *product_id,
                        name: name.clone(),
                        stock: *stock,
                        threshold: *threshold,
                    },
                })
                .collect(),
        };
        Ok(notices)
    }

    /// Sends every notice of `event` not sent before, recording each right after the mail
    /// server accepted it. Returns how many went out now.
    ///
    /// # Errors
    /// [`NotifyError`]: the notices sent so far stay recorded, so a retry sends the rest.
    pub async fn handle(&self, event: &Event) -> Result<usize, NotifyError> {
        let mut sent = 0;
        for notice in self.notices(event).await? {
            if self.store.was_mailed(event.id, notice.user_id).await? {
                continue;
            }
            self.mailer.send(&notice).await?;
            self.store
                .record_mail(event.id, notice.user_id, self.clock.now())
                .await?;
            sent += 1;
        }
        Ok(sent)
    }
}
