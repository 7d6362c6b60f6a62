//! The `mercado` binary itself: its commands, its start-up errors and its shutdown.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::support::{BIN, KillOnDrop, http, start};

fn mercado(dir: &tempfile::TempDir, args: &[&str], stdin: Option<&str>) -> Output {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir.path())
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env("MERCADO_PASSWORD_ROUNDS", "1000")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mercado starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("mercado finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn migrate_applies_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = mercado(&dir, &["migrate"], None);
    assert!(first.status.success(), "{first:?}");
    let all = mercado_sql::migrations(mercado_sql::Dialect::Sqlite).len();
    assert_eq!(stdout(&first).trim(), format!("{all} migration(s) applied"));
    let again = mercado(&dir, &["migrate"], None);
    assert_eq!(stdout(&again).trim(), "0 migration(s) applied");
}

#[test]
fn openapi_prints_the_document_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = mercado(&dir, &["openapi"], None);
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(doc["info"]["title"], "Mercado");
    assert!(doc["paths"]["/api/v1/orders"]["post"]["operationId"].is_string());
    assert!(
        !dir.path().join("cli.db").exists(),
        "no database was touched"
    );
}

#[test]
fn create_superuser_reads_the_password_from_stdin_once() {
    let dir = tempfile::tempdir().unwrap();
    let created = mercado(
        &dir,
        &["create-superuser", "--email", "Root@Example.com"],
        Some("a-long-password\n"),
    );
    assert!(created.status.success(), "{created:?}");
    assert_eq!(
        stdout(&created).trim(),
        "superuser root@example.com created"
    );
    let again = mercado(
        &dir,
        &["create-superuser", "--email", "root@example.com"],
        Some("a-long-password\n"),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = mercado(
        &dir,
        &["create-superuser", "--email", "x@example.com"],
        Some("short\n"),
    );
    assert!(!short.status.success());
    let bad_email = mercado(
        &dir,
        &["create-superuser", "--email", "nope"],
        Some("a-long-password\n"),
    );
    assert!(!bad_email.status.success());
}

#[test]
fn help_lists_every_setting_with_its_default() {
    for args in [&["--help"][..], &["serve", "--help"], &["worker", "--help"]] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let help = stdout(&output);
        for line in [
            "DATABASE_URL=sqlite://mercado.db?mode=rwc",
            "MERCADO_BIND=127.0.0.1:8000",
        ] {
            assert!(help.contains(line), "{args:?}: {help}");
        }
        assert!(help.contains(".env.example"), "{help}");
    }
}

#[test]
fn create_superuser_says_when_no_password_was_given_and_needs_no_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let empty = mercado(
        &dir,
        &["create-superuser", "--email", "a@example.com"],
        None,
    );
    assert!(!empty.status.success());
    let stderr = String::from_utf8_lossy(&empty.stderr);
    assert!(stderr.contains("no password given"), "{stderr}");
    let created = mercado(
        &dir,
        &["create-superuser", "--email", "a@example.com"],
        Some("a-long-password\n"),
    );
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{stderr}");
    assert!(!stderr.contains("MERCADO_JWT_SECRET"), "{stderr}");
}

/// On a terminal (a pseudo-terminal driven by Python's `pty`), the password is asked
/// for twice and never shown.
#[test]
fn create_superuser_on_a_terminal_prompts_twice_without_echo() {
    const DRIVER: &str = r#"
import os, pty, signal, sys, time
signal.alarm(30)
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
def until(marker):
    seen = b""
    while marker not in seen:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen
seen = until(b"Password for tty@example.com: ")
# rpassword turns echo off right after its prompt: type once it has.
time.sleep(0.3)
os.write(fd, os.environ["TYPED"].encode() + b"\n")
seen += until(b"The same again: ")
time.sleep(0.3)
os.write(fd, os.environ["TYPED"].encode() + b"\n")
seen += until(b"end of output, never printed")
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let secret = "typed-but-never-shown";
    let output = Command::new("python3")
        .args([
            "-c",
            DRIVER,
            BIN,
            "create-superuser",
            "--email",
            "tty@example.com",
        ])
        .env("TYPED", secret)
        .current_dir(dir.path())
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env("MERCADO_PASSWORD_ROUNDS", "1000")
        .output()
        .expect("python3 runs");
    let seen = stdout(&output);
    assert!(output.status.success(), "{seen} {output:?}");
    assert!(seen.contains("The same again: "), "{seen}");
    assert!(seen.contains("superuser tty@example.com created"), "{seen}");
    assert!(!seen.contains(secret), "the password was shown: {seen}");
}

