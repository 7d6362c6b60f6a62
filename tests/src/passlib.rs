//! Real passlib, for interop tests: a virtualenv with passlib 1.7.4 and bcrypt 4.0.1
//! (the pins a FastAPI + passlib stack runs) and aiosmtpd (the SMTP sink of the mail
//! tests), made once per machine from PyPI, and small helpers that hash and verify
//! through passlib.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

const REQUIREMENTS: [&str; 3] = ["passlib==1.7.4", "bcrypt==4.0.1", "aiosmtpd==1.4.6"];

/// The virtualenv's python, creating the virtualenv on first use. `MERCADO_TEST_PYTHON`
/// names a python that already has passlib and aiosmtpd instead.
///
/// # Panics
/// When python3 or PyPI is not available: the interop tests must run, never skip.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Ok(python) = std::env::var("MERCADO_TEST_PYTHON") {
                return PathBuf::from(python);
            }
            let venv =
                std::env::temp_dir().join("mercado-passlib-1.7.4-bcrypt-4.0.1-aiosmtpd-1.4.6");
            let python = venv.join("bin").join("python");
            if !python.exists() {
                // Built beside and renamed into place, so concurrent test processes never
                // see a half-made virtualenv.
                let staging = venv.with_extension(format!("tmp{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&staging);
                run(Command::new("python3").args(["-m", "venv"]).arg(&staging));
                run(Command::new(staging.join("bin").join("python"))
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .args(REQUIREMENTS));
                if std::fs::rename(&staging, &venv).is_err() {
                    let _ = std::fs::remove_dir_all(&staging);
                }
            }
            python
        })
        .clone()
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("python prints UTF-8")
}

/// Hashes `password` with a passlib handler (`pbkdf2_sha256`, `pbkdf2_sha512`, `bcrypt`),
/// passing handler options as Python keyword arguments (e.g. `ident="2a"`).
pub fn hash(handler: &str, options: &str, password: &str) -> String {
    let script = format!(
        "import sys; from passlib.hash import {handler}; \
         print({handler}.using({options}).hash(sys.stdin.read()), end='')"
    );
    run_with_stdin(&script, password)
}

/// Whether passlib's `CryptContext` (`pbkdf2_sha256`, `pbkdf2_sha512`, bcrypt) verifies
/// `password` against `hash`.
pub fn verify(hash: &str, password: &str) -> bool {
    let script = format!(
        "import sys; from passlib.context import CryptContext; \
         ctx = CryptContext(schemes=['pbkdf2_sha256', 'pbkdf2_sha512', 'bcrypt']); \
         print(ctx.verify(sys.stdin.read(), {hash:?}), end='')"
    );
    match run_with_stdin(&script, password).as_str() {
        "True" => true,
        "False" => false,
        other => panic!("unexpected passlib answer {other:?}"),
    }
}

fn run_with_stdin(script: &str, input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("stdin accepts the password");
    let output = child.wait_with_output().expect("python finishes");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}
