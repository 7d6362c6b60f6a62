//! A RabbitMQ virtual host of each test's own on the machine's broker (`rabbitmqctl` makes
//! and deletes it), so tests share nothing and leave nothing behind.

use std::process::Command;
use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

/// The broker the tests use: `MERCADO_TEST_AMQP_URL` without a vhost (default
/// `amqp://guest:guest@127.0.0.1:5672`); its `rabbitmqctl` must be on this machine.
fn broker_url() -> String {
    std::env::var("MERCADO_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into())
        .trim_end_matches('/')
        .to_owned()
}

/// Runs `rabbitmqctl` with `args`.
///
/// # Panics
/// When it fails.
pub fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh vhost with all rights for the broker URL's user; deleted on drop.
#[derive(Debug)]
pub struct Vhost {
    name: String,
}

impl Vhost {
    /// Creates it.
    ///
    /// # Panics
    /// When `rabbitmqctl` fails.
    pub fn create() -> Self {
        let name = format!("mercado-test-{}", uuid::Uuid::now_v7().simple());
        rabbitmqctl(&["add_vhost", &name]);
        let user = url::Url::parse(&broker_url())
            .map(|u| u.username().to_owned())
            .unwrap_or_default();
        let user = if user.is_empty() {
            "guest".into()
        } else {
            user
        };
        rabbitmqctl(&["set_permissions", "-p", &name, &user, ".*", ".*", ".*"]);
        Self { name }
    }

    /// The URL of this vhost, for `MERCADO_AMQP_URL`.
    pub fn url(&self) -> String {
        format!("{}/{}", broker_url(), self.name)
    }

    /// A connection of the test's own.
    ///
    /// # Panics
    /// When the broker does not answer.
    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.url(), ConnectionProperties::default())
            .await
            .expect("the test connects to the broker")
    }

    /// Messages ready in `queue` (0 when it does not exist yet).
    pub async fn ready_in(&self, queue: &str) -> u32 {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.expect("a channel");
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .map_or(0, |q| q.message_count())
    }

    /// Waits until `queue` holds `n` ready messages.
    ///
    /// # Panics
    /// When it does not within 30 s.
    pub async fn wait_ready(&self, queue: &str, n: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.ready_in(queue).await;
            if ready == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{queue}: {n} ready within 30 s, not {ready}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Publishes `body` to `exchange` with `routing_key`, confirmed.
    ///
    /// # Panics
    /// When the broker does not confirm it.
    pub async fn publish(&self, exchange: &str, routing_key: &str, body: &[u8]) {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.expect("a channel");
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        let confirm = channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("published")
            .await
            .expect("confirmed");
        assert_eq!(confirm, lapin::Confirmation::Ack(None), "routed and taken");
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        // Not `rabbitmqctl()`: a failure here must not turn into a panic while unwinding.
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}
