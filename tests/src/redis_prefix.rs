//! A key prefix of each test's own on the machine's Redis, so tests share nothing; its
//! keys are deleted on drop.

use redis::Commands as _;
use redis::streams::StreamInfoGroupsReply;

/// The Redis the tests use: `MERCADO_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/0`).
pub fn redis_url() -> String {
    std::env::var("MERCADO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// A fresh prefix; its keys are deleted on drop.
#[derive(Debug)]
pub struct Prefix {
    /// The prefix.
    pub name: String,
}

impl Default for Prefix {
    fn default() -> Self {
        Self {
            name: format!("mercado-test-{}", uuid::Uuid::now_v7().simple()),
        }
    }
}

impl Prefix {
    fn connection() -> redis::Connection {
        redis::Client::open(redis_url())
            .and_then(|c| c.get_connection())
            .expect("the test Redis answers")
    }

    /// The events stream's key.
    pub fn events(&self) -> String {
        format!("{}:events", self.name)
    }

    /// The dead-letter stream's key.
    pub fn dead(&self) -> String {
        format!("{}:events:dead", self.name)
    }

    /// Entries in a stream.
    pub fn len(&self, key: &str) -> usize {
        Self::connection().xlen(key).expect("XLEN")
    }

    /// Entries of the consumer group read and not acknowledged.
    pub fn pending(&self) -> usize {
        let groups: StreamInfoGroupsReply = Self::connection()
            .xinfo_groups(self.events())
            .expect("XINFO GROUPS");
        groups.groups.iter().map(|g| g.pending).sum()
    }

    /// Adds an entry with these fields to the events stream, as a foreign writer would.
    pub fn add(&self, fields: &[(&str, &str)]) {
        let _: String = Self::connection()
            .xadd(self.events(), "*", fields)
            .expect("XADD");
    }

    /// Waits up to 20 s until no entry is pending.
    ///
    /// # Panics
    /// When some still are.
    pub async fn wait_settled(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.pending() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "entries still pending"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(client) = redis::Client::open(redis_url())
            && let Ok(mut connection) = client.get_connection()
        {
            let _: Result<(), _> = connection.del(&[self.events(), self.dead()]);
        }
    }
}
