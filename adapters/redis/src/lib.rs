//! The Redis transport (Redis Streams, redis-rs, rustls).
//!
//! Keys, under a prefix (`mercado` unless configured):
//! - `<prefix>:events`: the stream the relay adds each outbox event to ([`Publisher`]),
//!   trimmed to about [`MAX_LEN`] entries; read by the consumer group `notify`
//!   ([`Consumer`]), whose entries a dead consumer held are taken over once idle for a
//!   lease (`XAUTOCLAIM`);
//! - `<prefix>:events:dead`: the dead-letter stream: events that failed for good or
//!   cannot be read, with why, for an operator.
//!
//! Redis often runs without persistence, and then a restart loses the streams. So the
//! outbox stays the record: the relay leaves each event claimed there (the sink does not
//! keep events, [`EventSink::KEEPS_EVENTS`]), and the consumer settles it there once
//! handled — done, retried at a time, parked — before it acknowledges the entry. An
//! event Redis lost (or trimmed, or whose consumer died) is relayed again when its
//! outbox claim runs out; an event handled twice sends its mails once (the mail log).
//! Retries go back through the outbox, with the same backoff and bound as the other
//! transports.
//!
//! ```
//! use mercado_redis::Streams;
//!
//! // Nothing connects yet: the first publish, receive or `check` does.
//! let streams = Streams::new("redis://127.0.0.1:6379/0", "mercado")?;
//! let publisher = streams.publisher();
//! # drop(publisher);
//! # Ok::<(), mercado_redis::UrlError>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use mercado_core::Clock;
use mercado_core::delivery::{
    Delivery, EventSink, EventSource, Outgoing, Settle, TransportError, settle_in_outbox,
};
use mercado_core::events::Event;
use mercado_core::ports::OutboxRepository;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamInfoGroupsReply, StreamMaxlen,
    StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands as _, RedisError, Value};
use tokio::sync::Mutex;
use uuid::Uuid;

/// The consumer group of the mail consumers.
pub const GROUP: &str = "notify";
/// About how many entries the events stream keeps (`XADD … MAXLEN ~`): an entry trimmed
/// before it was read is relayed again from the outbox.
pub const MAX_LEN: usize = 100_000;
/// How long connecting, or one command, may take before Redis counts as down.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a Redis URL is unusable. Never contains the password.
#[derive(Debug, thiserror::Error)]
#[error("MERCADO_REDIS_URL: {0} (expected redis://[:password@]host:port/db or rediss://…)")]
pub struct UrlError(String);

/// A Redis server and the names of this deployment's streams. Cloning shares the
/// connection used for checks; publishers and consumers hold connections of their own
/// (a consumer's blocking read must not hold up anyone else's commands).
#[derive(Clone)]
pub struct Streams {
    // Shared: a client holds its whole connection info.
    client: Arc<redis::Client>,
    names: Arc<Names>,
    checks: Arc<Mutex<Option<ConnectionManager>>>,
}

#[derive(Debug)]
struct Names {
    events: String,
    dead: String,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = self.client.get_connection_info();
        f.debug_struct("Streams")
            .field("addr", &info.addr().to_string())
            .field("events", &self.names.events)
            .finish_non_exhaustive()
    }
}

/// What readiness and metrics report of the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Entries not yet read by the consumer group.
    pub waiting: u64,
    /// Entries read and not yet acknowledged (being handled, or held by a dead consumer).
    pub pending: u64,
    /// Entries in the dead-letter stream.
    pub dead: u64,
}

