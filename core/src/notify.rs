//! What each domain event tells whom: welcome mails (with a verification link), order
//! confirmations and cancellations, low-stock notices to every active superuser, password
//! reset links, "your password was changed" notices and new verification links. The
//! [`Notifier`] turns a delivered event into notices and hands each to a [`Mailer`] once:
//! a notice already in the [`MailLog`] is not sent again, so delivering an event twice
//! mails once. A mail with a link gets its one-time token as it is sent: the token exists
//! only in the mail and, hashed, in the store.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::domain::{Email, OrderId, ProductId, SecretToken, TokenPurpose, User, UserId};
use crate::events::{DomainEvent, Event, EventLine};
use crate::ports::{MailLog, OneTimeTokenRepository, UserRepository};
use crate::{Clock, StoreError};

/// What a notice says; each variant is one template (`template` is its name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Message {
    /// After sign-up; with a link to verify the address unless it is verified.
    Welcome {
        /// `{public URL}/verify-email?token=…`.
        verify_url: Option<String>,
    },
    /// A new link to verify the address, asked for by its user.
    VerifyEmail {
        /// `{public URL}/verify-email?token=…`.
        verify_url: String,
        /// How long the link works, in hours.
        valid_hours: i64,
    },
    /// A link to set a new password, asked for with the user's address.
    PasswordReset {
        /// `{public URL}/reset-password?token=…`.
        reset_url: String,
        /// How long the link works, in minutes.
        valid_minutes: i64,
    },
    /// The password was changed.
    PasswordChanged,
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
            Self::Welcome { .. } => "welcome",
            Self::VerifyEmail { .. } => "verify_email",
            Self::PasswordReset { .. } => "password_reset",
            Self::PasswordChanged => "password_changed",
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

/// Where the links in mails lead, and how long their tokens work.
#[derive(Debug, Clone)]
pub struct Links {
    /// The public base URL of the site (`MERCADO_PUBLIC_URL`), without a trailing `/`.
    base: String,
    /// How long a password reset link works.
    pub reset_ttl: time::Duration,
    /// How long a verification link works.
    pub verify_ttl: time::Duration,
}

impl Links {
    /// Links under `base`, whose tokens live as long as given.
    pub fn new(base: &str, reset_ttl: time::Duration, verify_ttl: time::Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            reset_ttl,
            verify_ttl,
        }
    }

    fn url(&self, path: &str, token: &SecretToken) -> String {
        format!("{}/{path}?token={}", self.base, token.expose())
    }
}

impl Default for Links {
    /// The defaults of `MERCADO_PUBLIC_URL`, `MERCADO_RESET_TOKEN_TTL_SECONDS` and
    /// `MERCADO_VERIFY_TOKEN_TTL_SECONDS`.
    fn default() -> Self {
        Self::new(
            "http://127.0.0.1:8000",
            time::Duration::hours(1),
            time::Duration::hours(48),
        )
    }
}

impl Message {
    /// The token this message's link carries, if it has one still to be made, and how
    /// long that token works.
    fn needs_token(&self, links: &Links) -> Option<(TokenPurpose, time::Duration)> {
        match self {
            Self::Welcome {
                verify_url: Some(url),
            }
            | Self::VerifyEmail {
                verify_url: url, ..
            } if url.is_empty() => Some((TokenPurpose::Verify, links.verify_ttl)),
            Self::PasswordReset { reset_url, .. } if reset_url.is_empty() => {
                Some((TokenPurpose::Reset, links.reset_ttl))
            }
            _ => None,
        }
    }

    /// The message with its link made from `token`.
    fn with_link(self, links: &Links, token: &SecretToken) -> Self {
        match self {
            Self::Welcome {
                verify_url: Some(_),
            } => Self::Welcome {
                verify_url: Some(links.url("verify-email", token)),
            },
            Self::VerifyEmail { valid_hours, .. } => Self::VerifyEmail {
                verify_url: links.url("verify-email", token),
                valid_hours,
            },
            Self::PasswordReset { valid_minutes, .. } => Self::PasswordReset {
                reset_url: links.url("reset-password", token),
                valid_minutes,
            },
            other => other,
        }
    }
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
    links: Links,
}

impl<S, M> std::fmt::Debug for Notifier<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

impl<S: UserRepository + MailLog + OneTimeTokenRepository, M: Mailer> Notifier<S, M> {
    /// A notifier over a store and a mailer, its links made by `links`.
    pub fn new(store: S, mailer: M, clock: Arc<dyn Clock>, links: Links) -> Self {
        Self {
            store,
            mailer,
            clock,
            links,
        }
    }

    /// The notices an event gives, addressed from the store's current users. A link a
    /// message carries is left empty here: [`Notifier::handle`] makes its token when it
    /// sends the mail, so that no token exists for a mail never sent.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails.
    pub async fn notices(&self, event: &Event) -> Result<Vec<Notice>, StoreError> {
        let notice = |user: User, message: Message| Notice {
            event_id: event.id,
            user_id: user.id,
            to: user.email,
            full_name: user.full_name.map(|n| n.to_string()),
            message,
        };
        let to_user = |user_id: UserId, message: Message| async move {
            Ok::<_, StoreError>(
                self.store
                    .user_by_id(user_id)
                    .await?
                    .map(|user| notice(user, message)),
            )
        };
        let notices = match &event.payload {
            DomainEvent::UserCreated { user_id, .. } => {
                let user = self.store.user_by_id(*user_id).await?;
                user.map(|user| {
                    let verify_url = (!user.email_verified).then(String::new);
                    notice(user, Message::Welcome { verify_url })
                })
                .into_iter()
                .collect()
            }
            DomainEvent::PasswordRecoveryRequested { email } => {
                // Recorded for any address: only an active user's gets a link.
                let user = match Email::parse(email) {
                    Ok(email) => self.store.user_by_email(&email).await?,
                    Err(_) => None,
                };
                let message = Message::PasswordReset {
                    reset_url: String::new(),
                    valid_minutes: self.links.reset_ttl.whole_minutes(),
                };
                user.filter(|u| u.is_active)
                    .map(|user| notice(user, message))
                    .into_iter()
                    .collect()
            }
            DomainEvent::PasswordChanged { user_id } => to_user(*user_id, Message::PasswordChanged)
                .await?
                .into_iter()
                .collect(),
            DomainEvent::VerificationRequested { user_id } => {
                let message = Message::VerifyEmail {
                    verify_url: String::new(),
                    valid_hours: self.links.verify_ttl.whole_hours(),
                };
                let user = self.store.user_by_id(*user_id).await?;
                user.filter(|u| !u.email_verified)
                    .map(|user| notice(user, message))
                    .into_iter()
                    .collect()
            }
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
        for mut notice in self.notices(event).await? {
            if self.store.was_mailed(event.id, notice.user_id).await? {
                continue;
            }
            if let Some((purpose, ttl)) = notice.message.needs_token(&self.links) {
                let token = SecretToken::generate();
                self.store
                    .mint_token(
                        notice.user_id,
                        purpose,
                        &token.hash(purpose),
                        self.clock.now() + ttl,
                    )
                    .await?;
                notice.message = notice.message.with_link(&self.links, &token);
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