#[test]
fn a_database_url_without_its_adapter_stops_with_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("oracle://db", "unknown scheme `oracle`"),
        // Nobody listens: the first attempt's reason, at once, not a pool's timeout.
        ("postgres://nobody@127.0.0.1:1/x", "Connection refused"),
        ("mysql://nobody@127.0.0.1:1/x", "Connection refused"),
        (
            "sqlite://absent.db",
            "absent.db does not exist (add ?mode=rwc",
        ),
        (
            "sqlite://no-folder/x.db?mode=rwc",
            "the folder of no-folder/x.db does not exist",
        ),
        #[cfg(not(feature = "mssql"))]
        ("mssql://sa@localhost/db", "needs the `mssql` feature"),
        // With the adapter built in: a bad option, then nobody listening on the port.
        #[cfg(feature = "mssql")]
        (
            "mssql://sa:pw@localhost/db?colour=blue",
            "unknown option `colour`",
        ),
        #[cfg(feature = "mssql")]
        (
            "mssql://sa:pw@127.0.0.1:9/db",
            "cannot connect to the database",
        ),
    ];
    for (url, expected) in cases {
        let output = Command::new(BIN)
            .arg("migrate")
            .current_dir(dir.path())
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    // Bind and drop a listener: the port is then (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(BIN)
        .args(["healthcheck", "--addr", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn bad_settings_stop_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .env("MERCADO_TOKEN_TTL_SECONDS", "soon")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MERCADO_TOKEN_TTL_SECONDS"));
}

/// Settings that would leave the server weak or half-configured stop it with one line
/// naming the variable, and never echo the secret.
#[test]
fn weak_or_half_set_settings_stop_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (vars, named) in [
        (
            &[("MERCADO_JWT_SECRET", "hunter2-short")][..],
            "MERCADO_JWT_SECRET",
        ),
        (
            &[("MERCADO_FIRST_SUPERUSER_EMAIL", "root@example.com")][..],
            "MERCADO_FIRST_SUPERUSER_PASSWORD",
        ),
        (
            &[("MERCADO_FIRST_SUPERUSER_PASSWORD", "hunter2-long-enough")][..],
            "MERCADO_FIRST_SUPERUSER_EMAIL",
        ),
        (
            &[("MERCADO_MAX_CONNECTIONS", "0")][..],
            "MERCADO_MAX_CONNECTIONS",
        ),
    ] {
        let output = Command::new(BIN)
            .current_dir(dir.path())
            .env("MERCADO_BIND", "127.0.0.1:0")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?}: {stderr}");
        assert!(stderr.contains(named), "{vars:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn a_bad_broker_url_stops_serve_and_worker_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["serve", "worker"] {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let output = Command::new(BIN)
            .arg(command)
            .current_dir(dir.path())
            .env("DATABASE_URL", url)
            .env("MERCADO_BIND", "127.0.0.1:0")
            .env("MERCADO_AMQP_URL", "rabbit://guest:hunter22@127.0.0.1/")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("MERCADO_AMQP_URL: unknown scheme `rabbit`"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("hunter22"), "{command}: {stderr}");
    }
}

#[test]
fn logs_can_be_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("log.db").display());
    let run = |format: &str| {
        Command::new(BIN)
            .arg("migrate")
            .current_dir(dir.path())
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "debug")
            .env("MERCADO_LOG_FORMAT", format)
            .output()
            .unwrap()
    };
    let output = run("json");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty(), "debug logs something");
    for line in &lines {
        assert!(
            line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
        assert!(line["target"].is_string(), "{line}");
    }
    assert!(lines.iter().any(|l| l["message"].is_string()), "{stderr}");
    let output = run("yaml");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MERCADO_LOG_FORMAT"));
}

#[cfg(unix)]
#[test]
fn serve_answers_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("serve.db").display()
    );
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("DATABASE_URL", url)
        .env("MERCADO_BIND", "127.0.0.1:0")
        .env(
            "MERCADO_JWT_SECRET",
            "a-secret-that-is-long-enough-for-hs256",
        )
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    // The server must say where it listens within seconds; a watchdog ends it otherwise.
    let pid = child.id();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server logs that it listens")
            .unwrap();
        assert!(
            !line.contains("MERCADO_JWT_SECRET is not set"),
            "the secret was set"
        );
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // The container health check: MERCADO_BIND's unspecified IP is read as loopback.
    let port = addr.rsplit(':').next().unwrap();
    let probe = Command::new(BIN)
        .arg("healthcheck")
        .env("MERCADO_BIND", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert!(probe.status.success(), "{probe:?}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server stops within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "a clean exit: {exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[cfg(unix)]
#[test]
fn an_import_whose_worker_is_killed_is_finished_by_the_next_worker_once() {
    const ROWS: usize = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
    let (_server, addr) = start("serve", &dir, &url);
    let addr = addr.unwrap();
    let form = b"username=admin%40example.com&password=admin-password-123";
    let (status, _, login) = http(
        &addr,
        "POST /api/v1/login/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form,
    );
    assert_eq!(status, 200, "{login}");
    let bearer = format!("Bearer {}", login["access_token"].as_str().unwrap());
    let mut csv = String::from("name,description,price,stock\n");
    for i in 0..ROWS {
        // Writing into a String cannot fail.
        let _ = writeln!(csv, "Item {i},,{}.{:02},{}", i % 500, i % 100, i % 40);
    }
    let (status, head, job) = http(
        &addr,
        "POST /api/v1/products/import",
        &[("Authorization", &bearer), ("Content-Type", "text/csv")],
        csv.as_bytes(),
    );
    assert_eq!(status, 202, "{head}{job}");
    let location = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    let progress = || {
        let (status, _, job) = http(
            &addr,
            &format!("GET {location}"),
            &[("Authorization", &bearer)],
            b"",
        );
        assert_eq!(status, 200, "{job}");
        job
    };

    // The first worker dies (SIGKILL: no clean-up) once part of the file is in.
    let (mut first, _) = start("worker", &dir, &url);
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let job = progress();
        let done = job["progress"]["done"].as_u64().unwrap();
        assert_ne!(
            job["status"], "succeeded",
            "the import finished before the kill; raise ROWS"
        );
        if done > 0 {
            assert_eq!(job["progress"]["total"], ROWS);
            break;
        }
        assert!(Instant::now() < deadline, "no progress within 120 s: {job}");
        std::thread::sleep(Duration::from_millis(10));
    }
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let (_second, _) = start("worker", &dir, &url);
    let job = loop {
        let job = progress();
        if job["status"] != "running" && job["status"] != "queued" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "not finished within 120 s: {job}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"]["done"], ROWS);
    assert_eq!(job["errors"].as_array().unwrap().len(), 0, "{job}");
    let (_, _, page) = http(&addr, "GET /api/v1/products?limit=1", &[], b"");
    assert_eq!(page["total"], ROWS, "every row imported exactly once");
}
