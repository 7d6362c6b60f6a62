//! A real SMTP server for the mail tests: aiosmtpd (from the tests' virtualenv) storing
//! every message it accepts in a Maildir, which the tests read.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An SMTP sink on a free loopback port; stopped on drop.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts the sink and waits until it accepts connections.
    ///
    /// # Panics
    /// When it does not start within 20 s.
    pub fn start() -> Self {
        let port = crate::free_port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let child = Self::spawn(port, &dir);
        Self { child, port, dir }
    }

    fn spawn(port: u16, dir: &tempfile::TempDir) -> Child {
        let child = Command::new(crate::passlib::python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the SMTP sink listens within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// Stops it: connections to its port are refused until [`Self::resume`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, keeping what it received.
    pub fn resume(&mut self) {
        self.child = Self::spawn(self.port, &self.dir);
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<String> {
        let maildir: PathBuf = self.dir.path().join("maildir");
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .collect()
    }

    /// Waits until at least `n` messages arrived, then a little longer for any extra
    /// (duplicates would show up then); returns them all.
    ///
    /// # Panics
    /// When fewer than `n` arrive within 30 s.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.messages().len() < n {
            assert!(
                Instant::now() < deadline,
                "{n} mails within 30 s; got {}",
                self.messages().len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.messages()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many of `mails` are addressed to `to`.
pub fn recipients(mails: &[String], to: &str) -> usize {
    mails
        .iter()
        .filter(|m| m.lines().any(|l| l.starts_with("To: ") && l.contains(to)))
        .count()
}

/// Through a broker: readiness reports it, and every kind of event is mailed once.
///
/// # Panics
/// When readiness or a mail is not as it must be.
pub async fn expect_broker_round_trip(app: &crate::TestApp, sink: &SmtpSink) {
    let ready = app.get("/health/ready", None).await.expect(200);
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "database": "ok", "broker": "ok"})
    );
    let (customer, order_id) = app.every_kind_of_event().await;
    expect_every_kind_mailed_once(sink, &customer, &order_id).await;
}

/// Checks the five mails of [`crate::TestApp::every_kind_of_event`], each exactly once.
///
/// # Panics
/// When one is missing, extra or wrong.
pub async fn expect_every_kind_mailed_once(sink: &SmtpSink, customer: &str, order_id: &str) {
    // Welcome ×2 (the superuser made at start, the customer), confirmation, low stock,
    // cancellation.
    let mails = sink.wait_for(5).await;
    assert_eq!(mails.len(), 5, "{mails:#?}");
    assert_eq!(recipients(&mails, customer), 3);
    assert_eq!(recipients(&mails, crate::ADMIN_EMAIL), 2);
    let confirmation = mails
        .iter()
        .find(|m| m.contains(&format!("Subject: Your order {order_id}")))
        .expect("a confirmation");
    assert!(confirmation.contains("Green tea") && confirmation.contains("7.50"));
    for subject in [
        format!("Subject: Order {order_id} cancelled"),
        "Subject: Low stock: Green tea".to_owned(),
    ] {
        assert!(mails.iter().any(|m| m.contains(&subject)), "{subject}");
    }
}

/// A mail as written, with quoted-printable's soft line breaks and `=3D` undone.
pub fn unquoted(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The token of the first `/{path}?token=…` link in an [`unquoted`] mail.
pub fn link_token(mail: &str, path: &str) -> Option<String> {
    let marker = format!("/{path}?token=");
    let at = mail.find(&marker)? + marker.len();
    Some(
        mail[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}
