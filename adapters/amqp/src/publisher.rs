//! The sending end: events published to the exchange with publisher confirms.

use std::time::Duration;

use lapin::types::ShortString;
use lapin::{BasicProperties, Channel};
use mercado_core::delivery::{EventSink, Outgoing, TransportError};
use mercado_core::events::Event;

use crate::{Broker, EXCHANGE, MANDATORY, failed, open, routing_key, taken};

/// How long the broker may take to confirm a batch before it counts as down.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// AMQP delivery mode 2: the broker writes the message to disk.
pub(crate) const PERSISTENT: u8 = 2;

/// Publishes events to the exchange, persistent and mandatory (a message no queue takes
/// is returned, and counts as not published). An event counts as published only once
/// the broker has confirmed it.
#[derive(Debug)]
pub struct Publisher {
    broker: Broker,
    channel: Option<Channel>,
}

impl Publisher {
    pub(crate) fn new(broker: Broker) -> Self {
        Self {
            broker,
            channel: None,
        }
    }

    async fn channel(&mut self) -> Result<Channel, TransportError> {
        match &self.channel {
            Some(channel) if channel.status().connected() => Ok(channel.clone()),
            _ => {
                let channel = open(&self.broker).await?;
                self.channel = Some(channel.clone());
                Ok(channel)
            }
        }
    }

    /// Publishes every event before waiting for the first confirm, so a batch costs about
    /// one round trip.
    async fn publish_all(&mut self, events: &[Outgoing]) -> Vec<Result<(), TransportError>> {
        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(e) => return vec![Err(e); events.len()],
        };
        let mut pending = Vec::with_capacity(events.len());
        for outgoing in events {
            pending.push(publish(&channel, &outgoing.event).await);
        }
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        let mut results = Vec::with_capacity(events.len());
        for confirm in pending {
            results.push(match confirm {
                Ok(confirm) => match tokio::time::timeout_at(deadline, confirm).await {
                    Ok(Ok(confirmation)) => taken(confirmation),
                    Ok(Err(e)) => Err(failed("confirming")(e)),
                    Err(_) => Err(TransportError::new("broker: no confirm in time")),
                },
                Err(e) => Err(e),
            });
        }
        if results.iter().any(Result::is_err) {
            // Whatever went wrong, the next batch starts on a fresh channel.
            self.channel = None;
        }
        results
    }
}

async fn publish(
    channel: &Channel,
    event: &Event,
) -> Result<lapin::PublisherConfirm, TransportError> {
    let body = serde_json::to_vec(event).map_err(|e| {
        TransportError::caused_by(format_args!("event {} not serialisable", event.id), e)
    })?;
    let kind = event.payload.kind();
    let timestamp = u64::try_from(event.occurred_at.unix_timestamp()).unwrap_or(0);
    let properties = BasicProperties::default()
        .with_message_id(ShortString::from(event.id.to_string()))
        .with_type(ShortString::from(kind))
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(PERSISTENT)
        .with_timestamp(timestamp)
        .with_app_id(ShortString::from("mercado"));
    channel
        .basic_publish(
            EXCHANGE.into(),
            ShortString::from(routing_key(kind)),
            MANDATORY,
            &body,
            properties,
        )
        .await
        .map_err(failed("publishing"))
}

impl EventSink for Publisher {
    fn publish(
        &mut self,
        events: &[Outgoing],
    ) -> impl Future<Output = Vec<Result<(), TransportError>>> + Send {
        self.publish_all(events)
    }
}