impl Streams {
    /// The streams under `prefix` on the Redis at `url` (`redis://` or `rediss://`).
    /// Nothing connects yet.
    ///
    /// # Errors
    /// [`UrlError`] when `url` is not a Redis URL.
    pub fn new(url: &str, prefix: &str) -> Result<Self, UrlError> {
        let parsed = url::Url::parse(url).map_err(|e| UrlError(e.to_string()))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(UrlError(format!("unknown scheme `{}`", parsed.scheme())));
        }
        if parsed.scheme() == "rediss" && rustls::crypto::CryptoProvider::get_default().is_none() {
            // Another thread may have installed one meanwhile: either serves.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client =
            redis::Client::open(url).map_err(|_| UrlError("not a valid Redis URL".into()))?;
        Ok(Self {
            client: Arc::new(client),
            names: Arc::new(Names {
                events: format!("{prefix}:events"),
                dead: format!("{prefix}:events:dead"),
            }),
            checks: Arc::new(Mutex::new(None)),
        })
    }

    /// The relay's sink.
    pub fn publisher(&self) -> Publisher {
        Publisher {
            streams: self.clone(),
            connection: None,
        }
    }

    /// A mail consumer of the group, settling events in `store`'s outbox; entries idle
    /// for `lease` (their consumer died) are taken over.
    pub fn consumer<S>(&self, store: S, clock: Arc<dyn Clock>, lease: Duration) -> Consumer<S> {
        Consumer {
            streams: self.clone(),
            store,
            clock,
            lease,
            name: Uuid::now_v7().to_string(),
            connection: None,
            grouped: false,
        }
    }

    /// A connection that reconnects by itself; `read_for` is the longest blocking read it
    /// will send.
    async fn connect(&self, read_for: Duration) -> Result<ConnectionManager, TransportError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT + read_for))
            .set_number_of_retries(1);
        ConnectionManager::new_with_config((*self.client).clone(), config)
            .await
            .map_err(failed("connecting"))
    }

    /// The connection in `slot`, made first if there is none (it reconnects by itself
    /// once made).
    async fn cached(
        &self,
        slot: &mut Option<ConnectionManager>,
        read_for: Duration,
    ) -> Result<ConnectionManager, TransportError> {
        if let Some(connection) = slot {
            return Ok(connection.clone());
        }
        let connection = self.connect(read_for).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn checks(&self) -> Result<ConnectionManager, TransportError> {
        let mut held = self.checks.lock().await;
        self.cached(&mut held, Duration::ZERO).await
    }

    /// Whether Redis answers (readiness).
    ///
    /// # Errors
    /// [`TransportError`] when it does not.
    pub async fn check(&self) -> Result<(), TransportError> {
        let mut connection = self.checks().await?;
        ping(&mut connection).await
    }

    /// How many entries wait, are being handled, and are dead (metrics).
    ///
    /// # Errors
    /// [`TransportError`] when Redis does not answer.
    pub async fn backlog(&self) -> Result<Backlog, TransportError> {
        let mut connection = self.checks().await?;
        let groups: Result<StreamInfoGroupsReply, RedisError> =
            connection.xinfo_groups(&self.names.events).await;
        let group = match groups {
            Ok(reply) => reply.groups.into_iter().find(|g| g.name == GROUP),
            // No stream yet: nothing waits.
            Err(e) if e.code() == Some("ERR") => None,
            Err(e) => return Err(failed("reading the backlog")(e)),
        };
        let dead: u64 = connection
            .xlen(&self.names.dead)
            .await
            .map_err(failed("reading the backlog"))?;
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Ok(match group {
            Some(group) => Backlog {
                waiting: count(group.lag.unwrap_or_default()),
                pending: count(group.pending),
                dead,
            },
            None => Backlog {
                dead,
                ..Backlog::default()
            },
        })
    }
}

async fn ping(connection: &mut ConnectionManager) -> Result<(), TransportError> {
    let pong: String = redis::cmd("PING")
        .query_async(connection)
        .await
        .map_err(failed("pinging"))?;
    (pong == "PONG")
        .then_some(())
        .ok_or_else(|| TransportError::new(format!("redis: PING answered {pong}")))
}

/// A Redis error met while `doing`, as a transport error.
fn failed(doing: &'static str) -> impl Fn(RedisError) -> TransportError {
    move |e| TransportError::caused_by(format_args!("redis: {doing}"), e)
}

