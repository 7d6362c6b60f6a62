//! Idempotent retries (`Idempotency-Key`): a client whose answer was lost sends the same
//! request again with the same key, and gets the first answer instead of a second order.
//!
//! A key belongs to its caller: stores see only [`KeyHash`], the SHA-256 of the caller
//! and the key together, so two users' equal keys never meet and a stored key says
//! nothing about who chose it. A request is known by [`RequestHash`], the SHA-256 of its
//! method, target and body bytes: the same key with another request is refused.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::UserId;
use super::session::hex;

/// How long keys are kept: a retry within it is answered from the first request.
pub const KEY_RETENTION: time::Duration = time::Duration::hours(24);

/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 255;

/// A client's key for one request: 1 to 255 printable ASCII characters, not beginning or
/// ending with a space (HTTP drops those around a header's value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// A string that cannot be an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 255 printable ASCII characters, not beginning or ending with a space")]
pub struct InvalidKey;

impl IdempotencyKey {
    /// The characters [`Self::parse`] accepts, as the document's pattern (its lengths
    /// are stated beside it).
    pub const PATTERN: &'static str = "^[!-~]([ -~]*[!-~])?$";

    /// Reads a key as the client sent it (quotes included, if any: a key is opaque).
    ///
    /// # Errors
    /// [`InvalidKey`] when it is empty, longer than 255 characters, or holds anything
    /// but printable ASCII (space to tilde).
    pub fn parse(key: &str) -> Result<Self, InvalidKey> {
        let printable = key.bytes().all(|b| (b' '..=b'~').contains(&b));
        let trimmed = !key.starts_with(' ') && !key.ends_with(' ');
        if printable && trimmed && (1..=MAX_KEY_CHARS).contains(&key.len()) {
            Ok(Self(key.to_owned()))
        } else {
            Err(InvalidKey)
        }
    }

    /// The stored name of this key for `caller` (`None`: an anonymous caller, such as a
    /// sign-up, whose key stands alone).
    pub fn hash_for(&self, caller: Option<UserId>) -> KeyHash {
        let mut hash = Sha256::new();
        match caller {
            Some(user) => {
                hash.update(b"user ");
                hash.update(user.as_uuid().as_bytes());
            }
            None => hash.update(b"anonymous"),
        }
        hash.update(b"\0");
        hash.update(self.0.as_bytes());
        KeyHash(hex(&hash.finalize()))
    }
}

/// A key as stored: the hex SHA-256 of its caller and itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash(String);

impl KeyHash {
    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a request asked: the hex SHA-256 of its method, target and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHash(String);

impl RequestHash {
    /// The hash of one request. Each part is length-prefixed, so no two different
    /// requests run together into the same bytes.
    pub fn of(method: &str, target: &str, body: &[u8]) -> Self {
        let mut hash = Sha256::new();
        for part in [method.as_bytes(), target.as_bytes(), body] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Self(hex(&hash.finalize()))
    }

    /// As stored.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An answer as it was first sent, to be sent again on a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body, as sent.
    pub body: String,
    /// The `Location` header, if it had one.
    pub location: Option<String>,
}

/// A key this request holds while it runs: the key, and which claim of it is this one
/// (a claim abandoned past its lease is taken over under a new id, and the old one can
/// then record nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyClaim {
    /// The key.
    pub key: KeyHash,
    /// This claim.
    pub id: Uuid,
}

/// What a change records with itself, in its own transaction: the claim, and how its
/// result answers the client.
pub struct Recording<'a, T> {
    /// The claim that the answer settles.
    pub claim: &'a KeyClaim,
    /// The answer the result gives.
    pub answer: &'a (dyn Fn(&T) -> RecordedAnswer + Send + Sync),
}

impl<T> std::fmt::Debug for Recording<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("claim", self.claim)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_printable_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse("\"quoted\" ~").is_ok());
        assert_eq!(IdempotencyKey::parse(" lead"), Err(InvalidKey));
        assert_eq!(IdempotencyKey::parse("trail "), Err(InvalidKey));
        assert_eq!(IdempotencyKey::parse(" "), Err(InvalidKey));
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert_eq!(IdempotencyKey::parse(""), Err(InvalidKey));
        assert_eq!(IdempotencyKey::parse(&"k".repeat(256)), Err(InvalidKey));
        for bad in ["tab\there", "new\nline", "caf\u{e9}", "\u{7f}"] {
            assert_eq!(IdempotencyKey::parse(bad), Err(InvalidKey), "{bad:?}");
        }
    }

    #[test]
    fn a_key_is_its_callers_own() {
        let key = IdempotencyKey::parse("retry-1").unwrap();
        let (alice, bob) = (UserId::generate(), UserId::generate());
        assert_eq!(key.hash_for(Some(alice)), key.hash_for(Some(alice)));
        assert_ne!(key.hash_for(Some(alice)), key.hash_for(Some(bob)));
        assert_ne!(key.hash_for(Some(alice)), key.hash_for(None));
        let other = IdempotencyKey::parse("retry-2").unwrap();
        assert_ne!(key.hash_for(None), other.hash_for(None));
        assert_eq!(key.hash_for(None).as_str().len(), 64);
    }

    #[test]
    fn requests_differ_by_method_target_or_body_and_never_run_together() {
        let base = RequestHash::of("POST", "/api/v1/orders", b"{}");
        assert_eq!(base, RequestHash::of("POST", "/api/v1/orders", b"{}"));
        assert_ne!(base, RequestHash::of("PUT", "/api/v1/orders", b"{}"));
        assert_ne!(base, RequestHash::of("POST", "/api/v1/users", b"{}"));
        assert_ne!(base, RequestHash::of("POST", "/api/v1/orders", b"{ }"));
        assert_ne!(
            RequestHash::of("POST", "/a", b"b"),
            RequestHash::of("POST", "/ab", b"")
        );
        let stored = RequestHash::from_stored(base.as_str().to_owned());
        assert_eq!(stored, base);
    }
}
