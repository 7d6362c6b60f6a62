//! The RabbitMQ transport (AMQP 0-9-1, lapin, rustls).
//!
//! Topology, declared by whichever side connects first (declarations are idempotent):
//! - `mercado.events`: a durable topic exchange; each event is published there with a
//!   routing key from its kind (`order.placed`, `product.stock.low`, …), persistent,
//!   `message_id` = event id, confirmed by the broker before the outbox lets it go
//!   ([`Publisher`]);
//! - `mercado.notify`: the mail consumer's durable queue, bound to every key; consumed
//!   with manual acks and a prefetch window ([`Consumer`]);
//! - `mercado.notify.retry.<n>s`: one durable queue per retry delay, whose messages
//!   expire after `n` seconds back into `mercado.notify` (a delay per queue, so a long
//!   delay never holds up a short one);
//! - `mercado.notify.dead`: the dead-letter queue: events that failed for good or
//!   cannot be read, with why, for an operator.
//!
//! Nothing here survives a lost connection but the broker's own state: the next call
//! connects again, and every unacknowledged message returns to its queue. An event
//! may so arrive twice; consumers are idempotent.
//!
//! ```
//! use mercado_amqp::{Broker, Consumer, Publisher};
//!
//! // Nothing connects yet: the first publish, consume or `check` does.
//! let broker = Broker::new("amqp://guest:guest@127.0.0.1:5672/%2f")?;
//! // The outbox relay's sink and the mail consumer's source (8 unacknowledged at most),
//! // for `mercado_worker::Transport::Broker`.
//! let (publisher, consumer): (Publisher, Consumer) = (broker.publisher(), broker.consumer(8));
//! # drop((publisher, consumer));
//! # Ok::<(), mercado_amqp::UrlError>(())
//! ```

mod consumer;
mod publisher;

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use mercado_core::delivery::TransportError;
use tokio::sync::Mutex;

pub use consumer::{Consumer, Receipt};
pub use publisher::Publisher;

/// The exchange every event is published to.
pub const EXCHANGE: &str = "mercado.events";
/// The mail consumer's queue.
pub const NOTIFY_QUEUE: &str = "mercado.notify";
/// Where events that failed for good end up.
pub const DEAD_QUEUE: &str = "mercado.notify.dead";
/// Header: how many times the event was handed out before this copy.
const ATTEMPTS_HEADER: &str = "x-mercado-attempts";
/// Header: why the last attempt failed.
const ERROR_HEADER: &str = "x-mercado-error";
/// Publishing so that a message no queue takes comes back (and counts as not taken).
const MANDATORY: BasicPublishOptions = BasicPublishOptions {
    mandatory: true,
    immediate: false,
};
/// The heartbeat asked for unless the URL says otherwise (`?heartbeat=`).
const HEARTBEAT_SECONDS: u16 = 10;
/// How long connecting, or any step of setting up a channel, may take before the
/// broker counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a broker URL is unusable. Never contains the password.
#[derive(Debug, thiserror::Error)]
#[error("MERCADO_AMQP_URL: {0} (expected amqp://user:password@host:port/vhost or amqps://…)")]
pub struct UrlError(String);

/// A broker: where it is, and the one connection this process shares with it, made
/// when first needed and made again after it is lost.
#[derive(Clone)]
pub struct Broker {
    uri: Arc<lapin::uri::AMQPUri>,
    connection: Arc<Mutex<Option<Connection>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("host", &self.uri.authority.host)
            .field("port", &self.uri.authority.port)
            .field("vhost", &self.uri.vhost)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker at `url` (`amqp://` or `amqps://`, vhost percent-encoded: `%2f` is `/`).
    /// Nothing connects yet.
    ///
    /// # Errors
    /// [`UrlError`] when `url` is not an AMQP URL.
    pub fn new(url: &str) -> Result<Self, UrlError> {
        // Checked with `url` first: its messages never repeat the input.
        let parsed = url::Url::parse(url).map_err(|e| UrlError(e.to_string()))?;
        if !matches!(parsed.scheme(), "amqp" | "amqps") {
            return Err(UrlError(format!("unknown scheme `{}`", parsed.scheme())));
        }
        let mut uri: lapin::uri::AMQPUri = url
            .parse()
            .map_err(|_| UrlError("not a valid AMQP URL".into()))?;
        // Strictly, `amqp://host/` names the vhost "", which RabbitMQ never has; everyone
        // who writes it means the default one.
        if parsed.path() == "/" {
            "/".clone_into(&mut uri.vhost);
        }
        // A lost broker is noticed within about two heartbeats, not minutes.
        uri.query.heartbeat.get_or_insert(HEARTBEAT_SECONDS);
        Ok(Self {
            uri: Arc::new(uri),
            connection: Arc::new(Mutex::new(None)),
        })
    }