/// The fields of one entry.
mod field {
    pub const ID: &str = "id";
    pub const EVENT: &str = "event";
    pub const CLAIMER: &str = "claimer";
    pub const ATTEMPTS: &str = "attempts";
    pub const ERROR: &str = "error";
}

/// Adds outbox events to the stream. Redis keeps nothing through a restart without
/// persistence, so the outbox keeps each event until its consumer settles it.
#[derive(Debug)]
pub struct Publisher {
    streams: Streams,
    connection: Option<ConnectionManager>,
}

impl Publisher {
    async fn connection(&mut self) -> Result<ConnectionManager, TransportError> {
        self.streams
            .cached(&mut self.connection, Duration::ZERO)
            .await
    }

    /// One pipeline for the batch: about one round trip.
    async fn add_all(&mut self, events: &[Outgoing]) -> Vec<Result<(), TransportError>> {
        let mut connection = match self.connection().await {
            Ok(connection) => connection,
            Err(e) => return vec![Err(e); events.len()],
        };
        let mut pipe = redis::pipe();
        let mut results = Vec::with_capacity(events.len());
        for outgoing in events {
            match serde_json::to_string(&outgoing.event) {
                Ok(event) => {
                    let fields = [
                        (field::ID, outgoing.event.id.to_string()),
                        (field::EVENT, event),
                        (field::CLAIMER, outgoing.claimer.to_string()),
                        (field::ATTEMPTS, outgoing.attempts.to_string()),
                    ];
                    pipe.xadd_maxlen(
                        &self.streams.names.events,
                        StreamMaxlen::Approx(MAX_LEN),
                        "*",
                        &fields,
                    );
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(TransportError::caused_by(
                    format_args!("event {} not serialisable", outgoing.event.id),
                    e,
                ))),
            }
        }
        let added: Result<Vec<String>, RedisError> = pipe.query_async(&mut connection).await;
        if let Err(e) = added {
            let error = failed("adding events")(e);
            return results.into_iter().map(|_| Err(error.clone())).collect();
        }
        results
    }
}

impl EventSink for Publisher {
    const KEEPS_EVENTS: bool = false;

    async fn ready(&mut self) -> Result<(), TransportError> {
        let mut connection = self.connection().await?;
        ping(&mut connection).await
    }

    fn publish(
        &mut self,
        events: &[Outgoing],
    ) -> impl Future<Output = Vec<Result<(), TransportError>>> + Send {
        self.add_all(events)
    }
}

/// Redis's hold on one entry, and the outbox claim to settle its event under.
#[derive(Debug)]
pub struct Receipt {
    entry: String,
    claimer: Uuid,
}

/// A consumer of the group: reads entries, hands their events out, settles each in the
/// outbox and then acknowledges the entry. Entries another consumer read and left
/// unacknowledged for a lease (it died) are taken over first.
pub struct Consumer<S> {
    streams: Streams,
    store: S,
    clock: Arc<dyn Clock>,
    lease: Duration,
    name: String,
    connection: Option<ConnectionManager>,
    /// Whether the group is known to exist (a Redis restart loses it).
    grouped: bool,
}

