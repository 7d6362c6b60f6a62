//! The receiving end: the mail queue consumed with manual acks.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::Channel;
use lapin::message::Delivery as Message;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use mercado_core::delivery::{Delivery, EventSource, Settle, TransportError};
use mercado_core::events::Event;
use time::OffsetDateTime;

use crate::{
    ATTEMPTS_HEADER, Broker, DEAD_QUEUE, ERROR_HEADER, MANDATORY, NOTIFY_QUEUE, declare_queue,
    failed, open, taken, text, within,
};

/// The broker's hold on one delivered message, to settle it by.
#[derive(Debug)]
pub struct Receipt(Message);

/// Consumes the mail queue. Each event is acknowledged only once settled: a consumer that
/// dies, or loses its connection, leaves its unsettled events to the broker, which hands
/// them out again. Retries go through a delay queue, events that fail for good to the
/// dead-letter queue, both confirmed before the original is acknowledged.
#[derive(Debug)]
pub struct Consumer {
    broker: Broker,
    prefetch: u16,
    session: Option<Session>,
}

#[derive(Debug)]
struct Session {
    channel: Channel,
    messages: lapin::Consumer,
    /// Delay queues declared on this channel.
    delays: HashSet<u64>,
}

impl Consumer {
    pub(crate) fn new(broker: Broker, prefetch: u16) -> Self {
        Self {
            broker,
            prefetch,
            session: None,
        }
    }

    async fn session(&mut self) -> Result<&mut Session, TransportError> {
        if self
            .session
            .as_ref()
            .is_some_and(|s| !s.channel.status().connected())
        {
            self.session = None;
        }
        if self.session.is_none() {
            let channel = open(&self.broker).await?;
            let qos = channel.basic_qos(self.prefetch, BasicQosOptions::default());
            within("setting the prefetch", qos).await?;
            let consume = channel.basic_consume(
                NOTIFY_QUEUE.into(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            );
            let messages = within("consuming", consume).await?;
            self.session = Some(Session {
                channel,
                messages,
                delays: HashSet::new(),
            });
        }
        Ok(self.session.as_mut().expect("made above"))
    }

    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Receipt>>, TransportError> {
        let session = self.session().await?;
        let mut messages = Vec::new();
        match tokio::time::timeout(wait, session.messages.next()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(Some(Ok(message))) => messages.push(message),
            Ok(Some(Err(e))) => {
                self.session = None;
                return Err(failed("receiving")(e));
            }
            Ok(None) => {
                self.session = None;
                return Err(TransportError::new("broker: the consumer was cancelled"));
            }
        }
        // Whatever else has arrived already; an error waits for the next call.
        while messages.len() < max {
            match session.messages.next().now_or_never() {
                Some(Some(Ok(message))) => messages.push(message),
                _ => break,
            }
        }
        let mut deliveries = Vec::with_capacity(messages.len());
        for message in messages {
            match serde_json::from_slice::<Event>(&message.data) {
                Ok(event) => deliveries.push(Delivery {
                    event,
                    attempts: attempts(&message),
                    receipt: Receipt(message),
                }),
                Err(e) => {
                    // Unreadable now means unreadable always: straight to the dead letters.
                    tracing::error!(error = %e, message_id = ?message.properties.message_id(), "unreadable message dead-lettered");
                    let rejected = message
                        .acker
                        .nack(BasicNackOptions {
                            requeue: false,
                            ..BasicNackOptions::default()
                        })
                        .await;
                    if let Err(e) = rejected {
                        tracing::warn!(error = %e, "unreadable message not rejected; it will return");
                    }
                }
            }
        }
        Ok(deliveries)
    }

    /// Copies `message` to `queue` with its attempts and the error, and waits for the
    /// broker's confirm.
    async fn forward(
        &mut self,
        message: &Message,
        queue: &str,
        attempts: u32,
        error: &str,
    ) -> Result<(), TransportError> {
        let channel = self.session().await?.channel.clone();
        let mut headers = message.properties.headers().clone().unwrap_or_default();
        headers.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongUInt(attempts));
        headers.insert(ERROR_HEADER.into(), text(error));
        let properties = message.properties.clone().with_headers(headers);
        let published = channel.basic_publish(
            ShortString::from(""),
            queue.into(),
            MANDATORY,
            &message.data,
            properties,
        );
        let confirm = within("forwarding", published).await?;
        taken(within("confirming", confirm).await?)
            .map_err(|e| TransportError::caused_by(format_args!("forwarding to `{queue}`"), e))
    }

    /// The delay queue for `delay` (rounded up to whole seconds, at least one), declared
    /// if new.
    async fn delay_queue(&mut self, delay: Duration) -> Result<String, TransportError> {
        let seconds = delay.as_millis().div_ceil(1000).max(1);
        let seconds = u64::try_from(seconds).unwrap_or(u64::MAX);
        let name = format!("{NOTIFY_QUEUE}.retry.{seconds}s");
        let session = self.session().await?;
        if !session.delays.contains(&seconds) {
            let mut arguments = FieldTable::default();
            arguments.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(i64::try_from(seconds * 1000).unwrap_or(i64::MAX)),
            );
            arguments.insert("x-dead-letter-exchange".into(), text(""));
            arguments.insert("x-dead-letter-routing-key".into(), text(NOTIFY_QUEUE));
            declare_queue(&session.channel, &name, arguments).await?;
            session.delays.insert(seconds);
        }
        Ok(name)
    }

    async fn settle_one(
        &mut self,
        delivery: Delivery<Receipt>,
        how: Settle,
    ) -> Result<(), TransportError> {
        let message = delivery.receipt.0;
        match how {
            Settle::Done => {}
            Settle::Release => {
                let options = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                return message
                    .acker
                    .nack(options)
                    .await
                    .map(drop)
                    .map_err(failed("releasing"));
            }
            Settle::Retry { at, error } => {
                let wait = at - OffsetDateTime::now_utc();
                let delay = Duration::try_from(wait).unwrap_or(Duration::ZERO);
                let queue = self.delay_queue(delay).await?;
                self.forward(&message, &queue, delivery.attempts, &error)
                    .await?;
            }
            Settle::Park { error } => {
                self.forward(&message, DEAD_QUEUE, delivery.attempts, &error)
                    .await?;
            }
        }
        message
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(failed("acknowledging"))
    }
}

/// How many times the event was handed out, this time included: the count a retry
/// carried, plus this delivery, plus one if the broker says a consumer had it before
/// without settling it (it may have died handling it).
fn attempts(message: &Message) -> u32 {
    let before = message
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPTS_HEADER))
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(0);
    before + 1 + u32::from(message.redelivered)
}

impl EventSource for Consumer {
    type Receipt = Receipt;

    fn receive(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery<Receipt>>, TransportError>> + Send {
        self.next_batch(max, wait)
    }

    /// One after another: acknowledgements cost no round trip, and a copy to a delay or
    /// dead-letter queue waits for its confirm before the original is acknowledged.
    async fn settle(
        &mut self,
        settled: Vec<(Delivery<Receipt>, Settle)>,
    ) -> Vec<Result<(), TransportError>> {
        let mut results = Vec::with_capacity(settled.len());
        for (delivery, how) in settled {
            results.push(self.settle_one(delivery, how).await);
        }
        results
    }
}