    /// A new channel on the shared connection, connecting first if there is none or it
    /// was lost.
    async fn channel(&self) -> Result<Channel, TransportError> {
        let mut held = self.connection.lock().await;
        if let Some(connection) = held.as_ref().filter(|c| c.status().connected()) {
            match connection.create_channel().await {
                Ok(channel) => return Ok(channel),
                Err(e) => tracing::warn!(error = %e, "broker connection unusable; reconnecting"),
            }
        }
        *held = None;
        let properties =
            ConnectionProperties::default().with_connection_name(LongString::from("mercado"));
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri((*self.uri).clone(), properties),
        )
        .await
        .map_err(|_| TransportError::new("broker: connecting timed out"))?
        .map_err(failed("connecting"))?;
        tracing::info!(host = %self.uri.authority.host, vhost = %self.uri.vhost, "connected to the broker");
        let channel = connection
            .create_channel()
            .await
            .map_err(failed("opening a channel"))?;
        *held = Some(connection);
        Ok(channel)
    }

    /// Whether the broker answers now: a channel opened and closed on the shared
    /// connection, which is made again if it was lost.
    ///
    /// # Errors
    /// [`TransportError`] saying why not.
    pub async fn check(&self) -> Result<(), TransportError> {
        let channel = self.channel().await?;
        within("closing a channel", channel.close(200, "checked".into())).await
    }

    /// The sending end: events published with confirms.
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.clone())
    }

    /// The receiving end of the mail queue, holding at most `prefetch` unsettled events.
    pub fn consumer(&self, prefetch: u16) -> Consumer {
        Consumer::new(self.clone(), prefetch)
    }
}

/// Runs one step with the broker, which fails if the broker does not answer in time (a
/// connection can look open long after its peer is gone).
async fn within<T>(
    doing: &'static str,
    step: impl Future<Output = lapin::Result<T>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(CONNECT_TIMEOUT, step)
        .await
        .map_err(|_| TransportError::new(format!("broker: {doing}: no answer in time")))?
        .map_err(failed(doing))
}

/// A publisher confirm as a result: the broker took the message, or why not (no queue
/// took a mandatory message, or the broker refused it).
fn taken(confirmation: Confirmation) -> Result<(), TransportError> {
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(returned)) => Err(TransportError::new(format!(
            "broker: no queue took the event ({})",
            returned.reply_text
        ))),
        _ => Err(TransportError::new("broker: refused the event")),
    }
}

/// Maps a lapin error to a transport error naming what was being done.
fn failed(doing: &'static str) -> impl Fn(lapin::Error) -> TransportError {
    move |e| TransportError::caused_by(format_args!("broker: {doing}"), e)
}

/// Declares the exchange and the consumer's queues, with publisher confirms on.
async fn open(broker: &Broker) -> Result<Channel, TransportError> {
    let channel = broker.channel().await?;
    let confirms = lapin::options::ConfirmSelectOptions::default();
    within("enabling confirms", channel.confirm_select(confirms)).await?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let exchange = channel.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Topic,
        durable,
        FieldTable::default(),
    );
    within("declaring the exchange", exchange).await?;
    declare_queue(&channel, DEAD_QUEUE, FieldTable::default()).await?;
    // Rejected messages (unreadable ones) go straight to the dead-letter queue.
    let mut notify = FieldTable::default();
    notify.insert("x-dead-letter-exchange".into(), text(""));
    notify.insert("x-dead-letter-routing-key".into(), text(DEAD_QUEUE));
    declare_queue(&channel, NOTIFY_QUEUE, notify).await?;
    let bind = channel.queue_bind(
        NOTIFY_QUEUE.into(),
        EXCHANGE.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    );
    within("binding the queue", bind).await?;
    Ok(channel)
}

async fn declare_queue(
    channel: &Channel,
    name: &str,
    arguments: FieldTable,
) -> Result<(), TransportError> {
    let options = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let declare = channel.queue_declare(name.into(), options, arguments);
    within("declaring a queue", declare).await.map(drop)
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// The routing key of an event kind: `OrderPlaced` → `order.placed`.
fn routing_key(kind: &str) -> String {
    let mut key = String::with_capacity(kind.len() + 4);
    for c in kind.chars() {
        if c.is_ascii_uppercase() && !key.is_empty() {
            key.push('.');
        }
        key.push(c.to_ascii_lowercase());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_are_dotted_lower_case() {
        assert_eq!(routing_key("OrderPlaced"), "order.placed");
        assert_eq!(routing_key("ProductStockLow"), "product.stock.low");
        assert_eq!(routing_key("UserCreated"), "user.created");
    }

    #[test]
    fn a_bare_slash_means_the_default_vhost_and_heartbeats_default_to_ten_seconds() {
        let vhost = |url: &str| Broker::new(url).unwrap().uri.vhost.clone();
        assert_eq!(vhost("amqp://127.0.0.1"), "/");
        assert_eq!(vhost("amqp://127.0.0.1/"), "/");
        assert_eq!(vhost("amqp://127.0.0.1/%2f"), "/");
        assert_eq!(vhost("amqps://127.0.0.1/shop%2feu"), "shop/eu");
        let heartbeat = |url: &str| Broker::new(url).unwrap().uri.query.heartbeat;
        assert_eq!(heartbeat("amqp://127.0.0.1/"), Some(HEARTBEAT_SECONDS));
        assert_eq!(heartbeat("amqp://127.0.0.1/?heartbeat=30"), Some(30));
    }

    #[test]
    fn urls_are_checked_without_repeating_the_password() {
        for bad in [
            "http://guest:s3cret@localhost/",
            "amqp//guest:s3cret@localhost",
            "amqp://guest:s3cret@localhost:notaport/",
        ] {
            let error = Broker::new(bad).unwrap_err().to_string();
            assert!(!error.contains("s3cret"), "{error}");
            assert!(error.starts_with("MERCADO_AMQP_URL: "), "{error}");
        }
        let broker = Broker::new("amqp://guest:s3cret@127.0.0.1:5672/%2f").unwrap();
        let shown = format!("{broker:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("127.0.0.1"),
            "{shown}"
        );
    }
}