impl<S> std::fmt::Debug for Consumer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("streams", &self.streams)
            .field("name", &self.name)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<S: OutboxRepository> Consumer<S> {
    async fn connection(&mut self, wait: Duration) -> Result<ConnectionManager, TransportError> {
        self.streams.cached(&mut self.connection, wait).await
    }

    /// Makes the group (reading the stream from its start) unless it exists.
    async fn group(&mut self, connection: &mut ConnectionManager) -> Result<(), TransportError> {
        if self.grouped {
            return Ok(());
        }
        let made: Result<(), RedisError> = connection
            .xgroup_create_mkstream(&self.streams.names.events, GROUP, "0")
            .await;
        match made {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(failed("making the consumer group")(e)),
        }
        self.grouped = true;
        Ok(())
    }

    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery<Receipt>>, TransportError> {
        let mut connection = self.connection(wait).await?;
        self.group(&mut connection).await?;
        let names = Arc::clone(&self.streams.names);
        let events = &names.events;
        let idle = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        let taken: Result<StreamAutoClaimReply, RedisError> = connection
            .xautoclaim_options(
                events,
                GROUP,
                &self.name,
                idle,
                "0-0",
                StreamAutoClaimOptions::default().count(max),
            )
            .await;
        let taken = taken.map_err(|e| self.lost(e, "taking over entries"))?;
        if !taken.deleted_ids.is_empty() {
            // Trimmed while pending: the outbox relays those events again.
            let _: Result<usize, RedisError> =
                connection.xack(events, GROUP, &taken.deleted_ids).await;
        }
        let entries = if taken.claimed.is_empty() {
            let options = StreamReadOptions::default()
                .group(GROUP, &self.name)
                .count(max)
                .block(usize::try_from(wait.as_millis()).unwrap_or(usize::MAX));
            let read: Result<Option<StreamReadReply>, RedisError> =
                connection.xread_options(&[events], &[">"], &options).await;
            let read = read.map_err(|e| self.lost(e, "reading entries"))?;
            read.into_iter()
                .flat_map(|reply| reply.keys)
                .flat_map(|key| key.ids)
                .collect()
        } else {
            taken.claimed
        };
        let mut deliveries = Vec::with_capacity(entries.len());
        for entry in entries {
            match read_entry(&entry) {
                Ok((event, claimer, attempts)) => deliveries.push(Delivery {
                    event,
                    attempts,
                    receipt: Receipt {
                        entry: entry.id,
                        claimer,
                    },
                }),
                Err(why) => {
                    // Unreadable now means unreadable always: straight to the dead letters.
                    tracing::error!(entry = %entry.id, %why, "unreadable stream entry dead-lettered");
                    let fields = entry
                        .map
                        .iter()
                        .filter_map(|(k, v)| text(v).map(|v| (k.clone(), v)))
                        .collect();
                    self.bury(&mut connection, fields, &why).await;
                    self.acknowledge(&mut connection, &entry.id).await;
                }
            }
        }
        Ok(deliveries)
    }

    /// A failed command: a lost group (Redis restarted) is made again on the next call.
    fn lost(&mut self, error: RedisError, doing: &'static str) -> TransportError {
        if error.code() == Some("NOGROUP") {
            self.grouped = false;
        }
        failed(doing)(error)
    }

    /// Adds an entry's fields to the dead-letter stream, with why.
    async fn bury(
        &self,
        connection: &mut ConnectionManager,
        mut kept: Vec<(String, String)>,
        why: &str,
    ) {
        kept.push((field::ERROR.to_owned(), why.to_owned()));
        let added: Result<String, RedisError> = connection
            .xadd_maxlen(
                &self.streams.names.dead,
                StreamMaxlen::Approx(MAX_LEN),
                "*",
                &kept,
            )
            .await;
        if let Err(error) = added {
            // The outbox has it parked with the same reason.
            tracing::warn!(%error, "dead-letter entry not added");
        }
    }

    async fn acknowledge(&self, connection: &mut ConnectionManager, entry: &str) {
        let acked: Result<usize, RedisError> = connection
            .xack(&self.streams.names.events, GROUP, &[entry])
            .await;
        if let Err(error) = acked {
            // Left pending: taken over after a lease, and settled again (a no-op).
            tracing::warn!(%error, entry, "entry not acknowledged");
        }
    }

    async fn settle_all(
        &mut self,
        settled: Vec<(Delivery<Receipt>, Settle)>,
    ) -> Vec<Result<(), TransportError>> {
        let mut connection = match self.connection(Duration::ZERO).await {
            Ok(connection) => Some(connection),
            Err(error) => {
                tracing::warn!(%error, "entries not acknowledged; they are taken over later");
                None
            }
        };
        let mut results = Vec::with_capacity(settled.len());
        for (delivery, how) in settled {
            if let (Settle::Park { error }, Some(connection)) = (&how, connection.as_mut()) {
                let json = serde_json::to_string(&delivery.event).unwrap_or_default();
                let fields = vec![
                    (field::ID.to_owned(), delivery.event.id.to_string()),
                    (field::EVENT.to_owned(), json),
                ];
                self.bury(connection, fields, error).await;
            }
            // The outbox first: once it has the outcome, the entry has served.
            let now = self.clock.now();
            let claimer = delivery.receipt.claimer;
            results.push(settle_in_outbox(&self.store, delivery.event.id, claimer, how, now).await);
            if let Some(connection) = connection.as_mut() {
                self.acknowledge(connection, &delivery.receipt.entry).await;
            }
        }
        results
    }
}

