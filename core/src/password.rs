//! Passwords: the sign-up policy, and hashes in passlib's formats.
//!
//! New hashes are `$pbkdf2-sha256$<rounds>$<salt>$<checksum>` exactly as passlib's
//! `pbkdf2_sha256` writes them, so a users table shared with a Python app keeps working in
//! both directions. `$pbkdf2-sha512$` and bcrypt (`$2a$`, `$2b$`, `$2y$`) hashes verify too,
//! and report that they need re-hashing. Hashing is CPU work: [`PasswordHasher`] runs it on
//! threads of its own, never on an async thread, at most one per thread at a time (so the
//! queue of logins cannot grow threads without bound), and at a lower scheduling priority
//! on Linux: logins use every idle cycle, yet cannot starve the requests beside them.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::thread;

use pbkdf2::password_hash::{CustomizedPasswordHasher, PasswordVerifier};
use pbkdf2::{Params, Pbkdf2};
use tokio::sync::Semaphore;

/// Why a password is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than 8 or more than 128 characters.
    #[error("must be 8 to 128 characters long")]
    Length,
    /// A rounds setting under pbkdf2's minimum of 1 000.
    #[error("password rounds must be at least {min}")]
    Rounds {
        /// The smallest allowed number of rounds.
        min: u32,
    },
}

/// A plain password that met the policy. Its `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Fewest characters.
    pub const MIN_CHARS: usize = 8;
    /// Most characters.
    pub const MAX_CHARS: usize = 128;

    /// Checks the policy for a new password: 8 to 128 characters.
    ///
    /// # Errors
    /// [`PasswordError::Length`] otherwise.
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        let len = raw.chars().count();
        if (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(PasswordError::Length)
        }
    }

    /// A password as typed at login, checked against a hash, never against the policy
    /// (the policy may have changed since the hash was made).
    pub fn candidate(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A stored password hash, in one of passlib's formats.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored hash. Any string is accepted: an unknown format simply never
    /// verifies.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    /// The hash as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// The outcome of checking a password against a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches. `needs_rehash` when the hash is of an older scheme or has
    /// fewer rounds than configured now.
    Valid {
        /// Whether to store a fresh hash.
        needs_rehash: bool,
    },
    /// It does not match, or the hash is of no known format.
    Invalid,
}

/// Hashes and verifies passwords off the async threads.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    rounds: u32,
    max_in_flight: usize,
    permits: Semaphore,
    dummy: OnceLock<PasswordHash>,
    /// Work for the hashing threads; they end when the last hasher clone drops this.
    jobs: crossbeam_channel::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// How much lower than the other threads the hashing threads are scheduled (a nice value:
/// at 10 the kernel gives a runnable request thread nine tenths of a contended core).
/// `bench/load.sh`, reads during logins, p99 ÷ p99 alone: at 0, 1.45 on SQLite; at 5, 1.04
/// on SQLite but 2.87 on MariaDB (whose server competes too); at 10, 1.12 / 1.17 / 1.36
/// on SQLite / PostgreSQL / MariaDB, for fewer logins meanwhile (152/s against 225/s).
/// Lowering one's own priority needs no privilege; the request threads keep theirs.
const HASH_NICENESS: i32 = 10;

/// Starts `n` hashing threads taking jobs from one queue.
fn spawn_hash_threads(n: usize) -> crossbeam_channel::Sender<Job> {
    let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
    for i in 0..n {
        let queue = queue.clone();
        thread::Builder::new()
            .name(format!("mercado-hash-{i}"))
            .spawn(move || {
                lower_priority();
                for job in queue {
                    job();
                }
            })
            .expect("the OS refused to start a hashing thread");
    }
    jobs
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux a nice value belongs to the thread whose id is given: only this one moves.
    // Refused (a seccomp profile, say), hashing is still correct, only less fair.
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASH_NICENESS);
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("rounds", &self.inner.rounds)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// passlib's default number of pbkdf2-sha256 rounds.
    pub const DEFAULT_ROUNDS: u32 = 29_000;

    /// A hasher writing pbkdf2-sha256 with `rounds`, running at most `max_in_flight`
    /// hashes at once (usually the number of cores).
    ///
    /// # Errors
    /// [`PasswordError::Rounds`] below 1 000 rounds.
    pub fn new(rounds: u32, max_in_flight: usize) -> Result<Self, PasswordError> {
        if rounds < Params::MIN_ROUNDS {
            return Err(PasswordError::Rounds {
                min: Params::MIN_ROUNDS,
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                rounds,
                max_in_flight: max_in_flight.max(1),
                permits: Semaphore::new(max_in_flight.max(1)),
                dummy: OnceLock::new(),
                jobs: spawn_hash_threads(max_in_flight.max(1)),
            }),
        })
    }

    /// Hashes or verifications running now (at most the `max_in_flight` it was made with).
    pub fn in_flight(&self) -> usize {
        self.inner.max_in_flight - self.inner.permits.available_permits()
    }

    /// The rounds new hashes get.
    pub fn rounds(&self) -> u32 {
        self.inner.rounds
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &Password) -> PasswordHash {
        let password = password.clone();
        let rounds = self.inner.rounds;
        self.offload(move || hash_sync(&password, rounds)).await
    }

    /// Checks a password against a stored hash.
    pub async fn verify(&self, password: &Password, hash: &PasswordHash) -> Verification {
        let (password, hash) = (password.clone(), hash.clone());
        let rounds = self.inner.rounds;
        self.offload(move || verify_sync(&password, &hash, rounds))
            .await
    }

    /// Spends the time of one verification on nothing, so that a login for an unknown
    /// email takes as long as one with a wrong password (no timing oracle).
    pub async fn verify_nothing(&self, password: &Password) {
        let rounds = self.inner.rounds;
        let dummy = if let Some(dummy) = self.inner.dummy.get() {
            dummy.clone()
        } else {
            let made = self
                .offload(move || hash_sync(&Password::candidate("not a real password"), rounds))
                .await;
            self.inner.dummy.get_or_init(|| made).clone()
        };
        let password = password.clone();
        let _ = self
            .offload(move || verify_sync(&password, &dummy, rounds))
            .await;
    }

    async fn offload<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(panic::catch_unwind(AssertUnwindSafe(work)));
        });
        self.inner
            .jobs
            .send(job)
            .expect("the hashing threads live as long as the hasher");
        match result.await.expect("a hashing job always answers") {
            Ok(value) => value,
            Err(panicked) => panic::resume_unwind(panicked),
        }
    }
}

