//! What the tests of the `mercado` binary share: starting it, and a minimal HTTP client
//! (std only, so the tests see exactly what goes over the wire).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_mercado");

/// Kills the server if the test fails half-way.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// One HTTP/1.0 exchange (no chunked bodies, the server closes): status, headers, body
/// as JSON (null if it is not).
pub fn http(
    addr: &str,
    request_line: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{request_line} HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        // Writing into a String cannot fail.
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).unwrap_or_default(),
    )
}

/// Starts `mercado <command>` on `url` and returns it (with the address it listens on,
/// for `serve`).
pub fn start(command: &str, dir: &tempfile::TempDir, url: &str) -> (KillOnDrop, Option<String>) {
    let mut child = Command::new(BIN)
        .arg(command)
        .current_dir(dir.path())
        .env("DATABASE_URL", url)
        .env("MERCADO_BIND", "127.0.0.1:0")
        .env("MERCADO_RUN_WORKER", "false")
        .env("MERCADO_WORKER_LEASE_SECONDS", "2")
        .env("MERCADO_WORKER_POLL_MS", "50")
        .env(
            "MERCADO_JWT_SECRET",
            "a-secret-that-is-long-enough-for-hs256",
        )
        .env("MERCADO_FIRST_SUPERUSER_EMAIL", "admin@example.com")
        .env("MERCADO_FIRST_SUPERUSER_PASSWORD", "admin-password-123")
        .env("MERCADO_PASSWORD_ROUNDS", "1000")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = if command == "serve" {
        loop {
            let line = lines
                .next()
                .expect("the server logs that it listens")
                .unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break Some(rest.split_whitespace().next().unwrap().to_owned());
            }
        }
    } else {
        None
    };
    // Keep reading, so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (KillOnDrop(child), addr)
}