/// The event, outbox claimer and attempts of an entry.
fn read_entry(entry: &StreamId) -> Result<(Event, Uuid, u32), String> {
    let get = |name: &str| {
        entry
            .map
            .get(name)
            .and_then(text)
            .ok_or_else(|| format!("no `{name}` field"))
    };
    let event: Event =
        serde_json::from_str(&get(field::EVENT)?).map_err(|e| format!("event: {e}"))?;
    let claimer = get(field::CLAIMER)?
        .parse()
        .map_err(|e| format!("claimer: {e}"))?;
    let attempts = get(field::ATTEMPTS)?
        .parse()
        .map_err(|e| format!("attempts: {e}"))?;
    Ok((event, claimer, attempts))
}

/// A field's value as text.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

impl<S: OutboxRepository + 'static> EventSource for Consumer<S> {
    type Receipt = Receipt;

    fn receive(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery<Receipt>>, TransportError>> + Send {
        self.next_batch(max, wait)
    }

    fn settle(
        &mut self,
        settled: Vec<(Delivery<Receipt>, Settle)>,
    ) -> impl Future<Output = Vec<Result<(), TransportError>>> + Send {
        self.settle_all(settled)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn urls_must_be_redis_and_errors_never_repeat_them() {
        let wrong = Streams::new("amqp://guest:secret@localhost/", "p").unwrap_err();
        assert!(
            wrong.to_string().contains("unknown scheme `amqp`"),
            "{wrong}"
        );
        assert!(!wrong.to_string().contains("secret"));
        let broken = Streams::new("redis://:secret@[::1", "p").unwrap_err();
        assert!(!broken.to_string().contains("secret"), "{broken}");
        let streams = Streams::new("rediss://:secret@localhost:6380/2", "shop").unwrap();
        assert_eq!(streams.names.events, "shop:events");
        assert_eq!(streams.names.dead, "shop:events:dead");
        assert!(!format!("{streams:?}").contains("secret"));
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }

    #[test]
    fn an_entry_reads_back_or_says_what_is_wrong() {
        let event = Event::new(
            mercado_core::events::DomainEvent::UserCreated {
                user_id: mercado_core::domain::UserId::generate(),
                email: "a@example.com".into(),
            },
            time::OffsetDateTime::now_utc(),
        );
        let claimer = Uuid::now_v7();
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let mut entry = StreamId {
            id: "1-0".into(),
            map: HashMap::from([
                (
                    field::EVENT.to_owned(),
                    bulk(&serde_json::to_string(&event).unwrap()),
                ),
                (field::CLAIMER.to_owned(), bulk(&claimer.to_string())),
                (field::ATTEMPTS.to_owned(), Value::SimpleString("3".into())),
            ]),
            ..StreamId::default()
        };
        let (read, by, attempts) = read_entry(&entry).unwrap();
        assert_eq!((read.id, by, attempts), (event.id, claimer, 3));
        entry.map.insert(field::ATTEMPTS.to_owned(), bulk("many"));
        assert!(read_entry(&entry).unwrap_err().starts_with("attempts:"));
        entry.map.insert(field::CLAIMER.to_owned(), Value::Int(1));
        assert_eq!(read_entry(&entry).unwrap_err(), "no `claimer` field");
        entry.map.insert(field::EVENT.to_owned(), bulk("{}"));
        assert!(read_entry(&entry).unwrap_err().starts_with("event:"));
    }
}