/// Hashes synchronously: `$pbkdf2-sha256$<rounds>$<16-byte salt>$<32-byte checksum>`.
fn hash_sync(password: &Password, rounds: u32) -> PasswordHash {
    let salt: [u8; 16] = rand::random();
    let params = Params::new(rounds).expect("rounds were checked in PasswordHasher::new");
    let hash = Pbkdf2::SHA256
        .hash_password_customized(password.as_bytes(), &salt, None, None, params)
        .expect("pbkdf2 with checked params and a 16-byte salt cannot fail");
    PasswordHash(hash.to_string())
}

/// Verifies synchronously against any supported format.
fn verify_sync(password: &Password, hash: &PasswordHash, rounds: u32) -> Verification {
    let stored = hash.as_str();
    let valid = match Scheme::of(stored) {
        Some(Scheme::Pbkdf2 { .. }) => pbkdf2::mcf::PasswordHashRef::new(stored).is_ok_and(|h| {
            Pbkdf2::SHA256
                .verify_password(password.as_bytes(), h)
                .is_ok()
        }),
        Some(Scheme::Bcrypt) => bcrypt::verify(password.as_bytes(), stored).unwrap_or(false),
        None => false,
    };
    if !valid {
        return Verification::Invalid;
    }
    let current = matches!(Scheme::of(stored), Some(Scheme::Pbkdf2 { sha256: true, rounds: r }) if r >= rounds);
    Verification::Valid {
        needs_rehash: !current,
    }
}

/// The schemes that verify, read from a hash's prefix.
enum Scheme {
    Pbkdf2 { sha256: bool, rounds: u32 },
    Bcrypt,
}

impl Scheme {
    fn of(hash: &str) -> Option<Self> {
        let mut fields = hash.split('$').skip(1);
        let id = fields.next()?;
        match id {
            "pbkdf2-sha256" | "pbkdf2-sha512" => Some(Self::Pbkdf2 {
                sha256: id == "pbkdf2-sha256",
                rounds: fields.next()?.parse().ok()?,
            }),
            "2a" | "2b" | "2y" => Some(Self::Bcrypt),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUNDS: u32 = 1_000;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(ROUNDS, 2).unwrap()
    }

    #[test]
    fn the_policy_is_8_to_128_characters() {
        assert_eq!(Password::parse("1234567"), Err(PasswordError::Length));
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(129)),
            Err(PasswordError::Length)
        );
    }

    #[test]
    fn debug_output_never_shows_a_password_or_hash() {
        let pw = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{pw:?}").contains("hunter2"));
        let hash = PasswordHash::from_stored("$pbkdf2-sha256$1000$abc$def".into());
        assert!(!format!("{hash:?}").contains("abc"));
    }

    #[test]
    fn rounds_below_a_thousand_are_refused() {
        assert_eq!(
            PasswordHasher::new(999, 1).unwrap_err(),
            PasswordError::Rounds { min: 1_000 }
        );
    }

    #[tokio::test]
    async fn new_hashes_are_passlib_pbkdf2_sha256_and_verify() {
        let hasher = hasher();
        let pw = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&pw).await;
        let fields: Vec<&str> = hash.as_str().split('$').collect();
        assert_eq!(fields[..3], ["", "pbkdf2-sha256", "1000"]);
        assert_eq!(
            (fields[3].len(), fields[4].len()),
            (22, 43),
            "16-byte salt, 32-byte checksum in ab64"
        );
        assert_eq!(
            hasher.verify(&pw, &hash).await,
            Verification::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(&Password::candidate("wrong horse"), &hash)
                .await,
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn fewer_rounds_or_an_older_scheme_asks_for_a_rehash() {
        let pw = Password::parse("correct horse").unwrap();
        let weak = hasher().hash(&pw).await;
        let stronger = PasswordHasher::new(2_000, 1).unwrap();
        assert_eq!(
            stronger.verify(&pw, &weak).await,
            Verification::Valid { needs_rehash: true }
        );

        let bcrypt = PasswordHash::from_stored(bcrypt::hash("correct horse", 4).unwrap());
        assert_eq!(
            hasher().verify(&pw, &bcrypt).await,
            Verification::Valid { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn unknown_or_garbled_hashes_never_verify() {
        let pw = Password::candidate("anything");
        for stored in [
            "",
            "plain",
            "$pbkdf2-sha256$x$y$z",
            "$argon2id$v=19$m=1,t=1,p=1$a$b",
            "$2b$04$short",
        ] {
            let hash = PasswordHash::from_stored(stored.into());
            assert_eq!(
                hasher().verify(&pw, &hash).await,
                Verification::Invalid,
                "{stored}"
            );
        }
    }

    #[tokio::test]
    async fn a_dummy_verification_completes() {
        hasher().verify_nothing(&Password::candidate("x")).await;
    }
}
